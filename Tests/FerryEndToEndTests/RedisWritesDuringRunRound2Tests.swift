import Foundation
import Testing

/// Issue 14, writes during a run, round 2 (Redis): the fresh tester's findings F1, F2, F3, F5 of
/// docs/findings/2026-11-30-mysql-redis-writes-during-run.md.
extension RedisCLITests {
    /// A's db 0: keys with and without a TTL, a hash, a list; A's db 5: plain strings. B's dbs 3
    /// and 4 hold one key each (an application's, before any run).
    func seedCopies(_ project: Project, _ s: Servers, keys: Int = 200) throws {
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
        try cli(project, s.aPort, "-n 0 eval \"for i=1,\(keys) do redis.call('set','k'..i,'v'..i) end for i=1,20 do redis.call('set','t'..i,'x','EX',3600) end\" 0")
        try cli(project, s.aPort, "-n 0 hset h a 1 b 2")
        try cli(project, s.aPort, "-n 0 rpush l a b c")
        try cli(project, s.aPort, "-n 5 eval \"for i=1,\(keys) do redis.call('set','p'..i,'v'..i) end\" 0")
        try cli(project, s.bPort, "-n 3 set old 1")
        try cli(project, s.bPort, "-n 4 set old 1")
    }

    func twoCopies(_ s: Servers) -> String {
        plan(s, """
        "copies": {
          "withttl": { "from": "ra", "to": "rb", "databases": { "0": "3" }, "onExisting": "replace", "verify": "count" },
          "nottl": { "from": "ra", "to": "rb", "databases": { "5": "4" }, "onExisting": "replace", "verify": "count" }
        }
        """)
    }

    /// The newest run id of the project.
    func newestRun(_ project: Project) throws -> String {
        let runs = ((try? FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs")) ?? []).sorted()
        return try #require(runs.last)
    }

    /// F1: two applies in a row replacing copy targets (the second one replaces targets the first
    /// wrote, and its commit drops the first one's checkpoints): right after, with no writer,
    /// `plan --refresh-only` finds no drift, `plan` has nothing to do, and `ferry rollback RUN`
    /// restores the first run's data. Variants: an application writing into another database of
    /// the server (`elsewhere`: not drift either), a write into a target (`target`: drift, and the
    /// rollback is refused as a write), fingerprints over the key limit (`inexact`: drift "may be
    /// unchanged", but the run's content tokens decide the rollback), and three runs in a row.
    /// `expired`: no write, but a key the second run copied expires before the rollback: the
    /// target changed, and the refusal says it may be an expiry, not a write (F5's kind).
    @Test(arguments: ["none", "elsewhere", "target", "inexact", "threeRuns", "expired"])
    func aCopyReplacingItsOwnTargetShowsNoDriftAfterItsCommit(_ how: String) throws {
        let project = try Project()
        let s = try servers()
        try seedCopies(project, s)
        if how == "inexact" { project.environment["FERRY_REDIS_EXACT_FINGERPRINT_KEYS"] = "10" }
        try project.write("plans/main.json", twoCopies(s))
        let first = try project.run("apply", "--auto-approve")
        #expect(first.code == 0, "\(first.all)")
        for round in 1...(how == "threeRuns" ? 2 : 1) {
            try cli(project, s.aPort, "-n 0 set srcX \(round)")
            try cli(project, s.aPort, "-n 5 set srcX \(round)")
            if how == "expired" { try cli(project, s.aPort, "-n 0 set short x px 6000") }
            let next = try project.run("apply", "--auto-approve")
            #expect(next.code == 0 && next.all.contains("2 replaced"), "\(next.all)")
            #expect(!next.all.contains("could not drop"), "the previous run's checkpoints go: \(next.all)")
        }
        let run = try newestRun(project)
        switch how {
        case "elsewhere": try cli(project, s.bPort, "-n 9 set app:elsewhere 1")
        case "target": try cli(project, s.bPort, "-n 3 set k1 changed")
        case "expired":
            #expect(try cli(project, s.bPort, "-n 3 exists short") == "1", "copied")
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline, try cli(project, s.bPort, "-n 3 exists short") != "0" { Thread.sleep(forTimeInterval: 0.5) }
        default: break
        }
        let refresh = try project.run("plan", "--refresh-only", "--detailed-exitcode")
        let plan = try project.run("plan", "--detailed-exitcode")
        switch how {
        case "target", "expired":
            #expect(refresh.code == 2 && refresh.all.contains("rb/3") && !refresh.all.contains("rb/4"), "\(refresh.all)")
            #expect(!refresh.all.contains("may be unchanged"), "the fingerprint is exact: \(refresh.all)")
        case "inexact":
            #expect(refresh.all.contains("may be unchanged") || refresh.code == 0, "\(refresh.all)")
        default:
            #expect(refresh.code == 0 && refresh.all.contains("No drift"), "\(refresh.all)")
            #expect(plan.code == 0, "nothing to do: \(plan.all)")
        }
        let rolledBack = try project.run("rollback", run)
        if how == "target" || how == "expired" {
            #expect(rolledBack.code == 1 && rolledBack.all.contains("rb/3 changed after run")
                    && rolledBack.all.contains("(written, or keys with a TTL expired") && !rolledBack.all.contains("would discard those writes"),
                    "\(rolledBack.all)")
            #expect(!rolledBack.all.contains("rb/4"), "rb/4 was not written: \(rolledBack.all)")
            if how == "target" { #expect(try cli(project, s.bPort, "-n 3 get k1") == "changed") }
            #expect(try cli(project, s.bPort, "-n 3 get srcX") != "", "nothing was rolled back")
            return
        }
        #expect(rolledBack.code == 0 && rolledBack.all.contains("rolled back"), "\(rolledBack.all)")
        let previous = how == "threeRuns" ? "1" : ""
        #expect(try cli(project, s.bPort, "-n 3 get srcX") == previous, "db 3 holds the previous run's copy")
        #expect(try cli(project, s.bPort, "-n 4 get srcX") == previous, "db 4 holds the previous run's copy")
        #expect(try cli(project, s.bPort, "-n 3 get k7") == "v7" && (try cli(project, s.bPort, "-n 3 ttl t1")) != "-1")
        if how == "elsewhere" { #expect(try cli(project, s.bPort, "-n 9 get app:elsewhere") == "1") }
    }

    /// F2: a write into a copy's checkpoint right after its swap (well within the idle check's
    /// 2-second slack: the apply is stopped at the swap) keeps the checkpoint at the next commit's
    /// retention, whatever the write (the key counts unchanged: a rename, an overwrite, a delete
    /// and an add; or changed: an expiry set on a key). Without a write the checkpoint goes, also
    /// when some of its keys expired meanwhile (an expiry is no write) and when others expire an
    /// hour later.
    @Test(arguments: ["rename old oldmoved", "set old changed", "del long|set app:new 1", "expire old 3600",
                      "pexpireat long 4102444800000", "none", "expired"])
    func aWriteIntoACheckpointRightAfterItsSwapKeepsIt(_ write: String) throws {
        try checkpointWrittenRightAfterItsSwap(write, busy: false)
    }

    /// X8: the same on a busy server (another client writes into database 9 every 10 ms all the
    /// while, so the server's write counter moves between the read of the target and the swap):
    /// the checkpoint is read again after the swap and its content is still proven, so a write
    /// that keeps the key counts (a rename, an overwrite) keeps it too; without a write it goes.
    @Test(arguments: ["rename old oldmoved", "set old changed", "none"])
    func aWriteIntoACheckpointRightAfterItsSwapOnABusyServerKeepsIt(_ write: String) throws {
        try checkpointWrittenRightAfterItsSwap(write, busy: true)
    }

    /// The busy writer writes into a large target itself, before and after the swap: nothing is
    /// claimed (the two reads differ; before Redis 7.2 the read after the swap, which would make
    /// every key young past the idle check's slack, is not made for so many keys), and the
    /// checkpoint, unwritten since the swap, still goes at the next commit (no false "written
    /// after the swap").
    @Test func aCheckpointWhoseTargetWasWrittenRightUpToItsSwapStillGoes() throws {
        try checkpointWrittenRightAfterItsSwap("none", busy: true, busyDatabase: 4)
    }

    func checkpointWrittenRightAfterItsSwap(_ write: String, busy: Bool, busyDatabase: Int = 9) throws {
        let project = try Project()
        let s = try servers()
        let writer = Process()
        // A shell loop (redis-cli's own `-r -1` ignores SIGTERM) that ends when the stop file is
        // there, after its last `INCR`: a SIGKILL of the shell left that `redis-cli` running on,
        // and its write landed in the next test's databases (a CI run saw `app:busy` in the
        // cloud import's target; one whose test process was killed wrote on for hours). It
        // also ends with the test process. SIGKILL only when it does not end within 10 s.
        let stop = project.root + "/stop-busy-writer"
        if busy {
            writer.executableURL = URL(fileURLWithPath: "/bin/sh")
            writer.arguments = ["-c", "export REDISCLI_AUTH=\"$FERRY_TEST_REDIS_B_PASSWORD\"; while [ ! -e '\(stop)' ] && kill -0 \(ProcessInfo.processInfo.processIdentifier) 2>/dev/null; do redis-cli --no-auth-warning -p \(s.bPort) -n \(busyDatabase) incr app:busy >/dev/null; sleep 0.01; done"]
            try writer.run()
        }
        defer {
            if writer.isRunning {
                FileManager.default.createFile(atPath: stop, contents: nil)
                let deadline = Date().addingTimeInterval(10)
                while writer.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
                writer.signal(SIGKILL)
                writer.waitUntilExit()
            }
        }
        try seedCopies(project, s, keys: 50)
        try cli(project, s.bPort, "-n 4 set long 1 ex 3600")
        // Enough in the target that its read before the swap takes a while (the busy writer
        // then moves the server's write counter before the swap's script).
        // Into the target: enough that the read after the swap would take longer than the
        // idle check's slack (2 s) and make keys look written after the swap on a server
        // without CLIENT NO-TOUCH (so it is not made there).
        if busy { try cli(project, s.bPort, "-n 4 eval \"for i=1,\(busyDatabase == 9 ? 15_000 : 300_000) do redis.call('set','filler'..i,i) end\" 0") }
        if write == "expired" { try cli(project, s.bPort, "-n 4 set short 1 px 2500") }
        try project.write("plans/main.json", plan(s, """
        "copies": { "nottl": { "from": "ra", "to": "rb", "databases": { "5": "4" }, "onExisting": "replace", "verify": "count" } }
        """))
        let run = try startStopped(project, at: "after-swapDone#1", output: "apply.log")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        let checkpoint = try #require(try databases(project, s, holding: "__ferry:checkpoint:*").first, "the swap is done")
        #expect(try cli(project, s.bPort, "-n \(checkpoint) get old") == "1")
        let marker = try cli(project, s.bPort, "-n \(checkpoint) --scan --pattern '__ferry:checkpoint:*'")
        // What the checkpoint held at the swap is proven (on the busy server by the read after
        // it), unless the target itself was written between the two reads.
        #expect(try cli(project, s.bPort, "-n \(checkpoint) hget \(marker) contentexact") == (busyDatabase == 9 ? "1" : "0"))
        if write != "none" && write != "expired" {
            for command in write.split(separator: "|") { try cli(project, s.bPort, "-n \(checkpoint) \(command)") }
        }
        run.signal(SIGCONT)
        run.waitUntilExit()
        #expect(run.terminationStatus == 0, "\(project.read("apply.log") ?? "")")
        if busy {
            let count = Int(try cli(project, s.bPort, "-n \(busyDatabase) get app:busy")) ?? 0
            #expect(writer.isRunning && count > 10, "the server was busy: \(count)")
        }
        if write == "expired" || busyDatabase != 9 { Thread.sleep(forTimeInterval: 4) }
        try cli(project, s.aPort, "-n 5 set srcX 1")
        let next = try project.run("apply", "--auto-approve")
        #expect(next.code == 0 && next.all.contains("1 replaced"), "\(next.all)")
        let left = try databases(project, s, holding: "__ferry:checkpoint:*")
        if write == "none" || write == "expired" {
            #expect(!left.contains(checkpoint), "the first run's checkpoint is dropped: \(next.all)")
            #expect(!next.all.contains("could not drop"), "\(next.all)")
        } else {
            #expect(left.contains(checkpoint), "\(write): the written checkpoint stays: \(next.all)")
            #expect(next.all.contains("could not drop checkpoint \(checkpoint)@"), "\(next.all)")
            if write.hasPrefix("rename") { #expect(try cli(project, s.bPort, "-n \(checkpoint) get oldmoved") == "1") }
            if write.hasPrefix("set old") { #expect(try cli(project, s.bPort, "-n \(checkpoint) get old") == "changed") }
            if write.hasPrefix("del") { #expect(try cli(project, s.bPort, "-n \(checkpoint) get app:new") == "1") }
        }
    }

    /// F3: a checkpoint record whose database number a later run reused for its own checkpoint
    /// (after someone flushed the first checkpoint) is forgotten by the retention, which touches
    /// nothing there, instead of a note at every apply; a checkpoint whose number holds other
    /// keys and no marker is still named, and left as it is.
    @Test(arguments: ["reused", "userKeys"])
    func aCheckpointWhoseNumberAnotherRunReusedIsForgotten(_ how: String) throws {
        let project = try Project()
        let s = try servers()
        try seedCopies(project, s, keys: 20)
        try project.write("plans/main.json", plan(s, """
        "copies": { "nottl": { "from": "ra", "to": "rb", "databases": { "5": "4" }, "onExisting": "replace", "verify": "count" } }
        """))
        #expect(try project.run("state", "keep", "2").code == 0)
        let first = try project.run("apply", "--auto-approve")
        #expect(first.code == 0, "\(first.all)")
        let checkpoint = try #require(try databases(project, s, holding: "__ferry:checkpoint:*").first)
        // The user empties the first checkpoint; the next run takes its number for its shadow.
        try cli(project, s.bPort, "-n \(checkpoint) flushdb")
        if how == "userKeys" { try cli(project, s.bPort, "-n \(checkpoint) set user:key mine") }
        var notes: [String] = []
        for round in 1...3 {
            try cli(project, s.aPort, "-n 5 set srcX \(round)")
            if how == "expired" { try cli(project, s.aPort, "-n 0 set short x px 6000") }
            let next = try project.run("apply", "--auto-approve")
            #expect(next.code == 0, "\(next.all)")
            notes.append(next.all)
        }
        if how == "reused" {
            #expect(notes.allSatisfy { !$0.contains("could not drop") }, "\(notes)")
        } else {
            #expect(notes.last?.contains("could not drop checkpoint \(checkpoint)@") == true, "\(notes)")
            #expect(try cli(project, s.bPort, "-n \(checkpoint) get user:key") == "mine")
        }
        // Two checkpoints kept (keep 2), each with its marker; nothing else is left over.
        #expect(try databases(project, s, holding: "__ferry:checkpoint:*").count == 2)
    }

    /// F5: no writer at all, but copied keys with a short TTL expire between the verify and the
    /// rollback of a later failing step: the target is kept (Redis's token cannot tell an expiry
    /// from a delete), and the message says it changed (written, or keys expired), never that it
    /// was written.
    @Test func keysExpiringBeforeTheRollbackAreNotCalledAWrite() throws {
        let project = try Project()
        let s = try servers()
        try writeFiles(project, s)
        try seedTarget(project, s)
        try cli(project, s.aPort, "-n 0 set keep 1")
        try cli(project, s.aPort, "-n 0 eval \"for i=1,20 do redis.call('set','short:'..i,'x','PX',20000) end\" 0")
        try project.write("plans/main.json", plan(s, """
        "copies": { "c": { "from": "ra", "to": "rb", "databases": { "0": "5" }, "onExisting": "replace", "verify": "count" } },
        "imports": { "ib": { "into": "rb", "database": "6", "from": "data/cut.rdb", "onExisting": "replace", "after": ["copy.c"] } }
        """))
        let run = try startStopped(project, at: "after-swapDone#1", output: "apply.log")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        #expect(try cli(project, s.bPort, "-n 5 get keep") == "1", "the copy is swapped in")
        let deadline = Date().addingTimeInterval(40)
        while Date() < deadline, try cli(project, s.bPort, "-n 5 dbsize") != "1" { Thread.sleep(forTimeInterval: 0.5) }
        #expect(try cli(project, s.bPort, "-n 5 dbsize") == "1", "the short keys expired")
        run.signal(SIGCONT)
        run.waitUntilExit()
        let output = project.read("apply.log") ?? ""
        #expect(run.terminationStatus == 4, "\(output)")
        #expect(output.contains("changed after the run swapped it in (written, or keys with a TTL expired"), "\(output)")
        #expect(!output.contains("was written after"), "\(output)")
        #expect(try cli(project, s.bPort, "-n 5 get keep") == "1", "kept as it is")
    }
}
