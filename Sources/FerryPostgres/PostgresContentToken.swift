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
/// Owners and privileges are in it (scheme `pg3`, tester w5 X4: a `GRANT` or `ALTER ... OWNER`
/// made during an append, or after a swap, was lost by the swap or the rollback): the
/// database's owner and ACL, and every schema's, relation's, column's, routine's, type's,
/// default privilege's (`pg_default_acl`) and large object's owner and ACL
/// (`PostgresSums.rightsText`). Ferry's own changes of them after the token it compares with
/// was read (the swap carrying the replaced database's ACL, users sync, its undo) are recorded
/// as rights baselines (`PostgresSession.recordRightsBaseline`): a database whose rights are
/// what Ferry's own change left counts as holding those before it.
///
/// Left out, so that the token does not depend on the database's name nor on what Ferry itself
/// does to a target after its verify: the database's name and comment (Ferry's shadow marker
/// before the swap, the replaced database's comment after it) and its settings (`ALTER
/// DATABASE ... SET`, carried at the swap), as read; but a swapped-in database whose comment
/// or settings differ from what its swap left (`recordSettingsBaseline`) takes them in (fresh
/// tester W8-1), so a change of them after the swap is a write.
enum PostgresContentToken {
    /// The scheme prefix of the tokens this release reads (`ContentTokens.comparable`); `pg2`
    /// (without owners and privileges) is read only to compare with a token an earlier release recorded.
    static let scheme = "pg3:"

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

    /// The token of `definitions`, the tables' `sums`, the large objects' sum and `rights` (the
    /// effective digest of the owners and privileges, `PostgresSession.effectiveRights`); nil
    /// `rights`: the `pg2` token an earlier release recorded, without them.
    static func token(definitions: String, sums: [String: VerifyReport.Table], objects: VerifyReport.Table?, rights: String?) -> String {
        var text = "pg-content-1\n" + definitions + "tables\n"
        for name in sums.keys.sorted() {
            let sum = sums[name]!
            text += "\(name)\u{2}\(sum.rows)\u{2}\(sum.checksum ?? "")\n"
        }
        text += "objects \(objects?.rows ?? 0) \(objects?.checksum ?? "")\n"
        guard let rights else { return "pg2:" + String(Digest.sha256(Array(text.utf8)).prefix(40)) }
        text += "rights \(rights)\n"
        return scheme + String(Digest.sha256(Array(text.utf8)).prefix(40))
    }

    /// The digest (40 hex digits of SHA-256) of `PostgresSums.rightsText` of the database `c` is on.
    static func rightsDigest(on c: PostgresConnection) throws -> String {
        String(Digest.sha256(Array(try PostgresSums.rightsText(on: c).utf8)).prefix(40))
    }
}

extension PostgresSession {
    /// The database's content token (`PostgresContentToken`), read in one snapshot shared by
    /// parallel readers (`pg_export_snapshot`); nil when `database` does not exist. A full read
    /// of the database. Returns once the server has ended the sessions it read with, so that
    /// what comes next (a same-server clone by `TEMPLATE`, which needs a database nobody is on;
    /// a swap) does not find them still there. Throws `CopyError` when it cannot be read.
    public func contentToken(of database: String) throws -> String? {
        try contentToken(of: database, legacy: false)
    }

    /// `contentToken(of:)`; `legacy`: the `pg2` token (no owners and privileges) an earlier
    /// release recorded, to compare with it.
    func contentToken(of database: String, legacy: Bool) throws -> String? {
        guard try databaseExists(database) else { return nil }
        // Read before the first session of the read enters the database (`TokenRead`).
        let before = try sessionsOpened(on: database)
        let readers = PostgresBackends()
        defer { readers.awaitEnd(on: connection) }
        let token = try readToken(of: database, readers: readers, legacy: legacy)
        lastTokenRead[database] = TokenRead(token: token, database: database, sessionsBefore: before?.opened,
                                            othersPresent: before?.others ?? true, own: readers.count)
        return token
    }

    func readToken(of database: String, readers: PostgresBackends, legacy: Bool = false) throws -> String {
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
            let rights = legacy ? nil : try PostgresContentToken.rightsDigest(on: c)
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
            let objects = try PostgresLargeObjects.sum(on: c)
            let oid = try c.scalar("SELECT oid::text FROM pg_database WHERE datname = current_database()") ?? ""
            let token = PostgresContentToken.token(definitions: definitions, sums: sums, objects: objects,
                                                   rights: rights.map { effectiveRights($0, ofDatabase: oid) })
            guard !legacy, let changed = settingsChangedSinceSwap(ofDatabase: oid) else { return token }
            return PostgresContentToken.scheme + String(Digest.sha256(Array((token + "\nsettings " + changed).utf8)).prefix(40))
        }
    }

    // MARK: Rights baselines

    /// The rights digest a database of oid `oid` whose owners and privileges digest to `raw`
    /// counts as holding: the one before Ferry's own last change of them (`recordRightsBaseline`)
    /// when `raw` is what that change left, else `raw`. Without Ferry's claims database or its
    /// table (or when they are not provably Ferry's), `raw`: then any change reads as a write,
    /// which keeps, never loses.
    func effectiveRights(_ raw: String, ofDatabase oid: String) -> String {
        guard let meta = try? metaConnection(create: false) else { return raw }
        defer { meta.close() }
        guard (try? Self.metaTableIsFerrys(meta, "public.rights_baselines")) == true,
              let before = try? meta.scalar("SELECT before FROM public.rights_baselines WHERE datoid = \(quoteLiteral(oid))::oid AND after = \(quoteLiteral(raw))")
        else { return raw }
        return before
    }

    /// The raw rights digest (`PostgresContentToken.rightsDigest`) of `database` and its oid; nil when it is gone.
    func rawRights(of database: String) throws -> (digest: String, oid: String)? {
        guard let oid = try oid(of: database) else { return nil }
        let c = try open(database)
        defer { c.close() }
        return (try PostgresContentToken.rightsDigest(on: c), oid)
    }

    /// Records that Ferry itself changed the owners and privileges of the database `before`
    /// was read of (`rawRights`), so that its token still counts the rights it had before
    /// (`effectiveRights`): run right after the swap's carrying of the replaced database's ACL,
    /// users sync and its undo. A change made by someone else between the two reads is taken
    /// for Ferry's (a window of a few catalog reads). Rows of databases that are gone are
    /// removed. Never throws: without the record the change reads as a write (kept, not lost).
    func recordRightsBaseline(of database: String, before: (digest: String, oid: String)?) {
        guard let before, let after = try? rawRights(of: database), after.oid == before.oid, after.digest != before.digest,
              let meta = try? metaConnection(create: true) else { return }
        defer { meta.close() }
        let effective = effectiveRights(before.digest, ofDatabase: before.oid)
        _ = try? meta.execute("CREATE TABLE IF NOT EXISTS public.rights_baselines (datoid oid NOT NULL, after text NOT NULL, before text NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (datoid, after))")
        guard (try? Self.metaTableIsFerrys(meta, "public.rights_baselines")) == true else { return }
        _ = try? meta.execute("""
            DELETE FROM public.rights_baselines WHERE datoid NOT IN (SELECT oid FROM pg_database);
            INSERT INTO public.rights_baselines (datoid, after, before) VALUES (\(quoteLiteral(before.oid))::oid, \(quoteLiteral(after.digest)), \(quoteLiteral(effective)))
              ON CONFLICT (datoid, after) DO UPDATE SET before = EXCLUDED.before, recorded_at = now()
            """)
    }

    // MARK: Settings baselines

    /// The digest of the comment and the `ALTER DATABASE / ROLE ... IN DATABASE ... SET`
    /// settings of the database of oid `oid`; nil when it is gone.
    func settingsDigest(ofDatabase oid: String) throws -> String? {
        try settingsDigest(comment: "d.oid", settings: "d.oid", where: "d.oid = \(quoteLiteral(oid))::oid")
    }

    /// `settingsDigest` of the comment of the database `comment` names and the settings of the
    /// one `settings` names (SQL expressions over `pg_database d`), in the row `where` picks.
    func settingsDigest(comment: String, settings: String, where condition: String, from extra: String = "") throws -> String? {
        guard let text = try connection.scalar("""
            SELECT coalesce(shobj_description(\(comment), 'pg_database'), '') || E'\\n' ||
                   coalesce((SELECT string_agg(s.setrole::text || '=' || (SELECT string_agg(c, E'\\x1f' ORDER BY c) FROM unnest(s.setconfig) c), E'\\n' ORDER BY s.setrole)
                             FROM pg_db_role_setting s WHERE s.setdatabase = \(settings)), '')
            FROM pg_database d\(extra) WHERE \(condition)
            """) else { return nil }
        return String(Digest.sha256(Array(text.utf8)).prefix(40))
    }

    /// Records what the swap left of the comment and settings of the swapped-in database (oid
    /// `oid`), until `checkpoint` is dropped: its token then counts a change of them made after
    /// the swap as a write (`settingsChangedSinceSwap`; fresh tester W8-1: a rollback discarded
    /// an `ALTER DATABASE ... SET` or `COMMENT ON DATABASE` made after the swap and said "as
    /// they were"). The replaced database (`replacing`, now the checkpoint) is no longer watched.
    /// Never throws: without the record such a change is not seen (as before).
    /// `digest`: what the swap left, read inside its transaction (else read now).
    func recordSettingsBaseline(ofDatabase oid: String, checkpoint: String?, replacing: String?, digest known: String? = nil) {
        guard let digest = known ?? (try? settingsDigest(ofDatabase: oid)), let meta = try? metaConnection(create: true) else { return }
        defer { meta.close() }
        _ = try? meta.execute("CREATE TABLE IF NOT EXISTS public.settings_baselines (datoid oid PRIMARY KEY, checkpoint text, digest text NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now())")
        guard (try? Self.metaTableIsFerrys(meta, "public.settings_baselines")) == true else { return }
        _ = try? meta.execute("""
            DELETE FROM public.settings_baselines WHERE datoid NOT IN (SELECT oid FROM pg_database)\(replacing.map { " OR datoid = \(quoteLiteral($0))::oid" } ?? "");
            INSERT INTO public.settings_baselines (datoid, checkpoint, digest) VALUES (\(quoteLiteral(oid))::oid, \(checkpoint.map(quoteLiteral) ?? "NULL"), \(quoteLiteral(digest)))
              ON CONFLICT (datoid) DO UPDATE SET checkpoint = EXCLUDED.checkpoint, digest = EXCLUDED.digest, recorded_at = now()
            """)
    }

    /// The digest of the comment and settings of the database of oid `oid` when they differ
    /// from what its swap left (`recordSettingsBaseline`), else nil (also without a record).
    func settingsChangedSinceSwap(ofDatabase oid: String) -> String? {
        guard let meta = try? metaConnection(create: false) else { return nil }
        defer { meta.close() }
        guard (try? Self.metaTableIsFerrys(meta, "public.settings_baselines")) == true,
              let recorded = try? meta.scalar("SELECT digest FROM public.settings_baselines WHERE datoid = \(quoteLiteral(oid))::oid"),
              let now = try? settingsDigest(ofDatabase: oid), now != recorded else { return nil }
        return now
    }

    /// Takes back the record of the database of oid `oid` (a swap that did not commit).
    func forgetSettingsBaseline(ofDatabase oid: String) {
        guard let meta = try? metaConnection(create: false) else { return }
        defer { meta.close() }
        guard (try? Self.metaTableIsFerrys(meta, "public.settings_baselines")) == true else { return }
        _ = try? meta.execute("DELETE FROM public.settings_baselines WHERE datoid = \(quoteLiteral(oid))::oid")
    }

    /// Stops watching the database swapped in beside `checkpoint`, once that is dropped (no
    /// rollback can restore it any more).
    func forgetSettingsBaselines(checkpoint: String) {
        guard let meta = try? metaConnection(create: false) else { return }
        defer { meta.close() }
        guard (try? Self.metaTableIsFerrys(meta, "public.settings_baselines")) == true else { return }
        _ = try? meta.execute("DELETE FROM public.settings_baselines WHERE checkpoint = \(quoteLiteral(checkpoint))")
    }

    /// True when `table` (of Ferry's claims database) is there and Ferry's alone (owned by
    /// Ferry's user or a superuser, with no trigger, rule or policy), as the claims table must be.
    static func metaTableIsFerrys(_ meta: PostgresConnection, _ table: String) throws -> Bool {
        try meta.scalar("""
            SELECT count(*)::text FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
            WHERE c.oid = to_regclass(\(quoteLiteral(table))) AND (r.rolsuper OR r.rolname = current_user)
              AND NOT c.relhastriggers AND NOT c.relhasrules AND NOT c.relrowsecurity
            """) == "1"
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
    /// instance's spare connections (`spareConnections`), at most 4.
    var tokenWorkers: Int {
        max(1, min(ProcessInfo.processInfo.activeProcessorCount, spareConnections, 4))
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
