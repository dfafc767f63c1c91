import CSQLite
import FerryCore
import FerryIO
import FerrySQLite
import Foundation
import Testing

/// The applier on real SQLite files: commit, rollback on a failing statement, recovery from a
/// journal left by a run that stopped half way.
@Suite(.serialized) struct ApplierTests {
    final class Workspace {
        let root: String
        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-applier-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: root + "/data", withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: root) }

        var store: StateStore { StateStore(directory: root + "/.ferry") }
        let engines = EngineRegistry([SQLiteEngine()])

        func plan(seed: String = "data/seed.sql") -> Plan {
            var plan = Plan()
            plan.root = root
            plan.instances["a"] = InstanceSpec(name: "a", engine: .sqlite, path: root + "/a")
            plan.instances["b"] = InstanceSpec(name: "b", engine: .sqlite, path: root + "/b")
            plan.imports["seed"] = ImportSpec(name: "seed", into: "a", database: "app", sources: [.file(root + "/" + seed)],
                                              format: .sql, onExisting: .replace)
            plan.copies["c"] = CopySpec(name: "c", from: "a", to: "b", databases: [DatabaseMapping(source: "app", target: "app2")],
                                        onExisting: .replace)
            return plan
        }

        func write(_ path: String, _ text: String) throws {
            try text.write(toFile: root + "/" + path, atomically: true, encoding: .utf8)
        }

        func count(_ path: String) -> Int? {
            var db: OpaquePointer?
            defer { sqlite3_close(db) }
            guard sqlite3_open_v2(root + "/" + path, &db, SQLITE_OPEN_READONLY, nil) == SQLITE_OK else { return nil }
            var statement: OpaquePointer?
            defer { sqlite3_finalize(statement) }
            guard sqlite3_prepare_v2(db, "SELECT count(*) FROM users", -1, &statement, nil) == SQLITE_OK,
                  sqlite3_step(statement) == SQLITE_ROW else { return nil }
            return Int(sqlite3_column_int64(statement, 0))
        }

        /// Plans and applies; returns the outcome and what the reporter printed.
        func apply(_ plan: Plan, keepGoing: Bool = false) throws -> (ApplyOutcome, String) {
            let state = try store.load()
            let facts = Refresher(engines: engines, inspector: SourceFactsInspector()).refresh(plan)
            let result = Planner(plan: plan, facts: facts, state: state, engines: engines).makePlan()
            #expect(!result.hasErrors, "\(result.diagnostics)")
            let lock = try StateLock.acquire(store, operation: "test")
            defer { lock.release() }
            let log = Log()
            let reporter = ApplyReporter(isTerminal: false, palette: Palette(isEnabled: false)) { log.append($0) }
            let applier = Applier(store: store, plan: plan, facts: facts, state: state, result: result, engines: engines,
                                  options: ApplyOptions(keepGoing: keepGoing), reporter: reporter)
            return (applier.run(lock: lock), log.text)
        }
    }

    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var buffer = ""
        func append(_ s: String) { lock.lock(); buffer += s; lock.unlock() }
        var text: String { lock.lock(); defer { lock.unlock() }; return buffer }
    }

    @Test func importAndCopyCommitAndRecordState() throws {
        let ws = try Workspace()
        try ws.write("data/seed.sql", "CREATE TABLE users(id INTEGER PRIMARY KEY, n TEXT);\nINSERT INTO users VALUES (1,'a'),(2,'b');\n")
        let (outcome, log) = try ws.apply(ws.plan())
        #expect(outcome.kind == .committed, "\(log)")
        #expect(ws.count("a/app.db") == 2)
        #expect(ws.count("b/app2.db") == 2)
        let state = try ws.store.load()
        #expect(state.serial == 1)
        #expect(state.resources.keys.sorted() == ["copy.c", "import.seed"])
        // Nothing changed since: the next plan is empty.
        let facts = Refresher(engines: ws.engines, inspector: SourceFactsInspector()).refresh(ws.plan())
        let again = Planner(plan: ws.plan(), facts: facts, state: state, engines: ws.engines).makePlan()
        #expect(!again.hasChanges, "\(again.changes.map { "\($0.address) \($0.action) \($0.reasons)" })")
    }

    @Test func failingStatementRollsBackEveryTarget() throws {
        let ws = try Workspace()
        try ws.write("data/seed.sql", "CREATE TABLE users(id INTEGER PRIMARY KEY, n TEXT);\nINSERT INTO users VALUES (1,'a');\n")
        #expect(try ws.apply(ws.plan()).0.kind == .committed)
        let before = FileManager.default.contents(atPath: ws.root + "/a/app.db")
        try ws.write("data/seed.sql", "CREATE TABLE users(id INTEGER PRIMARY KEY, n TEXT);\nINSERT INTO users VALUES (1,'a');\nINSERT INTO missing VALUES (2);\n")
        let (outcome, log) = try ws.apply(ws.plan())
        #expect(outcome.kind == .rolledBack, "\(log)")
        #expect(outcome.failures.first?.code == .importError)
        #expect(outcome.failures.first?.message.contains("3") == true, "\(outcome.failures)")
        #expect(FileManager.default.contents(atPath: ws.root + "/a/app.db") == before)
        let stray = try FileManager.default.contentsOfDirectory(atPath: ws.root + "/a").filter { $0.hasPrefix(".") && !$0.hasPrefix(".ferry-claims") }
        #expect(stray.isEmpty, "\(stray)")
        #expect(try ws.store.load().serial == 1)
    }

    @Test func recoveryRollsBackAHalfDoneRunFromItsJournal() throws {
        let ws = try Workspace()
        try ws.write("data/seed.sql", "CREATE TABLE users(id INTEGER PRIMARY KEY, n TEXT);\nINSERT INTO users VALUES (1,'a');\n")
        #expect(try ws.apply(ws.plan()).0.kind == .committed)
        let before = FileManager.default.contents(atPath: ws.root + "/a/app.db")
        // A run that built a shadow and swapped it in, then died before committing.
        let runs = RunStore(store: ws.store)
        let runID = RunStore.makeRunID()
        try DurableFile.makeDirectory(runs.directory(of: runID))
        let journal = try JournalWriter(path: runs.journalPath(of: runID))
        let plan = ws.plan()
        let session = try ws.engines.connect(plan.instances["a"]!)
        defer { session.close() }
        try journal.append(JournalRecord(event: .begin, begin: RunBegin(runID: runID, lockID: "gone", instances: plan.instances,
                                                                         claims: [], graph: ActionGraph(actions: []), changes: [],
                                                                         previousRecords: [:], stateSerial: 1)))
        let shadow = try session.makeShadow(for: "app", runID: runID)
        // As the applier journals it: with the file's identity (only that file is dropped).
        try journal.append(JournalRecord(event: .shadowCreated, instance: "a", shadow: shadow, identity: try session.shadowIdentity(of: shadow)))
        try ws.write("data/other.sql", "CREATE TABLE users(id INTEGER PRIMARY KEY, n TEXT);\nINSERT INTO users VALUES (1,'z'),(2,'y');\n")
        _ = try session.importData(into: shadow, from: [.file(ws.root + "/data/other.sql")], format: .sql, progress: ProgressCounter())
        let record = SwapRecord(database: "app", shadow: shadow, checkpoint: session.checkpointName(for: "app", runID: runID), targetExisted: true)
        try journal.append(JournalRecord(event: .swapBegun, instance: "a", swap: record))
        _ = try session.swap(record)
        #expect(FileManager.default.contents(atPath: ws.root + "/a/app.db") != before)

        #expect(runs.interruptedRuns() == [runID])
        #expect(throws: FerryError.self) { try runs.ensureNoInterruptedRun() }
        let reporter = ApplyReporter(isTerminal: false, palette: Palette(isEnabled: false)) { _ in }
        let (recovered, failures) = Recovery(store: ws.store, engines: ws.engines, reporter: reporter).recoverAll(instances: plan.instances)
        #expect(recovered.map(\.runID) == [runID] && recovered.map(\.how) == ["rolled back"] && failures.isEmpty)
        #expect(FileManager.default.contents(atPath: ws.root + "/a/app.db") == before)
        #expect(runs.interruptedRuns().isEmpty)
        let stray = try FileManager.default.contentsOfDirectory(atPath: ws.root + "/a").filter { $0.hasPrefix(".") && !$0.hasPrefix(".ferry-claims") }
        #expect(stray.isEmpty, "\(stray)")
    }

    @Test func settledRunsAreMarkedAndTheirJournalsAreNotReadAgain() throws {
        let ws = try Workspace()
        let runs = RunStore(store: ws.store)
        try ws.write("data/seed.sql", "CREATE TABLE users(id INTEGER PRIMARY KEY, n TEXT);\nINSERT INTO users VALUES (1,'a');\n")
        #expect(try ws.apply(ws.plan()).0.kind == .committed)
        let first = try #require(runs.runIDs().first)
        try ws.write("data/seed.sql", "CREATE TABLE users(id INTEGER PRIMARY KEY, n TEXT);\nINSERT INTO users VALUES (1,'b');\n")
        #expect(try ws.apply(ws.plan()).0.kind == .committed)
        let second = try #require(runs.runIDs().first)
        #expect(first != second)
        // The second run dropped the first one's checkpoints (one run's are kept): the first needs
        // nothing any more, the second still keeps checkpoints for `ferry rollback`.
        #expect(runs.interruptedRuns().isEmpty)
        #expect(runs.isSettled(first))
        #expect(!runs.isSettled(second))
        // The marker is trusted: a journal that would read as interrupted is not read again.
        let begin = try #require(try runs.replay(first).records.first)
        var line = try JSONEncoder.ferryLine.encode(begin)
        line.append(0x0A)
        try line.write(to: URL(fileURLWithPath: runs.journalPath(of: first)))
        #expect(runs.interruptedRuns().isEmpty)
        try FileManager.default.removeItem(atPath: runs.directory(of: first) + "/settled")
        #expect(runs.interruptedRuns() == [first])
    }

    @Test func aRunThatKeepsNoCheckpointsDropsItsOwnOnceWithUniqueSequenceNumbers() throws {
        let ws = try Workspace()
        try ws.write("data/seed.sql", "CREATE TABLE users(id INTEGER PRIMARY KEY, n TEXT);\nINSERT INTO users VALUES (1,'a');\n")
        #expect(try ws.apply(ws.plan()).0.kind == .committed)
        var state = try ws.store.load()
        state.keepCheckpointRuns = 0
        try ws.store.save(state)
        try ws.write("data/seed.sql", "CREATE TABLE users(id INTEGER PRIMARY KEY, n TEXT);\nINSERT INTO users VALUES (1,'b');\n")
        #expect(try ws.apply(ws.plan()).0.kind == .committed)
        let runs = RunStore(store: ws.store)
        let id = try #require(runs.runIDs().first)
        let records = try runs.replay(id).records
        let seqs = records.map(\.seq)
        #expect(Set(seqs).count == seqs.count, "\(records.map { "\($0.seq) \($0.event)" })")
        #expect(records.filter { $0.event == .checkpointsDropped }.count == 1)
        #expect(records.last?.event == .cleaned)
        #expect(runs.interruptedRuns().isEmpty && runs.isSettled(id))
    }

    /// The applier and recovery reach the state only through the backend protocol: on the
    /// in-memory backend a run commits (state, journal, summary in memory), a failing one rolls
    /// back, a half-done one is recovered from its in-memory journal, and no state directory is
    /// ever written.
    @Test func theApplierAndRecoveryWorkOnAnInMemoryBackendAndWriteNoStateDirectory() throws {
        let ws = try Workspace()
        let backend = InMemoryStateBackend(holder: "tester")
        let reporter = ApplyReporter(isTerminal: false, palette: Palette(isEnabled: false)) { _ in }
        func apply(_ plan: Plan) throws -> ApplyOutcome {
            let state = try backend.readState()
            let facts = Refresher(engines: ws.engines, inspector: SourceFactsInspector()).refresh(plan)
            let result = Planner(plan: plan, facts: facts, state: state, engines: ws.engines).makePlan()
            let lease = try backend.acquireLock(operation: "test")
            defer { lease.release() }
            return Applier(backend: backend, plan: plan, facts: facts, state: state, result: result, engines: ws.engines,
                           options: ApplyOptions(), reporter: reporter).run(lock: lease)
        }
        try ws.write("data/seed.sql", "CREATE TABLE users(id INTEGER PRIMARY KEY, n TEXT);\nINSERT INTO users VALUES (1,'a'),(2,'b');\n")
        let first = try apply(ws.plan())
        #expect(first.kind == .committed)
        let state = try backend.readState()
        #expect(state.serial == 1 && state.resources.keys.sorted() == ["copy.c", "import.seed"] && state.lastRunID == first.runID)
        let runID = try #require(first.runID)
        #expect(try backend.replay(runID).isCommitted && backend.journals.summary(of: runID)?.outcome == .committed)
        #expect(backend.lockHolder() == nil)
        // A failing import rolls back through the same backend.
        let before = FileManager.default.contents(atPath: ws.root + "/a/app.db")
        try ws.write("data/seed.sql", "CREATE TABLE users(id INTEGER PRIMARY KEY, n TEXT);\nINSERT INTO missing VALUES (2);\n")
        let failed = try apply(ws.plan())
        #expect(failed.kind == .rolledBack)
        #expect(try backend.replay(try #require(failed.runID)).outcome == .rolledBack)
        #expect(try backend.readState().serial == 1)
        #expect(FileManager.default.contents(atPath: ws.root + "/a/app.db") == before)
        // A run that swapped and died: interrupted once its holder is gone, recovered from memory.
        let plan = ws.plan()
        let dead = try backend.acquireLock(operation: "apply")
        let id = RunStore.makeRunID()
        let journal = try backend.journals.createJournal(for: id)
        try journal.append(JournalRecord(event: .begin, begin: RunBegin(runID: id, lockID: dead.info.id, instances: plan.instances,
                                                                         claims: [], graph: ActionGraph(actions: []), changes: [],
                                                                         previousRecords: [:], stateSerial: 1)))
        let session = try ws.engines.connect(plan.instances["a"]!)
        defer { session.close() }
        let shadow = try session.makeShadow(for: "app", runID: id)
        // As the applier journals it: with the file's identity (only that file is dropped).
        try journal.append(JournalRecord(event: .shadowCreated, instance: "a", shadow: shadow, identity: try session.shadowIdentity(of: shadow)))
        try ws.write("data/other.sql", "CREATE TABLE users(id INTEGER PRIMARY KEY, n TEXT);\nINSERT INTO users VALUES (9,'z');\n")
        _ = try session.importData(into: shadow, from: [.file(ws.root + "/data/other.sql")], format: .sql, progress: ProgressCounter())
        let record = SwapRecord(database: "app", shadow: shadow, checkpoint: session.checkpointName(for: "app", runID: id), targetExisted: true)
        try journal.append(JournalRecord(event: .swapBegun, instance: "a", swap: record))
        _ = try session.swap(record)
        #expect(backend.interruptedRuns().isEmpty, "its holder still runs")
        backend.markGone(dead.info.id)
        #expect(backend.interruptedRuns() == [id])
        #expect(throws: FerryError.self) { try backend.ensureNoInterruptedRun() }
        let (recovered, failures) = Recovery(backend: backend, engines: ws.engines, reporter: reporter).recoverAll(instances: plan.instances)
        #expect(recovered.map(\.how) == ["rolled back"] && failures.isEmpty, "\(failures)")
        #expect(FileManager.default.contents(atPath: ws.root + "/a/app.db") == before)
        #expect(backend.interruptedRuns().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: ws.root + "/.ferry"))
    }
}
