import CSQLite
import Foundation
import Testing

/// Fresh tester w26 H3 (SQLite): a `-journal`, `-wal` or `-shm` that another, crashed database
/// left at a missing target's companion names (its `NAME.db` moved or deleted by hand) is never
/// beside a database Ferry puts there: SQLite finds journals by name and would play a hot journal
/// into it (the run's tables gone) or read another database's WAL frames as its content, after
/// "Apply complete!". The run refuses, at plan time and again at the swap, naming the file;
/// nothing changes, and the file is the user's (never removed, moved or written).
@Suite(.serialized) struct SQLiteStrayCompanionTests {
    let sqlite = SQLiteImportCLITests()

    /// What another database left at `app.db`'s companion names.
    enum Stray: String, CaseIterable {
        /// A real hot journal: a python3 sqlite3 writer killed (`os._exit`) mid-transaction.
        case hotJournal
        /// A `-wal` with committed frames of another WAL database whose writer was killed, and its `-shm`.
        case walWithShm
        /// The same `-wal` alone.
        case walWithoutShm
        /// That database's `-shm` alone.
        case shmOnly
        /// A symbolic link named `app.db-journal` to the hot journal.
        case symlinkJournal
        /// An empty `app.db-journal` with a second name (SQLite would write into both).
        case hardLinkedEmptyJournal
    }

    static let companions = ["app.db-journal", "app.db-wal", "app.db-shm"]

    /// Makes `crash/x.db` with a hot `x.db-journal`, and `crash/w.db` (WAL) with a `-wal` of 200
    /// committed rows and its `-shm`, each by killing a python3 sqlite3 writer.
    func crash(_ project: Project) throws {
        let script = """
            import os, sqlite3, sys
            d, kind = sys.argv[1], sys.argv[2]
            if kind == "journal":
                p = os.path.join(d, "x.db")
                c = sqlite3.connect(p)
                c.execute("create table other(a, b)")
                c.executemany("insert into other values (?, ?)", [(i, "x" * 200) for i in range(500)])
                c.commit(); c.close()
                c = sqlite3.connect(p, isolation_level=None)
                c.execute("pragma cache_size=2")
                c.execute("begin")
                c.execute("create table t2(a)")
                c.execute("update other set b = upper(b)")
                os._exit(0)
            else:
                c = sqlite3.connect(os.path.join(d, "w.db"), isolation_level=None)
                c.execute("pragma journal_mode=wal")
                c.execute("pragma wal_autocheckpoint=0")
                c.execute("begin")
                c.execute("create table other(a)")
                c.executemany("insert into other values (?)", [(i,) for i in range(200)])
                c.execute("commit")
                os._exit(0)

            """
        try project.write("crash/gen.py", script)
        for kind in ["journal", "wal"] {
            let made = try project.runShell("python3 crash/gen.py crash \(kind)")
            #expect(made.code == 0, "\(made.all)")
        }
        let journal = try #require(project.fileBytes("crash/x.db-journal"))
        try #require(journal.count > 512 && journal.first != 0, "a hot journal: \(journal.count) bytes")
        try #require((project.fileBytes("crash/w.db-wal")?.count ?? 0) > 4096, "a -wal with frames")
        try #require(project.exists("crash/w.db-shm"))
    }

    /// Puts `stray` at `directory/app.db`'s companion names.
    func put(_ stray: Stray, in directory: String, of project: Project) throws {
        let fm = FileManager.default, dir = project.root + "/" + directory, crash = project.root + "/crash"
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        switch stray {
        case .hotJournal: try fm.copyItem(atPath: crash + "/x.db-journal", toPath: dir + "/app.db-journal")
        case .walWithShm:
            try fm.copyItem(atPath: crash + "/w.db-wal", toPath: dir + "/app.db-wal")
            try fm.copyItem(atPath: crash + "/w.db-shm", toPath: dir + "/app.db-shm")
        case .walWithoutShm: try fm.copyItem(atPath: crash + "/w.db-wal", toPath: dir + "/app.db-wal")
        case .shmOnly: try fm.copyItem(atPath: crash + "/w.db-shm", toPath: dir + "/app.db-shm")
        case .symlinkJournal: try fm.createSymbolicLink(atPath: dir + "/app.db-journal", withDestinationPath: crash + "/x.db-journal")
        case .hardLinkedEmptyJournal:
            _ = fm.createFile(atPath: crash + "/empty", contents: Data())
            #expect(link(crash + "/empty", dir + "/app.db-journal") == 0)
        }
    }

    /// The name the refusal must give for `stray`.
    func named(_ stray: Stray) -> String {
        switch stray {
        case .hotJournal, .symlinkJournal, .hardLinkedEmptyJournal: return "app.db-journal"
        case .walWithShm, .walWithoutShm: return "app.db-wal"
        case .shmOnly: return "app.db-shm"
        }
    }

    /// Each companion name of `directory/app.db`: its `lstat` device and inode and its bytes.
    func snapshot(_ directory: String, _ project: Project) -> [String] {
        Self.companions.map { name in
            var info = stat()
            let path = directory + "/" + name
            guard lstat(project.root + "/" + path, &info) == 0 else { return "\(name): none" }
            return "\(name): \(info.st_dev):\(info.st_ino) \(project.fileBytes(path).map { Digest.of($0) } ?? "-")"
        }
    }

    enum Digest { static func of(_ data: Data) -> String { "\(data.count):\(data.reduce(UInt64(1469598103934665603)) { ($0 ^ UInt64($1)) &* 1099511628211 })" } }

    /// The finding's input and its variants: an import into a missing `a/app` beside the stray
    /// file is refused by `plan` and `apply` (`OperationDenied.WrongStatus`, exit 1) naming it;
    /// nothing is created and the file is left byte for byte. Once the user moves it away, the
    /// same apply creates `app` with the run's table.
    @Test(arguments: Stray.allCases)
    func aMissingTargetBesideAStrayCompanionIsRefusedBeforeAnyChange(_ stray: Stray) throws {
        let project = try Project()
        try crash(project)
        try put(stray, in: "var/a", of: project)
        try project.write("plans/data/new.sql", "CREATE TABLE imported(x);\nINSERT INTO imported VALUES ('seed');\n")
        try project.write("plans/main.json", sqlite.plan(from: "data/new.sql"))
        let before = snapshot("var/a", project)

        let plan = try project.run("plan")
        #expect(plan.code == 1, "\(plan.all)")
        #expect(plan.all.contains("OperationDenied.WrongStatus") && plan.all.contains("var/a/\(named(stray)) is there"), "\(plan.all)")
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 1, "\(apply.all)")
        #expect(apply.all.contains("OperationDenied.WrongStatus") && apply.all.contains("var/a/\(named(stray)) is there"), "\(apply.all)")
        #expect(!apply.all.contains("Apply complete"), "\(apply.all)")
        #expect(!project.exists("var/a/app.db"), "nothing was created")
        #expect(snapshot("var/a", project) == before, "the stray file is left as it is")
        #expect(project.leftovers(in: "var/a").allSatisfy { Self.companions.contains($0) }, "\(project.leftovers(in: "var/a"))")

        for name in Self.companions { try? FileManager.default.removeItem(atPath: project.root + "/var/a/" + name) }
        let again = try project.run("apply", "--auto-approve")
        #expect(again.code == 0 && again.all.contains("1 created"), "\(again.all)")
        #expect(try project.query("var/a/app.db", "SELECT x FROM imported") == [["seed"]])
    }

    /// The finding's second input: a copy of a WAL-mode database into a missing target whose
    /// place holds another WAL database's `-wal` (200 committed rows) and `-shm`. Refused; had it
    /// been created, any reader would have seen the other database's table instead of `t`.
    @Test func aCopyIntoAMissingTargetBesideAnotherDatabasesWALIsRefused() throws {
        let project = try Project()
        try crash(project)
        try FileManager.default.createDirectory(atPath: project.root + "/var/dev", withIntermediateDirectories: true)
        try sqlite.exec(project.root + "/var/dev/app.db", "PRAGMA journal_mode=WAL; CREATE TABLE t(a); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) INSERT INTO t SELECT i FROM n;")
        try put(.walWithShm, in: "var/stg", of: project)
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "dev": { "engine": "sqlite", "path": "../var/dev" }, "stg": { "engine": "sqlite", "path": "../var/stg" } },
              "copies": { "c": { "from": "dev", "to": "stg", "databases": ["app"], "onExisting": "replace" } } }
            """)
        let before = snapshot("var/stg", project)
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 1, "\(apply.all)")
        #expect(apply.all.contains("OperationDenied.WrongStatus") && apply.all.contains("var/stg/app.db-wal is there"), "\(apply.all)")
        #expect(!project.exists("var/stg/app.db"))
        #expect(snapshot("var/stg", project) == before)
        #expect(try project.query("var/dev/app.db", "SELECT count(*) FROM t") == [["50"]])
    }

    /// A `-journal` of zero length holds nothing SQLite could play (it is never hot; SQLite
    /// itself leaves one in `journal_mode=TRUNCATE`): the target is created beside it, holds
    /// the run's table, passes `integrity_check`, and the empty file is still there.
    @Test func anEmptyJournalAtAMissingTargetsNameIsNoObstacle() throws {
        let project = try Project()
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: project.root + "/var/a/app.db-journal", contents: Data())
        try project.write("plans/data/new.sql", "CREATE TABLE imported(x);\nINSERT INTO imported VALUES ('seed');\n")
        try project.write("plans/main.json", sqlite.plan(from: "data/new.sql"))
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 0 && apply.all.contains("1 created"), "\(apply.all)")
        #expect(try project.query("var/a/app.db", "PRAGMA integrity_check") == [["ok"]])
        #expect(try project.query("var/a/app.db", "SELECT x FROM imported") == [["seed"]])
        #expect(project.fileBytes("var/a/app.db-journal") == Data(), "the empty file is left")
    }

    /// The stray file appears while the run builds (after the plan's check): the swap refuses
    /// before its rename (`OperationDenied.WrongStatus`), the run rolls back (exit 3, the
    /// shadow gone), `app` is not created, the file is left byte for byte, and nothing is left
    /// for `ferry recover`.
    @Test(arguments: [Stray.hotJournal, .walWithoutShm, .symlinkJournal])
    func aStrayCompanionMadeDuringTheBuildStopsTheSwap(_ stray: Stray) throws {
        let project = try Project()
        try crash(project)
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try project.write("plans/data/new.sql", "CREATE TABLE imported(x);\nINSERT INTO imported VALUES ('seed');\n")
        try project.write("plans/main.json", sqlite.plan(from: "data/new.sql"))
        var before: [String] = []
        let (code, text) = try SQLiteNamesTakenTests().stopped(project, ["apply", "--auto-approve"], at: "after-shadowCreated#1") {
            try put(stray, in: "var/a", of: project)
            before = snapshot("var/a", project)
        }
        #expect(code == 3, "\(text)")
        #expect(text.contains("OperationDenied.WrongStatus") && text.contains("var/a/\(named(stray)) is there")
                && text.contains("nothing was swapped: app was not created"), "\(text)")
        #expect(!text.contains("Apply complete"), "\(text)")
        #expect(!project.exists("var/a/app.db"), "nothing was created")
        #expect(snapshot("var/a", project) == before, "the stray file is left as it is")
        #expect(project.leftovers(in: "var/a").allSatisfy { Self.companions.contains($0) }, "the run's shadow is gone: \(project.leftovers(in: "var/a"))")
        let recover = try project.run("recover")
        #expect(recover.all.contains("Nothing to recover"), "\(recover.all)")
    }

    /// `ferry rollback RUN` puts the checkpoint back at `app`'s name only beside nothing SQLite
    /// would use as its journal: a symbolic link at `app.db-journal` (SQLite would follow it and
    /// write the restored database's journal into the file it points to) stops the undo before
    /// anything moves (`OperationDenied.WrongStatus`, exit 4), where it was deleted; never "written
    /// after it began". Once the user moves it away, `ferry recover` restores the checkpoint.
    @Test func aCheckpointIsNotPutBackBesideAStrayJournalLink() throws {
        let project = try Project()
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try sqlite.exec(project.root + "/var/a/app.db", "CREATE TABLE keep(x); INSERT INTO keep VALUES ('precious');")
        try project.write("plans/data/new.sql", "CREATE TABLE imported(x);\nINSERT INTO imported VALUES ('seed');\n")
        try project.write("plans/main.json", sqlite.plan(from: "data/new.sql"))
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let run = try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs").sorted().last)
        _ = FileManager.default.createFile(atPath: project.root + "/var/elsewhere", contents: Data())
        try FileManager.default.createSymbolicLink(atPath: project.root + "/var/a/app.db-journal", withDestinationPath: project.root + "/var/elsewhere")
        let link = snapshot("var/a", project)[0]
        let rolled = try project.run("rollback", run)
        #expect(rolled.code == 4, "\(rolled.all)")
        #expect(rolled.all.contains("OperationDenied.WrongStatus") && rolled.all.contains("var/a/app.db-journal is there, a symbolic link")
                && rolled.all.contains("nothing was restored"), "\(rolled.all)")
        #expect(!rolled.all.contains("written after it began"), "\(rolled.all)")
        #expect(snapshot("var/a", project)[0] == link, "the link is left as it is")
        #expect(try project.query("var/a/.app.ferry-ckpt-\(run).db", "SELECT x FROM keep") == [["precious"]], "the checkpoint is still there")
        #expect(try project.query("var/a/app.db", "SELECT x FROM imported") == [["seed"]], "the target was not touched")

        try FileManager.default.removeItem(atPath: project.root + "/var/a/app.db-journal")
        let recovered = try project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        #expect(try project.query("var/a/app.db", "SELECT x FROM keep") == [["precious"]], "restored once the link is gone")
        #expect(project.fileBytes("var/elsewhere") == Data())
    }

    /// The undo of a swap into a target that did not exist moves the database away from `app`'s
    /// name and removes only empty leftovers beside it: a symbolic link at `app.db-journal` is
    /// not the run's (it was deleted) and is left, named in a note; the rollback is done.
    @Test func theUndoOfACreatedTargetLeavesAStrayJournalLink() throws {
        let project = try Project()
        try project.write("plans/data/new.sql", "CREATE TABLE imported(x);\nINSERT INTO imported VALUES ('seed');\n")
        try project.write("plans/main.json", sqlite.plan(from: "data/new.sql"))
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0 && applied.all.contains("1 created"), "\(applied.all)")
        let run = try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs").sorted().last)
        _ = FileManager.default.createFile(atPath: project.root + "/var/elsewhere", contents: Data())
        try FileManager.default.createSymbolicLink(atPath: project.root + "/var/a/app.db-journal", withDestinationPath: project.root + "/var/elsewhere")
        let link = snapshot("var/a", project)[0]
        let rolled = try project.run("rollback", run)
        #expect(rolled.code == 0, "\(rolled.all)")
        #expect(rolled.all.contains("app.db-journal, beside app (which the run created and its undo took away), is not provably the run's"), "\(rolled.all)")
        #expect(!project.exists("var/a/app.db"), "the created database is gone")
        #expect(snapshot("var/a", project)[0] == link, "the link is left as it is")
    }
}
