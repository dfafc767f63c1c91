import CSQLite
import Foundation
import Testing

/// Backup sets: one file per database whatever its name, and a copy restores from a set only
/// what the set's manifest recorded (issue 14 §2, §3).
@Suite(.serialized) struct BackupSetTests {
    func exec(_ project: Project, _ path: String, _ sql: String) throws {
        var db: OpaquePointer?
        guard sqlite3_open(project.root + "/" + path, &db) == SQLITE_OK else { throw Project.QueryError(message: "open") }
        defer { sqlite3_close(db) }
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else {
            throw Project.QueryError(message: String(cString: sqlite3_errmsg(db)))
        }
    }

    /// Names a sanitiser would merge: a space, an underscore, a percent, a dot, non-ASCII.
    static let names = ["a b", "a_b", "a%20b", "a.b", "a-b", "ä b", "A_B"]

    func plan(copies: String = "") -> String {
        let list = Self.names.map { "\"\($0)\"" }.joined(separator: ", ")
        return """
        { "ferry": 1,
          "instances": { "a": { "engine": "sqlite", "path": "../var/a" }, "b": { "engine": "sqlite", "path": "../var/b" } },
          "backups": { "nightly": { "of": "a", "databases": [\(list)], "to": "../var/backups", "every": "24h", "keep": 3 } },
          "copies": { \(copies) } }
        """
    }

    func takeSet(_ project: Project) throws -> String {
        for (i, name) in Self.names.enumerated() {
            try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
            try exec(project, "var/a/\(name).db", "CREATE TABLE t(v TEXT); INSERT INTO t VALUES ('\(name)');" + String(repeating: "INSERT INTO t VALUES ('\(i)');", count: i))
        }
        try project.write("plans/main.json", plan())
        let taken = try project.run("backup", "nightly")
        #expect(taken.code == 0, "\(taken.all)")
        return try #require(taken.stdout.components(separatedBy: "backup set ").dropFirst().first?.split(separator: " ").first.map(String.init))
    }

    @Test func databasesWhoseNamesASanitiserWouldMergeGetTheirOwnFilesAndRestoreTheirOwnRows() throws {
        let project = try Project()
        let id = try takeSet(project)
        let files = try FileManager.default.contentsOfDirectory(atPath: project.root + "/var/backups/\(id)").filter { $0 != "manifest.json" }
        #expect(files.count == Self.names.count, "\(files)")
        let mapping = Self.names.enumerated().map { "\"\($1)\": \"r\($0)\"" }.joined(separator: ", ")
        try project.write("plans/main.json", plan(copies: "\"restore\": { \"from\": \"a\", \"to\": \"b\", \"databases\": { \(mapping) }, \"backup\": \"\(id)\" }"))
        let restored = try project.run("apply", "--auto-approve", "--target", "copy.restore")
        #expect(restored.code == 0, "\(restored.all)")
        for (i, name) in Self.names.enumerated() {
            #expect(try project.query("var/b/r\(i).db", "SELECT v FROM t ORDER BY rowid LIMIT 1") == [[name]], "\(name)")
            #expect(try project.query("var/b/r\(i).db", "SELECT count(*) FROM t") == [[String(i + 1)]], "\(name)")
        }
    }

    @Test func aChangedSetFileIsRefusedAndNothingChanges() throws {
        let project = try Project()
        let id = try takeSet(project)
        let manifest = try #require(project.read("var/backups/\(id)/manifest.json"))
        #expect(manifest.contains("sha256:"))
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/var/backups/\(id)").first { $0.hasPrefix("a_b.") })
        try FileManager.default.createDirectory(atPath: project.root + "/var/b", withIntermediateDirectories: true)
        try exec(project, "var/b/target.db", "CREATE TABLE t(v TEXT); INSERT INTO t VALUES ('before');")
        let before = try #require(project.fileBytes("var/b/target.db"))
        // Another valid database of the same size in its place, then the same bytes with one changed.
        try exec(project, "var/backups/\(id)/\(file)", "UPDATE t SET v = 'tampered' WHERE rowid = 1;")
        try project.write("plans/main.json", plan(copies: "\"restore\": { \"from\": \"a\", \"to\": \"b\", \"databases\": { \"a_b\": \"target\" }, \"backup\": \"\(id)\", \"onExisting\": \"replace\" }"))
        let refused = try project.run("apply", "--auto-approve", "--target", "copy.restore")
        #expect(refused.code == 3 || refused.code == 1, "\(refused.all)")
        #expect(refused.all.contains("VerifyFailed") && refused.all.contains("SHA-256"), "\(refused.all)")
        #expect(project.fileBytes("var/b/target.db") == before)
        // A truncated file: the size check.
        let path = project.root + "/var/backups/\(id)/\(file)"
        let bytes = try #require(FileManager.default.contents(atPath: path))
        try bytes.prefix(bytes.count - 1).write(to: URL(fileURLWithPath: path))
        let short = try project.run("apply", "--auto-approve", "--target", "copy.restore")
        #expect(short.all.contains("VerifyFailed") && short.all.contains("bytes"), "\(short.all)")
        #expect(project.fileBytes("var/b/target.db") == before)
        // A missing file: a set is never listed without every file it names (SPEC §6), so the
        // plan cannot find it at all.
        try FileManager.default.removeItem(atPath: path)
        let gone = try project.run("apply", "--auto-approve", "--target", "copy.restore")
        #expect(gone.code == 1 && gone.all.contains("BackupNotFound"), "\(gone.all)")
        #expect(project.fileBytes("var/b/target.db") == before)
    }

    func singlePlan(copies: String = "") -> String {
        """
        { "ferry": 1,
          "instances": { "a": { "engine": "sqlite", "path": "../var/a" }, "b": { "engine": "sqlite", "path": "../var/b" } },
          "backups": { "nightly": { "of": "a", "databases": ["app"], "to": "../var/backups", "keep": 5 } },
          "copies": { \(copies) } }
        """
    }

    func setID(_ taken: Project.Result) throws -> String {
        #expect(taken.code == 0, "\(taken.all)")
        return try #require(taken.stdout.components(separatedBy: "backup set ").dropFirst().first?.split(separator: " ").first.map(String.init), "\(taken.all)")
    }

    /// Fresh tester w12 F6: a set's file replaced by another that still parses (here the file of
    /// a later set of the same database), with the size and SHA-256 in its manifest rewritten to
    /// match. The restored shadow does not hold the tables and rows the manifest recorded when
    /// the set was taken: `VerifyFailed`, nothing swapped in, no shadow left. The later set
    /// itself restores. Variants: one row more, a table more, a row fewer.
    @Test(arguments: ["INSERT INTO t VALUES ('later');", "CREATE TABLE extra(x); INSERT INTO extra VALUES (1);", "DELETE FROM t WHERE rowid = 1;"])
    func aSetFileSwappedWithItsManifestRewrittenIsNotRestored(_ change: String) throws {
        let project = try Project()
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: project.root + "/var/b", withIntermediateDirectories: true)
        try exec(project, "var/a/app.db", "CREATE TABLE t(v TEXT); INSERT INTO t VALUES ('one'), ('two');")
        try project.write("plans/main.json", singlePlan())
        let first = try setID(try project.run("backup", "nightly"))
        #expect(project.read("var/backups/\(first)/manifest.json")?.contains("\"tables\"") == true)
        try exec(project, "var/a/app.db", change)
        let second = try setID(try project.run("backup", "nightly"))
        try project.swapSetFile(in: "var/backups", of: first, withThatOf: second)
        try exec(project, "var/b/target.db", "CREATE TABLE t(v TEXT); INSERT INTO t VALUES ('before');")
        let before = try #require(project.fileBytes("var/b/target.db"))
        func restore(_ id: String) -> String {
            singlePlan(copies: "\"restore\": { \"from\": \"a\", \"to\": \"b\", \"databases\": { \"app\": \"target\" }, \"backup\": \"\(id)\", \"onExisting\": \"replace\" }")
        }
        try project.write("plans/main.json", restore(first))
        let refused = try project.run("apply", "--auto-approve", "--target", "copy.restore")
        #expect(refused.code == 3, "\(refused.all)")
        #expect(refused.all.contains("VerifyFailed") && refused.all.contains("does not hold what the set's manifest recorded"), "\(refused.all)")
        #expect(project.fileBytes("var/b/target.db") == before)
        #expect(project.leftovers(in: "var/b") == [], "\(project.leftovers(in: "var/b"))")
        try project.write("plans/main.json", restore(second))
        let restored = try project.run("apply", "--auto-approve", "--target", "copy.restore")
        #expect(restored.code == 0, "\(restored.all)")
        #expect(try project.query("var/a/app.db", "SELECT count(*) FROM t") == project.query("var/b/target.db", "SELECT count(*) FROM t"))
    }

    /// A set taken before manifests recorded tables (no `tables` in its entry) restores as before:
    /// its size and SHA-256 are what is checked.
    @Test func aSetWithoutRecordedTablesStillRestores() throws {
        let project = try Project()
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try exec(project, "var/a/app.db", "CREATE TABLE t(v TEXT); INSERT INTO t VALUES ('one'), ('two');")
        try project.write("plans/main.json", singlePlan())
        let id = try setID(try project.run("backup", "nightly"))
        let path = project.root + "/var/backups/\(id)/manifest.json"
        var manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        var entries = try #require(manifest["entries"] as? [[String: Any]])
        #expect(entries[0]["tables"] != nil)
        entries[0]["tables"] = nil
        manifest["entries"] = entries
        try JSONSerialization.data(withJSONObject: manifest).write(to: URL(fileURLWithPath: path))
        try project.write("plans/main.json", singlePlan(copies: "\"restore\": { \"from\": \"a\", \"to\": \"b\", \"databases\": { \"app\": \"old\" }, \"backup\": \"\(id)\" }"))
        let restored = try project.run("apply", "--auto-approve", "--target", "copy.restore")
        #expect(restored.code == 0, "\(restored.all)")
        #expect(try project.query("var/b/old.db", "SELECT count(*) FROM t") == [["2"]])
    }

    /// `keep: 1` after on-demand backups taken back to back (often within one second, the
    /// precision of a manifest's time): exactly one set stays, the newest.
    /// Two backups writing to one location: each keeps and prunes only its own sets (a fresh
    /// tester's two backups with `keep: 1` deleted each other's only set).
    @Test func backupsSharingALocationPruneOnlyTheirOwnSets() throws {
        let project = try Project()
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try exec(project, "var/a/app.db", "CREATE TABLE t(v TEXT); INSERT INTO t VALUES ('x');")
        try exec(project, "var/a/other.db", "CREATE TABLE t(v TEXT); INSERT INTO t VALUES ('y');")
        try project.write("plans/main.json", """
        { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
          "backups": { "one": { "of": "a", "databases": ["app"], "to": "../var/shared", "keep": 1 },
                       "two": { "of": "a", "databases": ["other"], "to": "../var/shared", "keep": 1 } } }
        """)
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        func sets() throws -> Set<String> { Set(try FileManager.default.contentsOfDirectory(atPath: project.root + "/var/shared")) }
        let first = try sets()
        #expect(first.count == 2, "both backups keep their set: \(first)")
        for name in ["two", "one", "two"] {
            let before = try sets()
            let taken = try project.run("backup", name)
            #expect(taken.code == 0, "\(taken.all)")
            let after = try sets()
            #expect(after.count == 2, "\(name): \(before) -> \(after)")
        }
        let plan = try project.run("plan")
        #expect(plan.code == 0 && plan.stdout.contains("No changes"), "\(plan.all)")
    }

    @Test func keepOneLeavesOnlyTheNewestSetAfterBackToBackOnDemandBackups() throws {
        let project = try Project()
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try exec(project, "var/a/app.db", "CREATE TABLE t(v TEXT); INSERT INTO t VALUES ('x');")
        try project.write("plans/main.json", """
        { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
          "backups": { "nb": { "of": "a", "databases": ["app"], "to": "../var/backups", "keep": 1 } } }
        """)
        var ids: [String] = []
        for round in 1...4 {
            let taken = try project.run("backup", "nb")
            #expect(taken.code == 0, "\(taken.all)")
            ids.append(try #require(taken.stdout.components(separatedBy: "backup set ").dropFirst().first?.split(separator: " ").first.map(String.init)))
            let left = try FileManager.default.contentsOfDirectory(atPath: project.root + "/var/backups")
            #expect(left == [ids.last!], "round \(round): \(left)")
        }
        let plan = try project.run("plan")
        #expect(plan.code == 0 && plan.stdout.contains("No changes"), "\(plan.all)")
    }

    /// A project whose SQLite instance `a` holds `app` (one row) and whose backup `nb` keeps one set
    /// in `var/backups` (`location`); `take` runs `ferry backup nb`, expects exit 0 and gives the
    /// new set's id and the output.
    func keepOneBackupOfAnApp() throws -> (Project, location: String, take: () throws -> (id: String, out: String)) {
        let project = try Project()
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try exec(project, "var/a/app.db", "CREATE TABLE t(v TEXT); INSERT INTO t VALUES ('x');")
        try project.write("plans/main.json", """
        { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
          "backups": { "nb": { "of": "a", "databases": ["app"], "to": "../var/backups", "keep": 1 } } }
        """)
        let location = project.root + "/var/backups"
        func take() throws -> (id: String, out: String) {
            let taken = try project.run("backup", "nb")
            #expect(taken.code == 0, "\(taken.all)")
            return (try #require(taken.stdout.components(separatedBy: "backup set ").dropFirst().first?.split(separator: " ").first.map(String.init)), taken.all)
        }
        return (project, location, take)
    }

    /// Fresh tester round 36, F3 and F4: a note put into an old set's folder survived its prune,
    /// and the next backup's prune took the folder with the note ("removed" again); each copy of a
    /// set's folder a user made (its manifest carrying the set's id) printed another "removed".
    /// Now the note stays through every later prune, the first prune names what it left, and a
    /// copy is neither a set nor removed nor reported.
    @Test func aUsersFileInAnOldSetsFolderOutlivesEveryPrune() throws {
        let (project, location, take) = try keepOneBackupOfAnApp()
        let first = try take().id
        try "my note".write(toFile: "\(location)/\(first)/notes.txt", atomically: true, encoding: .utf8)
        let second = try take()
        #expect(second.out.contains("removed backup set \(first)") && second.out.contains("its folder is left") && second.out.contains("notes.txt"), "\(second.out)")
        // The user's copies of the newest set: one under a set-like name, one under another.
        try FileManager.default.copyItem(atPath: "\(location)/\(second.id)", toPath: "\(location)/20200101T000000000Z-abcdef")
        try FileManager.default.copyItem(atPath: "\(location)/\(second.id)", toPath: "\(location)/my-archive-copy")
        for _ in 1...2 {
            let next = try take()
            #expect(!next.out.contains("removed backup set \(first)"), "the first set is not removed again: \(next.out)")
            #expect(next.out.components(separatedBy: "removed backup set ").count <= 2, "one removal per backup: \(next.out)")
        }
        #expect(try String(contentsOfFile: "\(location)/\(first)/notes.txt", encoding: .utf8) == "my note")
        #expect(FileManager.default.fileExists(atPath: "\(location)/20200101T000000000Z-abcdef/manifest.json"), "the user's copy stays")
        #expect(FileManager.default.fileExists(atPath: "\(location)/my-archive-copy/manifest.json"))
    }

    /// Fresh tester round 41, F4: `ferry rollback RUN` of a backup run whose prune removed the
    /// older set put the backup's record back as it was before the run: the pruned set listed
    /// forever, the run's own set recorded nowhere (never pruned). The record keeps the sets as
    /// the location holds them: the next backup prunes the run's set, and the folder holds one.
    @Test func aRollbackOfAPruningBackupRunKeepsTheSetsAsTheyAre() throws {
        let (project, location, take) = try keepOneBackupOfAnApp()
        let first = try take().id
        let second = try take()
        #expect(second.out.contains("removed backup set \(first)"), "\(second.out)")
        let run = try #require(second.out.range(of: #"[0-9]{8}T[0-9]{9}Z-[0-9a-f]{6}"#, options: .regularExpression).map { String(second.out[$0]) })
        let rollback = try project.run("rollback", run)
        #expect(rollback.code == 0, "\(rollback.all)")
        // Round 42, L1: not "its targets hold what they held before it" of sets it cannot undo.
        #expect(rollback.stdout.contains("it replaced or made no database") && rollback.stdout.contains("the backup set it took stays and the sets it pruned stay removed")
                && !rollback.stdout.contains("hold what they held before"), "\(rollback.all)")
        let listed = try project.run("state", "show", "backup.nb")
        #expect(listed.stdout.contains(second.id) && !listed.stdout.contains(first), "\(listed.all)")
        let third = try take()
        #expect(third.out.contains("removed backup set \(second.id)") && !third.out.contains(first), "\(third.out)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: location) == [third.id])
    }

    /// Fresh tester round 41, F8: an old set whose `manifest.json` someone removed, with their own
    /// file put at the set's `app.db` (another size, or the same size): the next backup's prune
    /// deleted it by name alone. Nothing in such a folder is proven the set's: the prune forgets
    /// the set, says so, and leaves the folder whole; the next backup does not name it again.
    @Test(arguments: [false, true]) func aUsersFileInASetWithoutItsManifestOutlivesThePrune(sameSize: Bool) throws {
        let (project, location, take) = try keepOneBackupOfAnApp()
        let first = try take().id
        let path = "\(location)/\(first)/app.db"
        var mine = try Data(contentsOf: URL(fileURLWithPath: path))
        if sameSize { mine[mine.count - 1] ^= 0xFF } else { mine = Data("MY OWN shop.db".utf8) }
        try FileManager.default.removeItem(atPath: "\(location)/\(first)/manifest.json")
        try mine.write(to: URL(fileURLWithPath: path))
        let second = try take()
        #expect(second.out.contains("has no manifest") && second.out.contains("app.db") && !second.out.contains("removed backup set \(first)"), "\(second.out)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == mine, "the user's file stays as they wrote it")
        let third = try take()
        #expect(!third.out.contains(first), "not named again: \(third.out)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == mine)
        #expect(!FileManager.default.fileExists(atPath: "\(location)/\(second.id)"), "a set with its manifest is pruned as before")
        #expect(try project.run("plan").code == 0)
    }

    /// Fresh tester round 38b, F4: a user's own file put at the name of an old set's file
    /// (`app.db`: a corrected export kept beside the manifest) went with the prune. A set's file
    /// is removed only while its size and SHA-256 are the ones its manifest recorded; another
    /// stays, and the prune names it. Another size, and the same size with other bytes.
    @Test(arguments: [false, true]) func aUsersFileAtASetsFileNameOutlivesThePrune(sameSize: Bool) throws {
        let (project, location, take) = try keepOneBackupOfAnApp()
        let first = try take().id
        let path = "\(location)/\(first)/app.db"
        var mine = try Data(contentsOf: URL(fileURLWithPath: path))
        if sameSize { mine[mine.count - 1] ^= 0xFF } else { mine = Data("MY OWN DATA".utf8) }
        try mine.write(to: URL(fileURLWithPath: path))
        let second = try take()
        #expect(second.out.contains("its folder is left") && second.out.contains("app.db"), "\(second.out)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == mine, "the user's file stays as they wrote it")
        #expect(!FileManager.default.fileExists(atPath: "\(location)/\(first)/manifest.json"), "the set itself is gone (no longer listed)")
        let third = try take()
        #expect(!third.out.contains("removed backup set \(first)"), "not removed again: \(third.out)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == mine)
        // The sets Ferry wrote whole are pruned as before.
        #expect(!FileManager.default.fileExists(atPath: "\(location)/\(second.id)"), "an untouched old set goes whole")
    }

    /// Fresh tester round 37b, F2 and M2: a set folder whose manifest is gone was pruned by the
    /// names the backup gives its databases' files; files whose names only start with one
    /// (`app.db.bak`, `app.dbx`, `app.db-old`) were taken too, prune after prune. Since round 41,
    /// F8, not even the exact name goes (nothing proves it the set's without the manifest): the
    /// set is forgotten once, said so, and its folder is left whole.
    @Test func aFolderWithoutItsManifestLosesOnlyTheSetsOwnFileByItsExactName() throws {
        let project = try Project()
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try exec(project, "var/a/app.db", "CREATE TABLE t(v TEXT); INSERT INTO t VALUES ('x');")
        try project.write("plans/main.json", """
        { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
          "backups": { "nb": { "of": "a", "databases": ["app"], "to": "../var/backups", "keep": 1 } } }
        """)
        let location = project.root + "/var/backups"
        let first = try project.run("backup", "nb")
        #expect(first.code == 0, "\(first.all)")
        let id = try #require(first.stdout.components(separatedBy: "backup set ").dropFirst().first?.split(separator: " ").first.map(String.init))
        #expect(FileManager.default.fileExists(atPath: "\(location)/\(id)/app.db"), "\(first.all)")
        try FileManager.default.removeItem(atPath: "\(location)/\(id)/manifest.json")
        let mine = ["app.db.bak", "app.dbx", "app.db-old", "app.db.orig.txt"]
        for name in mine { try "the user's \(name)".write(toFile: "\(location)/\(id)/\(name)", atomically: true, encoding: .utf8) }
        for round in 1...2 {
            let next = try project.run("backup", "nb")
            #expect(next.code == 0, "\(next.all)")
            #expect(!next.all.contains("removed backup set \(id)"), "round \(round): \(next.all)")
            #expect(next.all.contains("has no manifest") == (round == 1), "round \(round): \(next.all)")
        }
        #expect(FileManager.default.fileExists(atPath: "\(location)/\(id)/app.db"), "without the manifest nothing is proven the set's")
        for name in mine {
            #expect(try String(contentsOfFile: "\(location)/\(id)/\(name)", encoding: .utf8) == "the user's \(name)", "\(name) stays")
        }
    }

    /// Fresh tester round 37b, F1 (and F5): the rollback of a backup that was killed or failed
    /// removed its new set's folder whole, a user's file put in it included, and said "as they
    /// were". It takes only the names the run journaled before writing (each database's file,
    /// the manifest and its temporary), names what it left, and keeps the folders then; a folder
    /// replaced by a symbolic link is left and said so, and the run ends.
    @Test func aBackupsRollbackTakesOnlyTheFilesItsRunJournaled() throws {
        let project = try Project()
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try exec(project, "var/a/app.db", "CREATE TABLE t(v TEXT); INSERT INTO t VALUES ('x');")
        try exec(project, "var/a/small.db", "CREATE TABLE s(v TEXT); INSERT INTO s VALUES ('y');")
        try project.write("plans/main.json", """
        { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
          "backups": { "nb": { "of": "a", "databases": ["app", "small"], "to": "../var/backups/new/sub", "keep": 1 } } }
        """)
        let location = project.root + "/var/backups/new/sub"
        func setFolder() throws -> String {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: location)) ?? []
            return try #require(names.first { $0.hasPrefix("20") }, "\(names)")
        }
        // Names close to Ferry's, a folder, and a file beside the set: all the user's.
        let mine = ["user-note.txt", "app.db.bak", "small.db-old", "manifest.json.tmp-99999999", "manifest.json.bak", ".app.db.ferry-part"]
        func addMine(_ folder: String) throws {
            for name in mine { try "the user's \(name)".write(toFile: "\(folder)/\(name)", atomically: false, encoding: .utf8) }
            try FileManager.default.createDirectory(atPath: folder + "/mydir", withIntermediateDirectories: true)
        }
        func expectMine(_ folder: String, _ why: String) throws {
            for name in mine {
                #expect((try? String(contentsOfFile: "\(folder)/\(name)", encoding: .utf8)) == "the user's \(name)", "\(why): \(name)")
            }
            #expect(FileManager.default.fileExists(atPath: folder + "/mydir"), "\(why): mydir")
            let left = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
            #expect(left == (mine + ["mydir"]).sorted(), "\(why): Ferry's files go, nothing else: \(left)")
        }

        // 1. Killed after the first file was written; the user's files go into the set's folder.
        project.environment["FERRY_TEST_KILL_AT"] = "change:backup.fileWritten#1"
        let killed = try project.run("backup", "nb")
        project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code != 0, "\(killed.all)")
        let first = location + "/" + (try setFolder())
        #expect(FileManager.default.fileExists(atPath: first + "/app.db"))
        try addMine(first)
        try "mine".write(toFile: project.root + "/var/backups/new/mine.txt", atomically: false, encoding: .utf8)
        let recovered = try project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        #expect(recovered.all.contains("its folder is left: it holds what Ferry did not write"), "\(recovered.all)")
        #expect(recovered.all.contains("app.db.bak"), "\(recovered.all)")
        try expectMine(first, "killed")
        #expect(FileManager.default.fileExists(atPath: project.root + "/var/backups/new/mine.txt"))
        try FileManager.default.removeItem(atPath: first)

        // 2. Stopped after the first file; the user adds files, the second database goes away,
        //    the backup fails and rolls itself back: the same.
        let (stopped, output) = try project.startStopped(["backup", "nb"], at: "change:backup.fileWritten#1")
        let second = location + "/" + (try setFolder())
        try addMine(second)
        try FileManager.default.moveItem(atPath: project.root + "/var/a/small.db", toPath: project.root + "/var/small.db.away")
        stopped.signal(SIGCONT)
        stopped.waitUntilExit()
        let failed = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect(stopped.terminationStatus != 0, "\(failed)")
        #expect(failed.contains("its folder is left"), "\(failed)")
        try expectMine(second, "failed")
        try FileManager.default.moveItem(atPath: project.root + "/var/small.db.away", toPath: project.root + "/var/a/small.db")
        #expect(try project.run("recover").code == 0)
        try FileManager.default.removeItem(atPath: second)

        // 3. Killed; the user replaces the set's folder by a link to their own folder: nothing is
        //    removed through the link, the run ends, the link is named.
        project.environment["FERRY_TEST_KILL_AT"] = "change:backup.fileWritten#1"
        #expect(try project.run("backup", "nb").code != 0)
        project.environment["FERRY_TEST_KILL_AT"] = nil
        let third = location + "/" + (try setFolder())
        try FileManager.default.removeItem(atPath: third)
        let elsewhere = project.root + "/var/elsewhere"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        for name in ["app.db", "manifest.json"] { try "the user's \(name)".write(toFile: "\(elsewhere)/\(name)", atomically: false, encoding: .utf8) }
        try FileManager.default.createSymbolicLink(atPath: third, withDestinationPath: elsewhere)
        let linked = try project.run("recover")
        #expect(linked.code == 0, "\(linked.all)")
        #expect(linked.all.contains("symbolic link"), "\(linked.all)")
        for name in ["app.db", "manifest.json"] {
            #expect((try? String(contentsOfFile: "\(elsewhere)/\(name)", encoding: .utf8)) == "the user's \(name)", "\(name)")
        }
        try FileManager.default.removeItem(atPath: third)

        // 4. Killed, nothing of the user's added: the set's folder and the folders the run made go.
        try FileManager.default.removeItem(atPath: project.root + "/var/backups/new")
        project.environment["FERRY_TEST_KILL_AT"] = "change:backup.fileWritten#2"
        #expect(try project.run("backup", "nb").code != 0)
        project.environment["FERRY_TEST_KILL_AT"] = nil
        let clean = try project.run("recover")
        #expect(clean.code == 0, "\(clean.all)")
        #expect(!FileManager.default.fileExists(atPath: project.root + "/var/backups/new"), "\(clean.all)")

        // 5. Killed; the user adds only a folder of their own: it is named as what was left (M1).
        project.environment["FERRY_TEST_KILL_AT"] = "change:backup.fileWritten#1"
        #expect(try project.run("backup", "nb").code != 0)
        project.environment["FERRY_TEST_KILL_AT"] = nil
        let fifth = location + "/" + (try setFolder())
        try FileManager.default.createDirectory(atPath: fifth + "/only-mine", withIntermediateDirectories: true)
        try "x".write(toFile: fifth + "/only-mine/inner.txt", atomically: false, encoding: .utf8)
        let named = try project.run("recover")
        #expect(named.code == 0, "\(named.all)")
        #expect(named.all.contains("its folder is left") && named.all.contains("only-mine/"), "\(named.all)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: fifth) == ["only-mine"])
        try FileManager.default.removeItem(atPath: fifth)
        #expect(try project.run("backup", "nb").code == 0)
    }
}
