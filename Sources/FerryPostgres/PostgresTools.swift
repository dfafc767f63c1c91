import FerryCore
import FerryIO
import Foundation

/// Runs PostgreSQL's client programs (`pg_dump`, `pg_restore`) against a session's server, with
/// the password and sslmode passed in the environment (never on the command line).
struct PostgresTools {
    let address: PostgresAddress
    let instanceName: String

    /// The directory of the newest client programs: `FERRY_PG_BIN`, else the newest
    /// `/usr/lib/postgresql/N/bin` (Debian's layout), else the `PATH`.
    static func binary(_ name: String) -> String {
        if let dir = ProcessInfo.processInfo.environment["FERRY_PG_BIN"] { return dir + "/" + name }
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap { Int($0) }.sorted()
        for version in versions.reversed() where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/\(name)") {
            return "\(root)/\(version)/bin/\(name)"
        }
        return name
    }

    /// Runs a client program that needs no server (`pg_restore -l`, `pg_restore --file=-`) and
    /// returns its standard output; a failure is `code` with its last stderr lines.
    static func runLocally(_ program: String, _ arguments: [String], code: ErrorCode, instanceName: String) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [binary(program)] + arguments
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationStatus != 0 {
            let last = String(decoding: stderr, as: UTF8.self).split(separator: "\n").suffix(3).joined(separator: " / ")
            throw FerryError(code, PostgresText.oneLine("\(program) failed (exit \(process.terminationStatus)): \(last)", hiding: nil),
                             instance: instanceName)
        }
        return data
    }

    /// The client's major version (`pg_dump --version`), or nil when it cannot be run.
    static func clientMajorVersion() -> Int? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [binary("pg_dump"), "--version"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard let range = text.range(of: #"\d+"#, options: .regularExpression) else { return nil }
        return Int(text[range])
    }

    /// Throws `VersionMismatch` when the client programs are older than the server (pg_dump
    /// refuses a newer server) or missing.
    func checkClient(serverVersionNumber: Int) throws {
        guard let client = Self.clientMajorVersion() else {
            throw FerryError(.versionMismatch, "pg_dump is not installed; Ferry needs PostgreSQL's client programs for \(instanceName)",
                             hint: "install Debian's postgresql-client (scripts/install-deps.sh), or set FERRY_PG_BIN", instance: instanceName)
        }
        let server = serverVersionNumber / 10000
        if client < server {
            throw FerryError(.versionMismatch, "pg_dump \(client) is older than the PostgreSQL \(server) server of \(instanceName)",
                             hint: "install postgresql-client-\(server) (or newer), or point FERRY_PG_BIN at its bin directory", instance: instanceName)
        }
    }

    /// The SQL script of a custom-format archive, as `pg_restore --file=-` writes it (owners,
    /// privileges, publications and subscriptions left out), read as it is written. `finish()`
    /// after the last byte throws `code` with pg_restore's last stderr lines when it failed.
    func script(ofArchive path: String, code: ErrorCode) throws -> PostgresToolOutput {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [Self.binary("pg_restore"), "--no-owner", "--no-privileges", "--no-publications", "--no-subscriptions",
                             "--file=-", "--", path]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }
        return try PostgresToolOutput(process, program: "pg_restore", describe: path, code: code, instanceName: instanceName,
                                      scratch: address.scratch, archive: path)
    }

    /// Runs `program` with `arguments` plus the connection options for `database`; stdout goes to
    /// `output` (a file) or is returned. A failure is `code` with the program's last stderr lines
    /// (kept meanwhile in a `ScratchFiles` file of the run's scratch directory).
    /// `tolerating`: given the program's whole stderr after a non-zero exit, true when that
    /// failure is acceptable (the output is then returned).
    @discardableResult
    func run(_ program: String, _ arguments: [String], database: String, output: URL? = nil,
             code: ErrorCode, cancellation: ProgressCounter? = nil, tolerating: ((String) -> Bool)? = nil) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [Self.binary(program), "--host", address.host, "--port", String(address.port),
                             "--username", address.user, "--no-password"] + arguments + ["--dbname", database]
        var environment = ProcessInfo.processInfo.environment
        environment["PGPASSWORD"] = address.password
        if address.password == nil { environment.removeValue(forKey: "PGPASSWORD") }
        if let mode = address.sslMode { environment["PGSSLMODE"] = mode }
        environment["PGCONNECT_TIMEOUT"] = "10"
        // As every Ferry session (`PostgresConnection`): a database's `SET role` or read-only
        // default does not bind the program's session.
        environment["PGOPTIONS"] = "-c statement_timeout=0 -c lock_timeout=0 -c idle_in_transaction_session_timeout=0 -c role=none -c default_transaction_read_only=off -c standard_conforming_strings=on"
        process.environment = environment
        let errors = try ScratchFiles.path(in: address.scratch, "\(program)", suffix: ".err")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errors) }
        process.standardError = try FileHandle(forWritingTo: errors)
        var data = Data()
        let pipe = Pipe()
        if let output {
            _ = FileManager.default.createFile(atPath: output.path, contents: nil)
            process.standardOutput = try FileHandle(forWritingTo: output)
        } else {
            process.standardOutput = pipe
        }
        try process.run()
        let pid = process.processIdentifier
        let cancelID = cancellation?.cancellation?.register { kill(pid, SIGTERM) }
        if output == nil { data = pipe.fileHandleForReading.readDataToEndOfFile() }
        process.waitUntilExit()
        // Taken back as soon as the child is reaped, so that a cancel cannot signal its pid once
        // the kernel may give it to another process (left: the moment between Foundation's
        // waitpid and this line; a pid comes back only after the kernel went round pid_max).
        if let cancelID { cancellation?.cancellation?.unregister(cancelID) }
        try cancellation?.checkCancelled()
        if process.terminationStatus != 0 {
            let text = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
            if let tolerating, tolerating(text) { return data }
            let (failure, lines) = Self.failure(of: text, otherwise: code)
            let shown = lines.map { PostgresText.oneLine($0, hiding: address.password) }.joined(separator: " / ")
            throw FerryError(failure, PostgresText.oneLine("\(program) failed on \(database) of \(instanceName) (exit \(process.terminationStatus)): \(shown)",
                                                           hiding: address.password),
                             instance: instanceName)
        }
        return data
    }

    /// What a client program's stderr `text` says went wrong: its error lines (`pg_restore:
    /// error: ...`, `ERROR: ...`; up to three), else its last three lines (its "Command was:"
    /// echo is no reason: fresh tester w11 F6); and `DiskFull` when the server ran out of space
    /// (SQLSTATE class 53 texts: "No space left on device", "could not extend file"), else `otherwise`.
    static func failure(of text: String, otherwise: ErrorCode) -> (ErrorCode, [String]) {
        let lines = text.split(separator: "\n").map(String.init)
        let errors = lines.filter { $0.contains("error:") || $0.contains("ERROR:") || $0.contains("FATAL:") }
        let diskFull = text.contains("No space left on device") || text.contains("could not extend file")
            || text.contains("could not write to file")
        return (diskFull ? .diskFull : otherwise, errors.isEmpty ? Array(lines.suffix(3)) : Array(errors.prefix(3)))
    }
}

/// The standard output of a running client program, read as a `ByteReader` (read(2) on the pipe).
final class PostgresToolOutput: ByteReader {
    private let process: Process
    private let pipe = Pipe()
    private let errors: URL
    private let program: String
    private let describe: String
    private let code: ErrorCode
    private let instanceName: String
    private var isClosed = false
    /// Bytes of the output read so far, or with `archive`, of the archive read by the program.
    private(set) var sourceBytesRead: Int64 = 0
    /// The archive the program reads and its size: progress counts the archive's bytes, not the
    /// script's (fresh tester round 31, F10: "87.3 MB of 3.3 MB"), from the `rchar` of
    /// `/proc/PID/io` (proc(5): bytes the process read with read(2) and the like), at most the size.
    private let archiveSize: Int64?
    private var reads = 0

    init(_ process: Process, program: String, describe: String, code: ErrorCode, instanceName: String, scratch: String?,
         archive: String? = nil) throws {
        self.process = process
        archiveSize = archive.flatMap { try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? NSNumber }.map { $0.int64Value }
        self.program = program
        self.describe = describe
        self.code = code
        self.instanceName = instanceName
        errors = try ScratchFiles.path(in: scratch, program, suffix: ".err")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: errors)
        process.standardOutput = pipe
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            try? FileManager.default.removeItem(at: errors)
            throw FerryError(code, "cannot run \(program) for \(describe): \(error)", instance: instanceName)
        }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let fd = pipe.fileHandleForReading.fileDescriptor
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 {
                if let archiveSize {
                    reads += 1
                    if n == 0 {
                        sourceBytesRead = archiveSize
                    } else if reads % 16 == 1, let read = archiveBytesRead() {
                        sourceBytesRead = max(sourceBytesRead, min(archiveSize, read))
                    }
                } else {
                    sourceBytesRead += Int64(n)
                }
                return n
            }
            if errno == EINTR { continue }
            throw FerryError(code, "cannot read the output of \(program): \(String(cString: strerror(errno)))", instance: instanceName)
        }
    }

    /// `rchar` of the program's `/proc/PID/io`, or nil once it is gone.
    private func archiveBytesRead() -> Int64? {
        guard let text = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/io", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("rchar:") {
            return Int64(line.dropFirst(6).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    /// Waits for the program and throws `code` with its last stderr lines when it failed.
    func finish() throws {
        process.waitUntilExit()
        guard process.terminationStatus != 0 else { return }
        let text = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        let last = text.split(separator: "\n").suffix(3).joined(separator: " / ")
        throw FerryError(code, "\(program) could not read \(describe) (exit \(process.terminationStatus)): \(last)", instance: instanceName)
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        if process.isRunning { process.terminate() }
        try? pipe.fileHandleForReading.close()
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: errors)
    }

    deinit { close() }
}
