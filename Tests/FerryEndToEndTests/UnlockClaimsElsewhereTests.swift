import Foundation
import Testing

/// Round-14 fresh tester A3: `ferry unlock --claims INSTANCE RUN` run from a second working copy
/// (another state directory, the same plans) while the dead run's own state directory still
/// holds its journal released the claims at once; a run from the second copy then committed over
/// the target, and the dead run's `ferry recover` in the first restored its checkpoint over that
/// run's target ("restored ... as they were before"). Now (1) each claim records where its
/// run's journal is, and the unlock refuses while that directory still holds it, naming it and
/// `ferry recover`; (2) a recover whose run's claims were released anyway (the directory was
/// away meanwhile) restores nothing over the target, and says why, until the user chooses.
@Suite(.serialized) struct UnlockClaimsElsewhereTests {
    /// What a recover says of a target whose swap another copy's recover (or someone) undid.
    static let undoneByOthers = "nothing of the run's swap is there any more"
    let sqlite = SQLiteImportCLITests()
    let mysql = MySQLCLITests()
    let postgres = PostgresCLITests()

    /// What each engine's case gives the common steps.
    struct Case {
        var first: Project
        var second: Project
        /// The instance's name in both plans.
        var instance: String
        /// The target's one row (`v`) as it is now.
        var row: () throws -> String
        var cleanUp: () -> Void = {}
        /// Holds a session on the target (PostgreSQL's undo then waits and fails); returns what
        /// ends it.
        var holdTarget: (() throws -> () -> Void)?
    }

    /// The steps: a replace killed at `point` in `first`; `ferry unlock --claims` from `second`
    /// refused while `first` holds the journal; released once `first`'s state directory is away;
    /// a replace from `second` committed (its data's row `later`, or the same data when
    /// `later` is nil); then `ferry recover` in `first` restores nothing over it. `choice` is
    /// how the user then finishes it (`--keep-later-writes` / `--discard-later-writes`);
    /// `writtenCheck`: the run journaled its post-swap content token (killed after its swap).
    func walk(_ c: Case, killedAt point: String, later: String?, choice: String, writtenCheck: Bool = true, incompleteFirstPass: Bool = false) throws {
        try walk(c, start: { try c.first.killed(["apply", "--auto-approve"], at: point) }, later: later, choice: choice,
                 writtenCheck: writtenCheck, incompleteFirstPass: incompleteFirstPass)
    }

    /// `releasedSays`: what the release's listing says of what the run left.
    func walk(_ c: Case, start: () throws -> Void, later: String?, choice: String, writtenCheck: Bool = true, incompleteFirstPass: Bool = false,
              releasedSays: [String] = []) throws {
        try start()
        if incompleteFirstPass, let hold = c.holdTarget {
            // A first recover pass that cannot finish (a session on the target): it keeps the
            // run's claims, so a claim gone before the next pass was released by someone else
            // (fresh tester round 21, H1).
            let release = try hold()
            c.first.environment["FERRY_PG_SWAP_WAIT_SECONDS"] = "1"
            let first = try c.first.run("recover")
            c.first.environment["FERRY_PG_SWAP_WAIT_SECONDS"] = nil
            release()
            // The hint names the command to run again, not an apply (round 21, H6 a).
            #expect(first.code == 4 && !first.all.contains("as they were") && !first.all.contains("and apply again"), "\(first.all)")
        }
        let runs = try FileManager.default.contentsOfDirectory(atPath: c.first.root + "/.ferry/runs")
        let run = try #require(runs.first)
        let state = try #require(realpath(c.first.root + "/.ferry", nil).map { p in defer { free(p) }; return String(cString: p) })

        // The status says of each claim whether its instance still holds it (round 69, F4).
        let before = try c.first.run("status")
        #expect(before.stdout.contains("\(c.instance)/") && before.stdout.contains(" (held)") && !before.stdout.contains("released since"), "\(before.all)")

        // (1) Refused while the first working copy's state directory holds the journal.
        let refused = try c.second.run("unlock", "--claims", c.instance, run)
        #expect(refused.code != 0 && refused.all.contains("WrongStatus") && refused.all.contains(state)
                && refused.all.contains("ferry recover") && !refused.all.contains("Released"), "\(refused.all)")
        let blocked = try c.second.run("apply", "--auto-approve")
        #expect(blocked.code != 0 && blocked.all.contains(run), "the claims still keep other runs off: \(blocked.all)")

        // The first state directory away (another host's, say): released, with no refusal.
        try FileManager.default.moveItem(atPath: c.first.root + "/.ferry", toPath: c.first.root + "/.ferry-away")
        let released = try c.second.run("unlock", "--claims", c.instance, run)
        #expect(released.code == 0 && released.all.contains("Released"), "\(released.all)")
        for words in releasedSays { #expect(released.all.contains(words), "\(released.all)") }
        try FileManager.default.moveItem(atPath: c.first.root + "/.ferry-away", toPath: c.first.root + "/.ferry")
        let after = try c.first.run("status")
        #expect(after.stdout.contains("(released since: no longer on the instance)") && !after.stdout.contains(" (held)"),
                "the status reads the claims from the instance, not the journal alone: \(after.all)")

        // A later run from the second working copy commits over the target.
        let applied = try c.second.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let afterLater = try c.row()
        #expect(afterLater == (later ?? "imported"), "the later run's data: \(afterLater)")

        // (2) The dead run's recover restores nothing over it, and never says so.
        let held = try c.first.run("recover")
        #expect(held.code == 4 && held.all.contains("were released") && held.all.contains("--discard-later-writes"), "\(held.all)")
        #expect(!held.all.contains("restored \(c.instance)/") && !held.all.contains("as they were"), "\(held.all)")
        #expect(try c.row() == afterLater, "the later run's target is left as it is")
        #expect(try c.first.run("plan").all.contains("RunInterrupted"), "the run stays pending")

        let finished = try c.first.run("recover", choice)
        if choice == "--keep-later-writes" {
            #expect(finished.code == 4 && !finished.all.contains("as they were") && !finished.all.contains("restored \(c.instance)/"), "\(finished.all)")
            #expect(try c.row() == afterLater, "kept as it is")
            // Left for its released claims, never said written (round 71, F1).
            #expect(finished.all.contains("were left because the run's claims on them were released") && !finished.all.contains("were written after their swap"), "\(finished.all)")
            let status = try c.first.run("status")
            #expect(status.stdout.contains("whose claims were released after the run stopped") && !status.stdout.contains("written after the swap"), "\(status.all)")
        } else if !writtenCheck {
            // MariaDB, killed inside its swap (no post-swap token): the table under the run's
            // name is the later run's, another InnoDB table than the one the swap moved in
            // (fresh tester round 15, B2), so even `--discard-later-writes` does not move it out
            // of the target: Ferry never moves what it cannot prove it made.
            #expect(finished.code == 4 && finished.all.contains("which is not the run's") && !finished.all.contains("as they were"), "\(finished.all)")
            #expect(try c.row() == afterLater, "kept as it is: \(finished.all)")
            return
        } else {
            // The journal's post-swap token still tells the later run's other data: a write
            // since the swap, which no recover of an apply run discards.
            #expect(finished.code == 4 && finished.all.contains("was written after the run swapped it in") && !finished.all.contains("as they were"), "\(finished.all)")
            #expect(try c.row() == afterLater, "kept as it is")
        }
        let again = try c.first.run("recover")
        #expect(again.code == 0 && again.all.contains("Nothing to recover"), "\(again.all)")
    }

    /// What cannot be checked from here is said before the release: a journal on another host,
    /// one in a server state this command does not use, claims of an earlier release. A
    /// directory on this host that no longer holds the run (recovered, or gone) is no refusal.
    @Test func whatTheUnlockCannotCheckItSays() throws {
        let project = try Project()
        #expect(try project.run("init", ".").code == 0)
        let inputs = InputsCLITests()
        let dead = try inputs.deadPID()
        let host = ProcessInfo.processInfo.hostName
        let cases: [([String: Any], String)] = [
            (["host": "elsewhere.example", "pid": 1, "journal": "/work/other/.ferry"], "cannot be checked from this host"),
            (["host": host, "pid": dead, "journal": "postgres://ferry@db.example:5432/postgres?schema=ferry"], "which this command does not use"),
            (["host": host, "pid": dead], "do not say where its journal is"),
            (["host": host, "pid": dead, "journal": project.root + "/gone/.ferry"], "Released"),
        ]
        for (index, (fields, said)) in cases.enumerated() {
            let run = "20260101T000000000Z-far\(index)0"
            var claim: [String: Any] = ["database": "app_test", "role": "Importing", "runID": run, "holder": "ci"]
            claim.merge(fields) { $1 }
            try inputs.writeClaims(project, directory: "var/test", [claim])
            // It left a shadow: a dead run's claim is then not cleared as dead.
            try project.write("var/test/.app_test.ferry-shadow-\(run).db", "")
            let released = try project.run("unlock", "--claims", "test", run)
            #expect(released.code == 0 && released.stdout.contains(said) && released.stdout.contains("Released the claims"), "\(released.all)")
        }
    }

    /// Round 69, F3: a checkout without an import's dump (a wiped CI workspace fetched again
    /// without its artifacts) still releases a dead run's claims: the plan's errors outside its
    /// instances are shown as warnings. An error in the instance itself still stops it, and
    /// nothing is released.
    @Test func aCheckoutWithoutItsDumpStillReleasesADeadRunsClaims() throws {
        let project = try Project()
        #expect(try project.run("init", ".").code == 0)
        let plan = try String(contentsOfFile: project.root + "/plans/main.json", encoding: .utf8)
        let source = try #require(plan.firstMatch(of: /"from": "([^"]+)"/).map { String($0.1) })
        try FileManager.default.removeItem(atPath: project.root + "/plans/" + source)
        #expect(try project.run("plan").code == 1, "the plan itself is refused without its dump")
        let inputs = InputsCLITests()
        let run = "20260101T000000000Z-nodump"
        try inputs.writeClaims(project, directory: "var/test", [["database": "app_test", "role": "Importing", "runID": run, "holder": "ci",
                                                                 "host": ProcessInfo.processInfo.hostName, "pid": try inputs.deadPID(),
                                                                 "journal": project.root + "/gone/.ferry"]])
        try project.write("var/test/.app_test.ferry-shadow-\(run).db", "")
        // An error in the instances block still stops it, before anything is released.
        try project.write("plans/broken.json", #"{ "ferry": 1, "instances": { "test2": { "engine": "sqlite" } } }"#)
        let broken = try project.run("unlock", "--claims", "test", run)
        #expect(broken.code == 1 && !broken.all.contains("Released"), "\(broken.all)")
        try FileManager.default.removeItem(atPath: project.root + "/plans/broken.json")
        let released = try project.run("unlock", "--claims", "test", run)
        #expect(released.code == 0 && released.stdout.contains("Released the claims of run \(run)"), "\(released.all)")
        #expect(released.stderr.contains("warning[") && released.stderr.contains("set aside"), "the missing dump is still said: \(released.all)")
        let again = try project.run("unlock", "--claims", "test")
        #expect(again.code == 0 && again.stdout.contains("No run holds claims on test."), "\(again.all)")
    }

    /// Fresh tester round 71, F3: `ferry status` of a PostgreSQL run killed in its build said
    /// "(the instance could not be read now)" once the plan spelled the server `localhost`
    /// instead of `127.0.0.1`; the run journaled the server's identity, which decides.
    @Test func statusReadsAServerWhateverThePlansSpellingOfItsAddress() throws {
        let project = try Project()
        let a = try postgres.server("FERRY_TEST_PG_A"), b = try postgres.server("FERRY_TEST_PG_B")
        let tag = "pl" + UUID().uuidString.prefix(6).lowercased()
        defer {
            _ = try? project.run("recover")
            for (server, db) in [(a, tag), (b, tag)] { _ = try? postgres.sql(project, server, "postgres", "DROP DATABASE IF EXISTS \"\(db)\" WITH (FORCE);") }
        }
        try postgres.seed(project, a, tag)
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(postgres.instances(a, b)) },
              "copies": { "mirror": { "from": "src", "to": "dst", "databases": ["\(tag)"] } } }
            """)
        try project.killed(["apply", "--auto-approve"], at: "after-shadowCreated#1")
        #expect(try project.run("status").stdout.contains("dst/\(tag): Importing (held)"))
        let plan = try #require(project.read("plans/main.json"))
        #expect(plan.contains("127.0.0.1"))
        try project.write("plans/main.json", plan.replacingOccurrences(of: "127.0.0.1", with: "localhost"))
        let status = try project.run("status")
        #expect(status.stdout.contains("dst/\(tag): Importing (held)") && !status.stdout.contains("could not be read"), "\(status.all)")
    }

    /// Round 16, C2 and C4: `ferry unlock --claims INSTANCE` lists every recorded claim, a dead
    /// run's that the next run would clear as having left nothing included (it said "No run
    /// holds claims" while the row was there), and for a rollback run the reverted run's
    /// checkpoint (it said "it left no shadow or checkpoint"), without saying it was being "put
    /// back" (round 17, D2: that was said of the reverted run's shadow too), and never to remove
    /// it unchecked.
    @Test func unlockListsEveryRecordedClaimAndARollbacksRevertedRun() throws {
        let project = try Project()
        #expect(try project.run("init", ".").code == 0)
        let inputs = InputsCLITests()
        let dead = try inputs.deadPID()
        let host = ProcessInfo.processInfo.hostName
        let reverted = "20260101T000000000Z-orig01"
        let cases: [(claim: [String: Any], said: [String])] = [
            (["runID": "20260101T000000000Z-idle01"], ["it left no shadow or checkpoint"]),
            (["runID": "20260101T000000000Z-back01", "reverts": reverted],
             ["it is a rollback of run \(reverted), cut short", ".app_test.ferry-ckpt-\(reverted).db", "depends on where the rollback stopped",
              "it left nothing under its own name", "never one that may hold what a target held before"]),
        ]
        try project.write("var/test/.app_test.ferry-ckpt-\(reverted).db", "")
        for (fields, said) in cases {
            var claim: [String: Any] = ["database": "app_test", "role": "Importing", "holder": "ci", "host": host, "pid": dead]
            claim.merge(fields) { $1 }
            try inputs.writeClaims(project, directory: "var/test", [claim])
            let run = try #require(fields["runID"] as? String)
            let released = try project.run("unlock", "--claims", "test")
            #expect(released.code == 0 && released.stdout.contains("Run \(run) holds on test") && released.stdout.contains("Released the claims of run \(run)"), "\(released.all)")
            for text in said { #expect(released.stdout.contains(text), "\(text): \(released.all)") }
            #expect(!released.all.contains("No run holds claims"), "\(released.all)")
        }
    }

    // MARK: SQLite

    func sqliteCase(later: String?) throws -> Case {
        let first = try Project()
        let second = try Project()
        try FileManager.default.createDirectory(atPath: first.root + "/var/a", withIntermediateDirectories: true)
        try sqlite.exec(first.root + "/var/a/app.db", "CREATE TABLE t(v); INSERT INTO t VALUES ('user-original');")
        try first.write("plans/data/new.sql", "CREATE TABLE t(v);\nINSERT INTO t VALUES ('imported');\n")
        try second.write("plans/data/new.sql", "CREATE TABLE t(v);\nINSERT INTO t VALUES ('\(later ?? "imported")');\n")
        try first.write("plans/main.json", sqlite.plan(from: "data/new.sql"))
        try second.write("plans/main.json", sqlite.plan(from: "data/new.sql").replacingOccurrences(of: "\"../var/a\"", with: "\"\(first.root)/var/a\""))
        return Case(first: first, second: second, instance: "a",
                    row: { try first.query("var/a/app.db", "SELECT v FROM t").map { $0.joined() }.joined(separator: ",") })
    }

    /// Killed at its swap, before and after the swap's record. SQLite's content token tells the
    /// later run's file from the run's own either way (it holds the file's identity), so a
    /// `--discard-later-writes` still leaves it; the claims check comes first and says why.
    @Test(arguments: [("before-swapDone#1", "--keep-later-writes", nil), ("before-swapDone#1", "--discard-later-writes", nil),
                      ("after-swapDone#1", "--keep-later-writes", nil), ("after-swapDone#1", "--discard-later-writes", "later-run")] as [(String, String, String?)])
    func sqliteReplaceKilledAtItsSwap(point: String, choice: String, later: String?) throws {
        try walk(try sqliteCase(later: later), killedAt: point, later: later, choice: choice)
    }

    // MARK: MariaDB

    func mysqlCase(later: String?) throws -> Case {
        let server = try mysql.server("FERRY_TEST_MYSQL_A")
        let first = try Project()
        let second = try Project()
        let db = "uc\(UUID().uuidString.prefix(6).lowercased())"
        try mysql.sql(first, server, "DROP DATABASE IF EXISTS `\(db)`; CREATE DATABASE `\(db)`; CREATE TABLE `\(db)`.t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO `\(db)`.t VALUES (1, 'user-original'); CREATE VIEW `\(db)`.vw AS SELECT v FROM `\(db)`.t;")
        for (project, value) in [(first, "imported"), (second, later ?? "imported")] {
            try project.write("plans/data/a.sql", "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20));\nINSERT INTO t VALUES (1, '\(value)');\n")
            try project.write("plans/main.json", """
                { "ferry": 1,
                  "instances": { "m": { "engine": "mysql", "url": "\(server.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
                  "imports": { "ia": { "into": "m", "database": "\(db)", "from": "data/a.sql", "onExisting": "replace" } } }
                """)
        }
        return Case(first: first, second: second, instance: "m",
                    row: { try self.mysql.sql(first, server, "SELECT v FROM `\(db)`.t;").trimmingCharacters(in: .whitespacesAndNewlines) },
                    cleanUp: {
                        guard let names = try? self.mysql.sql(first, server, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '\(db)%';") else { return }
                        for name in names.split(separator: "\n") { _ = try? self.mysql.sql(first, server, "DROP DATABASE IF EXISTS `\(name)`;") }
                    })
    }

    /// Killed after its swap (the tester's a7: the later run copies the same data), and in the
    /// middle of its swap (a8: its tables renamed, its views not yet), with other data.
    @Test(arguments: [("after-swapDone#1", nil, "--keep-later-writes"), ("change:mysql.swap.renamed", "later-run", "--keep-later-writes"),
                      ("change:mysql.swap.renamed", "later-run", "--discard-later-writes")] as [(String, String?, String)])
    func mariadbReplaceKilled(point: String, later: String?, choice: String) throws {
        let c = try mysqlCase(later: later)
        defer { c.cleanUp() }
        try walk(c, killedAt: point, later: later, choice: choice, writtenCheck: point == "after-swapDone#1")
    }

    /// Fresh tester round 21, H4: a MariaDB import whose apply's rollback stopped part-way (its
    /// journal could not take a record: a full state directory), its undo begun (the target's
    /// tables back, its view in the checkpoint); the claims then released from a second working
    /// copy and a later run applied there. The recover said "dropped ... by someone else" and
    /// ended the run; it asks about the released claims like any other pass now.
    @Test func mariadbAnImportWhoseRollbackStoppedInItsUndoAsksAboutReleasedClaims() throws {
        let c = try mysqlCase(later: "later-run")
        defer { c.cleanUp() }
        try walk(c, start: {
            // The swap's record fails (the apply rolls back), the undo's first record is written
            // and a later one fails (its undo stops), then the rollback's end is written
            // ("incomplete"): the tester's journal, `undoBegun` then `rolledBack "incomplete"`.
            for n in 10...11 {
                for m in (n + 4)...(n + 5) {
                  for k in 0...2 {
                    let spec = "\(n)-\(n),\(m)-\(m + k)"
                    c.first.environment["FERRY_TEST_FAIL_WRITE_AT"] = spec
                    let apply = try c.first.run("apply", "--auto-approve")
                    c.first.environment["FERRY_TEST_FAIL_WRITE_AT"] = nil
                    let runs = (try? FileManager.default.contentsOfDirectory(atPath: c.first.root + "/.ferry/runs")) ?? []
                    let journal = runs.first.flatMap { c.first.read(".ferry/runs/\($0)/journal.jsonl") } ?? ""
                    if apply.all.contains("rollback is incomplete"), journal.contains("\"undoBegun\""), journal.contains("\"rolledBack\"") { return }
                    if !runs.isEmpty { #expect(try c.first.run("recover").code == 0) }
                    try? FileManager.default.removeItem(atPath: c.first.root + "/.ferry/runs")
                  }
                }
            }
            Issue.record("no failing journal record left the rollback incomplete inside its undo")
        }, later: "later-run", choice: "--keep-later-writes")
    }

    /// A MariaDB replace killed in its swap, then its recover killed right after its undo moved
    /// the target's tables back (its view still only in the checkpoint's saved definitions):
    /// the release's listing says the target may lack its views and routines too, not only its
    /// triggers and events (fresh tester round 21, H6 d), and never to remove that checkpoint.
    /// The recover then holds for the released claims, and `--discard-later-writes` finishes
    /// the undo: the target as it was, its view made again.
    @Test func mariadbAReleaseAfterAnUndoMovedTheTablesBackSaysTheViewsAreStillSaved() throws {
        let c = try mysqlCase(later: nil)
        defer { c.cleanUp() }
        let server = try mysql.server("FERRY_TEST_MYSQL_A")
        let db = try #require(c.first.read("plans/main.json")?.components(separatedBy: "\"database\": \"").dropFirst().first?.components(separatedBy: "\"").first)
        let views = { try self.mysql.sql(c.first, server, "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '\(db)';") }
        #expect(try views() == "vw\n")
        try c.first.killed(["apply", "--auto-approve"], at: "change:mysql.swap.renamed")
        c.first.environment["FERRY_TEST_KILL_AT"] = "change:mysql.undo.renamed"
        let killed = try c.first.run("recover")
        c.first.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code == 137 || killed.code == SIGKILL, "\(killed.all)")
        #expect(try c.row() == "user-original" && (try views()) == "", "the tables are back, the view is not yet")
        let run = try #require(try FileManager.default.contentsOfDirectory(atPath: c.first.root + "/.ferry/runs").first)
        try FileManager.default.moveItem(atPath: c.first.root + "/.ferry", toPath: c.first.root + "/.ferry-away")
        let released = try c.second.run("unlock", "--claims", c.instance, run)
        try FileManager.default.moveItem(atPath: c.first.root + "/.ferry-away", toPath: c.first.root + "/.ferry")
        #expect(released.code == 0 && released.all.contains("no table of \(db)'s") && released.all.contains("may lack the views, routines, triggers and events saved there")
                && released.all.contains("never a checkpoint named above"), "\(released.all)")
        let held = try c.first.run("recover")
        #expect(held.code == 4 && held.all.contains("were released") && !held.all.contains("as they were"), "\(held.all)")
        let finished = try c.first.run("recover", "--discard-later-writes")
        #expect(finished.code == 0 && finished.all.contains("as they were before"), "\(finished.all)")
        #expect(try c.row() == "user-original" && (try views()) == "vw\n", "\(finished.all)")
    }

    // MARK: PostgreSQL

    func postgresCase(later: String?) throws -> Case {
        let server = try postgres.server("FERRY_TEST_PG_A")
        let first = try Project()
        let second = try Project()
        let db = "uc\(UUID().uuidString.prefix(6).lowercased())"
        try postgres.sql(first, server, "postgres", "DROP DATABASE IF EXISTS \(db) WITH (FORCE); CREATE DATABASE \(db);")
        try postgres.sql(first, server, db, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'user-original');")
        for (project, value) in [(first, "imported"), (second, later ?? "imported")] {
            try project.write("plans/data/a.sql", "CREATE TABLE t (id int PRIMARY KEY, v text);\nINSERT INTO t VALUES (1, '\(value)');\n")
            try project.write("plans/main.json", """
                { "ferry": 1,
                  "instances": { "p": { "engine": "postgres", "url": "\(server.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
                  "imports": { "ia": { "into": "p", "database": "\(db)", "from": "data/a.sql", "onExisting": "replace", "owner": "ferry_plain" } } }
                """)
        }
        return Case(first: first, second: second, instance: "p",
                    row: { try self.postgres.sql(first, server, db, "SELECT v FROM t;").trimmingCharacters(in: .whitespacesAndNewlines) },
                    cleanUp: {
                        guard let names = try? self.postgres.databases(first, server, like: "\(db)%") else { return }
                        for name in names.split(separator: "\n") {
                            _ = try? self.postgres.sql(first, server, "postgres", "DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE);", expectSuccess: false)
                        }
                    },
                    holdTarget: {
                        let holder = try self.postgres.holdSession(server, db)
                        for _ in 0..<50 {
                            if try self.postgres.sql(first, server, "postgres", "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ferry_test_holder' AND datname = '\(db)';") != "0\n" { break }
                            Thread.sleep(forTimeInterval: 0.1)
                        }
                        return { self.postgres.release(holder, first, server, db) }
                    })
    }

    /// Fresh tester round 21, H1 (HIGH): the first recover pass could not finish (a session on
    /// the target) and kept the run's claims; the user released them from a second working copy
    /// and applied there; the next pass in the first copy took the claims for released by its
    /// own earlier pass, dropped the later run's database and said "as they were before". A
    /// pass that did not end the run never released them, so the next one asks as the first did.
    @Test func postgresASecondRecoverPassAfterAnIncompleteOneRestoresNothingOverALaterRun() throws {
        let c = try postgresCase(later: "later-run")
        defer { c.cleanUp() }
        try walk(c, killedAt: "after-swapDone#1", later: "later-run", choice: "--keep-later-writes", incompleteFirstPass: true)
    }

    /// The release's listing says the checkpoint holds what the target held before the run (the
    /// only copy): it was listed as a leftover to remove by hand (fresh tester round 21, H5).
    @Test(arguments: [(nil, "--keep-later-writes"), ("later-run", "--discard-later-writes")] as [(String?, String)])
    func postgresReplaceKilledAfterItsSwap(later: String?, choice: String) throws {
        let c = try postgresCase(later: later)
        defer { c.cleanUp() }
        try walk(c, start: { try c.first.killed(["apply", "--auto-approve"], at: "after-swapDone#1") }, later: later, choice: choice,
                 releasedSays: ["is the checkpoint of uc", "no leftover: it holds what uc", "never a checkpoint named above"])
    }

    // MARK: A copied project (fresh tester round 21, H2 and H3)

    /// A replace killed at `point` in `first`; the project then copied with its state directory
    /// (`cp -a`). The copy's `ferry recover` is refused while `first` holds the run unfinished
    /// (its claims name `first`'s state directory), changing nothing; then both recover at once
    /// (the tester's H2: both undid the run, the MariaDB target lost its view, one said "as
    /// they were before"), and the target ends as it was; a recover in the copy afterwards says
    /// the run ended in `first` and restores nothing.
    func copiedProjectWalk(_ c: Case, killedAt point: String, extra: () throws -> String = { "" }) throws {
        let before = try c.row(), beforeExtra = try extra()
        try c.first.killed(["apply", "--auto-approve"], at: point)
        let run = try #require(try FileManager.default.contentsOfDirectory(atPath: c.first.root + "/.ferry/runs").first)
        let state = try #require(realpath(c.first.root + "/.ferry", nil).map { p in defer { free(p) }; return String(cString: p) })
        let copy = try c.first.copies(1)[0]
        let plan = try #require(copy.read("plans/main.json"))
        try copy.write("plans/main.json", plan.replacingOccurrences(of: "\"../var/a\"", with: "\"\(c.first.root)/var/a\""))
        let midRun = try c.row()

        let refused = try copy.run("recover")
        #expect(refused.code == 1 && refused.all.contains("WrongStatus") && refused.all.contains(state) && refused.all.contains(run)
                && !refused.all.contains("restored") && !refused.all.contains("as they were"), "\(refused.all)")
        #expect(try c.row() == midRun, "the refused recover changed nothing")

        // Both at once: only the one in the directory the claims name undoes the run. The first
        // is held once its undo is done, before its end is journaled, so that the copy's runs
        // while it is live (an SQLite recover can end before a second process starts).
        let (a, outFirst) = try c.first.startStopped(["recover"], at: "before-rolledBack#1")
        let outCopy = copy.root + "/recover.out"
        _ = FileManager.default.createFile(atPath: outCopy, contents: nil)
        let b = try copy.start(["recover"], stdout: try FileHandle(forWritingTo: URL(fileURLWithPath: outCopy)))
        b.waitUntilExit()
        a.signal(SIGCONT)
        a.waitUntilExit()
        let first = (try? String(contentsOfFile: outFirst, encoding: .utf8)) ?? "", second = (try? String(contentsOfFile: outCopy, encoding: .utf8)) ?? ""
        #expect(a.terminationStatus == 0 && first.contains("as they were before"), "\(first)")
        #expect(b.terminationStatus != 0 && !second.contains("as they were") && !second.contains("restored"), "\(second)")
        #expect(try c.row() == before && (try extra()) == beforeExtra, "the target is as it was: \(first)\n\(second)")

        // The run ended in `first`: the copy's stale journal of it is closed, and nothing is
        // done on the instance (the tester's H3: "dropped ... by someone else").
        let stale = try copy.run("recover")
        #expect(stale.code == 0 && stale.all.contains("was rolled back in \(state)") && stale.all.contains("Nothing was done on any instance")
                && !stale.all.contains("restored") && !stale.all.contains("as they were") && !stale.all.contains("someone else"), "\(stale.all)")
        #expect(try copy.run("recover").all.contains("Nothing to recover"))
        let listed = try copy.run("runs").all
        #expect(listed.split(separator: "\n").contains { $0.contains(run) && $0.contains("rolledBack") }, "\(listed)")
        #expect(try c.row() == before && (try extra()) == beforeExtra, "still as it was")
    }

    /// Fresh tester round 22, K1 and K2: the project copied, then the original moved away, so
    /// that neither state directory is the one the run's claims name. Both recover at once:
    /// only one undoes the run (the other finds the claims taken over and changes nothing; on
    /// MariaDB both undid it and the target lost its view). The loser's next recover finds the
    /// claims released by the winner and restores nothing (it said "restored ... as they were
    /// before" over a target it had not touched).
    func movedOriginalWalk(_ c: Case, killedAt point: String, choice: String = "--keep-later-writes", extra: () throws -> String = { "" }) throws {
        let before = try c.row(), beforeExtra = try extra()
        try c.first.killed(["apply", "--auto-approve"], at: point)
        // Two copies, and the original's state directory gone (the project moved or deleted
        // after it was copied; its directory stays for the tests' SQL helpers).
        let made = try c.first.copies(2)
        let copy = made[0], moved = made[1]
        try FileManager.default.moveItem(atPath: c.first.root + "/.ferry", toPath: c.first.root + "/.ferry-gone")

        var outputs: [(Process, String)] = []
        for p in [moved, copy] {
            let out = p.root + "/recover.out"
            _ = FileManager.default.createFile(atPath: out, contents: nil)
            outputs.append((try p.start(["recover"], stdout: try FileHandle(forWritingTo: URL(fileURLWithPath: out))), out))
        }
        var texts: [String] = []
        for (process, out) in outputs {
            process.waitUntilExit()
            texts.append("exit \(process.terminationStatus)\n" + ((try? String(contentsOfFile: out, encoding: .utf8)) ?? ""))
        }
        let all = texts.joined(separator: "\n---\n")
        let winners = zip(outputs, texts).filter { $0.0.0.terminationStatus == 0 }
        #expect(winners.count == 1 && texts.filter { $0.contains("as they were before") }.count == 1, "\(all)")
        #expect(texts.filter { $0.contains("↺ restored") }.count <= 1, "\(all)")
        #expect(try c.row() == before && (try extra()) == beforeExtra, "the target is as it was: \(all)")

        // The loser's next recover: the claims were released by the winner's end.
        let loser = outputs[0].0.terminationStatus == 0 ? copy : moved
        let stale = try loser.run("recover")
        #expect(stale.code == 4 && stale.all.contains("were released") && !stale.all.contains("↺ restored") && !stale.all.contains("as they were"), "\(all)\n---\n\(stale.all)")
        // Its status, after a second pass: the claims are not listed as held, the step once,
        // and the ways out that work (fresh tester round 25, N2: the claims as held, the
        // checkpoint and shadow "to restore" though gone, the same record once a pass, and
        // "Run `ferry recover`", which refuses every time).
        _ = try loser.run("recover")
        let pendingRun = try #require(try FileManager.default.contentsOfDirectory(atPath: loser.root + "/.ferry/runs").first)
        let waiting = try loser.run("status", pendingRun)
        let held = waiting.all.components(separatedBy: "\n").filter { $0.contains("journal record") }
        #expect(waiting.all.contains("released since: none of them is held now") && waiting.all.contains("--keep-later-writes")
                && waiting.all.contains("--discard-later-writes") && !waiting.all.contains("restore from") && !waiting.all.contains("to retry the rollback")
                && held.count == Set(held).count && !held.isEmpty, "\(waiting.all)")
        // Either way out restores nothing there (round 23, L1: `--discard-later-writes` said
        // "restored ... as they were before" over what the winner had restored).
        let kept = try loser.run("recover", choice)
        #expect(kept.code == 4 && !kept.all.contains("as they were") && !kept.all.contains("↺ restored"), "\(kept.all)")
        // Nothing of the swap was there: said so, not "written after their swap" (fresh tester
        // round 25, N3).
        if kept.all.contains(Self.undoneByOthers) {
            #expect(kept.all.contains("nothing of its swaps was left there to undo") && !kept.all.contains("written after their swap"), "\(kept.all)")
        }
        // `ferry status` of the run says why it was left, not that it holds the run's data and
        // cannot be restored (fresh tester round 24, M2).
        let run = try #require(try FileManager.default.contentsOfDirectory(atPath: loser.root + "/.ferry/runs").first)
        let status = try loser.run("status", run)
        #expect(status.all.contains("claims on it were released") && !status.all.contains("holds the run's data") && !status.all.contains("cannot be restored")
                && !status.all.contains("needs a hand"), "\(status.all)")
        #expect(try loser.run("recover").all.contains("Nothing to recover"))
        #expect(try c.row() == before && (try extra()) == beforeExtra, "still as it was")
    }

    @Test(arguments: [("change:mysql.swap.renamed", "--keep-later-writes"), ("after-swapDone#1", "--discard-later-writes"),
                      ("change:mysql.swap.renamed", "--discard-later-writes")])
    func mariadbTwoCopiesOfAMovedProjectRecoverOnce(point: String, choice: String) throws {
        let c = try mysqlCase(later: nil)
        defer { c.cleanUp() }
        let server = try mysql.server("FERRY_TEST_MYSQL_A")
        let db = try #require(c.first.read("plans/main.json")?.components(separatedBy: "\"database\": \"").dropFirst().first?.components(separatedBy: "\"").first)
        try movedOriginalWalk(c, killedAt: point, choice: choice, extra: {
            try self.mysql.sql(c.second, server, "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '\(db)';")
        })
    }

    /// Claims written by an earlier release hold no holder, host or pid: nothing can tell
    /// whether their process runs, so the recover takes them over by the compare-and-swap
    /// alone instead of taking them for a live holder's (which would leave the run pending for
    /// good).
    @Test func mariadbClaimsWithoutAHolderAreTakenOver() throws {
        let c = try mysqlCase(later: nil)
        defer { c.cleanUp() }
        let server = try mysql.server("FERRY_TEST_MYSQL_A")
        try c.first.killed(["apply", "--auto-approve"], at: "after-swapDone#1")
        let run = try #require(try FileManager.default.contentsOfDirectory(atPath: c.first.root + "/.ferry/runs").first)
        _ = try mysql.sql(c.first, server, "UPDATE ferry_meta.claims SET holder = '', host = '', pid = 0 WHERE run_id = '\(run)';")
        let recovered = try c.first.run("recover")
        #expect(recovered.code == 0 && recovered.all.contains("as they were before"), "\(recovered.all)")
        #expect(try c.row() == "user-original")
    }

    @Test func postgresTwoCopiesOfAMovedProjectRecoverOnce() throws {
        let c = try postgresCase(later: nil)
        defer { c.cleanUp() }
        try movedOriginalWalk(c, killedAt: "after-swapDone#1", choice: "--discard-later-writes")
    }

    /// A committed apply, its `ferry rollback RUN` killed at `point`, the project copied twice and
    /// the original's state directory gone; returns the two copies.
    func killedRollbackInTwoCopies(_ c: Case, at point: String) throws -> [Project] {
        let applied = try c.first.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let run = try #require(try FileManager.default.contentsOfDirectory(atPath: c.first.root + "/.ferry/runs").sorted().last)
        try c.first.killed(["rollback", run], at: point)
        let copies = try c.first.copies(2)
        try FileManager.default.moveItem(atPath: c.first.root + "/.ferry", toPath: c.first.root + "/.ferry-gone")
        return copies
    }

    /// Fresh tester round 23, L2: a `ferry rollback RUN` killed part-way, the project copied
    /// twice and the original's state directory gone; one copy finishes the rollback, the other
    /// then finds the rollback's claims released and restores nothing (it said "restored ...
    /// finished" and had restored nothing), until the user chooses.
    func staleRollbackCopyWalk(_ c: Case) throws {
        // Killed once it took its claims, before its swap back.
        let copies = try killedRollbackInTwoCopies(c, at: "after-claimsTaken#1")
        let finished = try copies[0].run("recover")
        #expect(finished.code == 0 && finished.all.contains("finished"), "\(finished.all)")
        #expect(try c.row() == "user-original")
        let stale = try copies[1].run("recover")
        #expect(stale.code == 4 && stale.all.contains("were released") && !stale.all.contains("↺ restored") && !stale.all.contains("finished)"), "\(stale.all)")
        let discarded = try copies[1].run("recover", "--discard-later-writes")
        #expect(!discarded.all.contains("↺ restored"), "\(discarded.all)")
        #expect(try c.row() == "user-original", "nothing changed by the stale copy")
    }

    /// Fresh tester round 25, N4: a `ferry rollback RUN` killed after its swap back (before the
    /// shadow's drop), the project copied twice and the original's state gone: the first copy's
    /// recover finishes it; the second's said "only what was left of that step was finished
    /// now" of a step the first had finished. It says the claims were released since.
    func staleRollbackAfterItsSwapBackWalk(_ c: Case) throws {
        let copies = try killedRollbackInTwoCopies(c, at: "after-swappedBack#1")
        let finished = try copies[0].run("recover")
        #expect(finished.code == 0 && finished.all.contains("only what was left of that step was finished now"), "\(finished.all)")
        #expect(try c.row() == "user-original")
        let stale = try copies[1].run("recover")
        #expect(!stale.all.contains("only what was left of that step was finished now") && stale.all.contains("its claims were released since"), "\(stale.all)")
        #expect(try c.row() == "user-original")
    }

    @Test func postgresAStaleCopyOfARollbackKilledAfterItsSwapBackSaysAnotherMayHaveFinishedIt() throws {
        let c = try postgresCase(later: nil)
        defer { c.cleanUp() }
        try staleRollbackAfterItsSwapBackWalk(c)
    }

    @Test func mariadbAStaleCopyOfARollbackKilledAfterItsSwapBackSaysAnotherMayHaveFinishedIt() throws {
        let c = try mysqlCase(later: nil)
        defer { c.cleanUp() }
        try staleRollbackAfterItsSwapBackWalk(c)
    }

    /// Fresh tester round 23, L4: two copies of a project whose original is gone; the first
    /// copy's recover is killed right after its undo (the target restored, the checkpoint used
    /// up), and that copy is then moved away; the second copy's recover finds the checkpoint
    /// gone. It said "dropped ... by someone else ... cannot be restored" and to put back a
    /// backup over a target that was as before; it says what cannot be told from here now.
    /// (PostgreSQL's undo tells a target already restored by its identity, and says so.)
    func afterAKilledRecoverElsewhereWalk(_ c: Case, recoverKilledAt point: String) throws {
        let before = try c.row()
        try c.first.killed(["apply", "--auto-approve"], at: "after-swapDone#1")
        let copies = try c.first.copies(2)
        try FileManager.default.moveItem(atPath: c.first.root + "/.ferry", toPath: c.first.root + "/.ferry-gone")
        copies[0].environment["FERRY_TEST_KILL_AT"] = point
        let killed = try copies[0].run("recover")
        copies[0].environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code == 137 || killed.code == SIGKILL, "\(killed.all)")
        #expect(try c.row() == before, "the killed recover's undo restored it")
        try FileManager.default.moveItem(atPath: copies[0].root + "/.ferry", toPath: copies[0].root + "/.ferry-away")
        let next = try copies[1].run("recover")
        #expect(next.code == 4 && !next.all.contains("as they were") && !next.all.contains("↺ restored")
                && !next.all.contains("backup of your own") && next.all.contains("took its claims before this one and stopped"), "\(next.all)")
        #expect(try c.row() == before)
    }

    @Test func mariadbAfterAnotherCopysKilledRecoverTheCheckpointIsNotCalledLost() throws {
        let c = try mysqlCase(later: nil)
        defer { c.cleanUp() }
        // Every step undone, the end not yet journaled.
        try afterAKilledRecoverElsewhereWalk(c, recoverKilledAt: "before-rolledBack#1")
    }

    @Test func mariadbAStaleCopyOfAKilledRollbackRestoresNothing() throws {
        let c = try mysqlCase(later: nil)
        defer { c.cleanUp() }
        try staleRollbackCopyWalk(c)
    }

    @Test func postgresAStaleCopyOfAKilledRollbackRestoresNothing() throws {
        let c = try postgresCase(later: nil)
        defer { c.cleanUp() }
        try staleRollbackCopyWalk(c)
    }

    @Test func sqliteACopiedProjectDoesNotRecoverTheOriginalsRun() throws {
        try copiedProjectWalk(try sqliteCase(later: nil), killedAt: "after-swapDone#1")
    }

    /// Fresh tester round 22, K3: an SQLite target inside the project (`../var/a`) is copied
    /// with it, half-swapped. Once the original recovered, the copy's recover closed its journal
    /// ("nothing was done") over its own copy of the target, which still held the run's data,
    /// its own only in the checkpoint file, then listed as a leftover to "remove by hand". The
    /// copy's instance is not the one the run wrote to: nothing is closed or done there, and
    /// the listing says what the checkpoint file holds.
    /// Killed after its swap, or at its commit before the state write (the tester's L3: then
    /// `--abandon`, the way out the recover names, said no run wrote to the instance).
    @Test(arguments: ["after-swapDone#1", "after-committing#1"])
    func sqliteACopiedProjectWithItsTargetInsideIsNotClosedOverItsOwnTarget(point: String) throws {
        let c = try sqliteCase(later: nil)
        try c.first.killed(["apply", "--auto-approve"], at: point)
        let run = try #require(try FileManager.default.contentsOfDirectory(atPath: c.first.root + "/.ferry/runs").first)
        let copy = try c.first.copies(1)[0]
        let copyRow = { try copy.query("var/a/app.db", "SELECT v FROM t").map { $0.joined() }.joined(separator: ",") }
        #expect(try copyRow() == "imported", "the copy's target holds the run's swap")
        let recovered = try c.first.run("recover")
        #expect(recovered.code == 0 && recovered.all.contains("as they were before"), "\(recovered.all)")
        #expect(try c.row() == "user-original")

        let stale = try copy.run("recover")
        #expect(stale.code == 4 && !stale.all.contains("closed here") && !stale.all.contains("as they were") && stale.all.contains("not the one the run wrote to"), "\(stale.all)")
        #expect(try copyRow() == "imported", "nothing done on the copy's target")
        let listed = try copy.run("unlock", "--claims", "a", run)
        #expect(listed.all.contains("is the checkpoint of app.db, no leftover: it holds what app.db held before the run"), "\(listed.all)")
        #expect(try copyRow() == "imported")
        // The way out the recover names works (fresh tester round 23, L3: it was refused).
        let abandoned = try copy.run("recover", "--abandon", "a")
        #expect(abandoned.code == 4 && !abandoned.all.contains("InvalidParameter"), "\(abandoned.all)")
        #expect(try copyRow() == "imported", "nothing done there")
    }

    /// Fresh tester round 24, M3: an SQLite target inside the project, a `ferry rollback RUN`
    /// killed part-way, the project copied and the original deleted. The copy's target is not
    /// the one the rollback wrote to: its recover names `--abandon`, which refused every
    /// rollback run ("no interrupted run ... wrote to"), and no named way out worked. It ends
    /// the rollback now, leaving the copy's target as it is (nothing done there), says "not as
    /// before", and plans work again once the copy's claims are released.
    /// Killed once it took its claims, before its swap back, and inside its first claims write.
    @Test(arguments: ["after-claimsTaken#1", "before-swappedBack#1", "change:sqlite.claimsWritten#1"])
    func sqliteAKilledRollbackInACopiedProjectWithItsTargetInsideCanBeAbandoned(point: String) throws {
        let c = try sqliteCase(later: nil)
        let applied = try c.first.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let run = try #require(try FileManager.default.contentsOfDirectory(atPath: c.first.root + "/.ferry/runs").sorted().last)
        try c.first.killed(["rollback", run], at: point)
        let rollbackRun = try #require(try FileManager.default.contentsOfDirectory(atPath: c.first.root + "/.ferry/runs").sorted().last)
        #expect(rollbackRun != run)
        let copy = try c.first.copies(1)[0]
        try FileManager.default.removeItem(atPath: c.first.root)
        let files = { try FileManager.default.contentsOfDirectory(atPath: copy.root + "/var/a").sorted() }
        let copyRow = { try copy.query("var/a/app.db", "SELECT v FROM t").map { $0.joined() }.joined(separator: ",") }
        let before = (try files(), try copyRow(), FileManager.default.contents(atPath: copy.root + "/var/a/app.db"))

        let refused = try copy.run("recover")
        #expect(refused.code == 4 && refused.all.contains("InstanceNotFound") && refused.all.contains("ferry recover --abandon a"), "\(refused.all)")
        let abandoned = try copy.run("recover", "--abandon", "a")
        #expect(abandoned.code == 4 && !abandoned.all.contains("InvalidParameter") && abandoned.all.contains("but not as before")
                && abandoned.all.contains("rollback of \(run) finished") && !abandoned.all.contains("as they were")
                && abandoned.all.contains("`ferry unlock --claims a \(rollbackRun)`")
                && !abandoned.all.contains("↺ restored"), "\(abandoned.all)")
        let after = (try files(), try copyRow(), FileManager.default.contents(atPath: copy.root + "/var/a/app.db"))
        #expect(after.0 == before.0 && after.1 == before.1 && after.2 == before.2, "nothing done on the copy's target")
        let again = try copy.run("recover")
        #expect(again.code == 0 && again.all.contains("Nothing to recover"), "\(again.all)")
        let status = try copy.run("status", rollbackRun)
        // Killed once its swap back had begun (before its record), it may have been restored in
        // part or whole where the run wrote, which the journal cannot tell (round 27, Q6).
        let abandonedWords = point == "before-swappedBack#1" ? "a/app: its restore had begun when this rollback was cut short"
            : "a/app: not restored, left as it is (abandoned"
        #expect(status.all.contains(abandonedWords) && !status.all.contains("a/app: restoring")
                && !status.all.contains("a/app: unchanged"), "\(status.all)")
        // The copy's claims file still names the rollback run (a copy of the original's): the
        // unlock the message names releases it, and plans work again.
        let released = try copy.run("unlock", "--claims", "a", rollbackRun)
        #expect(released.code == 0, "\(released.all)")
        let planned = try copy.run("plan")
        #expect(planned.code == 0 || planned.code == 2, "\(planned.all)")
        // Nothing is done on an abandoned instance: a temporary claims file the kill left in the
        // copy's directory stays there with the rest of what the run left.
        let unclaimed = { (names: [String]) in names.filter { $0 != ".ferry-claims.json" && $0 != ".ferry-claims.lock" } }
        #expect(try unclaimed(files()) == unclaimed(before.0) && copyRow() == before.1)
    }

    /// Fresh tester round 24, M5 (b): an apply killed before its swap, the project (its SQLite
    /// target inside) copied and the original deleted: the copy's recover ends the run, and its
    /// note on the claims it could not release named `ferry recover --abandon`, a way out of a
    /// run still pending, which then said "Nothing to recover".
    @Test func sqliteAClaimsReleaseThatFailsAfterTheRunEndedNamesNoWayOutOfAPendingRun() throws {
        let c = try sqliteCase(later: nil)
        try c.first.killed(["apply", "--auto-approve"], at: "after-begin#1")
        let copy = try c.first.copies(1)[0]
        try FileManager.default.removeItem(atPath: c.first.root)
        let recovered = try copy.run("recover")
        #expect(recovered.code == 0 && recovered.all.contains("could not release the claims") && !recovered.all.contains("--abandon"), "\(recovered.all)")
        let again = try copy.run("recover")
        #expect(again.all.contains("Nothing to recover"), "\(again.all)")
    }

    /// Fresh tester round 24, M4 and M5: a `ferry rollback RUN` of a shared target (outside the
    /// project) killed inside its first claims write, before it took them; the project copied
    /// twice and the original's state gone. One copy finishes the rollback (and a later run
    /// commits); the other then finds the checkpoint gone. It said "deleted or renamed after the
    /// swap, by someone else": its journal is a copy, and it says what it cannot tell. The
    /// temporary claims file the kill left is gone once the rollback ended.
    @Test func sqliteAStaleCopyOfARollbackKilledBeforeItsClaimsDoesNotBlameSomeoneElse() throws {
        let c = try sqliteCase(later: nil)
        let shared = c.first.root + "/var/a"
        try c.first.write("plans/main.json", try #require(c.first.read("plans/main.json")).replacingOccurrences(of: "\"../var/a\"", with: "\"\(shared)\""))
        let applied = try c.first.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let run = try #require(try FileManager.default.contentsOfDirectory(atPath: c.first.root + "/.ferry/runs").sorted().last)
        try c.first.killed(["rollback", run], at: "change:sqlite.claimsWritten#1")
        #expect(try FileManager.default.contentsOfDirectory(atPath: shared).contains { $0.hasPrefix(".ferry-claims.json.tmp-") }, "the kill left the temporary file")
        let copies = try c.first.copies(2)
        try FileManager.default.moveItem(atPath: c.first.root + "/.ferry", toPath: c.first.root + "/.ferry-gone")
        let finished = try copies[0].run("recover")
        #expect(finished.code == 0 && finished.all.contains("finished"), "\(finished.all)")
        #expect(try c.row() == "user-original")
        let sharedFiles = try FileManager.default.contentsOfDirectory(atPath: shared)
        #expect(sharedFiles.allSatisfy { !$0.hasPrefix(".ferry-claims.json.tmp-") }, "\(sharedFiles)")
        let later = try copies[0].run("apply", "--auto-approve")
        #expect(later.code == 0, "\(later.all)")
        let stale = try copies[1].run("recover")
        #expect(stale.code == 4 && !stale.all.contains("↺ restored") && !stale.all.contains("by someone else,")
                && stale.all.contains("this journal is a copy of it"), "\(stale.all)")
        #expect(try c.row() == "imported", "the later run's target as it left it")
    }

    @Test(arguments: ["change:mysql.swap.renamed", "after-swapDone#1"])
    func mariadbACopiedProjectDoesNotRecoverTheOriginalsRun(point: String) throws {
        let c = try mysqlCase(later: nil)
        defer { c.cleanUp() }
        let server = try mysql.server("FERRY_TEST_MYSQL_A")
        let db = try #require(c.first.read("plans/main.json")?.components(separatedBy: "\"database\": \"").dropFirst().first?.components(separatedBy: "\"").first)
        try copiedProjectWalk(c, killedAt: point, extra: {
            try self.mysql.sql(c.first, server, "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '\(db)';")
        })
    }

    @Test func postgresACopiedProjectDoesNotRecoverTheOriginalsRun() throws {
        let c = try postgresCase(later: nil)
        defer { c.cleanUp() }
        try copiedProjectWalk(c, killedAt: "after-swapDone#1")
    }

    // MARK: A killed `ferry rollback RUN` (fresh tester round 15, B6)

    /// A committed replace in `first`, its `ferry rollback RUN` killed right after its undo put
    /// the target's own data back (`change:revert.undone`): an apply from `second` is refused
    /// while `first` holds the rollback's journal (it cleared the rollback run's claims, whose
    /// leftovers carry the reverted run's name, and swapped over the half-restored target: the
    /// user's data went into its checkpoint and was lost at its next commit); `ferry recover`
    /// in `first` finishes the rollback; then the apply from `second` goes through.
    ///
    /// `away` (round 16, C1): the first working copy's state directory is moved away (renamed,
    /// or the whole copy moved) while `second` runs: the rollback run's claims record the run
    /// it reverts, whose checkpoint is still there, so they are not cleared as a dead run's
    /// that left nothing, and the apply is refused all the same.
    func killedRollbackWalk(_ c: Case, away: Bool = false) throws {
        let applied = try c.first.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let run = try #require(try FileManager.default.contentsOfDirectory(atPath: c.first.root + "/.ferry/runs").sorted().last)
        c.first.environment["FERRY_TEST_KILL_AT"] = "change:revert.undone"
        let killed = try c.first.run("rollback", run)
        c.first.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code == 137 || killed.code == SIGKILL, "\(killed.all)")
        #expect(try c.row() == "user-original", "the undo put the target's own data back")
        let rollback = try #require(try FileManager.default.contentsOfDirectory(atPath: c.first.root + "/.ferry/runs").sorted().last)
        #expect(rollback != run)
        if away { try FileManager.default.moveItem(atPath: c.first.root + "/.ferry", toPath: c.first.root + "/.ferry-away") }
        let blocked = try c.second.run("apply", "--auto-approve")
        #expect(blocked.code != 0 && blocked.all.contains(rollback) && blocked.all.contains("ferry recover"), "\(blocked.all)")
        #expect(!blocked.all.contains("Apply complete"), "\(blocked.all)")
        #expect(try c.row() == "user-original", "the apply changed nothing")
        if away {
            #expect(blocked.all.contains("rollback of run \(run)"), "\(blocked.all)")
            let planned = try c.second.run("plan")
            #expect(planned.code != 0 && planned.all.contains(rollback), "\(planned.all)")
            try FileManager.default.moveItem(atPath: c.first.root + "/.ferry-away", toPath: c.first.root + "/.ferry")
        }
        let unlock = try c.second.run("unlock", "--claims", c.instance, rollback)
        #expect(unlock.code != 0 && unlock.all.contains("WrongStatus") && !unlock.all.contains("Released"), "\(unlock.all)")
        // A rollback run's recover finishes the rollback (fresh tester round 21, H6 c).
        #expect(unlock.all.contains("finishes the rollback run") && !unlock.all.contains("rolls the run back"), "\(unlock.all)")
        let recovered = try c.first.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        #expect(try c.row() == "user-original")
        let later = try c.second.run("apply", "--auto-approve")
        #expect(later.code == 0, "once the rollback finished: \(later.all)")
    }

    /// Fresh tester round 17 (w38), D1: a `ferry rollback RUN` killed as its undo began, its
    /// state directory away; from `second`, `ferry unlock --claims` (it names the rollback and
    /// the run it reverts) releases its claims, and an apply swaps the target. Back in `first`,
    /// `ferry recover` restores nothing over that run's target and says why (the claims were
    /// released), exit 4, until `--keep-later-writes` finishes it leaving the target as it is.
    /// (MariaDB restored over it, "finished", exit 0.)
    func releasedRollbackWalk(_ c: Case) throws {
        let applied = try c.first.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let run = try #require(try FileManager.default.contentsOfDirectory(atPath: c.first.root + "/.ferry/runs").sorted().last)
        c.first.environment["FERRY_TEST_KILL_AT"] = "after-stepStarted#1"
        let killed = try c.first.run("rollback", run)
        c.first.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code == 137 || killed.code == SIGKILL, "\(killed.all)")
        let rollback = try #require(try FileManager.default.contentsOfDirectory(atPath: c.first.root + "/.ferry/runs").sorted().last)
        try FileManager.default.moveItem(atPath: c.first.root + "/.ferry", toPath: c.first.root + "/.ferry-away")
        let released = try c.second.run("unlock", "--claims", c.instance, rollback)
        #expect(released.code == 0 && released.stdout.contains("Released the claims of run \(rollback)") && released.stdout.contains("rollback of run \(run)"), "\(released.all)")
        let later = try c.second.run("apply", "--auto-approve")
        #expect(later.code == 0, "\(later.all)")
        #expect(try c.row() == "later-run")
        try FileManager.default.moveItem(atPath: c.first.root + "/.ferry-away", toPath: c.first.root + "/.ferry")
        let held = try c.first.run("recover")
        #expect(held.code == 4 && held.all.contains("were released") && held.all.contains("--keep-later-writes"), "\(held.all)")
        #expect(!held.all.contains("as they were") && !held.all.contains("finished)"), "\(held.all)")
        #expect(try c.row() == "later-run", "the later run's target is left as it is")
        let again = try c.first.run("recover")
        #expect(again.code == 4 && again.all.contains("were released"), "a second pass holds it too: \(again.all)")
        let kept = try c.first.run("recover", "--keep-later-writes")
        #expect(kept.code == 0 && kept.all.contains("finished, leaving") && !kept.all.contains("as they were"), "\(kept.all)")
        #expect(try c.row() == "later-run")
        #expect(try c.first.run("recover").all.contains("Nothing to recover"))
    }

    /// Fresh tester round 17 (w38), D3 (p3): a `ferry rollback RUN` killed after its swap back,
    /// at the drop of the run's shadow, its state directory away: nothing of either run is left,
    /// so another working copy's apply clears its claims (as of a run that left nothing) and
    /// replaces the target. The
    /// recover then finishes the rollback from its journal (the swap back is journaled done),
    /// never saying the checkpoint was "dropped by someone else", and leaves the later run's
    /// target as it is.
    func rollbackKilledAfterItsSwapBackWalk(_ c: Case) throws {
        let applied = try c.first.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let run = try #require(try FileManager.default.contentsOfDirectory(atPath: c.first.root + "/.ferry/runs").sorted().last)
        c.first.environment["FERRY_TEST_KILL_AT"] = "change:revert.shadowDropped"
        let killed = try c.first.run("rollback", run)
        c.first.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code == 137 || killed.code == SIGKILL, "\(killed.all)")
        #expect(try c.row() == "user-original", "the swap back was done")
        // With the first state directory in place the claims hold (round 15, B6); away, nothing
        // of either run is left to hold them.
        try FileManager.default.moveItem(atPath: c.first.root + "/.ferry", toPath: c.first.root + "/.ferry-away")
        let later = try c.second.run("apply", "--auto-approve")
        #expect(later.code == 0, "nothing of either run is left: \(later.all)")
        #expect(try c.row() == "later-run")
        try FileManager.default.moveItem(atPath: c.first.root + "/.ferry-away", toPath: c.first.root + "/.ferry")
        let recovered = try c.first.run("recover")
        #expect(recovered.code == 0 && recovered.all.contains("before this rollback was cut short") && recovered.all.contains("finished"), "\(recovered.all)")
        #expect(!recovered.all.contains("by someone else") && !recovered.all.contains("is gone"), "\(recovered.all)")
        #expect(try c.row() == "later-run", "the later run's target is left as it is")
        #expect(try c.first.run("recover").all.contains("Nothing to recover"))
    }

    @Test func sqliteARollbackKilledAfterItsSwapBackIsFinishedFromItsJournal() throws {
        try rollbackKilledAfterItsSwapBackWalk(try sqliteCase(later: "later-run"))
    }

    @Test func mariadbARollbackKilledAfterItsSwapBackIsFinishedFromItsJournal() throws {
        let c = try mysqlCase(later: "later-run")
        defer { c.cleanUp() }
        try rollbackKilledAfterItsSwapBackWalk(c)
    }

    @Test func postgresARollbackKilledAfterItsSwapBackIsFinishedFromItsJournal() throws {
        let c = try postgresCase(later: "later-run")
        defer { c.cleanUp() }
        try rollbackKilledAfterItsSwapBackWalk(c)
    }

    @Test func sqliteARecoverOfARollbackWhoseClaimsWereReleasedRestoresNothing() throws {
        try releasedRollbackWalk(try sqliteCase(later: "later-run"))
    }

    @Test func mariadbARecoverOfARollbackWhoseClaimsWereReleasedRestoresNothing() throws {
        let c = try mysqlCase(later: "later-run")
        defer { c.cleanUp() }
        try releasedRollbackWalk(c)
    }

    @Test func postgresARecoverOfARollbackWhoseClaimsWereReleasedRestoresNothing() throws {
        let c = try postgresCase(later: "later-run")
        defer { c.cleanUp() }
        try releasedRollbackWalk(c)
    }

    @Test func sqliteAKilledRollbacksClaimsKeepAnotherWorkingCopyOff() throws {
        try killedRollbackWalk(try sqliteCase(later: "later-run"))
    }

    @Test func mariadbAKilledRollbacksClaimsKeepAnotherWorkingCopyOff() throws {
        let c = try mysqlCase(later: "later-run")
        defer { c.cleanUp() }
        try killedRollbackWalk(c)
    }

    @Test func postgresAKilledRollbacksClaimsKeepAnotherWorkingCopyOff() throws {
        let c = try postgresCase(later: "later-run")
        defer { c.cleanUp() }
        try killedRollbackWalk(c)
    }

    @Test func sqliteAKilledRollbacksClaimsHoldWithItsStateDirectoryAway() throws {
        try killedRollbackWalk(try sqliteCase(later: "later-run"), away: true)
    }

    @Test func mariadbAKilledRollbacksClaimsHoldWithItsStateDirectoryAway() throws {
        let c = try mysqlCase(later: "later-run")
        defer { c.cleanUp() }
        try killedRollbackWalk(c, away: true)
    }

    @Test func postgresAKilledRollbacksClaimsHoldWithItsStateDirectoryAway() throws {
        let c = try postgresCase(later: "later-run")
        defer { c.cleanUp() }
        try killedRollbackWalk(c, away: true)
    }
}
