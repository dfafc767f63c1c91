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
