import Foundation
@testable import FerryCore

/// An in-memory engine for testing the run's decisions without a server (issue 18 point 2):
/// instances are dictionaries of databases (name → rows), and any call can be told to fail or
/// to hang until the run is cancelled, rollback calls included. It poses as the `sqlite` kind, so
/// the plans of `Fixture` run on it unchanged.
final class FakeWorld: @unchecked Sendable {
    // Safe: every field is read and written under `lock`.
    /// `hang` waits for the cancel and then fails as `Interrupted`; `hangThenFail` fails with its
    /// own code instead, as an engine whose connection was cut by the cancel does.
    /// `stall` takes that many seconds whatever the cancel (a call that cannot be broken off: a
    /// swap, an undo), then succeeds.
    enum Fault { case fail(ErrorCode), hang, hangThenFail(ErrorCode), stall(Double) }

    private let lock = NSLock()
    private var databases: [String: [String: [String]]] = [:]
    private var claims: [String: [DatabaseClaim]] = [:]
    private var faults: [String: Fault] = [:]
    private(set) var calls: [String] = []

    /// `call` is `name:instance/database` (`build` calls use the shadow's target database).
    func inject(_ fault: Fault, at call: String) { lock.withLock { faults[call] = fault } }
    func clearFaults() { lock.withLock { faults.removeAll() } }

    /// A crashed process: from `freeze()` until `thaw()`, every call fails at once and no change
    /// reaches the world (what a process that is gone can no longer do).
    private var frozen = false
    func freeze() { lock.withLock { frozen = true } }
    func thaw() { lock.withLock { frozen = false } }

    func set(_ instance: String, _ database: String, rows: [String]) {
        lock.withLock { databases[instance, default: [:]][database] = rows }
    }

    func claim(_ instance: String, _ claim: DatabaseClaim) {
        lock.withLock { claims[instance, default: []].append(claim) }
    }

    /// Every database of every instance, for before/after comparisons.
    var snapshot: [String: [String: [String]]] { lock.withLock { databases } }

    func rows(_ instance: String, _ database: String) -> [String]? { lock.withLock { databases[instance]?[database] } }

    /// Records the call, then fails or hangs where a fault says so.
    func enter(_ name: String, _ instance: String, _ database: String, cancellation: CancellationToken? = nil) throws {
        let key = "\(name):\(instance)/\(database)"
        let (fault, isFrozen) = lock.withLock { () -> (Fault?, Bool) in
            if !frozen { calls.append(key) }
            return (faults[key], frozen)
        }
        if isFrozen { throw FerryError(.instanceNotFound, "the process is gone (\(key))", instance: instance) }
        switch fault {
        case .fail(let code)?:
            throw FerryError(code, "injected failure at \(key)", instance: instance)
        case .hang?:
            while cancellation?.isCancelled != true { Thread.sleep(forTimeInterval: 0.01) }
            throw FerryError(.interrupted, "cancelled at \(key)")
        case .hangThenFail(let code)?:
            while cancellation?.isCancelled != true { Thread.sleep(forTimeInterval: 0.01) }
            throw FerryError(code, "Lost connection to server during query (2013) at \(key)", instance: instance)
        case .stall(let seconds)?:
            Thread.sleep(forTimeInterval: seconds)
        case nil:
            break
        }
    }

    func mutate<T>(_ instance: String, _ body: (inout [String: [String]]) throws -> T) rethrows -> T {
        try lock.withLock {
            guard !frozen else { var copy = databases[instance, default: [:]]; return try body(&copy) }
            return try body(&databases[instance, default: [:]])
        }
    }

    func claims(of instance: String) -> [DatabaseClaim] { lock.withLock { claims[instance] ?? [] } }
    func setClaims(_ instance: String, _ list: [DatabaseClaim]) { lock.withLock { if !frozen { claims[instance] = list } } }
}

struct FakeEngine: Engine {
    let world: FakeWorld
    var kind: EngineKind { .sqlite }
    var importFormats: Set<ImportFormat> { [.sql] }
    func problem(withDatabaseName name: String) -> String? { nil }
    func connect(_ target: ConnectionTarget) throws -> any EngineSession {
        try world.enter("connect", target.instance.name, "")
        return FakeSession(world: world, target: target)
    }
}

final class FakeSession: EngineSession {
    let world: FakeWorld
    let target: ConnectionTarget
    var name: String { target.instance.name }

    init(world: FakeWorld, target: ConnectionTarget) {
        self.world = world
        self.target = target
    }

    static func fingerprint(_ rows: [String]) -> String { StableHash.hex(of: rows) }

    func describe(fingerprinting: Set<String>?) throws -> InstanceFacts {
        try world.enter("describe", name, "")
        let dbs = world.snapshot[name] ?? [:]
        var facts: [String: DatabaseFacts] = [:]
        for (db, rows) in dbs where !db.contains("~") {
            facts[db] = DatabaseFacts(name: db, sizeBytes: Int64(rows.joined().utf8.count), fingerprint: Self.fingerprint(rows))
        }
        return InstanceFacts(instance: name, engine: .sqlite, version: "3.40.1", databases: facts, freeBytes: 1 << 40,
                             claims: world.claims(of: name))
    }

    func claim(_ claims: [DatabaseClaim]) throws {
        try world.enter("claim", name, "")
        let held = world.claims(of: name)
        for claim in claims {
            if let other = held.first(where: { $0.database == claim.database && $0.runID != claim.runID }) {
                throw FerryError(.wrongStatus, "\(name)/\(claim.database) is \(other.role.rawValue) by run \(other.runID)", instance: name)
            }
        }
        world.setClaims(name, held + claims)
    }

    func release(runID: String) throws {
        try world.enter("release", name, "")
        world.setClaims(name, world.claims(of: name).filter { $0.runID != runID })
    }

    func databaseExists(_ database: String) throws -> Bool { world.rows(name, database) != nil }

    func makeShadow(for database: String, runID: String) throws -> String {
        try world.enter("makeShadow", name, database)
        let shadow = plannedShadowName(for: database, runID: runID)!
        world.mutate(name) { $0[shadow] = [] }
        return shadow
    }

    func plannedShadowName(for database: String, runID: String) -> String? { "\(database)~shadow~\(runID)" }

    func removeLeftovers(ofRun runID: String, database: String) throws -> [String] {
        try world.enter("removeLeftovers", name, database)
        let shadow = "\(database)~shadow~\(runID)"
        return world.mutate(name) { $0.removeValue(forKey: shadow) == nil ? [] : [shadow] }
    }

    func cloneDatabase(_ database: String, into shadow: String, progress: ProgressCounter) throws {
        try world.enter("clone", name, database, cancellation: progress.cancellation)
        world.mutate(name) { $0[shadow] = $0[database] ?? [] }
    }

    func importData(into shadow: String, from sources: [ImportSource], format: ImportFormat,
                    progress: ProgressCounter) throws -> BuildResult {
        let database = String(shadow.prefix { $0 != "~" })
        try world.enter("build", name, database, cancellation: progress.cancellation)
        let rows = sources.map { "row from \($0.description)" }
        world.mutate(name) { $0[shadow, default: []] += rows }
        return BuildResult(stats: TransferStats(bytes: Int64(rows.joined().utf8.count), rows: Int64(rows.count)))
    }

    func copyData(from source: FakeSession, database: String, into shadow: String,
                  verifying: VerifyLevel, progress: ProgressCounter) throws -> BuildResult {
        let target = String(shadow.prefix { $0 != "~" })
        try world.enter("build", name, target, cancellation: progress.cancellation)
        let rows = world.rows(source.target.instance.name, database) ?? []
        world.mutate(name) { $0[shadow] = rows }
        let receipt = BuildReceipt(tables: [VerifyReport.Table(name: "rows", rows: Int64(rows.count), checksum: Self.fingerprint(rows))])
        return BuildResult(stats: TransferStats(bytes: Int64(rows.joined().utf8.count), rows: Int64(rows.count)), receipt: receipt)
    }

    func verify(shadow: String, against source: FakeSession?, database: String?,
                level: VerifyLevel, receipt: BuildReceipt?) throws -> VerifyReport {
        let target = String(shadow.prefix { $0 != "~" })
        try world.enter("verify", name, target)
        let rows = world.rows(name, shadow) ?? []
        if let source, let database, world.rows(source.target.instance.name, database) != rows {
            throw FerryError(.verifyFailed, "\(shadow) differs from \(database)")
        }
        return VerifyReport(tables: [VerifyReport.Table(name: "rows", rows: Int64(rows.count), checksum: Self.fingerprint(rows))])
    }

    func checkpointName(for database: String, runID: String) -> String { "\(database)~checkpoint~\(runID)" }

    func prepareSwap(_ record: SwapRecord) throws -> SwapRecord {
        try world.enter("prepareSwap", name, record.database)
        return record
    }

    func swap(_ record: SwapRecord) throws -> SwapRecord {
        try world.enter("swap", name, record.database)
        world.mutate(name) { dbs in
            guard let rows = dbs[record.shadow] else { return }
            if let checkpoint = record.checkpoint, let old = dbs[record.database] { dbs[checkpoint] = old }
            dbs[record.database] = rows
            dbs[record.shadow] = nil
        }
        return record
    }

    func undoSwap(_ record: SwapRecord) throws {
        try world.enter("undoSwap", name, record.database)
        world.mutate(name) { dbs in
            // Not swapped yet (the shadow is still there): nothing to undo.
            guard dbs[record.shadow] == nil else { return }
            if record.targetExisted, let checkpoint = record.checkpoint {
                guard let old = dbs[checkpoint] else { return }
                dbs[record.shadow] = dbs[record.database]
                dbs[record.database] = old
                dbs[checkpoint] = nil
            } else if let new = dbs[record.database] {
                dbs[record.shadow] = new
                dbs[record.database] = nil
            }
        }
    }

    func drop(_ database: String) throws {
        try world.enter("drop", name, String(database.prefix { $0 != "~" }))
        _ = world.mutate(name) { $0.removeValue(forKey: database) }
    }

    var backupFileExtension: String { "fake" }

    func writeBackup(of database: String, to file: URL, progress: ProgressCounter) throws -> TransferStats {
        try world.enter("backup", name, database, cancellation: progress.cancellation)
        let rows = world.rows(name, database) ?? []
        try Data(rows.joined(separator: "\n").utf8).write(to: file)
        return TransferStats(bytes: Int64(rows.joined().utf8.count), rows: Int64(rows.count))
    }

    func restoreBackup(from file: URL, into shadow: String, progress: ProgressCounter) throws -> BuildResult {
        let rows = try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map(String.init)
        world.mutate(name) { $0[shadow] = rows }
        return BuildResult(stats: TransferStats(rows: Int64(rows.count)))
    }

    func syncUsers(from source: any EngineSession, mappings: [DatabaseMapping]) throws -> String { "" }
    func undoUserSync(_ undo: String) throws { try world.enter("undoUserSync", name, "") }
    func close() {}
}

struct FakeInspector: SourceInspector {
    func facts(of source: ImportSource) throws -> SourceFacts? {
        SourceFacts(source: source.description, sizeBytes: 10, digest: "d-" + source.description)
    }
}
