import FerryCore
import FerryIO
@testable import FerryMySQL
import Foundation
import Testing

/// Issue 14, the binary-log case: on a server that writes a binary log with
/// `log_bin_trust_function_creators` off, the server refuses triggers and functions (1419) to an
/// account without SUPER, such as the import account. The dump loads as the `mariadb` client run
/// by Ferry's user (SUPER) loads it: such a definition runs on Ferry's connection with the import
/// account as its definer (so it still acts with the shadow's rights alone while the file loads),
/// and gets the dump's definer back at the end. A function the server refuses to everyone (1418)
/// is an ImportError with file, line and hint, as the client fails on it.
///
/// The server is a third MariaDB started for this suite (`scripts/mysql-servers.sh start-extra
/// binlog PORT --log-bin`, PORT `FERRY_TEST_MYSQL_PORT_BINLOG` or `FERRY_TEST_MYSQL_PORT_A` + 10).
@Suite(.serialized) struct MySQLImportBinlogTests {
    /// Runs `scripts/mysql-servers.sh` with `arguments` (through `system`, as the end-to-end
    /// tests do: Foundation's `Process` did not return here once the script had started a server).
    static func script(_ arguments: String) -> (Int32, String) {
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-binlog-script-\(getpid()).log").path
        let status = system("'\(root.path)/scripts/mysql-servers.sh' \(arguments) >'\(log)' 2>&1 </dev/null")
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return (status == -1 ? -1 : (status >> 8) & 0xFF, output)
    }

    static var port: String {
        let env = ProcessInfo.processInfo.environment
        if let port = env["FERRY_TEST_MYSQL_PORT_BINLOG"] { return port }
        return String((env["FERRY_TEST_MYSQL_PORT_A"].flatMap { Int($0) } ?? 23061) + 10)
    }

    /// Starts the binary-log server (or finds it running) and connects as Ferry's user.
    static func server() throws -> MySQLSession {
        var started = script("start-extra binlog \(port) --log-bin")
        if started.0 != 0 { started = script("start-extra binlog \(port) --log-bin") }
        try #require(started.0 == 0, "cannot start a MariaDB with a binary log on \(port): \(started.1)")
        _ = try #require(ProcessInfo.processInfo.environment["FERRY_TEST_MYSQL_PASSWORD"])
        let spec = InstanceSpec(name: "mysql-binlog", engine: .mysql, url: "mysql://ferry@127.0.0.1:\(port)",
                                password: .env("FERRY_TEST_MYSQL_PASSWORD"))
        return try #require(try EngineRegistry([MySQLEngine()]).connect(spec) as? MySQLSession)
    }

    func file(_ name: String, _ text: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-binlog-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    @Test func triggersAndFunctionsLoadAsTheClientLoadsThemAndStayInside() throws {
        let b = try Self.server()
        defer { b.close(); _ = Self.script("stop-extra binlog") }
        let c = b.connection
        #expect(try c.scalar("SELECT @@GLOBAL.log_bin") == "1" && c.scalar("SELECT @@GLOBAL.log_bin_trust_function_creators") == "0")
        let me = try #require(try c.scalar("SELECT CURRENT_USER()"))
        try b.sql("DROP DATABASE IF EXISTS ferry_t_bvictim", "CREATE DATABASE ferry_t_bvictim", "CREATE TABLE ferry_t_bvictim.t (x INT)")
        defer { try? b.sql("DROP DATABASE IF EXISTS ferry_t_bvictim") }

        // What a dump holds: triggers and functions of several definers, a DROP TRIGGER, the
        // file's own sql_mode and client character set (latin1: the definitions are sent as the
        // file's bytes), statements that fire and call them.
        let f = try file("bin.sql", """
        SET NAMES latin1;
        SET sql_mode = 'STRICT_ALL_TABLES';
        CREATE TABLE items (id INT PRIMARY KEY, n INT);
        CREATE TABLE log (id INT);
        /*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER tr AFTER INSERT ON items FOR EACH ROW INSERT INTO log VALUES (NEW.id) */;
        DELIMITER ;;
        CREATE DEFINER=`root`@`localhost` FUNCTION twice(x INT) RETURNS INT DETERMINISTIC BEGIN RETURN x * 2; END;;
        CREATE FUNCTION counted() RETURNS INT READS SQL DATA RETURN (SELECT COUNT(*) FROM items);;
        CREATE PROCEDURE p() MODIFIES SQL DATA INSERT INTO log VALUES (99);;
        DELIMITER ;
        INSERT INTO items VALUES (1, twice(1));
        DROP TRIGGER tr;
        CREATE TRIGGER tr2 BEFORE INSERT ON items FOR EACH ROW SET NEW.n = twice(NEW.id) + counted();
        INSERT INTO items VALUES (2, 0);
        CALL p();

        """)
        let shadow = try b.makeShadow(for: "ferry_t_binlog", runID: "rbl")
        defer { try? b.drop(shadow) }
        let built = try b.importData(into: shadow, from: [.file(f.path)], format: .sql, progress: ProgressCounter())
        #expect(try c.query("SELECT id, n FROM \(qualified(shadow, "items")) ORDER BY id").map { $0.map { $0 ?? "" } } == [["1", "2"], ["2", "5"]])
        #expect(try c.query("SELECT id FROM \(qualified(shadow, "log")) ORDER BY id").map { $0[0] } == ["1", "99"])
        let s = c.literal(shadow)
        let objects = try c.query("""
            SELECT TRIGGER_NAME, DEFINER, SQL_MODE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = \(s)
            UNION ALL SELECT ROUTINE_NAME, DEFINER, SQL_MODE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = \(s) ORDER BY 1
            """).map { $0.map { $0 ?? "" } }
        #expect(objects == [["counted", me, "STRICT_ALL_TABLES"], ["p", me, "STRICT_ALL_TABLES"],
                            ["tr2", me, "STRICT_ALL_TABLES"], ["twice", "root@localhost", "STRICT_ALL_TABLES"]], "\(objects)")
        #expect(built.receipt.detail["definer:FUNCTION twice"] == "`root`@`localhost`")
        #expect(try c.scalar("SELECT COUNT(*) FROM mysql.user WHERE User = \(c.literal(MySQLImportAccount.name(forShadow: shadow)))") == "0")

        // A root trigger made so still runs as the import account while the file loads: what it
        // reaches outside the shadow is refused at the INSERT that fires it.
        func failing(_ text: String, run: String, line: Int) throws -> FerryError? {
            let f = try file("\(run).sql", text)
            let shadow = try b.makeShadow(for: "ferry_t_binlog", runID: run)
            defer { try? b.drop(shadow) }
            let error = expectCode(.importError) {
                _ = try b.importData(into: shadow, from: [.file(f.path)], format: .sql, progress: ProgressCounter(), scanning: false)
            }
            #expect(error?.message.hasPrefix("\(f.path):\(line): ") == true, "\(String(describing: error))")
            return error
        }
        let reaching = try failing("""
        CREATE TABLE items (id INT PRIMARY KEY);
        CREATE DEFINER=`root`@`localhost` TRIGGER bad AFTER INSERT ON items FOR EACH ROW INSERT INTO ferry_t_bvictim.t VALUES (666);
        INSERT INTO items VALUES (1);

        """, run: "rbl1", line: 3)
        #expect(reaching?.message.hasSuffix("(1142)") == true, "\(String(describing: reaching))")
        // One that names another database is not run on Ferry's connection: the server's refusal stands.
        let qualified = try failing("""
        CREATE TABLE items (id INT PRIMARY KEY);
        CREATE TRIGGER ferry_t_bvictim.bad BEFORE INSERT ON ferry_t_bvictim.t FOR EACH ROW SET NEW.x = 666;

        """, run: "rbl2", line: 2)
        #expect(qualified?.message.hasSuffix("(1419)") == true, "\(String(describing: qualified))")
        #expect(try c.scalar("SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'ferry_t_bvictim'") == "0")
        #expect(try c.query("SELECT x FROM ferry_t_bvictim.t").isEmpty)
        // A function the server refuses to every account (1418), as to the client: file, line, hint.
        let unsafe = try failing("CREATE TABLE items (id INT);\nCREATE FUNCTION f() RETURNS INT RETURN 1;\n", run: "rbl3", line: 2)
        #expect(unsafe?.message.hasSuffix("(1418)") == true && unsafe?.diagnostics.first?.hint?.contains("DETERMINISTIC") == true, "\(String(describing: unsafe))")
    }
}
