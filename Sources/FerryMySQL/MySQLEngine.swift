import CMariaDB
import FerryCore
import FerryIO
import Foundation

/// MySQL / MariaDB, reached at `mysql://user@host:port` (password from the instance's reference).
///
/// How it works (tested against MariaDB 10.11; libmariadb is the client):
/// - Claims: rows in the table `ferry_meta.claims` (database, role, run), taken in one
///   transaction with `SELECT ... FOR UPDATE`; `ferry_meta` is Ferry's only when marked
///   (`metaSchemaName`: comment `ferry:meta`), then hidden from `describe()`; a user's
///   `ferry_meta` is listed and never written, and the claims go to `ferry_meta__ferry_m`.
/// - Free storage: from MariaDB's `DISKS` plugin when installed, else unknown (nil).
/// - Fingerprints: `SHOW CREATE` of every table, view, routine and trigger plus `CHECKSUM TABLE`
///   of every table (exact; a full read per refresh) for databases up to 256 MiB; above, table
///   statistics, marked inexact. Only the databases the plan names are fingerprinted.
/// - Shadows `<db>__ferry_s_<run>`, checkpoints `<db>__ferry_c_<run>` (shortened with a hash to
///   fit 64 characters), hidden from `describe()`.
/// - Copy: tables created without secondary indexes; readers start `START TRANSACTION WITH
///   CONSISTENT SNAPSHOT` while the source tables are held by `LOCK TABLES ... READ` (no global
///   lock, no RELOAD privilege needed); each table (or primary-key range of a big table with an
///   integer key) is streamed with `mysql_use_result` into `LOAD DATA LOCAL INFILE` fed from
///   memory (multi-row INSERTs when the server refuses LOCAL INFILE); indexes added after the last
///   range; then routines, views (in an order that works), triggers and events (disabled while
///   in the shadow).
/// - Swap: see `MySQLObjects.swift`: one `RENAME TABLE` for all tables; views, routines,
///   triggers and events are saved, dropped and recreated around it.
public struct MySQLEngine: Engine {
    public init() {}

    public var kind: EngineKind { .mysql }

    /// Users sync; 64-character names; copies leave their secondary keys to a `finish` step.
    public var capabilities: EngineCapabilities {
        EngineCapabilities(syncsUsers: true, identifierLimit: MySQLSession.identifierLimit, sameServerFastCopy: false,
                           cheapFingerprints: true, finishesCopies: true)
    }
    public var importFormats: Set<ImportFormat> { [.sql] }

    public func problem(withDatabaseName name: String) -> String? {
        if name.isEmpty { return "a MySQL database name cannot be empty" }
        if name.count > 64 { return "a MySQL database name holds at most 64 characters (this one has \(name.count))" }
        if name.hasSuffix(" ") { return "a MySQL database name cannot end with a space" }
        if name.contains("\u{0}") { return "a MySQL database name cannot contain NUL" }
        if let outside = MySQLSession.unholdableName(name) { return outside }
        if MySQLSession.systemSchemas.contains(name.lowercased()) { return "\(name) is a system schema" }
        if name.contains("__ferry_") { return "names containing __ferry_ are Ferry's own" }
        if name == MySQLSession.metaSchema { return "ferry_meta is the name of Ferry's claims schema" }
        return nil
    }

    public func problem(withSourceDatabaseName name: String) -> String? {
        MySQLSession.unholdableName(name)
    }

    public func connect(_ target: ConnectionTarget) throws -> any EngineSession {
        try MySQLSession(target: target)
    }
}

/// Where to connect, read from the instance URL.
struct MySQLAddress: Sendable {
    var host: String
    var port: UInt32
    var user: String
    var password: String?

    /// The server runs on this machine (a loopback address) and shares its cores with Ferry.
    var isLocal: Bool { host.hasPrefix("127.") || host == "::1" }

    init(target: ConnectionTarget) throws {
        let name = target.instance.name
        if let url = target.instance.url, Redaction.hasAmbiguousUserInfo(url) {
            throw FerryError(.invalidParameter, "the url of instance \(name) \(Redaction.ambiguousUserInfoProblem)",
                             hint: Redaction.ambiguousUserInfoHint, instance: name)
        }
        guard let url = target.instance.url, let parts = URLComponents(string: url),
              parts.scheme == "mysql" || parts.scheme == "mariadb" else {
            throw FerryError(.invalidParameter, "instance \(name) needs a url of the form mysql://user@host:port", instance: name)
        }
        // A parameter would be ignored (`?password=`, `?ssl-mode=REQUIRED`): refused, by name only
        // (its value may be a secret), as a PostgreSQL url's unknown one is.
        if parts.fragment != nil {
            throw FerryError(.invalidParameter, "instance \(name): the url has a fragment (`#...`, not shown), which would be ignored",
                             hint: "write mysql://user@host:port; a `#` in a password is written %23", instance: name)
        }
        if let item = parts.queryItems?.first {
            throw FerryError(.invalidParameter, "instance \(name): unknown url parameter \(Redaction.parameterLabel(item))",
                             hint: "a mysql url takes no parameters: write mysql://user@host:port and give the password with \"password\" (SPEC §2)",
                             instance: name)
        }
        // The plan names the databases: a path would be ignored, and may hide a secret
        // (`/;password=...`; fresh tester round 33, F4). Refused, not shown.
        if !parts.percentEncodedPath.isEmpty && parts.percentEncodedPath != "/" {
            throw FerryError(.invalidParameter, "instance \(name): the url has a path (not shown), which would be ignored",
                             hint: "write mysql://user@host:port: the plan names the databases, and the password goes in \"password\"",
                             instance: name)
        }
        host = parts.host ?? "127.0.0.1"
        if host == "localhost" { host = "127.0.0.1" }
        port = UInt32(parts.port ?? 3306)
        // URLComponents.user/.password are already decoded: decode the encoded form once.
        user = parts.percentEncodedUser?.removingPercentEncoding ?? "root"
        password = target.password ?? parts.percentEncodedPassword?.removingPercentEncoding
    }
}

/// A session on one MySQL / MariaDB server.
///
/// Claims live in the hidden schema `ferry_meta` (table `claims`), never shown by `describe()`.
/// Shadows are `<name>__ferry_s_<run>` and checkpoints `<name>__ferry_c_<run>` (shortened with a
/// hash to fit 64 characters); both are hidden from `describe()`.
public final class MySQLSession: EngineSession {
    public let target: ConnectionTarget
    let address: MySQLAddress
    let connection: MySQLConnection
    var instanceName: String { target.instance.name }
    /// Connections a step may open side by side on this instance for its workers and extra
    /// readers: the instance's `maxConnections` (SPEC §2: a cap on Ferry's concurrent connections
    /// to it) less the 3 the run may hold there besides (this session's and the run's other
    /// sessions), at least 1 (plans refuse a cap under `EnginePlanForm.minimumConnections`, 4);
    /// 7 when no cap is set.
    var spareConnections: Int { target.instance.maxConnections.map { max(1, $0 - 3) } ?? 7 }
    /// How a copy into this session loads its rows, when not the default (tests compare them).
    nonisolated(unsafe) var copyLoader: MySQLCopy.Loader?
    /// Run schemas whose tables' rows the drop's checks freed on a full disk (`makingRoom`):
    /// their content is not what it was before the checks, so `dropTablesHeld` is not used.
    nonisolated(unsafe) var roomMadeIn: Set<String> = []
    /// Shadows whose list of what the build made (`recordBuilt`) this session has created.
    nonisolated(unsafe) var listedShadows: Set<String> = []
    /// Whether the server keeps schema comments (`information_schema.SCHEMATA.SCHEMA_COMMENT`,
    /// MariaDB 10.5+), read once.
    nonisolated(unsafe) var schemaCommentsKnown: Bool?
    /// A drop of a shadow or checkpoint of this session found no room on the server's disk (its
    /// room-making or its reads failed with `DiskFull`): the disk is full now. From then on the
    /// session writes no system table (`DROP USER` of an import account or a synced user):
    /// MariaDB's Aria tables such as `mysql.global_priv` wait for room without end (fresh tester
    /// round 30, F4); the run stays pending with `DiskFull` anyway.
    nonisolated(unsafe) var sawDiskFull = false
    /// Routine and event names with the key the server tells them apart by (`entryKeys`).
    nonisolated(unsafe) var nameKeys: [String: String] = [:]
    /// The swap or undo under way (`swap(_:journaling:)`, `undoSwap`): what a switch of its
    /// target's default collation is journaled to first, and what earlier passes journaled.
    nonisolated(unsafe) var switchJournal: CollationSwitchJournal?
    /// Tables proved the run's rebuilt in place (`runTablesMadeAgain`), by schema: their InnoDB
    /// ids when the proof was read. The undo's later checks, after it took the run's objects
    /// off (the whole token no longer the swap's), accept the same ids.
    nonisolated(unsafe) var provedRebuilt: [String: [String: String]] = [:]
    /// Notes for the user a swap leaves (`EngineSession.takeLeftNotes`).
    nonisolated(unsafe) var leftNotes: [String] = []

    public func takeLeftNotes() -> [String] {
        defer { leftNotes = [] }
        return leftNotes
    }

    /// Notes of rows that fired none of a restored target's triggers (`takeFiredNoneNotes`).
    nonisolated(unsafe) var firedNoneNotes: [String] = []

    /// When the last `renameHolding` let its rename take the tables: right before its holders
    /// let go (the rename waits on them), or before the rename where it held nothing. A window
    /// that begins at the rename begins here, not when the statement returned (fresh tester
    /// round 68, F1: "0.05 s after the swap's rename" of triggers made 0.08 s or more after it).
    nonisolated(unsafe) var renameBegan: Date?

    public func takeFiredNoneNotes() -> [String] {
        defer { firedNoneNotes = [] }
        return firedNoneNotes
    }

    static let systemSchemas: Set<String> = ["mysql", "information_schema", "performance_schema", "sys"]
    static let metaSchema = "ferry_meta"
    /// Ferry's bookkeeping tables, by role. Each lives only inside a shadow or checkpoint schema
    /// of a run, under its role's name followed by that run's tag (`__ferry_events_<run>`), so a
    /// user table of any name (`__ferry_events` included) is the user's: copied, imported,
    /// swapped and verified like any other.
    static let objectsTable = "__ferry_objects"
    static let markerTable = "__ferry_swap_marker"
    /// Where a release before engine contract v2 kept a copy's source sums (they now travel in
    /// the build's receipt); still Ferry's own in a shadow an older release left.
    static let sumsTable = "__ferry_source_sums"
    static let eventsTable = "__ferry_events"
    /// Made in a shadow by `undoSwap` before it changes the target: an undo has begun.
    static let undoingTable = "__ferry_undoing"
    /// Kept in a checkpoint by the swap: each of the target's objects it drops, noted before its
    /// `DROP` (`stageObjects`); the undo makes again only those (and the ones still there).
    static let droppingTable = "__ferry_dropping"
    /// Kept in a checkpoint by `undoSwap` before its rename: the checkpoint's tables it moves
    /// back into the target, which tell the target it moved them into from one made again under
    /// its name since (`checkpointGone`).
    static let movedBackTable = "__ferry_moved_back"
    /// Made in a shadow by `undoSwap` when it has finished, before it drops the checkpoint: a
    /// checkpoint missing beside a shadow without it was dropped by someone else mid-undo.
    static let undoneTable = "__ferry_undone"
    /// Kept in a checkpoint by the swap before its rename: the target's tables it moves out. An
    /// undo moves back only those; a table someone put into the checkpoint since stays there,
    /// named (fresh tester round 35, F8: it was moved into the target, and the recover said "as
    /// they were before").
    static let movedOutTable = "__ferry_moved_out"
    /// Kept in a shadow by `undoSwap` before it drops the run's views, routines, triggers and
    /// events from the target: those objects, so that a later pass that finds the target written
    /// makes them all again, also the ones a pass cut short dropped (fresh tester round 47, H1).
    static let undoneObjectsTable = "__ferry_run_objects"
    /// Ferry's note in a run schema that a drop found it written while it checked it
    /// (`dropTablesHeld`): every later drop leaves it too (fresh tester round 51, F2).
    static let writtenTable = "__ferry_written"

    /// The run tag of a schema Ferry made (`<db>__ferry_s_<tag>`, `<db>__ferry_c_<tag>`), or nil
    /// for any other schema.
    static func runTag(of schema: String) -> String? {
        let ranges = ["__ferry_s_", "__ferry_c_"].compactMap { schema.range(of: $0, options: .backwards) }
        guard let last = ranges.max(by: { $0.lowerBound < $1.lowerBound }) else { return nil }
        let tag = schema[last.upperBound...]
        return tag.isEmpty ? nil : String(tag)
    }

    /// The name of Ferry's table `role` in `schema` (one of Ferry's shadows or checkpoints).
    static func ownTable(_ role: String, in schema: String) -> String {
        "\(role)_\(runTag(of: schema) ?? "")"
    }

    /// Ferry's own tables in `schema`: none in a user's schema; the run-tagged bookkeeping tables
    /// in a shadow or checkpoint. Never copied, swapped or dumped.
    static func ownTables(in schema: String) -> Set<String> {
        guard runTag(of: schema) != nil else { return [] }
        return Set([objectsTable, markerTable, sumsTable, eventsTable, tokenTable, builtTable, undoingTable, droppingTable, movedBackTable, undoneTable, movedOutTable, undoneObjectsTable, writtenTable].map { ownTable($0, in: schema) })
    }

    /// Says this session's waits behind other sessions' locks (`ConnectionTarget.lockWaitNotices`).
    let lockWaitWatch: MySQLLockWaitWatch?

    init(target: ConnectionTarget) throws {
        self.target = target
        address = try MySQLAddress(target: target)
        connection = try Self.open(address, instance: target.instance.name)
        let address = address
        let watch = target.lockWaitNotices.map { MySQLLockWaitWatch(address: address, instanceName: target.instance.name, notices: $0) }
        lockWaitWatch = watch
        connection.lockWaitWatch = watch
    }

    deinit { lockWaitWatch?.stop() }

    static func open(_ address: MySQLAddress, instance: String, netBufferLength: UInt? = nil) throws -> MySQLConnection {
        let connection = try MySQLConnection(host: address.host, port: address.port, user: address.user,
                                             password: address.password, instanceName: instance, netBufferLength: netBufferLength)
        try connection.execute("SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION', SESSION foreign_key_checks = 0, SESSION time_zone = '+00:00', SESSION lock_wait_timeout = \(lockWaitSeconds)")
        return connection
    }

    /// How long (seconds) a session of Ferry's waits for a metadata or table lock another session
    /// holds before its statement fails (1205, said as such): the server's default is a year
    /// (`lock_wait_timeout`), and a plan's `CHECKSUM TABLE` behind an application's `LOCK
    /// TABLES ... WRITE` waited without end or word (fresh tester round 61, 3). The holds and
    /// gates of a swap set shorter waits of their own.
    static let lockWaitSeconds = ProcessInfo.processInfo.environment["FERRY_TEST_LOCK_WAIT_SECONDS"].flatMap { Int($0) }.map { max(1, $0) } ?? 120

    /// Another connection to the same server; `loading`: one that streams `LOAD DATA LOCAL`, with
    /// a 1 MiB network buffer (libmariadb sends the file in packets of its buffer's size, 8 KiB by
    /// default: 128 times the system calls on both sides).
    /// `watched` false: its waits are not said (a gate's, which waits by design).
    func openAnother(loading: Bool = false, watched: Bool = true) throws -> MySQLConnection {
        let c = try Self.open(address, instance: instanceName, netBufferLength: loading ? 1 << 20 : nil)
        if watched { c.lockWaitWatch = lockWaitWatch }
        return c
    }

    public func close() {
        lockWaitWatch?.stop()
        connection.close()
    }

    /// Runs `body`, turning server errors into `FerryError(code)` with `context`.
    func run<T>(_ code: ErrorCode, _ context: @autoclosure () -> String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as MySQLServerError {
            throw error.ferry(code, context(), instance: instanceName)
        }
    }

    // MARK: Names

    static func isHidden(_ schema: String) -> Bool {
        systemSchemas.contains(schema.lowercased()) || schema == metaSchema || schema.contains("__ferry_")
    }

    /// MySQL and MariaDB names: 64 characters.
    static let identifierLimit = IdentifierLimit.characters64

    /// The suffix of run `runID`'s shadows (`marker` "s") and checkpoints ("c"): `__ferry_s_<run>`,
    /// the run id's last 16 letters, digits, `-` and `_`.
    /// The run tag (`runTag(of:)`) of run `runID`'s shadows and checkpoints.
    static func runTag(ofRunID runID: String) -> String {
        String(runSuffix(marker: "s", runID: runID).dropFirst("__ferry_s_".count))
    }

    static func runSuffix(marker: String, runID: String) -> String {
        "__ferry_\(marker)_" + String(runID.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }.suffix(16))
    }

    /// The shadow or checkpoint name for `database` (`DerivedName`, shortened with 8 hex digits
    /// of its SHA-256 to fit 64 characters).
    ///
    /// A shadow's name (`marker` "s") must also fit 64 characters as a GRANT names it (each `_`,
    /// `%` and `\\` escaped, so twice as long: `MySQLImportAccount.grantName`), or the import
    /// account could not be granted it: it is shortened further until it does (tester14m F4: any
    /// database name SPEC allows, up to 64 characters, works).
    static func derivedName(_ database: String, marker: String, runID: String) -> String {
        let suffix = runSuffix(marker: marker, runID: runID)
        var length = identifierLimit.length
        while true {
            let name = DerivedName.make(database, suffix: suffix, limit: IdentifierLimit(length: length, inBytes: false)) {
                Digest.sha256(Array($0.utf8))
            }
            if marker != "s" || grantLength(name) <= identifierLimit.length || length <= suffix.count + 10 { return name }
            length -= 1
        }
    }

    /// The length of `name` in a GRANT (`_`, `%` and `\\` escaped with a backslash).
    static func grantLength(_ name: String) -> Int { name.count + name.filter { $0 == "_" || $0 == "%" || $0 == "\\" }.count }

    /// The shadow name releases before the GRANT rule gave (64 characters as written): recovery
    /// of such a run looks for it too.
    static func legacyShadowName(_ database: String, runID: String) -> String {
        DerivedName.make(database, suffix: runSuffix(marker: "s", runID: runID), limit: identifierLimit) {
            Digest.sha256(Array($0.utf8))
        }
    }

    public func checkpointName(for database: String, runID: String) -> String {
        Self.derivedName(database, marker: "c", runID: runID)
    }

    /// Why `name` cannot be a name on a MySQL or MariaDB server at all, or nil: their names are
    /// stored as utf8mb3, so only characters U+0001 to U+FFFF (the Basic Multilingual Plane). A
    /// name with a character outside it (any 4-byte UTF-8 character, `shop😀`) is refused by the
    /// server (1300), and comparing it with a name column fails (1267, "Illegal mix of
    /// collations"): such a schema cannot exist, so it is never looked up, and there is nothing
    /// of it to drop (fresh tester, issue 14).
    ///
    /// Likewise a name starting with `#mysql50#`: MariaDB reads that prefix as an old-format
    /// file name and refuses it as a name (1102, 1103), even in `DROP DATABASE IF EXISTS`.
    static func unholdableName(_ name: String) -> String? {
        if name.hasPrefix(mysql50Prefix) {
            return "a name starting with \(mysql50Prefix) is MariaDB's spelling of an old-format file name, not a name a database can have"
        }
        guard let scalar = name.unicodeScalars.first(where: { $0.value > 0xFFFF }) else { return nil }
        let code = String(scalar.value, radix: 16, uppercase: true)
        return "a MySQL or MariaDB name holds only characters U+0001 to U+FFFF (the server keeps names in utf8mb3); \"\(Character(scalar))\" (U+\(code)) is outside them"
    }

    static let mysql50Prefix = "#mysql50#"

    func schemaExists(_ name: String, on c: MySQLConnection? = nil) throws -> Bool {
        // A name the server cannot hold names no schema (and cannot be compared with one).
        if Self.unholdableName(name) != nil { return false }
        let c = c ?? connection
        return try c.scalar("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = \(c.literal(name))") != "0"
    }

    /// The base tables of `schema`, in the order of `information_schema`'s case-insensitive
    /// collation, names equal in it (`Ab`, `ab`: two tables where `lower_case_table_names` is 0)
    /// by their bytes: a fingerprint or digest read twice reads them in the same order (fresh
    /// tester round 18, E2: the tie came back either way, and plans flipped between "source
    /// changed" and "target drifted", a rollback found its target "written since").
    func baseTables(_ schema: String, on c: MySQLConnection? = nil) throws -> [String] {
        let c = c ?? connection
        return try c.query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = \(c.literal(schema)) AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED', 'SEQUENCE') ORDER BY TABLE_NAME, BINARY TABLE_NAME")
            .compactMap { $0[0] }
    }

    /// The base tables with their sizes (data and indexes, from the statistics), biggest first.
    func tableSizes(_ schema: String) throws -> [(name: String, bytes: Int64)] {
        try connection.query("SELECT TABLE_NAME, IFNULL(DATA_LENGTH,0) + IFNULL(INDEX_LENGTH,0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = \(connection.literal(schema)) AND TABLE_TYPE = 'BASE TABLE' ORDER BY 2 DESC, 1, BINARY TABLE_NAME")
            .compactMap { row in row[0].map { ($0, Int64(row[1] ?? "0") ?? 0) } }
    }

    func userTables(_ schema: String) throws -> [String] {
        let own = Self.ownTables(in: schema)
        return try baseTables(schema).filter { !own.contains($0) }
    }

    // MARK: Refresh

    public func databaseExists(_ database: String) throws -> Bool {
        try schemaExists(database)
    }

    /// Databases outside `fingerprinting` get an empty, inexact fingerprint: an exact one reads
    /// every row, and a refresh should not read databases the plan does not name.
    public func describe(fingerprinting wanted: Set<String>?) throws -> InstanceFacts {
        try run(.instanceNotFound, "cannot describe \(instanceName)") {
            let c = connection
            var sizes: [String: (bytes: Int64, tables: Int, rows: Int64)] = [:]
            for row in try c.query("SELECT TABLE_SCHEMA, SUM(IFNULL(DATA_LENGTH,0) + IFNULL(INDEX_LENGTH,0)), COUNT(*), SUM(IFNULL(TABLE_ROWS,0)) FROM information_schema.TABLES GROUP BY TABLE_SCHEMA") {
                guard let name = row[0] else { continue }
                sizes[name] = (Int64(row[1] ?? "0") ?? 0, Int(row[2] ?? "0") ?? 0, Int64(row[3] ?? "0") ?? 0)
            }
            var databases: [String: DatabaseFacts] = [:], lookalikes: [String] = []
            let problems = try exactnessProblems()
            var grants: [String]?
            let metaIsFerrys = try metaIsFerrys()
            let schemaNames = try c.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA").compactMap { $0[0] }
            for name in schemaNames {
                guard !Self.isHidden(name) || (name == Self.metaSchema && !metaIsFerrys) else { continue }
                let size = sizes[name] ?? (0, 0, 0)
                let isWanted = wanted?.contains(name) ?? true
                var (fingerprint, exact) = ("", false)
                if isWanted {
                    do { (fingerprint, exact) = try self.fingerprint(of: name, sizeBytes: size.bytes) }
                    catch let error as MySQLServerError where error.code == 1146 || error.code == 1049 {
                        // Dropped or changed while it was read: a database that is gone is left
                        // out, as a moment later it would be; one still there is read again.
                        guard try schemaExists(name) else { continue }
                        (fingerprint, exact) = try self.fingerprint(of: name, sizeBytes: size.bytes)
                    }
                }
                var facts = DatabaseFacts(name: name, sizeBytes: size.bytes, fingerprint: fingerprint,
                                          isFingerprintExact: exact, detail: "\(size.tables) tables, ~\(size.rows) rows")
                facts.swapProblems = problems.swap[name]
                facts.copyProblems = problems.copy[name]
                if isWanted {
                    // What this user cannot see of it (fresh tester round 33, F15).
                    if grants == nil { grants = try c.query("SHOW GRANTS").compactMap { $0[0] } }
                    let hidden = try hiddenObjects(of: name, grants: grants)
                    if !hidden.isEmpty {
                        facts.copyProblems = (facts.copyProblems ?? []) + hidden
                        // Its fingerprint leaves out what is hidden: a committed target read by
                        // such an account may have drifted, never "drifted" for certain nor "up
                        // to date" (fresh tester round 35, F15).
                        let what = hidden.map { $0.split(separator: ":", maxSplits: 1).first.map(String.init) ?? $0 }
                        facts.unreadable = "the MySQL account may not see all of it: \(what.joined(separator: ", "))"
                    }
                }
                databases.insertListed(facts, as: name, lookalikes: &lookalikes)
            }
            let claims = try currentClaims()
            var facts = InstanceFacts(instance: instanceName, engine: .mysql, version: c.serverVersion,
                                      databases: databases, freeBytes: freeBytes(), claims: try claims.filter { !(try isClearable($0)) },
                                      importNotes: importIsolationNotes(grants: grants))
            facts.lookalikeNames = lookalikes.isEmpty ? nil : lookalikes
            let beside = try markedUnclaimedCheckpoints(among: schemaNames, beside: wanted ?? Set(databases.keys), claims: claims)
            facts.unclaimedCheckpoints = beside.isEmpty ? nil : beside
            facts.serverIdentity = try? serverIdentity()
            return facts
        }
    }

    static func unclaimedCheckpoints(among schemas: [String], beside databases: Set<String>, claims: [DatabaseClaim]) -> [String: [String]] {
        UnclaimedCheckpoints.find(among: schemas, beside: databases, claimedRuns: claims.map(\.runID),
                                  checkpointName: { derivedName($0, marker: "c", runID: $1) })
    }

    public func unclaimedCheckpoints(of database: String) throws -> [String] {
        let schemas = try connection.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA").compactMap { $0[0] }
        return try markedUnclaimedCheckpoints(among: schemas, beside: [database], claims: try currentClaims())[database] ?? []
    }

    /// `unclaimedCheckpoints(among:beside:claims:)`, less every schema that lacks its run's mark
    /// where the server keeps schema comments (fresh tester round 74, F3: a user's database
    /// named like a checkpoint was named as one); on MySQL, which keeps none, the name decides.
    func markedUnclaimedCheckpoints(among schemas: [String], beside databases: Set<String>, claims: [DatabaseClaim]) throws -> [String: [String]] {
        var found = Self.unclaimedCheckpoints(among: schemas, beside: databases, claims: claims)
        for (database, names) in found { found[database] = try names.filter { try carriesRunMark($0) != false } }
        return found.filter { !$0.value.isEmpty }
    }

    /// MySQL's `server_uuid` (made at the data directory's first start, kept across restarts);
    /// MariaDB has none, so its host name and data directory stand for it: another server
    /// answering at the URL (a container made again, a failover) has another.
    public func serverIdentity() throws -> String? {
        let c = connection
        if let uuid = try? c.scalar("SELECT @@server_uuid"), !uuid.isEmpty { return "mysql:" + uuid }
        guard let row = try c.query("SELECT @@hostname, @@datadir").first, let host = row[0], let datadir = row[1] else { return nil }
        return "mariadb:\(host)|\(datadir)"
    }

    /// Free bytes on the file system that holds the data directory, from MariaDB's `DISKS`
    /// information-schema plugin (`INSTALL SONAME 'disks'`, FILE privilege) when the server has it;
    /// nil otherwise: MySQL and a MariaDB without the plugin do not tell, and free space inside
    /// InnoDB tablespaces (`DATA_FREE`) says nothing about the disk.
    func freeBytes() -> Int64? {
        guard let datadir = try? connection.scalar("SELECT @@datadir"),
              let rows = try? connection.query("SELECT Path, Available FROM information_schema.DISKS") else { return nil }
        let mounts: [(path: String, kib: Int64)] = rows.compactMap { row in
            guard let path = row[0], let kib = row[1].flatMap({ Int64($0) }) else { return nil }
            return (path, kib)
        }
        let holding = mounts.filter { datadir == $0.path || datadir.hasPrefix($0.path.hasSuffix("/") ? $0.path : $0.path + "/") }
        return holding.max { $0.path.count < $1.path.count }.map { $0.kib * 1024 }
    }

    /// Databases up to this size get an exact fingerprint from `CHECKSUM TABLE` (a full read of
    /// every table, paid on every refresh); larger ones use the table statistics (row estimate,
    /// update time, data length), marked inexact so the planner treats them as changed.
    /// `FERRY_MYSQL_EXACT_FINGERPRINT_LIMIT` (bytes) overrides it.
    static let exactFingerprintLimit: Int64 = ProcessInfo.processInfo.environment["FERRY_MYSQL_EXACT_FINGERPRINT_LIMIT"]
        .flatMap { Int64($0) } ?? (256 << 20)

    func fingerprint(of schema: String, sizeBytes: Int64) throws -> (String, Bool) {
        let c = connection
        var text = "schema \(schema)\n"
        let exact = sizeBytes <= Self.exactFingerprintLimit
        let tables = try baseTables(schema)
        // CHECKSUM TABLE reads every row: beyond a few MiB the tables are shared among up to
        // three connections, as verify does.
        let extra = sizeBytes > (16 << 20) ? min(2, spareConnections) : 0
        let sums = exact ? try parallelSums(tables, in: schema, checksum: true, counting: false, extraConnections: extra) : []
        for (i, table) in tables.enumerated() {
            let ddl = try c.query("SHOW CREATE TABLE \(qualified(schema, table))").first?[1] ?? ""
            text += ddl.replacingOccurrences(of: #" AUTO_INCREMENT=\d+"#, with: "", options: .regularExpression) + "\n"
            if exact {
                text += "checksum \(sums[i].1 ?? "null")\n"
            } else {
                let row = try c.query("SELECT TABLE_ROWS, UPDATE_TIME, DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = \(c.literal(schema)) AND TABLE_NAME = \(c.literal(table))").first ?? []
                text += "stats \(row.map { $0 ?? "null" })\n"
            }
        }
        for object in try objects(in: schema, qualifier: nil) {
            text += "\(object.kind) \(object.name) \(object.charsetClient) \(object.collationConnection) \(object.databaseCollation) \(object.ddl)\n"
        }
        return (Digest.sha256(Array(text.utf8)), exact)
    }

    // MARK: Claims

    /// The claims table. Names are stored as utf8mb4 and compared as bytes (`utf8mb4_bin`), whatever
    /// the server's default character set: on a latin1 server a latin1 table could not hold `日本`
    /// and comparing it with the connection's utf8mb4 text failed ("Illegal mix of collations").
    /// A table made by an older version is converted in place, and gains the holder columns.
    /// `ensureMeta`: makes Ferry's claims schema where it is missing and returns its name.
    @discardableResult
    func ensureMeta() throws -> String {
        var meta = try metaSchemaName()
        if meta == nil {
            meta = try createMetaSchema()
        }
        guard let meta else {
            throw FerryError(.wrongStatus, "cannot make Ferry's claims schema on \(instanceName): databases named \(Self.metaSchema) and \(Self.fallbackMetaSchema) both exist and neither is Ferry's (no `\(Self.metaMarker)` marker); they are left as they are, and nothing was changed",
                             hint: "rename one of them (Ferry makes its claims schema under the name that is free, marked as its own), then run the command again", instance: instanceName)
        }
        let claims = qualified(meta, "claims")
        try connection.execute("CREATE TABLE IF NOT EXISTS \(claims) (db VARCHAR(64) NOT NULL, role VARCHAR(16) NOT NULL, run_id VARCHAR(128) NOT NULL, claimed_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, holder VARCHAR(128) NOT NULL DEFAULT '', host VARCHAR(255) NOT NULL DEFAULT '', pid BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (db, role, run_id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")
        let collation = try connection.query("SELECT TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = \(connection.literal(meta)) AND TABLE_NAME = 'claims'").first?[0] ?? nil
        if collation != "utf8mb4_bin" {
            try connection.execute("ALTER TABLE \(claims) CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        }
        let columns = Set(try connection.query("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = \(connection.literal(meta)) AND TABLE_NAME = 'claims'").compactMap { $0[0] })
        if !columns.contains("holder") {
            try connection.execute("ALTER TABLE \(claims) ADD COLUMN holder VARCHAR(128) NOT NULL DEFAULT '', ADD COLUMN host VARCHAR(255) NOT NULL DEFAULT '', ADD COLUMN pid BIGINT NOT NULL DEFAULT 0")
        }
        // Where each claim's run keeps its journal (round-14 A3). A table this user may not alter
        // keeps its claims without it (`ferry unlock --claims` then says it cannot tell).
        if !columns.contains("journal") {
            try? connection.execute("ALTER TABLE \(claims) ADD COLUMN journal VARCHAR(2048) NOT NULL DEFAULT ''")
        }
        // The run a rollback run reverts (round 16, C1), likewise.
        if !columns.contains("reverts") {
            try? connection.execute("ALTER TABLE \(claims) ADD COLUMN reverts VARCHAR(128) NOT NULL DEFAULT ''")
        }
        return meta
    }

    /// Where claims go when the server's `ferry_meta` is a user's (SPEC §6, as on PostgreSQL).
    static let fallbackMetaSchema = "ferry_meta__ferry_m"
    /// The marker that proves a claims schema Ferry's: the schema's comment (MariaDB 10.5+) or
    /// the one row of its table `ferry_marker` (servers without schema comments).
    static let metaMarker = "ferry:meta"
    /// The columns of the claims table of every release, for taking an unmarked `ferry_meta` of
    /// an earlier release as Ferry's.
    static let claimsColumns: Set<String> = ["db", "role", "run_id", "claimed_at", "holder", "host", "pid", "journal", "reverts"]

    /// Whether `schema` carries Ferry's marker.
    func isMarkedMeta(_ schema: String) throws -> Bool {
        let c = connection
        let hasComment = try hasSchemaComments()
        if hasComment, try c.scalar("SELECT SCHEMA_COMMENT FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = \(c.literal(schema))") == Self.metaMarker { return true }
        guard try baseTables(schema).contains("ferry_marker") else { return false }
        return try c.scalar("SELECT COUNT(*) FROM \(qualified(schema, "ferry_marker")) WHERE marker = \(c.literal(Self.metaMarker))") == "1"
    }

    /// Whether `schema` holds nothing but a claims table of an earlier release (no marker then).
    /// Earlier releases set no schema comment: one with any comment (other than Ferry's mark,
    /// which `isMarkedMeta` takes) was commented by someone else, so it is the user's, never
    /// taken over (issue 14: its comment was overwritten and its rows deleted).
    func isLegacyMeta(_ schema: String) throws -> Bool {
        let c = connection
        let hasComment = try hasSchemaComments()
        if hasComment, !(try c.scalar("SELECT SCHEMA_COMMENT FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = \(c.literal(schema))") ?? "").isEmpty {
            return false
        }
        let tables = try c.query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = \(c.literal(schema))").compactMap { $0[0] }
        guard tables == ["claims"], try objectList(schema) == ["TABLE claims"] else { return false }
        let columns = Set(try c.query("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = \(c.literal(schema)) AND TABLE_NAME = 'claims'").compactMap { $0[0] })
        return columns.isSubset(of: Self.claimsColumns) && columns.isSuperset(of: ["db", "role", "run_id", "claimed_at"])
    }

    /// Marks `schema` as Ferry's claims schema (comment where the server has them, else the marker table).
    func markMeta(_ schema: String) throws {
        do {
            try connection.execute("ALTER DATABASE \(quoteName(schema)) COMMENT \(connection.literal(Self.metaMarker))")
        } catch let error as MySQLServerError where error.code == 1064 {
            try connection.execute("CREATE TABLE IF NOT EXISTS \(qualified(schema, "ferry_marker")) (marker VARCHAR(32) NOT NULL PRIMARY KEY) ENGINE=InnoDB")
            try connection.execute("INSERT IGNORE INTO \(qualified(schema, "ferry_marker")) VALUES (\(connection.literal(Self.metaMarker)))")
        }
    }

    /// The schema that holds Ferry's claims on this server, or nil when there is none yet:
    /// `ferry_meta` when it carries Ferry's marker (or is an earlier release's, which is then
    /// marked); else `ferry_meta__ferry_m` when it exists. A `ferry_meta` Ferry cannot prove its
    /// own is the user's: listed, copied and imported like any database, never written.
    /// `marking`: mark an earlier release's `ferry_meta` (claiming); refresh only reads it, since
    /// nothing may change while planning (SPEC §4).
    func metaSchemaName(marking: Bool = true) throws -> String? {
        if try schemaExists(Self.metaSchema) {
            if try isMarkedMeta(Self.metaSchema) { return Self.metaSchema }
            if try isLegacyMeta(Self.metaSchema) {
                if marking { try markMeta(Self.metaSchema) }
                return Self.metaSchema
            }
        }
        // The fallback is Ferry's only with its marker (it was made marked): a user's database of
        // that name is the user's, never written (fresh tester round 29, F1: an unmarked one was
        // taken by its name, and a claims-shaped table of the user's in it altered and emptied).
        return try schemaExists(Self.fallbackMetaSchema) && isMarkedMeta(Self.fallbackMetaSchema) ? Self.fallbackMetaSchema : nil
    }

    /// Whether the server's `ferry_meta` is Ferry's (hidden) rather than a user's (listed).
    func metaIsFerrys() throws -> Bool {
        try schemaExists(Self.metaSchema) && (try isMarkedMeta(Self.metaSchema) || isLegacyMeta(Self.metaSchema))
    }

    /// Creates the claims schema, marked from its first moment where the server takes a schema
    /// comment in `CREATE DATABASE`: `ferry_meta`, or `ferry_meta__ferry_m` when a user's
    /// `ferry_meta` exists. A schema that appears meanwhile is never taken by its name alone.
    func createMetaSchema() throws -> String? {
        let name = try schemaExists(Self.metaSchema) ? Self.fallbackMetaSchema : Self.metaSchema
        let create = "CREATE DATABASE \(quoteName(name)) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        do {
            do {
                try connection.execute(create + " COMMENT \(connection.literal(Self.metaMarker))")
            } catch let error as MySQLServerError where error.code == 1064 {
                try connection.execute(create)
                try markMeta(name)
            }
        } catch let error as MySQLServerError where error.code == 1007 {
            // Made by another run (or a user) meanwhile: only a marked one is taken.
            return try metaSchemaName()
        }
        return name
    }

    func currentClaims() throws -> [DatabaseClaim] {
        guard let meta = try metaSchemaName(marking: false) else { return [] }
        let claims = qualified(meta, "claims")
        do {
            let present = Set(try connection.query("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = \(connection.literal(meta)) AND TABLE_NAME = 'claims'").compactMap { $0[0] })
            let columns = (present.contains("holder") ? "db, role, run_id, holder, host, pid" : "db, role, run_id, '', '', 0")
                + (present.contains("journal") ? ", journal" : ", ''") + (present.contains("reverts") ? ", reverts" : ", ''")
            return try connection.query("SELECT \(columns) FROM \(claims)").compactMap { row in
                guard let db = row[0], let role = row[1].flatMap(DatabaseClaim.Role.init(rawValue:)), let run = row[2] else { return nil }
                let pid = row[5].flatMap { Int32($0) }
                var claim = DatabaseClaim(database: db, role: role, runID: run, holder: row[3].flatMap { $0.isEmpty ? nil : $0 },
                                          host: row[4].flatMap { $0.isEmpty ? nil : $0 }, pid: pid == 0 ? nil : pid)
                claim.journal = row[6].flatMap { $0.isEmpty ? nil : $0 }
                claim.reverts = row[7].flatMap { $0.isEmpty ? nil : $0 }
                return claim
            }
        } catch let error as MySQLServerError where error.code == 1146 { return [] }
    }

    /// `body`, a claim's work: a user refused Ferry's claims schema is `WrongStatus` naming the
    /// right (fresh tester round 34, F2: a read-only source user stopped on `Internal`); any other
    /// server error keeps its code and message under `Internal`.
    private func claiming<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as MySQLServerError where error.code == 1044 || error.code == 1142 {
            throw FerryError(.wrongStatus, "cannot claim databases on \(instanceName): Ferry's user may not write its claims there (\(error.code): \(error.message))",
                             hint: "grant the user ALL ON \(Self.metaSchema).* (where Ferry keeps its claims, SPEC §3), or use another user for this instance",
                             instance: instanceName)
        } catch let error as MySQLServerError {
            throw error.ferry(.internalError, "cannot claim databases on \(instanceName)", instance: instanceName)
        }
    }

    /// Takes the claims in one transaction. A conflict with another run is `WrongStatus`; a server
    /// error while claiming keeps the server's own code and message (it is not a conflict). Claims of
    /// a run on this host whose process is gone and that left nothing here are cleared first.
    public func claim(_ claims: [DatabaseClaim]) throws {
        try claiming {
            let meta = try ensureMeta()
            let table = qualified(meta, "claims")
            let c = connection
            let optional = Set(try c.query("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = \(c.literal(meta)) AND TABLE_NAME = 'claims' AND COLUMN_NAME IN ('journal', 'reverts')").compactMap { $0[0] })
            for stale in try currentClaims() where !claims.contains(where: { $0.runID == stale.runID }) {
                guard try isClearable(stale) else { continue }
                try c.execute("DELETE FROM \(table) WHERE run_id = \(c.literal(stale.runID))")
            }
            // Two runs claiming at once can deadlock on the claims table's locks (1213) or wait too
            // long (1205): the server rolled that transaction back, so it is tried again.
            for attempt in 1...5 {
            try c.execute("START TRANSACTION")
            do {
                for claim in claims {
                    let holders = try c.query("SELECT run_id, role FROM \(table) WHERE db = \(c.literal(claim.database)) AND run_id <> \(c.literal(claim.runID)) FOR UPDATE")
                    if let holder = holders.first {
                        try c.execute("ROLLBACK")
                        let who = try currentClaims().first { $0.runID == holder[0] }?.holderSummary ?? "run \(holder[0] ?? "?")"
                        throw FerryError(.wrongStatus, "database \(claim.database) on \(instanceName) is \(holder[1] ?? "in use") by \(who)",
                                         hint: "wait for that run, or recover it with `ferry recover`; if it is gone for good, `ferry unlock --claims \(instanceName) \(holder[0] ?? "RUN")`",
                                         instance: instanceName)
                    }
                    var extra = ("", "")
                    for (column, value) in [("journal", claim.journal), ("reverts", claim.reverts)] where optional.contains(column) {
                        extra.0 += ", " + column
                        extra.1 += ", " + c.literal(value ?? "")
                    }
                    try c.execute("INSERT IGNORE INTO \(table) (db, role, run_id, holder, host, pid\(extra.0)) VALUES (\(c.literal(claim.database)), \(c.literal(claim.role.rawValue)), \(c.literal(claim.runID)), \(c.literal(claim.holder ?? "")), \(c.literal(claim.host ?? "")), \(claim.pid ?? 0)\(extra.1))")
                }
                try c.execute("COMMIT")
                return
            } catch let error as MySQLServerError where (error.code == 1213 || error.code == 1205) && attempt < 5 {
                try? c.execute("ROLLBACK")
                Thread.sleep(forTimeInterval: 0.05 * Double(attempt))
            } catch {
                try? c.execute("ROLLBACK")
                throw error
            }
            }
        }
    }

    public func recordedClaims() throws -> [DatabaseClaim] {
        try run(.internalError, "cannot read the claims on \(instanceName)") { try currentClaims() }
    }

    public func claimHeld(by runID: String, on database: String) throws -> Bool? {
        try run(.internalError, "cannot read the claims on \(instanceName)") {
            try currentClaims().contains { $0.runID == runID && $0.database == database }
        }
    }

    /// The run's rows locked (`FOR UPDATE`), compared with `expected`'s holder, then rewritten in
    /// one transaction: a second taker waits on the locks, then reads the first one's holder.
    public func takeOverClaims(ofRun runID: String, from expected: DatabaseClaim, to taker: DatabaseClaim) throws -> Bool? {
        try run(.internalError, "cannot take over the claims of run \(runID) on \(instanceName)") {
            guard let meta = try metaSchemaName() else { return false }
            let table = qualified(meta, "claims")
            let c = connection
            let hasJournal = try c.query("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = \(c.literal(meta)) AND TABLE_NAME = 'claims' AND COLUMN_NAME = 'journal'").first?[0] == "1"
            try c.execute("START TRANSACTION")
            do {
                let rows = try c.query("SELECT holder, host, pid FROM \(table) WHERE run_id = \(c.literal(runID)) FOR UPDATE")
                let matches = !rows.isEmpty && rows.allSatisfy { row in
                    (row[0] ?? "") == (expected.holder ?? "") && (row[1] ?? "") == (expected.host ?? "") && (Int32(row[2] ?? "") ?? 0) == (expected.pid ?? 0)
                }
                guard matches else {
                    try c.execute("ROLLBACK")
                    return false
                }
                try c.execute("UPDATE \(table) SET holder = \(c.literal(taker.holder ?? "")), host = \(c.literal(taker.host ?? "")), pid = \(taker.pid ?? 0)"
                              + (hasJournal ? ", journal = \(c.literal(taker.journal ?? ""))" : "") + " WHERE run_id = \(c.literal(runID))")
                try c.execute("COMMIT")
                return true
            } catch {
                try? c.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// True for a claim of a run whose process is provably gone and that left no schema here
    /// (nor did the run it reverts, for a rollback run's).
    func isClearable(_ claim: DatabaseClaim) throws -> Bool {
        try claim.isClearable { try leftovers(ofRun: $0) }
    }

    public func release(runID: String) throws {
        try run(.internalError, "cannot release claims on \(instanceName)") {
            guard let meta = try metaSchemaName() else { return }
            do {
                try connection.execute("DELETE FROM \(qualified(meta, "claims")) WHERE run_id = \(connection.literal(runID))")
            } catch let error as MySQLServerError where error.code == 1146 {}
            // A note of a collation switch the run left (killed, never recovered) is anyone's
            // to settle once its claims are released (`ferry unlock --claims`).
            try releaseCollationSwitches(ofRunTag: Self.runTag(ofRunID: runID))
        }
    }

    /// Shadow and checkpoint schemas of the run: names `derivedName` gives for it (the rule keeps
    /// the run's suffix whole, `NAME__ferry_s_RUN`, `NAME__ferry_c_RUN`), and the import
    /// accounts it left (`importAccountLeftovers`).
    public func leftovers(ofRun runID: String) throws -> [String] {
        let suffixes = ["s", "c"].map { Self.runSuffix(marker: $0, runID: runID) }
        guard !suffixes[0].hasSuffix("_s_") else { return [] }
        let schemas = try connection.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA").compactMap { $0[0] }
            .filter { name in suffixes.contains { DerivedName.isDerived(name, suffix: $0) } }.sorted()
        return schemas + (try importAccountLeftovers(ofRun: runID, shadows: schemas.filter { DerivedName.isDerived($0, suffix: suffixes[0]) }))
    }

    // MARK: Building

    func schemaCharset(_ schema: String, on c: MySQLConnection? = nil) throws -> (String, String)? {
        let c = c ?? connection
        guard let row = try c.query("SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = \(c.literal(schema))").first,
              let charset = row[0], let collation = row[1] else { return nil }
        return (charset, collation)
    }

    /// Makes schema `name` unless it exists. A shadow or checkpoint (a name `runTag(of:)` reads)
    /// is made with its run's mark as its comment where the server keeps schema comments, in the
    /// one `CREATE DATABASE`: one that exists already keeps its own (`isMarkedRunSchema`).
    func createSchema(_ name: String, like charset: (String, String)?) throws {
        var sql = "CREATE DATABASE IF NOT EXISTS \(quoteName(name))"
        if let (cs, co) = charset { sql += " CHARACTER SET \(cs) COLLATE \(co)" }
        if let mark = Self.runSchemaMark(of: name), try hasSchemaComments() { sql += " COMMENT \(connection.literal(mark))" }
        try connection.execute(sql)
    }

    /// The comment of a shadow or checkpoint Ferry made: `ferry:run:<run tag>`; nil for any other name.
    static func runSchemaMark(of schema: String) -> String? {
        runTag(of: schema).map { "ferry:run:" + $0 }
    }

    /// Whether the server keeps schema comments (MariaDB 10.5+; MySQL does not), told by its
    /// version string (`10.11.6-MariaDB-0+deb12u1`): no query, so it is known on a full disk,
    /// where an `information_schema.COLUMNS` read needs a temporary table on disk.
    func hasSchemaComments() throws -> Bool {
        if let known = schemaCommentsKnown { return known }
        let known = Self.keepsSchemaComments(serverVersion: connection.serverVersion)
        schemaCommentsKnown = known
        return known
    }

    static func keepsSchemaComments(serverVersion version: String) -> Bool {
        guard version.contains("MariaDB") else { return false }
        // MariaDB before 11 told old clients `5.5.5-<its version>`.
        let version = version.hasPrefix("5.5.5-") ? String(version.dropFirst(6)) : version
        let numbers = version.prefix { $0.isNumber || $0 == "." }.split(separator: ".").compactMap { Int($0) }
        guard numbers.count >= 2 else { return false }
        return (numbers[0], numbers[1]) >= (10, 5)
    }

    /// False only when the server keeps schema comments and `schema` (a shadow's or checkpoint's
    /// name) holds nothing and lacks its run's mark: someone else made it at that name (fresh
    /// tester round 29, F6: a user's empty database made again at a killed run's shadow name was
    /// dropped by `ferry recover`). A schema holding tables or objects is judged by what it holds
    /// (`writesNotFerrys`, `checkpointChanges`); without schema comments (MySQL), by its name.
    func isMarkedRunSchema(_ schema: String) throws -> Bool {
        guard let marked = try carriesRunMark(schema) else { return true }
        return try marked || !isEmptySchema(schema)
    }

    /// Whether `schema` (a shadow's or checkpoint's name) carries its run's mark as its comment;
    /// nil where that cannot be told (a server without schema comments, a name that is no run's,
    /// a schema that is gone).
    func carriesRunMark(_ schema: String) throws -> Bool? {
        guard try hasSchemaComments(), let mark = Self.runSchemaMark(of: schema) else { return nil }
        // `SHOW CREATE DATABASE`, not `information_schema.SCHEMATA`: its long comment column
        // makes the server build a temporary table on disk, which fails on a nearly full one
        // (a full-disk rollback test failed on it). The mark (letters, digits, `:`, `-`, `_`)
        // needs no escaping.
        do {
            guard let create = try connection.query("SHOW CREATE DATABASE \(quoteName(schema))").first?[1] else { return nil }
            return create.hasSuffix(" COMMENT '\(mark)'")
        } catch let error as MySQLServerError where error.code == 1049 {
            return nil
        }
    }

    /// Whether `schema` holds no table (and so no trigger), view, routine or event.
    func isEmptySchema(_ schema: String) throws -> Bool {
        let c = connection, lit = c.literal(schema)
        return try c.query("SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = \(lit) LIMIT 1").isEmpty
            && c.query("SELECT 1 FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = \(lit) LIMIT 1").isEmpty
            && c.query("SELECT 1 FROM information_schema.EVENTS WHERE EVENT_SCHEMA = \(lit) LIMIT 1").isEmpty
    }

    public func makeShadow(for database: String, runID: String) throws -> String {
        let shadow = Self.derivedName(database, marker: "s", runID: runID)
        try run(.copyError, "cannot create shadow \(shadow) on \(instanceName)") {
            // The name carries the run, so it is new; one that exists is not this run's to drop.
            if try schemaExists(shadow) {
                throw FerryError(.nameConflict, "a database named \(shadow) exists on \(instanceName); Ferry does not drop what it did not create",
                                 hint: "rename or drop that database yourself, then apply again", instance: instanceName)
            }
            try createSchema(shadow, like: try schemaCharset(database))
        }
        listedShadows.remove(shadow)
        return shadow
    }

    /// Drops a shadow or checkpoint: only a schema whose name Ferry derived for a run
    /// (`<db>__ferry_s_<run>`, `<db>__ferry_c_<run>`); any other name is refused, nothing dropped.
    ///
    /// A shadow is dropped only when it holds nothing or what its build listed and its verify
    /// recorded (`writesNotFerrys`), a checkpoint only when it holds what its swap recorded
    /// (`checkpointChanges`): one written into by anything else is left as it is (`WrongStatus`).
    public func drop(_ database: String) throws {
        do { try dropRunSchema(database) } catch let error as FerryError where error.code == .diskFull {
            sawDiskFull = true
            throw error
        }
    }

    func dropRunSchema(_ database: String) throws {
        guard Self.runTag(of: database) != nil else {
            throw FerryError(.copyError, "\(database) on \(instanceName) is not a shadow or checkpoint Ferry made; it is not dropped",
                             instance: instanceName)
        }
        // A name the server cannot hold was never created (a journal of a release that let such a
        // name through): there is nothing to drop, and asking the server about it would fail.
        if Self.unholdableName(database) != nil {
            listedShadows.remove(database)
            return
        }
        if try !run(.internalError, "cannot read \(database) on \(instanceName)", { try isMarkedRunSchema(database) }) {
            throw FerryError(.wrongStatus, "\(database) on \(instanceName) is empty and lacks the mark of the run whose name it has (schema comment `\(Self.runSchemaMark(of: database) ?? "")`): someone else made it there, and Ferry does not drop it",
                             hint: "Ferry does not touch it: once you have what you need from it, drop it yourself and run `ferry recover` again (it finishes once nothing is at that name, or the run's own shadow is)",
                             instance: instanceName, reason: .notTheRunsFile)
        }
        // A drop that found it written while it checked it noted so in it: left for good
        // (fresh tester round 51, F2: the recover's next step dropped it anyway).
        if try run(.internalError, "cannot read \(database) on \(instanceName)", { try baseTables(database).contains(Self.ownTable(Self.writtenTable, in: database)) }) {
            throw FerryError(.wrongStatus, "\(database) on \(instanceName) was written while Ferry checked that it held nothing of anyone's (noted in it then), so it is left as it is",
                             hint: "keep what you need from it, then drop it yourself (a run still pending on it then finishes with `ferry recover`)", instance: instanceName)
        }
        // What the schema holds before the checks begin (`dropTablesHeld`): its tables, their
        // definitions and its objects, and the rows of a shadow without a recorded token (whose
        // rows no check reads). None where it cannot be read: a full disk refuses
        // `information_schema`'s reads, and the checks below make room first.
        let before: HeldBefore?
        do {
            let rows = try Self.isShadowName(database) && recordedToken(in: database) == nil
            before = try heldBefore(database, readingRows: rows)
        } catch let error as MySQLServerError where error.isDiskFull {
            before = nil
        } catch let error as FerryError where error.code == .diskFull {
            before = nil
        }
        roomMadeIn.remove(database)
        let proof = try run(.internalError, "cannot read \(database) on \(instanceName)") {
            try writesNotFerrysMakingRoom(in: database) ?? checkpointChanges(in: database) ?? .allowed(.noRows)
        }
        let data: HeldData
        switch proof {
        case .refused(let why):
            throw FerryError(.wrongStatus, why, hint: "keep what you need from it, then drop it yourself (a run still pending on it then finishes with `ferry recover`)", instance: instanceName)
        case .allowed(let held):
            data = held
        }
        try run(.internalError, "cannot drop \(database) on \(instanceName)") {
            if let before, !roomMadeIn.contains(database) {
                try dropTablesHeld(database, before: before, data: data)
            } else if case .token(let part, let why) = data, try !rowsHold(.token(part, otherwise: why), in: database, before: before, underLock: false) {
                // No hold where the disk is full (its reads fail) or room was made (the
                // emptied tables hold no row the token counts): the rows are read once, here.
                throw FerryError(.wrongStatus, why, hint: "keep what you need from it, then drop it yourself (a run still pending on it then finishes with `ferry recover`)", instance: instanceName)
            }
            try connection.execute("DROP DATABASE IF EXISTS \(quoteName(database))")
        }
        listedShadows.remove(database)
    }

    /// The longest wait (seconds) for `dropTablesHeld`'s `LOCK TABLES`.
    static let dropHoldSeconds = 60

    /// The tables of `database` that hold data: base tables but Ferry's run-tagged ones and the
    /// sequences (whose one row is their state).
    func dataTables(_ database: String) throws -> [String] {
        let own = Self.ownTables(in: database)
        return try connection.query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = \(connection.literal(database)) AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') ORDER BY TABLE_NAME, BINARY TABLE_NAME")
            .compactMap { $0[0] }.filter { !own.contains($0) }
    }

    /// What a run schema holds that its drop compares under its hold (`dropTablesHeld`) with
    /// what it held before the checks: its tables (Ferry's included), a digest of each data
    /// table's `SHOW CREATE TABLE` (an `ALTER TABLE` that keeps the rows, a comment, a key, a
    /// foreign key dropped: fresh tester round 52, F2), its views, routines, triggers and events
    /// (`heldObjects`), and, for `HeldData.asBefore`, each data table's `CHECKSUM TABLE`.
    ///
    /// `generated`: of each table with a stored generated column, a digest of its rows that
    /// reads the same with a lock or without (`rowDigest`), then its `CHECKSUM TABLE`, both read
    /// without a lock (a consistent read: an open transaction's rows are in neither). MariaDB 10.11
    /// gives such a table another `CHECKSUM TABLE` while the session holds it for writing (fresh
    /// tester round 54, F2: every drop of a schema holding one was refused). Under the drop's hold
    /// the digest is read again and compared; the token's data part is taken with the checksum.
    /// The digest first: a write between the two reads changes the checksum, which the token then
    /// refuses. (A first mend read it under a short write lock of its own, which waited for an
    /// open transaction and took its row as the build's: round 55, F3.)
    struct HeldBefore: Equatable {
        var tables: [String]
        var definitions: String
        var objects: [String]
        var rows: String?
        var generated: [String: Generated] = [:]

        struct Generated: Equatable {
            var digest: String
            var checksum: String?
        }
    }

    /// The tables of `database` with a stored generated column (`information_schema.COLUMNS`).
    func storedGeneratedTables(_ database: String) throws -> Set<String> {
        Set(try connection.query("SELECT DISTINCT TABLE_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = \(connection.literal(database)) AND (EXTRA LIKE '%STORED GENERATED%' OR EXTRA LIKE '%PERSISTENT GENERATED%')")
            .compactMap { $0[0] })
    }

    /// `HeldBefore` of `database`, read on this session's connection alone (under its `LOCK
    /// TABLES` no other connection reads them); `readingRows`: with the rows' checksums.
    /// `underLock`: read under the drop's hold (`generated` is then not read again).
    func heldBefore(_ database: String, readingRows: Bool, underLock: Bool = false) throws -> HeldBefore {
        let tables = try dataTables(database)
        var generated: [String: HeldBefore.Generated] = [:]
        let users = Set(try userTables(database))
        let stored = try storedGeneratedTables(database).filter { users.contains($0) }
        if !underLock {
            for table in stored.sorted() {
                generated[table] = .init(digest: try rowDigest(table, in: database), checksum: try Self.checksum(table, in: database, on: connection))
            }
        }
        let definitions = try tables.map { table in
            "\(table)\t\(Self.digest(Self.withoutAutoIncrement((try connection.query("SHOW CREATE TABLE \(qualified(database, table))").first?[1] ?? nil) ?? "")))"
        }.joined(separator: "\n")
        // (A table with a stored generated column: its rows' digest, which the hold reads alike.)
        let rows = try readingRows ? tables.map { table in
            "\(table)\t\((try stored.contains(table) ? rowDigest(table, in: database) : Self.checksum(table, in: database, on: connection)) ?? "-")"
        }.joined(separator: "\n") : nil
        return HeldBefore(tables: try baseTables(database), definitions: definitions, objects: try heldObjects(database), rows: rows, generated: generated)
    }

    /// A digest of the rows of `table` that reads the same with `LOCK TABLES ... WRITE` held or
    /// without (`CHECKSUM TABLE` does not, for a table with a stored generated column):
    /// `storedColumnsChecksum`, which `checksum` gives too for a table with a generated column.
    func rowDigest(_ table: String, in database: String) throws -> String {
        let columns = try connection.query("SELECT COLUMN_NAME, DATA_TYPE, EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = \(connection.literal(database)) AND TABLE_NAME = \(connection.literal(table)) ORDER BY ORDINAL_POSITION")
        return try Self.storedColumnsChecksum(table, in: database, columns: columns, on: connection) ?? "-"
    }

    /// Whether the rows of `database` are what `data` says (`before`: what the checks began
    /// with, for `asBefore`), read on this session's connection alone.
    /// `underLock`: read under the drop's hold (`HeldBefore.generated` stands in for the tables
    /// with a stored generated column).
    func rowsHold(_ data: HeldData, in database: String, before: HeldBefore?, underLock: Bool) throws -> Bool {
        switch data {
        case .noRows:
            return try dataTables(database).allSatisfy { try !holdsRows($0, in: database) }
        case .token(let part, _):
            var sums: [String: String?] = [:]
            let stored = underLock ? try storedGeneratedTables(database) : []
            for table in try userTables(database) {
                guard stored.contains(table) else { sums[table] = try Self.checksum(table, in: database, on: connection); continue }
                // Its rows unchanged since the digest read before the checks: the checksum
                // read right after that is the one the token counts.
                guard let was = before?.generated[table], try rowDigest(table, in: database) == was.digest else { return false }
                sums[table] = was.checksum
            }
            return Self.dataDigest(sums).map { Substring($0) == part } ?? false
        case .asBefore:
            guard let rows = before?.rows else { return false }
            return try heldBefore(database, readingRows: true, underLock: underLock).rows == rows
        }
    }

    /// The foreign keys of other databases that reference a table of `database`
    /// (`information_schema.REFERENTIAL_CONSTRAINTS`), as `db`.`table` of the child.
    func referencesFromElsewhere(_ database: String) throws -> [String] {
        let lit = connection.literal(database)
        return try connection.query("SELECT CONSTRAINT_SCHEMA, TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE UNIQUE_CONSTRAINT_SCHEMA = \(lit) AND CONSTRAINT_SCHEMA <> \(lit)")
            .compactMap { row in row[0].flatMap { d in row[1].map { qualified(d, $0) } } }.sorted()
    }

    /// The views, routines, triggers and events of `database`, each with when it was made or
    /// last changed and a digest of its definition (`information_schema`, which `LOCK TABLES`
    /// lets a session read), sorted.
    func heldObjects(_ database: String) throws -> [String] {
        let lit = connection.literal(database)
        return try connection.query("""
            SELECT CONCAT('VIEW ', TABLE_NAME, ' ', MD5(VIEW_DEFINITION)) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = \(lit)
            UNION ALL SELECT CONCAT(ROUTINE_TYPE, ' ', ROUTINE_NAME, ' ', LAST_ALTERED, ' ', MD5(IFNULL(ROUTINE_DEFINITION, ''))) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = \(lit)
            UNION ALL SELECT CONCAT('TRIGGER ', TRIGGER_NAME, ' ', CREATED, ' ', MD5(ACTION_STATEMENT)) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = \(lit)
            UNION ALL SELECT CONCAT('EVENT ', EVENT_NAME, ' ', LAST_ALTERED, ' ', MD5(IFNULL(EVENT_DEFINITION, ''))) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = \(lit)
            """).compactMap { $0[0] }.sorted()
    }

    /// Drops the tables of the run schema `database` that the checks proved Ferry's, under `LOCK
    /// TABLES ... WRITE` on all of them, so that no write lands between the proof and the drop
    /// (fresh tester round 49, F1: the checks read past an application's open transaction in a
    /// dead run's shadow, the `DROP DATABASE` then waited for that transaction and dropped its
    /// committed row, and the recover said "as they were"). The lock waits for every open
    /// transaction on those tables to end (`dropHoldSeconds` at most: then nothing is dropped).
    /// Held, `database` must hold what it held `before` the checks (tables, definitions,
    /// objects) and rows as `data` says, read here once: the checks leave the rows to this hold.
    /// A table, definition or object changed since, or rows the checks took as the run's changed
    /// (`noRows`, `asBefore`), leave it noted (`writtenWhileChecked`); rows that are not what the
    /// token says leave it with the checks' words. A lock the server refuses otherwise leaves
    /// it as it is too (nothing proves what it holds then).
    func dropTablesHeld(_ database: String, before: HeldBefore, data: HeldData) throws {
        let c = connection
        let tables = before.tables
        guard !tables.isEmpty else {
            // Nothing to lock: its objects are still those the checks saw.
            guard try heldObjects(database) == before.objects else { throw try writtenWhileChecked(database) }
            return
        }
        do {
            try c.withLockWait(seconds: Self.dropHoldSeconds) {
                try c.execute("LOCK TABLES " + tables.map { qualified(database, $0) + " WRITE" }.joined(separator: ", "))
            }
        } catch let error as MySQLServerError where error.code == 1205 {
            throw FerryError(.wrongStatus, "\(database) on \(instanceName) was not dropped: a session kept its tables (an open transaction) for \(Self.dropHoldSeconds) s after Ferry found it held nothing of anyone's; nothing was changed",
                             hint: "end that session's transaction (SHOW PROCESSLIST), then run the command again", instance: instanceName)
        } catch let error as MySQLServerError where error.code == 1146 {
            // A table of it dropped since the checks listed it.
            throw try writtenWhileChecked(database)
        } catch let error as MySQLServerError {
            throw FerryError(.wrongStatus, "\(database) on \(instanceName) was not dropped: Ferry could not hold its tables against writers while it checked them a last time (\(error.code): \(error.message)); nothing was changed",
                             hint: "run the command again; if it says this again, keep what you need from it and drop it yourself", instance: instanceName)
        }
        var unchanged = false
        var rowsAsSaid = false
        do {
            // The objects too (fresh tester round 51, F1: a view, routine, event or trigger made
            // while the lock waited went with the schema, "Apply complete!").
            do {
                let now = try heldBefore(database, readingRows: false, underLock: true)
                unchanged = (now.tables, now.definitions, now.objects) == (before.tables, before.definitions, before.objects)
                rowsAsSaid = try unchanged && rowsHold(data, in: database, before: before, underLock: true)
            } catch let error as MySQLServerError where error.code == 1100 {
                // A table the lock does not hold: made after the lock's listing (fresh tester
                // round 56, L1: named through an `Internal` error). Not what was checked: kept.
                unchanged = false
            }
            // A foreign key of another database onto one of its tables (fresh tester round 52,
            // F3: made while the lock waited, it was left pointing at a dropped table).
            let references = try referencesFromElsewhere(database)
            if unchanged, rowsAsSaid, !references.isEmpty {
                try? c.execute("UNLOCK TABLES")
                throw FerryError(.wrongStatus, "\(database) on \(instanceName) is referenced by a foreign key of \(references.prefix(3).joined(separator: ", ")), so it was not dropped; nothing was changed",
                                 hint: "drop that foreign key (or move it elsewhere), then run the command again", instance: instanceName, reason: .inTheWayForNow)
            }
            if unchanged, rowsAsSaid {
                let checks = try c.scalar("SELECT @@SESSION.foreign_key_checks") ?? "1"
                try c.execute("SET SESSION foreign_key_checks = 0")
                defer { try? c.execute("SET SESSION foreign_key_checks = \(checks)") }
                try c.execute("DROP TABLE " + tables.map { qualified(database, $0) }.joined(separator: ", "))
            }
        } catch {
            try? c.execute("UNLOCK TABLES")
            throw error
        }
        try c.execute("UNLOCK TABLES")
        if unchanged, !rowsAsSaid, case .token(_, let why) = data {
            throw FerryError(.wrongStatus, why, hint: "keep what you need from it, then drop it yourself (a run still pending on it then finishes with `ferry recover`)", instance: instanceName)
        }
        guard unchanged, rowsAsSaid else { throw try writtenWhileChecked(database) }
    }

    /// Notes in `database` that it was written while a drop checked it (`writtenTable`: every
    /// later drop leaves it as well) and returns the error that says so.
    func writtenWhileChecked(_ database: String) throws -> FerryError {
        try connection.execute("CREATE TABLE IF NOT EXISTS \(qualified(database, Self.ownTable(Self.writtenTable, in: database))) (at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB")
        return FerryError(.wrongStatus, "\(database) on \(instanceName) was written while Ferry checked that it held nothing of anyone's (by a session that wrote or made something there meanwhile), so it was left as it is",
                          hint: "keep what you need from it, then drop it yourself (a run still pending on it then finishes with `ferry recover`)", instance: instanceName)
    }

    public func cloneDatabase(_ database: String, into shadow: String, progress: ProgressCounter) throws {
        // The append import's verify checks the shadow alone: no source sums are needed. The
        // import writes into it next: its keys are finished here, not in a step of their own.
        let built = try copyData(from: self, database: database, into: shadow, verifying: .none, progress: progress)
        try finish(shadow: shadow, receipt: built.receipt, progress: progress)
        // The snapshot holds every object of the target (else the swap would leave some only in
        // the checkpoint).
        try run(.copyError, "cannot compare \(shadow) with \(database) on \(instanceName)") {
            try checkObjectLists(shadow: shadow, against: self, database: database)
        }
    }

    public func copyData(from source: MySQLSession, database: String, into shadow: String,
                         verifying: VerifyLevel, progress: ProgressCounter) throws -> BuildResult {
        try MySQLCopy(source: source, target: self, database: database, shadow: shadow, verifying: verifying, progress: progress).run()
    }

    /// The receipt's detail key for table `table`'s finishing `ALTER TABLE` (secondary keys,
    /// statistics option), and for its size in bytes on the source (biggest first).
    static func finishKey(_ table: String) -> String { "finish:" + table }
    static func finishSizeKey(_ table: String) -> String { "size:" + table }

    /// Adds the secondary keys (and puts back the statistics option) of the tables a copy loaded
    /// without them, from the receipt: each table's one `ALTER TABLE`, biggest first, on up to 4
    /// connections at once (fewer when the target's `maxConnections` or the cores say so). A
    /// table whose keys are in already (a finish run again) is skipped. The rows stay readable
    /// throughout (an in-place `ADD KEY`), so the verify may run meanwhile. A cancel sends
    /// `KILL QUERY` to each connection.
    public func finish(shadow: String, receipt: BuildReceipt, progress: ProgressCounter) throws {
        let work = receipt.detail.filter { $0.key.hasPrefix("finish:") }
            .map { (table: String($0.key.dropFirst("finish:".count)), sql: $0.value) }
            .sorted { (Int64(receipt.detail[Self.finishSizeKey($0.table)] ?? "") ?? 0, $1.table)
                > (Int64(receipt.detail[Self.finishSizeKey($1.table)] ?? "") ?? 0, $0.table) }
        guard !work.isEmpty else { return }
        let existing = try run(.copyError, "cannot read the keys of \(shadow) on \(instanceName)") {
            Set(try connection.query("SELECT DISTINCT TABLE_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = \(connection.literal(shadow)) AND INDEX_NAME <> 'PRIMARY'").compactMap { $0[0] })
        }
        let todo = work.filter { !existing.contains($0.table) || !$0.sql.contains(" ADD ") }
        guard !todo.isEmpty else { return }
        // Noted before the first `ALTER` and after the last: a later drop of the shadow compares
        // its definitions with what the build left only once they are all in (`builtDefinitions`).
        try run(.copyError, "cannot write to \(shadow) on \(instanceName)") { try recordTokenRow(Self.finishRow, "finishing", in: shadow) }
        let count = max(1, min(todo.count, MySQLCopy.workers(targetIsLocal: address.isLocal), spareConnections))
        let connections = try run(.copyError, "cannot open connections to \(instanceName)") {
            try (0..<count).map { _ in UncheckedBox(try openAnother()) }
        }
        defer { for c in connections { c.value.close() } }
        let threadIDs = connections.map { mysql_thread_id($0.value.handlePointer) }
        let session = UncheckedBox(self)
        let cancelID = progress.cancellation?.register {
            if let killer = try? session.value.openAnother() {
                for id in threadIDs { _ = try? killer.execute("KILL QUERY \(id)") }
                killer.close()
            }
        }
        defer { if let cancelID { progress.cancellation?.unregister(cancelID) } }
        try progress.checkCancelled()
        let queue = FinishQueue(todo.map(\.sql))
        // One job per connection; a job's failure is kept in the queue (the first one).
        try WorkerPool.shared.forEach(connections.count) { worker in
            while let sql = queue.take() {
                do { try connections[worker].value.execute(sql) } catch { queue.fail(error); return }
            }
        }
        try progress.checkCancelled()
        if let failure = queue.failure {
            if let error = failure as? MySQLServerError {
                throw error.ferry(.copyError, "adding the secondary keys of \(shadow) on \(instanceName) failed", instance: instanceName)
            }
            throw failure
        }
        try run(.copyError, "cannot write to \(shadow) on \(instanceName)") {
            try recordTokenRow(Self.finishRow, "finished:" + definitionsDigest(of: shadow), in: shadow)
        }
    }

    public func verify(shadow: String, against source: MySQLSession?, database: String?,
                       level: VerifyLevel, receipt: BuildReceipt?) throws -> VerifyReport {
        try run(.verifyFailed, "cannot verify \(shadow) on \(instanceName)") {
            var mine = try userTables(shadow)
            var tables: [VerifyReport.Table] = []
            guard level != .none else { return VerifyReport(tables: []) }
            guard let source, let database else {
                // Everything in an import's shadow is what its statements made, listed as they ran
                // (`recordBuilt`); anything else is someone else's, and no verify passes it.
                try refuseNotBuilt(in: shadow, .verifyFailed, "verified")
                // The counts come off the checksum scans (InnoDB): the content token costs little
                // more than the counts alone (SPEC "MySQL / MariaDB: the content token").
                let sequences = Set(try self.tables(ofType: "SEQUENCE", in: shadow)[shadow] ?? [])
                let plain = mine.filter { !sequences.contains($0) }
                let bytes = try tableSizes(shadow).reduce(Int64(0)) { $0 + $1.bytes }
                let sums = try parallelSums(plain, in: shadow, checksum: true,
                                            extraConnections: bytes > (16 << 20) ? min(2, spareConnections) : 0)
                var checksums: [String: String?] = [:]
                for (i, table) in plain.enumerated() { checksums[table] = sums[i].1 }
                for table in mine {
                    let rows = try plain.firstIndex(of: table).map { sums[$0].0 } ?? Self.rowCount(table, in: shadow, on: connection)
                    tables.append(.init(name: table, rows: rows, checksum: nil))
                }
                return VerifyReport(tables: tables, contentToken: try recordedVerifyToken(of: shadow, checksums: checksums))
            }
            // Sums the copy took in its own snapshot, when it could; else the source as it is now.
            // (Checksums only when the copy took them: a copy built for `count` records none.)
            let recorded = receipt?.tables.flatMap { sums in
                level == .checksum && sums.contains { $0.checksum == nil } ? nil : sums
            }
            // Every object of the source is in the shadow, by kind and name (sequences included:
            // their rows are their position, set by the copy, not counted here).
            try checkObjectLists(shadow: shadow, against: source, database: database)
            let sequences = Set(try self.tables(ofType: "SEQUENCE", in: shadow)[shadow] ?? [])
            mine = mine.filter { !sequences.contains($0) }
            let theirs = try recorded.map { $0.map(\.name) } ?? source.userTables(database).filter { !sequences.contains($0) }
            if Set(theirs) != Set(mine) {
                throw FerryError(.verifyFailed, "\(shadow) holds tables \(mine) but \(database) on \(source.instanceName) holds \(theirs)", instance: instanceName)
            }
            // Both sides are measured at once, each on its own connection.
            let sourceConnection = UncheckedBox(source.connection)
            let sourceSums: WorkerPool.Pending<[SumPair]>
            if let recorded {
                let known = recorded.map { SumPair(rows: $0.rows, checksum: level == .checksum ? $0.checksum : nil) }
                sourceSums = WorkerPool.shared.start { known }
            } else {
                sourceSums = WorkerPool.shared.start {
                    try Self.sums(theirs, in: database, on: sourceConnection.value, checksum: level == .checksum).map(SumPair.init)
                }
            }
            // Joined whatever happens below: the source's connection is not left to the job.
            defer { _ = try? sourceSums.wait() }
            // Biggest first by the source's sizes: a shadow's statistics can still say one page for
            // a table just loaded (its automatic recalculation is off while it loads).
            let sizes = recorded == nil ? nil : try? source.tableSizes(database)
            // The shadow's checksums are read at every level: they make its content token (the
            // count comes off the same scan for InnoDB tables).
            let here = try parallelSums(theirs, in: shadow, checksum: true, sizes: sizes,
                                        extraConnections: recorded == nil ? 0 : min(2, spareConnections))
            let there = try sourceSums.wait()
            for (i, table) in theirs.enumerated() {
                var (rows, sum) = here[i]
                let (rowsThere, sumThere) = (there[i].rows, there[i].checksum)
                // A count read off the checksum's scan is a fast path: a disagreement is settled
                // by COUNT(*) before it fails the verify.
                if rows != rowsThere { rows = try Self.rowCount(table, in: shadow, on: connection) }
                if rows != rowsThere {
                    throw FerryError(.verifyFailed, "table \(table): \(rowsThere) rows in \(database) on \(source.instanceName), \(rows) in the copy", instance: instanceName)
                }
                if level == .checksum, sum != sumThere {
                    throw FerryError(.verifyFailed, "table \(table): checksum \(sumThere ?? "null") in \(database) on \(source.instanceName), \(sum ?? "null") in the copy", instance: instanceName)
                }
                tables.append(.init(name: table, rows: rows, checksum: level == .checksum ? sum : nil))
            }
            var checksums: [String: String?] = [:]
            for (i, table) in theirs.enumerated() { checksums[table] = here[i].1 }
            return VerifyReport(tables: tables, contentToken: try recordedVerifyToken(of: shadow, checksums: checksums))
        }
    }

    /// `sums` on this connection and `extraConnections` more. A table's `COUNT(*)` and its
    /// `CHECKSUM TABLE` are separate tasks, handed out biggest table first (checksum before count),
    /// so that the biggest table's two scans run at once and no connection is left alone with
    /// both at the end. A table whose checksum scan tells its rows (`scanCountedTables`) has no
    /// count task: one scan instead of two.
    func parallelSums(_ tables: [String], in schema: String, checksum: Bool, counting: Bool = true,
                      sizes known: [(name: String, bytes: Int64)]? = nil, extraConnections: Int) throws -> [(Int64, String?)] {
        let scanCounted = checksum && counting ? try scanCountedTables(schema) : []
        let kinds = (checksum ? [true] : []) + (counting ? [false] : [])
        guard extraConnections > 0, tables.count * kinds.count > 1 else {
            return try Self.sums(tables, in: schema, on: connection, checksum: checksum, counting: counting, scanCounted: scanCounted)
        }
        let sizes = Dictionary(try known ?? tableSizes(schema), uniquingKeysWith: { a, _ in a })
        let byTable = tables.indices.sorted { (sizes[tables[$0]] ?? 0, $1) > (sizes[tables[$1]] ?? 0, $0) }
        let tasks = byTable.flatMap { t in kinds.filter { $0 || !scanCounted.contains(tables[t]) }.map { (t, $0) } }
        let results = ParallelSums(count: tables.count, tasks: tasks)
        var connections = [UncheckedBox(connection)]
        for _ in 0..<min(extraConnections, results.tasks.count - 1) { connections.append(UncheckedBox(try openAnother())) }
        let boxes = connections
        defer { for box in boxes.dropFirst() { box.value.close() } }
        try WorkerPool.shared.forEach(boxes.count) { i in
            let box = boxes[i]
            while let (index, isChecksum) = results.take() {
                do {
                    if isChecksum && scanCounted.contains(tables[index]) {
                        let (rows, sum) = try Self.countAndChecksum(tables[index], in: schema, on: box.value)
                        results.set(index, checksum: sum)
                        results.set(index, rows: rows)
                    } else if isChecksum { results.set(index, checksum: try Self.checksum(tables[index], in: schema, on: box.value)) }
                    else { results.set(index, rows: try Self.rowCount(tables[index], in: schema, on: box.value)) }
                } catch { results.fail(error); return }
            }
        }
        if let error = results.error { throw error }
        return results.values
    }

    /// Row count (unless `counting` is false: -1) and (optionally) `CHECKSUM TABLE` of each table.
    /// The tables in `scanCounted` take their count from the checksum's scan when it tells one.
    static func sums(_ tables: [String], in schema: String, on c: MySQLConnection, checksum: Bool,
                     counting: Bool = true, scanCounted: Set<String> = []) throws -> [(Int64, String?)] {
        try tables.map { table in
            if checksum && counting && scanCounted.contains(table) { return try countAndChecksum(table, in: schema, on: c) }
            return (counting ? try rowCount(table, in: schema, on: c) : -1, checksum ? try Self.checksum(table, in: schema, on: c) : nil)
        }
    }

    /// The tables whose `CHECKSUM TABLE` reads every row once through the handler, so that the
    /// session's `Rows_read` (MariaDB) grows by the row count: InnoDB tables that are not
    /// partitioned (a partitioned table's rows are read below the counter; MyISAM and Aria with
    /// `CHECKSUM=1` answer from a live checksum without a scan). Empty when the server does not
    /// keep `Rows_read` (MySQL).
    func scanCountedTables(_ schema: String) throws -> Set<String> {
        guard try Self.rowsRead(on: connection) != nil else { return [] }
        return Set(try connection.query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = \(connection.literal(schema)) AND TABLE_TYPE = 'BASE TABLE' AND ENGINE = 'InnoDB' AND IFNULL(CREATE_OPTIONS, '') NOT LIKE '%partitioned%'")
            .compactMap { $0[0] }).subtracting(Self.ownTables(in: schema))
    }

    /// `CHECKSUM TABLE` and the rows its scan read: the table's row count, one scan for both.
    /// Nil rows when the counter did not move (an empty table, or a server that answered without
    /// a scan): the caller counts instead.
    static func checksumCountingRows(_ table: String, in schema: String, on c: MySQLConnection) throws -> (String?, Int64?) {
        let before = try rowsRead(on: c)
        let sum = try checksum(table, in: schema, on: c)
        guard let before, let after = try rowsRead(on: c), after > before else { return (sum, nil) }
        return (sum, after - before)
    }

    /// Row count and checksum of a table in `scanCountedTables`: from one scan, or with
    /// `COUNT(*)` when the scan did not tell the rows.
    static func countAndChecksum(_ table: String, in schema: String, on c: MySQLConnection) throws -> (Int64, String?) {
        let (sum, rows) = try checksumCountingRows(table, in: schema, on: c)
        return (try rows ?? rowCount(table, in: schema, on: c), sum)
    }

    /// The session's `Rows_read` status (rows read from tables, temporary ones aside), or nil.
    static func rowsRead(on c: MySQLConnection) throws -> Int64? {
        try c.query("SHOW SESSION STATUS LIKE 'Rows\\_read'").first?[1].flatMap { Int64($0) }
    }

    static func rowCount(_ table: String, in schema: String, on c: MySQLConnection) throws -> Int64 {
        Int64(try c.scalar("SELECT COUNT(*) FROM \(qualified(schema, table))") ?? "") ?? -1
    }

    static func checksum(_ table: String, in schema: String, on c: MySQLConnection) throws -> String? {
        // (On a full disk the server cannot make the temporary table this listing needs: then
        // `CHECKSUM TABLE` alone, as before, which errs to the safe side for such a table.)
        let columns: [[String?]]
        do {
            columns = try c.query("SELECT COLUMN_NAME, DATA_TYPE, EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = \(c.literal(schema)) AND TABLE_NAME = \(c.literal(table)) ORDER BY ORDINAL_POSITION")
        } catch let error as MySQLServerError where error.isDiskFull {
            columns = []
        }
        guard columns.contains(where: { ($0[2] ?? "").uppercased().contains("GENERATED") }) else {
            let statement = "CHECKSUM TABLE \(qualified(schema, table))"
            if let sum = try c.query(statement).first?[1] ?? nil { return sum }
            // `CHECKSUM TABLE` tells a lock it waited for in vain as a warning, with a NULL sum,
            // not as an error: taken for a change of the table's rows (fresh tester round 61, 3:
            // a rollback behind an application's `LOCK TABLES ... WRITE` said "changed after run
            // ... committed"). Thrown as the server's error it is.
            if let waited = try c.query("SHOW WARNINGS").first(where: { $0.count > 2 && $0[1] == "1205" }) {
                throw MySQLServerError(code: 1205, message: waited[2] ?? "Lock wait timeout exceeded", statement: statement)
            }
            return nil
        }
        return try storedColumnsChecksum(table, in: schema, columns: columns, on: c)
    }

    /// The checksum of a table with a generated column (fresh tester round 56, M1: MariaDB
    /// 10.11's `CHECKSUM TABLE` of one differs between servers, after `FLUSH TABLES`, and under
    /// `LOCK TABLES ... READ` or `WRITE`, with the same rows): `g1:COUNT/SUM1/SUM2`, the row
    /// count and two sums over every row of a hash (`CRC32`, and 60 bits, of the row's `MD5`)
    /// of the `MD5`s of its stored columns' values (generated ones follow from those), `N` for
    /// NULL, a `FLOAT` as the `DOUBLE` it is (its text shows 6 digits; round 56, H1: a change
    /// beyond them went unseen), one scan. Each column is hashed on its own, so no row's text
    /// exceeds `max_allowed_packet` (round 56, H1: a row of two 9 MB texts read as NULL,
    /// which the sums skip). `columns`: name, `DATA_TYPE`, `EXTRA` of each column, in order.
    /// (`-0` and `0` of a `FLOAT` or `DOUBLE` read alike.)
    static func storedColumnsChecksum(_ table: String, in schema: String, columns: [[String?]], on c: MySQLConnection) throws -> String? {
        let stored = columns.filter { !($0[2] ?? "").uppercased().contains("GENERATED") }.compactMap { row in
            row[0].map { name in (row[1] ?? "").lowercased() == "float" ? "CAST(\(quoteName(name)) AS DOUBLE)" : quoteName(name) }
        }
        let hashes = stored.isEmpty ? "''" : stored.map { "IFNULL(MD5(\($0)), 'N')" }.joined(separator: ", ")
        let row = "MD5(CONCAT_WS(',', \(hashes)))"
        let sums = try c.query("SELECT COUNT(*), IFNULL(SUM(CRC32(\(row))), 0), IFNULL(SUM(CAST(CONV(LEFT(\(row), 15), 16, 10) AS UNSIGNED)), 0) FROM \(qualified(schema, table))").first ?? []
        guard sums.count == 3, sums.allSatisfy({ $0 != nil }) else { return nil }
        return "g1:" + sums.map { $0 ?? "" }.joined(separator: "/")
    }

    // MARK: Backups

    public var backupFileExtension: String { "sql.gz" }

    public func writeBackup(of database: String, to file: URL, progress: ProgressCounter) throws -> TransferStats {
        try run(.copyError, "cannot back up \(database) on \(instanceName)") {
            try MySQLDumper(session: self, database: database, progress: progress).write(to: file)
        }
    }

    public func restoreBackup(from file: URL, into shadow: String, progress: ProgressCounter) throws -> BuildResult {
        try importData(into: shadow, from: [.file(file.path)], format: .sql, progress: progress)
    }

    public func importData(into shadow: String, from sources: [ImportSource], format: ImportFormat,
                           progress: ProgressCounter) throws -> BuildResult {
        try importData(into: shadow, from: sources, format: format, progress: progress, scanning: true)
    }

    /// The import. `scanning` false sends every statement as the file has it, past
    /// `MySQLImportGuard` (tests only: what the server alone refuses to the import account).
    func importData(into shadow: String, from sources: [ImportSource], format: ImportFormat,
                    progress: ProgressCounter, scanning: Bool) throws -> BuildResult {
        guard format == .sql else {
            throw FerryError(.invalidParameter, "MySQL imports only .sql files, not \(format.rawValue)", instance: instanceName)
        }
        // Every statement runs as an account that holds privileges on the shadow alone (see
        // MySQLImportAccount), so a statement the scanner let through is refused by the server.
        // Views, triggers, routines and events too: they are created with their DEFINER clause
        // removed (defined by the import account, so nothing they run can reach beyond the
        // shadow while the file loads) and events disabled; once every statement ran, each is
        // created again on Ferry's own connection (`admin`) from the server's own `SHOW CREATE`
        // text with the dump's definer put back (`restoreDefiners`). Without CREATE USER:
        // Ferry's connection, scanner only.
        let account = try createImportAccount(for: shadow)
        defer {
            if account != nil {
                _ = try? dropImportAccounts(ofShadow: shadow)
                KillPoint.check("change:import.account.dropped")
            }
        }
        let c = try run(.importError, "cannot open an import connection") {
            try account.map { try connect(as: $0) } ?? openAnother()
        }
        defer { c.close() }
        if let account {
            // Its one session is open: nobody else logs in as the account from here on, whatever
            // password the file may set (a fresh tester logged in beside the import and created
            // objects that Ferry then gave its own definer). A lock applies to new logins only.
            do { try connection.execute("ALTER USER \(account.account) ACCOUNT LOCK") }
            catch let error as MySQLServerError where error.code == 1064 {}   // a server before ACCOUNT LOCK (MariaDB 10.4, MySQL 5.7)
            catch let error as MySQLServerError { throw error.ferry(.importError, "cannot close the import account to logins", instance: instanceName) }
        }
        let admin = try account.map { _ in try run(.importError, "cannot open an import connection") { try openAnother() } }
        defer { admin?.close() }
        // A cancel (SIGINT during apply) breaks the statement off: `KILL QUERY` on a connection of
        // its own (the server stops the statement at once and releases its locks, so the
        // rollback's DROP of the shadow does not wait for it), then the sockets are shut down (the
        // client call returns even if the kill could not be sent).
        let sockets = ([c] + (admin.map { [$0] } ?? [])).map { Int32(truncatingIfNeeded: mysql_get_socket($0.handlePointer)) }
        let threadIDs = ([c] + (admin.map { [$0] } ?? [])).map { mysql_thread_id($0.handlePointer) }
        let session = UncheckedBox(self)
        let cancelID = progress.cancellation?.register {
            if let killer = try? session.value.openAnother() {
                for id in threadIDs { _ = try? killer.execute("KILL QUERY \(id)") }
                killer.close()
            }
            for socket in sockets { _ = Glibc.shutdown(socket, Int32(SHUT_RDWR)) }
        }
        defer { if let cancelID { progress.cancellation?.unregister(cancelID) } }
        try progress.checkCancelled()
        try run(.importError, "cannot use \(shadow)") {
            try c.execute("USE \(quoteName(shadow))")
            try c.execute("SET SESSION unique_checks = 0")
        }
        try run(.importError, "cannot park the events of \(shadow)") { try parkExistingEvents(in: shadow) }
        let version = c.serverVersion
        let dialect = SQLDialect.mysql(version: version)
        let target = try run(.importError, "cannot read the schemas of \(instanceName)") { try importedDatabase(ofShadow: shadow) }
        // Every database of the server: a name chain that starts with one is refused anywhere.
        // Read on Ferry's own connection: the import account sees only the shadow (a fresh
        // tester's `LIKE victim.t` passed while `victim` existed).
        let serverDatabases = try run(.importError, "cannot read the schemas of \(instanceName)") {
            try connection.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA").compactMap { $0[0] }
        }
        // Loadable (UDF) functions installed on the server: a call of one is refused. Unreadable
        // (no SELECT on mysql.func): the well-known names alone.
        let loadableFunctions = (try? connection.query("SELECT name FROM mysql.func").compactMap { $0[0] }) ?? []
        var stats = TransferStats()
        // The definer each object of the file should have (`definerKey`), as its last definition said.
        var definers: [String: MySQLDefinitionText.Definer] = [:]
        // `CURRENT_ROLE()` of Ferry's session, read once when a definition names CURRENT_ROLE.
        var ferryRole: String??
        // The parts are one stream (fresh tester round 31, F3): a statement may go on into the
        // next part, and a dump cut short is refused, never swapped in (round 29, F2).
        let statements = SQLStatementReader(sources: sources, dialect: .mysql)
        var lastRead: Int64 = 0
        // Every statement is checked before it is sent: it runs only inside the shadow, with
        // the dump's own database bound to it (MySQLImportGuard).
        var guardian = MySQLImportGuard(source: "", target: target, shadow: shadow, serverVersion: c.serverVersion,
                                        databases: serverDatabases, loadableFunctions: loadableFunctions)
        do {
            while let statement = try statements.nextStatement() {
                let source = statements.name(ofPart: statement.part)
                guardian.source = source
                let verdict: MySQLImportGuard.Verdict
                do { verdict = scanning ? try guardian.admit(statement.text, line: statement.line) : .run(statement.text) }
                catch let error as FerryError { throw error.placed(address: nil, instance: instanceName) }
                guard case .run(var bytes) = verdict else { continue }
                // Names are read in the client character set the file set (a `mariadb-dump`
                // file makes a latin1 procedure `p_lé` after `SET character_set_client = latin1`,
                // its name in latin1 bytes): from `text`, the statement as UTF-8; its own bytes
                // are what is sent (fresh tester w26, F2: taken for an application's procedure).
                let text = try run(.importError, "cannot read \(source):\(statement.line) in its client character set") {
                    try readableNames(bytes, dialect: dialect, on: c)
                } ?? bytes
                let definition = Self.definesStoredObject(text, serverVersion: version)
                    ? MySQLDefinitionText.definition(in: text, dialect: dialect) : nil
                // The definer the `mariadb` client run by Ferry's user would give the object, when
                // the statement decides it (nil: the object keeps the one it had).
                var definer: MySQLDefinitionText.Definer?
                if let definition {
                    definer = definition.definer ?? (!definition.isAlter || definition.kind == "EVENT" ? .current : nil)
                }
                if account != nil, let definition, let name = definition.name {
                    // As the import account, every definition names that account (DEFINER=CURRENT_USER,
                    // whatever account the file gives), so that what it defines runs with the
                    // shadow's rights alone while the file loads.
                    switch definition.definer {
                    case .currentRole?:
                        // The role Ferry's session has, as the client run by Ferry's user would read it;
                        // none: the statement goes as written and the server refuses it (1446).
                        if ferryRole == nil {
                            ferryRole = .some(try run(.importError, "cannot read the role of Ferry's session") { try connection.scalar("SELECT CURRENT_ROLE()") })
                        }
                        if let role = ferryRole ?? nil, let named = MySQLDefinitionText.replacingDefiner(in: bytes, dialect: dialect, with: .current) {
                            bytes = named
                            definer = .account(user: role, host: nil)
                        }
                    case .some:
                        if let named = MySQLDefinitionText.replacingDefiner(in: bytes, dialect: dialect, with: .current) { bytes = named }
                    case nil where definition.isAlter && definition.kind == "VIEW":
                        // `ALTER VIEW` without DEFINER keeps the view's definer (MariaDB), and the
                        // import account may alter only a view it defines: it names itself, and the
                        // earlier definer is put back after the last statement.
                        definer = try definers[Self.definerKey("VIEW", name)]
                            ?? run(.importError, "cannot read the definer of view \(name) in \(shadow)") { try viewDefiner(name, in: shadow) }
                        if let named = MySQLDefinitionText.replacingDefiner(in: bytes, dialect: dialect, with: .current) { bytes = named }
                    case nil:
                        break
                    }
                }
                // An event is created (or altered) parked: events never run in a shadow.
                var parked: (name: String, renamedTo: String?, status: String?)?
                if definition?.kind == "EVENT", let disabled = MySQLDefinitionText.disablingEvent(bytes, dialect: dialect) {
                    bytes = disabled.bytes
                    // Its names as `text` reads them.
                    let named = text == bytes ? disabled : MySQLDefinitionText.disablingEvent(text, dialect: dialect) ?? disabled
                    if let name = named.name { parked = (name, named.renamedTo, disabled.intended) }
                }
                // The first word, for the statements below (`DROP`, `RENAME`, `CALL`).
                let verb = definition == nil ? Self.firstKeyword(bytes, dialect: dialect) : nil
                var binlogRetry: ((MySQLServerError) throws -> Void)?
                if let account, let admin,
                   definition.map({ ["FUNCTION", "PROCEDURE", "TRIGGER", "PACKAGE"].contains($0.kind) })
                    ?? (verb == "DROP" && MySQLDefinitionText.droppedObjects(in: text, dialect: dialect)?.kind == "TRIGGER") {
                    let sent = bytes, isDefinition = definition != nil
                    binlogRetry = { try self.runRefusedForBinaryLog(sent, isDefinition: isDefinition, shadow: shadow, account: account, importSession: c, admin: admin, refusal: $0) }
                }
                // What the statement makes is listed in the shadow, so that a drop of it can tell an
                // application's table from the file's (tester w2 F4): before it runs, by name, when
                // it is a `CREATE TABLE` / `SEQUENCE` or a definition; else, when it may make
                // something, what appeared in the shadow while it ran.
                //
                // An object counts as the build's only when the build's own statement made it
                // (fresh tester W6-1): a named object already in the shadow and not on the list is
                // someone else's, and the statement is not sent; one absent before is listed, and
                // taken off the list again when the statement failed on, or its `IF NOT EXISTS`
                // found, an object of that name (made there meanwhile). Either way the step stops
                // and the shadow, holding an object its build did not make, is left.
                let named = definition != nil || verb == "CREATE" ? Self.namesMade(by: text, definition: definition, dialect: dialect) : nil
                // A name the server cannot hold (outside the BMP) is refused here, with the file's
                // line, before Ferry's own lookups of it fail on the collation (w12 F12).
                let dropping = verb == "DROP" ? Self.namesDropped(by: text, dialect: dialect)?.entries : nil
                if let problem = (named ?? []).union(dropping ?? []).sorted().lazy
                    .compactMap({ Self.unholdableName(Self.splitEntry($0).name) }).first {
                    throw FerryError(.importError, "\(source):\(statement.line): \(problem)",
                                     hint: "rename it in the file; nothing was changed outside the shadow", instance: instanceName)
                }
                var fresh: Set<String> = []
                if let named, !named.isEmpty {
                    let found = try run(.importError, "cannot read \(shadow)") { try presentEntries(named, in: shadow) }
                    try refuseForeign(found, in: shadow, source: source, line: statement.line, doing: "create")
                    fresh = named.filter { found[$0] == nil }
                    // The statement's own spelling too when the object there is the build's: a
                    // `CREATE OR REPLACE PROCEDURE PÄ` of the build's `pa` leaves it named `PÄ`.
                    try run(.importError, "cannot list what the import makes in \(shadow)") { try recordBuilt(named, in: shadow) }
                }
                // A `DROP` the file sends removes only what the build made (fresh tester W6-2:
                // every mysqldump file drops each table before it creates it); one of nothing
                // there, `IF EXISTS`, is not sent at all.
                var dropped: [String: String] = [:]
                var send = true
                if verb == "DROP", let drop = Self.namesDropped(by: text, dialect: dialect) {
                    dropped = try run(.importError, "cannot read \(shadow)") { try presentEntries(drop.entries, in: shadow) }
                    try refuseForeign(dropped, in: shadow, source: source, line: statement.line, doing: "drop")
                    send = !(dropped.isEmpty && drop.ifExists)
                }
                let before = named == nil && Self.mayCreate(definition: definition != nil, verb: verb, text)
                    ? try run(.importError, "cannot read \(shadow)") { try builtNames(in: shadow) } : nil
                func listMade() throws {
                    guard let before else { return }
                    try run(.importError, "cannot list what the import made in \(shadow)") {
                        try recordBuilt(try builtNames(in: shadow).subtracting(before), in: shadow)
                    }
                }
                do {
                    if send {
                        try runImported(&bytes, text: statement.text, line: statement.line, source: source,
                                        on: c, serverVersion: version, binlogRetry: binlogRetry)
                    }
                } catch {
                    // A statement that failed may have made something first (a procedure's CALL).
                    try? listMade()
                    // A named object absent before, there now, and the statement failed: it was
                    // made meanwhile by someone else (the file's CREATE failed on "already exists").
                    let taken = (try? presentEntries(fresh, in: shadow)) ?? [:]
                    if !taken.isEmpty {
                        try run(.importError, "cannot correct the list of what the import made in \(shadow)") { try unrecordBuilt(Set(taken.keys), in: shadow) }
                        try refuseForeign(taken, in: shadow, source: source, line: statement.line, doing: "create", made: true)
                    }
                    throw error
                }
                try listMade()
                if !fresh.isEmpty, definition?.ifNotExists ?? Self.saysIfNotExists(text, dialect: dialect) {
                    // `IF NOT EXISTS` that found the object: someone else made it meanwhile.
                    let found = try run(.importError, "cannot read the warnings of the import") {
                        try c.query("SHOW WARNINGS").contains { ["1050", "1304", "1359", "1537"].contains($0[1] ?? "") }
                    }
                    if found {
                        let taken = try run(.importError, "cannot read \(shadow)") { try presentEntries(fresh, in: shadow) }
                        try run(.importError, "cannot correct the list of what the import made in \(shadow)") { try unrecordBuilt(fresh, in: shadow) }
                        try refuseForeign(taken.isEmpty ? Dictionary(uniqueKeysWithValues: fresh.map { ($0, $0) }) : taken,
                                          in: shadow, source: source, line: statement.line, doing: "create", made: true)
                    }
                }
                if send, !dropped.isEmpty {
                    // Gone now: a later object of that name is the build's only when its own
                    // statement makes it. Only what is gone (`DROP TABLE IF EXISTS v` of a view
                    // leaves it, with a note).
                    try run(.importError, "cannot correct the list of what the import made in \(shadow)") {
                        let still = try presentEntries(Set(dropped.keys), in: shadow)
                        let gone = dropped.filter { still[$0.key] == nil }
                        try unrecordBuilt(Set(gone.keys).union(gone.values), in: shadow)
                    }
                }
                if let definition, let name = definition.name {
                    let key = Self.definerKey(definition.kind, name)
                    let renamed = parked?.renamedTo.map { Self.definerKey(definition.kind, $0) }
                    if let renamed, let before = definers.removeValue(forKey: key) { definers[renamed] = before }
                    // `IF NOT EXISTS` of an object the file already made changes nothing.
                    if let definer, !(definition.ifNotExists && definers[key] != nil) { definers[renamed ?? key] = definer }
                }
                if account != nil, verb == "RENAME" || verb == "DROP" {
                    // A view renamed keeps its definer; an object dropped leaves no definer behind
                    // (so a later `CREATE ... IF NOT EXISTS` of it counts).
                    if let renames = MySQLDefinitionText.tableRenames(in: text, dialect: dialect) {
                        for (from, to) in renames {
                            if let before = definers.removeValue(forKey: Self.definerKey("VIEW", from)) { definers[Self.definerKey("VIEW", to)] = before }
                        }
                    } else if let dropped = MySQLDefinitionText.droppedObjects(in: text, dialect: dialect) {
                        for name in dropped.names { definers[Self.definerKey(dropped.kind, name)] = nil }
                    }
                }
                if verb == "DROP", let dropped = MySQLDefinitionText.droppedObjects(in: text, dialect: dialect), dropped.kind == "EVENT" {
                    // A dropped event's recorded status goes with it (a later rename in a procedure
                    // is matched against the names that vanished).
                    try run(.importError, "cannot forget the status of a dropped event in \(shadow)") { try forgetParkedEvents(dropped.names, in: shadow) }
                }
                if let parked {
                    try run(.importError, "cannot record the status of event \(parked.name) in \(shadow)") {
                        if let renamedTo = parked.renamedTo { try renameParkedEvent(parked.name, to: renamedTo, in: shadow) }
                        if let status = parked.status { try recordParkedEvent(parked.renamedTo ?? parked.name, status: status, in: shadow, on: connection) }
                    }
                }
                // An event a statement changed other than through its own definition (a procedure
                // the file calls may `ALTER EVENT`, also through PREPARE; a definition this reading
                // did not find) gets the status it now has and is parked again at once. (Triggers
                // and functions cannot alter events, 1422; a routine cannot create one, 1576.)
                if MySQLImportGuard.mayTouchEvent(statement.text) || verb == "CALL" {
                    try run(.importError, "cannot park the events of \(shadow)") {
                        let changed = try settleEvents(in: shadow)
                        // An event a procedure altered has the procedure's runner as its definer.
                        if account != nil, verb == "CALL", !changed.isEmpty, let procedure = Self.calledProcedure(text, dialect: dialect),
                           let runner = try callRunner(of: procedure, in: shadow, definers: definers) {
                            for name in changed { definers[Self.definerKey("EVENT", name)] = runner }
                        }
                    }
                }
                let read = statements.sourceBytesRead
                progress.add(bytes: read - lastRead)
                try progress.checkCancelled()
                stats.bytes += Int64(statement.text.count)
                lastRead = read
            }
        } catch let error as FerryError where statements.cutShort != nil {
            throw error.placed(address: nil, instance: instanceName)
        }
        // And once more at the end, before any definer is put back.
        _ = try run(.importError, "cannot park the events of \(shadow)") { try settleEvents(in: shadow) }
        var receipt = BuildReceipt()
        if let account, let admin {
            let restored = try run(.importError, "cannot give the views, triggers, routines and events of \(shadow) the dump's definers") {
                try restoreDefiners(in: shadow, from: account, to: definers, on: admin)
            }
            for (key, definer) in restored { receipt.detail["definer:" + key] = definer.sql }
        }
        return BuildResult(stats: stats, receipt: receipt)
    }

    /// Throws `ImportError` at `source:line` when `present` (`presentEntries`) names an object of
    /// `shadow` its build did not list (`made`: one the statement found made there while it was
    /// sent): an application's object in the shadow, which the file's statement (`doing`: "create"
    /// or "drop") would fail on, adopt, replace or drop. The statement is not sent (or its object
    /// is off the list); the shadow, holding an object the build did not make, is left by the
    /// rollback (`writesNotFerrys`).
    func refuseForeign(_ present: [String: String], in shadow: String, source: String, line: Int, doing: String, made: Bool = false) throws {
        let foreign = made ? Set(present.values) : try run(.importError, "cannot read what the import made in \(shadow)") { try unlisted(present, in: shadow) }
        guard !foreign.isEmpty else { return }
        let what = doing == "drop" ? "so the file's DROP was not sent" : made ? "made there while the file's statement ran, so the statement did not make it" : "so the file's CREATE was not sent"
        throw FerryError(.importError, "\(source):\(line): \(shadow) on \(instanceName) holds \(naming(foreign, in: shadow)), which the run's build did not make (an application wrote into the shadow), \(what); the shadow is left as it is",
                         hint: "keep what you need from the shadow, drop it yourself, then apply again", instance: instanceName)
    }

    /// Statements that never create a table, view, sequence, routine, trigger or event (their
    /// first word): DML (a trigger or function cannot run DDL), session and transaction
    /// statements, and drops.
    static let neverCreating: Set<String> = ["INSERT", "REPLACE", "UPDATE", "DELETE", "LOAD", "SET", "LOCK", "UNLOCK",
                                             "START", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "USE", "SELECT",
                                             "WITH", "VALUES", "DO", "DROP", "TRUNCATE", "ANALYZE", "OPTIMIZE", "CHECK",
                                             "CHECKSUM", "REPAIR", "FLUSH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "HANDLER"]

    /// Whether an import statement may create something in the shadow (its objects are listed
    /// before and after it): a definition, or any statement whose first word is not in
    /// `neverCreating` (a `SET` only as `SET STATEMENT ... FOR`); `ALTER TABLE ... DISABLE KEYS`
    /// / `ENABLE KEYS` (two in every table of a mysqldump file) are not.
    static func mayCreate(definition: Bool, verb: String?, _ bytes: [UInt8]) -> Bool {
        if definition { return true }
        guard let verb else { return true }
        // `SET STATEMENT var = value FOR CREATE TABLE ...` runs the statement after FOR (the
        // guard refuses it; an import without the guard, tests only, may send it).
        if verb == "SET" { return String(decoding: bytes.prefix(4096), as: UTF8.self).uppercased().contains("STATEMENT") }
        if neverCreating.contains(verb) { return false }
        if verb == "ALTER", bytes.count < 4096 {
            let text = String(decoding: bytes, as: UTF8.self).uppercased()
            if (text.contains("DISABLE KEYS") || text.contains("ENABLE KEYS")) && !text.contains("RENAME")
                && !text.contains("PARTITION") && !text.contains(",") { return false }
        }
        return true
    }

    /// What an import statement makes, by name (`builtNames` entries), read from its text: a
    /// definition that is not an `ALTER` (`VIEW v` as `TABLE v`: one namespace), or `CREATE [OR
    /// REPLACE] TABLE|SEQUENCE [IF NOT EXISTS] [db.]name`. `[]` for a `CREATE TEMPORARY TABLE`
    /// (never in the schema); nil when the text does not tell (the caller reads the shadow instead).
    static func namesMade(by bytes: [UInt8], definition: MySQLDefinitionText.Definition?, dialect: SQLDialect) -> Set<String>? {
        if let definition {
            guard !definition.isAlter, let name = definition.name else { return nil }
            return [builtEntry(kind: definition.kind, name: name)]
        }
        let head = Array(bytes.prefix(1024))
        let t = SQLLexer.tokens(head, dialect: dialect)
        func kw(_ i: Int) -> String? { i < t.count ? SQLLexer.keyword(t[i], in: head) : nil }
        guard kw(0) == "CREATE" else { return nil }
        var i = 1
        if kw(i) == "OR", kw(i + 1) == "REPLACE" { i += 2 }
        if kw(i) == "TEMPORARY" { return [] }
        guard kw(i) == "TABLE" || kw(i) == "SEQUENCE" else { return nil }
        i += 1
        if kw(i) == "IF", kw(i + 1) == "NOT", kw(i + 2) == "EXISTS" { i += 3 }
        guard i < t.count, MySQLDefinitionText.isName(t[i]) else { return nil }
        if i + 2 < t.count, SQLLexer.isPunctuation(t[i + 1], ".", in: head) {
            guard MySQLDefinitionText.isName(t[i + 2]) else { return nil }
            i += 2
        }
        guard let name = SQLLexer.identifier(t[i], in: head) else { return nil }
        return [builtEntry(kind: "TABLE", name: name)]
    }

    /// What an import's `DROP` statement removes, by name (`builtEntry`s, last parts of qualified
    /// names), and whether it says `IF EXISTS`: `DROP TABLE|TABLES|VIEW|SEQUENCE|PROCEDURE|FUNCTION|
    /// TRIGGER|EVENT|PACKAGE [BODY] [IF EXISTS] name [, name ...]`. nil for any other statement, and
    /// for `DROP TEMPORARY TABLE` (never in the schema).
    static func namesDropped(by bytes: [UInt8], dialect: SQLDialect) -> (entries: Set<String>, ifExists: Bool)? {
        let head = Array(bytes.prefix(16384))
        let t = SQLLexer.tokens(head, dialect: dialect)
        func kw(_ i: Int) -> String? { i < t.count ? SQLLexer.keyword(t[i], in: head) : nil }
        guard kw(0) == "DROP", var kind = kw(1) else { return nil }
        var i = 2
        switch kind {
        case "TABLE", "TABLES", "VIEW", "SEQUENCE": kind = "TABLE"
        case "PROCEDURE", "FUNCTION", "TRIGGER", "EVENT": break
        case "PACKAGE":
            if kw(i) == "BODY" { kind = "PACKAGE BODY"; i += 1 }
        default: return nil
        }
        var ifExists = false
        if kw(i) == "IF", kw(i + 1) == "EXISTS" { ifExists = true; i += 2 }
        var names: Set<String> = []
        while i < t.count, MySQLDefinitionText.isName(t[i]) {
            while i + 2 < t.count, SQLLexer.isPunctuation(t[i + 1], ".", in: head), MySQLDefinitionText.isName(t[i + 2]) { i += 2 }
            if let name = SQLLexer.identifier(t[i], in: head) { names.insert(builtEntry(kind: kind, name: name)) }
            i += 1
            guard i < t.count, SQLLexer.isPunctuation(t[i], ",", in: head) else { break }
            i += 1
        }
        return names.isEmpty ? nil : (names, ifExists)
    }

    /// Whether a `CREATE` statement says `IF NOT EXISTS` before its name (within its first words).
    static func saysIfNotExists(_ bytes: [UInt8], dialect: SQLDialect) -> Bool {
        let head = Array(bytes.prefix(2048))
        let t = SQLLexer.tokens(head, dialect: dialect)
        for i in 0..<max(0, min(t.count, 40) - 2)
        where SQLLexer.keyword(t[i], in: head) == "IF" && SQLLexer.keyword(t[i + 1], in: head) == "NOT" && SQLLexer.keyword(t[i + 2], in: head) == "EXISTS" {
            return true
        }
        return false
    }

    /// The procedure a `CALL` statement names (the last part of a qualified name).
    static func calledProcedure(_ bytes: [UInt8], dialect: SQLDialect) -> String? {
        let head = Array(bytes.prefix(1024))
        let t = SQLLexer.tokens(head, dialect: dialect)
        var i = 1
        guard i < t.count, MySQLDefinitionText.isName(t[i]) else { return nil }
        while i + 2 < t.count, SQLLexer.isPunctuation(t[i + 1], ".", in: head), MySQLDefinitionText.isName(t[i + 2]) { i += 2 }
        return SQLLexer.identifier(t[i], in: head)
    }

    /// A statement's first word, read from its first KiB (a multi-megabyte INSERT is not lexed
    /// again), uppercased; nil when there is none there.
    static func firstKeyword(_ bytes: [UInt8], dialect: SQLDialect) -> String? {
        let head = Array(bytes.prefix(1024))
        return SQLLexer.tokens(head, dialect: dialect).first.flatMap { SQLLexer.keyword($0, in: head) }
    }

    /// The key of `definers` and of a receipt's `definer:` entries: `KIND name` (name lowercased:
    /// routine and event names are case-insensitive).
    static func definerKey(_ kind: String, _ name: String) -> String { kind + " " + name.lowercased() }

    /// Creates every view, trigger, routine and event of `shadow` that `account` (the import
    /// account) defines again on `admin` (Ferry's own connection), from the server's own `SHOW
    /// CREATE` text of it with the definer `definers` names for it (`CURRENT_USER`, Ferry's
    /// user, when it names none): only a definition the server accepted inside the shadow is
    /// run, and the shadow's events stay disabled (their intended status stays recorded for the
    /// swap). A table with such a trigger has all its triggers created again, in their order
    /// (each goes last, so the order holds; the others with their own definers: an append
    /// import's clone of the target). Returns the definer given to each object by `definerKey`.
    func restoreDefiners(in shadow: String, from account: MySQLImportAccount,
                         to definers: [String: MySQLDefinitionText.Definer], on admin: MySQLConnection) throws -> [(String, MySQLDefinitionText.Definer)] {
        let dialect = SQLDialect.mysql(version: admin.serverVersion)
        let mine = MySQLDefinitionText.Definer.account(user: account.user, host: account.host)
        var objects: [SchemaObject] = []
        var restored: [(String, MySQLDefinitionText.Definer)] = []
        let all = try self.objects(in: shadow, qualifier: nil, on: admin)
        let tableOf = Dictionary(try admin.query("SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = \(admin.literal(shadow))")
            .compactMap { row in row[0].flatMap { name in row[1].map { (name, $0) } } }, uniquingKeysWith: { a, _ in a })
        func isMine(_ object: SchemaObject) -> Bool {
            MySQLDefinitionText.definition(in: Array(object.ddl.utf8), dialect: dialect)?.definer == mine
        }
        let retriggered = Set(all.filter { $0.kind == "TRIGGER" && isMine($0) }.compactMap { tableOf[$0.name] })
        for var object in all {
            guard isMine(object) else {
                if object.kind == "TRIGGER", let table = tableOf[object.name], retriggered.contains(table) { objects.append(object) }
                continue
            }
            let ddl = Array(object.ddl.utf8)
            let key = Self.definerKey(object.kind, object.name)
            let definer = definers[key] ?? .current
            guard let redefined = MySQLDefinitionText.replacingDefiner(in: ddl, dialect: dialect, with: definer) else {
                throw FerryError(.importError, "cannot read the definition of \(object.kind.lowercased()) \(quoteName(object.name)) in \(shadow)", instance: instanceName)
            }
            object.ddl = String(decoding: redefined, as: UTF8.self)
            objects.append(object)
            restored.append((key, definer))
        }
        guard !objects.isEmpty else { return [] }
        KillPoint.check("change:import.definers")
        try createObjects(objects, in: shadow, parkingEvents: true, on: admin)
        return restored
    }

    /// Sends one admitted import statement on `c` (the import account's connection, or Ferry's
    /// own when the account could not be made). A server error, including a refusal of the
    /// import account's rights (1044, 1142, 1227...), is an ImportError naming `source` and `line`.
    /// `binlogRetry`: what to do instead when the server refuses the statement for its binary log
    /// (1419; `runRefusedForBinaryLog`).
    func runImported(_ bytes: inout [UInt8], text: [UInt8], line: Int, source: String,
                     on c: MySQLConnection, serverVersion version: String, binlogRetry: ((MySQLServerError) throws -> Void)? = nil) throws {
        let describe = String(decoding: text.prefix(200), as: UTF8.self)
        do {
            do {
                try c.execute(bytes: &bytes, describe: describe)
            } catch let error as MySQLServerError where error.code == 1419 && binlogRetry != nil {
                try binlogRetry?(error)
            }
        } catch let error as MySQLServerError {
            let refused = [1044, 1142, 1143, 1227, 1370, 1410].contains(error.code)
            // The server out of space in the file's statement is `DiskFull` (SPEC §8; fresh tester w11 F6).
            throw FerryError(error.isDiskFull ? .diskFull : .importError, "\(source):\(line): \(error.message) (\(error.code))",
                             hint: error.code == 1418 ? "the server logs binary changes and refuses a function that is not declared DETERMINISTIC, NO SQL or READS SQL DATA to every account (the mariadb client gets the same error); declare it so in the file, or set log_bin_trust_function_creators = 1 on the server; the target was not changed"
                                 : error.code == 1419 ? "the server logs binary changes and refuses this routine or trigger to an account without SUPER; Ferry runs such a definition on its own connection only when it names no other database; set log_bin_trust_function_creators = 1 on the server, or remove the qualifier; the target was not changed"
                                 : refused && error.message.contains("__ferry_s_") ? "the server refused the statement starting at line \(line) a right on the import's own database (its shadow): the import runs with the rights Ferry's user holds there; grant Ferry's user that right on databases named like the shadow (`...\\_\\_ferry\\_%`.*), then apply again; the target was not changed"
                                 : error.code == 1227 ? "the statement starting at line \(line) needs a server-wide privilege the account it runs as lacks (named by the server; a DEFINER naming another account needs SET USER or SUPER): grant it to Ferry's user, or change the statement; the target was not changed"
                                 : refused ? "the statement starting at line \(line) reaches outside the import's database and the server refused it; the target was not changed"
                                 : "the statement starting at line \(line) failed; the target was not changed",
                             instance: instanceName, detail: String(decoding: text.prefix(300), as: UTF8.self))
        }
    }

    /// The plan's database a shadow is built for: the name before `__ferry_s_<run>`, or, when
    /// `derivedName` shortened it, the schema on the server that shortens to it ("" when none does).
    func importedDatabase(ofShadow shadow: String) throws -> String {
        guard let marker = shadow.range(of: "__ferry_s_", options: .backwards) else { return "" }
        let prefix = String(shadow[..<marker.lowerBound])
        let run = String(shadow[marker.upperBound...])
        if Self.derivedName(prefix, marker: "s", runID: run) == shadow { return prefix }
        for row in try connection.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA") {
            if let name = row[0], Self.derivedName(name, marker: "s", runID: run) == shadow { return name }
        }
        return ""
    }
}

extension MySQLEngine {
    /// Scans local `.sql` sources as an import into `database` would run them (MySQLImportGuard);
    /// URLs are checked at apply time.
    public func importProblems(in sources: [ImportSource], format: ImportFormat, database: String,
                               serverVersion: String?) -> [FerryError] {
        guard format == .sql else { return [] }
        var guardian = MySQLImportGuard(source: "", target: database, shadow: database + "__ferry_s_plan", serverVersion: serverVersion)
        return SQLStatementReader.firstRefusals(in: sources, dialect: .mysql) { statement, source in
            guardian.source = source
            _ = try guardian.admit(statement.text, line: statement.line)
        }
    }
}

/// A table's row count (-1: not counted) and checksum, as a source's sums job hands them back.
struct SumPair: Sendable {
    var rows: Int64
    var checksum: String?
    init(rows: Int64, checksum: String?) { self.rows = rows; self.checksum = checksum }
    init(_ pair: (Int64, String?)) { self.init(rows: pair.0, checksum: pair.1) }
}

/// The finishing statements of a `finish` step, handed to its connections one at a time.
final class FinishQueue: @unchecked Sendable {
    // Safe: every access holds `lock`.
    private let lock = NSLock()
    private var statements: [String]
    private var next = 0
    private(set) var failure: Error?

    init(_ statements: [String]) { self.statements = statements }

    /// The next statement, or nil when all are taken or one failed.
    func take() -> String? {
        lock.withLock {
            guard failure == nil, next < statements.count else { return nil }
            next += 1
            return statements[next - 1]
        }
    }

    func fail(_ error: Error) { lock.withLock { if failure == nil { failure = error } } }
}

/// Moves a non-Sendable value to one other thread that alone uses it until joined.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Results of `parallelSums`; every access holds `lock`.
final class ParallelSums: @unchecked Sendable {
    let lock = NSLock()
    /// Per table: its row count (-1 until counted, or when not counted) and its checksum.
    private(set) var values: [(Int64, String?)]
    /// Tasks in the order they are handed out: a table's index, and whether it is its checksum
    /// (else its count).
    let tasks: [(Int, Bool)]
    private var next = 0
    private(set) var error: Error?
    init(count: Int, tasks: [(Int, Bool)]) { values = Array(repeating: (-1, nil), count: count); self.tasks = tasks }
    func take() -> (Int, Bool)? {
        lock.lock(); defer { lock.unlock() }
        guard error == nil, next < tasks.count else { return nil }
        next += 1
        return tasks[next - 1]
    }
    func set(_ i: Int, rows: Int64) { lock.lock(); values[i].0 = rows; lock.unlock() }
    func set(_ i: Int, checksum: String?) { lock.lock(); values[i].1 = checksum; lock.unlock() }
    func fail(_ e: Error) { lock.lock(); if error == nil { error = e }; lock.unlock() }
}
