import FerryCore
import FerryIO
@testable import FerryMySQL
import Foundation
import Testing

/// Issue 14 §1 for stored objects: a view, trigger, routine or event a dump defines runs, while
/// the file loads, with the import account's rights alone, whatever DEFINER the dump names; the
/// dump's definers are put back once every statement ran. The hostile files here go past the
/// statement scanner (`scanning: false`): what is shown is that the server alone keeps them in.
@Suite(.serialized) struct MySQLImportDefinerTests {
    func file(_ name: String, _ text: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-definers-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func accounts(_ s: MySQLSession, of shadow: String) throws -> [String] {
        try s.connection.query("SELECT CONCAT(User, '@', Host) FROM mysql.user WHERE User = \(s.connection.literal(MySQLImportAccount.name(forShadow: shadow)))").compactMap { $0[0] }
    }

    /// A database the dumps must not reach, and what the checks compare.
    struct Victim {
        let session: MySQLSession
        let writeTimeout: String?
        init(_ b: MySQLSession) throws {
            session = b
            try b.sql("DROP DATABASE IF EXISTS ferry_t_dvictim", "CREATE DATABASE ferry_t_dvictim",
                      "CREATE TABLE ferry_t_dvictim.t (x INT)", "INSERT INTO ferry_t_dvictim.t VALUES (1)",
                      "DROP DATABASE IF EXISTS ferry_t_dcreated", "DROP USER IF EXISTS 'ferry_t_devil'@'%'")
            writeTimeout = try b.connection.scalar("SELECT @@GLOBAL.net_write_timeout")
        }

        func expectUntouched(_ what: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
            let c = session.connection
            #expect(try c.query("SELECT x FROM ferry_t_dvictim.t").map { $0[0] } == ["1"], "\(what)", sourceLocation: sourceLocation)
            #expect(try c.query("SHOW COLUMNS FROM ferry_t_dvictim.t").count == 1, "\(what)", sourceLocation: sourceLocation)
            #expect(try c.scalar("SELECT @@GLOBAL.net_write_timeout") == writeTimeout, "\(what)", sourceLocation: sourceLocation)
            #expect(try !session.databaseExists("ferry_t_dcreated"), "\(what)", sourceLocation: sourceLocation)
            #expect(try c.scalar("SELECT COUNT(*) FROM mysql.user WHERE User = 'ferry_t_devil'") == "0", "\(what)", sourceLocation: sourceLocation)
        }

        func drop() { try? session.sql("DROP DATABASE IF EXISTS ferry_t_dvictim", "DROP DATABASE IF EXISTS ferry_t_dcreated", "DROP USER IF EXISTS 'ferry_t_devil'@'%'") }
    }

    /// Imports `text` into a fresh shadow past the scanner; returns the ImportError, checking that
    /// it names the file and `line` and that no import account is left.
    func failingImport(_ b: MySQLSession, _ text: String, run: String, line: Int, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> FerryError? {
        let f = try file("\(run).sql", text)
        let shadow = try b.makeShadow(for: "ferry_t_hostile", runID: run)
        defer { try? b.drop(shadow) }
        let error = expectCode(.importError, {
            _ = try b.importData(into: shadow, from: [.file(f.path)], format: .sql, progress: ProgressCounter(), scanning: false)
        }, sourceLocation: sourceLocation)
        #expect(error?.message.hasPrefix("\(f.path):\(line): ") == true, "\(String(describing: error))", sourceLocation: sourceLocation)
        #expect(try accounts(b, of: shadow).isEmpty, sourceLocation: sourceLocation)
        return error
    }

    static let refusals = ["(1044)", "(1142)", "(1227)", "(1045)", "(1143)", "(1370)", "(1410)"]

    /// (1) A trigger with DEFINER=root@localhost fires on the dump's own INSERT and reaches for
    /// another database or a server setting: the server refuses it (the trigger runs as the
    /// import account), the import fails at the INSERT's line, the other database is as it was.
    @Test func aRootTriggerFiringDuringTheImportCannotReachOutside() throws {
        let b = try Servers.b()
        defer { b.close() }
        let victim = try Victim(b)
        defer { victim.drop() }
        let payloads = ["INSERT INTO ferry_t_dvictim.t VALUES (666)", "UPDATE ferry_t_dvictim.t SET x = 666",
                        "DELETE FROM ferry_t_dvictim.t", "SET GLOBAL net_write_timeout = 77",
                        "SET NEW.n = (SELECT MAX(x) FROM ferry_t_dvictim.t)"]
        let definers = ["DEFINER=`root`@`localhost`", "DEFINER = 'root'@'localhost'", "DEFINER=root@localhost", "DEFINER=CURRENT_USER()", ""]
        for (n, payload) in payloads.enumerated() {
            let definer = definers[n % definers.count]
            let text = """
            CREATE TABLE items (id INT PRIMARY KEY, n INT);
            CREATE \(definer) TRIGGER tr BEFORE INSERT ON items FOR EACH ROW \(payload);
            INSERT INTO items VALUES (1, 1);

            """
            let error = try failingImport(b, text, run: "rt\(n)", line: 3)
            #expect(Self.refusals.contains { error?.message.hasSuffix($0) == true }, "\(payload): \(String(describing: error))")
            try victim.expectUntouched(payload)
        }
        // As mariadb-dump writes it, in executable comments, with a body in BEGIN ... END.
        let dumped = """
        CREATE TABLE `items` (`id` int(11) NOT NULL, PRIMARY KEY (`id`));
        DELIMITER ;;
        /*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `tr` AFTER INSERT ON `items` FOR EACH ROW BEGIN
          DELETE FROM ferry_t_dvictim.t;
        END */;;
        DELIMITER ;
        INSERT INTO `items` VALUES (1),(2);

        """
        let error = try failingImport(b, dumped, run: "rtd", line: 7)
        #expect(error?.message.hasSuffix("(1142)") == true, "\(String(describing: error))")
        try victim.expectUntouched("dumped trigger")
        // A trigger that stays inside: it runs during the import, and keeps root as its definer.
        let inside = try file("rtin.sql", """
        CREATE TABLE items (id INT PRIMARY KEY);
        CREATE TABLE log (id INT);
        /*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `tr` AFTER INSERT ON `items` FOR EACH ROW INSERT INTO log VALUES (NEW.id) */;
        INSERT INTO items VALUES (1), (2);

        """)
        let shadow = try b.makeShadow(for: "ferry_t_hostile", runID: "rtin")
        defer { try? b.drop(shadow) }
        let built = try b.importData(into: shadow, from: [.file(inside.path)], format: .sql, progress: ProgressCounter())
        #expect(try b.connection.scalar("SELECT COUNT(*) FROM \(qualified(shadow, "log"))") == "2")
        #expect(try b.connection.scalar("SELECT DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = \(b.connection.literal(shadow))") == "root@localhost")
        #expect(built.receipt.detail["definer:TRIGGER tr"] == "`root`@`localhost`", "\(built.receipt.detail)")
    }

    /// (2) A procedure or function with DEFINER root, called by a later statement of the dump:
    /// the call is refused at its line, nothing outside changed.
    @Test func aRootRoutineCalledDuringTheImportCannotReachOutside() throws {
        let b = try Servers.b()
        defer { b.close() }
        let victim = try Victim(b)
        defer { victim.drop() }
        let procedurePayloads = ["INSERT INTO ferry_t_dvictim.t VALUES (666)", "DROP TABLE ferry_t_dvictim.t",
                                 "ALTER TABLE ferry_t_dvictim.t ADD y INT", "SET GLOBAL net_write_timeout = 77",
                                 "CREATE DATABASE ferry_t_dcreated", "CREATE USER 'ferry_t_devil'@'%'",
                                 "GRANT ALL ON *.* TO CURRENT_USER", "SET @s = 'DROP TABLE ferry_t_dvictim.t'; PREPARE st FROM @s; EXECUTE st"]
        for (n, payload) in procedurePayloads.enumerated() {
            let text = """
            CREATE TABLE items (id INT PRIMARY KEY);
            DELIMITER ;;
            CREATE DEFINER=`root`@`localhost` PROCEDURE p() SQL SECURITY DEFINER BEGIN \(payload); END;;
            DELIMITER ;
            INSERT INTO items VALUES (1);
            CALL p();

            """
            let error = try failingImport(b, text, run: "rp\(n)", line: 6)
            #expect(Self.refusals.contains { error?.message.hasSuffix($0) == true }, "\(payload): \(String(describing: error))")
            try victim.expectUntouched(payload)
        }
        for (n, payload) in ["INSERT INTO ferry_t_dvictim.t VALUES (666)", "DELETE FROM ferry_t_dvictim.t", "SET GLOBAL net_write_timeout = 77"].enumerated() {
            let text = """
            CREATE TABLE items (id INT PRIMARY KEY);
            DELIMITER ;;
            CREATE DEFINER='root'@'localhost' FUNCTION f() RETURNS INT MODIFIES SQL DATA SQL SECURITY DEFINER BEGIN \(payload); RETURN 1; END;;
            DELIMITER ;
            INSERT INTO items VALUES (f());

            """
            let error = try failingImport(b, text, run: "rf\(n)", line: 5)
            #expect(Self.refusals.contains { error?.message.hasSuffix($0) == true }, "\(payload): \(String(describing: error))")
            try victim.expectUntouched(payload)
        }
        // As MySQL 5's mysqldump wrote routines: all in executable comments.
        let mysql5 = """
        CREATE TABLE items (id INT PRIMARY KEY);
        DELIMITER ;;
        /*!50003 CREATE*/ /*!50020 DEFINER=`root`@`localhost`*/ /*!50003 PROCEDURE `p2`()
        BEGIN
          DELETE FROM ferry_t_dvictim.t;
        END */;;
        DELIMITER ;
        CALL p2();

        """
        let old = try failingImport(b, mysql5, run: "rp5", line: 8)
        #expect(old?.message.hasSuffix("(1142)") == true, "\(String(describing: old))")
        try victim.expectUntouched("mysql 5 routine")
        // A view with SQL SECURITY DEFINER and DEFINER root cannot read another database into the shadow.
        let view = "CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW v AS SELECT x FROM ferry_t_dvictim.t;\nCREATE TABLE copied AS SELECT * FROM v;\n"
        let error = try failingImport(b, view, run: "rv", line: 1)
        #expect(error?.message.hasSuffix("(1142)") == true, "\(String(describing: error))")
    }

    /// (3) An event on a schedule of every second, DEFINER root, with the scheduler running and the
    /// import holding a SLEEP: it never fires in the shadow (created disabled), and it leaves the
    /// shadow with its definer and the status it is to get at the swap.
    @Test func eventsNeverFireDuringTheImport() throws {
        let b = try Servers.b()
        defer { b.close() }
        let victim = try Victim(b)
        defer { victim.drop() }
        let scheduler = try b.connection.scalar("SELECT @@GLOBAL.event_scheduler") ?? "OFF"
        try b.sql("SET GLOBAL event_scheduler = ON")
        defer { try? b.sql("SET GLOBAL event_scheduler = \(scheduler)") }
        // The scheduler fires an enabled event of every second within a few seconds (so the
        // checks below can fail).
        try b.sql("DROP DATABASE IF EXISTS ferry_t_evctl", "CREATE DATABASE ferry_t_evctl", "CREATE TABLE ferry_t_evctl.hits (x INT)",
                  "CREATE EVENT ferry_t_evctl.e ON SCHEDULE EVERY 1 SECOND DO INSERT INTO ferry_t_evctl.hits VALUES (1)")
        defer { try? b.sql("DROP DATABASE IF EXISTS ferry_t_evctl") }
        var fired = false
        for _ in 0..<40 where !fired {
            Thread.sleep(forTimeInterval: 0.1)
            fired = try b.connection.scalar("SELECT COUNT(*) FROM ferry_t_evctl.hits") != "0"
        }
        #expect(fired, "the event scheduler runs")
        try b.sql("DROP EVENT ferry_t_evctl.e")

        let text = """
        CREATE TABLE items (id INT);
        CREATE DEFINER=`root`@`localhost` EVENT e ON SCHEDULE EVERY 1 SECOND STARTS CURRENT_TIMESTAMP DO INSERT INTO ferry_t_dvictim.t VALUES (666);
        CREATE EVENT inside ON SCHEDULE EVERY 1 SECOND ON COMPLETION PRESERVE ENABLE COMMENT 'fires into the shadow' DO INSERT INTO items VALUES (1);
        DELIMITER ;;
        /*!50106 CREATE*/ /*!50117 DEFINER=`root`@`localhost`*/ /*!50106 EVENT `dumped` ON SCHEDULE EVERY 1 SECOND STARTS '2020-01-01 00:00:00' ON COMPLETION NOT PRESERVE ENABLE DO BEGIN
          DELETE FROM ferry_t_dvictim.t;
          INSERT INTO items VALUES (2);
        END */ ;;
        /*!50106 CREATE*/ /*!50117 DEFINER=`root`@`localhost`*/ /*!50106 EVENT `kept_off` ON SCHEDULE EVERY 1 DAY STARTS '2020-01-01 00:00:00' ON COMPLETION NOT PRESERVE DISABLE ON SLAVE DO DELETE FROM items */ ;;
        DELIMITER ;
        SELECT SLEEP(3);
        INSERT INTO items VALUES (0);

        """
        let f = try file("ev.sql", text)
        let shadow = try b.makeShadow(for: "ferry_t_hostile", runID: "rev")
        defer { try? b.drop(shadow) }
        let built = try b.importData(into: shadow, from: [.file(f.path)], format: .sql, progress: ProgressCounter(), scanning: false)
        try victim.expectUntouched("events")
        #expect(try b.connection.query("SELECT id FROM \(qualified(shadow, "items"))").map { $0[0] } == ["0"], "no event fired in the shadow")
        let events = try b.connection.query("SELECT EVENT_NAME, DEFINER, STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = \(b.connection.literal(shadow)) ORDER BY EVENT_NAME")
        let me = try #require(try b.connection.scalar("SELECT CURRENT_USER()"))
        #expect(events.map { $0.map { $0 ?? "" } } == [["dumped", "root@localhost", "DISABLED"], ["e", "root@localhost", "DISABLED"],
                                                       ["inside", me, "DISABLED"], ["kept_off", "root@localhost", "DISABLED"]], "\(events)")
        #expect(try b.parkedEventStatuses(in: shadow) == ["dumped": "ENABLE", "e": "ENABLE", "inside": "ENABLE", "kept_off": "DISABLE ON SLAVE"])
        #expect(built.receipt.detail["definer:EVENT e"] == "`root`@`localhost`" && built.receipt.detail["definer:EVENT inside"] == "CURRENT_USER")
        Thread.sleep(forTimeInterval: 1.5)
        #expect(try b.connection.query("SELECT id FROM \(qualified(shadow, "items"))").map { $0[0] } == ["0"], "nor after the definers are back")
        try victim.expectUntouched("events, after")
    }

    /// (5) A definer account that does not exist on the target: the object is created with it,
    /// as the `mariadb` client would (the server only notes 1449); during the import it runs as
    /// the import account, so the dump's own statements that fire it work.
    @Test func aDefinerThatDoesNotExistIsKeptAsTheDumpNamesIt() throws {
        let b = try Servers.b()
        defer { b.close() }
        let f = try file("ghost.sql", """
        CREATE TABLE items (id INT PRIMARY KEY);
        CREATE TABLE log (id INT);
        CREATE DEFINER=`ferry_t_ghost`@`%` TRIGGER tr AFTER INSERT ON items FOR EACH ROW INSERT INTO log VALUES (NEW.id);
        CREATE DEFINER=ferry_t_ghost@'%' SQL SECURITY DEFINER VIEW v AS SELECT id FROM items;
        CREATE DEFINER="ferry_t_ghost"@"%" PROCEDURE p() SELECT 1;
        INSERT INTO items VALUES (1);

        """)
        let shadow = try b.makeShadow(for: "ferry_t_ghosts", runID: "rgh")
        defer { try? b.drop(shadow) }
        _ = try b.importData(into: shadow, from: [.file(f.path)], format: .sql, progress: ProgressCounter())
        #expect(try b.connection.scalar("SELECT COUNT(*) FROM \(qualified(shadow, "log"))") == "1", "the trigger ran during the import")
        let s = b.connection.literal(shadow)
        let definers = try b.connection.query("""
            SELECT DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = \(s)
            UNION ALL SELECT DEFINER FROM information_schema.VIEWS WHERE TABLE_SCHEMA = \(s)
            UNION ALL SELECT DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = \(s)
            """).map { $0[0] }
        #expect(definers == ["ferry_t_ghost@%", "ferry_t_ghost@%", "ferry_t_ghost@%"])
        // Used now, the server refuses it until the account exists (1449), as after `mariadb < dump`.
        #expect(throws: MySQLServerError.self) { try b.connection.execute("INSERT INTO \(qualified(shadow, "items")) VALUES (2)") }
    }

    /// Definitions the file alters or replaces, and objects already in the shadow (an append
    /// import's clone of the target): each object ends with the definer its last definition
    /// gave it, the shadow's other objects keep theirs, and triggers keep their order per table.
    @Test func laterDefinitionsAndClonedObjectsEndWithTheRightDefiners() throws {
        let b = try Servers.b()
        defer { b.close() }
        let shadow = try b.makeShadow(for: "ferry_t_alters", runID: "ral")
        // Written into by the test as an application would: Ferry would leave it.
        defer { try? b.dropTestDatabase(shadow) }
        let me = try #require(try b.connection.scalar("SELECT CURRENT_USER()"))
        // What the clone put there: a table with a trigger whose definer is root.
        try b.sql("CREATE TABLE \(qualified(shadow, "items")) (id INT PRIMARY KEY)", "CREATE TABLE \(qualified(shadow, "log")) (msg VARCHAR(20))",
                  "CREATE DEFINER='root'@'localhost' TRIGGER \(qualified(shadow, "cloned")) AFTER INSERT ON \(qualified(shadow, "items")) FOR EACH ROW INSERT INTO \(qualified(shadow, "log")) VALUES ('cloned')")
        let f = try file("alters.sql", """
        CREATE DEFINER=`root`@`localhost` TRIGGER first AFTER INSERT ON items FOR EACH ROW PRECEDES cloned INSERT INTO log VALUES ('first');
        CREATE DEFINER=`root`@`localhost` TRIGGER last AFTER INSERT ON items FOR EACH ROW FOLLOWS cloned INSERT INTO log VALUES ('last');
        CREATE DEFINER=`root`@`localhost` VIEW v AS SELECT id FROM items;
        ALTER DEFINER='mysql'@'localhost' SQL SECURITY INVOKER VIEW v AS SELECT id + 1 AS id FROM items;
        CREATE DEFINER=`root`@`localhost` VIEW w AS SELECT 1 AS one;
        ALTER VIEW w AS SELECT 2 AS two;
        CREATE DEFINER=root@localhost EVENT ev ON SCHEDULE EVERY 1 DAY DO DELETE FROM log;
        ALTER EVENT ev RENAME TO ev2 ENABLE;
        CREATE DEFINER=`root`@`localhost` PROCEDURE p() SELECT 1;
        ALTER PROCEDURE p COMMENT 'altered';
        CREATE OR REPLACE DEFINER=`mysql`@`localhost` PROCEDURE q() SELECT 1;
        CREATE OR REPLACE PROCEDURE q() SELECT 2;
        INSERT INTO items VALUES (1);

        """)
        let built = try b.importData(into: shadow, from: [.file(f.path)], format: .sql, progress: ProgressCounter())
        let s = b.connection.literal(shadow)
        let triggers = try b.connection.query("SELECT TRIGGER_NAME, DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = \(s) ORDER BY ACTION_ORDER")
        #expect(triggers.map { [$0[0], $0[1]] } == [["first", "root@localhost"], ["cloned", "root@localhost"], ["last", "root@localhost"]])
        #expect(try b.connection.query("SELECT msg FROM \(qualified(shadow, "log"))").map { $0[0] } == ["first", "cloned", "last"], "fired in order during the import")
        let others = try b.connection.query("""
            SELECT TABLE_NAME, DEFINER, SECURITY_TYPE FROM information_schema.VIEWS WHERE TABLE_SCHEMA = \(s)
            UNION ALL SELECT ROUTINE_NAME, DEFINER, ROUTINE_COMMENT FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = \(s)
            UNION ALL SELECT EVENT_NAME, DEFINER, STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = \(s) ORDER BY 1
            """).map { $0.map { $0 ?? "" } }
        #expect(others == [["ev2", me, "DISABLED"], ["p", "root@localhost", "altered"], ["q", me, ""],
                           ["v", "mysql@localhost", "INVOKER"], ["w", "root@localhost", "DEFINER"]], "\(others)")
        #expect(try b.parkedEventStatuses(in: shadow) == ["ev2": "ENABLE"])
        #expect(built.receipt.detail["definer:TRIGGER cloned"] == nil, "a trigger the file did not define keeps its definer")
        #expect(try accounts(b, of: shadow).isEmpty)
    }

    /// F5: every DEFINER clause and executable comment of `MySQLDefinitionTextTests.clauses`, and
    /// version comments around this server's own version, run on the server as Ferry's user: a
    /// clause the server refuses is one Ferry reads no definer from (so it goes as written and is
    /// refused as the client's is), and one it accepts gives the definer Ferry reads (or, where
    /// Ferry reads none, the runner).
    @Test func definerClausesAgreeWithTheServer() throws {
        let b = try Servers.b()
        defer { b.close() }
        let c = b.connection
        try b.sql("DROP DATABASE IF EXISTS ferry_t_clauses", "CREATE DATABASE ferry_t_clauses")
        defer { try? b.sql("DROP DATABASE IF EXISTS ferry_t_clauses") }
        let me = try #require(try c.scalar("SELECT CURRENT_USER()"))
        let version = c.serverVersion
        let number = try #require(SQLDialect.versionNumber(version))
        var clauses = MySQLDefinitionTextTests.clauses.map(\.0)
        for v in [number - 1, number, number + 1, 50699, 50700, 80000, 99999, 100000] {
            clauses += ["/*!\(v) DEFINER=root@localhost */", "/*M!\(v) DEFINER=root@localhost */"]
        }
        for (n, clause) in clauses.enumerated() {
            let ferry = MySQLDefinitionTextTests.reading(clause, version: version)
            do {
                try c.execute("CREATE \(clause) VIEW ferry_t_clauses.v\(n) AS SELECT 1")
                let shown = try #require(try c.scalar("SELECT DEFINER FROM information_schema.VIEWS WHERE TABLE_SCHEMA = 'ferry_t_clauses' AND TABLE_NAME = 'v\(n)'"))
                switch ferry {
                case let .account(user, host)?: #expect(shown == user + "@" + (host ?? "%"), "\(clause)")
                case .runner?, nil: #expect(shown == me, "\(clause): the server gave \(shown)")
                case .role?: Issue.record("\(clause): accepted without a role")
                case .refused?: Issue.record("\(clause)")
                }
            } catch let error as MySQLServerError {
                #expect(ferry == nil || (ferry == .role && error.code == 1446), "\(clause): the server refused it (\(error.code)), Ferry read \(String(describing: ferry))")
            }
        }
    }

    /// F5 through an import: a clause the server skips or refuses ends as the client's load ends.
    @Test func clausesTheServerSkipsOrRefusesEndAsWithTheClient() throws {
        let b = try Servers.b()
        defer { b.close() }
        let me = try #require(try b.connection.scalar("SELECT CURRENT_USER()"))
        let f = try file("skips.sql", """
        CREATE /*!80000 DEFINER=`root`@`localhost` */ VIEW v8 AS SELECT 1 AS one;
        CREATE /*!50699 DEFINER=`root`@`localhost` */ VIEW v5 AS SELECT 1 AS one;
        CREATE DEFINER = 'root' @'localhost' VIEW vs AS SELECT 1 AS one;

        """)
        let shadow = try b.makeShadow(for: "ferry_t_skips", runID: "rsk")
        defer { try? b.drop(shadow) }
        _ = try b.importData(into: shadow, from: [.file(f.path)], format: .sql, progress: ProgressCounter())
        let views = try b.connection.query("SELECT TABLE_NAME, DEFINER FROM information_schema.VIEWS WHERE TABLE_SCHEMA = \(b.connection.literal(shadow)) ORDER BY 1")
        #expect(views.map { [$0[0], $0[1]] } == [["v5", "root@localhost"], ["v8", me], ["vs", "root@localhost"]], "\(views)")
        for (n, clause) in ["DEFINER = 'root' @ 'localhost'", "DEFINER=CURRENT_ROLE", "DEFINER = root@ localhost", "DEFINER=CURRENT_USER@localhost"].enumerated() {
            let error = try failingImport(b, "CREATE TABLE t (x INT);\nCREATE \(clause) VIEW v AS SELECT x FROM t;\n", run: "rcl\(n)", line: 2)
            #expect(error?.message.hasSuffix(n == 1 ? "(1446)" : "(1064)") == true, "\(clause): \(String(describing: error))")
        }
    }

    /// F3: events whose status a procedure of the file changes (`ALTER EVENT` in its body,
    /// through PREPARE too, a rename) end with the status the `mariadb` client would leave, and
    /// the definer the procedure's runner gives; an enabled one never reaches past the shadow.
    @Test func eventsChangedByCalledProceduresEndAsTheClientLeavesThem() throws {
        let b = try Servers.b()
        defer { b.close() }
        let victim = try Victim(b)
        defer { victim.drop() }
        let scheduler = try b.connection.scalar("SELECT @@GLOBAL.event_scheduler") ?? "OFF"
        try b.sql("SET GLOBAL event_scheduler = ON")
        defer { try? b.sql("SET GLOBAL event_scheduler = \(scheduler)") }
        let me = try #require(try b.connection.scalar("SELECT CURRENT_USER()"))
        let f = try file("evproc.sql", """
        CREATE TABLE items (id INT);
        CREATE EVENT e2 ON SCHEDULE EVERY 1 DAY DO SELECT 1;
        CREATE EVENT e3 ON SCHEDULE EVERY 1 DAY DISABLE DO SELECT 1;
        CREATE EVENT e4 ON SCHEDULE EVERY 1 DAY DISABLE DO SELECT 1;
        CREATE EVENT e5 ON SCHEDULE EVERY 1 DAY DISABLE DO SELECT 1;
        CREATE EVENT e6 ON SCHEDULE EVERY 1 DAY DO SELECT 1;
        CREATE EVENT gone ON SCHEDULE EVERY 1 DAY DO SELECT 1;
        DROP EVENT IF EXISTS gone;
        DELIMITER ;;
        CREATE DEFINER=`root`@`localhost` EVENT e ON SCHEDULE EVERY 1 SECOND DISABLE DO BEGIN INSERT INTO ferry_t_dvictim.t VALUES (666); INSERT INTO items VALUES (1); END;;
        CREATE DEFINER=`root`@`localhost` PROCEDURE turn_on() BEGIN ALTER EVENT e ENABLE; END;;
        CREATE PROCEDURE turn_off() SQL SECURITY INVOKER BEGIN ALTER EVENT e2 DISABLE; END;;
        CREATE DEFINER=`mysql`@`localhost` PROCEDURE move() BEGIN ALTER EVENT e3 RENAME TO e3b; ALTER EVENT e3b ENABLE; END;;
        CREATE PROCEDURE dyn() BEGIN PREPARE s FROM 'ALTER EVENT e4 ENABLE'; EXECUTE s; DEALLOCATE PREPARE s; END;;
        CREATE PROCEDURE rename_only() ALTER EVENT e6 RENAME TO e6b;;
        DELIMITER ;
        CALL turn_on();
        SELECT SLEEP(1.5);
        CALL turn_off();
        CALL move();
        CALL dyn();
        CALL rename_only();
        ALTER EVENT e5 ENABLE;

        """)
        let shadow = try b.makeShadow(for: "ferry_t_evproc", runID: "rep")
        defer { try? b.drop(shadow) }
        // What an append import's clone of the target puts there first: events the file does not
        // touch, enabled and disabled in the target, keep that status.
        let cloned = ["ON", "OFF"].map { state in
            SchemaObject(kind: "EVENT", name: "cloned_\(state.lowercased())", sqlMode: "",
                         ddl: "CREATE DEFINER=`root`@`localhost` EVENT `cloned_\(state.lowercased())` ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' ON COMPLETION NOT PRESERVE \(state == "ON" ? "ENABLE" : "DISABLE") DO SELECT 1")
        }
        try b.createObjects(cloned, in: shadow, parkingEvents: true)
        // Listed as a clone lists what it makes (the swap refuses what the build did not list).
        try b.recordBuilt(Set(cloned.map { MySQLSession.builtEntry(kind: "EVENT", name: $0.name) }), in: shadow)
        _ = try b.importData(into: shadow, from: [.file(f.path)], format: .sql, progress: ProgressCounter(), scanning: false)
        try victim.expectUntouched("an event enabled by a procedure")
        #expect(try b.parkedEventStatuses(in: shadow) == ["e": "ENABLE", "e2": "DISABLE", "e3b": "ENABLE", "e4": "ENABLE", "e5": "ENABLE",
                                                         "e6b": "ENABLE", "cloned_on": "ENABLE", "cloned_off": "DISABLE"])
        let events = try b.connection.query("SELECT EVENT_NAME, DEFINER, STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = \(b.connection.literal(shadow)) ORDER BY 1")
        #expect(events.map { $0.map { $0 ?? "" } } == [["cloned_off", "root@localhost", "SLAVESIDE_DISABLED"], ["cloned_on", "root@localhost", "SLAVESIDE_DISABLED"],
                                                       ["e", "root@localhost", "DISABLED"], ["e2", me, "DISABLED"], ["e3b", "mysql@localhost", "DISABLED"],
                                                       ["e4", me, "DISABLED"], ["e5", me, "DISABLED"], ["e6b", me, "DISABLED"]], "\(events)")
        // The swap gives each the status the client would have left.
        let target = "ferry_t_evproc"
        try b.dropTestDatabase(target)
        defer { try? b.dropTestDatabase(target) }
        try b.sql("SET GLOBAL event_scheduler = OFF")
        _ = try b.swap(SwapRecord(database: target, shadow: shadow, checkpoint: nil, targetExisted: false))
        let swapped = try b.connection.query("SELECT EVENT_NAME, STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '\(target)' ORDER BY 1")
        #expect(swapped.map { $0.map { $0 ?? "" } } == [["cloned_off", "DISABLED"], ["cloned_on", "ENABLED"], ["e", "ENABLED"], ["e2", "DISABLED"],
                                                        ["e3b", "ENABLED"], ["e4", "ENABLED"], ["e5", "ENABLED"], ["e6b", "ENABLED"]], "\(swapped)")
    }

    /// F4: statements that define a stored object again after its CREATE end with the definer
    /// the `mariadb` client gives (checked on this server: `ALTER VIEW` without DEFINER and
    /// `RENAME TABLE` keep the view's, `ALTER EVENT` and `CREATE OR REPLACE` without it make the
    /// runner the definer, `ALTER PROCEDURE` keeps it, `IF NOT EXISTS` of an existing object
    /// changes nothing, a DROP and CREATE starts again), whether the view came from the file or
    /// was already in the shadow (an append import's clone).
    @Test func objectsDefinedAgainEndWithTheClientsDefiner() throws {
        let b = try Servers.b()
        defer { b.close() }
        let me = try #require(try b.connection.scalar("SELECT CURRENT_USER()"))
        let shadow = try b.makeShadow(for: "ferry_t_redef", runID: "rrd")
        // Written into by the test as an application would: Ferry would leave it.
        defer { try? b.dropTestDatabase(shadow) }
        try b.sql("CREATE TABLE \(qualified(shadow, "items")) (id INT)",
                  "CREATE DEFINER='root'@'localhost' SQL SECURITY INVOKER VIEW \(qualified(shadow, "cloned")) AS SELECT id FROM \(qualified(shadow, "items"))",
                  "CREATE DEFINER='root'@'localhost' VIEW \(qualified(shadow, "cloned2")) AS SELECT id FROM \(qualified(shadow, "items"))")
        let f = try file("redef.sql", """
        CREATE DEFINER=`root`@`localhost` VIEW a AS SELECT 1 AS one;
        ALTER VIEW a AS SELECT 2 AS two;
        CREATE DEFINER=`mysql`@`localhost` VIEW r AS SELECT 1 AS one;
        RENAME TABLE r TO r2, items TO items2;
        RENAME TABLE r2 TO r3;
        ALTER VIEW cloned AS SELECT id + 1 AS id FROM items2;
        ALTER DEFINER=`mysql`@`localhost` VIEW cloned2 AS SELECT id FROM items2;
        CREATE DEFINER=`root`@`localhost` VIEW n AS SELECT 1 AS one;
        CREATE DEFINER=`mysql`@`localhost` VIEW IF NOT EXISTS n AS SELECT 2 AS two;
        CREATE DEFINER=`root`@`localhost` VIEW d AS SELECT 1 AS one;
        DROP VIEW d;
        CREATE VIEW IF NOT EXISTS d AS SELECT 2 AS two;
        CREATE DEFINER=`root`@`localhost` VIEW o AS SELECT 1 AS one;
        CREATE OR REPLACE VIEW o AS SELECT 2 AS two;
        CREATE DEFINER=`root`@`localhost` EVENT ev ON SCHEDULE EVERY 1 DAY DO SELECT 1;
        ALTER EVENT ev COMMENT 'altered';
        CREATE DEFINER=`root`@`localhost` PROCEDURE p() SELECT 1;
        ALTER PROCEDURE p COMMENT 'altered';

        """)
        _ = try b.importData(into: shadow, from: [.file(f.path)], format: .sql, progress: ProgressCounter())
        let s = b.connection.literal(shadow)
        let all = try b.connection.query("""
            SELECT TABLE_NAME, DEFINER, SECURITY_TYPE FROM information_schema.VIEWS WHERE TABLE_SCHEMA = \(s)
            UNION ALL SELECT ROUTINE_NAME, DEFINER, ROUTINE_COMMENT FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = \(s)
            UNION ALL SELECT EVENT_NAME, DEFINER, EVENT_COMMENT FROM information_schema.EVENTS WHERE EVENT_SCHEMA = \(s) ORDER BY 1
            """).map { $0.map { $0 ?? "" } }
        #expect(all == [["a", "root@localhost", "DEFINER"], ["cloned", "root@localhost", "INVOKER"], ["cloned2", "mysql@localhost", "DEFINER"],
                        ["d", me, "DEFINER"], ["ev", me, "altered"], ["n", "root@localhost", "DEFINER"], ["o", me, "DEFINER"],
                        ["p", "root@localhost", "altered"], ["r3", "mysql@localhost", "DEFINER"]], "\(all)")
        #expect(try b.connection.scalar("SELECT VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = \(s) AND TABLE_NAME = 'a'")?.contains("2") == true)
        #expect(try accounts(b, of: shadow).isEmpty)
    }
}
