import FerryCore
import FerryIO
@testable import FerryMySQL
import Foundation
import Testing

/// Issue 14 §1, the structural guard: an import's statements run as a throwaway account that
/// holds privileges on the shadow alone, so the server itself refuses what a scanner missed.
@Suite(.serialized) struct MySQLImportAccountTests {
    /// The import accounts of `shadow` on the server (other suites import concurrently).
    func accounts(_ s: MySQLSession, of shadow: String) throws -> [String] {
        try s.connection.query("SELECT CONCAT(User, '@', Host) FROM mysql.user WHERE User = \(s.connection.literal(MySQLImportAccount.name(forShadow: shadow)))").compactMap { $0[0] }
    }

    func file(_ name: String, _ text: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-account-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// Statements the scanner would refuse, sent past it on the import account's connection: the
    /// server refuses each (1044/1142/1227...), mapped to an ImportError naming file and line, and
    /// the other database, the server setting and the accounts are as before.
    @Test func whatSlipsPastTheScannerIsRefusedByTheServer() throws {
        let b = try Servers.b()
        defer { b.close() }
        try b.sql("DROP DATABASE IF EXISTS ferry_t_other", "CREATE DATABASE ferry_t_other",
                  "CREATE TABLE ferry_t_other.t (x INT)", "INSERT INTO ferry_t_other.t VALUES (1)",
                  "DROP DATABASE IF EXISTS ferry_t_otherXXferryXsXra1")
        defer { try? b.sql("DROP DATABASE IF EXISTS ferry_t_other", "DROP DATABASE IF EXISTS ferry_t_otherXXferryXsXra1") }
        let shadow = try b.makeShadow(for: "ferry_t_other", runID: "ra1")
        // Written into by the test as an application would: Ferry would leave it.
        defer { try? b.dropTestDatabase(shadow) }
        let account = try #require(try b.createImportAccount(for: shadow))
        defer { try? b.dropImportAccounts(ofShadow: shadow) }
        let c = try b.connect(as: account)
        defer { c.close() }
        try c.execute("USE \(quoteName(shadow))")
        let maxConnections = try b.connection.scalar("SELECT @@GLOBAL.max_connections")
        let slipped = [
            "DROP DATABASE ferry_t_other", "INSERT INTO ferry_t_other.t VALUES (2)", "DELETE FROM ferry_t_other.t",
            "CREATE TABLE ferry_t_other.u (x INT)", "SET GLOBAL max_connections = 7", "GRANT SELECT ON ferry_t_other.* TO CURRENT_USER",
            "GRANT ALL ON *.* TO 'ferry_t_nobody'@'%' IDENTIFIED BY 'x'", "CREATE USER 'ferry_t_nobody'@'%'",
            "CREATE DATABASE ferry_t_new", "FLUSH PRIVILEGES", "SHUTDOWN", "CREATE DATABASE ferry_t_otherXXferryXsXra1",
            "SELECT * FROM mysql.user", "ALTER TABLE ferry_t_other.t ADD y INT", "RENAME TABLE t0 TO ferry_t_other.t0",
        ]
        try c.execute("CREATE TABLE t0 (x INT)")
        for (n, statement) in slipped.enumerated() {
            var bytes = Array(statement.utf8)
            let error = expectCode(.importError) {
                try b.runImported(&bytes, text: Array(statement.utf8), line: n + 3, source: "slipped.sql", on: c,
                                  serverVersion: c.serverVersion)
            }
            #expect(error?.message.hasPrefix("slipped.sql:\(n + 3): ") == true, "\(statement): \(String(describing: error))")
            let code = error?.message.split(separator: "(").last.map { String($0.dropLast()) } ?? ""
            #expect(["1044", "1142", "1227", "1045", "1143"].contains(code), "\(statement): \(String(describing: error))")
        }
        #expect(try b.connection.query("SELECT x FROM ferry_t_other.t").map { $0[0] } == ["1"])
        #expect(try b.connection.query("SHOW COLUMNS FROM ferry_t_other.t").count == 1)
        #expect(try b.connection.scalar("SELECT @@GLOBAL.max_connections") == maxConnections)
        #expect(try b.connection.scalar("SELECT COUNT(*) FROM mysql.user WHERE User = 'ferry_t_nobody'") == "0")
        #expect(try !b.databaseExists("ferry_t_new"))
        #expect(try !b.databaseExists("ferry_t_otherXXferryXsXra1"), "`_` in the grant is not a wildcard")
        // Inside the shadow everything a dump does is allowed.
        for statement in ["CREATE TABLE t1 (x INT PRIMARY KEY)", "LOCK TABLES t1 WRITE", "INSERT INTO t1 VALUES (1)", "UNLOCK TABLES",
                          "ALTER TABLE t1 ADD y INT", "CREATE INDEX i ON t1 (y)", "DROP TABLE IF EXISTS t0"] {
            var bytes = Array(statement.utf8)
            try b.runImported(&bytes, text: Array(statement.utf8), line: 1, source: "ok.sql", on: c, serverVersion: c.serverVersion)
        }
    }

    /// The account is made for the import and dropped when it ends, passed or failed; the
    /// password is nowhere in the error; an account of the same name that is not Ferry's is
    /// refused, never used or dropped.
    @Test func theAccountLivesOnlyForTheImportAndIsNeverAUsersAccount() throws {
        let b = try Servers.b()
        defer { b.close() }
        try b.sql("DROP DATABASE IF EXISTS ferry_t_acc")
        let good = try file("good.sql", "CREATE TABLE t (x INT);\nINSERT INTO t VALUES (1), (2);\nCREATE TABLE who (u VARCHAR(200));\nINSERT INTO who VALUES (CURRENT_USER());\n")
        let shadow = try b.makeShadow(for: "ferry_t_acc", runID: "ra2")
        defer { try? b.drop(shadow) }
        _ = try b.importData(into: shadow, from: [.file(good.path)], format: .sql, progress: ProgressCounter())
        #expect(try b.connection.scalar("SELECT COUNT(*) FROM \(qualified(shadow, "t"))") == "2")
        let who = try b.connection.scalar("SELECT u FROM \(qualified(shadow, "who"))") ?? ""
        #expect(who.hasPrefix(MySQLImportAccount.name(forShadow: shadow) + "@"), "the statements ran as the import account: \(who)")
        #expect(try accounts(b, of: shadow).isEmpty, "the account is dropped after the import")
        // The account's tables: created by the import account, readable by Ferry.
        try b.drop(shadow)
        let bad = try file("bad.sql", "CREATE TABLE t (x INT);\nINSERT INTO no_such VALUES (1);\n")
        let shadow2 = try b.makeShadow(for: "ferry_t_acc", runID: "ra3")
        defer { try? b.drop(shadow2) }
        let error = expectCode(.importError) { _ = try b.importData(into: shadow2, from: [.file(bad.path)], format: .sql, progress: ProgressCounter()) }
        #expect(error?.message.hasPrefix("\(bad.path):2:") == true, "\(String(describing: error))")
        #expect(try accounts(b, of: shadow2).isEmpty, "the account is dropped after a failed import")

        // A user's account of the very name: refused, kept.
        let name = MySQLImportAccount.name(forShadow: shadow2)
        let host = try #require(try b.connection.scalar("SELECT SUBSTRING_INDEX(USER(), '@', -1)"))
        try b.sql("CREATE USER '\(name)'@'\(host)' IDENTIFIED BY 'users-own'", "GRANT SELECT ON mysql.* TO '\(name)'@'\(host)'")
        defer { try? b.sql("DROP USER IF EXISTS '\(name)'@'\(host)'") }
        let refused = expectCode(.importError) { _ = try b.importData(into: shadow2, from: [.file(good.path)], format: .sql, progress: ProgressCounter()) }
        #expect(refused?.message.contains("already exists") == true, "\(String(describing: refused))")
        #expect(try b.connection.scalar("SELECT COUNT(*) FROM mysql.user WHERE User = '\(name)'") == "1", "the user's account stays")
        // Recovery does not drop it either: it holds more than the shadow.
        _ = expectCode(.importError) { _ = try b.removeLeftovers(ofRun: "ra3", database: "ferry_t_acc") }
        #expect(try b.connection.scalar("SELECT COUNT(*) FROM mysql.user WHERE User = '\(name)'") == "1")
    }

    /// The account reaches the server as a password hash only (no general or audit log holds the
    /// password), takes one connection, and is locked to new logins while the import runs, so a
    /// password the file might set lets nobody in beside it (a fresh tester did that and created
    /// objects that were then given Ferry's definer).
    @Test func theAccountIsHashedSingleAndLockedWhileTheFileRuns() throws {
        let b = try Servers.b()
        defer { b.close() }
        try b.sql("DROP DATABASE IF EXISTS ferry_t_lock")
        let shadow = try b.makeShadow(for: "ferry_t_lock", runID: "rl1")
        defer { try? b.drop(shadow); try? b.dropImportAccounts(ofShadow: shadow) }
        let account = try #require(try b.createImportAccount(for: shadow))
        let user = MySQLImportAccount.name(forShadow: shadow)
        #expect(try b.connection.scalar("SELECT JSON_VALUE(Priv, '$.plugin') FROM mysql.global_priv WHERE User = \(b.connection.literal(user))") == "mysql_native_password")
        let first = try b.connect(as: account)
        #expect(throws: (any Error).self, "a second session of the account") { _ = try b.connect(as: account) }
        first.close()
        try b.dropImportAccounts(ofShadow: shadow)

        // During an import, the account is locked to new logins.
        let slow = try file("slow.sql", "CREATE TABLE t (x INT);\nSELECT SLEEP(3);\nINSERT INTO t VALUES (1);\n")
        let seen = LockedBox(false)
        let done = LockedBox(false)
        let watcher = Thread {
            guard let observer = try? Servers.b() else { return }
            defer { observer.close() }
            while !done.value {
                if (try? observer.connection.scalar("SELECT COUNT(*) FROM mysql.global_priv WHERE User = \(observer.connection.literal(user)) AND Priv LIKE '%\"account_locked\":true%'")) == "1" { seen.value = true }
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
        watcher.start()
        _ = try b.importData(into: shadow, from: [.file(slow.path)], format: .sql, progress: ProgressCounter())
        done.value = true
        Thread.sleep(forTimeInterval: 0.3)
        #expect(seen.value, "the import account was not locked while the file ran")
    }

    /// A run killed between creating the account and dropping it: `removeLeftovers` (recover,
    /// rollback) drops it from the shadow's journaled name alone, with or without the shadow.
    @Test func recoveryDropsAnAccountLeftByAKilledImport() throws {
        let b = try Servers.b()
        defer { b.close() }
        let shadow = try b.makeShadow(for: "ferry_t_left", runID: "ra4")
        _ = try #require(try b.createImportAccount(for: shadow))
        #expect(try accounts(b, of: shadow).count == 1)
        let removed = try b.removeLeftovers(ofRun: "ra4", database: "ferry_t_left")
        #expect(removed.contains(shadow) && removed.contains { $0.hasPrefix("account ferry_i_") }, "\(removed)")
        #expect(try accounts(b, of: shadow).isEmpty)
        // The shadow already gone, the account still there.
        let shadow2 = try b.makeShadow(for: "ferry_t_left", runID: "ra5")
        _ = try #require(try b.createImportAccount(for: shadow2))
        try b.drop(shadow2)
        #expect(try b.removeLeftovers(ofRun: "ra5", database: "ferry_t_left").count == 1)
        #expect(try accounts(b, of: shadow2).isEmpty)
    }

    /// Without CREATE USER, the import runs on Ferry's connection with the scanner alone.
    @Test func withoutCreateUserTheImportFallsBackToTheScanner() throws {
        let b = try Servers.b()
        defer { b.close() }
        try b.sql("CREATE USER IF NOT EXISTS 'ferry_t_limited'@'%' IDENTIFIED BY 'limited-pw'",
                  "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, CREATE VIEW, SHOW VIEW, TRIGGER, CREATE ROUTINE, ALTER ROUTINE, EVENT, LOCK TABLES, REFERENCES ON *.* TO 'ferry_t_limited'@'%'")
        defer { try? b.sql("DROP USER IF EXISTS 'ferry_t_limited'@'%'") }
        var url = URLComponents(string: try Servers.spec("FERRY_TEST_MYSQL_B", name: "mysql-b").url!)!
        url.user = "ferry_t_limited"
        let spec = InstanceSpec(name: "limited", engine: .mysql, url: url.string!, password: nil)
        let limited = try MySQLSession(target: ConnectionTarget(instance: spec, password: "limited-pw"))
        defer { limited.close() }
        let shadow = try limited.makeShadow(for: "ferry_t_lim", runID: "ra6")
        defer { try? b.sql("DROP DATABASE IF EXISTS \(quoteName(shadow))") }
        #expect(try limited.createImportAccount(for: shadow) == nil)
        // The plan says so beforehand (refresh's facts carry the note); Ferry's full user gets none.
        let notes = try #require(try limited.describe(fingerprinting: []).importNotes)
        #expect(notes.count == 1 && notes[0].contains("WITH GRANT OPTION") && notes[0].contains("statement checks alone"))
        #expect(try b.describe(fingerprinting: []).importNotes == nil)
        let good = try file("lim.sql", "CREATE TABLE t (x INT);\nINSERT INTO t VALUES (1);\nCREATE TABLE who (u VARCHAR(200));\nINSERT INTO who VALUES (CURRENT_USER());\n")
        _ = try limited.importData(into: shadow, from: [.file(good.path)], format: .sql, progress: ProgressCounter())
        #expect(try b.connection.scalar("SELECT COUNT(*) FROM \(qualified(shadow, "t"))") == "1")
        #expect(try b.connection.scalar("SELECT u FROM \(qualified(shadow, "who"))") == "ferry_t_limited@%", "Ferry's own connection")
        #expect(try accounts(b, of: shadow).isEmpty)
    }

    /// A real `mariadb-dump --routines --events --triggers` with views, triggers, routines and
    /// events whose definers are another account (and Ferry's own): the shadow holds the same
    /// definitions with the same definers, and no object names the import account.
    @Test func definersAndDefinitionsAreTheDumps() throws {
        let a = try Servers.a()
        defer { a.close() }
        let host = try #require(try a.connection.scalar("SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', -1)"))
        try a.sql("CREATE USER IF NOT EXISTS 'ferry_t_owner'@'localhost' IDENTIFIED BY 'owner-pw'",
                  "GRANT ALL ON *.* TO 'ferry_t_owner'@'localhost'",
                  "DROP DATABASE IF EXISTS ferry_t_defs", "CREATE DATABASE ferry_t_defs",
                  "CREATE TABLE ferry_t_defs.items (id INT PRIMARY KEY, n INT)",
                  "CREATE TABLE ferry_t_defs.log (msg VARCHAR(60))",
                  "INSERT INTO ferry_t_defs.items VALUES (1, 10), (2, 20)",
                  "CREATE DEFINER='ferry_t_owner'@'localhost' SQL SECURITY DEFINER VIEW ferry_t_defs.v AS SELECT id, n * 2 AS twice FROM ferry_t_defs.items",
                  "CREATE SQL SECURITY INVOKER VIEW ferry_t_defs.w AS SELECT COUNT(*) AS c FROM ferry_t_defs.items",
                  "CREATE DEFINER='ferry_t_owner'@'localhost' TRIGGER ferry_t_defs.tr AFTER INSERT ON ferry_t_defs.items FOR EACH ROW INSERT INTO ferry_t_defs.log VALUES (CONCAT('row ', NEW.id))",
                  "CREATE DEFINER='ferry_t_owner'@'localhost' PROCEDURE ferry_t_defs.p(x INT) SQL SECURITY DEFINER INSERT INTO ferry_t_defs.log VALUES (x)",
                  "CREATE FUNCTION ferry_t_defs.f(x INT) RETURNS INT DETERMINISTIC RETURN x + 1",
                  "CREATE DEFINER='ferry_t_owner'@'localhost' EVENT ferry_t_defs.e ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM ferry_t_defs.log")
        defer { try? a.sql("DROP DATABASE IF EXISTS ferry_t_defs", "DROP USER IF EXISTS 'ferry_t_owner'@'localhost'") }
        let url = try #require(ProcessInfo.processInfo.environment["FERRY_TEST_MYSQL_A"])
        let port = String(url.split(separator: ":").last ?? "")
        let dump = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-defs-\(getpid()).sql")
        defer { try? FileManager.default.removeItem(at: dump) }
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "MYSQL_PWD=\"$FERRY_TEST_MYSQL_PASSWORD\" mariadb-dump --no-defaults -h127.0.0.1 -P\(port) -uferry --routines --triggers --events --databases ferry_t_defs --add-drop-database > '\(dump.path)'"]
        try shell.run()
        shell.waitUntilExit()
        #expect(shell.terminationStatus == 0)
        let text = try String(contentsOf: dump, encoding: .utf8)
        #expect(text.contains("DEFINER=`ferry_t_owner`@`localhost`"), "the dump names the definer")
        let shadow = try a.makeShadow(for: "ferry_t_defs_copy", runID: "ra7")
        defer { try? a.drop(shadow) }
        _ = try a.importData(into: shadow, from: [.file(dump.path)], format: .sql, progress: ProgressCounter())
        #expect(try accounts(a, of: shadow).isEmpty)
        let c = a.connection
        func objects(_ schema: String) throws -> [[String?]] {
            let s = c.literal(schema)
            let q = """
            SELECT 'view', TABLE_NAME, DEFINER, SECURITY_TYPE, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = \(s)
            UNION ALL SELECT 'trigger', TRIGGER_NAME, DEFINER, ACTION_TIMING, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = \(s)
            UNION ALL SELECT ROUTINE_TYPE, ROUTINE_NAME, DEFINER, SECURITY_TYPE, ROUTINE_DEFINITION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = \(s)
            UNION ALL SELECT 'event', EVENT_NAME, DEFINER, SQL_MODE, EVENT_DEFINITION FROM information_schema.EVENTS WHERE EVENT_SCHEMA = \(s)
            ORDER BY 1, 2
            """
            // The dump's own name qualifies nothing in the shadow (MySQLImportGuard removes it).
            return try c.query(q).map { row in
                row.prefix(4) + [row[4].map { $0.replacingOccurrences(of: "`", with: "").replacingOccurrences(of: schema + ".", with: "") }]
            }
        }
        let source = try objects("ferry_t_defs"), copy = try objects(shadow)
        #expect(source.count == 6)
        #expect(copy.map { [$0[0], $0[1], $0[2], $0[3]] } == source.map { [$0[0], $0[1], $0[2], $0[3]] })
        #expect(copy.map { $0[4] } == source.map { $0[4] })
        #expect(copy.contains { $0[2] == "ferry_t_owner@localhost" })
        #expect(copy.contains { ($0[2] ?? "").hasSuffix("@\(host)") && $0[2] != "ferry_t_owner@localhost" }, "objects without a definer are Ferry's user's")
        #expect(!copy.contains { ($0[2] ?? "").hasPrefix("ferry_i_") })
        // The trigger and the procedure run, inside the shadow.
        try a.sql("INSERT INTO \(qualified(shadow, "items")) VALUES (3, 30)", "CALL \(qualified(shadow, "p"))(7)")
        #expect(try c.query("SELECT msg FROM \(qualified(shadow, "log")) ORDER BY msg").map { $0[0] } == ["7", "row 3"])
        #expect(try c.query("SELECT twice FROM \(qualified(shadow, "v")) ORDER BY id").map { $0[0] } == ["20", "40", "60"])
    }
}

/// A value shared with one other thread (tests).
final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
