import Foundation
import Testing

/// Round-11 fresh tester, PostgreSQL:
/// - F7: `users: "sync"` through a LATIN1 maintenance database made a source's role `rôle_é` under
///   LATIN1 bytes (a name no UTF-8 database reads, nobody logs in as), without its grant, and
///   "Apply complete!". A non-ASCII role name carried through a database of another encoding
///   than UTF-8 (or SQL_ASCII) is now refused at plan time (InvalidParameter, naming the roles
///   and the database), and again at the sync for a role the source gained since the plan
///   (the apply rolls back); nothing of it is made.
/// - F4: a role the run made and the user changed since (password, VALID UNTIL, a setting, an
///   attribute) was dropped by `ferry rollback RUN` / `ferry recover`; it is now kept and named.
/// - F6: a checkpoint dropped as `ferry rollback RUN` starts (a raw SQLSTATE 3D000), or while
///   `ferry recover` reads the target (then "kept beside it as ..." of a database that is gone,
///   in the recover and in `ferry status RUN`).
@Suite(.serialized) struct PostgresRoundElevenTests {
    let pg = PostgresCLITests()
    let writes = PostgresWritesDuringRunTests()
    let undo = PostgresUserSyncUndoTests()

    // MARK: F7

    func instance(_ name: String, _ server: PostgresCLITests.Server, database: String) -> String {
        PostgresMaintenanceDatabaseTests().instance(name, server, database: database)
    }

    /// The roles and databases on `server` whose names hold `tag`, read through the LATIN1
    /// database `latin1` (which reads any bytes), with their names' bytes: what "nothing
    /// changed" compares, and where a role made under LATIN1 bytes would show.
    func rolesAndDatabases(_ project: Project, _ server: PostgresCLITests.Server, latin1: String, tag: String) throws -> String {
        try pg.sql(project, server, latin1, """
            SELECT 'role ' || encode(convert_to(rolname, 'LATIN1'), 'hex') || ' ' || oid FROM pg_roles WHERE strpos(rolname, '\(tag)') > 0
            UNION ALL SELECT 'db ' || datname || ' ' || oid FROM pg_database WHERE strpos(datname, '\(tag)') > 0 ORDER BY 1;
            """)
    }

    func dropTagged(_ project: Project, _ servers: [PostgresCLITests.Server], latin1: String, tag: String) {
        for server in servers {
            // The copies first (privileges there), then the roles, through the LATIN1 database
            // (a role made there under LATIN1 bytes is dropped by them), then that database.
            for name in ((try? pg.databases(project, server, like: "\(tag)%")) ?? "").split(separator: "\n") where name != latin1 {
                _ = try? pg.sql(project, server, "postgres", "DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE);")
            }
            for database in [latin1, "postgres"] {
                let names = (try? pg.sql(project, server, database, "SET client_encoding = 'UTF8'; SELECT quote_ident(rolname) FROM pg_roles WHERE strpos(rolname, '\(tag)') > 0;", expectSuccess: false)) ?? ""
                for name in names.split(separator: "\n") {
                    _ = try? pg.sql(project, server, database, "SET client_encoding = 'UTF8'; DROP OWNED BY \(name); DROP ROLE IF EXISTS \(name);", expectSuccess: false)
                }
            }
            writes.dropAll(project, server, tag: tag)
        }
    }

    /// The finding's input (a LATIN1 maintenance database on the target, a source role `rôle_é`)
    /// and variants: a role LATIN1 cannot hold at all (`rôle_☕`), the source's maintenance
    /// database LATIN1 instead; ASCII roles through LATIN1, and the same non-ASCII roles
    /// through UTF-8 on both sides (made, granted, logged in as, rolled back), plan as before.
    @Test func nonASCIIRoleNamesThroughALatin1DatabaseAreRefusedAtPlanTime() throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A"), b = try pg.server("FERRY_TEST_PG_B")
        let tag = "rn" + UUID().uuidString.prefix(6).lowercased()
        let lat = "\(tag)lat", src = "\(tag)src", plain = "\(tag)plain"
        let held = "rôle_é_\(tag)", notHeld = "rôle_☕_\(tag)", ascii = "\(tag)_r"
        defer { dropTagged(project, [a, b], latin1: lat, tag: tag) }
        for server in [a, b] {
            try pg.sql(project, server, "postgres", "CREATE DATABASE \"\(lat)\" ENCODING 'LATIN1' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C';")
        }
        try pg.sql(project, a, "postgres", """
            SET client_encoding = 'UTF8';
            CREATE ROLE "\(held)" LOGIN PASSWORD 'pw-held'; CREATE ROLE "\(notHeld)" NOLOGIN; CREATE ROLE \(ascii) NOLOGIN;
            CREATE DATABASE "\(src)"; CREATE DATABASE "\(plain)";
            """)
        try pg.sql(project, a, src, """
            SET client_encoding = 'UTF8';
            CREATE TABLE "tablé" (v int); INSERT INTO "tablé" VALUES (1);
            GRANT SELECT ON "tablé" TO "\(held)", "\(notHeld)", \(ascii);
            """)
        // Its own role: two syncs on one server in one apply run side by side, and a role
        // both would make races (one fails with 42710 and the apply rolls back).
        try pg.sql(project, a, "postgres", "CREATE ROLE \(tag)_p NOLOGIN;")
        try pg.sql(project, a, plain, "CREATE TABLE t (v int); GRANT SELECT ON t TO \(tag)_p;")
        // Into B through its LATIN1 database (the finding), and out of A through A's.
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(instance("pa", a, database: "postgres")), \(instance("pl", b, database: lat)),
                                         \(instance("al", a, database: lat)), \(instance("pb", b, database: "postgres")) },
              "copies": { "into": { "from": "pa", "to": "pl", "databases": { "\(src)": "\(tag)copy" }, "users": "sync" },
                          "outof": { "from": "al", "to": "pb", "databases": { "\(src)": "\(tag)copy2" }, "users": "sync" } } }
            """)
        let before = try rolesAndDatabases(project, b, latin1: lat, tag: tag)
        let plan = try project.run("plan")
        #expect(plan.code == 1, "\(plan.all)")
        let lines = plan.all.split(separator: "\n").filter { $0.contains("users: sync cannot carry the roles \"\(held)\", \"\(notHeld)\"") }
        #expect(lines.count == 2 && lines.allSatisfy { $0.contains("InvalidParameter") }, "both copies, named: \(plan.all)")
        #expect(plan.all.contains("pl's maintenance database \(lat) (the instance url's, through which Ferry makes, finds and drops the roles) is LATIN1"), "\(plan.all)")
        #expect(plan.all.contains("al's maintenance database \(lat) (the instance url's, through which Ferry reads each role's attributes) is LATIN1"), "\(plan.all)")
        #expect(plan.all.contains("point the instance's url at a UTF-8 (or SQL_ASCII) database"), "\(plan.all)")
        #expect(!plan.all.split(separator: "\n").contains { $0.contains("creates the roles") && ($0.contains(held) || $0.contains(notHeld)) },
                "no line says the refused roles are made: \(plan.all)")
        #expect(!lines.contains { $0.contains(ascii) }, "an ASCII role is not refused: \(plan.all)")
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 1 && apply.all.contains("users: sync cannot carry") && !apply.all.contains("Apply complete"), "\(apply.all)")
        #expect(try rolesAndDatabases(project, b, latin1: lat, tag: tag) == before, "nothing was made on B")
        let names = try project.runShell("PGPASSWORD=\"$FERRY_TEST_PG_PASSWORD\" PGCLIENTENCODING=UTF8 psql -X -A -t -h \(b.host) -p \(b.port) -U ferry -d postgres -c 'SELECT string_agg(rolname, chr(44)) FROM pg_roles'")
        #expect(names.code == 0, "every role name on B reads in a UTF-8 database: \(names.all)")

        // ASCII roles alone through LATIN1; the non-ASCII ones through UTF-8 on both sides.
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(instance("pa", a, database: "postgres")), \(instance("pl", b, database: lat)), \(instance("pb", b, database: "postgres")) },
              "copies": { "ascii": { "from": "pa", "to": "pl", "databases": { "\(plain)": "\(tag)plaincopy" }, "users": "sync" },
                          "utf8": { "from": "pa", "to": "pb", "databases": { "\(src)": "\(tag)copy" }, "users": "sync" } } }
            """)
        let fine = try project.run("plan", "--detailed-exitcode")
        #expect(fine.code == 2 && !fine.all.contains("cannot carry"), "\(fine.all)")
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0 && applied.all.contains("Apply complete"), "\(applied.all)")
        let hex = try pg.sql(project, b, "postgres", "SET client_encoding = 'UTF8'; SELECT encode(convert_to(rolname, 'UTF8'), 'hex') FROM pg_roles WHERE rolname = '\(held)';")
        #expect(hex.trimmingCharacters(in: .whitespacesAndNewlines) == Array(held.utf8).map { String(format: "%02x", $0) }.joined(), "made in UTF-8 bytes: \(hex)")
        #expect(try pg.sql(project, b, "\(tag)copy", "SET client_encoding = 'UTF8'; SELECT has_table_privilege('\(held)', 'tablé', 'SELECT')::text || has_table_privilege('\(notHeld)', 'tablé', 'SELECT')::text;") == "truetrue\n",
                "the grants are in the copy")
        let login = try project.runShell("PGPASSWORD=pw-held PGCLIENTENCODING=UTF8 psql -X -A -t -h \(b.host) -p \(b.port) -U '\(held)' -d \(tag)copy -c 'SELECT current_user'")
        #expect(login.code == 0 && login.stdout.contains(held), "one logs in as \(held): \(login.all)")
    }

    /// A non-ASCII role the source gains after the plan (the apply stopped once the copy is
    /// swapped in): the sync refuses it before any change of its own, and the apply rolls back.
    @Test func aNonASCIIRoleGainedAfterThePlanIsRefusedAtTheSync() throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A"), b = try pg.server("FERRY_TEST_PG_B")
        let tag = "rs" + UUID().uuidString.prefix(6).lowercased()
        let lat = "\(tag)lat", src = "\(tag)src", late = "rôle_é_\(tag)"
        defer { dropTagged(project, [a, b], latin1: lat, tag: tag) }
        try pg.sql(project, b, "postgres", "CREATE DATABASE \"\(lat)\" ENCODING 'LATIN1' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C';")
        try pg.sql(project, a, "postgres", "SET client_encoding = 'UTF8'; CREATE ROLE \(tag)_r NOLOGIN; CREATE ROLE \"\(late)\" NOLOGIN; CREATE DATABASE \"\(src)\";")
        try pg.sql(project, a, src, "CREATE TABLE t (v int); INSERT INTO t VALUES (1); GRANT SELECT ON t TO \(tag)_r;")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(instance("pa", a, database: "postgres")), \(instance("pl", b, database: lat)) },
              "copies": { "into": { "from": "pa", "to": "pl", "databases": { "\(src)": "\(tag)copy" }, "users": "sync" } } }
            """)
        let before = try rolesAndDatabases(project, b, latin1: lat, tag: tag)
        let (run, log) = try writes.startStopped(project, at: "after-swapDone#1")
        defer { if run.isRunning { run.signal(SIGKILL); run.signal(SIGCONT) } }
        try pg.sql(project, a, src, "SET client_encoding = 'UTF8'; GRANT SELECT ON t TO \"\(late)\";")
        run.signal(SIGCONT)
        run.waitUntilExit()
        let text = writes.output(log)
        #expect(run.terminationStatus != 0 && !text.contains("Apply complete"), "\(text)")
        #expect(text.contains("InvalidParameter") && text.contains("users: sync cannot carry the role \"\(late)\""), "\(text)")
        #expect(try rolesAndDatabases(project, b, latin1: lat, tag: tag) == before, "the copy rolled back, no role made: \(text)")
    }

    /// Roles the sync made with UTF-8 names (the url's database UTF-8), then that database made
    /// again under its name as LATIN1 (a url pointing elsewhere is refused before: the run wrote
    /// elsewhere): `ferry rollback RUN` does not say it dropped roles it cannot find by name (the
    /// undo of the sync is refused, exit 4, the role left); once the database is UTF-8 again,
    /// `ferry recover` drops it.
    @Test func theUndoOfASyncIsRefusedThroughALatin1DatabaseItCannotFindTheRolesIn() throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A"), b = try pg.server("FERRY_TEST_PG_B")
        let tag = "ru" + UUID().uuidString.prefix(6).lowercased()
        let lat = "\(tag)lat", src = "\(tag)src", held = "rôle_é_\(tag)"
        defer { dropTagged(project, [a, b], latin1: lat, tag: tag) }
        try pg.sql(project, b, "postgres", "CREATE DATABASE \"\(lat)\";")
        try pg.sql(project, a, "postgres", "SET client_encoding = 'UTF8'; CREATE ROLE \"\(held)\" NOLOGIN; CREATE DATABASE \"\(src)\";")
        try pg.sql(project, a, src, "SET client_encoding = 'UTF8'; CREATE TABLE t (v int); GRANT SELECT ON t TO \"\(held)\";")
        func plan(_ database: String) throws {
            try project.write("plans/main.json", """
                { "ferry": 1, "instances": { \(instance("pa", a, database: "postgres")), \(instance("pb", b, database: database)) },
                  "copies": { "c": { "from": "pa", "to": "pb", "databases": { "\(src)": "\(tag)copy" }, "users": "sync" } } }
                """)
        }
        try plan(lat)
        let runID = try CheckpointGoneRollbackTests().committedRun(project)
        let oid = "SET client_encoding = 'UTF8'; SELECT coalesce((SELECT oid::text FROM pg_roles WHERE rolname = '\(held)'), 'none');"
        let made = try pg.sql(project, b, "postgres", oid)
        #expect(made != "none\n")
        // The url's database made again under its name, LATIN1 (the same url, the same server).
        try pg.sql(project, b, "postgres", "DROP DATABASE \"\(lat)\" WITH (FORCE); CREATE DATABASE \"\(lat)\" ENCODING 'LATIN1' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C';")
        let rollback = try project.run("rollback", runID)
        #expect(rollback.code == 4, "\(rollback.all)")
        #expect(rollback.all.contains("InvalidParameter") && rollback.all.contains("it is LATIN1, and the roles \"\(held)\" have non-ASCII names"), "\(rollback.all)")
        #expect(!rollback.all.contains("hold what they held before it"), "\(rollback.all)")
        #expect(try pg.sql(project, b, "postgres", oid) == made, "the role is left")
        try pg.sql(project, b, "postgres", "DROP DATABASE \"\(lat)\" WITH (FORCE); CREATE DATABASE \"\(lat)\";")
        let recover = try project.run("recover")
        #expect(recover.code == 0, "\(recover.all)")
        #expect(try pg.sql(project, b, "postgres", oid) == "none\n", "dropped once found: \(recover.all)")
    }

    // MARK: F4

    /// What the user changes on the run's role `%r` after the run made it.
    static let changes = ["ALTER ROLE %r PASSWORD 'user-new-pw'", "ALTER ROLE %r VALID UNTIL '2030-01-01'",
                          "ALTER ROLE %r SET work_mem = '8MB'", "ALTER ROLE %r CONNECTION LIMIT 3", "ALTER ROLE %r NOLOGIN",
                          "ALTER ROLE %r IN DATABASE postgres SET work_mem = '8MB'", "COMMENT ON ROLE %r IS 'mine now'"]

    /// The role's attributes, settings, comment and password verifier on B (what "kept as the
    /// user left it" compares).
    func attributes(_ project: Project, _ b: PostgresCLITests.Server, _ role: String) throws -> String {
        try pg.sql(project, b, "postgres", """
            SELECT a.oid || ' ' || a.rolcanlogin || ' ' || a.rolconnlimit || ' ' || coalesce(a.rolvaliduntil::text, '-') || ' '
                   || coalesce(md5(a.rolpassword), '-') || ' ' || coalesce(shobj_description(a.oid, 'pg_authid'), '-') || ' '
                   || coalesce((SELECT string_agg(s.setdatabase || ':' || array_to_string(s.setconfig, ','), ';' ORDER BY s.setdatabase)
                                FROM pg_db_role_setting s WHERE s.setrole = a.oid), '-')
            FROM pg_authid a WHERE a.rolname = '\(role)';
            """)
    }

    /// Committed copy with users sync; the user changes the run's `TAG_sync`; `ferry rollback
    /// RUN` keeps it (same oid, the user's change) and names it, drops the run's `TAG_two`.
    @Test(arguments: changes) func aRoleTheUserChangedSinceIsKeptByTheRollback(change: String) throws {
        let project = try Project()
        let tag = "rc" + UUID().uuidString.prefix(6).lowercased()
        let (a, b) = try undo.setUp(project, tag: tag)
        defer { undo.cleanUp(project, a, b, tag: tag) }
        let runID = try CheckpointGoneRollbackTests().committedRun(project)
        let role = "\(tag)_sync"
        try pg.sql(project, b, "postgres", change.replacingOccurrences(of: "%r", with: role) + ";")
        let changed = try attributes(project, b, role)
        let rollback = try project.run("rollback", runID)
        #expect(rollback.code == 0, "\(change): \(rollback.all)")
        #expect(rollback.stdout.contains("role \"\(role)\" kept: it ") && rollback.stdout.contains("noted above as they are"), "\(change): \(rollback.all)")
        #expect(!rollback.all.contains("user-new-pw") && !rollback.all.contains("SCRAM"), "no secret: \(rollback.all)")
        #expect(try attributes(project, b, role) == changed && !changed.isEmpty, "\(change): kept as the user left it")
        #expect(try undo.oid(project, b, "\(tag)_two") == "none", "\(change): the run's unchanged role is dropped")
        #expect(try pg.databases(project, b, like: "\(tag)%") == "", "\(change): the copy is gone")
    }

    /// Fresh tester round 13, F6: the run's `TAG_sync` renamed by the user and a new `TAG_sync`
    /// made: the rollback keeps both and says where the run's went (it said "that one is gone").
    @Test func aRoleTheUserRenamedIsNamedByTheRollback() throws {
        let project = try Project()
        let tag = "rn" + UUID().uuidString.prefix(6).lowercased()
        let (a, b) = try undo.setUp(project, tag: tag)
        defer {
            undo.cleanUp(project, a, b, tag: tag)
            _ = try? pg.sql(project, b, "postgres", "DROP ROLE IF EXISTS \(tag)_moved;", expectSuccess: false)
        }
        let runID = try CheckpointGoneRollbackTests().committedRun(project)
        let runs = try undo.oid(project, b, "\(tag)_sync")
        try pg.sql(project, b, "postgres", "ALTER ROLE \(tag)_sync RENAME TO \(tag)_moved; CREATE ROLE \(tag)_sync;")
        // A renamed role shows as another name in the copy's ACLs: the target changed, so `--force`.
        let rollback = try project.run("rollback", runID, "--force")
        #expect(rollback.stdout.contains("role \"\(tag)_sync\" kept: it is not the role the run created (that one was renamed to \"\(tag)_moved\" and is left as it is; this one was made since)"), "\(rollback.all)")
        #expect(try undo.oid(project, b, "\(tag)_moved") == runs, "the renamed role is left")
        #expect(try undo.oid(project, b, "\(tag)_sync") != "none", "the new one is left")
    }

    /// Unchanged, the run's roles are dropped and the rollback says the targets hold what they
    /// held (the fingerprint of a role as made matches itself).
    @Test func anUnchangedRoleIsDroppedByTheRollback() throws {
        let project = try Project()
        let tag = "ru" + UUID().uuidString.prefix(6).lowercased()
        let (a, b) = try undo.setUp(project, tag: tag)
        defer { undo.cleanUp(project, a, b, tag: tag) }
        try pg.sql(project, a, "postgres", "ALTER ROLE \(tag)_sync VALID UNTIL '2031-02-03' CONNECTION LIMIT 7; ALTER ROLE \(tag)_sync SET work_mem = '9MB'; COMMENT ON ROLE \(tag)_sync IS 'source comment';")
        let runID = try CheckpointGoneRollbackTests().committedRun(project)
        #expect(try undo.oid(project, b, "\(tag)_sync") != "none")
        let rollback = try project.run("rollback", runID)
        #expect(rollback.code == 0 && rollback.stdout.contains("its targets hold what they held before it") && !rollback.stdout.contains("role \"\(tag)_sync\" kept")
                && !rollback.stdout.contains("noted above"), "\(rollback.all)")
        #expect(try undo.oid(project, b, "\(tag)_sync") == "none" && undo.oid(project, b, "\(tag)_two") == "none", "both dropped")
    }

    /// Killed once the sync is done (before `usersSynced`), the user changes the run's role;
    /// `ferry recover` keeps it, never "as they were".
    @Test func aRoleTheUserChangedAfterAKillIsKeptByTheRecover() throws {
        for change in ["ALTER ROLE %r VALID UNTIL '2030-01-01'", "ALTER ROLE %r PASSWORD 'user-new-pw'"] {
            let project = try Project()
            let tag = "rk" + UUID().uuidString.prefix(6).lowercased()
            let (a, b) = try undo.setUp(project, tag: tag)
            defer { undo.cleanUp(project, a, b, tag: tag) }
            let (run, _) = try writes.startStopped(project, at: "before-usersSynced#1")
            defer { if run.isRunning { run.signal(SIGKILL) } }
            let role = "\(tag)_sync"
            try pg.sql(project, b, "postgres", change.replacingOccurrences(of: "%r", with: role) + ";")
            let changed = try attributes(project, b, role)
            run.signal(SIGKILL)
            run.waitUntilExit()
            let recover = try project.run("recover")
            #expect(recover.code == 0 && recover.stdout.contains("role \"\(role)\" kept: it was changed since the run made it"), "\(change): \(recover.all)")
            #expect(!recover.stdout.contains("as they were") && recover.stdout.contains("leaving"), "\(change): \(recover.all)")
            #expect(try attributes(project, b, role) == changed, "\(change): kept as the user left it")
            #expect(try undo.oid(project, b, "\(tag)_two") == "none", "\(change): the run's other role is dropped")
        }
    }

    // MARK: F6

    /// Starts `args` stopped at `point`; returns the process and its output file.
    func startStopped(_ project: Project, _ args: [String], at point: String) throws -> (Process, String) {
        let log = project.root + "/run-\(UUID().uuidString.prefix(6)).log"
        FileManager.default.createFile(atPath: log, contents: nil)
        project.environment["FERRY_TEST_STOP_AT"] = point
        let process = try project.start(args, stdout: FileHandle(forWritingAtPath: log))
        project.environment["FERRY_TEST_STOP_AT"] = nil
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, !LockTimeoutTests.isStopped(process.processIdentifier), process.isRunning { Thread.sleep(forTimeInterval: 0.05) }
        #expect(LockTimeoutTests.isStopped(process.processIdentifier), "stops at \(point): \(writes.output(log))")
        return (process, log)
    }

    /// A committed replace of `TAG_a` (`failingSecondImport`'s first import alone): its run and
    /// its checkpoint.
    func committedReplace(_ project: Project, _ a: PostgresCLITests.Server, tag: String) throws -> (runID: String, checkpoint: String) {
        try writes.failingSecondImport(project, a, tag: tag)
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "pg": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
              "imports": { "ia": { "into": "pg", "database": "\(tag)_a", "from": "data/a.sql", "onExisting": "replace", "owner": "ferry_plain" } } }
            """)
        let runID = try CheckpointGoneRollbackTests().committedRun(project)
        let checkpoint = try pg.databases(project, a, like: "\(tag)_a__ferry_c_%").trimmingCharacters(in: .whitespacesAndNewlines)
        return (runID, checkpoint)
    }

    /// `ferry rollback RUN` stopped right before its swap back (after the checks that found the
    /// checkpoint there), the checkpoint dropped: the rollback says it is gone and what that
    /// means (never a raw SQLSTATE), exit 4, nothing restored, dropped or renamed; `ferry
    /// recover --keep-later-writes` ends it leaving the target.
    @Test func aCheckpointDroppedAsTheRollbackStartsIsSaidToBeGone() throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "rg" + UUID().uuidString.prefix(6).lowercased()
        defer { writes.dropAll(project, a, tag: tag) }
        let (runID, checkpoint) = try committedReplace(project, a, tag: tag)
        let (rollback, log) = try startStopped(project, ["rollback", runID], at: "after-stepStarted#1")
        defer { if rollback.isRunning { rollback.signal(SIGKILL); rollback.signal(SIGCONT) } }
        try pg.sql(project, a, "postgres", "DROP DATABASE \"\(checkpoint)\" WITH (FORCE);")
        let oid = "SELECT oid FROM pg_database WHERE datname = '\(tag)_a';"
        let targetOid = try pg.sql(project, a, "postgres", oid)
        let databases = try pg.databases(project, a, like: "\(tag)%")
        rollback.signal(SIGCONT)
        rollback.waitUntilExit()
        let text = writes.output(log)
        #expect(rollback.terminationStatus == 4, "\(text)")
        #expect(text.contains("pg/\(tag)_a: the checkpoint \(checkpoint) of \(tag)_a is gone") && text.contains("so the rollback cannot put back what it held before run \(runID)"), "\(text)")
        #expect(text.contains("the checkpoints of the targets above are gone") && text.contains("`ferry recover --keep-later-writes`"), "\(text)")
        #expect(!text.contains("SQLSTATE") && !text.contains("does not exist") && !text.contains("mend what the errors above name"), "\(text)")
        #expect(try pg.sql(project, a, "postgres", oid) == targetOid && pg.databases(project, a, like: "\(tag)%") == databases, "nothing restored, dropped or renamed")
        #expect(try pg.sql(project, a, "\(tag)_a", "SELECT count(*) FROM t;") == "2000\n", "the run's data is left")
        let finish = try project.run("recover", "--keep-later-writes")
        #expect(finish.code == 0 || finish.code == 4, "\(finish.all)")
        #expect(try project.run("recover").all.contains("Nothing to recover"))
    }

    /// Round-10 F10: an application drops (or drops and makes again) the target at the moment
    /// `ferry rollback RUN` renames it back (stopped right before its rename transaction): the
    /// rollback says what happened and that nothing was renamed (never the server's raw
    /// `pg_database_datname_index` / "does not exist" text alone), exit 4, checkpoint kept;
    /// `ferry recover` then finishes it: a dropped target's name is free, so the checkpoint is
    /// put back ("restored", true); a database made again under it is the application's, left.
    @Test(arguments: ["dropped", "remade"]) func aTargetDroppedAtTheRollbacksRenameIsSaidNeverRaw(how: String) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "rr" + UUID().uuidString.prefix(6).lowercased()
        defer { writes.dropAll(project, a, tag: tag) }
        let (runID, checkpoint) = try committedReplace(project, a, tag: tag)
        let (rollback, log) = try startStopped(project, ["rollback", runID], at: "postgres.rename#1")
        defer { if rollback.isRunning { rollback.signal(SIGKILL); rollback.signal(SIGCONT) } }
        try pg.sql(project, a, "postgres", "DROP DATABASE \"\(tag)_a\" WITH (FORCE);")
        if how == "remade" { try pg.sql(project, a, "postgres", "CREATE DATABASE \"\(tag)_a\";") }
        let databases = try pg.databases(project, a, like: "\(tag)%")
        rollback.signal(SIGCONT)
        rollback.waitUntilExit()
        let text = writes.output(log)
        #expect(rollback.terminationStatus == 4, "\(how): \(text)")
        #expect(text.contains("nothing was renamed") && !text.contains("restored pg/") && !text.contains("as they were"), "\(how): \(text)")
        if how == "dropped" { #expect(text.contains("another session made, renamed or dropped a database named \(tag)_a"), "\(text)") }
        #expect(try pg.databases(project, a, like: "\(tag)%") == databases, "\(how): nothing renamed")
        let recover = try project.run("recover")
        if how == "dropped" {
            #expect(recover.code == 0 && recover.stdout.contains("restored pg/\(tag)_a from its checkpoint"), "\(recover.all)")
            #expect(try pg.sql(project, a, "\(tag)_a", "SELECT v FROM old;") == "before the run\n", "the checkpoint is back under its name")
        } else {
            #expect(recover.code == 4 && !recover.all.contains("restored pg/"), "\(recover.all)")
            // No undo renames the application's database away: `--discard-later-writes` is not
            // offered as restoring it (round 15, B5), nor in MariaDB's words.
            #expect(!recover.all.contains("--discard-later-writes` restores") && recover.all.contains("cannot restore"), "\(recover.all)")
            #expect(!recover.all.contains("objects made in it"), "\(recover.all)")
            // A refused discard, then the target left as it is: the status names no shadow "to
            // be kept" (nothing was kept under that name: round 15, B5).
            let refused = try project.run("recover", "--discard-later-writes")
            #expect(refused.code == 4 && !refused.all.contains("restored pg/"), "\(refused.all)")
            let kept = try project.run("recover", "--keep-later-writes")
            #expect(kept.code == 0 || kept.code == 4, "\(kept.all)")
            let rollbackRun = try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs").sorted().last)
            let status = try project.run("status", rollbackRun)
            #expect(!status.stdout.contains("to be kept as"), "\(status.all)")
            let plan = try project.run("plan")
            #expect(plan.all.contains("not the run's data") && !plan.all.contains("holds the run's data and those writes"), "\(plan.all)")
            #expect(try pg.databases(project, a, like: "\(checkpoint)") == checkpoint + "\n", "the checkpoint is kept")
        }
    }

    /// The checkpoint dropped while `ferry recover` reads the written target's token (after
    /// the check that found it there): the recover says it is gone, never "kept beside it as";
    /// `ferry status RUN` likewise. And a checkpoint dropped after a recover that kept it:
    /// status says it is gone now.
    @Test(arguments: [true, false]) func aCheckpointDroppedWhileTheRecoverReadsIsNotSaidToBeKept(duringRecover: Bool) throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let tag = "rw" + UUID().uuidString.prefix(6).lowercased()
        defer { writes.dropAll(project, a, tag: tag) }
        let checkpoint = try PostgresCheckpointMessageTests().killedAfterSwap(project, a, tag: tag)
        try pg.sql(project, a, "\(tag)_a", "INSERT INTO t VALUES (99999, 'the application''s');")
        let text: String, code: Int32
        if duringRecover {
            let (recover, log) = try startStopped(project, ["recover"], at: "recover.writtenRead#1")
            defer { if recover.isRunning { recover.signal(SIGKILL); recover.signal(SIGCONT) } }
            try pg.sql(project, a, "postgres", "DROP DATABASE \"\(checkpoint)\" WITH (FORCE);")
            recover.signal(SIGCONT)
            recover.waitUntilExit()
            (text, code) = (writes.output(log), recover.terminationStatus)
        } else {
            let recover = try project.run("recover")
            (text, code) = (recover.all, recover.code)
            #expect(text.contains("kept beside it as \(checkpoint)"), "the checkpoint is there: \(text)")
            try pg.sql(project, a, "postgres", "DROP DATABASE \"\(checkpoint)\" WITH (FORCE);")
        }
        #expect(code == 4, "\(text)")
        if duringRecover {
            #expect(text.contains("the checkpoint \(checkpoint) of \(tag)_a is gone") && text.contains("what it held before the run cannot be restored"), "\(text)")
            #expect(!text.contains("kept beside it as") && !text.contains("SQLSTATE"), "\(text)")
        }
        #expect(try pg.sql(project, a, "\(tag)_a", "SELECT v FROM t WHERE id = 99999;") == "the application's\n", "the target is left with the write")
        let runID = try #require(try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs").first { $0.hasPrefix("20") })
        let status = try project.run("status", runID)
        #expect(!status.all.contains("what it held before the run is \(checkpoint)"), "\(status.all)")
        #expect(status.all.contains("what it held before the run was \(checkpoint), which is gone now"), "\(status.all)")
        #expect(try project.run("recover").all.contains("Nothing to recover"))
    }
}
