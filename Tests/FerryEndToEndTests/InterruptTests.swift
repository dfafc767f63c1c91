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
        kill(process.processIdentifier, signal)
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

    @Test func secondSignalLeavesTheRunForRecoverAndExits4() throws {
        let (project, a, b) = try prepared()
        try project.write("plans/data/seed.sql", Self.longStatementSeed)
        // Stop the process as its rollback begins, so the second signal lands mid-rollback.
        project.environment["FERRY_TEST_STOP_AT"] = "before-rollbackBegun"
        let (process, handle) = try startApply(project, log: "apply.log")
        project.environment["FERRY_TEST_STOP_AT"] = nil
        #expect(waitForShadow(project, process))
        Thread.sleep(forTimeInterval: 0.2)
        kill(process.processIdentifier, SIGINT)
        let deadline = Date().addingTimeInterval(30)
        func stopped() -> Bool {
            let stat = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8)) ?? ""
            return stat.split(separator: ")").last?.split(separator: " ").first == "T"
        }
        while !stopped() && process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(stopped(), "never reached the rollback")
        kill(process.processIdentifier, SIGINT)
        kill(process.processIdentifier, SIGCONT)
        process.waitUntilExit()
        try handle.close()
        let log = project.read("apply.log") ?? ""
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
