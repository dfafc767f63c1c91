import Foundation
import Testing

/// Two copies of a project whose original is gone, each holding the journal of one killed Redis
/// run (the project copied while the run was pending). Redis claims end with their connection,
/// so there were none to take over: both recovers undid the run, one over the other's undo (an
/// open item of issue 14 since round 22). A recover now holds the run's claims anew on each
/// Redis server (a named connection; the first the server registered keeps them); the other
/// copy's recover finds them held by a live process and changes nothing.
extension RedisCLITests {
    /// The first copy's recover is held as its undo begins, or once it is done.
    @Test(arguments: ["after-undoBegun#1", "before-rolledBack#1"])
    func redisTwoCopiesOfAMovedProjectRecoverOnce(heldAt point: String) throws {
        let first = try Project()
        let s = try servers()
        try writeFiles(first, s)
        try seedTarget(first, s)
        let before = try contents(first, s.bPort, db: "5")
        try first.write("plans/main.json", plan(s, """
            "imports": { "ia": { "into": "rb", "database": "5", "from": "data/new.rdb", "onExisting": "replace" } }
            """))
        try first.killed(["apply", "--auto-approve"], at: "after-swapDone#1")
        #expect(try contents(first, s.bPort, db: "5") != before, "the run's swap is in place")
        let copies = try first.copies(2)
        try FileManager.default.moveItem(atPath: first.root + "/.ferry", toPath: first.root + "/.ferry-gone")

        // The first copy's recover held at `point`.
        let out = copies[0].root + "/recover.out"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        copies[0].environment["FERRY_TEST_STOP_AT"] = point
        let winner = try copies[0].start(["recover"], stdout: try FileHandle(forWritingTo: URL(fileURLWithPath: out)))
        copies[0].environment["FERRY_TEST_STOP_AT"] = nil
        defer { if winner.isRunning { kill(winner.processIdentifier, SIGKILL) } }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !LockTimeoutTests.isStopped(winner.processIdentifier), winner.isRunning { Thread.sleep(forTimeInterval: 0.02) }
        #expect(LockTimeoutTests.isStopped(winner.processIdentifier), "the first recover stops at \(point)")
        let held = try contents(first, s.bPort, db: "5")
        #expect(point != "before-rolledBack#1" || held == before, "the first recover's undo restored db 5")

        let loser = try copies[1].run("recover")
        #expect(loser.code != 0 && loser.all.contains("StateLocked") && loser.all.contains("is being recovered by another process")
                && !loser.all.contains("↺ restored") && !loser.all.contains("as they were"), "\(loser.all)")
        #expect(try contents(first, s.bPort, db: "5") == held, "the second copy's recover changed nothing")

        winner.signal(SIGCONT)
        winner.waitUntilExit()
        let won = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        #expect(winner.terminationStatus == 0 && won.contains("as they were before"), "\(won)")
        #expect(try contents(first, s.bPort, db: "5") == before)

        // Afterwards the second copy's recover finds nothing of the swap and restores nothing.
        let after = try copies[1].run("recover")
        #expect(!after.all.contains("↺ restored") && !after.all.contains("StateLocked"), "\(after.all)")
        #expect(try contents(first, s.bPort, db: "5") == before, "\(after.all)")
        try cli(first, s.bPort, "flushall")
    }
}
