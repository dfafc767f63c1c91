import FerryCore
import Foundation

/// Streams a file by FTP: passive mode, binary `RETR` (through `FTPConnection`). The user and
/// password come from the URL's user info (never printed), or anonymous. `tls` (`ftps:`): explicit
/// TLS on the control and data connections, the certificate verified (`FTPConnection`).
/// The data connection's end is not the file's end: a server that fails mid-transfer closes it
/// too. Only the control connection's end-of-transfer reply (226/250, RFC 959 §4.2) makes the
/// bytes read the whole file; anything else (426, another code, the control connection closed)
/// is `ImportError` at the end of the stream.
final class FTPByteReader: ByteReader {
    private let connection: FTPConnection
    private let data: RemoteSocket
    private let name: String
    private let retrieve: String
    private var confirmed = false
    var sourceBytesRead: Int64 { data.bytesRead }

    init(url: String, tls: Bool = false) throws {
        let (connection, path, name) = try Self.login(url: url, tls: tls)
        guard let data = try connection.download("RETR \(path)", missing: [550]) else {
            throw FerryError(.importError, "\(name): no such file on the FTP server")
        }
        self.connection = connection
        self.data = data
        self.name = name
        retrieve = "RETR \(path)"
    }

    /// Logs in to the server `url` names: the connection, the file's path, the redacted URL.
    private static func login(url: String, tls: Bool) throws -> (FTPConnection, String, String) {
        let name = Redaction.redactURL(url)
        guard let components = URLComponents(string: url), let host = components.host else {
            throw FerryError(.importError, "not an ftp URL: \(name)")
        }
        // URLComponents.user/.password/.path are already decoded: decode the encoded form once.
        let connection = try FTPConnection(host: host, port: components.port ?? 21,
                                           user: components.percentEncodedUser?.removingPercentEncoding,
                                           password: components.percentEncodedPassword?.removingPercentEncoding, name: name, tls: tls)
        return (connection, components.percentEncodedPath.removingPercentEncoding ?? components.path, name)
    }

    /// The size and a cheap digest of the file, for the plan (as an HTTP source's ETag or
    /// Last-Modified): its `MLST` facts `modify`, `size` and `unique` (RFC 3659 §7), else `MDTM`
    /// and `SIZE` (§3, §4) where the server lacks `MLST`; the digest is nil when the server tells
    /// neither (then every plan imports the file again). A missing file is `ImportError`.
    /// Like Last-Modified, the digest misses a file replaced within the same second by one of
    /// the same size.
    static func facts(url: String, tls: Bool = false) throws -> SourceFacts {
        let (connection, path, name) = try login(url: url, tls: tls)
        defer { connection.close() }
        let missing = FerryError(.importError, "\(name): no such file on the FTP server")
        var size: Int64?
        var parts: [String] = []
        // SIZE and MDTM, whose 213 replies hold one value each (for servers without MLST, or
        // whose MLST names no modification time).
        func value(_ reply: FTPConnection.Reply) -> String? {
            reply.code == 213 ? reply.text.dropFirst(4).trimmingCharacters(in: .whitespaces) : nil
        }
        switch try connection.listing(path) {
        case .facts(let facts):
            size = facts["size"].flatMap { Int64($0) }
            parts = ["modify", "size", "unique"].compactMap { key in facts[key].map { "\(key)=\($0)" } }
            if facts["modify"] == nil, let modified = value(try connection.command("MDTM \(path)")) {
                parts.insert("modify=\(modified)", at: 0)
            }
        case .missing:
            throw missing
        case .refused(let reply) where (500...504).contains(reply.code):
            let sized = try connection.command("SIZE \(path)")
            if sized.code == 550 { throw missing }
            size = value(sized).flatMap { Int64($0) }
            if let modified = value(try connection.command("MDTM \(path)")) { parts.append("modify=\(modified)") }
            if let size { parts.append("size=\(size)") }
        case .refused(let reply):
            throw connection.refusal("MLST \(path)", reply)
        }
        let dated = parts.contains { $0.hasPrefix("modify=") } || parts.contains { $0.hasPrefix("unique=") }
        return SourceFacts(source: name, sizeBytes: size, digest: dated ? "ftp:" + parts.joined(separator: ";") : nil)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try data.read(into: buffer)
        if n == 0 && buffer.count > 0 && !confirmed {
            do {
                try connection.finishTransfer(retrieve)
            } catch {
                let why = (error as? FerryError)?.diagnostics.first?.message ?? "\(error)"
                throw FerryError(.importError, "\(name): the download ended without the server confirming it (\(why)); the file may be cut short, so nothing of it is used",
                                 hint: "try again; if it keeps failing, check the FTP server's log")
            }
            confirmed = true
        }
        return n
    }

    func close() {
        data.close()
        connection.close()
    }
}
