import Foundation
import Testing

/// Round-9 fresh tester F6: PostgreSQL checkpoint messages that did not lead out.
/// (a) a user's database under the checkpoint's name after a kill: every `ferry recover` failed
///     with "run `ferry recover` again once the instances are reachable" (they were); now the
///     checkpoint is gone as SPEC §6 says for every engine: the target and the user's database are
///     left as they are, the run ends, exit 4, nothing left for `ferry recover`;
/// (b) the checkpoint dropped while `ferry recover` ran: a raw SQLSTATE in a CopyError and
///     "incomplete"; now the same "gone" ending;
/// (c) target and checkpoint both dropped: the message said the target "holds the run's data";
/// (d) `ferry rollback` of a run whose checkpoint is gone: its hint spoke of sessions and
///     `terminateSessions`.
@Suite(.serialized) struct PostgresCheckpointMessageTests {
    let pg = PostgresCLITests()
    let writes = PostgresWritesDuringRunTests()

    /// An apply of `failingSecondImport` killed right after its first swap; returns the checkpoint.
    func killedAfterSwap(_ project: Project, _ a: PostgresCLITests.Server, tag: String) throws -> String {
        try writes.failingSecondImport(project, a, tag: tag)
        let (run, _) = try writes.startStopped(project, at: "after-swapDone#1")
        kill(run.processIdentifier, SIGKILL)
        kill(run.processIdentifier, SIGCONT)
        run.waitUntilExit()
        let checkpoint = try pg.databases(project, a, like: "\(tag)_a__ferry_c_%").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!checkpoint.isEmpty && !checkpoint.contains("\n"), "one checkpoint: \(checkpoint)")
        return checkpoint
    }

    /// (a) The finding's database of the user's under the checkpoint's name (dropped, or renamed
    /// away, and made again), and the checkpoint itself with its mark changed.
    @Test(arguments: ["remade", "renamed", "unmarked"])
    func aDatabaseUnderTheCheckpointsNameEndsTheRecoveryLeavingBoth(how: String) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "pn" + UUID().uuidString.prefix(6).lowercased()
        defer { writes.dropAll(project, a, tag: tag) }
        let checkpoint = try killedAfterSwap(project, a, tag: tag)
        let moved = "\(tag)_moved"
        switch how {
        case "remade": try pg.sql(project, a, "postgres", "DROP DATABASE \"\(checkpoint)\"; CREATE DATABASE \"\(checkpoint)\";")
        case "renamed": try pg.sql(project, a, "postgres", "ALTER DATABASE \"\(checkpoint)\" RENAME TO \"\(moved)\"; CREATE DATABASE \"\(checkpoint)\";")
        default: try pg.sql(project, a, "postgres", "COMMENT ON DATABASE \"\(checkpoint)\" IS 'mine now';")
        }
        if how != "unmarked" { try pg.sql(project, a, checkpoint, "CREATE TABLE mine (v text); INSERT INTO mine VALUES ('the user''s');") }
        let oid = "SELECT oid FROM pg_database WHERE datname = '\(tag)_a';"
        let targetOid = try pg.sql(project, a, "postgres", oid)
        let databases = try pg.databases(project, a, like: "\(tag)%")
        let recover = try project.run("recover")
        #expect(recover.code == 4, "\(how): \(recover.all)")
        #expect(recover.all.contains("pg/\(tag)_a: the checkpoint \(checkpoint) of \(tag)_a is gone"), "\(how): \(recover.all)")
        #expect(recover.all.contains("so the rollback left it as it is: it holds whatever is there now"), "\(how): \(recover.all)")
        switch how {
        case "remade": #expect(recover.all.contains("the database now under its name is another one (oid"), "\(recover.all)")
        case "renamed": #expect(recover.all.contains("it was renamed to \(moved) after the swap") && recover.all.contains("another one"), "\(recover.all)")
        default: #expect(recover.all.contains("Ferry's checkpoint mark, was changed after the swap"), "\(recover.all)")
        }
        #expect(recover.all.contains("nothing is left for `ferry recover`") && !recover.all.contains("once the instances are reachable")
                && !recover.all.contains("restored pg/"), "\(how): \(recover.all)")
        #expect(try pg.sql(project, a, "postgres", oid) == targetOid, "the target is left where it is")
        #expect(try pg.sql(project, a, "\(tag)_a", "SELECT count(*) FROM t;") == "2000\n", "it holds the run's data")
        if how != "unmarked" { #expect(try pg.sql(project, a, checkpoint, "SELECT v FROM mine;") == "the user's\n", "the user's database is left as it is") }
        #expect(try pg.databases(project, a, like: "\(tag)%") == databases, "nothing dropped, renamed or made")
        #expect(try project.run("recover").all.contains("Nothing to recover"))
        #expect(!(try project.run("plan")).all.contains("RunInterrupted"))
    }

    /// (b) The checkpoint dropped after `ferry recover` began the swap's undo (journaled
    /// `undoBegun`) and before its renames.
    @Test func aCheckpointDroppedWhileRecoverRunsEndsTheRecoveryLeavingTheTarget() throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "pw" + UUID().uuidString.prefix(6).lowercased()
        defer { writes.dropAll(project, a, tag: tag) }
        let checkpoint = try killedAfterSwap(project, a, tag: tag)
        let log = project.root + "/recover.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        project.environment["FERRY_TEST_STOP_AT"] = "after-undoBegun#1"
        let recover = try project.start(["recover"], stdout: FileHandle(forWritingAtPath: log))
        project.environment["FERRY_TEST_STOP_AT"] = nil
        defer { if recover.isRunning { kill(recover.processIdentifier, SIGKILL); kill(recover.processIdentifier, SIGCONT) } }
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, !LockTimeoutTests.isStopped(recover.processIdentifier), recover.isRunning { Thread.sleep(forTimeInterval: 0.05) }
        #expect(LockTimeoutTests.isStopped(recover.processIdentifier), "recover stops after its undoBegun: \(writes.output(log))")
        try pg.sql(project, a, "postgres", "DROP DATABASE \"\(checkpoint)\";")
        let targetOid = try pg.sql(project, a, "postgres", "SELECT oid FROM pg_database WHERE datname = '\(tag)_a';")
        kill(recover.processIdentifier, SIGCONT)
        recover.waitUntilExit()
        let text = writes.output(log)
        #expect(recover.terminationStatus == 4, "\(text)")
        #expect(text.contains("pg/\(tag)_a: the checkpoint \(checkpoint) of \(tag)_a is gone: it was dropped after the swap, by someone else, so the rollback left it as it is"), "\(text)")
        #expect(text.contains("nothing is left for `ferry recover`"), "\(text)")
        #expect(!text.contains("SQLSTATE") && !text.contains("Recovery is incomplete") && !text.contains("once the instances are reachable"), "\(text)")
        #expect(try pg.sql(project, a, "postgres", "SELECT oid FROM pg_database WHERE datname = '\(tag)_a';") == targetOid, "the target is left where it is")
        #expect(try project.run("recover").all.contains("Nothing to recover"))
    }

    /// (c) The target and its checkpoint both dropped after the swap: the message says the target
    /// is gone too (never that it holds the run's data), nothing is made under its name, and
    /// `ferry status` says the same.
    @Test func aTargetDroppedWithItsCheckpointIsSaidToBeGone() throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "pt" + UUID().uuidString.prefix(6).lowercased()
        defer { writes.dropAll(project, a, tag: tag) }
        let checkpoint = try killedAfterSwap(project, a, tag: tag)
        try pg.sql(project, a, "postgres", "DROP DATABASE \"\(checkpoint)\"; DROP DATABASE \"\(tag)_a\" WITH (FORCE);")
        let recover = try project.run("recover")
        #expect(recover.code == 4, "\(recover.all)")
        #expect(recover.all.contains("the checkpoint \(checkpoint) of \(tag)_a is gone") && recover.all.contains("left it as it is: \(tag)_a is gone too"), "\(recover.all)")
        #expect(!recover.all.contains("holds the run's data") && !recover.all.contains("restored pg/"), "\(recover.all)")
        #expect(try pg.databases(project, a, like: "\(tag)_a") == "", "nothing was made under the target's name")
        let runID = try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs").first { $0.hasPrefix("20") })
        let status = try project.run("status", runID)
        #expect(status.all.contains("pg/\(tag)_a: gone (dropped or renamed after the swap)") && !status.all.contains("\(tag)_a: holds the run's data"), "\(status.all)")
        #expect(try project.run("recover").all.contains("Nothing to recover"))
    }

    /// (d) `ferry rollback RUN` whose checkpoint was dropped (or dropped and made again by the
    /// user): refused before any change, with a hint about the gone checkpoint, not sessions.
    @Test(arguments: [false, true])
    func aRollbackWhoseCheckpointIsGoneSaysWhatThatMeans(remade: Bool) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "pd" + UUID().uuidString.prefix(6).lowercased()
        defer { writes.dropAll(project, a, tag: tag) }
        try writes.failingSecondImport(project, a, tag: tag)
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "pg": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
              "imports": { "ia": { "into": "pg", "database": "\(tag)_a", "from": "data/a.sql", "onExisting": "replace", "owner": "ferry_plain" } } }
            """)
        let runID = try CheckpointGoneRollbackTests().committedRun(project)
        let checkpoint = try pg.databases(project, a, like: "\(tag)_a__ferry_c_%").trimmingCharacters(in: .whitespacesAndNewlines)
        try pg.sql(project, a, "postgres", "DROP DATABASE \"\(checkpoint)\";" + (remade ? " CREATE DATABASE \"\(checkpoint)\";" : ""))
        let databases = try pg.databases(project, a, like: "\(tag)%")
        let refused = try project.run("rollback", runID)
        #expect(refused.code == 1 && refused.all.contains("WrongStatus") && refused.all.contains("cannot be rolled back now; nothing was changed"), "\(refused.all)")
        #expect(refused.all.contains("the checkpoint \(checkpoint) of \(tag)_a is gone"), "\(refused.all)")
        #expect(refused.all.contains("a checkpoint that is gone cannot be restored by Ferry"), "\(refused.all)")
        #expect(!refused.all.contains("terminateSessions") && !refused.all.contains("session"), "\(refused.all)")
        #expect(try pg.databases(project, a, like: "\(tag)%") == databases, "nothing changed")
        #expect(!(try project.run("plan")).all.contains("RunInterrupted"), "nothing pending")
    }
}
