import CSQLite
import Foundation
import Testing

/// Apply as users rely on it: all or nothing, rollback, recovery after kill -9 (SPEC §6, §7).
@Suite(.serialized) struct ApplyTests {
    func applied(_ project: Project) throws {
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        let result = try project.run("apply", "--auto-approve")
        #expect(result.code == 0, "\(result.all)")
    }

    /// `applied`, then a second run that replaces both targets (a fourth user); its run id.
    func appliedTwice(_ project: Project, first: Bool = true) throws -> String {
        if first { try applied(project) }
        try project.write("plans/data/seed.sql", seedSQL + "INSERT INTO users VALUES (7, 'john');\n")
        let second = try project.run("apply", "--auto-approve")
        #expect(second.code == 0, "\(second.all)")
        let runLine = try #require(second.stdout.split(separator: "\n").first { $0.hasPrefix("Run ") }, "\(second.all)")
        return String(runLine.split(separator: " ")[1].dropLast())
    }

    func exec(_ project: Project, _ path: String, _ sql: String) throws {
        var db: OpaquePointer?
        guard sqlite3_open(project.root + "/" + path, &db) == SQLITE_OK else { throw Project.QueryError(message: "open") }
        defer { sqlite3_close(db) }
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else {
            throw Project.QueryError(message: String(cString: sqlite3_errmsg(db)))
        }
    }

    /// A seed of `rows` inserts, one statement a line, big enough for a kill to land mid-import.
    func bigSeed(rows: Int, marker: String) -> String {
        var text = "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n"
        text.reserveCapacity(rows * 48)
        for i in 1...rows { text += "INSERT INTO users VALUES (\(i), '\(marker)-\(i)-padding-padding');\n" }
        return text
    }

    @Test func applyBuildsImportAndCopyThenPlansNoChanges() throws {
        let project = try Project()
        try applied(project)
        #expect(try project.query("var/a/app.db", "SELECT name FROM users ORDER BY id") == [["ada"], ["grace"], ["it's quoted"]])
        #expect(try project.query("var/b/app_copy.db", "SELECT count(*) FROM users") == [["3"]])
        #expect(try project.query("var/b/app_copy.db", "SELECT x FROM \"odd \"\"name\"\"\"") == [["42"]])
        let again = try project.run("plan", "--detailed-exitcode")
        #expect(again.code == 0, "\(again.all)")
        #expect(again.stdout.contains("No changes."))
        #expect(project.leftovers(in: "var/a") == [] && project.leftovers(in: "var/b").filter { !$0.contains("ckpt") } == [])
        let attributes = try FileManager.default.attributesOfItem(atPath: project.root + "/.ferry/state.json")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let runs = try project.run("runs")
        #expect(runs.stdout.contains("committed"))
        #expect(try project.run("status").stdout.contains("[done]"))
        #expect(try project.run("state", "list").stdout.contains("copy.to-b"))
    }

    @Test func changedSourceReplacesAndDownstreamFollows() throws {
        let project = try Project()
        try applied(project)
        try project.write("plans/data/seed.sql", seedSQL + "INSERT INTO users VALUES (4, 'barbara');\n")
        let plan = try project.run("plan")
        #expect(plan.stdout.contains("source changed"))
        #expect(plan.stdout.contains("source changes (import.seed)"))
        #expect(try project.run("apply", "--auto-approve").code == 0)
        #expect(try project.query("var/b/app_copy.db", "SELECT count(*) FROM users") == [["4"]])
    }

    @Test func failingStatementRollsEverythingBack() throws {
        let project = try Project()
        try applied(project)
        let before = (project.fileBytes("var/a/app.db"), project.fileBytes("var/b/app_copy.db"))
        try project.write("plans/data/seed.sql", "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT);\nINSERT INTO users VALUES (1, 'x');\nINSERT INTO nope VALUES (1);\n")
        let result = try project.run("apply", "--auto-approve")
        #expect(result.code == 3, "\(result.all)")
        #expect(result.all.contains("ImportError"))
        #expect(result.all.contains("seed.sql:3") || result.all.contains("line 3"))
        #expect(project.fileBytes("var/a/app.db") == before.0)
        #expect(project.fileBytes("var/b/app_copy.db") == before.1)
        #expect(project.leftovers(in: "var/a") == [])
        #expect(try project.run("runs").stdout.contains("rolledBack"))
    }

    @Test func keepGoingKeepsIndependentSuccesses() throws {
        let project = try Project()
        try project.write("plans/main.json", """
        { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
          "imports": { "good": { "into": "a", "database": "good", "from": "data/good.sql" },
                       "bad": { "into": "a", "database": "bad", "from": "data/bad.sql" } } }
        """)
        try project.write("plans/data/good.sql", "CREATE TABLE t(x); INSERT INTO t VALUES (1);\n")
        try project.write("plans/data/bad.sql", "CREATE TABLE t(x);\nSELECT * FROM missing_table;\n")
        let withoutFlag = try project.run("apply", "--auto-approve")
        #expect(withoutFlag.code == 3)
        #expect(!project.exists("var/a/good.db"))
        let result = try project.run("apply", "--auto-approve", "--keep-going")
        #expect(result.code == 3, "\(result.all)")
        #expect(project.exists("var/a/good.db"))
        #expect(!project.exists("var/a/bad.db"))
        let state = try project.run("state", "list").stdout
        #expect(state.contains("import.good") && !state.contains("import.bad"))
        #expect(result.stdout.contains("rolled back completely (import.bad), the others were applied (import.good)"), "\(result.all)")
        // The JSON outcome names both parts, and does not call the run rolled back.
        try project.write("plans/data/good.sql", "CREATE TABLE t(x); INSERT INTO t VALUES (2);\n")
        let json = try project.run("apply", "--auto-approve", "--keep-going", "--format", "json")
        #expect(json.code == 3, "\(json.all)")
        let last = try #require(json.stdout.split(separator: "\n").last)
        let outcome = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
        #expect(outcome["outcome"] as? String == "partiallyCommitted" && outcome["exitCode"] as? Int == 3, "\(outcome)")
        #expect(outcome["committed"] as? [String] == ["import.good"] && outcome["rolledBack"] as? [String] == ["import.bad"], "\(outcome)")
        #expect(try project.query("var/a/good.db", "SELECT x FROM t") == [["2"]])
        // Every resource failing: nothing committed, the run is rolled back, and says so.
        try project.write("plans/data/good.sql", "CREATE TABLE t(x);\nSELECT * FROM missing_table;\n")
        let none = try project.run("apply", "--auto-approve", "--keep-going", "--format", "json")
        let endLine = try #require(none.stdout.split(separator: "\n").last)
        let end = try #require(try JSONSerialization.jsonObject(with: Data(endLine.utf8)) as? [String: Any])
        #expect(end["outcome"] as? String == "rolledBack" && none.code == 3, "\(end)")
        #expect(end["committed"] as? [String] == [] && end["rolledBack"] as? [String] == ["import.bad", "import.good"], "\(end)")
    }

    @Test func savedPlanAppliesWithoutAskingAndRefusesWhenStale() throws {
        let project = try Project()
        try applied(project)
        try project.write("plans/data/seed.sql", seedSQL + "INSERT INTO users VALUES (5, 'ken');\n")
        #expect(try project.run("plan", "--out", "reviewed.plan").code == 0)
        #expect(try project.run("show", "reviewed.plan").stdout.contains("source changed"))
        // Someone writes to the copy's target after the review.
        try exec(project, "var/b/app_copy.db", "INSERT INTO users VALUES (99, 'late');")
        let stale = try project.run("apply", "reviewed.plan")
        #expect(stale.code == 1)
        #expect(stale.stderr.contains("PlanStale"))
        #expect(stale.stderr.contains("b/app_copy changed"))
        #expect(try project.run("plan", "--out", "fresh.plan").code == 0)
        let fresh = try project.run("apply", "fresh.plan")
        #expect(fresh.code == 0, "\(fresh.all)")
        #expect(try project.query("var/a/app.db", "SELECT count(*) FROM users") == [["4"]])
    }

    @Test func applyWithoutTerminalNeedsAutoApprove() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        let result = try project.run("apply")
        #expect(result.code == 1)
        #expect(result.stderr.contains("--auto-approve"))
        #expect(!project.exists("var/a/app.db"))
    }

    @Test func protectedInstanceIsRefused() throws {
        let project = try Project()
        try applied(project)
        try project.write("plans/main.json", twoInstancePlan().replacingOccurrences(of: "\"path\": \"../var/b\"", with: "\"path\": \"../var/b\", \"protect\": true"))
        let result = try project.run("apply", "--auto-approve", "--replace", "copy.to-b")
        #expect(result.code == 1)
        #expect(result.stderr.contains("OperationDenied.Protected"))
    }

    @Test func heldLockIsStateLockedNamingTheHolder() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        try FileManager.default.createDirectory(atPath: project.root + "/.ferry", withIntermediateDirectories: true)
        let lock = """
        {"holder":"someone","host":"\(ProcessInfo.processInfo.hostName)","id":"lock-123","operation":"apply","pid":\(getpid()),"time":"2026-11-23T00:00:00Z"}
        """
        try lock.write(toFile: project.root + "/.ferry/state.lock", atomically: true, encoding: .utf8)
        let result = try project.run("apply", "--auto-approve")
        #expect(result.code == 1)
        #expect(result.stderr.contains("StateLocked"))
        #expect(result.stderr.contains("someone"))
        #expect(try project.run("unlock", "wrong").code == 1)
        // Its holder (this test's own process) still runs on this host: only --force removes it.
        let refused = try project.run("unlock", "lock-123")
        #expect(refused.code == 1 && refused.stderr.contains("still running on this host"), "\(refused.all)")
        #expect(try project.run("unlock", "lock-123", "--force").code == 0)
        #expect(try project.run("apply", "--auto-approve").code == 0)
    }

    @Test func lockOfAProcessThatIsGoneIsTakenOver() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        // A ferry killed after taking the lock but before its run began: no journal, only the lock.
        let gone = try project.start(["version"])
        gone.waitUntilExit()
        try FileManager.default.createDirectory(atPath: project.root + "/.ferry", withIntermediateDirectories: true)
        let lock = """
        {"holder":"root","host":"\(ProcessInfo.processInfo.hostName)","id":"stale-1","operation":"apply","pid":\(gone.processIdentifier),"time":"2026-11-23T00:00:00Z"}
        """
        try lock.write(toFile: project.root + "/.ferry/state.lock", atomically: true, encoding: .utf8)
        let result = try project.run("apply", "--auto-approve")
        #expect(result.code == 0, "\(result.all)")
        #expect(!project.exists(".ferry/state.lock"))
    }

    @Test func concurrentRunsAreRefusedAndInstancesShowTheirStatus() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", bigSeed(rows: 300_000, marker: "big"))
        let first = try project.start(["apply", "--auto-approve"])
        // Wait until the run has claimed its databases and started building.
        let deadline = Date().addingTimeInterval(60)
        func journalText() -> String {
            let runs = (try? FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs")) ?? []
            return runs.compactMap { project.read(".ferry/runs/\($0)/journal.jsonl") }.joined()
        }
        while !journalText().contains("stepStarted") && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        // Same state: the lock. Another state directory on the same instances: the claims.
        let second = try project.run("apply", "--auto-approve")
        let other = try project.run("plan", "--state", ".ferry-other")
        let status = try project.run("status")
        let stillRunning = first.isRunning && !journalText().contains("\"committing\"")
        first.waitUntilExit()
        #expect(first.terminationStatus == 0)
        #expect(second.code == 1 && second.stderr.contains("StateLocked"), "\(second.all)")
        #expect(stillRunning, "the first run should still be building a 300,000-row import")
        if stillRunning {
            #expect(other.code == 1 && other.stderr.contains("OperationDenied.WrongStatus"), "\(other.all)")
            #expect(other.stderr.contains("Importing"), "\(other.all)")
            #expect(status.stdout.contains("a/app: Importing"), "\(status.all)")
            #expect(status.stdout.contains("a/app: Migrating") || status.stdout.contains("[running]"), "\(status.all)")
        }
        // Once it is done, the claims are gone.
        #expect(try project.run("plan", "--state", ".ferry-other").stderr.contains("WrongStatus") == false)
    }

    @Test func applyAsksForYesOnATerminal() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        func typed(_ answer: String) throws -> Project.Result {
            // `script` gives ferry a real terminal; the answer arrives on it.
            try project.runShell("printf '\(answer)\\n' | script -qec '\(Project.binary) apply --no-color' /dev/null")
        }
        let no = try typed("no")
        #expect(no.stdout.contains("Only 'yes' will be accepted"), "\(no.all)")
        #expect(no.code == 1)
        #expect(!project.exists("var/a/app.db"))
        let yes = try typed("yes")
        #expect(yes.code == 0, "\(yes.all)")
        #expect(yes.stdout.contains("Apply complete!"))
        #expect(project.exists("var/a/app.db"))
    }

    @Test func killAtManyMomentsThenRecoverLeavesOldOrCommittedContent() throws {
        let project = try Project()
        try applied(project)
        // No retention: any file besides the databases after recovery is a leak.
        #expect(try project.run("state", "keep", "0").code == 0)
        try project.write("plans/data/seed.sql", seedSQL + "INSERT INTO users VALUES (8, 'frances');\n")
        #expect(try project.run("apply", "--auto-approve").code == 0)
        try project.write("plans/data/seed.sql", bigSeed(rows: 120_000, marker: "new"))
        var killedMidRun = 0
        for delay in [0.05, 0.15, 0.3, 0.5, 0.8, 1.2, 1.8, 2.6] {
            let old = (project.fileBytes("var/a/app.db"), project.fileBytes("var/b/app_copy.db"))
            let process = try project.start(["apply", "--auto-approve"])
            Thread.sleep(forTimeInterval: delay)
            process.signal(SIGKILL)
            process.waitUntilExit()
            let interrupted = try project.run("plan")
            if interrupted.code == 1 {
                #expect(interrupted.stderr.contains("RunInterrupted"), "\(interrupted.all)")
                #expect(try project.run("apply", "--auto-approve").stderr.contains("RunInterrupted"))
                killedMidRun += 1
            }
            let recovered = try project.run("recover")
            #expect(recovered.code == 0, "\(recovered.all)")
            let now = (project.fileBytes("var/a/app.db"), project.fileBytes("var/b/app_copy.db"))
            let count = try project.query("var/a/app.db", "SELECT count(*) FROM users")
            if count == [["120000"]] {
                // The run had committed before the kill: the new content, whole, and a clean plan.
                #expect(try project.query("var/b/app_copy.db", "SELECT count(*) FROM users") == [["120000"]] || now.1 == old.1)
                // Back to the old seed for the next round.
                try project.write("plans/data/seed.sql", seedSQL)
                #expect(try project.run("apply", "--auto-approve").code == 0)
                try project.write("plans/data/seed.sql", bigSeed(rows: 120_000, marker: "new"))
            } else {
                #expect(now.0 == old.0, "a/app.db must be byte-for-byte the old content after a kill at \(delay)s")
                #expect(now.1 == old.1, "b/app_copy.db must be byte-for-byte the old content after a kill at \(delay)s")
            }
            #expect(project.leftovers(in: "var/a") == [], "leftovers after a kill at \(delay)s")
            #expect(project.leftovers(in: "var/b") == [], "leftovers after a kill at \(delay)s")
        }
        #expect(killedMidRun >= 3, "most kills should land mid-run")
        let final = try project.run("apply", "--auto-approve")
        #expect(final.code == 0, "\(final.all)")
        #expect(try project.query("var/b/app_copy.db", "SELECT count(*) FROM users") == [["120000"]])
    }

    @Test func rollbackRestoresWhatACommittedRunReplaced() throws {
        let project = try Project()
        let runID = try appliedTwice(project)
        let result = try project.run("rollback", runID)
        #expect(result.code == 0, "\(result.all)")
        #expect(try project.query("var/a/app.db", "SELECT count(*) FROM users") == [["3"]])
        #expect(try project.query("var/b/app_copy.db", "SELECT count(*) FROM users") == [["3"]])
        // The state is back too: the plan wants the newer seed again.
        #expect(try project.run("plan").stdout.contains("source changed"))
    }

    /// Fresh tester round 41, F7: `ferry rollback RUN` replaced a database on an instance the
    /// plan marks `"protect": true`. It refuses before any change (exit 1, `Protected`, also with
    /// `--force`), on every instance: a replaced target (its checkpoint) and a created one (it
    /// would be dropped); once the flag is gone it rolls back.
    @Test func rollbackRefusesAProtectedInstance() throws {
        let project = try Project()
        try applied(project)
        let protectB = { try project.write("plans/main.json", twoInstancePlan().replacingOccurrences(of: "\"path\": \"../var/b\"", with: "\"path\": \"../var/b\", \"protect\": true")) }
        let firstRun = try #require(try project.run("runs").stdout.split(separator: "\n").compactMap { $0.split(separator: " ").first { $0.hasPrefix("20") } }.first.map(String.init))
        try protectB()
        let created = try project.run("rollback", firstRun)
        #expect(created.code == 1 && created.stderr.contains("OperationDenied.Protected") && created.stderr.contains("b/app_copy"), "\(created.all)")
        #expect(project.exists("var/b/app_copy.db") && project.exists("var/a/app.db"), "nothing dropped")

        try project.write("plans/main.json", twoInstancePlan())
        let runID = try appliedTwice(project, first: false)
        try protectB()
        for args in [["rollback", runID], ["rollback", runID, "--force"]] {
            let refused = try project.run(args)
            #expect(refused.code == 1 && refused.stderr.contains("OperationDenied.Protected") && refused.all.contains("nothing was changed")
                    && !refused.all.contains("rolled back"), "\(refused.all)")
            #expect(try project.query("var/a/app.db", "SELECT count(*) FROM users") == [["4"]], "the unprotected instance is not touched either")
            #expect(try project.query("var/b/app_copy.db", "SELECT count(*) FROM users") == [["4"]])
        }
        let listed = try project.run("runs").stdout
        #expect(listed.contains(runID) && !listed.contains("rollback rolledBack"), "\(listed)")
        // Round 43, F1: a plan that cannot be read (an unrelated error, a `protect` from an unset
        // variable) says nothing of protection: no rollback then. F1b: protected under another
        // name for the same directory.
        let broken = [
            twoInstancePlan().replacingOccurrences(of: "\"path\": \"../var/b\"", with: "\"path\": \"../var/b\", \"protect\": true")
                .replacingOccurrences(of: "\"onExisting\": \"replace\" }", with: "\"onExisting\": \"replace\", \"verify\": \"bogus\" }"),
            twoInstancePlan().replacingOccurrences(of: "\"path\": \"../var/b\"", with: "\"path\": \"../var/b\", \"protect\": \"${env:FERRY_TEST_UNSET_PROTECT}\""),
        ]
        for plan in broken {
            try project.write("plans/main.json", plan)
            let refused = try project.run("rollback", runID)
            #expect(refused.code == 1 && refused.all.contains("the plan could not be read") && refused.all.contains("nothing was changed"), "\(refused.all)")
            #expect(try project.query("var/b/app_copy.db", "SELECT count(*) FROM users") == [["4"]])
        }
        try project.write("plans/main.json", twoInstancePlan().replacingOccurrences(of: "\"b\": { \"engine\": \"sqlite\", \"path\": \"../var/b\" }", with: "\"b2\": { \"engine\": \"sqlite\", \"path\": \"../var/b\", \"protect\": true }")
            .replacingOccurrences(of: "\"to\": \"b\"", with: "\"to\": \"b2\""))
        let renamed = try project.run("rollback", runID)
        #expect(renamed.code == 1 && renamed.stderr.contains("OperationDenied.Protected") && renamed.stderr.contains("protected instance b2"), "\(renamed.all)")
        #expect(try project.query("var/b/app_copy.db", "SELECT count(*) FROM users") == [["4"]])
        // Round 44, F1: the same directory through a symbolic link; F3: a plan that names no
        // instance where the run wrote.
        try FileManager.default.createSymbolicLink(atPath: project.root + "/var/blink", withDestinationPath: project.root + "/var/b")
        try project.write("plans/main.json", twoInstancePlan().replacingOccurrences(of: "\"b\": { \"engine\": \"sqlite\", \"path\": \"../var/b\" }", with: "\"b2\": { \"engine\": \"sqlite\", \"path\": \"../var/blink\", \"protect\": true }")
            .replacingOccurrences(of: "\"to\": \"b\"", with: "\"to\": \"b2\""))
        let linked = try project.run("rollback", runID)
        #expect(linked.code == 1 && linked.stderr.contains("OperationDenied.Protected") && linked.stderr.contains("protected instance b2"), "\(linked.all)")
        try project.write("plans/other/x.json", "{ \"ferry\": 1 }")
        let unnamed = try project.run("rollback", runID, "plans/other")
        #expect(unnamed.code == 1 && unnamed.all.contains("the plan names no instance where it wrote"), "\(unnamed.all)")
        #expect(try project.query("var/b/app_copy.db", "SELECT count(*) FROM users") == [["4"]])
        try project.write("plans/main.json", twoInstancePlan())
        let rolledBack = try project.run("rollback", runID)
        #expect(rolledBack.code == 0, "\(rolledBack.all)")
        #expect(try project.query("var/b/app_copy.db", "SELECT count(*) FROM users") == [["3"]])
    }

    /// Fresh tester round 41, F5: a `ferry rollback RUN` refused before any change (here: a
    /// checkpoint gone) was listed as `rollback rolledBack` by `ferry runs`. It says `rollback
    /// refused`, and `ferry status` of it says nothing was restored.
    @Test func aRefusedRollbackIsListedAsRefused() throws {
        let project = try Project()
        let runID = try appliedTwice(project)
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: project.root + "/var/a").filter { $0.contains("ckpt") }
        #expect(!checkpoints.isEmpty)
        for name in checkpoints { try FileManager.default.removeItem(atPath: project.root + "/var/a/" + name) }
        let refused = try project.run("rollback", runID)
        #expect(refused.code == 1 && refused.all.contains("cannot be rolled back now; nothing was changed"), "\(refused.all)")
        let runs = try project.run("runs").stdout
        let newest = try #require(runs.split(separator: "\n").dropFirst().first.map(String.init), "\(runs)")
        #expect(newest.contains("rollback refused") && !runs.contains("rollback rolledBack"), "\(runs)")
        let rollbackRun = try #require(newest.split(separator: " ").first.map(String.init))
        let status = try project.run("status", rollbackRun)
        #expect(status.stdout.contains("refused before any change (nothing was restored)"), "\(status.all)")
        // Round 44, F5: its targets are not "not restored yet" (nothing waits).
        #expect(status.stdout.contains("a/app: unchanged (the rollback was refused before any change)") && !status.stdout.contains("not restored yet"), "\(status.all)")
        #expect(try project.query("var/a/app.db", "SELECT count(*) FROM users") == [["4"]])
    }

    /// A target written after the run committed is not rolled back over (a fresh tester lost a
    /// table written after the commit): refused until `--force`.
    @Test func rollbackRefusesToDiscardWritesMadeAfterTheCommit() throws {
        let project = try Project()
        let runID = try appliedTwice(project)
        try DriftCLITests().execute(project, "var/b/app_copy.db", "INSERT INTO users VALUES (99, 'after the commit')")
        let refused = try project.run("rollback", runID)
        #expect(refused.code == 1 && refused.stderr.contains("changed after run") && refused.stderr.contains("b/app_copy"), "\(refused.all)")
        #expect(try project.query("var/b/app_copy.db", "SELECT count(*) FROM users") == [["5"]], "nothing was rolled back")
        let forced = try project.run("rollback", runID, "--force")
        #expect(forced.code == 0, "\(forced.all)")
        #expect(try project.query("var/b/app_copy.db", "SELECT count(*) FROM users") == [["3"]])
    }

    /// Fresh tester round 74, F6: a failed `ferry backup NAME` ended "Apply failed ...": its
    /// outcome says "Backup" (and a taken one "Backup complete!").
    @Test func aFailedOnDemandBackupSaysBackupFailed() throws {
        let project = try Project()
        try applied(project)
        try project.write("plans/main.json", twoInstancePlan(extra: """
        ,
          "backups": { "daily": { "of": "a", "databases": ["app"], "to": "../var/backups", "every": "24h" } }
        """))
        // A set larger than the file-size limit (16 KiB: sh counts 512-byte blocks) fails at apply.
        try exec(project, "var/a/app.db", "INSERT INTO users SELECT id + 100, printf('%.200c', 'x') FROM users; " + (0..<7).map { _ in
            "INSERT INTO users SELECT id + (SELECT max(id) FROM users), name FROM users;" }.joined())
        let failed = try project.runShell("ulimit -f 32; NO_COLOR=1 exec '\(Project.binary)' backup daily")
        #expect(failed.code == 3 && failed.all.contains("error[DiskFull]") && failed.stdout.contains("Backup failed and was rolled back")
                && !failed.all.contains("Apply"), "\(failed.all)")
        let taken = try project.run("backup", "daily")
        #expect(taken.code == 0 && taken.stdout.contains("Backup complete!") && !taken.all.contains("Apply"), "\(taken.all)")
    }

    /// Fresh tester round 76, F1: a copy `at` a time chose its set again at apply, after a
    /// backup of the same source in the same run had taken a newer one, and restored that newer
    /// set while the plan, the saved plan, the step, the journal and the state named the one the
    /// plan chose. It restores the planned set.
    @Test func aCopyAtATimeRestoresTheSetItsPlanChose() throws {
        let project = try Project()
        try applied(project)
        let daily = "\"daily\": { \"of\": \"a\", \"databases\": [\"app\"], \"to\": \"../var/bk-daily\" }"
        try project.write("plans/main.json", twoInstancePlan(extra: ",\n  \"backups\": { \(daily) }"))
        let taken = try project.run("backup", "daily")
        let planned = try #require(taken.stdout.components(separatedBy: "backup set ").dropFirst().first?.split(separator: " ").first.map(String.init), "\(taken.all)")
        // The run re-imports a/app with a fourth user before its backups and the copy.
        try project.write("plans/data/seed.sql", seedSQL + "INSERT INTO users VALUES (4, 'katherine');\n")
        try project.write("plans/main.json", twoInstancePlan(extra: """
        ,
          "backups": { \(daily), "second": { "of": "a", "databases": ["app"], "to": "../var/bk-second" } }
        """).replacingOccurrences(of: "\"copies\": {", with: """
        "copies": {
            "restore": { "from": "a", "to": "b", "databases": { "app": "app_restored" }, "at": "2030-01-01T00:00:00Z", "after": ["backup.second"] },
        """))
        let plan = try project.run("plan", "--out", "saved.plan")
        #expect(plan.code == 0 && plan.stdout.contains("a/app@\(planned) → b/app_restored"), "\(plan.all)")
        let applied = try project.run("apply", "--auto-approve", "saved.plan")
        #expect(applied.code == 0 && applied.stdout.contains("a/app@\(planned)"), "\(applied.all)")
        let newer = try FileManager.default.contentsOfDirectory(atPath: project.root + "/var/bk-second")
        #expect(newer.count == 1 && !newer.contains(planned), "the same run took a newer set: \(newer)")
        #expect(try project.query("var/b/app_restored.db", "SELECT count(*) FROM users") == [["3"]], "the planned set's three users, not the newer set's four")
        #expect(try project.run("state", "show", "copy.restore").stdout.contains(planned))
    }

    /// Fresh tester round 77, F6 and F7: a set id found in two backup locations (a set copied
    /// by hand) was read from one of them, said as the id alone; and a set a copy names by its id
    /// was pruned by `keep`, after which every plan failed. The first is refused at plan; the
    /// second is kept while the plan names it.
    @Test func aSetNamedByACopyIsKeptAndOneInTwoLocationsIsRefused() throws {
        let project = try Project()
        try applied(project)
        let backups = "\"backups\": { \"daily\": { \"of\": \"a\", \"databases\": [\"app\"], \"to\": \"../var/bk-daily\", \"keep\": 1 }, \"other\": { \"of\": \"a\", \"databases\": [\"app\"], \"to\": \"../var/bk-other\" } }"
        try project.write("plans/main.json", twoInstancePlan(extra: ",\n  " + backups))
        let taken = try project.run("backup", "daily")
        let pinned = try #require(taken.stdout.components(separatedBy: "backup set ").dropFirst().first?.split(separator: " ").first.map(String.init), "\(taken.all)")
        try project.write("plans/main.json", twoInstancePlan(extra: ",\n  " + backups).replacingOccurrences(of: "\"copies\": {", with: """
        "copies": {
            "pinned": { "from": "a", "to": "b", "databases": { "app": "app_pinned" }, "backup": "\(pinned)" },
        """))
        #expect(try project.run("apply", "--auto-approve").code == 0)
        for _ in 0..<2 { #expect(try project.run("backup", "daily").code == 0) }
        let kept = try FileManager.default.contentsOfDirectory(atPath: project.root + "/var/bk-daily").sorted()
        #expect(kept.count == 2 && kept.contains(pinned), "keep 1 and the pinned set: \(kept)")
        let again = try project.run("plan")
        #expect(again.code == 0 && !again.all.contains("BackupNotFound"), "\(again.all)")
        // Round 78, F2: the pinned set is no set "beyond keep to remove": the plan converges.
        #expect(again.stdout.contains("No changes") && !again.all.contains("beyond keep"), "\(again.all)")
        // Round 78, F3: a new backup of the source does not rebuild the copy of a pinned set.
        let withExtra = twoInstancePlan(extra: ",\n  " + backups.replacingOccurrences(of: "\"other\":", with: "\"extra\": { \"of\": \"a\", \"databases\": [\"app\"], \"to\": \"../var/bk-extra\" }, \"other\":"))
            .replacingOccurrences(of: "\"copies\": {", with: """
            "copies": {
                "pinned": { "from": "a", "to": "b", "databases": { "app": "app_pinned" }, "backup": "\(pinned)" },
            """)
        try project.write("plans/main.json", withExtra)
        let extra = try project.run("plan")
        #expect(extra.code == 0 && extra.all.contains("backup.extra") && !extra.all.contains("-/+ copy.pinned") && !extra.all.contains("source changes (backup"), "\(extra.all)")
        try project.write("plans/main.json", twoInstancePlan(extra: ",\n  " + backups).replacingOccurrences(of: "\"copies\": {", with: """
        "copies": {
            "pinned": { "from": "a", "to": "b", "databases": { "app": "app_pinned" }, "backup": "\(pinned)" },
        """))
        // The pinned set copied by hand, under its id, into the other backup's location.
        try FileManager.default.createDirectory(atPath: project.root + "/var/bk-other", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: project.root + "/var/bk-daily/\(pinned)", toPath: project.root + "/var/bk-other/\(pinned)")
        let twice = try project.run("plan")
        #expect(twice.code == 1 && twice.all.contains("backup set \(pinned) of instance a is in more than one location")
                && twice.all.contains("var/bk-daily") && twice.all.contains("var/bk-other"), "\(twice.all)")
    }

    /// Fresh tester round 78, F1: a backup killed mid-way, then a directory on its location's
    /// path replaced by a symbolic link to another holding a user's files under the set's id:
    /// `ferry recover` removed those files through the link and said "as they were before". It
    /// refuses (nothing removed, the run pending) until the directory is back, then removes the
    /// run's own leftovers.
    @Test func aRecoverRemovesNothingThroughADirectoryReplacedByALink() throws {
        let project = try Project()
        try applied(project)
        try project.write("plans/main.json", twoInstancePlan(extra: """
        ,
          "backups": { "daily": { "of": "a", "databases": ["app"], "to": "../var/plain/loc" } }
        """))
        try project.killed(["backup", "daily"], at: "change:backup.fileWritten#1")
        let root = project.root + "/var"
        let id = try #require(try FileManager.default.contentsOfDirectory(atPath: root + "/plain/loc").first)
        try FileManager.default.createDirectory(atPath: root + "/other/loc/\(id)", withIntermediateDirectories: true)
        for name in ["app.db", "manifest.json"] { try project.write("var/other/loc/\(id)/\(name)", "the user's \(name)\n") }
        try FileManager.default.moveItem(atPath: root + "/plain", toPath: root + "/plain.real")
        try FileManager.default.createSymbolicLink(atPath: root + "/plain", withDestinationPath: "other")
        let refused = try project.run("recover")
        #expect(refused.code != 0 && refused.all.contains("is not where the run wrote it") && !refused.all.contains("as they were before"), "\(refused.all)")
        #expect(project.read("var/other/loc/\(id)/app.db") == "the user's app.db\n" && project.read("var/other/loc/\(id)/manifest.json") != nil, "the user's files stay")
        try FileManager.default.removeItem(atPath: root + "/plain")
        try FileManager.default.moveItem(atPath: root + "/plain.real", toPath: root + "/plain")
        let recovered = try project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        #expect(!FileManager.default.fileExists(atPath: root + "/plain/loc/\(id)"), "the run's own leftover is removed")
        #expect(project.read("var/other/loc/\(id)/app.db") == "the user's app.db\n")
    }

    @Test func backupOnDemandAndCopyFromTheSet() throws {
        let project = try Project()
        try applied(project)
        try project.write("plans/main.json", twoInstancePlan(extra: """
        ,
          "backups": { "daily": { "of": "a", "databases": ["app"], "to": "../var/backups", "every": "24h", "keep": 2 } }
        """))
        let taken = try project.run("backup", "daily")
        #expect(taken.code == 0, "\(taken.all)")
        let setID = try #require(taken.stdout.components(separatedBy: "backup set ").dropFirst().first?.split(separator: " ").first.map(String.init))
        // keep 2: a third set removes the oldest.
        #expect(try project.run("backup", "daily").code == 0)
        #expect(try project.run("backup", "daily").code == 0)
        let sets = try FileManager.default.contentsOfDirectory(atPath: project.root + "/var/backups")
        #expect(sets.count == 2, "\(sets)")
        let newest = try #require(sets.sorted().last)
        #expect(FileManager.default.fileExists(atPath: project.root + "/var/backups/\(newest)/manifest.json"))
        #expect(try project.run("state", "show", "backup.daily").stdout.contains(newest))
        let kept = try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/var/backups").sorted().last)
        #expect(!FileManager.default.fileExists(atPath: project.root + "/var/backups/\(setID)"), "the oldest set is pruned")
        try exec(project, "var/a/app.db", "DELETE FROM users;")
        try project.write("plans/main.json", twoInstancePlan(extra: """
        ,
          "backups": { "daily": { "of": "a", "databases": ["app"], "to": "../var/backups", "every": "24h", "keep": 2 } }
        """).replacingOccurrences(of: "\"copies\": {", with: """
        "copies": {
            "restore": { "from": "a", "to": "b", "databases": { "app": "app_restored" }, "backup": "\(kept)" },
        """))
        let result = try project.run("apply", "--auto-approve", "--target", "copy.restore")
        #expect(result.code == 0, "\(result.all)")
        #expect(try project.query("var/b/app_restored.db", "SELECT count(*) FROM users") == [["3"]])
        try project.write("plans/main.json", (project.read("plans/main.json") ?? "").replacingOccurrences(of: "\"backup\": \"\(kept)\"", with: "\"backup\": \"nope\""))
        let missing = try project.run("plan")
        #expect(missing.code == 1 && missing.stderr.contains("BackupNotFound"))
    }
}

/// Append imports and incomplete rollbacks.
@Suite(.serialized) struct ApplyEdgeTests {
    func journals(_ project: Project, except old: Set<String> = []) -> String {
        let runs = ((try? FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs")) ?? []).filter { !old.contains($0) }
        return runs.compactMap { project.read(".ferry/runs/\($0)/journal.jsonl") }.joined()
    }

    @Test func appendImportAddsToTheTargetAndRollsBackToIt() throws {
        let project = try Project()
        try project.write("plans/main.json", """
        { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
          "imports": { "base": { "into": "a", "database": "app", "from": "data/base.sql" } } }
        """)
        try project.write("plans/data/base.sql", "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT);\nINSERT INTO users VALUES (1, 'ada');\n")
        #expect(try project.run("apply", "--auto-approve").code == 0)
        try project.write("plans/main.json", """
        { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
          "imports": { "more": { "into": "a", "database": "app", "from": "data/more.sql", "onExisting": "append" } } }
        """)
        try project.write("plans/data/more.sql", "INSERT INTO users VALUES (2, 'grace');\n")
        let plan = try project.run("plan")
        #expect(plan.stdout.contains("~   import.more"), "\(plan.all)")
        #expect(plan.stdout.contains("snapshot a/app"))
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        #expect(try project.query("var/a/app.db", "SELECT name FROM users ORDER BY id") == [["ada"], ["grace"]])
        // A failing append leaves the target as it was.
        let before = project.fileBytes("var/a/app.db")
        try project.write("plans/data/more.sql", "INSERT INTO users VALUES (3, 'ken');\nINSERT INTO users VALUES (1, 'duplicate key');\n")
        let failed = try project.run("apply", "--auto-approve")
        #expect(failed.code == 3, "\(failed.all)")
        #expect(failed.all.contains("more.sql:2"), "\(failed.all)")
        #expect(project.fileBytes("var/a/app.db") == before)
    }

    @Test func rollbackThatCannotFinishIsExitFourUntilTheInstanceIsBack() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        #expect(try project.run("apply", "--auto-approve").code == 0)
        let before = project.fileBytes("var/a/app.db")
        var text = "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n"
        for i in 1...300_000 { text += "INSERT INTO users VALUES (\(i), 'row-\(i)-padding');\n" }
        try project.write("plans/data/seed.sql", text)
        let old = Set((try? FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs")) ?? [])
        let process = try project.start(["apply", "--auto-approve"])
        let deadline = Date().addingTimeInterval(60)
        while !journals(project, except: old).contains("shadowCreated") && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
        process.signal(SIGKILL)
        process.waitUntilExit()
        #expect(journals(project, except: old).contains("shadowCreated"))
        // The instance directory is gone when recovery runs.
        try FileManager.default.moveItem(atPath: project.root + "/var/a", toPath: project.root + "/var/a-away")
        try "not a directory".write(toFile: project.root + "/var/a", atomically: true, encoding: .utf8)
        let stuck = try project.run("recover")
        #expect(stuck.code == 4, "\(stuck.all)")
        let status = try project.run("status")
        #expect(status.stdout.contains("Needs a hand"), "\(status.all)")
        #expect(try project.run("plan").stderr.contains("RunInterrupted"))
        // Back again: recovery finishes and leaves the old content.
        try FileManager.default.removeItem(atPath: project.root + "/var/a")
        try FileManager.default.moveItem(atPath: project.root + "/var/a-away", toPath: project.root + "/var/a")
        let done = try project.run("recover")
        #expect(done.code == 0, "\(done.all)")
        #expect(project.fileBytes("var/a/app.db") == before)
        #expect(project.leftovers(in: "var/a") == [])
        #expect(try project.run("apply", "--auto-approve").code == 0)
    }
}
