import FerryCore
import Foundation
import Testing
@testable import FerrySQLite

@Suite struct SQLiteSwapTests {
    /// Builds an instance with an old `app` and a ready shadow holding the new content.
    private func prepared() throws -> (TemporaryDirectory, SQLiteSession, SwapRecord, Data, Data) {
        let dir = try TemporaryDirectory()
        try sql(dir.sub("app.db"), "CREATE TABLE t(x); INSERT INTO t VALUES ('old')")
        let instance = try session(dir.path)
        let shadow = try instance.makeShadow(for: "app", runID: "r1")
        try sql(instance.path(of: shadow), "CREATE TABLE t(x); INSERT INTO t VALUES ('new'), ('new2')")
        let record = SwapRecord(database: "app", shadow: shadow, checkpoint: instance.checkpointName(for: "app", runID: "r1"),
                                targetExisted: true)
        let old = try #require(fileBytes(dir.sub("app.db")))
        let new = try #require(fileBytes(instance.path(of: shadow)))
        return (dir, instance, record, old, new)
    }

    /// The core checks the target's token, then calls `undoSwap` with it: a write in between is
    /// seen under the hold on writers, and nothing is renamed back.
    @Test func undoSwapRechecksTheTokenUnderTheWriteLock() throws {
        let (dir, instance, record, _, new) = try prepared()
        var swapped = try instance.swap(record)
        swapped.expectedTargetToken = try instance.contentToken(of: "app")
        try sql(dir.sub("app.db"), "INSERT INTO t VALUES ('written in between')")
        #expect(throws: FerryError.self) { try instance.undoSwap(swapped) }
        #expect(try dump(dir.sub("app.db"))["t"]?.count == 3, "nothing was renamed back")
        swapped.expectedTargetToken = try instance.contentToken(of: "app")
        try instance.undoSwap(swapped)
        #expect(fileBytes(instance.path(of: record.shadow)) != new, "the written database went back under the shadow's name")
    }

    /// A writer with a transaction open keeps the swap back from renaming under it.
    @Test func undoSwapWaitsForNoWriter() throws {
        let (dir, instance, record, old, _) = try prepared()
        _ = try instance.swap(record)
        let writer = try SQLiteConnection(path: dir.sub("app.db"))
        try writer.execute("BEGIN IMMEDIATE")
        #expect(throws: FerryError.self) { try instance.undoSwap(record) }
        try writer.execute("ROLLBACK")
        try instance.undoSwap(record)
        #expect(fileBytes(dir.sub("app.db")) == old)
    }

    @Test func swapPutsTheShadowInPlaceAndKeepsTheOriginalAsCheckpoint() throws {
        let (dir, instance, record, old, new) = try prepared()
        _ = try instance.swap(record)
        #expect(fileBytes(dir.sub("app.db")) == new)
        #expect(fileBytes(instance.path(of: record.checkpoint!)) == old)
        #expect(record.checkpoint!.hasPrefix(".app.ferry-ckpt-"))
        #expect(record.shadow.hasPrefix(".app.ferry-shadow-"))
        try instance.undoSwap(record)
        try instance.undoSwap(record)
        #expect(fileBytes(dir.sub("app.db")) == old)
        #expect(FileIdentity(path: instance.path(of: record.checkpoint!)) == nil)
    }

    @Test func undoSwapRestoresTheOldBytesFromEveryIntermediatePoint() throws {
        // 0: nothing done; 1: checkpoint linked; 2: shadow renamed (swap complete);
        // 3: undo half done (new database linked back to the shadow name, checkpoint not yet renamed).
        for point in 0...3 {
            let (dir, instance, record, old, _) = try prepared()
            let target = dir.sub("app.db")
            let checkpoint = instance.path(of: record.checkpoint!)
            let shadow = instance.path(of: record.shadow)
            if point >= 1 { #expect(link(target, checkpoint) == 0) }
            if point >= 2 { #expect(rename(shadow, target) == 0) }
            if point >= 3 { #expect(link(target, shadow) == 0) }
            try instance.undoSwap(record)
            #expect(fileBytes(target) == old, "point \(point)")
            try instance.undoSwap(record)
            #expect(fileBytes(target) == old, "point \(point), second undo")
            #expect(FileIdentity(path: checkpoint) == nil, "point \(point)")
            try instance.drop(record.shadow)
            #expect(try instance.describe().databases.keys.sorted() == ["app"])
            #expect(try dump(target)["t"] == ["1:1|3:old"])
        }
    }

    @Test func undoSwapOfANewDatabaseRemovesItFromEveryPoint() throws {
        for point in 0...1 {
            let dir = try TemporaryDirectory()
            let instance = try session(dir.path)
            let shadow = try instance.makeShadow(for: "fresh", runID: "r1")
            try sql(instance.path(of: shadow), "CREATE TABLE t(x)")
            let record = SwapRecord(database: "fresh", shadow: shadow, checkpoint: nil, targetExisted: false)
            if point == 1 { _ = try instance.swap(record) }
            try instance.undoSwap(record)
            try instance.undoSwap(record)
            #expect(try instance.describe().databases.isEmpty, "point \(point)")
        }
    }

    @Test func swapFoldsTheTargetsWriteAheadLogFirst() throws {
        let (dir, instance, record, _, new) = try prepared()
        let writer = try SQLiteConnection(path: dir.sub("app.db"))
        try writer.execute("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; INSERT INTO t VALUES ('in wal')")
        _ = try instance.swap(record)
        #expect(fileBytes(dir.sub("app.db")) == new)
        // The checkpoint holds the committed WAL row.
        #expect(try dump(instance.path(of: record.checkpoint!))["t"]?.count == 2)
    }
}
