import Foundation

/// Parsers for the small value languages of plan files: sizes, durations, times, `${env:...}`.
public enum PlanValueParsing {
    /// Bytes for a size such as `"512 MiB"`, `"20 GiB"`, `"1.5 GB"`, `"100 MB"` or `"1024"`.
    ///
    /// Units are case-insensitive: `B`, SI `KB MB GB TB PB` (powers of 1000) and IEC
    /// `KiB MiB GiB TiB PiB` (powers of 1024). Nil for anything else, zero, or more than Int64 holds.
    public static func parseSize(_ text: String) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var numberEnd = trimmed.startIndex
        while numberEnd < trimmed.endIndex, trimmed[numberEnd].isASCII,
              trimmed[numberEnd].isNumber || trimmed[numberEnd] == "." {
            numberEnd = trimmed.index(after: numberEnd)
        }
        let numberText = trimmed[..<numberEnd]
        guard !numberText.isEmpty, numberText.first != ".", numberText.last != ".",
              let number = Decimal(string: String(numberText)) else { return nil }
        let unit = trimmed[numberEnd...].trimmingCharacters(in: .whitespaces).lowercased()
        let multipliers: [String: Decimal] = [
            "": 1, "b": 1,
            "kb": 1_000, "mb": 1_000_000, "gb": 1_000_000_000, "tb": 1_000_000_000_000, "pb": 1_000_000_000_000_000,
            "kib": Decimal(Int64(1) << 10), "mib": Decimal(Int64(1) << 20), "gib": Decimal(Int64(1) << 30),
            "tib": Decimal(Int64(1) << 40), "pib": Decimal(Int64(1) << 50),
        ]
        guard let multiplier = multipliers[unit] else { return nil }
        var bytes = number * multiplier
        var rounded = Decimal()
        NSDecimalRound(&rounded, &bytes, 0, .plain)
        guard rounded > 0, rounded <= Decimal(Int64.max) else { return nil }
        return NSDecimalNumber(decimal: rounded).int64Value
    }

    /// Seconds for a duration such as `"24h"`, `"30m"`, `"7d"`, `"1h30m"` or `"90s"`: one or more
    /// number-unit pairs with units `d`, `h`, `m`, `s`. Nil for anything else or zero.
    public static func parseDuration(_ text: String) -> Double? {
        let units: [Character: Double] = ["d": 86_400, "h": 3_600, "m": 60, "s": 1]
        var total = 0.0
        var number = ""
        var sawPair = false
        for character in text.trimmingCharacters(in: .whitespaces).lowercased() {
            if character.isASCII && (character.isNumber || character == ".") {
                number.append(character)
            } else if let unit = units[character] {
                guard let value = Double(number), number.first != ".", number.last != "." else { return nil }
                total += value * unit
                number = ""
                sawPair = true
            } else {
                return nil
            }
        }
        guard number.isEmpty, sawPair, total > 0, total.isFinite else { return nil }
        return total
    }

    /// The integer a JSON number literal denotes, or nil when it has a fractional part or is out of
    /// range. JSON Schema counts `1.0` and `1e2` as integers (draft 2020-12, "integer": any number
    /// with a zero fractional part), so the loader takes them as the schema does.
    public static func integer(fromJSONNumber literal: String) -> Int64? {
        if let exact = Int64(literal) { return exact }
        guard let value = Double(literal), value.isFinite, value.rounded() == value,
              abs(value) <= 9_007_199_254_740_992 else { return nil }
        return Int64(value)
    }

    /// A time in RFC 3339 form (§5.6: `2026-11-20T16:00:00Z`, with an optional fraction and a `Z`
    /// or `±hh:mm` offset; `T` and `Z` may be lowercase, as its note allows). A date or time that
    /// does not exist (`2026-02-30`, `2025-02-29`, hour 24, minute 60, a leap second `:60`, which
    /// Foundation cannot hold) is nil, never rolled over into the next month.
    public static func parseTime(_ text: String) -> Date? {
        guard let upper = checkedTime(text) else { return nil }
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        if let date = plain.date(from: upper) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: upper)
    }

    /// `text` with `T` and `Z` in capitals when it is an RFC 3339 time that exists (see `parseTime`),
    /// else nil: what `ISO8601DateFormatter` may then read without rolling a day over.
    public static func checkedTime(_ text: String) -> String? {
        let upper = text.uppercased()
        let scalars = Array(upper.utf8)
        func digits(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= scalars.count else { return nil }
            var value = 0
            for byte in scalars[start..<start + count] {
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        func byte(_ index: Int, is expected: Character) -> Bool {
            index < scalars.count && scalars[index] == expected.asciiValue!
        }
        guard let year = digits(0, 4), byte(4, is: "-"), let month = digits(5, 2), byte(7, is: "-"),
              let day = digits(8, 2), byte(10, is: "T"), let hour = digits(11, 2), byte(13, is: ":"),
              let minute = digits(14, 2), byte(16, is: ":"), let second = digits(17, 2) else { return nil }
        var index = 19
        if byte(index, is: ".") {
            index += 1
            let start = index
            while index < scalars.count, scalars[index] >= 48, scalars[index] <= 57 { index += 1 }
            guard index > start else { return nil }
        }
        if byte(index, is: "Z") {
            index += 1
        } else if byte(index, is: "+") || byte(index, is: "-") {
            guard let offsetHour = digits(index + 1, 2), byte(index + 3, is: ":"), let offsetMinute = digits(index + 4, 2),
                  offsetHour <= 23, offsetMinute <= 59 else { return nil }
            index += 6
        } else {
            return nil
        }
        guard index == scalars.count else { return nil }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...12).contains(month), (1...days[month - 1]).contains(day), hour <= 23, minute <= 59, second <= 59 else {
            return nil
        }
        return upper
    }

    /// The result of expanding `${env:...}` references in one string.
    public struct Expansion: Sendable, Equatable {
        public var text: String
        /// Variables referenced without a default that are not set.
        public var unsetVariables: [String]
        /// A `${` that does not form a valid reference, described for the user.
        public var malformed: String?
    }

    /// Expands `${env:NAME}` (an error when unset) and `${env:NAME:-default}` (the default when
    /// unset or empty, like the shell). `$${` writes a literal `${`. The default is taken as written,
    /// up to the first `}`; it is not expanded again. Any other `${...}` is malformed. `encode`, when
    /// given, transforms each variable's value before it is inserted (percent-encoding in a URL's
    /// userinfo), never the text around it.
    public static func expand(_ text: String, environment: [String: String],
                              encodingValues encode: ((String) -> String)? = nil) -> Expansion {
        guard text.utf8.contains(UInt8(ascii: "$")) else { return Expansion(text: text, unsetVariables: [], malformed: nil) }
        var output = ""
        var unset: [String] = []
        var malformed: String?
        let scalars = Array(text.unicodeScalars)
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "$", index + 2 < scalars.count, scalars[index + 1] == "$", scalars[index + 2] == "{" {
                output += "${"
                index += 3
                continue
            }
            guard scalar == "$", index + 1 < scalars.count, scalars[index + 1] == "{" else {
                output.unicodeScalars.append(scalar)
                index += 1
                continue
            }
            guard let close = scalars[(index + 2)...].firstIndex(of: "}") else {
                malformed = malformed ?? "a \"${\" is not closed by \"}\""
                output.unicodeScalars.append(contentsOf: scalars[index...])
                break
            }
            var body = String(String.UnicodeScalarView(scalars[(index + 2)..<close]))
            index = close + 1
            guard body.hasPrefix("env:") else {
                malformed = malformed ?? "only ${env:NAME} and ${env:NAME:-default} are supported"
                continue
            }
            body.removeFirst(4)
            var name = body
            var fallback: String?
            if let separator = body.range(of: ":-") {
                name = String(body[..<separator.lowerBound])
                fallback = String(body[separator.upperBound...])
            }
            guard isVariableName(name) else {
                malformed = malformed ?? "\"\(name)\" is not an environment variable name"
                continue
            }
            if let value = environment[name], !(fallback != nil && value.isEmpty) {
                output += encode?(value) ?? value
            } else if let fallback {
                output += fallback
            } else {
                unset.append(name)
            }
        }
        return Expansion(text: output, unsetVariables: unset, malformed: malformed)
    }

    static func isVariableName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !(first >= "0" && first <= "9") else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0 == "_" || $0.properties.isAlphabetic || ($0 >= "0" && $0 <= "9")) }
    }

    /// True for an instance or resource name: one or more of `[A-Za-z0-9_.-]`.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x5F || byte == 0x2E || byte == 0x2D
        }
    }

    /// Levenshtein distance between two strings, by Unicode scalars.
    public static func editDistance(_ a: String, _ b: String) -> Int {
        let left = Array(a.unicodeScalars)
        let right = Array(b.unicodeScalars)
        if left.isEmpty { return right.count }
        if right.isEmpty { return left.count }
        var previous = Array(0...right.count)
        var current = previous
        for i in 1...left.count {
            current[0] = i
            for j in 1...right.count {
                let cost = left[i - 1] == right[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            }
            swap(&previous, &current)
        }
        return previous[right.count]
    }

    /// The candidate closest to `word`, if it is close enough to be a likely typo.
    public static func closest(to word: String, in candidates: [String]) -> String? {
        var best: (String, Int)?
        for candidate in candidates {
            let distance = editDistance(word.lowercased(), candidate.lowercased())
            if distance < best?.1 ?? Int.max { best = (candidate, distance) }
        }
        guard let (candidate, distance) = best else { return nil }
        let limit = max(2, min(word.count, candidate.count) / 3)
        return distance <= limit ? candidate : nil
    }

    /// True when a URL written in a plan carries a literal password in its userinfo
    /// (`scheme://user:secret@host`), a literal userinfo token where no account is expected
    /// (`https://TOKEN@host`), or a literal secret query or fragment parameter (`?password=...`,
    /// `?access_token=...`, `#api_key=...`, names compared after percent-decoding).
    /// A value that is wholly one `${env:...}` reference is not literal.
    public static func urlHasLiteralPassword(_ raw: String) -> Bool {
        // `${env:URL:-default}`: the default is a literal URL of its own, read as one.
        if isWholeReference(Substring(raw)), let dash = raw.range(of: ":-") {
            return urlHasLiteralPassword(String(raw[dash.upperBound..<raw.index(before: raw.endIndex)]))
        }
        let hasAt = raw.utf8.contains(UInt8(ascii: "@"))
        let hasQuery = raw.utf8.contains(UInt8(ascii: "?")) || raw.utf8.contains(UInt8(ascii: "#"))
            || raw.utf8.contains(UInt8(ascii: ";")) || raw.utf8.contains(UInt8(ascii: "%"))
        if !hasAt && !hasQuery { return false }
        if hasQuery && queryHasLiteralSecret(raw) { return true }
        // `@`, `:` and `/` inside `${...}` references do not split the URL.
        guard let parts = splitUserInfo(raw) else { return false }
        let scheme = parts.head.dropLast(3).lowercased()
        guard let password = parts.password else {
            // A bare userinfo is an account name for database schemes and a token elsewhere.
            if Redaction.accountSchemes.contains(scheme) || parts.user.isEmpty { return false }
            return !isWholeReference(parts.user)
        }
        if password.isEmpty { return false }
        return !isWholeReference(password)
    }

    /// True for a value that is exactly one `${env:...}` reference.
    static func isWholeReference(_ value: Substring) -> Bool {
        value.hasPrefix("${env:") && value.hasSuffix("}") && value.dropFirst(2).firstIndex(of: "$") == nil
            && value.filter({ $0 == "}" }).count == 1
    }

    /// True when a query or fragment parameter that holds secrets (`password=`, `access_token=`,
    /// ...) has a literal value. Parameters are split at `&` and `;`; names are percent-decoded.
    static func queryHasLiteralSecret(_ raw: String) -> Bool {
        // A path parameter (`/;password=...`) and percent-encoded separators count too (fresh
        // tester round 33, F4).
        let decoded = raw.removingPercentEncoding ?? raw
        if decoded != raw, queryHasLiteralSecret(decoded) { return true }
        guard let start = raw.firstIndex(where: { $0 == "?" || $0 == "#" || $0 == ";" }) else { return false }
        let query = raw[raw.index(after: start)...]
        for pair in query.split(whereSeparator: { $0 == "&" || $0 == ";" || $0 == "#" || $0 == "?" }) {
            guard let equals = pair.firstIndex(of: "=") else { continue }
            let rawName = String(pair[..<equals])
            let name = (rawName.removingPercentEncoding ?? rawName).lowercased()
            let value = pair[pair.index(after: equals)...]
            if Redaction.secretParameters.contains(name), !value.isEmpty, !isWholeReference(value) { return true }
        }
        return false
    }

    /// The parts of a URL template (before `${env:...}` expansion): the text up to and including
    /// `://`, the user and password of the userinfo (nil when absent), and the rest from the host
    /// on. `@`, `:` and `/` inside `${...}` do not count. Nil when the text has no `://` or no
    /// userinfo.
    static func splitUserInfo(_ raw: String) -> (head: Substring, user: Substring, password: Substring?, rest: Substring)? {
        guard let schemeEnd = raw.range(of: "://") else { return nil }
        // A `://` inside a reference (`${env:URL:-mysql://root@host}`) is not this URL's scheme:
        // the whole value comes from the reference and has no userinfo of its own here.
        var opened = 0
        var scan = raw.startIndex
        while scan < schemeEnd.lowerBound {
            if raw[scan...].hasPrefix("${") { opened += 1 } else if raw[scan] == "}" && opened > 0 { opened -= 1 }
            scan = raw.index(after: scan)
        }
        if opened > 0 { return nil }
        let afterScheme = raw[schemeEnd.upperBound...]
        var depth = 0
        var authorityEnd = afterScheme.endIndex
        var lastAt: String.Index?
        var firstColon: String.Index?
        var index = afterScheme.startIndex
        while index < afterScheme.endIndex {
            let c = afterScheme[index]
            if c == "$", afterScheme[index...].hasPrefix("${") {
                depth += 1
            } else if c == "}" && depth > 0 {
                depth -= 1
            } else if depth == 0 {
                if c == "/" || c == "?" || c == "#" { authorityEnd = index; break }
                if c == "@" { lastAt = index }
            }
            index = afterScheme.index(after: index)
        }
        guard let at = lastAt, at < authorityEnd else { return nil }
        depth = 0
        index = afterScheme.startIndex
        while index < at {
            let c = afterScheme[index]
            if c == "$", afterScheme[index...].hasPrefix("${") { depth += 1 }
            else if c == "}" && depth > 0 { depth -= 1 }
            else if depth == 0 && c == ":" { firstColon = index; break }
            index = afterScheme.index(after: index)
        }
        let head = raw[..<schemeEnd.upperBound]
        let rest = raw[raw.index(after: at)...]
        if let colon = firstColon {
            return (head, afterScheme[..<colon], afterScheme[afterScheme.index(after: colon)..<at], rest)
        }
        return (head, afterScheme[..<at], nil, rest)
    }

    /// The values the `${env:...}` references in the path of URL template `raw` take (the part
    /// after the host, up to `?` or `#`; SPEC §9, "Values from the environment in a path"), as
    /// `expand` would insert them. Empty when `raw` is not a `scheme://` URL, is one whole
    /// reference (the URL comes from the environment as a whole: its parts are redacted by the
    /// usual rules), or has no reference in its path. `:`, `/`, `?`, `#` and `@` inside
    /// `${...}` do not count.
    public static func pathReferenceValues(_ raw: String, environment: [String: String]) -> [String] {
        pathReferences(raw, environment: environment).map(\.value)
    }

    /// `pathReferenceValues`, each with the reference that gives it, as written (`${env:NAME}`,
    /// `${env:NAME:-default}`): what a journal keeps in its place (`Redaction.templatingPathValues`).
    public static func pathReferences(_ raw: String, environment: [String: String]) -> [(value: String, reference: String)] {
        guard !isWholeReference(Substring(raw)), let schemeEnd = raw.range(of: "://"),
              !raw[..<schemeEnd.lowerBound].contains("$") else { return [] }
        var values: [(value: String, reference: String)] = []
        var inPath = false
        var index = schemeEnd.upperBound
        while index < raw.endIndex {
            let c = raw[index]
            if raw[index...].hasPrefix("$${") {
                index = raw.index(index, offsetBy: 3)
                continue
            }
            if raw[index...].hasPrefix("${") {
                guard let close = raw[index...].firstIndex(of: "}") else { break }
                if inPath, let value = referenceValue(raw[raw.index(index, offsetBy: 2)..<close], environment: environment) {
                    values.append((value, String(raw[index...close])))
                }
                index = raw.index(after: close)
                continue
            }
            if c == "?" || c == "#" { break }
            if c == "/" { inPath = true }
            index = raw.index(after: index)
        }
        return values.filter { !$0.value.isEmpty }
    }

    /// The value `expand` inserts for the body of one reference (`env:NAME` or `env:NAME:-default`).
    private static func referenceValue(_ body: Substring, environment: [String: String]) -> String? {
        guard body.hasPrefix("env:") else { return nil }
        let rest = body.dropFirst(4)
        if let separator = rest.range(of: ":-") {
            let value = environment[String(rest[..<separator.lowerBound])] ?? ""
            return value.isEmpty ? String(rest[separator.upperBound...]) : value
        }
        return environment[String(rest)]
    }

    /// The variable of a value that is exactly one `${env:NAME}` reference without a default.
    static func wholeReferenceVariable(_ value: Substring) -> String? {
        guard isWholeReference(value), !value.contains(":-") else { return nil }
        let name = String(value.dropFirst(6).dropLast())
        return isVariableName(name) ? name : nil
    }

    /// A value made safe for a URL's userinfo: everything but RFC 3986's unreserved characters
    /// percent-encoded, so that a password such as `Pa@X/rest` cannot end the userinfo early.
    static func percentEncodedUserInfo(_ value: String) -> String {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }
}
