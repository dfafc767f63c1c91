import FerryCore
import FerryIO
import Foundation
import Testing
@testable import FerryRedis

/// Every key of a database, Ferry's markers included, with its value (strings) or type.
func allKeys(of session: RedisSession, database: Int) throws -> [String: String] {
    try session.select(database)
    var result: [String: String] = [:]
    var cursor = "0"
    repeat {
        let reply = try session.connection.command("SCAN", cursor, "COUNT", "1000").elements
        cursor = reply[0].string ?? "0"
        for key in reply[1].elements.compactMap(\.string) {
            let type = try session.connection.command("TYPE", key).string ?? ""
            result[key] = type == "string" ? (try session.connection.command("GET", key).string ?? "") : type
        }
    } while cursor != "0"
    return result
}

/// Ferry flushes, swaps or counts only numbered databases it can prove it made for a run: a
/// marker whose name carries the run, and (for a kept checkpoint) nothing added since the swap.
/// Part of the serialized engine suite: the servers' numbered databases are shared.
extension RedisEngineTests {
    /// Database 4 on B holds `old`; a copy of A's database 3 is swapped in, and the shadow's
    /// number keeps the old data as the checkpoint. Returns the swap record.
    func swapInACopy(run: String, old: [String: String], expiring: [String: String] = [:]) throws -> (RedisSession, RedisSession, SwapRecord) {
        let a = try RedisTestServers.session("A")
        let b = try RedisTestServers.session("B")
        for db in 0..<16 { try b.flushTestDatabase(String(db)) }
        try a.flushTestDatabase("3")
        try a.select(3)
        try a.run("SET", "new-key", "new-value")
        try b.select(4)
        for (key, value) in old { try b.run("SET", key, value) }
        for (key, value) in expiring { try b.run("SET", key, value, "PX", "2500") }
        let shadow = try b.makeShadow(for: "4", runID: run)
        _ = try b.copyData(from: a, database: "3", into: shadow, progress: ProgressCounter())
        _ = try b.verify(shadow: shadow, against: a, database: "3", level: .checksum)
        let record = SwapRecord(database: "4", shadow: shadow, checkpoint: b.checkpointName(for: "4", runID: run), targetExisted: true)
        return (a, b, try b.swap(record))
    }

    @Test func shadowsAreNamedForTheirRunAndCarryTheRunInTheMarkerName() throws {
        let b = try RedisTestServers.session("B")
        defer { b.close() }
        for db in 0..<16 { try b.flushTestDatabase(String(db)) }
        let shadow = try b.makeShadow(for: "4", runID: "run-named")
        let parsed = try #require(RedisOwnership.parse(shadow))
        #expect(parsed.run == "run-named" && parsed.database != 4)
        #expect(try allKeys(of: b, database: parsed.database).keys.sorted() == ["__ferry:shadow:run-named"])
        try b.drop(shadow)
        #expect(try allKeys(of: b, database: parsed.database).isEmpty)
        try b.drop(shadow)
    }

    @Test func aKeptCheckpointIsListedAsTakenAndClaimedNotFree() throws {
        let (a, b, swapped) = try swapInACopy(run: "run-kept", old: ["old-key": "old"])
        defer { a.close(); b.close() }
        let n = try #require(RedisOwnership.parse(swapped.checkpoint!)).database
        let facts = try b.describe(fingerprinting: [String(n)])
        #expect(facts.databases[String(n)] != nil)
        #expect(facts.databases[String(n)]?.detail?.contains("checkpoint of database 4 kept by run run-kept") == true)
        var expected = DatabaseClaim(database: String(n), role: .keptCheckpoint, runID: "run-kept")
        expected.marker = "the key __ferry:checkpoint:run-kept in database \(n)"
        #expect(facts.claims.contains(expected), "\(facts.claims)")
        // Another run may neither write into it nor read from it.
        #expect { try b.claim([DatabaseClaim(database: String(n), role: .importing, runID: "run-later")]) } throws: {
            ($0 as? FerryError)?.code == .wrongStatus && "\($0)".contains("kept checkpoint")
        }
        #expect { try b.claim([DatabaseClaim(database: String(n), role: .migrating, runID: "run-later")]) } throws: {
            ($0 as? FerryError)?.code == .wrongStatus
        }
        try b.drop(swapped.checkpoint!)
        #expect(try allKeys(of: b, database: n).isEmpty)
    }

    @Test func keysAnApplicationWritesIntoAKeptCheckpointAreNeverFlushed() throws {
        // A key without a TTL (more persistent keys) and a key with one (more keys than at the swap).
        for write in [["SET", "app-key", "app"], ["SET", "app-key", "app", "EX", "600"]] {
            let (a, b, swapped) = try swapInACopy(run: "run-app-\(write.count)", old: ["old-key": "old", "old-2": "o"])
            defer { a.close(); b.close() }
            let n = try #require(RedisOwnership.parse(swapped.checkpoint!)).database
            try b.select(n)
            try b.connection.command(write.map { Array($0.utf8) })
            let before = try allKeys(of: b, database: n)
            #expect(before["app-key"] == "app")
            #expect { try b.drop(swapped.checkpoint!) } throws: {
                ($0 as? FerryError)?.code == .copyError && "\($0)".contains("written into it after the run")
            }
            #expect(try allKeys(of: b, database: n) == before)
            // The test's own cleanup: the database is the (pretend) application's now.
            try b.flushTestDatabase(String(n))
            try b.flushTestDatabase("4")
        }
    }

    /// Key counts cannot see a key that takes the place of one deleted or expired since the swap
    /// (an application's cache key where the checkpoint's own TTL key expired): the idle times
    /// can, as every key of the checkpoint is untouched since the swap. A checkpoint nothing
    /// touched is still dropped after the same wait, and so is one whose keys were only read (the
    /// content recorded at the swap decides: fresh tester round 50, F1).
    @Test func keysThatReplaceACheckpointsOwnKeysAreNeverFlushed() throws {
        typealias Scenario = (name: String, expiring: [String: String], change: [[String]])
        let scenarios: [Scenario] = [
            ("untouched", [:], []),
            ("replaced", [:], [["DEL", "old-2"], ["SET", "app-key", "app"]]),
            ("cache", ["cache-old": "c"], [["EXISTS", "cache-old"], ["SET", "app-cache", "app", "EX", "600"]]),
            // Fresh tester round 50, F1: read past the slack (as a drop cut short after its
            // compare leaves them): the content recorded at the swap decides, and it is the same.
            ("read", [:], [["GET", "old-key"], ["GET", "old-2"]]),
        ]
        for scenario in scenarios {
            let (a, b, swapped) = try swapInACopy(run: "run-idle-\(scenario.name)", old: ["old-key": "old", "old-2": "o"],
                                                  expiring: scenario.expiring)
            defer { a.close(); b.close() }
            let n = try #require(RedisOwnership.parse(swapped.checkpoint!)).database
            Thread.sleep(forTimeInterval: 4)
            try b.select(n)
            for command in scenario.change { try b.connection.command(command.map { Array($0.utf8) }) }
            if scenario.change.allSatisfy({ $0[0] == "GET" }) {
                try b.drop(swapped.checkpoint!)
                #expect(try allKeys(of: b, database: n).isEmpty, "\(scenario.name): a checkpoint holding what it held at the swap is Ferry's to drop")
                continue
            }
            let before = try allKeys(of: b, database: n)
            #expect(before["app-key"] == "app" || before["app-cache"] == "app")
            // Told by the content recorded at the swap (Redis 7 records it), else by the idle times.
            #expect { try b.drop(swapped.checkpoint!) } throws: {
                ($0 as? FerryError)?.code == .copyError && ("\($0)".contains("written or read after the swap") || "\($0)".contains("no longer what it held at the swap"))
            }
            #expect(try allKeys(of: b, database: n) == before, "\(scenario.name): nothing flushed")
            try b.flushTestDatabase(String(n))
            try b.flushTestDatabase("4")
        }
    }

    @Test func dropRefusesADatabaseWithoutTheRunsMarker() throws {
        let b = try RedisTestServers.session("B")
        defer { b.close() }
        try b.flushTestDatabase("9")
        try b.select(9)
        try b.run("SET", "user", "data")
        // The user's database under a Ferry-style name, under another run's name, and a plain number.
        for name in ["9@run-none", "9@run-other"] {
            #expect { try b.drop(name) } throws: { ($0 as? FerryError)?.code == .copyError && "\($0)".contains("not Ferry's") }
        }
        #expect(throws: FerryError.self) { try b.drop("9") }
        // Another run's marker does not make it this run's: this run's database is gone from
        // there (F3, round 2), so its drop touches nothing and has nothing to do.
        try b.run("HSET", "__ferry:shadow:run-other", "target", "1", "run", "run-other")
        try b.drop("9@run-mine")
        #expect(try allKeys(of: b, database: 9)["user"] == "data")
        try b.select(9)
        #expect(try b.run("HGET", "__ferry:shadow:run-other", "run").string == "run-other")
        try b.flushTestDatabase("9")
    }

    @Test func userKeysNamedLikeFerryMarkersAreCopiedSwappedAndRestoredExactly() throws {
        let a = try RedisTestServers.session("A")
        let b = try RedisTestServers.session("B")
        defer { a.close(); b.close() }
        for db in 0..<16 { try b.flushTestDatabase(String(db)) }
        try a.flushTestDatabase("3")
        try a.select(3)
        let names = ["__ferry:shadow", "__ferry:checkpoint", "__ferry:shadow:run-elsewhere", "__ferry:", "plain"]
        for name in names { try a.run("SET", name, "user-\(name)") }
        try a.run("HSET", "__ferry:checkpoint:run-old", "target", "4", "run", "run-old")
        // The target too holds keys with marker-like names, which the checkpoint must keep.
        try b.select(4)
        try b.run("SET", "__ferry:checkpoint", "target-user-key")
        try b.run("SET", "__ferry:shadow:run-mine2", "target-user-key-2")
        let old = try allKeys(of: b, database: 4)
        let source = try allKeys(of: a, database: 3)
        #expect(source.count == names.count + 1)
        for level in [VerifyLevel.count, .checksum] {
            let shadow = try b.makeShadow(for: "4", runID: "run-mine")
            let stats = try b.copyData(from: a, database: "3", into: shadow, progress: ProgressCounter())
            #expect(stats.rows == Int64(source.count))
            let report = try b.verify(shadow: shadow, against: a, database: "3", level: level)
            #expect(report.tables.first?.rows == Int64(source.count))
            try b.drop(shadow)
        }
        let shadow = try b.makeShadow(for: "4", runID: "run-mine")
        _ = try b.copyData(from: a, database: "3", into: shadow, progress: ProgressCounter())
        let record = SwapRecord(database: "4", shadow: shadow, checkpoint: b.checkpointName(for: "4", runID: "run-mine"), targetExisted: true)
        let swapped = try b.swap(record)
        #expect(try allKeys(of: b, database: 4) == source)
        let n = try #require(RedisOwnership.parse(shadow)).database
        var kept = try allKeys(of: b, database: n)
        #expect(kept.removeValue(forKey: "__ferry:checkpoint:run-mine") == "hash")
        #expect(kept == old)
        try b.undoSwap(swapped)
        #expect(try allKeys(of: b, database: 4) == old)
        try b.drop(shadow)
        #expect(try allKeys(of: b, database: n).isEmpty)
        // An RDB import of the same keys keeps them too.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-marker-names-\(UUID().uuidString).rdb")
        defer { try? FileManager.default.removeItem(at: file) }
        for db in 0..<16 where db != 3 { try a.flushTestDatabase(String(db)) }
        try RedisTestServers.cli("A", ["--rdb", file.path])
        let importShadow = try b.makeShadow(for: "5", runID: "run-import-names")
        defer { try? b.drop(importShadow) }
        _ = try b.importData(into: importShadow, from: [.file(file.path)], format: .rdb, progress: ProgressCounter())
        var imported = try allKeys(of: b, database: try #require(RedisOwnership.parse(importShadow)).database)
        #expect(imported.removeValue(forKey: "__ferry:shadow:run-import-names") == "hash")
        #expect(imported == source)
        #expect(try b.verify(shadow: importShadow, against: nil, database: nil, level: .count).tables.first?.rows == Int64(source.count))
    }

    @Test func aSourceKeyWithTheRunsOwnMarkerNameIsRefusedNotMerged() throws {
        let a = try RedisTestServers.session("A")
        let b = try RedisTestServers.session("B")
        defer { a.close(); b.close() }
        try a.flushTestDatabase("3")
        try a.select(3)
        try a.run("SET", "__ferry:shadow:run-clash", "user")
        try a.run("SET", "other", "x")
        let shadow = try b.makeShadow(for: "4", runID: "run-clash")
        defer { try? b.drop(shadow) }
        #expect { _ = try b.copyData(from: a, database: "3", into: shadow, progress: ProgressCounter()) } throws: {
            ($0 as? FerryError)?.code == .copyError && "\($0)".contains("own marker")
        }
    }
}
