import CSQLite
import FerryCore
import Foundation
import Testing
@testable import FerrySQLite

@Suite struct SQLiteImportTests {
    private func write(_ path: String, _ text: String) {
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    }

    private let script = """
        -- a dump
        BEGIN TRANSACTION;
        CREATE TABLE t(id INTEGER PRIMARY KEY, s TEXT);
        INSERT INTO t VALUES (1, 'semi;colon'), (2, 'it''s'), (3, '-- not a comment');
        /* a block; comment */
        CREATE TABLE audit(msg TEXT);
        CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN
          INSERT INTO audit VALUES ('one;');
          INSERT INTO audit VALUES ('two');
        END;
        INSERT INTO t(s) VALUES ("x;y");
        COMMIT;
        INSERT INTO t(s) VALUES ('last without semicolon')
        """

    @Test func sqlFileLoadsInOneTransactionWithTriggersAndTrickyStrings() throws {
        let dir = try TemporaryDirectory()
        write(dir.sub("seed.sql"), script)
        let instance = try session(dir.sub("db"))
        let shadow = try instance.makeShadow(for: "app", runID: "r1")
        let progress = ProgressCounter()
        let stats = try instance.importData(into: shadow, from: [.file(dir.sub("seed.sql"))], format: .sql, progress: progress)
        #expect(stats.bytes == Int64(script.utf8.count))
        #expect(progress.snapshot.bytes == Int64(script.utf8.count))
        let rows = try dump(instance.path(of: shadow))
        #expect(rows["t"] == ["1:1|1:1|3:semi;colon", "1:2|1:2|3:it's", "1:3|1:3|3:-- not a comment", "1:4|1:4|3:x;y",
                              "1:5|1:5|3:last without semicolon"])
        #expect(rows["audit"]?.count == 4)
        _ = try instance.verify(shadow: shadow, against: nil, database: nil, level: .checksum)
    }

    @Test func aFailingStatementMidFileNamesTheLineAndLeavesNothing() throws {
        let dir = try TemporaryDirectory()
        try sql(dir.sub("db/app.db"), "CREATE TABLE keep(x); INSERT INTO keep VALUES (1)")
        let before = fileBytes(dir.sub("db/app.db"))
        write(dir.sub("bad.sql"), "CREATE TABLE t(x);\nINSERT INTO t VALUES (1);\n\n-- next fails\nINSERT INTO\n  missing VALUES (2);\nINSERT INTO t VALUES (3);\n")
        let instance = try session(dir.sub("db"))
        let shadow = try instance.makeShadow(for: "app", runID: "r1")
        do {
            _ = try instance.importData(into: shadow, from: [.file(dir.sub("bad.sql"))], format: .sql, progress: ProgressCounter())
            Issue.record("the import succeeded")
        } catch let error as FerryError {
            #expect(error.code == .importError)
            #expect(error.message.contains("bad.sql:5:"), "\(error.message)")
            #expect(error.message.contains("no such table: missing"), "\(error.message)")
        }
        #expect(try dump(instance.path(of: shadow)).isEmpty)
        try instance.drop(shadow)
        #expect(fileBytes(dir.sub("db/app.db")) == before)
        #expect(try instance.describe().databases.keys.sorted() == ["app"])
    }

    @Test func gzipSourcesAndSeveralPartsLoadInOrder() throws {
        let dir = try TemporaryDirectory()
        write(dir.sub("part1.sql"), "CREATE TABLE t(x);\nINSERT INTO t VALUES (1);\nINSERT INTO t VALUES\n")
        write(dir.sub("part2.sql"), "(2);\nINSERT INTO t VALUES (3);\n")
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = [dir.sub("part2.sql")]
        try gzip.run()
        gzip.waitUntilExit()
        #expect(gzip.terminationStatus == 0)
        let instance = try session(dir.sub("db"))
        let shadow = try instance.makeShadow(for: "app", runID: "r1")
        let stats = try instance.importData(into: shadow, from: [.file(dir.sub("part1.sql")), .file(dir.sub("part2.sql.gz"))],
                                            format: .sql, progress: ProgressCounter())
        #expect(stats.rows == 3)
        #expect(try dump(instance.path(of: shadow))["t"] == ["1:1|1:1", "1:2|1:2", "1:3|1:3"])
    }

    @Test func sqliteFileImportCopiesTheDatabase() throws {
        let dir = try TemporaryDirectory()
        try makeSampleDatabase(dir.sub("seed.db"))
        let instance = try session(dir.sub("db"))
        let shadow = try instance.makeShadow(for: "app", runID: "r1")
        _ = try instance.importData(into: shadow, from: [.file(dir.sub("seed.db"))], format: .sqlite, progress: ProgressCounter())
        _ = try instance.verify(shadow: shadow, against: nil, database: nil, level: .checksum)
        #expect(try dump(instance.path(of: shadow)) == dump(dir.sub("seed.db")))
    }

    /// A `.db` source with commits still in its `-wal` is read with them, and left exactly as it
    /// was: no checkpoint into it, its `-wal` kept (a fresh tester's `src.db` grew and lost its WAL).
    @Test func aSourceWithAnUncheckpointedWALIsReadAndLeftAsItWas() throws {
        let dir = try TemporaryDirectory()
        var db: OpaquePointer?
        try #require(sqlite3_open(dir.sub("live.db"), &db) == SQLITE_OK)
        for statement in ["PRAGMA journal_mode=WAL", "PRAGMA wal_autocheckpoint=0", "CREATE TABLE t(x)",
                          "INSERT INTO t VALUES (1), (2), (3)"] {
            try #require(sqlite3_exec(db, statement, nil, nil, nil) == SQLITE_OK)
        }
        // The files as a killed writer leaves them: commits in the WAL only, no open connection.
        for suffix in ["", "-wal"] {
            try FileManager.default.copyItem(atPath: dir.sub("live.db" + suffix), toPath: dir.sub("src.db" + suffix))
        }
        sqlite3_close(db)
        let before = ["", "-wal"].map { FileManager.default.contents(atPath: dir.sub("src.db" + $0)) }
        #expect(before[1]?.isEmpty == false)
        let instance = try session(dir.sub("db"))
        let shadow = try instance.makeShadow(for: "app", runID: "r1")
        _ = try instance.importData(into: shadow, from: [.file(dir.sub("src.db"))], format: .sqlite, progress: ProgressCounter())
        #expect(try dump(instance.path(of: shadow))["t"]?.count == 3, "the WAL's commits are imported")
        #expect(["", "-wal"].map { FileManager.default.contents(atPath: dir.sub("src.db" + $0)) } == before,
                "the source file and its WAL are as they were")
    }

    @Test func appendImportAddsToTheClonedSnapshot() throws {
        let dir = try TemporaryDirectory()
        try sql(dir.sub("db/app.db"), "CREATE TABLE t(x); INSERT INTO t VALUES ('before')")
        write(dir.sub("more.sql"), "INSERT INTO t VALUES ('after');")
        let instance = try session(dir.sub("db"))
        let shadow = try instance.makeShadow(for: "app", runID: "r1")
        try instance.cloneDatabase("app", into: shadow, progress: ProgressCounter())
        _ = try instance.importData(into: shadow, from: [.file(dir.sub("more.sql"))], format: .sql, progress: ProgressCounter())
        #expect(try dump(instance.path(of: shadow))["t"] == ["1:1|3:before", "1:2|3:after"])
        #expect(try dump(dir.sub("db/app.db"))["t"] == ["1:1|3:before"])
    }
}

@Suite struct SQLiteImportEdgeTests {
    @Test func aFileThatRollsBackItsOwnTransactionFails() throws {
        let dir = try TemporaryDirectory()
        _ = FileManager.default.createFile(atPath: dir.sub("x.sql"), contents: Data("BEGIN;\nCREATE TABLE t(x);\nROLLBACK; -- due to errors\n".utf8))
        let instance = try session(dir.sub("db"))
        let shadow = try instance.makeShadow(for: "app", runID: "r1")
        do {
            _ = try instance.importData(into: shadow, from: [.file(dir.sub("x.sql"))], format: .sql, progress: ProgressCounter())
            Issue.record("a file that rolls back was imported")
        } catch let error as FerryError {
            #expect(error.code == .importError)
            #expect(error.message.contains("x.sql:3"), "\(error.message)")
        }
    }

    @Test func shadowAndCheckpointNamesStayWithinAFileNameForLongNames() {
        let long = String(repeating: "n", count: 200)
        for name in [SQLiteNames.shadowName(for: long, runID: "20261123T050000Z-abcdef"),
                     SQLiteNames.checkpointName(for: long, runID: String(repeating: "r", count: 80))] {
            #expect((name + ".db").utf8.count <= 255)
            #expect(name.hasPrefix("."))
        }
        #expect(SQLiteNames.shadowName(for: "app", runID: "r1") == ".app.ferry-shadow-r1")
        #expect(SQLiteNames.checkpointName(for: "app", runID: "r1") == ".app.ferry-ckpt-r1")
        #expect(SQLiteNames.shadowName(for: "a", runID: "x") != SQLiteNames.shadowName(for: "b", runID: "x"))
    }
}
