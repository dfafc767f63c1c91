import Foundation

/// The PostgreSQL dialect of `SQLStatementScanner`, as `psql` cuts a file (see the type's notes).
struct PostgresScanState {
    enum Mode: Equatable { case code, single(escapes: Bool), double, dollar([UInt8]), lineComment, blockComment(Int), copyData }
    var mode = Mode.code
    var parenDepth = 0
    /// The last two bytes of code before the current one (E-strings, dollar quotes), oldest first.
    var before: (UInt8, UInt8) = (0x20, 0x20)
    /// Data of the COPY being read, whole lines.
    var copyBuffer: [UInt8] = []
    var copyLine = 0
    /// The statement just emitted was a `COPY ... FROM STDIN`: skip to the end of its line, then data.
    var skipToLineEnd = false
}

extension SQLStatementScanner {
    public static func isIdentifierByte(_ b: UInt8) -> Bool {
        ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A) || b == 0x5F || (b >= 0x30 && b <= 0x39) || b >= 0x80 || b == 0x24
    }

    /// True for `COPY ... FROM STDIN` (any letter case, any blanks): its data follows in the input.
    public static func isCopyFromStdin(_ text: [UInt8]) -> Bool {
        let lower = String(decoding: text.prefix(4096).map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
        guard lower.hasPrefix("copy") else { return false }
        return lower.range(of: #"\bfrom\s+stdin\b"#, options: .regularExpression) != nil
    }
}
