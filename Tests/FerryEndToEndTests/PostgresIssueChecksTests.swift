import Foundation
import Testing

/// Checks of issue 19 (the PostgreSQL engine) that had no test of their own, through `ferry` on
/// the PostgreSQL test clusters: the plan-time errors (storage limit, name clash, unknown host,
/// a client older than the server: SPEC §3, each refused with its code, apply changing
/// nothing), `at` on a copy, and loads made with `COPY ... FREEZE`.
extension PostgresCLITests {
    @Test func storageLimitNameClashAndUnknownHostArePlanErrors() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_PG_A"), b = try server("FERRY_TEST_PG_B")
        let tag = "pe" + UUID().uuidString.prefix(6).lowercased()
        try seed(project, a, tag)
        try sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); DROP DATABASE IF EXISTS \"\(tag)_taken\" WITH (FORCE); CREATE DATABASE \"\(tag)_taken\";")
        try sql(project, b, "\(tag)_taken", "CREATE TABLE mine (x int); INSERT INTO mine VALUES (7);")
        defer {
            _ = try? sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
            _ = try? sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); DROP DATABASE IF EXISTS \"\(tag)_taken\" WITH (FORCE);")
        }
        let untouched = try databases(project, b, like: "\(tag)%")
        func plan(target: String = "", databases: String, copy: String = "") -> String {
            """
            { "ferry": 1, "instances": {
                "src": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } },
                "dst": { "engine": "postgres", "url": "\(b.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" }\(target) } },
              "copies": { "mirror": { "from": "src", "to": "dst", "databases": \(databases)\(copy) } } }
            """
        }

        // A storageLimit too small for what the copy brings.
        try project.write("plans/main.json", plan(target: #", "storageLimit": "16 KiB""#, databases: "[\"\(tag)\"]"))
        let limited = try project.run("plan")
        #expect(limited.code == 1 && limited.stderr.contains("error[StorageLimitExceeded]")
                && limited.stderr.contains("instances.dst.storageLimit"), "\(limited.all)")
        let refused = try project.run("apply", "--auto-approve")
        #expect(refused.code != 0 && refused.stderr.contains("StorageLimitExceeded"), "\(refused.all)")
        #expect(try databases(project, b, like: "\(tag)%") == untouched, "a refused apply changes nothing")

        // A target that exists and is not this copy's: NameConflict unless onExisting allows it.
        try project.write("plans/main.json", plan(databases: "{ \"\(tag)\": \"\(tag)_taken\" }"))
        let clash = try project.run("plan")
        #expect(clash.code == 1 && clash.stderr.contains("error[NameConflict]") && clash.stderr.contains("\(tag)_taken")
                && clash.stderr.contains("onExisting"), "\(clash.all)")
        #expect(try project.run("apply", "--auto-approve").code != 0)
        #expect(try sql(project, b, "\(tag)_taken", "SELECT x FROM mine;") == "7\n")

        // A host name that does not resolve (`.invalid` never does, RFC 6761): the instance
        // cannot be reached, said with its name and no password.
        let unknown = plan(databases: "[\"\(tag)\"]").replacingOccurrences(of: b.url, with: "postgres://ferry@no-such-host.invalid:\(b.port)/postgres")
        try project.write("plans/main.json", unknown)
        let unreachable = try project.run("plan")
        #expect(unreachable.code == 1 && unreachable.stderr.contains("InstanceNotFound") && unreachable.stderr.contains("no-such-host.invalid")
                && !unreachable.all.contains(ProcessInfo.processInfo.environment["FERRY_TEST_PG_PASSWORD"] ?? "\u{0}"), "\(unreachable.all)")
        #expect(try databases(project, b, like: "\(tag)%") == untouched)
    }

    /// Issue 19: a client older than the server (`pg_dump` 12 against the test clusters) is a
    /// plan-time `VersionMismatch` with the way out, and apply changes nothing. The old client
    /// is a stand-in `pg_dump` that only answers `--version`, found through `FERRY_PG_BIN`.
    @Test func aClientOlderThanTheServerIsAPlanTimeVersionMismatch() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_PG_A"), b = try server("FERRY_TEST_PG_B")
        let tag = "pv" + UUID().uuidString.prefix(6).lowercased()
        try seed(project, a, tag)
        try sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
        defer {
            _ = try? sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
            _ = try? sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
        }
        try project.write("old-client/pg_dump", "#!/bin/sh\necho 'pg_dump (PostgreSQL) 12.22'\n")
        _ = try project.runShell("chmod 755 old-client/pg_dump")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(instances(a, b)) },
              "copies": { "mirror": { "from": "src", "to": "dst", "databases": ["\(tag)"] } } }
            """)
        let server = try sql(project, b, "postgres", "SELECT current_setting('server_version_num')::int / 10000;").trimmingCharacters(in: .whitespacesAndNewlines)
        project.environment["FERRY_PG_BIN"] = project.root + "/old-client"
        let planned = try project.run("plan")
        let applied = try project.run("apply", "--auto-approve")
        project.environment["FERRY_PG_BIN"] = nil
        #expect(planned.code == 1 && planned.stderr.contains("error[VersionMismatch]") && planned.stderr.contains("pg_dump 12 is older than the PostgreSQL \(server) server")
                && planned.stderr.contains("postgresql-client-\(server)") && planned.stderr.contains("FERRY_PG_BIN"), "\(planned.all)")
        #expect(applied.code == 1 && applied.stderr.contains("VersionMismatch"), "\(applied.all)")
        #expect(try databases(project, b, like: "\(tag)%") == "", "nothing was made on the target")
        // With the real client the same plan goes through.
        #expect(try project.run("plan").code == 0)
    }

    /// Issue 19, point 8: `at` on a PostgreSQL copy restores from the newest backup set taken at
    /// or before that moment: two sets with a change between them, a copy `at` a moment between
    /// them restores the first, one `at` a later moment the second.
    @Test func aCopyAtAMomentRestoresTheNewestSetTakenByThen() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_PG_A"), b = try server("FERRY_TEST_PG_B")
        let tag = "pa" + UUID().uuidString.prefix(6).lowercased()
        try seed(project, a, tag)
        try sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)_then\" WITH (FORCE); DROP DATABASE IF EXISTS \"\(tag)_now\" WITH (FORCE);")
        defer {
            _ = try? sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
            _ = try? sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)_then\" WITH (FORCE); DROP DATABASE IF EXISTS \"\(tag)_now\" WITH (FORCE);")
        }
        func plan(copies: String) -> String {
            """
            { "ferry": 1, "instances": { \(instances(a, b)) },
              "backups": { "nightly": { "of": "src", "databases": ["\(tag)"], "to": "../backups" } }\(copies) }
            """
        }
        let notes = "SELECT count(*), md5(string_agg(ROW(n.*)::text, ',' ORDER BY id)) FROM notes n;"
        let stamp = ISO8601DateFormatter()
        try project.write("plans/main.json", plan(copies: ""))
        let first = try project.run("backup", "nightly")
        #expect(first.code == 0, "\(first.all)")
        let then = try sql(project, a, tag, notes)
        Thread.sleep(forTimeInterval: 1.2)
        let between = stamp.string(from: Date())
        Thread.sleep(forTimeInterval: 1.2)
        try sql(project, a, tag, "DELETE FROM notes WHERE id > 100;")
        let second = try project.run("backup", "nightly")
        #expect(second.code == 0, "\(second.all)")
        let now = try sql(project, a, tag, notes)
        #expect(then != now)
        Thread.sleep(forTimeInterval: 1.2)
        let later = stamp.string(from: Date())
        try sql(project, a, tag, "DELETE FROM notes;")
        try project.write("plans/main.json", plan(copies: """
            ,
              "copies": {
                "then": { "from": "src", "to": "dst", "databases": { "\(tag)": "\(tag)_then" }, "at": "\(between)" },
                "now": { "from": "src", "to": "dst", "databases": { "\(tag)": "\(tag)_now" }, "at": "\(later)" } }
            """))
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        #expect(try sql(project, b, "\(tag)_then", notes) == then, "the set taken before \(between)")
        #expect(try sql(project, b, "\(tag)_now", notes) == now, "the set taken before \(later), not the source as it is")
        #expect(try databases(project, b, like: "\(tag)%") == "\(tag)_now\n\(tag)_then\n", "no shadow stays")
    }

    /// Issue 19, point 3: a table loaded whole by one worker in the transaction that truncated
    /// it is loaded with `COPY ... FREEZE`: every page of the copy is all-frozen in the
    /// visibility map right after the apply (PostgreSQL 14+ sets it for a frozen load), so no
    /// later VACUUM has to rewrite it. (`pg_visibility` is made in the copy, the test's own.)
    @Test func wholeTablesAreLoadedFrozen() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_PG_A"), b = try server("FERRY_TEST_PG_B")
        let tag = "pf" + UUID().uuidString.prefix(6).lowercased()
        try seed(project, a, tag)
        try sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
        defer {
            _ = try? sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
            _ = try? sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
        }
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(instances(a, b)) },
              "copies": { "mirror": { "from": "src", "to": "dst", "databases": ["\(tag)"] } } }
            """)
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        try sql(project, b, tag, "CREATE EXTENSION IF NOT EXISTS pg_visibility;")
        for table in ["items", "notes", "more"] {
            let pages = try sql(project, b, tag, "SELECT count(*), count(*) FILTER (WHERE all_frozen) FROM pg_visibility_map('\(table)');")
            let parts = pages.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|")
            #expect(parts.count == 2 && parts[0] != "0" && parts[0] == parts[1], "\(table): pages, all-frozen pages: \(pages)")
        }
        // The source's own pages, written by ordinary INSERTs, are not: the check can fail.
        try sql(project, a, tag, "CREATE EXTENSION IF NOT EXISTS pg_visibility;")
        let source = try sql(project, a, tag, "SELECT count(*) FILTER (WHERE all_frozen) FROM pg_visibility_map('items');")
        #expect(source == "0\n", "\(source)")
    }

    /// Issue 19, point 4, through `ferry`: an application's session on the target is named by
    /// the plan (a warning); the apply's swap waits for it a bounded time, then fails with
    /// `OperationDenied.WrongStatus` naming it and rolls back (exit 3, the target as it was,
    /// the session alive); with `"terminateSessions": true` the swap ends it and the copy lands.
    @Test func aSessionOnTheTargetIsNamedAndWaitedForUnlessTheInstanceLetsFerryEndIt() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_PG_A"), b = try server("FERRY_TEST_PG_B")
        let tag = "pw" + UUID().uuidString.prefix(6).lowercased()
        try seed(project, a, tag)
        try sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\";")
        try sql(project, b, tag, "CREATE TABLE old (v text); INSERT INTO old VALUES ('before');")
        defer {
            _ = try? sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
            _ = try? sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
        }
        func plan(terminate: Bool) -> String {
            """
            { "ferry": 1, "instances": {
                "src": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } },
                "dst": { "engine": "postgres", "url": "\(b.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" }\(terminate ? #", "terminateSessions": true"# : "") } },
              "copies": { "mirror": { "from": "src", "to": "dst", "databases": ["\(tag)"], "onExisting": "replace" } } }
            """
        }
        let holder = try holdSession(b, tag)
        defer { release(holder, project, b, tag) }
        var pid = ""
        for _ in 0..<100 where pid.isEmpty {
            pid = try sql(project, b, "postgres", "SELECT pid FROM pg_stat_activity WHERE application_name = 'ferry_test_holder' AND datname = '\(tag)';")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            if pid.isEmpty { Thread.sleep(forTimeInterval: 0.05) }
        }
        try #require(!pid.isEmpty, "the application's session is on the target")
        try project.write("plans/main.json", plan(terminate: false))
        let planned = try project.run("plan")
        #expect(planned.code == 0 && planned.all.contains("warning[") && planned.all.contains("pid \(pid)")
                && planned.all.contains("fails with OperationDenied.WrongStatus"), "\(planned.all)")
        project.environment["FERRY_PG_SWAP_WAIT_SECONDS"] = "1"
        let waited = try project.run("apply", "--auto-approve")
        #expect(waited.code == 3 && waited.all.contains("OperationDenied.WrongStatus") && waited.all.contains("pid \(pid)")
                && waited.all.contains("terminateSessions"), "\(waited.all)")
        #expect(try sql(project, b, tag, "SELECT v FROM old;") == "before\n", "the target is as it was")
        #expect(try databases(project, b, like: "\(tag)%") == "\(tag)\n", "no shadow stays")
        #expect(try sql(project, b, "postgres", "SELECT count(*) FROM pg_stat_activity WHERE pid = \(pid);") == "1\n", "the session was not ended")

        try project.write("plans/main.json", plan(terminate: true))
        let ended = try project.run("apply", "--auto-approve")
        project.environment["FERRY_PG_SWAP_WAIT_SECONDS"] = nil
        #expect(ended.code == 0, "\(ended.all)")
        #expect(try sql(project, b, tag, "SELECT count(*) FROM items;") == "20000\n")
        holder.waitUntilExit()
        #expect(try sql(project, b, "postgres", "SELECT count(*) FROM pg_stat_activity WHERE pid = \(pid);") == "0\n", "Ferry ended the session, as allowed")
    }
}
