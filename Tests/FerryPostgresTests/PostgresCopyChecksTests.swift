import FerryCore
import FerryIO
@testable import FerryPostgres
import Foundation
import Testing

/// Plan-time checks of PostgreSQL copies, Ferry's claims database beside a user's `ferry_meta`,
/// and error text (one line, no password), on the two test clusters.
@Suite(.serialized) struct PostgresCopyChecksTests {
    func copySpec(_ source: String, _ target: String, from: String = "pg-a", to: String = "pg-b") -> CopySpec {
        CopySpec(name: "c", from: from, to: to, databases: [DatabaseMapping(source: source, target: target)])
    }

    /// Refresh reads the extensions a database uses and those the server can create; a target
    /// that lacks one is a `VersionMismatch` naming it (the test servers share one installation,
    /// so the target's list is the real one less the extension); one it has passes.
    @Test func extensionsTheTargetLacksAreNamedAtPlanTime() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("ext")
        try a.createTestDatabase(db)
        defer { a.dropTestDatabase(db) }
        try a.sql(db, "CREATE EXTENSION pg_trgm; CREATE EXTENSION hstore; CREATE TABLE t (v hstore);")
        let source = try a.describe(fingerprinting: [db])
        let used = try #require(source.databases[db]?.extensions)
        #expect(used.contains { $0.hasPrefix("pg_trgm ") } && used.contains { $0.hasPrefix("hstore ") } && !used.contains { $0.hasPrefix("plpgsql") }, "\(used)")
        var target = try b.describe(fingerprinting: [])
        let available = try #require(target.availableExtensions)
        #expect(available.contains("pg_trgm") && available.contains("hstore"))
        let fromSpec = try PGServers.spec("FERRY_TEST_PG_A", name: "pg-a"), toSpec = try PGServers.spec("FERRY_TEST_PG_B", name: "pg-b")
        let engine = PostgresEngine()
        let clean = engine.copyDiagnostics(copySpec(db, db), from: fromSpec, source: source, to: toSpec, target: target)
        #expect(clean.filter { $0.severity == .error }.isEmpty, "\(clean)")
        target.availableExtensions = available.filter { $0 != "hstore" }
        let refused = engine.copyDiagnostics(copySpec(db, "other"), from: fromSpec, source: source, to: toSpec, target: target)
        let error = try #require(refused.first { $0.severity == .error }, "\(refused)")
        #expect(error.code == .versionMismatch && error.message.contains("hstore") && !error.message.contains("pg_trgm"), "\(error)")
        // A database with no extension but plpgsql needs none.
        let plain = PGServers.name("plain")
        try a.createTestDatabase(plain)
        defer { a.dropTestDatabase(plain) }
        let plainFacts = try a.describe(fingerprinting: [plain])
        #expect(plainFacts.databases[plain]?.extensions == [])
        target.availableExtensions = []
        #expect(engine.copyDiagnostics(copySpec(plain, plain), from: fromSpec, source: plainFacts, to: toSpec, target: target)
            .filter { $0.severity == .error }.isEmpty)
    }

    /// A copy with users sync within one server whose source has another session is warned
    /// about at plan (the TEMPLATE path needs none); without users sync (it streams: TEMPLATE
    /// would carry owners and privileges), between two servers, or once the session ends, no
    /// warning.
    @Test func sessionsOnASameServerSourceAreAWarning() throws {
        let a = try PGServers.a()
        defer { a.close() }
        let db = PGServers.name("busy")
        try a.createTestDatabase(db)
        defer { a.dropTestDatabase(db) }
        let fromSpec = try PGServers.spec("FERRY_TEST_PG_A", name: "pg-a")
        var toSpec = fromSpec
        toSpec.name = "pg-a2"
        let other = try a.open(db)
        let facts = try a.describe(fingerprinting: [db])
        let sessions = try #require(facts.databases[db]?.sessions)
        #expect(sessions.contains { $0.contains("pid \(other.backendPID) ") }, "\(sessions)")
        let engine = PostgresEngine()
        var synced = copySpec(db, db + "_2", to: "pg-a2")
        synced.users = .sync
        let warned = engine.copyDiagnostics(synced, from: fromSpec, source: facts, to: toSpec, target: facts)
        let warning = try #require(warned.first { $0.severity == .warning && $0.message.contains("TEMPLATE") }, "\(warned)")
        #expect(warning.message.contains("pid \(other.backendPID)"), "\(warning)")
        let streamed = engine.copyDiagnostics(copySpec(db, db + "_2", to: "pg-a2"), from: fromSpec, source: facts, to: toSpec, target: facts)
        #expect(!streamed.contains { $0.message.contains("TEMPLATE") }, "without users sync the copy streams anyway: \(streamed)")
        let otherServer = try PGServers.spec("FERRY_TEST_PG_B", name: "pg-b")
        let between = engine.copyDiagnostics(copySpec(db, db), from: fromSpec, source: facts, to: otherServer, target: facts)
            .filter { $0.severity == .warning }.map(\.message)
        #expect(!between.contains { $0.contains("TEMPLATE") }, "two servers: COPY streams anyway: \(between)")
        #expect(between.contains { $0.contains("the swap waits") && $0.contains("pid \(other.backendPID)") && $0.contains("WrongStatus") }, "a session on the target is named: \(between)")
        var ending = otherServer
        ending.terminateSessions = true
        #expect(engine.copyDiagnostics(copySpec(db, db), from: fromSpec, source: facts, to: ending, target: facts)
            .contains { $0.message.contains("Ferry ends them") })
        other.close()
        var idle: InstanceFacts?
        for _ in 0..<50 {   // the backend leaves pg_stat_activity a moment after the socket closes
            idle = try a.describe(fingerprinting: [db])
            if idle?.databases[db]?.sessions == [] { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(idle?.databases[db]?.sessions == [])
        #expect(engine.copyDiagnostics(copySpec(db, db + "_2", to: "pg-a2"), from: fromSpec, source: try #require(idle), to: toSpec, target: try #require(idle))
            .filter { $0.severity == .warning }.isEmpty)
    }

    /// Free storage is read from the file system under the server's data directory when Ferry
    /// can prove it is this server's (local host, its postmaster.pid naming that port), and is
    /// what statvfs says there; a role that may not read data_directory gets none.
    @Test func freeStorageIsReadWhereProvable() throws {
        let a = try PGServers.a()
        defer { a.close() }
        let free = try #require(try a.describe(fingerprinting: []).freeBytes, "a local superuser reads the data directory")
        let directory = try #require(try a.connection.scalar("SHOW data_directory"))
        var stats = statvfs()
        #expect(statvfs(directory, &stats) == 0)
        let now = Int64(stats.f_bavail) * Int64(stats.f_frsize)
        #expect(abs(now - free) < 512 << 20, "\(free) vs \(now)")
        let user = try #require(ProcessInfo.processInfo.environment["FERRY_TEST_PG_PLAIN_USER"])
        let plain = try PGServers.connect(PGServers.spec("FERRY_TEST_PG_A", name: "pg-a-plain", user: user))
        defer { plain.close() }
        #expect(plain.freeBytes() == nil, "a non-superuser cannot read data_directory: no guess")
    }

    /// A user's database with the claims database's name is the user's: never written, shown by
    /// refresh, and Ferry's claims go to its own database beside it. One shaped exactly as an
    /// earlier Ferry made it (only its claims table) is adopted and marked.
    @Test func aUsersFerryMetaIsNeverWritten() throws {
        let b = try PGServers.b()
        defer { b.close() }
        let base = PGServers.name("fm")
        try b.createTestDatabase(base)
        defer { b.dropTestDatabase(base); b.dropTestDatabase(base + "__ferry_m") }
        try b.sql(base, "CREATE TABLE claims (db text, role text, run_id text, note text); INSERT INTO claims VALUES ('app', 'Importing', 'r1', 'mine');")
        b.metaBase = base
        try b.claim([DatabaseClaim(database: "app", role: .importing, runID: "run-x")])
        #expect(try b.rows(base, "SELECT db, role, run_id, note FROM claims") == [["app", "Importing", "r1", "mine"]], "the user's rows are as they were")
        #expect(try b.comment(of: base) == nil, "no marker was put on the user's database")
        #expect(try b.comment(of: base + "__ferry_m") == PostgresSession.metaMarker)
        #expect(try b.currentClaims().map(\.runID) == ["run-x"])
        let facts = try b.describe(fingerprinting: [])
        #expect(facts.databases[base] != nil, "the user's database is listed")
        #expect(facts.databases[base + "__ferry_m"] == nil, "Ferry's own is hidden")
        try b.release(runID: "run-x")
        #expect(try b.currentClaims().isEmpty)
        #expect(try b.rows(base, "SELECT count(*) FROM claims") == [["1"]])

        // The shape an earlier release left: adopted as Ferry's.
        let legacy = PGServers.name("fl")
        try b.createTestDatabase(legacy)
        defer { b.dropTestDatabase(legacy) }
        try b.sql(legacy, "CREATE TABLE claims (db text NOT NULL, role text NOT NULL, run_id text NOT NULL, claimed_at timestamptz NOT NULL DEFAULT now(), holder text NOT NULL DEFAULT '', host text NOT NULL DEFAULT '', pid bigint NOT NULL DEFAULT 0, PRIMARY KEY (db, role, run_id))")
        let fresh = try PGServers.b()
        defer { fresh.close() }
        fresh.metaBase = legacy
        #expect(try fresh.metaDatabaseName() == legacy)
        #expect(try fresh.comment(of: legacy) == PostgresSession.metaMarker)
        // Round-14 A3: its claims are read without a journal, and the next claim adds the column.
        try b.sql(legacy, "INSERT INTO claims (db, role, run_id, holder, host, pid) VALUES ('old', 'Importing', 'run-old', 'u', 'elsewhere', 7)")
        #expect(try fresh.currentClaims().map { "\($0.runID) \($0.journal ?? "-")" } == ["run-old -"])
        var withJournal = DatabaseClaim(database: "new", role: .importing, runID: "run-new")
        withJournal.journal = "/work/copy/.ferry"
        try fresh.claim([withJournal])
        #expect(try fresh.currentClaims().map { "\($0.runID) \($0.journal ?? "-")" }.sorted() == ["run-new /work/copy/.ferry", "run-old -"])
        #expect(try fresh.claimHeld(by: "run-new", on: "new") == true && fresh.claimHeld(by: "run-old", on: "new") == false)
        try fresh.release(runID: "run-new")
        try fresh.release(runID: "run-old")
        // One more table in it, and it is not Ferry's shape any more.
        let third = PGServers.name("fx")
        try b.createTestDatabase(third)
        defer { b.dropTestDatabase(third) }
        try b.sql(third, "CREATE TABLE claims (db text NOT NULL, role text NOT NULL, run_id text NOT NULL, claimed_at timestamptz NOT NULL DEFAULT now(), holder text NOT NULL DEFAULT '', host text NOT NULL DEFAULT '', pid bigint NOT NULL DEFAULT 0, PRIMARY KEY (db, role, run_id)); CREATE TABLE invoices (n int);")
        let other = try PGServers.b()
        defer { other.close() }
        other.metaBase = third
        #expect(try other.metaDatabaseName() == third + "__ferry_m")
        #expect(try other.comment(of: third) == nil)

        // Issue 14: the earlier release's shape exactly, but commented by its user (earlier
        // releases set no comment): the user's, its comment and rows as they were.
        for note in ["our own claims, do not touch", "ferry:meta-ish", " "] {
            let commented = PGServers.name("fc")
            try b.createTestDatabase(commented)
            defer { b.dropTestDatabase(commented); b.dropTestDatabase(commented + "__ferry_m") }
            try b.sql(commented, "CREATE TABLE claims (db text NOT NULL, role text NOT NULL, run_id text NOT NULL, claimed_at timestamptz NOT NULL DEFAULT now(), holder text NOT NULL DEFAULT '', host text NOT NULL DEFAULT '', pid bigint NOT NULL DEFAULT 0, PRIMARY KEY (db, role, run_id)); INSERT INTO claims (db, role, run_id) VALUES ('app', 'Importing', 'theirs');")
            try b.sql(commented, "COMMENT ON DATABASE \"\(commented)\" IS '\(note)'")
            let user = try PGServers.b()
            defer { user.close() }
            user.metaBase = commented
            #expect(try user.metaDatabaseName() == commented + "__ferry_m", "\(note)")
            try user.claim([DatabaseClaim(database: "app", role: .importing, runID: "run-y")])
            try user.release(runID: "run-y")
            try user.claim([DatabaseClaim(database: "other", role: .importing, runID: "run-z")])
            try user.release(runID: "run-z")
            #expect(try user.comment(of: commented) == note, "the user's comment stays")
            #expect(try user.rows(commented, "SELECT db, role, run_id FROM claims") == [["app", "Importing", "theirs"]], "the user's rows stay")
            #expect(try user.describe(fingerprinting: []).databases[commented] != nil, "listed as the user's")
        }
    }

    /// libpq's multi-line messages (DETAIL, HINT, the indented second line of a refused
    /// connection) reach Ferry's errors as one line, and a password echoed by the server (here
    /// as the name of a missing database, or in a pg_dump failure) is `***`.
    @Test func errorTextIsOneLineWithoutThePassword() throws {
        let password = try #require(ProcessInfo.processInfo.environment["FERRY_TEST_PG_PASSWORD"])
        func clean(_ error: FerryError?, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
            guard let error else { return }
            let text = "\(error) \(error.detail ?? "")"
            #expect(!text.contains(password), "\(text)", sourceLocation: sourceLocation)
            for part in error.diagnostics.flatMap({ [$0.message, $0.hint ?? ""] }) + [error.detail ?? ""] {
                #expect(!part.contains("\n") && !part.contains("\t") && !part.contains("  "), "\(part)", sourceLocation: sourceLocation)
            }
        }
        var spec = try PGServers.spec("FERRY_TEST_PG_A", name: "pg-a")
        let base = try #require(spec.url)
        // The password as the maintenance database's name: the server echoes it.
        spec.url = base.replacingOccurrences(of: "/postgres", with: "/" + password)
        clean(expectCode(.instanceNotFound) { _ = try PGServers.connect(spec) })
        // Percent-encoded password in the URL (and none by reference): still hidden.
        spec.url = base.replacingOccurrences(of: "://ferry@", with: "://ferry:\(password)@").replacingOccurrences(of: "/postgres", with: "/x" + password)
        spec.password = nil
        clean(expectCode(.instanceNotFound) { _ = try PGServers.connect(spec) })
        // Nothing listens: libpq's second line ("\n\tIs the server running...") joins the first.
        spec = try PGServers.spec("FERRY_TEST_PG_A", name: "pg-a")
        spec.url = base.replacingOccurrences(of: ":\(URLComponents(string: base)?.port ?? 0)/", with: ":1/")
        let refused = expectCode(.instanceNotFound) { _ = try PGServers.connect(spec) }
        clean(refused)
        #expect(refused?.diagnostics.first?.message.contains("Is the server running") == true, "\(String(describing: refused))")
        // Wrong password.
        let wrong = try PGServers.spec("FERRY_TEST_PG_A", name: "pg-a", password: "FERRY_TEST_PG_WRONG")
        setenv("FERRY_TEST_PG_WRONG", "not-" + password, 1)
        clean(expectCode(.wrongPassword) { _ = try PGServers.connect(wrong) })
        // A server error with DETAIL and HINT lines.
        let a = try PGServers.a()
        defer { a.close() }
        let db = PGServers.name("err")
        try a.createTestDatabase(db)
        defer { a.dropTestDatabase(db) }
        try a.sql(db, "CREATE TABLE p (id int PRIMARY KEY); CREATE TABLE c (p int REFERENCES p);")
        let c = try a.open(db, pinnedSearchPath: false)
        defer { c.close() }
        let failed = expectCode(.copyError) {
            try a.run(.copyError, "cannot load") { try c.execute("INSERT INTO c VALUES (7)") }
        }
        clean(failed)
        #expect(failed?.diagnostics.first?.message.contains("(detail: Key (p)=(7) is not present in table \"p\".)") == true, "\(String(describing: failed))")
        // pg_dump's stderr, with the password as the database it cannot find.
        let tools = PostgresTools(address: a.address, instanceName: "pg-a")
        clean(expectCode(.copyError) { try tools.run("pg_dump", ["--schema-only"], database: "db-" + password, code: .copyError) })
        // A statement that sets a password is not kept as the error's detail.
        let role = PGServers.name("r")
        let hashed = expectCode(.copyError) {
            try a.run(.copyError, "cannot alter") { try a.connection.execute("ALTER ROLE \(quoteIdent(role)) PASSWORD 'SCRAM-SHA-256$4096:abc'") }
        }
        #expect(hashed?.diagnostics.first.map { "\($0)" }?.contains("SCRAM") == false, "\(String(describing: hashed))")
    }

    /// Large objects are copied under their oids (empty, small, and bigger than one 1 MiB chunk;
    /// with NUL bytes), in the snapshot, and verified: count and a checksum of every object's
    /// bytes; a changed byte in the copy is a `VerifyFailed`; at `count` only the number.
    @Test func largeObjectsAreCopiedAndVerified() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("lo")
        try a.createTestDatabase(db)
        defer { a.dropTestDatabase(db); b.dropTestDatabase(db) }
        b.dropTestDatabase(db)
        try a.sql(db, """
            CREATE TABLE docs (id int PRIMARY KEY, body oid);
            INSERT INTO docs VALUES (1, lo_from_bytea(0, '')),
              (2, lo_from_bytea(0, '\\x00ff00'::bytea)),
              (3, lo_from_bytea(0, convert_to(repeat('chunk-', 400000), 'UTF8')));
            """)
        #expect(try a.rows(db, "SELECT count(*) FROM pg_largeobject_metadata") == [["3"]])
        try b.copyIn(from: a, database: db, as: db, runID: "run-lo-\(UUID().uuidString.prefix(6))")
        let digest = "SELECT string_agg(m.oid::text || ':' || md5(lo_get(m.oid)), ',' ORDER BY m.oid) FROM pg_largeobject_metadata m"
        #expect(try b.rows(db, digest) == a.rows(db, digest))
        #expect(try b.rows(db, "SELECT length(lo_get(body)) FROM docs ORDER BY id") == [["0"], ["3"], ["2400000"]])
        // The verify sees one changed byte, and a missing object.
        let shadow = try b.makeShadow(for: db + "_v", runID: "run-lv", like: db)
        defer { b.dropTestDatabase(shadow) }
        _ = try b.copyData(from: a, database: db, into: shadow, verifying: .checksum, progress: ProgressCounter())
        let oid = try #require(try b.rows(shadow, "SELECT body FROM docs WHERE id = 3").first?.first ?? nil)
        try b.sql(shadow, "SELECT lo_put(\(oid), 1000000, '\\x41'::bytea)")
        let changed = expectCode(.verifyFailed) { _ = try b.verify(shadow: shadow, against: a, database: db, level: .checksum) }
        #expect(changed?.diagnostics.first?.message.contains("pg_largeobject") == true, "\(String(describing: changed))")
        _ = try b.verify(shadow: shadow, against: a, database: db, level: .count)
        try b.sql(shadow, "SELECT lo_unlink(\(oid))")
        _ = expectCode(.verifyFailed) { _ = try b.verify(shadow: shadow, against: a, database: db, level: .count) }
    }


    /// The post-data section is cut into pg_dump's entries: indexes and primary/unique keys run
    /// on several connections, the rest (foreign keys, index attachments of partitions,
    /// triggers, comments, clustering) after them in order; the copy's catalog then equals the
    /// source's: every index definition, constraint, trigger and comment.
    @Test func postDataBuildsInParallelAndMatchesTheSource() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("pd")
        try a.createTestDatabase(db)
        defer { a.dropTestDatabase(db); b.dropTestDatabase(db) }
        b.dropTestDatabase(db)
        try a.sql(db, """
            CREATE TABLE big (id bigint PRIMARY KEY, code text UNIQUE, v int, w int);
            INSERT INTO big SELECT g, 'c' || g, g % 10, g % 7 FROM generate_series(1, 30000) g;
            CREATE INDEX big_v ON big (v, w) WHERE v > 2;
            CREATE INDEX "Odd ""Idx"" x" ON big USING hash (code);
            COMMENT ON INDEX big_v IS 'partial';
            CREATE TABLE child (id int PRIMARY KEY, big_id bigint REFERENCES big (id) ON DELETE CASCADE, EXCLUDE USING btree (id WITH =));
            INSERT INTO child SELECT g, g FROM generate_series(1, 500) g;
            CREATE TABLE parts (k int, at date, PRIMARY KEY (k, at)) PARTITION BY RANGE (at);
            CREATE TABLE parts_2026 PARTITION OF parts FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
            CREATE INDEX parts_at ON parts (at);
            INSERT INTO parts SELECT g, '2026-03-01'::date + (g % 200) FROM generate_series(1, 1000) g;
            CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
            CREATE TRIGGER child_touch BEFORE UPDATE ON child FOR EACH ROW EXECUTE FUNCTION touch();
            ALTER TABLE big CLUSTER ON big_pkey;
            """)
        let tools = PostgresTools(address: a.address, instanceName: "pg-a")
        let script = PostgresCopy.script(try tools.run("pg_dump", ["--section=post-data"], database: db, code: .copyError))
        var postData = PostgresPostData(script: script)
        #expect(postData.parallel.count == 10, "\(postData.parallel.map(\.sql))")   // 4 keys, unique, exclusion, big_v, odd, parts_at, its partition's index
        #expect(postData.serial.contains { $0.contains("FOREIGN KEY") } && postData.serial.contains { $0.contains("ATTACH PARTITION") }
                && postData.serial.contains { $0.contains("CREATE TRIGGER") } && postData.serial.contains { $0.contains("COMMENT ON INDEX") })
        #expect(!postData.parallel.contains { $0.sql.contains("FOREIGN KEY") || $0.sql.contains("ATTACH") })
        postData.orderBySize(["public.big": 100, "public.child": 10])
        #expect(PostgresPostData.table(of: postData.parallel[0].sql) == "public.big", "\(postData.parallel[0].sql)")
        #expect(postData.preamble.contains("search_path"))

        try b.copyIn(from: a, database: db, as: db, runID: "run-pd-\(UUID().uuidString.prefix(6))", options: CopyOptions(owner: "ferry_plain"))
        for query in ["SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2",
                      "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
                      "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1",
                      "SELECT obj_description('big_v'::regclass, 'pg_class')",
                      "SELECT indexrelid::regclass::text FROM pg_index WHERE indisclustered",
                      "SELECT count(*) FROM pg_index WHERE NOT indisvalid"] {
            #expect(try b.rows(db, query) == a.rows(db, query), "\(query)")
        }
        #expect(try b.rows(db, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'") == [["10"]])
    }


    /// Tables over the split size are copied in `ctid` page ranges by several workers at once
    /// (binary and text format alike), the parts' sums added up; the copy equals the source and
    /// passes the checksum verify, rows inserted and deleted (holes in the pages) included.
    @Test func bigTablesAreSplitIntoPageRanges() throws {
        let whole = PostgresCopy.TablePlan(table: PostgresTable(schema: "public", name: "t", bytes: 10 << 20), columns: ["a"], binary: true)
        let small = PostgresCopy.TablePlan(table: PostgresTable(schema: "public", name: "s", bytes: 1 << 20), columns: ["a"], binary: true)
        let parts = PostgresCopy.split([whole, small], workers: 2, blockSize: 8192, serverVersion: 150000, limit: 4 << 20)
        #expect(parts.count == 4 && parts[3].pages == nil, "three parts and the small table whole")
        #expect(parts[0].pages == .init(from: 0, to: 426) && parts[1].pages == .init(from: 426, to: 852) && parts[2].pages == .init(from: 852, to: nil))
        #expect(PostgresCopy.split([whole], workers: 1, blockSize: 8192, serverVersion: 150000, limit: 4 << 20).count == 1, "one worker: no split")
        #expect(PostgresCopy.split([whole], workers: 2, blockSize: 8192, serverVersion: 130000, limit: 4 << 20).count == 1, "no TID range scans before 14")
        #expect(PostgresCopy.split([whole], workers: 2, blockSize: 8192, serverVersion: 150000, limit: 0).count == 1)

        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("sp")
        try a.createTestDatabase(db)
        defer { a.dropTestDatabase(db); b.dropTestDatabase(db) }
        b.dropTestDatabase(db)
        try a.sql(db, """
            CREATE TYPE pair AS (x int, y text);
            CREATE TABLE big (id int PRIMARY KEY, body text, p pair, g int GENERATED ALWAYS AS (id * 2) STORED);
            INSERT INTO big SELECT g, repeat('b', 200 + g % 50), ROW(g, 'y' || g)::pair FROM generate_series(1, 20000) g;
            DELETE FROM big WHERE id % 7 = 0;
            INSERT INTO big SELECT g, 'late', NULL FROM generate_series(20001, 20500) g;
            CREATE TABLE plain (id int, v bytea);
            INSERT INTO plain SELECT g, decode(repeat('00ff', g % 100), 'hex') FROM generate_series(1, 20000) g;
            """)
        b.splitTablesLargerThan = 256 << 10
        for level in [VerifyLevel.checksum, .count] {
            b.dropTestDatabase(db)
            try b.copyIn(from: a, database: db, as: db, runID: "run-sp-\(UUID().uuidString.prefix(6))", level: level)
            #expect(b.extraCopyParts > 5, "big was split: \(b.extraCopyParts)")
            #expect(try b.contents(of: db) == a.contents(of: db))
            #expect(try b.rows(db, "SELECT count(*), sum(g) FROM big") == a.rows(db, "SELECT count(*), sum(g) FROM big"))
        }
    }


    /// Primary and unique keys of ordinary tables are built as unique indexes beside the table's
    /// other indexes, then attached; deferrable keys, keys of partitions, exclusion constraints
    /// and keys whose pg_dump header two objects could have written are built as pg_dump writes
    /// them; whatever the path, the copy's catalog equals the source's.
    @Test func keysAreBuiltAsUniqueIndexesThenAttached() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("uk")
        try a.createTestDatabase(db)
        defer { a.dropTestDatabase(db); b.dropTestDatabase(db) }
        b.dropTestDatabase(db)
        try a.sql(db, #"""
            CREATE SCHEMA "Odd ""Schema""";
            CREATE TABLE "Odd ""Schema"""."Odd Tbl" (id bigint, "My Col" text NOT NULL, v int, w int, d int,
              CONSTRAINT "Odd ""Pk""" PRIMARY KEY (id) WITH (fillfactor = 70),
              CONSTRAINT "My Key" UNIQUE NULLS NOT DISTINCT ("My Col"),
              CONSTRAINT inc_key UNIQUE (v) INCLUDE (w),
              CONSTRAINT late_key UNIQUE (d) DEFERRABLE INITIALLY DEFERRED);
            INSERT INTO "Odd ""Schema"""."Odd Tbl" SELECT g, 'c' || g, g, g % 5, g FROM generate_series(1, 40000) g;
            CREATE INDEX odd_w ON "Odd ""Schema"""."Odd Tbl" (w);
            CREATE TABLE "a b" (x int CONSTRAINT c UNIQUE);
            CREATE TABLE a (y int CONSTRAINT "b c" UNIQUE);
            INSERT INTO "a b" VALUES (1), (2); INSERT INTO a VALUES (3);
            CREATE TABLE child (id int PRIMARY KEY, odd bigint REFERENCES "Odd ""Schema"""."Odd Tbl" (id), EXCLUDE USING btree (id WITH =));
            INSERT INTO child SELECT g, g FROM generate_series(1, 300) g;
            CREATE TABLE parts (k int, at date, PRIMARY KEY (k, at)) PARTITION BY RANGE (at);
            CREATE TABLE parts_2026 PARTITION OF parts FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
            INSERT INTO parts SELECT g, '2026-03-01'::date + (g % 200) FROM generate_series(1, 1000) g;
            ALTER TABLE "Odd ""Schema"""."Odd Tbl" REPLICA IDENTITY USING INDEX "My Key";
            COMMENT ON CONSTRAINT inc_key ON "Odd ""Schema"""."Odd Tbl" IS 'kept';
            """#)
        let tools = PostgresTools(address: a.address, instanceName: "pg-a")
        let script = PostgresCopy.script(try tools.run("pg_dump", ["--section=post-data"], database: db, code: .copyError))
        let postData = PostgresPostData(script: script)
        let c = try a.open(db)
        let tables = try PostgresSums.tables(on: c)
        let schedule = try PostgresIndexSchedule(postData: postData, loading: Set(tables.map(\.label)), on: c)
        c.close()
        let odd = "Odd \"Schema\".Odd Tbl"
        #expect(schedule.attaches.count == 4, "\(schedule.attaches)")   // the odd table's pk, My Key, inc_key; child's pk
        #expect(schedule.attaches.contains { $0.contains("\"Odd \"\"Pk\"\"\" PRIMARY KEY USING INDEX") })
        #expect(schedule.attaches.contains { $0.contains("\"My Key\" UNIQUE USING INDEX \"My Key\";\nALTER TABLE ONLY") && $0.contains("REPLICA IDENTITY") },
                "what the key's entry holds after the key follows the attachment")
        #expect(!schedule.attaches.contains { $0.contains("late_key") || $0.contains("parts") || $0.contains("\"b c\"") || $0.contains(" c UNIQUE") })
        #expect(schedule.byTable[odd]?.count == 5, "\(schedule.byTable)")   // 3 unique indexes, the deferrable key, odd_w
        #expect(schedule.byTable[odd]?.filter { $0.hasPrefix("CREATE UNIQUE INDEX") }.count == 3)
        #expect(schedule.byTable["public.a b"] == nil && schedule.byTable["public.a"] == nil, "an ambiguous header stays in the section")
        let rest = schedule.remainder(of: postData)
        #expect(rest.parallel.count == postData.parallel.count - schedule.count)
        #expect(rest.serial.first?.contains("USING INDEX") == true)
        #expect(PostgresIndexSchedule.localPreamble(postData.preamble).contains("SET LOCAL row_security = off"))

        b.splitTablesLargerThan = 256 << 10
        try b.copyIn(from: a, database: db, as: db, runID: "run-uk-\(UUID().uuidString.prefix(6))")
        #expect(b.extraCopyParts > 0)
        for query in ["SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog') ORDER BY 1, 2, 3",
                      "SELECT conrelid::regclass::text, conname, contype, condeferrable, condeferred, conindid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace NOT IN ('pg_catalog'::regnamespace) AND contype <> 'n' ORDER BY 1, 2",
                      "SELECT indexrelid::regclass::text, indisprimary, indisunique, indimmediate, indisreplident, indnullsnotdistinct, indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace <> 'pg_catalog'::regnamespace AND c.relnamespace <> 'pg_toast'::regnamespace ORDER BY 1",
                      "SELECT c.oid::regclass::text, reloptions FROM pg_class c WHERE relkind = 'i' AND relnamespace <> 'pg_catalog'::regnamespace AND relnamespace <> 'pg_toast'::regnamespace ORDER BY 1",
                      "SELECT obj_description(oid, 'pg_constraint') FROM pg_constraint WHERE conname = 'inc_key'"] {
            #expect(try b.rows(db, query) == a.rows(db, query), "\(query)")
        }
        #expect(try b.contents(of: db) == a.contents(of: db))
    }

    /// A loading worker builds the indexes of a table as soon as the table's last part is loaded,
    /// before it takes the next table, in a transaction of its own that leaves the session's
    /// settings (pg_dump's preamble) as they were.
    @Test func indexBuildsRunAsSoonAsTheirTableIsLoaded() throws {
        let b = try PGServers.b()
        defer { b.close() }
        let db = PGServers.name("ib")
        try b.createTestDatabase(db)
        defer { b.dropTestDatabase(db) }
        try b.sql(db, "CREATE TABLE log (n serial, what text)")
        let writer = try b.open(db)
        defer { writer.close() }
        var schedule = PostgresIndexSchedule()
        schedule.preamble = PostgresIndexSchedule.localPreamble("SET row_security = off;\nSELECT pg_catalog.set_config('search_path', '', false);\nSET client_encoding = 'LATIN1';\n")
        schedule.byTable = ["public.t1": ["INSERT INTO public.log (what) SELECT 'index t1 ' || quote_literal(current_setting('search_path'));"],
                            "public.t2": ["INSERT INTO public.log (what) VALUES ('index t2');"]]
        func plan(_ name: String, _ part: Int64? = nil) -> PostgresCopy.TablePlan {
            PostgresCopy.TablePlan(table: PostgresTable(schema: "public", name: name, bytes: 1), columns: ["a"], binary: true,
                                   pages: part.map { PostgresCopy.PageRange(from: $0, to: nil) })
        }
        let queue = CopyQueue([plan("t2", 0), plan("t2", 1), plan("t1")], indexes: schedule)
        let searchPath = try writer.scalar("SHOW search_path"), rowSecurity = try writer.scalar("SHOW row_security")
        func log() throws -> [String] { try writer.query("SELECT what FROM public.log ORDER BY n").compactMap { $0[0] } }
        #expect(try queue.take(indexingOn: writer)?.table.name == "t2")
        #expect(try queue.take(indexingOn: writer)?.table.name == "t2")
        queue.done(.init(name: "public.t2", rows: 1, checksum: nil), bytes: 1)
        #expect(try queue.take(indexingOn: writer)?.table.name == "t1")
        #expect(try log() == [], "t2 has a part still loading")
        queue.done(.init(name: "public.t2", rows: 1, checksum: nil), bytes: 1)
        queue.done(.init(name: "public.t1", rows: 1, checksum: nil), bytes: 1)
        #expect(try queue.take(indexingOn: writer) == nil)
        #expect(try log() == ["index t2", "index t1 ''"], "pg_dump's search_path in the build")
        #expect(try writer.scalar("SHOW search_path") == searchPath && writer.scalar("SHOW row_security") == rowSecurity
                && writer.scalar("SHOW client_encoding") == "UTF8", "the loading session's settings are as they were")
        #expect(try queue.result().rows == 3)

        // A failing build stops the copy with the statement's error.
        var broken = PostgresIndexSchedule()
        broken.byTable = ["public.t1": ["CREATE INDEX ON public.missing (x);"]]
        let failing = CopyQueue([plan("t1"), plan("t3")], indexes: broken)
        _ = try failing.take(indexingOn: writer)
        failing.done(.init(name: "public.t1", rows: 1, checksum: nil), bytes: 1)
        _ = expectCode(.copyError) { _ = try failing.take(indexingOn: writer) }
        #expect(try writer.scalar("SELECT 1") == "1", "the session is usable again")
    }

    /// Big tables with a single-column integer primary key are cut into ranges of the key (any
    /// server version); the copy equals the source and passes the checksum verify, negative
    /// keys, gaps and keys near the ends of bigint included; others keep `ctid` ranges.
    @Test func bigTablesWithAnIntegerKeySplitByKeyRanges() throws {
        let key = PostgresCopy.IntegerKey(column: "id", min: -5, max: 94)
        let ranges = try #require(PostgresCopy.keyRanges(key, parts: 4))
        #expect(ranges.map(\.from) == [nil, 20, 45, 70] && ranges.map(\.to) == [20, 45, 70, nil])
        #expect(ranges[1].condition == "\"id\" >= 20 AND \"id\" < 45")
        #expect(PostgresCopy.keyRanges(.init(column: "id", min: Int64.min, max: Int64.max), parts: 4) == nil, "a span beyond 64 bits")
        #expect(PostgresCopy.keyRanges(.init(column: "id", min: 7, max: 8), parts: 4)?.count == 2)
        let whole = PostgresCopy.TablePlan(table: PostgresTable(schema: "public", name: "t", bytes: 10 << 20), columns: ["id"], binary: true)
        let byKey = PostgresCopy.split([whole], workers: 2, blockSize: 8192, serverVersion: 130000, limit: 4 << 20,
                                       keys: ["public.t": key])
        #expect(byKey.count == 3 && byKey.allSatisfy { $0.keys != nil && $0.pages == nil }, "a server before 14 splits by key")
        #expect(PostgresCopy.splitsByKey(serverVersion: 130000) && !PostgresCopy.splitsByKey(serverVersion: 150000))

        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("ks")
        try a.createTestDatabase(db)
        defer { a.dropTestDatabase(db); b.dropTestDatabase(db) }
        try a.sql(db, """
            CREATE TABLE "Keyed T" ("My Id" bigint PRIMARY KEY, body text);
            INSERT INTO "Keyed T" SELECT g * 37 - 400000, repeat('k', 100 + g % 90) FROM generate_series(1, 20000) g;
            INSERT INTO "Keyed T" VALUES (-9000000000000000000, 'bottom');
            CREATE TABLE wide (id bigint PRIMARY KEY, body text);
            INSERT INTO wide SELECT g, repeat('w', 200) FROM generate_series(1, 3000) g;
            INSERT INTO wide VALUES (9223372036854775807, 'top'), (-9223372036854775808, 'bottom');
            DELETE FROM "Keyed T" WHERE "My Id" % 11 = 0;
            CREATE TABLE small_key (id smallint PRIMARY KEY, body text);
            INSERT INTO small_key SELECT g, repeat('s', 300) FROM generate_series(-3000, 3000) g;
            CREATE TABLE two_keys (a int, b int, body text, PRIMARY KEY (a, b));
            INSERT INTO two_keys SELECT g, g, repeat('t', 200) FROM generate_series(1, 8000) g;
            """)
        b.splitTablesLargerThan = 256 << 10
        b.splitsByKey = true
        let c = try a.open(db)
        let plans = try PostgresSums.tables(on: c).map { PostgresCopy.TablePlan(table: $0, columns: ["x"], binary: true) }
        let keys = try PostgresCopy.integerKeys(of: plans, on: c)
        c.close()
        #expect(keys["public.Keyed T"] == .init(column: "My Id", min: -9000000000000000000, max: 340000), "\(keys)")
        #expect(keys["public.wide"].flatMap { PostgresCopy.keyRanges($0, parts: 4) } == nil, "wider than 64 bits: ctid ranges")
        #expect(keys["public.small_key"] == .init(column: "id", min: -3000, max: 3000) && keys["public.two_keys"] == nil)
        for level in [VerifyLevel.checksum, .count] {
            b.dropTestDatabase(db)
            try b.copyIn(from: a, database: db, as: db, runID: "run-ks-\(UUID().uuidString.prefix(6))", level: level)
            #expect(b.extraCopyParts > 3, "split: \(b.extraCopyParts)")
            #expect(try b.contents(of: db) == a.contents(of: db))
        }
    }
}
