import FerryCore
import FerryIO
@testable import FerryMySQL
import Foundation
import Testing

/// Issue 14 point 1, names as the server reads them: function names, SHOW forms, `LIKE` and
/// session settings are compared as MariaDB resolves them (quoting, letter case, comments,
/// executable comments, schema qualifiers), at the top level and inside routine, event and
/// trigger bodies (a fresh tester's findings F1, F2, F8, F10, F14, F22 and variants).
extension MySQLImportGuardTests {
    /// Asserts that `statement`, as line 3 of a small file, is refused (plan and apply agree)
    /// with a message holding `what`.
    func expectRefused(_ statement: String, _ what: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        let file = "CREATE TABLE t (id INT, c TEXT);\nSET NAMES utf8mb4;\n\(statement);\nSELECT 1;\n"
        let message = refusal(file)
        #expect(message?.hasPrefix("dump.sql:3:") == true, "\(statement): \(message ?? "admitted")", sourceLocation: sourceLocation)
        #expect(message?.lowercased().contains(what.lowercased()) == true, "\(statement): \(message ?? "admitted")",
                sourceLocation: sourceLocation)
    }

    /// Every way to write a statement in a body: a procedure, a function, an event, a trigger,
    /// with and without BEGIN ... END.
    func inBodies(_ statement: String) -> [String] {
        // (Comments do not nest: a statement with its own comment is not wrapped in one.)
        let wrapped = statement.contains("/*") ? [] : [
            "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER tr2 AFTER UPDATE ON t FOR EACH ROW \(statement) */"]
        return ["CREATE PROCEDURE evil() SQL SECURITY DEFINER BEGIN \(statement); END",
         "CREATE DEFINER=`root`@`localhost` PROCEDURE evil() \(statement)",
         "CREATE FUNCTION f() RETURNS INT BEGIN \(statement); RETURN 1; END",
         "CREATE EVENT e ON SCHEDULE EVERY 2 SECOND DO \(statement)",
         "CREATE EVENT e ON SCHEDULE EVERY 2 SECOND DO BEGIN IF 1 THEN \(statement); END IF; END",
         "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN \(statement); END"] + wrapped
    }

    @Test func loadFileIsRefusedHoweverItsNameIsWritten() {
        for call in ["`load_file`('/etc/passwd')", "`LOAD_FILE` ('/etc/hostname')", "Load_File /* a note */ ('/etc/hostname')",
                     "`Load_File`\n-- a line\n('/etc/hostname')", "/*!load_file*/('/x')", "/*!50000 `load_file` */ ('/x')",
                     "\"load_file\"('/x')", "LOAD_FILE('/x')"] {
            expectRefused("SELECT \(call)", "LOAD_FILE")
            expectRefused("CREATE VIEW v AS SELECT \(call) AS x", "LOAD_FILE")
            for body in inBodies("INSERT INTO t VALUES (1, \(call))") { expectRefused(body, "LOAD_FILE") }
        }
    }

    @Test func loadableFunctionsAreRefusedByTheirNames() throws {
        for call in ["sys_exec('id')", "`SYS_EVAL`('id')", "Sys_Exec /**/ ('id')", "lib_mysqludf_sys_info()"] {
            expectRefused("SELECT \(call)", "loadable")
            for body in inBodies("SET @x = \(call)") { expectRefused(body, "loadable") }
        }
        // At apply time every function in the server's mysql.func is one.
        var guardian = MySQLImportGuard(source: "dump.sql", target: "d", shadow: "S", serverVersion: Self.version,
                                        loadableFunctions: ["My_UDF"])
        #expect(throws: FerryError.self) { try guardian.admit(Array("SELECT `my_udf`(1)".utf8), line: 1) }
        #expect(throws: Never.self) { try guardian.admit(Array("SELECT my_function(1)".utf8), line: 2) }
    }

    @Test func showFormsThatReachAccountsServerStateOrOtherDatabasesAreRefused() {
        let refused: [(String, String)] = [
            ("SHOW GRANTS FOR 'ferry'@'127.0.0.1'", "GRANTS"), ("SHOW GRANTS", "GRANTS"), ("show grants for current_user", "GRANTS"),
            ("SHOW PROCESSLIST", "PROCESSLIST"), ("SHOW FULL PROCESSLIST", "PROCESSLIST"), ("SHOW DATABASES", "DATABASES"),
            ("SHOW SCHEMAS", "SCHEMAS"), ("SHOW GLOBAL VARIABLES", "GLOBAL"), ("SHOW VARIABLES LIKE 'secure%'", "VARIABLES"),
            ("SHOW SESSION STATUS", "SESSION"), ("SHOW BINLOG EVENTS", "BINLOG"), ("SHOW BINARY LOGS", "BINARY"),
            ("SHOW MASTER STATUS", "MASTER"), ("SHOW SLAVE STATUS", "SLAVE"), ("SHOW REPLICA STATUS", "REPLICA"),
            ("SHOW ENGINE INNODB STATUS", "ENGINE"), ("SHOW ENGINES", "ENGINES"), ("SHOW EXPLAIN FOR 1", "EXPLAIN"),
            ("SHOW ANALYZE FOR 1", "ANALYZE"), ("SHOW CREATE USER root", "CREATE USER"), ("SHOW CREATE DATABASE victim", "CREATE DATABASE"),
            ("SHOW PRIVILEGES", "PRIVILEGES"), ("SHOW PLUGINS", "PLUGINS"), ("SHOW OPEN TABLES", "OPEN"),
            ("SHOW PROCEDURE STATUS", "PROCEDURE STATUS"), ("SHOW FUNCTION STATUS", "FUNCTION STATUS"),
            ("SHOW USER_STATISTICS", "USER_STATISTICS"), ("SHOW PROFILES", "PROFILES"),
            ("SHOW TABLES FROM victim", "victim"), ("SHOW TABLES FROM mysql", "mysql"), ("SHOW FULL TABLES IN `victim`", "victim"),
            ("SHOW EVENTS FROM victim", "victim"), ("SHOW TRIGGERS FROM victim", "victim"), ("SHOW TABLE STATUS FROM victim", "victim"),
            ("SHOW COLUMNS FROM t FROM victim", "victim"), ("SHOW FULL COLUMNS IN t IN victim", "victim"),
            ("SHOW INDEX FROM t IN victim", "victim"), ("SHOW KEYS FROM victim.t", "victim"), ("SHOW FIELDS IN `victim` . `t`", "victim"),
            ("SHOW CREATE TABLE victim.t", "victim"), ("SHOW CREATE PROCEDURE victim.p", "victim"),
            ("/*!SHOW*/ GRANTS", "GRANTS"), ("SHOW /*!50000 GRANTS */", "GRANTS"), ("Show\n-- x\n Grants", "GRANTS"),
            ("EXPLAIN FOR CONNECTION 1", "FOR CONNECTION"), ("EXPLAIN FORMAT=JSON FOR CONNECTION 1", "FOR CONNECTION"),
        ]
        for (statement, what) in refused {
            expectRefused(statement, what)
            for body in inBodies(statement) { expectRefused(body, what) }
        }
    }

    @Test func showFormsOnTheImportsOwnObjectsStayAndBindToTheShadow() throws {
        let allowed = ["SHOW TABLES", "SHOW FULL TABLES LIKE 't%'", "SHOW TABLE STATUS", "SHOW TRIGGERS", "SHOW EVENTS",
                       "SHOW COLUMNS FROM t", "SHOW FULL FIELDS IN t", "SHOW INDEX FROM t", "SHOW KEYS IN t WHERE Key_name = 'x'",
                       "SHOW CREATE TABLE t", "SHOW CREATE VIEW v", "SHOW CREATE PROCEDURE p", "SHOW CREATE EVENT e",
                       "SHOW CREATE TRIGGER tr", "SHOW PROCEDURE CODE p", "SHOW WARNINGS", "SHOW ERRORS", "SHOW COUNT(*) WARNINGS"]
        for statement in allowed {
            #expect(refusal("CREATE TABLE t (id INT);\n\(statement);\n") == nil, "\(statement)")
            #expect(refusal("CREATE TABLE t (id INT);\nCREATE PROCEDURE p() BEGIN \(statement); END;\n") == nil, "\(statement)")
        }
        // The dump's own database named by FROM/IN or as a qualifier is removed: the statement
        // reads the database it runs in (the shadow, then the target), never the live one.
        let sent = try admit("""
            USE `inventory`;
            CREATE TABLE t (id INT);
            SHOW TABLES FROM inventory;
            SHOW COLUMNS FROM t IN `inventory`;
            SHOW CREATE TABLE inventory.t;
            CREATE PROCEDURE p() BEGIN SHOW TABLE STATUS FROM inventory; SHOW INDEX FROM inventory.t; END;
            """, target: "inventory_test")
        #expect(!sent.contains { $0.contains("inventory") }, "\(sent)")
        #expect(sent.contains { $0.hasPrefix("SHOW TABLES") }, "\(sent)")
    }

    @Test func createTableLikeAnotherDatabaseIsRefusedEverywhere() throws {
        for like in ["CREATE TABLE t3 LIKE victim.t", "CREATE TABLE t3 (LIKE victim.t)", "create table if not exists t3 like `victim`.`t`",
                     "CREATE TABLE t3 LIKE fut.t", "CREATE TEMPORARY TABLE t3 LIKE victim . t", "CREATE TABLE x.t3 LIKE x.t"] {
            expectRefused(like, "names another database")
            for body in inBodies(like) { expectRefused(body, "names another database") }
        }
        // The dump's own database after LIKE is rewritten like every other qualifier (the
        // tester's own.sql: a procedure of inventory_test read the live inventory.items).
        let sent = try admit("""
            USE inventory;
            CREATE TABLE items (id INT);
            CREATE TABLE copy1 LIKE inventory.items;
            DELIMITER //
            CREATE DEFINER=root@localhost PROCEDURE p1() SQL SECURITY DEFINER CREATE TABLE t3 LIKE inventory.items//
            CREATE PROCEDURE p2() BEGIN CREATE TABLE IF NOT EXISTS t4 (LIKE `inventory`.`items`); END//
            DELIMITER ;
            """, target: "inventory_test")
        #expect(!sent.contains { $0.contains("inventory") }, "\(sent)")
        #expect(sent.contains("CREATE TABLE copy1 LIKE items"), "\(sent)")
        // LIKE as a comparison keeps a table.column chain.
        #expect(refusal("CREATE TABLE t (c TEXT);\nSELECT * FROM t WHERE c LIKE t.c;\n") == nil)
    }

    @Test func privilegedSessionSettingsAreRefusedAtTheTopAndInBodies() {
        let settings: [(String, String)] = [
            ("SET sql_log_bin=0", "sql_log_bin"), ("SET @@session.sql_log_bin=0", "sql_log_bin"),
            ("SET SESSION sql_log_bin = 0", "sql_log_bin"), ("set `SQL_LOG_BIN` = 0", "sql_log_bin"),
            ("SET @@SESSION.SQL_LOG_BIN= 0", "sql_log_bin"), ("SET @@local . `sql_log_bin` := 0", "sql_log_bin"),
            ("/*!40101 SET sql_log_bin=0 */", "sql_log_bin"), ("SET @a = 1, sql_log_bin = 0", "sql_log_bin"),
            ("SET LOCAL sql_log_bin = OFF", "sql_log_bin"), ("SET skip_replication=1", "skip_replication"),
            ("SET SESSION gtid_seq_no=100", "gtid_seq_no"), ("SET SESSION gtid_domain_id=7", "gtid_domain_id"),
            ("SET SESSION binlog_format=STATEMENT", "binlog_format"), ("SET binlog_annotate_row_events=0", "binlog_annotate_row_events"),
            ("SET server_id=999", "server_id"), ("SET @@session.wsrep_on=0", "wsrep_on"), ("SET SESSION sql_log_off=1", "sql_log_off"),
            ("SET pseudo_slave_mode=1", "pseudo_slave_mode"), ("SET pseudo_thread_id=5", "pseudo_thread_id"),
            ("SET debug_dbug='+d,x'", "debug_dbug"), ("SET log_disabled_statements='slave,sp'", "log_disabled_statements"),
            ("SET gtid_next='x:1'", "gtid_next"), ("SET enforce_storage_engine=MyISAM", "enforce_storage_engine"),
            ("SET keycache1.key_buffer_size = 1", "structured"), ("SET `default`.key_cache_segments = 1", "structured"),
        ]
        for (statement, what) in settings {
            expectRefused(statement, what)
            for body in inBodies(statement) { expectRefused(body, what) }
        }
    }

    @Test func ordinarySessionSettingsAndReadsOfPrivilegedOnesStay() {
        let dump = """
            /*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
            /*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
            /*!40103 SET TIME_ZONE='+00:00' */;
            /*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
            /*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
            /*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
            /*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;
            SET @saved_log_bin = @@SESSION.SQL_LOG_BIN;
            SET @@session.sql_select_limit = 10, SESSION max_statement_time = 5;
            CREATE TABLE t (id INT, binlog_format INT, server_id INT);
            UPDATE t SET binlog_format = 1, server_id = 2;
            INSERT INTO t SET id = 1, sql_log_bin = 0;
            CREATE PROCEDURE p() BEGIN DECLARE sid INT; SET sid = @@server_id; UPDATE t SET server_id = sid; END;
            CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.server_id = 1, NEW.binlog_format = 2;
            CREATE PROCEDURE q() BEGIN DECLARE r ROW(a INT); SET r.a = 1; END;
            """
        #expect(refusal(dump) == nil)
    }
}

/// The same on a real server: each of the tester's files is refused before it changes anything,
/// and the list of privileged settings covers every session variable the server itself refuses
/// to an account without SUPER and the admin privileges.
@Suite(.serialized) struct MySQLImportNameServerTests {
    @Test func theTestersFilesAreRefusedOnTheServerAndNothingChanges() throws {
        let b = try Servers.b()
        defer { b.close() }
        try b.sql("DROP DATABASE IF EXISTS ferry_t_victim14", "CREATE DATABASE ferry_t_victim14",
                  "CREATE TABLE ferry_t_victim14.t (x INT)", "INSERT INTO ferry_t_victim14.t VALUES (1)")
        defer { try? b.sql("DROP DATABASE IF EXISTS ferry_t_victim14") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-names-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let files: [String] = [
            // F10
            "CREATE TABLE loot (at datetime, c text);\nCREATE VIEW v AS SELECT `load_file`('/etc/passwd') AS x;\n",
            "CREATE TABLE loot (at datetime, c text);\nCREATE EVENT grab ON SCHEDULE EVERY 2 SECOND DO INSERT INTO loot VALUES (now(), `LOAD_FILE` ('/etc/hostname'));\n",
            // F8, F2
            "CREATE TABLE t (id int);\nDELIMITER //\nCREATE PROCEDURE evil() SQL SECURITY DEFINER\nBEGIN\n SHOW GRANTS FOR 'ferry'@'127.0.0.1';\nEND//\nDELIMITER ;\n",
            "CREATE TABLE t (id int);\nCREATE PROCEDURE evil() SQL SECURITY DEFINER BEGIN SHOW TABLES FROM ferry_t_victim14; END;\n",
            // F1
            "CREATE TABLE t (id int, c int);\nCREATE DEFINER=`root`@`localhost` PROCEDURE evil() SQL SECURITY DEFINER BEGIN CREATE TABLE t3 LIKE ferry_t_victim14.t; END;\n",
            // F14, F22
            "CREATE TABLE t (id int);\nCREATE PROCEDURE evil() SQL SECURITY DEFINER BEGIN SET sql_log_bin=0; END;\n",
            "CREATE TABLE hidden_t (id int);\nSET sql_log_bin=0;\nINSERT INTO hidden_t VALUES (42);\n",
        ]
        for (n, text) in files.enumerated() {
            let file = dir.appendingPathComponent("f\(n).sql")
            try text.write(to: file, atomically: true, encoding: .utf8)
            // Plan time: the local file is refused.
            let planned = MySQLEngine().importProblems(in: [.file(file.path)], format: .sql, database: "ferry_t_names", serverVersion: nil)
            #expect(planned.first?.code == .importError && planned.first?.message.contains("f\(n).sql:") == true, "\(text): \(planned)")
            // Apply time: refused before the statement runs, inside the shadow nothing from after it.
            let shadow = try b.makeShadow(for: "ferry_t_names", runID: "rn\(n)")
            let error = expectCode(.importError) { _ = try b.importData(into: shadow, from: [.file(file.path)], format: .sql, progress: ProgressCounter()) }
            #expect(error?.message.contains("f\(n).sql:2:") == true || error?.message.contains("f\(n).sql:3:") == true
                    || error?.message.contains("f\(n).sql:5:") == true, "\(String(describing: error))")
            #expect(try b.connection.query("SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '\(shadow)'").isEmpty)
            #expect(try b.connection.query("SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '\(shadow)'").isEmpty)
            try b.drop(shadow)
        }
        // At apply time any chain that starts with another database of the server is refused,
        // wherever it stands: the server's databases are read on Ferry's connection (the import
        // account sees only the shadow, and this passed).
        let file = dir.appendingPathComponent("chain.sql")
        try "CREATE TABLE t (c TEXT);\nCREATE PROCEDURE p() SELECT c FROM t WHERE c LIKE ferry_t_victim14.t;\n".write(to: file, atomically: true, encoding: .utf8)
        let shadow = try b.makeShadow(for: "ferry_t_names", runID: "rnc")
        let error = expectCode(.importError) { _ = try b.importData(into: shadow, from: [.file(file.path)], format: .sql, progress: ProgressCounter()) }
        #expect(error?.message.contains("chain.sql:2:") == true && error?.message.contains("ferry_t_victim14") == true, "\(String(describing: error))")
        try b.drop(shadow)
        #expect(try b.connection.query("SELECT COUNT(*) FROM ferry_t_victim14.t").first?[0] == "1")
    }

    /// An ordinary `mariadb-dump --routines --events --triggers` file, whose bodies use what
    /// stays allowed (SHOW of their own objects, `LIKE` of their own table qualified with the
    /// dump's database, a trigger's `SET NEW.x`, reads of `@@server_id`), passes the plan-time
    /// scan and imports; the qualified `LIKE` binds to the shadow.
    @Test func anOrdinaryDumpWithBodiesStillImports() throws {
        let a = try Servers.a()
        defer { a.close() }
        try a.sql("DROP DATABASE IF EXISTS ferry_t_own", "CREATE DATABASE ferry_t_own",
                  "CREATE TABLE ferry_t_own.t (id INT PRIMARY KEY, server_id INT, note VARCHAR(40))",
                  "INSERT INTO ferry_t_own.t VALUES (1, 0, 'a')",
                  "CREATE TRIGGER ferry_t_own.tr BEFORE INSERT ON ferry_t_own.t FOR EACH ROW BEGIN SET NEW.server_id = @@server_id, NEW.note = 'trig'; END",
                  "CREATE PROCEDURE ferry_t_own.clone() BEGIN CREATE TABLE IF NOT EXISTS t_copy LIKE ferry_t_own.t; END",
                  "CREATE PROCEDURE ferry_t_own.look() BEGIN SHOW TABLES FROM ferry_t_own; SHOW COLUMNS FROM t; SHOW CREATE TABLE ferry_t_own.t; SHOW WARNINGS; END",
                  "CREATE FUNCTION ferry_t_own.twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
                  "CREATE EVENT ferry_t_own.e ON SCHEDULE EVERY 1 DAY DISABLE DO INSERT INTO ferry_t_own.t (id) VALUES (99)")
        defer { try? a.sql("DROP DATABASE IF EXISTS ferry_t_own") }
        let url = try #require(ProcessInfo.processInfo.environment["FERRY_TEST_MYSQL_A"])
        let port = String(url.split(separator: ":").last ?? "")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-own-\(getpid()).sql")
        defer { try? FileManager.default.removeItem(at: file) }
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "MYSQL_PWD=\"$FERRY_TEST_MYSQL_PASSWORD\" mariadb-dump --no-defaults -h127.0.0.1 -P\(port) -uferry --routines --triggers --events --databases ferry_t_own --add-drop-database > '\(file.path)'"]
        try shell.run()
        shell.waitUntilExit()
        #expect(shell.terminationStatus == 0)
        #expect(MySQLEngine().importProblems(in: [.file(file.path)], format: .sql, database: "ferry_t_own_copy", serverVersion: nil).isEmpty)
        let shadow = try a.makeShadow(for: "ferry_t_own_copy", runID: "rno")
        // Written into by the test (its CALL) as an application would: Ferry would leave it.
        defer { try? a.dropTestDatabase(shadow) }
        _ = try a.importData(into: shadow, from: [.file(file.path)], format: .sql, progress: ProgressCounter())
        try a.sql("CALL \(qualified(shadow, "clone"))()")
        let c = a.connection
        #expect(try c.query("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(shadow)' AND TABLE_NAME = 't_copy'").first?[0] == "1")
        #expect(try c.query("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'ferry_t_own' AND TABLE_NAME = 't_copy'").first?[0] == "0")
        #expect(try c.query("SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '\(shadow)'").first?[0] == "3")
        #expect(try c.query("SELECT ROUTINE_DEFINITION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '\(shadow)' AND ROUTINE_NAME = 'look'")
            .first?[0]?.contains("ferry_t_own") == false)
        #expect(try c.query("SELECT note FROM \(qualified(shadow, "t")) WHERE id = 1").first?[0] == "a")
    }

    @Test func privilegedSessionSettingsMatchTheServer() throws {
        let b = try Servers.b()
        defer { b.close() }
        let spec = try Servers.spec("FERRY_TEST_MYSQL_B", name: "mysql-b")
        let address = try #require(spec.url)
        let url = try #require(URLComponents(string: address))
        let password = "x-test-only-probe"
        try b.sql("DROP USER IF EXISTS 'ferry_t_probe'@'%'", "CREATE USER 'ferry_t_probe'@'%' IDENTIFIED BY '\(password)'",
                  "GRANT ALL PRIVILEGES ON *.* TO 'ferry_t_probe'@'%'",
                  "REVOKE SUPER, BINLOG ADMIN, BINLOG REPLAY, REPLICATION MASTER ADMIN, SLAVE MONITOR, REPLICATION SLAVE ADMIN, CONNECTION ADMIN, READ_ONLY ADMIN, FEDERATED ADMIN, SET USER ON *.* FROM 'ferry_t_probe'@'%'")
        defer { try? b.sql("DROP USER IF EXISTS 'ferry_t_probe'@'%'") }
        let probe = try MySQLConnection(host: url.host ?? "127.0.0.1", port: UInt32(url.port ?? 3306), user: "ferry_t_probe",
                                        password: password, instanceName: "probe")
        defer { probe.close() }
        let variables = try b.connection.query("""
            SELECT LOWER(VARIABLE_NAME) FROM information_schema.SYSTEM_VARIABLES
            WHERE VARIABLE_SCOPE IN ('SESSION', 'SESSION ONLY') AND READ_ONLY = 'NO'
            """).compactMap { $0[0] }
        #expect(variables.count > 100)
        var refusedByServer: [String] = []
        for variable in variables {
            do { try probe.execute("SET SESSION `\(variable)` = @@session.`\(variable)`") }
            catch let error as MySQLServerError where error.code == 1227 { refusedByServer.append(variable) }
            catch {}
        }
        #expect(refusedByServer.contains("sql_log_bin"))
        #expect(refusedByServer.filter { !MySQLImportGuard.isPrivilegedSetting($0) } == [])
    }
}
