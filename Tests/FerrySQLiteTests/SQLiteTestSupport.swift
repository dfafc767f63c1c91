import CSQLite
import FerryCore
import Foundation
@testable import FerrySQLite

/// A fresh temporary directory per test, removed when the value goes away.
final class TemporaryDirectory {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-sqlite-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func sub(_ name: String) -> String { path + "/" + name }
}

/// Opens an SQLite instance at `directory` the way the core does.
func session(_ directory: String, name: String = "test") throws -> SQLiteSession {
    let spec = InstanceSpec(name: name, engine: .sqlite, path: directory)
    return try SQLiteEngine().connect(ConnectionTarget(instance: spec, password: nil)) as! SQLiteSession
}

/// Runs SQL on a database file (created if missing).
func sql(_ file: String, _ text: String) throws {
    try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    let connection = try SQLiteConnection(path: file, create: true)
    try connection.execute(text)
}

/// Every row of every table, as text, for comparing two databases.
func dump(_ file: String) throws -> [String: [String]] {
    let connection = try SQLiteConnection(path: file, readOnly: true)
    var out: [String: [String]] = [:]
    for table in try connection.userTables() {
        let hasRowid = (try? connection.prepare("SELECT rowid FROM \(quoteIdentifier(table))")) != nil
        let statement = try connection.prepare(hasRowid ? "SELECT rowid, * FROM \(quoteIdentifier(table)) ORDER BY rowid"
                                                        : "SELECT * FROM \(quoteIdentifier(table)) ORDER BY 1")
        var rows: [String] = []
        while try statement.step() {
            rows.append((0..<statement.columnCount).map { column in
                "\(sqlite3_column_type(statement.handle, column)):\(statement.text(column) ?? "NULL")"
            }.joined(separator: "|"))
        }
        out[table] = rows
    }
    return out
}

func fileBytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

/// A small database with a few tables, some awkward values, an index and a trigger.
func makeSampleDatabase(_ file: String, rows: Int = 500) throws {
    try sql(file, """
        CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT, score REAL, photo BLOB);
        CREATE TABLE "odd ""table"" name"(k TEXT PRIMARY KEY, v) WITHOUT ROWID;
        CREATE TABLE log(msg TEXT);
        CREATE INDEX people_name ON people(name);
        CREATE TRIGGER people_log AFTER INSERT ON people BEGIN INSERT INTO log VALUES ('added ' || new.name); END;
        WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < \(rows))
        INSERT INTO people SELECT x, 'person ' || x, x / 3.0, randomblob(x % 50) FROM c;
        INSERT INTO "odd ""table"" name" VALUES ('it''s', NULL), ('b', 2.5), ('c', x'00ff');
        """)
}
