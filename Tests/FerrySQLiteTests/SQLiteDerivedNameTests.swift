import FerryCore
import Foundation
import Testing
@testable import FerrySQLite

/// SQLite's hidden shadow and checkpoint names follow Ferry's one naming rule (`DerivedName`)
/// when shortened, and leftovers an older release named by its own rule are still found.
@Suite struct SQLiteDerivedNameTests {
    @Test func aShortenedHiddenNameIsTheOneRuleBehindADot() {
        let run = "20261130T000000000Z-abc123"
        for database in [String(repeating: "x", count: 200), String(repeating: "é", count: 100), String(repeating: "語", count: 66) + "yy"] {
            let shadow = SQLiteNames.shadowName(for: database, runID: run)
            let limit = IdentifierLimit(length: SQLiteNames.fileNameMaxBytes - SQLiteNames.longestHiddenSuffix.utf8.count - 1, inBytes: true)
            #expect(shadow == "." + DerivedName.make(database, suffix: ".ferry-shadow-\(run)", limit: limit, hash: SQLiteNames.shortDigest))
            #expect(shadow != ".\(database).ferry-shadow-\(run)")
            #expect(shadow.hasSuffix("_" + String(SQLiteNames.shortDigest(database).prefix(8)) + ".ferry-shadow-\(run)"), "\(shadow)")
            // The longest prefix that fits: one more character of the name would not.
            #expect(shadow.utf8.count + SQLiteNames.longestHiddenSuffix.utf8.count <= SQLiteNames.fileNameMaxBytes)
            #expect(shadow.utf8.count + SQLiteNames.longestHiddenSuffix.utf8.count + 3 > SQLiteNames.fileNameMaxBytes, "\(shadow.utf8.count)")
        }
        // Short names are not touched.
        #expect(SQLiteNames.shadowName(for: "app", runID: run) == ".app.ferry-shadow-\(run)")
        #expect(SQLiteNames.legacyShortenedName("app", tag: "shadow", runID: run) == nil)
    }

    @Test func aShortenedShadowAnOlderReleaseLeftIsRemovedWithItsRun() throws {
        let dir = try TemporaryDirectory()
        let s = try session(dir.path)
        let run = "20261130T000000000Z-abc123"
        let database = String(repeating: "n", count: 199) + "1"
        let legacy = try #require(SQLiteNames.legacyShortenedName(database, tag: "shadow", runID: run))
        #expect(legacy != SQLiteNames.shadowName(for: database, runID: run))
        for file in [legacy + ".db", legacy + ".db-journal"] {
            _ = FileManager.default.createFile(atPath: dir.sub(file), contents: Data("x".utf8))
        }
        // Another database's legacy shadow of the same run, and a current one of the same database, stay apart.
        let otherLegacy = try #require(SQLiteNames.legacyShortenedName(String(repeating: "n", count: 199) + "2", tag: "shadow", runID: run))
        _ = FileManager.default.createFile(atPath: dir.sub(otherLegacy + ".db"), contents: Data("x".utf8))
        // Its release journaled no identity: the core passes that on, and it goes by name.
        #expect(throws: FerryError.self, "without a journal of that release it is not provably the run's") {
            try s.removeLeftovers(ofRun: run, database: database)
        }
        let removed = try s.removeLeftovers(ofRun: run, database: database, shadowIdentity: JournalRecord.identityOfAnEarlierRelease)
        #expect(Set(removed) == [legacy + ".db", legacy + ".db-journal"])
        #expect(FileManager.default.fileExists(atPath: dir.sub(otherLegacy + ".db")))
    }
}
