import Foundation
import Testing

/// Issue 14, writes by applications during a run, Redis (findings F6, F17, F20 of
/// docs/findings/2026-11-30-mysql-redis-sqlite.md). The apply is stopped (`FERRY_TEST_STOP_AT`,
/// SIGSTOP) right after a point of the run; the test writes like an application, then lets it go
/// on (SIGCONT) or kills it (SIGKILL) and recovers.
extension RedisCLITests {
    /// A file of 50 keys of several types in its db 0, and a copy cut short (an import of it fails).
    func writeFiles(_ project: Project, _ s: Servers) throws {
        try cli(project, s.aPort, "flushall")
        try cli(project, s.aPort, "eval \"for i=1,40 do redis.call('set','file:'..i,'v'..i) end\" 0")
        try cli(project, s.aPort, "hset file:h f1 v1 f2 v2")
        try cli(project, s.aPort, "rpush file:l a b c")
        try cli(project, s.aPort, "eval \"for i=1,7 do redis.call('sadd','file:s','m'..i) end\" 0")
        try cli(project, s.aPort, "set file:t soon px 3600000")
        #expect(try cli(project, s.aPort, "dbsize") == "44")
        try cli(project, s.aPort, "--rdb \(project.root)/plans/data/new.rdb")
        let size = try #require(try FileManager.default.attributesOfItem(atPath: project.root + "/plans/data/new.rdb")[.size] as? Int)
        let whole = try #require(FileManager.default.contents(atPath: project.root + "/plans/data/new.rdb"))
        try whole.prefix(size * 9 / 10).write(to: URL(fileURLWithPath: project.root + "/plans/data/cut.rdb"))
        try cli(project, s.aPort, "flushall")
    }

    /// Database 5 of B as an application left it before the run: two keys.
    func seedTarget(_ project: Project, _ s: Servers) throws {
        try cli(project, s.bPort, "flushall")
        try cli(project, s.bPort, "-n 5 set user:orig kept")
        try cli(project, s.bPort, "-n 5 hset user:h a 1")
    }

    /// `writeFiles` and `seedTarget`, then the plan of `ia` alone: the file into B's db 5.
    func importIntoSeededTarget(_ project: Project, _ s: Servers, onExisting: String = "replace") throws {
        try writeFiles(project, s)
        try seedTarget(project, s)
        try project.write("plans/main.json", plan(s, """
            "imports": { "ia": { "into": "rb", "database": "5", "from": "data/new.rdb", "onExisting": "\(onExisting)" } }
            """))
    }

    /// `ia` replaces B's db 5 with the file; `ib` (after it) imports the cut file into db 6 and fails.
    func failingSecondImport(_ s: Servers, onExisting: String = "replace") -> String {
        plan(s, """
        "imports": {
          "ia": { "into": "rb", "database": "5", "from": "data/new.rdb", "onExisting": "\(onExisting)" },
          "ib": { "into": "rb", "database": "6", "from": "data/cut.rdb", "onExisting": "replace", "after": ["import.ia"] }
        }
        """)
    }

    /// Starts `ferry apply` stopped at `point`; returns the stopped process.
    func startStopped(_ project: Project, at point: String, output: String) throws -> Process {
        FileManager.default.createFile(atPath: project.root + "/" + output, contents: nil)
        let log = try #require(FileHandle(forWritingAtPath: project.root + "/" + output))
        project.environment["FERRY_TEST_STOP_AT"] = point
        defer { project.environment["FERRY_TEST_STOP_AT"] = nil }
        let run = try project.start(["apply", "--auto-approve"], stdout: log)
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline, !LockTimeoutTests.isStopped(run.processIdentifier), run.isRunning { Thread.sleep(forTimeInterval: 0.02) }
        #expect(LockTimeoutTests.isStopped(run.processIdentifier), "the apply stops at \(point): \(project.read(output) ?? "")")
        return run
    }

    /// The database numbers of B that hold a key named `pattern` (redis-cli --scan).
    func databases(_ project: Project, _ s: Servers, holding pattern: String) throws -> [Int] {
        try (0..<16).filter { !(try cli(project, s.bPort, "-n \($0) --scan --pattern '\(pattern)'")).isEmpty }
    }

    /// After the rollback kept db 5 (written after its swap): the target holds the run's data and
    /// the application's write, the checkpoint holds the old data, status lists it, a second
    /// recover has nothing to do, plan is not blocked, and a later apply touches neither.
    func expectKept(_ project: Project, _ s: Servers, output: String) throws {
        #expect(output.contains("changed after the run swapped it in (written, or keys with a TTL expired") && output.contains("WrongStatus"), "\(output)")
        #expect(!output.contains("as they were"), "\(output)")
        #expect(try cli(project, s.bPort, "-n 5 get file:1") == "v1", "the run's data stays in the target")
        let checkpoints = try databases(project, s, holding: "__ferry:checkpoint:*")
        #expect(checkpoints.count == 1, "\(checkpoints)")
        let checkpoint = try #require(checkpoints.first)
        #expect(try cli(project, s.bPort, "-n \(checkpoint) get user:orig") == "kept", "the checkpoint holds the old data")
        #expect(try cli(project, s.bPort, "-n \(checkpoint) dbsize") == "3")
        #expect(try databases(project, s, holding: "__ferry:shadow:*").isEmpty, "ib's shadow is gone")
        let runs = (try? FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs")) ?? []
        let runID = try #require(runs.first)
        let shown = try project.run("status", runID)
        #expect(shown.all.contains("Left as they are") && shown.all.contains("rb/5"), "\(shown.all)")
        let again = try project.run("recover")
        #expect(again.code == 0 && again.all.lowercased().contains("nothing to recover"), "\(again.all)")
        let planned = try project.run("plan")
        #expect(planned.code == 0, "plan is not blocked: \(planned.all)")
        // `ferry rollback` of that run changes neither database.
        let rolledBack = try project.run("rollback", runID)
        #expect(try cli(project, s.bPort, "-n \(checkpoint) get user:orig") == "kept", "\(rolledBack.all)")
        #expect(try cli(project, s.bPort, "-n 5 get file:1") == "v1", "\(rolledBack.all)")
        #expect(rolledBack.code != 0 || !rolledBack.all.contains("restored"), "\(rolledBack.all)")
        // A plan into the kept checkpoint's database is refused, and says what it holds.
        try project.write("plans/main.json", plan(s, """
        "imports": { "ia": { "into": "rb", "database": "\(checkpoint)", "from": "data/new.rdb", "onExisting": "replace" } }
        """))
        let refused = try project.run("plan")
        #expect(refused.code == 1 && refused.all.contains("WrongStatus") && refused.all.contains("holds Ferry's checkpoint of run \(runID)"), "\(refused.all)")
        #expect(refused.all.contains("__ferry:checkpoint:\(runID) in database \(checkpoint)") && refused.all.contains("Left as they are"), "\(refused.all)")
        // A later run (ia alone, replace) drops only its own checkpoint: the kept one stays.
        let keys = try cli(project, s.bPort, "-n 5 dbsize")
        try project.write("plans/main.json", plan(s, """
        "imports": { "ia": { "into": "rb", "database": "5", "from": "data/new.rdb", "onExisting": "replace", "rerun": "always" } }
        """))
        #expect(try project.run("state", "keep", "0").code == 0)
        let later = try project.run("apply", "--auto-approve")
        #expect(later.code == 0, "\(later.all)")
        #expect(try cli(project, s.bPort, "-n \(checkpoint) get user:orig") == "kept", "a later run leaves the kept checkpoint: \(later.all)")
        #expect(try cli(project, s.bPort, "-n \(checkpoint) dbsize") == "3")
        #expect(try cli(project, s.bPort, "-n 5 dbsize") == "44" && keys != "44", "the later run replaced db 5 (\(keys) keys before)")
        // The user settles it by hand (fresh tester W4): the old data back into db 5 by SWAPDB,
        // the other database flushed. The marker came along into db 5: plans into db 5 are
        // refused and the hint names the key to delete; once deleted, nothing blocks them.
        try cli(project, s.bPort, "swapdb 5 \(checkpoint)")
        try cli(project, s.bPort, "-n \(checkpoint) flushdb")
        let settling = try project.run("plan")
        #expect(settling.code == 1 && settling.all.contains("__ferry:checkpoint:\(runID) in database 5"), "\(settling.all)")
        try cli(project, s.bPort, "-n 5 del __ferry:checkpoint:\(runID)")
        let settled = try project.run("plan")
        #expect(settled.code == 0 && !settled.all.contains("__ferry:checkpoint"), "\(settled.all)")
    }

    /// (a) An in-run rollback of a later failing step leaves a target written after its swap (F6).
    @Test func aRollbackKeepsATargetWrittenAfterItsSwap() throws {
        let project = try Project()
        let s = try servers()
        try writeFiles(project, s)
        try seedTarget(project, s)
        try project.write("plans/main.json", failingSecondImport(s))
        let run = try startStopped(project, at: "after-swapDone#1", output: "apply.log")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        #expect(try cli(project, s.bPort, "-n 5 get file:1") == "v1", "ia is swapped in")
        try cli(project, s.bPort, "-n 5 set app:after-swap 1")
        run.signal(SIGCONT)
        run.waitUntilExit()
        #expect(run.terminationStatus == 4, "\(project.read("apply.log") ?? "")")
        #expect(try cli(project, s.bPort, "-n 5 get app:after-swap") == "1")
        try expectKept(project, s, output: project.read("apply.log") ?? "")
    }

    /// (b) The same through SIGKILL and `ferry recover` (F6's second half).
    @Test func recoverKeepsATargetWrittenAfterItsSwap() throws {
        let project = try Project()
        let s = try servers()
        try writeFiles(project, s)
        try seedTarget(project, s)
        try project.write("plans/main.json", failingSecondImport(s))
        let run = try startStopped(project, at: "after-swapDone#1", output: "apply.log")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        try cli(project, s.bPort, "-n 5 set app:afterswap 1")
        run.signal(SIGKILL)
        run.waitUntilExit()
        let recovered = try project.run("recover")
        #expect(recovered.code == 4, "\(recovered.all)")
        #expect(try cli(project, s.bPort, "-n 5 get app:afterswap") == "1")
        try expectKept(project, s, output: recovered.all)
    }

    /// (c) Nothing written after the swap: the rollback restores exactly, "as they were" (the
    /// token of the verified shadow equals the target's after the swap: no false "kept").
    /// `elsewhere`: an application writes into another database meanwhile and reads the target
    /// (reads and other databases do not count), and its database is left as it is.
    @Test(arguments: ["sigcont", "sigkill", "elsewhere"])
    func aRollbackWithoutWritesRestoresExactly(_ how: String) throws {
        let project = try Project()
        let s = try servers()
        try writeFiles(project, s)
        try seedTarget(project, s)
        let before = try contents(project, s.bPort, db: "5")
        try project.write("plans/main.json", failingSecondImport(s))
        let run = try startStopped(project, at: "after-swapDone#1", output: "apply.log")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        if how == "elsewhere" {
            try cli(project, s.bPort, "-n 7 set app:elsewhere 1")
            try cli(project, s.bPort, "-n 5 get file:1")
            try cli(project, s.bPort, "-n 5 hgetall file:h")
        }
        let output: String
        if how != "sigkill" {
            run.signal(SIGCONT)
            run.waitUntilExit()
            #expect(run.terminationStatus == 3, "\(project.read("apply.log") ?? "")")
            output = project.read("apply.log") ?? ""
        } else {
            run.signal(SIGKILL)
            run.waitUntilExit()
            let recovered = try project.run("recover")
            #expect(recovered.code == 0, "\(recovered.all)")
            output = recovered.all
        }
        #expect(output.contains("as they were") && !output.contains("written after"), "\(output)")
        #expect(try contents(project, s.bPort, db: "5") == before)
        if how == "elsewhere" {
            #expect(try cli(project, s.bPort, "-n 7 get app:elsewhere") == "1")
            #expect(try nonEmpty(project, s.bPort) == ["db5", "db7"], "no shadow or checkpoint is left")
        } else {
            #expect(try nonEmpty(project, s.bPort) == ["db5"], "no shadow or checkpoint is left")
        }
    }

    /// (e) Other writes of the same kind after the swap: each one keeps the target (a write that
    /// keeps the key count, a delete, an expiry set or moved, a field of a hash, a key with a TTL,
    /// a key renamed).
    @Test(arguments: [
        ("set file:1 changed", "get file:1", "changed"),
        ("del file:2", "exists file:2", "0"),
        ("pexpire file:3 600000", "exists file:3", "1"),
        ("pexpireat file:t 4102444800000", "pexpiretime file:t", "4102444800000"),
        ("hset file:h f1 other", "hget file:h f1", "other"),
        ("set app:ttl 1 ex 600", "get app:ttl", "1"),
        ("rename file:4 app:renamed", "get app:renamed", "v4"),
        ("sadd file:s m1", "scard file:s", "7"),
    ])
    func otherWritesAfterTheSwapKeepTheTarget(_ write: String, _ probe: String, _ expected: String) throws {
        let project = try Project()
        let s = try servers()
        try writeFiles(project, s)
        try seedTarget(project, s)
        try project.write("plans/main.json", failingSecondImport(s))
        let run = try startStopped(project, at: "after-swapDone#1", output: "apply.log")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        try cli(project, s.bPort, "-n 5 \(write)")
        run.signal(SIGCONT)
        run.waitUntilExit()
        let output = project.read("apply.log") ?? ""
        if write.hasPrefix("sadd file:s m1") {
            // A write that changes nothing (the member is there): nothing to lose, restored.
            #expect(run.terminationStatus == 3 && output.contains("as they were"), "\(output)")
            #expect(try cli(project, s.bPort, "-n 5 get user:orig") == "kept")
            return
        }
        #expect(run.terminationStatus == 4, "\(write): \(output)")
        #expect(output.contains("changed after the run swapped it in (written, or keys with a TTL expired"), "\(output)")
        #expect(try cli(project, s.bPort, "-n 5 \(probe)") == expected, "\(write)")
        #expect(try cli(project, s.bPort, "-n 5 exists user:orig") == "0", "db 5 was not swapped back")
        let checkpoints = try databases(project, s, holding: "__ferry:checkpoint:*")
        #expect(checkpoints.count == 1, "\(checkpoints)")
        if let checkpoint = checkpoints.first {
            #expect(try cli(project, s.bPort, "-n \(checkpoint) get user:orig") == "kept")
        }
    }

    /// (d) An append whose target is written after its snapshot began is not swapped in; without
    /// the write, the append goes through. Redis's swap does not carry later writes over.
    @Test(arguments: [true, false])
    func anAppendIsNotSwappedOverATargetWrittenSinceItsSnapshot(_ written: Bool) throws {
        let project = try Project()
        let s = try servers()
        try importIntoSeededTarget(project, s, onExisting: "append")
        let run = try startStopped(project, at: "after-stepDone#1", output: "apply.log")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        let log = project.read(".ferry/runs/" + (((try? FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs")) ?? []).first ?? "") + "/journal.jsonl") ?? ""
        #expect(log.contains("stepDone"), "\(log)")
        if written { try cli(project, s.bPort, "-n 5 set app:during-append 1") }
        run.signal(SIGCONT)
        run.waitUntilExit()
        let output = project.read("apply.log") ?? ""
        if written {
            #expect(run.terminationStatus == 3, "\(output)")
            #expect(output.contains("after the append's snapshot") && output.contains("WrongStatus"), "\(output)")
            #expect(try cli(project, s.bPort, "-n 5 get app:during-append") == "1")
            #expect(try cli(project, s.bPort, "-n 5 get user:orig") == "kept")
            #expect(try cli(project, s.bPort, "-n 5 dbsize") == "3", "the file was not appended")
            #expect(try nonEmpty(project, s.bPort) == ["db5"], "nothing else is left")
        } else {
            #expect(run.terminationStatus == 0, "\(output)")
            #expect(try cli(project, s.bPort, "-n 5 dbsize") == "46")
            #expect(try cli(project, s.bPort, "-n 5 get user:orig") == "kept")
        }
    }

    /// F17: a key an application writes into the shadow while it is built is never swapped in:
    /// the verify (and the swap's own script) refuses a shadow holding more keys than Ferry
    /// counted writing, the rollback leaves it (with the key) as it is (exit 4). The tester's case
    /// is an append (whose verify has no file count to compare with); a copy with `verify: none`
    /// is the other one that no count catches.
    @Test(arguments: ["append", "copy"])
    func aKeyWrittenIntoTheShadowIsNotSwappedIn(_ kind: String) throws {
        let project = try Project()
        let s = try servers()
        try writeFiles(project, s)
        try seedTarget(project, s)
        #expect(try project.run("state", "keep", "0").code == 0)
        if kind == "append" {
            try project.write("plans/main.json", plan(s, """
            "imports": { "ia": { "into": "rb", "database": "5", "from": "data/new.rdb", "onExisting": "append" } }
            """))
        } else {
            try cli(project, s.aPort, "-n 3 set from-a 1")
            try cli(project, s.aPort, "-n 3 set from-a-too 2")
            try project.write("plans/main.json", plan(s, """
            "copies": { "c": { "from": "ra", "to": "rb", "databases": { "3": "5" }, "onExisting": "replace", "verify": "none" } }
            """))
        }
        let run = try startStopped(project, at: kind == "append" ? "after-stepDone#2" : "after-stepDone#1", output: "apply.log")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        let shadows = try databases(project, s, holding: "__ferry:shadow:*")
        let shadow = try #require(shadows.first, "a shadow exists")
        #expect(try cli(project, s.bPort, "-n \(shadow) dbsize") == (kind == "append" ? "47" : "3"), "the build is done")
        try cli(project, s.bPort, "-n \(shadow) set app:inshadow 1")
        run.signal(SIGCONT)
        run.waitUntilExit()
        let output = project.read("apply.log") ?? ""
        #expect(run.terminationStatus == 4, "\(output)")
        #expect(output.contains("did not write"), "\(output)")
        #expect(!output.contains("Apply complete") && !output.contains("as they were"), "\(output)")
        #expect(try cli(project, s.bPort, "-n 5 get user:orig") == "kept", "the target is as it was")
        #expect(try cli(project, s.bPort, "-n 5 dbsize") == "2")
        #expect(try cli(project, s.bPort, "-n \(shadow) get app:inshadow") == "1", "the application's key stays where it wrote it")
    }

    /// F20: an append's checkpoint is dropped by the next run. Keys holding small integers share
    /// one value object server-wide, whose idle time any read of any key holding the same
    /// integer resets (Ferry's own reads of the new target included): they made every checkpoint
    /// look used, so one numbered database leaked per run. Runs more than 3 s apart, so that the
    /// idle times are read.
    @Test func anAppendsCheckpointIsDroppedByTheNextRun() throws {
        let project = try Project()
        let s = try servers()
        try writeFiles(project, s)
        try seedTarget(project, s)
        try cli(project, s.bPort, "-n 5 set user:n 1")
        try cli(project, s.bPort, "-n 5 set user:m 42")
        try project.write("plans/main.json", plan(s, """
        "imports": { "ia": { "into": "rb", "database": "5", "from": "data/new.rdb", "onExisting": "append", "rerun": "always" } }
        """))
        var checkpoints: [[Int]] = []
        for round in 1...3 {
            if round > 1 { Thread.sleep(forTimeInterval: 4.5) }
            let applied = try project.run("apply", "--auto-approve")
            #expect(applied.code == 0, "\(applied.all)")
            #expect(!applied.all.contains("could not drop") && !applied.all.contains("IDLETIME"), "round \(round): \(applied.all)")
            checkpoints.append(try databases(project, s, holding: "__ferry:checkpoint:*"))
        }
        // One checkpoint at a time (the default keeps the last run's), never one more per run.
        #expect(checkpoints.allSatisfy { $0.count == 1 }, "\(checkpoints)")
        let left = try nonEmpty(project, s.bPort)
        #expect(left.count == 2, "\(left)")
        #expect(try cli(project, s.bPort, "-n 5 get user:n") == "1")
    }
}
