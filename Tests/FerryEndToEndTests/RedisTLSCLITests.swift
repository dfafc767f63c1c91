import Foundation
import Testing

/// `ferry apply` over TLS: an RDB import from an `https:` source into a `rediss:` instance, against
/// the throwaway CA that scripts/redis-servers.sh makes and names in `SSL_CERT_FILE`. It uses only
/// the TLS redis-server (databases 2 and 4), so it can run beside `RedisCLITests`.
@Suite(.serialized) struct RedisTLSCLITests {
    struct Servers {
        var tls: String, port: String, https: String, serveDir: String, caFile: String
    }

    func servers() throws -> Servers {
        let env = ProcessInfo.processInfo.environment
        func need(_ name: String) throws -> String {
            try #require(env[name], "\(name) is not set: run the tests through scripts/test.sh")
        }
        let tls = try need("FERRY_TEST_REDIS_TLS")
        return Servers(tls: tls, port: String(URLComponents(string: tls)?.port ?? 6379), https: try need("FERRY_TEST_HTTPS"),
                       serveDir: try need("FERRY_TEST_SERVE_DIR"), caFile: try need("SSL_CERT_FILE"))
    }

    /// redis-cli over TLS on the TLS test server.
    @discardableResult
    func cli(_ project: Project, _ s: Servers, _ args: String) throws -> String {
        let result = try project.runShell("redis-cli --tls --cacert '\(s.caFile)' -p \(s.port) \(args)")
        #expect(result.code == 0, "\(result.all)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func httpsRDBImportIntoARedissInstance() throws {
        let project = try Project()
        let s = try servers()
        // The file is a snapshot of every database of the server: none but 2 may hold keys
        // (a checkpoint an earlier run kept would be imported too).
        try cli(project, s, "flushall")
        try cli(project, s, "-n 2 set greeting 'hello over tls'")
        try cli(project, s, "-n 2 set temp soon px 600000")
        try cli(project, s, "-n 2 rpush l a b c")
        for i in 0..<200 { try cli(project, s, "-n 2 hset bighash f\(i) \(i)") }
        let name = "e2e-tls-\(UUID().uuidString.prefix(8)).rdb"
        let file = s.serveDir + "/" + name
        defer { try? FileManager.default.removeItem(atPath: file) }
        try cli(project, s, "--rdb '\(file)'")
        try cli(project, s, "-n 2 flushdb")
        try cli(project, s, "-n 4 set existing 1")

        try project.write("plans/main.json", """
            { "ferry": 1,
              "instances": { "rt": { "engine": "redis", "url": "\(s.tls)" } },
              "imports": { "cache": { "into": "rt", "database": "4", "from": ["\(s.https)/\(name)"], "onExisting": "replace" } } }
            """)
        let planned = try project.run("plan")
        #expect(planned.code == 0, "\(planned.all)")
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        #expect(try cli(project, s, "-n 4 dbsize") == "4")
        #expect(try cli(project, s, "-n 4 get greeting") == "hello over tls")
        #expect(try cli(project, s, "-n 4 hlen bighash") == "200")
        #expect(try cli(project, s, "-n 4 lrange l 0 -1") == "a\nb\nc")
        #expect((Int(try cli(project, s, "-n 4 pttl temp")) ?? -2) > 0)
        #expect(try cli(project, s, "-n 4 exists existing") == "0")

        // A source whose certificate names another host fails the plan clearly and changes nothing.
        let wrong = try #require(ProcessInfo.processInfo.environment["FERRY_TEST_HTTPS_WRONG_NAME"],
                                 "FERRY_TEST_HTTPS_WRONG_NAME is not set: run scripts/test.sh")
        try project.write("plans/main.json", """
            { "ferry": 1,
              "instances": { "rt": { "engine": "redis", "url": "\(s.tls)" } },
              "imports": { "cache": { "into": "rt", "database": "4", "from": ["\(wrong)/\(name)"], "onExisting": "replace" } } }
            """)
        let refused = try project.run("apply", "--auto-approve")
        #expect(refused.code != 0, "\(refused.all)")
        #expect(refused.all.contains("ImportError") && refused.all.contains("does not verify"), "\(refused.all)")
        #expect(try cli(project, s, "-n 4 get greeting") == "hello over tls")
        for db in ["2", "4"] { try cli(project, s, "-n \(db) flushdb") }
    }
}
