import CSQLite
import Foundation
import Testing

/// A database that appears under a target's name while a run that planned to create it is under
/// way is someone else's: the swap refuses it (`NameConflict`) and the run rolls back, never
/// taking it for Ferry's checkpoint, which a later run would drop (a fresh tester's database,
/// made by a CI job while a copy ran, was dropped by the next run; PostgreSQL, and any engine).
@Suite(.serialized) struct TargetAppearedTests {
    @Test func aTargetThatAppearsDuringACreateIsLeftAsItIs() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        project.environment["FERRY_TEST_STOP_AT"] = "after-shadowCreated"
        let run = try project.start(["apply", "--auto-approve"])
        project.environment["FERRY_TEST_STOP_AT"] = nil
        defer { if run.isRunning { run.signal(SIGKILL) } }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !LockTimeoutTests.isStopped(run.processIdentifier), run.isRunning { Thread.sleep(forTimeInterval: 0.02) }
        #expect(LockTimeoutTests.isStopped(run.processIdentifier), "the apply stops once its first shadow exists")

        // Somebody makes a/app meanwhile.
        var db: OpaquePointer?
        #expect(sqlite3_open(project.root + "/var/a/app.db", &db) == SQLITE_OK)
        #expect(sqlite3_exec(db, "CREATE TABLE mine (v TEXT); INSERT INTO mine VALUES ('not Ferry''s')", nil, nil, nil) == SQLITE_OK)
        sqlite3_close(db)

        run.signal(SIGCONT)
        run.waitUntilExit()
        #expect(run.terminationStatus == 3, "the run fails and rolls back")
        #expect(try project.query("var/a/app.db", "SELECT v FROM mine") == [["not Ferry's"]], "the newcomer is as it was made")
        #expect(project.leftovers(in: "var/a").isEmpty, "no shadow or checkpoint is left: \(project.leftovers(in: "var/a"))")
        let text = try project.run("status").all
        #expect(!text.contains("interrupted"), "\(text)")
    }
}
