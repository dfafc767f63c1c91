import FerryCore
import Foundation

/// Streams a file by FTP: passive mode, binary `RETR`. The user and password come from the URL's
/// user info (never printed), or anonymous.
final class FTPByteReader: ByteReader {
    private let control: RemoteSocket
    private let data: RemoteSocket
    private let name: String
    var sourceBytesRead: Int64 { data.bytesRead }

    init(url: String) throws {
        let name = Redaction.redactURL(url)
        self.name = name
        guard let components = URLComponents(string: url), let host = components.host else {
            throw FerryError(.importError, "not an ftp URL: \(name)")
        }
        let control = try RemoteSocket(host: host, port: components.port ?? 21, name: name)
        func reply() throws -> (Int, String) {
            guard let first = try control.readLine(), first.count >= 3, let code = Int(first.prefix(3)) else {
                throw FerryError(.importError, "\(name): the FTP server sent no valid reply")
            }
            var text = first
            if first.dropFirst(3).first == "-" {
                while let line = try control.readLine() {
                    text = line
                    if line.hasPrefix("\(code) ") { break }
                }
            }
            return (code, text)
        }
        func command(_ line: String, expect: ClosedRange<Int>, shown: String? = nil) throws -> String {
            try control.write(line + "\r\n")
            let (code, text) = try reply()
            guard expect.contains(code) else {
                throw FerryError(.importError, "\(name): the FTP server refused \(shown ?? line): \(text)")
            }
            return text
        }
        _ = try reply()
        // URLComponents.user/.password/.path are already decoded: decode the encoded form once.
        let user = components.percentEncodedUser?.removingPercentEncoding ?? "anonymous"
        let password = components.percentEncodedPassword?.removingPercentEncoding ?? "ferry@"
        try control.write("USER \(user)\r\n")
        let (userCode, userText) = try reply()
        if userCode == 331 {
            _ = try command("PASS \(password)", expect: 200...299, shown: "the password of user \(user)")
        } else if !(200...299).contains(userCode) {
            throw FerryError(.importError, "\(name): the FTP server refused user \(user): \(userText)")
        }
        _ = try command("TYPE I", expect: 200...299)
        let pasv = try command("PASV", expect: 227...227)
        guard let open = pasv.firstIndex(of: "("), let close = pasv.firstIndex(of: ")") else {
            throw FerryError(.importError, "\(name): unreadable PASV reply: \(pasv)")
        }
        let numbers = pasv[pasv.index(after: open)..<close].split(separator: ",").compactMap { Int($0) }
        guard numbers.count == 6 else { throw FerryError(.importError, "\(name): unreadable PASV reply: \(pasv)") }
        let data = try RemoteSocket(host: numbers[0...3].map(String.init).joined(separator: "."), port: numbers[4] * 256 + numbers[5], name: name)
        let path = components.percentEncodedPath.removingPercentEncoding ?? components.path
        _ = try command("RETR \(path)", expect: 100...199)
        self.control = control
        self.data = data
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try data.read(into: buffer)
    }

    func close() {
        data.close()
        control.close()
    }
}
