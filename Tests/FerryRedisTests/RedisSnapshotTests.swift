import FerryCore
import FerryIO
import Foundation
import Testing
@testable import FerryRedis

/// Copies and backups read a server snapshot (the replication full sync) when the server grants
/// one, and fall back to SCAN when it refuses. Part of the serialized engine suite: the servers
/// and their numbered databases are shared.
extension RedisEngineTests {
    @Test func snapshotHoldsExactlyTheKeysOfTheChosenDatabase() throws {
        let a = try RedisTestServers.session("A")
        defer { a.close() }
        for db in ["11", "12"] { try a.flushTestDatabase(db) }
        try fillEveryType(a, database: 11, prefix: "snap", count: 20)
        try a.select(12)
        try a.run("SET", "other-db-key", "x")
        let expected = try a.userKeyCount(11)
        let reader = try RedisSnapshotReader.open(a.endpoint)
        defer { reader.close() }
        let stream = RDBStream(reader: reader, name: "snapshot")
        stream.onlyDatabase = 11
        try stream.readHeader()
        var keys: Set<String> = []
        while let entry = try stream.next() { keys.insert(String(decoding: entry.key, as: UTF8.self)) }
        #expect(Int64(keys.count) == expected)
        #expect(!keys.contains("other-db-key"))
        #expect(reader.sourceBytesRead > 0)
        for db in ["11", "12"] { try a.flushTestDatabase(db) }
    }

    @Test func copyVerifiesAgainstTheDigestInItsReceiptAndNoticesTampering() throws {
        let a = try RedisTestServers.session("A")
        let b = try RedisTestServers.session("B")
        defer { a.close(); b.close() }
        try a.flushTestDatabase("11")
        try fillEveryType(a, database: 11, prefix: "kept", count: 30)
        let shadow = try b.makeShadow(for: "11", runID: "run-kept-digest")
        defer { try? b.drop(shadow) }
        let stats = try b.copyData(from: a, database: "11", into: shadow, progress: ProgressCounter())
        #expect(stats.rows == (try a.userKeyCount(11)))
        // The digest of what was sent travels in the receipt; the shadow's marker holds none.
        try b.select(RedisOwnership.parse(shadow)!.database)
        let onServer = try b.run("HMGET", RedisOwnership.shadowMarker(run: RedisOwnership.parse(shadow)!.run!), "keys", "digest").elements.map(\.string)
        #expect(onServer.allSatisfy { $0 == nil })
        let kept = [stats.receipt.tables?.first.map { String($0.rows) }, stats.receipt.tables?.first?.checksum]
        #expect(kept[0] == String(stats.rows))
        #expect(kept[1] != nil)
        let report = try b.verify(shadow: shadow, against: a, database: "11", level: .checksum, receipt: stats.receipt)
        #expect(report.tables.first?.rows == stats.rows)
        // Settled by the receipt's digest (one pass over the shadow), not the two-sided content digest.
        #expect(report.tables.first?.checksum == kept[1])
        #expect(try contents(of: b, database: RedisOwnership.parse(shadow)!.database) == (try contents(of: a, database: 11)))
        // A changed value with the same key count fails verification.
        try b.select(RedisOwnership.parse(shadow)!.database)
        try b.run("SET", "keptstr:1", "tampered")
        #expect { try b.verify(shadow: shadow, against: a, database: "11", level: .checksum, receipt: stats.receipt) } throws: {
            ($0 as? FerryError)?.code == .verifyFailed
        }
        try a.flushTestDatabase("11")
    }

    @Test func aUserWithoutReplicationRightsCopiesBySCAN() throws {
        let a = try RedisTestServers.session("A")
        let b = try RedisTestServers.session("B")
        defer { a.close(); b.close() }
        try a.flushTestDatabase("11")
        try fillEveryType(a, database: 11, prefix: "acl", count: 10)
        let password = "acl-\(UInt32.random(in: 0...UInt32.max))"
        try a.run("ACL", "SETUSER", "ferry-nosync", "reset", "on", ">\(password)", "~*", "&*", "+@all", "-psync", "-sync")
        defer { _ = try? a.run("ACL", "DELUSER", "ferry-nosync") }
        let port = try RedisTestServers.port("A")
        let limited = try #require(try RedisEngine().connect(ConnectionTarget(
            instance: InstanceSpec(name: "limited", engine: .redis, url: "redis://ferry-nosync@127.0.0.1:\(port)"),
            password: password)) as? RedisSession)
        defer { limited.close() }
        #expect(throws: RedisSnapshotReader.Refused.self) { _ = try RedisSnapshotReader.open(limited.endpoint) }
        let shadow = try b.makeShadow(for: "11", runID: "run-no-sync")
        defer { try? b.drop(shadow) }
        _ = try b.copyData(from: limited, database: "11", into: shadow, progress: ProgressCounter())
        _ = try b.verify(shadow: shadow, against: limited, database: "11", level: .checksum)
        #expect(try contents(of: b, database: RedisOwnership.parse(shadow)!.database) == (try contents(of: a, database: 11)))
        try a.flushTestDatabase("11")
    }

    /// Fresh tester round 33, F14: a source user without `PTTL` (read by SCAN: no `PSYNC`): each
    /// refused `PTTL` was read as "the key is gone" and the copy wrote nothing and verified. The
    /// refusal now fails the copy, naming the command.
    @Test func aSourceUserWithoutPTTLFailsTheCopy() throws {
        let a = try RedisTestServers.session("A")
        let b = try RedisTestServers.session("B")
        defer { a.close(); b.close() }
        try a.flushTestDatabase("11")
        try fillEveryType(a, database: 11, prefix: "nopttl", count: 10)
        let password = "nopttl-\(UInt32.random(in: 0...UInt32.max))"
        try a.run("ACL", "SETUSER", "ferry-nopttl", "reset", "on", ">\(password)", "~*", "&*", "+@all", "-psync", "-sync", "-pttl")
        defer { _ = try? a.run("ACL", "DELUSER", "ferry-nopttl") }
        let port = try RedisTestServers.port("A")
        let limited = try #require(try RedisEngine().connect(ConnectionTarget(
            instance: InstanceSpec(name: "limited", engine: .redis, url: "redis://ferry-nopttl@127.0.0.1:\(port)"),
            password: password)) as? RedisSession)
        defer { limited.close() }
        let shadow = try b.makeShadow(for: "11", runID: "run-no-pttl")
        defer { try? b.drop(shadow) }
        do {
            _ = try b.copyData(from: limited, database: "11", into: shadow, progress: ProgressCounter())
            Issue.record("the copy went through")
        } catch {
            #expect("\(error)".lowercased().contains("pttl"), "\(error)")
        }
        try a.flushTestDatabase("11")
    }

    /// Fresh tester round 33, F2: a user without `DUMP` (or with write-only key rights) cannot
    /// read a small database's content: its facts say so (`unreadable`), never an exact
    /// fingerprint, so that a plan does not call a drifted target up to date.
    @Test(arguments: ["-dump", "resetkeys %W~*"]) func aDatabaseTheUserCannotReadIsSaidUnreadable(_ rule: String) throws {
        let a = try RedisTestServers.session("A")
        defer { a.close() }
        try a.flushTestDatabase("11")
        try fillEveryType(a, database: 11, prefix: "unread", count: 3)
        let password = "unread-\(UInt32.random(in: 0...UInt32.max))"
        try a.run(arguments: ["ACL", "SETUSER", "ferry-unread", "reset", "on", ">\(password)", "~*", "&*", "+@all"] + rule.split(separator: " ").map(String.init))
        defer { _ = try? a.run("ACL", "DELUSER", "ferry-unread") }
        let port = try RedisTestServers.port("A")
        let limited = try #require(try RedisEngine().connect(ConnectionTarget(
            instance: InstanceSpec(name: "limited", engine: .redis, url: "redis://ferry-unread@127.0.0.1:\(port)"),
            password: password)) as? RedisSession)
        defer { limited.close() }
        let facts = try #require(try limited.describe(fingerprinting: ["11"]).databases["11"])
        #expect(!facts.isFingerprintExact && facts.unreadable?.contains("NOPERM") == true, "\(facts)")
        let full = try #require(try a.describe(fingerprinting: ["11"]).databases["11"])
        #expect(full.isFingerprintExact && full.unreadable == nil)
        try a.flushTestDatabase("11")
    }

    /// Fresh tester round 34, F1: a user refused a command describe needs (`SCAN` first) was
    /// `Internal` at plan. An ACL refusal, wherever it escapes, reads as `WrongStatus` naming the
    /// command; describe either reads the database or says why it cannot.
    @Test(arguments: ["-scan", "-info", "-select", "-type", "-dbsize", "-memory"])
    func aUserRefusedACommandDescribeNeedsIsNamedNotInternal(_ rule: String) throws {
        let a = try RedisTestServers.session("A")
        defer { a.close() }
        try a.flushTestDatabase("11")
        try fillEveryType(a, database: 11, prefix: "refused", count: 3)
        let password = "refused-\(UInt32.random(in: 0...UInt32.max))"
        try a.run("ACL", "SETUSER", "ferry-refused", "reset", "on", ">\(password)", "~*", "&*", "+@all", rule)
        defer { _ = try? a.run("ACL", "DELUSER", "ferry-refused") }
        let port = try RedisTestServers.port("A")
        do {
            let limited = try RedisEngine().connect(ConnectionTarget(
                instance: InstanceSpec(name: "limited", engine: .redis, url: "redis://ferry-refused@127.0.0.1:\(port)"),
                password: password))
            defer { limited.close() }
            let facts = try #require(try limited.describe(fingerprinting: ["11"]).databases["11"])
            #expect(facts.isFingerprintExact || facts.unreadable != nil, "\(rule): \(facts)")
        } catch {
            let ferry = FerryError(classifying: error)
            #expect(ferry.code == .wrongStatus, "\(rule): \(ferry)")
            #expect(ferry.message.lowercased().contains(rule.dropFirst()), "\(rule): \(ferry)")
        }
        try a.flushTestDatabase("11")
    }

    /// Fresh tester round 35, F12, F13: a target user allowed `SELECT` on some database numbers
    /// only passed the check before the shadow, then failed where the shadow or the checkpoint
    /// went, and left its run for another account. Every number is asked for, and the refused
    /// ones are named.
    @Test func aTargetUserAllowedSomeDatabaseNumbersOnlyIsRefusedFirst() throws {
        let a = try RedisTestServers.session("A")
        defer { a.close() }
        let password = "selu-\(UInt32.random(in: 0...UInt32.max))"
        try a.run("ACL", "SETUSER", "ferry-selu", "reset", "on", ">\(password)", "~*", "&*", "+@all", "-select", "+select|0", "+select|6")
        defer { _ = try? a.run("ACL", "DELUSER", "ferry-selu") }
        let port = try RedisTestServers.port("A")
        let limited = try #require(try RedisEngine().connect(ConnectionTarget(
            instance: InstanceSpec(name: "limited", engine: .redis, url: "redis://ferry-selu@127.0.0.1:\(port)"),
            password: password)) as? RedisSession)
        defer { limited.close() }
        #expect { try limited.checkBeforeShadow(for: "6", runID: "run-selu") } throws: { error in
            let ferry = FerryError(classifying: error)
            return ferry.code == .wrongStatus && ferry.message.contains("SELECT|1") && ferry.message.contains("SELECT|15") && !ferry.message.contains("SELECT|6,")
        }
        try a.run("ACL", "SETUSER", "ferry-selu", "+select")
        try limited.checkBeforeShadow(for: "6", runID: "run-selu")
    }

    @Test func aTargetThatEncodesDifferentlyStillVerifiesByContent() throws {
        let a = try RedisTestServers.session("A")
        let b = try RedisTestServers.session("B")
        defer { a.close(); b.close() }
        try a.flushTestDatabase("11")
        try fillEveryType(a, database: 11, prefix: "enc", count: 10)
        let original = try b.run("CONFIG", "GET", "hash-max-listpack-entries").elements.last?.string ?? "128"
        try b.run("CONFIG", "SET", "hash-max-listpack-entries", "0")
        defer { _ = try? b.run("CONFIG", "SET", "hash-max-listpack-entries", original) }
        let shadow = try b.makeShadow(for: "11", runID: "run-encoding")
        defer { try? b.drop(shadow) }
        let built = try b.copyData(from: a, database: "11", into: shadow, progress: ProgressCounter())
        try b.select(RedisOwnership.parse(shadow)!.database)
        #expect(try b.run("OBJECT", "ENCODING", "enchash:1").string == "hashtable")
        let kept = built.receipt.tables?.first?.checksum
        let report = try b.verify(shadow: shadow, against: a, database: "11", level: .checksum, receipt: built.receipt)
        #expect(report.tables.first?.checksum != kept)
        #expect(try contents(of: b, database: RedisOwnership.parse(shadow)!.database) == (try contents(of: a, database: 11)))
        try a.flushTestDatabase("11")
    }

    @Test func aSmallDatabaseOfABigServerIsReadBySCAN() throws {
        let a = try RedisTestServers.session("A")
        defer { a.close() }
        for db in ["11", "12"] { try a.flushTestDatabase(db) }
        defer { try? a.flushTestDatabase("12") }
        try fillEveryType(a, database: 11, prefix: "small", count: 5)
        try a.select(12)
        for i in 0..<120_000 { a.connection.send("SET", "big:\(i)", "v") }
        try a.connection.drain()
        #expect(try RedisSnapshotReader.scanIsCheaper(a.connection, database: 11) != nil)
        #expect(try RedisSnapshotReader.scanIsCheaper(a.connection, database: 12) == nil)
        #expect(throws: RedisSnapshotReader.Refused.self) { _ = try RedisSnapshotReader.open(a.endpoint, for: 11) }
        try a.flushTestDatabase("12")
        #expect(try RedisSnapshotReader.scanIsCheaper(a.connection, database: 11) == nil)
        try a.flushTestDatabase("11")
    }

    @Test func aServerThatWaitsBeforeStreamingSnapshotsGoesThroughItsDiskOnlyIfItKeepsRDBFiles() throws {
        let a = try RedisTestServers.session("A")
        defer { a.close() }
        try a.flushTestDatabase("11")
        try fillEveryType(a, database: 11, prefix: "disk", count: 5)
        let expected = try a.userKeyCount(11)
        let dir = try a.run("CONFIG", "GET", "dir").elements.last?.string ?? ""
        let saved = try a.run("CONFIG", "GET", "save").elements.last?.string ?? ""
        defer {
            _ = try? a.run("CONFIG", "SET", "repl-diskless-sync-delay", "0")
            _ = try? a.run("CONFIG", "SET", "save", saved)
            try? FileManager.default.removeItem(atPath: dir + "/dump.rdb")
        }
        try a.run("CONFIG", "SET", "repl-diskless-sync-delay", "5")
        // No RDB persistence: a disk-based sync would leave a file loaded at the next restart.
        try a.run("CONFIG", "SET", "save", "")
        #expect(throws: RedisSnapshotReader.Refused.self) { _ = try RedisSnapshotReader.open(a.endpoint) }
        // With RDB persistence the snapshot goes through the server's disk, without the delay.
        try a.run("CONFIG", "SET", "save", "3600 1")
        let started = Date()
        let reader = try RedisSnapshotReader.open(a.endpoint)
        defer { reader.close() }
        let stream = RDBStream(reader: reader, name: "snapshot")
        stream.onlyDatabase = 11
        try stream.readHeader()
        var count: Int64 = 0
        while try stream.next() != nil { count += 1 }
        #expect(count == expected)
        #expect(Date().timeIntervalSince(started) < 4, "the snapshot did not wait out the 5 s delay")
        try a.flushTestDatabase("11")
    }
}
