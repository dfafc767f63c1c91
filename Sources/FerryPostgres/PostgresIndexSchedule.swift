import FerryCore
import Foundation

/// When a copy builds each index and key of pg_dump's post-data section, as pgcopydb does:
///
/// - an index or key of a table the copy loads is built as soon as that table's load (all its
///   parts) is done, by the copy's own workers (`byTable`, by `schema.name`), so builds overlap
///   the loads still running;
/// - a primary key or unique constraint of an ordinary table (not a partition, not deferrable,
///   its index named as the constraint, in the default tablespace) is built as `CREATE UNIQUE
///   INDEX` (the source's `pg_get_indexdef`), which takes a `SHARE` lock and so runs beside the
///   table's other index builds where `ADD CONSTRAINT ... PRIMARY KEY` would take the table's
///   `ACCESS EXCLUSIVE` lock for the whole build; the constraint is then attached
///   (`ALTER TABLE ONLY ... ADD CONSTRAINT ... USING INDEX`, `attaches`) once every build is done;
/// - every other entry (an index of a partitioned table, an entry whose header names nothing
///   in the source's catalog, say) is left in the section, built after the loads as before.
///
/// Entries are matched to the catalog by pg_dump's header (`Name: index` or `Name: table
/// constraint`, `Schema: s`) read in the copy's snapshot; a header that two objects could have
/// written is matched to neither. `FERRY_PG_INDEXES_WHILE_LOADING=0` turns all this off (every
/// index and key after all data, as pg_dump writes them).
struct PostgresIndexSchedule: Sendable {
    /// pg_dump's preamble as `SET LOCAL` (without `client_encoding`: Ferry's sessions are UTF-8):
    /// a build runs in its own transaction on a loading session and leaves it as it was.
    var preamble = ""
    /// The statements to run once a table (`schema.name`) is loaded, biggest table first.
    var byTable: [String: [String]] = [:]
    /// `ADD CONSTRAINT ... USING INDEX` for the keys built as unique indexes.
    var attaches: [String] = []
    /// The headers (`type`, `schema`, `name`) of the entries taken out of the section.
    var taken: Set<[String]> = []

    var count: Int { byTable.values.reduce(0) { $0 + $1.count } }

    init() {}

    static var isEnabled: Bool { ProcessInfo.processInfo.environment["FERRY_PG_INDEXES_WHILE_LOADING"] != "0" }

    /// The schedule of `postData`'s parallel entries for the tables in `loading` (labels), from
    /// the catalog `c` sees (the copy's snapshot on the source).
    init(postData: PostgresPostData, loading: Set<String>, on c: PostgresConnection) throws {
        guard Self.isEnabled, !postData.parallel.isEmpty else { return }
        preamble = Self.localPreamble(postData.preamble)
        struct Target { var table: String; var uniqueIndex: String?; var attach: String?; var adds: String? }
        var found: [[String]: Target] = [:], ambiguous: Set<[String]> = []
        func add(_ key: [String], _ target: Target) {
            if found.updateValue(target, forKey: key) != nil { ambiguous.insert(key) }
        }
        for row in try c.query("""
            SELECT n.nspname, ic.relname, tn.nspname || '.' || t.relname
            FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
            JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
            WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
            """) {
            guard let schema = row[0], let name = row[1], let table = row[2] else { continue }
            add(["INDEX", schema, name], Target(table: table))
        }
        for row in try c.query("""
            SELECT n.nspname, t.relname || ' ' || con.conname, n.nspname || '.' || t.relname,
              (con.contype IN ('p', 'u') AND t.relkind = 'r' AND NOT t.relispartition AND NOT con.condeferrable
               AND ic.relname = con.conname AND ic.reltablespace = 0)::text,
              pg_get_indexdef(con.conindid),
              format('ALTER TABLE ONLY %I.%I ADD CONSTRAINT %I %s USING INDEX %I', n.nspname, t.relname, con.conname,
                     CASE con.contype WHEN 'p' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END, con.conname),
              format('ADD CONSTRAINT %I %s ', con.conname, CASE con.contype WHEN 'p' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END)
            FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
            LEFT JOIN pg_class ic ON ic.oid = con.conindid
            WHERE con.contype IN ('p', 'u', 'x') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
            """) {
            guard let schema = row[0], let name = row[1], let table = row[2] else { continue }
            let convertible = row[3] == "true" && row[4] != nil
            add(["CONSTRAINT", schema, name], Target(table: table, uniqueIndex: convertible ? row[4] : nil, attach: convertible ? row[5] : nil,
                                                     adds: row[6]))
        }
        for entry in postData.parallel {
            let key = [entry.type, entry.schema, entry.name]
            guard !ambiguous.contains(key), let target = found[key], loading.contains(target.table) else { continue }
            taken.insert(key)
            if let index = target.uniqueIndex, let attach = target.attach, let adds = target.adds,
               let split = Self.plainKey(entry.sql), split.key.contains(adds) {
                byTable[target.table, default: []].append(index + ";")
                // What pg_dump wrote after the key in its entry (CLUSTER ON, REPLICA IDENTITY) follows the attachment.
                attaches.append(attach + ";" + (split.after.isEmpty ? "" : "\n" + split.after))
            } else {
                byTable[target.table, default: []].append(entry.sql)
            }
        }
    }

    /// A `CONSTRAINT` entry cut into its first statement (up to the first line ending in `;`),
    /// when that is pg_dump's plain `ALTER TABLE ONLY t ADD CONSTRAINT c PRIMARY KEY | UNIQUE
    /// (...)` (nothing the unique index would not carry), and the statements after it.
    static func plainKey(_ sql: String) -> (key: String, after: String)? {
        let lines = sql.split(separator: "\n", omittingEmptySubsequences: false)
        guard let end = lines.firstIndex(where: { $0.hasSuffix(";") }) else { return nil }
        let key = lines[...end].joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        guard key.hasPrefix("ALTER TABLE ONLY "), !key.contains("USING INDEX TABLESPACE"), !key.contains("DEFERRABLE") else { return nil }
        let after = lines[(end + 1)...].joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        return (key, after)
    }

    /// pg_dump's preamble lines made transaction-local.
    static func localPreamble(_ preamble: String) -> String {
        preamble.split(separator: "\n").compactMap { line -> String? in
            if line.hasPrefix("SET client_encoding") { return nil }
            if line.hasPrefix("SET ") { return "SET LOCAL " + line.dropFirst(4) }
            if line.hasPrefix("SELECT pg_catalog.set_config(") { return line.replacingOccurrences(of: ", false);", with: ", true);") }
            return nil
        }.joined(separator: "\n") + "\n"
    }

    /// What is left of `postData` once the copy's workers built the scheduled entries: the other
    /// parallel entries, then (serially) the key attachments and the rest of the section.
    func remainder(of postData: PostgresPostData) -> PostgresPostData {
        var rest = postData
        rest.parallel = postData.parallel.filter { !taken.contains([$0.type, $0.schema, $0.name]) }
        if !attaches.isEmpty { rest.serial = [attaches.joined(separator: "\n")] + postData.serial }
        return rest
    }
}
