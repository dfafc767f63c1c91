import CSQLite
import Foundation
import Testing

/// Round-11 fresh tester F8, F3 and F6 (SQLite): files of the user's at names of a run (its
/// checkpoint's, its shadow's, its shadow's `-wal`/`-shm`/`-journal`) are never taken for the
/// run's, never removed, and never announced as what a database held; what is said is checked.
@Suite(.serialized) struct SQLiteNamesTakenTests {
    let sqlite = SQLiteImportCLITests()

    /// What a user puts at a name.
    enum Thing: String, CaseIterable {
        case file, symlinkToTarget, symlinkElsewhere, hardLink, directory
    }

    /// `var/a/app.db` holding `keep`, and a plan replacing it from `data/new.sql`.
    func setUp(_ project: Project) throws {
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try sqlite.exec(project.root + "/var/a/app.db", "CREATE TABLE keep(x); INSERT INTO keep VALUES ('precious');")
        try project.write("plans/data/new.sql", "CREATE TABLE imported(x);\nINSERT INTO imported VALUES (1);\n")
        try project.write("plans/main.json", sqlite.plan(from: "data/new.sql"))
    }

    func runID(_ project: Project) throws -> String {
        try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs").sorted().last)
    }

    /// `lstat`'s device and inode of `path` under the project (nil: nothing there).
    func inode(_ project: Project, _ path: String) -> String? {
        var info = stat()
        guard lstat(project.root + "/" + path, &info) == 0 else { return nil }
        return "\(info.st_dev):\(info.st_ino)"
    }

    /// Makes `thing` at `path`; returns a check that it is still there, the same (inode, bytes).
    func put(_ thing: Thing, at path: String, in project: Project) throws -> () -> Bool {
        let full = project.root + "/" + path
        switch thing {
        case .file:
            try Data("USERCK".utf8).write(to: URL(fileURLWithPath: full))
        case .symlinkToTarget:
            try FileManager.default.createSymbolicLink(atPath: full, withDestinationPath: project.root + "/var/a/app.db")
        case .symlinkElsewhere:
            try Data("elsewhere".utf8).write(to: URL(fileURLWithPath: project.root + "/var/elsewhere"))
            try FileManager.default.createSymbolicLink(atPath: full, withDestinationPath: project.root + "/var/elsewhere")
        case .hardLink:
            try Data("linked".utf8).write(to: URL(fileURLWithPath: project.root + "/var/linked"))
            #expect(link(project.root + "/var/linked", full) == 0)
        case .directory:
            try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: false)
            try Data("precious".utf8).write(to: URL(fileURLWithPath: full + "/precious"))
        }
        let identity = inode(project, path)
        let bytes = thing == .directory ? project.fileBytes(path + "/precious") : thing == .symlinkToTarget ? nil : project.fileBytes(path)
        return { [self] in
            inode(project, path) == identity && identity != nil
                && (thing == .directory ? project.fileBytes(path + "/precious") : thing == .symlinkToTarget ? nil : project.fileBytes(path)) == bytes
        }
    }

    /// Runs `ferry ARGS` stopped at `point`, lets `change` act, then lets it go on; its output.
    func stopped(_ project: Project, _ args: [String], at point: String, _ change: () throws -> Void) throws -> (code: Int32, text: String) {
        let output = project.root + "/run-\(UUID().uuidString.prefix(6)).out"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: output))
        project.environment["FERRY_TEST_STOP_AT"] = point
        let process = try project.start(args, stdout: handle)
        project.environment["FERRY_TEST_STOP_AT"] = nil
        defer { if process.isRunning { process.signal(SIGKILL); process.signal(SIGCONT) } }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !LockTimeoutTests.isStopped(process.processIdentifier), process.isRunning { Thread.sleep(forTimeInterval: 0.02) }
        #expect(LockTimeoutTests.isStopped(process.processIdentifier), "stops at \(point)")
        try change()
        process.signal(SIGCONT)
        process.waitUntilExit()
        try handle.close()
        return (process.terminationStatus, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    /// F8: a user's file (link, directory) made at the run's checkpoint name during the build.
    /// The swap stops before it moves anything (`OperationDenied.WrongStatus`, not
    /// `ImportError`); the rollback removes the run's shadow, says the target was not touched,
    /// leaves the user's thing (named in a note), and never calls the target the run's data;
    /// nothing is left for `ferry recover`, `ferry status` or a plan to announce.
    @Test(arguments: Thing.allCases)
    func aUsersFileAtTheCheckpointNameDuringTheBuildIsLeftAndTheTargetUntouched(_ thing: Thing) throws {
        let project = try Project()
        try setUp(project)
        let target = inode(project, "var/a/app.db")
        let targetBytes = project.fileBytes("var/a/app.db")
        var unchanged: () -> Bool = { false }
        var checkpoint = "", shadow = ""
        let (code, text) = try stopped(project, ["apply", "--auto-approve"], at: "after-shadowCreated#1") {
            let run = try runID(project)
            checkpoint = "var/a/.app.ferry-ckpt-\(run).db"
            shadow = "var/a/.app.ferry-shadow-\(run).db"
            unchanged = try put(thing, at: checkpoint, in: project)
        }
        #expect(code == 3, "\(text)")
        #expect(text.contains("OperationDenied.WrongStatus") && !text.contains("ImportError"), "\(text)")
        #expect(text.contains((checkpoint as NSString).lastPathComponent) && text.contains("a/app was not touched: its swap stopped before it moved anything"), "\(text)")
        #expect(!text.contains("restored a/app"), "\(text)")
        #expect(!text.contains("holds the run's data") && !text.contains("what it held before the run is") && !text.contains("as they were"), "\(text)")
        #expect(unchanged(), "the user's \(thing) is there, unchanged")
        #expect(inode(project, "var/a/app.db") == target && project.fileBytes("var/a/app.db") == targetBytes, "the target was not touched")
        #expect(try project.query("var/a/app.db", "SELECT x FROM keep") == [["precious"]])
        #expect(!project.exists(shadow) && inode(project, shadow) == nil, "the run's shadow is gone")
        #expect(project.leftovers(in: "var/a") == [(checkpoint as NSString).lastPathComponent], "\(project.leftovers(in: "var/a"))")
        let recover = try project.run("recover")
        #expect(recover.all.contains("Nothing to recover"), "\(recover.all)")
        let status = try project.run("status", try runID(project)).all
        #expect(!status.contains("Left as they are") && !status.contains("holds the run's data"), "\(status)")
        let plan = try project.run("plan").all
        #expect(!plan.contains("was left as it is") && !plan.contains(".app.ferry-ckpt"), "\(plan)")
        #expect(unchanged())
    }

    /// F8 through `ferry recover`: the run killed right after journaling its swap, a user's
    /// file at the checkpoint's name. The swap never moved anything (the shadow is still at its
    /// name, the identity journaled with `swapBegun`): the target is untouched and not "kept",
    /// the shadow goes, the file stays (named), never "as they were".
    @Test(arguments: [Thing.file, .symlinkToTarget, .hardLink, .directory])
    func aKilledSwapWithAUsersFileAtTheCheckpointNameIsRecoveredTruthfully(_ thing: Thing) throws {
        let project = try Project()
        try setUp(project)
        let target = inode(project, "var/a/app.db")
        try project.killed(["apply", "--auto-approve"], at: "after-swapBegun#1")
        let run = try runID(project)
        let checkpoint = "var/a/.app.ferry-ckpt-\(run).db", shadow = "var/a/.app.ferry-shadow-\(run).db"
        let unchanged = try put(thing, at: checkpoint, in: project)
        let recovered = try project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        #expect(recovered.all.contains("a/app was not touched: its swap stopped before it moved anything") && recovered.all.contains((checkpoint as NSString).lastPathComponent), "\(recovered.all)")
        #expect(!recovered.all.contains("restored a/app"), "\(recovered.all)")
        #expect(!recovered.all.contains("written after") && !recovered.all.contains("as they were"), "\(recovered.all)")
        #expect(unchanged() && inode(project, "var/a/app.db") == target)
        #expect(try project.query("var/a/app.db", "SELECT x FROM keep") == [["precious"]])
        #expect(!project.exists(shadow))
        let status = try project.run("status", run).all
        #expect(!status.contains("Left as they are"), "\(status)")
        #expect(!(try project.run("plan").all.contains("was left as it is")))
    }

    /// F8's second part: a user's file at a committed run's shadow name before `ferry rollback
    /// RUN`. The target is restored, the file kept and named as not the run's, and no plan
    /// announces it as what the target held (`--discard-later-writes`).
    @Test(arguments: [Thing.file, .symlinkElsewhere, .hardLink, .directory])
    func aUsersFileAtTheShadowNameBeforeARollbackIsNeverAnnounced(_ thing: Thing) throws {
        let project = try Project()
        try setUp(project)
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let run = try runID(project)
        let shadow = "var/a/.app.ferry-shadow-\(run).db"
        let unchanged = try put(thing, at: shadow, in: project)
        let rolled = try project.run("rollback", run)
        #expect(rolled.code == 0, "\(rolled.all)")
        #expect(rolled.all.contains((shadow as NSString).lastPathComponent) && rolled.all.contains("not the run's"), "\(rolled.all)")
        #expect(!rolled.all.contains("is kept as"), "\(rolled.all)")
        #expect(try project.query("var/a/app.db", "SELECT x FROM keep") == [["precious"]])
        #expect(unchanged())
        let plan = try project.run("plan").all
        #expect(!plan.contains("discard-later-writes") && !plan.contains("holds what"), "\(plan)")
        let status = try project.run("status", try runID(project)).all
        #expect(!status.contains("kept as"), "\(status)")
    }

    /// What `ferry rollback RUN --force` keeps under the shadow's name (the target with a write
    /// made since) is announced by plans and status while that name holds that very file; once
    /// the user put another file there, never (journaled identity, round-11 F8).
    @Test func whatAForcedRollbackKeptIsAnnouncedOnlyWhileItIsThere() throws {
        let project = try Project()
        try setUp(project)
        #expect(try project.run("apply", "--auto-approve").code == 0)
        let run = try runID(project)
        let shadow = "var/a/.app.ferry-shadow-\(run).db"
        try sqlite.exec(project.root + "/var/a/app.db", "INSERT INTO imported VALUES (42);")
        let forced = try project.run("rollback", run, "--force")
        #expect(forced.code == 0, "\(forced.all)")
        #expect(try project.query(shadow, "SELECT x FROM imported ORDER BY x") == [["1"], ["42"]], "kept under the shadow's name")
        let rollbackRun = try runID(project)
        #expect(try project.run("plan").all.contains(".app.ferry-shadow-\(run)"), "announced while it is there")
        #expect(try project.run("status", rollbackRun).all.contains("is kept as .app.ferry-shadow-\(run)"))
        try FileManager.default.removeItem(atPath: project.root + "/" + shadow)
        try Data("USERDATA".utf8).write(to: URL(fileURLWithPath: project.root + "/" + shadow))
        let plan = try project.run("plan").all
        #expect(!plan.contains(".app.ferry-shadow-\(run)"), "\(plan)")
        let status = try project.run("status", rollbackRun).all
        #expect(!status.contains("is kept as .app.ferry-shadow") && status.contains("now is another one"), "\(status)")
    }

    /// The same with `--force` over a write made since the commit: the written target cannot be
    /// kept under the shadow's name (someone else's file is there), so nothing is restored over
    /// it; the write, the checkpoint and the user's file all stay.
    @Test func aForcedRollbackDoesNotDiscardWritesWhenTheShadowNameIsTaken() throws {
        let project = try Project()
        try setUp(project)
        #expect(try project.run("apply", "--auto-approve").code == 0)
        let run = try runID(project)
        let shadow = "var/a/.app.ferry-shadow-\(run).db"
        try sqlite.exec(project.root + "/var/a/app.db", "INSERT INTO imported VALUES (42);")
        let unchanged = try put(.file, at: shadow, in: project)
        let forced = try project.run("rollback", run, "--force")
        #expect(forced.code == 4, "\(forced.all)")
        #expect(forced.all.contains((shadow as NSString).lastPathComponent) && forced.all.contains("nothing was restored"), "\(forced.all)")
        #expect(try project.query("var/a/app.db", "SELECT x FROM imported ORDER BY x") == [["1"], ["42"]], "the write stays")
        #expect(try project.query("var/a/.app.ferry-ckpt-\(run).db", "SELECT x FROM keep") == [["precious"]])
        #expect(unchanged())
    }

    /// F3: a killed run's shadow with the user's things at its companion names. `ferry recover`
    /// removes the run's shadow and leaves each of them (named, "left as it is"), never "as they
    /// were"; a directory is no `CopyError`.
    @Test(arguments: ["-wal", "-journal", "-shm"], [Thing.file, .symlinkElsewhere, .hardLink, .directory])
    func aUsersFileAtAShadowsCompanionNameIsLeft(_ suffix: String, _ thing: Thing) throws {
        let project = try Project()
        try setUp(project)
        try project.killed(["apply", "--auto-approve"], at: "after-shadowCreated#1")
        let run = try runID(project)
        let shadow = "var/a/.app.ferry-shadow-\(run).db"
        #expect(project.exists(shadow))
        let unchanged = try put(thing, at: shadow + suffix, in: project)
        let recovered = try project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        #expect(recovered.all.contains((shadow as NSString).lastPathComponent + suffix) && recovered.all.contains("left as it is"), "\(recovered.all)")
        #expect(!recovered.all.contains("as they were") && !recovered.all.contains("CopyError"), "\(recovered.all)")
        #expect(unchanged(), "the user's \(thing) at \(suffix) is there, unchanged")
        #expect(!project.exists(shadow), "the run's own shadow went")
        #expect(try project.query("var/a/app.db", "SELECT x FROM keep") == [["precious"]])
        #expect(try project.run("recover").all.contains("Nothing to recover"))
    }

    /// F3 after the build (the shadow holds the import's pages, so a `-journal` with a non-zero
    /// first byte would be a hot journal to SQLite): `ferry recover` opens nothing, removes the
    /// run's shadow and leaves the user's files at each companion name.
    @Test(arguments: ["-wal", "-journal", "-shm"])
    func aUsersFileBesideABuiltShadowIsLeftByRecover(_ suffix: String) throws {
        let project = try Project()
        try setUp(project)
        try project.killed(["apply", "--auto-approve"], at: "after-stepDone#1")
        let shadow = "var/a/.app.ferry-shadow-\(try runID(project)).db"
        #expect((project.fileBytes(shadow)?.count ?? 0) > 0, "the build wrote the shadow")
        let unchanged = try put(.file, at: shadow + suffix, in: project)
        let recovered = try project.run("recover")
        #expect(recovered.code == 0 && recovered.all.contains("left as it is") && !recovered.all.contains("as they were"), "\(recovered.all)")
        #expect(unchanged() && !project.exists(shadow))
        #expect(try project.query("var/a/app.db", "SELECT x FROM keep") == [["precious"]])
    }

    /// F3 during a run: a user's `-journal` beside the shadow before the swap is never opened as
    /// the shadow's hot journal (SQLite would play it into the shadow and delete it): the swap
    /// stops, the file stays, the target is untouched.
    /// Put there after the build (before the verify opens the shadow) and after the verify
    /// (before the swap settles it).
    @Test(arguments: ["after-stepDone#1", "after-stepDone#2"])
    func aUsersJournalBesideTheShadowStopsTheSwapAndStays(at point: String) throws {
        let project = try Project()
        try setUp(project)
        let target = inode(project, "var/a/app.db")
        var unchanged: () -> Bool = { false }
        let (code, text) = try stopped(project, ["apply", "--auto-approve"], at: point) {
            let run = try runID(project)
            unchanged = try put(.file, at: "var/a/.app.ferry-shadow-\(run).db-journal", in: project)
        }
        #expect(code == 3, "\(text)")
        #expect(text.contains("-journal") && text.contains("left as it is") && !text.contains("as they were"), "\(text)")
        #expect(text.contains("OperationDenied.WrongStatus") && text.contains("-journal, at a companion name of the run's shadow, is not the run's")
                && !text.contains("VerifyFailed"), "\(text)")
        #expect(unchanged() && inode(project, "var/a/app.db") == target)
        #expect(try project.query("var/a/app.db", "SELECT x FROM keep") == [["precious"]])
    }

    /// F6: a checkpoint replaced by a user's file after a killed run's swap. The recover keeps
    /// the target; `ferry status` never says it was written, nor that the user's file holds what
    /// it held before the run.
    @Test func statusOfATargetKeptForAReplacedCheckpointSaysWhatIsTrue() throws {
        let project = try Project()
        try setUp(project)
        try project.killed(["apply", "--auto-approve"], at: "after-swapDone#1")
        let run = try runID(project)
        let checkpoint = "var/a/.app.ferry-ckpt-\(run).db"
        try FileManager.default.removeItem(atPath: project.root + "/" + checkpoint)
        try Data("USERCK".utf8).write(to: URL(fileURLWithPath: project.root + "/" + checkpoint))
        let recovered = try project.run("recover")
        #expect(recovered.code == 4, "\(recovered.all)")
        #expect(project.fileBytes(checkpoint) == Data("USERCK".utf8))
        let status = try project.run("status", run).all
        #expect(status.contains("Left as they are") && status.contains("not the file the swap kept"), "\(status)")
        #expect(!status.contains("written after the run swapped them in") && !status.contains("what it held before the run is .app.ferry-ckpt")
                && !status.contains("holds the run's data and the later writes") && !status.contains("written after the swap"), "\(status)")
    }

    /// A target kept because it was written after its swap, whose checkpoint the user then
    /// replaced with a file of their own: status goes by the checkpoint's journaled identity and
    /// never names that file as what the target held; plans do not announce it.
    @Test func statusOfAKeptTargetWhoseCheckpointWasReplacedSinceGoesByIdentity() throws {
        let project = try Project()
        try setUp(project)
        try project.killed(["apply", "--auto-approve"], at: "after-swapDone#1")
        let run = try runID(project)
        try sqlite.exec(project.root + "/var/a/app.db", "INSERT INTO imported VALUES (42);")
        let recovered = try project.run("recover")
        #expect(recovered.code == 4 && recovered.all.contains("written after"), "\(recovered.all)")
        let checkpoint = "var/a/.app.ferry-ckpt-\(run).db"
        let before = try project.run("status", run).all
        #expect(before.contains("what it held before the run is .app.ferry-ckpt-\(run)"), "\(before)")
        try FileManager.default.removeItem(atPath: project.root + "/" + checkpoint)
        try Data("USERCK".utf8).write(to: URL(fileURLWithPath: project.root + "/" + checkpoint))
        let status = try project.run("status", run).all
        #expect(!status.contains("what it held before the run is .app.ferry-ckpt") && status.contains("what it held before the run was"), "\(status)")
        #expect(status.contains("not the file the swap kept"), "\(status)")
        #expect(!(try project.run("plan").all.contains("still beside it")))
        #expect(project.fileBytes(checkpoint) == Data("USERCK".utf8))
    }

    /// F6: `ferry recover --keep-later-writes` after a `ferry rollback RUN` stopped by a dropped
    /// checkpoint: the target was not written, so it is not counted as "written since". Two
    /// targets: the rollback stops once it restored the first, and the other's checkpoint is
    /// dropped then (before the rollback begins, it is refused at once).
    @Test func keepLaterWritesAfterADroppedCheckpointSaysWhy() throws {
        let project = try Project()
        try setUp(project)
        try sqlite.exec(project.root + "/var/a/other.db", "CREATE TABLE keep(x); INSERT INTO keep VALUES ('other');")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
              "imports": { "app": { "into": "a", "database": "app", "from": "data/new.sql", "onExisting": "replace" },
                           "other": { "into": "a", "database": "other", "from": "data/new.sql", "onExisting": "replace" } } }
            """)
        #expect(try project.run("apply", "--auto-approve").code == 0)
        let run = try runID(project)
        var dropped: [String] = []
        let rolled = try stopped(project, ["rollback", run], at: "after-stepDone#1") {
            for name in ["app", "other"] where project.exists("var/a/.\(name).ferry-ckpt-\(run).db") {
                try FileManager.default.removeItem(atPath: project.root + "/var/a/.\(name).ferry-ckpt-\(run).db")
                dropped.append(name)
            }
        }
        #expect(dropped.count == 1 && rolled.code == 4, "\(dropped) \(rolled.text)")
        let kept = try project.run("recover", "--keep-later-writes")
        #expect(kept.code == 0, "\(kept.all)")
        #expect(kept.all.contains("checkpoint is gone") && !kept.all.contains("written since")
                && !kept.all.contains("with what was written into it"), "\(kept.all)")
        let status = try project.run("status", run).all
        #expect(!status.contains("written after the run swapped them in") && !status.contains("later writes;"), "\(status)")
    }

    /// Fresh tester round 12, G4: `ferry status RUN` of a committed run whose `ferry rollback
    /// RUN` stopped before its end names that pending rollback (it said only "committed" and
    /// listed its checkpoints "for `ferry rollback`"); once `ferry recover` finished it, the
    /// line is gone.
    @Test func statusOfARunNamesItsPendingRollback() throws {
        let project = try Project()
        try setUp(project)
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let run = try runID(project)
        try project.killed(["rollback", run], at: "after-begin#1")
        let rollback = try runID(project)
        #expect(rollback != run)
        let status = try project.run("status", run)
        #expect(status.all.contains("Rollback pending: rollback run \(rollback) of this run did not finish; `ferry recover` goes on with it"), "\(status.all)")
        let recovered = try project.run("recover")
        #expect(recovered.code == 0 && recovered.all.contains("restored a/app"), "\(recovered.all)")
        #expect(!(try project.run("status", run)).all.contains("Rollback pending"))
    }
}
