import Foundation
import Testing

/// Issue 20: on a state on PostgreSQL a run is live exactly when its lock session holds the lock
/// on the state server, whatever host it runs on; `ferry recover` uses that proof (a local state
/// keeps the same-host process rule). Test cluster A, one schema per test.
@Suite(.serialized) struct RecoverBesideALiveRunOnASharedStateTests {
    let pg = PostgresStateCLITests()

    func journalCount(_ s: PostgresStateCLITests.Shared) throws -> Int {
        Int(try pg.psql(s.first, "SELECT count(*) FROM \(s.schema).journal;").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    @Test func aRunFromAnotherHostIsLiveWhileItsLockSessionHoldsTheLockAndDeadOnceTheSessionIsKilled() throws {
        let s = try pg.shared()
        defer { pg.dropSchema(s) }
        let logPath = s.first.root + "/holder.log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try #require(FileHandle(forWritingAtPath: logPath))
        s.first.environment["FERRY_TEST_STOP_AT"] = "after-begin"
        let holder = try s.first.start(["apply", "--auto-approve", "--state", s.url], stdout: log)
        s.first.environment["FERRY_TEST_STOP_AT"] = nil
        defer { if holder.isRunning { holder.signal(SIGKILL) } }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !LockTimeoutTests.isStopped(holder.processIdentifier), holder.isRunning { Thread.sleep(forTimeInterval: 0.02) }
        try #require(LockTimeoutTests.isStopped(holder.processIdentifier), "the apply should stop holding the lock")
        // The holder says it runs on another host (a CI runner): no pid of this host can be checked.
        _ = try pg.psql(s.first, """
            UPDATE \(s.schema).lock SET host = 'ci-runner-7', info = jsonb_set(info::jsonb, '{host}', '"ci-runner-7"')::text;
            """)
        let live = try s.second.run("recover", "--state", s.url)
        #expect(live.code == 0 && live.stdout.contains("Nothing to recover") && live.stdout.contains("ci-runner-7")
                && live.stdout.contains("still running") && live.stdout.contains("lock session is open"), "\(live.all)")
        let lockID = try pg.psql(s.first, "SELECT lock_id FROM \(s.schema).lock;").trimmingCharacters(in: .whitespacesAndNewlines)
        let unlock = try s.second.run("unlock", lockID, "--state", s.url)
        #expect(unlock.code == 1 && unlock.stderr.contains("StateLocked") && unlock.stderr.contains("still running"), "\(unlock.all)")
        let refused = try s.second.run("apply", "--auto-approve", "--state", s.url)
        #expect(refused.code == 1 && refused.stderr.contains("StateLocked") && refused.stderr.contains("ci-runner-7"), "\(refused.all)")
        #expect(!FileManager.default.fileExists(atPath: s.instances + "/a/app.db"))

        // Its lock session ends (a lost machine's connection, an admin's pg_terminate_backend). The
        // process is still there (stopped) on this host, but the run is dead: recover rolls it back.
        _ = try pg.psql(s.first, "SELECT pg_terminate_backend(backend_pid) FROM \(s.schema).lock;")
        var recovered = try s.second.run("recover", "--state", s.url)
        for _ in 0..<20 where recovered.stdout.contains("Nothing to recover") {
            // The server frees the advisory lock as the terminated backend exits.
            Thread.sleep(forTimeInterval: 0.1)
            recovered = try s.second.run("recover", "--state", s.url)
        }
        #expect(recovered.code == 0 && recovered.stdout.contains("rolled back"), "\(recovered.all)")
        let records = try journalCount(s)
        #expect(records > 1)
        // Resumed, the dead run writes no further record and starts no step: its appends are
        // fenced by its lock session. It fails, and the instances stay as recovered.
        holder.signal(SIGCONT)
        holder.waitUntilExit()
        try log.close()
        #expect(holder.terminationStatus != 0, "exit \(holder.terminationStatus): \(s.first.read("holder.log") ?? "")")
        #expect(try journalCount(s) == records, "the resumed run wrote records: \(s.first.read("holder.log") ?? "")")
        #expect(!FileManager.default.fileExists(atPath: s.instances + "/a/app.db"), "the resumed run imported: \(s.first.read("holder.log") ?? "")")
        #expect(s.first.read("holder.log")?.contains("records nothing more") == true, "\(s.first.read("holder.log") ?? "")")
        let after = try s.second.run("plan", "--detailed-exitcode", "--state", s.url)
        #expect(after.code == 2 && !after.stderr.contains("RunInterrupted"), "\(after.all)")
        #expect(try s.second.run("apply", "--auto-approve", "--state", s.url).code == 0)
    }

    /// The lock session of a run ends while a step runs (a slow import): the run breaks the step
    /// off within about a second and undoes nothing itself; the other checkout's recover rolls
    /// it back. Before, the step ran to its end beside that recover.
    @Test func aRunWhoseLockSessionEndsMidStepStopsAndLeavesTheRollbackToRecover() throws {
        let s = try pg.shared()
        defer { pg.dropSchema(s) }
        let slow = "CREATE TABLE y AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000000) SELECT x FROM c;\n"
        for project in [s.first, s.second] { try project.write("plans/data/seed.sql", slow) }
        let logPath = s.first.root + "/holder.log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try #require(FileHandle(forWritingAtPath: logPath))
        s.first.environment["FERRY_TEST_STOP_AT"] = "after-shadowCreated"
        let holder = try s.first.start(["apply", "--auto-approve", "--state", s.url], stdout: log)
        s.first.environment["FERRY_TEST_STOP_AT"] = nil
        defer { if holder.isRunning { holder.signal(SIGKILL) } }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !LockTimeoutTests.isStopped(holder.processIdentifier), holder.isRunning { Thread.sleep(forTimeInterval: 0.02) }
        try #require(LockTimeoutTests.isStopped(holder.processIdentifier))
        _ = try pg.psql(s.first, "SELECT pg_terminate_backend(backend_pid) FROM \(s.schema).lock;")
        let resumed = Date()
        holder.signal(SIGCONT)
        holder.waitUntilExit()
        let took = Date().timeIntervalSince(resumed)
        try log.close()
        let text = s.first.read("holder.log") ?? ""
        #expect(holder.terminationStatus == 4, "\(text)")
        #expect(took < 30, "the import was broken off, not run to its end (\(took) s)")
        #expect(text.contains("lost its state lock") && !text.contains("as they were"), "\(text)")
        var recovered = try s.second.run("recover", "--state", s.url)
        for _ in 0..<20 where recovered.stdout.contains("Nothing to recover") {
            Thread.sleep(forTimeInterval: 0.1)
            recovered = try s.second.run("recover", "--state", s.url)
        }
        #expect(recovered.code == 0 && recovered.stdout.contains("rolled back"), "\(recovered.all)")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: s.instances + "/a")) ?? []
        #expect(!left.contains { $0.hasSuffix(".db") }, "nothing of the run is left: \(left)")
    }
}

/// Issue 20: the state lock is a session advisory lock, which a pooler in transaction or statement
/// mode does not keep for its client: such a state URL is refused with the documented error, one
/// through a pooler in session mode works, its lock excluding a direct client and dying with its
/// holder. Uses Debian's `pgbouncer` (scripts/install-deps.sh), started here in front of cluster A.
@Suite(.serialized) struct StatePoolerCLITests {
    static func pgbouncerBinary() -> String? {
        ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Starts pgbouncer on `port` with databases `state_tx`, `state_stmt` and `state_session`, each
    /// cluster A's `postgres` database in that pool mode. Ferry's sessions send their settings in
    /// the `options` startup parameter, which pgbouncer 1.18 refuses unless told to ignore it.
    func startPooler(_ binary: String, in dir: String, port: Int, serverPort: Int, password: String) throws -> Process {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir)
        let server = "host=127.0.0.1 port=\(serverPort) dbname=postgres"
        try """
            [databases]
            state_tx = \(server) pool_mode=transaction
            state_stmt = \(server) pool_mode=statement
            state_session = \(server) pool_mode=session
            [pgbouncer]
            listen_addr = 127.0.0.1
            listen_port = \(port)
            unix_socket_dir =
            auth_type = scram-sha-256
            auth_file = \(dir)/users.txt
            pool_mode = session
            ignore_startup_parameters = options

            """.write(toFile: dir + "/pgbouncer.ini", atomically: true, encoding: .utf8)
        try "\"ferry\" \"\(password)\"\n".write(toFile: dir + "/users.txt", atomically: true, encoding: .utf8)
        for file in ["pgbouncer.ini", "users.txt"] {
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: dir + "/" + file)
        }
        FileManager.default.createFile(atPath: dir + "/pgbouncer.log", contents: nil)
        let log = try #require(FileHandle(forWritingAtPath: dir + "/pgbouncer.log"))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        // pgbouncer refuses to run as root: as root it is told to become postgres.
        process.arguments = (getuid() == 0 ? ["-u", "postgres"] : []) + [dir + "/pgbouncer.ini"]
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, process.isRunning,
              !((try? String(contentsOfFile: dir + "/pgbouncer.log", encoding: .utf8))?.contains("listening on 127.0.0.1:\(port)") ?? false) {
            Thread.sleep(forTimeInterval: 0.05)
        }
        return process
    }

    /// pgbouncer on the first port of `FERRY_TEST_PGBOUNCER_PORT` (default cluster A's port + 30)
    /// and the nine after it where it starts: another checkout's test may hold one.
    func startPooler(_ binary: String, in dir: String, serverPort: Int, password: String) throws -> (Process, Int) {
        let first = ProcessInfo.processInfo.environment["FERRY_TEST_PGBOUNCER_PORT"].flatMap { Int($0) } ?? serverPort + 30
        var log = ""
        for port in first..<(first + 10) {
            let process = try startPooler(binary, in: dir, port: port, serverPort: serverPort, password: password)
            if process.isRunning { return (process, port) }
            log = (try? String(contentsOfFile: dir + "/pgbouncer.log", encoding: .utf8)) ?? ""
        }
        throw FerryTestError("pgbouncer did not start on ports \(first)-\(first + 9): \(log)")
    }

    @Test func aTransactionModePoolerIsRefusedAndASessionModeOneHoldsTheLock() throws {
        guard let binary = Self.pgbouncerBinary() else {
            print("StatePoolerCLITests: skipped: pgbouncer is not installed (scripts/install-deps.sh --test installs it)")
            return
        }
        let env = ProcessInfo.processInfo.environment
        let base = try #require(env["FERRY_TEST_PG_A"], "FERRY_TEST_PG_A is not set: run scripts/test.sh")
        let password = try #require(env["FERRY_TEST_PG_PASSWORD"])
        let serverPort = try #require(URLComponents(string: base)?.port)
        let s = try PostgresStateCLITests().shared()
        let pg = PostgresStateCLITests()
        defer { pg.dropSchema(s) }
        // Below the ephemeral range like every test server port (README).
        let (pooler, port) = try startPooler(binary, in: s.first.root + "/pgbouncer", serverPort: serverPort, password: password)
        // SIGKILL: a child of the test process does not act on SIGTERM here.
        defer { if pooler.isRunning { pooler.signal(SIGKILL) } }
        func url(_ database: String) -> String { "postgres://ferry:\(password)@127.0.0.1:\(port)/\(database)?schema=\(s.schema)" }
        // This state's advisory lock (PostgresStateBackend.lockKey: FNV-1a of "ferry-state:" + schema);
        // other tests' states hold their own meanwhile.
        var hash: UInt32 = 2_166_136_261
        for byte in ("ferry-state:" + s.schema).utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        let advisoryLocks = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1178948185 AND objid = \(hash & 0x7fff_ffff) AND objsubid = 2;"

        for database in ["state_tx", "state_stmt"] {
            let refused = try s.first.run("apply", "--auto-approve", "--state", url(database))
            #expect(refused.code == 1 && refused.stderr.contains("OperationDenied.WrongStatus") && refused.stderr.contains("pooler in transaction or statement mode")
                    && refused.stderr.contains("session mode"), "\(database): \(refused.all)")
            #expect(!refused.all.contains(password))
            #expect(!FileManager.default.fileExists(atPath: s.instances + "/a/app.db"), "\(database): nothing may change")
            // The refused attempt leaves no lock behind in the pool's server session.
            #expect(try pg.psql(s.first, advisoryLocks).trimmingCharacters(in: .whitespacesAndNewlines) == "0", "\(database)")
        }

        let applied = try s.first.run("apply", "--auto-approve", "--state", url("state_session"))
        #expect(applied.code == 0 && applied.stdout.contains("Apply complete"), "\(applied.all)")
        #expect(try s.second.run("state", "list", "--state", s.url).stdout.contains("copy.to-b"), "the direct URL reads the same state")
        // A run holding the lock through the session-mode pooler excludes a direct client...
        s.first.environment["FERRY_TEST_STOP_AT"] = "after-begin"
        let holder = try s.first.start(["apply", "--auto-approve", "--replace", "import.seed", "--state", url("state_session")])
        s.first.environment["FERRY_TEST_STOP_AT"] = nil
        defer { if holder.isRunning { holder.signal(SIGKILL) } }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !LockTimeoutTests.isStopped(holder.processIdentifier), holder.isRunning { Thread.sleep(forTimeInterval: 0.02) }
        try #require(LockTimeoutTests.isStopped(holder.processIdentifier))
        let locked = try s.second.run("apply", "--auto-approve", "--state", s.url)
        #expect(locked.code == 1 && locked.stderr.contains("StateLocked"), "\(locked.all)")
        // ...and dies with its holder: the pooler resets the server session of a client that went away.
        holder.signal(SIGKILL)
        let gone = Date().addingTimeInterval(30)
        while holder.isRunning, Date() < gone { Thread.sleep(forTimeInterval: 0.05) }
        var recovered = try s.second.run("recover", "--state", s.url)
        for _ in 0..<50 where !recovered.stdout.contains("rolled back") {
            Thread.sleep(forTimeInterval: 0.1)
            recovered = try s.second.run("recover", "--state", s.url)
        }
        #expect(recovered.code == 0 && recovered.stdout.contains("rolled back"), "\(recovered.all)")
        #expect(try s.second.run("plan", "--detailed-exitcode", "--state", s.url).code == 0)
    }
}

struct FerryTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
