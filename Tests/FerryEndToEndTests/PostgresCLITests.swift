import Foundation
import Testing

/// `ferry` against the two PostgreSQL test clusters (scripts/postgres-servers.sh through
/// scripts/test.sh). A missing server fails these tests.
@Suite(.serialized) struct PostgresCLITests {
    struct Server {
        var url: String
        var host: String
        var port: String
    }

    func server(_ variable: String) throws -> Server {
        let env = ProcessInfo.processInfo.environment
        let url = try #require(env[variable], "\(variable) is not set: run the tests through scripts/test.sh")
        _ = try #require(env["FERRY_TEST_PG_PASSWORD"], "FERRY_TEST_PG_PASSWORD is not set: run scripts/test.sh")
        let components = try #require(URLComponents(string: url))
        return Server(url: url, host: components.host ?? "127.0.0.1", port: String(components.port ?? 5432))
    }

    /// Runs SQL with psql in `database`; returns its unaligned, tuples-only output.
    @discardableResult
    func sql(_ project: Project, _ server: Server, _ database: String, _ statements: String, expectSuccess: Bool = true) throws -> String {
        let file = project.root + "/setup-\(UUID().uuidString.prefix(6)).sql"
        try statements.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try project.runShell("PGPASSWORD=\"$FERRY_TEST_PG_PASSWORD\" psql -X -q -A -t -v ON_ERROR_STOP=1 -h \(server.host) -p \(server.port) -U ferry -d '\(database)' -f '\(file)'")
        if expectSuccess { #expect(result.code == 0, "\(result.all)") }
        return result.stdout
    }

    func databases(_ project: Project, _ server: Server, like pattern: String) throws -> String {
        try sql(project, server, "postgres", "SELECT datname FROM pg_database WHERE datname LIKE '\(pattern)' ORDER BY 1;")
    }

    func instances(_ a: Server, _ b: Server) -> String {
        """
        "src": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } },
        "dst": { "engine": "postgres", "url": "\(b.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } }
        """
    }

    func seed(_ project: Project, _ a: Server, _ database: String) throws {
        try sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(database)\" WITH (FORCE); CREATE DATABASE \"\(database)\";")
        try sql(project, a, database, """
            CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL, payload bytea, tags text[]);
            INSERT INTO items (name, payload, tags) SELECT 'item ' || g, decode(repeat('00ab', g % 40), 'hex'), ARRAY['t' || (g % 5)] FROM generate_series(1, 20000) g;
            CREATE TABLE notes (id int PRIMARY KEY, item_id bigint REFERENCES items(id), body text);
            INSERT INTO notes SELECT g, g, repeat('n', g % 100) FROM generate_series(1, 5000) g;
            CREATE TABLE more (k int); INSERT INTO more SELECT generate_series(1, 3000);
            """)
    }

    /// A copy with a rename through plan and apply: every table equal on both sides, a second
    /// plan finds nothing to do, and the run leaves no shadow or claim.
    @Test func copyWithARenameThenNoChanges() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_PG_A"), b = try server("FERRY_TEST_PG_B")
        let tag = "pc" + UUID().uuidString.prefix(6).lowercased()
        try seed(project, a, tag)
        try sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)_copy\" WITH (FORCE);")
        defer {
            _ = try? sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
            _ = try? sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)_copy\" WITH (FORCE);")
        }
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(instances(a, b)) },
              "copies": { "mirror": { "from": "src", "to": "dst", "databases": { "\(tag)": "\(tag)_copy" }, "onExisting": "replace" } } }
            """)
        let plan = try project.run("plan")
        #expect(plan.code == 0, "\(plan.all)")
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        let dump = "SELECT md5(string_agg(x, ',' ORDER BY x)) FROM (SELECT ROW(i.*)::text AS x FROM items i UNION ALL SELECT ROW(n.*)::text FROM notes n UNION ALL SELECT ROW(m.*)::text FROM more m) s;"
        #expect(try sql(project, b, "\(tag)_copy", dump) == sql(project, a, tag, dump))
        let again = try project.run("plan")
        #expect(again.code == 0 && again.stdout.contains("No changes"), "\(again.all)")
        #expect(try databases(project, b, like: "\(tag)%__ferry_%") == "")
        #expect(try sql(project, b, "\(tag)_copy", "SELECT nextval('items_id_seq');") == "20001\n", "sequences carry the source's values")
        let drifted = try project.run("plan")
        #expect(drifted.stdout.contains("target drifted"), "a sequence moved on the target is a change: \(drifted.all)")
        #expect(try project.run("apply", "--auto-approve").code == 0)
        #expect(try project.run("plan").stdout.contains("No changes"))
        // A change of one row at the source is seen.
        try sql(project, a, tag, "UPDATE notes SET body = 'changed' WHERE id = 4242;")
        let changed = try project.run("plan")
        #expect(changed.code == 0 && changed.stdout.contains("source changed"), "\(changed.all)")
    }

    /// The `tmp-` files and directories (`ScratchFiles`) in the runs of `project`'s state.
    func scratchLeft(_ project: Project) -> [String] {
        let runs = project.root + "/.ferry/runs"
        return ((try? FileManager.default.contentsOfDirectory(atPath: runs)) ?? []).flatMap { run in
            ((try? FileManager.default.contentsOfDirectory(atPath: "\(runs)/\(run)")) ?? []).filter { $0.hasPrefix("tmp-") }
        }
    }

    /// `kill -9` of ferry in the middle of the copy (after its first table): plan refuses with
    /// RunInterrupted, `ferry recover` removes the shadow, and the target is as before. The
    /// source's schema dumped for the copy lies in the run's own directory, never in the
    /// system's temporary directory, and recover removes it (fresh tester round 29, F5).
    @Test func killedMidCopyThenRecover() throws {
        let (project, a, b, tag) = try mirrorOverOldTarget("pk")
        defer { dropDatabases(of: tag, project, a, b) }
        project.environment["FERRY_TEST_KILL_AT"] = "change:postgres.tableCopied"
        let killed = try project.run("apply", "--auto-approve")
        project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code == 137 || killed.code == 9, "\(killed.all)")
        #expect(try databases(project, b, like: "\(tag)__ferry_s_%") != "", "the shadow was being filled")
        let left = scratchLeft(project)
        #expect(left.contains { $0.hasPrefix("tmp-pg-pre-data-") }, "the schema dump lies in the run's directory: \(left)")
        let refused = try project.run("plan")
        #expect(refused.code == 1 && refused.stderr.contains("RunInterrupted"), "\(refused.all)")
        let recover = try project.run("recover")
        #expect(recover.code == 0, "\(recover.all)")
        #expect(scratchLeft(project) == [], "recover removes the killed run's scratch files")
        #expect(try databases(project, b, like: "\(tag)%") == "\(tag)\n", "only the user's database is left")
        #expect(try sql(project, b, tag, "SELECT v FROM old;") == "before\n")
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        #expect(try sql(project, b, tag, "SELECT count(*) FROM items;") == "20000\n")
    }

    /// A plain-format import with `\connect other` is refused at plan time with file and line;
    /// apply changes nothing, `other` included. A clean pg_dump file imports.
    @Test func importWithConnectIsRefusedAndOtherIsUntouched() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_PG_A"), b = try server("FERRY_TEST_PG_B")
        let tag = "pi" + UUID().uuidString.prefix(6).lowercased()
        try sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)_other\" WITH (FORCE); CREATE DATABASE \"\(tag)_other\"; DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
        try sql(project, b, "\(tag)_other", "CREATE TABLE precious (v text); INSERT INTO precious VALUES ('keep');")
        try seed(project, a, "\(tag)_src")
        defer {
            _ = try? sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)_src\" WITH (FORCE);")
            _ = try? sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)_other\" WITH (FORCE); DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
        }
        try project.write("plans/data/bad.sql", """
            CREATE TABLE t (v text);
            INSERT INTO t VALUES ('x');
            \\connect \(tag)_other
            DROP TABLE precious;
            """)
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(instances(a, b)) },
              "imports": { "seed": { "into": "dst", "database": "\(tag)", "from": "data/bad.sql" } } }
            """)
        let plan = try project.run("plan")
        #expect(plan.code == 1, "\(plan.all)")
        #expect(plan.stderr.contains("ImportError") && plan.stderr.contains("bad.sql:3"), "\(plan.all)")
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code != 0, "\(apply.all)")
        #expect(try sql(project, b, "\(tag)_other", "SELECT v FROM precious;") == "keep\n")
        #expect(try databases(project, b, like: "\(tag)") == "")

        // pg_dump's own plain output (COPY blocks, dollar quotes) imports and equals its source.
        let dumped = try project.runShell("PGPASSWORD=\"$FERRY_TEST_PG_PASSWORD\" pg_dump --no-owner -h \(a.host) -p \(a.port) -U ferry -d \(tag)_src | gzip > plans/data/good.sql.gz")
        #expect(dumped.code == 0, "\(dumped.all)")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(instances(a, b)) },
              "imports": { "seed": { "into": "dst", "database": "\(tag)", "from": "data/good.sql.gz", "owner": "ferry_plain" } } }
            """)
        let good = try project.run("apply", "--auto-approve")
        #expect(good.code == 0, "\(good.all)")
        let sum = "SELECT count(*), md5(string_agg(ROW(i.*)::text, ',' ORDER BY id)) FROM items i;"
        #expect(try sql(project, b, tag, sum) == sql(project, a, "\(tag)_src", sum))
    }

    /// Fresh tester round 29, F2: pg_dump's plain output cut inside a table's COPY data (its
    /// `\.`, keys and closing line gone) is refused at plan time and by apply, gzipped or not;
    /// the target keeps its own table.
    @Test func aPgDumpCutShortIsRefusedAndTheTargetUntouched() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_PG_A"), b = try server("FERRY_TEST_PG_B")
        let tag = "pc" + UUID().uuidString.prefix(6).lowercased()
        try seed(project, a, "\(tag)_src")
        try oldTargetAndFreshImport(project, a, b, tag)
        defer {
            _ = try? sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)_src\" WITH (FORCE);")
            _ = try? sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
        }
        let dumped = try project.runShell("PGPASSWORD=\"$FERRY_TEST_PG_PASSWORD\" pg_dump --no-owner -h \(a.host) -p \(a.port) -U ferry -d \(tag)_src > whole.sql && n=$(grep -n '^COPY ' whole.sql | head -1 | cut -d: -f1) && head -n $((n + 50)) whole.sql > plans/data/cut.sql && gzip -c plans/data/cut.sql > plans/data/cut.sql.gz")
        try #require(dumped.code == 0, "\(dumped.all)")
        for file in ["data/cut.sql", "data/cut.sql.gz"] {
            try project.write("plans/main.json", """
                { "ferry": 1, "instances": { \(instances(a, b)) },
                  "imports": { "seed": { "into": "dst", "database": "\(tag)", "from": "\(file)", "onExisting": "replace", "owner": "ferry_plain" } } }
                """)
            let plan = try project.run("plan")
            #expect(plan.code == 1 && plan.all.contains("ImportError") && plan.all.contains("cut short"), "\(file): \(plan.all)")
            let apply = try project.run("apply", "--auto-approve")
            #expect(apply.code != 0 && apply.all.contains("cut short"), "\(file): \(apply.all)")
            #expect(try sql(project, b, tag, "SELECT v FROM old;") == "before\n", "\(file): the target is untouched")
        }
    }

    /// Fresh tester round 31, F3 (and F1b): a whole pg_dump plain file split anywhere (`split -n
    /// 5`: inside COPY data and statements), one part gzipped, is one stream: planned without a
    /// refusal and imported whole. The first part alone, with the closing as a second part, is
    /// cut short (COPY data to psql), and the target keeps its table.
    @Test func aWholePgDumpSplitIntoPartsImportsWhole() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_PG_A"), b = try server("FERRY_TEST_PG_B")
        let tag = "ps" + UUID().uuidString.prefix(6).lowercased()
        try seed(project, a, "\(tag)_src")
        try oldTargetAndFreshImport(project, a, b, tag)
        defer {
            _ = try? sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)_src\" WITH (FORCE);")
            _ = try? sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
        }
        let dumped = try project.runShell("PGPASSWORD=\"$FERRY_TEST_PG_PASSWORD\" pg_dump --no-owner -h \(a.host) -p \(a.port) -U ferry -d \(tag)_src > whole.sql && cd plans/data && split -n 5 --additional-suffix=.sql ../../whole.sql p. && gzip p.ac.sql && printf '\\n--\\n-- PostgreSQL database dump complete\\n--\\n\\n' > closing.sql")
        try #require(dumped.code == 0, "\(dumped.all)")
        func plan(_ from: [String]) throws {
            try project.write("plans/main.json", """
                { "ferry": 1, "instances": { \(instances(a, b)) },
                  "imports": { "seed": { "into": "dst", "database": "\(tag)", "from": [\(from.map { "\"data/\($0)\"" }.joined(separator: ", "))], "onExisting": "replace", "owner": "ferry_plain" } } }
                """)
        }
        try plan(["p.aa.sql", "closing.sql"])
        let cut = try project.run("apply", "--auto-approve")
        #expect(cut.code != 0 && cut.all.contains("cut short"), "\(cut.all)")
        #expect(try sql(project, b, tag, "SELECT v FROM old;") == "before\n", "the target is untouched")
        try plan(["p.aa.sql", "p.ab.sql", "p.ac.sql.gz", "p.ad.sql", "p.ae.sql"])
        let planned = try project.run("plan")
        #expect(planned.code == 0 && !planned.all.contains("error"), "\(planned.all)")
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let sum = "SELECT count(*), md5(string_agg(ROW(i.*)::text, ',' ORDER BY id)) FROM items i;"
        #expect(try sql(project, b, tag, sum) == sql(project, a, "\(tag)_src", sum))
    }

    /// A's database `PREFIX` + 6 random characters (`tag`) seeded, B's database `tag` holding
    /// `old` ('before'), and a plan that copies A's over it (`copies.mirror`, replace).
    func mirrorOverOldTarget(_ prefix: String) throws -> (Project, Server, Server, String) {
        let project = try Project()
        let a = try server("FERRY_TEST_PG_A"), b = try server("FERRY_TEST_PG_B")
        let tag = prefix + UUID().uuidString.prefix(6).lowercased()
        try seed(project, a, tag)
        try sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\";")
        try sql(project, b, tag, "CREATE TABLE old (v text); INSERT INTO old VALUES ('before');")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(instances(a, b)) },
              "copies": { "mirror": { "from": "src", "to": "dst", "databases": ["\(tag)"], "onExisting": "replace" } } }
            """)
        return (project, a, b, tag)
    }

    /// Drops every database whose name begins with `tag` on each server (best effort).
    func dropDatabases(of tag: String, _ project: Project, _ servers: Server...) {
        for server in servers {
            for name in ((try? databases(project, server, like: "\(tag)%")) ?? "").split(separator: "\n") {
                _ = try? sql(project, server, "postgres", "DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE);")
            }
        }
    }

    /// B's database `tag` holding `old` ('before'), and a plan that replaces it with an import
    /// of `fresh` ('after') owned by `ferry_plain`: the kill-and-recover tests' set-up.
    func oldTargetAndFreshImport(_ project: Project, _ a: Server, _ b: Server, _ tag: String) throws {
        try sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\";")
        try sql(project, b, tag, "CREATE TABLE old (v text); INSERT INTO old VALUES ('before');")
        try project.write("plans/data/new.sql", "CREATE TABLE fresh (v text);\nINSERT INTO fresh VALUES ('after');\n")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(instances(a, b)) },
              "imports": { "seed": { "into": "dst", "database": "\(tag)", "from": "data/new.sql", "onExisting": "replace", "owner": "ferry_plain" } } }
            """)
    }

    /// A run killed right after it made the shadow's role, right after the database born owned by
    /// it (before its comment), right after it made the import's role, or right after the role
    /// gave the shadow back, leaves a role and a shadow that `ferry recover` removes; the target
    /// is as it was.
    @Test(arguments: ["change:postgres.shadow-role.created", "change:postgres.shadow.created",
                      "change:postgres.import-role.created", "change:postgres.import-role.settled"])
    func importKilledAroundItsRoleThenRecover(_ killPoint: String) throws {
        let project = try Project()
        let a = try server("FERRY_TEST_PG_A"), b = try server("FERRY_TEST_PG_B")
        let tag = "pr" + UUID().uuidString.prefix(6).lowercased()
        try oldTargetAndFreshImport(project, a, b, tag)
        defer { _ = try? sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);") }
        let roles = "SELECT count(*) FROM pg_roles WHERE shobj_description(oid, 'pg_authid') LIKE 'ferry:shadow-role:\(tag)%';"
        let rolesBefore = try sql(project, b, "postgres", roles)
        project.environment["FERRY_TEST_KILL_AT"] = killPoint
        let killed = try project.run("apply", "--auto-approve")
        project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code == 137 || killed.code == 9, "\(killed.all)")
        if killPoint.hasSuffix("role.created") {
            #expect(try sql(project, b, "postgres", roles) != rolesBefore, "the role was made before the kill")
        }
        let recover = try project.run("recover")
        #expect(recover.code == 0, "\(recover.all)")
        #expect(try sql(project, b, "postgres", roles) == rolesBefore, "no import role is left")
        #expect(try databases(project, b, like: "\(tag)%") == "\(tag)\n", "only the user's database is left")
        #expect(try sql(project, b, tag, "SELECT v FROM old;") == "before\n")
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        #expect(try sql(project, b, tag, "SELECT v FROM fresh;") == "after\n")
        #expect(try sql(project, b, "postgres", roles) == rolesBefore)
    }

    /// Fresh tester round 12, G4 (seen on Redis): a run killed after journaling its swap, before
    /// the swap's transaction committed (right after `swapBegun`, or inside the transaction after
    /// its renames), moved nothing: `ferry recover` says the target was not touched, never
    /// "restored ... from its checkpoint", and leaves it as it was. Killed after the swap, the same
    /// recover restores from the checkpoint.
    @Test(arguments: ["stop:after-swapBegun#1", "kill:change:postgres.renamed", "stop:after-swapDone#1"])
    func aRecoverOfASwapThatNeverCommittedSaysTheTargetWasNotTouched(_ point: String) throws {
        let project = try Project()
        let a = try server("FERRY_TEST_PG_A"), b = try server("FERRY_TEST_PG_B")
        let tag = "pn" + UUID().uuidString.prefix(6).lowercased()
        try oldTargetAndFreshImport(project, a, b, tag)
        defer { _ = try? sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);") }
        let oid = "SELECT oid FROM pg_database WHERE datname = '\(tag)';"
        let before = try sql(project, b, "postgres", oid)
        if point.hasPrefix("stop:") {
            try project.killed(["apply", "--auto-approve"], at: String(point.dropFirst("stop:".count)))
        } else {
            project.environment["FERRY_TEST_KILL_AT"] = String(point.dropFirst("kill:".count))
            let killed = try project.run("apply", "--auto-approve")
            project.environment["FERRY_TEST_KILL_AT"] = nil
            #expect(killed.code == 137 || killed.code == 9, "\(killed.all)")
        }
        let recover = try project.run("recover")
        #expect(recover.code == 0 && recover.all.contains("as they were before"), "\(recover.all)")
        if point.contains("swapDone") {
            #expect(recover.all.contains("restored dst/\(tag) from its checkpoint") && !recover.all.contains("was not touched"), "\(recover.all)")
        } else {
            #expect(recover.all.contains("dst/\(tag) was not touched: its swap stopped before it moved anything") && !recover.all.contains("restored dst/"), "\(recover.all)")
        }
        #expect(try sql(project, b, "postgres", oid) == before, "the same database")
        #expect(try sql(project, b, tag, "SELECT v FROM old;") == "before\n")
        #expect(try databases(project, b, like: "\(tag)%") == "\(tag)\n", "no shadow or checkpoint left")
        #expect(try project.run("recover").all.contains("Nothing to recover"))
    }

    /// The same after a swap that committed but was not journaled as done (killed right after
    /// its commit), whose undo by a first `ferry recover` was killed before its record: the
    /// second recover finds the shadow back at its name and no checkpoint, as if nothing had
    /// moved, yet it was restored: it says "restored", never "not touched".
    @Test func aSecondRecoverAfterAnUndoneSwapNeverSaysTheTargetWasNotTouched() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_PG_A"), b = try server("FERRY_TEST_PG_B")
        let tag = "pu" + UUID().uuidString.prefix(6).lowercased()
        try oldTargetAndFreshImport(project, a, b, tag)
        defer { _ = try? sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);") }
        for (args, point) in [(["apply", "--auto-approve"], "change:postgres.committed"), (["recover"], "change:rollback.swapUndone")] {
            project.environment["FERRY_TEST_KILL_AT"] = point
            let killed = try project.run(args)
            project.environment["FERRY_TEST_KILL_AT"] = nil
            #expect(killed.code == 137 || killed.code == 9, "\(args): \(killed.all)")
        }
        #expect(try sql(project, b, tag, "SELECT v FROM old;") == "before\n", "the first recover's undo restored it")
        let recover = try project.run("recover")
        #expect(recover.code == 0 && recover.all.contains("restored dst/\(tag) from its checkpoint"), "\(recover.all)")
        #expect(!recover.all.contains("was not touched"), "\(recover.all)")
        #expect(try databases(project, b, like: "\(tag)%") == "\(tag)\n", "no shadow or checkpoint left")
    }

    /// Dynamic SQL that the plan's checks cannot read fails at apply, refused by the server to the
    /// import's role: exit 3, "as they were" is true, the other database is untouched.
    @Test func dynamicSQLThatReachesOutIsRefusedByTheServer() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_PG_A"), b = try server("FERRY_TEST_PG_B")
        let tag = "pd" + UUID().uuidString.prefix(6).lowercased()
        try sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)_other\" WITH (FORCE); CREATE DATABASE \"\(tag)_other\"; DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
        try sql(project, b, "\(tag)_other", "CREATE TABLE precious (v text); INSERT INTO precious VALUES ('keep');")
        defer { _ = try? sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)_other\" WITH (FORCE); DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);") }
        try project.write("plans/data/sneaky.sql", """
            CREATE TABLE t (v text);
            INSERT INTO t VALUES ('x');
            DO $$ BEGIN EXECUTE 'UPDATE pg_' || 'database SET datallowconn = false WHERE datname = ' || quote_literal('\(tag)_other'); END $$;
            """)
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(instances(a, b)) },
              "imports": { "seed": { "into": "dst", "database": "\(tag)", "from": "data/sneaky.sql" } } }
            """)
        let plan = try project.run("plan")
        #expect(plan.code == 0, "the checks cannot read it: \(plan.all)")
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 3, "\(apply.all)")
        #expect(apply.all.contains("sneaky.sql:3") && apply.all.contains("permission denied"), "\(apply.all)")
        #expect(try sql(project, b, "\(tag)_other", "SELECT v FROM precious;") == "keep\n")
        #expect(try sql(project, b, "postgres", "SELECT datallowconn FROM pg_database WHERE datname = '\(tag)_other';") == "t\n")
        #expect(try databases(project, b, like: "\(tag)") == "")
    }

    /// `ferry backup` writes a pg_dump custom-format archive that `pg_restore --list` reads; a
    /// copy from that set (`backup`) restores that moment even after the source changed.
    @Test func backupArchiveThenCopyFromTheSetRestoresThatMoment() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_PG_A"), b = try server("FERRY_TEST_PG_B")
        let tag = "pb" + UUID().uuidString.prefix(6).lowercased()
        try seed(project, a, tag)
        try sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)_restored\" WITH (FORCE);")
        defer {
            _ = try? sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
            _ = try? sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)_restored\" WITH (FORCE);")
        }
        func plan(copies: String) -> String {
            """
            { "ferry": 1, "instances": { \(instances(a, b)) },
              "backups": { "nightly": { "of": "src", "databases": ["\(tag)"], "to": "../backups" } }\(copies) }
            """
        }
        try project.write("plans/main.json", plan(copies: ""))
        let taken = try project.run("backup", "nightly")
        #expect(taken.code == 0, "\(taken.all)")
        let setID = try #require(taken.stdout.components(separatedBy: "backup set ").dropFirst().first?.split(separator: " ").first.map(String.init), "\(taken.all)")
        let files = try FileManager.default.subpathsOfDirectory(atPath: project.root + "/backups")
        let archive = try #require(files.first { $0.hasSuffix(".dump") }, "\(files)")
        let listed = try project.runShell("pg_restore --list '\(project.root)/backups/\(archive)'")
        #expect(listed.code == 0 && listed.stdout.contains("TABLE DATA public items"), "\(listed.all)")
        let before = "SELECT count(*), md5(string_agg(ROW(n.*)::text, ',' ORDER BY id)) FROM notes n;"
        let moment = try sql(project, a, tag, before)
        try sql(project, a, tag, "DELETE FROM notes WHERE id > 100;")
        try project.write("plans/main.json", plan(copies: """
            ,
              "copies": { "restore": { "from": "src", "to": "dst", "databases": { "\(tag)": "\(tag)_restored" }, "backup": "\(setID)" } }
            """))
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        #expect(try sql(project, b, "\(tag)_restored", before) == moment)
        #expect(try databases(project, b, like: "\(tag)%") == "\(tag)_restored\n", "no shadow stays")
    }

    /// Fresh tester w12 F6 on PostgreSQL: a set's archive replaced by another valid one (a later
    /// set's, with a row, a table or a large object more), its manifest's size and SHA-256
    /// rewritten: the restored shadow does not hold the tables and rows the manifest recorded
    /// (counted in pg_dump's own snapshot), `VerifyFailed`, nothing swapped in and no shadow
    /// left. The later set itself restores.
    @Test(arguments: ["INSERT INTO more VALUES (0);", "CREATE TABLE injected(x int); INSERT INTO injected VALUES (1);", "SELECT lo_from_bytea(0, 'x');"])
    func aSetArchiveSwappedWithItsManifestRewrittenIsNotRestored(_ change: String) throws {
        let project = try Project()
        let a = try server("FERRY_TEST_PG_A"), b = try server("FERRY_TEST_PG_B")
        let tag = "ps" + UUID().uuidString.prefix(6).lowercased()
        try sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\";")
        try sql(project, a, tag, "CREATE TABLE more (k int); INSERT INTO more SELECT generate_series(1, 300);")
        try sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)_restored\" WITH (FORCE);")
        defer {
            _ = try? sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
            _ = try? sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)_restored\" WITH (FORCE);")
        }
        func plan(_ set: String?) -> String {
            let copies = set.map { ", \"copies\": { \"restore\": { \"from\": \"src\", \"to\": \"dst\", \"databases\": { \"\(tag)\": \"\(tag)_restored\" }, \"backup\": \"\($0)\" } }" } ?? ""
            return """
            { "ferry": 1, "instances": { \(instances(a, b)) },
              "backups": { "nightly": { "of": "src", "databases": ["\(tag)"], "to": "../backups", "keep": 5 } }\(copies) }
            """
        }
        func setID(_ taken: Project.Result) throws -> String {
            #expect(taken.code == 0, "\(taken.all)")
            return try #require(taken.stdout.components(separatedBy: "backup set ").dropFirst().first?.split(separator: " ").first.map(String.init), "\(taken.all)")
        }
        try project.write("plans/main.json", plan(nil))
        let first = try setID(try project.run("backup", "nightly"))
        #expect(project.read("backups/\(first)/manifest.json")?.contains("public.more") == true)
        try sql(project, a, tag, change)
        let second = try setID(try project.run("backup", "nightly"))
        try project.swapSetFile(in: "backups", of: first, withThatOf: second)
        try project.write("plans/main.json", plan(first))
        let refused = try project.run("apply", "--auto-approve")
        #expect(refused.code == 3, "\(refused.all)")
        #expect(refused.all.contains("VerifyFailed") && refused.all.contains("does not hold what the set's manifest recorded"), "\(refused.all)")
        #expect(try databases(project, b, like: "\(tag)%") == "", "nothing swapped in, no shadow stays")
        try project.write("plans/main.json", plan(second))
        let restored = try project.run("apply", "--auto-approve")
        #expect(restored.code == 0, "\(restored.all)")
        let count = "SELECT (SELECT count(*) FROM more), (SELECT count(*) FROM pg_largeobject_metadata);"
        #expect(try sql(project, b, "\(tag)_restored", count) == sql(project, a, tag, count))
    }


    /// Starts psql holding a session on `database` (application_name `ferry_test_holder`) until
    /// `release` ends it.
    func holdSession(_ server: Server, _ database: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", "-X", "-q", "-h", server.host, "-p", server.port, "-U", "ferry", "-d", database, "-c", "SELECT pg_sleep(120)"]
        var environment = ProcessInfo.processInfo.environment
        environment["PGPASSWORD"] = environment["FERRY_TEST_PG_PASSWORD"]
        environment["PGAPPNAME"] = "ferry_test_holder"
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Ends a session `holdSession` started: its backend (a killed psql leaves `pg_sleep` running
    /// on the server), then the psql process.
    func release(_ holder: Process, _ project: Project, _ server: Server, _ database: String) {
        _ = try? sql(project, server, "postgres", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'ferry_test_holder' AND datname = '\(database)';")
        holder.waitUntilExit()
        for _ in 0..<50 {
            if (try? sql(project, server, "postgres", "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ferry_test_holder' AND datname = '\(database)';")) == "0\n" { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    /// Fresh tester round 41, F6: a row written into a committed run's checkpoint was swapped
    /// back into the target by `ferry rollback RUN`, "its targets hold what they held before it".
    /// The rollback now refuses before any change (exit 1), naming the checkpoint; once the row
    /// is taken out again, the same rollback restores the target.
    @Test func aRollbackRefusesACheckpointWrittenIntoSinceItsSwap() throws {
        let (project, a, b, tag) = try mirrorOverOldTarget("pw")
        defer { dropDatabases(of: tag, project, a, b) }
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        let runLine = try #require(apply.stdout.split(separator: "\n").first { $0.hasPrefix("Run ") }, "\(apply.all)")
        let runID = String(runLine.split(separator: " ")[1].dropLast())
        let checkpoint = try databases(project, b, like: "\(tag)__ferry_c_%").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!checkpoint.isEmpty, "the replaced target is kept as a checkpoint")
        try sql(project, b, checkpoint, "INSERT INTO old VALUES ('app-in-checkpoint');")
        let refused = try project.run("rollback", runID)
        #expect(refused.code == 1 && refused.all.contains("no longer holds what it held at the swap") && refused.all.contains(checkpoint), "\(refused.all)")
        #expect(!refused.all.contains("renamed back"), "\(refused.all)")
        #expect(try sql(project, b, tag, "SELECT count(*) FROM items;") == "20000\n", "the copy is still in place")
        #expect(try sql(project, b, checkpoint, "SELECT v FROM old ORDER BY v;") == "app-in-checkpoint\nbefore\n")
        try sql(project, b, checkpoint, "DELETE FROM old WHERE v = 'app-in-checkpoint';")
        let rolled = try project.run("rollback", runID)
        #expect(rolled.code == 0, "\(rolled.all)")
        #expect(try sql(project, b, tag, "SELECT v FROM old;") == "before\n")
    }

    /// `ferry rollback` while a session sits on the database it would rename back (the target,
    /// then the kept checkpoint): refused with exit 1 and `OperationDenied.WrongStatus` naming
    /// the session, nothing changed (target, checkpoint, state); once the session is gone the
    /// same rollback restores the target. The plan warns about a same-server TEMPLATE copy
    /// whose source has a session.
    @Test func rollbackBlockedBySessionIsRefusedAndChangesNothing() throws {
        let (project, a, b, tag) = try mirrorOverOldTarget("pr")
        defer { dropDatabases(of: tag, project, a, b) }
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        let runLine = try #require(apply.stdout.split(separator: "\n").first { $0.hasPrefix("Run ") }, "\(apply.all)")
        let runID = String(runLine.split(separator: " ")[1].dropLast())
        let checkpoint = try databases(project, b, like: "\(tag)__ferry_c_%")
        #expect(checkpoint != "", "the replaced target is kept as a checkpoint")
        let stateBefore = try project.run("state", "list").stdout
        project.environment["FERRY_PG_SWAP_WAIT_SECONDS"] = "1"
        for database in [tag, checkpoint.trimmingCharacters(in: .whitespacesAndNewlines)] {
            let holder = try holdSession(b, database)
            defer { release(holder, project, b, database) }
            var seen = ""
            for _ in 0..<50 where !seen.contains("pg_sleep") {
                seen = try sql(project, b, "postgres", "SELECT query FROM pg_stat_activity WHERE datname = '\(database)';")
                Thread.sleep(forTimeInterval: 0.1)
            }
            let refused = try project.run("rollback", runID)
            #expect(refused.code == 1, "\(refused.all)")
            #expect(refused.stderr.contains("WrongStatus") && refused.stderr.contains("nothing was changed") && refused.stderr.contains("pid "), "\(refused.all)")
            #expect(try sql(project, b, tag, "SELECT count(*) FROM items;") == "20000\n", "the copy is still in place")
            #expect(try databases(project, b, like: "\(tag)__ferry_c_%") == checkpoint, "the checkpoint is still kept")
            #expect(try project.run("state", "list").stdout == stateBefore)
        }
        project.environment["FERRY_PG_SWAP_WAIT_SECONDS"] = nil
        let rolled = try project.run("rollback", runID)
        #expect(rolled.code == 0, "\(rolled.all)")
        #expect(try sql(project, b, tag, "SELECT v FROM old;") == "before\n")
        #expect(try databases(project, b, like: "\(tag)%") == "\(tag)\n")

        // Same server with users sync, a session on the source: the plan warns that TEMPLATE
        // needs none.
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(instances(a, b)),
                "twin": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
              "copies": { "local": { "from": "src", "to": "twin", "users": "sync", "databases": { "\(tag)": "\(tag)_twin" } } } }
            """)
        let holder = try holdSession(a, tag)
        defer { release(holder, project, a, tag) }
        var seen = ""
        for _ in 0..<50 where !seen.contains("pg_sleep") {
            seen = try sql(project, a, "postgres", "SELECT query FROM pg_stat_activity WHERE datname = '\(tag)';")
            Thread.sleep(forTimeInterval: 0.1)
        }
        let plan = try project.run("plan")
        #expect(plan.code == 0 && plan.all.contains("TEMPLATE") && plan.all.contains("other session"), "\(plan.all)")
    }

    /// An extension the target server cannot create is refused at plan time, naming it; here the
    /// target is made to lack it by a plan-time check against the source's own list: both test
    /// servers share one installation, so a source extension is always available, and the check
    /// passes (a real refusal is in PostgresCopyChecksTests with the target's list).
    @Test func aCopyWithExtensionsPlansAndCopies() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_PG_A"), b = try server("FERRY_TEST_PG_B")
        let tag = "pe" + UUID().uuidString.prefix(6).lowercased()
        try sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\";")
        try sql(project, a, tag, "CREATE EXTENSION citext; CREATE TABLE u (email citext PRIMARY KEY); INSERT INTO u VALUES ('A@x'), ('b@Y');")
        defer {
            _ = try? sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
            _ = try? sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
        }
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(instances(a, b)) },
              "copies": { "mirror": { "from": "src", "to": "dst", "databases": ["\(tag)"] } } }
            """)
        let plan = try project.run("plan")
        #expect(plan.code == 0 && !plan.all.contains("VersionMismatch"), "\(plan.all)")
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        #expect(try sql(project, b, tag, "SELECT count(*) FROM u WHERE email = 'a@X';") == "1\n")
    }


    /// A copy with `users: "sync"` and a rename through plan and apply: the plan names the role it
    /// creates, the role logs in on the target with its own password and reads, a second plan
    /// finds nothing to do, and `ferry rollback` removes the role and the copy.
    @Test func copyWithUsersSyncThenRollback() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_PG_A"), b = try server("FERRY_TEST_PG_B")
        let tag = "pu" + UUID().uuidString.prefix(6).lowercased()
        let role = "\(tag)_reader"
        try seed(project, a, tag)
        try sql(project, a, "postgres", "DROP ROLE IF EXISTS \(role); CREATE ROLE \(role) LOGIN PASSWORD 'pw-\(tag)';")
        try sql(project, a, tag, "GRANT SELECT ON items TO \(role);")
        try sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)_copy\" WITH (FORCE); DROP ROLE IF EXISTS \(role);")
        defer {
            _ = try? sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); DROP ROLE IF EXISTS \(role);")
            _ = try? sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)_copy\" WITH (FORCE); DROP ROLE IF EXISTS \(role);")
        }
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(instances(a, b)) },
              "copies": { "mirror": { "from": "src", "to": "dst", "databases": { "\(tag)": "\(tag)_copy" }, "users": "sync" } } }
            """)
        let plan = try project.run("plan")
        #expect(plan.code == 0 && plan.all.contains("creates the roles \"\(role)\""), "\(plan.all)")
        #expect(!plan.all.contains("SCRAM"), "no verifier printed")
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        #expect(!apply.all.contains("SCRAM"))
        let login = try project.runShell("PGPASSWORD='pw-\(tag)' psql -X -A -t -h \(b.host) -p \(b.port) -U \(role) -d \(tag)_copy -c 'SELECT count(*) FROM items'")
        #expect(login.code == 0 && login.stdout == "20000\n", "\(login.all)")
        let denied = try project.runShell("PGPASSWORD='pw-\(tag)' psql -X -A -t -h \(b.host) -p \(b.port) -U \(role) -d \(tag)_copy -c 'SELECT count(*) FROM notes'")
        #expect(denied.code != 0, "only what the source granted: \(denied.all)")
        // Every table of the renamed copy equals the source's, row for row (issue 19: a copy
        // with a rename map and users, then every table compared on both sides).
        for table in ["items", "notes", "more"] {
            let rows = "SELECT count(*), md5(coalesce(string_agg(ROW(t.*)::text, ',' ORDER BY ROW(t.*)::text), '')) FROM \(table) t;"
            #expect(try sql(project, b, "\(tag)_copy", rows) == sql(project, a, tag, rows), "\(table)")
        }
        let again = try project.run("plan")
        #expect(again.code == 0 && again.stdout.contains("No changes"), "\(again.all)")
        let journals = try project.runShell("grep -rl 'SCRAM-SHA-256' .ferry || true")
        #expect(journals.stdout.isEmpty, "no verifier in state or journal: \(journals.stdout)")
        let runLine = try #require(apply.stdout.split(separator: "\n").first { $0.hasPrefix("Run ") }, "\(apply.all)")
        let runID = String(runLine.split(separator: " ")[1].dropLast())
        let rolled = try project.run("rollback", runID)
        #expect(rolled.code == 0, "\(rolled.all)")
        #expect(try sql(project, b, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname = '\(role)';") == "0\n")
        #expect(try databases(project, b, like: "\(tag)%") == "")
    }

}
