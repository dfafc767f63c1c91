import Foundation
import Testing

/// `ferry rollback RUN` killed at its very start (right after its begin record, before it read
/// any target), then an application writes into a target, then `ferry recover` (fresh testers'
/// F0 on MySQL and Redis, F1 on PostgreSQL: recover restored the checkpoints over the write and
/// printed "finished", exit 0, 10 of 10). The rollback run's begin record holds each target's
/// expected token, so recover holds the written target (exit 4, the rollback run stays pending),
/// restores the others, and `--discard-later-writes` finishes it on purpose (SPEC §6).
enum InterruptedRollback {
    /// The id of the last `Run ID:` line of `output`.
    static func runID(in output: String) throws -> String {
        let line = try #require(output.split(separator: "\n").last { $0.hasPrefix("Run ") })
        return String(line.split(separator: " ")[1].dropLast())
    }

    /// Starts `ferry rollback RUN`, stops it at `point` (right after its begin record), kills it.
    static func killAtItsStart(_ project: Project, _ runID: String, at point: String = "after-begin#1") throws {
        project.environment["FERRY_TEST_STOP_AT"] = point
        let rollback = try project.start(["rollback", runID])
        project.environment["FERRY_TEST_STOP_AT"] = nil
        defer { if rollback.isRunning { rollback.signal(SIGKILL) } }
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, !LockTimeoutTests.isStopped(rollback.processIdentifier), rollback.isRunning { Thread.sleep(forTimeInterval: 0.02) }
        #expect(LockTimeoutTests.isStopped(rollback.processIdentifier), "the rollback reached \(point)")
        rollback.signal(SIGKILL)
        rollback.signal(SIGCONT)
        rollback.waitUntilExit()
    }

    /// `ferry recover` held `target` (written after the rollback began) and says so.
    static func expectHeld(_ recover: Project.Result, target: String) {
        #expect(recover.code == 4, "\(recover.all)")
        #expect(recover.all.contains("\(target) was written after this rollback began"), "\(recover.all)")
        #expect(!recover.all.contains("restored \(target)"), "\(recover.all)")
        #expect(!recover.all.contains("as they were") && recover.all.contains("stays pending"), "\(recover.all)")
    }
}

extension MySQLWritesDuringRunTests {
    @Test func anInterruptedRollbackRunIsNotFinishedOverAWriteMadeRightAfterItBegan() throws {
        let s = try setUp(failingSecond: false)
        defer { tearDown(s) }
        let applied = try s.project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let runID = try InterruptedRollback.runID(in: applied.stdout)
        try InterruptedRollback.killAtItsStart(s.project, runID)
        _ = try sql(s, "INSERT INTO DB.t VALUES (100, 'app');")
        let recover = try s.project.run("recover")
        InterruptedRollback.expectHeld(recover, target: "a/\(s.target)")
        #expect(try sql(s, "SELECT id FROM DB.t ORDER BY id;") == "1\n2\n100\n", "the application's row stays")
        #expect(!(try schemas(s)).contains(s.other), "the target nobody wrote (it did not exist before) is removed: \(names(s))")
        let forced = try s.project.run("recover", "--discard-later-writes")
        #expect(forced.code == 0, "\(forced.all)")
        #expect(forced.all.contains("and the later writes) is kept as"), "what it held since is kept for the user: \(forced.all)")
        #expect(try sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "restored on purpose")
        let kept = try #require(try schemas(s).first { $0.hasPrefix("\(s.target)__ferry_s_") }, "\(names(s))")
        #expect(try cli.sql(s.project, s.server, "SELECT COUNT(*) FROM `\(kept)`.t WHERE id = 100;") == "1\n", "the discarded write is kept there")
    }
}

extension PostgresWritesDuringRunTests {
    @Test func anInterruptedRollbackRunIsNotFinishedOverAWriteMadeRightAfterItBegan() throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "irb\(UUID().uuidString.prefix(6).lowercased())"
        defer { dropAll(project, a, tag: tag) }
        try failingSecondImport(project, a, tag: tag)
        try project.write("plans/data/b.sql", "CREATE TABLE x (id int);\n")
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let runID = try InterruptedRollback.runID(in: applied.stdout)
        try InterruptedRollback.killAtItsStart(project, runID)
        try pg.sql(project, a, "\(tag)_a", "INSERT INTO t VALUES (5000, 'app-after-rollback-began');")
        let recover = try project.run("recover")
        InterruptedRollback.expectHeld(recover, target: "pg/\(tag)_a")
        #expect(try pg.sql(project, a, "\(tag)_a", "SELECT v FROM t WHERE id = 5000;") == "app-after-rollback-began\n")
        #expect(!(try pg.databases(project, a, like: "\(tag)%")).split(separator: "\n").contains("\(tag)_b"[...]),
                "the target nobody wrote (it did not exist before) is removed")
        let forced = try project.run("recover", "--discard-later-writes")
        #expect(forced.code == 0, "\(forced.all)")
        #expect(forced.all.contains("and the later writes) is kept as"), "what it held since is kept for the user: \(forced.all)")
        #expect(try pg.sql(project, a, "\(tag)_a", "SELECT v FROM old;") == "before the run\n", "restored on purpose")
    }
}

extension RedisCLITests {
    @Test func anInterruptedRollbackRunIsNotFinishedOverAWriteMadeRightAfterItBegan() throws {
        let project = try Project()
        let s = try servers()
        try writeFiles(project, s)
        try seedTarget(project, s)
        try project.write("plans/main.json", plan(s, """
        "imports": {
          "ia": { "into": "rb", "database": "5", "from": "data/new.rdb", "onExisting": "replace" },
          "ib": { "into": "rb", "database": "6", "from": "data/new.rdb", "onExisting": "replace" }
        }
        """))
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let runID = try InterruptedRollback.runID(in: applied.stdout)
        try InterruptedRollback.killAtItsStart(project, runID)
        try cli(project, s.bPort, "-n 5 set app:after rollback-began")
        let recover = try project.run("recover")
        InterruptedRollback.expectHeld(recover, target: "rb/5")
        #expect(try cli(project, s.bPort, "-n 5 get app:after") == "rollback-began", "the application's key stays")
        #expect(try cli(project, s.bPort, "-n 6 dbsize") == "0", "the target nobody wrote (empty before) is emptied again")
        let forced = try project.run("recover", "--discard-later-writes")
        #expect(forced.code == 0, "\(forced.all)")
        #expect(forced.all.contains("and the later writes) is kept as"), "what it held since is kept for the user: \(forced.all)")
        #expect(try cli(project, s.bPort, "-n 5 get user:orig") == "kept", "restored on purpose")
    }
}

extension RedisCLITests {
    /// A target kept by an in-run rollback is named by every plan while its checkpoint (database
    /// N holding the run's checkpoint marker) is there, and no longer once the user flushed it.
    @Test func plansNameAKeptTargetUntilItsCheckpointIsGone() throws {
        let project = try Project()
        let s = try servers()
        try writeFiles(project, s)
        try seedTarget(project, s)
        try project.write("plans/main.json", failingSecondImport(s))
        let run = try startStopped(project, at: "after-swapDone#1", output: "apply.log")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        try cli(project, s.bPort, "-n 5 set app:after-swap 1")
        run.signal(SIGCONT)
        run.waitUntilExit()
        #expect(run.terminationStatus == 4, "\(project.read("apply.log") ?? "")")
        let checkpoint = try #require(try databases(project, s, holding: "__ferry:checkpoint:*").first)
        let plan = try project.run("plan")
        #expect(plan.all.contains("rb/5 was left as it is by run") && plan.all.contains("as \(checkpoint)@"), "\(plan.all)")
        try cli(project, s.bPort, "-n \(checkpoint) flushdb")
        let settled = try project.run("plan")
        #expect(!settled.all.contains("was left as it is"), "\(settled.all)")
    }
}

extension MySQLWritesDuringRunTests {
    /// Fresh tester round 57, H5: a rollback held over a target written after it began, then the
    /// target's checkpoint dropped by hand: `recover --discard-later-writes` said "↺ restored ...
    /// from its checkpoint" with nothing restored. Nothing can restore it now: plain recover and
    /// `--discard-later-writes` say the checkpoint is gone (exit 4, nothing changed), and
    /// `--keep-later-writes` finishes leaving the target as it is.
    @Test(arguments: ["after-begin#1", "after-stepStarted#1"])
    func aHeldRollbackWhoseCheckpointWasDroppedIsNeverSaidRestored(killedAt point: String) throws {
        let s = try setUp(failingSecond: false)
        defer { tearDown(s) }
        let applied = try s.project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let runID = try InterruptedRollback.runID(in: applied.stdout)
        try InterruptedRollback.killAtItsStart(s.project, runID, at: point)
        _ = try sql(s, "INSERT INTO DB.t VALUES (100, 'app');")
        let held = try s.project.run("recover")
        #expect(held.code == 4 && !held.all.contains("restored a/\(s.target)"), "\(held.all)")
        let checkpoint = try #require(try schemas(s).first { $0.hasPrefix("\(s.target)__ferry_c_") }, "\(names(s))")
        _ = try cli.sql(s.project, s.server, "DROP DATABASE `\(checkpoint)`;")
        let before = try schemas(s)
        for args in [["recover"], ["recover", "--discard-later-writes"]] {
            let refused = try s.project.run(args)
            #expect(refused.code == 4, "\(args): \(refused.all)")
            #expect(refused.all.contains("is gone") && refused.all.contains("`ferry recover --keep-later-writes` finishes"), "\(args): \(refused.all)")
            #expect(!refused.all.contains("restored a/\(s.target)") && !refused.all.contains("as they were"), "\(args): \(refused.all)")
            #expect(try sql(s, "SELECT id FROM DB.t ORDER BY id;") == "1\n2\n100\n", "\(args): the target is as it was")
            #expect(try schemas(s) == before, "\(args): nothing dropped, renamed or made")
        }
        let kept = try s.project.run("recover", "--keep-later-writes")
        #expect(kept.code == 0 && !kept.all.contains("restored a/\(s.target)"), "\(kept.all)")
        #expect(kept.all.contains("left a/\(s.target) as it is"), "\(kept.all)")
        #expect(try sql(s, "SELECT id FROM DB.t ORDER BY id;") == "1\n2\n100\n", "the target is as it was")
        #expect(try s.project.run("recover").all.contains("Nothing to recover"))
    }
}

extension MySQLSwapRaceTests {
    /// Round 57, H5 as the tester met it: a rollback whose undo found a row under its rename's
    /// hold (the run's objects made again, tables not moved back, pending), then the checkpoint
    /// dropped by hand. `--discard-later-writes` has nothing to restore: it says the checkpoint
    /// is gone (exit 4, nothing changed); `--keep-later-writes` finishes as it is.
    @Test func aPartlyUndoneRollbackWhoseCheckpointWasDroppedIsNeverSaidRestored() throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        _ = try rollbackRefusedUnderItsHold(s)
        let checkpoint = try #require(try writes.schemas(s).first { $0.hasPrefix("\(s.target)__ferry_c_") }, "\(writes.names(s))")
        _ = try writes.cli.sql(s.project, s.server, "DROP DATABASE `\(checkpoint)`;")
        let held = try inventory(s)
        let schemas = try writes.schemas(s)
        for args in [["recover"], ["recover", "--discard-later-writes"]] {
            let refused = try s.project.run(args)
            #expect(refused.code == 4, "\(args): \(refused.all)")
            #expect(refused.all.contains("is gone") && !refused.all.contains("restored a/\(s.target)") && !refused.all.contains("as they were"),
                    "\(args): \(refused.all)")
            #expect(try writes.sql(s, "SELECT v FROM DB.t WHERE id = 900;") == "app-during-rollback\n", "\(args): the row stays live")
            #expect(try inventory(s) == held && (try writes.schemas(s)) == schemas, "\(args): nothing changed")
        }
        let kept = try s.project.run("recover", "--keep-later-writes")
        #expect(kept.code == 0 && !kept.all.contains("restored a/\(s.target)"), "\(kept.all)")
        #expect(try inventory(s) == held, "the target is left as it was")
        #expect(try s.project.run("recover").all.contains("Nothing to recover"))
    }
}
