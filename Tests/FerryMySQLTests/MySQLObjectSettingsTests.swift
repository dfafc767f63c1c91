import FerryCore
@testable import FerryMySQL
import Foundation
import Testing

/// Fresh tester round 11, F1: each view, routine, trigger and event is made again (and compared)
/// with the client character set, connection collation and database collation it was made
/// under, and, in the database it was read from, with its own text.
@Suite(.serialized) struct MySQLObjectSettingsTests {
    /// `db` (default collation latin1_german1_ci while the function and trigger are made, then
    /// `finalCollation`) with objects of each kind under latin1_bin (with a latin1 `é`), utf8mb3
    /// and utf8mb4_bin, and the trigger's text naming `db`.
    static func fill(_ s: MySQLSession, _ db: String, finalCollation: String = "utf8mb4_unicode_ci", latin1: Bool = true) throws {
        let q = "`\(db)`", c = s.connection
        try s.sql("CREATE DATABASE \(q) CHARACTER SET latin1 COLLATE latin1_german1_ci", "USE \(q)",
                  "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)) CHARSET utf8mb4")
        defer { try? c.execute("SET NAMES utf8mb4") }
        try s.sql("SET NAMES utf8mb3", "CREATE FUNCTION f_db(x VARCHAR(10)) RETURNS VARCHAR(64) RETURN CONCAT(CHARSET(x), ' ', 'a' = 'A')")
        try s.sql(latin1 ? "SET NAMES latin1 COLLATE latin1_bin" : "SET NAMES utf8mb4",
                  "CREATE TRIGGER \(q).ctr BEFORE INSERT ON \(q).t FOR EACH ROW SET NEW.v = CONCAT(NEW.v, IF('a' = 'A', '=', '<>'))")
        try s.sql("ALTER DATABASE \(q) COLLATE \(finalCollation)")
        try s.sql(latin1 ? "SET NAMES latin1 COLLATE latin1_bin" : "SET NAMES utf8mb4")
        var procedure = Array("CREATE PROCEDURE p_l1() SELECT 'a' = 'A', HEX('".utf8) + [0xE9] + Array("')".utf8)
        if !latin1 { procedure = Array("CREATE PROCEDURE p_l1() SELECT 'a' = 'A', HEX('é')".utf8) }
        try c.execute(bytes: &procedure, describe: "p_l1")
        try s.sql("CREATE VIEW v_l1 AS SELECT 'a' = 'A' AS same")
        try s.sql("SET NAMES utf8mb3", "CREATE VIEW v_u3 AS SELECT 'a' = 'A' AS same")
        // A fixed start: `EVERY` without one starts at the second the event is made, which two
        // databases filled a second apart (a loaded machine) do not share.
        try s.sql("SET NAMES utf8mb4 COLLATE utf8mb4_bin", "CREATE EVENT ev ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE DO SET @x = 'a' = 'A'")
    }

    static func settings(_ s: MySQLSession, _ db: String) throws -> [[String?]] {
        let c = s.connection, l = c.literal(db)
        return try c.query("SELECT ROUTINE_NAME, CHARACTER_SET_CLIENT, COLLATION_CONNECTION, DATABASE_COLLATION, HEX(ROUTINE_DEFINITION) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = \(l) ORDER BY 1")
            + c.query("SELECT TABLE_NAME, CHARACTER_SET_CLIENT, COLLATION_CONNECTION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = \(l) ORDER BY 1")
            + c.query("SELECT TRIGGER_NAME, CHARACTER_SET_CLIENT, COLLATION_CONNECTION, DATABASE_COLLATION, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = \(l)")
            + c.query("SELECT EVENT_NAME, CHARACTER_SET_CLIENT, COLLATION_CONNECTION, DATABASE_COLLATION FROM information_schema.EVENTS WHERE EVENT_SCHEMA = \(l)")
            + c.query("SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = \(l)")
    }

    static func answers(_ s: MySQLSession, _ db: String) throws -> [[String?]] {
        let c = s.connection, q = "`\(db)`"
        try c.execute("INSERT INTO \(q).t VALUES (99, 'x')")
        defer { try? c.execute("DELETE FROM \(q).t WHERE id = 99") }
        // A CALL leaves a second result: on a connection of its own.
        let caller = try s.openAnother()
        defer { caller.close() }
        return try c.query("SELECT \(q).f_db('x')") + c.query("SELECT * FROM \(q).v_l1") + c.query("SELECT * FROM \(q).v_u3")
            + caller.query("CALL \(q).p_l1()") + c.query("SELECT v FROM \(q).t WHERE id = 99")
    }

    static let expectedAnswers: [[String?]] = [["latin1 1"], ["0"], ["1"], ["0", "E9"], ["x<>"]]

    /// Dropped and made again from `objects(in:)` in the same database (what a rollback does from
    /// the checkpoint's saved list), and into another database of another default collation
    /// (what a copy does): settings, answers and (same database) the trigger's text as before;
    /// each database keeps its own default collation.
    @Test func madeAgainUnderTheirOwnSettings() throws {
        let s = try Servers.a()
        defer { s.close() }
        let tag = "os\(UUID().uuidString.prefix(6).lowercased())"
        let db = "\(tag)_db", other = "\(tag)_other"
        defer { _ = try? s.dropTestDatabase(db); _ = try? s.dropTestDatabase(other) }
        try Self.fill(s, db)
        let before = try Self.settings(s, db)
        #expect(try Self.answers(s, db) == Self.expectedAnswers)
        let text = try s.connection.query("SHOW CREATE TRIGGER `\(db)`.ctr").first?[2] ?? nil
        #expect(text?.contains("TRIGGER `\(db)`.ctr BEFORE INSERT ON `\(db)`.t") == true)

        let objects = try s.objects(in: db, qualifier: nil)
        #expect(objects.first { $0.name == "p_l1" }.map { [$0.charsetClient, $0.collationConnection, $0.databaseCollation] } == ["latin1", "latin1_bin", "utf8mb4_unicode_ci"])
        #expect(objects.first { $0.name == "ctr" }?.databaseCollation == "latin1_german1_ci")
        try s.dropObjects(in: db)
        try s.createObjects(objects, in: db)
        #expect(try Self.settings(s, db) == before, "each object has its own settings again, the database its own default")
        #expect(try Self.answers(s, db) == Self.expectedAnswers)
        #expect(try s.connection.query("SHOW CREATE TRIGGER `\(db)`.ctr").first?[2] ?? nil == text, "the trigger's own text")
        #expect(try s.connection.query("SELECT @@character_set_client, @@collation_connection").first == ["utf8mb4", "utf8mb4_general_ci"], "the session's own settings are back")

        try s.sql("CREATE DATABASE `\(other)` CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci", "CREATE TABLE `\(other)`.t (id INT PRIMARY KEY, v VARCHAR(20)) CHARSET utf8mb4")
        try s.createObjects(objects, in: other)
        let copied = try Self.settings(s, other)
        #expect(copied.dropLast() == before.dropLast(), "a copy's objects keep the source's settings")
        #expect(copied.last == ["utf8mb3_general_ci"], "the other database keeps its own default collation")
        #expect(try Self.answers(s, other) == Self.expectedAnswers)
    }

    /// A Ferry backup (`writeBackup`) restored into a shadow on another server (another default
    /// character set): each object has its own settings and answers again, and the restored
    /// database the dumped one's default.
    @Test func aBackupRestoresEachObjectUnderItsOwnSettings() throws {
        let a = try Servers.a(), b = try Servers.b()
        defer { a.close(); b.close() }
        let db = "os\(UUID().uuidString.prefix(6).lowercased())_bk"
        defer { _ = try? a.dropTestDatabase(db) }
        try Self.fill(a, db)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-charset-backup-\(getpid()).\(a.backupFileExtension)")
        defer { try? FileManager.default.removeItem(at: file) }
        _ = try a.writeBackup(of: db, to: file, progress: ProgressCounter())
        let shadow = try b.makeShadow(for: db, runID: "run3")
        defer { _ = try? b.dropTestDatabase(shadow) }
        _ = try b.restoreBackup(from: file, into: shadow, progress: ProgressCounter())
        let objects = try b.objects(in: shadow, qualifier: nil).filter { $0.kind != "EVENT" }
        try b.dropObjects(in: shadow, only: { !$0.hasPrefix("EVENT ") })
        try b.createObjects(objects, in: shadow)   // events stay parked; the rest as a swap makes them
        let source = try Self.settings(a, db).filter { $0.first != "ev" }, restored = try Self.settings(b, shadow).filter { $0.first != "ev" }
        #expect(restored == source, "\(restored) against \(source)")
        #expect(try Self.answers(b, shadow) == Self.expectedAnswers)
        _ = try b.verify(shadow: shadow, against: a, database: db, level: .count)
    }

    /// The content token, the definition digest and a copy's verify tell objects made under other
    /// settings apart.
    @Test func otherSettingsAreAnotherDefinition() throws {
        let s = try Servers.a()
        defer { s.close() }
        let tag = "os\(UUID().uuidString.prefix(6).lowercased())"
        let one = "\(tag)_one", two = "\(tag)_two", three = "\(tag)_three"
        defer { for db in [one, two, three] { _ = try? s.dropTestDatabase(db) } }
        try Self.fill(s, one)
        try Self.fill(s, two)
        try Self.fill(s, three, latin1: false)
        let token = try #require(try s.contentToken(of: one))
        #expect(try s.contentToken(of: two) == token)
        #expect(try s.contentToken(of: three) != token, "made under utf8mb4, not latin1_bin: another token")
        let digests = Dictionary(try s.objects(in: one, qualifier: nil).map { ($0.name, MySQLSession.definitionDigest($0)) }, uniquingKeysWith: { a, _ in a })
        for object in try s.objects(in: three, qualifier: nil) where ["ctr", "v_l1"].contains(object.name) {
            #expect(MySQLSession.definitionDigest(object) != digests[object.name], "\(object.name)")
        }
        // A digest an earlier release recorded (no settings) still names the object; a digest of
        // this release under other settings does not.
        for object in try s.objects(in: one, qualifier: nil) {
            var saved = object
            (saved.charsetClient, saved.collationConnection, saved.databaseCollation) = ("", "", "")
            #expect(MySQLSession.hasDefinition(object, MySQLSession.definitionDigest(saved)), "\(object.name)")
            #expect(MySQLSession.hasDefinition(object, MySQLSession.definitionDigest(object)))
        }
        for object in try s.objects(in: three, qualifier: nil) where ["ctr", "v_l1", "p_l1"].contains(object.name) {
            #expect(!MySQLSession.hasDefinition(object, digests[object.name]), "\(object.name)")
        }
        try s.checkObjectLists(shadow: two, against: s, database: one)
        let error = expectCode(.verifyFailed) { try s.checkObjectLists(shadow: three, against: s, database: one) }
        #expect(error?.message.contains("ctr") == true && error?.message.contains("latin1_bin") == true, "\(String(describing: error))")
    }
}
