import CSQLite
import Foundation

/// Cuts a stream of SQL text into complete statements, fed chunk by chunk, remembering the line each
/// statement starts on. A `;` outside strings, quoted names and comments ends a statement when
/// `sqlite3_complete` agrees (so a trigger's `BEGIN ... END` body stays whole). Memory holds only
/// the statement being read.
struct SQLStatementSplitter {
    struct Statement {
        var text: [UInt8]
        var line: Int
    }

    private enum State { case normal, single, double, backtick, bracket, lineComment, blockComment }

    private var state = State.normal
    private var pending: [UInt8] = []
    private var pendingLine = 1
    private var line = 1
    /// The previous byte, to recognise `--`, `/*` and `*/` across chunk boundaries.
    private var previous: UInt8 = 0

    /// Feeds bytes; returns the statements they completed.
    mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [Statement] {
        var out: [Statement] = []
        for byte in bytes {
            if pending.isEmpty {
                if byte == 0x0A { line += 1; previous = byte; continue }
                if byte == 0x20 || byte == 0x09 || byte == 0x0D { previous = byte; continue }
                pendingLine = line
                state = .normal
            }
            pending.append(byte)
            if byte == 0x0A { line += 1 }
            switch state {
            case .normal:
                switch byte {
                case UInt8(ascii: "'"): state = .single
                case UInt8(ascii: "\""): state = .double
                case UInt8(ascii: "`"): state = .backtick
                case UInt8(ascii: "["): state = .bracket
                case UInt8(ascii: "-") where previous == UInt8(ascii: "-"): state = .lineComment
                case UInt8(ascii: "*") where previous == UInt8(ascii: "/"): state = .blockComment; previous = 0; continue
                case UInt8(ascii: ";"):
                    if isComplete() {
                        out.append(Statement(text: pending, line: pendingLine))
                        pending.removeAll(keepingCapacity: true)
                    }
                default: break
                }
            case .single: if byte == UInt8(ascii: "'") { state = .normal }
            case .double: if byte == UInt8(ascii: "\"") { state = .normal }
            case .backtick: if byte == UInt8(ascii: "`") { state = .normal }
            case .bracket: if byte == UInt8(ascii: "]") { state = .normal }
            case .lineComment: if byte == 0x0A { state = .normal }
            case .blockComment: if byte == UInt8(ascii: "/") && previous == UInt8(ascii: "*") { state = .normal; previous = 0; continue }
            }
            previous = byte
        }
        return out
    }

    /// What is left at the end of the input: a last statement without `;`, if it holds anything but comments.
    mutating func finish() -> Statement? {
        defer { pending.removeAll() }
        guard !pending.isEmpty else { return nil }
        return Statement(text: pending, line: pendingLine)
    }

    private func isComplete() -> Bool {
        var text = pending
        text.append(0)
        return text.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { sqlite3_complete($0) != 0 }
        }
    }
}

extension SQLStatementSplitter.Statement {
    /// The first keyword, upper-cased, after comments and blanks (`BEGIN`, `COMMIT`, `INSERT`...).
    var leadingKeyword: String {
        var index = 0
        let bytes = text
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == UInt8(ascii: ";") { index += 1; continue }
            if byte == UInt8(ascii: "-"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "-") {
                while index < bytes.count && bytes[index] != 0x0A { index += 1 }
                continue
            }
            if byte == UInt8(ascii: "/"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "*") {
                index += 2
                while index + 1 < bytes.count && !(bytes[index] == UInt8(ascii: "*") && bytes[index + 1] == UInt8(ascii: "/")) { index += 1 }
                index += 2
                continue
            }
            break
        }
        var word: [UInt8] = []
        while index < bytes.count, (bytes[index] | 0x20) >= UInt8(ascii: "a"), (bytes[index] | 0x20) <= UInt8(ascii: "z") {
            word.append(bytes[index] & ~0x20)
            index += 1
        }
        return String(decoding: word, as: UTF8.self)
    }

    /// The line of the first character after leading comments and blanks.
    var firstCodeLine: Int {
        var index = 0
        var current = line
        let bytes = text
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x0A { current += 1; index += 1; continue }
            if byte == 0x20 || byte == 0x09 || byte == 0x0D { index += 1; continue }
            if byte == UInt8(ascii: "-"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "-") {
                while index < bytes.count && bytes[index] != 0x0A { index += 1 }
                continue
            }
            if byte == UInt8(ascii: "/"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "*") {
                index += 2
                while index + 1 < bytes.count && !(bytes[index] == UInt8(ascii: "*") && bytes[index + 1] == UInt8(ascii: "/")) {
                    if bytes[index] == 0x0A { current += 1 }
                    index += 1
                }
                index += 2
                continue
            }
            break
        }
        return current
    }
}
