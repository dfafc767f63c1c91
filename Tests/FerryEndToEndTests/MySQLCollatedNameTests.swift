import Foundation
import Testing

/// Fresh tester W7-1: MariaDB tells routine and event names apart in its own collation, case- AND
/// accent-insensitively (`pä` = `pa` = `PA`, `pß` = `ps`), and Ferry's check "is this name someone
/// else's" compared them by lower case only: a file's `CREATE OR REPLACE PROCEDURE pä` or `DROP
/// PROCEDURE pä` replaced or dropped the application's `pa` in the shadow ("Apply complete!"). The
/// check now lets the server key the names: each such statement stops, the application's object
/// stays in the left shadow (exit 4). Tables and triggers the server tells apart exactly (under
/// lower_case_table_names=0), and a file that itself mixes the spellings imports as before.
@Suite(.serialized) struct MySQLCollatedNameTests {
    typealias Taken = MySQLShadowNameTakenTests.Taken
    let cli = MySQLCLITests()
    let writes = MySQLWritesDuringRunTests()
    let taken = MySQLShadowNameTakenTests()

    static func routine(_ name: String) -> String {
        "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'SHNAME' AND BINARY ROUTINE_NAME = '\(name)' AND ROUTINE_DEFINITION LIKE '%77%';"
    }
    static func event(_ name: String) -> String {
        "SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = 'SHNAME' AND BINARY EVENT_NAME = '\(name)' AND EVENT_DEFINITION LIKE '%77%';"
    }
    static let appEvent = "ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM SH.o WHERE i = 77;"

    static let cases: [Taken] = [
        // The tester's inputs.
        .init(label: "CREATE OR REPLACE PROCEDURE pä over the application's pa", tail: "CREATE OR REPLACE PROCEDURE `pä`() SELECT 1;\n",
              app: "CREATE PROCEDURE SH.pa() SELECT 77;", check: routine("pa"), expected: "1\n", drop: "DROP PROCEDURE SH.pa;", name: "`pa`"),
        .init(label: "DROP PROCEDURE pä (no IF EXISTS) of the application's pa", tail: "DROP PROCEDURE `pä`;\nCREATE PROCEDURE `pä`() SELECT 1;\n",
              app: "CREATE PROCEDURE SH.pa() SELECT 77;", check: routine("pa"), expected: "1\n", drop: "DROP PROCEDURE SH.pa;", name: "`pa`"),
        .init(label: "CREATE OR REPLACE EVENT eä over the application's ea", tail: "CREATE OR REPLACE EVENT `eä` ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM o;\n",
              app: "CREATE EVENT SH.ea " + appEvent, check: event("ea"), expected: "1\n", drop: "DROP EVENT SH.ea;", name: "`ea`"),
        .init(label: "DROP EVENT eä (no IF EXISTS) of the application's ea", tail: "DROP EVENT `eä`;\n",
              app: "CREATE EVENT SH.ea " + appEvent, check: event("ea"), expected: "1\n", drop: "DROP EVENT SH.ea;", name: "`ea`"),
        // Variants: an upper-case accent, ß, a function, IF EXISTS, the application's name accented.
        .init(label: "CREATE OR REPLACE FUNCTION FÉ over the application's fe", tail: "CREATE OR REPLACE FUNCTION `FÉ`() RETURNS INT RETURN 1;\n",
              app: "CREATE FUNCTION SH.fe() RETURNS INT RETURN 77;", check: routine("fe"), expected: "1\n", drop: "DROP FUNCTION SH.fe;", name: "`fe`"),
        .init(label: "DROP FUNCTION fé of the application's FE", tail: "DROP FUNCTION `fé`;\n",
              app: "CREATE FUNCTION SH.FE() RETURNS INT RETURN 77;", check: routine("FE"), expected: "1\n", drop: "DROP FUNCTION SH.FE;", name: "`FE`"),
        .init(label: "CREATE OR REPLACE PROCEDURE pß over the application's ps", tail: "CREATE OR REPLACE PROCEDURE `pß`() SELECT 1;\n",
              app: "CREATE PROCEDURE SH.ps() SELECT 77;", check: routine("ps"), expected: "1\n", drop: "DROP PROCEDURE SH.ps;", name: "`ps`"),
        .init(label: "DROP PROCEDURE IF EXISTS PA of the application's pä", tail: "DROP PROCEDURE IF EXISTS PA;\nCREATE PROCEDURE PA() SELECT 1;\n",
              app: "CREATE PROCEDURE SH.`pä`() SELECT 77;", check: routine("pä"), expected: "1\n", drop: "DROP PROCEDURE SH.`pä`;", name: "`pä`"),
        .init(label: "CREATE OR REPLACE EVENT Eé over the application's ÉE", tail: "CREATE OR REPLACE EVENT `Eé` ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM o;\n",
              app: "CREATE EVENT SH.`ÉE` " + appEvent, check: event("ÉE"), expected: "1\n", drop: "DROP EVENT SH.`ÉE`;", name: "`ÉE`"),
    ]

    @Test(arguments: cases) func aRoutineOrEventUnderANameTheServerTakesForTheSameIsKept(_ taken: Taken) throws {
        try self.taken.runSleeping(taken, "replace")
    }

    /// Held before and still: a file that itself mixes the spellings of its own routines and
    /// events (and has a table and a trigger whose names differ only by accent or case, which
    /// the server keeps apart) imports, each object under the spelling of its last statement.
    @Test func aFileMixingSpellingsOfItsOwnNamesImports() throws {
        let s = try writes.setUp(failingSecond: false)
        defer { writes.tearDown(s) }
        try s.project.write("plans/data/a.sql", """
        CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20));
        INSERT INTO t VALUES (1, 'from-file');
        CREATE TABLE `tä` (i INT);
        CREATE TABLE T (i INT);
        CREATE TRIGGER tg BEFORE INSERT ON `tä` FOR EACH ROW SET NEW.i = 1;
        CREATE TRIGGER `tgä` BEFORE INSERT ON T FOR EACH ROW SET NEW.i = 2;
        CREATE FUNCTION pa() RETURNS INT RETURN 1;
        DROP FUNCTION `pä`;
        CREATE FUNCTION `pä`() RETURNS INT RETURN 2;
        CREATE OR REPLACE FUNCTION PA() RETURNS INT RETURN 3;
        CREATE PROCEDURE myproc() SELECT 1;
        CREATE OR REPLACE PROCEDURE `MÝPROC`() SELECT 2;
        CREATE EVENT ea ON SCHEDULE EVERY 1 DAY DISABLE DO SELECT 1;
        CREATE OR REPLACE EVENT `EÄ` ON SCHEDULE EVERY 1 DAY DISABLE DO SELECT 2;
        DROP EVENT `eä`;
        CREATE EVENT `eä` ON SCHEDULE EVERY 1 DAY DISABLE DO SELECT 3;
        CREATE PROCEDURE `pß`() SELECT 4;
        DROP PROCEDURE IF EXISTS ps;
        CREATE PROCEDURE ps() SELECT 5;

        """)
        let result = try s.project.run("apply", "--auto-approve")
        #expect(result.code == 0, "\(result.all)")
        let routines = try cli.sql(s.project, s.server, "SELECT ROUTINE_TYPE, ROUTINE_NAME, ROUTINE_DEFINITION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '\(s.target)' ORDER BY 1, 2;")
        #expect(routines == "FUNCTION\tPA\tRETURN 3\nPROCEDURE\tMÝPROC\tSELECT 2\nPROCEDURE\tps\tSELECT 5\n", "\(routines)")
        let events = try cli.sql(s.project, s.server, "SELECT EVENT_NAME, EVENT_DEFINITION FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '\(s.target)';")
        #expect(events == "eä\tSELECT 3\n", "\(events)")
        let tables = try cli.sql(s.project, s.server, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(s.target)' ORDER BY BINARY TABLE_NAME;")
        #expect(tables == "T\nt\ntä\n", "\(tables)")
        let triggers = try cli.sql(s.project, s.server, "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(s.target)' ORDER BY BINARY TRIGGER_NAME;")
        #expect(triggers == "tg\ntgä\n", "\(triggers)")
        #expect(try writes.schemas(s).allSatisfy { !$0.contains("__ferry_s_") }, "\(writes.names(s))")
    }
}
