import Foundation
import Testing

/// Issue 19's check "the target server killed mid-copy (exit 4, `recover` restores it)", on a
/// third throwaway cluster (scripts/postgres-servers.sh start-extra): the two shared clusters
/// serve every other test meanwhile.
extension PostgresCLITests {
    /// Runs the repository's scripts/postgres-servers.sh (`Project.serverScript`).
    func postgresServerScript(_ project: Project, _ arguments: String) -> (code: Int32, output: String) {
        project.serverScript("postgres-servers.sh", arguments)
    }

    /// The target cluster dies (every process SIGKILLed) while the copy loads its shadow: apply
    /// cannot finish its rollback (exit 4), plans refuse until `ferry recover`, which, once the
    /// cluster is back (crash recovery), leaves the target database exactly as it was, with no
    /// shadow, checkpoint or claim; the next apply goes through.
    @Test func targetServerKilledMidCopyThenRecoverRestoresTheOldState() throws {
        let project = try Project()
        let a = try server("FERRY_TEST_PG_A"), b = try server("FERRY_TEST_PG_B")
        let port = ProcessInfo.processInfo.environment["FERRY_TEST_PG_PORT_C"] ?? String((Int(b.port) ?? 25433) + 1)
        let started = postgresServerScript(project, "start-extra c \(port)")
        try #require(started.code == 0, "cannot start a third PostgreSQL cluster: \(started.output)")
        defer { _ = postgresServerScript(project, "stop-extra c") }
        let c = Server(url: "postgres://ferry@127.0.0.1:\(port)/postgres", host: "127.0.0.1", port: port)
        let tag = "pt" + UUID().uuidString.prefix(6).lowercased()
        try sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\";")
        defer { _ = try? sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);") }
        try sql(project, a, tag, """
            CREATE TABLE big (id bigint PRIMARY KEY, v text);
            INSERT INTO big SELECT g, 'row-' || g || '-' || repeat('x', 200) FROM generate_series(1, 600000) g;
            CREATE TABLE small (k int PRIMARY KEY); INSERT INTO small SELECT generate_series(1, 10);
            """)
        try sql(project, c, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\";")
        try sql(project, c, tag, """
            CREATE TABLE big (id bigint PRIMARY KEY, v text); INSERT INTO big VALUES (1, 'old'), (2, 'kept');
            CREATE TABLE extra (k text PRIMARY KEY); INSERT INTO extra VALUES ('only-here');
            CREATE VIEW v AS SELECT id FROM big;
            CREATE SEQUENCE s START 40; SELECT nextval('s');
            """)
        // (Not the sequence's value: PostgreSQL logs sequences 32 values ahead, so its crash
        // recovery moves `last_value` on by itself, whoever killed it.)
        let snapshot = """
            SELECT 'big', id, v FROM big UNION ALL SELECT 'extra', 0, k FROM extra ORDER BY 1, 2;
            SELECT pg_get_viewdef('v'::regclass); SELECT is_called FROM s;
            SELECT string_agg(relname || ':' || relkind::text, ',' ORDER BY relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace;
            """
        let before = try sql(project, c, tag, snapshot)
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": {
                "src": { "engine": "postgres", "url": "\(a.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } },
                "dst": { "engine": "postgres", "url": "\(c.url)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
              "copies": { "mirror": { "from": "src", "to": "dst", "databases": ["\(tag)"], "onExisting": "replace" } } }
            """)

        let log = project.root + "/apply.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let process = try project.start(["apply", "--auto-approve"], stdout: try FileHandle(forWritingTo: URL(fileURLWithPath: log)))
        defer { if process.isRunning { process.terminate() } }
        // Killed while rows flow into the shadow.
        var loading = false
        let deadline = Date().addingTimeInterval(60)
        while !loading && process.isRunning && Date() < deadline {
            let busy = try sql(project, c, "postgres", "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE '\(tag)__ferry_s_%' AND query LIKE 'COPY %FROM STDIN%';",
                               expectSuccess: false)
            loading = busy.trimmingCharacters(in: .whitespacesAndNewlines) != "0" && !busy.isEmpty
        }
        #expect(loading, "the copy never reached its data load: \(project.read("apply.log") ?? "")")
        let killed = postgresServerScript(project, "kill-extra c")
        #expect(killed.code == 0, "\(killed.output)")
        let exitDeadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < exitDeadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { process.terminate(); Issue.record("ferry apply did not stop after its target died") }
        process.waitUntilExit()
        let output = project.read("apply.log") ?? ""
        #expect(process.terminationStatus == 4 && !output.contains("as they were"), "a rollback that cannot reach the target is incomplete (exit 4): \(output)")

        let restarted = postgresServerScript(project, "start-extra c \(port)")
        try #require(restarted.code == 0, "\(restarted.output)")
        let refused = try project.run("plan")
        #expect(refused.code == 1 && refused.stderr.contains("RunInterrupted"), "\(refused.all)")
        let recovered = try project.run("recover")
        #expect(recovered.code == 0 && recovered.all.contains("as they were"), "\(recovered.all)")
        #expect(try sql(project, c, tag, snapshot) == before, "the target is exactly as it was")
        #expect(try databases(project, c, like: "\(tag)%") == "\(tag)\n", "no shadow or checkpoint stays")
        // And the next apply goes through.
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        #expect(try sql(project, c, tag, "SELECT count(*) FROM big;") == "600000\n")
        #expect(try databases(project, c, like: "\(tag)__ferry_s_%") == "", "no shadow stays (its checkpoint does: `ferry rollback`)")
    }
}
