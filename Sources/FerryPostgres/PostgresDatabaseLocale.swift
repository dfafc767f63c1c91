import FerryCore
import Foundation

/// What a PostgreSQL database is created with and what a client reads through: its encoding
/// (the bytes a client on the default `client_encoding` gets), `LC_COLLATE` / `LC_CTYPE`, and
/// where the server has them its locale provider and ICU (or builtin) locale and ICU rules.
/// `pg_dump --create` carries the same (its `CREATE DATABASE`); the collation version is the
/// target's library's, as it is for `pg_dump --create` (fresh tester round 26, F4: a copy of a
/// LATIN1 / C database was made UTF8 / C.UTF-8, the target server's defaults).
struct PostgresDatabaseLocale: Equatable, Sendable {
    var encoding: String
    var collate: String
    var ctype: String
    /// `c` libc, `i` ICU, `b` builtin (PostgreSQL 17); `c` before PostgreSQL 15.
    var provider: String = "c"
    /// The ICU or builtin locale (`daticulocale` in 15 and 16, `datlocale` from 17); nil for libc.
    var locale: String?
    /// ICU tailoring rules (`daticurules`, 16 and later).
    var rules: String?

    var providerName: String { ["c": "libc", "i": "icu", "b": "builtin"][provider] ?? provider }

    /// `LATIN1, LC_COLLATE C, LC_CTYPE C` (with `, ICU locale de-DE` and its rules where set).
    var summary: String {
        var text = "\(encoding), LC_COLLATE \(collate), LC_CTYPE \(ctype)"
        if provider == "i" { text += ", ICU locale \(locale ?? "?")" }
        if provider == "b" { text += ", builtin locale \(locale ?? "?")" }
        if let rules, !rules.isEmpty { text += ", ICU rules \(rules)" }
        return text
    }

    /// The `CREATE DATABASE` options that make a database of this encoding and locale on a server
    /// of `serverVersion` (`server_version_num`), to go with `TEMPLATE template0`.
    func clause(serverVersion: Int) -> String {
        var text = " ENCODING \(quoteLiteral(encoding)) LC_COLLATE \(quoteLiteral(collate)) LC_CTYPE \(quoteLiteral(ctype))"
        guard serverVersion >= 150000 else { return text }
        text += " LOCALE_PROVIDER \(providerName)"
        if provider == "i", let locale { text += " ICU_LOCALE \(quoteLiteral(locale))" }
        if provider == "b", let locale { text += " BUILTIN_LOCALE \(quoteLiteral(locale))" }
        if provider == "i", let rules, !rules.isEmpty, serverVersion >= 160000 { text += " ICU_RULES \(quoteLiteral(rules))" }
        return text
    }

    /// The facts' form (`DatabaseFacts.locale`), and back.
    var facts: [String: String] {
        var map = ["encoding": encoding, "lc_collate": collate, "lc_ctype": ctype, "provider": provider]
        if let locale { map["locale"] = locale }
        if let rules { map["rules"] = rules }
        return map
    }

    init(encoding: String, collate: String, ctype: String, provider: String = "c", locale: String? = nil, rules: String? = nil) {
        (self.encoding, self.collate, self.ctype, self.provider, self.locale, self.rules) = (encoding, collate, ctype, provider, locale, rules)
    }

    init?(facts: [String: String]?) {
        guard let facts, let encoding = facts["encoding"], let collate = facts["lc_collate"], let ctype = facts["lc_ctype"] else { return nil }
        self.init(encoding: encoding, collate: collate, ctype: ctype, provider: facts["provider"] ?? "c",
                  locale: facts["locale"], rules: facts["rules"])
    }

    /// A libc locale name as glibc looks it up (`_nl_normalize_codeset`): the codeset after the
    /// dot lowercased with everything but letters and digits left out (`en_US.UTF-8` is
    /// `en_US.utf8`, as `locale -a` and `pg_collation` name it; digits alone get `iso`).
    static func normalized(_ name: String) -> String {
        guard let dot = name.firstIndex(of: ".") else { return name }
        let rest = name[name.index(after: dot)...]
        let modifier = rest.firstIndex(of: "@").map { String(rest[$0...]) } ?? ""
        let codeset = rest.prefix { $0 != "@" }
        var kept = String(codeset.filter { $0.isLetter || $0.isNumber }.lowercased())
        if !kept.isEmpty, kept.allSatisfy(\.isNumber) { kept = "iso" + kept }
        return String(name[..<dot]) + "." + kept + modifier
    }

    /// What of this locale a server that knows `locales` (libc names, `pg_collation` and its
    /// databases) and `providers` cannot make, one phrase each; empty when it can make it all.
    func missing(locales: [String], providers: [String]) -> [String] {
        var result: [String] = []
        if !providers.contains(provider) { result.append("the locale provider \(providerName)") }
        let known = Set(locales.map(Self.normalized))
        if collate == ctype {
            if !known.contains(Self.normalized(collate)) { result.append("the locale \(collate) (LC_COLLATE and LC_CTYPE)") }
        } else {
            for (name, value) in [("LC_COLLATE", collate), ("LC_CTYPE", ctype)] where !known.contains(Self.normalized(value)) {
                result.append("the locale \(value) (\(name))")
            }
        }
        return result
    }
}

extension PostgresSession {
    /// The encoding and locale of `database` on this server; nil when it does not exist.
    func databaseLocale(of database: String) throws -> PostgresDatabaseLocale? {
        guard let row = try connection.query("""
            SELECT pg_encoding_to_char(d.encoding), d.datcollate::text, d.datctype::text, row_to_json(d)::text
            FROM pg_database d WHERE d.datname = \(quoteLiteral(database))
            """).first, let encoding = row[0], let collate = row[1], let ctype = row[2] else { return nil }
        // Columns that only some versions have, read by name from the row's JSON.
        let columns = row[3].flatMap { $0.data(using: .utf8) }
            .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
        let text = { (key: String) in (columns[key] as? String).flatMap { $0.isEmpty ? nil : $0 } }
        let provider = text("datlocprovider") ?? "c"
        return PostgresDatabaseLocale(encoding: encoding, collate: collate, ctype: ctype, provider: provider,
                                      locale: provider == "c" ? nil : (text("datlocale") ?? text("daticulocale")),
                                      rules: text("daticurules"))
    }

    /// The libc locales this server knows it can make a database with: the names of its libc
    /// collations (`pg_collation`, imported from the machine's `locale -a` by `initdb` or
    /// `pg_import_system_collations`), its databases' own, `C` and `POSIX`.
    func knownLocales() throws -> [String] {
        let rows = try connection.query("""
            SELECT collcollate FROM pg_collation WHERE collprovider = 'c' AND collcollate IS NOT NULL
            UNION SELECT collctype FROM pg_collation WHERE collprovider = 'c' AND collctype IS NOT NULL
            UNION SELECT datcollate::text FROM pg_database UNION SELECT datctype::text FROM pg_database
            UNION SELECT 'C' UNION SELECT 'POSIX' ORDER BY 1
            """)
        return rows.compactMap { $0[0] }
    }

    /// The locale providers this server has: libc always; ICU where it was built with it (it then
    /// has ICU collations); builtin from PostgreSQL 17.
    func localeProviders() throws -> [String] {
        var result = ["c"]
        if try connection.scalar("SELECT count(*) FROM pg_collation WHERE collprovider = 'i'").flatMap({ Int($0) }) ?? 0 > 0 { result.append("i") }
        if connection.serverVersionNumber >= 170000 { result.append("b") }
        return result
    }

    /// Makes the run's empty shadow `shadow` again with the encoding and locale `wanted` when it was
    /// made with others (a copy's shadow is made like its target, or with the server's defaults
    /// when the target is missing, before the copy knows its source). Only a shadow that is
    /// provably Ferry's and holds nothing yet is made again.
    func remakeShadow(_ shadow: String, withLocale wanted: PostgresDatabaseLocale) throws {
        guard let have = try databaseLocale(of: shadow), have != wanted else { return }
        guard try isOwnDerived(shadow) else {
            throw FerryError(.copyError, "\(shadow) on \(instanceName) does not carry Ferry's shadow mark; it is not made again",
                             instance: instanceName)
        }
        try connection.execute("DROP DATABASE IF EXISTS \(quoteIdent(shadow)) WITH (FORCE)")
        do {
            try createMarkedDatabase(shadow, clause: "TEMPLATE template0" + wanted.clause(serverVersion: connection.serverVersionNumber))
        } catch let error as PostgresServerError where ["22023", "0A000", "42809", "22021"].contains(error.sqlState) {
            throw FerryError(.versionMismatch, "\(instanceName) cannot make a database of \(wanted.summary), the encoding and locale of the copy's source: \(error.message)",
                             hint: "install that locale on \(instanceName)'s machine, or copy into a server that has it", instance: instanceName)
        }
    }
}

extension PostgresDatabaseLocale {
    /// The encoding and locale in a `CREATE DATABASE` statement as `pg_dump`'s `dumpDatabase`
    /// writes it into an archive's DATABASE entry (`pg_restore --create` prints it):
    /// `CREATE DATABASE name WITH TEMPLATE = template0 ENCODING = 'LATIN1' LOCALE_PROVIDER = libc
    /// LOCALE = 'C';`, or `LC_COLLATE = '...' LC_CTYPE = '...'` when they differ, with
    /// `ICU_LOCALE`, `ICU_RULES` (16) or `BUILTIN_LOCALE` (17) after them; values are string
    /// literals (`''` doubles a quote; `E'...'` takes backslash escapes) or bare words. The name is
    /// skipped as an identifier (quoted with `""` doubling, or bare), so nothing in it is read
    /// as an option. Nil without `ENCODING` and a collation and ctype.
    static func parse(createDatabase statement: String) -> PostgresDatabaseLocale? {
        var rest = Substring(statement)
        func skipSpaces() { rest = rest.drop { $0 == " " || $0 == "\n" || $0 == "\t" } }
        func word() -> String {
            let w = rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            rest = rest.dropFirst(w.count)
            return String(w)
        }
        func literal() -> String? {
            var escapes = false
            if rest.first == "E" || rest.first == "e", rest.dropFirst().first == "'" { escapes = true; rest = rest.dropFirst() }
            guard rest.first == "'" else { return nil }
            rest = rest.dropFirst()
            var value = ""
            while let c = rest.first {
                rest = rest.dropFirst()
                if c == "'" {
                    if rest.first == "'" { value.append("'"); rest = rest.dropFirst(); continue }
                    return value
                }
                if escapes, c == "\\", let next = rest.first { value.append(next); rest = rest.dropFirst(); continue }
                value.append(c)
            }
            return nil
        }
        skipSpaces()
        guard word().uppercased() == "CREATE" else { return nil }
        skipSpaces()
        guard word().uppercased() == "DATABASE" else { return nil }
        skipSpaces()
        if rest.first == "\"" {
            rest = rest.dropFirst()
            while let c = rest.first {
                rest = rest.dropFirst()
                if c == "\"" { if rest.first == "\"" { rest = rest.dropFirst() } else { break } }
            }
        } else {
            rest = rest.drop { $0 != " " && $0 != ";" }
        }
        var options: [String: String] = [:]
        while true {
            skipSpaces()
            let key = word().uppercased()
            guard !key.isEmpty else { break }
            if key == "WITH" { continue }
            skipSpaces()
            guard rest.first == "=" else { return nil }
            rest = rest.dropFirst()
            skipSpaces()
            if rest.first == "'" || ((rest.first == "E" || rest.first == "e") && rest.dropFirst().first == "'") {
                guard let value = literal() else { return nil }
                options[key] = value
            } else {
                let value = rest.prefix { $0 != " " && $0 != ";" && $0 != "\n" }
                rest = rest.dropFirst(value.count)
                options[key] = String(value)
            }
        }
        guard let encoding = options["ENCODING"],
              let collate = options["LC_COLLATE"] ?? options["LOCALE"], let ctype = options["LC_CTYPE"] ?? options["LOCALE"] else { return nil }
        let provider = ["libc": "c", "icu": "i", "builtin": "b"][options["LOCALE_PROVIDER"]?.lowercased() ?? "libc"] ?? "c"
        return PostgresDatabaseLocale(encoding: encoding, collate: collate, ctype: ctype, provider: provider,
                                      locale: provider == "i" ? options["ICU_LOCALE"] : provider == "b" ? options["BUILTIN_LOCALE"] : nil,
                                      rules: options["ICU_RULES"])
    }
}

extension PostgresSession {
    /// The encoding and locale of the database a custom-format archive (`pg_dump -Fc`, a Ferry
    /// backup set's) was dumped from: the `CREATE DATABASE` of its DATABASE entry, printed by
    /// `pg_restore --create --use-list` with a list of that entry alone (no server is reached).
    /// Nil for an archive without that entry or one the parser cannot read (the shadow then
    /// keeps what it was made with, as before).
    func archiveLocale(_ archive: String) throws -> PostgresDatabaseLocale? {
        let toc = String(decoding: try PostgresTools.runLocally("pg_restore", ["--create", "--list", "--", archive], code: .copyError,
                                                                instanceName: instanceName), as: UTF8.self)
        // "3344; 1262 88819 DATABASE - lat ferry": the entry's id, catalog, oid, kind.
        guard let entry = toc.split(separator: "\n").first(where: { line in
            !line.hasPrefix(";") && line.split(separator: " ", maxSplits: 4).dropFirst(3).first == "DATABASE"
        }) else { return nil }
        let list = try ScratchFiles.path(in: address.scratch, "pg-database", suffix: ".list")
        try Data((entry + "\n").utf8).write(to: list)
        defer { try? FileManager.default.removeItem(at: list) }
        let script = String(decoding: try PostgresTools.runLocally("pg_restore", ["--create", "--use-list", list.path, "--file", "-", "--", archive],
                                                                   code: .copyError, instanceName: instanceName), as: UTF8.self)
        guard let create = script.components(separatedBy: "\n").first(where: { $0.hasPrefix("CREATE DATABASE ") }) else { return nil }
        return PostgresDatabaseLocale.parse(createDatabase: create)
    }
}
