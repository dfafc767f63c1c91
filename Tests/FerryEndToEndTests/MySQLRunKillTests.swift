import Foundation
import Testing

/// Issue 15 on MariaDB: user sync journals before it creates, a rollback is a run of its own,
/// a rollback skips grants on tables that are gone, and clean-up after the commit that cannot
/// finish stays pending until `ferry recover`. Kills come from `FERRY_TEST_KILL_AT`.
@Suite(.serialized) struct MySQLRunKillTests {
    /// Claims rows matching `filter` on `server`: "0" when Ferry's claims table does not exist yet
    /// (a brand-new server on which no run has claimed anything).
    func claimCount(_ project: Project, _ server: MySQLCLITests.Server, _ filter: String) throws -> String {
        let exists = trimmed(try cli.sql(project, server, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'ferry_meta' AND TABLE_NAME = 'claims';"))
        if exists == "0" { return "0" }
        return trimmed(try cli.sql(project, server, "SELECT COUNT(*) FROM ferry_meta.claims \(filter);"))
    }

    let cli = MySQLCLITests()

    func run(_ project: Project, killAt point: String?, _ args: [String]) throws -> Project.Result {
        project.environment["FERRY_TEST_KILL_AT"] = point
        defer { project.environment["FERRY_TEST_KILL_AT"] = nil }
        return try project.run(args)
    }

    func runID(in output: String) -> String? {
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("Run ") }) else { return nil }
        return String(line.split(separator: " ")[1].dropLast())
    }

    /// The newest apply run that committed and was not rolled back, from `ferry runs`.
    func newestCommittedRun(_ project: Project) throws -> String? {
        let lines = try project.run("runs").stdout.split(separator: "\n").dropFirst()
        let line = lines.first { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst(2).first == "committed" }
        return line.map { String($0.split(separator: " ")[0]) }
    }

    func trimmed(_ text: String) -> String { text.trimmingCharacters(in: .whitespacesAndNewlines) }

    /// A copy with `users: "sync"` that creates one account and extends another, killed before and
    /// after every journal record and right after each account or grant is made. After `ferry
    /// recover` the target is exactly old (no copy, no new account, the existing account's grants
    /// as before) or exactly new; never a shadow, a claim or an account the run made.
    @Test func userSyncKilledAtEveryRecordLeavesNoAccountOrGrantBehind() throws {
        let project = try Project()
        let a = try cli.server("FERRY_TEST_MYSQL_A"), b = try cli.server("FERRY_TEST_MYSQL_B")
        let tag = "us\(UUID().uuidString.prefix(6).lowercased())"
        try cli.sql(project, a, """
        DROP DATABASE IF EXISTS `\(tag)_app`; CREATE DATABASE `\(tag)_app`;
        CREATE TABLE `\(tag)_app`.t(id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO `\(tag)_app`.t VALUES (1, 'one'), (2, 'two');
        CREATE USER IF NOT EXISTS '\(tag)_new'@'%' IDENTIFIED BY 'pw-\(tag)';
        GRANT SELECT ON `\(tag)_app`.* TO '\(tag)_new'@'%';
        CREATE USER IF NOT EXISTS '\(tag)_old'@'%' IDENTIFIED BY 'pw-\(tag)';
        GRANT SELECT, INSERT ON `\(tag)_app`.* TO '\(tag)_old'@'%';
        """)
        try cli.sql(project, b, """
        DROP DATABASE IF EXISTS `\(tag)_copy`; DROP USER IF EXISTS '\(tag)_new'@'%';
        CREATE USER IF NOT EXISTS '\(tag)_old'@'%' IDENTIFIED BY 'other';
        GRANT SELECT ON `\(tag)_elsewhere`.* TO '\(tag)_old'@'%';
        """)
        defer {
            _ = try? cli.sql(project, a, "DROP DATABASE IF EXISTS `\(tag)_app`; DROP USER IF EXISTS '\(tag)_new'@'%'; DROP USER IF EXISTS '\(tag)_old'@'%';")
            _ = try? cli.sql(project, b, "DROP DATABASE IF EXISTS `\(tag)_copy`; DROP USER IF EXISTS '\(tag)_new'@'%'; DROP USER IF EXISTS '\(tag)_old'@'%';")
        }
        try project.write("plans/main.json", cli.plan(a, b, databases: "{ \"\(tag)_app\": \"\(tag)_copy\" }", users: "sync"))
        let grantsOld = "SHOW GRANTS FOR '\(tag)_old'@'%';"
        let oldGrants = try cli.sql(project, b, grantsOld)
        let accountNew = "SELECT COUNT(*) FROM mysql.user WHERE User = '\(tag)_new';"
        let schemas = "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)%' ORDER BY 1;"
        var points: [String] = []
        for n in 1...40 { points += ["before-record#\(n)", "after-record#\(n)"] }
        points += ["change:users.created#1", "change:users.granted#1", "change:users.granted#2", "after-usersPlanned", "before-usersSynced",
                   "change:clean.shadowDropped#1"]
        var walk = KillWalk()
        for point in points {
            guard let result = try walk.run(project, killAt: point, ["apply", "--auto-approve", "--parallelism", "1"]) else { continue }
            var committedRun: String?
            if result.code != 9 {
                committedRun = runID(in: result.stdout)
            } else {
                try KillWalk.expectRefusedUntilRecovered(project, at: point)
            }
            let copied = try cli.sql(project, b, schemas)
            #expect(copied.isEmpty || copied == "\(tag)_copy\n", "\(point): a shadow or checkpoint stays: \(copied)")
            #expect(try claimCount(project, b, "WHERE db LIKE '\(tag)%'") == "0", "\(point): a claim stays")
            if copied.isEmpty {
                #expect(trimmed(try cli.sql(project, b, accountNew)) == "0", "\(point): the account the run made stays")
                #expect(try cli.sql(project, b, grantsOld) == oldGrants, "\(point): the extended account's grants are not as before")
            } else {
                #expect(trimmed(try cli.sql(project, b, accountNew)) == "1", "\(point)")
                #expect(try cli.sql(project, b, grantsOld).contains("`\(tag)_copy`"), "\(point)")
                // Back to the old state for the next kill: the committed run is rolled back.
                let newest = try newestCommittedRun(project)
                let id = try #require(committedRun ?? newest)
                let back = try project.run("rollback", id)
                #expect(back.code == 0, "\(point): \(back.all)")
                #expect(try cli.sql(project, b, schemas).isEmpty, "\(point)")
                #expect(trimmed(try cli.sql(project, b, accountNew)) == "0", "\(point)")
                #expect(try cli.sql(project, b, grantsOld) == oldGrants, "\(point)")
            }
        }
        #expect(walk.kills >= 15, "kills landed: \(walk.kills)")
    }

    /// Issue 15 §2: the account existed on the target with a grant on a table MariaDB no longer
    /// has (it keeps table grants after `DROP TABLE`). Rolling the sync back cannot give that grant
    /// again: it is reported and skipped, the rollback completes and the state records return.
    @Test func rollbackSkipsGrantsOnTablesThatAreGone() throws {
        let project = try Project()
        let a = try cli.server("FERRY_TEST_MYSQL_A"), b = try cli.server("FERRY_TEST_MYSQL_B")
        let tag = "gr\(UUID().uuidString.prefix(6).lowercased())"
        try cli.sql(project, a, """
        DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`;
        CREATE TABLE `\(tag)`.t(id INT PRIMARY KEY); INSERT INTO `\(tag)`.t VALUES (1), (2);
        CREATE USER IF NOT EXISTS '\(tag)_u'@'%' IDENTIFIED BY 'pw-\(tag)';
        GRANT SELECT ON `\(tag)`.* TO '\(tag)_u'@'%';
        """)
        try cli.sql(project, b, """
        DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`;
        CREATE TABLE `\(tag)`.kept(x INT); INSERT INTO `\(tag)`.kept VALUES (7);
        CREATE TABLE `\(tag)`.gone(x INT); CREATE TABLE `\(tag)`.also_gone(x INT);
        CREATE USER IF NOT EXISTS '\(tag)_u'@'%' IDENTIFIED BY 'other';
        GRANT SELECT ON `\(tag)`.gone TO '\(tag)_u'@'%';
        GRANT INSERT, UPDATE ON `\(tag)`.also_gone TO '\(tag)_u'@'%';
        GRANT SELECT ON `\(tag)`.kept TO '\(tag)_u'@'%';
        DROP TABLE `\(tag)`.gone; DROP TABLE `\(tag)`.also_gone;
        """)
        defer {
            _ = try? cli.sql(project, a, "DROP DATABASE IF EXISTS `\(tag)`; DROP USER IF EXISTS '\(tag)_u'@'%';")
            _ = try? cli.sql(project, b, "DROP DATABASE IF EXISTS `\(tag)`; DROP USER IF EXISTS '\(tag)_u'@'%';")
        }
        let before = try cli.sql(project, b, "SELECT * FROM `\(tag)`.kept;")
        try project.write("plans/main.json", cli.plan(a, b, databases: "[\"\(tag)\"]", users: "sync"))
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let id = try #require(runID(in: applied.stdout))
        #expect(try project.run("state", "list").stdout.contains("copy.mirror"))
        let reverted = try project.run("rollback", id)
        #expect(reverted.code == 0, "a grant on a table that is gone is not fatal: \(reverted.all)")
        #expect(reverted.stdout.contains("skipped") && reverted.stdout.contains("gone"), "it is reported: \(reverted.all)")
        #expect(try cli.sql(project, b, "SELECT * FROM `\(tag)`.kept;") == before, "the target is restored")
        #expect(try cli.sql(project, b, "SHOW GRANTS FOR '\(tag)_u'@'%';").contains("`\(tag)`.`kept`"), "the grants that can be given back are")
        #expect(!(try project.run("state", "list").stdout.contains("copy.mirror")), "the state records are restored")
        #expect(try project.run("runs").stdout.contains("reverted"))
        #expect(try project.run("plan").code == 0)
    }

    /// Issue 15 §1 on MariaDB: a rollback killed at every record never leaves the original tables
    /// without their view, trigger, procedure and event unflagged: plan and apply refuse with
    /// `RunInterrupted`, and `ferry recover` finishes the rollback to exactly the old content.
    @Test func rollbackKilledAtEveryRecordIsFinishedByRecover() throws {
        let project = try Project()
        let a = try cli.server("FERRY_TEST_MYSQL_A"), b = try cli.server("FERRY_TEST_MYSQL_B")
        let tag = "rb\(UUID().uuidString.prefix(6).lowercased())"
        try cli.sql(project, a, """
        DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`;
        CREATE TABLE `\(tag)`.t(id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO `\(tag)`.t VALUES (1, 'new'), (2, 'new'), (3, 'new');
        """)
        try cli.sql(project, b, """
        DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`;
        CREATE TABLE `\(tag)`.t(id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO `\(tag)`.t VALUES (1, 'old');
        CREATE TABLE `\(tag)`.log(n INT);
        CREATE VIEW `\(tag)`.v AS SELECT id FROM `\(tag)`.t;
        CREATE TRIGGER `\(tag)`.tr AFTER INSERT ON `\(tag)`.t FOR EACH ROW INSERT INTO `\(tag)`.log VALUES (NEW.id);
        CREATE PROCEDURE `\(tag)`.p() SELECT 1;
        CREATE EVENT `\(tag)`.e ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DO DELETE FROM `\(tag)`.log;
        """)
        defer {
            _ = try? cli.sql(project, a, "DROP DATABASE IF EXISTS `\(tag)`;")
            _ = try? cli.sql(project, b, "DROP DATABASE IF EXISTS `\(tag)`;")
        }
        let snapshot = """
        SELECT * FROM `\(tag)`.t ORDER BY id; SHOW FULL TABLES FROM `\(tag)`;
        SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(tag)';
        SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '\(tag)';
        SELECT EVENT_NAME, STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '\(tag)';
        """
        let old = try cli.sql(project, b, snapshot)
        try project.write("plans/main.json", cli.plan(a, b, databases: "[\"\(tag)\"]"))
        let schemas = "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)%' ORDER BY 1;"
        var points: [String] = []
        for n in 1...14 { points += ["before-record#\(n)", "after-record#\(n)"] }
        points += ["change:revert.undone#1", "change:revert.shadowDropped#1"]
        var done = Set<String>()
        var kills = 0
        var target: String?
        for point in points {
            let kind = String(point.split(separator: "#")[0])
            if done.contains(kind) { continue }
            if target == nil {
                let applied = try project.run("apply", "--auto-approve")
                #expect(applied.code == 0, "\(applied.all)")
                target = runID(in: applied.stdout)
            }
            let id = try #require(target)
            let result = try run(project, killAt: point, ["rollback", id])
            if result.code != 9 {
                #expect(result.code == 0, "\(point): \(result.all)")
                done.insert(kind)
            } else {
                kills += 1
                let plan = try project.run("plan")
                if plan.code == 1 {
                    #expect(plan.stderr.contains("RunInterrupted"), "\(point): \(plan.all)")
                    #expect(try project.run("apply", "--auto-approve").stderr.contains("RunInterrupted"), "\(point)")
                    #expect(try project.run("runs").stdout.contains("interrupted"), "\(point)")
                    let recovered = try project.run("recover")
                    #expect(recovered.code == 0, "\(point): \(recovered.all)")
                }
            }
            if try project.run("status", id).stdout.contains("reverted") {
                #expect(try cli.sql(project, b, snapshot) == old, "\(point): the target is exactly as before the run")
                #expect(try cli.sql(project, b, schemas) == "\(tag)\n", "\(point): a shadow or checkpoint stays")
                target = nil
            }
            #expect(try claimCount(project, b, "WHERE db LIKE '\(tag)%'") == "0", "\(point)")
        }
        #expect(kills >= 8, "kills landed: \(kills)")
    }

    func isStopped(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(close, offsetBy: 2)...].hasPrefix("T")
    }

    /// Issue 15 §5: the target server dies right after the commit. Apply reports the commit and
    /// that its clean-up is pending (never journals it as done); later commands refuse with
    /// `RunInterrupted` rather than `WrongStatus` forever; `ferry recover` fails while the server
    /// is down and, once it is back, releases the claim and drops the empty shadow.
    @Test func cleanUpThatCannotFinishAfterTheCommitStaysPendingUntilRecover() throws {
        let project = try Project()
        let a = try cli.server("FERRY_TEST_MYSQL_A")
        let port = ProcessInfo.processInfo.environment["FERRY_TEST_MYSQL_PORT_D"] ?? "23064"
        let started = project.startExtraServer("mysql-servers.sh", "d \(port)")
        try #require(started.code == 0, "cannot start a third MariaDB server: \(started.output)")
        defer { _ = cli.serverScript(project, "stop-extra d") }
        let c = MySQLCLITests.Server(url: "mysql://\(a.user)@127.0.0.1:\(port)", host: "127.0.0.1", port: port, user: a.user)
        let tag = "cp\(UUID().uuidString.prefix(6).lowercased())"
        try cli.sql(project, a, """
        DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`;
        CREATE TABLE `\(tag)`.t(id INT PRIMARY KEY); INSERT INTO `\(tag)`.t VALUES (1), (2), (3);
        """)
        defer { _ = try? cli.sql(project, a, "DROP DATABASE IF EXISTS `\(tag)`;") }
        try cli.sql(project, c, "DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`; CREATE TABLE `\(tag)`.t(id INT PRIMARY KEY); INSERT INTO `\(tag)`.t VALUES (9);")
        try project.write("plans/main.json", cli.plan(a, c, databases: "[\"\(tag)\"]"))
        #expect(try project.run("state", "keep", "0").code == 0)

        project.environment["FERRY_TEST_STOP_AT"] = "after-committed"
        let log = project.root + "/apply.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let process = try project.start(["apply", "--auto-approve"], stdout: try FileHandle(forWritingTo: URL(fileURLWithPath: log)))
        project.environment["FERRY_TEST_STOP_AT"] = nil
        let deadline = Date().addingTimeInterval(60)
        while !isStopped(process.processIdentifier) && process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        try #require(isStopped(process.processIdentifier), "apply never reached its commit: \(project.read("apply.log") ?? "")")
        let killed = cli.serverScript(project, "kill-extra d")
        #expect(killed.code == 0, "\(killed.output)")
        process.signal(SIGCONT)
        let exitDeadline = Date().addingTimeInterval(120)
        while process.isRunning && Date() < exitDeadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { process.terminate(); Issue.record("apply did not end after its target died") }
        process.waitUntilExit()
        let output = project.read("apply.log") ?? ""
        #expect(process.terminationStatus == 0, "the run committed: \(output)")
        #expect(output.contains("clean-up could not finish"), "\(output)")
        let journal = ((try? FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs")) ?? [])
            .compactMap { project.read(".ferry/runs/\($0)/journal.jsonl") }.joined()
        #expect(journal.contains("cleanupPending") && !journal.contains("\"cleaned\""), "never journaled as done")

        let refused = try project.run("plan")
        #expect(refused.code == 1 && refused.stderr.contains("RunInterrupted") && refused.stderr.contains("clean-up"), "\(refused.all)")
        let stillDown = try project.run("recover")
        #expect(stillDown.code == 4, "\(stillDown.all)")

        let restarted = project.startExtraServer("mysql-servers.sh", "d \(port)")
        try #require(restarted.code == 0, "\(restarted.output)")
        let recovered = try project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        #expect(try claimCount(project, c, "") == "0", "the claim is released")
        #expect(try cli.sql(project, c, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)%';") == "\(tag)\n",
                "no empty shadow or checkpoint stays")
        #expect(try cli.sql(project, c, "SELECT * FROM `\(tag)`.t ORDER BY id;") == "1\n2\n3\n", "the committed content")
        let next = try project.run("plan", "--detailed-exitcode")
        #expect(next.code == 0, "the database is not locked out: \(next.all)")
    }

    /// Issue 15 §4 on MariaDB (8 of 8 kills left a set with its manifest and without its data
    /// file): `ferry backup` with `keep: 1` killed at every record and inside the removal. No
    /// folder is ever left that misses a file its manifest names, a copy `at` the newest set's
    /// time restores it, and after recovery no half-removed folder stays.
    @Test func backupWithPruningKilledAtEveryRecordNeverListsAHalfSet() throws {
        let project = try Project()
        let a = try cli.server("FERRY_TEST_MYSQL_A"), b = try cli.server("FERRY_TEST_MYSQL_B")
        let tag = "bp\(UUID().uuidString.prefix(6).lowercased())"
        try cli.sql(project, a, """
        DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`;
        CREATE TABLE `\(tag)`.t(id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO `\(tag)`.t VALUES (1, 'one'), (2, 'two');
        """)
        try cli.sql(project, b, "DROP DATABASE IF EXISTS `\(tag)_r`;")
        defer {
            _ = try? cli.sql(project, a, "DROP DATABASE IF EXISTS `\(tag)`;")
            _ = try? cli.sql(project, b, "DROP DATABASE IF EXISTS `\(tag)_r`;")
        }
        try project.write("plans/main.json", """
        { "ferry": 1,
          "instances": {
            "src": { "engine": "mysql", "url": "\(a.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } },
            "dst": { "engine": "mysql", "url": "\(b.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } }
          },
          "backups": { "nightly": { "of": "src", "databases": ["\(tag)"], "to": "../backups", "keep": 1 } } }
        """)
        #expect(try project.run("backup", "nightly").code == 0)
        let base = project.root + "/backups"
        func halfSets() -> [String] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
            return names.filter { name in
                guard let data = FileManager.default.contents(atPath: "\(base)/\(name)/manifest.json"),
                      let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                      let entries = object["entries"] as? [[String: Any]] else { return true }
                return !entries.allSatisfy { FileManager.default.fileExists(atPath: "\(base)/\(name)/\($0["file"] as? String ?? "?")") }
            }
        }
        var points: [String] = []
        for n in 1...16 { points += ["before-record#\(n)", "after-record#\(n)"] }
        points += ["change:prune.manifestRemoved#1"]
        var walk = KillWalk()
        for point in points {
            guard let result = try walk.run(project, killAt: point, ["backup", "nightly"]) else { continue }
            if result.code == 9 { try KillWalk.expectRefusedUntilRecovered(project, at: point) }
            #expect(halfSets() == [], "\(point): \(halfSets())")
            let sets = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
            #expect(sets.count >= 1 && sets.count <= 2, "\(point): \(sets)")
        }
        #expect(walk.kills >= 8, "kills landed: \(walk.kills)")
        // The newest set restores.
        let newest = try #require(try FileManager.default.contentsOfDirectory(atPath: base).sorted().last)
        let text = try #require(project.read("plans/main.json"))
        try project.write("plans/main.json", text.replacingOccurrences(of: "\"keep\": 1 } }", with: """
        "keep": 1 } },
          "copies": { "r": { "from": "src", "to": "dst", "databases": { "\(tag)": "\(tag)_r" }, "backup": "\(newest)" } }
        """))
        let restored = try project.run("apply", "--auto-approve", "--target", "copy.r")
        #expect(restored.code == 0, "\(restored.all)")
        #expect(try cli.sql(project, b, "SELECT * FROM `\(tag)_r`.t ORDER BY id;") == "1\tone\n2\ttwo\n")
    }
}
