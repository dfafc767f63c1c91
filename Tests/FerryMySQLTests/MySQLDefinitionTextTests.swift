import FerryIO
@testable import FerryMySQL
import Testing

/// The DEFINER clause and event status of stored-object definitions, read as the server reads
/// them (no server: pure text).
@Suite struct MySQLDefinitionTextTests {
    typealias D = MySQLDefinitionText.Definer
    let maria = SQLDialect.mysql(version: "10.11.6-MariaDB")

    func removed(_ sql: String, dialect: SQLDialect? = nil) -> String? {
        MySQLDefinitionText.replacingDefiner(in: Array(sql.utf8), dialect: dialect ?? maria, with: nil).map { String(decoding: $0, as: UTF8.self) }
    }

    func definer(_ sql: String, dialect: SQLDialect? = nil) -> D? {
        MySQLDefinitionText.definition(in: Array(sql.utf8), dialect: dialect ?? maria)?.definer
    }

    /// Every spelling of the account, in every place a dump writes the clause.
    @Test func everyDefinerSpellingIsFoundAndRemoved() {
        let cases: [(String, String, D)] = [
            ("CREATE DEFINER=`root`@`localhost` PROCEDURE `p`() SELECT 1",
             "CREATE  PROCEDURE `p`() SELECT 1", .account(user: "root", host: "localhost")),
            ("CREATE DEFINER = 'root'@'%' FUNCTION f() RETURNS INT RETURN 1",
             "CREATE  FUNCTION f() RETURNS INT RETURN 1", .account(user: "root", host: "%")),
            ("CREATE DEFINER=root@localhost TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.x = 1",
             "CREATE  TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.x = 1", .account(user: "root", host: "localhost")),
            ("CREATE DEFINER=\"app\"@\"10.0.0.%\" EVENT e ON SCHEDULE EVERY 1 DAY DO DELETE FROM t",
             "CREATE  EVENT e ON SCHEDULE EVERY 1 DAY DO DELETE FROM t", .account(user: "app", host: "10.0.0.%")),
            ("CREATE DEFINER = 'o''neil' @'h\\'x' VIEW v AS SELECT 1",
             "CREATE  VIEW v AS SELECT 1", .account(user: "o'neil", host: "h'x")),
            ("CREATE DEFINER=`we``ird`@`127.0.0.1` VIEW v AS SELECT 1",
             "CREATE  VIEW v AS SELECT 1", .account(user: "we`ird", host: "127.0.0.1")),
            ("CREATE DEFINER=root@127.0.0.1 VIEW v AS SELECT 1", "CREATE  VIEW v AS SELECT 1", .account(user: "root", host: "127.0.0.1")),
            ("CREATE DEFINER=approle PROCEDURE p() SELECT 1", "CREATE  PROCEDURE p() SELECT 1", .account(user: "approle", host: nil)),
            ("CREATE DEFINER=CURRENT_USER PROCEDURE p() SELECT 1", "CREATE  PROCEDURE p() SELECT 1", .current),
            ("CREATE DEFINER = CURRENT_USER() TRIGGER tr AFTER DELETE ON t FOR EACH ROW DELETE FROM u",
             "CREATE  TRIGGER tr AFTER DELETE ON t FOR EACH ROW DELETE FROM u", .current),
            ("create definer=current_role procedure p() select 1", "create  procedure p() select 1", .currentRole),
            ("CREATE OR REPLACE ALGORITHM=MERGE DEFINER=`u`@`h` SQL SECURITY DEFINER VIEW `v` AS SELECT 1",
             "CREATE OR REPLACE ALGORITHM=MERGE  SQL SECURITY DEFINER VIEW `v` AS SELECT 1", .account(user: "u", host: "h")),
            ("ALTER DEFINER=`u`@`h` EVENT e ENABLE", "ALTER  EVENT e ENABLE", .account(user: "u", host: "h")),
            ("ALTER ALGORITHM=UNDEFINED DEFINER=`u`@`h` SQL SECURITY INVOKER VIEW v AS SELECT 2",
             "ALTER ALGORITHM=UNDEFINED  SQL SECURITY INVOKER VIEW v AS SELECT 2", .account(user: "u", host: "h")),
            // mysqldump / mariadb-dump: triggers, views, events in executable comments.
            ("/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `tr` BEFORE INSERT ON `t` FOR EACH ROW SET NEW.x = 1 */",
             "/*!50003 CREATE*/ /*!50017 */ /*!50003 TRIGGER `tr` BEFORE INSERT ON `t` FOR EACH ROW SET NEW.x = 1 */", .account(user: "root", host: "localhost")),
            ("/*!50001 CREATE ALGORITHM=UNDEFINED */\n/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */\n/*!50001 VIEW `v` AS select 1 AS `1` */",
             "/*!50001 CREATE ALGORITHM=UNDEFINED */\n/*!50013  SQL SECURITY DEFINER */\n/*!50001 VIEW `v` AS select 1 AS `1` */", .account(user: "root", host: "localhost")),
            ("/*!50106 CREATE*/ /*!50117 DEFINER=`ferry`@`127.0.0.1`*/ /*!50106 EVENT `e` ON SCHEDULE EVERY 1 DAY STARTS '2026-11-30 05:34:08' ON COMPLETION NOT PRESERVE ENABLE DO delete from t */",
             "/*!50106 CREATE*/ /*!50117 */ /*!50106 EVENT `e` ON SCHEDULE EVERY 1 DAY STARTS '2026-11-30 05:34:08' ON COMPLETION NOT PRESERVE ENABLE DO delete from t */",
             .account(user: "ferry", host: "127.0.0.1")),
            // MySQL 5's mysqldump: routines in executable comments, the definer in /*!50020 ... */.
            ("/*!50003 CREATE*/ /*!50020 DEFINER=`root`@`%`*/ /*!50003 PROCEDURE `p`(IN x INT)\nBEGIN\n  SELECT x;\nEND */",
             "/*!50003 CREATE*/ /*!50020 */ /*!50003 PROCEDURE `p`(IN x INT)\nBEGIN\n  SELECT x;\nEND */", .account(user: "root", host: "%")),
            // MariaDB's six-digit version comments.
            ("/*M!100100 CREATE DEFINER=`a`@`b` */ /*!50003 PROCEDURE p() SELECT 1 */",
             "/*M!100100 CREATE  */ /*!50003 PROCEDURE p() SELECT 1 */", .account(user: "a", host: "b")),
        ]
        for (sql, expected, account) in cases {
            #expect(definer(sql) == account, "\(sql)")
            #expect(removed(sql) == expected, "\(sql)")
        }
    }

    /// What names no definer, or is no stored-object definition, is left as it is; `SQL SECURITY
    /// DEFINER` and a string or comment holding "DEFINER=" are not a clause.
    @Test func textThatIsNoDefinerClauseStaysAsItIs() {
        for sql in ["CREATE SQL SECURITY DEFINER VIEW v AS SELECT 'DEFINER=`root`@`x`'",
                    "CREATE PROCEDURE p() SQL SECURITY DEFINER SELECT 1",
                    "CREATE /* DEFINER=`root`@`x` */ TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.x = 1",
                    "CREATE FUNCTION f() RETURNS INT COMMENT 'DEFINER = root' RETURN 1"] {
            #expect(definer(sql) == nil, "\(sql)")
            #expect(removed(sql) == sql, "\(sql)")
        }
        for sql in ["CREATE TABLE definer (x INT)", "INSERT INTO t VALUES ('CREATE DEFINER=root@x VIEW v')",
                    "ALTER TABLE t ADD definer INT", "CREATE INDEX i ON t (x)"] {
            #expect(removed(sql) == nil, "\(sql)")
        }
        // A version comment the server skips is a comment: nothing to find in it.
        let old = SQLDialect.mysql(version: "5.0.1")
        let skipped = "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER t1 BEFORE INSERT ON t FOR EACH ROW SET NEW.x = 1 */"
        #expect(definer(skipped, dialect: old) == nil)
        #expect(definer(skipped) == .account(user: "root", host: "localhost"))
    }

    /// Putting a definer back into `SHOW CREATE` text: the one clause is replaced, quoted with
    /// backticks, and the rest is byte for byte the server's text.
    @Test func aDefinerIsPutBackIntoTheServersOwnText() {
        let shown = "CREATE ALGORITHM=UNDEFINED DEFINER=`ferry_i_ra7_abc123`@`127.0.0.1` SQL SECURITY DEFINER VIEW `v` AS select `items`.`id` AS `id` from `items`"
        let back = MySQLDefinitionText.replacingDefiner(in: Array(shown.utf8), dialect: maria, with: .account(user: "o'ne`il", host: "%"))
        #expect(back.map { String(decoding: $0, as: UTF8.self) }
                == "CREATE ALGORITHM=UNDEFINED DEFINER=`o'ne``il`@`%` SQL SECURITY DEFINER VIEW `v` AS select `items`.`id` AS `id` from `items`")
        let trigger = "CREATE DEFINER=`ferry_i_x`@`localhost` TRIGGER `tr` AFTER INSERT ON `items` FOR EACH ROW INSERT INTO log VALUES (NEW.id)"
        #expect(MySQLDefinitionText.replacingDefiner(in: Array(trigger.utf8), dialect: maria, with: .current).map { String(decoding: $0, as: UTF8.self) }
                == "CREATE DEFINER=CURRENT_USER TRIGGER `tr` AFTER INSERT ON `items` FOR EACH ROW INSERT INTO log VALUES (NEW.id)")
        let role = "CREATE PROCEDURE p() SELECT 1"
        #expect(MySQLDefinitionText.replacingDefiner(in: Array(role.utf8), dialect: maria, with: .account(user: "r", host: nil)).map { String(decoding: $0, as: UTF8.self) }
                == "CREATE DEFINER=`r` PROCEDURE p() SELECT 1")
        // The name each definition defines.
        for (sql, kind, name) in [("CREATE OR REPLACE DEFINER=a@b VIEW `db`.`v1` AS SELECT 1", "VIEW", "v1"),
                                  ("CREATE TRIGGER IF NOT EXISTS tr2 BEFORE INSERT ON t FOR EACH ROW SET @a = 1", "TRIGGER", "tr2"),
                                  ("CREATE AGGREGATE FUNCTION agg(x INT) RETURNS INT BEGIN RETURN 1; END", "FUNCTION", "agg"),
                                  ("/*!50106 CREATE*/ /*!50106 EVENT IF NOT EXISTS `My Event` ON SCHEDULE AT NOW() DO SELECT 1 */", "EVENT", "My Event")] {
            let d = MySQLDefinitionText.definition(in: Array(sql.utf8), dialect: maria)
            #expect(d?.kind == kind && d?.name == name, "\(sql): \(String(describing: d))")
        }
    }

    /// Events are created parked (`DISABLE ON SLAVE`), the status the file meant kept apart.
    @Test func eventsAreMadeToStartDisabled() {
        func disabled(_ sql: String) -> (String, String?, String?, String?)? {
            MySQLDefinitionText.disablingEvent(Array(sql.utf8), dialect: maria).map { (String(decoding: $0.bytes, as: UTF8.self), $0.name, $0.renamedTo, $0.intended) }
        }
        let cases: [(String, String, String?)] = [
            ("CREATE EVENT e ON SCHEDULE EVERY 1 SECOND DO INSERT INTO t VALUES (1)",
             "CREATE EVENT e ON SCHEDULE EVERY 1 SECOND DISABLE ON SLAVE DO INSERT INTO t VALUES (1)", "ENABLE"),
            ("CREATE EVENT e ON SCHEDULE EVERY 1 SECOND ON COMPLETION PRESERVE ENABLE COMMENT 'x DO y' DO INSERT INTO t VALUES (1)",
             "CREATE EVENT e ON SCHEDULE EVERY 1 SECOND ON COMPLETION PRESERVE DISABLE ON SLAVE COMMENT 'x DO y' DO INSERT INTO t VALUES (1)", "ENABLE"),
            ("CREATE EVENT e ON SCHEDULE EVERY 1 SECOND COMMENT 'enable' DO INSERT INTO t VALUES (1)",
             "CREATE EVENT e ON SCHEDULE EVERY 1 SECOND DISABLE ON SLAVE COMMENT 'enable' DO INSERT INTO t VALUES (1)", "ENABLE"),
            ("CREATE EVENT e ON SCHEDULE EVERY 1 DAY DISABLE ON SLAVE DO BEGIN UPDATE t SET x = 1; END",
             "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DISABLE ON SLAVE DO BEGIN UPDATE t SET x = 1; END", "DISABLE ON SLAVE"),
            ("CREATE EVENT e ON SCHEDULE EVERY 1 DAY DISABLE ON REPLICA DO SELECT 1",
             "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DISABLE ON REPLICA DO SELECT 1", "DISABLE ON SLAVE"),
            ("CREATE EVENT e ON SCHEDULE EVERY 1 DAY DISABLE DO SELECT 1", "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DISABLE ON SLAVE DO SELECT 1", "DISABLE"),
            ("CREATE EVENT e ON SCHEDULE AT (NOW() + INTERVAL 1 HOUR) DO SELECT 'ENABLE'",
             "CREATE EVENT e ON SCHEDULE AT (NOW() + INTERVAL 1 HOUR) DISABLE ON SLAVE DO SELECT 'ENABLE'", "ENABLE"),
            ("/*!50106 CREATE*/ /*!50106 EVENT `e` ON SCHEDULE EVERY 1 DAY STARTS '2026-11-30 05:34:08' ON COMPLETION NOT PRESERVE ENABLE DO delete from t */",
             "/*!50106 CREATE*/ /*!50106 EVENT `e` ON SCHEDULE EVERY 1 DAY STARTS '2026-11-30 05:34:08' ON COMPLETION NOT PRESERVE DISABLE ON SLAVE DO delete from t */", "ENABLE"),
            ("ALTER EVENT e ENABLE", "ALTER EVENT e DISABLE ON SLAVE", "ENABLE"),
            ("ALTER EVENT e DISABLE", "ALTER EVENT e DISABLE ON SLAVE", "DISABLE"),
            ("ALTER EVENT e ON SCHEDULE EVERY 2 DAY", "ALTER EVENT e ON SCHEDULE EVERY 2 DAY", nil),
        ]
        for (sql, expected, intended) in cases {
            let result = disabled(sql)
            #expect(result?.0 == expected, "\(sql)")
            #expect(result?.3 == intended, "\(sql)")
            #expect(result?.1 == "e", "\(sql)")
        }
        let renamed = disabled("ALTER EVENT e RENAME TO db.f ENABLE")
        #expect(renamed?.0 == "ALTER EVENT e RENAME TO db.f DISABLE ON SLAVE" && renamed?.2 == "f" && renamed?.3 == "ENABLE")
        #expect(disabled("CREATE PROCEDURE e() SELECT 1") == nil)
    }

    /// F5: the DEFINER clauses and executable comments of issue 14's last round and variants,
    /// with what MariaDB 10.11 makes of `CREATE <clause> VIEW v AS SELECT 1` (run on the test
    /// server: `definerClausesAgreeWithTheServer` checks every row there). `.refused`: the server
    /// refuses the statement (1064), so Ferry reads no definer and sends it as written.
    enum Reading: Equatable { case account(String, String?), runner, role, refused }
    static let clauses: [(String, Reading)] = [
        ("DEFINER = 'ferry' @ '127.0.0.1'", .refused), ("DEFINER = ferry @ '127.0.0.1'", .refused),
        ("DEFINER = ferry@ '127.0.0.1'", .refused), ("DEFINER = `ferry` @ `127.0.0.1`", .refused),
        ("DEFINER = ferry @'127.0.0.1'", .account("ferry", "127.0.0.1")), ("DEFINER='u' @h", .account("u", "h")),
        ("DEFINER=u @h", .account("u", "h")), ("DEFINER=u/*c*/@h", .account("u", "h")),
        ("DEFINER=u@/*c*/h", .refused), ("DEFINER/*c*/=/*c*/u@h", .account("u", "h")),
        ("DEFINER=CURRENT_ROLE", .role), ("DEFINER=current_role()", .role),
        ("DEFINER=CURRENT_USER ()", .runner), ("DEFINER = CURRENT_USER ( )", .runner), ("DEFINER=current_user", .runner),
        ("DEFINER=CURRENT_USER@localhost", .refused), ("DEFINER='u'@'h'@'x'", .refused), ("DEFINER=@'h'", .refused),
        ("DEFINER=''@'h'", .account("", "h")), ("DEFINER='u'@''", .account("u", "%")), ("DEFINER=u@%", .refused),
        ("DEFINER=u@'%'", .account("u", "%")), ("DEFINER=u@h.example.com", .account("u", "h.example.com")),
        ("DEFINER=u@h-x", .refused), ("DEFINER=u@'h'/*c*/", .account("u", "h")), ("DEFINER=`u`@h", .account("u", "h")),
        ("DEFINER=\"u\"@h", .account("u", "h")), ("DEFINER=u@\"h\"", .account("u", "h")), ("DEFINER := u@h", .refused),
        ("DEFINER=u@`h`", .account("u", "h")), ("DEFINER=u@@h", .refused), ("DEFINER=u@'h' DEFINER=v@'h'", .refused),
        ("DEFINER=1u@h", .account("1u", "h")), ("DEFINER=u@1.2.3.4", .account("u", "1.2.3.4")),
        ("DEFINER='a b'@'h'", .account("a b", "h")), ("DEFINER=u@h_x", .account("u", "h_x")), ("DEFINER=u@h$x", .account("u", "h$x")),
        ("DEFINER=u@'h' SQL SECURITY INVOKER", .account("u", "h")), ("DEFINER=N'u'@'h'", .refused),
        ("DEFINER=_utf8'u'@'h'", .refused), ("DEFINER=x'75'@'h'", .refused), ("DEFINER=u", .account("u", nil)),
        // Executable comments on 10.11.19: MySQL's 5.7 and 8 versions (50700-99999) are skipped.
        ("/*!80000 DEFINER=root@localhost */", .runner), ("/*!50700 DEFINER=root@localhost */", .runner),
        ("/*!99999 DEFINER=root@localhost */", .runner), ("/*!50699 DEFINER=root@localhost */", .account("root", "localhost")),
        ("/*!40000 DEFINER=root@localhost */", .account("root", "localhost")), ("/*!100000 DEFINER=root@localhost */", .account("root", "localhost")),
        ("/*!101119 DEFINER=root@localhost */", .account("root", "localhost")), ("/*!101120 DEFINER=root@localhost */", .runner),
        ("/*M!50700 DEFINER=root@localhost */", .account("root", "localhost")), ("/*M!101119 DEFINER=root@localhost */", .account("root", "localhost")),
        ("/*!123456 DEFINER=root@localhost */", .runner), ("/*! DEFINER=root@localhost */", .account("root", "localhost")),
        ("/*!1 DEFINER=root@localhost */", .refused), ("/*!8000 DEFINER=root@localhost */", .refused),
    ]

    /// Ferry's reading of a clause: the account, the runner, CURRENT_ROLE, or no clause at all.
    static func reading(_ clause: String, version: String) -> Reading? {
        let sql = "CREATE \(clause) VIEW v AS SELECT 1"
        switch MySQLDefinitionText.definition(in: Array(sql.utf8), dialect: .mysql(version: version))?.definer {
        case let .account(user, host)?: return .account(user, host)
        case .current?: return .runner
        case .currentRole?: return .role
        case nil: return nil
        }
    }

    @Test func definerClausesAreReadAsMariaDBReadsThem() {
        for (clause, server) in Self.clauses {
            let ferry = Self.reading(clause, version: "10.11.19-MariaDB-0+deb12u1")
            switch server {
            case .refused: #expect(ferry == nil, "\(clause): the server refuses it, Ferry must send it as written")
            case .runner: #expect(ferry == .runner || ferry == nil, "\(clause): \(String(describing: ferry))")
            default: #expect(ferry == server, "\(clause): \(String(describing: ferry))")
            }
        }
        // A MySQL server (not MariaDB) runs its own 8.0 comments.
        #expect(Self.reading("/*!80000 DEFINER=root@localhost */", version: "8.0.36") == .account("root", "localhost"))
        #expect(Self.reading("/*!80040 DEFINER=root@localhost */", version: "8.0.36") == nil)
    }

    /// RENAME TABLE and DROP of stored objects, as the import follows definers through them.
    @Test func renamesAndDropsAreRead() {
        func renames(_ sql: String) -> [String]? {
            MySQLDefinitionText.tableRenames(in: Array(sql.utf8), dialect: maria)?.map { "\($0.from)>\($0.to)" }
        }
        #expect(renames("RENAME TABLE v TO w") == ["v>w"])
        #expect(renames("rename tables `a b` to db.c, c TO d") == ["a b>c", "c>d"])
        #expect(renames("RENAME TABLE IF EXISTS a NOWAIT TO b, c WAIT 5 TO d") == ["a>b", "c>d"])
        #expect(renames("RENAME USER a TO b") == nil)
        #expect(renames("/*!50001 RENAME TABLE x TO y */") == ["x>y"])
        func dropped(_ sql: String) -> String? {
            MySQLDefinitionText.droppedObjects(in: Array(sql.utf8), dialect: maria).map { $0.kind + ":" + $0.names.joined(separator: ",") }
        }
        #expect(dropped("DROP VIEW IF EXISTS a, `db`.`b`") == "VIEW:a,b")
        #expect(dropped("/*!50001 DROP VIEW IF EXISTS `v`*/") == "VIEW:v")
        #expect(dropped("drop trigger tr") == "TRIGGER:tr")
        #expect(dropped("DROP TABLE t") == nil)
        #expect(MySQLDefinitionText.definer(shown: "ro@le@h") == .account(user: "ro@le", host: "h"))
        #expect(MySQLDefinitionText.definer(shown: "role") == .account(user: "role", host: nil))
    }
}
