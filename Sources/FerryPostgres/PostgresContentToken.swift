import FerryCore
import FerryIO
import Foundation

/// The content token of a PostgreSQL database (`EngineSession.contentToken`, SPEC §6 "Writes
/// during a run"): a SHA-256 over its definitions, its comments, every table's row count and
/// row checksum, and every large object's bytes, read in one snapshot.
///
/// PostgreSQL keeps no per-database change counter that a reader can trust (the cumulative
/// statistics are flushed late, the WAL position is the whole cluster's, commit timestamps are
/// off by default), so the only exact token reads every row: its cost is a full read, like the
/// verify's. The verify of a shadow reads the same sums on its way (`VerifyReport.contentToken`),
/// so a run pays the read only where the verify did not take a table's sum of the token's kind.
///
/// Left out, so that the token does not depend on the database's name nor on what Ferry itself
/// does to a target after its verify: the database's name and comment (Ferry's shadow marker
/// before the swap, the replaced database's comment after it), its owner, rights and settings
/// (`ALTER DATABASE ... SET`, carried at the swap, and users sync's owners and grants, given
/// after it), and every object's owner and privileges.
enum PostgresContentToken {
    /// The kind of row checksum the token takes of `table`, one per table whatever took it:
    /// `b`, the binary COPY stream's (`PostgresSums.streamedSums`), for a table whose columns
    /// a binary copy carries whole (no generated column; `PostgresCopy.isBinarySafe`), which is
    /// what a copy between servers of one major version verifies; else what
    /// `PostgresSums.countAndChecksum` takes (`r` by value, `t` by text).
    static func kind(of table: PostgresTable, on c: PostgresConnection) throws -> Character {
        if !(try PostgresCopy.columns(table, on: c).generated), try PostgresCopy.isBinarySafe(table, on: c) { return "b" }
        return try PostgresSums.rowHashIsByValue(table, on: c) ? "r" : "t"
    }

    /// The row count and checksum of `table` of the token's kind.
    static func sum(of table: PostgresTable, on c: PostgresConnection) throws -> VerifyReport.Table {
        let kind = try kind(of: table, on: c)
        let (rows, checksum) = kind == "b" ? try PostgresSums.streamedSums(table, on: c)
            : try PostgresSums.countAndChecksum(table, on: c, byValue: kind == "r")
        return VerifyReport.Table(name: table.label, rows: rows, checksum: checksum)
    }

    /// The token's sum of every table in `tables`, on `workers` connections from `open`: a sum
    /// in `known` (a verify's) of the token's kind is taken as it is, any other is read.
    static func sums(_ tables: [PostgresTable], known: [String: VerifyReport.Table] = [:], workers: Int,
                     open: @escaping @Sendable () throws -> PostgresConnection) throws -> [String: VerifyReport.Table] {
        try PostgresSums.eachTable(tables, workers: workers, open: open) { table, c in
            if let taken = known[table.label], let checksum = taken.checksum, checksum.first == (try kind(of: table, on: c)) {
                return taken
            }
            return try sum(of: table, on: c)
        }
    }

    /// The definitions the token covers (`PostgresSums.catalogText` without owners and rights)
    /// and the comments on the database's own objects, read on `c`.
    static func definitions(on c: PostgresConnection) throws -> String {
        try PostgresSums.catalogText(on: c, rights: false) + PostgresSums.commentsText(on: c)
    }

    /// The token of `definitions`, the tables' `sums` and the large objects' sum.
    static func token(definitions: String, sums: [String: VerifyReport.Table], objects: VerifyReport.Table?) -> String {
        var text = "pg-content-1\n" + definitions + "tables\n"
        for name in sums.keys.sorted() {
            let sum = sums[name]!
            text += "\(name)\u{2}\(sum.rows)\u{2}\(sum.checksum ?? "")\n"
        }
        text += "objects \(objects?.rows ?? 0) \(objects?.checksum ?? "")\n"
        return "pg2:" + String(Digest.sha256(Array(text.utf8)).prefix(40))
    }
}

extension PostgresSession {
    /// The database's content token (`PostgresContentToken`), read in one snapshot shared by
    /// parallel readers (`pg_export_snapshot`); nil when `database` does not exist. A full read
    /// of the database. Returns once the server has ended the sessions it read with, so that
    /// what comes next (a same-server clone by `TEMPLATE`, which needs a database nobody is on;
    /// a swap) does not find them still there. Throws `CopyError` when it cannot be read.
    public func contentToken(of database: String) throws -> String? {
        guard try databaseExists(database) else { return nil }
        // Read before the first session of the read enters the database (`TokenRead`).
        let before = try sessionsOpened(on: database)
        let readers = PostgresBackends()
        defer { readers.awaitEnd(on: connection) }
        let token = try readToken(of: database, readers: readers)
        lastTokenRead[database] = TokenRead(token: token, database: database, sessionsBefore: before?.opened,
                                            othersPresent: before?.others ?? true, own: readers.count)
        return token
    }

    func readToken(of database: String, readers: PostgresBackends) throws -> String {
        let c = try open(database)
        defer { c.close() }
        return try run(.copyError, "cannot read the content of \(database) on \(instanceName)") {
            readers.add(try c.scalar("SELECT pg_backend_pid()"))
            // A table an application holds exclusively (a long `ALTER TABLE`) fails the read
            // after a while instead of hanging a rollback for ever: the undo then fails and
            // `ferry recover` tries again.
            try c.execute("SET lock_timeout = '\(Self.tokenLockTimeout)'")
            try c.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            defer { try? c.execute("COMMIT") }
            let snapshot = try c.scalar("SELECT pg_export_snapshot()") ?? ""
            let definitions = try PostgresContentToken.definitions(on: c)
            let tables = try PostgresSums.tables(on: c)
            let me = PostgresBox(self)
            let sums = try PostgresContentToken.sums(tables, workers: tokenWorkers) {
                let reader = try me.value.open(database)
                do {
                    readers.add(try reader.scalar("SELECT pg_backend_pid()"))
                    try reader.execute("SET lock_timeout = '\(Self.tokenLockTimeout)'; BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT \(quoteLiteral(snapshot))")
                } catch {
                    reader.close()
                    throw error
                }
                return reader
            }
            return PostgresContentToken.token(definitions: definitions, sums: sums, objects: try PostgresLargeObjects.sum(on: c))
        }
    }

    /// What the server counted of the sessions on `database` (`pg_stat_database.sessions`:
    /// client sessions ever opened on it, counted by each session at the latest when it ends)
    /// and whether other sessions are on it now; nil before PostgreSQL 15 (14 counts them in its
    /// statistics collector, fed by UDP messages that may be lost and read up to 500 ms late) or
    /// when the database is gone.
    func sessionsOpened(on database: String) throws -> (opened: Int64, others: Bool)? {
        guard connection.serverVersionNumber >= 150000 else { return nil }
        // Outside a transaction each statement reads the statistics afresh; inside one
        // (the rename's check) the snapshot the transaction took first is dropped.
        if connection.inTransaction { _ = try connection.query("SELECT pg_stat_clear_snapshot()") }
        guard let row = try connection.query("""
            SELECT s.sessions::text, EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datid = d.oid AND a.pid <> pg_backend_pid()
                                            AND a.backend_type IS DISTINCT FROM 'autovacuum worker')::text
            FROM pg_database d JOIN pg_stat_database s ON s.datid = d.oid WHERE d.datname = \(quoteLiteral(database))
            """).first, let opened = row[0].flatMap({ Int64($0) }) else { return nil }
        return (opened, row[1] == "true")
    }

    /// How long a token read waits for a lock an application holds (PostgreSQL's `lock_timeout`).
    static let tokenLockTimeout = "60s"

    /// Connections a verify or a token read uses side by side: the cores, within the
    /// instance's `maxConnections` (less the session's own), at most 4.
    var tokenWorkers: Int {
        max(1, min(ProcessInfo.processInfo.activeProcessorCount, (target.instance.maxConnections ?? 8) - 1, 4))
    }
}

/// The last content token a session read of a database, and what the server had counted of the
/// sessions on it just before (`PostgresSession.sessionsOpened`). A rename that finds the count
/// grown by exactly `own` (the read's own sessions), while it holds the database (no session
/// can be on it or enter it), proves that no other client session entered the database since
/// the read began: none can have written after the read's snapshot (SPEC, PostgreSQL's
/// "Writes during a run"). `othersPresent`: sessions were on it as the read began, which may
/// write after the snapshot and leave before the rename unseen by the count: no proof then.
struct TokenRead {
    var token: String
    var database: String
    var sessionsBefore: Int64?
    var othersPresent: Bool
    var own: Int
}

/// The server pids of the sessions a read used; `awaitEnd` waits (up to 5 s) until the server
/// no longer lists them, once they are closed: a closed libpq connection's backend goes a
/// moment later. Every access holds `lock`.
final class PostgresBackends: @unchecked Sendable {
    private let lock = NSLock()
    private var pids: [String] = []

    /// How many sessions were added.
    var count: Int { lock.lock(); defer { lock.unlock() }; return pids.count }

    func add(_ pid: String?) {
        guard let pid, pid.allSatisfy(\.isNumber) else { return }
        lock.lock(); pids.append(pid); lock.unlock()
    }

    func awaitEnd(on c: PostgresConnection) {
        lock.lock(); let list = pids; lock.unlock()
        guard !list.isEmpty else { return }
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline,
              (try? c.scalar("SELECT count(*) FROM pg_stat_activity WHERE pid IN (\(list.joined(separator: ", ")))")) != "0" {
            Thread.sleep(forTimeInterval: 0.02)
        }
    }
}
