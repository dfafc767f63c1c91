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

/// Database names that differ only in Unicode normalisation (NFC `é` against NFD `e` + U+0301)
/// are one key to a Swift `String` and two files to SQLite (w12 F11): plan and apply never take
/// one for the other. Before, an import into the NFC name planned "target exists (replace)" when
/// only the NFD file existed, and the apply created the NFC file beside it, saying "1 replaced".
@Suite struct LookalikeNameCLITests {
    static let nfc = "caf\u{E9}", nfd = "cafe\u{301}"

    func project(holding names: [String], importInto target: String) throws -> Project {
        let project = try Project()
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        for (i, name) in names.enumerated() {
            var db: OpaquePointer?
            #expect(sqlite3_open(project.root + "/var/a/" + name + ".db", &db) == SQLITE_OK)
            #expect(sqlite3_exec(db, "CREATE TABLE mine (v INTEGER); INSERT INTO mine VALUES (\(i + 1))", nil, nil, nil) == SQLITE_OK)
            sqlite3_close(db)
        }
        let escaped = target.unicodeScalars.map { $0.isASCII ? String($0) : String(format: "\\u%04x", $0.value) }.joined()
        try project.write("plans/main.json", """
            { "ferry": 1,
              "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
              "imports": { "seed": { "into": "a", "database": "\(escaped)", "from": "data/seed.sql", "onExisting": "replace" } } }
            """)
        try project.write("plans/data/seed.sql", seedSQL)
        return project
    }

    /// The directory's database files, each as its code points (a `String` would merge them).
    func files(_ project: Project) -> [[UInt32]] {
        ((try? FileManager.default.contentsOfDirectory(atPath: project.root + "/var/a")) ?? [])
            .filter { $0.hasSuffix(".db") }.map { $0.unicodeScalars.map(\.value) }.sorted { $0.lexicographicallyPrecedes($1) }
    }

    @Test(arguments: [([nfd], nfc), ([nfc], nfd), ([nfc, nfd], nfc), ([nfc, nfd], nfd)])
    func aNameListedInOtherCodePointsIsRefusedAndNothingIsMade(listed: [String], target: String) throws {
        let project = try project(holding: listed, importInto: target)
        let before = files(project)
        let plan = try project.run("plan")
        #expect(plan.code == 1, "\(plan.all)")
        #expect(plan.all.contains("NameConflict") && plan.all.contains("U+0301"), "\(plan.all)")
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 1, "\(apply.all)")
        #expect(files(project) == before, "no file was made or changed")
        for (i, name) in listed.enumerated() {
            #expect(try project.query("var/a/" + name + ".db", "SELECT v FROM mine") == [["\(i + 1)"]])
        }
    }
}
