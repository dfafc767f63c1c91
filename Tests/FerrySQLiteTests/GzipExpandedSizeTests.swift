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

    /// Fresh tester round 35b, F8: a good gzip followed by bytes that are no gzip member was
    /// refused as "incorrect header check (after 2 compressed bytes)", pointing at the wrong end
    /// of the file. Still refused (nothing imported from a file that may be damaged), but named
    /// as bytes after the gzip data, at the offset where they start; two members still read.
    @Test func bytesAfterTheGzipDataAreNamedWhereTheyStart() throws {
        let text = String(repeating: "INSERT INTO t VALUES (1);\n", count: 5_000)
        let plain = try temporary(Array(text.utf8))
        defer { try? FileManager.default.removeItem(atPath: plain); try? FileManager.default.removeItem(atPath: plain + ".gz") }
        let zipped = Process()
        zipped.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        zipped.arguments = ["gzip", "-k", plain]
        try zipped.run(); zipped.waitUntilExit()
        let member = Array(try Data(contentsOf: URL(fileURLWithPath: plain + ".gz")))
        func inflate(_ bytes: [UInt8]) throws -> [UInt8] {
            let reader = try GzipByteReader(DataByteReader(bytes), name: "dump.sql.gz")
            defer { reader.close() }
            var out: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 7_000)
            while true {
                let n = try chunk.withUnsafeMutableBytes { try reader.read(into: $0) }
                if n == 0 { return out }
                out += chunk[0..<n]
            }
        }
        #expect(try inflate(member) == Array(text.utf8))
        #expect(try inflate(member + member) == Array(text.utf8) + Array(text.utf8))
        for trailer in [Array("a note appended by hand\n".utf8), [0], [0x1f, 0x8b, 0x08, 0x00, 0x01]] {
            for copies in [1, 2] {
                let bytes = Array(repeating: member, count: copies).flatMap { $0 } + trailer
                do {
                    _ = try inflate(bytes)
                    Issue.record("\(trailer.count) trailing bytes after \(copies) member(s) were read as data")
                } catch let error as FerryError {
                    let text = error.description
                    #expect(error.code == .importError, "\(text)")
                    #expect(text.contains("bytes after the end of its gzip data") && text.contains("from byte \(member.count * copies) "), "\(text)")
                }
            }
        }
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

    /// Fresh tester round 76, F4: a gzip file cut short ends in bytes of its stream, which read
    /// as an ISIZE no deflate stream of that length reaches (2,500 bytes "expanding" to 2.4 GB):
    /// unknown, so the plan counts the file's own size.
    @Test func anImpossibleExpansionOfAFileCutShortIsUnknown() throws {
        var bytes = [UInt8](repeating: 0x37, count: 2_500)
        bytes[0] = 0x1F; bytes[1] = 0x8B; bytes[2] = 8
        let n = bytes.count
        bytes[n - 4] = 0x00; bytes[n - 3] = 0x10; bytes[n - 2] = 0xF0; bytes[n - 1] = 0x8F
        let path = try temporary(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(SourceFactsInspector.gzipExpandedBytes(path, size: Int64(n)) == nil)
        let facts = try #require(try SourceFactsInspector().facts(of: .file(path)))
        #expect(facts.expandedBytes == nil && facts.movedBytes == Int64(n))
        // Round 77, F9: and the plan is told it may be cut short.
        #expect(facts.doubt?.contains("may be cut short") == true)
        // At the bound (1,032 to 1) it is still taken.
        let most = Int64(n) * SourceFactsInspector.deflateMaximumRatio
        for (i, shift) in [0, 8, 16, 24].enumerated() { bytes[n - 4 + i] = UInt8((most >> Int64(shift)) & 0xFF) }
        let bound = try temporary(bytes)
        defer { try? FileManager.default.removeItem(atPath: bound) }
        #expect(SourceFactsInspector.gzipExpandedBytes(bound, size: Int64(n)) == most)
        #expect(try SourceFactsInspector().facts(of: .file(bound))?.doubt == nil)
    }
}
