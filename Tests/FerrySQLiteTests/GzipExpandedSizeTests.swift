import FerryCore
@testable import FerryIO
import Foundation
import Testing

/// Fresh tester w11 F7: a `.sql.gz` source counts in the space check at what it expands to, read
/// from the gzip trailer (ISIZE, the length modulo 2^32), lifted past 4 GiB where the compressed
/// size shows that the remainder alone is too small.
@Suite struct GzipExpandedSizeTests {
    func temporary(_ bytes: [UInt8]) throws -> String {
        let path = NSTemporaryDirectory() + "ferry-gz-\(UUID().uuidString)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func aRealGzipFileCountsAtItsExpandedSize() throws {
        let text = String(repeating: "INSERT INTO t VALUES (1, 'some text that compresses well');\n", count: 20_000)
        let plain = try temporary(Array(text.utf8))
        defer { try? FileManager.default.removeItem(atPath: plain); try? FileManager.default.removeItem(atPath: plain + ".gz") }
        let zipped = Process()
        zipped.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        zipped.arguments = ["gzip", "-k", plain]
        try zipped.run(); zipped.waitUntilExit()
        let size = try #require((try FileManager.default.attributesOfItem(atPath: plain + ".gz")[.size] as? NSNumber)?.int64Value)
        #expect(size < Int64(text.utf8.count) / 10)
        let facts = try #require(try SourceFactsInspector().facts(of: .file(plain + ".gz")))
        #expect(facts.sizeBytes == size)
        #expect(facts.expandedBytes == Int64(text.utf8.count))
        #expect(facts.movedBytes == Int64(text.utf8.count))
        // Not gzip (whatever the name): its own size.
        let other = try #require(try SourceFactsInspector().facts(of: .file(plain)))
        #expect(other.expandedBytes == nil && other.movedBytes == Int64(text.utf8.count))
    }

    @Test func aTinyGzipFileIsNotLiftedPast4GiB() throws {
        // "a\n" gzipped: 22 bytes expanding to 2.
        var bytes: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 0x4B, 0xE4, 0x02, 0x00]
        bytes += [0x07, 0xA1, 0xEA, 0xDD, 2, 0, 0, 0]
        let path = try temporary(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(SourceFactsInspector.gzipExpandedBytes(path, size: Int64(bytes.count)) == 2)
    }

    @Test func aRemainderSmallerThanTheCompressedFileIsLiftedPast4GiB() throws {
        // 8 MiB of "compressed" bytes whose trailer says 100: the expansion is 4 GiB + 100.
        var bytes = [UInt8](repeating: 0x55, count: 8 << 20)
        bytes[0] = 0x1F; bytes[1] = 0x8B; bytes[2] = 8
        let n = bytes.count
        bytes[n - 4] = 100; bytes[n - 3] = 0; bytes[n - 2] = 0; bytes[n - 1] = 0
        let path = try temporary(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(SourceFactsInspector.gzipExpandedBytes(path, size: Int64(n)) == Int64(4_294_967_396))
    }
}
