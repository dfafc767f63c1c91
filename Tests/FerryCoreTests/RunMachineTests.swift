import Foundation
import Testing
@testable import FerryCore

/// The run machine on its own (issue 18 §2): every way a run of SPEC §6 ends, and the exit codes
/// of §7, from events alone, with no engine, journal or thread.
@Suite struct RunMachineTests {
    typealias Event = RunMachine.Event

    static let a = Address(.import, "a")
    static let b = Address(.import, "b")
    static let noop = Address(.copy, "n")

    /// import.a: steps 1 build, 2 verify, 3 swap on instance a; import.b: steps 4, 5, 6 on
    /// instance b; copy.n changes nothing (no step).
    static func graph() -> ActionGraph {
        func action(_ step: Int, _ kind: ActionKind, _ deps: [Int], _ address: Address, _ instance: String) -> FerryCore.Action {
            FerryCore.Action(step: step, kind: kind, address: address, instance: instance, database: "app", source: nil,
                             bytes: nil, dependsOn: deps, takesCheckpoint: false)
        }
        return ActionGraph(actions: [action(1, .build, [], a, "a"), action(2, .verify, [1], a, "a"), action(3, .swap, [2], a, "a"),
                                     action(4, .build, [], b, "b"), action(5, .verify, [4], b, "b"), action(6, .swap, [5], b, "b")])
    }

    static let changes = [ResourceChange(address: a, action: .replace, reasons: []),
                          ResourceChange(address: b, action: .create, reasons: []),
                          ResourceChange(address: noop, action: .noop, reasons: [])]

    static func machine(keepGoing: Bool = false, parallelism: Int = 4, limits: [String: Int] = [:],
                        graph: ActionGraph = graph()) -> RunMachine {
        var instances: [Int: [String]] = [:]
        for action in graph.actions { instances[action.step] = [action.instance!] }
        return RunMachine(runID: "R1", graph: graph, changes: changes, instancesOfStep: instances, limits: limits,
                          parallelism: parallelism, keepGoing: keepGoing)
    }

    /// A machine that began, was granted its claims and started steps 1 and 4.
    static func running(keepGoing: Bool = false) -> RunMachine {
        var m = machine(keepGoing: keepGoing)
        #expect(m.handle(.begun) == [.claim])
        #expect(m.handle(.claimsGranted) == [.start([1, 4])])
        return m
    }

    static func ending(_ actions: [RunMachine.Action]) -> RunMachine.Ending? {
        guard case .finish(let ending)? = actions.last else { return nil }
        return ending
    }

    static let failure = Diagnostic(.importError, "injected")
    static let cut = Diagnostic(.interrupted, "the run was interrupted (test): the step stopped")
    static let undoFailure = Diagnostic(.instanceNotFound, "b is gone")

    // MARK: Exit 0

    @Test func everyStepDoneCommitsEveryChangeAndExits0() {
        var m = Self.running()
        #expect(m.handle(.stepSucceeded(1)) == [.start([2])])
        #expect(m.handle(.stepSucceeded(4)) == [.start([5])])
        #expect(m.handle(.stepSucceeded(2)) == [.start([3])])
        #expect(m.handle(.stepSucceeded(5)) == [.start([6])])
        #expect(m.handle(.stepSucceeded(3)) == [])
        #expect(m.awaitsSteps)
        #expect(m.handle(.stepSucceeded(6)) == [.commit([Self.a, Self.b, Self.noop])], "noops are committed too")
        #expect(!m.awaitsSteps)
        let end = Self.ending(m.handle(.committed(cleanupPending: ["drop checkpoint a/app~checkpoint~R1"])))
        #expect(end?.kind == .committed && end?.exitCode == 0 && end?.summary == .committed)
        #expect(end?.cleanupPending == ["drop checkpoint a/app~checkpoint~R1"], "a clean-up left for recover is still exit 0")
        #expect(end?.failures == [] && end?.rollbackFailures == [] && end?.interrupted == false && end?.countsBytes == true)
        #expect(m.isFinished)
        #expect(m.handle(.stepSucceeded(1)) == [] && m.handle(.interruptedAgain) == [], "a finished run takes no more events")
    }

    @Test func capsPerInstanceAndParallelismDecideWhatStarts() {
        let graph = ActionGraph(actions: (1...3).map {
            FerryCore.Action(step: $0, kind: .build, address: Address(.import, "i\($0)"), instance: "a", database: "d\($0)",
                             source: nil, bytes: nil, dependsOn: [], takesCheckpoint: false)
        })
        var capped = Self.machine(limits: ["a": 2], graph: graph)
        _ = capped.handle(.begun)
        #expect(capped.handle(.claimsGranted) == [.start([1, 2])])
        #expect(capped.handle(.stepSucceeded(2)) == [.start([3])])
        var serial = Self.machine(parallelism: 1, graph: graph)
        _ = serial.handle(.begun)
        #expect(serial.handle(.claimsGranted) == [.start([1])])
        #expect(serial.handle(.stepSucceeded(1)) == [.start([2])])
    }

    // MARK: Exit 1

    @Test func aRefusedClaimRollsBackTheClaimsAndExits1() {
        var m = Self.machine()
        _ = m.handle(.begun)
        let refusal = Diagnostic(.wrongStatus, "b/app is claimed by run other-run")
        #expect(m.handle(.claimsRefused(refusal)) == [.rollBack(.everything, .claimsRefused)])
        let end = Self.ending(m.handle(.rollbackEnded(journalError: nil)))
        #expect(end?.kind == .refused && end?.exitCode == 1 && end?.failures == [refusal])
        #expect(end?.summary == .rolledBack && end?.countsBytes == false && end?.runRecorded == true)
    }

    @Test func aRefusedClaimWhoseReleaseFailsOrIsNotRecordedExits4() {
        var failing = Self.machine()
        _ = failing.handle(.begun)
        _ = failing.handle(.claimsRefused(Self.failure))
        #expect(failing.handle(.rollbackStepFailed(Self.undoFailure)) == [])
        let end = Self.ending(failing.handle(.rollbackEnded(journalError: nil)))
        #expect(end?.kind == .rollbackIncomplete && end?.exitCode == 4 && end?.rollbackFailures == [Self.undoFailure])

        var unrecorded = Self.machine()
        _ = unrecorded.handle(.begun)
        _ = unrecorded.handle(.claimsRefused(Self.failure))
        let end2 = Self.ending(unrecorded.handle(.rollbackEnded(journalError: "No space left on device")))
        #expect(end2?.kind == .refused && end2?.exitCode == 4 && end2?.unrecorded == "No space left on device")
    }

    @Test func aBeginThatCannotBeWrittenIsNoRunAndExits1() {
        var m = Self.machine()
        let end = Self.ending(m.handle(.beginFailed(Diagnostic(.diskFull, "state directory full"))))
        #expect(end?.kind == .refused && end?.exitCode == 1 && end?.runRecorded == false && end?.summary == nil)
        #expect(m.handle(.claimsGranted) == [], "nothing is claimed after it")
    }

    // MARK: Exit 3

    @Test func aFailureStopsStartingLetsTheRunningStepEndAndRollsEverythingBack() {
        var m = Self.running()
        #expect(m.handle(.stepFailed(1, Self.failure)) == [], "no step starts, and the running one is not cut off")
        #expect(m.awaitsSteps)
        #expect(m.handle(.stepSucceeded(4)) == [.rollBack(.everything, .failed)], "step 5 never starts")
        let end = Self.ending(m.handle(.rollbackEnded(journalError: nil)))
        #expect(end?.kind == .rolledBack && end?.exitCode == 3 && end?.failures == [Self.failure])
        #expect(end?.summary == .rolledBack && end?.interrupted == false && end?.countsBytes == true)
    }

    @Test func aFailedCommitRollsEverythingBack() {
        for interrupted in [false, true] {
            var m = Self.running()
            for step in [1, 4, 2, 5, 3] { _ = m.handle(.stepSucceeded(step)) }
            #expect(m.handle(.stepSucceeded(6)) == [.commit([Self.a, Self.b, Self.noop])])
            let why = interrupted ? Self.cut : Diagnostic(.stateLocked, "the state was written by another run")
            #expect(m.handle(.commitFailed(why, interrupted: interrupted)) == [.rollBack(.everything, .commitFailed(interrupted: interrupted))])
            let end = Self.ending(m.handle(.rollbackEnded(journalError: nil)))
            #expect(end?.kind == .rolledBack && end?.exitCode == 3 && end?.interrupted == interrupted)
            #expect(end?.failures == (interrupted ? [] : [why]), "an interrupt is the why, not a failure")
            #expect(end?.rolledBackResources == [] && end?.countsBytes == false)
        }
    }

    // MARK: Exit 4

    @Test func aRollbackStepThatFailsExits4() {
        var m = Self.running()
        _ = m.handle(.stepFailed(1, Self.failure))
        _ = m.handle(.stepSucceeded(4))
        _ = m.handle(.rollbackStepFailed(Self.undoFailure))
        let end = Self.ending(m.handle(.rollbackEnded(journalError: nil)))
        #expect(end?.kind == .rollbackIncomplete && end?.exitCode == 4 && end?.summary == .rollbackIncomplete)
        #expect(end?.rollbackFailures == [Self.undoFailure] && end?.failures == [Self.failure])
    }

    @Test func aRollbackThatCannotRecordItsEndExits4ThoughEveryUndoWorked() {
        var m = Self.running()
        _ = m.handle(.stepFailed(4, Self.failure))
        _ = m.handle(.stepSucceeded(1))
        let end = Self.ending(m.handle(.rollbackEnded(journalError: "No space left on device")))
        #expect(end?.kind == .rolledBack && end?.exitCode == 4 && end?.unrecorded == "No space left on device")
    }

    // MARK: --keep-going

    @Test func keepGoingRollsBackTheFailedResourceFirstThenCommitsTheOthers() {
        var m = Self.running(keepGoing: true)
        #expect(m.handle(.stepFailed(1, Self.failure)) == [], "import.a's later steps are skipped")
        #expect(m.handle(.stepSucceeded(4)) == [.start([5])], "independent steps go on")
        #expect(m.handle(.stepSucceeded(5)) == [.start([6])])
        #expect(m.handle(.stepSucceeded(6)) == [.rollBack(.only([Self.a]), .keepGoing([Self.a]))])
        #expect(m.handle(.rollbackEnded(journalError: nil)) == [.commit([Self.b, Self.noop])])
        let end = Self.ending(m.handle(.committed(cleanupPending: [])))
        #expect(end?.kind == .rolledBack && end?.exitCode == 3 && end?.summary == .rolledBack)
        #expect(end?.committedResources == ["import.b"] && end?.rolledBackResources == ["import.a"])
        #expect(end?.failures == [Self.failure] && end?.rollbackFailures == [])
    }

    @Test func keepGoingWhosePartialRollbackFailsExits4AfterCommittingTheOthers() {
        var m = Self.running(keepGoing: true)
        _ = m.handle(.stepFailed(4, Self.failure))
        for step in [1, 2, 3] { _ = m.handle(.stepSucceeded(step)) }
        _ = m.handle(.rollbackStepFailed(Self.undoFailure))
        #expect(m.handle(.rollbackEnded(journalError: nil)) == [.commit([Self.a, Self.noop])])
        let end = Self.ending(m.handle(.committed(cleanupPending: [])))
        #expect(end?.kind == .rollbackIncomplete && end?.exitCode == 4 && end?.summary == .rollbackIncomplete)
        #expect(end?.rollbackFailures == [Self.undoFailure] && end?.committedResources == ["import.a"])
    }

    @Test func keepGoingWhoseCommitFailsRollsEverythingBack() {
        var m = Self.running(keepGoing: true)
        _ = m.handle(.stepFailed(1, Self.failure))
        for step in [4, 5, 6] { _ = m.handle(.stepSucceeded(step)) }
        _ = m.handle(.rollbackStepFailed(Self.undoFailure))
        _ = m.handle(.rollbackEnded(journalError: nil))
        let why = Diagnostic(.stateLocked, "lost the lock")
        #expect(m.handle(.commitFailed(why, interrupted: false)) == [.rollBack(.everything, .commitFailed(interrupted: false))])
        let end = Self.ending(m.handle(.rollbackEnded(journalError: nil)))
        // This rollback undid everything (again, idempotently): it decides the kind; both
        // rollbacks' failures are told.
        #expect(end?.kind == .rolledBack && end?.exitCode == 3 && end?.failures == [why])
        #expect(end?.committedResources == [] && end?.rolledBackResources == ["import.a", "import.b"])
        #expect(end?.rollbackFailures == [Self.undoFailure])
    }

    @Test func keepGoingWithEveryResourceFailedCommitsOnlyWhatChangesNothing() {
        var m = Self.running(keepGoing: true)
        _ = m.handle(.stepFailed(1, Self.failure))
        #expect(m.handle(.stepFailed(4, Self.failure)) == [.rollBack(.only([Self.a, Self.b]), .keepGoing([Self.a, Self.b]))])
        #expect(m.handle(.rollbackEnded(journalError: nil)) == [.commit([Self.noop])])
        let end = Self.ending(m.handle(.committed(cleanupPending: [])))
        #expect(end?.kind == .rolledBack && end?.exitCode == 3)
        #expect(end?.committedResources == [] && end?.rolledBackResources == ["import.a", "import.b"])
    }

    @Test func keepGoingDoesNotApplyToAnInterruptedRun() {
        var m = Self.running(keepGoing: true)
        _ = m.handle(.stepFailed(1, Self.failure))
        #expect(m.handle(.interrupted) == [.cancel([4])])
        #expect(m.handle(.stepCancelled(4, Self.cut)) == [.rollBack(.everything, .interrupted)])
        let end = Self.ending(m.handle(.rollbackEnded(journalError: nil)))
        #expect(end?.kind == .rolledBack && end?.exitCode == 3 && end?.interrupted == true)
        #expect(end?.committedResources == [] && end?.rolledBackResources == [] && end?.failures == [Self.failure])
    }

    // MARK: Interrupts

    @Test func anInterruptDuringAStepCancelsTheRunningOnesStartsNothingAndRollsBack() {
        var m = Self.running()
        #expect(m.handle(.stepSucceeded(1)) == [.start([2])])
        #expect(m.handle(.interrupted) == [.cancel([2, 4])])
        #expect(m.handle(.interrupted) == [], "one interrupt is enough")
        #expect(m.handle(.stepCancelled(2, Self.cut)) == [])
        #expect(m.handle(.stepSucceeded(4)) == [.rollBack(.everything, .interrupted)], "nothing started after the interrupt")
        let end = Self.ending(m.handle(.rollbackEnded(journalError: nil)))
        #expect(end?.kind == .rolledBack && end?.exitCode == 3 && end?.interrupted == true)
        #expect(end?.failures == [], "a step the interrupt broke off is not a failure of its own")
    }

    @Test func stepsThatEndWellAfterAnInterruptStartNothingMore() {
        // A verify or a swap is not broken off: it ends, and still nothing after it starts.
        var m = Self.running()
        #expect(m.handle(.interrupted) == [.cancel([1, 4])])
        #expect(m.handle(.stepSucceeded(1)) == [], "step 2 does not start")
        #expect(m.handle(.stepSucceeded(4)) == [.rollBack(.everything, .interrupted)])
        let end = Self.ending(m.handle(.rollbackEnded(journalError: nil)))
        #expect(end?.kind == .rolledBack && end?.interrupted == true && end?.exitCode == 3 && end?.failures == [])
    }

    @Test func aStepCutOffByTheCancelStopsTheRunLikeAnInterrupt() {
        // The token was cancelled and a step saw it before the driver fed `interrupted`.
        var m = Self.running()
        #expect(m.handle(.stepCancelled(1, Self.cut)) == [.cancel([4])])
        #expect(m.handle(.stepFailed(4, Self.failure)) == [.rollBack(.everything, .interrupted)])
        let end = Self.ending(m.handle(.rollbackEnded(journalError: nil)))
        #expect(end?.interrupted == true && end?.exitCode == 3 && end?.failures == [Self.failure], "a real failure is still told")
    }

    @Test func anInterruptBeforeAnyStepStartsNothing() {
        var m = Self.machine()
        _ = m.handle(.begun)
        #expect(m.handle(.interrupted) == [])
        #expect(m.handle(.claimsGranted) == [.rollBack(.everything, .interrupted)])
    }

    @Test func aSecondInterruptLeavesTheRunForRecoverAndExits4AtOnce() {
        for phaseEvents in [[], [Event.stepFailed(1, Self.failure)], [Event.stepFailed(1, Self.failure), .stepSucceeded(4)]] {
            var m = Self.running()
            _ = m.handle(.interrupted)
            for event in phaseEvents { _ = m.handle(event) }
            let actions = m.handle(.interruptedAgain)
            #expect(actions.first == .leaveForRecover && !actions.contains { if case .rollBack = $0 { true } else { false } })
            let end = Self.ending(actions)
            #expect(end?.exitCode == 4 && end?.interrupted == true && end?.summary == nil, "\(phaseEvents)")
            #expect(m.isFinished && m.handle(.rollbackEnded(journalError: nil)) == [])
        }
    }

    @Test func anInterruptWhileCommittingIsTheCommitsToTell() {
        var m = Self.running()
        for step in [1, 4, 2, 5, 3, 6] { _ = m.handle(.stepSucceeded(step)) }
        #expect(m.handle(.interrupted) == [], "the commit checks the token itself before its commit point")
        let end = Self.ending(m.handle(.committed(cleanupPending: [])))
        #expect(end?.kind == .committed && end?.exitCode == 0, "past the commit point nothing is undone")
    }

    // MARK: Lost lease

    @Test func aLostLeaseCancelsTheStepsAndUndoesNothing() {
        var m = Self.running()
        let lost = Diagnostic(.stateLocked, "the state lock was removed")
        #expect(m.handle(.leaseLost(lost)) == [.cancel([1, 4])])
        #expect(m.handle(.stepCancelled(1, Self.cut)) == [])
        let actions = m.handle(.stepCancelled(4, Self.cut))
        #expect(actions.first == .leaveForRecover && actions.count == 2, "\(actions)")
        let end = Self.ending(actions)
        #expect(end?.kind == .rollbackIncomplete && end?.exitCode == 4 && end?.interrupted == true && end?.summary == nil)
        #expect(end?.failures == [lost] && end?.rollbackFailures.map(\.code) == [.stateLocked])
        #expect(end?.rollbackFailures.first?.message.contains("R1") == true)
    }

    @Test func aLostLeaseWinsOverKeepGoingAndOverAFailure() {
        var m = Self.running(keepGoing: true)
        _ = m.handle(.stepFailed(1, Self.failure))
        _ = m.handle(.leaseLost(Diagnostic(.stateLocked, "gone")))
        let actions = m.handle(.stepCancelled(4, Self.cut))
        #expect(actions.first == .leaveForRecover)
        #expect(Self.ending(actions)?.failures.map(\.code) == [.stateLocked, .importError])
    }

    // MARK: Exit codes and signals

    @Test func exitCodesAreSPECSeven() {
        let table: [(ApplyOutcome.Kind, Bool, Int32)] = [
            (.nothingToDo, false, 0), (.committed, false, 0), (.refused, false, 1), (.rolledBack, false, 3),
            (.rollbackIncomplete, false, 4), (.nothingToDo, true, 0), (.committed, true, 0), (.refused, true, 4),
            (.rolledBack, true, 4), (.rollbackIncomplete, true, 4),
        ]
        for (kind, unrecorded, code) in table {
            #expect(RunMachine.exitCode(of: kind, unrecorded: unrecorded) == code, "\(kind) unrecorded \(unrecorded)")
            var outcome = ApplyOutcome(kind: kind, runID: "R1", failures: [], rollbackFailures: [], bytes: 0)
            outcome.unrecorded = unrecorded ? "full" : nil
            #expect(outcome.exitCode == code, "ApplyOutcome maps through the machine")
        }
        #expect(RunMachine.exitCode(outsideRunSignal: SIGINT) == 130 && RunMachine.exitCode(outsideRunSignal: SIGTERM) == 143)
    }

    @Test func signalsAreDecidedBySPECSix() {
        #expect(RunMachine.onSignal(SIGINT, count: 1, in: .outsideRun) == .endOutsideRun(exitCode: 130))
        #expect(RunMachine.onSignal(SIGTERM, count: 2, in: .outsideRun) == .endOutsideRun(exitCode: 143))
        #expect(RunMachine.onSignal(SIGINT, count: 1, in: .applying(pastCommitPoint: false)) == .cancelAndRollBack)
        #expect(RunMachine.onSignal(SIGTERM, count: 1, in: .applying(pastCommitPoint: true)) == .finishCommitted)
        #expect(RunMachine.onSignal(SIGINT, count: 1, in: .finishing) == .goOnToEnd)
        // A run already stopping for its own reason (lost lease) or whose outcome is final.
        #expect(RunMachine.onSignal(SIGINT, count: 1, in: .applyingStopped) == .noteOnly)
        #expect(RunMachine.onSignal(SIGINT, count: 2, in: .applyingStopped) == .leaveForRecover(exitCode: 4))
        #expect(RunMachine.onSignal(SIGTERM, count: 1, in: .applyingEnded(noted: false)) == .noteOnly)
        #expect(RunMachine.onSignal(SIGINT, count: 2, in: .applyingEnded(noted: false)) == .noteOnly)
        #expect(RunMachine.onSignal(SIGINT, count: 2, in: .applyingEnded(noted: true)) == .endOutsideRun(exitCode: 4))
        for context in [RunMachine.SignalContext.applying(pastCommitPoint: false), .applying(pastCommitPoint: true), .finishing] {
            #expect(RunMachine.onSignal(SIGINT, count: 2, in: context) == .leaveForRecover(exitCode: 4), "\(context)")
            #expect(RunMachine.onSignal(SIGTERM, count: 3, in: context) == .leaveForRecover(exitCode: 4), "\(context)")
        }
    }
}

extension RunMachine.Ending {
    /// The exit code the ending's outcome has (`ApplyOutcome.exitCode`, the one mapping of SPEC §7).
    var exitCode: Int32 { outcome(bytes: 0).exitCode }
}

/// The reviewer's leftovers (issue 18): steps that can never start, the interrupt and the lost
/// lease in either order, and the summary's one list of failures.
@Suite struct RunMachineEndingTests {
    typealias M = RunMachineTests

    static func action(_ step: Int, _ deps: [Int], _ address: Address = M.a) -> FerryCore.Action {
        FerryCore.Action(step: step, kind: .build, address: address, instance: "a", database: "app", source: nil,
                         bytes: nil, dependsOn: deps, takesCheckpoint: false)
    }

    /// Steps waiting for each other, or for a step the graph does not hold: the machine never
    /// asks the driver to wait for nothing, and never commits steps that did not run.
    @Test(arguments: [[action(1, [2]), action(2, [1])], [action(1, []), action(2, [9])], [action(1, [1])],
                      [action(1, []), action(2, [3]), action(3, [2])]])
    func stepsThatCanNeverStartEndTheRunAsAFailure(actions: [FerryCore.Action]) {
        for keepGoing in [false, true] {
            var m = M.machine(keepGoing: keepGoing, graph: ActionGraph(actions: actions))
            _ = m.handle(.begun)
            var next = m.handle(.claimsGranted)
            while case .start(let steps)? = next.first {
                next = []
                for step in steps { next += m.handle(.stepSucceeded(step)) }
            }
            #expect(!next.isEmpty, "the machine asked for nothing while no step runs")
            #expect(!next.contains { if case .commit(let a) = $0 { a.contains(M.a) } else { false } }, "committed \(next)")
            guard case .rollBack? = next.first else { Issue.record("no rollback: \(next)"); continue }
            let end = M.ending(m.handle(.rollbackEnded(journalError: nil)) + (keepGoing ? m.handle(.committed(cleanupPending: [])) : []))
            #expect(end?.exitCode == 3, "\(String(describing: end))")
            #expect(end?.summaryFailures.contains { $0.code == .cycleDetected } == true)
        }
    }

    /// Interrupt then lost lease, and lost lease then interrupt: both leave the run for `ferry
    /// recover` (the lock's new holder may be undoing it), never a rollback by this run.
    @Test(arguments: [true, false])
    func aLostLeaseAndAnInterruptInEitherOrderLeaveTheRunForRecover(interruptFirst: Bool) {
        var m = M.running()
        let lost = Diagnostic(.stateLocked, "gone")
        var actions: [RunMachine.Action] = []
        for event in interruptFirst ? [RunMachine.Event.interrupted, .leaseLost(lost)] : [.leaseLost(lost), .interrupted] {
            actions += m.handle(event)
        }
        #expect(actions == [.cancel([1, 4])], "one cancel of the running steps: \(actions)")
        _ = m.handle(.stepCancelled(1, M.cut))
        let last = m.handle(.stepCancelled(4, M.cut))
        #expect(last.first == .leaveForRecover, "\(last)")
        let end = M.ending(last)
        #expect(end?.exitCode == 4 && end?.failures == [lost] && end?.summary == nil)
    }

    /// The summary lists every step failure, the cancelled ones too; the outcome leaves those
    /// out after an interrupt (the interrupt is the why).
    @Test func theSummaryListsEveryStepFailureTheOutcomeOnlyTheRealOnes() {
        var m = M.running()
        _ = m.handle(.stepFailed(1, M.failure))
        _ = m.handle(.interrupted)
        _ = m.handle(.stepCancelled(4, M.cut))
        let end = M.ending(m.handle(.rollbackEnded(journalError: nil)))
        #expect(end?.summaryFailures == [M.failure, M.cut])
        #expect(end?.failures == [M.failure])
        #expect(end?.outcome(bytes: 7).runID == "R1" && end?.outcome(bytes: 7).bytes == 7)
    }

    /// A second interrupt is the machine's: exit 4, stopped at once, no summary, from every phase
    /// before the end (claiming, running, rolling back, committing).
    @Test func aSecondInterruptFromEveryPhaseStopsAtOnce() {
        var phases: [RunMachine] = []
        var claiming = M.machine()
        _ = claiming.handle(.begun)
        phases.append(claiming)
        phases.append(M.running())
        var rolling = M.running()
        _ = rolling.handle(.stepFailed(1, M.failure))
        _ = rolling.handle(.stepSucceeded(4))
        phases.append(rolling)
        var committing = M.running()
        for step in [1, 4, 2, 5, 3, 6] { _ = committing.handle(.stepSucceeded(step)) }
        phases.append(committing)
        for var m in phases {
            let actions = m.handle(.interruptedAgain)
            let end = M.ending(actions)
            #expect(actions.first == .leaveForRecover && end?.stoppedAtOnce == true && end?.exitCode == 4 && end?.summary == nil)
            #expect(end?.outcome(bytes: 0).stoppedAtOnce == true)
        }
    }
}
