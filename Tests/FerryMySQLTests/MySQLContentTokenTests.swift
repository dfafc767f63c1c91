import FerryCore
@testable import FerryMySQL
import Foundation
import Testing

/// The MySQL content token (SPEC "MySQL / MariaDB: the content token"): one for two databases
/// that hold the same under different names, another after any committed write of any kind.
@Suite(.serialized) struct MySQLContentTokenTests {
    /// Tables of several engines, a sequence, an AUTO_INCREMENT, a view, a routine, a trigger and
    /// an event, each naming its own database where the server keeps the name.
    static func fill(_ s: MySQLSession, _ db: String) throws {
        let q = "`\(db)`"
        try s.sql("CREATE DATABASE \(q)",
                  "CREATE TABLE \(q).t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(20), KEY byv (v)) AUTO_INCREMENT = 40",
                  "INSERT INTO \(q).t (id, v) VALUES (1, 'one'), (2, 'two')",
                  "CREATE TABLE \(q).ar (x INT) ENGINE=Aria", "INSERT INTO \(q).ar VALUES (5)",
                  "CREATE TABLE \(q).my (x INT) ENGINE=MyISAM CHECKSUM=1", "INSERT INTO \(q).my VALUES (6)",
                  "CREATE TABLE \(q).mem (x INT) ENGINE=MEMORY", "INSERT INTO \(q).mem VALUES (7)",
                  "CREATE SEQUENCE \(q).sq START WITH 10",
                  "CREATE TABLE \(q).d (id INT PRIMARY KEY, n BIGINT DEFAULT NEXTVAL(\(q).sq))",
                  "CREATE VIEW \(q).vt AS SELECT id FROM \(q).t",
                  "CREATE PROCEDURE \(q).pr() SELECT COUNT(*) FROM \(q).t",
                  "CREATE TRIGGER \(q).tr BEFORE INSERT ON \(q).t FOR EACH ROW SET NEW.v = LOWER(NEW.v)",
                  "CREATE EVENT \(q).ev ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM \(q).ar")
    }

    @Test func sameContentUnderAnotherNameGivesOneToken() throws {
        let s = try Servers.a()
        defer { s.close() }
        let tag = "ct\(UUID().uuidString.prefix(6).lowercased())"
        let one = "\(tag)_one", two = "\(tag)_two"
        defer { _ = try? s.dropTestDatabase(one); _ = try? s.dropTestDatabase(two) }
        try Self.fill(s, one)
        try Self.fill(s, two)
        let token = try #require(try s.contentToken(of: one))
        #expect(token.hasPrefix("mysql1:"))
        #expect(try s.contentToken(of: two) == token, "the name does not enter the token")
        #expect(try s.contentToken(of: one) == token, "reading does not change it")
        #expect(try s.contentToken(of: "\(tag)_none") == nil, "a database that is not there has none")
    }

    /// Fresh tester round 54, F3: InnoDB changes the `AUTO_INCREMENT=N` that `SHOW CREATE TABLE`
    /// shows by itself (a multi-row insert reserves more than it uses; a restart or the table
    /// leaving the table cache shows the largest key plus one), and a checkpoint was refused as
    /// altered "by someone else" after a restart. The option is left out of the definitions; a
    /// column's comment that spells it stays.
    @Test func anAutoIncrementValueAloneChangesNoToken() throws {
        try Self.withFilled { s, db, before in
        try s.sql("ALTER TABLE `\(db)`.t AUTO_INCREMENT = 400")
        #expect(try s.contentToken(of: db) == before)
        let ddl = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL AUTO_INCREMENT COMMENT 'x AUTO_INCREMENT=5',\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB AUTO_INCREMENT=64 DEFAULT CHARSET=latin1"
        #expect(MySQLSession.withoutAutoIncrement(ddl) == ddl.replacingOccurrences(of: " AUTO_INCREMENT=64", with: ""))
        try s.sql("ALTER TABLE `\(db)`.t COMMENT 'other'")
        #expect(try s.contentToken(of: db) != before, "a table option that is the table's still counts")
        }
    }

    /// Runs `body` with a session on server A, a database `fill` made (dropped after), and its token.
    static func withFilled(_ body: (MySQLSession, String, String) throws -> Void) throws {
        let s = try Servers.a()
        defer { s.close() }
        let db = "ct\(UUID().uuidString.prefix(6).lowercased())"
        defer { _ = try? s.dropTestDatabase(db) }
        try fill(s, db)
        try body(s, db, try #require(try s.contentToken(of: db)))
    }

    /// Each committed write of another kind changes the token; a rolled-back one does not.
    @Test(arguments: [
        "INSERT INTO DB.t (id, v) VALUES (3, 'three')",
        "UPDATE DB.t SET v = 'owt' WHERE id = 2",
        "DELETE FROM DB.t WHERE id = 1",
        "UPDATE DB.ar SET x = 50",
        "INSERT INTO DB.my VALUES (60)",
        "UPDATE DB.mem SET x = 70",
        "SELECT NEXTVAL(DB.sq)",
        "ALTER TABLE DB.t ADD COLUMN w INT",
        "ALTER TABLE DB.t DROP KEY byv",
        "CREATE TABLE DB.newt (x INT)",
        "DROP TABLE DB.mem",
        "CREATE OR REPLACE VIEW DB.vt AS SELECT id, v FROM DB.t",
        "DROP PROCEDURE DB.pr",
        "CREATE FUNCTION DB.f() RETURNS INT RETURN 1",
        "DROP TRIGGER DB.tr",
        "ALTER EVENT DB.ev ENABLE",
        "ALTER EVENT DB.ev ON SCHEDULE EVERY 2 DAY STARTS '2030-01-01 00:00:00'",
    ])
    func everyKindOfWriteChangesTheToken(_ write: String) throws {
        try Self.withFilled { s, db, before in
        let writer = try s.openAnother()
        defer { writer.close() }
        if write.hasPrefix("INSERT") || write.hasPrefix("UPDATE") || write.hasPrefix("DELETE") {
            try writer.execute("START TRANSACTION")
            try writer.execute(write.replacingOccurrences(of: "DB.", with: "`\(db)`."))
            try writer.execute("ROLLBACK")
            // MEMORY, MyISAM and Aria have no transactions: their write stays.
            if write.contains(".t ") { #expect(try s.contentToken(of: db) == before, "a rolled-back write changes nothing") }
        }
        _ = try writer.query(write.replacingOccurrences(of: "DB.", with: "`\(db)`."))
        #expect(try s.contentToken(of: db) != before, "\(write)")
        }
    }

    /// A copy's `finish` may add the secondary keys after its verify read the shadow: the swap
    /// reads the definitions again, so the token it returns is the target's right after it (else
    /// a rollback would take the keys for a write and keep the target).
    @Test func theSwapsTokenIsTheTargetsAfterAFinishThatCameAfterTheVerify() throws {
        let a = try Servers.a(), b = try Servers.b()
        defer { a.close(); b.close() }
        let tag = "cf\(UUID().uuidString.prefix(6).lowercased())"
        let source = "\(tag)_src", dest = "\(tag)_dst"
        defer { _ = try? a.dropTestDatabase(source); _ = try? b.dropTestDatabase(dest) }
        try MySQLEngineTests().makeSource(a, source)
        let shadow = try b.makeShadow(for: dest, runID: "20261130T000000000Z-\(tag)")
        defer { _ = try? b.dropTestDatabase(shadow) }
        let built = try b.copyData(from: a, database: source, into: shadow, progress: ProgressCounter())
        let report = try b.verify(shadow: shadow, against: a, database: source, level: .count, receipt: built.receipt)
        try b.finish(shadow: shadow, receipt: built.receipt, progress: ProgressCounter())
        var record = SwapRecord(database: dest, shadow: shadow, checkpoint: nil, targetExisted: false)
        record.afterSwapToken = try #require(report.contentToken)
        let done = try b.swap(record)
        #expect(done.afterSwapToken != report.contentToken, "the keys finish added are in the definitions")
        #expect(try b.contentToken(of: dest) == done.afterSwapToken)
    }

    /// F12: a shadow is dropped when it holds what its verify recorded, or nothing; one written
    /// into since is left (WrongStatus), and so is one brought back by an undone swap and written.
    @Test func aShadowWrittenIntoSinceItsVerifyIsNotDropped() throws {
        let s = try Servers.a()
        defer { s.close() }
        let db = "cs\(UUID().uuidString.prefix(6).lowercased())"
        let run = "20261130T000000000Z-\(db)"
        defer { _ = try? s.dropTestDatabase(db) }
        let shadow = try s.makeShadow(for: db, runID: run)
        defer { _ = try? s.dropTestDatabase(shadow) }
        try s.sql("CREATE TABLE `\(shadow)`.t (id INT PRIMARY KEY)", "INSERT INTO `\(shadow)`.t VALUES (1)")
        // Made as an import makes it: listed (an import's verify refuses what its build did not list).
        try s.recordBuilt(["TABLE t"], in: shadow)
        let report = try s.verify(shadow: shadow, against: nil, database: nil, level: .count, receipt: nil)
        let token = try #require(report.contentToken)
        #expect(try s.recordedToken(in: shadow) == token)
        try s.sql("CREATE TABLE `\(shadow)`.userstuff (x INT)")
        _ = expectCode(.wrongStatus) { try s.drop(shadow) }
        #expect(try s.schemaExists(shadow))
        _ = expectCode(.wrongStatus) { _ = try s.removeLeftovers(ofRun: run, database: db) }
        try s.sql("DROP TABLE `\(shadow)`.userstuff")
        try s.drop(shadow)
        #expect(try !s.schemaExists(shadow), "as the verify left it: dropped")
    }
}

/// Fresh tester round 36 (minor): a view ``user`s view`` left in a checkpoint was named as
/// `user`s view`, the backtick not doubled, so the quoted name was ambiguous. Every listing of
/// objects a message names quotes them as the server reads them.
@Suite struct MySQLListingTests {
    @Test func namesWithBackticksAreQuotedAsTheServerReadsThem() {
        let listed = MySQLSession.listing(["TABLE user`s view", "TABLE mine`, x", "PROCEDURE p'q\""], tableKinds: ["user`s view": "view"])
        #expect(listed == "procedure `p'q\"`, table or view `mine``, x`, view `user``s view`", "\(listed)")
    }
}
