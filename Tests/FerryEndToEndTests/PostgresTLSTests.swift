import Foundation
import Testing

/// Issue 19's `sslmode` points, against a real server that serves TLS: a throwaway cluster
/// (`scripts/postgres-servers.sh start-extra NAME PORT --tls`: a certificate for DNS:localhost
/// signed by a test CA). What the server saw is read on the server (its `pg_hba.conf` refusing
/// every session without TLS, or every one with it), not taken from Ferry's word.
extension PostgresCLITests {
    /// The TLS cluster's port: FERRY_TEST_PG_PORT_TLS, else B's port + 2 (C, the killed-server
    /// cluster, takes + 1).
    func tlsClusterPort(_ b: Server) -> String {
        ProcessInfo.processInfo.environment["FERRY_TEST_PG_PORT_TLS"] ?? String((Int(b.port) ?? 25433) + 2)
    }

    /// Starts the TLS cluster; its CA file and a second CA's (one that signed nothing).
    func startTLSCluster(_ project: Project, port: String) throws -> (ca: String, otherCA: String) {
        let started = project.startExtraServer("postgres-servers.sh", "tls \(port) --tls")
        try #require(started.code == 0, "cannot start the TLS cluster: \(started.output)")
        let line = { (prefix: String) in
            started.output.split(separator: "\n").first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
        }
        return (try #require(line("tls ca: ")), try #require(line("tls other ca: ")))
    }

    /// Writes `rules` before the cluster's own `pg_hba.conf` lines (the first match wins) and
    /// reloads; `nil` puts the original back. Waits until a session without TLS is accepted or
    /// refused as `plainAccepted` says (default: refused under rules, accepted without).
    func setHBA(_ project: Project, _ server: Server, prepending rules: String?, plainAccepted: Bool? = nil) throws {
        let file = try sql(project, server, "postgres", "SHOW hba_file;").trimmingCharacters(in: .whitespacesAndNewlines)
        let original = file + ".ferry-test-original"
        if !FileManager.default.fileExists(atPath: original) {
            try FileManager.default.copyItem(atPath: file, toPath: original)
        }
        let base = try String(contentsOfFile: original, encoding: .utf8)
        // Written in place (not atomically): the file keeps its owner, the cluster's.
        let handle = try #require(FileHandle(forWritingAtPath: file))
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: Data(((rules.map { $0 + "\n" } ?? "") + base).utf8))
        try handle.close()
        try sql(project, server, "postgres", "SELECT pg_reload_conf();")
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            let plain = try project.runShell("PGPASSWORD=\"$FERRY_TEST_PG_PASSWORD\" psql -X -A -t -c 'SELECT 1' 'host=\(server.host) port=\(server.port) user=ferry dbname=postgres sslmode=disable'")
            if (plain.code == 0) == (plainAccepted ?? (rules == nil)) { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        Issue.record("the cluster's pg_hba.conf was not reloaded within 15 s")
    }

    /// `sslmode=require` on a server that refuses every session without TLS (`hostnossl ...
    /// reject`): a whole copy, Ferry's own sessions and the `pg_dump` it runs, goes through, so
    /// each of them was TLS; the same plan with `sslmode=disable` is refused there before
    /// anything changes (so the mode reaches libpq); `verify-full` with the test CA in
    /// `PGSSLROOTCERT` connects to `localhost`, and is refused for `127.0.0.1` (not the
    /// certificate's name) and for a CA that did not sign the certificate, with
    /// `InstanceNotFound` naming the cause and no secret; on a server that refuses every TLS
    /// session (`hostssl ... reject`), `disable` is taken and `require` refused.
    @Test func sslModesOnAServerThatServesTLS() throws {
        let project = try Project()
        let b = try server("FERRY_TEST_PG_B")
        let port = tlsClusterPort(b)
        _ = postgresServerScript(project, "stop-extra tls")
        let (ca, otherCA) = try startTLSCluster(project, port: port)
        defer { _ = postgresServerScript(project, "stop-extra tls") }
        let t = Server(url: "postgres://ferry@127.0.0.1:\(port)/postgres", host: "127.0.0.1", port: port)
        let tag = "ptls" + UUID().uuidString.prefix(6).lowercased()
        try seed(project, t, tag)
        defer {
            try? setHBA(project, t, prepending: nil)
            _ = try? sql(project, t, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); DROP DATABASE IF EXISTS \"\(tag)_copy\" WITH (FORCE);")
        }
        try setHBA(project, t, prepending: "hostnossl all all all reject")

        func plan(_ mode: String, host: String = "127.0.0.1") -> String {
            """
            { "ferry": 1, "instances": {
                "t": { "engine": "postgres", "url": "postgres://ferry@\(host):\(port)/postgres?sslmode=\(mode)", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
              "copies": { "twin": { "from": "t", "to": "t", "databases": { "\(tag)": "\(tag)_copy" }, "onExisting": "replace" } } }
            """
        }
        let password = try #require(ProcessInfo.processInfo.environment["FERRY_TEST_PG_PASSWORD"])
        let everything = "SELECT datname FROM pg_database WHERE datname LIKE '\(tag)%' ORDER BY 1;"

        // disable: refused by the server's pg_hba.conf (no TLS), nothing made.
        try project.write("plans/main.json", plan("disable"))
        let refused = try project.run("apply", "--auto-approve")
        #expect(refused.code != 0 && refused.stderr.contains("InstanceNotFound") && refused.stderr.contains("pg_hba.conf"),
                "sslmode=disable must reach libpq: the server refuses sessions without TLS: \(refused.all)")
        #expect(!refused.all.contains(password))
        #expect(try sql(project, t, "postgres", everything) == "\(tag)\n")

        // require: every session of the copy is TLS, or the server would have refused it.
        try project.write("plans/main.json", plan("require"))
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "a copy under sslmode=require on a TLS-only server: \(applied.all)")
        let rows = "SELECT md5(string_agg(x, ',' ORDER BY x)) FROM (SELECT ROW(i.*)::text AS x FROM items i UNION ALL SELECT ROW(n.*)::text FROM notes n UNION ALL SELECT ROW(m.*)::text FROM more m) s;"
        #expect(try sql(project, t, "\(tag)_copy", rows) == sql(project, t, tag, rows), "the copy holds the source's rows")

        // verify-full: the CA from PGSSLROOTCERT, the name from the url's host.
        project.environment["PGSSLROOTCERT"] = ca
        try sql(project, t, "\(tag)_copy", "DELETE FROM more WHERE k > 10;")
        try project.write("plans/main.json", plan("verify-full", host: "localhost"))
        let verified = try project.run("apply", "--auto-approve")
        #expect(verified.code == 0, "verify-full to the certificate's name with its CA: \(verified.all)")
        #expect(try sql(project, t, "\(tag)_copy", "SELECT count(*) FROM more;") == "3000\n", "the drifted copy was made again (pg_dump under verify-full too)")
        let before = try sql(project, t, "\(tag)_copy", rows)
        let databasesBefore = try sql(project, t, "postgres", everything)

        try project.write("plans/main.json", plan("verify-full"))
        let wrongName = try project.run("plan")
        #expect(wrongName.code != 0 && wrongName.stderr.contains("InstanceNotFound") && wrongName.stderr.contains("does not match host name")
                && wrongName.stderr.contains("no TLS session as sslmode verify-full asks"),
                "127.0.0.1 is not the certificate's name: \(wrongName.all)")
        project.environment["PGSSLROOTCERT"] = otherCA
        try project.write("plans/main.json", plan("verify-full", host: "localhost"))
        let wrongCA = try project.run("apply", "--auto-approve")
        #expect(wrongCA.code != 0 && wrongCA.stderr.contains("InstanceNotFound") && wrongCA.stderr.contains("certificate verify failed"),
                "a CA that did not sign the server's certificate: \(wrongCA.all)")
        #expect(!wrongName.all.contains(password) && !wrongCA.all.contains(password))
        // (psql below reads PGSSLROOTCERT too: with a CA file there, libpq checks it even under prefer.)
        project.environment["PGSSLROOTCERT"] = nil
        #expect(try sql(project, t, "postgres", everything) == databasesBefore, "no shadow or checkpoint was made")
        #expect(try sql(project, t, "\(tag)_copy", rows) == before, "the target is as it was")

        // On a server that refuses every TLS session (`hostssl ... reject`), disable is taken
        // (its sessions are plain) and require is refused.
        try setHBA(project, t, prepending: "hostssl all all all reject", plainAccepted: true)
        try project.write("plans/main.json", plan("disable"))
        let plainPlan = try project.run("plan")
        #expect(plainPlan.code == 0, "sslmode=disable where only sessions without TLS are taken: \(plainPlan.all)")
        try project.write("plans/main.json", plan("require"))
        let tlsRefused = try project.run("plan")
        #expect(tlsRefused.code != 0 && tlsRefused.stderr.contains("pg_hba.conf"), "\(tlsRefused.all)")
    }

    /// `sslmode=require` against a server with `ssl = off`: refused as `InstanceNotFound` ("server
    /// does not support SSL"), and nothing changes on the server.
    @Test func requireOnAServerWithoutTLSIsRefusedAndNothingChanges() throws {
        let project = try Project()
        let b = try server("FERRY_TEST_PG_B")
        let port = tlsClusterPort(b)
        // The same throwaway cluster started without --tls (ssl is off by default).
        _ = postgresServerScript(project, "stop-extra tls")
        let started = postgresServerScript(project, "start-extra tls \(port)")
        try #require(started.code == 0, "\(started.output)")
        defer { _ = postgresServerScript(project, "stop-extra tls") }
        let t = Server(url: "postgres://ferry@127.0.0.1:\(port)/postgres", host: "127.0.0.1", port: port)
        try #require(try sql(project, t, "postgres", "SHOW ssl;") == "off\n")
        let tag = "ptlsoff" + UUID().uuidString.prefix(6).lowercased()
        try seed(project, t, tag)
        defer { _ = try? sql(project, t, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);") }
        let everything = "SELECT datname FROM pg_database WHERE datname LIKE '\(tag)%' ORDER BY 1;"
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": {
                "t": { "engine": "postgres", "url": "postgres://ferry@127.0.0.1:\(port)/postgres?sslmode=require", "password": { "env": "FERRY_TEST_PG_PASSWORD" } } },
              "copies": { "twin": { "from": "t", "to": "t", "databases": { "\(tag)": "\(tag)_copy" } } } }
            """)
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code != 0 && applied.stderr.contains("InstanceNotFound") && applied.stderr.contains("server does not support SSL")
                && applied.stderr.contains("no TLS session as sslmode require asks"), "\(applied.all)")
        #expect(!applied.all.contains(ProcessInfo.processInfo.environment["FERRY_TEST_PG_PASSWORD"] ?? "\u{0}"))
        #expect(try sql(project, t, "postgres", everything) == "\(tag)\n", "nothing was made")
        #expect(!project.exists(".ferry/state.json") || !(project.read(".ferry/state.json") ?? "").contains("\(tag)_copy"))
    }
}
