import Foundation
import Testing

/// Fresh tester w26, H2 and F2: MariaDB's `SHOW CREATE` of an object made under a client
/// character set other than UTF-8 writes some parts in UTF-8 (an event's name, comment and
/// definer; a routine's comment; a trigger's definer) inside a text declared in that set. Made
/// again from it, an event `eé` came back as `eÃ©` and comments double-encoded (rollback,
/// recover, append, copy, a Ferry backup's restore), and an import of a `mariadb-dump` file
/// took a latin1 procedure `p_lé` for an application's. Here objects of every kind, named and
/// commented outside ASCII under latin1, cp1251 and utf8mb3 (with a binary literal and a
/// non-ASCII definer), go through every path and come back byte for byte: information_schema's
/// names, comments, definers, settings and bodies (HEX), and `SHOW CREATE` as the server sends it.
@Suite(.serialized) struct MySQLObjectEncodingTests {
    let cli = MySQLCLITests()
    let writes = MySQLWritesDuringRunTests()

    static let definer = "fü29"

    /// The objects, sent to the `mariadb` client as bytes in each part's character set.
    func makeObjects(_ project: Project, _ server: MySQLCLITests.Server, in db: String, fresh: Bool) throws {
        var data = Data()
        func utf8(_ text: String) { data.append(Data(text.utf8)) }
        func latin1(_ text: String) { data.append(text.data(using: .isoLatin1)!) }
        func cp1251(_ text: String) { data.append(text.data(using: .windowsCP1251)!) }
        utf8("SET NAMES utf8mb4;\nCREATE USER IF NOT EXISTS '\(Self.definer)'@'%';\n")
        if fresh {
            utf8("DROP DATABASE IF EXISTS `\(db)`; CREATE DATABASE `\(db)` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;\n")
            utf8("CREATE TABLE `\(db)`.t (id INT PRIMARY KEY, v VARCHAR(20)) CHARSET utf8mb4; INSERT INTO `\(db)`.t VALUES (1, 'user-original');\n")
        }
        utf8("USE `\(db)`;\n")
        latin1("SET NAMES latin1;\n")
        latin1("CREATE DEFINER=`\(Self.definer)`@`%` EVENT `eé` ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE COMMENT 'cé ''q'' \\\\ x' DO SELECT 'bé';\n")
        latin1("CREATE EVENT e1 ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE COMMENT 'cé' DO SELECT 'bé', _binary X'C3A9';\n")
        latin1("CREATE PROCEDURE `p_lé`(`aé` INT) COMMENT 'pé ''q''' SELECT 'café', `aé`;\n")
        latin1("CREATE DEFINER=`\(Self.definer)`@`%` FUNCTION `fé`() RETURNS VARCHAR(9) COMMENT 'fé' RETURN 'bé';\n")
        latin1("CREATE DEFINER=`\(Self.definer)`@`%` TRIGGER `tré` BEFORE INSERT ON t FOR EACH ROW SET @ferry_w29 = 'bé';\n")
        latin1("CREATE VIEW `vé` AS SELECT 'bé' AS `colé`;\n")
        cp1251("SET NAMES cp1251;\n")
        cp1251("CREATE PROCEDURE `при`() COMMENT 'при И' SELECT 'при И';\n")
        cp1251("CREATE EVENT `еИ` ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE COMMENT 'при' DO SELECT 'И';\n")
        utf8("SET NAMES utf8mb3;\nCREATE PROCEDURE p_u3() COMMENT 'ü☕' SELECT 'ü☕';\nCREATE EVENT `eü3` ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE COMMENT 'ü' DO SELECT 1;\n")
        let file = project.root + "/objects-\(UUID().uuidString.prefix(6)).sql"
        try data.write(to: URL(fileURLWithPath: file))
        let result = try project.runShell("MYSQL_PWD=\"$FERRY_TEST_MYSQL_PASSWORD\" mariadb -h\(server.host) -P\(server.port) -u\(server.user) -N -B < '\(file)'")
        #expect(result.code == 0, "\(result.all)")
    }

    /// Every object's name, comment, definer, settings and body, as information_schema holds them (HEX).
    func snapshot(_ project: Project, _ server: MySQLCLITests.Server, _ db: String) throws -> String {
        try cli.sql(project, server, """
        SELECT ROUTINE_TYPE, HEX(ROUTINE_NAME), HEX(ROUTINE_COMMENT), HEX(DEFINER), CHARACTER_SET_CLIENT, COLLATION_CONNECTION, DATABASE_COLLATION, HEX(ROUTINE_DEFINITION) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '\(db)' ORDER BY 2;
        SELECT 'EVENT', HEX(EVENT_NAME), HEX(EVENT_COMMENT), HEX(DEFINER), CHARACTER_SET_CLIENT, COLLATION_CONNECTION, DATABASE_COLLATION, HEX(EVENT_DEFINITION), STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '\(db)' ORDER BY 2;
        SELECT 'TRIGGER', HEX(TRIGGER_NAME), HEX(DEFINER), CHARACTER_SET_CLIENT, COLLATION_CONNECTION, DATABASE_COLLATION, HEX(ACTION_STATEMENT) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(db)' ORDER BY 2;
        SELECT 'VIEW', HEX(TABLE_NAME), HEX(VIEW_DEFINITION), HEX(DEFINER), CHARACTER_SET_CLIENT, COLLATION_CONNECTION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '\(db)' ORDER BY 2;
        """)
    }

    /// `SHOW CREATE` of each routine, event and trigger as the server sends it (binary results), HEX.
    func shown(_ project: Project, _ server: MySQLCLITests.Server, _ db: String) throws -> String {
        let names = try cli.sql(project, server, """
        SELECT CONCAT(ROUTINE_TYPE, ' ', HEX(ROUTINE_NAME)) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '\(db)';
        SELECT CONCAT('EVENT ', HEX(EVENT_NAME)) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '\(db)';
        SELECT CONCAT('TRIGGER ', HEX(TRIGGER_NAME)) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(db)';
        """).split(separator: "\n").sorted()
        var out = ""
        for line in names {
            let parts = line.split(separator: " ")
            let name = String(decoding: stride(from: 0, to: parts[1].count, by: 2).map { i -> UInt8 in
                let s = parts[1].index(parts[1].startIndex, offsetBy: i)
                return UInt8(parts[1][s..<parts[1].index(s, offsetBy: 2)], radix: 16)!
            }, as: UTF8.self)
            let file = project.root + "/show-\(UUID().uuidString.prefix(6)).sql"
            try "SET NAMES utf8mb4; SET character_set_results = binary; SHOW CREATE \(parts[0]) `\(db)`.`\(name)`;\n".write(toFile: file, atomically: true, encoding: .utf8)
            let result = try project.runShell("MYSQL_PWD=\"$FERRY_TEST_MYSQL_PASSWORD\" mariadb -h\(server.host) -P\(server.port) -u\(server.user) -N -B --raw < '\(file)' | cut -f1-4 | od -An -tx1 | tr -d ' \\n'")
            #expect(result.code == 0, "\(result.all)")
            // A trigger's last column is its creation time.
            out += "\(line): \(result.stdout)\n"
        }
        return out
    }

    func expectSame(_ project: Project, _ server: MySQLCLITests.Server, _ db: String, _ before: (String, String), _ what: String) throws {
        let now = try snapshot(project, server, db)
        #expect(now == before.0, "\(what): names, comments, definers, settings and bodies as before:\n\(now)\nagainst\n\(before.0)")
        let shownNow = try shown(project, server, db)
        #expect(shownNow == before.1, "\(what): SHOW CREATE as before:\n\(shownNow)\nagainst\n\(before.1)")
    }

    /// The finding's paths on one instance: `ferry rollback RUN` after a replace import, `ferry
    /// recover` after kills inside the swap, and an append import (its snapshot and swap).
    @Test func rollbackRecoverAndAppendGiveTheObjectsBackByteForByte() throws {
        let s = try writes.setUp(failingSecond: false)
        defer { writes.tearDown(s); _ = try? cli.sql(s.project, s.server, "DROP USER IF EXISTS '\(Self.definer)'@'%';") }
        try makeObjects(s.project, s.server, in: s.target, fresh: false)
        let before = (try snapshot(s.project, s.server, s.target), try shown(s.project, s.server, s.target))
        #expect(before.0.contains("65C3A9\t63C3A920"), "the test makes the event `eé` commented `cé ...`: \(before.0)")
        #expect(before.0.contains("D0BFD180D0B8"), "and the cp1251 procedure `при`: \(before.0)")

        let applied = try s.project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let reverted = try s.project.run("rollback", try MySQLImportCLITests().runID(applied.stdout))
        #expect(reverted.code == 0 && reverted.stdout.contains("hold what they held before"), "\(reverted.all)")
        try expectSame(s.project, s.server, s.target, before, "ferry rollback")

        for point in ["change:mysql.swap.witnessed", "change:mysql.swap.renamed"] {
            s.project.environment["FERRY_TEST_KILL_AT"] = point
            let killed = try s.project.run("apply", "--auto-approve")
            s.project.environment["FERRY_TEST_KILL_AT"] = nil
            #expect(killed.code != 0, "\(killed.all)")
            let recovered = try s.project.run("recover")
            #expect(recovered.code == 0 && recovered.stdout.contains("as they were before"), "\(recovered.all)")
            try expectSame(s.project, s.server, s.target, before, "recover after a kill at \(point)")
        }

        try s.project.write("plans/main.json", """
        { "ferry": 1,
          "instances": { "a": { "engine": "mysql", "url": "\(s.server.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
          "imports": { "ia": { "into": "a", "database": "\(s.target)", "from": "data/b.sql", "onExisting": "append" } } }
        """)
        let appended = try s.project.run("apply", "--auto-approve")
        #expect(appended.code == 0, "\(appended.all)")
        try expectSame(s.project, s.server, s.target, before, "append")
        let undone = try s.project.run("rollback", try MySQLImportCLITests().runID(appended.stdout))
        #expect(undone.code == 0 && undone.stdout.contains("hold what they held before"), "the append's rollback finds nothing written since: \(undone.all)")
        try expectSame(s.project, s.server, s.target, before, "the append's rollback")
    }

    /// A copy to another server under another name, and a Ferry backup restored there.
    @Test func copyAndBackupRestoreGiveTheObjectsByteForByte() throws {
        let project = try Project()
        let a = try cli.server("FERRY_TEST_MYSQL_A"), b = try cli.server("FERRY_TEST_MYSQL_B")
        let db = "en\(UUID().uuidString.prefix(6).lowercased())"
        defer {
            _ = try? cli.sql(project, a, "DROP DATABASE IF EXISTS `\(db)`; DROP USER IF EXISTS '\(Self.definer)'@'%';")
            _ = try? cli.sql(project, b, "DROP DATABASE IF EXISTS `\(db)_c`; DROP DATABASE IF EXISTS `\(db)_r`; DROP USER IF EXISTS '\(Self.definer)'@'%';")
        }
        try makeObjects(project, a, in: db, fresh: true)
        try cli.sql(project, b, "SET NAMES utf8mb4; CREATE USER IF NOT EXISTS '\(Self.definer)'@'%'; DROP DATABASE IF EXISTS `\(db)_c`; DROP DATABASE IF EXISTS `\(db)_r`;")
        let source = (try snapshot(project, a, db), try shown(project, a, db))
        func plan(_ copies: String) -> String {
            """
            { "ferry": 1,
              "instances": {
                "src": { "engine": "mysql", "url": "\(a.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } },
                "dst": { "engine": "mysql", "url": "\(b.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } }
              },
              "backups": { "nightly": { "of": "src", "databases": ["\(db)"], "to": "../backups" } },
              "copies": { \(copies) } }
            """
        }
        try project.write("plans/main.json", plan("\"c\": { \"from\": \"src\", \"to\": \"dst\", \"databases\": { \"\(db)\": \"\(db)_c\" }, \"users\": \"skip\", \"onExisting\": \"replace\" }"))
        let copied = try project.run("apply", "--auto-approve")
        #expect(copied.code == 0, "\(copied.all)")
        try expectSame(project, b, "\(db)_c", source, "a copy under another name")

        let taken = try project.run("backup", "nightly")
        #expect(taken.code == 0, "\(taken.all)")
        let set = try #require(taken.stdout.components(separatedBy: "backup set ").dropFirst().first?.split(separator: " ").first.map(String.init), "\(taken.all)")
        try project.write("plans/main.json", plan("\"r\": { \"from\": \"src\", \"to\": \"dst\", \"databases\": { \"\(db)\": \"\(db)_r\" }, \"backup\": \"\(set)\", \"users\": \"skip\", \"onExisting\": \"replace\" }"))
        let restored = try project.run("apply", "--auto-approve")
        #expect(restored.code == 0, "\(restored.all)")
        try expectSame(project, b, "\(db)_r", source, "a Ferry backup restored")
    }

    /// F2: a `mariadb-dump` file with a latin1 procedure `p_lé` (its name in latin1 bytes after
    /// `SET character_set_client = latin1`) and cp1251 objects imports, and its objects are what
    /// the `mariadb` client makes of the same file.
    @Test func importOfAMariaDBDumpReadsNamesInTheFilesCharacterSet() throws {
        let s = try writes.setUp(failingSecond: false)
        let db = "\(s.tag)_src", byClient = "\(s.tag)_cl"
        defer { writes.tearDown(s); _ = try? cli.sql(s.project, s.server, "DROP USER IF EXISTS '\(Self.definer)'@'%';") }
        try makeObjects(s.project, s.server, in: db, fresh: true)
        // `mariadb-dump` writes this event's name in UTF-8 after `SET character_set_client =
        // cp1251`, which holds no 0x98: the `mariadb` client cannot load its file (1300), and
        // neither can an import. Its other objects stay.
        try cli.sql(s.project, s.server, "SET NAMES utf8mb4; DROP EVENT `\(db)`.`еИ`;")
        let dump = try s.project.runShell("MYSQL_PWD=\"$FERRY_TEST_MYSQL_PASSWORD\" mariadb-dump -h\(s.server.host) -P\(s.server.port) -u\(s.server.user) --routines --events --triggers --skip-dump-date \(db) > '\(s.project.root)/plans/data/a.sql'")
        #expect(dump.code == 0, "\(dump.all)")
        try cli.sql(s.project, s.server, "DROP DATABASE IF EXISTS `\(byClient)`; CREATE DATABASE `\(byClient)` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin; ALTER DATABASE `\(s.target)` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;")
        let loaded = try s.project.runShell("MYSQL_PWD=\"$FERRY_TEST_MYSQL_PASSWORD\" mariadb -h\(s.server.host) -P\(s.server.port) -u\(s.server.user) \(byClient) < '\(s.project.root)/plans/data/a.sql'")
        #expect(loaded.code == 0, "\(loaded.all)")
        let expected = try snapshot(s.project, s.server, byClient)
        #expect(expected.contains("705F6CC3A9"), "the client makes `p_lé`: \(expected)")
        let applied = try s.project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let imported = try snapshot(s.project, s.server, s.target)
        #expect(imported == expected, "the import makes what `mariadb target < file` makes:\n\(imported)\nagainst\n\(expected)")
        try cli.sql(s.project, s.server, "DROP DATABASE IF EXISTS `\(byClient)`;")
    }

    /// F1: a `mariadb-dump --databases` file's `CREATE DATABASE ... COLLATE utf8mb4_bin` is
    /// skipped (bound to the shadow), and the shadow had the server's default (latin1): a
    /// function made before the dump's first `ALTER DATABASE` got latin1 for its parameter. Its
    /// character set and collation now go to the shadow, as the `mariadb` client gives them to the
    /// database it makes: the import answers as the source does.
    @Test func importOfADatabasesDumpTakesItsCollation() throws {
        let s = try writes.setUp(failingSecond: false)
        let db = "\(s.tag)_src", made = "\(s.tag)_n"
        defer { writes.tearDown(s) }
        try cli.sql(s.project, s.server, """
        SET NAMES utf8mb4; DROP DATABASE IF EXISTS `\(db)`; CREATE DATABASE `\(db)` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
        CREATE FUNCTION `\(db)`.f_v(s VARCHAR(10)) RETURNS VARCHAR(64) RETURN CONCAT(HEX(s), '|', COLLATION(s));
        CREATE TABLE `\(db)`.t (id INT PRIMARY KEY); INSERT INTO `\(db)`.t VALUES (1);
        """)
        let dump = try s.project.runShell("MYSQL_PWD=\"$FERRY_TEST_MYSQL_PASSWORD\" mariadb-dump -h\(s.server.host) -P\(s.server.port) -u\(s.server.user) --routines --events --triggers --skip-dump-date --databases \(db) > '\(s.project.root)/plans/data/a.sql'")
        #expect(dump.code == 0, "\(dump.all)")
        try s.project.write("plans/main.json", """
        { "ferry": 1,
          "instances": { "a": { "engine": "mysql", "url": "\(s.server.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
          "imports": { "ia": { "into": "a", "database": "\(made)", "from": "data/a.sql", "onExisting": "replace" } } }
        """)
        let applied = try s.project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let answer = "C3A9E282ACC3BC|utf8mb4_bin\n"
        #expect(try cli.sql(s.project, s.server, "SET NAMES utf8mb4; SELECT `\(db)`.f_v('é€ü');") == answer, "the source")
        #expect(try cli.sql(s.project, s.server, "SET NAMES utf8mb4; SELECT `\(made)`.f_v('é€ü');") == answer, "the import answers as the source")
        #expect(try cli.sql(s.project, s.server, "SELECT DATABASE_COLLATION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '\(made)'; SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '\(made)';") == "utf8mb4_bin\nutf8mb4_bin\n")
    }
}
