import FerryCore
import Foundation

/// A stream of bytes read in chunks: the one shape every import source takes, so that no engine
/// ever holds a whole file in memory.
public protocol ByteReader: AnyObject {
    /// Reads up to `buffer.count` bytes into `buffer`; 0 means the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    /// Bytes consumed from the underlying source so far (compressed bytes for gzip), for progress.
    var sourceBytesRead: Int64 { get }
    func close()
}

extension ByteReader {
    /// Reads until `buffer` is full or the stream ends; returns the count read.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if n == 0 { break }
            filled += n
        }
        return filled
    }
}

/// Reads a local file with plain `read(2)` calls.
public final class FileByteReader: ByteReader {
    private let file: RawFile
    private var fd: Int32 { file.descriptor }
    public let path: String
    public private(set) var sourceBytesRead: Int64 = 0

    /// Opens a regular file. Anything else (a FIFO, a device such as `/dev/zero`, a directory, a
    /// socket) is refused with `ImportError` before a byte is read: such a "file" may block the
    /// open or never end. The open is non-blocking so that a FIFO cannot hang it.
    public init(path: String) throws {
        self.path = path
        file = try RawFile.open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY, as: .importError)
        var status = stat()
        guard fstat(file.descriptor, &status) == 0 else {
            let message = String(cString: strerror(errno))
            file.close()
            throw FerryError(.importError, "cannot read \(path): \(message)")
        }
        guard let kind = FileKind(mode: status.st_mode), kind == .regular else {
            file.close()
            let kind = FileKind(mode: status.st_mode)?.description ?? "not a regular file"
            throw FerryError(.importError, "\(path) is \(kind), not a regular file",
                             hint: "import sources are regular files or URIs")
        }
        // Regular files never block; reads go back to the ordinary blocking mode.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 {
                sourceBytesRead += Int64(n)
                return n
            }
            if errno == EINTR { continue }
            throw FerryError(.importError, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
    }

    public func close() { file.close() }
}

/// Reads from a byte array (tests, small in-memory sources).
public final class DataByteReader: ByteReader {
    private let data: [UInt8]
    private var offset = 0
    public var sourceBytesRead: Int64 { Int64(offset) }

    public init(_ data: [UInt8]) { self.data = data }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, data.count - offset)
        guard n > 0 else { return 0 }
        data.withUnsafeBytes { source in
            buffer.baseAddress!.copyMemory(from: source.baseAddress! + offset, byteCount: n)
        }
        offset += n
        return n
    }

    public func close() {}
}
