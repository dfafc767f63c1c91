import Foundation
import Testing
@testable import FerryCore

/// The Applier as the RunMachine's driver (issue 18 §2), on the in-memory `FakeEngine`: a second
/// Ctrl-C reaches the machine as `interruptedAgain` wherever the driver is (waiting for steps that
/// cannot be broken off, in a rollback), and a lost lease is fed whether it comes before or after
/// an interrupt. Each test checks what the journal and the world hold afterwards, and that
/// `ferry recover` (`Recovery.recoverAll`) then ends the run as before.
@Suite(.serialized) struct ApplierDriverTests {
    typealias Harness = RunOutcomeTests.Harness

    static func journal(_ h: Harness, _ runID: String?) throws -> [JournalRecord.Event] {
        try LocalStateBackend(store: h.store).journals.records(of: try #require(runID)).map(\.event)
    }

    /// A lease that can be lost on demand (`ferry unlock --force`, a server backend's connection).
    final class LosableLease: StateLease, @unchecked Sendable {
        // Safe: `lost` is read and written under `lock`.
        let inner: any StateLease
        private let lock = NSLock()
        private var lost = false
        init(_ inner: any StateLease) { self.inner = inner }
        func lose() { lock.withLock { lost = true } }
        var info: LockInfo { inner.info }
        func checkHeld() throws {
            if lock.withLock({ lost }) { throw FerryError(.stateLocked, "the state lock was removed (test)") }
            try inner.checkHeld()
        }
        func release() { inner.release() }
    }

    /// A second Ctrl-C while a step that cannot be broken off runs (4 s): the run ends at once
    /// (long before the step), exit 4, nothing undone, and the journal has no record after the
    /// signal (no rollback begun, no step's end), even once the step ends on its pool thread.
    @Test func aSecondInterruptWhileAStepCannotBeBrokenOffEndsTheRunAtOnce() throws {
        let h = try RunOutcomeTests.seeded()
        let before = h.world.snapshot
        let started = Date()
        let outcome = try h.apply(RunOutcomeTests.plan, faults: [(.stall(4), "build:a/app")], cancelAfter: 0.3, abandonAfter: 0.6)
        let took = Date().timeIntervalSince(started)
        #expect(outcome.stoppedAtOnce && outcome.exitCode == 4 && outcome.interrupted, "\(outcome)")
        #expect(took < 3, "took \(took)s: the driver waited for the step")
        let events = try Self.journal(h, outcome.runID)
        #expect(!events.contains(.rollbackBegun) && !events.contains(.rolledBack), "\(events)")
        // The stalled step ends meanwhile: its records are refused, its run stays interrupted.
        Thread.sleep(forTimeInterval: 4.5)
        #expect(try Self.journal(h, outcome.runID) == events, "a record was written after the second signal")
        #expect(LocalStateBackend(store: h.store).interruptedRuns() == [outcome.runID!])
        #expect(h.recover(RunOutcomeTests.plan).isEmpty)
        #expect(h.world.snapshot == before, "recover rolled it back")
    }

    /// A second Ctrl-C during the rollback the first one started: the undo in hand (stalled
    /// 1.5 s) ends, no further undo step runs, the rollback's end is not recorded, exit 4.
    @Test func aSecondInterruptDuringTheRollbackStopsItAtItsNextStep() throws {
        let h = try RunOutcomeTests.seeded()
        let before = h.world.snapshot
        // The run fails at the copy's verify, after import.seed swapped a/app in: the rollback
        // first drops the copy's shadow (stalled), then would undo the swap of a/app.
        let outcome = try h.apply(RunOutcomeTests.plan, faults: [(.fail(.copyError), "verify:b/app"), (.stall(1.5), "undoSwap:a/app")],
                                  abandonAfter: 0.5)
        #expect(outcome.stoppedAtOnce && outcome.exitCode == 4, "\(outcome)")
        let events = try Self.journal(h, outcome.runID)
        #expect(events.contains(.rollbackBegun) && !events.contains(.rolledBack), "\(events)")
        #expect(!h.world.calls.contains { $0.hasPrefix("release:") }, "the claims are left for recover: \(h.world.calls)")
        #expect(h.recover(RunOutcomeTests.plan).isEmpty)
        #expect(h.world.snapshot == before)
    }

    /// Both signals while the claims are taken (a connect that waits): no step starts, the run
    /// ends through the machine (exit 4), and `ferry recover` releases what the claims took.
    @Test func aSecondInterruptDuringTheClaimsStartsNothing() throws {
        let h = try RunOutcomeTests.seeded()
        let before = h.world.snapshot
        let outcome = try h.apply(RunOutcomeTests.plan, faults: [(.stall(1.5), "claim:a/")], cancelAfter: 0.2, abandonAfter: 0.4)
        #expect(outcome.stoppedAtOnce && outcome.exitCode == 4, "\(outcome)")
        #expect(!h.world.calls.contains { $0.hasPrefix("build:") || $0.hasPrefix("makeShadow:") }, "\(h.world.calls)")
        #expect(h.recover(RunOutcomeTests.plan).isEmpty)
        #expect(h.world.snapshot == before)
        #expect(h.world.claims(of: "a").isEmpty && h.world.claims(of: "b").isEmpty)
    }

    /// A lease lost while steps run, then a Ctrl-C: the lost lease is the machine's event (the
    /// run stops and undoes nothing, exit 4), the later Ctrl-C changes nothing.
    @Test func aLeaseLostBeforeAnInterruptLeavesTheRunForRecover() throws {
        let h = try RunOutcomeTests.seeded()
        let before = h.world.snapshot
        let outcome = try h.apply(RunOutcomeTests.plan, faults: [(.hang, "build:a/app")], cancelAfter: 6, lease: { inner in
            let losable = LosableLease(inner)
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: 0.2)
                losable.lose()
            }
            return losable
        })
        #expect(outcome.kind == .rollbackIncomplete && outcome.exitCode == 4 && !outcome.stoppedAtOnce, "\(outcome)")
        #expect(outcome.failures.first?.code == .stateLocked, "\(outcome.failures)")
        let events = try Self.journal(h, outcome.runID)
        #expect(!events.contains(.rollbackBegun), "a run that lost its lease undoes nothing itself: \(events)")
        #expect(h.recover(RunOutcomeTests.plan).isEmpty)
        #expect(h.world.snapshot == before)
    }

    /// A Ctrl-C first, while a step cannot be broken off (5 s), then the lease is lost: the
    /// driver still checks the lease after the interrupt, and the machine, told of both, leaves
    /// the run for `ferry recover` instead of rolling back under a lock someone else holds now.
    @Test func aLeaseLostAfterAnInterruptStillReachesTheMachine() throws {
        let h = try RunOutcomeTests.seeded()
        let before = h.world.snapshot
        let outcome = try h.apply(RunOutcomeTests.plan, faults: [(.stall(5), "build:a/app")], cancelAfter: 0.2, lease: { inner in
            let losable = LosableLease(inner)
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: 0.4)
                losable.lose()
            }
            return losable
        })
        #expect(outcome.kind == .rollbackIncomplete && outcome.exitCode == 4, "\(outcome)")
        #expect(outcome.failures.first?.code == .stateLocked, "\(outcome.failures)")
        let events = try Self.journal(h, outcome.runID)
        #expect(!events.contains(.rollbackBegun), "\(events)")
        #expect(h.recover(RunOutcomeTests.plan).isEmpty)
        #expect(h.world.snapshot == before)
    }

    /// A lease whose second check does not answer for 15 s (a state server that hangs a while).
    final class HangingLease: StateLease, @unchecked Sendable {
        // Safe: `calls` is read and written under `lock`.
        let inner: any StateLease
        private let lock = NSLock()
        private var calls = 0
        init(_ inner: any StateLease) { self.inner = inner }
        var info: LockInfo { inner.info }
        func checkHeld() throws {
            let n = lock.withLock { calls += 1; return calls }
            if n == 2 { Thread.sleep(forTimeInterval: 15) }
            try inner.checkHeld()
        }
        func release() { inner.release() }
    }

    /// A lease check that hangs (issue 18) does not hold the driver: a Ctrl-C during it still
    /// rolls the run back as soon as the step in hand ends, not once the check answers (15 s).
    @Test func aHangingLeaseCheckDoesNotHoldTheDriver() throws {
        let h = try RunOutcomeTests.seeded()
        let before = h.world.snapshot
        let started = Date()
        let outcome = try h.apply(RunOutcomeTests.plan, faults: [(.stall(2.5), "build:a/app")], cancelAfter: 2.2, lease: { HangingLease($0) })
        let took = Date().timeIntervalSince(started)
        #expect(outcome.kind == .rolledBack && outcome.exitCode == 3 && outcome.interrupted, "\(outcome)")
        #expect(took < 10, "took \(took)s: the driver waited for the lease check")
        #expect(h.world.snapshot == before)
    }

    /// Without any lease trouble a Ctrl-C alone still rolls back (the lease checks after the
    /// interrupt find it held): the control for the test above.
    @Test func anInterruptWithTheLeaseHeldStillRollsBack() throws {
        let h = try RunOutcomeTests.seeded()
        let before = h.world.snapshot
        let outcome = try h.apply(RunOutcomeTests.plan, faults: [(.stall(3.5), "build:a/app")], cancelAfter: 0.2, lease: { LosableLease($0) })
        #expect(outcome.kind == .rolledBack && outcome.exitCode == 3 && outcome.interrupted, "\(outcome)")
        #expect(h.world.snapshot == before)
    }
}

/// SPEC §6 "Interrupting a run": nothing more is printed once a second signal abandoned the run,
/// whichever thread still reports (a step inside an engine call on a worker thread).
@Suite struct SilencedReporterTests {
    final class Collect: ApplyEventSink, @unchecked Sendable {
        // Safe: `seen` only under `lock`.
        private let lock = NSLock()
        private var seen: [ApplyEvent.Kind] = []
        var kinds: [ApplyEvent.Kind] { lock.withLock { seen } }
        func emit(_ event: ApplyEvent) { lock.withLock { seen.append(event.type) } }
        func progress(_ events: [ApplyEvent]) { lock.withLock { seen += events.map(\.type) } }
    }

    @Test func aSilencedReporterGoesQuietOnlyOnceTheRunIsAbandoned() {
        let sink = Collect()
        let token = CancellationToken()
        let reporter = ApplyReporter(sinks: [sink]).silenced(when: token)
        reporter.emit(ApplyEvent(.stepStarted))
        token.cancel(reason: "interrupted (SIGINT)")
        reporter.emit(ApplyEvent(.stepFailed))
        reporter.progress([ApplyEvent(.stepProgress)])
        #expect(sink.kinds == [.stepStarted, .stepFailed, .stepProgress], "a first Ctrl-C still reports the rollback")
        token.abandon(reason: "interrupted again (SIGINT)")
        reporter.emit(ApplyEvent(.stepFailed))
        reporter.notice("restored a/x", style: .undone)
        reporter.progress([ApplyEvent(.stepProgress)])
        #expect(sink.kinds == [.stepStarted, .stepFailed, .stepProgress])
    }

    /// The second signal does not call the cancel handlers again (they may block on an instance
    /// that stopped answering, past the signal thread's grace).
    @Test func abandonAfterCancelDoesNotCallTheHandlersAgain() {
        let token = CancellationToken()
        let calls = Collect()
        _ = token.register { calls.emit(ApplyEvent(.notice)) }
        token.cancel(reason: "first")
        token.abandon(reason: "second")
        #expect(calls.kinds.count == 1 && token.isAbandoned && token.isCancelled)
        let fresh = CancellationToken()
        let freshCalls = Collect()
        _ = fresh.register { freshCalls.emit(ApplyEvent(.notice)) }
        fresh.abandon(reason: "at once")
        #expect(freshCalls.kinds.count == 1 && fresh.isCancelled, "abandoned without a first signal: cancelled too")
    }
}
