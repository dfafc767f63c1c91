import Foundation
import Testing

/// Issue 14, round 9 (F1's last part): `import.slow` killed right after `shadowCreated`, the
/// shadow removed and a user's file made at `.slow.ferry-shadow-RUN.db`: `ferry recover`
/// deleted it and said "as they were before". An SQLite shadow carries no mark: Ferry removes
/// the file at a shadow's name only while it is the file the run made (made exclusively, its
/// device, inode and birth time journaled right after). Anything else there is left as it is,
/// named, `OperationDenied.WrongStatus`, exit 4, never "as they were"; once it is moved away
/// `ferry recover` finishes. Every path that removes a shadow: `ferry recover` of a killed
/// build, of a kill between the create and its record, of a commit's clean-up, and a failed
/// apply's own rollback.
@Suite(.serialized) struct ShadowIdentityRecoverTests {
    let sqlite = SQLiteImportCLITests()

    enum Replacement: String, CaseIterable { case removedAndMadeAgain, movedOver, symbolicLink }

    /// `var/a/app.db` holding `keep`, and a plan replacing it from `data/new.sql`.
    func setUp(_ project: Project, sql: String = "CREATE TABLE imported(x);\nINSERT INTO imported VALUES (1);\n") throws {
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try sqlite.exec(project.root + "/var/a/app.db", "CREATE TABLE keep(x); INSERT INTO keep VALUES ('precious');")
        try project.write("plans/data/new.sql", sql)
        try project.write("plans/main.json", sqlite.plan(from: "data/new.sql"))
    }

    /// The run's shadow name (`var/a/.app.ferry-shadow-RUN.db`, relative to the project).
    func shadowName(_ project: Project) throws -> String {
        let runs = try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs")
        let run = try #require(runs.sorted().last)
        return "var/a/.app.ferry-shadow-\(run).db"
    }

    /// Puts a user's file (a database with a table `mine`) at `path` in `replacement`'s way.
    func replace(_ project: Project, _ path: String, _ replacement: Replacement) throws {
        let full = project.root + "/" + path, mine = project.root + "/var/mine.db"
        try? FileManager.default.removeItem(atPath: mine)
        try sqlite.exec(mine, "CREATE TABLE mine(x); INSERT INTO mine VALUES ('user-made');")
        switch replacement {
        case .removedAndMadeAgain:
            try? FileManager.default.removeItem(atPath: full)
            try sqlite.exec(full, "CREATE TABLE mine(x); INSERT INTO mine VALUES ('user-made');")
        case .movedOver:
            #expect(rename(mine, full) == 0)
        case .symbolicLink:
            try? FileManager.default.removeItem(atPath: full)
            try FileManager.default.createSymbolicLink(atPath: full, withDestinationPath: mine)
        }
    }

    /// `ferry recover` leaves the user's file at `shadow` (exit 4, named, never "as they
    /// were"), the run stays pending; once the file is moved away it finishes (exit 0).
    func expectLeftThenFinished(_ project: Project, _ shadow: String, restores: Bool = true) throws {
        let bytes = project.fileBytes(shadow)
        let kind = try FileManager.default.attributesOfItem(atPath: project.root + "/" + shadow)[.type] as? FileAttributeType
        let refused = try project.run("recover")
        #expect(refused.code == 4, "\(refused.all)")
        #expect(refused.all.contains("OperationDenied.WrongStatus") && refused.all.contains((shadow as NSString).lastPathComponent)
                && refused.all.contains("left as it is"), "\(refused.all)")
        #expect(!refused.all.contains("as they were") && !refused.all.contains("once the instances are reachable"), "\(refused.all)")
        #expect(refused.all.contains("mend what the errors above name, then run `ferry recover` again"), "\(refused.all)")
        #expect(project.fileBytes(shadow) == bytes, "the user's file is there, unchanged")
        #expect(try FileManager.default.attributesOfItem(atPath: project.root + "/" + shadow)[.type] as? FileAttributeType == kind)
        #expect(try project.query(shadow, "SELECT x FROM mine") == [["user-made"]])
        if restores { #expect(try project.query("var/a/app.db", "SELECT x FROM keep") == [["precious"]], "the target is restored") }
        #expect(try project.run("plan").all.contains("RunInterrupted"), "the run stays pending")
        #expect(try project.run("recover").code == 4, "again: the same")
        // Moved away by its owner: `ferry recover` finishes.
        #expect(rename(project.root + "/" + shadow, project.root + "/var/kept-by-user.db") == 0)
        let finished = try project.run("recover")
        #expect(finished.code == 0 && finished.all.contains("as they were"), "\(finished.all)")
        #expect(try project.query("var/kept-by-user.db", "SELECT x FROM mine") == [["user-made"]])
        #expect(try project.query("var/a/app.db", "SELECT x FROM keep") == [["precious"]])
        #expect(project.leftovers(in: "var/a") == [], "\(project.leftovers(in: "var/a"))")
    }

    /// The tester's case (killed right after `shadowCreated`) and a kill once the build is done
    /// (the shadow holds the import's rows), each with the shadow replaced after the kill.
    @Test(arguments: Replacement.allCases, ["after-shadowCreated#1", "after-stepDone#1"])
    func aUsersFileAtAKilledRunsShadowNameIsLeft(_ replacement: Replacement, killedAt point: String) throws {
        let project = try Project()
        try setUp(project)
        try project.killed(["apply", "--auto-approve"], at: point)
        let shadow = try shadowName(project)
        #expect(project.exists(shadow), "the killed run left its shadow")
        try replace(project, shadow, replacement)
        try expectLeftThenFinished(project, shadow)
    }

    /// The normal path: the run's own shadow, killed at the same points, goes (exit 0).
    @Test(arguments: ["after-shadowCreated#1", "after-stepDone#1", "change:shadow.created"])
    func theRunsOwnShadowIsRemoved(killedAt point: String) throws {
        let project = try Project()
        try setUp(project)
        try project.killed(["apply", "--auto-approve"], at: point)
        let shadow = try shadowName(project)
        #expect(project.exists(shadow), "the killed run left its shadow")
        let recovered = try project.run("recover")
        #expect(recovered.code == 0 && recovered.all.contains("as they were"), "\(recovered.all)")
        #expect(!project.exists(shadow) && project.leftovers(in: "var/a") == [], "\(project.leftovers(in: "var/a"))")
        #expect(try project.query("var/a/app.db", "SELECT x FROM keep") == [["precious"]])
    }

    /// A kill between the exclusive create and its record (`change:shadow.created`): no identity
    /// is journaled; the empty file the run made goes (above), anything else there is left.
    @Test(arguments: Replacement.allCases)
    func aUsersFileAtTheNameAfterAKillBeforeTheRecordIsLeft(_ replacement: Replacement) throws {
        let project = try Project()
        try setUp(project)
        try project.killed(["apply", "--auto-approve"], at: "change:shadow.created")
        let shadow = try shadowName(project)
        #expect(project.fileBytes(shadow) == Data(), "the run made an empty file")
        #expect(project.read(try journalPath(project))?.contains("\"shadowCreated\"") == false, "killed before the record")
        try replace(project, shadow, replacement)
        try expectLeftThenFinished(project, shadow)
    }

    /// A committed run killed before its clean-up: the swap moved the shadow away, and a file
    /// made at its name since is the user's (the clean-up's drop of the swapped shadow).
    @Test(arguments: Replacement.allCases)
    func aUsersFileAtACommittedRunsShadowNameIsLeftByTheCleanUp(_ replacement: Replacement) throws {
        let project = try Project()
        try setUp(project)
        try project.killed(["apply", "--auto-approve"], at: "after-committed#1")
        let shadow = try shadowName(project)
        #expect(!project.exists(shadow), "the swap moved the shadow in")
        try replace(project, shadow, replacement)
        let bytes = project.fileBytes(shadow)
        let refused = try project.run("recover")
        #expect(refused.code == 4 && refused.all.contains((shadow as NSString).lastPathComponent) && refused.all.contains("left as it is"), "\(refused.all)")
        #expect(!refused.all.contains("as they were") && !refused.all.contains("clean-up finished"), "\(refused.all)")
        #expect(project.fileBytes(shadow) == bytes)
        #expect(try project.query("var/a/app.db", "SELECT x FROM imported") == [["1"]], "the commit stands")
        #expect(rename(project.root + "/" + shadow, project.root + "/var/kept-by-user.db") == 0)
        let finished = try project.run("recover")
        #expect(finished.code == 0, "\(finished.all)")
        #expect(try project.query("var/kept-by-user.db", "SELECT x FROM mine") == [["user-made"]])
    }

    /// An import of a new database killed right after its swap: the swap freed the shadow's
    /// name, and a user's file is put there. The undo cannot move the new database back to
    /// that name: it says so (never "restored ... removed"), leaves both, exit 4.
    @Test(arguments: Replacement.allCases)
    func aNewTargetsUndoDoesNotSayRestoredWhenAUsersFileHoldsTheShadowsName(_ replacement: Replacement) throws {
        let project = try Project()
        try setUp(project)
        try project.write("plans/main.json", sqlite.plan(from: "data/new.sql").replacingOccurrences(of: "\"database\": \"app\"", with: "\"database\": \"fresh\""))
        try project.killed(["apply", "--auto-approve"], at: "after-swapDone#1")
        let shadow = try shadowName(project).replacingOccurrences(of: "/.app.", with: "/.fresh.")
        #expect(!project.exists(shadow) && project.exists("var/a/fresh.db"), "swapped in")
        try replace(project, shadow, replacement)
        let bytes = project.fileBytes(shadow)
        let refused = try project.run("recover")
        #expect(refused.code == 4 && refused.all.contains((shadow as NSString).lastPathComponent), "\(refused.all)")
        #expect(!refused.all.contains("restored a/fresh") && !refused.all.contains("as they were"), "\(refused.all)")
        #expect(project.fileBytes(shadow) == bytes && project.exists("var/a/fresh.db"), "both left as they are")
        #expect(rename(project.root + "/" + shadow, project.root + "/var/kept-by-user.db") == 0)
        let finished = try project.run("recover")
        #expect(finished.code == 0 && finished.all.contains("restored a/fresh") && finished.all.contains("as they were"), "\(finished.all)")
        #expect(!project.exists("var/a/fresh.db") && project.leftovers(in: "var/a") == [], "\(project.leftovers(in: "var/a"))")
    }

    /// A failed apply's own rollback: the import fails at its second statement; while the
    /// process is stopped right after the failure's record, the shadow is replaced. The
    /// rollback leaves the file (exit 4, named), never "as they were".
    @Test(arguments: Replacement.allCases)
    func aFailedApplysRollbackLeavesAUsersFileAtTheShadowsName(_ replacement: Replacement) throws {
        let project = try Project()
        try setUp(project, sql: "CREATE TABLE imported(x);\nINSERT INTO nowhere VALUES (1);\n")
        let output = project.root + "/apply.out"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: output))
        project.environment["FERRY_TEST_STOP_AT"] = "after-stepFailed#1"
        let process = try project.start(["apply", "--auto-approve"], stdout: handle)
        project.environment["FERRY_TEST_STOP_AT"] = nil
        defer { if process.isRunning { process.signal(SIGKILL); process.signal(SIGCONT) } }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !LockTimeoutTests.isStopped(process.processIdentifier), process.isRunning { Thread.sleep(forTimeInterval: 0.02) }
        #expect(LockTimeoutTests.isStopped(process.processIdentifier), "the apply stops after its build failed")
        let shadow = try shadowName(project)
        try replace(project, shadow, replacement)
        let bytes = project.fileBytes(shadow)
        process.signal(SIGCONT)
        process.waitUntilExit()
        try handle.close()
        let text = project.read("apply.out") ?? ""
        #expect(process.terminationStatus == 4, "\(text)")
        #expect(text.contains((shadow as NSString).lastPathComponent) && text.contains("left as it is") && !text.contains("as they were"), "\(text)")
        #expect(project.fileBytes(shadow) == bytes, "the user's file is there, unchanged")
        #expect(try project.query("var/a/app.db", "SELECT x FROM keep") == [["precious"]])
    }

    func journalPath(_ project: Project) throws -> String {
        let runs = try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs")
        return ".ferry/runs/\(try #require(runs.sorted().last))/journal.jsonl"
    }
}
