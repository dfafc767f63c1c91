import FerryCore
import Foundation
import Testing
@testable import FerryRedis

/// Issue 21 §5: a copy's read-back `GET`s strings instead of `DUMP`ing them, so a string's digest
/// is its content whatever its encoding in a payload (plain, integer, LZF). These tests hold the
/// digest of what a copy sends (DUMP payloads) against the read-back's and the verify's own
/// pass, on a real server, for every string encoding Redis writes. Part of the serialized engine
/// suite: other tests of it FLUSHALL server A.
extension RedisEngineTests {
    /// Values that Redis serializes in each of its string encodings (int8/16/32, plain with 6-,
    /// 14- and 32-bit lengths, LZF with small and large lengths), and near misses that stay plain.
    static let readbackStrings: [[UInt8]] = {
        var values: [[UInt8]] = ["", "x", "0", "-1", "127", "-128", "128", "-129", "32767", "-32768", "32768",
                                 "2147483647", "-2147483648", "2147483648", "9223372036854775807", "007", " 1", "1.5",
                                 "+5", "-0"].map { Array($0.utf8) }
        values.append(Array(String(repeating: "a", count: 21).utf8))
        values.append(Array(String(repeating: "ab", count: 5000).utf8))
        values.append(Array(String(repeating: "ferry-0123456789", count: 5000).utf8))   // 80,000 bytes
        values.append([0, 13, 10, 255, 0, 36, 42] + Array(repeating: 7, count: 40))
        let hex = Array("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".utf8)
        values.append(hex + hex.prefix(36))   // the bench's 100-byte strings
        // Incompressible: plain with a 14-bit and a 32-bit length.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func noise(_ n: Int) -> [UInt8] {
            (0..<n).map { _ in state ^= state << 13; state ^= state >> 7; state ^= state << 17; return UInt8(truncatingIfNeeded: state >> 24) }
        }
        values.append(noise(300))
        values.append(noise(20000))
        return values
    }()

    /// Writes the keys into an empty numbered database of server A, atomically only while it is
    /// empty (so no other test's shadow is touched); returns the connection, on that database.
    func fillReadbackKeys(_ keys: [([UInt8], [UInt8])]) throws -> RedisConnection {
        let connection = try RedisConnection(host: "127.0.0.1", port: Int(try RedisTestServers.port("A"))!)
        let script = Array("""
            if redis.call('DBSIZE') ~= 0 then return 0 end
            for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[i]) end
            redis.call('PEXPIRE', KEYS[2], 600000)
            redis.call('HSET', 'rb:hash', 'f1', 'v1', 'f2', '12')
            redis.call('RPUSH', 'rb:list', 'a', '1', 'c')
            redis.call('PEXPIRE', 'rb:list', 600000)
            return 1
            """.utf8)
        for db in [13, 14, 15] {
            try connection.command("SELECT", String(db))
            var args: [[UInt8]] = [Array("EVAL".utf8), script, Array(String(keys.count).utf8)]
            args += keys.map(\.0) + keys.map(\.1)
            if try connection.command(args).integer == 1 { return connection }
        }
        Issue.record("no empty database among 13-15 on server A")
        throw FerryError(.internalError, "no empty database")
    }

    func readbackKeys() -> [([UInt8], [UInt8])] {
        Self.readbackStrings.enumerated().map { (Array("rb:s\($0.offset)".utf8), $0.element) }
    }

    /// What the copy sends: the digest of each key's DUMP payload with its TTL.
    func sentDigest(_ connection: RedisConnection, _ names: [[UInt8]]) throws -> (PayloadDigest, [Bool]) {
        let digest = PayloadDigest()
        var isString: [Bool] = []
        for name in names {
            let payload = try #require(try connection.command([Array("DUMP".utf8), name]).bytes)
            let ttl = try #require(try connection.command([Array("PTTL".utf8), name]).integer)
            digest.add(key: name, payload: payload, hasTTL: ttl > 0)
            isString.append(payload.first == 0)
        }
        return (digest, isString)
    }

    func readBack(_ connection: RedisConnection, _ names: [[UInt8]], _ isString: [Bool]) throws -> PayloadDigest {
        let readback = RedisReadback()
        readback.send(zip(names, isString), on: connection)
        try connection.flush()
        try readback.read(zip(names, isString), on: connection)
        return readback.digest
    }

    @Test func readBackOfEveryStringEncodingEqualsTheDigestOfTheSentPayloads() throws {
        let keys = readbackKeys()
        let connection = try fillReadbackKeys(keys)
        defer { _ = try? connection.command([Array("DEL".utf8)] + keys.map(\.0) + [Array("rb:hash".utf8), Array("rb:list".utf8)]) }
        let names = keys.map(\.0) + [Array("rb:hash".utf8), Array("rb:list".utf8)]
        let (sent, isString) = try sentDigest(connection, names)
        // The payloads really are in the encodings named above.
        let encodings = Set(try keys.map { try #require(try connection.command([Array("DUMP".utf8), $0.0]).bytes)[1] >> 6 })
        #expect(encodings.isSuperset(of: [0, 1, 2, 3]), "\(encodings)")
        #expect(isString.filter { $0 }.count == keys.count)
        let read = try readBack(connection, names, isString)
        #expect(read.count == Int64(names.count))
        #expect(read.count == sent.count && read.sum == sent.sum)
        // The verify's own pass over the database (SCAN + DUMP) agrees as well.
        let scanned = try PayloadDigest.of(connection, excluding: [])
        #expect(scanned.count == sent.count && scanned.sum == sent.sum)
    }

    @Test func readBackNoticesAChangedStringTTLOrType() throws {
        let keys = readbackKeys()
        let connection = try fillReadbackKeys(keys)
        defer { _ = try? connection.command([Array("DEL".utf8)] + keys.map(\.0) + [Array("rb:hash".utf8), Array("rb:list".utf8)]) }
        let names = keys.map(\.0)
        let (sent, isString) = try sentDigest(connection, names)
        let changes: [[String]] = [
            ["SET", "rb:s4", "127 "],                   // an int-encoded string, one byte longer
            ["SET", "rb:s21", String(repeating: "ab", count: 4999) + "ba"],   // an LZF one, its last bytes
            ["PERSIST", "rb:s1"],                      // a TTL gone
            ["PEXPIRE", "rb:s0", "600000"],            // a TTL added
        ]
        for change in changes {
                let before = try #require(try connection.command([Array("DUMP".utf8), Array(change[1].utf8)]).bytes)
            let ttl = try #require(try connection.command("PTTL", change[1]).integer)
            try connection.command(change.map { Array($0.utf8) })
            let read = try readBack(connection, names, isString)
            #expect(read.count == sent.count, "\(change)")
            #expect(read.sum != sent.sum, "\(change)")
            try connection.command([Array("RESTORE".utf8), Array(change[1].utf8), Array(String(max(0, ttl)).utf8), before, Array("REPLACE".utf8)])
            let again = try readBack(connection, names, isString)
            #expect(again.sum == sent.sum, "\(change) undone")
        }
        // A string replaced by another type is left out of the read-back: the counts differ.
        try connection.command("DEL", "rb:s2")
        try connection.command("RPUSH", "rb:s2", "0")
        let read = try readBack(connection, names, isString)
        #expect(read.count == sent.count - 1)
    }

    /// Issue 21 §5: copies and imports write strings with `SET` from their DUMP payloads (half a
    /// RESTORE's work on the target). Every string encoding, with no TTL, a relative TTL
    /// (`PX`), an absolute one (`PXAT`, or RESTORE ABSTTL where the server may lack PXAT), over a
    /// key of another type, ends as RESTORE would leave it: same value, type and TTL, and the
    /// read-back's digest equals the digest of the payloads sent. Other types go by RESTORE.
    @Test func stringsWrittenWithSetEndAsRestoreWouldLeaveThem() throws {
        let keys = readbackKeys()
        let connection = try fillReadbackKeys(keys)
        let names = keys.map(\.0) + [Array("rb:hash".utf8), Array("rb:list".utf8)]
        var written: [[UInt8]] = []
        defer { _ = try? connection.command([Array("DEL".utf8)] + names + written) }
        for mode in ["px", "pxat", "abs-restore"] {
            let sent = PayloadDigest()
            var copies: [[UInt8]] = []
            var originals: [(name: [UInt8], payload: [UInt8], ttl: Int64)] = []
            for name in names {
                let payload = try #require(try connection.command([Array("DUMP".utf8), name]).bytes)
                let ttl = try #require(try connection.command([Array("PTTL".utf8), name]).integer)
                originals.append((name, payload, ttl))
            }
            for (index, original) in originals.enumerated() {
                let copy = Array("rbw:\(mode):\(index)".utf8)
                copies.append(copy)
                written.append(copy)
                // Something of another type stands there first: the write replaces it.
                try connection.command([Array("RPUSH".utf8), copy, Array("old".utf8)])
                let hasTTL = original.ttl > 0
                switch mode {
                case "px":
                    connection.sendWrite(key: copy, ttl: max(0, original.ttl), payload: original.payload, absolute: false)
                default:
                    let at = hasTTL ? Int64(Date().timeIntervalSince1970 * 1000) + original.ttl : 0
                    connection.sendWrite(key: copy, ttl: at, payload: original.payload, absolute: true, pxat: mode == "pxat")
                }
                try connection.flush()
                let reply = try connection.readReply()
                #expect(reply.string == "OK", "\(mode) \(index): \(reply)")
                sent.add(key: copy, payload: original.payload, hasTTL: hasTTL)
                #expect(try connection.command([Array("TYPE".utf8), copy]).string == (try connection.command([Array("TYPE".utf8), original.name]).string))
                if original.payload.first == 0 {
                    let value = try connection.command([Array("GET".utf8), copy]).bytes
                    #expect(value == keys[index].1, "\(mode) \(index)")
                }
                let ttl = try #require(try connection.command([Array("PTTL".utf8), copy]).integer)
                if hasTTL { #expect(ttl > 0 && ttl <= original.ttl + 5, "\(mode) \(index): \(ttl)") } else { #expect(ttl == -1, "\(mode) \(index)") }
            }
            let isString = originals.map { $0.payload.first == 0 }
            let read = try readBack(connection, copies, isString)
            #expect(read.count == sent.count && read.sum == sent.sum, "\(mode)")
        }
    }

    /// The decompressor copies runs and back references a piece at a time (apart, one byte
    /// repeated, overlapping periods): every shape Redis's own LZF writes, checked against the
    /// server's `GET` of each value (the independent reference), with each `DUMP` read as a
    /// copy reads it.
    @Test func lzfDecompressionGivesWhatTheServerHolds() throws {
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func next() -> UInt64 { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state }
        var values: [[UInt8]] = []
        for period in [1, 2, 3, 4, 5, 7, 8, 16, 31, 32, 33, 100, 255, 256, 257, 300, 1000, 8191, 8192, 9000] {
            let pattern = (0..<period).map { _ in UInt8(truncatingIfNeeded: next()) }
            for length in [period * 3 + 1, 264, 265, 4096, 70_000] where length > 20 {
                values.append((0..<length).map { pattern[$0 % period] })
            }
        }
        // Noise with repeats at every distance LZF reaches, and runs between them.
        for _ in 0..<40 {
            var v: [UInt8] = []
            while v.count < 5000 {
                switch next() % 4 {
                case 0: v += (0..<Int(next() % 40)).map { _ in UInt8(truncatingIfNeeded: next()) }
                case 1: v += Array(repeating: UInt8(truncatingIfNeeded: next()), count: Int(next() % 300) + 3)
                default:
                    guard v.count > 3 else { continue }
                    let from = Int(next() % UInt64(v.count)), run = min(Int(next() % 280) + 3, v.count - from)
                    v += v[from..<(from + run)]
                }
            }
            values.append(v)
        }
        let keys = values.enumerated().map { (Array("lzf:\($0.offset)".utf8), $0.element) }
        let connection = try fillReadbackKeys(keys)
        defer { _ = try? connection.command([Array("DEL".utf8)] + keys.map(\.0) + [Array("rb:hash".utf8), Array("rb:list".utf8)]) }
        var compressed = 0
        var scratch: [UInt8] = []
        for (key, value) in keys {
            let payload = try #require(try connection.command([Array("DUMP".utf8), key]).bytes)
            #expect(try connection.command([Array("GET".utf8), key]).bytes == value)
            #expect(payload.first == 0 && payload.count > 11)
            let encoded = Array(payload[1..<(payload.count - 10)])
            if encoded.first.map({ $0 >> 6 == 3 && $0 & 0x3F == 3 }) == true { compressed += 1 }
            var read: [UInt8]?
            let whole = encoded.withUnsafeBytes { PayloadDigest.withString($0, scratch: &scratch) { read = Array($0) } }
            #expect(whole && read == value, "\(String(decoding: key, as: UTF8.self)): \(value.count) bytes")
        }
        #expect(compressed > values.count / 2, "most values are LZF in their DUMP: \(compressed) of \(values.count)")
    }

    @Test func lzfDecompressionRefusesMalformedInput() {
        var out: [UInt8] = []
        // A literal run of 3 bytes, then a back reference of 3 bytes at distance 3: "abcabc".
        let good: [UInt8] = [2, 97, 98, 99, 32, 2]
        #expect(good.withUnsafeBytes { LZF.decompress($0, size: 6, into: &out) })
        #expect(out == Array("abcabc".utf8))
        #expect(!good.withUnsafeBytes { LZF.decompress($0, size: 7, into: &out) })
        #expect(!good.withUnsafeBytes { LZF.decompress($0, size: 5, into: &out) })
        let backBeforeStart: [UInt8] = [0, 97, 32, 5]
        #expect(!backBeforeStart.withUnsafeBytes { LZF.decompress($0, size: 4, into: &out) })
        let cut: [UInt8] = [5, 97, 98]
        #expect(!cut.withUnsafeBytes { LZF.decompress($0, size: 6, into: &out) })
        // The RDB reader's form (one decompressor for both): a run of 264 bytes from 3, the
        // most LZF makes of them; a size past what the input can make is refused at once (a
        // hostile file's 4 GB claim from a few bytes), and so is a run past the size.
        let longest: [UInt8] = [0, 120, 0xE0, 255, 0]
        #expect(LZF.decompress(longest, size: 265) == Array(repeating: 120, count: 265))
        #expect(LZF.decompress([0, 120], size: 4_000_000_000) == nil)
        #expect(LZF.decompress(longest, size: 100) == nil)
    }
}

extension RedisEngineTests {
    /// Fresh tester round 38b, M2: a count verify that failed over keys expiring during the copy
    /// said only "holds N keys, its source 0 M". The hint names the source's keys with a TTL
    /// (`INFO keyspace` `expires=`); a source database without any gives none.
    @Test func aCountMismatchNamesTheSourcesKeysWithATTL() throws {
        let url = try RedisTestServers.variable("FERRY_TEST_REDIS_A")
        let session = try #require(try RedisEngine().connect(ConnectionTarget(instance: InstanceSpec(name: "redis-a", engine: .redis, url: url), password: nil)) as? RedisSession)
        defer { session.close() }
        let connection = try RedisConnection(host: "127.0.0.1", port: Int(try RedisTestServers.port("A"))!)
        var chosen: Int?
        for db in [13, 14, 15] {
            try connection.command("SELECT", String(db))
            if try connection.command("DBSIZE").integer == 0 { chosen = db; break }
        }
        let db = try #require(chosen, "an empty database among 13-15 on server A")
        defer { _ = try? connection.command("FLUSHDB") }
        try connection.command("SET", "ttl:plain", "v")
        #expect(try session.expiringKeysHint(String(db)) == nil, "no key with a TTL: no hint")
        for i in 0..<3 { try connection.command("SET", "ttl:\(i)", "v", "PX", "600000") }
        let hint = try #require(try session.expiringKeysHint(String(db)))
        #expect(hint.contains("holds 3 keys with a TTL") && hint.contains("expire during the copy"), "\(hint)")
    }
}
