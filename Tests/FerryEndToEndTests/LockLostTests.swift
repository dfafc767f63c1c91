import Foundation
import Testing

/// A run whose state lock is taken from it while it runs (`ferry unlock --force` here; on a
/// PostgreSQL state, its lock session ending) stops within about a second, breaking off the step
/// under way, and leaves the rollback to whoever holds the lock next (`ferry recover`): two
/// processes must never change the same instances for one run (issue 20).
@Suite(.serialized) struct LockLostTests {
    /// `ctrlC`: a Ctrl-C then lands as the run ends: it says the run is already stopping (or has
    /// ended), never "rolling back" (the run undoes nothing itself; issue 18).
    @Test(arguments: [false, true]) func aRunThatLosesItsLockStopsAndRecoverRollsItBack(ctrlC: Bool) throws {
        let project = try Project()
        try project.write("plans/main.json", """
        {
          "ferry": 1,
          "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
          "imports": { "slow": { "into": "a", "database": "shop", "from": "data/slow.sql", "onExisting": "replace" } }
        }
        """)
        try project.write("plans/data/slow.sql", """
        CREATE TABLE y AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000000) SELECT x FROM c;
        """)
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        // A database of the user's under the target name (an empty file is an empty SQLite
        // database): it must come out as it was.
        #expect(FileManager.default.createFile(atPath: project.root + "/var/a/shop.db", contents: nil))
        project.environment["FERRY_TEST_STOP_AT"] = "after-shadowCreated" + (ctrlC ? ",change:run.ending" : "")
        let out = project.root + "/apply.out"
        FileManager.default.createFile(atPath: out, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        let run = try project.start(["apply", "--auto-approve"], stdout: handle, stderr: handle)
        project.environment["FERRY_TEST_STOP_AT"] = nil
        defer { if run.isRunning { run.signal(SIGKILL) } }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !LockTimeoutTests.isStopped(run.processIdentifier), run.isRunning { Thread.sleep(forTimeInterval: 0.02) }
        #expect(LockTimeoutTests.isStopped(run.processIdentifier))
        let lock = try #require(project.read(".ferry/state.lock"))
        let id = try #require((try JSONSerialization.jsonObject(with: Data(lock.utf8)) as? [String: Any])?["id"] as? String)
        let unlock = try project.run("unlock", id, "--force")
        #expect(unlock.code == 0, "\(unlock.all)")
        let started = Date()
        run.signal(SIGCONT)
        if ctrlC {
            let ending = Date().addingTimeInterval(60)
            Thread.sleep(forTimeInterval: 0.05)
            while Date() < ending, !LockTimeoutTests.isStopped(run.processIdentifier), run.isRunning { Thread.sleep(forTimeInterval: 0.02) }
            #expect(LockTimeoutTests.isStopped(run.processIdentifier), "the run reaches its end")
            run.signal(SIGINT)
            run.signal(SIGCONT)
        }
        run.waitUntilExit()
        let took = Date().timeIntervalSince(started)
        try handle.close()
        let text = project.read("apply.out") ?? ""
        #expect(run.terminationStatus == 4, "\(text)")
        #expect(took < 30, "the step was broken off, not run to its end (\(took) s)")
        #expect(text.contains("lost its state lock") && text.contains("ferry recover"), "\(text)")
        #expect(!text.contains("as they were"), "\(text)")
        if ctrlC {
            // The signal may also come as the process ends, unanswered; answered, it is a note.
            if text.contains("Interrupted (SIGINT)") {
                #expect(text.contains("Interrupted (SIGINT): the run is already stopping (stopped: its state lock was lost)") || text.contains("Interrupted (SIGINT): the run has ended"), "\(text)")
            }
            #expect(!text.contains("rolling back") && !text.contains("stopping now"), "\(text)")
        }
        #expect(project.leftovers(in: "var/a").contains { $0.contains("ferry-shadow") }, "it undid nothing itself: \(project.leftovers(in: "var/a"))")
        let recover = try project.run("recover")
        #expect(recover.code == 0 && recover.all.contains("as they were before"), "\(recover.all)")
        #expect(project.leftovers(in: "var/a").isEmpty, "\(project.leftovers(in: "var/a"))")
        #expect(project.fileBytes("var/a/shop.db") == Data(), "the user's file is as it was")
    }
}
