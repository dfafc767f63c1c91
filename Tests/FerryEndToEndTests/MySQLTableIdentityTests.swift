import Foundation
import Testing

/// Fresh tester round 15, B2: a MariaDB swap (or its undo in `ferry rollback`) killed part-way,
/// then an application drops the target and makes it again with a table of the run's name (`t`)
/// holding its own row. `ferry recover` took that table for the run's (the proof was its name),
/// moved it into the run's shadow, moved the checkpoint's tables into the new database and
/// switched its default collation back. The run's tables are now proved by their InnoDB table
/// id (kept by `RENAME TABLE`, never given to a table made again): the recover leaves such a
/// database exactly as the application made it and says it cannot restore (exit 4). The same
/// kills with no application change still recover to exactly the state before.
@Suite(.serialized) struct MySQLTableIdentityTests {
    let cli = MySQLCLITests()
    let writes = MySQLWritesDuringRunTests()
    let charset = MySQLObjectCharsetTests()
    let race = MySQLSwapRaceTests()
    static let own = "utf8mb4_unicode_ci\n"
    static let switched = "latin1_german1_ci\n"

    func collation(_ s: MySQLWritesDuringRunTests.Setup) throws -> String {
        try cli.sql(s.project, s.server, "SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '\(s.target)';")
    }

    /// Every view, routine, trigger, event and table of the target, with the rows of `t`.
    func contents(_ s: MySQLWritesDuringRunTests.Setup) throws -> [String] {
        let tables = try writes.sql(s, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(s.target)' AND TABLE_NAME = 't';")
        return try (race.inventory(s) + (tables.isEmpty ? [] : try writes.sql(s, "SELECT CONCAT('row ', id, ' ', v) FROM DB.t ORDER BY id;").split(separator: "\n").map(String.init))).sorted()
    }

    /// The finding's setup: a copy (server B to A, `onExisting: replace`) of a database whose
    /// routine and trigger are stored under another database collation, over a target on A that
    /// holds its own table `t` (default `utf8mb4_unicode_ci`); the apply killed at a collation
    /// switch in turn until one lands inside the swap (the target's default switched).
    func killedCopyAtTheSwitch() throws -> (s: MySQLWritesDuringRunTests.Setup, before: [String], cleanup: () -> Void) {
        let s = try writes.setUp(failingSecond: false)
        let b = try cli.server("FERRY_TEST_MYSQL_B")
        let source = "\(s.tag)_src"
        let cleanup = { _ = try? self.cli.sql(s.project, b, "DROP DATABASE IF EXISTS `\(source)`;") }
        try charset.makeObjects(s.project, b, in: source, fresh: true)
        _ = try writes.sql(s, "ALTER DATABASE `\(s.target)` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;")
        try s.project.write("plans/main.json", """
        { "ferry": 1,
          "instances": { "a": { "engine": "mysql", "url": "\(s.server.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } },
                         "b": { "engine": "mysql", "url": "\(b.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
          "copies": { "c": { "from": "b", "to": "a", "databases": { "\(source)": "\(s.target)" }, "onExisting": "replace" } } }
        """)
        let before = try contents(s)
        #expect(before == ["row 1 user-original", "table t"], "\(before)")
        #expect(try collation(s) == Self.own)
        for n in 1...6 {
            s.project.environment["FERRY_TEST_KILL_AT"] = "change:mysql.objects.collationSwitched#\(n)"
            let killed = try s.project.run("apply", "--auto-approve")
            s.project.environment["FERRY_TEST_KILL_AT"] = nil
            #expect(killed.code != 0, "\(killed.all)")
            if try collation(s) == Self.switched { return (s, before, cleanup) }
            let recovered = try s.project.run("recover")
            #expect(recovered.code == 0 && recovered.stdout.contains("as they were before"), "\(recovered.all)")
            #expect(try contents(s) == before, "recover after a copy killed at the switch #\(n)")
        }
        Issue.record("no kill landed while the target's default was switched")
        return (s, before, cleanup)
    }

    func expectLeftAsMade(_ s: MySQLWritesDuringRunTests.Setup, _ recovered: Project.Result, _ made: [String], collation: String?, _ what: String) throws {
        #expect(recovered.code == 4, "\(what): \(recovered.all)")
        #expect(!recovered.all.contains("as they were before") && !recovered.all.contains("hold what they held before"), "\(what): \(recovered.all)")
        #expect(try contents(s) == made, "\(what): the application's database is left as it made it: \(recovered.all)")
        if let collation { #expect(try self.collation(s) == collation, "\(what): its default collation stays") }
    }

    /// B2 as the tester ran it: the target dropped after the kill and made again by an
    /// application with the switched-to collation and a table `t` of its own (a row of its own).
    /// `ferry recover` (and a second one, and `--discard-later-writes`) leave that database as
    /// the application made it: table, row, default collation.
    @Test func aTargetMadeAgainWithTheRunsTableNameAtTheCollationSwitchIsLeft() throws {
        let (s, _, cleanup) = try killedCopyAtTheSwitch()
        defer { writes.tearDown(s); cleanup() }
        _ = try writes.sql(s, "DROP DATABASE `\(s.target)`; CREATE DATABASE `\(s.target)` CHARACTER SET latin1 COLLATE latin1_german1_ci; CREATE TABLE DB.t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO DB.t VALUES (7, 'app');")
        let made = ["row 7 app", "table t"]
        let recovered = try s.project.run("recover")
        try expectLeftAsMade(s, recovered, made, collation: Self.switched, "recover")
        #expect(recovered.all.contains("is not the run's") && recovered.all.contains("made again"), "\(recovered.all)")
        let again = try s.project.run("recover")
        try expectLeftAsMade(s, again, made, collation: Self.switched, "a second recover")
        let discarding = try s.project.run("recover", "--discard-later-writes")
        try expectLeftAsMade(s, discarding, made, collation: Self.switched, "recover --discard-later-writes")
    }

    /// The held path of the same kill: no application change, the recover puts the target back
    /// exactly (its own table and row, its own default, none of the run's objects).
    @Test func theKillAtTheCollationSwitchAloneIsRecoveredExactly() throws {
        let (s, before, cleanup) = try killedCopyAtTheSwitch()
        defer { writes.tearDown(s); cleanup() }
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0 && recovered.stdout.contains("as they were before"), "\(recovered.all)")
        #expect(try contents(s) == before, "\(recovered.all)")
        #expect(try collation(s) == Self.own)
        try race.expectNoLeftovers(s, "recovered")
    }

    /// Where a kill leaves the import of `MySQLSwapRaceTests.setUp` (its run's tables `t`, `o`,
    /// `sq`; the target's own `t` and objects): `swap` inside the apply's swap, after its rename;
    /// `checked` inside a `ferry rollback RUN`'s undo, after its checks, before its rename;
    /// `renamed` in that undo after its rename (the checkpoint's `t` back in the target).
    func killed(_ s: MySQLWritesDuringRunTests.Setup, at point: String) throws {
        if point == "swap" || point == "movedIn" {
            Thread.sleep(forTimeInterval: 1.1)   // the setup's writes in an earlier second (`MySQLSwapRaceTests.applyKilled`)
            s.project.environment["FERRY_TEST_KILL_AT"] = point == "swap" ? "change:mysql.swap.renamed" : "change:mysql.swap.movedIn"
            let killed = try s.project.run("apply", "--auto-approve")
            s.project.environment["FERRY_TEST_KILL_AT"] = nil
            #expect(killed.code == 9, "\(killed.all)")
            return
        }
        let runID = try race.appliedRun(s)
        s.project.environment["FERRY_TEST_KILL_AT"] = point == "checked" ? "change:mysql.undo.checked" : "change:mysql.undo.renamed"
        let killed = try s.project.run("rollback", runID, "plans/main.json")
        s.project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code == 9, "\(killed.all)")
    }

    /// B2 without the collation switch: the target made again by an application after the kill,
    /// with tables of the run's names (`t` and `o`; after the undo's rename, `t`, the name of the
    /// target's own table it moved back), each with a row of its own. No recover moves them or
    /// makes anything in that database, `--discard-later-writes` neither.
    @Test(arguments: ["swap", "checked", "renamed"])
    func aTargetMadeAgainWithTablesOfTheRunsNamesIsLeft(_ point: String) throws {
        let s = try race.setUp()
        defer { writes.tearDown(s) }
        try killed(s, at: point)
        var app = "DROP DATABASE `\(s.target)`; CREATE DATABASE `\(s.target)`; CREATE TABLE DB.t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO DB.t VALUES (7, 'app');"
        var made = ["row 7 app", "table t"]
        if point != "renamed" {
            app += " CREATE TABLE DB.o (id INT PRIMARY KEY); INSERT INTO DB.o VALUES (70);"
            made = ["row 7 app", "table o", "table t"]
        }
        _ = try writes.sql(s, app)
        let collation = try self.collation(s)
        for (n, args) in [["recover"], ["recover"], ["recover", "--discard-later-writes"]].enumerated() {
            let recovered = try s.project.run(args)
            try expectLeftAsMade(s, recovered, made, collation: collation, "\(point): \(args.joined(separator: " ")) #\(n + 1)")
            if point != "renamed" { #expect(try writes.sql(s, "SELECT id FROM DB.o;") == "70\n", "\(point): \(recovered.all)") }
            // Named for what it is (`--discard-later-writes` as well as the first pass).
            let said = point == "renamed" ? "made again under its name" : "which are not the run's: they were made again"
            if n != 1 { #expect(recovered.all.contains(said), "\(point): \(args.joined(separator: " ")): \(recovered.all)") }
        }
    }

    /// Fresh tester round 18 (w39), E1: the apply killed after its swap's rename (the target
    /// holds the run's tables beside its own old views and routines and the run's witnesses),
    /// then a run table truncated (another InnoDB id) or a table of the application's made in
    /// the target: the recover refused, "nothing was changed", after it had dropped the
    /// target's old view and procedure and the witnesses. The tables are checked first now:
    /// the target is left exactly as it was after the application's change.
    /// E1's rest: a view, routine or trigger the application made there (or the target's own
    /// view replaced) was found only after the settling; it stops the undo before it now too.
    @Test(arguments: ["TRUNCATE TABLE DB.t", "CREATE TABLE DB.appnew (x INT)",
                      "CREATE VIEW DB.app_v AS SELECT 1 AS x", "CREATE PROCEDURE DB.app_p() SELECT 2",
                      "CREATE OR REPLACE VIEW DB.own_v AS SELECT 3 AS x",
                      "CREATE TRIGGER DB.app_tr BEFORE UPDATE ON DB.t FOR EACH ROW SET NEW.v = NEW.v"])
    func aTableChangedAfterAKilledSwapStopsTheUndoBeforeAnyChange(_ change: String) throws {
        let s = try race.setUp()
        defer { writes.tearDown(s) }
        let before = try race.inventory(s)
        try killed(s, at: "movedIn")
        let afterKill = try race.inventory(s)
        #expect(afterKill.contains { $0.hasPrefix("view ") } && afterKill.contains { $0.hasPrefix("routine ") }, "the target's own view and routine are still there: \(afterKill)")
        _ = try writes.sql(s, change + ";")
        let made = race.unordered(try race.inventory(s))
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 4 && !recovered.all.contains("as they were before"), "\(change): \(recovered.all)")
        #expect(race.unordered(try race.inventory(s)) == made, "\(change): nothing of the target changed: \(recovered.all)")
        // The application's object gone again, the undo restores exactly what was there before.
        guard let dropped = ["app_v": "DROP VIEW DB.app_v", "app_p": "DROP PROCEDURE DB.app_p", "app_tr": "DROP TRIGGER DB.app_tr"].first(where: { change.contains($0.key) }) else { return }
        #expect(recovered.all.contains("nothing was changed"), "\(change): \(recovered.all)")
        _ = try writes.sql(s, dropped.value + ";")
        let again = try s.project.run("recover")
        #expect(again.code == 0 && again.stdout.contains("as they were before"), "\(change): \(again.all)")
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "\(change): \(again.all)")
        #expect(race.unordered(try race.inventory(s)) == race.unordered(before), "\(change): \(again.all)")
        try race.expectNoLeftovers(s, "\(change): recovered")
    }

    /// The held path of those kills: no application change, the recover puts everything back
    /// exactly as it was before the run.
    @Test(arguments: ["swap", "checked", "renamed"])
    func theSameKillsAloneAreRecoveredExactly(_ point: String) throws {
        let s = try race.setUp()
        defer { writes.tearDown(s) }
        let before = try race.inventory(s)
        try killed(s, at: point)
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0, "\(point): \(recovered.all)")
        #expect(try writes.sql(s, "SELECT id, v FROM DB.t;") == "1\tuser-original\n", "\(point): \(recovered.all)")
        #expect(race.unordered(try race.inventory(s)) == race.unordered(before), "\(point): \(recovered.all)")
        try race.expectNoLeftovers(s, "\(point): recovered")
    }
}
