import FerryCore
import FerryIO
@testable import FerryMySQL
import Foundation
import Testing

/// The import guard and the qualifier rewrite on their own (no server): what each statement of a
/// dump becomes, and which are refused with file and line.
@Suite struct MySQLImportGuardTests {
    static let version = "10.11.6-MariaDB"

    /// Runs `file` through a guard, statement by statement as the splitter cuts it; returns what
    /// would be sent.
    func admit(_ file: String, target: String = "inventory_test", version: String? = version) throws -> [String] {
        let reader = MemoryReader(Array(file.utf8))
        let statements = SQLStatementReader(reader: reader, dialect: .mysql)
        var guardian = MySQLImportGuard(source: "dump.sql", target: target, shadow: "S", serverVersion: version)
        var sent: [String] = []
        while let statement = try statements.nextStatement() {
            if case .run(let bytes) = try guardian.admit(statement.text, line: statement.line) {
                sent.append(String(decoding: bytes, as: UTF8.self))
            }
        }
        return sent
    }

    /// The refusal's message, or nil when the file is admitted. Checked both at apply time
    /// (server version known) and at plan time (unknown): both refuse, at the same line.
    func refusal(_ file: String, target: String = "inventory_test") -> String? {
        var messages: [String?] = []
        for version in [Self.version, nil] {
            do { _ = try admit(file, target: target, version: version); messages.append(nil) }
            catch let error as FerryError { #expect(error.code == .importError); messages.append(error.message) }
            catch { Issue.record("\(error)"); messages.append(nil) }
        }
        #expect(messages[0] == messages[1], "plan and apply agree: \(messages)")
        return messages[0]
    }

    /// Fresh tester round 38, M1: `mariadb-dump --all-databases` begins with the `mysql` schema,
    /// which was bound to the shadow; the dump was refused only later, for a `PREPARE` in one of
    /// that schema's routines. A server's own schema as the first database refuses at once,
    /// naming it and a dump of the whole server; a target of that name changes nothing.
    @Test(arguments: [
        "CREATE DATABASE /*!32312 IF NOT EXISTS*/ `mysql` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;\nUSE `mysql`;\nCREATE TABLE t (i INT);\n",
        "USE mysql;\nCREATE TABLE t (i INT);\n",
        "/*!40000 DROP DATABASE IF EXISTS `Sys`*/;\nCREATE TABLE t (i INT);\n",
        "USE `PERFORMANCE_SCHEMA`;\nCREATE TABLE t (i INT);\n",
        "-- MariaDB dump\n/*!40101 SET NAMES utf8mb4 */;\nUSE information_schema;\n",
    ])
    func aDumpBeginningWithTheServersOwnSchemaIsRefusedAsADumpOfTheServer(_ dump: String) {
        let message = refusal(dump)
        #expect(message?.contains("the server's own schema: this file is a dump of the server's system schema or of several databases") == true, "\(message ?? "admitted")")
        #expect(refusal(dump, target: "mysql")?.contains("the server's own schema") == true)
    }

    /// The same round: a dump of several databases (`--databases a b`, `--all-databases` on a
    /// server whose first database is not its own schema) is said to be one, at the second.
    @Test(arguments: ["CREATE DATABASE `a`;\nUSE `a`;\nCREATE TABLE t (i INT);\nCREATE DATABASE /*!32312 IF NOT EXISTS*/ `b`;\nUSE `b`;\n",
                      "USE a;\nCREATE TABLE t (i INT);\nUSE b;\nCREATE TABLE u (i INT);\n",
                      "CREATE SCHEMA a;\nUSE a;\nCREATE SCHEMA b;\n"])
    func aDumpOfSeveralDatabasesIsSaidToBeOne(_ dump: String) {
        let message = refusal(dump)
        #expect(message?.contains("names database `b`, but this import's database is `a`: this file is a dump of several databases") == true, "\(message ?? "admitted")")
    }

    @Test func theIssuesDumpIsBoundToTheShadow() throws {
        let dump = """
        /*M!999999\\- enable the sandbox mode */ 
        /*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
        /*!40101 SET NAMES utf8mb4 */;
        /*!40000 DROP DATABASE IF EXISTS `inventory`*/;
        CREATE DATABASE /*!32312 IF NOT EXISTS*/ `inventory` /*!40100 DEFAULT CHARACTER SET latin1 COLLATE latin1_swedish_ci */;
        USE `inventory`;
        DROP TABLE IF EXISTS `items`;
        CREATE TABLE `items` (`id` int(11) NOT NULL, PRIMARY KEY (`id`));
        INSERT INTO `items` VALUES (1),(2);
        /*!50003 ALTER DATABASE `inventory` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci */ ;
        USE `inventory`;
        SELECT 1;
        """
        let sent = try admit(dump)
        #expect(!sent.contains { $0.contains("DROP DATABASE") || $0.contains("CREATE DATABASE") || $0.hasPrefix("USE") }, "\(sent)")
        #expect(sent.contains("/*!50003 ALTER DATABASE `S` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci */ "), "\(sent)")
        // The dump's `CREATE DATABASE` gives the shadow its character set and collation (fresh tester w26, F1).
        #expect(sent.contains("ALTER DATABASE `S` CHARACTER SET latin1 COLLATE latin1_swedish_ci"), "\(sent)")
        #expect(sent.contains("INSERT INTO `items` VALUES (1),(2)"))
        // The same file into its own database.
        #expect(try admit(dump, target: "inventory") == sent)
    }

    @Test func statementsOutsideTheShadowAreRefusedWithTheirLine() {
        let cases: [(String, String)] = [
            ("DROP DATABASE other", "DROP DATABASE"),
            ("SELECT 1; DROP DATABASE other; SELECT 2", "DROP DATABASE"),
            ("DROP\tDATABASE\r\n`other`", "DROP DATABASE"),
            ("/*!DROP DATABASE other*/", "DROP DATABASE"),
            ("/*M!100100 DROP */ DATABASE other", "DROP DATABASE"),
            ("/*!40000 DROP DATABASE IF EXISTS `other`*/", "DROP DATABASE"),
            ("Drop/**/Database other", "DROP DATABASE"),
            ("drop\n-- a note\n  schema IF EXISTS other", "DROP SCHEMA"),
            ("/*!50000 DROP*/ /*!50000 DATABASE `other` */", "DROP DATABASE"),
            ("CREATE DATABASE other", "CREATE DATABASE"),
            ("create schema if not exists \"other\"", "CREATE SCHEMA"),
            ("ALTER DATABASE other CHARACTER SET utf8mb4", "ALTER DATABASE"),
            ("USE other", "USE"),
            ("use `other`", "USE"),
            ("GRANT ALL ON *.* TO 'x'@'%'", "GRANT"),
            ("grant select on inventory.* to x", "GRANT"),
            ("REVOKE ALL PRIVILEGES ON *.* FROM x", "REVOKE"),
            ("CREATE USER x IDENTIFIED BY 'p'", "CREATE USER"),
            ("create or replace user x", "CREATE USER"),
            ("ALTER USER root IDENTIFIED BY 'p'", "ALTER USER"),
            ("DROP USER IF EXISTS x", "DROP USER"),
            ("RENAME USER a TO b", "RENAME USER"),
            ("CREATE ROLE r", "CREATE ROLE"),
            ("SET PASSWORD FOR root = PASSWORD('x')", "SET PASSWORD"),
            ("SET @n = 1, PASSWORD FOR 'root'@'localhost' = PASSWORD('x')", "PASSWORD"),
            ("SET sql_mode = '', /*c*/ PASSWORD = PASSWORD('x')", "PASSWORD"),
            ("SET DEFAULT ROLE r FOR x", "SET DEFAULT ROLE"),
            ("SET GLOBAL max_connections = 1", "SET GLOBAL"),
            ("set global event_scheduler=ON", "SET GLOBAL"),
            ("SET @@global.max_connections = 1", "@@global.max_connections"),
            ("SET @@GLOBAL.read_only=1", "@@global.read_only"),
            ("SET @@global . max_connections = 1", "@@global"),
            ("SET @@global/**/.max_connections = 1", "@@global"),
            ("SET @@global.`max_connections` = 1", "@@global"),
            ("SET /*!GLOBAL*/ max_connections = 1", "SET GLOBAL"),
            ("SET @@PERSIST.max_connections = 1", "@@persist"),
            ("SET SESSION sql_mode = '', GLOBAL general_log = 1", "SET GLOBAL"),
            ("SET @a = 1, @@global.x = (SELECT 1)", "@@global.x"),
            ("SET PERSIST max_connections = 5", "SET PERSIST"),
            ("FLUSH PRIVILEGES", "FLUSH"),
            ("/*!40000 FLUSH TABLES */", "FLUSH"),
            ("/*M!100100 flush logs */", "FLUSH"),
            ("INSTALL PLUGIN x SONAME 'x.so'", "INSTALL"),
            ("INSTALL SONAME 'ha_connect'", "INSTALL"),
            ("UNINSTALL PLUGIN disks", "UNINSTALL"),
            ("SHUTDOWN", "SHUTDOWN"),
            ("KILL 5", "KILL"),
            ("kill query 7", "KILL"),
            ("LOAD DATA INFILE '/etc/passwd' INTO TABLE t", "LOAD DATA"),
            ("LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t", "LOAD DATA"),
            ("load xml infile 'x' into table t", "LOAD XML"),
            ("SELECT * FROM t INTO OUTFILE '/tmp/x'", "INTO OUTFILE"),
            ("SELECT 1 INTO DUMPFILE '/tmp/x'", "INTO DUMPFILE"),
            ("INSERT INTO t SELECT LOAD_FILE('/etc/passwd')", "LOAD_FILE"),
            ("CREATE FUNCTION f RETURNS STRING SONAME 'x.so'", "SONAME"),
            ("CREATE TABLE t (a INT) DATA DIRECTORY = '/tmp'", "DATA DIRECTORY"),
            ("CREATE TABLE t (a INT) ENGINE=CONNECT TABLE_TYPE=CSV FILE_NAME='/etc/passwd'", "ENGINE=CONNECT"),
            ("CREATE TABLE t (a INT) ENGINE = 'FEDERATED' CONNECTION='mysql://u@h/db/t'", "ENGINE=FEDERATED"),
            ("CREATE TABLE t (a INT) CONNECTION='mysql://u@h/db/t'", "CONNECTION"),
            ("ALTER TABLE t ENGINE=S3", "ENGINE=S3"),
            ("PREPARE s FROM 'DROP DATABASE x'", "PREPARE"),
            ("EXECUTE IMMEDIATE CONCAT('DROP ', 'DATABASE x')", "EXECUTE"),
            ("RESET MASTER", "RESET"),
            ("PURGE BINARY LOGS BEFORE NOW()", "PURGE"),
            ("CHANGE MASTER TO MASTER_HOST='h'", "CHANGE MASTER"),
            ("START SLAVE", "START SLAVE"),
            ("CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (HOST 'h')", "CREATE SERVER"),
            ("BINLOG 'abc'", "BINLOG"),
            ("XA START 'x'", "XA"),
            ("BACKUP STAGE START", "BACKUP"),
            ("CACHE INDEX t IN hot", "CACHE"),
            ("CREATE PROCEDURE p() BEGIN SELECT 1; GRANT ALL ON *.* TO x; END", "GRANT"),
            ("CREATE PROCEDURE p() BEGIN IF 1 THEN DROP DATABASE other; END IF; END", "DROP DATABASE"),
            ("CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO SET GLOBAL general_log = 1", "SET GLOBAL"),
            ("CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW lbl: BEGIN FLUSH HOSTS; END", "FLUSH"),
            ("CREATE PROCEDURE p() BEGIN DECLARE CONTINUE HANDLER FOR SQLSTATE '42000', NOT FOUND DROP DATABASE other; END", "DROP DATABASE"),
            ("CREATE PROCEDURE p() BEGIN DECLARE EXIT HANDLER FOR my_condition SET a = 1, GLOBAL b = 2; END", "SET GLOBAL"),
            ("CREATE FUNCTION f() RETURNS INT BEGIN RETURN (SELECT 1); END; SHUTDOWN", "SHUTDOWN"),
        ]
        for (statement, what) in cases {
            let file = "SET NAMES utf8mb4;\nCREATE TABLE t (a INT);\n\n\(statement);\nSELECT 1;\n"
            let message = refusal(file)
            #expect(message?.hasPrefix("dump.sql:4:") == true, "\(statement): \(message ?? "admitted")")
            #expect(message?.lowercased().contains(what.lowercased()) == true, "\(statement): \(message ?? "admitted")")
        }
    }

    @Test func qualifiersOfAnotherDatabaseAreRefused() {
        let cases = [
            "INSERT INTO other.t VALUES (1)",
            "insert other.t set a = 1",
            "REPLACE INTO `other`.`t` VALUES (1)",
            "CREATE TABLE other.t (a INT)",
            "CREATE TABLE t2 LIKE other.t",
            "CREATE TABLE t2 (a INT, FOREIGN KEY (a) REFERENCES other.p (id))",
            "CREATE VIEW v AS SELECT * FROM other.t",
            "/*!50001 CREATE VIEW `v` AS select `x`.`a` AS `a` from (`t` join `other`.`x`) */",
            "CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW INSERT INTO other.log VALUES (1)",
            "CREATE TRIGGER tr AFTER INSERT ON other.t FOR EACH ROW SET @x = 1",
            "SELECT * FROM t, other.u",
            "SELECT * FROM (SELECT 1) AS d, other.u",
            "UPDATE t, other.u SET t.a = 1",
            "DELETE FROM other.t",
            "RENAME TABLE t TO other.t",
            "TRUNCATE TABLE other.t",
            "DROP TABLE IF EXISTS t, other.t",
            "SELECT \"other\".\"t\".\"c\" FROM t",
            "SELECT * FROM other . t",
            "SELECT * FROM other./* note */t",
            "SELECT other.f(1)",
            "CALL other.p()",
            "SELECT a FROM t WHERE b = other.t.c",
            "CREATE INDEX i ON other.t (a)",
            "INSERT INTO t SELECT * FROM other.t",
            "INSERT INTO t VALUES ((SELECT secret FROM other.t))",
            "SELECT NEXTVAL(other.s)",
            "UPDATE t PARTITION (p0), other.u SET t.a = 1",
            "SELECT * FROM t FOR SYSTEM_TIME ALL, other.u",
            "UPDATE t USE INDEX (i), other.u SET t.a = 1",
            "DELETE other.t.* FROM other.t",
            "LOCK TABLES t READ, other.u WRITE",
            "CREATE PROCEDURE p() BEGIN UPDATE other.t SET a = 1; END",
        ]
        for statement in cases {
            let message = refusal("CREATE TABLE t (a INT);\n\(statement);\n")
            #expect(message?.hasPrefix("dump.sql:2:") == true, "\(statement): \(message ?? "admitted")")
            #expect(message?.contains("`other`") == true, "\(statement): \(message ?? "admitted")")
        }
    }

    /// Fresh tester round 37b, M4: `mariadb-dump small1` (no `--databases`) of a database with a
    /// view names `small1` in the view's columns; imported into another database it is refused
    /// (the file names no database of its own), and the hint says how to bind the name. Dumped
    /// with `--databases small1` the same view is admitted, its qualifiers removed.
    @Test func aPlainDumpsViewNamingItsDatabaseIsRefusedWithAWayOn() throws {
        let view = "/*!50001 CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW `v` AS select `small1`.`t`.`id` AS `id` from `t` */"
        let plain = "-- Host: localhost    Database: small1\nCREATE TABLE `t` (`id` int);\n\(view);\n"
        var hint: String?
        do { _ = try admit(plain, target: "imp1") } catch let error as FerryError { hint = error.diagnostics.first?.hint }
        #expect(hint?.contains("dump it again with `--databases small1`") == true, "\(hint ?? "admitted")")
        #expect(refusal(plain, target: "imp1")?.contains("`small1`. names another database than this import's (`imp1`)") == true)
        // A file that names its own database keeps the plain hint for any other.
        var bound: String?
        do { _ = try admit("USE `small1`;\nCREATE TABLE `t` (`id` int);\nSELECT * FROM other.t;\n", target: "imp1") }
        catch let error as FerryError { bound = error.diagnostics.first?.hint }
        #expect(bound == "an import reads and writes only its own database; nothing was changed", "\(bound ?? "admitted")")
        let sent = try admit("CREATE DATABASE /*!32312 IF NOT EXISTS*/ `small1`;\nUSE `small1`;\nCREATE TABLE `t` (`id` int);\n\(view);\n", target: "imp1")
        #expect(sent.count == 2 && sent[1].contains("select `t`.`id` AS `id` from `t`"), "\(sent)")
    }

    @Test func statementsThatStayInsideAreAdmittedUnchanged() throws {
        let cases = [
            "SET NAMES utf8mb4", "SET @x = @@global.sql_mode", "SET SESSION sql_mode = ''", "SET foreign_key_checks = 0",
            "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */",
            "LOCK TABLES `t` WRITE", "UNLOCK TABLES", "START TRANSACTION", "COMMIT",
            "CREATE TABLE t2 (user VARCHAR(10), flush_count INT, `grant` INT, note TEXT DEFAULT 'DROP DATABASE other')",
            "CREATE DEFINER=root@localhost PROCEDURE p() SELECT 1",
            "CREATE DEFINER=user@localhost FUNCTION f() RETURNS INT RETURN 1",
            "SELECT t.a FROM t", "UPDATE t SET t.a = 1 WHERE t.a = 2", "SELECT other.a FROM t AS other",
            "INSERT INTO t VALUES (1), (2)", "SELECT 'other.t', \"other.t\" FROM t /* other.t */",
            "SELECT a FROM t ORDER BY t.a DESC", "DO SLEEP(0)", "SET @a := 1",
            "UPDATE t SET password = 'x', global = 1", "ALTER TABLE t DROP user, ALTER role SET DEFAULT 1, CHANGE master master2 INT",
            "CREATE TABLE machines (shutdown DATETIME, `start` INT, reset INT)",
        ]
        for statement in cases {
            let sent = try admit("CREATE TABLE t (a INT);\n\(statement);\n")
            #expect(sent.last == statement, "\(statement) → \(sent)")
        }
    }

    @Test func aDumpCannotSwitchToAnotherDatabaseOnceItHasContent() {
        // USE of the dump's own database is fine; switching to another is refused.
        #expect(refusal("USE a;\nCREATE TABLE t (x INT);\nUSE a;\nUSE b;\n")?.hasPrefix("dump.sql:4:") == true)
        // No declaration: the plan's database is the dump's own.
        #expect(refusal("CREATE TABLE t (x INT);\nUSE inventory_test;\nINSERT INTO inventory_test.t VALUES (1);\n", target: "inventory_test") == nil)
        #expect(refusal("CREATE TABLE t (x INT);\nUSE inventory;\n", target: "inventory_test")?.contains("`inventory`") == true)
        // A second database in one dump (mysqldump --databases a b).
        #expect(refusal("CREATE DATABASE a;\nUSE a;\nCREATE TABLE t (x INT);\nCREATE DATABASE b;\n")?.hasPrefix("dump.sql:4:") == true)
    }

    /// Executable comments count as the server reads them: content a newer server would run is
    /// checked; content this server skips is a comment (and what follows is a statement's start).
    @Test func executableCommentsAreReadAsTheServerReadsThem() throws {
        #expect(refusal("/*M!999999 junk */ SET GLOBAL x = 1;\n") != nil)
        #expect(refusal("/*!50100 SET */ /*M!100000 GLOBAL */ x = 1;\n") != nil)
        // MariaDB skips MySQL's 5.7 and 8 comments (50700-99999): a 10.11 server runs none of
        // them, so they are comments; a plan-time reading (no version) still refuses them.
        for skipped in ["/*!80000 SET GLOBAL x = 1 */;", "/*!50700 DROP DATABASE other */;", "/*!99999 FLUSH LOGS */;"] {
            #expect(try admit("CREATE TABLE t (a INT);\n\(skipped)\nSELECT 1;\n") == ["CREATE TABLE t (a INT)", "SELECT 1"], "\(skipped)")
            #expect(throws: FerryError.self) { try admit("CREATE TABLE t (a INT);\n\(skipped)\n", version: nil) }
        }
        #expect(throws: FerryError.self) { try admit("CREATE TABLE t (a INT);\n/*!50699 SET GLOBAL x = 1 */;\n") }
        #expect(throws: FerryError.self) { try admit("CREATE TABLE t (a INT);\n/*M!80000 SET GLOBAL x = 1 */;\n") }
        // Skipped by a 10.11 server; a plan-time reading (no version) refuses what a newer one would run.
        #expect(try admit("CREATE TABLE t (a INT);\n/*M!999999 DROP DATABASE other */;\nSELECT 1;\n") == ["CREATE TABLE t (a INT)", "SELECT 1"])
        #expect(throws: FerryError.self) { try admit("CREATE TABLE t (a INT);\n/*M!999999 DROP DATABASE other */;\n", version: nil) }
    }

    /// A dump that changes how quotes read (sql_mode NO_BACKSLASH_ESCAPES or ANSI_QUOTES) cannot
    /// hide a statement inside what would otherwise be a string.
    @Test func quotingModesCannotHideAStatement() throws {
        let hidden = "CREATE TABLE t2 (a VARCHAR(9) DEFAULT 'a\\') DATA DIRECTORY = '/tmp' -- ')"
        let other = "INSERT INTO t VALUES (\"x\\\", (SELECT b FROM other.u)) -- \")"
        for mode in ["SET sql_mode = 'NO_BACKSLASH_ESCAPES'", "/*!40101 SET SQL_MODE='ANSI' */",
                     "SET @@session.sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')", "SET @m = 'ANSI_QUOTES', sql_mode = @m"] {
            #expect(refusal("CREATE TABLE t (a INT);\n\(mode);\n\(hidden);\n")?.contains("DATA DIRECTORY") == true, "\(mode)")
            #expect(refusal("CREATE TABLE t (a INT);\n\(mode);\n\(other);\n") != nil, "\(mode)")
        }
        // Without such a mode the backslash escapes the quote, as the server reads it.
        #expect(try admit("CREATE TABLE t (a INT);\nSET sql_mode = 'STRICT_TRANS_TABLES';\n\(hidden);\n").count == 3)
    }

    /// A client character set in which 0x5C can end a character (gbk, big5, sjis, cp932,
    /// gb18030) lets the server close a string where the scanner sees an escaped quote: `SET
    /// NAMES gbk` then `'\xbf\x5c'` hid `DELETE FROM other.t` from the check. Every way of
    /// switching to such a set is refused, before the statement that could hide anything.
    @Test func clientCharacterSetsThatEndACharacterWithABackslashAreRefused() throws {
        func refusalOf(_ bytes: [UInt8]) -> String? {
            for version in [Self.version, nil] as [String?] {
                let statements = SQLStatementReader(reader: MemoryReader(bytes), dialect: .mysql)
                var guardian = MySQLImportGuard(source: "dump.sql", target: "inventory", shadow: "S", serverVersion: version)
                do {
                    while let statement = try statements.nextStatement() { _ = try guardian.admit(statement.text, line: statement.line) }
                } catch let error as FerryError {
                    #expect(error.code == .importError)
                    return error.message
                } catch { Issue.record("\(error)") }
            }
            return nil
        }
        let trigger: [UInt8] = Array("CREATE TRIGGER tr AFTER INSERT ON keepme FOR EACH ROW IF '".utf8) + [0xBF, 0x5C]
            + Array("' <> '' THEN DELETE FROM other.t; END IF -- '\n;\n".utf8)
        for switchTo in ["SET NAMES gbk", "set names 'GBK'", "SET NAMES big5 COLLATE big5_chinese_ci", "SET CHARACTER SET sjis",
                         "SET CHARSET cp932", "/*!40101 SET character_set_client = gbk */", "SET @@session.character_set_client = 'gb18030'",
                         "SET @@character_set_client := gbk", "SET sql_mode = '', NAMES gbk", "SET character_set_client = @cs",
                         "SET `character_set_client` = 'big5'", "/*!40101 SET NAMES sjis */",
                         "SET @cs = 'gbk'; SET character_set_client = @cs", "SET @cs = @@character_set_client, @cs = 'big5';\nSET character_set_client = @cs",
                         "SET @cs = CONCAT('g', 'bk'); SET character_set_client = @cs"] {
            let file = Array("USE `inventory`;\nCREATE TABLE keepme (v varchar(20));\n\(switchTo);\n".utf8) + trigger
            let message = refusalOf(file)
            let line = switchTo.contains("\n") ? "dump.sql:4:" : "dump.sql:3:"
            #expect(message?.contains(line) == true && message?.contains("character set") == true, "\(switchTo): \(message ?? "admitted")")
        }
        // Character sets without that property stay allowed, as every mariadb-dump file sets one.
        for fine in ["SET NAMES utf8mb4", "/*!40101 SET NAMES binary */", "SET character_set_client = latin1", "SET NAMES DEFAULT",
                     "/*!40101 SET @saved_cs_client = @@character_set_client */", "SET @saved = 'gbk'"] {
            #expect(try admit("CREATE TABLE t (a INT);\n\(fine);\nINSERT INTO t VALUES (1);\n").count == 3, "\(fine)")
        }
        // mysqldump's own save and restore around every CREATE TABLE.
        let dump = """
            CREATE TABLE t (a INT);
            /*!40101 SET @saved_cs_client     = @@character_set_client */;
            /*!40101 SET character_set_client = utf8mb4 */;
            CREATE TABLE u (b INT);
            /*!40101 SET character_set_client = @saved_cs_client */;
            /*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
            /*!40101 SET NAMES utf8mb4 */;
            /*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
            INSERT INTO t VALUES (1);

            """
        #expect(try admit(dump).count == 9)
    }

    /// A trigger's or routine's body of one statement (no BEGIN ... END) is a statement: its
    /// `SET GLOBAL`, `SET PASSWORD`, account and server statements are refused as at the top
    /// (found by a fresh tester: `FOR EACH ROW SET @@global.max_connections=62` then an INSERT
    /// that fired it changed the server, exit 0).
    @Test func singleStatementBodiesAreCheckedAsStatements() {
        let heads = ["CREATE TRIGGER tr AFTER INSERT ON t1 FOR EACH ROW",
                     "CREATE DEFINER=`root`@`localhost` TRIGGER tr BEFORE UPDATE ON t1 FOR EACH ROW FOLLOWS other_tr",
                     "CREATE PROCEDURE p()", "CREATE DEFINER=root@localhost PROCEDURE p(IN x INT, OUT y VARCHAR(10))",
                     "CREATE PROCEDURE p() COMMENT 'set' LANGUAGE SQL NOT DETERMINISTIC MODIFIES SQL DATA SQL SECURITY DEFINER",
                     "CREATE FUNCTION f() RETURNS INT DETERMINISTIC", "CREATE FUNCTION f(a INT) RETURNS VARCHAR(20) CHARSET utf8mb4 NO SQL",
                     "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER tr AFTER INSERT ON t1 FOR EACH ROW"]
        let bodies = ["SET @@global.max_connections=62", "SET GLOBAL max_connections=55", "SET global max_connections = 1",
                      "SET /*!50000 GLOBAL */ max_connections=69", "SET @a=1, GLOBAL max_connections=66",
                      "SET @@global.event_scheduler=ON", "SET @@GLOBAL.sql_mode=''", "SET PERSIST max_connections = 5",
                      "SET PASSWORD FOR 'leak3'@'127.0.0.1' = PASSWORD('pwned3')", "SET PASSWORD = PASSWORD('x')",
                      "SET DEFAULT ROLE admin FOR x", "DROP USER 'leak3'@'%'", "ALTER USER x IDENTIFIED BY 'y'",
                      "RENAME USER a TO b", "SHUTDOWN", "RESET MASTER", "PREPARE s FROM @q", "CHANGE MASTER TO MASTER_HOST='h'",
                      "CREATE USER x", "SET SESSION character_set_client = big5",
                      "SET @n = 1, PASSWORD FOR 'root'@'localhost' = '*1FE4BC86155B63CDB240A6359E105BF06FEB77B7'",
                      "SET sql_mode='', PASSWORD = PASSWORD('x')", "SET @a = 1, password FOR CURRENT_USER() = PASSWORD('z')",
                      "SET @a = 1, DEFAULT ROLE admin FOR x", "SET @a = (1), ROLE admin"]
        for head in heads {
            // A comment inside an executable comment is a syntax error to MariaDB (checked on 10.11).
            for body in bodies where !(head.hasPrefix("/*!") && body.contains("/*")) {
                let closing = head.hasPrefix("/*!50003") ? " */" : ""
                let file = "CREATE TABLE t1 (id INT PRIMARY KEY);\n\(head) \(body)\(closing);\nINSERT INTO t1 VALUES (2);\n"
                let message = refusal(file)
                #expect(message?.hasPrefix("dump.sql:2:") == true, "\(head) \(body): \(message ?? "admitted")")
            }
        }
        // Bodies that stay inside are admitted as written.
        for statement in ["CREATE TRIGGER tr BEFORE INSERT ON t1 FOR EACH ROW SET NEW.id = NEW.id + 1",
                          "CREATE TRIGGER tr BEFORE UPDATE ON t1 FOR EACH ROW SET NEW.password = 'x', @n := 1",
                          "CREATE PROCEDURE p() UPDATE t1 SET password = 'x', global = 1",
                          "CREATE PROCEDURE p() INSERT INTO t1 SET id = 3",
                          "CREATE PROCEDURE p() SET @x = 1",
                          "CREATE FUNCTION f() RETURNS VARCHAR(10) CHARSET utf8mb4 DETERMINISTIC RETURN 'set global'",
                          "CREATE TABLE s (c SET('a','b') CHARACTER SET latin1, d ENUM('x') CHARSET utf8mb4)",
                          "ALTER TABLE t1 ALTER COLUMN id SET DEFAULT 1"] {
            let sent = try? admit("CREATE TABLE t1 (id INT PRIMARY KEY, password TEXT, global INT);\n\(statement);\n")
            #expect(sent?.last == statement, "\(statement) → \(String(describing: sent))")
        }
    }

    /// `SET SESSION` and `SET LOCAL` spellings of a client character set switch are refused like
    /// `SET NAMES` (found by a fresh tester: `SET SESSION character_set_client=big5` then a body
    /// hiding `DELETE FROM sentinel.t` behind 0xB3 0x5C emptied another database, exit 0).
    @Test func sessionAndLocalCharacterSetSwitchesAreRefused() {
        let trigger: [UInt8] = Array("DELIMITER //\nCREATE TRIGGER tr AFTER INSERT ON t1 FOR EACH ROW BEGIN SET @x='".utf8) + [0xB3, 0x5C]
            + Array("'; DELETE FROM sentinel.t; -- '\nEND//\nDELIMITER ;\nINSERT INTO t1 VALUES (2);\n".utf8)
        for switchTo in ["SET SESSION character_set_client=big5", "SET LOCAL character_set_client=big5",
                         "SET @a=1, SESSION character_set_client=big5", "/*!40101 SET SESSION character_set_client=big5 */",
                         "SET session `character_set_client` = 'gbk'", "SET LOCAL character_set_client := sjis",
                         "SET @a = 1, LOCAL character_set_client = @unknown"] {
            let file = Array("CREATE TABLE t1 (id INT PRIMARY KEY);\n\(switchTo);\n".utf8) + trigger
            var message: String?
            for version in [Self.version, nil] as [String?] {
                let statements = SQLStatementReader(reader: MemoryReader(file), dialect: .mysql)
                var guardian = MySQLImportGuard(source: "dump.sql", target: "inventory_test", shadow: "S", serverVersion: version)
                do {
                    while let statement = try statements.nextStatement() { _ = try guardian.admit(statement.text, line: statement.line) }
                    message = nil
                } catch let error as FerryError { message = error.message } catch { Issue.record("\(error)") }
                #expect(message?.hasPrefix("dump.sql:2:") == true && message?.contains("character set") == true,
                        "\(switchTo) (\(version ?? "plan")): \(message ?? "admitted")")
            }
        }
        #expect(refusal("CREATE TABLE t1 (id INT);\nSET SESSION character_set_client = utf8mb4;\nSET LOCAL sql_mode = '';\n") == nil)
    }

    /// Issue 16 §1: the rewrite of the dump's database name understands SQL.
    @Test func theDumpsNameIsRemovedOnlyWhereItQualifies() throws {
        let dump = """
        USE `shop`;
        CREATE TABLE `shop` (`id` int NOT NULL, `note` varchar(40) DEFAULT 'from `shop`.legacy', PRIMARY KEY (`id`));
        CREATE TABLE `shop`.`other` (`id` int, `shop_id` int, FOREIGN KEY (`shop_id`) REFERENCES `shop`.`shop` (`id`));
        DELIMITER ;;
        /*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER tr BEFORE INSERT ON shop FOR EACH ROW SET NEW.note = CONCAT('`shop`.', NEW.id) */;;
        DELIMITER ;
        /*!50001 VIEW `v` AS select `shop`.`id` AS `id`,`other`.`id` AS `oid` from (`shop` join `other` on(`shop`.`id` = `other`.`shop_id`)) */;
        SELECT `shop`.`shop`.`id`, shop.shop.id FROM `shop`.`shop`, shop.other;
        INSERT INTO `shop`.`shop` VALUES (1, 'shop.x'), (2, '`shop`.y');
        """
        #expect(try admit(dump, target: "elsewhere") == [
            "CREATE TABLE `shop` (`id` int NOT NULL, `note` varchar(40) DEFAULT 'from `shop`.legacy', PRIMARY KEY (`id`))",
            "CREATE TABLE `other` (`id` int, `shop_id` int, FOREIGN KEY (`shop_id`) REFERENCES `shop` (`id`))",
            "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER tr BEFORE INSERT ON shop FOR EACH ROW SET NEW.note = CONCAT('`shop`.', NEW.id) */",
            "/*!50001 VIEW `v` AS select `shop`.`id` AS `id`,`other`.`id` AS `oid` from (`shop` join `other` on(`shop`.`id` = `other`.`shop_id`)) */",
            "SELECT `shop`.`id`, shop.id FROM `shop`, other",
            "INSERT INTO `shop` VALUES (1, 'shop.x'), (2, '`shop`.y')",
        ])
        // Unquoted qualifiers in trigger, procedure and event bodies, imported under another name.
        let ops = """
        USE ops;
        CREATE TABLE log (id INT);
        DELIMITER $$
        CREATE TRIGGER t AFTER INSERT ON ops.log FOR EACH ROW BEGIN INSERT INTO ops.log2 VALUES (NEW.id); CALL ops.tick(1); END$$
        CREATE PROCEDURE tick(n INT) BEGIN UPDATE ops.counter SET v = v + n; SELECT ops.f(n) FROM ops.log, OPS.x; END$$
        CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO INSERT INTO `ops`.log VALUES (0)$$
        DELIMITER ;
        """
        #expect(throws: FerryError.self) { try admit(ops, target: "ops_copy") }   // `OPS`: names differ by case
        let sent = try admit(ops.replacingOccurrences(of: "OPS.x", with: "ops.x"), target: "ops_copy")
        #expect(sent == [
            "CREATE TABLE log (id INT)",
            "CREATE TRIGGER t AFTER INSERT ON log FOR EACH ROW BEGIN INSERT INTO log2 VALUES (NEW.id); CALL tick(1); END",
            "CREATE PROCEDURE tick(n INT) BEGIN UPDATE counter SET v = v + n; SELECT f(n) FROM log, x; END",
            "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO INSERT INTO log VALUES (0)",
        ])
    }

    /// Issue 16 §2: DELIMITER as the mysql client reads it.
    @Test func delimiterIsTheFirstWordAfterTheKeyword() throws {
        let file = """
        DELIMITER $$ -- switch for the routine
        CREATE PROCEDURE a() BEGIN SELECT 1; END$$
        delimiter\t//
        CREATE PROCEDURE b() BEGIN SELECT 2; END//
          Delimiter   ;;   # back
        SELECT 3;;
        DELIMITER ';'
        SELECT 4;
        """
        #expect(try admit(file) == ["CREATE PROCEDURE a() BEGIN SELECT 1; END", "CREATE PROCEDURE b() BEGIN SELECT 2; END",
                                    "SELECT 3", "SELECT 4"])
    }
}

/// A byte reader over memory, read in small pieces to cross buffer boundaries.
final class MemoryReader: ByteReader {
    let bytes: [UInt8]
    var at = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - at, 7)
        for i in 0..<n { buffer[i] = bytes[at + i] }
        at += n
        return n
    }
    var sourceBytesRead: Int64 { Int64(at) }
    func close() {}
}

/// The apply-time check on a real server (a file that changed after the plan, or a URL that
/// could not be read at plan time): refused before the statement runs.
extension MySQLImportGuardTests {
    /// Fresh tester round 33, F10: a later part that opens with `USE other` picked its own "first
    /// USE" (each part had its own guard) and was bound to the shadow; the parts are one stream,
    /// so it is refused as in one file, with the part and its own line. Round 31, F3: the same
    /// guard state lets a dump's closing `SET ... = @OLD_...` in a later part pass.
    @Test func thePartsShareOneGuard() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-guard-parts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func file(_ name: String, _ text: String) throws -> ImportSource {
            try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
            return .file(dir.appendingPathComponent(name).path)
        }
        let w1 = try file("w1.sql", "CREATE TABLE t(x text);\n")
        let w2 = try file("w2.sql", "\nUSE t33victim; CREATE TABLE v(x int);\n")
        let problems = MySQLEngine().importProblems(in: [w1, w2], format: .sql, database: "t33w", serverVersion: nil)
        #expect(problems.count == 1 && "\(problems)".contains("w2.sql:2:") && "\(problems)".contains("t33victim"), "\(problems)")
        let saved = try file("a.sql", "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\nCREATE TABLE t(x int);\n")
        let restored = try file("b.sql", "/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;\n/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;\n")
        #expect(MySQLEngine().importProblems(in: [saved, restored], format: .sql, database: "t33w", serverVersion: nil).isEmpty)
        #expect(!MySQLEngine().importProblems(in: [restored], format: .sql, database: "t33w", serverVersion: nil).isEmpty,
                "alone, the restore of a variable nobody saved is refused")
    }
}

@Suite(.serialized) struct MySQLImportGuardServerTests {
    @Test func importDataRefusesWhatReachesOutsideAndRunsTheRest() throws {
        let b = try Servers.b()
        defer { b.close() }
        try b.sql("DROP DATABASE IF EXISTS ferry_t_victim", "CREATE DATABASE ferry_t_victim",
                  "CREATE TABLE ferry_t_victim.t (x INT)", "INSERT INTO ferry_t_victim.t VALUES (1)")
        defer { try? b.sql("DROP DATABASE IF EXISTS ferry_t_victim") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-guard-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for statement in ["DROP DATABASE ferry_t_victim", "/*!40000 DROP DATABASE IF EXISTS `ferry_t_victim`*/",
                          "INSERT INTO ferry_t_victim.t VALUES (2)", "GRANT ALL ON *.* TO 'nobody'@'%'"] {
            let file = dir.appendingPathComponent("f.sql")
            try "CREATE TABLE t (x INT);\n\(statement);\n".write(to: file, atomically: true, encoding: .utf8)
            let shadow = try b.makeShadow(for: "ferry_t_guarded", runID: "rg1")
            let error = expectCode(.importError) { _ = try b.importData(into: shadow, from: [.file(file.path)], format: .sql, progress: ProgressCounter()) }
            #expect(error?.message.contains("f.sql:2:") == true, "\(String(describing: error))")
            #expect(try b.connection.query("SELECT COUNT(*) FROM ferry_t_victim.t").first?[0] == "1")
            try b.drop(shadow)
        }
        // A fresh tester's escapes: a one-statement trigger body that sets a server setting, a
        // procedure that changes another account's password, and a SESSION character set switch
        // that hides a DELETE elsewhere. Each is refused before anything runs.
        let globalBefore = try b.connection.scalar("SELECT @@global.max_connections")
        let escapes: [[UInt8]] = [
            Array("CREATE TABLE t1 (id INT PRIMARY KEY);\nCREATE TRIGGER tr AFTER INSERT ON t1 FOR EACH ROW SET @@global.max_connections=62;\nINSERT INTO t1 VALUES (2);\n".utf8),
            Array("CREATE TABLE t1 (id INT PRIMARY KEY);\nCREATE PROCEDURE p() SET PASSWORD FOR 'ferry_t_nobody'@'%' = PASSWORD('pwned');\nCALL p();\n".utf8),
            Array("CREATE TABLE t1 (id INT PRIMARY KEY);\nSET SESSION character_set_client=big5;\nDELIMITER //\nCREATE TRIGGER tr AFTER INSERT ON t1 FOR EACH ROW BEGIN SET @x='".utf8)
                + [0xB3, 0x5C] + Array("'; DELETE FROM ferry_t_victim.t; -- '\nEND//\nDELIMITER ;\nINSERT INTO t1 VALUES (2);\n".utf8),
        ]
        for bytes in escapes {
            let file = dir.appendingPathComponent("escape.sql")
            try Data(bytes).write(to: file)
            let shadow = try b.makeShadow(for: "ferry_t_guarded", runID: "rg3")
            let error = expectCode(.importError) { _ = try b.importData(into: shadow, from: [.file(file.path)], format: .sql, progress: ProgressCounter()) }
            #expect(error?.message.contains("escape.sql:2:") == true, "\(String(describing: error))")
            try b.drop(shadow)
        }
        #expect(try b.connection.scalar("SELECT @@global.max_connections") == globalBefore)
        #expect(try b.connection.query("SELECT COUNT(*) FROM ferry_t_victim.t").first?[0] == "1")

        // The dump's own name (here: the plan's database, no USE) binds to the shadow.
        let file = dir.appendingPathComponent("own.sql")
        try "CREATE TABLE ferry_t_guarded.t (x INT);\nINSERT INTO `ferry_t_guarded`.t VALUES (5);\n".write(to: file, atomically: true, encoding: .utf8)
        let shadow = try b.makeShadow(for: "ferry_t_guarded", runID: "rg2")
        _ = try b.importData(into: shadow, from: [.file(file.path)], format: .sql, progress: ProgressCounter())
        #expect(try b.connection.query("SELECT x FROM \(qualified(shadow, "t"))").map { $0[0] } == ["5"])
        #expect(try !b.databaseExists("ferry_t_guarded"))
        try b.drop(shadow)
    }

    /// Issue 16 §1 on the server: what the mariadb client loads, Ferry loads the same.
    @Test func theIssuesDumpsLoadAsTheClientLoadsThem() throws {
        let a = try Servers.a()
        defer { a.close() }
        try a.sql("DROP DATABASE IF EXISTS ferry_t_shop", "CREATE DATABASE ferry_t_shop",
                  "CREATE TABLE ferry_t_shop.ferry_t_shop (id INT PRIMARY KEY, note VARCHAR(40) DEFAULT 'from `ferry_t_shop`.legacy')",
                  "CREATE TABLE ferry_t_shop.other (id INT, shop_id INT)",
                  "INSERT INTO ferry_t_shop.other VALUES (7, 1)",
                  "CREATE VIEW ferry_t_shop.v AS SELECT ferry_t_shop.id, other.id AS oid FROM ferry_t_shop.ferry_t_shop JOIN ferry_t_shop.other ON ferry_t_shop.id = other.shop_id",
                  "CREATE TABLE ferry_t_shop.log (msg VARCHAR(60))",
                  "CREATE TRIGGER ferry_t_shop.tr BEFORE INSERT ON ferry_t_shop.ferry_t_shop FOR EACH ROW BEGIN SET NEW.note = CONCAT('`ferry_t_shop`.', NEW.id); INSERT INTO ferry_t_shop.log VALUES (CONCAT('ferry_t_shop.', NEW.id)); END",
                  "CREATE PROCEDURE ferry_t_shop.tick(n INT) INSERT INTO ferry_t_shop.log VALUES (n)")
        defer { try? a.sql("DROP DATABASE IF EXISTS ferry_t_shop") }
        let url = try #require(ProcessInfo.processInfo.environment["FERRY_TEST_MYSQL_A"])
        let port = String(url.split(separator: ":").last ?? "")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-shop-\(getpid()).sql")
        defer { try? FileManager.default.removeItem(at: file) }
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "MYSQL_PWD=\"$FERRY_TEST_MYSQL_PASSWORD\" mariadb-dump --no-defaults -h127.0.0.1 -P\(port) -uferry --routines --triggers --databases ferry_t_shop --add-drop-database > '\(file.path)'"]
        try shell.run()
        shell.waitUntilExit()
        #expect(shell.terminationStatus == 0)
        let shadow = try a.makeShadow(for: "ferry_t_shop_copy", runID: "rg3")
        defer { try? a.drop(shadow) }
        _ = try a.importData(into: shadow, from: [.file(file.path)], format: .sql, progress: ProgressCounter())
        let c = a.connection
        #expect(try c.query("SELECT COLUMN_DEFAULT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '\(shadow)' AND COLUMN_NAME = 'note'").first?[0]
                == "'from `ferry_t_shop`.legacy'")
        try a.sql("INSERT INTO \(qualified(shadow, "ferry_t_shop")) (id) VALUES (1)", "CALL \(qualified(shadow, "tick"))(3)")
        #expect(try c.query("SELECT note FROM \(qualified(shadow, "ferry_t_shop"))").first?[0] == "`ferry_t_shop`.1")
        #expect(try c.query("SELECT msg FROM \(qualified(shadow, "log")) ORDER BY msg").map { $0[0] } == ["3", "ferry_t_shop.1"],
                "the trigger and the procedure write into the shadow")
        #expect(try c.query("SELECT COUNT(*) FROM ferry_t_shop.log").first?[0] == "0", "not into the dump's database")
        #expect(try c.query("SELECT id, oid FROM \(qualified(shadow, "v"))").map { [$0[0], $0[1]] } == [["1", "7"]])
    }
}

/// A second fresh tester's escapes (all into MariaDB 10.11 with exit 0 or a false "as before"),
/// each refused now, with variants.
@Suite struct MySQLImportGuardEscapeTests {
    func refusal(_ file: String, databases: [String] = ["sentinel", "inventory_test"]) -> String? {
        for version in [MySQLImportGuardTests.version, nil] as [String?] {
            let statements = SQLStatementReader(reader: MemoryReader(Array(file.utf8)), dialect: .mysql)
            var guardian = MySQLImportGuard(source: "dump.sql", target: "inventory_test", shadow: "S", serverVersion: version,
                                            databases: version == nil ? [] : databases)
            do {
                while let statement = try statements.nextStatement() { _ = try guardian.admit(statement.text, line: statement.line) }
            } catch let error as FerryError {
                return error.message
            } catch { return "\(error)" }
        }
        return nil
    }

    @Test func aClientCharacterSetGivenAsAnExpressionIsRefused() {
        for value in ["CONCAT('bi','g5')", "LOWER('BIG5')", "IF(1,'big5','utf8')", "'bi' 'g5'", "X'62696735'", "_latin1'big5'",
                      "CONVERT('big5' USING latin1)", "COALESCE(NULL,'big5')", "CHAR(98,105,103,53)", "N'big5'"] {
            for head in ["SET NAMES ", "SET character_set_client = ", "SET SESSION character_set_client = ", "SET CHARACTER SET "] {
                let message = refusal("CREATE TABLE t1 (id INT);\n\(head)\(value);\n")
                #expect(message?.hasPrefix("dump.sql:2:") == true && message?.contains("character set") == true, "\(head)\(value): \(message ?? "admitted")")
            }
        }
        #expect(refusal("CREATE TABLE t1 (id INT);\nSET NAMES 'utf8mb4' COLLATE 'utf8mb4_bin';\nSET character_set_client = utf8mb4, sql_mode = '';\n") == nil)
    }

    @Test func setStatementIsRefusedAnywhere() {
        for statement in ["SET STATEMENT sql_mode=SUBSTRING('abcdef' FROM 1 FOR 2) FOR DROP USER appuser",
                          "SET STATEMENT max_statement_time=1 FOR SELECT 1",
                          "CREATE PROCEDURE p() SET STATEMENT sql_mode='' FOR RENAME USER a TO b",
                          "CREATE PROCEDURE p() BEGIN SET STATEMENT sql_mode='' FOR PREPARE s FROM @q; END",
                          "SET STATEMENT sql_mode='NO_BACKSLASH_ESCAPES' FOR CREATE TRIGGER IF NOT EXISTS tr AFTER INSERT ON t1 FOR EACH ROW SET @a = 1"] {
            let message = refusal("CREATE TABLE t1 (id INT);\n\(statement);\n")
            #expect(message?.hasPrefix("dump.sql:2:") == true && message?.contains("SET STATEMENT") == true, "\(statement): \(message ?? "admitted")")
        }
    }

    @Test func theStatementAfterBeginNotAtomicIsChecked() {
        for body in ["SET PASSWORD FOR appuser = PASSWORD('x')", "DROP USER appuser", "SET GLOBAL max_connections = 1", "PREPARE s FROM @q"] {
            let message = refusal("CREATE TABLE t1 (id INT);\nBEGIN NOT ATOMIC \(body); END;\n")
            #expect(message?.hasPrefix("dump.sql:2:") == true, "\(body): \(message ?? "admitted")")
        }
    }

    /// Another database named in any position (parentheses, after an alias keyword, `RENAME AS`,
    /// the server's own schemas) is refused at apply time, where the server's databases are known.
    @Test func anotherDatabaseIsRefusedInAnyPosition() {
        for statement in ["CREATE TRIGGER tr AFTER INSERT ON t1 FOR EACH ROW UPDATE t1 u, ((sentinel.t)) SET u.id = 1",
                          "CREATE VIEW leak AS SELECT * FROM t1, (mysql.user)",
                          "CREATE VIEW v2 AS SELECT * FROM t1 JOIN ((sentinel.t)) ON 1",
                          "CREATE PROCEDURE p() UPDATE t1 comment, sentinel.t SET t.x = 1",
                          "CREATE PROCEDURE p() ALTER TABLE t1 RENAME AS sentinel.planted",
                          "CREATE EVENT e ON SCHEDULE EVERY 1 SECOND DO UPDATE t1, (SELECT 1) x, (`sentinel`.`t`) SET t1.id = 2",
                          "SELECT * FROM t1 WHERE id IN (SELECT x FROM (Sentinel . t))"] {
            let message = refusal("CREATE TABLE t1 (id INT);\n\(statement);\n")
            #expect(message?.hasPrefix("dump.sql:2:") == true && message?.lowercased().contains("sentinel") == true
                    || message?.contains("`mysql`") == true, "\(statement): \(message ?? "admitted")")
        }
        // The import's own names and table.column chains stay allowed.
        #expect(refusal("CREATE TABLE t1 (id INT);\nSELECT t1.id FROM t1;\nSELECT inventory_test.t1.id FROM inventory_test.t1;\n") == nil)
    }
}
