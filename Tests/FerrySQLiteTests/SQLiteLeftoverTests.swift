import FerryCore
import Foundation
@testable import FerrySQLite
import Testing

/// What recovery may remove on an SQLite instance after a killed run: only files named after
/// that run's shadow of that database, and a stale claims temporary. Never a database, a
/// checkpoint, another run's shadow or a user's file.
@Suite struct SQLiteLeftoverTests {
    @Test func theShadowNameIsKnownBeforeItIsCreated() throws {
        let dir = try TemporaryDirectory()
        let s = try session(dir.path)
        for database in ["app", "a b", String(repeating: "x", count: 240)] {
            let planned = try #require(s.plannedShadowName(for: database, runID: "20261130T000000000Z-abc123"))
            #expect(try s.makeShadow(for: database, runID: "20261130T000000000Z-abc123") == planned)
        }
    }

    @Test func leftoversAreOnlyTheRunsOwnShadowFiles() throws {
        let dir = try TemporaryDirectory()
        let s = try session(dir.path)
        let run = "20261130T000000000Z-abc123", other = "20261130T000000001Z-def456"
        try sql(dir.sub("app.db"), "CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        let shadow = try s.makeShadow(for: "app", runID: run)
        let base = s.path(of: shadow)
        for extra in ["-journal", ".ferry-verify.json", ".ferry-verify.json.tmp-123"] {
            _ = FileManager.default.createFile(atPath: base + extra, contents: Data("x".utf8))
        }
        let otherShadow = try s.makeShadow(for: "app", runID: other)
        let checkpoint = s.path(of: s.checkpointName(for: "app", runID: run))
        _ = FileManager.default.createFile(atPath: checkpoint, contents: Data())
        _ = FileManager.default.createFile(atPath: dir.sub("notes.txt"), contents: Data("mine".utf8))
        _ = FileManager.default.createFile(atPath: dir.sub(".ferry-claims.json.tmp-\(run)"), contents: Data("[".utf8))
        // A file of the user's with a name like Ferry's (a fresh tester's): never removed.
        _ = FileManager.default.createFile(atPath: dir.sub(".ferry-claims.json.tmp"), contents: Data("user data".utf8))
        _ = FileManager.default.createFile(atPath: dir.sub(".ferry-claims.json.tmp-\(other)"), contents: Data("[".utf8))

        let removed = try s.removeLeftovers(ofRun: run, database: "app", shadowIdentity: try s.shadowIdentity(of: shadow))
        #expect(removed.count == 4, "\(removed)")
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        // A `-journal` is never the run's (round-11 F3): left, named in a note.
        #expect(left.filter { $0.hasPrefix(shadow) } == [shadow + ".db-journal"], "\(left)")
        #expect(s.takeLeftNotes().count == 1)
        #expect(left.contains("app.db") && left.contains("notes.txt"))
        #expect(FileManager.default.fileExists(atPath: s.path(of: otherShadow)), "another run's shadow stays")
        #expect(FileManager.default.fileExists(atPath: checkpoint), "a checkpoint stays")
        #expect(!left.contains(".ferry-claims.json.tmp-\(run)"))
        #expect(left.contains(".ferry-claims.json.tmp") && left.contains(".ferry-claims.json.tmp-\(other)"),
                "a file not named for this run stays: \(left)")
        #expect(try s.removeLeftovers(ofRun: run, database: "app") == [], "idempotent")
    }

    /// A file whose name spells the run's shadow with other code points (NFD `e` + U+0301 for
    /// NFC `é`) is another file to the file system and is never taken for the shadow (w12 F11).
    @Test func aShadowNameSpeltWithOtherCodePointsIsNotTheRuns() throws {
        let dir = try TemporaryDirectory()
        let s = try session(dir.path)
        let run = "20261130T000000000Z-abc123"
        let nfc = "caf\u{E9}", nfd = "cafe\u{301}"
        let lookalike = s.path(of: SQLiteNames.shadowName(for: nfd, runID: run))
        _ = FileManager.default.createFile(atPath: lookalike, contents: Data("not the run's".utf8))
        #expect(try s.removeLeftovers(ofRun: run, database: nfc) == [])
        #expect(FileManager.default.contents(atPath: lookalike) == Data("not the run's".utf8))
        let shadow = s.path(of: try s.makeShadow(for: nfc, runID: run))
        #expect(try s.removeLeftovers(ofRun: run, database: nfc).count == 1)
        #expect(!FileManager.default.fileExists(atPath: shadow) && FileManager.default.fileExists(atPath: lookalike))
    }
}
