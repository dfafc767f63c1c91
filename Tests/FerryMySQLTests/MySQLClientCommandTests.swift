import FerryCore
import FerryIO
@testable import FerryMySQL
import Foundation
import Testing

/// Issue 14 (LOW): commands of the mysql / mariadb client in a `.sql` import (`\u db`, `\d //`,
/// `connect db`, `source f`, `\. f`, `\! cmd`, `system cmd`) and MariaDB's `#mysql50#` names
/// failed only at apply. They are `ImportError`s naming file and line at plan time (and apply).
@Suite struct MySQLClientCommandTests {
    let guardTests = MySQLImportGuardTests()

    static let commands: [(String, String)] = [
        ("\\u other", "`\\u`"), ("\\d //", "`\\d`"), ("connect other", "`connect`"), ("source /tmp/x.sql", "`source`"),
        ("\\. /tmp/x.sql", "`\\.`"), ("\\! rm -rf /tmp/x", "`\\!`"), ("system rm -rf /tmp/x", "`system`"),
        // Variants: other letter cases, other commands, a command after a statement on its line,
        // one inside a statement.
        ("CONNECT other", "`connect`"), ("System ls", "`system`"), ("\\G", "`\\G`"), ("tee /tmp/out", "`tee`"),
        ("charset big5", "`charset`"), ("SELECT 1; \\u other", "`\\u`"), ("SELECT 1 \\G", "`\\G`"),
        ("\\c", "`\\c`"), ("pager less", "`pager`"),
    ]

    @Test(arguments: commands) func aClientCommandIsRefusedWithItsLine(_ command: String, _ named: String) throws {
        let file = "CREATE TABLE t (x INT);\nINSERT INTO t VALUES (1);\n\(command)\nCREATE TABLE u (y INT);\n"
        let message = try #require(guardTests.refusal(file), "\(command) is refused")
        #expect(message.hasPrefix("dump.sql:3: \(named) is a command of the mysql client"), "\(message)")
    }

    @Test(arguments: ["CREATE TABLE `#mysql50#t` (x INT);", "INSERT INTO `#mysql50#t` VALUES (1);",
                      "CREATE TABLE t2 (`#mysql50#c` INT);", "SET sql_mode = 'ANSI_QUOTES';\nCREATE TABLE \"#mysql50#t\" (x INT);"])
    func aMysql50NameIsRefusedWithItsLine(_ statement: String) throws {
        let file = "CREATE TABLE t (x INT);\nINSERT INTO t VALUES (1);\n\(statement)\n"
        let message = try #require(guardTests.refusal(file), "\(statement) is refused")
        #expect(message.contains("#mysql50#") && message.hasPrefix("dump.sql:\(statement.hasPrefix("SET") ? 4 : 3):"), "\(message)")
    }

    /// What is SQL stays admitted: `\N` (NULL), backslashes in strings and comments, the words as
    /// names or in strings, `#mysql50#` in a string, `USE` and `DELIMITER`.
    @Test func sqlThatLooksLikeACommandIsAdmitted() throws {
        let file = """
        /*M!999999\\- enable the sandbox mode */
        CREATE TABLE t (x INT, status VARCHAR(20), `source` TEXT, `system` INT);
        INSERT INTO t VALUES (\\N, 'a\\\\u b', '\\\\! x', 1);
        INSERT INTO t (status, source) VALUES ('connect', '#mysql50#x'); -- \\u other
        # \\! not a command in a comment
        /* \\. nor here */ SELECT status FROM t;
        UPDATE t SET system = 2 WHERE status = 'pager';
        DELIMITER //
        CREATE PROCEDURE p() BEGIN SELECT 1; END //
        DELIMITER ;

        """
        #expect(guardTests.refusal(file) == nil)
    }
}
