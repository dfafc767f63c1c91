import FerryCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP connection with buffered reads, for the HTTP and FTP readers; TLS when `tls` is set.
/// The connection itself is a `TCPStream`.
final class RemoteSocket {
    private let stream: TCPStream
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    private var start = 0
    private var end = 0
    let name: String
    /// The port connected to.
    let peerPort: Int
    private(set) var bytesRead: Int64 = 0

    init(host: String, port: Int, name: String, tls: Bool = false) throws {
        self.name = name
        peerPort = port
        stream = try TCPStream(host: host, port: port, what: "\(host):\(port) for \(name)", connectCode: .importError, ioCode: .importError,
                               sendTimeoutSeconds: 60, receiveTimeoutSeconds: 60, tls: tls)
    }

    /// Turns the connection into TLS from here on (at once for `https:`; after `AUTH TLS` or a
    /// data command's 1xx for `ftps:`), verifying the certificate for `host`; `resuming` offers
    /// that socket's TLS session. Bytes already buffered were sent before the handshake: an error.
    /// A failed handshake closes the socket.
    func startTLS(host: String, port: Int, resuming: RemoteSocket? = nil) throws {
        guard start == end else {
            close()
            throw FerryError(.importError, "\(name): the server sent data before the TLS handshake")
        }
        try stream.startTLS(host: host, port: port, code: .importError, resuming: resuming?.stream)
    }

    func close() { stream.close() }

    /// A TLS connection that ended without close_notify (`TCPStream.endedWithoutCloseNotify`).
    var endedWithoutCloseNotify: Bool { stream.endedWithoutCloseNotify }

    /// Ends an upload (an FTP data connection written whole): see `TCPStream.closeAfterWriting`.
    func closeAfterWriting() { stream.closeAfterWriting() }

    func write(_ text: String) throws { try write(bytes: Array(text.utf8)) }

    func write(bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try stream.send($0) }
    }

    private func fill() throws -> Bool {
        if start == end { start = 0; end = 0 }
        if end == buffer.count {
            buffer.removeFirst(start); end -= start; start = 0
            buffer += [UInt8](repeating: 0, count: max(0, (1 << 16) - (buffer.count - end)))
        }
        let n = try buffer[end...].withUnsafeMutableBytes { try stream.receive(into: $0.baseAddress!, count: $0.count) }
        end += n; bytesRead += Int64(n)
        return n > 0
    }

    /// One line without its CRLF, or nil at the end of the stream.
    func readLine() throws -> String? {
        var scanned = 0
        while true {
            if let i = buffer[(start + scanned)..<end].firstIndex(of: 10) {
                var line = buffer[start..<i]
                if line.last == 13 { line = line.dropLast() }
                start = i + 1
                return String(decoding: line, as: UTF8.self)
            }
            scanned = end - start
            guard try fill() else { return nil }
        }
    }

    /// Reads up to `out.count` bytes; 0 at the end of the stream.
    func read(into out: UnsafeMutableRawBufferPointer) throws -> Int {
        if start == end, !(try fill()) { return 0 }
        let n = min(out.count, end - start)
        buffer[start..<(start + n)].withUnsafeBytes { out.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: n) }
        start += n
        return n
    }
}

/// A data connection read to its end is a byte stream (FTP downloads).
extension RemoteSocket: ByteReader {
    var sourceBytesRead: Int64 { bytesRead }
}
