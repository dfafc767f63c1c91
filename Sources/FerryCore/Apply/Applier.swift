import Foundation

/// How apply runs.
public struct ApplyOptions: Sendable {
    public var parallelism: Int
    public var keepGoing: Bool
    /// Seconds between progress lines when output is not a terminal.
    public var progressInterval: Double
    /// Set by the executable on SIGINT/SIGTERM (FerryCore installs no signal handler): the run
    /// starts no more steps, the running ones are stopped where the engine can, and the run rolls
    /// back (SPEC §6). Nil: the run cannot be interrupted but by killing it.
    public var cancellation: CancellationToken?

    public init(parallelism: Int = ApplyOptions.defaultParallelism, keepGoing: Bool = false, progressInterval: Double = 5,
                cancellation: CancellationToken? = nil) {
        self.parallelism = parallelism
        self.keepGoing = keepGoing
        self.progressInterval = progressInterval
        self.cancellation = cancellation
    }

    /// Twice the cores: steps mostly wait on disks and servers.
    public static var defaultParallelism: Int { max(2, ProcessInfo.processInfo.activeProcessorCount * 2) }
}

/// How a run ended, for the exit code (SPEC §7).
public struct ApplyOutcome: Sendable {
    public enum Kind: Sendable {
        /// Nothing to do: no run was started.
        case nothingToDo
        case committed
        /// Refused before any change (claims): exit 1.
        case refused
        /// Failed and rolled back completely: exit 3. With --keep-going, the failed resources were rolled
        /// back and the others committed.
        case rolledBack
        /// Failed, and a rollback step failed too: exit 4.
        case rollbackIncomplete
    }
    public var kind: Kind
    public var runID: String?
    public var failures: [Diagnostic]
    public var rollbackFailures: [Diagnostic]
    public var bytes: Int64
    /// Clean-up after the commit that could not finish (journaled `cleanupPending`; `ferry
    /// recover` finishes it), one line each. Empty when the run cleaned up.
    public var cleanupPending: [String] = []
    /// The run was interrupted (SIGINT/SIGTERM) before its commit point and rolled back.
    public var interrupted = false
    /// A second SIGINT/SIGTERM ended the run at once: nothing was undone after it nor recorded,
    /// the journal is left for `ferry recover` (exit 4). The executable already said so.
    public var stoppedAtOnce = false
    /// Set when the journal could not record how the run ended (the state directory's disk is
    /// full): what was done to the instances was checked, but until `ferry recover` records it the
    /// run counts as interrupted for every later command. The exit code is then 4.
    public var unrecorded: String?
    /// `--keep-going` only: the resources this run committed, and those it rolled back (addresses,
    /// sorted). Both set when the run committed some and rolled back others; a run whose commit
    /// itself failed names every resource as rolled back.
    public var committedResources: [String] = []
    public var rolledBackResources: [String] = []
    /// Files at names of the run that its rollback left as they are because they are not
    /// provably the run's (`Recovery.filesLeft`, each named in a note): the run is then never
    /// said to have left the instances "as they were" (round-11 F3).
    public var filesLeft = 0
    /// Targets whose swap, cut short before its rename, had taken their triggers off while rows
    /// were written into them (`Recovery.triggersWereOff`, each said in a note): never "as they
    /// were" then either (fresh tester round 47, H3).
    public var triggersOff = 0
    /// Of those, the targets whose rows only may have been written (`Recovery.triggersMaybeOff`).
    public var triggersMaybeOff = 0

    /// True when a `--keep-going` run committed some resources and rolled back others.
    public var isPartial: Bool { !committedResources.isEmpty && !rolledBackResources.isEmpty }

    /// The exit code of SPEC §7 for this outcome (`RunMachine.exitCode(of:unrecorded:)`, the one mapping).
    public var exitCode: Int32 { RunMachine.exitCode(of: kind, unrecorded: unrecorded != nil) }

    public init(kind: Kind, runID: String?, failures: [Diagnostic], rollbackFailures: [Diagnostic], bytes: Int64) {
        self.kind = kind
        self.runID = runID
        self.failures = failures
        self.rollbackFailures = rollbackFailures
        self.bytes = bytes
    }
}

/// Carries out an action graph: claims, shadows, verification, swaps, commit, and on any failure a
/// rollback, newest first, from the journal (the same code path `ferry recover` takes).
public final class Applier: @unchecked Sendable {
    // Safe: mutable fields below are guarded by `lock`; workers only touch them through helpers that lock.
    private let lock = NSLock()
    private let done = NSCondition()

    /// Where the state, the lock and the run's journal live.
    public let backend: any StateBackend
    public let plan: Plan
    public let facts: Facts
    public let state: State
    public let result: PlanResult
    public let engines: EngineRegistry
    public let options: ApplyOptions
    public let reporter: ApplyReporter
    public let runID: String
    private var journal: (any RunJournal)!
    private var lease: (any StateLease)?
    private var shadows: [String: String] = [:]
    /// Build receipts by shadow key (journaled with each build's `stepDone`), for finish and verify.
    private var receipts: [String: BuildReceipt] = [:]
    /// By shadow key: the content token the verify read of the shadow (what the target holds right
    /// after its swap), and the target's token when an append's snapshot began (SPEC §6 "Writes
    /// during a run").
    private var verifiedTokens: [String: String] = [:]
    /// Files the rollbacks of this run left at names of the run (`Recovery.filesLeft`).
    private var filesLeft = 0
    /// Targets the rollbacks of this run found written while their triggers were off (`Recovery.triggersWereOff`).
    private var triggersOff = 0
    private var triggersMaybeOff = 0
    private var snapshotTokens: [String: String] = [:]
    private var newBackupSets: [String: String] = [:]
    private var progress: [Int: (counter: ProgressCounter, started: Date)] = [:]
    private var stats: [Int: TransferStats] = [:]
    private let startedAt = Date()

    public init(backend: any StateBackend, plan: Plan, facts: Facts, state: State, result: PlanResult,
                engines: EngineRegistry, options: ApplyOptions, reporter: ApplyReporter) {
        self.backend = backend
        self.plan = plan
        self.facts = facts
        self.state = state
        self.result = result
        self.engines = engines
        self.options = options
        self.reporter = reporter
        self.runID = RunStore.makeRunID()
    }

    /// An applier on the local state directory `store`.
    public convenience init(store: StateStore, plan: Plan, facts: Facts, state: State, result: PlanResult,
                            engines: EngineRegistry, options: ApplyOptions, reporter: ApplyReporter) {
        self.init(backend: LocalStateBackend(store: store), plan: plan, facts: facts, state: state, result: result,
                  engines: engines, options: options, reporter: reporter)
    }

    var graph: ActionGraph { result.graph }

    /// A set's recorded digests are checked with the registry's digest; one recorded while none
    /// is at hand cannot be checked, which is a refusal, not a pass.
    var fileDigest: FileDigest {
        engines.fileDigest ?? { path in
            throw FerryError(.verifyFailed, "\(path) has a SHA-256 in its manifest, and this ferry was built without a digest to check it")
        }
    }

    /// Runs the graph under `lock` (the caller holds the state lock, and keeps it until this returns).
    /// The decisions are `RunMachine`'s; this drives it: it carries out each action and feeds back
    /// what happened.
    public func run(lock stateLock: any StateLease) -> ApplyOutcome {
        guard !graph.actions.isEmpty else {
            return ApplyOutcome(kind: .nothingToDo, runID: nil, failures: [], rollbackFailures: [], bytes: 0)
        }
        var machine = RunMachine(runID: runID, graph: graph, changes: result.changes, instancesOfStep: instancesOfSteps(),
                                 limits: plan.instances.compactMapValues { spec in
                                     spec.maxConnections.map { spec.engine.planForm.oneStepAtATimeUnderACap ? 1 : $0 }
                                 },
                                 parallelism: options.parallelism, keepGoing: options.keepGoing)
        var actions: [RunMachine.Action]
        if let refusal = refusalBeforeTheRun() {
            // Nothing journaled, claimed nor made: no run (exit 1, "refused before any change").
            return drive(&machine, machine.handle(.beginFailed(refusal)))
        }
        do {
            lease = stateLock
            journal = StoppableJournal(try backend.journals.createJournal(for: runID), stoppedBy: options.cancellation)
            try journal.append(JournalRecord(event: .begin, begin: makeBegin(lockID: stateLock.info.id)))
            reporter.emit(ApplyEvent(.runStarted, run: runID, steps: graph.actions.count))
            actions = machine.handle(.begun)
        } catch {
            // No begin record: nothing was claimed or changed, so this is no run. Its directory
            // goes (a torn or empty journal left behind would read as a run for ever); if even
            // that fails, readers treat a journal without a begin record as not started and
            // `ferry recover` removes it.
            try? backend.journals.removeRun(runID)
            actions = machine.handle(.beginFailed(diagnostic(error)))
        }
        return drive(&machine, actions)
    }

    /// Carries out the machine's actions until it finishes: claims, steps on their own threads,
    /// rollbacks through `Recovery`, the commit.
    func drive(_ machine: inout RunMachine, _ first: [RunMachine.Action]) -> ApplyOutcome {
        var queue = first
        var fed = Fed()
        var watch: Watch?
        defer { watch?.stop() }
        while true {
            // A second Ctrl-C is the machine's event like any other, seen between any two actions
            // (a rollback or clean-up in hand stops at its next step, `shouldStop`).
            if isAbandoned, !machine.isFinished { queue = machine.handle(.interruptedAgain) }
            guard !queue.isEmpty else {
                // The machine asks for nothing only while steps run: it waits for their ends
                // (`RunMachine.advance` ends a run whose steps can never start as a failure).
                guard machine.awaitsSteps, var watching = watch else { return stalled(machine) }
                queue = machine.handle(nextStepEvent(&fed, &watching))
                watch = watching
                continue
            }
            let action = queue.removeFirst()
            if case .start = action {} else if case .cancel = action {} else {
                watch?.stop()
                watch = nil
            }
            switch action {
            case .claim:
                let refused = claimAll()
                // A cancel during the claims (connects may wait) is fed first, so that no step
                // starts once the run was interrupted (SPEC §6).
                // (A second Ctrl-C then ends the run here: its actions are kept, and the
                // claims' event that follows changes nothing in a finished machine.)
                if refused == nil, let event = cancelEvent(&fed) { queue += machine.handle(event) }
                queue += machine.handle(refused.map { .claimsRefused($0) } ?? .claimsGranted)
            case .start(let steps):
                if watch == nil { watch = watchSteps() }
                for step in steps { start(graph.actions[step - 1]) }
            case .cancel:
                // Nothing to do here: the run's token (cancelled by the signal thread or
                // `watchLease`) is what the engines break the running steps off with; their ends
                // come back as events.
                break
            case .rollBack(let scope, let reason):
                queue += rollBack(scope, reason, &machine)
            case .commit(let addresses):
                let event = commit(addresses)
                queue += machine.handle(isAbandoned ? .interruptedAgain : event)
            case .leaveForRecover:
                // Undo nothing: the journal stays for `ferry recover` (whoever holds the lock now).
                break
            case .finish(let ending):
                KillPoint.check("change:run.ending")
                if !ending.stoppedAtOnce, options.cancellation?.end() == false {
                    // A second signal came between the last look at it and this final outcome:
                    // it said the run stops at once and is left for `ferry recover`, so it is
                    // (no summary; recover reads the journal, which holds the run's whole end).
                    var outcome = ending.outcome(bytes: totalStats().bytes)
                    outcome.kind = .rollbackIncomplete
                    outcome.interrupted = true
                    outcome.stoppedAtOnce = true
                    return outcome
                }
                KillPoint.check("change:run.ended")
                if let summary = ending.summary { writeSummary(outcome: summary, failures: ending.summaryFailures) }
                var outcome = ending.outcome(bytes: totalStats().bytes)
                outcome.filesLeft = lock.withLock { filesLeft }
                outcome.triggersOff = lock.withLock { triggersOff }
                outcome.triggersMaybeOff = lock.withLock { triggersMaybeOff }
                return outcome
            }
        }
    }

    /// The driver's safety net (the machine is tested never to get here): it asked for nothing
    /// while no step runs. Nothing more is done; the journal says what the run changed, for
    /// `ferry recover` (exit 4), rather than a crash that says nothing.
    func stalled(_ machine: RunMachine) -> ApplyOutcome {
        var outcome = ApplyOutcome(kind: .rollbackIncomplete, runID: runID,
                                   failures: machine.failures + [Diagnostic(.internalError, "run \(runID) stopped: no step runs and none can start")],
                                   rollbackFailures: [Diagnostic(.internalError, "run \(runID) was not rolled back",
                                                                 hint: "`ferry recover` rolls it back")],
                                   bytes: 0)
        outcome.interrupted = true
        return outcome
    }

    // MARK: Claims

    func makeBegin(lockID: String) -> RunBegin {
        var claims: [RunBegin.Claim] = []
        let committed = state.committedFingerprints
        for change in result.changes where change.action != .noop && change.action != .forget {
            for ref in DependencyGraph.reads(of: change.address, in: plan) {
                claims.append(.init(instance: ref.instance, claim: DatabaseClaim(database: ref.database, role: .migrating, runID: runID)))
            }
            for ref in DependencyGraph.writes(of: change.address, in: plan) {
                var claim = DatabaseClaim(database: ref.database, role: .importing, runID: runID)
                claim.committedFingerprint = committed[ref]
                claims.append(.init(instance: ref.instance, claim: claim))
            }
        }
        var previous: [String: ResourceRecord?] = [:]
        for change in result.changes where change.action != .noop {
            previous[change.address.description] = .some(state.record(for: change.address))
        }
        // Each claim says where the run's journal is (round-14 A3): `ferry unlock --claims` from
        // another working copy refuses while that directory still holds it.
        let place = backend.journalPlace
        for i in claims.indices { claims[i].claim.journal = place }
        let touched = Set(claims.map(\.instance)).union(graph.actions.compactMap(\.instance))
        // The journal holds no secret (SPEC §9): URLs are redacted; recovery connects with the plan's
        // instances and falls back to these only for instances whose URL carries no secret.
        let instances = plan.instances.filter { touched.contains($0.key) }.mapValues { spec -> InstanceSpec in
            var redacted = spec
            redacted.url = spec.url.map(Redaction.redactURL)
            return redacted
        }
        return RunBegin(runID: runID, lockID: lockID, instances: instances,
                        claims: claims, graph: graph, changes: result.changes, previousRecords: previous,
                        stateSerial: state.serial,
                        serverIdentities: facts.instances.filter { instances[$0.key] != nil }.compactMapValues(\.serverIdentity),
                        serverIncarnations: facts.instances.filter { instances[$0.key] != nil }.compactMapValues(\.serverIncarnation))
    }

    /// Asks each target, before the run is journaled or claims anything, whether Ferry's user may
    /// make, swap and drop its shadows there (`EngineSession.checkBeforeShadow`, per database the
    /// run builds); the first refusal is returned. Fresh tester round 35, F5: the check ran only
    /// inside the build step, after the run and its claims were recorded, so a user without a
    /// right ended the apply with exit 3 "rolled back" and a run in `ferry runs`. `makeShadow`
    /// still asks again (rights can change while a run waits).
    func refusalBeforeTheRun() -> Diagnostic? {
        let building = graph.actions.filter { ($0.kind == .build || $0.kind == .snapshot) && $0.instance != nil && $0.database != nil }
        for (name, actions) in Dictionary(grouping: building, by: { $0.instance! }).sorted(by: { $0.key < $1.key }) {
            guard let spec = plan.instances[name] else { continue }
            var current: Action?
            do {
                let session = try engines.connect(spec)
                defer { session.close() }
                for action in actions {
                    current = action
                    try session.checkBeforeShadow(for: action.database!, runID: runID)
                }
            } catch {
                return diagnostic(error, address: current?.address.description, instance: name)
            }
        }
        return nil
    }

    /// Claims every database the run reads or writes; a refusal is returned (nothing changed yet).
    func claimAll() -> Diagnostic? {
        let begin = makeBegin(lockID: "")
        let byInstance = Dictionary(grouping: begin.claims, by: \.instance)
        for (name, claims) in byInstance.sorted(by: { $0.key < $1.key }) {
            guard let spec = plan.instances[name] else { continue }
            do {
                let session = try engines.connect(spec)
                defer { session.close() }
                try session.claim(claims.map(\.claim))
            } catch {
                return diagnostic(error, instance: name)
            }
        }
        return nil
    }

    // MARK: Execution

    func instancesOfSteps() -> [Int: [String]] {
        var instancesOfStep: [Int: [String]] = [:]
        for action in graph.actions { instancesOfStep[action.step] = instances(of: action) }
        return instancesOfStep
    }

    /// Runs `action` on a thread of `WorkerPool.shared` (the one pool every engine uses); its end
    /// is queued for `nextStepEvent`. A step's own batches (`forEach` in the engines) run on the
    /// same pool and on the step's thread, so a full pool only queues the step, never deadlocks it.
    func start(_ action: Action) {
        WorkerPool.shared.submit { [self] in
            let ended = perform(action)
            done.lock()
            pendingEvents.append(ended)
            done.signal()
            done.unlock()
        }
    }

    /// The periodic work while steps run, done by the driver between step ends (no thread of its
    /// own): when the last progress line and the last lease check were.
    struct Watch {
        var lastProgress = Date()
        var lastLeaseCheck = Date()
        /// Unregisters the wake-up of `nextStepEvent` from the run's token.
        var stop: () -> Void
    }

    /// While steps run: a wake-up of `nextStepEvent` on a cancel (it may be waiting for a step
    /// that the cancel is breaking off). The returned watch also times the progress lines and the
    /// lease checks `nextStepEvent` does.
    func watchSteps() -> Watch {
        // Registered and unregistered without holding `done`: the token calls it holding its own lock.
        let wake = options.cancellation.map { token in
            (token, token.register { [done] in done.lock(); done.signal(); done.unlock() })
        }
        lock.withLock { watchingSteps = true }
        return Watch(stop: { [self] in
            lock.withLock { watchingSteps = false }
            if let (token, id) = wake, let id { token.unregister(id) }
        })
    }

    /// Waits for the next thing that happened to the running steps: the run's cancel or its lost
    /// lease (each once, `cancelEvent`), else a step's end. Every quarter second of the
    /// wait it does the periodic work of `watch`: the lease check (once a second) and the
    /// progress lines (every `progressInterval`).
    func nextStepEvent(_ fed: inout Fed, _ watch: inout Watch) -> RunMachine.Event {
        while true {
            done.lock()
            if let event = cancelEvent(&fed) {
                done.unlock()
                return event
            }
            if !pendingEvents.isEmpty {
                let event = pendingEvents.removeFirst()
                done.unlock()
                return event
            }
            _ = done.wait(until: Date().addingTimeInterval(0.25))
            done.unlock()
            // Outside `done`: a lease check may wait on the network, and steps end meanwhile.
            tick(&watch)
        }
    }

    /// The lease check and the progress line, when each is due. The lease check runs on a
    /// thread of its own, one at a time: a state server that does not answer holds that check, never
    /// the driver (which goes on feeding step ends, a Ctrl-C and the progress lines); a lost lease
    /// it finds wakes the driver like a step's end.
    func tick(_ watch: inout Watch) {
        let now = Date()
        if now.timeIntervalSince(watch.lastLeaseCheck) >= 1, lock.withLock({ () -> Bool in
            guard !leaseCheckRunning else { return false }
            leaseCheckRunning = true
            return true
        }) {
            watch.lastLeaseCheck = now
            // A thread of its own, not the worker pool: steps and their batches queued there
            // must not hold the check back (reviewer M2).
            Thread.detachNewThread { [self] in
                watchLease()
                lock.withLock { leaseCheckRunning = false }
                done.lock(); done.signal(); done.unlock()
            }
        }
        guard now.timeIntervalSince(watch.lastProgress) >= options.progressInterval else { return }
        watch.lastProgress = now
        let running = lock.withLock { progress }
        guard !running.isEmpty else { return }
        reporter.progress(running.sorted { $0.key < $1.key }.map { step, entry in
            let snap = entry.counter.snapshot
            let action = graph.actions[step - 1]
            var event = ApplyEvent(.stepProgress, run: runID, step: step, address: action.address.description,
                                   action: action.kind.rawValue, bytes: snap.bytes, rows: snap.rows,
                                   totalBytes: snap.totalBytes, seconds: Date().timeIntervalSince(entry.started))
            event.subject = action.subject
            return event
        })
        writeProgressFile(running)
    }

    private var pendingEvents: [RunMachine.Event] = []

    /// Which of the run's stops the machine was told of (each is fed once).
    struct Fed {
        var interrupt = false
        var leaseLost = false
    }

    /// The next stop to feed the machine: a lost lease (whenever it is found, before or after an
    /// interrupt: the machine then leaves the run for `ferry recover` either way), else the
    /// run's cancel; nil when there is none new. Each is its own event, read when it happens,
    /// not sampled once: a lease lost after a Ctrl-C still reaches the machine.
    func cancelEvent(_ fed: inout Fed) -> RunMachine.Event? {
        if isAbandoned { return .interruptedAgain }
        if !fed.leaseLost, let lost = lock.withLock({ lockLost }) {
            fed.leaseLost = true
            // The lease's own cancel of the token is this event, not an interrupt.
            fed.interrupt = true
            return .leaseLost(lost)
        }
        if !fed.interrupt, options.cancellation?.isCancelled == true {
            fed.interrupt = true
            return .interrupted
        }
        return nil
    }

    /// Set when the run's state lock was found lost while steps ran (`watchLease`).
    private var lockLost: Diagnostic?
    /// Checks in a row that found the lock not held (a single failed query is not a lost lock).
    /// Only the one lease check in flight (`leaseCheckRunning`) touches it.
    private var leaseMisses = 0
    /// A lease check is running (under `lock`).
    private var leaseCheckRunning = false
    /// Steps are running and watched (`watchSteps` until its watch stops; under `lock`).
    private var watchingSteps = false

    /// Once a second while steps run: the run still holds its state lock. A lock lost (its
    /// PostgreSQL session ended, or `ferry unlock --force` removed it) cancels the run: the
    /// running steps are broken off and nothing more starts, and the run does not roll itself
    /// back, since whoever holds the lock now may be recovering it (SPEC §6).
    func watchLease() {
        // Checked after an interrupt too: a lease lost then must stop the rollback this run
        // would otherwise do under a lock someone else now holds.
        guard let lease, let token = options.cancellation, lock.withLock({ lockLost == nil }) else { return }
        do {
            try lease.checkHeld()
            leaseMisses = 0
        } catch {
            // Three checks in a row (about three seconds): a query that failed once on a
            // network blip does not stop a run that still holds its lock.
            leaseMisses += 1
            guard leaseMisses >= 3 else { return }
            let d = (error as? FerryError)?.diagnostics.first ?? Diagnostic(.stateLocked, "\(error)")
            // A check that ends after the steps (the run committing, rolling back or ended) tells
            // nothing: those phases check the lease themselves (reviewer L6).
            guard lock.withLock({ () -> Bool in
                guard watchingSteps else { return false }
                lockLost = d
                return true
            }) else { return }
            token.cancel(reason: "stopped: its state lock was lost")
        }
    }

    func writeProgressFile(_ running: [Int: (counter: ProgressCounter, started: Date)]) {
        var entries: [String: [String: Int64]] = [:]
        for (step, entry) in running {
            let snap = entry.counter.snapshot
            entries[String(step)] = ["bytes": snap.bytes, "rows": snap.rows, "totalBytes": snap.totalBytes ?? -1]
        }
        backend.journals.writeProgress(entries, of: runID)
    }

    /// Runs one step; its end as the run machine takes it (a failure is also recorded in the
    /// journal; one the run's cancel broke off is `stepCancelled`).
    func perform(_ action: Action) -> RunMachine.Event {
        let counter = ProgressCounter(totalBytes: action.bytes, cancellation: options.cancellation)
        let started = Date()
        lock.withLock { progress[action.step] = (counter, started) }
        defer { _ = lock.withLock { progress.removeValue(forKey: action.step) } }
        do {
            try journal.append(JournalRecord(event: .stepStarted, step: action.step, address: action.address.description,
                                             instance: action.instance, database: action.database))
            reporter.emit(ApplyEvent(.stepStarted, run: runID, step: action.step, address: action.address.description,
                                     action: action.kind.rawValue, summary: action.summary))
            try counter.checkCancelled()
            let built = try run(action, counter: counter)
            let moved = built.stats
            lock.withLock { stats[action.step] = moved }
            // The receipt is durable with the step: a finish or verify after a crash reads it
            // here, never from the instance.
            try journal.append(JournalRecord(event: .stepDone, step: action.step, address: action.address.description, stats: moved,
                                             receipt: action.kind == .build ? built.receipt : nil))
            if action.kind == .build { lock.withLock { receipts[shadowKey(action)] = built.receipt } }
            let seconds = Date().timeIntervalSince(started)
            reporter.emit(ApplyEvent(.stepFinished, run: runID, step: action.step, address: action.address.description,
                                     action: action.kind.rawValue, summary: action.summary, bytes: moved.bytes,
                                     rows: moved.rows, seconds: seconds))
            return .stepSucceeded(action.step)
        } catch {
            var d = diagnostic(error, address: action.address.description, instance: action.instance)
            // A step broken off by a cancel fails with whatever the engine saw (a lost connection,
            // "query interrupted"): it is `Interrupted` (SPEC §8), for every engine alike.
            if let cancellation = options.cancellation, cancellation.isCancelled, d.code != .interrupted {
                d = Diagnostic(.interrupted, "the run was \(cancellation.why): the step stopped (\(d.message))",
                               address: action.address.description, instance: action.instance)
            }
            _ = try? journal.append(JournalRecord(event: .stepFailed, step: action.step, address: action.address.description,
                                              message: "[\(d.code.rawValue)] \(d.message)"))
            reporter.emit(ApplyEvent(.stepFailed, run: runID, step: action.step, address: action.address.description,
                                     action: action.kind.rawValue, summary: action.summary,
                                     seconds: Date().timeIntervalSince(started), diagnostic: d))
            return d.code == .interrupted ? .stepCancelled(action.step, d) : .stepFailed(action.step, d)
        }
    }

    func connect(_ name: String) throws -> any EngineSession {
        guard let spec = plan.instances[name] else { throw FerryError(.unknownInstance, "no instance \(name)") }
        return try engines.connect(spec, scratchDirectory: backend.scratchDirectory(of: runID))
    }

    /// `body`'s result; for an import's action its `CopyError`s are `ImportError`s: an engine
    /// names a failed swap (and its preparation) a copy's (fresh tester W7-5, the reviewer's L4).
    func namingImportErrors<T>(_ action: Action, _ body: () throws -> T) throws -> T {
        do { return try body() } catch var error as FerryError where action.address.kind == .import {
            for i in error.diagnostics.indices where error.diagnostics[i].code == .copyError { error.diagnostics[i].code = .importError }
            throw error
        }
    }

    /// Says the notes the swap of `action` left (`takeLeftNotes`). Those of rows that fire none
    /// of the target's triggers (a window the swap had them off) are journaled first, as
    /// `firedNone` records under the step's address, so that `ferry status` lists them after
    /// the output is gone (fresh tester round 66, F2). A rollback or recover neither repeats
    /// nor counts them (`Recovery.foundByAnUndo`): they say a window, not rows found.
    func sayLeftNotes(of session: any EngineSession, action: Action, database: String) {
        for note in session.takeLeftNotes() {
            let said = "\(action.instance!): \(note)"
            if note.contains(Recovery.firedNonePhrase) {
                _ = try? journal.append(JournalRecord(event: .firedNone, step: action.step, address: action.address.description,
                                                      instance: action.instance, database: database, message: said))
            }
            reporter.notice(said, style: .note)
        }
    }

    func shadowKey(_ action: Action) -> String { "\(action.instance ?? "")/\(action.database ?? "")/\(action.address)" }

    func makeShadow(_ action: Action, on session: any EngineSession) throws -> String {
        if let existing = lock.withLock({ shadows[shadowKey(action)] }) { return existing }
        try session.checkBeforeShadow(for: action.database ?? "", runID: runID)
        // Journaled before it exists: a kill between the engine call and `shadowCreated` leaves
        // nothing that recovery does not know (issue 14 §2).
        try journal.append(JournalRecord(event: .shadowPlanned, step: action.step, address: action.address.description,
                                         instance: action.instance, database: action.database,
                                         shadow: session.plannedShadowName(for: action.database ?? "", runID: runID)))
        let name = try session.makeShadow(for: action.database ?? "", runID: runID)
        KillPoint.check("change:shadow.created")
        // What tells it from a file made at its name later (SQLite), journaled with it: every
        // drop of it asks for it (issue 14, round 9: a user's file at an SQLite shadow's path
        // was deleted by `ferry recover`).
        let identity = try session.shadowIdentity(of: name)
        try journal.append(JournalRecord(event: .shadowCreated, step: action.step, address: action.address.description,
                                         instance: action.instance, database: action.database, shadow: name, identity: identity))
        lock.withLock { shadows[shadowKey(action)] = name }
        return name
    }

    /// The receipt of the build of `action`'s shadow: this run's, else the journal's (a run
    /// resumed from it); nil when neither has one (the verify then reads the source now).
    func receipt(for action: Action) -> BuildReceipt? {
        if let known = lock.withLock({ receipts[shadowKey(action)] }) { return known }
        let build = graph.actions.first { $0.kind == .build && shadowKey($0) == shadowKey(action) }?.step
        return (try? backend.replay(runID))?.records.last { $0.event == .stepDone && $0.step == build && build != nil }?.receipt
    }

    func run(_ action: Action, counter: ProgressCounter) throws -> BuildResult {
        switch action.kind {
        case .snapshot:
            let session = try connect(action.instance!)
            defer { session.close() }
            let shadow = try makeShadow(action, on: session)
            // What the target holds as the snapshot begins: the swap refuses an append whose
            // target was written meanwhile (those writes would be only in the checkpoint).
            if let token = try session.contentToken(of: action.database!) {
                lock.withLock { snapshotTokens[shadowKey(action)] = token }
            }
            try session.cloneDatabase(action.database!, into: shadow, progress: counter)
            return BuildResult(stats: TransferStats(bytes: counter.snapshot.bytes, rows: counter.snapshot.rows))

        case .build:
            let session = try connect(action.instance!)
            defer { session.close() }
            let shadow = try makeShadow(action, on: session)
            switch action.address.kind {
            case .import:
                let spec = plan.imports[action.address.name]!
                return try session.importData(into: shadow, from: spec.sources, format: spec.format,
                                              options: ImportOptions(spec), progress: counter)
            case .copy:
                let spec = plan.copies[action.address.name]!
                let mapping = spec.databases.first { $0.target == action.database }!
                if spec.readsBackup {
                    let (set, location) = try backupSet(for: spec)
                    guard let entry = set.entries.first(where: { $0.database == mapping.source }) else {
                        throw FerryError(.backupNotFound, "backup set \(set.id) holds no database \(mapping.source)")
                    }
                    let store = try BackupStores.open(location)
                    // A storage location's file is downloaded (streamed) into the run's spool,
                    // checked there like a local one, restored, and removed.
                    let spool = backend.scratchDirectory(of: runID) + "/spool-\(action.step)"
                    if store.isRemote { try DurableFile.makeDirectory(spool) }
                    defer { if store.isRemote { try? FileManager.default.removeItem(atPath: spool) } }
                    let local = try store.fetch(entry.file, in: set.id, to: "\(spool)/\(entry.file)")
                    try entry.checkFile(inSet: (local as NSString).deletingLastPathComponent, id: set.id, digest: fileDigest)
                    return try session.restoreBackup(from: URL(fileURLWithPath: local), into: shadow, options: CopyOptions(spec), progress: counter)
                }
                let source = try connect(spec.from)
                defer { source.close() }
                return try session.copyData(fromAny: source, database: mapping.source, into: shadow, verifying: spec.verify,
                                            options: CopyOptions(spec), progress: counter)
            case .backup:
                throw FerryError(.internalError, "a backup has no build step")
            }

        case .finish:
            let session = try connect(action.instance!)
            defer { session.close() }
            guard let shadow = lock.withLock({ shadows[shadowKey(action)] }) else {
                throw FerryError(.internalError, "no shadow for \(action.subject)")
            }
            try session.finish(shadow: shadow, receipt: receipt(for: action) ?? .empty, progress: counter)
            return BuildResult(stats: TransferStats())

        case .verify:
            let session = try connect(action.instance!)
            defer { session.close() }
            guard let shadow = lock.withLock({ shadows[shadowKey(action)] }) else {
                throw FerryError(.internalError, "no shadow for \(action.subject)")
            }
            let report: VerifyReport
            switch action.address.kind {
            case .copy:
                let spec = plan.copies[action.address.name]!
                let mapping = spec.databases.first { $0.target == action.database }!
                if spec.readsBackup {
                    // The set's file is still the one its manifest recorded (it was not changed while it was read).
                    let (set, location) = try backupSet(for: spec)
                    let store = try BackupStores.open(location)
                    let entry = set.entries.first(where: { $0.database == mapping.source })
                    if let entry {
                        if store.isRemote {
                            // The object is still there with the recorded size (its bytes were
                            // checked against the SHA-256 when it was downloaded).
                            let size = try store.files(in: set.id)[entry.file]
                            if size != entry.sizeBytes {
                                throw FerryError(.verifyFailed, "backup set \(set.id): the file \(entry.file) of database \(entry.database) is \(size.map { "\($0) bytes" } ?? "missing"); the set's manifest recorded \(entry.sizeBytes)",
                                                 hint: "the file changed after the set was taken; nothing was restored from it")
                            }
                        } else {
                            try entry.checkFile(inSet: store.location(of: set.id), id: set.id, digest: fileDigest)
                        }
                    }
                    report = try session.verify(shadow: shadow, againstAny: nil, database: nil, level: spec.verify == .none ? .none : .count,
                                                receipt: receipt(for: action))
                    // The shadow holds what the set's manifest recorded of the file (its tables and
                    // rows, counted when the set was taken): a file replaced by another that still
                    // parses, its size and SHA-256 rewritten, is not restored as verified.
                    if let entry, let recorded = entry.tables, spec.verify != .none {
                        let found = session.differences(ofRestored: report, from: recorded)
                        if !found.isEmpty {
                            throw FerryError(.verifyFailed, "backup set \(set.id): the file \(entry.file) of database \(entry.database) does not hold what the set's manifest recorded: " + found.prefix(5).joined(separator: "; ") + (found.count > 5 ? "; and \(found.count - 5) more" : ""),
                                             hint: "the file or its manifest changed after the set was taken; nothing was swapped in from it")
                        }
                    }
                } else {
                    let source = try connect(spec.from)
                    defer { source.close() }
                    report = try session.verify(shadow: shadow, againstAny: source, database: mapping.source, level: spec.verify,
                                                receipt: receipt(for: action))
                }
            default:
                report = try session.verify(shadow: shadow, againstAny: nil, database: nil, level: .count, receipt: receipt(for: action))
            }
            if let token = report.contentToken { lock.withLock { verifiedTokens[shadowKey(action)] = token } }
            return BuildResult(stats: TransferStats())

        case .swap:
            let session = try connect(action.instance!)
            defer { session.close() }
            guard let shadow = lock.withLock({ shadows[shadowKey(action)] }) else {
                throw FerryError(.internalError, "no shadow for \(action.subject)")
            }
            let database = action.database!
            let existed = try session.databaseExists(database)
            if existed, let seen = facts.instances[action.instance!], seen.database(database) == nil {
                // Planned as a create: a database of that name that appeared since is someone
                // else's, never Ferry's checkpoint to take (and later drop).
                throw FerryError(.nameConflict, "\(action.instance!)/\(database) appeared during the run (the plan created it); Ferry does not swap out what it did not plan to replace",
                                 hint: "it was left as it is; apply again to plan against it (onExisting decides then)",
                                 instance: action.instance!)
            }
            var record = SwapRecord(database: database, shadow: shadow,
                                    checkpoint: existed ? session.checkpointName(for: database, runID: runID) : nil,
                                    targetExisted: existed)
            // What the target will hold right after the swap: the verify's read of the shadow, or
            // the shadow's token read now (tokens do not depend on the name). Read before the swap,
            // so that nothing written after it can enter the token.
            record.afterSwapToken = try lock.withLock { verifiedTokens[shadowKey(action)] } ?? session.contentToken(of: shadow)
            if plan.instances[action.instance!]?.isProtected == true && existed {
                throw FerryError(.protected, "\(action.instance!) is protected; \(database) would be replaced")
            }
            let snapshotToken = lock.withLock { snapshotTokens[shadowKey(action)] }
            if existed { record.expectedTargetToken = snapshotToken }
            if let before = snapshotToken, existed, try session.contentToken(of: database) != before {
                // An append's shadow started from the snapshot; what was written into the target
                // since would stay only in the checkpoint, and the checkpoint goes at a commit.
                throw FerryError(.wrongStatus, "\(action.instance!)/\(database) was written during the run, after the append's snapshot; the append was not swapped in, and the target is as it was written",
                                 hint: "apply again when nothing writes into it (the next run starts from what it holds then)",
                                 instance: action.instance!)
            }
            record = try namingImportErrors(action) { try session.prepareSwap(record) }
            try journal.append(JournalRecord(event: .swapBegun, step: action.step, address: action.address.description,
                                             instance: action.instance, database: database, swap: record,
                                             fingerprintBefore: existed ? facts.instances[action.instance!]?.database(database)?.fingerprint : nil))
            var finished: SwapRecord
            do {
                let (step, address, instance, shadow) = (action.step, action.address.description, action.instance, record.shadow)
                let journal: any RunJournal = self.journal
                finished = try namingImportErrors(action) {
                    try session.swap(record) { note in
                        try journal.append(JournalRecord(event: .swapNoted, step: step, address: address, instance: instance,
                                                         database: database, shadow: shadow, message: note))
                    }
                }
            } catch {
                sayLeftNotes(of: session, action: action, database: database)
                throw error
            }
            // A file at a companion name of the shadow that is not the run's, left there.
            sayLeftNotes(of: session, action: action, database: database)
        KillPoint.check("change:swap.done")
            finished.swapped = true
            let writtenDuring = finished.writtenDuringSwap
            finished.writtenDuringSwap = nil
            try journal.append(JournalRecord(event: .swapDone, step: action.step, address: action.address.description,
                                             instance: action.instance, database: database, swap: finished))
            if let writtenDuring {
                throw FerryError(.wrongStatus, writtenDuring,
                                 hint: "the run's rollback puts \(database) back when nothing was written into it since the rename; else it leaves \(database) and its checkpoint as they are, and says where each write is",
                                 instance: action.instance!)
            }
            return BuildResult(stats: TransferStats())

        case .users:
            let spec = plan.copies[action.address.name]!
            let session = try connect(spec.to)
            defer { session.close() }
            let source = try connect(spec.from)
            defer { source.close() }
            let undo = try session.syncUsers(from: source, mappings: spec.databases) { intent in
                try journal.append(JournalRecord(event: .usersPlanned, step: action.step, address: action.address.description,
                                                 instance: spec.to, undo: intent))
            }
            try journal.append(JournalRecord(event: .usersSynced, step: action.step, address: action.address.description,
                                             instance: spec.to, undo: undo))
            return BuildResult(stats: TransferStats())

        case .backup:
            let spec = plan.backups[action.address.name]!
            return BuildResult(stats: try takeBackup(spec, step: action.step, progress: counter))

        case .record, .forget:
            return BuildResult(stats: TransferStats())
        }
    }

    /// Writes one backup set: `<to>/<id>/<db>.<ext>` and, last, `manifest.json`.
    func takeBackup(_ spec: BackupSpec, step: Int, progress: ProgressCounter) throws -> TransferStats {
        let session = try connect(spec.of)
        defer { session.close() }
        let id = RunStore.makeRunID()
        let store = try BackupStores.open(spec.to)
        let location = store.location(of: id)
        // Checked again (plan time checked it too) before anything is journaled or written: a
        // refused key (`WrongPassword`), a missing bucket or a read-only location stops here.
        try store.checkUsable()
        // The set's folder is new: a name already there (a user's) is never written into.
        var existing = stat()
        if !store.isRemote, lstat(location, &existing) == 0 {
            throw FerryError(.wrongStatus, "backup \(spec.name): \(DisplayPath.location(location)) exists already; a new set is written only into a folder Ferry makes",
                             hint: "run the backup again (the next set gets another name)")
        }
        // Its location as the journal keeps it: a value `${env:}` put into its path stays out
        // (fresh tester round 76, F2: `backupStarted` held the path token in clear).
        var started = JournalRecord.backupSet(.backupStarted, at: location, step: step, address: spec.address.description)
        // A level holding a value kept secret (`${env:}` in the path, SPEC §9) is not journaled:
        // it is left by a rollback rather than written down.
        let made = try store.missingDirectories().filter { Redaction.maskingPathValues($0) == $0 }
        started.madeDirectories = made.isEmpty ? nil : made
        // Every name the set may hold, journaled before any is written: a rollback removes these
        // and nothing else a user put beside them (round 37b, F1).
        let fileNames = spec.databases.map { BackupSetManifest.fileName(for: $0, extension: session.backupFileExtension) }
        started.setFiles = store.namesWritten(forSetHolding: fileNames)
        try journal.append(started)
        // A storage location's files are written into the run's spool, one database at a time,
        // uploaded (streamed: multipart or block uploads) and removed; the manifest goes last, so
        // the set is listed only once every file is there.
        let directory = store.isRemote ? backend.scratchDirectory(of: runID) + "/spool-\(step)" : location
        try DurableFile.makeDirectory(directory)
        defer { if store.isRemote { try? FileManager.default.removeItem(atPath: directory) } }
        let described = try session.describe(fingerprinting: Set(spec.databases))
        var entries: [BackupSetManifest.Entry] = []
        var total = TransferStats()
        for (database, file) in zip(spec.databases, fileNames) {
            let moved = try session.writeBackup(of: database, to: URL(fileURLWithPath: "\(directory)/\(file)"), progress: progress)
            KillPoint.check("change:backup.fileWritten")
            total.bytes += moved.bytes
            total.rows += moved.rows
            let size = (try? FileManager.default.attributesOfItem(atPath: "\(directory)/\(file)")[.size] as? Int64) ?? moved.bytes
            entries.append(.init(database: database, file: file, sizeBytes: size,
                                 fingerprint: described.database(database)?.fingerprint,
                                 sha256: try engines.fileDigest?("\(directory)/\(file)"), tables: moved.tables))
            if store.isRemote {
                try store.put(file, from: "\(directory)/\(file)", in: id)
                try? FileManager.default.removeItem(atPath: "\(directory)/\(file)")
                KillPoint.check("change:backup.uploaded")
            }
        }
        if store.isRemote {
            // Each file's version tag as uploaded: a prune removes it only while it is the same
            // (fresh tester round 38b, F4's rest: a same-size file of a user's at its name went).
            let versions = try store.fileVersions(in: id)
            for index in entries.indices { entries[index].etag = versions[entries[index].file] }
        }
        let manifest = BackupSetManifest(id: id, instance: spec.of, engine: session.target.instance.engine, takenAt: Date(), entries: entries)
        try store.putManifest(try JSONEncoder.ferry.encode(manifest), in: id)
        lock.withLock { newBackupSets[spec.name] = id }
        reporter.notice("backup set \(id) of \(spec.of): \(Format.bytes(manifest.sizeBytes)) in \(DisplayPath.location(location))",
                        style: .detail, run: runID, address: spec.address.description)
        return total
    }

    /// The backup set the plan chose for copy `name` (`at`: the newest at or before that time
    /// when it was planned), as its movements name it (`instance/db@SET`); nil when they name none.
    func plannedSet(ofCopy name: String) -> String? {
        let froms = result.changes.first { $0.address == Address(.copy, name) }?.movements.map(\.from) ?? []
        let ids = Set(froms.compactMap { from in from.lastIndex(of: "@").map { String(from[from.index(after: $0)...]) } })
        return ids.count == 1 ? ids.first : nil
    }

    func backupSet(for spec: CopySpec) throws -> (BackupSetManifest, String) {
        // The set the plan chose and showed, for `at` as for `backup` (fresh tester round 76, F1:
        // chosen again here, `at` found a newer set a backup of the same run had just taken, and
        // the copy restored it while the plan, the step, the journal and the state named the
        // planned one). Without a planned id: as the planner chooses
        // (`BackupSetCatalog.newest(_:atOrBefore:holding:)`), across every backup of the
        // instance, the newest set at or before `at` that holds the copy's databases.
        let chosen = spec.backupSet ?? plannedSet(ofCopy: spec.name)
        var candidates: [(set: BackupSetManifest, location: String)] = []
        for backup in plan.backups.values.sorted(by: { $0.name < $1.name }) where backup.of == spec.from {
            let sets = try BackupSetCatalog(location: backup.to).sets(instance: spec.from)
            if let id = chosen, let found = sets.first(where: { $0.id == id }) { return (found, backup.to) }
            candidates += sets.map { ($0, backup.to) }
        }
        if let id = chosen {
            throw FerryError(.backupNotFound, "backup set \(id) of \(spec.from), which the plan chose for copy.\(spec.name), is no longer where the plan's backups of \(spec.from) keep their sets; nothing was restored from another",
                             hint: "run `ferry plan` again to see which set it would read now")
        }
        if let at = spec.at,
           let found = BackupSetCatalog.newest(candidates.map(\.set), atOrBefore: at, holding: spec.databases.map(\.source)),
           let chosen = candidates.first(where: { $0.set.id == found.id }) {
            return chosen
        }
        throw FerryError(.backupNotFound, "no backup set of \(spec.from) matches copy.\(spec.name)")
    }

    func instances(of action: Action) -> [String] {
        var names: Set<String> = []
        if let instance = action.instance { names.insert(instance) }
        if action.kind == .build || action.kind == .verify || action.kind == .users,
           action.address.kind == .copy, let spec = plan.copies[action.address.name], !spec.readsBackup {
            names.insert(spec.from)
        }
        return names.sorted()
    }

    // MARK: Rollback and commit

    /// Rolls back as the machine asked and feeds it the undo steps that failed and the end.
    func rollBack(_ scope: RunMachine.RollbackScope, _ reason: RunMachine.RollbackReason,
                  _ machine: inout RunMachine) -> [RunMachine.Action] {
        let why: String? = switch reason {
        case .claimsRefused: nil
        case .failed: "Run \(runID) failed; rolling back every change, newest first."
        case .interrupted: "Run \(runID) was \(options.cancellation?.why ?? "interrupted"); rolling back every change, newest first."
        case .keepGoing(let failed):
            "Some steps failed; rolling back \(failed.map(\.description).joined(separator: ", ")) and keeping the rest (--keep-going)."
        case .commitFailed(let interrupted):
            interrupted ? "Run \(runID) was \(options.cancellation?.why ?? "interrupted") before its commit; rolling back."
                : "Could not write the state; rolling back."
        }
        if let why { reporter.emit(ApplyEvent(.rollbackStarted, run: runID, message: why)) }
        let recovery = Recovery(backend: backend, engines: engines, reporter: reporter)
        let rollback: Recovery.RollbackResult = switch scope {
        case .everything:
            recovery.rollBackRecording(runID: runID, journal: journal, instances: plan.instances, lease: lease, shouldStop: shouldStop)
        case .only(let addresses):
            // The run goes on to commit the others: its claims stay and its end is not recorded.
            recovery.rollBackRecording(runID: runID, journal: journal, instances: plan.instances,
                                       onlyAddresses: Set(addresses.map(\.description)), finish: false, shouldStop: shouldStop)
        }
        lock.withLock {
            filesLeft += recovery.filesLeft.count
            triggersOff += recovery.triggersWereOff.count
            triggersMaybeOff += recovery.triggersMaybeOff.count
        }
        // Stopped by a second Ctrl-C (or it came as the rollback ended, whose end its journal then
        // refused): nothing more is undone, the journal shows what is left.
        if rollback.stopped || isAbandoned { return machine.handle(.interruptedAgain) }
        var actions: [RunMachine.Action] = []
        for failure in rollback.failures { actions += machine.handle(.rollbackStepFailed(failure)) }
        return actions + machine.handle(.rollbackEnded(journalError: rollback.journalError))
    }

    /// Records the changes of `committedAddresses` in the state (the commit point) and cleans up
    /// after it; `commitFailed` when the state does not name the run.
    func commit(_ committedAddresses: Set<Address>) -> RunMachine.Event {
        let planner = Planner(plan: plan, facts: facts, state: state, engines: engines)
        var next = state
        var described: [String: InstanceFacts] = [:]
        // Databases this run wrote: their fingerprints are read again after the run, for targets and
        // for copies that read them (recording the pre-run fingerprint would show "source changed" forever).
        let writtenThisRun = Set(graph.actions.filter { $0.kind == .swap && committedAddresses.contains($0.address) }
            .compactMap { action in action.instance.flatMap { i in action.database.map { DatabaseRef(instance: i, database: $0) } } })
        let targetInstances = Set(writtenThisRun.map(\.instance))
        for name in targetInstances.sorted() {
            if let session = try? connect(name) {
                described[name] = try? session.fingerprints(of: plan.databases(on: name))
                session.close()
            }
        }
        for change in result.changes where committedAddresses.contains(change.address) {
            switch change.action {
            case .noop:
                continue
            case .forget:
                next.remove(change.address)
            case .create, .replace, .update:
                if let record = makeRecord(for: change, planner: planner, described: described, writtenThisRun: writtenThisRun) { next.record(record) }
            }
        }
        next.lastRunID = runID
        do {
            // The last moment an interrupt can still roll the run back: after `committing` the
            // run finishes (the commit point is one file write away).
            try options.cancellation?.check()
            // The sets this run prunes leave the state's record of their backup: a folder a prune
            // leaves (it holds a file that is not the set's) is then never taken for one of this
            // backup's unfinished sets and pruned again by name (fresh tester round 38b, F4).
            for (address, pruned) in try journalPrunes(committedAddresses) {
                guard var record = next.record(for: address) else { continue }
                record.backupSets = record.backupSets.filter { !pruned.contains($0) }
                next.record(record)
            }
            try journal.append(JournalRecord(event: .committing))
            options.cancellation?.passCommitPoint()
            // A lease lost meanwhile (`ferry unlock`, a server backend's connection) must not
            // commit; nor may a write that another writer's overtook (compare-and-swap).
            try lease?.checkHeld()
            next = try backend.writeState(next, expectingSerial: state.serial)
            try journal.append(JournalRecord(event: .committed))
        } catch {
            // The state file is the commit point: if it does not name this run, roll back.
            let saved = (try? backend.readState())?.lastRunID
            if saved != runID {
                return .commitFailed(diagnostic(error), interrupted: (error as? FerryError)?.code == .interrupted)
            }
        }
        // The state names the run (the commit point), but the journal may not say `committed` yet
        // (its write failed): try once more; a `cleaned` after `committing` implies it too.
        if let replay = try? backend.replay(runID), !replay.records.contains(where: { $0.event == .committed }) {
            _ = try? journal.append(JournalRecord(event: .committed))
        }
        let recovery = Recovery(backend: backend, engines: engines, reporter: reporter)
        let pending = recovery.cleanAfterCommit(runID: runID, journal: journal, state: next, instances: plan.instances, shouldStop: shouldStop)
        if !pending.isEmpty {
            reporter.notice("The run committed, but its clean-up could not finish (\(pending.count) left);"
                            + " it stays pending in the journal: run `ferry recover` once the instances are reachable.", style: .warning, run: runID)
        }
        return .committed(cleanupPending: pending)
    }

    func makeRecord(for change: ResourceChange, planner: Planner, described: [String: InstanceFacts],
                    writtenThisRun: Set<DatabaseRef>) -> ResourceRecord? {
        let address = change.address
        let previous = state.record(for: address)
        func fingerprint(_ ref: DatabaseRef) -> String? {
            described[ref.instance]?.database(ref.database)?.fingerprint ?? facts.instances[ref.instance]?.database(ref.database)?.fingerprint
        }
        // A change that moved no data keeps what the previous record says the targets and sources were.
        func record(definitionHash: String, settingsHash: String, targets: [ResourceRecord.Target],
                    sources: [String: String]) -> ResourceRecord {
            let dataMoved = !change.movements.isEmpty
            return ResourceRecord(address: address, definitionHash: definitionHash, settingsHash: settingsHash,
                                  targets: dataMoved ? targets : (previous?.targets ?? targets),
                                  sources: dataMoved ? sources : (previous?.sources ?? sources),
                                  appliedAt: Date(), runID: runID)
        }
        switch address.kind {
        case .import:
            guard let spec = plan.imports[address.name] else { return nil }
            var sources: [String: String] = [:]
            for source in spec.sources { sources[plan.stateKey(of: source, inImport: spec.name)] = facts.sources[source.description]?.digest ?? "" }
            let targets = [ResourceRecord.Target(instance: spec.into, database: spec.database, fingerprint: fingerprint(spec.target))]
            return record(definitionHash: planner.definitionHash(of: spec), settingsHash: planner.settingsHash(of: spec),
                          targets: targets, sources: sources)
        case .copy:
            guard let spec = plan.copies[address.name] else { return nil }
            let targets = spec.databases.map {
                ResourceRecord.Target(instance: spec.to, database: $0.target,
                                      fingerprint: fingerprint(DatabaseRef(instance: spec.to, database: $0.target)))
            }
            var sources = planner.sourceFingerprints(of: spec)
            if !spec.readsBackup {
                for mapping in spec.databases {
                    let ref = DatabaseRef(instance: spec.from, database: mapping.source)
                    if writtenThisRun.contains(ref), let now = described[ref.instance]?.database(ref.database)?.fingerprint {
                        sources[ref.description] = now
                    }
                }
            }
            return record(definitionHash: planner.definitionHash(of: spec), settingsHash: StableHash.hex(of: spec),
                          targets: targets, sources: sources)
        case .backup:
            guard let spec = plan.backups[address.name] else { return nil }
            var sets = previous?.backupSets ?? []
            if let id = lock.withLock({ newBackupSets[spec.name] }) { sets.append(id) }
            return ResourceRecord(address: address, definitionHash: planner.definitionHash(of: spec), settingsHash: planner.settingsHash(of: spec),
                                  targets: [], sources: [:], appliedAt: Date(), runID: runID, backupSets: sets)
        }
    }

    /// Journals the removal of every backup set beyond `keep` (oldest first), before the commit
    /// point: `pruneBegun` records are intents, carried out only once the run has committed, by
    /// `Recovery.cleanAfterCommit` (manifest first, then the files, then the folder; `pruned` when
    /// it is gone). A run that rolls back leaves every set as it was; a kill after the commit
    /// leaves them for `ferry recover`, which finishes them. A set of this resource's missing a
    /// file goes the same way; a folder without a manifest (what a prune leaves while it holds
    /// files the set did not have) never does. Each record names the set's own files.
    /// Returns the ids of the sets whose removal it journaled, by backup address.
    @discardableResult
    func journalPrunes(_ committed: Set<Address>) throws -> [Address: Set<String>] {
        var journaled: [Address: Set<String>] = [:]
        for spec in plan.backups.values.sorted(by: { $0.name < $1.name }) where committed.contains(spec.address) {
            guard let keep = spec.keep else { continue }
            let catalog = try BackupSetCatalog(location: spec.to)
            // Only this backup's own sets count and go (the ids its state record and this run
            // made): another backup writing to the same location keeps all of its sets (a fresh
            // tester's two backups with `keep: 1` deleted each other's only set).
            let known = Set(state.record(for: spec.address)?.backupSets ?? []).union(lock.withLock { newBackupSets[spec.name] }.map { [$0] } ?? [])
            // A set a copy of the plan names by its id (`backup`) is kept whatever `keep` says:
            // pruned, every later plan failed with `BackupNotFound` (fresh tester round 77, F7).
            var doomed = BackupSetCatalog.beyond(keep: keep, of: try catalog.sets(instance: spec.of).filter { known.contains($0.id) },
                                                 pinned: plan.pinnedBackupSets).map { ($0.id, $0.entries.map(\.file)) }
            doomed += try catalog.unfinishedSets(knownIDs: known, databases: spec.databases).filter { set in !doomed.contains { $0.0 == set.id } }.map { ($0.id, $0.files) }
            for (id, files) in doomed {
                var record = JournalRecord.backupSet(.pruneBegun, at: catalog.store.location(of: id), address: spec.address.description,
                                                     message: "keep \(keep)")
                record.setFiles = files
                try journal.append(record)
                journaled[spec.address, default: []].insert(id)
            }
        }
        return journaled
    }

    // MARK: Bookkeeping

    /// True once a second Ctrl-C came (`CancellationToken.abandon`).
    var isAbandoned: Bool { options.cancellation?.isAbandoned == true }

    /// What a rollback or clean-up asks before each step: stop there (a second Ctrl-C).
    var shouldStop: @Sendable () -> Bool {
        let token = options.cancellation
        return { token?.isAbandoned == true }
    }

    func totalStats() -> TransferStats {
        lock.withLock { stats.values.reduce(TransferStats()) { TransferStats(bytes: $0.bytes + $1.bytes, rows: $0.rows + $1.rows) } }
    }

    /// Writes the run's summary: `outcome` and `failures` as the machine's ending gives them.
    func writeSummary(outcome: RunReplay.Outcome, failures: [Diagnostic]) {
        let replay = (try? backend.replay(runID))
        let total = totalStats()
        let summary = RunSummary(runID: runID, startedAt: startedAt, finishedAt: Date(), outcome: outcome,
                                 resources: result.changes.filter { $0.action != .noop }.map(\.address.description),
                                 bytes: total.bytes, rows: total.rows, checkpointsKept: replay?.keptCheckpoints.count ?? 0,
                                 failures: failures.map { "[\($0.code.rawValue)] \($0.message)" })
        try? backend.journals.writeSummary(summary)
        backend.journals.clearProgress(of: runID)
    }

    func diagnostic(_ error: any Error, address: String? = nil, instance: String? = nil) -> Diagnostic {
        var first = FerryError.diagnostic(error)
        if first.location == nil {
            if first.address == nil { first.address = address }
            if first.instance == nil { first.instance = instance }
        }
        return first
    }
}

/// The run's journal as the Applier writes it: once a second Ctrl-C came
/// (`CancellationToken.isAbandoned`) it refuses every record, so that the journal stays as it was
/// at that signal for `ferry recover` (SPEC §6 "Interrupting a run"), whatever a step or an undo
/// still running on another thread does before the process ends.
final class StoppableJournal: RunJournal {
    let inner: any RunJournal
    let token: CancellationToken?

    init(_ inner: any RunJournal, stoppedBy token: CancellationToken?) {
        self.inner = inner
        self.token = token
    }

    var runID: String { inner.runID }

    /// `inner`'s append; `Interrupted` (nothing written) once the run was stopped at once.
    /// The rollback's end (`rolledBack`) is the run's end: the token is ended under its lock
    /// before it is written, so a second signal from then on is a note after it ("the run has
    /// ended"), never "stopping now" over a journal that says the run was rolled back (a second
    /// SIGTERM between that record and the Applier's own `end` exited 4, and `ferry recover`
    /// then found "Nothing to recover").
    @discardableResult
    func append(_ record: JournalRecord) throws -> Int {
        if record.event == .rolledBack, let token, !token.end() {
            throw FerryError(.interrupted, "run \(runID) was stopped at once; its journal is left as it is for `ferry recover`")
        }
        if token?.isAbandoned == true {
            throw FerryError(.interrupted, "run \(runID) was stopped at once; its journal is left as it is for `ferry recover`")
        }
        return try inner.append(record)
    }

    func records() throws -> [JournalRecord] { try inner.records() }
}
