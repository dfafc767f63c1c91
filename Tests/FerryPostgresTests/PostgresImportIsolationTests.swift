import FerryCore
import FerryIO
@testable import FerryPostgres
import Foundation
import Testing

/// Issue 14 §1 for PostgreSQL: an import's statements run as a throwaway role that owns only the
/// shadow, so what the statement checks cannot see (dynamic SQL, quoted and U& names, statements
/// that only act elsewhere) is refused by the server itself, and nothing beyond the shadow changes.
@Suite struct PostgresImportIsolationTests {
    /// Writes `sql` to a temporary `.sql` file.
    static func file(_ sql: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-pgimp-\(UUID().uuidString).sql")
        try Data(sql.utf8).write(to: url)
        return url
    }

    static func run() -> String { "i" + UUID().uuidString.prefix(8).lowercased() }

    /// What these tests import is owned by the servers' ordinary role (Ferry's user is a superuser).
    static let owned = ImportOptions(owner: "ferry_plain")

    /// What a user would check of the cluster beyond the import: the victim database's rows,
    /// ACL, settings and connection flag, the cluster's roles, and the server's settings.
    static func outside(_ s: PostgresSession, victim: String) throws -> [String] {
        var facts = try s.contents(of: victim).map { "\($0.key)=\($0.value)" }.sorted()
        facts += try s.connection.query("SELECT datname, datallowconn::text, datconnlimit::text, coalesce(datacl::text, '-'), coalesce(shobj_description(oid, 'pg_database'), '-') FROM pg_database WHERE datname = \(quoteLiteral(victim))")
            .map { $0.map { $0 ?? "NULL" }.joined(separator: "|") }
        // Settings of the victim and of every role (other tests change other databases' settings).
        facts += try s.connection.query("SELECT coalesce(array_agg(s ORDER BY s)::text, '-') FROM pg_db_role_setting r, unnest(r.setconfig) s WHERE r.setdatabase = (SELECT oid FROM pg_database WHERE datname = \(quoteLiteral(victim))) OR (r.setdatabase = 0 AND r.setrole IN (SELECT oid FROM pg_roles WHERE rolname IN ('ferry', 'ferry_plain')))").map { $0[0] ?? "" }
        // Roles that hold power, and any role a file of these tests would make (others come and go).
        facts += try s.connection.query("SELECT rolname, rolsuper::text, rolcreaterole::text, rolcanlogin::text FROM pg_roles WHERE (rolsuper OR rolcreaterole OR rolname LIKE 'ferry\\_evil%' OR rolname = 'ferry_plain') ORDER BY 1")
            .map { $0.map { $0 ?? "NULL" }.joined(separator: "|") }
        facts += try s.connection.query("SELECT name, setting FROM pg_settings WHERE name IN ('work_mem', 'session_replication_role', 'log_statement') ORDER BY 1")
            .map { $0.map { $0 ?? "NULL" }.joined(separator: "|") }
        return facts
    }

    /// Statements the checks let through that would act beyond the shadow on a superuser's
    /// session; each must fail the import (the server refuses the role) and change nothing.
    static let escapes: [String] = [
        // comments nest in PostgreSQL: a classifier that ends one at the first */ reads code
        // as comment and a comment's quote as a string (a fresh tester's superuser and lost database)
        "ALTER/* a /* nested */ b */DATABASE VICTIM OWNER TO ferry_plain;",
        "ALTER/* /* ' */ */TABLESPACE pg_default OWNER TO ferry_plain;",
        "DROP/* a /* b /* c */ d */ e */DATABASE VICTIM;",
        // dynamic SQL in DO blocks and functions
        "DO $$ BEGIN EXECUTE 'CREATE ' || 'ROLE ferry_evil_x SUPERUSER LOGIN'; END $$;",
        "DO $$ BEGIN EXECUTE 'UPDATE pg_' || 'database SET datallowconn = false WHERE datname = ' || quote_literal('VICTIM'); END $$;",
        "DO $$ BEGIN EXECUTE format('COPY (SELECT 1) TO ' || 'PROGRAM %L', 'touch /tmp/ferry-evil-VICTIM'); END $$;",
        "DO $$ BEGIN EXECUTE 'SET ' || 'ROLE ferry'; EXECUTE 'CREATE ROLE ferry_evil_y'; END $$;",
        "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'GRANT ' || 'pg_execute_server_program TO ' || current_user; END $$; SELECT f();",
        "SELECT set_config(concat('session_', 'replication_role'), 'replica', false);",
        // names the checks do not read as the functions they are
        "SELECT pg_catalog.\"pg_read_file\"('/etc/hostname');",
        "SELECT U&\"pg\\005fread\\005ffile\"('/etc/hostname');",
        "SELECT \"pg_terminate_backend\"(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid();",
        // statements that act only on other objects of the cluster
        "REASSIGN OWNED BY ferry_plain TO CURRENT_USER;",
        "DROP OWNED BY ferry_plain;",
        "BEGIN; LOCK TABLE pg_catalog.pg_authid IN ACCESS SHARE MODE; COMMIT;",
        "CREATE EXTENSION IF NOT EXISTS dblink CASCADE;",
    ]

    @Test(arguments: escapes.indices)
    func escapesFailAndNothingOutsideChanges(_ index: Int) throws {
        let b = try PGServers.b()
        defer { b.close() }
        let victim = PGServers.name("victim"), db = PGServers.name("imp")
        try b.createTestDatabase(victim)
        defer { b.dropTestDatabase(victim) }
        try b.sql(victim, "CREATE TABLE keep (v int); INSERT INTO keep VALUES (1), (2)")
        try b.connection.execute("GRANT CONNECT ON DATABASE \(quoteIdent(victim)) TO PUBLIC")
        let before = try Self.outside(b, victim: victim)
        let sql = "CREATE TABLE t (v int);\nINSERT INTO t VALUES (1);\n" + Self.escapes[index].replacingOccurrences(of: "VICTIM", with: victim) + "\n"
        let file = try Self.file(sql)
        defer { try? FileManager.default.removeItem(at: file) }
        let run = Self.run()
        let shadow = try b.makeShadow(for: db, runID: run)
        defer { _ = try? b.removeLeftovers(ofRun: run, database: db) }
        let error = expectCode(.importError) {
            _ = try b.importData(into: shadow, from: [.file(file.path)], format: .sql, options: Self.owned, progress: ProgressCounter())
        }
        #expect(error?.message.contains(":3:") ?? false, "the error names the statement's line: \(error?.message ?? "")")
        #expect(try Self.outside(b, victim: victim) == before, "nothing beyond the shadow changed")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/ferry-evil-\(victim)"))
        _ = try b.removeLeftovers(ofRun: run, database: db)
        #expect(try b.leftovers(ofRun: run).isEmpty, "the shadow and its import role are gone")
    }

    /// Statements that name other databases' privileges without the right to change them: the
    /// server only warns, so the import succeeds, and the other database is as it was.
    @Test(arguments: ["REVOKE CONNECT ON DATABASE VICTIM FROM PUBLIC;", "GRANT ALL ON DATABASE VICTIM TO ferry_plain;",
                      "REVOKE ALL ON SCHEMA public FROM PUBLIC;"])
    func privilegesOnOtherObjectsStayAsTheyWere(_ statement: String) throws {
        let b = try PGServers.b()
        defer { b.close() }
        let victim = PGServers.name("victim"), db = PGServers.name("imp")
        try b.createTestDatabase(victim)
        defer { b.dropTestDatabase(victim) }
        try b.sql(victim, "CREATE TABLE keep (v int); INSERT INTO keep VALUES (7)")
        try b.connection.execute("GRANT CONNECT ON DATABASE \(quoteIdent(victim)) TO PUBLIC")
        let before = try Self.outside(b, victim: victim)
        let file = try Self.file("CREATE TABLE t (v int);\n" + statement.replacingOccurrences(of: "VICTIM", with: quoteIdent(victim)) + "\n")
        defer { try? FileManager.default.removeItem(at: file) }
        let run = Self.run()
        let shadow = try b.makeShadow(for: db, runID: run)
        defer { _ = try? b.removeLeftovers(ofRun: run, database: db) }
        _ = try b.importData(into: shadow, from: [.file(file.path)], format: .sql, options: Self.owned, progress: ProgressCounter())
        #expect(try Self.outside(b, victim: victim) == before)
        #expect(try b.leftovers(ofRun: run) == [shadow], "the import role is dropped once the import is done")
    }

    /// Dynamic SQL that changes the shadow database's own row (settings, comment, ACL) is found
    /// after the import, which fails; the shadow is still recognised and removed.
    @Test(arguments: [
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET work_mem = %L', current_database(), '64MB'); END $$;",
        "DO $$ BEGIN EXECUTE format('COMMENT ON DATABASE %I IS %L', current_database(), 'mine'); END $$;",
        "DO $$ BEGIN EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM PUBLIC', current_database()); END $$;",
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I CONNECTION LIMIT 1', current_database()); END $$;",
    ])
    func changesToTheShadowsOwnRowFailTheImport(_ statement: String) throws {
        let b = try PGServers.b()
        defer { b.close() }
        let db = PGServers.name("imp")
        let file = try Self.file("CREATE TABLE t (v int);\n" + statement + "\n")
        defer { try? FileManager.default.removeItem(at: file) }
        let run = Self.run()
        let shadow = try b.makeShadow(for: db, runID: run)
        defer { _ = try? b.removeLeftovers(ofRun: run, database: db) }
        _ = expectCode(.importError) {
            _ = try b.importData(into: shadow, from: [.file(file.path)], format: .sql, options: Self.owned, progress: ProgressCounter())
        }
        #expect(try b.isOwnDerived(shadow), "the shadow is still provably Ferry's")
        _ = try b.removeLeftovers(ofRun: run, database: db)
        #expect(try !b.databaseExists(shadow))
        #expect(try b.leftovers(ofRun: run).isEmpty)
    }

    /// A real pg_dump script (extension, functions, view, large object, comments, owners) imports
    /// as it would with psql run by a superuser: same rows, same owners, same extension and large
    /// object; then no import role is left and the shadow is owned by Ferry's user.
    @Test func aRealDumpImportsWithItsOwnersAndExtensions() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let source = PGServers.name("dumped"), db = PGServers.name("imp")
        let owner = "ferry_owner_" + UUID().uuidString.prefix(6).lowercased()
        for s in [a, b] { try s.connection.execute("CREATE ROLE \(quoteIdent(owner)) NOLOGIN") }
        defer { for s in [a, b] { try? s.connection.execute("DROP ROLE IF EXISTS \(quoteIdent(owner))") } }
        try a.createTestDatabase(source)
        defer { a.dropTestDatabase(source) }
        try a.sql(source, """
            CREATE EXTENSION IF NOT EXISTS pgcrypto;
            CREATE TABLE t (id int PRIMARY KEY, v text, h text);
            INSERT INTO t SELECT g, 'v' || g, encode(digest('x' || g, 'sha256'), 'hex') FROM generate_series(1, 200) g;
            CREATE TABLE owned (id int); INSERT INTO owned VALUES (1);
            ALTER TABLE owned OWNER TO \(quoteIdent(owner));
            CREATE VIEW v AS SELECT id, v FROM t;
            CREATE FUNCTION f(a int, b text) RETURNS text LANGUAGE sql AS 'SELECT b || a';
            ALTER FUNCTION f(int, text) OWNER TO \(quoteIdent(owner));
            COMMENT ON TABLE t IS 'the table';
            GRANT SELECT ON t TO \(quoteIdent(owner));
            SELECT lo_from_bytea(0, 'large object bytes');
            """)
        let dump = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-pgimp-\(UUID().uuidString).sql")
        defer { try? FileManager.default.removeItem(at: dump) }
        let tools = PostgresTools(address: a.address, instanceName: "pg-a")
        try tools.run("pg_dump", ["--file", dump.path], database: source, code: .copyError)
        let run = Self.run()
        let shadow = try b.makeShadow(for: db, runID: run)
        defer { _ = try? b.removeLeftovers(ofRun: run, database: db) }
        _ = try b.importData(into: shadow, from: [.file(dump.path)], format: .sql, options: Self.owned, progress: ProgressCounter())
        #expect(try b.contents(of: shadow) == a.contents(of: source))
        let owners = "SELECT c.relname, pg_get_userbyid(c.relowner), coalesce(c.relacl::text, '-') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v') ORDER BY 1"
        // What the dump gave the superuser `ferry`, or another role, belongs to the import's
        // owner: a file gives its objects to no other role (privileges it grants stay).
        func mapped(_ rows: [[String?]]) -> [[String?]] {
            rows.map { row in
                [row[0], row[1].map { $0 == "ferry" || $0 == owner ? "ferry_plain" : $0 }] + row.dropFirst(2).map {
                    $0.map { $0.replacingOccurrences(of: #"\bferry\b(?!_)"#, with: "ferry_plain", options: .regularExpression) }
                }
            }
        }
        #expect(try b.rows(shadow, owners) == mapped(a.rows(source, owners)))
        let functions = "SELECT p.proname, pg_get_userbyid(p.proowner) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' AND p.proname = 'f'"
        #expect(try b.rows(shadow, functions) == mapped(a.rows(source, functions)))
        #expect(try b.rows(shadow, "SELECT extname FROM pg_extension WHERE extname = 'pgcrypto'") == [["pgcrypto"]])
        #expect(try b.rows(shadow, "SELECT convert_from(lo_get(oid), 'UTF8') FROM pg_largeobject_metadata") == [["large object bytes"]])
        #expect(try b.rows(shadow, "SELECT obj_description('t'::regclass, 'pg_class')") == [["the table"]])
        #expect(try b.rows(shadow, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()") == [["ferry"]])
        #expect(try b.importRoles(ofRun: run).isEmpty)
        #expect(try b.isOwnDerived(shadow))
    }

    /// The same archive as a pg_dump custom-format file: its SQL passes the same checks and runs
    /// as the import role; an archive whose SQL reaches outside is refused with its line.
    @Test func archivesRunThroughTheSameChecksAndRole() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let source = PGServers.name("arch"), db = PGServers.name("imp")
        try a.createTestDatabase(source)
        defer { a.dropTestDatabase(source) }
        try a.sql(source, """
            CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 300) g;
            CREATE FUNCTION sneaky() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'ALTER ' || 'ROLE ferry NOSUPERUSER'; RETURN NEW; END $$;
            """)
        let archive = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-pgimp-\(UUID().uuidString).dump")
        defer { try? FileManager.default.removeItem(at: archive) }
        try PostgresTools(address: a.address, instanceName: "pg-a").run("pg_dump", ["--format=custom", "--file", archive.path], database: source, code: .copyError)
        let run = Self.run()
        let shadow = try b.makeShadow(for: db, runID: run)
        defer { _ = try? b.removeLeftovers(ofRun: run, database: db) }
        _ = try b.importData(into: shadow, from: [.file(archive.path)], format: .pgdump, options: Self.owned, progress: ProgressCounter())
        #expect(try b.contents(of: shadow) == a.contents(of: source))
        #expect(try b.importRoles(ofRun: run).isEmpty)
        #expect(try b.rows("postgres", "SELECT rolsuper::text FROM pg_roles WHERE rolname = 'ferry'") == [["true"]])

        // An archive whose SQL has a statement the checks refuse.
        let bad = PGServers.name("arch_bad")
        try a.createTestDatabase(bad)
        defer { a.dropTestDatabase(bad) }
        try a.sql(bad, "CREATE TABLE t (v int); CREATE VIEW reads AS SELECT pg_read_file('/etc/hostname') AS f")
        try PostgresTools(address: a.address, instanceName: "pg-a").run("pg_dump", ["--format=custom", "--file", archive.path], database: bad, code: .copyError)
        let run2 = Self.run()
        let shadow2 = try b.makeShadow(for: db, runID: run2)
        defer { _ = try? b.removeLeftovers(ofRun: run2, database: db) }
        let error = expectCode(.importError) {
            _ = try b.importData(into: shadow2, from: [.file(archive.path)], format: .pgdump, options: Self.owned, progress: ProgressCounter())
        }
        #expect(error?.message.contains("pg_read_file") ?? false, "\(error?.message ?? "")")

        // Not an archive at all: pg_restore's own error.
        let junk = try Self.file("this is not an archive")
        defer { try? FileManager.default.removeItem(at: junk) }
        _ = expectCode(.importError) {
            _ = try b.importData(into: shadow2, from: [.file(junk.path)], format: .pgdump, options: Self.owned, progress: ProgressCounter())
        }
    }

    /// A role that already has the import role's name is someone's: the import is refused and the
    /// role is neither used nor dropped.
    @Test func aUsersRoleWithTheImportRolesNameIsNeverTouched() throws {
        let b = try PGServers.b()
        defer { b.close() }
        let db = PGServers.name("imp")
        let run = Self.run()
        let shadow = try b.makeShadow(for: db, runID: run)
        defer { _ = try? b.removeLeftovers(ofRun: run, database: db) }
        let name = PostgresImportRole.name(forShadow: shadow)
        try b.connection.execute("CREATE ROLE \(quoteIdent(name)) NOLOGIN; COMMENT ON ROLE \(quoteIdent(name)) IS 'a user''s role'")
        defer { try? b.connection.execute("DROP ROLE IF EXISTS \(quoteIdent(name))") }
        let file = try Self.file("CREATE TABLE t (v int);\n")
        defer { try? FileManager.default.removeItem(at: file) }
        _ = expectCode(.importError) {
            _ = try b.importData(into: shadow, from: [.file(file.path)], format: .sql, options: Self.owned, progress: ProgressCounter())
        }
        _ = try b.removeLeftovers(ofRun: run, database: db)
        #expect(try b.rows("postgres", "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = \(quoteLiteral(name))") == [["a user's role"]])
    }

    /// A run killed after creating the import role (before it gave the shadow back) leaves a role
    /// that `removeLeftovers` (what `ferry recover` calls) removes with the shadow.
    @Test func recoveryRemovesAKilledRunsImportRole() throws {
        let b = try PGServers.b()
        defer { b.close() }
        let db = PGServers.name("imp")
        let run = Self.run()
        let shadow = try b.makeShadow(for: db, runID: run)
        defer { _ = try? b.removeLeftovers(ofRun: run, database: db) }
        let created = try #require(try b.createImportRole(for: shadow))
        let c = try PostgresConnection(created.role.address(from: b.address), database: shadow, instanceName: "pg-b", pinnedSearchPath: false)
        try c.execute("CREATE TABLE t (v int); INSERT INTO t VALUES (1)")
        c.close()
        #expect(try b.leftovers(ofRun: run).sorted() == [shadow, "role " + created.role.name].sorted())
        #expect(try b.removeLeftovers(ofRun: run, database: db).count == 2)
        #expect(try b.leftovers(ofRun: run).isEmpty)
        #expect(try !b.databaseExists(shadow))
    }

    /// Without CREATEROLE, the plan says imports are guarded by the checks alone, and the import
    /// runs on Ferry's own connection; with it (a superuser), nothing is said.
    @Test func withoutCreateRoleTheImportFallsBackToTheChecks() throws {
        let env = ProcessInfo.processInfo.environment
        let plainUser = try #require(env["FERRY_TEST_PG_PLAIN_USER"])
        let b = try PGServers.b()
        defer { b.close() }
        #expect(b.importIsolationNotes() == nil)
        let plain = try PGServers.connect(PGServers.spec("FERRY_TEST_PG_B", name: "pg-b-plain", user: plainUser))
        defer { plain.close() }
        #expect(plain.importIsolationNotes()?.first?.contains("CREATEROLE") ?? false)
        let db = PGServers.name("imp")
        let run = Self.run()
        let shadow = try plain.makeShadow(for: db, runID: run)
        defer { _ = try? plain.removeLeftovers(ofRun: run, database: db) }
        let file = try Self.file("CREATE TABLE t (v int);\nINSERT INTO t VALUES (5);\n")
        defer { try? FileManager.default.removeItem(at: file) }
        _ = try plain.importData(into: shadow, from: [.file(file.path)], format: .sql, progress: ProgressCounter())
        #expect(try plain.rows(shadow, "SELECT v FROM t") == [["5"]])
        #expect(try plain.rows(shadow, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 't'") == [[plainUser]])

        // Without the role, dynamic SQL that no check can read is refused before it runs.
        for body in ["DO $$ BEGIN EXECUTE format('ALTER ' || 'ROLE %I SET work_mem = %L', current_user, '99kB'); END $$;",
                     "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $f$ BEGIN EXECUTE 'SELECT 1'; END $f$;",
                     "CREATE FUNCTION g() RETURNS void LANGUAGE plperl AS $f$ spi_exec_query('SELECT 1'); $f$;",
                     "CREATE FUNCTION h() RETURNS void LANGUAGE sql AS E'ALTER \\x52OLE CURRENT_USER SET work_mem = ''66MB''';",
                     "CREATE FUNCTION i() RETURNS void LANGUAGE sql AS U&'ALTER \\0052OLE CURRENT_USER SET work_mem = ''67MB''';",
                     // A database's or tablespace's ACL is the server's: Ferry's ordinary user may
                     // change those of databases it owns (fresh tester, round 4).
                     "GRANT ALL ON DATABASE postgres TO PUBLIC;", "REVOKE CONNECT ON DATABASE \"\(db)\" FROM PUBLIC;",
                     "GRANT CREATE ON TABLESPACE pg_default TO PUBLIC;", "grant/**/all on/* x */database postgres to public;"] {
            let run2 = Self.run()
            let shadow2 = try plain.makeShadow(for: db, runID: run2)
            defer { _ = try? plain.removeLeftovers(ofRun: run2, database: db) }
            let sneaky = try Self.file("CREATE TABLE t (v int);\n" + body + "\n")
            defer { try? FileManager.default.removeItem(at: sneaky) }
            let error = expectCode(.importError) {
                _ = try plain.importData(into: shadow2, from: [.file(sneaky.path)], format: .sql, progress: ProgressCounter())
            }
            #expect(error?.message.contains(":2:") ?? false, "\(error?.message ?? "")")
        }
        #expect(try b.rows("postgres", "SELECT coalesce(array_agg(s)::text, '-') FROM pg_db_role_setting r, unnest(r.setconfig) s WHERE r.setrole = \(quoteLiteral(plainUser))::regrole") == [["-"]])
    }

    /// Fresh tester round 36, F6: where Ferry's user may not create the import role (CREATEDB
    /// alone), a plain dump's `OWNER TO` its original owner failed with the server's "must be
    /// member of role". The import role's rule holds there too, checked before the statement
    /// is sent: Ferry's own user (by name, quoted, or `CURRENT_USER`) stays; another role is
    /// an `ImportError` naming the line, with the ways out; with an `owner`, it becomes the owner.
    @Test func ownerChangesWithoutTheImportRoleFollowTheSameRule() throws {
        let env = ProcessInfo.processInfo.environment
        let plainUser = try #require(env["FERRY_TEST_PG_PLAIN_USER"])
        let plain = try PGServers.connect(PGServers.spec("FERRY_TEST_PG_B", name: "pg-b-plain", user: plainUser))
        defer { plain.close() }
        #expect(plain.importIsolationNotes() != nil, "this user runs imports without the import role")
        let db = PGServers.name("impown")
        for (body, owner, expected) in [
            ("ALTER TABLE t OWNER TO ferry;", nil, "refused"),
            ("ALTER TABLE public.t OWNER TO \"ferry\";", nil, "refused"),
            ("ALTER TABLE t OWNER TO \(quoteIdent(plainUser));", nil, plainUser),
            ("ALTER TABLE t OWNER TO CURRENT_USER;", nil, plainUser),
            ("ALTER TABLE t OWNER TO ferry;", plainUser, plainUser),
        ] as [(String, String?, String)] {
            let run = Self.run()
            let shadow = try plain.makeShadow(for: db, runID: run)
            defer { _ = try? plain.removeLeftovers(ofRun: run, database: db) }
            let file = try Self.file("CREATE TABLE t (v int);\n\(body)\nINSERT INTO t VALUES (1);\n")
            defer { try? FileManager.default.removeItem(at: file) }
            if expected == "refused" {
                let error = expectCode(.importError) {
                    _ = try plain.importData(into: shadow, from: [.file(file.path)], format: .sql, progress: ProgressCounter())
                }
                #expect(error?.message.contains(":2: OWNER TO") == true && error?.message.contains("another role") == true, "\(error?.message ?? "")")
                #expect(error?.diagnostics.first?.hint?.contains("--no-owner") == true)
            } else {
                _ = try plain.importData(into: shadow, from: [.file(file.path)], format: .sql,
                                         options: ImportOptions(owner: owner), progress: ProgressCounter())
                #expect(try plain.rows(shadow, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 't'") == [[expected]], "\(body)")
            }
        }
    }

    /// A file's functions that would stand in for built-ins in Ferry's own queries (verify,
    /// refresh: CVE-2018-1058's shape) are never called: Ferry's sessions search `pg_catalog` only.
    @Test func functionsPlantedInPublicNeverRunInFerrysQueries() throws {
        let b = try PGServers.b()
        defer { b.close() }
        let db = PGServers.name("hijack")
        let evil = "ferry_evil_" + UUID().uuidString.prefix(6).lowercased()
        defer { try? b.connection.execute("DROP ROLE IF EXISTS \(quoteIdent(evil))") }
        let body = "BEGIN BEGIN EXECUTE 'CREATE ' || 'ROLE \(evil) SUPERUSER'; EXCEPTION WHEN others THEN NULL; END;"
        let file = try Self.file("""
            CREATE TABLE items (id int, name text);
            INSERT INTO items VALUES (1, 'x'), (2, 'y');
            CREATE FUNCTION public.pg_relation_size(oid) RETURNS bigint LANGUAGE plpgsql AS $f$ \(body) RETURN 0; END $f$;
            CREATE FUNCTION public.hash_record_extended(items, integer) RETURNS bigint LANGUAGE plpgsql AS $f$ \(body) RETURN 0; END $f$;
            CREATE FUNCTION public.count(items) RETURNS bigint LANGUAGE plpgsql AS $f$ \(body) RETURN 0; END $f$;
            CREATE FUNCTION public.hashtext(text) RETURNS integer LANGUAGE plpgsql AS $f$ \(body) RETURN 0; END $f$;
            """)
        defer { try? FileManager.default.removeItem(at: file) }
        let run = Self.run()
        let shadow = try b.makeShadow(for: db, runID: run)
        defer { _ = try? b.removeLeftovers(ofRun: run, database: db); b.dropTestDatabase(db) }
        _ = try b.importData(into: shadow, from: [.file(file.path)], format: .sql, options: Self.owned, progress: ProgressCounter())
        for level in [VerifyLevel.count, .checksum] {
            _ = try b.verify(shadow: shadow, against: nil, database: nil, level: level, receipt: nil)
        }
        _ = try b.swap(SwapRecord(database: db, shadow: shadow, checkpoint: nil, targetExisted: false))
        _ = try b.describe(fingerprinting: [db])
        #expect(try b.rows("postgres", "SELECT count(*) FROM pg_roles WHERE rolname = \(quoteLiteral(evil))") == [["0"]],
                "a planted function ran with Ferry's rights")
    }

    /// `ALTER ... OWNER TO` may give away only what the file made; a SECURITY DEFINER function
    /// may not end up owned by a superuser. Each fails the import, with nothing changed.
    @Test(arguments: [
        "ALTER SCHEMA pg_catalog OWNER TO ferry_plain;",
        "ALTER FUNCTION pg_catalog.now() OWNER TO ferry_plain;",
        "ALTER LANGUAGE plpgsql OWNER TO ferry_plain;",
        "ALTER TYPE pg_catalog.int4 OWNER TO ferry_plain;",
        "CREATE FUNCTION public.up() RETURNS void LANGUAGE sql SECURITY DEFINER AS 'SELECT 1';",
        "CREATE FUNCTION public.up() RETURNS void LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'; ALTER FUNCTION public.up() OWNER TO ferry;",
        "CREATE FUNCTION public.run(c text) RETURNS void LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'; ALTER FUNCTION public.run(text) OWNER TO pg_execute_server_program;",
        "CREATE EXTENSION IF NOT EXISTS hstore; CREATE FUNCTION public.sdf() RETURNS void LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'; ALTER EXTENSION hstore ADD FUNCTION public.sdf();",
    ])
    func ownerChangesBeyondTheFilesObjectsAreRefused(_ statement: String) throws {
        let b = try PGServers.b()
        defer { b.close() }
        let db = PGServers.name("own")
        // Statements naming ferry_plain run with it as the import's owner (what they try then
        // is refused for itself); the others without one.
        let owned = statement.contains("OWNER TO ferry_plain")
        let file = try Self.file("CREATE TABLE t (v int);\n" + (owned ? "ALTER TABLE t OWNER TO ferry_plain;\n" : "") + statement + "\n")
        defer { try? FileManager.default.removeItem(at: file) }
        let run = Self.run()
        let shadow = try b.makeShadow(for: db, runID: run)
        defer { _ = try? b.removeLeftovers(ofRun: run, database: db) }
        let error = expectCode(.importError) {
            _ = try b.importData(into: shadow, from: [.file(file.path)], format: .sql, options: owned ? Self.owned : ImportOptions(),
                                 progress: ProgressCounter())
        }
        #expect(["OWNER TO", "SECURITY DEFINER", "ordinary owner", "server-level rights"].contains { error?.message.contains($0) == true }, "\(error?.message ?? "")")
        #expect(try b.rows(shadow, "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'pg_catalog'") != [["ferry_plain"]])
        #expect(try b.leftovers(ofRun: run) == [shadow])
    }

    /// A file gives its objects to no role but the import's owner: `OWNER TO` another ordinary
    /// role (which would lend the file that role's rights) is given to the owner, and without an
    /// owner it fails the import, naming the line.
    @Test func ownerChangesToAnotherRoleGoToTheOwnerOrFail() throws {
        let b = try PGServers.b()
        defer { b.close() }
        let other = PGServers.name("ferry_t_other")
        try b.connection.execute("CREATE ROLE \(quoteIdent(other)) NOLOGIN")
        defer { try? b.connection.execute("DROP OWNED BY \(quoteIdent(other))"); try? b.connection.execute("DROP ROLE IF EXISTS \(quoteIdent(other))") }
        let file = try Self.file("""
            CREATE TABLE t (v int);
            CREATE FUNCTION public.f(i int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT i';
            ALTER TABLE t OWNER TO \(quoteIdent(other));
            ALTER FUNCTION public.f(integer) OWNER TO \(quoteIdent(other));
            """)
        defer { try? FileManager.default.removeItem(at: file) }
        for owned in [false, true] {
            let db = PGServers.name("own")
            let run = Self.run()
            let shadow = try b.makeShadow(for: db, runID: run)
            defer { _ = try? b.removeLeftovers(ofRun: run, database: db) }
            if owned {
                _ = try b.importData(into: shadow, from: [.file(file.path)], format: .sql, options: Self.owned, progress: ProgressCounter())
                #expect(try b.rows(shadow, "SELECT relowner::regrole::text FROM pg_class WHERE relname = 't' UNION ALL SELECT proowner::regrole::text FROM pg_proc WHERE proname = 'f'")
                        == [["ferry_plain"], ["ferry_plain"]])
            } else {
                let error = expectCode(.importError) {
                    _ = try b.importData(into: shadow, from: [.file(file.path)], format: .sql, progress: ProgressCounter())
                }
                #expect(error?.message.contains(":3: OWNER TO") == true && error?.message.contains("another role") == true, "\(error?.message ?? "")")
            }
            #expect(try b.rows("postgres", "SELECT count(*) FROM pg_shdepend WHERE refobjid = \(quoteLiteral(other))::regrole AND deptype = 'o'") == [["0"]])
        }
    }

    /// `ALTER DEFAULT PRIVILEGES FOR ROLE` another role than the import's owner (Ferry's user, an
    /// ordinary role) fails the import: it would grant what that role creates later.
    @Test(arguments: ["ferry_plain", "ferry"])
    func defaultPrivilegesForAnotherRoleFailTheImport(_ other: String) throws {
        let b = try PGServers.b()
        defer { b.close() }
        let db = PGServers.name("adp")
        let owner = PGServers.name("ferry_t_owner")
        try b.connection.execute("CREATE ROLE \(quoteIdent(owner)) NOLOGIN")
        defer { try? b.connection.execute("DROP ROLE IF EXISTS \(quoteIdent(owner))") }
        let file = try Self.file("""
            CREATE TABLE t (v int);
            ALTER DEFAULT PRIVILEGES FOR ROLE \(other) GRANT ALL ON TABLES TO PUBLIC;
            """)
        defer { try? FileManager.default.removeItem(at: file) }
        let run = Self.run()
        let shadow = try b.makeShadow(for: db, runID: run)
        defer { _ = try? b.removeLeftovers(ofRun: run, database: db) }
        let error = expectCode(.importError) {
            _ = try b.importData(into: shadow, from: [.file(file.path)], format: .sql, options: ImportOptions(owner: owner), progress: ProgressCounter())
        }
        #expect(error?.message.contains("FOR ROLE \(other)") == true, "\(error?.message ?? "")")
        #expect(try b.rows(shadow, "SELECT count(*) FROM pg_default_acl") == [["0"]])
    }

    /// A SECURITY DEFINER function given to a role that is not a superuser imports; the role
    /// owns it afterwards.
    @Test func aSecurityDefinerFunctionOfAnOrdinaryRoleImports() throws {
        let b = try PGServers.b()
        defer { b.close() }
        let db = PGServers.name("secdef")
        let file = try Self.file("""
            CREATE TABLE t (v int);
            CREATE FUNCTION public.up() RETURNS void LANGUAGE sql SECURITY DEFINER AS 'SELECT 1';
            ALTER FUNCTION public.up() OWNER TO ferry_plain;
            ALTER DEFAULT PRIVILEGES FOR ROLE ferry_plain IN SCHEMA public GRANT SELECT ON TABLES TO PUBLIC;
            """)
        defer { try? FileManager.default.removeItem(at: file) }
        let run = Self.run()
        let shadow = try b.makeShadow(for: db, runID: run)
        defer { _ = try? b.removeLeftovers(ofRun: run, database: db) }
        _ = try b.importData(into: shadow, from: [.file(file.path)], format: .sql, options: Self.owned, progress: ProgressCounter())
        #expect(try b.rows(shadow, "SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'up'") == [["ferry_plain"]])
        #expect(try b.rows(shadow, "SELECT count(*) FROM pg_default_acl WHERE defaclrole = 'ferry_plain'::regrole") == [["1"]])
    }

    /// A file that sets its role's password cannot be used to log in as the role: the role is
    /// closed to logins once the import's session is open.
    @Test func theImportRoleCannotLogInOnceItsSessionIsOpen() throws {
        let b = try PGServers.b()
        defer { b.close() }
        let db = PGServers.name("login")
        let file = try Self.file("""
            CREATE TABLE t (v int);
            DO $$ BEGIN EXECUTE format('ALTER ' || 'ROLE %I PASSWORD %L', current_user, 'known-pass-123'); END $$;
            CREATE TABLE whoami AS SELECT current_user::text AS name, rolcanlogin::text AS login FROM pg_roles WHERE rolname = current_user;
            """)
        defer { try? FileManager.default.removeItem(at: file) }
        let run = Self.run()
        let shadow = try b.makeShadow(for: db, runID: run)
        defer { _ = try? b.removeLeftovers(ofRun: run, database: db) }
        let created = try #require(try b.createImportRole(for: shadow))
        #expect(try b.rows("postgres", "SELECT rolcanlogin::text FROM pg_roles WHERE rolname = \(quoteLiteral(created.role.name))") == [["true"]])
        try b.dropImportRole(forShadow: shadow)
        _ = try b.importData(into: shadow, from: [.file(file.path)], format: .sql, options: Self.owned, progress: ProgressCounter())
        let role = try #require(try b.rows(shadow, "SELECT name FROM whoami").first?[0] ?? nil)
        #expect(role.hasPrefix("ferry_i_"))
        #expect(try b.rows(shadow, "SELECT login FROM whoami") == [["false"]], "the role could still log in while the file ran")
        var address = b.address
        address.user = role
        address.password = "known-pass-123"
        #expect(throws: FerryError.self) { _ = try PostgresConnection(address, database: "postgres", instanceName: "pg-b") }
    }

    /// With a superuser as Ferry's user, what the file makes must end with an ordinary owner:
    /// the import's `owner`, or one the file names. Otherwise PostgreSQL would run the file's code
    /// with superuser rights later (a fresh tester raised a role to superuser through an
    /// expression index that autovacuum ran as the table's owner, Ferry's user).
    @Test func whatTheFileMakesEndsWithAnOrdinaryOwner() throws {
        let b = try PGServers.b()
        defer { b.close() }
        let victim = "ferry_vic_" + UUID().uuidString.prefix(6).lowercased()
        try b.connection.execute("CREATE ROLE \(quoteIdent(victim)) NOLOGIN")
        defer { try? b.connection.execute("DROP ROLE IF EXISTS \(quoteIdent(victim))") }
        let sql = """
            CREATE FUNCTION public.vol() RETURNS void LANGUAGE plpgsql VOLATILE AS $$
            BEGIN BEGIN EXECUTE format('%s %s \(victim) SUPERUSER', 'ALTER', 'ROLE'); EXCEPTION WHEN others THEN NULL; END; END $$;
            CREATE FUNCTION public.evil(x int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN PERFORM public.vol(); RETURN x; END $$;
            CREATE TABLE public.t (id int PRIMARY KEY, v text);
            INSERT INTO public.t SELECT g, 'x' FROM generate_series(1, 200) g;
            CREATE INDEX t_evil ON public.t ((public.evil(id)));
            ALTER TABLE public.t OWNER TO ferry;
            ALTER FUNCTION public.evil(integer) OWNER TO ferry;
            """
        let file = try Self.file(sql)
        defer { try? FileManager.default.removeItem(at: file) }
        let db = PGServers.name("owned")

        // No owner in the plan: refused, nothing left.
        let run = Self.run()
        let shadow = try b.makeShadow(for: db, runID: run)
        defer { _ = try? b.removeLeftovers(ofRun: run, database: db) }
        let refused = expectCode(.importError) {
            _ = try b.importData(into: shadow, from: [.file(file.path)], format: .sql, progress: ProgressCounter())
        }
        #expect(refused?.message.contains("OWNER TO ferry") == true, "\(refused?.message ?? "")")
        #expect(try b.leftovers(ofRun: run) == [shadow])

        // An owner with server-level rights, or none that exists: refused.
        for (owner, words) in [("ferry", "server-level rights"), ("no_such_role_x", "is not a role")] {
            let run2 = Self.run()
            let shadow2 = try b.makeShadow(for: db, runID: run2)
            defer { _ = try? b.removeLeftovers(ofRun: run2, database: db) }
            let error = expectCode(.importError) {
                _ = try b.importData(into: shadow2, from: [.file(file.path)], format: .sql, options: ImportOptions(owner: owner), progress: ProgressCounter())
            }
            #expect(error?.message.contains(words) == true, "\(owner): \(error?.message ?? "")")
        }

        // An ordinary owner: the superuser's objects go to it, and the index runs as it.
        let run3 = Self.run()
        let shadow3 = try b.makeShadow(for: db, runID: run3)
        defer { _ = try? b.removeLeftovers(ofRun: run3, database: db) }
        _ = try b.importData(into: shadow3, from: [.file(file.path)], format: .sql, options: Self.owned, progress: ProgressCounter())
        #expect(try b.rows(shadow3, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 't'") == [["ferry_plain"]])
        #expect(try b.rows(shadow3, "SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname IN ('evil', 'vol') ORDER BY proname") == [["ferry_plain"], ["ferry_plain"]])
        for statement in ["ANALYZE public.t", "REINDEX TABLE public.t", "VACUUM ANALYZE public.t"] { try b.sql(shadow3, statement) }
        #expect(try b.rows("postgres", "SELECT rolsuper::text FROM pg_roles WHERE rolname = \(quoteLiteral(victim))") == [["false"]],
                "the file's index ran with superuser rights")
    }

    /// The routes of the statements pg_dump writes and of look-alikes that must stay on the role.
    @Test func routesOfExtensionAndOwnerStatements() {
        func route(_ sql: String) -> PostgresImportGuard.Route { PostgresImportGuard.route(Array(sql.utf8)) }
        #expect(route("CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA public") == .importSession)
        #expect(route("COMMENT ON EXTENSION pgcrypto IS 'cryptographic functions'") == .importSession)
        #expect(route("ALTER DEFAULT PRIVILEGES FOR ROLE app_owner IN SCHEMA s GRANT SELECT ON TABLES TO app_reader") == .deferredOwnerChange)
        #expect(route("ALTER DEFAULT PRIVILEGES IN SCHEMA s GRANT SELECT ON TABLES TO app_reader") == .importSession)
        #expect(route("ALTER TABLE t OWNER TO alice; DROP TABLE u") == .importSession)
        // Nested comments: what PostgreSQL runs is an ALTER COLUMN ... USING, not an OWNER TO alone.
        #expect(route("ALTER TABLE t /* /* */ ' */ ALTER COLUMN x TYPE text USING public.evil(x), /* /* */ ' */ OWNER TO appowner") == .importSession)
        #expect(route("ALTER/* a /* nested */ b */DATABASE victim OWNER TO appowner") == .importSession)
        #expect(route("ALTER TABLE t /* a /* b */ c */ OWNER TO alice") == .deferredOwnerChange)
        #expect(route("ALTER TABLE public.t OWNER TO alice") == .deferredOwnerChange)
        #expect(route("ALTER FUNCTION public.f(integer, text) OWNER TO \"Bob\"") == .deferredOwnerChange)
        #expect(route("ALTER LARGE OBJECT 17275 OWNER TO ferry") == .deferredOwnerChange)
        #expect(route("ALTER SCHEMA public OWNER TO pg_database_owner") == .deferredOwnerChange)
        #expect(route("ALTER TABLE t ADD COLUMN c int, OWNER TO alice") == .importSession)
        #expect(route("ALTER TYPE mood ADD VALUE 'x', OWNER TO alice") == .importSession)
        #expect(route("ALTER DATABASE d OWNER TO alice") == .importSession)
        #expect(route("ALTER TABLE t RENAME TO owner") == .importSession)
    }

    /// A replace keeps who may connect to the database and its settings (a fresh tester's
    /// import let PUBLIC connect again to a database that had revoked it, and lost its
    /// `work_mem`): the new database takes the rights and settings of the one it replaces.
    @Test func aReplaceKeepsTheDatabasesConnectRightsAndSettings() throws {
        let b = try PGServers.b()
        defer { b.close() }
        let db = PGServers.name("acl")
        // A role of the test's own for the per-role setting: other suites, running meanwhile,
        // check that ferry_plain has no settings anywhere.
        let setter = PGServers.name("u_set")
        try b.createTestDatabase(db)
        try b.connection.execute("CREATE ROLE \(quoteIdent(setter)) NOLOGIN")
        defer { b.dropTestDatabase(db); try? b.connection.execute("DROP ROLE IF EXISTS \(quoteIdent(setter))") }
        try b.connection.execute("""
            REVOKE ALL ON DATABASE \(quoteIdent(db)) FROM PUBLIC; GRANT CONNECT ON DATABASE \(quoteIdent(db)) TO ferry_plain;
            ALTER DATABASE \(quoteIdent(db)) SET work_mem = '7MB'; ALTER DATABASE \(quoteIdent(db)) SET search_path = 'app', 'public';
            ALTER ROLE \(quoteIdent(setter)) IN DATABASE \(quoteIdent(db)) SET statement_timeout = '5min'
            """)
        let rights = """
            SELECT has_database_privilege('public', d.oid, 'CONNECT')::text || ' ' || has_database_privilege('ferry_plain', d.oid, 'CONNECT')::text
                   || ' ' || coalesce((SELECT string_agg(coalesce(r.rolname, '-') || ':' || (SELECT string_agg(x, ',' ORDER BY x) FROM unnest(s.setconfig) x), ';' ORDER BY 1)
                                        FROM pg_db_role_setting s LEFT JOIN pg_roles r ON r.oid = s.setrole WHERE s.setdatabase = d.oid), '')
            FROM pg_database d WHERE datname =
            """ + quoteLiteral(db)
        let before = try b.rows("postgres", rights)
        #expect(before[0][0]?.hasPrefix("false true ") == true, "\(before)")
        let file = try Self.file("CREATE TABLE t (v int);\nINSERT INTO t VALUES (1);\n")
        defer { try? FileManager.default.removeItem(at: file) }
        let run = Self.run()
        let shadow = try b.makeShadow(for: db, runID: run)
        defer { _ = try? b.removeLeftovers(ofRun: run, database: db) }
        _ = try b.importData(into: shadow, from: [.file(file.path)], format: .sql, options: Self.owned, progress: ProgressCounter())
        let record = SwapRecord(database: db, shadow: shadow, checkpoint: b.checkpointName(for: db, runID: run), targetExisted: true)
        _ = try b.swap(record)
        let after = try b.rows("postgres", rights)
        #expect(after == before, "the new database has the old one's rights and settings: \(after) against \(before)")
        #expect(try b.rows(db, "SELECT v FROM public.t") == [["1"]])
        try b.undoSwap(record)
        #expect(try b.rows("postgres", rights) == before, "and the rollback gives back the old database as it was")
        #expect(try b.rows(db, "SELECT count(*) FROM pg_tables WHERE tablename = 't'") == [["0"]])
    }

    /// A database Ferry's user may not connect to is listed (size unknown), and never makes the
    /// whole instance fail to describe (a fresh tester's plan failed with InstanceNotFound).
    @Test func aDatabaseFerryMayNotEnterDoesNotBlockTheInstance() throws {
        let b = try PGServers.b()
        defer { b.close() }
        let plainUser = try #require(ProcessInfo.processInfo.environment["FERRY_TEST_PG_PLAIN_USER"])
        let plain = try PGServers.connect(PGServers.spec("FERRY_TEST_PG_B", name: "pg-b-plain", user: plainUser))
        defer { plain.close() }
        let closed = PGServers.name("closed")
        try b.createTestDatabase(closed)
        defer { b.dropTestDatabase(closed) }
        try b.connection.execute("REVOKE ALL ON DATABASE \(quoteIdent(closed)) FROM PUBLIC")
        let listed = Dictionary(try plain.listedDatabases().map { ($0.name, $0.bytes) }, uniquingKeysWith: max)
        #expect(listed[closed] == 0, "\(listed.keys.sorted())")
        #expect((listed["postgres"] ?? 0) > 0)
    }

    /// A rollback whose checkpoint is gone (dropped, pruned) cannot restore the old target and
    /// says so, leaving the target as it is (it said "restored" and changed nothing).
    @Test func anUndoWhoseCheckpointIsGoneFailsAndLeavesTheTarget() throws {
        let b = try PGServers.b()
        defer { b.close() }
        let db = PGServers.name("gone")
        try b.createTestDatabase(db)
        defer { b.dropTestDatabase(db) }
        let file = try Self.file("CREATE TABLE t (v int);\nINSERT INTO t VALUES (2);\n")
        defer { try? FileManager.default.removeItem(at: file) }
        let run = Self.run()
        let shadow = try b.makeShadow(for: db, runID: run)
        defer { _ = try? b.removeLeftovers(ofRun: run, database: db) }
        _ = try b.importData(into: shadow, from: [.file(file.path)], format: .sql, options: Self.owned, progress: ProgressCounter())
        let record = SwapRecord(database: db, shadow: shadow, checkpoint: b.checkpointName(for: db, runID: run), targetExisted: true)
        _ = try b.swap(record)
        b.dropTestDatabase(record.checkpoint!)
        let error = expectCode(.copyError) { try b.undoSwap(record) }
        #expect(error?.message.contains("cannot be restored") == true)
        #expect(try b.rows(db, "SELECT v FROM public.t") == [["2"]], "the target is left as it is")
    }

    /// A shadow with settings of its own but no ACL (a copy of a source with default rights and
    /// a setting) still takes the replaced database's rights: they are judged apart (review).
    @Test func aShadowWithSettingsButNoRightsTakesTheReplacedRights() throws {
        let b = try PGServers.b()
        defer { b.close() }
        let db = PGServers.name("acl2")
        try b.createTestDatabase(db)
        defer { b.dropTestDatabase(db) }
        try b.connection.execute("REVOKE ALL ON DATABASE \(quoteIdent(db)) FROM PUBLIC; ALTER DATABASE \(quoteIdent(db)) SET work_mem = '7MB'")
        let run = Self.run()
        let shadow = try b.makeShadow(for: db, runID: run)
        defer { _ = try? b.removeLeftovers(ofRun: run, database: db) }
        try b.connection.execute("ALTER DATABASE \(quoteIdent(shadow)) SET work_mem = '9MB'")
        let record = SwapRecord(database: db, shadow: shadow, checkpoint: b.checkpointName(for: db, runID: run), targetExisted: true)
        _ = try b.swap(record)
        defer { try? b.undoSwap(record) }
        let now = try b.rows("postgres", "SELECT has_database_privilege('public', oid, 'CONNECT')::text, (SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting WHERE setdatabase = d.oid AND setrole = 0) FROM pg_database d WHERE datname = \(quoteLiteral(db))")
        #expect(now == [["false", "work_mem=9MB"]], "the old rights, the new database's own setting: \(now)")
    }
}
