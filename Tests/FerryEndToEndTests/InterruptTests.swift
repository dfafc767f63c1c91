import Foundation
import Testing

/// Telling the truth about a run that is interrupted or whose journal cannot be written (SPEC §6,
/// "Interrupting a run" and "A journal that cannot be written"), end to end on SQLite.
@Suite(.serialized) struct InterruptTests {
    /// One statement that runs for seconds (a single INSERT of millions of rows): only
    /// `sqlite3_interrupt` can stop it.
    static let longStatementSeed = seedSQL + """
    CREATE TABLE big(x);
    WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT 40000000) INSERT INTO big SELECT randomblob(64) FROM c;

    """

    /// Many short statements (the loop between them checks the cancellation).
    static func manyStatementsSeed() -> String {
        var text = seedSQL + "CREATE TABLE many(i INTEGER, pad TEXT);\n"
        let pad = String(repeating: "p", count: 200)
        for i in 0..<400_000 { text += "INSERT INTO many VALUES (\(i), '\(pad)');\n" }
        return text
    }

    func prepared() throws -> (Project, Data, Data) {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        let first = try project.run("apply", "--auto-approve")
        #expect(first.code == 0, "\(first.all)")
        return (project, project.fileBytes("var/a/app.db") ?? Data(), project.fileBytes("var/b/app_copy.db") ?? Data())
    }

    /// Waits until the import's shadow exists in var/a (the build step is under way).
    func waitForShadow(_ project: Project, _ process: Process, seconds: Double = 60) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline && process.isRunning {
            if !project.leftovers(in: "var/a").filter({ $0.contains("ferry") && !$0.hasPrefix(".ferry-claims") }).isEmpty { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return false
    }

    func startApply(_ project: Project, log: String) throws -> (Process, FileHandle) {
        FileManager.default.createFile(atPath: project.root + "/" + log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: project.root + "/" + log))
        let process = try project.start(["apply", "--auto-approve", "--parallelism", "1"], stdout: handle)
        return (process, handle)
    }

    /// A run of the long seed whose first signal (`first`, sent once its shadow exists) rolls it
    /// back, stopped at `point` (`FERRY_TEST_STOP_AT`) with that signal taken: the caller sends
    /// the next and `SIGCONT`. Output in out.log and err.log (`logs` reads them).
    struct Stopped {
        var project: Project
        var a: Data, b: Data
        var process: Process
        var out: FileHandle, err: FileHandle

        /// Waits for the process to end and returns (stdout, stderr).
        func finish() throws -> (String, String) {
            process.waitUntilExit()
            try out.close(); try err.close()
            return (project.read("out.log") ?? "", project.read("err.log") ?? "")
        }
    }

    func stoppedAfterASignal(at point: String, first: Int32 = SIGINT, format: String = "text") throws -> Stopped {
        let (project, a, b) = try prepared()
        try project.write("plans/data/seed.sql", Self.longStatementSeed)
        project.environment["FERRY_TEST_STOP_AT"] = point
        for name in ["out.log", "err.log"] { FileManager.default.createFile(atPath: project.root + "/" + name, contents: nil) }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: project.root + "/out.log"))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: project.root + "/err.log"))
        let process = try project.start(["apply", "--auto-approve", "--parallelism", "1", "--format", format], stdout: out, stderr: err)
        project.environment["FERRY_TEST_STOP_AT"] = nil
        #expect(waitForShadow(project, process))
        Thread.sleep(forTimeInterval: 0.2)
        process.signal(first)
        let deadline = Date().addingTimeInterval(60)
        while !LockTimeoutTests.isStopped(process.processIdentifier) && process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(LockTimeoutTests.isStopped(process.processIdentifier), "the rolled-back run reaches \(point)")
        return Stopped(project: project, a: a, b: b, process: process, out: out, err: err)
    }

    func checkAsBefore(_ project: Project, _ a: Data, _ b: Data, _ context: String) throws {
        #expect(project.fileBytes("var/a/app.db") == a, "\(context): var/a/app.db changed")
        #expect(project.fileBytes("var/b/app_copy.db") == b, "\(context): var/b/app_copy.db changed")
        #expect(project.leftovers(in: "var/a").isEmpty, "\(context): left in var/a: \(project.leftovers(in: "var/a"))")
        #expect(project.leftovers(in: "var/b").isEmpty, "\(context): left in var/b: \(project.leftovers(in: "var/b"))")
    }

    @Test(arguments: [("long", SIGINT), ("many", SIGINT), ("long", SIGTERM)])
    func firstSignalMidStepRollsBackAndExits3(shape: String, signal: Int32) throws {
        let (project, a, b) = try prepared()
        try project.write("plans/data/seed.sql", shape == "long" ? Self.longStatementSeed : Self.manyStatementsSeed())
        let (process, handle) = try startApply(project, log: "apply.log")
        #expect(waitForShadow(project, process), "the build step never started")
        Thread.sleep(forTimeInterval: 0.3)
        let sentAt = Date()
        process.signal(signal)
        process.waitUntilExit()
        let took = Date().timeIntervalSince(sentAt)
        try handle.close()
        let log = project.read("apply.log") ?? ""
        #expect(process.terminationReason == .exit && process.terminationStatus == 3, "\(shape)/\(signal): \(process.terminationStatus) \(log)")
        #expect(log.contains("Interrupted (\(signal == SIGINT ? "SIGINT" : "SIGTERM"))"), "\(log)")
        #expect(log.contains("Apply was interrupted and rolled back completely: the instances are as they were."), "\(log)")
        // The running statement was broken off, not waited for.
        #expect(took < 10, "took \(took)s to stop")
        try checkAsBefore(project, a, b, "\(shape)/\(signal)")
        let plan = try project.run("plan")
        #expect(!plan.all.contains("RunInterrupted"), "\(plan.all)")
        #expect(plan.code == 0 || plan.code == 2, "\(plan.all)")
        let runs = try project.run("runs")
        #expect(!runs.stdout.contains("interrupted"), "\(runs.stdout)")
        #expect(runs.stdout.contains("rolledBack"), "\(runs.stdout)")
        #expect(try project.run("recover").stdout.contains("Nothing to recover"))
        // The plan still applies afterwards (the next run is not blocked by anything this one left).
        try project.write("plans/data/seed.sql", RunKillTests.newSeed)
        #expect(try project.run("apply", "--auto-approve").code == 0)
        #expect(try project.query("var/a/app.db", "SELECT count(*) FROM users") == [["4"]])
    }

    /// A signal after the commit point undoes nothing, and says so (a fresh tester saw "rolling
    /// back" printed for a run that then committed).
    @Test func aSignalAfterTheCommitPointSaysTheRunFinishes() throws {
        let (project, _, _) = try prepared()
        try project.write("plans/data/seed.sql", RunKillTests.newSeed)
        project.environment["FERRY_TEST_STOP_AT"] = "before-committed"
        let (process, handle) = try startApply(project, log: "apply.log")
        project.environment["FERRY_TEST_STOP_AT"] = nil
        let deadline = Date().addingTimeInterval(60)
        func stopped() -> Bool {
            let stat = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8)) ?? ""
            return stat.split(separator: ")").last?.split(separator: " ").first == "T"
        }
        while !stopped() && process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(stopped(), "never reached the commit")
        process.signal(SIGINT)
        Thread.sleep(forTimeInterval: 0.1)
        process.signal(SIGCONT)
        process.waitUntilExit()
        try handle.close()
        let log = project.read("apply.log") ?? ""
        #expect(process.terminationStatus == 0, "\(log)")
        #expect(log.contains("Interrupted (SIGINT): the run has already committed"), "\(log)")
        #expect(!log.contains("rolling back"), "\(log)")
        #expect(log.contains("Apply complete!"), "\(log)")
        #expect(try project.query("var/a/app.db", "SELECT count(*) FROM users") == [["4"]])
    }

    @Test func secondSignalLeavesTheRunForRecoverAndExits4() throws {
        // Stopped as its rollback begins, so the second signal lands mid-rollback.
        let stopped = try stoppedAfterASignal(at: "before-rollbackBegun")
        let (project, a, b, process) = (stopped.project, stopped.a, stopped.b, stopped.process)
        process.signal(SIGINT)
        process.signal(SIGCONT)
        let (out, err) = try stopped.finish()
        let log = out + err
        // The rollback is short: on a loaded machine it may reach its final outcome before the
        // signal thread takes the second signal, which is then a note after that outcome (SPEC
        // §6: one ending, never both). That ending is checked as such.
        if !log.contains("stopping now") {
            #expect(process.terminationStatus == 3 && log.contains("Apply was interrupted and rolled back completely"), "\(log)")
            #expect(!(try project.run("runs").stdout.contains("interrupted")))
            try checkAsBefore(project, a, b, "rolled back before the second signal was taken")
            return
        }
        #expect(process.terminationStatus == 4, "\(log)")
        #expect(log.contains("Interrupted again (SIGINT)"), "\(log)")
        #expect(log.contains("ferry recover"), "\(log)")
        let plan = try project.run("plan")
        #expect(plan.code == 1 && plan.stderr.contains("RunInterrupted"), "\(plan.all)")
        #expect(try project.run("runs").stdout.contains("interrupted"))
        let recover = try project.run("recover")
        #expect(recover.code == 0, "\(recover.all)")
        #expect(recover.stdout.contains("The instances are as they were before."), "\(recover.all)")
        try checkAsBefore(project, a, b, "after recover")
        #expect(!(try project.run("plan").all.contains("RunInterrupted")))
    }
}

extension InterruptTests {
    /// The second signal goes through the run's machine (`interruptedAgain`), whatever it is
    /// (SIGTERM after SIGINT, SIGINT after SIGTERM) and whatever the output: exit 4 at once,
    /// `Interrupted again`, nothing printed after it (text) and no outcome line (JSON: the stream
    /// ends without one, SPEC §13), the journal left as the signal found it (no `rolledBack`),
    /// and the state lock given back, so that `ferry recover` runs at once and ends the run as before.
    @Test(arguments: [(SIGINT, SIGTERM, "text"), (SIGTERM, SIGINT, "json"), (SIGINT, SIGINT, "json")])
    func aSecondSignalOfEitherKindEndsTheRunThroughItsMachine(first: Int32, second: Int32, format: String) throws {
        let stopped = try stoppedAfterASignal(at: "before-rollbackBegun", first: first, format: format)
        let (project, a, b, process) = (stopped.project, stopped.a, stopped.b, stopped.process)
        process.signal(second)
        let sentAt = Date()
        process.signal(SIGCONT)
        let (stdout, stderr) = try stopped.finish()
        let took = Date().timeIntervalSince(sentAt)
        let secondName = second == SIGINT ? "SIGINT" : "SIGTERM"
        // The run may reach its final outcome before the second signal is taken (a loaded
        // machine): the signal is then a note after it, one ending, never both (SPEC §6).
        if !stderr.contains("stopping now") {
            #expect(process.terminationStatus == 3 && ((stdout + stderr).contains("rolled back") || stdout.contains("\"rolledBack\"")), "\(stdout)\(stderr)")
            #expect(!stderr.contains("Interrupted again") || stderr.contains("the run has ended"), "\(stderr)")
            try checkAsBefore(project, a, b, "rolled back before the second signal was taken")
            return
        }
        #expect(process.terminationReason == .exit && process.terminationStatus == 4, "\(stdout)\(stderr)")
        #expect(took < Double(1.5), "took \(took)s: the run was not ended through its machine at once")
        #expect(stderr.contains("Interrupted again (\(secondName))"), "\(stderr)")
        let afterSignal = stderr.components(separatedBy: "Interrupted again").last ?? ""
        #expect(!afterSignal.contains("Apply"), "nothing is printed after the second signal: \(afterSignal)")
        #expect(!stdout.contains("Apply was") && !stdout.contains("Apply failed"), "\(stdout)")
        if format == "json" {
            #expect(!stdout.contains("\"outcome\""), "the stream ends without an outcome: \(stdout)")
        }
        #expect(!FileManager.default.fileExists(atPath: project.root + "/.ferry/state.lock"), "the state lock was given back")
        let runs = try project.run("runs")
        #expect(runs.stdout.contains("interrupted"), "\(runs.all)")
        let recover = try project.run("recover")
        #expect(recover.code == 0 && recover.stdout.contains("The instances are as they were before."), "\(recover.all)")
        try checkAsBefore(project, a, b, "after recover")
    }
}

extension InterruptTests {
    /// A second signal that lands as the run's outcome becomes final (issue 18): it is either the
    /// run's end (exit 4, "stopping now", nothing printed after it, the journal left for `ferry
    /// recover`) or a note after it (the outcome told as it is) — never "stopping now" together
    /// with the outcome. `change:run.ending`: the signal thread and the run race for the end (either
    /// is right); `change:run.ended`: the outcome is final, so the signal is a note.
    /// `after-rolledBack`: the rollback's end is journaled, so the outcome is final there too
    /// (a fresh-clone CI run took a SIGTERM in that window for "stopping now", exit 4, and
    /// `ferry recover` then found nothing to recover).
    @Test(arguments: ["change:run.ending", "change:run.ended", "after-rolledBack"])
    func aSecondSignalAsTheRunEndsIsEitherItsEndOrANote(point: String) throws {
        let stopped = try stoppedAfterASignal(at: point)
        let (project, a, b, process) = (stopped.project, stopped.a, stopped.b, stopped.process)
        defer { if process.isRunning { process.signal(SIGKILL); process.signal(SIGCONT) } }
        #expect((project.read("err.log") ?? "").contains("Interrupted (SIGINT)"), "the first signal was taken: \(project.read("err.log") ?? "")")
        process.signal(SIGINT)
        process.signal(SIGCONT)
        let (stdout, stderr) = try stopped.finish()
        let all = stdout + stderr
        let leftForRecover = stderr.contains("stopping now, without rolling back")
        let toldOutcome = stdout.contains("Apply was interrupted and rolled back completely")
        #expect(leftForRecover != toldOutcome, "one ending, never both: \(all)")
        if leftForRecover {
            #expect(point == "change:run.ending", "an outcome already final is not abandoned: \(all)")
            #expect(process.terminationStatus == 4, "\(all)")
            let recover = try project.run("recover")
            #expect(recover.code == 0, "\(recover.all)")
        } else {
            #expect(process.terminationStatus == 3, "\(all)")
            // Answered (the process may end first), the signal is a note.
            if stderr.contains("Interrupted again") {
                #expect(stderr.contains("Interrupted again (SIGINT): the run has ended; its outcome follows."), "\(stderr)")
            }
            let runs = try project.run("runs")
            #expect(!runs.stdout.contains("interrupted"), "the run is settled: \(runs.all)")
        }
        try checkAsBefore(project, a, b, "at \(point)")
    }
}

extension InterruptTests {
    /// Two signals during `ferry rollback RUN` (stopped at its first restore step): the
    /// first says the rollback goes on, the second stops it between its steps (exit 4) and says
    /// `ferry recover` finishes it — never "without rolling back" (fresh tester W8-5); recover then
    /// restores both targets.
    @Test func aSecondSignalDuringARollbackSaysRecoverFinishesIt() throws {
        let (project, a, b) = try prepared()
        try project.write("plans/data/seed.sql", seedSQL + "\nCREATE TABLE extra (x);\n")
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        let runID = try #require(try project.run("runs").stdout.split(separator: "\n").dropFirst().first?.split(separator: " ").first.map(String.init))
        // Stopped at its first restore step; two signals of different kinds (they do not merge
        // while it is stopped) reach it as it goes on: the first and the second.
        project.environment["FERRY_TEST_STOP_AT"] = "after-stepStarted#1"
        for name in ["out.log", "err.log"] { FileManager.default.createFile(atPath: project.root + "/" + name, contents: nil) }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: project.root + "/out.log"))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: project.root + "/err.log"))
        let process = try project.start(["rollback", runID, "plans/main.json"], stdout: out, stderr: err)
        project.environment["FERRY_TEST_STOP_AT"] = nil
        defer { if process.isRunning { process.signal(SIGKILL); process.signal(SIGCONT) } }
        let deadline = Date().addingTimeInterval(60)
        while !LockTimeoutTests.isStopped(process.processIdentifier) && process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(LockTimeoutTests.isStopped(process.processIdentifier), "the rollback reaches its first step")
        process.signal(SIGINT)
        process.signal(SIGTERM)
        process.signal(SIGCONT)
        process.waitUntilExit()
        try out.close(); try err.close()
        let all = (project.read("out.log") ?? "") + (project.read("err.log") ?? "")
        #expect(process.terminationStatus == 4, "\(all)")
        #expect(all.contains("Interrupted again (SIG") && all.contains("stopping the rollback now") && !all.contains("without rolling back"), "\(all)")
        let recover = try project.run("recover")
        #expect(recover.code == 0, "\(recover.all)")
        try checkAsBefore(project, a, b, "after the rollback's recover")
    }
}

/// Ctrl-C during a MySQL import whose one statement runs for many seconds: `KILL QUERY` stops it,
/// the run rolls back (exit 3) and the target database is as it was, with no shadow left.
@Suite(.serialized) struct MySQLInterruptTests {
    let cli = MySQLCLITests()

    @Test func sigintMidImportKillsTheQueryAndRollsBack() throws {
        let project = try Project()
        let b = try cli.server("FERRY_TEST_MYSQL_B")
        let tag = "si\(UUID().uuidString.prefix(6).lowercased())"
        defer { _ = try? cli.sql(project, b, "DROP DATABASE IF EXISTS `\(tag)`;") }
        try project.write("plans/main.json", """
        { "ferry": 1,
          "instances": { "dst": { "engine": "mysql", "url": "\(b.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
          "imports": { "seed": { "into": "dst", "database": "\(tag)", "from": "data/seed.sql", "onExisting": "replace" } } }
        """)
        try project.write("plans/data/seed.sql", "CREATE TABLE t(id INT PRIMARY KEY, v VARCHAR(20));\nINSERT INTO t VALUES (1, 'one'), (2, 'two');\n")
        let first = try project.run("apply", "--auto-approve")
        #expect(first.code == 0, "\(first.all)")
        let content = "SELECT id, v FROM `\(tag)`.t ORDER BY id;"
        let before = try cli.sql(project, b, content)
        try project.write("plans/data/seed.sql", """
        CREATE TABLE t(id INT PRIMARY KEY, v VARCHAR(20));
        INSERT INTO t VALUES (1, 'new');
        CREATE TABLE big(id BIGINT, v VARCHAR(100));
        INSERT INTO big SELECT a.seq * 1000000 + b.seq, REPEAT('x', 100) FROM seq_1_to_1000 a, seq_1_to_1000000 b;

        """)
        FileManager.default.createFile(atPath: project.root + "/apply.log", contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: project.root + "/apply.log"))
        let process = try project.start(["apply", "--auto-approve"], stdout: handle)
        let schemas = "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)%' ORDER BY 1;"
        let busy = "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'INSERT INTO big%';"
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline {
            if try cli.sql(project, b, busy).trimmingCharacters(in: .whitespacesAndNewlines) != "0" { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        Thread.sleep(forTimeInterval: 0.5)
        let sentAt = Date()
        process.signal(SIGINT)
        process.waitUntilExit()
        let took = Date().timeIntervalSince(sentAt)
        try handle.close()
        let log = project.read("apply.log") ?? ""
        #expect(process.terminationStatus == 3, "\(log)")
        #expect(log.contains("Apply was interrupted and rolled back completely"), "\(log)")
        #expect(took < 20, "took \(took)s")
        #expect(try cli.sql(project, b, content) == before)
        #expect(try cli.sql(project, b, schemas).trimmingCharacters(in: .whitespacesAndNewlines) == tag)
        #expect(try cli.sql(project, b, busy).trimmingCharacters(in: .whitespacesAndNewlines) == "0", "the INSERT still runs on the server")
        let plan = try project.run("plan")
        #expect(!plan.all.contains("RunInterrupted"), "\(plan.all)")
    }
}

extension InterruptTests {
    /// Fresh tester round 61, 7: GNU `timeout` (without `--foreground`) sends its SIGTERM to the
    /// command and then to the command's process group, so ferry got two at once and took the
    /// second for "stop now": the run was left for `ferry recover` instead of rolled back. Two
    /// SIGTERMs within `Interrupts.sameSignalSeconds` are one request: the run rolls back, exit 3.
    @Test func twoSIGTERMsAtOnceAreOneRequest() throws {
        let (project, a, b) = try prepared()
        try project.write("plans/data/seed.sql", Self.longStatementSeed)
        let (process, handle) = try startApply(project, log: "apply.log")
        #expect(waitForShadow(project, process), "the build step never started")
        Thread.sleep(forTimeInterval: 0.3)
        process.signal(SIGTERM)
        process.signal(SIGTERM)
        process.waitUntilExit()
        try handle.close()
        let log = project.read("apply.log") ?? ""
        #expect(process.terminationReason == .exit && process.terminationStatus == 3, "\(process.terminationStatus) \(log)")
        #expect(log.contains("Interrupted (SIGTERM)") && !log.contains("Interrupted again"), "\(log)")
        #expect(log.contains("Apply was interrupted and rolled back completely: the instances are as they were."), "\(log)")
        try checkAsBefore(project, a, b, "two SIGTERMs")
    }
}
