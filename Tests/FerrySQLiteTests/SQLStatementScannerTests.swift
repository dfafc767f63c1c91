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

/// Fresh tester round 29, F2: a dump cut short is told by the closing line its tool writes
/// (`DumpEnds`), fed in any chunks; a file that goes on after its dump, or that no dump tool
/// wrote, is not taken for one.
@Suite struct DumpEndsTests {
    /// What the scanner of `dialect` (by default the one for the dump `text` opens as) saw, fed
    /// `text` in chunks of `chunk` bytes.
    func seen(_ text: String, chunk: Int, dialect: SQLStatementScanner.Dialect? = nil) -> DumpEnds.Seen {
        let dialect = dialect ?? (text.hasPrefix("--\n-- PostgreSQL") ? .postgres : text.hasPrefix("PRAGMA") ? .sqlite : .mysql)
        var scanner = SQLStatementScanner(dialect: dialect)
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count { _ = scanner.feed(Array(bytes[i..<min(bytes.count, i + chunk)])); i += chunk }
        _ = scanner.finish()
        return scanner.ends
    }

    static let mariadb = "/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump 10.19  Distrib 10.11.11-MariaDB, for debian-linux-gnu (x86_64)\n--\n-- Host: 127.0.0.1    Database: shop\n-- ------------------------------------------------------\n-- Server version\t10.11.11-MariaDB-0+deb12u1\n\nCREATE TABLE `a` (`id` int);\nINSERT INTO `a` VALUES (1);\n"
    static let postgres = "--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 15.18\n\nSET statement_timeout = 0;\nCREATE TABLE public.a (id integer);\nCOPY public.a (id) FROM stdin;\n1\n2\n"
    static let sqlite = "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE a(id);\nINSERT INTO a VALUES(1);\n"
    /// `mariadb-dump --skip-comments` (MariaDB 10.11.11): no comment at either end.
    static let commentless = "/*M!999999\\- enable the sandbox mode */ \n\n/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\n/*!40101 SET NAMES utf8mb4 */;\n/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;\nCREATE TABLE `a` (`id` int);\nINSERT INTO `a` VALUES (1);\n"
    static let commentlessClosing = "/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;\n/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;\n/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;\n\n"

    @Test(arguments: [1, 7, 64, 100_000]) func aDumpWithoutItsClosingLineIsCutShort(chunk: Int) {
        for (text, closing, tool) in [(Self.mariadb, "-- Dump completed on 2026-12-04  7:00:00\n", "mariadb-dump"),
                                      (Self.postgres, "\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n", "pg_dump"),
                                      (Self.sqlite, "COMMIT;\n", "sqlite3"),
                                      (Self.commentless, Self.commentlessClosing, "without comments"),
                                      (String(Self.commentless.dropFirst(42)), Self.commentlessClosing, "without comments")] {
            let cut = seen(text, chunk: chunk, dialect: tool == "without comments" ? .mysql : nil)
            #expect(cut.cutShort?.contains(tool) == true, "\(tool), chunks of \(chunk)")
            let dialect: SQLStatementScanner.Dialect? = tool == "without comments" ? .mysql : nil
            let whole = seen(text + closing, chunk: chunk, dialect: dialect)
            #expect(whole.cutShort == nil, "\(tool), chunks of \(chunk)")
            // Statements a user appended after the dump: still whole.
            let appended = seen(text + closing + String(repeating: "INSERT INTO a VALUES (2);\n", count: 100), chunk: chunk, dialect: dialect)
            #expect(appended.cutShort == nil, "\(tool) with statements after it")
        }
    }

    /// Fresh tester round 30, F2: the closing text inside a statement (a trigger body, a
    /// dollar-quoted function, a comment inside a `CREATE TABLE`) is no closing: the dump cut
    /// after it is still cut short. Outside statements, after such text, it still closes.
    @Test(arguments: [1, 5, 64, 100_000]) func theClosingInsideAStatementIsNoClosing(chunk: Int) {
        let trigger = "DELIMITER ;;\n/*!50003 CREATE*/ /*!50003 TRIGGER a_bi BEFORE INSERT ON a FOR EACH ROW BEGIN\n-- Dump completed on 2026-12-04  9:59:52\nSET NEW.v = NEW.v + 1;\nEND */;;\nDELIMITER ;\n"
        let trigger2 = "CREATE TABLE t (v TEXT DEFAULT '\n-- Dump completed on x\n');\n"
        let function = "CREATE FUNCTION public.f() RETURNS integer LANGUAGE sql AS $$\n-- PostgreSQL database dump complete\nSELECT 1\n$$;\n"
        let function2 = "COMMENT ON TABLE public.a IS '\n-- PostgreSQL database dump complete\n';\n"
        let column = "CREATE TABLE t1(a /*\nCOMMIT;\n*/, b);\n"
        let column2 = "INSERT INTO a VALUES('\nCOMMIT;\n');\n"
        for (head, inside, closing, tool) in [(Self.mariadb, trigger, "-- Dump completed on 2026-12-04  7:00:00\n", "mariadb-dump"),
                                              (Self.mariadb, trigger2, "\n-- Dump completed on 2026-12-04  7:00:00\n", "mariadb-dump"),
                                              (Self.postgres.replacingOccurrences(of: "COPY public.a (id) FROM stdin;\n1\n2\n", with: ""), function,
                                               "\n--\n-- PostgreSQL database dump complete\n--\n", "pg_dump"),
                                              (Self.postgres, "\\.\n\n" + function2, "--\n-- PostgreSQL database dump complete\n--\n", "pg_dump"),
                                              (Self.sqlite, column, "COMMIT;\n", "sqlite3"), (Self.sqlite, column2, "COMMIT;\n", "sqlite3")] {
            let cut = seen(head + inside + "INSERT INTO a VALUES (3);\n", chunk: chunk)
            #expect(cut.cutShort?.contains(tool) == true, "\(tool): \(inside), chunks of \(chunk)")
            let whole = seen(head + inside + closing, chunk: chunk)
            #expect(whole.cutShort == nil, "\(tool): \(inside), chunks of \(chunk)")
        }
    }

    /// Parts read as one stream by `SQLStatementReader`: the statements (with part and line) and
    /// the dump cut short it throws, if any.
    static func read(_ parts: [String], _ dialect: SQLStatementScanner.Dialect = .mysql)
        -> (statements: [SQLStatementScanner.Statement], error: String?) {
        let reader = SQLStatementReader(parts: parts.enumerated().map { i, text in
            SQLStatementReader.Part(name: "part\(i + 1).sql", open: { DataByteReader(Array(text.utf8)) })
        }, dialect: dialect)
        var out: [SQLStatementScanner.Statement] = []
        do {
            while let statement = try reader.nextStatement() { out.append(statement) }
            return (out, nil)
        } catch { return (out, "\(error)") }
    }

    /// A dump in several parts (loaded in order as one): the first part's head opens it, any
    /// part may close it; a last part missing, or a second dump opening before the first
    /// closed, is cut short; two whole dumps, or a dump and statements after it, are not.
    @Test func aDumpInSeveralPartsIsJudgedAsOne() throws {
        func judge(_ parts: [String], _ dialect: SQLStatementScanner.Dialect = .mysql) -> String? { Self.read(parts, dialect).error }
        let closing = "-- Dump completed on 2026-12-04  7:00:00\n"
        let more = "INSERT INTO `a` VALUES (2);\nINSERT INTO `a` VALUES (3);\n"
        #expect(judge([Self.mariadb, more + closing]) == nil)
        #expect(judge([Self.mariadb + closing, more]) == nil)
        #expect(judge([Self.mariadb + closing, Self.mariadb + closing]) == nil)
        let missing = try #require(judge([Self.mariadb, more]))
        #expect(missing.contains("part2.sql") && missing.contains("cut short") && missing.contains("2 parts"), "\(missing)")
        let three = try #require(judge([Self.mariadb, more, more]))
        #expect(three.contains("part3.sql") && three.contains("3 parts"), "round 31, F9: \(three)")
        let reopened = try #require(judge([Self.mariadb, Self.mariadb + closing]))
        #expect(reopened.contains("part1.sql") && reopened.contains("cut short"), "\(reopened)")
        #expect(judge(["CREATE TABLE b(id int);\n", more]) == nil)
        // Fresh tester round 31, F1: a part cut inside a statement, the closing alone in the
        // next part: the closing is read inside the statement, so no closing. Also inside a
        // trigger body, and when the next part opens a dump of its own.
        let midInsert = try #require(judge([Self.mariadb + "INSERT INTO `a` VALUES\n(1,'a')", "\n" + closing]))
        #expect(midInsert.contains("part2.sql") && midInsert.contains("cut short"), "\(midInsert)")
        let inTrigger = try #require(judge([Self.mariadb + "DELIMITER ;;\n/*!50003 CREATE*/ /*!50003 TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN\n", closing + "SET NEW.id = 1;\n"]))
        #expect(inTrigger.contains("cut short"), "\(inTrigger)")
        let intoADump = try #require(judge([Self.mariadb + "INSERT INTO `a` VALUES\n(1,'a')", Self.mariadb + closing]))
        #expect(intoADump.contains("part1.sql") && intoADump.contains("ends inside a statement"), "\(intoADump)")
        #expect(judge([Self.mariadb + closing + "-- a last note without a newline"]) == nil)
        // pg_dump cut inside COPY data, its closing alone in the next part (round 31, F1b): COPY
        // data to psql, so no closing.
        let pgClosing = "\n--\n-- PostgreSQL database dump complete\n--\n\n"
        let midCopy = try #require(judge([Self.postgres, pgClosing], .postgres))
        #expect(midCopy.contains("part2.sql") && midCopy.contains("cut short"), "\(midCopy)")
        #expect(judge([Self.postgres + "\\.\n", pgClosing], .postgres) == nil)
        // The sqlite3 shell's `COMMIT;` at the very end of a part, another `.dump` after it.
        #expect(judge([Self.sqlite + "COMMIT;", Self.sqlite + "COMMIT;\n"], .sqlite) == nil)
        #expect(judge([Self.sqlite, Self.sqlite + "COMMIT;\n"], .sqlite)?.contains("part1.sql") == true)
    }

    /// Fresh tester round 31, F3: a whole dump split anywhere (at line ends, inside a statement,
    /// a string, a trigger body, COPY data) reads as the same statements as the file, each with
    /// the part and the line in that part it starts on, and is not cut short.
    @Test func aWholeDumpSplitAnywhereReadsAsTheFile() throws {
        let mariadb = Self.mariadb + "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\nINSERT INTO `a` VALUES (1),\n(2);\nDELIMITER ;;\n/*!50003 CREATE*/ /*!50003 TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN\nSET NEW.id = 1;\nEND */;;\nDELIMITER ;\nINSERT INTO `a` VALUES (3,'x;\ny');\n/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;\n-- Dump completed on 2026-12-04  7:00:00\n"
        let postgres = Self.postgres + "3\n4\n\\.\n\nCREATE FUNCTION public.f() RETURNS integer LANGUAGE sql AS $$\nSELECT 1\n$$;\n\n--\n-- PostgreSQL database dump complete\n--\n\n"
        let sqlite = Self.sqlite + "INSERT INTO a VALUES('x;\ny');\nCREATE TRIGGER t AFTER INSERT ON a BEGIN\n SELECT 1;\nEND;\nCOMMIT;\n"
        for (text, dialect) in [(mariadb, SQLStatementScanner.Dialect.mysql), (postgres, .postgres), (sqlite, .sqlite)] {
            let whole = Self.read([text], dialect)
            #expect(whole.error == nil)
            let bytes = Array(text.utf8)
            for cuts in [[bytes.count / 2], [1, bytes.count - 1], [bytes.count / 3, 2 * bytes.count / 3], Array(stride(from: 7, to: bytes.count, by: 13))] {
                let bounds = [0] + cuts + [bytes.count]
                let parts = zip(bounds, bounds.dropFirst()).map { String(decoding: bytes[$0..<$1], as: UTF8.self) }
                let split = Self.read(parts, dialect)
                #expect(split.error == nil, "\(dialect) cut at \(cuts): \(split.error ?? "")")
                #expect(split.statements.map(\.text) == whole.statements.map(\.text), "\(dialect) cut at \(cuts)")
                // Each statement's place: the line it starts on in its part.
                for (a, b) in zip(split.statements, whole.statements) {
                    let before = parts[..<a.part].reduce(0) { $0 + $1.utf8.filter { $0 == 0x0A }.count }
                    #expect(before + a.line == b.line || (a.line == 1 && !(parts[a.part - 1].hasSuffix("\n"))), "\(dialect) cut at \(cuts), part \(a.part)")
                }
            }
        }
    }

    @Test func aFileNoDumpToolWroteIsNeverCutShort() {
        for text in ["CREATE TABLE a(id);\nINSERT INTO a VALUES (1);\n", "-- my own notes: -- MariaDB dump\nCREATE TABLE a(id);\n",
                     "BEGIN TRANSACTION;\nCREATE TABLE a(id);\n", ""] {
            let plain = seen(text, chunk: 5)
            #expect(plain.cutShort == nil, "\(text)")
        }
    }
}
