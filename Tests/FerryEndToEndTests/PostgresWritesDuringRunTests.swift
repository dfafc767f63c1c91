import Foundation
import Testing

/// Applications that write into a PostgreSQL target while a run goes on (issue 14, "Ferry
/// touches only what it can prove it created"; fresh testers' F5 and F7): a rollback leaves a
/// target written after its swap as it is (exit 4, the checkpoint beside it), restores exactly
/// one nobody wrote into (the content token does not depend on the database's name), and an
/// append is not swapped over a target written since its snapshot.
@Suite(.serialized) struct PostgresWritesDuringRunTests {
    let pg = PostgresCLITests()

    /// What an application does to the swapped-in target, and how to see it afterwards
    /// (psql's output in the target once the run ended).
    struct Write: CustomTestStringConvertible, Sendable {
        var name: String
        var sql: String
        var check: String
        var expected: String
        var testDescription: String { name }
    }

    static let writes: [Write] = [
        Write(name: "an inserted row", sql: "INSERT INTO t VALUES (5000, 'app-after-swap');",
              check: "SELECT v FROM t WHERE id = 5000;", expected: "app-after-swap\n"),
        Write(name: "an update that keeps the row count", sql: "UPDATE t SET v = 'app-updated' WHERE id = 1;",
              check: "SELECT v FROM t WHERE id = 1;", expected: "app-updated\n"),
        Write(name: "a deleted row", sql: "DELETE FROM t WHERE id = 2;",
              check: "SELECT count(*) FROM t WHERE id = 2;", expected: "0\n"),
        Write(name: "a row in another table than the import made", sql: "CREATE TABLE app_log (line text); INSERT INTO app_log VALUES ('hello');",
              check: "SELECT line FROM app_log;", expected: "hello\n"),
        Write(name: "a column added (DDL, no row changed)", sql: "ALTER TABLE t ADD COLUMN extra int;",
              check: "SELECT count(*) FROM information_schema.columns WHERE table_name = 't' AND column_name = 'extra';", expected: "1\n"),
        Write(name: "a comment changed", sql: "COMMENT ON TABLE t IS 'the application''s note';",
              check: "SELECT obj_description('t'::regclass, 'pg_class');", expected: "the application's note\n"),
        Write(name: "a large object's bytes", sql: "SELECT lo_put(424242, 0, '\\x5858'::bytea);",
              check: "SELECT encode(lo_get(424242), 'escape');", expected: "XXrge object\n"),
        // A fresh tester's F4: DDL that changes no row and no definition text, each alone.
        Write(name: "a column's statistics target", sql: "ALTER TABLE t ALTER COLUMN v SET STATISTICS 500;",
              check: "SELECT attstattarget FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'v';", expected: "500\n"),
        Write(name: "a column's storage", sql: "ALTER TABLE t ALTER COLUMN v SET STORAGE EXTERNAL;",
              check: "SELECT attstorage FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'v';", expected: "e\n"),
        Write(name: "the index a table is clustered on", sql: "ALTER TABLE t CLUSTER ON t_pkey;",
              check: "SELECT indisclustered FROM pg_index WHERE indexrelid = 't_pkey'::regclass;", expected: "t\n"),
        Write(name: "a table made unlogged", sql: "ALTER TABLE t SET UNLOGGED;",
              check: "SELECT relpersistence FROM pg_class WHERE oid = 't'::regclass;", expected: "u\n"),
        Write(name: "extended statistics created", sql: "CREATE STATISTICS t_dep ON id, v FROM t;",
              check: "SELECT count(*) FROM pg_statistic_ext WHERE stxname = 't_dep';", expected: "1\n"),
    ]

    /// Two imports into server A: `ia` replaces `<tag>_a` (which holds `old` before the run),
    /// then `ib` fails at its last line, so the run rolls back after `ia`'s swap.
    func failingSecondImport(_ project: Project, _ a: PostgresCLITests.Server, tag: String) throws {
        try pg.sql(project, a, "postgres", """
            DROP DATABASE IF EXISTS "\(tag)_a" WITH (FORCE); DROP DATABASE IF EXISTS "\(tag)_b" WITH (FORCE);
            CREATE DATABASE "\(tag)_a";
            """)
        try pg.sql(project, a, "\(tag)_a", "CREATE TABLE old (v text); INSERT INTO old VALUES ('before the run');")
        try project.write("plans/data/a.sql", """
            CREATE TABLE t (id int PRIMARY KEY, v text);
            INSERT INTO t SELECT g, 'from-file ' || g FROM generate_series(1, 2000) g;
            SELECT lo_from_bytea(424242, 'large object'::bytea);
            """)
        try project.write("plans/data/b.sql", "CREATE TABLE x (id int);\nINSERT INTO nonexistent VALUES (1);\n")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "pg": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
              "imports": { "ia": { "into": "pg", "database": "\(tag)_a", "from": "data/a.sql", "onExisting": "replace", "owner": "ferry_plain" },
                           "ib": { "into": "pg", "database": "\(tag)_b", "from": "data/b.sql", "onExisting": "replace", "owner": "ferry_plain", "after": ["import.ia"] } } }
            """)
    }

    func dropAll(_ project: Project, _ server: PostgresCLITests.Server, tag: String) {
        guard let names = try? pg.databases(project, server, like: "\(tag)%") else { return }
        for name in names.split(separator: "\n") {
            _ = try? pg.sql(project, server, "postgres", "DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE);")
        }
    }

    /// Starts `ferry apply` stopped at `point`; returns the process and the file its output goes to.
    func startStopped(_ project: Project, at point: String) throws -> (Process, String) {
        let log = project.root + "/apply-\(UUID().uuidString.prefix(6)).log"
        FileManager.default.createFile(atPath: log, contents: nil)
        project.environment["FERRY_TEST_STOP_AT"] = point
        let run = try project.start(["apply", "--auto-approve"], stdout: FileHandle(forWritingAtPath: log))
        project.environment["FERRY_TEST_STOP_AT"] = nil
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, !LockTimeoutTests.isStopped(run.processIdentifier), run.isRunning { Thread.sleep(forTimeInterval: 0.05) }
        #expect(LockTimeoutTests.isStopped(run.processIdentifier), "the apply stops at \(point): \(output(log))")
        return (run, log)
    }

    func output(_ log: String) -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// What is left kept: the checkpoint beside the target holds what the target held before
    /// the run; status lists the target as left as it is; a second recover finds nothing; plan
    /// is not blocked.
    func expectKept(_ project: Project, _ a: PostgresCLITests.Server, tag: String, write: Write) throws {
        #expect(try pg.sql(project, a, "\(tag)_a", write.check) == write.expected, "the application's write is still there")
        let checkpoints = try pg.databases(project, a, like: "\(tag)_a__ferry_c_%").split(separator: "\n")
        #expect(checkpoints.count == 1, "the checkpoint is kept beside the target")
        if let checkpoint = checkpoints.first {
            try pg.sql(project, a, "postgres", "ALTER DATABASE \"\(checkpoint)\" WITH ALLOW_CONNECTIONS true;")
            #expect(try pg.sql(project, a, String(checkpoint), "SELECT v FROM old;") == "before the run\n", "the checkpoint holds the data before the run")
        }
        #expect(try pg.databases(project, a, like: "\(tag)_a__ferry_s_%") == "", "no shadow is left")
        let status = try project.run("status")
        #expect(status.stdout.contains("Left as they are") && status.stdout.contains("pg/\(tag)_a"), "\(status.all)")
        let again = try project.run("recover")
        #expect(again.code == 0 && again.stdout.contains("Nothing to recover"), "\(again.all)")
        let plan = try project.run("plan")
        #expect(plan.code == 0, "plan is not blocked: \(plan.all)")
    }

    /// (a) A later step fails; the in-run rollback finds the first target written after its swap
    /// and leaves it as it is (exit 4), whatever the write was.
    @Test(arguments: writes) func inRunRollbackKeepsATargetWrittenAfterItsSwap(write: Write) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "pw" + UUID().uuidString.prefix(6).lowercased()
        defer { dropAll(project, a, tag: tag) }
        try failingSecondImport(project, a, tag: tag)
        let (run, log) = try startStopped(project, at: "after-swapDone#1")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        try pg.sql(project, a, "\(tag)_a", write.sql)
        run.signal(SIGCONT)
        run.waitUntilExit()
        let text = output(log)
        #expect(run.terminationStatus == 4, "\(text)")
        #expect(!text.contains("as they were"), "\(text)")
        #expect(text.contains("\(tag)_a was written after the run swapped it in"), "\(text)")
        try expectKept(project, a, tag: tag, write: write)
    }

    /// What an application does to the swapped-in target's database itself (a fresh tester's F3
    /// and variants) before the in-run rollback.
    enum Moved: String, CaseIterable, Sendable { case renamed, dropped, renamedAndReplaced, checkpointRenamed }

    /// F3: a target renamed or dropped after its swap frees its name: the rollback restores the
    /// checkpoint into it ("restored" is then true: the old database is there), and leaves the
    /// renamed one where the application put it. A database made under the name is not
    /// renamed away (left as it is, exit 4); a renamed checkpoint is not restored from, and
    /// the run says where it is.
    @Test(arguments: Moved.allCases) func inRunRollbackAfterTheTargetOrItsCheckpointWasMoved(moved: Moved) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "pm" + UUID().uuidString.prefix(6).lowercased()
        defer { dropAll(project, a, tag: tag) }
        try failingSecondImport(project, a, tag: tag)
        let (run, log) = try startStopped(project, at: "after-swapDone#1")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        let checkpoint = try pg.databases(project, a, like: "\(tag)_a__ferry_c_%").trimmingCharacters(in: .newlines)
        #expect(!checkpoint.isEmpty)
        switch moved {
        case .renamed:
            try pg.sql(project, a, "postgres", "ALTER DATABASE \"\(tag)_a\" RENAME TO \"\(tag)_app\";")
        case .dropped:
            try pg.sql(project, a, "postgres", "DROP DATABASE \"\(tag)_a\" WITH (FORCE);")
        case .renamedAndReplaced:
            try pg.sql(project, a, "postgres", "ALTER DATABASE \"\(tag)_a\" RENAME TO \"\(tag)_app\"; CREATE DATABASE \"\(tag)_a\";")
            try pg.sql(project, a, "\(tag)_a", "CREATE TABLE mine (v text); INSERT INTO mine VALUES ('the application''s');")
        case .checkpointRenamed:
            try pg.sql(project, a, "postgres", "ALTER DATABASE \"\(checkpoint)\" RENAME TO \"\(tag)_old\";")
        }
        run.signal(SIGCONT)
        run.waitUntilExit()
        let text = output(log)
        switch moved {
        case .renamed, .dropped:
            #expect(run.terminationStatus == 3, "\(text)")
            #expect(text.contains("restored pg/\(tag)_a from its checkpoint") && text.contains("as they were"), "\(text)")
            #expect(try pg.sql(project, a, "\(tag)_a", "SELECT v FROM old;") == "before the run\n", "the old database is back under its name")
            let left = moved == .renamed ? "\(tag)_a\n\(tag)_app\n" : "\(tag)_a\n"
            #expect(try pg.databases(project, a, like: "\(tag)%") == left, "nothing of the run is left; the renamed database stays")
            if moved == .renamed {
                #expect(try pg.sql(project, a, "\(tag)_app", "SELECT count(*) FROM t;") == "2000\n", "the renamed database is left as it is")
                // ... and named (fresh tester w5 X6).
                #expect(text.contains("pg/\(tag)_a: the database the run swapped in was renamed to \(tag)_app after the swap"), "\(text)")
            } else {
                #expect(!text.contains("was renamed to"), "\(text)")
            }
            let status = try project.run("status")
            #expect(!status.stdout.contains("Left as they are"), "\(status.all)")
            let again = try project.run("recover")
            #expect(again.code == 0 && again.stdout.contains("Nothing to recover"), "\(again.all)")
        case .renamedAndReplaced:
            #expect(run.terminationStatus == 4 && !text.contains("as they were") && !text.contains("restored pg/\(tag)_a"), "\(text)")
            #expect(try pg.sql(project, a, "\(tag)_a", "SELECT v FROM mine;") == "the application's\n", "the new database keeps the name")
            #expect(try pg.sql(project, a, "\(tag)_app", "SELECT count(*) FROM t;") == "2000\n")
            try pg.sql(project, a, "postgres", "ALTER DATABASE \"\(checkpoint)\" WITH ALLOW_CONNECTIONS true;")
            #expect(try pg.sql(project, a, checkpoint, "SELECT v FROM old;") == "before the run\n", "the checkpoint stays")
            let status = try project.run("status")
            #expect(status.stdout.contains("Left as they are") && status.stdout.contains(checkpoint), "\(status.all)")
        case .checkpointRenamed:
            #expect(run.terminationStatus == 4 && !text.contains("as they were") && !text.contains("restored pg/\(tag)_a"), "\(text)")
            #expect(text.contains("renamed to \(tag)_old"), "the run says where the old data is: \(text)")
            #expect(try pg.sql(project, a, "\(tag)_a", "SELECT count(*) FROM t;") == "2000\n", "the target is left as it is")
            try pg.sql(project, a, "postgres", "ALTER DATABASE \"\(tag)_old\" WITH ALLOW_CONNECTIONS true;")
            #expect(try pg.sql(project, a, "\(tag)_old", "SELECT v FROM old;") == "before the run\n", "the renamed checkpoint is left as it is")
        }
    }

    /// (b) The same through `kill -9` after the swap and `ferry recover`.
    @Test func recoverKeepsATargetWrittenAfterItsSwap() throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "pr" + UUID().uuidString.prefix(6).lowercased()
        defer { dropAll(project, a, tag: tag) }
        try failingSecondImport(project, a, tag: tag)
        let (run, _) = try startStopped(project, at: "after-swapDone#1")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        let write = Self.writes[1]
        try pg.sql(project, a, "\(tag)_a", write.sql)
        run.signal(SIGKILL)
        run.waitUntilExit()
        let refused = try project.run("plan")
        #expect(refused.code == 1 && refused.stderr.contains("RunInterrupted"), "\(refused.all)")
        let recover = try project.run("recover")
        #expect(recover.code == 4, "\(recover.all)")
        #expect(!recover.stdout.contains("as they were"), "\(recover.all)")
        try expectKept(project, a, tag: tag, write: write)
    }

    /// (c) Nobody writes after the swap: the in-run rollback restores the target exactly (the
    /// token the verify read of the shadow is the swapped-in target's: no false "kept").
    @Test func inRunRollbackWithoutWritesRestoresExactly() throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "pn" + UUID().uuidString.prefix(6).lowercased()
        defer { dropAll(project, a, tag: tag) }
        try failingSecondImport(project, a, tag: tag)
        let (run, log) = try startStopped(project, at: "after-swapDone#1")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        run.signal(SIGCONT)
        run.waitUntilExit()
        let text = output(log)
        #expect(run.terminationStatus == 3 && text.contains("as they were"), "\(text)")
        #expect(try pg.sql(project, a, "\(tag)_a", "SELECT v FROM old;") == "before the run\n")
        #expect(try pg.databases(project, a, like: "\(tag)%") == "\(tag)_a\n", "nothing of the run is left")
        let status = try project.run("status")
        #expect(!status.stdout.contains("Left as they are"), "\(status.all)")
    }

    /// (c) through `kill -9` and `ferry recover`: restored, exit 0.
    @Test func recoverWithoutWritesRestoresExactly() throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "pq" + UUID().uuidString.prefix(6).lowercased()
        defer { dropAll(project, a, tag: tag) }
        try failingSecondImport(project, a, tag: tag)
        let (run, _) = try startStopped(project, at: "after-swapDone#1")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        run.signal(SIGKILL)
        run.waitUntilExit()
        let recover = try project.run("recover")
        #expect(recover.code == 0 && recover.stdout.contains("as they were"), "\(recover.all)")
        #expect(try pg.sql(project, a, "\(tag)_a", "SELECT v FROM old;") == "before the run\n")
        #expect(try pg.databases(project, a, like: "\(tag)%") == "\(tag)_a\n", "nothing of the run is left")
    }

    /// (c) for a copy between the two servers (its verify's sums make the token): a rollback
    /// with no write restores it, one with a write keeps it.
    @Test(arguments: [false, true]) func copyRollbackTellsAWrittenTargetFromAnUntouchedOne(written: Bool) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A"), b = try pg.server("FERRY_TEST_PG_B")
        let tag = "pc" + UUID().uuidString.prefix(6).lowercased()
        defer { dropAll(project, a, tag: tag); dropAll(project, b, tag: tag) }
        try pg.seed(project, a, tag)
        try pg.sql(project, a, tag, "CREATE TYPE pair AS (x int, y text); CREATE TABLE composite (p pair, g int GENERATED ALWAYS AS (1) STORED); INSERT INTO composite VALUES (ROW(1, 'one'));")
        try pg.sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\";")
        try pg.sql(project, b, tag, "CREATE TABLE old (v text); INSERT INTO old VALUES ('before the run');")
        try project.write("plans/data/b.sql", "CREATE TABLE x (id int);\nINSERT INTO nonexistent VALUES (1);\n")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(pg.instances(a, b)) },
              "copies": { "mirror": { "from": "src", "to": "dst", "databases": ["\(tag)"], "onExisting": "replace" } },
              "imports": { "ib": { "into": "dst", "database": "\(tag)_b", "from": "data/b.sql", "owner": "ferry_plain", "after": ["copy.mirror"] } } }
            """)
        let (run, log) = try startStopped(project, at: "after-swapDone#1")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        if written { try pg.sql(project, b, tag, "UPDATE notes SET body = 'app' WHERE id = 7;") }
        run.signal(SIGCONT)
        run.waitUntilExit()
        let text = output(log)
        if written {
            #expect(run.terminationStatus == 4 && !text.contains("as they were"), "\(text)")
            #expect(try pg.sql(project, b, tag, "SELECT body FROM notes WHERE id = 7;") == "app\n")
        } else {
            #expect(run.terminationStatus == 3 && text.contains("as they were"), "\(text)")
            #expect(try pg.sql(project, b, tag, "SELECT v FROM old;") == "before the run\n")
            #expect(try pg.databases(project, b, like: "\(tag)%") == "\(tag)\n", "nothing of the run is left")
        }
    }

    /// (c) with `users: "sync"`: the sync gives owners and grants in the target after its swap;
    /// those are Ferry's own changes, so a rollback with no write still restores exactly.
    @Test func copyWithUsersSyncRollbackWithoutWritesRestoresExactly() throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A"), b = try pg.server("FERRY_TEST_PG_B")
        let tag = "pu" + UUID().uuidString.prefix(6).lowercased()
        defer {
            dropAll(project, a, tag: tag); dropAll(project, b, tag: tag)
            _ = try? pg.sql(project, a, "postgres", "DROP ROLE IF EXISTS \(tag)_app;")
            _ = try? pg.sql(project, b, "postgres", "DROP ROLE IF EXISTS \(tag)_app;")
        }
        try pg.seed(project, a, tag)
        try pg.sql(project, a, "postgres", "CREATE ROLE \(tag)_app NOLOGIN;")
        try pg.sql(project, a, tag, "GRANT SELECT ON items TO \(tag)_app; ALTER TABLE more OWNER TO \(tag)_app;")
        try pg.sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\";")
        try pg.sql(project, b, tag, "CREATE TABLE old (v text); INSERT INTO old VALUES ('before the run');")
        try project.write("plans/data/b.sql", "CREATE TABLE x (id int);\nINSERT INTO nonexistent VALUES (1);\n")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(pg.instances(a, b)) },
              "copies": { "mirror": { "from": "src", "to": "dst", "databases": ["\(tag)"], "onExisting": "replace", "users": "sync" } },
              "imports": { "ib": { "into": "dst", "database": "\(tag)_b", "from": "data/b.sql", "owner": "ferry_plain", "after": ["copy.mirror"] } } }
            """)
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 3 && apply.stdout.contains("as they were"), "\(apply.all)")
        #expect(apply.stdout.contains("sync users"), "the users sync ran before the failing step: \(apply.all)")
        #expect(try pg.sql(project, b, tag, "SELECT v FROM old;") == "before the run\n")
        #expect(try pg.databases(project, b, like: "\(tag)%") == "\(tag)\n", "nothing of the run is left")
    }

    /// (d) An append whose target an application writes into after the snapshot began is not
    /// swapped in (exit 3, the write is in the target, nothing lost); without the write the
    /// append goes through and keeps what the target held.
    @Test(arguments: [true, false]) func appendIsNotSwappedOverATargetWrittenSinceItsSnapshot(written: Bool) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "pa" + UUID().uuidString.prefix(6).lowercased()
        defer { dropAll(project, a, tag: tag) }
        try pg.sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\";")
        try pg.sql(project, a, tag, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'user-original');")
        try project.write("plans/data/n.sql", "CREATE TABLE n (id int);\nINSERT INTO n VALUES (1);\n")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "pg": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
              "imports": { "ap": { "into": "pg", "database": "\(tag)", "from": "data/n.sql", "onExisting": "append", "owner": "ferry_plain" } } }
            """)
        // Step 1 is the append's snapshot (its token is read before the clone), step 2 its build.
        let (run, log) = try startStopped(project, at: "after-stepDone#1")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        if written { try pg.sql(project, a, tag, "INSERT INTO t VALUES (2, 'app-during-run');") }
        run.signal(SIGCONT)
        run.waitUntilExit()
        let text = output(log)
        if written {
            #expect(run.terminationStatus == 3 && text.contains("was written during the run"), "\(text)")
            #expect(try pg.sql(project, a, tag, "SELECT id FROM t ORDER BY id;") == "1\n2\n", "the write is in the target")
            #expect(try pg.sql(project, a, tag, "SELECT count(*) FROM pg_class WHERE relname = 'n';") == "0\n", "the append was not swapped in")
        } else {
            #expect(run.terminationStatus == 0, "\(text)")
            #expect(try pg.sql(project, a, tag, "SELECT id FROM t ORDER BY id;") == "1\n")
            #expect(try pg.sql(project, a, tag, "SELECT count(*) FROM n;") == "1\n", "the append is in")
        }
        #expect(try pg.databases(project, a, like: "\(tag)__ferry_s_%") == "", "no shadow is left")
    }

    /// F5: an `append` whose file writes into a table the import's `owner` owns is refused by
    /// PostgreSQL (the file runs as Ferry's throwaway role, which owns only the clone and what
    /// the file makes); the error's hint names that role and says what to grant. Once PUBLIC
    /// may insert, the same append goes through. Without `owner` the hint says the file does
    /// not run as Ferry's user either.
    @Test(arguments: [true, false]) func anAppendRefusedForWantOfARightNamesTheRoleItRunsAs(owned: Bool) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "pf" + UUID().uuidString.prefix(6).lowercased()
        defer { dropAll(project, a, tag: tag) }
        try pg.sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\" OWNER ferry_plain;")
        try pg.sql(project, a, tag, "CREATE TABLE t (v text); ALTER TABLE t OWNER TO ferry_plain; INSERT INTO t VALUES ('before');")
        try project.write("plans/data/app.sql", "INSERT INTO t (v) VALUES ('appended');\n")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "pg": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
              "imports": { "ap": { "into": "pg", "database": "\(tag)", "from": "data/app.sql", "onExisting": "append"\(owned ? ", \"owner\": \"ferry_plain\"" : "") } } }
            """)
        let refused = try project.run("apply", "--auto-approve")
        #expect(refused.code == 3 && refused.all.contains("permission denied for table t"), "\(refused.all)")
        #expect(refused.all.contains("The file runs as Ferry's throwaway role ferry_i_"), "\(refused.all)")
        #expect(refused.all.contains(owned ? "not as the import's owner ferry_plain" : "not as Ferry's user"), "\(refused.all)")
        #expect(try pg.sql(project, a, tag, "SELECT v FROM t ORDER BY v;") == "before\n", "the target was not changed")
        try pg.sql(project, a, tag, "GRANT INSERT ON t TO PUBLIC;")
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        #expect(try pg.sql(project, a, tag, "SELECT v FROM t ORDER BY v;") == "appended\nbefore\n")
    }

    /// The check-to-rename gap through the CLI: `ferry rollback RUN` of a committed replace is
    /// stopped right after it checked the target's token (its `stepStarted` record, the last
    /// thing before the swap back); an application connects, inserts and leaves. The swap back
    /// sees it (nothing renamed, the row stays), and `ferry recover` then leaves the target as
    /// it is. Without an application the same stop restores the target (no false refusal).
    @Test(arguments: [true, false]) func rollbackRunSeesAWriteBetweenItsCheckAndItsRename(written: Bool) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "pg" + UUID().uuidString.prefix(6).lowercased()
        defer { dropAll(project, a, tag: tag) }
        try failingSecondImport(project, a, tag: tag)
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "pg": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
              "imports": { "ia": { "into": "pg", "database": "\(tag)_a", "from": "data/a.sql", "onExisting": "replace", "owner": "ferry_plain" } } }
            """)
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        let runLine = try #require(apply.stdout.split(separator: "\n").first { $0.hasPrefix("Run ") }, "\(apply.all)")
        let runID = String(runLine.split(separator: " ")[1].dropLast())
        let log = project.root + "/rollback.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        // The rollback's check is the last thing before its step's `stepStarted` record (the
        // expected token is in its begin record).
        project.environment["FERRY_TEST_STOP_AT"] = "after-stepStarted#1"
        let rollback = try project.start(["rollback", runID], stdout: FileHandle(forWritingAtPath: log))
        project.environment["FERRY_TEST_STOP_AT"] = nil
        defer { if rollback.isRunning { rollback.signal(SIGKILL) } }
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, !LockTimeoutTests.isStopped(rollback.processIdentifier), rollback.isRunning { Thread.sleep(forTimeInterval: 0.05) }
        #expect(LockTimeoutTests.isStopped(rollback.processIdentifier), "the rollback stops after its check: \(output(log))")
        if written { try pg.sql(project, a, "\(tag)_a", "INSERT INTO t VALUES (5000, 'app-in-the-gap');") }
        rollback.signal(SIGCONT)
        rollback.waitUntilExit()
        let text = output(log)
        if written {
            #expect(rollback.terminationStatus != 0 && text.contains("was written after Ferry checked it") && !text.contains("restored pg/"), "\(text)")
            #expect(try pg.sql(project, a, "\(tag)_a", "SELECT v FROM t WHERE id = 5000;") == "app-in-the-gap\n", "the write is in the target")
            let recover = try project.run("recover")
            #expect(recover.code == 4 && recover.all.contains("was written after this rollback began"), "\(recover.all)")
            #expect(try pg.sql(project, a, "\(tag)_a", "SELECT v FROM t WHERE id = 5000;") == "app-in-the-gap\n", "still there after recover")
            #expect(try pg.databases(project, a, like: "\(tag)_a__ferry_c_%") != "", "the checkpoint stays")
        } else {
            #expect(rollback.terminationStatus == 0 && text.contains("restored pg/\(tag)_a"), "\(text)")
            #expect(try pg.sql(project, a, "\(tag)_a", "SELECT v FROM old;") == "before the run\n")
        }
    }
}
