import Foundation
@testable import FerryCore
import Testing

/// Issue 14, round 9: the directory identity recovery uses to act only on the directory a run
/// wrote to was its device and inode, which a directory made again (or a copy put in its
/// place) can get back: ext4 hands the freed inode number to the next directory made. It now
/// holds the directory's birth time too, which a directory made again cannot keep; a journal
/// of an earlier release (`DEV:INO`) is still read, by those two fields.
@Suite struct DirectoryIdentityTests {
    func directory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-dirid-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path + "/a", withIntermediateDirectories: true)
        return path
    }

    @Test func theIdentityHoldsTheBirthTime() throws {
        let root = try directory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let spec = InstanceSpec(name: "a", engine: .sqlite, path: root + "/a")
        let identity = try #require(spec.directoryIdentity())
        #expect(identity.split(separator: ":").count == 3 && identity.split(separator: ":")[2].hasPrefix("b"), "\(identity)")
        #expect(spec.isDirectory(identifiedBy: identity))
        // Files made and removed in it (a run's own work) do not change it.
        _ = FileManager.default.createFile(atPath: root + "/a/x.db", contents: Data("x".utf8))
        try FileManager.default.removeItem(atPath: root + "/a/x.db")
        #expect(spec.isDirectory(identifiedBy: identity))
        #expect(RunLocation.refusal("a", spec, wrote: spec, identity: identity) == nil)
        // An earlier release's record (device and inode) is read by those two.
        let old = identity.split(separator: ":").prefix(2).joined(separator: ":")
        #expect(spec.isDirectory(identifiedBy: old))
        #expect(RunLocation.refusal("a", spec, wrote: spec, identity: old) == nil)
        // The same device and inode with another birth time is another directory (this check
        // does not depend on the file system reusing the number).
        let parts = identity.split(separator: ":")
        let other = "\(parts[0]):\(parts[1]):b\((Int64(parts[2].dropFirst()) ?? 0) + 1)"
        #expect(!spec.isDirectory(identifiedBy: other))
        #expect(RunLocation.refusal("a", spec, wrote: spec, identity: other)?.diagnostics.first?.code == .instanceNotFound)
    }

    /// A directory removed and made again that gets the freed inode number (retried until it
    /// does) is not the run's.
    @Test func aDirectoryMadeAgainWithTheFreedInodeIsAnother() throws {
        let root = try directory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let spec = InstanceSpec(name: "a", engine: .sqlite, path: root + "/a")
        let identity = try #require(spec.directoryIdentity())
        var reused = false
        for _ in 0..<50 {
            try FileManager.default.removeItem(atPath: root + "/a")
            try FileManager.default.createDirectory(atPath: root + "/a", withIntermediateDirectories: false)
            let now = try #require(spec.directoryIdentity())
            if now.split(separator: ":").prefix(2) == identity.split(separator: ":").prefix(2) { reused = true; break }
        }
        #expect(reused, "ext4 gives the freed inode number to the next directory")
        #expect(!spec.isDirectory(identifiedBy: identity))
        #expect(RunLocation.refusal("a", spec, wrote: spec, identity: identity) != nil)
    }
}
