import Foundation
import Testing

/// `--state postgres://...` (SPEC §6 "The state on PostgreSQL"): real `ferry` processes in two
/// working copies of one project share a state on test cluster A. The SQLite instances both
/// copies' plans name are one directory (absolute paths), as two clones of a repository reach
/// the same servers. Each test has its own schema.
@Suite(.serialized) struct PostgresStateCLITests {
    struct Shared {
        let first: Project
        let second: Project
        let url: String
        let schema: String
        let password: String
        let instances: String
    }

    func shared() throws -> Shared {
        let env = ProcessInfo.processInfo.environment
        let base = try #require(env["FERRY_TEST_PG_A"], "FERRY_TEST_PG_A is not set: run scripts/test.sh")
        let password = try #require(env["FERRY_TEST_PG_PASSWORD"])
        let schema = "cli_" + UUID().uuidString.prefix(8).lowercased()
        let url = base.replacingOccurrences(of: "://ferry@", with: "://ferry:\(password)@") + "?schema=\(schema)"
        let first = try Project(), second = try Project()
        let instances = first.root + "/shared-instances"
        let plan = twoInstancePlan().replacingOccurrences(of: "\"../var/a\"", with: "\"\(instances)/a\"")
            .replacingOccurrences(of: "\"../var/b\"", with: "\"\(instances)/b\"")
        for project in [first, second] {
            try project.write("plans/main.json", plan)
            try project.write("plans/data/seed.sql", seedSQL)
        }
        return Shared(first: first, second: second, url: url, schema: schema, password: password, instances: instances)
    }

    func psql(_ project: Project, _ sql: String) throws -> String {
        let env = ProcessInfo.processInfo.environment
        let base = try #require(env["FERRY_TEST_PG_A"])
        let parts = try #require(URLComponents(string: base))
        let file = project.root + "/q-\(UUID().uuidString.prefix(6)).sql"
        try sql.write(toFile: file, atomically: true, encoding: .utf8)
        let command = "PGPASSWORD=\"$FERRY_TEST_PG_PASSWORD\" psql -X -q -A -t -v ON_ERROR_STOP=1 -h \(parts.host ?? "127.0.0.1") -p \(parts.port ?? 5432) -U ferry -d postgres -f '\(file)'"
        var result = try project.runShell(command)
        // A helper query may meet the lock of a killed ferry's backend that the server has not
        // ended yet, or of another suite's DROP SCHEMA: PostgreSQL then aborts one side with
        // SQLSTATE 40P01 "deadlock detected", which says nothing of Ferry. Ask again.
        for _ in 0..<5 where result.code != 0 && result.all.contains("deadlock detected") {
            Thread.sleep(forTimeInterval: 0.2)
            result = try project.runShell(command)
        }
        #expect(result.code == 0, "\(result.all)")
        return result.stdout
    }

    /// A `state show` record without its fingerprint lines.
    func withoutFingerprints(_ text: String) -> String {
        text.split(separator: "\n").filter { !$0.contains("\"fingerprint\"") }.joined(separator: "\n")
    }

    func dropSchema(_ s: Shared) { _ = try? psql(s.first, "DROP SCHEMA IF EXISTS \(s.schema) CASCADE;") }

    /// Starts `ferry apply` in `project` stopped (SIGSTOP) after its begin record: it holds the lock.
    func startStopped(_ project: Project, _ url: String) throws -> Process {
        project.environment["FERRY_TEST_STOP_AT"] = "after-begin"
        defer { project.environment["FERRY_TEST_STOP_AT"] = nil }
        let holder = try project.start(["apply", "--auto-approve", "--state", url])
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !LockTimeoutTests.isStopped(holder.processIdentifier), holder.isRunning {
            Thread.sleep(forTimeInterval: 0.02)
        }
        #expect(LockTimeoutTests.isStopped(holder.processIdentifier), "the first apply should stop holding the lock")
        return holder
    }

    /// A state that cannot be read is an error for the commands that only read runs: never
    /// "Nothing to recover." or "No runs yet." (a fresh tester's CI recover step passed green
    /// while its state server was down and a run was interrupted).
    @Test(arguments: ["recover", "runs", "status", "unlock"])
    func anUnreachableStateIsAnErrorNeverNothingToDo(_ command: String) throws {
        let project = try Project()
        let args = command == "unlock" ? [command, "some-lock-id"] : [command]
        let result = try project.run(args + ["--state", "postgres://ferry@127.0.0.1:1/postgres"])
        #expect(result.code == 1, "\(command): \(result.all)")
        #expect(result.all.contains("InstanceNotFound"), "\(command): \(result.all)")
        #expect(!result.all.contains("Nothing to recover") && !result.all.contains("No runs yet") && !result.all.contains("not locked"), "\(result.all)")
    }

    @Test func aSecondCheckoutSeesTheStateAndRunsAndNoSecretReachesOutputOrRows() throws {
        let s = try shared()
        defer { dropSchema(s) }
        var outputs: [String] = []
        let applied = try s.first.run("apply", "--auto-approve", "--state", s.url)
        outputs.append(applied.all)
        #expect(applied.code == 0, "\(applied.all)")
        #expect(!s.first.exists(".ferry/state.json"), "nothing is kept locally")
        let list = try s.second.run("state", "list", "--state", s.url)
        outputs.append(list.all)
        #expect(list.code == 0 && list.stdout.contains("import.seed") && list.stdout.contains("copy.to-b"), "\(list.all)")
        let runs = try s.second.run("runs", "--state", s.url)
        outputs.append(runs.all)
        #expect(runs.code == 0 && runs.stdout.contains("committed"), "\(runs.all)")
        // An import of a local file is keyed relative to its plan file: the other checkout,
        // at another path, plans no change.
        let there = try s.second.run("plan", "--detailed-exitcode", "--state", s.url)
        #expect(there.code == 0, "\(there.all)")
        let showHere = try s.first.run("state", "show", "copy.to-b", "--state", s.url)
        let showThere = try s.second.run("state", "show", "copy.to-b", "--state", s.url)
        #expect(showHere.code == 0 && showHere.stdout == showThere.stdout && showHere.stdout.contains("app_copy"), "\(showThere.all)")
        let here = try s.first.run("plan", "--detailed-exitcode", "--state", s.url)
        #expect(here.code == 0, "\(here.all)")
        let show = try s.second.run("state", "show", "import.seed", "--state", s.url)
        #expect(show.code == 0)
        // The same state read from a local copy of it prints the same record.
        let wrong = try s.second.run("state", "list", "--state", s.url.replacingOccurrences(of: ":\(s.password)@", with: ":not-the-\(s.password)-password@"))
        outputs.append(wrong.all)
        #expect(wrong.code == 1 && wrong.stderr.contains("WrongPassword"), "\(wrong.all)")
        for text in outputs { #expect(!text.contains(s.password), "output holds the password: \(text)") }
        let rows = try psql(s.first, """
            SELECT t::text FROM \(s.schema).meta t UNION ALL SELECT t::text FROM \(s.schema).state t
            UNION ALL SELECT t::text FROM \(s.schema).lock t UNION ALL SELECT t::text FROM \(s.schema).runs t
            UNION ALL SELECT t::text FROM \(s.schema).journal t;
            """)
        #expect(rows.contains("import.seed"))
        #expect(!rows.contains(s.password), "a row holds the password")
    }

    @Test func anApplyFromTheOtherCheckoutWaitsThenGetsStateLockedNamingTheHolder() throws {
        let s = try shared()
        defer { dropSchema(s) }
        let first = try startStopped(s.first, s.url)
        defer { if first.isRunning { first.signal(SIGKILL) } }
        let started = Date()
        let second = try s.second.run("apply", "--auto-approve", "--lock-timeout", "1s", "--state", s.url)
        #expect(Date().timeIntervalSince(started) >= 1)
        #expect(second.code == 1 && second.stderr.contains("error[StateLocked]"), "\(second.all)")
        #expect(second.stderr.contains("Waiting for the state lock held by"), "\(second.all)")
        #expect(second.stderr.contains("pid \(first.processIdentifier)"), "\(second.all)")
        // Its lock session is open: `ferry unlock ID` from the other checkout refuses without --force.
        let lockID = try psql(s.second, "SELECT lock_id FROM \(s.schema).lock;").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!lockID.isEmpty)
        let unlock = try s.second.run("unlock", lockID, "--state", s.url)
        #expect(unlock.code == 1 && unlock.stderr.contains("still running"), "\(unlock.all)")
        first.signal(SIGCONT)
        first.waitUntilExit()
        #expect(first.terminationStatus == 0)
        let runs = try s.second.run("runs", "--state", s.url)
        #expect(runs.stdout.components(separatedBy: "committed").count - 1 == 1, "\(runs.all)")
        #expect(try psql(s.first, "SELECT count(*) FROM \(s.schema).lock;").trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }

    /// kill -9 of the holder mid-run: its session ends, the server frees the advisory lock, and
    /// the other checkout is told the run was interrupted (not that the state is locked), then
    /// rolls it back with `ferry recover` and applies.
    @Test func killNineOfTheHolderFreesTheLockAndTheOtherCheckoutRecoversTheRun() throws {
        let s = try shared()
        defer { dropSchema(s) }
        s.first.environment["FERRY_TEST_KILL_AT"] = "after-swapDone"
        let killed = try s.first.run("apply", "--auto-approve", "--state", s.url)
        s.first.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code == 137 || killed.code == 9 || killed.code != 0, "\(killed.all)")
        let refused = try s.second.run("apply", "--auto-approve", "--state", s.url)
        #expect(refused.code == 1 && refused.stderr.contains("error[RunInterrupted]"), "\(refused.all)")
        #expect(!refused.stderr.contains("StateLocked"), "\(refused.all)")
        let recovered = try s.second.run("recover", "--state", s.url)
        #expect(recovered.code == 0 && recovered.stdout.contains("rolled back"), "\(recovered.all)")
        #expect(!FileManager.default.fileExists(atPath: s.instances + "/a/app.db"), "the import's swap was undone")
        let applied = try s.second.run("apply", "--auto-approve", "--state", s.url)
        #expect(applied.code == 0, "\(applied.all)")
    }

    /// A kill between the state row's write and its commit: the transaction is lost whole, the
    /// state is the one before, and the run is rolled back as one that did not commit.
    @Test func aKillInsideTheStateWriteLeavesTheEarlierStateWhole() throws {
        let s = try shared()
        defer { dropSchema(s) }
        #expect(try s.first.run("apply", "--auto-approve", "--state", s.url).code == 0)
        let before = try s.second.run("state", "show", "import.seed", "--state", s.url)
        s.first.environment["FERRY_TEST_KILL_AT"] = "state-write-uncommitted"
        let killed = try s.first.run("apply", "--auto-approve", "--replace", "import.seed", "--state", s.url)
        s.first.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code == SIGKILL, "\(killed.all)")
        // It was killed inside the state's transaction: its journal says `committing`, not `committed`.
        let events = try psql(s.first, "SELECT string_agg(record::json->>'event', ',' ORDER BY seq) FROM \(s.schema).journal GROUP BY run_id ORDER BY run_id;")
        #expect(events.split(separator: "\n").last?.hasSuffix(",committing") == true, "\(events)")
        #expect(try psql(s.first, "SELECT serial FROM \(s.schema).state;").trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        let after = try s.second.run("state", "show", "import.seed", "--state", s.url)
        #expect(after.stdout == before.stdout && !after.stdout.isEmpty)
        let recovered = try s.second.run("recover", "--state", s.url)
        #expect(recovered.code == 0 && recovered.stdout.contains("rolled back"), "\(recovered.all)")
        // The records are the earlier ones; the rollback re-recorded the restored SQLite file's
        // fingerprint (its ctime changed: SPEC §6), which is one more write of the state.
        #expect(withoutFingerprints(try s.second.run("state", "show", "import.seed", "--state", s.url).stdout) == withoutFingerprints(before.stdout))
        #expect(try s.first.run("plan", "--detailed-exitcode", "--state", s.url).code == 0, "no drift after the rollback")
        let serial = Int(try psql(s.first, "SELECT serial FROM \(s.schema).state;").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(try s.first.run("apply", "--auto-approve", "--replace", "import.seed", "--state", s.url).code == 0)
        #expect(try psql(s.first, "SELECT serial FROM \(s.schema).state;").trimmingCharacters(in: .whitespacesAndNewlines) == "\(serial + 1)")
    }

    /// The state server drops every connection of a run mid-way (as a restart does): the run
    /// loses its lock session, reconnects for its journal, and rolls back (exit 3, or 4 when the
    /// rollback cannot be recorded); the state is as before and the lock is free again.
    @Test func theStateServerDroppingTheRunsConnectionsMidRunRollsItBackAndKeepsTheState() throws {
        let s = try shared()
        defer { dropSchema(s) }
        #expect(try s.first.run("apply", "--auto-approve", "--state", s.url).code == 0)
        let before = try s.second.run("state", "show", "import.seed", "--state", s.url).stdout
        s.first.environment["FERRY_TEST_STOP_AT"] = "after-swapDone"
        let logPath = s.first.root + "/holder.log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try #require(FileHandle(forWritingAtPath: logPath))
        let holder = try s.first.start(["apply", "--auto-approve", "--replace", "import.seed", "--state", s.url], stdout: log)
        s.first.environment["FERRY_TEST_STOP_AT"] = nil
        defer { if holder.isRunning { holder.signal(SIGKILL) } }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !LockTimeoutTests.isStopped(holder.processIdentifier), holder.isRunning { Thread.sleep(forTimeInterval: 0.02) }
        #expect(LockTimeoutTests.isStopped(holder.processIdentifier))
        // Every session whose last statement touched this schema, and the lock session.
        _ = try psql(s.first, """
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE pid <> pg_backend_pid() AND (query LIKE '%\(s.schema)%' OR pid IN (SELECT backend_pid FROM \(s.schema).lock));
            """)
        holder.signal(SIGCONT)
        holder.waitUntilExit()
        #expect(holder.terminationStatus == 3 || holder.terminationStatus == 4, "exit \(holder.terminationStatus)")
        // The error names the state's place (its schema shown, no password).
        try log.close()
        let text = try #require(s.first.read("holder.log"))
        #expect(text.contains("the state in postgres://ferry@") && text.contains("schema=\(s.schema)"), "\(text)")
        #expect(!text.contains(s.password))
        // The records are as before but for the restored SQLite file's fingerprint, which a
        // complete rollback re-records (SPEC §6); a rollback that could not reach the state left it.
        #expect(withoutFingerprints(try s.second.run("state", "show", "import.seed", "--state", s.url).stdout) == withoutFingerprints(before))
        #expect(["1", "2"].contains(try psql(s.first, "SELECT serial FROM \(s.schema).state;").trimmingCharacters(in: .whitespacesAndNewlines)))
        let runs = try s.second.run("runs", "--state", s.url)
        if holder.terminationStatus == 3 {
            #expect(runs.stdout.contains("rolledBack"), "\(runs.all)")
            #expect(try s.second.run("apply", "--auto-approve", "--replace", "import.seed", "--state", s.url).code == 0)
        } else {
            #expect(try s.second.run("recover", "--state", s.url).code == 0)
        }
    }

    @Test func aStateURLThatIsNotUsableIsRefusedBeforeAnythingRuns() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        let bad = try project.run("plan", "--state", "postgres://ferry:hunter2@127.0.0.1:5432/postgres?schema=No-Such")
        #expect(bad.code == 1 && bad.stderr.contains("InvalidParameter") && !bad.all.contains("hunter2"), "\(bad.all)")
        let other = try project.run("runs", "--state", "mysql://ferry:hunter2@127.0.0.1/x")
        #expect(other.code == 1 && other.stderr.contains("InvalidParameter") && !other.all.contains("hunter2"), "\(other.all)")
        let down = try project.run("apply", "--auto-approve", "--state", "postgres://ferry:hunter2@127.0.0.1:1/postgres")
        #expect(down.code == 1 && down.stderr.contains("InstanceNotFound") && !down.all.contains("hunter2"), "\(down.all)")
        #expect(!project.exists("var/a/app.db"))
    }
}

/// `ferry state migrate` (SPEC §6 "Moving a state"): a `.ferry/` moved to PostgreSQL and back
/// gives the same `state show`, `runs` and `status`; the source refuses use after the move; a
/// target that is not empty, a source with an unfinished run and a kill mid-move are handled.
@Suite(.serialized) struct StateMigrateCLITests {
    let helper = PostgresStateCLITests()

    @Test func aLocalStateMovedToPostgresAndBackReadsTheSameAndTheSourceIsRetired() throws {
        let s = try helper.shared()
        defer { helper.dropSchema(s) }
        let p = s.first
        #expect(try p.run("apply", "--auto-approve").code == 0)
        #expect(try p.run("apply", "--auto-approve", "--replace", "import.seed").code == 0)
        let before = try ["import.seed", "copy.to-b"].map { try p.run("state", "show", $0).stdout }
        let runsBefore = try p.run("runs").stdout
        let moved = try p.run("state", "migrate", "--to", s.url)
        #expect(moved.code == 0 && moved.stdout.contains("Moved the state (serial 2") && moved.stdout.contains("2 runs"), "\(moved.all)")
        #expect(!moved.all.contains(s.password), "\(moved.all)")
        #expect(!(p.read(".ferry/moved") ?? "").contains(s.password))
        // The source refuses use, naming where the state went.
        let refused = try p.run("plan")
        #expect(refused.code == 1 && refused.stderr.contains("was moved to postgres://ferry@"), "\(refused.all)")
        #expect(!refused.all.contains(s.password))
        let again = try p.run("state", "migrate", "--to", s.url)
        #expect(again.code == 0 && again.stdout.contains("Finished moving"), "a finished move run again changes nothing: \(again.all)")
        // Read from the backend (the second checkout), the same records and runs.
        let after = try ["import.seed", "copy.to-b"].map { try s.second.run("state", "show", $0, "--state", s.url).stdout }
        #expect(after == before)
        #expect(try s.second.run("runs", "--state", s.url).stdout == runsBefore)
        #expect(try p.run("plan", "--detailed-exitcode", "--state", s.url).code == 0)
        // Into a state that is not empty: refused, nothing changes.
        let full = try s.second.run("state", "migrate", "--from", ".ferry", "--to", s.url)
        #expect(full.code == 1, "\(full.all)")
        // (The import is keyed relative to its plan file: the second checkout finds it up to
        // date, so it replaces it on purpose to make a third run.)
        #expect(try s.second.run("apply", "--auto-approve", "--replace", "import.seed", "--state", s.url).code == 0, "the second checkout applies")
        let notEmpty = try p.run("state", "migrate", "--from", s.url, "--to", ".ferry")
        #expect(notEmpty.code == 1 && notEmpty.stderr.contains("not empty"), "the old directory still holds its data: \(notEmpty.all)")
        // And back into a new directory.
        let onServer = try ["import.seed", "copy.to-b"].map { try s.second.run("state", "show", $0, "--state", s.url).stdout }
        let back = try p.run("state", "migrate", "--from", s.url, "--to", ".ferry-back")
        #expect(back.code == 0 && back.stdout.contains("3 runs"), "\(back.all)")
        let local = try ["import.seed", "copy.to-b"].map { try p.run("state", "show", $0, "--state", ".ferry-back").stdout }
        let shared = try p.run("state", "list", "--state", s.url)
        #expect(shared.code == 1 && shared.stderr.contains("was moved to"), "\(shared.all)")
        let status = try p.run("runs", "--state", ".ferry-back")
        #expect(status.stdout.components(separatedBy: "committed").count - 1 == 3, "\(status.all)")
        #expect(local == onServer && local[0].contains("import.seed"))
    }

    @Test func aKillMidMoveLeavesOneLiveStateOrNoneAndTheSameMoveFinishesIt() throws {
        let s = try helper.shared()
        defer { helper.dropSchema(s) }
        let p = s.first
        #expect(try p.run("apply", "--auto-approve").code == 0)
        let before = try p.run("state", "show", "import.seed").stdout
        p.environment["FERRY_TEST_KILL_AT"] = "migrate-import-uncommitted"
        let killed = try p.run("state", "migrate", "--to", s.url)
        p.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code == SIGKILL, "\(killed.all)")
        // Neither is live: the source is retired, the target empty (its transaction was lost).
        #expect(try p.run("plan").code == 1)
        #expect(try helper.psql(p, "SELECT count(*) FROM \(s.schema).runs;").trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        // The empty target does not serve another checkout as a fresh state (issue 20 point 6).
        for args in [["apply", "--auto-approve"], ["runs"], ["plan"]] {
            let refused = try s.second.run(args + ["--state", s.url])
            #expect(refused.code == 1 && refused.stderr.contains("being moved into") && refused.stderr.contains("state migrate --from"), "\(args): \(refused.all)")
        }
        #expect(try helper.psql(p, "SELECT count(*) FROM \(s.schema).state WHERE body IS NOT NULL;").trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        let finished = try p.run("state", "migrate", "--to", s.url)
        #expect(finished.code == 0, "\(finished.all)")
        #expect(try s.second.run("state", "show", "import.seed", "--state", s.url).stdout == before)
        #expect(try s.second.run("plan", "--detailed-exitcode", "--state", s.url).code == 0)
    }

    /// PostgreSQL to a directory, killed after the runs were written and before `state.json`:
    /// the directory refuses use, and the same move run again finishes it (issue 20 point 6).
    @Test func aMoveToADirectoryKilledPartWayIsFinishedByTheSameMove() throws {
        let s = try helper.shared()
        defer { helper.dropSchema(s) }
        let p = s.first
        #expect(try p.run("apply", "--auto-approve", "--state", s.url).code == 0)
        let before = try p.run("state", "show", "import.seed", "--state", s.url).stdout
        p.environment["FERRY_TEST_KILL_AT"] = "migrate-import-runs-written"
        let killed = try p.run("state", "migrate", "--from", s.url, "--to", ".ferry-back")
        p.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code == SIGKILL, "\(killed.all)")
        #expect(p.exists(".ferry-back/runs") && !p.exists(".ferry-back/state.json"))
        for args in [["apply", "--auto-approve"], ["runs"], ["recover"]] {
            let refused = try p.run(args + ["--state", ".ferry-back"])
            #expect(refused.code == 1 && refused.stderr.contains("being moved into"), "\(args): \(refused.all)")
        }
        #expect(!p.exists(".ferry-back/state.json"))
        let finished = try p.run("state", "migrate", "--from", s.url, "--to", ".ferry-back")
        #expect(finished.code == 0 && finished.stdout.contains("Finished moving"), "\(finished.all)")
        #expect(try p.run("state", "show", "import.seed", "--state", ".ferry-back").stdout == before)
        #expect(try p.run("plan", "--detailed-exitcode", "--state", ".ferry-back").code == 0)
        let list = try p.run("state", "list", "--state", s.url)
        #expect(list.code == 1 && list.stderr.contains("was moved to"), "\(list.all)")
    }

    @Test func aSourceWithAnUnfinishedRunIsNotMoved() throws {
        let s = try helper.shared()
        defer { helper.dropSchema(s) }
        let p = s.first
        p.environment["FERRY_TEST_KILL_AT"] = "after-swapDone"
        _ = try p.run("apply", "--auto-approve")
        p.environment["FERRY_TEST_KILL_AT"] = nil
        let refused = try p.run("state", "migrate", "--to", s.url)
        #expect(refused.code == 1 && refused.stderr.contains("RunInterrupted"), "\(refused.all)")
        #expect(p.read(".ferry/moved") == nil)
        #expect(try p.run("recover").code == 0)
        #expect(try p.run("state", "migrate", "--to", s.url).code == 0)
        let bad = try p.run("state", "migrate", "--to", s.url, "--from", s.url)
        #expect(bad.code == 1 && bad.stderr.contains("InvalidParameter"), "\(bad.all)")
        #expect(try p.run("state", "migrate").code == 1)
    }
}
