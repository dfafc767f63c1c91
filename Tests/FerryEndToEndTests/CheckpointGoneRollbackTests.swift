import Foundation
import Testing

/// Fresh tester round 5, W8-4: a `ferry rollback RUN` left pending (its target was written after
/// the run swapped it in) whose checkpoint the user then dropped by hand. Nothing can restore
/// that target any more, so `ferry recover --keep-later-writes` must finish the rollback leaving
/// it exactly as it is (nothing dropped, renamed or written), journaled and said truthfully;
/// plain `ferry recover` and `--discard-later-writes` must say that the checkpoint is gone and how
/// to get out (never "once the instances are reachable"); and no state edit (`ferry state rm`,
/// `ferry state keep`) may slip in while the rollback run is pending. The same kind in a run's
/// own rollback (a killed or failed run whose checkpoint was dropped after its swap): never
/// "restored", on every engine. The Redis cases are in RedisCheckpointGoneTests.swift.
@Suite(.serialized) struct CheckpointGoneRollbackTests {
    let pg = PostgresCLITests()
    let writes = PostgresWritesDuringRunTests()

    /// The finding's steps on PostgreSQL: a committed replace, its rollback stopped at `point`
    /// (right after it began, or right after its swap back's check), an application's write into
    /// the target, the rollback killed (pending), the checkpoint dropped by hand.
    @Test(arguments: ["after-begin#1", "after-stepStarted#1"])
    func aPendingRollbackWhoseCheckpointWasDroppedIsFinishedByKeepLaterWrites(stopAt point: String) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "pk" + UUID().uuidString.prefix(6).lowercased()
        defer { writes.dropAll(project, a, tag: tag) }
        try writes.failingSecondImport(project, a, tag: tag)
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "pg": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
              "imports": { "ia": { "into": "pg", "database": "\(tag)_a", "from": "data/a.sql", "onExisting": "replace", "owner": "ferry_plain" } } }
            """)
        let runID = try committedRun(project)
        project.environment["FERRY_TEST_STOP_AT"] = point
        let rollback = try project.start(["rollback", runID])
        project.environment["FERRY_TEST_STOP_AT"] = nil
        defer { if rollback.isRunning { kill(rollback.processIdentifier, SIGKILL) } }
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, !LockTimeoutTests.isStopped(rollback.processIdentifier), rollback.isRunning { Thread.sleep(forTimeInterval: 0.05) }
        #expect(LockTimeoutTests.isStopped(rollback.processIdentifier), "the rollback reached \(point)")
        // The application writes (the finding's GRANT, and a row); the rollback is killed.
        try pg.sql(project, a, "\(tag)_a", "GRANT TRUNCATE ON t TO PUBLIC; INSERT INTO t VALUES (5000, 'app-after-swap');")
        kill(rollback.processIdentifier, SIGKILL)
        rollback.waitUntilExit()
        let checkpoint = try pg.databases(project, a, like: "\(tag)_a__ferry_c_%").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!checkpoint.isEmpty && !checkpoint.contains("\n"), "one checkpoint: \(checkpoint)")
        try pg.sql(project, a, "postgres", "DROP DATABASE \"\(checkpoint)\";")
        let oid = "SELECT oid FROM pg_database WHERE datname = '\(tag)_a';"
        let targetOid = try pg.sql(project, a, "postgres", oid)
        let databases = try pg.databases(project, a, like: "\(tag)%")

        // Plain recover and --discard-later-writes: refused with the true cause and the way out.
        for args in [["recover"], ["recover", "--discard-later-writes"]] {
            let refused = try project.run(args)
            #expect(refused.code == 4, "\(args): \(refused.all)")
            #expect(refused.all.contains("the checkpoint \(checkpoint) of \(tag)_a is gone: it was dropped after the swap, by someone else"), "\(args): \(refused.all)")
            #expect(refused.all.contains("`ferry recover --keep-later-writes` finishes"), "\(args): \(refused.all)")
            #expect(!refused.all.contains("once the instances are reachable") && !refused.all.contains("restored pg/"), "\(args): \(refused.all)")
        }
        #expect(try pg.sql(project, a, "\(tag)_a", "SELECT v FROM t WHERE id = 5000;") == "app-after-swap\n", "the write stays")
        // Still pending: plans and every state edit are refused, nothing changed.
        let stateBefore = project.read(".ferry/state.json")
        #expect(try project.run("plan").all.contains("RunInterrupted"))
        for args in [["state", "rm", "import.ia"], ["state", "keep", "3"]] {
            let refused = try project.run(args)
            #expect(refused.code == 1 && refused.all.contains("RunInterrupted") && refused.all.contains("did not finish")
                    && refused.all.contains("`ferry recover`"), "\(args): \(refused.all)")
        }
        #expect(project.read(".ferry/state.json") == stateBefore, "the state is unchanged")

        // --keep-later-writes finishes it, touching nothing on the instance.
        let kept = try project.run("recover", "--keep-later-writes")
        #expect(kept.code == 0, "\(kept.all)")
        #expect(kept.all.contains("left pg/\(tag)_a as it is (kept with whatever it holds now, any writes made since included): the checkpoint \(checkpoint) of \(tag)_a is gone: it was dropped after the swap, by someone else"), "\(kept.all)")
        #expect(kept.all.contains("rollback of \(runID) finished") && !kept.all.contains("restored pg/"), "\(kept.all)")
        #expect(try pg.sql(project, a, "\(tag)_a", "SELECT v FROM t WHERE id = 5000;") == "app-after-swap\n", "the write stays")
        #expect(try pg.sql(project, a, "\(tag)_a", "SELECT has_table_privilege('public', 't', 'TRUNCATE');") == "t\n", "the grant stays")
        #expect(try pg.sql(project, a, "postgres", oid) == targetOid, "the same database: nothing renamed")
        #expect(try pg.databases(project, a, like: "\(tag)%") == databases, "nothing dropped, renamed or made")
        let status = try project.run("status", runID)
        #expect(status.all.contains("\(tag)_a") && status.all.contains("dropped after the swap, by someone else"), "\(status.all)")
        let plan = try project.run("plan")
        #expect(!plan.all.contains("RunInterrupted") && (plan.code == 0 || plan.code == 2), "\(plan.all)")
        #expect(try project.run("recover").all.contains("Nothing to recover"))
        // The state edit is taken once nothing is pending.
        #expect(try project.run("state", "keep", "1").code == 0)
    }

    /// Runs `ferry apply --auto-approve`, expects it to commit, and returns its run ID.
    func committedRun(_ project: Project) throws -> String {
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        let runLine = try #require(apply.stdout.split(separator: "\n").first { $0.hasPrefix("Run ") }, "\(apply.all)")
        return String(runLine.split(separator: " ")[1].dropLast())
    }

    /// An SQLite instance `a` holding `app` (a table `keep`) and a plan replacing it from a
    /// one-table file, with `then` (more imports, JSON) after it.
    func sqliteReplace(_ project: Project, then: String = "") throws {
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try exec(project, "var/a/app.db", "CREATE TABLE keep(x); INSERT INTO keep VALUES ('before');")
        try project.write("plans/data/new.sql", "CREATE TABLE imported(x);\nINSERT INTO imported VALUES (1);\n")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
              "imports": { "app": { "into": "a", "database": "app", "from": "data/new.sql", "onExisting": "replace" }\(then) } }
            """)
    }

    func exec(_ project: Project, _ path: String, _ sql: String) throws {
        try WrittenDuringRunTests().exec(project, path, sql)
    }

    /// SQLite: two targets, the rollback killed right after it began (or once it restored
    /// `b/app_copy` and began the swap back of `a/app`: the journal alone no longer tells a
    /// checkpoint the user deleted from one the swap back used up); `a/app` is written and its
    /// checkpoint deleted by hand, `b/app_copy` is untouched. Plain recover restores `b/app_copy`
    /// and leaves `a/app` pending with the true cause; `--keep-later-writes` finishes it, leaving
    /// `a/app`'s file exactly as it is.
    @Test(arguments: ["after-begin#1", "after-stepStarted#2"])
    func sqliteAPendingRollbackWhoseCheckpointWasDeletedIsFinishedByKeepLaterWrites(stopAt point: String) throws {
        let project = try Project()
        let written = WrittenDuringRunTests()
        let runID = try written.committedReplacingRun(project)
        try written.killedRollback(project, runID, at: point)
        try exec(project, "var/a/app.db", "INSERT INTO users VALUES (77, 'after the rollback began')")
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: project.root + "/var/a").filter { $0.contains("ckpt") }
        #expect(!checkpoints.isEmpty, "a checkpoint of a/app")
        for name in checkpoints { try FileManager.default.removeItem(atPath: project.root + "/var/a/\(name)") }
        let recover = try project.run("recover")
        #expect(recover.code == 4, "\(recover.all)")
        #expect(recover.all.contains("a/app: the checkpoint") && recover.all.contains("is gone") && recover.all.contains("`ferry recover --keep-later-writes` finishes"), "\(recover.all)")
        #expect(!recover.all.contains("once the instances are reachable") && !recover.all.contains("restored a/app"), "\(recover.all)")
        if point == "after-begin#1" { #expect(recover.all.contains("restored b/app_copy"), "the other target is restored: \(recover.all)") }
        #expect(try project.query("var/b/app_copy.db", "SELECT count(*) FROM users") == [["3"]], "b/app_copy holds what it held before the run")
        let discard = try project.run("recover", "--discard-later-writes")
        #expect(discard.code == 4 && discard.all.contains("is gone") && !discard.all.contains("once the instances are reachable"), "\(discard.all)")
        #expect(try project.run("state", "rm", "import.seed").all.contains("RunInterrupted"))
        let before = try Data(contentsOf: URL(fileURLWithPath: project.root + "/var/a/app.db"))
        // Ferry's own claims file goes as the rollback ends; the rest must stay as it is.
        let files = try FileManager.default.contentsOfDirectory(atPath: project.root + "/var/a").filter { !$0.hasPrefix(".ferry-claims") }.sorted()
        let kept = try project.run("recover", "--keep-later-writes")
        #expect(kept.code == 0, "\(kept.all)")
        #expect(kept.all.contains("left a/app as it is (kept with whatever it holds now, any writes made since included): the checkpoint") && kept.all.contains("is gone"), "\(kept.all)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: project.root + "/var/a/app.db")) == before, "a/app's bytes unchanged")
        let after = try FileManager.default.contentsOfDirectory(atPath: project.root + "/var/a").filter { !$0.hasPrefix(".ferry-claims") }.sorted()
        #expect(after == files, "nothing dropped or renamed: \(files) -> \(after)")
        #expect(try project.query("var/a/app.db", "SELECT count(*) FROM users WHERE id = 77") == [["1"]])
        let plan = try project.run("plan")
        #expect(!plan.all.contains("RunInterrupted"), "\(plan.all)")
    }

    /// MariaDB: the same, the rollback killed right after it began (MySQL tells a gone
    /// checkpoint from the rollback's journal: no swap back of it had begun).
    @Test func mysqlAPendingRollbackWhoseCheckpointWasDroppedIsFinishedByKeepLaterWrites() throws {
        let m = MySQLWritesDuringRunTests()
        let s = try m.setUp()
        defer { m.tearDown(s) }
        try m.importEveryTime(s)
        let runID = try committedRun(s.project)
        let (rollback, _) = try m.startStopped(s, at: "after-begin#1", args: ["rollback", runID])
        _ = try m.sql(s, "INSERT INTO DB.t VALUES (100, 'app');")
        m.killed(rollback)
        let checkpoint = try #require(try m.checkpoints(s).first, "\(m.names(s))")
        _ = try m.sql(s, "DROP DATABASE `\(checkpoint)`;")
        let schemas = try m.schemas(s)
        for args in [["recover"], ["recover", "--discard-later-writes"]] {
            let refused = try s.project.run(args)
            #expect(refused.code == 4 && refused.all.contains("the checkpoint \(checkpoint) of \(s.target) is gone"), "\(args): \(refused.all)")
            #expect(refused.all.contains("`ferry recover --keep-later-writes` finishes"), "\(args): \(refused.all)")
            #expect(!refused.all.contains("once the instances are reachable") && !refused.all.contains("restored a/"), "\(args): \(refused.all)")
        }
        #expect(try s.project.run("state", "rm", "import.ia").all.contains("RunInterrupted"))
        let kept = try s.project.run("recover", "--keep-later-writes")
        #expect(kept.code == 0 && kept.all.contains("left a/\(s.target) as it is (kept with whatever it holds now, any writes made since included): the checkpoint \(checkpoint)"), "\(kept.all)")
        #expect(try m.sql(s, "SELECT id FROM DB.t ORDER BY id;") == "1\n2\n100\n", "the run's rows and the write stay")
        #expect(try m.schemas(s) == schemas, "nothing dropped, renamed or made")
        #expect(!(try s.project.run("plan")).all.contains("RunInterrupted"))
    }

}

extension CheckpointGoneRollbackTests {
    /// The same kind of fault in a run's own rollback: an apply killed right after its swap, the
    /// checkpoint dropped by hand before `ferry recover`. Nothing can restore the target, so the
    /// recovery leaves it as it is and ends the run (exit 4, "left it as it is", the gone
    /// checkpoint named), instead of leaving it pending for good with "once the instances are
    /// reachable".
    @Test func aKilledRunWhoseCheckpointWasDroppedIsRecoveredLeavingTheTarget() throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "pr" + UUID().uuidString.prefix(6).lowercased()
        defer { writes.dropAll(project, a, tag: tag) }
        try writes.failingSecondImport(project, a, tag: tag)
        let (run, _) = try writes.startStopped(project, at: "after-swapDone#1")
        kill(run.processIdentifier, SIGKILL)
        kill(run.processIdentifier, SIGCONT)
        run.waitUntilExit()
        let checkpoint = try pg.databases(project, a, like: "\(tag)_a__ferry_c_%").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!checkpoint.isEmpty && !checkpoint.contains("\n"), "one checkpoint: \(checkpoint)")
        try pg.sql(project, a, "postgres", "DROP DATABASE \"\(checkpoint)\";")
        let oid = "SELECT oid FROM pg_database WHERE datname = '\(tag)_a';"
        let targetOid = try pg.sql(project, a, "postgres", oid)
        let recover = try project.run("recover")
        #expect(recover.code == 4, "\(recover.all)")
        #expect(recover.all.contains("pg/\(tag)_a: the checkpoint \(checkpoint) of \(tag)_a is gone: it was dropped after the swap, by someone else, so the rollback left it as it is"), "\(recover.all)")
        #expect(recover.all.contains("nothing is left for `ferry recover`") && !recover.all.contains("once the instances are reachable"), "\(recover.all)")
        #expect(try pg.sql(project, a, "postgres", oid) == targetOid, "the target is left where it is")
        #expect(try pg.sql(project, a, "\(tag)_a", "SELECT count(*) FROM t;") == "2000\n", "it holds the run's data")
        #expect(try project.run("recover").all.contains("Nothing to recover"))
        let plan = try project.run("plan")
        #expect(!plan.all.contains("RunInterrupted"), "\(plan.all)")
    }
}

extension CheckpointGoneRollbackTests {
    /// The same on MariaDB, which cannot tell a gone checkpoint from the instance alone: an
    /// apply killed right after its swap's end was journaled, the checkpoint dropped by hand,
    /// then `ferry recover`. No undo of the swap had begun, so the checkpoint was dropped by
    /// someone else: the target is left as it is, holding the run's data, and the run ends
    /// (exit 4), never "restored" (before: the undo moved the run's tables out of the target,
    /// found nothing to put back and said it was restored).
    @Test func mysqlAKilledRunWhoseCheckpointWasDroppedIsRecoveredLeavingTheTarget() throws {
        let m = MySQLWritesDuringRunTests()
        let s = try m.setUp()
        defer { m.tearDown(s) }
        try m.importEveryTime(s)
        let (run, _) = try m.startStopped(s, at: "after-swapDone#1")
        m.killed(run)
        let checkpoint = try #require(try m.checkpoints(s).first, "a checkpoint")
        _ = try m.sql(s, "DROP DATABASE `\(checkpoint)`;")
        let rows = try m.sql(s, "SELECT id, v FROM DB.t ORDER BY id;")
        #expect(rows == "1\tfrom-file\n2\tfrom-file\n", "the run's rows are in the target")
        let recover = try s.project.run("recover")
        #expect(recover.code == 4, "\(recover.all)")
        #expect(recover.all.contains("a/\(s.target): the checkpoint \(checkpoint) of \(s.target) is gone") && recover.all.contains("left it as it is"), "\(recover.all)")
        #expect(!recover.all.contains("restored a/") && !recover.all.contains("once the instances are reachable"), "\(recover.all)")
        #expect(try m.sql(s, "SELECT id, v FROM DB.t ORDER BY id;") == rows, "the target keeps the run's data")
        #expect(try s.project.run("recover").all.contains("Nothing to recover"))
        #expect(!(try s.project.run("plan")).all.contains("RunInterrupted"))
    }

    /// Fresh tester w11 F3: a `ferry recover` killed inside its swap back (before its rename, or
    /// after it), then the checkpoint dropped by hand: the next `ferry recover` tells the
    /// checkpoint gone from the shadow the undo marked (no note that it finished), leaves the
    /// target as it is and ends the run (exit 4), never "restored".
    @Test(arguments: ["change:mysql.undo.checked", "change:mysql.undo.renamed"])
    func mysqlACheckpointDroppedWhileItsUndoWasCutShortIsNeverRestored(_ point: String) throws {
        let m = MySQLWritesDuringRunTests()
        let s = try m.setUp()
        defer { m.tearDown(s) }
        try m.importEveryTime(s)
        let (run, _) = try m.startStopped(s, at: "after-swapDone#1")
        m.killed(run)
        s.project.environment["FERRY_TEST_KILL_AT"] = point
        let killed = try s.project.run("recover")
        s.project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code == 9, "\(killed.all)")
        let checkpoint = try #require(try m.checkpoints(s).first, "a checkpoint: \(m.names(s))")
        _ = try m.sql(s, "DROP DATABASE `\(checkpoint)`;")
        let rows = try m.sql(s, "SELECT id, v FROM DB.t ORDER BY id;")
        let recover = try s.project.run("recover")
        #expect(recover.code == 4, "\(recover.all)")
        #expect(recover.all.contains("the checkpoint \(checkpoint) of \(s.target) was dropped by someone else while a rollback's swap back was under way") && recover.all.contains("left it as it is"), "\(recover.all)")
        #expect(!recover.all.contains("restored a/") && !recover.all.contains("as they were before"), "\(recover.all)")
        #expect(try m.sql(s, "SELECT id, v FROM DB.t ORDER BY id;") == rows, "the target is left as it is")
        #expect(try s.project.run("recover").all.contains("Nothing to recover"))
    }

    /// The other side of the journal's judgement: a `ferry recover` killed after its undo of the
    /// swap put the checkpoint back (before it journaled that) leaves no checkpoint, and the next
    /// `ferry recover` must not take it for one dropped by someone else: its `undoBegun` record
    /// says the undo had begun. The target ends as it was before the run.
    @Test func mysqlARecoverKilledAfterItsUndoUsedTheCheckpointFinishesAsBefore() throws {
        let m = MySQLWritesDuringRunTests()
        let s = try m.setUp()
        defer { m.tearDown(s) }
        try m.importEveryTime(s)
        let (run, _) = try m.startStopped(s, at: "after-swapDone#1")
        m.killed(run)
        let (recover, output) = try m.startStopped(s, at: "before-undone#1", args: ["recover"])
        m.killed(recover)
        #expect(try m.checkpoints(s).isEmpty, "the undo put the checkpoint back: \((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")")
        let again = try s.project.run("recover")
        #expect(again.code == 0 && !again.all.contains("is gone"), "\(again.all)")
        #expect(try m.sql(s, "SELECT id, v FROM DB.t ORDER BY id;") == "1\tuser-original\n", "the target is as it was before the run")
        #expect(try s.project.run("recover").all.contains("Nothing to recover"))
    }

    /// The same in the run's own rollback without a kill: the swap done, the checkpoint dropped
    /// by hand, then the next import of the plan fails and the run rolls back.
    @Test func mysqlARunWhoseCheckpointWasDroppedRollsBackLeavingTheTarget() throws {
        let m = MySQLWritesDuringRunTests()
        let s = try m.setUp()
        defer { m.tearDown(s) }
        let (run, output) = try m.startStopped(s, at: "after-swapDone#1")
        let checkpoint = try #require(try m.checkpoints(s).first, "a checkpoint")
        _ = try m.sql(s, "DROP DATABASE `\(checkpoint)`;")
        let rows = try m.sql(s, "SELECT id, v FROM DB.t ORDER BY id;")
        let (code, text) = m.resume(run, output)
        #expect(code == 4, "\(text)")
        #expect(text.contains("a/\(s.target): the checkpoint \(checkpoint) of \(s.target) is gone") && text.contains("left it as it is"), "\(text)")
        #expect(!text.contains("restored a/\(s.target)"), "\(text)")
        #expect(try m.sql(s, "SELECT id, v FROM DB.t ORDER BY id;") == rows, "the target keeps the run's data")
        #expect(try m.schemas(s).contains(s.target))
    }

}

extension CheckpointGoneRollbackTests {
    /// Fresh tester w11 F4: the SQLite checkpoint file deleted and a user's file made at its path
    /// (the file system may hand out the same inode number) is not the checkpoint: `ferry
    /// rollback RUN` refuses before any change, the user's file and the run's target untouched.
    @Test func sqliteACheckpointFileMadeAgainIsNotRestored() throws {
        let project = try Project()
        try sqliteReplace(project)
        let runID = try committedRun(project)
        let checkpoint = try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/var/a").first { $0.contains("ckpt") })
        try FileManager.default.removeItem(atPath: project.root + "/var/a/\(checkpoint)")
        try exec(project, "var/a/\(checkpoint)", "CREATE TABLE mine(x); INSERT INTO mine VALUES (42);")
        let refused = try project.run("rollback", runID)
        #expect(refused.code == 1 && refused.all.contains("is not the file the swap kept"), "\(refused.all)")
        #expect(!refused.all.contains("restored a/app"), "\(refused.all)")
        #expect(try project.query("var/a/\(checkpoint)", "SELECT x FROM mine") == [["42"]], "the user's file is untouched")
        #expect(try project.query("var/a/app.db", "SELECT x FROM imported") == [["1"]], "the run's target is untouched")
        #expect(!(try project.run("plan")).all.contains("RunInterrupted"), "nothing pending")
    }

    /// Round-13 F6: a run whose checkpoints the retention dropped (a later run on another
    /// target committed under `ferry state keep 0`), its target written since: `ferry rollback
    /// RUN` says at once that the checkpoints are gone (it said the target "changed after run
    /// ... committed", offering `--force`, which then said they were gone), with and without
    /// `--force`; nothing changes and nothing is left pending.
    @Test(arguments: [false, true]) func sqliteARollbackWhoseCheckpointsRetentionDroppedSaysSoFirst(force: Bool) throws {
        let project = try Project()
        try sqliteReplace(project)
        let runID = try committedRun(project)
        #expect(try project.run("state", "keep", "0").code == 0)
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
              "imports": { "app": { "into": "a", "database": "app", "from": "data/new.sql", "onExisting": "replace" },
                           "other": { "into": "a", "database": "other", "from": "data/new.sql" } } }
            """)
        let later = try project.run("apply", "--auto-approve")
        #expect(later.code == 0 && later.stdout.contains("1 created"), "a later run on another target commits: \(later.all)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: project.root + "/var/a").allSatisfy { !$0.contains("ckpt") },
                "the retention dropped the first run's checkpoint")
        try exec(project, "var/a/app.db", "INSERT INTO imported VALUES (99);")
        let before = project.fileBytes("var/a/app.db")
        let refused = try project.run(["rollback", runID] + (force ? ["--force"] : []))
        #expect(refused.code == 1 && refused.all.contains("the checkpoints of run \(runID) were already dropped"), "\(refused.all)")
        #expect(!refused.all.contains("changed after run") && !refused.all.contains("--force"), "\(refused.all)")
        #expect(project.fileBytes("var/a/app.db") == before, "nothing changed")
        #expect(!(try project.run("plan")).all.contains("RunInterrupted"), "nothing pending")
    }

    /// Fresh tester w11 F2 and F5 on MariaDB: `ferry rollback RUN` whose checkpoint was dropped
    /// is refused before any change (nothing pending), and so is one whose checkpoint's name was
    /// then taken by a schema of the user's, which is never dropped.
    @Test func mysqlARollbackWhoseCheckpointIsGoneIsRefusedBeforeAnyChange() throws {
        let m = MySQLWritesDuringRunTests()
        let s = try m.setUp()
        defer { m.tearDown(s) }
        try m.importEveryTime(s)
        let runID = try committedRun(s.project)
        let checkpoint = try #require(try m.checkpoints(s).first, "a checkpoint")
        _ = try m.sql(s, "DROP DATABASE `\(checkpoint)`;")
        for remade in [false, true] {
            if remade { _ = try m.sql(s, "CREATE DATABASE `\(checkpoint)`;") }
            let refused = try s.project.run("rollback", runID)
            #expect(refused.code == 1 && refused.all.contains("is gone"), "remade \(remade): \(refused.all)")
            #expect(!refused.all.contains("restored a/"), "\(refused.all)")
            #expect(!(try s.project.run("plan")).all.contains("RunInterrupted"), "nothing pending")
            #expect(try m.sql(s, "SELECT id, v FROM DB.t ORDER BY id;") == "1\tfrom-file\n2\tfrom-file\n", "the target is untouched")
        }
        #expect(try m.schemas(s).contains(checkpoint), "the user's schema under that name stays")
    }

    /// Fresh tester w11 F2: a pending `ferry rollback` (killed after it began) whose checkpoint
    /// was dropped and a schema of that name made again: `ferry recover` never "restores" from
    /// it nor drops it; `--keep-later-writes` finishes leaving both as they are.
    @Test func mysqlAPendingRollbackNeverTakesAUsersSchemaForTheCheckpoint() throws {
        let m = MySQLWritesDuringRunTests()
        let s = try m.setUp()
        defer { m.tearDown(s) }
        try m.importEveryTime(s)
        let runID = try committedRun(s.project)
        let (rollback, _) = try m.startStopped(s, at: "after-begin#1", args: ["rollback", runID])
        m.killed(rollback)
        let checkpoint = try #require(try m.checkpoints(s).first, "a checkpoint")
        _ = try m.sql(s, "DROP DATABASE `\(checkpoint)`; CREATE DATABASE `\(checkpoint)`;")
        let refused = try s.project.run("recover")
        #expect(refused.code == 4 && refused.all.contains("checkpoints of targets above are gone") && refused.all.contains("no retry can restore them"), "\(refused.all)")
        #expect(!refused.all.contains("restored a/"), "\(refused.all)")
        #expect(try m.schemas(s).contains(checkpoint), "the user's schema stays")
        let kept = try s.project.run("recover", "--keep-later-writes")
        #expect(kept.code == 0, "\(kept.all)")
        #expect(try m.schemas(s).contains(checkpoint), "the user's schema stays")
        #expect(try m.sql(s, "SELECT id, v FROM DB.t ORDER BY id;") == "1\tfrom-file\n2\tfrom-file\n", "the target is untouched")
    }

    /// Fresh tester w11 F8: `ferry status RUN` lists a kept checkpoint only as what it is now:
    /// while it is there, as before; once deleted, or deleted and a file of the user's made in
    /// its place, "gone" (it cannot be rolled back to). SQLite.
    @Test func sqliteStatusMarksAGoneCheckpoint() throws {
        let project = try Project()
        try sqliteReplace(project)
        let runID = try committedRun(project)
        let checkpoint = try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/var/a").first { $0.contains("ckpt") })
        let there = try project.run("status", runID)
        #expect(there.stdout.contains("Checkpoints kept") && there.stdout.contains("a/app ← ") && !there.stdout.contains("gone"), "\(there.all)")
        try FileManager.default.removeItem(atPath: project.root + "/var/a/\(checkpoint)")
        let gone = try project.run("status", runID)
        #expect(gone.stdout.contains("a/app ← ") && gone.stdout.contains("gone") && gone.stdout.contains("cannot be rolled back to"), "\(gone.all)")
        try exec(project, "var/a/\(checkpoint)", "CREATE TABLE mine(x); INSERT INTO mine VALUES (42);")
        let remade = try project.run("status", runID)
        #expect(remade.stdout.contains("gone") && remade.stdout.contains("cannot be rolled back to"), "\(remade.all)")
    }

    /// Fresh tester round 38b, M1: with the plan unreadable (an unset `${env:}` in it),
    /// `ferry status RUN` said of each kept checkpoint "its instance is not in the plan". It says
    /// the plan could not be read, and why; with the plan readable again, the checkpoint is
    /// looked for as before.
    @Test func statusOfAKeptCheckpointSaysThePlanCouldNotBeRead() throws {
        let project = try Project()
        try sqliteReplace(project)
        let runID = try committedRun(project)
        let good = try #require(project.read("plans/main.json"))
        try project.write("plans/main.json", good.replacingOccurrences(of: "\"data/new.sql\"", with: "\"ftp://u:${env:FERRY_TEST_UNSET_PW}@127.0.0.1:1/new.sql\""))
        let unread = try project.run("status", runID)
        #expect(unread.stdout.contains("a/app ← ") && unread.stdout.contains("not checked: the plan could not be read") && unread.stdout.contains("FERRY_TEST_UNSET_PW"), "\(unread.all)")
        #expect(!unread.stdout.contains("not in the plan"), "\(unread.all)")
        try project.write("plans/main.json", good)
        let there = try project.run("status", runID)
        #expect(there.stdout.contains("a/app ← ") && !there.stdout.contains("not checked") && !there.stdout.contains("gone"), "\(there.all)")
    }

    /// Fresh tester round 64, L1: `ferry status` read its plan from `plans/` only: a project
    /// whose plan is elsewhere got "not checked: ... plan path not found: plans" for every kept
    /// checkpoint. `ferry status RUN PATH` reads the plan at PATH (and a path alone, for the
    /// newest run); without one and no `plans/`, the line says to give one.
    @Test func statusReadsThePlanAtThePathGiven() throws {
        let project = try Project()
        try sqliteReplace(project)
        let runID = try committedRun(project)
        try FileManager.default.moveItem(atPath: project.root + "/plans", toPath: project.root + "/elsewhere")
        let missing = try project.run("status", runID)
        #expect(missing.stdout.contains("a/app ← ") && missing.stdout.contains("not checked: no plan at plans/ here") && missing.stdout.contains("`ferry status \(runID) PATH`")
                && !missing.stdout.contains("plan path not found"), "\(missing.all)")
        for args in [["status", runID, "elsewhere/main.json"], ["status", runID, "elsewhere"], ["status", "elsewhere/main.json"]] {
            let given = try project.run(args)
            #expect(given.code == 0 && given.stdout.contains("Run \(runID)") && given.stdout.contains("a/app ← ") && !given.stdout.contains("not checked"), "\(args): \(given.all)")
        }
        let checkpoint = try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/var/a").first { $0.contains("ckpt") })
        try FileManager.default.removeItem(atPath: project.root + "/var/a/\(checkpoint)")
        let gone = try project.run("status", runID, "elsewhere")
        #expect(gone.stdout.contains("gone") && gone.stdout.contains("cannot be rolled back to"), "\(gone.all)")
    }

    /// The same on MariaDB: a dropped checkpoint, and a schema of the user's under its name.
    @Test func mysqlStatusMarksAGoneCheckpoint() throws {
        let m = MySQLWritesDuringRunTests()
        let s = try m.setUp()
        defer { m.tearDown(s) }
        try m.importEveryTime(s)
        let runID = try committedRun(s.project)
        let checkpoint = try #require(try m.checkpoints(s).first, "a checkpoint")
        let there = try s.project.run("status", runID)
        #expect(there.stdout.contains("Checkpoints kept") && there.stdout.contains(checkpoint) && !there.stdout.contains("gone"), "\(there.all)")
        _ = try m.sql(s, "DROP DATABASE `\(checkpoint)`;")
        for remade in [false, true] {
            if remade { _ = try m.sql(s, "CREATE DATABASE `\(checkpoint)`;") }
            let gone = try s.project.run("status", runID)
            #expect(gone.stdout.contains(checkpoint) && gone.stdout.contains("gone") && gone.stdout.contains("cannot be rolled back to"), "remade \(remade): \(gone.all)")
        }
    }
}

/// Fresh tester w14 F2: the checkpoint gone and the target gone or made again by someone too.
/// Before, the undo took the swap as undone already and said "restored ... from its checkpoint"
/// and "as they were" (exit 0, or 3 in the run's own rollback) with nothing restored; now the
/// target is left as it is (or absent as it is), exit 4, never "restored". And w14 F1: a file
/// of the user's made at a kept SQLite checkpoint's path is never removed by the next run.
extension CheckpointGoneRollbackTests {
    @Test(arguments: ["drop", "remake"])
    func mysqlAKilledRunWhoseCheckpointAndTargetWereDroppedIsNeverRestored(how: String) throws {
        let m = MySQLWritesDuringRunTests()
        let s = try m.setUp()
        defer { m.tearDown(s) }
        try m.importEveryTime(s)
        let (run, _) = try m.startStopped(s, at: "after-swapDone#1")
        m.killed(run)
        let checkpoint = try #require(try m.checkpoints(s).first, "a checkpoint")
        _ = try m.sql(s, "DROP DATABASE `\(checkpoint)`; DROP DATABASE `\(s.target)`;")
        if how == "remake" { _ = try m.sql(s, "CREATE DATABASE `\(s.target)`; CREATE TABLE DB.userfresh (a INT); INSERT INTO DB.userfresh VALUES (9);") }
        let recover = try s.project.run("recover")
        #expect(recover.code == 4, "\(recover.all)")
        #expect(recover.all.contains("the checkpoint \(checkpoint) of \(s.target) is gone") && recover.all.contains("left it as it is"), "\(recover.all)")
        #expect(!recover.all.contains("restored a/") && !recover.all.contains("as they were"), "\(recover.all)")
        if how == "remake" {
            #expect(try m.sql(s, "SELECT a FROM DB.userfresh;") == "9\n", "the user's database is left as it is")
        } else {
            #expect(try !m.schemas(s).contains(s.target), "nothing was made")
        }
        #expect(try s.project.run("recover").all.contains("Nothing to recover"))
    }

    /// The same on SQLite, after a kill and in the run's own rollback: the checkpoint deleted and
    /// the target deleted, or replaced by a file of the user's.
    @Test(arguments: [("drop", true), ("remake", true), ("drop", false), ("remake", false)])
    func sqliteACheckpointAndTargetGoneAreNeverRestored(how: String, killed: Bool) throws {
        let project = try Project()
        try project.write("plans/data/bad.sql", "CREATE TABLE t(x);\nINSERT INTO nosuch VALUES (1);\n")
        try sqliteReplace(project, then: killed ? "" : """
            , "bad": { "into": "a", "database": "bad", "from": "data/bad.sql", "after": ["import.app"] }
            """)
        let output = project.root + "/apply.out"
        FileManager.default.createFile(atPath: output, contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: output))
        project.environment["FERRY_TEST_STOP_AT"] = "after-swapDone#1"
        let run = try project.start(["apply", "--auto-approve", "--parallelism", "1"], stdout: handle)
        project.environment["FERRY_TEST_STOP_AT"] = nil
        defer { run.signal(SIGKILL) }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !LockTimeoutTests.isStopped(run.processIdentifier), run.isRunning { Thread.sleep(forTimeInterval: 0.02) }
        #expect(LockTimeoutTests.isStopped(run.processIdentifier), "the apply stops after its swap")
        let checkpoint = try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/var/a").first { $0.contains("ckpt") })
        try FileManager.default.removeItem(atPath: project.root + "/var/a/\(checkpoint)")
        try FileManager.default.removeItem(atPath: project.root + "/var/a/app.db")
        if how == "remake" { try exec(project, "var/a/app.db", "CREATE TABLE userfresh(x); INSERT INTO userfresh VALUES (9);") }
        let text: String, code: Int32
        if killed {
            run.signal(SIGKILL); run.signal(SIGCONT); run.waitUntilExit()
            let recover = try project.run("recover")
            (text, code) = (recover.all, recover.code)
        } else {
            run.signal(SIGCONT); run.waitUntilExit()
            (text, code) = ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "", run.terminationStatus)
        }
        #expect(code == 4, "\(text)")
        #expect(!text.contains("restored a/app") && !text.contains("as they were"), "\(text)")
        if killed { #expect(text.contains("is gone") && text.contains("left it as it is"), "\(text)") }
        if how == "remake" {
            #expect(try project.query("var/a/app.db", "SELECT x FROM userfresh") == [["9"]], "the user's file is left as it is")
        } else {
            #expect(!FileManager.default.fileExists(atPath: project.root + "/var/a/app.db"), "nothing was made")
        }
    }

    /// w14 F1: a committed run keeps its checkpoint; the user deletes it and makes a file of their
    /// own at its path; the next run's retention (and a recover finishing a run killed at its
    /// commit) leaves that file, with a note.
    @Test(arguments: [false, true]) func sqliteAFileMadeAtAKeptCheckpointsPathIsNeverRemoved(killedAtCommit: Bool) throws {
        let project = try Project()
        try sqliteReplace(project)
        _ = try committedRun(project)
        let checkpoint = try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/var/a").first { $0.contains("ckpt") })
        try FileManager.default.removeItem(atPath: project.root + "/var/a/\(checkpoint)")
        try exec(project, "var/a/\(checkpoint)", "CREATE TABLE mine(x); INSERT INTO mine VALUES (42);")
        let args = ["apply", "--auto-approve", "--replace", "import.app", "--target", "import.app"]
        if killedAtCommit {
            try project.killed(args, at: "after-committed#1")
            #expect(try project.query("var/a/\(checkpoint)", "SELECT x FROM mine") == [["42"]])
            let recover = try project.run("recover")
            #expect(recover.code == 0, "\(recover.all)")
            #expect(recover.all.contains("is not the file the swap kept") && recover.all.contains("left as it is"), "\(recover.all)")
        } else {
            let next = try project.run(args)
            #expect(next.code == 0, "\(next.all)")
            #expect(next.all.contains("is not the file the swap kept") && next.all.contains("left as it is"), "\(next.all)")
        }
        #expect(try project.query("var/a/\(checkpoint)", "SELECT x FROM mine") == [["42"]], "the user's file is untouched")
    }
}
