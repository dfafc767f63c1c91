import FerryCore
import Foundation

/// A copy of one database between two PostgreSQL servers (or within one), the pgcopydb way:
///
/// 1. The source exports one snapshot (`pg_export_snapshot()` in a repeatable-read, read-only
///    transaction held open to the end); every reader joins it (`SET TRANSACTION SNAPSHOT`).
/// 2. Pre-data schema: `pg_dump --section=pre-data --snapshot --format=custom` restored into the
///    shadow (owners and privileges left out: `--no-owner --no-privileges`; publications and
///    subscriptions too). From here to the end of post-data everything runs as the copy's load
///    role, extensions aside (`PostgresLoadRole`, `buildAsLoadRole`).
/// 3. Data: workers (at most the cores, and `maxConnections - 3` on either side) take tables
///    biggest first and stream `COPY ... TO STDOUT` into `COPY ... FROM STDIN` of the shadow,
///    bytes passed through without parsing: binary format when both servers have the same
///    major version and no column is of a composite type or an array of a non-built-in type,
///    else text; `FREEZE` after a `TRUNCATE` in the same transaction; generated columns left out.
///    At `verify: count` or `checksum` each worker also sums its table in the snapshot (the
///    source sums verify compares with: `PostgresSums`).
/// 4. Large objects (`PostgresLargeObjects`), in the snapshot, under their oids.
///    A table's indexes and keys (`pg_dump --section=post-data --snapshot`, read before the
///    loads) are built by the same workers as soon as its load is done, primary and unique keys
///    as `CREATE UNIQUE INDEX` (`PostgresIndexSchedule`).
/// 5. Sequences set to the source's values in the snapshot, then the rest of post-data into the
///    shadow: the keys attached (`ADD CONSTRAINT ... USING INDEX`), indexes of tables no worker
///    loaded (partitioned parents), then the rest in pg_dump's order (`PostgresPostData`).
struct PostgresCopy {
    let source: PostgresSession
    let target: PostgresSession
    let database: String
    let shadow: String
    let verifying: VerifyLevel
    let progress: ProgressCounter
    /// The plan's copy options: `owner`, the ordinary role that owns what the copy makes (nil:
    /// Ferry's user), and whether users are synced after.
    var options = CopyOptions()

    /// The copy, and its receipt: the source's per-table sums taken in the copy's snapshot (at the
    /// level the verify will check; none for `verify: none`), for the verify step. At `count`, a
    /// table streamed in binary whole carries its stream's `b` checksum as well (the content
    /// token's sum of the rows written into the shadow; never compared by a count verify).
    func run() throws -> BuildResult {
        var taken: [VerifyReport.Table]?
        let tools = PostgresTools(address: source.address, instanceName: source.instanceName)
        try tools.checkClient(serverVersionNumber: source.connection.serverVersionNumber)
        try PostgresTools(address: target.address, instanceName: target.instanceName)
            .checkClient(serverVersionNumber: target.connection.serverVersionNumber)
        let snapshotHolder = try source.open(database)
        defer { snapshotHolder.close() }
        let into = try target.open(shadow)
        defer { into.close() }
        return try source.run(.copyError, "cannot copy \(database) from \(source.instanceName)") {
            try snapshotHolder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            guard let snapshot = try snapshotHolder.scalar("SELECT pg_export_snapshot()") else {
                throw FerryError(.copyError, "\(source.instanceName) exported no snapshot", instance: source.instanceName)
            }
            try checkExtensions(on: snapshotHolder, into: into)
            try checkEventTriggers(on: snapshotHolder)
            let tables = try PostgresSums.tables(on: snapshotHolder)
            progress.setTotal(bytes: tables.reduce(0) { $0 + $1.bytes })
            let dumpOptions = ["--snapshot", snapshot, "--no-owner", "--no-privileges", "--no-publications", "--no-subscriptions"]
            let builders = max(1, min(ProcessInfo.processInfo.activeProcessorCount, target.spareConnections,
                                      source.instanceName == target.instanceName ? max(1, (target.target.instance.maxConnections ?? 16) - 5) : .max))
            let scratch = try ScratchFiles.makeDirectory(in: target.address.scratch, "pg-pre-data")
            defer { try? FileManager.default.removeItem(at: scratch) }
            let preData = scratch.appendingPathComponent("pre-data.dump").path
            try tools.run("pg_dump", ["--section=pre-data", "--format=custom", "--file", preData] + dumpOptions, database: database,
                          code: .copyError, cancellation: progress)
            // Everything that may run the source's code runs as the load role (`buildAsLoadRole`).
            let stats = try target.buildAsLoadRole(shadow, preData: preData, admin: into, source: database, options: options,
                                                   connections: ProcessInfo.processInfo.activeProcessorCount + builders + 1,
                                                   code: .copyError, cancellation: progress) { (load: PostgresLoadRole?) throws -> TransferStats in
                try progress.checkCancelled()
                let dst = PostgresBox(target), shadowName = shadow
                let openLoader: @Sendable () throws -> PostgresConnection = Self.loader(load, orFerrys: dst, shadow: shadowName)
                let sameMajor = source.connection.serverVersionNumber / 10000 == target.connection.serverVersionNumber / 10000
                let whole = try tables.map { table in
                    let columns = try Self.columns(table, on: snapshotHolder)
                    var plan = try TablePlan(table: table, columns: columns.copied,
                                             binary: sameMajor && Self.isBinarySafe(table, on: snapshotHolder))
                    plan.wholeRows = !columns.generated
                    return plan
                }
                let blockSize = Int64(try snapshotHolder.scalar("SELECT current_setting('block_size')") ?? "") ?? 8192
                let serverVersion = min(source.connection.serverVersionNumber, target.connection.serverVersionNumber)
                let splitLimit = target.splitTablesLargerThan ?? Self.splitBytes
                let byKey = target.splitsByKey ?? Self.splitsByKey(serverVersion: serverVersion)
                let keys = byKey ? try Self.integerKeys(of: whole.filter { splitLimit > 0 && $0.table.bytes > splitLimit }, on: snapshotHolder) : [:]
                let plans = Self.split(whole, workers: workerCount(plans: whole.count), blockSize: blockSize,
                                       serverVersion: serverVersion, limit: splitLimit, keys: keys)
                target.extraCopyParts = plans.count - whole.count
                // In UTF-8, the encoding of Ferry's sessions that run it (its `SET client_encoding`
                // is left out): in the source's encoding a LATIN1 or EUC_JP database's non-ASCII
                // index or constraint names were other bytes, or invalid (fresh tester round 26, F4).
                let postDataScript = try tools.run("pg_dump", ["--section=post-data", "--encoding=UTF8"] + dumpOptions, database: database, code: .copyError,
                                                   cancellation: progress)
                var postData = PostgresPostData(script: Self.script(postDataScript))
                postData.orderBySize(Dictionary(tables.map { ($0.label, $0.bytes) }, uniquingKeysWith: max))
                let indexes = try PostgresIndexSchedule(postData: postData, loading: Set(tables.map(\.label)), on: snapshotHolder)
                let sums = try copyTables(plans, snapshot: snapshot, indexes: indexes, open: openLoader)
                if verifying != .none { taken = sums.tables.values.sorted { $0.name < $1.name } }
                let objectBytes = try target.run(.copyError, "cannot copy the large objects of \(database) into \(shadow) on \(target.instanceName)") {
                    try PostgresLargeObjects.copy(from: snapshotHolder, to: into, progress: progress)
                }
                if verifying != .none, var objects = try PostgresLargeObjects.sum(on: snapshotHolder) {
                    if verifying == .count { objects.checksum = nil }
                    taken?.append(objects)
                }
                try target.run(.copyError, "cannot set the sequences of \(shadow) on \(target.instanceName)") {
                    for statement in try Self.sequenceValues(on: snapshotHolder) { try into.execute(statement) }
                }
                postData = indexes.remainder(of: postData)
                try target.run(.copyError, "cannot build the indexes and constraints of \(shadow) on \(target.instanceName)") {
                    try postData.run(workers: builders, open: openLoader, progress: progress)
                }
                return TransferStats(bytes: sums.bytes + objectBytes, rows: sums.rows)
            }
            try snapshotHolder.execute("COMMIT")
            return BuildResult(stats: stats, receipt: BuildReceipt(tables: taken, detail: ["level": verifying.rawValue]))
        }
    }

    /// Refuses (`CopyError`, before the shadow gets anything) a source database with event
    /// triggers when the copy loads as an ordinary role (Ferry's user is a superuser or has
    /// `CREATEROLE`): only a superuser may create one, and an event trigger runs its function on
    /// every later DDL of every user of the database, so Ferry does not create it with its own
    /// rights for a source's author.
    func checkEventTriggers(on source: PostgresConnection) throws {
        let names = try source.query("SELECT evtname FROM pg_event_trigger ORDER BY 1").compactMap { $0[0] }
        guard !names.isEmpty,
              let row = try target.connection.query("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user").first,
              row[0] == "t" || row[1] == "t" else { return }
        throw FerryError(.copyError, "\(database) on \(source.instanceName) has event triggers (\(names.joined(separator: ", "))), which only a superuser may create; Ferry loads a copy as an ordinary role and does not create them with its own rights",
                         hint: "drop the event triggers on the source (create them again on the target yourself after the copy), or copy a backup made without them; nothing was copied",
                         instance: source.instanceName)
    }

    /// Opens sessions to the shadow as `load`'s role, or as Ferry's user (`session`) without one.
    static func loader(_ load: PostgresLoadRole?, orFerrys session: PostgresBox<PostgresSession>,
                       shadow: String) -> @Sendable () throws -> PostgresConnection {
        if let load { return { try load.open() } }
        return { try session.value.open(shadow) }
    }

    /// Refuses (`CopyError`, before the shadow gets anything) a source whose extensions the
    /// target server cannot create, naming each with the version the source has.
    func checkExtensions(on source: PostgresConnection, into shadow: PostgresConnection) throws {
        let wanted = try source.query("SELECT extname, extversion FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1")
        let available = Set(try shadow.query("SELECT name FROM pg_available_extensions").compactMap { $0[0] })
        let missing = wanted.compactMap { row -> String? in
            guard let name = row[0], !available.contains(name) else { return nil }
            return "\(name) \(row[1] ?? "")"
        }
        if !missing.isEmpty {
            throw FerryError(.copyError, "\(target.instanceName) lacks the extensions \(database) on \(source.instanceName) uses: \(missing.joined(separator: ", "))",
                             hint: "install them on the target server (its packages), then apply again; nothing was copied", instance: target.instanceName)
        }
    }

    /// pg_dump's plain output of a schema section as one script for the server: without the
    /// psql-only `\\restrict` / `\\unrestrict` lines newer pg_dump releases put around it
    /// (a schema section has no COPY data, so every other line is SQL).
    static func script(_ data: Data) -> String {
        String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("\\restrict ") && !$0.hasPrefix("\\unrestrict ") }
            .joined(separator: "\n")
    }

    struct TablePlan: Sendable {
        var table: PostgresTable
        var columns: [String]
        var binary: Bool
        /// For a table split into parts: this part's heap pages, `[from, to)` (`to` nil: to the
        /// end); nil: the whole table.
        var pages: PageRange? = nil

        /// Whether `columns` are all the table's columns (none is generated): then a binary
        /// stream's checksum covers whole rows and the verify can take the same of the shadow.
        var wholeRows = false

        /// For a part of a table split by its integer key: the key's range.
        var keys: KeyRange? = nil

        /// The rows of the part as a condition on its key range, or on `ctid` (a TID range
        /// scan, PostgreSQL 14+).
        var filter: String? {
            if let keys { return keys.condition }
            guard let pages else { return nil }
            return "ctid >= '(\(pages.from),0)'::tid" + (pages.to.map { " AND ctid < '(\($0),0)'::tid" } ?? "")
        }
    }

    struct PageRange: Sendable, Hashable {
        var from: Int64
        var to: Int64?
    }

    /// A range `[from, to)` of a table's single-column integer primary key (nil: unbounded).
    struct KeyRange: Sendable, Hashable {
        var column: String
        var from: Int64?
        var to: Int64?

        var condition: String {
            let key = quoteIdent(column)
            switch (from, to) {
            case let (from?, to?): return "\(key) >= \(from) AND \(key) < \(to)"
            case let (from?, nil): return "\(key) >= \(from)"
            case let (nil, to?): return "\(key) < \(to)"
            case (nil, nil): return "\(key) IS NOT NULL"
            }
        }
    }

    /// A table's single-column integer primary key and its smallest and largest values.
    struct IntegerKey: Sendable, Hashable {
        var column: String
        var min: Int64
        var max: Int64
    }

    /// Whether big tables are split by their integer key rather than by `ctid` page ranges
    /// (`FERRY_PG_SPLIT_BY`: `key`, `ctid`; else chosen): before PostgreSQL 14 a `ctid` range
    /// is a scan of the whole table (no TID range scans), so ranges of the key (an index range
    /// scan each) are the only split that saves work; from 14 on `ctid` ranges read exactly
    /// their pages, evenly sized whatever the keys' spread, which measured faster
    /// (bench/postgres/README.md).
    static func splitsByKey(serverVersion: Int) -> Bool {
        switch ProcessInfo.processInfo.environment["FERRY_PG_SPLIT_BY"] {
        case "key": return true
        case "ctid": return false
        default: return serverVersion < 140000
        }
    }

    /// The single-column `smallint` / `integer` / `bigint` primary keys of `plans`' tables, with
    /// their bounds in `c`'s snapshot, by table label (tables without one, or empty, left out).
    static func integerKeys(of plans: [TablePlan], on c: PostgresConnection) throws -> [String: IntegerKey] {
        var keys: [String: IntegerKey] = [:]
        for plan in plans {
            guard let column = try c.scalar("""
                SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                WHERE i.indrelid = \(quoteLiteral(plan.table.qualified))::regclass AND i.indisprimary AND i.indnatts = 1
                  AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
                """) else { continue }
            let key = quoteIdent(column)
            guard let row = try c.query("SELECT min(\(key))::text, max(\(key))::text FROM ONLY \(plan.table.qualified)").first,
                  let low = row[0].flatMap({ Int64($0) }), let high = row[1].flatMap({ Int64($0) }) else { continue }
            keys[plan.table.label] = IntegerKey(column: column, min: low, max: high)
        }
        return keys
    }

    /// A table of `bytes` over `limit` cut into `parts` ranges of its key `[min, max]`, of equal
    /// width (the first and last unbounded); nil when the key's span does not fit in 64 bits.
    static func keyRanges(_ key: IntegerKey, parts wanted: Int) -> [KeyRange]? {
        let (span, overflow) = key.max.subtractingReportingOverflow(key.min)
        guard !overflow, span < Int64.max else { return nil }
        let parts = Int(min(Int64(wanted), span + 1))
        guard parts > 1 else { return [KeyRange(column: key.column, from: nil, to: nil)] }
        let step = (span + 1) / Int64(parts)
        return (0..<parts).map { i in
            KeyRange(column: key.column, from: i == 0 ? nil : key.min + Int64(i) * step,
                     to: i == parts - 1 ? nil : key.min + Int64(i + 1) * step)
        }
    }

    /// Tables bigger than this (bytes) are copied in parts, several workers at once
    /// (`FERRY_PG_SPLIT_TABLES_LARGER_THAN`, default 128 MiB; 0: never), as pgcopydb's
    /// `--split-tables-larger-than` does.
    static var splitBytes: Int64 {
        ProcessInfo.processInfo.environment["FERRY_PG_SPLIT_TABLES_LARGER_THAN"].flatMap { Int64($0) } ?? 128 << 20
    }

    /// `plans` with every table over `splitBytes` cut into parts of about that size (at most
    /// 64), each a range of heap pages, in the tables' order; a single worker or a table without
    /// columns is never split. A table in `keys` (its integer primary key: `integerKeys`) is cut
    /// into ranges of its key instead, on any server version; any other table is not split on a
    /// server before 14 (no TID range scans).
    static func split(_ plans: [TablePlan], workers: Int, blockSize: Int64, serverVersion: Int, limit: Int64 = splitBytes,
                      keys: [String: IntegerKey] = [:]) -> [TablePlan] {
        guard workers > 1, limit > 0, blockSize > 0 else { return plans }
        return plans.flatMap { plan -> [TablePlan] in
            guard plan.table.bytes > limit, !plan.columns.isEmpty else { return [plan] }
            let pages = max(1, plan.table.bytes / blockSize)
            let parts = Int(min(64, (plan.table.bytes + limit - 1) / limit, pages))
            if let key = keys[plan.table.label], let ranges = keyRanges(key, parts: parts), ranges.count > 1 {
                return ranges.map { range in
                    var part = plan
                    part.keys = range
                    return part
                }
            }
            guard serverVersion >= 140000 else { return [plan] }
            let step = pages / Int64(parts)
            return (0..<parts).map { i in
                var part = plan
                part.pages = PageRange(from: Int64(i) * step, to: i == parts - 1 ? nil : Int64(i + 1) * step)
                return part
            }
        }
    }

    /// The columns COPY moves: all but generated ones (the shadow computes those), in order;
    /// and whether the table has generated ones.
    static func columns(_ table: PostgresTable, on c: PostgresConnection) throws -> (copied: [String], generated: Bool) {
        let all = try c.query("SELECT attname, attgenerated <> '' FROM pg_attribute WHERE attrelid = \(quoteLiteral(table.qualified))::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum")
        return (all.filter { $0[1] == "f" }.compactMap { $0[0] }, all.contains { $0[1] == "t" })
    }

    /// Whether the binary COPY format carries this table between servers: it embeds type oids for
    /// composite values and array elements, which differ between databases for types the user
    /// made; built-in types, enums, ranges and domains over them are safe.
    static func isBinarySafe(_ table: PostgresTable, on c: PostgresConnection) throws -> Bool {
        let unsafe = try c.scalar("""
            WITH RECURSIVE cols AS (
              SELECT atttypid AS t FROM pg_attribute WHERE attrelid = \(quoteLiteral(table.qualified))::regclass AND attnum > 0 AND NOT attisdropped
              UNION SELECT ty.typbasetype FROM pg_type ty JOIN cols ON ty.oid = cols.t WHERE ty.typtype = 'd')
            SELECT count(*) FROM cols JOIN pg_type ty ON ty.oid = cols.t
            WHERE ty.typtype = 'c' OR (ty.typelem <> 0 AND ty.typlen = -1 AND ty.typelem >= 16384)
              OR (ty.typtype = 'b' AND ty.oid >= 16384 AND ty.typelem = 0) OR ty.typsend = 0
            """)
        return unsafe == "0"
    }

    /// `setval` statements giving every sequence of the snapshot its value there.
    static func sequenceValues(on c: PostgresConnection) throws -> [String] {
        // Never other sessions' temporary sequences (pg_dump skips them too; they cannot be read).
        let sequences = try c.query("""
            SELECT n.nspname, s.relname, s.oid FROM pg_class s JOIN pg_namespace n ON n.oid = s.relnamespace
            WHERE s.relkind = 'S' AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = s.oid AND d.deptype = 'e')
            """)
        return try sequences.compactMap { row in
            guard let schema = row[0], let name = row[1], let oid = row[2] else { return nil }
            let q = qualifiedName(schema, name)
            // By oid first (which locks the sequence, so it cannot be renamed away, and fails for
            // anything but a sequence), then the name must still be that sequence: an owner who
            // renamed it and made a view of its name meanwhile would have Ferry's session run the
            // view's code (a fresh tester's race).
            _ = try c.query("SELECT pg_catalog.pg_sequence_last_value(\(oid)::oid)")
            guard try c.scalar("SELECT to_regclass(\(quoteLiteral(q)))::oid::text") == oid else {
                throw FerryError(.copyError, "the sequence \(schema).\(name) was renamed or replaced while Ferry copied it; Ferry does not read what took its name",
                                 hint: "whoever owns it changed it during the run; apply again")
            }
            guard let value = try c.query("SELECT last_value, is_called FROM \(q)").first, let last = value[0] else { return nil }
            return "SELECT pg_catalog.setval(\(quoteLiteral(q)), \(last), \(value[1] == "t" ? "true" : "false"))"
        }
    }

    /// Copies every table with parallel workers; returns the source's sums (at `verifying`) and totals.
    /// Workers for `plans` tables: at most the cores, and the spare connections of either side
    /// (`spareConnections`; each worker holds one on each side).
    func workerCount(plans: Int) -> Int {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        return max(1, min(plans, cores, source.spareConnections, target.spareConnections, sameInstanceWorkers))
    }

    /// A copy within one instance holds five sessions there beside its workers (the source's and
    /// the target's on the maintenance database, the snapshot's, the shadow's, one in
    /// `ferry_meta`) and two a worker: the workers its cap leaves
    /// (`EnginePlanForm.minimumConnectionsWithin`, 7, at least).
    var sameInstanceWorkers: Int {
        guard source.instanceName == target.instanceName, let cap = target.target.instance.maxConnections else { return .max }
        return max(1, (cap - 5) / 2)
    }

    /// With `indexes`, each worker also builds, on its shadow connection, the indexes of every
    /// table whose load is done, before taking the next table. `open`: a session to the shadow
    /// as the load role (`PostgresLoadRole`) or Ferry's user.
    func copyTables(_ plans: [TablePlan], snapshot: String, indexes: PostgresIndexSchedule = PostgresIndexSchedule(),
                    open: @escaping @Sendable () throws -> PostgresConnection) throws -> (tables: [String: VerifyReport.Table], bytes: Int64, rows: Int64) {
        let workers = max(workerCount(plans: plans.count), workerCount(plans: indexes.count))
        let queue = CopyQueue(plans, indexes: indexes, cancellation: self.progress)
        let src = PostgresBox(source), dst = PostgresBox(target)
        let level = verifying, shadow = self.shadow, database = self.database, progress = PostgresBox(self.progress)
        // One job per pair of connections (opened by the job); a failure is kept in the queue
        // (the first one) and stops the others.
        try WorkerPool.shared.forEach(workers) { _ in
            do {
                let reader = try src.value.open(database)
                defer { reader.close() }
                let writer = try open()
                defer { writer.close() }
                try reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT \(quoteLiteral(snapshot))")
                while let plan = try queue.take(indexingOn: writer) {
                    try progress.value.checkCancelled()
                    // The snapshot's sums come from the stream itself where they can (a count
                    // always; a checksum of whole rows in binary), else from a second read. At
                    // `count` a binary stream of whole rows is hashed too: the bytes it carries
                    // are the rows `COPY FROM` wrote into the shadow, so its `b` checksum is the
                    // shadow's for the content token (`verify`), which then need not read the
                    // shadow a second time (issue 19: a count copy ran slower than a checksum one).
                    let streamed = level != .none && plan.binary && plan.wholeRows
                    var digest = PostgresCopyDigest(binary: plan.binary, hashing: streamed)
                    let bytes = try Self.copyTable(plan, from: reader, to: writer, digest: &digest, progress: progress.value)
                    let sum: VerifyReport.Table
                    if level != .checksum {
                        sum = .init(name: plan.table.label, rows: digest.rows, checksum: streamed ? digest.checksum : nil)
                    } else if streamed {
                        sum = .init(name: plan.table.label, rows: digest.rows, checksum: digest.checksum)
                    } else {
                        let (rows, checksum) = try PostgresSums.countAndChecksum(plan.table, on: reader, filter: plan.filter)
                        sum = .init(name: plan.table.label, rows: rows, checksum: checksum)
                    }
                    queue.done(sum, bytes: bytes)
                    KillPoint.check("change:postgres.tableCopied")
                }
                try reader.execute("COMMIT")
            } catch let error as PostgresServerError {
                queue.fail(error.ferry(.copyError, "cannot copy \(database) into \(shadow)", instance: dst.value.instanceName))
            } catch {
                queue.fail(error)
            }
        }
        return try queue.result()
    }

    /// Streams one table: `COPY ... TO STDOUT` on the source into `COPY ... FROM STDIN (FREEZE)`
    /// after a `TRUNCATE` in the same transaction on the shadow; a part of a split table as
    /// `COPY (SELECT ... WHERE ctid ...) TO STDOUT` into a plain `COPY ... FROM STDIN` (parts
    /// load side by side, so none may truncate). Returns the bytes moved; `digest` sees every
    /// byte read (`PostgresCopyDigest`).
    static func copyTable(_ plan: TablePlan, from reader: PostgresConnection, to writer: PostgresConnection,
                          digest: inout PostgresCopyDigest, progress: ProgressCounter) throws -> Int64 {
        // A table with no columns at all still has rows: COPY without a column list moves them.
        let columns = plan.columns.isEmpty ? "" : "(" + plan.columns.map(quoteIdent).joined(separator: ", ") + ")"
        let format = plan.binary ? "FORMAT binary" : "FORMAT text"
        let copyIn: String
        let copyOut: String
        if let filter = plan.filter {
            copyIn = "COPY \(plan.table.qualified) \(columns) FROM STDIN WITH (\(format))"
            copyOut = "COPY (SELECT \(plan.columns.map(quoteIdent).joined(separator: ", ")) FROM ONLY \(plan.table.qualified) WHERE \(filter)) TO STDOUT WITH (\(format))"
            try writer.execute("BEGIN")
        } else {
            copyIn = "COPY \(plan.table.qualified) \(columns) FROM STDIN WITH (\(format), FREEZE)"
            copyOut = "COPY \(plan.table.qualified) \(columns) TO STDOUT WITH (\(format))"
            try writer.execute("BEGIN; TRUNCATE \(plan.table.qualified)")
        }
        try writer.beginCopyIn(copyIn)
        var bytes: Int64 = 0
        do {
            try PostgresSums.readingPlainTable(plan.table, on: reader) {
                try reader.copyOut(copyOut) { chunk in
                    try digest.feed(chunk)
                    try writer.putCopyData(chunk, sql: copyIn)
                    bytes += Int64(chunk.count)
                    if bytes & 0xFFFFF < Int64(chunk.count) { try progress.checkCancelled() }
                    progress.add(bytes: Int64(chunk.count))
                }
            }
            try digest.finish()
        } catch {
            try? writer.endCopyIn(sql: copyIn, failure: "source failed")
            try? writer.execute("ROLLBACK")
            throw error
        }
        // The rows the server wrote are the rows the stream carried: checked here, at the one
        // place that sees both, so a load that lost or doubled rows fails at its table and part
        // (not later, as a count or a key the verify or an index build trips over).
        let written = try writer.endCopyIn(sql: copyIn)
        if let written, written != digest.rows {
            try? writer.execute("ROLLBACK")
            throw FerryError(.copyError, "COPY into \(plan.table.label)\(plan.filter.map { " (the part \($0))" } ?? "") wrote \(written) rows; the source's stream carried \(digest.rows)",
                             hint: "nothing was swapped in; apply again, and report this if it repeats")
        }
        try writer.execute("COMMIT")
        return bytes
    }
}

/// The tables still to copy, the index builds their loads make ready, and what the workers
/// found; every access holds `lock`.
final class CopyQueue: @unchecked Sendable {
    private let lock = NSCondition()
    private var plans: [PostgresCopy.TablePlan]
    private var next = 0
    private var error: Error?
    private var sums: [String: VerifyReport.Table] = [:]
    private var bytes: Int64 = 0
    private var rows: Int64 = 0
    private let indexes: PostgresIndexSchedule
    /// Parts of each table (by label) not loaded yet; a table's index builds wait for its zero.
    private var partsLeft: [String: Int] = [:]
    private var ready: [String] = []
    private var loading = 0

    /// Checked before each index build (Ctrl-C stops between builds, as between tables).
    private let cancellation: ProgressCounter?

    init(_ plans: [PostgresCopy.TablePlan], indexes: PostgresIndexSchedule = PostgresIndexSchedule(),
         cancellation: ProgressCounter? = nil) {
        self.plans = plans
        self.indexes = indexes
        self.cancellation = cancellation
        for plan in plans { partsLeft[plan.table.label, default: 0] += 1 }
    }

    func take() -> PostgresCopy.TablePlan? {
        lock.lock(); defer { lock.unlock() }
        guard error == nil, next < plans.count else { return nil }
        next += 1
        loading += 1
        return plans[next - 1]
    }

    /// The next table (or part) to load, after building on `writer` every index whose table is
    /// loaded (they come first: a build overlaps the loads still running); waits while nothing
    /// is ready but loads are under way. Nil when every load and ready build is done, or after a
    /// failure. An index build's failure is thrown (`CopyError` naming the shadow's statement).
    func take(indexingOn writer: PostgresConnection) throws -> PostgresCopy.TablePlan? {
        let preamble = indexes.preamble
        return try take { sql in
            do { try writer.execute("BEGIN;\n" + preamble + sql + "\nCOMMIT") } catch let failure as PostgresServerError {
                try? writer.execute("ROLLBACK")
                throw failure.ferry(.copyError, "cannot build an index of the copy", instance: writer.instanceName)
            }
        }
    }

    /// `take(indexingOn:)` with each ready index statement given to `build` (outside the lock).
    /// The plan handed out is read under the lock: read after it, as it once was, two workers
    /// could take one table (loaded twice, `done`'s "loaded more times than it has parts") and
    /// none another.
    func take(building build: (String) throws -> Void) throws -> PostgresCopy.TablePlan? {
        lock.lock()
        while error == nil {
            if !ready.isEmpty {
                let sql = ready.removeFirst()
                lock.unlock()
                try cancellation?.checkCancelled()
                try build(sql)
                lock.lock()
                continue
            }
            if next < plans.count {
                let plan = plans[next]
                next += 1
                loading += 1
                lock.unlock()
                return plan
            }
            if loading == 0 { break }
            lock.wait()
        }
        lock.unlock()
        return nil
    }

    /// Records a table's sum, or adds a part's to the parts of its table done before; the
    /// table's last part makes its index builds ready.
    func done(_ sum: VerifyReport.Table, bytes moved: Int64) {
        lock.lock()
        if let left = partsLeft[sum.name], left <= 0, error == nil {
            // A table or part loaded more often than it was planned: its rows are twice in the
            // shadow. Never expected; failing here names it.
            error = FerryError(.copyError, "\(sum.name) was loaded more times than it has parts; the copy stops",
                               hint: "nothing was swapped in; apply again, and report this if it repeats")
        }
        sums[sum.name] = sums[sum.name].map { PostgresSums.merge($0, sum) } ?? sum
        bytes += moved; rows += max(0, sum.rows)
        loading -= 1
        partsLeft[sum.name, default: 1] -= 1
        if partsLeft[sum.name] == 0 { ready += indexes.byTable[sum.name] ?? [] }
        lock.broadcast()
        lock.unlock()
    }

    func fail(_ e: Error) { lock.lock(); if error == nil { error = e }; lock.broadcast(); lock.unlock() }

    func result() throws -> (tables: [String: VerifyReport.Table], bytes: Int64, rows: Int64) {
        lock.lock(); defer { lock.unlock() }
        if let error { throw error }
        return (sums, bytes, rows)
    }
}

extension PostgresSession {
    public func copyData(from source: PostgresSession, database: String, into shadow: String,
                         verifying: VerifyLevel, progress: ProgressCounter) throws -> BuildResult {
        try copyData(from: source, database: database, into: shadow, verifying: verifying, options: CopyOptions(), progress: progress)
    }

    /// A copy of `database` on `source` into `shadow`, streamed (`PostgresCopy`); with
    /// `options.owner`, what it makes then belongs to that role. With `options.syncsUsers` on one
    /// server it is the file-level TEMPLATE copy when it can be: that keeps the source's owners
    /// and privileges, which is what users sync gives, and which a copy without it must not carry
    /// (SPEC §10: owners and privileges are copied only with `users: "sync"`).
    public func copyData(from source: PostgresSession, database: String, into shadow: String,
                         verifying: VerifyLevel, options: CopyOptions, progress: ProgressCounter) throws -> BuildResult {
        try copyData(from: source, database: database, into: shadow, verifying: verifying, options: options,
                     byTemplate: options.syncsUsers, progress: progress)
    }

    /// `copyData`, by TEMPLATE on one server when `byTemplate` and no other session is on the
    /// source (`copyByTemplate`), else streamed.
    func copyData(from source: PostgresSession, database: String, into shadow: String, verifying: VerifyLevel,
                  options: CopyOptions, byTemplate: Bool, progress: ProgressCounter) throws -> BuildResult {
        copiedByTemplate = false
        if let owner = options.owner { try checkCopyOwner(owner) }
        if byTemplate, options.owner == nil, isSameServer(as: source) {
            let made = try run(.copyError, "cannot copy \(database) into \(shadow) on \(instanceName)") {
                try copyByTemplate(database, into: shadow)
            }
            if made {
                copiedByTemplate = true
                try run(.copyError, "cannot carry the settings of \(database) to \(shadow)") {
                    _ = try carryDatabaseSettings(from: source, database: database, into: shadow)
                }
                let size = Int64(try run(.copyError, "cannot read the size of \(shadow)") {
                    try connection.scalar("SELECT pg_database_size(\(quoteLiteral(shadow)))")
                } ?? "0") ?? 0
                progress.add(bytes: size)
                // No sums taken in a snapshot: the verify reads the source (idle: the template
                // path needs it without other sessions) now.
                return BuildResult(stats: TransferStats(bytes: size))
            }
        }
        // A copy is its source's database: the shadow gets the source's encoding and locale
        // (it was made like the target, or with the server's defaults for a missing one).
        try run(.copyError, "cannot make \(shadow) with the encoding and locale of \(database) on \(instanceName)") {
            if let wanted = try source.databaseLocale(of: database) { try remakeShadow(shadow, withLocale: wanted) }
        }
        let stats = try PostgresCopy(source: source, target: self, database: database, shadow: shadow,
                                     verifying: verifying, progress: progress, options: options).run()
        try run(.copyError, "cannot carry the settings of \(database) to \(shadow)") {
            _ = try carryDatabaseSettings(from: source, database: database, into: shadow)
        }
        return stats
    }

    /// A copy of `database` into `shadow` on this instance as it is, owners and privileges
    /// included (the snapshot an `append` import starts from): by TEMPLATE when no other session
    /// is on it, else streamed.
    public func cloneDatabase(_ database: String, into shadow: String, progress: ProgressCounter) throws {
        _ = try copyData(from: self, database: database, into: shadow, verifying: .none, options: CopyOptions(),
                         byTemplate: true, progress: progress)
    }

    // MARK: Backups (pg_dump custom-format archives)

    public var backupFileExtension: String { "dump" }

    /// `pg_dump -Fc` of `database` into `file`: one consistent snapshot, restorable by
    /// `pg_restore` and by Ferry (`restoreBackup`).
    public func writeBackup(of database: String, to file: URL, progress: ProgressCounter) throws -> TransferStats {
        let tools = PostgresTools(address: address, instanceName: instanceName)
        try tools.checkClient(serverVersionNumber: connection.serverVersionNumber)
        // The archive and the counts the set's manifest records (what a restore must give back)
        // are of one snapshot: Ferry's transaction exports it, pg_dump takes it (`--snapshot`).
        let c = try run(.copyError, "cannot open \(database) on \(instanceName) to back it up") { try open(database) }
        defer { c.close() }
        let tables: [VerifyReport.Table] = try run(.copyError, "cannot back up \(database) on \(instanceName)") {
            try c.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            let snapshot = try c.scalar("SELECT pg_export_snapshot()") ?? ""
            try tools.run("pg_dump", ["--format=custom", "--snapshot=\(snapshot)", "--file", file.path], database: database, code: .copyError, cancellation: progress)
            var tables = try PostgresSums.sums(try PostgresSums.tables(on: c), level: .count, on: c).values.sorted { $0.name < $1.name }
            if let objects = Int64(try c.scalar("SELECT count(*) FROM pg_largeobject_metadata") ?? ""), objects > 0 {
                tables.append(.init(name: PostgresLargeObjects.label, rows: objects, checksum: nil))
            }
            try c.execute("COMMIT")
            return tables
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int64) ?? 0
        progress.add(bytes: size ?? 0)
        return TransferStats(bytes: size ?? 0, tables: tables)
    }

    public func restoreBackup(from file: URL, into shadow: String, progress: ProgressCounter) throws -> BuildResult {
        try restoreBackup(from: file, into: shadow, options: CopyOptions(), progress: progress)
    }

    public func restoreBackup(from file: URL, into shadow: String, options: CopyOptions, progress: ProgressCounter) throws -> BuildResult {
        if let owner = options.owner { try checkCopyOwner(owner) }
        // A copy from a backup set is its source's database as the set holds it: the shadow gets
        // the encoding and locale the archive's DATABASE entry records (it was made like the
        // target, or with the server's defaults), as `pg_restore --create` would make it.
        if let wanted = try archiveLocale(file.path) {
            try run(.copyError, "cannot make \(shadow) with the encoding and locale of the backup \(file.lastPathComponent) on \(instanceName)") {
                try remakeShadow(shadow, withLocale: wanted)
            }
        }
        return BuildResult(stats: try restoreArchive(file.path, source: file.path, into: shadow, options: options, progress: progress))
    }

    /// `pg_restore` of a custom-format archive into the shadow, owners and privileges left out,
    /// as the copy's load role (`buildAsLoadRole`: extensions aside, every section), the data and
    /// post-data sections in one transaction. Errors are `ImportError` naming the archive.
    func restoreArchive(_ path: String, source: String, into shadow: String, options: CopyOptions = CopyOptions(),
                        progress: ProgressCounter) throws -> TransferStats {
        let tools = PostgresTools(address: address, instanceName: instanceName)
        try tools.checkClient(serverVersionNumber: connection.serverVersionNumber)
        let flags = ["--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error", "--no-publications", "--no-subscriptions"]
        let admin = try run(.importError, "cannot open a connection to \(shadow)") { try open(shadow) }
        defer { admin.close() }
        try buildAsLoadRole(shadow, preData: path, admin: admin, source: source, options: options, connections: 2,
                            code: .importError, cancellation: progress) { (load: PostgresLoadRole?) throws in
            let loader = load.map { PostgresTools(address: $0.address, instanceName: instanceName) } ?? tools
            try loader.run("pg_restore", flags + ["--section=data", "--section=post-data", path], database: shadow, code: .importError,
                           cancellation: progress)
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? 0
        progress.add(bytes: size ?? 0)
        return TransferStats(bytes: size ?? 0)
    }
}
