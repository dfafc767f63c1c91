import FerryCore
import FerryIO
import Foundation

/// Decides, statement by statement, whether a `.sql` import into a PostgreSQL shadow may run it
/// (SPEC §6: an import runs only inside its shadow). Refused, as `ImportError` naming the file
/// and line, before the statement is sent:
/// - psql meta-commands other than the harmless ones (`\connect` / `\c` reaches another
///   database; `\!`, `\i`, `\copy`, `\o` reach the machine), `\encoding` other than UTF8;
/// - statements on the cluster rather than the database: `CREATE` / `ALTER` / `DROP` of a
///   `DATABASE`, `ROLE`, `USER`, `GROUP`, `TABLESPACE`, `SUBSCRIPTION`, `SERVER`,
///   `USER MAPPING`, `FOREIGN DATA WRAPPER`; `ALTER SYSTEM`; `GRANT` / `REVOKE` of a role;
///   `SET ROLE`, `SET SESSION AUTHORIZATION`; `LOAD`; `CREATE EXTENSION` of `dblink`,
///   `postgres_fdw`, `file_fdw`, `adminpack`;
/// - `COPY` to or from a server file or program (only `STDIN` / `STDOUT`);
/// - functions that reach beyond the database (`dblink*`, `pg_read_file`, `lo_import`,
///   `pg_terminate_backend`, `set_config` of anything but `search_path`...), anywhere in a
///   statement, function bodies and `DO` blocks included, as are the cluster phrases above.
/// Dynamic SQL assembled from pieces at run time is not seen (see README's known gaps).
struct PostgresImportGuard {
    enum Verdict { case run, skip }
    /// The part being read, for messages.
    var source: String
    /// False when the import runs on Ferry's own session (no import role): then dynamic SQL,
    /// which no check can read, is refused too (`EXECUTE` in a `DO` block or function body, and
    /// bodies in procedural languages other than SQL and PL/pgSQL).
    var isolated = true

    /// Where an admitted statement runs when the import has its own role (`PostgresImportRole`).
    enum Route: Equatable {
        /// On the import role's session, as written.
        case importSession
        /// Kept, and run on Ferry's session inside the shadow once everything else has run,
        /// under the checks of `settleImportRole`: `ALTER <object> <name> OWNER TO <role>` alone
        /// (one action) and `ALTER DEFAULT PRIVILEGES FOR ROLE|USER ...` (the role may not act for
        /// other roles; both act inside the shadow only).
        case deferredOwnerChange
    }

    /// An `ALTER ... OWNER TO` kept for the end, with its place.
    struct Deferred {
        var sql: String
        var line: Int
        var source: String
    }

    /// The route of an admitted statement (see `Route`).
    static func route(_ text: [UInt8]) -> Route {
        let w = words(text, limit: 400)
        guard w.count >= 3, !w.contains(";") else { return .importSession }
        if w.count >= 6 && w[0] == "alter" && w[1] == "default" && w[2] == "privileges" && w[3] == "for"
            && (w[4] == "role" || w[4] == "user") {
            return .deferredOwnerChange
        }
        let n = w.count
        if w[0] == "alter" && n >= 5 && w[n - 3] == "owner" && w[n - 2] == "to" && !["(", ",", ";"].contains(w[n - 1])
            && !w.contains(";") {
            // Objects whose ALTER takes several actions separated by commas: one action only.
            let multiAction: Set<String> = ["table", "materialized", "foreign", "type"]
            if multiAction.contains(w[1]) && w.contains(",") { return .importSession }
            if clusterObjects.contains(w[1]) || w[1] == "system" { return .importSession }
            return .deferredOwnerChange
        }
        return .importSession
    }

    static let harmlessMeta: Set<String> = ["restrict", "unrestrict", "set", "unset", "echo", "qecho", "pset", "timing", "."]
    static let clusterObjects: Set<String> = ["database", "role", "user", "group", "tablespace", "subscription", "server"]
    static let reachingFunctions = ["dblink", "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "lo_import", "lo_export",
                                    "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile", "pg_promote",
                                    "pg_switch_wal", "pg_create_restore_point", "pg_file_write", "pg_logdir_ls",
                                    "pg_create_logical_replication_slot", "pg_create_physical_replication_slot", "pg_drop_replication_slot"]
    static let refusedExtensions: Set<String> = ["dblink", "postgres_fdw", "file_fdw", "adminpack"]

    func refuse(_ line: Int, _ why: String) -> FerryError {
        FerryError(.importError, "\(source):\(line): \(why)",
                   hint: "an import runs only inside its own database; remove the statement from the file (nothing was changed)")
    }

    /// The statement's words outside quotes and comments, lowercased (identifiers unquoted).
    static func words(_ text: [UInt8], limit: Int = 12) -> [String] {
        var words: [String] = []
        var i = 0
        var current: [UInt8] = []
        func end() { if !current.isEmpty { words.append(String(decoding: current, as: UTF8.self)); current.removeAll() } }
        while i < text.count && words.count < limit {
            let c = text[i]
            if c == 0x27 || c == 0x22 {   // a literal or a quoted identifier: one word
                end()
                var j = i + 1
                var word: [UInt8] = []
                while j < text.count { if text[j] == c { if j + 1 < text.count && text[j + 1] == c { word.append(c); j += 2; continue }; break }; word.append(text[j]); j += 1 }
                words.append((c == 0x22 ? "" : "'") + String(decoding: word, as: UTF8.self).lowercased())
                i = j + 1; continue
            }
            if c == 0x2D && i + 1 < text.count && text[i + 1] == 0x2D { end(); while i < text.count && text[i] != 0x0A { i += 1 }; continue }
            if c == 0x2F && i + 1 < text.count && text[i + 1] == 0x2A {
                // Block comments nest, as in PostgreSQL's lexer (scan.l, `xc`): `/* a /* b */ c */`
                // is one comment, so a `'` or a keyword inside it is never read as code.
                end(); i += 2
                var depth = 1
                while i < text.count && depth > 0 {
                    if text[i] == 0x2F && i + 1 < text.count && text[i + 1] == 0x2A { depth += 1; i += 2 }
                    else if text[i] == 0x2A && i + 1 < text.count && text[i + 1] == 0x2F { depth -= 1; i += 2 }
                    else { i += 1 }
                }
                continue
            }
            if SQLStatementScanner.isIdentifierByte(c) && c != 0x24 { current.append(c >= 0x41 && c <= 0x5A ? c | 0x20 : c) }
            else { end(); if c == 0x28 || c == 0x3B || c == 0x2C { words.append(String(UnicodeScalar(c))) } }
            i += 1
        }
        end()
        return words
    }

    /// Whether `phrase` (words separated by single spaces) occurs in `text`, any case and blanks.
    static func normalized(_ text: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(text.count)
        var blank = false
        for c in text {
            if c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { blank = true; continue }
            if blank { out.append(0x20); blank = false }
            out.append(c >= 0x41 && c <= 0x5A ? c | 0x20 : c)
        }
        return String(decoding: out, as: UTF8.self)
    }

    func admit(_ statement: SQLStatementScanner.Statement) throws -> Verdict {
        switch statement.kind {
        case .copyData: return .run
        case .metaCommand:
            let text = String(decoding: statement.text, as: UTF8.self)
            let name = String(text.dropFirst().prefix { !$0.isWhitespace }).lowercased()
            if Self.harmlessMeta.contains(name) { return .skip }
            if name == "encoding" {
                let value = text.dropFirst(9).trimmingCharacters(in: .whitespaces).uppercased()
                if value == "UTF8" || value == "UTF-8" || value == "'UTF8'" { return .skip }
                throw refuse(statement.line, "\\encoding \(value): Ferry reads import files as UTF-8")
            }
            if name == "connect" || name == "c" {
                throw refuse(statement.line, "\(text.prefix(120)) reaches another database")
            }
            throw refuse(statement.line, "the psql command \\\(name) is not run by an import")
        case .statement: break
        }
        let w = Self.words(statement.text)
        guard let first = w.first else { return .skip }
        let second = w.count > 1 ? w[1] : "", third = w.count > 2 ? w[2] : ""
        let described = "\(first.uppercased()) \(second.uppercased())"
        if ["create", "alter", "drop", "comment", "security"].contains(first) {
            let object = second == "or" ? (w.count > 3 ? w[3] : "") : (second == "unique" ? "" : second)
            if first != "comment" && first != "security" && Self.clusterObjects.contains(object) {
                // The object's name, past `IF [NOT] EXISTS` (`DROP DATABASE IF EXISTS shop`
                // named "if" before: w12 F10).
                let named = w.dropFirst(second == "or" ? 4 : 2).first { !["if", "not", "exists"].contains($0) } ?? ""
                throw refuse(statement.line, "\(first.uppercased()) \(object.uppercased()) \(named) changes the server, not the import's database")
            }
            if first == "comment" && second == "on" && Self.clusterObjects.contains(third) {
                throw refuse(statement.line, "COMMENT ON \(third.uppercased()) changes the server, not the import's database")
            }
            if (first == "create" || first == "alter" || first == "drop") && (object == "foreign" && third == "data") {
                throw refuse(statement.line, "\(first.uppercased()) FOREIGN DATA WRAPPER changes the server")
            }
            if object == "user" && third == "mapping" { throw refuse(statement.line, "USER MAPPING reaches other servers") }
            if first == "alter" && second == "system" { throw refuse(statement.line, "ALTER SYSTEM changes the server's settings") }
            if first == "create" && second == "extension" {
                let name = w.dropFirst(2).first { !["if", "not", "exists"].contains($0) } ?? ""
                if Self.refusedExtensions.contains(name) { throw refuse(statement.line, "the extension \(name) reaches other databases or files") }
            }
        }
        if first == "alter" && second == "system" { throw refuse(statement.line, "ALTER SYSTEM changes the server's settings") }
        if first == "load" { throw refuse(statement.line, "LOAD loads a library into the server") }
        if first == "set" || first == "reset" {
            let rest = (second == "session" || second == "local") && third != "authorization" ? Array(w.dropFirst(2)) : Array(w.dropFirst(1))
            if rest.first == "role" || (rest.first == "session" && rest.dropFirst().first == "authorization") || rest.first == "authorization" {
                throw refuse(statement.line, "\(first.uppercased()) ROLE / SESSION AUTHORIZATION acts as another role")
            }
        }
        if first == "grant" || first == "revoke" {
            // GRANT privileges ON object TO role is the database's; GRANT role TO role is the server's.
            if !w.contains("on") { throw refuse(statement.line, "\(first.uppercased()) of a role changes the server's roles") }
            // On Ferry's own session (no import role) a database's or tablespace's ACL is one
            // Ferry's user may change: it is the server's, not the import's (fresh tester: a
            // file opened another database to PUBLIC).
            if !isolated, let on = w.firstIndex(of: "on"), on + 1 < w.count, ["database", "tablespace", "parameter"].contains(w[on + 1]) {
                throw refuse(statement.line, "\(first.uppercased()) ... ON \(w[on + 1].uppercased()) changes the server, not the import's database")
            }
        }
        if first == "copy" {
            let text = Self.normalized(statement.text)
            if text.range(of: #"\b(from|to)\s+(stdin|stdout)\b"#, options: .regularExpression) == nil {
                throw refuse(statement.line, "COPY to or from a server file or program reaches outside the database")
            }
        }
        if let refusal = Self.refusedCall(in: statement.text) { throw refuse(statement.line, refusal) }
        let text = Self.normalized(statement.text)
        for function in Self.reachingFunctions where text.range(of: "\\b\(function)\\w*\\s*\\(", options: .regularExpression) != nil {
            throw refuse(statement.line, "\(function) reaches beyond the import's database")
        }
        if text.range(of: #"\bset_config\s*\(\s*'(?!search_path')"#, options: .regularExpression) != nil {
            throw refuse(statement.line, "set_config of anything but search_path is not run by an import")
        }
        if !isolated && (first == "do" || (first == "create" && (w.contains("function") || w.contains("procedure")))) {
            // A body given as an E'...' or U&'...' string hides its words behind escapes.
            if text.range(of: #"\bexecute\b"#, options: .regularExpression) != nil
                || (first == "create" && text.range(of: #"(\be|\bu&)'"#, options: .regularExpression) != nil) {
                throw refuse(statement.line, "dynamic SQL (EXECUTE) cannot be checked, and this import runs on Ferry's own session (Ferry's user may not create the import role)")
            }
            if text.range(of: #"\blanguage\s+'?(plperl|plperlu|pltcl|pltclu|plpython3u|plpythonu|plv8|plsh)\b"#, options: .regularExpression) != nil {
                throw refuse(statement.line, "a body in this procedural language can run any SQL, and this import runs on Ferry's own session (Ferry's user may not create the import role)")
            }
        }
        if first == "do" || (first == "create" && (w.contains("function") || w.contains("procedure"))) {
            for phrase in ["create role", "alter role", "drop role", "create user", "alter user", "drop user", "alter system",
                           "create database", "drop database", "alter database", "set role", "session authorization",
                           "create subscription", "create tablespace", "drop tablespace", "create server", "user mapping"]
            where text.contains(phrase) {
                throw refuse(statement.line, "a body that runs \(phrase.uppercased()) changes the server")
            }
        }
        return .run
    }

    // MARK: Function names as the server resolves them

    /// One token of PostgreSQL statement text for `refusedCall`.
    struct NameToken {
        enum Kind { case name, string, punctuation, other }
        var kind: Kind
        /// A name as the server resolves it (unquoted: lowercased; `"..."`: exact; `U&"..."`:
        /// escapes decoded), a string's content, or the punctuation byte.
        var text: String
    }

    /// Why a statement is refused for a function it calls, or nil: every name followed by `(`
    /// (after blanks and comments), and every name given as a function option (`FUNCTION =
    /// name` of `CREATE OPERATOR`, `SFUNC = name`...), is compared as PostgreSQL resolves it —
    /// unquoted names fold to lower case, `"..."` and `U&"..."` names are taken as written
    /// (PostgreSQL documentation, "Identifiers and Key Words"), any schema qualifier
    /// (`pg_catalog.`) is the same function — against `reachingFunctions` (by prefix, as the
    /// text check) and `set_config` (allowed only as `set_config('search_path', ...)`).
    /// Strings and dollar-quoted bodies are read the same way in turn (a function body, a `DO`
    /// block, dynamic SQL in a literal), each both with and without backslash escapes in plain
    /// strings (a file may turn `standard_conforming_strings` off).
    static func refusedCall(in text: [UInt8], depth: Int = 0) -> String? {
        // Every such name is in the text as written, but for `U&"..."` escapes: most statements
        // (rows) hold none and are not read further.
        let lower = String(decoding: text.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
        guard lower.contains("u&") || lower.contains("set_config") || reachingFunctions.contains(where: { lower.contains($0) }) else { return nil }
        var nested: Set<[UInt8]> = []
        for backslashes in [false, true] {
            var inner: [[UInt8]] = []
            let t = nameTokens(text, backslashInPlainStrings: backslashes, nested: &inner)
            nested.formUnion(inner)
            for (i, token) in t.enumerated() where token.kind == .name {
                let called = i + 1 < t.count && t[i + 1].kind == .punctuation && t[i + 1].text == "("
                // `FUNCTION = name`, `PROCEDURE = schema.name`, `SFUNC = name` (operators, aggregates, types).
                func isEquals(_ j: Int) -> Bool { j >= 0 && t[j].kind == .punctuation && t[j].text == "=" }
                let option = isEquals(i - 1) || (i >= 3 && t[i - 1].text == "." && t[i - 2].kind == .name && isEquals(i - 3))
                guard called || option else { continue }
                // Called: by prefix, as the text check (`dblink_exec`); as an option: the name itself
                // (`WHERE a = dblink_id` compares a column).
                if let function = reachingFunctions.first(where: { called ? token.text.hasPrefix($0) : token.text == $0 }) {
                    return "\(function) reaches beyond the import's database"
                }
                if token.text == "set_config" {
                    let searchPath = called && i + 3 < t.count && t[i + 2].kind == .string && t[i + 2].text == "search_path"
                        && t[i + 3].kind == .punctuation && t[i + 3].text == ","
                    if !searchPath { return "set_config of anything but search_path is not run by an import" }
                }
            }
        }
        if depth < 4 {
            for inner in nested { if let refusal = refusedCall(in: inner, depth: depth + 1) { return refusal } }
        }
        return nil
    }

    /// The tokens of `b` as PostgreSQL's lexer (scan.l) reads them: `--` and nested `/* */`
    /// comments skipped; `'...'` (doubled quotes; backslash escapes after `E`, or everywhere
    /// when `backslashInPlainStrings`), `$tag$...$tag$`, `"..."`, `U&"..."` with `UESCAPE`.
    /// The content of every string and dollar-quoted body is appended to `nested`.
    static func nameTokens(_ b: [UInt8], backslashInPlainStrings: Bool, nested: inout [[UInt8]]) -> [NameToken] {
        var out: [NameToken] = []
        let n = b.count
        var i = 0
        func isStart(_ c: UInt8) -> Bool { ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A) || c == 0x5F || c >= 0x80 }
        func isPart(_ c: UInt8) -> Bool { isStart(c) || (c >= 0x30 && c <= 0x39) || c == 0x24 }
        /// The quoted run from `i` (at the opening quote) to after its closing quote, doubled quotes undone.
        func quoted(_ q: UInt8, backslash: Bool) -> [UInt8] {
            var content: [UInt8] = []
            i += 1
            while i < n {
                let c = b[i]
                if backslash && c == 0x5C && i + 1 < n { content.append(b[i + 1]); i += 2; continue }
                i += 1
                if c == q {
                    if i < n && b[i] == q { content.append(q); i += 1; continue }
                    return content
                }
                content.append(c)
            }
            return content
        }
        /// After blanks: `UESCAPE 'c'` gives the escape character of a `U&` name.
        func uescape() -> UInt8 {
            var j = i
            while j < n && (b[j] == 0x20 || b[j] == 0x09 || b[j] == 0x0A || b[j] == 0x0D) { j += 1 }
            guard j + 10 <= n, String(decoding: b[j..<j + 7], as: UTF8.self).lowercased() == "uescape" else { return 0x5C }
            j += 7
            while j < n && (b[j] == 0x20 || b[j] == 0x09 || b[j] == 0x0A || b[j] == 0x0D) { j += 1 }
            guard j + 2 < n, b[j] == 0x27, b[j + 2] == 0x27 else { return 0x5C }
            let escape = b[j + 1]
            i = j + 3
            return escape
        }
        /// `U&` escapes decoded: `\XXXX`, `\+XXXXXX`, a doubled escape character.
        func unicodeDecoded(_ raw: [UInt8], escape: UInt8) -> String {
            var scalars = String.UnicodeScalarView()
            var k = 0
            func hex(_ count: Int) -> UInt32? {
                guard k + count <= raw.count, let v = UInt32(String(decoding: raw[k..<k + count], as: UTF8.self), radix: 16) else { return nil }
                k += count
                return v
            }
            let decoded = String(decoding: raw, as: UTF8.self)
            while k < raw.count {
                if raw[k] == escape && k + 1 < raw.count {
                    if raw[k + 1] == escape { scalars.append(Unicode.Scalar(escape)); k += 2; continue }
                    k += 1
                    let plus = raw[k] == UInt8(ascii: "+")
                    if plus { k += 1 }
                    if let v = hex(plus ? 6 : 4), let scalar = Unicode.Scalar(v) { scalars.append(scalar); continue }
                    return decoded
                }
                // Non-ASCII bytes: keep the text as written.
                guard raw[k] < 0x80 else { return decoded }
                scalars.append(Unicode.Scalar(raw[k]))
                k += 1
            }
            return String(scalars)
        }
        while i < n {
            let c = b[i]
            if c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0C { i += 1; continue }
            if c == 0x2D && i + 1 < n && b[i + 1] == 0x2D { while i < n && b[i] != 0x0A { i += 1 }; continue }
            if c == 0x2F && i + 1 < n && b[i + 1] == 0x2A {
                var level = 0
                while i < n {
                    if b[i] == 0x2F && i + 1 < n && b[i + 1] == 0x2A { level += 1; i += 2; continue }
                    if b[i] == 0x2A && i + 1 < n && b[i + 1] == 0x2F { level -= 1; i += 2; if level == 0 { break }; continue }
                    i += 1
                }
                continue
            }
            if c == 0x27 {
                // E'...' (the E is the previous word token, ending right here).
                let escaped = backslashInPlainStrings || (i > 0 && (b[i - 1] | 0x20) == 0x65 && !(i > 1 && isPart(b[i - 2])))
                let content = quoted(0x27, backslash: escaped)
                nested.append(content)
                out.append(NameToken(kind: .string, text: String(decoding: content, as: UTF8.self)))
                continue
            }
            if c == 0x22 {
                let unicode = i >= 2 && b[i - 1] == 0x26 && (b[i - 2] | 0x20) == 0x75
                let content = quoted(0x22, backslash: false)
                if unicode {
                    // `U&"..."` was read as the word `u` and `&`: they are part of this name.
                    if out.count >= 2, out[out.count - 1].text == "&", out[out.count - 2].text == "u" { out.removeLast(2) }
                    out.append(NameToken(kind: .name, text: unicodeDecoded(content, escape: uescape())))
                } else {
                    out.append(NameToken(kind: .name, text: String(decoding: content, as: UTF8.self)))
                }
                continue
            }
            if c == 0x24, !(i > 0 && isPart(b[i - 1])) {
                // `$tag$ ... $tag$` (a tag does not start with a digit; `$1` is a parameter).
                var j = i + 1
                while j < n && isPart(b[j]) && b[j] != 0x24 { j += 1 }
                if j < n && b[j] == 0x24 && (j == i + 1 || isStart(b[i + 1])) {
                    let tag = Array(b[i...j])
                    var k = j + 1
                    var end = n
                    while k + tag.count <= n {
                        if b[k] == 0x24 && Array(b[k..<k + tag.count]) == tag { end = k; break }
                        k += 1
                    }
                    nested.append(Array(b[(j + 1)..<min(end, n)]))
                    out.append(NameToken(kind: .string, text: ""))
                    i = min(n, end + tag.count)
                    continue
                }
            }
            if isStart(c) {
                var j = i
                var word: [UInt8] = []
                while j < n && isPart(b[j]) { word.append(b[j] >= 0x41 && b[j] <= 0x5A ? b[j] | 0x20 : b[j]); j += 1 }
                i = j
                out.append(NameToken(kind: .name, text: String(decoding: word, as: UTF8.self)))
                continue
            }
            if c >= 0x30 && c <= 0x39 {
                while i < n && isPart(b[i]) { i += 1 }
                out.append(NameToken(kind: .other, text: ""))
                continue
            }
            out.append(NameToken(kind: .punctuation, text: String(UnicodeScalar(c))))
            i += 1
        }
        return out
    }
}
