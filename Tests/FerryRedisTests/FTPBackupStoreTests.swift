import FerryCore
import FerryIO
import Foundation
import Testing

/// `ftp://` backup locations against the pyftpdlib server of scripts/storage-servers.sh, whose
/// directory is read on its own disk: a file goes up under a temporary name and is renamed into
/// place only when no file of its name is there (issue 21: never overwrite what Ferry did not write).
@Suite struct FTPBackupStoreTests {
    /// The store of `ftp://WRITER:${env:...}@HOST/unit/TAG` and that directory on the server's disk.
    func store(_ tag: String) throws -> (store: any BackupStore, directory: String) {
        RemoteBackupStores.install()
        setenv("FERRY_TEST_FTP_UNIT_PW", try StorageServers.variable("FERRY_TEST_FTP_BACKUP_PASSWORD"), 1)
        let location = "ftp://\(try StorageServers.variable("FERRY_TEST_FTP_BACKUP_WRITER")):${env:FERRY_TEST_FTP_UNIT_PW}@"
            + "\(try StorageServers.variable("FERRY_TEST_FTP_BACKUP_HOST"))/unit/\(tag)"
        return (try BackupStores.open(location), try StorageServers.variable("FERRY_TEST_FTP_BACKUP_ROOT") + "/unit/" + tag)
    }

    func text(_ path: String) -> String? { FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } }

    @Test func aFileFerryDidNotWriteIsNeverReplacedAndAFreshOneAppearsWhole() throws {
        let (store, directory) = try store("n-\(UUID().uuidString.prefix(8))")
        let id = "20261130T000000000Z-abcdef"
        let set = directory + "/" + id
        try FileManager.default.createDirectory(atPath: set, withIntermediateDirectories: true)
        let local = NSTemporaryDirectory() + "ferry-ftp-unit-\(UUID().uuidString)"
        try "ferry bytes".write(toFile: local, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: local) }
        func isNameConflict(_ error: any Error) -> Bool { (error as? FerryError)?.code == .nameConflict }

        // A file of the name Ferry would rename to: refused, the user's bytes kept, no temporary left.
        try "user data".write(toFile: set + "/app.db", atomically: true, encoding: .utf8)
        do { try store.put("app.db", from: local, in: id); Issue.record("put over a file Ferry did not write") } catch {
            #expect(isNameConflict(error), "\(error)")
        }
        #expect(text(set + "/app.db") == "user data")
        #expect(!FileManager.default.fileExists(atPath: set + "/.app.db.ferry-part"))

        // A temporary name someone else holds is not Ferry's either: left as it is.
        try "other".write(toFile: set + "/.small.db.ferry-part", atomically: true, encoding: .utf8)
        do { try store.put("small.db", from: local, in: id); Issue.record("put over a foreign temporary file") } catch {
            #expect(isNameConflict(error), "\(error)")
        }
        #expect(text(set + "/.small.db.ferry-part") == "other")
        #expect(!FileManager.default.fileExists(atPath: set + "/small.db"))

        // A fresh name goes up whole; temporaries are no file of the set.
        try store.put("new.db", from: local, in: id)
        #expect(text(set + "/new.db") == "ferry bytes")
        #expect(!FileManager.default.fileExists(atPath: set + "/.new.db.ferry-part"))
        #expect(try store.files(in: id) == ["app.db": 9, "new.db": 11])
        #expect(try store.manifest(of: id) == nil)
        #expect(try store.setIDs() == [id])

        // Removing the set takes everything in its directory, and the directory.
        try store.removeSet(id, only: nil)
        #expect(!FileManager.default.fileExists(atPath: set))
        try store.removeSet(id, only: nil)
    }
}
