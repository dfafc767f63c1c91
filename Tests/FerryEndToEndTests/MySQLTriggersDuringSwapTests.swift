import Foundation
import Testing

/// Issue 14, fresh tester round 45, H1: a MariaDB swap takes the target's triggers off its tables
/// (MariaDB renames no table with a trigger into another database) and makes the build's after
/// its rename. Writes that waited on the swap's hold landed in the new tables before their
/// triggers were made: kept, but their trigger never fired (an audit row missing). Now each table
/// that gets triggers is held from the rename until they are made (`MySQLTriggerGate`), and every
/// write that waited fires them. The target's shapes vary: one table, one beside tables joined by a
/// foreign key (those are not gated: `MySQLRenameGate`), names that need quoting, more tables than
/// one holder each would take, a `BEFORE` trigger that changes the row.
@Suite(.serialized) struct MySQLTriggersDuringSwapTests {
    let w = MySQLWritesDuringRunTests()

    struct Shape: CustomTestStringConvertible, Sendable {
        var label: String
        /// Made in the target before the run (`DB.` for it); `au` is the audit table.
        var setup: String
        /// Writes sent while the swap holds the target, each with a piece that tells it in the
        /// process list.
        var writes: [(sql: String, marker: String)]
        /// A query and its answer once the run is done: the triggers fired for every write.
        var check: String
        var expected: String
        var testDescription: String { label }
    }

    static let audit = "CREATE TABLE DB.au (id INT AUTO_INCREMENT PRIMARY KEY, tbl VARCHAR(40), rid INT) ENGINE=InnoDB;"

    static let shapes: [Shape] = [
        Shape(label: "an AFTER INSERT trigger on one table",
              setup: audit + " CREATE TRIGGER DB.tr_t AFTER INSERT ON DB.t FOR EACH ROW INSERT INTO DB.au (tbl, rid) VALUES ('t', NEW.id);",
              writes: [("INSERT INTO DB.t VALUES (3, 'during-hold')", "during-hold")],
              check: "SELECT tbl, rid FROM DB.au ORDER BY id;", expected: "t\t3\n"),
        Shape(label: "a trigger on a table beside a parent and a child joined by a foreign key",
              setup: audit + """
               CREATE TABLE DB.pa (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO DB.pa VALUES (1);
               CREATE TABLE DB.ch (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES DB.pa (id)) ENGINE=InnoDB; INSERT INTO DB.ch VALUES (1, 1);
               CREATE TRIGGER DB.tr_t AFTER INSERT ON DB.t FOR EACH ROW INSERT INTO DB.au (tbl, rid) VALUES ('t', NEW.id);
              """,
              writes: [("INSERT INTO DB.pa VALUES (2)", "pa VALUES (2)"), ("INSERT INTO DB.ch VALUES (2, 1)", "ch VALUES (2, 1)"),
                       ("INSERT INTO DB.t VALUES (3, 'during-hold')", "during-hold")],
              check: "SELECT tbl, rid FROM DB.au UNION ALL SELECT 'pa', MAX(id) FROM DB.pa UNION ALL SELECT 'ch', MAX(id) FROM DB.ch;", expected: "t\t3\npa\t2\nch\t2\n"),
        Shape(label: "a table and a trigger whose names need quoting",
              setup: audit + """
               CREATE TABLE DB.`we``ird t` (id INT PRIMARY KEY) ENGINE=InnoDB;
               CREATE TRIGGER DB.`tr ``x` AFTER INSERT ON DB.`we``ird t` FOR EACH ROW INSERT INTO DB.au (tbl, rid) VALUES ('weird', NEW.id);
              """,
              writes: [("INSERT INTO DB.`we``ird t` VALUES (7)", "ird t` VALUES (7)")],
              check: "SELECT tbl, rid FROM DB.au ORDER BY id;", expected: "weird\t7\n"),
        Shape(label: "twelve tables with a trigger each, written first and last",
              setup: audit + " " + (10..<22).map { "CREATE TABLE DB.z\($0) (id INT PRIMARY KEY) ENGINE=InnoDB; CREATE TRIGGER DB.tz\($0) AFTER INSERT ON DB.z\($0) FOR EACH ROW INSERT INTO DB.au (tbl, rid) VALUES ('z\($0)', NEW.id);" }.joined(separator: " "),
              writes: [("INSERT INTO DB.z10 VALUES (10)", "z10 VALUES (10)"), ("INSERT INTO DB.z21 VALUES (21)", "z21 VALUES (21)")],
              check: "SELECT tbl, rid FROM DB.au ORDER BY tbl;", expected: "z10\t10\nz21\t21\n"),
        Shape(label: "a BEFORE INSERT trigger that changes the row",
              setup: "CREATE TRIGGER DB.up BEFORE INSERT ON DB.t FOR EACH ROW SET NEW.v = UPPER(NEW.v);",
              writes: [("INSERT INTO DB.t VALUES (3, 'during-hold')", "during-hold")],
              check: "SELECT v FROM DB.t WHERE id = 3;", expected: "DURING-HOLD\n"),
    ]

    /// Writes that wait on the append's hold land after the rename, and fire the target's
    /// triggers (made again in the appended target before they land); the run ends "Apply
    /// complete!" and a second append still works. `change:mysql.rename.dropperHeld`: the writes
    /// wait on the hold that took the triggers off (round 46, H2), before the holders ask behind
    /// it: the holders still get the tables first.
    /// (Not the second for a target with a foreign key: its triggers come off before the hold.)
    static let holdCases: [(Shape, String)] = shapes.flatMap { shape in
        (shape.setup.contains("FOREIGN KEY") ? ["change:mysql.rename.held"] : ["change:mysql.rename.held", "change:mysql.rename.dropperHeld"]).map { (shape, $0) }
    }

    @Test(arguments: holdCases)
    func writesThatWaitedOnTheHoldFireTheTargetsTriggers(_ shape: Shape, _ point: String) throws {
        let s = try w.setUp()
        defer { w.tearDown(s) }
        try w.planAppendOfTableN(s)
        try w.sql(s, shape.setup)
        let (run, output) = try w.startStopped(s, at: point)
        defer { if run.isRunning { w.killed(run) } }
        let writers = try shape.writes.map { try w.startHeldWriter(s, $0.sql, marker: $0.marker) }
        defer { for writer in writers where writer.isRunning { writer.terminate() } }
        let (code, text) = w.resume(run, output)
        for writer in writers { writer.waitUntilExit() }
        #expect(writers.allSatisfy { $0.terminationStatus == 0 }, "every write was acknowledged")
        #expect(code == 0 && text.contains("Apply complete"), "\(shape.label), \(point): \(text)")
        let fired = try w.sql(s, shape.check)
        #expect(fired == shape.expected, "\(shape.label): the triggers fired for every write that waited: \(fired)")
        #expect(try w.sql(s, "SELECT id FROM DB.n;") == "1\n", "the target is the appended one")
        #expect(try w.schemas(s).allSatisfy { !$0.contains("__ferry_s_") }, "no shadow is left: \(w.names(s))")
    }

    /// An `append` (of table `n`) or a `replace` (file A) into the target with the first shape's
    /// trigger, killed at `point` of its swap.
    func killedSwap(_ s: MySQLWritesDuringRunTests.Setup, _ mode: String, at point: String) throws {
        if mode == "append" {
            try w.planAppendOfTableN(s)
        } else {
            try s.project.write("plans/main.json", """
            { "ferry": 1,
              "instances": { "a": { "engine": "mysql", "url": "\(s.server.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
              "imports": { "ia": { "into": "a", "database": "\(s.target)", "from": "data/a.sql", "onExisting": "replace" } } }
            """)
        }
        try w.sql(s, Self.shapes[0].setup)
        // A replace tells rows written since its triggers came off by the tables' UPDATE_TIME
        // (whole seconds: one updated in that second is said as may be): the setup's rows in an
        // earlier second.
        if mode == "replace" { Thread.sleep(forTimeInterval: 1.1) }
        s.project.environment["FERRY_TEST_KILL_AT"] = point
        let apply = try s.project.run("apply", "--auto-approve")
        s.project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(apply.code == 9, "\(apply.all)")
    }

    /// Fresh tester round 47, H3: `kill -9` of an append after its swap took the target's
    /// triggers off (before its rename), rows written, then `ferry recover`: the triggers came
    /// back, and it said "The instances are as they were before" of a target holding rows that
    /// fired none of them. Now it says so, and not "as they were"; without a write, it still
    /// says "as they were before". An append tells rows written since by its snapshot's token; a
    /// copy that replaces the target by the tables' update time (a write in a later second).
    /// An append takes the triggers off under its hold (round 46, H2), and so does a replace
    /// now (round 63, H1): killed there, the hold dies with it. Killed before
    /// (`change:mysql.swap.witnessed`), its triggers are still on, and a row written then fires
    /// them. A replace's row written in the very second they came off is said as may be.
    @Test(arguments: [("append", true), ("append", false), ("replace", true), ("replace", false)])
    func aRecoverAfterTheSwapTookTheTriggersOffSaysRowsFiredNone(_ mode: String, _ written: Bool) throws {
        let s = try w.setUp()
        defer { w.tearDown(s) }
        try killedSwap(s, mode, at: "change:mysql.swap.triggerDropped")
        if written {
            if mode == "replace" { Thread.sleep(forTimeInterval: 1.1) }   // a later second than the triggers came off in
            try w.sql(s, "INSERT INTO DB.t VALUES (3, 'no-trigger');")
        }
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        if written {
            #expect(recovered.all.contains("its trigger was off its tables from the swap") && recovered.all.contains("fired none of them")
                    && !recovered.all.contains("as they were before"), "\(recovered.all)")
        } else {
            #expect(recovered.all.contains("The instances are as they were before.") && !recovered.all.contains("fired none"), "\(recovered.all)")
        }
        #expect(try w.sql(s, "SELECT EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(s.target)' AND TRIGGER_NAME = 'tr_t';") == "t\n", "the trigger is back")
    }

    /// Fresh tester round 63, H4: a replace killed once its triggers were off, a row written
    /// right away (in the very second they came off), then `ferry recover`: "The instances are as
    /// they were before" over that row, which fired none of them. Said as may be now.
    @Test func aRowWrittenInTheSecondAReplacesTriggersCameOffIsSaid() throws {
        let s = try w.setUp()
        defer { w.tearDown(s) }
        try killedSwap(s, "replace", at: "change:mysql.swap.triggerDropped")
        try w.sql(s, "INSERT INTO DB.t VALUES (3, 'no-trigger');")
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0 && recovered.all.contains("fired none of them") && !recovered.all.contains("as they were before"), "\(recovered.all)")
        #expect(try w.sql(s, "SELECT COUNT(*) FROM DB.au;") == "0\n", "the row fired none")
    }

    @Test(arguments: ["append", "replace"]) func anAppendKilledBeforeItsHoldLeftTheTriggersOn(_ mode: String) throws {
        let s = try w.setUp()
        defer { w.tearDown(s) }
        try killedSwap(s, mode, at: "change:mysql.swap.witnessed")
        try w.sql(s, "INSERT INTO DB.t VALUES (3, 'trigger-on');")
        #expect(try w.sql(s, "SELECT tbl, rid FROM DB.au;") == "t\t3\n", "the row fired the trigger")
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0 && !recovered.all.contains("fired none"), "\(recovered.all)")
        #expect(try w.sql(s, "SELECT EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(s.target)' AND TRIGGER_NAME = 'tr_t';") == "t\n")
        #expect(try w.sql(s, "SELECT v FROM DB.t WHERE id = 3;") == "trigger-on\n", "the row is live")
    }

    /// Fresh tester round 48, F1 (the restore): rows a kill let into the checkpoint while the
    /// target's triggers were off (the hold freed while the rename waited, round 47 H2) are made
    /// live by the recover that restores the target from that checkpoint; it said only
    /// "restored ... from its checkpoint" and "as they were before". Now it says those rows fired
    /// none of the triggers, and not "as they were"; a checkpoint holding what the swap's check
    /// read is restored "as they were". The state is made by hand: a kill after the rename and
    /// a row put into the checkpoint's table (which has no trigger then).
    @Test(arguments: [("append", true), ("append", false), ("replace", true), ("replace", false)])
    func aRestoreFromACheckpointWrittenWhileTheTriggersWereOffSaysItsRowsFiredNone(_ mode: String, _ written: Bool) throws {
        let s = try w.setUp()
        defer { w.tearDown(s) }
        try killedSwap(s, mode, at: "change:mysql.swap.movedIn")
        let checkpoint = try #require(try w.schemas(s).first { $0.hasPrefix("\(s.target)__ferry_c_") }, "\(w.names(s))")
        if written {
            if mode == "replace" { Thread.sleep(forTimeInterval: 1.1) }   // a later second than the triggers came off in
            try w.cli.sql(s.project, s.server, "INSERT INTO `\(checkpoint)`.t VALUES (77, 'let-through');")
        }
        let recovered = try s.project.run("recover")
        #expect(recovered.all.contains("restored a/\(s.target) from its checkpoint"), "\(mode), \(written): \(recovered.all)")
        let said = recovered.all.contains("holds rows written into its tables during the swap, while its trigger was off them")
            && recovered.all.contains("live again as written and fired none of them")
        #expect(said == written, "\(mode), \(written): \(recovered.all)")
        #expect(recovered.all.contains("as they were before") == !written, "\(mode), \(written): \(recovered.all)")
        #expect(try w.sql(s, "SELECT v FROM DB.t WHERE id = 77;") == (written ? "let-through\n" : ""), "the row is live")
        #expect(try w.sql(s, "SELECT EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(s.target)' AND TRIGGER_NAME = 'tr_t';") == "t\n", "the trigger is back")
    }

    /// The same in a run's own rollback: the swap stopped before its hold (an application
    /// replaced a view the build has too), with a row written meanwhile. Before round 46, H2's
    /// mend the triggers were off by then and the row fired none (said so); an append now takes
    /// them off only under its hold, after its check, so the row fires them and nothing is
    /// said of triggers.
    @Test func aRunRolledBackBeforeItsHoldLeftTheTriggersOn() throws {
        let s = try w.setUp()
        defer { w.tearDown(s) }
        try w.planAppendOfTableN(s)
        try w.sql(s, Self.shapes[0].setup + " CREATE VIEW DB.vo AS SELECT 1 AS x;")
        let (run, output) = try w.startStopped(s, at: "change:mysql.swap.witnessed")
        defer { if run.isRunning { w.killed(run) } }
        try w.sql(s, "INSERT INTO DB.t VALUES (3, 'no-trigger'); CREATE OR REPLACE VIEW DB.vo AS SELECT 2 AS x;")
        let (code, text) = w.resume(run, output)
        #expect(code == 3 && !text.contains("fired none") && !text.contains("off its tables"), "\(text)")
        #expect(try w.sql(s, "SELECT tbl, rid FROM DB.au;") == "t\t3\n", "the row fired the trigger")
        #expect(try w.sql(s, "SELECT EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(s.target)' AND TRIGGER_NAME = 'tr_t';") == "t\n", "the trigger is back")
        #expect(try w.sql(s, "SELECT x FROM DB.vo;") == "2\n", "the application's view stays")
    }

    /// Fresh tester round 48, F1: the append refused under its hold (its words: rows written
    /// while the triggers were off fired none), then killed once its own rollback had put the
    /// triggers back and before that was journaled: `ferry recover` found nothing left to tell
    /// and said "The instances are as they were before." Its journal holds the step's words:
    /// the recover says them again and does not say "as they were".
    /// (A trigger on a table joined by a foreign key: such triggers still come off before the
    /// hold.)
    @Test func aRecoverAfterARefusedAppendsRollbackWasKilledKeepsItsWords() throws {
        let s = try w.setUp()
        defer { w.tearDown(s) }
        try w.planAppendOfTableN(s)
        try w.sql(s, Self.joinedTrigger)
        s.project.environment["FERRY_TEST_KILL_AT"] = "change:rollback.swapUndone"
        let (run, output) = try w.startStopped(s, at: "change:mysql.swap.checked")
        s.project.environment["FERRY_TEST_KILL_AT"] = nil
        defer { if run.isRunning { w.killed(run) } }
        try w.sql(s, "INSERT INTO DB.t (id, v) VALUES (3, 'written');")
        let (code, text) = w.resume(run, output)
        #expect(code == 9 && text.contains("fired none of them"), "refused with the words, then killed in its rollback: \(text)")
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0 && recovered.all.contains("fired none of them") && !recovered.all.contains("as they were before"), "\(recovered.all)")
        #expect(try w.sql(s, "SELECT EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(s.target)' AND TRIGGER_NAME = 'tr_t';") == "t\n", "the trigger is back")
        #expect(try w.sql(s, "SELECT v FROM DB.t WHERE id = 3;") == "written\n", "the row is live")
    }

    /// Fresh tester round 56, H2: a view, routine, event or trigger an application made in the
    /// live target after the core's check before an append's swap was saved as the target's own
    /// and taken out of it by the swap ("Apply complete!", kept only in the checkpoint, gone at
    /// its retention). The swap now refuses, nothing renamed, and the object stays live.
    @Test(arguments: ["CREATE VIEW DB.`user v` AS SELECT 1 AS one",
                      "CREATE PROCEDURE DB.userp() SELECT 1",
                      "CREATE EVENT DB.usere ON SCHEDULE EVERY 1 DAY DISABLE DO SELECT 1",
                      "CREATE TRIGGER DB.usert BEFORE UPDATE ON DB.t FOR EACH ROW SET NEW.v = NEW.v",
                      "ALTER TABLE DB.t COMMENT 'dba'"])
    func anObjectMadeInTheTargetDuringAnAppendsSwapIsKept(_ made: String) throws {
        let s = try w.setUp()
        defer { w.tearDown(s) }
        try w.planAppendOfTableN(s)
        let (run, output) = try w.startStopped(s, at: "change:mysql.swap.checked")
        defer { if run.isRunning { w.killed(run) } }
        try w.sql(s, made + ";")
        let (code, text) = w.resume(run, output)
        #expect(code == 3 && text.contains("was changed during the run, after the append's snapshot") && !text.contains("Apply complete"), "\(made): \(text)")
        let objects = try w.sql(s, """
        SELECT COUNT(*) FROM (SELECT TABLE_NAME n FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '\(s.target)'
        UNION ALL SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '\(s.target)'
        UNION ALL SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '\(s.target)'
        UNION ALL SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(s.target)'
        UNION ALL SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(s.target)' AND TABLE_COMMENT = 'dba') x;
        """)
        #expect(objects == "1\n", "\(made): the application's object is live: \(objects)")
        #expect(try w.sql(s, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(s.target)' AND TABLE_NAME = 'n';") == "0\n", "not appended")
        #expect(try w.schemas(s) == [s.target], "nothing of the run is left: \(w.names(s))")
    }

    /// The first shape's trigger `tr_t` on `t`, with `t` joined to `pa` by a foreign key.
    static let joinedTrigger = audit + """
     CREATE TABLE DB.pa (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO DB.pa VALUES (1), (3);
     ALTER TABLE DB.t ADD COLUMN pid INT NULL, ADD FOREIGN KEY (pid) REFERENCES DB.pa (id);
     CREATE TRIGGER DB.tr_t AFTER INSERT ON DB.t FOR EACH ROW INSERT INTO DB.au (tbl, rid) VALUES ('t', NEW.id);
    """

    /// Fresh tester round 48, F3: `ferry rollback RUN` of an append while an application's
    /// transaction is open on a table with a trigger: the swap back's `DROP TRIGGER` waited for
    /// it without end, and every writer of that table waited behind it (34-99 s). The swap back
    /// now waits in tries of 2 s that let writers go, before it drops anything: a write into
    /// that table goes through while the transaction is still open. (`--force`: the target
    /// counts as written since the run, where the rows go is §6's, tested elsewhere.)
    @Test func aRollbackDoesNotHoldWritersBehindAnOpenTransaction() throws {
        let s = try w.setUp()
        defer { w.tearDown(s) }
        try w.planAppendOfTableN(s)
        try w.sql(s, Self.shapes[0].setup)
        let apply = try s.project.run("apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        let runID = try #require(apply.all.split(separator: "\n").first { $0.hasPrefix("Run ") }.map { String($0.split(separator: " ")[1].dropLast()) }, "\(apply.all)")
        let app = try w.startClient(s, "BEGIN; INSERT INTO DB.t VALUES (50, 'in-transaction'); SELECT SLEEP(8); COMMIT;")
        defer { if app.isRunning { app.terminate() } }
        Thread.sleep(forTimeInterval: 0.3)
        let output = s.project.root + "/rollback-f3.out"
        FileManager.default.createFile(atPath: output, contents: nil)
        // `--force`: the open transaction's row counts as a write since the run (as the tester's).
        let rollback = try s.project.start(["rollback", runID, "plans/main.json", "--force"], stdout: try #require(FileHandle(forWritingAtPath: output)))
        defer { if rollback.isRunning { w.killed(rollback) } }
        var waiting = false
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, !waiting, rollback.isRunning {
            waiting = try w.sql(s, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE = 'Waiting for table metadata lock' AND (INFO LIKE 'LOCK TABLES %' OR INFO LIKE 'DROP TRIGGER %');") != "0\n"
            if !waiting { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(waiting, "the rollback waits on the open transaction")
        let writer = try w.startClient(s, "INSERT INTO DB.t VALUES (51, 'other-writer');")
        writer.waitUntilExit()
        #expect(writer.terminationStatus == 0 && app.isRunning, "the writer went through while the transaction was still open")
        app.waitUntilExit()
        rollback.waitUntilExit()
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect([0, 4].contains(rollback.terminationStatus), "\(text)")
    }

    /// Round 46, H2: an open transaction on a table kept the hold waiting (up to 60 s) after
    /// the swap had taken the target's triggers off, so every write in that time fired none.
    /// The swap now waits until the target can be held before it takes them off: while the
    /// transaction is open, the trigger is still on its table and a write of another session
    /// fires it; once it commits, the append is refused (its row changed the target) and the
    /// row written while it waited has its audit row.
    @Test func anOpenTransactionIsWaitedForBeforeTheTriggersComeOff() throws {
        let s = try w.setUp()
        defer { w.tearDown(s) }
        try w.planAppendOfTableN(s)
        try w.sql(s, Self.shapes[0].setup + " CREATE TABLE DB.other (id INT PRIMARY KEY) ENGINE=InnoDB;")
        let (run, output) = try w.startStopped(s, at: "change:mysql.swap.checked")
        defer { if run.isRunning { w.killed(run) } }
        let app = try w.startClient(s, "BEGIN; INSERT INTO DB.other VALUES (1); SELECT SLEEP(4); COMMIT;")
        defer { if app.isRunning { app.terminate() } }
        Thread.sleep(forTimeInterval: 0.5)
        run.signal(SIGCONT)
        Thread.sleep(forTimeInterval: 1.5)
        // The swap waits on the transaction now: the trigger is still the target's own.
        #expect(try w.sql(s, "SELECT EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(s.target)' AND TRIGGER_NAME = 'tr_t';") == "t\n",
                "the trigger is on its table while the swap waits")
        try w.sql(s, "INSERT INTO DB.t VALUES (3, 'while-waiting');")
        let (code, text) = w.resume(run, output)
        app.waitUntilExit()
        #expect(app.terminationStatus == 0, "the application's transaction committed")
        #expect(code == 3 && text.contains("nothing was renamed"), "\(text)")
        #expect(try w.sql(s, "SELECT tbl, rid FROM DB.au ORDER BY id;") == "t\t3\n", "the row written while the swap waited fired its trigger")
        #expect(try w.sql(s, "SELECT COUNT(*) FROM DB.other;") == "1\n", "the transaction's row is live")
        #expect(try w.schemas(s) == [s.target], "nothing of the run is left: \(w.names(s))")
    }

    /// Fresh tester round 46, H2 and L1: the swap took the target's triggers off its tables
    /// before its hold, so a row written in between fired none of them, and an append refused
    /// under the hold for that row said "the instances are as they were" (then, since L1, that
    /// the row fired none). An append now checks under a hold of its own and takes the triggers
    /// off only then: a row written before the hold fires them, the refusal leaves them on, and
    /// the run says "as they were" (`plain`; `none`: a target without triggers). A trigger on a
    /// table joined by a foreign key still comes off before the hold (`joined`, at the point
    /// right after): its row fires none, and the words say so. The row stays live and the
    /// triggers are there after.
    @Test(arguments: ["none", "plain", "joined"]) func aRowWrittenBeforeTheHoldFiresTheTriggersOrIsToldOf(_ shape: String) throws {
        let s = try w.setUp()
        defer { w.tearDown(s) }
        try w.planAppendOfTableN(s)
        if shape == "plain" { try w.sql(s, Self.shapes[0].setup) }
        if shape == "joined" { try w.sql(s, Self.joinedTrigger) }
        let (run, output) = try w.startStopped(s, at: shape == "joined" ? "change:mysql.rename.triggersOff" : "change:mysql.swap.witnessed")
        defer { if run.isRunning { w.killed(run) } }
        try w.sql(s, "INSERT INTO DB.t (id, v) VALUES (3, 'in-the-gap');")
        let (code, text) = w.resume(run, output)
        #expect(code == 3 && text.contains("nothing was renamed"), "\(shape): \(text)")
        #expect(try w.sql(s, "SELECT v FROM DB.t WHERE id = 3;") == "in-the-gap\n", "the row is live")
        #expect(try w.schemas(s) == [s.target], "nothing of the run is left: \(w.names(s))")
        if shape == "joined" {
            #expect(text.contains("its trigger was off its tables for the") && text.contains("fired none of them"), "\(text)")
            #expect(!text.contains("as they were") && text.contains("rows written while its swap had the target's triggers off (noted above) fired none of them"), "\(text)")
            #expect(try w.sql(s, "SELECT COUNT(*) FROM DB.au;") == "0\n", "the row's trigger did not fire (the gap the words name)")
        } else {
            #expect(text.contains("the instances are as they were") && !text.contains("fired none") && !text.contains("off its tables"), "\(shape): \(text)")
        }
        if shape == "plain" { #expect(try w.sql(s, "SELECT tbl, rid FROM DB.au;") == "t\t3\n", "the row fired the trigger") }
        if shape != "none" {
            #expect(try w.sql(s, "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(s.target)' AND TRIGGER_NAME = 'tr_t';") == "1\n", "the trigger is there")
        }
    }

    /// A write that comes after the rename, while the swap makes a table's triggers: it waits for
    /// them, then fires them.
    @Test func aWriteWhileTheTriggersAreMadeWaitsForThem() throws {
        let s = try w.setUp()
        defer { w.tearDown(s) }
        try w.planAppendOfTableN(s)
        try w.sql(s, Self.shapes[0].setup)
        let (run, output) = try w.startStopped(s, at: "change:mysql.swap.gated")
        defer { if run.isRunning { w.killed(run) } }
        #expect(try w.sql(s, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(s.target)' AND TABLE_NAME = 'n';") == "1\n",
                "the rename is done")
        let writer = try w.startHeldWriter(s, "INSERT INTO DB.t VALUES (4, 'after-rename')", marker: "after-rename")
        defer { if writer.isRunning { writer.terminate() } }
        let (code, text) = w.resume(run, output)
        writer.waitUntilExit()
        #expect(writer.terminationStatus == 0 && code == 0 && text.contains("Apply complete"), "\(text)")
        #expect(try w.sql(s, "SELECT tbl, rid FROM DB.au ORDER BY id;") == "t\t4\n", "the trigger fired for it")
    }

    /// Killed while a gate holds a table: the gate's lock goes with the process, and `ferry
    /// recover` undoes the swap (nothing was written): the target is as before, its trigger on it.
    @Test func aSwapKilledWhileItsTriggersAreMadeIsUndone() throws {
        let s = try w.setUp()
        defer { w.tearDown(s) }
        try w.planAppendOfTableN(s)
        try w.sql(s, Self.shapes[0].setup)
        let before = try w.sql(s, "SELECT id, v FROM DB.t ORDER BY id;")
        let (run, _) = try w.startStopped(s, at: "change:mysql.swap.gated")
        w.killed(run)
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0 && recovered.all.contains("as they were before"), "\(recovered.all)")
        #expect(try w.sql(s, "SELECT id, v FROM DB.t ORDER BY id;") == before)
        #expect(try w.sql(s, "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(s.target)';") == "tr_t\n", "its trigger is back")
        try w.sql(s, "INSERT INTO DB.t VALUES (9, 'after');")
        #expect(try w.sql(s, "SELECT tbl, rid FROM DB.au ORDER BY id;") == "t\t9\n", "and fires")
        #expect(try w.schemas(s) == [s.target], "\(w.names(s))")
    }

    /// Fresh tester round 46, H1: `kill -9` of an append after its rename (the target's triggers
    /// taken off, the build's not made yet), a write, then `ferry recover`: the target is kept for
    /// the write, and it was left without any trigger for good. Now the recover does the swap's
    /// last steps in it: the build's triggers (and views, routines, events) are made, and said so.
    @Test(arguments: ["change:mysql.swap.movedIn", "change:mysql.swap.renamed"])
    func aKeptTargetOfASwapKilledAfterItsRenameGetsTheRunsTriggers(_ point: String) throws {
        let s = try w.setUp()
        defer { w.tearDown(s) }
        try w.planAppendOfTableN(s)
        try w.sql(s, Self.shapes[0].setup + " CREATE VIEW DB.vo AS SELECT id FROM DB.o;")
        s.project.environment["FERRY_TEST_KILL_AT"] = point
        let apply = try s.project.run("apply", "--auto-approve")
        s.project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(apply.code == 9, "\(apply.all)")
        try w.sql(s, "INSERT INTO DB.t VALUES (6, 'after-kill');")
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 4 && recovered.all.contains("was written after the run's swap moved its tables in"), "\(recovered.all)")
        #expect(recovered.all.contains("which the swap had not made yet, were made in it") && !recovered.all.contains("had not put in yet is still in"), "\(recovered.all)")
        // Round 48, F5: and that rows written since the rename met none of those triggers.
        #expect(recovered.all.contains("rows written into it from the swap's rename until then fired none of them"), "\(recovered.all)")
        #expect(try w.sql(s, "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(s.target)';") == "tr_t\n", "the build's trigger is on the kept target")
        #expect(try w.sql(s, "SELECT COUNT(*) FROM DB.vo;") == "1\n", "and its view")
        try w.sql(s, "INSERT INTO DB.t VALUES (7, 'later');")
        #expect(try w.sql(s, "SELECT rid FROM DB.au WHERE rid = 7;") == "7\n", "it fires")
        #expect(try w.sql(s, "SELECT id FROM DB.n;") == "1\n" && w.sql(s, "SELECT v FROM DB.t WHERE id = 6;") == "after-kill\n", "the run's data and the write are live")
        #expect(try w.schemas(s).allSatisfy { !$0.contains("__ferry_witness") }, "\(w.names(s))")
        #expect(try w.sql(s, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(s.target)' AND TABLE_NAME LIKE '\\_\\_ferry%';") == "0\n", "no witness table is left in it")
        // Round 47, L1: nor the run's shadow beside it (the checkpoint stays, named).
        #expect(try !w.schemas(s).contains { $0.contains("__ferry_s_") }, "\(w.names(s))")
        #expect(try s.project.run("recover").all.contains("Nothing to recover"))
    }
}

extension MySQLTriggersDuringSwapTests {
    /// Fresh tester round 57, H2: an `ALTER TABLE` (an index, a comment) in the live target after
    /// an append's swap compared the definitions (0.10-0.15 s after its verify) went with the
    /// checkpoint, and the run said "Apply complete!". The tables' definitions are compared again
    /// under the rename's hold: refused, nothing renamed, the change live. A table made there
    /// then counts too.
    @Test(arguments: ["ALTER TABLE DB.t COMMENT 'dba'", "ALTER TABLE DB.t ADD INDEX dba_ix (v)",
                      "ALTER TABLE DB.t ADD COLUMN dba_c INT NULL", "CREATE TABLE DB.dba_made (x INT) ENGINE=InnoDB"])
    func aTableAlteredAfterAnAppendsDefinitionsCheckIsRefusedUnderTheHold(_ change: String) throws {
        let s = try w.setUp()
        defer { w.tearDown(s) }
        try w.planAppendOfTableN(s)
        let (run, output) = try w.startStopped(s, at: "change:mysql.swap.witnessed")
        defer { if run.isRunning { w.killed(run) } }
        try w.sql(s, change + ";")
        let (code, text) = w.resume(run, output)
        // (A table made is a change of the data part too: refused by the checksums' check.)
        let why = change.hasPrefix("CREATE") ? "rows of it changed" : "a table's definition changed"
        #expect(code == 3 && text.contains(why) && text.contains("found under the swap's hold") && !text.contains("Apply complete"), "\(change): \(text)")
        let live = try w.sql(s, """
        SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(s.target)' AND TABLE_COMMENT = 'dba')
             + (SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '\(s.target)' AND INDEX_NAME = 'dba_ix')
             + (SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '\(s.target)' AND COLUMN_NAME = 'dba_c')
             + (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(s.target)' AND TABLE_NAME = 'dba_made');
        """)
        #expect(live == "1\n", "\(change): the change is in the live target")
        #expect(try w.sql(s, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(s.target)' AND TABLE_NAME = 'n';") == "0\n", "not appended")
        #expect(try w.schemas(s) == [s.target], "nothing of the run is left: \(w.names(s))")
    }
}

extension MySQLTriggersDuringSwapTests {
    /// Fresh tester round 57, H1: an application's own `LOCK TABLES ... WRITE` waiting on the
    /// dropper's hold (the triggers off under it) asks for the same lock as the holders, before
    /// them, and was granted first: its row fired no trigger, and the run said "Apply complete!"
    /// (2 of 4). The holders now read the checksums again when such a lock waited: the append is
    /// refused, saying the row fired none of the triggers, and never "Apply complete!" over it.
    @Test(arguments: ["LOCK TABLES DB.t WRITE; INSERT INTO DB.t VALUES (3, 'app-locked'); UNLOCK TABLES",
                      "LOCK TABLES DB.t WRITE, DB.au WRITE; INSERT INTO DB.t VALUES (3, 'app-locked'); UNLOCK TABLES",
                      // Held past the holders' 2 s try: their hold fails after the triggers came off
                      // (round 57, L1: the step's words then named no window, the last line "(noted above)").
                      "LOCK TABLES DB.t WRITE; INSERT INTO DB.t VALUES (3, 'app-locked'); SELECT SLEEP(3); UNLOCK TABLES"])
    func anApplicationsWriteLockAtTheDroppersHandOverIsNeverAppliedOverUntold(_ statement: String) throws {
        let s = try w.setUp()
        defer { w.tearDown(s) }
        try w.planAppendOfTableN(s)
        try w.sql(s, Self.shapes[0].setup)
        let (run, output) = try w.startStopped(s, at: "change:mysql.rename.dropperHeld")
        defer { if run.isRunning { w.killed(run) } }
        let writer = try w.startHeldWriter(s, statement, marker: "WRITE")
        defer { if writer.isRunning { writer.terminate() } }
        let (code, text) = w.resume(run, output)
        writer.waitUntilExit()
        #expect(writer.terminationStatus == 0, "the write was acknowledged")
        let fired = try w.sql(s, "SELECT COUNT(*) FROM DB.au WHERE tbl = 't' AND rid = 3;")
        #expect(try w.sql(s, "SELECT v FROM DB.t WHERE id = 3;") == "app-locked\n", "the row is live")
        if text.contains("Apply complete") {
            #expect(fired == "1\n", "a completed append: the row fired the trigger: \(text)")
        } else {
            #expect(code == 3 && text.contains("fired none of them") && !text.contains("as they were"), "\(text)")
            if text.contains("cannot hold") {
                #expect(text.contains("off its tables for the") && text.contains("s until then"), "the failure says for how long: \(text)")
            }
            #expect(try w.sql(s, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(s.target)' AND TABLE_NAME = 'n';") == "0\n", "not appended")
            #expect(try w.sql(s, "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(s.target)';") == "1\n", "the trigger is back")
        }
    }
}

extension MySQLTriggersDuringSwapTests {
    /// Fresh tester round 57, M2: an append into a target with a foreign key takes its triggers
    /// off before the hold (the dropper cannot hold such tables), and every such append kept
    /// 11-15 rows written in that window without their triggers' effects, said nowhere but in
    /// SPEC. A completed append now says so in a note, with the time; one whose triggers came
    /// off under the dropper's hold (no foreign key: no write reaches a table then) says nothing.
    @Test(arguments: [0, 1]) func aCompletedAppendSaysWhenItsTriggersWereOffBeforeTheHold(_ shape: Int) throws {
        let s = try w.setUp()
        defer { w.tearDown(s) }
        try w.planAppendOfTableN(s)
        try w.sql(s, Self.shapes[shape].setup)
        let apply = try s.project.run("apply", "--auto-approve")
        #expect(apply.code == 0 && apply.all.contains("Apply complete"), "\(apply.all)")
        let said = apply.all.contains("appended, but its trigger was off its tables for") && apply.all.contains("fired none of them")
        #expect(said == Self.shapes[shape].setup.contains("FOREIGN KEY"), "\(Self.shapes[shape].label): \(apply.all)")
        #expect(try w.sql(s, "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(s.target)';") == "1\n", "the trigger is on the appended table")
    }
}
