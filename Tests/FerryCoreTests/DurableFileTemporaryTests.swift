import Foundation
import Testing
@testable import FerryCore

/// Round-10 fresh tester F10: a writer killed between its temporary's creation and its rename
/// left `state.json.tmp-<pid>` in `.ferry/` for good. The next write removes such a file while no
/// process of that id is alive, and leaves one whose writer may still be at work, and every other
/// name.
@Suite struct DurableFileTemporaryTests {
    /// The id of a process that has ended (started and waited for).
    func endedPid() throws -> pid_t {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }

    @Test func aDeadWritersTemporaryGoesWithTheNextWrite() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-tmp-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let dead = try endedPid()
        let stale = "state.json.tmp-\(dead)", live = "state.json.tmp-1", other = "other.json.tmp-\(dead)", user = "state.json.tmp-notes"
        for name in [stale, live, other, user] { FileManager.default.createFile(atPath: directory + "/" + name, contents: Data("x".utf8)) }
        try DurableFile.writeAtomically(Data("{}".utf8), to: directory + "/state.json")
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: directory))
        #expect(!names.contains(stale), "\(names)")
        #expect(names.isSuperset(of: [live, other, user, "state.json"]), "\(names)")
        #expect(!names.contains { $0.hasSuffix("tmp-\(getpid())") })
    }
}
