import FerryCore
import Foundation

/// One logged-in FTP control connection (RFC 959; `MLSD`/`MLST` of RFC 3659), binary, with
/// passive data connections to the control connection's own host (the address a `PASV` reply
/// names is not followed, as curl does by default). Used by `FTPByteReader` (sources) and
/// `FTPBackups` (backup locations). The password is sent once and is never part of an error.
/// With `tls` (`ftps:`), explicit FTPS (RFC 4217): `AUTH TLS` right after the greeting, before
/// anything of the login is sent (a server that refuses it gets no user name nor password), the
/// server's certificate verified for `host` against the trust store (`SSL_CERT_FILE` /
/// `SSL_CERT_DIR` replace the system's; there is no way to skip the check), then `PBSZ 0` and
/// `PROT P`, and every data connection TLS too, resuming the control connection's session.
final class FTPConnection {
    /// A reply: its three-digit code and its last line.
    typealias Reply = (code: Int, text: String)

    private let control: RemoteSocket
    private let host: String
    /// `ftps:`: the control connection is TLS and data connections are protected (`PROT P`).
    let isProtected: Bool
    /// The server as errors name it (a redacted URL).
    let name: String

    /// Connects and logs in; `user` nil is anonymous. A refused login is
    /// `OperationDenied.WrongPassword`; a server that cannot be reached is `ImportError`.
    /// With `tls`, a server without `AUTH TLS` or whose certificate does not verify is
    /// `ImportError`, and nothing of the login has been sent.
    init(host: String, port: Int, user: String?, password: String?, name: String, tls: Bool = false) throws {
        self.host = host
        self.name = name
        isProtected = tls
        control = try RemoteSocket(host: host, port: port, name: name)
        let greeting = try reply()
        guard (200...299).contains(greeting.code) else {
            throw FerryError(.importError, "\(name): the FTP server did not accept the connection: \(greeting.text)")
        }
        if tls {
            let answer = try command("AUTH TLS")
            guard answer.code == 234 else {
                throw FerryError(.importError, "\(name): the FTP server does not offer TLS (AUTH TLS: \(answer.text)); nothing of the login was sent",
                                 hint: "ftps: is FTP with explicit TLS (RFC 4217); a server without it takes ftp:, which sends the password in clear")
            }
            do {
                try control.startTLS(host: host, port: port)
            } catch let error as FerryError {
                throw FerryError(error.code, "\(name): \(error.message); nothing of the login was sent", hint: error.diagnostics.first?.hint)
            }
        }
        let login = user ?? "anonymous"
        let sent = try command("USER \(login)")
        if sent.code == 331 || sent.code == 332 {
            let answer = try command("PASS \(password ?? (user == nil ? "ferry@" : ""))")
            if answer.code == 530 || !(200...299).contains(answer.code) {
                throw FerryError(.wrongPassword, "\(name): the FTP server refused the login of user \(login): \(answer.text)",
                                 hint: "check the password (SPEC §2: from the URL's ${env:NAME} or ~/.netrc)")
            }
        } else if !(200...299).contains(sent.code) {
            throw FerryError(.wrongPassword, "\(name): the FTP server refused user \(login): \(sent.text)")
        }
        if tls {
            try expect("PBSZ 0", 200...299)
            try expect("PROT P", 200...299)
        }
        try expect("TYPE I", 200...299)
    }

    deinit { control.close() }

    /// Reads one reply, multi-line replies (`NNN-` ... `NNN `) to their end.
    func reply() throws -> Reply {
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

    /// The lines of a multi-line reply (for `MLST`, whose facts stand on the middle line).
    func replyLines() throws -> (code: Int, lines: [String]) {
        guard let first = try control.readLine(), first.count >= 3, let code = Int(first.prefix(3)) else {
            throw FerryError(.importError, "\(name): the FTP server sent no valid reply")
        }
        var lines = [first]
        if first.dropFirst(3).first == "-" {
            while let line = try control.readLine() {
                lines.append(line)
                if line.hasPrefix("\(code) ") { break }
            }
        }
        return (code, lines)
    }

    /// Sends one command line and reads its reply.
    @discardableResult
    func command(_ line: String) throws -> Reply {
        guard !line.contains("\r") && !line.contains("\n") else {
            throw FerryError(.invalidParameter, "\(name): an FTP path holds a line break")
        }
        try control.write(line + "\r\n")
        return try reply()
    }

    /// Sends `line` and throws `ImportError` naming it unless the reply's code is in `range`.
    @discardableResult
    func expect(_ line: String, _ range: ClosedRange<Int>) throws -> Reply {
        let answer = try command(line)
        guard range.contains(answer.code) else { throw refusal(line, answer) }
        return answer
    }

    /// The error for a refused command: `OperationDenied.ReadOnly` for a permission refusal
    /// (550/553 on a command that writes, 532), else `ImportError`.
    func refusal(_ line: String, _ answer: Reply) -> FerryError {
        let verb = line.split(separator: " ").first.map(String.init)?.uppercased() ?? line
        let writes: Set<String> = ["STOR", "MKD", "RNFR", "RNTO", "DELE", "RMD", "APPE"]
        let denied = answer.code == 532 || (writes.contains(verb) && [550, 553].contains(answer.code)
            && answer.text.lowercased().contains("permi"))
        return FerryError(denied ? .readOnly : .importError, "\(name): the FTP server refused \(line): \(answer.text)")
    }

    /// Opens a passive data connection (`EPSV`, else `PASV`) to the control connection's host.
    func openData() throws -> RemoteSocket {
        var port: Int?
        let extended = try command("EPSV")
        if extended.code == 229, let open = extended.text.firstIndex(of: "("), let close = extended.text.lastIndex(of: ")") {
            let inner = extended.text[extended.text.index(after: open)..<close]
            port = Int(inner.split(separator: "|", omittingEmptySubsequences: true).first ?? "")
        }
        if port == nil {
            let pasv = try expect("PASV", 227...227)
            guard let open = pasv.text.firstIndex(of: "("), let close = pasv.text.firstIndex(of: ")") else {
                throw FerryError(.importError, "\(name): unreadable PASV reply: \(pasv.text)")
            }
            let numbers = pasv.text[pasv.text.index(after: open)..<close].split(separator: ",").compactMap { Int($0) }
            guard numbers.count == 6 else { throw FerryError(.importError, "\(name): unreadable PASV reply: \(pasv.text)") }
            port = numbers[4] * 256 + numbers[5]
        }
        return try RemoteSocket(host: host, port: port!, name: name)
    }

    /// After a data command's 1xx: the data connection's TLS handshake when protected (the
    /// server begins it once it has the command, so the client cannot shake hands before it).
    /// A failed handshake closes `data` and throws.
    func secure(_ data: RemoteSocket) throws {
        guard isProtected else { return }
        try data.startTLS(host: host, port: data.peerPort, resuming: control)
    }

    /// Runs a command that sends data to us (`RETR`, `MLSD`): the data connection, after the
    /// server's 1xx. Nil when the command is refused with `missing` (550: no such file).
    func download(_ line: String, missing: Set<Int> = []) throws -> RemoteSocket? {
        let data = try openData()
        let answer = try command(line)
        if missing.contains(answer.code) { data.close(); return nil }
        guard (100...199).contains(answer.code) else { data.close(); throw refusal(line, answer) }
        try secure(data)
        return data
    }

    /// Reads the end-of-transfer reply (226/250) after a data connection was read or written whole.
    func finishTransfer(_ line: String) throws {
        let done = try reply()
        guard (200...299).contains(done.code) else { throw refusal(line, done) }
    }

    /// `MLSD path`: each entry's name and facts (lower-cased names: `type`, `size`, `perm`...);
    /// nil when the directory does not exist (550).
    func list(_ path: String) throws -> [(name: String, facts: [String: String])]? {
        // Servers answer MLSD of a missing directory differently (550; pyftpdlib 501): ask MLST.
        guard try facts(of: path) != nil, let data = try download("MLSD \(path)", missing: [550]) else { return nil }
        var text: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try data.read(into: $0) }
            if n == 0 { break }
            text += buffer[0..<n]
        }
        data.close()
        try finishTransfer("MLSD \(path)")
        return String(decoding: text, as: UTF8.self).split(whereSeparator: \.isNewline).compactMap { Self.entry(String($0)) }
    }

    /// `MLST path`: the facts of one file or directory; nil when it does not exist (550).
    func facts(of path: String) throws -> [String: String]? {
        switch try listing(path) {
        case .facts(let facts): facts
        case .missing: nil
        case .refused(let reply): throw refusal("MLST \(path)", reply)
        }
    }

    /// What `MLST path` answered: the facts, a missing file (550), or another refusal (a server
    /// without MLST answers 500, 501 or 502, RFC 959 §4.2). Connection errors are thrown.
    enum Listing {
        case facts([String: String])
        case missing
        case refused(Reply)
    }

    func listing(_ path: String) throws -> Listing {
        guard !path.contains("\r") && !path.contains("\n") else {
            throw FerryError(.invalidParameter, "\(name): an FTP path holds a line break")
        }
        try control.write("MLST \(path)\r\n")
        let answer = try replyLines()
        if answer.code == 550 { return .missing }
        guard (200...299).contains(answer.code) else { return .refused((answer.code, answer.lines.last ?? "")) }
        for line in answer.lines.dropFirst() where line.hasPrefix(" ") {
            if let parsed = Self.entry(String(line.dropFirst())) { return .facts(parsed.facts) }
        }
        return .facts([:])
    }

    /// One `MLSD`/`MLST` line: `fact=value;fact=value; name`.
    static func entry(_ line: String) -> (name: String, facts: [String: String])? {
        guard let space = line.firstIndex(of: " ") else { return nil }
        var facts: [String: String] = [:]
        for fact in line[..<space].split(separator: ";") {
            let pair = fact.split(separator: "=", maxSplits: 1)
            if pair.count == 2 { facts[pair[0].lowercased()] = String(pair[1]) }
        }
        return (String(line[line.index(after: space)...]), facts)
    }

    /// Ends the session politely; errors are ignored (the work is done).
    func close() {
        _ = try? command("QUIT")
        control.close()
    }
}
