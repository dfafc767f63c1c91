import Foundation
import Testing

/// Fresh tester, issue 14: a MariaDB database name with a character outside U+0001 to U+FFFF
/// (`shop😀`) passed `validate` and `plan`; `apply` failed at the shadow's creation (1267), and
/// every undo and the leftover search failed the same way, so `ferry recover` exited 4 forever
/// and every command was refused with RunInterrupted. Now such a name is a plan-time (and
/// validate-time) `InvalidParameter` with its place, for an import's database, a copy's rename
/// target and a copy's source; and a journal that names such a shadow (written by a release
/// before this rule) is recovered: nothing of that name was ever created, so nothing is dropped.
@Suite(.serialized) struct MySQLOutsideBMPNameCLITests {
    let cli = MySQLCLITests()

    @Test func validateAndPlanRefuseANameOutsideTheBMPWithItsPlace() throws {
        let project = try Project()
        let a = try cli.server("FERRY_TEST_MYSQL_A"), b = try cli.server("FERRY_TEST_MYSQL_B")
        let tag = "bmp\(UUID().uuidString.prefix(6).lowercased())"
        try cli.sql(project, a, "DROP DATABASE IF EXISTS `\(tag)ok`; CREATE DATABASE `\(tag)ok`; CREATE TABLE `\(tag)ok`.t (i INT);")
        defer { _ = try? cli.sql(project, a, "DROP DATABASE IF EXISTS `\(tag)ok`;") }
        try project.write("plans/data/f.sql", "CREATE TABLE t (id INT);\n")
        try project.write("plans/main.json", """
        { "ferry": 1,
          "instances": {
            "src": { "engine": "mysql", "url": "\(a.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } },
            "dst": { "engine": "mysql", "url": "\(b.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
          "imports": { "i": { "into": "dst", "database": "\(tag)😀", "from": "data/f.sql" } },
          "copies": {
            "rename": { "from": "src", "to": "dst", "databases": { "\(tag)ok": "\(tag)𝄞" } },
            "source": { "from": "src", "to": "dst", "databases": { "\(tag)🇫🇷": "\(tag)two" } } } }
        """)
        for command in ["validate", "plan"] {
            let result = try project.run(command)
            #expect(result.code == 1, "\(command): \(result.all)")
            #expect(result.stderr.contains("dst cannot hold a database named \"\(tag)😀\"") && result.stderr.contains("U+1F600"), "\(command): \(result.all)")
            #expect(result.stderr.contains("dst cannot hold a database named \"\(tag)𝄞\"") && result.stderr.contains("U+1D11E"), "\(command): \(result.all)")
            #expect(result.stderr.contains("src cannot have a database named \"\(tag)🇫🇷\"") && result.stderr.contains("U+1F1EB"), "\(command): \(result.all)")
            for place in ["imports.i.database", "copies.rename.databases", "copies.source.databases"] {
                #expect(result.stderr.contains(place), "\(command) names \(place): \(result.all)")
            }
            #expect(!result.all.contains("1267") && !result.all.contains("Illegal mix"), "\(result.all)")
        }
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 1, "\(applied.all)")
        #expect(try cli.sql(project, b, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '\(tag)%';") == "0\n", "nothing was made")
        let again = try project.run("plan")
        #expect(!again.all.contains("RunInterrupted"), "\(again.all)")
    }

    /// Issue 14 (LOW): a client command or a `#mysql50#` name in an import file is an
    /// `ImportError` naming file and line, in `validate` as in `plan`; apply changes nothing.
    @Test func aClientCommandInAnImportIsRefusedAtPlanTime() throws {
        let project = try Project()
        let b = try cli.server("FERRY_TEST_MYSQL_B")
        let tag = "bmc\(UUID().uuidString.prefix(6).lowercased())"
        try project.write("plans/main.json", """
        { "ferry": 1,
          "instances": { "dst": { "engine": "mysql", "url": "\(b.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
          "imports": { "i": { "into": "dst", "database": "\(tag)", "from": "data/f.sql" } } }
        """)
        for line in ["\\u other", "\\d //", "connect other", "source x.sql", "\\. x.sql", "\\! touch /tmp/\(tag)", "system touch /tmp/\(tag)",
                     "CREATE TABLE `#mysql50#t` (i INT);"] {
            try project.write("plans/data/f.sql", "CREATE TABLE t (id INT);\nINSERT INTO t VALUES (1);\n\(line)\nINSERT INTO t VALUES (2);\n")
            for command in ["validate", "plan"] {
                let result = try project.run(command)
                #expect(result.code == 1, "\(line) \(command): \(result.all)")
                #expect(result.stderr.contains("error[ImportError]") && result.stderr.contains("f.sql:3:"), "\(line) \(command): \(result.all)")
            }
            let applied = try project.run("apply", "--auto-approve")
            #expect(applied.code == 1, "\(line): \(applied.all)")
            #expect(try cli.sql(project, b, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '\(tag)%';") == "0\n")
            #expect(!FileManager.default.fileExists(atPath: "/tmp/\(tag)"))
        }
    }

    /// A run killed after its shadow was made, its journal then rewritten to name the database
    /// `TAG😀` (what a release before the rule journaled for such a name; the shadow it names was
    /// never created). `ferry recover` finishes (exit 0), and plans are no longer refused.
    @Test func aJournalNamingAShadowTheServerCannotHoldIsRecovered() throws {
        let project = try Project()
        let b = try cli.server("FERRY_TEST_MYSQL_B")
        let tag = "bmr\(UUID().uuidString.prefix(6).lowercased())"
        defer { _ = try? cli.sql(project, b, "DROP DATABASE IF EXISTS `\(tag)`;") }
        try project.write("plans/data/f.sql", "CREATE TABLE t (id INT);\nINSERT INTO t VALUES (1);\nINSERT INTO t VALUES (SLEEP(3));\n")
        try project.write("plans/main.json", """
        { "ferry": 1,
          "instances": { "dst": { "engine": "mysql", "url": "\(b.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
          "imports": { "i": { "into": "dst", "database": "\(tag)", "from": "data/f.sql" } } }
        """)
        let process = try project.start(["apply", "--auto-approve"])
        func journalPath() -> String? {
            let runs = (try? FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs")) ?? []
            return runs.map { ".ferry/runs/\($0)/journal.jsonl" }.first { project.read($0)?.contains("shadowCreated") == true }
        }
        let deadline = Date().addingTimeInterval(30)
        while journalPath() == nil && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        Thread.sleep(forTimeInterval: 0.5)
        process.signal(SIGKILL)
        process.waitUntilExit()
        let path = try #require(journalPath())
        let run = URL(fileURLWithPath: path).deletingLastPathComponent().lastPathComponent
        let runTag = String(run.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }.suffix(16))
        // What the killed run made under the ASCII name is removed by hand (root): the journal
        // will name only the never-made `TAG😀` shadow.
        Thread.sleep(forTimeInterval: 3)
        let shadows = try cli.sql(project, b, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '\(tag)%';")
        #expect(shadows.contains("__ferry_s_"), "the killed run made its shadow: \(shadows)")
        for name in shadows.split(separator: "\n") { try cli.sql(project, b, "DROP DATABASE `\(name)`;") }
        for row in try cli.sql(project, b, "SELECT CONCAT('`', User, '`@`', Host, '`') FROM mysql.user WHERE User LIKE 'ferry\\_i\\_\(runTag)\\_%';").split(separator: "\n") {
            try cli.sql(project, b, "DROP USER \(row);")
        }
        let text = try #require(project.read(path))
        try project.write(path, text.replacingOccurrences(of: tag, with: tag + "😀"))

        let refused = try project.run("plan")
        #expect(refused.code == 1 && refused.stderr.contains("RunInterrupted"), "\(refused.all)")
        let recovered = try project.run("recover")
        #expect(recovered.code == 0, "\(recovered.all)")
        #expect(!recovered.all.contains("1267") && !recovered.all.contains("Illegal mix"), "\(recovered.all)")
        let planned = try project.run("plan")
        #expect(planned.code == 0 || planned.code == 2, "\(planned.all)")
        #expect(!planned.all.contains("RunInterrupted"), "\(planned.all)")
        #expect(try cli.sql(project, b, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '\(tag)%';") == "0\n")
    }
}
