import FerryCore
import Foundation

/// Streams a file by FTP: passive mode, binary `RETR` (through `FTPConnection`). The user and
/// password come from the URL's user info (never printed), or anonymous. `tls` (`ftps:`): explicit
/// TLS on the control and data connections, the certificate verified (`FTPConnection`).
final class FTPByteReader: ByteReader {
    private let connection: FTPConnection
    private let data: RemoteSocket
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
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try data.read(into: buffer)
    }

    func close() {
        data.close()
        connection.close()
    }
}
