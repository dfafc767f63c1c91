import Foundation
import Testing

/// `--lock-timeout` (SPEC §6): two real `ferry` processes on one state directory. The first is
/// stopped (`FERRY_TEST_STOP_AT`, SIGSTOP) right after its run began, holding the lock, so the
/// second meets a held lock every time, not by timing; it waits and says who holds it, then
/// either takes the lock once the first finishes or gives up with `StateLocked` naming the holder.
@Suite(.serialized) struct LockTimeoutTests {
    /// Starts `ferry apply` stopped after its begin record (it holds the lock); returns it once stopped.
    func startStoppedHolder(_ project: Project) throws -> Process {
        project.environment["FERRY_TEST_STOP_AT"] = "after-begin"
        defer { project.environment["FERRY_TEST_STOP_AT"] = nil }
        let holder = try project.start(["apply", "--auto-approve"])
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !Self.isStopped(holder.processIdentifier), holder.isRunning {
            Thread.sleep(forTimeInterval: 0.02)
        }
        #expect(Self.isStopped(holder.processIdentifier), "the first apply should stop holding the lock")
        #expect(project.exists(".ferry/state.lock"))
        return holder
    }

    static func isStopped(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(close, offsetBy: 2)...].hasPrefix("T")
    }

    func project() throws -> Project {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        return project
    }

    @Test func aWaitingApplyTakesTheLockWhenTheHolderFinishesAndReadsTheStateItWrote() throws {
        let project = try project()
        let first = try startStoppedHolder(project)
        defer { if first.isRunning { first.signal(SIGKILL) } }
        let output = Pipe()
        let second = try project.start(["apply", "--auto-approve", "--replace", "import.seed", "--lock-timeout", "2m"], stdout: output.fileHandleForWriting)
        try output.fileHandleForWriting.close()
        // Let it meet the lock and say so, then let the holder go on.
        let reader = OutputReader(output)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !reader.text.contains("Waiting for the state lock"), second.isRunning { Thread.sleep(forTimeInterval: 0.02) }
        #expect(second.isRunning, "the second apply should wait, not end: \(reader.text)")
        first.signal(SIGCONT)
        first.waitUntilExit()
        second.waitUntilExit()
        let text = reader.finish()
        #expect(first.terminationStatus == 0)
        #expect(second.terminationStatus == 0, "\(text)")
        #expect(text.contains("Waiting for the state lock held by"), "\(text)")
        #expect(text.contains("pid \(first.processIdentifier)"), "\(text)")
        #expect(text.contains("Apply complete!"), "\(text)")
        // Both runs committed, one after the other: the second read the state the first wrote.
        let state = try #require(project.read(".ferry/state.json"))
        #expect(state.contains("\"serial\" : 2"), "\(state)")
        let runs = try project.run("runs")
        #expect(runs.stdout.components(separatedBy: "committed").count - 1 == 2, "\(runs.all)")
        #expect(!project.exists(".ferry/state.lock"))
    }

    /// The holder is killed while another waits: the waiter takes the lock over, finds the dead
    /// run's journal and refuses with `RunInterrupted` instead of applying over it.
    @Test func aWaiterWhoseHolderDiesFindsItsRunInterruptedAndChangesNothing() throws {
        let project = try project()
        let first = try startStoppedHolder(project)
        defer { if first.isRunning { first.signal(SIGKILL) } }
        let output = Pipe()
        let second = try project.start(["apply", "--auto-approve", "--lock-timeout", "2m"], stdout: output.fileHandleForWriting)
        try output.fileHandleForWriting.close()
        let reader = OutputReader(output)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !reader.text.contains("Waiting for the state lock"), second.isRunning { Thread.sleep(forTimeInterval: 0.02) }
        first.signal(SIGKILL)
        first.waitUntilExit()
        second.waitUntilExit()
        let text = reader.finish()
        #expect(second.terminationStatus == 1, "\(text)")
        #expect(text.contains("error[RunInterrupted]"), "\(text)")
        #expect(!project.exists("var/a/app.db"), "nothing was applied over the dead run")
        let recovered = try project.run("recover")
        #expect(recovered.code == 0 && recovered.stdout.contains("rolled back"), "\(recovered.all)")
        #expect(try project.run("apply", "--auto-approve").code == 0)
    }

    @Test func aShortLockTimeoutEndsInStateLockedNamingTheHolder() throws {
        let project = try project()
        let first = try startStoppedHolder(project)
        defer { if first.isRunning { first.signal(SIGKILL) } }
        let started = Date()
        let second = try project.run("apply", "--auto-approve", "--lock-timeout", "1s")
        let waited = Date().timeIntervalSince(started)
        first.signal(SIGCONT)
        first.waitUntilExit()
        #expect(second.code == 1, "\(second.all)")
        #expect(second.stderr.contains("error[StateLocked]"), "\(second.all)")
        #expect(second.stderr.contains("pid \(first.processIdentifier)"), "\(second.all)")
        #expect(second.stderr.contains("after waiting"), "\(second.all)")
        #expect(second.stderr.contains("Waiting for the state lock held by"), "\(second.all)")
        #expect(waited >= 1, "it gave up after \(waited) s")
        // The holder was not disturbed: it committed; the second changed nothing.
        #expect(first.terminationStatus == 0)
        let runs = try project.run("runs")
        #expect(runs.stdout.components(separatedBy: "committed").count - 1 == 1, "\(runs.all)")
    }

    @Test func withoutALockTimeoutAHeldLockIsRefusedAtOnce() throws {
        let project = try project()
        let first = try startStoppedHolder(project)
        defer { if first.isRunning { first.signal(SIGKILL) } }
        let started = Date()
        let second = try project.run("apply", "--auto-approve")
        let waited = Date().timeIntervalSince(started)
        first.signal(SIGCONT)
        first.waitUntilExit()
        #expect(second.code == 1 && second.stderr.contains("error[StateLocked]"), "\(second.all)")
        #expect(!second.stderr.contains("Waiting"), "\(second.all)")
        #expect(waited < 5)
        #expect(first.terminationStatus == 0)
    }

    /// Every command that takes the lock waits alike; a lock that goes away while it waits is taken.
    @Test func stateCommandsWaitForALockFileThatIsRemovedMeanwhile() throws {
        let project = try project()
        #expect(try project.run("apply", "--auto-approve").code == 0)
        let lock = """
        {"holder":"someone","host":"\(ProcessInfo.processInfo.hostName)","id":"lock-w1","operation":"apply","pid":\(getpid()),"time":"2026-11-23T00:00:00Z"}
        """
        try lock.write(toFile: project.root + "/.ferry/state.lock", atomically: true, encoding: .utf8)
        let refused = try project.run("state", "keep", "3", "--lock-timeout", "1s")
        #expect(refused.code == 1 && refused.stderr.contains("someone (pid \(getpid())"), "\(refused.all)")
        #expect(refused.stderr.contains("lock id lock-w1"), "\(refused.all)")
        let lockFile = project.root + "/.ferry/state.lock"
        let remover = Thread { Thread.sleep(forTimeInterval: 1.0); unlink(lockFile) }
        remover.start()
        let waited = try project.run("state", "keep", "3", "--lock-timeout", "30s")
        #expect(waited.code == 0, "\(waited.all)")
        #expect(waited.stderr.contains("Waiting for the state lock held by someone"), "\(waited.all)")
        #expect(project.read(".ferry/state.json")?.contains("\"keepCheckpointRuns\" : 3") == true)
        for command in [["recover"], ["rollback", "x"], ["backup", "x"], ["state", "rm", "x"]] {
            let bad = try project.run(command + ["--lock-timeout", "soon"])
            #expect(bad.code == 1 && bad.stderr.contains("--lock-timeout"), "\(command): \(bad.all)")
        }
    }

    @Test(arguments: ["abc", "-5s", "5", "1x", "s", "", "99999999999999999h", "31d"])
    func aBadLockTimeoutIsAnInvalidParameterAndChangesNothing(_ value: String) throws {
        let project = try project()
        let result = try project.run("apply", "--auto-approve", "--lock-timeout", value)
        #expect(result.code == 1 && result.stderr.contains("error[InvalidParameter]") && result.stderr.contains("--lock-timeout"), "\(result.all)")
        #expect(!project.exists(".ferry/state.json"))
    }

    @Test(arguments: ["0", "0s", "30s", "2m", "1m30s", "1h"])
    func goodLockTimeoutsAreTaken(_ value: String) throws {
        let project = try project()
        let result = try project.run("apply", "--auto-approve", "--lock-timeout", value)
        #expect(result.code == 0, "\(result.all)")
    }
}

/// Collects a pipe's output on a thread while a process runs.
final class OutputReader: @unchecked Sendable {
    // Safe: `buffer` is only touched under `lock`.
    private let lock = NSLock()
    private var buffer = Data()
    private let thread: Thread

    init(_ pipe: Pipe) {
        let handle = pipe.fileHandleForReading
        let box = Box()
        thread = Thread {
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                box.owner?.append(chunk)
            }
        }
        box.owner = self
        thread.start()
    }

    private final class Box: @unchecked Sendable { weak var owner: OutputReader? }

    private func append(_ data: Data) { lock.withLock { buffer.append(data) } }

    var text: String { lock.withLock { String(decoding: buffer, as: UTF8.self) } }

    /// The whole output once the writer has closed the pipe.
    func finish() -> String {
        while !thread.isFinished { Thread.sleep(forTimeInterval: 0.01) }
        return text
    }
}

/// The commit's guards (SPEC §6): a run whose lock was taken from it, or whose state another
/// writer changed behind the lock's back, does not write the state. It rolls back (exit 3) and
/// the other writer's state stays as it was: never a lost update.
@Suite(.serialized) struct StateCommitGuardTests {
    /// Starts `ferry apply` stopped right after its `committing` record; returns it once stopped.
    func startStoppedAtCommit(_ project: Project) throws -> (Process, OutputReader) {
        project.environment["FERRY_TEST_STOP_AT"] = "after-committing"
        defer { project.environment["FERRY_TEST_STOP_AT"] = nil }
        let output = Pipe()
        let run = try project.start(["apply", "--auto-approve"], stdout: output.fileHandleForWriting)
        try output.fileHandleForWriting.close()
        let reader = OutputReader(output)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !LockTimeoutTests.isStopped(run.processIdentifier), run.isRunning {
            Thread.sleep(forTimeInterval: 0.02)
        }
        #expect(LockTimeoutTests.isStopped(run.processIdentifier))
        return (run, reader)
    }

    func project() throws -> Project {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        #expect(try project.run("apply", "--auto-approve").code == 0)
        try project.write("plans/data/seed.sql", seedSQL + "INSERT INTO users VALUES (9, 'new');\n")
        return project
    }

    @Test func aRunWhoseLockWasRemovedMeanwhileRollsBackInsteadOfCommitting() throws {
        let project = try project()
        let before = try #require(project.fileBytes("var/a/app.db"))
        let stateBefore = try #require(project.read(".ferry/state.json"))
        let (run, output) = try startStoppedAtCommit(project)
        defer { if run.isRunning { run.signal(SIGKILL) } }
        let lock = try #require(project.read(".ferry/state.lock"))
        let id = try #require(lock.split(separator: "\"").drop { $0 != "id" }.dropFirst(2).first.map(String.init))
        // The holder still runs (stopped) on this host: refused without --force.
        let refused = try project.run("unlock", id)
        #expect(refused.code == 1 && refused.stderr.contains("still running on this host"), "\(refused.all)")
        let unlocked = try project.run("unlock", id, "--force")
        #expect(unlocked.code == 0, "\(unlocked.all)")
        run.signal(SIGCONT)
        run.waitUntilExit()
        let text = output.finish()
        #expect(run.terminationStatus == 3, "\(text)")
        #expect(text.contains("error[StateLocked]") && text.contains("no longer names this run's lock"), "\(text)")
        #expect(project.read(".ferry/state.json") == stateBefore)
        #expect(project.fileBytes("var/a/app.db") == before)
        let status = try project.run("status")
        #expect(status.stdout.contains("rolledBack"), "\(status.all)")
    }

    @Test func aRunWhoseStateAnotherWriterChangedRollsBackAndLeavesThatState() throws {
        let project = try project()
        let before = try #require(project.fileBytes("var/a/app.db"))
        let (run, output) = try startStoppedAtCommit(project)
        defer { if run.isRunning { run.signal(SIGKILL) } }
        // A writer that ignores the lock (an older ferry, a hand edit) bumps the serial.
        let path = project.root + "/.ferry/state.json"
        let foreign = try #require(project.read(".ferry/state.json")).replacingOccurrences(of: "\"serial\" : 1", with: "\"serial\" : 7")
        #expect(foreign.contains("\"serial\" : 7"))
        try foreign.write(toFile: path, atomically: true, encoding: .utf8)
        run.signal(SIGCONT)
        run.waitUntilExit()
        let text = output.finish()
        #expect(run.terminationStatus == 3, "\(text)")
        #expect(text.contains("error[PlanStale]") && text.contains("serial 1 was read, serial 7 is stored"), "\(text)")
        #expect(project.read(".ferry/state.json") == foreign, "the other writer's state must stay")
        #expect(project.fileBytes("var/a/app.db") == before)
        let runs = try project.run("runs")
        #expect(runs.stdout.contains("rolledBack"), "\(runs.all)")
    }
}

/// Issue 20 point 9: Ctrl-C (or SIGTERM) while `apply --format json` waits for the lock ends
/// ferry at once, nothing changed, and the stream still ends with its outcome line.
@Suite(.serialized) struct LockWaitInterruptTests {
    @Test(arguments: [SIGINT, SIGTERM])
    func aSignalWhileWaitingForTheLockEndsTheStreamWithAnOutcome(_ signal: Int32) throws {
        let project = try LockTimeoutTests().project()
        let holder = try LockTimeoutTests().startStoppedHolder(project)
        defer { if holder.isRunning { holder.signal(SIGKILL) } }
        let outPath = project.root + "/waiter.out", errPath = project.root + "/waiter.err"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        let out = try #require(FileHandle(forWritingAtPath: outPath)), err = try #require(FileHandle(forWritingAtPath: errPath))
        let waiter = try project.start(["apply", "--auto-approve", "--format", "json", "--lock-timeout", "5m"], stdout: out, stderr: err)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, waiter.isRunning, !(project.read("waiter.err") ?? "").contains("Waiting for the state lock") {
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect((project.read("waiter.err") ?? "").contains("Waiting for the state lock"))
        waiter.signal(signal)
        waiter.waitUntilExit()
        try out.close(); try err.close()
        #expect(waiter.terminationStatus == 128 + signal)
        let lines = (project.read("waiter.out") ?? "").split(separator: "\n")
        let last = try #require(lines.last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }, "\(lines)")
        #expect(last["type"] as? String == "outcome" && last["outcome"] as? String == "refused", "\(last)")
        #expect(last["interrupted"] as? Bool == true && last["exitCode"] as? Int == Int(128 + signal), "\(last)")
        #expect(last["formatVersion"] as? Int == 1)
        holder.signal(SIGCONT)
        holder.waitUntilExit()
        #expect(holder.terminationStatus == 0)
    }

    /// A state block that cannot be read still gives `apply --format json` its outcome line.
    @Test func aStateBlockThatDoesNotLoadGivesTheStreamAnOutcome() throws {
        let project = try LockTimeoutTests().project()
        try project.write("plans/state.json", #"{ "ferry": 1, "state": { "backend": "postgres", "url": "postgres://ferry@127.0.0.1:1/postgres", "password": { "env": "NO_SUCH_VARIABLE_X" } } }"#)
        let result = try project.run("apply", "--auto-approve", "--format", "json")
        #expect(result.code == 1)
        let last = try #require(result.stdout.split(separator: "\n").last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }, "\(result.all)")
        #expect(last["outcome"] as? String == "refused" && last["exitCode"] as? Int == 1, "\(last)")
    }
}

/// Issue 20 point 7: `ferry unlock --force` removes the lock of a run that still runs; `ferry
/// recover` then sees it as interrupted, but refuses while its process lives on this host (two
/// journal writers, undoing steps beside the run), unless `--force`.
@Suite(.serialized) struct RecoverBesideALiveRunTests {
    @Test func recoverRefusesARunWhoseProcessStillRunsAndRecoversItOnceItIsGone() throws {
        let project = try LockTimeoutTests().project()
        let holder = try LockTimeoutTests().startStoppedHolder(project)
        defer { if holder.isRunning { holder.signal(SIGKILL) } }
        let lock = try #require(project.read(".ferry/state.lock").flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
        let id = try #require(lock["id"] as? String, "\(lock)")
        let unlocked = try project.run("unlock", id, "--force")
        #expect(unlocked.code == 0, "\(unlocked.all)")
        let refused = try project.run("recover")
        #expect(refused.code == 1 && refused.stderr.contains("StateLocked") && refused.stderr.contains("pid \(holder.processIdentifier)"), "\(refused.all)")
        #expect(refused.stderr.contains("still running"), "\(refused.all)")
        holder.signal(SIGKILL)
        holder.waitUntilExit()
        let recovered = try project.run("recover")
        #expect(recovered.code == 0 && recovered.stdout.contains("Recovered"), "\(recovered.all)")
        #expect(try project.run("apply", "--auto-approve").code == 0)
    }

    @Test func recoverForceRecoversALiveRunAnyway() throws {
        let project = try LockTimeoutTests().project()
        let holder = try LockTimeoutTests().startStoppedHolder(project)
        defer { if holder.isRunning { holder.signal(SIGKILL) } }
        let lock = try #require(project.read(".ferry/state.lock").flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
        #expect(try project.run("unlock", try #require(lock["id"] as? String), "--force").code == 0)
        let forced = try project.run("recover", "--force")
        #expect(forced.code == 0 && forced.stdout.contains("Recovered"), "\(forced.all)")
    }
}
