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
/// (`-- `, `#`, `/* */`; `/*! */` and `/*M! */` are kept, they are executable), and `DELIMITER` lines. Memory holds
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
            // DELIMITER command, as the mysql client reads it: only between statements, first on
            // its line, any letter case, then blanks (spaces or tabs); the delimiter is the first
            // word after them (quotes removed), and the rest of the line is ignored.
            if !hasContent && atLineStart && (c == UInt8(ascii: "d") || c == UInt8(ascii: "D")),
               try matches(Array("delimiter".utf8), caseInsensitive: true), let blank = try peek(9), blank == 32 || blank == 9 {
                pos += 9
                while let b = try peek(0), b == 32 || b == 9 { pos += 1 }
                var word: [UInt8] = []
                if let q = try peek(0), q == UInt8(ascii: "'") || q == UInt8(ascii: "\"") || q == UInt8(ascii: "`") {
                    pos += 1
                    while let b = try peek(0), b != q, b != 10 { word.append(b); pos += 1 }
                } else {
                    while let b = try peek(0), b != 10, b != 32, b != 9, b != 13 { word.append(b); pos += 1 }
                }
                while let b = try peek(0), b != 10 { pos += 1 }
                if !word.isEmpty { delimiter = word }
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
                // `/*!...*/` and MariaDB's `/*M!...*/` are executable: sent as they are.
                let executable = try peek(2) == UInt8(ascii: "!") || (try peek(2) == UInt8(ascii: "M") && peek(3) == UInt8(ascii: "!"))
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
}
