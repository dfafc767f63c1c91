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
        let name = Redaction.redactURL(url)
        guard let components = URLComponents(string: url), let host = components.host else {
            throw FerryError(.importError, "not an ftp URL: \(name)")
        }
        // URLComponents.user/.password/.path are already decoded: decode the encoded form once.
        let connection = try FTPConnection(host: host, port: components.port ?? 21,
                                           user: components.percentEncodedUser?.removingPercentEncoding,
                                           password: components.percentEncodedPassword?.removingPercentEncoding, name: name, tls: tls)
        let path = components.percentEncodedPath.removingPercentEncoding ?? components.path
        guard let data = try connection.download("RETR \(path)", missing: [550]) else {
            throw FerryError(.importError, "\(name): no such file on the FTP server")
        }
        self.connection = connection
        self.data = data
        self.name = name
        retrieve = "RETR \(path)"
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
