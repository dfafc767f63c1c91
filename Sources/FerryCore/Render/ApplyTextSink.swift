import Foundation

/// Draws a run's events as the text `ferry apply`, `rollback` and `recover` print (SPEC §6):
/// a line per finished or failed step, rollback step and notice, and on a terminal a live
/// status line of the running steps, rewritten at each progress tick. Events that have no text
/// (`stepStarted`, `rollbackStep`, `diagnostic`, `outcome`: the executable prints the outcome)
/// are not drawn.
public final class ApplyTextSink: ApplyEventSink, @unchecked Sendable {
    // Safe: `write` and `statusShown` are used under `lock` only.
    private let lock = NSLock()
    private let write: @Sendable (String) -> Void
    public let isTerminal: Bool
    public let palette: Palette
    private var statusShown = false

    public init(isTerminal: Bool, palette: Palette, write: @escaping @Sendable (String) -> Void) {
        self.isTerminal = isTerminal
        self.palette = palette
        self.write = write
    }

    public func emit(_ event: ApplyEvent) {
        guard let text = text(of: event) else { return }
        line(text)
    }

    public func progress(_ events: [ApplyEvent]) {
        guard !events.isEmpty else { return }
        let parts = events.map { event in
            "[\(event.step ?? 0)] \(event.action ?? "") \(event.subject ?? event.address ?? ""): "
                + Self.progressText(bytes: event.bytes ?? 0, rows: event.rows ?? 0, total: event.totalBytes, elapsed: event.seconds ?? 0)
        }
        status("  … " + parts.joined(separator: "  "))
    }

    /// The line of `event`, nil for events that have none.
    public func text(of event: ApplyEvent) -> String? {
        let step = event.step.map(String.init) ?? "?"
        let place = "\(step). \(event.summary ?? "") (\(event.address ?? ""))"
        switch event.type {
        case .runStarted:
            return "Run \(event.run ?? "?"): \(event.steps ?? 0) step\(event.steps == 1 ? "" : "s")."
        case .stepFinished:
            // A verify skipped by `verify: none` compared nothing: a dash, never a check mark.
            let skipped = event.action == ActionKind.verify.rawValue && event.summary?.hasSuffix(Action.skippedVerifyNote) == true
            var text = "  \(skipped ? "–" : palette.green("✓")) \(place)"
            let bytes = event.bytes ?? 0, rows = event.rows ?? 0, seconds = event.seconds ?? 0
            if bytes > 0 || rows > 0 {
                text += " — " + Self.progressText(bytes: bytes, rows: rows, total: nil, elapsed: seconds)
            }
            return text + String(format: " in %.1fs", seconds)
        case .stepFailed:
            let d = event.diagnostic
            return "  \(palette.red("✗")) \(place): \(d?.code.rawValue ?? "InternalError"): \(d?.message ?? event.message ?? "")"
        case .rollbackStarted:
            return palette.red(event.message ?? "Rolling back.")
        case .rollbackStepFailed:
            // Its words are the error the command reports at its end (apply, rollback and
            // recover report every undo that failed): said once, there (fresh tester round 74,
            // F6: a recover's long "not restored" words printed twice in a row).
            let d = event.diagnostic
            let what = event.message ?? "undo journal record \(event.undoes.map(String.init) ?? "?")"
            return "  \(palette.red("✗")) did not \(what): \(d?.code.rawValue ?? "InternalError") (said below)"
        case .notice:
            let message = event.message ?? ""
            switch event.style ?? .note {
            case .headline: return message
            case .alert: return palette.red(message)
            case .warning: return palette.yellow(message)
            case .undone: return "  ↺ " + message
            case .note: return "  note: " + message
            case .detail: return "    " + message
            case .failure: return "  \(palette.red("✗")) " + message
            }
        case .stepStarted, .stepProgress, .rollbackStep, .diagnostic, .outcome:
            return nil
        }
    }

    public func line(_ text: String) {
        lock.lock(); defer { lock.unlock() }
        if statusShown { write("\r\u{1B}[K"); statusShown = false }
        write(text + "\n")
    }

    /// A live line on a terminal (overwritten by the next), or a plain line otherwise.
    public func status(_ text: String) {
        lock.lock(); defer { lock.unlock() }
        if isTerminal {
            write("\r\u{1B}[K" + text)
            statusShown = true
        } else {
            write(text + "\n")
        }
    }

    /// `120 MB of 1.0 GB, 85 MB/s, ~10s left` or `350000 rows, 90000 rows/s`; "" for no work yet
    /// when `total` is nil and nothing moved (a finished step then shows only its time).
    public static func progressText(bytes: Int64, rows: Int64, total: Int64?, elapsed: Double) -> String {
        let seconds = max(elapsed, 0.001)
        if bytes > 0 {
            var text = Format.bytes(bytes)
            if let total, total > 0 { text += " of \(Format.bytes(total))" }
            let rate = Double(bytes) / seconds
            text += ", \(Format.bytes(Int64(rate)))/s"
            if let total, total > bytes, rate > 0 { text += ", ~\(Format.duration(Double(total - bytes) / rate)) left" }
            return text
        }
        if rows > 0 { return "\(rows) rows, \(Int(Double(rows) / seconds)) rows/s" }
        return "working"
    }
}
