/// A place in a text file: 1-based line and column. Columns count Unicode scalars (not bytes, not
/// grapheme clusters), so a tab or an `é` is one column.
public struct TextPosition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public static func < (lhs: TextPosition, rhs: TextPosition) -> Bool {
        (lhs.line, lhs.column) < (rhs.line, rhs.column)
    }

    public var description: String { "\(line):\(column)" }
}

/// A JSON value as written in a plan file: positions for every value and key, object keys in
/// their order (duplicates kept), numbers as their literal text.
public struct JSONNode: Hashable, Sendable {
    public indirect enum Value: Hashable, Sendable {
        case object([JSONMember])
        case array([JSONNode])
        case string(String)
        /// The number literal exactly as written (`1`, `1.50`, `2e3`).
        case number(String)
        case bool(Bool)
        case null
    }

    public var value: Value
    /// Where the value starts.
    public var position: TextPosition

    public init(_ value: Value, at position: TextPosition) {
        self.value = value
        self.position = position
    }

    /// The name of the value's JSON type, for messages.
    public var typeName: String {
        switch value {
        case .object: "an object"
        case .array: "a list"
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        }
    }

    public var members: [JSONMember]? {
        if case .object(let members) = value { return members }
        return nil
    }

    public var elements: [JSONNode]? {
        if case .array(let elements) = value { return elements }
        return nil
    }

    public var stringValue: String? {
        if case .string(let text) = value { return text }
        return nil
    }
}

/// One `"key": value` pair of an object.
public struct JSONMember: Hashable, Sendable {
    public var key: String
    public var keyPosition: TextPosition
    public var value: JSONNode

    public init(key: String, keyPosition: TextPosition, value: JSONNode) {
        self.key = key
        self.keyPosition = keyPosition
        self.value = value
    }
}

/// Why a text is not JSON, and the position of the first character that could not be read.
public struct JSONSyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public var position: TextPosition

    public var description: String { "\(position): \(message)" }
}
