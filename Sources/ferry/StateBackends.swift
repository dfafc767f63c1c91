import FerryCore
import FerryPostgres
import Foundation

/// The backend a `--state` value names (SPEC §6): `postgres://...` or `postgresql://...` is
/// the state on a PostgreSQL server (`PostgresStateBackend`), anything else a local directory,
/// relative to `root` (default `.ferry`). Throws `InvalidParameter` for a bad URL.
func makeStateBackend(_ text: String?, root: String) throws -> any StateBackend {
    let value = text ?? ".ferry"
    if PostgresStateBackend.handles(value) { return try PostgresStateBackend(url: value) }
    if value.contains("://") {
        throw FerryError(.invalidParameter, "--state \(Redaction.redactURL(value)): only postgres:// urls and directories hold a state",
                         hint: "a directory (default .ferry) or postgres://user@host:port/database?schema=ferry")
    }
    return LocalStateBackend(directory: value.hasPrefix("/") ? value : root + "/" + value)
}

/// The commands that read the state, and so find it in the plan files' `"state"` block when no
/// `--state` is given (SPEC §6).
let commandsReadingState: Set<String> = ["plan", "apply", "graph", "runs", "status", "recover", "rollback", "backup", "state", "unlock"]

/// The state a command uses (SPEC §6): `--state` when given; else, for a command that reads the
/// state, the plan files' `"state"` block (the plan path the command reads, `plans/` by default;
/// for a saved plan, the plan path it was made from); else `.ferry`. Throws the block's
/// diagnostics (with their places), or `UnsetVariable` / `SecretUnreadable` for its password.
func resolveStateBackend(_ args: Arguments, command: String, root: String) throws -> any StateBackend {
    if let text = args.value("--state") { return try makeStateBackend(text, root: root) }
    guard readsState(args, command: command), let path = stateBlockPath(args, command: command, root: root) else {
        return try makeStateBackend(nil, root: root)
    }
    // No plan files yet (an empty plans/ directory): no block; the command itself reports a
    // plan it needs and cannot find.
    guard (try? PlanLoader.planFiles(at: path))?.isEmpty == false else { return try makeStateBackend(nil, root: root) }
    let result = PlanLoader(root: root).loadState(path: path)
    if let error = result.error { throw error }
    guard let spec = result.plan.state else { return try makeStateBackend(nil, root: root) }
    return try PostgresStateBackend(url: spec.url, password: try spec.password?.resolve(), schema: spec.schema)
}

/// True when `command` reads the state: one of `commandsReadingState`, or `completion --list
/// state|runs` (the shell completes state addresses and run ids from the state the commands use).
func readsState(_ args: Arguments, command: String) -> Bool {
    commandsReadingState.contains(command) || (command == "completion" && ["state", "runs"].contains(args.value("--list") ?? ""))
}

/// The plan path whose files may hold the `"state"` block for `command`, or nil when there is none.
func stateBlockPath(_ args: Arguments, command: String, root: String) -> String? {
    var path = "plans"
    switch command {
    case "plan", "apply", "graph", "recover", "completion":
        if let first = args.positional.first { path = first }
    case "backup", "rollback":
        if args.positional.count > 1 { path = args.positional[1] }
    default: break
    }
    let absolute = path.hasPrefix("/") ? path : (root as NSString).appendingPathComponent(path)
    if ["apply", "graph"].contains(command), FileKind.of(absolute) == .regular, let data = FileManager.default.contents(atPath: absolute),
       let saved = try? JSONDecoder.ferry.decode(SavedPlan.self, from: data) {
        let path = saved.planPath(inRoot: root)
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }
    return FileManager.default.fileExists(atPath: absolute) ? absolute : nil
}

/// True when the backend can tell whether `holder` still holds its lock: a local lock's holder
/// on this host (its process), any holder of a PostgreSQL state (its lock session).
func canCheckHolder(_ backend: any StateBackend, _ holder: LockInfo) -> Bool {
    backend is PostgresStateBackend || holder.host == ProcessInfo.processInfo.hostName
}

extension Context {
    /// `ferry state migrate --to DIR|URL [--from DIR|URL]` (SPEC §6 "Moving a state"): `--from`
    /// defaults to the `--state` in use. Prints what moved; the source refuses use afterwards.
    func stateMigrate() throws -> Int32 {
        guard let toText = args.value("--to") else {
            throw FerryError(.invalidParameter, "ferry state migrate needs --to DIR|URL",
                             hint: "for example: ferry state migrate --to 'postgres://user@host:5432/db?schema=ferry'")
        }
        let source = try args.value("--from").map { try makeStateBackend($0, root: root) } ?? backend
        let target = try makeStateBackend(toText, root: root)
        guard let from = source as? any MigratableStateBackend, let to = target as? any MigratableStateBackend else {
            throw FerryError(.invalidParameter, "ferry state migrate moves between a local directory and a postgres:// state")
        }
        let timeout = try lockTimeout()
        let result = try StateMigration.migrate(from: from, to: to, lockTimeout: timeout) { wait in
            if case .held(let holder, let timeout) = wait {
                let who = holder.map { "\($0.summary), lock id \($0.id)" } ?? "a lock that cannot be read"
                console.err("Waiting for the state lock held by \(who) (up to \(Format.seconds(timeout)))...")
            }
        }
        console.line("\(result.resumed ? "Finished moving" : "Moved") the state (serial \(result.serial)\(result.lineage.isEmpty ? "" : ", lineage \(result.lineage)")) and \(Format.counted(result.runs, "run")) from \(from.location) to \(to.location); read back and compared.")
        console.line("\(from.location) now refuses use (moved to \(to.location)); its data is kept until you remove it. Use --state \(to.location) from now on.")
        return 0
    }
}
