import Foundation

/// One thing a run did, for machine readers (`ferry apply --format json` writes one a line,
/// SPEC §11 "Streaming output"). `type` names the event; the other fields are set where they
/// apply. Encoded with `formatVersion` and `time` by the writer.
public struct ApplyEvent: Sendable, Encodable, Equatable {
    public enum Kind: String, Sendable, Encodable {
        case runStarted, stepStarted, stepProgress, stepFinished, stepFailed
        case rollbackStarted, rollbackStep, rollbackStepFailed, diagnostic, outcome
    }
    public var type: Kind
    public var run: String?
    public var step: Int?
    public var address: String?
    /// The action's kind (`build`, `verify`, `swap`, ...).
    public var action: String?
    public var summary: String?
    public var steps: Int?
    public var bytes: Int64?
    public var rows: Int64?
    public var totalBytes: Int64?
    public var seconds: Double?
    /// The journal record a rollback step undid (`rollbackStep`, `rollbackStepFailed`).
    public var undoes: Int?
    public var message: String?
    public var diagnostic: Diagnostic?
    // The outcome (`type: outcome`).
    public var outcome: String?
    public var exitCode: Int32?
    public var failures: [Diagnostic]?
    public var rollbackFailures: [Diagnostic]?
    public var cleanupPending: [String]?
    public var interrupted: Bool?
    public var unrecorded: String?
    /// `--keep-going` outcomes: the resources committed and those rolled back.
    public var committed: [String]?
    public var rolledBack: [String]?

    public init(_ type: Kind, run: String? = nil, step: Int? = nil, address: String? = nil, action: String? = nil,
                summary: String? = nil, steps: Int? = nil, bytes: Int64? = nil, rows: Int64? = nil,
                totalBytes: Int64? = nil, seconds: Double? = nil, undoes: Int? = nil, message: String? = nil,
                diagnostic: Diagnostic? = nil) {
        self.undoes = undoes
        self.type = type
        self.run = run
        self.step = step
        self.address = address
        self.action = action
        self.summary = summary
        self.steps = steps
        self.bytes = bytes
        self.rows = rows
        self.totalBytes = totalBytes
        self.seconds = seconds
        self.message = message
        self.diagnostic = diagnostic
    }
}

/// Receives a run's events (the executable's JSON Lines writer). Called from worker threads.
public protocol ApplyEventSink: Sendable {
    func emit(_ event: ApplyEvent)
}

/// Where apply's progress goes: a line per event, and on a terminal a live status line; and,
/// when a sink is set, an `ApplyEvent` per step, progress tick, rollback step and outcome.
public final class ApplyReporter: @unchecked Sendable {
    // Safe: `write` is called under `lock` only.
    private let lock = NSLock()
    private let write: @Sendable (String) -> Void
    public let isTerminal: Bool
    public let palette: Palette
    public let events: (any ApplyEventSink)?
    private var statusShown = false

    public init(isTerminal: Bool, palette: Palette, events: (any ApplyEventSink)? = nil,
                write: @escaping @Sendable (String) -> Void) {
        self.isTerminal = isTerminal
        self.palette = palette
        self.events = events
        self.write = write
    }

    public func emit(_ event: ApplyEvent) { events?.emit(event) }

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
