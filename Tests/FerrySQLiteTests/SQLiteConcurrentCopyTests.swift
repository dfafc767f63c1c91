import FerryCore
import Foundation
import Testing
@testable import FerrySQLite

/// A flag shared with a writer thread.
private final class StopFlag: @unchecked Sendable {
    // Safe: every access holds `lock`.
    private let lock = NSLock()
    private var stopped = false
    private var commits = 0
    var isStopped: Bool { lock.withLock { stopped } }
    func stop() { lock.withLock { stopped = true } }
    func committed() { lock.withLock { commits += 1 } }
    var commitCount: Int { lock.withLock { commits } }
}

@Suite struct SQLiteConcurrentCopyTests {
    /// Copies taken while another connection keeps committing transfers between accounts must each
    /// be one committed state: the total never changes, and the file passes SQLite's check.
    @Test(arguments: ["DELETE", "WAL"])
    func copiesUnderAConcurrentWriterAreConsistentSnapshots(mode: String) throws {
        let dir = try TemporaryDirectory()
        let file = dir.sub("A/bank.db")
        try sql(file, """
            PRAGMA journal_mode=\(mode);
            CREATE TABLE acct(id INTEGER PRIMARY KEY, bal INTEGER NOT NULL, pad BLOB);
            WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 2000)
            INSERT INTO acct SELECT x, 100, randomblob(200) FROM c;
            """)
        let flag = StopFlag()
        let finished = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            defer { finished.signal() }
            guard let writer = try? SQLiteConnection(path: file) else { return }
            var i = 0
            while !flag.isStopped {
                i += 1
                let from = i % 2000 + 1, to = (i * 7) % 2000 + 1
                if (try? writer.execute("BEGIN IMMEDIATE; UPDATE acct SET bal = bal - 3 WHERE id = \(from); UPDATE acct SET bal = bal + 3 WHERE id = \(to); COMMIT")) != nil {
                    flag.committed()
                } else {
                    try? writer.execute("ROLLBACK")
                }
                // An application pauses between transactions; a writer that never lets go starves every reader.
                usleep(500)
            }
        }
        defer { flag.stop(); finished.wait() }
        let source = try session(dir.sub("A"))
        let target = try session(dir.sub("B"))
        for round in 0..<6 {
            let shadow = try target.makeShadow(for: "bank", runID: "r\(round)")
            let built = try target.copyData(from: source, database: "bank", into: shadow, progress: ProgressCounter())
            // The source keeps changing: the verify compares with the receipt, taken in the copy's snapshot.
            _ = try target.verify(shadow: shadow, against: source, database: "bank", level: .checksum, receipt: built.receipt)
            let copy = try SQLiteConnection(path: target.path(of: shadow), readOnly: true)
            #expect(try copy.integer("SELECT sum(bal) FROM acct") == 200_000, "round \(round), \(mode)")
            #expect(try copy.strings("PRAGMA quick_check") == ["ok"])
            try target.drop(shadow)
            Thread.sleep(forTimeInterval: 0.05)
        }
        flag.stop()
        finished.wait()
        finished.signal()
        #expect(flag.commitCount > 10, "the writer barely ran (\(flag.commitCount) commits)")
    }
}
