import CSQLite
import FerryCore
import Foundation
import Testing
@testable import FerrySQLite

/// SQLite's own result codes reach callers as a value (`SQLiteError`, the `FerryError`'s cause),
/// provoked here for real on real files.
@Suite struct SQLiteErrorTests {
    /// The SQLite error `body` throws; records an issue when it throws none or another kind.
    private func sqliteError(_ body: () throws -> Void, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> (FerryError, SQLiteError)? {
        do {
            try body()
            Issue.record("no error", sourceLocation: sourceLocation)
        } catch let error as FerryError {
            guard let cause = error.sqlite else {
                Issue.record("a FerryError without its SQLite cause: \(error)", sourceLocation: sourceLocation)
                return nil
            }
            return (error, cause)
        } catch {
            Issue.record("not a FerryError: \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }

    @Test func aWriterLockedOutGetsSQLiteBusyWithItsMessage() throws {
        let dir = try TemporaryDirectory()
        let file = dir.sub("busy.db")
        try sql(file, "CREATE TABLE t(x)")
        let holder = try SQLiteConnection(path: file)
        try holder.execute("BEGIN IMMEDIATE")
        let other = try SQLiteConnection(path: file)
        sqlite3_busy_timeout(other.handle, 0)
        let failure = sqliteError { try other.execute("BEGIN IMMEDIATE; INSERT INTO t VALUES (1)") }
        #expect(failure?.1.extendedCode == SQLITE_BUSY)
        #expect(failure?.1.primaryCode == SQLITE_BUSY)
        #expect(failure?.1.message == "database is locked")
        #expect(failure?.1.path == file)
        #expect(failure?.0.code == .internalError)
        // The same through a prepared statement's step, with the caller's code.
        let insert = try other.prepare("INSERT INTO t VALUES (2)")
        let stepped = sqliteError { _ = try insert.step() }
        #expect(stepped?.1.primaryCode == SQLITE_BUSY)
        try holder.execute("COMMIT")
    }

    @Test func aStaleWALSnapshotThatWritesGetsTheExtendedBusySnapshotCode() throws {
        let dir = try TemporaryDirectory()
        let file = dir.sub("wal.db")
        try sql(file, "PRAGMA journal_mode = WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1)")
        let reader = try SQLiteConnection(path: file)
        let writer = try SQLiteConnection(path: file)
        try reader.execute("BEGIN")
        #expect(try reader.integer("SELECT count(*) FROM t") == 1)
        try writer.execute("INSERT INTO t VALUES (2)")
        let failure = sqliteError { try reader.execute("INSERT INTO t VALUES (3)") }
        #expect(failure?.1.extendedCode == SQLiteError.busySnapshot)
        #expect(failure?.1.primaryCode == SQLITE_BUSY)
        try reader.execute("ROLLBACK")
    }

    @Test(arguments: [
        ("CREATE TABLE t(x UNIQUE); INSERT INTO t VALUES (1), (1)", SQLiteError.constraintUnique, "UNIQUE constraint failed: t.x"),
        ("CREATE TABLE t(x PRIMARY KEY); INSERT INTO t VALUES (1), (1)", SQLiteError.constraintPrimaryKey, "UNIQUE constraint failed: t.x"),
        ("CREATE TABLE t(x NOT NULL); INSERT INTO t VALUES (NULL)", SQLiteError.constraintNotNull, "NOT NULL constraint failed: t.x"),
        ("CREATE TABLE t(x CHECK (x > 0)); INSERT INTO t VALUES (0)", SQLiteError.constraintCheck, "CHECK constraint failed: x > 0"),
        ("PRAGMA foreign_keys = ON; CREATE TABLE p(id INTEGER PRIMARY KEY); CREATE TABLE c(p REFERENCES p(id)); INSERT INTO c VALUES (7)",
         SQLiteError.constraintForeignKey, "FOREIGN KEY constraint failed"),
        ("CREATE TABLE t(x); CREATE TRIGGER no BEFORE INSERT ON t BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END; INSERT INTO t VALUES (1)",
         SQLiteError.constraintTrigger, "refused by trigger"),
    ])
    func eachConstraintKeepsItsExtendedCode(script: String, code: Int32, message: String) throws {
        let dir = try TemporaryDirectory()
        let failure = sqliteError { try sql(dir.sub("c.db"), script) }
        #expect(failure?.1.extendedCode == code)
        #expect(failure?.1.primaryCode == SQLITE_CONSTRAINT)
        #expect(failure?.1.message == message)
        #expect(failure?.0.message.contains("(SQLite \(code), ") == true, "\(failure?.0.message ?? "")")
    }

    @Test func anImportStatementThatBreaksAConstraintFailsTheImportWithTheCode() throws {
        let dir = try TemporaryDirectory()
        _ = FileManager.default.createFile(atPath: dir.sub("dup.sql"), contents: Data("""
            CREATE TABLE t(id INTEGER PRIMARY KEY, email TEXT UNIQUE);
            INSERT INTO t VALUES (1, 'a@example.org');
            INSERT INTO t VALUES (2, 'a@example.org');
            """.utf8))
        let instance = try session(dir.sub("db"))
        let shadow = try instance.makeShadow(for: "app", runID: "r1")
        let failure = sqliteError {
            _ = try instance.importData(into: shadow, from: [.file(dir.sub("dup.sql"))], format: .sql, progress: ProgressCounter())
        }
        #expect(failure?.0.code == .importError)
        #expect(failure?.0.message.hasSuffix("dup.sql:3: UNIQUE constraint failed: t.email") == true, "\(failure?.0.message ?? "")")
        #expect(failure?.1.extendedCode == SQLiteError.constraintUnique)
        // A statement SQLite cannot even prepare keeps its code too (plain SQLITE_ERROR).
        _ = FileManager.default.createFile(atPath: dir.sub("typo.sql"), contents: Data("CREATE TABLE t(x);\nINSERT INTO nowhere VALUES (1);\n".utf8))
        let shadow2 = try instance.makeShadow(for: "other", runID: "r1")
        let typo = sqliteError {
            _ = try instance.importData(into: shadow2, from: [.file(dir.sub("typo.sql"))], format: .sql, progress: ProgressCounter())
        }
        #expect(typo?.1.extendedCode == SQLITE_ERROR)
        #expect(typo?.1.message == "no such table: nowhere")
        try instance.drop(shadow)
        try instance.drop(shadow2)
    }

    @Test func aDamagedPageIsSQLiteCorruptAndAForeignFileIsNotADatabase() throws {
        let dir = try TemporaryDirectory()
        let file = dir.sub("damaged.db")
        try makeSampleDatabase(file, rows: 3000)
        // Overwrite the middle pages (table b-tree pages of `people`) with a pattern no page has.
        let handle = try #require(FileHandle(forUpdatingAtPath: file))
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: 4096 * 3)
        handle.write(Data(repeating: 0xA5, count: Int(min(4096 * 8, size - 4096 * 3))))
        try handle.close()
        let connection = try SQLiteConnection(path: file, readOnly: true)
        let failure = sqliteError { _ = try connection.strings("SELECT sum(length(name)) FROM people") }
        #expect(failure?.1.primaryCode == SQLITE_CORRUPT, "\(String(describing: failure?.1))")
        #expect(failure?.1.message.contains("malformed") == true, "\(String(describing: failure?.1))")

        let foreign = dir.sub("foreign.db")
        _ = FileManager.default.createFile(atPath: foreign, contents: Data(repeating: 0x42, count: 8192))
        let other = try SQLiteConnection(path: foreign, readOnly: true)
        let notADatabase = sqliteError { _ = try other.strings("SELECT name FROM sqlite_schema") }
        #expect(notADatabase?.1.extendedCode == SQLITE_NOTADB)
    }

    @Test func aDatabaseAtItsPageLimitIsSQLiteFullAndDiskFull() throws {
        let dir = try TemporaryDirectory()
        let file = dir.sub("full.db")
        try sql(file, "CREATE TABLE t(x)")
        let connection = try SQLiteConnection(path: file)
        try connection.execute("PRAGMA max_page_count = 4")
        let failure = sqliteError {
            try connection.execute("WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 2000) INSERT INTO t SELECT randomblob(100) FROM c")
        }
        #expect(failure?.1.primaryCode == SQLITE_FULL)
        #expect(failure?.0.code == .diskFull)
    }

    @Test func aFileThatCannotBeOpenedKeepsCantOpenAndTheSystemErrno() throws {
        let dir = try TemporaryDirectory()
        let failure = sqliteError { _ = try SQLiteConnection(path: dir.sub("no/such/dir/x.db"), create: true) }
        #expect(failure?.1.primaryCode == SQLITE_CANTOPEN)
        #expect(failure?.0.message.hasPrefix("cannot open SQLite file \(dir.sub("no/such/dir/x.db")): ") == true)
    }
}

extension SQLiteErrorTests {
    /// Fresh tester round 61, 6: a damaged target found at the swap was `Internal`, no hint. A
    /// damaged file (`SQLITE_CORRUPT`, `SQLITE_NOTADB`) where the caller has no code of its own is
    /// `WrongStatus`, with the way to check it; a caller's own code (a copy's `CopyError`) stands.
    @Test(arguments: [SQLITE_CORRUPT, SQLITE_NOTADB]) func aDamagedFileIsWrongStatusWithTheWayToCheckIt(_ code: Int32) {
        let error = SQLiteError(extendedCode: code, message: "database disk image is malformed", path: "/x/a.db")
        let refused = error.ferry(.internalError, "cannot prepare statement")
        #expect(refused.code == .wrongStatus && refused.diagnostics.first?.hint?.contains("PRAGMA integrity_check") == true, "\(refused)")
        #expect(refused.sqlite?.primaryCode == code, "the cause is kept")
        #expect(error.ferry(.copyError).code == .copyError)
        #expect(SQLiteError(extendedCode: SQLITE_BUSY, message: "database is locked", path: "/x/a.db").ferry(.internalError).code == .internalError)
    }
}
