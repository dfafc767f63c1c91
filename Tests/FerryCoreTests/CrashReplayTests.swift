import Foundation
import Testing
@testable import FerryCore

/// A crash right after each journal record of a run, then `ferry recover` in a new process, without
/// a server (issue 18 §2: "replay after a crash at every journal record"): the world ends exactly
/// as it was or exactly as planned, with no shadow left, whichever record the crash followed.
///
/// The crash is made in one process: the state backend counts the run's journal appends, and
/// right after the chosen one the process is "gone": every later append and state write fails
/// and every engine call fails with no effect on the `FakeWorld`. What the run then still tries
/// (its own rollback) changes nothing, as in a killed process. The recovery runs on the same
/// backend storage and world, thawed, as the next `ferry` process would.
@Suite struct CrashReplayTests {
    /// The moment of the crash, shared by the backend's journals and the world.
    final class Crash: @unchecked Sendable {
        // Safe: every field is used under `lock`.
        private let lock = NSLock()
        private var appended = 0
        private let after: Int?
        private(set) var hasCrashed = false
        let world: FakeWorld

        init(after: Int?, world: FakeWorld) {
            self.after = after
            self.world = world
        }

        /// Throws once crashed (the process no longer writes anything).
        func check() throws {
            if lock.withLock({ hasCrashed }) { throw FerryError(.internalError, "the process is gone") }
        }

        /// Counts a durable append; crashes right after the chosen one.
        func appendedOne() {
            let crashNow: Bool = lock.withLock {
                appended += 1
                if appended == after { hasCrashed = true; return true }
                return false
            }
            if crashNow { world.freeze() }
        }

        var appends: Int { lock.withLock { appended } }
    }

    final class CrashingJournal: RunJournal, @unchecked Sendable {
        let inner: any RunJournal
        let crash: Crash
        init(_ inner: any RunJournal, _ crash: Crash) { self.inner = inner; self.crash = crash }
        var runID: String { inner.runID }
        func append(_ record: JournalRecord) throws -> Int {
            try crash.check()
            let seq = try inner.append(record)
            crash.appendedOne()
            return seq
        }
        func records() throws -> [JournalRecord] { try inner.records() }
    }

    final class CrashingJournals: RunJournalStore, @unchecked Sendable {
        let inner: any RunJournalStore
        let crash: Crash
        init(_ inner: any RunJournalStore, _ crash: Crash) { self.inner = inner; self.crash = crash }
        func runIDs() -> [String] { inner.runIDs() }
        func records(of runID: String) throws -> [JournalRecord] { try inner.records(of: runID) }
        func createJournal(for runID: String) throws -> any RunJournal {
            try crash.check()
            return CrashingJournal(try inner.createJournal(for: runID), crash)
        }
        func openJournal(for runID: String) throws -> any RunJournal {
            try crash.check()
            return CrashingJournal(try inner.openJournal(for: runID), crash)
        }
        func removeRun(_ runID: String) throws { try crash.check(); try inner.removeRun(runID) }
        func summary(of runID: String) -> RunSummary? { inner.summary(of: runID) }
        func writeSummary(_ summary: RunSummary) throws { try crash.check(); try inner.writeSummary(summary) }
        func isSettled(_ runID: String) -> Bool { inner.isSettled(runID) }
        func markSettled(_ runID: String) { if (try? crash.check()) != nil { inner.markSettled(runID) } }
        func writeProgress(_ progress: [String: [String: Int64]], of runID: String) {
            if (try? crash.check()) != nil { inner.writeProgress(progress, of: runID) }
        }
        func progress(of runID: String) -> [String: [String: Int64]] { inner.progress(of: runID) }
        func clearProgress(of runID: String) { if (try? crash.check()) != nil { inner.clearProgress(of: runID) } }
    }

    final class CrashingBackend: StateBackend, @unchecked Sendable {
        let inner: InMemoryStateBackend
        let crash: Crash
        let journals: any RunJournalStore
        init(_ inner: InMemoryStateBackend, _ crash: Crash) {
            self.inner = inner
            self.crash = crash
            journals = CrashingJournals(inner.journals, crash)
        }
        var location: String { inner.location }
        func readState() throws -> State { try crash.check(); return try inner.readState() }
        func writeState(_ state: State, expectingSerial expectedSerial: Int) throws -> State {
            try crash.check()
            return try inner.writeState(state, expectingSerial: expectedSerial)
        }
        func acquireLock(operation: String) throws -> any StateLease { try inner.acquireLock(operation: operation) }
        func lockHolder() -> LockInfo? { inner.lockHolder() }
        func forceUnlock(id: String?) throws -> LockRelease { try inner.forceUnlock(id: id) }
    }

    static let reporter = ApplyReporter.silent

    /// Plans and applies `RunOutcomeTests.plan` on a seeded world, crashing after journal append
    /// `after` (nil: no crash); returns the world, the backend storage and the appends made.
    static func run(crashAfter after: Int?) throws -> (world: FakeWorld, backend: InMemoryStateBackend, appends: Int, outcome: ApplyOutcome) {
        let world = FakeWorld()
        world.set("a", "app", rows: ["old a"])
        world.set("b", "app", rows: ["old b"])
        world.set("c", "untouched", rows: ["user data"])
        let engines = EngineRegistry([FakeEngine(world: world)])
        let storage = InMemoryStateBackend()
        let crash = Crash(after: after, world: world)
        let backend = CrashingBackend(storage, crash)
        let plan = RunOutcomeTests.plan
        let state = try backend.readState()
        let facts = Refresher(engines: engines, inspector: FakeInspector()).refresh(plan)
        let result = Planner(plan: plan, facts: facts, state: state, engines: engines).makePlan()
        try #require(!result.hasErrors, "\(result.diagnostics)")
        let lease = try backend.acquireLock(operation: "apply")
        let applier = Applier(backend: backend, plan: plan, facts: facts, state: state, result: result, engines: engines,
                              options: ApplyOptions(parallelism: 2, progressInterval: 60), reporter: reporter)
        let outcome = applier.run(lock: lease)
        lease.release()
        return (world, storage, crash.appends, outcome)
    }

    @Test func aCrashAfterEveryJournalRecordRecoversToAsBeforeOrAsPlanned() throws {
        let baseline = try Self.run(crashAfter: nil)
        #expect(baseline.outcome.exitCode == 0)
        let records = baseline.appends
        #expect(records >= 12, "a run of two resources journals more than \(records) records")
        var endings: [String: Int] = [:]
        for k in 1...records {
            let crashed = try Self.run(crashAfter: k)
            let world = crashed.world
            world.thaw()
            // The next process: `ferry recover` on the same state and instances.
            let engines = EngineRegistry([FakeEngine(world: world)])
            let recovery = Recovery(backend: crashed.backend, engines: engines, reporter: Self.reporter)
            let failures = recovery.recoverAll(instances: RunOutcomeTests.plan.instances).failures
            #expect(failures.isEmpty, "crash after record \(k): \(failures)")
            let snapshot = world.snapshot
            let visible = RunOutcomeTests.userVisible(snapshot)
            let asBefore: [String: [String: [String]]] = ["a": ["app": ["old a"]], "b": ["app": ["old b"]], "c": ["untouched": ["user data"]]]
            let leftovers = snapshot.flatMap { instance, databases in databases.keys.filter { $0.contains("~shadow~") }.map { "\(instance)/\($0)" } }
            #expect(leftovers.isEmpty, "crash after record \(k): shadows left \(leftovers)")
            if visible == RunOutcomeTests.planned {
                endings["as planned", default: 0] += 1
                let state = try crashed.backend.readState()
                #expect(state.resources.count == 2, "crash after record \(k): as planned, but the state records \(state.resources.keys.sorted())")
            } else if snapshot == asBefore {
                endings["as before", default: 0] += 1
                #expect(try crashed.backend.readState().resources.isEmpty, "crash after record \(k): as before, but the state records resources")
            } else {
                Issue.record("crash after record \(k): neither as before nor as planned: \(snapshot)")
            }
            #expect(crashed.backend.interruptedRuns().isEmpty, "crash after record \(k): the run is still interrupted after recover")
            // Nothing is claimed any more: a new run may start.
            for instance in ["a", "b", "c"] {
                #expect(world.claims(of: instance).isEmpty, "crash after record \(k): claims left on \(instance)")
            }
        }
        #expect(endings["as before", default: 0] >= 3 && endings["as planned", default: 0] >= 1, "\(endings)")
    }

    /// Fresh tester w14 F4: a crashed run whose instance `a` is gone for good (every connect is
    /// `InstanceNotFound`, as for a server whose URL is gone) stays pending under `recover`; with
    /// `abandoning: ["a"]` nothing is opened or done on `a` (not one engine call), each step left
    /// there is journaled `abandoned`, `b` is as before, and the run is over (plans work again).
    @Test func abandoningAnInstanceGoneForGoodEndsTheRunWithoutTouchingIt() throws {
        let records = try Self.run(crashAfter: nil).appends
        var abandoned = 0
        for k in 1...records {
            let crashed = try Self.run(crashAfter: k)
            let world = crashed.world
            world.thaw()
            world.inject(.fail(.instanceNotFound), at: "connect:a/")
            let engines = EngineRegistry([FakeEngine(world: world)])
            let recovery = Recovery(backend: crashed.backend, engines: engines, reporter: Self.reporter)
            _ = recovery.recoverAll(instances: RunOutcomeTests.plan.instances)
            guard let id = crashed.backend.interruptedRuns().first else { continue }
            if try crashed.backend.replay(id).hasCommitStarted { continue }
            let aBefore = world.snapshot["a"]
            let callsBefore = world.calls.count
            let failures = recovery.recoverAll(instances: RunOutcomeTests.plan.instances, abandoning: ["a"]).failures
            #expect(!failures.isEmpty && failures.allSatisfy { $0.reason == .abandonedByUser && $0.instance == "a" },
                    "crash after record \(k): \(failures)")
            #expect(crashed.backend.interruptedRuns().isEmpty, "crash after record \(k): the run is over")
            #expect(world.snapshot["a"] == aBefore, "crash after record \(k): nothing done on a")
            #expect(!world.calls.dropFirst(callsBefore).contains { $0.contains(":a/") }, "crash after record \(k): a was not even opened")
            #expect(world.snapshot["b"] == ["app": ["old b"]], "crash after record \(k): b is as before, no shadow left: \(world.snapshot)")
            let journal = try crashed.backend.replay(id)
            #expect(journal.records.contains { $0.event == .abandoned && $0.instance == "a" }, "crash after record \(k): journaled")
            #expect(journal.pendingUndo.isEmpty, "crash after record \(k): \(journal.pendingUndo)")
            // Again: nothing to recover, nothing done.
            #expect(recovery.recoverAll(instances: RunOutcomeTests.plan.instances).failures.isEmpty)
            abandoned += 1
        }
        #expect(abandoned >= 3, "runs left pending by a gone instance: \(abandoned)")
    }
}
