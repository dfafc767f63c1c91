import Foundation
import Testing

/// `maxConnections` (SPEC §2: a cap on Ferry's concurrent connections to an instance) on
/// PostgreSQL, enforced by the server itself: throwaway clusters started with
/// `max_connections` equal to the plan's cap and no reserved slots
/// (`scripts/postgres-servers.sh start-extra NAME PORT --max-connections N`), so that one
/// connection over the cap fails the run with "sorry, too many clients already".
extension PostgresCLITests {
    func cappedCluster(_ project: Project, _ name: String, port: String, connections: Int) throws -> Server {
        _ = postgresServerScript(project, "stop-extra \(name)")
        let started = project.startExtraServer("postgres-servers.sh", "\(name) \(port) --max-connections \(connections)")
        try #require(started.code == 0, "cannot start the capped cluster \(name): \(started.output)")
        return Server(url: "postgres://ferry@127.0.0.1:\(port)/postgres", host: "127.0.0.1", port: port)
    }

    /// The clusters `capa` and `capb` (ports `FERRY_TEST_PG_PORT_CAP_A`/`_B`, default `_B` + 3
    /// and + 4) holding `a` and `b` connections, for `body`; stopped after it.
    func withCappedClusters(_ project: Project, a: Int, b: Int, _ body: (Server, Server) throws -> Void) throws {
        let main = try server("FERRY_TEST_PG_B")
        let env = ProcessInfo.processInfo.environment
        let portA = env["FERRY_TEST_PG_PORT_CAP_A"] ?? String((Int(main.port) ?? 25433) + 3)
        let portB = env["FERRY_TEST_PG_PORT_CAP_B"] ?? String((Int(main.port) ?? 25433) + 4)
        let ca = try cappedCluster(project, "capa", port: portA, connections: a)
        defer { _ = postgresServerScript(project, "stop-extra capa") }
        let cb = try cappedCluster(project, "capb", port: portB, connections: b)
        defer { _ = postgresServerScript(project, "stop-extra capb") }
        try body(ca, cb)
    }

    func seedTables(_ project: Project, _ server: Server, _ database: String) throws {
        try sql(project, server, "postgres", "DROP DATABASE IF EXISTS \"\(database)\" WITH (FORCE); CREATE DATABASE \"\(database)\";")
        try sql(project, server, database, (1...4).map { i in
            "CREATE TABLE t\(i) (id bigint PRIMARY KEY, v text); INSERT INTO t\(i) SELECT g, repeat('v', 50) || g FROM generate_series(1, 20000 * \(i)) g;"
        }.joined(separator: "\n"))
    }

    /// Two clusters that take 4 connections each: copies both ways between them and an import
    /// into one, in one apply with `maxConnections: 4` on both instances, go through (each
    /// step's workers take what the cap leaves, and one step at a time runs on a capped
    /// instance); a copy within one instance under `maxConnections: 7` on a cluster that takes 7
    /// does too. Plans refuse a cap under 4 (`validate`, with the field's place) and a copy within
    /// one instance under 7 (`plan`).
    @Test func maxConnectionsIsACapTheServerSees() throws {
        let project = try Project()
        try withCappedClusters(project, a: 4, b: 7) { ca, cb in
            let tag = "pcap" + UUID().uuidString.prefix(6).lowercased()
            try seedTables(project, ca, "\(tag)_a")
            try seedTables(project, cb, "\(tag)_b")
            try project.write("plans/data/imp.sql", (1...3).map { i in
                "CREATE TABLE i\(i) (id int PRIMARY KEY, v text);\nINSERT INTO i\(i) SELECT g, 'row ' || g FROM generate_series(1, 5000) g;"
            }.joined(separator: "\n") + "\n")
            func instance(_ server: Server, cap: Int) -> String {
                "{ \"engine\": \"postgres\", \"url\": \"\(server.url)\", \"password\": { \"env\": \"FERRY_TEST_PG_PASSWORD\" }, \"maxConnections\": \(cap) }"
            }
            try project.write("plans/main.json", """
                { "ferry": 1, "instances": { "a": \(instance(ca, cap: 4)), "b": \(instance(cb, cap: 4)) },
                  "imports": { "i": { "into": "a", "database": "\(tag)_imp", "from": "data/imp.sql", "owner": "ferry_plain" } },
                  "copies": { "ab": { "from": "a", "to": "b", "databases": { "\(tag)_a": "\(tag)_a_copy" } },
                              "ba": { "from": "b", "to": "a", "databases": { "\(tag)_b": "\(tag)_b_copy" } } } }
                """)
            let applied = try project.run("apply", "--auto-approve")
            #expect(applied.code == 0 && !applied.all.contains("too many clients"), "\(applied.all)")
            let sums = "SELECT string_agg(n::text, ',' ORDER BY n) FROM (SELECT count(*) AS n FROM t1 UNION ALL SELECT count(*) FROM t2 UNION ALL SELECT count(*) FROM t3 UNION ALL SELECT count(*) FROM t4) s;"
            #expect(try sql(project, cb, "\(tag)_a_copy", sums, expectSuccess: false) == "20000,40000,60000,80000\n")
            #expect(try sql(project, ca, "\(tag)_b_copy", sums, expectSuccess: false) == "20000,40000,60000,80000\n")
            #expect(try sql(project, ca, "\(tag)_imp", "SELECT count(*) FROM i3;", expectSuccess: false) == "5000\n")

            // One instance on both sides of a copy, under a cap of 7 the server holds too.
            let within = try Project()
            try within.write("plans/main.json", """
                { "ferry": 1, "instances": { "b": \(instance(cb, cap: 7)) },
                  "copies": { "twin": { "from": "b", "to": "b", "databases": { "\(tag)_b": "\(tag)_b_twin" } } } }
                """)
            let twin = try within.run("apply", "--auto-approve")
            #expect(twin.code == 0 && !twin.all.contains("too many clients"), "\(twin.all)")
            #expect(try sql(project, cb, "\(tag)_b_twin", sums, expectSuccess: false) == "20000,40000,60000,80000\n")

            // Caps no step can keep.
            try within.write("plans/main.json", """
                { "ferry": 1, "instances": { "b": \(instance(cb, cap: 3)) },
                  "copies": { "twin": { "from": "b", "to": "b", "databases": { "\(tag)_b": "\(tag)_b_twin" } } } }
                """)
            let three = try within.run("validate")
            #expect(three.code != 0 && three.all.contains("InvalidParameter") && three.all.contains("maxConnections") && three.all.contains("at least 4"),
                    "\(three.all)")
            try within.write("plans/main.json", """
                { "ferry": 1, "instances": { "b": \(instance(cb, cap: 6)) },
                  "copies": { "twin2": { "from": "b", "to": "b", "databases": { "\(tag)_b": "\(tag)_b_twin2" } } } }
                """)
            let six = try within.run("plan")
            #expect(six.code != 0 && six.all.contains("InvalidParameter") && six.all.contains("at least 7"), "\(six.all)")
            #expect(try databases(project, cb, like: "\(tag)_b_twin2%") == "", "a refused plan makes nothing")
        }
    }

    /// A backup (`ferry backup`: `pg_dump` in Ferry's exported snapshot) and a copy from that set
    /// (`pg_restore` into the shadow), each under `maxConnections: 4` on clusters that take 4:
    /// neither goes over (the server would refuse "too many clients"), and the set restores the
    /// moment it was taken.
    @Test func aBackupAndARestoreFromItKeepTheCap() throws {
        let project = try Project()
        try withCappedClusters(project, a: 4, b: 4) { ca, cb in
            let tag = "pcapb" + UUID().uuidString.prefix(6).lowercased()
            try seedTables(project, ca, tag)
            func instance(_ server: Server) -> String {
                "{ \"engine\": \"postgres\", \"url\": \"\(server.url)\", \"password\": { \"env\": \"FERRY_TEST_PG_PASSWORD\" }, \"maxConnections\": 4 }"
            }
            func plan(copies: String) -> String {
                """
                { "ferry": 1, "instances": { "a": \(instance(ca)), "b": \(instance(cb)) },
                  "backups": { "nightly": { "of": "a", "databases": ["\(tag)"], "to": "../backups", "keep": 2 } }\(copies) }
                """
            }
            try project.write("plans/main.json", plan(copies: ""))
            let taken = try project.run("backup", "nightly")
            #expect(taken.code == 0 && !taken.all.contains("too many clients"), "\(taken.all)")
            let setID = try #require(taken.stdout.components(separatedBy: "backup set ").dropFirst().first?.split(separator: " ").first.map(String.init), "\(taken.all)")
            let sums = "SELECT string_agg(n::text, ',' ORDER BY n) FROM (SELECT count(*) AS n FROM t1 UNION ALL SELECT count(*) FROM t2 UNION ALL SELECT count(*) FROM t3 UNION ALL SELECT count(*) FROM t4) s;"
            #expect(try sql(project, ca, tag, sums, expectSuccess: false) == "20000,40000,60000,80000\n")
            try sql(project, ca, tag, "DELETE FROM t4 WHERE id > 10;")
            try project.write("plans/main.json", plan(copies: """
                ,
                  "copies": { "restore": { "from": "a", "to": "b", "databases": { "\(tag)": "\(tag)_restored" }, "backup": "\(setID)" } }
                """))
            let applied = try project.run("apply", "--auto-approve")
            #expect(applied.code == 0 && !applied.all.contains("too many clients"), "\(applied.all)")
            #expect(try sql(project, cb, "\(tag)_restored", sums, expectSuccess: false) == "20000,40000,60000,80000\n", "the moment of the set")
            #expect(try databases(project, cb, like: "\(tag)%") == "\(tag)_restored\n", "no shadow stays")
            // A second set under the cap: the retention (`keep: 2`) keeps both.
            let again = try project.run("backup", "nightly")
            #expect(again.code == 0 && !again.all.contains("too many clients"), "\(again.all)")
        }
    }
}
