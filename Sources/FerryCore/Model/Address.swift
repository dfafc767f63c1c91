/// The kind of a resource, as it appears in a plan file and in addresses.
public enum ResourceKind: String, Sendable, Codable, CaseIterable, Comparable {
    case `import`
    case copy
    case backup

    /// The plan-file section that holds resources of this kind.
    public var section: String {
        switch self {
        case .import: "imports"
        case .copy: "copies"
        case .backup: "backups"
        }
    }

    public static func < (lhs: ResourceKind, rhs: ResourceKind) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// A resource's stable name across plans and state: `import.NAME`, `copy.NAME`, `backup.NAME`.
public struct Address: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    public var kind: ResourceKind
    public var name: String

    public init(_ kind: ResourceKind, _ name: String) {
        self.kind = kind
        self.name = name
    }

    /// Parses `import.NAME`, `copy.NAME` or `backup.NAME`; nil for anything else.
    public init?(parsing text: String) {
        guard let dot = text.firstIndex(of: ".") else { return nil }
        guard let kind = ResourceKind(rawValue: String(text[..<dot])) else { return nil }
        let name = String(text[text.index(after: dot)...])
        guard !name.isEmpty else { return nil }
        self.init(kind, name)
    }

    public var description: String { "\(kind.rawValue).\(name)" }

    public static func < (lhs: Address, rhs: Address) -> Bool {
        (lhs.kind, lhs.name) < (rhs.kind, rhs.name)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let parsed = Address(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad address \(text)"))
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// One database on one instance: what resources read and write.
public struct DatabaseRef: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    public var instance: String
    public var database: String

    public init(instance: String, database: String) {
        self.instance = instance
        self.database = database
    }

    public var description: String { "\(instance)/\(database)" }

    public static func < (lhs: DatabaseRef, rhs: DatabaseRef) -> Bool {
        (lhs.instance, lhs.database) < (rhs.instance, rhs.database)
    }
}
