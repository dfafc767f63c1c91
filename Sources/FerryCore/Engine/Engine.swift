import Foundation

/// An instance with its password read, ready to connect to. Never printed whole.
public struct ConnectionTarget: Sendable, CustomStringConvertible {
    public var instance: InstanceSpec
    /// The resolved password, if the instance has one.
    public var password: String?
    /// Where the session puts the files it makes and removes again (a client program's stderr, a
    /// dumped schema): the run's scratch directory (`StateBackend.scratchDirectory(of:)`), so a
    /// file a killed run leaves there is removed by `ferry recover`; nil outside a run (the
    /// system's temporary directory). Names made in it start `tmp-` (`ScratchFiles`).
    public var scratchDirectory: String?
    /// Where the session says, while one of its statements waits for a lock another session
    /// holds, that it waits (`LockWaitNotices`); nil: it waits without a word.
    public var lockWaitNotices: LockWaitNotices?

    public init(instance: InstanceSpec, password: String?, scratchDirectory: String? = nil, lockWaitNotices: LockWaitNotices? = nil) {
        self.instance = instance
        self.password = password
        self.scratchDirectory = scratchDirectory
        self.lockWaitNotices = lockWaitNotices
    }

    public var description: String { "\(instance.name) (\(instance.displayLocation))" }
}

/// Where an engine session says that one of its statements has waited, past `after` seconds,
/// for a lock another session holds (an application's `LOCK TABLES`, an open transaction, a
/// DDL), and again every `every` seconds while it waits: "Long work shows progress", and a
/// wait behind someone else's lock is work the user can end (SPEC §6 "Waiting for locks").
/// `say` gets one line of text, without secrets (no statement's text, only its kind and the
/// server's state); called from the session's watch thread.
public struct LockWaitNotices: Sendable {
    public var after: TimeInterval
    public var every: TimeInterval
    public var say: @Sendable (String) -> Void

    public init(after: TimeInterval = 5, every: TimeInterval = 15, say: @escaping @Sendable (String) -> Void) {
        self.after = after
        self.every = every
        self.say = say
    }
}

/// Counts what an action moved, for progress and the run summary.
public struct TransferStats: Sendable, Codable, Hashable {
    public var bytes: Int64
    public var rows: Int64
    /// What a backup file holds, per table (Redis: its keys), counted by `writeBackup` in the
    /// snapshot it wrote; a set's manifest records it and a restore is checked against it
    /// (`EngineSession.differences(ofRestored:from:)`). Nil for every other transfer.
    public var tables: [VerifyReport.Table]?

    public init(bytes: Int64 = 0, rows: Int64 = 0, tables: [VerifyReport.Table]? = nil) {
        self.bytes = bytes
        self.rows = rows
        self.tables = tables
    }
}

/// What verification compared, per table (or key space), for the run's record.
public struct VerifyReport: Sendable, Codable, Hashable {
    public struct Table: Sendable, Codable, Hashable {
        public var name: String
        public var rows: Int64
        public var checksum: String?
        public init(name: String, rows: Int64, checksum: String?) {
            self.name = name
            self.rows = rows
            self.checksum = checksum
        }
    }
    public var tables: [Table]
    /// The shadow's `EngineSession.contentToken`, when the verify read it on the way (nil: it did
    /// not). The core keeps it as what the target holds right after the swap, so an undo can tell
    /// whether anything wrote into the target since.
    public var contentToken: String?
    public init(tables: [Table], contentToken: String? = nil) {
        self.tables = tables
        self.contentToken = contentToken
    }
}

/// What a build step took for the steps after it (engine contract v2): the source's counts and
/// sums read in the copy's own snapshot, and engine detail that `finish` and `verify` need. The
/// core journals it with the build's `stepDone` record and hands it to `finish` and `verify`;
/// nothing of it is kept on the instance. Small by design: a few fields per table.
public struct BuildReceipt: Sendable, Codable, Hashable {
    /// Per table (Redis: per key space), the source's rows and checksum as the copy read them;
    /// nil when the build took none (an import, or a copy built for `verify: none`). A table's
    /// `checksum` is nil when the build counted but did not checksum it.
    public var tables: [VerifyReport.Table]?
    /// Engine facts for `finish` and `verify`, opaque to the core (string keys and values: the
    /// MySQL secondary keys still to add, SQLite's file identity or digest, Redis's key digest).
    public var detail: [String: String]

    public init(tables: [VerifyReport.Table]? = nil, detail: [String: String] = [:]) {
        self.tables = tables
        self.detail = detail
    }

    /// A receipt that records nothing: the verify reads what it compares now.
    public static let empty = BuildReceipt()
}

/// What a build entry point returns: what it moved, and its receipt.
public struct BuildResult: Sendable, Hashable {
    public var stats: TransferStats
    public var receipt: BuildReceipt

    public init(stats: TransferStats, receipt: BuildReceipt = .empty) {
        self.stats = stats
        self.receipt = receipt
    }

    public var bytes: Int64 { stats.bytes }
    public var rows: Int64 { stats.rows }
}

/// What an engine can do and how it names things, read by the core instead of switching on
/// engine kinds (engine contract v2).
public struct EngineCapabilities: Sendable, Hashable {
    /// `users: sync` brings accounts and grants. When false, `usersSyncNote` is the plan's warning.
    public var syncsUsers: Bool
    /// Why `users: sync` does nothing on this engine (a plan warning), when `syncsUsers` is false.
    public var usersSyncNote: String?
    /// The longest name the engine takes for a database (MySQL 64 characters, PostgreSQL 63
    /// bytes); nil when names Ferry derives cannot be too long for it (numbered Redis databases).
    public var identifierLimit: IdentifierLimit?
    /// A copy between two databases of one server can run inside the server (no rows through Ferry).
    public var sameServerFastCopy: Bool
    /// Fingerprints come from metadata (cheap), rather than a read of the data.
    public var cheapFingerprints: Bool
    /// A copy's build leaves work for a `finish` step (MySQL: secondary keys; PostgreSQL: post-data).
    public var finishesCopies: Bool
    /// `users: sync` brings the server's own users (Redis ACL users, which belong to the whole
    /// server): refresh reads them into `InstanceFacts.aclUsers` and the plan warns about a user
    /// the target has with other rules, which is left as it is.
    public var syncsServerUsers: Bool
    /// A swap into a target that does not exist still keeps a checkpoint: the engine's databases
    /// always exist, and the empty one the shadow replaced is kept, marked, until the run's
    /// checkpoints go (Redis's numbered databases). The plan counts it (fresh tester round 35b, F2).
    public var keepsCheckpointOfEmptyTarget: Bool

    public init(syncsUsers: Bool, usersSyncNote: String? = nil, identifierLimit: IdentifierLimit?, sameServerFastCopy: Bool,
                cheapFingerprints: Bool, finishesCopies: Bool, syncsServerUsers: Bool = false,
                keepsCheckpointOfEmptyTarget: Bool = false) {
        self.keepsCheckpointOfEmptyTarget = keepsCheckpointOfEmptyTarget
        self.syncsServerUsers = syncsServerUsers
        self.syncsUsers = syncsUsers
        self.usersSyncNote = usersSyncNote
        self.identifierLimit = identifierLimit
        self.sameServerFastCopy = sameServerFastCopy
        self.cheapFingerprints = cheapFingerprints
        self.finishesCopies = finishesCopies
    }

    /// What the core assumes of an engine that says nothing.
    public static let plain = EngineCapabilities(syncsUsers: false, identifierLimit: nil, sameServerFastCopy: false,
                                                 cheapFingerprints: true, finishesCopies: false)
}

/// How long a name an engine takes: `length` characters, or UTF-8 bytes when `inBytes`.
public struct IdentifierLimit: Sendable, Hashable {
    public var length: Int
    public var inBytes: Bool

    public init(length: Int, inBytes: Bool) {
        self.length = length
        self.inBytes = inBytes
    }

    /// MySQL and MariaDB: 64 characters.
    public static let characters64 = IdentifierLimit(length: 64, inBytes: false)
    /// PostgreSQL: `NAMEDATALEN - 1`, 63 bytes.
    public static let bytes63 = IdentifierLimit(length: 63, inBytes: true)

    /// The size of `text` in this limit's unit.
    public func size(of text: String) -> Int { inBytes ? text.utf8.count : text.count }
}

/// The one rule by which Ferry derives names on an instance (shadows, checkpoints):
/// `<database><suffix>`, and when that is longer than `limit`, the database name's longest
/// prefix that fits (whole characters), `_`, 8 hex digits of `hash` of the full name, then the
/// suffix. The suffix (`__ferry_s_<run>`) always survives whole, so a name and its run can be
/// told from the name alone (`isDerived`).
public enum DerivedName {
    /// The derived name; `limit` nil: never shortened. `hash` gives at least 8 hex digits
    /// (default: FNV-1a 32).
    public static func make(_ database: String, suffix: String, limit: IdentifierLimit?,
                            hash: (String) -> String = fnv1a32) -> String {
        let full = database + suffix
        guard let limit, limit.size(of: full) > limit.length else { return full }
        let tag = "_" + String(hash(database).prefix(8))
        let room = max(0, limit.length - limit.size(of: suffix) - limit.size(of: tag))
        var prefix = ""
        for character in database {
            if limit.size(of: prefix) + limit.size(of: String(character)) > room { break }
            prefix.append(character)
        }
        return prefix + tag + suffix
    }

    /// Whether `name` is one `make` derives with `suffix`, for whatever database.
    public static func isDerived(_ name: String, suffix: String) -> Bool {
        name.count > suffix.count && name.hasSuffix(suffix)
    }

    /// 8 hex digits of FNV-1a 32 of `text`'s UTF-8 bytes.
    public static func fnv1a32(_ text: String) -> String {
        var value: UInt32 = 0x811c_9dc5
        for byte in text.utf8 { value = (value ^ UInt32(byte)) &* 0x0100_0193 }
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }
}

/// Checkpoints of runs without a claim (`InstanceFacts.unclaimedCheckpoints`), for engines whose
/// checkpoints are databases (or schemas) named `<database>__ferry_c_<run part>`.
public enum UnclaimedCheckpoints {
    /// Of `names` (every database or schema on the instance, Ferry's own included), those that
    /// `checkpointName(database, run)` gives for one of `databases` and a run part read from the
    /// name (the text after its last `__ferry_c_`), where none of `claimedRuns` (the runs holding
    /// claims on the instance) gives that name: database → checkpoint names, sorted. A name only
    /// looks like a checkpoint when the engine's own derivation gives it back whole.
    public static func find(among names: [String], beside databases: some Sequence<String>, claimedRuns: some Sequence<String>,
                            checkpointName: (_ database: String, _ runID: String) -> String) -> [String: [String]] {
        let candidates = names.compactMap { name -> (name: String, run: String)? in
            guard let marker = name.range(of: "__ferry_c_", options: .backwards) else { return nil }
            let run = String(name[marker.upperBound...])
            return run.isEmpty ? nil : (name, run)
        }
        guard !candidates.isEmpty else { return [:] }
        let claimed = Array(Set(claimedRuns))
        var found: [String: [String]] = [:]
        for database in Set(databases) where !database.contains("__ferry_") {
            for candidate in candidates where checkpointName(database, candidate.run) == candidate.name
                && !claimed.contains(where: { checkpointName(database, $0) == candidate.name }) {
                found[database, default: []].append(candidate.name)
            }
        }
        return found.mapValues { $0.sorted() }
    }

    /// Whether checkpoint `name`'s run part (the text after its last `__ferry_c_`: the end of
    /// its run's id, as the engines derive it; after the `@` of a numbered database's `N@RUN`:
    /// the whole id) ends one of `runIDs`: a run of that state.
    public static func isOfOneOf(_ runIDs: [String], _ name: String) -> Bool {
        if let at = name.firstIndex(of: "@"), Int(name[..<at]) != nil {
            return runIDs.contains(String(name[name.index(after: at)...]))
        }
        guard let marker = name.range(of: "__ferry_c_", options: .backwards) else { return false }
        let runPart = name[marker.upperBound...]
        return !runPart.isEmpty && runIDs.contains { $0.hasSuffix(runPart) }
    }
}

/// Everything the engine needs to move a shadow into place, and to undo that after a crash.
/// It is journaled before the swap starts, so `undoSwap` must work from it alone, whether the
/// swap finished, half-finished or never started.
public struct SwapRecord: Sendable, Codable, Hashable {
    public var database: String
    public var shadow: String
    /// Where the original goes; nil when the target did not exist.
    public var checkpoint: String?
    public var targetExisted: Bool
    /// Engine-specific facts needed to undo (a marker key, table list...), opaque to the core.
    public var detail: String?
    /// The target's `EngineSession.contentToken` right after the swap (the verified shadow's, or
    /// read after the swap): an undo that finds another token leaves the target as it is, since
    /// something wrote into it after the swap (SPEC §6 "Writes during a run"). Nil: not known.
    public var afterSwapToken: String?
    /// Set on the record journaled once the swap returned (`swapDone`): the swap happened.
    public var swapped: Bool?
    /// The content token the target must still have when `swap` (an append's snapshot token) or
    /// `undoSwap` (the token the core just checked) renames it; nil: no check. An engine that can
    /// hold the target against writers compares it under that hold, closing the gap between
    /// the core's check and the rename (SQLite: the write lock), and throws
    /// `OperationDenied.WrongStatus` when it differs; the others rely on the core's check.
    public var expectedTargetToken: String?
    /// What the engine journaled (`swap(_:journaling:)`, `undoSwap(_:journaling:)`) just before
    /// a change inside this swap or an undo of it that a later pass must know of (MySQL: a
    /// switch of the target's default collation), in order, opaque to the core. The core gives
    /// them back, from the run's own journal, with the record to every later undo of the swap.
    public var notes: [String]?
    /// Set by a swap that finished its rename but found the target written during it, in a
    /// way that leaves the swap short of what was planned (MySQL: an append's target written
    /// between the swap's check and its rename: that write went into the checkpoint): why. The
    /// core journals the swap done, then fails the step, so that the run's rollback judges the
    /// target by its own check for writes since the swap (undone while nothing wrote into it
    /// since the rename, else kept with its checkpoint beside it), never undoing blindly over
    /// writes that landed after the rename (fresh tester round 41, F3: acknowledged rows moved
    /// out of the live database into the shadow).
    public var writtenDuringSwap: String?

    public init(database: String, shadow: String, checkpoint: String?, targetExisted: Bool, detail: String? = nil) {
        self.database = database
        self.shadow = shadow
        self.checkpoint = checkpoint
        self.targetExisted = targetExisted
        self.detail = detail
    }
}

/// A progress counter shared between a worker and the progress reporter.
public final class ProgressCounter: @unchecked Sendable {
    // Safe: every access to the mutable fields holds `lock`.
    private let lock = NSLock()
    private var _bytes: Int64 = 0
    private var _rows: Int64 = 0
    private var _totalBytes: Int64?
    /// The run's cancellation (nil: the work cannot be cancelled). Engines call
    /// `checkCancelled()` between units of work and `whileCancellable` around blocking calls.
    public let cancellation: CancellationToken?

    public init(totalBytes: Int64? = nil, cancellation: CancellationToken? = nil) {
        _totalBytes = totalBytes
        self.cancellation = cancellation
    }

    /// Throws `Interrupted` once the run is cancelled.
    public func checkCancelled() throws { try cancellation?.check() }

    /// Runs `body`; a cancel meanwhile calls `onCancel` (thread-safe only: `sqlite3_interrupt`,
    /// `shutdown` of a socket). Without a token it just runs `body`.
    public func whileCancellable<T>(onCancel: @escaping @Sendable () -> Void, _ body: () throws -> T) throws -> T {
        guard let cancellation else { return try body() }
        return try cancellation.whileRunning(onCancel: onCancel, body)
    }

    public func add(bytes: Int64 = 0, rows: Int64 = 0) {
        lock.lock(); _bytes += bytes; _rows += rows; lock.unlock()
    }

    public func setTotal(bytes: Int64?) {
        lock.lock(); _totalBytes = bytes; lock.unlock()
    }

    public var snapshot: (bytes: Int64, rows: Int64, totalBytes: Int64?) {
        lock.lock(); defer { lock.unlock() }
        return (_bytes, _rows, _totalBytes)
    }
}

/// An engine: the one door through which refresh and apply touch instances. The planner never
/// knows which engine it is talking to.
public protocol Engine: Sendable {
    var kind: EngineKind { get }

    /// What this engine can do and how it names things (the core asks this, never the kind).
    var capabilities: EngineCapabilities { get }

    /// Why this engine cannot hold a database with this name, or nil when it can.
    func problem(withDatabaseName name: String) -> String?

    /// Why no database of this engine can have this name at all (a copy's source: it cannot
    /// exist there), or nil. MySQL / MariaDB: a character outside U+0001 to U+FFFF.
    func problem(withSourceDatabaseName name: String) -> String?

    /// The import formats this engine loads.
    var importFormats: Set<ImportFormat> { get }

    /// Warnings the plan shows for an import into an existing database (Redis: replace overwrites everything).
    func planWarnings(forImportInto database: String, onExisting: OnExisting) -> [String]
    /// Problems found by reading the import's local sources at plan time: statements that would
    /// reach outside the import's own database (SPEC §6, "An import runs only inside its shadow"),
    /// as `ImportError`s naming file and line. `serverVersion` is the target server's version
    /// when known. Sources that cannot be read now (URLs) are checked at apply time instead.
    func importProblems(in sources: [ImportSource], format: ImportFormat, database: String, serverVersion: String?) -> [FerryError]

    /// What the plan says of every import of this engine, existing target or not: what it does
    /// with the sources (Redis: which databases of an RDB file go where, what is not imported).
    func planNotes(for spec: ImportSpec) -> [String]

    /// Opens and authenticates. Throws `InstanceNotFound` or `OperationDenied.WrongPassword` (as `FerryError`).
    func connect(_ target: ConnectionTarget) throws -> any EngineSession

    /// What the plan says of a copy `spec` between two instances of this engine, from the facts
    /// refresh read: errors (severity `.error`: the plan is refused, nothing changes) and
    /// warnings (severity `.warning`, shown under the change). PostgreSQL: extensions the
    /// target lacks, client programs older than a server, sessions that keep a same-server
    /// copy off its TEMPLATE path, roles `users: sync` would create or leave.
    func copyDiagnostics(_ spec: CopySpec, from: InstanceSpec, source: InstanceFacts,
                         to: InstanceSpec, target: InstanceFacts) -> [Diagnostic]

    /// The database, as `InstanceFacts.emptyDatabases` and users name it, that the checkpoint
    /// journaled as `name` (`SwapRecord.checkpoint`, from `EngineSession.checkpointName`) holds
    /// its data in. The default is `name` itself; Redis's `N@RUN` is database `N`.
    func database(ofCheckpoint name: String) -> String
}

extension Engine {
    public var capabilities: EngineCapabilities { .plain }

    public func planWarnings(forImportInto database: String, onExisting: OnExisting) -> [String] { [] }
    public func problem(withSourceDatabaseName name: String) -> String? { nil }
    public func planNotes(for spec: ImportSpec) -> [String] { [] }
    public func copyDiagnostics(_ spec: CopySpec, from: InstanceSpec, source: InstanceFacts,
                                to: InstanceSpec, target: InstanceFacts) -> [Diagnostic] { [] }
    public func importProblems(in sources: [ImportSource], format: ImportFormat, database: String,
                               serverVersion: String?) -> [FerryError] { [] }
    public func database(ofCheckpoint name: String) -> String { name }
}

/// What a copy's plan says beyond its databases and verify level (SPEC §2 copy fields).
public struct CopyOptions: Sendable, Hashable {
    /// PostgreSQL: the ordinary role that owns what the copy makes (else Ferry's user).
    public var owner: String?
    /// The copy brings the source's users and owners once swapped in (`users: "sync"`).
    public var syncsUsers: Bool

    public init(owner: String? = nil, syncsUsers: Bool = false) {
        self.owner = owner
        self.syncsUsers = syncsUsers
    }

    public init(_ spec: CopySpec) { self.init(owner: spec.owner, syncsUsers: spec.users == .sync) }
}

/// What an import's plan says beyond its sources and format (SPEC §2 import fields).
public struct ImportOptions: Sendable, Hashable {
    /// RDB: the one database of the file(s) to load; nil loads every database.
    public var sourceDatabase: Int?
    /// RDB: how keys that two databases of one file both hold combine.
    public var merge: ImportMerge
    /// PostgreSQL: the role that owns what the file creates without an ordinary owner.
    public var owner: String?

    public init(sourceDatabase: Int? = nil, merge: ImportMerge = .error, owner: String? = nil) {
        self.sourceDatabase = sourceDatabase
        self.merge = merge
        self.owner = owner
    }

    public init(_ spec: ImportSpec) {
        self.init(sourceDatabase: spec.sourceDatabase, merge: spec.merge ?? .error, owner: spec.owner)
    }
}

/// One open connection (or directory handle) to an instance. Not thread-safe: each worker opens
/// its own. Every method that changes something is idempotent where the core may call it twice
/// during recovery (`drop`, `undoSwap`, `release`).
public protocol EngineSession: AnyObject {
    var target: ConnectionTarget { get }

    // MARK: Refresh

    /// Version, status, databases with sizes and fingerprints, free storage, claims by other runs.
    /// Fingerprints are needed only for the databases in `fingerprinting` (all when nil); an
    /// engine whose fingerprints cost a read of the data may give the others an empty, inexact one.
    func describe(fingerprinting: Set<String>?) throws -> InstanceFacts

    /// `describe`, told the fingerprint the state recorded for each database it committed here
    /// (`committed`, by database name): an engine that takes a database holding its markers for
    /// another run's may find that such a database still holds exactly what the state committed
    /// there, markers included (keys a user's data brought with it: fresh tester round 35b, F4),
    /// and list it as that data, not as a claim. The default: `describe(fingerprinting:)`.
    func describe(fingerprinting: Set<String>?, committed: [String: String]) throws -> InstanceFacts
    /// Opens an import source this engine reads itself (Redis: a `redis://` server), with the
    /// credentials the import would use, and closes it again, reading nothing: throws what the
    /// import would throw when it is refused (`OperationDenied.WrongPassword`), so that a plan
    /// says so instead of proposing an import that cannot run (fresh tester round 41, F9).
    /// Sources it does not read itself (files, HTTP, object stores) pass. The default: nothing
    /// to open.
    func openImportSource(_ source: ImportSource) throws
    /// The id of the server's current process, which changes at every restart, for an engine
    /// whose `serverIdentity` does not outlive one (Redis: `INFO server` `run_id`, 40 hex
    /// digits; `serverIdentity` nil). A recover that finds another one than the run journaled
    /// goes on (what carries the run's marks is still the run's), but never says "as they were
    /// before" there: what the server held when the run stopped and did not persist is gone
    /// unseen (fresh tester round 38b, M3). The default: nil (not told).
    func serverIncarnation() throws -> String?

    /// `describe(fingerprinting: databases)` for what a run's commit records: the databases'
    /// fingerprints. An engine whose `describe` also searches those databases for Ferry's
    /// markers (its claims, which the commit does not read) may leave that search out here.
    /// The default: `describe`.
    func fingerprints(of databases: Set<String>) throws -> InstanceFacts

    /// Whether an undo of `record` ran to its end, by the engine's own note on the instance (the
    /// run's journal may not say so: one that could not be written). MariaDB: the shadow holds
    /// the note made just before the undo drops the checkpoint it has emptied. The default:
    /// false (no such note).
    func undoFinished(_ record: SwapRecord) throws -> Bool

    /// Whether a shadow left after an undo of its swap shows that undo to a later pass
    /// (MariaDB: its note that the undo used up the checkpoint; PostgreSQL: the run's database
    /// renamed back under the shadow's name). A rollback whose journal cannot record such an undo
    /// then keeps the shadow for `ferry recover` instead of dropping it. The default: false
    /// (the engine's later pass needs no shadow to tell a finished undo).
    var shadowShowsUndo: Bool { get }

    // MARK: Claims (SPEC §3 statuses)

    /// Marks databases as used by a run (source `Migrating`, target `Importing`). Throws
    /// `OperationDenied.WrongStatus` when another run holds any of them.
    func claim(_ claims: [DatabaseClaim]) throws
    /// Releases every claim of a run. Idempotent.
    func release(runID: String) throws
    /// What a run left on the instance (shadows, checkpoints: names as the engine shows them), so
    /// that `ferry unlock --claims` can show it before releasing the run's claims.
    func leftovers(ofRun runID: String) throws -> [String]
    /// Shadows and checkpoints of runs that hold no claim here, by run: what `ferry unlock
    /// --claims` shows where claims end with their process (Redis: a run killed with its state
    /// directory gone left marked databases that no claim names; fresh tester round 70, F3:
    /// "No run holds claims" over a dead run's checkpoint). The default: none (claims that
    /// outlive their process name such runs themselves).
    func leftoversWithoutClaims() throws -> [String: [String]]
    /// Where claims end with their process (Redis): a swap of `record`'s target by another run
    /// after this run's swap, as the instance shows it (that run's checkpoint of the target,
    /// swapped later), said as a clause; nil when none is seen. A recover then restores nothing
    /// over the target until the user chooses (fresh tester round 70, F4: a stale checkout's
    /// recover swapped a later run's committed copy back out, "as they were before"). The
    /// default: nil (claims that outlive their process keep later runs off the target).
    func swappedSinceByAnotherRun(_ record: SwapRecord) throws -> String?
    /// Checkpoints of `database` of runs that hold no claim here (`UnclaimedCheckpoints.find`),
    /// names as the engine shows them: where claims outlive their process (MySQL / MariaDB,
    /// PostgreSQL), a later run that swapped the target after this run's claims were released
    /// keeps one (fresh tester round 72, F4: a `--discard-later-writes` recover restored over a
    /// later run's committed copy and said nothing of it). The default: none known.
    func unclaimedCheckpoints(of database: String) throws -> [String]
    /// Whether run `runID`'s claim on `database` is still recorded here (cleared-as-dead ones
    /// included). Nil (the default) where claims do not outlive their run's process (Redis:
    /// they end with its connection), so nothing can be told. `ferry recover` of a killed run
    /// restores a target only while its claim is still there (round-14 A3).
    func claimHeld(by runID: String, on database: String) throws -> Bool?
    /// Makes `taker` (this process: holder, host, pid, and where its journal is) the holder of
    /// run `runID`'s claims here, only while they still name `expected`'s holder, host and pid:
    /// a compare-and-swap, so that of two `ferry recover` of one run at once (from copies of one
    /// project, whose state locks are two) one takes them and the other finds them taken (fresh
    /// tester round 22, K1). True when taken, false when the run's claims name another holder
    /// now or are gone; nil (the default) where claims end with their connection (Redis).
    func takeOverClaims(ofRun runID: String, from expected: DatabaseClaim, to taker: DatabaseClaim) throws -> Bool?
    /// Where claims end with their holder's connection (Redis): makes this process hold
    /// `claims` (run `runID`'s, naming this process) for the rest of a `ferry recover`, unless
    /// another live process holds claims of that run here; of two that try at once, the one the
    /// server registered first keeps them. True when held, false when another holds them (this
    /// process then holds none); nil (the default) where claims outlive their process and
    /// `takeOverClaims` decides.
    func holdClaims(ofRun runID: String, _ claims: [DatabaseClaim]) throws -> Bool?
    /// Where claims end with their holder's connection (Redis): whether this process still holds
    /// run `runID`'s claims here (its claims connection answers). False once it was closed (a
    /// `CLIENT KILL`, a server timeout, a network cut): another run may have claimed and swapped
    /// the run's targets since, so a recover changes nothing more there (fresh tester round 26,
    /// P1). Nil (the default) where claims outlive their process, or none are held here.
    func claimsStillHeld(ofRun runID: String) -> Bool?
    /// Every claim recorded on the instance, a dead run's that the next `claim` would clear
    /// included (`describe` leaves those out of the facts a plan is built on): what `ferry unlock
    /// --claims` lists (fresh tester round 16, C2: it said "No run holds claims" while a row
    /// was there). The default: `describe`'s claims.
    func recordedClaims() throws -> [DatabaseClaim]

    /// Whether `database` exists now (Redis: holds keys), without fingerprinting anything.
    func databaseExists(_ database: String) throws -> Bool

    // MARK: Building

    /// Refuses, before anything of the shadow is journaled or made, a target where Ferry could
    /// not build, swap or drop its own databases (Redis: the user's ACL rules refuse a command
    /// it needs; fresh tester round 33, F1: refused after `shadowPlanned`, the undo of nothing
    /// needed what was refused and the run stayed interrupted). Default: nothing to check.
    func checkBeforeShadow(for database: String, runID: String) throws
    /// Creates an empty shadow database for `database` and returns its name.
    func makeShadow(for database: String, runID: String) throws -> String
    /// The name `makeShadow(for:runID:)` will give, when the engine can tell it before creating
    /// anything (the core journals it first); nil when the engine picks it at creation (Redis:
    /// an empty numbered database, marked with the run).
    func plannedShadowName(for database: String, runID: String) -> String?
    /// Removes what run `runID` may have left for `database` and can be proved its own: a shadow
    /// named or marked with the run, and files named after that shadow (journal and temporary
    /// files). Never a checkpoint, never anything else. Returns what it removed (for the report).
    /// Idempotent.
    func removeLeftovers(ofRun runID: String, database: String) throws -> [String]
    /// `removeLeftovers(ofRun:database:)` given what the run journaled of its shadow of
    /// `database` (`shadowIdentity`, nil when nothing was): an engine whose shadows carry no mark
    /// (SQLite) removes the shadow's files only while the file at its name is provably the one
    /// the run made (`dropShadow`), and throws `OperationDenied.WrongStatus` naming it otherwise.
    /// The default is `removeLeftovers(ofRun:database:)`.
    func removeLeftovers(ofRun runID: String, database: String, shadowIdentity: String?) throws -> [String]
    /// What tells the shadow `makeShadow` just made from anything made at its name later, when
    /// neither its name nor a mark in it does (SQLite: the file's device, inode and birth time).
    /// The core journals it with `shadowCreated`, right after the shadow is made, and gives it
    /// back to every drop of that shadow. Nil (the default): the engine's shadows carry a mark.
    func shadowIdentity(of shadow: String) throws -> String?
    /// Drops shadow `shadow` of a run (a rollback, `ferry recover`, the clean-up after a commit)
    /// only while it is provably the run's: `identity` is what `shadowIdentity` gave when the
    /// run made it (nil: none was journaled: a kill between the shadow's creation and its
    /// record, or an engine that marks its shadows). Anything else at its name is left as it is:
    /// `OperationDenied.WrongStatus` naming it. The default is `drop(shadow)`, for engines whose
    /// drop proves ownership itself (marks, run-tagged tables).
    func dropShadow(_ shadow: String, identity: String?) throws
    /// Fills `shadow` with a copy of `database` on this instance (the snapshot an `append` import
    /// starts from), finished: nothing is left for a `finish` step.
    func cloneDatabase(_ database: String, into shadow: String, progress: ProgressCounter) throws
    /// Loads import sources, in order, into `shadow`. Errors are `ImportError` naming the source
    /// and line/offset. The receipt carries what the verify checks (Redis: the files' key counts).
    func importData(into shadow: String, from sources: [ImportSource], format: ImportFormat,
                    progress: ProgressCounter) throws -> BuildResult
    /// The same, with the plan's import options; engines without options take the above.
    func importData(into shadow: String, from sources: [ImportSource], format: ImportFormat,
                    options: ImportOptions, progress: ProgressCounter) throws -> BuildResult
    /// Copies `database` from `source` (a session of this same engine: the core checks the kind,
    /// see `copyData(fromAny:...)`) into `shadow` here. `verifying` is the level the verify step
    /// will check: the receipt holds the source's counts (and checksums at `.checksum`) taken in
    /// the copy's own snapshot where the engine can, and what `finish` must still do.
    func copyData(from source: Self, database: String, into shadow: String,
                  verifying: VerifyLevel, progress: ProgressCounter) throws -> BuildResult
    /// The same, with the plan's copy options; engines without options take the above.
    func copyData(from source: Self, database: String, into shadow: String,
                  verifying: VerifyLevel, options: CopyOptions, progress: ProgressCounter) throws -> BuildResult
    /// The work a copy's build left for after the rows are in (MySQL: secondary keys), from its
    /// receipt. Runs as its own step between build and swap, possibly while `verify` runs: it
    /// must leave every row readable. Idempotent where it can be; a no-op when nothing is left.
    func finish(shadow: String, receipt: BuildReceipt, progress: ProgressCounter) throws
    /// Checks `shadow` against `database` on `source` (row counts, and checksums at `.checksum`).
    /// `receipt` is the build's (nil: an older run's journal held none, or a caller without one):
    /// the source's sums from it when it has them, else read from the source now — never a pass
    /// without a check. With no source (imports), checks the shadow's own integrity and what the
    /// receipt says the sources held. Throws `VerifyFailed`.
    func verify(shadow: String, against source: Self?, database: String?,
                level: VerifyLevel, receipt: BuildReceipt?) throws -> VerifyReport

    // MARK: Swapping and rollback

    /// The name the original takes while kept as a checkpoint.
    func checkpointName(for database: String, runID: String) -> String
    /// The record the core journals (`swapBegun`) before it calls `swap`, with what an undo must
    /// know about the swap even when the swap's end is never journaled (a kill inside it): MySQL
    /// adds the views, routines, triggers and events it will put into the target, so that an undo
    /// after a kill tells them from an application's made in the target since (fresh tester W7-4).
    /// Reads only; the default returns `record` as it is.
    func prepareSwap(_ record: SwapRecord) throws -> SwapRecord
    /// Swaps `record.shadow` in as `record.database`, keeping the original as `record.checkpoint`.
    /// Returns the record, possibly with engine detail added; the core journals the record
    /// before calling and the returned one after.
    func swap(_ record: SwapRecord) throws -> SwapRecord
    /// Restores the state before `swap`, from any point of it. Idempotent.
    func undoSwap(_ record: SwapRecord) throws
    /// `swap` and `undoSwap` with `journal`: the engine calls it (the core appends the note to
    /// the run's journal durably, `JournalRecord.Event.swapNoted`) before a change a later pass
    /// must know of even when the instance lost its own note of it, and stops when it throws.
    /// The notes come back in `SwapRecord.notes`. The defaults call the plain ones.
    func swap(_ record: SwapRecord, journaling journal: @escaping (String) throws -> Void) throws -> SwapRecord
    func undoSwap(_ record: SwapRecord, journaling journal: @escaping (String) throws -> Void) throws
    /// What `ferry unlock --claims` says of what run `runID` left that is no leftover to remove
    /// (MySQL: a target in the middle of a swap, whose checkpoint holds its own tables, and a
    /// default collation the run switched), one line each; reads only. The default: nothing.
    func leftoverWarnings(ofRun runID: String) throws -> [String]
    /// What run `runID` left switched on `database` that is no data (MySQL: its default
    /// collation, set for a moment to make a routine, trigger or event as it was made, and not
    /// set back), one line each, said when a rollback leaves the target as it is (`ferry recover
    /// --keep-later-writes`: fresh tester round 16, C3, it finished without naming it). Reads
    /// only. The default: nothing.
    func settingsLeftSwitched(ofRun runID: String, database: String) throws -> [String]
    /// After `undoSwap(record)`: where the database the swap put in place is now when someone
    /// moved it away from the target's name after the swap (PostgreSQL: renamed; the undo then
    /// restored the checkpoint into the free name and left the moved one, the mover's now), so
    /// that the rollback says so instead of leaving it unnamed (fresh tester w5 X6). Nil: it is
    /// not elsewhere (undone normally, dropped, or an engine that cannot tell); reads only.
    func swappedInElsewhere(afterUndoOf record: SwapRecord) throws -> String?
    /// What in the target of `record` the run did not put there and its undo never drops,
    /// even with `--discard-later-writes` (MariaDB: an application's view, routine, trigger,
    /// event or table made or replaced in it since the swap), said as the undo would refuse;
    /// nil when nothing (or an engine whose undo restores over any write). Reads only. A pending
    /// rollback then offers `--keep-later-writes` alone for that target (round-13 F6).
    func madeInSinceSwap(_ record: SwapRecord) throws -> String?
    /// Where the run's own build still is on the instance when its swap is left as it is (the
    /// target dropped during the swap, its checkpoint gone): a phrase naming it, which the
    /// rollback adds to what it says of that target, so that the run's data is not left
    /// unnamed (fresh tester round 12 G4 / round 13 F3 / round 14 A2). Nil when it is not there
    /// or the engine cannot tell what the shadow's name holds (Redis: after a swap it may hold
    /// what the target held). The phrase begins with `Recovery.buildLeftOpening`, by which
    /// `ferry status RUN` finds it again in the journal. Reads only.
    func buildLeft(_ record: SwapRecord) throws -> String?

    /// A swap cut short after its rename whose target the rollback leaves as it is (written
    /// since: `Recovery.cutShortPhrase`): the swap's last steps are done in it, so that the
    /// target holding the run's tables has the run's views, routines, triggers and events too
    /// (fresh tester round 46, H1: MariaDB's target was left without any trigger). Returns the
    /// words that say so, naming any object not made (one of that name made by someone else
    /// since stays theirs), or nil when there is nothing to do. Never drops or replaces anything
    /// but the swap's own witnesses and what the swap noted taking out.
    func finishKeptSwap(_ record: SwapRecord) throws -> String?
    /// An undo cut short after it moved the checkpoint's tables back (stopped by an object an
    /// application made in the target), whose target the rollback now leaves as it is (the user
    /// keeps the later writes): the undo's rest is done around what was made since, so that the
    /// target holding its own tables again has its own views, routines, triggers and events and
    /// none of the run's (fresh tester round 57, H3: they were left out for good). What was made
    /// since stays as it is; one of the target's own whose name it took is not made, stays saved
    /// in the checkpoint, and is named. Returns those words, or nil when there is nothing to do.
    func finishKeptUndo(_ record: SwapRecord) throws -> String?
    /// A swap whose target the rollback leaves as it is, with the checkpoint beside it: words
    /// for rows the checkpoint holds that were written into the target during the swap, after
    /// its check against `expectedTargetToken` and before its rename moved the tables (a kill
    /// freed the swap's hold while its rename waited: fresh tester round 47, H2), or nil when
    /// the checkpoint holds what that check read (or the engine cannot tell). Reads only.
    func checkpointWrittenDuringSwap(_ record: SwapRecord) throws -> String?
    /// A swap cut short before its rename that had taken the target's triggers off its tables
    /// (MariaDB moves no table with a trigger), read before its undo puts them back: words for
    /// the rows that may have been written into those tables meanwhile without firing them,
    /// or nil when it took none off or no row changed since the swap's check (fresh tester
    /// round 47, H3: "as they were before" over rows without their triggers' effects). Reads only.
    func triggersTakenOff(_ record: SwapRecord) throws -> String?
    /// A swap that had taken the target's triggers off its tables, whose undo restores the
    /// target from its checkpoint, read before that undo: words for rows the checkpoint holds
    /// that were written into those tables while the triggers were off (from before the swap's
    /// hold until its rename moved them: a kill freed the hold while the rename waited, fresh
    /// tester round 47, H2), which the restore makes live without their triggers' effects, or
    /// nil when there are none (or the engine cannot tell). Fresh tester round 48, F1: such a
    /// restore said only "restored ... from its checkpoint". Reads only.
    func restoredRowsFiredNone(_ record: SwapRecord) throws -> String?
    /// The rows of `restoredRowsFiredNone`, said of a checkpoint kept beside its target (the
    /// target written since, or kept on purpose): a clause for the kept target's words, or nil.
    /// Fresh tester rounds 64, M1, and 65: rows a killed apply's swap left there were named
    /// nowhere. Reads only.
    func keptCheckpointRowsFiredNone(_ record: SwapRecord) throws -> String?
    /// An undo of `record` cut short after its rename moved the target's own tables back and
    /// before it made the target's own triggers again, read before the pass that finishes it:
    /// words for rows written into those tables since that rename (they fired none of those
    /// triggers), or nil when there are none (or the engine cannot tell). Fresh tester round 61,
    /// 1: a killed rollback's recover said only "restored ... from its checkpoint". Reads only.
    func undoneRowsFiredNone(_ record: SwapRecord) throws -> String?
    /// What would stop `undoSwap(record)` now, one line each (PostgreSQL: other sessions on the
    /// databases it renames, after waiting for them as a swap does; none when the instance lets
    /// Ferry end them). `ferry rollback` asks before its first change and refuses when any.
    func undoSwapBlockers(_ record: SwapRecord) throws -> [String]
    /// Waits until no statement of run `runID` runs on the instance any more, before recovery
    /// judges or changes anything there for that run. A killed Ferry's statement goes on running
    /// on a server that executes it apart from its client (MySQL: a long `RENAME TABLE` of a swap
    /// finishes after the process is gone), so what recovery reads while it runs is not what the
    /// instance will hold. Ends such statements (only those provably the run's) after a bounded
    /// wait, and waits until they are gone. Throws (`OperationDenied.WrongStatus`, nothing
    /// changed) when they are still there after that. Engines whose statements end with their
    /// client (SQLite, a Redis script) do nothing (the default).
    func settleStatements(ofRun runID: String) throws
    /// What tells this server from any other that may answer at its URL later (PostgreSQL: the
    /// cluster's `system_identifier`; MySQL: `server_uuid`, MariaDB its host name and data
    /// directory), read by the refresh into `InstanceFacts.serverIdentity` and journaled with a
    /// run's begin, so that recovery acts only on the server the run wrote to. Nil: the engine
    /// keeps nothing stable across restarts (Redis) or it cannot be read (the default).
    func serverIdentity() throws -> String?
    /// Drops a database (a shadow, or a checkpoint at commit). Idempotent: a missing one is fine.
    func drop(_ database: String) throws
    /// Drops `record`'s kept checkpoint (retention, or a commit's clean-up finished by `ferry
    /// recover`) only while it is the one the swap kept; returns why it was left instead (an
    /// SQLite file made again at its path: fresh tester w14 F1), or nil. The default drops it
    /// by name (`drop`), for engines whose drop proves ownership itself (marks, run tables).
    func dropCheckpoint(_ record: SwapRecord) throws -> String?

    // MARK: Writes by others during a run (SPEC §6)

    /// A token of everything `database` holds now, such that any write into it (rows, keys,
    /// objects, definitions) gives another token, and that does not depend on the database's
    /// name (a shadow and the target it became give one token). Nil when the engine cannot
    /// tell. May read the whole database (MySQL `CHECKSUM TABLE`, PostgreSQL's sums); SQLite's
    /// reads headers only. Throws when the database cannot be read.
    func contentToken(of database: String) throws -> String?
    /// Whether `record`'s swap is in place now: the target holds what the swap put there and no
    /// undo of it has run (an undo that ran but could not be journaled leaves it not in place, and
    /// its token check then must not take the restored original for a write). Read from the
    /// instance alone, like `undoSwap`.
    func swapIsInPlace(_ record: SwapRecord) throws -> Bool
    /// Whether the checkpoint `record` kept (its `checkpoint` name) is still on the instance: a
    /// target a rollback left as it is is named in plans while it is (SPEC §6).
    func checkpointIsThere(_ record: SwapRecord) throws -> Bool
    /// Why what `record`'s target held before the run can no longer be restored although no
    /// undo of the swap has run: its checkpoint is gone (dropped, or renamed, by someone else
    /// after the swap), one line naming it. Nil when the checkpoint is there, when the target
    /// did not exist, when an undo already put it back, or when the engine cannot tell (the
    /// default: the core then judges from its journal, W8-4). Reads only.
    func checkpointGone(_ record: SwapRecord) throws -> String?
    /// True when `swap` is one atomic change (a rename, one transaction, one script), so that a
    /// swap found in place is a finished one even when its end was not journaled (a kill right
    /// after it): the keep check then applies to it too. Multi-step swaps (MySQL) say false.
    var swapIsAtomic: Bool { get }
    /// True when `checkpointGone` tells every gone checkpoint from the instance alone (SQLite by
    /// its files' identities, PostgreSQL by its marks), so that the core does not judge it from
    /// its journal as well: that judgement cannot tell an undo whose `undoBegun` the journal
    /// could not record (a full disk) from a checkpoint dropped by someone (the default: false).
    var tellsGoneCheckpoints: Bool { get }

    // MARK: Backups

    /// The file extension of this engine's backup files (`db`, `sql.gz`, `rdb`).
    var backupFileExtension: String { get }
    /// Writes a consistent backup of `database` to `file`, streamed.
    func writeBackup(of database: String, to file: URL, progress: ProgressCounter) throws -> TransferStats
    /// Loads a backup file this engine wrote into `shadow`; the receipt is for its verify.
    func restoreBackup(from file: URL, into shadow: String, progress: ProgressCounter) throws -> BuildResult
    /// The same, with the plan's copy options; engines without options take the above.
    func restoreBackup(from file: URL, into shadow: String, options: CopyOptions, progress: ProgressCounter) throws -> BuildResult
    /// How a shadow restored from a backup file (its verify's `report`) differs from what the
    /// set's manifest recorded of that file (`BackupSetManifest.Entry.tables`, what `writeBackup`
    /// counted): one line per difference, empty when it holds what was recorded. Default: the
    /// same tables with the same rows (and checksums where both have one).
    func differences(ofRestored report: VerifyReport, from recorded: [VerifyReport.Table]) -> [String]

    // MARK: Users

    /// Brings the users and privileges that reach `mappings`' sources on `source` to this instance,
    /// rewritten for the target names. Returns an opaque undo record for `undoUserSync`.
    func syncUsers(from source: any EngineSession, mappings: [DatabaseMapping]) throws -> String
    /// Removes what `syncUsers` added. Idempotent.
    func undoUserSync(_ undo: String) throws
    /// `syncUsers`, journaling first: works out every account and grant it will create or extend,
    /// passes the undo record of all of them to `journal` (which makes it durable), and only then
    /// changes the server. Returns the same undo record.
    func syncUsers(from source: any EngineSession, mappings: [DatabaseMapping],
                   journal: (String) throws -> Void) throws -> String
    /// `undoUserSync`, reporting what it could not give back and skipped (a grant on a table that
    /// no longer exists): one line each. Throws only for what leaves the accounts not as before.
    func undoUserSyncReporting(_ undo: String) throws -> [String]
    /// What the session's calls since the last take left as it is at a name of the run
    /// because it is not provably the run's (SQLite: a file at a shadow's `-wal`/`-shm`/
    /// `-journal` name, at the checkpoint's name of a swap that never moved anything): one line
    /// each. The core reports each as a note, and never says "as they were" while one was left
    /// (round-11 F3, F8). The default: nothing.
    func takeLeftNotes() -> [String]
    /// What the session's undos since the last take said of rows written into a target they
    /// restored that fired none of its triggers (MariaDB: into a table whose triggers were made
    /// after the undo's rename, not on a gate): one line each. The core reports each as a note
    /// and never says "as before" then (fresh tester round 62, 1). The default: nothing.
    func takeFiredNoneNotes() -> [String]
    /// The swap of `record` provably moved nothing (it stopped before its rename, and nothing
    /// of it is in place): its undo then restores nothing, and is never reported as "restored"
    /// (round-11 F8). The default: false (not known).
    func swapMovedNothing(_ record: SwapRecord) throws -> Bool
    /// The swap of `record` stopped before its one move of the target's data, having taken
    /// only its objects out (MariaDB: views, routines, triggers and events saved in the
    /// checkpoint, the triggers and events left as witnesses): its undo puts those back and is
    /// said so, never "restored from its checkpoint" (fresh tester round 45, L1). Asked before
    /// the undo, of a swap not journaled done. The default: false (not known).
    func swapMovedOnlyObjects(_ record: SwapRecord) throws -> Bool
    /// `swapMovedOnlyObjects`, and the target still holds what that swap left in it (MariaDB:
    /// the run's witness table), so no later swap has moved the target's tables since: its undo
    /// touches nothing but the run's own, whoever holds the claims now (fresh tester round 69,
    /// F1). The default: false (not known).
    func swapLeftOnlyItsWitnesses(_ record: SwapRecord) throws -> Bool
    /// For a swap not journaled done on an engine whose swap takes several steps
    /// (`swapIsAtomic` false): whether the swap got past the step that moved the shadow's rows
    /// into the target (MySQL: its `RENAME TABLE`) and the target's rows have changed since,
    /// judged from the instance alone against `record.afterSwapToken` (what the verify read of
    /// the shadow). Only the rows are compared: a swap cut short after its move has not put
    /// every definition in yet. True: rows were written into the live target after the move,
    /// so the core leaves it as it is, as after a finished swap (fresh tester round 42, L2: an
    /// undo moved them into the shadow). Nil (the default): the move did not happen, an undo
    /// began, no token, or the engine cannot tell; the swap is undone as before. Reads the
    /// whole target (its content token).
    func rowsWrittenSinceUnfinishedSwap(_ record: SwapRecord) throws -> Bool?
    /// What besides a write changes this engine's `contentToken` of a database, in words for a
    /// message ("keys with a TTL expired: ..."), or nil when only writes do. A target kept for a
    /// changed token is then said to have "changed", not "been written" (Redis, F5). The
    /// default: nil.
    var tokenChangesWithoutWrites: String? { get }
    /// Whether `name` still holds the object journaled with `identity` (an identity
    /// `shadowIdentity(of:)` gave): what a run left for the user is announced by plans only
    /// while it is that object, never a file someone made at its name since (round-11 F8).
    /// The default: true (engines whose shadows carry a mark).
    func holdsJournaledObject(_ name: String, identity: String) throws -> Bool

    func close()
}

extension EngineSession {
    public func checkBeforeShadow(for database: String, runID: String) throws {}

    public func plannedShadowName(for database: String, runID: String) -> String? { nil }

    public func claimHeld(by runID: String, on database: String) throws -> Bool? { nil }

    public func takeOverClaims(ofRun runID: String, from expected: DatabaseClaim, to taker: DatabaseClaim) throws -> Bool? { nil }

    public func holdClaims(ofRun runID: String, _ claims: [DatabaseClaim]) throws -> Bool? { nil }

    public func claimsStillHeld(ofRun runID: String) -> Bool? { nil }

    public func removeLeftovers(ofRun runID: String, database: String) throws -> [String] { [] }

    public func removeLeftovers(ofRun runID: String, database: String, shadowIdentity: String?) throws -> [String] {
        try removeLeftovers(ofRun: runID, database: database)
    }

    public func shadowIdentity(of shadow: String) throws -> String? { nil }

    public func dropShadow(_ shadow: String, identity: String?) throws { try drop(shadow) }

    public func undoSwapBlockers(_ record: SwapRecord) throws -> [String] { [] }

    public func prepareSwap(_ record: SwapRecord) throws -> SwapRecord { record }
    public func swap(_ record: SwapRecord, journaling journal: @escaping (String) throws -> Void) throws -> SwapRecord { try swap(record) }
    public func undoSwap(_ record: SwapRecord, journaling journal: @escaping (String) throws -> Void) throws { try undoSwap(record) }
    public func leftoverWarnings(ofRun runID: String) throws -> [String] { [] }
    public func settingsLeftSwitched(ofRun runID: String, database: String) throws -> [String] { [] }

    public func swappedInElsewhere(afterUndoOf record: SwapRecord) throws -> String? { nil }

    public func madeInSinceSwap(_ record: SwapRecord) throws -> String? { nil }

    public func buildLeft(_ record: SwapRecord) throws -> String? { nil }

    public func finishKeptSwap(_ record: SwapRecord) throws -> String? { nil }

    public func finishKeptUndo(_ record: SwapRecord) throws -> String? { nil }

    public func checkpointWrittenDuringSwap(_ record: SwapRecord) throws -> String? { nil }

    public func triggersTakenOff(_ record: SwapRecord) throws -> String? { nil }

    public func restoredRowsFiredNone(_ record: SwapRecord) throws -> String? { nil }

    public func keptCheckpointRowsFiredNone(_ record: SwapRecord) throws -> String? { nil }

    public func undoneRowsFiredNone(_ record: SwapRecord) throws -> String? { nil }

    public func settleStatements(ofRun runID: String) throws {}
    public func serverIdentity() throws -> String? { nil }

    public func contentToken(of database: String) throws -> String? { nil }

    /// Engines that cannot tell say it is (the token check then decides).
    public func swapIsInPlace(_ record: SwapRecord) throws -> Bool { true }

    /// By its name; engines whose checkpoint names are not database names answer themselves.
    public func checkpointIsThere(_ record: SwapRecord) throws -> Bool {
        guard let checkpoint = record.checkpoint else { return false }
        return try databaseExists(checkpoint)
    }

    public var swapIsAtomic: Bool { false }

    public var tellsGoneCheckpoints: Bool { false }

    public func dropCheckpoint(_ record: SwapRecord) throws -> String? {
        guard let checkpoint = record.checkpoint else { return nil }
        try drop(checkpoint)
        return nil
    }

    public func checkpointGone(_ record: SwapRecord) throws -> String? { nil }

    /// For engines whose `syncUsers` changes nothing on the server (SQLite, Redis): the order
    /// does not matter there.
    public func syncUsers(from source: any EngineSession, mappings: [DatabaseMapping],
                          journal: (String) throws -> Void) throws -> String {
        let undo = try syncUsers(from: source, mappings: mappings)
        try journal(undo)
        return undo
    }

    public func undoUserSyncReporting(_ undo: String) throws -> [String] {
        try undoUserSync(undo)
        return []
    }

    public func takeLeftNotes() -> [String] { [] }

    public func takeFiredNoneNotes() -> [String] { [] }

    public func swapMovedNothing(_ record: SwapRecord) throws -> Bool { false }
    public func swapMovedOnlyObjects(_ record: SwapRecord) throws -> Bool { false }
    public func swapLeftOnlyItsWitnesses(_ record: SwapRecord) throws -> Bool { false }
    public func openImportSource(_ source: ImportSource) throws {}
    public func serverIncarnation() throws -> String? { nil }
    public func rowsWrittenSinceUnfinishedSwap(_ record: SwapRecord) throws -> Bool? { nil }
    public var tokenChangesWithoutWrites: String? { nil }

    public func holdsJournaledObject(_ name: String, identity: String) throws -> Bool { true }

    /// Engines that cannot tell answer "nothing known".
    public func leftovers(ofRun runID: String) throws -> [String] { [] }

    public func leftoversWithoutClaims() throws -> [String: [String]] { [:] }

    public func swappedSinceByAnotherRun(_ record: SwapRecord) throws -> String? { nil }

    public func unclaimedCheckpoints(of database: String) throws -> [String] { [] }

    public func recordedClaims() throws -> [DatabaseClaim] { try describe(fingerprinting: []).claims }

    public func describe(fingerprinting: Set<String>?, committed: [String: String]) throws -> InstanceFacts {
        try describe(fingerprinting: fingerprinting)
    }

    public func fingerprints(of databases: Set<String>) throws -> InstanceFacts { try describe(fingerprinting: databases) }

    public func undoFinished(_ record: SwapRecord) throws -> Bool { false }

    public var shadowShowsUndo: Bool { false }

    /// Nothing to finish (engines whose builds leave no work).
    public func finish(shadow: String, receipt: BuildReceipt, progress: ProgressCounter) throws {}

    /// `source` as a session of this engine, or `CopyError` when it is another engine's. The one
    /// place a session is checked for its kind (engines see their own type only).
    public func sameKind(_ source: any EngineSession) throws -> Self {
        guard let typed = source as? Self else {
            throw FerryError(.copyError, "\(source.target.instance.name) is a \(source.target.instance.engine.rawValue) instance; \(target.instance.name) copies only from its own engine",
                             instance: target.instance.name)
        }
        return typed
    }

    /// `copyData` for a source the core holds as any session (checked by `sameKind`).
    public func copyData(fromAny source: any EngineSession, database: String, into shadow: String,
                         verifying: VerifyLevel = .checksum, options: CopyOptions = CopyOptions(),
                         progress: ProgressCounter) throws -> BuildResult {
        try copyData(from: try sameKind(source), database: database, into: shadow, verifying: verifying, options: options, progress: progress)
    }

    public func copyData(from source: Self, database: String, into shadow: String,
                         verifying: VerifyLevel, options: CopyOptions, progress: ProgressCounter) throws -> BuildResult {
        try copyData(from: source, database: database, into: shadow, verifying: verifying, progress: progress)
    }

    public func restoreBackup(from file: URL, into shadow: String, options: CopyOptions, progress: ProgressCounter) throws -> BuildResult {
        try restoreBackup(from: file, into: shadow, progress: progress)
    }

    public func differences(ofRestored report: VerifyReport, from recorded: [VerifyReport.Table]) -> [String] {
        BackupSetManifest.differences(of: report.tables, from: recorded)
    }

    /// `verify` for a source the core holds as any session (checked by `sameKind`).
    public func verify(shadow: String, againstAny source: (any EngineSession)?, database: String?,
                       level: VerifyLevel, receipt: BuildReceipt?) throws -> VerifyReport {
        try verify(shadow: shadow, against: try source.map(sameKind), database: database, level: level, receipt: receipt)
    }

    /// `verify` without a receipt: whatever it compares is read now.
    public func verify(shadow: String, against source: Self?, database: String?, level: VerifyLevel) throws -> VerifyReport {
        try verify(shadow: shadow, against: source, database: database, level: level, receipt: nil)
    }

    /// A copy to be verified at the strictest level.
    public func copyData(from source: Self, database: String, into shadow: String,
                         progress: ProgressCounter) throws -> BuildResult {
        try copyData(from: source, database: database, into: shadow, verifying: .checksum, progress: progress)
    }

    /// Every database with its fingerprint.
    public func describe() throws -> InstanceFacts { try describe(fingerprinting: nil) }

    public func importData(into shadow: String, from sources: [ImportSource], format: ImportFormat,
                           options: ImportOptions, progress: ProgressCounter) throws -> BuildResult {
        try importData(into: shadow, from: sources, format: format, progress: progress)
    }

    /// The general answer, through `describe`; engines answer more cheaply where they can.
    public func databaseExists(_ database: String) throws -> Bool {
        try describe(fingerprinting: []).database(database) != nil
    }
}

/// The engines Ferry was built with, by kind.
public struct EngineRegistry: Sendable {
    private var engines: [EngineKind: any Engine]
    /// How backup set files are digested (`sha256:<hex>`): libcrypto's, handed in by the
    /// executable. Without one, sets are written without digests and read with size checks only.
    public let fileDigest: FileDigest?
    /// Given to every session `connect` opens (`ConnectionTarget.lockWaitNotices`).
    public let lockWaitNotices: LockWaitNotices?

    public init(_ engines: [any Engine], fileDigest: FileDigest? = nil, lockWaitNotices: LockWaitNotices? = nil) {
        self.engines = Dictionary(engines.map { ($0.kind, $0) }, uniquingKeysWith: { first, _ in first })
        self.fileDigest = fileDigest
        self.lockWaitNotices = lockWaitNotices
    }

    public func engine(for kind: EngineKind) -> (any Engine)? { engines[kind] }

    /// The capabilities of the engine of `kind`; `.plain` for one not built in.
    public func capabilities(of kind: EngineKind) -> EngineCapabilities { engines[kind]?.capabilities ?? .plain }

    /// Opens a session to an instance, resolving its password; `scratchDirectory` as
    /// `ConnectionTarget.scratchDirectory`.
    public func connect(_ instance: InstanceSpec, scratchDirectory: String? = nil) throws -> any EngineSession {
        guard let engine = engines[instance.engine] else {
            throw FerryError(.invalidParameter, "engine \(instance.engine.rawValue) is not built into this ferry",
                             instance: instance.name)
        }
        let password = try instance.password?.resolve()
        do {
            return try engine.connect(ConnectionTarget(instance: instance, password: password, scratchDirectory: scratchDirectory,
                                                       lockWaitNotices: lockWaitNotices))
        } catch let error as FerryError {
            throw error.placed(address: nil, instance: instance.name)
        }
    }
}
