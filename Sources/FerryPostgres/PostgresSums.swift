import FerryCore
import FerryIO
import Foundation

/// A table Ferry copies and sums: a leaf table with rows of its own (plain tables and
/// partitions; never a partitioned parent, which holds none).
struct PostgresTable: Hashable, Sendable {
    var schema: String
    var name: String
    /// Bytes of the heap, for ordering work biggest first.
    var bytes: Int64
    var qualified: String { qualifiedName(schema, name) }
    /// `schema.name` for reports and comparison.
    var label: String { schema + "." + name }
}

/// Row counts and checksums computed on the server, and the catalog text of refresh's fingerprint.
enum PostgresSums {
    /// The user's leaf tables of the database `c` is connected to (extension-owned tables left
    /// out: their extension makes them), biggest first.
    static func tables(on c: PostgresConnection) throws -> [PostgresTable] {
        try c.query("""
            SELECT n.nspname, c.relname, pg_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
              AND n.nspname NOT LIKE 'pg\\_temp\\_%'
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
            ORDER BY 3 DESC, 1, 2
            """).map { PostgresTable(schema: $0[0] ?? "", name: $0[1] ?? "", bytes: Int64($0[2] ?? "0") ?? 0) }
    }

    /// The row count and an order-independent checksum of `table`: the exact sum (numeric,
    /// summed in 128 bits) of a 64-bit hash of each row, so rows that repeat count each time;
    /// one sequential read, memory independent of the table's size. The hash is
    /// `hash_record_extended(t.*, 0)` (the whole row even where a column is named `t`; each
    /// column through its type's own extended hash, PG 14+;
    /// checksum text `r<sum>`) when every column's type has one that depends on the value alone
    /// (`rowHashIsByValue`), else `hashtextextended(ROW(t.*)::text, 0)` of the row's text,
    /// which every Ferry connection prints alike (UTC, ISO dates, exact floats, hex bytea;
    /// `t<sum>`). On the benchmark's biggest table the first took a third of the second's time
    /// (the text output of numeric, timestamptz and jsonb is what costs). `byValue` forces the
    /// kind (the verify side takes the source's).
    /// `filter`: a condition on the rows (a `ctid` range of a split table), nil for all.
    static func countAndChecksum(_ table: PostgresTable, on c: PostgresConnection, byValue forced: Bool? = nil,
                                 filter: String? = nil) throws -> (Int64, String) {
        try readingPlainTable(table, on: c) {
            let byValue = try forced ?? rowHashIsByValue(table, on: c)
            let hash = byValue ? "hash_record_extended(t.*, 0)" : "hashtextextended(ROW(t.*)::text, 0)"
            let row = try c.query("SELECT count(*), coalesce(sum(\(hash)), 0) FROM ONLY \(table.qualified) t\(filter.map { " WHERE " + $0 } ?? "")").first
            return (Int64(row?[0] ?? "") ?? -1, (byValue ? "r" : "t") + (row?[1] ?? "0"))
        }
    }

    /// Runs `body` (a read of `table`) once `table` is locked (`ACCESS SHARE`, to the end of the
    /// transaction, opened here when none is) and proved still a plain table with storage: an
    /// owner could otherwise turn an empty table into a view (`CREATE RULE "_RETURN"`, up to
    /// PostgreSQL 15) between Ferry listing it and reading it, and the read would run the view's
    /// code with Ferry's rights (a fresh tester's race). The check reads the catalog cache, which
    /// is current once the lock is held, not the transaction's snapshot. `CopyError` otherwise.
    static func readingPlainTable<T>(_ table: PostgresTable, on c: PostgresConnection, _ body: () throws -> T) throws -> T {
        let own = !c.inTransaction
        if own { try c.execute("BEGIN") }
        do {
            try c.execute("LOCK TABLE ONLY \(table.qualified) IN ACCESS SHARE MODE")
            guard try c.scalar("SELECT pg_relation_filenode(\(quoteLiteral(table.qualified))::regclass)::text") != nil else {
                throw FerryError(.copyError, "\(table.label) stopped being a table while Ferry read it (it has no storage now: a view or a partitioned table); Ferry does not read it",
                                 hint: "whoever owns it changed it during the run; nothing was read from it")
            }
            let result = try body()
            if own { try c.execute("COMMIT") }
            return result
        } catch {
            if own { try? c.execute("ROLLBACK") }
            throw error
        }
    }

    /// True when every column of `table` (domains to their base, arrays to their element) is
    /// of a type whose default hash operator class has an extended hash function, and none is
    /// an enum (its hash is of the label's oid, which differs between databases), a composite,
    /// or a pseudo-type, and no column has a nondeterministic collation.
    static func rowHashIsByValue(_ table: PostgresTable, on c: PostgresConnection) throws -> Bool {
        guard c.serverVersionNumber >= 140000 else { return false }
        let unsafe = try c.scalar("""
            WITH RECURSIVE cols AS (
              SELECT atttypid AS t FROM pg_attribute WHERE attrelid = \(quoteLiteral(table.qualified))::regclass AND attnum > 0 AND NOT attisdropped
              UNION SELECT CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.typelem END FROM pg_type ty JOIN cols ON ty.oid = cols.t
              WHERE ty.typtype = 'd' OR (ty.typelem <> 0 AND ty.typlen = -1))
            SELECT count(*) FROM cols JOIN pg_type ty ON ty.oid = cols.t
            WHERE ty.typtype <> 'd' AND NOT (ty.typelem <> 0 AND ty.typlen = -1)
              AND (ty.typtype IN ('e', 'c', 'p') OR NOT EXISTS (
                SELECT 1 FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod AND am.amname = 'hash'
                JOIN pg_amproc p ON p.amprocfamily = oc.opcfamily AND p.amprocnum = 2 AND p.amproclefttype = oc.opcintype
                WHERE oc.opcdefault AND oc.opcintype = ty.oid))
            """)
        // A nondeterministic collation hashes strings that differ (in case, say) alike.
        let loose = try c.scalar("SELECT count(*) FROM pg_attribute a JOIN pg_collation co ON co.oid = a.attcollation WHERE a.attrelid = \(quoteLiteral(table.qualified))::regclass AND a.attnum > 0 AND NOT co.collisdeterministic")
        return unsafe == "0" && loose == "0"
    }

    /// `sums` over `workers` connections from `open`, biggest table first.
    static func parallelSums(_ tables: [PostgresTable], level: VerifyLevel, workers: Int, like: [String: VerifyReport.Table] = [:],
                             open: @escaping @Sendable () throws -> PostgresConnection) throws -> [String: VerifyReport.Table] {
        try eachTable(tables, workers: workers, open: open) { table, c in
            try Self.sums([table], level: level, on: c, like: like)[table.label]!
        }
    }

    /// `body` for every table of `tables`, on up to `workers` threads, each with its own
    /// connection from `open`; the results by table label. The first error stops the others at
    /// their next table and is thrown.
    static func eachTable(_ tables: [PostgresTable], workers: Int, open: @escaping @Sendable () throws -> PostgresConnection,
                          _ body: @escaping @Sendable (PostgresTable, PostgresConnection) throws -> VerifyReport.Table) throws -> [String: VerifyReport.Table] {
        guard !tables.isEmpty else { return [:] }
        let queue = CopyQueue(tables.map { PostgresCopy.TablePlan(table: $0, columns: [], binary: false) })
        // One job per connection; a failure is kept in the queue (the first one) and stops the others.
        try WorkerPool.shared.forEach(max(1, min(workers, tables.count))) { _ in
            do {
                let c = try open()
                defer { c.close() }
                while let plan = queue.take() { queue.done(try body(plan.table, c), bytes: 0) }
            } catch { queue.fail(error) }
        }
        return try queue.result().tables
    }

    /// The row count and `b` checksum of `table` as the copy takes them from its stream
    /// (`PostgresCopyDigest`): its columns but generated ones, in order, read with `COPY ... TO
    /// STDOUT (FORMAT binary)`. Binary output is the same for the same values of the same types
    /// in one major version (which binary copies require), whatever the session's settings.
    static func streamedSums(_ table: PostgresTable, on c: PostgresConnection) throws -> (Int64, String) {
        try readingPlainTable(table, on: c) {
            let columns = try PostgresCopy.columns(table, on: c).copied
            let list = columns.isEmpty ? "" : "(" + columns.map(quoteIdent).joined(separator: ", ") + ")"
            var digest = PostgresCopyDigest(binary: true, hashing: true)
            try c.copyOut("COPY \(table.qualified) \(list) TO STDOUT WITH (FORMAT binary)") { try digest.feed($0) }
            try digest.finish()
            return (digest.rows, digest.checksum)
        }
    }

    static func count(_ table: PostgresTable, on c: PostgresConnection, filter: String? = nil) throws -> Int64 {
        try readingPlainTable(table, on: c) {
            Int64(try c.scalar("SELECT count(*) FROM ONLY \(table.qualified)\(filter.map { " WHERE " + $0 } ?? "")") ?? "") ?? -1
        }
    }

    /// Two sums of one table's parts added: rows, and checksums of one kind (`r` / `t` / `b` / `l`
    /// and an integer, exact: the sums stay far below 38 digits) added as integers.
    static func merge(_ a: VerifyReport.Table, _ b: VerifyReport.Table) -> VerifyReport.Table {
        var checksum: String?
        if let x = a.checksum, let y = b.checksum, x.first == y.first,
           let dx = Decimal(string: String(x.dropFirst())), let dy = Decimal(string: String(y.dropFirst())) {
            checksum = String(x.first!) + "\(dx + dy)"
        }
        return VerifyReport.Table(name: a.name, rows: a.rows + b.rows, checksum: checksum)
    }

    /// Per table at `level` (`checksum`: count and checksum; `count`: count, checksum nil).
    /// `like`: sums taken elsewhere whose hash kind (`r` / `t` / `b`: `streamedSums`) each
    /// table's checksum follows.
    static func sums(_ tables: [PostgresTable], level: VerifyLevel, on c: PostgresConnection,
                     like: [String: VerifyReport.Table] = [:]) throws -> [String: VerifyReport.Table] {
        var out: [String: VerifyReport.Table] = [:]
        for table in tables {
            if level == .checksum {
                let taken = like[table.label]?.checksum
                let forced = taken.map { $0.hasPrefix("r") }
                let (rows, sum) = try taken?.hasPrefix("b") == true ? streamedSums(table, on: c) : countAndChecksum(table, on: c, byValue: forced)
                out[table.label] = .init(name: table.label, rows: rows, checksum: sum)
            } else {
                out[table.label] = .init(name: table.label, rows: try count(table, on: c), checksum: nil)
            }
        }
        return out
    }

    /// The catalog of the connected database as text: schemas, relations with their columns,
    /// constraints, indexes, views, sequences with their current values, functions, triggers,
    /// types (enum labels), extensions, policies, and each relation's row security, storage
    /// options (`reloptions`: a view's `security_barrier`, a table's `fillfactor`) and replica
    /// identity. Part of every fingerprint and content token. `rights`: with owners and
    /// privileges (a fingerprint), or without (a content token: Ferry's users sync gives them
    /// after the swap).
    /// `extended`: also every catalog attribute a user changes with DDL (statistics targets,
    /// storage, compression, CLUSTER ON, access methods, rules, extended statistics, other
    /// objects by identity...): the content token's. The refresh fingerprint reads without
    /// them, the same text as earlier releases, so that the fingerprints their states recorded
    /// stay valid (a new catalog part would make every PostgreSQL resource read as changed once,
    /// and copy again).
    static func catalogText(on c: PostgresConnection, rights: Bool = true, extended: Bool = true) throws -> String {
        let user = "NOT IN ('pg_catalog', 'information_schema') AND %@ NOT LIKE 'pg\\_toast%' AND %@ NOT LIKE 'pg\\_temp\\_%'"
        func filter(_ column: String) -> String { column + " " + user.replacingOccurrences(of: "%@", with: column) }
        func r(_ expression: String) -> String { rights ? expression : "NULL" }
        let queries = [
            "SELECT nspname, \(r("pg_get_userbyid(nspowner)")), \(r("nspacl::text")) FROM pg_namespace n WHERE \(filter("nspname")) ORDER BY 1",
            "SELECT n.nspname, c.relname, c.relkind, c.relpersistence, \(r("pg_get_userbyid(c.relowner)")), \(r("c.relacl::text")), c.relispartition, pg_get_expr(c.relpartbound, c.oid), c.relrowsecurity, c.relforcerowsecurity, c.reloptions::text, c.relreplident\(extended ? ", am.amname, ts.spcname" : "") FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace\(extended ? " LEFT JOIN pg_am am ON am.oid = c.relam LEFT JOIN pg_tablespace ts ON ts.oid = c.reltablespace" : "") WHERE \(filter("n.nspname")) ORDER BY 1, 2",
            // Every column a user can change with DDL: per-column statistics target, storage,
            // compression (14+), options (`n_distinct`), collation, identity, generation; of
            // tables, views, composite types and indexes (`ALTER INDEX ... SET STATISTICS`).
            "SELECT c.oid::regclass::text, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, a.attcollation\(extended ? ", co.collname, a.attstattarget, a.attstorage, \(c.serverVersionNumber >= 140000 ? "a.attcompression" : "NULL"), a.attoptions::text, a.attfdwoptions::text, a.attislocal, a.attinhcount" : "") FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum\(extended ? " LEFT JOIN pg_collation co ON co.oid = a.attcollation" : "") WHERE a.attnum > 0 AND NOT a.attisdropped AND \(filter("n.nspname")) ORDER BY 1, 2",
            "SELECT conrelid::regclass::text, contypid::regtype::text, conname, pg_get_constraintdef(co.oid) FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace WHERE \(filter("n.nspname")) ORDER BY 1, 2, 3",
            "SELECT schemaname, indexname, indexdef FROM pg_indexes WHERE \(filter("schemaname")) ORDER BY 1, 2",
            "SELECT schemaname, viewname, definition FROM pg_views WHERE \(filter("schemaname")) ORDER BY 1, 2",
            "SELECT schemaname, matviewname, definition FROM pg_matviews WHERE \(filter("schemaname")) ORDER BY 1, 2",
            "SELECT schemaname, sequencename, data_type::text, start_value, increment_by, max_value, min_value, cycle, last_value\(extended ? ", cache_size" : "") FROM pg_sequences WHERE \(filter("schemaname")) ORDER BY 1, 2",
            "SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) ELSE p.prokind::text END, \(r("p.proacl::text")) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE \(filter("n.nspname")) ORDER BY 1, 2, 3",
            "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(t.oid), tgenabled FROM pg_trigger t WHERE NOT tgisinternal ORDER BY 1, 2",
            "SELECT t.typname, n.nspname, t.typtype, format_type(t.typbasetype, t.typtypmod), (SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.typtype IN ('e', 'd', 'r', 'c', 'm') AND \(filter("n.nspname")) ORDER BY 2, 1",
            "SELECT extname, extversion FROM pg_extension ORDER BY 1",
            "SELECT polrelid::regclass::text, polname, polcmd, pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid) FROM pg_policy ORDER BY 1, 2",
            "SELECT count(*) FROM pg_largeobject_metadata",
        ]
        // Read only for the content token (see `extended`), after the rest.
        let extendedQueries = [
            // An index's flags that `ALTER TABLE ... CLUSTER ON` and `REPLICA IDENTITY USING
            // INDEX` set (its definition is in `pg_indexes` below, its options in `pg_class`).
            "SELECT i.indexrelid::regclass::text, i.indisclustered, i.indisreplident, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE \(filter("n.nspname")) ORDER BY 1",
            "SELECT inhrelid::regclass::text, inhparent::regclass::text, inhseqno FROM pg_inherits ORDER BY 1, 2",
            "SELECT schemaname, tablename, rulename, definition, (SELECT ev_enabled FROM pg_rewrite w JOIN pg_class c ON c.oid = w.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = r.schemaname AND c.relname = r.tablename AND w.rulename = r.rulename) FROM pg_rules r WHERE \(filter("schemaname")) ORDER BY 1, 2, 3",
            "SELECT n.nspname, s.stxname, pg_get_statisticsobjdef(s.oid), s.stxstattarget FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace WHERE \(filter("n.nspname")) ORDER BY 1, 2",
            "SELECT evtname, evtevent, evtenabled, evtfoid::regprocedure::text, evttags::text FROM pg_event_trigger ORDER BY 1",
            "SELECT p.pubname, p.puballtables, p.pubinsert, p.pubupdate, p.pubdelete, p.pubtruncate, (SELECT string_agg(pr.prrelid::regclass::text, ',' ORDER BY pr.prrelid::regclass::text) FROM pg_publication_rel pr WHERE pr.prpubid = p.oid) FROM pg_publication p ORDER BY 1",
            "SELECT ft.ftrelid::regclass::text, fs.srvname, ft.ftoptions::text FROM pg_foreign_table ft JOIN pg_foreign_server fs ON fs.oid = ft.ftserver ORDER BY 1",
            "SELECT d.objid::regclass::text, d.refobjid::regclass::text, d.refobjsubid FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a' AND (SELECT relkind FROM pg_class WHERE oid = d.objid) = 'S' ORDER BY 1",
            // Objects of the other kinds a user creates in a database (operators, casts,
            // collations, text search, conversions, languages, access methods, foreign data
            // wrappers and servers, transforms): that they are there, by their identity.
            "SELECT pg_describe_object(k.classid, k.objid, 0) FROM (\(Self.otherObjectCatalogs.map { "SELECT '\($0)'::regclass AS classid, oid AS objid FROM \($0) WHERE oid >= 16384" }.joined(separator: " UNION ALL "))) k ORDER BY 1",
        ]
        var text = ""
        for sql in queries + (extended ? extendedQueries : []) {
            for row in try c.query(sql) { text += row.map { $0 ?? "\u{1}" }.joined(separator: "\u{2}") + "\n" }
            text += "--\n"
        }
        return text
    }

    /// The owners and privileges of the connected database and of what is in it, as text: the
    /// database's owner and ACL; every schema's, relation's (tables, views, sequences, ...),
    /// column's (`GRANT ... (column)`), routine's, type's (not a table's row type nor an array
    /// type, which follow theirs) owner and ACL; default privileges (`ALTER DEFAULT
    /// PRIVILEGES`); every large object's owner and ACL. Part of every content token
    /// (`PostgresContentToken`, scheme `pg3`); a fingerprint has most of them through
    /// `catalogText(rights: true)` and `databaseSettingsText`. Catalog reads only.
    static func rightsText(on c: PostgresConnection) throws -> String {
        let user = "NOT IN ('pg_catalog', 'information_schema') AND %@ NOT LIKE 'pg\\_toast%' AND %@ NOT LIKE 'pg\\_temp\\_%'"
        func filter(_ column: String) -> String { column + " " + user.replacingOccurrences(of: "%@", with: column) }
        let queries = [
            "SELECT pg_get_userbyid(datdba), datacl::text FROM pg_database WHERE datname = current_database()",
            "SELECT nspname, pg_get_userbyid(nspowner), nspacl::text FROM pg_namespace WHERE \(filter("nspname")) ORDER BY 1",
            "SELECT n.nspname, c.relname, pg_get_userbyid(c.relowner), c.relacl::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE \(filter("n.nspname")) ORDER BY 1, 2",
            "SELECT n.nspname, c.relname, a.attname, a.attacl::text FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE a.attacl IS NOT NULL AND a.attnum > 0 AND \(filter("n.nspname")) ORDER BY 1, 2, 3",
            "SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), pg_get_userbyid(p.proowner), p.proacl::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE \(filter("n.nspname")) ORDER BY 1, 2, 3",
            "SELECT n.nspname, t.typname, pg_get_userbyid(t.typowner), t.typacl::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE \(filter("n.nspname")) AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c') AND NOT (t.typelem <> 0 AND t.typlen = -1) ORDER BY 1, 2",
            "SELECT pg_get_userbyid(d.defaclrole), coalesce(n.nspname, ''), d.defaclobjtype, d.defaclacl::text FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace ORDER BY 1, 2, 3",
            "SELECT oid, pg_get_userbyid(lomowner), lomacl::text FROM pg_largeobject_metadata ORDER BY 1",
        ]
        var text = "rights\n"
        for sql in queries {
            for row in try c.query(sql) { text += row.map { $0 ?? "\u{1}" }.joined(separator: "\u{2}") + "\n" }
            text += "--\n"
        }
        return text
    }

    /// Catalogs of objects that `catalogText` lists by identity alone.
    static let otherObjectCatalogs = ["pg_operator", "pg_opclass", "pg_opfamily", "pg_cast", "pg_collation", "pg_conversion",
                                      "pg_ts_config", "pg_ts_dict", "pg_ts_parser", "pg_ts_template", "pg_language", "pg_am",
                                      "pg_foreign_data_wrapper", "pg_foreign_server", "pg_transform"]

    /// The comments on the connected database's own objects (`pg_description`, by
    /// `pg_describe_object`; never the database's own comment, which names Ferry's shadow
    /// before its swap), as text. Part of every fingerprint and content token.
    static func commentsText(on c: PostgresConnection) throws -> String {
        var text = "comments\n"
        for row in try c.query("SELECT pg_describe_object(classoid, objoid, objsubid), description FROM pg_description WHERE objoid >= 16384 ORDER BY 1, 2") {
            text += row.map { $0 ?? "\u{1}" }.joined(separator: "\u{2}") + "\n"
        }
        return text
    }

    /// The connected database's owner, rights, connection settings and `ALTER DATABASE / ROLE
    /// ... IN DATABASE ... SET` settings, as text: every copy carries them. Part of every
    /// fingerprint (not of a content token: the swap carries them).
    static func databaseSettingsText(on c: PostgresConnection) throws -> String {
        var text = "database\n"
        for row in try c.query("SELECT pg_get_userbyid(datdba), datacl::text, datconnlimit, datallowconn FROM pg_database WHERE datname = current_database()") {
            text += row.map { $0 ?? "\u{1}" }.joined(separator: "\u{2}") + "\n"
        }
        for row in try c.query("SELECT CASE WHEN s.setrole = 0 THEN '' ELSE pg_get_userbyid(s.setrole) END, (SELECT array_agg(x ORDER BY x) FROM unnest(s.setconfig) x)::text FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = current_database() ORDER BY 1") {
            text += row.map { $0 ?? "\u{1}" }.joined(separator: "\u{2}") + "\n"
        }
        return text
    }
}

extension PostgresSession {
    /// Databases up to this size get an exact fingerprint (every table read: count and checksum);
    /// larger ones the tables' sizes, cumulative statistics and the cluster's WAL position,
    /// marked inexact. `FERRY_PG_EXACT_FINGERPRINT_LIMIT` (bytes) overrides it.
    static let exactFingerprintLimit: Int64 = ProcessInfo.processInfo.environment["FERRY_PG_EXACT_FINGERPRINT_LIMIT"]
        .flatMap { Int64($0) } ?? (256 << 20)

    /// The fingerprint of `database`, whether it is exact, and a detail for display. A table or
    /// schema dropped between the snapshot's listing and the table's lock (an application's DDL
    /// during the plan: the lock reads the current catalog, SQLSTATE 42P01 / 3F000) is a change,
    /// not an unreachable instance: the fingerprint is read again in a new snapshot, up to three
    /// times (a plan failed with "InstanceNotFound: cannot fingerprint ... schema ... does not
    /// exist" while another session dropped a schema).
    func fingerprint(of database: String, sizeBytes: Int64) throws -> (String, Bool, String) {
        var attempt = 1
        while true {
            do {
                return try fingerprintOnce(of: database, sizeBytes: sizeBytes)
            } catch let error as PostgresServerError {
                guard attempt >= 3 else { attempt += 1; continue }
                throw error.ferry(.instanceNotFound, "cannot fingerprint \(database) on \(instanceName)", instance: instanceName)
            }
        }
    }

    private func fingerprintOnce(of database: String, sizeBytes: Int64) throws -> (String, Bool, String) {
        let c: PostgresConnection
        do { c = try open(database) }
        catch let error as FerryError { throw error }
        defer { c.close() }
        do {
            return try fingerprintRead(on: c, database: database, sizeBytes: sizeBytes)
        } catch let error as PostgresServerError where ["42P01", "3F000"].contains(error.sqlState) {
            throw error
        } catch let error as PostgresServerError {
            throw error.ferry(.instanceNotFound, "cannot fingerprint \(database) on \(instanceName)", instance: instanceName)
        }
    }

    private func fingerprintRead(on c: PostgresConnection, database: String, sizeBytes: Int64) throws -> (String, Bool, String) {
        do {
            // One snapshot for the catalog and every table.
            try c.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            defer { try? c.execute("COMMIT") }
            var text = try PostgresSums.catalogText(on: c, extended: false) + PostgresSums.commentsText(on: c) + PostgresSums.databaseSettingsText(on: c)
            let tables = try PostgresSums.tables(on: c)
            let exact = sizeBytes <= exactFingerprintLimitOverride ?? Self.exactFingerprintLimit
            var rows: Int64 = 0
            if exact {
                for table in tables {
                    let (count, sum) = try PostgresSums.countAndChecksum(table, on: c)
                    rows += count
                    text += "\(table.label) \(count) \(sum)\n"
                }
                // Large objects are data: their bytes, not only their number (a fresh tester's
                // `lo_put` left the plan at "No changes").
                if let objects = try PostgresLargeObjects.sum(on: c) { text += "\(objects.name) \(objects.rows) \(objects.checksum ?? "")\n" }
            } else {
                for row in try c.query("SELECT relid::regclass::text, pg_relation_size(relid), n_tup_ins, n_tup_upd, n_tup_del, n_live_tup, n_dead_tup FROM pg_stat_all_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') OR relid = 'pg_catalog.pg_largeobject'::regclass ORDER BY 1") {
                    text += row.map { $0 ?? "null" }.joined(separator: " ") + "\n"
                    rows += Int64(row[5] ?? "0") ?? 0
                }
                text += "wal " + (try c.scalar("SELECT pg_current_wal_lsn()") ?? "") + "\n"
            }
            return (Digest.sha256(Array(text.utf8)), exact, "\(tables.count) tables, \(exact ? "" : "~")\(rows) rows")
        }
    }
}

extension PostgresSession {
    /// The effective rights digest (`effectiveRights`) of the database `c` is on, for a verify's token.
    func verifiedRights(on c: PostgresConnection) throws -> String {
        let oid = try c.scalar("SELECT oid::text FROM pg_database WHERE datname = current_database()") ?? ""
        return effectiveRights(try PostgresContentToken.rightsDigest(on: c), ofDatabase: oid)
    }

    /// Checks `shadow` against `database` on `source`: the same tables, and per table the same
    /// row count (and, at `.checksum`, the same checksum). The source's sums are those the copy
    /// took in its snapshot (the build's receipt) when it took them at this level or a stricter
    /// one; else the source as it is now. Without a source (imports), counts the shadow's rows.
    public func verify(shadow: String, against source: PostgresSession?, database: String?,
                       level: VerifyLevel, receipt: BuildReceipt?) throws -> VerifyReport {
        guard level != .none else { return VerifyReport(tables: []) }
        let c = try open(shadow)
        defer { c.close() }
        return try run(.verifyFailed, "cannot verify \(shadow) on \(instanceName)") {
            let mineTables = try PostgresSums.tables(on: c)
            let workers = tokenWorkers
            let me = PostgresBox(self)
            let opener: @Sendable () throws -> PostgresConnection = { try me.value.open(shadow) }
            guard let source, let database else {
                // The token's sums hold the counts too: one read gives both (an import's verify
                // at `.count` reads each table once either way, now hashing its rows as well).
                let sums = try PostgresContentToken.sums(mineTables, workers: workers, open: opener)
                var mine = level == .count ? sums.mapValues { VerifyReport.Table(name: $0.name, rows: $0.rows, checksum: nil) } : sums
                let objects = try PostgresLargeObjects.sum(on: c)
                if let objects { mine[objects.name] = objects }
                let token = PostgresContentToken.token(definitions: try PostgresContentToken.definitions(on: c), sums: sums, objects: objects,
                                                       rights: try verifiedRights(on: c))
                return VerifyReport(tables: mine.values.sorted { $0.name < $1.name }, contentToken: token)
            }
            // Sums read through Ferry's UTF-8 sessions: a shadow of another encoding (or locale)
            // holds the same letters but gives a client on its default encoding other bytes, and
            // sorts otherwise. A copy is its source's database.
            if let theirs = try source.databaseLocale(of: database), let mine = try databaseLocale(of: shadow), mine != theirs {
                throw FerryError(.verifyFailed, "\(shadow) on \(instanceName) is \(mine.summary); \(database) on \(source.instanceName) is \(theirs.summary): a client reading both in their own encoding would read other bytes",
                                 instance: instanceName)
            }
            var theirs: [String: VerifyReport.Table]
            if let tables = receipt?.tables, receipt?.detail["level"] == VerifyLevel.checksum.rawValue || level == .count {
                theirs = Dictionary(tables.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            } else {
                let s = try source.open(database)
                defer { s.close() }
                theirs = try PostgresSums.sums(try PostgresSums.tables(on: s), level: level, on: s)
                if let objects = try PostgresLargeObjects.sum(on: s) { theirs[objects.name] = objects }
            }
            var mine = try PostgresSums.parallelSums(mineTables, level: level, workers: workers, like: theirs.filter { $0.key != PostgresLargeObjects.label }, open: opener)
            let objects = try PostgresLargeObjects.sum(on: c)
            if var objects {
                if level == .count { objects.checksum = nil }
                mine[objects.name] = objects
            }
            if Set(theirs.keys) != Set(mine.keys) {
                throw FerryError(.verifyFailed, "\(shadow) holds tables \(mine.keys.sorted()) but \(database) on \(source.instanceName) holds \(theirs.keys.sorted())",
                                 instance: instanceName)
            }
            var report: [VerifyReport.Table] = []
            for name in mine.keys.sorted() {
                let here = mine[name]!, there = theirs[name]!
                if here.rows != there.rows {
                    throw FerryError(.verifyFailed, "table \(name): \(there.rows) rows in \(database) on \(source.instanceName), \(here.rows) in the copy",
                                     instance: instanceName)
                }
                if level == .checksum && here.checksum != there.checksum {
                    throw FerryError(.verifyFailed, "table \(name): checksum \(there.checksum ?? "null") in \(database) on \(source.instanceName), \(here.checksum ?? "null") in the copy",
                                     instance: instanceName)
                }
                report.append(here)
            }
            // What the target holds right after the swap: the sums just taken where they are
            // of the token's kind (a checksum copy between servers of one major version: all
            // of them), the others read now. At `count`, a table the copy streamed in binary
            // whole takes its stream's `b` checksum from the receipt (the rows `COPY FROM`
            // wrote into the shadow) once the shadow's count is the stream's: no second read.
            // Should the shadow differ (written by someone meanwhile), the token is not the
            // shadow's, and a later rollback keeps the target as written since the swap
            // rather than restore over it.
            var known = mine
            if level == .count, receipt?.tables != nil {
                for (name, here) in mine where here.checksum == nil {
                    if let there = theirs[name], there.rows == here.rows, let checksum = there.checksum, checksum.hasPrefix("b") {
                        known[name] = VerifyReport.Table(name: here.name, rows: here.rows, checksum: checksum)
                    }
                }
            }
            let sums = try PostgresContentToken.sums(mineTables, known: known, workers: workers, open: opener)
            let token = PostgresContentToken.token(definitions: try PostgresContentToken.definitions(on: c), sums: sums, objects: objects,
                                                   rights: try verifiedRights(on: c))
            return VerifyReport(tables: report, contentToken: token)
        }
    }
}
