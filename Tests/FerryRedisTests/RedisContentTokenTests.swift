import FerryCore
import FerryIO
import Foundation
import Testing
@testable import FerryRedis

/// The Redis content token (issue 14, writes during a run): equal for a verified shadow and the
/// target it became, different after any write; the swap refuses a shadow an application wrote
/// into (F17), the swap back refuses a target whose counts changed since the swap, and the drop's
/// idle check leaves shared values out (F20).
extension RedisEngineTests {
    @Test func theTokenOfTheVerifiedShadowIsTheTargetsAfterTheSwapAndAnyWriteChangesIt() throws {
        let (a, b, swapped) = try swapInACopy(run: "run-token", old: ["old-key": "old"])
        defer { a.close(); b.close() }
        // swapInACopy verified before the swap; read the target now, then compare with a fresh
        // shadow's verify token of the same copy.
        let target = try #require(try b.contentToken(of: "4"))
        try a.select(3)
        try a.run("HSET", "h", "f1", "v1", "f2", "v2")
        try a.run("SET", "n", "7")
        try a.run("SET", "t", "x", "PX", "3600000")
        let shadow = try b.makeShadow(for: "5", runID: "run-token2")
        _ = try b.copyData(from: a, database: "3", into: shadow, progress: ProgressCounter())
        let report = try b.verify(shadow: shadow, against: a, database: "3", level: .count, receipt: nil)
        let verified = try #require(report.contentToken)
        #expect(verified == (try b.contentToken(of: shadow)), "the verify returns the shadow's token")
        let swapped2 = try b.swap(SwapRecord(database: "5", shadow: shadow, checkpoint: nil, targetExisted: false))
        #expect(try b.contentToken(of: "5") == verified, "name-independent: the marker is left out, SWAPDB moves the same objects")
        #expect(target != verified)
        // Reads and a no-op write change nothing.
        try b.select(5)
        _ = try b.run("GET", "new-key")
        _ = try b.run("HGETALL", "h")
        _ = try b.run("SADD", "unused-set-probe-none", "x")
        _ = try b.run("DEL", "unused-set-probe-none")
        #expect(try b.contentToken(of: "5") == verified)
        var seen: Set<String> = [verified]
        for write in [["SET", "new-key", "other"], ["HSET", "h", "f1", "changed"], ["DEL", "n"], ["SET", "app", "1"],
                      ["PEXPIREAT", "t", "4102444800000"], ["PERSIST", "t"], ["EXPIRE", "h", "600"], ["RENAME", "app", "app2"]] {
            try b.select(5)
            _ = try b.connection.command(write.map { Array($0.utf8) })
            let now = try #require(try b.contentToken(of: "5"))
            #expect(!seen.contains(now), "\(write) changes the token")
            seen.insert(now)
        }
        try b.drop(swapped.checkpoint!)
        _ = swapped2
    }

    @Test func theSwapRefusesAShadowHoldingKeysFerryDidNotWrite() throws {
        let a = try RedisTestServers.session("A")
        let b = try RedisTestServers.session("B")
        defer { a.close(); b.close() }
        for db in 0..<16 { try b.flushTestDatabase(String(db)) }
        try a.flushTestDatabase("3")
        try a.select(3)
        try a.run("SET", "new-key", "new-value")
        try b.select(4)
        try b.run("SET", "old-key", "old")
        let shadow = try b.makeShadow(for: "4", runID: "run-f17")
        _ = try b.copyData(from: a, database: "3", into: shadow, progress: ProgressCounter())
        let n = try #require(RedisOwnership.parse(shadow)).database
        try b.select(n)
        try b.run("SET", "app:inshadow", "1")
        #expect { try b.verify(shadow: shadow, against: a, database: "3", level: .count, receipt: nil) } throws: {
            ($0 as? FerryError)?.code == .verifyFailed && "\($0)".contains("did not write")
        }
        let record = SwapRecord(database: "4", shadow: shadow, checkpoint: shadow, targetExisted: true)
        #expect { try b.swap(record) } throws: { "\($0)".contains("did not write") }
        #expect(try allKeys(of: b, database: 4) == ["old-key": "old"], "nothing was swapped")
        #expect(try allKeys(of: b, database: n)["app:inshadow"] == "1")
        #expect(throws: FerryError.self) { try b.drop(shadow) }
        #expect(try allKeys(of: b, database: n)["app:inshadow"] == "1", "the drop leaves it")
    }

    @Test func theSwapBackRefusesATargetWhoseCountsChangedAndTheCheckpointIsNeverFlushed() throws {
        let (a, b, done) = try swapInACopy(run: "run-undo", old: ["old-key": "old"])
        defer { a.close(); b.close() }
        // As a run's own rollback calls it: expecting the target as the swap left it.
        var swapped = done
        swapped.afterSwapToken = "token-after-the-swap"
        swapped.expectedTargetToken = swapped.afterSwapToken
        try b.select(4)
        try b.run("SET", "app:late", "1")
        #expect { try b.undoSwap(swapped) } throws: { ($0 as? FerryError)?.code == .wrongStatus }
        #expect(try allKeys(of: b, database: 4)["app:late"] == "1")
        let n = try #require(RedisOwnership.parse(swapped.checkpoint!)).database
        #expect(throws: FerryError.self) { try b.drop(swapped.checkpoint!) }
        #expect(try allKeys(of: b, database: n)["old-key"] == "old", "the checkpoint marked kept is not flushed")
        // A `ferry rollback RUN --force` expects nothing: counts changed by later traffic do
        // not block it (they marked nothing kept either).
        let (a3, b3, swapped3) = try swapInACopy(run: "run-undo3", old: ["old-key": "old"])
        defer { a3.close(); b3.close() }
        try b3.select(4)
        try b3.run("SET", "app:later", "1")
        try b3.undoSwap(swapped3)
        #expect(try allKeys(of: b3, database: 4) == ["old-key": "old"])
        // An unchanged target swaps back as before.
        let (a2, b2, swapped2) = try swapInACopy(run: "run-undo2", old: ["old-key": "old"])
        defer { a2.close(); b2.close() }
        try b2.undoSwap(swapped2)
        #expect(try allKeys(of: b2, database: 4) == ["old-key": "old"])
        try b2.drop(swapped2.shadow)
    }

    /// F20: a checkpoint key holding a shared small integer is not taken for used when another
    /// key holding the same integer is read after the swap (here: in the new target).
    @Test func aReadOfASharedIntegerElsewhereDoesNotBlockTheCheckpointDrop() throws {
        let (a, b, swapped) = try swapInACopy(run: "run-shared", old: ["old-key": "old", "counter": "1"])
        defer { a.close(); b.close() }
        try b.select(4)
        try b.run("SET", "also-one", "1")
        Thread.sleep(forTimeInterval: 4.2)
        try b.select(4)
        _ = try b.run("DUMP", "also-one")
        try b.drop(swapped.checkpoint!)
        let n = try #require(RedisOwnership.parse(swapped.checkpoint!)).database
        #expect(try allKeys(of: b, database: n).isEmpty)
    }

    /// The token's cost on a database of realistic size (FERRY_BENCH_TOKEN_KEYS keys of ~100
    /// bytes, and a few big collections); prints seconds and keys per second. Off unless set.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["FERRY_BENCH_TOKEN_KEYS"] != nil))
    func benchContentToken() throws {
        let keys = Int(ProcessInfo.processInfo.environment["FERRY_BENCH_TOKEN_KEYS"] ?? "") ?? 1_000_000
        let b = try RedisTestServers.session("B")
        defer { b.close() }
        try b.flushTestDatabase("9")
        try b.select(9)
        var done = 0
        while done < keys {
            let n = min(100_000, keys - done)
            try b.run("EVAL", "for i=\(done + 1),\(done + n) do redis.call('SET','key:'..i,string.rep('v',100)) end", "0")
            done += n
        }
        try b.run("EVAL", "for i=1,100000 do redis.call('HSET','bighash','f'..i,i) end for i=1,100000 do redis.call('SADD','bigset','m'..i) end", "0")
        let size = try b.run("DBSIZE").integer ?? 0
        let started = Date()
        let token = try #require(try b.contentToken(of: "9"))
        let seconds = Date().timeIntervalSince(started)
        let startedDigest = Date()
        try b.select(9)
        _ = try PayloadDigest.of(b.connection, excluding: [])
        let digestSeconds = Date().timeIntervalSince(startedDigest)
        // What a run pays besides: the copy of that database into a shadow, and the verify at
        // `count`, which now also reads the shadow's token.
        let source = try RedisTestServers.session("B")
        defer { source.close() }
        let shadow = try b.makeShadow(for: "8", runID: "run-bench")
        let copyStarted = Date()
        _ = try b.copyData(from: source, database: "9", into: shadow, progress: ProgressCounter())
        let copySeconds = Date().timeIntervalSince(copyStarted)
        let verifyStarted = Date()
        let report = try b.verify(shadow: shadow, against: source, database: "9", level: .count, receipt: nil)
        let verifySeconds = Date().timeIntervalSince(verifyStarted)
        #expect(report.contentToken == token)
        print("content token of \(size) keys: \(String(format: "%.2f", seconds)) s (\(Int(Double(size) / seconds)) keys/s); the verify's payload digest: \(String(format: "%.2f", digestSeconds)) s; a copy of it: \(String(format: "%.2f", copySeconds)) s, its verify at count with the token: \(String(format: "%.2f", verifySeconds)) s")
        try b.drop(shadow)
        try b.flushTestDatabase("9")
    }
}

/// Issue 21: the verify step's content token of a shadow comes from the load's own read-back
/// (`RedisReadback` with a token): no second read of the shadow, and the very token a full read
/// gives, for copies at both levels and for imports from a file and from another server. When
/// the server was written since the load, or a key was written twice (a later part of an import
/// over an earlier one), the verify step reads the shadow instead, and the token is the same.
extension RedisEngineTests {
    /// Keys of every type and encoding, without a TTL, with a relative and with an absolute one.
    func fillTokenKeys(_ a: RedisSession) throws {
        for (n, value) in Self.readbackStrings.enumerated() { try a.connection.command([Array("SET".utf8), Array("s\(n)".utf8), value]) }
        try a.run("PEXPIRE", "s3", "600000")
        try a.run("PEXPIREAT", "s22", "4102444800123")
        try a.run("HSET", "h-small", "f1", "v1", "f2", "12")
        for n in 0..<300 { try a.run("HSET", "h-big", "field-\(n)", String(repeating: "v", count: n % 40)) }
        try a.run("SADD", "set-int", "1", "2", "3", "40000")
        for n in 0..<300 { try a.run("SADD", "set-big", "member-\(n)") }
        try a.run("ZADD", "z", "1.5", "a", "2", "b", "-3", "c")
        try a.run("RPUSH", "l", "a", "1", "c")
        try a.run("PEXPIRE", "h-big", "900000")
        try a.run("PEXPIREAT", "l", "4102444800777")
    }

    @Test func aLoadsReadBackGivesTheVerifyStepTheShadowsTokenWithoutASecondRead() throws {
        let a = try RedisTestServers.session("A")
        let b = try RedisTestServers.session("B")
        defer { a.close(); b.close() }
        for db in 0..<16 { try b.flushTestDatabase(String(db)) }
        try a.flushTestDatabase("3")
        try a.select(3)
        try fillTokenKeys(a)
        let keys = try a.userKeyCount(3, run: "none")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-token-\(UUID().uuidString).rdb")
        defer { try? FileManager.default.removeItem(at: file) }
        _ = try a.writeBackup(of: "3", to: file, progress: ProgressCounter())
        let fromA = "redis://127.0.0.1:\(try RedisTestServers.port("A"))/3"
        enum Load: Equatable { case copy(VerifyLevel), file, server, twice, writtenSince }
        for load in [Load.copy(.count), .copy(.checksum), .file, .server, .twice, .writtenSince] {
            let shadow = try b.makeShadow(for: "4", runID: "run-rbtoken-\(UUID().uuidString.prefix(6))")
            defer { try? b.drop(shadow) }
            let built: BuildResult
            var level = VerifyLevel.count
            switch load {
            case .copy(let verifying):
                level = verifying
                built = try b.copyData(from: a, database: "3", into: shadow, verifying: verifying, progress: ProgressCounter())
            case .file, .writtenSince:
                built = try b.importData(into: shadow, from: [.file(file.path)], format: .rdb, progress: ProgressCounter())
            case .server:
                built = try b.importData(into: shadow, from: [.url(fromA)], format: .rdb, progress: ProgressCounter())
            case .twice:
                built = try b.importData(into: shadow, from: [.file(file.path), .file(file.path)], format: .rdb, progress: ProgressCounter())
            }
            if case .writtenSince = load {
                try b.select(9)
                try b.run("SET", "written-elsewhere-since-the-load", "1")
            }
            let before = try commandCalls(b, "dump")
            let isCopy = if case .copy = load { true } else { false }
            let report = try b.verify(shadow: shadow, against: isCopy ? a : nil, database: isCopy ? "3" : nil,
                                      level: level, receipt: built.receipt)
            let read = try commandCalls(b, "dump") - before
            let token = try #require(report.contentToken)
            #expect(token == (try b.contentToken(of: shadow)), "\(load): the token is the shadow's")
            #expect(token.hasPrefix("redis1:\(keys):"), "\(load): \(token)")
            switch load {
            case .twice, .writtenSince: #expect(read >= keys, "\(load): the verify step read the shadow (\(read) DUMPs)")
            default: #expect(read == 0, "\(load): no second read of the shadow (\(read) DUMPs)")
            }
            if case .writtenSince = load { try b.select(9); try b.run("DEL", "written-elsewhere-since-the-load") }
        }
    }
}
