import FerryCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One TCP connection, plain or TLS, for every protocol Ferry speaks itself (Redis's RESP, HTTP,
/// FTP control and data connections). It resolves with `getaddrinfo(3)` and tries each address in
/// turn (`connect(2)`), sends whole buffers (`send(2)` with `MSG_NOSIGNAL`, retried on `EINTR`),
/// receives what is there (`recv(2)`), and turns into TLS at once or later (`startTLS`, through
/// `TLSConnection`). Buffering and framing are the caller's: RESP and line protocols frame
/// differently.
///
/// Errors are `FerryError`s with the code the caller gives (`connectCode` until the connection is
/// up, `ioCode` after it), and messages that name `what` (for example "Redis at host:port",
/// "host:port for https://…/file", never with a secret in it).
public final class TCPStream {
    /// The socket, or -1 once closed.
    public private(set) var fd: Int32 = -1
    /// What the messages call the peer.
    public let what: String
    /// The code of I/O errors (after the connection is up).
    public var ioCode: ErrorCode
    /// The TLS session, when the connection speaks TLS.
    public private(set) var tls: TLSConnection?
    /// `SO_SNDTIMEO` / `SO_RCVTIMEO` as set, in seconds, for the messages of a timeout.
    private let sendTimeoutSeconds: Int?
    private let receiveTimeoutSeconds: Int?

    /// Connects to `host`:`port`. `sendTimeoutSeconds` and `receiveTimeoutSeconds` set
    /// `SO_SNDTIMEO` and `SO_RCVTIMEO` (nil: none, a read waits as long as the peer takes);
    /// `noDelay` sets `TCP_NODELAY` (request-reply protocols). `tls`: the handshake at once, with
    /// `sendTimeoutSeconds` (or 30 s) bounding each of its reads.
    /// Throws `connectCode`: the host does not resolve, every address refused or timed out, or
    /// the TLS handshake failed (`TLSConnection`'s reason).
    public init(host: String, port: Int, what: String, connectCode: ErrorCode, ioCode: ErrorCode,
                sendTimeoutSeconds: Int? = nil, receiveTimeoutSeconds: Int? = nil, noDelay: Bool = false,
                tls: Bool = false, resolveHint: String? = nil, connectHint: String? = nil) throws {
        self.what = what
        self.ioCode = ioCode
        self.sendTimeoutSeconds = sendTimeoutSeconds
        self.receiveTimeoutSeconds = receiveTimeoutSeconds
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &result)
        guard status == 0, let first = result else {
            throw FerryError(connectCode, "cannot resolve \(host) (\(what)): \(String(cString: gai_strerror(status)))", hint: resolveHint)
        }
        defer { freeaddrinfo(result) }
        var lastError = ECONNREFUSED
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let info = node {
            let s = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
            if s >= 0 {
                if let seconds = sendTimeoutSeconds { Self.setTimeout(s, SO_SNDTIMEO, seconds) }
                if let seconds = receiveTimeoutSeconds { Self.setTimeout(s, SO_RCVTIMEO, seconds) }
                if Glibc.connect(s, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 {
                    if noDelay {
                        var one: Int32 = 1
                        setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                    }
                    fd = s
                    break
                }
                lastError = errno
                Glibc.close(s)
            }
            node = info.pointee.ai_next
        }
        guard fd >= 0 else {
            throw FerryError(connectCode, "cannot connect to \(what): \(String(cString: strerror(lastError)))", hint: connectHint)
        }
        if tls {
            try startTLS(host: host, port: port, code: connectCode, handshakeTimeoutSeconds: sendTimeoutSeconds ?? 30)
        }
    }

    deinit { close() }

    private static func setTimeout(_ fd: Int32, _ option: Int32, _ seconds: Int) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, option, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Turns the connection into TLS from here on, verifying the certificate for `host`
    /// (`TLSConnection`); `resuming` offers that connection's TLS session (FTPS data connections).
    /// A failed handshake closes the socket and throws `code`.
    public func startTLS(host: String, port: Int, code: ErrorCode, handshakeTimeoutSeconds: Int = 30, resuming: TCPStream? = nil) throws {
        do {
            let session = try TLSConnection(fd: fd, host: host, port: port, errorCode: code,
                                            handshakeTimeoutSeconds: handshakeTimeoutSeconds, resuming: resuming?.tls)
            session.errorCode = ioCode
            tls = session
        } catch {
            close()
            throw error
        }
    }

    /// True once a TLS read found the connection closed without TLS's close_notify
    /// (`TLSConnection.endedWithoutCloseNotify`); false for a plain connection.
    public var endedWithoutCloseNotify: Bool { tls?.endedWithoutCloseNotify ?? false }

    /// Sends all of `buffer`. Throws `ioCode` when the peer is gone or a send timed out.
    public func send(_ buffer: UnsafeRawBufferPointer) throws {
        if let tls { return try tls.write(buffer) }
        var sent = 0
        while sent < buffer.count {
            let n = Glibc.send(fd, buffer.baseAddress! + sent, buffer.count - sent, Int32(MSG_NOSIGNAL))
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    // SO_SNDTIMEO ran out: the peer took nothing for that long; the connection is not lost.
                    throw FerryError(ioCode, "\(what) took no data for \(sendTimeoutSeconds.map { "\($0) s" } ?? "too long") (timed out)")
                }
                throw FerryError(ioCode, "lost the connection to \(what): \(String(cString: strerror(errno)))")
            }
            sent += n
        }
    }

    /// Receives up to `count` bytes into `buffer`: how many arrived, 0 when the peer closed the
    /// connection. Throws `ioCode` on a reset or a receive timeout.
    public func receive(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        if let tls { return try tls.read(buffer, count: count) }
        while true {
            let n = recv(fd, buffer, count, 0)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK {
                // SO_RCVTIMEO ran out: the peer sent nothing for that long (a stalled server).
                throw FerryError(ioCode, "no data from \(what) for \(receiveTimeoutSeconds.map { "\($0) s" } ?? "too long") (timed out)")
            }
            throw FerryError(ioCode, "lost the connection to \(what): \(String(cString: strerror(errno)))")
        }
    }

    /// Ends an upload: TLS's close_notify, then the write side's FIN, then whatever the peer
    /// still sends (TLS session tickets) is read and dropped until it closes (at most
    /// `drainSeconds` a read), and only then the socket is closed. Closing with unread bytes would
    /// send a reset, and a server may drop the end of the upload still in its buffers with it.
    public func closeAfterWriting(drainSeconds: Int = 30) {
        tls?.close()
        tls = nil
        guard fd >= 0 else { return }
        Glibc.shutdown(fd, Int32(SHUT_WR))
        Self.setTimeout(fd, SO_RCVTIMEO, drainSeconds)
        var scratch = [UInt8](repeating: 0, count: 1 << 14)
        while true {
            let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { continue }
            if n < 0 && errno == EINTR { continue }
            break
        }
        close()
    }

    /// Sends TLS's close_notify (when TLS) and closes the socket. Idempotent.
    public func close() {
        tls?.close()
        tls = nil
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }
}
