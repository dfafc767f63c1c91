import FerryCore
import Foundation

/// Runs one command and returns its exit code (SPEC §7). Every error passes through here.
func runFerry(_ words: [String]) -> Int32 {
    // Global options may come before the command as well as after it (`ferry --state DIR apply`,
    // `ferry -v runs`): the command is the first word that is neither a flag nor a flag's value.
    var args: Arguments
    do {
        args = try Arguments(words)
    } catch {
        Console(noColor: true, verbose: false).report(error)
        return 1
    }
    let console = Console(noColor: args.has("--no-color"), verbose: args.has("-v") || args.has("--verbose"))
    guard !args.positional.isEmpty else {
        if args.has("--version") { console.line("ferry \(ferryVersion)"); return 0 }
        if args.has("--help") || args.has("-h") || words.isEmpty { console.line(Help.global); return 0 }
        console.report([Diagnostic(.invalidParameter, "no command given (\(words.joined(separator: " ")))",
                                   hint: "`ferry --help` lists every command")])
        return 1
    }
    let command = args.positional.removeFirst()
    if command == "help" {
        if let topic = args.positional.first, let text = Help.commands[topic] { console.line(text) }
        else { console.line(Help.global) }
        return 0
    }
    guard let help = Help.commands[command] else {
        console.report([Diagnostic(.invalidParameter, "unknown command \(command)", hint: commandHint(for: command))])
        return 1
    }
    if args.has("--help") || args.has("-h") {
        console.line(help)
        return 0
    }
    let root = FileManager.default.currentDirectoryPath
    let backend: any StateBackend
    do {
        backend = try resolveStateBackend(args, command: command, root: root)
    } catch {
        console.report(error)
        if command == "apply", args.value("--format") == "json" {
            // The stream says why and ends with its outcome, as for any refusal before a run.
            let events = JSONLinesWriter()
            let diagnostics = FerryError(classifying: error).diagnostics
            for diagnostic in diagnostics { events.emit(ApplyEvent(.diagnostic, diagnostic: diagnostic)) }
            events.emit(.outcome(ApplyOutcome(kind: .refused, runID: nil, failures: diagnostics, rollbackFailures: [], bytes: 0)))
        }
        return 1
    }
    let context = Context(args: args, console: console, backend: backend, engines: Engines.registry, root: root)
    do {
        try checkArguments(args, command: command)
        // Commands that only read runs must fail when the state cannot be read, never say
        // "Nothing to recover." or "No runs yet." (a fresh tester's state server was down and a
        // CI recover step passed while a run was interrupted).
        if ["runs", "status", "recover", "unlock", "rollback"].contains(command) { _ = try backend.readState() }
        switch command {
        case "init": return try context.initProject()
        case "validate": return try context.validate()
        case "fmt": return try context.fmt()
        case "plan": return try context.plan()
        case "show": return try context.show()
        case "graph": return try context.graph()
        case "apply": return try context.apply()
        case "runs": return try context.runsList()
        case "status": return try context.status()
        case "recover": return try context.recover()
        case "rollback": return try context.rollback()
        case "backup": return try context.backup()
        case "state": return try context.stateCommand()
        case "unlock": return try context.unlock()
        case "explain": return try context.explain()
        case "schema": return try context.schema()
        case "completion": return try context.completion()
        case "version":
            console.line("ferry \(ferryVersion)")
            console.line("engines: " + EngineKind.allCases.filter { Engines.registry.engine(for: $0) != nil }.map(\.rawValue).joined(separator: ", "))
            return 0
        default: return 1
        }
    } catch {
        console.report(error)
        return 1
    }
}

/// The hint for an unknown command: the closest command when it is a likely typo (at most a
/// third of the word's letters, and at least one, differ), else the pointer to `ferry --help`.
func commandHint(for word: String) -> String {
    let names = Help.commands.keys.sorted()
    let limit = max(1, word.count / 3)
    if let guess = names.map({ ($0, editDistance($0, word)) }).filter({ $0.1 <= limit }).min(by: { $0.1 < $1.1 })?.0 {
        return "did you mean `ferry \(guess)`? (`ferry --help` lists every command)"
    }
    return "`ferry --help` lists every command"
}

/// The most positional arguments each command takes (SPEC §4, §11); nil: any number (`fmt PATH...`).
func maxPositional(of command: String, _ args: Arguments) -> Int? {
    switch command {
    case "fmt": return nil
    case "runs", "schema", "version": return 0
    case "rollback", "backup", "status": return 2
    case "unlock": return args.has("--claims") ? 3 : 1
    case "state":
        switch args.positional.first {
        case "show", "rm", "keep": return 2
        default: return 1
        }
    default: return 1
    }
}

/// Refuses words a command would otherwise ignore: extra positional arguments (`ferry apply a.json
/// b.json`), and, for commands that check no flags themselves, any flag but the global ones.
func checkArguments(_ args: Arguments, command: String) throws {
    if let limit = maxPositional(of: command, args), args.positional.count > limit {
        let extra = args.positional[limit...].map { "\"\($0)\"" }.joined(separator: ", ")
        throw FerryError(.invalidParameter,
                         "ferry \(command) does not take \(extra): it takes \(limit == 0 ? "no arguments" : "at most \(Format.counted(limit, "argument"))")",
                         hint: "see `ferry \(command) --help`")
    }
    if ["init", "runs", "status", "explain", "version"].contains(command) {
        try args.check(allowedSwitches: [], allowedValues: [], command: command)
    }
    // The commands that take the state lock wait for it with `--lock-timeout` (checked before anything else).
    if ["recover", "rollback", "state"].contains(command) {
        let migrate = command == "state" && args.positional.first == "migrate"
        try args.check(allowedSwitches: command == "recover" ? ["--force", "--discard-later-writes", "--keep-later-writes"] : command == "rollback" ? ["--force"] : [],
                       allowedValues: migrate ? ["--lock-timeout", "--to", "--from"] : command == "recover" ? ["--lock-timeout", "--abandon"] : ["--lock-timeout"],
                       command: command)
    }
    if let timeout = args.value("--lock-timeout") { _ = try Context.parseLockTimeout(timeout) }
}

/// The optimal-string-alignment distance between two words: insertions, deletions,
/// substitutions and swaps of two neighbouring letters (`plna` → `plan` is 1) each cost 1.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var d = Array(repeating: Array(repeating: 0, count: b.count + 1), count: a.count + 1)
    for i in 0...a.count { d[i][0] = i }
    for j in 0...b.count { d[0][j] = j }
    for i in 1...a.count {
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
            }
        }
    }
    return d[a.count][b.count]
}

// SIGINT/SIGTERM are taken by one thread (Interrupts.swift): blocked here, before any thread starts.
Interrupts.shared.install()
signal(SIGPIPE, SIG_IGN)
// Over a file-size limit (RLIMIT_FSIZE) a write fails with EFBIG, reported as DiskFull with its
// path and rolled back, instead of the signal killing ferry mid-run.
signal(SIGXFSZ, SIG_IGN)
exit(runFerry(Array(CommandLine.arguments.dropFirst())))
