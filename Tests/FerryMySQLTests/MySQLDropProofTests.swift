import FerryCore
import FerryIO
@testable import FerryMySQL
import Foundation
import Testing

/// What a MySQL drop must prove before it drops a checkpoint or a shadow (tester w2 F2b, F4;
/// SPEC "MySQL / MariaDB: the content token"): a checkpoint holds what its swap recorded, a
/// shadow holds only what its build listed (and its verify's rows, once it has them).
@Suite(.serialized) struct MySQLDropProofTests {
    /// A target holding a table, a sequence used by a default, a view and a routine, swapped out
    /// for a shadow built by an import: returns the session, the target, the swap record.
    func swapped(_ tag: String) throws -> (MySQLSession, String, SwapRecord) {
        let s = try Servers.a()
        let db = "\(tag)_t"
        let q = "`\(db)`"
        try s.sql("CREATE DATABASE \(q)",
                  "CREATE TABLE \(q).t (id INT PRIMARY KEY, v VARCHAR(20))",
                  "INSERT INTO \(q).t VALUES (1, 'before'), (2, 'before')",
                  "CREATE SEQUENCE \(q).sq START WITH 5",
                  "CREATE TABLE \(q).d (id INT PRIMARY KEY, n BIGINT DEFAULT NEXTVAL(\(q).sq))",
                  "CREATE VIEW \(q).vt AS SELECT id FROM \(q).t",
                  "CREATE PROCEDURE \(q).pr() SELECT COUNT(*) FROM \(q).t")
        let runID = "20261130T000000000Z-\(tag)"
        let shadow = try s.makeShadow(for: db, runID: runID)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-dp-\(tag).sql")
        try "CREATE TABLE n (id INT PRIMARY KEY);\nINSERT INTO n VALUES (1);\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        _ = try s.importData(into: shadow, from: [.file(file.path)], format: .sql, progress: ProgressCounter())
        let report = try s.verify(shadow: shadow, against: nil, database: nil, level: .count, receipt: nil)
        var record = SwapRecord(database: db, shadow: shadow, checkpoint: s.checkpointName(for: db, runID: runID), targetExisted: true)
        record.afterSwapToken = report.contentToken
        return (s, db, try s.swap(record))
    }

    func cleanUp(_ s: MySQLSession, _ tag: String) {
        for row in (try? s.connection.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '\(tag)%'")) ?? [] {
            if let name = row[0] { _ = try? s.dropTestDatabase(name) }
        }
        s.close()
    }

    /// Writes an application could make into a checkpoint (`C.` stands for its name).
    static let checkpointWrites = [
        "UPDATE C.t SET v = 'precious' WHERE id = 2",
        "INSERT INTO C.t VALUES (3, 'new')",
        "DELETE FROM C.t WHERE id = 1",
        "ALTER TABLE C.t ADD COLUMN w INT",
        "CREATE TABLE C.mine (x INT)",
        "DROP TABLE C.d",
        "SELECT NEXTVAL(C.sq)",
        "CREATE VIEW C.mv AS SELECT 1 AS x",
        "CREATE PROCEDURE C.mp() SELECT 1",
    ]

    /// Fresh tester round 10, F6: a schema a user made under the name of a checkpoint that was
    /// dropped holds none of the run's tables: the drop says it is not the checkpoint the swap
    /// kept (not "an earlier release made it"), and leaves it.
    @Test func aSchemaMadeUnderAGoneCheckpointsNameIsNamedAsTheUsers() throws {
        let tag = "dq\(UUID().uuidString.prefix(6).lowercased())"
        let (s, _, record) = try swapped(tag)
        defer { cleanUp(s, tag) }
        let checkpoint = try #require(record.checkpoint)
        try s.sql("DROP DATABASE `\(checkpoint)`", "CREATE DATABASE `\(checkpoint)`", "CREATE TABLE `\(checkpoint)`.mine (x INT)", "INSERT INTO `\(checkpoint)`.mine VALUES (7)")
        do {
            try s.drop(checkpoint)
            Issue.record("a user's schema was dropped")
        } catch let error as FerryError {
            let message = error.diagnostics.first?.message ?? ""
            #expect(error.diagnostics.first?.code == .wrongStatus && message.contains("not the checkpoint the swap kept") && !message.contains("earlier release"), "\(message)")
        }
        #expect(try s.connection.scalar("SELECT COUNT(*) FROM `\(checkpoint)`.mine") == "1", "left as it is")
    }

    /// F2b: a checkpoint written after its swap is not dropped (WrongStatus naming it, the
    /// write kept); once the write is undone by its owner it is dropped.
    @Test(arguments: checkpointWrites) func aCheckpointWrittenAfterItsSwapIsNotDropped(_ write: String) throws {
        let tag = "dp\(UUID().uuidString.prefix(6).lowercased())"
        let (s, _, record) = try swapped(tag)
        defer { cleanUp(s, tag) }
        let checkpoint = try #require(record.checkpoint)
        #expect(try s.recordedToken(in: checkpoint) != nil, "the swap records what the checkpoint holds")
        _ = try s.connection.query(write.replacingOccurrences(of: "C.", with: "`\(checkpoint)`."))
        let error = expectCode(.wrongStatus) { try s.drop(checkpoint) }
        #expect(error?.message.contains(checkpoint) == true && error?.message.contains("written after its swap") == true, "\(String(describing: error))")
        #expect(try s.schemaExists(checkpoint), "\(write): the checkpoint stays")
    }

    /// Without a write the checkpoint is dropped (no false "written": the sequence default that
    /// names the target, the saved view and routine give the token the swap recorded).
    @Test func anUntouchedCheckpointIsDropped() throws {
        let tag = "dp\(UUID().uuidString.prefix(6).lowercased())"
        let (s, _, record) = try swapped(tag)
        defer { cleanUp(s, tag) }
        let checkpoint = try #require(record.checkpoint)
        _ = try s.connection.query("SELECT * FROM `\(checkpoint)`.t")
        try s.drop(checkpoint)
        #expect(try !s.schemaExists(checkpoint))
    }

    /// A checkpoint without a recorded token (an earlier release's) is not dropped either.
    @Test func aCheckpointWithoutARecordIsNotDropped() throws {
        let tag = "dp\(UUID().uuidString.prefix(6).lowercased())"
        let (s, _, record) = try swapped(tag)
        defer { cleanUp(s, tag) }
        let checkpoint = try #require(record.checkpoint)
        try s.sql("DROP TABLE `\(checkpoint)`.`\(MySQLSession.ownTable(MySQLSession.tokenTable, in: checkpoint))`")
        let error = expectCode(.wrongStatus) { try s.drop(checkpoint) }
        #expect(error?.message.contains("no record") == true, "\(String(describing: error))")
        #expect(try s.schemaExists(checkpoint))
    }

    /// F3 M1: the swap leaves no shadow holding only Ferry's tables; an undo brings it back with
    /// its token, so that it is dropped; the checkpoint's token table never reaches the target.
    @Test func theSwapDropsItsEmptiedShadowAndTheUndoBringsItBackProvable() throws {
        let tag = "dp\(UUID().uuidString.prefix(6).lowercased())"
        let (s, db, record) = try swapped(tag)
        defer { cleanUp(s, tag) }
        #expect(try !s.schemaExists(record.shadow), "the emptied shadow is gone")
        try s.undoSwap(record)
        let tables = try s.baseTables(db)
        #expect(tables.allSatisfy { !$0.contains("__ferry_") }, "\(tables)")
        #expect(try s.connection.query("SELECT v FROM `\(db)`.t ORDER BY id").map { $0[0] } == ["before", "before"])
        #expect(try s.recordedToken(in: record.shadow) == record.afterSwapToken, "the undo records the token the swap returned")
        try s.drop(record.shadow)
        #expect(try !s.schemaExists(record.shadow), "the shadow the undo brought back is the run's: dropped")
    }

    /// F4: a shadow holding a table, view or routine its build did not make is not dropped,
    /// whether the build failed or not, and whether its verify recorded a token or not.
    @Test(arguments: ["CREATE TABLE S.app_t (i INT)", "CREATE VIEW S.app_v AS SELECT 1 AS x", "CREATE PROCEDURE S.app_p() SELECT 1"])
    func aShadowHoldingWhatItsBuildDidNotMakeIsNotDropped(_ write: String) throws {
        let s = try Servers.a()
        let tag = "dp\(UUID().uuidString.prefix(6).lowercased())"
        defer { cleanUp(s, tag) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-dp-\(tag)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let failing = dir.appendingPathComponent("f.sql")
        try "CREATE TABLE t (id INT);\nINSERT INTO t VALUES (1);\nCREATE VIEW v AS SELECT id FROM t;\nINSERT INTO nonexistent VALUES (1);\n"
            .write(to: failing, atomically: true, encoding: .utf8)
        // Written before the build started, and the build fails: the shadow stays.
        var shadow = try s.makeShadow(for: "\(tag)_a", runID: "20261130T000000000Z-\(tag)a")
        _ = try s.connection.query(write.replacingOccurrences(of: "S.", with: "`\(shadow)`."))
        _ = expectCode(.importError) { _ = try s.importData(into: shadow, from: [.file(failing.path)], format: .sql, progress: ProgressCounter()) }
        var error = expectCode(.wrongStatus) { try s.drop(shadow) }
        #expect(error?.message.contains("Ferry did not make") == true && error?.message.contains("app_") == true, "\(String(describing: error))")
        #expect(try s.schemaExists(shadow))
        // The same build without the write: dropped (what the file made is listed).
        shadow = try s.makeShadow(for: "\(tag)_b", runID: "20261130T000000000Z-\(tag)b")
        _ = expectCode(.importError) { _ = try s.importData(into: shadow, from: [.file(failing.path)], format: .sql, progress: ProgressCounter()) }
        #expect(try s.builtEntries(in: shadow) == ["TABLE t", "TABLE v"], "a view is in the tables' namespace")
        try s.drop(shadow)
        #expect(try !s.schemaExists(shadow))
        // Written after a build that succeeded and was verified: the token alone would not see a
        // view, nor a table the verify read; the list does.
        let good = dir.appendingPathComponent("g.sql")
        try "CREATE TABLE t (id INT);\nINSERT INTO t VALUES (1);\n".write(to: good, atomically: true, encoding: .utf8)
        shadow = try s.makeShadow(for: "\(tag)_c", runID: "20261130T000000000Z-\(tag)c")
        _ = try s.connection.query(write.replacingOccurrences(of: "S.", with: "`\(shadow)`."))
        _ = try s.importData(into: shadow, from: [.file(good.path)], format: .sql, progress: ProgressCounter())
        // The verify itself refuses it now (fresh tester X1), naming the object.
        error = expectCode(.verifyFailed) { _ = try s.verify(shadow: shadow, against: nil, database: nil, level: .count, receipt: nil) }
        #expect(error?.message.contains("did not make") == true && error?.message.contains("app_") == true, "\(String(describing: error))")
        error = expectCode(.wrongStatus) { try s.drop(shadow) }
        #expect(try s.schemaExists(shadow), "\(String(describing: error))")
        // A shadow with tables, no list and no token (an earlier release's, killed in its build).
        shadow = try s.makeShadow(for: "\(tag)_d", runID: "20261130T000000000Z-\(tag)d")
        try s.sql("CREATE TABLE `\(shadow)`.t (id INT)")
        error = expectCode(.wrongStatus) { try s.drop(shadow) }
        #expect(error?.message.contains("no record") == true, "\(String(describing: error))")
    }

    /// F4 for a copy: the copy lists the source's objects before it makes them; an application's
    /// table in the shadow keeps it.
    @Test func aCopysShadowHoldingAnApplicationsTableIsNotDropped() throws {
        let a = try Servers.a(), b = try Servers.b()
        let tag = "dp\(UUID().uuidString.prefix(6).lowercased())"
        defer { cleanUp(b, tag); _ = try? a.dropTestDatabase("\(tag)_src"); a.close() }
        try MySQLEngineTests().makeSource(a, "\(tag)_src")
        let shadow = try b.makeShadow(for: "\(tag)_dst", runID: "20261130T000000000Z-\(tag)")
        _ = try b.copyData(from: a, database: "\(tag)_src", into: shadow, progress: ProgressCounter())
        try b.sql("CREATE TABLE `\(shadow)`.app_t (i INT)")
        let error = expectCode(.wrongStatus) { try b.drop(shadow) }
        #expect(error?.message.contains("app_t") == true, "\(String(describing: error))")
        try b.sql("DROP TABLE `\(shadow)`.app_t")
        try b.drop(shadow)
        #expect(try !b.schemaExists(shadow))
    }

    /// What an import statement makes, read from its text (listed before it runs), and which
    /// statements are read around instead (`mayCreate`).
    @Test func theNamesAStatementMakesAreReadFromItsText() {
        let dialect = SQLDialect.mysql(version: "10.11.0-MariaDB")
        func made(_ sql: String) -> Set<String>? {
            let bytes = Array(sql.utf8)
            let definition = MySQLSession.definesStoredObject(bytes, serverVersion: "10.11.0-MariaDB")
                ? MySQLDefinitionText.definition(in: bytes, dialect: dialect) : nil
            return MySQLSession.namesMade(by: bytes, definition: definition, dialect: dialect)
        }
        #expect(made("CREATE TABLE t (x INT)") == ["TABLE t"])
        #expect(made("create or replace table `My T` (x int)") == ["TABLE My T"])
        #expect(made("CREATE TABLE IF NOT EXISTS db.t2 LIKE x") == ["TABLE t2"])
        #expect(made("/*!40101 CREATE TABLE `q` (x INT) */") == ["TABLE q"])
        #expect(made("CREATE TEMPORARY TABLE tt (x INT)") == [])
        #expect(made("CREATE SEQUENCE s") == ["TABLE s"])
        #expect(made("CREATE VIEW v AS SELECT 1") == ["TABLE v"])
        #expect(made("CREATE DEFINER=root@localhost PROCEDURE p() SELECT 1") == ["PROCEDURE p"])
        #expect(made("CREATE INDEX i ON t (x)") == nil)
        #expect(made("RENAME TABLE a TO b") == nil)
        #expect(made("ALTER VIEW v AS SELECT 2") == nil)
        func may(_ sql: String) -> Bool {
            let bytes = Array(sql.utf8)
            return MySQLSession.mayCreate(definition: false, verb: MySQLSession.firstKeyword(bytes, dialect: dialect), bytes)
        }
        #expect(!may("/*!40000 ALTER TABLE `t` DISABLE KEYS */"))
        #expect(!may("INSERT INTO t VALUES (1)"))
        #expect(!may("/*!40101 SET character_set_client = utf8 */"))
        #expect(may("ALTER TABLE t RENAME TO u"))
        #expect(may("ALTER TABLE t CONVERT PARTITION p TO TABLE u"))
        #expect(may("RENAME TABLE a TO b"))
        #expect(may("CALL p()"))
        #expect(may("EXECUTE s"))
        #expect(may("BEGIN NOT ATOMIC CREATE TABLE z (x INT); END"))
    }
}
