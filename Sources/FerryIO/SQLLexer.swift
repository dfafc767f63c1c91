import Foundation

/// The lexical rules of one SQL dialect, as its own server reads statement text.
///
/// Follows the MariaDB/MySQL lexer (`sql_lex.cc`: `-- ` needs a blank or control character after
/// it, `#` comments, backslash escapes in strings, backtick identifiers, `/*!NNNNN ... */`
/// executable comments whose content counts only when the server's version is at least NNNNN —
/// MariaDB reads 5 or 6 digits and also `/*M!NNNNNN`, and skips `/*!NNNNN` from 50700 through
/// 99999, MySQL 5.7's and 8's) and the SQLite tokenizer (`tokenize.c`:
/// `--` always starts a comment, `[name]` and backtick identifiers, no backslash escapes).
public struct SQLDialect: Sendable {
    public var backslashEscapes: Bool
    /// Backslash escapes inside `"..."` too (false under MySQL's `ANSI_QUOTES`, where `"` quotes
    /// an identifier).
    public var backslashInDoubleQuotes = true
    public var hashComments: Bool
    /// `--` starts a comment only when a blank or control character follows (MySQL).
    public var dashDashNeedsBlank: Bool
    public var bracketIdentifiers: Bool
    public var conditionalComments: Bool
    /// The server's version as MySQL writes it in conditional comments (10.11.6 → 101106); nil:
    /// unknown, then `includeUnknownConditionals` decides.
    public var serverVersion: Int?
    public var mariaDB: Bool
    /// With no known version: whether conditional content counts as code (true) or as a comment.
    public var includeUnknownConditionals: Bool

    public static let sqlite = SQLDialect(backslashEscapes: false, hashComments: false, dashDashNeedsBlank: false,
                                          bracketIdentifiers: true, conditionalComments: false, serverVersion: nil,
                                          mariaDB: false, includeUnknownConditionals: true)

    /// MySQL/MariaDB as a server of `version` (a `SELECT VERSION()` string such as
    /// `10.11.6-MariaDB`; nil when unknown) reads it.
    public static func mysql(version: String?, includeUnknownConditionals: Bool = true) -> SQLDialect {
        SQLDialect(backslashEscapes: true, hashComments: true, dashDashNeedsBlank: true, bracketIdentifiers: false,
                   conditionalComments: true, serverVersion: version.flatMap(versionNumber),
                   mariaDB: version.map { $0.lowercased().contains("mariadb") } ?? true,
                   includeUnknownConditionals: includeUnknownConditionals)
    }

    /// The same, read under the `sql_mode` flags that change quoting: `NO_BACKSLASH_ESCAPES`
    /// (no escapes at all) or `ANSI_QUOTES` (none inside `"`).
    public func quoting(noBackslashEscapes: Bool, ansiQuotes: Bool) -> SQLDialect {
        var copy = self
        if noBackslashEscapes { copy.backslashEscapes = false }
        if ansiQuotes { copy.backslashInDoubleQuotes = false }
        return copy
    }

    /// `10.11.6-MariaDB-log` → 101106; nil when it does not start with `major.minor.patch`.
    public static func versionNumber(_ version: String) -> Int? {
        let parts = version.split(whereSeparator: { !$0.isNumber }).prefix(3).compactMap { Int($0) }
        guard parts.count == 3 else { return nil }
        return parts[0] * 10000 + parts[1] * 100 + parts[2]
    }
}

/// One token of a SQL statement: byte offsets into the statement and the line it starts on
/// (0 for the statement's first line).
public struct SQLToken: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// An unquoted word: a keyword or a plain identifier (`[A-Za-z0-9_$]` and bytes ≥ 0x80, not all digits).
        case word
        case number
        /// `'...'`.
        case string
        /// `"..."`: a string, or an identifier under `ANSI_QUOTES` (and always in SQLite).
        case doubleQuoted
        /// `` `...` `` or `[...]`.
        case quotedIdentifier
        /// `@name`, `@'name'`, `@@name`, `@@scope.name`.
        case variable
        /// Any other single byte.
        case punctuation
    }
    public var kind: Kind
    public var start: Int
    public var end: Int
    public var line: Int

    public init(kind: Kind, start: Int, end: Int, line: Int) {
        self.kind = kind; self.start = start; self.end = end; self.line = line
    }
}

/// Cuts statement text into tokens, skipping blanks and comments (and executable comments' markers,
/// whose content is code when the dialect says so). The one SQL lexer of Ferry: the MySQL and
/// SQLite imports' guards and the MySQL name rewriting (imports and copies) all read through it.
public enum SQLLexer {
    /// The tokens of `bytes`.
    public static func tokens(_ bytes: [UInt8], dialect: SQLDialect) -> [SQLToken] {
        bytes.withUnsafeBufferPointer { tokens($0, dialect: dialect) }
    }

    public static func tokens(_ b: UnsafeBufferPointer<UInt8>, dialect: SQLDialect) -> [SQLToken] {
        var out: [SQLToken] = []
        let n = b.count
        var i = 0
        var line = 0
        var inConditional = false
        @inline(__always) func isWord(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x24 || c >= 0x80
        }
        @inline(__always) func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        /// Skips to after the quote closing the one at `i`.
        func skipQuoted(_ close: UInt8, backslash: Bool, doubling: Bool) {
            i += 1
            while i < n {
                let c = b[i]
                if c == 0x0A { line += 1 }
                if backslash && c == 0x5C { i += 2; if i - 1 < n && b[i - 1] == 0x0A { line += 1 }; continue }
                i += 1
                if c == close {
                    if doubling && i < n && b[i] == close { i += 1; continue }
                    return
                }
            }
        }
        func skipBlockComment() {
            i += 2
            while i < n {
                if b[i] == 0x0A { line += 1 }
                if b[i] == UInt8(ascii: "*") && i + 1 < n && b[i + 1] == UInt8(ascii: "/") { i += 2; return }
                i += 1
            }
        }
        while i < n {
            let c = b[i]
            let start = i
            let startLine = line
            switch c {
            case 0x0A:
                line += 1; i += 1
            case 0x20, 0x09, 0x0D, 0x0B, 0x0C:
                i += 1
            case UInt8(ascii: "#") where dialect.hashComments:
                while i < n && b[i] != 0x0A { i += 1 }
            case UInt8(ascii: "-") where i + 1 < n && b[i + 1] == UInt8(ascii: "-")
                && (!dialect.dashDashNeedsBlank || i + 2 >= n || b[i + 2] <= 0x20):
                while i < n && b[i] != 0x0A { i += 1 }
            case UInt8(ascii: "*") where inConditional && i + 1 < n && b[i + 1] == UInt8(ascii: "/"):
                inConditional = false
                i += 2
            case UInt8(ascii: "/") where i + 1 < n && b[i + 1] == UInt8(ascii: "*"):
                var j = i + 2
                if dialect.conditionalComments, !inConditional, j < n,
                   b[j] == UInt8(ascii: "!") || (b[j] == UInt8(ascii: "M") && j + 1 < n && b[j + 1] == UInt8(ascii: "!")) {
                    let mariaOnly = b[j] == UInt8(ascii: "M")
                    j += mariaOnly ? 2 : 1
                    var digits = 0, version = 0
                    let maxDigits = dialect.mariaDB ? 6 : 5
                    while j < n, digits < maxDigits, isDigit(b[j]) { version = version * 10 + Int(b[j] - 0x30); digits += 1; j += 1 }
                    if digits < 5 { j -= digits; digits = 0 }   // not a version: plain executable comment
                    let included: Bool
                    if mariaOnly && !dialect.mariaDB { included = false }
                    else if digits == 0 { included = true }
                    else if let server = dialect.serverVersion {
                        // MariaDB skips MySQL's 5.7-and-later comments (50700 through 99999) unless
                        // they are its own `/*M!` form (sql_lex.cc: "Ignore all versioned comments
                        // with MySQL versions in the range 50700-999999").
                        included = version <= server && (!dialect.mariaDB || mariaOnly || version < 50700 || version > 99999)
                    }
                    else { included = dialect.includeUnknownConditionals }
                    if included { inConditional = true; i = j } else { skipBlockComment() }
                } else {
                    skipBlockComment()
                }
            case UInt8(ascii: "'"):
                skipQuoted(c, backslash: dialect.backslashEscapes, doubling: true)
                out.append(SQLToken(kind: .string, start: start, end: i, line: startLine))
            case UInt8(ascii: "\""):
                skipQuoted(c, backslash: dialect.backslashEscapes && dialect.backslashInDoubleQuotes, doubling: true)
                out.append(SQLToken(kind: .doubleQuoted, start: start, end: i, line: startLine))
            case UInt8(ascii: "`"):
                skipQuoted(c, backslash: false, doubling: true)
                out.append(SQLToken(kind: .quotedIdentifier, start: start, end: i, line: startLine))
            case UInt8(ascii: "[") where dialect.bracketIdentifiers:
                skipQuoted(UInt8(ascii: "]"), backslash: false, doubling: false)
                out.append(SQLToken(kind: .quotedIdentifier, start: start, end: i, line: startLine))
            case UInt8(ascii: "@"):
                i += 1
                if i < n && b[i] == UInt8(ascii: "@") {
                    i += 1
                    while i < n && isWord(b[i]) { i += 1 }
                    if i + 1 < n && b[i] == UInt8(ascii: ".") && isWord(b[i + 1]) {
                        i += 1
                        while i < n && isWord(b[i]) { i += 1 }
                    }
                } else if i < n && (b[i] == UInt8(ascii: "'") || b[i] == UInt8(ascii: "\"") || b[i] == UInt8(ascii: "`")) {
                    skipQuoted(b[i], backslash: b[i] != UInt8(ascii: "`") && dialect.backslashEscapes, doubling: true)
                } else {
                    while i < n && (isWord(b[i]) || b[i] == UInt8(ascii: ".")) { i += 1 }
                }
                out.append(SQLToken(kind: .variable, start: start, end: i, line: startLine))
            default:
                if isWord(c) {
                    var allDigits = true
                    while i < n && isWord(b[i]) { if !isDigit(b[i]) { allDigits = false }; i += 1 }
                    if allDigits, i + 1 < n, b[i] == UInt8(ascii: "."), isDigit(b[i + 1]) {
                        i += 1
                        while i < n && isWord(b[i]) { i += 1 }
                    }
                    let numeric = allDigits || isDigit(c) && (i - start > 1) && (b[start + 1] == UInt8(ascii: "x") || b[start + 1] == UInt8(ascii: "b"))
                    out.append(SQLToken(kind: numeric ? .number : .word, start: start, end: i, line: startLine))
                } else {
                    i += 1
                    out.append(SQLToken(kind: .punctuation, start: start, end: i, line: startLine))
                }
            }
        }
        return out
    }

    /// A word token upper-cased (ASCII), or nil for any other kind.
    public static func keyword(_ token: SQLToken, in bytes: [UInt8]) -> String? {
        guard token.kind == .word, token.end - token.start <= 32 else { return nil }
        var s = [UInt8]()
        s.reserveCapacity(token.end - token.start)
        for i in token.start..<token.end { let c = bytes[i]; s.append(c >= 0x61 && c <= 0x7A ? c - 32 : c) }
        return String(decoding: s, as: UTF8.self)
    }

    /// The name an identifier token stands for: a word as written, a quoted identifier or
    /// double-quoted token without its quotes (doubled quotes undone); nil for other kinds.
    public static func identifier(_ token: SQLToken, in bytes: [UInt8]) -> String? {
        switch token.kind {
        case .word:
            return String(decoding: bytes[token.start..<token.end], as: UTF8.self)
        case .quotedIdentifier, .doubleQuoted:
            guard token.end - token.start >= 2 else { return nil }
            let q = bytes[token.start]
            let close = q == UInt8(ascii: "[") ? UInt8(ascii: "]") : q
            var out: [UInt8] = []
            var i = token.start + 1
            let end = bytes[token.end - 1] == close ? token.end - 1 : token.end
            while i < end {
                out.append(bytes[i])
                if bytes[i] == close && i + 1 < end && bytes[i + 1] == close { i += 1 }
                i += 1
            }
            return String(decoding: out, as: UTF8.self)
        default:
            return nil
        }
    }

    /// Whether `token` is the single byte `ascii`.
    @inline(__always)
    public static func isPunctuation(_ token: SQLToken, _ ascii: Unicode.Scalar, in bytes: [UInt8]) -> Bool {
        token.kind == .punctuation && bytes[token.start] == UInt8(ascii: ascii)
    }
}
