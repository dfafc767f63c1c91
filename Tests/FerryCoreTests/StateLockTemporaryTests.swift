import Foundation
import Testing
@testable import FerryCore

/// Fresh tester round 50, F3: a process killed between writing its lock record's temporary file
/// and linking it to `state.lock` leaves `state.lock.<id>.tmp`; the next lock taken removed such
/// files only once older than the grace (30 s), so a loop of kills piled them up in `.ferry/`.
/// One whose record names a process of this host that is gone is removed at once; one of a live
/// process (a contender between its write and its link) or an unreadable young one is left.
@Suite struct StateLockTemporaryTests {
    @Test func aTemporaryOfAGoneProcessIsRemovedByTheNextLockAtOnce() throws {
        let directory = NSTemporaryDirectory() + "ferry-lock-tmp-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = StateStore(directory: directory + "/.ferry")
        try store.ensureDirectory()
        // A process that ran and is gone.
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        finished.waitUntilExit()
        let host = ProcessInfo.processInfo.hostName
        func temporary(_ id: String, pid: Int32) throws -> String {
            let path = store.lockFile + ".\(id).tmp"
            let info = LockInfo(id: id, holder: "tester", pid: pid, host: host, time: Date(), operation: "apply")
            #expect(FileManager.default.createFile(atPath: path, contents: try JSONEncoder.ferry.encode(info)))
            return path
        }
        let gone = try temporary("gone", pid: finished.processIdentifier)
        let alive = try temporary("alive", pid: getpid())
        let unreadable = store.lockFile + ".young.tmp"
        #expect(FileManager.default.createFile(atPath: unreadable, contents: Data()))
        let lock = try StateLock.acquire(store, operation: "apply")
        defer { lock.release() }
        #expect(!FileManager.default.fileExists(atPath: gone), "the gone process's temporary is removed")
        #expect(FileManager.default.fileExists(atPath: alive), "a live process's temporary stays")
        #expect(FileManager.default.fileExists(atPath: unreadable), "an unreadable young one stays until the grace")
    }
}
