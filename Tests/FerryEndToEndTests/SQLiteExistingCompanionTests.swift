import CSQLite
import Foundation
import Testing

/// Fresh tester w31 A6 (HIGH) and A4 (SQLite): SQLite applies whatever it finds at an existing
/// database's `-wal` and `-journal` names. Another database's `-wal` with frames beside a target in
/// rollback-journal mode was checkpointed into the user's database by the replace's first open
/// (its tables gone from the target and from the checkpoint, "Apply complete!"); a hot journal
/// beside a target made the rollback speak of fingerprints and "attempt to write a readonly
/// database (SQLite 776)". Now every open of an existing database (plan's facts, content tokens,
/// the swap's settle and hold, a copy's or backup's source, the rollback's checks) is preceded by
/// Ferry's own look at the files: a companion SQLite would apply that is not provably the
/// database's own is refused (`OperationDenied.WrongStatus`) naming it and what SQLite would do,
/// and nothing is opened, written or removed.
@Suite(.serialized) struct SQLiteExistingCompanionTests {
    let sqlite = SQLiteImportCLITests()
    let strays = SQLiteStrayCompanionTests()

    /// What is beside the user's `app.db`.
    enum Companion: String, CaseIterable {
        /// The finding: another (WAL) database's `-wal` with 200 committed rows beside `app.db` in rollback-journal mode.
        case foreignWAL
        /// The same with that database's `-shm`.
        case foreignWALWithShm
        /// Another database's hot journal (a python3 writer killed mid-transaction).
        case foreignHotJournal
        /// `app.db`'s own hot journal (its writer killed mid-transaction): nothing proves it is
        /// its own, so it is refused too; SQLite's own open settles it, then Ferry goes on.
        case ownHotJournal
        /// `app.db` in WAL mode with 1024-byte pages, and another database's `-wal` of 4096-byte pages.
        case walOfAnotherPageSize
        /// A `-wal` of zero bytes beside `app.db` in rollback-journal mode: nothing SQLite could read; no obstacle.
        case emptyWAL
    }

    static let companions = ["app.db-journal", "app.db-wal", "app.db-shm"]

    /// The companion's name in the refusal, and a piece of the reason it gives.
    func named(_ companion: Companion) -> (file: String, why: String) {
        switch companion {
        case .foreignWAL, .foreignWALWithShm: return ("app.db-wal", "beside a database whose header says rollback-journal mode")
        case .foreignHotJournal, .ownHotJournal: return ("app.db-journal", "a hot rollback journal")
        case .walOfAnotherPageSize: return ("app.db-wal", "it holds pages of 4096 bytes and the database's are 1024")
        case .emptyWAL: return ("app.db-wal", "")
        }
    }

    /// Makes `DIR/app.db` holding `keep` = 'precious' with `companion` beside it.
    func make(_ companion: Companion, in directory: String, of project: Project) throws {
        let dir = project.root + "/" + directory, crash = project.root + "/crash"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        switch companion {
        case .ownHotJournal:
            try project.write("crash/own.py", """
                import os, sqlite3, sys
                p = sys.argv[1]
                c = sqlite3.connect(p)
                c.execute("create table keep(x)")
                c.execute("insert into keep values ('precious')")
                c.execute("create table filler(a, b)")
                c.executemany("insert into filler values (?, ?)", [(i, "x" * 200) for i in range(500)])
                c.commit(); c.close()
                c = sqlite3.connect(p, isolation_level=None)
                c.execute("pragma cache_size=2")
                c.execute("begin")
                c.execute("delete from keep")
                c.execute("update filler set b = upper(b)")
                os._exit(0)

                """)
            let made = try project.runShell("python3 crash/own.py \(directory)/app.db")
            #expect(made.code == 0, "\(made.all)")
            let journal = try #require(project.fileBytes(directory + "/app.db-journal"))
            try #require(journal.count > 512 && journal.first != 0, "a hot journal of app's own: \(journal.count) bytes")
            return
        case .walOfAnotherPageSize:
            try sqlite.exec(dir + "/app.db", "PRAGMA page_size=1024; PRAGMA journal_mode=WAL; CREATE TABLE keep(x); INSERT INTO keep VALUES ('precious');")
        default:
            try sqlite.exec(dir + "/app.db", "CREATE TABLE keep(x); INSERT INTO keep VALUES ('precious');")
        }
        for name in Self.companions { try? FileManager.default.removeItem(atPath: dir + "/" + name) }
        switch companion {
        case .foreignWAL, .walOfAnotherPageSize: try FileManager.default.copyItem(atPath: crash + "/w.db-wal", toPath: dir + "/app.db-wal")
        case .foreignWALWithShm:
            try FileManager.default.copyItem(atPath: crash + "/w.db-wal", toPath: dir + "/app.db-wal")
            try FileManager.default.copyItem(atPath: crash + "/w.db-shm", toPath: dir + "/app.db-shm")
        case .foreignHotJournal: try FileManager.default.copyItem(atPath: crash + "/x.db-journal", toPath: dir + "/app.db-journal")
        case .emptyWAL: _ = FileManager.default.createFile(atPath: dir + "/app.db-wal", contents: Data())
        case .ownHotJournal: break
        }
    }

    /// `app.db` and its companions in `directory`: `lstat` identity and bytes of each.
    func snapshot(_ directory: String, _ project: Project) -> [String] {
        (["app.db"] + Self.companions).map { name in
            var info = stat()
            let path = directory + "/" + name
            guard lstat(project.root + "/" + path, &info) == 0 else { return "\(name): none" }
            return "\(name): \(info.st_ino) \(project.fileBytes(path).map { SQLiteStrayCompanionTests.Digest.of($0) } ?? "-")"
        }
    }

    /// The finding's input (`import --replace` over the user's `app.db` beside another database's
    /// `-wal`) and its variants: `plan` and `apply` refuse (exit 1) naming the file and why;
    /// `app.db` and every companion are left byte for byte (no checkpoint, no shadow). Once the
    /// file is moved away (or, for `app`'s own hot journal, settled by SQLite's own open, which
    /// gives back `precious`), the same apply replaces `app`. An empty `-wal` is no obstacle.
    @Test(arguments: Companion.allCases)
    func anImportReplaceBesideACompanionNotProvablyTheTargetsIsRefused(_ companion: Companion) throws {
        let project = try Project()
        try strays.crash(project)
        try make(companion, in: "var/a", of: project)
        try project.write("plans/data/new.sql", "CREATE TABLE imported(x);\nINSERT INTO imported VALUES ('seed');\n")
        try project.write("plans/main.json", sqlite.plan(from: "data/new.sql"))
        let before = snapshot("var/a", project)
        let (file, why) = named(companion)

        if companion != .emptyWAL {
            let plan = try project.run("plan")
            #expect(plan.code == 1, "\(plan.all)")
            #expect(plan.all.contains("OperationDenied.WrongStatus") && plan.all.contains("var/a/\(file) is there")
                    && plan.all.contains(why) && plan.all.contains("Ferry does not open a/app beside it"), "\(plan.all)")
            let apply = try project.run("apply", "--auto-approve")
            #expect(apply.code == 1, "\(apply.all)")
            #expect(apply.all.contains("OperationDenied.WrongStatus") && apply.all.contains("var/a/\(file) is there"), "\(apply.all)")
            #expect(!apply.all.contains("Apply complete"), "\(apply.all)")
            #expect(snapshot("var/a", project) == before, "app.db and its companions are left as they are")
            #expect(project.leftovers(in: "var/a").allSatisfy { Self.companions.contains($0) }, "\(project.leftovers(in: "var/a"))")
            if companion == .ownHotJournal {
                // SQLite's own open (the hint's `sqlite3 FILE 'PRAGMA integrity_check'`) rolls it back.
                try sqlite.exec(project.root + "/var/a/app.db", "PRAGMA integrity_check")
                #expect(!project.exists("var/a/app.db-journal") || project.fileBytes("var/a/app.db-journal")?.first == 0)
                #expect(try project.query("var/a/app.db", "SELECT x FROM keep") == [["precious"]], "the user's row, as before the killed write")
            } else {
                for name in Self.companions { try? FileManager.default.removeItem(atPath: project.root + "/var/a/" + name) }
            }
            #expect(try project.query("var/a/app.db", "SELECT x FROM keep") == [["precious"]], "the user's table is still there")
        }
        let again = try project.run("apply", "--auto-approve")
        #expect(again.code == 0 && again.all.contains("1 replaced"), "\(again.all)")
        #expect(try project.query("var/a/app.db", "SELECT x FROM imported") == [["seed"]])
        let run = try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs").sorted().last)
        #expect(try project.query("var/a/.app.ferry-ckpt-\(run).db", "SELECT x FROM keep") == [["precious"]], "the checkpoint holds the user's table")
    }

    func copyPlan() -> String {
        """
        { "ferry": 1, "instances": { "dev": { "engine": "sqlite", "path": "../var/dev" }, "stg": { "engine": "sqlite", "path": "../var/stg" } },
          "copies": { "c": { "from": "dev", "to": "stg", "databases": ["app"], "onExisting": "replace" } } }
        """
    }

    /// The finding's copy form: `copy --replace` over an existing `stg/app` beside another
    /// database's `-wal` (and a hot journal) is refused, `stg/app` left as it is; and a copy's
    /// SOURCE beside one is refused too (it would have been read with the other database's
    /// content), the source and the file left, nothing created.
    @Test(arguments: [Companion.foreignWAL, .foreignHotJournal])
    func aCopyBesideACompanionNotProvablyTheDatabasesIsRefusedOnEitherSide(_ companion: Companion) throws {
        let project = try Project()
        try strays.crash(project)
        try project.write("plans/main.json", copyPlan())
        let (file, why) = named(companion)

        // The target side.
        try FileManager.default.createDirectory(atPath: project.root + "/var/dev", withIntermediateDirectories: true)
        try sqlite.exec(project.root + "/var/dev/app.db", "CREATE TABLE t(a); INSERT INTO t VALUES (1), (2);")
        try make(companion, in: "var/stg", of: project)
        let target = snapshot("var/stg", project)
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 1, "\(apply.all)")
        #expect(apply.all.contains("OperationDenied.WrongStatus") && apply.all.contains("var/stg/\(file) is there")
                && apply.all.contains(why) && apply.all.contains("Ferry does not open stg/app beside it"), "\(apply.all)")
        #expect(snapshot("var/stg", project) == target)

        // The source side: `stg/app` gone, the companion beside `dev/app`.
        try FileManager.default.removeItem(atPath: project.root + "/var/stg")
        try FileManager.default.removeItem(atPath: project.root + "/var/dev")
        try make(companion, in: "var/dev", of: project)
        let source = snapshot("var/dev", project)
        let plan = try project.run("plan")
        #expect(plan.code == 1, "\(plan.all)")
        #expect(plan.all.contains("OperationDenied.WrongStatus") && plan.all.contains("var/dev/\(file) is there")
                && plan.all.contains("Ferry does not open the source dev/app beside it"), "\(plan.all)")
        let copied = try project.run("apply", "--auto-approve")
        #expect(copied.code == 1, "\(copied.all)")
        #expect(copied.all.contains("var/dev/\(file) is there"), "\(copied.all)")
        #expect(!project.exists("var/stg/app.db"), "nothing was created")
        #expect(snapshot("var/dev", project) == source, "the source and its companion are left as they are")
    }

    /// A backup of a database beside another database's `-wal` is refused naming it (the set
    /// would have held the other database's content, and the source its frames written in).
    @Test func aBackupOfADatabaseBesideAForeignWALIsRefused() throws {
        let project = try Project()
        try strays.crash(project)
        try make(.foreignWAL, in: "var/a", of: project)
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
              "backups": { "daily": { "of": "a", "databases": ["app"], "to": "../var/backups", "every": "24h", "keep": 2 } } }
            """)
        let before = snapshot("var/a", project)
        let taken = try project.run("backup", "daily")
        #expect(taken.code != 0, "\(taken.all)")
        #expect(taken.all.contains("OperationDenied.WrongStatus") && taken.all.contains("var/a/app.db-wal is there"), "\(taken.all)")
        #expect(snapshot("var/a", project) == before)
    }

    /// The file appears while the run builds (after the plan's look): the swap's settle refuses
    /// before it opens `app` (exit 3, "nothing was swapped"), `app` and the file are left byte
    /// for byte, and nothing is left for `ferry recover`.
    @Test(arguments: [Companion.foreignWAL, .foreignHotJournal])
    func aCompanionMadeDuringTheBuildStopsTheSwapBeforeItOpensTheTarget(_ companion: Companion) throws {
        let project = try Project()
        try strays.crash(project)
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try sqlite.exec(project.root + "/var/a/app.db", "CREATE TABLE keep(x); INSERT INTO keep VALUES ('precious');")
        try project.write("plans/data/new.sql", "CREATE TABLE imported(x);\nINSERT INTO imported VALUES ('seed');\n")
        try project.write("plans/main.json", sqlite.plan(from: "data/new.sql"))
        let (file, _) = named(companion)
        var before: [String] = []
        let (code, text) = try SQLiteNamesTakenTests().stopped(project, ["apply", "--auto-approve"], at: "after-shadowCreated#1") {
            let source = project.root + "/crash/" + (companion == .foreignWAL ? "w.db-wal" : "x.db-journal")
            try FileManager.default.copyItem(atPath: source, toPath: project.root + "/var/a/" + file)
            before = snapshot("var/a", project)
        }
        #expect(code == 3, "\(text)")
        #expect(text.contains("OperationDenied.WrongStatus") && text.contains("var/a/\(file) is there")
                && text.contains("nothing was swapped"), "\(text)")
        #expect(!text.contains("Apply complete"), "\(text)")
        #expect(snapshot("var/a", project) == before, "app.db and the file are left as they are")
        try FileManager.default.removeItem(atPath: project.root + "/var/a/" + file)
        #expect(try project.query("var/a/app.db", "SELECT x FROM keep") == [["precious"]])
        let recover = try project.run("recover")
        #expect(recover.all.contains("Nothing to recover"), "\(recover.all)")
    }

    /// A4: `ferry rollback RUN` (and `--force`) of a committed replace whose target now has
    /// another database's `-wal` or hot journal beside it says which file and why, never
    /// "fingerprint differs", "SQLite 776" or "written just now" (Ferry's own open had
    /// checkpointed the foreign frames into the target); the target, its checkpoint and the file
    /// are left byte for byte. Once the file is moved away, the rollback restores `precious`.
    @Test(arguments: [Companion.foreignWAL, .foreignHotJournal])
    func aRollbackBesideACompanionNotProvablyTheTargetsSaysWhichFile(_ companion: Companion) throws {
        let project = try Project()
        try strays.crash(project)
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try sqlite.exec(project.root + "/var/a/app.db", "CREATE TABLE keep(x); INSERT INTO keep VALUES ('precious');")
        try project.write("plans/data/new.sql", "CREATE TABLE imported(x);\nINSERT INTO imported VALUES ('seed');\n")
        try project.write("plans/main.json", sqlite.plan(from: "data/new.sql"))
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let run = try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs").sorted().last)
        let (file, why) = named(companion)
        let source = project.root + "/crash/" + (companion == .foreignWAL ? "w.db-wal" : "x.db-journal")
        try FileManager.default.copyItem(atPath: source, toPath: project.root + "/var/a/" + file)
        let before = snapshot("var/a", project)
        let checkpoint = project.fileBytes("var/a/.app.ferry-ckpt-\(run).db")

        for args in [["rollback", run], ["rollback", run, "--force"]] {
            let rolled = try project.run(args)
            #expect(rolled.code != 0, "\(args): \(rolled.all)")
            #expect(rolled.all.contains("OperationDenied.WrongStatus") && rolled.all.contains("var/a/\(file) is there")
                    && rolled.all.contains(why), "\(args): \(rolled.all)")
            for wrong in ["fingerprint", "SQLite 776", "readonly database", "written just now"] {
                #expect(!rolled.all.contains(wrong), "\(args): \(rolled.all)")
            }
            #expect(rolled.all.contains("move it away if it is another database's"), "\(args): the hint says what to do with the file: \(rolled.all)")
            #expect(snapshot("var/a", project) == before, "\(args): the target and the file are left as they are")
            #expect(project.fileBytes("var/a/.app.ferry-ckpt-\(run).db") == checkpoint, "\(args): the checkpoint is left")
        }

        try FileManager.default.removeItem(atPath: project.root + "/var/a/" + file)
        let recovered = try project.run("recover")
        if !recovered.all.contains("Nothing to recover") { #expect(recovered.code == 0, "\(recovered.all)") }
        if (try? project.query("var/a/app.db", "SELECT x FROM keep")) != [["precious"]] {
            let again = try project.run("rollback", run)
            #expect(again.code == 0, "\(again.all)")
        }
        #expect(try project.query("var/a/app.db", "SELECT x FROM keep") == [["precious"]], "restored once the file is gone")
    }

    /// A4: `ferry recover` of a create killed after its swap, whose new database an application
    /// then left with a hot journal (its writer killed mid-transaction), names the journal and
    /// what SQLite would do (never "SQLite 776"); the database and the journal are left as they are.
    @Test func aRecoverBesideAHotJournalSaysSo() throws {
        let project = try Project()
        try project.write("plans/data/new.sql", "CREATE TABLE imported(x);\nINSERT INTO imported VALUES ('seed');\n")
        try project.write("plans/main.json", sqlite.plan(from: "data/new.sql"))
        project.environment["FERRY_TEST_KILL_AT"] = "after-swapDone#1"
        let killed = try project.run("apply", "--auto-approve")
        project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code != 0, "\(killed.all)")
        try project.write("crash/app.py", """
            import os, sqlite3, sys
            c = sqlite3.connect(sys.argv[1], isolation_level=None)
            c.execute("pragma cache_size=2")
            c.execute("begin")
            c.execute("create table filler(a, b)")
            c.executemany("insert into filler values (?, ?)", [(i, "x" * 200) for i in range(500)])
            c.execute("update imported set x = 'app'")
            os._exit(0)

            """)
        let made = try project.runShell("python3 crash/app.py var/a/app.db")
        #expect(made.code == 0, "\(made.all)")
        try #require((project.fileBytes("var/a/app.db-journal")?.first ?? 0) != 0, "a hot journal")
        let before = snapshot("var/a", project)
        let recover = try project.run("recover")
        #expect(recover.code != 0, "\(recover.all)")
        #expect(recover.all.contains("var/a/app.db-journal is there, a hot rollback journal")
                && recover.all.contains("SQLite would play it into the database"), "\(recover.all)")
        #expect(!recover.all.contains("SQLite 776") && !recover.all.contains("readonly database"), "\(recover.all)")
        #expect(snapshot("var/a", project) == before, "the database and the journal are left as they are")
    }
}

extension SQLiteExistingCompanionTests {
    /// A4's third input: a committed create whose new database an application switched to WAL
    /// and wrote into, its writer killed (its own committed row only in `-wal`). `ferry rollback
    /// RUN` refuses (written since); `--force` finishes and keeps what the target held, the
    /// application's row with it (its own `-wal` folded in after the check), never "written just
    /// now" (Ferry's own hold had checkpointed the `-wal` and then took that for a write).
    @Test func aForcedRollbackOfATargetWithItsOwnWALFramesKeepsThemAndBlamesNoWrite() throws {
        let project = try Project()
        try project.write("plans/data/new.sql", "CREATE TABLE imported(x);\nINSERT INTO imported VALUES ('seed');\n")
        try project.write("plans/main.json", sqlite.plan(from: "data/new.sql"))
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0 && applied.all.contains("1 created"), "\(applied.all)")
        let run = try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs").sorted().last)
        try project.write("crash/walapp.py", """
            import os, sqlite3, sys
            c = sqlite3.connect(sys.argv[1], isolation_level=None)
            c.execute("pragma journal_mode=wal")
            c.execute("pragma wal_autocheckpoint=0")
            c.execute("insert into imported values ('app-row')")
            os._exit(0)

            """)
        let made = try project.runShell("python3 crash/walapp.py var/a/app.db")
        #expect(made.code == 0, "\(made.all)")
        try #require((project.fileBytes("var/a/app.db-wal")?.count ?? 0) > 32, "the application's row is in -wal")
        let refused = try project.run("rollback", run)
        #expect(refused.code != 0 && refused.all.contains("changed after run"), "\(refused.all)")
        let forced = try project.run("rollback", run, "--force")
        #expect(forced.code == 0, "\(forced.all)")
        #expect(!forced.all.contains("written just now"), "\(forced.all)")
        #expect(!project.exists("var/a/app.db") && !project.exists("var/a/app.db-wal"), "\(project.leftovers(in: "var/a"))")
        let kept = try #require(project.leftovers(in: "var/a").first { $0.contains(".ferry-shadow-") && $0.hasSuffix(".db") })
        #expect(try project.query("var/a/" + kept, "SELECT x FROM imported ORDER BY rowid") == [["seed"], ["app-row"]], "the application's row is kept")
    }
}

extension SQLiteExistingCompanionTests {
    /// An import whose source is a `.db` file beside another database's `-wal` (or a hot
    /// journal): SQLite, even read-only, would read the other database's frames as the source's
    /// content and the run would import them. Refused at apply, naming the file; the source, the
    /// file and the target are left byte for byte.
    @Test(arguments: [Companion.foreignWAL, .foreignHotJournal])
    func anImportFromADatabaseFileBesideACompanionNotProvablyItsOwnIsRefused(_ companion: Companion) throws {
        let project = try Project()
        try strays.crash(project)
        try make(companion, in: "plans/data/src", of: project)
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try sqlite.exec(project.root + "/var/a/app.db", "CREATE TABLE mine(x); INSERT INTO mine VALUES ('target');")
        try project.write("plans/main.json", sqlite.plan(from: "data/src/app.db"))
        let (file, why) = named(companion)
        let source = snapshot("plans/data/src", project), target = snapshot("var/a", project)
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code != 0, "\(apply.all)")
        #expect(apply.all.contains("OperationDenied.WrongStatus") && apply.all.contains("plans/data/src/\(file) is there")
                && apply.all.contains(why), "\(apply.all)")
        #expect(!apply.all.contains("Apply complete"), "\(apply.all)")
        #expect(snapshot("plans/data/src", project) == source, "the source and its companion are left as they are")
        #expect(snapshot("var/a", project) == target, "the target is left as it is")
    }
}
