import FerryCore
@testable import FerryMySQL
import Foundation
import Testing

/// `MySQLLockWaitWatch` on a real server: a statement of Ferry's that waits behind another
/// session's `LOCK TABLES ... WRITE` is said while it waits, and a hold's tries of 2 s each
/// (`retryingHold`) are said as one wait (fresh tester rounds 63 and 64, M4: silent waits of
/// 30 to 120 s). A statement that does not wait is never said, however long it runs.
@Suite(.serialized) struct MySQLLockWaitWatchTests {
    final class Said: @unchecked Sendable {
        // Safe: `lines` is only touched under `lock`.
        private let lock = NSLock()
        private var lines: [String] = []
        func add(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
        var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
    }

    func watched(after: TimeInterval, said: Said) throws -> MySQLSession {
        let spec = try Servers.spec("FERRY_TEST_MYSQL_A", name: "mysql-a")
        let registry = EngineRegistry([MySQLEngine()], lockWaitNotices: LockWaitNotices(after: after, every: 60) { said.add($0) })
        return try #require(try registry.connect(spec) as? MySQLSession)
    }

    func withLockedTable(_ body: (_ database: String) throws -> Void) throws {
        let admin = try Servers.a()
        let d = "lockwait_\(UInt32.random(in: 0...UInt32.max))"
        try admin.sql("CREATE DATABASE `\(d)`", "CREATE TABLE `\(d)`.t (id INT PRIMARY KEY) ENGINE=InnoDB", "INSERT INTO `\(d)`.t VALUES (1)")
        defer { try? admin.sql("UNLOCK TABLES", "DROP DATABASE `\(d)`") }
        let holder = try admin.openAnother()
        try holder.execute("LOCK TABLES `\(d)`.t WRITE")
        defer { try? holder.execute("UNLOCK TABLES") }
        try body(d)
    }

    @Test func aStatementBehindAnotherSessionsLockIsSaidWhileItWaits() throws {
        try withLockedTable { d in
            let said = Said()
            let session = try watched(after: 1, said: said)
            defer { session.close() }
            let started = Date()
            #expect(throws: (any Error).self) {
                try session.connection.withLockWait(seconds: 3) { _ = try session.connection.query("SELECT COUNT(*) FROM `\(d)`.`t`") }
            }
            #expect(Date().timeIntervalSince(started) >= 2.5)
            let lines = said.all
            #expect(lines.count == 1, "\(lines)")
            #expect(lines.first.map { $0.hasPrefix("mysql-a: Ferry's SELECT COUNT of `\(d)`.`t` waits, ") && $0.contains("(the server says: Waiting for table metadata lock)") } == true, "\(lines)")
        }
    }

    @Test func aHoldsTriesAreSaidAsOneWait() throws {
        try withLockedTable { d in
            let said = Said()
            // Each try waits 2 s: only tries taken as one wait reach the 3 s after which it is said.
            let session = try watched(after: 3, said: said)
            defer { session.close() }
            let probe = try session.openAnother()
            try probe.execute("SET SESSION lock_wait_timeout = 2")
            for _ in 0..<3 {
                #expect(throws: (any Error).self) { try probe.execute("LOCK TABLES `\(d)`.`t` READ") }
                Thread.sleep(forTimeInterval: 0.5)
            }
            #expect(said.all.contains { $0.contains("LOCK TABLES of `\(d)`.`t` waits, ") }, "\(said.all)")
            // Tries apart by more than a second are waits of their own, each too short to say.
            let apart = Said()
            let other = try watched(after: 3, said: apart)
            defer { other.close() }
            let second = try other.openAnother()
            try second.execute("SET SESSION lock_wait_timeout = 2")
            for _ in 0..<2 {
                #expect(throws: (any Error).self) { try second.execute("LOCK TABLES `\(d)`.`t` READ") }
                Thread.sleep(forTimeInterval: 1.5)
            }
            #expect(apart.all.isEmpty, "\(apart.all)")
        }
    }

    @Test func aLongStatementThatDoesNotWaitIsNotSaid() throws {
        let said = Said()
        let session = try watched(after: 1, said: said)
        defer { session.close() }
        _ = try session.connection.query("SELECT SLEEP(3)")
        Thread.sleep(forTimeInterval: 0.6)
        #expect(said.all.isEmpty, "\(said.all)")
    }

    @Test func aGateIsNotWatched() throws {
        try withLockedTable { d in
            let said = Said()
            let session = try watched(after: 1, said: said)
            defer { session.close() }
            let gate = try session.openAnother(watched: false)
            try gate.execute("SET SESSION lock_wait_timeout = 3")
            #expect(throws: (any Error).self) { try gate.execute("LOCK TABLES `\(d)`.t WRITE") }
            #expect(said.all.isEmpty, "\(said.all)")
        }
    }
}
