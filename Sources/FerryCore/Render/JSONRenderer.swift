import Foundation

/// The machine-readable plan (`--format json`), also the body of a saved plan.
public struct PlanDocument: Codable, Sendable {
    public static let currentFormatVersion = "1.0"

    public var formatVersion: String = PlanDocument.currentFormatVersion
    public var ferryVersion: String
    public var createdAt: Date
    public var changes: [ResourceChange]
    public var actions: [Action]
    public var summary: PlanSummary
    public var diagnostics: [Diagnostic]

    public init(ferryVersion: String, createdAt: Date, changes: [ResourceChange], graph: ActionGraph, diagnostics: [Diagnostic]) {
        self.ferryVersion = ferryVersion
        self.createdAt = createdAt
        self.changes = changes
        self.actions = graph.actions
        self.summary = PlanSummary(changes: changes, graph: graph)
        self.diagnostics = diagnostics
    }

    public func encoded() throws -> String {
        Redaction.escapeJSONControls(String(decoding: try JSONEncoder.ferry.encode(self), as: UTF8.self)) + "\n"
    }
}
