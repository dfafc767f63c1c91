import FerryCore
import FerryIO
import Foundation
import Testing
@testable import FerryRedis

/// A shadow is flushed only when it holds nothing but what Ferry wrote into it: every batch a
/// copy, a clone or an import writes counts itself into the marker in the same transaction, and
/// a shadow holding more keys (or more keys without a TTL) than counted is left as it is.
/// Part of the serialized engine suite: the servers' numbered databases are shared.
extension RedisEngineTests {
    /// Database 3 on A holds `count` keys (`ttlMs` > 0: every other key expires after that long).
    func fillSource(_ a: RedisSession, count: Int, ttlMs: Int = 0) throws {
        try a.flushTestDatabase("3")
        try a.select(3)
        var i = 0
        while i < count {
            for j in i..<min(count, i + 500) {
                if ttlMs > 0 && j % 2 == 0 {
                    a.connection.send("SET", "k:\(j)", "v\(j)", "PX", String(ttlMs))
                } else {
                    a.connection.send("SET", "k:\(j)", "v\(j)")
                }
            }
            try a.connection.drain()
            i += 500
        }
    }

    /// A shadow of database 4 on B, built by a copy of A's database 3.
    func copiedShadow(_ a: RedisSession, _ b: RedisSession, run: String) throws -> (name: String, db: Int) {
        for db in 0..<16 { try b.flushTestDatabase(String(db)) }
        let shadow = try b.makeShadow(for: "4", runID: run)
        _ = try b.copyData(from: a, database: "3", into: shadow, progress: ProgressCounter())
        return (shadow, try b.owned(shadow).database)
    }

    @Test func anApplicationKeyInAShadowIsNeverFlushed() throws {
        let a = try RedisTestServers.session("A")
        let b = try RedisTestServers.session("B")
        defer { for db in 0..<16 { try? b.flushTestDatabase(String(db)) }; a.close(); b.close() }
        try fillSource(a, count: 5000)
        // Without a TTL, with one, a hash, and one written before the copy started.
        let writes: [[String]] = [["SET", "app:session:1", "important"], ["SET", "app:session:2", "x", "EX", "3600"],
                                  ["HSET", "app:h", "f", "v"]]
        for (i, write) in writes.enumerated() {
            let run = "run-app-\(i)"
            let (shadow, db) = try copiedShadow(a, b, run: run)
            try b.select(db)
            try b.connection.command(write.map { Array($0.utf8) })
            #expect { try b.drop(shadow) } throws: {
                ($0 as? FerryError)?.code == .copyError && "\($0)".contains("did not write")
            }
            // The sweep by marker (round 36, F5) removes only a marker alone: this one it names.
            #expect { try b.removeLeftovers(ofRun: run, database: "4") } throws: { "\($0)".contains("only while the marker is all it holds") }
            let left = try allKeys(of: b, database: db)
            #expect(left.count == 5002 && left[write[1]] != nil, "the application's key and the copy stay")
        }
    }

    @Test func leftoversWithAnApplicationKeyAreReportedAndKept() throws {
        let a = try RedisTestServers.session("A")
        let b = try RedisTestServers.session("B")
        defer { for db in 0..<16 { try? b.flushTestDatabase(String(db)) }; a.close(); b.close() }
        try fillSource(a, count: 3000)
        let (_, db) = try copiedShadow(a, b, run: "run-left")
        try b.select(db)
        try b.run("SET", "app:session:1", "important")
        #expect { try b.removeLeftovers(ofRun: "run-left", database: "4") } throws: {
            ($0 as? FerryError)?.code == .wrongStatus && "\($0)".contains("only while the marker is all it holds")
        }
        #expect(try allKeys(of: b, database: db)["app:session:1"] == "important")
        #expect(try b.userKeyCount(db, run: "run-left") == 3001)
    }

    @Test func anApplicationKeyInAnEmptyShadowIsNeverFlushed() throws {
        let b = try RedisTestServers.session("B")
        defer { for db in 0..<16 { try? b.flushTestDatabase(String(db)) }; b.close() }
        for db in 0..<16 { try b.flushTestDatabase(String(db)) }
        let shadow = try b.makeShadow(for: "4", runID: "run-empty")
        let db = try b.owned(shadow).database
        try b.select(db)
        try b.run("SET", "app:session:1", "important")
        #expect { try b.drop(shadow) } throws: { "\($0)".contains("did not write") }
        #expect { try b.removeLeftovers(ofRun: "run-empty", database: "4") } throws: { "\($0)".contains("only while the marker is all it holds") }
        #expect(try allKeys(of: b, database: db)["app:session:1"] == "important")
        try b.flushTestDatabase(String(db))
    }

    @Test func aShadowHoldingOnlyFerrysKeysIsFlushedAsBefore() throws {
        let a = try RedisTestServers.session("A")
        let b = try RedisTestServers.session("B")
        defer { for db in 0..<16 { try? b.flushTestDatabase(String(db)) }; a.close(); b.close() }
        try fillSource(a, count: 5000)
        let (shadow, db) = try copiedShadow(a, b, run: "run-clean")
        try b.select(db)
        let counts = try b.run("HMGET", RedisOwnership.shadowMarker(run: "run-clean"), "wrote", "wrotepersistent").elements.map(\.string)
        #expect(counts == ["5000", "5000"])
        // (A key Ferry wrote, changed by someone within the idle check's slack of Ferry's last
        // write, is told by its value since round 37: `aShadowWhoseKeysAreNotTheOnesFerryWroteIsKept`.)
        try b.drop(shadow)
        #expect(try allKeys(of: b, database: db).isEmpty)
        // The leftovers sweep by marker does not take a shadow holding keys (round 36, F5): it
        // names it; the run's journaled name drops it.
        let (shadow2, db2) = try copiedShadow(a, b, run: "run-clean-2")
        #expect { try b.removeLeftovers(ofRun: "run-clean-2", database: "4") } throws: { "\($0)".contains("only while the marker is all it holds") }
        #expect(try allKeys(of: b, database: db2).count == 5001, "the shadow and its marker stay")
        try b.drop(shadow2)
        #expect(try allKeys(of: b, database: db2).isEmpty)
    }

    /// Fresh tester round 35, F9: an application deleted one of Ferry's keys in an interrupted
    /// run's shadow and wrote its own without a TTL: the counts were unchanged, and `ferry
    /// recover` flushed the application's key. The keys without a TTL must be the ones Ferry
    /// wrote (`persistentsum`): a key of Ferry's gone with another in its place (DEL and SET,
    /// RENAME, one gone alone) leaves the shadow as it is, named; keys with a TTL that went do
    /// not. A value changed in place at once is told by the value sum (round 37, F2).
    @Test(arguments: ["del+set", "rename", "del", "del-ttl", "set-value"])
    func aShadowWhoseKeysAreNotTheOnesFerryWroteIsKept(_ change: String) throws {
        let a = try RedisTestServers.session("A")
        let b = try RedisTestServers.session("B")
        defer { for db in 0..<16 { try? b.flushTestDatabase(String(db)) }; a.close(); b.close() }
        try fillSource(a, count: 3000, ttlMs: change == "del-ttl" ? 600_000 : 0)
        let run = "run-sum-\(change)"
        let (shadow, db) = try copiedShadow(a, b, run: run)
        try b.select(db)
        switch change {
        case "del+set": try b.run("DEL", "k:1"); try b.run("SET", "app:mine", "precious")
        case "rename": try b.run("RENAME", "k:1", "app:mine")
        case "del": try b.run("DEL", "k:1")
        case "del-ttl": try b.run("DEL", "k:0")  // k:0 has a TTL in this fill
        default: try b.run("SET", "k:1", "changed")
        }
        if change == "set-value" {
            // A value rewritten in place at once (within the idle check's slack): its value is
            // not the one read back (fresh tester round 37, F2).
            #expect { try b.drop(shadow) } throws: { "\($0)".contains("not the one Ferry wrote and read back") }
            #expect(try allKeys(of: b, database: db).count == 3001, "the shadow (and its marker) stays as it is")
        } else if ["del+set", "rename", "del"].contains(change) {
            #expect { try b.drop(shadow) } throws: { "\($0)".contains("not the ones Ferry wrote") }
            #expect { try b.removeLeftovers(ofRun: run, database: "4") } throws: { "\($0)".contains("only while the marker is all it holds") }
            let left = try allKeys(of: b, database: db)
            #expect(left.count == (change == "del" ? 3000 : 3001), "the shadow (and its marker) stays as it is")
            if change != "del" { #expect(left["app:mine"] != nil, "the application's key stays") }
        } else {
            try b.drop(shadow)
            #expect(try allKeys(of: b, database: db).isEmpty)
        }
    }

    /// Fresh tester round 36, F1: after a kill, an application replaced the value of one of
    /// Ferry's keys in the run's shadow (same name, no TTL): counts and the sum of names held,
    /// and `ferry recover` flushed the application's value. Each batch (and the verify step,
    /// whose reads count as accesses before Redis 7.2) stamps the marker with the server's time
    /// (`touched`); a key younger than that by more than the LRU clock's slack was written or
    /// read by someone else, and the shadow stays, named. Without a change the shadow goes,
    /// after Ferry's own verify reads as well.
    @Test(arguments: ["set", "append", "hset", "lpush", "none", "verified"])
    func aValueRewrittenInPlaceKeepsTheShadow(_ change: String) throws {
        let a = try RedisTestServers.session("A")
        let b = try RedisTestServers.session("B")
        defer { for db in 0..<16 { try? b.flushTestDatabase(String(db)) }; a.close(); b.close() }
        try fillSource(a, count: 2000)
        try a.select(3)
        try a.run("HSET", "h:1", "f", "v", "g", "w")
        try a.run("RPUSH", "l:1", "x", "y")
        let run = "run-inplace-\(change)"
        let (shadow, db) = try copiedShadow(a, b, run: run)
        if change == "verified" {
            // Ferry's own reads, well after its last write: they must not count as someone's.
            Thread.sleep(forTimeInterval: 3.6)
            _ = try b.verify(shadow: shadow, against: a, database: "3", level: .checksum, receipt: nil)
        }
        // Past the idle check's slack (the LRU clock counts whole seconds).
        Thread.sleep(forTimeInterval: 3.6)
        try b.select(db)
        switch change {
        case "set": try b.run("SET", "k:5", "the application's value")
        case "append": try b.run("APPEND", "k:6", "-and-the-application's")
        case "hset": try b.run("HSET", "h:1", "f", "the application's")
        case "lpush": try b.run("LPUSH", "l:1", "the application's")
        default: break
        }
        if change == "none" || change == "verified" {
            try b.drop(shadow)
            #expect(try allKeys(of: b, database: db).isEmpty)
            return
        }
        #expect { try b.drop(shadow) } throws: {
            ($0 as? FerryError)?.code == .copyError && "\($0)".contains("written or read after Ferry last wrote or read it")
        }
        #expect { try b.removeLeftovers(ofRun: run, database: "4") } throws: { "\($0)".contains("only while the marker is all it holds") }
        try b.select(db)
        #expect(try b.connection.command("DBSIZE").integer == 2003, "the shadow stays whole, the application's value in it")
        if change == "set" { #expect(try b.run("GET", "k:5").string == "the application's value") }
    }

    /// Fresh tester round 35, F16: a user database holding a copy of an interrupted run's shadow
    /// marker (all its fields) beside the user's own keys was taken by the leftover search for
    /// the run's and flushed: the counts allowed it. Its keys are not the ones Ferry wrote
    /// (`persistentsum`): it is left as it is, and so are the user's keys.
    @Test func aUserDatabaseWithACopyOfTheMarkerIsNotALeftover() throws {
        let a = try RedisTestServers.session("A")
        let b = try RedisTestServers.session("B")
        defer { for db in 0..<16 { try? b.flushTestDatabase(String(db)) }; a.close(); b.close() }
        try fillSource(a, count: 2000)
        let run = "run-marker-copy"
        let (shadow, db) = try copiedShadow(a, b, run: run)
        try b.select(db)
        let marker = RedisOwnership.shadowMarker(run: run)
        let fields = try b.run("HGETALL", marker).elements.compactMap(\.string)
        #expect(fields.contains("persistentsum"))
        let other = db == 5 ? 6 : 5
        try b.select(other)
        try b.run("SET", "other", "the user's")
        try b.run(arguments: ["HSET", marker] + fields)
        // The run's own shadow goes; the user's database with the marker's copy stays.
        try b.drop(shadow)
        #expect { try b.removeLeftovers(ofRun: run, database: "4") } throws: { "\($0)".contains("only while the marker is all it holds") && "\($0)".contains("database \(other) ") }
        #expect(try allKeys(of: b, database: other)["other"] != nil, "the user's key stays")
    }

    /// Fresh tester round 36, F5: a run that wrote only keys with a TTL (a session cache) keeps
    /// `wrotepersistent 0`, so a user's database of TTL keys holding a copy of its marker passed
    /// every count and sum, and `ferry recover` flushed it. A database found by the marker alone
    /// is removed only while the marker is all it holds; one left by a kill right after
    /// `makeShadow` (the marker alone) still goes.
    @Test func aUserDatabaseOfTTLKeysWithACopyOfTheMarkerIsLeftNamed() throws {
        let b = try RedisTestServers.session("B")
        defer { for db in 0..<16 { try? b.flushTestDatabase(String(db)) }; b.close() }
        for db in 0..<16 { try b.flushTestDatabase(String(db)) }
        let run = "run-ttl-marker-copy"
        let shadow = try b.makeShadow(for: "4", runID: run)
        let db = try b.owned(shadow).database
        let marker = RedisOwnership.shadowMarker(run: run)
        try b.select(db)
        try b.run("HSET", marker, "wrote", "16000", "wrotepersistent", "0", "persistentsum", "0")
        let fields = try b.run("HGETALL", marker).elements.compactMap(\.string)
        let other = db == 8 ? 9 : 8
        try b.select(other)
        for i in 1...40 { try b.run("SET", "appsess:\(i)", "data\(i)", "EX", "86400") }
        try b.run(arguments: ["HSET", marker] + fields)
        // The run's shadow (journaled by name) goes by its name; the user's database stays, named.
        try b.drop(shadow)
        #expect { try b.removeLeftovers(ofRun: run, database: "4") } throws: { "\($0)".contains("database \(other) ") }
        try b.select(other)
        #expect(try b.connection.command("DBSIZE").integer == 41, "the user's sessions stay")
        // A marker alone (a kill between makeShadow and its journal record) is removed.
        try b.flushTestDatabase(String(other))
        let lone = try b.makeShadow(for: "4", runID: run)
        #expect(try b.removeLeftovers(ofRun: run, database: "4") == [lone])
        try b.select(try b.owned(lone).database)
        #expect(try b.connection.command("DBSIZE").integer == 0)
    }

    /// A key the server refused in a batch (a payload whose checksum is wrong, refused when
    /// `EXEC` runs it) was counted in `persistentsum` but not written: `uncount` takes it out,
    /// so the rollback still flushes the shadow.
    @Test func aRefusedKeyIsTakenOutOfTheSum() throws {
        let b = try RedisTestServers.session("B")
        defer { for db in 0..<16 { try? b.flushTestDatabase(String(db)) }; b.close() }
        for db in 0..<16 { try b.flushTestDatabase(String(db)) }
        try b.select(6)
        try b.run("SET", "probe:s", "x")
        try b.run("HSET", "probe:h", "f", "v")
        let string = try #require(try b.connection.command("DUMP", "probe:s").bytes)
        var broken = try #require(try b.connection.command("DUMP", "probe:h").bytes)
        broken[broken.count - 1] ^= 0xFF
        try b.flushTestDatabase("6")
        let run = "run-refused-key"
        let shadow = try b.makeShadow(for: "4", runID: run)
        let db = try b.owned(shadow).database
        try b.select(db)
        let c = b.connection
        var ledger = RedisShadowLedger(marker: RedisOwnership.shadowMarker(run: run))
        for (key, payload) in [("a", string), ("bad", broken), ("c", string)] {
            ledger.willRestore(on: c, key: Array(key.utf8), persistent: true)
            ledger.sent(deferred: c.sendWrite(key: Array(key.utf8), ttl: 0, payload: payload, absolute: false, grouping: false))
        }
        let sent = ledger.close(on: c)
        try c.flush()
        let (results, executed) = try RedisShadowLedger.outcome(of: sent, on: c, errorCode: .importError)
        #expect(executed && results.contains { if case .error = $0 { true } else { false } }, "\(results)")
        RedisShadowLedger.uncount(results, of: sent, executed: executed, on: c)
        try b.drop(shadow)
        #expect(try allKeys(of: b, database: db).isEmpty)
    }

    @Test func expiredKeysOfTheCopyDoNotBlockTheFlush() throws {
        let a = try RedisTestServers.session("A")
        let b = try RedisTestServers.session("B")
        defer { for db in 0..<16 { try? b.flushTestDatabase(String(db)) }; a.close(); b.close() }
        try fillSource(a, count: 4000, ttlMs: 1500)
        let (shadow, db) = try copiedShadow(a, b, run: "run-ttl")
        try b.select(db)
        let counts = try b.run("HMGET", RedisOwnership.shadowMarker(run: "run-ttl"), "wrote", "wrotepersistent").elements.map(\.string)
        #expect(counts == ["4000", "2000"])
        Thread.sleep(forTimeInterval: 2)
        // Touch a few so some are reclaimed, some are still counted until reclaimed.
        _ = try b.run("GET", "k:0")
        try b.drop(shadow)
        #expect(try allKeys(of: b, database: db).isEmpty)
        // But a persistent application key among expired ones is seen: more keys without a TTL.
        let (shadow2, db2) = try copiedShadow(a, b, run: "run-ttl-2")
        Thread.sleep(forTimeInterval: 2)
        try b.select(db2)
        try b.run("SET", "app:session:1", "important")
        #expect { try b.drop(shadow2) } throws: { "\($0)".contains("did not write") }
        #expect(try allKeys(of: b, database: db2)["app:session:1"] == "important")
        try b.flushTestDatabase(String(db2))
    }

    @Test func importsAndClonesCountWhatTheyWrite() throws {
        let a = try RedisTestServers.session("A")
        let b = try RedisTestServers.session("B")
        defer { for db in 0..<16 { try? b.flushTestDatabase(String(db)) }; a.close(); b.close() }
        try fillSource(a, count: 2500)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-ledger-\(UUID().uuidString).rdb")
        defer { try? FileManager.default.removeItem(at: file) }
        _ = try a.writeBackup(of: "3", to: file, progress: ProgressCounter())
        for (i, withAppKey) in [false, true].enumerated() {
            for db in 0..<16 { try b.flushTestDatabase(String(db)) }
            try b.select(4)
            try b.run("SET", "existing", "1")
            let run = "run-import-\(i)"
            let shadow = try b.makeShadow(for: "4", runID: run)
            let db = try b.owned(shadow).database
            // An append import: the clone of the target, then the file, then a redis:// source.
            try b.cloneDatabase("4", into: shadow, progress: ProgressCounter())
            _ = try b.importData(into: shadow, from: [.file(file.path)], format: .rdb, progress: ProgressCounter())
            try b.select(db)
            let counts = try b.run("HMGET", RedisOwnership.shadowMarker(run: run), "wrote", "wrotepersistent").elements.map(\.string)
            #expect(counts == ["2501", "2501"])
            if withAppKey {
                try b.run("SET", "app:session:1", "important")
                #expect { try b.drop(shadow) } throws: { "\($0)".contains("did not write") }
                #expect(try allKeys(of: b, database: db)["app:session:1"] == "important")
                try b.flushTestDatabase(String(db))
            } else {
                try b.drop(shadow)
                #expect(try allKeys(of: b, database: db).isEmpty)
            }
        }
    }

    @Test func aShadowPutBackByASwapBackIsFlushedOnlyWithoutAddedKeys() throws {
        for addsKey in [false, true] {
            let run = "run-undo-\(addsKey)"
            let (a, b, swapped) = try swapInACopy(run: run, old: ["old-key": "old"])
            defer { for db in 0..<16 { try? b.flushTestDatabase(String(db)) }; a.close(); b.close() }
            try b.undoSwap(swapped)
            let db = try b.owned(swapped.shadow).database
            if addsKey {
                try b.select(db)
                try b.run("SET", "app:session:1", "important")
                #expect { try b.drop(swapped.shadow) } throws: { "\($0)".contains("did not write") }
                #expect(try allKeys(of: b, database: db)["app:session:1"] == "important")
            } else {
                try b.drop(swapped.shadow)
                #expect(try allKeys(of: b, database: db).isEmpty)
            }
            #expect(try allKeys(of: b, database: 4) == ["old-key": "old"])
        }
    }
}
