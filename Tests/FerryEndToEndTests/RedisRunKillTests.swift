import Foundation
import Testing

/// Issue 14 §2 / issue 15 on Redis: the shadow database is journaled before it is created (the
/// intent, since the number is picked at creation) and a kill at any journal record or right
/// after the shadow is marked leaves, after `ferry recover`, the target exactly old or new and
/// no marked shadow database behind. In the Redis CLI suite, which owns the two servers.
extension RedisCLITests {
    @Test func copyKilledAtEveryRecordLeavesOldOrNewAndNoMarkedDatabase() throws {
        let project = try Project()
        let s = try servers()
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
        for i in 0..<20 { try cli(project, s.aPort, "-n 3 set key:\(i) new-\(i)") }
        try cli(project, s.aPort, "-n 3 hset h f1 v1 f2 v2")
        try cli(project, s.bPort, "-n 5 set old value")
        try cli(project, s.bPort, "-n 5 set other thing")
        #expect(try project.run("state", "keep", "0").code == 0)
        try project.write("plans/main.json", plan(s, """
        "copies": { "c": { "from": "ra", "to": "rb", "databases": { "3": "5" }, "onExisting": "replace" } }
        """))
        let old = try contents(project, s.bPort, db: "5")
        let new = try contents(project, s.aPort, db: "3")
        var points: [String] = []
        for n in 1...30 { points += ["before-record#\(n)", "after-record#\(n)"] }
        points += ["change:shadow.created#1", "change:swap.done#1"]
        var walk = KillWalk()
        for point in points {
            guard let result = try walk.run(project, killAt: point, ["apply", "--auto-approve", "--parallelism", "1"]) else { continue }
            if result.code == 9 { try KillWalk.expectRefusedUntilRecovered(project, at: point) }
            let now = try contents(project, s.bPort, db: "5")
            #expect(now == old || now == new, "\(point): db 5 holds neither the old nor the new content")
            let filled = try nonEmpty(project, s.bPort)
            #expect(filled == ["db5"], "\(point): a marked shadow or checkpoint stays: \(filled)")
            if now == new {
                // Back to the old content for the next kill.
                try cli(project, s.bPort, "-n 5 flushdb")
                try cli(project, s.bPort, "-n 5 set old value")
                try cli(project, s.bPort, "-n 5 set other thing")
            }
        }
        #expect(walk.kills >= 10, "kills landed: \(walk.kills)")
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
    }

    /// `ferry rollback` of a Redis copy, killed at every record and between the swap back and the
    /// shadow's flush: plan refuses with `RunInterrupted`, recover finishes it, the target holds
    /// exactly the old keys and no marked database stays.
    @Test func rollbackKilledAtEveryRecordIsFinishedByRecoverOnRedis() throws {
        let project = try Project()
        let s = try servers()
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
        for i in 0..<10 { try cli(project, s.aPort, "-n 2 set key:\(i) new-\(i)") }
        try cli(project, s.bPort, "-n 6 set old value")
        try project.write("plans/main.json", plan(s, """
        "copies": { "c": { "from": "ra", "to": "rb", "databases": { "2": "6" }, "onExisting": "replace" } }
        """))
        let old = try contents(project, s.bPort, db: "6")
        var points: [String] = []
        for n in 1...14 { points += ["before-record#\(n)", "after-record#\(n)"] }
        points += ["change:revert.undone#1", "change:revert.shadowDropped#1"]
        var done = Set<String>()
        var kills = 0
        var target: String?
        for point in points {
            let kind = String(point.split(separator: "#")[0])
            if done.contains(kind) { continue }
            if target == nil {
                let applied = try project.run("apply", "--auto-approve")
                #expect(applied.code == 0, "\(applied.all)")
                let line = applied.stdout.split(separator: "\n").first { $0.hasPrefix("Run ") }
                target = line.map { String($0.split(separator: " ")[1].dropLast()) }
            }
            let id = try #require(target)
            project.environment["FERRY_TEST_KILL_AT"] = point
            let result = try project.run("rollback", id)
            project.environment["FERRY_TEST_KILL_AT"] = nil
            if result.code != 9 {
                #expect(result.code == 0, "\(point): \(result.all)")
                done.insert(kind)
            } else {
                kills += 1
                let planned = try project.run("plan")
                if planned.code == 1 {
                    #expect(planned.stderr.contains("RunInterrupted"), "\(point): \(planned.all)")
                    let recovered = try project.run("recover")
                    #expect(recovered.code == 0, "\(point): \(recovered.all)")
                }
            }
            if try project.run("status", id).stdout.contains("reverted") {
                #expect(try contents(project, s.bPort, db: "6") == old, "\(point): db 6 is not as before the run")
                let filled = try nonEmpty(project, s.bPort)
                #expect(filled == ["db6"], "\(point): a marked shadow or checkpoint stays: \(filled)")
                target = nil
            }
        }
        #expect(kills >= 8, "kills landed: \(kills)")
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
    }
}

extension RedisCLITests {
    /// Fresh tester round 37, F1/F2: a value an application rewrote in place under the name of
    /// one of Ferry's keys in a killed run's shadow (while the run still wrote, so later batches
    /// stamped the marker past it; or with `RESTORE ... REPLACE IDLETIME`, an old idle time)
    /// kept every count, the sum of names and the idle check, and `ferry recover` flushed it,
    /// saying "as they were before". Each batch's transaction now adds the values read back
    /// (`valuesum`): the shadow is left, named. Without a change it goes.
    @Test(arguments: ["none", "set", "restore-idletime"])
    func aValueRewrittenInAKilledRunsShadowKeepsIt(_ change: String) throws {
        let project = try Project()
        let s = try servers()
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
        try cli(project, s.aPort, "-n 3 eval \"for i = 1, 20000 do redis.call('SET', 'key:' .. i, 'value-' .. i) end\" 0")
        try cli(project, s.bPort, "-n 5 set old value")
        #expect(try project.run("state", "keep", "0").code == 0)
        try project.write("plans/main.json", plan(s, """
        "copies": { "c": { "from": "ra", "to": "rb", "databases": { "3": "5" }, "onExisting": "replace" } }
        """))
        project.environment["FERRY_TEST_KILL_AT"] = "change:redis.batchSent#8"
        let killed = try project.run("apply", "--auto-approve", "--parallelism", "1")
        project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code != 0, "\(killed.all)")
        let shadowDB = try #require(try nonEmpty(project, s.bPort).map { $0.dropFirst(2) }.first { db in
            try !cli(project, s.bPort, "-n \(db) --scan --pattern '__ferry:shadow:*'").isEmpty
        }.map(String.init), "a shadow is left by the kill")
        let marker = try cli(project, s.bPort, "-n \(shadowDB) --scan --pattern '__ferry:shadow:*'")
        // The keys of the batches not summed yet are listed in the marker's `pend:` fields; the
        // application writes one that is not.
        var pending = Set<String>()
        for field in try cli(project, s.bPort, "-n \(shadowDB) --raw hkeys '\(marker)'").split(whereSeparator: \.isNewline) where field.hasPrefix("pend:") {
            let names = try cli(project, s.bPort, "-n \(shadowDB) --raw hget '\(marker)' '\(field)'")
            let pattern = try NSRegularExpression(pattern: "key:[0-9]+")
            for match in pattern.matches(in: names, range: NSRange(names.startIndex..., in: names)) {
                pending.insert(String(names[Range(match.range, in: names)!]))
            }
        }
        #expect(!pending.isEmpty, "the last batches are pending")
        let keys = try cli(project, s.bPort, "-n \(shadowDB) --scan --pattern 'key:*'").split(whereSeparator: \.isNewline).map(String.init)
        #expect(keys.count > 2000, "several batches were written: \(keys.count)")
        let victim = try #require(keys.first { !pending.contains($0) })
        switch change {
        case "set":
            try cli(project, s.bPort, "-n \(shadowDB) set '\(victim)' 'the application wrote this'")
        case "restore-idletime":
            // A payload of another value, restored over Ferry's with an old idle time.
            try cli(project, s.bPort, "-n \(shadowDB) set app:tmp 'the application restored this'")
            try cli(project, s.bPort, "-n \(shadowDB) eval \"local p = redis.call('DUMP', 'app:tmp'); redis.call('DEL', 'app:tmp'); return redis.call('RESTORE', KEYS[1], 0, p, 'REPLACE', 'IDLETIME', 100000)\" 1 '\(victim)'")
            #expect(Int(try cli(project, s.bPort, "-n \(shadowDB) object idletime '\(victim)'")) ?? 0 >= 100000)
        default: break
        }
        let recovered = try project.run("recover")
        if change == "none" {
            #expect(recovered.code == 0, "\(recovered.all)")
            #expect(try nonEmpty(project, s.bPort) == ["db5"], "\(recovered.all)")
            #expect(try cli(project, s.bPort, "-n 5 get old") == "value")
        } else {
            #expect(recovered.code != 0, "\(recovered.all)")
            #expect(!recovered.all.contains("as they were before"), "\(recovered.all)")
            #expect(recovered.all.contains("not the one Ferry wrote and read back"), "\(recovered.all)")
            #expect(try cli(project, s.bPort, "-n \(shadowDB) get '\(victim)'").hasPrefix("the application"), "the application's value stays")
            #expect(try cli(project, s.bPort, "-n 5 get old") == "value")
        }
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
    }
}

extension RedisCLITests {
    /// Fresh tester round 38b, M3: the target Redis server restarted empty (nothing persisted)
    /// after the run was killed; `ferry recover` said "The instances are as they were before."
    /// over a server whose every database was gone. The run journals the server's `run_id`; a
    /// recover that finds another one says the server restarted and never "as they were".
    /// A throwaway server (`redis-servers.sh start-extra`), so that A and B stay up.
    @Test func aRecoverOnARedisServerThatRestartedSinceTheRunNeverSaysAsBefore() throws {
        let project = try Project()
        let s = try servers()
        let port = (Int(ProcessInfo.processInfo.environment["FERRY_TEST_REDIS_PORT_BASE"] ?? "") ?? 63791) + 30
        let name = "restart\(port)"
        var started = project.startExtraServer("redis-servers.sh", "\(name) \(port)")
        #expect(started.code == 0, "\(started.output)")
        defer { _ = project.serverScript("redis-servers.sh", "kill-extra \(name)") }
        try cli(project, String(port), "flushall")
        try cli(project, String(port), "-n 5 set user:x mine")
        try cli(project, s.aPort, "-n 3 flushdb")
        for i in 0..<20 { try cli(project, s.aPort, "-n 3 set key:\(i) new-\(i)") }
        try project.write("plans/main.json", """
        { "ferry": 1,
          "instances": { "ra": { "engine": "redis", "url": "\(s.a)" }, "rx": { "engine": "redis", "url": "redis://127.0.0.1:\(port)" } },
          "copies": { "c": { "from": "ra", "to": "rx", "databases": { "3": "5" }, "onExisting": "replace" } } }
        """)
        try project.killed(["apply", "--auto-approve"], at: "after-stepDone#1")
        _ = project.serverScript("redis-servers.sh", "kill-extra \(name)")
        started = project.startExtraServer("redis-servers.sh", "\(name) \(port)")
        #expect(started.code == 0, "\(started.output)")
        let recovered = try project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        #expect(recovered.all.contains("rx: its server restarted since run") && recovered.all.contains("did not persist was not checked")
                && !recovered.all.contains("as they were before"), "\(recovered.all)")
        #expect(try project.run("recover").all.contains("Nothing to recover"))
        try cli(project, s.aPort, "-n 3 flushdb")
    }
}
