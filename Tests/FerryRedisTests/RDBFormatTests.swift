import FerryCore
import FerryIO
import Foundation
import Testing
@testable import FerryRedis

/// Builds RDB files byte by byte, for records no test server writes on demand (module AUX data,
/// functions of Redis 7.0 release candidates, empty collections, duplicated keys).
struct RDBBuilder {
    var bytes: [UInt8]

    init(version: Int = 10) { bytes = Array(String(format: "REDIS%04d", version).utf8) }

    /// An RDB length: 6-bit, 14-bit, 32-bit (0x80) or 64-bit (0x81) as Redis's `rdbSaveLen` picks.
    static func length(_ v: UInt64) -> [UInt8] {
        if v < 1 << 6 { return [UInt8(v)] }
        if v < 1 << 14 { return [UInt8(0x40 | (v >> 8)), UInt8(v & 0xFF)] }
        if v <= UInt64(UInt32.max) { return [0x80] + (0..<4).reversed().map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
        return [0x81] + (0..<8).reversed().map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) }
    }

    static func string(_ s: String) -> [UInt8] { let b = Array(s.utf8); return length(UInt64(b.count)) + b }

    /// Redis's `moduleTypeEncodeId`: nine characters of 6 bits, then 10 bits of encoding version.
    static func moduleID(_ name: String, encver: UInt64 = 0) -> UInt64 {
        let charset = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        var id: UInt64 = 0
        for c in name { id = id << 6 | UInt64(charset.firstIndex(of: c)!) }
        return id << 10 | encver
    }

    mutating func select(_ db: Int) { bytes += [0xFE] + Self.length(UInt64(db)) }
    mutating func set(_ key: String, _ value: String) { bytes += [0] + Self.string(key) + Self.string(value) }
    mutating func set(_ key: String, members: [String]) {
        bytes += [2] + Self.string(key) + Self.length(UInt64(members.count))
        for m in members { bytes += Self.string(m) }
    }
    mutating func raw(_ b: [UInt8]) { bytes += b }

    /// MODULE_AUX: id, `when` opcode UINT (2) and value, then an unsigned, a string, EOF.
    mutating func moduleAux(_ name: String) {
        bytes += [0xF7] + Self.length(Self.moduleID(name)) + [2] + [2]
        bytes += [2] + Self.length(42) + [5] + Self.string("aux-data") + [0]
    }

    func finished() -> [UInt8] {
        let body = bytes + [0xFF]
        var sum = CRC64.checksum(body)
        return body + withUnsafeBytes(of: &sum) { Array($0) }
    }
}

/// Reads every key of an RDB file with Ferry's stream reader: key → (database, empty?).
func readRDB(_ bytes: [UInt8], only: Int? = nil) throws -> (entries: [RDBEntry], stream: RDBStream) {
    let stream = RDBStream(reader: DataByteReader(bytes), name: "test.rdb")
    stream.onlyDatabase = only
    try stream.readHeader()
    var entries: [RDBEntry] = []
    while let entry = try stream.next() { entries.append(entry) }
    return (entries, stream)
}

@Suite struct RDBFormatTests {
    /// Fresh tester round 37b, M5: a backup whose replication connection the server closed was
    /// told "the file ends in the middle of a record ... nothing was loaded into the target". A
    /// server's snapshot that ends early says so; a copy or backup gives it its own code.
    @Test func aSnapshotThatEndsEarlySaysItIsTheServersNotAFile() throws {
        var rdb = RDBBuilder()
        rdb.select(0)
        rdb.set("k1", "v1")
        rdb.set("k2", String(repeating: "x", count: 300))
        let cut = Array(rdb.finished().dropLast(200))
        func failure(_ origin: RDBStream.Origin) -> FerryError? {
            let stream = RDBStream(reader: DataByteReader(cut), name: "Redis at 127.0.0.1:1 database 0", origin: origin)
            do { try stream.readHeader(); while try stream.next() != nil {}; return nil }
            catch let error as FerryError { return error } catch { Issue.record("\(error)"); return nil }
        }
        let file = try #require(failure(.file))
        #expect(file.code == .importError && file.message.contains("the file ends in the middle of a record"), "\(file)")
        let snapshot = try #require(failure(.serverSnapshot))
        #expect(snapshot.message.contains("the server's snapshot ends in the middle of a record") && !snapshot.message.contains("file"), "\(snapshot)")
        let hint = snapshot.diagnostics.first?.hint ?? ""
        #expect(hint.contains("replication connection") && !hint.contains("file") && !hint.contains("target"), "\(hint)")
        let backup = RDBStream.runFailure(snapshot, .copyError)
        #expect(backup.code == .copyError && backup.message == snapshot.message && backup.diagnostics.first?.hint == hint)
        #expect(throws: FerryError.self) { try RDBStream.asRunFailure(.copyError) { throw snapshot } }
        do { try RDBStream.asRunFailure(.copyError) { throw snapshot } } catch let error as FerryError { #expect(error.code == .copyError) }
    }

    /// Fresh tester round 50, F4: a file of two RDB files (`cat a.rdb b.rdb`, or two gzip
    /// members) was loaded as its first one, "Apply complete", the second's keys left out as
    /// Redis's loader leaves them. Bytes after the EOF marker and checksum are refused, named
    /// with the offset where the RDB data ends; a server's snapshot (the replication stream goes
    /// on after it) is not asked.
    @Test func aFileThatGoesOnAfterItsRDBDataIsRefused() throws {
        var a = RDBBuilder()
        a.select(0)
        a.set("k1", "v1")
        var b = RDBBuilder()
        b.select(0)
        b.set("k2", "v2")
        let first = a.finished()
        func failure(_ bytes: [UInt8], origin: RDBStream.Origin = .file, gzip: Bool = false) throws -> FerryError? {
            let reader: any ByteReader = gzip ? try GzipByteReader(DataByteReader(bytes), name: "test.rdb.gz") : DataByteReader(bytes)
            let stream = RDBStream(reader: reader, name: "test.rdb", origin: origin)
            do { try stream.readHeader(); while try stream.next() != nil {}; return nil }
            catch let error as FerryError { return error }
        }
        #expect(try failure(first) == nil, "one RDB file reads")
        let two = try #require(try failure(first + b.finished()))
        #expect(two.code == .importError && two.message.contains("goes on after the end of its RDB data (byte offset \(first.count))")
                && two.message.contains("another RDB file"), "\(two)")
        #expect(two.diagnostics.first?.hint?.contains("as a part of its own") == true, "\(two.diagnostics)")
        let garbage = try #require(try failure(first + Array("xyz".utf8)))
        #expect(garbage.message.contains("byte offset \(first.count)") && !garbage.message.contains("another RDB file"), "\(garbage)")
        #expect(try failure(first + b.finished(), origin: .serverSnapshot) == nil, "a server's snapshot is not asked")
        // Two gzip members, each an RDB file: one stream once inflated, as `gunzip` reads it.
        func gzipped(_ bytes: [UInt8]) throws -> [UInt8] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/gzip")
            process.arguments = ["-c"]
            let input = Pipe(), output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            try process.run()
            input.fileHandleForWriting.write(Data(bytes))
            try input.fileHandleForWriting.close()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return Array(data)
        }
        #expect(try failure(try gzipped(first), gzip: true) == nil)
        let members = try #require(try failure(try gzipped(first) + gzipped(b.finished()), gzip: true))
        #expect(members.message.contains("another RDB file"), "\(members)")
    }

    @Test func moduleAuxIdsAreAnySixtyFourBitValue() throws {
        // Names whose first character sets the id's top bit ("s", "z", "_") and ones that do not.
        for name in ["scdtype00", "MBbloom--", "ReJSON-RL", "zzzzzzzzz", "_________", "AAAAAAAAA"] {
            var rdb = RDBBuilder()
            rdb.moduleAux(name)
            rdb.select(0)
            rdb.set("after-aux", "1")
            rdb.moduleAux(name)
            let (entries, stream) = try readRDB(rdb.finished())
            #expect(entries.map { String(decoding: $0.key, as: UTF8.self) } == ["after-aux"], "\(name)")
            #expect(stream.moduleAuxSkipped == 2)
            #expect(moduleTypeName(RDBBuilder.moduleID(name, encver: 3)) == name)
        }
    }

    @Test func aModuleAuxRecordWithABadWhenOpcodeIsRefused() {
        var rdb = RDBBuilder()
        rdb.raw([0xF7] + RDBBuilder.length(RDBBuilder.moduleID("scdtype00")) + [5, 2, 0])
        #expect { _ = try readRDB(rdb.finished()) } throws: {
            ($0 as? FerryError)?.code == .importError && "\($0)".contains("scdtype00")
        }
    }

    @Test func aModuleValueNamesItsModule() throws {
        var rdb = RDBBuilder()
        rdb.select(0)
        rdb.raw([7] + RDBBuilder.string("doc") + RDBBuilder.length(RDBBuilder.moduleID("ReJSON-RL", encver: 3)) + [5] + RDBBuilder.string("{}") + [0])
        let (entries, _) = try readRDB(rdb.finished())
        #expect(entries.first?.module == "ReJSON-RL")
        var pre = RDBBuilder()
        pre.raw([6] + RDBBuilder.string("old") + [0])
        #expect { _ = try readRDB(pre.finished()) } throws: { "\($0)".contains("pre-release module format") }
    }

    @Test func functionsOfEveryFormatAreSkipped() throws {
        var rdb = RDBBuilder()
        // Redis 7.0 RC: name, engine, has description, [description], code.
        rdb.raw([0xF6] + RDBBuilder.string("lib2") + RDBBuilder.string("LUA") + [0] + RDBBuilder.string("return 2"))
        rdb.raw([0xF6] + RDBBuilder.string("lib1") + RDBBuilder.string("LUA") + [1] + RDBBuilder.string("described") + RDBBuilder.string("return 1"))
        rdb.raw([0xF5] + RDBBuilder.string("#!lua name=lib3\nredis.register_function('f', function() return 3 end)"))
        rdb.select(0)
        rdb.set("kept", "yes")
        let (entries, stream) = try readRDB(rdb.finished())
        #expect(entries.map { String(decoding: $0.key, as: UTF8.self) } == ["kept"])
        #expect(stream.functionsSkipped == 3)
    }

    @Test func emptyCollectionsAreMarkedInEveryEncoding() throws {
        var rdb = RDBBuilder()
        rdb.select(0)
        rdb.set("empty-set", members: [])
        rdb.raw([1] + RDBBuilder.string("empty-list") + [0])
        rdb.raw([4] + RDBBuilder.string("empty-hash") + [0])
        rdb.raw([5] + RDBBuilder.string("empty-zset") + [0])
        // intset: encoding 2, length 0; listpack: 7 bytes, 0 elements, end; ziplist: 11 bytes, tail 10, 0 entries, end.
        rdb.raw([11] + RDBBuilder.string("empty-intset").dropLast(0) + [8, 2, 0, 0, 0, 0, 0, 0, 0])
        rdb.raw([16] + RDBBuilder.string("empty-lp-hash") + [7, 7, 0, 0, 0, 0, 0, 0xFF])
        rdb.raw([13] + RDBBuilder.string("empty-zl-hash") + [11, 11, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0xFF])
        rdb.raw([14] + RDBBuilder.string("empty-quicklist") + [0])
        rdb.raw([18] + RDBBuilder.string("empty-quicklist2") + [1, 2, 7, 7, 0, 0, 0, 0, 0, 0xFF])
        rdb.set("full-set", members: ["a"])
        rdb.set("string", "")
        let (entries, _) = try readRDB(rdb.finished())
        let empty = Set(entries.filter(\.isEmpty).map { String(decoding: $0.key, as: UTF8.self) })
        #expect(empty == ["empty-set", "empty-list", "empty-hash", "empty-zset", "empty-intset", "empty-lp-hash",
                          "empty-zl-hash", "empty-quicklist", "empty-quicklist2"])
        #expect(entries.filter { !$0.isEmpty }.map { String(decoding: $0.key, as: UTF8.self) } == ["full-set", "string"])
    }

    @Test func aValkeyFileIsNamedAsOne() {
        var bytes = Array("VALKEY080".utf8)
        bytes += [0xFF, 0, 0, 0, 0, 0, 0, 0, 0]
        #expect { _ = try readRDB(bytes) } throws: { "\($0)".contains("Valkey") }
    }

    @Test func aDuplicatedKeyInOneDatabaseIsRefusedAndCollisionsFollowTheMergePolicy() throws {
        var dup = RDBBuilder()
        dup.select(0)
        dup.set("k", "1")
        dup.set("k", "2")
        let dupLedger = RDBKeyLedger(merge: .lastWins)
        #expect { for e in try readRDB(dup.finished()).entries { try dupLedger.record(e, source: "dup.rdb", target: "5") } } throws: {
            "\($0)".contains("present twice in database 0")
        }
        var two = RDBBuilder()
        two.select(0)
        two.set("shared", "from-0")
        two.set("only0", "x")
        two.select(1)
        two.set("only1", "y")
        two.set("shared", "from-1")
        let strict = RDBKeyLedger(merge: .error)
        #expect { for e in try readRDB(two.finished()).entries { try strict.record(e, source: "two.rdb", target: "5") } } throws: {
            "\($0)".contains("database 0 and database 1")
        }
        let merged = RDBKeyLedger(merge: .lastWins)
        for e in try readRDB(two.finished()).entries { try merged.record(e, source: "two.rdb", target: "5") }
        #expect(merged.distinctKeys == 3)
        #expect(merged.perDatabaseText == "0=2,1=2")
        // The same key in two parts of one import: the later part wins, no error.
        let parts = RDBKeyLedger(merge: .error)
        for e in try readRDB(two.finished(), only: 0).entries { try parts.record(e, source: "a.rdb", target: "5") }
        parts.nextPart()
        for e in try readRDB(two.finished(), only: 0).entries { try parts.record(e, source: "b.rdb", target: "5") }
        #expect(parts.distinctKeys == 2)
    }
}

/// Multi-database RDB files into one database, on the test servers (issue 14 §3).
extension RedisEngineTests {
    func twoDatabaseFile() throws -> URL {
        var rdb = RDBBuilder()
        rdb.select(0)
        rdb.set("shared", "from-0")
        rdb.set("only0", "x")
        rdb.select(1)
        rdb.set("shared", "from-1")
        rdb.set("only1", "y")
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-two-db-\(UUID().uuidString).rdb")
        try Data(rdb.finished()).write(to: url)
        return url
    }

    @Test func aFileWithCollidingDatabasesIsRefusedUnlessThePlanSaysHowToMerge() throws {
        let b = try RedisTestServers.session("B")
        defer { b.close() }
        let file = try twoDatabaseFile()
        defer { try? FileManager.default.removeItem(at: file) }
        for db in 0..<16 { try b.flushTestDatabase(String(db)) }
        func load(_ options: ImportOptions) throws -> ([String: String], VerifyReport) {
            let shadow = try b.makeShadow(for: "5", runID: "run-multi-\(UUID().uuidString.prefix(6))")
            defer { try? b.drop(shadow) }
            let built = try b.importData(into: shadow, from: [.file(file.path)], format: .rdb, options: options, progress: ProgressCounter())
            let report = try b.verify(shadow: shadow, against: nil, database: nil, level: .count, receipt: built.receipt)
            return (try contents(of: b, database: RedisOwnership.parse(shadow)!.database), report)
        }
        #expect { _ = try load(ImportOptions()) } throws: {
            ($0 as? FerryError)?.code == .importError && "\($0)".contains("shared") && "\($0)".contains("sourceDatabase")
        }
        let (merged, report) = try load(ImportOptions(merge: .lastWins))
        #expect(merged == ["shared": "string:none:from-1", "only0": "string:none:x", "only1": "string:none:y"])
        #expect(report.tables.map(\.name) == ["keys", "file database 0", "file database 1"])
        #expect(report.tables.first?.rows == 3)
        let (one, oneReport) = try load(ImportOptions(sourceDatabase: 1))
        #expect(one == ["shared": "string:none:from-1", "only1": "string:none:y"])
        #expect(oneReport.tables.map(\.name) == ["keys", "file database 1"])
        let (zero, _) = try load(ImportOptions(sourceDatabase: 0))
        #expect(zero == ["shared": "string:none:from-0", "only0": "string:none:x"])
        #expect { _ = try load(ImportOptions(sourceDatabase: 7)) } throws: { "\($0)".contains("no keys in database 7") }
    }

    @Test func theImportVerifyComparesWithWhatTheFilesHeld() throws {
        let b = try RedisTestServers.session("B")
        defer { b.close() }
        let file = try twoDatabaseFile()
        defer { try? FileManager.default.removeItem(at: file) }
        let shadow = try b.makeShadow(for: "5", runID: "run-verify-files")
        defer { try? b.drop(shadow) }
        let built = try b.importData(into: shadow, from: [.file(file.path)], format: .rdb, options: ImportOptions(merge: .lastWins), progress: ProgressCounter())
        #expect(built.receipt.detail["expect"] == "3", "what the files held travels in the receipt")
        // Nothing of it is kept on the server: the shadow's marker holds no counts of the files.
        try b.select(RedisOwnership.parse(shadow)!.database)
        #expect(try b.run("HMGET", RedisOwnership.shadowMarker(run: "run-verify-files"), "expect", "perdb").elements.allSatisfy { $0.string == nil })
        // A key lost (or one more) between the load and the verify fails it.
        try b.run("DEL", "only0")
        #expect { _ = try b.verify(shadow: shadow, against: nil, database: nil, level: .count, receipt: built.receipt) } throws: {
            ($0 as? FerryError)?.code == .verifyFailed && "\($0)".contains("3 distinct keys")
        }
        try b.run("SET", "only0", "x")
        try b.run("SET", "extra", "z")
        #expect(throws: FerryError.self) { _ = try b.verify(shadow: shadow, against: nil, database: nil, level: .count, receipt: built.receipt) }
    }

    @Test func moduleAuxFunctionsAndEmptyKeysLoadAsRedisLoadsThem() throws {
        let b = try RedisTestServers.session("B")
        defer { b.close() }
        var rdb = RDBBuilder()
        rdb.raw([0xF6] + RDBBuilder.string("lib2") + RDBBuilder.string("LUA") + [0] + RDBBuilder.string("return 2"))
        rdb.select(0)
        rdb.set("empty", members: [])
        rdb.set("kept", "yes")
        rdb.raw([4] + RDBBuilder.string("empty-hash") + [0])
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-aux-\(UUID().uuidString).rdb")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(rdb.finished()).write(to: file)
        let shadow = try b.makeShadow(for: "5", runID: "run-aux")
        defer { try? b.drop(shadow) }
        let stats = try b.importData(into: shadow, from: [.file(file.path)], format: .rdb, progress: ProgressCounter())
        #expect(stats.rows == 1)
        #expect(try contents(of: b, database: RedisOwnership.parse(shadow)!.database) == ["kept": "string:none:yes"])
        _ = try b.verify(shadow: shadow, against: nil, database: nil, level: .count)
        // Module AUX data, whatever the module's name: a target without modules refuses the file
        // as Redis does ("no matching module"), naming the module type.
        for name in ["scdtype00", "MBbloom--"] {
            var aux = RDBBuilder()
            aux.moduleAux(name)
            aux.select(0)
            aux.set("kept", "yes")
            try Data(aux.finished()).write(to: file)
            let auxShadow = try b.makeShadow(for: "5", runID: "run-aux-\(name.prefix(2))")
            defer { try? b.drop(auxShadow) }
            #expect { _ = try b.importData(into: auxShadow, from: [.file(file.path)], format: .rdb, progress: ProgressCounter()) } throws: {
                ($0 as? FerryError)?.code == .importError && "\($0)".contains(name) && "\($0)".contains("no modules loaded")
            }
        }
        // A file newer than the target reads: refused as the target refuses it.
        var newer = RDBBuilder(version: 12)
        newer.select(0)
        newer.set("k", "v")
        try Data(newer.finished()).write(to: file)
        if let newest = try b.newestRDBVersion(), newest < 12 {
            let newShadow = try b.makeShadow(for: "5", runID: "run-newer")
            defer { try? b.drop(newShadow) }
            #expect { _ = try b.importData(into: newShadow, from: [.file(file.path)], format: .rdb, progress: ProgressCounter()) } throws: {
                "\($0)".contains("RDB version 12 is newer than the target server reads")
            }
        }
        // A module value the target has no module for: refused, naming the module.
        var module = RDBBuilder()
        module.select(0)
        module.raw([7] + RDBBuilder.string("doc") + RDBBuilder.length(RDBBuilder.moduleID("ReJSON-RL", encver: 3)) + [5] + RDBBuilder.string("{}") + [0])
        try Data(module.finished()).write(to: file)
        let shadow2 = try b.makeShadow(for: "5", runID: "run-module")
        defer { try? b.drop(shadow2) }
        #expect { _ = try b.importData(into: shadow2, from: [.file(file.path)], format: .rdb, progress: ProgressCounter()) } throws: {
            ($0 as? FerryError)?.code == .importError && "\($0)".contains("ReJSON-RL")
        }
    }
}

/// Strings without a TTL go as one `MSET` a batch (`RedisConnection.sendWrite`, `grouping`): a
/// key written again later in the same batch still ends as its later write, and a refused key's
/// error is its own, not a neighbour's.
extension RedisEngineTests {
    /// `merge: last-wins` where the later database holds the key as another type, or as a string
    /// with a TTL: the later one wins, as Redis's own load of the databases one after another.
    @Test(arguments: ["set", "ttl-string"]) func aLaterKeyOfAnotherKindStillWinsOverADeferredString(later: String) throws {
        let b = try RedisTestServers.session("B")
        defer { b.close() }
        var rdb = RDBBuilder()
        rdb.select(0)
        for i in 0..<20 { rdb.set("s\(i)", "v\(i)") }
        rdb.set("shared", "from-0")
        rdb.select(1)
        if later == "set" {
            rdb.set("shared", members: ["m1", "m2"])
        } else {
            // EXPIRETIME_MS (0xFC), 8 bytes little-endian, an hour from now.
            let at = UInt64(Date().timeIntervalSince1970 * 1000) + 3_600_000
            rdb.raw([0xFC] + withUnsafeBytes(of: at.littleEndian) { Array($0) })
            rdb.set("shared", "from-1")
        }
        for i in 20..<40 { rdb.set("s\(i)", "v\(i)") }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-later-wins-\(UUID().uuidString).rdb")
        try Data(rdb.finished()).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        for db in 0..<16 { try b.flushTestDatabase(String(db)) }
        let shadow = try b.makeShadow(for: "5", runID: "run-later-\(later)")
        defer { try? b.drop(shadow) }
        _ = try b.importData(into: shadow, from: [.file(url.path)], format: .rdb, options: ImportOptions(merge: .lastWins), progress: ProgressCounter())
        let loaded = try contents(of: b, database: RedisOwnership.parse(shadow)!.database)
        #expect(loaded["shared"] == (later == "set" ? "set:none:m1|m2" : "string:ttl:from-1"), "\(loaded["shared"] ?? "nil")")
        #expect(loaded.count == 41 && loaded["s0"] == "string:none:v0" && loaded["s39"] == "string:none:v39")
    }

    /// One batch: a deferred string, a `RESTORE` the server refuses, another deferred string and a
    /// string with a TTL, in a shadow's transaction and outside one: the refusal is the refused
    /// key's only, and the strings land.
    @Test func aRefusedKeyAmongDeferredStringsIsTheOneNamed() throws {
        let b = try RedisTestServers.session("B")
        defer { b.close() }
        try b.flushTestDatabase("6")
        try b.select(6)
        try b.run("SET", "probe:s", "x")
        try b.run("HSET", "probe:h", "f", "v")
        let string = try #require(try b.connection.command("DUMP", "probe:s").bytes)
        var broken = try #require(try b.connection.command("DUMP", "probe:h").bytes)
        broken[broken.count - 1] ^= 0xFF
        for marker in [nil, "__ferry:test-ledger-marker"] as [String?] {
            try b.flushTestDatabase("6")
            try b.select(6)
            if let marker { try b.run("HSET", marker, "wrote", "0") }
            var ledger = RedisShadowLedger(marker: marker)
            let c = b.connection
            for (key, payload, ttl) in [("a", string, Int64(0)), ("bad", broken, 0), ("c", string, 0), ("d", string, 60_000)] {
                ledger.willRestore(on: c, key: Array(key.utf8), persistent: ttl == 0)
                ledger.sent(deferred: c.sendWrite(key: Array(key.utf8), ttl: ttl, payload: payload, absolute: false, grouping: true))
            }
            let sent = ledger.close(on: c)
            try c.flush()
            #expect(sent.restores == 4 && sent.commands == 3, "bad and d one a key, a and c in one MSET")
            let results = try RedisShadowLedger.results(of: sent, on: c, errorCode: .importError)
            let refused = results.map { if case .error = $0 { true } else { false } }
            if marker == nil {
                #expect(refused == [false, true, false, false], "\(results)")
                #expect(try contents(of: b, database: 6) == ["a": "string:none:x", "c": "string:none:x", "d": "string:ttl:x"])
            } else {
                // A queue-time refusal aborts the transaction (RESTORE checks its payload when it
                // runs, so EXEC runs and only that key fails).
                #expect(refused[0] == false && refused[1] == true && refused[2] == false && refused[3] == false, "\(results)")
            }
        }
        try b.flushTestDatabase("6")
    }

    /// A user whose key patterns leave out one string of the file: the batch's one MSET is
    /// refused whole, and the error says so (the MSET of N keys, the first of them named), not
    /// as if the first key were the one refused (helper-129, G3). Nothing of the batch lands.
    @Test func aRefusedMSETIsNamedAsTheBatchs() throws {
        let b = try RedisTestServers.session("B")
        defer { b.close() }
        var rdb = RDBBuilder()
        rdb.select(0)
        for i in 0..<20 { rdb.set("s\(i)", "v\(i)") }
        rdb.set("x-outside", "v")
        for i in 20..<30 { rdb.set("s\(i)", "v\(i)") }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-mset-\(UUID().uuidString).rdb")
        try Data(rdb.finished()).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let password = "keys-\(UInt32.random(in: 0...UInt32.max))"
        try b.run("ACL", "SETUSER", "ferry-keys", "reset", "on", ">\(password)", "~s*", "~__ferry:*", "&*", "+@all")
        defer { _ = try? b.run("ACL", "DELUSER", "ferry-keys") }
        try b.flushTestDatabase("6")
        let shadow = try b.makeShadow(for: "6", runID: "run-mset-refused")
        defer { try? b.drop(shadow) }
        let port = try RedisTestServers.port("B")
        let limited = try #require(try RedisEngine().connect(ConnectionTarget(
            instance: InstanceSpec(name: "limited", engine: .redis, url: "redis://ferry-keys@127.0.0.1:\(port)"),
            password: password)) as? RedisSession)
        defer { limited.close() }
        do {
            _ = try limited.importData(into: shadow, from: [.file(url.path)], format: .rdb, options: ImportOptions(), progress: ProgressCounter())
            Issue.record("the import went through")
        } catch let error as FerryError {
            let text = "\(error)"
            #expect(text.contains("the MSET of 31 keys") && text.contains("the first of them key \"s") && text.contains("NOPERM"), "\(text)")
        }
        #expect(try contents(of: b, database: RedisOwnership.parse(shadow)!.database).isEmpty, "nothing of the batch landed")
    }

    /// Fresh tester round 33, F8: the user's rights on `__ferry:*` taken away during a run: the
    /// marker's counters fail at queue time and the transaction ends in EXECABORT, which was
    /// reported as a refusal of the batch's first key. It is the marker's, said so.
    @Test func aMarkerCounterRefusedAtQueueTimeIsTheMarkers() throws {
        let b = try RedisTestServers.session("B")
        defer { b.close() }
        let password = "marker-\(UInt32.random(in: 0...UInt32.max))"
        try b.run("ACL", "SETUSER", "ferry-nomarker", "reset", "on", ">\(password)", "~k*", "&*", "+@all")
        defer { _ = try? b.run("ACL", "DELUSER", "ferry-nomarker") }
        try b.flushTestDatabase("6")
        let port = try RedisTestServers.port("B")
        let limited = try #require(try RedisEngine().connect(ConnectionTarget(
            instance: InstanceSpec(name: "limited", engine: .redis, url: "redis://ferry-nomarker@127.0.0.1:\(port)"),
            password: password)) as? RedisSession)
        defer { limited.close() }
        try limited.select(6)
        let c = limited.connection
        var ledger = RedisShadowLedger(marker: "__ferry:test-queued-marker")
        for key in ["k1", "k2"] {
            ledger.willRestore(on: c, key: Array(key.utf8), persistent: true)
            ledger.sent(deferred: c.sendWrite(key: Array(key.utf8), ttl: 0, payload: Array("v".utf8), absolute: false, grouping: true))
        }
        let sent = ledger.close(on: c)
        try c.flush()
        do {
            _ = try RedisShadowLedger.results(of: sent, on: c, errorCode: .copyError)
            Issue.record("the batch went through")
        } catch let error as FerryError {
            #expect("\(error)".contains("marker could not count") && "\(error)".contains("NOPERM"), "\(error)")
        }
        #expect(try contents(of: b, database: 6).isEmpty, "nothing of the batch was written")
        _ = try c.command("PING")
    }
}

/// The weights in a shadow marker's `persistentsum` and `valuesum` are the first 28 bits of a
/// SHA-1 (what the flush script reads with `redis.sha1hex`). `Digest.sha1Prefix` hashes the two
/// parts without joining them and with a SHA-1 fetched once: it must equal the digest of the
/// joined bytes, whatever the split.
@Suite struct SHA1PrefixTests {
    @Test func thePrefixIsTheSHA1OfBothPartsJoined() {
        // FIPS 180-2 appendix A.1: SHA-1("abc") = a9993e36 4706816a ...
        #expect(Digest.sha1Prefix(Array("abc".utf8)) == 0xa999_3e36)
        #expect(Digest.sha1Prefix(Array("a".utf8), Array("bc".utf8)) == 0xa999_3e36)
        #expect(Digest.sha1Prefix([], Array("abc".utf8)) == 0xa999_3e36)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for size in [0, 1, 55, 56, 63, 64, 65, 200, 5000] {
            let bytes: [UInt8] = (0..<size).map { _ in state ^= state << 13; state ^= state >> 7; state ^= state << 17; return UInt8(truncatingIfNeeded: state) }
            let h = Digest.sha1Bytes(bytes)
            let expected = UInt32(h[0]) << 24 | UInt32(h[1]) << 16 | UInt32(h[2]) << 8 | UInt32(h[3])
            for split in Set([0, size / 3, size]) {
                #expect(Digest.sha1Prefix(Array(bytes[..<split]), Array(bytes[split...])) == expected, "\(size) split at \(split)")
            }
        }
        #expect(RedisShadowLedger.valueWeight(of: Array("k".utf8), payload: Array("v".utf8)) == Int64(Digest.sha1Prefix(Array("kv".utf8)) >> 4))
        // One context, reused: each call as fresh.
        let prefixer = Digest.SHA1Prefixer()
        for text in ["abc", "", "kv", "abc"] {
            #expect(prefixer.prefix(Array(text.utf8)) == Digest.sha1Prefix(Array(text.utf8)), "\(text)")
        }
        #expect(prefixer.prefix(Array("a".utf8), Array("bc".utf8)) == 0xa999_3e36)
        #expect(RedisShadowLedger.valueWeight(of: Array("k".utf8), payload: Array("v".utf8), using: prefixer) == Int64(Digest.sha1Prefix(Array("kv".utf8)) >> 4))
    }

    /// Every digest goes through one fetched algorithm a kind; the answers are FIPS 180-2's
    /// (appendix A and B: "abc", the 448-bit message, one million "a") and the empty input's.
    @Test func everyDigestGivesTheStandardsAnswers() throws {
        let long = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(Digest.hex(Digest.sha1Bytes(Array("abc".utf8))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(Digest.hex(Digest.sha1Bytes([])) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(Digest.hex(Digest.sha1Bytes(Array(long.utf8))) == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(Digest.hex(Digest.sha1Bytes(million)) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
        #expect(Digest.sha1Prefix(million) == 0x34aa_973c)
        #expect(Digest.sha256(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.sha256([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Digest.sha256(Array(long.utf8)) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(Digest.hex(Digest.sha256Bytes(million)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-digest-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        // Three reads of 1 MiB and a short one, the file form's chunking.
        var file = [UInt8]()
        for i in 0..<(3 << 20) + 17 { file.append(UInt8(truncatingIfNeeded: i &* 2654435761 >> 13)) }
        try Data(file).write(to: URL(fileURLWithPath: path))
        #expect(try Digest.sha256(file: path) == Digest.sha256(file))
        try Data(million).write(to: URL(fileURLWithPath: path))
        #expect(try Digest.sha256(file: path) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
