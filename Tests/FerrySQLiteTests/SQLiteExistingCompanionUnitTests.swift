import CSQLite
import FerryCore
import Foundation
import Testing
@testable import FerrySQLite

/// Fresh tester w31 A6 at the engine: every SQLite open of an existing database is preceded by
/// Ferry's own look at its companions (`SQLiteSession.foreignCompanion(ofExisting:)`), so a file
/// that appears after the plan's look (a copy's source, a backup's database, a content token
/// read at apply) is refused there too, nothing opened. And what is a database's own passes: its
/// WAL with frames, a live writer's journal, an empty `-wal`.
@Suite(.serialized) struct SQLiteExistingCompanionUnitTests {
    /// `DIR/other.db` in WAL mode with 300 committed rows only in its `-wal` (connection still
    /// open, so no checkpoint): the bytes of that `-wal`, copied while it is open.
    func foreignWAL(in dir: TemporaryDirectory, pageSize: Int = 4096) throws -> Data {
        let other = dir.sub("crash/other.db")
        try sql(other, "PRAGMA page_size=\(pageSize); PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE other(a)")
        let writer = try SQLiteConnection(path: other)
        return try withExtendedLifetime(writer) {
            try writer.execute("PRAGMA wal_autocheckpoint=0; INSERT INTO other \(Self.series(300))")
            return try #require(FileManager.default.contents(atPath: other + "-wal"))
        }
    }

    func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    /// `SELECT` of the integers 1...n (the library has no `generate_series`).
    static func series(_ n: Int) -> String {
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < \(n)) SELECT i FROM s"
    }

    /// A copy's source, a backup's database and a content token: each refused with
    /// `OperationDenied.WrongStatus` naming the `-wal`; the database and the `-wal` left byte for
    /// byte; the facts list the database as occupied and are not read through SQLite.
    @Test func everyOpenOfADatabaseBesideAnotherDatabasesWALIsRefused() throws {
        let dir = try TemporaryDirectory()
        try makeSampleDatabase(dir.sub("A/app.db"), rows: 200)
        let wal = try foreignWAL(in: dir)
        try #require(wal.count > 4096)
        try wal.write(to: URL(fileURLWithPath: dir.sub("A/app.db-wal")))
        let before = (bytes(dir.sub("A/app.db")), bytes(dir.sub("A/app.db-wal")))
        let source = try session(dir.sub("A"), name: "a")
        let target = try session(dir.sub("B"), name: "b")

        let shadow = try target.makeShadow(for: "app", runID: "r1")
        for (what, attempt) in [
            ("copy", { _ = try target.copyData(from: source, database: "app", into: shadow, progress: ProgressCounter()) }),
            ("backup", { _ = try source.writeBackup(of: "app", to: URL(fileURLWithPath: dir.sub("set/app.db")), progress: ProgressCounter()) }),
            ("token", { _ = try source.contentToken(of: "app") }),
        ] as [(String, () throws -> Void)] {
            do {
                try attempt()
                Issue.record("\(what): not refused")
            } catch let error as FerryError {
                #expect(error.code == .wrongStatus, "\(what): \(error.message)")
                #expect(error.message.contains(dir.sub("A/app.db-wal") + " is there") && error.message.contains("rollback-journal mode"), "\(what): \(error.message)")
            }
        }
        let facts = try source.describe()
        #expect(facts.occupiedNames?["app"]?.contains("app.db-wal is there") == true, "\(String(describing: facts.occupiedNames))")
        #expect(facts.databases["app"]?.isFingerprintExact == false)
        #expect(bytes(dir.sub("A/app.db")) == before.0 && bytes(dir.sub("A/app.db-wal")) == before.1, "left byte for byte")
        #expect(!FileManager.default.fileExists(atPath: dir.sub("A/app.db-shm")), "not opened with SQLite")
    }

    /// What is provable of a `-wal` beside a database in WAL mode: one of another page size, or
    /// whose header is not a WAL header, is refused; the database's own (frames of a live or
    /// killed writer) passes, and so does an empty `-wal` beside one in rollback-journal mode.
    @Test func aWALBesideAWALModeDatabaseIsItsOwnOnlyWhenItsHeaderCanBe() throws {
        let dir = try TemporaryDirectory()
        let wal4k = try foreignWAL(in: dir)
        let file = dir.sub("A/app.db")
        try sql(file, "PRAGMA page_size=1024; PRAGMA journal_mode=WAL; CREATE TABLE keep(x); INSERT INTO keep VALUES ('precious')")
        let instance = try session(dir.sub("A"))
        #expect(SQLiteSession.foreignCompanion(ofExisting: file) == nil)

        try wal4k.write(to: URL(fileURLWithPath: file + "-wal"))
        #expect(SQLiteSession.foreignCompanion(ofExisting: file)?.contains("it holds pages of 4096 bytes and the database's are 1024") == true)
        #expect(throws: FerryError.self) { _ = try instance.contentToken(of: "app") }
        var garbage = wal4k
        garbage[0] ^= 0xff
        try garbage.write(to: URL(fileURLWithPath: file + "-wal"))
        #expect(SQLiteSession.foreignCompanion(ofExisting: file)?.contains("does not begin with a WAL header") == true)
        garbage = wal4k
        garbage[17] ^= 0x01   // a salt byte: the header's checksum no longer matches
        try garbage.write(to: URL(fileURLWithPath: file + "-wal"))
        #expect(SQLiteSession.foreignCompanion(ofExisting: file)?.contains("checksum does not match") == true)
        try FileManager.default.removeItem(atPath: file + "-wal")

        // Its own frames: a writer that keeps its connection (no checkpoint).
        let writer = try SQLiteConnection(path: file)
        try withExtendedLifetime(writer) {
            try writer.execute("PRAGMA wal_autocheckpoint=0; INSERT INTO keep \(Self.series(500))")
            #expect((FileIdentity(path: file + "-wal")?.size ?? 0) > 1024)
            #expect(SQLiteSession.foreignCompanion(ofExisting: file) == nil)
            #expect(try instance.contentToken(of: "app") != nil)
        }

        // An empty `-wal` beside a database in rollback-journal mode holds nothing.
        try sql(dir.sub("A/plain.db"), "CREATE TABLE t(x)")
        _ = FileManager.default.createFile(atPath: dir.sub("A/plain.db-wal"), contents: Data())
        #expect(SQLiteSession.foreignCompanion(ofExisting: dir.sub("A/plain.db")) == nil)
    }

    /// A journal is hot only while no connection holds the database's RESERVED lock: a live
    /// writer's journal (this process's connection in a transaction that spilled pages) is not
    /// refused; the same journal once the writer is gone without a commit is; a journal beside
    /// an empty database file is refused (SQLite would delete it).
    @Test func aLiveWritersJournalIsNotHotAndALeftOneIs() throws {
        let dir = try TemporaryDirectory()
        let file = dir.sub("A/app.db")
        try makeSampleDatabase(file, rows: 2000)
        let writer = try SQLiteConnection(path: file)
        try writer.execute("PRAGMA cache_size=2; BEGIN; UPDATE people SET name = upper(name)")
        let journal = try #require(bytes(file + "-journal"))
        try #require(journal.count > 512 && journal.first != 0, "the live writer's journal was synced")
        #expect(SQLiteSession.foreignCompanion(ofExisting: file) == nil, "a live writer's journal is not hot")
        // The same bytes beside a copy of the file, whose RESERVED lock nobody holds.
        try FileManager.default.createDirectory(atPath: dir.sub("B"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: file, toPath: dir.sub("B/app.db"))
        try journal.write(to: URL(fileURLWithPath: dir.sub("B/app.db-journal")))
        try writer.execute("ROLLBACK")
        #expect(SQLiteSession.foreignCompanion(ofExisting: dir.sub("B/app.db"))?.contains("a hot rollback journal") == true)
        // Beside an empty database file.
        _ = FileManager.default.createFile(atPath: dir.sub("B/empty.db"), contents: Data())
        try journal.write(to: URL(fileURLWithPath: dir.sub("B/empty.db-journal")))
        #expect(SQLiteSession.foreignCompanion(ofExisting: dir.sub("B/empty.db"))?.contains("beside an empty database file: SQLite would delete it") == true)
    }
}
