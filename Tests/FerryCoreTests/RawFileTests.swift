import FerryCore
import Foundation
import Testing

/// `RawFile`, the one place for raw file calls: errors keep the call and `errno`, codes follow
/// `errno` unless the caller gives one, and the calls do what they say on real files.
@Suite struct RawFileTests {
    private func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-rawfile-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The error `body` throws, with its system call cause.
    private func failure(_ body: () throws -> Void, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> (FerryError, SystemCallError)? {
        do {
            try body()
            Issue.record("no error", sourceLocation: sourceLocation)
        } catch let error as FerryError {
            guard let call = error.systemCall else {
                Issue.record("no system call cause: \(error)", sourceLocation: sourceLocation)
                return nil
            }
            return (error, call)
        } catch {
            Issue.record("not a FerryError: \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }

    @Test func writeSyncRenameAndRemoveDoWhatTheySay() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try RawFile.open(dir + "/a.tmp", O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
        let big = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        try file.write(big)
        try file.write(Data())
        try file.sync()
        try file.truncate(to: 1000)
        file.close()
        file.close()
        try RawFile.rename(dir + "/a.tmp", to: dir + "/a")
        try RawFile.syncDirectory(dir)
        #expect(FileManager.default.contents(atPath: dir + "/a") == big.prefix(1000))
        let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/a")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try RawFile.remove(dir + "/a"))
        #expect(try RawFile.remove(dir + "/a") == false)
        #expect(RawFile.removeIfPresent(dir + "/a") == false)
    }

    @Test func openErrorsKeepTheCallAndErrno() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let missing = failure { _ = try RawFile.open(dir + "/no/such/file", O_RDONLY) }
        #expect(missing?.1 == SystemCallError(call: "open", path: dir + "/no/such/file", errno: ENOENT))
        #expect(missing?.0.code == .internalError)
        #expect(missing?.0.message == "cannot open \(dir)/no/such/file: No such file or directory")

        FileManager.default.createFile(atPath: dir + "/taken", contents: nil)
        let taken = failure { _ = try RawFile.open(dir + "/taken", O_WRONLY | O_CREAT | O_EXCL, what: "cannot create", as: .copyError) }
        #expect(taken?.1.errno == EEXIST)
        #expect(taken?.0.code == .copyError)
        #expect(taken?.0.message.hasPrefix("cannot create \(dir)/taken: ") == true)

        let notADirectory = failure { _ = try RawFile.open(dir + "/taken/x", O_WRONLY | O_CREAT) }
        #expect(notADirectory?.1.errno == ENOTDIR)
    }

    /// A full disk is `DiskFull` with its hint even where the caller names another code for the
    /// step's other failures (SPEC §8, "whatever the step"; fresh tester round 19, F7: an SQLite
    /// copy into a full directory said `CopyError`). Other failures keep the caller's code
    /// (`openErrorsKeepTheCallAndErrno`).
    @Test func aFullDeviceIsDiskFullWithItsHintWhateverTheCallersCode() throws {
        let device = try RawFile.open("/dev/full", O_WRONLY)
        let full = failure { try device.write(Data(repeating: 1, count: 10)) }
        #expect(full?.1.call == "write")
        #expect(full?.1.errno == ENOSPC)
        #expect(full?.0.code == .diskFull)
        #expect(full?.0.diagnostics.first?.hint?.contains("free space") == true)
        let asImport = failure { try device.write(Data(repeating: 1, count: 10), as: .importError) }
        #expect(asImport?.0.code == .diskFull)
        #expect(asImport?.0.diagnostics.first?.hint?.contains("free space") == true)
        #expect(asImport?.1.errno == ENOSPC)
    }

    @Test func renameAndRemoveErrorsNameTheirPaths() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let rename = failure { try RawFile.rename(dir + "/absent", to: dir + "/b", what: "cannot move \(dir)/absent to", as: .copyError) }
        #expect(rename?.1 == SystemCallError(call: "rename", path: dir + "/absent", errno: ENOENT))
        #expect(rename?.0.message == "cannot move \(dir)/absent to \(dir)/b: No such file or directory")
        try FileManager.default.createDirectory(atPath: dir + "/sub/inner", withIntermediateDirectories: true)
        let directory = failure { try RawFile.remove(dir + "/sub") }
        #expect(directory?.1.call == "unlink")
        #expect(directory?.1.errno == EISDIR)
    }
}
