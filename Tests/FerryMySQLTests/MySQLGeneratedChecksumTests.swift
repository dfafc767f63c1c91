import FerryCore
@testable import FerryMySQL
import Foundation
import Testing

/// Fresh tester round 56, M1 and H1: MariaDB 10.11's `CHECKSUM TABLE` of a table with a generated
/// column (stored or virtual) differs between servers, after `FLUSH TABLES` and under `LOCK TABLES`,
/// with the same rows, so copies of such tables failed their verify and Ferry's own schemas looked
/// written; and the row digest that stood in for it under a lock missed a `FLOAT` changed beyond
/// its 6 shown digits and any change in a row longer than `max_allowed_packet`. The checksum of
/// such a table (`MySQLSession.checksum`) now reads alike everywhere and sees those changes.
@Suite(.serialized) struct MySQLGeneratedChecksumTests {
    static func make(_ s: MySQLSession, _ db: String) throws {
        let q = "`\(db)`"
        try s.sql("CREATE DATABASE \(q)",
                  "CREATE TABLE \(q).g (id INT PRIMARY KEY, a INT, f FLOAT, d DOUBLE, b LONGBLOB, v INT AS (a + 1) VIRTUAL, st VARCHAR(30) AS (CONCAT('x', a)) STORED) ENGINE=InnoDB",
                  "INSERT INTO \(q).g (id, a, f, d, b) SELECT seq, seq * 3, seq / 7, seq / 3, IF(seq = 5, NULL, REPEAT('z', seq)) FROM \(q).seq_1_to_500",
                  "CREATE TABLE \(q).vo (id INT PRIMARY KEY, a INT, v INT AS (a * 2) VIRTUAL) ENGINE=InnoDB",
                  "INSERT INTO \(q).vo (id, a) SELECT seq, seq FROM \(q).seq_1_to_200")
    }

    @Test func aGeneratedColumnTablesChecksumReadsAlikeEverywhere() throws {
        let a = try Servers.a(), b = try Servers.b()
        defer { a.close(); b.close() }
        let db = "gc\(UUID().uuidString.prefix(6).lowercased())"
        defer { _ = try? a.dropTestDatabase(db); _ = try? b.dropTestDatabase(db) }
        try Self.make(a, db)
        try Self.make(b, db)
        for table in ["g", "vo"] {
            let first = try #require(try MySQLSession.checksum(table, in: db, on: a.connection))
            #expect(try MySQLSession.checksum(table, in: db, on: b.connection) == first, "\(table): the other server")
            try a.sql("FLUSH TABLES")
            #expect(try MySQLSession.checksum(table, in: db, on: a.connection) == first, "\(table): after FLUSH TABLES")
            for mode in ["READ", "WRITE"] {
                try a.sql("LOCK TABLES `\(db)`.`\(table)` \(mode)")
                let held = try MySQLSession.checksum(table, in: db, on: a.connection)
                try a.sql("UNLOCK TABLES")
                #expect(held == first, "\(table): under LOCK TABLES \(mode)")
            }
        }
    }

    @Test(arguments: ["UPDATE DB.g SET f = 123456.8 WHERE id = 17",
                      "UPDATE DB.g SET d = d + 1e-12 WHERE id = 18",
                      "UPDATE DB.g SET b = NULL WHERE id = 19",
                      "UPDATE DB.g SET b = '' WHERE id = 5",
                      "UPDATE DB.g SET a = 4, b = REPEAT('z', 12) WHERE id = 4",
                      "UPDATE DB.vo SET a = a + 1 WHERE id = 3"])
    func aChangeOfAStoredValueChangesTheChecksum(_ change: String) throws {
        let a = try Servers.a()
        defer { a.close() }
        let db = "gc\(UUID().uuidString.prefix(6).lowercased())"
        defer { _ = try? a.dropTestDatabase(db) }
        try Self.make(a, db)
        try a.sql("UPDATE `\(db)`.g SET f = 123456.7 WHERE id = 17")
        let table = change.contains("DB.vo") ? "vo" : "g"
        let before = try MySQLSession.checksum(table, in: db, on: a.connection)
        try a.sql(change.replacingOccurrences(of: "DB.", with: "`\(db)`."))
        #expect(try MySQLSession.checksum(table, in: db, on: a.connection) != before, "\(change)")
    }

    /// A row whose stored columns together are longer than `max_allowed_packet` (16 MiB on the
    /// test servers): a change at its end changes the checksum.
    @Test func aChangeInARowLongerThanAPacketChangesTheChecksum() throws {
        let a = try Servers.a()
        defer { a.close() }
        let db = "gc\(UUID().uuidString.prefix(6).lowercased())"
        defer { _ = try? a.dropTestDatabase(db) }
        try Self.make(a, db)
        let packet = Int(try a.connection.scalar("SELECT @@max_allowed_packet") ?? "") ?? 16 << 20
        let half = packet / 2 + 16
        try a.sql("CREATE TABLE `\(db)`.big (id INT PRIMARY KEY, t1 LONGTEXT, t2 LONGTEXT, g INT AS (id + 1) STORED) ENGINE=InnoDB",
                  "INSERT INTO `\(db)`.big (id, t1, t2) VALUES (1, REPEAT('a', \(half)), REPEAT('b', \(half)))")
        let before = try #require(try MySQLSession.checksum("big", in: db, on: a.connection))
        #expect(before.hasPrefix("g1:1/"), "one row counted: \(before)")
        try a.sql("UPDATE `\(db)`.big SET t2 = CONCAT(REPEAT('b', \(half - 1)), 'c')")
        #expect(try MySQLSession.checksum("big", in: db, on: a.connection) != before)
    }
}
