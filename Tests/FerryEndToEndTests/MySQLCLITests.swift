import Foundation
import Testing

/// `ferry` against the two MariaDB test servers (scripts/mysql-servers.sh through scripts/test.sh).
@Suite(.serialized) struct MySQLCLITests {
    struct Server {
        var url: String
        var host: String
        var port: String
        var user: String
    }

    func server(_ variable: String) throws -> Server {
        let env = ProcessInfo.processInfo.environment
        let url = try #require(env[variable], "\(variable) is not set: run the tests through scripts/test.sh")
        _ = try #require(env["FERRY_TEST_MYSQL_PASSWORD"], "FERRY_TEST_MYSQL_PASSWORD is not set: run scripts/test.sh")
        let components = try #require(URLComponents(string: url))
        return Server(url: url, host: components.host ?? "127.0.0.1", port: String(components.port ?? 3306), user: components.user ?? "root")
    }

    /// Runs SQL with the mariadb client; returns its tab-separated output.
    @discardableResult
    /// How many of run `run`'s import accounts (`ferry_i_<run tag>_...`) `server` holds: other
    /// tests' runs on the same server may hold theirs right now, so every `ferry_i_%` is not
    /// counted (that made tests flaky).
    func importAccounts(ofRun run: String, _ project: Project, on server: Server) throws -> String {
        let runTag = String(run.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }.suffix(16))
        return try sql(project, server, "SELECT COUNT(*) FROM mysql.user WHERE User LIKE 'ferry\\_i\\_\(runTag)\\_%';")
    }

    func sql(_ project: Project, _ server: Server, _ statements: String) throws -> String {
        let file = project.root + "/setup-\(UUID().uuidString.prefix(6)).sql"
        try statements.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try project.runShell("MYSQL_PWD=\"$FERRY_TEST_MYSQL_PASSWORD\" mariadb -h\(server.host) -P\(server.port) -u\(server.user) -N -B < '\(file)'")
        #expect(result.code == 0, "\(result.all)")
        return result.stdout
    }

    func plan(_ a: Server, _ b: Server, password: String = "FERRY_TEST_MYSQL_PASSWORD", databases: String, users: String = "skip",
              source: String = "", target: String = "", copy: String = #", "onExisting": "replace""#) -> String {
        """
        { "ferry": 1,
          "instances": {
            "src": { "engine": "mysql", "url": "\(a.url)", "password": { "env": "\(password)" }\(source) },
            "dst": { "engine": "mysql", "url": "\(b.url)", "password": { "env": "\(password)" }\(target) }
          },
          "copies": { "mirror": { "from": "src", "to": "dst", "databases": \(databases), "users": "\(users)"\(copy) } } }
        """
    }

    /// SPEC §3 at plan time, on MySQL instances: a storageLimit too small, a target that exists
    /// (onExisting fail), and a copy between accounts. Each is a plan error with its code, and
    /// apply changes nothing.
    @Test func storageLimitNameConflictAndCrossAccountArePlanErrors() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_MYSQL_A"), b = try server("FERRY_TEST_MYSQL_B")
        let tag = "pe\(UUID().uuidString.prefix(6).lowercased())"
        try sql(project, a, """
        DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`;
        CREATE TABLE `\(tag)`.t(id INT PRIMARY KEY, v VARCHAR(100)); INSERT INTO `\(tag)`.t SELECT seq, REPEAT('v', 90) FROM `\(tag)`.seq_1_to_2000;
        ANALYZE TABLE `\(tag)`.t;
        """)
        try sql(project, b, "DROP DATABASE IF EXISTS `\(tag)`; DROP DATABASE IF EXISTS `\(tag)_taken`; CREATE DATABASE `\(tag)_taken`; CREATE TABLE `\(tag)_taken`.mine(x INT); INSERT INTO `\(tag)_taken`.mine VALUES (7);")
        defer {
            _ = try? sql(project, a, "DROP DATABASE IF EXISTS `\(tag)`;")
            _ = try? sql(project, b, "DROP DATABASE IF EXISTS `\(tag)`; DROP DATABASE IF EXISTS `\(tag)_taken`;")
        }
        let schemas = "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)%' ORDER BY 1;"
        let untouched = try sql(project, b, schemas)

        // storageLimit too small for what the copy brings.
        try project.write("plans/main.json", plan(a, b, databases: "[\"\(tag)\"]", target: #", "storageLimit": "16 KiB""#))
        let limited = try project.run("plan")
        #expect(limited.code == 1, "\(limited.all)")
        #expect(limited.stderr.contains("error[StorageLimitExceeded]"), "\(limited.all)")
        #expect(limited.stderr.contains("instances.dst.storageLimit"), "the error points at the field: \(limited.all)")
        let refused = try project.run("apply", "--auto-approve")
        #expect(refused.code != 0 && refused.stderr.contains("StorageLimitExceeded"), "\(refused.all)")
        #expect(try sql(project, b, schemas) == untouched, "a refused apply changes nothing")

        // A target database that exists and is not this copy's: NameConflict unless onExisting allows it.
        try project.write("plans/main.json", plan(a, b, databases: "{ \"\(tag)\": \"\(tag)_taken\" }", copy: ""))
        let conflict = try project.run("plan")
        #expect(conflict.code == 1, "\(conflict.all)")
        #expect(conflict.stderr.contains("error[NameConflict]") && conflict.stderr.contains("\(tag)_taken"), "\(conflict.all)")
        #expect(conflict.stderr.contains("onExisting"), "the hint names the way out: \(conflict.all)")
        #expect(try project.run("apply", "--auto-approve").code != 0)
        #expect(try sql(project, b, "SELECT * FROM `\(tag)_taken`.mine;") == "7\n")

        // Different accounts on the two sides: refused unless the copy allows it.
        try project.write("plans/main.json", plan(a, b, databases: "[\"\(tag)\"]", source: #", "account": "acme""#, target: #", "account": "other""#))
        let cross = try project.run("plan")
        #expect(cross.code == 1 && cross.stderr.contains("error[OperationDenied.CrossAccount]"), "\(cross.all)")
        try project.write("plans/main.json", plan(a, b, databases: "[\"\(tag)\"]", source: #", "account": "acme""#, target: #", "account": "other""#,
                                                  copy: #", "onExisting": "replace", "allowCrossAccount": true"#))
        let allowed = try project.run("plan")
        #expect(allowed.code == 0, "\(allowed.all)")
        #expect(try sql(project, b, schemas) == untouched)
    }

    /// Database, table, column and view names with quotes, backticks and spaces, through apply.
    @Test func namesWithQuotesBackticksAndSpacesThroughApply() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_MYSQL_A"), b = try server("FERRY_TEST_MYSQL_B")
        let tag = "nq\(UUID().uuidString.prefix(4).lowercased())"
        let source = "\(tag) we`ird 'na\"me", target = "\(tag) co`py 'of\" it"
        func q(_ name: String) -> String { "`" + name.replacingOccurrences(of: "`", with: "``") + "`" }
        func json(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
        try sql(project, a, """
        DROP DATABASE IF EXISTS \(q(source)); CREATE DATABASE \(q(source));
        CREATE TABLE \(q(source)).`t``a b'c"` (`co``l 1` INT PRIMARY KEY, `v'"` VARCHAR(20), KEY `k``x` (`v'"`));
        INSERT INTO \(q(source)).`t``a b'c"` VALUES (1, 'a`b'), (2, 'c''d'), (3, 'e"f');
        CREATE VIEW \(q(source)).`v w` AS SELECT `co``l 1` FROM \(q(source)).`t``a b'c"`;
        """)
        try sql(project, b, "DROP DATABASE IF EXISTS \(q(target));")
        defer {
            _ = try? sql(project, a, "DROP DATABASE IF EXISTS \(q(source));")
            _ = try? sql(project, b, "DROP DATABASE IF EXISTS \(q(target));")
        }
        try project.write("plans/main.json", plan(a, b, databases: "{ \(json(source)): \(json(target)) }"))
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let rows = "SELECT * FROM %@.`t``a b'c\"` ORDER BY 1; SELECT * FROM %@.`v w` ORDER BY 1;"
        let copied = try sql(project, b, rows.replacingOccurrences(of: "%@", with: q(target)))
        #expect(copied == (try sql(project, a, rows.replacingOccurrences(of: "%@", with: q(source)))) && copied.contains("a`b"), "\(copied)")
        let schemas = try sql(project, b, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)%';")
        #expect(schemas == target + "\n", "no shadow stays: \(schemas)")
        #expect(try project.run("plan", "--detailed-exitcode").code == 0)
    }

    /// Fresh tester round 56, M1, and a `FLOAT` copied as its 6-digit text (another float): every
    /// copy of a table with a generated column (its `CHECKSUM TABLE` differs between servers) or
    /// with a `FLOAT` column failed its checksum verify. Both now copy and verify, the floats
    /// exactly; and a later change of one float beyond its shown digits is a change (`plan`).
    @Test func floatsAndGeneratedColumnsCopyExactlyAndVerify() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_MYSQL_A"), b = try server("FERRY_TEST_MYSQL_B")
        let tag = "fg\(UUID().uuidString.prefix(4).lowercased())"
        try sql(project, a, """
        DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`;
        CREATE TABLE `\(tag)`.g (id INT PRIMARY KEY, a INT, f FLOAT, f2 FLOAT(9,4) UNSIGNED, d DOUBLE, v INT AS (a + 1) VIRTUAL, st VARCHAR(30) AS (CONCAT('x', a)) STORED) ENGINE=InnoDB;
        INSERT INTO `\(tag)`.g (id, a, f, f2, d) SELECT seq, seq * 3, seq / 7, seq / 13, seq / 3 FROM `\(tag)`.seq_1_to_3000;
        INSERT INTO `\(tag)`.g (id, a, f, f2, d) VALUES (0, NULL, 3.4e38, NULL, -1e-300), (-1, 1, -1.17549e-38, 0, 0);
        CREATE TABLE `\(tag)`.plain (id INT PRIMARY KEY, f FLOAT) ENGINE=InnoDB;
        INSERT INTO `\(tag)`.plain SELECT seq, seq / 11 FROM `\(tag)`.seq_1_to_500;
        """)
        try sql(project, b, "DROP DATABASE IF EXISTS `\(tag)_c`;")
        defer {
            _ = try? sql(project, a, "DROP DATABASE IF EXISTS `\(tag)`;")
            _ = try? sql(project, b, "DROP DATABASE IF EXISTS `\(tag)_c`;")
        }
        try project.write("plans/main.json", plan(a, b, databases: "{ \"\(tag)\": \"\(tag)_c\" }"))
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0 && applied.all.contains("Apply complete"), "\(applied.all)")
        let exact = "SELECT id, CAST(f AS DOUBLE), CAST(f2 AS DOUBLE), d, v, st FROM %@.g ORDER BY id; SELECT id, CAST(f AS DOUBLE) FROM %@.plain ORDER BY id;"
        let copied = try sql(project, b, exact.replacingOccurrences(of: "%@", with: "`\(tag)_c`"))
        #expect(copied == (try sql(project, a, exact.replacingOccurrences(of: "%@", with: "`\(tag)`"))) && copied.contains("0.1428571492433548"), "every value exactly")
        #expect(try project.run("plan", "--detailed-exitcode").code == 0, "nothing to do")
        try sql(project, b, "UPDATE `\(tag)_c`.g SET f = f + 0.00001 WHERE id = 7;")
        let drift = try project.run("plan", "--refresh-only")
        #expect(drift.all.contains("changed outside Ferry") && !drift.all.contains("No drift"), "\(drift.all)")
    }

    @Test func copyWithRenameMapAndUsersThroughApply() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_MYSQL_A"), b = try server("FERRY_TEST_MYSQL_B")
        let tag = "e2e\(UUID().uuidString.prefix(6).lowercased())"
        try sql(project, a, """
        DROP DATABASE IF EXISTS `\(tag)_app`; CREATE DATABASE `\(tag)_app`;
        CREATE TABLE `\(tag)_app`.orders(id INT PRIMARY KEY, note VARCHAR(40), amount DECIMAL(10,2));
        INSERT INTO `\(tag)_app`.orders VALUES (1, 'it''s', 9.99), (2, NULL, 0.01), (3, 'back`tick', 100.00);
        CREATE USER IF NOT EXISTS '\(tag)_reader'@'%' IDENTIFIED BY 'pw-\(tag)';
        GRANT SELECT ON `\(tag)_app`.* TO '\(tag)_reader'@'%';
        """)
        try project.write("plans/main.json", plan(a, b, databases: "{ \"\(tag)_app\": \"\(tag)_copy\" }", users: "sync"))
        let planned = try project.run("plan")
        #expect(planned.code == 0, "\(planned.all)")
        #expect(planned.stdout.contains("src/\(tag)_app → dst/\(tag)_copy"))
        // A MySQL copy has a finish step (its keys) between build and swap, beside the verify.
        #expect(planned.stdout.contains("finish dst/\(tag)_copy"), "\(planned.stdout)")
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        #expect(applied.stdout.contains("finish dst/\(tag)_copy"), "\(applied.stdout)")
        let status = try project.run("status")
        #expect(status.stdout.contains("[done] finish dst/\(tag)_copy"), "\(status.stdout)")
        // The journal carries the build's receipt: the source's sums of the copy's snapshot.
        let runDirectory = try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs").sorted().last)
        let journal = try String(contentsOfFile: project.root + "/.ferry/runs/\(runDirectory)/journal.jsonl", encoding: .utf8)
        #expect(journal.contains("\"receipt\"") && journal.contains("\"orders\""), "\(journal)")
        let source = try sql(project, a, "SELECT * FROM `\(tag)_app`.orders ORDER BY id;")
        let copied = try sql(project, b, "SELECT * FROM `\(tag)_copy`.orders ORDER BY id;")
        #expect(copied == source && !copied.isEmpty)
        let grants = try sql(project, b, "SHOW GRANTS FOR '\(tag)_reader'@'%';")
        #expect(grants.contains("`\(tag)_copy`"), "\(grants)")
        #expect(try project.run("plan", "--detailed-exitcode").code == 0)
        let schemas = try sql(project, b, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)%';")
        #expect(schemas.split(separator: "\n") == ["\(tag)_copy"], "no shadow schema stays after commit: \(schemas)")
        // Roll the committed run back: the copy did not exist before it.
        let runLine = try #require(applied.stdout.split(separator: "\n").first { $0.hasPrefix("Run ") })
        let reverted = try project.run("rollback", String(runLine.split(separator: " ")[1].dropLast()))
        #expect(reverted.code == 0, "\(reverted.all)")
        let after = try sql(project, b, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)%';")
        #expect(after.isEmpty, "\(after)")
        // No password in any output or file Ferry wrote.
        let secret = ProcessInfo.processInfo.environment["FERRY_TEST_MYSQL_PASSWORD"]!
        #expect(!applied.all.contains(secret))
        let written = try project.runShell("grep -rl -- \"$FERRY_TEST_MYSQL_PASSWORD\" .ferry || true")
        #expect(written.stdout.isEmpty, "secret found in \(written.stdout)")
        try sql(project, a, "DROP DATABASE `\(tag)_app`; DROP USER '\(tag)_reader'@'%';")
        try sql(project, b, "DROP DATABASE IF EXISTS `\(tag)_copy`; DROP USER IF EXISTS '\(tag)_reader'@'%';")
    }

    @Test func passwordInAnEnvironmentURLNeverReachesStateJournalOrOutput() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_MYSQL_A"), b = try server("FERRY_TEST_MYSQL_B")
        let tag = "sec\(UUID().uuidString.prefix(6).lowercased())"
        try sql(project, a, "DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`; CREATE TABLE `\(tag)`.t(x INT PRIMARY KEY); INSERT INTO `\(tag)`.t VALUES (1);")
        let password = ProcessInfo.processInfo.environment["FERRY_TEST_MYSQL_PASSWORD"]!
        func withPassword(_ s: Server) -> String { s.url.replacingOccurrences(of: "://\(s.user)@", with: "://\(s.user):${env:FERRY_TEST_MYSQL_PASSWORD}@") }
        try project.write("plans/main.json", """
        { "ferry": 1,
          "instances": { "src": { "engine": "mysql", "url": "\(withPassword(a))" }, "dst": { "engine": "mysql", "url": "\(withPassword(b))" } },
          "copies": { "c": { "from": "src", "to": "dst", "databases": ["\(tag)"], "onExisting": "replace" } } }
        """)
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        #expect(!applied.all.contains(password))
        let written = try project.runShell("grep -rl -- \"$FERRY_TEST_MYSQL_PASSWORD\" .ferry || true")
        #expect(written.stdout.isEmpty, "secret found in \(written.stdout)")
        try sql(project, a, "DROP DATABASE `\(tag)`;")
        try sql(project, b, "DROP DATABASE IF EXISTS `\(tag)`;")
    }

    @Test func wrongPasswordAndUnknownHostArePlanErrors() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_MYSQL_A")
        var closed = a
        closed.url = "mysql://\(a.user)@127.0.0.1:1"
        project.environment["WRONG_PW"] = "definitely-not-it"
        try project.write("plans/main.json", plan(a, closed, password: "WRONG_PW", databases: "[\"x\"]"))
        let result = try project.run("plan")
        #expect(result.code == 1)
        #expect(result.stderr.contains("OperationDenied.WrongPassword"), "\(result.all)")
        #expect(result.stderr.contains("InstanceNotFound"), "\(result.all)")
        #expect(!result.all.contains("definitely-not-it"))
    }

    @Test func killDuringACopyThenRecoverLeavesTheTargetAsItWas() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_MYSQL_A"), b = try server("FERRY_TEST_MYSQL_B")
        let tag = "kill\(UUID().uuidString.prefix(6).lowercased())"
        try sql(project, a, """
        DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`;
        CREATE TABLE `\(tag)`.big(id INT PRIMARY KEY, v VARCHAR(64));
        INSERT INTO `\(tag)`.big SELECT seq, CONCAT('row-', seq, '-', REPEAT('x', 40)) FROM `\(tag)`.seq_1_to_400000;
        """)
        try sql(project, b, "DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`; CREATE TABLE `\(tag)`.big(id INT PRIMARY KEY, v VARCHAR(64)); INSERT INTO `\(tag)`.big VALUES (1, 'old');")
        try project.write("plans/main.json", plan(a, b, databases: "[\"\(tag)\"]"))
        let before = try sql(project, b, "SELECT * FROM `\(tag)`.big ORDER BY id;")
        let process = try project.start(["apply", "--auto-approve"])
        let deadline = Date().addingTimeInterval(30)
        func journal() -> String {
            let runs = (try? FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs")) ?? []
            return runs.compactMap { project.read(".ferry/runs/\($0)/journal.jsonl") }.joined()
        }
        while !journal().contains("shadowCreated") && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        Thread.sleep(forTimeInterval: 0.3)
        process.signal(SIGKILL)
        process.waitUntilExit()
        let refused = try project.run("plan")
        #expect(refused.code == 1 && refused.stderr.contains("RunInterrupted"), "\(refused.all)")
        let recovered = try project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        #expect(try sql(project, b, "SELECT * FROM `\(tag)`.big ORDER BY id;") == before)
        let leftovers = try sql(project, b, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)%';")
        #expect(leftovers.split(separator: "\n") == ["\(tag)"], "\(leftovers)")
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        #expect(try sql(project, b, "SELECT count(*) FROM `\(tag)`.big;").trimmingCharacters(in: .whitespacesAndNewlines) == "400000")
        try sql(project, a, "DROP DATABASE `\(tag)`;")
        try sql(project, b, "DROP DATABASE IF EXISTS `\(tag)`;")
    }
    /// Runs the repository's scripts/mysql-servers.sh (`Project.serverScript`).
    func serverScript(_ project: Project, _ arguments: String) -> (code: Int32, output: String) {
        project.serverScript("mysql-servers.sh", arguments)
    }

    /// The target server dies (SIGKILL) while the data loads: apply fails and cannot finish its
    /// rollback (exit 4), later commands refuse until `ferry recover`, which, once the server is
    /// back, leaves the target database exactly as it was and no shadow behind.
    @Test func targetServerKilledMidCopyThenRecoverRestoresTheOldState() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_MYSQL_A")
        let port = ProcessInfo.processInfo.environment["FERRY_TEST_MYSQL_PORT_C"] ?? "23063"
        let started = serverScript(project, "start-extra c \(port)")
        try #require(started.code == 0, "cannot start a third MariaDB server: \(started.output)")
        defer { _ = serverScript(project, "stop-extra c") }
        let c = Server(url: "mysql://\(a.user)@127.0.0.1:\(port)", host: "127.0.0.1", port: port, user: a.user)
        let tag = "tk\(UUID().uuidString.prefix(6).lowercased())"
        try sql(project, a, """
        DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`;
        CREATE TABLE `\(tag)`.big(id INT PRIMARY KEY, v VARCHAR(64));
        INSERT INTO `\(tag)`.big SELECT seq, CONCAT('row-', seq, '-', REPEAT('x', 40)) FROM `\(tag)`.seq_1_to_400000;
        """)
        try sql(project, c, """
        DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`;
        CREATE TABLE `\(tag)`.big(id INT PRIMARY KEY, v VARCHAR(64)); INSERT INTO `\(tag)`.big VALUES (1, 'old'), (2, 'kept');
        CREATE TABLE `\(tag)`.extra(k VARCHAR(10) PRIMARY KEY); INSERT INTO `\(tag)`.extra VALUES ('only-here');
        CREATE VIEW `\(tag)`.v AS SELECT id FROM `\(tag)`.big;
        CREATE EVENT `\(tag)`.e ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DO DELETE FROM `\(tag)`.extra;
        """)
        let snapshot = """
        SELECT * FROM `\(tag)`.big ORDER BY id; SELECT * FROM `\(tag)`.extra; CHECKSUM TABLE `\(tag)`.big, `\(tag)`.extra;
        SHOW CREATE VIEW `\(tag)`.v; SELECT EVENT_NAME, STATUS, EVENT_DEFINITION FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '\(tag)';
        SHOW FULL TABLES FROM `\(tag)`;
        """
        let before = try sql(project, c, snapshot)
        try project.write("plans/main.json", plan(a, c, databases: "[\"\(tag)\"]"))

        let log = project.root + "/apply.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let process = try project.start(["apply", "--auto-approve"], stdout: try FileHandle(forWritingTo: URL(fileURLWithPath: log)))
        // Kill the target while rows are being loaded into the shadow.
        var loading = false
        let deadline = Date().addingTimeInterval(60)
        while !loading && process.isRunning && Date() < deadline {
            let busy = try sql(project, c, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'LOAD DATA%' OR INFO LIKE 'INSERT INTO %__ferry_s_%';")
            loading = busy.trimmingCharacters(in: .whitespacesAndNewlines) != "0"
        }
        #expect(loading, "the copy never reached its data load: \(project.read("apply.log") ?? "")")
        let killed = serverScript(project, "kill-extra c")
        #expect(killed.code == 0, "\(killed.output)")
        let exitDeadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < exitDeadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { process.terminate(); Issue.record("ferry apply did not stop after its target died") }
        process.waitUntilExit()
        let output = project.read("apply.log") ?? ""
        #expect(process.terminationStatus == 4, "a rollback that cannot reach the target is incomplete (exit 4): \(output)")

        let restarted = serverScript(project, "start-extra c \(port)")
        try #require(restarted.code == 0, "\(restarted.output)")
        let refused = try project.run("plan")
        #expect(refused.code == 1 && refused.stderr.contains("RunInterrupted"), "\(refused.all)")
        let recovered = try project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        // `ferry runs` agrees with `ferry status` once the recover ended the run (round 19, F6).
        let listed = try project.run("runs").stdout
        #expect(!listed.contains("rollbackIncomplete") && listed.contains("rolledBack"), "\(listed)")
        #expect(try sql(project, c, snapshot) == before, "the target is exactly as it was")
        let leftovers = try sql(project, c, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)%';")
        #expect(leftovers.split(separator: "\n") == ["\(tag)"], "no shadow or checkpoint stays: \(leftovers)")
        #expect(try sql(project, c, "SELECT COUNT(*) FROM ferry_meta.claims WHERE db = '\(tag)';").trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        // And the next apply goes through.
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        #expect(try sql(project, c, "SELECT COUNT(*) FROM `\(tag)`.big;").trimmingCharacters(in: .whitespacesAndNewlines) == "400000")
        try sql(project, a, "DROP DATABASE `\(tag)`;")
    }
    /// `ferry backup` writes a gzip'd dump; a copy from that set (`backup`) restores that moment
    /// (rows, view, routine, and the event with its status) even after the source changed.
    @Test func backupThenCopyFromTheSetRestoresThatMoment() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_MYSQL_A"), b = try server("FERRY_TEST_MYSQL_B")
        let tag = "bk\(UUID().uuidString.prefix(6).lowercased())"
        try sql(project, a, """
        DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`;
        CREATE TABLE `\(tag)`.t(id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO `\(tag)`.t VALUES (1, 'one'), (2, 'it''s'), (3, NULL);
        CREATE VIEW `\(tag)`.odd AS SELECT id FROM `\(tag)`.t WHERE id % 2 = 1;
        CREATE FUNCTION `\(tag)`.plus1(x INT) RETURNS INT DETERMINISTIC RETURN x + 1;
        CREATE EVENT `\(tag)`.purge ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DO DELETE FROM `\(tag)`.t WHERE v IS NULL;
        """)
        try sql(project, b, "DROP DATABASE IF EXISTS `\(tag)_restored`;")
        defer {
            _ = try? sql(project, a, "DROP DATABASE IF EXISTS `\(tag)`;")
            _ = try? sql(project, b, "DROP DATABASE IF EXISTS `\(tag)_restored`;")
        }
        func plan(copies: String) -> String {
            """
            { "ferry": 1,
              "instances": {
                "src": { "engine": "mysql", "url": "\(a.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } },
                "dst": { "engine": "mysql", "url": "\(b.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } }
              },
              "backups": { "nightly": { "of": "src", "databases": ["\(tag)"], "to": "../backups" } }\(copies)
            }
            """
        }
        try project.write("plans/main.json", plan(copies: ""))
        let taken = try project.run("backup", "nightly")
        #expect(taken.code == 0, "\(taken.all)")
        let setID = try #require(taken.stdout.components(separatedBy: "backup set ").dropFirst().first?.split(separator: " ").first.map(String.init), "\(taken.all)")
        let files = try FileManager.default.subpathsOfDirectory(atPath: project.root + "/backups")
        #expect(files.contains { $0.hasSuffix(".sql.gz") }, "\(files)")

        try sql(project, a, "DELETE FROM `\(tag)`.t; DROP EVENT `\(tag)`.purge;")
        try project.write("plans/main.json", plan(copies: """
        ,
          "copies": { "restore": { "from": "src", "to": "dst", "databases": { "\(tag)": "\(tag)_restored" }, "backup": "\(setID)" } }
        """))
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        #expect(try sql(project, b, "SELECT * FROM `\(tag)_restored`.t ORDER BY id;") == "1\tone\n2\tit's\n3\tNULL\n")
        #expect(try sql(project, b, "SELECT * FROM `\(tag)_restored`.odd ORDER BY id; SELECT `\(tag)_restored`.plus1(41);") == "1\n3\n42\n")
        let events = try sql(project, b, "SELECT EVENT_NAME, STATUS, EVENT_DEFINITION FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '\(tag)_restored';")
        #expect(events == "purge\tENABLED\tDELETE FROM t WHERE v IS NULL\n", "\(events)")
        let schemas = try sql(project, b, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)%';")
        #expect(schemas == "\(tag)_restored\n", "no shadow stays: \(schemas)")
    }

    /// Fresh tester w12 F6 on MariaDB: a set's `.sql.gz` replaced by another valid dump (a later
    /// set's, with a row or a table more), its manifest's size and SHA-256 rewritten: the
    /// restored shadow does not hold the tables and rows the manifest recorded, `VerifyFailed`,
    /// nothing swapped in and no shadow left. The later set itself restores.
    @Test(arguments: ["INSERT INTO `%T`.t VALUES (4, 'four');", "CREATE TABLE `%T`.injected(x INT); INSERT INTO `%T`.injected VALUES (1);"])
    func aSetFileSwappedWithItsManifestRewrittenIsNotRestored(_ change: String) throws {
        let project = try Project()
        let a = try server("FERRY_TEST_MYSQL_A"), b = try server("FERRY_TEST_MYSQL_B")
        let tag = "bs\(UUID().uuidString.prefix(6).lowercased())"
        try sql(project, a, "DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`; CREATE TABLE `\(tag)`.t(id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO `\(tag)`.t VALUES (1, 'one'), (2, 'two'), (3, 'three');")
        try sql(project, b, "DROP DATABASE IF EXISTS `\(tag)_restored`;")
        defer {
            _ = try? sql(project, a, "DROP DATABASE IF EXISTS `\(tag)`;")
            _ = try? sql(project, b, "DROP DATABASE IF EXISTS `\(tag)_restored`;")
        }
        func plan(_ set: String?) -> String {
            let copies = set.map { ", \"copies\": { \"restore\": { \"from\": \"src\", \"to\": \"dst\", \"databases\": { \"\(tag)\": \"\(tag)_restored\" }, \"backup\": \"\($0)\" } }" } ?? ""
            return """
            { "ferry": 1,
              "instances": {
                "src": { "engine": "mysql", "url": "\(a.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } },
                "dst": { "engine": "mysql", "url": "\(b.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } }
              },
              "backups": { "nightly": { "of": "src", "databases": ["\(tag)"], "to": "../backups", "keep": 5 } }\(copies)
            }
            """
        }
        func setID(_ taken: Project.Result) throws -> String {
            #expect(taken.code == 0, "\(taken.all)")
            return try #require(taken.stdout.components(separatedBy: "backup set ").dropFirst().first?.split(separator: " ").first.map(String.init), "\(taken.all)")
        }
        try project.write("plans/main.json", plan(nil))
        let first = try setID(try project.run("backup", "nightly"))
        try sql(project, a, change.replacingOccurrences(of: "%T", with: tag))
        let second = try setID(try project.run("backup", "nightly"))
        try project.swapSetFile(in: "backups", of: first, withThatOf: second)
        try project.write("plans/main.json", plan(first))
        let refused = try project.run("apply", "--auto-approve")
        #expect(refused.code == 3, "\(refused.all)")
        #expect(refused.all.contains("VerifyFailed") && refused.all.contains("does not hold what the set's manifest recorded"), "\(refused.all)")
        #expect(try sql(project, b, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)%';") == "")
        let refusedRun = try #require(refused.stdout.split(separator: "\n").first { $0.hasPrefix("Run ") }.map { String($0.split(separator: " ")[1].dropLast()) }, "\(refused.all)")
        #expect(try importAccounts(ofRun: refusedRun, project, on: b) == "0\n", "no import account of the refused run is left")
        try project.write("plans/main.json", plan(second))
        let restored = try project.run("apply", "--auto-approve")
        #expect(restored.code == 0, "\(restored.all)")
        #expect(try sql(project, b, "SELECT count(*) FROM `\(tag)_restored`.t;") == sql(project, a, "SELECT count(*) FROM `\(tag)`.t;"))
    }
}
