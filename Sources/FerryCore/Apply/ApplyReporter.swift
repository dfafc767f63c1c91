import Foundation

/// Where apply's progress goes: a line per event, and on a terminal a live status line.
public final class ApplyReporter: @unchecked Sendable {
    // Safe: `write` is called under `lock` only.
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

    /// `120 MB of 1.0 GB, 85 MB/s, ~10s left` or `350000 rows, 90000 rows/s`.
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
