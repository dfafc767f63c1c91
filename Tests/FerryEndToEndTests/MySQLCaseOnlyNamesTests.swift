import Foundation
import Testing

/// Fresh tester round 18 (w39), E2: two MariaDB tables whose names differ only in case (`Ab`,
/// `ab`: two tables where `lower_case_table_names` is 0) were read in either order by
/// `information_schema`'s case-insensitive `ORDER BY`, so the fingerprint and the definitions
/// digest changed from one read to the next: plans after a clean apply flipped between "source
/// changed" and "target drifted", and a `ferry rollback RUN` right after found its target
/// "written since". Names equal in that collation are ordered by their bytes now.
@Suite(.serialized) struct MySQLCaseOnlyNamesTests {
    let cli = MySQLCLITests()

    @Test func tablesDifferingOnlyInCaseReadTheSameEveryTime() throws {
        let a = try cli.server("FERRY_TEST_MYSQL_A")
        let b = try cli.server("FERRY_TEST_MYSQL_B")
        let project = try Project()
        let tag = "cs\(UUID().uuidString.prefix(6).lowercased())"
        let setUp = try cli.sql(project, b, "SELECT @@lower_case_table_names;")
        try #require(setUp.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "a server that folds table names cannot hold both")
        defer {
            _ = try? cli.sql(project, b, "DROP DATABASE IF EXISTS `\(tag)_src`;")
            if let names = try? cli.sql(project, a, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '\(tag)%';") {
                for name in names.split(separator: "\n") { _ = try? cli.sql(project, a, "DROP DATABASE IF EXISTS `\(name)`;") }
            }
        }
        // Many such pairs, so that an order left to chance shows within a few reads.
        var statements = "DROP DATABASE IF EXISTS `\(tag)_src`; CREATE DATABASE `\(tag)_src`;"
        for n in 0..<8 {
            statements += " CREATE TABLE `\(tag)_src`.`Ab\(n)` (id INT PRIMARY KEY); INSERT INTO `\(tag)_src`.`Ab\(n)` VALUES (\(n));"
            statements += " CREATE TABLE `\(tag)_src`.`ab\(n)` (id INT PRIMARY KEY, v INT); INSERT INTO `\(tag)_src`.`ab\(n)` VALUES (\(n), 2);"
        }
        _ = try cli.sql(project, b, statements)
        _ = try cli.sql(project, a, "DROP DATABASE IF EXISTS `\(tag)_t`; CREATE DATABASE `\(tag)_t`; CREATE TABLE `\(tag)_t`.usermark (id INT); INSERT INTO `\(tag)_t`.usermark VALUES (1);")
        try project.write("plans/main.json", """
        { "ferry": 1,
          "instances": { "a": { "engine": "mysql", "url": "\(a.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } },
                         "b": { "engine": "mysql", "url": "\(b.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
          "copies": { "c": { "from": "b", "to": "a", "databases": { "\(tag)_src": "\(tag)_t" }, "onExisting": "replace" } } }
        """)
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        for n in 1...5 {
            let planned = try project.run("plan")
            #expect(planned.code == 0 && !planned.all.contains("drifted") && !planned.all.contains("changed"), "plan #\(n): \(planned.all)")
        }
        let run = try MySQLImportCLITests().runID(applied.stdout)
        let rolledBack = try project.run("rollback", run)
        #expect(rolledBack.code == 0 && !rolledBack.all.contains("written"), "\(rolledBack.all)")
        #expect(try cli.sql(project, a, "SELECT id FROM `\(tag)_t`.usermark;") == "1\n")
    }
}
