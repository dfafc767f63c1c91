import Foundation
import Testing

/// Issue 20 point 3: a SQLite target restored from its checkpoint holds the original's bytes, but
/// its fingerprint (which holds the file's ctime, changed by the renames) differs; a rollback
/// re-records it, so the restored import does not show as drifted. Three ways a checkpoint comes
/// back: `ferry recover` after a kill, a failed apply's own rollback, and `ferry rollback RUN`.
@Suite struct RestoredFingerprintTests {
    func project() throws -> Project {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        return project
    }

    func expectNoDrift(_ project: Project, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let drift = try project.run("plan", "--refresh-only", "--detailed-exitcode")
        #expect(drift.code == 0 && !drift.stdout.contains("changed outside Ferry"), "\(drift.all)", sourceLocation: sourceLocation)
        let plan = try project.run("plan", "--detailed-exitcode")
        #expect(plan.code == 0 && plan.stdout.contains("No changes"), "\(plan.all)", sourceLocation: sourceLocation)
    }

    @Test(arguments: ["after-swapDone", "change:swap.done"])
    func aRecoveredImportIsNotDrifted(_ point: String) throws {
        let project = try project()
        let before = project.fileBytes("var/a/app.db")
        project.environment["FERRY_TEST_KILL_AT"] = point
        let killed = try project.run("apply", "--auto-approve", "--replace", "import.seed")
        project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code != 0, "\(killed.all)")
        let recovered = try project.run("recover")
        #expect(recovered.code == 0 && recovered.stdout.contains("restored a/app"), "\(recovered.all)")
        #expect(project.fileBytes("var/a/app.db") == before)
        try expectNoDrift(project)
    }

    @Test func aFailedApplysRollbackLeavesTheImportNotDrifted() throws {
        let project = try project()
        try project.write("plans/data/bad.sql", "CREATE TABLE t(x);\nINSERT INTO no_such_table VALUES (1);\n")
        let withBad = twoInstancePlan().replacingOccurrences(of: #""imports": {"#, with: #""imports": { "bad": { "into": "b", "database": "bad", "from": "data/bad.sql", "after": "copy.to-b" },"#)
        try project.write("plans/main.json", withBad)
        let failed = try project.run("apply", "--auto-approve", "--replace", "import.seed", "--replace", "copy.to-b")
        #expect(failed.code == 3 && failed.stdout.contains("restored a/app"), "\(failed.all)")
        try project.write("plans/main.json", twoInstancePlan())
        try expectNoDrift(project)
    }

    @Test func aRolledBackRunLeavesTheEarlierImportNotDrifted() throws {
        let project = try project()
        let replaced = try project.run("apply", "--auto-approve", "--replace", "import.seed")
        #expect(replaced.code == 0, "\(replaced.all)")
        let runs = try project.run("runs")
        let id = try #require(runs.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }.first { $0.hasPrefix("20") })
        let rolledBack = try project.run("rollback", id)
        #expect(rolledBack.code == 0, "\(rolledBack.all)")
        try expectNoDrift(project)
    }

    /// A target that had drifted before the run stays drifted after the rollback: only a record
    /// that still held the fingerprint the plan saw is re-recorded.
    @Test func aTargetThatHadDriftedBeforeTheRunStaysDrifted() throws {
        let project = try project()
        let edited = try project.runShell("python3 -c \"import sqlite3; c = sqlite3.connect('var/a/app.db'); c.execute('INSERT INTO users VALUES (9, 1)'); c.commit()\"")
        #expect(edited.code == 0, "\(edited.all)")
        project.environment["FERRY_TEST_KILL_AT"] = "after-swapDone"
        _ = try project.run("apply", "--auto-approve", "--replace", "import.seed")
        project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(try project.run("recover").code == 0)
        let drift = try project.run("plan", "--refresh-only", "--detailed-exitcode")
        #expect(drift.code == 2 && drift.stdout.contains("changed outside Ferry"), "\(drift.all)")
    }
}

/// Issue 20 point 10: `ferry validate` reports every phase's problems at once: the loader's (a
/// file that does not parse, an unknown instance), the plan's static checks (a name the engine
/// cannot hold, a cycle) and the engine's checks of import files (statements reaching outside
/// the import's database), none hiding another.
@Suite struct ValidateEveryPhaseTests {
    func project(broken: Bool) throws -> Project {
        let project = try Project()
        try project.write("plans/a.json", """
            { "ferry": 1,
              "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
              "imports": { "seed": { "into": "a", "database": "app", "from": "data/seed.sql" },
                           "evil": { "into": "a", "database": "x", "from": "data/evil.sql" },
                           "lost": { "into": "nowhere", "database": "y", "from": "data/seed.sql" },
                           "odd": { "into": "a", "database": "bad/name", "from": "data/seed.sql" },
                           "p": { "into": "a", "database": "p", "from": "data/seed.sql", "after": "import.q" },
                           "q": { "into": "a", "database": "q", "from": "data/seed.sql", "after": "import.p" } } }
            """)
        if broken { try project.write("plans/b.json", "{ broken") }
        try project.write("plans/data/seed.sql", "CREATE TABLE t(x);\n")
        try project.write("plans/data/evil.sql", "ATTACH DATABASE 'other.db' AS o;\nCREATE TABLE o.t(x);\n")
        return project
    }

    @Test(arguments: [false, true])
    func validateReportsTheLoaderTheStaticAndTheEngineChecksAtOnce(_ broken: Bool) throws {
        let project = try project(broken: broken)
        let result = try project.run("validate")
        #expect(result.code == 1)
        let text = result.all
        #expect(text.contains("UnknownInstance") && text.contains("imports.lost.into"), "\(text)")
        #expect(text.contains("CycleDetected"), "\(text)")
        #expect(text.contains("imports.odd.database"), "\(text)")
        #expect(text.contains("error[ImportError]") && text.contains("ATTACH") && text.contains("imports.evil.from"), "\(text)")
        if broken { #expect(text.contains("plans/b.json:1:"), "\(text)") }
        #expect(!project.exists("var/a"), "validate changes nothing")
    }

    @Test func aCleanImportFileIsNoProblem() throws {
        let project = try Project()
        try project.write("plans/a.json", #"{ "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } }, "imports": { "seed": { "into": "a", "database": "app", "from": "data/seed.sql" } } }"#)
        try project.write("plans/data/seed.sql", "CREATE TABLE t(x);\nINSERT INTO t VALUES (1);\n")
        let result = try project.run("validate")
        #expect(result.code == 0 && result.stdout.contains("The plan is valid"), "\(result.all)")
    }
}
