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

    /// Fresh tester round 19 (w40), F2: the target (not the source) holds two tables whose names
    /// are equal in `utf8mb4_general_ci` (`Ab`/`ab`, `e`/`é`, `E`/`é`) beside its own view,
    /// procedure and trigger. The undo's note of the tables it moves back keyed them in that
    /// collation: the second overwrote the first's row (and its InnoDB id), so the id check took
    /// a table of the target's own for one "made again", and every `ferry rollback RUN` (and
    /// `ferry recover` after a kill in the swap) stopped with the target's objects lost. Ferry's
    /// bookkeeping tables key names by their bytes (`utf8mb4_bin`) now.
    @Test(arguments: [("Ab", "ab"), ("e", "é"), ("E", "é")], ["rollback", "killed"])
    func aTargetWithNamesEqualInItsCollationIsRestoredExactly(_ pair: (String, String), _ how: String) throws {
        let a = try cli.server("FERRY_TEST_MYSQL_A")
        let b = try cli.server("FERRY_TEST_MYSQL_B")
        let project = try Project()
        let tag = "cq\(UUID().uuidString.prefix(6).lowercased())"
        try #require(try cli.sql(project, a, "SELECT @@lower_case_table_names;").trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        defer {
            _ = try? cli.sql(project, b, "DROP DATABASE IF EXISTS `\(tag)_src`;")
            if let names = try? cli.sql(project, a, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '\(tag)%';") {
                for name in names.split(separator: "\n") { _ = try? cli.sql(project, a, "DROP DATABASE IF EXISTS `\(name)`;") }
            }
        }
        _ = try cli.sql(project, b, "CREATE DATABASE `\(tag)_src`; CREATE TABLE `\(tag)_src`.s (id INT PRIMARY KEY); INSERT INTO `\(tag)_src`.s VALUES (1);")
        let t = "`\(tag)_t`"
        _ = try cli.sql(project, a, """
            CREATE DATABASE \(t) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
            CREATE TABLE \(t).`\(pair.0)` (id INT PRIMARY KEY); INSERT INTO \(t).`\(pair.0)` VALUES (10);
            CREATE TABLE \(t).`\(pair.1)` (id INT PRIMARY KEY, v INT); INSERT INTO \(t).`\(pair.1)` VALUES (20, 2);
            CREATE TABLE \(t).usermark (id INT); INSERT INTO \(t).usermark VALUES (1);
            CREATE VIEW \(t).vown AS SELECT id FROM \(t).usermark;
            CREATE PROCEDURE \(t).pown() SELECT 5;
            CREATE TRIGGER \(t).town BEFORE INSERT ON \(t).usermark FOR EACH ROW SET NEW.id = NEW.id;
            """)
        func contents() throws -> String {
            try cli.sql(project, a, """
                SELECT CONCAT(TABLE_TYPE, ' ', HEX(TABLE_NAME)) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(tag)_t'
                UNION ALL SELECT CONCAT('routine ', ROUTINE_NAME, ' ', ROUTINE_DEFINITION) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '\(tag)_t'
                UNION ALL SELECT CONCAT('trigger ', TRIGGER_NAME, ' ', ACTION_STATEMENT) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(tag)_t'
                UNION ALL SELECT CONCAT('row ', id) FROM \(t).`\(pair.0)` UNION ALL SELECT CONCAT('row ', id, ' ', v) FROM \(t).`\(pair.1)`
                ORDER BY 1;
                """)
        }
        let before = try contents()
        try project.write("plans/main.json", """
        { "ferry": 1,
          "instances": { "a": { "engine": "mysql", "url": "\(a.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } },
                         "b": { "engine": "mysql", "url": "\(b.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
          "copies": { "c": { "from": "b", "to": "a", "databases": { "\(tag)_src": "\(tag)_t" }, "onExisting": "replace" } } }
        """)
        if how == "rollback" {
            let applied = try project.run("apply", "--auto-approve")
            #expect(applied.code == 0, "\(applied.all)")
            let rolledBack = try project.run("rollback", try MySQLImportCLITests().runID(applied.stdout))
            #expect(rolledBack.code == 0, "\(pair): \(rolledBack.all)")
        } else {
            project.environment["FERRY_TEST_KILL_AT"] = "change:mysql.swap.renamed"
            let killed = try project.run("apply", "--auto-approve")
            project.environment["FERRY_TEST_KILL_AT"] = nil
            #expect(killed.code == 9, "\(killed.all)")
            let recovered = try project.run("recover")
            #expect(recovered.code == 0 && recovered.stdout.contains("as they were before"), "\(pair): \(recovered.all)")
        }
        #expect(try contents() == before, "\(pair) \(how)")
    }
}
