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
}
