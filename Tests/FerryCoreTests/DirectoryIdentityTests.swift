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
        try #require(identity.split(separator: ":").count == 3 && identity.split(separator: ":")[2].hasPrefix("b"), "\(identity)")
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
        // Directories are made (and kept) until one gets the number back, then renamed into
        // place. Tests running beside this one may take the number first: then there is
        // nothing to check here (`theIdentityHoldsTheBirthTime` checks it without reuse).
        try FileManager.default.removeItem(atPath: root + "/a")
        var reused = false
        for n in 0..<200 {
            let trial = root + "/try\(n)"
            try FileManager.default.createDirectory(atPath: trial, withIntermediateDirectories: false)
            let now = try #require(InstanceSpec(name: "t", engine: .sqlite, path: trial).directoryIdentity())
            if now.split(separator: ":").prefix(2) == identity.split(separator: ":").prefix(2) {
                try FileManager.default.moveItem(atPath: trial, toPath: root + "/a")
                reused = true
                break
            }
        }
        guard reused else { print("no directory got the inode number again: nothing to check"); return }
        #expect(!spec.isDirectory(identifiedBy: identity))
        #expect(RunLocation.refusal("a", spec, wrote: spec, identity: identity) != nil)
    }
}
