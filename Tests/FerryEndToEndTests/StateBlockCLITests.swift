import Foundation
import Testing

/// The plan files' `"state"` block (SPEC §2, §6): two working copies whose plans name one state
/// on PostgreSQL test cluster A share it with no `--state`, every command that reads the state
/// finds it there, `--state` overrides it, and its password (by reference) shows nowhere.
@Suite(.serialized) struct StateBlockCLITests {
    struct Shared {
        let first: Project
        let second: Project
        let schema: String
        let password: String
        let instances: String
        let pg: PostgresStateCLITests
    }

    /// Two checkouts whose `plans/state.json` names schema `schema` on cluster A, the password in
    /// `STATE_PW` (set in both checkouts' environment), the instances shared by absolute path.
    func shared(extraBlockFields: String = "", planExtra: String = "") throws -> Shared {
        let env = ProcessInfo.processInfo.environment
        let base = try #require(env["FERRY_TEST_PG_A"], "FERRY_TEST_PG_A is not set: run scripts/test.sh")
        let password = try #require(env["FERRY_TEST_PG_PASSWORD"])
        let schema = "blk_" + UUID().uuidString.prefix(8).lowercased()
        let first = try Project(), second = try Project()
        let instances = first.root + "/shared-instances"
        let plan = twoInstancePlan(extra: planExtra).replacingOccurrences(of: "\"../var/a\"", with: "\"\(instances)/a\"")
            .replacingOccurrences(of: "\"../var/b\"", with: "\"\(instances)/b\"")
        for project in [first, second] {
            try project.write("plans/main.json", plan)
            try project.write("plans/data/seed.sql", seedSQL)
            try project.write("plans/state.json", """
                {
                  "ferry": 1,
                  "state": { "backend": "postgres", "url": "\(base)", "password": { "env": "STATE_PW" }, "schema": "\(schema)"\(extraBlockFields) }
                }
                """)
            project.environment["STATE_PW"] = password
            project.environment["PGPASSWORD"] = nil
        }
        return Shared(first: first, second: second, schema: schema, password: password, instances: instances, pg: PostgresStateCLITests())
    }

    func drop(_ s: Shared) { _ = try? s.pg.psql(s.first, "DROP SCHEMA IF EXISTS \(s.schema) CASCADE;") }

    @Test func everyCommandFindsTheStateInThePlanFilesAndNoSecretShows() throws {
        let s = try shared()
        defer { drop(s) }
        var outputs: [String] = []
        let saved = try s.first.run("plan", "--out", "ferry.plan")
        outputs.append(saved.all)
        #expect(saved.code == 0, "\(saved.all)")
        let applied = try s.first.run("apply", "--auto-approve", "ferry.plan")
        outputs.append(applied.all)
        #expect(applied.code == 0, "\(applied.all)")
        #expect(!s.first.exists(".ferry/state.json") && !s.second.exists(".ferry/state.json"), "nothing is kept locally")
        #expect(try s.pg.psql(s.first, "SELECT serial FROM \(s.schema).state;").trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        for args in [["runs"], ["status"], ["state", "list"], ["state", "show", "copy.to-b"], ["recover"], ["plan"], ["graph", "--format", "json"]] {
            let result = try s.second.run(args)
            outputs.append(result.all)
            #expect(result.code == 0, "\(args): \(result.all)")
            if args == ["runs"] { #expect(result.stdout.contains("committed"), "\(result.all)") }
            if args == ["state", "list"] { #expect(result.stdout.contains("copy.to-b"), "\(result.all)") }
            if args == ["recover"] { #expect(result.stdout.contains("Nothing to recover"), "\(result.all)") }
        }
        let runID = try s.pg.psql(s.first, "SELECT run_id FROM \(s.schema).runs;").trimmingCharacters(in: .whitespacesAndNewlines)
        let status = try s.second.run("status", runID)
        #expect(status.code == 0 && status.stdout.contains(runID), "\(status.all)")
        // `--state DIR` overrides the block: that directory's state is empty.
        let local = try s.second.run("state", "list", "--state", ".ferry-local")
        outputs.append(local.all)
        #expect(local.code == 0 && !local.stdout.contains("copy.to-b"), "\(local.all)")
        // The saved plan and every output hold no password; nor does any row of the state.
        let savedText = try #require(s.first.read("ferry.plan"))
        #expect(!savedText.contains(s.password))
        for text in outputs { #expect(!text.contains(s.password), "output holds the password: \(text)") }
        let rows = try s.pg.psql(s.first, """
            SELECT t::text FROM \(s.schema).meta t UNION ALL SELECT t::text FROM \(s.schema).state t
            UNION ALL SELECT t::text FROM \(s.schema).runs t UNION ALL SELECT t::text FROM \(s.schema).journal t;
            """)
        #expect(rows.contains("copy.to-b") && !rows.contains(s.password))
    }

    /// A run killed in one checkout is seen, refused and rolled back from the other, all through
    /// the block: recover, unlock and rollback read the same state.
    @Test func recoverUnlockAndRollbackFromTheOtherCheckoutUseTheBlock() throws {
        let s = try shared()
        defer { drop(s) }
        s.first.environment["FERRY_TEST_KILL_AT"] = "after-swapDone"
        let killed = try s.first.run("apply", "--auto-approve")
        s.first.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code != 0, "\(killed.all)")
        let refused = try s.second.run("plan")
        #expect(refused.code == 1 && refused.stderr.contains("RunInterrupted"), "\(refused.all)")
        let recovered = try s.second.run("recover")
        #expect(recovered.code == 0 && recovered.stdout.contains("rolled back"), "\(recovered.all)")
        #expect(!FileManager.default.fileExists(atPath: s.instances + "/a/app.db"))
        #expect(try s.second.run("apply", "--auto-approve").code == 0)
        let replaced = try s.first.run("apply", "--auto-approve", "--replace", "copy.to-b")
        #expect(replaced.code == 0, "\(replaced.all)")
        let runs = try s.pg.psql(s.first, "SELECT run_id FROM \(s.schema).runs ORDER BY run_id;").split(separator: "\n").map(String.init)
        let last = try #require(runs.last)
        let rollback = try s.second.run("rollback", last)
        #expect(rollback.code == 0, "\(rollback.all)")
        let unlock = try s.second.run("unlock", "no-such-lock")
        #expect(unlock.code != 0 || unlock.stdout.contains("not locked") || unlock.all.contains("no lock"), "\(unlock.all)")
        #expect(!unlock.all.contains(s.password))
    }

    /// Issue 20: a backup's local location is recorded relative to its plan file, so a checkout
    /// at another path that holds the same sets (a restored CI cache) sees them as this backup's:
    /// no change, and a backup there that is due, or kept, counts the first checkout's sets.
    @Test func aSecondCheckoutAtAnotherPathFindsTheSameBackupSets() throws {
        let backups = #", "backups": { "nightly": { "of": "a", "databases": ["app"], "to": "../var/backups", "every": "24h", "keep": 2 } }"#
        let s = try shared(planExtra: backups)
        defer { drop(s) }
        #expect(s.first.root != s.second.root)
        let applied = try s.first.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let sets = try FileManager.default.contentsOfDirectory(atPath: s.first.root + "/var/backups").filter { !$0.hasPrefix(".") }
        #expect(sets.count == 1, "\(sets)")
        // Without the sets, the second checkout has none to find there.
        let empty = try s.second.run("plan", "--detailed-exitcode")
        #expect(empty.code == 2 && empty.stdout.contains("no backup set yet"), "\(empty.all)")
        try FileManager.default.createDirectory(atPath: s.second.root + "/var", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: s.first.root + "/var/backups", toPath: s.second.root + "/var/backups")
        let there = try s.second.run("plan", "--detailed-exitcode")
        #expect(there.code == 0 && there.stdout.contains("No changes"), "\(there.all)")
        let drift = try s.second.run("plan", "--refresh-only", "--detailed-exitcode")
        #expect(drift.code == 0, "\(drift.all)")
        // The state holds no path of either checkout.
        let body = try s.pg.psql(s.first, "SELECT body FROM \(s.schema).state;")
        #expect(!body.contains(s.first.root) && !body.contains(s.second.root), "\(body)")
        // A set taken from the second checkout counts with the first's toward keep: two sets now.
        let again = try s.second.run("apply", "--auto-approve", "--replace", "backup.nightly")
        #expect(again.code == 0, "\(again.all)")
        let listed = try s.first.run("state", "show", "backup.nightly")
        #expect(listed.code == 0 && sets.allSatisfy { listed.stdout.contains($0) }, "\(listed.all)")
        // A location that really differs is still a change from there.
        try s.second.write("plans/main.json", try #require(s.second.read("plans/main.json")).replacingOccurrences(of: "../var/backups", with: "../var/other"))
        let moved = try s.second.run("plan", "--detailed-exitcode")
        #expect(moved.code == 2 && moved.stdout.contains("no backup set yet"), "\(moved.all)")
    }

    /// Issue 20: shell completion lists state records and run ids from the state the commands
    /// use: the block (its password from the environment), unless `--state` on the line says otherwise.
    @Test func completionListsTheStateAndRunsOfTheBlockAndTheFlagOverridesIt() throws {
        let s = try shared()
        defer { drop(s) }
        #expect(try s.first.run("apply", "--auto-approve").code == 0)
        let runID = try s.pg.psql(s.first, "SELECT run_id FROM \(s.schema).runs;").trimmingCharacters(in: .whitespacesAndNewlines)
        let runs = try s.second.run("completion", "--list", "runs")
        #expect(runs.code == 0 && runs.stdout == runID + "\n", "\(runs.all)")
        try s.second.write("complete.sh", """
            source <("$FERRY" completion bash)
            line() { COMP_WORDS=("$FERRY" "$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=(); _ferry; echo "${COMPREPLY[*]}"; }
            line state show ""
            line status ""
            line --state .ferry-other state show ""
            line rollback ""

            """)
        s.second.environment["FERRY"] = Project.binary
        let result = try s.second.runShell("bash complete.sh")
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines == ["copy.to-b import.seed", runID, "", runID, ""], "\(result.all)")
        // Without the password the block names, nothing is completed (and nothing else is read).
        s.second.environment["STATE_PW"] = nil
        let none = try s.second.run("completion", "--list", "state")
        #expect(none.stdout.isEmpty && !none.all.contains(s.password), "\(none.all)")
    }

    @Test func anUnsetPasswordVariableOrAConflictingBlockIsAnErrorWithItsPlace() throws {
        let s = try shared()
        defer { drop(s) }
        s.first.environment["STATE_PW"] = nil
        for args in [["runs"], ["plan"], ["state", "list"]] {
            let result = try s.first.run(args)
            #expect(result.code == 1 && result.stderr.contains("STATE_PW"), "\(args): \(result.all)")
            #expect(result.stderr.contains("UnsetVariable"), "\(result.all)")
        }
        let other = s.second.read("plans/state.json")!.replacingOccurrences(of: s.schema, with: s.schema + "_x")
        try s.second.write("plans/zz.json", other)
        for args in [["runs"], ["apply", "--auto-approve"], ["validate"]] {
            let result = try s.second.run(args)
            #expect(result.code == 1 && result.all.contains("DuplicateName") && result.all.contains("plans/zz.json:3:"), "\(args): \(result.all)")
            #expect(result.all.contains("plans/state.json:3:"), "\(result.all)")
        }
        try s.second.write("plans/zz.json", #"{ "ferry": 1, "state": { "backend": "postgres", "url": "postgres://ferry:lit3ral@127.0.0.1:1/postgres" } }"#)
        let literal = try s.second.run("runs")
        #expect(literal.code == 1 && literal.stderr.contains("LiteralPassword") && !literal.all.contains("lit3ral"), "\(literal.all)")
        #expect(try s.pg.psql(s.first, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = '\(s.schema)';").trimmingCharacters(in: .whitespacesAndNewlines) == "0",
                "nothing was created")
    }

    /// Issue 20 point 4: PostgreSQL's own schemas never hold Ferry's tables, by `--state` or block.
    @Test(arguments: ["information_schema", "pg_catalog", "pg_toast", "pg_temp_1", "pg_ferry"])
    func aCatalogSchemaIsRefusedBeforeAnythingIsWritten(_ schema: String) throws {
        let env = ProcessInfo.processInfo.environment
        let base = try #require(env["FERRY_TEST_PG_A"])
        let project = try Project()
        project.environment["PGPASSWORD"] = env["FERRY_TEST_PG_PASSWORD"]
        let viaFlag = try project.run("runs", "--state", base + "?schema=" + schema)
        #expect(viaFlag.code == 1 && viaFlag.stderr.contains("InvalidParameter") && viaFlag.stderr.contains("PostgreSQL's own"), "\(viaFlag.all)")
        try project.write("plans/state.json", #"{ "ferry": 1, "state": { "backend": "postgres", "url": "\#(base)", "schema": "\#(schema)" } }"#)
        for args in [["runs"], ["validate"]] {
            let viaBlock = try project.run(args)
            #expect(viaBlock.code == 1 && viaBlock.all.contains("InvalidParameter") && viaBlock.all.contains("plans/state.json"), "\(viaBlock.all)")
        }
        let tables = try PostgresStateCLITests().psql(project, "SELECT count(*) FROM pg_tables WHERE tablename = 'journal' AND schemaname = '\(schema)';")
        #expect(tables.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }
}

/// Issue 20 point 2: an import of a local file is keyed by its path relative to the plan file, so
/// a second working copy at another path (a CI runner's checkout) on the same state plans no change.
@Suite struct RelativeImportKeyCLITests {
    @Test func aSecondCheckoutAtAnotherPathPlansNoChangeAndSeesARealChange() throws {
        let first = try Project(), second = try Project()
        // The instances and the state sit outside both checkouts, as servers or shared disks do.
        let shared = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-shared-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: shared) }
        let plan = twoInstancePlan().replacingOccurrences(of: "\"../var/a\"", with: "\"\(shared)/a\"")
            .replacingOccurrences(of: "\"../var/b\"", with: "\"\(shared)/b\"")
        for project in [first, second] {
            try project.write("plans/main.json", plan)
            try project.write("plans/data/seed.sql", seedSQL)
        }
        let state = shared + "/state"
        let applied = try first.run("apply", "--auto-approve", "--state", state)
        #expect(applied.code == 0, "\(applied.all)")
        let stateText = try String(contentsOfFile: state + "/state.json", encoding: .utf8)
        #expect(stateText.contains("\"data/seed.sql\"") && !stateText.contains(first.root + "/plans"), "\(stateText)")
        let there = try second.run("plan", "--detailed-exitcode", "--state", state)
        #expect(there.code == 0 && there.stdout.contains("No changes"), "\(there.all)")
        let drift = try second.run("plan", "--refresh-only", "--detailed-exitcode", "--state", state)
        #expect(drift.code == 0, "\(drift.all)")
        // A plan saved in the first checkout applies in the second (issue 20 point 8: a CI
        // merge job applies the PR's artifact), even once the first checkout is gone.
        try first.write("plans/data/seed.sql", seedSQL + "INSERT INTO users VALUES (5, 'five');\n")
        try second.write("plans/data/seed.sql", seedSQL + "INSERT INTO users VALUES (5, 'five');\n")
        let saved = try first.run("plan", "--out", "ferry.plan", "--state", state)
        #expect(saved.code == 0 && saved.stdout.contains("source changed"), "\(saved.all)")
        try FileManager.default.copyItem(atPath: first.root + "/ferry.plan", toPath: second.root + "/ferry.plan")
        try FileManager.default.removeItem(atPath: first.root + "/plans")
        let applied2 = try second.run("apply", "ferry.plan", "--state", state)
        #expect(applied2.code == 0 && applied2.stdout.contains("Apply complete"), "\(applied2.all)")
        #expect(try second.run("plan", "--detailed-exitcode", "--state", state).code == 0)
        // A saved plan whose files changed in this checkout since is stale.
        try second.write("plans/data/seed.sql", seedSQL + "INSERT INTO users VALUES (6, 'six');\n")
        let resaved = try second.run("plan", "--out", "again.plan", "--state", state)
        #expect(resaved.code == 0)
        try second.write("plans/main.json", plan.replacingOccurrences(of: "\"database\": \"app\",", with: "\"database\": \"app\", \"rerun\": \"always\","))
        let stale = try second.run("apply", "again.plan", "--state", state)
        #expect(stale.code == 1 && stale.stderr.contains("PlanStale") && stale.stderr.contains("plan files changed"), "\(stale.all)")
        try second.write("plans/main.json", plan)
        try second.write("plans/data/seed.sql", seedSQL + "INSERT INTO users VALUES (4, 'new');\n")
        let changed = try second.run("plan", "--detailed-exitcode", "--state", state)
        #expect(changed.code == 2 && changed.stdout.contains("source changed"), "\(changed.all)")
    }
}

/// Issue 20 point 5: the state server stops answering mid-run (its database refuses connections
/// and every session of it is ended, as a stopped server does). The run's rollback undoes from
/// the records it wrote (it cannot read them back), says "as they were" only as checked, and
/// points at `ferry recover` once the server is back, not at free space.
@Suite(.serialized) struct StateServerStoppedTests {
    @Test func aRunWhoseStateServerStopsIsUndoneFromItsOwnRecordsAndRecoverEndsIt() throws {
        let env = ProcessInfo.processInfo.environment
        let base = try #require(env["FERRY_TEST_PG_A"])
        let password = try #require(env["FERRY_TEST_PG_PASSWORD"])
        let pg = PostgresStateCLITests()
        let project = try Project()
        let database = "ferry_state_" + UUID().uuidString.prefix(8).lowercased()
        _ = try pg.psql(project, "CREATE DATABASE \(database);")
        defer {
            _ = try? pg.psql(project, "ALTER DATABASE \(database) ALLOW_CONNECTIONS true;")
            _ = try? pg.psql(project, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(database)';")
            _ = try? pg.psql(project, "DROP DATABASE IF EXISTS \(database);")
        }
        let url = base.replacingOccurrences(of: "/postgres", with: "/\(database)")
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        try project.write("plans/state.json", #"{ "ferry": 1, "state": { "backend": "postgres", "url": "\#(url)", "password": { "env": "STATE_PW" } } }"#)
        project.environment["STATE_PW"] = password
        #expect(try project.run("apply", "--auto-approve").code == 0)
        let before = project.fileBytes("var/a/app.db")
        project.environment["FERRY_TEST_STOP_AT"] = "after-swapDone"
        let logPath = project.root + "/holder.log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try #require(FileHandle(forWritingAtPath: logPath))
        let holder = try project.start(["apply", "--auto-approve", "--replace", "import.seed"], stdout: log, stderr: log)
        project.environment["FERRY_TEST_STOP_AT"] = nil
        defer { if holder.isRunning { holder.signal(SIGKILL) } }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !LockTimeoutTests.isStopped(holder.processIdentifier), holder.isRunning { Thread.sleep(forTimeInterval: 0.02) }
        #expect(LockTimeoutTests.isStopped(holder.processIdentifier))
        _ = try pg.psql(project, """
            ALTER DATABASE \(database) ALLOW_CONNECTIONS false;
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(database)';
            """)
        holder.signal(SIGCONT)
        holder.waitUntilExit()
        try log.close()
        let text = try #require(project.read("holder.log"))
        #expect(!text.contains("free space"), "\(text)")
        #expect(!text.contains(password))
        #expect(holder.terminationStatus == 3 || holder.terminationStatus == 4, "\(text)")
        #expect(text.contains("once the state server"), "\(text)")
        // Exit 4 here is the rollback that could not be recorded: "as they were" only when the
        // undo itself was complete, and then it must be true.
        if text.contains("rollback is incomplete") {
            #expect(!text.contains("as they were"), "\(text)")
        } else {
            #expect(text.contains("rolled back: the instances are as they were"), "\(text)")
            // Checked: the original is back and the run left no shadow or checkpoint; its claim
            // stays until `ferry recover` journals the end (fresh tester round 19, F1).
            #expect(project.fileBytes("var/a/app.db") == before)
            let left = (try? FileManager.default.contentsOfDirectory(atPath: project.root + "/var/a")) ?? []
            #expect(!left.contains { $0.contains(".ferry-shadow-") || $0.contains(".ferry-ckpt-") }, "\(left)")
        }
        _ = try pg.psql(project, "ALTER DATABASE \(database) ALLOW_CONNECTIONS true;")
        let refused = try project.run("plan")
        #expect(refused.code == 1 && refused.stderr.contains("RunInterrupted"), "\(refused.all)")
        let recovered = try project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        #expect(project.fileBytes("var/a/app.db") == before)
        #expect(!(project.read("var/a/.ferry-claims.json") ?? "").contains("Importing"), "\(project.read("var/a/.ferry-claims.json") ?? "")")
        let plan = try project.run("plan", "--detailed-exitcode")
        #expect(plan.code == 0, "\(plan.all)")
    }
}
