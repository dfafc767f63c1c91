import FerryCore
import Foundation
import Testing
@testable import FerrySQLite

/// No rename under a connection of another process that has the database open in WAL mode: it
/// would go on committing into the `-wal` beside the other file (a fresh tester lost every write of
/// a pooled WAL connection across a swap). The holder is a real second process (python3's sqlite3
/// module): the kernel's lock table names it, while this process's own connections never count.
@Suite(.serialized) struct SQLiteWALHolderTests {
    /// Starts a process that opens `path`, reads it (mapping the `-shm`) and keeps the connection
    /// open until killed; returns once it has read.
    func holder(_ path: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", """
            import sqlite3, sys, time
            c = sqlite3.connect(sys.argv[1])
            c.execute("SELECT count(*) FROM sqlite_schema").fetchall()
            print("ready", flush=True)
            time.sleep(600)
            """, path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let line = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        #expect(line.contains("ready"), "the holder did not start: \(line)")
        return process
    }

    func stop(_ process: Process) {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    func prepared() throws -> (TemporaryDirectory, SQLiteSession, SwapRecord) {
        let dir = try TemporaryDirectory()
        try sql(dir.sub("app.db"), "PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES ('old')")
        let instance = try session(dir.path)
        let shadow = try instance.makeShadow(for: "app", runID: "r1")
        try sql(instance.path(of: shadow), "PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES ('new')")
        let record = SwapRecord(database: "app", shadow: shadow, checkpoint: instance.checkpointName(for: "app", runID: "r1"),
                                targetExisted: true)
        return (dir, instance, record)
    }

    @Test func noSwapWhileAnotherProcessHasTheTargetOpenInWAL() throws {
        let (dir, instance, record) = try prepared()
        let process = try holder(dir.sub("app.db"))
        defer { stop(process) }
        #expect(SQLiteWALHolders.holders(of: dir.sub("app.db")) == [Int64(process.processIdentifier)])
        do {
            _ = try instance.swap(record)
            Issue.record("the swap went ahead under an open WAL connection")
        } catch let error as FerryError {
            #expect(error.code == .wrongStatus && error.message.contains("pid \(process.processIdentifier)"), "\(error.message)")
        }
        #expect(try dump(dir.sub("app.db"))["t"] == ["1:1|3:old"], "nothing was renamed")
        stop(process)
        #expect(SQLiteWALHolders.holders(of: dir.sub("app.db")).isEmpty)
        _ = try instance.swap(record)
        #expect(try dump(dir.sub("app.db"))["t"] == ["1:1|3:new"])
    }

    @Test func noSwapBackWhileAnotherProcessHasTheSwappedInDatabaseOpenInWAL() throws {
        let (dir, instance, record) = try prepared()
        _ = try instance.swap(record)
        let process = try holder(dir.sub("app.db"))
        defer { stop(process) }
        #expect(throws: FerryError.self) { try instance.undoSwap(record) }
        #expect(try dump(dir.sub("app.db"))["t"] == ["1:1|3:new"], "nothing was renamed back")
        stop(process)
        try instance.undoSwap(record)
        #expect(try dump(dir.sub("app.db"))["t"] == ["1:1|3:old"])
    }

    /// This process's own connections (a verify's, a copy's) are not holders.
    @Test func thisProcessesOwnConnectionIsNoHolder() throws {
        let (dir, _, _) = try prepared()
        let connection = try SQLiteConnection(path: dir.sub("app.db"), readOnly: true)
        _ = try connection.integer("SELECT count(*) FROM t")
        #expect(SQLiteWALHolders.holders(of: dir.sub("app.db")).isEmpty)
        _ = connection
    }
}
