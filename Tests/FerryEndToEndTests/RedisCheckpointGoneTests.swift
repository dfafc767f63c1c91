import Foundation
import Testing

/// A checkpoint emptied by hand on Redis (W8-4 and the run's own rollback), serialized with the
/// other Redis CLI tests: they share database 5 and the checkpoint numbers of server B.
extension RedisCLITests {
    /// `CheckpointGoneRollbackTests` on Redis (W8-4): the checkpoint (a database number holding
    /// Ferry's checkpoint marker) emptied with FLUSHDB by the user while the rollback run was pending.
    @Test func redisAPendingRollbackWhoseCheckpointWasFlushedIsFinishedByKeepLaterWrites() throws {
        let project = try Project()
        let s = try servers()
        try importIntoSeededTarget(project, s)
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        let runLine = try #require(apply.stdout.split(separator: "\n").first { $0.hasPrefix("Run ") }, "\(apply.all)")
        let runID = String(runLine.split(separator: " ")[1].dropLast())
        project.environment["FERRY_TEST_STOP_AT"] = "after-begin#1"
        let rollback = try project.start(["rollback", runID])
        project.environment["FERRY_TEST_STOP_AT"] = nil
        defer { if rollback.isRunning { kill(rollback.processIdentifier, SIGKILL) } }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !LockTimeoutTests.isStopped(rollback.processIdentifier), rollback.isRunning { Thread.sleep(forTimeInterval: 0.02) }
        #expect(LockTimeoutTests.isStopped(rollback.processIdentifier), "the rollback reached its begin record")
        try cli(project, s.bPort, "-n 5 set app:later 1")
        kill(rollback.processIdentifier, SIGKILL)
        rollback.waitUntilExit()
        let holding = try databases(project, s, holding: "__ferry:checkpoint:\(runID)")
        let checkpoint = try #require(holding.first, "a checkpoint of run \(runID)")
        try cli(project, s.bPort, "-n \(checkpoint) flushdb")
        let target = try contents(project, s.bPort, db: "5")
        for args in [["recover"], ["recover", "--discard-later-writes"]] {
            let refused = try project.run(args)
            #expect(refused.code == 4 && refused.all.contains("is gone") && refused.all.contains("`ferry recover --keep-later-writes` finishes"), "\(args): \(refused.all)")
            #expect(!refused.all.contains("once the instances are reachable") && !refused.all.contains("restored rb/"), "\(args): \(refused.all)")
        }
        #expect(try project.run("state", "rm", "import.ia").all.contains("RunInterrupted"))
        let kept = try project.run("recover", "--keep-later-writes")
        #expect(kept.code == 0 && kept.all.contains("left rb/5 as it is (kept with whatever it holds now, any writes made since included): the checkpoint"), "\(kept.all)")
        #expect(try contents(project, s.bPort, db: "5") == target, "db 5 is left exactly as it was")
        #expect(try cli(project, s.bPort, "-n 5 get app:later") == "1")
        #expect(try nonEmpty(project, s.bPort) == ["db5"], "nothing made elsewhere")
        #expect(!(try project.run("plan")).all.contains("RunInterrupted"))
    }

    /// `CheckpointGoneRollbackTests.mysqlAKilledRunWhoseCheckpointWasDroppedIsRecoveredLeavingTheTarget`
    /// on Redis: the checkpoint (a database number holding Ferry's checkpoint marker) emptied
    /// with FLUSHDB after the kill.
    @Test func redisAKilledRunWhoseCheckpointWasFlushedIsRecoveredLeavingTheTarget() throws {
        let project = try Project()
        let s = try servers()
        try importIntoSeededTarget(project, s)
        try project.killed(["apply", "--auto-approve"], at: "after-swapDone#1")
        let holding = try databases(project, s, holding: "__ferry:checkpoint:*")
        let checkpoint = try #require(holding.first, "a checkpoint")
        try cli(project, s.bPort, "-n \(checkpoint) flushdb")
        let target = try contents(project, s.bPort, db: "5")
        let recover = try project.run("recover")
        #expect(recover.code == 4 && recover.all.contains("is gone") && recover.all.contains("left it as it is"), "\(recover.all)")
        #expect(!recover.all.contains("restored rb/") && !recover.all.contains("once the instances are reachable"), "\(recover.all)")
        #expect(try contents(project, s.bPort, db: "5") == target, "db 5 keeps the run's data")
        #expect(try project.run("recover").all.contains("Nothing to recover"))
    }

    /// Fresh tester round 12, G4: an apply killed after journaling its swap but before the
    /// swap's script ran leaves the target untouched and no checkpoint: `ferry recover` says so
    /// (never "restored ... from its checkpoint"), drops the shadow and leaves db 5 exactly as it
    /// was. Killed after the swap, the same recover does restore from the checkpoint.
    @Test(arguments: ["after-swapBegun#1", "after-swapDone#1"])
    func redisARecoverOfASwapThatNeverRanSaysTheTargetWasNotTouched(killedAt point: String) throws {
        let project = try Project()
        let s = try servers()
        try importIntoSeededTarget(project, s)
        let before = try contents(project, s.bPort, db: "5")
        try project.killed(["apply", "--auto-approve"], at: point)
        let recover = try project.run("recover")
        #expect(recover.code == 0 && recover.all.contains("as they were before"), "\(recover.all)")
        if point.hasPrefix("after-swapBegun") {
            #expect(recover.all.contains("rb/5 was not touched: its swap stopped before it moved anything"), "\(recover.all)")
            #expect(!recover.all.contains("restored rb/5"), "\(recover.all)")
        } else {
            #expect(recover.all.contains("restored rb/5 from its checkpoint") && !recover.all.contains("was not touched"), "\(recover.all)")
        }
        #expect(try contents(project, s.bPort, db: "5") == before, "db 5 is as it was")
        #expect(try nonEmpty(project, s.bPort) == ["db5"], "no shadow or checkpoint left")
        #expect(try project.run("recover").all.contains("Nothing to recover"))
    }

    /// Fresh tester round 38b, F1/F2: keys written into the checkpoint's database after the swap
    /// (by an application using that database, empty before the run): `ferry rollback RUN` and
    /// `ferry recover` swapped them into the target and said "as they were before". Now the
    /// rollback refuses before any change and the recover ends the run leaving both as they are
    /// (exit 4), naming the checkpoint; the keys stay where they were written. A key added, and
    /// one of the checkpoint's own rewritten in place (same count).
    @Test(arguments: [("rollback", "set app:in-checkpoint v"), ("recover", "set app:in-checkpoint v"),
                      ("rollback", "set user:orig CHANGED"), ("recover", "set user:orig CHANGED")])
    func redisACheckpointWrittenAfterItsSwapIsNeverSwappedBack(_ how: String, _ write: String) throws {
        let project = try Project()
        let s = try servers()
        try importIntoSeededTarget(project, s)
        var runID = ""
        if how == "rollback" {
            let apply = try project.run("apply", "--auto-approve")
            #expect(apply.code == 0, "\(apply.all)")
            let runLine = try #require(apply.stdout.split(separator: "\n").first { $0.hasPrefix("Run ") }, "\(apply.all)")
            runID = String(runLine.split(separator: " ")[1].dropLast())
        } else {
            try project.killed(["apply", "--auto-approve"], at: "after-swapDone#1")
        }
        let checkpoint = String(try #require(try databases(project, s, holding: "__ferry:checkpoint:*").first, "a checkpoint"))
        let key = String(write.split(separator: " ")[1])
        let present = try cli(project, s.bPort, "-n \(checkpoint) exists \(key)")
        #expect(write.hasPrefix("set app:") || present == "1", "the checkpoint holds \(key)")
        try cli(project, s.bPort, "-n \(checkpoint) \(write)")
        let target = try contents(project, s.bPort, db: "5"), held = try contents(project, s.bPort, db: checkpoint)
        let first = how == "rollback" ? try project.run("rollback", runID) : try project.run("recover")
        #expect(first.code == (how == "rollback" ? 1 : 4) && first.all.contains("database \(checkpoint), the checkpoint of database 5 kept by run"), "\(first.all)")
        #expect(!first.all.contains("restored rb/") && !first.all.contains("as they were") && !first.all.contains("hold what they held"), "\(first.all)")
        #expect(try contents(project, s.bPort, db: "5") == target, "db 5 is left as it is")
        #expect(try contents(project, s.bPort, db: checkpoint) == held, "the checkpoint is left as it is, the write in it")
        if how == "recover" {
            #expect(try project.run("recover").all.contains("Nothing to recover"), "the run ended")
        }
        try cli(project, s.bPort, "-n \(checkpoint) flushdb")
    }
}
