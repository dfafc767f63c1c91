import FerryCore
import Foundation

/// Opens an import source as a byte stream, inflating gzip when the bytes say so.
public enum SourceOpener {
    /// Opens `source`. gzip is detected from the first bytes, not the name.
    public static func open(_ source: ImportSource) throws -> any ByteReader {
        let raw: any ByteReader
        switch source {
        case .file(let path):
            raw = try FileByteReader(path: path)
        case .url(let url):
            raw = try RemoteSources.open(url)
        }
        return try inflatingIfGzip(raw, name: source.description)
    }

    /// Wraps `reader` in a `GzipByteReader` when its first two bytes are the gzip magic.
    public static func inflatingIfGzip(_ reader: any ByteReader, name: String) throws -> any ByteReader {
        let peeking = PeekingByteReader(reader)
        let head = try peeking.peek(2)
        if head.count == 2 && head[0] == 0x1F && head[1] == 0x8B {
            return try GzipByteReader(peeking, name: name)
        }
        return peeking
    }
}

/// A reader that can look at its first bytes without consuming them.
final class PeekingByteReader: ByteReader {
    private let upstream: any ByteReader
    private var pending: [UInt8] = []
    var sourceBytesRead: Int64 { upstream.sourceBytesRead }

    init(_ upstream: any ByteReader) { self.upstream = upstream }

    func peek(_ count: Int) throws -> [UInt8] {
        while pending.count < count {
            var chunk = [UInt8](repeating: 0, count: count - pending.count)
            let n = try chunk.withUnsafeMutableBytes { try upstream.read(into: $0) }
            if n == 0 { break }
            pending += chunk[0..<n]
        }
        return Array(pending.prefix(count))
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if !pending.isEmpty {
            let n = min(buffer.count, pending.count)
            pending.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: n) }
            pending.removeFirst(n)
            return n
        }
        return try upstream.read(into: buffer)
    }

    func close() { upstream.close() }
}
