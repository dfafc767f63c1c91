import FerryCore
import FerryIO
import Foundation
import Testing
@testable import FerryRedis

/// RDB files that the real servers wrote (`redis-cli --rdb`): part 1 from server A, part 2
/// (gzipped) from server B; both hold the key `shared`, which part 2 must win.
struct RDBFixture {
    var directory: URL
    var part1: URL
    var part2gz: URL
    var expected: [String: String]

    static func make() throws -> RDBFixture {
        let a = try RedisTestServers.session("A")
        let b = try RedisTestServers.session("B")
        defer { a.close(); b.close() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-rdb-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try a.run("FLUSHALL"); try b.run("FLUSHALL")
        try fillEveryType(a, database: 0, prefix: "p1", count: 30)
        try a.select(0); try a.run("SET", "shared", "from-part1")
        try fillEveryType(b, database: 0, prefix: "p2", count: 20)
        try b.select(0); try b.run("SET", "shared", "from-part2")
        var expected = try contents(of: a, database: 0)
        for (k, v) in try contents(of: b, database: 0) { expected[k] = v }
        let part1 = directory.appendingPathComponent("part1.rdb")
        let part2 = directory.appendingPathComponent("part2.rdb")
        try RedisTestServers.cli("A", ["--rdb", part1.path])
        try RedisTestServers.cli("B", ["--rdb", part2.path])
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        gzip.arguments = ["gzip", "-f", part2.path]
        try gzip.run(); gzip.waitUntilExit()
        try a.run("FLUSHALL"); try b.run("FLUSHALL")
        return RDBFixture(directory: directory, part1: part1, part2gz: directory.appendingPathComponent("part2.rdb.gz"), expected: expected)
    }
}

extension RedisEngineTests {
    /// Imports `sources` into a shadow of database 11 on B and returns what the shadow holds.
    func importIntoShadow(_ sources: [ImportSource]) throws -> (contents: [String: String], stats: TransferStats) {
        let b = try RedisTestServers.session("B")
        defer { b.close() }
        let shadow = try b.makeShadow(for: "11", runID: "run-import")
        defer { try? b.drop(shadow) }
        let stats = try b.importData(into: shadow, from: sources, format: .rdb, progress: ProgressCounter())
        return (try contents(of: b, database: RedisOwnership.parse(shadow)!.database), stats.stats)
    }

    @Test func rdbPartsFromTwoServersPlainAndGzipLoadInOrder() throws {
        let fixture = try RDBFixture.make()
        defer { try? FileManager.default.removeItem(at: fixture.directory) }
        let result = try importIntoShadow([.file(fixture.part1.path), .url("file://" + fixture.part2gz.path)])
        #expect(result.contents == fixture.expected)
        #expect(result.contents["shared"] == "string:none:from-part2")
        #expect(result.contents.values.contains { $0.hasPrefix("string:ttl:") })
    }

    @Test func truncatedRDBIsImportErrorWithOffsetAndTargetUnchanged() throws {
        let fixture = try RDBFixture.make()
        defer { try? FileManager.default.removeItem(at: fixture.directory) }
        let b = try RedisTestServers.session("B")
        defer { b.close() }
        try b.select(11); try b.run("SET", "keep-me", "1")
        let bytes = try Data(contentsOf: fixture.part1)
        let truncated = fixture.directory.appendingPathComponent("truncated.rdb")
        try bytes.prefix(bytes.count / 2).write(to: truncated)
        let flipped = fixture.directory.appendingPathComponent("flipped.rdb")
        var changed = bytes
        changed[bytes.count - 20] ^= 0x5A
        try changed.write(to: flipped)
        for file in [truncated, flipped] {
            #expect { _ = try importIntoShadow([.file(file.path)]) } throws: { error in
                guard let error = error as? FerryError else { return false }
                return error.code == .importError && error.message.contains("byte offset")
            }
        }
        #expect(try contents(of: b, database: 11) == ["keep-me": "string:none:1"])
        try b.flushTestDatabase("11")
    }

    @Test func unsupportedValueTypeNamesTheKeyAndOffset() throws {
        var bytes = Array("REDIS0010".utf8)
        bytes += [0xFE, 0x00, 0x63, 0x03] + Array("odd".utf8) + [0x01, 0x78]
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-odd-\(UUID()).rdb")
        try Data(bytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect { _ = try importIntoShadow([.file(file.path)]) } throws: { error in
            guard let error = error as? FerryError else { return false }
            return error.code == .importError && error.message.contains("\"odd\"") && error.message.contains("byte offset 11")
        }
    }

    @Test func redisURLSourceCopiesFromAnotherServer() throws {
        let a = try RedisTestServers.session("A")
        defer { a.close() }
        try a.flushTestDatabase("12")
        try fillEveryType(a, database: 12, prefix: "u", count: 5)
        let expected = try contents(of: a, database: 12)
        let url = try RedisTestServers.variable("FERRY_TEST_REDIS_A") + "/12"
        #expect(try importIntoShadow([.url(url)]).contents == expected)
        try a.flushTestDatabase("12")
    }

    /// A `redis://` source without a database in its path reads the import's `sourceDatabase`
    /// (tester W7: it read database 0 without a word), and the plan says which one it reads.
    @Test func redisURLSourceWithoutAPathReadsSourceDatabase() throws {
        let a = try RedisTestServers.session("A")
        defer { a.close() }
        try a.flushTestDatabase("12")
        try a.flushTestDatabase("13")
        try fillEveryType(a, database: 13, prefix: "w7", count: 4)
        try fillEveryType(a, database: 12, prefix: "other", count: 2)
        let expected = try contents(of: a, database: 13)
        let url = try RedisTestServers.variable("FERRY_TEST_REDIS_A")
        let b = try RedisTestServers.session("B")
        defer { b.close() }
        let shadow = try b.makeShadow(for: "11", runID: "run-import-w7")
        defer { try? b.drop(shadow) }
        _ = try b.importData(into: shadow, from: [.url(url)], format: .rdb, options: ImportOptions(sourceDatabase: 13),
                             progress: ProgressCounter())
        #expect(try contents(of: b, database: RedisOwnership.parse(shadow)!.database) == expected)
        let spec = ImportSpec(name: "w7", into: "b", database: "11", sources: [.url(url)], format: .rdb, sourceDatabase: 13)
        let notes = RedisEngine().planNotes(for: spec)
        #expect(notes.count == 1 && notes[0].contains("database 13 of the Redis server"), "\(notes)")
        try a.flushTestDatabase("12")
        try a.flushTestDatabase("13")
    }

    /// Fresh tester round 36, F2: an import into a server with `maxmemory` and `allkeys-lru`
    /// evicted every user key of the server, unforeseen by the plan; round 37, F4: one that fit
    /// the room by its file's size still evicted every key with a TTL under `volatile-ttl`.
    /// Under any eviction policy a write may evict the user's keys: the facts say so (the plan
    /// refuses to write there); under `noeviction` (writes refused, the run rolls back) and
    /// without a limit they do not.
    @Test func writesUnderAnEvictionPolicyMayEvictTheUsersKeys() throws {
        let b = try RedisTestServers.session("B")
        defer {
            _ = try? b.run("CONFIG", "SET", "maxmemory", "0")
            _ = try? b.run("CONFIG", "SET", "maxmemory-policy", "noeviction")
            b.close()
        }
        let used = try #require(Int64(try b.info("memory")["used_memory"] ?? ""))
        try b.run("CONFIG", "SET", "maxmemory", String(used + 50_000_000))
        for policy in ["allkeys-lru", "volatile-ttl", "allkeys-lfu", "volatile-random"] {
            try b.run("CONFIG", "SET", "maxmemory-policy", policy)
            let facts = try b.describe(fingerprinting: [])
            #expect(facts.writesMayEvict?.contains(policy) == true, "\(facts.writesMayEvict ?? "")")
            #expect(facts.freeBytes == nil)
        }
        try b.run("CONFIG", "SET", "maxmemory-policy", "noeviction")
        #expect(try b.describe(fingerprinting: []).writesMayEvict == nil)
        try b.run("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
        try b.run("CONFIG", "SET", "maxmemory", "0")
        #expect(try b.describe(fingerprinting: []).writesMayEvict == nil)
    }

    /// Round 35 F17: a `redis://` source whose URL gives a wrong password was read with the
    /// target instance's password when both are on one server. The URL's own password is used
    /// or refused; only a URL without one falls back to the instance's.
    @Test func aRedisSourceIsReadWithThePasswordItsURLGives() throws {
        let b = try RedisTestServers.session("B")
        defer { b.close() }
        try b.flushTestDatabase("13")
        try fillEveryType(b, database: 13, prefix: "f17", count: 3)
        let expected = try contents(of: b, database: 13)
        let plain = try RedisTestServers.variable("FERRY_TEST_REDIS_B")
        let password = try RedisTestServers.variable("FERRY_TEST_REDIS_B_PASSWORD")
        let withPassword = { (pw: String) in plain.replacingOccurrences(of: "redis://", with: "redis://:\(pw)@") + "/13" }
        for (url, works) in [(withPassword("Wr0ngF17"), false), (withPassword("default:x"), false),
                             (plain.replacingOccurrences(of: "redis://", with: "redis://nosuch:Wr0ngF17@") + "/13", false),
                             (withPassword(password), true), (plain + "/13", true)] {
            let shadow = try b.makeShadow(for: "11", runID: "run-import-f17")
            defer { try? b.drop(shadow) }
            if works {
                _ = try b.importData(into: shadow, from: [.url(url)], format: .rdb, options: ImportOptions(), progress: ProgressCounter())
                #expect(try contents(of: b, database: RedisOwnership.parse(shadow)!.database) == expected, "\(Redaction.redactURL(url))")
            } else {
                #expect(throws: FerryError.self, "\(Redaction.redactURL(url))") {
                    _ = try b.importData(into: shadow, from: [.url(url)], format: .rdb, options: ImportOptions(), progress: ProgressCounter())
                }
                do {
                    _ = try b.importData(into: shadow, from: [.url(url)], format: .rdb, options: ImportOptions(), progress: ProgressCounter())
                } catch let error as FerryError {
                    #expect(error.code == .wrongPassword, "\(error)")
                    #expect(!error.description.contains("Wr0ng"), "\(error)")
                    // Round 37, F5: the source refused, and the message says so.
                    #expect(error.message.contains("the import's source redis://") && error.message.contains("refused the credentials its URL gives"), "\(error)")
                }
            }
        }
        try b.flushTestDatabase("13")
    }
}

extension RedisEngineTests {
    /// Puts the fixture's files where the HTTP, FTP and S3 test servers serve them.
    func publish(_ fixture: RDBFixture) throws -> (serve: String, bucket: String) {
        let serve = try RedisTestServers.variable("FERRY_TEST_SERVE_DIR")
        let bucket = try RedisTestServers.variable("FERRY_TEST_S3_BUCKET")
        let endpoint = try RedisTestServers.variable("FERRY_TEST_S3_ENDPOINT")
        for file in [fixture.part1, fixture.part2gz] {
            let destination = URL(fileURLWithPath: serve).appendingPathComponent(file.lastPathComponent)
            try? FileManager.default.removeItem(at: destination)
            try FileManager.default.copyItem(at: file, to: destination)
        }
        // The stand-ins' own Python, which has boto3 (scripts/storage-servers.sh): a python3 on
        // PATH may not (a fresh clone under `env -i` failed here, "No module named 'boto3'").
        let upload = Process()
        upload.executableURL = URL(fileURLWithPath: try StorageServers.variable("FERRY_TEST_STORAGE_PYTHON"))
        upload.arguments = ["-c", """
            import boto3, sys
            s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1',
                              aws_access_key_id='testing', aws_secret_access_key='testing')
            try: s3.create_bucket(Bucket=sys.argv[2])
            except Exception: pass
            for path in sys.argv[3:]:
                s3.upload_file(path, sys.argv[2], 'dumps/' + path.split('/')[-1])
            """, endpoint, bucket, fixture.part1.path, fixture.part2gz.path]
        try upload.run(); upload.waitUntilExit()
        #expect(upload.terminationStatus == 0)
        setenv("AWS_ENDPOINT_URL_S3", endpoint, 1)
        setenv("AWS_ACCESS_KEY_ID", "testing", 1)
        setenv("AWS_SECRET_ACCESS_KEY", "testing", 1)
        setenv("AWS_REGION", "us-east-1", 1)
        return (serve, bucket)
    }

    @Test func rdbPartsLoadThroughHTTPFTPAndS3() throws {
        let fixture = try RDBFixture.make()
        defer { try? FileManager.default.removeItem(at: fixture.directory) }
        let (_, bucket) = try publish(fixture)
        let http = try RedisTestServers.variable("FERRY_TEST_HTTP")
        let ftp = try RedisTestServers.variable("FERRY_TEST_FTP")
        let user = try RedisTestServers.variable("FERRY_TEST_FTP_USER")
        let password = try RedisTestServers.variable("FERRY_TEST_FTP_PASSWORD")
        let ftpWithUser = ftp.replacingOccurrences(of: "ftp://", with: "ftp://\(user):\(password)@")
        let cases: [[ImportSource]] = [
            [.url("\(http)/part1.rdb"), .url("\(http)/part2.rdb.gz")],
            [.url("\(ftp)/part1.rdb"), .url("\(ftpWithUser)/part2.rdb.gz")],
            [.url("s3://\(bucket)/dumps/part1.rdb"), .url("s3://\(bucket)/dumps/part2.rdb.gz")],
        ]
        for sources in cases {
            let result = try importIntoShadow(sources)
            #expect(result.contents == fixture.expected, "through \(sources)")
        }
        let facts = try RemoteSources.facts(of: "\(http)/part1.rdb")
        #expect(facts?.sizeBytes == Int64(try Data(contentsOf: fixture.part1).count))
        #expect { _ = try RemoteSources.open("\(http)/missing.rdb") } throws: { ($0 as? FerryError)?.code == .importError }
        #expect { _ = try RemoteSources.open("ftp://\(user):wrong@" + ftp.dropFirst(6) + "/part1.rdb") } throws: { error in
            guard let error = error as? FerryError else { return false }
            return error.code == .wrongPassword && !error.description.contains("wrong@")
        }
    }
}

/// An RDB file in Redis 6's format (RDB version 9, ziplist and intset encodings), built byte by
/// byte: no Redis 6 server runs here, and a Redis 7 server writes listpacks instead.
enum Redis6RDB {
    static func string(_ s: String) -> [UInt8] { string(Array(s.utf8)) }

    static func string(_ b: [UInt8]) -> [UInt8] {
        precondition(b.count < 64)
        return [UInt8(b.count)] + b
    }

    static func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }

    /// A ziplist of short strings: zlbytes, zltail, zllen, entries (prevlen, 6-bit length), 0xFF.
    static func ziplist(_ items: [String]) -> [UInt8] {
        var entries: [UInt8] = []
        var previous = 0
        var tail = 10
        for item in items {
            tail = 10 + entries.count
            let entry = [UInt8(previous)] + [UInt8(item.utf8.count)] + Array(item.utf8)
            entries += entry
            previous = entry.count
        }
        let total = 10 + entries.count + 1
        return le32(total) + le32(tail) + [UInt8(items.count & 0xFF), UInt8(items.count >> 8)] + entries + [0xFF]
    }

    static func file() -> [UInt8] {
        var b = Array("REDIS0009".utf8)
        b += [0xFA] + string("redis-ver") + string("6.2.14")
        b += [0xFE, 0x00]
        b += [0x00] + string("s6") + string("from redis 6")
        b += [13] + string("h6") + string(ziplist(["f1", "v1", "f2", "v2"]))
        b += [14] + string("l6") + [0x01] + string(ziplist(["a", "b", "c"]))
        b += [12] + string("z6") + string(ziplist(["m1", "1.5", "m2", "2"]))
        b += [11] + string("i6") + string(le32(2) + le32(3) + [1, 0, 2, 0, 3, 0])
        b += [0xFC] + (0..<8).map { UInt8((Int64(Date().timeIntervalSince1970 * 1000 + 3_600_000) >> (8 * Int64($0))) & 0xFF) }
        b += [0x00] + string("t6") + string("expires")
        return b + [0xFF] + [UInt8](repeating: 0, count: 8)
    }
}

extension RedisEngineTests {
    @Test func redis6FormatWithZiplistsAndIntsetsLoadsIntoRedis7() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-redis6-\(UUID()).rdb")
        try Data(Redis6RDB.file()).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let (loaded, stats) = try importIntoShadow([.file(file.path)])
        #expect(stats.rows == 6)
        #expect(loaded == [
            "s6": "string:none:from redis 6",
            "h6": "hash:none:f1=v1|f2=v2",
            "l6": "list:none:a|b|c",
            "z6": "zset:none:m1|1.5|m2|2",
            "i6": "set:none:1|2|3",
            "t6": "string:ttl:expires",
        ])
    }
}

/// TLS: `https:` sources, S3 on an https endpoint and `rediss:` instances, against the throwaway CA
/// that `scripts/redis-servers.sh` makes and names in `SSL_CERT_FILE`.
extension RedisEngineTests {
    func tlsSession() throws -> RedisSession {
        let url = try RedisTestServers.variable("FERRY_TEST_REDIS_TLS")
        let target = ConnectionTarget(instance: InstanceSpec(name: "redis-tls", engine: .redis, url: url), password: nil)
        return try #require(try RedisEngine().connect(target) as? RedisSession)
    }

    @Test func rdbPartsLoadOverHTTPSAndFromS3OnAnHTTPSEndpoint() throws {
        _ = try RedisTestServers.variable("SSL_CERT_FILE")
        let fixture = try RDBFixture.make()
        defer { try? FileManager.default.removeItem(at: fixture.directory) }
        let (serve, bucket) = try publish(fixture)
        let https = try RedisTestServers.variable("FERRY_TEST_HTTPS")
        let httpsByName = try RedisTestServers.variable("FERRY_TEST_HTTPS_LOCALHOST")
        let plainEndpoint = try RedisTestServers.variable("FERRY_TEST_S3_ENDPOINT")
        setenv("AWS_ENDPOINT_URL_S3", try RedisTestServers.variable("FERRY_TEST_S3_TLS_ENDPOINT"), 1)
        defer { setenv("AWS_ENDPOINT_URL_S3", plainEndpoint, 1) }
        let cases: [[ImportSource]] = [
            [.url("\(https)/part1.rdb"), .url("\(httpsByName)/part2.rdb.gz")],
            [.url("s3://\(bucket)/dumps/part1.rdb"), .url("s3://\(bucket)/dumps/part2.rdb.gz")],
        ]
        for sources in cases {
            let result = try importIntoShadow(sources)
            #expect(result.contents == fixture.expected, "through \(sources)")
        }
        let size = Int64(try Data(contentsOf: fixture.part1).count)
        #expect(try RemoteSources.facts(of: "\(https)/part1.rdb")?.sizeBytes == size)
        #expect(try RemoteSources.facts(of: "s3://\(bucket)/dumps/part1.rdb")?.sizeBytes == size)
        #expect { _ = try RemoteSources.open("\(https)/missing.rdb") } throws: { ($0 as? FerryError)?.code == .importError }

        // A redirect over https is followed: the file server answers /dir with 301 to /dir/.
        let directory = URL(fileURLWithPath: serve).appendingPathComponent("tls-redirect")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: directory.appendingPathComponent("inside-the-redirect.txt"))
        let reader = try RemoteSources.open("\(https)/tls-redirect")
        defer { reader.close() }
        var listing: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while case let n = try chunk.withUnsafeMutableBytes({ try reader.read(into: $0) }), n > 0 { listing += chunk[0..<n] }
        #expect(String(decoding: listing, as: UTF8.self).contains("inside-the-redirect.txt"))
    }

    @Test func certificatesThatDoNotVerifyAndNonTLSPeersAreClearErrors() throws {
        _ = try RedisTestServers.variable("SSL_CERT_FILE")
        let wrongName = try RedisTestServers.variable("FERRY_TEST_HTTPS_WRONG_NAME")
        let http = try RedisTestServers.variable("FERRY_TEST_HTTP")
        let started = Date()
        // The certificate is issued by the trusted CA, but for another name.
        #expect { _ = try RemoteSources.open("\(wrongName)/part1.rdb") } throws: { error in
            guard let error = error as? FerryError else { return false }
            return error.code == .importError && error.message.contains("127.0.0.1")
                && error.message.contains("does not verify") && error.message.contains("mismatch")
        }
        // An untrusted issuer: a self-signed certificate for 127.0.0.1 that no CA in the trust store
        // issued (a server of its own, not a changed SSL_CERT_FILE: suites run in parallel).
        let untrusted = try RedisTestServers.variable("FERRY_TEST_HTTPS_UNTRUSTED")
        #expect { _ = try RemoteSources.open("\(untrusted)/part1.rdb") } throws: { error in
            guard let error = error as? FerryError else { return false }
            return error.code == .importError && error.message.contains("127.0.0.1")
                && error.message.contains("does not verify") && error.message.contains("self-signed")
        }
        // A server that does not speak TLS.
        let httpAsHTTPS = http.replacingOccurrences(of: "http://", with: "https://")
        #expect { _ = try RemoteSources.open("\(httpAsHTTPS)/part1.rdb") } throws: { error in
            guard let error = error as? FerryError else { return false }
            return error.code == .importError && error.message.contains("TLS handshake")
        }
        let plainRedis = try RedisTestServers.variable("FERRY_TEST_REDIS_A").replacingOccurrences(of: "redis://", with: "rediss://")
        let target = ConnectionTarget(instance: InstanceSpec(name: "redis-a-tls", engine: .redis, url: plainRedis), password: nil)
        // A plain Redis never answers a ClientHello (it waits for a newline): the handshake ends at the
        // connection's 10 s timeout with InstanceNotFound, not a hang.
        #expect { _ = try RedisEngine().connect(target) } throws: { error in
            guard let error = error as? FerryError else { return false }
            return error.code == .instanceNotFound && error.message.contains("TLS handshake")
        }
        #expect(Date().timeIntervalSince(started) < 30, "TLS failures must end within the connection timeout")
    }

    @Test func redissInstanceTakesImportsAndCopiesOut() throws {
        _ = try RedisTestServers.variable("SSL_CERT_FILE")
        let tls = try tlsSession()
        defer { tls.close() }
        // An import into a shadow of the TLS instance (RESTOREs pipelined over TLS).
        let fixture = try RDBFixture.make()
        defer { try? FileManager.default.removeItem(at: fixture.directory) }
        try tls.flushTestDatabase("11")
        let shadow = try tls.makeShadow(for: "11", runID: "run-tls-import")
        defer { try? tls.drop(shadow) }
        _ = try tls.importData(into: shadow, from: [.file(fixture.part1.path), .file(fixture.part2gz.path)],
                               format: .rdb, progress: ProgressCounter())
        #expect(try contents(of: tls, database: RedisOwnership.parse(shadow)!.database) == fixture.expected)
        try tls.drop(shadow)

        // A copy out of the TLS instance (its snapshot or SCAN, read over TLS) into B.
        try fillEveryType(tls, database: 11, prefix: "tls", count: 10)
        let expected = try contents(of: tls, database: 11)
        let b = try RedisTestServers.session("B")
        defer { b.close() }
        let copyShadow = try b.makeShadow(for: "11", runID: "run-tls-copy")
        defer { try? b.drop(copyShadow) }
        _ = try b.copyData(from: tls, database: "11", into: copyShadow, progress: ProgressCounter())
        #expect(try contents(of: b, database: RedisOwnership.parse(copyShadow)!.database) == expected)
        try b.drop(copyShadow)

        // A rediss:// import source.
        let url = try RedisTestServers.variable("FERRY_TEST_REDIS_TLS") + "/11"
        #expect(try importIntoShadow([.url(url)]).contents == expected)

        // The snapshot stream itself, read raw over TLS.
        let reader = try RedisSnapshotReader.open(tls.endpoint)
        defer { reader.close() }
        let stream = RDBStream(reader: reader, name: "tls snapshot")
        stream.onlyDatabase = 11
        try stream.readHeader()
        var count = 0
        while try stream.next() != nil { count += 1 }
        #expect(count == expected.count)
        try tls.flushTestDatabase("11")
    }
}
