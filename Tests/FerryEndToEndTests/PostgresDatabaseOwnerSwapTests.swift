import Foundation
import Testing

/// Fresh tester round 5, W8-2: a swap into an existing PostgreSQL database keeps that
/// database's owner and `CONNECTION LIMIT` (an append, a replace and a copy had handed the
/// application's database to Ferry's user and reset its limit to -1, with "Apply complete"),
/// and `ferry rollback RUN` restores them as they were, not taking Ferry's own carrying of the
/// owner for an application's write.
@Suite(.serialized) struct PostgresDatabaseOwnerSwapTests {
    let pg = PostgresCLITests()
    let round2 = PostgresWritesDuringRunTests()
    let round4 = PostgresWritesDuringRunRound4Tests()

    enum Kind: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case importAppend, importReplace, copyReplace
        var testDescription: String { rawValue }
    }

    /// What the target database's own row holds: owner, connection limit, comment.
    func row(_ project: Project, _ server: PostgresCLITests.Server, _ database: String) throws -> String {
        try pg.sql(project, server, "postgres", "SELECT pg_get_userbyid(datdba) || ' ' || datconnlimit || ' ' || coalesce(shobj_description(oid, 'pg_database'), '-') FROM pg_database WHERE datname = '\(database)';")
    }

    /// The tester's repro (owner app_owner, CONNECTION LIMIT 50, a comment) for an import's
    /// append and replace and a copy's replace; then `ferry rollback RUN`.
    @Test(arguments: Kind.allCases, [50, 3]) func aSwapKeepsTheTargetsOwnerAndConnectionLimit(kind: Kind, limit: Int) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A"), b = try pg.server("FERRY_TEST_PG_B")
        let tag = "ow" + UUID().uuidString.prefix(6).lowercased()
        let owner = "\(tag)_app_owner"
        let server = kind == .copyReplace ? b : a
        defer {
            round2.dropAll(project, a, tag: tag); round2.dropAll(project, b, tag: tag)
            round4.dropRole(project, server, owner)
        }
        try round4.makeRole(project, server, owner)
        try pg.sql(project, server, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\" OWNER \(owner); COMMENT ON DATABASE \"\(tag)\" IS 'mine'; ALTER DATABASE \"\(tag)\" CONNECTION LIMIT \(limit);")
        try pg.sql(project, server, tag, "CREATE TABLE t (id int); INSERT INTO t VALUES (1);")
        let before = "\(owner) \(limit) mine\n"
        #expect(try row(project, server, tag) == before)
        switch kind {
        case .importAppend, .importReplace:
            try project.write("plans/data/add.sql", "CREATE TABLE public.added (id int);\nINSERT INTO public.added VALUES (1);\n")
            try project.write("plans/main.json", """
                { "ferry": 1, "instances": { "pg": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
                  "imports": { "add": { "into": "pg", "database": "\(tag)", "from": "data/add.sql", "onExisting": "\(kind == .importAppend ? "append" : "replace")", "owner": "ferry_plain" } } }
                """)
        case .copyReplace:
            try pg.sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\";")
            try pg.sql(project, a, tag, "CREATE TABLE added (id int); INSERT INTO added VALUES (1);")
            try project.write("plans/main.json", """
                { "ferry": 1, "instances": { \(pg.instances(a, b)) },
                  "copies": { "mirror": { "from": "src", "to": "dst", "databases": ["\(tag)"], "onExisting": "replace" } } }
                """)
        }
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0 && applied.all.contains("Apply complete"), "\(applied.all)")
        #expect(try pg.sql(project, server, tag, "SELECT count(*) FROM added;") == "1\n", "the run was swapped in")
        #expect(try row(project, server, tag) == before, "owner and connection limit kept by the swap: \(applied.all)")
        let run = try #require(round4.runID(of: applied), "\(applied.all)")
        let rollback = try project.run("rollback", run)
        #expect(rollback.code == 0 && rollback.all.contains("restored"), "\(rollback.all)")
        #expect(try row(project, server, tag) == before, "owner and connection limit as they were: \(rollback.all)")
        #expect(try pg.sql(project, server, tag, "SELECT count(*) FROM pg_class WHERE relname = 'added';") == "0\n", "the run was rolled back")
    }

    /// Fresh tester round 5, W8-3: an append into a database with an explicit ACL (a `REVOKE
    /// CONNECT ... FROM PUBLIC`, a grant to a role, a grant and revoke again), and a copy from a
    /// source with one, went through: handing the shadow to the import role rewrote the owner in
    /// the ACL, which the import's check took for the file's change ("the import changed the
    /// database's own settings"). The target keeps its ACL.
    @Test(arguments: [Kind.importAppend, .copyReplace], ["REVOKE CONNECT ON DATABASE \"DB\" FROM PUBLIC;",
                                                          "GRANT ALL ON DATABASE \"DB\" TO ROLE;",
                                                          "GRANT CONNECT ON DATABASE \"DB\" TO PUBLIC; REVOKE TEMPORARY ON DATABASE \"DB\" FROM PUBLIC; GRANT TEMPORARY ON DATABASE \"DB\" TO PUBLIC;"])
    func anExplicitDatabaseACLIsNoImportChange(kind: Kind, acl: String) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A"), b = try pg.server("FERRY_TEST_PG_B")
        let tag = "oa" + UUID().uuidString.prefix(6).lowercased()
        let owner = "\(tag)_app_owner", role = "\(tag)_r"
        let server = kind == .copyReplace ? b : a
        defer {
            round2.dropAll(project, a, tag: tag); round2.dropAll(project, b, tag: tag)
            for s in [a, b] { round4.dropRole(project, s, owner); round4.dropRole(project, s, role) }
        }
        for s in [a, b] { try round4.makeRole(project, s, owner); try round4.makeRole(project, s, role) }
        let statements = acl.replacingOccurrences(of: "\"DB\"", with: "\"\(tag)\"").replacingOccurrences(of: "ROLE", with: role)
        // The ACL's entries in order (the swap's carry may write them in another).
        let aclOf = "SELECT coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(datacl) x), 'NULL') FROM pg_database WHERE datname = '\(tag)';"
        try pg.sql(project, server, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\" OWNER \(owner); " + statements)
        try pg.sql(project, server, tag, "CREATE TABLE t (id int); INSERT INTO t VALUES (1);")
        switch kind {
        case .importAppend:
            try project.write("plans/data/add.sql", "CREATE TABLE public.added (id int);\nINSERT INTO public.added VALUES (1);\n")
            try project.write("plans/main.json", """
                { "ferry": 1, "instances": { "pg": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
                  "imports": { "add": { "into": "pg", "database": "\(tag)", "from": "data/add.sql", "onExisting": "append", "owner": "ferry_plain" } } }
                """)
        default:
            // The source has the same explicit ACL: a copy carries it.
            try pg.sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\" OWNER \(owner); " + statements)
            try pg.sql(project, a, tag, "CREATE TABLE added (id int); INSERT INTO added VALUES (1);")
            try project.write("plans/main.json", """
                { "ferry": 1, "instances": { \(pg.instances(a, b)) },
                  "copies": { "mirror": { "from": "src", "to": "dst", "databases": ["\(tag)"], "onExisting": "replace" } } }
                """)
        }
        let before = try pg.sql(project, server, "postgres", aclOf)
        #expect(before != "NULL\n", "an explicit ACL: \(before)")
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0 && applied.all.contains("Apply complete"), "\(applied.all)")
        #expect(try pg.sql(project, server, tag, "SELECT count(*) FROM added;") == "1\n", "the run was swapped in: \(applied.all)")
        let after = try pg.sql(project, server, "postgres", aclOf)
        #expect(after == before, "the target's ACL is kept: \(before) -> \(after)")
    }

    /// W8-1: a change of the database's own settings or comment after the swap, and how to see it.
    static let settingsChanges: [PostgresWritesDuringRunRound4Tests.RightsChange] = [
        .init(name: "ALTER DATABASE ... SET", sql: "ALTER DATABASE \"DB\" SET work_mem = '7MB';", onServer: true,
              check: "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = current_database() AND s.setrole = 0 AND 'work_mem=7MB' = ANY (s.setconfig);", expected: "1\n"),
        .init(name: "ALTER ROLE ... IN DATABASE ... SET", sql: "alter role ROLE in database \"DB\" SET statement_timeout = '5s';", onServer: true,
              check: "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = current_database() AND s.setrole <> 0;", expected: "1\n"),
        .init(name: "COMMENT ON DATABASE", sql: "COMMENT ON DATABASE \"DB\" IS 'changed by the application';", onServer: true,
              check: "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database();", expected: "changed by the application\n"),
    ]

    /// Makes database `tag` on `a` (then runs `setup` on it, and gives it a table `old`), imports
    /// a file into it with `replace`, and returns the run's id.
    func appliedReplace(_ project: Project, _ a: PostgresCLITests.Server, tag: String, setup: String) throws -> String {
        try pg.sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\"; " + setup)
        try pg.sql(project, a, tag, "CREATE TABLE old (v text); INSERT INTO old VALUES ('before the run');")
        try project.write("plans/data/add.sql", "CREATE TABLE public.added (id int);\nINSERT INTO public.added VALUES (1);\n")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "pg": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
              "imports": { "add": { "into": "pg", "database": "\(tag)", "from": "data/add.sql", "onExisting": "replace", "owner": "ferry_plain" } } }
            """)
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        return try #require(round4.runID(of: applied), "\(applied.all)")
    }

    /// W8-1 (`ferry rollback RUN`): refused before any change after such a change, which stays.
    @Test(arguments: settingsChanges) func rollbackRunIsRefusedAfterTheDatabasesSettingsChanged(change: PostgresWritesDuringRunRound4Tests.RightsChange) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "os" + UUID().uuidString.prefix(6).lowercased()
        let role = "\(tag)_r"
        defer { round2.dropAll(project, a, tag: tag); round4.dropRole(project, a, role) }
        try round4.makeRole(project, a, role)
        let run = try appliedReplace(project, a, tag: tag, setup: "COMMENT ON DATABASE \"\(tag)\" IS 'mine'; ALTER DATABASE \"\(tag)\" SET work_mem = '5MB';")
        try round4.apply(change, project, a, database: tag, role: role)
        let rollback = try project.run("rollback", run)
        #expect(rollback.code == 1 && rollback.all.contains("changed after run"), "\(rollback.all)")
        #expect(!rollback.all.contains("restored pg/"), "\(rollback.all)")
        try round4.expectPresent(change, project, a, database: tag, role: role, rollback.all)
        #expect(try pg.sql(project, a, tag, "SELECT count(*) FROM added;") == "1\n", "the run's target is left as it is")
    }

    /// Fresh tester round 6, F2: the same settings in another order (a `RESET` and the same
    /// `SET` again) are no change: `ferry rollback RUN` restores, and `ferry plan` sees no drift.
    @Test func settingsInAnotherOrderAreNoChange() throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "oo" + UUID().uuidString.prefix(6).lowercased()
        defer { round2.dropAll(project, a, tag: tag) }
        let run = try appliedReplace(project, a, tag: tag, setup: "ALTER DATABASE \"\(tag)\" SET statement_timeout = '11s'; ALTER DATABASE \"\(tag)\" SET work_mem = '7MB';")
        let order = "SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = '\(tag)' AND s.setrole = 0;"
        let before = try pg.sql(project, a, "postgres", order)
        try pg.sql(project, a, "postgres", "ALTER DATABASE \"\(tag)\" RESET statement_timeout; ALTER DATABASE \"\(tag)\" SET statement_timeout = '11s';")
        let after = try pg.sql(project, a, "postgres", order)
        #expect(before != after && Set(before.split(whereSeparator: { $0 == "," || $0 == "\n" })) == Set(after.split(whereSeparator: { $0 == "," || $0 == "\n" })), "the same settings in another order: \(before) / \(after)")
        let plan = try project.run("plan", "--detailed-exitcode")
        #expect(plan.code == 0, "no drift: \(plan.all)")
        let rollback = try project.run("rollback", run)
        #expect(rollback.code == 0 && rollback.all.contains("restored pg/"), "\(rollback.all)")
        #expect(try pg.sql(project, a, tag, "SELECT v FROM old;") == "before the run\n")
    }

    /// W8-1 (in-run rollback): the change made on the swapped-in target keeps it (exit 4, left
    /// as it is, the checkpoint beside it), never "as they were"; with none, the rollback
    /// restores (Ferry's own carrying of the comment and settings is not a write).
    @Test(arguments: [nil] + settingsChanges.map(Optional.some)) func inRunRollbackKeepsATargetWhoseSettingsChangedAfterItsSwap(change: PostgresWritesDuringRunRound4Tests.RightsChange?) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "ot" + UUID().uuidString.prefix(6).lowercased()
        let role = "\(tag)_r"
        defer { round2.dropAll(project, a, tag: tag); round4.dropRole(project, a, role) }
        try round4.makeRole(project, a, role)
        try round2.failingSecondImport(project, a, tag: tag)
        try pg.sql(project, a, "postgres", "COMMENT ON DATABASE \"\(tag)_a\" IS 'mine'; ALTER DATABASE \"\(tag)_a\" SET work_mem = '5MB';")
        let (run, log) = try round2.startStopped(project, at: "after-swapDone#1")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        if let change { try round4.apply(change, project, a, database: "\(tag)_a", role: role) }
        run.signal(SIGCONT)
        run.waitUntilExit()
        let out = round2.output(log)
        if let change {
            #expect(run.terminationStatus == 4 && !out.contains("as they were"), "\(out)")
            #expect(out.contains("\(tag)_a was written after the run swapped it in"), "\(out)")
            try round4.expectPresent(change, project, a, database: "\(tag)_a", role: role, out)
            #expect(try pg.databases(project, a, like: "\(tag)_a__ferry_c_%") != "", "the checkpoint is kept beside it")
        } else {
            #expect(run.terminationStatus != 4 && out.contains("as they were"), "\(out)")
            #expect(try pg.sql(project, a, "\(tag)_a", "SELECT v FROM old;") == "before the run\n")
        }
    }
}
