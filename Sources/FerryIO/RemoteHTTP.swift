import FerryCore
import Foundation

/// Streams the body of an HTTP/1.1 GET over a plain or TLS socket (Content-Length, chunked, or until close),
/// following up to five redirects.
final class HTTPByteReader: ByteReader {
    private let socket: RemoteSocket
    private let name: String
    private var remaining: Int64?
    private var isChunked: Bool
    private var chunkLeft: Int64 = 0
    private var isDone = false
    var sourceBytesRead: Int64 { socket.bytesRead }

    private init(socket: RemoteSocket, name: String, length: Int64?, isChunked: Bool) {
        self.socket = socket
        self.name = name
        remaining = length
        self.isChunked = isChunked
    }

    struct Response {
        var status: Int
        var headers: [String: String]
        var socket: RemoteSocket
    }

    /// Sends a request and reads the status line and headers.
    static func request(method: String, url: String, headers: [String: String],
                        body: ((RemoteSocket) throws -> Void)? = nil) throws -> Response {
        let name = Redaction.redactURL(url)
        guard let components = URLComponents(string: url), let host = components.host else {
            throw FerryError(.importError, "not an http URL: \(name)")
        }
        let isTLS = components.scheme?.lowercased() == "https"
        let port = components.port ?? (isTLS ? 443 : 80)
        var target = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        if let query = components.percentEncodedQuery { target += "?" + query }
        let socket = try RemoteSocket(host: host, port: port, name: name, tls: isTLS)
        var request = "\(method) \(target) HTTP/1.1\r\nHost: \(host)\(components.port.map { ":\($0)" } ?? "")\r\nUser-Agent: ferry\r\nAccept-Encoding: identity\r\nConnection: close\r\n"
        for (k, v) in headers { request += "\(k): \(v)\r\n" }
        try socket.write(request + "\r\n")
        try body?(socket)
        guard let statusLine = try socket.readLine() else {
            throw FerryError(.importError, "\(name): the server closed the connection without answering")
        }
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else {
            throw FerryError(.importError, "\(name): not an HTTP response: \(statusLine.prefix(80))")
        }
        var fields: [String: String] = [:]
        while let line = try socket.readLine(), !line.isEmpty {
            if let colon = line.firstIndex(of: ":") {
                fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return Response(status: status, headers: fields, socket: socket)
    }

    /// The error for a status outside 2xx, given the status and the start of the body (at most
    /// 4 KiB, for an error code the server put there).
    typealias StatusError = (_ status: Int, _ body: String) -> FerryError

    static func open(url: String, headers: [String: String], redirects: Int = 5,
                     statusError: StatusError? = nil) throws -> HTTPByteReader {
        let name = Redaction.redactURL(url)
        let response = try request(method: "GET", url: url, headers: headers)
        if (300..<400).contains(response.status), let location = response.headers["location"], redirects > 0 {
            response.socket.close()
            let next = URL(string: location, relativeTo: URL(string: url))?.absoluteString ?? location
            return try open(url: next, headers: headers, redirects: redirects - 1, statusError: statusError)
        }
        guard (200..<300).contains(response.status) else {
            defer { response.socket.close() }
            if let statusError { throw statusError(response.status, errorBody(response)) }
            throw FerryError(.importError, "\(name): the server answered HTTP \(response.status)")
        }
        return HTTPByteReader(socket: response.socket, name: name,
                              length: response.headers["content-length"].flatMap { Int64($0) },
                              isChunked: response.headers["transfer-encoding"]?.lowercased().contains("chunked") == true)
    }

    /// Up to 4 KiB of an error response's body (Content-Length or until close; chunked bodies are
    /// not read), as UTF-8 text.
    static func errorBody(_ response: Response) -> String {
        guard response.headers["transfer-encoding"] == nil else { return "" }
        let length = response.headers["content-length"].flatMap { Int($0) } ?? 4096
        var bytes = [UInt8](repeating: 0, count: min(length, 4096))
        var filled = 0
        while filled < bytes.count {
            let n = (try? bytes.withUnsafeMutableBytes { try response.socket.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }) ?? 0
            if n <= 0 { break }
            filled += n
        }
        return String(decoding: bytes[0..<filled], as: UTF8.self)
    }

    static func head(url: String, headers: [String: String], statusError: StatusError? = nil) throws -> (size: Int64?, digest: String?) {
        let response = try request(method: "HEAD", url: url, headers: headers)
        defer { response.socket.close() }
        guard (200..<300).contains(response.status) else {
            if let statusError { throw statusError(response.status, "") }
            throw FerryError(.importError, "\(Redaction.redactURL(url)): the server answered HTTP \(response.status)")
        }
        // Without an ETag, Last-Modified (one-second steps) with the length the same answer gives:
        // a file rewritten within its second by one of another size is seen (fresh tester round
        // 35b, F6). `SourceFacts.sameDigest` reads a state recorded before the length was added.
        let size = response.headers["content-length"].flatMap { Int64($0) }
        let digest = response.headers["etag"].map { "etag:\($0)" }
            ?? response.headers["last-modified"].map { "modified:\($0)" + (size.map { ";size:\($0)" } ?? "") }
        return (size, digest)
    }

    /// One request with an optional body (written by `body` after the headers; the caller puts
    /// its `Content-Length` in `headers`), answered by a status, headers and a body read whole
    /// (at most 64 MiB: listings and error documents, never data files).
    static func exchange(method: String, url: String, headers: [String: String],
                         body: ((RemoteSocket) throws -> Void)? = nil) throws -> (status: Int, headers: [String: String], body: [UInt8]) {
        let response = try request(method: method, url: url, headers: headers, body: body)
        defer { response.socket.close() }
        if method == "HEAD" || response.status == 204 || response.status == 304 { return (response.status, response.headers, []) }
        let reader = HTTPByteReader(socket: response.socket, name: Redaction.redactURL(url),
                                    length: response.headers["content-length"].flatMap { Int64($0) },
                                    isChunked: response.headers["transfer-encoding"]?.lowercased().contains("chunked") == true)
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try reader.read(into: $0) }
            if n == 0 { break }
            bytes += chunk[0..<n]
            if bytes.count > 64 << 20 { throw FerryError(.importError, "\(Redaction.redactURL(url)): the answer is larger than 64 MiB") }
        }
        return (response.status, response.headers, bytes)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !isDone, buffer.count > 0 else { return 0 }
        if isChunked {
            if chunkLeft == 0 {
                guard var line = try socket.readLine() else { throw truncated() }
                if line.isEmpty { guard let next = try socket.readLine() else { throw truncated() }; line = next }
                let size = line.split(separator: ";").first.flatMap { Int64($0.trimmingCharacters(in: .whitespaces), radix: 16) }
                guard let size else { throw FerryError(.importError, "\(name): malformed chunked encoding") }
                if size == 0 { isDone = true; return 0 }
                chunkLeft = size
            }
            let want = Int(min(Int64(buffer.count), chunkLeft))
            let n = try socket.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]))
            guard n > 0 else { throw truncated() }
            chunkLeft -= Int64(n)
            return n
        }
        if let remaining {
            if remaining == 0 { isDone = true; return 0 }
            let want = Int(min(Int64(buffer.count), remaining))
            let n = try socket.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]))
            guard n > 0 else { throw truncated() }
            self.remaining = remaining - Int64(n)
            return n
        }
        let n = try socket.read(into: buffer)
        if n == 0 {
            // A body that ends with the connection ends only where TLS says so (close_notify):
            // a cut connection is not the end of the file.
            if socket.endedWithoutCloseNotify { throw truncated() }
            isDone = true
        }
        return n
    }

    private func truncated() -> FerryError {
        FerryError(.importError, "\(name): the connection closed before the whole body arrived")
    }

    func close() { socket.close() }
}
