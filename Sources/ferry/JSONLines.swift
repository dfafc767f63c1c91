import FerryCore
import Foundation

/// `ferry apply --format json`: one JSON object a line on standard output (JSON Lines), each
/// with `formatVersion`, `time` (ISO 8601, UTC) and `type` (SPEC §11, "Streaming output";
/// `docs/apply-events.schema.json`). Lines are written whole under one lock, so events from
/// worker threads never interleave; control characters are escaped (`Redaction.escapeJSONControls`).
final class JSONLinesWriter: ApplyEventSink, @unchecked Sendable {
    // Safe: `encoder` is used under `lock` only.
    static let formatVersion = 1
    private let lock = NSLock()
    private let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    private struct Line: Encodable {
        var formatVersion = JSONLinesWriter.formatVersion
        var time: Date
        var event: ApplyEvent

        enum CodingKeys: String, CodingKey { case formatVersion, time }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(formatVersion, forKey: .formatVersion)
            try c.encode(time, forKey: .time)
            try event.encode(to: encoder)
        }
    }

    func emit(_ event: ApplyEvent) {
        lock.lock(); defer { lock.unlock() }
        guard let data = try? encoder.encode(Line(time: Date(), event: event)) else { return }
        StandardStream.output.write(Redaction.escapeJSONControls(String(decoding: data, as: UTF8.self)) + "\n")
    }
}

extension ApplyEvent {
    /// The `outcome` event: the run's end, with the exit code `ferry apply` returns.
    static func outcome(_ outcome: ApplyOutcome) -> ApplyEvent {
        var event = ApplyEvent(.outcome, run: outcome.runID, bytes: outcome.bytes)
        event.outcome = switch outcome.kind {
        case .nothingToDo: "nothingToDo"
        case .committed: "committed"
        case .refused: "refused"
        case .rolledBack: outcome.isPartial ? "partiallyCommitted" : "rolledBack"
        case .rollbackIncomplete: "rollbackIncomplete"
        }
        if !outcome.committedResources.isEmpty || !outcome.rolledBackResources.isEmpty {
            event.committed = outcome.committedResources
            event.rolledBack = outcome.rolledBackResources
        }
        event.exitCode = outcome.exitCode
        event.failures = outcome.failures
        event.rollbackFailures = outcome.rollbackFailures
        event.cleanupPending = outcome.cleanupPending.isEmpty ? nil : outcome.cleanupPending
        event.interrupted = outcome.interrupted ? true : nil
        event.unrecorded = outcome.unrecorded
        return event
    }
}
