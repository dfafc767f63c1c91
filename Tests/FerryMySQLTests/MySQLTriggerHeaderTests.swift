@testable import FerryMySQL
import Testing

/// Where a trigger's order clause goes in its DDL as `SHOW CREATE TRIGGER` gives it (no server:
/// pure text; the end-to-end case is `MySQLSwapRaceTests`).
@Suite struct MySQLTriggerHeaderTests {
    typealias H = MySQLTriggerHeader

    @Test func theHeadIsFoundInEverySpellingTheServerKeeps() {
        // (head, body, sql_mode, what the head says): the clause goes where the head ends.
        let cases: [(String, String, String, (table: String, timing: String, event: String)?)] = [
            ("CREATE DEFINER=`ferry`@`127.0.0.1` TRIGGER `tu` BEFORE UPDATE ON `usermark` FOR EACH ROW", " SET NEW.note = 'x'", "",
             ("usermark", "BEFORE", "UPDATE")),
            // The user's spacing, case and comments; qualified names; a name holding the words.
            ("CREATE DEFINER=`a`@`%` TRIGGER   `db`.`t``3 for each row`  /* x */ after\n delete on `db`.`u m` -- c\n for  each\trow", " begin end", "",
             ("u m", "AFTER", "DELETE")),
            // A user named like the keyword, IF NOT EXISTS.
            ("CREATE DEFINER=trigger@localhost TRIGGER IF NOT EXISTS t BEFORE INSERT ON t FOR EACH ROW", " SET @x = 1", "",
             ("t", "BEFORE", "INSERT")),
            // A string account; identifiers in double quotes under ANSI_QUOTES.
            ("CREATE DEFINER='u'@'h' TRIGGER \"t\" BEFORE INSERT ON \"my \"\"t\" FOR EACH ROW", " SET @x = 1", "ANSI_QUOTES,STRICT_TRANS_TABLES",
             ("my \"t", "BEFORE", "INSERT")),
            // Not a trigger's head: nothing guessed.
            ("CREATE DEFINER=`a`@`%` PROCEDURE p()", " SELECT 1", "", nil),
            ("CREATE TRIGGER t BEFORE TRUNCATE ON t FOR EACH ROW", " SET @x = 1", "", nil),
            ("CREATE TRIGGER t BEFORE INSERT ON t FOR EACH STATEMENT", " SET @x = 1", "", nil),
            ("CREATE TRIGGER t BEFORE INSERT ON t FOR EACH", "", "", nil),
        ]
        for (head, body, mode, expected) in cases {
            let found = H.parse(head + body, sqlMode: mode)
            #expect(found.map { [$0.table, $0.timing, $0.event, "\($0.end)"] } == expected.map { [$0.table, $0.timing, $0.event, "\(head.utf8.count)"] }, "\(head)")
        }
    }

    /// A `RENAME TABLE` of the trigger's table and back rewrites its `ON` clause (fresh tester
    /// rounds 65, F3, and 67, F6): the other spellings of the same table, never another name.
    @Test func theTablesOtherSpellingsAreTheSameTableUnqualified() {
        let body = " FOR EACH ROW SET NEW.id = NEW.id"
        #expect(H.tableSpellings(of: "CREATE DEFINER=`a`@`%` TRIGGER tr BEFORE INSERT ON o" + body, sqlMode: "")
                == ["CREATE DEFINER=`a`@`%` TRIGGER tr BEFORE INSERT ON `o`" + body])
        #expect(H.tableSpellings(of: "CREATE DEFINER=`a`@`%` TRIGGER tr BEFORE INSERT ON `o`" + body, sqlMode: "")
                == ["CREATE DEFINER=`a`@`%` TRIGGER tr BEFORE INSERT ON o" + body])
        #expect(H.tableSpellings(of: "CREATE TRIGGER tr AFTER DELETE on `db`.`o_1$`" + body, sqlMode: "")
                == ["CREATE TRIGGER tr AFTER DELETE on `o_1$`" + body, "CREATE TRIGGER tr AFTER DELETE on o_1$" + body])
        // A name that needs its quotes, or is all digits, has no bare spelling.
        #expect(H.tableSpellings(of: "CREATE TRIGGER tr BEFORE INSERT ON `u m`" + body, sqlMode: "") == [])
        #expect(H.tableSpellings(of: "CREATE TRIGGER tr BEFORE INSERT ON `123`" + body, sqlMode: "") == [])
        #expect(H.tableSpellings(of: "CREATE TRIGGER tr BEFORE INSERT ON \"a\"\"b\"" + body, sqlMode: "ANSI_QUOTES") == ["CREATE TRIGGER tr BEFORE INSERT ON `a\"b`" + body])
        #expect(H.tableSpellings(of: "CREATE VIEW v AS SELECT 1", sqlMode: "") == [])
    }

    @Test func theOrderClauseGoesRightAfterTheHead() {
        let ddl = "CREATE DEFINER=`a`@`%` TRIGGER tu before update ON `t` for each row -- mine\nSET NEW.v = 'for each row'"
        #expect(H.precedes("app `trg", in: ddl, sqlMode: "")
                == "CREATE DEFINER=`a`@`%` TRIGGER tu before update ON `t` for each row PRECEDES `app ``trg` -- mine\nSET NEW.v = 'for each row'")
        #expect(H.precedes("x", in: "CREATE VIEW v AS SELECT 1", sqlMode: "") == nil)
    }
}
