import Foundation
import Testing

/// Issue 19's version points against a real server of another major version: a throwaway
/// PostgreSQL 16.2 cluster (`scripts/postgres-servers.sh start-extra NAME PORT --newer`, the
/// server and client programs of PyPI's `pgserver` wheel) beside the two PostgreSQL 15 clusters
/// Debian gives. What each server holds is read with psql, not taken from Ferry's word.
extension PostgresCLITests {
    /// The newer cluster's port: FERRY_TEST_PG_PORT_NEWER, else B's port + 5 (C, the TLS and the
    /// two connection-cap clusters take + 1 to + 4).
    func newerClusterPort(_ b: Server) -> String {
        ProcessInfo.processInfo.environment["FERRY_TEST_PG_PORT_NEWER"] ?? String((Int(b.port) ?? 25433) + 5)
    }

    /// A copy from PostgreSQL 15 into 16 with Debian's pg_dump 15 is refused at plan
    /// (`VersionMismatch`: a client older than the server, with the hint naming FERRY_PG_BIN);
    /// with the newer server's own programs (`FERRY_PG_BIN`) it goes through and every row is
    /// equal on both sides. A copy from 16 into 15 is refused at plan for the older target
    /// whichever programs are used, and for the client too with Debian's. Nothing changes on
    /// either server for a refused plan.
    @Test func crossVersionCopiesOlderTargetsAndOlderClients() throws {
        let project = try Project()
        let b = try server("FERRY_TEST_PG_B")
        let port = newerClusterPort(b)
        _ = postgresServerScript(project, "stop-extra newer")
        let started = project.startExtraServer("postgres-servers.sh", "newer \(port) --newer")
        try #require(started.code == 0, "cannot start the PostgreSQL 16 cluster: \(started.output)")
        defer { _ = postgresServerScript(project, "stop-extra newer") }
        let newerBin = try #require(started.output.split(separator: "\n").first { $0.hasPrefix("bin: ") }.map { String($0.dropFirst(5)) })
        let n = Server(url: "postgres://ferry@127.0.0.1:\(port)/postgres", host: "127.0.0.1", port: port)
        #expect(try sql(project, n, "postgres", "SHOW server_version_num;").hasPrefix("16"), "the extra cluster runs PostgreSQL 16")
        #expect(try sql(project, b, "postgres", "SHOW server_version_num;").hasPrefix("15"), "the test clusters run PostgreSQL 15")

        let tag = "pv" + UUID().uuidString.prefix(6).lowercased()
        try seed(project, b, tag)
        try seed(project, n, tag + "_new")
        try sql(project, n, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
        try sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)_new\" WITH (FORCE);")
        defer {
            for s in [b, n] {
                _ = try? sql(project, s, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); DROP DATABASE IF EXISTS \"\(tag)_new\" WITH (FORCE);")
            }
        }
        let rows = "SELECT md5(string_agg(x, ',' ORDER BY x)) FROM (SELECT ROW(i.*)::text AS x FROM items i UNION ALL SELECT ROW(n.*)::text FROM notes n UNION ALL SELECT ROW(m.*)::text FROM more m) s;"
        let databases = "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database;"
        let before = (try sql(project, b, "postgres", databases), try sql(project, n, "postgres", databases))

        // 15 → 16 with Debian's pg_dump 15: refused, nothing made.
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(instances(b, n)) },
              "copies": { "up": { "from": "src", "to": "dst", "databases": ["\(tag)"] } } }
            """)
        let oldClient = try project.run("plan")
        #expect(oldClient.code == 1 && oldClient.all.contains("VersionMismatch") && oldClient.all.contains("pg_dump 15 is older than the PostgreSQL 16 server of dst")
                && oldClient.all.contains("FERRY_PG_BIN"), "\(oldClient.all)")
        #expect(!oldClient.all.contains("older than source"), "16 is not older than 15: \(oldClient.all)")

        // 16 → 15, with either programs: refused for the older target; Debian's for the client too.
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(instances(n, b)) },
              "copies": { "down": { "from": "src", "to": "dst", "databases": ["\(tag)_new"] } } }
            """)
        let down = try project.run("plan")
        #expect(down.code == 1 && down.all.contains("target dst runs 15") && down.all.contains("older than source src (16")
                && down.all.contains("pg_dump 15 is older than the PostgreSQL 16 server of src"), "\(down.all)")
        project.environment["FERRY_PG_BIN"] = newerBin
        let downNewer = try project.run("apply", "--auto-approve")
        #expect(downNewer.code == 1 && downNewer.all.contains("older than source src (16") && !downNewer.all.contains("pg_dump 1"), "\(downNewer.all)")
        #expect(try sql(project, b, "postgres", databases) == before.0 && sql(project, n, "postgres", databases) == before.1, "a refused plan changes nothing")

        // 15 → 16 with the newer server's own pg_dump 16: the copy goes through.
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(instances(b, n)) },
              "copies": { "up": { "from": "src", "to": "dst", "databases": ["\(tag)"] } } }
            """)
        let up = try project.run("apply", "--auto-approve")
        #expect(up.code == 0 && up.all.contains("Apply complete"), "\(up.all)")
        #expect(try sql(project, n, tag, rows) == sql(project, b, tag, rows), "every row equal on both sides")
        #expect(try sql(project, n, tag, "SELECT last_value FROM items_id_seq;") == "20000\n", "the sequence carries the source's value (read without moving it)")
        let again = try project.run("plan")
        #expect(again.code == 0 && again.stdout.contains("No changes"), "\(again.all)")
        #expect(try sql(project, n, "postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE '%\\_\\_ferry\\_%';") == "0\n", "no shadow or checkpoint left")
    }
}
