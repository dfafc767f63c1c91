import Foundation
import Testing

extension MySQLSwapRaceTests {
    /// Fresh tester round 60, 6: an application's `TRUNCATE` or rebuild of a checkpoint table,
    /// or its `TRUNCATE` or `DROP` of a table of the target, sent while a rollback's rename waited
    /// for its tables (here kept waiting on the target's last table by an open transaction). Its
    /// exclusive lock went before the gates' and the rename's: the rename moved back a table the
    /// statement had just emptied or rebuilt, or the statement emptied or dropped a table just
    /// moved back; the undo then stopped with the target left without its views, routines,
    /// triggers and events (only `table t`) and said "nothing was restored, dropped or renamed".
    /// The rename is stopped while such a statement is under way or waits: nothing is renamed, the
    /// target keeps the run's data and objects, and the statement goes on.
    @Test(arguments: ["TRUNCATE TABLE CP.t", "/* app */ OPTIMIZE TABLE CP.t", "TRUNCATE TABLE DB.t", "DROP TABLE DB.t"])
    func aDDLStatementSentAsTheRenameWaitsStopsTheRename(_ ddl: String) throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        let file = try String(contentsOfFile: s.project.root + "/plans/data/a.sql", encoding: .utf8)
        try s.project.write("plans/data/a.sql", file + "\nCREATE TABLE u (id INT PRIMARY KEY); INSERT INTO u VALUES (1);\n")
        let runID = try appliedRun(s)
        let checkpoint = try #require(try writes.checkpoints(s).first, "\(writes.names(s))")
        let reader = try MySQLKilledSwapTests.Lock(s.server, holding: "BEGIN; SELECT COUNT(*) FROM `\(s.target)`.`u`;", releasing: "COMMIT;")
        defer { reader.release() }
        let (run, output) = try writes.startStopped(s, at: "change:mysql.rename.letGo", args: ["rollback", runID, "plans/main.json"])
        defer { if run.isRunning { writes.killed(run) } }
        let statement = ddl.replacingOccurrences(of: "CP.", with: "`\(checkpoint)`.").replacingOccurrences(of: "DB.", with: "`\(s.target)`.")
        let client = try writes.startClient(s, statement)
        defer { if client.isRunning { client.terminate() } }
        Thread.sleep(forTimeInterval: 1.5)
        #expect(client.isRunning, "the statement waits behind the gates")
        reader.release()
        let (code, text) = writes.resume(run, output)
        client.waitUntilExit()
        #expect(client.terminationStatus == 0, "the statement went on")
        #expect(code != 0 && !text.contains("hold what they held before") && !text.contains("restored a/"), "\(text)")
        if ddl.contains("DB.") { #expect(text.contains("the rename was stopped, and nothing was renamed"), "\(text)") }
        let held = try inventory(s)
        #expect(held.contains { $0.hasPrefix("view run_v ") } && held.contains { $0.hasPrefix("routine run_p ") } && !held.contains { $0.hasPrefix("routine own_p ") },
                "nothing was renamed: the target keeps the run's objects: \(held)")
        #expect(try writes.sql(s, "SELECT COUNT(*) FROM DB.o;") == "1\n", "and the run's data")
    }

    /// The same kind of statement right after the undo's rename (stopped there), on one of the
    /// target's own tables just moved back, another of them keeping its InnoDB id: the target is
    /// the database the tables went into, and its views, routines, triggers and events are made
    /// again (those the server refuses as it is now, such as a trigger of a dropped table, are
    /// named); the rollback says what changed, never "nothing was restored" nor "as before",
    /// and `ferry recover --keep-later-writes` ends it with the target as it is.
    @Test(arguments: ["TRUNCATE TABLE DB.t2", "DROP TABLE DB.t2", "TRUNCATE TABLE DB.t", "DROP TABLE DB.t"])
    func aTableChangedRightAfterTheUndosRenameLeavesTheTargetItsObjects(_ ddl: String) throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        _ = try writes.sql(s, "CREATE TABLE DB.t2 (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO DB.t2 VALUES (7);")
        let (run, output) = try stoppedUndo(s, "rollback", at: "change:mysql.undo.renamed")
        defer { if run.isRunning { writes.killed(run) } }
        _ = try writes.sql(s, ddl + ";")
        let (code, text) = writes.resume(run, output)
        #expect(code == 4 && text.contains("this undo moved the own tables of") && text.contains("another session as this undo's rename moved")
                && !text.contains("nothing was restored") && !text.contains("hold what they held before"), "\(text)")
        let droppedT = ddl == "DROP TABLE DB.t"
        func expectOwnObjects(_ context: String) throws {
            let held = try inventory(s)
            #expect(held.contains { $0.hasPrefix("routine own_p ") } && held.contains { $0.hasPrefix("event own_e ") } && !held.contains { $0.hasPrefix("view run_v ") },
                    "\(context): the target's own objects are made again: \(held)")
            #expect(held.contains { $0.hasPrefix("trigger own_tr on t ") } && held.contains { $0.hasPrefix("view own_v ") } || droppedT, "\(context): \(held)")
        }
        try expectOwnObjects("rollback")
        if droppedT { #expect(text.contains("which the server refused"), "\(text)") }
        let pending = try #require(text.range(of: #"Run (\S+) stays pending"#, options: .regularExpression).map { String(text[$0].split(separator: " ")[1]) }, "\(text)")
        let status = try s.project.run("status", pending)
        #expect(status.all.contains("moved back, changed as it was"), "\(status.all)")
        let kept = try s.project.run("recover", "--keep-later-writes")
        #expect(kept.code == 0 && !kept.all.contains("as they were before"), "\(kept.all)")
        try expectOwnObjects("kept")
        if ddl == "TRUNCATE TABLE DB.t2" { #expect(try writes.sql(s, "SELECT COUNT(*) FROM DB.t2;") == "0\n") }
        #expect(!(try s.project.run("plan")).all.contains("RunInterrupted"), "the rollback ended")
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester round 58, M1: rows written into the target right after a rollback's rename
    /// (the writers that waited on its hold among them) met none of the target's own triggers,
    /// which the undo made only after its checks (245-544 rows a run under load), said nowhere.
    /// The tables that get them stay gated after the rename until their triggers are made on
    /// the gates: a row written while the undo is stopped there waits, and lands once they fire
    /// (`own_tr2` appends a space); one written after the rename's stop point fires them too.
    @Test(arguments: ["change:mysql.undo.gated", "change:mysql.undo.renamed"])
    func aRowWrittenRightAfterTheUndosRenameFiresTheTargetsOwnTriggers(_ point: String) throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        let before = try inventory(s)
        let (run, output) = try stoppedUndo(s, "rollback", at: point)
        defer { if run.isRunning { writes.killed(run) } }
        let writer = try writes.startClient(s, "INSERT INTO DB.t VALUES (950, 'after-rename')")
        defer { if writer.isRunning { writer.terminate() } }
        if point == "change:mysql.undo.gated" {
            Thread.sleep(forTimeInterval: 1.5)
            #expect(writer.isRunning, "the write waits on the gate until the table's triggers are made")
        } else {
            writer.waitUntilExit()
        }
        let (code, text) = writes.resume(run, output)
        writer.waitUntilExit()
        #expect(writer.terminationStatus == 0, "the write landed")
        #expect(code == 0, "\(text)")
        #expect(try writes.sql(s, "SELECT CONCAT('[', v, ']') FROM DB.t WHERE id = 950;") == "[after-rename ]\n", "the row fired the target's own triggers")
        #expect(unordered(try inventory(s)) == unordered(before), "\(text)")
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester round 60, 9: a foreign key of another database made onto the rollback's
    /// shadow (the run's data, moved out by the undo) before its drop: the rollback said the
    /// shadow's drop changed "nothing" and that it held "writes made while this rollback ran"
    /// beside "restored". The target is restored; the shadow is kept, named, for what it is.
    @Test func aForeignKeyOntoTheRollbacksShadowKeepsItNamedForWhatItIs() throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        let runID = try appliedRun(s)
        let app = "\(s.target)_app"
        _ = try writes.sql(s, "DROP DATABASE IF EXISTS `\(app)`; CREATE DATABASE `\(app)`;")
        defer { _ = try? writes.sql(s, "DROP DATABASE IF EXISTS `\(app)`;") }
        let (run, output) = try writes.startStopped(s, at: "change:revert.undone", args: ["rollback", runID, "plans/main.json"])
        defer { if run.isRunning { writes.killed(run) } }
        let shadow = try #require(try writes.schemas(s).first { $0.contains("__ferry_s_") }, "\(writes.names(s))")
        _ = try writes.sql(s, "CREATE TABLE `\(app)`.child (id INT PRIMARY KEY, t_id INT, FOREIGN KEY (t_id) REFERENCES `\(shadow)`.t (id)) ENGINE=InnoDB;")
        let (code, text) = writes.resume(run, output)
        #expect(code == 0 && text.contains("its shadow \(shadow), which holds run \(runID)'s data, was kept")
                && !text.contains("writes made while this rollback ran") && !text.contains("nothing was changed"), "\(text)")
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "restored")
        let rollbackRun = try #require(text.split(separator: "\n").first { $0.hasPrefix("Run ") }.map { String($0.split(separator: " ")[1].dropLast()) }, "\(text)")
        let status = try s.project.run("status", rollbackRun)
        #expect(status.all.contains("was kept: something of someone else's (a foreign key onto it) stood in the way of its drop") && !status.all.contains("writes made while"), "\(status.all)")
        #expect(try writes.schemas(s).contains(shadow), "the shadow is there, named")
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester round 61, 4: an application's `ALTER TABLE` of the target (a copy, or
    /// `FORCE`) that finished after the swap noted the tables it moves out and before its
    /// rename: "Apply complete!", and every later rollback refused ("holds table t made again
    /// under the name of a table the swap moved into it"): the way back was gone, said nowhere.
    /// The ids are noted again as the rename moved them: the rollback restores the target as it
    /// was at the rename, the ALTER's change with it.
    @Test(arguments: ["ALTER TABLE DB.t FORCE", "ALTER TABLE DB.t ADD COLUMN zz INT, ALGORITHM=COPY"])
    func anAlterFinishedJustBeforeTheSwapsRenameLeavesTheRunRollbackable(_ alter: String) throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        let (run, output) = try writes.startStopped(s, at: "change:mysql.swap.movedOutNoted", args: ["apply", "--auto-approve"])
        defer { if run.isRunning { writes.killed(run) } }
        _ = try writes.sql(s, alter + ";")
        let (code, text) = writes.resume(run, output)
        #expect(code == 0, "\(text)")
        let runID = try #require(text.split(separator: "\n").first { $0.hasPrefix("Run ") }.map { String($0.split(separator: " ")[1].dropLast()) }, "\(text)")
        let rollback = try s.project.run("rollback", runID, "plans/main.json")
        #expect(rollback.code == 0 && !rollback.all.contains("made again"), "\(rollback.all)")
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "restored")
        let zz = try writes.sql(s, "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '\(s.target)' AND TABLE_NAME = 't' AND COLUMN_NAME = 'zz';")
        #expect(zz == (alter.contains("zz") ? "1\n" : "0\n"), "the ALTER's change is what the target held at the rename")
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester round 61, 1: a rollback killed after its rename moved the target's tables
    /// back and before it made the target's own triggers again: rows written until the recover
    /// fired none of them, and the recover said only "restored ... from its checkpoint". It now
    /// says so (and says nothing of the kind where nothing was written).
    @Test(arguments: [true, false]) func aRecoverOfARollbackKilledBeforeItsTriggersSaysRowsFiredNone(written: Bool) throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        let runID = try appliedRun(s)
        s.project.environment["FERRY_TEST_KILL_AT"] = "change:mysql.undo.gated"
        let killed = try s.project.run("rollback", runID, "plans/main.json")
        s.project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code == 9, "\(killed.all)")
        if written { _ = try writes.sql(s, "INSERT INTO DB.t VALUES (960, 'unfired');") }
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        #expect(recovered.all.contains("fired none of them") == written, "\(recovered.all)")
        if written {
            // (Told by the recover's own hold as it makes the triggers, since round 66, F1.)
            #expect(recovered.all.contains("after an earlier pass of this rollback moved them back") && !recovered.all.contains("as they were before"), "\(recovered.all)")
            #expect(recovered.all.components(separatedBy: "moved them back").count == 2, "said once: \(recovered.all)")
            #expect(try writes.sql(s, "SELECT CONCAT('[', v, ']') FROM DB.t WHERE id = 960;") == "[unfired]\n", "the row is kept as written")
        }
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester round 61, 5: a rollback refused because a foreign key of another database
    /// joins the target ("nothing was changed") stayed pending, and every `ferry recover`, with
    /// `--keep-later-writes` or not, repeated the refusal while plans were refused. Keeping the
    /// later writes ends it, the target and the application's key as they are.
    @Test func aForeignKeyRefusalEndsWithKeepLaterWrites() throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        let runID = try appliedRun(s)
        let app = "\(s.target)_app"
        _ = try writes.sql(s, "DROP DATABASE IF EXISTS `\(app)`; CREATE DATABASE `\(app)`;")
        defer { _ = try? writes.sql(s, "DROP DATABASE IF EXISTS `\(app)`;") }
        _ = try writes.sql(s, "CREATE TABLE `\(app)`.child (id INT PRIMARY KEY, t_id INT, FOREIGN KEY (t_id) REFERENCES DB.t (id)) ENGINE=InnoDB;")
        let rollback = try s.project.run("rollback", runID, "plans/main.json")
        #expect(rollback.code != 0 && rollback.all.contains("foreign key") && rollback.all.contains("`ferry recover --keep-later-writes`"), "\(rollback.all)")
        let kept = try s.project.run("recover", "--keep-later-writes")
        #expect(kept.code == 0 && kept.all.contains("its undo was stopped by something in the way") && !kept.all.contains("as they were before"), "\(kept.all)")
        // Round 62, 6: not summed up as "written since".
        #expect(kept.all.contains("1 target whose undo was stopped by something in the way") && !kept.all.contains("written since"), "\(kept.all)")
        #expect(!(try s.project.run("plan")).all.contains("RunInterrupted"), "the rollback ended")
        #expect(try writes.sql(s, "SELECT COUNT(*) FROM DB.o;") == "1\n", "the target keeps the run's data")
        #expect(try writes.sql(s, "SELECT REFERENCED_TABLE_SCHEMA FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = '\(app)' AND REFERENCED_TABLE_NAME IS NOT NULL;") == "\(s.target)\n",
                "the application's key as it was")
    }

    /// Fresh tester round 61, 3: `ferry plan`, apply and rollback behind an application's
    /// `LOCK TABLES ... WRITE` on a table of the target waited without end or word (the
    /// server's `lock_wait_timeout` is a year). Ferry's sessions wait `lockWaitSeconds` at most
    /// (3 s here, through `FERRY_TEST_LOCK_WAIT_SECONDS`), then say who is in the way.
    /// Rounds 63 and 64, M4: the wait itself is said while it lasts, on standard error, by the
    /// statement's kind and first name (after 1 s here, `FERRY_TEST_LOCK_WAIT_NOTICE_SECONDS`);
    /// nothing is said where nothing waits.
    @Test func aPlanBehindAnApplicationsTableLockEndsInTime() throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        let runID = try appliedRun(s)
        s.project.environment["FERRY_TEST_LOCK_WAIT_NOTICE_SECONDS"] = "1"
        let free = try s.project.run("plan")
        #expect(!free.all.contains("for a lock another session holds"), "\(free.all)")
        let lock = try MySQLKilledSwapTests.Lock(s.server, holding: "LOCK TABLES `\(s.target)`.t WRITE;", releasing: "UNLOCK TABLES;")
        defer { lock.release() }
        s.project.environment["FERRY_TEST_LOCK_WAIT_SECONDS"] = "3"
        FileManager.default.createFile(atPath: s.project.root + "/plan.log", contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: s.project.root + "/plan.log"))
        let plan = try s.project.start(["rollback", runID, "plans/main.json"], stdout: log, stderr: log)
        let deadline = Date().addingTimeInterval(60)
        while plan.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        let ended = !plan.isRunning
        if !ended { plan.signal(SIGKILL); plan.waitUntilExit() }
        try log.close()
        let text = s.project.read("plan.log") ?? ""
        #expect(ended, "the rollback ended within 60 s: \(text)")
        #expect(ended && plan.terminationStatus != 0 && text.contains("another session held a table Ferry had to read or change for 3 s"), "\(text)")
        #expect(text.contains("note: ") && text.contains("waits, ") && text.contains("s so far, for a lock another session holds (the server says: Waiting for table"), "\(text)")
        lock.release()
        #expect(try writes.sql(s, "SELECT COUNT(*) FROM DB.o;") == "1\n", "nothing changed")
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester round 62, 1: with 45 tables the target's tables got no gates (the
    /// checkpoint's take them first), their own triggers were made after the undo's checks, and
    /// rows written right after the rename fired none of them while the rollback said "as
    /// before". A table not gated (here: joined by a foreign key) gets its triggers right after
    /// the rename under `LOCK TABLES ... WRITE`, its checksum against the one read under the hold:
    /// a row written in between is said ("fired none of them", "not as before"); without one the
    /// rollback is as before.
    @Test(arguments: [true, false]) func aRowIntoATableNoGateHeldIsSaidToHaveFiredNone(written: Bool) throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        _ = try writes.sql(s, "CREATE TABLE DB.p (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO DB.p VALUES (1), (970); ALTER TABLE DB.t ADD FOREIGN KEY (id) REFERENCES DB.p (id);")
        // A replace of a target a foreign key joins takes its triggers off before its hold, and
        // notes a table updated in the very second they came off as "may have been written"
        // (fresh tester round 64, H1): the setup's rows in an earlier second.
        Thread.sleep(forTimeInterval: 1.1)
        let (run, output) = try stoppedUndo(s, "rollback", at: "change:mysql.undo.renamed")
        defer { if run.isRunning { writes.killed(run) } }
        if written { _ = try writes.sql(s, "INSERT INTO DB.t VALUES (970, 'late');") }
        let (code, text) = writes.resume(run, output)
        #expect(code == 0, "\(text)")
        #expect(text.contains("fired none of them") == written && text.contains("hold what they held before") == !written, "\(text)")
        if written {
            #expect(text.contains("right after this rollback's rename moved it back") && text.contains("but not as before"), "\(text)")
            #expect(try writes.sql(s, "SELECT CONCAT('[', v, ']') FROM DB.t WHERE id = 970;") == "[late]\n", "the row as written")
        }
        #expect(try writes.sql(s, "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(s.target)' AND EVENT_OBJECT_TABLE = 't';") == "2\n", "the target's own triggers are back")
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester round 62, 4: an application's `OPTIMIZE TABLE` or rebuilding `ALTER TABLE`
    /// of a run table after the apply (rows and definitions as the run left them; InnoDB gives
    /// the table another id): every rollback refused ("made again under the name of a table the
    /// swap moved into it", "written after it began") though nothing was written. A table whose
    /// rows and definition are the run's, in a target whose whole token is the one the swap
    /// moved in, is the run's table rebuilt: the rollback restores the target as before. A
    /// rebuild that changed something (a `TRUNCATE`, a column) still stops it.
    /// The same of the checkpoint's tables (a maintenance job's `mysqlcheck --optimize
    /// --all-databases` rebuilds both): rebuilt with their rows, they are what the target held.
    @Test(arguments: ["OPTIMIZE TABLE DB.t", "ALTER TABLE DB.t FORCE", "ALTER TABLE DB.o ENGINE=InnoDB, ALGORITHM=COPY",
                      "OPTIMIZE TABLE CP.t", "OPTIMIZE TABLE DB.t, DB.o, CP.t",
                      "TRUNCATE TABLE DB.t", "ALTER TABLE DB.t ADD COLUMN zz INT, ALGORITHM=COPY", "TRUNCATE TABLE CP.t"])
    func aRunTableRebuiltAfterTheApplyIsStillTheRuns(_ rebuild: String) throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        let before = try inventory(s)
        let runID = try appliedRun(s)
        let checkpoint = try #require(try writes.checkpoints(s).first, "\(writes.names(s))")
        _ = try writes.sql(s, rebuild.replacingOccurrences(of: "CP.", with: "`\(checkpoint)`.") + ";")
        let changed = rebuild.contains("TRUNCATE") || rebuild.contains("zz")
        let rollback = try s.project.run("rollback", runID, "plans/main.json")
        if changed {
            #expect(rollback.code != 0 && !rollback.all.contains("hold what they held before"), "\(rebuild): \(rollback.all)")
            #expect(try writes.sql(s, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(s.target)' AND TABLE_NAME = 'o';") == "1\n",
                    "\(rebuild): the run's tables stay: \(rollback.all)")
            return
        }
        #expect(rollback.code == 0 && rollback.all.contains("hold what they held before") && !rollback.all.contains("made again"), "\(rebuild): \(rollback.all)")
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "\(rebuild): restored")
        #expect(unordered(try inventory(s)) == unordered(before), "\(rebuild): \(rollback.all)")
        try expectNoLeftovers(s, "\(rebuild): rolled back")
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester round 62, 2: a rollback refused under its rename's hold put the run's
    /// objects back into the target, but rows written while the run's triggers were off (from
    /// the undo's drop until then) were said nowhere. The refusal says how long they were off
    /// and that such rows fired none of them; the row is kept as written.
    @Test func aRefusalUnderTheHoldSaysTheRunsTriggersWereOff() throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        let runID = try appliedRun(s)
        let (run, output) = try writes.startStopped(s, at: "change:mysql.undo.objectsDropped", args: ["rollback", runID, "plans/main.json"])
        defer { if run.isRunning { writes.killed(run) } }
        _ = try writes.sql(s, "INSERT INTO DB.o VALUES (500);")
        let (code, text) = writes.resume(run, output)
        #expect(code != 0 && text.contains("found under the rename's hold") && text.contains("trigger was off") && text.contains("fired none of them"), "\(text)")
        #expect(try writes.sql(s, "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(s.target)' AND TRIGGER_NAME = 'tr';") == "1\n", "the run's trigger is back")
        #expect(try writes.sql(s, "SELECT id FROM DB.o WHERE id = 500;") == "500\n", "the row is kept")
    }

    /// The same after a kill: a rollback killed once it took the run's objects off the target, a
    /// row written, then `ferry recover`: it finds the row, puts the run's objects back and
    /// says the trigger was off from the killed pass's drop, so such a row fired none of them.
    @Test func aRecoverAfterAKillPastTheDropSaysTheRunsTriggersWereOff() throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        let runID = try appliedRun(s)
        s.project.environment["FERRY_TEST_KILL_AT"] = "change:mysql.undo.objectsDropped"
        let killed = try s.project.run("rollback", runID, "plans/main.json")
        s.project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code == 9, "\(killed.all)")
        _ = try writes.sql(s, "INSERT INTO DB.o VALUES (501);")
        let recovered = try s.project.run("recover")
        #expect(recovered.code != 0 && recovered.all.contains("trigger was off") && recovered.all.contains("fired none of them")
                && !recovered.all.contains("as they were before"), "\(recovered.all)")
        #expect(try writes.sql(s, "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(s.target)' AND TRIGGER_NAME = 'tr';") == "1\n", "the run's trigger is back")
        #expect(try writes.sql(s, "SELECT id FROM DB.o WHERE id = 501;") == "501\n", "the row is kept")
    }

    /// Fresh tester round 62, 3: a transaction begun as the undo took the run's objects off the
    /// target kept its `DROP TRIGGER` waiting 120 s (every writer of that table behind it), with
    /// the run's view already dropped, and nothing said it. Each drop waits 2 s at most now: the
    /// undo puts back what it dropped and stops for now (nothing renamed); once the transaction
    /// ends, `ferry recover` finishes the rollback exactly.
    @Test func aTransactionBegunAsTheUndoDropsStopsItForNow() throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        let before = try inventory(s)
        let runID = try appliedRun(s)
        let after = try inventory(s)
        let (run, output) = try writes.startStopped(s, at: "change:mysql.undo.dropping#1", args: ["rollback", runID, "plans/main.json"])
        defer { if run.isRunning { writes.killed(run) } }
        // A reader's transaction of 8 s on `o`, which the run's trigger `tr` is on.
        let reader = try writes.startClient(s, "BEGIN; SELECT COUNT(*) FROM DB.o; SELECT SLEEP(8); COMMIT;")
        defer { if reader.isRunning { reader.terminate() } }
        Thread.sleep(forTimeInterval: 1)
        let started = Date()
        let (code, text) = writes.resume(run, output)
        #expect(Date().timeIntervalSince(started) < 60, "no 120 s wait")
        reader.waitUntilExit()
        #expect(code != 0 && text.contains("as this undo took the run's objects off it") && text.contains("nothing was renamed")
                && text.contains("were made again in it") && !text.contains("hold what they held before"), "\(text)")
        #expect(unordered(try inventory(s)) == unordered(after), "the run's objects are all back: \(text)")
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0 && recovered.stdout.contains("restored a/\(s.target) from its checkpoint"), "\(recovered.all)")
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "restored")
        #expect(unordered(try inventory(s)) == unordered(before), "\(recovered.all)")
    }
}

extension MySQLSwapRaceTests {
    /// The import's `a.sql` with an audit table `au` and a trigger on `t` writing it; `joined`:
    /// and a table `c` with a foreign key onto `t` (no gate holds a table a foreign key joins).
    func auditedReplace(joined: Bool) throws -> MySQLWritesDuringRunTests.Setup {
        let s = try setUp()
        let file = try String(contentsOfFile: s.project.root + "/plans/data/a.sql", encoding: .utf8)
        try s.project.write("plans/data/a.sql", file + """

        CREATE TABLE au (id INT AUTO_INCREMENT PRIMARY KEY, rid INT) ENGINE=InnoDB;
        CREATE TRIGGER t_ai AFTER INSERT ON t FOR EACH ROW INSERT INTO au (rid) VALUES (NEW.id);
        \(joined ? "CREATE TABLE c (id INT PRIMARY KEY, t_id INT, FOREIGN KEY (t_id) REFERENCES t (id)) ENGINE=InnoDB;" : "")

        """)
        return s
    }

    /// Fresh tester round 62, 1 (apply): a replacing swap had no hold and no gates, and made
    /// the build's triggers only after its rename: rows written right after it fired none of
    /// them, and the apply said "Apply complete!". The tables that get triggers are held and
    /// gated through the rename as an append's are: a row written as the triggers are made
    /// waits for them, and fires them.
    @Test func aRowWrittenRightAfterAReplacesRenameFiresTheRunsTriggers() throws {
        let s = try auditedReplace(joined: false)
        defer { writes.tearDown(s) }
        // Every table of the build that gets a trigger has a name the target held (a gate holds a name).
        _ = try writes.sql(s, "CREATE TABLE DB.o (id INT PRIMARY KEY) ENGINE=InnoDB;")
        let (run, output) = try writes.startStopped(s, at: "change:mysql.swap.gated")
        defer { if run.isRunning { writes.killed(run) } }
        let writer = try writes.startHeldWriter(s, "INSERT INTO DB.t VALUES (40, 'after-rename')", marker: "after-rename")
        defer { if writer.isRunning { writer.terminate() } }
        let (code, text) = writes.resume(run, output)
        writer.waitUntilExit()
        #expect(writer.terminationStatus == 0 && code == 0 && text.contains("Apply complete") && !text.contains("fired none"), "\(text)")
        #expect(try writes.sql(s, "SELECT rid FROM DB.au ORDER BY id;") == "40\n", "the run's trigger fired for it")
    }

    /// Where no gate can hold a table that gets triggers (a foreign key joins it; or, here `o`,
    /// the target had no table of its name), a row written between the rename and its triggers
    /// fires none: the apply says so, beside "Apply complete!".
    @Test func aReplaceWhoseTriggeredTableNoGateHoldsSaysSo() throws {
        let s = try auditedReplace(joined: true)
        defer { writes.tearDown(s) }
        let (run, output) = try writes.startStopped(s, at: "change:mysql.swap.renamed")
        defer { if run.isRunning { writes.killed(run) } }
        _ = try writes.sql(s, "INSERT INTO DB.t VALUES (41, 'unfired');")
        let (code, text) = writes.resume(run, output)
        #expect(code == 0 && text.contains("Apply complete") && text.contains("2 triggers were made on 2 of its tables") && text.contains("fired none of them"), "\(text)")
        #expect(try writes.sql(s, "SELECT COUNT(*) FROM DB.au;") == "0\n", "the row fired none")
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester round 63, H2: a swap back over later writes (`ferry recover
    /// --discard-later-writes`) has no token to check, so it had no hold and no gates: rows
    /// written right after its rename fired none of the target's own triggers, made after it,
    /// said nowhere. Its tables that get them are held and gated as an unforced one's
    /// (`ferry rollback --force` reads the target's token at its begin, and was gated already).
    @Test(arguments: ["recover", "rollback"]) func aSwapBackOverLaterWritesGatesTheTargetsTriggeredTables(_ how: String) throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        let before = try inventory(s)
        let args: [String]
        if how == "recover" {
            _ = try rollbackRefusedUnderItsHold(s)
            args = ["recover", "--discard-later-writes"]
        } else {
            args = ["rollback", try appliedRun(s), "plans/main.json", "--force"]
        }
        let (run, output) = try writes.startStopped(s, at: "change:mysql.undo.gated", args: args)
        defer { if run.isRunning { writes.killed(run) } }
        let writer = try writes.startClient(s, "INSERT INTO DB.t VALUES (951, 'after-rename')")
        defer { if writer.isRunning { writer.terminate() } }
        Thread.sleep(forTimeInterval: 1.5)
        #expect(writer.isRunning, "the write waits on the gate until the table's triggers are made")
        let (code, text) = writes.resume(run, output)
        writer.waitUntilExit()
        #expect(writer.terminationStatus == 0 && code == 0, "\(text)")
        #expect(try writes.sql(s, "SELECT CONCAT('[', v, ']') FROM DB.t WHERE id = 951;") == "[after-rename ]\n", "the row fired the target's own triggers")
        #expect(unordered(try inventory(s)) == unordered(before), "\(text)")
        #expect(try writes.sql(s, "SELECT COUNT(*) FROM DB.t WHERE id = 900;") == "0\n", "the later write was discarded")
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester round 63, H1 (b): a replacing swap took the target's own triggers off just
    /// before its rename, with no hold: rows written into the old tables then fired none and
    /// went into the checkpoint, and a rollback put them back live "as before". The triggers now
    /// come off under the dropper's hold, as an append's: a write then waits, and lands in the
    /// swapped-in table, where it fires the build's triggers.
    @Test func aWriteAsAReplaceTakesTheTriggersOffWaitsForTheSwap() throws {
        let s = try auditedReplace(joined: false)
        defer { writes.tearDown(s) }
        _ = try writes.sql(s, "CREATE TABLE DB.o (id INT PRIMARY KEY) ENGINE=InnoDB;")
        let (run, output) = try writes.startStopped(s, at: "change:mysql.rename.dropperHeld")
        defer { if run.isRunning { writes.killed(run) } }
        let writer = try writes.startClient(s, "INSERT INTO DB.t VALUES (42, 'during-swap')")
        defer { if writer.isRunning { writer.terminate() } }
        Thread.sleep(forTimeInterval: 1.5)
        #expect(writer.isRunning, "the write waits on the hold")
        let (code, text) = writes.resume(run, output)
        writer.waitUntilExit()
        #expect(writer.terminationStatus == 0 && code == 0 && text.contains("Apply complete"), "\(text)")
        #expect(try writes.sql(s, "SELECT rid FROM DB.au ORDER BY id;") == "42\n", "it landed in the swapped-in table and fired the build's trigger")
        let checkpoint = try #require(try writes.checkpoints(s).first, "\(writes.names(s))")
        #expect(try writes.sql(s, "SELECT COUNT(*) FROM `\(checkpoint)`.t WHERE id = 42;") == "0\n", "not in the checkpoint")
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester round 62, 6: an application's `RENAME TABLE` of a run table as the rollback
    /// took the run's objects off: the trigger on it, read again before its drop, names the new
    /// table, and the undo stopped saying "an application replaced it". It says the table may
    /// have been renamed too, and leaves the target its objects.
    @Test func aTableRenamedAsTheUndoDropsIsSaidAsSuch() throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        let runID = try appliedRun(s)
        let (run, output) = try writes.startStopped(s, at: "change:mysql.undo.dropping#1", args: ["rollback", runID, "plans/main.json"])
        defer { if run.isRunning { writes.killed(run) } }
        _ = try writes.sql(s, "RENAME TABLE DB.o TO DB.o_renamed;")
        let (code, text) = writes.resume(run, output)
        #expect(code != 0 && text.contains("or renamed the table it is on") && !text.contains("hold what they held before"), "\(text)")
        #expect(try writes.sql(s, "SELECT EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(s.target)' AND TRIGGER_NAME = 'tr';") == "o_renamed\n", "the trigger is where the rename put it")
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester round 64, H1: a replace of a target whose tables a foreign key joins takes
    /// the target's triggers off before its hold (the dropper cannot hold such tables). A row
    /// written into the old tables then fired none and went into the checkpoint: "Apply
    /// complete!" said nothing of it, and the rollback made it live "as before". The apply says
    /// so now, and so does the rollback that restores it ("but not as before"; exit 0, as a
    /// recover's: the row is in place, its triggers' effects missing and said).
    @Test func aRowWrittenWhileAReplacesTriggersWereOffIsSaidByTheApplyAndTheRollback() throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        _ = try writes.sql(s, "CREATE TABLE DB.kid (id INT PRIMARY KEY, t_id INT, FOREIGN KEY (t_id) REFERENCES DB.t (id)) ENGINE=InnoDB;")
        let (run, output) = try writes.startStopped(s, at: "change:mysql.rename.triggersOff")
        defer { if run.isRunning { writes.killed(run) } }
        _ = try writes.sql(s, "INSERT INTO DB.t VALUES (60, 'unfired');")
        let (code, text) = writes.resume(run, output)
        #expect(code == 0 && text.contains("Apply complete") && text.contains("off its old tables") && text.contains("fired none of them"), "\(text)")
        let runID = try #require(text.split(separator: "\n").first { $0.hasPrefix("Run ") }.map { String($0.split(separator: " ")[1].dropLast()) }, "\(text)")
        let rollback = try s.project.run("rollback", runID, "plans/main.json")
        // ("but perhaps not as before" where the row's second is the one the triggers came off in.)
        #expect(rollback.code == 0 && rollback.all.contains("the checkpoint it was restored from holds rows") && rollback.all.contains("not as before")
                && !rollback.all.contains("hold what they held before"), "\(rollback.all)")
        #expect(try writes.sql(s, "SELECT CONCAT('[', v, ']') FROM DB.t WHERE id = 60;") == "[unfired]\n", "the row is live as written (own_tr2 did not fire)")
    }

    /// Fresh tester round 64, H2: `ferry recover --discard-later-writes` killed after its swap
    /// back's rename and before the target's own triggers were made, rows written, then run
    /// again: it said "finished" over rows that fired none of them (a plain recover said so).
    @Test func aDiscardingRecoverAfterAKillPastItsRenameSaysRowsFiredNone() throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        _ = try rollbackRefusedUnderItsHold(s)
        s.project.environment["FERRY_TEST_KILL_AT"] = "change:mysql.undo.gated"
        let killed = try s.project.run("recover", "--discard-later-writes")
        s.project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code == 9, "\(killed.all)")
        _ = try writes.sql(s, "INSERT INTO DB.t VALUES (961, 'unfired');")
        let recovered = try s.project.run("recover", "--discard-later-writes")
        #expect(recovered.code == 0 && recovered.all.contains("fired none of them") && !recovered.all.contains("as they were before"), "\(recovered.all)")
        #expect(try writes.sql(s, "SELECT CONCAT('[', v, ']') FROM DB.t WHERE id = 961;") == "[unfired]\n", "the row is kept as written")
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester round 63, L1: a `TRUNCATE` of a checkpoint table while a rollback ran was
    /// said as "the checkpoints ... are gone (dropped or renamed)", with "nothing was restored"
    /// beside "restored". Now: the checkpoint "no longer holds what it held at the swap", the
    /// rollback stays pending, nothing is said restored, and the target keeps the run's data.
    @Test(arguments: ["change:mysql.undo.checked", "change:mysql.undo.objectsDropped"])
    func aCheckpointTruncatedWhileTheRollbackRunsIsSaidAsWritten(_ point: String) throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        let (run, output) = try stoppedUndo(s, "rollback", at: point)
        defer { if run.isRunning { writes.killed(run) } }
        let checkpoint = try #require(try writes.checkpoints(s).first, "\(writes.names(s))")
        _ = try writes.sql(s, "TRUNCATE TABLE `\(checkpoint)`.t;")
        let (code, text) = writes.resume(run, output)
        #expect(code == 4 && text.contains("no longer holds what it held at the swap") && text.contains("nothing was restored over those targets"), "\(text)")
        #expect(!text.contains("↺ restored") && !text.contains("gone (dropped or renamed)") && !text.contains("hold what they held before"), "\(text)")
        let status = try s.project.run("status")
        #expect(status.all.contains("not restored") && !status.all.contains(": restored"), "\(status.all)")
        #expect(try writes.sql(s, "SELECT COUNT(*) FROM DB.o;") == "1\n", "the target keeps the run's data")
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester round 65, F1: the words that rows fired none of the target's triggers were
    /// said once, by the process that found them: a recover after that process was killed said
    /// "finished" without them, and `ferry status` never had them. They are journaled
    /// (`firedNone`) before they are said; a later pass says them again, its summary counts the
    /// target (F2: once, not a note at a time), and the status lists them. Killed right after
    /// the note's record (`after-firedNone`), and not killed.
    @Test(arguments: [true, false]) func rowsThatFiredNoneAreSaidAgainAfterAKillAndByTheStatus(killed: Bool) throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        _ = try writes.sql(s, "CREATE TABLE DB.p (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO DB.p VALUES (1), (970); ALTER TABLE DB.t ADD FOREIGN KEY (id) REFERENCES DB.p (id);")
        Thread.sleep(forTimeInterval: 1.1)
        // (The apply journals its own note of its trigger window too: killed in the rollback only.)
        let applied = try appliedRun(s)
        if killed { s.project.environment["FERRY_TEST_KILL_AT"] = "after-firedNone#1" }
        let (run, output) = try writes.startStopped(s, at: "change:mysql.undo.renamed", args: ["rollback", applied, "plans/main.json"])
        s.project.environment["FERRY_TEST_KILL_AT"] = nil
        defer { if run.isRunning { writes.killed(run) } }
        _ = try writes.sql(s, "INSERT INTO DB.t VALUES (970, 'late');")
        let (code, text) = writes.resume(run, output)
        var said = text
        if killed {
            #expect(code == 9 && !text.contains("fired none of them"), "killed before it said them: \(text)")
            let recover = try s.project.run("recover")
            #expect(recover.code == 0 && recover.all.contains("said by an earlier pass of this run, cut short: a/\(s.target) on a: rows were written into its table `t` right after this rollback's rename"), "\(recover.all)")
            #expect(recover.all.contains("but rows written into a target while its triggers were off (noted above) fired none of them"), "\(recover.all)")
            said = recover.all
        } else {
            #expect(code == 0 && text.contains("fired none of them"), "\(text)")
        }
        #expect(said.components(separatedBy: "fired none of them").count >= 2, "\(said)")
        let status = try s.project.run("status")
        #expect(status.all.contains("Rows without their triggers' effects (said as it ran):") && status.all.contains("right after this rollback's rename moved it back"), "\(status.all)")
        #expect(try writes.sql(s, "SELECT CONCAT('[', v, ']') FROM DB.t WHERE id = 970;") == "[late]\n", "the row as written")
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester round 65, F3: an application's `RENAME TABLE` of the table the run's trigger
    /// is on, while a rollback ran: the run's objects were said as dropped by "an earlier pass"
    /// of the undo where there was none, the trigger that could not be made again was said
    /// twice, and the summary spoke of "the targets above" before the error that names them.
    /// Once the table has its name back, a recover restores the target.
    @Test(arguments: ["change:mysql.undo.checked", "change:mysql.undo.objectsDropped"])
    func aTableRenamedWhileTheRollbackRunsIsSaidOnceAndInOrder(_ point: String) throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        let (run, output) = try stoppedUndo(s, "rollback", at: point)
        defer { if run.isRunning { writes.killed(run) } }
        _ = try writes.sql(s, "RENAME TABLE DB.o TO DB.o2;")
        let (code, text) = writes.resume(run, output)
        #expect(code == 4 && !text.contains("an earlier pass"), "\(text)")
        #expect(text.components(separatedBy: "trigger `tr` could not be made again").count <= 2, "said once at most: \(text)")
        // The notice comes before the error it speaks of.
        #expect(text.contains("stays pending: the targets named below") && !text.contains("stays pending: the targets above"), "\(text)")
        _ = try writes.sql(s, "RENAME TABLE DB.o2 TO DB.o;")
        // The trigger stayed on its table through both renames; the server rewrote its stored
        // statement (``ON `o` ``), and it is still the run's trigger (fresh tester round 67, F6:
        // the rollback stayed pending, "an application made or replaced it").
        let again = try s.project.run("recover")
        #expect(again.code == 0 && again.all.contains("restored a/\(s.target) from its checkpoint") && !again.all.contains("finished, but"), "\(again.all)")
        if point == "change:mysql.undo.objectsDropped" {
            // The first pass's words of the window the run's trigger was off, said again (round 67, F3).
            #expect(again.all.contains("said by an earlier pass of this run: a/\(s.target) (as a pass of its undo stopped)"), "\(again.all)")
        }
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "restored")
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester rounds 64, M1, and 65: rows written into the old tables while a replace had
    /// the target's triggers off (a foreign key keeps them off before its hold) go into the
    /// checkpoint without their triggers' effects. Where the target is kept (written since the
    /// swap, after a killed apply or by `--keep-later-writes`), the checkpoint beside it was
    /// named with no word of them. The kept target's words now say them.
    @Test(arguments: [true, false]) func aKeptCheckpointsRowsThatFiredNoneAreSaid(killedApply: Bool) throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        _ = try writes.sql(s, "CREATE TABLE DB.kid (id INT PRIMARY KEY, t_id INT, FOREIGN KEY (t_id) REFERENCES DB.t (id)) ENGINE=InnoDB;")
        if killedApply { s.project.environment["FERRY_TEST_KILL_AT"] = "after-swapDone#1" }
        let (run, output) = try writes.startStopped(s, at: "change:mysql.rename.triggersOff")
        s.project.environment["FERRY_TEST_KILL_AT"] = nil
        defer { if run.isRunning { writes.killed(run) } }
        _ = try writes.sql(s, "INSERT INTO DB.t VALUES (60, 'unfired');")
        let (code, text) = writes.resume(run, output)
        let kept: Project.Result
        if killedApply {
            // Written after the swap: the recover keeps the target, its checkpoint beside it.
            #expect(code == 9, "\(text)")
            _ = try writes.sql(s, "INSERT INTO DB.o VALUES (61);")
            kept = try s.project.run("recover")
        } else {
            // Written while the rollback ran: pending, then kept on purpose.
            #expect(code == 0 && text.contains("Apply complete"), "\(text)")
            let runID = try #require(text.split(separator: "\n").first { $0.hasPrefix("Run ") }.map { String($0.split(separator: " ")[1].dropLast()) }, "\(text)")
            let (rollback, log) = try writes.startStopped(s, at: "change:mysql.undo.checked", args: ["rollback", runID, "plans/main.json"])
            defer { if rollback.isRunning { writes.killed(rollback) } }
            _ = try writes.sql(s, "INSERT INTO DB.o VALUES (61);")
            let (pending, said) = writes.resume(rollback, log)
            #expect(pending == 4, "\(said)")
            kept = try s.project.run("recover", "--keep-later-writes")
        }
        #expect(kept.all.contains("written into its tables during the swap, while its 2 triggers were off them: those rows fired none of them, and a restore of that checkpoint makes them live as written"), "\(kept.all)")
        // Round 66, F2: the last line and the status say them too, not the target's words alone.
        // (Said as may be where the row's second is the one the triggers came off in: round 68, F2.)
        #expect(kept.all.contains(killedApply ? "into a target while its swap had its triggers off (noted above" : "into a target while its triggers were off (noted above")
                && kept.all.contains("fired none of them)"), "\(kept.all)")
        let status = try s.project.run("status")
        #expect(status.all.contains("Rows without their triggers' effects") && status.all.contains("(left as it is): ") && status.all.contains("a restore of that checkpoint makes them live as written"), "\(status.all)")
        let checkpoint = try #require(try writes.checkpoints(s).first, "\(writes.names(s))")
        #expect(try writes.sql(s, "SELECT CONCAT('[', v, ']') FROM `\(checkpoint)`.t WHERE id = 60;") == "[unfired]\n", "the row is in the checkpoint, as written")
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester round 66, F1: a rollback killed right after its rename moved the target's
    /// tables back, then a recover: rows written after the recover's reading of them (before
    /// its undo) and before it made the target's own triggers again fired none of them, and it
    /// said "finished". The recover now makes those triggers under one hold of the tables, and
    /// their checksums then tell any row written since the first pass's rename.
    @Test(arguments: [["recover"], ["recover", "--discard-later-writes"]])
    func aRowWrittenAsARecoverFinishesAnUndoCutShortPastItsRenameIsSaid(_ args: [String]) throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        let runID = try appliedRun(s)
        s.project.environment["FERRY_TEST_KILL_AT"] = "change:mysql.undo.renamed"
        let killed = try s.project.run("rollback", runID, "plans/main.json")
        s.project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code == 9, "\(killed.all)")
        let (run, output) = try writes.startStopped(s, at: "change:mysql.undo.remaking", args: args)
        defer { if run.isRunning { writes.killed(run) } }
        _ = try writes.sql(s, "INSERT INTO DB.t VALUES (962, 'unfired');")
        let (code, text) = writes.resume(run, output)
        #expect(code == 0 && text.contains("after an earlier pass of this rollback moved them back") && text.contains("fired none of them"), "\(text)")
        #expect(text.components(separatedBy: "fired none of them").count <= 3, "said once, and in the last line: \(text)")
        #expect(try writes.sql(s, "SELECT CONCAT('[', v, ']') FROM DB.t WHERE id = 962;") == "[unfired]\n", "the row is kept as written")
        #expect(try writes.sql(s, "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(s.target)' AND EVENT_OBJECT_TABLE = 't';") == "2\n", "the target's own triggers are back")
        let status = try s.project.run("status")
        #expect(status.all.contains("Rows without their triggers' effects") && status.all.contains("after an earlier pass of this rollback moved them back"), "\(status.all)")
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester rounds 64, M1, and 66, F3: `ferry recover --discard-later-writes` takes the
    /// run's triggers off the target before its rename moves the run's tables into the shadow
    /// it keeps; rows written into them in between went into that shadow without their
    /// triggers' effects, named nowhere. Written then (`objectsDropped`), the words say them;
    /// written before the drop (`checked`, a second earlier), they fired the run's triggers and
    /// nothing such is said.
    @Test(arguments: ["change:mysql.undo.objectsDropped", "change:mysql.undo.checked"])
    func rowsWrittenWhileADiscardingUndoHadTheRunsTriggersOffAreSaid(_ point: String) throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        _ = try rollbackRefusedUnderItsHold(s)
        Thread.sleep(forTimeInterval: 1.1)
        let (run, output) = try writes.startStopped(s, at: point, args: ["recover", "--discard-later-writes"])
        defer { if run.isRunning { writes.killed(run) } }
        Thread.sleep(forTimeInterval: 1.1)
        _ = try writes.sql(s, "INSERT INTO DB.o VALUES (977);")
        if point == "change:mysql.undo.checked" { Thread.sleep(forTimeInterval: 1.1) }
        let (code, text) = writes.resume(run, output)
        let shadow = try #require(try writes.schemas(s).first { $0.contains("__ferry_s_") }, "the shadow is kept: \(writes.names(s))\n\(text)")
        #expect(try writes.sql(s, "SELECT COUNT(*) FROM `\(shadow)`.o WHERE id = 977;") == "1\n", "the row went with the run's tables")
        let said = "while this rollback had the run's trigger off them"
        if point == "change:mysql.undo.objectsDropped" {
            #expect(text.contains(said) && text.contains("fired none of them") && text.contains(shadow), "\(code): \(text)")
            let status = try s.project.run("status")
            #expect(status.all.contains("Rows without their triggers' effects") && status.all.contains(said), "\(status.all)")
        } else {
            #expect(!text.contains(said), "\(code): \(text)")
        }
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester round 66, F2: an apply's own note of a window its swap had the target's
    /// triggers off (a foreign key keeps them off before its hold) was said once, on its
    /// output, and `ferry status` never had it. It is journaled now and listed by the status;
    /// a recover of that run, killed right after its swap with nothing written, neither says it
    /// again nor counts it as rows found (it says a window, not rows), and ends as they were.
    @Test func anAppliesOwnNoteOfItsTriggerWindowIsListedByTheStatusAndNotCountedAsRows() throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        _ = try writes.sql(s, "CREATE TABLE DB.kid (id INT PRIMARY KEY, t_id INT, FOREIGN KEY (t_id) REFERENCES DB.t (id)) ENGINE=InnoDB;")
        try applyKilled(s, at: "after-swapDone#1")
        let status = try s.project.run("status")
        #expect(status.all.contains("Rows without their triggers' effects") && status.all.contains("off its old tables"), "\(status.all)")
        let recover = try s.project.run("recover")
        #expect(recover.code == 0 && recover.all.contains("rolled back") && !recover.all.contains("said by an earlier pass")
                && !recover.all.contains("fired none of them"), "\(recover.all)")
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "as it was")
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester round 67, F1 and F3: a rollback killed right after its undo took the run's
    /// objects off the target, rows written, then `ferry recover`: its refusal under the hold
    /// said the triggers were off "for 0.07 s (from this undo's drop ...)", of triggers an
    /// earlier pass had dropped 0.70 s before (most of the rows that fired none outside the
    /// window said). It says the window from that pass's drop now. And once the user chose
    /// (`--keep-later-writes`), those words were nowhere: that pass says them again, and the
    /// status lists them.
    @Test func aRecoverAfterAKillPastTheUndosDropSaysTheTriggersOffSinceThatDrop() throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        let runID = try appliedRun(s)
        s.project.environment["FERRY_TEST_KILL_AT"] = "change:mysql.undo.objectsDropped"
        let rollback = try s.project.run("rollback", runID, "plans/main.json")
        s.project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(rollback.code == 9, "\(rollback.all)")
        Thread.sleep(forTimeInterval: 2.2)
        _ = try writes.sql(s, "INSERT INTO DB.o VALUES (501);")
        let recover = try s.project.run("recover")
        #expect(recover.code == 4 && recover.all.contains("which an earlier pass of this rollback (cut short) had dropped, were made again in it")
                && !recover.all.contains("from this undo's drop"), "\(recover.all)")
        let span = try #require(recover.all.firstMatch(of: /for (\d+)-(\d+) s \(from an earlier pass's drop, in the second \d\d:\d\d:\d\d UTC, until they were made again\)/), "\(recover.all)")
        #expect((Int(span.2) ?? 0) >= 3 && (Int(span.2) ?? 0) - (Int(span.1) ?? 0) <= 2, "off since the killed pass's drop, 2.2 s before the write: \(recover.all)")
        let kept = try s.project.run("recover", "--keep-later-writes")
        #expect(kept.code == 0 && kept.all.contains("said by an earlier pass of this run: a/\(s.target) (as a pass of its undo stopped)")
                && kept.all.contains("from an earlier pass's drop"), "\(kept.all)")
        let status = try s.project.run("status")
        #expect(status.all.contains("Rows without their triggers' effects") && status.all.contains("from an earlier pass's drop"), "\(status.all)")
        #expect(try writes.sql(s, "SELECT COUNT(*) FROM DB.o WHERE id = 501;") == "1\n", "the row is live, as written")
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester round 67, F6: the run's triggered table renamed away and back (three times)
    /// after the apply. The server rewrote the trigger's stored `ON` clause: `ferry rollback RUN`
    /// reads that as a change since the commit (the target's token holds the definitions'
    /// text) and refuses, nothing changed (a known gap: the README); `--force` restores, the
    /// run's state kept in its shadow, and the undo takes the trigger for the run's (it was
    /// refused there as "made or replaced by an application", pending for good).
    @Test func aTriggeredTableRenamedAwayAndBackAfterTheApplyIsStillTheRuns() throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        let runID = try appliedRun(s)
        for _ in 0..<3 { _ = try writes.sql(s, "RENAME TABLE DB.o TO DB.o_tmp; RENAME TABLE DB.o_tmp TO DB.o;") }
        let rollback = try s.project.run("rollback", runID, "plans/main.json")
        #expect(rollback.code == 1 && rollback.all.contains("changed after run \(runID) committed"), "\(rollback.all)")
        let forced = try s.project.run("rollback", runID, "plans/main.json", "--force")
        #expect(forced.code == 0 && forced.all.contains("restored a/\(s.target) from its checkpoint") && !forced.all.contains("did not swap in"), "\(forced.all)")
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "restored")
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester round 68, F1: the window of triggers made after the swap's rename (tables no
    /// gate held) was timed from when the rename returned; writers were in the moved tables
    /// from the holders' let-go on, and rows without their effects fell outside the window said.
    /// It is timed from the let-go: stopped there for 1.2 s, the window said is at least that.
    @Test func theLateTriggersWindowBeginsWhenTheRenameTakesTheTables() throws {
        let s = try auditedReplace(joined: true)
        defer { writes.tearDown(s) }
        let (run, output) = try writes.startStopped(s, at: "change:mysql.rename.letGo")
        defer { if run.isRunning { writes.killed(run) } }
        Thread.sleep(forTimeInterval: 1.2)
        let (code, text) = writes.resume(run, output)
        let window = try #require(text.firstMatch(of: /triggers were made on 2 of its tables ([0-9.]+) s after the swap's rename/), "\(code): \(text)")
        #expect(code == 0 && (Double(window.1) ?? 0) >= 1.2, "\(text)")
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester round 68, F2: a target loaded in the very second its replace took the
    /// triggers off (a foreign key keeps them off before the hold), no row written while they
    /// were off: the rollback's note rightly said "may have been written", but its last line said
    /// "but not as before: rows ... fired none of them" as found. Such a last line says "may"
    /// now; it never states the rows as found.
    @Test func aTargetLoadedInTheSecondOfTheSwapIsNeverSaidToHoldRowsFound() throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        _ = try writes.sql(s, "CREATE TABLE DB.kid (id INT PRIMARY KEY, t_id INT, FOREIGN KEY (t_id) REFERENCES DB.t (id)) ENGINE=InnoDB;")
        // At the start of a second: the load and the swap's triggers-off most likely share it.
        Thread.sleep(forTimeInterval: 1.02 - Date().timeIntervalSince1970.truncatingRemainder(dividingBy: 1))
        _ = try writes.sql(s, "INSERT INTO DB.t VALUES (70, 'loaded');")
        let runID = try appliedRun(s)
        let rollback = try s.project.run("rollback", runID, "plans/main.json")
        #expect(rollback.code == 0 && !rollback.all.contains("but not as before"), "\(rollback.all)")
        #expect(rollback.all.contains("perhaps not as before") == rollback.all.contains("may have been written"), "\(rollback.all)")
        #expect(try writes.sql(s, "SELECT id FROM DB.t ORDER BY id;") == "1\n70\n", "restored")
    }
}

extension MySQLSwapRaceTests {
    /// Fresh tester round 69, F1 and F2: an apply killed in its swap after the target's own
    /// triggers were replaced by the run's witnesses, before its rename; its claims released
    /// (`ferry unlock --claims` with the state directory away, as from another checkout). Every
    /// recover then held or kept the target as "written after the swap" with its "checkpoint
    /// gone": the witnesses stayed for good, and every row written since fired none of the
    /// target's triggers, said nowhere. Such a swap never moved the run's tables, and its
    /// witnesses are still there: the recover puts the target's own objects back, as with the
    /// claims held, and says the rows written meanwhile.
    /// Killed once the witnesses are made (the target's own triggers still on), and once its
    /// triggers are off (the witnesses' in their place).
    /// Fresh tester round 70, F1: `ferry unlock --claims` of a target cut short between the
    /// swap's rename and its settling said it "holds the run's tables and objects": its tables
    /// had no trigger at all (the target's own saved in the checkpoint, the run's not made yet),
    /// and rows written then fired none, said nowhere. It says what is on them now.
    @Test func anUnlockOfATargetCutShortAfterItsRenameSaysItsTablesHaveNoTrigger() throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        try applyKilled(s, at: "change:mysql.swap.movedIn")
        let runID = try #require(try FileManager.default.contentsOfDirectory(atPath: s.project.root + "/.ferry/runs").sorted().last)
        try FileManager.default.moveItem(atPath: s.project.root + "/.ferry", toPath: s.project.root + "/.ferry-away")
        let released = try s.project.run("unlock", "--claims", "a", runID)
        #expect(released.code == 0 && released.all.contains("\(s.target) is in the middle of the run's swap: it holds the run's tables, not its own, with no trigger on them at all")
                && released.all.contains("so rows written into \(s.target) now fire none of them") && !released.all.contains("tables and objects"), "\(released.all)")
        // Round 71, F2: the run's witnesses still in it are named too.
        #expect(released.all.contains("it also holds the run's witness table __ferry_witness_") && released.all.contains("its events own_e, own_e2 as the run's disabled witnesses"), "\(released.all)")
        // Round 70, F1 rest: a plan from a state that does not know the run (this one, moved
        // away) names the run's checkpoint beside the target, which holds the target's own
        // tables from before the run, and says the change leaves it; a plan that knows it does
        // not say it (its recover, below, is the way).
        let checkpoint = try #require(try writes.schemas(s).first { $0.contains("__ferry_c_") }, "\(writes.names(s))")
        // Round 74, F3: a user's schema named like a checkpoint of the target, without the
        // run's mark, is not named.
        let lookalike = "\(s.target)__ferry_c_11111111Z-aaaaaa"
        _ = try writes.sql(s, "CREATE DATABASE `\(lookalike)`;")
        let stranger = try s.project.run("plan")
        #expect(stranger.all.contains("a/\(s.target) has a checkpoint of an earlier run beside it that no run claims and this state does not keep: \(checkpoint).")
                && stranger.all.contains("this change leaves it as it is") && !stranger.all.contains(lookalike), "\(stranger.all)")
        _ = try writes.sql(s, "DROP DATABASE `\(lookalike)`;")
        try FileManager.default.moveItem(atPath: s.project.root + "/.ferry-away", toPath: s.project.root + "/.ferry")
        // Round 72, F3: kept for its released claims, the target's words say it is mid-swap.
        let kept = try s.project.run("recover", "--keep-later-writes")
        #expect(kept.code == 4 && kept.all.contains("\(s.target) is in the middle of the run's swap: it holds the run's tables, not its own")
                && !kept.all.contains("as they were"), "\(kept.all)")
        // Round 74, F4: the run's shadow, kept with the target, is named where it is left.
        let shadow = try #require(try writes.schemas(s).first { $0.contains("__ferry_s_") }, "\(writes.names(s))")
        #expect(kept.all.contains("is still in its shadow \(shadow) on a, left as it is"), "\(kept.all)")
        #expect(try s.project.run("status", runID).all.contains("is still in its shadow \(shadow)"))
        // Round 74, F6: its words are said once, in the error at the end; the line says which undo.
        #expect(kept.stdout.contains("✗ did not restore a/\(s.target) from its checkpoint: OperationDenied.WrongStatus (said below)")
                && kept.all.components(separatedBy: "was not restored: the claims of run").count == 2, "\(kept.all)")
        // Round 74, F1 and F2: the state that kept the target tells of the run's checkpoint
        // itself, once, with the reason it was kept; never as an unknown run's, nor "written".
        let own = try s.project.run("plan")
        #expect(!own.all.contains("no run claims") && own.all.contains("was left as it is by run")
                && own.all.contains("its claims there were released after it stopped") && !own.all.contains("it was written after that run swapped it in"), "\(own.all)")
    }

    /// Fresh tester round 72, F4: a run killed after its rename, its claims released from
    /// another working copy, whose apply then replaced the target and committed; the dead run's
    /// `ferry recover --discard-later-writes` said nothing of that later run, whose copy it
    /// discards where its checks let it. It names the later run's checkpoint beside the target.
    /// A run of this state committed before the dead one keeps its checkpoint too: it is no
    /// later swap, and is not named.
    @Test func aDiscardingRecoverNamesALaterRunsCheckpointBesideItsTarget() throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        let earlier = try appliedRun(s)
        let file = try String(contentsOfFile: s.project.root + "/plans/data/a.sql", encoding: .utf8)
        try s.project.write("plans/data/a.sql", file + "\nCREATE TABLE second_run (id INT);\n")
        try applyKilled(s, at: "change:mysql.swap.movedIn")
        let root = s.project.root
        let runID = try #require(try FileManager.default.contentsOfDirectory(atPath: root + "/.ferry/runs").sorted().last)
        try FileManager.default.moveItem(atPath: root + "/.ferry", toPath: root + "/.ferry-dead")
        #expect(try s.project.run("unlock", "--claims", "a", runID).code == 0)
        // The other working copy: a state of its own, which does not know the dead run.
        let later = try s.project.run("apply", "--auto-approve")
        #expect(later.code == 0, "\(later.all)")
        let laterCheckpoint = try #require(try writes.schemas(s).first { $0.contains("__ferry_c_") && !$0.hasSuffix(MySQLImportAccountKillTests().tag(runID))
                                                                        && !$0.hasSuffix(MySQLImportAccountKillTests().tag(earlier)) }, "\(writes.names(s))")
        try FileManager.default.moveItem(atPath: root + "/.ferry", toPath: root + "/.ferry-later")
        try FileManager.default.moveItem(atPath: root + "/.ferry-dead", toPath: root + "/.ferry")
        let held = try s.project.run("recover")
        #expect(held.code == 4 && held.all.contains("Recovery is not finished"), "\(held.all)")
        let discarded = try s.project.run("recover", "--discard-later-writes")
        #expect(discarded.all.contains("beside it is a checkpoint of another run that no run claims (\(laterCheckpoint))")
                && discarded.all.contains("what this undo discards is that run's copy")
                && !discarded.all.contains(MySQLImportAccountKillTests().tag(earlier)), "\(discarded.all)")
    }

    /// Fresh tester round 73, F1: a run killed after its rename (the target's own views and
    /// routines still in it, its triggers and events saved and witnessed), its claims
    /// released, rows written into the target, then `ferry recover --discard-later-writes`: the
    /// target is kept for those rows and the swap's last step done in it, as SPEC says (its own
    /// views and routines go as the swap replaces them, their definitions kept in the
    /// checkpoint; the witnesses go; the build's objects are made). With no object in the build
    /// the words said the target was "left as it is", its objects "still in" the shadow the
    /// step had just dropped, and nothing of what went. They now say what the step did.
    @Test(arguments: [true, false])
    func aDiscardingRecoverThatFindsTheTargetWrittenSaysWhatTheSwapsLastStepDid(_ buildHasObjects: Bool) throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        if !buildHasObjects {
            try s.project.write("plans/data/a.sql", "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20));\nINSERT INTO t VALUES (5, 'run');\n")
        }
        try applyKilled(s, at: "change:mysql.swap.movedIn")
        let found = try inventory(s)
        #expect(found.contains("view own_v select `\(s.target)`.`t`.`id` AS `id` from `\(s.target)`.`t`") && found.contains { $0.hasPrefix("table __ferry_witness_") }, "\(found)")
        let root = s.project.root
        let runID = try #require(try FileManager.default.contentsOfDirectory(atPath: root + "/.ferry/runs").sorted().last)
        let shadow = try #require(try writes.schemas(s).first { $0.contains("__ferry_s_") }, "\(writes.names(s))")
        let checkpoint = try #require(try writes.schemas(s).first { $0.contains("__ferry_c_") }, "\(writes.names(s))")
        try FileManager.default.moveItem(atPath: root + "/.ferry", toPath: root + "/.ferry-away")
        #expect(try s.project.run("unlock", "--claims", "a", runID).code == 0)
        try FileManager.default.moveItem(atPath: root + "/.ferry-away", toPath: root + "/.ferry")
        Thread.sleep(forTimeInterval: 1.1)
        _ = try writes.sql(s, "INSERT INTO DB.t VALUES (691, 'later');")
        let discarded = try s.project.run("recover", "--discard-later-writes")
        #expect(discarded.code == 4 && discarded.all.contains("left it as it is") && discarded.all.contains("the swap's last step was done in it")
                && discarded.all.contains("its own function `own_f`, procedure `own_p`, view `own_v` went, as the swap replaces them (their definitions stay saved in \(checkpoint))")
                && discarded.all.contains("the run's witnesses of its own triggers and events went"), "\(discarded.all)")
        let after = try inventory(s)
        #expect(!after.contains { $0.contains("own_") || $0.contains("__ferry_witness") }, "\(after)")
        #expect(after.contains("view run_v select 1 AS `i`") == buildHasObjects, "\(after)")
        // The shadow is named as gone only where it is, and never as still holding anything then.
        let shadowThere = try writes.schemas(s).contains(shadow)
        #expect(!shadowThere && discarded.all.contains("the run's shadow \(shadow) went") && !discarded.all.contains("is still in \(shadow)"), "\(discarded.all)")
        #expect(discarded.all.contains("the run's build had no view, routine, trigger or event to make") == !buildHasObjects, "\(discarded.all)")
        // What went is kept: every saved definition of the target's own objects is in the checkpoint.
        #expect(try writes.sql(s, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(checkpoint)' AND TABLE_NAME LIKE '\\_\\_ferry\\_objects%';") == "1\n")
        #expect(try writes.sql(s, "SELECT COUNT(*) FROM DB.t WHERE id = 691;") == "1\n")
    }

    /// Round 70, F2: killed before any witness was made (the checkpoint just made, or its saved
    /// definitions written): the target was never touched, and the recover drops the run's
    /// shadow and checkpoint without asking (it said "checkpoint gone", asked, and left both).
    @Test(arguments: ["change:mysql.swap.witnessed", "change:mysql.rename.triggersOff", "change:mysql.swap.checkpointMade", "change:mysql.swap.objectsSaved"])
    func aSwapKilledBeforeItsRenameIsUndoneAfterItsClaimsWereReleased(_ point: String) throws {
        let s = try setUp()
        defer { writes.tearDown(s) }
        // (A foreign key: the triggers come off before the hold, where this kill point is.)
        _ = try writes.sql(s, "CREATE TABLE DB.kid (id INT PRIMARY KEY, t_id INT, FOREIGN KEY (t_id) REFERENCES DB.t (id)) ENGINE=InnoDB;")
        let before = try inventory(s)
        try applyKilled(s, at: point)
        let untouched = point.hasPrefix("change:mysql.swap.") && point != "change:mysql.swap.witnessed"
        #expect(try writes.sql(s, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(s.target)' AND TABLE_NAME LIKE '\\_\\_ferry\\_witness%';") == (untouched ? "0\n" : "1\n"), "the witnesses are in place, or none yet")
        let runID = try #require(try FileManager.default.contentsOfDirectory(atPath: s.project.root + "/.ferry/runs").sorted().last)
        try FileManager.default.moveItem(atPath: s.project.root + "/.ferry", toPath: s.project.root + "/.ferry-away")
        let released = try s.project.run("unlock", "--claims", "a", runID)
        #expect(released.code == 0 && released.all.contains("Released"), "\(released.all)")
        try FileManager.default.moveItem(atPath: s.project.root + "/.ferry-away", toPath: s.project.root + "/.ferry")
        Thread.sleep(forTimeInterval: 1.1)
        _ = try writes.sql(s, "INSERT INTO DB.t VALUES (690, 'unfired');")
        let recover = try s.project.run("recover")
        let off = point == "change:mysql.rename.triggersOff"
        #expect(recover.code == 0 && (untouched || recover.all.contains("put back the views, routines, triggers and events of a/\(s.target)"))
                && recover.all.contains("fired none of them") == off && recover.all.contains("as they were before") == !off
                && !recover.all.contains("written after their swap") && !recover.all.contains("is gone"), "\(recover.all)")
        let after = try inventory(s)
        #expect(unordered(after) == unordered(before), "the target's own objects are back, and nothing else: \(after)")
        #expect(try writes.sql(s, "SELECT CONCAT('[', v, ']') FROM DB.t WHERE id = 690;") == (off ? "[unfired]\n" : "[unfired ]\n"), "the row, with its triggers' effects where they were on")
        #expect(try !writes.schemas(s).contains { $0.contains("__ferry_") }, "no shadow or checkpoint is left: \(writes.names(s))")
    }
}
