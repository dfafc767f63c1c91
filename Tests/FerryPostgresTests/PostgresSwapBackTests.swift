import FerryCore
@testable import FerryPostgres
import Foundation
import Testing

/// The swap back and the swap of PostgreSQL against what applications do after Ferry's check
/// (issue 14, round 2; SPEC §10 "Writes during a run" of PostgreSQL): the swap back renames away
/// only the database the swap put in place (a fresh tester's F3 and variants), restores into a
/// target's name that was freed, and no write lands between the last token check and the rename
/// (the check-to-rename gap); the content token sees every DDL a copy carries (F4).
@Suite(.serialized) struct PostgresSwapBackTests {
    static func run() -> String { "20261130T170000000Z-" + UUID().uuidString.prefix(6).lowercased() }

    /// `db` on B holds `old` ('before the run'); a copy of A's `db` (table `items`, 2 rows) is
    /// swapped in over it as the applier does. Returns the swap's finished record with the
    /// token the applier journals, and the checkpoint's oid (the database that held `old`).
    func swapped(_ a: PostgresSession, _ b: PostgresSession, _ db: String, run: String) throws -> (SwapRecord, String) {
        try a.createTestDatabase(db)
        try a.sql(db, "CREATE TABLE items (id int PRIMARY KEY, v text); INSERT INTO items VALUES (1, 'one'), (2, 'two');")
        try b.createTestDatabase(db)
        try b.sql(db, "CREATE TABLE old (v text); INSERT INTO old VALUES ('before the run'); COMMENT ON DATABASE \(quoteIdent(db)) IS 'the user''s';")
        let oldOid = try #require(try b.oid(of: db))
        let shadow = try b.makeShadow(for: db, runID: run, like: db)
        let built = try b.copyData(from: a, database: db, into: shadow, verifying: .checksum, progress: ProgressCounter())
        let report = try b.verify(shadow: shadow, against: a, database: db, level: .checksum, receipt: built.receipt)
        var record = SwapRecord(database: db, shadow: shadow, checkpoint: b.checkpointName(for: db, runID: run), targetExisted: true)
        record.afterSwapToken = report.contentToken
        var done = try b.swap(record)
        done.swapped = true
        #expect(PostgresSession.swappedInOid(done) != nil, "the swap names the database it put in place")
        return (done, oldOid)
    }

    func cleanup(_ a: PostgresSession, _ b: PostgresSession, _ names: [String]) {
        for name in names { a.dropTestDatabase(name); b.dropTestDatabase(name) }
    }

    /// F3: an application renames the swapped-in target (or drops it): the swap back renames the
    /// checkpoint into the free name, where the old database then is (its oid, its rows, its
    /// comment, no mark); the renamed database is left where it is, as it is.
    @Test(arguments: [false, true]) func aTargetRenamedOrDroppedAfterTheSwapIsRestoredIntoItsFreeName(dropped: Bool) throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("sbr"), run = Self.run()
        let (record, oldOid) = try swapped(a, b, db, run: run)
        defer { cleanup(a, b, [db, db + "_app", record.checkpoint!, record.shadow]) }
        if dropped {
            try b.connection.execute("DROP DATABASE \(quoteIdent(db)) WITH (FORCE)")
        } else {
            try b.connection.execute("ALTER DATABASE \(quoteIdent(db)) RENAME TO \(quoteIdent(db + "_app"))")
        }
        var checked = record
        checked.expectedTargetToken = record.afterSwapToken
        try b.undoSwap(checked)
        #expect(try b.oid(of: db) == oldOid, "the name holds the database it held before the run")
        #expect(try b.rows(db, "SELECT v FROM old") == [["before the run"]])
        #expect(try b.comment(of: db) == "the user's", "its own comment, not Ferry's mark")
        #expect(try !b.databaseExists(record.checkpoint!), "the checkpoint's name is free")
        if !dropped {
            #expect(try b.rows(db + "_app", "SELECT count(*) FROM items") == [["2"]], "the renamed database is left as it is")
        }
        try b.undoSwap(checked)   // idempotent: nothing more to do
        #expect(try b.oid(of: db) == oldOid)
    }

    /// F3's variant: the target is renamed and another database takes its name. Even one made
    /// from the renamed database (same content: the content token cannot tell them apart) is
    /// not renamed away: the swap back fails (`WrongStatus`) and leaves all three as they are.
    @Test func anotherDatabaseUnderTheTargetsNameIsNotRenamedAway() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("sbn"), run = Self.run()
        let (record, oldOid) = try swapped(a, b, db, run: run)
        defer { cleanup(a, b, [db, db + "_app", record.checkpoint!, record.shadow]) }
        try b.connection.execute("ALTER DATABASE \(quoteIdent(db)) RENAME TO \(quoteIdent(db + "_app"))")
        try b.connection.execute("CREATE DATABASE \(quoteIdent(db)) TEMPLATE \(quoteIdent(db + "_app"))")
        let newOid = try b.oid(of: db)
        #expect(try b.contentToken(of: db) == record.afterSwapToken, "same content, same token: only the oid tells them apart")
        var checked = record
        checked.expectedTargetToken = record.afterSwapToken
        let error = expectCode(.wrongStatus) { try b.undoSwap(checked) }
        #expect(error?.message.contains("is not the database the run swapped in") == true, "\(String(describing: error))")
        #expect(try b.oid(of: db) == newOid, "the user's database keeps the name")
        #expect(try b.oid(of: record.checkpoint!) == oldOid, "the checkpoint stays")
        #expect(try b.databaseExists(db + "_app"))
        #expect(try !b.databaseExists(record.shadow))
    }

    /// F3's variant: the checkpoint is renamed after the swap: nothing is restored, the error
    /// names where the checkpoint went, the target is left as it is.
    @Test func aCheckpointRenamedAfterTheSwapIsNamedAndNotRestored() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("sbc"), run = Self.run()
        let (record, oldOid) = try swapped(a, b, db, run: run)
        defer { cleanup(a, b, [db, db + "_old", record.checkpoint!, record.shadow]) }
        try b.connection.execute("ALTER DATABASE \(quoteIdent(record.checkpoint!)) RENAME TO \(quoteIdent(db + "_old"))")
        let error = expectCode(.copyError) { try b.undoSwap(record) }
        #expect(error?.message.contains("renamed to \(db)_old") == true, "\(String(describing: error))")
        #expect(try b.rows(db, "SELECT count(*) FROM items") == [["2"]], "the target is left as it is")
        #expect(try b.oid(of: db + "_old") == oldOid, "the renamed checkpoint is left as it is")
    }

    /// The check-to-rename gap: a session that enters the target after the core's token check,
    /// writes and leaves before the rename is caught (the swap back renames nothing, throws
    /// `WrongStatus`); a session that only reads in that gap does not stop the swap back (the
    /// token is read again and is the same). A session already on the target at the check that
    /// writes after it and leaves is caught the same way.
    @Test(arguments: ["writes", "reads", "was on it and writes"]) func aSessionBetweenTheCheckAndTheRenameIsSeen(what: String) throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("sbg"), run = Self.run()
        let (record, _) = try swapped(a, b, db, run: run)
        defer { cleanup(a, b, [db, record.checkpoint!, record.shadow]) }
        var early: PostgresConnection?
        if what == "was on it and writes" { early = try b.open(db) }
        // The core's check, on the session that then swaps back.
        #expect(try b.contentToken(of: db) == record.afterSwapToken)
        if let early {
            try early.execute("INSERT INTO public.items VALUES (3, 'app')")
            early.close()
        } else {
            try b.sql(db, what == "reads" ? "SELECT count(*) FROM items" : "INSERT INTO items VALUES (3, 'app')")
        }
        waitUntilNoSessions(b, db)
        var checked = record
        checked.expectedTargetToken = record.afterSwapToken
        if what == "reads" {
            try b.undoSwap(checked)
            #expect(try b.rows(db, "SELECT v FROM old") == [["before the run"]], "restored: a reader is not a writer")
        } else {
            let error = expectCode(.wrongStatus) { try b.undoSwap(checked) }
            #expect(error?.message.contains("was written after Ferry checked it") == true, "\(String(describing: error))")
            #expect(try b.rows(db, "SELECT count(*) FROM items WHERE id = 3") == [["1"]], "the write is in the target, which was not renamed")
            #expect(try b.databaseExists(record.checkpoint!))
        }
    }

    /// The same gap at an append's swap: a write after the core's check of the snapshot token
    /// and before the rename refuses the swap, and the target keeps it.
    @Test func anAppendsSwapSeesAWriteAfterItsCheck() throws {
        let b = try PGServers.b()
        defer { b.close() }
        let db = PGServers.name("sba"), run = Self.run()
        try b.createTestDatabase(db)
        try b.sql(db, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);")
        let shadow = try b.makeShadow(for: db, runID: run)
        let checkpoint = b.checkpointName(for: db, runID: run)
        defer { b.dropTestDatabase(db); b.dropTestDatabase(checkpoint); _ = try? b.removeLeftovers(ofRun: run, database: db) }
        let snapshot = try #require(try b.contentToken(of: db))
        try b.cloneDatabase(db, into: shadow, progress: ProgressCounter())
        #expect(try b.contentToken(of: db) == snapshot, "the core's check before the swap")
        try b.sql(db, "INSERT INTO t VALUES (2)")
        waitUntilNoSessions(b, db)
        var record = SwapRecord(database: db, shadow: shadow, checkpoint: checkpoint, targetExisted: true)
        record.expectedTargetToken = snapshot
        _ = expectCode(.wrongStatus) { _ = try b.swap(record) }
        #expect(try b.rows(db, "SELECT id FROM t ORDER BY id") == [["1"], ["2"]], "the target keeps the write, not swapped out")
        #expect(try b.databaseExists(shadow))
    }

    func waitUntilNoSessions(_ b: PostgresSession, _ db: String) {
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline, (try? b.sessions(on: db).isEmpty) != true { Thread.sleep(forTimeInterval: 0.02) }
    }

    /// F4: each DDL a user can run on a target, that a copy carries, changes the content token
    /// (alone, from the token before it).
    @Test func everyCarriedDDLChangesTheToken() throws {
        let b = try PGServers.b()
        defer { b.close() }
        let db = PGServers.name("sbd")
        try b.createTestDatabase(db)
        defer { b.dropTestDatabase(db) }
        try b.sql(db, """
            CREATE TABLE t (id int PRIMARY KEY, v text, w text NOT NULL DEFAULT '', n int GENERATED BY DEFAULT AS IDENTITY);
            CREATE UNIQUE INDEX t_v ON t (v); CREATE INDEX t_expr ON t ((lower(v)));
            INSERT INTO t (id, v) VALUES (1, 'a'), (2, 'b');
            CREATE TABLE parent (x int); CREATE TABLE child (x int);
            CREATE TABLE f (id int REFERENCES t (id));
            CREATE SEQUENCE s; CREATE FUNCTION noop() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
            CREATE RULE keep AS ON UPDATE TO child DO ALSO NOTIFY child_changed;
            CREATE STATISTICS t_stats ON id, v FROM t; CREATE TYPE pair AS (x int);
            """)
        let ddl = [
            "ALTER TABLE t ALTER COLUMN v SET STATISTICS 500",
            "ALTER TABLE t ALTER COLUMN v SET STORAGE EXTERNAL",
            "ALTER TABLE t CLUSTER ON t_pkey",
            "ALTER TABLE t SET WITHOUT CLUSTER",
            "ALTER TABLE t ALTER COLUMN w SET COMPRESSION pglz",
            "ALTER TABLE t ALTER COLUMN v SET (n_distinct = 100)",
            "ALTER INDEX t_expr ALTER COLUMN 1 SET STATISTICS 300",
            "ALTER INDEX t_v SET (fillfactor = 70)",
            "ALTER TABLE t REPLICA IDENTITY USING INDEX t_pkey",
            "ALTER TABLE child SET UNLOGGED",
            "ALTER TABLE t ALTER COLUMN n SET GENERATED ALWAYS",
            "ALTER TABLE t ALTER COLUMN v TYPE text COLLATE \"C\"",
            "ALTER TABLE child INHERIT parent",
            "ALTER TABLE child NO INHERIT parent",
            "ALTER TABLE child DISABLE RULE keep",
            "ALTER STATISTICS t_stats SET STATISTICS 50",
            "ALTER TABLE f ALTER CONSTRAINT f_id_fkey DEFERRABLE",
            "ALTER SEQUENCE s CACHE 10",
            "ALTER SEQUENCE s OWNED BY t.id",
            "CREATE COLLATION app_coll (provider = icu, locale = 'de-u-ks-level2', deterministic = false)",
            "CREATE CAST (int4 AS pair) WITH INOUT",
            "CREATE EVENT TRIGGER app_ddl ON ddl_command_end EXECUTE FUNCTION noop()",
            "ALTER EVENT TRIGGER app_ddl DISABLE",
            "CREATE PUBLICATION app_pub FOR TABLE t",
            "ALTER TABLE t ADD CONSTRAINT v_check CHECK (v <> '') NOT VALID",
            "ALTER TABLE t VALIDATE CONSTRAINT v_check",
        ]
        var before = try #require(try b.contentToken(of: db))
        for statement in ddl {
            try b.sql(db, statement)
            let now = try #require(try b.contentToken(of: db))
            #expect(now != before, "\(statement) changes the token")
            before = now
        }
    }
}
