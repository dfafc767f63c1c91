import FerryCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

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

    func out(_ text: String) { StandardStream.output.write(text) }
    func line(_ text: String = "") { out(text + "\n") }
    func err(_ text: String) { StandardStream.error.write(text + "\n") }

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
            // Never Foundation's raw `Error Domain=... UserInfo={...}` text: the path and the system's
            // reason, with the code its errno gives (`SystemError`).
            let ns = error as NSError
            let path = ns.userInfo[NSFilePathErrorKey] as? String ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
            report(SystemError.error("file operation failed on", path: path ?? "an unnamed file", from: error).diagnostics)
        }
    }
}

/// Standard output or error written with `write(2)`. A reader that went away (`ferry status |
/// head -c 1`: EPIPE, SIGPIPE being ignored) makes the stream drop what follows, quietly: the
/// command goes on to its end (an apply must not stop half-way because its reader left), and
/// `FileHandle.write`, which traps on EPIPE, is never used for them.
final class StandardStream: @unchecked Sendable {
    // Safe: `isClosed` is only touched under `lock`.
    private let lock = NSLock()
    private let fd: Int32
    private var isClosed = false

    static let output = StandardStream(fd: 1)
    static let error = StandardStream(fd: 2)

    private init(fd: Int32) { self.fd = fd }

    func write(_ text: String) {
        lock.lock(); defer { lock.unlock() }
        guard !isClosed else { return }
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { buffer in
                Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if written > 0 { offset += written; continue }
            if written < 0 && errno == EINTR { continue }
            // EPIPE, EBADF, EIO...: nobody reads this stream any more.
            isClosed = true
            return
        }
    }
}
