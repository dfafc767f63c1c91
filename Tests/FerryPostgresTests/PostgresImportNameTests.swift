import FerryCore
import FerryIO
@testable import FerryPostgres
import Foundation
import Testing

/// Issue 14 point 1 for PostgreSQL, names as the server resolves them: a function called by a
/// double-quoted, schema-qualified, `U&`-escaped or commented name is the same function (a fresh
/// tester's F11: `"pg_terminate_backend"(pid)` ended another session on the checks-alone path).
@Suite struct PostgresImportNameTests {
    static let refused = [
        #"SELECT "pg_terminate_backend"(pid) FROM pg_stat_activity WHERE usename = current_user AND pid <> pg_backend_pid()"#,
        #"SELECT "pg_read_file"('/etc/hostname')"#,
        #"SELECT pg_catalog."pg_read_file"('/etc/hostname')"#,
        #"SELECT "pg_catalog"."pg_read_binary_file"('/etc/hostname')"#,
        #"SELECT "set_config"('role', 'ferry', false)"#,
        #"SELECT pg_catalog . "set_config" ('role', 'ferry', false)"#,
        #"SELECT set_config(concat('ro', 'le'), 'x', false)"#,
        #"SELECT set_config(/* c */ 'ROLE', 'x', false)"#,
        #"SELECT PG_READ_FILE /* a note */ ('/etc/hostname')"#,
        "SELECT pg_read_file -- a line\n('/etc/hostname')",
        #"SELECT U&"pg\005fread_file"('/etc/hostname')"#,
        #"SELECT U&"pg!005fterminate_backend" UESCAPE '!' (1)"#,
        #"SELECT u&"pg_cancel\+00005fbackend"(1)"#,
        #"CREATE FUNCTION k() RETURNS bigint SECURITY DEFINER LANGUAGE sql AS $$ SELECT count("pg_terminate_backend"(pid)) FROM pg_stat_activity WHERE usename = current_user AND pid <> pg_backend_pid() $$"#,
        #"CREATE FUNCTION k2() RETURNS text LANGUAGE sql AS 'SELECT "pg_read_file"(''/etc/hostname'')'"#,
        #"DO $x$ BEGIN PERFORM "pg_cancel_backend"(1); END $x$"#,
        #"CREATE OPERATOR ### (FUNCTION = pg_terminate_backend, RIGHTARG = int)"#,
        #"CREATE OPERATOR ### (PROCEDURE = "pg_catalog"."pg_terminate_backend", RIGHTARG = int)"#,
        #"CREATE VIEW v AS SELECT "dblink_exec"('dbname=postgres', 'SELECT 1')"#,
        #"SELECT "lo_import"('/etc/hostname')"#,
    ]

    func verdict(_ sql: String) throws {
        var scanner = SQLStatementScanner(dialect: .postgres)
        let statements = scanner.feed(Array(sql.utf8)) + scanner.finish()
        for statement in statements { _ = try PostgresImportGuard(source: "f.sql").admit(statement) }
    }

    @Test(arguments: refused)
    func aFunctionIsRefusedHoweverItsNameIsWritten(_ sql: String) throws {
        do {
            try verdict("SELECT 1;\n\n" + sql + ";\n")
            Issue.record("\(sql) was admitted")
        } catch let error as FerryError {
            #expect(error.code == .importError)
            #expect(error.message.hasPrefix("f.sql:3: "), "\(error.message)")
        }
        // At plan time, for a local file.
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-pgnames-\(UUID().uuidString).sql")
        try Data(("CREATE TABLE t (v int);\n" + sql + ";\n").utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let problems = PostgresEngine().importProblems(in: [.file(url.path)], format: .sql, database: "d", serverVersion: nil)
        #expect(problems.first?.message.hasPrefix("\(url.path):2:") == true, "\(problems)")
    }

    @Test(arguments: [
        #"SELECT pg_catalog.set_config('search_path', '', false)"#,
        #"SELECT "set_config"('search_path', 'public', false)"#,
        #"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$"#,
        #"SELECT "Pg_Read_File"('x')"#,
        #"CREATE TABLE t2 (pg_read_file_note text)"#,
        #"SELECT 1 FROM pg_class WHERE relname = dblink_note"#,
    ])
    func namesThatAreNotThoseFunctionsStay(_ sql: String) throws {
        try verdict(sql + ";\n")
    }

    /// On the server, as Ferry's user without CREATEROLE (imports guarded by the checks alone):
    /// the tester's file is refused before it runs, and another session of that user lives on.
    @Test func theTestersFileIsRefusedAndNoSessionEnds() throws {
        let env = ProcessInfo.processInfo.environment
        let plainUser = try #require(env["FERRY_TEST_PG_PLAIN_USER"])
        let plain = try PGServers.connect(PGServers.spec("FERRY_TEST_PG_B", name: "pg-b-plain", user: plainUser))
        defer { plain.close() }
        let bystander = try PGServers.connect(PGServers.spec("FERRY_TEST_PG_B", name: "pg-b-bystander", user: plainUser))
        defer { bystander.close() }
        #expect(plain.importIsolationNotes()?.first?.contains("CREATEROLE") ?? false)
        let db = PGServers.name("names")
        for sql in Self.refused.prefix(6) {
            let run = "n" + UUID().uuidString.prefix(8).lowercased()
            let shadow = try plain.makeShadow(for: db, runID: run)
            defer { _ = try? plain.removeLeftovers(ofRun: run, database: db) }
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-pgnames-\(run).sql")
            try Data(("CREATE TABLE t (v int);\n" + sql + ";\n").utf8).write(to: url)
            defer { try? FileManager.default.removeItem(at: url) }
            do {
                _ = try plain.importData(into: shadow, from: [.file(url.path)], format: .sql, progress: ProgressCounter())
                Issue.record("\(sql) was imported")
            } catch let error as FerryError {
                #expect(error.code == .importError && error.message.contains(":2:"), "\(error.message)")
            }
            #expect(try bystander.connection.query("SELECT 1").first?.first == "1")
        }
    }
}

/// A refusal of a statement that changes the server names the object, past `IF [NOT] EXISTS`
/// (w12 F10: pg_dump `--create --clean --if-exists` output was refused as "DROP DATABASE if").
@Suite struct PostgresImportRefusalNameTests {
    @Test(arguments: [
        ("DROP DATABASE IF EXISTS shop", "DROP DATABASE shop changes the server"),
        ("DROP ROLE IF EXISTS \"Ops Team\"", "DROP ROLE ops team changes the server"),
        ("CREATE DATABASE shop2", "CREATE DATABASE shop2 changes the server"),
        ("ALTER ROLE app SET work_mem = '1GB'", "ALTER ROLE app changes the server"),
        ("DROP TABLESPACE IF EXISTS fast", "DROP TABLESPACE fast changes the server"),
    ])
    func theRefusalNamesTheObject(sql: String, message: String) throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-pgrefuse-\(UUID().uuidString).sql")
        try Data(("CREATE TABLE t (v int);\n" + sql + ";\n").utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let problems = PostgresEngine().importProblems(in: [.file(url.path)], format: .sql, database: "d", serverVersion: nil)
        #expect(problems.count == 1 && problems.first?.message.hasPrefix("\(url.path):2:") == true, "\(problems)")
        #expect(problems.first?.message.contains(message) == true, "\(problems)")
    }
}
