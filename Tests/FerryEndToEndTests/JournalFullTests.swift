import Foundation
import Testing

/// A journal that cannot be written (a full state directory) at every record boundary of an
/// apply: what apply prints and its exit code agree with what the next commands see, and
/// `ferry recover` settles whatever is left (SPEC §6, "A journal that cannot be written").
/// `FERRY_TEST_FAIL_WRITE_AT=N` fails the N-th journal append of the process and every later one
/// (the disk stays full), each leaving half a line, as ENOSPC does; `N-N` fails only that one.
@Suite(.serialized) struct JournalFullTests {
    /// Appends of one clean apply of the changed seed (import + copy): the loop covers them all.
    func appendsOfACleanRun() throws -> Int {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        #expect(try project.run("apply", "--auto-approve").code == 0)
        try project.write("plans/data/seed.sql", RunKillTests.newSeed)
        #expect(try project.run("apply", "--auto-approve").code == 0)
        let runs = try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs")
        return runs.map { (project.read(".ferry/runs/\($0)/journal.jsonl") ?? "").split(separator: "\n").count }.max() ?? 0
    }

    func check(failing spec: String) throws -> Int32 {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        #expect(try project.run("apply", "--auto-approve").code == 0)
        let a = project.fileBytes("var/a/app.db"), b = project.fileBytes("var/b/app_copy.db")
        try project.write("plans/data/seed.sql", RunKillTests.newSeed)
        project.environment["FERRY_TEST_FAIL_WRITE_AT"] = spec
        let apply = try project.run("apply", "--auto-approve", "--parallelism", "1")
        project.environment["FERRY_TEST_FAIL_WRITE_AT"] = nil
        let context = "FERRY_TEST_FAIL_WRITE_AT=\(spec): exit \(apply.code)\n\(apply.all)"
        func asBefore() {
            #expect(project.fileBytes("var/a/app.db") == a, "\(context): a changed")
            #expect(project.fileBytes("var/b/app_copy.db") == b, "\(context): b changed")
        }
        func noLeftovers() {
            #expect(project.leftovers(in: "var/a").filter { !$0.contains("ckpt") }.isEmpty, "\(context): \(project.leftovers(in: "var/a"))")
            #expect(project.leftovers(in: "var/b").filter { !$0.contains("ckpt") }.isEmpty, "\(context): \(project.leftovers(in: "var/b"))")
        }
        func notBlocked() throws {
            let plan = try project.run("plan")
            #expect(!plan.all.contains("RunInterrupted"), "\(context)\nplan: \(plan.all)")
            let runs = try project.run("runs").stdout
            #expect(!runs.contains("interrupted") && !runs.contains(" running "), "\(context)\nruns: \(runs)")
        }
        switch apply.code {
        case 0:
            #expect(apply.stdout.contains("Apply complete!"), "\(context)")
            #expect(try project.query("var/a/app.db", "SELECT count(*) FROM users") == [["4"]], "\(context)")
            if apply.all.contains("clean-up could not finish") {
                let plan = try project.run("plan")
                #expect(plan.stderr.contains("RunInterrupted") && plan.stderr.contains("committed"), "\(context)\nplan: \(plan.all)")
                let recover = try project.run("recover")
                #expect(recover.code == 0 && recover.stdout.contains("committed"), "\(context)\nrecover: \(recover.all)")
            }
            try notBlocked()
            #expect(try project.query("var/a/app.db", "SELECT count(*) FROM users") == [["4"]], "\(context)")
        case 1:
            #expect(apply.stdout.contains("Apply refused before any change."), "\(context)")
            asBefore()
            try notBlocked()
        case 3:
            #expect(apply.stdout.contains("rolled back completely"), "\(context)")
            asBefore()
            try notBlocked()
        case 4:
            // The rollback was done and checked, but the journal could not say so: apply says
            // exactly that, later commands see the run as interrupted, and recover settles it.
            #expect(apply.stdout.contains("but the journal could not record it"), "\(context)")
            asBefore()
            let plan = try project.run("plan")
            #expect(plan.code == 1 && plan.stderr.contains("RunInterrupted"), "\(context)\nplan: \(plan.all)")
            #expect(plan.stderr.contains("its journal does not record"), "\(context)\nplan: \(plan.all)")
            let recover = try project.run("recover")
            #expect(recover.code == 0, "\(context)\nrecover: \(recover.all)")
            asBefore()
            try notBlocked()
        default:
            Issue.record("unexpected exit: \(context)")
        }
        noLeftovers()
        return apply.code
    }

    @Test func diskStaysFullFromEveryRecord() throws {
        let total = try appendsOfACleanRun()
        #expect(total > 10)
        var seen: Set<Int32> = []
        for n in 1...(total + 3) { seen.insert(try check(failing: "\(n)")) }
        // The boundaries reach every outcome: refused (begin), recorded rollback impossible (4),
        // committed with its clean-up unrecorded (0).
        #expect(seen.isSuperset(of: [0, 1, 4]), "outcomes seen: \(seen.sorted())")
    }

    @Test func oneRecordFailsThenThereIsRoomAgain() throws {
        let total = try appendsOfACleanRun()
        var seen: Set<Int32> = []
        for n in 1...(total + 3) { seen.insert(try check(failing: "\(n)-\(n)")) }
        #expect(seen.isSuperset(of: [0, 1, 3]), "outcomes seen: \(seen.sorted())")
    }

    /// Fresh tester round 19, F8: a `ferry rollback RUN` whose begin record cannot be written
    /// changes nothing and leaves no run directory behind (an empty one was left for `ferry
    /// recover` to remove); the rollback then goes through once there is room.
    @Test func aRollbackThatCannotWriteItsBeginLeavesNoRun() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        #expect(try project.run("apply", "--auto-approve").code == 0)
        try project.write("plans/data/seed.sql", RunKillTests.newSeed)
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let run = try #require(applied.stdout.split(separator: "\n").first { $0.hasPrefix("Run ") }.map { String($0.split(separator: " ")[1].dropLast()) })
        let a = project.fileBytes("var/a/app.db")
        let before = try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs").sorted()
        project.environment["FERRY_TEST_FAIL_WRITE_AT"] = "1"
        let refused = try project.run("rollback", run)
        project.environment["FERRY_TEST_FAIL_WRITE_AT"] = nil
        #expect(refused.code == 1 && refused.all.contains("DiskFull"), "\(refused.all)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs").sorted() == before, "\(refused.all)")
        #expect(project.fileBytes("var/a/app.db") == a)
        #expect(!(try project.run("plan").all.contains("RunInterrupted")))
        let rolledBack = try project.run("rollback", run)
        #expect(rolledBack.code == 0, "\(rolledBack.all)")
    }

    /// What the issue saw: a journal with only a torn begin line (or none) left behind by an older
    /// Ferry is no run: `ferry runs` says notStarted, nothing is refused, and recover removes it.
    @Test func aRunDirectoryWithoutABeginRecordIsNotARun() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        #expect(try project.run("apply", "--auto-approve").code == 0)
        for (id, text) in [("20260101T000000000Z-aaaaaa", ""), ("20260101T000000001Z-bbbbbb", "{\"seq\":1,\"event\":\"beg")] {
            try project.write(".ferry/runs/\(id)/journal.jsonl", text)
            let runs = try project.run("runs")
            #expect(runs.stdout.contains("\(id)") && runs.stdout.contains("notStarted"), "\(runs.stdout)")
            #expect(!(try project.run("plan").all.contains("RunInterrupted")))
            let status = try project.run("status", id)
            #expect(status.stdout.contains("notStarted"), "\(status.all)")
            let recover = try project.run("recover")
            #expect(recover.code == 0 && recover.stdout.contains("never started"), "\(recover.all)")
            #expect(!project.exists(".ferry/runs/\(id)"))
        }
    }
}
