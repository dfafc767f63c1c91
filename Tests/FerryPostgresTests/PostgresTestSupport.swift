import FerryCore
import FerryIO
@testable import FerryPostgres
import Foundation
import Testing

/// The two test clusters written by `scripts/postgres-servers.sh` (run through `scripts/test.sh`).
/// A missing server is a failure, never a skip.
enum PGServers {
    static func spec(_ variable: String, name: String, user: String? = nil, password: String = "FERRY_TEST_PG_PASSWORD",
                     terminateSessions: Bool? = nil) throws -> InstanceSpec {
        let env = ProcessInfo.processInfo.environment
        var url = try #require(env[variable], "\(variable) is not set: run the tests through scripts/test.sh (it starts scripts/postgres-servers.sh)")
        _ = try #require(env["FERRY_TEST_PG_PASSWORD"], "FERRY_TEST_PG_PASSWORD is not set: run scripts/test.sh")
        if let user { url = url.replacingOccurrences(of: "://ferry@", with: "://\(user)@") }
        return InstanceSpec(name: name, engine: .postgres, url: url, password: .env(password), terminateSessions: terminateSessions)
    }

    static func connect(_ spec: InstanceSpec) throws -> PostgresSession {
        try #require(try EngineRegistry([PostgresEngine()]).connect(spec) as? PostgresSession)
    }

    static func a(terminateSessions: Bool? = nil) throws -> PostgresSession {
        try connect(spec("FERRY_TEST_PG_A", name: "pg-a", terminateSessions: terminateSessions))
    }
    static func b(terminateSessions: Bool? = nil) throws -> PostgresSession {
        try connect(spec("FERRY_TEST_PG_B", name: "pg-b", terminateSessions: terminateSessions))
    }

    /// A fresh database name for one test (lowercase, unique).
    static func name(_ prefix: String) -> String { prefix + "_" + UUID().uuidString.prefix(8).lowercased() }
}

extension PostgresSession {
    /// Runs statements in `database` (test setup).
    func sql(_ database: String, _ statements: String) throws {
        let c = try open(database, pinnedSearchPath: false)
        defer { c.close() }
        try c.execute(statements)
    }

    func rows(_ database: String, _ query: String) throws -> [[String?]] {
        let c = try open(database, pinnedSearchPath: false)
        defer { c.close() }
        return try c.query(query)
    }

    /// Creates a user's database (dropping one of that name left by an earlier run of the test).
    func createTestDatabase(_ name: String) throws {
        try connection.execute("DROP DATABASE IF EXISTS \(quoteIdent(name)) WITH (FORCE)")
        try connection.execute("CREATE DATABASE \(quoteIdent(name))")
    }

    func dropTestDatabase(_ name: String) {
        try? connection.execute("DROP DATABASE IF EXISTS \(quoteIdent(name)) WITH (FORCE)")
    }

    /// Every table's rows as text, sorted, by `schema.table`: what a user would see.
    func contents(of database: String) throws -> [String: [String]] {
        let c = try open(database)
        defer { c.close() }
        var out: [String: [String]] = [:]
        for table in try PostgresSums.tables(on: c) {
            out[table.label] = try c.query("SELECT ROW(t.*)::text FROM ONLY \(table.qualified) t").map { $0[0] ?? "NULL" }.sorted()
        }
        return out
    }

    /// Runs the copy the way the applier does: shadow, copy, verify, swap.
    @discardableResult
    func copyIn(from source: PostgresSession, database: String, as targetName: String, runID: String,
                level: VerifyLevel = .checksum, options: CopyOptions = CopyOptions()) throws -> SwapRecord {
        let shadow = try makeShadow(for: targetName, runID: runID, like: targetName)
        // Verified against the sums the copy took in its snapshot, as a run verifies.
        let built = try copyData(from: source, database: database, into: shadow, verifying: level, options: options, progress: ProgressCounter())
        _ = try verify(shadow: shadow, against: source, database: database, level: level, receipt: built.receipt)
        let existed = try databaseExists(targetName)
        let record = SwapRecord(database: targetName, shadow: shadow, checkpoint: existed ? checkpointName(for: targetName, runID: runID) : nil,
                                targetExisted: existed)
        return try swap(record)
    }
}

func expectCode(_ code: ErrorCode, _ body: () throws -> Void, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> FerryError? {
    do {
        try body()
        Issue.record("expected \(code.rawValue), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as FerryError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected FerryError \(code.rawValue), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
