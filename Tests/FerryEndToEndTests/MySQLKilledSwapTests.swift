import Foundation
import Testing

/// A killed run's statement that goes on running on the server (fresh tester X0, X7), and an
/// application's object in an import's shadow (X1). The swap's (or its undo's) one `RENAME TABLE`
/// is held on the server by a `LOCK TABLES ... READ` the test takes on a table it moves (for an
/// undo, one of the checkpoint's: its hold takes the target's tables before it sends the rename), so that
/// it is still running when Ferry is killed, as a rename of hundreds of tables is; `ferry recover`
/// starts at once, and the lock is let go while it waits (the dead rename then finishes) or not
/// (recovery ends the dead run's session). Either way recover ends with the instance as before.
@Suite(.serialized) struct MySQLKilledSwapTests {
    let cli = MySQLCLITests()
    let writes = MySQLWritesDuringRunTests()

    /// A `mariadb` client holding `LOCK TABLES table READ` (or what `holding` takes, given back
    /// by `releasing`) until `release`.
    final class Lock {
        let process = Process()
        let input = Pipe()
        let output = Pipe()
        let releasing: String
        convenience init(_ server: MySQLCLITests.Server, table: String) throws {
            try self.init(server, holding: "LOCK TABLES \(table) READ;", releasing: "UNLOCK TABLES;")
        }
        init(_ server: MySQLCLITests.Server, holding: String, releasing: String) throws {
            self.releasing = releasing
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "MYSQL_PWD=\"$FERRY_TEST_MYSQL_PASSWORD\" exec mariadb -h\(server.host) -P\(server.port) -u\(server.user) -N -B --unbuffered"]
            process.standardInput = input
            process.standardOutput = output
            try process.run()
            input.fileHandleForWriting.write(Data("\(holding)\nSELECT 'locked';\n".utf8))
            var seen = Data()
            while !String(decoding: seen, as: UTF8.self).contains("locked") {
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                seen.append(chunk)
            }
        }
        func release() {
            guard process.isRunning else { return }
            input.fileHandleForWriting.write(Data("\(releasing)\n".utf8))
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }
    }

    /// Waits until a rename of a run (`/* ferry:run:` ...) that moves tables of this test's
    /// target (its name is unique to the test) waits on the server: another suite's run renaming
    /// tables at the same moment is not this one's.
    func waitForTheRename(_ s: MySQLWritesDuringRunTests.Setup, _ run: Process) throws {
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline, run.isRunning {
            let n = try cli.sql(s.project, s.server, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '/* ferry:run:%RENAME TABLE%' AND LOCATE('`\(s.target)', INFO) > 0;")
            if n != "0\n" { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        Issue.record("no rename of the run waited on the server (the run \(run.isRunning ? "is still running" : "ended"))")
    }

    /// Starts `args`, output to a file.
    func start(_ s: MySQLWritesDuringRunTests.Setup, _ args: [String]) throws -> (Process, String) {
        let output = s.project.root + "/run-\(UUID().uuidString.prefix(6)).out"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: output))
        return (try s.project.start(args, stdout: handle, stderr: handle), output)
    }

    /// `ferry recover` started right after the kill; the lock let go `releaseAfter` seconds into
    /// it (nil: after it ended). Returns its exit code and output.
    func recoverAtOnce(_ s: MySQLWritesDuringRunTests.Setup, lock: Lock, releaseAfter: Double?) throws -> (Int32, String) {
        let (recover, output) = try start(s, ["recover"])
        if let releaseAfter {
            Thread.sleep(forTimeInterval: releaseAfter)
            lock.release()
        }
        recover.waitUntilExit()
        lock.release()
        return (recover.terminationStatus, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    /// The instance as before the run: the user's table with its row in the target, no schema
    /// of Ferry's left, nothing more to recover, plans run.
    func expectAsBefore(_ s: MySQLWritesDuringRunTests.Setup, _ code: Int32, _ text: String) throws {
        #expect(code == 0, "\(text)")
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "the target holds the user's data again: \(text)")
        #expect(try writes.schemas(s).allSatisfy { !$0.contains("__ferry_") }, "nothing of Ferry's is left: \(writes.names(s))")
        let again = try s.project.run("recover")
        #expect(again.code == 0 && again.stdout.contains("Nothing to recover"), "\(again.all)")
        let plan = try s.project.run("plan")
        #expect(plan.code == 0 || plan.code == 2, "plan is not blocked: \(plan.all)")
    }

    /// X0: `kill -9` while the swap's rename runs on the server, `ferry recover` at once: the
    /// dead rename finishes meanwhile (released 1 s in) or is ended by recover (released 7 s in,
    /// after recover ended it):
    /// the swap is undone in both cases, never recorded as undone while it is in place.
    @Test(arguments: [1.0, 7.0] as [Double?]) func recoverWaitsForTheKilledSwapsRename(_ releaseAfter: Double?) throws {
        let s = try writes.setUp(failingSecond: false)
        defer { writes.tearDown(s) }
        let lock = try Lock(s.server, table: "`\(s.target)`.t")
        defer { lock.release() }
        let (run, _) = try start(s, ["apply", "--auto-approve", "--parallelism", "1"])
        try waitForTheRename(s, run)
        writes.killed(run)
        let (code, text) = try recoverAtOnce(s, lock: lock, releaseAfter: releaseAfter)
        try expectAsBefore(s, code, text)
    }

    /// X0 as the tester met it, with no lock: a swap of 2 x 300 tables, whose one rename runs for
    /// seconds; `kill -9` as soon as the rename shows on the server, `ferry recover` at once. A
    /// recover that judged while the rename still moved the tables took the swap for not begun
    /// and said "as they were" over the run's tables (the user's in the checkpoint).
    @Test func recoverWaitsForAKilledLongRename() throws {
        let s = try writes.setUp(failingSecond: false)
        defer { writes.tearDown(s) }
        try cli.sql(s.project, s.server, (1..<300).map { "CREATE TABLE `\(s.target)`.u\($0) (i INT);" }.joined(separator: "\n"))
        try s.project.write("plans/data/a.sql", (0..<300).map { "CREATE TABLE n\($0) (i INT);" }.joined(separator: "\n") + "\n")
        let (run, _) = try start(s, ["apply", "--auto-approve", "--parallelism", "1"])
        try waitForTheRename(s, run)
        writes.killed(run)
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "the target holds the user's data again: \(recovered.all)")
        #expect(try cli.sql(s.project, s.server, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(s.target)';") == "300\n")
        #expect(try writes.schemas(s).allSatisfy { !$0.contains("__ferry_") }, "nothing of Ferry's is left: \(writes.names(s))")
    }

    /// X7 as the tester met it, with no lock: `ferry rollback RUN` of that swap killed as soon as
    /// its swap back's long rename shows on the server, `ferry recover` at once: the rollback
    /// finishes, nothing of Ferry's is left, plans run.
    @Test func recoverFinishesARollbackKilledInItsLongRename() throws {
        let s = try writes.setUp(failingSecond: false)
        defer { writes.tearDown(s) }
        try cli.sql(s.project, s.server, (1..<300).map { "CREATE TABLE `\(s.target)`.u\($0) (i INT);" }.joined(separator: "\n"))
        try s.project.write("plans/data/a.sql", (0..<300).map { "CREATE TABLE n\($0) (i INT);" }.joined(separator: "\n") + "\n")
        let applied = try s.project.run("apply", "--auto-approve", "--parallelism", "1")
        #expect(applied.code == 0, "\(applied.all)")
        let id = try MySQLImportCLITests().runID(applied.stdout)
        let (run, _) = try start(s, ["rollback", id])
        try waitForTheRename(s, run)
        writes.killed(run)
        let recovered = try s.project.run("recover")
        try expectAsBefore(s, recovered.code, recovered.all)
        #expect(try cli.sql(s.project, s.server, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(s.target)';") == "300\n")
    }

    /// X0 with a target that did not exist: the rename moves the shadow's tables in; the lock is
    /// on a table of the shadow (taken while the apply is stopped before its swap).
    @Test(arguments: [1.0, 7.0] as [Double?]) func recoverWaitsForTheKilledSwapsRenameIntoANewTarget(_ releaseAfter: Double?) throws {
        let s = try writes.setUp(failingSecond: false)
        defer { writes.tearDown(s) }
        try cli.sql(s.project, s.server, "DROP DATABASE `\(s.target)`;")
        let (stopped, _) = try writes.startStopped(s, at: "after-swapBegun#1")
        let shadow = try #require(try writes.schemas(s).first { $0.contains("__ferry_s_") }, "\(writes.names(s))")
        let lock = try Lock(s.server, table: "`\(shadow)`.t")
        defer { lock.release() }
        stopped.signal(SIGCONT)
        try waitForTheRename(s, stopped)
        writes.killed(stopped)
        let (code, text) = try recoverAtOnce(s, lock: lock, releaseAfter: releaseAfter)
        #expect(code == 0, "\(text)")
        #expect(try writes.schemas(s).isEmpty, "the target that did not exist is gone again, nothing of Ferry's left: \(writes.names(s))")
        let again = try s.project.run("recover")
        #expect(again.code == 0 && again.stdout.contains("Nothing to recover"), "\(again.all)")
    }

    /// X7: `ferry rollback RUN` killed while its swap back's rename runs on the server; recover
    /// at once finishes the rollback (the run's shadow proved Ferry's and dropped), status and
    /// plans are not blocked.
    @Test(arguments: [1.0, 7.0] as [Double?]) func recoverFinishesARollbackKilledInItsSwapBack(_ releaseAfter: Double?) throws {
        let s = try writes.setUp(failingSecond: false)
        defer { writes.tearDown(s) }
        let applied = try s.project.run("apply", "--auto-approve", "--parallelism", "1")
        #expect(applied.code == 0, "\(applied.all)")
        let id = try MySQLImportCLITests().runID(applied.stdout)
        // The checkpoint's table the undo moves back: the undo's hold takes the target's own
        // tables first (and waits for a lock on them before it sends any rename).
        let checkpoint = try #require(try writes.schemas(s).first { $0.hasPrefix("\(s.target)__ferry_c_") }, "\(writes.names(s))")
        let lock = try Lock(s.server, table: "`\(checkpoint)`.t")
        defer { lock.release() }
        let (run, _) = try start(s, ["rollback", id])
        try waitForTheRename(s, run)
        writes.killed(run)
        let (code, text) = try recoverAtOnce(s, lock: lock, releaseAfter: releaseAfter)
        try expectAsBefore(s, code, text)
        #expect(!text.contains("cut short"), "\(text)")
    }

    /// X7 in a run's own rollback: the second import fails after the first one's swap; the
    /// rollback's swap back is held and the apply killed; recover at once restores.
    @Test(arguments: [1.0, 7.0] as [Double?]) func recoverFinishesAnInRunRollbackKilledInItsSwapBack(_ releaseAfter: Double?) throws {
        let s = try writes.setUp(failingSecond: true)
        defer { writes.tearDown(s) }
        let (stopped, _) = try writes.startStopped(s, at: "after-swapDone#1")
        let checkpoint = try #require(try writes.schemas(s).first { $0.hasPrefix("\(s.target)__ferry_c_") }, "\(writes.names(s))")
        let lock = try Lock(s.server, table: "`\(checkpoint)`.t")
        defer { lock.release() }
        stopped.signal(SIGCONT)
        try waitForTheRename(s, stopped)
        writes.killed(stopped)
        let (code, text) = try recoverAtOnce(s, lock: lock, releaseAfter: releaseAfter)
        try expectAsBefore(s, code, text)
    }

    // MARK: X1: an application's object in an import's shadow during a plain statement

    /// What an application makes in the shadow (`SH.`) while the import's file sleeps in an INSERT.
    static let shadowObjects: [MySQLWritesDuringRunTests.Write] = [
        .init(label: "a table", sql: "CREATE TABLE SH.app_t (i INT); INSERT INTO SH.app_t VALUES (99);", check: "SELECT i FROM SH.app_t;", expected: "99\n"),
        .init(label: "a procedure", sql: "CREATE PROCEDURE SH.app_p() SELECT 77;", check: "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'SHNAME' AND ROUTINE_NAME = 'app_p';", expected: "1\n"),
        .init(label: "a view", sql: "CREATE VIEW SH.app_v AS SELECT 5 AS i;", check: "SELECT i FROM SH.app_v;", expected: "5\n"),
    ]

    /// The first import's file sleeps in an INSERT (not in a creating statement); the
    /// application's object made meanwhile in its shadow fails the verify (exit 4, named), the
    /// shadow is left with it, the target (existing, or new) is as before, and once the object is
    /// gone `ferry recover` drops the shadow.
    /// `how`: "replace" (the target exists), "new" (it does not), "append" (the shadow starts as
    /// a clone of the target; the file adds a table).
    @Test(arguments: shadowObjects, ["replace", "new", "append"]) func anImportsVerifyRefusesAnObjectItsBuildDidNotMake(_ write: MySQLWritesDuringRunTests.Write, _ how: String) throws {
        let s = try writes.setUp(failingSecond: false)
        defer { writes.tearDown(s) }
        let targetExisted = how != "new"
        if !targetExisted { try cli.sql(s.project, s.server, "DROP DATABASE `\(s.target)`;") }
        if how == "append" {
            let plan = try String(contentsOfFile: s.project.root + "/plans/main.json", encoding: .utf8)
            try s.project.write("plans/main.json", plan.replacingOccurrences(of: #""from": "data/a.sql", "onExisting": "replace""#, with: #""from": "data/a.sql", "onExisting": "append""#))
            try s.project.write("plans/data/a.sql", "INSERT INTO t VALUES (3, SLEEP(3));\n")
        } else {
            try s.project.write("plans/data/a.sql", "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20));\nINSERT INTO t VALUES (1, 'from-file');\nINSERT INTO t VALUES (2, SLEEP(3));\n")
        }
        let (run, output) = try start(s, ["apply", "--auto-approve", "--parallelism", "1"])
        var shadow: String?
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, run.isRunning, shadow == nil {
            shadow = try cli.sql(s.project, s.server, "SELECT TABLE_SCHEMA FROM information_schema.TABLES WHERE TABLE_SCHEMA LIKE '\(s.target)\\_\\_ferry\\_s\\_%' AND TABLE_NAME = 't';")
                .split(separator: "\n").first.map(String.init)
            if shadow == nil { Thread.sleep(forTimeInterval: 0.05) }
        }
        let name = try #require(shadow, "the import's shadow gets its table")
        while Date() < deadline, run.isRunning, (try? cli.sql(s.project, s.server, "SELECT COUNT(*) FROM `\(name)`.t;")) != "1\n" {
            Thread.sleep(forTimeInterval: 0.05)
        }
        try cli.sql(s.project, s.server, write.sql.replacingOccurrences(of: "SH.", with: "`\(name)`."))
        run.waitUntilExit()
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect(run.terminationStatus == 4, "\(write.label): \(text)")
        #expect(text.contains(name) && text.contains("app_"), "the shadow and the object are named: \(text)")
        #expect(!text.contains("as they were") && !text.contains("Apply complete"), "\(text)")
        let check = write.check.replacingOccurrences(of: "SH.", with: "`\(name)`.").replacingOccurrences(of: "SHNAME", with: name)
        #expect(try cli.sql(s.project, s.server, check) == write.expected, "the application's object stays in the shadow")
        if targetExisted {
            #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "the target is as before")
        } else {
            #expect(try !writes.schemas(s).contains(s.target), "the target that did not exist is not made: \(writes.names(s))")
        }
        let drop = write.label == "a procedure" ? "PROCEDURE `\(name)`.app_p" : write.label == "a view" ? "VIEW `\(name)`.app_v" : "TABLE `\(name)`.app_t"
        try cli.sql(s.project, s.server, "DROP \(drop);")
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        #expect(try writes.schemas(s).allSatisfy { !$0.contains("__ferry_") }, "\(writes.names(s))")
    }
}
