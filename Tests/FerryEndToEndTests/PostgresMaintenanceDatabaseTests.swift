import Foundation
import Testing

/// What the database named in a PostgreSQL instance's url (Ferry's maintenance database) means
/// for a plan, refused at plan time instead of failing at apply, nothing changed:
/// - round-9 fresh tester F7: under a non-UTF-8 maintenance database (LATIN1), a name it holds in
///   other bytes than UTF-8 (`café`: made, then unreachable, "has no database café__ferry_s_...")
///   or cannot hold at all (`café☕`, Cyrillic: 22P05), for imports and both sides of a copy;
/// - round-8 F12: a `replace` or `append` into the maintenance database itself (or into another
///   plan instance's on the same server), which the swap cannot rename ("current database cannot
///   be renamed").
@Suite(.serialized) struct PostgresMaintenanceDatabaseTests {
    let pg = PostgresCLITests()

    func instance(_ name: String, _ server: PostgresCLITests.Server, database: String) -> String {
        let url = server.url.replacingOccurrences(of: "/postgres", with: "/\(database)")
        return "\"\(name)\": { \"engine\": \"postgres\", \"url\": \"\(url)\", \"password\": { \"env\": \"FERRY_TEST_PG_PASSWORD\" } }"
    }

    /// The databases on both servers whose names hold `tag` (every name a run of these plans
    /// would make: shadows and checkpoints hold their database's name), by name and oid, and
    /// the maintenance database's oid: what "nothing changed" compares (other suites may make
    /// databases and roles on the same servers meanwhile).
    func everything(_ project: Project, _ servers: [PostgresCLITests.Server], tag: String) throws -> String {
        try servers.map {
            try pg.sql(project, $0, "postgres", "SELECT datname || ' ' || oid FROM pg_database WHERE strpos(datname, '\(tag)') > 0 OR datname = 'postgres' ORDER BY 1;")
        }.joined(separator: "\n--\n")
    }

    @Test func namesALatin1MaintenanceDatabaseCannotServeAreRefusedAtPlanTime() throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A"), b = try pg.server("FERRY_TEST_PG_B")
        let tag = "lt" + UUID().uuidString.prefix(6).lowercased()
        let lat = "\(tag)lat", src = "\(tag)src"
        defer {
            for (server, db) in [(b, lat), (a, src)] { _ = try? pg.sql(project, server, "postgres", "DROP DATABASE IF EXISTS \"\(db)\" WITH (FORCE);") }
        }
        try pg.sql(project, b, "postgres", "CREATE DATABASE \"\(lat)\" ENCODING 'LATIN1' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C';")
        try pg.sql(project, a, "postgres", "CREATE DATABASE \"\(src)\";")
        try pg.sql(project, a, src, "CREATE TABLE t (v int); INSERT INTO t VALUES (1);")
        try project.write("plans/data/t.sql", "CREATE TABLE t (v int);\nINSERT INTO t VALUES (1);\n")
        // The finding's names (LATIN1 holds é in other bytes; ☕ and Cyrillic not at all), into
        // the LATIN1 instance by import and by copy, and out of it by copy.
        let held = "café\(tag)", notHeld = "café☕\(tag)", cyrillic = "ѕhop\(tag)", copied = "\(tag)é", back = "ü\(tag)"
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(instance("pl", b, database: lat)), \(instance("pa", a, database: "postgres")) },
              "imports": {
                "held": { "into": "pl", "database": "\(held)", "from": "data/t.sql" },
                "notheld": { "into": "pl", "database": "\(notHeld)", "from": "data/t.sql" },
                "cyrillic": { "into": "pl", "database": "\(cyrillic)", "from": "data/t.sql" },
                "ascii": { "into": "pl", "database": "\(tag)ok", "from": "data/t.sql" } },
              "copies": {
                "into": { "from": "pa", "to": "pl", "databases": { "\(src)": "\(copied)" } },
                "outof": { "from": "pl", "to": "pa", "databases": { "\(back)": "\(tag)back" } } } }
            """)
        let before = try everything(project, [a, b], tag: tag)
        let plan = try project.run("plan")
        #expect(plan.code == 1, "\(plan.all)")
        for (name, path) in [(held, "imports.held.database"), (notHeld, "imports.notheld.database"), (cyrillic, "imports.cyrillic.database"),
                             (copied, "copies.into.databases.\(src)"), (back, "copies.outof.databases.\(back)")] {
            let line = plan.all.split(separator: "\n").first { $0.contains("cannot use a database named \"\(name)\"") }
            #expect(line?.contains("InvalidParameter") == true, "\(name): \(plan.all)")
            #expect(plan.all.contains("(\(path))"), "\(name) at \(path): \(plan.all)")
        }
        #expect(plan.all.contains("is LATIN1, which holds é (U+00E9) in other bytes than UTF-8"), "\(plan.all)")
        #expect(plan.all.contains("is LATIN1, which cannot hold ☕ (U+2615)"), "\(plan.all)")
        #expect(plan.all.contains("which cannot hold ѕ (U+0455)"), "\(plan.all)")
        #expect(plan.all.contains("point the instance's url at a UTF-8 (or SQL_ASCII) database"), "\(plan.all)")
        #expect(!plan.all.contains("\"\(tag)ok\": ") && !plan.all.contains("named \"\(tag)ok\""), "an ASCII name is usable: \(plan.all)")
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 1 && apply.all.contains("cannot use a database named \"\(held)\""), "\(apply.all)")
        #expect(try everything(project, [a, b], tag: tag) == before, "nothing was made, dropped or renamed")

        // The ASCII names alone plan; the same non-ASCII names under a UTF-8 maintenance
        // database are usable.
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(instance("pl", b, database: lat)), \(instance("pu", b, database: "postgres")) },
              "imports": { "ascii": { "into": "pl", "database": "\(tag)ok", "from": "data/t.sql" },
                           "held": { "into": "pu", "database": "\(held)", "from": "data/t.sql" },
                           "notheld": { "into": "pu", "database": "\(notHeld)", "from": "data/t.sql" } } }
            """)
        let fine = try project.run("plan", "--detailed-exitcode")
        #expect(fine.code == 2 && !fine.all.contains("cannot use a database named"), "\(fine.all)")
    }

    @Test func aReplaceIntoADatabaseFerryStaysConnectedToIsRefusedAtPlanTime() throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A"), b = try pg.server("FERRY_TEST_PG_B")
        let tag = "md" + UUID().uuidString.prefix(6).lowercased()
        let held = "\(tag)held", src = "\(tag)src"
        defer {
            for db in [held, src, "\(tag)other"] { _ = try? pg.sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(db)\" WITH (FORCE);") }
        }
        try pg.sql(project, a, "postgres", "CREATE DATABASE \"\(held)\"; CREATE DATABASE \"\(src)\";")
        try pg.sql(project, a, src, "CREATE TABLE t (v int); INSERT INTO t VALUES (1);")
        try project.write("plans/data/t.sql", "CREATE TABLE t (v int);\nINSERT INTO t VALUES (1);\n")
        // The finding's import `replace` into `postgres`; an `append` into it; a copy replacing
        // another server's `postgres`; and a replace of the database another instance of the plan
        // on the same server is connected to.
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(instance("pa", a, database: "postgres")), \(instance("pb", b, database: "postgres")),
                                         \(instance("ph", a, database: held)) },
              "imports": {
                "replace": { "into": "pa", "database": "postgres", "from": "data/t.sql", "onExisting": "replace" },
                "other": { "into": "ph", "database": "\(tag)other", "from": "data/t.sql" },
                "held": { "into": "pa", "database": "\(held)", "from": "data/t.sql", "onExisting": "replace" } },
              "copies": { "tob": { "from": "pa", "to": "pb", "databases": { "\(src)": "postgres" }, "onExisting": "replace" } } }
            """)
        let before = try everything(project, [a, b], tag: tag)
        let plan = try project.run("plan")
        #expect(plan.code == 1, "\(plan.all)")
        for (ref, whose, path) in [("pa/postgres", "instance pa's url", "imports.replace.database"),
                                   ("pb/postgres", "instance pb's url", "copies.tob.databases.\(src)"),
                                   ("pa/\(held)", "the url of instance ph, on the same server", "imports.held.database")] {
            let line = plan.all.split(separator: "\n").first { $0.contains("\(ref) cannot be replaced: it is the database named in \(whose)") }
            #expect(line?.contains("InvalidParameter") == true, "\(ref) (\(whose)): \(plan.all)")
            #expect(plan.all.contains("(\(path))"), "\(ref) at \(path): \(plan.all)")
        }
        #expect(plan.all.contains("cannot be renamed, so the swap would fail after the build"), "\(plan.all)")
        #expect(plan.all.contains("point pa's url at another database of that server that no plan writes"), "\(plan.all)")
        #expect(plan.all.contains("point ph's url at another database"), "\(plan.all)")
        #expect(!plan.all.contains("\(tag)other cannot be replaced"), "a create is not refused: \(plan.all)")
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 1 && apply.all.contains("pa/postgres cannot be replaced"), "\(apply.all)")
        // An `append` into it swaps too.
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(instance("pa", a, database: "postgres")) },
              "imports": { "append": { "into": "pa", "database": "postgres", "from": "data/t.sql", "onExisting": "append" } } }
            """)
        let append = try project.run("plan")
        #expect(append.code == 1 && append.all.contains("pa/postgres cannot be replaced: it is the database named in instance pa's url")
                && append.all.contains("(imports.append.database)"), "\(append.all)")
        #expect(try everything(project, [a, b], tag: tag) == before, "nothing was made, dropped or renamed")
    }

    /// A state kept on a PostgreSQL server (`--state postgres://.../DB`): a `replace` or `append`
    /// of DB itself by a plan instance on that server is refused at plan time (the state's lock
    /// session stays connected to DB for the whole run, so its swap could only fail or, with
    /// `terminateSessions`, end the run's own hold on the state), nothing changed; the same plan
    /// with the state in another database plans the replace.
    @Test func aReplaceOfTheStatesOwnDatabaseIsRefusedAtPlanTime() throws {
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A")
        let password = try #require(ProcessInfo.processInfo.environment["FERRY_TEST_PG_PASSWORD"])
        let tag = "st" + UUID().uuidString.prefix(6).lowercased()
        let stateDB = "\(tag)state", otherDB = "\(tag)other"
        defer {
            for db in [stateDB, otherDB] { _ = try? pg.sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(db)\" WITH (FORCE);") }
        }
        try pg.sql(project, a, "postgres", "CREATE DATABASE \"\(stateDB)\"; CREATE DATABASE \"\(otherDB)\";")
        try project.write("plans/data/t.sql", "CREATE TABLE t (v int);\nINSERT INTO t VALUES (1);\n")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(instance("pa", a, database: "postgres")) },
              "imports": { "st": { "into": "pa", "database": "\(stateDB)", "from": "data/t.sql", "onExisting": "replace" } } }
            """)
        func state(_ database: String) -> String {
            a.url.replacingOccurrences(of: "://ferry@", with: "://ferry:\(password)@").replacingOccurrences(of: "/postgres", with: "/\(database)") + "?schema=\(tag)"
        }
        let before = try pg.sql(project, a, "postgres", "SELECT datname || ' ' || oid FROM pg_database WHERE strpos(datname, '\(tag)') > 0 ORDER BY 1;")
        let plan = try project.run("plan", "--state", state(stateDB))
        #expect(plan.code == 1 && plan.all.contains("InvalidParameter") && plan.all.contains("pa/\(stateDB) cannot be replaced: it holds Ferry's state"), "\(plan.all)")
        #expect(plan.all.contains("(imports.st.database)"), "\(plan.all)")
        #expect(!plan.all.contains(password), "no secret in the message")
        let apply = try project.run("apply", "--auto-approve", "--state", state(stateDB))
        #expect(apply.code == 1 && apply.all.contains("holds Ferry's state"), "\(apply.all)")
        #expect(try pg.sql(project, a, "postgres", "SELECT datname || ' ' || oid FROM pg_database WHERE strpos(datname, '\(tag)') > 0 ORDER BY 1;") == before, "nothing changed")
        // The state in another database: the same replace plans.
        let elsewhere = try project.run("plan", "--state", state(otherDB))
        #expect(elsewhere.code != 1 && !elsewhere.all.contains("holds Ferry's state"), "\(elsewhere.all)")
        _ = try? pg.sql(project, a, stateDB, "DROP SCHEMA IF EXISTS \(tag) CASCADE;")
        _ = try? pg.sql(project, a, otherDB, "DROP SCHEMA IF EXISTS \(tag) CASCADE;")
    }
}
