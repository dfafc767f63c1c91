import Foundation
import Testing

/// Fresh tester round 6, F1: a PostgreSQL replace carried the replaced database's ACL, settings,
/// comment, owner and connection limit about 0.2 s before its rename, so an application's
/// `REVOKE CONNECT ... FROM PUBLIC` or `ALTER DATABASE ... SET` in that moment was missing on
/// the live database after "Apply complete" (PUBLIC could connect again). The swap now carries
/// them inside the renames' transaction, and undoes itself when such a change, waiting on the
/// rename's lock, reached the replaced database after the commit.
@Suite(.serialized) struct PostgresSwapCarryRaceTests {
    let pg = PostgresCLITests()
    let round2 = PostgresWritesDuringRunTests()
    let round4 = PostgresWritesDuringRunRound4Tests()

    enum Kind: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case importReplace, copyReplace
        var testDescription: String { rawValue }
    }

    /// The state a swap carries of a database, one line each: PUBLIC's rights, the roles'
    /// rights, the database's settings, comment, owner and connection limit.
    func state(_ project: Project, _ server: PostgresCLITests.Server, _ database: String) throws -> String {
        try pg.sql(project, server, "postgres", """
            SELECT coalesce((SELECT string_agg(privilege_type, ',' ORDER BY privilege_type) FROM aclexplode(d.datacl) WHERE grantee = 0), 'default') || ' | ' ||
                   coalesce((SELECT string_agg(pg_get_userbyid(grantee) || ':' || privilege_type, ',' ORDER BY 1) FROM aclexplode(d.datacl) WHERE grantee <> 0 AND grantee <> d.datdba), '-') || ' | ' ||
                   coalesce((SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting WHERE setdatabase = d.oid AND setrole = 0), '-') || ' | ' ||
                   coalesce(shobj_description(d.oid, 'pg_database'), '-') || ' | ' || pg_get_userbyid(d.datdba) || ' | ' || d.datconnlimit
            FROM pg_database d WHERE d.datname = '\(database)';
            """)
    }

    /// A target `tag` on the right server (owned by `owner`, PUBLIC may connect, a setting, a
    /// comment) and a plan that replaces it: an import's replace on A, or a copy's from A to B.
    func setUp(_ project: Project, _ kind: Kind, tag: String, owner: String) throws -> PostgresCLITests.Server {
        let a = try pg.server("FERRY_TEST_PG_A"), b = try pg.server("FERRY_TEST_PG_B")
        let server = kind == .copyReplace ? b : a
        try round4.makeRole(project, server, owner)
        try pg.sql(project, server, "postgres", """
            DROP DATABASE IF EXISTS "\(tag)" WITH (FORCE); CREATE DATABASE "\(tag)" OWNER \(owner);
            GRANT CONNECT, TEMPORARY ON DATABASE "\(tag)" TO PUBLIC; ALTER DATABASE "\(tag)" SET work_mem = '4MB';
            COMMENT ON DATABASE "\(tag)" IS 'before'; ALTER DATABASE "\(tag)" CONNECTION LIMIT 20;
            """)
        try pg.sql(project, server, tag, "CREATE TABLE old (id int); INSERT INTO old VALUES (1);")
        switch kind {
        case .importReplace:
            try project.write("plans/data/add.sql", "CREATE TABLE public.added (id int);\nINSERT INTO public.added VALUES (1);\n")
            try project.write("plans/main.json", """
                { "ferry": 1, "instances": { "pg": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
                  "imports": { "add": { "into": "pg", "database": "\(tag)", "from": "data/add.sql", "onExisting": "replace", "owner": "ferry_plain" } } }
                """)
        case .copyReplace:
            try pg.sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\";")
            try pg.sql(project, a, tag, "CREATE TABLE added (id int); INSERT INTO added VALUES (1);")
            try project.write("plans/main.json", """
                { "ferry": 1, "instances": { \(pg.instances(a, b)) },
                  "copies": { "mirror": { "from": "src", "to": "dst", "databases": ["\(tag)"], "onExisting": "replace" } } }
                """)
        }
        return server
    }

    /// One test's target (`setUp`) and what its tear-down drops.
    struct Fixture {
        let project: Project, kind: Kind, tag: String, owner: String, server: PostgresCLITests.Server

        init(_ t: PostgresSwapCarryRaceTests, _ kind: Kind, prefix: String) throws {
            project = try Project()
            self.kind = kind
            tag = prefix + UUID().uuidString.prefix(6).lowercased()
            owner = "\(tag)_owner"
            server = try t.setUp(project, kind, tag: tag, owner: owner)
        }

        func tearDown(_ t: PostgresSwapCarryRaceTests) {
            t.round2.dropAll(project, server, tag: tag)
            if kind == .copyReplace, let a = try? t.pg.server("FERRY_TEST_PG_A") { t.round2.dropAll(project, a, tag: tag) }
            t.round4.dropRole(project, server, owner)
        }
    }

    /// Starts an application's `ALTER DATABASE ... SET work_mem = '11MB'` on the target from
    /// another database, as an admin session would (it finds the target by name, then locks
    /// it), and returns once it waits on the lock of the database of oid `oid` (the rename's).
    func waitingSetting(_ f: Fixture, oid: String) throws -> Process {
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: "/bin/sh")
        writer.arguments = ["-c", "PGPASSWORD=\"$FERRY_TEST_PG_PASSWORD\" psql -X -q -v ON_ERROR_STOP=1 -h \(f.server.host) -p \(f.server.port) -U ferry -d postgres -c \"ALTER DATABASE \\\"\(f.tag)\\\" SET work_mem = '11MB'\""]
        writer.environment = f.project.environment
        try writer.run()
        let deadline = Date().addingTimeInterval(30)
        var waiting = false
        while Date() < deadline, !waiting {
            waiting = try pg.sql(f.project, f.server, "postgres", "SELECT count(*) FROM pg_locks WHERE locktype = 'object' AND classid = 'pg_database'::regclass AND objid = \(oid.trimmingCharacters(in: .whitespacesAndNewlines)) AND NOT granted;") != "0\n"
            if !waiting { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(waiting, "the application's ALTER DATABASE waits on the rename")
        return writer
    }

    /// The application changes the target's rights, settings, comment and connection limit
    /// while the swap is about to rename it (stopped just before the renames' transaction, where
    /// the old carry had already read them): the live database has the changes after "Apply
    /// complete", as the checkpoint (the database they were made in) has.
    @Test(arguments: Kind.allCases) func aChangeJustBeforeTheRenameIsCarried(kind: Kind) throws {
        let f = try Fixture(self, kind, prefix: "cr")
        defer { f.tearDown(self) }
        let (project, tag, owner, server) = (f.project, f.tag, f.owner, f.server)
        #expect(try state(project, server, tag) == "CONNECT,TEMPORARY | - | work_mem=4MB | before | \(owner) | 20\n")
        let (apply, log) = try round2.startStopped(project, at: "change:postgres.renaming")
        defer { if apply.isRunning { apply.signal(SIGKILL); apply.signal(SIGCONT) } }
        try pg.sql(project, server, "postgres", """
            REVOKE CONNECT ON DATABASE "\(tag)" FROM PUBLIC; ALTER DATABASE "\(tag)" SET work_mem = '9MB';
            COMMENT ON DATABASE "\(tag)" IS 'changed'; ALTER DATABASE "\(tag)" CONNECTION LIMIT 7;
            """)
        let changed = "TEMPORARY | - | work_mem=9MB | changed | \(owner) | 7\n"
        #expect(try state(project, server, tag) == changed)
        apply.signal(SIGCONT)
        apply.waitUntilExit()
        let text = round2.output(log)
        #expect(apply.terminationStatus == 0 && text.contains("Apply complete"), "\(text)")
        #expect(try pg.sql(project, server, tag, "SELECT count(*) FROM added;") == "1\n", "the run was swapped in")
        #expect(try state(project, server, tag) == changed, "the live database has the application's last changes: \(text)")
    }

    /// An `ALTER DATABASE ... SET` issued while the renames' transaction holds the target waits
    /// for it and then writes into the database it named, which the commit made the checkpoint:
    /// the swap sees it and is undone (nothing of the run stays), and the target is the
    /// application's database with that setting.
    @Test(arguments: Kind.allCases) func aSettingWaitingOnTheRenameUndoesTheSwap(kind: Kind) throws {
        let f = try Fixture(self, kind, prefix: "cw")
        defer { f.tearDown(self) }
        let (project, tag, owner, server) = (f.project, f.tag, f.owner, f.server)
        let oid = try pg.sql(project, server, "postgres", "SELECT oid FROM pg_database WHERE datname = '\(tag)';")
        let (apply, log) = try round2.startStopped(project, at: "change:postgres.renamed")
        defer { if apply.isRunning { apply.signal(SIGKILL); apply.signal(SIGCONT) } }
        let writer = try waitingSetting(f, oid: oid)
        apply.signal(SIGCONT)
        apply.waitUntilExit()
        writer.waitUntilExit()
        #expect(writer.terminationStatus == 0, "the application's statement went through")
        let text = round2.output(log)
        #expect(apply.terminationStatus != 0 && text.contains("were changed while Ferry swapped it in") && !text.contains("Apply complete"), "\(text)")
        #expect(try pg.sql(project, server, "postgres", "SELECT oid FROM pg_database WHERE datname = '\(tag)';") == oid, "the application's database is the target again: \(text)")
        #expect(try state(project, server, tag) == "CONNECT,TEMPORARY | - | work_mem=11MB | before | \(owner) | 20\n", "with the application's setting")
        #expect(try pg.sql(project, server, tag, "SELECT count(*) FROM pg_class WHERE relname = 'added';") == "0\n", "nothing of the run stays")
        #expect(try pg.databases(project, server, like: "\(tag)\\_\\_ferry%") == "", "no shadow or checkpoint is left")
    }

    /// Fresh tester round 7, F1: the swap that the late change undoes has committed, and an
    /// application changes the live database (the swapped-in one) before the undo: its changes
    /// are writes, so the rollback leaves that database as it is (exit 4, named), never drops it
    /// and says "as they were". The same after a kill right after the commit, then `ferry recover`.
    @Test(arguments: Kind.allCases, [false, true]) func changesToTheSwappedInDatabaseBeforeTheUndoAreKept(kind: Kind, killed: Bool) throws {
        let f = try Fixture(self, kind, prefix: "ck")
        defer { f.tearDown(self) }
        let (project, tag, owner, server) = (f.project, f.tag, f.owner, f.server)
        let oid = try pg.sql(project, server, "postgres", "SELECT oid FROM pg_database WHERE datname = '\(tag)';")
        let changes = "ALTER DATABASE \"\(tag)\" SET work_mem = '13MB'; COMMENT ON DATABASE \"\(tag)\" IS 'app after the commit';"
        let expected = "CONNECT,TEMPORARY | - | work_mem=13MB | app after the commit | \(owner) | 20\n"
        if killed {
            project.environment["FERRY_TEST_KILL_AT"] = "change:postgres.committed"
            let apply = try project.run("apply", "--auto-approve")
            project.environment["FERRY_TEST_KILL_AT"] = nil
            #expect(apply.code == 9, "\(apply.all)")
            try pg.sql(project, server, "postgres", changes)
            let recover = try project.run("recover")
            #expect(recover.code == 4 && !recover.all.contains("as they were") && recover.all.contains("written after the run swapped it in"), "\(recover.all)")
        } else {
            let (apply, log) = try round2.startStopped(project, at: "change:postgres.renamed,change:postgres.committed")
            defer { apply.signal(SIGKILL); apply.signal(SIGCONT) }
            let writer = try waitingSetting(f, oid: oid)
            apply.signal(SIGCONT)
            // Stopped again right after the commit: the application changes the live database.
            let stopped = Date().addingTimeInterval(60)
            while Date() < stopped, !LockTimeoutTests.isStopped(apply.processIdentifier), apply.isRunning { Thread.sleep(forTimeInterval: 0.02) }
            writer.waitUntilExit()
            try pg.sql(project, server, "postgres", changes)
            apply.signal(SIGCONT)
            apply.waitUntilExit()
            let text = round2.output(log)
            #expect(apply.terminationStatus == 4 && !text.contains("as they were") && text.contains("written after the run swapped it in"), "\(text)")
        }
        #expect(try pg.sql(project, server, "postgres", "SELECT oid FROM pg_database WHERE datname = '\(tag)';") != oid, "the swapped-in database is the target")
        #expect(try state(project, server, tag) == expected, "with the application's changes")
        #expect(try pg.sql(project, server, tag, "SELECT count(*) FROM added;") == "1\n")
        #expect(try pg.databases(project, server, like: "\(tag)\\_\\_ferry\\_c%") != "", "the checkpoint is kept beside it")
    }
}
