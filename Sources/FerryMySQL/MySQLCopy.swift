import CMariaDB
import FerryCore
import Foundation

/// A table's definition split for a fast load: created without secondary indexes, which are
/// added after the data, and (InnoDB, unless the table sets it) with `STATS_AUTO_RECALC=0`
/// while it loads: MariaDB's background statistics task otherwise spins on a table that is being
/// bulk-loaded, about one core for as long as the load lasts. `finish` restores the option (the
/// `ALTER` recalculates the statistics), so the copy's `SHOW CREATE TABLE` is the source's.
struct TableDefinition {
    var name: String
    var create: String
    var deferredIndexes: [String]
    /// The created table carries `STATS_AUTO_RECALC=0` that `finish` must take back.
    var pausesStatistics: Bool

    init(name: String, showCreate: String) {
        self.name = name
        var lines = showCreate.components(separatedBy: "\n")
        // The closing line holds the table options; a partitioned table's clause follows it.
        guard lines.count >= 3, let close = lines.indices.dropFirst().first(where: { lines[$0].hasPrefix(")") }) else {
            create = showCreate; deferredIndexes = []; pausesStatistics = false; return
        }
        pausesStatistics = lines[close].contains("ENGINE=InnoDB") && !lines[close].contains("STATS_AUTO_RECALC")
        if pausesStatistics { lines[close] += " STATS_AUTO_RECALC=0" }
        let head = lines[0]
        let body = Array(lines[1..<close])
        let tail = lines[close...].joined(separator: "\n")
        guard !showCreate.contains("FOREIGN KEY") else {
            create = lines.joined(separator: "\n"); deferredIndexes = []; return
        }
        var keep: [String] = []
        var indexes: [String] = []
        let autoColumn = body.first { $0.contains(" AUTO_INCREMENT") && $0.hasPrefix("  `") }
            .flatMap { $0.split(separator: " ").first.map(String.init) }
        let primary = body.first { $0.hasPrefix("  PRIMARY KEY") } ?? ""
        let autoNeedsIndex = autoColumn.map { !primary.contains("(\($0)") } ?? false
        for line in body {
            let item = line.hasSuffix(",") ? String(line.dropLast()) : line
            let trimmed = item.trimmingCharacters(in: .whitespaces)
            let isSecondary = trimmed.hasPrefix("KEY ") || trimmed.hasPrefix("UNIQUE KEY ")
                || trimmed.hasPrefix("FULLTEXT KEY ") || trimmed.hasPrefix("SPATIAL KEY ")
            if isSecondary && !autoNeedsIndex { indexes.append(trimmed) } else { keep.append(item) }
        }
        create = ([head, keep.joined(separator: ",\n"), tail]).joined(separator: "\n")
        deferredIndexes = indexes
    }

    /// What completes the table once all its rows are in: its secondary indexes and its
    /// statistics option, in one `ALTER TABLE` (nil when there is nothing to do).
    func finish(in schema: String) -> String? {
        let clauses = deferredIndexes.map { "ADD " + $0 } + (pausesStatistics ? ["STATS_AUTO_RECALC=DEFAULT"] : [])
        return clauses.isEmpty ? nil : "ALTER TABLE \(qualified(schema, name)) " + clauses.joined(separator: ", ")
    }
}

/// The work list the worker threads share: every table in parts (key ranges, or the whole
/// table), with what has been loaded. Every access holds `lock`.
final class CopyShared: @unchecked Sendable {
    let lock = NSCondition()
    /// Parts in the order they are handed out: a table, its range filter (nil: all of it), and
    /// whether it is the table's first part.
    private(set) var items: [(table: Int, filter: String?, first: Bool)] = []
    private var taken: [Bool] = []
    private var remaining: [Int: Int] = [:]
    /// Tables with a part loaded: their other parts may start.
    private var started: Set<Int> = []
    private(set) var failure: Error?
    private(set) var stats = TransferStats()
    /// Rows read from the source per table, over all its parts: the snapshot's row count.
    private(set) var tableRows: [Int: Int64] = [:]
    /// Parts not loaded yet.
    private var partsLeft = 0

    /// Adds a table's parts (before the workers start).
    func addTable(_ table: Int, ranges: [String?]) {
        items += ranges.enumerated().map { (table, $1, $0 == 0) }
        taken += ranges.map { _ in false }
        remaining[table] = ranges.count
        partsLeft += ranges.count
    }

    /// The next part in order that may start, waiting while only the later parts of tables whose
    /// first part is still loading are left. MariaDB loads an empty table in bulk-insert mode
    /// under a table lock: the other key ranges of that table would wait for the first one
    /// anyway, so the worker takes another table meanwhile.
    func take() -> Int? {
        lock.lock(); defer { lock.unlock() }
        while failure == nil {
            if let i = taken.indices.first(where: { !taken[$0] && (items[$0].first || started.contains(items[$0].table)) }) {
                taken[i] = true
                return i
            }
            if !taken.contains(false) { return nil }
            lock.wait()
        }
        return nil
    }

    /// Records part `index` as loaded with `moved`: counts it and releases the table's other
    /// parts. True when it was the table's last part.
    func partDone(_ index: Int, moved: TransferStats) -> Bool {
        lock.lock(); defer { lock.unlock() }
        let table = items[index].table
        stats.bytes += moved.bytes; stats.rows += moved.rows
        tableRows[table, default: 0] += moved.rows
        if started.insert(table).inserted { lock.broadcast() }
        remaining[table, default: 1] -= 1
        partsLeft -= 1
        if remaining[table] == 0 { lock.broadcast() }
        return remaining[table] == 0
    }

    /// Whether a worker failed (read under `lock`, from any thread).
    var hasFailed: Bool { lock.lock(); defer { lock.unlock() }; return failure != nil }

    func fail(_ error: Error) { lock.lock(); if failure == nil { failure = error }; lock.broadcast(); lock.unlock() }
}

/// A pair of connections for one worker, handed to its thread.
final class WorkerConnections: @unchecked Sendable {
    // Safe: each instance is used by exactly one thread after the hand-off.
    let reader: MySQLConnection
    let writer: MySQLConnection
    init(reader: MySQLConnection, writer: MySQLConnection) { self.reader = reader; self.writer = writer }
}

/// Copies one database between two servers: schema, then data per table in parallel under one
/// consistent snapshot, then secondary indexes, then routines, views, triggers and events.
final class MySQLCopy: @unchecked Sendable {
    // Safe: the mutable state lives in `CopyShared`; the rest is read-only once the threads start.
    let source: MySQLSession
    let target: MySQLSession
    let database: String
    let shadow: String
    let progress: ProgressCounter
    /// What the verify step will check: the source's checksums are taken only for `.checksum`.
    let verifying: VerifyLevel
    static let batchBytes = 4 << 20
    /// The smallest part a big table is split into (key ranges loaded in parallel).
    static let chunkBytes: Int64 = ProcessInfo.processInfo.environment["FERRY_MYSQL_CHUNK_BYTES"]
        .flatMap { Int64($0) } ?? (32 << 20)
    /// Tests set it to split every table with an integer key, however small.
    nonisolated(unsafe) static var splitsEveryTable = false

    /// How many tables (or parts) load at once: `FERRY_MYSQL_WORKERS`, else 4, but no more than
    /// the cores when the target server runs on this machine: a server loads at best one table
    /// per core, and more loaders only add contention.
    static func workers(targetIsLocal: Bool) -> Int {
        if let n = ProcessInfo.processInfo.environment["FERRY_MYSQL_WORKERS"].flatMap({ Int($0) }), n > 0 { return n }
        return targetIsLocal ? max(1, min(4, ProcessInfo.processInfo.activeProcessorCount)) : 4
    }

    /// How many key ranges a table is loaded in. A table within twice its fair share of the work
    /// (the database over the workers, at least `chunkBytes`) loads whole, in one statement, which
    /// MariaDB takes in bulk mode into the empty table (sorted, full pages: cheaper to load and
    /// to checksum). A bigger one would finish last alone, so it is cut into fair shares: the
    /// first loads in bulk mode under MariaDB's table lock, the others then load at once (two
    /// parts would gain nothing: the second would only wait for the first, without bulk mode).
    static func parts(tableBytes: Int64, totalBytes: Int64, workers: Int) -> Int {
        if splitsEveryTable { return 8 }
        let share = max(chunkBytes, totalBytes / Int64(max(1, workers)))
        guard tableBytes > 2 * share else { return 1 }
        return Int(min(8, (tableBytes + share - 1) / share))
    }

    /// The primary key's column when it is one integer column.
    func integerPrimaryKey(_ table: String) throws -> String? {
        let c = source.connection
        let rows = try c.query("SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = \(c.literal(database)) AND TABLE_NAME = \(c.literal(table)) AND COLUMN_KEY = 'PRI'")
        let keyParts = try c.scalar("SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = \(c.literal(database)) AND TABLE_NAME = \(c.literal(table)) AND INDEX_NAME = 'PRIMARY'")
        guard rows.count == 1, keyParts == "1", let name = rows[0][0],
              ["tinyint", "smallint", "mediumint", "int", "bigint"].contains(rows[0][1]?.lowercased() ?? "") else { return nil }
        return name
    }
    /// Cleared (racily, harmlessly: every worker reaches the same answer) when the server refuses LOCAL INFILE.
    nonisolated(unsafe) var useLoadData = true

    /// Whether a part goes into `writer` all or nothing (one transaction of array-bound inserts,
    /// or one `LOAD DATA`), so that a part the server rolled back can simply be loaded again.
    /// Multi-row `INSERT`s commit batch by batch: a retry would insert the first batches twice.
    func loadsPartsWhole(into writer: MySQLConnection) -> Bool {
        (loader == .bulk && writer.takesBulkInserts) || useLoadData
    }

    /// How rows go into the target. `bulk` (where the server takes it: MariaDB) sends
    /// array-bound `INSERT`s with integers and dates in binary; `loadData` streams
    /// `LOAD DATA LOCAL INFILE`; `insert` sends multi-row `INSERT` text. Each falls back to the
    /// next where it cannot run.
    enum Loader: String, Sendable { case bulk, loadData = "load-data", insert }
    /// `FERRY_MYSQL_LOADER` (`bulk`, `load-data` or `insert`), else `bulk`.
    static let defaultLoader = ProcessInfo.processInfo.environment["FERRY_MYSQL_LOADER"].flatMap(Loader.init(rawValue:)) ?? .bulk
    let loader: Loader
    /// Rows per array-bound `INSERT`: at most this many values (cells) of the batch's columns.
    static let batchCells = 1 << 16
    /// Bytes of values per array-bound `INSERT`, below the target's `max_allowed_packet`.
    var bulkBytes = batchBytes

    init(source: MySQLSession, target: MySQLSession, database: String, shadow: String, verifying: VerifyLevel,
         progress: ProgressCounter) {
        self.source = source; self.target = target; self.database = database; self.shadow = shadow
        self.verifying = verifying; self.progress = progress
        loader = target.copyLoader ?? Self.defaultLoader
        if loader == .insert { useLoadData = false }
    }

    func run() throws -> BuildResult {
        let src = source.connection
        let tables: [(name: String, bytes: Int64)] = try source.run(.copyError, "cannot read \(database) on \(source.instanceName)") {
            guard try source.schemaExists(database) else {
                throw FerryError(.copyError, "database \(database) does not exist on \(source.instanceName)", instance: source.instanceName)
            }
            // What the plan refused, found again now (made since): never a copy that leaves it out.
            let problems = try source.copyProblems(of: database)
            if !problems.isEmpty {
                throw FerryError(.copyError, "cannot copy \(database) on \(source.instanceName) exactly: \(problems.joined(separator: "; "))",
                                 instance: source.instanceName)
            }
            return try source.tableSizes(database)
        }
        progress.setTotal(bytes: tables.reduce(0) { $0 + $1.bytes })
        let definitions = try source.run(.copyError, "cannot read the schema of \(database)") {
            // Qualifiers naming the source database (`DEFAULT NEXTVAL(db.seq)`) are taken out: the
            // table binds to the shadow's own sequence (the swap points it at the target's).
            try tables.map { TableDefinition(name: $0.name, showCreate: MySQLSession.removingQualifier(database,
                from: try src.query("SHOW CREATE TABLE \(qualified(database, $0.name))").first?[1] ?? "")) }
        }
        try target.run(.copyError, "cannot create the tables of \(database) in \(shadow) on \(target.instanceName)") {
            if let charset = try source.schemaCharset(database) {
                try target.connection.execute("ALTER DATABASE \(quoteName(shadow)) CHARACTER SET \(charset.0) COLLATE \(charset.1)")
            }
            // Read before, list after (fresh tester W7-7): a name goes on the shadow's list of
            // what the run made only once the copy's own `CREATE` made it. Names the source has
            // and the copy has not made yet are on no list, so what an application makes in the
            // shadow under one of them (during the build, or after a kill before `ferry recover`)
            // is someone else's, and keeps the shadow from being dropped. An object already in the
            // shadow is someone else's too (fresh tester W6-1), and so is one a CREATE then fails
            // on (`MySQLObjectTaken`). Each name is also listed as about to be made right before
            // its CREATE (`recordPending`), so that the one object a kill between a CREATE and
            // its listing leaves is proved the run's (`provenPending`: rounds 46 and 47, M3).
            let entries = try source.builtNames(in: database)
            KillPoint.check("change:mysql.copy.listing")
            try refuseTaken(try target.presentEntries(entries, in: shadow))
            // The list, empty: from here on anything in the shadow not on it is someone else's.
            try target.makeBuiltList(in: shadow)
            KillPoint.check("change:mysql.copy.listed")
            try takingOffTheList {
                try target.copySequences(from: source, database: database, into: shadow, making: { name in
                    try target.recordPending(kind: "SEQUENCE", name: name, in: shadow)
                }) { name in
                    try target.recordBuilt([MySQLSession.builtEntry(kind: "TABLE", name: name)], in: shadow)
                }
                try target.connection.execute("USE \(quoteName(shadow))")
                for definition in definitions {
                    try target.recordPending(kind: "BASE TABLE", name: definition.name, in: shadow)
                    KillPoint.check("change:mysql.copy.tablePending")
                    do { try target.connection.execute(definition.create) } catch let error as MySQLServerError where error.code == 1050 {
                        throw MySQLObjectTaken(entry: MySQLSession.builtEntry(kind: "TABLE", name: definition.name), error: error)
                    }
                    KillPoint.check("change:mysql.copy.tableCreated")
                    // One row per table, right after its CREATE (MyISAM, no log flush: about a
                    // tenth of a millisecond against the CREATE's milliseconds), so that a kill
                    // leaves at most the one table being made off the list.
                    try target.recordBuilt([MySQLSession.builtEntry(kind: "TABLE", name: definition.name)], in: shadow)
                    KillPoint.check("change:mysql.copy.tableListed")
                }
            }
            if let packet = try target.connection.scalar("SELECT @@max_allowed_packet").flatMap({ Int($0) }) {
                bulkBytes = max(64 << 10, min(Self.batchBytes, packet / 4))
            }
        }

        // Connections per side: the run's sessions, the workers and (source) the checker; the
        // workers take what either side's cap leaves (`spareConnections`).
        // Within one capped instance each worker holds two there (its reader and its writer).
        let sameInstance = source.instanceName == target.instanceName && source.target.instance.maxConnections != nil
        let spare = sameInstance ? source.spareConnections / 2 : min(source.spareConnections, target.spareConnections)
        let planned = max(1, min(Self.workers(targetIsLocal: target.address.isLocal), spare))
        // Big tables with a single integer primary key are split into key ranges loaded in parallel.
        let shared = CopyShared()
        let totalBytes = tables.reduce(0) { $0 + $1.bytes }
        try source.run(.copyError, "cannot plan the copy of \(database)") {
            for (i, table) in tables.enumerated() {
                var ranges: [String?] = [nil]
                let parts = Self.parts(tableBytes: table.bytes, totalBytes: totalBytes, workers: planned)
                if parts > 1, let key = try integerPrimaryKey(table.name),
                   let row = try src.query("SELECT MIN(\(quoteName(key))), MAX(\(quoteName(key))) FROM \(qualified(database, table.name))").first,
                   let low = row[0].flatMap({ Int64($0) }), let high = row[1].flatMap({ Int64($0) }), high > low {
                    let step = (high - low) / Int64(parts) + 1
                    let bounds = (1..<parts).map { low + Int64($0) * step }
                    let k = quoteName(key)
                    ranges = [" WHERE \(k) < \(bounds[0])"]
                    for j in 1..<bounds.count { ranges.append(" WHERE \(k) >= \(bounds[j - 1]) AND \(k) < \(bounds[j])") }
                    ranges.append(" WHERE \(k) >= \(bounds[bounds.count - 1])")
                }
                shared.addTable(i, ranges: ranges)
            }
        }
        // Consistent snapshot: every reader starts its transaction while the tables are locked.
        let count = max(1, min(planned, shared.items.count))
        var workers: [WorkerConnections] = []
        // One more reader in the same snapshot runs CHECKSUM TABLE on the source while the data
        // moves, so verify compares the copy with exactly what it read. The row counts are the
        // rows the workers read in that snapshot (no second scan for COUNT(*)).
        let withChecker = verifying == .checksum && source.spareConnections >= (sameInstance ? 2 : 1) * count + 1 && !tables.isEmpty
        var checker: UncheckedBox<MySQLConnection>?
        var positions: [(name: String, next: Int64, round: Int64)] = []
        try source.run(.copyError, "cannot take a consistent snapshot of \(database) on \(source.instanceName)") {
            var readers: [MySQLConnection] = []
            for _ in 0..<(count + (withChecker ? 1 : 0)) { readers.append(try source.openAnother()) }
            if !tables.isEmpty {
                // In tries of `holdAttemptSeconds` that let go in between, for `holdWaitSeconds`
                // at most, as the swap's hold: one `LOCK TABLES` waiting on an open transaction
                // holds the tables it already took, and every writer of those waited with it,
                // without end (fresh tester round 47, M1: 42.5 s of writers blocked).
                try src.withLockWait(seconds: MySQLSession.holdAttemptSeconds) {
                    try source.retryingHold(of: database, for: "a consistent snapshot", outcome: "nothing was copied", take: {
                        try src.execute("LOCK TABLES " + tables.map { qualified(database, $0.name) + " READ" }.joined(separator: ", "))
                    }, letGo: {})
                }
            }
            defer { try? src.execute("UNLOCK TABLES") }
            // Under the lock, before the first reader's transaction: the sequences' positions,
            // past every row the snapshot holds.
            positions = try source.sequencePositions(in: database, on: readers[0])
            for reader in readers {
                try reader.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                try reader.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            }
            if withChecker { checker = UncheckedBox(readers.removeLast()) }
            for reader in readers { workers.append(WorkerConnections(reader: reader, writer: try target.openAnother(loading: true))) }
        }
        try target.run(.copyError, "cannot set the sequences of \(database) in \(shadow)") {
            try target.advanceSequences(positions, in: shadow)
        }
        let objects = try source.run(.copyError, "cannot read the views, routines, triggers and events of \(database)") {
            try source.objects(in: database, qualifier: nil)
        }

        let workItems = shared.items
        let checking = checker.map { checker in
            WorkerPool.shared.start { [database] () throws -> [String?] in
                defer { checker.value.close() }
                // Biggest table first, at once: the checksums read the same snapshot as the loads,
                // so they need not wait for them, and the build (which ends when both are done)
                // takes the longer of the two rather than their sum. The keys are the finish
                // step's, after the build.
                var checksums = tables.map { _ in String?.none }
                for table in tables.indices.sorted(by: { (tables[$0].bytes, $1) > (tables[$1].bytes, $0) }) {
                    if shared.hasFailed { break }
                    do { checksums[table] = try MySQLSession.checksum(tables[table].name, in: database, on: checker.value) }
                    catch { shared.fail(error); throw error }
                }
                return checksums
            }
        }
        // One job per worker's pair of connections: each takes parts until none is left (the
        // caller's thread works one of them). A failure is kept in `shared` and stops the others.
        let pairs = workers
        try WorkerPool.shared.forEach(pairs.count) { [self] w in
            let worker = pairs[w]
            do {
                try worker.writer.execute("SET SESSION unique_checks = 0")
                while let index = shared.take() {
                    let item = workItems[index]
                    let definition = definitions[item.table]
                    // Loads of ranges of one table can deadlock each other (InnoDB rolls the
                    // loser's statement back whole); the range is read again from the same
                    // snapshot and retried.
                    var attempt = 0
                    var stats = TransferStats()
                    while true {
                        do {
                            stats = try copyTable(definition, filter: item.filter ?? "", reader: worker.reader, writer: worker.writer)
                            break
                        } catch let error as MySQLServerError where (error.code == 1213 || error.code == 1205) && attempt < 8
                                    && loadsPartsWhole(into: worker.writer) {
                            attempt += 1
                            usleep(UInt32(50_000 * attempt))
                        }
                    }
                    _ = shared.partDone(index, moved: stats)
                }
            } catch {
                shared.fail(error)
            }
            worker.reader.close()
            worker.writer.close()
        }
        // The build is done when every row is in and the source's sums are taken. The secondary
        // keys are not added here: they are the `finish` step's, which the core runs after this
        // build, beside the verify (the receipt lists them).
        var checkerFailure: (any Error)?
        var checksums: [String?] = []
        do { checksums = try checking?.wait() ?? [] } catch { checkerFailure = error }
        if let failure = shared.failure ?? checkerFailure {
            if let error = failure as? MySQLServerError {
                throw error.ferry(.copyError, "copying \(database) into \(shadow) on \(target.instanceName) failed", instance: target.instanceName)
            }
            throw failure
        }
        try target.run(.copyError, "cannot create the views, routines, triggers and events of \(database) in \(shadow)") {
            let entries = Set(objects.map { MySQLSession.builtEntry(kind: $0.kind, name: $0.name) })
            try refuseTaken(try target.presentEntries(entries, in: shadow))
            KillPoint.check("change:mysql.copy.objectsListed")
            // Each one listed once its own CREATE made it (W7-7), as the tables are.
            try takingOffTheList {
                try target.createObjects(objects, in: shadow, parkingEvents: true, keepingOthers: true, making: { object in
                    try self.target.recordPending(kind: object.kind, name: object.name, in: self.shadow)
                }) { object in
                    KillPoint.check("change:mysql.copy.objectCreated")
                    try self.target.recordBuilt([MySQLSession.builtEntry(kind: object.kind, name: object.name)], in: self.shadow)
                }
            }
        }
        return BuildResult(stats: shared.stats, receipt: receipt(definitions: definitions, checksums: checksums, tables: tables,
                                                                 shared: shared, checked: checker != nil))
    }

    /// Throws `CopyError` when `present` (`presentEntries` of what the copy is about to make)
    /// is not empty: those objects are in the shadow before the copy made them, so they are
    /// someone else's (an application wrote into the shadow), and the shadow, holding objects
    /// its build did not make (none of them is on its list), is left by the rollback (`writesNotFerrys`).
    private func refuseTaken(_ present: [String: String]) throws {
        guard !present.isEmpty else { return }
        throw FerryError(.copyError, "\(shadow) on \(target.instanceName) holds \(target.naming(Set(present.values), in: shadow)), which the run's build did not make (an application wrote into the shadow), so the copy did not create it; the shadow is left as it is",
                         hint: "keep what you need from the shadow, drop it yourself, then apply again", instance: target.instanceName)
    }

    /// Runs `body`; when one of its `CREATE`s fails on an object already in the shadow
    /// (`MySQLObjectTaken`: never on the list, which names an object only once the copy made
    /// it), the copy stops, naming it.
    private func takingOffTheList(_ body: () throws -> Void) throws {
        do { try body() } catch let taken as MySQLObjectTaken {
            // Its entry as about to be made goes: the object is someone else's, and that entry
            // would prove it the run's once it holds nothing (`provenPending`).
            try target.unrecordBuilt([taken.entry], in: shadow)
            throw FerryError(.copyError, "\(shadow) on \(target.instanceName) holds \(target.naming([taken.entry], in: shadow)), which the run's build did not make (an application made it in the shadow during the copy: \(taken.error.message) (\(taken.error.code))); the shadow is left as it is",
                             hint: "keep what you need from the shadow, drop it yourself, then apply again", instance: target.instanceName)
        }
    }

    /// The receipt: the snapshot's row counts (and the source's checksums, when `checked`) for
    /// the verify step, and each table's finishing `ALTER TABLE` for the finish step
    /// (`MySQLSession.finishKey`).
    private func receipt(definitions: [TableDefinition], checksums: [String?], tables: [(name: String, bytes: Int64)],
                         shared: CopyShared, checked: Bool) -> BuildReceipt {
        var receipt = BuildReceipt()
        if checked || verifying == .count {
            receipt.tables = tables.indices.map {
                VerifyReport.Table(name: tables[$0].name, rows: shared.tableRows[$0] ?? 0, checksum: checked ? checksums[$0] : nil)
            }
        }
        for (i, definition) in definitions.enumerated() {
            guard let finish = definition.finish(in: shadow) else { continue }
            receipt.detail[MySQLSession.finishKey(definition.name)] = finish
            receipt.detail[MySQLSession.finishSizeKey(definition.name)] = String(tables[i].bytes)
        }
        return receipt
    }

    func copyTable(_ definition: TableDefinition, filter: String, reader: MySQLConnection, writer: MySQLConnection) throws -> TransferStats {
        var stats = TransferStats()
        if loader == .bulk && writer.takesBulkInserts {
            let columns = try MySQLRowEncoder.columnTypes(reader: reader, database: database, table: definition.name)
            let names = columns.map(\.name), types = columns.map(\.type)
            return try reader.bulkInsert(select: MySQLRowEncoder.select(names: names, types: types, from: qualified(database, definition.name)) + filter,
                                         into: qualified(shadow, definition.name), columns: names,
                                         kinds: columns.map { BulkBatch.Kind(dataType: $0.type, columnType: $0.columnType) }, writer: writer,
                                         batchRows: BulkBatch.rows(columns: names.count, cells: Self.batchCells), batchBytes: bulkBytes,
                                         progress: progress)
        }
        if useLoadData {
            let (names, types) = try MySQLRowEncoder.columns(reader: reader, database: database, table: definition.name)
            do {
                stats = try reader.loadData(select: MySQLRowEncoder.select(names: names, types: types, from: qualified(database, definition.name)) + filter,
                                            into: qualified(shadow, definition.name), columns: names, types: types,
                                            writer: writer, progress: progress)
            } catch let error as MySQLServerError where error.code == 1148 || error.code == 4166 || error.code == 2068 {
                useLoadData = false   // local_infile is off on the server: multi-row INSERTs instead
            }
        }
        if !useLoadData { try MySQLRowEncoder.stream(reader: reader, escaper: writer, database: database, table: definition.name, filter: filter,
                                   insertInto: qualified(shadow, definition.name), batchBytes: Self.batchBytes) { buffer, rows in
            let size = Int64(buffer.count)
            try writer.execute(bytes: &buffer, describe: "INSERT INTO \(qualified(shadow, definition.name))")
            stats.bytes += size; stats.rows += Int64(rows)
            progress.add(bytes: size, rows: Int64(rows))
            try progress.checkCancelled()
        } }
        return stats
    }
}

/// Reads a table with `mysql_use_result` and encodes it as multi-row INSERTs of about
/// `batchBytes` each: memory holds one batch, whatever the table's size.
enum MySQLRowEncoder {
    /// The column types (lower-case `DATA_TYPE`) whose values the server sends as plain numbers
    /// (BIT selected as `+0`): written into SQL without quotes.
    static let numericTypes: Set<String> = ["tinyint", "smallint", "mediumint", "int", "bigint", "decimal", "float", "double", "year", "bit"]

    /// The stored (not generated) columns of a table, with their lower-case data types.
    static func columns(reader: MySQLConnection, database: String, table: String) throws -> ([String], [String]) {
        let columns = try columnTypes(reader: reader, database: database, table: table)
        return (columns.map(\.name), columns.map(\.type))
    }

    /// `columns`, with each column's full type (`int(10) unsigned`) too.
    static func columnTypes(reader: MySQLConnection, database: String, table: String) throws -> [(name: String, type: String, columnType: String)] {
        try reader.query("SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = \(reader.literal(database)) AND TABLE_NAME = \(reader.literal(table)) AND EXTRA NOT LIKE '%GENERATED%' ORDER BY ORDINAL_POSITION")
            .map { ($0[0] ?? "", ($0[1] ?? "").lowercased(), ($0[2] ?? "").lowercased()) }
    }

    /// The copy's read of `names`: a `BIT` as its number (`+0`), a `FLOAT` as the `DOUBLE` it is
    /// (its text shows 6 significant digits, so `0.14285715` came back as `0.142857`, another
    /// float, and every copy of a table with a `FLOAT` column failed its verify; the `DOUBLE`'s
    /// text is exact, and the target's `FLOAT` rounds it back to the same value).
    static func select(names: [String], types: [String], from table: String) -> String {
        "SELECT " + zip(names, types).map { name, type in
            type == "bit" ? quoteName(name) + "+0" : type == "float" ? "CAST(\(quoteName(name)) AS DOUBLE)" : quoteName(name)
        }.joined(separator: ", ") + " FROM " + table
    }

    static func stream(reader: MySQLConnection, escaper: MySQLConnection, database: String, table: String, filter: String = "",
                       insertInto: String, batchBytes: Int, emit: (inout [UInt8], Int) throws -> Void) throws {
        let (names, types) = try columns(reader: reader, database: database, table: table)
        let isNumeric = types.map(numericTypes.contains)
        let select = select(names: names, types: types, from: qualified(database, table)) + filter
        let insertHead = Array(("INSERT INTO " + insertInto + " (" + names.map(quoteName).joined(separator: ", ") + ") VALUES ").utf8)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(batchBytes + (1 << 16))
        buffer += insertHead
        var rowsInBatch = 0
        func flush() throws {
            guard rowsInBatch > 0 else { return }
            try emit(&buffer, rowsInBatch)
            buffer.removeAll(keepingCapacity: true)
            buffer += insertHead
            rowsInBatch = 0
        }
        try reader.stream(select) { fields, lengths, count in
            if rowsInBatch > 0 { buffer.append(UInt8(ascii: ",")) }
            buffer.append(UInt8(ascii: "("))
            for i in 0..<count {
                if i > 0 { buffer.append(UInt8(ascii: ",")) }
                guard let field = fields[i] else { buffer += [0x4E, 0x55, 0x4C, 0x4C]; continue }
                let length = Int(lengths[i])
                if isNumeric[i] {
                    field.withMemoryRebound(to: UInt8.self, capacity: max(length, 1)) { buffer.append(contentsOf: UnsafeBufferPointer(start: $0, count: length)) }
                } else {
                    escaper.appendLiteral(field, length: length, to: &buffer)
                }
            }
            buffer.append(UInt8(ascii: ")"))
            rowsInBatch += 1
            if buffer.count >= batchBytes { try flush() }
        }
        try flush()
    }
}
