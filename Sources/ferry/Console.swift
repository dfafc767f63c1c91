import FerryCore
import Foundation

/// Standard output and error, with colour only on a terminal and never with `--no-color` / `NO_COLOR`.
struct Console: Sendable {
    let palette: Palette
    let verbose: Bool
    let stdoutIsTerminal: Bool
    let stdinIsTerminal: Bool

    init(noColor: Bool, verbose: Bool) {
        stdoutIsTerminal = isatty(1) == 1
        stdinIsTerminal = isatty(0) == 1
        let environmentSaysNo = ProcessInfo.processInfo.environment["NO_COLOR"].map { !$0.isEmpty } ?? false
        palette = Palette(isEnabled: stdoutIsTerminal && !noColor && !environmentSaysNo)
        self.verbose = verbose
    }

    func out(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }
    func line(_ text: String = "") { out(text + "\n") }
    func err(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }

    /// Prints diagnostics as SPEC §8 shows them, to standard error.
    func report(_ diagnostics: [Diagnostic]) {
        // Messages quote names from plan files and servers: control characters are escaped so
        // that none can colour the terminal or forge a line, NO_COLOR or not (SPEC §9).
        let e = Redaction.escapeControlCharacters
        for d in diagnostics {
            let head = d.severity == .error ? palette.red("error") : palette.yellow("warning")
            var text = "\(head)[\(d.code.rawValue)]: \(e(d.message))"
            if let location = d.location {
                text += "\n  --> \(e(location.description))"
            } else if d.address != nil || d.instance != nil {
                text += "\n  --> " + e([d.address.map { "resource \($0)" }, d.instance.map { "instance \($0)" }]
                    .compactMap { $0 }.joined(separator: ", "))
            }
            if let hint = d.hint { text += "\n  hint: \(e(hint))" }
            err(text)
        }
    }

    func report(_ error: any Error) {
        if let ferry = error as? FerryError {
            report(ferry.diagnostics)
            if verbose, let detail = ferry.detail { err("  detail: \(Redaction.escapeControlCharacters(detail))") }
        } else {
            report([Diagnostic(.internalError, "\(error)")])
        }
    }
}
