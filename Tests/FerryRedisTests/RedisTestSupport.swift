import FerryCore
import FerryIO
import Foundation
import Testing
@testable import FerryRedis

/// The servers `scripts/redis-servers.sh` starts, read from the environment.
enum RedisTestServers {
    static func variable(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            Issue.record("\(name) is not set: run scripts/test.sh (or scripts/redis-servers.sh start and source $FERRY_TEST_RUNTIME/redis-servers.env)")
            throw FerryError(.internalError, "\(name) is not set")
        }
        return value
    }

    static func target(_ which: String) throws -> ConnectionTarget {
        let url = try variable("FERRY_TEST_REDIS_\(which)")
        let password = which == "B" ? try variable("FERRY_TEST_REDIS_B_PASSWORD") : nil
        return ConnectionTarget(instance: InstanceSpec(name: "redis-\(which.lowercased())", engine: .redis, url: url),
                                password: password)
    }

    static func session(_ which: String) throws -> RedisSession {
        try #require(try RedisEngine().connect(target(which)) as? RedisSession)
    }

    static func port(_ which: String) throws -> String {
        let url = try variable("FERRY_TEST_REDIS_\(which)")
        return String(url.split(separator: ":").last ?? "")
    }

    /// Runs redis-cli against server A or B with the given arguments.
    @discardableResult
    static func cli(_ which: String, _ args: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        var all = ["redis-cli", "-p", try port(which)]
        var environment = ProcessInfo.processInfo.environment
        if which == "B" { environment["REDISCLI_AUTH"] = try variable("FERRY_TEST_REDIS_B_PASSWORD") }
        process.environment = environment
        all += args
        process.arguments = all
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

/// Type-aware contents of every key of a database (sets and hashes sorted), with "has a TTL".
func contents(of session: RedisSession, database: Int) throws -> [String: String] {
    try session.select(database)
    let connection = session.connection
    var result: [String: String] = [:]
    var cursor = "0"
    repeat {
        let reply = try connection.command("SCAN", cursor, "COUNT", "1000").elements
        cursor = reply[0].string ?? "0"
        for key in reply[1].elements.compactMap(\.string) where !key.hasPrefix("__ferry:") {
            let type = try connection.command("TYPE", key).string ?? ""
            let ttl = try connection.command("PTTL", key).integer ?? -2
            let content: String
            switch type {
            case "string": content = try connection.command("GET", key).string ?? ""
            case "list": content = try connection.command("LRANGE", key, "0", "-1").elements.compactMap(\.string).joined(separator: "|")
            case "set": content = try connection.command("SMEMBERS", key).elements.compactMap(\.string).sorted().joined(separator: "|")
            case "zset": content = try connection.command("ZRANGE", key, "0", "-1", "WITHSCORES").elements.compactMap(\.string).joined(separator: "|")
            case "hash":
                let flat = try connection.command("HGETALL", key).elements.compactMap(\.string)
                content = stride(from: 0, to: flat.count, by: 2).map { "\(flat[$0])=\(flat[$0 + 1])" }.sorted().joined(separator: "|")
            case "stream":
                content = try connection.command("XRANGE", key, "-", "+").elements.map { entry in
                    entry.elements.map { $0.string ?? $0.elements.compactMap(\.string).joined(separator: ",") }.joined(separator: ":")
                }.joined(separator: "|")
                    + "#groups=" + (try connection.command("XINFO", "GROUPS", key).elements.count).description
            default: content = "?"
            }
            result[key] = "\(type):\(ttl >= 0 ? "ttl" : "none"):\(content)"
        }
    } while cursor != "0"
    return result
}

/// Fills a database with every type: small and large encodings, TTLs, a stream with a group.
func fillEveryType(_ session: RedisSession, database: Int, prefix: String, count: Int = 50) throws {
    try session.select(database)
    let c = session.connection
    for i in 0..<count {
        c.send("SET", "\(prefix)str:\(i)", "value-\(i)-" + String(repeating: "x", count: i * 3))
        c.send("SET", "\(prefix)int:\(i)", String(i * 1000))
        c.send("RPUSH", "\(prefix)list:\(i)", "a", "b", String(i))
        c.send("SADD", "\(prefix)intset:\(i)", "1", "2", String(i + 3))
        c.send("SADD", "\(prefix)set:\(i)", "red", "green", "blue-\(i)")
        c.send("ZADD", "\(prefix)zset:\(i)", "1.5", "one", "2", "two", String(i), "m\(i)")
        c.send("HSET", "\(prefix)hash:\(i)", "f1", "v1", "f2", String(i))
        c.send("XADD", "\(prefix)stream:\(i)", "*", "field", "value-\(i)")
    }
    for i in 0..<count where i % 5 == 0 {
        c.send("PEXPIRE", "\(prefix)str:\(i)", "3600000")
        c.send("EXPIRE", "\(prefix)hash:\(i)", "7200")
    }
    // Hash-table encodings: more members than the listpack limits.
    for j in 0..<300 {
        c.send("SADD", "\(prefix)bigset", "member-\(j)")
        c.send("HSET", "\(prefix)bighash", "field-\(j)", String(repeating: "v", count: j % 80))
        c.send("ZADD", "\(prefix)bigzset", String(j), "m-\(j)")
        c.send("RPUSH", "\(prefix)biglist", "item-\(j)-" + String(repeating: "z", count: 70))
    }
    c.send("XGROUP", "CREATE", "\(prefix)stream:0", "readers", "0")
    try c.flush()
    try c.drain()
}

extension RedisSession {
    /// Empties a numbered database the tests use as a user's database (Ferry's own `drop` only
    /// flushes databases it can prove it made).
    func flushTestDatabase(_ database: String) throws {
        try select(try number(of: database))
        try run("FLUSHDB")
    }
}
