import FerryCore
import FerryIO
@testable import FerryPostgres
import Foundation
import Testing

/// The PostgreSQL content token (SPEC §10, §6 "Writes during a run"): the verify's token of a
/// shadow is the token of the target it became (whatever the verify level and the table's
/// checksum kind), it stays through what changes no content (VACUUM, ANALYZE, Ferry's own users
/// sync), and every kind of write changes it. Checkpoints carry Ferry's mark (a fresh tester's
/// F4/F4b); the fingerprint covers comments, large objects' bytes and settings (F15).
@Suite(.serialized) struct PostgresContentTokenTests {
    /// A source with every checksum kind: binary-streamed (`b`), a generated column and a
    /// composite (not binary-safe: `t`), an enum (by text), large objects and a comment.
    func seed(_ a: PostgresSession, _ db: String) throws {
        try a.createTestDatabase(db)
        try a.sql(db, """
            CREATE TABLE plain (id int PRIMARY KEY, v text, b bytea, n numeric, at timestamptz);
            INSERT INTO plain SELECT g, 'v' || g, decode(repeat('ab', g % 7), 'hex'), g * 1.5, '2026-01-01'::timestamptz + g * interval '1 hour' FROM generate_series(1, 3000) g;
            CREATE TABLE generated (id int, twice int GENERATED ALWAYS AS (id * 2) STORED);
            INSERT INTO generated (id) SELECT generate_series(1, 100);
            CREATE TYPE pair AS (x int, y text);
            CREATE TABLE composite (p pair); INSERT INTO composite VALUES (ROW(1, 'one')), (ROW(2, 'two'));
            CREATE TYPE mood AS ENUM ('sad', 'ok');
            CREATE TABLE moods (m mood); INSERT INTO moods VALUES ('ok'), ('sad');
            CREATE SEQUENCE s; SELECT setval('s', 41);
            SELECT lo_from_bytea(515151, 'large object bytes'::bytea);
            COMMENT ON TABLE plain IS 'first comment';
            """)
    }

    /// Copies `db` from A into B under `target` (replacing what B has there) at `level`, as
    /// the applier does; returns the verify's token, the shadow's token read before the swap,
    /// and the swap record.
    func copy(_ a: PostgresSession, _ b: PostgresSession, _ db: String, as target: String, level: VerifyLevel,
              run: String) throws -> (verified: String?, shadowToken: String?, record: SwapRecord) {
        let shadow = try b.makeShadow(for: target, runID: run, like: target)
        let built = try b.copyData(from: a, database: db, into: shadow, verifying: level, progress: ProgressCounter())
        let report = try b.verify(shadow: shadow, against: a, database: db, level: level, receipt: built.receipt)
        let shadowToken = try b.contentToken(of: shadow)
        let existed = try b.databaseExists(target)
        let record = try b.swap(SwapRecord(database: target, shadow: shadow, checkpoint: existed ? b.checkpointName(for: target, runID: run) : nil,
                                           targetExisted: existed))
        return (report.contentToken, shadowToken, record)
    }

    @Test(arguments: [VerifyLevel.checksum, .count]) func theVerifiedTokenIsTheSwappedInTargetsAndEveryWriteChangesIt(level: VerifyLevel) throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("tok"), run = "20261130T150000000Z-\(UUID().uuidString.prefix(6).lowercased())"
        try seed(a, db)
        try b.createTestDatabase(db)
        try b.sql(db, "CREATE TABLE old (v text); INSERT INTO old VALUES ('before'); COMMENT ON DATABASE \(quoteIdent(db)) IS 'the user''s comment';")
        defer {
            a.dropTestDatabase(db); b.dropTestDatabase(db)
            b.dropTestDatabase(b.checkpointName(for: db, runID: run))
        }
        let (verified, shadowToken, record) = try copy(a, b, db, as: db, level: level, run: run)
        let verifiedToken = try #require(verified, "the verify hands the token to the swap")
        #expect(verifiedToken == shadowToken, "the verify's token is the shadow's")
        let afterSwap = try b.contentToken(of: db)
        #expect(afterSwap == verifiedToken, "the target right after the swap gives the shadow's token (name and comment left out; the rights the swap carried are Ferry's own)")
        #expect(try b.contentToken(of: db) == a.contentToken(of: db), "the copy holds what the source holds")

        // VACUUM and ANALYZE change no content. Owners and privileges are content (tester w5
        // X4): a GRANT by anyone but Ferry's own users sync is a write (below). A database
        // setting changed after the swap is a write too (fresh tester W8-1); put back, it is not.
        try b.sql(db, "VACUUM ANALYZE")
        #expect(try b.contentToken(of: db) == afterSwap, "no content changed")
        try b.sql("postgres", "ALTER DATABASE \(quoteIdent(db)) SET work_mem = '7MB';")
        #expect(try b.contentToken(of: db) != afterSwap, "a setting changed after the swap is a write")
        try b.sql("postgres", "ALTER DATABASE \(quoteIdent(db)) RESET work_mem;")
        #expect(try b.contentToken(of: db) == afterSwap, "the setting as the swap left it")

        // The checkpoint carries Ferry's mark and keeps the comment the target had.
        let checkpoint = try #require(record.checkpoint)
        // ... and the content token it held at the swap (tester w5 X3), which a drop compares.
        let checkpointToken = try #require(try b.contentToken(of: checkpoint))
        // ... and the digest of its settings and kept comment (round 7 F5; no settings: an empty list).
        func sha40(_ text: String) -> String { String(Digest.sha256(Array(text.utf8)).prefix(40)) }
        let settings = sha40(sha40("\n") + "\nthe user's comment")
        #expect(try b.comment(of: checkpoint) == "ferry:checkpoint:\(checkpoint) token=\(checkpointToken) settings=\(settings)\nthe user's comment")
        #expect(PostgresSession.checkpointMark(checkpoint, marker: try b.comment(of: checkpoint) ?? "")?.settings == settings)
        #expect(PostgresSession.commentKept(byCheckpoint: checkpoint, marker: try b.comment(of: checkpoint) ?? "") == .some("the user's comment"))
        #expect(try b.comment(of: db) == "the user's comment", "the swapped-in database takes the replaced one's comment")

        let writes = [
            "INSERT INTO plain (id, v) VALUES (9001, 'app')",
            "UPDATE plain SET v = 'changed' WHERE id = 5",
            "DELETE FROM composite WHERE (p).x = 1",
            "UPDATE generated SET id = 1000 WHERE id = 1",
            "UPDATE moods SET m = 'ok' WHERE m = 'sad'",
            "CREATE TABLE app (x int)",
            "ALTER TABLE plain ADD COLUMN extra int",
            "COMMENT ON TABLE plain IS 'second comment'",
            "SELECT lo_put(515151, 0, '\\x4c'::bytea)",
            "SELECT setval('s', 99)",
            "CREATE INDEX ON plain (v)",
            "ALTER TABLE plain ENABLE ROW LEVEL SECURITY",
            "GRANT SELECT ON plain TO PUBLIC",
            "REVOKE SELECT ON plain FROM PUBLIC",
            "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC",
            "REVOKE CONNECT ON DATABASE \(quoteIdent(db)) FROM PUBLIC",
        ]
        var seen: Set<String> = [afterSwap ?? ""]
        for write in writes {
            try b.sql(db, write)
            let token = try #require(try b.contentToken(of: db))
            #expect(!seen.contains(token), "\(write) changes the token")
            seen.insert(token)
        }

        // Undo gives the old database back with its comment (the writes above are the test's).
        try b.undoSwap(record)
        #expect(try b.rows(db, "SELECT v FROM old") == [["before"]])
        #expect(try b.comment(of: db) == "the user's comment")
        b.dropTestDatabase(record.shadow)
    }

    /// A `verify: count` copy takes the content token's sums of the tables it streamed in binary
    /// whole from its stream (issue 19: the token's second read of the shadow made a count copy
    /// slower than a checksum one): the receipt carries each such table's `b` checksum, the
    /// verify compares only counts, and the token is built from the receipt's sums, not from a
    /// read of the shadow. A receipt whose sum is not the shadow's gives a token that is not the
    /// shadow's (a later rollback then keeps the target: never a false "as before"); one whose
    /// count is not the shadow's fails the verify.
    @Test func aCountCopyTakesItsTokenFromTheStream() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("tokcnt"), run = "20261201T160000000Z-\(UUID().uuidString.prefix(6).lowercased())"
        try seed(a, db)
        defer { a.dropTestDatabase(db); b.dropTestDatabase(db) }
        let shadow = try b.makeShadow(for: db, runID: run)
        defer { b.dropTestDatabase(shadow) }
        let built = try b.copyData(from: a, database: db, into: shadow, verifying: .count, progress: ProgressCounter())
        let tables = try #require(built.receipt.tables)
        let plain = try #require(tables.first { $0.name.hasSuffix("plain") })
        #expect(plain.checksum?.hasPrefix("b") == true, "the stream's sum of a binary-safe table: \(plain)")
        #expect(tables.first { $0.name.hasSuffix("generated") }?.checksum == nil, "a table with a generated column is not streamed whole")

        let report = try b.verify(shadow: shadow, against: a, database: db, level: .count, receipt: built.receipt)
        #expect(report.tables.allSatisfy { $0.checksum == nil }, "a count verify reports counts")
        let shadowToken = try b.contentToken(of: shadow)
        #expect(report.contentToken == shadowToken, "the stream's sums are the shadow's")

        // Taken, not read: a receipt with another sum for `plain` (same count) gives another token.
        var other = built.receipt
        other.tables = tables.map { $0.name == plain.name ? VerifyReport.Table(name: $0.name, rows: $0.rows, checksum: "b12345") : $0 }
        let taken = try b.verify(shadow: shadow, against: a, database: db, level: .count, receipt: other)
        #expect(taken.contentToken != nil && taken.contentToken != shadowToken, "the token's sum of plain came from the receipt")

        // Another count is a failed verify, whatever the sums.
        other.tables = tables.map { $0.name == plain.name ? VerifyReport.Table(name: $0.name, rows: $0.rows + 1, checksum: $0.checksum) : $0 }
        #expect(throws: FerryError.self) { try b.verify(shadow: shadow, against: a, database: db, level: .count, receipt: other) }
    }

    /// What owners and privileges cost the token (tester w5 X4): the `pg3` read against the
    /// `pg2` read (without them) of one biggish target (a 1,000,000-row table, 400 small tables
    /// with a grant each, 200 large objects), three rounds each. Prints the times; the ratio is
    /// a speed goal, not asserted here (a timed test failed CI on a loaded machine: 4.20 s
    /// against 2.79 s): each read must give the same token every round, and the two differ.
    @Test func ownersAndPrivilegesCostTheTokenLittle() throws {
        let b = try PGServers.b()
        defer { b.close() }
        let db = PGServers.name("tokcost")
        try b.createTestDatabase(db)
        defer { b.dropTestDatabase(db) }
        try b.sql(db, """
            CREATE TABLE big (id int PRIMARY KEY, v text); INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 1000000) g;
            DO $$ BEGIN FOR i IN 1..400 LOOP
              EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, v text); GRANT SELECT ON t%s TO PUBLIC; INSERT INTO t%s VALUES (1, ''x'')', i, i, i);
            END LOOP; END $$;
            SELECT lo_from_bytea(0, 'x'::bytea) FROM generate_series(1, 200);
            """)
        try b.sql(db, "VACUUM ANALYZE")
        var legacy: [Double] = [], current: [Double] = []
        var legacyTokens = Set<String?>(), currentTokens = Set<String?>()
        for _ in 0..<3 {
            var start = Date()
            legacyTokens.insert(try b.contentToken(of: db, legacy: true))
            legacy.append(Date().timeIntervalSince(start))
            start = Date()
            currentTokens.insert(try b.contentToken(of: db, legacy: false))
            current.append(Date().timeIntervalSince(start))
        }
        print("content token of \(db): pg2 (no rights) \(legacy.map { String(format: "%.2f", $0) }) s, pg3 (with owners and privileges) \(current.map { String(format: "%.2f", $0) }) s")
        #expect(legacyTokens.count == 1 && currentTokens.count == 1, "each read is stable: \(legacyTokens) \(currentTokens)")
        #expect(legacyTokens.first! != nil && currentTokens.first! != nil && legacyTokens != currentTokens, "pg2 \(legacyTokens), pg3 \(currentTokens)")
    }

    /// An import's verify (at `count`, no source) hands a token too, and it is the target's
    /// after the swap.
    @Test func anImportsVerifyHandsTheTargetsToken() throws {
        let b = try PGServers.b()
        defer { b.close() }
        let db = PGServers.name("toki"), run = "20261130T150100000Z-\(UUID().uuidString.prefix(6).lowercased())"
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("\(db).sql")
        try """
            CREATE TABLE t (id int PRIMARY KEY, v text, twice int GENERATED ALWAYS AS (id * 2) STORED);
            INSERT INTO t (id, v) SELECT g, 'r' || g FROM generate_series(1, 500) g;
            CREATE TYPE pair AS (x int, y text); CREATE TABLE c (p pair); INSERT INTO c VALUES (ROW(1, 'a'));
            """.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file); b.dropTestDatabase(db) }
        let shadow = try b.makeShadow(for: db, runID: run)
        _ = try b.importData(into: shadow, from: [.file(file.path)], format: .sql, options: ImportOptions(owner: "ferry_plain"), progress: ProgressCounter())
        let report = try b.verify(shadow: shadow, against: nil, database: nil, level: .count)
        #expect(report.tables.allSatisfy { $0.checksum == nil }, "a count verify reports counts")
        let token = try #require(report.contentToken)
        _ = try b.swap(SwapRecord(database: db, shadow: shadow, checkpoint: nil, targetExisted: false))
        #expect(try b.contentToken(of: db) == token)
        try b.sql(db, "UPDATE t SET v = 'x' WHERE id = 3")
        #expect(try b.contentToken(of: db) != token)
        #expect(try b.contentToken(of: PGServers.name("missing")) == nil, "a database that is not there has no token")
    }

    /// A database made under the name of a checkpoint that was dropped is not Ferry's: the undo
    /// fails and leaves both databases, and the prune does not drop it (F4, F4b).
    @Test func aDatabaseWithACheckpointsNameIsNeitherRestoredNorDropped() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("tokc"), run = "20261130T150200000Z-\(UUID().uuidString.prefix(6).lowercased())"
        try a.createTestDatabase(db)
        try a.sql(db, "CREATE TABLE items (id int); INSERT INTO items VALUES (1), (2);")
        try b.createTestDatabase(db)
        try b.sql(db, "CREATE TABLE precious (v text); INSERT INTO precious VALUES ('original');")
        let checkpoint = b.checkpointName(for: db, runID: run)
        defer { a.dropTestDatabase(db); b.dropTestDatabase(db); b.dropTestDatabase(checkpoint) }
        let (_, _, record) = try copy(a, b, db, as: db, level: .checksum, run: run)
        // Someone drops the checkpoint and makes their own database under its name.
        b.dropTestDatabase(checkpoint)
        try b.connection.execute("CREATE DATABASE \(quoteIdent(checkpoint))")
        try b.sql(checkpoint, "CREATE TABLE other_app (v text); INSERT INTO other_app VALUES ('unrelated');")
        let error = expectCode(.copyError) { try b.undoSwap(record) }
        #expect(error?.description.contains("checkpoint mark") == true, "\(String(describing: error))")
        // Round-9 F6: that is a gone checkpoint (recovery leaves both and ends), never "there".
        #expect(try b.checkpointGone(record)?.contains("the database now under its name is another one") == true)
        #expect(try !b.checkpointIsThere(record))
        #expect(try b.rows(db, "SELECT count(*) FROM items") == [["2"]], "the target is left as it is")
        #expect(try b.rows(checkpoint, "SELECT v FROM other_app") == [["unrelated"]], "the other database is left as it is")
        _ = expectCode(.copyError) { try b.drop(checkpoint) }
        #expect(try b.databaseExists(checkpoint), "not dropped")
        // Even with the old comment of an unmarked checkpoint (what an older release left).
        try b.connection.execute("COMMENT ON DATABASE \(quoteIdent(checkpoint)) IS 'ferry:checkpoint:\(checkpoint)x'")
        _ = expectCode(.copyError) { try b.drop(checkpoint) }
        #expect(try b.databaseExists(checkpoint))
    }

    /// Refresh's fingerprint sees what the fresh tester's F15 changed at the source with "No
    /// changes": a large object's bytes, a comment, database and per-role settings, row
    /// security, a view's options, replica identity.
    @Test func theFingerprintSeesLargeObjectsCommentsAndSettings() throws {
        let a = try PGServers.a()
        defer { a.close() }
        let db = PGServers.name("tokf"), role = PGServers.name("tokf_role")
        try a.createTestDatabase(db)
        try a.connection.execute("CREATE ROLE \(quoteIdent(role)) NOLOGIN")
        defer { a.dropTestDatabase(db); _ = try? a.connection.execute("DROP ROLE IF EXISTS \(quoteIdent(role))") }
        try a.sql(db, "CREATE TABLE m (id int PRIMARY KEY); CREATE VIEW vw AS SELECT * FROM m; SELECT lo_from_bytea(777, 'v1'::bytea); COMMENT ON TABLE m IS 'c1';")
        func fingerprint() throws -> String { try a.fingerprint(of: db, sizeBytes: 1).0 }
        var seen: Set<String> = [try fingerprint()]
        for (database, change) in [
            (db, "SELECT lo_put(777, 0, 'v2'::bytea)"),
            (db, "COMMENT ON TABLE m IS 'c2'"),
            ("postgres", "ALTER DATABASE \(quoteIdent(db)) SET work_mem = '5MB'"),
            ("postgres", "ALTER ROLE \(quoteIdent(role)) IN DATABASE \(quoteIdent(db)) SET work_mem = '6MB'"),
            (db, "ALTER TABLE m ENABLE ROW LEVEL SECURITY"),
            (db, "ALTER TABLE m FORCE ROW LEVEL SECURITY"),
            (db, "ALTER VIEW vw SET (security_barrier = true)"),
            (db, "ALTER TABLE m SET (fillfactor = 50)"),
            (db, "ALTER TABLE m REPLICA IDENTITY FULL"),
        ] {
            try a.sql(database, change)
            let now = try fingerprint()
            #expect(!seen.contains(now), "\(change) changes the fingerprint")
            seen.insert(now)
        }
    }
}
