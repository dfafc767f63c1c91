import FerryIO
import Foundation

/// What the SQLite import reads of a statement that `SQLStatementScanner` (SQLite dialect) cut.
extension SQLStatementScanner.Statement {
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
