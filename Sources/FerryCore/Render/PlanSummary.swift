/// Counts for the summary line, shared by every renderer.
public struct PlanSummary: Sendable, Codable, Hashable {
    public var create = 0
    public var replace = 0
    public var update = 0
    public var noop = 0
    public var forget = 0
    public var bytes: Int64 = 0
    public var checkpoints = 0

    public init(changes: [ResourceChange], graph: ActionGraph) {
        for change in changes {
            switch change.action {
            case .create: create += 1
            case .replace: replace += 1
            case .update: update += 1
            case .noop: noop += 1
            case .forget: forget += 1
            }
            if change.action != .noop { bytes += change.bytes }
        }
        checkpoints = graph.checkpointCount
    }

    public var hasChanges: Bool { create + replace + update + forget > 0 }

    /// `Plan: 2 to create, 1 to replace, 0 to forget. 1.2 GB to move, 3 checkpoints.`
    public var line: String {
        guard hasChanges else { return "No changes. The instances match the plan." }
        var counts = "\(create) to create, \(replace) to replace"
        if update > 0 { counts += ", \(update) to update" }
        counts += ", \(forget) to forget"
        let checkpointWord = checkpoints == 1 ? "checkpoint" : "checkpoints"
        return "Plan: \(counts). \(Format.bytes(bytes)) to move, \(checkpoints) \(checkpointWord)."
    }
}
