import FerryCore
import FerryIO
import Foundation

/// Decides, statement by statement, whether a `.sql` import into a PostgreSQL shadow may run it
/// (SPEC §6: an import runs only inside its shadow). Refused, as `ImportError` naming the file
/// and line, before the statement is sent:
/// - psql meta-commands other than the harmless ones (`\connect` / `\c` reaches another
///   database; `\!`, `\i`, `\copy`, `\o` reach the machine), `\encoding` other than UTF8;
/// - statements on the cluster rather than the database: `CREATE` / `ALTER` / `DROP` of a
///   `DATABASE`, `ROLE`, `USER`, `GROUP`, `TABLESPACE`, `SUBSCRIPTION`, `SERVER`,
///   `USER MAPPING`, `FOREIGN DATA WRAPPER`; `ALTER SYSTEM`; `GRANT` / `REVOKE` of a role;
///   `SET ROLE`, `SET SESSION AUTHORIZATION`; `LOAD`; `CREATE EXTENSION` of `dblink`,
///   `postgres_fdw`, `file_fdw`, `adminpack`;
/// - `COPY` to or from a server file or program (only `STDIN` / `STDOUT`);
/// - functions that reach beyond the database (`dblink*`, `pg_read_file`, `lo_import`,
///   `pg_terminate_backend`, `set_config` of anything but `search_path`...), anywhere in a
///   statement, function bodies and `DO` blocks included, as are the cluster phrases above.
/// Dynamic SQL assembled from pieces at run time is not seen (see README's known gaps).
struct PostgresImportGuard {
    enum Verdict { case run, skip }
    let source: String
    /// False when the import runs on Ferry's own session (no import role): then dynamic SQL,
    /// which no check can read, is refused too (`EXECUTE` in a `DO` block or function body, and
    /// bodies in procedural languages other than SQL and PL/pgSQL).
    var isolated = true

    /// Where an admitted statement runs when the import has its own role (`PostgresImportRole`).
    enum Route: Equatable {
        /// On the import role's session, as written.
        case importSession
        /// Kept, and run on Ferry's session inside the shadow once everything else has run,
        /// under the checks of `settleImportRole`: `ALTER <object> <name> OWNER TO <role>` alone
        /// (one action) and `ALTER DEFAULT PRIVILEGES FOR ROLE|USER ...` (the role may not act for
        /// other roles; both act inside the shadow only).
        case deferredOwnerChange
    }

    /// An `ALTER ... OWNER TO` kept for the end, with its place.
    struct Deferred {
        var sql: String
        var line: Int
        var source: String
    }

    /// The route of an admitted statement (see `Route`).
    static func route(_ text: [UInt8]) -> Route {
        let w = words(text, limit: 400)
        guard w.count >= 3, !w.contains(";") else { return .importSession }
        if w.count >= 6 && w[0] == "alter" && w[1] == "default" && w[2] == "privileges" && w[3] == "for"
            && (w[4] == "role" || w[4] == "user") {
            return .deferredOwnerChange
        }
        let n = w.count
        if w[0] == "alter" && n >= 5 && w[n - 3] == "owner" && w[n - 2] == "to" && !["(", ",", ";"].contains(w[n - 1])
            && !w.contains(";") {
            // Objects whose ALTER takes several actions separated by commas: one action only.
            let multiAction: Set<String> = ["table", "materialized", "foreign", "type"]
            if multiAction.contains(w[1]) && w.contains(",") { return .importSession }
            if clusterObjects.contains(w[1]) || w[1] == "system" { return .importSession }
            return .deferredOwnerChange
        }
        return .importSession
    }

    static let harmlessMeta: Set<String> = ["restrict", "unrestrict", "set", "unset", "echo", "qecho", "pset", "timing", "."]
    static let clusterObjects: Set<String> = ["database", "role", "user", "group", "tablespace", "subscription", "server"]
    static let reachingFunctions = ["dblink", "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "lo_import", "lo_export",
                                    "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile", "pg_promote",
                                    "pg_switch_wal", "pg_create_restore_point", "pg_file_write", "pg_logdir_ls",
                                    "pg_create_logical_replication_slot", "pg_create_physical_replication_slot", "pg_drop_replication_slot"]
    static let refusedExtensions: Set<String> = ["dblink", "postgres_fdw", "file_fdw", "adminpack"]

    func refuse(_ line: Int, _ why: String) -> FerryError {
        FerryError(.importError, "\(source):\(line): \(why)",
                   hint: "an import runs only inside its own database; remove the statement from the file (nothing was changed)")
    }

    /// The statement's words outside quotes and comments, lowercased (identifiers unquoted).
    static func words(_ text: [UInt8], limit: Int = 12) -> [String] {
        var words: [String] = []
        var i = 0
        var current: [UInt8] = []
        func end() { if !current.isEmpty { words.append(String(decoding: current, as: UTF8.self)); current.removeAll() } }
        while i < text.count && words.count < limit {
            let c = text[i]
            if c == 0x27 || c == 0x22 {   // a literal or a quoted identifier: one word
                end()
                var j = i + 1
                var word: [UInt8] = []
                while j < text.count { if text[j] == c { if j + 1 < text.count && text[j + 1] == c { word.append(c); j += 2; continue }; break }; word.append(text[j]); j += 1 }
                words.append((c == 0x22 ? "" : "'") + String(decoding: word, as: UTF8.self).lowercased())
                i = j + 1; continue
            }
            if c == 0x2D && i + 1 < text.count && text[i + 1] == 0x2D { end(); while i < text.count && text[i] != 0x0A { i += 1 }; continue }
            if c == 0x2F && i + 1 < text.count && text[i + 1] == 0x2A {
                // Block comments nest, as in PostgreSQL's lexer (scan.l, `xc`): `/* a /* b */ c */`
                // is one comment, so a `'` or a keyword inside it is never read as code.
                end(); i += 2
                var depth = 1
                while i < text.count && depth > 0 {
                    if text[i] == 0x2F && i + 1 < text.count && text[i + 1] == 0x2A { depth += 1; i += 2 }
                    else if text[i] == 0x2A && i + 1 < text.count && text[i + 1] == 0x2F { depth -= 1; i += 2 }
                    else { i += 1 }
                }
                continue
            }
            if SQLStatementScanner.isIdentifierByte(c) && c != 0x24 { current.append(c >= 0x41 && c <= 0x5A ? c | 0x20 : c) }
            else { end(); if c == 0x28 || c == 0x3B || c == 0x2C { words.append(String(UnicodeScalar(c))) } }
            i += 1
        }
        end()
        return words
    }

    /// Whether `phrase` (words separated by single spaces) occurs in `text`, any case and blanks.
    static func normalized(_ text: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(text.count)
        var blank = false
        for c in text {
            if c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { blank = true; continue }
            if blank { out.append(0x20); blank = false }
            out.append(c >= 0x41 && c <= 0x5A ? c | 0x20 : c)
        }
        return String(decoding: out, as: UTF8.self)
    }

    func admit(_ statement: SQLStatementScanner.Statement) throws -> Verdict {
        switch statement.kind {
        case .copyData: return .run
        case .metaCommand:
            let text = String(decoding: statement.text, as: UTF8.self)
            let name = String(text.dropFirst().prefix { !$0.isWhitespace }).lowercased()
            if Self.harmlessMeta.contains(name) { return .skip }
            if name == "encoding" {
                let value = text.dropFirst(9).trimmingCharacters(in: .whitespaces).uppercased()
                if value == "UTF8" || value == "UTF-8" || value == "'UTF8'" { return .skip }
                throw refuse(statement.line, "\\encoding \(value): Ferry reads import files as UTF-8")
            }
            if name == "connect" || name == "c" {
                throw refuse(statement.line, "\(text.prefix(120)) reaches another database")
            }
            throw refuse(statement.line, "the psql command \\\(name) is not run by an import")
        case .statement: break
        }
        let w = Self.words(statement.text)
        guard let first = w.first else { return .skip }
        let second = w.count > 1 ? w[1] : "", third = w.count > 2 ? w[2] : ""
        let described = "\(first.uppercased()) \(second.uppercased())"
        if ["create", "alter", "drop", "comment", "security"].contains(first) {
            let object = second == "or" ? (w.count > 3 ? w[3] : "") : (second == "unique" ? "" : second)
            if first != "comment" && first != "security" && Self.clusterObjects.contains(object) {
                throw refuse(statement.line, "\(described) \(third) changes the server, not the import's database")
            }
            if first == "comment" && second == "on" && Self.clusterObjects.contains(third) {
                throw refuse(statement.line, "COMMENT ON \(third.uppercased()) changes the server, not the import's database")
            }
            if (first == "create" || first == "alter" || first == "drop") && (object == "foreign" && third == "data") {
                throw refuse(statement.line, "\(first.uppercased()) FOREIGN DATA WRAPPER changes the server")
            }
            if object == "user" && third == "mapping" { throw refuse(statement.line, "USER MAPPING reaches other servers") }
            if first == "alter" && second == "system" { throw refuse(statement.line, "ALTER SYSTEM changes the server's settings") }
            if first == "create" && second == "extension" {
                let name = w.dropFirst(2).first { !["if", "not", "exists"].contains($0) } ?? ""
                if Self.refusedExtensions.contains(name) { throw refuse(statement.line, "the extension \(name) reaches other databases or files") }
            }
        }
        if first == "alter" && second == "system" { throw refuse(statement.line, "ALTER SYSTEM changes the server's settings") }
        if first == "load" { throw refuse(statement.line, "LOAD loads a library into the server") }
        if first == "set" || first == "reset" {
            let rest = (second == "session" || second == "local") && third != "authorization" ? Array(w.dropFirst(2)) : Array(w.dropFirst(1))
            if rest.first == "role" || (rest.first == "session" && rest.dropFirst().first == "authorization") || rest.first == "authorization" {
                throw refuse(statement.line, "\(first.uppercased()) ROLE / SESSION AUTHORIZATION acts as another role")
            }
        }
        if first == "grant" || first == "revoke" {
            // GRANT privileges ON object TO role is the database's; GRANT role TO role is the server's.
            if !w.contains("on") { throw refuse(statement.line, "\(first.uppercased()) of a role changes the server's roles") }
        }
        if first == "copy" {
            let text = Self.normalized(statement.text)
            if text.range(of: #"\b(from|to)\s+(stdin|stdout)\b"#, options: .regularExpression) == nil {
                throw refuse(statement.line, "COPY to or from a server file or program reaches outside the database")
            }
        }
        let text = Self.normalized(statement.text)
        for function in Self.reachingFunctions where text.range(of: "\\b\(function)\\w*\\s*\\(", options: .regularExpression) != nil {
            throw refuse(statement.line, "\(function) reaches beyond the import's database")
        }
        if text.range(of: #"\bset_config\s*\(\s*'(?!search_path')"#, options: .regularExpression) != nil {
            throw refuse(statement.line, "set_config of anything but search_path is not run by an import")
        }
        if !isolated && (first == "do" || (first == "create" && (w.contains("function") || w.contains("procedure")))) {
            // A body given as an E'...' or U&'...' string hides its words behind escapes.
            if text.range(of: #"\bexecute\b"#, options: .regularExpression) != nil
                || (first == "create" && text.range(of: #"(\be|\bu&)'"#, options: .regularExpression) != nil) {
                throw refuse(statement.line, "dynamic SQL (EXECUTE) cannot be checked, and this import runs on Ferry's own session (Ferry's user may not create the import role)")
            }
            if text.range(of: #"\blanguage\s+'?(plperl|plperlu|pltcl|pltclu|plpython3u|plpythonu|plv8|plsh)\b"#, options: .regularExpression) != nil {
                throw refuse(statement.line, "a body in this procedural language can run any SQL, and this import runs on Ferry's own session (Ferry's user may not create the import role)")
            }
        }
        if first == "do" || (first == "create" && (w.contains("function") || w.contains("procedure"))) {
            for phrase in ["create role", "alter role", "drop role", "create user", "alter user", "drop user", "alter system",
                           "create database", "drop database", "alter database", "set role", "session authorization",
                           "create subscription", "create tablespace", "drop tablespace", "create server", "user mapping"]
            where text.contains(phrase) {
                throw refuse(statement.line, "a body that runs \(phrase.uppercased()) changes the server")
            }
        }
        return .run
    }
}
