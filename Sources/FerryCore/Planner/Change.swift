/// What happens to one resource (SPEC §1).
public enum ChangeAction: String, Sendable, Codable, CaseIterable {
    case create, replace, update, noop, forget

    /// The symbol plan shows.
    public var symbol: String {
        switch self {
        case .create: "+"
        case .replace: "-/+"
        case .update: "~"
        case .noop: "="
        case .forget: "-"
        }
    }
}

/// One data movement of a change, for display: `prod/app → staging/app_staging`.
public struct Movement: Sendable, Codable, Hashable {
    public var from: String
    public var to: String
    public var bytes: Int64?
    /// Whether the target exists now (its original becomes a checkpoint).
    public var targetExists: Bool

    public init(from: String, to: String, bytes: Int64?, targetExists: Bool) {
        self.from = from
        self.to = to
        self.bytes = bytes
        self.targetExists = targetExists
    }
}

/// The planned change of one resource, with why.
public struct ResourceChange: Sendable, Codable, Hashable {
    public var address: Address
    public var action: ChangeAction
    public var reasons: [String]
    public var movements: [Movement]
    public var warnings: [String]
    /// Resources this one runs after (inferred and `after`), sorted.
    public var dependsOn: [Address]

    public init(address: Address, action: ChangeAction, reasons: [String], movements: [Movement] = [],
                warnings: [String] = [], dependsOn: [Address] = []) {
        self.address = address
        self.action = action
        self.reasons = reasons
        self.movements = movements
        self.warnings = warnings
        self.dependsOn = dependsOn
    }

    /// Bytes this change moves (unknown sizes count as 0).
    public var bytes: Int64 { movements.reduce(0) { $0 + ($1.bytes ?? 0) } }

    /// Whether this change writes data (so downstream readers see new content).
    public var movesData: Bool {
        switch action {
        case .create, .replace: true
        case .update: address.kind == .backup && !movements.isEmpty
        case .noop, .forget: false
        }
    }
}
