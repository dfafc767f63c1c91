import FerryCore
import Foundation
import Testing

/// Fresh tester round 35b, F7: pruning a set (`keep`) removed its whole folder, a user's note in
/// it included, and through a symbolic link in a set's place removed a manifest outside the
/// location. A set loses only the files its manifest names; anything else stays, and a link is
/// refused. (The storage stores take the same `only:` list: `RemoteBackupStores`, `FTPBackups`.)
@Suite struct BackupPruneTests {
    func makeSet(_ root: String, _ id: String) throws {
        let folder = root + "/" + id
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data("rdb".utf8).write(to: URL(fileURLWithPath: folder + "/1.rdb"))
        let manifest = BackupSetManifest(id: id, instance: "r", engine: .redis, takenAt: Date(),
                                         entries: [.init(database: "1", file: "1.rdb", sizeBytes: 3, fingerprint: nil)])
        try JSONEncoder.ferry.encode(manifest).write(to: URL(fileURLWithPath: folder + "/manifest.json"))
    }

    @Test func aPruneLeavesWhatTheManifestDoesNotName() throws {
        let root = NSTemporaryDirectory() + "ferry-prune-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        // A set with a user's note and folder in it: the set's files go, the note stays.
        try makeSet(root, "20261204T000000000Z-aaaaaa")
        let folder = root + "/20261204T000000000Z-aaaaaa"
        try Data("my notes".utf8).write(to: URL(fileURLWithPath: folder + "/USER-NOTES.txt"))
        try FileManager.default.createDirectory(atPath: folder + "/usersub", withIntermediateDirectories: true)
        try BackupCatalog.removeSet(at: folder)
        let left = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(left == ["USER-NOTES.txt", "usersub"], "\(left)")
        // A set holding only its own files goes whole.
        try makeSet(root, "20261204T000001000Z-bbbbbb")
        try BackupCatalog.removeSet(at: root + "/20261204T000001000Z-bbbbbb")
        #expect(!FileManager.default.fileExists(atPath: root + "/20261204T000001000Z-bbbbbb"))
        // A symbolic link in a set's place: nothing is removed through it.
        let elsewhere = root + "-elsewhere"
        defer { try? FileManager.default.removeItem(atPath: elsewhere) }
        try makeSet(elsewhere, "x")
        try FileManager.default.createSymbolicLink(atPath: root + "/20261204T000002000Z-cccccc", withDestinationPath: elsewhere + "/x")
        #expect { try BackupCatalog.removeSet(at: root + "/20261204T000002000Z-cccccc") } throws: {
            ($0 as? FerryError)?.code == .wrongStatus
        }
        #expect(FileManager.default.fileExists(atPath: elsewhere + "/x/manifest.json"))
        #expect(FileManager.default.fileExists(atPath: elsewhere + "/x/1.rdb"))
    }
}
