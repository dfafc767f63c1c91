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

    /// `spec`: `N` (the journal fails from its N-th record on) or `N-N` (that record only).
    /// Returns the apply's exit code and whether it said its rollback was incomplete.
    func check(failing spec: String) throws -> (Int32, Bool) {
        let s = try race.setUp()
        defer { writes.tearDown(s) }
        let before = race.unordered(try race.inventory(s))
        let rows = try writes.sql(s, "SELECT id, v FROM DB.t ORDER BY id;")
        s.project.environment["FERRY_TEST_FAIL_WRITE_AT"] = spec
        let apply = try s.project.run("apply", "--auto-approve")
        s.project.environment["FERRY_TEST_FAIL_WRITE_AT"] = nil
        let context = "FERRY_TEST_FAIL_WRITE_AT=\(spec): exit \(apply.code)\n\(apply.all)"
        // An incomplete rollback keeps the run's claims: what it could not undo is still the
        // run's, and another working copy must not plan over it (fresh tester round 20, G1).
        let incomplete = apply.all.contains("rollback is incomplete")
        if incomplete, let run = apply.stdout.split(separator: "\n").first(where: { $0.hasPrefix("Run ") }).map({ String($0.split(separator: " ")[1].dropLast()) }) {
            #expect(try writes.sql(s, "SELECT COUNT(*) > 0 FROM ferry_meta.claims WHERE run_id = '\(run)';") == "1\n", "\(context)")
        }
        let recover = try s.project.run("recover")
        let all = context + "\nrecover: exit \(recover.code)\n" + recover.all
        #expect(recover.code == 0, "\(all)")
        #expect(!all.contains("released after it stopped"), "the run's own release is never taken for an unlock: \(all)")
        // A swap the apply's own rollback undid moved something: never "moved nothing" after
        // (fresh tester round 43, F6).
        if apply.all.contains("restored a/") {
            #expect(!recover.all.contains("its swap stopped before it moved anything"), "\(all)")
        }
        let committed = apply.code == 0 || recover.stdout.contains("committed")
        if committed {
            #expect(try writes.sql(s, "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '\(s.target)' AND ROUTINE_NAME = 'run_p';") == "1\n", "\(all)")
        } else {
            #expect(race.unordered(try race.inventory(s)) == before, "\(all)")
            #expect(try writes.sql(s, "SELECT id, v FROM DB.t ORDER BY id;") == rows, "\(all)")
            if apply.code == 4 { #expect(recover.stdout.contains("as they were before"), "\(all)") }
            // A committed run keeps its checkpoint (the retention); a rolled-back one leaves nothing.
            try race.expectNoLeftovers(s, all)
        }
        #expect(try writes.sql(s, "SELECT COUNT(*) FROM ferry_meta.claims WHERE db LIKE '\(s.tag)%';") == "0\n", "\(all)")
        return (apply.code, incomplete)
    }

    @Test func theJournalFailingFromAnyRecordOfAReplaceEndsAsBeforeOrAsPlanned() throws {
        let total = try appendsOfACleanRun()
        #expect(total > 10)
        var seen: Set<Int32> = []
        for n in 1...(total + 2) { seen.insert(try check(failing: "\(n)").0) }
        #expect(seen.isSuperset(of: [0, 1, 4]), "outcomes seen: \(seen.sorted())")
    }

    /// The journal fails for a few records, then there is room again (a torn line cut back
    /// frees a block): an undo that could not journal its note stops, the rollback's end is
    /// journaled "incomplete", and the claims stay until `ferry recover` ends the run exactly as
    /// before.
    @Test func aFewRecordsFailingThenRoomAgainKeepTheClaimsOfAnIncompleteRollback() throws {
        let total = try appendsOfACleanRun()
        var incomplete = 0
        for n in 8...(total + 1) {
            for k in 1...3 where try check(failing: "\(n)-\(n + k)").1 { incomplete += 1 }
        }
        #expect(incomplete > 0, "no record's failure left the rollback incomplete: the claims were not put to the test")
    }
}
