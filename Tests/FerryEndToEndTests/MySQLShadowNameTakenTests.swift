import Foundation
import Testing

/// An application's object made in an import's or copy's shadow under a name the build itself
/// makes or drops (fresh tester W6-1, W6-2), or made there after the swap's check of the shadow
/// (W6-3). The build counts an object as its own only when its own statement made it: such an
/// object stops the step (exit 4), stays in the shadow with what it holds, the shadow is left and
/// named, the target is as before; once the object is gone `ferry recover` ends the run.
@Suite(.serialized) struct MySQLShadowNameTakenTests {
    let cli = MySQLCLITests()
    let writes = MySQLWritesDuringRunTests()
    let killed = MySQLKilledSwapTests()

    /// The file's statements after its sleep (`tail`), what the application makes in the shadow
    /// (`SH.`) during the sleep, how to read it back there (`SHNAME`: the shadow's name), and how
    /// to drop it by hand. `name`: the object's name as Ferry's message quotes it.
    struct Taken: CustomTestStringConvertible, Sendable {
        var label: String
        var tail: String
        var app: String
        var check: String
        var expected: String
        var drop: String
        var name: String
        var testDescription: String { label }
    }

    static let tableB = (app: "CREATE TABLE SH.b (i INT, app INT); INSERT INTO SH.b VALUES (1, 42);", check: "SELECT app FROM SH.b;")
    static let emptyB = (app: "CREATE TABLE SH.b (i INT, app INT);",
                         check: "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'SHNAME' AND TABLE_NAME = 'b' AND COLUMN_NAME = 'app';")
    static let procedure = (app: "CREATE PROCEDURE SH.p() SELECT 77;",
                            check: "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'SHNAME' AND ROUTINE_NAME = 'p' AND ROUTINE_DEFINITION LIKE '%77%';")
    static let trigger = (app: "CREATE TRIGGER SH.tg BEFORE INSERT ON SH.o FOR EACH ROW SET NEW.i = 77;",
                          check: "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'SHNAME' AND TRIGGER_NAME = 'tg' AND ACTION_STATEMENT LIKE '%77%';")
    static let event = (app: "CREATE EVENT SH.ev ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM SH.o WHERE i = 77;",
                        check: "SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = 'SHNAME' AND EVENT_NAME = 'ev' AND EVENT_DEFINITION LIKE '%77%';")

    static let taken: [Taken] = [
        .init(label: "a table the file creates", tail: "CREATE TABLE b (i INT);\nINSERT INTO b VALUES (1);\n",
              app: tableB.app, check: tableB.check, expected: "42\n", drop: "DROP TABLE SH.b;", name: "`b`"),
        .init(label: "a table the file creates IF NOT EXISTS", tail: "CREATE TABLE IF NOT EXISTS b (i INT, app INT);\nINSERT INTO b VALUES (1, 0);\n",
              app: tableB.app, check: "SELECT GROUP_CONCAT(app) FROM SH.b;", expected: "42\n", drop: "DROP TABLE SH.b;", name: "`b`"),
        .init(label: "an empty table the file creates IF NOT EXISTS", tail: "CREATE TABLE IF NOT EXISTS b (i INT, app INT);\nINSERT INTO b VALUES (1, 0);\n",
              app: emptyB.app, check: "SELECT COUNT(*) FROM SH.b;", expected: "0\n", drop: "DROP TABLE SH.b;", name: "`b`"),
        .init(label: "a table the file drops IF EXISTS", tail: "DROP TABLE IF EXISTS b;\nCREATE TABLE b (i INT);\nINSERT INTO b VALUES (1);\n",
              app: tableB.app, check: tableB.check, expected: "42\n", drop: "DROP TABLE SH.b;", name: "`b`"),
        .init(label: "an empty table the file drops IF EXISTS", tail: "DROP TABLE IF EXISTS `b`;\nCREATE TABLE `b` (i INT);\n",
              app: emptyB.app, check: emptyB.check, expected: "1\n", drop: "DROP TABLE SH.b;", name: "`b`"),
        .init(label: "a procedure the file creates", tail: "CREATE PROCEDURE p() SELECT 1;\n",
              app: procedure.app, check: procedure.check, expected: "1\n", drop: "DROP PROCEDURE SH.p;", name: "`p`"),
        .init(label: "a procedure the file drops IF EXISTS", tail: "DROP PROCEDURE IF EXISTS p;\nCREATE PROCEDURE p() SELECT 1;\n",
              app: procedure.app, check: procedure.check, expected: "1\n", drop: "DROP PROCEDURE SH.p;", name: "`p`"),
        .init(label: "a view the file creates", tail: "CREATE VIEW v AS SELECT 1 AS i;\n",
              app: "CREATE VIEW SH.v AS SELECT 5 AS i;", check: "SELECT i FROM SH.v;", expected: "5\n", drop: "DROP VIEW SH.v;", name: "`v`"),
        .init(label: "a view mysqldump drops and creates", tail: "/*!50001 DROP VIEW IF EXISTS `v`*/;\n/*!50001 CREATE VIEW `v` AS SELECT 1 AS `i` */;\n",
              app: "CREATE VIEW SH.v AS SELECT 5 AS i;", check: "SELECT i FROM SH.v;", expected: "5\n", drop: "DROP VIEW SH.v;", name: "`v`"),
        .init(label: "a trigger the file creates", tail: "CREATE TRIGGER tg BEFORE INSERT ON o FOR EACH ROW SET NEW.i = NEW.i;\n",
              app: trigger.app, check: trigger.check, expected: "1\n", drop: "DROP TRIGGER SH.tg;", name: "`tg`"),
        .init(label: "a trigger the file drops IF EXISTS", tail: "DROP TRIGGER IF EXISTS tg;\nCREATE TRIGGER tg BEFORE INSERT ON o FOR EACH ROW SET NEW.i = NEW.i;\n",
              app: trigger.app, check: trigger.check, expected: "1\n", drop: "DROP TRIGGER SH.tg;", name: "`tg`"),
        .init(label: "an event the file creates", tail: "CREATE EVENT ev ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM o;\n",
              app: event.app, check: event.check, expected: "1\n", drop: "DROP EVENT SH.ev;", name: "`ev`"),
        .init(label: "an event the file creates IF NOT EXISTS", tail: "CREATE EVENT IF NOT EXISTS ev ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM o;\n",
              app: event.app, check: event.check, expected: "1\n", drop: "DROP EVENT SH.ev;", name: "`ev`"),
        .init(label: "an event the file drops IF EXISTS", tail: "DROP EVENT IF EXISTS ev;\nCREATE EVENT ev ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM o;\n",
              app: event.app, check: event.check, expected: "1\n", drop: "DROP EVENT SH.ev;", name: "`ev`"),
    ]

    /// The shadow of the plan's first import (`TAG_t__ferry_s_...`) once it holds table `o`.
    func shadowWithO(_ s: MySQLWritesDuringRunTests.Setup, _ run: Process) throws -> String? {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, run.isRunning {
            if let name = try cli.sql(s.project, s.server, "SELECT TABLE_SCHEMA FROM information_schema.TABLES WHERE TABLE_SCHEMA LIKE '\(s.target)\\_\\_ferry\\_s\\_%' AND TABLE_NAME = 'o';")
                .split(separator: "\n").first.map(String.init) { return name }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return nil
    }

    /// The run ended exit 4 naming the shadow and the object; the object is in the shadow as the
    /// application made it; the target is as before; once the object is dropped by hand,
    /// `ferry recover` drops the shadow (it holds nothing else of anyone's) and ends the run.
    func expectLeft(_ s: MySQLWritesDuringRunTests.Setup, _ taken: Taken, shadow name: String, code: Int32, text: String, targetExisted: Bool,
                    target: String = "1\tuser-original\n") throws {
        #expect(code == 4, "\(taken.label): \(text)")
        #expect(text.contains(name) && text.contains(taken.name), "the shadow and the object are named: \(text)")
        #expect(!text.contains("as they were") && !text.contains("Apply complete"), "\(text)")
        let check = taken.check.replacingOccurrences(of: "SH.", with: "`\(name)`.").replacingOccurrences(of: "SHNAME", with: name)
        #expect(try cli.sql(s.project, s.server, check) == taken.expected, "\(taken.label): the application's object stays in the shadow as it made it")
        if targetExisted {
            #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == target, "the target is as before")
        } else {
            #expect(try !writes.schemas(s).contains(s.target), "the target that did not exist is not made: \(writes.names(s))")
        }
        try cli.sql(s.project, s.server, taken.drop.replacingOccurrences(of: "SH.", with: "`\(name)`."))
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        #expect(try writes.schemas(s).allSatisfy { !$0.contains("__ferry_") }, "\(writes.names(s))")
    }

    func useAppend(_ s: MySQLWritesDuringRunTests.Setup) throws {
        let plan = try String(contentsOfFile: s.project.root + "/plans/main.json", encoding: .utf8)
        try s.project.write("plans/main.json", plan.replacingOccurrences(of: #""from": "data/a.sql", "onExisting": "replace""#, with: #""from": "data/a.sql", "onExisting": "append""#))
    }

    /// W6-1, W6-2: the application makes the object while the file sleeps, before the file's
    /// statement that creates or drops that name. `how`: "replace", "new" (no target before),
    /// "append" (the shadow starts as a clone of the target).
    func runSleeping(_ taken: Taken, _ how: String) throws {
        let s = try writes.setUp(failingSecond: false)
        defer { writes.tearDown(s) }
        if how == "new" { try cli.sql(s.project, s.server, "DROP DATABASE `\(s.target)`;") }
        if how == "append" {
            try useAppend(s)
            try s.project.write("plans/data/a.sql", "CREATE TABLE o (i INT);\nINSERT INTO t VALUES (3, SLEEP(3));\n" + taken.tail)
        } else {
            try s.project.write("plans/data/a.sql", "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20));\nINSERT INTO t VALUES (1, 'from-file');\nCREATE TABLE o (i INT);\nINSERT INTO t VALUES (2, SLEEP(3));\n" + taken.tail)
        }
        let (run, output) = try killed.start(s, ["apply", "--auto-approve", "--parallelism", "1"])
        let name = try #require(try shadowWithO(s, run), "the import's shadow gets table o")
        Thread.sleep(forTimeInterval: 0.3)
        try cli.sql(s.project, s.server, taken.app.replacingOccurrences(of: "SH.", with: "`\(name)`."))
        run.waitUntilExit()
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        try expectLeft(s, taken, shadow: name, code: run.terminationStatus, text: text, targetExisted: how != "new")
    }

    @Test(arguments: taken) func anObjectUnderANameTheImportMakesOrDropsStopsItAndStaysInTheShadow(_ taken: Taken) throws {
        try runSleeping(taken, "replace")
    }

    /// The file's `DROP TABLE IF EXISTS v` of its own view leaves it (the server's note 1965):
    /// the view stays the build's, and the file's `DROP VIEW` and `CREATE VIEW` after it go on.
    @Test func aDropOfTheWrongKindLeavesTheBuildsObjectListed() throws {
        let s = try writes.setUp(failingSecond: false)
        defer { writes.tearDown(s) }
        try s.project.write("plans/data/a.sql", "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20));\nINSERT INTO t VALUES (1, 'from-file');\nCREATE VIEW v AS SELECT 1 AS i;\nDROP TABLE IF EXISTS v;\nDROP VIEW IF EXISTS v;\nCREATE VIEW v AS SELECT id AS i FROM t;\n")
        let result = try s.project.run("apply", "--auto-approve")
        #expect(result.code == 0, "\(result.all)")
        #expect(try writes.sql(s, "SELECT i FROM DB.v;") == "1\n")
        #expect(try writes.schemas(s).allSatisfy { !$0.contains("__ferry_s_") }, "\(writes.names(s))")
    }

    @Test(arguments: [taken[0], taken[2], taken[3], taken[6], taken[8]], ["new", "append"])
    func theSameIntoANewTargetAndAnAppend(_ taken: Taken, _ how: String) throws {
        try runSleeping(taken, how)
    }

    // MARK: Copies

    /// Server B holds `TAG_src` (table `t` with 3 rows, view `vt`, procedure `pr`); the plan
    /// copies it over `TAG_t` on A (replace).
    func copySetUp() throws -> (MySQLWritesDuringRunTests.Setup, MySQLCLITests.Server, String) {
        let s = try writes.setUp(failingSecond: false)
        let b = try cli.server("FERRY_TEST_MYSQL_B")
        let source = "\(s.tag)_src"
        try cli.sql(s.project, b, """
        DROP DATABASE IF EXISTS `\(source)`; CREATE DATABASE `\(source)`;
        CREATE TABLE `\(source)`.t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO `\(source)`.t VALUES (1, 'c1'), (2, 'c2'), (3, 'c3');
        CREATE VIEW `\(source)`.vt AS SELECT id FROM `\(source)`.t;
        CREATE PROCEDURE `\(source)`.pr() SELECT 1;
        """)
        try s.project.write("plans/main.json", """
        { "ferry": 1,
          "instances": { "a": { "engine": "mysql", "url": "\(s.server.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } },
                         "b": { "engine": "mysql", "url": "\(b.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
          "copies": { "c": { "from": "b", "to": "a", "databases": { "\(source)": "\(s.target)" }, "onExisting": "replace" } } }
        """)
        return (s, b, source)
    }

    static let copyTaken: [(point: String, taken: Taken)] = [
        // Made before the copy lists what it makes.
        ("change:mysql.copy.listing#1", .init(label: "a table before the copy lists", tail: "", app: "CREATE TABLE SH.t (i INT, app INT); INSERT INTO SH.t VALUES (1, 46);",
                                        check: "SELECT app FROM SH.t;", expected: "46\n", drop: "DROP TABLE SH.t;", name: "`t`")),
        ("change:mysql.copy.listing#1", .init(label: "a procedure before the copy lists", tail: "", app: "CREATE PROCEDURE SH.pr() SELECT 77;",
                                        check: procedure.check.replacingOccurrences(of: "'p'", with: "'pr'"), expected: "1\n", drop: "DROP PROCEDURE SH.pr;", name: "`pr`")),
        // Made after the list, before the copy's CREATE.
        ("change:mysql.copy.listed#1", .init(label: "a table after the copy listed it", tail: "", app: "CREATE TABLE SH.t (i INT, app INT); INSERT INTO SH.t VALUES (1, 46);",
                                             check: "SELECT app FROM SH.t;", expected: "46\n", drop: "DROP TABLE SH.t;", name: "`t`")),
        ("change:mysql.copy.objectsListed#1", .init(label: "a view after the copy listed it", tail: "", app: "CREATE VIEW SH.vt AS SELECT 5 AS i;",
                                                    check: "SELECT i FROM SH.vt;", expected: "5\n", drop: "DROP VIEW SH.vt;", name: "`vt`")),
        ("change:mysql.copy.objectsListed#1", .init(label: "a procedure after the copy listed it", tail: "", app: "CREATE PROCEDURE SH.pr() SELECT 77;",
                                                    check: procedure.check.replacingOccurrences(of: "'p'", with: "'pr'"), expected: "1\n", drop: "DROP PROCEDURE SH.pr;", name: "`pr`")),
    ]

    // Disabled once (in two full runs one case found the copy's own object already in the shadow
    // at its stop point): the stop point's SIGSTOP went to the process, and the copy's thread ran
    // on to its next system call. Stop points now stop their own thread (`KillPoint`).
    @Test(arguments: copyTaken.indices)
    func anObjectUnderANameTheCopyMakesStopsItAndStaysInTheShadow(_ i: Int) throws {
        let (point, taken) = Self.copyTaken[i]
        let (s, b, source) = try copySetUp()
        defer { writes.tearDown(s); _ = try? cli.sql(s.project, b, "DROP DATABASE IF EXISTS `\(source)`;") }
        let (run, output) = try writes.startStopped(s, at: point)
        defer { if run.isRunning { writes.killed(run) } }
        let name = try #require(try writes.schemas(s).first { $0.hasPrefix("\(s.target)__ferry_s_") })
        try cli.sql(s.project, s.server, taken.app.replacingOccurrences(of: "SH.", with: "`\(name)`."))
        let (code, text) = writes.resume(run, output)
        try expectLeft(s, taken, shadow: name, code: code, text: text, targetExisted: true)
    }

    /// W7-6: an application's sequence is named a sequence (not "table or view").
    @Test func anApplicationsSequenceIsNamedASequence() throws {
        try runSleeping(.init(label: "a sequence the file creates", tail: "CREATE SEQUENCE s;\n",
                              app: "CREATE SEQUENCE SH.s START WITH 77;", check: "SELECT start_value FROM SH.s;", expected: "77\n",
                              drop: "DROP SEQUENCE SH.s;", name: "sequence `s`"), "replace")
    }

    /// W7-5: any refused swap of an import is the import's error (`ImportError`), not a copy's:
    /// here a foreign key from another database onto the target's table, made after the plan
    /// and before the swap (the swap re-checks it, nothing renamed).
    @Test func anImportsRefusedSwapIsAnImportError() throws {
        let s = try writes.setUp(failingSecond: false)
        defer { writes.tearDown(s) }
        defer { _ = try? cli.sql(s.project, s.server, "DROP DATABASE IF EXISTS `\(s.tag)_fk`;") }
        try s.project.write("plans/data/a.sql", "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20));\nINSERT INTO t VALUES (1, 'c1');\n")
        let (run, output) = try writes.startStopped(s, at: "after-swapBegun#1")
        defer { if run.isRunning { writes.killed(run) } }
        try cli.sql(s.project, s.server, "CREATE DATABASE `\(s.tag)_fk`; CREATE TABLE `\(s.tag)_fk`.fk (id INT, FOREIGN KEY (id) REFERENCES `\(s.target)`.t (id)) ENGINE=InnoDB;")
        let (code, text) = writes.resume(run, output)
        #expect(code != 0 && text.contains("error[ImportError]: cannot swap") && !text.contains("CopyError"), "\(text)")
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "the target is as before: \(text)")
    }

    // MARK: W6-3: made after the swap's check

    /// An import (`kind` "import") or a copy ("copy") into the setup's target whose build makes
    /// table `t` with three rows; `cleanup` drops the copy's source.
    func importOrCopySetUp(_ kind: String) throws -> (MySQLWritesDuringRunTests.Setup, () -> Void) {
        if kind == "copy" {
            let (setup, b, source) = try copySetUp()
            return (setup, { _ = try? cli.sql(setup.project, b, "DROP DATABASE IF EXISTS `\(source)`;") })
        }
        let s = try writes.setUp(failingSecond: false)
        try s.project.write("plans/data/a.sql", "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20));\nINSERT INTO t VALUES (1, 'c1'), (2, 'c2'), (3, 'c3');\n")
        return (s, {})
    }

    /// W7-5: a trigger made on a shadow's table after the swap's check: MariaDB refuses the
    /// swap's RENAME ("Trigger in wrong schema", 1435); the swap names the application's trigger
    /// as its check does (`OperationDenied.WrongStatus`), never an import's error as `CopyError`.
    /// Nothing was moved: the target is as before, the trigger stays; dropped, recover finishes.
    @Test(arguments: ["import", "copy"]) func aTriggerMadeInTheShadowAfterTheSwapsCheckIsNamed(_ kind: String) throws {
        let (s, cleanup) = try importOrCopySetUp(kind)
        defer { writes.tearDown(s); cleanup() }
        let (run, output) = try writes.startStopped(s, at: "change:mysql.swap.checked#1")
        defer { if run.isRunning { writes.killed(run) } }
        let name = try #require(try writes.schemas(s).first { $0.hasPrefix("\(s.target)__ferry_s_") })
        try cli.sql(s.project, s.server, "CREATE TRIGGER `\(name)`.app_tg BEFORE INSERT ON `\(name)`.t FOR EACH ROW SET NEW.v = 'app77';")
        let (code, text) = writes.resume(run, output)
        #expect(code == 4, "\(text)")
        #expect(text.contains("error[OperationDenied.WrongStatus]: \(name)") && text.contains("trigger `app_tg`"), "the swap names the trigger: \(text)")
        #expect(!text.contains("Trigger in wrong schema") && !text.contains("as they were"), "\(text)")
        if kind == "import" { #expect(!text.contains("CopyError"), "an import's swap error is not a copy's: \(text)") }
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "the target is as before: \(text)")
        #expect(try cli.sql(s.project, s.server, "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_NAME = 'app_tg' AND ACTION_STATEMENT LIKE '%app77%';") == "1\n",
                "the trigger is still there")
        try cli.sql(s.project, s.server, "DROP TRIGGER IF EXISTS `\(name)`.app_tg;")
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n")
        #expect(try writes.schemas(s).allSatisfy { !$0.contains("__ferry_") }, "\(writes.names(s))")
    }

    /// A table (with a row) and a view made in the shadow between the swap's check of what the
    /// shadow holds and its RENAME: the swap moves only what the build made, so neither reaches
    /// the target; they stay in the shadow, which is left and named.
    @Test(arguments: ["import", "copy"]) func objectsMadeInTheShadowAfterTheSwapsCheckStayThere(_ kind: String) throws {
        let (s, cleanup) = try importOrCopySetUp(kind)
        defer { writes.tearDown(s); cleanup() }
        let (run, output) = try writes.startStopped(s, at: "change:mysql.swap.checked#1")
        defer { if run.isRunning { writes.killed(run) } }
        let name = try #require(try writes.schemas(s).first { $0.hasPrefix("\(s.target)__ferry_s_") })
        try cli.sql(s.project, s.server, "CREATE TABLE `\(name)`.app_sw (i INT); INSERT INTO `\(name)`.app_sw VALUES (78); CREATE VIEW `\(name)`.app_swv AS SELECT 6 AS i;")
        let (code, text) = writes.resume(run, output)
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tc1\n2\tc2\n3\tc3\n", "the build's tables are swapped in: \(text)")
        #expect(try cli.sql(s.project, s.server, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(s.target)' AND TABLE_NAME LIKE 'app\\_sw%';") == "0\n",
                "nothing the build did not make reaches the target: \(text)")
        #expect(try cli.sql(s.project, s.server, "SELECT i FROM `\(name)`.app_sw; SELECT i FROM `\(name)`.app_swv;") == "78\n6\n", "they stay in the shadow")
        #expect(text.contains(name) && text.contains("app_sw"), "the left shadow is named with what it holds (exit \(code)): \(text)")
        #expect(!text.contains("as they were"), "\(text)")
        #expect(code == 0 || code == 4, "\(text)")
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 4 && recovered.all.contains(name) && recovered.all.contains("app_sw"), "recover leaves the shadow and names it: \(recovered.all)")
        // W7-6: an explained, expected outcome, not an internal error.
        #expect(!recovered.all.contains("error[Internal]") && recovered.all.contains("error[OperationDenied.WrongStatus]: run "),
                "the pending clean-up is named WrongStatus: \(recovered.all)")
        try cli.sql(s.project, s.server, "DROP TABLE `\(name)`.app_sw; DROP VIEW `\(name)`.app_swv;")
        let again = try s.project.run("recover")
        #expect(again.code == 0, "\(again.all)")
        #expect(try writes.schemas(s).allSatisfy { !$0.contains("__ferry_s_") }, "\(writes.names(s))")
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tc1\n2\tc2\n3\tc3\n")
    }
}

/// Fresh tester W7-3: a view, routine, trigger or event an application makes in the live target
/// while `ferry rollback RUN` swaps it back (after the rollback's check of the target, before its
/// undo) was dropped with the run's objects, and the rollback said its targets hold what they held
/// before. The undo now knows what the swap put in (journaled with the swap) and refuses to undo
/// while the target holds anything else: nothing changes, the object stays; once it is gone,
/// `ferry recover` finishes the rollback exactly.
@Suite(.serialized) struct MySQLSwapBackObjectsTests {
    let cli = MySQLCLITests()
    let writes = MySQLWritesDuringRunTests()

    @Test(arguments: [
        ("a procedure", "CREATE PROCEDURE DB.zz_app() SELECT 77;", "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'TARGET' AND ROUTINE_NAME = 'zz_app';", "DROP PROCEDURE DB.zz_app;", "procedure `zz_app`"),
        ("a view", "CREATE VIEW DB.zz_view AS SELECT 77 AS i;", "SELECT COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = 'TARGET' AND TABLE_NAME = 'zz_view';", "DROP VIEW DB.zz_view;", "`zz_view`"),
        ("an event", "CREATE EVENT DB.zz_ev ON SCHEDULE EVERY 1 DAY DISABLE DO SELECT 77;", "SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = 'TARGET' AND EVENT_NAME = 'zz_ev';", "DROP EVENT DB.zz_ev;", "event `zz_ev`"),
        ("a trigger on the run's table", "CREATE TRIGGER DB.zz_tg AFTER DELETE ON DB.o FOR EACH ROW SET @x = 77;", "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'TARGET' AND TRIGGER_NAME = 'zz_tg';", "DROP TRIGGER DB.zz_tg;", "trigger `zz_tg`"),
    ])
    func anObjectMadeInTheTargetDuringASwapBackIsNeverDropped(_ label: String, _ make: String, _ check: String, _ drop: String, _ named: String) throws {
        let s = try oneImportWithObjects(newTarget: false, objects: false)
        defer { writes.tearDown(s) }
        let apply = try s.project.run("apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        let runID = try #require(try s.project.run("runs").stdout.split(separator: "\n").dropFirst().first?.split(separator: " ").first.map(String.init))
        // Stopped after the rollback's check of the target, right before its undo.
        let (rollback, output) = try writes.startStopped(s, at: "after-stepStarted#1", args: ["rollback", runID, "plans/main.json"])
        let checkSQL = check.replacingOccurrences(of: "TARGET", with: s.target)
        _ = try writes.sql(s, make)
        #expect(try writes.sql(s, checkSQL) == "1\n")
        let (code, text) = writes.resume(rollback, output)
        #expect(code != 0, "\(label): \(text)")
        #expect(!text.contains("hold what they held before"), "\(label): \(text)")
        #expect(text.contains("the run did not swap in") && text.contains(named), "\(label): the refusal names it: \(text)")
        #expect(try writes.sql(s, checkSQL) == "1\n", "\(label): the application's object is still in the target")
        #expect(try writes.sql(s, "SELECT COUNT(*) FROM DB.o;") != "0\n", "nothing was undone: the target holds the run's data")
        // Once it is gone, the rollback finishes exactly.
        _ = try writes.sql(s, drop)
        let recover = try s.project.run("recover")
        #expect(recover.code == 0, "\(label): \(recover.all)")
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "\(label): restored")
        #expect(try !writes.schemas(s).contains { $0.contains("__ferry_") }, "\(writes.names(s))")
    }

    /// One import of `data/a.sql` into the setup's target (`replace`); `newTarget`: the target
    /// does not exist before; `objects`: the file also makes the run's own procedure `run_p` and
    /// view `run_v`, which go into the target with the swap.
    func oneImportWithObjects(newTarget: Bool, objects: Bool = true) throws -> MySQLWritesDuringRunTests.Setup {
        let s = try writes.setUp(failingSecond: false)
        if newTarget { try cli.sql(s.project, s.server, "DROP DATABASE `\(s.target)`;") }
        try s.project.write("plans/main.json", """
        { "ferry": 1,
          "instances": { "a": { "engine": "mysql", "url": "\(s.server.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
          "imports": { "ia": { "into": "a", "database": "\(s.target)", "from": "data/a.sql", "onExisting": "replace" } } }
        """)
        if objects {
            let file = try String(contentsOfFile: s.project.root + "/plans/data/a.sql", encoding: .utf8)
            try s.project.write("plans/data/a.sql", file + "\nCREATE PROCEDURE run_p() SELECT 1;\nCREATE VIEW run_v AS SELECT 1 AS i;\n")
        }
        return s
    }

    /// W7-4: a kill inside the swap (its end not journaled: after the rename, before the run's
    /// objects are made in the target; or after the whole swap), then an application makes an
    /// object in the new target: `ferry recover` must not drop it with the run's objects.
    @Test(arguments: ["change:mysql.swap.renamed", "change:swap.done"], [
        ("a procedure", "CREATE PROCEDURE DB.zz_app() SELECT 77;", "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'TARGET' AND ROUTINE_NAME = 'zz_app';", "DROP PROCEDURE DB.zz_app;", "procedure `zz_app`"),
        ("a view", "CREATE VIEW DB.zz_view AS SELECT 77 AS i;", "SELECT COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = 'TARGET' AND TABLE_NAME = 'zz_view';", "DROP VIEW DB.zz_view;", "`zz_view`"),
    ])
    func anObjectMadeInTheTargetAfterAKillInTheSwapIsNeverDropped(_ point: String, _ object: (String, String, String, String, String)) throws {
        try killInTheSwap(point, object, newTarget: false)
    }

    /// The same into a target that did not exist: the undo would drop the target.
    @Test func anObjectMadeInANewTargetAfterAKillInTheSwapIsNeverDropped() throws {
        try killInTheSwap("change:swap.done", ("a procedure", "CREATE PROCEDURE DB.zz_app() SELECT 77;", "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'TARGET' AND ROUTINE_NAME = 'zz_app';", "DROP PROCEDURE DB.zz_app;", "procedure `zz_app`"), newTarget: true)
    }

    /// `before`: what `check` gives right after the kill (the run's own object of that name in
    /// the target, not the application's).
    func killInTheSwap(_ point: String, _ object: (String, String, String, String, String), newTarget: Bool, before: String? = nil) throws {
        let (label, make, check, drop, named) = object
        let s = try oneImportWithObjects(newTarget: newTarget)
        defer { writes.tearDown(s) }
        s.project.environment["FERRY_TEST_KILL_AT"] = point
        let apply = try s.project.run("apply", "--auto-approve")
        s.project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(apply.code == 9, "\(label) at \(point): killed: \(apply.all)")
        let checkSQL = check.replacingOccurrences(of: "TARGET", with: s.target)
        if let before { #expect(try writes.sql(s, checkSQL) == before, "\(label) at \(point): before the application's change") }
        _ = try writes.sql(s, make)
        #expect(try writes.sql(s, checkSQL) == "1\n")
        let refused = try s.project.run("recover")
        #expect(refused.code == 4, "\(label) at \(point): \(refused.all)")
        #expect(!refused.all.contains("as they were"), "\(label) at \(point): \(refused.all)")
        #expect(refused.all.contains(named), "\(label) at \(point): the refusal names it: \(refused.all)")
        #expect(try writes.sql(s, checkSQL) == "1\n", "\(label) at \(point): the application's object is still in the target")
        // Once it is gone, the rollback finishes exactly.
        _ = try writes.sql(s, drop)
        let recover = try s.project.run("recover")
        #expect(recover.code == 0, "\(label) at \(point): \(recover.all)")
        if newTarget {
            #expect(try !writes.schemas(s).contains(s.target), "the target the run made is gone: \(writes.names(s))")
        } else {
            #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "\(label) at \(point): restored")
            #expect(try writes.sql(s, "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '\(s.target)';") == "0\n", "the run's procedure went with the undo")
        }
        #expect(try !writes.schemas(s).contains { $0.contains("__ferry_") }, "\(writes.names(s))")
    }

    /// The reviewer's M1: after a kill at the end of the swap (its end not journaled, so no
    /// content token tells the target written; with it journaled the target is left as it is),
    /// an application replaces one of the run's own objects in the target (`CREATE OR REPLACE`).
    /// The undo must not drop the application's version with the run's objects: it refuses
    /// (exit 4) naming it; once the application's version is gone, the rollback finishes.
    @Test(arguments: ["change:swap.done"], [
        ("the run's procedure", "CREATE OR REPLACE PROCEDURE DB.run_p() SELECT 77;", "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'TARGET' AND ROUTINE_NAME = 'run_p' AND ROUTINE_DEFINITION LIKE '%77%';", "DROP PROCEDURE DB.run_p;", "procedure `run_p`"),
        ("the run's view", "CREATE OR REPLACE VIEW DB.run_v AS SELECT 77 AS i;", "SELECT COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = 'TARGET' AND TABLE_NAME = 'run_v' AND VIEW_DEFINITION LIKE '%77%';", "DROP VIEW DB.run_v;", "`run_v`"),
    ])
    func anApplicationsReplacementOfTheRunsObjectAfterAKillIsNeverDropped(_ point: String, _ object: (String, String, String, String, String)) throws {
        try killInTheSwap(point, object, newTarget: false, before: "0\n")
    }

    /// And with nothing replaced, the same kills are undone exactly (the definitions the swap
    /// recorded are the ones the target holds: no false refusal), events and triggers included.
    @Test(arguments: ["change:swap.done", "after-swapDone#1"]) func theRunsOwnObjectsAfterAKillAreUndoneExactly(_ point: String) throws {
        let s = try oneImportWithObjects(newTarget: false)
        defer { writes.tearDown(s) }
        let file = try String(contentsOfFile: s.project.root + "/plans/data/a.sql", encoding: .utf8)
        try s.project.write("plans/data/a.sql", file + """

            CREATE FUNCTION run_f(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
            CREATE TRIGGER run_tr BEFORE INSERT ON t FOR EACH ROW SET NEW.v = CONCAT(NEW.v, '');
            CREATE EVENT run_e ON SCHEDULE EVERY 1 DAY DISABLE DO SELECT 1;
            CREATE EVENT run_e2 ON SCHEDULE EVERY 1 HOUR STARTS '2030-01-01 00:00:00' DO SELECT 2;

            """)
        s.project.environment["FERRY_TEST_KILL_AT"] = point
        let apply = try s.project.run("apply", "--auto-approve")
        s.project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(apply.code == 9, "killed at \(point): \(apply.all)")
        let recover = try s.project.run("recover")
        #expect(recover.code == 0 && recover.all.contains("as they were"), "\(point): \(recover.all)")
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "\(point): restored")
        #expect(try writes.sql(s, "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '\(s.target)';") == "0\n", "the run's routines went with the undo")
        #expect(try !writes.schemas(s).contains { $0.contains("__ferry_") }, "\(writes.names(s))")
    }

    /// The reviewer's H2: the swap saves the target's own objects in the checkpoint and then
    /// drops them from the target; an object an application makes in the target between the
    /// save and the drop was dropped too, and saved nowhere. Only what was saved is dropped: the
    /// application's stays in the target the run swaps in.
    @Test func anObjectMadeInTheTargetBetweenTheSwapsSaveAndItsDropStays() throws {
        let s = try oneImportWithObjects(newTarget: false)
        defer { writes.tearDown(s) }
        _ = try writes.sql(s, "CREATE PROCEDURE DB.own_p() SELECT 5;")
        let (run, output) = try writes.startStopped(s, at: "change:mysql.objects.saved")
        let check = "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '\(s.target)' AND ROUTINE_NAME = 'zz_app' AND ROUTINE_DEFINITION LIKE '%77%';"
        _ = try writes.sql(s, "CREATE PROCEDURE DB.zz_app() SELECT 77;")
        let (code, text) = writes.resume(run, output)
        #expect(code == 0 && text.contains("Apply complete"), "\(text)")
        #expect(try writes.sql(s, check) == "1\n", "the application's procedure is in the target: \(text)")
        #expect(try writes.sql(s, "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '\(s.target)' AND ROUTINE_NAME IN ('run_p', 'own_p');") == "1\n", "the run's procedure swapped in, the target's own went with the checkpoint")
    }

    /// Fresh tester round 7, F2: the target's own trigger, saved in the checkpoint by the swap,
    /// is dropped by an application before the swap drops it; a later `ferry rollback RUN` must
    /// not make it again (it made again every saved object). The target's other objects come back.
    @Test func aTriggerAnApplicationDroppedDuringTheSwapIsNotMadeAgain() throws {
        let s = try oneImportWithObjects(newTarget: false)
        defer { writes.tearDown(s) }
        _ = try writes.sql(s, "CREATE PROCEDURE DB.own_p() SELECT 5; CREATE TRIGGER DB.own_tr BEFORE INSERT ON DB.t FOR EACH ROW SET NEW.v = NEW.v;")
        let (run, output) = try writes.startStopped(s, at: "change:mysql.objects.saved")
        _ = try writes.sql(s, "DROP TRIGGER DB.own_tr;")
        let (code, text) = writes.resume(run, output)
        #expect(code == 0 && text.contains("Apply complete"), "\(text)")
        let runID = try #require(text.split(separator: "\n").first { $0.hasPrefix("Run ") }.map { String($0.split(separator: " ")[1].dropLast()) }, "\(text)")
        let rollback = try s.project.run("rollback", runID, "plans/main.json")
        #expect(rollback.code == 0, "\(rollback.all)")
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "restored: \(rollback.all)")
        #expect(try writes.sql(s, "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(s.target)';") == "0\n", "the trigger the application dropped stays dropped")
        #expect(try writes.sql(s, "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '\(s.target)';") == "own_p\n", "the target's own procedure is back, the run's is gone")
    }

    /// Fresh tester round 7, F3: killed after the swap saved the target's objects and before it
    /// moved anything, then an application makes a trigger on the target's table: `ferry
    /// recover` undoes the swap (nothing of the run is in the target) and keeps the application's
    /// trigger, instead of refusing until it is dropped.
    @Test func anApplicationsObjectInATargetTheSwapNeverReachedDoesNotBlockTheUndo() throws {
        let s = try oneImportWithObjects(newTarget: false)
        defer { writes.tearDown(s) }
        _ = try writes.sql(s, "CREATE PROCEDURE DB.own_p() SELECT 5;")
        s.project.environment["FERRY_TEST_KILL_AT"] = "change:mysql.objects.saved"
        let apply = try s.project.run("apply", "--auto-approve")
        s.project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(apply.code == 9, "\(apply.all)")
        _ = try writes.sql(s, "CREATE TRIGGER DB.app_tr BEFORE INSERT ON DB.t FOR EACH ROW SET NEW.v = NEW.v;")
        let recover = try s.project.run("recover")
        #expect(recover.code == 0, "\(recover.all)")
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "restored: \(recover.all)")
        #expect(try writes.sql(s, "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(s.target)';") == "app_tr\n", "the application's trigger stays")
        #expect(try writes.sql(s, "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '\(s.target)';") == "own_p\n")
        #expect(try !writes.schemas(s).contains { $0.contains("__ferry_") }, "\(writes.names(s))")
    }

    /// W7-2: between the swap's drop of the target's old objects and its creation of the run's,
    /// an application makes an object in the target under a name the run's build has. The swap
    /// must not replace it: the run stops (exit 4) naming it, the object stays as the application
    /// made it; dropped by hand, `ferry recover` restores the target exactly.
    @Test(arguments: [false, true], [
        ("a procedure", "CREATE PROCEDURE DB.run_p() SELECT 77;", "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'TARGET' AND ROUTINE_NAME = 'run_p' AND ROUTINE_DEFINITION LIKE '%77%';", "DROP PROCEDURE DB.run_p;", "procedure `run_p`"),
        ("a view", "CREATE VIEW DB.run_v AS SELECT 77 AS i;", "SELECT COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = 'TARGET' AND TABLE_NAME = 'run_v' AND VIEW_DEFINITION LIKE '%77%';", "DROP VIEW DB.run_v;", "`run_v`"),
    ])
    func anObjectMadeInTheTargetDuringTheSwapUnderTheBuildsNameIsNeverReplaced(_ newTarget: Bool, _ object: (String, String, String, String, String)) throws {
        let (label, make, check, drop, named) = object
        let s = try oneImportWithObjects(newTarget: newTarget)
        defer { writes.tearDown(s) }
        let (run, output) = try writes.startStopped(s, at: "change:mysql.swap.renamed")
        let checkSQL = check.replacingOccurrences(of: "TARGET", with: s.target)
        _ = try writes.sql(s, make)
        #expect(try writes.sql(s, checkSQL) == "1\n")
        let (code, text) = writes.resume(run, output)
        let context = "\(label), new target \(newTarget)"
        #expect(code == 4, "\(context): \(text)")
        #expect(!text.contains("Apply complete") && !text.contains("as they were"), "\(context): \(text)")
        #expect(text.contains(named), "\(context): the object is named: \(text)")
        #expect(try writes.sql(s, checkSQL) == "1\n", "\(context): the application's object is in the target as it made it")
        _ = try writes.sql(s, drop)
        let recover = try s.project.run("recover")
        #expect(recover.code == 0, "\(context): \(recover.all)")
        if newTarget {
            #expect(try !writes.schemas(s).contains(s.target), "\(context): \(writes.names(s))")
        } else {
            #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "\(context): restored")
        }
        #expect(try !writes.schemas(s).contains { $0.contains("__ferry_") }, "\(writes.names(s))")
    }

    /// Reviewer H1: an object made in the target after the undo's check, before its drop of the
    /// run's objects (stopped there), is not dropped: the undo stops (exit 4, naming it) once the
    /// tables are back, and finishes once the object is gone.
    @Test func anObjectMadeInTheTargetBetweenTheUndosCheckAndItsDropStays() throws {
        let s = try oneImportWithObjects(newTarget: false)
        defer { writes.tearDown(s) }
        let apply = try s.project.run("apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        let runID = try #require(try s.project.run("runs").stdout.split(separator: "\n").dropFirst().first?.split(separator: " ").first.map(String.init))
        let (rollback, output) = try writes.startStopped(s, at: "change:mysql.undo.checked", args: ["rollback", runID, "plans/main.json"])
        let check = "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '\(s.target)' AND ROUTINE_NAME = 'zz_app';"
        _ = try writes.sql(s, "CREATE PROCEDURE DB.zz_app() SELECT 77;")
        let (code, text) = writes.resume(rollback, output)
        #expect(code == 4, "\(text)")
        #expect(!text.contains("hold what they held before") && text.contains("procedure `zz_app`"), "\(text)")
        #expect(try writes.sql(s, check) == "1\n", "the application's procedure is still in the target")
        _ = try writes.sql(s, "DROP PROCEDURE DB.zz_app;")
        let recover = try s.project.run("recover")
        #expect(recover.code == 0, "\(recover.all)")
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "restored")
        #expect(try !writes.schemas(s).contains { $0.contains("__ferry_") }, "\(writes.names(s))")
    }

    /// Fresh tester round 52, F1: a view an application made in the shadow a rollback's swap back
    /// had just brought back (its run's tables; that shadow has no build list) went with the
    /// shadow, and the rollback said its targets hold what they held before. Without a list, a
    /// view, routine, trigger or event in such a shadow is someone else's: left and named.
    /// Round 53, F2: an `ALTER TABLE` that keeps the rows (a comment, a key) made there went too:
    /// the undo keeps the definitions of the tables it moved back, and the drop compares them.
    /// Untouched, the rollback finishes and nothing is left.
    @Test(arguments: ["", "CREATE VIEW SH.appview AS SELECT 1 AS x;", "ALTER TABLE SH.t COMMENT 'app';", "ALTER TABLE SH.t ADD INDEX app_ix (v);"])
    func whatIsMadeInTheShadowASwapBackBroughtBackIsKept(_ make: String) throws {
        let s = try oneImportWithObjects(newTarget: false)
        defer { writes.tearDown(s) }
        let apply = try s.project.run("apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        let runID = try #require(try s.project.run("runs").stdout.split(separator: "\n").dropFirst().first?.split(separator: " ").first.map(String.init))
        let (rollback, output) = try writes.startStopped(s, at: "change:mysql.undo.renamed", args: ["rollback", runID, "plans/main.json"])
        let shadow = try #require(try writes.schemas(s).first { $0.hasPrefix("\(s.target)__ferry_s_") }, "\(writes.names(s))")
        if !make.isEmpty { try cli.sql(s.project, s.server, make.replacingOccurrences(of: "SH.", with: "`\(shadow)`.")) }
        let (code, text) = writes.resume(rollback, output)
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "the target is restored")
        guard !make.isEmpty else {
            #expect(code == 0 && text.contains("hold what they held before"), "\(text)")
            #expect(try !writes.schemas(s).contains { $0.contains("__ferry_") }, "\(writes.names(s))")
            return
        }
        let words = make.hasPrefix("CREATE VIEW") ? "which Ferry did not put there" : "holds definitions Ferry did not make"
        #expect(code != 0 && text.contains(shadow) && text.contains(words) && !text.contains("hold what they held before"), "\(make): \(text)")
        let check = make.hasPrefix("CREATE VIEW") ? "SELECT COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '\(shadow)' AND TABLE_NAME = 'appview';"
            : make.contains("COMMENT") ? "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(shadow)' AND TABLE_NAME = 't' AND TABLE_COMMENT = 'app';"
            : "SELECT COUNT(DISTINCT INDEX_NAME) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '\(shadow)' AND INDEX_NAME = 'app_ix';"
        #expect(try cli.sql(s.project, s.server, check) == "1\n", "\(make): the application's change is kept")
        // (The rollback ended there: a recover has nothing of it to finish, and drops nothing.)
        _ = try s.project.run("recover")
        #expect(try cli.sql(s.project, s.server, check) == "1\n", "\(make): still kept")
    }
}
