import FerryCore
import FerryIO
import Foundation

/// What every command shares: parsed arguments, console, state directory, engines.
struct Context {
    let args: Arguments
    let console: Console
    /// The state, its lock and the runs' journals (`--state DIR`: a local directory).
    let backend: any StateBackend
    let engines: EngineRegistry
    let root: String

    var runs: any RunJournalStore { backend.journals }

    /// Takes the state lock for `operation`. With `--lock-timeout` it waits while another run
    /// holds it, saying on stderr who holds it (once, again if the holder changes, then every
    /// 10 s), and gives up with `StateLocked` naming the holder (SPEC §6).
    func lock(_ operation: String) throws -> any StateLease {
        let timeout = try lockTimeout()
        return try backend.acquireLock(operation: operation, timeout: timeout) { wait in
            switch wait {
            case .held(let holder, let timeout):
                let who = holder.map { "\($0.summary), lock id \($0.id)" } ?? "a lock that cannot be read"
                console.err("Waiting for the state lock held by \(who) (up to \(Format.seconds(timeout)))...")
            case .stillWaiting(let waited, let timeout):
                console.err("  ... still waiting for the state lock (\(Format.seconds(waited)) of \(Format.seconds(timeout)))")
            }
        }
    }

    /// `--lock-timeout DURATION` in seconds (0 when absent: fail at once, as without it).
    func lockTimeout() throws -> TimeInterval {
        guard let text = args.value("--lock-timeout") else { return 0 }
        return try Self.parseLockTimeout(text)
    }

    /// A duration as plan files write them (`30s`, `2m`, `1m30s`, `1h`), or `0` / `0s`.
    static func parseLockTimeout(_ text: String) throws -> TimeInterval {
        if let seconds = PlanValueParsing.parseDuration(text) {
            // At most 30 days: a longer wait overflowed the waiter's clock (a fresh tester's
            // 99999999999999999h crashed the process).
            guard seconds <= 30 * 86_400 else {
                throw FerryError(.invalidParameter, "--lock-timeout \(Redaction.escapeControlCharacters(text)) is longer than 30 days",
                                 hint: "wait at most 30d")
            }
            return seconds
        }
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let number = trimmed.last.map { "smhd".contains($0) } == true ? trimmed.dropLast() : Substring(trimmed)
        if !number.isEmpty, number.allSatisfy({ $0 == "0" }) { return 0 }
        throw FerryError(.invalidParameter, "--lock-timeout takes a duration such as 30s, 2m or 1m30s, not \"\(Redaction.escapeControlCharacters(text))\"",
                         hint: "0 (the default) fails at once when the state is locked")
    }

    /// The plan path: the first positional argument after the command, or `plans/`.
    func planPath(at index: Int = 0) -> String {
        args.positional.count > index ? args.positional[index] : "plans"
    }

    /// Loads the plan; prints diagnostics; throws when there are errors.
    func loadPlan(_ path: String) throws -> Plan {
        let loader = PlanLoader(root: root, allowOutside: args.all("--allow-outside").map(absolute))
        let result = loader.load(path: path)
        let warnings = result.diagnostics.filter { $0.severity == .warning }
        console.report(warnings)
        if result.hasErrors {
            throw FerryError(diagnostics: result.diagnostics.filter { $0.severity == .error })
        }
        return result.plan
    }

    /// The plan at `path` for a command that needs only its instances (`ferry unlock --claims`):
    /// errors outside the `instances` and `state` blocks (an import's dump missing from this
    /// checkout, say) are shown as warnings and do not stop it (fresh tester round 69, F3).
    func loadPlanForInstances(_ path: String) throws -> Plan {
        let loader = PlanLoader(root: root, allowOutside: args.all("--allow-outside").map(absolute))
        let result = loader.load(path: path)
        func outside(_ d: Diagnostic) -> Bool {
            guard let where_ = d.location?.jsonPath.split(separator: ".").first else { return false }
            return !["instances", "state", "ferry"].contains(String(where_))
        }
        let errors = result.diagnostics.filter { $0.severity == .error }
        let blocking = errors.filter { !outside($0) }
        var setAside = errors.filter(outside)
        for i in setAside.indices {
            setAside[i].severity = .warning
            setAside[i].message += " (set aside: this command reads only the plan's instances)"
        }
        console.report(result.diagnostics.filter { $0.severity == .warning } + setAside)
        if !blocking.isEmpty { throw FerryError(diagnostics: blocking) }
        return result.plan
    }

    func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : (root as NSString).appendingPathComponent(path)
    }

    func refresher() -> Refresher { Refresher(engines: engines, inspector: SourceFactsInspector()) }

    /// Refreshes and plans: the common first half of plan, graph and apply.
    func makePlan(_ plan: Plan, state: State, options: PlanOptions) -> (Facts, PlanResult) {
        let facts = refresher().refresh(plan, only: options.selection(in: plan), committed: state.committedFingerprints)
        var options = options
        // Engines whose databases are fixed slots count the free ones; the checkpoints this state
        // keeps are named there (round 37b, F3). Read from the journals only for such engines.
        if facts.instances.values.contains(where: { $0.emptyDatabases != nil }) {
            options.keptCheckpoints = KeptTargets.keptCheckpoints(backend: backend, instances: plan.instances)
        }
        // A checkpoint no run claims is named beside a change unless a run of this state made it
        // (round 70, F1; round 74, F1): the journals' ids, no replay.
        if facts.instances.values.contains(where: { $0.unclaimedCheckpoints != nil }) {
            options.stateRunIDs = backend.journals.runIDs()
        }
        var result = Planner(plan: plan, facts: facts, state: state, engines: engines, options: options).makePlan()
        result.diagnostics += KeptTargets.notes(backend: backend, engines: engines, instances: plan.instances,
                                                unreachable: Set(facts.unreachable.keys))
        return (facts, result)
    }

    func planOptions() throws -> PlanOptions {
        PlanOptions(targets: try args.addresses("--target"), replace: try args.addresses("--replace"),
                    excludes: try args.addresses("--exclude"), stateDatabase: backend.heldDatabase())
    }

    /// A saved plan, when `path` is a file written by `plan --out`.
    func savedPlan(at path: String) -> SavedPlan? {
        var isDirectory: ObjCBool = false
        // Only a regular file is read: a FIFO would block the read.
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
              FileKind.of(path) == .regular, let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder.ferry.decode(SavedPlan.self, from: data)
    }

    func reporter(toStandardError: Bool = false, events: (any ApplyEventSink)? = nil) -> ApplyReporter {
        let terminal = toStandardError ? isatty(2) == 1 : console.stdoutIsTerminal
        return ApplyReporter(isTerminal: terminal, palette: console.palette, events: events) { text in
            (toStandardError ? StandardStream.error : StandardStream.output).write(text)
        }
    }
}
