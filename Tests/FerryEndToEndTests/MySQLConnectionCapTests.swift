import Foundation
import Testing

/// `maxConnections` (SPEC §2: a cap on Ferry's concurrent connections to an instance) on MariaDB,
/// enforced by the server itself: Ferry connects as an account made for the test with
/// `MAX_USER_CONNECTIONS` equal to the plan's cap, so that one connection over it fails the run
/// (error 1226, "has exceeded the 'max_user_connections' resource").
extension MySQLCLITests {
    /// An account `name`@127.0.0.1 on each of `servers` with every privilege and
    /// `MAX_USER_CONNECTIONS 4`; its password is in the project's `FERRY_CAP_PASSWORD`.
    func cappedAccount(_ project: Project, on servers: [Server], named name: String) throws -> String {
        let password = "cap-\(UUID().uuidString.prefix(12))"
        project.environment["FERRY_CAP_PASSWORD"] = password
        for server in servers {
            try sql(project, server, """
                DROP USER IF EXISTS '\(name)'@'127.0.0.1';
                CREATE USER '\(name)'@'127.0.0.1' IDENTIFIED BY '\(password)' WITH MAX_USER_CONNECTIONS 4;
                GRANT ALL PRIVILEGES ON *.* TO '\(name)'@'127.0.0.1' WITH GRANT OPTION;
                """)
        }
        return name
    }

    /// A copy between the two servers, an import and a copy within one instance, in one apply
    /// (three steps on one instance), go through under `maxConnections: 4` and `5` on a server
    /// that takes no more from that account; tables are big enough (over 16 MiB) for the
    /// verify's and the fingerprint's extra connections. `validate` refuses a cap under 4.
    @Test func maxConnectionsIsACapTheServerSees() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_MYSQL_A"), b = try server("FERRY_TEST_MYSQL_B")
        let tag = "mcap\(UUID().uuidString.prefix(6).lowercased())"
        let account = try cappedAccount(project, on: [a, b], named: "fcap_\(tag.suffix(6))")
        let names = ["\(tag)", "\(tag)_copy", "\(tag)_imp", "\(tag)_twin"]
        defer {
            for server in [a, b] {
                _ = try? sql(project, server, "DROP USER IF EXISTS '\(account)'@'127.0.0.1'; " + names.map { "DROP DATABASE IF EXISTS `\($0)`;" }.joined(separator: " "))
            }
        }
        try sql(project, a, "DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`;" + (1...4).map { i in
            "CREATE TABLE `\(tag)`.t\(i) (id INT PRIMARY KEY, v VARCHAR(200)); INSERT INTO `\(tag)`.t\(i) SELECT seq, REPEAT('x', 150) FROM `\(tag)`.seq_1_to_\(30000 * i);"
        }.joined(separator: "\n"))
        let dump = try project.runShell("MYSQL_PWD=\"$FERRY_TEST_MYSQL_PASSWORD\" mariadb-dump -h\(a.host) -P\(a.port) -u\(a.user) '\(tag)' > plans/data/imp.sql")
        try #require(dump.code == 0, "\(dump.all)")
        let counts = "SELECT CONCAT_WS(',', (SELECT COUNT(*) FROM t1), (SELECT COUNT(*) FROM t2), (SELECT COUNT(*) FROM t3), (SELECT COUNT(*) FROM t4));"

        for cap in [4, 5] {
            for server in [a, b] {
                try sql(project, server, "ALTER USER '\(account)'@'127.0.0.1' WITH MAX_USER_CONNECTIONS \(cap); DROP DATABASE IF EXISTS `\(tag)_copy`; DROP DATABASE IF EXISTS `\(tag)_imp`; DROP DATABASE IF EXISTS `\(tag)_twin`;")
            }
            let run = try Project()
            run.environment = project.environment
            try FileManager.default.createDirectory(atPath: run.root + "/plans/data", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: project.root + "/plans/data/imp.sql", toPath: run.root + "/plans/data/imp.sql")
            func instance(_ server: Server) -> String {
                "{ \"engine\": \"mysql\", \"url\": \"mysql://\(account)@\(server.host):\(server.port)\", \"password\": { \"env\": \"FERRY_CAP_PASSWORD\" }, \"maxConnections\": \(cap) }"
            }
            try run.write("plans/main.json", """
                { "ferry": 1, "instances": { "a": \(instance(a)), "b": \(instance(b)) },
                  "imports": { "i": { "into": "a", "database": "\(tag)_imp", "from": "data/imp.sql" } },
                  "copies": { "ab": { "from": "a", "to": "b", "databases": { "\(tag)": "\(tag)_copy" } },
                              "aa": { "from": "a", "to": "a", "databases": { "\(tag)": "\(tag)_twin" } } } }
                """)
            let applied = try run.run("apply", "--auto-approve")
            #expect(applied.code == 0 && !applied.all.contains("max_user_connections"), "maxConnections \(cap): \(applied.all)")
            #expect(try sql(project, b, "USE `\(tag)_copy`; " + counts) == "30000,60000,90000,120000\n")
            #expect(try sql(project, a, "USE `\(tag)_twin`; " + counts) == "30000,60000,90000,120000\n")
            #expect(try sql(project, a, "USE `\(tag)_imp`; " + counts) == "30000,60000,90000,120000\n")

            if cap == 4 {
                try run.write("plans/main.json", """
                    { "ferry": 1, "instances": { "a": \(instance(a).replacingOccurrences(of: "\"maxConnections\": 4", with: "\"maxConnections\": 3")) },
                      "imports": { "i": { "into": "a", "database": "\(tag)_imp", "from": "data/imp.sql" } } }
                    """)
                let three = try run.run("validate")
                #expect(three.code != 0 && three.all.contains("InvalidParameter") && three.all.contains("at least 4"), "\(three.all)")
            }
        }
    }

    /// A backup (`ferry backup`: Ferry's dump) and a copy from that set, each under
    /// `maxConnections: 4` for an account the server holds to 4: neither goes over (1226), and
    /// the set restores the moment it was taken.
    @Test func aBackupAndARestoreFromItKeepTheCap() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_MYSQL_A"), b = try server("FERRY_TEST_MYSQL_B")
        let tag = "mcapb\(UUID().uuidString.prefix(6).lowercased())"
        let account = try cappedAccount(project, on: [a, b], named: "fcapb_\(tag.suffix(6))")
        defer {
            for server in [a, b] {
                _ = try? sql(project, server, "DROP USER IF EXISTS '\(account)'@'127.0.0.1'; DROP DATABASE IF EXISTS `\(tag)`; DROP DATABASE IF EXISTS `\(tag)_restored`;")
            }
        }
        try sql(project, a, "DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`;" + (1...4).map { i in
            "CREATE TABLE `\(tag)`.t\(i) (id INT PRIMARY KEY, v VARCHAR(200)); INSERT INTO `\(tag)`.t\(i) SELECT seq, REPEAT('x', 150) FROM `\(tag)`.seq_1_to_\(30000 * i);"
        }.joined(separator: "\n"))
        let counts = "SELECT CONCAT_WS(',', (SELECT COUNT(*) FROM t1), (SELECT COUNT(*) FROM t2), (SELECT COUNT(*) FROM t3), (SELECT COUNT(*) FROM t4));"
        func instance(_ server: Server) -> String {
            "{ \"engine\": \"mysql\", \"url\": \"mysql://\(account)@\(server.host):\(server.port)\", \"password\": { \"env\": \"FERRY_CAP_PASSWORD\" }, \"maxConnections\": 4 }"
        }
        func plan(copies: String) -> String {
            """
            { "ferry": 1, "instances": { "a": \(instance(a)), "b": \(instance(b)) },
              "backups": { "nightly": { "of": "a", "databases": ["\(tag)"], "to": "../backups" } }\(copies) }
            """
        }
        try project.write("plans/main.json", plan(copies: ""))
        let taken = try project.run("backup", "nightly")
        #expect(taken.code == 0 && !taken.all.contains("max_user_connections"), "\(taken.all)")
        let setID = try #require(taken.stdout.components(separatedBy: "backup set ").dropFirst().first?.split(separator: " ").first.map(String.init), "\(taken.all)")
        try sql(project, a, "DELETE FROM `\(tag)`.t4 WHERE id > 10;")
        try project.write("plans/main.json", plan(copies: """
            ,
              "copies": { "restore": { "from": "a", "to": "b", "databases": { "\(tag)": "\(tag)_restored" }, "backup": "\(setID)" } }
            """))
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0 && !applied.all.contains("max_user_connections"), "\(applied.all)")
        #expect(try sql(project, b, "USE `\(tag)_restored`; " + counts) == "30000,60000,90000,120000\n", "the moment of the set")
    }
}
