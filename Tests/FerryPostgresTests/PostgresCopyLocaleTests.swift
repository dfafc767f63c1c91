import FerryCore
@testable import FerryPostgres
import Foundation
import Testing

/// A PostgreSQL copy is its source's database: the shadow is made with the source's encoding,
/// LC_COLLATE, LC_CTYPE, locale provider and ICU locale, whether the target is missing or
/// replaced (SPEC §10; fresh tester round 26, F4: a LATIN1 / C source was copied into a
/// UTF8 / C.UTF-8 database, the target server's defaults, and a client on the default client
/// encoding read other bytes). The verify refuses a shadow of other ones; a target server that
/// cannot make them is refused at plan time.
@Suite(.serialized) struct PostgresCopyLocaleTests {
    static func run() -> String { "20261201T235000000Z-" + UUID().uuidString.prefix(6).lowercased() }

    struct Kind: CustomStringConvertible, Sendable {
        var label: String
        var options: String
        var values: [String]
        var description: String { label }
    }

    /// LATIN1 / C (the finding's), EUC_JP / C, WIN1252 / C, UTF8 with LC_COLLATE C (not the
    /// server's C.UTF-8) and UTF8 with the ICU locale de-DE.
    static let kinds: [Kind] = [
        Kind(label: "LATIN1/C", options: "ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'", values: ["café", "Ärger", "zoo", "Zürich"]),
        Kind(label: "EUC_JP/C", options: "ENCODING 'EUC_JP' LC_COLLATE 'C' LC_CTYPE 'C'", values: ["日本語", "カタカナ", "ｶﾀｶﾅ", "abc"]),
        Kind(label: "WIN1252/C", options: "ENCODING 'WIN1252' LOCALE 'C'", values: ["€uro", "café", "„quote“", "Œuvre"]),
        Kind(label: "UTF8/C", options: "ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C.UTF-8'", values: ["äb", "Zebra", "apple", "☕"]),
        Kind(label: "UTF8/ICU de-DE", options: "ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'de-DE' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'",
             values: ["äb", "Zebra", "apple", "ab", "☕"]),
    ]

    static let databaseRow = """
        SELECT pg_encoding_to_char(encoding), datcollate, datctype, datlocprovider, coalesce(daticulocale, '') FROM pg_database WHERE datname = $1
        """

    func databaseRow(_ session: PostgresSession, _ name: String) throws -> [String?] {
        try #require(try session.connection.query(Self.databaseRow.replacingOccurrences(of: "$1", with: quoteLiteral(name))).first)
    }

    /// What a client reading in the database's own encoding gets, and the database's order.
    func clientBytes(_ session: PostgresSession, _ name: String) throws -> [[String?]] {
        try session.rows(name, "SELECT id, encode(convert_to(v, getdatabaseencoding()), 'hex') FROM t ORDER BY id")
            + session.rows(name, "SELECT string_agg(v, '|' ORDER BY v) FROM t")
    }

    func makeSource(_ a: PostgresSession, _ name: String, _ kind: Kind) throws {
        a.dropTestDatabase(name)
        try a.connection.execute("CREATE DATABASE \(quoteIdent(name)) TEMPLATE template0 \(kind.options)")
        let values = kind.values.enumerated().map { "(\($0.offset + 1), \(quoteLiteral($0.element)))" }.joined(separator: ", ")
        try a.sql(name, "CREATE TABLE t (id int PRIMARY KEY, v text, \"prix_é\" text DEFAULT 'é'); INSERT INTO t (id, v) VALUES \(values); CREATE INDEX \"t_prix_é\" ON t (\"prix_é\"); ALTER TABLE t ADD CONSTRAINT \"v_non_vide_é\" CHECK (v <> '');")
    }

    /// The finding and its variants: the copy into a missing target has its source's pg_database
    /// row (encoding, LC_COLLATE, LC_CTYPE, provider, ICU locale), and a client reading in the
    /// database's encoding gets the source's bytes in the source's order.
    @Test(arguments: kinds) func aCopyIntoAMissingTargetHasItsSourcesEncodingAndLocale(kind: Kind) throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("loc")
        defer { a.dropTestDatabase(db); b.dropTestDatabase(db) }
        try makeSource(a, db, kind)
        b.dropTestDatabase(db)
        try b.copyIn(from: a, database: db, as: db, runID: Self.run())
        #expect(try databaseRow(b, db) == databaseRow(a, db), "\(kind): the copy's pg_database row is its source's")
        #expect(try clientBytes(b, db) == clientBytes(a, db), "\(kind): a client reads the same bytes, in the same order")
        #expect(try b.rows(db, "SELECT indexname FROM pg_indexes WHERE tablename = 't' ORDER BY 1") == [["t_pkey"], ["t_prix_é"]], "\(kind)")
        #expect(try b.rows(db, "SELECT conname FROM pg_constraint WHERE conrelid = 't'::regclass ORDER BY 1") == [["t_pkey"], ["v_non_vide_é"]], "\(kind)")
        #expect(try b.rows(db, "SELECT encode(convert_to(\"prix_é\", getdatabaseencoding()), 'hex') FROM t WHERE id = 1")
                == a.rows(db, "SELECT encode(convert_to(\"prix_é\", getdatabaseencoding()), 'hex') FROM t WHERE id = 1"))
    }

    /// A copy from a backup set (a `pg_dump -Fc` archive) is its source's database too: the
    /// shadow the archive is restored into gets the encoding and locale of the archive's DATABASE
    /// entry (it was made with the target server's defaults: UTF8 / C.UTF-8), and a client reads
    /// the source's bytes in the source's order (README's known gap until 2026-12-02).
    @Test(arguments: kinds) func aCopyFromABackupSetHasItsSourcesEncodingAndLocale(kind: Kind) throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("lob")
        let archive = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-\(db).dump")
        let shadow = try b.makeShadow(for: db, runID: Self.run(), like: db)
        defer { a.dropTestDatabase(db); b.dropTestDatabase(shadow); try? FileManager.default.removeItem(at: archive) }
        try makeSource(a, db, kind)
        _ = try a.writeBackup(of: db, to: archive, progress: ProgressCounter())
        _ = try b.restoreBackup(from: archive, into: shadow, progress: ProgressCounter())
        #expect(try databaseRow(b, shadow) == databaseRow(a, db), "\(kind): the restored shadow's pg_database row is its source's")
        #expect(try clientBytes(b, shadow) == clientBytes(a, db), "\(kind): a client reads the same bytes, in the same order")
        #expect(try b.isOwnDerived(shadow), "\(kind): the shadow made again still carries Ferry's mark")
    }

    /// `pg_dump`'s `CREATE DATABASE` forms: one LOCALE or LC_COLLATE / LC_CTYPE apart, ICU with
    /// rules, builtin, no provider (before PostgreSQL 15), `''` and `E'\''` quotes, and names that
    /// hold option words, quotes and `=` (never read as options).
    @Test func theArchivesCreateDatabaseIsReadAsPgDumpWritesIt() {
        typealias L = PostgresDatabaseLocale
        #expect(L.parse(createDatabase: "CREATE DATABASE lat WITH TEMPLATE = template0 ENCODING = 'LATIN1' LOCALE_PROVIDER = libc LOCALE = 'C';")
                == L(encoding: "LATIN1", collate: "C", ctype: "C"))
        #expect(L.parse(createDatabase: "CREATE DATABASE x WITH TEMPLATE = template0 ENCODING = 'UTF8' LC_COLLATE = 'C' LC_CTYPE = 'C.UTF-8';")
                == L(encoding: "UTF8", collate: "C", ctype: "C.UTF-8"))
        #expect(L.parse(createDatabase: #"CREATE DATABASE "a ""WITH ENCODING = 'X'" WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE_PROVIDER = icu LOCALE = 'C.UTF-8' ICU_LOCALE = 'de-DE' ICU_RULES = '&a < ''b''';"#)
                == L(encoding: "UTF8", collate: "C.UTF-8", ctype: "C.UTF-8", provider: "i", locale: "de-DE", rules: "&a < 'b'"))
        #expect(L.parse(createDatabase: "CREATE DATABASE b WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE_PROVIDER = builtin LOCALE = 'C.UTF-8' BUILTIN_LOCALE = 'C.UTF-8';")
                == L(encoding: "UTF8", collate: "C.UTF-8", ctype: "C.UTF-8", provider: "b", locale: "C.UTF-8"))
        #expect(L.parse(createDatabase: #"CREATE DATABASE e WITH TEMPLATE = template0 ENCODING = E'EUC_JP' LC_COLLATE = E'it\'s' LC_CTYPE = 'C';"#)
                == L(encoding: "EUC_JP", collate: "it's", ctype: "C"))
        #expect(L.parse(createDatabase: "CREATE DATABASE n WITH TEMPLATE = template0;") == nil)
        #expect(L.parse(createDatabase: "CREATE TABLE t (a int);") == nil)
    }

    /// A replace makes the target its source's database too (as `pg_dump --create` would): a
    /// UTF8 / C.UTF-8 target replaced by a copy of a LATIN1 / C source is LATIN1 / C, and a
    /// LATIN1 target replaced by a copy of a UTF8 source holding `☕` (which LATIN1 cannot hold) is
    /// UTF8 with the `☕`.
    @Test func aReplaceTakesItsSourcesEncodingAndLocale() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        for (source, target) in [(Self.kinds[0], "ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"),
                                 (Self.kinds[3], "ENCODING 'LATIN1' LOCALE 'C'"), (Self.kinds[4], "ENCODING 'UTF8' LOCALE 'C'")] {
            let db = PGServers.name("lor")
            let run = Self.run()
            defer { a.dropTestDatabase(db); b.dropTestDatabase(db); b.dropTestDatabase(b.checkpointName(for: db, runID: run)) }
            try makeSource(a, db, source)
            b.dropTestDatabase(db)
            try b.connection.execute("CREATE DATABASE \(quoteIdent(db)) TEMPLATE template0 \(target)")
            try b.sql(db, "CREATE TABLE old (v text)")
            try b.copyIn(from: a, database: db, as: db, runID: run)
            #expect(try databaseRow(b, db) == databaseRow(a, db), "\(source) over \(target)")
            #expect(try clientBytes(b, db) == clientBytes(a, db), "\(source) over \(target)")
        }
    }

    /// The verify compares what a client reads: a shadow of another encoding than its source's
    /// (the same letters, converted) is `VerifyFailed` naming both.
    @Test func theVerifyRefusesAShadowOfAnotherEncoding() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("lov")
        let shadow = try b.makeShadow(for: db, runID: Self.run(), like: db)   // the server's UTF8 / C.UTF-8
        defer { a.dropTestDatabase(db); b.dropTestDatabase(shadow) }
        try makeSource(a, db, Self.kinds[0])
        try b.sql(shadow, "CREATE TABLE t (id int PRIMARY KEY, v text, \"prix_é\" text DEFAULT 'é'); INSERT INTO t (id, v) VALUES (1, 'café'), (2, 'Ärger'), (3, 'zoo'), (4, 'Zürich');")
        let error = expectCode(.verifyFailed) { _ = try b.verify(shadow: shadow, against: a, database: db, level: .checksum) }
        #expect(error?.message.contains("LATIN1, LC_COLLATE C, LC_CTYPE C") == true && error?.message.contains("UTF8") == true, "\(String(describing: error))")
        // The rows alone agree: the same letters read through UTF-8 sessions.
        #expect(try b.contents(of: shadow) == a.contents(of: db))
    }

    /// A server that cannot make the locale: the shadow, made again with it, fails with
    /// `VersionMismatch` naming it, and nothing of the shadow is left.
    @Test func aLocaleTheTargetCannotMakeIsVersionMismatchAndLeavesNothing() throws {
        let b = try PGServers.b()
        defer { b.close() }
        let db = PGServers.name("lom")
        let shadow = try b.makeShadow(for: db, runID: Self.run(), like: db)
        defer { b.dropTestDatabase(shadow) }
        let wanted = PostgresDatabaseLocale(encoding: "UTF8", collate: "xx_YY.UTF-8", ctype: "xx_YY.UTF-8")
        let error = expectCode(.versionMismatch) { try b.remakeShadow(shadow, withLocale: wanted) }
        #expect(error?.message.contains("xx_YY.UTF-8") == true, "\(String(describing: error))")
        #expect(try !b.databaseExists(shadow))
        #expect(try b.connection.query("SELECT rolname FROM pg_roles WHERE rolname = \(quoteLiteral(PostgresImportRole.name(forShadow: shadow)))").isEmpty)
    }

    /// Plan time: the facts carry each database's locale and what the server can make; a source
    /// locale the target lacks (its provider, its libc locale, however the codeset is spelled)
    /// is `VersionMismatch` naming it; a replace of a target of another encoding is a warning.
    @Test func thePlanRefusesALocaleTheTargetLacksAndWarnsOfAReplaceThatChangesIt() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("lop")
        defer { a.dropTestDatabase(db); b.dropTestDatabase(db) }
        try makeSource(a, db, Self.kinds[0])
        b.dropTestDatabase(db)
        try b.connection.execute("CREATE DATABASE \(quoteIdent(db)) TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8'")
        let source = try a.describe(fingerprinting: [db]), target = try b.describe(fingerprinting: [db])
        #expect(source.database(db)?.locale == ["encoding": "LATIN1", "lc_collate": "C", "lc_ctype": "C", "provider": "c"])
        let known = try #require(target.locales)
        #expect(known.map(PostgresDatabaseLocale.normalized).contains("C.utf8"), "\(known)")
        #expect(target.localeProviders?.contains("c") == true)

        let engine = PostgresEngine()
        let from = try PGServers.spec("FERRY_TEST_PG_A", name: "pg-a"), to = try PGServers.spec("FERRY_TEST_PG_B", name: "pg-b")
        let spec = CopySpec(name: "c", from: "pg-a", to: "pg-b", databases: [DatabaseMapping(source: db, target: db)], onExisting: .replace)
        let replaced = engine.localeDiagnostics(spec, source: source, target: target)
        #expect(replaced.count == 1 && replaced.first?.severity == .warning, "\(replaced)")
        #expect(replaced.first?.message.contains("is UTF8, LC_COLLATE C.UTF-8, LC_CTYPE C.UTF-8; the copy replaces it with one of LATIN1, LC_COLLATE C, LC_CTYPE C") == true, "\(replaced)")
        #expect(engine.copyDiagnostics(spec, from: from, source: source, to: to, target: target).contains { $0.message == replaced.first?.message })

        var lacking = source
        lacking.databases[db]?.locale = ["encoding": "UTF8", "lc_collate": "xx_YY.UTF-8", "lc_ctype": "C", "provider": "c"]
        let missing = engine.localeDiagnostics(spec, source: lacking, target: target)
        #expect(missing.count == 1 && missing.first?.code == .versionMismatch && missing.first?.severity == .error, "\(missing)")
        #expect(missing.first?.message.contains("the locale xx_YY.UTF-8 (LC_COLLATE)") == true, "\(missing)")
        #expect(engine.copyDiagnostics(spec, from: from, source: lacking, to: to, target: target).contains { $0.code == .versionMismatch })

        var icu = source
        icu.databases[db]?.locale = ["encoding": "UTF8", "lc_collate": "C.UTF-8", "lc_ctype": "C.UTF-8", "provider": "i", "locale": "de-DE"]
        var noICU = target
        noICU.localeProviders = ["c"]
        let provider = engine.localeDiagnostics(spec, source: icu, target: noICU)
        #expect(provider.first?.code == .versionMismatch && provider.first?.message.contains("the locale provider icu") == true, "\(provider)")

        // The same locale spelled otherwise (glibc's normalized codeset) is not refused.
        var spelled = source
        spelled.databases[db]?.locale = ["encoding": "UTF8", "lc_collate": "C.utf-8", "lc_ctype": "C.UTF8", "provider": "c"]
        #expect(!engine.localeDiagnostics(spec, source: spelled, target: target).contains { $0.severity == .error })
        #expect(PostgresDatabaseLocale.normalized("de_DE.ISO-8859-1@euro") == "de_DE.iso88591@euro")
        #expect(PostgresDatabaseLocale.normalized("ja_JP.eucJP") == "ja_JP.eucjp")
    }
}
