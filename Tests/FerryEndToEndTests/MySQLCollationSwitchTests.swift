import Foundation
import Testing

/// Fresh tester round 14, A1, A7, A5: MariaDB's switch of a database's default collation around
/// a routine's or trigger's `CREATE` (SPEC §3 "Objects Ferry cannot move exactly", §6). A1: the
/// note of a switch under way lived only in Ferry's `collation_switches` table; dropped after a
/// kill between the two `ALTER DATABASE`s, `ferry recover` left the default switched and said
/// "as they were before". A7: the note compared values only, so a target an application made
/// again with the switched-to collation was altered by the recover ("nothing was changed").
/// A5: `ferry unlock --claims` of a run killed mid-swap called the checkpoint (the target's own
/// tables) a leftover to remove, and named neither the half-swapped target nor the collation.
@Suite(.serialized) struct MySQLCollationSwitchTests {
    let charset = MySQLObjectCharsetTests()
    let writes = MySQLWritesDuringRunTests()
    let cli = MySQLCLITests()
    static let own = "utf8mb4_unicode_ci\n"
    /// What `prepare` makes `f_db` and `ctr` under: the collation a switch sets for a moment.
    static let switched = "latin1_german1_ci\n"

    /// A committed replace import over the charset suite's target, then `ferry rollback RUN`
    /// killed between the switches of its first routine: the target holds its own tables again
    /// and its default is switched.
    func killedRollback() throws -> (s: MySQLWritesDuringRunTests.Setup, before: (settings: String, trigger: String), rollback: String) {
        let s = try writes.setUp(failingSecond: false)
        let before = try charset.prepare(s)
        #expect(try charset.databaseCollation(s) == Self.own)
        let applied = try s.project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        s.project.environment["FERRY_TEST_KILL_AT"] = "change:mysql.objects.collationSwitched"
        let killed = try s.project.run("rollback", try MySQLImportCLITests().runID(applied.stdout))
        s.project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code != 0, "\(killed.all)")
        #expect(try charset.databaseCollation(s) == Self.switched, "the kill landed between the switches")
        let runs = try FileManager.default.contentsOfDirectory(atPath: s.project.root + "/.ferry/runs").sorted()
        let rollback = try #require(runs.last)
        // Journaled in the run's own journal before the first ALTER.
        let journal = try String(contentsOfFile: s.project.root + "/.ferry/runs/\(rollback)/journal.jsonl", encoding: .utf8)
        #expect(journal.contains("\"swapNoted\"") && journal.contains("latin1_german1_ci"), "\(journal)")
        return (s, before, rollback)
    }

    func dropNotes(_ s: MySQLWritesDuringRunTests.Setup) throws {
        try cli.sql(s.project, s.server, "DROP TABLE IF EXISTS ferry_meta.collation_switches;")
    }

    func expectRefusedUnchanged(_ s: MySQLWritesDuringRunTests.Setup, _ recovered: Project.Result, collation: String, _ what: String) throws {
        #expect(recovered.code == 4, "\(what): \(recovered.all)")
        #expect(!recovered.all.contains("as they were before") && !recovered.all.contains("hold what they held before"), "\(what): \(recovered.all)")
        #expect(try charset.databaseCollation(s) == collation, "\(what): the default collation is left as it is")
    }

    /// A1, through `ferry rollback RUN`: the note dropped after the kill. The recover changes
    /// nothing and says what to check (the default now and the one it had); set back by hand,
    /// the next recover finishes, as before.
    @Test func noteDroppedAfterAKilledRollbackStopsTheRecover() throws {
        let (s, before, _) = try killedRollback()
        defer { writes.tearDown(s) }
        try dropNotes(s)
        let recovered = try s.project.run("recover")
        try expectRefusedUnchanged(s, recovered, collation: Self.switched, "note dropped")
        #expect(recovered.all.contains("utf8mb4_unicode_ci") && recovered.all.contains("latin1_german1_ci") && recovered.all.contains("ALTER DATABASE"), "\(recovered.all)")
        let again = try s.project.run("recover")
        try expectRefusedUnchanged(s, again, collation: Self.switched, "note dropped, a second recover")
        try cli.sql(s.project, s.server, "ALTER DATABASE `\(s.target)` COLLATE utf8mb4_unicode_ci;")
        let finished = try s.project.run("recover")
        #expect(finished.code == 0 && finished.stdout.contains("finished"), "\(finished.all)")
        try charset.expectAsBefore(s, before, "recover once the default was set back by hand")
        #expect(try charset.databaseCollation(s) == Self.own)
    }

    /// The kill's note kept: the recover puts the default back and finishes (the held path).
    /// The note of another run on the same database (its run tag) is never this run's to
    /// settle: with only that one there, the recover stops as above and leaves it.
    @Test func onlyTheRunsOwnNoteSettlesTheSwitch() throws {
        let (s, before, _) = try killedRollback()
        defer { writes.tearDown(s) }
        try cli.sql(s.project, s.server, "UPDATE ferry_meta.collation_switches SET run = 'another-run' WHERE db = '\(s.target)';")
        let refused = try s.project.run("recover")
        try expectRefusedUnchanged(s, refused, collation: Self.switched, "another run's note")
        #expect(try cli.sql(s.project, s.server, "SELECT run FROM ferry_meta.collation_switches WHERE db = '\(s.target)';") == "another-run\n", "another run's note is left to it")
        try cli.sql(s.project, s.server, "UPDATE ferry_meta.collation_switches SET run = (SELECT SUBSTRING_INDEX(SCHEMA_NAME, '__ferry_c_', -1) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '\(s.target)\\_\\_ferry\\_c\\_%' LIMIT 1) WHERE db = '\(s.target)';")
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0 && recovered.stdout.contains("finished"), "\(recovered.all)")
        try charset.expectAsBefore(s, before, "recover with the run's own note")
        #expect(try charset.databaseCollation(s) == Self.own)
        #expect(try cli.sql(s.project, s.server, "SELECT COUNT(*) FROM ferry_meta.collation_switches WHERE db = '\(s.target)';") == "0\n", "the note is forgotten")
    }

    /// Fresh tester round 15, B1: the run's note edited after the kill (its own collation, or the
    /// one it switched to): the recover goes by the run's journal, written first, and puts the
    /// database's own default back; never one it never had, never the switch left.
    @Test(arguments: ["own_collation = 'latin1_swedish_ci'", "switched_to = 'latin1_swedish_ci'"])
    func anEditedNoteIsOutrankedByTheRunsJournal(edit: String) throws {
        let (s, before, _) = try killedRollback()
        defer { writes.tearDown(s) }
        try cli.sql(s.project, s.server, "UPDATE ferry_meta.collation_switches SET \(edit) WHERE db = '\(s.target)';")
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0 && recovered.stdout.contains("finished"), "\(edit): \(recovered.all)")
        #expect(try charset.databaseCollation(s) == Self.own, "\(edit): the database's own default, as the journal says")
        try charset.expectAsBefore(s, before, "recover after the note was edited (\(edit))")
    }

    /// Fresh tester round 16, C3: the rollback killed between the switches, then the target
    /// dropped and made again by an application with the switched-to collation: the recover
    /// holds it, and `--keep-later-writes` leaves it as it is, and now names the default
    /// collation the run's note says was switched, with the one to set back unless someone set
    /// it since (it said only "finished, leaving 1 target ... as they are").
    @Test(arguments: [false, true]) func keepingATargetNamesTheCollationLeftSwitched(released: Bool) throws {
        let (s, _, _) = try killedRollback()
        defer { writes.tearDown(s) }
        try cli.sql(s.project, s.server, "DROP DATABASE `\(s.target)`; CREATE DATABASE `\(s.target)` CHARACTER SET latin1 COLLATE latin1_german1_ci; CREATE TABLE `\(s.target)`.appt (x INT);")
        let held = try s.project.run("recover")
        #expect(held.code == 4 && held.all.contains("--keep-later-writes"), "\(held.all)")
        let kept = try s.project.run("recover", "--keep-later-writes")
        #expect(kept.code == 0 && kept.stdout.contains("finished, leaving"), "\(kept.all)")
        #expect(kept.all.contains("the default collation of \(s.target) is latin1_german1_ci") && kept.all.contains("COLLATE utf8mb4_unicode_ci"), "\(kept.all)")
        #expect(try charset.databaseCollation(s) == Self.switched, "left as it is")
        #expect(try cli.sql(s.project, s.server, "SHOW TABLES FROM `\(s.target)`;") == "appt\n")
        // Fresh tester round 18, E4c: the note of the kept run stays (nothing proves the
        // default the application gave its database is the run's switch, nor that it is not),
        // and no later run acts on it: a later apply into the same database leaves the default
        // the application set.
        let notes = try cli.sql(s.project, s.server, "SELECT run, own_collation, switched_to FROM ferry_meta.collation_switches WHERE db = '\(s.target)';")
        #expect(notes.hasSuffix("\tutf8mb4_unicode_ci\tlatin1_german1_ci\n") && !notes.hasPrefix("\t"), "the kept run's note, with its run: \(notes)")
        if released {
            // As `ferry unlock --claims` leaves a note: anyone's ('').
            try cli.sql(s.project, s.server, "UPDATE ferry_meta.collation_switches SET run = '' WHERE db = '\(s.target)';")
        }
        // With a routine, which the swap makes in the target (under its own collation setting).
        try s.project.write("plans/data/a.sql", "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20));\nINSERT INTO t VALUES (1, 'later');\nCREATE PROCEDURE lp() SELECT 1;\n")
        let later = try s.project.run("apply", "--auto-approve")
        #expect(later.code == 0, "\(later.all)")
        #expect(try charset.databaseCollation(s) == Self.switched, "a later run leaves the default the application set (notes before it: \(notes), released: \(released))")
    }

    /// A7: the target dropped after the kill and made again by an application, with the
    /// switched-to collation (note kept, or dropped too) or another one, and a table of its own:
    /// the recover refuses (the target is not the run's) and the new database's default stays.
    @Test(arguments: [("latin1_german1_ci", false), ("latin1_german1_ci", true), ("latin1_swedish_ci", false)])
    func targetMadeAgainKeepsItsCollation(collation: String, dropNote: Bool) throws {
        let (s, _, _) = try killedRollback()
        defer { writes.tearDown(s) }
        if dropNote { try dropNotes(s) }
        try cli.sql(s.project, s.server, "DROP DATABASE `\(s.target)`; CREATE DATABASE `\(s.target)` CHARACTER SET latin1 COLLATE \(collation); CREATE TABLE `\(s.target)`.appt (x INT);")
        let recovered = try s.project.run("recover")
        try expectRefusedUnchanged(s, recovered, collation: collation + "\n", "made again with \(collation)\(dropNote ? ", note dropped" : "")")
        #expect(try cli.sql(s.project, s.server, "SHOW TABLES FROM `\(s.target)`;") == "appt\n")
    }

    func appendPlan(_ s: MySQLWritesDuringRunTests.Setup) throws {
        try s.project.write("plans/main.json", """
        { "ferry": 1,
          "instances": { "a": { "engine": "mysql", "url": "\(s.server.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
          "imports": { "ia": { "into": "a", "database": "\(s.target)", "from": "data/b.sql", "onExisting": "append" } } }
        """)
    }

    /// An append killed at its switches in turn (the first ones are in its snapshot's shadow,
    /// recovered as before) until one lands inside its swap, with the target's default switched.
    func killedAppendSwap() throws -> (s: MySQLWritesDuringRunTests.Setup, before: (settings: String, trigger: String)) {
        let s = try writes.setUp(failingSecond: false)
        let before = try charset.prepare(s)
        try appendPlan(s)
        for n in 1...4 {
            s.project.environment["FERRY_TEST_KILL_AT"] = "change:mysql.objects.collationSwitched#\(n)"
            let killed = try s.project.run("apply", "--auto-approve")
            s.project.environment["FERRY_TEST_KILL_AT"] = nil
            #expect(killed.code != 0, "\(killed.all)")
            if try charset.databaseCollation(s) == Self.switched { return (s, before) }
            let recovered = try s.project.run("recover")
            #expect(recovered.code == 0 && recovered.stdout.contains("as they were before"), "\(recovered.all)")
            try charset.expectAsBefore(s, before, "recover after an append killed at the switch #\(n)")
        }
        Issue.record("no kill landed while the target's default was switched")
        return (s, before)
    }

    func expectRecoveredAsBefore(_ s: MySQLWritesDuringRunTests.Setup, _ before: (settings: String, trigger: String), _ what: String) throws {
        let recovered = try s.project.run("recover")
        #expect(recovered.code == 0 && recovered.stdout.contains("as they were before"), "\(what): \(recovered.all)")
        try charset.expectAsBefore(s, before, what)
        #expect(try charset.databaseCollation(s) == Self.own)
    }

    /// A1 through `ferry apply`: an append killed inside its swap while the target's default is
    /// switched, the note dropped: the recover stops, changing nothing; set back by hand, the
    /// next recover puts everything back.
    @Test func noteDroppedAfterAKilledSwapStopsTheRecover() throws {
        let (s, before) = try killedAppendSwap()
        defer { writes.tearDown(s) }
        try dropNotes(s)
        let refused = try s.project.run("recover")
        try expectRefusedUnchanged(s, refused, collation: Self.switched, "append killed inside its swap, note dropped")
        #expect(refused.all.contains("cannot tell whether the default collation of \(s.target)") && refused.all.contains("COLLATE utf8mb4_unicode_ci"), "\(refused.all)")
        try cli.sql(s.project, s.server, "ALTER DATABASE `\(s.target)` COLLATE utf8mb4_unicode_ci;")
        try expectRecoveredAsBefore(s, before, "recover once the default was set back by hand")
    }

    /// A7 through `ferry apply` (the finding's path): the target dropped after the kill inside
    /// the swap and made again by an application with the switched-to collation (note kept, or
    /// dropped too) or another one, and a table of its own: the recover refuses (the database is
    /// not the run's) and the new database's default stays.
    @Test(arguments: [("latin1_german1_ci", false), ("latin1_german1_ci", true), ("latin1_swedish_ci", false)])
    func targetMadeAgainAfterAKilledSwapKeepsItsCollation(collation: String, dropNote: Bool) throws {
        let (s, _) = try killedAppendSwap()
        defer { writes.tearDown(s) }
        if dropNote { try dropNotes(s) }
        try cli.sql(s.project, s.server, "DROP DATABASE `\(s.target)`; CREATE DATABASE `\(s.target)` CHARACTER SET latin1 COLLATE \(collation); CREATE TABLE `\(s.target)`.appt (x INT);")
        let recovered = try s.project.run("recover")
        try expectRefusedUnchanged(s, recovered, collation: collation + "\n", "made again with \(collation)\(dropNote ? ", note dropped" : "")")
        #expect(try cli.sql(s.project, s.server, "SHOW TABLES FROM `\(s.target)`;") == "appt\n")
        #expect(!recovered.all.contains("restored a/"), "\(recovered.all)")
    }

    /// A5: `ferry unlock --claims` of a run killed mid-swap (its state directory gone): it names
    /// the target mid-swap, says its checkpoint holds the target's own tables (never a leftover
    /// to remove), and the collation to set back. The note is then anyone's: the state directory
    /// brought back, the recover puts everything back.
    @Test func unlockOfARunKilledMidSwapSaysWhatToPutBack() throws {
        let (s, before) = try killedAppendSwap()
        defer { writes.tearDown(s) }
        let state = s.project.root + "/.ferry", away = s.project.root + "/ferry-away"
        // Named: other suites' killed runs may hold claims on the same server at this moment.
        let runID = try #require(try FileManager.default.contentsOfDirectory(atPath: state + "/runs").sorted().last)
        try FileManager.default.moveItem(atPath: state, toPath: away)
        let unlocked = try s.project.run("unlock", "--claims", "a", runID)
        #expect(unlocked.code == 0, "\(unlocked.all)")
        let checkpoint = try #require(try writes.schemas(s).first { $0.contains("__ferry_c_") })
        #expect(unlocked.stdout.contains("\(s.target) is in the middle of the run's swap") && unlocked.stdout.contains("\(checkpoint) is its checkpoint, no leftover")
                && unlocked.stdout.contains("its own tables (t)"), "\(unlocked.all)")
        #expect(unlocked.stdout.contains("the default collation of \(s.target) is latin1_german1_ci") && unlocked.stdout.contains("COLLATE utf8mb4_unicode_ci"), "\(unlocked.all)")
        #expect(unlocked.stdout.contains("never a checkpoint named above"), "\(unlocked.all)")
        #expect(try charset.databaseCollation(s) == Self.switched, "the unlock changes nothing")
        try? FileManager.default.removeItem(atPath: state)
        try FileManager.default.moveItem(atPath: away, toPath: state)
        // Its claims released, the recover restores nothing until told (round-14 A3: a later
        // run may have swapped over the target meanwhile); told to, it puts everything back.
        let held = try s.project.run("recover")
        #expect(held.code == 4 && held.all.contains("were released") && !held.all.contains("as they were before"), "\(held.all)")
        let recovered = try s.project.run("recover", "--discard-later-writes")
        #expect(recovered.code == 0, "\(recovered.all)")
        try charset.expectAsBefore(s, before, "recover --discard-later-writes after the unlock, its state directory back")
        #expect(try charset.databaseCollation(s) == Self.own)
    }
}
