import Foundation
import Testing

/// Applications that change a PostgreSQL target during and after a run, round 4 (issue 14; fresh
/// tester w5's X4, X5 and X1b after a kill): owners and privileges are in the content token, so
/// a `GRANT`, `REVOKE` or `ALTER ... OWNER TO` made on the live target during an `append`, after
/// a swap, or after a commit is seen exactly as a `COMMENT` is (the append is not swapped in,
/// the rollback leaves the target, `ferry rollback RUN` is refused) while Ferry's own changes of
/// them (the swap carrying the database ACL, users sync and its undo) are not taken for writes;
/// `ferry rollback RUN` while sessions keep entering the target is refused before any change;
/// `ferry recover` after a kill leaves an import's shadow holding an application's object.
@Suite(.serialized) struct PostgresWritesDuringRunRound4Tests {
    let pg = PostgresCLITests()
    let round2 = PostgresWritesDuringRunTests()

    /// A change of owners or privileges an application makes (`ROLE` stands for a role the test
    /// makes), and how to see it afterwards (psql's output in the target once the run ended).
    struct RightsChange: CustomTestStringConvertible, Sendable {
        var name: String
        var sql: String
        /// Run in `postgres` (a change of the database itself) instead of the target.
        var onServer = false
        var check: String
        var expected: String
        var testDescription: String { name }
    }

    /// The tester's `GRANT` and `ALTER ... OWNER TO`, and variants of every kind the token now holds.
    static let changes: [RightsChange] = [
        RightsChange(name: "a grant and an owner change on a table (the tester's)", sql: "GRANT SELECT ON t TO ROLE; ALTER TABLE t OWNER TO ROLE;",
                     check: "SELECT pg_get_userbyid(relowner) || ' ' || has_table_privilege('ROLE', 't', 'SELECT') FROM pg_class WHERE relname = 't';", expected: "ROLE true\n"),
        RightsChange(name: "a revoke from PUBLIC", sql: "REVOKE SELECT ON t FROM PUBLIC;",
                     check: "SELECT has_table_privilege('ROLE', 't', 'SELECT');", expected: "f\n"),
        RightsChange(name: "a column grant", sql: "GRANT UPDATE (v) ON t TO ROLE;",
                     check: "SELECT has_column_privilege('ROLE', 't', 'v', 'UPDATE');", expected: "t\n"),
        RightsChange(name: "a schema's owner", sql: "ALTER SCHEMA app OWNER TO ROLE;",
                     check: "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'app';", expected: "ROLE\n"),
        RightsChange(name: "default privileges", sql: "ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO ROLE;",
                     check: "SELECT count(*) FROM pg_default_acl;", expected: "1\n"),
        RightsChange(name: "a function's grant", sql: "REVOKE EXECUTE ON FUNCTION app.f() FROM PUBLIC; GRANT EXECUTE ON FUNCTION app.f() TO ROLE;",
                     check: "SELECT array_to_string(proacl, ',') LIKE '%ROLE=X/%' AND array_to_string(proacl, ',') NOT LIKE '%,=X/%' FROM pg_proc WHERE proname = 'f';", expected: "t\n"),
        RightsChange(name: "a large object's owner", sql: "ALTER LARGE OBJECT 424242 OWNER TO ROLE;",
                     check: "SELECT pg_get_userbyid(lomowner) FROM pg_largeobject_metadata WHERE oid = 424242;", expected: "ROLE\n"),
        RightsChange(name: "the database's own grant", sql: "GRANT CREATE ON DATABASE \"DB\" TO ROLE;", onServer: true,
                     check: "SELECT has_database_privilege('ROLE', current_database(), 'CREATE');", expected: "t\n"),
        RightsChange(name: "the database's owner", sql: "ALTER DATABASE \"DB\" OWNER TO ROLE;", onServer: true,
                     check: "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database();", expected: "ROLE\n"),
    ]

    /// `change`'s statements (and check) for role `role` and target `database`.
    func text(_ sql: String, role: String, database: String) -> String {
        sql.replacingOccurrences(of: "ROLE", with: role).replacingOccurrences(of: "\"DB\"", with: "\"\(database)\"")
    }

    func apply(_ change: RightsChange, _ project: Project, _ a: PostgresCLITests.Server, database: String, role: String) throws {
        try pg.sql(project, a, change.onServer ? "postgres" : database, text(change.sql, role: role, database: database))
    }

    func expectPresent(_ change: RightsChange, _ project: Project, _ a: PostgresCLITests.Server, database: String, role: String,
                       _ context: String) throws {
        let seen = try pg.sql(project, a, database, text(change.check, role: role, database: database))
        #expect(seen == text(change.expected, role: role, database: database), "the application's change is in \(database): \(context)")
    }

    /// What the tests' target holds besides the import's: a schema `app` with a function, for the
    /// schema, default-privilege and function variants.
    static let appSchema = "CREATE SCHEMA app; CREATE FUNCTION app.f() RETURNS int LANGUAGE sql AS 'SELECT 1';"

    func makeRole(_ project: Project, _ a: PostgresCLITests.Server, _ role: String) throws {
        try pg.sql(project, a, "postgres", "DROP ROLE IF EXISTS \(role); CREATE ROLE \(role) NOLOGIN;")
    }

    func dropRole(_ project: Project, _ a: PostgresCLITests.Server, _ role: String) {
        _ = try? pg.sql(project, a, "postgres", "DROP ROLE IF EXISTS \(role);")
    }

    func runID(of apply: Project.Result) -> String? {
        guard let line = apply.stdout.split(separator: "\n").first(where: { $0.hasPrefix("Run ") }) else { return nil }
        return String(line.split(separator: " ")[1].dropLast())
    }

    /// X4 (append): the change made on the live target after the append's snapshot keeps the
    /// append from being swapped in (exit 3, as a `COMMENT` does), and stays in the target.
    @Test(arguments: changes) func anAppendIsNotSwappedOverARightsChange(change: RightsChange) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "qa" + UUID().uuidString.prefix(6).lowercased()
        let role = "\(tag)_r"
        defer { round2.dropAll(project, a, tag: tag); dropRole(project, a, role) }
        try makeRole(project, a, role)
        try pg.sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\";")
        try pg.sql(project, a, tag, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'user-original'); GRANT SELECT ON t TO PUBLIC; SELECT lo_from_bytea(424242, 'lo'::bytea); " + Self.appSchema)
        try project.write("plans/data/n.sql", "CREATE TABLE n (id int);\nINSERT INTO n VALUES (1);\n")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "pg": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
              "imports": { "ap": { "into": "pg", "database": "\(tag)", "from": "data/n.sql", "onExisting": "append", "owner": "ferry_plain" } } }
            """)
        let (run, log) = try round2.startStopped(project, at: "after-stepDone#1")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        try apply(change, project, a, database: tag, role: role)
        run.signal(SIGCONT)
        run.waitUntilExit()
        let out = round2.output(log)
        #expect(run.terminationStatus == 3 && out.contains("was written during the run"), "\(out)")
        try expectPresent(change, project, a, database: tag, role: role, out)
        #expect(try pg.sql(project, a, tag, "SELECT count(*) FROM pg_class WHERE relname = 'n';") == "0\n", "the append was not swapped in")
        #expect(try pg.databases(project, a, like: "\(tag)__ferry_%") == "", "no shadow or checkpoint is left")
    }

    /// X4 (in-run rollback): the change made on the swapped-in target keeps it (exit 4, left as
    /// it is, the checkpoint beside it), never "as they were".
    @Test(arguments: changes) func inRunRollbackKeepsATargetWhoseRightsChangedAfterItsSwap(change: RightsChange) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "qb" + UUID().uuidString.prefix(6).lowercased()
        let role = "\(tag)_r"
        defer { round2.dropAll(project, a, tag: tag); dropRole(project, a, role) }
        try makeRole(project, a, role)
        try round2.failingSecondImport(project, a, tag: tag)
        try project.write("plans/data/a.sql", (project.read("plans/data/a.sql") ?? "") + "GRANT SELECT ON t TO PUBLIC;\n" + Self.appSchema + "\n")
        let (run, log) = try round2.startStopped(project, at: "after-swapDone#1")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        try apply(change, project, a, database: "\(tag)_a", role: role)
        run.signal(SIGCONT)
        run.waitUntilExit()
        let out = round2.output(log)
        #expect(run.terminationStatus == 4 && !out.contains("as they were"), "\(out)")
        #expect(out.contains("\(tag)_a was written after the run swapped it in"), "\(out)")
        try expectPresent(change, project, a, database: "\(tag)_a", role: role, out)
        #expect(try pg.databases(project, a, like: "\(tag)_a__ferry_c_%") != "", "the checkpoint is kept beside it")
    }

    /// X4 (`ferry rollback RUN`): refused before any change after such a change (exit 1), the
    /// change kept; with none, the same rollback restores.
    @Test(arguments: [nil] + changes.map(Optional.some)) func rollbackRunIsRefusedAfterARightsChange(change: RightsChange?) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "qc" + UUID().uuidString.prefix(6).lowercased()
        let role = "\(tag)_r"
        defer { round2.dropAll(project, a, tag: tag); dropRole(project, a, role) }
        try makeRole(project, a, role)
        try round2.failingSecondImport(project, a, tag: tag)
        try project.write("plans/data/a.sql", (project.read("plans/data/a.sql") ?? "") + "GRANT SELECT ON t TO PUBLIC;\n" + Self.appSchema + "\n")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "pg": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
              "imports": { "ia": { "into": "pg", "database": "\(tag)_a", "from": "data/a.sql", "onExisting": "replace", "owner": "ferry_plain" } } }
            """)
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let run = try #require(runID(of: applied), "\(applied.all)")
        if let change { try apply(change, project, a, database: "\(tag)_a", role: role) }
        let rollback = try project.run("rollback", run)
        if let change {
            #expect(rollback.code == 1 && rollback.all.contains("changed after run"), "\(rollback.all)")
            #expect(!rollback.all.contains("restored pg/"), "\(rollback.all)")
            try expectPresent(change, project, a, database: "\(tag)_a", role: role, rollback.all)
            let plan = try project.run("plan")
            #expect(!plan.all.contains("RunInterrupted"), "nothing pending: \(plan.all)")
        } else {
            #expect(rollback.code == 0 && rollback.all.contains("restored pg/\(tag)_a"), "\(rollback.all)")
            #expect(try pg.sql(project, a, "\(tag)_a", "SELECT v FROM old;") == "before the run\n")
        }
    }

    /// Ferry's own changes of owners and privileges after the swap (users sync, then its undo,
    /// and the swap's carrying of the replaced database's ACL) are not writes: `ferry rollback
    /// RUN` of a copy with `users: "sync"` restores; after a grant by the application it is refused.
    @Test(arguments: [false, true]) func rollbackRunOfAUsersSyncCopyTellsFerrysRightsFromAnApplications(written: Bool) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A"), b = try pg.server("FERRY_TEST_PG_B")
        let tag = "qu" + UUID().uuidString.prefix(6).lowercased()
        defer {
            round2.dropAll(project, a, tag: tag); round2.dropAll(project, b, tag: tag)
            dropRole(project, a, "\(tag)_app"); dropRole(project, b, "\(tag)_app"); dropRole(project, b, "\(tag)_r")
        }
        try pg.seed(project, a, tag)
        try pg.sql(project, a, "postgres", "CREATE ROLE \(tag)_app NOLOGIN;")
        try pg.sql(project, a, tag, "GRANT SELECT ON items TO \(tag)_app; ALTER TABLE more OWNER TO \(tag)_app;")
        try makeRole(project, b, "\(tag)_r")
        try pg.sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\"; REVOKE CONNECT ON DATABASE \"\(tag)\" FROM PUBLIC;")
        try pg.sql(project, b, tag, "CREATE TABLE old (v text); INSERT INTO old VALUES ('before the run');")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(pg.instances(a, b)) },
              "copies": { "mirror": { "from": "src", "to": "dst", "databases": ["\(tag)"], "onExisting": "replace", "users": "sync" } } }
            """)
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let run = try #require(runID(of: applied), "\(applied.all)")
        if written { try pg.sql(project, b, tag, "GRANT SELECT ON items TO \(tag)_r;") }
        let rollback = try project.run("rollback", run)
        if written {
            #expect(rollback.code == 1 && rollback.all.contains("changed after run"), "\(rollback.all)")
            #expect(try pg.sql(project, b, tag, "SELECT has_table_privilege('\(tag)_r', 'items', 'SELECT');") == "t\n")
        } else {
            #expect(rollback.code == 0 && rollback.all.contains("restored dst/\(tag)"), "\(rollback.all)")
            #expect(try pg.sql(project, b, tag, "SELECT v FROM old;") == "before the run\n")
        }
    }

    /// X5: `ferry rollback RUN` while short sessions keep entering the target (a new session
    /// every few tens of milliseconds, readers only) is refused before any change (exit 1, no
    /// pending rollback run: plans go on); once they stop, the same rollback restores.
    @Test(arguments: [false, true]) func rollbackRunWhileSessionsKeepEnteringIsRefusedBeforeAnyChange(terminateSessions: Bool) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "qe" + UUID().uuidString.prefix(6).lowercased()
        defer { round2.dropAll(project, a, tag: tag) }
        try round2.failingSecondImport(project, a, tag: tag)
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "pg": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" }\(terminateSessions ? ", \"terminateSessions\": true" : "") } },
              "imports": { "ia": { "into": "pg", "database": "\(tag)_a", "from": "data/a.sql", "onExisting": "replace", "owner": "ferry_plain" } } }
            """)
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let run = try #require(runID(of: applied), "\(applied.all)")
        let readers = try enteringSessions(project, a, database: "\(tag)_a")
        let before = try pg.databases(project, a, like: "\(tag)%")
        let refused = try project.run("rollback", run)
        readers.stop()
        #expect(refused.code == 1 && refused.all.contains("cannot be rolled back now; nothing was changed"), "\(refused.all)")
        #expect(!refused.all.contains("incomplete") && !refused.all.contains("apply again"), "\(refused.all)")
        #expect(try pg.databases(project, a, like: "\(tag)%") == before, "nothing was renamed")
        let plan = try project.run("plan")
        #expect(!plan.all.contains("RunInterrupted"), "nothing pending: \(plan.all)")
        let rollback = try project.run("rollback", run)
        #expect(rollback.code == 0 && rollback.all.contains("restored pg/\(tag)_a"), "\(rollback.all)")
    }

    /// Two threads that keep opening short sessions on `database` (readers only) until `stop()`:
    /// each runs `pgbench -C` (a new connection for every transaction, hundreds a second) again
    /// whenever it ends (a terminated session aborts its client). Loops of psql started a
    /// session every few tens of milliseconds, and a loaded machine left gaps long enough for
    /// one of `ferry rollback RUN`'s up-front tries to see none come in (a flake seen in CI).
    final class EnteringSessions: @unchecked Sendable {
        private let lock = NSLock()
        private var running: [Process] = []
        private var stopped = false
        private let finished = DispatchSemaphore(value: 0)
        private let threads = 2

        init(_ server: PostgresCLITests.Server, database: String, script: String) {
            var variables = ProcessInfo.processInfo.environment
            variables["PGPASSWORD"] = variables["FERRY_TEST_PG_PASSWORD"]
            let environment = variables
            let bin = environment["FERRY_TEST_PG_BIN"].map { $0 + "/pgbench" } ?? "/usr/bin/pgbench"
            for _ in 0..<threads {
                Thread { [self] in
                    while true {
                        let process = Process()
                        process.executableURL = URL(fileURLWithPath: bin)
                        process.arguments = ["-n", "-C", "-c", "1", "-t", "1000000", "-f", script, "-h", server.host, "-p", server.port, "-U", "ferry", database]
                        process.environment = environment
                        process.standardOutput = FileHandle.nullDevice
                        process.standardError = FileHandle.nullDevice
                        let started: Bool = lock.withLock {
                            guard !stopped, (try? process.run()) != nil else { return false }
                            running.append(process)
                            return true
                        }
                        guard started else { break }
                        process.waitUntilExit()
                        lock.withLock { running.removeAll { $0 === process } }
                    }
                    finished.signal()
                }.start()
            }
        }

        /// Ends every pgbench (SIGKILL: a child of the test process inherits its blocked
        /// SIGTERM and SIGALRM, so neither `terminate()` nor `-T` ends it) and waits for the threads.
        func stop() {
            lock.withLock {
                stopped = true
                running.forEach { kill($0.processIdentifier, SIGKILL) }
            }
            for _ in 0..<threads { finished.wait() }
        }
    }

    func enteringSessions(_ project: Project, _ server: PostgresCLITests.Server, database: String) throws -> EnteringSessions {
        let script = project.root + "/enter-\(UUID().uuidString.prefix(6)).sql"
        try "SELECT count(*) FROM t;\n".write(toFile: script, atomically: true, encoding: .utf8)
        let sessions = EnteringSessions(server, database: database, script: script)
        Thread.sleep(forTimeInterval: 1)
        return sessions
    }

    /// X5's up-front try does not take one session that stays (a pool's idle connection) for
    /// sessions that keep entering: with `terminateSessions` it is ended, as the swap back ends
    /// it, and `ferry rollback RUN` restores.
    @Test func rollbackRunWithTerminateSessionsEndsASessionThatStays() throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "qs" + UUID().uuidString.prefix(6).lowercased()
        defer { round2.dropAll(project, a, tag: tag) }
        try round2.failingSecondImport(project, a, tag: tag)
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "pg": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" }, "terminateSessions": true } },
              "imports": { "ia": { "into": "pg", "database": "\(tag)_a", "from": "data/a.sql", "onExisting": "replace", "owner": "ferry_plain" } } }
            """)
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let run = try #require(runID(of: applied), "\(applied.all)")
        nonisolated(unsafe) let (client, server, database, shared) = (pg, a, "\(tag)_a", project)
        let idle = Thread { _ = try? client.sql(shared, server, database, "SELECT pg_sleep(60);", expectSuccess: false) }
        idle.start()
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, try pg.sql(project, a, "postgres", "SELECT count(*) FROM pg_stat_activity WHERE datname = '\(tag)_a' AND query LIKE '%pg_sleep(60)%';") != "1\n" {
            Thread.sleep(forTimeInterval: 0.1)
        }
        let rollback = try project.run("rollback", run)
        #expect(rollback.code == 0 && rollback.all.contains("restored pg/\(tag)_a"), "\(rollback.all)")
        #expect(try pg.sql(project, a, "\(tag)_a", "SELECT v FROM old;") == "before the run\n")
    }

    /// Where the run is killed (`kill -9`) relative to the application's object in the shadow.
    enum KillAt: String, CaseIterable, Sendable { case duringTheBuild, afterTheBuild, duringTheBuildNoObject }

    /// X1b after a kill: an application's object made in an import's shadow, then the run killed
    /// (during its build, or after it): `ferry recover` leaves the shadow with the object (exit
    /// 4, named); once the user dropped the shadow, recover finishes. Without an object, recover
    /// drops the shadow (exit 0).
    @Test(arguments: KillAt.allCases) func recoverAfterAKillLeavesAShadowHoldingAnApplicationsObject(at: KillAt) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "qk" + UUID().uuidString.prefix(6).lowercased()
        defer { round2.dropAll(project, a, tag: tag) }
        try pg.sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\";")
        try pg.sql(project, a, tag, "CREATE TABLE old (v text); INSERT INTO old VALUES ('before the run');")
        try project.write("plans/data/slow.sql", "CREATE TABLE a (i int);\nSELECT pg_sleep(\(at == .afterTheBuild ? 0 : 30));\nCREATE TABLE b (i int);\n")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "pg": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
              "imports": { "x": { "into": "pg", "database": "\(tag)", "from": "data/slow.sql", "onExisting": "replace", "owner": "ferry_plain" } } }
            """)
        let run: Process
        if at == .afterTheBuild {
            run = try round2.startStopped(project, at: "after-stepDone#1").0
        } else {
            run = try project.start(["apply", "--auto-approve"], stdout: FileHandle.nullDevice, stderr: FileHandle.nullDevice)
        }
        defer { if run.isRunning { run.signal(SIGKILL) } }
        let shadow = try #require(try PostgresWritesDuringRunRound3Tests().awaitDatabase(project, a, like: "\(tag)__ferry_s_%"))
        if at == .duringTheBuild || at == .duringTheBuildNoObject {
            // The file's first table is there: its pg_sleep runs.
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline, (try? pg.sql(project, a, shadow, "SELECT count(*) FROM pg_class WHERE relname = 'a';", expectSuccess: false)) != "1\n" {
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        if at != .duringTheBuildNoObject {
            try pg.sql(project, a, shadow, "CREATE TABLE app_t (i int); INSERT INTO app_t VALUES (7);")
        }
        run.signal(SIGKILL)
        run.waitUntilExit()
        let recover = try project.run("recover")
        if at == .duringTheBuildNoObject {
            #expect(recover.code == 0, "\(recover.all)")
            #expect(try pg.databases(project, a, like: "\(tag)%") == "\(tag)\n", "the shadow is dropped")
            return
        }
        #expect(recover.code == 4 && recover.all.contains(shadow) && recover.all.contains("which the import did not make"), "\(recover.all)")
        #expect(!recover.all.contains("as they were"), "\(recover.all)")
        #expect(try pg.sql(project, a, shadow, "SELECT i FROM app_t;") == "7\n", "the application's table is left in the shadow")
        #expect(try pg.sql(project, a, tag, "SELECT v FROM old;") == "before the run\n", "the target is as it was")
        try pg.sql(project, a, "postgres", "DROP DATABASE \"\(shadow)\" WITH (FORCE);")
        let again = try project.run("recover")
        #expect(again.code == 0, "\(again.all)")
    }
}

