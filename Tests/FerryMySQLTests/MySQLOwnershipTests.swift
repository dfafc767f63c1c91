import FerryCore
import FerryIO
@testable import FerryMySQL
import Foundation
import Testing

/// Ferry's bookkeeping tables carry their run's tag and live only in Ferry's own schemas, so user
/// tables of any name (the old fixed names included) are copied, imported, swapped and verified
/// like any other. Part of the serialized engine suite.
extension MySQLEngineTests {
    static let ferryLikeTables = ["__ferry_events", "__ferry_objects", "__ferry_swap_marker", "__ferry_source_sums", "__ferry_anything"]

    func createFerryLikeTables(_ session: MySQLSession, in database: String, rows: Int) throws {
        for (i, table) in Self.ferryLikeTables.enumerated() {
            try session.sql("CREATE TABLE \(qualified(database, table)) (id INT PRIMARY KEY, note VARCHAR(20))")
            for r in 0..<(rows + i) { try session.sql("INSERT INTO \(qualified(database, table)) VALUES (\(r), 'user \(table)')") }
        }
        // An enabled event makes a copy keep its status in Ferry's own events table.
        try session.sql("CREATE EVENT \(qualified(database, "nightly")) ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DO DELETE FROM \(qualified(database, "__ferry_events")) WHERE id < 0")
    }

    @Test func userTablesNamedLikeFerrysOwnAreCopiedSwappedAndRestoredExactly() throws {
        let a = try Servers.a(), b = try Servers.b()
        defer { a.close(); b.close() }
        let source = "ferry_t_ownsrc", dest = "ferry_t_owndst"
        try a.sql("DROP DATABASE IF EXISTS \(quoteName(source))", "CREATE DATABASE \(quoteName(source))")
        try createFerryLikeTables(a, in: source, rows: 2)
        try b.sql("DROP DATABASE IF EXISTS \(quoteName(dest))", "CREATE DATABASE \(quoteName(dest))")
        try createFerryLikeTables(b, in: dest, rows: 5)
        let before = try b.contents(of: dest)
        #expect(Set(before.keys) == Set(Self.ferryLikeTables))
        let expected = try a.contents(of: source)
        for (level, run) in [(VerifyLevel.checksum, "run-own-1"), (.count, "run-own-2")] {
            let shadow = try b.makeShadow(for: dest, runID: run)
            let built = try b.copyData(from: a, database: source, into: shadow, verifying: level, progress: ProgressCounter())
            try b.finish(shadow: shadow, receipt: built.receipt, progress: ProgressCounter())
            let report = try b.verify(shadow: shadow, against: a, database: source, level: level)
            #expect(Set(report.tables.map(\.name)) == Set(Self.ferryLikeTables))
            let record = SwapRecord(database: dest, shadow: shadow, checkpoint: b.checkpointName(for: dest, runID: run), targetExisted: true)
            _ = try b.swap(record)
            #expect(try b.contents(of: dest) == expected)
            try b.undoSwap(record)
            #expect(try b.contents(of: dest) == before)
            try b.drop(shadow)
        }
        try b.dropTestDatabase(dest)
        try a.dropTestDatabase(source)
    }

    @Test func anImportKeepsUserTablesNamedLikeFerrysOwn() throws {
        let b = try Servers.b()
        defer { b.close() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-mysql-own-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let dump = dir.appendingPathComponent("dump.sql")
        var text = ""
        for table in Self.ferryLikeTables {
            text += "CREATE TABLE `\(table)` (id INT PRIMARY KEY, note VARCHAR(20));\nINSERT INTO `\(table)` VALUES (1, 'a'), (2, 'b');\n"
        }
        text += "CREATE EVENT `tick` ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DO DELETE FROM `__ferry_events` WHERE id < 0;\n"
        try text.write(to: dump, atomically: true, encoding: .utf8)
        let dest = "ferry_t_ownimp"
        try b.sql("DROP DATABASE IF EXISTS \(quoteName(dest))")
        let shadow = try b.makeShadow(for: dest, runID: "run-own-imp")
        _ = try b.importData(into: shadow, from: [.file(dump.path)], format: .sql, progress: ProgressCounter())
        let report = try b.verify(shadow: shadow, against: nil, database: nil, level: .count)
        #expect(Set(report.tables.map(\.name)) == Set(Self.ferryLikeTables))
        let record = SwapRecord(database: dest, shadow: shadow, checkpoint: nil, targetExisted: false)
        _ = try b.swap(record)
        let contents = try b.contents(of: dest)
        #expect(Set(contents.keys) == Set(Self.ferryLikeTables))
        for table in Self.ferryLikeTables { #expect(contents[table]?.count == 2, "\(table)") }
        // The event is there, with the status it had in the file, not left disabled by the shadow.
        #expect(try b.connection.scalar("SELECT STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = \(b.connection.literal(dest)) AND EVENT_NAME = 'tick'") == "ENABLED")
        try b.drop(shadow)
        try b.dropTestDatabase(dest)
    }

    @Test func ferrysTableNamesCarryTheRunAndOnlyLiveInItsSchemas() {
        let shadow = MySQLSession.derivedName("app", marker: "s", runID: "20261130T000000000Z-abc123")
        let checkpoint = MySQLSession.derivedName("app", marker: "c", runID: "20261130T000000000Z-abc123")
        #expect(MySQLSession.runTag(of: shadow) != nil)
        #expect(MySQLSession.runTag(of: shadow) == MySQLSession.runTag(of: checkpoint))
        #expect(MySQLSession.ownTables(in: shadow) == MySQLSession.ownTables(in: checkpoint))
        #expect(MySQLSession.ownTables(in: shadow).allSatisfy { $0.hasSuffix("abc123") })
        #expect(MySQLSession.ownTables(in: "app").isEmpty)
        #expect(MySQLSession.ownTables(in: "__ferry_events").isEmpty)
        let long = MySQLSession.derivedName(String(repeating: "x", count: 64), marker: "s", runID: "run-long")
        #expect(long.count <= 64 && MySQLSession.runTag(of: long) == "run-long")
    }

    @Test func aShadowNameThatExistsIsNeverDropped() throws {
        let b = try Servers.b()
        defer { b.close() }
        let name = MySQLSession.derivedName("ferry_t_taken", marker: "s", runID: "run-taken")
        try b.sql("DROP DATABASE IF EXISTS \(quoteName(name))", "CREATE DATABASE \(quoteName(name))",
                  "CREATE TABLE \(qualified(name, "mine")) (id INT)", "INSERT INTO \(qualified(name, "mine")) VALUES (7)")
        _ = expectCode(.nameConflict) { _ = try b.makeShadow(for: "ferry_t_taken", runID: "run-taken") }
        #expect(try b.connection.scalar("SELECT id FROM \(qualified(name, "mine"))") == "7")
        try b.sql("DROP DATABASE \(quoteName(name))")
        // Ferry's drop takes only names it derives for a run; a user's database is refused.
        try b.sql("DROP DATABASE IF EXISTS `ferry_t_users_own`", "CREATE DATABASE `ferry_t_users_own`")
        _ = expectCode(.copyError) { try b.drop("ferry_t_users_own") }
        #expect(try b.schemaExists("ferry_t_users_own"))
        try b.dropTestDatabase("ferry_t_users_own")
    }
}
