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
        try importIntoSeededTarget(first, s)
        let before = try contents(first, s.bPort, db: "5")
        try first.killed(["apply", "--auto-approve"], at: "after-swapDone#1")
        #expect(try contents(first, s.bPort, db: "5") != before, "the run's swap is in place")
        let copies = try first.copies(2)
        try FileManager.default.moveItem(atPath: first.root + "/.ferry", toPath: first.root + "/.ferry-gone")

        // The first copy's recover held at `point`.
        let (winner, out) = try copies[0].startStopped(["recover"], at: point)
        defer { if winner.isRunning { kill(winner.processIdentifier, SIGKILL) } }
        let held = try contents(first, s.bPort, db: "5")
        #expect(point != "before-rolledBack#1" || held == before, "the first recover's undo restored db 5")

        let loser = try copies[1].run("recover")
        #expect(loser.code != 0 && loser.all.contains("StateLocked") && loser.all.contains("is being recovered by another process")
                && !loser.all.contains("↺ restored") && !loser.all.contains("as they were"), "\(loser.all)")
        #expect(try contents(first, s.bPort, db: "5") == held, "the second copy's recover changed nothing")
        if point == "after-undoBegun#1" {
            // `ferry unlock --claims` meanwhile names the run's checkpoint, still there (round
            // 26, P8: "it left no shadow or checkpoint ... that Ferry can see"), and refuses.
            let unlock = try copies[1].run("unlock", "--claims", "rb")
            #expect(unlock.code != 0 && unlock.all.contains("it left on rb: db ") && unlock.all.contains("(checkpoint of db 5)")
                    && !unlock.all.contains("left no shadow or checkpoint") && !unlock.all.contains("Released"), "\(unlock.all)")
            #expect(try contents(first, s.bPort, db: "5") == held)
        }

        winner.signal(SIGCONT)
        winner.waitUntilExit()
        let won = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        #expect(winner.terminationStatus == 0 && won.contains("as they were before"), "\(won)")
        #expect(try contents(first, s.bPort, db: "5") == before)

        // Afterwards the second copy's recover finds nothing of the swap and restores nothing.
        let after = try copies[1].run("recover")
        #expect(!after.all.contains("↺ restored") && !after.all.contains("StateLocked"), "\(after.all)")
        // Nor says its checkpoint was dropped by someone else, to be put back from a backup
        // (fresh tester round 26, P3: the other copy's recover had used it).
        #expect(!after.all.contains("backup of your own") && !after.all.contains("by someone else ("), "\(after.all)")
        #expect(try contents(first, s.bPort, db: "5") == before, "\(after.all)")
        try cli(first, s.bPort, "flushall")
    }
}

/// Fresh tester round 26, P1 (HIGH): a recover's claims connection closed by someone (`CLIENT
/// KILL`, a server timeout, a network cut) while it runs: another project's apply then claimed
/// the target and committed, and the recover swapped that run's target back out, flushed its
/// data and said "as they were before". Now the recover asks before each undo whether it still
/// holds the claims, and holds the target for the user's choice (on later passes too).
extension RedisCLITests {
    /// Another project (its own state) applies `planText` with `first`'s RDB file and commits.
    func commitFromAnotherProject(_ planText: String, data first: Project) throws {
        let other = try Project()
        try other.write("plans/main.json", planText)
        try FileManager.default.copyItem(atPath: first.root + "/plans/data/new.rdb", toPath: other.root + "/plans/data/new.rdb")
        let later = try other.run("apply", "--auto-approve")
        #expect(later.code == 0, "\(later.all)")
    }

    /// Closes (`CLIENT KILL ID`) every connection on the server at `port` that holds Ferry's
    /// claims, as someone might; returns how many.
    func closeClaimConnections(_ project: Project, _ port: String) throws -> Int {
        let claims = try cli(project, port, "client list").split(whereSeparator: \.isNewline).filter { $0.contains("name=ferryclaim:") }
        for line in claims {
            let id = line.split(separator: " ").first { $0.hasPrefix("id=") }.map { String($0.dropFirst(3)) } ?? ""
            try cli(project, port, "client kill id \(id)")
        }
        return claims.count
    }

    /// Closed before the undo's check, or after it (the undo's script is sent on the claims
    /// connection, so it never runs then).
    @Test(arguments: ["after-rollbackBegun#1", "after-undoBegun#1"])
    func redisARecoverWhoseClaimsConnectionWasClosedRestoresNothingOverAnotherRun(closedAt point: String) throws {
        let first = try Project()
        let s = try servers()
        try writeFiles(first, s)
        try seedTarget(first, s)
        let planText = plan(s, """
            "imports": { "ia": { "into": "rb", "database": "5", "from": "data/new.rdb", "onExisting": "replace" } }
            """)
        try first.write("plans/main.json", planText)
        try first.killed(["apply", "--auto-approve"], at: "after-swapDone#1")

        let (recover, out) = try first.startStopped(["recover"], at: point)
        defer { if recover.isRunning { kill(recover.processIdentifier, SIGKILL) } }
        // Its claims connection on B closed by someone.
        #expect(try closeClaimConnections(first, s.bPort) == 1)
        // Another project applies the same plan and commits over db 5.
        try commitFromAnotherProject(planText, data: first)
        let committed = try contents(first, s.bPort, db: "5")

        recover.signal(SIGCONT)
        recover.waitUntilExit()
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        #expect(recover.terminationStatus == 4 && text.contains("while this recover ran") && !text.contains("↺ restored")
                && !text.contains("as they were"), "\(text)")
        #expect(try contents(first, s.bPort, db: "5") == committed, "the later run's target is left as it committed it")
        // A later pass believes it, and the user's choice ends it.
        let again = try first.run("recover")
        #expect(again.code == 4 && !again.all.contains("↺ restored"), "\(again.all)")
        let kept = try first.run("recover", "--keep-later-writes")
        #expect(kept.code == 4 && !kept.all.contains("↺ restored") && !kept.all.contains("as they were"), "\(kept.all)")
        #expect(try contents(first, s.bPort, db: "5") == committed)
        #expect(try first.run("recover").all.contains("Nothing to recover"))
        try cli(first, s.aPort, "flushall")
        try cli(first, s.bPort, "flushall")
    }
}

extension RedisCLITests {
    /// P1 on an apply: its claims connection closed by someone before its swap; nothing is
    /// swapped (another run may have claimed the target meanwhile), the run rolls back.
    /// Closed before the swap's check, or after it (the swap's script is sent on the claims
    /// connection, so it never runs then).
    @Test(arguments: ["after-swapBegun#1", "change:redis.swap.claimsChecked#1"])
    func redisAnApplyWhoseClaimsConnectionWasClosedSwapsNothing(closedAt point: String) throws {
        let project = try Project()
        let s = try servers()
        try importIntoSeededTarget(project, s)
        let before = try contents(project, s.bPort, db: "5")
        let (apply, out) = try project.startStopped(["apply", "--auto-approve"], at: point)
        defer { if apply.isRunning { kill(apply.processIdentifier, SIGKILL) } }
        #expect(try closeClaimConnections(project, s.bPort) == 1)
        apply.signal(SIGCONT)
        apply.waitUntilExit()
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        #expect(apply.terminationStatus == 3 && text.contains("were lost during the run") && text.contains("nothing was swapped"), "\(text)")
        #expect(try contents(project, s.bPort, db: "5") == before)
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
    }
}

/// Fresh tester round 27, Q1 and Q2 (both HIGH).
extension RedisCLITests {
    /// Q1: a recover of a run with two targets whose claims connection is closed before its
    /// undos: it held the first target and undid the second anyway (the registry had forgotten
    /// the dead connection, so the next check found "none held"), over another project's
    /// commit. Both targets are held now.
    @Test func redisARecoverThatLostItsClaimsHoldsEveryTargetNotOnlyTheFirst() throws {
        let first = try Project()
        let s = try servers()
        try writeFiles(first, s)
        try seedTarget(first, s)
        try cli(first, s.bPort, "-n 6 set user:six kept")
        let planText = plan(s, """
            "imports": { "ia": { "into": "rb", "database": "5", "from": "data/new.rdb", "onExisting": "replace" },
                         "ib": { "into": "rb", "database": "6", "from": "data/new.rdb", "onExisting": "replace" } }
            """)
        try first.write("plans/main.json", planText)
        try first.killed(["apply", "--auto-approve"], at: "after-swapDone#2")
        let (recover, out) = try first.startStopped(["recover"], at: "after-rollbackBegun#1")
        defer { if recover.isRunning { kill(recover.processIdentifier, SIGKILL) } }
        #expect(try closeClaimConnections(first, s.bPort) == 1)
        try commitFromAnotherProject(planText, data: first)
        let committed = (try contents(first, s.bPort, db: "5"), try contents(first, s.bPort, db: "6"))
        recover.signal(SIGCONT)
        recover.waitUntilExit()
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        #expect(recover.terminationStatus == 4 && !text.contains("↺ restored") && !text.contains("as they were"), "\(text)")
        #expect(text.components(separatedBy: "while this recover ran").count - 1 >= 2, "both targets held: \(text)")
        #expect(try contents(first, s.bPort, db: "5") == committed.0 && contents(first, s.bPort, db: "6") == committed.1,
                "the later run's targets are left as it committed them")
        try cli(first, s.aPort, "flushall")
        try cli(first, s.bPort, "flushall")
    }

    /// Q2: an apply killed after its swap but before its record, the project copied twice and
    /// the original gone; the first copy's recover restores the target, another project commits
    /// over it, and the second copy's recover said "restored ... as they were before" over that
    /// commit, touching nothing. It says now that another copy's recover (or someone) undid the
    /// swap, and leaves the target as it is.
    @Test func redisAStaleCopyOfASwapKilledBeforeItsRecordRestoresNothingOverALaterRun() throws {
        let first = try Project()
        let s = try servers()
        try writeFiles(first, s)
        try seedTarget(first, s)
        let before = try contents(first, s.bPort, db: "5")
        let planText = plan(s, """
            "imports": { "ia": { "into": "rb", "database": "5", "from": "data/new.rdb", "onExisting": "replace" } }
            """)
        try first.write("plans/main.json", planText)
        try first.killed(["apply", "--auto-approve"], at: "before-swapDone#1")
        let copies = try first.copies(2)
        try FileManager.default.moveItem(atPath: first.root + "/.ferry", toPath: first.root + "/.ferry-gone")
        let recovered = try copies[0].run("recover")
        #expect(recovered.code == 0 && recovered.all.contains("as they were before"), "\(recovered.all)")
        #expect(try contents(first, s.bPort, db: "5") == before)
        try commitFromAnotherProject(planText, data: first)
        let committed = try contents(first, s.bPort, db: "5")
        #expect(committed != before)
        let stale = try copies[1].run("recover")
        #expect(stale.code == 4 && !stale.all.contains("↺ restored") && !stale.all.contains("as they were")
                && stale.all.contains("undid it"), "\(stale.all)")
        #expect(try contents(first, s.bPort, db: "5") == committed, "the later run's target is left as it committed it")
        try cli(first, s.aPort, "flushall")
        try cli(first, s.bPort, "flushall")
    }
}

extension RedisCLITests {
    /// Fresh tester round 70, F3: a Redis run killed with its state directory gone left its
    /// shadow, or its checkpoint (what the target held before it), in a numbered database; its
    /// claims ended with its process, and `ferry unlock --claims rb [RUN]` said "No run holds
    /// claims on rb." and named nothing. It names them now, releases nothing and removes
    /// nothing.
    @Test(arguments: ["after-shadowCreated#1", "after-swapDone#1"])
    func anUnlockWithTheStateGoneNamesADeadRunsMarkedDatabases(killedAt point: String) throws {
        let project = try Project()
        let s = try servers()
        try importIntoSeededTarget(project, s)
        try project.killed(["apply", "--auto-approve"], at: point)
        let run = try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs").sorted().last)
        try FileManager.default.removeItem(atPath: project.root + "/.ferry")
        let role = point == "after-swapDone#1" ? "checkpoint" : "shadow"
        for words in [["unlock", "--claims", "rb"], ["unlock", "--claims", "rb", run]] {
            let unlock = try project.run(words)
            #expect(unlock.code == 0 && unlock.stdout.contains("Run \(run) holds no claim on rb") && unlock.stdout.contains("(\(role) of db 5)")
                    && unlock.stdout.contains("Nothing was released") && !unlock.all.contains("No run holds claims"), "\(unlock.all)")
        }
        // Still there, untouched: the marker names the run in one database.
        let marked = try (0..<16).filter { db in try cli(project, s.bPort, "-n \(db) exists __ferry:\(role):\(run)") == "1" }
        #expect(marked.count == 1, "\(marked)")
        for db in marked { _ = try cli(project, s.bPort, "-n \(db) flushdb") }
    }
}

extension RedisCLITests {
    /// Fresh tester round 70, F4: a Redis run killed after its swap, its state directory away;
    /// a run from another checkout (a fresh state) swapped the same target and committed (its
    /// claims could not see the dead run's: they end with its process). The dead run's recover
    /// then swapped that committed copy back out (the same content, so its token matched) and
    /// said "as they were before". It now sees the later run's checkpoint of the target and
    /// restores nothing until the user chooses; and the later run's plan names the dead run's
    /// checkpoint beside the target.
    @Test func aStaleRecoverDoesNotSwapOutALaterRunsSwapOfItsTarget() throws {
        let project = try Project()
        let s = try servers()
        try importIntoSeededTarget(project, s)
        try project.killed(["apply", "--auto-approve"], at: "after-swapDone#1")
        let dead = try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs").sorted().last)
        try FileManager.default.moveItem(atPath: project.root + "/.ferry", toPath: project.root + "/.ferry-dead")
        let later = try project.run("apply", "--auto-approve")
        #expect(later.code == 0, "\(later.all)")
        // The other half of round 70, F4: the later run's plan names the dead run's checkpoint
        // beside its target (what db 5 held before that run), which it leaves as it is.
        #expect(later.all.contains("rb/5 has a checkpoint of an earlier run beside it that no run claims and this state does not keep: ")
                && later.all.contains("@\(dead)"), "\(later.all)")
        // A plan of this state names it still, never this state's own kept checkpoint.
        let laterRun = try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs").sorted().last)
        let again = try project.run("plan", "--replace", "import.ia")
        #expect(again.all.contains("@\(dead)") && !again.all.contains("@\(laterRun)") && again.all.contains("hint: "), "\(again.all)")
        let committed = try contents(project, s.bPort, db: "5")
        try FileManager.default.moveItem(atPath: project.root + "/.ferry", toPath: project.root + "/.ferry-later")
        try FileManager.default.moveItem(atPath: project.root + "/.ferry-dead", toPath: project.root + "/.ferry")
        let held = try project.run("recover")
        #expect(held.code == 4 && held.all.contains("was not restored") && held.all.contains("swapped database 5 after this run did")
                && !held.all.contains("as they were") && !held.all.contains("↺ restored"), "\(held.all)")
        #expect(try contents(project, s.bPort, db: "5") == committed, "the later run's target is left as it is")
        // The cause said is the one seen, on every later pass and in the status (round 72, F5).
        let waiting = try project.run("status")
        #expect(waiting.stdout.contains("Waiting for your choice: the run's claims ended with its process") && !waiting.stdout.contains("`ferry unlock --claims`), so"), "\(waiting.all)")
        let kept = try project.run("recover", "--keep-later-writes")
        #expect(kept.code == 4 && !kept.all.contains("as they were") && kept.all.contains("swapped database 5 after this run did")
                && !kept.all.contains("by `ferry unlock --claims`"), "\(kept.all)")
        #expect(try contents(project, s.bPort, db: "5") == committed)
        let left = try project.run("status")
        #expect(left.stdout.contains("the run's claims on it ended with its process") && !left.stdout.contains("(by another copy's `ferry recover`, or `ferry unlock --claims`)"), "\(left.all)")
    }
}

extension RedisCLITests {
    /// Fresh tester round 72, F1: a Redis recover whose swap back the script refused (a key
    /// written into the target between the recover's read of it and the swap back) left the
    /// run pending, and `ferry status` listed "restore from 15@RUN, shadow 15@RUN" and "drop
    /// shadow 15@RUN": database 15 was the checkpoint, holding every key the target had before
    /// the run. It is named as the checkpoint, never as a shadow to drop.
    @Test func aPendingRedisUndoNeverListsItsCheckpointAsAShadowToDrop() throws {
        let project = try Project()
        let s = try servers()
        try importIntoSeededTarget(project, s)
        try project.killed(["apply", "--auto-approve"], at: "after-swapDone#1")
        let (recover, _) = try project.startStopped(["recover"], at: "recover.writtenRead")
        defer { if recover.isRunning { kill(recover.processIdentifier, SIGKILL) } }
        _ = try cli(project, s.bPort, "-n 5 set app:late 1")
        kill(recover.processIdentifier, SIGCONT)
        recover.waitUntilExit()
        #expect(recover.terminationStatus != 0)
        let status = try project.run("status")
        #expect(status.stdout.contains("Needs a hand") && status.stdout.contains("restore from its checkpoint") && !status.stdout.contains(": drop shadow "), "\(status.all)")
        #expect(try cli(project, s.bPort, "-n 5 get app:late") == "1", "the write is where it was made")
    }
}

extension RedisCLITests {
    /// Fresh tester round 72, F6: `ferry unlock --claims` named a committed run's checkpoint
    /// (kept for `ferry rollback`) with the advice for a stranger's: FLUSHDB it. A run this
    /// state knows is said to be known.
    @Test func anUnlockSaysWhichMarkedDatabasesThisStateKnows() throws {
        let project = try Project()
        let s = try servers()
        try importIntoSeededTarget(project, s)
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let run = try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs").sorted().last)
        let unlock = try project.run("unlock", "--claims", "rb")
        #expect(unlock.code == 0 && unlock.stdout.contains("Run \(run) holds no claim on rb") && unlock.stdout.contains("(checkpoint of db 5)")
                && unlock.stdout.contains("(this state knows run \(run)"), "\(unlock.all)")
    }

    /// Fresh tester round 73, F4: of a run killed in its swap whose journal is in this state,
    /// unlock said `ferry status` tells "what it is kept for"; it is ended by `ferry recover`.
    /// F2: after `ferry rollback RUN --force`, the rollback's shadow holds what the target held
    /// before it (written since the run), and unlock pointed at the reverted run's status,
    /// which says nothing of it; it names the rollback run.
    @Test func anUnlockSendsAKilledRunToRecoverAndAForcedRollbacksShadowToItsRollback() throws {
        let project = try Project()
        let s = try servers()
        try importIntoSeededTarget(project, s)
        try project.killed(["apply", "--auto-approve"], at: "after-swapDone#1")
        let killed = try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs").sorted().last)
        let pending = try project.run("unlock", "--claims", "rb")
        #expect(pending.code == 0 && pending.stdout.contains("(this state knows run \(killed): it did not finish: `ferry recover` here ends it")
                && !pending.stdout.contains("what it is kept for"), "\(pending.all)")
        #expect(try project.run("recover").code == 0)

        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let run = try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs").sorted().last)
        _ = try cli(project, s.bPort, "-n 5 set app:after-the-run 1")
        let rolled = try project.run("rollback", run, "--force")
        #expect(rolled.code == 0 || rolled.code == 4, "\(rolled.all)")
        let rollback = try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs").sorted().last)
        #expect(rollback != run)
        let unlock = try project.run("unlock", "--claims", "rb")
        #expect(unlock.code == 0 && unlock.stdout.contains("(shadow of db 5)")
                && unlock.stdout.contains("rollback run \(rollback) reverted it, and `ferry status \(rollback)` says what these databases hold"), "\(unlock.all)")
        let status = try project.run("status", rollback)
        #expect(status.all.contains("restored over later writes; what it held since is kept as ") && status.all.contains("@\(run)"), "the rollback's status names its shadow: \(status.all)")
        try cli(project, s.bPort, "flushall")
    }
}
