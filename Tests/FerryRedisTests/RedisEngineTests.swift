import FerryCore
import FerryIO
import Foundation
import Testing
@testable import FerryRedis

/// The servers are shared, so these tests run one at a time.
@Suite(.serialized)
struct RedisEngineTests {
    /// What the planner reads of Redis: users sync brings the server's ACL users, no finish step.
    @Test func capabilitiesSayServerUsersAndNothingToFinish() {
        let capabilities = RedisEngine().capabilities
        #expect(capabilities.syncsUsers && capabilities.syncsServerUsers && capabilities.usersSyncNote == nil)
        #expect(!capabilities.finishesCopies && capabilities.identifierLimit == nil)
    }

    @Test func databaseNamesAreZeroToFifteen() {
        let engine = RedisEngine()
        #expect(engine.problem(withDatabaseName: "0") == nil)
        #expect(engine.problem(withDatabaseName: "15") == nil)
        #expect(engine.problem(withDatabaseName: "16") != nil)
        #expect(engine.problem(withDatabaseName: "app") != nil)
        #expect(engine.problem(withDatabaseName: "01") != nil)
        #expect(!engine.planWarnings(forImportInto: "3", onExisting: .replace).isEmpty)
    }

    @Test func crc64MatchesRedisTestVector() {
        #expect(CRC64.checksum(Array("123456789".utf8)) == 0xe9c6_d914_c4b8_d9ca)
    }

    @Test func crc64EightBytesAStepEqualsTheByteWiseDefinition() {
        // The definition, a bit at a time, against the sliced tables at every length and split.
        func reference(_ bytes: [UInt8]) -> UInt64 {
            var crc: UInt64 = 0
            for byte in bytes {
                crc ^= UInt64(byte)
                for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5 : crc >> 1 }
            }
            return crc
        }
        var generator = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(CRC64.checksum(bytes) == reference(bytes), "length \(length)")
            var split = CRC64()
            let cut = length / 3
            bytes[..<cut].withUnsafeBytes { split.update($0) }
            bytes[cut...].withUnsafeBytes { split.update($0) }
            #expect(split.value == reference(bytes), "length \(length) split at \(cut)")
        }
    }

    @Test func wrongPasswordIsOperationDenied() throws {
        var target = try RedisTestServers.target("B")
        target.password = "not-the-password"
        #expect { try RedisEngine().connect(target) } throws: { ($0 as? FerryError)?.code == .wrongPassword }
        target.password = nil
        #expect { try RedisEngine().connect(target) } throws: { ($0 as? FerryError)?.code == .wrongPassword }
    }

    @Test func unknownHostAndClosedPortAreInstanceNotFound() {
        for url in ["redis://no-such-host.invalid:6379", "redis://127.0.0.1:1"] {
            let target = ConnectionTarget(instance: InstanceSpec(name: "x", engine: .redis, url: url), password: nil)
            #expect { try RedisEngine().connect(target) } throws: { ($0 as? FerryError)?.code == .instanceNotFound }
        }
    }

    @Test func describeListsNonEmptyDatabasesWithKeyCounts() throws {
        let a = try RedisTestServers.session("A")
        defer { a.close() }
        try a.flushTestDatabase("9")
        try a.select(9)
        try a.run("SET", "k1", "v"); try a.run("SET", "k2", "v")
        let facts = try a.describe()
        #expect(facts.version?.isEmpty == false)
        let db = try #require(facts.databases["9"])
        #expect(db.detail?.hasPrefix("2 keys") == true)
        // Up to the key limit the fingerprint is the content token: exact, changed by a write
        // that keeps the key count, not by a write into another database (F1, round 2).
        #expect(db.isFingerprintExact == true)
        #expect(try a.describe().databases["9"]?.fingerprint == db.fingerprint)
        try a.flushTestDatabase("10")
        try a.select(10)
        try a.run("SET", "elsewhere", "v")
        #expect(try a.describe().databases["9"]?.fingerprint == db.fingerprint)
        try a.flushTestDatabase("10")
        try a.select(9)
        try a.run("SET", "k2", "other")
        let overwritten = try #require(try a.describe().databases["9"]?.fingerprint)
        #expect(overwritten != db.fingerprint)
        // `describe` selects each database it reads (others' keys when suites run beside this one).
        try a.select(9)
        try a.run("SET", "k3", "v")
        #expect(try a.describe().databases["9"]?.fingerprint != overwritten)
        // A database the refresh does not fingerprint gets the inexact counts.
        #expect(try a.describe(fingerprinting: []).databases["9"]?.isFingerprintExact == false)
        try a.flushTestDatabase("9")
    }

    /// A database holding Ferry's checkpoint or shadow keeps the inexact fingerprint: no content
    /// read there, which a server before 7.2 would count as an access, and a checkpoint's drop
    /// takes an access for a client's.
    @Test func aDatabaseHoldingFerrysMarkerIsNotReadForItsFingerprint() throws {
        let a = try RedisTestServers.session("A")
        defer { a.close() }
        for marker in ["__ferry:checkpoint:", "__ferry:shadow:"] {
            try a.flushTestDatabase("6")
            try a.select(6)
            let run = "20260101T000000000Z-fp\(UUID().uuidString.prefix(4).lowercased())"
            try a.run("HSET", marker + run, "run", run, "target", "3")
            try a.run("SET", "old", "v")
            let facts = try a.describe(fingerprinting: ["6"])
            #expect(facts.databases["6"]?.isFingerprintExact == false, "\(marker)")
            try a.flushTestDatabase("6")
            try a.select(6)
            try a.run("SET", "old", "v")
            #expect(try a.describe(fingerprinting: ["6"]).databases["6"]?.isFingerprintExact == true, "without the marker it is read")
        }
        try a.flushTestDatabase("6")
    }

    @Test func copyBetweenServersKeepsEveryTypeAndTTLAndSwapsBack() throws {
        let a = try RedisTestServers.session("A")
        let b = try RedisTestServers.session("B")
        defer { a.close(); b.close() }
        for db in 0..<16 { try b.flushTestDatabase(String(db)) }
        try a.flushTestDatabase("3")
        try fillEveryType(a, database: 3, prefix: "")
        // The target already holds other data, which the copy replaces and a rollback restores.
        try b.select(4)
        try b.run("SET", "old-key", "old-value")
        let before = try contents(of: b, database: 4)

        let shadow = try b.makeShadow(for: "4", runID: "run-copy")
        #expect(shadow != "4")
        let stats = try b.copyData(from: a, database: "3", into: shadow, progress: ProgressCounter())
        let expected = try contents(of: a, database: 3)
        #expect(stats.rows == Int64(expected.count))
        let report = try b.verify(shadow: shadow, against: a, database: "3", level: .checksum)
        #expect(report.tables.first?.rows == Int64(expected.count))

        let record = SwapRecord(database: "4", shadow: shadow, checkpoint: b.checkpointName(for: "4", runID: "run-copy"), targetExisted: true)
        #expect(record.checkpoint == shadow)
        let swapped = try b.swap(record)
        let copied = try contents(of: b, database: 4)
        #expect(copied == expected)
        #expect(copied.count == expected.count)
        // A second swap with the same record changes nothing.
        _ = try b.swap(record)
        #expect(try contents(of: b, database: 4) == expected)

        try b.undoSwap(swapped)
        #expect(try contents(of: b, database: 4) == before)
        try b.undoSwap(swapped)
        #expect(try contents(of: b, database: 4) == before)
        try b.drop(shadow)
        try b.drop(shadow)
        #expect(try b.userKeyCount(RedisOwnership.parse(shadow)!.database) == 0)
    }

    @Test func verifyNoticesADifferentValue() throws {
        let a = try RedisTestServers.session("A")
        defer { a.close() }
        for db in ["5", "6"] { try a.flushTestDatabase(db) }
        try fillEveryType(a, database: 5, prefix: "v", count: 5)
        let shadow = try a.makeShadow(for: "6", runID: "run-verify")
        try a.cloneDatabase("5", into: shadow, progress: ProgressCounter())
        _ = try a.verify(shadow: shadow, against: a, database: "5", level: .checksum)
        try a.select(RedisOwnership.parse(shadow)!.database)
        try a.run("HSET", "vhash:1", "f1", "changed")
        #expect { try a.verify(shadow: shadow, against: a, database: "5", level: .checksum) } throws: {
            ($0 as? FerryError)?.code == .verifyFailed
        }
        try a.drop(shadow)
        try a.flushTestDatabase("5")
    }

    @Test func undoSwapBeforeTheSwapChangesNothing() throws {
        let a = try RedisTestServers.session("A")
        defer { a.close() }
        try a.flushTestDatabase("7")
        try a.select(7)
        try a.run("SET", "live", "1")
        let shadow = try a.makeShadow(for: "7", runID: "run-undo")
        try a.select(RedisOwnership.parse(shadow)!.database)
        // Written as Ferry writes into a shadow: counted in its marker (a key it did not count
        // would make the swap refuse the shadow).
        try a.run("MULTI")
        try a.run("SET", "new", "2")
        try a.run("HINCRBY", RedisOwnership.shadowMarker(run: "run-undo"), "wrote", "1")
        try a.run("HINCRBY", RedisOwnership.shadowMarker(run: "run-undo"), "wrotepersistent", "1")
        try a.run("EXEC")
        let record = SwapRecord(database: "7", shadow: shadow, checkpoint: nil, targetExisted: true)
        // Crash before the swap: undo finds no checkpoint marker and leaves both databases.
        try a.undoSwap(record)
        #expect(try contents(of: a, database: 7) == ["live": "string:none:1"])
        #expect(try contents(of: a, database: RedisOwnership.parse(shadow)!.database) == ["new": "string:none:2"])
        // Crash after the swap (the returned record was never journaled): undo from the first record.
        _ = try a.swap(record)
        #expect(try contents(of: a, database: 7) == ["new": "string:none:2"])
        try a.undoSwap(record)
        #expect(try contents(of: a, database: 7) == ["live": "string:none:1"])
        try a.drop(shadow)
        try a.flushTestDatabase("7")
    }

    @Test func claimsOfAnotherRunAreWrongStatus() throws {
        let a = try RedisTestServers.session("A")
        let other = try RedisTestServers.session("A")
        defer { a.close(); other.close() }
        try a.claim([DatabaseClaim(database: "2", role: .importing, runID: "run-one")])
        #expect(try other.describe().claims.contains(DatabaseClaim(database: "2", role: .importing, runID: "run-one")))
        #expect { try other.claim([DatabaseClaim(database: "2", role: .migrating, runID: "run-two")]) } throws: {
            ($0 as? FerryError)?.code == .wrongStatus
        }
        try a.release(runID: "run-one")
        try a.release(runID: "run-one")
        try other.claim([DatabaseClaim(database: "2", role: .migrating, runID: "run-two")])
        try other.release(runID: "run-two")
    }

    /// Fresh tester round 35b, F3: a backup file over the writer's 1 MiB buffer ended with a CRC64
    /// of only its flushed part (redis-check-rdb: "RDB CRC error"; every restore refused it), and
    /// a smaller one with 0 (a checksum turned off). Both sizes now carry the file's CRC64.
    @Test(arguments: [0, 3000]) func backupRoundTripsThroughAnRDBFile(bigValues: Int) throws {
        let a = try RedisTestServers.session("A")
        defer { a.close() }
        try a.flushTestDatabase("8")
        try fillEveryType(a, database: 8, prefix: "bk", count: 10)
        if bigValues > 0 {
            try a.select(8)
            // Values RDB's LZF cannot shrink much (random hex), so the file passes 2 MiB.
            for i in 0..<bigValues {
                a.connection.send("SET", "big:\(i)", (0..<28).map { _ in UUID().uuidString }.joined())
            }
            try a.connection.drain()
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-backup-\(UUID()).rdb")
        defer { try? FileManager.default.removeItem(at: file) }
        let written = try a.writeBackup(of: "8", to: file, progress: ProgressCounter())
        let shadow = try a.makeShadow(for: "10", runID: "run-backup")
        let restored = try a.restoreBackup(from: file, into: shadow, progress: ProgressCounter())
        #expect(restored.rows == written.rows)
        #expect(try contents(of: a, database: RedisOwnership.parse(shadow)!.database) == contents(of: a, database: 8))
        // redis-check-rdb accepts the file as a real RDB file.
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["redis-check-rdb", file.path]
        check.standardOutput = FileHandle.nullDevice
        try check.run(); check.waitUntilExit()
        #expect(check.terminationStatus == 0)
        let bytes = try Data(contentsOf: file)
        #expect(bigValues == 0 || bytes.count > 2 << 20, "the file is bigger than the writer's buffer")
        #expect(bytes.suffix(8) != Data(repeating: 0, count: 8), "the file carries its CRC64, not 0")
        try a.drop(shadow)
        try a.flushTestDatabase("8")
    }
}
