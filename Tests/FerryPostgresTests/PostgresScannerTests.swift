import FerryCore
import FerryIO
@testable import FerryPostgres
import Foundation
import Testing

/// The PostgreSQL dialect of the shared SQL scanner and the import guard: no server.
@Suite struct PostgresScannerTests {
    func scan(_ text: String, chunk: Int = .max) -> [SQLStatementScanner.Statement] {
        var scanner = SQLStatementScanner(dialect: .postgres)
        var out: [SQLStatementScanner.Statement] = []
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            let end = min(bytes.count, i + max(1, min(chunk, bytes.count)))
            out += scanner.feed(Array(bytes[i..<end]))
            i = end
        }
        out += scanner.finish()
        return out
    }

    func texts(_ statements: [SQLStatementScanner.Statement]) -> [String] {
        statements.map { (($0.kind == .statement) ? "" : $0.kind == .metaCommand ? "META:" : "DATA:") + String(decoding: $0.text, as: UTF8.self) }
    }

    static let dump = """
        -- header
        SET standard_conforming_strings = on;
        CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $body$
        BEGIN
          RETURN 'a;b' || $x$;$x$; -- ; inside
        END $body$;
        CREATE TABLE "we;ird" (a text DEFAULT 'it''s; fine', b text DEFAULT E'back\\'; still', c int);
        /* outer /* nested ; */ still comment ; */
        COPY public."we;ird" (a, b, c) FROM stdin;
        x;y\tz\\\\.\t1
        \\.\\N\t\\N
        \\.
        SELECT $1, a$b FROM (SELECT 1 AS "a$b"; ) s;
        \\connect other
        INSERT INTO t VALUES (1)
        """

    @Test func psqlSplitsAsPsqlDoesInAnyChunking() throws {
        let expected = [
            "SET standard_conforming_strings = on",
            "CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $body$\nBEGIN\n  RETURN 'a;b' || $x$;$x$; -- ; inside\nEND $body$",
            "CREATE TABLE \"we;ird\" (a text DEFAULT 'it''s; fine', b text DEFAULT E'back\\'; still', c int)",
            "COPY public.\"we;ird\" (a, b, c) FROM stdin",
            "DATA:x;y\tz\\\\.\t1\n\\.\\N\t\\N\n",
            "SELECT $1, a$b FROM (SELECT 1 AS \"a$b\"; ) s",
            "META:\\connect other",
            "INSERT INTO t VALUES (1)",
        ]
        for chunk in [Int.max, 1, 2, 3, 7, 64] {
            let got = scan(Self.dump, chunk: chunk)
            var merged: [String] = []
            for text in texts(got) {   // data may come in several pieces: join them
                if text.hasPrefix("DATA:"), let last = merged.last, last.hasPrefix("DATA:") { merged[merged.count - 1] = last + text.dropFirst(5) }
                else { merged.append(text) }
            }
            #expect(merged == expected, "chunk \(chunk)")
        }
        let lines = scan(Self.dump).map(\.line)
        #expect(lines == [2, 3, 7, 9, 10, 13, 14, 15])
    }

    @Test func copyDataEndsAtTheEndOfInputWithoutBackslashDot() {
        let got = texts(scan("COPY t FROM STDIN WITH (FORMAT csv);\n1,\"a;b\"\n2,c\n"))
        #expect(got == ["COPY t FROM STDIN WITH (FORMAT csv)", "DATA:1,\"a;b\"\n2,c\n"])
    }

    func verdict(_ sql: String) throws -> PostgresImportGuard.Verdict {
        let statements = scan(sql)
        var last = PostgresImportGuard.Verdict.skip
        for statement in statements { last = try PostgresImportGuard(source: "f.sql").admit(statement) }
        return last
    }

    @Test(arguments: [
        "\\connect other", "\\c other", "\\c", "\\! rm -rf /", "\\i /etc/passwd", "\\copy t from '/etc/passwd'", "\\encoding LATIN1",
        "CREATE DATABASE other", "drop database other", "ALTER DATABASE other SET work_mem = '1GB'", "ALTER SYSTEM SET fsync = off",
        "CREATE ROLE r", "create user u password 'x'", "ALTER ROLE ferry NOSUPERUSER", "DROP USER IF EXISTS u", "CREATE GROUP g",
        "CREATE TABLESPACE ts LOCATION '/tmp'", "CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p", "CREATE SERVER s FOREIGN DATA WRAPPER w",
        "CREATE USER MAPPING FOR ferry SERVER s", "CREATE FOREIGN DATA WRAPPER w", "CREATE EXTENSION dblink", "create extension if not exists postgres_fdw",
        "GRANT pg_read_server_files TO ferry", "REVOKE ferry FROM x", "SET ROLE postgres", "SET SESSION AUTHORIZATION postgres", "set local role x",
        "RESET ROLE", "LOAD 'plugin'", "COPY t FROM '/etc/passwd'", "COPY t TO PROGRAM 'sh'", "SELECT pg_read_file('/etc/passwd')",
        "SELECT dblink_exec('dbname=other', 'DROP TABLE t')", "SELECT pg_terminate_backend(1)", "SELECT set_config('role', 'postgres', false)",
        "DO $$ BEGIN EXECUTE 'CREATE ROLE x'; END $$", "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'ALTER SYSTEM SET x = 1'; END $$",
        "COMMENT ON DATABASE other IS 'x'", "CREATE OR REPLACE FUNCTION g() RETURNS int AS 'SELECT lo_import(''/etc/passwd'')' LANGUAGE sql",
    ])
    func reachingOutsideIsRefusedWithFileAndLine(_ sql: String) {
        do {
            _ = try verdict("SELECT 1;\n\n" + sql + (sql.hasPrefix("\\") ? "\n" : ";\n"))
            Issue.record("\(sql) was admitted")
        } catch let error as FerryError {
            #expect(error.code == .importError)
            #expect(error.message.hasPrefix("f.sql:3: "), "\(error.message)")
        } catch { Issue.record("\(error)") }
    }

    @Test(arguments: [
        "SELECT pg_catalog.set_config('search_path', '', false)", "SET client_encoding = 'UTF8'", "SET default_tablespace = ''",
        "CREATE TABLE users (id int, role text, \"database\" text)", "ALTER TABLE users OWNER TO app", "GRANT SELECT ON users TO app",
        "REVOKE ALL ON TABLE users FROM PUBLIC", "CREATE EXTENSION IF NOT EXISTS pgcrypto", "COPY users (id) FROM stdin",
        "CREATE INDEX users_role ON users (role)", "COMMENT ON TABLE users IS 'create role later'", "\\restrict abc", "\\unrestrict abc",
        "\\set ON_ERROR_STOP on", "DO $$ BEGIN RAISE NOTICE 'hi'; END $$", "CREATE SCHEMA app",
        "SELECT pg_catalog.setval('public.users_id_seq', 3, true)",
    ])
    func statementsOfTheDatabaseAreAdmitted(_ sql: String) throws {
        let statements = scan(sql + (sql.hasPrefix("\\") ? "\n" : ";\n"))
        for statement in statements { _ = try PostgresImportGuard(source: "f.sql").admit(statement) }
    }
}

/// Fresh tester round 7, F4: a full disk (class 53) in an import's statement is `DiskFull`, as in
/// a copy; any other failure of the file's statement is `ImportError`.
@Suite struct PostgresImportErrorCodeTests {
    @Test func aFullDiskIsDiskFullAndTheRestImportError() {
        let full = PostgresServerError(sqlState: "53100", message: "could not extend file: No space left on device", statement: "INSERT")
        #expect(PostgresSession.importErrorCode(full) == .diskFull)
        for state in ["42601", "23505", "42P04", "55006", "28P01"] {
            #expect(PostgresSession.importErrorCode(PostgresServerError(sqlState: state, message: "m", statement: "s")) == .importError, "\(state)")
        }
    }
}

