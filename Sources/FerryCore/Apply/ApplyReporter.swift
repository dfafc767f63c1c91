import Foundation

/// One thing a run did, for machine readers (`ferry apply --format json` writes one a line,
/// SPEC §11 "Streaming output"). `type` names the event; the other fields are set where they
/// apply. Encoded with `formatVersion` and `time` by the writer.
public struct ApplyEvent: Sendable, Encodable, Equatable {
    public enum Kind: String, Sendable, Encodable {
        case runStarted, stepStarted, stepProgress, stepFinished, stepFailed
        case rollbackStarted, rollbackStep, rollbackStepFailed, diagnostic, outcome
        /// A remark for people (`message`, `style`): what a rollback restored or removed, a
        /// backup set written, a clean-up that could not finish.
        case notice
    }
    /// How a `notice` is set off in text: `headline` (a line of its own), `alert` (red), `warning` (yellow),
    /// `undone` (`  ↺ `), `note` (`  note: `), `detail` (indented under a step), `failure` (`  ✗ `).
    public enum NoticeStyle: String, Sendable, Encodable {
        case headline, alert, warning, undone, note, detail, failure
    }
    public var type: Kind
    public var run: String?
    public var step: Int?
    public var address: String?
    /// The action's kind (`build`, `verify`, `swap`, ...).
    public var action: String?
    public var summary: String?
    /// What the step works on (`stepProgress`): `db@instance` or a file.
    public var subject: String?
    /// How a `notice` is set off in text.
    public var style: NoticeStyle?
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

/// Receives a run's events: the executable's text renderer (`ApplyTextSink`) and its JSON Lines
/// writer. Called from worker threads.
public protocol ApplyEventSink: Sendable {
    func emit(_ event: ApplyEvent)
    /// One progress tick: a `stepProgress` event per running step, in step order. By default
    /// each is emitted on its own; a text renderer draws them as one status line.
    func progress(_ events: [ApplyEvent])
}

extension ApplyEventSink {
    public func progress(_ events: [ApplyEvent]) { for event in events { emit(event) } }
}

/// Where a run's events go (issue 18 §2: FerryCore prints nothing). `Applier` and `Recovery`
/// only emit `ApplyEvent`s, text-only remarks included (`notice`); the sinks the executable
/// gives decide what is shown and how (`ApplyTextSink` for people, JSON Lines for machines).
public final class ApplyReporter: Sendable {
    public let sinks: [any ApplyEventSink]

    public init(sinks: [any ApplyEventSink]) { self.sinks = sinks }

    /// Text for people through `write` (`ApplyTextSink`), and, when set, every event to `events`.
    public convenience init(isTerminal: Bool, palette: Palette, events: (any ApplyEventSink)? = nil,
                            write: @escaping @Sendable (String) -> Void) {
        self.init(sinks: [ApplyTextSink(isTerminal: isTerminal, palette: palette, write: write)] + (events.map { [$0] } ?? []))
    }

    /// A reporter that drops everything (tests, background work).
    public static let silent = ApplyReporter(sinks: [])

    /// The same sinks, quiet once `token` is abandoned (a second Ctrl-C, SPEC §6 "Interrupting a
    /// run": nothing more is printed): steps still inside engine calls on worker threads then
    /// end without a line, text or JSON.
    public func silenced(when token: CancellationToken) -> ApplyReporter {
        ApplyReporter(sinks: sinks.map { QuietWhenAbandoned(inner: $0, token: token) })
    }

    public func emit(_ event: ApplyEvent) { for sink in sinks { sink.emit(event) } }

    public func progress(_ events: [ApplyEvent]) { for sink in sinks { sink.progress(events) } }

    /// A remark of the run or of a rollback, with how a text renderer sets it off (`style`).
    public func notice(_ message: String, style: ApplyEvent.NoticeStyle, run: String? = nil, address: String? = nil) {
        var event = ApplyEvent(.notice, run: run, address: address, message: message)
        event.style = style
        emit(event)
    }
}

/// A sink that drops every event once its token is abandoned (`ApplyReporter.silenced`).
struct QuietWhenAbandoned: ApplyEventSink {
    let inner: any ApplyEventSink
    let token: CancellationToken

    func emit(_ event: ApplyEvent) { if !token.isAbandoned { inner.emit(event) } }
    func progress(_ events: [ApplyEvent]) { if !token.isAbandoned { inner.progress(events) } }
}
