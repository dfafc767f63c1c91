import Foundation
import Testing

/// Applications that write during and after a PostgreSQL run, round 3 (issue 14; fresh tester
/// w5's X3, X1b, X2): a checkpoint written after its swap is not dropped by a later commit's
/// retention (left, with a note naming it); an application's object in an import's shadow is
/// never carried in by the swap nor dropped with the shadow; a `ferry rollback RUN` that cannot
/// pass its checks is refused before it changes anything.
@Suite(.serialized) struct PostgresWritesDuringRunRound3Tests {
    let pg = PostgresCLITests()
    let round2 = PostgresWritesDuringRunTests()

    /// What an application writes into a committed run's checkpoint, and how to see it there.
    struct CheckpointWrite: CustomTestStringConvertible, Sendable {
        var name: String
        var sql: String?
        var check: String
        var expected: String
        var testDescription: String { name }
    }

    static let checkpointWrites: [CheckpointWrite] = [
        CheckpointWrite(name: "nothing (dropped as before)", sql: nil, check: "", expected: ""),
        CheckpointWrite(name: "an inserted row", sql: "INSERT INTO old VALUES ('precious-in-ckpt');",
                        check: "SELECT count(*) FROM old WHERE v = 'precious-in-ckpt';", expected: "1\n"),
        CheckpointWrite(name: "an update that keeps the row count", sql: "UPDATE old SET v = 'changed in the checkpoint';",
                        check: "SELECT v FROM old;", expected: "changed in the checkpoint\n"),
        CheckpointWrite(name: "an empty table created", sql: "CREATE TABLE app_t (i int);",
                        check: "SELECT count(*) FROM pg_class WHERE relname = 'app_t';", expected: "1\n"),
        CheckpointWrite(name: "a comment", sql: "COMMENT ON TABLE old IS 'the application''s note';",
                        check: "SELECT obj_description('old'::regclass, 'pg_class');", expected: "the application's note\n"),
        CheckpointWrite(name: "a large object", sql: "SELECT lo_from_bytea(31337, 'kept'::bytea);",
                        check: "SELECT encode(lo_get(31337), 'escape');", expected: "kept\n"),
        // Round 7 F5: what the token does not cover (the checkpoint's `{C}`: its name).
        CheckpointWrite(name: "a database setting", sql: "ALTER DATABASE \"{C}\" SET work_mem = '7MB';",
                        check: settingsOfCurrentDatabase(role: "= 0"), expected: "work_mem=7MB\n"),
        CheckpointWrite(name: "a role's setting in the database", sql: "ALTER ROLE ferry_plain IN DATABASE \"{C}\" SET search_path = 'app';",
                        check: settingsOfCurrentDatabase(role: "<> 0"), expected: "search_path=app\n"),
    ]

    static func settingsOfCurrentDatabase(role: String) -> String {
        "SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) AND setrole \(role);"
    }

    func checkpoints(_ project: Project, _ server: PostgresCLITests.Server, of database: String) throws -> [String] {
        try pg.databases(project, server, like: "\(database)__ferry_c_%").split(separator: "\n").map(String.init)
    }

    /// X3: an import replaces `<tag>_a` (run R1, checkpoint C1); the application writes into C1;
    /// the next commit (the file changed, keep 1) drops C1 only when it is untouched, and else
    /// leaves it with a note naming it, at this commit and the next, while it drops the
    /// untouched checkpoint of the run in between.
    @Test(arguments: checkpointWrites) func retentionLeavesACheckpointWrittenAfterItsSwap(write: CheckpointWrite) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "px" + UUID().uuidString.prefix(6).lowercased()
        defer { round2.dropAll(project, a, tag: tag) }
        try round2.failingSecondImport(project, a, tag: tag)
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "pg": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
              "imports": { "ia": { "into": "pg", "database": "\(tag)_a", "from": "data/a.sql", "onExisting": "replace", "owner": "ferry_plain" } } }
            """)
        let first = try project.run("apply", "--auto-approve")
        #expect(first.code == 0, "\(first.all)")
        let c1 = try #require(try checkpoints(project, a, of: "\(tag)_a").first, "the first run keeps its checkpoint")
        if let sql = write.sql { try pg.sql(project, a, c1, sql.replacingOccurrences(of: "{C}", with: c1)) }
        try project.write("plans/data/a.sql", (project.read("plans/data/a.sql") ?? "") + "-- 2\n")
        let second = try project.run("apply", "--auto-approve")
        #expect(second.code == 0, "\(second.all)")
        let after2 = try checkpoints(project, a, of: "\(tag)_a")
        guard write.sql != nil else {
            #expect(after2.count == 1 && !after2.contains(c1), "the untouched checkpoint is dropped: \(after2)")
            #expect(!second.all.contains("was written after its swap"), "\(second.all)")
            return
        }
        #expect(second.all.contains("checkpoint \(c1) on pg was written after its swap") && second.all.contains("it is left as it is"), "a note names it: \(second.all)")
        #expect(after2.count == 2 && after2.contains(c1), "the written checkpoint is left: \(after2)")
        #expect(try pg.sql(project, a, c1, write.check) == write.expected, "the application's write is in it")
        let c2 = after2.first { $0 != c1 }!
        try project.write("plans/data/a.sql", (project.read("plans/data/a.sql") ?? "") + "-- 3\n")
        let third = try project.run("apply", "--auto-approve")
        #expect(third.code == 0 && third.all.contains("checkpoint \(c1) on pg was written after its swap"), "noted again: \(third.all)")
        let after3 = try checkpoints(project, a, of: "\(tag)_a")
        #expect(after3.contains(c1) && !after3.contains(c2) && after3.count == 2, "the untouched one in between is dropped: \(after3)")
        #expect(try pg.sql(project, a, c1, write.check) == write.expected)
    }

    /// X3 for a copy between servers (the checkpoint's token read after the swap) with `ferry
    /// state keep 0`, and for an `append` (its snapshot's token, proven at the swap): a write
    /// into the checkpoint keeps it at the next commit; without one it goes.
    @Test(arguments: [true, false]) func retentionLeavesAWrittenCopyCheckpointWithKeepZero(written: Bool) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A"), b = try pg.server("FERRY_TEST_PG_B")
        let tag = "py" + UUID().uuidString.prefix(6).lowercased()
        defer { round2.dropAll(project, a, tag: tag); round2.dropAll(project, b, tag: tag) }
        try pg.sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\";")
        try pg.sql(project, a, tag, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 500) g;")
        try pg.sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\";")
        try pg.sql(project, b, tag, "CREATE TABLE old (v text); INSERT INTO old VALUES ('before the run');")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(pg.instances(a, b)) },
              "copies": { "mirror": { "from": "src", "to": "dst", "databases": ["\(tag)"], "onExisting": "replace" } } }
            """)
        #expect(try project.run("state", "keep", "0").code == 0)
        let first = try project.run("apply", "--auto-approve")
        #expect(first.code == 0, "\(first.all)")
        // keep 0: the run's own checkpoint goes at its commit when untouched.
        #expect(try checkpoints(project, b, of: tag).isEmpty, "keep 0 drops the untouched checkpoint at once")
        _ = try project.run("state", "keep", "1")
        try pg.sql(project, a, tag, "UPDATE t SET v = 'second' WHERE id = 1;")
        let second = try project.run("apply", "--auto-approve")
        #expect(second.code == 0, "\(second.all)")
        let c1 = try #require(try checkpoints(project, b, of: tag).first)
        if written { try pg.sql(project, b, c1, "DELETE FROM t WHERE id = 7;") }
        #expect(try project.run("state", "keep", "0").code == 0)
        try pg.sql(project, a, tag, "UPDATE t SET v = 'third' WHERE id = 1;")
        let third = try project.run("apply", "--auto-approve")
        #expect(third.code == 0, "\(third.all)")
        if written {
            #expect(third.all.contains("checkpoint \(c1) on dst was written after its swap"), "\(third.all)")
            #expect(try checkpoints(project, b, of: tag) == [c1], "only the written one is left")
            #expect(try pg.sql(project, b, c1, "SELECT count(*) FROM t;") == "499\n")
        } else {
            #expect(try checkpoints(project, b, of: tag).isEmpty, "\(third.all)")
            #expect(!third.all.contains("was written after its swap"), "\(third.all)")
        }
    }

    /// X3 for an `append` (the tester's plan4): R1 appends, the application inserts into R1's
    /// checkpoint, R2 appends again: R1's checkpoint is left with a note, the row kept.
    @Test func retentionLeavesAWrittenAppendCheckpoint() throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "pz" + UUID().uuidString.prefix(6).lowercased()
        defer { round2.dropAll(project, a, tag: tag) }
        try pg.sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\";")
        try pg.sql(project, a, tag, "CREATE TABLE t (id serial PRIMARY KEY, v text); GRANT INSERT, SELECT ON t TO PUBLIC; GRANT USAGE ON SEQUENCE t_id_seq TO PUBLIC; INSERT INTO t (v) VALUES ('user-original');")
        try project.write("plans/data/app.sql", "INSERT INTO t (v) VALUES ('appended');\n")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "pg": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
              "imports": { "ap": { "into": "pg", "database": "\(tag)", "from": "data/app.sql", "onExisting": "append", "owner": "ferry_plain" } } }
            """)
        let first = try project.run("apply", "--auto-approve")
        #expect(first.code == 0, "\(first.all)")
        let c1 = try #require(try checkpoints(project, a, of: tag).first)
        try pg.sql(project, a, c1, "INSERT INTO t (v) VALUES ('precious-in-ckpt');")
        try project.write("plans/data/app.sql", (project.read("plans/data/app.sql") ?? "") + "-- 2\n")
        let second = try project.run("apply", "--auto-approve")
        #expect(second.code == 0 && second.all.contains("checkpoint \(c1) on pg was written after its swap"), "\(second.all)")
        #expect(try pg.sql(project, a, c1, "SELECT count(*) FROM t WHERE v = 'precious-in-ckpt';") == "1\n")
        #expect(try checkpoints(project, a, of: tag).count == 2)
    }

    /// What an application makes in an import's shadow database, as which role.
    struct ShadowWrite: CustomTestStringConvertible, Sendable {
        var name: String
        var sql: String
        var role: String?
        var check: String
        var expected: String
        var testDescription: String { name }
    }

    static let shadowWrites: [ShadowWrite] = [
        ShadowWrite(name: "a table with a row, as Ferry's superuser (the tester's)", sql: "CREATE TABLE app_t (i int); INSERT INTO app_t VALUES (8);",
                    role: nil, check: "SELECT i FROM app_t;", expected: "8\n"),
        ShadowWrite(name: "a function, as the import's own owner role", sql: "CREATE FUNCTION app_f() RETURNS int LANGUAGE sql AS 'SELECT 41';",
                    role: "ferry_plain", check: "SELECT app_f();", expected: "41\n"),
        ShadowWrite(name: "a schema with a sequence, as Ferry's superuser", sql: "CREATE SCHEMA app_s; CREATE SEQUENCE app_s.q;",
                    role: nil, check: "SELECT count(*) FROM pg_class WHERE relname = 'q';", expected: "1\n"),
        ShadowWrite(name: "a large object, as Ferry's superuser", sql: "SELECT lo_from_bytea(777001, 'app'::bytea);",
                    role: nil, check: "SELECT encode(lo_get(777001), 'escape');", expected: "app\n"),
    ]

    /// Waits (up to 60 s) for a database named like `pattern` and returns its name.
    func awaitDatabase(_ project: Project, _ server: PostgresCLITests.Server, like pattern: String) throws -> String? {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let name = try pg.databases(project, server, like: pattern).split(separator: "\n").first { return String(name) }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return nil
    }

    /// Waits (up to 60 s) until a session in `database` runs a `pg_sleep` statement.
    func awaitSleeping(_ project: Project, _ server: PostgresCLITests.Server, in database: String) throws -> Bool {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let sleeping = try pg.sql(project, server, "postgres", "SELECT count(*) FROM pg_stat_activity WHERE datname = '\(database)' AND state = 'active' AND query LIKE '%pg\\_sleep%' AND pid <> pg_backend_pid();")
            if sleeping != "0\n" { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }

    func write(_ write: ShadowWrite, into database: String, _ project: Project, _ a: PostgresCLITests.Server) throws {
        let sql = write.role.map { "SET ROLE \($0); " + write.sql } ?? write.sql
        if write.role != nil { try pg.sql(project, a, "postgres", "GRANT CREATE ON DATABASE \"\(database)\" TO ferry_plain;") }
        try pg.sql(project, a, database, write.role == nil ? sql : "GRANT CREATE ON SCHEMA public TO ferry_plain; " + sql)
    }

    /// X1b: an application makes an object in an import's shadow while the file runs (a
    /// `pg_sleep` in it): the build is refused naming the object, nothing is swapped in, the
    /// target keeps what it held, and the shadow is left with the application's object (exit 4:
    /// the run could not remove it), for `replace` with and without `owner` and for `append`.
    @Test(arguments: shadowWrites) func anObjectMadeInAnImportsShadowDuringItsBuildIsNeitherSwappedInNorDropped(write: ShadowWrite) throws {
        for mode in ["replace-owner", "replace", "append"] where mode == "replace-owner" || write.role == nil {
            let project = try Project()
            let a = try pg.server("FERRY_TEST_PG_A")
            let tag = "pb" + UUID().uuidString.prefix(6).lowercased()
            defer { round2.dropAll(project, a, tag: tag) }
            try pg.sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\";")
            try pg.sql(project, a, tag, "CREATE TABLE old (v text); INSERT INTO old VALUES ('before the run'); GRANT SELECT ON old TO PUBLIC;")
            try project.write("plans/data/slow.sql", "CREATE TABLE a (i int);\nSELECT pg_sleep(4);\nCREATE TABLE b (i int);\nINSERT INTO b VALUES (1);\n")
            let how = mode == "append" ? "\"append\", \"owner\": \"ferry_plain\"" : mode == "replace" ? "\"replace\"" : "\"replace\", \"owner\": \"ferry_plain\""
            try project.write("plans/main.json", """
                { "ferry": 1, "instances": { "pg": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
                  "imports": { "x": { "into": "pg", "database": "\(tag)", "from": "data/slow.sql", "onExisting": \(how) } } }
                """)
            let log = project.root + "/apply.log"
            FileManager.default.createFile(atPath: log, contents: nil)
            let run = try project.start(["apply", "--auto-approve"], stdout: FileHandle(forWritingAtPath: log))
            defer { if run.isRunning { run.signal(SIGKILL) } }
            let shadow = try #require(try awaitDatabase(project, a, like: "\(tag)__ferry_s_%"), "the build made its shadow")
            // Written while the file's statement sleeps in the shadow (seen in pg_stat_activity),
            // not after a fixed pause a loaded machine may outrun or fall short of.
            #expect(try awaitSleeping(project, a, in: shadow), "\(mode): the file's pg_sleep runs in the shadow")
            try self.write(write, into: shadow, project, a)
            run.waitUntilExit()
            let text = round2.output(log)
            #expect(run.terminationStatus == 4, "\(mode): \(text)")
            #expect(!text.contains("as they were") && !text.contains("Apply complete"), "\(mode): \(text)")
            #expect(text.contains("which the import did not make"), "\(mode): \(text)")
            #expect(try pg.sql(project, a, tag, "SELECT v FROM old;") == "before the run\n", "\(mode): the target keeps what it held")
            #expect(try pg.sql(project, a, tag, "SELECT count(*) FROM pg_class WHERE relname IN ('a', 'b', 'app_t', 'q');") == "0\n", "\(mode): nothing was swapped in")
            #expect(try pg.databases(project, a, like: "\(tag)__ferry_s_%") == shadow + "\n", "\(mode): the shadow is left")
            #expect(try pg.sql(project, a, shadow, write.check) == write.expected, "\(mode): the application's object is in it")
        }
    }

    /// X1b after the build: the object is made in the shadow once the build ended (the run
    /// stopped after it), before the verify and the swap: the swap refuses it (nothing renamed),
    /// the shadow is left with it. Without the write the same stop commits.
    @Test(arguments: [true, false]) func anObjectMadeInAnImportsShadowAfterItsBuildIsNotSwappedIn(written: Bool) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "pv" + UUID().uuidString.prefix(6).lowercased()
        defer { round2.dropAll(project, a, tag: tag) }
        try round2.failingSecondImport(project, a, tag: tag)
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "pg": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
              "imports": { "ia": { "into": "pg", "database": "\(tag)_a", "from": "data/a.sql", "onExisting": "replace", "owner": "ferry_plain" } } }
            """)
        let (run, log) = try round2.startStopped(project, at: "after-stepDone#1")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        let shadow = try pg.databases(project, a, like: "\(tag)_a__ferry_s_%").trimmingCharacters(in: .newlines)
        #expect(!shadow.isEmpty, "the build's shadow is there")
        if written { try pg.sql(project, a, shadow, "CREATE TABLE app_late (i int); INSERT INTO app_late VALUES (99);") }
        run.signal(SIGCONT)
        run.waitUntilExit()
        let text = round2.output(log)
        if written {
            #expect(run.terminationStatus == 4 && text.contains("which the import did not make") && !text.contains("as they were"), "\(text)")
            #expect(try pg.sql(project, a, "\(tag)_a", "SELECT v FROM old;") == "before the run\n", "the target keeps what it held")
            #expect(try pg.sql(project, a, shadow, "SELECT i FROM app_late;") == "99\n", "the shadow is left with the application's table")
        } else {
            #expect(run.terminationStatus == 0, "\(text)")
            #expect(try pg.sql(project, a, "\(tag)_a", "SELECT count(*) FROM t;") == "2000\n")
        }
    }

    /// What happens to a committed run's target or checkpoint before `ferry rollback RUN`.
    enum Moved: String, CaseIterable, Sendable { case templateCopy, checkpointDropped, checkpointRenamed }

    /// X2: `ferry rollback RUN` whose swap back cannot pass its checks (the target renamed and
    /// made again from it by `TEMPLATE`: same content, another database; the checkpoint dropped
    /// or renamed) is refused before any change (exit 1, no pending rollback run: plans go on),
    /// says what to do; doing it lets the rollback finish.
    @Test(arguments: Moved.allCases) func rollbackRunThatCannotPassIsRefusedBeforeAnyChange(moved: Moved) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "pt" + UUID().uuidString.prefix(6).lowercased()
        defer { round2.dropAll(project, a, tag: tag) }
        try round2.failingSecondImport(project, a, tag: tag)
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "pg": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
              "imports": { "ia": { "into": "pg", "database": "\(tag)_a", "from": "data/a.sql", "onExisting": "replace", "owner": "ferry_plain" } } }
            """)
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        let runLine = try #require(apply.stdout.split(separator: "\n").first { $0.hasPrefix("Run ") }, "\(apply.all)")
        let runID = String(runLine.split(separator: " ")[1].dropLast())
        let checkpoint = try #require(try checkpoints(project, a, of: "\(tag)_a").first)
        switch moved {
        case .templateCopy:
            try pg.sql(project, a, "postgres", "ALTER DATABASE \"\(tag)_a\" RENAME TO \"\(tag)_tmpl\";")
            try pg.sql(project, a, "postgres", "CREATE DATABASE \"\(tag)_a\" TEMPLATE \"\(tag)_tmpl\";")
        case .checkpointDropped:
            try pg.sql(project, a, "postgres", "DROP DATABASE \"\(checkpoint)\" WITH (FORCE);")
        case .checkpointRenamed:
            try pg.sql(project, a, "postgres", "ALTER DATABASE \"\(checkpoint)\" RENAME TO \"\(tag)_kept\";")
        }
        let before = try pg.databases(project, a, like: "\(tag)%")
        let refused = try project.run("rollback", runID)
        #expect(refused.code == 1 && refused.all.contains("cannot be rolled back now; nothing was changed"), "\(refused.all)")
        #expect(!refused.all.contains("incomplete"), "\(refused.all)")
        switch moved {
        case .templateCopy: #expect(refused.all.contains("is not the database the run swapped in") && refused.all.contains(checkpoint), "\(refused.all)")
        case .checkpointDropped: #expect(refused.all.contains("the checkpoint \(checkpoint) of \(tag)_a is gone"), "\(refused.all)")
        case .checkpointRenamed: #expect(refused.all.contains("renamed to \(tag)_kept"), "\(refused.all)")
        }
        #expect(try pg.databases(project, a, like: "\(tag)%") == before, "nothing was renamed or dropped")
        let plan = try project.run("plan")
        #expect(plan.code == 0 || plan.code == 2, "plans are not refused: \(plan.all)")
        #expect(!plan.all.contains("RunInterrupted"), "\(plan.all)")
        let recover = try project.run("recover")
        #expect(recover.code == 0, "nothing pending: \(recover.all)")
        // Doing what the refusal says lets the rollback finish.
        switch moved {
        case .templateCopy:
            try pg.sql(project, a, "postgres", "ALTER DATABASE \"\(tag)_a\" RENAME TO \"\(tag)_copy\";")
        case .checkpointRenamed:
            try pg.sql(project, a, "postgres", "ALTER DATABASE \"\(tag)_kept\" RENAME TO \"\(checkpoint)\";")
        case .checkpointDropped:
            return
        }
        let rollback = try project.run("rollback", runID)
        #expect(rollback.code == 0 && rollback.all.contains("restored pg/\(tag)_a"), "\(rollback.all)")
        #expect(try pg.sql(project, a, "\(tag)_a", "SELECT v FROM old;") == "before the run\n")
    }
}
