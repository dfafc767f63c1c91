import Foundation
import Testing

/// Fresh tester round 11, F1: MariaDB made views, routines, triggers and events again under
/// Ferry's own session (utf8mb4) instead of the client character set, connection collation and
/// database collation each was made under, so a user's procedure `SELECT 'a' = 'A'` made under
/// latin1_bin answered otherwise after a rollback that said "hold what they held before". Here
/// the target holds objects of each kind made under latin1_bin (with a latin1 `é` in its text),
/// utf8mb3, utf8mb4_bin and under a database collation other than the database's default now;
/// after a rollback, a recover (kills in the swap), a copy and an append they report the same
/// settings in information_schema and answer the same, and a rollback gives a trigger's own
/// text back.
@Suite(.serialized) struct MySQLObjectCharsetTests {
    let cli = MySQLCLITests()
    let writes = MySQLWritesDuringRunTests()

    /// The objects, written to the `mariadb` client as bytes: the latin1 part in latin1.
    func makeObjects(_ project: Project, _ server: MySQLCLITests.Server, in db: String, fresh: Bool) throws {
        var data = Data()
        func utf8(_ text: String) { data.append(Data(text.utf8)) }
        if fresh {
            utf8("DROP DATABASE IF EXISTS `\(db)`; CREATE DATABASE `\(db)` CHARACTER SET latin1 COLLATE latin1_german1_ci; USE `\(db)`;\n")
            utf8("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)) CHARSET utf8mb4; INSERT INTO t VALUES (1, 'user-original');\n")
        } else {
            utf8("ALTER DATABASE `\(db)` COLLATE latin1_german1_ci; USE `\(db)`;\n")
        }
        // Made while the database's collation is latin1_german1_ci.
        utf8("SET NAMES utf8mb3;\nCREATE FUNCTION f_db(x VARCHAR(10)) RETURNS VARCHAR(64) RETURN CONCAT(CHARSET(x), ' ', 'a' = 'A', ' ', COLLATION('a'));\n")
        utf8("SET NAMES latin1 COLLATE latin1_bin;\nCREATE TRIGGER `\(db)`.ctr BEFORE INSERT ON `\(db)`.t FOR EACH ROW SET NEW.v = CONCAT(NEW.v, IF('a' = 'A', '=', '<>'));\n")
        utf8("ALTER DATABASE `\(db)` COLLATE utf8mb4_unicode_ci;\n")
        data.append("SET NAMES latin1 COLLATE latin1_bin;\nCREATE PROCEDURE p_l1() SELECT 'a' = 'A', HEX('é'), COLLATION('a');\n".data(using: .isoLatin1)!)
        utf8("CREATE VIEW v_l1 AS SELECT 'a' = 'A' AS same, COLLATION('a') AS c;\n")
        utf8("SET NAMES utf8mb3;\nCREATE VIEW v_u3 AS SELECT 'a' = 'A' AS same, COLLATION('a') AS c;\n")
        utf8("SET NAMES utf8mb4 COLLATE utf8mb4_bin;\nCREATE PROCEDURE p_b() SELECT 'a' = 'A', COLLATION('a');\n")
        utf8("CREATE EVENT ev ON SCHEDULE EVERY 1 DAY DISABLE DO SET @ferry_charset_event = 'a' = 'A';\n")
        let file = project.root + "/objects-\(UUID().uuidString.prefix(6)).sql"
        try data.write(to: URL(fileURLWithPath: file))
        let result = try project.runShell("MYSQL_PWD=\"$FERRY_TEST_MYSQL_PASSWORD\" mariadb -h\(server.host) -P\(server.port) -u\(server.user) -N -B < '\(file)'")
        #expect(result.code == 0, "\(result.all)")
    }

    /// Each object's settings as information_schema reports them, and the database's default.
    func settings(_ project: Project, _ server: MySQLCLITests.Server, _ db: String) throws -> String {
        try cli.sql(project, server, """
        SELECT ROUTINE_TYPE, ROUTINE_NAME, CHARACTER_SET_CLIENT, COLLATION_CONNECTION, DATABASE_COLLATION, SQL_MODE, HEX(ROUTINE_DEFINITION) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '\(db)' ORDER BY 1, 2;
        SELECT 'VIEW', TABLE_NAME, CHARACTER_SET_CLIENT, COLLATION_CONNECTION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '\(db)' ORDER BY 2;
        SELECT 'TRIGGER', TRIGGER_NAME, CHARACTER_SET_CLIENT, COLLATION_CONNECTION, DATABASE_COLLATION, SQL_MODE, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(db)' AND TRIGGER_NAME = 'ctr';
        SELECT 'EVENT', EVENT_NAME, CHARACTER_SET_CLIENT, COLLATION_CONNECTION, DATABASE_COLLATION, SQL_MODE, EVENT_DEFINITION, STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '\(db)' ORDER BY 2;
        SELECT 'DATABASE', DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '\(db)';
        """)
    }

    /// What the objects answer (the trigger on a row inserted and deleted again).
    func answers(_ project: Project, _ server: MySQLCLITests.Server, _ db: String) throws -> String {
        try cli.sql(project, server, """
        USE `\(db)`; CALL p_l1(); SELECT f_db('x'); SELECT * FROM v_l1; SELECT * FROM v_u3; CALL p_b();
        INSERT INTO t VALUES (99, 'x'); SELECT v FROM t WHERE id = 99; DELETE FROM t WHERE id = 99;
        """)
    }

    /// What they answer when made as the test makes them.
    static let expected = "0\tE9\tlatin1_bin\nlatin1 1 utf8mb3_general_ci\n0\tlatin1_bin\n1\tutf8mb3_general_ci\n0\tutf8mb4_bin\nx<>\n"

    /// The trigger's own text (`SHOW CREATE TRIGGER`'s `SQL Original Statement`).
    func triggerText(_ project: Project, _ server: MySQLCLITests.Server, _ db: String) throws -> String {
        let row = try cli.sql(project, server, "SHOW CREATE TRIGGER `\(db)`.ctr;").split(separator: "\t")
        return row.count > 2 ? String(row[2]) : ""
    }

    /// The objects of the setup's target, its settings and answers before the run.
    func prepare(_ s: MySQLWritesDuringRunTests.Setup) throws -> (settings: String, trigger: String) {
        try makeObjects(s.project, s.server, in: s.target, fresh: false)
        let before = try settings(s.project, s.server, s.target)
        #expect(before.contains("latin1\tlatin1_bin\tutf8mb4_unicode_ci"), "the test makes what it means to: \(before)")
        #expect(before.contains("utf8mb3\tutf8mb3_general_ci\tlatin1_german1_ci"), "\(before)")
        #expect(before.contains("DATABASE\tlatin1_german1_ci") == false)
        #expect(try answers(s.project, s.server, s.target) == Self.expected)
        let trigger = try triggerText(s.project, s.server, s.target)
        #expect(trigger.contains("TRIGGER `\(s.target)`.ctr BEFORE INSERT ON `\(s.target)`.t"), "\(trigger)")
        return (before, trigger)
    }

    func expectAsBefore(_ s: MySQLWritesDuringRunTests.Setup, _ before: (settings: String, trigger: String), _ what: String) throws {
        #expect(try settings(s.project, s.server, s.target) == before.settings, "\(what): each object keeps the settings it was made under")
        #expect(try answers(s.project, s.server, s.target) == Self.expected, "\(what): each object answers as before")
        #expect(try triggerText(s.project, s.server, s.target) == before.trigger, "\(what): the trigger's own text comes back")
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n")
    }

    /// The finding's path: `ferry rollback RUN` after a replace import; and a run whose second
    /// import fails, rolled back by apply itself.
    @Test func rollbackMakesEachObjectAgainUnderItsOwnSettings() throws {
        let s = try writes.setUp(failingSecond: false)
        defer { writes.tearDown(s) }
        let before = try prepare(s)
        let applied = try s.project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let reverted = try s.project.run("rollback", try MySQLImportCLITests().runID(applied.stdout))
        #expect(reverted.code == 0 && reverted.stdout.contains("hold what they held before"), "\(reverted.all)")
        try expectAsBefore(s, before, "ferry rollback")

        try s.project.write("plans/data/b.sql", "CREATE TABLE x (id INT);\nINSERT INTO nonexistent VALUES (1);\n")
        let failed = try s.project.run("apply", "--auto-approve")
        #expect(failed.code == 3, "\(failed.all)")
        try expectAsBefore(s, before, "a failed run's rollback")
    }

    /// Killed inside the swap (its triggers and events witnessed; its tables renamed) and
    /// recovered: each object back as it was.
    @Test(arguments: ["change:mysql.swap.witnessed", "change:mysql.swap.renamed"])
    func recoverMakesEachObjectAgainUnderItsOwnSettings(point: String) throws {
        let s = try writes.setUp(failingSecond: false)
        defer { writes.tearDown(s) }
        let before = try prepare(s)
        s.project.environment["FERRY_TEST_KILL_AT"] = point
        let killed = try s.project.run("apply", "--auto-approve")
        s.project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code != 0, "\(killed.all)")
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        try expectAsBefore(s, before, "recover after a kill at \(point)")
    }

    /// The target's default collation now.
    func databaseCollation(_ s: MySQLWritesDuringRunTests.Setup) throws -> String {
        try cli.sql(s.project, s.server, "SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '\(s.target)';")
    }

    /// Fresh tester w26, H1: a routine or trigger stored with another database collation is
    /// made while the database's default is switched to it; a kill between the two `ALTER
    /// DATABASE`s left the target's default switched, and `ferry recover` kept it and said "as
    /// they were before". The switch is noted first and the next pass puts the default back:
    /// `ferry rollback RUN` killed there, and an append killed at each switch of its snapshot and
    /// swap, then recovered, leave every object and the database's default as they were.
    @Test func killBetweenTheCollationSwitchesIsPutBackByTheNextPass() throws {
        let s = try writes.setUp(failingSecond: false)
        defer { writes.tearDown(s) }
        let before = try prepare(s)
        let own = try databaseCollation(s)
        #expect(own == "utf8mb4_unicode_ci\n")
        let applied = try s.project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        s.project.environment["FERRY_TEST_KILL_AT"] = "change:mysql.objects.collationSwitched"
        let killed = try s.project.run("rollback", try MySQLImportCLITests().runID(applied.stdout))
        s.project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code != 0, "\(killed.all)")
        #expect(try databaseCollation(s) == "latin1_german1_ci\n", "the kill landed between the switches")
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0 && recovered.stdout.contains("finished"), "\(recovered.all)")
        try expectAsBefore(s, before, "recover after `ferry rollback RUN` killed between the switches")

        try s.project.write("plans/main.json", """
        { "ferry": 1,
          "instances": { "a": { "engine": "mysql", "url": "\(s.server.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
          "imports": { "ia": { "into": "a", "database": "\(s.target)", "from": "data/b.sql", "onExisting": "append" } } }
        """)
        var switchedTarget = 0
        for n in 1...4 {
            s.project.environment["FERRY_TEST_KILL_AT"] = "change:mysql.objects.collationSwitched#\(n)"
            let killed = try s.project.run("apply", "--auto-approve")
            s.project.environment["FERRY_TEST_KILL_AT"] = nil
            if killed.code == 0 { break }
            if try databaseCollation(s) != own { switchedTarget += 1 }
            let recovered = try s.project.run("recover")
            #expect(recovered.code == 0 && recovered.stdout.contains("as they were before"), "\(recovered.all)")
            try expectAsBefore(s, before, "recover after an append killed at the switch #\(n)")
            #expect(try databaseCollation(s) == own)
        }
        #expect(switchedTarget > 0, "some kill landed while the target's default was switched")
    }

    /// An append import clones the target's objects into its shadow and swaps them back in.
    @Test func appendKeepsEachObjectsSettings() throws {
        let s = try writes.setUp(failingSecond: false)
        defer { writes.tearDown(s) }
        let before = try prepare(s)
        try s.project.write("plans/main.json", """
        { "ferry": 1,
          "instances": { "a": { "engine": "mysql", "url": "\(s.server.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
          "imports": { "ia": { "into": "a", "database": "\(s.target)", "from": "data/b.sql", "onExisting": "append" } } }
        """)
        let applied = try s.project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let after = try settings(s.project, s.server, s.target)
        #expect(after == before.settings, "append: each object keeps its settings: \(after) against \(before.settings)")
        #expect(try answers(s.project, s.server, s.target) == Self.expected, "append: each object answers as before")
    }

    /// An import file that makes its objects under latin1_bin and utf8mb3 (its events parked in
    /// the shadow, its definers put back, then swapped in): the target's objects have the
    /// file's settings and answer by them.
    @Test func importKeepsTheFilesSettings() throws {
        let s = try writes.setUp(failingSecond: false)
        defer { writes.tearDown(s) }
        var file = Data("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)) CHARSET utf8mb4;\nINSERT INTO t VALUES (1, 'from-file');\n".utf8)
        file.append("SET NAMES latin1 COLLATE latin1_bin;\nCREATE PROCEDURE p_l1() SELECT 'a' = 'A', HEX('é'), COLLATION('a');\nCREATE VIEW v_l1 AS SELECT 'a' = 'A' AS same, COLLATION('a') AS c;\n".data(using: .isoLatin1)!)
        file.append(Data("CREATE EVENT ev ON SCHEDULE EVERY 1 DAY DO SET @ferry_charset_event = 'a' = 'A';\nSET NAMES utf8mb3;\nCREATE TRIGGER ctr BEFORE INSERT ON t FOR EACH ROW SET NEW.v = CONCAT(NEW.v, IF('a' = 'A', '=', '<>'), COLLATION('a'));\n".utf8))
        try file.write(to: URL(fileURLWithPath: s.project.root + "/plans/data/a.sql"))
        let applied = try s.project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let made = try cli.sql(s.project, s.server, """
        SELECT ROUTINE_NAME, CHARACTER_SET_CLIENT, COLLATION_CONNECTION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '\(s.target)';
        SELECT TABLE_NAME, CHARACTER_SET_CLIENT, COLLATION_CONNECTION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '\(s.target)';
        SELECT EVENT_NAME, CHARACTER_SET_CLIENT, COLLATION_CONNECTION, STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '\(s.target)';
        SELECT TRIGGER_NAME, CHARACTER_SET_CLIENT, COLLATION_CONNECTION FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(s.target)';
        """)
        #expect(made == "p_l1\tlatin1\tlatin1_bin\nv_l1\tlatin1\tlatin1_bin\nev\tlatin1\tlatin1_bin\tENABLED\nctr\tutf8mb3\tutf8mb3_general_ci\n", "\(made)")
        let answers = try cli.sql(s.project, s.server, """
        USE `\(s.target)`; CALL p_l1(); SELECT * FROM v_l1; INSERT INTO t VALUES (99, 'x'); SELECT v FROM t WHERE id = 99; DELETE FROM t WHERE id = 99;
        """)
        #expect(answers == "0\tE9\tlatin1_bin\n0\tlatin1_bin\nx=utf8mb3_general_ci\n", "\(answers)")
        try cli.sql(s.project, s.server, "DROP EVENT IF EXISTS `\(s.target)`.ev;")
    }

    /// A copy to another server: the copy's objects report the source's settings and answer as
    /// the source's do.
    @Test func copyKeepsEachObjectsSettings() throws {
        let project = try Project()
        let a = try cli.server("FERRY_TEST_MYSQL_A"), b = try cli.server("FERRY_TEST_MYSQL_B")
        let db = "cs\(UUID().uuidString.prefix(6).lowercased())"
        defer {
            _ = try? cli.sql(project, a, "DROP DATABASE IF EXISTS `\(db)`;")
            _ = try? cli.sql(project, b, "DROP DATABASE IF EXISTS `\(db)`;")
        }
        try makeObjects(project, a, in: db, fresh: true)
        try cli.sql(project, b, "DROP DATABASE IF EXISTS `\(db)`;")
        let source = try settings(project, a, db)
        #expect(try answers(project, a, db) == Self.expected)
        try project.write("plans/main.json", cli.plan(a, b, databases: "[\"\(db)\"]"))
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        #expect(try settings(project, b, db) == source, "the copy's objects keep the source's settings")
        #expect(try answers(project, b, db) == Self.expected, "the copy's objects answer as the source's")
    }
}
