import FerryCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP connection with buffered reads, for the HTTP and FTP readers; TLS when `tls` is set.
final class RemoteSocket {
    private var fd: Int32 = -1
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    private var start = 0
    private var end = 0
    let name: String
    /// The port connected to.
    let peerPort: Int
    private(set) var bytesRead: Int64 = 0
    private var tls: TLSConnection?

    init(host: String, port: Int, name: String, tls: Bool = false) throws {
        self.name = name
        peerPort = port
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &result)
        guard status == 0, let first = result else {
            throw FerryError(.importError, "cannot resolve \(host) for \(name): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(result) }
        var node: UnsafeMutablePointer<addrinfo>? = first
        var lastError = ECONNREFUSED
        while let info = node {
            let s = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
            if s >= 0 {
                var tv = timeval(tv_sec: 60, tv_usec: 0)
                setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                if Glibc.connect(s, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { fd = s; break }
                lastError = errno
                Glibc.close(s)
            }
            node = info.pointee.ai_next
        }
        guard fd >= 0 else {
            throw FerryError(.importError, "cannot connect to \(host):\(port) for \(name): \(String(cString: strerror(lastError)))")
        }
        if tls { try startTLS(host: host, port: port) }
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
        do {
            self.tls = try TLSConnection(fd: fd, host: host, port: port, errorCode: .importError, resuming: resuming?.tls)
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    func close() {
        tls?.close()
        tls = nil
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    /// Ends an upload (an FTP data connection written whole): TLS's close_notify, then the write
    /// side's FIN, then whatever the server still sends (TLS session tickets) is read and dropped
    /// until it closes, and only then the socket is closed. Closing with unread bytes would send
    /// a reset, and a server may drop the end of the upload still in its buffers with it.
    func closeAfterWriting() {
        tls?.close()
        tls = nil
        guard fd >= 0 else { return }
        Glibc.shutdown(fd, Int32(SHUT_WR))
        var tv = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var scratch = [UInt8](repeating: 0, count: 1 << 14)
        while true {
            let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { continue }
            if n < 0 && errno == EINTR { continue }
            break
        }
        close()
    }

    func write(_ text: String) throws { try write(bytes: Array(text.utf8)) }

    func write(bytes: [UInt8]) throws {
        if let tls { return try bytes.withUnsafeBytes { try tls.write($0) } }
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FerryError(.importError, "cannot send to \(name): \(String(cString: strerror(errno)))")
            }
            sent += n
        }
    }

    private func fill() throws -> Bool {
        if start == end { start = 0; end = 0 }
        if end == buffer.count {
            buffer.removeFirst(start); end -= start; start = 0
            buffer += [UInt8](repeating: 0, count: max(0, (1 << 16) - (buffer.count - end)))
        }
        if let tls {
            let n = try buffer[end...].withUnsafeMutableBytes { try tls.read(into: $0) }
            end += n; bytesRead += Int64(n)
            return n > 0
        }
        while true {
            let n = buffer[end...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { end += n; bytesRead += Int64(n); return true }
            if n == 0 { return false }
            if errno == EINTR { continue }
            throw FerryError(.importError, "cannot read from \(name): \(String(cString: strerror(errno)))")
        }
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
