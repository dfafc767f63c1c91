import Foundation
import Testing

/// Fresh tester round 19, F1 (HIGH): a MariaDB replace whose state directory filled up at the
/// swap. The apply's rollback could not journal its undo, stopped part-way (the target's tables
/// back, its view, procedure and trigger still in the checkpoint), released the run's claims
/// while saying they stay, and could not journal its end either; `ferry recover` then took the
/// run's own release for an unlock from another working copy, restored nothing, and held the
/// target without its objects (exit 4). Claims are released only once a pass's end is
/// journaled now. `JournalFullTests` for MariaDB: the journal fails from each record of the
/// apply on (the disk stays full), then there is room again: whatever the apply said, one
/// `ferry recover` ends with the target exactly as before (tables, rows, views, routines,
/// triggers, events), or as planned where the run committed, and nothing is held for the user.
@Suite(.serialized) struct MySQLJournalFullTests {
    let writes = MySQLWritesDuringRunTests()
    let race = MySQLSwapRaceTests()

    func appendsOfACleanRun() throws -> Int {
        let s = try race.setUp()
        defer { writes.tearDown(s) }
        let apply = try s.project.run("apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        let runs = try FileManager.default.contentsOfDirectory(atPath: s.project.root + "/.ferry/runs")
        return runs.map { (s.project.read(".ferry/runs/\($0)/journal.jsonl") ?? "").split(separator: "\n").count }.max() ?? 0
    }

    func check(failingFrom n: Int) throws -> Int32 {
        let s = try race.setUp()
        defer { writes.tearDown(s) }
        let before = race.unordered(try race.inventory(s))
        let rows = try writes.sql(s, "SELECT id, v FROM DB.t ORDER BY id;")
        s.project.environment["FERRY_TEST_FAIL_WRITE_AT"] = "\(n)"
        let apply = try s.project.run("apply", "--auto-approve")
        s.project.environment["FERRY_TEST_FAIL_WRITE_AT"] = nil
        let context = "FERRY_TEST_FAIL_WRITE_AT=\(n): exit \(apply.code)\n\(apply.all)"
        let recover = try s.project.run("recover")
        let all = context + "\nrecover: exit \(recover.code)\n" + recover.all
        #expect(recover.code == 0, "\(all)")
        #expect(!all.contains("released after it stopped"), "the run's own release is never taken for an unlock: \(all)")
        let committed = apply.code == 0 || recover.stdout.contains("committed")
        if committed {
            #expect(try writes.sql(s, "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '\(s.target)' AND ROUTINE_NAME = 'run_p';") == "1\n", "\(all)")
        } else {
            #expect(race.unordered(try race.inventory(s)) == before, "\(all)")
            #expect(try writes.sql(s, "SELECT id, v FROM DB.t ORDER BY id;") == rows, "\(all)")
            if apply.code == 4 || apply.code == 3 { #expect(recover.stdout.contains("as they were before") || recover.stdout.contains("No interrupted run"), "\(all)") }
            // A committed run keeps its checkpoint (the retention); a rolled-back one leaves nothing.
            try race.expectNoLeftovers(s, all)
        }
        return apply.code
    }

    @Test func theJournalFailingFromAnyRecordOfAReplaceEndsAsBeforeOrAsPlanned() throws {
        let total = try appendsOfACleanRun()
        #expect(total > 10)
        var seen: Set<Int32> = []
        for n in 1...(total + 2) { seen.insert(try check(failingFrom: n)) }
        #expect(seen.isSuperset(of: [0, 1, 4]), "outcomes seen: \(seen.sorted())")
    }
}
