/// Reads JSON text into `JSONNode`s with positions, working on UTF-8 bytes for speed.
///
/// Strict RFC 8259: no comments, no trailing commas, no single quotes. A leading UTF-8 byte order
/// mark is skipped. A `\u` escape that names a lone surrogate is a syntax error.
public enum JSONParser {
    /// The deepest nesting accepted; deeper input is a syntax error rather than a stack overflow.
    public static let maximumDepth = 512

    public static func parse(_ text: String) throws(JSONSyntaxError) -> JSONNode {
        var text = text
        let result: Result<JSONNode, JSONSyntaxError> = text.withUTF8 { buffer in
            var reader = ByteCursor(bytes: buffer)
            do throws(JSONSyntaxError) {
                return .success(try reader.parseDocument())
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    public static func parse(bytes: [UInt8]) throws(JSONSyntaxError) -> JSONNode {
        let result: Result<JSONNode, JSONSyntaxError> = bytes.withUnsafeBufferPointer { buffer in
            var reader = ByteCursor(bytes: buffer)
            do throws(JSONSyntaxError) {
                return .success(try reader.parseDocument())
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}

private enum Byte {
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let slash = UInt8(ascii: "/")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let colon = UInt8(ascii: ":")
    static let comma = UInt8(ascii: ",")
    static let minus = UInt8(ascii: "-")
    static let plus = UInt8(ascii: "+")
    static let dot = UInt8(ascii: ".")
    static let zero = UInt8(ascii: "0")
    static let nine = UInt8(ascii: "9")
    static let newline = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
    static let tab = UInt8(ascii: "\t")
    static let space = UInt8(ascii: " ")
}

/// The parser's state over one buffer. Columns are computed from the start of the current line,
/// resuming from the last computed offset so that a long single-line file stays linear.
private struct ByteCursor {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    var line = 1
    var lineStart = 0
    var cachedOffset = 0
    var cachedColumn = 1
    var depth = 0

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    mutating func position(at offset: Int) -> TextPosition {
        if cachedOffset < lineStart || cachedOffset > offset {
            cachedOffset = lineStart
            cachedColumn = 1
        }
        var column = cachedColumn
        var i = cachedOffset
        while i < offset {
            if bytes[i] & 0xC0 != 0x80 { column += 1 }
            i += 1
        }
        cachedOffset = offset
        cachedColumn = column
        return TextPosition(line: line, column: column)
    }

    mutating func failure(_ message: String, at offset: Int) -> JSONSyntaxError {
        JSONSyntaxError(message: message, position: position(at: offset))
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            let byte = bytes[index]
            if byte == Byte.space || byte == Byte.tab || byte == Byte.carriageReturn {
                index += 1
            } else if byte == Byte.newline {
                index += 1
                line += 1
                lineStart = index
            } else {
                return
            }
        }
    }

    mutating func parseDocument() throws(JSONSyntaxError) -> JSONNode {
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            index = 3
            lineStart = 3
            cachedOffset = 3
        }
        skipWhitespace()
        guard index < bytes.count else {
            throw failure("the file is empty; expected a JSON object", at: index)
        }
        let node = try parseValue()
        skipWhitespace()
        if index < bytes.count {
            throw failure("unexpected text after the end of the JSON value", at: index)
        }
        return node
    }

    mutating func parseValue() throws(JSONSyntaxError) -> JSONNode {
        skipWhitespace()
        guard index < bytes.count else {
            throw failure("unexpected end of file; expected a value", at: index)
        }
        let start = position(at: index)
        switch bytes[index] {
        case Byte.openBrace:
            return try parseObject(start: start)
        case Byte.openBracket:
            return try parseArray(start: start)
        case Byte.quote:
            return JSONNode(.string(try parseString(start: start)), at: start)
        case Byte.minus, Byte.zero...Byte.nine:
            return JSONNode(.number(try parseNumber()), at: start)
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return JSONNode(.bool(true), at: start)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return JSONNode(.bool(false), at: start)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return JSONNode(.null, at: start)
        case Byte.closeBrace, Byte.closeBracket, Byte.comma, Byte.colon:
            throw failure("expected a value", at: index)
        case UInt8(ascii: "'"):
            throw failure("strings must use double quotes", at: index)
        default:
            throw failure("expected a value (a string in double quotes, a number, an object, a list, true, false or null)", at: index)
        }
    }

    mutating func expectLiteral(_ word: StaticString) throws(JSONSyntaxError) {
        let count = word.utf8CodeUnitCount
        let start = word.utf8Start
        guard index + count <= bytes.count else {
            throw failure("expected a value (true, false or null are written in lower case)", at: index)
        }
        for offset in 0..<count where bytes[index + offset] != start[offset] {
            throw failure("expected a value (true, false or null are written in lower case)", at: index)
        }
        index += count
        if index < bytes.count, isIdentifierByte(bytes[index]) {
            throw failure("expected a value (strings must be in double quotes)", at: index - count)
        }
    }

    func isIdentifierByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= Byte.zero && byte <= Byte.nine) || byte == UInt8(ascii: "_")
    }

    mutating func enter() throws(JSONSyntaxError) {
        depth += 1
        if depth > JSONParser.maximumDepth {
            throw failure("nesting deeper than \(JSONParser.maximumDepth) levels", at: index)
        }
    }

    mutating func parseObject(start: TextPosition) throws(JSONSyntaxError) -> JSONNode {
        try enter()
        index += 1
        var members: [JSONMember] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == Byte.closeBrace {
            index += 1
            depth -= 1
            return JSONNode(.object(members), at: start)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count else {
                throw failure("unexpected end of file; the object opened at \(start) is not closed", at: index)
            }
            guard bytes[index] == Byte.quote else {
                throw failure("expected a field name in double quotes", at: index)
            }
            let keyPosition = position(at: index)
            let key = try parseString(start: keyPosition)
            skipWhitespace()
            guard index < bytes.count, bytes[index] == Byte.colon else {
                if index >= bytes.count {
                    throw failure("unexpected end of file; expected ':' after the field name", at: index)
                }
                throw failure("expected ':' after the field name", at: index)
            }
            index += 1
            let value = try parseValue()
            members.append(JSONMember(key: key, keyPosition: keyPosition, value: value))
            if try closesAfterElement(close: Byte.closeBrace, container: "object", start: start, element: "field", follower: "field") {
                return JSONNode(.object(members), at: start)
            }
        }
    }

    /// After an object's field or a list's element: true at the closing bracket (consumed, the
    /// nesting left), false after a comma with more to come; a trailing comma, a missing comma or
    /// the end of the file is an error that names the container.
    mutating func closesAfterElement(close: UInt8, container: String, start: TextPosition,
                                     element: String, follower: String) throws(JSONSyntaxError) -> Bool {
        skipWhitespace()
        guard index < bytes.count else {
            throw failure("unexpected end of file; the \(container) opened at \(start) is not closed", at: index)
        }
        let byte = bytes[index]
        if byte == Byte.comma {
            let commaPosition = position(at: index)
            index += 1
            skipWhitespace()
            if index < bytes.count, bytes[index] == close {
                throw JSONSyntaxError(message: "trailing comma: no \(follower) follows it", position: commaPosition)
            }
            return false
        }
        guard byte == close else {
            throw failure("expected ',' or '\(Character(Unicode.Scalar(close)))' after a \(element) (a comma is missing?)", at: index)
        }
        index += 1
        depth -= 1
        return true
    }

    mutating func parseArray(start: TextPosition) throws(JSONSyntaxError) -> JSONNode {
        try enter()
        index += 1
        var elements: [JSONNode] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == Byte.closeBracket {
            index += 1
            depth -= 1
            return JSONNode(.array(elements), at: start)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count else {
                throw failure("unexpected end of file; the list opened at \(start) is not closed", at: index)
            }
            elements.append(try parseValue())
            if try closesAfterElement(close: Byte.closeBracket, container: "list", start: start, element: "list element", follower: "value") {
                return JSONNode(.array(elements), at: start)
            }
        }
    }

    /// Reads a string whose opening quote is at `index`; `start` is that quote's position.
    mutating func parseString(start: TextPosition) throws(JSONSyntaxError) -> String {
        index += 1
        var segmentStart = index
        var scratch: [UInt8] = []
        var escaped = false
        while true {
            guard index < bytes.count else {
                throw JSONSyntaxError(message: "unterminated string: the closing '\"' is missing", position: start)
            }
            let byte = bytes[index]
            if byte == Byte.quote {
                let text: String
                if escaped {
                    scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[segmentStart..<index]))
                    text = String(decoding: scratch, as: UTF8.self)
                } else {
                    text = String(decoding: UnsafeBufferPointer(rebasing: bytes[segmentStart..<index]), as: UTF8.self)
                }
                index += 1
                return text
            }
            if byte == Byte.backslash {
                if !escaped {
                    escaped = true
                    scratch.reserveCapacity(index - segmentStart + 16)
                }
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[segmentStart..<index]))
                try readEscape(into: &scratch)
                segmentStart = index
                continue
            }
            if byte < 0x20 {
                if byte == Byte.newline || byte == Byte.carriageReturn {
                    throw JSONSyntaxError(message: "unterminated string: the closing '\"' is missing before the end of the line",
                                          position: start)
                }
                throw failure("control character in a string; write it as an escape such as \\t or \\u0001", at: index)
            }
            index += 1
        }
    }

    /// Reads the escape at `index` (a backslash) and appends its UTF-8 bytes.
    mutating func readEscape(into scratch: inout [UInt8]) throws(JSONSyntaxError) {
        let backslashOffset = index
        guard index + 1 < bytes.count else {
            throw failure("unfinished escape at the end of the file", at: backslashOffset)
        }
        let code = bytes[index + 1]
        index += 2
        switch code {
        case Byte.quote: scratch.append(Byte.quote)
        case Byte.backslash: scratch.append(Byte.backslash)
        case Byte.slash: scratch.append(Byte.slash)
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "n"): scratch.append(Byte.newline)
        case UInt8(ascii: "r"): scratch.append(Byte.carriageReturn)
        case UInt8(ascii: "t"): scratch.append(Byte.tab)
        case UInt8(ascii: "u"):
            guard let first = readHex4() else {
                throw failure("a \\u escape needs four hexadecimal digits", at: backslashOffset)
            }
            var scalar: Unicode.Scalar?
            if first >= 0xD800 && first < 0xDC00 {
                if index + 1 < bytes.count, bytes[index] == Byte.backslash, bytes[index + 1] == UInt8(ascii: "u") {
                    let save = index
                    index += 2
                    if let second = readHex4(), second >= 0xDC00 && second < 0xE000 {
                        scalar = Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
                    } else {
                        index = save
                    }
                }
            } else {
                scalar = Unicode.Scalar(first)
            }
            // A lone surrogate is no character: replacing it (U+FFFD) would change the value, and
            // `ferry fmt` would write the replacement back over the user's escape.
            guard let character = scalar else {
                throw failure("a \\u escape names a lone surrogate, which is not a character", at: backslashOffset)
            }
            scratch.append(contentsOf: String(Character(character)).utf8)
        default:
            throw failure("invalid escape; JSON allows \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX", at: backslashOffset)
        }
    }

    mutating func readHex4() -> UInt32? {
        guard index + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for offset in 0..<4 {
            let byte = bytes[index + offset]
            let digit: UInt32
            switch byte {
            case Byte.zero...Byte.nine: digit = UInt32(byte - Byte.zero)
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: return nil
            }
            value = value << 4 | digit
        }
        index += 4
        return value
    }

    func isDigit(_ offset: Int) -> Bool {
        offset < bytes.count && bytes[offset] >= Byte.zero && bytes[offset] <= Byte.nine
    }

    /// Reads a number by the JSON grammar and returns its literal text.
    mutating func parseNumber() throws(JSONSyntaxError) -> String {
        let start = index
        if bytes[index] == Byte.minus { index += 1 }
        guard isDigit(index) else {
            throw failure("expected a digit", at: index)
        }
        if bytes[index] == Byte.zero {
            index += 1
            if isDigit(index) {
                throw failure("numbers cannot have leading zeros", at: start)
            }
        } else {
            while isDigit(index) { index += 1 }
        }
        if index < bytes.count, bytes[index] == Byte.dot {
            index += 1
            guard isDigit(index) else { throw failure("expected a digit after the decimal point", at: index) }
            while isDigit(index) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == Byte.plus || bytes[index] == Byte.minus { index += 1 }
            guard isDigit(index) else { throw failure("expected a digit in the exponent", at: index) }
            while isDigit(index) { index += 1 }
        }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
    }
}
