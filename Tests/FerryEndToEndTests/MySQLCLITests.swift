import Foundation
import Testing

/// `ferry` against the two MariaDB test servers (scripts/mysql-servers.sh through scripts/test.sh).
@Suite(.serialized) struct MySQLCLITests {
    struct Server {
        var url: String
        var host: String
        var port: String
        var user: String
    }

    func server(_ variable: String) throws -> Server {
        let env = ProcessInfo.processInfo.environment
        let url = try #require(env[variable], "\(variable) is not set: run the tests through scripts/test.sh")
        _ = try #require(env["FERRY_TEST_MYSQL_PASSWORD"], "FERRY_TEST_MYSQL_PASSWORD is not set: run scripts/test.sh")
        let components = try #require(URLComponents(string: url))
        return Server(url: url, host: components.host ?? "127.0.0.1", port: String(components.port ?? 3306), user: components.user ?? "root")
    }

    /// Runs SQL with the mariadb client; returns its tab-separated output.
    @discardableResult
    func sql(_ project: Project, _ server: Server, _ statements: String) throws -> String {
        let file = project.root + "/setup-\(UUID().uuidString.prefix(6)).sql"
        try statements.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try project.runShell("MYSQL_PWD=\"$FERRY_TEST_MYSQL_PASSWORD\" mariadb -h\(server.host) -P\(server.port) -u\(server.user) -N -B < '\(file)'")
        #expect(result.code == 0, "\(result.all)")
        return result.stdout
    }

    func plan(_ a: Server, _ b: Server, password: String = "FERRY_TEST_MYSQL_PASSWORD", databases: String, users: String = "skip") -> String {
        """
        { "ferry": 1,
          "instances": {
            "src": { "engine": "mysql", "url": "\(a.url)", "password": { "env": "\(password)" } },
            "dst": { "engine": "mysql", "url": "\(b.url)", "password": { "env": "\(password)" } }
          },
          "copies": { "mirror": { "from": "src", "to": "dst", "databases": \(databases), "users": "\(users)", "onExisting": "replace" } } }
        """
    }

    @Test func copyWithRenameMapAndUsersThroughApply() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_MYSQL_A"), b = try server("FERRY_TEST_MYSQL_B")
        let tag = "e2e\(UUID().uuidString.prefix(6).lowercased())"
        try sql(project, a, """
        DROP DATABASE IF EXISTS `\(tag)_app`; CREATE DATABASE `\(tag)_app`;
        CREATE TABLE `\(tag)_app`.orders(id INT PRIMARY KEY, note VARCHAR(40), amount DECIMAL(10,2));
        INSERT INTO `\(tag)_app`.orders VALUES (1, 'it''s', 9.99), (2, NULL, 0.01), (3, 'back`tick', 100.00);
        CREATE USER IF NOT EXISTS '\(tag)_reader'@'%' IDENTIFIED BY 'pw-\(tag)';
        GRANT SELECT ON `\(tag)_app`.* TO '\(tag)_reader'@'%';
        """)
        try project.write("plans/main.json", plan(a, b, databases: "{ \"\(tag)_app\": \"\(tag)_copy\" }", users: "sync"))
        let planned = try project.run("plan")
        #expect(planned.code == 0, "\(planned.all)")
        #expect(planned.stdout.contains("src/\(tag)_app → dst/\(tag)_copy"))
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let source = try sql(project, a, "SELECT * FROM `\(tag)_app`.orders ORDER BY id;")
        let copied = try sql(project, b, "SELECT * FROM `\(tag)_copy`.orders ORDER BY id;")
        #expect(copied == source && !copied.isEmpty)
        let grants = try sql(project, b, "SHOW GRANTS FOR '\(tag)_reader'@'%';")
        #expect(grants.contains("`\(tag)_copy`"), "\(grants)")
        #expect(try project.run("plan", "--detailed-exitcode").code == 0)
        let schemas = try sql(project, b, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)%';")
        #expect(schemas.split(separator: "\n") == ["\(tag)_copy"], "no shadow schema stays after commit: \(schemas)")
        // Roll the committed run back: the copy did not exist before it.
        let runLine = try #require(applied.stdout.split(separator: "\n").first { $0.hasPrefix("Run ") })
        let reverted = try project.run("rollback", String(runLine.split(separator: " ")[1].dropLast()))
        #expect(reverted.code == 0, "\(reverted.all)")
        let after = try sql(project, b, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)%';")
        #expect(after.isEmpty, "\(after)")
        // No password in any output or file Ferry wrote.
        let secret = ProcessInfo.processInfo.environment["FERRY_TEST_MYSQL_PASSWORD"]!
        #expect(!applied.all.contains(secret))
        let written = try project.runShell("grep -rl -- \"$FERRY_TEST_MYSQL_PASSWORD\" .ferry || true")
        #expect(written.stdout.isEmpty, "secret found in \(written.stdout)")
        try sql(project, a, "DROP DATABASE `\(tag)_app`; DROP USER '\(tag)_reader'@'%';")
        try sql(project, b, "DROP DATABASE IF EXISTS `\(tag)_copy`; DROP USER IF EXISTS '\(tag)_reader'@'%';")
    }

    @Test func passwordInAnEnvironmentURLNeverReachesStateJournalOrOutput() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_MYSQL_A"), b = try server("FERRY_TEST_MYSQL_B")
        let tag = "sec\(UUID().uuidString.prefix(6).lowercased())"
        try sql(project, a, "DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`; CREATE TABLE `\(tag)`.t(x INT PRIMARY KEY); INSERT INTO `\(tag)`.t VALUES (1);")
        let password = ProcessInfo.processInfo.environment["FERRY_TEST_MYSQL_PASSWORD"]!
        func withPassword(_ s: Server) -> String { s.url.replacingOccurrences(of: "://\(s.user)@", with: "://\(s.user):${env:FERRY_TEST_MYSQL_PASSWORD}@") }
        try project.write("plans/main.json", """
        { "ferry": 1,
          "instances": { "src": { "engine": "mysql", "url": "\(withPassword(a))" }, "dst": { "engine": "mysql", "url": "\(withPassword(b))" } },
          "copies": { "c": { "from": "src", "to": "dst", "databases": ["\(tag)"], "onExisting": "replace" } } }
        """)
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        #expect(!applied.all.contains(password))
        let written = try project.runShell("grep -rl -- \"$FERRY_TEST_MYSQL_PASSWORD\" .ferry || true")
        #expect(written.stdout.isEmpty, "secret found in \(written.stdout)")
        try sql(project, a, "DROP DATABASE `\(tag)`;")
        try sql(project, b, "DROP DATABASE IF EXISTS `\(tag)`;")
    }

    @Test func wrongPasswordAndUnknownHostArePlanErrors() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_MYSQL_A")
        var closed = a
        closed.url = "mysql://\(a.user)@127.0.0.1:1"
        project.environment["WRONG_PW"] = "definitely-not-it"
        try project.write("plans/main.json", plan(a, closed, password: "WRONG_PW", databases: "[\"x\"]"))
        let result = try project.run("plan")
        #expect(result.code == 1)
        #expect(result.stderr.contains("OperationDenied.WrongPassword"), "\(result.all)")
        #expect(result.stderr.contains("InstanceNotFound"), "\(result.all)")
        #expect(!result.all.contains("definitely-not-it"))
    }

    @Test func killDuringACopyThenRecoverLeavesTheTargetAsItWas() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_MYSQL_A"), b = try server("FERRY_TEST_MYSQL_B")
        let tag = "kill\(UUID().uuidString.prefix(6).lowercased())"
        try sql(project, a, """
        DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`;
        CREATE TABLE `\(tag)`.big(id INT PRIMARY KEY, v VARCHAR(64));
        INSERT INTO `\(tag)`.big SELECT seq, CONCAT('row-', seq, '-', REPEAT('x', 40)) FROM `\(tag)`.seq_1_to_400000;
        """)
        try sql(project, b, "DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`; CREATE TABLE `\(tag)`.big(id INT PRIMARY KEY, v VARCHAR(64)); INSERT INTO `\(tag)`.big VALUES (1, 'old');")
        try project.write("plans/main.json", plan(a, b, databases: "[\"\(tag)\"]"))
        let before = try sql(project, b, "SELECT * FROM `\(tag)`.big ORDER BY id;")
        let process = try project.start(["apply", "--auto-approve"])
        let deadline = Date().addingTimeInterval(30)
        func journal() -> String {
            let runs = (try? FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs")) ?? []
            return runs.compactMap { project.read(".ferry/runs/\($0)/journal.jsonl") }.joined()
        }
        while !journal().contains("shadowCreated") && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        Thread.sleep(forTimeInterval: 0.3)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let refused = try project.run("plan")
        #expect(refused.code == 1 && refused.stderr.contains("RunInterrupted"), "\(refused.all)")
        let recovered = try project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        #expect(try sql(project, b, "SELECT * FROM `\(tag)`.big ORDER BY id;") == before)
        let leftovers = try sql(project, b, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)%';")
        #expect(leftovers.split(separator: "\n") == ["\(tag)"], "\(leftovers)")
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        #expect(try sql(project, b, "SELECT count(*) FROM `\(tag)`.big;").trimmingCharacters(in: .whitespacesAndNewlines) == "400000")
        try sql(project, a, "DROP DATABASE `\(tag)`;")
        try sql(project, b, "DROP DATABASE IF EXISTS `\(tag)`;")
    }
}
