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
