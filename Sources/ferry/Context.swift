import FerryCore
import FerryIO
import Foundation

/// What every command shares: parsed arguments, console, state directory, engines.
struct Context {
    let args: Arguments
    let console: Console
    let store: StateStore
    let engines: EngineRegistry
    let root: String

    var runs: RunStore { RunStore(store: store) }

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

    func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : (root as NSString).appendingPathComponent(path)
    }

    func refresher() -> Refresher { Refresher(engines: engines, inspector: SourceFactsInspector()) }

    /// Refreshes and plans: the common first half of plan, graph and apply.
    func makePlan(_ plan: Plan, state: State, options: PlanOptions) -> (Facts, PlanResult) {
        let facts = refresher().refresh(plan, only: options.selection(in: plan))
        let result = Planner(plan: plan, facts: facts, state: state, engines: engines, options: options).makePlan()
        return (facts, result)
    }

    func planOptions() throws -> PlanOptions {
        PlanOptions(targets: try args.addresses("--target"), replace: try args.addresses("--replace"),
                    excludes: try args.addresses("--exclude"))
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
