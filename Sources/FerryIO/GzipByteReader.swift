import CZlib
import FerryCore
import Foundation

/// Inflates a gzip (or zlib) stream read from another reader, chunk by chunk. Concatenated gzip
/// members are read as one stream, as `gunzip` does.
public final class GzipByteReader: ByteReader {
    private let upstream: any ByteReader
    private var stream = z_stream()
    private var input: UnsafeMutableRawBufferPointer
    private var atEnd = false
    private var isClosed = false
    private let name: String

    public var sourceBytesRead: Int64 { upstream.sourceBytesRead }

    public init(_ upstream: any ByteReader, name: String) throws {
        self.upstream = upstream
        self.name = name
        input = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
        // 15 + 32: accept gzip or zlib headers, largest window.
        let status = inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            input.deallocate()
            throw FerryError(.importError, "cannot start gzip decoding of \(name) (zlib \(status))")
        }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !atEnd, buffer.count > 0 else { return 0 }
        stream.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.avail_out = uInt(buffer.count)
        while stream.avail_out > 0 {
            if stream.avail_in == 0 {
                let n = try upstream.read(into: input)
                if n == 0 {
                    // End of input: fine only between members.
                    if buffer.count - Int(stream.avail_out) == 0 && stream.total_out > 0 && lastStatus == Z_STREAM_END {
                        atEnd = true
                    } else if lastStatus != Z_STREAM_END {
                        if membersBefore > 0 && stream.total_out == 0 {
                            throw trailingBytes("too few for a gzip member")
                        }
                        throw FerryError(.importError, "\(name) is truncated: the gzip stream ends early")
                    } else {
                        atEnd = true
                    }
                    break
                }
                stream.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_in = uInt(n)
            }
            if lastStatus == Z_STREAM_END {
                // Another gzip member follows (inflateReset starts its counts again).
                membersBefore += 1
                bytesBefore += Int64(stream.total_in)
                inflateReset(&stream)
            }
            let status = inflate(&stream, Z_NO_FLUSH)
            lastStatus = status
            if status == Z_STREAM_END { continue }
            if status != Z_OK && status != Z_BUF_ERROR {
                let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                if membersBefore > 0 && stream.total_out == 0 { throw trailingBytes(message) }
                throw FerryError(.importError, "\(name) is not valid gzip: \(message) (after \(bytesBefore + Int64(stream.total_in)) compressed bytes)")
            }
        }
        return buffer.count - Int(stream.avail_out)
    }

    /// Bytes after a complete gzip member that do not start another (`gzip -t`: "trailing
    /// garbage"): named with where they start, not as a header error of a member (fresh tester
    /// round 35b, F8). Refused all the same: a file with bytes appended may be damaged.
    private func trailingBytes(_ why: String) -> FerryError {
        FerryError(.importError, "\(name) holds bytes after the end of its gzip data (from byte \(bytesBefore) of the compressed file, after \(membersBefore) complete gzip member\(membersBefore == 1 ? "" : "s")) that are not another gzip member (\(why))",
                   hint: "cut the file at byte \(bytesBefore) (gzip -t calls these bytes trailing garbage), or compress it again")
    }

    private var lastStatus: Int32 = Z_OK
    /// Members read whole before the current one, and their compressed bytes.
    private var membersBefore = 0
    private var bytesBefore: Int64 = 0

    public func close() {
        guard !isClosed else { return }
        isClosed = true
        inflateEnd(&stream)
        input.deallocate()
        upstream.close()
    }

    deinit { close() }
}
