import FerryCore
@testable import FerryPostgres
import Foundation
import Testing

/// A copy's snapshot sums are taken from the COPY stream as it passes (`PostgresCopyDigest`):
/// the row count always, the checksum of whole rows in binary format; the verify takes the same
/// of the shadow. So the source is read once, and the verify still catches every changed row.
@Suite struct PostgresStreamSumsTests {
    /// What a real server streams: binary tuples of every kind of value (NULLs, a table with no
    /// columns, an empty table) and text lines with newlines inside values. Fed whole, byte by
    /// byte or in odd pieces, the digest counts what `count(*)` counts and sums alike; a stream
    /// cut short or with bytes after its trailer is an error.
    @Test func theDigestReadsWhatTheServerStreams() throws {
        let a = try PGServers.a()
        defer { a.close() }
        let db = PGServers.name("dg")
        try a.createTestDatabase(db)
        defer { a.dropTestDatabase(db) }
        try a.sql(db, """
            CREATE TYPE mood AS ENUM ('calm', 'cross');
            CREATE TABLE t (id int, v text, n numeric, j jsonb, b bytea, m mood, a int[], r int4range, at timestamptz);
            INSERT INTO t SELECT g, CASE WHEN g % 5 = 0 THEN NULL ELSE E'line\\nnext\\t' || repeat('x', g % 300) END, g / 7.0,
                                 jsonb_build_object('g', g), decode(repeat('00ff', g % 40), 'hex'), 'calm', ARRAY[g, NULL, 3],
                                 int4range(g, g + 10), '2026-01-01'::timestamptz + g * interval '1 minute'
              FROM generate_series(1, 700) g;
            INSERT INTO t (id) VALUES (NULL);
            CREATE TABLE nothing ();
            INSERT INTO nothing SELECT FROM generate_series(1, 5);
            CREATE TABLE empty (x int);
            """)
        let c = try a.open(db)
        defer { c.close() }
        func stream(_ sql: String) throws -> [[UInt8]] {
            var chunks: [[UInt8]] = []
            try c.copyOut(sql) { chunks.append(Array($0)) }
            return chunks
        }
        func digest(_ pieces: [[UInt8]], binary: Bool) throws -> PostgresCopyDigest {
            var d = PostgresCopyDigest(binary: binary, hashing: true)
            for piece in pieces { try piece.withUnsafeBytes { try d.feed($0) } }
            try d.finish()
            return d
        }
        for (table, rows) in [("t", 701), ("nothing", 5), ("empty", 0)] {
            let chunks = try stream("COPY public.\(table) TO STDOUT WITH (FORMAT binary)")
            let whole = try digest(chunks, binary: true)
            let counted = Int64(try c.scalar("SELECT count(*) FROM public.\(table)") ?? "")
            #expect(whole.rows == Int64(rows) && whole.rows == counted, "\(table)")
            let bytes = chunks.flatMap { $0 }
            let single = try digest(bytes.map { [$0] }, binary: true)
            let odd = try digest(stride(from: 0, to: bytes.count, by: 7).map { Array(bytes[$0..<min($0 + 7, bytes.count)]) }, binary: true)
            #expect(single.rows == whole.rows && single.checksum == whole.checksum && odd.checksum == whole.checksum, "\(table)")
            let text = try digest(try stream("COPY public.\(table) TO STDOUT"), binary: false)
            #expect(text.rows == whole.rows, "text lines of \(table)")
            #expect(throws: FerryError.self, "cut short") { _ = try digest([Array(bytes.dropLast(1))], binary: true) }
            #expect(throws: FerryError.self, "bytes after the trailer") { _ = try digest([bytes + [0]], binary: true) }
        }
        // Rows that differ in one value, or that swap two values, sum differently; the sum does
        // not depend on the order of the rows.
        let one = try digest(try stream("COPY (SELECT 1, 2 UNION ALL SELECT 3, 4) TO STDOUT WITH (FORMAT binary)"), binary: true)
        let reordered = try digest(try stream("COPY (SELECT 3, 4 UNION ALL SELECT 1, 2) TO STDOUT WITH (FORMAT binary)"), binary: true)
        let swapped = try digest(try stream("COPY (SELECT 2, 1 UNION ALL SELECT 3, 4) TO STDOUT WITH (FORMAT binary)"), binary: true)
        let moved = try digest(try stream("COPY (SELECT 1, 4 UNION ALL SELECT 3, 2) TO STDOUT WITH (FORMAT binary)"), binary: true)
        #expect(one.checksum == reordered.checksum)
        #expect(Set([one.checksum, swapped.checksum, moved.checksum]).count == 3)
    }

    /// The copy's receipt holds stream checksums (`b`) for whole-row binary tables and the
    /// server's for the rest (a generated column, a composite); split tables add their parts'.
    /// The verify with that receipt passes, then fails for each kind of change in the shadow.
    @Test func theVerifyOfStreamSumsCatchesEveryChangedRow() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let db = PGServers.name("ss")
        try a.createTestDatabase(db)
        defer { a.dropTestDatabase(db) }
        try a.sql(db, """
            CREATE TYPE pair AS (x int, y text);
            CREATE TABLE plain (id int PRIMARY KEY, a int, b int, v text, n numeric, j jsonb, z bytea);
            INSERT INTO plain SELECT g, g, g + 1, 'v' || g || repeat('p', g % 400), g / 3.0, jsonb_build_object('g', g), '\\x00ff'
              FROM generate_series(1, 3000) g;
            CREATE TABLE made (id int, g int GENERATED ALWAYS AS (id * 2) STORED);
            INSERT INTO made SELECT g FROM generate_series(1, 100) g;
            CREATE TABLE composite (id int, p pair);
            INSERT INTO composite SELECT g, ROW(g, 'y')::pair FROM generate_series(1, 100) g;
            """)
        b.splitTablesLargerThan = 128 << 10
        defer { b.splitTablesLargerThan = nil }
        for level in [VerifyLevel.checksum, .count] {
            let changes = level == .checksum
                ? ["UPDATE plain SET a = b, b = a WHERE id = 10", "UPDATE plain SET n = n + 0.0001 WHERE id = 2999",
                   "UPDATE plain SET v = NULL WHERE id = 5", "UPDATE plain SET j = '{\"g\": 0}' WHERE id = 1500",
                   "UPDATE plain SET z = '\\x00fe' WHERE id = 77", "DELETE FROM plain WHERE id = 3",
                   "UPDATE made SET id = 1000 WHERE id = 1", "UPDATE composite SET p = ROW(1, 'z')::pair WHERE id = 4"]
                : ["DELETE FROM plain WHERE id = 3", "INSERT INTO made (id) VALUES (7)"]
            for change in changes {
                let run = "s" + UUID().uuidString.prefix(8).lowercased()
                let shadow = try b.makeShadow(for: db, runID: run)
                defer { _ = try? b.removeLeftovers(ofRun: run, database: db) }
                let built = try b.copyData(from: a, database: db, into: shadow, verifying: level, progress: ProgressCounter())
                #expect(b.extraCopyParts > 0, "plain was split")
                let kinds = Dictionary(uniqueKeysWithValues: (built.receipt.tables ?? []).map { ($0.name, $0.checksum?.first) })
                if level == .checksum {
                    #expect(kinds["public.plain"] == "b" && kinds["public.made"] == "r" && kinds["public.composite"] == "t", "\(kinds)")
                } else {
                    // At `count` only the table streamed in binary whole carries its stream's sum
                    // (the content token's, never compared by the count verify); split, its parts'
                    // sums are added.
                    #expect(kinds["public.plain"] == "b" && kinds["public.made"] == .some(nil) && kinds["public.composite"] == .some(nil), "\(kinds)")
                }
                let counts = Dictionary(uniqueKeysWithValues: (built.receipt.tables ?? []).map { ($0.name, $0.rows) })
                #expect(counts["public.plain"] == 3000 && counts["public.made"] == 100, "\(counts)")
                let report = try b.verify(shadow: shadow, against: a, database: db, level: level, receipt: built.receipt)
                let token = try b.contentToken(of: shadow)
                #expect(report.contentToken == token, "the split table's summed stream sums are the shadow's token sums (\(level))")
                try b.sql(shadow, change)
                _ = expectCode(.verifyFailed) { _ = try b.verify(shadow: shadow, against: a, database: db, level: level, receipt: built.receipt) }
            }
        }
    }

    /// Each table's load checks the rows the server says `COPY FROM` wrote (its `COPY n` tag)
    /// against the rows the source's stream carried: a shadow table that silently drops rows (a
    /// trigger returning NULL, standing in for any load that loses rows) or that has a part loaded
    /// twice fails the copy there, naming the table and the part, and nothing is committed.
    @Test(arguments: [false, true])
    func aLoadThatWritesOtherRowsThanTheStreamCarriedFails(asAPart: Bool) throws {
        let a = try PGServers.a()
        defer { a.close() }
        let source = PGServers.name("cs"), target = PGServers.name("ct")
        try a.createTestDatabase(source)
        try a.createTestDatabase(target)
        defer { a.dropTestDatabase(source); a.dropTestDatabase(target) }
        try a.sql(source, "CREATE TABLE t (id int, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 50) g;")
        try a.sql(target, """
            CREATE TABLE t (id int, v text);
            CREATE FUNCTION skip_even() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.id % 2 = 0 THEN RETURN NULL; END IF; RETURN NEW; END $$;
            CREATE TRIGGER skip BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION skip_even();
            """)
        let reader = try a.open(source), writer = try a.open(target)
        defer { reader.close(); writer.close() }
        var plan = PostgresCopy.TablePlan(table: PostgresTable(schema: "public", name: "t", bytes: 0), columns: ["id", "v"], binary: true)
        if asAPart { plan.pages = PostgresCopy.PageRange(from: 0, to: nil) }
        var digest = PostgresCopyDigest(binary: true, hashing: false)
        let failure = expectCode(.copyError) {
            _ = try PostgresCopy.copyTable(plan, from: reader, to: writer, digest: &digest, progress: ProgressCounter())
        }
        #expect(failure?.message.contains("wrote 25 rows; the source's stream carried 50") == true, "\(failure?.description ?? "")")
        #expect(!asAPart || failure?.message.contains("(the part ctid >= '(0,0)'::tid)") == true, "\(failure?.description ?? "")")
        #expect(try a.rows(target, "SELECT count(*) FROM t") == [["0"]], "nothing committed")
        #expect(!writer.inTransaction, "the load's transaction is rolled back")
        // Without the trigger the same load goes through.
        try a.sql(target, "DROP TRIGGER skip ON t")
        var again = PostgresCopyDigest(binary: true, hashing: false)
        _ = try PostgresCopy.copyTable(plan, from: reader, to: writer, digest: &again, progress: ProgressCounter())
        #expect(try a.rows(target, "SELECT count(*) FROM t") == [["50"]])
    }

    /// A table or part reported loaded more often than the copy planned it stops the copy.
    @Test func aPartLoadedTwiceStopsTheCopy() throws {
        let table = PostgresTable(schema: "public", name: "t", bytes: 0)
        let plans = [PostgresCopy.TablePlan(table: table, columns: ["id"], binary: true, pages: PostgresCopy.PageRange(from: 0, to: 10)),
                     PostgresCopy.TablePlan(table: table, columns: ["id"], binary: true, pages: PostgresCopy.PageRange(from: 10, to: nil))]
        let queue = CopyQueue(plans)
        for _ in plans { _ = queue.take() }
        queue.done(.init(name: table.label, rows: 1, checksum: nil), bytes: 1)
        queue.done(.init(name: table.label, rows: 1, checksum: nil), bytes: 1)
        #expect(throws: Never.self) { _ = try queue.result() }
        queue.done(.init(name: table.label, rows: 1, checksum: nil), bytes: 1)
        _ = expectCode(.copyError) { _ = try queue.result() }
    }

    /// A `COMMIT` the server answers with `ROLLBACK` (a statement of its transaction had failed
    /// and the failure went unseen) is an error, as `COMMIT` or `END`; a `COMMIT` of a
    /// transaction that went well, and a `ROLLBACK` asked for, are not.
    @Test func aCommitTheServerTurnedIntoARollbackIsAnError() throws {
        let a = try PGServers.a()
        defer { a.close() }
        let c = try a.open("postgres")
        defer { c.close() }
        try c.execute("BEGIN")
        #expect(throws: PostgresServerError.self) { try c.execute("SELECT * FROM no_such_table_here") }
        #expect(throws: PostgresServerError.self) { try c.execute("COMMIT") }
        #expect(!c.inTransaction)
        try c.execute("BEGIN")
        _ = try? c.execute("SELECT 1/0")
        #expect(throws: PostgresServerError.self) { try c.execute("END") }
        #expect(!c.inTransaction)
        try c.execute("BEGIN; SELECT 1; COMMIT")
        try c.execute("BEGIN; ROLLBACK")
        try c.execute("CREATE TEMP TABLE f_end_test (x int); DO $$ BEGIN PERFORM 1; END $$")
        #expect(PostgresConnection.endsWithCommit("BEGIN;\nCREATE INDEX i ON t (x);\nCOMMIT") && PostgresConnection.endsWithCommit("end"))
        #expect(!PostgresConnection.endsWithCommit("BEGIN; SELECT 1") && !PostgresConnection.endsWithCommit("ROLLBACK"))
    }
}
