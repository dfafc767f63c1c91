import CSQLite
import Foundation
import Testing

/// Issue 14 §1 and §3 through `ferry` on SQLite instances.
@Suite struct SQLiteImportCLITests {
    func exec(_ path: String, _ sql: String) throws {
        var db: OpaquePointer?
        guard sqlite3_open(path, &db) == SQLITE_OK else { throw Project.QueryError(message: "open") }
        defer { sqlite3_close(db) }
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw Project.QueryError(message: String(cString: sqlite3_errmsg(db))) }
    }

    func plan(from file: String) -> String {
        """
        { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
          "imports": { "app": { "into": "a", "database": "app", "from": "\(file)", "onExisting": "replace" } } }
        """
    }

    /// Fresh tester round 29, F2: a `sqlite3 .dump` cut short (its `COMMIT;` gone, the last
    /// table's rows cut) is refused, the target untouched; the whole file imports.
    @Test func aDumpCutShortLeavesTheTargetUntouched() throws {
        let project = try Project()
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try exec(project.root + "/var/a/app.db", "CREATE TABLE keep(x); INSERT INTO keep VALUES (1), (2);")
        let source = project.root + "/plans/data/src.db"
        try exec(source, """
            CREATE TABLE a(id INTEGER PRIMARY KEY, s TEXT); CREATE TABLE b(id INTEGER PRIMARY KEY, s TEXT);
            WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500) INSERT INTO a SELECT x, 'a' || x FROM c;
            WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500) INSERT INTO b SELECT x, 'b' || x FROM c;
            """)
        let dumped = try project.runShell("sqlite3 '\(source)' .dump > plans/data/whole.sql && head -n 800 plans/data/whole.sql > plans/data/cut.sql")
        try #require(dumped.code == 0, "\(dumped.all)")
        let before = project.fileBytes("var/a/app.db")
        try project.write("plans/main.json", plan(from: "data/cut.sql"))
        let result = try project.run("apply", "--auto-approve")
        // Refused before any change: every `.dump` is scanned at plan time (it holds `PRAGMA`).
        #expect(result.code == 1 && result.all.contains("ImportError") && result.all.contains("cut short"), "\(result.all)")
        #expect(project.fileBytes("var/a/app.db") == before, "the target is untouched")
        try project.write("plans/main.json", plan(from: "data/whole.sql"))
        let whole = try project.run("apply", "--auto-approve")
        #expect(whole.code == 0, "\(whole.all)")
        #expect(try project.query("var/a/app.db", "SELECT (SELECT count(*) FROM a) || ',' || (SELECT count(*) FROM b)") == [["500,500"]])
        // Split anywhere into parts (round 31, F3): one stream, imported whole; the first part
        // with only the closing after it is cut short.
        let split = try project.runShell("cd plans/data && split -n 3 --additional-suffix=.sql whole.sql p. && printf 'COMMIT;\\n' > closing.sql")
        try #require(split.code == 0, "\(split.all)")
        try project.write("plans/main.json", plan(from: "X").replacingOccurrences(of: "\"X\"", with: "[\"data/p.aa.sql\", \"data/closing.sql\"]"))
        let cutParts = try project.run("apply", "--auto-approve")
        #expect(cutParts.code != 0 && cutParts.all.contains("cut short"), "\(cutParts.all)")
        try exec(project.root + "/var/a/app.db", "DELETE FROM a WHERE id > 10; DELETE FROM b;")
        try project.write("plans/main.json", plan(from: "X").replacingOccurrences(of: "\"X\"", with: "[\"data/p.aa.sql\", \"data/p.ab.sql\", \"data/p.ac.sql\"]"))
        let parts = try project.run("apply", "--auto-approve")
        #expect(parts.code == 0, "\(parts.all)")
        #expect(try project.query("var/a/app.db", "SELECT (SELECT count(*) FROM a) || ',' || (SELECT count(*) FROM b)") == [["500,500"]])
    }

    /// A `.db` whose pages past the first are damaged is not swapped over a healthy target.
    @Test func aDamagedDatabaseFileLeavesTheTargetUntouched() throws {
        let project = try Project()
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try exec(project.root + "/var/a/app.db", "CREATE TABLE keep(x); INSERT INTO keep VALUES (1), (2);")
        let source = project.root + "/plans/data/big.db"
        try exec(source, """
            CREATE TABLE t(id INTEGER PRIMARY KEY, s TEXT);
            WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000)
            INSERT INTO t SELECT x, printf('row %06d %.*c', x, x % 40, 'p') FROM c;
            """)
        var bytes = [UInt8](try #require(FileManager.default.contents(atPath: source)))
        let pageSize = Int(bytes[16]) << 8 | Int(bytes[17])
        let leaf = try #require((2..<(bytes.count / pageSize)).reversed().first { bytes[($0 - 1) * pageSize] == 13 })
        for i in ((leaf - 1) * pageSize + 8)..<((leaf - 1) * pageSize + 40) { bytes[i] = 0xFF }
        _ = FileManager.default.createFile(atPath: source, contents: Data(bytes))
        #expect(try project.query("plans/data/big.db", "SELECT count(*) FROM t") == [["3000"]], "count(*) still works")

        let before = project.fileBytes("var/a/app.db")
        try project.write("plans/main.json", plan(from: "data/big.db"))
        let result = try project.run("apply", "--auto-approve")
        #expect(result.code == 3, "\(result.all)")
        #expect(result.all.contains("VerifyFailed") && result.all.contains("integrity"), "\(result.all)")
        #expect(project.fileBytes("var/a/app.db") == before, "the healthy target is untouched")
        #expect(project.leftovers(in: "var/a") == [])
    }

    /// An index that disagrees with its table (what `PRAGMA quick_check` does not look at:
    /// fresh tester w12 F4), in a `.db` file or made by a `.sql` file through
    /// `writable_schema`, fails the verify: the healthy target is untouched. Variants: the
    /// index's definition changed to another column, and a UNIQUE index holding a duplicate.
    @Test(arguments: [("db", "ON t(c)"), ("sql", "ON t(c)"), ("db", "unique"), ("sql", "unique")])
    func anIndexThatDisagreesWithItsTableFailsTheVerify(form: String, damage: String) throws {
        let project = try Project()
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try exec(project.root + "/var/a/app.db", "CREATE TABLE keep(x); INSERT INTO keep VALUES (1), (2);")
        let make = """
            CREATE TABLE t(a INTEGER, b TEXT, c TEXT);
            WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 200)
            INSERT INTO t SELECT x, 'b' || x, 'c' || (x % 100) FROM n;
            """
        let index = damage == "unique" ? "CREATE INDEX ib ON t(c);" : "CREATE INDEX ib ON t(b);"
        let rewritten = damage == "unique" ? "CREATE UNIQUE INDEX ib ON t(c)" : "CREATE INDEX ib ON t(c)"
        let corrupt = """
            PRAGMA writable_schema = ON;
            UPDATE sqlite_master SET sql = '\(rewritten)' WHERE name = 'ib';
            PRAGMA writable_schema = OFF;
            """
        let file: String
        if form == "db" {
            file = "data/bad.db"
            try exec(project.root + "/plans/data/bad.db", make + index + corrupt)
            #expect(try project.query("plans/data/bad.db", "PRAGMA quick_check") == [["ok"]], "quick_check does not see it")
        } else {
            file = "data/bad.sql"
            try project.write("plans/data/bad.sql", make + "\n" + index + "\n" + corrupt + "\n")
        }
        let before = project.fileBytes("var/a/app.db")
        try project.write("plans/main.json", plan(from: file))
        let result = try project.run("apply", "--auto-approve")
        #expect(result.code == 3, "\(result.all)")
        #expect(result.all.contains("VerifyFailed") && result.all.contains("integrity"), "\(result.all)")
        #expect(project.fileBytes("var/a/app.db") == before, "the healthy target is untouched")
        #expect(project.leftovers(in: "var/a") == [])
    }

    /// A copy of a source (in WAL mode, so read through SQLite) whose pages past the first are
    /// damaged fails with `CopyError` naming it (fresh tester w12 F13: `Internal` before), and the
    /// target is untouched. (A byte copy of such a file copies it exactly, as a copy should.)
    @Test(arguments: ["count", "checksum"]) func aCopyOfADamagedSourceFailsAsCopyError(level: String) throws {
        let project = try Project()
        for dir in ["var/s", "var/a"] { try FileManager.default.createDirectory(atPath: project.root + "/" + dir, withIntermediateDirectories: true) }
        try exec(project.root + "/var/a/app.db", "CREATE TABLE keep(x); INSERT INTO keep VALUES (1), (2);")
        let source = project.root + "/var/s/app.db"
        try exec(source, """
            PRAGMA journal_mode = WAL;
            CREATE TABLE t(id INTEGER PRIMARY KEY, s TEXT);
            WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000)
            INSERT INTO t SELECT x, printf('row %06d %.*c', x, x % 40, 'p') FROM c;
            """)
        var bytes = [UInt8](try #require(FileManager.default.contents(atPath: source)))
        let pageSize = Int(bytes[16]) << 8 | Int(bytes[17])
        let leaf = try #require((2..<(bytes.count / pageSize)).reversed().first { bytes[($0 - 1) * pageSize] == 13 })
        for i in ((leaf - 1) * pageSize + 8)..<((leaf - 1) * pageSize + 40) { bytes[i] = 0xFF }
        _ = FileManager.default.createFile(atPath: source, contents: Data(bytes))
        let before = project.fileBytes("var/a/app.db")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "s": { "engine": "sqlite", "path": "../var/s" }, "a": { "engine": "sqlite", "path": "../var/a" } },
              "copies": { "c": { "from": "s", "to": "a", "databases": ["app"], "onExisting": "replace", "verify": "\(level)" } } }
            """)
        let result = try project.run("apply", "--auto-approve")
        #expect(result.code == 3, "\(result.all)")
        #expect(result.all.contains("CopyError") && result.all.contains("is damaged and cannot be copied"), "\(result.all)")
        #expect(!result.all.contains("Internal"), "\(result.all)")
        #expect(project.fileBytes("var/a/app.db") == before, "the healthy target is untouched")
    }

    /// A copy whose source fails `PRAGMA integrity_check` is `VerifyFailed` at both levels and
    /// never swapped in (fresh tester w14 F5: the byte copy matched its damaged source and was
    /// "verified", the same file as an import failed; a damaged page was `Internal`). Each kind:
    /// an index naming another column, a UNIQUE index over duplicates, NOT NULL and CHECK over
    /// violating rows, a table's root page pointed at another table's, a page header overwritten.
    @Test(arguments: ["column", "unique", "notnull", "check", "rootpage", "page"], ["count", "checksum"])
    func aCopyOfASourceFailingTheIntegrityCheckIsNeverSwappedIn(damage: String, level: String) throws {
        let project = try Project()
        for dir in ["var/s", "var/a"] { try FileManager.default.createDirectory(atPath: project.root + "/" + dir, withIntermediateDirectories: true) }
        try exec(project.root + "/var/a/app.db", "CREATE TABLE keep(x); INSERT INTO keep VALUES (1), (2);")
        let source = project.root + "/var/s/app.db"
        func rewrite(_ set: String, _ name: String) -> String {
            "PRAGMA writable_schema = ON; UPDATE sqlite_master SET \(set) WHERE name = '\(name)'; PRAGMA writable_schema = OFF;"
        }
        switch damage {
        case "column":
            try exec(source, "CREATE TABLE t(a, b); CREATE INDEX ti ON t(a); INSERT INTO t VALUES (1, 2), (3, 4), (5, 6);"
                     + rewrite("sql = 'CREATE INDEX ti ON t(b)'", "ti"))
        case "unique":
            try exec(source, "CREATE TABLE t(a, b); CREATE INDEX ti ON t(a); INSERT INTO t VALUES (1, 2), (1, 4), (5, 6);"
                     + rewrite("sql = 'CREATE UNIQUE INDEX ti ON t(a)'", "ti"))
        case "notnull":
            try exec(source, "CREATE TABLE t(a, b); INSERT INTO t VALUES (NULL, 2), (3, 4);"
                     + rewrite("sql = 'CREATE TABLE t(a NOT NULL, b)'", "t"))
        case "check":
            try exec(source, "CREATE TABLE t(a, b); INSERT INTO t VALUES (1, 2), (3, 400);"
                     + rewrite("sql = 'CREATE TABLE t(a, b CHECK (b > 100))'", "t"))
        case "rootpage":
            try exec(source, "CREATE TABLE t(a, b); CREATE TABLE u(x); INSERT INTO t VALUES (1, 2), (3, 4); INSERT INTO u VALUES (9);"
                     + rewrite("rootpage = (SELECT rootpage FROM sqlite_master WHERE name = 'u')", "t"))
        default:
            try exec(source, """
                CREATE TABLE t(id INTEGER PRIMARY KEY, s TEXT);
                WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000)
                INSERT INTO t SELECT x, printf('row %06d %.*c', x, x % 40, 'p') FROM c;
                """)
            var bytes = [UInt8](try #require(FileManager.default.contents(atPath: source)))
            let pageSize = Int(bytes[16]) << 8 | Int(bytes[17])
            let leaf = try #require((2..<(bytes.count / pageSize)).reversed().first { bytes[($0 - 1) * pageSize] == 13 })
            for i in ((leaf - 1) * pageSize)..<((leaf - 1) * pageSize + 12) { bytes[i] = 0xEE }
            _ = FileManager.default.createFile(atPath: source, contents: Data(bytes))
        }
        let before = project.fileBytes("var/a/app.db")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "s": { "engine": "sqlite", "path": "../var/s" }, "a": { "engine": "sqlite", "path": "../var/a" } },
              "copies": { "c": { "from": "s", "to": "a", "databases": ["app"], "onExisting": "replace", "verify": "\(level)" } } }
            """)
        let result = try project.run("apply", "--auto-approve")
        #expect(result.code == 3, "\(result.all)")
        #expect(result.all.contains("VerifyFailed") || result.all.contains("CopyError"), "\(result.all)")
        #expect(!result.all.contains("Internal") && !result.all.contains("Apply complete"), "\(result.all)")
        // The reason itself, not SQLite's header line nor a literal "\n" (w14 F8).
        #expect(!result.all.contains("*** in database") && !result.all.contains("\\n"), "\(result.all)")
        #expect(project.fileBytes("var/a/app.db") == before, "the healthy target is untouched")
        #expect(project.leftovers(in: "var/a") == [])
    }

    /// A `.sql` file that attaches another file is refused at plan time, naming file and line.
    @Test func anAttachIsAPlanError() throws {
        let project = try Project()
        try project.write("plans/data/seed.sql", "CREATE TABLE t(x);\nATTACH DATABASE '../../var/elsewhere.db' AS e;\nCREATE TABLE e.t(x);\n")
        try project.write("plans/main.json", plan(from: "data/seed.sql"))
        let planned = try project.run("plan")
        #expect(planned.code == 1 && planned.stderr.contains("error[ImportError]") && planned.stderr.contains("seed.sql:2:"), "\(planned.all)")
        #expect(try project.run("apply", "--auto-approve").code == 1)
        #expect(!project.exists("var/elsewhere.db") && !project.exists("var/a/app.db"))
    }
}
