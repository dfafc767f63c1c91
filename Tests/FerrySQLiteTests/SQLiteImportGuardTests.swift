import CSQLite
import FerryCore
import Foundation
import Testing
@testable import FerrySQLite

/// Issue 14 §1 and §3 for SQLite: a `.sql` import reaches nothing but its shadow file, and a
/// damaged `.db` file never verifies.
@Suite struct SQLiteImportGuardTests {
    static let hostile: [(String, String)] = [
        ("ATTACH DATABASE 'OUTSIDE' AS o", "ATTACH"),
        ("attach 'OUTSIDE' as o", "ATTACH"),
        ("ATTACH/* c */'OUTSIDE' AS o", "ATTACH"),
        ("DETACH DATABASE o", "DETACH"),
        ("VACUUM INTO 'OUTSIDE'", "VACUUM"),
        ("vacuum main into 'OUTSIDE'", "VACUUM"),
        ("PRAGMA temp_store_directory = '/tmp'", "temp_store_directory"),
        ("pragma DATA_STORE_DIRECTORY = '/tmp'", "data_store_directory"),
        ("PRAGMA journal_mode = WAL", "journal_mode"),
        ("PRAGMA 'journal_mode'=wal", "PRAGMA journal_mode "),   // a string for its name (w12 F10)
        ("PRAGMA main.'locking_mode' = EXCLUSIVE", "PRAGMA locking_mode "),
        ("PRAGMA soft_heap_limit = 1", "soft_heap_limit"),
        ("PRAGMA \"hard_heap_limit\" = 1", "hard_heap_limit"),
        ("PRAGMA o.user_version = 3", "o.user_version"),
        ("PRAGMA trusted_schema = ON", "trusted_schema"),
        ("SELECT load_extension('/tmp/x.so')", "load_extension"),
        ("CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT LOAD_EXTENSION('x'); END", "load_extension"),
        ("INSERT INTO t VALUES (2); ATTACH 'OUTSIDE' AS o", "ATTACH"),
        // A function's name as SQLite resolves it: quoted as an identifier, any case, comments.
        ("SELECT \"load_extension\"('/tmp/nope')", "load_extension"),
        ("SELECT [load_extension]('/tmp/nope')", "load_extension"),
        ("SELECT `Load_Extension` /* c */ ('/tmp/nope')", "load_extension"),
        ("SELECT \"LOAD_EXTENSION\"\n-- a line\n('/tmp/nope', 'entry')", "load_extension"),
        ("CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT [Load_Extension]('x'); END", "load_extension"),
        ("CREATE VIEW v AS SELECT `load_extension`('x')", "load_extension"),
    ]

    @Test func statementsReachingOutsideTheShadowAreRefusedWithTheirLine() throws {
        let dir = try TemporaryDirectory()
        let instance = try session(dir.sub("db"))
        for (statement, what) in Self.hostile {
            let text = statement.replacingOccurrences(of: "OUTSIDE", with: dir.sub("outside.db"))
            let file = dir.sub("bad.sql")
            _ = FileManager.default.createFile(atPath: file, contents: Data("CREATE TABLE t(x);\nINSERT INTO t VALUES (1);\n\n\(text);\nINSERT INTO t VALUES (3);\n".utf8))
            // At plan time.
            let problems = SQLiteEngine().importProblems(in: [.file(file)], format: .sql, database: "app", serverVersion: nil)
            #expect(problems.count == 1 && problems.first?.message.hasPrefix("\(file):4:") == true, "\(statement): \(problems)")
            #expect(problems.first?.message.contains(what) == true, "\(statement): \(problems)")
            // At apply time.
            let shadow = try instance.makeShadow(for: "app", runID: "g1")
            do {
                _ = try instance.importData(into: shadow, from: [.file(file)], format: .sql, progress: ProgressCounter())
                Issue.record("\(statement): imported")
            } catch let error as FerryError {
                #expect(error.code == .importError)
                #expect(error.message.hasPrefix("\(file):4:"), "\(statement): \(error.message)")
            }
            #expect(!FileManager.default.fileExists(atPath: dir.sub("outside.db")), "\(statement)")
            try instance.drop(shadow)
        }
        #expect(SQLiteEngine().importProblems(in: [.file(dir.sub("missing.sql"))], format: .sql, database: "app", serverVersion: nil).isEmpty)
    }

    /// The quick pass that lets rows through unread sees the words in any case, past NUL bytes
    /// and across the border of two chunks of a file.
    @Test func theQuickPassMissesNoWord() throws {
        func mentions(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBufferPointer(SQLiteImportGuard.mentionsWords) }
        #expect(mentions(Array("INSERT INTO t VALUES ('x', 'y');\nDeTaCh o".utf8)))
        #expect(mentions([0x41, 0x00, 0x42] + Array(" pRaGmA x".utf8)))
        #expect(mentions(Array("select LOAD_EXTENSION('x')".utf8)))
        #expect(!mentions(Array("INSERT INTO t VALUES (1, 'attac', 'prag ma')".utf8)))
        let dir = try TemporaryDirectory()
        for offset in [(1 << 20) - 3, (1 << 20) - 1, 1 << 20] {
            var text = [UInt8](repeating: UInt8(ascii: " "), count: offset)
            text += Array("ATTACH 'x' AS y;\n".utf8)
            _ = FileManager.default.createFile(atPath: dir.sub("border.sql"), contents: Data(text))
            let problems = SQLiteEngine().importProblems(in: [.file(dir.sub("border.sql"))], format: .sql, database: "app", serverVersion: nil)
            #expect(problems.count == 1, "ATTACH at byte \(offset)")
        }
    }

    /// The engine's own guard holds even for a statement the scan does not see.
    @Test func theConfinedConnectionCannotAttachOrChangeGlobalSettings() throws {
        let dir = try TemporaryDirectory()
        let connection = try SQLiteConnection(path: dir.sub("shadow.db"), create: true)
        let limit = SQLiteImportGuard.confine(connection)
        for statement in ["ATTACH '\(dir.sub("x.db"))' AS x", "PRAGMA temp_store_directory = '/tmp'", "PRAGMA journal_mode = WAL",
                          "SELECT load_extension('x')"] {
            #expect(throws: FerryError.self, "\(statement)") { try connection.execute(statement) }
        }
        #expect(!FileManager.default.fileExists(atPath: dir.sub("x.db")))
        try connection.execute("PRAGMA user_version = 7; PRAGMA foreign_keys = OFF; CREATE TABLE t(x); PRAGMA main.user_version = 8")
        #expect(try connection.strings("PRAGMA user_version") == ["8"])
        SQLiteImportGuard.release(connection, attachLimit: limit)
        try connection.execute("ATTACH '\(dir.sub("x.db"))' AS x; DETACH x")
    }

    /// What `sqlite3 .dump` writes (pragmas, BEGIN/COMMIT, sqlite_sequence) still imports.
    @Test func theSqlite3ShellsDumpImports() throws {
        let dir = try TemporaryDirectory()
        try makeSampleDatabase(dir.sub("src.db"), rows: 200)
        try sql(dir.sub("src.db"), "CREATE TABLE seq(id INTEGER PRIMARY KEY AUTOINCREMENT, v); INSERT INTO seq(v) VALUES (1), (2); PRAGMA user_version = 5;")
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "sqlite3 '\(dir.sub("src.db"))' .dump > '\(dir.sub("dump.sql"))'"]
        try shell.run()
        shell.waitUntilExit()
        try #require(shell.terminationStatus == 0, "the sqlite3 shell is needed (apt install sqlite3)")
        let instance = try session(dir.sub("db"))
        #expect(SQLiteEngine().importProblems(in: [.file(dir.sub("dump.sql"))], format: .sql, database: "app", serverVersion: nil).isEmpty)
        let shadow = try instance.makeShadow(for: "app", runID: "g2")
        _ = try instance.importData(into: shadow, from: [.file(dir.sub("dump.sql"))], format: .sql, progress: ProgressCounter())
        #expect(try dump(instance.path(of: shadow)) == dump(dir.sub("src.db")))
        _ = try instance.verify(shadow: shadow, against: nil, database: nil, level: .checksum)
    }

    /// A copy of `file` with bytes of a b-tree leaf page past the first overwritten: `count(*)`
    /// still works, `PRAGMA quick_check` does not.
    static func damaged(_ file: String, into out: String) throws {
        var bytes = [UInt8](try #require(FileManager.default.contents(atPath: file)))
        let pageSize = Int(bytes[16]) << 8 | Int(bytes[17])
        let pages = bytes.count / pageSize
        let leaf = try #require((2..<pages).reversed().first { bytes[($0 - 1) * pageSize] == 13 }, "a table leaf page")
        for i in ((leaf - 1) * pageSize + 8)..<((leaf - 1) * pageSize + 40) { bytes[i] = 0xFF }
        _ = FileManager.default.createFile(atPath: out, contents: Data(bytes))
        let check = try SQLiteConnection(path: out, readOnly: true)
        #expect(try check.strings("SELECT count(*) FROM t") == ["3000"], "the damage leaves count(*) working")
        #expect((try? check.strings("PRAGMA quick_check")) != ["ok"], "quick_check reports the damage (or fails on it)")
    }

    @Test func aDamagedDatabaseFileFailsTheVerify() throws {
        let dir = try TemporaryDirectory()
        try sql(dir.sub("good.db"), """
            CREATE TABLE t(id INTEGER PRIMARY KEY, s TEXT);
            WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000)
            INSERT INTO t SELECT x, printf('row %06d %.*c', x, x % 40, 'p') FROM c;
            """)
        try Self.damaged(dir.sub("good.db"), into: dir.sub("damaged.db"))
        let instance = try session(dir.sub("db"))
        // One local file (a byte copy), and streamed parts (gzip'd or several), into empty shadows.
        let shadow = try instance.makeShadow(for: "app", runID: "g3")
        _ = try instance.importData(into: shadow, from: [.file(dir.sub("damaged.db"))], format: .sqlite, progress: ProgressCounter())
        for level in [VerifyLevel.count, .checksum] {
            do {
                _ = try instance.verify(shadow: shadow, against: nil, database: nil, level: level)
                Issue.record("a damaged file verified at \(level)")
            } catch let error as FerryError {
                #expect(error.code == .verifyFailed, "\(error)")
                #expect(error.message.contains("integrity"), "\(error.message)")
            }
        }
        try instance.drop(shadow)
        // The healthy file still verifies.
        let good = try instance.makeShadow(for: "app", runID: "g4")
        _ = try instance.importData(into: good, from: [.file(dir.sub("good.db"))], format: .sqlite, progress: ProgressCounter())
        _ = try instance.verify(shadow: good, against: nil, database: nil, level: .checksum)
    }
}
