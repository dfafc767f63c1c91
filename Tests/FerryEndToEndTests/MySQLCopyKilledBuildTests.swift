import Foundation
import Testing

/// Fresh tester W7-7: a copy killed during its build had listed every source name in its shadow's
/// list of what the run made before it made them, so what an application then made in the dead
/// run's shadow under a name not made yet (a table with its row, a procedure, a view) counted as
/// the copy's, and `ferry recover` dropped it with the shadow, saying "as they were". The copy now
/// lists a name only once its own CREATE made it: such objects are someone else's, recover leaves
/// the shadow and names it (exit 4); dropped by hand, recover finishes. A kill between a CREATE
/// and its listing leaves one object that only its entry as about to be made proves Ferry's
/// (rounds 46 and 47, M3), and only while it holds no row.
@Suite(.serialized) struct MySQLCopyKilledBuildTests {
    let cli = MySQLCLITests()
    let writes = MySQLWritesDuringRunTests()
    let taken = MySQLShadowNameTakenTests()

    /// `copySetUp`'s source (`t` with 3 rows, view `vt`, procedure `pr`) with a second table
    /// `t2`, so that a kill can fall between the two tables' CREATEs, and a sequence, a trigger
    /// and an event (each listed once made, or a plain kill would leave the shadow).
    func setUp() throws -> (MySQLWritesDuringRunTests.Setup, MySQLCLITests.Server, String) {
        let (s, b, source) = try taken.copySetUp()
        try cli.sql(s.project, b, """
        CREATE TABLE `\(source)`.t2 (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO `\(source)`.t2 VALUES (1, 's2');
        CREATE SEQUENCE `\(source)`.sq START WITH 5;
        CREATE TRIGGER `\(source)`.tg BEFORE INSERT ON `\(source)`.t2 FOR EACH ROW SET NEW.v = UPPER(NEW.v);
        CREATE EVENT `\(source)`.ev ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM `\(source)`.t2 WHERE id < 0;
        """)
        return (s, b, source)
    }

    /// Runs the plan's copy killed at `point`; returns the dead run's shadow.
    func killedCopy(_ s: MySQLWritesDuringRunTests.Setup, at point: String) throws -> String {
        s.project.environment["FERRY_TEST_KILL_AT"] = point
        let run = try s.project.run("apply", "--auto-approve", "--parallelism", "1")
        s.project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(run.code != 0 && !run.all.contains("Apply complete"), "killed at \(point): \(run.all)")
        return try #require(try writes.schemas(s).first { $0.hasPrefix("\(s.target)__ferry_s_") }, "the dead run's shadow: \(writes.names(s))")
    }

    func tables(_ s: MySQLWritesDuringRunTests.Setup, in schema: String) throws -> [String] {
        try cli.sql(s.project, s.server, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(schema)' AND TABLE_NAME NOT LIKE '\\_\\_ferry%' ORDER BY 1;")
            .split(separator: "\n").map(String.init)
    }

    /// The target holds the user's row again and nothing of Ferry's is left.
    func expectAsBefore(_ s: MySQLWritesDuringRunTests.Setup, _ text: String) throws {
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "\(text)")
        #expect(try writes.schemas(s).allSatisfy { !$0.contains("__ferry_") }, "nothing of Ferry's is left: \(writes.names(s))")
    }

    /// The tester's case: killed after the first table is made and listed; the application then
    /// makes the other table (with a row), the procedure and the view in the shadow.
    @Test func whatAnApplicationMakesInAKilledCopysShadowUnderNamesNotMadeYetIsKept() throws {
        let (s, b, source) = try setUp()
        defer { writes.tearDown(s); _ = try? cli.sql(s.project, b, "DROP DATABASE IF EXISTS `\(source)`;") }
        let shadow = try killedCopy(s, at: "change:mysql.copy.tableListed#1")
        let made = try tables(s, in: shadow)
        #expect(made.filter { $0 != "sq" }.count == 1 && made.contains("sq"), "the sequence and one table made before the kill: \(made)")
        let missing = try #require(["t", "t2"].first { !made.contains($0) })
        try cli.sql(s.project, s.server, """
        CREATE TABLE `\(shadow)`.`\(missing)` (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO `\(shadow)`.`\(missing)` VALUES (1, 'app-row');
        CREATE PROCEDURE `\(shadow)`.pr() SELECT 77;
        CREATE VIEW `\(shadow)`.vt AS SELECT 5 AS i;
        """)
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 4, "\(recovered.all)")
        #expect(recovered.all.contains(shadow) && recovered.all.contains("`\(missing)`"), "the left shadow is named with what it holds: \(recovered.all)")
        #expect(!recovered.all.contains("as they were"), "\(recovered.all)")
        #expect(try cli.sql(s.project, s.server, "SELECT v FROM `\(shadow)`.`\(missing)`; SELECT i FROM `\(shadow)`.vt;") == "app-row\n5\n",
                "the application's table with its row and its view are still there")
        #expect(try cli.sql(s.project, s.server, "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '\(shadow)' AND ROUTINE_NAME = 'pr' AND ROUTINE_DEFINITION LIKE '%77%';") == "1\n",
                "the application's procedure is still there")
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "the target is as before")
        try cli.sql(s.project, s.server, "DROP TABLE `\(shadow)`.`\(missing)`; DROP PROCEDURE `\(shadow)`.pr; DROP VIEW `\(shadow)`.vt;")
        let again = try s.project.run("recover")
        #expect(again.code == 0, "\(again.all)")
        try expectAsBefore(s, again.all)
    }

    /// The same kill with no application: recover finishes, "as they were", nothing left over.
    @Test(arguments: ["change:mysql.copy.listed#1", "change:mysql.copy.tableListed#1", "change:mysql.copy.tableListed#2", "after-stepDone#1"])
    func aPlainKilledCopyRecoversAsItWas(_ point: String) throws {
        let (s, b, source) = try setUp()
        defer { writes.tearDown(s); _ = try? cli.sql(s.project, b, "DROP DATABASE IF EXISTS `\(source)`;") }
        _ = try killedCopy(s, at: point)
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0 && recovered.all.contains("as they were"), "\(point): \(recovered.all)")
        try expectAsBefore(s, recovered.all)
    }

    /// Rounds 46 and 47, M3: killed between a CREATE and its listing (the sequence, a table, the
    /// procedure, the trigger), `ferry recover` kept the shadow for good ("which Ferry did not
    /// make") and every plan was blocked until it was dropped by hand. Each name is now listed as
    /// about to be made before its CREATE: that object, holding no row, is proved the run's, and
    /// recover finishes "as they were".
    @Test(arguments: ["change:mysql.copy.sequenceCreated#1", "change:mysql.copy.tableCreated#1", "change:mysql.copy.tableCreated#2",
                      "change:mysql.copy.objectCreated#1", "change:mysql.copy.objectCreated#3", "change:mysql.copy.tablePending#2"])
    func aKillBetweenACreateAndItsListingRecoversAsItWas(_ point: String) throws {
        let (s, b, source) = try setUp()
        defer { writes.tearDown(s); _ = try? cli.sql(s.project, b, "DROP DATABASE IF EXISTS `\(source)`;") }
        let shadow = try killedCopy(s, at: point)
        if point.contains("tableCreated#1") {
            // The table just made is listed as about to be made only.
            let listed = try builtList(s, shadow)
            let made = try #require(try tables(s, in: shadow).first { $0 != "sq" })
            #expect(listed.contains { $0.hasPrefix("PENDING ") && $0.hasSuffix(" BASE TABLE \(made)") } && !listed.contains("TABLE \(made)"),
                    "\(made) listed as about to be made only: \(listed)")
        }
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0 && recovered.all.contains("as they were"), "\(point): \(recovered.all)")
        try expectAsBefore(s, recovered.all)
    }

    /// The entries of `shadow`'s list of what the run made.
    func builtList(_ s: MySQLWritesDuringRunTests.Setup, _ shadow: String) throws -> [String] {
        let list = try cli.sql(s.project, s.server, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(shadow)' AND TABLE_NAME LIKE '\\_\\_ferry\\_built%';")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return try cli.sql(s.project, s.server, "SELECT entry FROM `\(shadow)`.`\(list)`;").split(separator: "\n").map(String.init)
    }

    /// `ferry recover` leaves `shadow`, naming it and `named` (exit 4, never "as they were"),
    /// with `check` still giving `expected` there and the target as before; once `remove` (SQL
    /// run by hand, `SH.` for the shadow) takes away what is someone else's, it finishes.
    func expectLeftUntilRemoved(_ s: MySQLWritesDuringRunTests.Setup, _ shadow: String, named: String, check: String, expected: String,
                                remove: String, _ label: String, leftOnRecover: Bool = false) throws {
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 4 && recovered.all.contains(shadow) && recovered.all.contains(named), "\(label): \(recovered.all)")
        #expect(!recovered.all.contains("as they were"), "\(label): \(recovered.all)")
        #expect(try cli.sql(s.project, s.server, check.replacingOccurrences(of: "SH.", with: "`\(shadow)`.")) == expected, "\(label): what is someone else's is kept")
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "the target is as before")
        if leftOnRecover {
            let again = try s.project.run("recover")
            #expect(again.code == 4 && again.all.contains(shadow), "\(label): every later pass leaves it: \(again.all)")
            #expect(try cli.sql(s.project, s.server, check.replacingOccurrences(of: "SH.", with: "`\(shadow)`.")) == expected, "\(label): still kept")
        }
        try cli.sql(s.project, s.server, remove.replacingOccurrences(of: "SH.", with: "`\(shadow)`."))
        let again = try s.project.run("recover")
        #expect(again.code == 0, "\(label): \(again.all)")
        try expectAsBefore(s, again.all)
    }

    /// The base table the dead run's list names as about to be made (`PENDING <time> BASE TABLE
    /// name`).
    func pendingTable(_ s: MySQLWritesDuringRunTests.Setup, _ shadow: String) throws -> String {
        let marker = " BASE TABLE "
        let list = try builtList(s, shadow)
        let entry = try #require(list.first { $0.hasPrefix("PENDING ") && $0.contains(marker) }, "\(list)")
        return String(entry[entry.range(of: marker)!.upperBound...])
    }

    /// Fresh tester round 49, F2: an entry of a table about to be made proved any empty object of
    /// that name, so a view an application made there after the kill went with the shadow
    /// (named nowhere, "as they were"). It proves only an object of its kind made within
    /// seconds of it: a view, and a table made later, are someone else's, kept and named.
    @Test(arguments: ["a view", "a table made later"])
    func anObjectOfAnotherKindOrMadeLaterUnderAPendingNameIsKept(_ what: String) throws {
        let (s, b, source) = try setUp()
        defer { writes.tearDown(s); _ = try? cli.sql(s.project, b, "DROP DATABASE IF EXISTS `\(source)`;") }
        let shadow = try killedCopy(s, at: "change:mysql.copy.tablePending#1")
        let name = try pendingTable(s, shadow)
        if what == "a view" {
            try cli.sql(s.project, s.server, "CREATE VIEW `\(shadow)`.`\(name)` AS SELECT 'my app view' AS v;")
        } else {
            Thread.sleep(forTimeInterval: Double(11))   // past the seconds within which the copy's CREATE follows its entry
            try cli.sql(s.project, s.server, "CREATE TABLE `\(shadow)`.`\(name)` (id INT PRIMARY KEY, v VARCHAR(20));")
        }
        try expectLeftUntilRemoved(s, shadow, named: "`\(name)`",
                                   check: "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(shadow)' AND TABLE_NAME = '\(name)';", expected: "1\n",
                                   remove: "DROP \(what == "a view" ? "VIEW" : "TABLE") SH.`\(name)`;", what)
    }

    /// Fresh tester round 49, F1: a row an application wrote into a dead run's shadow in a
    /// transaction still open while `ferry recover` checked the shadow (a table the copy had
    /// made but not listed, or one of a verified shadow) was not seen by the checks; the `DROP
    /// DATABASE` then waited for that transaction and dropped the row it committed, and the
    /// recover said "as they were". The tables are now dropped under a lock that waits for open
    /// transactions, and only when none was written since the checks began: the row is kept
    /// and named (exit 4), and the shadow stays so for every later pass (round 51, F2: the
    /// same recover's clean-up of the run's leftovers dropped it, the build's own table, listed
    /// and holding no row yet, taking the row for the build's); once the user drops it,
    /// recover finishes.
    @Test(arguments: ["change:mysql.copy.tableCreated#1", "change:mysql.copy.tableListed#1", "after-stepDone#3"])
    func aRowCommittedWhileRecoverChecksTheShadowIsNeverDropped(_ point: String) throws {
        let (s, b, source) = try setUp()
        defer { writes.tearDown(s); _ = try? cli.sql(s.project, b, "DROP DATABASE IF EXISTS `\(source)`;") }
        let shadow = try killedCopy(s, at: point)
        let made = try tables(s, in: shadow)
        let table = try #require(made.first { $0 == "t" || $0 == "t2" }, "\(made)")
        let app = try writes.startClient(s, "BEGIN; INSERT INTO `\(shadow)`.`\(table)` (id, v) VALUES (9, 'app-row'); SELECT SLEEP(3); COMMIT;")
        defer { if app.isRunning { app.terminate() } }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, try cli.sql(s.project, s.server, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(3)';") == "0\n" {
            Thread.sleep(forTimeInterval: 0.05)
        }
        // The recover's checks run while the row is not committed yet; its drop waits for it.
        // (A verified shadow's rows are read under the drop's hold against its verify's token.)
        let words = point.hasPrefix("after-stepDone") ? "holds writes Ferry did not make" : "was written while Ferry checked"
        try expectLeftUntilRemoved(s, shadow, named: words,
                                   check: "SELECT v FROM SH.`\(table)` WHERE id = 9;", expected: "app-row\n",
                                   remove: "DROP DATABASE `\(shadow)`;", point, leftOnRecover: true)
        app.waitUntilExit()
    }

    /// Fresh tester round 51, F1: a view, procedure, event or trigger an application made in a
    /// run schema while the drop's lock waited for an open transaction went with the schema,
    /// and the run said "as they were". The objects are compared under the lock as well.
    /// Round 52, F2: an `ALTER TABLE` that keeps the rows' checksum (a column without a default)
    /// made then, too.
    @Test(arguments: ["CREATE VIEW SH.appview AS SELECT 1 AS x;", "CREATE PROCEDURE SH.appproc() SELECT 77;",
                      "CREATE EVENT SH.appev ON SCHEDULE EVERY 1 DAY DISABLE DO SELECT 1;", "ALTER TABLE SH.t2 ADD COLUMN appcol INT;",
                      "CREATE TABLE SH.apptab (x INT);"])
    func anObjectMadeWhileTheDropWaitsIsNeverDropped(_ make: String) throws {
        let (s, b, source) = try setUp()
        defer { writes.tearDown(s); _ = try? cli.sql(s.project, b, "DROP DATABASE IF EXISTS `\(source)`;") }
        let shadow = try killedCopy(s, at: "after-stepDone#3")
        let app = try writes.startClient(s, "BEGIN; SELECT COUNT(*) FROM `\(shadow)`.t; SELECT SLEEP(4); COMMIT;")
        defer { if app.isRunning { app.terminate() } }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, try cli.sql(s.project, s.server, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(4)';") == "0\n" {
            Thread.sleep(forTimeInterval: 0.05)
        }
        let output = s.project.root + "/recover-wait.out"
        FileManager.default.createFile(atPath: output, contents: nil)
        let recover = try s.project.start(["recover"], stdout: try #require(FileHandle(forWritingAtPath: output)))
        defer { if recover.isRunning { writes.killed(recover) } }
        // Made once the recover's drop waits for the transaction.
        let waiting = Date().addingTimeInterval(30)
        while Date() < waiting, try cli.sql(s.project, s.server, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'LOCK TABLES %' AND STATE = 'Waiting for table metadata lock';") == "0\n" {
            Thread.sleep(forTimeInterval: 0.05)
        }
        try cli.sql(s.project, s.server, make.replacingOccurrences(of: "SH.", with: "`\(shadow)`."))
        recover.waitUntilExit()
        app.waitUntilExit()
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect(recover.terminationStatus == 4 && text.contains("was written while Ferry checked") && !text.contains("as they were"), "\(make): \(text)")
        let name = make.hasPrefix("ALTER") ? "appcol" : make.split(separator: " ")[2].replacingOccurrences(of: "SH.", with: "").split(separator: "(")[0]
        let kept = try cli.sql(s.project, s.server, """
            SELECT (SELECT COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '\(shadow)' AND TABLE_NAME = '\(name)')
                 + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '\(shadow)' AND ROUTINE_NAME = '\(name)')
                 + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '\(shadow)' AND EVENT_NAME = '\(name)')
                 + (SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '\(shadow)' AND COLUMN_NAME = '\(name)')
                 + (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(shadow)' AND TABLE_NAME = '\(name)' AND TABLE_TYPE = 'BASE TABLE');
            """)
        // (Round 56, L1: a table made then was named through an `Internal` error, 1100.)
        #expect(!text.contains("Internal") && !text.contains("(1100)"), "\(make): \(text)")
        #expect(kept == "1\n", "the application's \(name) is kept")
        let again = try s.project.run("recover")
        #expect(again.code == 4 && again.all.contains("noted in it then"), "every later pass leaves it: \(again.all)")
        try cli.sql(s.project, s.server, "DROP DATABASE `\(shadow)`;")
        let finished = try s.project.run("recover")
        #expect(finished.code == 0, "\(finished.all)")
        try expectAsBefore(s, finished.all)
    }

    /// Fresh tester round 49, F3: after a shadow's verify recorded its token, an application's
    /// `CREATE OR REPLACE` of the run's view or procedure, or an `ALTER TABLE` that keeps the
    /// rows, went with the shadow (its drop compared the rows only), and the recover said "as
    /// they were". The drop now compares a listed shadow's definitions with what its build left:
    /// the verify's read, and the finish's once it added the keys (the source has a secondary
    /// key here, so the copy's finish alters the shadow's table beside the verify). Untouched,
    /// the same shadow still goes ("as they were").
    @Test(arguments: ["", "CREATE OR REPLACE VIEW SH.vt AS SELECT 'app' AS id;", "CREATE OR REPLACE PROCEDURE SH.pr() SELECT 'app';",
                      "ALTER TABLE SH.t2 ADD COLUMN appcol VARCHAR(9) DEFAULT 'app';", "ALTER TABLE SH.t2 COMMENT 'app';"])
    func aDefinitionChangedInAVerifiedShadowIsNeverDropped(_ make: String) throws {
        let (s, b, source) = try setUp()
        defer { writes.tearDown(s); _ = try? cli.sql(s.project, b, "DROP DATABASE IF EXISTS `\(source)`;") }
        try cli.sql(s.project, b, "CREATE INDEX iv ON `\(source)`.t2 (v);")
        let shadow = try killedCopy(s, at: "after-stepDone#3")
        let keys = try cli.sql(s.project, s.server, "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '\(shadow)' AND INDEX_NAME = 'iv';")
        #expect(keys == "1\n", "the finish added the key before the kill: \(keys)")
        guard !make.isEmpty else {
            let recovered = try s.project.run("recover")
            #expect(recovered.code == 0 && recovered.all.contains("as they were"), "\(recovered.all)")
            try expectAsBefore(s, recovered.all)
            return
        }
        try cli.sql(s.project, s.server, make.replacingOccurrences(of: "SH.", with: "`\(shadow)`."))
        let check = make.contains("VIEW") ? "SELECT id FROM SH.vt;" : make.contains("PROCEDURE") ? "CALL SH.pr();"
            : make.contains("COMMENT") ? "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_COMMENT = 'app' AND TABLE_NAME = 't2' AND TABLE_SCHEMA = '\(shadow)';"
            : "SELECT DISTINCT appcol FROM SH.t2;"
        try expectLeftUntilRemoved(s, shadow, named: "holds definitions Ferry did not make", check: check,
                                   expected: make.contains("COMMENT") ? "1\n" : "app\n", remove: "DROP DATABASE `\(shadow)`;", make, leftOnRecover: true)
    }

    /// What is listed as about to be made proves only an object that holds nothing: a table of
    /// that name holding a row (one the application made in the dead run's shadow before the
    /// copy's CREATE was sent, or a row written into the table the copy made) is someone else's,
    /// kept and named (exit 4, never "as they were"); once it is dropped, recover finishes.
    @Test(arguments: ["made", "written"])
    func aTableOfANameAboutToBeMadeHoldingARowIsKept(_ how: String) throws {
        let (s, b, source) = try setUp()
        defer { writes.tearDown(s); _ = try? cli.sql(s.project, b, "DROP DATABASE IF EXISTS `\(source)`;") }
        let shadow = try killedCopy(s, at: how == "made" ? "change:mysql.copy.tablePending#1" : "change:mysql.copy.tableCreated#1")
        let name = try pendingTable(s, shadow)
        let made = try tables(s, in: shadow)
        #expect(made.contains(name) == (how == "written"), "\(name) made by the copy only when killed after its CREATE: \(made)")
        if how == "made" {
            try cli.sql(s.project, s.server, "CREATE TABLE `\(shadow)`.`\(name)` (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO `\(shadow)`.`\(name)` VALUES (9, 'app-row');")
        } else {
            try cli.sql(s.project, s.server, "INSERT INTO `\(shadow)`.`\(name)` (id, v) VALUES (9, 'app-row');")
        }
        try expectLeftUntilRemoved(s, shadow, named: "`\(name)`", check: "SELECT v FROM SH.`\(name)`;", expected: "app-row\n",
                                   remove: "DROP TABLE SH.`\(name)`;", how)
    }

    /// Fresh tester round 29, F6: a shadow carries its run's mark (`ferry:run:<tag>`, its schema
    /// comment); a user's database made empty at a killed run's shadow name after the kill (no
    /// comment, or a comment of its own) is not the run's: recover leaves it and names it (exit
    /// 4, never "as they were"), and finishes once the user dropped it. The run's own marked
    /// shadow, empty or not, is removed.
    @Test(arguments: ["", " COMMENT 'mine'", " COMMENT 'ferry:run:x'"])
    func aUsersEmptyDatabaseMadeAtAKilledRunsShadowNameIsKept(_ comment: String) throws {
        let (s, b, source) = try setUp()
        defer { writes.tearDown(s); _ = try? cli.sql(s.project, b, "DROP DATABASE IF EXISTS `\(source)`;") }
        let shadow = try killedCopy(s, at: "change:mysql.copy.tableListed#1")
        let mark = try cli.sql(s.project, s.server, "SELECT SCHEMA_COMMENT FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '\(shadow)';")
        #expect(mark.hasPrefix("ferry:run:") && shadow.hasSuffix(String(mark.dropFirst("ferry:run:".count).dropLast())), "the shadow names its run: \(mark)")
        try cli.sql(s.project, s.server, "DROP DATABASE `\(shadow)`; CREATE DATABASE `\(shadow)`\(comment);")
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 4 && recovered.all.contains(shadow) && recovered.all.contains("lacks the mark"), "\(recovered.all)")
        #expect(!recovered.all.contains("as they were"), "\(recovered.all)")
        #expect(try writes.schemas(s).contains(shadow), "the user's empty database is kept: \(writes.names(s))")
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "the target is as before")
        try cli.sql(s.project, s.server, "DROP DATABASE `\(shadow)`;")
        let finished = try s.project.run("recover")
        #expect(finished.code == 0, "once the user dropped it, recover finishes: \(finished.all)")
        try expectAsBefore(s, finished.all)
        // Not touched, the run's own empty shadow goes.
        try cli.sql(s.project, b, "DELETE FROM `\(source)`.t2;")
        let second = try killedCopy(s, at: "change:mysql.copy.listed#1")
        let secondTables = try tables(s, in: second)
        #expect(secondTables == [], "killed before any table: \(secondTables)")
        let again = try s.project.run("recover")
        #expect(again.code == 0, "\(again.all)")
        try expectAsBefore(s, again.all)
    }
}
