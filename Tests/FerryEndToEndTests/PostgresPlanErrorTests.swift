import Foundation
import Testing

/// Issue 19's checks "storage limit", "name clash" and "unknown host" through `ferry plan` and
/// `ferry apply` on the PostgreSQL test clusters (SPEC §3, plan-time errors): each is refused
/// with its code, and apply changes nothing.
extension PostgresCLITests {
    @Test func storageLimitNameClashAndUnknownHostArePlanErrors() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_PG_A"), b = try server("FERRY_TEST_PG_B")
        let tag = "pe" + UUID().uuidString.prefix(6).lowercased()
        try seed(project, a, tag)
        try sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); DROP DATABASE IF EXISTS \"\(tag)_taken\" WITH (FORCE); CREATE DATABASE \"\(tag)_taken\";")
        try sql(project, b, "\(tag)_taken", "CREATE TABLE mine (x int); INSERT INTO mine VALUES (7);")
        defer {
            _ = try? sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
            _ = try? sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); DROP DATABASE IF EXISTS \"\(tag)_taken\" WITH (FORCE);")
        }
        let untouched = try databases(project, b, like: "\(tag)%")
        func plan(target: String = "", databases: String, copy: String = "") -> String {
            """
            { "ferry": 1, "instances": {
                "src": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } },
                "dst": { "engine": "postgres", "url": "\(b.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" }\(target) } },
              "copies": { "mirror": { "from": "src", "to": "dst", "databases": \(databases)\(copy) } } }
            """
        }

        // A storageLimit too small for what the copy brings.
        try project.write("plans/main.json", plan(target: #", "storageLimit": "16 KiB""#, databases: "[\"\(tag)\"]"))
        let limited = try project.run("plan")
        #expect(limited.code == 1 && limited.stderr.contains("error[StorageLimitExceeded]")
                && limited.stderr.contains("instances.dst.storageLimit"), "\(limited.all)")
        let refused = try project.run("apply", "--auto-approve")
        #expect(refused.code != 0 && refused.stderr.contains("StorageLimitExceeded"), "\(refused.all)")
        #expect(try databases(project, b, like: "\(tag)%") == untouched, "a refused apply changes nothing")

        // A target that exists and is not this copy's: NameConflict unless onExisting allows it.
        try project.write("plans/main.json", plan(databases: "{ \"\(tag)\": \"\(tag)_taken\" }"))
        let clash = try project.run("plan")
        #expect(clash.code == 1 && clash.stderr.contains("error[NameConflict]") && clash.stderr.contains("\(tag)_taken")
                && clash.stderr.contains("onExisting"), "\(clash.all)")
        #expect(try project.run("apply", "--auto-approve").code != 0)
        #expect(try sql(project, b, "\(tag)_taken", "SELECT x FROM mine;") == "7\n")

        // A host name that does not resolve (`.invalid` never does, RFC 6761): the instance
        // cannot be reached, said with its name and no password.
        let unknown = plan(databases: "[\"\(tag)\"]").replacingOccurrences(of: b.url, with: "postgres://ferry@no-such-host.invalid:\(b.port)/postgres")
        try project.write("plans/main.json", unknown)
        let unreachable = try project.run("plan")
        #expect(unreachable.code == 1 && unreachable.stderr.contains("InstanceNotFound") && unreachable.stderr.contains("no-such-host.invalid")
                && !unreachable.all.contains(ProcessInfo.processInfo.environment["FERRY_TEST_PG_PASSWORD"] ?? "\u{0}"), "\(unreachable.all)")
        #expect(try databases(project, b, like: "\(tag)%") == untouched)
    }
}
