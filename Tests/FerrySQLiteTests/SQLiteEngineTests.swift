import CSQLite
import FerryCore
import Foundation
import Testing
@testable import FerrySQLite

@Suite struct SQLiteDescribeTests {
    /// What the planner reads of SQLite: no users (its note is the plan's warning), no finish step.
    @Test func capabilitiesSayNoUsersAndNothingToFinish() {
        let capabilities = SQLiteEngine().capabilities
        #expect(!capabilities.syncsUsers && capabilities.usersSyncNote?.contains("SQLite") == true)
        #expect(!capabilities.finishesCopies)
        #expect(capabilities.identifierLimit == IdentifierLimit(length: SQLiteNames.maxNameBytes, inBytes: true))
    }

    @Test func describeListsDatabaseFilesAndIgnoresFerrysHiddenFiles() throws {
        let dir = try TemporaryDirectory()
        try makeSampleDatabase(dir.sub("app.db"))
        try sql(dir.sub("other one.db"), "CREATE TABLE t(x)")
        _ = FileManager.default.createFile(atPath: dir.sub(".app.ferry-shadow-r1.db"), contents: Data())
        _ = FileManager.default.createFile(atPath: dir.sub("notes.txt"), contents: Data("x".utf8))
        let facts = try session(dir.path).describe()
        #expect(Set(facts.databases.keys) == ["app", "other one"])
        #expect(facts.databases["app"]?.detail == "3 tables")
        #expect(facts.databases["other one"]?.detail == "1 table")
        #expect((facts.databases["app"]?.sizeBytes ?? 0) > 4096)
        #expect(facts.version == String(cString: sqlite3_libversion()))
        #expect((facts.freeBytes ?? 0) > 0)
    }

    @Test func missingDirectoryIsAnEmptyInstanceAndAFileIsNotAnInstance() throws {
        let dir = try TemporaryDirectory()
        let facts = try session(dir.sub("not/yet")).describe()
        #expect(facts.databases.isEmpty)
        _ = FileManager.default.createFile(atPath: dir.sub("plain"), contents: Data())
        #expect(throws: FerryError.self) { _ = try session(dir.sub("plain")) }
        do { _ = try session(dir.sub("plain")) } catch let error as FerryError { #expect(error.code == .instanceNotFound) }
    }

    @Test func fingerprintChangesAfterEverySingleRowUpdateAndOnlyThen() throws {
        // WAL-restart: every commit is checkpointed, so the next one rewrites the WAL from its start
        // and the -wal file keeps its size: only the WAL index tells the commits apart.
        for mode in ["DELETE", "WAL", "WAL-restart"] {
            let dir = try TemporaryDirectory()
            let file = dir.sub("app.db")
            try makeSampleDatabase(file)
            try sql(file, "PRAGMA journal_mode=\(mode == "DELETE" ? "DELETE" : "WAL")")
            let instance = try session(dir.path)
            // A long-lived writer connection, as an application would keep (WAL stays in use).
            let writer = try SQLiteConnection(path: file)
            if mode == "WAL-restart" { try writer.execute("PRAGMA wal_autocheckpoint=1") }
            var walSizes: Set<Int64> = []
            var last = try #require(try instance.describe().databases["app"]?.fingerprint)
            #expect(try instance.describe().databases["app"]?.fingerprint == last, "unchanged database, \(mode)")
            for i in 1...20 {
                try writer.execute("UPDATE people SET score = score + 1 WHERE id = \(i)")
                let now = try #require(try instance.describe().databases["app"]?.fingerprint)
                walSizes.insert(FileIdentity(path: file + "-wal")?.size ?? 0)
                #expect(now != last, "update \(i) in \(mode) mode was missed")
                #expect(try instance.describe().databases["app"]?.fingerprint == now, "no change, \(mode)")
                // A read changes nothing.
                _ = try writer.integer("SELECT count(*) FROM people")
                #expect(try instance.describe().databases["app"]?.fingerprint == now, "a read changed it, \(mode)")
                last = now
            }
            if mode == "WAL-restart" { #expect(walSizes.count <= 2, "the WAL kept restarting at the same size: \(walSizes)") }
        }
    }

    @Test func databaseNamesTheEngineCannotHoldAreRejected() {
        let engine = SQLiteEngine()
        #expect(engine.problem(withDatabaseName: "app") == nil)
        #expect(engine.problem(withDatabaseName: "it's a \"name\" with spaces") == nil)
        #expect(engine.problem(withDatabaseName: "") != nil)
        #expect(engine.problem(withDatabaseName: "a/b") != nil)
        #expect(engine.problem(withDatabaseName: "a\0b") != nil)
        #expect(engine.problem(withDatabaseName: ".hidden") != nil)
        #expect(engine.problem(withDatabaseName: String(repeating: "x", count: 201)) != nil)
        #expect(engine.kind == .sqlite)
        #expect(engine.importFormats == [.sql, .sqlite])
    }
}

@Suite struct SQLiteClaimTests {
    @Test func aClaimByAnotherRunIsRefusedWithTheRunAndRole() throws {
        let dir = try TemporaryDirectory()
        let a = try session(dir.path)
        let b = try session(dir.path)
        try a.claim([DatabaseClaim(database: "app", role: .importing, runID: "run-1")])
        try a.claim([DatabaseClaim(database: "app", role: .importing, runID: "run-1")])
        do {
            try b.claim([DatabaseClaim(database: "app", role: .migrating, runID: "run-2")])
            Issue.record("a second run claimed a database another run is importing")
        } catch let error as FerryError {
            #expect(error.code == .wrongStatus)
            #expect(error.message.contains("run-1"))
            #expect(error.message.contains("Importing"))
        }
        #expect(try b.describe().claims == [DatabaseClaim(database: "app", role: .importing, runID: "run-1")])
        try b.claim([DatabaseClaim(database: "other", role: .importing, runID: "run-2")])
        try a.release(runID: "run-1")
        try a.release(runID: "run-1")
        try b.claim([DatabaseClaim(database: "app", role: .importing, runID: "run-2")])
        #expect(Set(try a.describe().claims.map(\.runID)) == ["run-2"])
    }
}

@Suite struct SQLiteCopyTests {
    @Test func copyThenEveryTableHoldsTheSameRowsOnBothSides() throws {
        let dir = try TemporaryDirectory()
        try makeSampleDatabase(dir.sub("A/app.db"), rows: 3000)
        let source = try session(dir.sub("A"), name: "a")
        let target = try session(dir.sub("B"), name: "b")
        let shadow = try target.makeShadow(for: "app", runID: "r1")
        let progress = ProgressCounter()
        let stats = try target.copyData(from: source, database: "app", into: shadow, progress: progress)
        #expect(stats.bytes == FileIdentity(path: dir.sub("A/app.db"))?.size)
        // The core verifies in a new session, as here, with the build's receipt.
        let report = try session(dir.sub("B"), name: "b").verify(shadow: shadow, against: source, database: "app", level: .checksum,
                                                                 receipt: stats.receipt)
        #expect(report.tables.first { $0.name == "people" }?.rows == 3000)
        // A rollback-journal source takes the kernel copy, compared byte for byte: the receipt
        // says so, and nothing is kept beside the shadow.
        #expect(stats.receipt.detail["comparedIdentity"] != nil)
        #expect(fileBytes(target.path(of: shadow) + ".ferry-verify.json") == nil)
        let record = try target.swap(SwapRecord(database: "app", shadow: shadow, checkpoint: nil, targetExisted: false))
        #expect(record.database == "app")
        #expect(try dump(dir.sub("B/app.db")) == dump(dir.sub("A/app.db")))
        #expect(try target.describe().databases.keys.sorted() == ["app"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.sub("B")).sorted() == ["app.db"])
    }

    @Test func verifyCatchesACorruptedCopy() throws {
        let dir = try TemporaryDirectory()
        try makeSampleDatabase(dir.sub("A/app.db"), rows: 3000)
        let source = try session(dir.sub("A"))
        let target = try session(dir.sub("B"))
        let shadow = try target.makeShadow(for: "app", runID: "r1")
        let built = try target.copyData(from: source, database: "app", into: shadow, progress: ProgressCounter())
        try sql(target.path(of: shadow), "DELETE FROM people WHERE id = 7")
        // With the receipt (the file changed since it was compared) and without it (an older
        // run's journal: both sides are counted and checksummed now).
        for receipt in [built.receipt, nil] {
            do {
                _ = try target.verify(shadow: shadow, against: source, database: "app", level: .checksum, receipt: receipt)
                Issue.record("a changed copy passed verification")
            } catch let error as FerryError {
                #expect(error.code == .verifyFailed)
            }
        }
    }

    @Test func walModeSourceIsCopiedWithItsUncheckpointedRows() throws {
        let dir = try TemporaryDirectory()
        let file = dir.sub("A/app.db")
        try makeSampleDatabase(file, rows: 2000)
        let writer = try SQLiteConnection(path: file)
        try writer.execute("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0")
        try writer.execute("INSERT INTO people(name) VALUES ('only in the wal'); UPDATE people SET name = 'renamed' WHERE id = 1")
        #expect((FileIdentity(path: file + "-wal")?.size ?? 0) > 0)
        let source = try session(dir.sub("A"))
        let target = try session(dir.sub("B"))
        let shadow = try target.makeShadow(for: "app", runID: "r1")
        let built = try target.copyData(from: source, database: "app", into: shadow, progress: ProgressCounter())
        #expect(built.receipt.tables?.first { $0.name == "people" }?.rows == 2001, "a WAL source's sums are taken in the copy's snapshot")
        let report = try session(dir.sub("B")).verify(shadow: shadow, against: source, database: "app", level: .checksum, receipt: built.receipt)
        #expect(report.tables.first { $0.name == "people" }?.rows == 2001)
        // A verify that reads the source again (no receipt) agrees too.
        _ = try target.verify(shadow: shadow, against: source, database: "app", level: .checksum, receipt: nil)
        #expect(try dump(target.path(of: shadow)) == dump(file))
        _ = try target.swap(SwapRecord(database: "app", shadow: shadow, checkpoint: nil, targetExisted: false))
        #expect(try dump(dir.sub("B/app.db")) == dump(file))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.sub("B")).filter { $0.hasPrefix(".") }.isEmpty)
    }

    @Test func backupWrittenAndRestoredRoundTrips() throws {
        let dir = try TemporaryDirectory()
        try makeSampleDatabase(dir.sub("A/app.db"))
        let instance = try session(dir.sub("A"))
        #expect(instance.backupFileExtension == "db")
        let file = URL(fileURLWithPath: dir.sub("backups/app.db"))
        try FileManager.default.createDirectory(atPath: dir.sub("backups"), withIntermediateDirectories: true)
        _ = try instance.writeBackup(of: "app", to: file, progress: ProgressCounter())
        try sql(dir.sub("A/app.db"), "DELETE FROM people")
        let shadow = try instance.makeShadow(for: "app", runID: "r2")
        let restored = try instance.restoreBackup(from: file, into: shadow, progress: ProgressCounter())
        _ = try instance.verify(shadow: shadow, against: nil, database: nil, level: .checksum, receipt: restored.receipt)
        #expect(try dump(instance.path(of: shadow))["people"]?.count == 500)
        #expect(try dump(instance.path(of: shadow)) == dump(file.path))
    }

    @Test func namesWithQuotesAndSpacesWorkEverywhere() throws {
        let dir = try TemporaryDirectory()
        let name = "it's a \"name\" with spaces"
        try makeSampleDatabase(dir.sub("A/\(name).db"))
        let source = try session(dir.sub("A"))
        let target = try session(dir.sub("B"))
        #expect(try source.describe().databases[name] != nil)
        let shadow = try target.makeShadow(for: name, runID: "r 1")
        _ = try target.copyData(from: source, database: name, into: shadow, progress: ProgressCounter())
        _ = try target.verify(shadow: shadow, against: source, database: name, level: .checksum)
        _ = try target.swap(SwapRecord(database: name, shadow: shadow, checkpoint: nil, targetExisted: false))
        #expect(try dump(dir.sub("B/\(name).db")) == dump(dir.sub("A/\(name).db")))
        try target.drop(name)
        try target.drop(name)
        #expect(try target.describe().databases.isEmpty)
    }
}
