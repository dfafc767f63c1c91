import Foundation
import Testing

/// `ferry status` of a run killed mid-step, before and after `ferry recover`; no lock guard file left.
@Suite(.serialized) struct StatusPolishTests {
    @Test(arguments: ["after-stepStarted", "after-stepStarted#2", "after-shadowCreated"])
    func aKilledStepShowsAsInterruptedNeverRunning(point: String) throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        project.environment["FERRY_TEST_KILL_AT"] = point
        let killed = try project.run("apply", "--auto-approve")
        project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code != 0 && killed.code != 1, "\(point): \(killed.all)")
        let before = try project.run("status")
        #expect(before.stdout.contains("interrupted (run `ferry recover`)"), "\(point): \(before.all)")
        #expect(before.stdout.contains("[interrupted]"), "\(point): \(before.all)")
        #expect(!before.stdout.contains("[running]"), "\(point): \(before.all)")
        let recover = try project.run("recover")
        #expect(recover.code == 0, "\(point): \(recover.all)")
        let after = try project.run("status")
        #expect(after.stdout.contains(": rolledBack"), "\(point): \(after.all)")
        #expect(after.stdout.contains("[interrupted]"), "\(point): \(after.all)")
        #expect(!after.stdout.contains("[running]"), "\(point): \(after.all)")
        // Breaking the dead run's lock leaves no guard file behind.
        let names = try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry")
        #expect(!names.contains { $0.hasPrefix("state.lock") }, "\(names)")
        #expect(try project.run("apply", "--auto-approve").code == 0)
        #expect(try project.run("status").stdout.contains(": committed"))
    }
}
