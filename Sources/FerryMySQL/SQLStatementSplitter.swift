import FerryCore
import FerryIO
import Foundation

/// One statement of a SQL file and the line it starts on.
struct SQLStatement {
    var bytes: [UInt8]
    var line: Int
    var text: String { String(decoding: bytes.prefix(300), as: UTF8.self) }
}

/// Splits a stream of MySQL statements as the `mysql` client does: quotes (' " `), comments
/// (`-- `, `#`, `/* */`; `/*! */` is kept, it is executable), and `DELIMITER` lines. Memory holds
/// one statement and one read buffer.
final class SQLStatementSplitter {
    private let reader: any ByteReader
    private var data: [UInt8] = []
    private var pos = 0
    private var eof = false
    private var line = 1
    private var delimiter: [UInt8] = Array(";".utf8)

    init(reader: any ByteReader) { self.reader = reader }

    /// Ensures at least `n` bytes are buffered from `pos` unless the stream ends; returns how many are.
    private func ensure(_ n: Int) throws -> Int {
        if data.count - pos >= n || eof { return data.count - pos }
        data.removeFirst(pos)
        pos = 0
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while data.count < n && !eof {
            let got = try chunk.withUnsafeMutableBytes { try reader.read(into: $0) }
            if got == 0 { eof = true } else { data += chunk[0..<got] }
        }
        return data.count - pos
    }

    private func peek(_ offset: Int) throws -> UInt8? {
        try ensure(offset + 1) > offset ? data[pos + offset] : nil
    }

    private func matches(_ word: [UInt8], caseInsensitive: Bool) throws -> Bool {
        guard try ensure(word.count) >= word.count else { return false }
        for i in 0..<word.count {
            var a = data[pos + i], b = word[i]
            if caseInsensitive { if a >= 65 && a <= 90 { a += 32 }; if b >= 65 && b <= 90 { b += 32 } }
            if a != b { return false }
        }
        return true
    }

    /// The next statement without its delimiter, or nil at the end.
    func next() throws -> SQLStatement? {
        var current: [UInt8] = []
        var hasContent = false
        var startLine = line
        var atLineStart = true
        while let c = try peek(0) {
            // DELIMITER command: only between statements, at the start of a line.
            if !hasContent && atLineStart && (c == UInt8(ascii: "d") || c == UInt8(ascii: "D")),
               try matches(Array("delimiter ".utf8), caseInsensitive: true) {
                var rest: [UInt8] = []
                pos += 10
                while let b = try peek(0), b != 10 { rest.append(b); pos += 1 }
                let value = String(decoding: rest, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                if !value.isEmpty { delimiter = Array(value.utf8) }
                current.removeAll()
                continue
            }
            if c == 10 { line += 1; atLineStart = true; current.append(c); pos += 1; continue }
            if c == 32 || c == 9 || c == 13 { if hasContent { current.append(c) }; pos += 1; continue }
            atLineStart = false
            if c == delimiter[0], try matches(delimiter, caseInsensitive: false) {
                pos += delimiter.count
                if hasContent { return SQLStatement(bytes: current, line: startLine) }
                current.removeAll()
                continue
            }
            switch c {
            case UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "`"):
                if !hasContent { hasContent = true; startLine = line; current.removeAll() }
                current.append(c); pos += 1
                while let b = try peek(0) {
                    current.append(b); pos += 1
                    if b == 10 { line += 1 }
                    if b == UInt8(ascii: "\\") && c != UInt8(ascii: "`") {
                        if let e = try peek(0) { current.append(e); pos += 1; if e == 10 { line += 1 } }
                        continue
                    }
                    if b == c { break }
                }
            case UInt8(ascii: "#"):
                while let b = try peek(0), b != 10 { pos += 1 }
            case UInt8(ascii: "-") where try peek(1) == UInt8(ascii: "-") && [nil, 32, 9, 10, 13].contains(try peek(2)):
                while let b = try peek(0), b != 10 { pos += 1 }
            case UInt8(ascii: "/") where try peek(1) == UInt8(ascii: "*"):
                let executable = try peek(2) == UInt8(ascii: "!")
                if executable && !hasContent { hasContent = true; startLine = line; current.removeAll() }
                var comment: [UInt8] = [c]
                pos += 1
                var previous: UInt8 = 0
                while let b = try peek(0) {
                    comment.append(b); pos += 1
                    if b == 10 { line += 1 }
                    if previous == UInt8(ascii: "*") && b == UInt8(ascii: "/") && comment.count > 2 { break }
                    previous = b
                }
                if executable || hasContent { current += comment } else { current.append(32) }
            default:
                if !hasContent { hasContent = true; startLine = line; current.removeAll() }
                current.append(c); pos += 1
            }
        }
        return hasContent ? SQLStatement(bytes: current, line: startLine) : nil
    }

    /// `USE` and `CREATE DATABASE` statements of a dump would leave the shadow; an import skips them.
    static func isIgnoredInImport(_ text: String) -> Bool {
        let upper = text.prefix(40).uppercased()
        return upper.hasPrefix("USE ") || upper.hasPrefix("USE`") || upper.hasPrefix("CREATE DATABASE")
            || upper.hasPrefix("CREATE SCHEMA")
    }

    /// The database a `USE` statement selects.
    static func usedDatabase(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.uppercased().hasPrefix("USE") else { return nil }
        var rest = trimmed.dropFirst(3).trimmingCharacters(in: .whitespaces)
        if rest.hasSuffix(";") { rest.removeLast() }
        if rest.hasPrefix("`") && rest.hasSuffix("`") && rest.count >= 2 {
            return String(rest.dropFirst().dropLast()).replacingOccurrences(of: "``", with: "`")
        }
        return rest.isEmpty ? nil : rest
    }

    /// A `CREATE ... EVENT` statement, or maybe one (mysqldump wraps it in version comments).
    static func mayCreateEvent(_ text: String) -> Bool {
        guard !isDataStatement(text) else { return false }
        let head = text.prefix(400).uppercased()
        return head.contains("CREATE") && head.contains(" EVENT ")
    }

    /// INSERT / REPLACE statements carry data, which is never rewritten.
    static func isDataStatement(_ text: String) -> Bool {
        let upper = text.prefix(10).uppercased()
        return upper.hasPrefix("INSERT") || upper.hasPrefix("REPLACE")
    }

    /// `bytes` without any occurrence of `pattern`.
    static func removing(_ pattern: [UInt8], from bytes: [UInt8]) -> [UInt8] {
        guard !pattern.isEmpty, bytes.count >= pattern.count else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == pattern[0], i + pattern.count <= bytes.count, bytes[i..<(i + pattern.count)].elementsEqual(pattern) {
                i += pattern.count
            } else {
                out.append(bytes[i]); i += 1
            }
        }
        return out
    }
}
