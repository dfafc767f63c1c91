import Foundation
import Testing

/// Fresh tester round 70, F1 (rest): a change to a database beside which a checkpoint lies that
/// no run claims and this state does not keep names it in the plan (a warning: the change
/// leaves it as it is). A state that keeps it (its committed run's checkpoint for `ferry
/// rollback`) is not told; another working copy's state (a directory without it) is. The
/// killed-swap case (a dead run's claims released by `ferry unlock --claims`) is in
/// `MySQLSwapRaceTests.anUnlockOfATargetCutShortAfterItsRenameSaysItsTablesHaveNoTrigger`.
@Suite(.serialized) struct UnclaimedCheckpointPlanTests {
    let cli = PostgresCLITests()

    @Test func aPostgresCheckpointThisStateDoesNotKeepIsNamedBesideAChange() throws {
        let project = try Project()
        let a = try cli.server("FERRY_TEST_PG_A"), b = try cli.server("FERRY_TEST_PG_B")
        let tag = "uc" + UUID().uuidString.prefix(6).lowercased()
        try cli.sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\";")
        try cli.sql(project, a, tag, "CREATE TABLE t (v int); INSERT INTO t SELECT generate_series(1, 50);")
        try cli.sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)_copy\" WITH (FORCE); CREATE DATABASE \"\(tag)_copy\";")
        try cli.sql(project, b, "\(tag)_copy", "CREATE TABLE before_the_run (v int); INSERT INTO before_the_run VALUES (7);")
        defer {
            _ = try? cli.sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
            for name in ((try? cli.databases(project, b, like: "\(tag)%")) ?? "").split(separator: "\n") {
                _ = try? cli.sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE);")
            }
        }
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(cli.instances(a, b)) },
              "copies": { "app": { "from": "src", "to": "dst", "databases": { "\(tag)": "\(tag)_copy" }, "onExisting": "replace", "verify": "count" } } }
            """)
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        let checkpoint = try #require(try cli.databases(project, b, like: "\(tag)\\_copy\\_\\_ferry\\_c\\_%").split(separator: "\n").first.map(String.init),
                                      "the committed run keeps its checkpoint")
        #expect(try cli.sql(project, b, checkpoint, "SELECT v FROM before_the_run;") == "7\n")

        // The source changes: a change to the target in both states.
        try cli.sql(project, a, tag, "INSERT INTO t VALUES (51);")
        let own = try project.run("plan")
        #expect(own.code == 0 && own.all.contains("dst/\(tag)_copy") && !own.all.contains("no run claims"), "this state keeps it: \(own.all)")

        try FileManager.default.moveItem(atPath: project.root + "/.ferry", toPath: project.root + "/.ferry-away")
        defer { try? FileManager.default.moveItem(atPath: project.root + "/.ferry-away", toPath: project.root + "/.ferry") }
        let stranger = try project.run("plan")
        #expect(stranger.code == 0 && stranger.all.contains("dst/\(tag)_copy has a checkpoint of an earlier run beside it that no run claims and this state does not keep: \(checkpoint)")
                && stranger.all.contains("this change leaves it as it is"), "\(stranger.all)")
        // A database of the user's that only looks like a checkpoint of another database (its
        // name is not the one Ferry derives for this target) is not named.
        try cli.sql(project, b, "postgres", "CREATE DATABASE \"\(tag)_cop__ferry_c_x\";")
        // Nor one with the very name Ferry would derive for a run, made by a user without the
        // checkpoint's comment (fresh tester round 74, F3).
        try cli.sql(project, b, "postgres", "CREATE DATABASE \"\(tag)_copy__ferry_c_11111111Z-aaaaaa\";")
        let lookalike = try project.run("plan")
        #expect(!lookalike.all.contains("\(tag)_cop__ferry_c_x") && !lookalike.all.contains("11111111Z-aaaaaa")
                && lookalike.all.contains("this state does not keep: \(checkpoint)."), "\(lookalike.all)")
    }
}
