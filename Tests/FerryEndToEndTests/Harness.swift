import CSQLite
import Foundation
import Testing

/// Runs the built `ferry` in a temporary project directory, as a user would.
final class Project {
    let root: String
    var environment: [String: String]

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-e2e-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root + "/plans/data", withIntermediateDirectories: true)
        var env = ProcessInfo.processInfo.environment
        env["NO_COLOR"] = "1"
        environment = env
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// `ferry ARGS` started with its output to a file (the second value), stopped by
    /// `FERRY_TEST_STOP_AT` at `point` (waited for: at most 60 s); the caller sends SIGCONT or
    /// SIGKILL.
    func startStopped(_ args: [String], at point: String) throws -> (Process, String) {
        let output = root + "/\(args.first ?? "ferry")-\(UUID().uuidString.prefix(6)).out"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        environment["FERRY_TEST_STOP_AT"] = point
        let process = try start(args, stdout: try FileHandle(forWritingTo: URL(fileURLWithPath: output)))
        environment["FERRY_TEST_STOP_AT"] = nil
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !LockTimeoutTests.isStopped(process.processIdentifier), process.isRunning { Thread.sleep(forTimeInterval: 0.02) }
        #expect(LockTimeoutTests.isStopped(process.processIdentifier), "ferry \(args.joined(separator: " ")) stops at \(point)")
        return (process, output)
    }

    /// `count` copies of this project made with `cp -a` (its state directory included), as a
    /// user copies a project while a run is pending.
    func copies(_ count: Int) throws -> [Project] {
        try (0..<count).map { _ in
            let copy = try Project()
            try FileManager.default.removeItem(atPath: copy.root)
            let made = try runShell("cp -a . '\(copy.root)'")
            #expect(made.code == 0, "\(made.all)")
            return copy
        }
    }

    /// The binary built by `swift build` (override with FERRY_BIN).
    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["FERRY_BIN"] { return path }
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        for configuration in ["debug", "release"] {
            let candidate = url.appendingPathComponent(".build/\(configuration)/ferry").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return url.appendingPathComponent(".build/debug/ferry").path
    }

    struct Result {
        var code: Int32
        var stdout: String
        var stderr: String
        var all: String { stdout + stderr }
    }

    func write(_ path: String, _ text: String) throws {
        let full = root + "/" + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: full, atomically: true, encoding: .utf8)
    }

    func read(_ path: String) -> String? { try? String(contentsOfFile: root + "/" + path, encoding: .utf8) }

    /// Runs the repository's `scripts/<script>` (a test server script) with `arguments`; its exit
    /// status and output. Through `system()`, not `Process`: after a server it started was
    /// SIGKILLed, `Process.waitUntilExit` was seen never to return.
    func serverScript(_ script: String, _ arguments: String) -> (code: Int32, output: String) {
        var repository = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { repository.deleteLastPathComponent() }
        let log = root + "/server-script-\(UUID().uuidString.prefix(6)).log"
        let status = system("'\(repository.path)/scripts/\(script)' \(arguments) >'\(log)' 2>&1 </dev/null")
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return (status == -1 ? -1 : (status >> 8) & 0xFF, output)
    }

    /// `scripts/SCRIPT start-extra ARGUMENTS`, asked up to three times: under load a fresh server
    /// can take longer than the script waits, and a later call returns at once when the first one
    /// came up meanwhile. Not asked again once the output holds `final` (a cause another call
    /// cannot mend).
    func startExtraServer(_ script: String, _ arguments: String, unless final: String? = nil) -> (code: Int32, output: String) {
        var started = serverScript(script, "start-extra " + arguments)
        for _ in 0..<2 where started.code != 0 && !(final.map(started.output.contains) ?? false) {
            started = serverScript(script, "start-extra " + arguments)
        }
        return started
    }

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: root + "/" + path) }

    /// Starts ferry without waiting.
    func start(_ args: [String], stdout: FileHandle? = nil, stderr: FileHandle? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Project.binary)
        process.arguments = args
        process.currentDirectoryURL = URL(fileURLWithPath: root)
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdout ?? FileHandle.nullDevice
        process.standardError = stderr ?? stdout ?? FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Runs `ferry ARGS` until it reaches the stop point `point` (`FERRY_TEST_STOP_AT`, e.g.
    /// `after-swapDone#1`), then kills it (kill -9): a crash at that exact point. Records an
    /// issue when the process never stopped there.
    func killed(_ args: [String], at point: String) throws {
        environment["FERRY_TEST_STOP_AT"] = point
        let process = try start(args)
        environment["FERRY_TEST_STOP_AT"] = nil
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !LockTimeoutTests.isStopped(process.processIdentifier), process.isRunning { Thread.sleep(forTimeInterval: 0.02) }
        #expect(LockTimeoutTests.isStopped(process.processIdentifier), "ferry \(args.joined(separator: " ")) stops at \(point)")
        process.signal(SIGKILL)
        process.signal(SIGCONT)
        process.waitUntilExit()
    }

    @discardableResult
    func run(_ args: String...) throws -> Result { try run(args) }

    func run(_ args: [String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Project.binary)
        process.arguments = args
        process.currentDirectoryURL = URL(fileURLWithPath: root)
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes before waiting so a large output cannot block the child.
        nonisolated(unsafe) var errData = Data()
        let reader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !reader.isFinished { Thread.sleep(forTimeInterval: 0.005) }
        return Result(code: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Runs a shell command line in the project directory.
    func runShell(_ command: String) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.currentDirectoryURL = URL(fileURLWithPath: root)
        process.environment = environment
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(code: process.terminationStatus, stdout: String(decoding: data, as: UTF8.self), stderr: "")
    }

    /// Rows of a query on an SQLite database file under the project, as text.
    func query(_ path: String, _ sql: String) throws -> [[String]] {
        var db: OpaquePointer?
        guard sqlite3_open_v2(root + "/" + path, &db, SQLITE_OPEN_READONLY, nil) == SQLITE_OK else {
            defer { sqlite3_close(db) }
            throw QueryError(message: "cannot open \(path)")
        }
        defer { sqlite3_close(db) }
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK else {
            throw QueryError(message: String(cString: sqlite3_errmsg(db)))
        }
        defer { sqlite3_finalize(statement) }
        var rows: [[String]] = []
        while sqlite3_step(statement) == SQLITE_ROW {
            rows.append((0..<sqlite3_column_count(statement)).map { i in
                sqlite3_column_text(statement, i).map { String(cString: $0) } ?? "NULL"
            })
        }
        return rows
    }

    struct QueryError: Error { var message: String }

    /// Files in an instance directory that are not plain `NAME.db` databases or Ferry's claim files.
    func leftovers(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root + "/" + directory)) ?? []
        return names.filter { name in
            !(name.hasSuffix(".db") && !name.hasPrefix(".")) && !name.hasPrefix(".ferry-claims")
        }.sorted()
    }

    func fileBytes(_ path: String) -> Data? { FileManager.default.contents(atPath: root + "/" + path) }

    /// Puts the data file of backup set `other` (under `directory`, relative to the root) in place
    /// of set `id`'s file for the same database, and rewrites the size and SHA-256 that `id`'s
    /// manifest records to the new file's (fresh tester w12 F6: a set edited by a tool that keeps
    /// its manifest's digests right). Both sets hold one database.
    func swapSetFile(in directory: String, of id: String, withThatOf other: String) throws {
        let set = root + "/" + directory + "/" + id, donor = root + "/" + directory + "/" + other
        let manifestPath = set + "/manifest.json"
        guard var manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: manifestPath))) as? [String: Any],
              var entries = manifest["entries"] as? [[String: Any]], var entry = entries.first, let file = entry["file"] as? String else {
            throw QueryError(message: "no manifest entry in \(manifestPath)")
        }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: donor + "/" + file))
        try bytes.write(to: URL(fileURLWithPath: set + "/" + file))
        let hex = try runShell("sha256sum '\(set)/\(file)'").stdout.prefix(64)
        entry["sha256"] = "sha256:" + hex
        entry["sizeBytes"] = bytes.count
        entries[0] = entry
        manifest["entries"] = entries
        try JSONSerialization.data(withJSONObject: manifest).write(to: URL(fileURLWithPath: manifestPath))
    }
}

/// A plan with two SQLite instances, an import into `a` and a copy from `a` to `b`.
func twoInstancePlan(importFrom: String = "data/seed.sql", copyOnExisting: String = "replace", extra: String = "") -> String {
    """
    {
      "ferry": 1,
      "instances": {
        "a": { "engine": "sqlite", "path": "../var/a" },
        "b": { "engine": "sqlite", "path": "../var/b" }
      },
      "imports": {
        "seed": { "into": "a", "database": "app", "from": "\(importFrom)", "onExisting": "replace" }
      },
      "copies": {
        "to-b": { "from": "a", "to": "b", "databases": { "app": "app_copy" }, "onExisting": "\(copyOnExisting)" }
      }\(extra)
    }
    """
}

let seedSQL = #"""
CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
INSERT INTO users VALUES (1, 'ada'), (2, 'grace'), (3, 'it''s quoted');
CREATE TABLE "odd ""name"""(x);
INSERT INTO "odd ""name""" VALUES (42);

"""#

extension Process {
    /// Sends `signal` only while this process has not been reaped: its pid may belong to
    /// another process afterwards (`pid_max` is 32,768 here, and a full run starts thousands),
    /// and a stray `SIGCONT` or `SIGKILL` would wake or end another test's stopped `ferry`.
    func signal(_ signal: Int32) {
        if isRunning { kill(processIdentifier, signal) }
    }
}
