import FerryCore
import FerryIO
@testable import FerryMySQL
import Foundation
import Testing

/// The two test servers written by `scripts/mysql-servers.sh` (run through `scripts/test.sh`).
enum Servers {
    static func spec(_ variable: String, name: String, maxConnections: Int? = nil) throws -> InstanceSpec {
        let env = ProcessInfo.processInfo.environment
        let url = try #require(env[variable], "\(variable) is not set: run the tests through scripts/test.sh (it starts scripts/mysql-servers.sh)")
        _ = try #require(env["FERRY_TEST_MYSQL_PASSWORD"], "FERRY_TEST_MYSQL_PASSWORD is not set: run scripts/test.sh")
        return InstanceSpec(name: name, engine: .mysql, url: url, password: .env("FERRY_TEST_MYSQL_PASSWORD"),
                            maxConnections: maxConnections)
    }

    static func connect(_ variable: String, name: String) throws -> MySQLSession {
        let spec = try spec(variable, name: name)
        let registry = EngineRegistry([MySQLEngine()])
        return try #require(try registry.connect(spec) as? MySQLSession)
    }

    static func a() throws -> MySQLSession { try connect("FERRY_TEST_MYSQL_A", name: "mysql-a") }
    static func b() throws -> MySQLSession { try connect("FERRY_TEST_MYSQL_B", name: "mysql-b") }
}

extension MySQLSession {
    /// Runs statements (test setup).
    func sql(_ statements: String...) throws {
        for s in statements { try connection.execute(s) }
    }

    /// Every table's rows, ordered, as text: what a user would see.
    func contents(of database: String) throws -> [String: [[String?]]] {
        var result: [String: [[String?]]] = [:]
        for table in try userTables(database) {
            result[table] = try connection.query("SELECT * FROM \(qualified(database, table)) ORDER BY 1")
        }
        return result
    }

    func fingerprintNow(_ database: String) throws -> String? {
        try describe().databases[database]?.fingerprint
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

extension MySQLSession {
    /// Drops a database the tests use as a user's (Ferry's own `drop` only drops databases it made).
    func dropTestDatabase(_ name: String) throws {
        try connection.execute("DROP DATABASE IF EXISTS \(quoteName(name))")
    }
}
