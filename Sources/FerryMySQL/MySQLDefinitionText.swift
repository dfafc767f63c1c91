import FerryIO

/// The parts of a stored-object definition that an import rewrites: its `DEFINER` clause and an
/// event's status (issue 14 §1, stored objects).
///
/// A definition is `CREATE [OR REPLACE] [ALGORITHM = x] [DEFINER = account] [SQL SECURITY x]
/// {VIEW | TRIGGER | PROCEDURE | FUNCTION | EVENT | PACKAGE [BODY]} [IF NOT EXISTS] name ...` or
/// the same with `ALTER` (MariaDB Knowledge Base, CREATE VIEW / TRIGGER / PROCEDURE / FUNCTION /
/// EVENT, ALTER VIEW / EVENT). The text is read with `SQLLexer` as the server of `dialect` reads
/// it, so the clause is found inside the executable comments mysqldump and mariadb-dump write
/// (`/*!50017 DEFINER=`u`@`h`*/` for triggers, `/*!50013 DEFINER=... SQL SECURITY DEFINER */`
/// for views, `/*!50117 DEFINER=...*/` for events, `/*!50020 DEFINER=...*/` for MySQL 5's
/// routines) and is not found in one the server skips.
/// The account may be written `user`, `user@host` with either part a word, a backquoted or
/// double-quoted identifier or a string, with blanks before the `@` (none after it: MariaDB's
/// lexer then reads an empty host and refuses the statement, 1064), or `CURRENT_USER`,
/// `CURRENT_USER()`, MariaDB's `CURRENT_ROLE` and `CURRENT_ROLE()`. A clause the server would
/// refuse (a blank after the `@`, `CURRENT_USER@host`, `N'u'`, a host such as `h-x` or `%`
/// unquoted, two `DEFINER` clauses, anything but `SQL SECURITY` or the object's kind after the
/// account) is not read as a definer at all: the statement then goes to the server as written,
/// which refuses it as it would refuse it to the `mariadb` client (each case checked against
/// MariaDB 10.11, `MySQLDefinitionTextTests`). Pure functions of the text; nothing here runs SQL.
enum MySQLDefinitionText {
    /// The account a `DEFINER` clause names.
    enum Definer: Hashable, Sendable, CustomStringConvertible {
        /// `CURRENT_USER`, `CURRENT_USER()`: whoever runs the statement.
        case current
        /// `CURRENT_ROLE`, `CURRENT_ROLE()`: the role the running session has set (the server
        /// refuses the clause, 1446, when the session has none).
        case currentRole
        /// `user@host`; `host` nil when the clause gives none (MySQL reads `'%'`, MariaDB may
        /// read a role).
        case account(user: String, host: String?)

        /// The clause's value as SQL, quoted with backticks (read the same under any `sql_mode`).
        var sql: String {
            switch self {
            case .current: return "CURRENT_USER"
            case .currentRole: return "CURRENT_ROLE"
            case let .account(user, host): return quoteName(user) + (host.map { "@" + quoteName($0) } ?? "")
            }
        }

        var description: String { sql }
    }

    /// What a definition statement defines.
    struct Definition: Equatable {
        /// `VIEW`, `TRIGGER`, `PROCEDURE`, `FUNCTION`, `EVENT` or `PACKAGE`.
        var kind: String
        /// The object's name (the last part of a qualified name), nil when none could be read.
        var name: String?
        /// `ALTER` rather than `CREATE`.
        var isAlter: Bool
        /// The bytes from `DEFINER` through the account (nil: the statement names no definer).
        var definerRange: Range<Int>?
        var definer: Definer?
        /// Token index of the name's last part (for what follows it).
        var nameToken: Int?
        /// `IF NOT EXISTS`: the server leaves an existing object as it is.
        var ifNotExists = false
    }

    static let kinds: Set<String> = ["VIEW", "TRIGGER", "PROCEDURE", "FUNCTION", "EVENT", "PACKAGE"]

    /// The words the server's grammar lets follow a `DEFINER` clause (`CREATE DEFINER=x
    /// AGGREGATE FUNCTION` is MariaDB's).
    static let afterDefiner: Set<String> = kinds.union(["SQL", "AGGREGATE"])

    /// The definition `bytes` is, or nil when it is no `CREATE`/`ALTER` of a view, trigger,
    /// routine, event or package (a table, an index, a `CREATE FUNCTION ... SONAME` is read as a
    /// function too, as the server would).
    static func definition(in bytes: [UInt8], dialect: SQLDialect) -> Definition? {
        definition(in: bytes, tokens: SQLLexer.tokens(bytes, dialect: dialect), dialect: dialect)
    }

    static func definition(in bytes: [UInt8], tokens t: [SQLToken], dialect: SQLDialect) -> Definition? {
        func kw(_ i: Int) -> String? { i < t.count ? SQLLexer.keyword(t[i], in: bytes) : nil }
        func punct(_ i: Int, _ c: Unicode.Scalar) -> Bool { i < t.count && SQLLexer.isPunctuation(t[i], c, in: bytes) }
        guard let first = kw(0), first == "CREATE" || first == "ALTER" else { return nil }
        var definition = Definition(kind: "", name: nil, isAlter: first == "ALTER")
        // Where the grammar puts the clause: `CREATE [OR REPLACE] [ALGORITHM = x] DEFINER = ...`.
        var clauseAt = 1
        if kw(clauseAt) == "OR" && kw(clauseAt + 1) == "REPLACE" { clauseAt += 2 }
        if kw(clauseAt) == "ALGORITHM" && punct(clauseAt + 1, "=") { clauseAt += 3 }
        var i = 1
        var definerSeen = false
        while i < t.count && i < 64 {
            let word = kw(i)
            if word == "DEFINER", !definerSeen {
                // One clause at most, in its place; one the server would not read leaves the
                // statement as written.
                definerSeen = true
                if i == clauseAt, punct(i + 1, "="), let (account, last) = self.account(at: i + 2, in: bytes, tokens: t, dialect: dialect),
                   let next = kw(last + 1), afterDefiner.contains(next) {
                    definition.definerRange = t[i].start..<t[last].end
                    definition.definer = account
                    i = last + 1
                    continue
                }
            }
            if let word, kinds.contains(word) {
                definition.kind = word
                break
            }
            // `TABLE`, `INDEX`, `DATABASE`, `USER`...: not a stored object.
            if let word, ["TABLE", "INDEX", "DATABASE", "SCHEMA", "USER", "ROLE", "SEQUENCE", "SERVER", "TABLESPACE",
                          "LOGFILE", "RESOURCE", "INSTANCE", "TEMPORARY", "UNIQUE", "FULLTEXT", "SPATIAL"].contains(word) { return nil }
            i += 1
        }
        guard !definition.kind.isEmpty else { return nil }
        var j = i + 1
        if definition.kind == "PACKAGE" && kw(j) == "BODY" { j += 1 }
        if kw(j) == "IF" && kw(j + 1) == "NOT" && kw(j + 2) == "EXISTS" { j += 3; definition.ifNotExists = true }
        if kw(j) == "IF" && kw(j + 1) == "EXISTS" { j += 2 }
        while j + 2 < t.count, punct(j + 1, "."), isName(t[j + 2]) { j += 2 }
        if j < t.count, isName(t[j]) {
            definition.name = SQLLexer.identifier(t[j], in: bytes)
            definition.nameToken = j
        }
        return definition
    }

    static func isName(_ token: SQLToken) -> Bool {
        token.kind == .word || token.kind == .quotedIdentifier || token.kind == .doubleQuoted
    }

    /// The account written at token `i`, and the index of its last token.
    static func account(at i: Int, in bytes: [UInt8], tokens t: [SQLToken], dialect: SQLDialect) -> (Definer, Int)? {
        guard i < t.count else { return nil }
        if let word = SQLLexer.keyword(t[i], in: bytes), word == "CURRENT_USER" || word == "CURRENT_ROLE" {
            let who: Definer = word == "CURRENT_USER" ? .current : .currentRole
            if i + 2 < t.count, SQLLexer.isPunctuation(t[i + 1], "(", in: bytes), SQLLexer.isPunctuation(t[i + 2], ")", in: bytes) {
                return (who, i + 2)
            }
            return (who, i)
        }
        guard let user = unquoted(t[i], in: bytes, dialect: dialect) else { return nil }
        let next = i + 1
        guard next < t.count, t[next].kind == .variable, bytes[t[next].start] == UInt8(ascii: "@") else {
            return (.account(user: user, host: nil), i)
        }
        // `@` alone (a blank or comment after it: the server reads an empty host name and then
        // fails on the next token) or `@@`: no account the server reads.
        guard t[next].end - t[next].start >= 2, bytes[t[next].start + 1] != UInt8(ascii: "@") else { return nil }
        let hostToken = SQLToken(kind: .word, start: t[next].start + 1, end: t[next].end, line: t[next].line)
        // An empty host is read as `%` (the server stores `u@%` for `'u'@''`).
        func account(_ host: String) -> (Definer, Int) { (.account(user: user, host: host.isEmpty ? "%" : host), next) }
        switch bytes[hostToken.start] {
        case UInt8(ascii: "'"): return unquoted(SQLToken(kind: .string, start: hostToken.start, end: hostToken.end, line: 0), in: bytes, dialect: dialect).map(account)
        case UInt8(ascii: "\""): return unquoted(SQLToken(kind: .doubleQuoted, start: hostToken.start, end: hostToken.end, line: 0), in: bytes, dialect: dialect).map(account)
        case UInt8(ascii: "`"): return SQLLexer.identifier(SQLToken(kind: .quotedIdentifier, start: hostToken.start, end: hostToken.end, line: 0), in: bytes).map(account)
        default: return account(String(decoding: bytes[hostToken.start..<hostToken.end], as: UTF8.self))
        }
    }

    /// The bytes a quoted literal's body (`body`, between its quotes) stands for: doubled
    /// `quote`s read as one and, with `backslashEscapes`, the server's escapes undone (MariaDB
    /// and MySQL manuals, "String Literals", the escape table): `\0 \b \n \r \t \Z`, `\%` and
    /// `\_` kept with their backslash (as the server keeps them, for LIKE), any other `\x` as `x`.
    static func unescapedBody(_ body: ArraySlice<UInt8>, quote: UInt8, backslashEscapes: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(body.count)
        var i = body.startIndex
        while i < body.endIndex {
            let c = body[i]
            if backslashEscapes && c == 0x5C && i + 1 < body.endIndex {
                let e = body[i + 1]
                switch e {
                case UInt8(ascii: "0"): out.append(0)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "Z"): out.append(0x1A)
                case UInt8(ascii: "%"), UInt8(ascii: "_"): out.append(c); out.append(e)
                default: out.append(e)
                }
                i += 2
                continue
            }
            out.append(c)
            if c == quote && i + 1 < body.endIndex && body[i + 1] == quote { i += 1 }
            i += 1
        }
        return out
    }

    /// A word, identifier or string token's text: quotes removed, doubled quotes and (in strings,
    /// where the dialect has them) backslash escapes undone.
    static func unquoted(_ token: SQLToken, in bytes: [UInt8], dialect: SQLDialect) -> String? {
        switch token.kind {
        case .word, .quotedIdentifier:
            return SQLLexer.identifier(token, in: bytes)
        case .string, .doubleQuoted:
            guard token.end - token.start >= 2 else { return nil }
            let quote = bytes[token.start]
            let escapes = dialect.backslashEscapes && (token.kind == .string || dialect.backslashInDoubleQuotes)
            let end = bytes[token.end - 1] == quote ? token.end - 1 : token.end
            return String(decoding: unescapedBody(bytes[(token.start + 1)..<end], quote: quote, backslashEscapes: escapes), as: UTF8.self)
        default:
            return nil
        }
    }

    /// `bytes` with the definition's `DEFINER` clause replaced by `DEFINER=<definer>`, or removed
    /// when `definer` is nil (the object's definer is then whoever runs the statement). Nil when
    /// `bytes` is no definition; unchanged when it names no definer and `definer` is nil.
    static func replacingDefiner(in bytes: [UInt8], dialect: SQLDialect, with definer: Definer?) -> [UInt8]? {
        let t = SQLLexer.tokens(bytes, dialect: dialect)
        guard let definition = definition(in: bytes, tokens: t, dialect: dialect) else { return nil }
        let replacement = definer.map { Array("DEFINER=\($0.sql)".utf8) } ?? []
        var out = bytes
        if let range = definition.definerRange {
            out.replaceSubrange(range, with: replacement)
        } else if !replacement.isEmpty {
            // After the leading `CREATE`/`ALTER` (and `OR REPLACE`).
            var after = t[0].end
            if SQLLexer.keyword(t[1], in: bytes) == "OR", t.count > 2, SQLLexer.keyword(t[2], in: bytes) == "REPLACE" { after = t[2].end }
            out.replaceSubrange(after..<after, with: [0x20] + replacement)
        }
        return out
    }

    /// An event definition made to leave the event parked (`DISABLE ON SLAVE`: it never fires,
    /// and is told apart from an event something else enabled or disabled later, such as an
    /// `ALTER EVENT` in a procedure the file calls), and the status the file meant it to
    /// have: `intended` is the status the statement states (`ENABLE`, `DISABLE`, `DISABLE ON
    /// SLAVE`; `DISABLE ON REPLICA` reads as the latter), `ENABLE` for a `CREATE` that states none
    /// (the server's default), nil for an `ALTER` that states none (the status stays). `ENABLE`
    /// and `DISABLE` are replaced by `DISABLE ON SLAVE`; a `CREATE` that states none gets
    /// `DISABLE ON SLAVE` before its `COMMENT` or `DO`. `renamedTo`: an `ALTER EVENT ... RENAME TO`
    /// name. Nil when `bytes` is no event definition.
    static func disablingEvent(_ bytes: [UInt8], dialect: SQLDialect) -> (bytes: [UInt8], name: String?, renamedTo: String?, intended: String?)? {
        let t = SQLLexer.tokens(bytes, dialect: dialect)
        guard let definition = definition(in: bytes, tokens: t, dialect: dialect), definition.kind == "EVENT",
              let nameToken = definition.nameToken else { return nil }
        func kw(_ i: Int) -> String? { i < t.count ? SQLLexer.keyword(t[i], in: bytes) : nil }
        var depth = 0
        var status: (range: Range<Int>, text: String)?
        var comment: Int?
        var body: Int?
        var renamedTo: String?
        var i = nameToken + 1
        while i < t.count {
            if SQLLexer.isPunctuation(t[i], "(", in: bytes) { depth += 1 }
            else if SQLLexer.isPunctuation(t[i], ")", in: bytes) { depth = max(0, depth - 1) }
            else if depth == 0, let word = kw(i) {
                if word == "DO" { body = i; break }
                if word == "ENABLE" { status = (t[i].start..<t[i].end, "ENABLE") }
                else if word == "DISABLE" {
                    if kw(i + 1) == "ON", let who = kw(i + 2), who == "SLAVE" || who == "REPLICA" {
                        status = (t[i].start..<t[i + 2].end, "DISABLE ON SLAVE"); i += 2
                    } else {
                        status = (t[i].start..<t[i].end, "DISABLE")
                    }
                } else if word == "COMMENT" { comment = i }
                else if word == "RENAME", kw(i + 1) == "TO" {
                    var j = i + 2
                    while j + 2 < t.count, SQLLexer.isPunctuation(t[j + 1], ".", in: bytes), isName(t[j + 2]) { j += 2 }
                    if j < t.count, isName(t[j]) { renamedTo = SQLLexer.identifier(t[j], in: bytes) }
                    i = j
                }
            }
            i += 1
        }
        var out = bytes
        let intended: String?
        if let status {
            intended = status.text
            if status.text != "DISABLE ON SLAVE" { out.replaceSubrange(status.range, with: Array("DISABLE ON SLAVE".utf8)) }
        } else if !definition.isAlter {
            intended = "ENABLE"
            guard let at = comment ?? body else { return (bytes, definition.name, renamedTo, nil) }
            out.replaceSubrange(t[at].start..<t[at].start, with: Array("DISABLE ON SLAVE ".utf8))
        } else {
            intended = nil
        }
        return (out, definition.name, renamedTo, intended)
    }

    /// The renames of `RENAME TABLE[S] [IF EXISTS] a [WAIT n | NOWAIT] TO b, c TO d ...`, in the
    /// order the server makes them (last parts of qualified names), or nil for any other
    /// statement. A view renamed so keeps its definer (MariaDB 10.11).
    static func tableRenames(in bytes: [UInt8], dialect: SQLDialect) -> [(from: String, to: String)]? {
        let t = SQLLexer.tokens(bytes, dialect: dialect)
        func kw(_ i: Int) -> String? { i < t.count ? SQLLexer.keyword(t[i], in: bytes) : nil }
        guard kw(0) == "RENAME", kw(1) == "TABLE" || kw(1) == "TABLES" else { return nil }
        var i = 2
        if kw(i) == "IF" && kw(i + 1) == "EXISTS" { i += 2 }
        func name() -> String? {
            guard i < t.count, isName(t[i]) else { return nil }
            while i + 2 < t.count, SQLLexer.isPunctuation(t[i + 1], ".", in: bytes), isName(t[i + 2]) { i += 2 }
            defer { i += 1 }
            return SQLLexer.identifier(t[i], in: bytes)
        }
        var renames: [(from: String, to: String)] = []
        while let from = name() {
            if kw(i) == "NOWAIT" { i += 1 } else if kw(i) == "WAIT" { i += 2 }
            guard kw(i) == "TO" else { return nil }
            i += 1
            guard let to = name() else { return nil }
            renames.append((from, to))
            guard i < t.count, SQLLexer.isPunctuation(t[i], ",", in: bytes) else { break }
            i += 1
        }
        return renames.isEmpty ? nil : renames
    }

    /// The kind and names of `DROP {VIEW | TRIGGER | PROCEDURE | FUNCTION | EVENT | PACKAGE [BODY]}
    /// [IF EXISTS] name [, name ...]` (last parts of qualified names), or nil for any other
    /// statement.
    static func droppedObjects(in bytes: [UInt8], dialect: SQLDialect) -> (kind: String, names: [String])? {
        let t = SQLLexer.tokens(bytes, dialect: dialect)
        func kw(_ i: Int) -> String? { i < t.count ? SQLLexer.keyword(t[i], in: bytes) : nil }
        guard kw(0) == "DROP", let kind = kw(1), kinds.contains(kind) else { return nil }
        var i = 2
        if kind == "PACKAGE" && kw(i) == "BODY" { i += 1 }
        if kw(i) == "IF" && kw(i + 1) == "EXISTS" { i += 2 }
        var names: [String] = []
        while i < t.count, isName(t[i]) {
            while i + 2 < t.count, SQLLexer.isPunctuation(t[i + 1], ".", in: bytes), isName(t[i + 2]) { i += 2 }
            if let name = SQLLexer.identifier(t[i], in: bytes) { names.append(name) }
            i += 1
            guard i < t.count, SQLLexer.isPunctuation(t[i], ",", in: bytes) else { break }
            i += 1
        }
        return names.isEmpty ? nil : (kind, names)
    }

    /// An account as `information_schema` shows a definer (`user@host`, split at the last `@`;
    /// a role has no `@`).
    static func definer(shown: String) -> Definer {
        guard let at = shown.lastIndex(of: "@") else { return .account(user: shown, host: nil) }
        return .account(user: String(shown[..<at]), host: String(shown[shown.index(after: at)...]))
    }

    /// Whether the names a trigger, routine or `DROP TRIGGER` statement acts on carry no
    /// qualifier: nothing but a name between `CREATE`/`DROP` and the start of the body (a
    /// trigger's `ROW`, a routine's parameter list) is followed by a `.`. Such a statement acts in
    /// the session's current database alone.
    static func actsOnCurrentDatabaseOnly(_ bytes: [UInt8], dialect: SQLDialect) -> Bool {
        let head = Array(bytes.prefix(4096))
        let t = SQLLexer.tokens(head, dialect: dialect)
        for i in t.indices {
            if SQLLexer.isPunctuation(t[i], "(", in: head) || SQLLexer.keyword(t[i], in: head) == "ROW" { return true }
            if SQLLexer.isPunctuation(t[i], ".", in: head) { return false }
        }
        return true
    }
}
