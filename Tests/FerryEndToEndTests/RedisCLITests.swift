import Foundation
import Testing

/// `ferry` against the two Redis test servers (scripts/redis-servers.sh through scripts/test.sh).
/// scripts/test.sh runs the Redis engine suite in a separate phase, so these own the servers.
@Suite(.serialized) struct RedisCLITests {
    struct Servers {
        var a: String, b: String, aPort: String, bPort: String
    }

    func servers() throws -> Servers {
        let env = ProcessInfo.processInfo.environment
        let a = try #require(env["FERRY_TEST_REDIS_A"], "FERRY_TEST_REDIS_A is not set: run the tests through scripts/test.sh")
        let b = try #require(env["FERRY_TEST_REDIS_B"], "FERRY_TEST_REDIS_B is not set: run scripts/test.sh")
        _ = try #require(env["FERRY_TEST_REDIS_B_PASSWORD"], "FERRY_TEST_REDIS_B_PASSWORD is not set: run scripts/test.sh")
        return Servers(a: a, b: b, aPort: String(URLComponents(string: a)?.port ?? 6379), bPort: String(URLComponents(string: b)?.port ?? 6379))
    }

    /// redis-cli on a server (B's password from the environment, never on the command line).
    @discardableResult
    func cli(_ project: Project, _ port: String, _ args: String) throws -> String {
        let auth = port == (try servers().bPort) ? "REDISCLI_AUTH=\"$FERRY_TEST_REDIS_B_PASSWORD\" " : ""
        let result = try project.runShell("\(auth)redis-cli --no-auth-warning -p \(port) \(args)")
        #expect(result.code == 0, "\(result.all)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The numbered databases that hold keys on a server, e.g. ["db4"].
    func nonEmpty(_ project: Project, _ port: String) throws -> [String] {
        try cli(project, port, "info keyspace").split(whereSeparator: \.isNewline).filter { $0.hasPrefix("db") }
            .map { String($0.prefix { $0 != ":" }) }
    }

    func plan(_ s: Servers, _ body: String) -> String {
        """
        { "ferry": 1,
          "instances": {
            "ra": { "engine": "redis", "url": "\(s.a)" },
            "rb": { "engine": "redis", "url": "\(s.b)", "password": { "env": "FERRY_TEST_REDIS_B_PASSWORD" } }
          },
          \(body) }
        """
    }

    /// A type-aware view of a database: every key with its type, content and whether it expires.
    func contents(_ project: Project, _ port: String, db: String) throws -> [String] {
        let keys = try cli(project, port, "-n \(db) --scan").split(whereSeparator: \.isNewline).map(String.init).sorted()
        return try keys.map { key in
            let type = try cli(project, port, "-n \(db) type '\(key)'")
            let value: String = switch type {
            case "string": try cli(project, port, "-n \(db) get '\(key)'")
            case "list": try cli(project, port, "-n \(db) lrange '\(key)' 0 -1")
            case "set": try cli(project, port, "-n \(db) smembers '\(key)'").split(whereSeparator: \.isNewline).sorted().joined(separator: ",")
            case "zset": try cli(project, port, "-n \(db) zrange '\(key)' 0 -1 withscores")
            case "hash": try cli(project, port, "-n \(db) hgetall '\(key)'").split(whereSeparator: \.isNewline).map(String.init).chunked().sorted().joined(separator: ";")
            case "stream": try cli(project, port, "-n \(db) xrange '\(key)' - +")
            default: "?"
            }
            let ttl = Int(try cli(project, port, "-n \(db) pttl '\(key)'")) ?? -2
            return "\(key) \(type) \(value) \(ttl > 0 ? "expires" : "persistent")"
        }
    }

    func populate(_ project: Project, _ port: String, db: String) throws {
        try cli(project, port, "-n \(db) set s 'it''s a string'")
        try cli(project, port, "-n \(db) set temp soon px 600000")
        try cli(project, port, "-n \(db) rpush l a b c a")
        try cli(project, port, "-n \(db) sadd st x y z")
        try cli(project, port, "-n \(db) zadd z 1 one 2.5 two")
        try cli(project, port, "-n \(db) hset h f1 v1 f2 v2")
        try cli(project, port, "-n \(db) xadd x '*' k v")
        for i in 0..<300 { try cli(project, port, "-n \(db) hset bighash f\(i) \(i)") }
    }

    /// Fresh tester w12 F6 on Redis: a set's RDB file replaced by another valid one (a later
    /// set's, with keys more or fewer), its manifest's size and SHA-256 rewritten: the restored
    /// shadow does not hold the keys the manifest recorded, `VerifyFailed`, nothing swapped in and
    /// no shadow left. The later set itself restores, and a key with a TTL is allowed to expire.
    /// With over 100,000 keys elsewhere on the server the backup reads the database with SCAN,
    /// whose count is only an upper bound ("keys at most"): more keys are still refused.
    @Test(arguments: [("-n 3 mset k1 x k2 y k3 z k4 w k5 v", false), ("-n 3 del s l st", false), ("-n 3 mset k1 x k2 y k3 z k4 w k5 v", true)])
    func aSetFileSwappedWithItsManifestRewrittenIsNotRestored(_ change: String, scanned: Bool) throws {
        let project = try Project()
        let s = try servers()
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
        defer { if scanned { _ = try? cli(project, s.aPort, "-n 9 flushdb") } }
        try populate(project, s.aPort, db: "3")
        if scanned {
            let filled = try project.runShell("seq 1 100001 | awk '{print \"SET filler\" $1 \" x\"}' | redis-cli --no-auth-warning -p \(s.aPort) -n 9 --pipe")
            #expect(filled.code == 0, "\(filled.all)")
        }
        func plan(_ set: String?) -> String {
            let copies = set.map { ", \"copies\": { \"restore\": { \"from\": \"ra\", \"to\": \"rb\", \"databases\": { \"3\": \"5\" }, \"backup\": \"\($0)\" } }" } ?? ""
            return self.plan(s, "\"backups\": { \"nightly\": { \"of\": \"ra\", \"databases\": [\"3\"], \"to\": \"../backups\", \"keep\": 5 } }\(copies)")
        }
        func setID(_ taken: Project.Result) throws -> String {
            #expect(taken.code == 0, "\(taken.all)")
            return try #require(taken.stdout.components(separatedBy: "backup set ").dropFirst().first?.split(separator: " ").first.map(String.init), "\(taken.all)")
        }
        try project.write("plans/main.json", plan(nil))
        let first = try setID(try project.run("backup", "nightly"))
        #expect(project.read("backups/\(first)/manifest.json")?.contains("keys with a TTL") == true)
        #expect(project.read("backups/\(first)/manifest.json")?.contains("keys at most") == scanned)
        try cli(project, s.aPort, change)
        let second = try setID(try project.run("backup", "nightly"))
        try project.swapSetFile(in: "backups", of: first, withThatOf: second)
        try project.write("plans/main.json", plan(first))
        let refused = try project.run("apply", "--auto-approve")
        #expect(refused.code == 3, "\(refused.all)")
        #expect(refused.all.contains("VerifyFailed") && refused.all.contains("does not hold what the set's manifest recorded"), "\(refused.all)")
        #expect(try nonEmpty(project, s.bPort) == [], "nothing swapped in, no shadow stays")
        try project.write("plans/main.json", plan(second))
        let restored = try project.run("apply", "--auto-approve")
        #expect(restored.code == 0, "\(restored.all)")
        #expect(try contents(project, s.bPort, db: "5") == contents(project, s.aPort, db: "3"))
    }

    /// The source's fingerprint is its content token (exact up to the key limit): an unchanged
    /// source plans nothing, a changed one replaces; over the limit the plan says the source may
    /// have changed (F1 of the round-2 writes-during-run tester: every plan replaced again).
    @Test func copyKeepsEveryTypeAndTTLAndReplansOnlyWhenTheSourceChanged() throws {
        let project = try Project()
        let s = try servers()
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
        try populate(project, s.aPort, db: "3")
        #expect(try project.run("state", "keep", "0").code == 0)
        try project.write("plans/main.json", plan(s, "\"copies\": { \"c\": { \"from\": \"ra\", \"to\": \"rb\", \"databases\": { \"3\": \"4\" }, \"onExisting\": \"replace\" } }"))
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let source = try contents(project, s.aPort, db: "3")
        #expect(source.count == 8)
        #expect(try contents(project, s.bPort, db: "4") == source)
        // Only databases 4 (and none of the shadows) hold data on B.
        let leftdb4 = try nonEmpty(project, s.bPort)
        #expect(leftdb4 == ["db4"], "\(leftdb4)")
        let unchanged = try project.run("plan", "--detailed-exitcode")
        #expect(unchanged.code == 0 && unchanged.all.contains("No changes"), "\(unchanged.all)")
        try cli(project, s.aPort, "-n 3 hset h f1 changed")
        let changed = try project.run("plan", "--detailed-exitcode")
        #expect(changed.code == 2 && changed.all.contains("source changed") && !changed.all.contains("may have"), "\(changed.all)")
        // Over the key limit Redis cannot prove the source unchanged: the plan says so.
        project.environment["FERRY_REDIS_EXACT_FINGERPRINT_KEYS"] = "2"
        let again = try project.run("plan")
        project.environment["FERRY_REDIS_EXACT_FINGERPRINT_KEYS"] = nil
        #expect(again.stdout.contains("source may have changed"), "\(again.all)")
        let secret = ProcessInfo.processInfo.environment["FERRY_TEST_REDIS_B_PASSWORD"]!
        #expect(!applied.all.contains(secret) && !again.all.contains(secret))
    }

    @Test func rdbImportFromPartsAndOnExistingRules() throws {
        let project = try Project()
        let s = try servers()
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
        try populate(project, s.aPort, db: "0")
        try cli(project, s.aPort, "--rdb \(project.root)/plans/data/part1.rdb")
        try cli(project, s.aPort, "flushall")
        try cli(project, s.aPort, "set only-in-part-2 yes")
        try cli(project, s.aPort, "--rdb \(project.root)/plans/data/part2.rdb")
        _ = try project.runShell("gzip plans/data/part2.rdb")
        try cli(project, s.bPort, "-n 5 set existing 1")
        let body = "\"imports\": { \"cache\": { \"into\": \"rb\", \"database\": \"5\", \"from\": [\"data/part1.rdb\", \"data/part2.rdb.gz\"] } }"
        try project.write("plans/main.json", plan(s, body))
        let refused = try project.run("plan")
        #expect(refused.code == 1 && refused.stderr.contains("NameConflict"), "\(refused.all)")
        try project.write("plans/main.json", plan(s, body.replacingOccurrences(of: "\"database\": \"5\"", with: "\"database\": \"5\", \"onExisting\": \"replace\"")))
        let warned = try project.run("plan")
        #expect(warned.code == 0, "\(warned.all)")
        #expect(warned.all.contains("replaces everything in it"), "\(warned.all)")
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        #expect(try cli(project, s.bPort, "-n 5 dbsize") == "9")
        #expect(try cli(project, s.bPort, "-n 5 get only-in-part-2") == "yes")
        #expect(try cli(project, s.bPort, "-n 5 exists existing") == "0")
        #expect(try cli(project, s.bPort, "-n 5 hlen bighash") == "300")
    }

    @Test func corruptRDBIsImportErrorAndChangesNothing() throws {
        let project = try Project()
        let s = try servers()
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
        try populate(project, s.aPort, db: "0")
        try cli(project, s.aPort, "--rdb \(project.root)/plans/data/good.rdb")
        var bytes = try #require(project.fileBytes("plans/data/good.rdb"))
        bytes = bytes.prefix(bytes.count / 2)
        try bytes.write(to: URL(fileURLWithPath: project.root + "/plans/data/cut.rdb"))
        try cli(project, s.bPort, "-n 6 set keep me")
        try project.write("plans/main.json", plan(s, "\"imports\": { \"bad\": { \"into\": \"rb\", \"database\": \"6\", \"from\": [\"data/good.rdb\", \"data/cut.rdb\"], \"onExisting\": \"replace\" } }"))
        let result = try project.run("apply", "--auto-approve")
        #expect(result.code == 3, "\(result.all)")
        #expect(result.all.contains("ImportError") && result.all.contains("offset"), "\(result.all)")
        #expect(try cli(project, s.bPort, "-n 6 dbsize") == "1")
        #expect(try cli(project, s.bPort, "-n 6 get keep") == "me")
        let leftdb6 = try nonEmpty(project, s.bPort)
        #expect(leftdb6 == ["db6"], "\(leftdb6)")
    }

    @Test func aTargetThatFailsMidCopyRollsBackToTheOldData() throws {
        let project = try Project()
        let s = try servers()
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
        // 20 MB on the source; the target has room for a few MB more than it holds now.
        try cli(project, s.aPort, "-n 3 eval \"for i=1,20000 do redis.call('set','k'..i,string.rep('v',1000)) end\" 0")
        try populate(project, s.bPort, db: "4")
        let before = try contents(project, s.bPort, db: "4")
        let used = try cli(project, s.bPort, "info memory").split(whereSeparator: \.isNewline)
            .first { $0.hasPrefix("used_memory:") }.flatMap { Int($0.dropFirst("used_memory:".count)) } ?? 0
        #expect(used > 0)
        try cli(project, s.bPort, "config set maxmemory-policy noeviction")
        try cli(project, s.bPort, "config set maxmemory \(used + 4_000_000)")
        defer { _ = try? cli(project, s.bPort, "config set maxmemory 0") }
        #expect(try project.run("state", "keep", "0").code == 0)
        try project.write("plans/main.json", plan(s, "\"copies\": { \"c\": { \"from\": \"ra\", \"to\": \"rb\", \"databases\": { \"3\": \"4\" }, \"onExisting\": \"replace\" } }"))
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 3, "\(applied.all)")
        #expect(applied.all.contains("CopyError"), "\(applied.all)")
        #expect(applied.all.contains("OOM"), "\(applied.all)")
        try cli(project, s.bPort, "config set maxmemory 0")
        // The old data is back where it was, and no shadow is left behind.
        #expect(try contents(project, s.bPort, db: "4") == before)
        #expect(try nonEmpty(project, s.bPort) == ["db4"])
        #expect(try project.run("plan").code == 0)
    }

    @Test func wrongPasswordIsAPlanError() throws {
        let project = try Project()
        let s = try servers()
        project.environment["FERRY_TEST_REDIS_B_PASSWORD"] = "not-the-password"
        try project.write("plans/main.json", plan(s, "\"copies\": { \"c\": { \"from\": \"ra\", \"to\": \"rb\", \"databases\": [\"1\"] } }"))
        let result = try project.run("plan")
        #expect(result.code == 1)
        #expect(result.stderr.contains("OperationDenied.WrongPassword"), "\(result.all)")
        #expect(!result.all.contains("not-the-password"))
    }

    /// Fresh tester round 41, F9: an import from a `redis://` server that refuses the import's
    /// credentials was planned as a change ("cannot tell"), refused only at apply. The plan
    /// opens the source with those credentials and fails (exit 1, `WrongPassword` at the
    /// import's `from`, no secret shown): no password given, a wrong one; the right one plans.
    @Test(arguments: [("none", ""), ("wrong", ":${env:FERRY_TEST_WRONG_PW}@"), ("right", ":${env:FERRY_TEST_REDIS_B_PASSWORD}@")])
    func anImportSourceThatRefusesItsCredentialsIsAPlanError(_ label: String, _ userinfo: String) throws {
        let project = try Project()
        let s = try servers()
        project.environment["FERRY_TEST_WRONG_PW"] = "not-the-b-password"
        try project.write("plans/main.json", plan(s, "\"imports\": { \"i\": { \"into\": \"ra\", \"database\": \"5\", \"from\": \"redis://\(userinfo)127.0.0.1:\(s.bPort)/1\" } }"))
        let result = try project.run("plan")
        if label == "right" {
            #expect(result.code == 0 && !result.all.contains("WrongPassword"), "\(result.all)")
            #expect(result.stdout.contains("import.i"), "\(result.all)")
        } else {
            #expect(result.code == 1 && result.stderr.contains("OperationDenied.WrongPassword") && result.stderr.contains("the import's source"), "\(label): \(result.all)")
            #expect(result.stderr.contains("imports.i.from") || result.stderr.contains("main.json:"), "at the import's from: \(result.all)")
            #expect(!result.all.contains("not-the-b-password") && !result.all.contains(ProcessInfo.processInfo.environment["FERRY_TEST_REDIS_B_PASSWORD"]!), "\(result.all)")
        }
    }

    @Test func killDuringAnImportThenRecover() throws {
        let project = try Project()
        let s = try servers()
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
        // 400,000 keys through a pipe (DEBUG POPULATE is disabled on Redis 7).
        try project.write("gen.py", """
        import sys
        out = sys.stdout
        for i in range(400000):
            key = "key:%d" % i
            out.write("*3\\r\\n$3\\r\\nSET\\r\\n$%d\\r\\n%s\\r\\n$64\\r\\n%s\\r\\n" % (len(key), key, "v" * 64))
        """)
        let load = try project.runShell("python3 gen.py | redis-cli -p \(s.aPort) --pipe")
        #expect(load.code == 0, "\(load.all)")
        #expect(try cli(project, s.aPort, "dbsize") == "400000")
        try cli(project, s.aPort, "--rdb \(project.root)/plans/data/big.rdb")
        try cli(project, s.bPort, "-n 7 set old value")
        #expect(try project.run("state", "keep", "0").code == 0)
        try project.write("plans/main.json", plan(s, "\"imports\": { \"big\": { \"into\": \"rb\", \"database\": \"7\", \"from\": \"data/big.rdb\", \"onExisting\": \"replace\" } }"))
        let process = try project.start(["apply", "--auto-approve"])
        let deadline = Date().addingTimeInterval(60)
        func journal() -> String {
            let runs = (try? FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs")) ?? []
            return runs.compactMap { project.read(".ferry/runs/\($0)/journal.jsonl") }.joined()
        }
        while !journal().contains("shadowCreated") && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
        Thread.sleep(forTimeInterval: 0.2)
        process.signal(SIGKILL)
        process.waitUntilExit()
        let refused = try project.run("plan")
        #expect(refused.code == 1 && refused.stderr.contains("RunInterrupted"), "\(refused.all) journal: \(journal())")
        let recovered = try project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        #expect(try cli(project, s.bPort, "-n 7 dbsize") == "1")
        #expect(try cli(project, s.bPort, "-n 7 get old") == "value")
        let leftdb7 = try nonEmpty(project, s.bPort)
        #expect(leftdb7 == ["db7"], "\(leftdb7)")
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        #expect(try cli(project, s.bPort, "-n 7 dbsize") == "400000")
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
    }
    /// The tester's case: an application writes into the shadow database while a copy builds it,
    /// ferry is killed; `recover` must leave that database (and the key) and say it needs a hand.
    @Test func anApplicationKeyWrittenIntoTheShadowSurvivesRecover() throws {
        let project = try Project()
        let s = try servers()
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
        try project.write("gen.py", """
        import sys
        out = sys.stdout
        out.write("*2\\r\\n$6\\r\\nSELECT\\r\\n$1\\r\\n3\\r\\n")
        for i in range(300000):
            key = "key:%d" % i
            out.write("*3\\r\\n$3\\r\\nSET\\r\\n$%d\\r\\n%s\\r\\n$32\\r\\n%s\\r\\n" % (len(key), key, "v" * 32))
        """)
        let load = try project.runShell("python3 gen.py | redis-cli -p \(s.aPort) --pipe")
        #expect(load.code == 0, "\(load.all)")
        #expect(try cli(project, s.aPort, "-n 3 dbsize") == "300000")
        try cli(project, s.bPort, "-n 3 set old value")
        #expect(try project.run("state", "keep", "0").code == 0)
        try project.write("plans/main.json", plan(s, "\"copies\": { \"c\": { \"from\": \"ra\", \"to\": \"rb\", \"databases\": { \"3\": \"3\" }, \"onExisting\": \"replace\" } }"))
        let process = try project.start(["apply", "--auto-approve"])
        let deadline = Date().addingTimeInterval(60)
        var shadowDB: Int?
        while shadowDB == nil && Date() < deadline {
            for n in stride(from: 15, through: 0, by: -1) where n != 3 {
                if !(try cli(project, s.bPort, "-n \(n) --scan --pattern '__ferry:shadow:*'")).isEmpty { shadowDB = n; break }
            }
        }
        let db = try #require(shadowDB, "no shadow appeared")
        try cli(project, s.bPort, "-n \(db) set app:session:1 important")
        process.signal(SIGKILL)
        process.waitUntilExit()
        #expect(try cli(project, s.bPort, "-n 3 get old") == "value", "the copy was not swapped in before the kill")
        let recovered = try project.run("recover")
        #expect(recovered.code == 4, "\(recovered.all)")
        #expect(!recovered.all.contains("as they were"), "\(recovered.all)")
        #expect(recovered.all.contains("did not write"), "\(recovered.all)")
        #expect(try cli(project, s.bPort, "-n \(db) get app:session:1") == "important")
        #expect(try cli(project, s.bPort, "-n 3 dbsize") == "1")
        #expect(try cli(project, s.bPort, "-n 3 get old") == "value")
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
    }
}

extension Array where Element == String {
    /// Pairs of a flat field/value list, joined as `field=value`.
    func chunked() -> [String] {
        stride(from: 0, to: count - 1, by: 2).map { "\(self[$0])=\(self[$0 + 1])" }
    }
}
