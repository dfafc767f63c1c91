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
