import FerryCore
import Foundation

/// Runs one command and returns its exit code (SPEC §7). Every error passes through here.
func runFerry(_ words: [String]) -> Int32 {
    let command = words.first ?? "--help"
    let rest = Array(words.dropFirst())
    let args: Arguments
    do {
        args = try Arguments(rest)
    } catch {
        Console(noColor: true, verbose: false).report(error)
        return 1
    }
    let console = Console(noColor: args.has("--no-color"), verbose: args.has("-v") || args.has("--verbose"))
    if command == "--help" || command == "-h" || command == "help" {
        if command == "help", let topic = args.positional.first, let text = Help.commands[topic] { console.line(text) }
        else { console.line(Help.global) }
        return 0
    }
    if command == "--version" { console.line("ferry \(ferryVersion)"); return 0 }
    guard let help = Help.commands[command] else {
        let names = Help.commands.keys.sorted()
        let guess = names.min { editDistance($0, command) < editDistance($1, command) }
        console.report([Diagnostic(.invalidParameter, "unknown command \(command)",
                                   hint: guess.map { "did you mean `ferry \($0)`? (`ferry --help` lists every command)" })])
        return 1
    }
    if args.has("--help") || args.has("-h") {
        console.line(help)
        return 0
    }
    let root = FileManager.default.currentDirectoryPath
    let stateDirectory = args.value("--state") ?? ".ferry"
    let context = Context(args: args, console: console,
                          store: StateStore(directory: stateDirectory.hasPrefix("/") ? stateDirectory : root + "/" + stateDirectory),
                          engines: Engines.registry, root: root)
    do {
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

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var row = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
        var previous = row[0]
        row[0] = i
        for j in 1...max(b.count, 1) where !b.isEmpty {
            let old = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
            previous = old
        }
    }
    return row[b.count]
}

// SIGINT/SIGTERM are taken by one thread (Interrupts.swift): blocked here, before any thread starts.
Interrupts.shared.install()
signal(SIGPIPE, SIG_IGN)
// Over a file-size limit (RLIMIT_FSIZE) a write fails with EFBIG, reported as DiskFull with its
// path and rolled back, instead of the signal killing ferry mid-run.
signal(SIGXFSZ, SIG_IGN)
exit(runFerry(Array(CommandLine.arguments.dropFirst())))
