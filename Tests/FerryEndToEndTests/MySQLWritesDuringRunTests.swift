import Foundation
import Testing

/// Issue 14 on MariaDB, "writes by applications during a run" (tester14m F5, F7, F12; SPEC §6
/// "Writes during a run" and "MySQL / MariaDB: the content token"). The apply is stopped at a
/// journal record (`FERRY_TEST_STOP_AT`), the test writes into a database like an application
/// would, and the run goes on (SIGCONT) or is killed (SIGKILL) and recovered.
@Suite(.serialized) struct MySQLWritesDuringRunTests {
    let cli = MySQLCLITests()

    /// One way an application writes into a database: its statements, and a query whose answer
    /// shows the write is there.
    struct Write: CustomTestStringConvertible, Sendable {
        var label: String
        var sql: String
        var check: String
        var expected: String
        var testDescription: String { label }
    }

    /// Writes into the database `a.sql` makes (`DB` stands for its name). Each keeps what the
    /// file made and adds or changes one thing of another kind.
    static let writes: [Write] = [
        Write(label: "insert", sql: "INSERT INTO DB.t VALUES (100, 'app');", check: "SELECT id FROM DB.t ORDER BY id;", expected: "1\n2\n100\n"),
        Write(label: "update keeping the row count", sql: "UPDATE DB.t SET v = 'app' WHERE id = 2;", check: "SELECT v FROM DB.t ORDER BY id;", expected: "from-file\napp\n"),
        Write(label: "delete", sql: "DELETE FROM DB.t WHERE id = 1;", check: "SELECT id FROM DB.t;", expected: "2\n"),
        Write(label: "DDL: a column added", sql: "ALTER TABLE DB.t ADD COLUMN w INT DEFAULT 7;", check: "SELECT w FROM DB.t WHERE id = 1;", expected: "7\n"),
        Write(label: "another table than the one written most", sql: "INSERT INTO DB.o VALUES (5);", check: "SELECT id FROM DB.o ORDER BY id;", expected: "1\n5\n"),
        Write(label: "a sequence's next value", sql: "SELECT NEXTVAL(DB.sq);", check: "SELECT next_not_cached_value > 1 FROM DB.sq;", expected: "1\n"),
        Write(label: "a view of its own", sql: "CREATE VIEW DB.mine AS SELECT 42 AS x;", check: "SELECT x FROM DB.mine;", expected: "42\n"),
        Write(label: "a view redefined", sql: "CREATE OR REPLACE VIEW DB.vt AS SELECT id, 1 AS extra FROM DB.t;", check: "SELECT COUNT(*) FROM DB.vt WHERE extra = 1;", expected: "2\n"),
    ]

    /// The file of the first import: tables, a sequence, a view, a routine, a trigger and a
    /// disabled event, so that a swap that moves them all gives the same token (no false "kept").
    static let fileA = """
    CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(20), KEY byv (v));
    INSERT INTO t VALUES (1, 'from-file'), (2, 'from-file');
    CREATE TABLE o (id INT PRIMARY KEY);
    INSERT INTO o VALUES (1);
    CREATE SEQUENCE sq START WITH 1;
    CREATE VIEW vt AS SELECT id FROM t;
    CREATE PROCEDURE pr() SELECT COUNT(*) FROM t;
    CREATE TRIGGER tr BEFORE INSERT ON o FOR EACH ROW SET NEW.id = NEW.id;
    CREATE EVENT ev ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM o WHERE id < 0;

    """

    struct Setup {
        var project: Project
        var server: MySQLCLITests.Server
        var tag: String
        var target: String { "\(tag)_t" }
        var other: String { "\(tag)_u" }
    }

    /// Server A holds `TAG_t` (`t` = one user row) before the run; the plan imports `a.sql` into
    /// it (replace) and then `b.sql`, which fails, into `TAG_u`.
    func setUp(failingSecond: Bool = true) throws -> Setup {
        let project = try Project()
        let a = try cli.server("FERRY_TEST_MYSQL_A")
        let tag = "wr\(UUID().uuidString.prefix(6).lowercased())"
        let setup = Setup(project: project, server: a, tag: tag)
        try cli.sql(project, a, """
        DROP DATABASE IF EXISTS `\(setup.target)`; DROP DATABASE IF EXISTS `\(setup.other)`; CREATE DATABASE `\(setup.target)`;
        CREATE TABLE `\(setup.target)`.t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO `\(setup.target)`.t VALUES (1, 'user-original');
        """)
        try project.write("plans/data/a.sql", Self.fileA)
        try project.write("plans/data/b.sql", failingSecond ? "CREATE TABLE x (id INT);\nINSERT INTO nonexistent VALUES (1);\n" : "CREATE TABLE x (id INT);\n")
        try project.write("plans/main.json", """
        { "ferry": 1,
          "instances": { "a": { "engine": "mysql", "url": "\(a.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
          "imports": {
            "ia": { "into": "a", "database": "\(setup.target)", "from": "data/a.sql", "onExisting": "replace" },
            "ib": { "into": "a", "database": "\(setup.other)", "from": "data/b.sql", "onExisting": "replace", "after": ["import.ia"] } } }
        """)
        return setup
    }

    func tearDown(_ s: Setup) {
        guard let names = try? cli.sql(s.project, s.server, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '\(s.tag)%';") else { return }
        for name in names.split(separator: "\n") { _ = try? cli.sql(s.project, s.server, "DROP DATABASE IF EXISTS `\(name)`;") }
    }

    func schemas(_ s: Setup) throws -> [String] {
        try cli.sql(s.project, s.server, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '\(s.tag)%' ORDER BY 1;")
            .split(separator: "\n").map(String.init)
    }

    /// `schemas` for a message (never throws).
    func names(_ s: Setup) -> [String] { (try? schemas(s)) ?? [] }

    /// Starts `ferry apply` stopped at `point`; the output goes to a file read by `finish`.
    func startStopped(_ s: Setup, at point: String, args: [String] = ["apply", "--auto-approve", "--parallelism", "1"]) throws -> (Process, String) {
        let output = s.project.root + "/apply-\(UUID().uuidString.prefix(6)).out"
        FileManager.default.createFile(atPath: output, contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: output))
        s.project.environment["FERRY_TEST_STOP_AT"] = point
        defer { s.project.environment["FERRY_TEST_STOP_AT"] = nil }
        let run = try s.project.start(args, stdout: handle)
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, !LockTimeoutTests.isStopped(run.processIdentifier), run.isRunning { Thread.sleep(forTimeInterval: 0.02) }
        #expect(LockTimeoutTests.isStopped(run.processIdentifier), "the apply stops at \(point): \((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")")
        return (run, output)
    }

    func resume(_ run: Process, _ output: String) -> (code: Int32, text: String) {
        run.signal(SIGCONT)
        run.waitUntilExit()
        return (run.terminationStatus, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    func killed(_ run: Process) {
        run.signal(SIGKILL)
        run.signal(SIGCONT)
        run.waitUntilExit()
    }

    func sql(_ s: Setup, _ text: String) throws -> String {
        try cli.sql(s.project, s.server, text.replacingOccurrences(of: "DB.", with: "`\(s.target)`."))
    }

    /// What a kept target leaves: the target with the run's data and the write, its checkpoint
    /// with the data before the run, `ferry status` naming it, nothing more to recover, and a plan
    /// that runs.
    func expectKept(_ s: Setup, _ write: Write, _ output: String) throws {
        #expect(try sql(s, write.check) == write.expected, "\(write.label): the application's write is in the target")
        #expect(try sql(s, "SELECT COUNT(*) FROM DB.o;") != "0\n", "the target holds the run's data")
        let checkpoint = try #require(try schemas(s).first { $0.hasPrefix("\(s.target)__ferry_c_") }, "the checkpoint is kept: \(names(s))")
        #expect(try cli.sql(s.project, s.server, "SELECT id, v FROM `\(checkpoint)`.t;") == "1\tuser-original\n", "the checkpoint holds what the target held before the run")
        #expect(output.contains(s.target) && output.contains(checkpoint), "the diagnostic names the target and the checkpoint: \(output)")
        #expect(!output.contains("as they were"), "\(output)")
        #expect(try !schemas(s).contains { $0.contains("__ferry_s_") }, "no shadow is left beside the kept target (F3 M1): \(names(s))")
        let status = try s.project.run("status")
        #expect(status.stdout.contains("Left as they are") && status.stdout.contains("a/\(s.target)"), "\(status.all)")
        let again = try s.project.run("recover")
        #expect(again.code == 0 && again.stdout.contains("Nothing to recover"), "\(again.all)")
        #expect(try sql(s, write.check) == write.expected, "a second recover leaves it as it is")
        let plan = try s.project.run("plan")
        #expect(plan.code == 0, "plan is not blocked: \(plan.all)")
    }

    /// (a) A later step fails after the first import's swap; the application wrote into the
    /// swapped-in target meanwhile: the rollback leaves it (exit 4), the checkpoint beside it.
    @Test(arguments: writes) func inRunRollbackKeepsATargetWrittenAfterItsSwap(_ write: Write) throws {
        let s = try setUp()
        defer { tearDown(s) }
        let (run, output) = try startStopped(s, at: "after-swapDone#1")
        defer { if run.isRunning { killed(run) } }
        #expect(try sql(s, "SELECT COUNT(*) FROM DB.t;") == "2\n", "the first import is swapped in")
        try sql(s, write.sql)
        let (code, text) = resume(run, output)
        #expect(code == 4, "\(write.label): \(text)")
        try expectKept(s, write, text)
    }

    /// F5 as the tester ran it: an application inserts a row every 0.2 s for the whole run while
    /// a later import fails after a pause. Every row the application was told it wrote is in the
    /// target or in the checkpoint kept beside it, and the run does not say "as they were".
    @Test func anApplicationWritingThroughoutLosesNoRow() throws {
        let s = try setUp()
        defer { tearDown(s) }
        try s.project.write("plans/data/b.sql", "CREATE TABLE x (id INT);\nSELECT SLEEP(3);\nINSERT INTO nonexistent VALUES (1);\n")
        let written = s.project.root + "/written.txt"
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: "/bin/sh")
        writer.arguments = ["-c", """
            for k in $(seq 101 600); do
              [ -f '\(written).stop' ] && break
              MYSQL_PWD="$FERRY_TEST_MYSQL_PASSWORD" mariadb -h\(s.server.host) -P\(s.server.port) -u\(s.server.user) -e "INSERT INTO \\`\(s.target)\\`.t (id, v) VALUES ($k, 'app-write')" 2>/dev/null && echo $k >> '\(written)'
              sleep 0.2
            done
            """]
        writer.environment = s.project.environment
        try writer.run()
        defer { if writer.isRunning { writer.terminate() } }
        Thread.sleep(forTimeInterval: 0.5)
        let applied = try s.project.run("apply", "--auto-approve")
        // The application writes until the run has ended (a fixed number of writes ended before
        // the swap on a loaded machine once: nothing written after it, so exit 3 was right).
        FileManager.default.createFile(atPath: written + ".stop", contents: nil)
        writer.waitUntilExit()
        #expect(applied.code == 4, "\(applied.all)")
        #expect(!applied.stdout.contains("as they were"), "\(applied.all)")
        let wrote = Set(((try? String(contentsOfFile: written, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init))
        #expect(wrote.count > 10, "the application wrote throughout: \(wrote.count) rows")
        let checkpoint = try #require(try schemas(s).first { $0.hasPrefix("\(s.target)__ferry_c_") }, "\(names(s))")
        let inTarget = try sql(s, "SELECT id FROM DB.t WHERE v = 'app-write';").split(separator: "\n").map(String.init)
        let inCheckpoint = try cli.sql(s.project, s.server, "SELECT id FROM `\(checkpoint)`.t WHERE v = 'app-write';").split(separator: "\n").map(String.init)
        #expect(!inTarget.isEmpty, "rows were written after the swap")
        #expect(wrote.subtracting(inTarget).subtracting(inCheckpoint).isEmpty,
                "every row the application wrote is kept: lost \(wrote.subtracting(inTarget).subtracting(inCheckpoint).sorted())")
    }

    /// (b) The same through SIGKILL and `ferry recover`.
    @Test(arguments: [writes[0], writes[1], writes[3]]) func recoverKeepsATargetWrittenAfterItsSwap(_ write: Write) throws {
        let s = try setUp()
        defer { tearDown(s) }
        let (run, _) = try startStopped(s, at: "after-swapDone#1")
        try sql(s, write.sql)
        killed(run)
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 4, "\(write.label): \(recovered.all)")
        try expectKept(s, write, recovered.all)
    }

    /// (c) Nothing written after the swap: the rollback restores exactly (the token of the
    /// shadow, read by the verify under the shadow's name, is the target's after the swap), in
    /// the run and through `ferry recover`; no schema of the run is left.
    @Test func withoutAWriteTheRollbackRestoresExactly() throws {
        let s = try setUp()
        defer { tearDown(s) }
        let before = try sql(s, "SELECT id, v FROM DB.t;")
        let failed = try s.project.run("apply", "--auto-approve")
        #expect(failed.code == 3 && failed.stdout.contains("as they were"), "\(failed.all)")
        #expect(try sql(s, "SELECT id, v FROM DB.t;") == before)
        #expect(try schemas(s) == [s.target], "nothing of the run is left: \(names(s))")

        let (run, _) = try startStopped(s, at: "after-swapDone#1")
        killed(run)
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0 && recovered.stdout.contains("as they were"), "\(recovered.all)")
        #expect(try sql(s, "SELECT id, v FROM DB.t;") == before)
        #expect(try schemas(s) == [s.target], "nothing of the run is left: \(names(s))")
    }

    /// (c) with a copy: its `finish` step adds the secondary keys while the verify may read the
    /// shadow, so the swap reads the definitions again; a rollback with no write restores exactly,
    /// and one with a write keeps the target.
    @Test func aCopysRollbackTellsAWriteFromNone() throws {
        let s = try setUp()
        defer { tearDown(s) }
        let b = try cli.server("FERRY_TEST_MYSQL_B")
        let source = "\(s.tag)_src"
        try cli.sql(s.project, b, """
        DROP DATABASE IF EXISTS `\(source)`; CREATE DATABASE `\(source)`;
        CREATE TABLE `\(source)`.t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(20), KEY byv (v), UNIQUE KEY uv (id, v)) AUTO_INCREMENT = 50;
        INSERT INTO `\(source)`.t (v) SELECT CONCAT('r', seq) FROM `\(source)`.seq_1_to_3000;
        CREATE VIEW `\(source)`.vt AS SELECT id FROM `\(source)`.t;
        """)
        defer { _ = try? cli.sql(s.project, b, "DROP DATABASE IF EXISTS `\(source)`;") }
        try s.project.write("plans/main.json", """
        { "ferry": 1,
          "instances": { "a": { "engine": "mysql", "url": "\(s.server.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } },
                         "b": { "engine": "mysql", "url": "\(b.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
          "copies": { "c": { "from": "b", "to": "a", "databases": { "\(source)": "\(s.target)" }, "onExisting": "replace", "verify": "count" } },
          "imports": { "ib": { "into": "a", "database": "\(s.other)", "from": "data/b.sql", "onExisting": "replace", "after": ["copy.c"] } } }
        """)
        let before = try sql(s, "SELECT id, v FROM DB.t;")
        let failed = try s.project.run("apply", "--auto-approve")
        #expect(failed.code == 3 && failed.stdout.contains("as they were"), "\(failed.all)")
        #expect(try sql(s, "SELECT id, v FROM DB.t;") == before)
        #expect(try schemas(s) == [s.target], "\(names(s))")
        // The same through SIGKILL and `ferry recover`: the token journaled with the swap is the
        // one with the keys `finish` added.
        let (stopped, _) = try startStopped(s, at: "after-swapDone#1")
        killed(stopped)
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0 && recovered.stdout.contains("as they were"), "\(recovered.all)")
        #expect(try sql(s, "SELECT id, v FROM DB.t;") == before)
        #expect(try schemas(s) == [s.target], "\(names(s))")

        let (run, output) = try startStopped(s, at: "after-swapDone#1")
        defer { if run.isRunning { killed(run) } }
        #expect(try sql(s, "SELECT COUNT(*) FROM DB.t;") == "3000\n")
        try sql(s, "UPDATE DB.t SET v = 'app' WHERE id = 57;")
        let (code, text) = resume(run, output)
        #expect(code == 4, "\(text)")
        #expect(try sql(s, "SELECT v FROM DB.t WHERE id = 57;") == "app\n", "the write is kept")
        #expect(try schemas(s).contains { $0.hasPrefix("\(s.target)__ferry_c_") }, "the checkpoint is kept")
    }

    /// Gives the target a second row of `t`, a table `o` and a sequence `sq`, and plans import
    /// `ap`: `data/n.sql` (table `n`, one row) appended to the target, on every apply.
    func planAppendOfTableN(_ s: Setup) throws {
        try sql(s, "INSERT INTO DB.t VALUES (2, 'user-second'); CREATE TABLE DB.o (id INT PRIMARY KEY); INSERT INTO DB.o VALUES (1); CREATE SEQUENCE DB.sq;")
        try s.project.write("plans/data/n.sql", "CREATE TABLE n (id INT);\nINSERT INTO n VALUES (1);\n")
        try s.project.write("plans/main.json", """
        { "ferry": 1,
          "instances": { "a": { "engine": "mysql", "url": "\(s.server.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
          "imports": { "ap": { "into": "a", "database": "\(s.target)", "from": "data/n.sql", "onExisting": "append", "rerun": "always" } } }
        """)
    }

    /// (d) An append whose target is written after its snapshot began is not swapped in (exit 3,
    /// the write stays in the target, nothing lost); without the write the append works.
    @Test(arguments: [writes[0], writes[5], writes[6]]) func appendIsRefusedOverATargetWrittenSinceItsSnapshot(_ write: Write) throws {
        let s = try setUp()
        defer { tearDown(s) }
        try planAppendOfTableN(s)
        // Step 1 builds the shadow from the snapshot and imports into it; step 2 verifies it.
        let (run, output) = try startStopped(s, at: "after-stepDone#1")
        defer { if run.isRunning { killed(run) } }
        #expect(try schemas(s).contains { $0.hasPrefix("\(s.target)__ferry_s_") }, "the snapshot is taken")
        try sql(s, write.sql)
        let (code, text) = resume(run, output)
        #expect(code == 3, "\(write.label): \(text)")
        #expect(text.contains("WrongStatus") && text.contains("after the append's snapshot"), "\(text)")
        #expect(try sql(s, write.check) == write.expected, "the write is in the target")
        #expect(try sql(s, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(s.target)' AND TABLE_NAME = 'n';") == "0\n", "the append is not in")
        #expect(try schemas(s) == [s.target], "nothing of the run is left: \(names(s))")

        let appended = try s.project.run("apply", "--auto-approve")
        #expect(appended.code == 0, "without a write the append works: \(appended.all)")
        #expect(try sql(s, "SELECT id FROM DB.n;") == "1\n")
        #expect(try sql(s, write.check) == write.expected, "what the target held stays")
    }

    /// Starts `statement` (`DB.` for the target) in a client of its own and returns once the
    /// server shows it waiting for a metadata lock (the swap's hold): `marker` is a piece of the
    /// statement as sent that tells it in the process list.
    /// Starts the `mariadb` client on the setup's server with `statement` (`DB.` for the
    /// target), as an application's session of its own.
    func startClient(_ s: Setup, _ statement: String) throws -> Process {
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/bin/sh")
        client.arguments = ["-c", "MYSQL_PWD=\"$FERRY_TEST_MYSQL_PASSWORD\" exec mariadb -h\(s.server.host) -P\(s.server.port) -u\(s.server.user) -e \"$0\"",
                            statement.replacingOccurrences(of: "DB.", with: "`\(s.target)`.")]
        client.environment = s.project.environment
        try client.run()
        return client
    }

    func startHeldWriter(_ s: Setup, _ statement: String, marker: String) throws -> Process {
        let writer = try startClient(s, statement)
        let deadline = Date().addingTimeInterval(30)
        var waiting = false
        while Date() < deadline, writer.isRunning, !waiting {
            waiting = try cli.sql(s.project, s.server, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE = 'Waiting for table metadata lock' AND INFO LIKE '%\(marker)%';") == "1\n"
            if !waiting { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(waiting, "the write \(statement) waits for the hold")
        return writer
    }

    /// Fresh tester round 43, F3 (and round 41, F3 before it): a write between the swap's check
    /// and its rename went with the rename into the checkpoint. The check and the rename now run
    /// under one hold of the target against writers: writes that come while it holds wait, and
    /// land after the rename in the appended target, live, in every table: also in the tables
    /// the rename takes its lock on after the first (one holder for all let a write into such a
    /// table through before the rename reached it: it went into the checkpoint). The run ends
    /// "Apply complete!", and what it moved out holds what the snapshot began from.
    @Test func writesWhileAnAppendsSwapHoldsItsTargetLandInTheAppendedTarget() throws {
        let s = try setUp()
        defer { tearDown(s) }
        try planAppendOfTableN(s)
        let (run, output) = try startStopped(s, at: "change:mysql.rename.held")
        defer { if run.isRunning { killed(run) } }
        // The rename locks `n` (moving in), then `o`, `sq`, `t`: the last two after the first held.
        let writers = [try startHeldWriter(s, "INSERT INTO DB.t VALUES (3, 'during-hold')", marker: "during-hold"),
                       try startHeldWriter(s, "INSERT INTO DB.o VALUES (5)", marker: "o VALUES (5)"),
                       try startHeldWriter(s, "SELECT NEXTVAL(DB.sq)", marker: "NEXTVAL(")]
        defer { for writer in writers where writer.isRunning { writer.terminate() } }
        let (code, text) = resume(run, output)
        for writer in writers { writer.waitUntilExit() }
        #expect(writers.allSatisfy { $0.terminationStatus == 0 }, "every write was acknowledged")
        #expect(code == 0 && text.contains("Apply complete"), "\(text)")
        #expect(try sql(s, "SELECT id, v FROM DB.t ORDER BY id;") == "1\tuser-original\n2\tuser-second\n3\tduring-hold\n", "the write into `t` is in the live target")
        #expect(try sql(s, "SELECT id FROM DB.o ORDER BY id;") == "1\n5\n", "the write into `o` is in the live target")
        #expect(try sql(s, "SELECT next_not_cached_value > 1 FROM DB.sq;") == "1\n", "the sequence's next value is the live target's")
        #expect(try sql(s, "SELECT id FROM DB.n;") == "1\n", "the target is the appended one")
        for checkpoint in try schemas(s) where checkpoint.hasPrefix("\(s.target)__ferry_c_") {
            #expect(try cli.sql(s.project, s.server, "SELECT COUNT(*) FROM `\(checkpoint)`.t WHERE id = 3;") == "0\n", "no write went into the checkpoint")
        }
    }

    /// Fresh tester round 46, M2: a table whose column default takes the next value of the
    /// target's sequence (`DEFAULT NEXTVAL(sq)`). The shadow's copy names the shadow's sequence,
    /// and was pointed at the target's only after the rename, so inserts that came in that gap
    /// (here: one that waited on the hold) failed with 1146 naming the shadow's sequence. The
    /// shadow's defaults now name the target's sequence before the rename moves it in.
    @Test func anInsertTakingItsKeyFromTheTargetsSequenceDuringTheHoldLandsLive() throws {
        let s = try setUp()
        defer { tearDown(s) }
        try planAppendOfTableN(s)
        try sql(s, "CREATE TABLE DB.q (id BIGINT NOT NULL DEFAULT NEXTVAL(DB.sq) PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB; INSERT INTO DB.q (v) VALUES ('before');")
        let (run, output) = try startStopped(s, at: "change:mysql.rename.held")
        defer { if run.isRunning { killed(run) } }
        let writers = [try startHeldWriter(s, "INSERT INTO DB.q (v) VALUES ('during-hold')", marker: "during-hold")]
        defer { for writer in writers where writer.isRunning { writer.terminate() } }
        let (code, text) = resume(run, output)
        for writer in writers { writer.waitUntilExit() }
        #expect(writers.allSatisfy { $0.terminationStatus == 0 }, "the insert was acknowledged (not 1146 on the shadow's sequence)")
        #expect(code == 0 && text.contains("Apply complete"), "\(text)")
        #expect(try sql(s, "SELECT v FROM DB.q ORDER BY id;") == "before\nduring-hold\n", "the insert is live, keyed after the row before")
        let create = try sql(s, "SHOW CREATE TABLE DB.q;")
        #expect(create.contains("`\(s.target)`.`sq`") && !create.contains("__ferry_"), "the default names the target's sequence: \(create)")
        #expect(try sql(s, "INSERT INTO DB.q (v) VALUES ('after'); SELECT COUNT(DISTINCT id) FROM DB.q;") == "3\n", "later inserts take fresh keys")
    }

    /// Fresh tester round 47, M2: `kill -9` of the append after its rename and before the swap
    /// pointed the defaults at the target: until `ferry recover`, every insert taking its key
    /// from the sequence failed with 1146 naming the shadow's sequence. The defaults name the
    /// target's sequence from the rename on, so they work then too; the recover keeps the
    /// target for the row.
    @Test(arguments: ["change:mysql.swap.movedIn", "change:mysql.swap.renamed"])
    func anInsertTakingItsKeyFromTheSequenceAfterAKilledSwapsRenameWorks(_ point: String) throws {
        let s = try setUp()
        defer { tearDown(s) }
        try planAppendOfTableN(s)
        try sql(s, "CREATE TABLE DB.q (id BIGINT NOT NULL DEFAULT NEXTVAL(DB.sq) PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB; INSERT INTO DB.q (v) VALUES ('before');")
        s.project.environment["FERRY_TEST_KILL_AT"] = point
        let apply = try s.project.run("apply", "--auto-approve")
        s.project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(apply.code == 9, "\(apply.all)")
        #expect(try sql(s, "INSERT INTO DB.q (v) VALUES ('after-kill'); SELECT v FROM DB.q ORDER BY id;") == "before\nafter-kill\n")
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 4 && recovered.all.contains("was written after the run's swap moved its tables in"), "\(recovered.all)")
        #expect(try sql(s, "SELECT v FROM DB.q ORDER BY id;") == "before\nafter-kill\n" && sql(s, "SELECT id FROM DB.n;") == "1\n")
    }

    /// Fresh tester round 47, H2: a `kill -9` of the append while its rename waited freed the
    /// hold and the gates, so writes reached tables the rename had not moved yet and went with
    /// it into the checkpoint; the recover kept the target (written after the rename) and said
    /// the checkpoint holds "what it held before the run", never those rows. The state is made
    /// here by hand (a row put into the checkpoint's table after a kill after the rename): the
    /// recover now names the checkpoint as holding rows written during the swap, and says
    /// nothing of the kind when it holds what the swap's check read.
    @Test(arguments: [true, false]) func rowsARenameTookIntoTheCheckpointAreNamedByTheRecover(_ intoCheckpoint: Bool) throws {
        let s = try setUp()
        defer { tearDown(s) }
        try planAppendOfTableN(s)
        s.project.environment["FERRY_TEST_KILL_AT"] = "change:mysql.swap.movedIn"
        let apply = try s.project.run("apply", "--auto-approve")
        s.project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(apply.code == 9, "\(apply.all)")
        let checkpoint = try #require(try schemas(s).first { $0.hasPrefix("\(s.target)__ferry_c_") }, "\(names(s))")
        if intoCheckpoint { try cli.sql(s.project, s.server, "INSERT INTO `\(checkpoint)`.t VALUES (77, 'let-through');") }
        try sql(s, "INSERT INTO DB.t VALUES (78, 'after');")
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 4 && recovered.all.contains("was written after the run's swap moved its tables in"), "\(recovered.all)")
        let named = recovered.all.contains("\(checkpoint) holds rows written into \(s.target) during the swap too")
        #expect(named == intoCheckpoint, "\(recovered.all)")
        #expect(try sql(s, "SELECT v FROM DB.t WHERE id = 78;") == "after\n", "the later row is live")
    }

    /// Fresh tester round 48, F2: rows written into the source with `NEXTVAL` keys after the copy
    /// read its sequence and before its snapshot were copied, the sequence behind them, and
    /// inserts into the new target failed with 1062 after "Apply complete!" (and every append
    /// under writers failed at its file's first insert). The positions are read under the
    /// snapshot's lock now: the copy's next value is past every copied row.
    @Test func aSequenceWrittenDuringACopyIsCopiedPastItsRows() throws {
        let (s, b, source) = try MySQLShadowNameTakenTests().copySetUp()
        defer { tearDown(s); _ = try? cli.sql(s.project, b, "DROP DATABASE IF EXISTS `\(source)`;") }
        try cli.sql(s.project, b, "CREATE SEQUENCE `\(source)`.sq; CREATE TABLE `\(source)`.q (id BIGINT NOT NULL DEFAULT NEXTVAL(`\(source)`.sq) PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB; INSERT INTO `\(source)`.q (v) VALUES ('before');")
        let (run, output) = try startStopped(s, at: "change:mysql.copy.tableCreated")
        defer { if run.isRunning { killed(run) } }
        // Not cached: each NEXTVAL moves the stored position, as a busy application's would.
        try cli.sql(s.project, b, "ALTER SEQUENCE `\(source)`.sq NOCACHE; INSERT INTO `\(source)`.q (v) VALUES ('during'), ('during'), ('during');")
        let (code, text) = resume(run, output)
        #expect(code == 0 && text.contains("Apply complete"), "\(text)")
        #expect(try sql(s, "SELECT COUNT(*) FROM DB.q;") == "4\n", "every row was copied")
        #expect(try sql(s, "INSERT INTO DB.q (v) VALUES ('after'); SELECT COUNT(DISTINCT id) FROM DB.q;") == "5\n",
                "an insert into the copy takes a fresh key (no 1062)")
    }

    /// The same target, its append refused under the hold (a write between the check and the
    /// rename): the shadow whose defaults were pointed at the target's sequence goes, the
    /// target's table keeps its own default, and the next append keys rows from the same sequence.
    @Test func aRefusedAppendLeavesTheTargetsSequenceDefaultAsItWas() throws {
        let s = try setUp()
        defer { tearDown(s) }
        try planAppendOfTableN(s)
        try sql(s, "CREATE TABLE DB.q (id BIGINT NOT NULL DEFAULT NEXTVAL(DB.sq) PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB; INSERT INTO DB.q (v) VALUES ('before');")
        let createBefore = try sql(s, "SHOW CREATE TABLE DB.q;")
        let (run, output) = try startStopped(s, at: "change:mysql.swap.checked")
        defer { if run.isRunning { killed(run) } }
        try sql(s, "INSERT INTO DB.q (v) VALUES ('between');")
        let (code, text) = resume(run, output)
        #expect(code == 3 && text.contains("nothing was renamed"), "\(text)")
        #expect(try schemas(s) == [s.target], "nothing of the run is left: \(names(s))")
        #expect(try sql(s, "SHOW CREATE TABLE DB.q;") == createBefore, "the target's table is as it was")
        let appended = try s.project.run("apply", "--auto-approve")
        #expect(appended.code == 0, "\(appended.all)")
        #expect(try sql(s, "INSERT INTO DB.q (v) VALUES ('after'); SELECT v FROM DB.q ORDER BY id;") == "before\nbetween\nafter\n")
        #expect(try sql(s, "SHOW CREATE TABLE DB.q;") == createBefore, "the appended target's default names its own sequence")
    }

    /// The same with twelve more tables, and writes into the first and the last of them in the
    /// rename's order: each table has a holder of its own (the holders were once capped at the
    /// seven spare connections of an instance without `maxConnections`, the rest sharing one).
    @Test func writesIntoTheLastOfManyTablesLandLiveAfterTheHold() throws {
        let s = try setUp()
        defer { tearDown(s) }
        try planAppendOfTableN(s)
        try sql(s, (10..<22).map { "CREATE TABLE DB.z\($0) (id INT PRIMARY KEY) ENGINE=InnoDB;" }.joined(separator: " "))
        let (run, output) = try startStopped(s, at: "change:mysql.rename.held")
        defer { if run.isRunning { killed(run) } }
        let writers = [try startHeldWriter(s, "INSERT INTO DB.z10 VALUES (10)", marker: "z10 VALUES (10)"),
                       try startHeldWriter(s, "INSERT INTO DB.z21 VALUES (21)", marker: "z21 VALUES (21)")]
        defer { for writer in writers where writer.isRunning { writer.terminate() } }
        let (code, text) = resume(run, output)
        for writer in writers { writer.waitUntilExit() }
        #expect(writers.allSatisfy { $0.terminationStatus == 0 }, "every write was acknowledged")
        #expect(code == 0 && text.contains("Apply complete"), "\(text)")
        #expect(try sql(s, "SELECT id FROM DB.z10;") == "10\n" && sql(s, "SELECT id FROM DB.z21;") == "21\n", "both writes are live")
    }

    /// The same with tables joined by a foreign key (a holder's `LOCK TABLES child WRITE` takes
    /// the parent too, so holders of both waited for each other until the hold gave up): the
    /// holders take `READ`, and writes into the parent and the child land live.
    @Test func writesIntoTablesJoinedByAForeignKeyLandLiveAfterTheHold() throws {
        let s = try setUp()
        defer { tearDown(s) }
        try planAppendOfTableN(s)
        try sql(s, "CREATE TABLE DB.pa (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO DB.pa VALUES (1); CREATE TABLE DB.ch (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES DB.pa (id)) ENGINE=InnoDB; INSERT INTO DB.ch VALUES (1, 1);")
        let (run, output) = try startStopped(s, at: "change:mysql.rename.held")
        defer { if run.isRunning { killed(run) } }
        let writers = [try startHeldWriter(s, "INSERT INTO DB.pa VALUES (2)", marker: "pa VALUES (2)"),
                       try startHeldWriter(s, "INSERT INTO DB.ch VALUES (2, 1)", marker: "ch VALUES (2, 1)")]
        defer { for writer in writers where writer.isRunning { writer.terminate() } }
        let (code, text) = resume(run, output)
        for writer in writers { writer.waitUntilExit() }
        #expect(writers.allSatisfy { $0.terminationStatus == 0 }, "every write was acknowledged")
        #expect(code == 0 && text.contains("Apply complete"), "\(text)")
        #expect(try sql(s, "SELECT id FROM DB.pa ORDER BY id;") == "1\n2\n" && sql(s, "SELECT id FROM DB.ch ORDER BY id;") == "1\n2\n", "both writes are live")
        #expect(try sql(s, "SELECT id FROM DB.n;") == "1\n", "the target is the appended one")
    }

    /// An application's transaction open on the target as the append's swap begins its hold
    /// (its uncommitted row holds the table): the hold waits, in short tries that let writers go
    /// on between them, and once the transaction commits it finds the row and renames nothing;
    /// the row is live, and nothing of the run is left.
    @Test func anOpenTransactionOnAnAppendsTargetIsWaitedForAndItsRowStaysLive() throws {
        let s = try setUp()
        defer { tearDown(s) }
        try planAppendOfTableN(s)
        let (run, output) = try startStopped(s, at: "change:mysql.swap.checked")
        defer { if run.isRunning { killed(run) } }
        let app = try startClient(s, "BEGIN; INSERT INTO DB.t VALUES (3, 'in-transaction'); SELECT SLEEP(5); COMMIT;")
        defer { if app.isRunning { app.terminate() } }
        Thread.sleep(forTimeInterval: 0.5)
        let (code, text) = resume(run, output)
        app.waitUntilExit()
        #expect(app.terminationStatus == 0, "the application's transaction committed")
        #expect(code == 3 && text.contains("found under the swap's hold") && text.contains("nothing was renamed"), "\(text)")
        #expect(try sql(s, "SELECT v FROM DB.t WHERE id = 3;") == "in-transaction\n", "its row is live")
        #expect(try schemas(s) == [s.target], "nothing of the run is left: \(names(s))")
    }

    /// Fresh tester round 47, M1: an application's open transaction on one table, and an
    /// append begins: its snapshot's `LOCK TABLES ... READ` took the tables before that one
    /// and waited, with no end, and every writer of those waited behind it (42.5 s seen). The
    /// snapshot now takes the lock in tries of 2 s that let go in between: a writer of another
    /// table gets through while the transaction is still open; the append, begun before those
    /// writes, is refused (nothing renamed), and the next one works.
    @Test func anOpenTransactionDoesNotHoldWritersOfOtherTablesBehindTheSnapshot() throws {
        let s = try setUp()
        defer { tearDown(s) }
        try planAppendOfTableN(s)
        try sql(s, "CREATE TABLE DB.zz (id INT PRIMARY KEY) ENGINE=InnoDB;")
        let app = try startClient(s, "BEGIN; INSERT INTO DB.zz VALUES (1); SELECT SLEEP(8); COMMIT;")
        defer { if app.isRunning { app.terminate() } }
        Thread.sleep(forTimeInterval: 0.3)
        let output = s.project.root + "/apply-m1.out"
        FileManager.default.createFile(atPath: output, contents: nil)
        let run = try s.project.start(["apply", "--auto-approve"], stdout: try #require(FileHandle(forWritingAtPath: output)))
        defer { if run.isRunning { killed(run) } }
        // The snapshot's LOCK TABLES waits on `zz`, holding `o`, `sq` and `t` (taken in order).
        var waiting = false
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, !waiting, run.isRunning {
            waiting = try cli.sql(s.project, s.server, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE = 'Waiting for table metadata lock' AND INFO LIKE 'LOCK TABLES %';") == "1\n"
            if !waiting { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(waiting, "the snapshot waits on the open transaction")
        let writer = try startClient(s, "INSERT INTO DB.t VALUES (9, 'other-table');")
        writer.waitUntilExit()
        #expect(writer.terminationStatus == 0 && app.isRunning, "the write into another table went through while the transaction was still open")
        app.waitUntilExit()
        run.waitUntilExit()
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        // Both writes came after the append began from the target: refused, nothing renamed.
        #expect(run.terminationStatus == 3 && text.contains("after the append's snapshot"), "\(text)")
        #expect(try sql(s, "SELECT v FROM DB.t WHERE id = 9;") == "other-table\n" && sql(s, "SELECT id FROM DB.zz;") == "1\n", "both writes are live")
        #expect(try schemas(s) == [s.target], "nothing of the run is left: \(names(s))")
        let again = try s.project.run("apply", "--auto-approve")
        #expect(try again.code == 0 && sql(s, "SELECT id FROM DB.n;") == "1\n", "\(again.all)")
    }

    /// (d, later) A write that lands in an append's target after the core checked it against the
    /// snapshot and before the swap's rename (stopped at `change:mysql.swap.checked`, the swap's
    /// first point): it went with the rename into the checkpoint, not into the appended target,
    /// and the run said "Apply complete!"; then (round 41, F3) the swap compared what its rename
    /// moved and was undone. Now the swap's own check under its hold finds it, before anything is
    /// renamed: the write is in the target, the append is not, nothing of the run is left;
    /// without a write the append works.
    @Test(arguments: [writes[0], writes[4], writes[5],
                      Write(label: "update keeping the row count", sql: "UPDATE DB.t SET v = 'app' WHERE id = 2;", check: "SELECT v FROM DB.t ORDER BY id;", expected: "user-original\napp\n")])
    func appendWrittenBetweenItsCheckAndTheRenameIsRefusedUnderTheHold(_ write: Write) throws {
        let s = try setUp()
        defer { tearDown(s) }
        try planAppendOfTableN(s)
        let (run, output) = try startStopped(s, at: "change:mysql.swap.checked")
        defer { if run.isRunning { killed(run) } }
        try sql(s, write.sql)
        let (code, text) = resume(run, output)
        #expect(code == 3, "\(write.label): \(text)")
        #expect(text.contains("WrongStatus") && text.contains("after the append's snapshot") && text.contains("found under the swap's hold")
                && text.contains("nothing was renamed") && !text.contains("Apply complete"), "\(text)")
        // Round 45, L1: not "restored ... from its checkpoint": no table moved.
        #expect(text.contains("that its swap had taken out: it stopped before moving any table") && !text.contains("from its checkpoint"), "\(text)")
        #expect(try sql(s, write.check) == write.expected, "the write is in the target")
        #expect(try sql(s, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(s.target)' AND TABLE_NAME = 'n';") == "0\n", "the append is not in")
        #expect(try schemas(s) == [s.target], "nothing of the run is left: \(names(s))")
        #expect(!(try s.project.run("plan")).all.contains("RunInterrupted"), "the run ended")

        let appended = try s.project.run("apply", "--auto-approve")
        #expect(appended.code == 0, "without a write the append works: \(appended.all)")
        #expect(try sql(s, "SELECT id FROM DB.n;") == "1\n")
        #expect(try sql(s, write.check) == write.expected, "what the target held stays")
    }

    /// Fresh tester round 42, L2: `kill -9` of an apply inside its swap, after the rename, while
    /// an application writes into the live target: `ferry recover` undid the swap (a MySQL swap
    /// not journaled done was undone as before), and the rows written after the rename went
    /// with it into the shadow. Now rows written after the rename keep the target as it is
    /// (exit 4, said so, the checkpoint beside it, nothing left pending); an append and a
    /// replace, killed after the rename or before the old objects are settled.
    @Test(arguments: [("append", "change:mysql.swap.renamed", writes[0]), ("append", "change:mysql.swap.movedIn", writes[5]),
                      ("append", "change:mysql.swap.renamed", writes[4]),
                      ("replace", "change:mysql.swap.movedIn", writes[0]), ("replace", "change:mysql.swap.renamed", writes[1])])
    func rowsWrittenAfterAKilledSwapsRenameStayInTheTarget(plan: String, point: String, write: Write) throws {
        let s = try setUp()
        defer { tearDown(s) }
        try planForAKilledSwap(s, plan)
        let (run, _) = try startStopped(s, at: point)
        try sql(s, write.sql)
        killed(run)
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 4, "\(write.label): \(recovered.all)")
        #expect(recovered.all.contains("a/\(s.target) was written after the run's swap moved its tables in") && !recovered.all.contains("as they were before"),
                "\(recovered.all)")
        #expect(try sql(s, write.check) == write.expected, "the application's write is live: \(recovered.all)")
        #expect(try sql(s, plan == "append" ? "SELECT id FROM DB.n;" : "SELECT COUNT(*) FROM DB.o;") != "", "the run's tables stay in the target")
        let checkpoint = try #require(try schemas(s).first { $0.contains("__ferry_c") }, "the checkpoint is kept: \(names(s))")
        #expect(recovered.all.contains(checkpoint), "\(recovered.all)")
        #expect(try sql(s, "SELECT v FROM `\(checkpoint)`.t WHERE id = 1;") == "user-original\n", "what the target held before is in the checkpoint")
        let again = try s.project.run("recover")
        #expect(again.code == 0 && again.all.contains("Nothing to recover"), "the run ended: \(again.all)")
    }

    /// The same for a target the run creates: the row stays, the target is left as it is, and
    /// the shadow (Ferry's alone: nothing of the user's was swapped out) goes, so the message
    /// names nothing left in it.
    @Test func rowsWrittenIntoANewTargetAfterAKilledSwapsRenameStayThere() throws {
        let s = try setUp()
        defer { tearDown(s) }
        try sql(s, "DROP DATABASE `\(s.target)`;")
        try planForAKilledSwap(s, "replace")
        let (run, _) = try startStopped(s, at: "change:mysql.swap.renamed")
        try sql(s, "INSERT INTO DB.t VALUES (100, 'app');")
        killed(run)
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 4 && recovered.all.contains("was written after the run's swap moved its tables in")
                && !recovered.all.contains("is still in") && !recovered.all.contains("as they were before"), "\(recovered.all)")
        #expect(try sql(s, "SELECT id FROM DB.t ORDER BY id;") == "1\n2\n100\n", "the row is live")
        #expect(try schemas(s) == [s.target], "only the target: \(names(s))")
        #expect(try s.project.run("recover").all.contains("Nothing to recover"))
    }

    /// The same kill without a write: the recover undoes the swap (exit 0, as before the run).
    @Test(arguments: [("append", "change:mysql.swap.renamed"), ("replace", "change:mysql.swap.movedIn")])
    func aKilledSwapsRenameWithoutWritesIsUndone(plan: String, point: String) throws {
        let s = try setUp()
        defer { tearDown(s) }
        try planForAKilledSwap(s, plan)
        let before = try sql(s, "SELECT id, v FROM DB.t ORDER BY id;")
        let (run, _) = try startStopped(s, at: point)
        killed(run)
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0 && recovered.all.contains("as they were before"), "\(recovered.all)")
        #expect(try sql(s, "SELECT id, v FROM DB.t ORDER BY id;") == before)
        #expect(try schemas(s) == [s.target], "\(names(s))")
    }

    /// An append of `n.sql` (`planAppendOfTableN`), or a replace by `a.sql` alone.
    func planForAKilledSwap(_ s: Setup, _ plan: String) throws {
        if plan == "append" { return try planAppendOfTableN(s) }
        try s.project.write("plans/main.json", """
        { "ferry": 1,
          "instances": { "a": { "engine": "mysql", "url": "\(s.server.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
          "imports": { "ia": { "into": "a", "database": "\(s.target)", "from": "data/a.sql", "onExisting": "replace" } } }
        """)
    }

    /// F12: a shadow that something else wrote into after its verify is not dropped by `ferry
    /// recover` (exit 4, named); once its owner removes what they wrote, recover finishes. A
    /// shadow nobody wrote into is dropped.
    @Test func recoverLeavesAShadowSomethingElseWroteInto() throws {
        let s = try setUp(failingSecond: false)
        defer { tearDown(s) }
        try s.project.write("plans/main.json", """
        { "ferry": 1,
          "instances": { "a": { "engine": "mysql", "url": "\(s.server.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
          "imports": { "ia": { "into": "a", "database": "\(s.target)", "from": "data/a.sql", "onExisting": "replace" } } }
        """)
        // Step 1 builds ia, step 2 verifies it (the token is recorded), step 3 swaps it.
        var (run, _) = try startStopped(s, at: "after-stepDone#2")
        killed(run)
        var recovered = try s.project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        #expect(try schemas(s) == [s.target], "an untouched shadow is dropped: \(names(s))")

        (run, _) = try startStopped(s, at: "after-stepDone#2")
        let shadow = try #require(try schemas(s).first { $0.hasPrefix("\(s.target)__ferry_s_") })
        try cli.sql(s.project, s.server, "CREATE TABLE `\(shadow)`.userstuff (x INT); INSERT INTO `\(shadow)`.userstuff VALUES (1);")
        killed(run)
        recovered = try s.project.run("recover")
        #expect(recovered.code == 4, "\(recovered.all)")
        #expect(recovered.all.contains(shadow) && recovered.all.contains("Ferry did not make"), "\(recovered.all)")
        #expect(try cli.sql(s.project, s.server, "SELECT x FROM `\(shadow)`.userstuff;") == "1\n", "the writer's table stays")
        #expect(try sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "the target is as before")

        try cli.sql(s.project, s.server, "DROP TABLE `\(shadow)`.userstuff;")
        recovered = try s.project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        #expect(try schemas(s) == [s.target], "\(names(s))")
    }

    // MARK: Checkpoints written after their swap (tester w2 F2b)

    /// Writes into a checkpoint (`CP.` stands for its name), each with a query that shows it.
    static let checkpointWrites: [Write] = [
        Write(label: "update keeping the row count", sql: "UPDATE CP.t SET v = 'app' WHERE id = 1;", check: "SELECT v FROM CP.t;", expected: "app\n"),
        Write(label: "insert", sql: "INSERT INTO CP.t VALUES (7, 'app');", check: "SELECT COUNT(*) FROM CP.t;", expected: "2\n"),
        Write(label: "DDL: a column added", sql: "ALTER TABLE CP.t ADD COLUMN w INT DEFAULT 3;", check: "SELECT w FROM CP.t;", expected: "3\n"),
        Write(label: "a table of its own", sql: "CREATE TABLE CP.app (i INT); INSERT INTO CP.app VALUES (9);", check: "SELECT i FROM CP.app;", expected: "9\n"),
        Write(label: "a view of its own", sql: "CREATE VIEW CP.av AS SELECT 5 AS x;", check: "SELECT x FROM CP.av;", expected: "5\n"),
    ]

    /// The plan of the checkpoint tests: `a.sql` into the target, replace, run on every apply.
    func importEveryTime(_ s: Setup) throws {
        try s.project.write("plans/main.json", """
        { "ferry": 1,
          "instances": { "a": { "engine": "mysql", "url": "\(s.server.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
          "imports": { "ia": { "into": "a", "database": "\(s.target)", "from": "data/a.sql", "onExisting": "replace", "rerun": "always" } } }
        """)
    }

    func checkpoints(_ s: Setup) throws -> [String] { try schemas(s).filter { $0.hasPrefix("\(s.target)__ferry_c_") } }

    /// The next commit's retention (keep 1) leaves a checkpoint an application wrote into, with a
    /// note naming it, every time; the checkpoints nobody wrote into still go.
    @Test(arguments: checkpointWrites) func retentionLeavesACheckpointWrittenAfterItsSwap(_ write: Write) throws {
        let s = try setUp(failingSecond: false)
        defer { tearDown(s) }
        try importEveryTime(s)
        let first = try s.project.run("apply", "--auto-approve")
        #expect(first.code == 0, "\(first.all)")
        let written = try #require(try checkpoints(s).first, "\(names(s))")
        func cp(_ text: String) -> String { text.replacingOccurrences(of: "CP.", with: "`\(written)`.") }
        try cli.sql(s.project, s.server, cp(write.sql))
        let second = try s.project.run("apply", "--auto-approve")
        #expect(second.code == 0, "\(second.all)")
        #expect(second.all.contains(written) && second.all.contains("written after its swap"), "the note names it: \(second.all)")
        #expect(try cli.sql(s.project, s.server, cp(write.check)) == write.expected, "\(write.label): the write is kept")
        let kept = try checkpoints(s)
        #expect(kept.count == 2, "the second run's checkpoint and the written one: \(kept)")
        let third = try s.project.run("apply", "--auto-approve")
        #expect(third.code == 0, "\(third.all)")
        let now = try checkpoints(s)
        #expect(now.contains(written) && now.count == 2, "the written one stays, the second run's (untouched) goes: \(now)")
        #expect(!now.contains { $0 != written && kept.contains($0) }, "\(now)")
        #expect(try cli.sql(s.project, s.server, cp(write.check)) == write.expected)
    }

    /// A row an application commits into a checkpoint while the next commit's retention drop
    /// waits for its transaction: the drop reads the checkpoint's rows once, under its hold, so
    /// the row (not there when the checks began) keeps the checkpoint, named as written after
    /// its swap. And a foreign key of another database onto a checkpoint's table (made before
    /// the drop: the checkpoint's own definitions do not change) keeps it too (fresh tester
    /// round 52, F3), with the child table and its row.
    @Test(arguments: ["a row committed while the drop waits", "a foreign key from another database"])
    func retentionLeavesACheckpointWrittenWhileItsDropWaits(_ how: String) throws {
        let s = try setUp(failingSecond: false)
        // The child first: its foreign key keeps the checkpoint from being dropped.
        defer { _ = try? cli.sql(s.project, s.server, "DROP DATABASE IF EXISTS `\(s.target)_child`;"); tearDown(s) }
        try importEveryTime(s)
        let first = try s.project.run("apply", "--auto-approve")
        #expect(first.code == 0, "\(first.all)")
        let written = try #require(try checkpoints(s).first, "\(names(s))")
        var app: Process?
        if how.hasPrefix("a row") {
            let client = try startClient(s, "BEGIN; INSERT INTO `\(written)`.t VALUES (7, 'app'); SELECT SLEEP(3); COMMIT;")
            app = client
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline, try cli.sql(s.project, s.server, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(3)';") == "0\n" {
                Thread.sleep(forTimeInterval: 0.05)
            }
        } else {
            try cli.sql(s.project, s.server, """
            CREATE DATABASE `\(s.target)_child`;
            CREATE TABLE `\(s.target)_child`.c (id INT PRIMARY KEY, FOREIGN KEY (id) REFERENCES `\(written)`.t (id)) ENGINE=InnoDB;
            INSERT INTO `\(s.target)_child`.c VALUES (1);
            """)
        }
        defer { if let app, app.isRunning { app.terminate() } }
        let second = try s.project.run("apply", "--auto-approve")
        app?.waitUntilExit()
        #expect(second.code == 0, "\(second.all)")
        let words = how.hasPrefix("a row") ? "written after its swap" : "referenced by a foreign key"
        #expect(second.all.contains(written) && second.all.contains(words), "the note names it: \(second.all)")
        #expect(try checkpoints(s).contains(written), "\(how): the checkpoint is kept: \(names(s))")
        if how.hasPrefix("a row") {
            #expect(try cli.sql(s.project, s.server, "SELECT v FROM `\(written)`.t WHERE id = 7;") == "app\n", "the row is kept")
        } else {
            #expect(try cli.sql(s.project, s.server, "SELECT COUNT(*) FROM `\(s.target)_child`.c JOIN `\(written)`.t USING (id);") == "1\n", "the child and its parent row are kept")
        }
    }

    /// Fresh tester round 54, F2: MariaDB gives a table with a stored generated column another
    /// `CHECKSUM TABLE` while the session holds it with `LOCK TABLES ... WRITE`, so every drop of
    /// a checkpoint or shadow holding one was refused ("written while Ferry checked", "was
    /// written after its swap"): rollbacks ended "not as before", kills left shadows for the user,
    /// retention never dropped the checkpoint. Untouched, each now goes; a row committed into
    /// such a checkpoint while its drop waits still keeps it.
    @Test func aSchemaWithAStoredGeneratedColumnIsDroppedUntouchedAndKeptWritten() throws {
        let s = try setUp(failingSecond: false)
        defer { tearDown(s) }
        try s.project.write("plans/data/a.sql", """
        CREATE TABLE g (id INT PRIMARY KEY, pid INT, gs INT AS (pid + 1) STORED, gb VARCHAR(40) AS (CONCAT('b', pid)) PERSISTENT) ENGINE=InnoDB;
        INSERT INTO g (id, pid) VALUES (1, 5), (2, 7);
        CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20));
        INSERT INTO t VALUES (1, 'from-a');
        """)
        try importEveryTime(s)
        _ = try sql(s, "CREATE TABLE DB.g (id INT PRIMARY KEY, pid INT, gs INT AS (pid + 1) STORED) ENGINE=InnoDB; INSERT INTO DB.g (id, pid) VALUES (9, 90);")
        let first = try s.project.run("apply", "--auto-approve")
        #expect(first.code == 0, "\(first.all)")
        let run = try #require(first.all.split(separator: "\n").first { $0.hasPrefix("Run ") }.map { String($0.split(separator: " ")[1].dropLast()) })
        // A rollback swaps back and drops the run's shadow.
        let rolled = try s.project.run("rollback", run)
        #expect(rolled.code == 0 && rolled.all.contains("hold what they held before"), "\(rolled.all)")
        #expect(try sql(s, "SELECT id, pid, gs FROM DB.g;") == "9\t90\t91\n")
        #expect(try schemas(s) == [s.target], "nothing of Ferry's is left: \(names(s))")
        // Retention drops an untouched checkpoint.
        for _ in 0..<3 {
            let again = try s.project.run("apply", "--auto-approve")
            #expect(again.code == 0 && !again.all.contains("written"), "\(again.all)")
        }
        #expect(try checkpoints(s).count == 1, "one kept, the others dropped: \(names(s))")
        // A verified shadow left by a kill goes with the recover.
        s.project.environment["FERRY_TEST_KILL_AT"] = "after-stepDone#2"
        _ = try s.project.run("apply", "--auto-approve")
        s.project.environment["FERRY_TEST_KILL_AT"] = nil
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0 && recovered.all.contains("as they were"), "\(recovered.all)")
        #expect(try !schemas(s).contains { $0.contains("__ferry_s_") }, "\(names(s))")
        // So does one killed before its verify (no token: its rows are read before the checks and
        // under the hold); round 55, F3: a row committed into its generated-column table while the
        // recover waited went with it, "as they were", and is kept now.
        for written in [false, true] {
            s.project.environment["FERRY_TEST_KILL_AT"] = "after-stepDone#1"
            _ = try s.project.run("apply", "--auto-approve")
            s.project.environment["FERRY_TEST_KILL_AT"] = nil
            let shadow = try #require(try schemas(s).first { $0.contains("__ferry_s_") }, "\(names(s))")
            var app: Process?
            if written {
                app = try startClient(s, "BEGIN; INSERT INTO `\(shadow)`.g (id, pid) VALUES (55, 4); SELECT SLEEP(3); COMMIT;")
                let deadline = Date().addingTimeInterval(30)
                while Date() < deadline, try cli.sql(s.project, s.server, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(3)';") == "0\n" {
                    Thread.sleep(forTimeInterval: 0.05)
                }
            }
            let pass = try s.project.run("recover")
            app?.waitUntilExit()
            if written {
                #expect(pass.code == 4 && !pass.all.contains("as they were"), "\(pass.all)")
                #expect(try cli.sql(s.project, s.server, "SELECT gs FROM `\(shadow)`.g WHERE id = 55;") == "5\n", "the row is kept")
                _ = try cli.sql(s.project, s.server, "DROP DATABASE `\(shadow)`;")
                let finished = try s.project.run("recover")
                #expect(finished.code == 0, "\(finished.all)")
            } else {
                #expect(pass.code == 0 && pass.all.contains("as they were"), "untouched: \(pass.all)")
            }
            #expect(try !schemas(s).contains { $0.contains("__ferry_s_") }, "\(names(s))")
        }
        // A row committed into the checkpoint's generated-column table while the drop waits keeps it.
        let written = try #require(try checkpoints(s).first)
        let app = try startClient(s, "BEGIN; INSERT INTO `\(written)`.g (id, pid) VALUES (77, 1); SELECT SLEEP(3); COMMIT;")
        defer { if app.isRunning { app.terminate() } }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, try cli.sql(s.project, s.server, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(3)';") == "0\n" {
            Thread.sleep(forTimeInterval: 0.05)
        }
        let next = try s.project.run("apply", "--auto-approve")
        app.waitUntilExit()
        #expect(next.code == 0 && next.all.contains(written), "\(next.all)")
        #expect(try cli.sql(s.project, s.server, "SELECT gs FROM `\(written)`.g WHERE id = 77;") == "2\n", "the row is kept")
    }

    /// The same through `ferry state keep 0` and a commit whose clean-up `ferry recover` finishes:
    /// the written checkpoint stays, the untouched one of the same pass goes.
    @Test func recoversCleanUpLeavesACheckpointWrittenAfterItsSwap() throws {
        let s = try setUp(failingSecond: false)
        defer { tearDown(s) }
        try importEveryTime(s)
        let first = try s.project.run("apply", "--auto-approve")
        #expect(first.code == 0, "\(first.all)")
        let written = try #require(try checkpoints(s).first, "\(names(s))")
        try cli.sql(s.project, s.server, "INSERT INTO `\(written)`.t VALUES (8, 'app');")
        let keep = try s.project.run("state", "keep", "0")
        #expect(keep.code == 0, "\(keep.all)")
        s.project.environment["FERRY_TEST_KILL_AT"] = "after-committed"
        let killed = try s.project.run("apply", "--auto-approve")
        s.project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code == 9, "\(killed.all)")
        let recovered = try s.project.run("recover")
        #expect(recovered.all.contains(written) && recovered.all.contains("written after its swap"), "\(recovered.all)")
        #expect(try checkpoints(s) == [written], "the untouched checkpoint goes, the written one stays: \(names(s))")
        #expect(try cli.sql(s.project, s.server, "SELECT v FROM `\(written)`.t WHERE id = 8;") == "app\n")
    }

    // MARK: An application's object in a shadow while it is built (tester w2 F4)

    /// The second import builds slowly and fails; `app` is what an application makes in its
    /// shadow during the build (`SH.` stands for the shadow), with a query that shows it.
    static let shadowWrites: [Write] = [
        Write(label: "a table", sql: "CREATE TABLE SH.app_t (i INT); INSERT INTO SH.app_t VALUES (1);", check: "SELECT i FROM SH.app_t;", expected: "1\n"),
        Write(label: "a view", sql: "CREATE VIEW SH.app_v AS SELECT 2 AS i;", check: "SELECT i FROM SH.app_v;", expected: "2\n"),
    ]

    /// Starts the apply whose second import (`b.sql`) sleeps between two tables and then fails,
    /// waits until its shadow holds the first table, and writes `write` there (during the sleep).
    func writeIntoTheShadowDuringItsBuild(_ s: Setup, _ write: Write) throws -> (Process, String, String) {
        try s.project.write("plans/data/b.sql", "CREATE TABLE x (id INT);\nINSERT INTO x VALUES (1);\nSELECT SLEEP(3);\nCREATE TABLE y (id INT);\nINSERT INTO nonexistent VALUES (1);\n")
        let output = s.project.root + "/apply-\(UUID().uuidString.prefix(6)).out"
        FileManager.default.createFile(atPath: output, contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: output))
        let run = try s.project.start(["apply", "--auto-approve", "--parallelism", "1"], stdout: handle)
        var shadow: String?
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, run.isRunning, shadow == nil {
            shadow = try cli.sql(s.project, s.server, "SELECT TABLE_SCHEMA FROM information_schema.TABLES WHERE TABLE_SCHEMA LIKE '\(s.other)\\_\\_ferry\\_s\\_%' AND TABLE_NAME = 'x';")
                .split(separator: "\n").first.map(String.init)
            if shadow == nil { Thread.sleep(forTimeInterval: 0.05) }
        }
        let name = try #require(shadow, "the second import's shadow gets its first table")
        // Its row is in: the statement that made the table is over, the file sleeps now.
        while Date() < deadline, run.isRunning, (try? cli.sql(s.project, s.server, "SELECT COUNT(*) FROM `\(name)`.x;")) != "1\n" {
            Thread.sleep(forTimeInterval: 0.05)
        }
        try cli.sql(s.project, s.server, write.sql.replacingOccurrences(of: "SH.", with: "`\(name)`."))
        return (run, output, name)
    }

    /// In the run: the failed build's shadow is not dropped (exit 4, named with the object), the
    /// object keeps what the application wrote; once the application's object is gone,
    /// `ferry recover` drops the shadow. Without the write the run ends "as they were" (exit 3).
    @Test(arguments: shadowWrites) func aFailedBuildLeavesAShadowAnApplicationWroteInto(_ write: Write) throws {
        let s = try setUp()
        defer { tearDown(s) }
        let (run, output, shadow) = try writeIntoTheShadowDuringItsBuild(s, write)
        run.waitUntilExit()
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect(run.terminationStatus == 4, "\(write.label): \(text)")
        #expect(text.contains(shadow) && text.contains("Ferry did not make") && text.contains("app_"), "\(text)")
        #expect(!text.contains("as they were"), "\(text)")
        #expect(try cli.sql(s.project, s.server, write.check.replacingOccurrences(of: "SH.", with: "`\(shadow)`.")) == write.expected, "the application's object stays")
        #expect(try sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "the target is as before")
        let name = write.sql.contains("VIEW") ? "VIEW `\(shadow)`.app_v" : "TABLE `\(shadow)`.app_t"
        try cli.sql(s.project, s.server, "DROP \(name);")
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        #expect(try schemas(s) == [s.target], "\(names(s))")
    }

    /// The same killed during the build (no token yet): `ferry recover` leaves the shadow (exit 4)
    /// until the application's table is gone.
    @Test func recoverOfAKilledBuildLeavesAShadowAnApplicationWroteInto() throws {
        let s = try setUp()
        defer { tearDown(s) }
        let (run, _, shadow) = try writeIntoTheShadowDuringItsBuild(s, Self.shadowWrites[0])
        killed(run)
        var recovered = try s.project.run("recover")
        #expect(recovered.code == 4, "\(recovered.all)")
        #expect(recovered.all.contains(shadow) && recovered.all.contains("app_t"), "\(recovered.all)")
        #expect(try cli.sql(s.project, s.server, "SELECT i FROM `\(shadow)`.app_t;") == "1\n")
        try cli.sql(s.project, s.server, "DROP TABLE `\(shadow)`.app_t;")
        recovered = try s.project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        #expect(try schemas(s) == [s.target], "\(names(s))")
    }
}
