import FerryCore
@testable import FerryPostgres
import Foundation
import Testing

/// A copy runs the source database's code (CHECK constraints, generated columns, domains,
/// SECURITY DEFINER functions, index expressions, materialized views) only with the rights of
/// an ordinary role that owns nothing but the shadow's objects, never with Ferry's (a superuser
/// on the test servers): issue 14, "an import runs only inside its shadow", for copies.
@Suite(.serialized) struct PostgresCopyLoadRoleTests {
    /// Every way the source's code runs while a copy loads and indexes it. Each probe tries to
    /// create a role (a superuser may; the load role may not) only inside a shadow, so the
    /// source itself is never touched by its own probes.
    static func hostileSource(_ tag: String) -> String {
        """
        CREATE FUNCTION probe(what text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
          IF current_database() LIKE '%\\_\\_ferry\\_s\\_%' THEN
            BEGIN EXECUTE format('CREATE ROLE %I', '\(tag)_' || what); EXCEPTION WHEN insufficient_privilege OR duplicate_object THEN NULL; END;
          END IF;
          RETURN true;
        END $$;
        CREATE FUNCTION probe_i(what text, v int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN PERFORM public.probe(what); RETURN v; END $$;
        CREATE FUNCTION probe_definer(what text) RETURNS boolean LANGUAGE sql SECURITY DEFINER AS $$ SELECT public.probe(what) $$;
        CREATE SCHEMA app;
        CREATE DOMAIN app.checked AS int CHECK (public.probe('domain'));
        CREATE TABLE app.t (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v int CHECK (public.probe('check')),
                            w int GENERATED ALWAYS AS (public.probe_i('generated', v)) STORED,
                            x int CHECK (public.probe_definer('definer')), y app.checked);
        INSERT INTO app.t (v, x, y) SELECT g, g, g FROM generate_series(1, 50) g;
        CREATE INDEX t_probe ON app.t (public.probe_i('index', v));
        CREATE INDEX t_partial ON app.t (v) WHERE public.probe_i('predicate', v) > 0;
        CREATE MATERIALIZED VIEW app.mv AS SELECT count(*) AS n, bool_and(public.probe('mview')) AS p FROM app.t;
        SELECT lo_from_bytea(0, 'a large object'::bytea);
        CREATE DOMAIN app.checked_state AS int CHECK (public.probe('aggregate'));
        CREATE FUNCTION app.step(app.checked_state, int) RETURNS app.checked_state LANGUAGE sql AS 'SELECT $1';
        CREATE AGGREGATE app.agg(int) (sfunc = app.step, stype = app.checked_state, initcond = '1');
        CREATE DOMAIN app.checked_key AS int CHECK (public.probe('partition'));
        CREATE TABLE app.parted (k app.checked_key, v text) PARTITION BY RANGE (k);
        CREATE TABLE app.parted_1 PARTITION OF app.parted FOR VALUES FROM (1) TO (100);
        INSERT INTO app.parted VALUES (5, 'five');
        """
    }

    static let probes = ["domain", "check", "generated", "definer", "index", "predicate", "mview", "aggregate", "partition"]

    @Test func aHostileSourceRunsNothingWithFerrysRights() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("lr")
        let tag = PGServers.name("ferry_t_probe")
        try a.createTestDatabase(db)
        b.dropTestDatabase(db)
        defer {
            a.dropTestDatabase(db); b.dropTestDatabase(db)
            for what in Self.probes { try? b.connection.execute("DROP ROLE IF EXISTS \(quoteIdent(tag + "_" + what))") }
        }
        try a.sql(db, Self.hostileSource(tag))
        // The probes work: run as a superuser inside a database named like a shadow, they create their roles.
        #expect(try a.rows(db, "SELECT count(*) FROM pg_roles WHERE rolname LIKE \(quoteLiteral(tag + "%"))") == [["0"]])

        // Without an owner, Ferry's user (a superuser) would own the source's code afterwards.
        let refused = expectCode(.copyError) { try b.copyIn(from: a, database: db, as: db, runID: "run-lr-\(UUID().uuidString.prefix(6))") }
        #expect(refused?.message.contains("routine(s), view(s) or rule(s)") == true && String(describing: refused).contains("\"owner\""), "\(String(describing: refused))")
        #expect(try !b.databaseExists(db))
        for (owner, words) in [("ferry", "server-level rights"), ("ferry_t_nobody_\(UUID().uuidString.prefix(6))", "is not a role")] {
            let error = expectCode(.copyError) {
                try b.copyIn(from: a, database: db, as: db, runID: "run-lr-\(UUID().uuidString.prefix(6))", options: CopyOptions(owner: owner))
            }
            #expect(error?.message.contains(words) == true, "\(String(describing: error))")
        }
        for shadow in try b.rows("postgres", "SELECT datname FROM pg_database WHERE starts_with(datname, \(quoteLiteral(db + "__ferry_s_")))").compactMap({ $0[0] }) {
            try b.drop(shadow)
        }

        try b.copyIn(from: a, database: db, as: db, runID: "run-lr-\(UUID().uuidString.prefix(6))", options: CopyOptions(owner: "ferry_plain"))

        let made = try b.rows("postgres", "SELECT rolname FROM pg_roles WHERE rolname LIKE \(quoteLiteral(tag + "%"))").compactMap { $0[0] }
        #expect(made.isEmpty, "the source's code ran with rights to create roles during the copy: \(made)")
        #expect(try b.contents(of: db) == a.contents(of: db))
        #expect(try b.rows(db, "SELECT n, p FROM app.mv") == [["50", "t"]])
        // What the copy made belongs to its owner (large objects too); no load role is left.
        #expect(try b.rows(db, "SELECT DISTINCT relowner::regrole::text FROM pg_class WHERE relnamespace = 'app'::regnamespace") == [["ferry_plain"]])
        #expect(try b.rows(db, "SELECT DISTINCT proowner::regrole::text FROM pg_proc WHERE pronamespace = 'public'::regnamespace") == [["ferry_plain"]])
        #expect(try b.rows(db, "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'app'") == [["ferry_plain"]])
        #expect(try b.rows(db, "SELECT DISTINCT lomowner::regrole::text FROM pg_largeobject_metadata") == [["ferry_plain"]])
        #expect(try b.rows("postgres", "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'ferry\\_i\\_%' AND shobj_description(oid, 'pg_authid') LIKE 'ferry:shadow-role:\(db)%'") == [["0"]])
    }

    /// Event triggers (only a superuser may create one; it runs on every later DDL) are refused
    /// before the shadow gets anything, with the names and what to do.
    @Test func aSourceWithEventTriggersIsRefusedBeforeAnythingIsCopied() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("lr")
        try a.createTestDatabase(db)
        b.dropTestDatabase(db)
        defer { a.dropTestDatabase(db); b.dropTestDatabase(db) }
        try a.sql(db, """
            CREATE TABLE t (v int); INSERT INTO t VALUES (1);
            CREATE FUNCTION on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN NULL; END $$;
            CREATE EVENT TRIGGER "watch ddl" ON ddl_command_end EXECUTE FUNCTION on_ddl();
            """)
        let runID = "run-le-\(UUID().uuidString.prefix(6))"
        let error = expectCode(.copyError) { try b.copyIn(from: a, database: db, as: db, runID: runID) }
        #expect(error?.message.contains("event triggers (watch ddl)") == true, "\(String(describing: error))")
        #expect(try !b.databaseExists(db))
        let shadows = try b.rows("postgres", "SELECT datname FROM pg_database WHERE starts_with(datname, \(quoteLiteral(db + "__ferry_s_")))").compactMap { $0[0] }
        #expect(shadows.count == 1)
        for shadow in shadows {
            #expect(try b.rows(shadow, "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace") == [["0"]])
            try b.drop(shadow)
        }
    }

    /// A copy from a backup set (`pg_restore` of the set's archive) loads and indexes as the
    /// load role too; the archive's large objects (made by its pre-data) arrive with their data.
    @Test func aBackupSetOfAHostileSourceRestoresWithoutFerrysRights() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("lr")
        let tag = PGServers.name("ferry_t_probe")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(db + ".dump")
        try a.createTestDatabase(db)
        defer {
            a.dropTestDatabase(db)
            try? FileManager.default.removeItem(at: file)
            for what in Self.probes { try? b.connection.execute("DROP ROLE IF EXISTS \(quoteIdent(tag + "_" + what))") }
        }
        try a.sql(db, Self.hostileSource(tag))
        _ = try a.writeBackup(of: db, to: file, progress: ProgressCounter())
        let shadow = try b.makeShadow(for: db, runID: "run-lb-\(UUID().uuidString.prefix(6))", like: db)
        defer { try? b.drop(shadow) }
        _ = try b.restoreBackup(from: file, into: shadow, options: CopyOptions(owner: "ferry_plain"), progress: ProgressCounter())

        let made = try b.rows("postgres", "SELECT rolname FROM pg_roles WHERE rolname LIKE \(quoteLiteral(tag + "%"))").compactMap { $0[0] }
        #expect(made.isEmpty, "the archive's code ran with rights to create roles during the restore: \(made)")
        #expect(try b.contents(of: shadow) == a.contents(of: db))
        #expect(try b.rows(shadow, "SELECT convert_from(lo_get(oid), 'UTF8'), lomowner::regrole::text FROM pg_largeobject_metadata") == [["a large object", "ferry_plain"]])
        #expect(try b.rows(shadow, "SELECT DISTINCT relowner::regrole::text FROM pg_class WHERE relnamespace = 'app'::regnamespace") == [["ferry_plain"]])
    }

    /// `users: "sync"` gives owners and privileges from the source's catalogs and pg_dump's own
    /// ACL entries, never from lines of dump text: statements written in a function body, a
    /// comment or a string literal of the source run nowhere (a fresh tester made a role superuser
    /// on the target from a comment that way).
    @Test func usersSyncRunsNoTextTheSourceWrote() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("ls")
        let victim = PGServers.name("ferry_t_victim"), reader = PGServers.name("ferry_t_reader"), dba = PGServers.name("ferry_t_dba")
        let odd = "ferry_t \"odd\";\nname_" + UUID().uuidString.prefix(6).lowercased()
        try a.createTestDatabase(db)
        b.dropTestDatabase(db)
        defer {
            a.dropTestDatabase(db); b.dropTestDatabase(db)
            for session in [a, b] {
                for role in [victim, reader, dba] {
                    try? session.connection.execute("DROP OWNED BY \(quoteIdent(role))")
                    try? session.connection.execute("DROP ROLE IF EXISTS \(quoteIdent(role))")
                }
            }
        }
        for session in [a, b] { try session.connection.execute("CREATE ROLE \(quoteIdent(victim)) NOLOGIN") }
        try a.connection.execute("CREATE ROLE \(quoteIdent(reader)) NOLOGIN")
        // A superuser of the source only: a grant to it must not make one on the target.
        try a.connection.execute("CREATE ROLE \(quoteIdent(dba)) SUPERUSER CREATEROLE REPLICATION BYPASSRLS LOGIN PASSWORD 'dba-pw'")
        let injected = """
            ALTER ROLE \(quoteIdent(victim)) SUPERUSER; -- OWNER TO nobody;
            GRANT pg_read_server_files TO \(quoteIdent(victim));
            REVOKE ALL ON SCHEMA public FROM PUBLIC;
            """
        try a.sql(db, """
            CREATE TABLE t (v int);
            CREATE TABLE \(quoteIdent(odd)) (v int);
            GRANT SELECT ON t, \(quoteIdent(odd)) TO \(quoteIdent(reader));
            GRANT SELECT ON t TO \(quoteIdent(dba));
            CREATE FUNCTION innocent() RETURNS void LANGUAGE plpgsql AS $f$
            BEGIN
            /*
            \(injected)
            */
            END $f$;
            COMMENT ON TABLE t IS \(quoteLiteral("notes\n" + injected + "\nend"));
            REVOKE EXECUTE ON FUNCTION innocent() FROM PUBLIC;
            GRANT EXECUTE ON FUNCTION innocent() TO \(quoteIdent(reader));
            """)
        try b.copyIn(from: a, database: db, as: db, runID: "run-ls-\(UUID().uuidString.prefix(6))", options: CopyOptions(syncsUsers: true))
        _ = try b.syncUsers(from: a, mappings: [DatabaseMapping(source: db, target: db)])

        #expect(try b.rows("postgres", "SELECT rolsuper::text, pg_has_role(oid, 'pg_read_server_files', 'MEMBER')::text FROM pg_roles WHERE rolname = \(quoteLiteral(victim))") == [["false", "false"]])
        #expect(try b.rows(db, "SELECT has_schema_privilege('public', 'USAGE')::text") == [["true"]])
        #expect(try b.rows("postgres", "SELECT rolsuper::text, rolcreaterole::text, rolreplication::text, rolbypassrls::text, rolcanlogin::text FROM pg_roles WHERE rolname = \(quoteLiteral(dba))")
                == [["false", "false", "false", "false", "true"]])
        // What the sync is for still arrives: owners and pg_dump's grants, odd names included.
        let privileges = """
            SELECT has_table_privilege(\(quoteLiteral(reader)), 'public.t', 'SELECT')::text,
                   has_table_privilege(\(quoteLiteral(reader)), \(quoteLiteral(quoteIdent(odd))), 'SELECT')::text,
                   has_function_privilege(\(quoteLiteral(reader)), 'public.innocent()', 'EXECUTE')::text,
                   has_function_privilege('public', 'public.innocent()', 'EXECUTE')::text
            """
        #expect(try b.rows(db, privileges) == [["true", "true", "true", "false"]])
        #expect(try b.rows(db, "SELECT relowner::regrole::text FROM pg_class WHERE relname = 't'") == a.rows(db, "SELECT relowner::regrole::text FROM pg_class WHERE relname = 't'"))
    }

    /// A table that its owner turns into a view (`CREATE RULE "_RETURN"`, PostgreSQL 15) while
    /// Ferry waits for its lock is never read as a view by Ferry's (superuser) session: the
    /// fingerprint fails with CopyError and the view's code does not run (a fresh tester ran
    /// `COPY ... TO PROGRAM` on the source this way at every plan).
    @Test func aTableTurnedIntoAViewWhileFerryWaitsIsNotRead() throws {
        let a = try PGServers.a()
        defer { a.close() }
        let db = PGServers.name("lv")
        try a.createTestDatabase(db)
        defer { a.dropTestDatabase(db) }
        try a.sql(db, """
            CREATE FUNCTION probe(what text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
            BEGIN
              -- Ferry's fingerprint reads in a read-only transaction: the sign is an error.
              IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
                RAISE EXCEPTION 'probe % ran with superuser rights', what;
              END IF;
              RETURN true;
            END $$;
            CREATE TABLE trap (id int, v text);
            GRANT ALL ON trap TO ferry_plain;
            """)
        let attacker = try a.open(db, pinnedSearchPath: false)
        defer { attacker.close() }
        try attacker.execute("BEGIN")
        let converted: Bool
        do {
            try attacker.execute("""
                CREATE RULE "_RETURN" AS ON SELECT TO trap DO INSTEAD
                SELECT s.id, s.v FROM (VALUES (1, 'x'::text)) s(id, v) WHERE public.probe('view')
                """)
            converted = true
        } catch {
            converted = false   // PostgreSQL 16 and later cannot turn a table into a view.
            try attacker.execute("ROLLBACK")
        }
        guard converted else {
            #expect(a.connection.serverVersionNumber >= 160000, "the conversion failed on a server that allows it")
            return
        }
        // Ferry's fingerprint starts, lists `trap` as a table and waits for its lock ...
        let result = PostgresBox(ResultBox())
        let done = DispatchSemaphore(value: 0)
        let session = PostgresBox(a)
        Thread {
            do { _ = try session.value.fingerprint(of: db, sizeBytes: 0) } catch { result.value.error = error }
            done.signal()
        }.start()
        // ... until the owner commits the view.
        var waited = 0
        while try attacker.scalar("SELECT count(*) FROM pg_locks WHERE relation = 'trap'::regclass AND NOT granted") == "0" && waited < 200 {
            Thread.sleep(forTimeInterval: 0.05); waited += 1
        }
        #expect(waited < 200, "Ferry never waited for the table's lock")
        try attacker.execute("COMMIT")
        done.wait()
        #expect((result.value.error as? FerryError)?.code == .copyError, "\(String(describing: result.value.error))")
        #expect(!String(describing: result.value.error).contains("ran with superuser rights"), "the view's code ran with Ferry's rights")
    }

    final class ResultBox: @unchecked Sendable { var error: Error? }

    /// Names with backslashes and quotes stay names, whatever `standard_conforming_strings` the
    /// source database sets for its sessions (a fresh tester's sequence name ended Ferry's
    /// literal early and made its owner a superuser); a `SET role` of the source that would
    /// have Ferry read through a row-level policy as another role copies every row.
    @Test func aSourcesSessionSettingsCannotInjectOrHideRows() throws {
        #expect(quoteLiteral("a'b") == "'a''b'")
        #expect(quoteLiteral("s\\'x") == "E's\\\\''x'")
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("lsc")
        let victim = PGServers.name("ferry_t_victim")
        try a.createTestDatabase(db)
        b.dropTestDatabase(db)
        try a.connection.execute("CREATE ROLE \(quoteIdent(victim)) NOLOGIN")
        defer { a.dropTestDatabase(db); b.dropTestDatabase(db); try? a.connection.execute("DROP ROLE IF EXISTS \(quoteIdent(victim))") }
        let evil = "s\\'||chr(34));COMMIT;ALTER ROLE \(victim) SUPERUSER;--"
        try a.sql(db, """
            CREATE SEQUENCE public.\(quoteIdent(evil)); SELECT nextval(\(quoteLiteral("public." + quoteIdent(evil))));
            CREATE TABLE secret (id int, v text); INSERT INTO secret SELECT g, 'row' || g FROM generate_series(1, 10) g;
            GRANT SELECT ON secret TO ferry_plain;
            ALTER TABLE secret ENABLE ROW LEVEL SECURITY; ALTER TABLE secret FORCE ROW LEVEL SECURITY;
            CREATE POLICY p ON secret USING (current_user <> 'ferry_plain' OR id <= 3);
            """)
        try a.connection.execute("ALTER DATABASE \(quoteIdent(db)) SET standard_conforming_strings = off; ALTER DATABASE \(quoteIdent(db)) SET role = 'ferry_plain'")
        try b.copyIn(from: a, database: db, as: db, runID: "run-lsc-\(UUID().uuidString.prefix(6))", options: CopyOptions(owner: "ferry_plain"))
        #expect(try a.rows("postgres", "SELECT rolsuper::text FROM pg_roles WHERE rolname = \(quoteLiteral(victim))") == [["false"]])
        let c = try b.open(db)
        defer { c.close() }
        #expect(try c.query("SELECT count(*) FROM public.secret") == [["10"]])
        #expect(try c.query("SELECT last_value FROM public.\(quoteIdent(evil))") == [["1"]])
    }

    /// A source's `ALTER DATABASE ... SET role` and read-only default, carried to its copy, do
    /// not change who Ferry's sessions are or stop them writing: the copy with users sync and
    /// its verify run, and the settings arrive.
    @Test func aDatabasesRoleAndReadOnlySettingsDoNotBindFerrysSessions() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("lrs")
        try a.createTestDatabase(db)
        b.dropTestDatabase(db)
        defer { a.dropTestDatabase(db); b.dropTestDatabase(db) }
        try a.sql(db, "CREATE TABLE t (v int); INSERT INTO t VALUES (1), (2); GRANT SELECT ON t TO ferry_plain")
        try a.connection.execute("ALTER DATABASE \(quoteIdent(db)) SET role = 'ferry_plain'; ALTER DATABASE \(quoteIdent(db)) SET default_transaction_read_only = on")
        let c = try a.open(db)
        #expect(try c.query("SELECT current_user, current_setting('default_transaction_read_only')") == [["ferry", "off"]])
        c.close()
        try b.copyIn(from: a, database: db, as: db, runID: "run-lrs-\(UUID().uuidString.prefix(6))", options: CopyOptions(syncsUsers: true))
        _ = try b.syncUsers(from: a, mappings: [DatabaseMapping(source: db, target: db)])
        #expect(try b.rows(db, "SELECT count(*) FROM t") == [["2"]])
        let setting = "SELECT unnest(setconfig) AS s FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = \(quoteLiteral(db))) AND setrole = 0 ORDER BY s"
        #expect(try b.rows("postgres", setting) == a.rows("postgres", setting))
        #expect(try b.rows("postgres", setting).count == 2)
    }

    /// Sequences are read by oid, then by a name that must still be theirs: one renamed away and
    /// replaced by a view after the copy's snapshot fails the copy without the view being read;
    /// other sessions' temporary sequences are left out (a fresh tester's race and failure).
    @Test func aSequenceReplacedByAViewIsNotReadAndTemporaryOnesAreLeftOut() throws {
        let a = try PGServers.a()
        defer { a.close() }
        let db = PGServers.name("lq")
        try a.createTestDatabase(db)
        defer { a.dropTestDatabase(db) }
        try a.sql(db, """
            CREATE FUNCTION probe() RETURNS bigint LANGUAGE plpgsql AS $$
            BEGIN
              IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN RAISE EXCEPTION 'probe ran with superuser rights'; END IF;
              RETURN 42;
            END $$;
            CREATE SEQUENCE s; SELECT nextval('s');
            """)
        let holder = try a.open(db, pinnedSearchPath: false)
        defer { holder.close() }
        try holder.execute("CREATE TEMP SEQUENCE scratch; SELECT nextval('scratch')")
        let reader = try a.open(db)
        defer { reader.close() }
        try reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        let values = try PostgresCopy.sequenceValues(on: reader)
        #expect(values.count == 1 && values.first?.hasSuffix(", 1, true)") == true && !values.joined().contains("scratch"), "\(values)")
        try reader.execute("COMMIT; BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        _ = try reader.query("SELECT count(*) FROM pg_class")   // the snapshot is taken
        try a.sql(db, "ALTER SEQUENCE s RENAME TO s_old; CREATE VIEW s AS SELECT public.probe() AS last_value, true AS is_called")
        let error = expectCode(.copyError) { _ = try PostgresCopy.sequenceValues(on: reader) }
        #expect(!String(describing: error).contains("superuser rights") && error?.message.contains("renamed or replaced") == true, "\(String(describing: error))")
        try? reader.execute("ROLLBACK")
    }

    /// The source's code runs as the load role, which owns the shadow's routines and tables: what
    /// it redefines during the load (a function's body, a CHECK constraint) fails the copy
    /// before the swap, and the target is not changed.
    @Test(arguments: ["CREATE OR REPLACE FUNCTION public.helper() RETURNS text LANGUAGE sql AS $b$ SELECT 'evil' $b$",
                      "CREATE OR REPLACE VIEW public.vw AS SELECT 2 AS x",
                      "ALTER DOMAIN public.pos DROP CONSTRAINT pos_check",
                      "CREATE TABLE public.extra (x int)"])
    func whatTheLoadRedefinesFailsTheCopy(_ change: String) throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("lt")
        try a.createTestDatabase(db)
        b.dropTestDatabase(db)
        defer { a.dropTestDatabase(db); b.dropTestDatabase(db) }
        try a.sql(db, """
            CREATE FUNCTION helper() RETURNS text LANGUAGE sql AS $b$ SELECT 'benign' $b$;
            CREATE FUNCTION tamper() RETURNS boolean LANGUAGE plpgsql AS $f$
            BEGIN
              IF current_database() LIKE '%\\_\\_ferry\\_s\\_%' AND to_regclass('pg_temp.t_done') IS NULL THEN
                EXECUTE \(quoteLiteral(change));
                CREATE TEMP TABLE t_done ();
              END IF;
              RETURN true;
            END $f$;
            CREATE VIEW vw AS SELECT 1 AS x;
            CREATE DOMAIN pos AS int CONSTRAINT pos_check CHECK (VALUE > 0);
            CREATE TABLE t (v pos, w boolean CHECK (public.tamper()));
            INSERT INTO t SELECT g, true FROM generate_series(1, 10) g;
            """)
        let error = expectCode(.copyError) {
            try b.copyIn(from: a, database: db, as: db, runID: "run-lt-\(UUID().uuidString.prefix(6))", options: CopyOptions(owner: "ferry_plain"))
        }
        #expect(error?.message.contains("changed the schema of the copy") == true, "\(String(describing: error))")
        #expect(try !b.databaseExists(db))
        for shadow in try b.rows("postgres", "SELECT datname FROM pg_database WHERE starts_with(datname, \(quoteLiteral(db + "__ferry_s_")))").compactMap({ $0[0] }) {
            try b.drop(shadow)
        }
    }

    /// List settings (`search_path` and the like) arrive as lists, one literal per element, not
    /// as one schema named "public, pg_catalog" (a fresh tester's copy could not find its tables).
    @Test func listSettingsArriveAsLists() throws {
        #expect(PostgresSession.splitList("public, pg_catalog") == ["public", "pg_catalog"])
        #expect(PostgresSession.splitList("\"$user\", public") == ["$user", "public"])
        #expect(PostgresSession.splitList("\"odd, \"\"name\"\"\",x") == ["odd, \"name\"", "x"])
        #expect(PostgresSession.splitList("") == [])
        #expect(PostgresSession.settingClause("search_path", "a, \"B c\"") == "SET \"search_path\" = 'a', 'B c'")
        #expect(PostgresSession.settingClause("work_mem", "8MB") == "SET \"work_mem\" = '8MB'")

        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("lset")
        try a.createTestDatabase(db)
        b.dropTestDatabase(db)
        defer { a.dropTestDatabase(db); b.dropTestDatabase(db) }
        try a.sql(db, "CREATE SCHEMA \"odd, \"\"name\"\"\"; CREATE TABLE \"odd, \"\"name\"\"\".t (v int); INSERT INTO \"odd, \"\"name\"\"\".t VALUES (7)")
        try a.connection.execute("ALTER DATABASE \(quoteIdent(db)) SET search_path = \"odd, \"\"name\"\"\", public, pg_catalog")
        try b.copyIn(from: a, database: db, as: db, runID: "run-lset-\(UUID().uuidString.prefix(6))")
        let setting = "SELECT setconfig::text FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = \(quoteLiteral(db))) AND setrole = 0"
        #expect(try b.rows("postgres", setting) == a.rows("postgres", setting))
        #expect(try b.rows(db, "SHOW search_path") == a.rows(db, "SHOW search_path"))
        #expect(try b.rows(db, "SELECT v FROM t") == [["7"]])
    }

    /// The probes are real: the same source loaded by a superuser (pg_dump | psql, what the copy
    /// did before) creates every probe's role. Without this a probe that never fires would pass.
    /// A copy within one server takes the file-level TEMPLATE path only with users sync: TEMPLATE
    /// keeps every object's owner and privileges (operators, text search objects, collations,
    /// statistics, conversions and default privileges included), which SPEC gives only with
    /// users sync. Without it (tester 3: a same-server copy with `owner` left those owned by the
    /// source's role, with its grants) the copy streams, and the source's role holds nothing in
    /// it: no object, no privilege, no default privilege.
    @Test func aSameServerCopyCarriesOwnersAndPrivilegesOnlyWithUsersSync() throws {
        let a = try PGServers.a(), target = try PGServers.a()
        defer { a.close(); target.close() }
        let db = PGServers.name("tplown"), role = PGServers.name("ferry_t_srcown")
        let owned = PGServers.name("tplown_o"), plain = PGServers.name("tplown_p"), synced = PGServers.name("tplown_s")
        try a.connection.execute("CREATE ROLE \(quoteIdent(role)) NOLOGIN")
        try a.createTestDatabase(db)
        defer {
            for name in [db, owned, plain, synced] { a.dropTestDatabase(name) }
            try? a.connection.execute("DROP ROLE IF EXISTS \(quoteIdent(role))")
        }
        let r = quoteIdent(role)
        let objects = """
            CREATE SCHEMA app AUTHORIZATION \(r);
            CREATE TABLE app.t (id int PRIMARY KEY, a int, b int);
            INSERT INTO app.t SELECT g, g % 7, g % 11 FROM generate_series(1, 200) g;
            CREATE STATISTICS app.t_ab ON a, b FROM app.t;
            CREATE FUNCTION app.eq3(int, int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 % 3 = $2 % 3';
            CREATE OPERATOR app.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = app.eq3);
            CREATE TEXT SEARCH CONFIGURATION app.cfg (COPY = pg_catalog.simple);
            CREATE TEXT SEARCH DICTIONARY app.dict (TEMPLATE = pg_catalog.simple);
            CREATE COLLATION app.coll (provider = libc, locale = 'C');
            CREATE CONVERSION app.conv FOR 'LATIN1' TO 'UTF8' FROM pg_catalog.iso8859_1_to_utf8;
            ALTER TABLE app.t OWNER TO \(r); ALTER FUNCTION app.eq3(int, int) OWNER TO \(r);
            ALTER OPERATOR app.=== (int, int) OWNER TO \(r); ALTER TEXT SEARCH CONFIGURATION app.cfg OWNER TO \(r);
            ALTER TEXT SEARCH DICTIONARY app.dict OWNER TO \(r); ALTER COLLATION app.coll OWNER TO \(r);
            ALTER CONVERSION app.conv OWNER TO \(r); ALTER STATISTICS app.t_ab OWNER TO \(r);
            GRANT SELECT ON app.t TO PUBLIC; GRANT USAGE ON SCHEMA app TO PUBLIC;
            ALTER DEFAULT PRIVILEGES FOR ROLE \(r) IN SCHEMA app GRANT SELECT ON TABLES TO PUBLIC;
            """
        try a.sql(db, objects)
        /// What `role` holds in `database`: owned objects, privileges and default privileges, as
        /// `pg_shdepend` records them (one row each), by kind.
        func held(_ database: String) throws -> [String] {
            try a.rows(database, """
                SELECT deptype::text || ':' || classid::regclass::text FROM pg_shdepend
                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND refobjid = (SELECT oid FROM pg_roles WHERE rolname = \(quoteLiteral(role))) ORDER BY 1
                """).compactMap { $0[0] }
        }
        func publicGrants(_ database: String) throws -> String? {
            try a.rows(database, "SELECT (SELECT count(*) FROM pg_class WHERE relname = 't' AND relacl::text LIKE '%=r/%') + (SELECT count(*) FROM pg_default_acl)")[0][0]
        }
        let source = try held(db)
        #expect(source.count >= 9 && source.contains("o:pg_operator") && source.contains("o:pg_ts_config") && source.contains("o:pg_collation")
                && source.contains("o:pg_statistic_ext") && source.contains("o:pg_conversion") && source.contains("o:pg_default_acl"), "\(source)")
        #expect(try publicGrants(db) == "2")

        try target.copyIn(from: a, database: db, as: owned, runID: "run-to-\(UUID().uuidString.prefix(6))",
                          options: CopyOptions(owner: "ferry_plain"))
        #expect(!target.copiedByTemplate)
        #expect(try held(owned) == [], "the source's role still holds this in a copy owned by ferry_plain")
        #expect(try publicGrants(owned) == "0", "privileges came without users sync")
        let kinds = "SELECT count(*) FROM pg_shdepend WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND deptype = 'o' AND refobjid = (SELECT oid FROM pg_roles WHERE rolname = 'ferry_plain')"
        #expect(Int(try a.rows(owned, kinds)[0][0] ?? "") ?? 0 >= 8, "ferry_plain owns the copy's objects")
        #expect(try target.contents(of: owned) == a.contents(of: db))

        // Without owner or sync: the same (owned by Ferry's user; the source has routines, so
        // without an owner a superuser Ferry refuses: here the routine is dropped first).
        try a.sql(db, "DROP OPERATOR app.=== (int, int); DROP FUNCTION app.eq3(int, int)")
        try target.copyIn(from: a, database: db, as: plain, runID: "run-tp-\(UUID().uuidString.prefix(6))")
        #expect(!target.copiedByTemplate)
        #expect(try held(plain) == [])
        #expect(try publicGrants(plain) == "0")

        // With users sync: the file-level copy, the source's owners and privileges as they are.
        try target.copyIn(from: a, database: db, as: synced, runID: "run-ts-\(UUID().uuidString.prefix(6))",
                          options: CopyOptions(syncsUsers: true))
        #expect(target.copiedByTemplate)
        #expect(try held(synced) == held(db))
        #expect(try publicGrants(synced) == "2")
    }

    /// Extensions and the comments on them are restored by Ferry's user (who may create them),
    /// everything else by the load role. The table of contents does not quote names, so a table
    /// of a schema named `- EXTENSION pg_trgm` has a comment line that starts like an
    /// extension's comment; it is the table's (tester 3). Read from a real archive's list.
    @Test func onlyExtensionsAndTheirCommentsAreRestoredAsFerry() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("exttoc")
        try a.createTestDatabase(db)
        defer { a.dropTestDatabase(db); b.dropTestDatabase(db) }
        try a.sql(db, """
            CREATE EXTENSION pg_trgm; CREATE EXTENSION "uuid-ossp"; COMMENT ON EXTENSION "uuid-ossp" IS 'ids';
            CREATE SCHEMA "- EXTENSION pg_trgm"; CREATE TABLE "- EXTENSION pg_trgm".t (a int); COMMENT ON TABLE "- EXTENSION pg_trgm".t IS 'x';
            CREATE SCHEMA "-"; CREATE TABLE "-"."EXTENSION pg_trgm" (a int); COMMENT ON TABLE "-"."EXTENSION pg_trgm" IS 'y';
            CREATE TABLE "-"."uuid-ossp " (a int); COMMENT ON TABLE "-"."uuid-ossp " IS 'z';
            """)
        let archive = FileManager.default.temporaryDirectory.appendingPathComponent("\(db).dump")
        defer { try? FileManager.default.removeItem(at: archive) }
        _ = try a.writeBackup(of: db, to: archive, progress: ProgressCounter())
        let toc = String(decoding: try PostgresTools.runLocally("pg_restore", ["--list", "--", archive.path], code: .copyError, instanceName: "pg-a"),
                         as: UTF8.self).split(separator: "\n").map(String.init).filter { $0.range(of: #"^[0-9]+; "#, options: .regularExpression) != nil }
        let picked = PostgresSession.extensionEntries(toc).map { $0.replacingOccurrences(of: #"^[0-9]+; [0-9]+ [0-9]+ "#, with: "", options: .regularExpression) }
        #expect(picked.sorted() == ["COMMENT - EXTENSION \"uuid-ossp\" ", "COMMENT - EXTENSION pg_trgm ", "EXTENSION - pg_trgm ", "EXTENSION - uuid-ossp "],
                "\(picked) of \(toc)")
        try b.copyIn(from: a, database: db, as: db, runID: "run-et-\(UUID().uuidString.prefix(6))", options: CopyOptions(owner: "ferry_plain"))
        #expect(try b.rows(db, "SELECT obj_description(oid, 'pg_class') FROM pg_class WHERE relname IN ('t', 'EXTENSION pg_trgm', 'uuid-ossp ') ORDER BY 1") == [["x"], ["y"], ["z"]])
        #expect(try b.rows(db, "SELECT obj_description(oid, 'pg_extension') FROM pg_extension WHERE extname = 'uuid-ossp'") == [["ids"]])
        #expect(try b.rows(db, "SELECT count(*) FROM pg_class WHERE relname IN ('t', 'EXTENSION pg_trgm', 'uuid-ossp ') AND relowner = 'ferry_plain'::regrole") == [["3"]])
    }

    /// Ferry runs its own statements for an archive's extension entries, never the entry's text:
    /// a backup set's archive is a file that whoever may write its location can change (a fresh
    /// tester appended `ALTER ROLE ... SUPERUSER` to a CREATE EXTENSION entry). pg_dump's shapes
    /// are rebuilt, re-quoted; anything else is refused.
    @Test func extensionEntriesAreRebuiltNotRun() throws {
        let script = """
            --
            -- PostgreSQL database dump
            --
            SET statement_timeout = 0;
            SELECT pg_catalog.set_config('search_path', '', false);
            CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA public;
            COMMENT ON EXTENSION "uuid-ossp" IS 'it''s ids
            over two lines';
            CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA "odd QQschemaQQQ;
            """.replacingOccurrences(of: "Q", with: "\"")
        #expect(try PostgresSession.extensionStatements(script, code: .copyError) == [
            ##"CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA "public""##,
            "COMMENT ON EXTENSION \"uuid-ossp\" IS 'it''s ids\nover two lines'",
            "CREATE EXTENSION IF NOT EXISTS `pg_trgm` WITH SCHEMA `odd ``schema```".replacingOccurrences(of: "`", with: "\""),
        ])
        for tampered in ["CREATE EXTENSION IF NOT EXISTS hstore WITH SCHEMA public; ALTER ROLE mallory SUPERUSER;",
                         "CREATE EXTENSION IF NOT EXISTS hstore WITH SCHEMA public CASCADE;",
                         "COMMENT ON EXTENSION hstore IS 'x'; DROP DATABASE postgres;",
                         "DO $$ BEGIN PERFORM 1; END $$;",
                         "CREATE EXTENSION IF NOT EXISTS hstore WITH SCHEMA public VERSION '1.0' /* */;"] {
            #expect(throws: FerryError.self, "\(tampered)") { _ = try PostgresSession.extensionStatements(tampered, code: .copyError) }
        }
    }

    @Test func theProbesFireUnderASuperuserLoad() throws {
        let a = try PGServers.a()
        defer { a.close() }
        let db = PGServers.name("lr")
        let shadowLike = db + "__ferry_s_probe"
        let tag = PGServers.name("ferry_t_probe")
        try a.createTestDatabase(db)
        try a.createTestDatabase(shadowLike)
        defer {
            a.dropTestDatabase(db); a.dropTestDatabase(shadowLike)
            for what in Self.probes { try? a.connection.execute("DROP ROLE IF EXISTS \(quoteIdent(tag + "_" + what))") }
        }
        try a.sql(db, Self.hostileSource(tag))
        let tools = PostgresTools(address: a.address, instanceName: "pg-a")
        let dump = String(decoding: try tools.run("pg_dump", ["--no-owner", "--no-privileges", "--inserts"], database: db, code: .copyError), as: UTF8.self)
        try a.sql(shadowLike, PostgresCopy.script(Data(dump.utf8)))
        let made = Set(try a.rows("postgres", "SELECT rolname FROM pg_roles WHERE rolname LIKE \(quoteLiteral(tag + "%"))").compactMap { $0[0] })
        #expect(made == Set(Self.probes.map { tag + "_" + $0 }))
    }
}
