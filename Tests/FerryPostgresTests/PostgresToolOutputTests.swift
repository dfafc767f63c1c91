@testable import FerryPostgres
import Foundation
import Testing

/// Fresh tester round 31, F10: the progress of a custom-format import counts the archive's bytes
/// that pg_restore read, never the (larger) script it writes ("87.3 MB of 3.3 MB").
@Suite struct PostgresToolOutputTests {
    @Test func progressCountsTheArchiveReadNotTheOutput() throws {
        let archive = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-archive-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: archive) }
        let line = String(repeating: "x", count: 99) + "\n"
        try String(repeating: line, count: 40_000).write(to: archive, atomically: true, encoding: .utf8)
        let size = Int64(4_000_000)
        // `sed p` writes every line twice: an output twice the size of what it reads.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["sed", "p", archive.path]
        let output = try PostgresToolOutput(process, program: "sed", describe: archive.path, code: .importError, instanceName: "t",
                                            scratch: nil, archive: archive.path)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { buffer.deallocate() }
        var written: Int64 = 0
        var seen: [Int64] = []
        while true {
            let n = try output.read(into: buffer)
            if n == 0 { break }
            written += Int64(n)
            seen.append(output.sourceBytesRead)
            #expect(output.sourceBytesRead <= size)
        }
        try output.finish()
        #expect(written == 2 * size)
        #expect(output.sourceBytesRead == size, "the whole archive once the program ended")
        #expect(seen == seen.sorted(), "never goes back")
        #expect(seen.contains { $0 > 0 }, "counted while it ran")
    }
}
