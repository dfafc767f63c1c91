import Foundation
import Testing

/// A copy with `users: "sync"` killed (`kill -9`) during its user sync (fresh tester, issue 14
/// rules 2 and 4): `ferry recover` ends "as they were" (exit 0), with neither the copied database
/// (which did not exist before the run) nor the role / account the sync created left. The sync's
/// own grants never count as writes made after the swap; an application's real write into the
/// target after the swap is still kept (exit 4, the target left as it is).
@Suite(.serialized) struct UserSyncKilledTests {
    let pg = PostgresCLITests()
    let my = MySQLCLITests()

    /// Kill points: right after the intent is journaled (nothing made), after the role is created,
    /// after the database grant (`GRANT CONNECT`, the table grants not yet: the finding), after
    /// the target's grants, and once the sync is over but not journaled done.
    static let pgPoints = ["after-usersPlanned#1", "change:users.created#1", "change:users.databaseGranted#1",
                           "change:users.granted#1", "before-usersSynced#1"]
    static let myPoints = ["after-usersPlanned#1", "change:users.created#1", "change:users.granted#1",
                           "change:users.granted#2", "before-usersSynced#1"]

    func runKilled(_ project: Project, at point: String) throws {
        project.environment["FERRY_TEST_KILL_AT"] = point
        defer { project.environment["FERRY_TEST_KILL_AT"] = nil }
        let killed = try project.run("apply", "--auto-approve")
        #expect(killed.code != 0 && !killed.stdout.contains("Apply complete"), "\(point): the apply is killed: \(killed.all)")
        let refused = try project.run("plan")
        #expect(refused.code == 1 && refused.stderr.contains("RunInterrupted"), "\(point): \(refused.all)")
    }

    /// The finding's input on PostgreSQL: role `TAG_sync` (LOGIN, password) with `CONNECT` on the
    /// database and `SELECT` on a table; server B has neither.
    func pgSetUp(_ project: Project, _ a: PostgresCLITests.Server, _ b: PostgresCLITests.Server, tag: String) throws {
        try pg.sql(project, a, "postgres", """
            DROP DATABASE IF EXISTS "\(tag)" WITH (FORCE); DROP ROLE IF EXISTS \(tag)_sync;
            CREATE ROLE \(tag)_sync LOGIN PASSWORD 'pw-\(tag)'; CREATE DATABASE "\(tag)";
            GRANT CONNECT ON DATABASE "\(tag)" TO \(tag)_sync;
            """)
        try pg.sql(project, a, tag, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 50) g; GRANT SELECT ON t TO \(tag)_sync;")
        try pg.sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); DROP ROLE IF EXISTS \(tag)_sync;")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(pg.instances(a, b)) },
              "copies": { "mirror": { "from": "src", "to": "dst", "databases": ["\(tag)"], "users": "sync", "onExisting": "replace" } } }
            """)
    }

    func pgCleanUp(_ project: Project, _ a: PostgresCLITests.Server, _ b: PostgresCLITests.Server, tag: String) {
        for server in [a, b] {
            if let names = try? pg.databases(project, server, like: "\(tag)%") {
                for name in names.split(separator: "\n") { _ = try? pg.sql(project, server, "postgres", "DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE);") }
            }
            _ = try? pg.sql(project, server, "postgres", "REVOKE ALL ON DATABASE postgres FROM \(tag)_sync;", expectSuccess: false)
            _ = try? pg.sql(project, server, "postgres", "DROP ROLE IF EXISTS \(tag)_sync;", expectSuccess: false)
        }
    }

    @Test(arguments: pgPoints) func postgresRecoverAfterAKillDuringTheSyncEndsAsBefore(point: String) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A"), b = try pg.server("FERRY_TEST_PG_B")
        let tag = "uk" + UUID().uuidString.prefix(6).lowercased()
        defer { pgCleanUp(project, a, b, tag: tag) }
        try pgSetUp(project, a, b, tag: tag)
        try runKilled(project, at: point)
        let recover = try project.run("recover")
        #expect(recover.code == 0 && recover.stdout.contains("as they were"), "\(point): \(recover.all)")
        #expect(!recover.all.contains("written after"), "\(point): the sync's own grants are no write: \(recover.all)")
        #expect(try pg.databases(project, b, like: "\(tag)%") == "", "\(point): the copy (new on B) is gone")
        #expect(try pg.sql(project, b, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname = '\(tag)_sync';") == "0\n",
                "\(point): the role the sync created is gone")
        let again = try project.run("recover")
        #expect(again.code == 0 && again.stdout.contains("Nothing to recover"), "\(point): \(again.all)")
        let plan = try project.run("plan")
        #expect(plan.code == 0, "\(point): plan is not blocked: \(plan.all)")
        let status = try project.run("status")
        #expect(!status.stdout.contains("Left as they are"), "\(point): \(status.all)")
    }

    /// An application writes a row into the swapped-in copy while the sync is under way (stopped
    /// between its database grant and its table grants), then the run is killed: the write is
    /// kept (the target left as it is, exit 4), the role the sync created is still removed.
    @Test func postgresAWriteDuringTheSyncIsKept() throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A"), b = try pg.server("FERRY_TEST_PG_B")
        let tag = "uw" + UUID().uuidString.prefix(6).lowercased()
        defer { pgCleanUp(project, a, b, tag: tag) }
        try pgSetUp(project, a, b, tag: tag)
        let (run, _) = try PostgresWritesDuringRunTests().startStopped(project, at: "change:users.databaseGranted#1")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        try pg.sql(project, b, tag, "INSERT INTO t VALUES (9001, 'app-after-swap');")
        run.signal(SIGKILL)
        run.waitUntilExit()
        let recover = try project.run("recover")
        #expect(recover.code == 4 && !recover.stdout.contains("as they were"), "\(recover.all)")
        #expect(try pg.sql(project, b, tag, "SELECT v FROM t WHERE id = 9001;") == "app-after-swap\n", "the application's write is kept")
        #expect(try pg.sql(project, b, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname = '\(tag)_sync';") == "0\n",
                "the role the sync created is removed all the same")
        let status = try project.run("status")
        #expect(status.stdout.contains("Left as they are"), "\(status.all)")
        let again = try project.run("recover")
        #expect(again.code == 0 && again.stdout.contains("Nothing to recover"), "\(again.all)")
    }

    /// A role of that name that existed on B before the run is never touched: the sync only
    /// gives it privileges in the copy, and the undo leaves the role (and its grant elsewhere).
    @Test func postgresARoleThatExistedIsKept() throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A"), b = try pg.server("FERRY_TEST_PG_B")
        let tag = "ue" + UUID().uuidString.prefix(6).lowercased()
        defer { pgCleanUp(project, a, b, tag: tag) }
        try pgSetUp(project, a, b, tag: tag)
        try pg.sql(project, b, "postgres", "CREATE ROLE \(tag)_sync NOLOGIN; GRANT CONNECT ON DATABASE postgres TO \(tag)_sync;")
        try runKilled(project, at: "change:users.databaseGranted#1")
        let recover = try project.run("recover")
        #expect(recover.code == 0 && recover.stdout.contains("as they were"), "\(recover.all)")
        #expect(try pg.databases(project, b, like: "\(tag)%") == "")
        #expect(try pg.sql(project, b, "postgres", "SELECT has_database_privilege('\(tag)_sync', 'postgres', 'CONNECT')::text;") == "true\n",
                "the role that existed keeps what it had")
    }

    /// The role the sync created is given `CONNECT` on another database by someone while the run
    /// is stopped: the undo keeps that role (it is no longer the run's alone) and says so, instead
    /// of failing on it for ever; the copy is still removed.
    @Test func postgresACreatedRoleGivenADatabaseGrantElsewhereIsKept() throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A"), b = try pg.server("FERRY_TEST_PG_B")
        let tag = "ug" + UUID().uuidString.prefix(6).lowercased()
        defer { pgCleanUp(project, a, b, tag: tag) }
        try pgSetUp(project, a, b, tag: tag)
        let (run, _) = try PostgresWritesDuringRunTests().startStopped(project, at: "change:users.databaseGranted#1")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        try pg.sql(project, b, "postgres", "GRANT CONNECT ON DATABASE postgres TO \(tag)_sync;")
        run.signal(SIGKILL)
        run.waitUntilExit()
        let recover = try project.run("recover")
        #expect(recover.code == 0, "\(recover.all)")
        #expect(recover.stdout.contains("role \"\(tag)_sync\" kept") && recover.stdout.contains("postgres"), "it says so: \(recover.all)")
        #expect(try pg.databases(project, b, like: "\(tag)%") == "", "the copy is gone")
        #expect(try pg.sql(project, b, "postgres", "SELECT has_database_privilege('\(tag)_sync', 'postgres', 'CONNECT')::text;") == "true\n")
    }

    // MARK: MariaDB

    func mySetUp(_ project: Project, _ a: MySQLCLITests.Server, _ b: MySQLCLITests.Server, tag: String) throws {
        try my.sql(project, a, """
            DROP DATABASE IF EXISTS `\(tag)`; DROP USER IF EXISTS '\(tag)_sync'@'%';
            CREATE DATABASE `\(tag)`; CREATE TABLE `\(tag)`.t (id INT PRIMARY KEY, v VARCHAR(20));
            INSERT INTO `\(tag)`.t VALUES (1, 'one'), (2, 'two');
            CREATE USER '\(tag)_sync'@'%' IDENTIFIED BY 'pw-\(tag)';
            GRANT SELECT ON `\(tag)`.* TO '\(tag)_sync'@'%'; GRANT INSERT ON `\(tag)`.t TO '\(tag)_sync'@'%';
            """)
        try my.sql(project, b, "DROP DATABASE IF EXISTS `\(tag)`; DROP USER IF EXISTS '\(tag)_sync'@'%';")
        try project.write("plans/main.json", my.plan(a, b, databases: "[\"\(tag)\"]", users: "sync"))
    }

    func myCleanUp(_ project: Project, _ a: MySQLCLITests.Server, _ b: MySQLCLITests.Server, tag: String) {
        for server in [a, b] {
            if let names = try? my.sql(project, server, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)%';") {
                for name in names.split(separator: "\n") { _ = try? my.sql(project, server, "DROP DATABASE IF EXISTS `\(name)`;") }
            }
            _ = try? my.sql(project, server, "DROP USER IF EXISTS '\(tag)_sync'@'%';")
        }
    }

    @Test(arguments: myPoints) func mariadbRecoverAfterAKillDuringTheSyncEndsAsBefore(point: String) throws {
        let project = try Project()
        let a = try my.server("FERRY_TEST_MYSQL_A"), b = try my.server("FERRY_TEST_MYSQL_B")
        let tag = "mk" + UUID().uuidString.prefix(6).lowercased()
        defer { myCleanUp(project, a, b, tag: tag) }
        try mySetUp(project, a, b, tag: tag)
        try runKilled(project, at: point)
        let recover = try project.run("recover")
        #expect(recover.code == 0 && recover.stdout.contains("as they were"), "\(point): \(recover.all)")
        #expect(try my.sql(project, b, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)%';") == "",
                "\(point): the copy (new on B) is gone")
        #expect(try my.sql(project, b, "SELECT COUNT(*) FROM mysql.user WHERE User = '\(tag)_sync';") == "0\n", "\(point): the account is gone")
        let again = try project.run("recover")
        #expect(again.code == 0 && again.stdout.contains("Nothing to recover"), "\(point): \(again.all)")
        let plan = try project.run("plan")
        #expect(plan.code == 0, "\(point): \(plan.all)")
    }

    /// On MariaDB too, an application's row written into the copy while the sync is under way
    /// is kept (exit 4, left as it is) and the account the sync created is dropped.
    @Test func mariadbAWriteDuringTheSyncIsKept() throws {
        let project = try Project()
        let a = try my.server("FERRY_TEST_MYSQL_A"), b = try my.server("FERRY_TEST_MYSQL_B")
        let tag = "mw" + UUID().uuidString.prefix(6).lowercased()
        defer { myCleanUp(project, a, b, tag: tag) }
        try mySetUp(project, a, b, tag: tag)
        let (run, _) = try PostgresWritesDuringRunTests().startStopped(project, at: "change:users.created#1")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        try my.sql(project, b, "INSERT INTO `\(tag)`.t VALUES (9001, 'app');")
        run.signal(SIGKILL)
        run.waitUntilExit()
        let recover = try project.run("recover")
        #expect(recover.code == 4 && !recover.stdout.contains("as they were"), "\(recover.all)")
        #expect(try my.sql(project, b, "SELECT v FROM `\(tag)`.t WHERE id = 9001;") == "app\n", "the application's write is kept")
        #expect(try my.sql(project, b, "SELECT COUNT(*) FROM mysql.user WHERE User = '\(tag)_sync';") == "0\n", "the account is dropped all the same")
        let again = try project.run("recover")
        #expect(again.code == 0 && again.stdout.contains("Nothing to recover"), "\(again.all)")
    }
}
