import FerryCore
import FerryIO
import Foundation
import Testing

/// The one statement splitter, in both dialects: the same statements whatever the chunk sizes.
@Suite struct SQLStatementScannerTests {
    func split(_ text: String, _ dialect: SQLStatementScanner.Dialect, chunk: Int) -> [String] {
        var scanner = SQLStatementScanner(dialect: dialect)
        let bytes = Array(text.utf8)
        var out: [SQLStatementScanner.Statement] = []
        var i = 0
        while i < bytes.count {
            out += scanner.feed(Array(bytes[i..<min(i + chunk, bytes.count)]))
            i += chunk
        }
        out += scanner.finish()
        return out.map { "\($0.line):" + String(decoding: $0.text, as: UTF8.self) }
    }

    func expectSame(_ text: String, _ dialect: SQLStatementScanner.Dialect, _ expected: [String], sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        for chunk in [1, 2, 3, 5, 7, 13, 64, 1 << 20] {
            #expect(split(text, dialect, chunk: chunk) == expected, "chunk \(chunk)", sourceLocation: sourceLocation)
        }
    }

    @Test func sqliteStatementsTriggersStringsAndComments() {
        let text = """
        -- a dump; with a semicolon
        BEGIN TRANSACTION;
        CREATE TABLE [we;ird](s TEXT); /* c; */ INSERT INTO "we;ird" VALUES ('it''s;'), (`x;`);
        CREATE TEMP TRIGGER t AFTER INSERT ON x BEGIN
          INSERT INTO y VALUES ('one;'); SELECT CASE WHEN 1 THEN 2 END;
        END;
        CREATE TABLE endless(x); ;;
        SELECT 'last without semicolon'
        """
        expectSame(text, .sqlite, [
            "2:BEGIN TRANSACTION",
            "3:CREATE TABLE [we;ird](s TEXT)",
            "3:INSERT INTO \"we;ird\" VALUES ('it''s;'), (`x;`)",
            "4:CREATE TEMP TRIGGER t AFTER INSERT ON x BEGIN\n  INSERT INTO y VALUES ('one;'); SELECT CASE WHEN 1 THEN 2 END;\nEND",
            "7:CREATE TABLE endless(x)",
            "8:SELECT 'last without semicolon'",
        ])
    }

    @Test func mysqlStatementsDelimitersEscapesAndExecutableComments() {
        let text = """
        /*!40101 SET NAMES utf8mb4 */;
        # hash; comment
        INSERT INTO t VALUES ('a\\';b', "c\\"d;", 'e''f;'), (`g;`); -- tail; comment
        --not-a-comment;
        DELIMITER $$ -- switch for the routine
        CREATE PROCEDURE p() BEGIN SELECT 1; END$$
        delimiter\t//
        /*!50003 CREATE TRIGGER x BEFORE INSERT ON t FOR EACH ROW SET @a = ';' */ //
          DELIMITER ;
        SELECT 2;
        """
        expectSame(text, .mysql, [
            "1:/*!40101 SET NAMES utf8mb4 */",
            "3:INSERT INTO t VALUES ('a\\';b', \"c\\\"d;\", 'e''f;'), (`g;`)",
            "4:--not-a-comment",
            "6:CREATE PROCEDURE p() BEGIN SELECT 1; END",
            "8:/*!50003 CREATE TRIGGER x BEFORE INSERT ON t FOR EACH ROW SET @a = ';' */ ",
            "10:SELECT 2",
        ])
    }
}
