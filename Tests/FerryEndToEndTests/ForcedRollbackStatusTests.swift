import Foundation
import Testing

/// Round-8 fresh tester F12 (first point): after `ferry rollback RUN --force` over a target an
/// application wrote since the run committed, `ferry status` said `not restored — ... holds
/// writes Ferry did not make ... left as it is` for a target the rollback had restored (MariaDB:
/// the shadow's drop was refused, and the step was journaled failed). A forced rollback now
/// journals what the target held since (the run's data and the application's writes) as kept
/// under the shadow's name before it restores, as `--discard-later-writes` does: the target holds
/// what it held before the run, the shadow is never dropped by Ferry, and status says so.
@Suite(.serialized) struct ForcedRollbackStatusTests {
    func runID(in output: String) -> String? {
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("Run ") }) else { return nil }
        return String(line.split(separator: " ")[1].dropLast())
    }

    /// Apply (commit), the application's write, the refused rollback, the forced one; then what
    /// status says of the rollback run. `check` reads the target's rows, `shadowRows` those of
    /// the kept shadow (named in the output).
    func forcedRollback(_ project: Project, write: () throws -> Void, target: () throws -> String, before: String,
                        shadow: (String) throws -> String, runs: String, label: String) throws {
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(label): \(applied.all)")
        let run = try #require(runID(in: applied.stdout))
        try write()
        let refused = try project.run("rollback", run)
        #expect(refused.code == 1 && refused.stderr.contains("changed after run"), "\(label): \(refused.all)")
        let forced = try project.run("rollback", run, "--force")
        #expect(forced.code == 0, "\(label): \(forced.all)")
        #expect(try target() == before, "\(label): the target holds what it held before the run")
        let name = try #require(forced.stdout.components(separatedBy: " is kept as ").dropFirst().first?.split(separator: ";").first.map(String.init),
                                "\(label): the forced rollback names the shadow it keeps: \(forced.all)")
        #expect(try shadow(name) == runs, "\(label): the run's data and the application's write are kept under \(name)")
        let status = try project.run("status")
        #expect(!status.stdout.contains("not restored") && !status.stdout.contains("left as it is"), "\(label): \(status.all)")
        #expect(status.stdout.contains("restored over later writes") && status.stdout.contains(name), "\(label): \(status.all)")
        let plan = try project.run("plan")
        #expect(plan.all.contains(name), "\(label): plans name the kept shadow: \(plan.all)")
        // The kept shadow is the user's: a later recover or apply never drops it.
        #expect(try project.run("recover").stdout.contains("Nothing to recover"))
        #expect(try shadow(name) == runs, "\(label): still kept")
    }

    @Test func mariadb() throws {
        let my = MySQLCLITests()
        let project = try Project()
        let a = try my.server("FERRY_TEST_MYSQL_A"), b = try my.server("FERRY_TEST_MYSQL_B")
        let tag = "fr" + UUID().uuidString.prefix(6).lowercased()
        defer {
            for server in [a, b] {
                if let names = try? my.sql(project, server, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)%';") {
                    for name in names.split(separator: "\n") { _ = try? my.sql(project, server, "DROP DATABASE IF EXISTS `\(name)`;") }
                }
            }
        }
        try my.sql(project, a, "CREATE DATABASE `\(tag)`; CREATE TABLE `\(tag)`.t (id INT PRIMARY KEY); INSERT INTO `\(tag)`.t VALUES (1);")
        try my.sql(project, b, "CREATE DATABASE `\(tag)`; CREATE TABLE `\(tag)`.t (id INT PRIMARY KEY); INSERT INTO `\(tag)`.t VALUES (2);")
        try project.write("plans/main.json", my.plan(a, b, databases: "[\"\(tag)\"]"))
        try forcedRollback(project, write: { _ = try my.sql(project, b, "INSERT INTO `\(tag)`.t VALUES (22);") },
                           target: { try my.sql(project, b, "SELECT id FROM `\(tag)`.t ORDER BY id;") }, before: "2\n",
                           shadow: { try my.sql(project, b, "SELECT id FROM `\($0)`.t ORDER BY id;") }, runs: "1\n22\n", label: "MariaDB")
    }

    /// The same kind without `--force`: an application writes into the run's version under the
    /// shadow's name right after the swap back (the rollback stopped there), so MariaDB refuses
    /// the shadow's drop. The target is restored all the same: the shadow is the user's
    /// (journaled, named), the rollback ends (exit 4 since round 43, F2: such a write cannot be
    /// told from one into the target before the rename back), and status never says "not restored".
    /// Killed there instead, and finished by `ferry recover`: it says where the writes are,
    /// never a plain "finished" (round 43, F2).
    /// Killed after its commit record instead (round 44, F4: "Nothing to recover", and status in
    /// `--force`'s words): `ferry recover` ends the run saying where the writes are, and
    /// `ferry status` says it in the words of an unforced rollback, never "over later writes".
    @Test(arguments: ["stopped", "killed", "killedAfterCommit"]) func mariadbAWriteIntoTheShadowDuringTheRollbackLeavesItTheUsers(_ mode: String) throws {
        let my = MySQLCLITests()
        let project = try Project()
        let a = try my.server("FERRY_TEST_MYSQL_A"), b = try my.server("FERRY_TEST_MYSQL_B")
        let tag = "fs" + UUID().uuidString.prefix(6).lowercased()
        defer {
            for server in [a, b] {
                if let names = try? my.sql(project, server, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)%';") {
                    for name in names.split(separator: "\n") { _ = try? my.sql(project, server, "DROP DATABASE IF EXISTS `\(name)`;") }
                }
            }
        }
        try my.sql(project, a, "CREATE DATABASE `\(tag)`; CREATE TABLE `\(tag)`.t (id INT PRIMARY KEY); INSERT INTO `\(tag)`.t VALUES (1);")
        try my.sql(project, b, "CREATE DATABASE `\(tag)`; CREATE TABLE `\(tag)`.t (id INT PRIMARY KEY); INSERT INTO `\(tag)`.t VALUES (2);")
        try project.write("plans/main.json", my.plan(a, b, databases: "[\"\(tag)\"]"))
        let applied = try project.run("apply", "--auto-approve")
        let id = try #require(runID(in: applied.stdout), "\(applied.all)")
        let log = project.root + "/rollback.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        project.environment["FERRY_TEST_STOP_AT"] = "change:revert.undone#1" + (mode == "killedAfterCommit" ? ",after-committed#1" : "")
        let run = try project.start(["rollback", id], stdout: FileHandle(forWritingAtPath: log))
        project.environment["FERRY_TEST_STOP_AT"] = nil
        defer { if run.isRunning { run.signal(SIGKILL) } }
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, !LockTimeoutTests.isStopped(run.processIdentifier), run.isRunning { Thread.sleep(forTimeInterval: 0.05) }
        #expect(LockTimeoutTests.isStopped(run.processIdentifier))
        let shadow = try my.sql(project, b, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)\\_\\_ferry\\_s\\_%';")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!shadow.isEmpty, "the run's version is under the shadow's name")
        try my.sql(project, b, "INSERT INTO `\(shadow)`.t VALUES (33);")
        if mode == "killedAfterCommit" {
            run.signal(SIGCONT)
            let again = Date().addingTimeInterval(120)
            Thread.sleep(forTimeInterval: 0.2)
            while Date() < again, !LockTimeoutTests.isStopped(run.processIdentifier), run.isRunning { Thread.sleep(forTimeInterval: 0.05) }
            #expect(LockTimeoutTests.isStopped(run.processIdentifier), "stopped after the commit record")
            run.signal(SIGKILL)
            run.signal(SIGCONT)
            run.waitUntilExit()
            let recovered = try project.run("recover")
            #expect(recovered.code == 0 && recovered.all.contains("which are in its shadow") && recovered.all.contains(shadow)
                    && !recovered.all.contains("as they were before"), "\(recovered.all)")
        } else if mode == "killed" {
            run.signal(SIGKILL)
            run.signal(SIGCONT)
            run.waitUntilExit()
            let recovered = try project.run("recover")
            #expect(recovered.code == 0 && recovered.all.contains("kept as \(shadow)") && recovered.all.contains("which are in its shadow")
                    && !recovered.all.contains("as they were before"), "\(recovered.all)")
        } else {
            run.signal(SIGCONT)
            run.waitUntilExit()
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            // Round 43, F2: a write into the shadow during the rollback cannot be told from one into
            // the target before its rename back (moved out): "but not as before", exit 4.
            #expect(run.terminationStatus == 4 && output.contains("kept as \(shadow)") && output.contains("but not as before"), "\(output)")
            // Round 44, F5: the line does not read as contradicting itself.
            #expect(output.contains("what that target held before the run is back in it, without those writes")
                    && !output.contains("the targets hold what they held before the run"), "\(output)")
        }
        #expect(try my.sql(project, b, "SELECT id FROM `\(tag)`.t ORDER BY id;") == "2\n", "restored")
        #expect(try my.sql(project, b, "SELECT id FROM `\(shadow)`.t ORDER BY id;") == "1\n33\n", "the user's write is kept")
        let status = try project.run("status")
        #expect(!status.stdout.contains("not restored") && status.stdout.contains("writes made while this rollback ran are in \(shadow), not in \(tag)")
                && !status.stdout.contains("over later writes"), "\(status.all)")
        #expect(try project.run("recover").stdout.contains("Nothing to recover"))
    }

    @Test func postgres() throws {
        let pg = PostgresCLITests()
        let project = try Project()
        let a = try pg.server("FERRY_TEST_PG_A"), b = try pg.server("FERRY_TEST_PG_B")
        let tag = "fr" + UUID().uuidString.prefix(6).lowercased()
        defer {
            for server in [a, b] {
                if let names = try? pg.databases(project, server, like: "\(tag)%") {
                    for name in names.split(separator: "\n") { _ = try? pg.sql(project, server, "postgres", "DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE);") }
                }
            }
        }
        for (server, row) in [(a, 1), (b, 2)] {
            try pg.sql(project, server, "postgres", "CREATE DATABASE \"\(tag)\";")
            try pg.sql(project, server, tag, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (\(row));")
        }
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { \(pg.instances(a, b)) },
              "copies": { "mirror": { "from": "src", "to": "dst", "databases": ["\(tag)"], "onExisting": "replace" } } }
            """)
        try forcedRollback(project, write: { _ = try pg.sql(project, b, tag, "INSERT INTO t VALUES (22);") },
                           target: { try pg.sql(project, b, tag, "SELECT id FROM t ORDER BY id;") }, before: "2\n",
                           shadow: { name in
                               try pg.sql(project, b, "postgres", "ALTER DATABASE \"\(name)\" WITH ALLOW_CONNECTIONS true;", expectSuccess: false)
                               return try pg.sql(project, b, name, "SELECT id FROM t ORDER BY id;")
                           }, runs: "1\n22\n", label: "PostgreSQL")
    }

    @Test func sqlite() throws {
        let project = try Project()
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: project.root + "/var/b", withIntermediateDirectories: true)
        try DriftCLITests().execute(project, "var/a/app.db", "CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1)")
        try DriftCLITests().execute(project, "var/b/app.db", "CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (2)")
        try project.write("plans/main.json", """
            { "ferry": 1,
              "instances": { "a": { "engine": "sqlite", "path": "../var/a" }, "b": { "engine": "sqlite", "path": "../var/b" } },
              "copies": { "mirror": { "from": "a", "to": "b", "databases": ["app"], "onExisting": "replace" } } }
            """)
        func rows(_ path: String) throws -> String {
            try project.query(path, "SELECT id FROM t ORDER BY id").map { $0.joined() }.joined(separator: "\n") + "\n"
        }
        try forcedRollback(project, write: { try DriftCLITests().execute(project, "var/b/app.db", "INSERT INTO t VALUES (22)") },
                           target: { try rows("var/b/app.db") }, before: "2\n",
                           shadow: { name in try rows("var/b/" + (name as NSString).lastPathComponent + ".db") },
                           runs: "1\n22\n", label: "SQLite")
    }
}
