import FerryCore
import FerryIO
@testable import FerryPostgres
import Foundation
import Testing

/// The engine against the two real clusters of scripts/postgres-servers.sh.
@Suite struct PostgresEngineTests {
    /// Every type family a user brings, with NULs in bytea, in one database.
    static let typeFamilies = """
        CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
        CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
        CREATE TYPE pair AS (a integer, b text);
        CREATE TABLE kinds (
          id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          tags text[], grid integer[][], doc jsonb, raw json, blob bytea, amount numeric(30, 10), big numeric,
          at timestamptz, day date, span interval, feeling mood, feelings mood[], r int4range, tr tstzrange,
          p positive, couple pair, couples pair[], f float8, u uuid, ip inet, bits bit varying(20),
          doubled integer GENERATED ALWAYS AS (p * 2) STORED);
        INSERT INTO kinds (tags, grid, doc, raw, blob, amount, big, at, day, span, feeling, feelings, r, tr, p, couple, couples, f, u, ip, bits)
        SELECT ARRAY['a', 'b "q"', NULL], ARRAY[[1, 2], [3, 4]], jsonb_build_object('k', g, 'nested', jsonb_build_array(1, 'x')),
               '{"a": 1}'::json, decode('00ff00' || lpad(to_hex(g), 4, '0'), 'hex'), 12345678901234567890.0123456789 / g, 10::numeric ^ 40 + g,
               '2026-01-02 03:04:05.123456+02'::timestamptz + g * interval '1 minute', DATE '2026-02-28', interval '1 year 2 mons 3 days',
               (ARRAY['sad', 'ok', 'happy'])[1 + g % 3]::mood, ARRAY['ok', 'happy']::mood[], int4range(g, g + 10),
               tstzrange('2026-01-01', NULL), g, ROW(g, 'x''y')::pair, ARRAY[ROW(1, 'a')::pair], 0.1 + g, gen_random_uuid(), '10.0.0.1/8',
               B'10101'
        FROM generate_series(1, 500) g;
        INSERT INTO kinds (tags, blob, f) VALUES (NULL, '\\x00', 'NaN'), ('{}', '', '-Infinity');
        CREATE TABLE measures (city text NOT NULL, at date NOT NULL, v integer) PARTITION BY RANGE (at);
        CREATE TABLE measures_2025 PARTITION OF measures FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
        CREATE TABLE measures_2026 PARTITION OF measures FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
        INSERT INTO measures SELECT 'c' || (g % 7), DATE '2025-06-01' + g, g FROM generate_series(1, 400) g;
        CREATE UNLOGGED TABLE scratch (k text PRIMARY KEY, v text);
        INSERT INTO scratch SELECT 'k' || g, repeat('v', g % 50) FROM generate_series(1, 300) g;
        CREATE TABLE parent (id serial PRIMARY KEY, name text UNIQUE);
        CREATE TABLE child (id bigserial PRIMARY KEY, parent_id integer REFERENCES parent(id), note text);
        INSERT INTO parent (name) SELECT 'p' || g FROM generate_series(1, 50) g;
        INSERT INTO child (parent_id, note) SELECT 1 + g % 50, 'n' || g FROM generate_series(1, 2000) g;
        CREATE INDEX child_note ON child (note);
        CREATE VIEW child_names AS SELECT c.id, p.name FROM child c JOIN parent p ON p.id = c.parent_id;
        CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := NEW.note || '!'; RETURN NEW; END $$;
        CREATE TRIGGER child_touch BEFORE INSERT ON child FOR EACH ROW EXECUTE FUNCTION touch();
        CREATE TABLE empty_cols ();
        INSERT INTO empty_cols DEFAULT VALUES; INSERT INTO empty_cols DEFAULT VALUES;
        """

    @Test func copyBetweenServersWithARenameKeepsEveryTypeFamily() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let source = PGServers.name("types"), target = PGServers.name("types_copy")
        try a.createTestDatabase(source)
        defer { a.dropTestDatabase(source); b.dropTestDatabase(target) }
        try a.sql(source, Self.typeFamilies)
        let run = "r" + UUID().uuidString.prefix(8).lowercased()
        try b.copyIn(from: a, database: source, as: target, runID: run, options: CopyOptions(owner: "ferry_plain"))
        let expected = try a.contents(of: source)
        #expect(expected["public.kinds"]?.count == 502)
        #expect(expected["public.measures_2025"]?.count ?? 0 > 0)
        #expect(try b.contents(of: target) == expected)
        // Sequences, identity, generated columns, indexes, constraints, triggers arrived.
        try b.sql(target, "INSERT INTO parent (name) VALUES ('new'); INSERT INTO kinds (p) VALUES (21); INSERT INTO child (parent_id, note) VALUES (1, 'z')")
        #expect(try b.rows(target, "SELECT max(id) FROM parent") == [["51"]])
        #expect(try b.rows(target, "SELECT id, doubled FROM kinds WHERE p = 21 AND tags IS NULL AND blob IS NULL") == [["503", "42"]])
        #expect(try b.rows(target, "SELECT note FROM child WHERE note LIKE 'z%'") == [["z!"]])
        #expect(try b.rows(target, "SELECT count(*) FROM pg_indexes WHERE indexname = 'child_note'") == [["1"]])
        #expect(throws: (any Error).self) { try b.sql(target, "INSERT INTO child (parent_id) VALUES (999)") }
        #expect(try b.rows(target, "SELECT count(*) FROM child_names") == [["2001"]])
        // The run left nothing behind, and the fingerprint of the copy matches the source's content.
        #expect(try b.leftovers(ofRun: run).isEmpty)
    }

    @Test func namesThatNeedQuotingAreCopied() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let suffix = UUID().uuidString.prefix(6).lowercased()
        let source = "Mixed Case \"q\" \(suffix)"
        let target = "t'x " + suffix + String(repeating: "é", count: 26) + "Z"
        #expect(target.utf8.count == 63)
        try a.createTestDatabase(source)
        defer { a.dropTestDatabase(source); b.dropTestDatabase(target) }
        let long = String(repeating: "n", count: 63)
        try a.sql(source, """
            CREATE SCHEMA "My Schema";
            CREATE TABLE "My Schema"."Odd ""Table"" Name" ("Col One" text, "select" int, "\(long)" int);
            INSERT INTO "My Schema"."Odd ""Table"" Name" VALUES ('a', 1, 2), ('b''c', 3, 4);
            CREATE TABLE "\(long)" (id serial PRIMARY KEY);
            INSERT INTO "\(long)" DEFAULT VALUES;
            """)
        let run = "q" + suffix
        try b.copyIn(from: a, database: source, as: target, runID: run)
        #expect(try b.contents(of: target) == a.contents(of: source))
        #expect(try b.contents(of: target)["My Schema.Odd \"Table\" Name"]?.count == 2)
        // A shadow name of a 63-byte database is shortened with a hash to fit.
        let shadow = try #require(b.plannedShadowName(for: target, runID: run))
        #expect(shadow.utf8.count <= 63 && shadow.hasSuffix("__ferry_s_" + run))
    }

    @Test func wrongPasswordAndUnknownHost() throws {
        setenv("FERRY_TEST_PG_WRONG", "not-the-password", 1)
        let spec = try PGServers.spec("FERRY_TEST_PG_A", name: "pg-a", password: "FERRY_TEST_PG_WRONG")
        let wrong = expectCode(.wrongPassword) { _ = try PGServers.connect(spec) }
        #expect(!(wrong?.description.contains("not-the-password") ?? true), "the password never appears in the error")
        var nowhere = spec
        nowhere.url = "postgres://ferry@127.0.0.1:1/postgres"
        _ = expectCode(.instanceNotFound) { _ = try PGServers.connect(nowhere) }
        var badMode = try PGServers.spec("FERRY_TEST_PG_A", name: "pg-a")
        badMode.url = (badMode.url ?? "") + "?sslmode=sometimes"
        _ = expectCode(.invalidParameter) { _ = try PGServers.connect(badMode) }
        var disabled = try PGServers.spec("FERRY_TEST_PG_A", name: "pg-a")
        disabled.url = (disabled.url ?? "") + "?sslmode=disable"
        let session = try PGServers.connect(disabled)
        #expect(try session.connection.scalar("SHOW statement_timeout") == "0")
        #expect(try session.connection.scalar("SHOW lock_timeout") == "0")
        #expect(try session.connection.scalar("SHOW idle_in_transaction_session_timeout") == "0")
        session.close()
    }

    /// (Table `u` has a column named `t`, the row alias of the checksum query: a fresh tester's
    /// such table made every plan fail.)
    @Test func fingerprintChangesWithAnyCommittedRowAndOnlyThen() throws {
        let a = try PGServers.a()
        defer { a.close() }
        let db = PGServers.name("fp")
        try a.createTestDatabase(db)
        defer { a.dropTestDatabase(db) }
        try a.sql(db, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 1000) g; CREATE TABLE u (x int, t int); INSERT INTO u (x) VALUES (1), (1)")
        let first = try #require(try a.describe(fingerprinting: [db]).databases[db])
        #expect(first.isFingerprintExact && !first.fingerprint.isEmpty)
        #expect(try a.describe(fingerprinting: [db]).databases[db]?.fingerprint == first.fingerprint, "nothing changed: the same fingerprint")
        let changes = ["UPDATE t SET v = 'w' WHERE id = 500", "UPDATE t SET v = 'v500' WHERE id = 500; UPDATE t SET v = 'v1' WHERE id = 2",
                       "DELETE FROM u WHERE ctid = (SELECT min(ctid) FROM u)", "ALTER TABLE t ADD COLUMN w int", "CREATE INDEX ON t (v)"]
        var seen = [first.fingerprint]
        for change in changes {
            try a.sql(db, change)
            let now = try #require(try a.describe(fingerprinting: [db]).databases[db]?.fingerprint)
            #expect(!seen.contains(now), "\(change) changes the fingerprint")
            seen.append(now)
        }
        let facts = try a.describe(fingerprinting: [db])
        #expect(facts.version.map { !$0.isEmpty } == true, "\(String(describing: facts.version))")
        #expect(facts.databases[db]?.sizeBytes ?? 0 > 0)
        // Above the exact limit the fingerprint is marked inexact (sizes, statistics and the
        // WAL position, never a row read), and a committed write still changes it (the WAL
        // position moves).
        a.exactFingerprintLimitOverride = 1
        let inexact = try #require(try a.describe(fingerprinting: [db]).databases[db])
        #expect(!inexact.isFingerprintExact && !seen.contains(inexact.fingerprint), "\(inexact)")
        try a.sql(db, "UPDATE t SET v = 'x' WHERE id = 7")
        let written = try #require(try a.describe(fingerprinting: [db]).databases[db])
        #expect(!written.isFingerprintExact && written.fingerprint != inexact.fingerprint, "a write changes an inexact fingerprint too")
    }

    /// A table dropped by an application between the fingerprint's listing and its read of that
    /// table (the read waits on the application's lock, then finds the table gone): the plan
    /// said "InstanceNotFound: cannot fingerprint"; the fingerprint is read again and differs.
    @Test func aTableDroppedWhileTheFingerprintReadsIsAChangeNotAnError() throws {
        let a = try PGServers.a()
        defer { a.close() }
        let db = PGServers.name("fd")
        try a.createTestDatabase(db)
        defer { a.dropTestDatabase(db) }
        try a.sql(db, "CREATE TABLE t1 (v int); INSERT INTO t1 VALUES (1); CREATE TABLE t2 (v int); INSERT INTO t2 VALUES (2)")
        let before = try #require(try a.describe(fingerprinting: [db]).databases[db]?.fingerprint)
        let application = try a.open(db)
        defer { application.close() }
        try application.execute("BEGIN; LOCK TABLE public.t2 IN ACCESS EXCLUSIVE MODE")
        let done = DispatchSemaphore(value: 0)
        let box = PostgresTestBox()
        let reader = PostgresBox(try PGServers.a())
        defer { reader.value.close() }
        DispatchQueue.global().async {
            box.result = Result { try reader.value.describe(fingerprinting: [db]).databases[db]?.fingerprint }
            done.signal()
        }
        Thread.sleep(forTimeInterval: 1)
        try application.execute("DROP TABLE public.t2; COMMIT")
        #expect(done.wait(timeout: .now() + 30) == .success)
        let after = try #require(try box.result?.get())
        #expect(after != before, "the drop is a change")
    }

    @Test func sessionOnTheTargetAtSwapIsNamedUnlessAllowedToEnd() throws {
        setenv("FERRY_PG_SWAP_WAIT_SECONDS", "1", 1)
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let source = PGServers.name("busy_src"), target = PGServers.name("busy_dst")
        try a.createTestDatabase(source)
        try b.createTestDatabase(target)
        defer { a.dropTestDatabase(source); b.dropTestDatabase(target) }
        try a.sql(source, "CREATE TABLE t (v int); INSERT INTO t VALUES (1), (2)")
        try b.sql(target, "CREATE TABLE mine (v int); INSERT INTO mine VALUES (7)")
        let user = try b.open(target)   // an application's session
        defer { user.close() }
        let run = "s" + UUID().uuidString.prefix(8).lowercased()
        let error = expectCode(.wrongStatus) { try b.copyIn(from: a, database: source, as: target, runID: run) }
        #expect(error?.message.contains("pid \(user.backendPID)") == true, "\(String(describing: error))")
        #expect(try b.rows(target, "SELECT v FROM mine") == [["7"]], "the target is as before")
        #expect(try user.scalar("SELECT 1") == "1", "the session was not ended")
        // The rollback removes the shadow (marked), and the checkpoint name was never taken.
        #expect(try b.removeLeftovers(ofRun: run, database: target) == [b.plannedShadowName(for: target, runID: run)!])
        #expect(try b.leftovers(ofRun: run).isEmpty)

        // With terminateSessions the swap ends it.
        let allowed = try PGServers.b(terminateSessions: true)
        defer { allowed.close() }
        let run2 = "t" + UUID().uuidString.prefix(8).lowercased()
        let record = try allowed.copyIn(from: a, database: source, as: target, runID: run2)
        #expect(try allowed.rows(target, "SELECT v FROM t ORDER BY v") == [["1"], ["2"]])
        #expect(throws: (any Error).self) { _ = try user.scalar("SELECT 1") }
        // undoSwap puts the original back and the copy back under the shadow's name with its marker.
        try allowed.undoSwap(record)
        #expect(try allowed.rows(target, "SELECT v FROM mine") == [["7"]])
        try allowed.undoSwap(record)   // idempotent
        try allowed.drop(record.shadow)
        #expect(try !allowed.databaseExists(record.shadow))
        #expect(try !allowed.databaseExists(record.checkpoint!))
    }

    /// Round-13 F6: a `DROP DATABASE` of a killed pass leaves, from PostgreSQL 15.4, an invalid
    /// database (`datconnlimit` -2: nobody can connect to it) under a checkpoint's name, marked
    /// as Ferry's: the next drop ends it (it said "could not drop checkpoint ...: pb has no
    /// database ..." on every pass). An invalid database without Ferry's mark is never dropped.
    @Test func aCheckpointAKilledDropLeftInvalidIsDroppedNextTime() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let source = PGServers.name("ivs"), target = PGServers.name("ivt")
        defer { a.dropTestDatabase(source); b.dropTestDatabase(target) }
        try a.createTestDatabase(source)
        try a.sql(source, "CREATE TABLE t (v int); INSERT INTO t VALUES (1)")
        try b.createTestDatabase(target)
        try b.sql(target, "CREATE TABLE mine (v int); INSERT INTO mine VALUES (7)")
        let record = try b.copyIn(from: a, database: source, as: target, runID: "v" + UUID().uuidString.prefix(8).lowercased())
        let checkpoint = try #require(record.checkpoint)
        defer { b.dropTestDatabase(checkpoint) }
        try b.connection.execute("UPDATE pg_database SET datconnlimit = -2 WHERE datname = \(quoteLiteral(checkpoint))")
        try b.drop(checkpoint)
        #expect(try !b.databaseExists(checkpoint))
        // Not Ferry's (no mark): left.
        let lookalike = try #require(b.plannedShadowName(for: PGServers.name("ivl"), runID: "w" + UUID().uuidString.prefix(8).lowercased()))
        try b.createTestDatabase(lookalike)
        defer {
            try? b.connection.execute("UPDATE pg_database SET datconnlimit = -1 WHERE datname = \(quoteLiteral(lookalike))")
            b.dropTestDatabase(lookalike)
        }
        try b.connection.execute("UPDATE pg_database SET datconnlimit = -2 WHERE datname = \(quoteLiteral(lookalike))")
        _ = expectCode(.copyError) { try b.drop(lookalike) }
        #expect(try b.databaseExists(lookalike))
    }

    @Test func onlyMarkedShadowsAreDropped() throws {
        let b = try PGServers.b()
        defer { b.close() }
        let run = "m" + UUID().uuidString.prefix(8).lowercased()
        let db = PGServers.name("own")
        let lookalike = try #require(b.plannedShadowName(for: db, runID: run))
        try b.createTestDatabase(lookalike)   // a user's database that happens to have the shadow's name
        defer { b.dropTestDatabase(lookalike) }
        try b.sql(lookalike, "CREATE TABLE keep (v int); INSERT INTO keep VALUES (1)")
        #expect(try b.removeLeftovers(ofRun: run, database: db).isEmpty)
        _ = expectCode(.copyError) { try b.drop(lookalike) }
        _ = expectCode(.nameConflict) { _ = try b.makeShadow(for: db, runID: run) }
        #expect(try b.rows(lookalike, "SELECT v FROM keep") == [["1"]])
        _ = expectCode(.copyError) { try b.drop("postgres") }
    }

    @Test func claimsConflictBetweenRuns() throws {
        let a = try PGServers.a()
        defer { a.close() }
        let db = PGServers.name("claimed")
        let first = "c1" + UUID().uuidString.prefix(6).lowercased(), second = "c2" + UUID().uuidString.prefix(6).lowercased()
        try a.claim([DatabaseClaim(database: db, role: .importing, runID: first)])
        defer { try? a.release(runID: first) }
        _ = expectCode(.wrongStatus) { try a.claim([DatabaseClaim(database: db, role: .migrating, runID: second)]) }
        #expect(try a.describe(fingerprinting: []).claims.contains { $0.runID == first && $0.database == db })
        #expect(try a.describe(fingerprinting: []).databases[PostgresSession.metaDatabase] == nil, "ferry_meta is hidden")
        try a.release(runID: first)
        try a.claim([DatabaseClaim(database: db, role: .migrating, runID: second)])
        try a.release(runID: second)
    }

    @Test func backupArchiveRestoresIntoAShadow() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("bk")
        try a.createTestDatabase(db)
        defer { a.dropTestDatabase(db) }
        try a.sql(db, "CREATE TABLE t (id serial PRIMARY KEY, v bytea); INSERT INTO t (v) SELECT decode('0001ff', 'hex') FROM generate_series(1, 100)")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-pg-\(UUID().uuidString).dump")
        defer { try? FileManager.default.removeItem(at: file) }
        _ = try a.writeBackup(of: db, to: file, progress: ProgressCounter())
        let run = "b" + UUID().uuidString.prefix(8).lowercased()
        let shadow = try b.makeShadow(for: db, runID: run)
        defer { _ = try? b.removeLeftovers(ofRun: run, database: db) }
        _ = try b.importData(into: shadow, from: [.file(file.path)], format: .pgdump, options: ImportOptions(owner: "ferry_plain"), progress: ProgressCounter())
        #expect(try b.contents(of: shadow) == a.contents(of: db))
    }

    @Test func nonSuperuserCopies() throws {
        let env = ProcessInfo.processInfo.environment
        let plainUser = try #require(env["FERRY_TEST_PG_PLAIN_USER"])
        let a = try PGServers.a()
        defer { a.close() }
        let plainB = try PGServers.connect(PGServers.spec("FERRY_TEST_PG_B", name: "pg-b-plain", user: plainUser))
        defer { plainB.close() }
        let source = PGServers.name("plain_src"), target = PGServers.name("plain_dst")
        try a.createTestDatabase(source)
        defer { a.dropTestDatabase(source); plainB.dropTestDatabase(target) }
        try a.sql(source, "CREATE TABLE t (id serial PRIMARY KEY, v text); INSERT INTO t (v) SELECT 'x' || g FROM generate_series(1, 300) g")
        try plainB.copyIn(from: a, database: source, as: target, runID: "p" + UUID().uuidString.prefix(8).lowercased())
        #expect(try plainB.contents(of: target) == a.contents(of: source))
    }

    /// With users sync (what keeps owners and privileges), a copy within one server is the
    /// file-level TEMPLATE copy while the source has no other session, else a stream.
    @Test func sameServerCopyWithUsersSyncTakesTheTemplatePathAndCarriesSettingsAndGrants() throws {
        let a = try PGServers.a(), target = try PGServers.a()
        defer { a.close(); target.close() }
        let plainUser = try #require(ProcessInfo.processInfo.environment["FERRY_TEST_PG_PLAIN_USER"])
        let source = PGServers.name("tpl"), copy = PGServers.name("tpl_copy"), busyCopy = PGServers.name("tpl_busy")
        try a.createTestDatabase(source)
        defer { a.dropTestDatabase(source); a.dropTestDatabase(copy); a.dropTestDatabase(busyCopy) }
        try a.sql(source, "CREATE TABLE t (id serial PRIMARY KEY, v jsonb); INSERT INTO t (v) SELECT jsonb_build_object('g', g) FROM generate_series(1, 1000) g")
        try a.connection.execute("ALTER DATABASE \(quoteIdent(source)) SET work_mem = '7MB'; REVOKE ALL ON DATABASE \(quoteIdent(source)) FROM PUBLIC; GRANT CONNECT ON DATABASE \(quoteIdent(source)) TO \(plainUser)")
        try target.copyIn(from: a, database: source, as: copy, runID: "tp" + UUID().uuidString.prefix(8).lowercased(),
                          options: CopyOptions(syncsUsers: true))
        #expect(target.copiedByTemplate)
        #expect(try target.contents(of: copy) == a.contents(of: source))
        let settings = "SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting d JOIN pg_database db ON db.oid = d.setdatabase WHERE db.datname = "
        #expect(try target.connection.query(settings + quoteLiteral(copy)) == [["work_mem=7MB"]])
        let privileges = "SELECT has_database_privilege(\(quoteLiteral(plainUser)), datname, 'CONNECT'), datacl::text LIKE '%=c/%' AND datacl::text NOT LIKE '%{=%' FROM pg_database WHERE datname = "
        #expect(try target.connection.query(privileges + quoteLiteral(copy)) == [["t", "t"]])

        // A session on the source: TEMPLATE is refused, the copy streams instead, same result.
        let user = try a.open(source)
        defer { user.close() }
        try target.copyIn(from: a, database: source, as: busyCopy, runID: "tb" + UUID().uuidString.prefix(8).lowercased(),
                          options: CopyOptions(syncsUsers: true))
        #expect(!target.copiedByTemplate)
        #expect(try target.contents(of: busyCopy) == a.contents(of: source))
        #expect(try target.connection.query(settings + quoteLiteral(busyCopy)) == [["work_mem=7MB"]])
        #expect(try user.scalar("SELECT 1") == "1", "the source's session was left alone")
    }


    @Test func verifyCatchesOneChangedRowWhateverTheRowHash() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let source = PGServers.name("vf")
        try a.createTestDatabase(source)
        defer { a.dropTestDatabase(source) }
        try a.sql(source, """
            CREATE TYPE color AS ENUM ('red', 'blue');
            CREATE TABLE plain (id int PRIMARY KEY, v text, n numeric, at timestamptz, j jsonb);
            INSERT INTO plain SELECT g, 'v' || g, g / 3.0, now(), jsonb_build_object('g', g) FROM generate_series(1, 500) g;
            CREATE TABLE painted (id int PRIMARY KEY, c color, raw json);
            INSERT INTO painted SELECT g, 'red', '{"a": 1}' FROM generate_series(1, 500) g;
            """)
        let c = try a.open(source)
        defer { c.close() }
        let tables = Dictionary(uniqueKeysWithValues: try PostgresSums.tables(on: c).map { ($0.name, $0) })
        #expect(try PostgresSums.rowHashIsByValue(tables["plain"]!, on: c))
        #expect(try !PostgresSums.rowHashIsByValue(tables["painted"]!, on: c), "enum and json: the text hash")
        for change in ["UPDATE plain SET n = n + 0.0001 WHERE id = 250", "UPDATE painted SET c = 'blue' WHERE id = 7",
                       "UPDATE plain SET j = '{\"g\": 1}' WHERE id = 2", "UPDATE painted SET raw = '{\"a\":1}' WHERE id = 9"] {
            let run = "v" + UUID().uuidString.prefix(8).lowercased()
            let shadow = try b.makeShadow(for: source, runID: run)
            defer { _ = try? b.removeLeftovers(ofRun: run, database: source) }
            _ = try b.copyData(from: a, database: source, into: shadow, verifying: .checksum, progress: ProgressCounter())
            _ = try b.verify(shadow: shadow, against: a, database: source, level: .checksum)
            try b.sql(shadow, change)
            _ = expectCode(.verifyFailed) { _ = try b.verify(shadow: shadow, against: a, database: source, level: .checksum) }
        }
    }

}

/// A result handed from a background read to the test (set before the semaphore's signal).
final class PostgresTestBox: @unchecked Sendable {
    var result: Result<String?, any Error>?
}
