import CSQLite
import Foundation
import Testing

/// Writes by applications while a run is under way (SPEC §6 "Writes during a run"), SQLite: a
/// rollback never undoes a swap whose target was written after it (the writes would be lost:
/// fresh testers lost rows that way through an in-run rollback, through `ferry recover`, and
/// through an append), and an append is never swapped over a target written since its snapshot.
@Suite(.serialized) struct WrittenDuringRunTests {
    /// `ia` replaces `shop`; `ib` (after it) fails at its last statement, so the run rolls back
    /// after `shop` was swapped in.
    func failingPlan(_ project: Project, shopOnExisting: String = "replace") throws {
        try project.write("plans/main.json", """
        {
          "ferry": 1,
          "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
          "imports": {
            "ia": { "into": "a", "database": "shop", "from": "data/a.sql", "onExisting": "\(shopOnExisting)" },
            "ib": { "into": "a", "database": "other", "from": "data/b.sql", "onExisting": "replace", "after": ["import.ia"] }
          }
        }
        """)
        try project.write("plans/data/a.sql", "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'from-file');\n")
        try project.write("plans/data/b.sql", "CREATE TABLE x (id INTEGER);\nINSERT INTO nonexistent VALUES (1);\n")
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try exec(project, "var/a/shop.db", "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'user-original');")
    }

    func exec(_ project: Project, _ path: String, _ sql: String) throws {
        var db: OpaquePointer?
        defer { sqlite3_close(db) }
        guard sqlite3_open(project.root + "/" + path, &db) == SQLITE_OK, sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else {
            throw Project.QueryError(message: "cannot run \(sql) on \(path): \(String(cString: sqlite3_errmsg(db)))")
        }
    }

    /// Starts `ferry apply`, stopped at `point`; returns the stopped process.
    func applyStopped(_ project: Project, at point: String, output: FileHandle? = nil) throws -> Process {
        project.environment["FERRY_TEST_STOP_AT"] = point
        let run = try project.start(["apply", "--auto-approve"], stdout: output)
        project.environment["FERRY_TEST_STOP_AT"] = nil
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !LockTimeoutTests.isStopped(run.processIdentifier), run.isRunning { Thread.sleep(forTimeInterval: 0.02) }
        #expect(LockTimeoutTests.isStopped(run.processIdentifier), "the apply stops at \(point)")
        return run
    }

    func checkpoints(_ project: Project) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: project.root + "/var/a")) ?? [])
            .filter { $0.hasPrefix(".shop.ferry-ckpt") && $0.hasSuffix(".db") }
    }

    /// Fresh tester round 67, F5: an apply whose own rollback left a target written after its
    /// swap as it is (on purpose, its end journaled) said "the rollback is incomplete ... run
    /// `ferry recover`", which then said "Nothing to recover". It says the run is over now, as
    /// the status does; failed or interrupted (Ctrl-C), exit 4 either way (SPEC §7).
    @Test(arguments: ["failed", "interrupted"]) func anApplyWhoseRollbackKeptAWrittenTargetSaysTheRunIsOver(_ how: String) throws {
        let project = try Project()
        try failingPlan(project)
        let log = project.root + "/apply.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: log))
        let run = try applyStopped(project, at: "after-swapDone#1", output: handle)
        defer { if run.isRunning { run.signal(SIGKILL) } }
        try exec(project, "var/a/shop.db", "INSERT INTO t VALUES (100, 'app-write')")
        if how == "interrupted" { run.signal(SIGINT) }
        run.signal(SIGCONT)
        run.waitUntilExit()
        try handle.close()
        let text = project.read("apply.log") ?? ""
        #expect(run.terminationStatus == 4, "\(text)")
        #expect(text.contains("Apply \(how == "failed" ? "failed" : "was interrupted") and was rolled back, but for 1 target written after the swap, left as they are")
                && text.contains("nothing is left for `ferry recover`") && !text.contains("then run `ferry recover`"), "\(text)")
        let recover = try project.run("recover")
        #expect(recover.code == 0 && recover.all.contains("Nothing to recover"), "\(recover.all)")
        let status = try project.run("status")
        #expect(status.all.contains("rolled back, but for 1 target written after the swap (left as they are)"), "\(status.all)")
    }

    @Test func aRollbackKeepsATargetWrittenAfterItsSwap() throws {
        let project = try Project()
        try failingPlan(project)
        let run = try applyStopped(project, at: "after-swapDone#1")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        // The application writes into the new shop, as it would once it is in place.
        try exec(project, "var/a/shop.db", "INSERT INTO t VALUES (100, 'app-write')")
        run.signal(SIGCONT)
        run.waitUntilExit()
        #expect(run.terminationStatus == 4, "kept, so not as before: exit 4")
        #expect(try project.query("var/a/shop.db", "SELECT id, v FROM t ORDER BY id") == [["1", "from-file"], ["100", "app-write"]],
                "the application's row is where it wrote it")
        let kept = checkpoints(project)
        #expect(kept.count == 1, "the data before the run stays beside it: \(kept)")
        if let name = kept.first {
            #expect(try project.query("var/a/\(name)", "SELECT v FROM t") == [["user-original"]])
        }
        #expect(!project.exists("var/a/other.db"), "the failed import left nothing")
        let status = try project.run("status")
        #expect(status.all.contains("Left as they are") && status.all.contains("a/shop"), "\(status.all)")
        let recover = try project.run("recover")
        #expect(recover.code == 0 && recover.all.contains("Nothing to recover"), "the run is over: \(recover.all)")
        let plan = try project.run("plan")
        #expect(plan.code != 1 && !plan.all.contains("RunInterrupted"), "nothing blocks the next plan: \(plan.all)")
        #expect(try project.query("var/a/shop.db", "SELECT count(*) FROM t") == [["2"]], "and nothing touched it since")
        // Every plan names the kept target and its checkpoint until the user settles them.
        let name = try #require(kept.first)
        #expect(plan.all.contains("a/shop was left as it is by run") && plan.all.contains(String(name.dropLast(3))), "\(plan.all)")
        let json = try project.run("plan", "--format", "json")
        #expect(json.stdout.contains("was left as it is by run"), "\(json.all)")
        // The warning follows the server, not the name: the same directory under another
        // instance name (fresh tester W6) is still warned about, under its new name; another
        // directory under the old name is not.
        let saved = try #require(project.read("plans/main.json"))
        try project.write("plans/main.json", """
        { "ferry": 1, "instances": { "renamed": { "engine": "sqlite", "path": "../var/a" }, "a": { "engine": "sqlite", "path": "../var/elsewhere" } } }
        """)
        let renamed = try project.run("plan")
        #expect(renamed.all.contains("renamed/shop was left as it is by run") && !renamed.all.contains("a/shop was left"), "\(renamed.all)")
        try project.write("plans/main.json", saved)
        // Plans read only the journals of runs that may still have left something: this one is
        // not settled while its checkpoint is there, even under an earlier release's (empty)
        // settled marker, and is settled once it is gone.
        let runs = try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs")
        let keptRun = try #require(runs.first { project.read(".ferry/runs/\($0)/journal.jsonl")?.contains("\"kept\"") == true })
        #expect(!project.exists(".ferry/runs/\(keptRun)/settled"), "settled while its kept checkpoint is there")
        try project.write(".ferry/runs/\(keptRun)/settled", "")
        let legacy = try project.run("plan")
        #expect(legacy.all.contains("a/shop was left as it is by run"), "an earlier release's marker does not hide it: \(legacy.all)")
        try FileManager.default.removeItem(atPath: project.root + "/var/a/\(name)")
        let settled = try project.run("plan")
        #expect(!settled.all.contains("was left as it is"), "the note goes with the checkpoint: \(settled.all)")
        #expect(project.read(".ferry/runs/\(keptRun)/settled") == "kept-aware\n", "settled once all it left is gone")
    }

    @Test func recoverAfterAKillKeepsATargetWrittenAfterItsSwap() throws {
        let project = try Project()
        try failingPlan(project)
        let run = try applyStopped(project, at: "after-swapDone#1")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        try exec(project, "var/a/shop.db", "UPDATE t SET v = 'app-update' WHERE id = 1")   // same row count, same size
        run.signal(SIGKILL)
        run.waitUntilExit()
        let recover = try project.run("recover")
        #expect(recover.code == 4, "\(recover.all)")
        #expect(!recover.all.contains("as they were"), "\(recover.all)")
        #expect(recover.all.contains("written after the run swapped it in"), "\(recover.all)")
        #expect(try project.query("var/a/shop.db", "SELECT v FROM t") == [["app-update"]])
        #expect(checkpoints(project).count == 1)
        let again = try project.run("recover")
        #expect(again.code == 0 && again.all.contains("Nothing to recover"), "\(again.all)")
    }

    /// Killed between the swap's rename and its journal record: the swap is in place, and what
    /// was written into it since is kept as for a swap whose end was journaled.
    @Test func aKillBetweenTheSwapAndItsRecordStillKeepsWrites() throws {
        for write in [true, false] {
            let project = try Project()
            try failingPlan(project)
            let run = try applyStopped(project, at: "change:swap.done#1")
            defer { if run.isRunning { run.signal(SIGKILL) } }
            #expect(!(project.read(".ferry/runs") ?? "").contains("swapDone"))
            if write { try exec(project, "var/a/shop.db", "INSERT INTO t VALUES (5, 'app-before-the-record')") }
            run.signal(SIGKILL)
            run.waitUntilExit()
            let recover = try project.run("recover")
            if write {
                #expect(recover.code == 4 && recover.all.contains("written after the run swapped it in"), "\(recover.all)")
                #expect(try project.query("var/a/shop.db", "SELECT v FROM t ORDER BY id") == [["from-file"], ["app-before-the-record"]])
            } else {
                #expect(recover.code == 0 && recover.all.contains("as they were before"), "\(recover.all)")
                #expect(try project.query("var/a/shop.db", "SELECT v FROM t") == [["user-original"]])
            }
        }
    }

    /// Killed after its rollback recorded a kept target: `ferry recover` finishes the run and
    /// still says it is not as before (exit 4), never "as they were".
    @Test func recoverAfterAKillPastTheKeptRecordIsNotAsBefore() throws {
        let project = try Project()
        try failingPlan(project)
        project.environment["FERRY_TEST_KILL_AT"] = "after-kept"
        let run = try applyStopped(project, at: "after-swapDone#1")
        project.environment["FERRY_TEST_KILL_AT"] = nil
        defer { if run.isRunning { run.signal(SIGKILL) } }
        try exec(project, "var/a/shop.db", "INSERT INTO t VALUES (100, 'app-write')")
        run.signal(SIGCONT)
        run.waitUntilExit()
        #expect(run.terminationStatus == 9 || run.terminationStatus == 137 || run.terminationReason == .uncaughtSignal, "killed at its kept record")
        let recover = try project.run("recover")
        #expect(recover.code == 4 && !recover.all.contains("as they were"), "\(recover.all)")
        #expect(try project.query("var/a/shop.db", "SELECT count(*) FROM t") == [["2"]])
    }

    @Test func withoutWritesTheRollbackRestoresExactly() throws {
        let project = try Project()
        try failingPlan(project)
        let run = try applyStopped(project, at: "after-swapDone#1")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        // A reader is no writer.
        #expect(try project.query("var/a/shop.db", "SELECT v FROM t") == [["from-file"]])
        run.signal(SIGCONT)
        run.waitUntilExit()
        #expect(run.terminationStatus == 3)
        #expect(try project.query("var/a/shop.db", "SELECT v FROM t") == [["user-original"]])
        #expect(checkpoints(project).isEmpty)
        #expect(project.leftovers(in: "var/a").isEmpty, "\(project.leftovers(in: "var/a"))")
    }

    @Test func withoutWritesRecoverRestoresExactly() throws {
        let project = try Project()
        try failingPlan(project)
        let run = try applyStopped(project, at: "after-swapDone#1")
        run.signal(SIGKILL)
        run.waitUntilExit()
        let recover = try project.run("recover")
        #expect(recover.code == 0 && recover.all.contains("as they were before"), "\(recover.all)")
        #expect(try project.query("var/a/shop.db", "SELECT v FROM t") == [["user-original"]])
        #expect(project.leftovers(in: "var/a").isEmpty, "\(project.leftovers(in: "var/a"))")
    }

    /// The application switches the new database to WAL and keeps its connection open: the write
    /// is only in `-wal` (no checkpoint yet), the main file is unchanged but for its header.
    @Test func aWriteLeftInTheWALIsSeen() throws {
        let project = try Project()
        try failingPlan(project)
        let run = try applyStopped(project, at: "after-swapDone#1")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        var db: OpaquePointer?
        #expect(sqlite3_open(project.root + "/var/a/shop.db", &db) == SQLITE_OK)
        #expect(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; INSERT INTO t VALUES (7, 'in-wal')", nil, nil, nil) == SQLITE_OK)
        run.signal(SIGCONT)
        run.waitUntilExit()
        sqlite3_close(db)
        #expect(run.terminationStatus == 4)
        #expect(try project.query("var/a/shop.db", "SELECT v FROM t ORDER BY id") == [["from-file"], ["in-wal"]])
    }

    /// An application keeps a WAL connection open (a pool): a swap under its feet would send its
    /// later commits into the `-wal` beside the other file, where they are lost. The swap is
    /// refused while such a connection is open; once it is closed the same apply goes through.
    @Test func noSwapUnderAnOpenWALConnection() throws {
        let project = try Project()
        try failingPlan(project)
        try project.write("plans/data/b.sql", "CREATE TABLE x (id INTEGER);\n")   // nothing fails now
        try exec(project, "var/a/shop.db", "PRAGMA journal_mode=WAL")
        var db: OpaquePointer?
        #expect(sqlite3_open(project.root + "/var/a/shop.db", &db) == SQLITE_OK)
        #expect(sqlite3_exec(db, "INSERT INTO t VALUES (2, 'pooled')", nil, nil, nil) == SQLITE_OK)
        let refused = try project.run("apply", "--auto-approve")
        #expect(refused.code == 3 && refused.all.contains("open in WAL mode by pid \(getpid())"), "\(refused.all)")
        // The connection goes on working on the database it opened, and nothing of it is lost.
        #expect(sqlite3_exec(db, "INSERT INTO t VALUES (3, 'still pooled')", nil, nil, nil) == SQLITE_OK)
        sqlite3_close(db)
        #expect(try project.query("var/a/shop.db", "SELECT v FROM t ORDER BY id") == [["user-original"], ["pooled"], ["still pooled"]])
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        #expect(try project.query("var/a/shop.db", "SELECT v FROM t") == [["from-file"]])
    }

    @Test func aTargetThatDidNotExistAndWasWrittenIsKept() throws {
        let project = try Project()
        try failingPlan(project)
        try FileManager.default.removeItem(atPath: project.root + "/var/a/shop.db")
        let run = try applyStopped(project, at: "after-swapDone#1")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        try exec(project, "var/a/shop.db", "CREATE TABLE app_log (line TEXT); INSERT INTO app_log VALUES ('first')")
        run.signal(SIGCONT)
        run.waitUntilExit()
        #expect(run.terminationStatus == 4)
        #expect(try project.query("var/a/shop.db", "SELECT line FROM app_log") == [["first"]], "a new database written into stays")
    }

    /// Append: the snapshot is taken, then the application writes into the target; swapping the
    /// shadow in would leave that row only in the checkpoint (which a later commit drops).
    @Test func anAppendIsNotSwappedOverATargetWrittenSinceItsSnapshot() throws {
        let project = try Project()
        try project.write("plans/main.json", """
        {
          "ferry": 1,
          "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
          "imports": { "more": { "into": "a", "database": "shop", "from": "data/more.sql", "onExisting": "append", "rerun": "always" } }
        }
        """)
        try project.write("plans/data/more.sql", "CREATE TABLE IF NOT EXISTS n (id INTEGER); INSERT INTO n VALUES (1);\n")
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try exec(project, "var/a/shop.db", "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'user-original');")
        let run = try applyStopped(project, at: "after-stepDone#1")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        try exec(project, "var/a/shop.db", "INSERT INTO t VALUES (2, 'app-during-run')")
        run.signal(SIGCONT)
        run.waitUntilExit()
        #expect(run.terminationStatus == 3, "refused at the swap, rolled back")
        #expect(try project.query("var/a/shop.db", "SELECT id FROM t ORDER BY id") == [["1"], ["2"]], "the application's row stays")
        #expect((try? project.query("var/a/shop.db", "SELECT count(*) FROM n")) == nil, "the append was not swapped in")
        #expect(project.leftovers(in: "var/a").isEmpty, "\(project.leftovers(in: "var/a"))")

        // Nothing writes now: the same append goes through, and keeps both rows.
        let again = try project.run("apply", "--auto-approve")
        #expect(again.code == 0, "\(again.all)")
        #expect(try project.query("var/a/shop.db", "SELECT id FROM t ORDER BY id") == [["1"], ["2"]])
        #expect(try project.query("var/a/shop.db", "SELECT count(*) FROM n") == [["1"]])
    }

    /// A committed run of `twoInstancePlan` that replaced both targets, and its id.
    func committedReplacingRun(_ project: Project) throws -> String {
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        #expect(try project.run("apply", "--auto-approve").code == 0)
        try project.write("plans/data/seed.sql", RunKillTests.newSeed)
        let second = try project.run("apply", "--auto-approve")
        #expect(second.code == 0, "\(second.all)")
        let runLine = try #require(second.stdout.split(separator: "\n").first { $0.hasPrefix("Run ") })
        return String(runLine.split(separator: " ")[1].dropLast())
    }

    /// `ferry rollback RUN` (with `extra` arguments) stopped at `point`, then killed.
    func killedRollback(_ project: Project, _ runID: String, at point: String, _ extra: [String] = []) throws {
        project.environment["FERRY_TEST_STOP_AT"] = point
        let rollback = try project.start(["rollback", runID] + extra)
        project.environment["FERRY_TEST_STOP_AT"] = nil
        defer { if rollback.isRunning { rollback.signal(SIGKILL) } }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !LockTimeoutTests.isStopped(rollback.processIdentifier), rollback.isRunning { Thread.sleep(forTimeInterval: 0.02) }
        #expect(LockTimeoutTests.isStopped(rollback.processIdentifier), "the rollback reached \(point)")
        rollback.signal(SIGKILL)
        rollback.waitUntilExit()
    }

    /// `ferry rollback RUN` killed at any moment after it began, the earliest (its begin record:
    /// no target read yet, a fresh tester lost writes there 10 of 10 on three engines) and a later
    /// one: applications go on writing into the targets, which still hold the run's data.
    /// `ferry recover` finishing the rollback must not restore the checkpoints over those writes;
    /// `--discard-later-writes` does, on purpose.
    @Test(arguments: ["after-begin#1", "after-stepStarted#1"])
    func anInterruptedRollbackIsNotFinishedOverLaterWrites(stopAt point: String) throws {
        let project = try Project()
        let runID = try committedReplacingRun(project)
        try killedRollback(project, runID, at: point)
        for file in ["var/a/app.db", "var/b/app_copy.db"] { try exec(project, file, "INSERT INTO users VALUES (77, 'after the rollback began')") }
        let recover = try project.run("recover")
        #expect(recover.code == 4 && recover.all.contains("written after this rollback began"), "\(recover.all)")
        #expect(!recover.all.contains("restored a/") && !recover.all.contains("restored b/"), "\(recover.all)")
        #expect(recover.all.contains("stays pending") && recover.all.contains("--discard-later-writes"), "\(recover.all)")
        #expect(!recover.all.contains("once the instances are reachable"), "the cause is the write, not reachability: \(recover.all)")
        #expect(try project.query("var/a/app.db", "SELECT count(*) FROM users WHERE id = 77") == [["1"]])
        #expect(try project.query("var/b/app_copy.db", "SELECT count(*) FROM users WHERE id = 77") == [["1"]])
        let again = try project.run("recover")
        #expect(again.code == 4, "still held, nothing restored: \(again.all)")
        #expect(try project.query("var/a/app.db", "SELECT count(*) FROM users WHERE id = 77") == [["1"]])
        // Killed right after its first restore, before anything else of that step is journaled
        // (the reviewer's case): the next pass must still keep what the target held then.
        project.environment["FERRY_TEST_KILL_AT"] = "change:revert.undone#1"
        _ = try project.run("recover", "--discard-later-writes")
        project.environment["FERRY_TEST_KILL_AT"] = nil
        let forced = try project.run("recover", "--discard-later-writes")
        #expect(forced.code == 0, "\(forced.all)")
        for directory in ["var/a", "var/b"] {
            let kept = try FileManager.default.contentsOfDirectory(atPath: project.root + "/" + directory).filter { $0.contains("ferry") && $0.hasSuffix(".db") }
            #expect(try kept.contains { try project.query("\(directory)/\($0)", "SELECT count(*) FROM users WHERE id = 77") == [["1"]] },
                    "\(directory): what the target held since is kept, never dropped: \(kept)")
        }
        #expect(try project.query("var/a/app.db", "SELECT count(*) FROM users") == [["3"]], "restored, on purpose")
        #expect(try project.query("var/b/app_copy.db", "SELECT count(*) FROM users") == [["3"]], "restored, on purpose")
        // What the targets held then stays under the shadows' names, and every plan names it
        // until the user drops it.
        let left = try FileManager.default.contentsOfDirectory(atPath: project.root + "/var/a").filter { $0.contains("ferry") && $0.hasSuffix(".db") }
        let shadow = try #require(left.first, "\(left)")
        #expect(try project.query("var/a/\(shadow)", "SELECT count(*) FROM users WHERE id = 77") == [["1"]])
        let plan = try project.run("plan")
        #expect(plan.all.contains("a/\(shadow.dropLast(3)) holds what a/app held") && plan.all.contains("--discard-later-writes"), "\(plan.all)")
        // A drift check is a plan too (SPEC §6 "every plan ... warns"), in each format; and the
        // rollback run's status says where what the target held went.
        for format in ["text", "json", "markdown"] {
            let refresh = try project.run("plan", "--refresh-only", "--format", format)
            #expect(refresh.code == 0 && refresh.all.contains("a/\(shadow.dropLast(3)) holds what a/app held"), "\(format): \(refresh.all)")
        }
        let status = try project.run("status")
        #expect(status.all.contains("a/app: restored over later writes; what it held since is kept as \(shadow.dropLast(3))"), "\(status.all)")
        for name in left { try FileManager.default.removeItem(atPath: project.root + "/var/a/\(name)") }
        for name in try FileManager.default.contentsOfDirectory(atPath: project.root + "/var/b") where name.contains("ferry") && name.hasSuffix(".db") {
            try FileManager.default.removeItem(atPath: project.root + "/var/b/\(name)")
        }
        // Fresh tester round 64, L2: once dropped, the status says so, never "is kept as".
        let statusAfter = try project.run("status")
        #expect(statusAfter.all.contains("a/app: restored over later writes; what it held since was kept as \(shadow.dropLast(3)), which is gone since (dropped or renamed)")
                && !statusAfter.all.contains("is kept as"), "\(statusAfter.all)")
        let after = try project.run("plan")
        #expect(!after.all.contains("--discard-later-writes"), "\(after.all)")
        let refreshAfter = try project.run("plan", "--refresh-only")
        #expect(!refreshAfter.all.contains("holds what"), "\(refreshAfter.all)")
    }

    /// Only one target written after the rollback began: the other is restored, the written one
    /// is held; the next pass restores only what is left and does not report the first again;
    /// `ferry status` of the rollback run says where each target stands.
    @Test func anInterruptedRollbackRestoresWhatWasNotWrittenAndHoldsTheRest() throws {
        let project = try Project()
        let runID = try committedReplacingRun(project)
        try killedRollback(project, runID, at: "after-begin#1")
        try exec(project, "var/b/app_copy.db", "DELETE FROM users WHERE id = 1")
        let recover = try project.run("recover")
        #expect(recover.code == 4, "\(recover.all)")
        #expect(recover.all.contains("restored a/app from its checkpoint"), "\(recover.all)")
        #expect(recover.all.contains("b/app_copy was written after this rollback began"), "\(recover.all)")
        #expect(try project.query("var/a/app.db", "SELECT count(*) FROM users") == [["3"]], "the unwritten target is restored")
        let written = try project.query("var/b/app_copy.db", "SELECT count(*) FROM users WHERE id = 1")
        #expect(written == [["0"]], "the application's DELETE stays")
        let runs = (try? FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs")) ?? []
        let rollbackRun = try #require(runs.filter { $0 > runID }.max())
        let status = try project.run("status", rollbackRun)
        #expect(status.stdout.contains("restored") && status.stdout.contains("not restored"), "\(status.all)")
        #expect(!status.stdout.contains("importing"), "\(status.all)")
        let forced = try project.run("recover", "--discard-later-writes")
        #expect(forced.code == 0, "\(forced.all)")
        #expect(forced.all.components(separatedBy: "restored ").count - 1 == 1, "only the held target is restored now: \(forced.all)")
        #expect(try project.query("var/b/app_copy.db", "SELECT count(*) FROM users") == [["3"]])
    }

    /// `ferry rollback RUN --force` restores over what was written since the commit, but what is
    /// written after it began (killed before its first step) is still never discarded by recover.
    @Test func aForcedRollbackKilledEarlyStillKeepsWritesMadeAfterItBegan() throws {
        let project = try Project()
        let runID = try committedReplacingRun(project)
        try exec(project, "var/a/app.db", "INSERT INTO users VALUES (60, 'after the commit')")
        let refused = try project.run("rollback", runID)
        #expect(refused.code == 1 && refused.all.contains("changed after run"), "\(refused.all)")
        try killedRollback(project, runID, at: "after-begin#1", ["--force"])
        try exec(project, "var/a/app.db", "INSERT INTO users VALUES (77, 'after the rollback began')")
        let recover = try project.run("recover")
        #expect(recover.code == 4 && recover.all.contains("written after this rollback began"), "\(recover.all)")
        #expect(try project.query("var/a/app.db", "SELECT count(*) FROM users WHERE id IN (60, 77)") == [["2"]])
        #expect(try project.query("var/b/app_copy.db", "SELECT count(*) FROM users") == [["3"]], "the unwritten target is restored")
    }

    /// The other way out of a held rollback: `ferry recover --keep-later-writes` finishes it,
    /// leaving the written target as it is with its checkpoint beside it (listed by status and
    /// named by every plan, as any kept target), and restoring the rest.
    @Test func anInterruptedRollbackCanBeFinishedKeepingTheLaterWrites() throws {
        let project = try Project()
        let runID = try committedReplacingRun(project)
        try killedRollback(project, runID, at: "after-begin#1")
        try exec(project, "var/b/app_copy.db", "INSERT INTO users VALUES (77, 'after the rollback began')")
        let both = try project.run("recover", "--keep-later-writes", "--discard-later-writes")
        #expect(both.code == 1 && both.all.contains("InvalidParameter"), "\(both.all)")
        let kept = try project.run("recover", "--keep-later-writes")
        #expect(kept.code == 0, "\(kept.all)")
        #expect(kept.all.contains("left b/app_copy as it is") && kept.all.contains("leaving 1 target written since as they are"), "\(kept.all)")
        #expect(!kept.all.contains("as they were"), "\(kept.all)")
        #expect(try project.query("var/a/app.db", "SELECT count(*) FROM users") == [["3"]], "the unwritten target is restored")
        #expect(try project.query("var/b/app_copy.db", "SELECT count(*) FROM users WHERE id IN (8, 77)") == [["2"]],
                "the written target keeps the run's data and the write")
        let checkpoints = ((try? FileManager.default.contentsOfDirectory(atPath: project.root + "/var/b")) ?? []).filter { $0.contains("ferry-ckpt") && $0.hasSuffix(".db") }
        #expect(checkpoints.count == 1, "\(checkpoints)")
        let status = try project.run("status", runID)
        #expect(status.stdout.contains("Left as they are") && status.stdout.contains("b/app_copy"), "\(status.all)")
        let runs = (try? FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs")) ?? []
        let rollbackRun = try #require(runs.filter { $0 > runID }.max())
        let rollbackStatus = try project.run("status", rollbackRun)
        #expect(rollbackStatus.stdout.contains("b/app_copy: left as it is") && rollbackStatus.stdout.contains("a/app: restored"), "\(rollbackStatus.all)")
        let again = try project.run("recover")
        #expect(again.code == 0 && again.all.contains("Nothing to recover"), "\(again.all)")
        let plan = try project.run("plan")
        #expect(plan.code == 0 && plan.all.contains("b/app_copy was left as it is by run \(runID)"), "\(plan.all)")
    }
}
