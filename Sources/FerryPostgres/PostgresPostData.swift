import FerryCore
import Foundation

/// pg_dump's post-data section (plain format) cut into its entries, so that indexes and
/// constraints can be built on several connections at once, as pgcopydb does:
///
/// - the preamble (the `SET` / `set_config` lines before the first entry) runs on every
///   connection;
/// - entries of type `INDEX` and `CONSTRAINT` (primary keys, unique and exclusion constraints:
///   each statement locks one table, so they only wait on each other, never deadlock) run in
///   parallel, biggest table first (the order the caller gives);
/// - every other entry (`FK CONSTRAINT`, `INDEX ATTACH`, `TRIGGER`, `RULE`, `POLICY`,
///   comments, ...) runs after them, in pg_dump's order, on one connection.
///
/// Entries are found by pg_dump's header comments (`-- Name: ...; Type: ...; Schema: ...`),
/// which it writes before each; a header cannot occur inside a statement because pg_dump
/// writes them at line starts between entries and a name holding a line break is printed with
/// it escaped in the header.
struct PostgresPostData {
    var preamble: String
    /// The index and key entries: pg_dump's type, its header's name (`index` for an index,
    /// `table constraint` for a constraint) and schema, and the SQL.
    var parallel: [(type: String, name: String, schema: String, sql: String)]
    var serial: [String]

    static let parallelTypes: Set<String> = ["INDEX", "CONSTRAINT"]

    init(script: String) {
        var preamble = "", parallel: [(String, String, String, String)] = [], serial: [String] = []
        var current: (type: String, name: String, schema: String, lines: [String])?
        func flush() {
            guard let entry = current else { return }
            let sql = entry.lines.joined(separator: "\n")
            if Self.parallelTypes.contains(entry.type) { parallel.append((entry.type, entry.name, entry.schema, sql)) } else { serial.append(sql) }
            current = nil
        }
        let lines = script.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var i = 0
        while i < lines.count {
            let line = lines[i]
            // A header: "--" / "-- Name: X; Type: T; Schema: S; Owner: O" / "--".
            if line == "--", i + 2 < lines.count, lines[i + 1].hasPrefix("-- Name: "), lines[i + 2] == "--",
               let typeRange = lines[i + 1].range(of: "; Type: ") {
                flush()
                let rest = lines[i + 1][typeRange.upperBound...]
                let type = String(rest.prefix { $0 != ";" })
                let name = String(lines[i + 1][lines[i + 1].index(lines[i + 1].startIndex, offsetBy: 9)..<typeRange.lowerBound])
                let schema = rest.range(of: "; Schema: ").map { String(rest[$0.upperBound...].prefix { $0 != ";" }) } ?? ""
                current = (type, name, schema, [])
                i += 3
                continue
            }
            if current != nil { current!.lines.append(line) } else { preamble += line + "\n" }
            i += 1
        }
        flush()
        self.preamble = preamble
        self.parallel = parallel
        self.serial = serial
    }

    /// The table a parallel entry builds on, as `schema.name` without quotes (pg_dump's
    /// `CREATE [UNIQUE] INDEX x ON [ONLY] s.t ...` / `ALTER TABLE [ONLY] s.t ADD CONSTRAINT ...`);
    /// only for ordering.
    static func table(of sql: String) -> String? {
        for marker in [" ON ONLY ", " ON ", "ALTER TABLE ONLY ", "ALTER TABLE "] {
            if let range = sql.range(of: marker) {
                return String(sql[range.upperBound...].prefix { $0 != " " && $0 != "\n" }).replacingOccurrences(of: "\"", with: "")
            }
        }
        return nil
    }

    /// The parallel entries, those on the biggest tables (`sizes` by `schema.name`) first.
    mutating func orderBySize(_ sizes: [String: Int64]) {
        parallel = parallel.enumerated().sorted { x, y in
            let a = Self.table(of: x.element.sql).flatMap { sizes[$0] } ?? 0, b = Self.table(of: y.element.sql).flatMap { sizes[$0] } ?? 0
            return a != b ? a > b : x.offset < y.offset
        }.map(\.element)
    }

    /// Runs the section into the database `open` connects to: the parallel entries on up to
    /// `workers` connections, then the rest on one. The first failure stops every worker and is
    /// thrown (a `PostgresServerError` from the failing statement).
    func run(workers: Int, open: @escaping @Sendable () throws -> PostgresConnection, progress: ProgressCounter) throws {
        let jobs = JobQueue(parallel.map(\.sql))
        let preamble = self.preamble
        let counter = PostgresBox(progress)
        // One job per connection; a failure is kept in the queue (the first one) and stops the others.
        try WorkerPool.shared.forEach(max(1, min(workers, parallel.count))) { _ in
            do {
                let c = try open()
                defer { c.close() }
                try c.execute(preamble)
                while let sql = jobs.take() {
                    try counter.value.checkCancelled()
                    try c.execute(sql)
                }
            } catch {
                jobs.fail(error)
            }
        }
        try jobs.check()
        guard !serial.isEmpty else { return }
        let c = try open()
        defer { c.close() }
        try c.execute(preamble + serial.joined(separator: "\n"))
    }
}

/// Statements still to run and the first failure; every access holds `lock`.
final class JobQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var jobs: [String]
    private var next = 0
    private var error: Error?

    init(_ jobs: [String]) { self.jobs = jobs }

    func take() -> String? {
        lock.lock(); defer { lock.unlock() }
        guard error == nil, next < jobs.count else { return nil }
        next += 1
        return jobs[next - 1]
    }

    func fail(_ e: Error) { lock.lock(); if error == nil { error = e }; lock.unlock() }

    func check() throws {
        lock.lock(); defer { lock.unlock() }
        if let error { throw error }
    }
}
