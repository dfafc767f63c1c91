import FerryCore
import FerryIO
@testable import FerryPostgres
import Foundation
import Testing

/// A copy while `pgbench` writes to the source: the copy is the source's state at one moment
/// (its exported snapshot), so pgbench's own invariant holds in it (every transaction moves the
/// same delta into an account, its teller, its branch and the history), and the verify, which
/// compares with the sums taken in that snapshot, passes although the source moved on.
@Suite(.serialized) struct PostgresCopyUnderLoadTests {
    /// Runs PostgreSQL's `pgbench` (FERRY_TEST_PG_BIN) against `database` on cluster A.
    func pgbench(_ arguments: [String], database: String) throws -> Process {
        let env = ProcessInfo.processInfo.environment
        let bin = env["FERRY_TEST_PG_BIN"].map { $0 + "/pgbench" } ?? "/usr/bin/pgbench"
        let address = try #require(env["FERRY_TEST_PG_A"], "run the tests through scripts/test.sh")
        let url = try #require(URLComponents(string: address))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: bin)
        process.arguments = ["-h", url.host ?? "127.0.0.1", "-p", String(url.port ?? 5432), "-U", url.user ?? "ferry"] + arguments + [database]
        var environment = env
        environment["PGPASSWORD"] = env["FERRY_TEST_PG_PASSWORD"]
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// pgbench's invariant: the sums of the balances of accounts, tellers and branches and of
    /// the history's deltas are one number.
    func balances(_ session: PostgresSession, _ database: String) throws -> [String?] {
        try session.rows(database, """
            SELECT (SELECT sum(abalance) FROM pgbench_accounts)::text, (SELECT sum(tbalance) FROM pgbench_tellers)::text,
                   (SELECT sum(bbalance) FROM pgbench_branches)::text, (SELECT coalesce(sum(delta), 0) FROM pgbench_history)::text
            """)[0]
    }

    @Test(arguments: [false, true])
    func copyWhilePgbenchWritesMatchesTheSnapshot(splitByKey: Bool) throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("pb")
        try a.createTestDatabase(db)
        defer { a.dropTestDatabase(db); b.dropTestDatabase(db) }
        let initialize = try pgbench(["-i", "-q", "-s", "2"], database: db)
        initialize.waitUntilExit()
        try #require(initialize.terminationStatus == 0, "pgbench -i failed")
        // Writers on 2 connections until the copy is done (at most 5 minutes).
        let writers = try pgbench(["-n", "-c", "2", "-T", "300"], database: db)
        // SIGKILL: the test process's blocked signals are inherited, so pgbench may not see a SIGTERM.
        defer { if writers.isRunning { kill(writers.processIdentifier, SIGKILL) }; writers.waitUntilExit() }
        var waited = 0
        while try a.rows(db, "SELECT count(*) FROM pgbench_history") == [["0"]], waited < 300 {
            Thread.sleep(forTimeInterval: 0.1); waited += 1
        }
        let before = Int(try a.rows(db, "SELECT count(*) FROM pgbench_history")[0][0] ?? "0") ?? 0
        #expect(before > 0, "pgbench is writing")

        // Split the accounts table (13 MB at scale 2) into parts, by key or by ctid.
        b.splitTablesLargerThan = 2 << 20
        b.splitsByKey = splitByKey
        let shadow = try b.makeShadow(for: db, runID: "run-pb-\(UUID().uuidString.prefix(6))", like: db)
        defer { b.dropTestDatabase(shadow) }
        let built = try b.copyData(from: a, database: db, into: shadow, verifying: .checksum, progress: ProgressCounter())
        #expect(b.extraCopyParts > 0, "accounts was split")
        _ = try b.verify(shadow: shadow, against: a, database: db, level: .checksum, receipt: built.receipt)
        #expect(writers.isRunning, "pgbench wrote during the whole copy")

        let copied = try balances(b, shadow)
        #expect(Set(copied).count == 1 && copied[0] != nil, "one moment of the source: \(copied)")
        let copiedHistory = Int(try b.rows(shadow, "SELECT count(*) FROM pgbench_history")[0][0] ?? "0") ?? 0
        #expect(copiedHistory >= before)
        Thread.sleep(forTimeInterval: 0.5)
        let now = Int(try a.rows(db, "SELECT count(*) FROM pgbench_history")[0][0] ?? "0") ?? 0
        #expect(now > copiedHistory, "the source moved on after the snapshot")
        // The verify against the source as it is now (no receipt) sees that it moved on.
        _ = expectCode(.verifyFailed) { _ = try b.verify(shadow: shadow, against: a, database: db, level: .count, receipt: nil) }
    }
}
