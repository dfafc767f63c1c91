import Foundation
import Testing

/// Fresh tester w12 F2: `ferry recover` and `ferry rollback RUN` act only on the instances a run
/// wrote to. An SQLite directory that is missing or is another one (an empty mount point), or a
/// plan whose instance now names another server, is unreachable: nothing is done there, nothing
/// is reported "as they were", and once the run's instance is back the recovery finishes.
@Suite(.serialized) struct RecoverWhereTheRunWroteTests {
    let sqlite = SQLiteImportCLITests()

    /// A project whose SQLite instance `a` (`var/a`) holds `app.db` with the user's row, and a
    /// plan replacing it from a one-table file.
    func replacingApp() throws -> Project {
        let project = try Project()
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try sqlite.exec(project.root + "/var/a/app.db", "CREATE TABLE keep(x); INSERT INTO keep VALUES ('precious');")
        try project.write("plans/data/new.sql", "CREATE TABLE imported(x);\nINSERT INTO imported VALUES (1);\n")
        try project.write("plans/main.json", sqlite.plan(from: "data/new.sql"))
        return project
    }

    /// A replace killed right after its swap; `var/a` is then missing (`empty: false`) or an
    /// empty directory (`empty: true`) when `ferry recover` runs.
    @Test(arguments: [true, false]) func aDirectoryThatIsNotTheRunsIsNotRecovered(empty: Bool) throws {
        let project = try replacingApp()
        try project.killed(["apply", "--auto-approve"], at: "after-swapDone#1")
        try FileManager.default.moveItem(atPath: project.root + "/var/a", toPath: project.root + "/var/away")
        if empty { try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: false) }
        let refused = try project.run("recover")
        #expect(refused.code == 4, "\(refused.all)")
        #expect(refused.all.contains("is missing or is not the one the run wrote to") && !refused.all.contains("as they were"), "\(refused.all)")
        #expect(!refused.all.contains("restored a/app"), "\(refused.all)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: project.root + "/var").sorted() == (empty ? ["a", "away"] : ["away"]), "nothing made or removed")
        if empty { #expect(try FileManager.default.contentsOfDirectory(atPath: project.root + "/var/a").isEmpty) }
        #expect(try project.run("plan").all.contains("RunInterrupted"), "the run stays pending")
        if empty { try FileManager.default.removeItem(atPath: project.root + "/var/a") }
        try FileManager.default.moveItem(atPath: project.root + "/var/away", toPath: project.root + "/var/a")
        let recovered = try project.run("recover")
        #expect(recovered.code == 0 && recovered.all.contains("as they were"), "\(recovered.all)")
        #expect(try project.query("var/a/app.db", "SELECT x FROM keep") == [["precious"]], "the user's database is back")
        #expect(project.leftovers(in: "var/a") == [])
    }

    /// Fresh tester round 10, F4: a run that `ferry recover` rolled back in the end, after
    /// passes that failed, needs no hand: `ferry status` lists none of those failures.
    @Test func aRunRolledBackInTheEndListsNoEarlierFailures() throws {
        let project = try replacingApp()
        try project.killed(["apply", "--auto-approve"], at: "after-swapDone#1")
        let fm = FileManager.default
        try fm.moveItem(atPath: project.root + "/var/a", toPath: project.root + "/var/away")
        for _ in 0..<2 {
            let failed = try project.run("recover")
            #expect(failed.code == 4, "\(failed.all)")
        }
        let interrupted = try project.run("status")
        #expect(interrupted.all.contains("Needs a hand"), "while it is pending: \(interrupted.all)")
        try fm.moveItem(atPath: project.root + "/var/away", toPath: project.root + "/var/a")
        let recovered = try project.run("recover")
        #expect(recovered.code == 0 && recovered.all.contains("as they were"), "\(recovered.all)")
        let status = try project.run("status")
        #expect(!status.all.contains("Needs a hand") && !status.all.contains("journal record"), "\(status.all)")
    }

    /// Fresh tester round 10, F5: `--abandon` of an instance the undo can reach (the run's own
    /// directory, untouched) is refused before anything changes, and `ferry recover` then undoes
    /// the run there as usual.
    @Test func anInstanceTheUndoCanReachIsNotAbandoned() throws {
        let project = try replacingApp()
        let before = project.fileBytes("var/a/app.db")
        try project.killed(["apply", "--auto-approve"], at: "after-swapDone#1")
        let swapped = try FileManager.default.contentsOfDirectory(atPath: project.root + "/var/a").sorted()
        let refused = try project.run("recover", "--abandon", "a")
        #expect(refused.code == 1 && refused.all.contains("InvalidParameter") && refused.all.contains("is reachable"), "\(refused.all)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: project.root + "/var/a").sorted() == swapped, "nothing changed")
        #expect(try project.run("plan").all.contains("RunInterrupted"), "still pending")
        let runs = try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs")
        #expect(!runs.contains { project.read(".ferry/runs/\($0)/journal.jsonl")?.contains("\"abandoned\"") == true }, "nothing journaled")
        let recovered = try project.run("recover")
        #expect(recovered.code == 0 && recovered.all.contains("as they were"), "\(recovered.all)")
        #expect(project.fileBytes("var/a/app.db") == before, "undone on a")
    }

    /// Fresh tester w14 F4: the run's directory replaced by a copy of it after the kill (restored
    /// from a backup: another inode) is refused, and the refusal names the way out; `ferry recover
    /// --abandon a` does nothing on it, journals the abandoned steps, ends the run with exit 4
    /// naming what was left (never "as they were"), and plans work again. A name no run wrote to
    /// is refused (nothing changes).
    @Test func aDirectoryGoneForGoodIsAbandonedOnPurpose() throws {
        let project = try replacingApp()
        try project.killed(["apply", "--auto-approve"], at: "after-swapDone#1")
        let fm = FileManager.default
        // Restored from a backup: a copy made while the original still holds its inode (so the
        // copy's directory cannot reuse it), then the original is gone.
        try fm.moveItem(atPath: project.root + "/var/a", toPath: project.root + "/var/old")
        try fm.copyItem(atPath: project.root + "/var/old", toPath: project.root + "/var/a")
        try fm.removeItem(atPath: project.root + "/var/old")
        let names = try fm.contentsOfDirectory(atPath: project.root + "/var/a").sorted()
        let bytes = names.map { project.fileBytes("var/a/" + $0) }
        let refused = try project.run("recover")
        #expect(refused.code == 4 && refused.all.contains("InstanceNotFound") && refused.all.contains("ferry recover --abandon a"), "\(refused.all)")
        let typo = try project.run("recover", "--abandon", "nope")
        #expect(typo.code != 0 && typo.all.contains("InvalidParameter") && typo.all.contains("nope"), "\(typo.all)")
        #expect(try project.run("plan").all.contains("RunInterrupted"), "still pending")
        let abandoned = try project.run("recover", "--abandon", "a")
        #expect(abandoned.code == 4, "\(abandoned.all)")
        #expect(abandoned.all.contains("abandoned") && abandoned.all.contains("not as before") && !abandoned.all.contains("as they were"), "\(abandoned.all)")
        #expect(try fm.contentsOfDirectory(atPath: project.root + "/var/a").sorted() == names, "nothing made or removed in the copy")
        #expect(names.map { project.fileBytes("var/a/" + $0) } == bytes, "nothing changed in the copy")
        let runs = try fm.contentsOfDirectory(atPath: project.root + "/.ferry/runs")
        #expect(runs.contains { project.read(".ferry/runs/\($0)/journal.jsonl")?.contains("\"abandoned\"") == true }, "the journal records the abandon")
        let status = try project.run("status")
        #expect(status.all.contains("except on a (abandoned") && !status.all.contains("Needs a hand"), "\(status.all)")
        // The copy still holds the dead run's claim (copied with the directory): the plan names
        // it and the way to release it, no longer RunInterrupted.
        let claimed = try project.run("plan")
        #expect(!claimed.all.contains("RunInterrupted") && claimed.all.contains("ferry unlock --claims a"), "\(claimed.all)")
        let run = try #require(runs.first)
        #expect(try project.run("unlock", "--claims", "a", run).code == 0)
        let planned = try project.run("plan")
        #expect(planned.code == 0 && !planned.all.contains("RunInterrupted") && !planned.all.contains("error"), "\(planned.all)")
        let again = try project.run("recover")
        #expect(again.code == 0 && again.all.contains("Nothing to recover"), "\(again.all)")
    }

    /// Issue 14, round 9: the run's directory removed and a copy of it made in a directory that
    /// got the freed inode number (directories made until one does). The
    /// device and inode match the journal's; the birth time does not: refused as another
    /// directory, nothing done in the copy, never "as they were".
    @Test func aCopyInADirectoryWithTheFreedInodeIsNotTheRuns() throws {
        let project = try Project()
        let fm = FileManager.default
        try fm.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try sqlite.exec(project.root + "/var/a/app.db", "CREATE TABLE keep(x); INSERT INTO keep VALUES ('precious');")
        try project.write("plans/data/new.sql", "CREATE TABLE imported(x);\nINSERT INTO imported VALUES (1);\n")
        try project.write("plans/main.json", sqlite.plan(from: "data/new.sql"))
        try project.killed(["apply", "--auto-approve"], at: "after-swapDone#1")
        func inode(_ path: String) throws -> UInt64 { try #require(fm.attributesOfItem(atPath: project.root + "/" + path)[.systemFileNumber] as? UInt64) }
        let original = try inode("var/a")
        try fm.copyItem(atPath: project.root + "/var/a", toPath: project.root + "/var/saved")
        for name in try fm.contentsOfDirectory(atPath: project.root + "/var/a") { try fm.removeItem(atPath: project.root + "/var/a/" + name) }
        #expect(rmdir(project.root + "/var/a") == 0)
        // Directories are made (and kept) until one gets the directory's number (ext4 usually
        // gives it to the first), then renamed into place (a rename keeps it).
        var reused = false
        for n in 0..<300 {
            try fm.createDirectory(atPath: project.root + "/var/try\(n)", withIntermediateDirectories: false)
            if try inode("var/try\(n)") == original {
                try fm.moveItem(atPath: project.root + "/var/try\(n)", toPath: project.root + "/var/a")
                reused = true
                break
            }
        }
        for name in try fm.contentsOfDirectory(atPath: project.root + "/var") where name.hasPrefix("try") {
            try fm.removeItem(atPath: project.root + "/var/" + name)
        }
        // The refusal itself is checked without reuse in DirectoryIdentityTests; here it needs it.
        guard reused else { print("no directory got inode \(original) again: nothing to check"); return }
        for name in try fm.contentsOfDirectory(atPath: project.root + "/var/saved") {
            try fm.copyItem(atPath: project.root + "/var/saved/" + name, toPath: project.root + "/var/a/" + name)
        }
        let names = try fm.contentsOfDirectory(atPath: project.root + "/var/a").sorted()
        let bytes = names.map { project.fileBytes("var/a/" + $0) }
        let refused = try project.run("recover")
        #expect(refused.code == 4 && refused.all.contains("is missing or is not the one the run wrote to"), "\(refused.all)")
        #expect(!refused.all.contains("as they were") && !refused.all.contains("restored a/app"), "\(refused.all)")
        #expect(try fm.contentsOfDirectory(atPath: project.root + "/var/a").sorted() == names, "nothing made or removed in the copy")
        #expect(names.map { project.fileBytes("var/a/" + $0) } == bytes, "nothing changed in the copy")
    }

    /// The other side: the run's directory moved with `mv` (a checkout moved; same inode) and the
    /// plan naming its new path is still the run's, and `ferry recover` finishes there.
    @Test func aDirectoryMovedWithItsRunIsRecoveredWhereItIsNow() throws {
        let project = try replacingApp()
        try project.killed(["apply", "--auto-approve"], at: "after-swapDone#1")
        try FileManager.default.moveItem(atPath: project.root + "/var/a", toPath: project.root + "/var/moved")
        try project.write("plans/main.json", sqlite.plan(from: "data/new.sql").replacingOccurrences(of: "../var/a", with: "../var/moved"))
        let recovered = try project.run("recover")
        #expect(recovered.code == 0 && recovered.all.contains("as they were"), "\(recovered.all)")
        #expect(try project.query("var/moved/app.db", "SELECT x FROM keep") == [["precious"]], "the user's database is back")
        #expect(project.leftovers(in: "var/moved") == [])
    }

    /// A MariaDB replace killed during its build; the plan's instance then names server B.
    /// `ferry recover` refuses (nothing is done on B, nothing reported as before); with the URL
    /// put back it removes the run's shadow on A.
    @Test func aURLThatNowNamesAnotherServerIsNotRecovered() throws {
        let m = MySQLWritesDuringRunTests()
        let s = try m.setUp()
        defer { m.tearDown(s) }
        try m.importEveryTime(s)
        let b = try MySQLCLITests().server("FERRY_TEST_MYSQL_B")
        let (run, _) = try m.startStopped(s, at: "after-shadowCreated#1")
        m.killed(run)
        let shadows = try m.schemas(s).filter { $0.contains("__ferry_s_") }
        #expect(shadows.count == 1, "the run's shadow is on A")
        let plan = try #require(s.project.read("plans/main.json"))
        try s.project.write("plans/main.json", plan.replacingOccurrences(of: s.server.url, with: b.url))
        let refused = try s.project.run("recover")
        #expect(refused.code == 4, "\(refused.all)")
        #expect(refused.all.contains("but the run wrote to") && !refused.all.contains("as they were"), "\(refused.all)")
        #expect(try m.schemas(s).filter { $0.contains("__ferry_s_") } == shadows, "A is untouched")
        try s.project.write("plans/main.json", plan)
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0 && recovered.all.contains("as they were"), "\(recovered.all)")
        #expect(try m.schemas(s).filter { $0.contains("__ferry_s_") }.isEmpty, "the shadow is gone from A")
        #expect(try m.sql(s, "SELECT v FROM DB.t;") == "user-original\n")
    }

    /// Fresh tester round 33, F13: the account the run used is gone and the plan names another
    /// account of the same server: that is where the run wrote (the server's identity is the
    /// run's), so `ferry recover` removes the run's shadow.
    @Test func anotherAccountOfTheRunsServerRecovers() throws {
        let m = MySQLWritesDuringRunTests()
        let s = try m.setUp()
        defer { m.tearDown(s) }
        try m.importEveryTime(s)
        let other = "ferry_t_rot"
        _ = try m.sql(s, "DROP USER IF EXISTS '\(other)'@'%'; CREATE USER '\(other)'@'%' IDENTIFIED BY '\(ProcessInfo.processInfo.environment["FERRY_TEST_MYSQL_PASSWORD"] ?? "")'; GRANT ALL PRIVILEGES ON *.* TO '\(other)'@'%' WITH GRANT OPTION;")
        defer { _ = try? m.sql(s, "DROP USER IF EXISTS '\(other)'@'%';") }
        let (run, _) = try m.startStopped(s, at: "after-shadowCreated#1")
        m.killed(run)
        let shadows = try m.schemas(s).filter { $0.contains("__ferry_s_") }
        #expect(shadows.count == 1, "the run's shadow is on A")
        let plan = try #require(s.project.read("plans/main.json"))
        let rotated = plan.replacingOccurrences(of: "//\(s.server.user)@", with: "//\(other)@")
        #expect(rotated != plan)
        try s.project.write("plans/main.json", rotated)
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0 && recovered.all.contains("as they were"), "\(recovered.all)")
        #expect(try m.schemas(s).filter { $0.contains("__ferry_s_") }.isEmpty, "the shadow is gone from A")
        #expect(try m.sql(s, "SELECT v FROM DB.t;") == "user-original\n")
    }

    /// Fresh tester w14 F4 on a server: the run's server is gone for good (the plan names
    /// server B now). `ferry recover --abandon a` does nothing on A or B, ends the run (exit 4,
    /// never "as they were"), and plans work again; the run's shadow on A is left as it is.
    @Test func aServerGoneForGoodIsAbandonedOnPurpose() throws {
        let m = MySQLWritesDuringRunTests()
        let s = try m.setUp()
        defer { m.tearDown(s) }
        try m.importEveryTime(s)
        let b = try MySQLCLITests().server("FERRY_TEST_MYSQL_B")
        let (run, _) = try m.startStopped(s, at: "after-shadowCreated#1")
        m.killed(run)
        let shadows = try m.schemas(s).filter { $0.contains("__ferry_s_") }
        #expect(shadows.count == 1, "the run's shadow is on A")
        let plan = try #require(s.project.read("plans/main.json"))
        try s.project.write("plans/main.json", plan.replacingOccurrences(of: s.server.url, with: b.url))
        let onB = try MySQLCLITests().sql(s.project, b, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '%\(s.target)%' ORDER BY 1;")
        let refused = try s.project.run("recover")
        #expect(refused.code == 4 && refused.all.contains("ferry recover --abandon a"), "\(refused.all)")
        let abandoned = try s.project.run("recover", "--abandon", "a")
        #expect(abandoned.code == 4, "\(abandoned.all)")
        #expect(abandoned.all.contains("abandoned") && abandoned.all.contains("not as before") && !abandoned.all.contains("as they were"), "\(abandoned.all)")
        #expect(try m.schemas(s).filter { $0.contains("__ferry_s_") } == shadows, "A is untouched")
        #expect(try MySQLCLITests().sql(s.project, b, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '%\(s.target)%' ORDER BY 1;") == onB, "B is untouched")
        let planned = try s.project.run("plan")
        #expect(!planned.all.contains("RunInterrupted") && planned.code != 1, "\(planned.all)")
        for shadow in shadows { _ = try m.sql(s, "DROP DATABASE IF EXISTS `\(shadow)`;") }
    }

    /// Fresh tester round 26, P7: a `ferry rollback RUN` on a server, killed, the server away
    /// (the plan names server B), `ferry recover --abandon a` ends it. With the server back,
    /// plans said the target "was written after that run swapped it in", and `ferry unlock
    /// --claims` said "`ferry recover` where it ran finishes it", a recover that had nothing to
    /// do. Both say now that the rollback was abandoned there and what that left; a rollback
    /// killed after its swap back is said as restored, its target never called the run's.
    /// Killed before its restore, once its swap back was begun (round 27, Q6: "not restored"
    /// of a target that may have been renamed back), and after its swap back.
    @Test(arguments: ["after-claimsTaken#1", "after-stepStarted#1", "after-swappedBack#1"])
    func aRollbackAbandonedWhileItsServerWasAwayIsSaidSoOnceItIsBack(point: String) throws {
        let m = MySQLWritesDuringRunTests()
        let s = try m.setUp(failingSecond: false)
        defer { m.tearDown(s) }
        try m.importEveryTime(s)
        let runs = { try FileManager.default.contentsOfDirectory(atPath: s.project.root + "/.ferry/runs").sorted() }
        let applied = try s.project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let run = try #require(try runs().last)
        let (rollback, _) = try m.startStopped(s, at: point, args: ["rollback", run])
        m.killed(rollback)
        let rollbackRun = try #require(try runs().last)
        #expect(rollbackRun != run)
        let plan = try #require(s.project.read("plans/main.json"))
        let b = try MySQLCLITests().server("FERRY_TEST_MYSQL_B")
        try s.project.write("plans/main.json", plan.replacingOccurrences(of: s.server.url, with: b.url))
        let abandoned = try s.project.run("recover", "--abandon", "a")
        #expect(abandoned.code == 4 && abandoned.all.contains("abandoned") && !abandoned.all.contains("as they were"), "\(abandoned.all)")
        try s.project.write("plans/main.json", plan)
        let held = try m.sql(s, "SELECT v FROM DB.t ORDER BY id;")
        let left = try m.schemas(s)
        let restored = point == "after-swappedBack#1"
        #expect(held == (restored ? "user-original\n" : "from-file\nfrom-file\n"), "\(held)")

        let planned = try s.project.run("plan")
        #expect(!planned.all.contains("written after that run swapped it in"), "\(planned.all)")
        #expect(restored || planned.all.contains("the undo of that run was abandoned on a"), "\(planned.all)")
        let words = restored ? "restored from its checkpoint before this rollback was cut short"
            : point == "after-stepStarted#1" ? "its restore had begun when this rollback was cut short" : "not restored, left as it is"
        let status = try s.project.run("status", rollbackRun)
        #expect(status.all.contains(words), "\(status.all)")
        // Said once (round 27, Q8: under "Rollback of run" and again under "Abandoned").
        #expect(status.all.components(separatedBy: "a/\(s.target)").count == 2, "\(status.all)")
        let unlock = try s.project.run("unlock", "--claims", "a", rollbackRun)
        #expect(unlock.code == 0 && unlock.all.contains("ended by `ferry recover --abandon` while a was away")
                && unlock.all.contains(words)
                && !unlock.all.contains("where it ran finishes it") && unlock.all.contains("Released"), "\(unlock.all)")
        // Nothing on the server was changed by any of it.
        #expect(try m.sql(s, "SELECT v FROM DB.t ORDER BY id;") == held && m.schemas(s) == left)
    }

    /// The same for an apply killed after its swap, abandoned while its server was away: once
    /// the server is back, plans name the target left with the run's data and its checkpoint
    /// (they named nothing: the checkpoint stayed with no word of it).
    @Test func anApplyAbandonedAfterItsSwapIsNamedByPlansOnceItsServerIsBack() throws {
        let m = MySQLWritesDuringRunTests()
        let s = try m.setUp(failingSecond: false)
        defer { m.tearDown(s) }
        try m.importEveryTime(s)
        let (run, _) = try m.startStopped(s, at: "after-swapDone#1")
        m.killed(run)
        let plan = try #require(s.project.read("plans/main.json"))
        let b = try MySQLCLITests().server("FERRY_TEST_MYSQL_B")
        try s.project.write("plans/main.json", plan.replacingOccurrences(of: s.server.url, with: b.url))
        let abandoned = try s.project.run("recover", "--abandon", "a")
        #expect(abandoned.code == 4 && !abandoned.all.contains("as they were"), "\(abandoned.all)")
        try s.project.write("plans/main.json", plan)
        let checkpoint = try #require(try m.checkpoints(s).first, "\(m.names(s))")
        let planned = try s.project.run("plan")
        #expect(planned.all.contains("the undo of that run was abandoned on a") && planned.all.contains(checkpoint), "\(planned.all)")
        #expect(try m.sql(s, "SELECT v FROM DB.t ORDER BY id;") == "from-file\nfrom-file\n")
        // Once the user drops the checkpoint, the note goes.
        _ = try m.sql(s, "DROP DATABASE `\(checkpoint)`;")
        #expect(!(try s.project.run("plan").all.contains("abandoned")))
    }

    /// The same URL answered by another server (a container made again on the port, a
    /// failover): the run's begin record holds the server's identity (MariaDB: host name and
    /// data directory), and `ferry recover` on a server of another identity does nothing there
    /// and says so (exit 4, never "as they were"); on the run's server it finishes.
    @Test func anotherServerAtTheRunsURLIsNotRecovered() throws {
        let m = MySQLWritesDuringRunTests()
        let s = try m.setUp()
        defer { m.tearDown(s) }
        try m.importEveryTime(s)
        let (run, _) = try m.startStopped(s, at: "after-shadowCreated#1")
        m.killed(run)
        let shadows = try m.schemas(s).filter { $0.contains("__ferry_s_") }
        #expect(shadows.count == 1, "the run's shadow is on A")
        let runs = try FileManager.default.contentsOfDirectory(atPath: s.project.root + "/.ferry/runs")
        let path = ".ferry/runs/\(try #require(runs.first))/journal.jsonl"
        let journal = try #require(s.project.read(path))
        let identity = try #require(journal.firstMatch(of: /"serverIdentities":\{"[^"]+":"(mariadb:[^"]+)"/)?.1, "\(journal.prefix(400))")
        // Another server at the URL: its identity is not the journaled one.
        try s.project.write(path, journal.replacingOccurrences(of: String(identity), with: "mariadb:elsewhere|\\/var\\/lib\\/mysql\\/"))
        let refused = try s.project.run("recover")
        #expect(refused.code == 4, "\(refused.all)")
        #expect(refused.all.contains("is not the one the run wrote to") && !refused.all.contains("as they were"), "\(refused.all)")
        #expect(try m.schemas(s).filter { $0.contains("__ferry_s_") } == shadows, "nothing was done on the server")
        try s.project.write(path, journal)
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0 && recovered.all.contains("as they were"), "\(recovered.all)")
        #expect(try m.schemas(s).filter { $0.contains("__ferry_s_") }.isEmpty, "the shadow is gone")
        #expect(try m.sql(s, "SELECT v FROM DB.t;") == "user-original\n")
    }

    /// `ferry rollback RUN --force` of a committed run after the plan's SQLite path changed to
    /// another directory holding the user's own files of the same names: refused, the user's
    /// files untouched (before: "restored ... (removed: it did not exist before)" deleted them).
    @Test func aRollbackOfARunWhosePathChangedIsRefused() throws {
        let project = try Project()
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: project.root + "/var/other", withIntermediateDirectories: true)
        try project.write("plans/data/new.sql", "CREATE TABLE imported(x);\nINSERT INTO imported VALUES (1);\n")
        try project.write("plans/main.json", sqlite.plan(from: "data/new.sql"))
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        let runLine = try #require(apply.stdout.split(separator: "\n").first { $0.hasPrefix("Run ") }, "\(apply.all)")
        let runID = String(runLine.split(separator: " ")[1].dropLast())
        try sqlite.exec(project.root + "/var/other/app.db", "CREATE TABLE mine(x); INSERT INTO mine VALUES ('user data');")
        try project.write("plans/main.json", sqlite.plan(from: "data/new.sql").replacingOccurrences(of: "../var/a", with: "../var/other"))
        for args in [["rollback", runID], ["rollback", runID, "--force"]] {
            let refused = try project.run(args)
            #expect(refused.code != 0 && refused.all.contains("is missing or is not the one the run wrote to"), "\(args): \(refused.all)")
            // No run is pending: the hint names no `--abandon`, which would find nothing to end
            // (fresh tester round 27, Q9).
            #expect(!refused.all.contains("--abandon") && refused.all.contains("nothing of the run there for Ferry to roll back"), "\(args): \(refused.all)")
        }
        #expect(try project.query("var/other/app.db", "SELECT x FROM mine") == [["user data"]], "the user's file is untouched")
        #expect(try project.query("var/a/app.db", "SELECT x FROM imported") == [["1"]], "the run's database is where it was")
    }
}
