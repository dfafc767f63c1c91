import Foundation

/// The decisions of one apply run, from its begin record to its outcome, with no I/O (issue 18
/// §2): events in, actions out, as `Scheduler` (which it holds for what may start) already is.
/// The `Applier` is its driver: it carries out each action (journal, engines, state, rollback
/// through `Recovery`) and feeds back what happened as the next event. Every rule of SPEC §6
/// ("Apply", "Interrupting a run") and §7 (exit codes) about how a run ends is decided here, and
/// only here:
///
/// - what may start (the `Scheduler`: dependencies, `parallelism`, `maxConnections`), and that
///   nothing starts once a step failed (without `keepGoing`), the run was interrupted, or its
///   lease was lost; the running steps are then cancelled and waited for;
/// - once no step runs: commit every change; or, with `keepGoing` and no interrupt, roll back the
///   failed resources (and those that depend on them) first, then commit the rest; or, the lease
///   lost, undo nothing and leave the run for `ferry recover` (the lease's new holder may be
///   undoing it); or roll everything back;
/// - a refused claim rolls back what the claims took and ends `refused` (exit 1); a commit whose
///   state write did not happen rolls everything back;
/// - from the rollback's results, which `ApplyOutcome.Kind`, and the exit code (`exitCode(of:
///   unrecorded:)`, the one mapping of SPEC §7, which `ApplyOutcome.exitCode` and the
///   executable's signal thread use too).
///
/// Within one rollback the undo order is the journal's (`RunReplay.pendingUndo`: newest first,
/// pure and tested on its own); the machine decides which rollbacks and commits happen, in
/// which order, and over which resources.
public struct RunMachine: Sendable {
    /// What happened, as the driver saw it.
    public enum Event: Sendable, Equatable {
        /// The begin record is durable: the run exists.
        case begun
        /// The begin record could not be written: nothing was claimed or changed.
        case beginFailed(Diagnostic)
        case claimsGranted
        /// A claim was refused (another run holds the database, a server error): the run's
        /// first failure, before any change.
        case claimsRefused(Diagnostic)
        case stepSucceeded(Int)
        case stepFailed(Int, Diagnostic)
        /// The step stopped because the run was cancelled (its diagnostic is `Interrupted`). A
        /// step stops so only on the run's cancel, so this also marks the run interrupted.
        case stepCancelled(Int, Diagnostic)
        /// The first SIGINT/SIGTERM (or any cancel of the run's token).
        case interrupted
        /// A second SIGINT/SIGTERM: stop at once, leave the journal for `ferry recover`.
        case interruptedAgain
        /// The run's state lock was found lost while steps ran (`Applier.watchLease`).
        case leaseLost(Diagnostic)
        /// The state names the run (the commit point is passed); `cleanupPending` lists the
        /// clean-up after the commit that could not finish.
        case committed(cleanupPending: [String])
        /// The state does not name the run: the commit did not happen. `interrupted`: it was
        /// the run's cancel, before the commit point, that stopped it.
        case commitFailed(Diagnostic, interrupted: Bool)
        /// An undo step of the current rollback failed (or left a target written after its swap
        /// as it is): the instances are then not as before.
        case rollbackStepFailed(Diagnostic)
        /// The current rollback ended; `journalError`: its end (`rolledBack`) could not be
        /// recorded, so the run still reads as interrupted until `ferry recover`.
        case rollbackEnded(journalError: String?)
    }

    /// Which resources a rollback undoes.
    public enum RollbackScope: Sendable, Equatable {
        /// Every change of the run, and its claims are released; the run's end is recorded.
        case everything
        /// Only these resources' changes (`--keep-going`: the failed ones); the run goes on to
        /// commit the others, so neither the claims nor the run's end are touched.
        case only(Set<Address>)
    }

    /// Why a rollback happens (the driver words its `rollbackStarted` event from it).
    public enum RollbackReason: Sendable, Equatable {
        case claimsRefused
        case failed
        case interrupted
        /// `--keep-going`: these resources failed (or depend on a failure), sorted.
        case keepGoing([Address])
        /// The commit did not happen; `interrupted`: a cancel came before the commit point.
        case commitFailed(interrupted: Bool)
    }

    /// What the driver does next, in order.
    public enum Action: Sendable, Equatable {
        /// Claim every database the run reads or writes, then feed `claimsGranted` or `claimsRefused`.
        case claim
        /// Start these steps (the machine counts them as running); feed each one's end.
        case start([Int])
        /// Break off these running steps where the engines can (the run's token does it), and
        /// feed each one's end as it comes.
        case cancel([Int])
        /// Roll back, then feed each failed undo step and `rollbackEnded`.
        case rollBack(RollbackScope, RollbackReason)
        /// Write the state for these resources' changes (the commit point), then feed `committed`
        /// or `commitFailed`.
        case commit(Set<Address>)
        /// Undo nothing: the journal stays as it is for `ferry recover`.
        case leaveForRecover
        /// The run is over.
        case finish(Ending)
    }

    /// How the run ended: everything `ApplyOutcome` says but the bytes moved, which the driver
    /// counts (`outcome(bytes:)` makes the outcome; its `exitCode` is the one of SPEC §7), and
    /// what the run's summary records.
    public struct Ending: Sendable, Equatable {
        public var kind: ApplyOutcome.Kind
        /// The run's id, when `runRecorded` (set by the machine as the run ends).
        public internal(set) var runID: String?
        /// False when the begin record could not be written: there is no run (no run id to show).
        public var runRecorded = true
        public var failures: [Diagnostic] = []
        public var rollbackFailures: [Diagnostic] = []
        public var cleanupPending: [String] = []
        public var interrupted = false
        /// A second SIGINT/SIGTERM ended the run at once (`interruptedAgain`): nothing was undone
        /// after it, nor recorded; the journal is left for `ferry recover`.
        public var stoppedAtOnce = false
        public var unrecorded: String?
        public var committedResources: [String] = []
        public var rolledBackResources: [String] = []
        /// What the run's summary records; nil: no summary is written (no run, or the run was
        /// left for `ferry recover`).
        public var summary: RunReplay.Outcome?
        /// The failures the summary lists: every step failure, in the order the machine was told
        /// of them (steps the cancel broke off included), the one list of them (`failures` above
        /// is what the outcome tells, without the broken-off steps after an interrupt).
        public var summaryFailures: [Diagnostic] = []
        /// Whether the outcome reports the bytes the steps moved (false: 0, as after a refusal
        /// or a commit that did not happen).
        public var countsBytes = true

        init(kind: ApplyOutcome.Kind, unrecorded: String? = nil) {
            self.kind = kind
            self.unrecorded = unrecorded
        }

        /// The run's outcome; `bytes`: what its steps moved (reported only when `countsBytes`).
        public func outcome(bytes: Int64) -> ApplyOutcome {
            var outcome = ApplyOutcome(kind: kind, runID: runID, failures: failures, rollbackFailures: rollbackFailures,
                                       bytes: countsBytes ? bytes : 0)
            outcome.cleanupPending = cleanupPending
            outcome.interrupted = interrupted
            outcome.stoppedAtOnce = stoppedAtOnce
            outcome.unrecorded = unrecorded
            outcome.committedResources = committedResources
            outcome.rolledBackResources = rolledBackResources
            return outcome
        }
    }

    enum Phase: Sendable, Equatable {
        case opening, claiming, running, rollingBack(RollbackReason), committing, finished
    }

    public let runID: String
    public let keepGoing: Bool
    public private(set) var scheduler: Scheduler
    /// Every change's address, noops included (a commit records them all), and those that change something.
    let allAddresses: Set<Address>
    let changedAddresses: Set<Address>
    private(set) var phase: Phase = .opening
    /// Every step failure, in the order they were fed (cancelled steps included).
    public private(set) var failures: [Diagnostic] = []
    public private(set) var interrupted = false
    private var lostLease: Diagnostic?
    private var refusal: Diagnostic?
    /// Set when steps were left that could never start (`advance`).
    private var stalled: Diagnostic?
    /// The current rollback's failed undo steps.
    private var rollbackFailures: [Diagnostic] = []
    /// `--keep-going`: the resources rolled back before the commit of the others, that
    /// rollback's failures, and the kind the run ends with if the commit happens.
    private var keptGoing: (failed: Set<Address>, rollbackFailures: [Diagnostic], kind: ApplyOutcome.Kind)?

    /// - Parameters: `graph` and `changes` as planned (`PlanResult`); `instancesOfStep`,
    ///   `limits`, `parallelism`, `keepGoing` as `Scheduler` takes them; `runID` names the run in
    ///   the outcome's words.
    public init(runID: String, graph: ActionGraph, changes: [ResourceChange], instancesOfStep: [Int: [String]],
                limits: [String: Int], parallelism: Int, keepGoing: Bool) {
        self.runID = runID
        self.keepGoing = keepGoing
        scheduler = Scheduler(graph: graph, instancesOfStep: instancesOfStep, limits: limits,
                              parallelism: parallelism, keepGoing: keepGoing)
        allAddresses = Set(changes.map(\.address))
        changedAddresses = Set(changes.filter { $0.action != .noop }.map(\.address))
    }

    /// True while steps run and the driver waits for their ends (or an interrupt, a lost lease).
    public var awaitsSteps: Bool { phase == .running && !scheduler.runningSteps.isEmpty }

    public var isFinished: Bool { phase == .finished }

    /// Feeds one event; returns what to do next, in order. Events that do not fit the phase (a
    /// step's end after the run stopped waiting for steps, a second `interrupted`) change nothing.
    public mutating func handle(_ event: Event) -> [Action] {
        guard phase != .finished else { return [] }
        switch event {
        case .begun:
            guard phase == .opening else { return [] }
            phase = .claiming
            return [.claim]
        case .beginFailed(let d):
            guard phase == .opening else { return [] }
            var ending = Ending(kind: .refused)
            ending.runRecorded = false
            ending.failures = [d]
            ending.countsBytes = false
            return finish(ending)
        case .claimsGranted:
            guard phase == .claiming else { return [] }
            phase = .running
            return advance()
        case .claimsRefused(let d):
            guard phase == .claiming else { return [] }
            refusal = d
            return rollBack(.everything, .claimsRefused)
        case .stepSucceeded(let step):
            return stepEnded(step, succeeded: true)
        case .stepFailed(let step, let d):
            guard phase == .running, scheduler.status[step] == .running else { return [] }
            failures.append(d)
            return stepEnded(step, succeeded: false)
        case .stepCancelled(let step, let d):
            guard phase == .running, scheduler.status[step] == .running else { return [] }
            failures.append(d)
            scheduler.finish(step, succeeded: false)
            return stop() + advance()
        case .interrupted:
            guard !interrupted else { return [] }
            let cancels = stop()
            return phase == .running ? cancels + advance() : []
        case .leaseLost(let d):
            guard lostLease == nil else { return [] }
            lostLease = d
            let cancels = stop()
            return phase == .running ? cancels + advance() : []
        case .interruptedAgain:
            // Nothing more is done, whatever the phase: the journal tells `ferry recover` where to go on.
            var ending = Ending(kind: .rollbackIncomplete)
            ending.interrupted = true
            ending.stoppedAtOnce = true
            ending.failures = failures.filter { $0.code != .interrupted }
            ending.summary = nil
            return [.leaveForRecover] + finish(ending)
        case .committed(let pending):
            guard phase == .committing else { return [] }
            return committed(cleanupPending: pending)
        case .commitFailed(let d, let wasInterrupted):
            guard phase == .committing else { return [] }
            if wasInterrupted { interrupted = true }
            refusal = wasInterrupted ? nil : d
            return rollBack(.everything, .commitFailed(interrupted: wasInterrupted))
        case .rollbackStepFailed(let d):
            guard case .rollingBack = phase else { return [] }
            rollbackFailures.append(d)
            return []
        case .rollbackEnded(let journalError):
            guard case .rollingBack(let reason) = phase else { return [] }
            return rollbackEnded(reason, journalError: journalError)
        }
    }

    // MARK: Steps

    /// Stops the run starting steps; the running ones are to be cancelled.
    private mutating func stop() -> [Action] {
        let first = !interrupted
        interrupted = true
        let running = scheduler.runningSteps
        return first && phase == .running && !running.isEmpty ? [.cancel(running)] : []
    }

    private mutating func stepEnded(_ step: Int, succeeded: Bool) -> [Action] {
        guard phase == .running, scheduler.status[step] == .running else { return [] }
        scheduler.finish(step, succeeded: succeeded)
        return advance()
    }

    /// What may start now, or, once no step runs and none will start, how the run goes on.
    private mutating func advance() -> [Action] {
        if interrupted {
            return scheduler.runningSteps.isEmpty ? stepsOver() : []
        }
        let started = scheduler.start()
        if !started.isEmpty { return [.start(started)] }
        if scheduler.isFinished || scheduler.runningSteps.isEmpty {
            // Nothing runs and nothing starts, yet steps are left (dependencies that wait for
            // each other or for a step the graph does not hold): a failure of the run, never a
            // commit of steps that did not run, nor a driver left waiting for nothing.
            let left = scheduler.status.filter { $0.value == .pending }.keys.sorted()
            if !left.isEmpty && !scheduler.hasFailed {
                stalled = Diagnostic(.cycleDetected, "steps \(left.map(String.init).joined(separator: ", ")) of run \(runID) can never start: they wait for steps that never end",
                                     hint: "nothing of them ran; the run is rolled back")
                failures.append(stalled!)
            }
            return stepsOver()
        }
        return []
    }

    /// No step runs and none will start: commit, keep going, leave for recover, or roll back.
    private mutating func stepsOver() -> [Action] {
        let anyFailed = scheduler.status.values.contains(.failed) || stalled != nil
        if !anyFailed && !interrupted {
            phase = .committing
            return [.commit(allAddresses)]
        }
        if keepGoing && !interrupted {
            // Every resource with a step that did not end done: failed, skipped for a failure, never started.
            let failed = Set(scheduler.graph.actions.filter { scheduler.status[$0.step] != .done }.map(\.address))
            keptGoing = (failed, [], .rolledBack)
            return rollBack(.only(failed), .keepGoing(failed.sorted()))
        }
        if let lost = lostLease {
            // Not rolled back here: the lock's new holder (`ferry recover` there) does it.
            var ending = Ending(kind: .rollbackIncomplete)
            ending.failures = [lost] + failures.filter { $0.code != .interrupted }
            ending.rollbackFailures = [Diagnostic(.stateLocked, "run \(runID) lost its state lock while it ran, so it stopped and undid nothing itself",
                                                  hint: "`ferry recover` where the state lock can be taken rolls it back")]
            ending.interrupted = true
            ending.summary = nil
            return [.leaveForRecover] + finish(ending)
        }
        return rollBack(.everything, interrupted ? .interrupted : .failed)
    }

    // MARK: Rollback and commit

    private mutating func rollBack(_ scope: RollbackScope, _ reason: RollbackReason) -> [Action] {
        phase = .rollingBack(reason)
        rollbackFailures = []
        return [.rollBack(scope, reason)]
    }

    private mutating func rollbackEnded(_ reason: RollbackReason, journalError: String?) -> [Action] {
        let complete = rollbackFailures.isEmpty
        switch reason {
        case .keepGoing:
            // A partial rollback records no end (`finish: false`); the others are committed next.
            guard let kept = keptGoing else { return [] }
            keptGoing = (kept.failed, rollbackFailures, complete ? .rolledBack : .rollbackIncomplete)
            phase = .committing
            return [.commit(allAddresses.subtracting(kept.failed))]
        case .claimsRefused:
            var ending = Ending(kind: complete ? .refused : .rollbackIncomplete, unrecorded: journalError)
            ending.failures = refusal.map { [$0] } ?? []
            ending.rollbackFailures = rollbackFailures
            ending.summary = .rolledBack
            ending.countsBytes = false
            return finish(ending)
        case .failed, .interrupted:
            var ending = Ending(kind: complete ? .rolledBack : .rollbackIncomplete, unrecorded: journalError)
            // Steps the cancel broke off are not failures of their own: the interrupt is the why.
            ending.failures = interrupted ? failures.filter { $0.code != .interrupted } : failures
            ending.rollbackFailures = rollbackFailures
            ending.interrupted = interrupted
            ending.summary = complete ? .rolledBack : .rollbackIncomplete
            return finish(ending)
        case .commitFailed(let wasInterrupted):
            var ending = Ending(kind: complete ? .rolledBack : .rollbackIncomplete, unrecorded: journalError)
            ending.failures = refusal.map { [$0] } ?? []
            ending.rollbackFailures = rollbackFailures + (keptGoing?.rollbackFailures ?? [])
            ending.interrupted = wasInterrupted
            ending.summary = complete ? .rolledBack : .rollbackIncomplete
            ending.countsBytes = false
            if keptGoing != nil {
                // The commit of the others did not happen either: every change was rolled back.
                ending.rolledBackResources = changedAddresses.map(\.description).sorted()
            }
            return finish(ending)
        }
    }

    private mutating func committed(cleanupPending: [String]) -> [Action] {
        var ending = Ending(kind: keptGoing?.kind ?? .committed)
        ending.failures = failures
        ending.cleanupPending = cleanupPending
        ending.summary = keptGoing.map { $0.kind == .rolledBack ? .rolledBack : .rollbackIncomplete } ?? .committed
        if let kept = keptGoing {
            let committed = changedAddresses.subtracting(kept.failed)
            ending.committedResources = committed.map(\.description).sorted()
            ending.rolledBackResources = kept.failed.intersection(changedAddresses).map(\.description).sorted()
            ending.rollbackFailures = kept.rollbackFailures
        }
        return finish(ending)
    }

    private mutating func finish(_ ending: Ending) -> [Action] {
        phase = .finished
        var ending = ending
        ending.runID = ending.runRecorded ? runID : nil
        ending.summaryFailures = failures
        return [.finish(ending)]
    }

    // MARK: Exit codes (SPEC §7), in one place

    /// The exit code of an apply (or backup) that ended as `kind`; `unrecorded`: the journal could
    /// not record how it ended, which makes any end but a commit exit 4 (the run reads as
    /// interrupted until `ferry recover`).
    public static func exitCode(of kind: ApplyOutcome.Kind, unrecorded: Bool) -> Int32 {
        if unrecorded, kind != .committed, kind != .nothingToDo { return leftForRecoverExitCode }
        switch kind {
        case .nothingToDo, .committed: return 0
        case .refused: return 1
        case .rolledBack: return 3
        case .rollbackIncomplete: return 4
        }
    }

    /// A run left for `ferry recover` (a second signal, a lost lease, an unrecorded rollback).
    public static let leftForRecoverExitCode: Int32 = 4

    /// Ended by `signal` outside a run, before any change: as the signal would (130 for SIGINT, 143 for SIGTERM).
    public static func exitCode(outsideRunSignal signal: Int32) -> Int32 { 128 + signal }

    // MARK: Signals (SPEC §6 "Interrupting a run")

    /// What ferry is doing when a signal comes.
    public enum SignalContext: Sendable, Equatable {
        /// Planning, asking, reading: nothing has changed.
        case outsideRun
        /// `apply` or `backup`; `pastCommitPoint`: `committing` is journaled.
        case applying(pastCommitPoint: Bool)
        /// `apply` or `backup` whose run is already stopping for a reason of its own (its state
        /// lock was lost: it undoes nothing itself and is left for `ferry recover`).
        case applyingStopped
        /// `apply` or `backup` whose outcome is final (`CancellationToken.end`): nothing more is
        /// done or undone; the outcome is being told. `noted`: a signal was already answered so.
        case applyingEnded(noted: Bool)
        /// `ferry rollback` or `ferry recover`, which undo a run.
        case finishing
    }

    /// What the signal thread does with a signal.
    public enum SignalDecision: Sendable, Equatable {
        /// End ferry now with this code; nothing changed.
        case endOutsideRun(exitCode: Int32)
        /// Cancel the run: no step starts, the running ones stop, the run rolls back (exit 3).
        case cancelAndRollBack
        /// Cancel, but the run has committed: it finishes its clean-up, nothing is rolled back.
        case finishCommitted
        /// A rollback or recover goes on to its end (stopping half-way would leave a mix).
        case goOnToEnd
        /// End ferry now with this code, undoing nothing: the journal is left for `ferry recover`.
        case leaveForRecover(exitCode: Int32)
        /// Nothing to do: the run already stops for its own reason (`applyingStopped`), or its
        /// outcome is final and is being told (`applyingEnded`); saying "rolling back" or
        /// "stopping now" would be false.
        case noteOnly
    }

    /// The decision for the `count`th signal (1-based) `signal` in `context`.
    public static func onSignal(_ signal: Int32, count: Int, in context: SignalContext) -> SignalDecision {
        if context == .outsideRun { return .endOutsideRun(exitCode: exitCode(outsideRunSignal: signal)) }
        // After the outcome is final: a note, then (a further signal) ferry ends as outside a run.
        // (exit 4: the outcome is recorded, or, when the summary was still being written, the run
        // is settled by `ferry recover`; never 130, "before any change".)
        if case .applyingEnded(let noted) = context { return noted ? .endOutsideRun(exitCode: leftForRecoverExitCode) : .noteOnly }
        guard count == 1 else { return .leaveForRecover(exitCode: leftForRecoverExitCode) }
        switch context {
        case .outsideRun: return .endOutsideRun(exitCode: exitCode(outsideRunSignal: signal))
        case .applying(let past): return past ? .finishCommitted : .cancelAndRollBack
        case .applyingStopped, .applyingEnded: return .noteOnly
        case .finishing: return .goOnToEnd
        }
    }
}
