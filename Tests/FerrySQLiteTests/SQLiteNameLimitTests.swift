import FerryCore
import Foundation
import Testing
@testable import FerrySQLite

/// Every file name Ferry derives from an SQLite database name fits NAME_MAX (255 bytes) for every
/// name the engine accepts (`problem(withDatabaseName:)` nil), and names it refuses are refused.
@Suite struct SQLiteNameLimitTests {
    /// Every file a database's shadow or checkpoint may have: the database, its verify record and
    /// that record's temporary file, and SQLite's companions.
    static func derivedFiles(of hidden: String) -> [String] {
        let file = hidden + SQLiteNames.fileExtension
        return [file, file + ".ferry-verify.json", file + ".ferry-verify.json.tmp-4194304",
                file + "-journal", file + "-wal", file + "-shm", file + "-mj1234ABCD"]
    }

    @Test(arguments: [1, 100, 150, 180, 190, 194, 195, 196, 197, 198, 199, 200])
    func derivedNamesFitNameMax(length: Int) throws {
        let engine = SQLiteEngine()
        let runIDs = ["20261130T010000123Z-abc123", "r1", String(repeating: "r", count: 60)]
        for name in [String(repeating: "a", count: length),
                     String(repeating: "é", count: length / 2) + String(repeating: "x", count: length % 2),
                     String(repeating: "語", count: length / 3) + String(repeating: "y", count: length % 3)] {
            #expect(name.utf8.count == length)
            #expect(engine.problem(withDatabaseName: name) == nil, "\(name.utf8.count) bytes")
            let own = [name + SQLiteNames.fileExtension, name + SQLiteNames.fileExtension + "-journal"]
            for file in own { #expect(file.utf8.count <= 255, "\(file.utf8.count)") }
            for runID in runIDs {
                for hidden in [SQLiteNames.shadowName(for: name, runID: runID), SQLiteNames.checkpointName(for: name, runID: runID)] {
                    #expect(hidden.hasPrefix("."))
                    for file in Self.derivedFiles(of: hidden) {
                        #expect(file.utf8.count <= 255, "\(name.utf8.count)-byte name, run \(runID): \(file.utf8.count) bytes")
                    }
                }
            }
        }
    }

    /// Shortened names stay distinct for distinct databases and runs, and tell shadow from checkpoint.
    @Test func shortenedNamesStayDistinct() {
        let long = (0..<20).map { String(repeating: "n", count: 180) + String($0) }
        var seen = Set<String>()
        for name in long {
            for runID in ["20261130T010000123Z-abc123", "20261130T010000123Z-abc124"] {
                #expect(seen.insert(SQLiteNames.shadowName(for: name, runID: runID)).inserted)
                #expect(seen.insert(SQLiteNames.checkpointName(for: name, runID: runID)).inserted)
            }
        }
    }

    @Test func namesOverTheLimitAreRefused() {
        let engine = SQLiteEngine()
        #expect(engine.problem(withDatabaseName: String(repeating: "a", count: 201)) != nil)
        #expect(engine.problem(withDatabaseName: String(repeating: "é", count: 101)) != nil)
        #expect(engine.problem(withDatabaseName: "a/b") != nil)
        #expect(engine.problem(withDatabaseName: ".x") != nil)
    }
}
