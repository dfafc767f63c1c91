import CSSL
import FerryCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TLS client session over a socket the caller has already connected, through OpenSSL's libssl.
/// It sends the host name as SNI, verifies the server's certificate against the default trust store
/// (`SSL_CERT_FILE` / `SSL_CERT_DIR` replace it) and checks that the certificate names the host
/// (or IP address) that was asked for. The connection owns its OpenSSL state, not the socket:
/// `close()` sends close_notify and frees the state; the caller closes the descriptor afterwards.
public final class TLSConnection {
    private var ssl: OpaquePointer?
    private var context: OpaquePointer?
    private let fd: Int32
    /// The code of the errors thrown from here on (a caller may change it after the handshake).
    public var errorCode: ErrorCode
    /// `host:port`, for messages.
    public let peer: String
    /// Set after a fatal error: OpenSSL forbids a close_notify on a broken session.
    private var isBroken = false
    /// True once a read found the connection closed without TLS's close_notify: the end of the
    /// stream is then not proven (RFC 8446 §6.1). Reads still return 0 there; a protocol whose
    /// data ends with the connection (an HTTP body without a length) must treat it as cut.
    public private(set) var endedWithoutCloseNotify = false

    /// Performs the handshake on `fd`. Failures (an unverifiable certificate, a server that does not
    /// speak TLS, a timeout) throw `errorCode` naming the host and OpenSSL's reason.
    /// `handshakeTimeoutSeconds` bounds each read of the handshake when the socket has no timeout.
    /// `resuming` offers that connection's session for resumption (an FTPS data connection resumes
    /// its control connection's session, which servers such as vsftpd and ProFTPD require); the
    /// certificate is verified all the same.
    public init(fd: Int32, host: String, port: Int, errorCode: ErrorCode, handshakeTimeoutSeconds: Int = 30,
                resuming: TLSConnection? = nil) throws {
        _ = Self.ignoreSIGPIPE
        self.fd = fd
        self.errorCode = errorCode
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        peer = name.contains(":") ? "[\(name)]:\(port)" : "\(name):\(port)"
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw Self.failure(errorCode, "cannot set up TLS for \(peer)", reason: Self.queuedReason())
        }
        self.context = context
        _ = ferry_ssl_ctx_set_min_tls12(context)
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        guard SSL_CTX_set_default_verify_paths(context) == 1 else {
            throw Self.failure(errorCode, "cannot load the TLS trust store for \(peer)", reason: Self.queuedReason(),
                               hint: "set SSL_CERT_FILE to a file of trusted CA certificates")
        }
        guard let ssl = SSL_new(context) else {
            throw Self.failure(errorCode, "cannot set up TLS for \(peer)", reason: Self.queuedReason())
        }
        self.ssl = ssl
        if Self.isIPAddress(name) {
            // An address is checked against the certificate's IP entries and is never sent as SNI.
            guard X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1 else {
                throw Self.failure(errorCode, "cannot set up TLS for \(peer)", reason: Self.queuedReason())
            }
        } else {
            guard SSL_set1_host(ssl, name) == 1, ferry_ssl_set_sni(ssl, name) == 1 else {
                throw Self.failure(errorCode, "cannot set up TLS for \(peer)", reason: Self.queuedReason())
            }
        }
        if let other = resuming?.ssl, let session = SSL_get1_session(other) {
            _ = SSL_set_session(ssl, session)
            SSL_SESSION_free(session)
        }
        guard SSL_set_fd(ssl, fd) == 1 else {
            throw Self.failure(errorCode, "cannot set up TLS for \(peer)", reason: Self.queuedReason())
        }

        // A server that never answers the handshake must not hang Ferry: bound the reads meanwhile.
        var saved = timeval()
        var savedLength = socklen_t(MemoryLayout<timeval>.size)
        let hadTimeout = getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &saved, &savedLength) == 0
            && (saved.tv_sec != 0 || saved.tv_usec != 0)
        if !hadTimeout {
            var limit = timeval(tv_sec: handshakeTimeoutSeconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        }
        defer {
            if !hadTimeout {
                var none = timeval()
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, socklen_t(MemoryLayout<timeval>.size))
            }
        }
        while true {
            ERR_clear_error()
            let result = SSL_connect(ssl)
            if result == 1 { break }
            let error = SSL_get_error(ssl, result)
            let savedErrno = errno
            if error == SSL_ERROR_SYSCALL && savedErrno == EINTR { continue }
            isBroken = true
            let verify = SSL_get_verify_result(ssl)
            if verify != Int(X509_V_OK) {
                let why = String(cString: X509_verify_cert_error_string(verify))
                throw Self.failure(errorCode, "the TLS certificate of \(peer) does not verify: \(why)",
                                   hint: "the certificate must be issued for \(name) by a CA in the trust store (SSL_CERT_FILE selects another)")
            }
            throw Self.failure(errorCode, "TLS handshake with \(peer) failed: \(Self.reason(error, errno: savedErrno))",
                               hint: "does the server speak TLS on this port?")
        }
    }

    deinit { close() }

    /// Sends close_notify (once, without waiting for the answer) and frees the session.
    public func close() {
        if let ssl {
            if !isBroken {
                ERR_clear_error()
                _ = SSL_shutdown(ssl)
            }
            SSL_free(ssl)
            self.ssl = nil
        }
        if let context {
            SSL_CTX_free(context)
            self.context = nil
        }
        ERR_clear_error()
    }

    /// Reads up to `count` bytes; 0 when the server closed the connection.
    public func read(_ pointer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        guard let ssl else { throw closedError() }
        while true {
            ERR_clear_error()
            let n = SSL_read(ssl, pointer, Int32(clamping: count))
            if n > 0 { return Int(n) }
            let error = SSL_get_error(ssl, n)
            let savedErrno = errno
            if error == SSL_ERROR_ZERO_RETURN { return 0 }
            if error == SSL_ERROR_SYSCALL && savedErrno == EINTR { continue }
            if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) && savedErrno == EINTR { continue }
            // A peer that closes without close_notify: the end, unproven (OpenSSL 3 reports it as
            // an SSL error with its own reason, OpenSSL 1.1 as a system call error with no errno).
            if (error == SSL_ERROR_SSL && ferry_ssl_error_is_unexpected_eof() != 0)
                || (error == SSL_ERROR_SYSCALL && n == 0 && savedErrno == 0) {
                ERR_clear_error()
                endedWithoutCloseNotify = true
                isBroken = true
                return 0
            }
            isBroken = true
            throw Self.failure(errorCode, "cannot read from \(peer) over TLS: \(Self.reason(error, errno: savedErrno))")
        }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        return try read(base, count: buffer.count)
    }

    /// Writes all `count` bytes.
    public func write(_ pointer: UnsafeRawPointer, count: Int) throws {
        guard let ssl else { throw closedError() }
        var sent = 0
        while sent < count {
            ERR_clear_error()
            let n = SSL_write(ssl, pointer + sent, Int32(clamping: count - sent))
            if n > 0 { sent += Int(n); continue }
            let error = SSL_get_error(ssl, n)
            let savedErrno = errno
            if (error == SSL_ERROR_SYSCALL || error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) && savedErrno == EINTR {
                continue
            }
            isBroken = true
            throw Self.failure(errorCode, "cannot send to \(peer) over TLS: \(Self.reason(error, errno: savedErrno))")
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        try write(base, count: bytes.count)
    }

    // MARK: Helpers

    /// OpenSSL writes to sockets with write(2): a peer that went away must not kill the process.
    private static let ignoreSIGPIPE: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    private func closedError() -> FerryError {
        FerryError(errorCode, "the TLS connection to \(peer) is closed")
    }

    private static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    private static func failure(_ code: ErrorCode, _ message: String, reason: String? = nil, hint: String? = nil) -> FerryError {
        FerryError(code, reason.map { "\(message): \($0)" } ?? message, hint: hint)
    }

    /// The oldest reason on OpenSSL's error queue (which holds no secrets), then clears the queue.
    private static func queuedReason() -> String? {
        let code = ERR_get_error()
        defer { ERR_clear_error() }
        guard code != 0 else { return nil }
        if let text = ERR_reason_error_string(code) { return String(cString: text) }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func reason(_ error: Int32, errno savedErrno: Int32) -> String {
        if let queued = queuedReason() { return queued }
        switch error {
        case SSL_ERROR_SYSCALL:
            if savedErrno == EAGAIN || savedErrno == EWOULDBLOCK { return "timed out" }
            return savedErrno == 0 ? "the server closed the connection" : String(cString: strerror(savedErrno))
        case SSL_ERROR_ZERO_RETURN:
            return "the server closed the connection"
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return "timed out"
        default:
            return "OpenSSL error \(error)"
        }
    }
}

@available(*, unavailable)
extension TLSConnection: Sendable {}
