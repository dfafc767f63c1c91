import Foundation

/// Keeps secrets out of everything Ferry prints or writes (SPEC §9).
///
/// URLs are redacted by an allow-list, not a deny-list: every query parameter value, every
/// fragment and every userinfo part is taken for a secret unless it is known to be harmless. A
/// signed URL's `X-Goog-Signature`, an `access_token`, an `api_key` or a bare `TOKEN@host` are
/// secrets whatever they are called.
public enum Redaction {
    /// Query parameters whose values are secret when written literally in a plan (`validate`
    /// refuses them with `LiteralPassword`). Redaction does not use this list: it masks every
    /// parameter that is not in `harmlessParameters`.
    static let secretParameters: Set<String> = [
        "password", "pass", "passwd", "pwd", "secret", "token", "key", "access_key", "secret_key",
        "access_token", "refresh_token", "id_token", "api_key", "apikey", "api-key", "client_secret",
        "x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature",
        "x-goog-credential", "signature", "sig", "auth", "authorization", "credential", "credentials",
        "session_token", "sessiontoken", "private_key", "code",
    ]

    /// How an error names a url's query parameter `item` it refuses: its name when it is written
    /// `name=value` with a plain name (letters, digits, `-`, `_`, `.`; up to 40), else a phrase
    /// that shows none of it (a bare `?s3cret` may be the secret itself).
    public static func parameterLabel(_ item: URLQueryItem) -> String {
        let plain = item.value != nil && (1...40).contains(item.name.count)
            && item.name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
        return plain ? item.name : "(one not written name=value; not shown)"
    }

    /// Query parameters whose values are never secret (compared lowercased, after percent-decoding):
    /// they are shown as written. Everything else is printed as `***`.
    static let harmlessParameters: Set<String> = [
        "part", "partnumber", "versionid", "version", "region", "db", "database", "format",
        "ssl", "sslmode", "tls", "timeout", "connect_timeout", "charset", "encoding", "compression",
        "response-content-type", "response-content-disposition", "x-amz-algorithm", "x-amz-date",
        "x-amz-expires", "x-amz-signedheaders", "x-goog-algorithm", "x-goog-date", "x-goog-expires",
        "x-goog-signedheaders", "alt", "generation", "prefix", "schema",
    ]

    /// Schemes whose userinfo user is an account name worth showing (`mysql://app@db`); the
    /// password part is still masked. For any other scheme (`https://TOKEN@host`) the whole
    /// userinfo is masked: it is usually a token.
    static let accountSchemes: Set<String> = [
        "mysql", "mariadb", "postgres", "postgresql", "redis", "rediss", "ftp", "ftps",
    ]

    /// The one rule for a URL's userinfo (SPEC §9, "Secrets in URLs"): true when `url`
    /// (`scheme://...`) holds more than one `@`, or an `@` after a `/`, `?` or `#`. Such a URL
    /// cannot be split into userinfo and host without guessing: a password with a raw `#`, `?`,
    /// `/` or `@` (`redis://u:Sec#ret@h`) would be cut there by a URL parser and its pieces taken
    /// for the host, path, query or fragment, printed as such and sent to the resolver. Every
    /// place that reads a URL which may hold credentials refuses it (`InvalidParameter`, showing
    /// no part of it), and `redactURL` shows it only as `scheme://***`. Each of these characters is
    /// percent-encoded where it is meant literally (`%40`, `%2F`, `%3F`, `%23`).
    public static func hasAmbiguousUserInfo(_ url: String) -> Bool {
        guard let schemeEnd = url.range(of: "://") else { return false }
        let rest = url[schemeEnd.upperBound...]
        guard let firstAt = rest.firstIndex(of: "@") else { return false }
        if rest[rest.index(after: firstAt)...].contains("@") { return true }
        return rest[..<firstAt].contains { $0 == "/" || $0 == "?" || $0 == "#" }
    }

    /// What a refusal of such a URL says after naming the field (no part of the URL).
    public static let ambiguousUserInfoProblem =
        "holds an unencoded '@', '/', '?' or '#' in its userinfo (or an '@' after its host), so its password cannot be told from its host"
    /// The hint of that refusal.
    public static let ambiguousUserInfoHint =
        "percent-encode them in the user and password (%40, %2F, %3F, %23) and any '@' after the host (%40), or give the password as \"password\": {\"env\": \"VAR\"}"

    /// The URL with userinfo secrets, query values and the fragment replaced by `***`, and
    /// control characters escaped. Text that is not a URL is returned with only the escaping.
    /// A URL whose userinfo is ambiguous (`hasAmbiguousUserInfo`) is only `scheme://***`.
    ///
    /// - `scheme://user:secret@host/p?part=1&token=t#frag` → `scheme://user:***@host/p?part=1&token=***#***`
    /// - `https://TOKEN@host/x` → `https://***@host/x`
    /// - `redis://u:Sec#ret@host` → `redis://***`
    public static func redactURL(_ text: String) -> String {
        guard let schemeEnd = text.range(of: ":") else { return escapeControlCharacters(text) }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard !scheme.isEmpty, scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) })
        else { return escapeControlCharacters(maskUserInfoAnywhere(text)) }
        if hasAmbiguousUserInfo(text) {
            return escapeControlCharacters(String(text[..<schemeEnd.lowerBound])) + "://***"
        }
        var rest = text[schemeEnd.upperBound...]
        var output = String(text[..<schemeEnd.upperBound])
        // The fragment, then the query, are cut off the end first: an '@' or '/' in them means nothing.
        var fragment: Substring?
        if let hash = rest.firstIndex(of: "#") {
            fragment = rest[rest.index(after: hash)...]
            rest = rest[..<hash]
        }
        var query: Substring?
        if let question = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: question)...]
            rest = rest[..<question]
        }
        if rest.hasPrefix("//") {
            output += "//"
            rest = rest.dropFirst(2)
            let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            if let at = authority.lastIndex(of: "@") {
                let userInfo = authority[..<at]
                if accountSchemes.contains(scheme) {
                    if let colon = userInfo.firstIndex(of: ":") {
                        output += userInfo[..<colon] + ":***"
                    } else {
                        output += userInfo
                    }
                } else {
                    output += "***"
                }
                output += authority[at...]
            } else {
                output += authority
            }
            output += maskingPathValues(redactPathParameters(rest[authorityEnd...]))
        } else {
            output += maskingPathValues(redactPathParameters(rest))
        }
        if let query {
            output += "?" + redactQuery(query)
        }
        if let fragment {
            output += fragment.isEmpty ? "#" : "#***"
        }
        return escapeControlCharacters(output)
    }

    /// A URL's path with what follows its first `;` (RFC 3986 path parameters, which some clients
    /// read as `;password=...`), or a percent-encoded `;`, `?` or `#`, masked as a query's
    /// parameters are (fresh tester round 33, F4: `mysql://host/;password=X` reached the journal).
    public static func redactPathParameters(_ path: Substring) -> String {
        var index = path.startIndex
        while index < path.endIndex {
            if path[index] == ";" {
                return path[..<index] + ";" + redactQuery(path[path.index(after: index)...])
            }
            if path[index] == "%", let end = path.index(index, offsetBy: 3, limitedBy: path.endIndex),
               ["%3b", "%3f", "%23"].contains(path[index..<end].lowercased()) {
                return path[..<end] + redactQuery(path[end...])
            }
            index = path.index(after: index)
        }
        return String(path)
    }

    /// `name=value` pairs (separated by `&` or `;`) with every value not known harmless masked.
    static func redactQuery(_ query: Substring) -> String {
        var output = ""
        var pair = ""
        func flush() {
            guard !pair.isEmpty else { return }
            if let equals = pair.firstIndex(of: "=") {
                let name = String(pair[..<equals])
                let decoded = (name.removingPercentEncoding ?? name).lowercased()
                let value = pair[pair.index(after: equals)...]
                if harmlessParameters.contains(decoded) || value.isEmpty {
                    output += pair
                } else {
                    output += name + "=***"
                }
            } else {
                // A bare word (`?TOKEN`) may be the secret itself.
                let decoded = (pair.removingPercentEncoding ?? pair).lowercased()
                output += harmlessParameters.contains(decoded) ? pair : "***"
            }
            pair = ""
        }
        for character in query {
            if character == "&" || character == ";" {
                flush()
                output.append(character)
            } else {
                pair.append(character)
            }
        }
        flush()
        return output
    }

    /// For text that is not a URL but holds `://...@`: masks what lies between them.
    static func maskUserInfoAnywhere(_ text: String) -> String {
        guard let scheme = text.range(of: "://") else { return text }
        let rest = text[scheme.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return text }
        return String(text[..<scheme.upperBound]) + "***" + String(text[at...])
    }

    /// Masks every URL found inside free text (an error message, a server's answer), so that a
    /// URL that reached a message whole cannot carry its secrets to the user.
    /// Values `${env:...}` put into a source's or a location's path (`maskPathValue`) of four
    /// characters or more are masked wherever they appear.
    public static func redactURLs(in text: String) -> String {
        maskingPathValues(redactURLsOnly(in: text), minimumLength: 4)
    }

    static func redactURLsOnly(in text: String) -> String {
        guard text.contains("://") else { return text }
        var output = ""
        var index = text.startIndex
        while let found = text[index...].range(of: "://") {
            // Back up over the scheme.
            var start = found.lowerBound
            while start > index {
                let before = text.index(before: start)
                let c = text[before]
                guard c.isASCII && (c.isLetter || c.isNumber || "+-.".contains(c)) else { break }
                start = before
            }
            // The URL runs to the next whitespace or quote.
            let end = text[found.upperBound...].firstIndex { $0.isWhitespace || "\"'<>`".contains($0) } ?? text.endIndex
            output += text[index..<start]
            if start == found.lowerBound {
                output += text[start..<end]
            } else {
                output += redactURL(String(text[start..<end]))
            }
            index = end
        }
        output += text[index...]
        return output
    }

    /// The text with C0 and C1 control characters, DEL and the Unicode line and bidirectional
    /// controls written as visible escapes (`\u{1B}`, `\n`), so that a name from a plan file cannot
    /// move the cursor, colour the terminal or forge a line of output (SPEC §9).
    public static func escapeControlCharacters(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var output = ""
        output.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            guard isControl(scalar) else {
                output.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            default: output += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            }
        }
        return output
    }

    /// JSON text with the control characters the encoder leaves raw (DEL, C1, line separators,
    /// bidirectional controls) written as `\uXXXX`: the same value, but nothing a terminal acts on.
    public static func escapeJSONControls(_ json: String) -> String {
        guard json.unicodeScalars.contains(where: isControl) else { return json }
        var output = ""
        output.reserveCapacity(json.utf8.count + 16)
        for scalar in json.unicodeScalars {
            if isControl(scalar) && scalar.value >= 0x20 {
                let hex = String(scalar.value, radix: 16, uppercase: false)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                output.unicodeScalars.append(scalar)
            }
        }
        return output
    }

    /// True for a scalar that a terminal or a renderer may act on instead of showing.
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x20 || (0x7F...0x9F).contains(value) { return true }
        // Line and paragraph separators, bidirectional overrides and isolates, zero-width marks
        // that reorder or hide text.
        return value == 0x2028 || value == 0x2029 || (0x202A...0x202E).contains(value)
            || (0x2066...0x2069).contains(value) || value == 0x200E || value == 0x200F || value == 0x061C
    }
}
