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
        var done = Set<String>()
        var kills = 0
        for point in points {
            let kind = String(point.split(separator: "#")[0])
            if done.contains(kind) { continue }
            project.environment["FERRY_TEST_KILL_AT"] = point
            let result = try project.run("apply", "--auto-approve", "--parallelism", "1")
            project.environment["FERRY_TEST_KILL_AT"] = nil
            if result.code != 9 {
                #expect(result.code == 0, "\(point): \(result.all)")
                done.insert(kind)
            } else {
                kills += 1
                let plan = try project.run("plan")
                if plan.code == 1 { #expect(plan.stderr.contains("RunInterrupted"), "\(point): \(plan.all)") }
                let recovered = try project.run("recover")
                #expect(recovered.code == 0, "\(point): \(recovered.all)")
            }
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
        #expect(kills >= 10, "kills landed: \(kills)")
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
    }
}
