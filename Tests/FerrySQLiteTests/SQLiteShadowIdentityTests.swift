import CSQLite
import FerryCore
import Foundation
@testable import FerrySQLite
import Testing

/// Issue 14, round 9 (F1, "the same at a shadow's path"): an SQLite shadow carries no mark, so
/// Ferry removes the file at a shadow's name (and the files named after it) only while it is
/// the file the run made: made exclusively, its device, inode and birth time journaled right
/// after. A file made, moved or linked there later, even one that got the freed inode number,
/// is someone else's: left as it is, `OperationDenied.WrongStatus`. Without a journaled
/// identity (a kill between the exclusive create and its record) only an empty file with
/// nothing beside it is taken for the run's.
@Suite struct SQLiteShadowIdentityTests {
    let run = "20261201T135637135Z-b088d8"

    /// The run's own shadow, by the identity journaled at its creation, goes with its companions.
    @Test func theRunsOwnShadowIsRemoved() throws {
        let dir = try TemporaryDirectory()
        let s = try session(dir.path)
        let shadow = try s.makeShadow(for: "slow", runID: run)
        let identity = try #require(try s.shadowIdentity(of: shadow))
        #expect(identity.split(separator: ":").count == 3, "device, inode and birth time on ext4: \(identity)")
        try sql(s.path(of: shadow), "CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        // An empty `-wal` of the shadow's owner, made after it: what a reader of a WAL-mode shadow leaves.
        _ = FileManager.default.createFile(atPath: s.path(of: shadow) + "-wal", contents: Data())
        try s.dropShadow(shadow, identity: identity)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(shadow) } == [])
        #expect(s.takeLeftNotes() == [])
        // And through the leftovers' sweep.
        let again = try s.makeShadow(for: "slow", runID: run)
        let second = try #require(try s.shadowIdentity(of: again))
        try sql(s.path(of: again), "CREATE TABLE t(x);")
        #expect(try s.removeLeftovers(ofRun: run, database: "slow", shadowIdentity: second).contains(again + ".db"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(again) } == [])
        try s.dropShadow(again, identity: second)   // nothing there: fine
    }

    enum Replacement: String, CaseIterable { case removedAndMadeAgain, movedOver, symbolicLink, hardLinkOfAnother }

    /// Round-11 F3: a shadow's companions go only where provably SQLite's for it. A `-journal`
    /// (the run's shadows have none) and a `-wal` with content are left, named in a note; a
    /// `-shm` holding SQLite's wal-index (a copy of a real one: its header twice) and an empty
    /// `-wal` go; a `-wal` made before the shadow is left.
    @Test func onlyCompanionsSQLiteMakesForTheShadowGo() throws {
        let dir = try TemporaryDirectory()
        let s = try session(dir.path)
        // A real wal-index: a WAL database with a connection open.
        let wal = dir.sub("walmode.db")
        var db: OpaquePointer?
        #expect(sqlite3_open(wal, &db) == SQLITE_OK)
        defer { sqlite3_close(db) }
        #expect(sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1);", nil, nil, nil) == SQLITE_OK)
        let index = try Data(contentsOf: URL(fileURLWithPath: wal + "-shm"))
        // A `-wal` made before the shadow.
        let early = dir.sub(".slow.ferry-shadow-\(run).db-wal")
        _ = FileManager.default.createFile(atPath: early, contents: Data())
        Thread.sleep(forTimeInterval: 0.02)
        let shadow = try s.makeShadow(for: "slow", runID: run)
        let identity = try #require(try s.shadowIdentity(of: shadow))
        let file = s.path(of: shadow)
        _ = FileManager.default.createFile(atPath: file + "-journal", contents: Data())
        _ = FileManager.default.createFile(atPath: file + "-shm", contents: index)
        try s.dropShadow(shadow, identity: identity)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(shadow) }.sorted()
        #expect(left == [shadow + ".db-journal", shadow + ".db-wal"], "\(left)")
        let notes = s.takeLeftNotes()
        #expect(notes.count == 2 && notes.allSatisfy { $0.contains("left as it is") }, "\(notes)")
        #expect(notes.contains { $0.contains("-journal") && $0.contains("never makes") }, "\(notes)")
        #expect(notes.contains { $0.contains("-wal") && $0.contains("made before the run's shadow") }, "\(notes)")
        // A `-wal` with frames, made after: left too.
        let again = try s.makeShadow(for: "other", runID: run)
        _ = FileManager.default.createFile(atPath: s.path(of: again) + "-wal", contents: Data("frames".utf8))
        try s.dropShadow(again, identity: try s.shadowIdentity(of: again))
        #expect(FileManager.default.fileExists(atPath: s.path(of: again) + "-wal"))
        #expect(s.takeLeftNotes().count == 1)
    }

    /// The tester's case and its variants: the shadow is replaced after the run made it.
    @Test(arguments: Replacement.allCases)
    func aFileThatTookTheShadowsPlaceIsLeft(_ replacement: Replacement) throws {
        let dir = try TemporaryDirectory()
        let s = try session(dir.path)
        let shadow = try s.makeShadow(for: "slow", runID: run)
        let file = s.path(of: shadow)
        let identity = try #require(try s.shadowIdentity(of: shadow))
        let inode = try #require(FileManager.default.attributesOfItem(atPath: file)[.systemFileNumber] as? UInt64)
        let mine = dir.sub("mine.db")
        try sql(mine, "CREATE TABLE mine(x); INSERT INTO mine VALUES ('user-made');")
        switch replacement {
        case .removedAndMadeAgain:
            try FileManager.default.removeItem(atPath: file)
            try sql(file, "CREATE TABLE mine(x); INSERT INTO mine VALUES ('user-made');")
            let now = try #require(FileManager.default.attributesOfItem(atPath: file)[.systemFileNumber] as? UInt64)
            // ext4 gives the freed inode number at once: the device and inode alone would match.
            print("shadow inode \(inode), the user's file at its name \(now)")
        case .movedOver:
            #expect(rename(mine, file) == 0)
        case .symbolicLink:
            try FileManager.default.removeItem(atPath: file)
            try FileManager.default.createSymbolicLink(atPath: file, withDestinationPath: mine)
        case .hardLinkOfAnother:
            try FileManager.default.removeItem(atPath: file)
            #expect(link(mine, file) == 0)
        }
        _ = FileManager.default.createFile(atPath: file + "-journal", contents: Data("the user's journal".utf8))
        let before = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        let bytes = before.map { FileManager.default.contents(atPath: dir.sub($0)) }
        for attempt in ["dropShadow", "removeLeftovers", "removeLeftovers without identity"] {
            do {
                switch attempt {
                case "dropShadow": try s.dropShadow(shadow, identity: identity)
                case "removeLeftovers": _ = try s.removeLeftovers(ofRun: run, database: "slow", shadowIdentity: identity)
                default: _ = try s.removeLeftovers(ofRun: run, database: "slow")
                }
                Issue.record("\(attempt) removed or accepted what is not the run's shadow (\(replacement))")
            } catch let error as FerryError {
                #expect(error.code == .wrongStatus, "\(attempt): \(error)")
                #expect(error.message.contains(file) && error.message.contains("left as it is"), "\(attempt): \(error.message)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == before, "\(attempt): nothing removed")
            #expect(before.map { FileManager.default.contents(atPath: dir.sub($0)) } == bytes, "\(attempt): nothing changed")
        }
    }

    /// A kill between the exclusive create and the journal's record: no identity. The empty
    /// file the run just made goes; anything else there is left.
    @Test func withoutAJournaledIdentityOnlyAnEmptyFileIsTheRuns() throws {
        let dir = try TemporaryDirectory()
        let s = try session(dir.path)
        let shadow = try s.makeShadow(for: "slow", runID: run)
        let file = s.path(of: shadow)
        try s.dropShadow(shadow, identity: nil)
        #expect(!FileManager.default.fileExists(atPath: file), "the empty file the run made is removed")

        _ = try s.makeShadow(for: "slow", runID: run)
        #expect(try s.removeLeftovers(ofRun: run, database: "slow", shadowIdentity: nil) == [shadow + ".db"])

        for variant in ["with rows", "with a -journal beside it", "with a second name"] {
            _ = try s.makeShadow(for: "slow", runID: run)
            switch variant {
            case "with rows": try sql(file, "CREATE TABLE mine(x); INSERT INTO mine VALUES ('user-made');")
            case "with a -journal beside it": _ = FileManager.default.createFile(atPath: file + "-journal", contents: Data())
            default: #expect(link(file, dir.sub("elsewhere.db")) == 0)
            }
            #expect(throws: FerryError.self, "\(variant)") { try s.dropShadow(shadow, identity: nil) }
            #expect(throws: FerryError.self, "\(variant)") { try s.removeLeftovers(ofRun: run, database: "slow", shadowIdentity: nil) }
            #expect(FileManager.default.fileExists(atPath: file), "\(variant): left as it is")
            for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) { try FileManager.default.removeItem(atPath: dir.sub(name)) }
        }
        // A shadow an earlier release journaled (no identity on its `shadowCreated`): by name.
        _ = try s.makeShadow(for: "slow", runID: run)
        try sql(file, "CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        try s.dropShadow(shadow, identity: JournalRecord.identityOfAnEarlierRelease)
        #expect(!FileManager.default.fileExists(atPath: file))
    }

    /// `makeShadow` creates exclusively: a file already at the name is neither replaced nor
    /// removed (before, it was dropped first).
    @Test func aFileAlreadyAtTheShadowsNameIsNeverReplaced() throws {
        let dir = try TemporaryDirectory()
        let s = try session(dir.path)
        let file = s.path(of: SQLiteNames.shadowName(for: "slow", runID: run))
        try sql(file, "CREATE TABLE mine(x); INSERT INTO mine VALUES ('user-made');")
        let bytes = FileManager.default.contents(atPath: file)
        do {
            _ = try s.makeShadow(for: "slow", runID: run)
            Issue.record("a shadow was made over a file already there")
        } catch let error as FerryError {
            #expect(error.code == .wrongStatus && error.message.contains(file), "\(error)")
        }
        #expect(FileManager.default.contents(atPath: file) == bytes)
        // A dangling symbolic link at the name: not followed, not replaced.
        try FileManager.default.removeItem(atPath: file)
        try FileManager.default.createSymbolicLink(atPath: file, withDestinationPath: dir.sub("nowhere.db"))
        #expect(throws: FerryError.self) { try s.makeShadow(for: "slow", runID: run) }
        #expect(!FileManager.default.fileExists(atPath: dir.sub("nowhere.db")), "nothing made through the link")
    }

    /// `FileBirth`: a file made again at a path is not the one before, even with its inode
    /// number (retried until the file system gives the freed number again).
    @Test func aFileMadeAgainWithTheFreedInodeIsAnotherFile() throws {
        let dir = try TemporaryDirectory()
        let path = dir.sub("f")
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        let first = try #require(FileBirth.identity(ofPath: path, followingLinks: false))
        try #require(first.split(separator: ":").count == 3, "a birth time on ext4: \(first)")
        // Files are made (and kept) until one gets the number back (tests running beside this
        // one may take it first: then the reuse is not checked here).
        try FileManager.default.removeItem(atPath: path)
        var reused = false
        for n in 0..<200 {
            let trial = dir.sub("try\(n)")
            _ = FileManager.default.createFile(atPath: trial, contents: Data())
            let now = try #require(FileBirth.identity(ofPath: trial, followingLinks: false))
            if now.split(separator: ":").prefix(2) == first.split(separator: ":").prefix(2) {
                #expect(rename(trial, path) == 0)
                reused = true
                break
            }
        }
        if reused {
            #expect(!FileBirth.matches(FileBirth.identity(ofPath: path, followingLinks: false), recorded: first))
            // An identity of an earlier release (device and inode) compares by those two.
            #expect(FileBirth.matches(FileBirth.identity(ofPath: path, followingLinks: false),
                                      recorded: first.split(separator: ":").prefix(2).joined(separator: ":")))
        } else {
            print("no file got the inode number again: reuse not checked")
            _ = FileManager.default.createFile(atPath: path, contents: Data())
        }
        // Without reuse: the same device and inode with another birth time is another file.
        let parts = first.split(separator: ":")
        #expect(!FileBirth.matches("\(parts[0]):\(parts[1]):b1", recorded: first))
        let before = try #require(FileBirth.identity(ofPath: path, followingLinks: false))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.write(Data("written".utf8))
        try handle.close()
        #expect(rename(path, dir.sub("g")) == 0)
        #expect(FileBirth.matches(FileBirth.identity(ofPath: dir.sub("g"), followingLinks: false), recorded: before),
                "a write and a rename keep it")
    }
}
