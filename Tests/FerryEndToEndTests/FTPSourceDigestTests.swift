import Foundation
import Testing

/// An `ftp://` or `ftps://` import source has a digest (its `MLST` modification time, size and
/// unique id, else `MDTM` and `SIZE`), so a plan after a clean apply says "up to date" instead of
/// importing the file again at every plan (fresh tester W8), and a changed file reads as
/// "source changed". The server: `scripts/storage-servers.sh`'s pyftpdlib (plain and explicit TLS).
extension CloudBackupCLITests {
    @Test(arguments: ["ftp", "ftps"]) func anFTPSourceIsUpToDateUntilItsFileChanges(scheme: String) throws {
        let project = try Project()
        try configure(project)
        project.environment["SSL_CERT_FILE"] = try CloudStandIns.variable("FERRY_TEST_FTPS_CA")
        let tag = "digest-\(UUID().uuidString.prefix(8))"
        let directory = try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_ROOT") + "/sources/\(tag)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/seed.sql"
        func publish(rows: Int, modified: Date) throws {
            var sql = "CREATE TABLE t (id INTEGER PRIMARY KEY);\n"
            for i in 1...rows { sql += "INSERT INTO t VALUES (\(i));\n" }
            try sql.write(toFile: file, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.modificationDate: modified], ofItemAtPath: file)
        }
        let host = try CloudStandIns.variable(scheme == "ftp" ? "FERRY_TEST_FTP_BACKUP_HOST" : "FERRY_TEST_FTPS_BACKUP_HOST")
        let reader = try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_READER")
        try project.write("plans/main.json", """
        { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
          "imports": { "app": { "into": "a", "database": "app", "format": "sql", "onExisting": "replace",
                                "from": "\(scheme)://\(reader):${env:FERRY_FTP_PW}@\(host)/sources/\(tag)/seed.sql" } } }
        """)
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        try publish(rows: 3, modified: start)
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let again = try project.run("plan", "--detailed-exitcode")
        #expect(again.code == 0, "no change since the apply: \(again.all)")
        #expect(!again.all.contains("no digest"), "\(again.all)")
        // Another file under the same name (a later modification time and another size).
        try publish(rows: 5, modified: start.addingTimeInterval(60))
        let changed = try project.run("plan", "--detailed-exitcode")
        #expect(changed.code == 2 && changed.all.contains("source changed"), "\(changed.all)")
        // The same size, a later modification time: still seen.
        try publish(rows: 5, modified: start.addingTimeInterval(120))
        let applied2 = try project.run("apply", "--auto-approve")
        #expect(applied2.code == 0, "\(applied2.all)")
        #expect(try project.query("var/a/app.db", "SELECT count(*) FROM t") == [["5"]])
        try publish(rows: 5, modified: start.addingTimeInterval(180))
        let touched = try project.run("plan", "--detailed-exitcode")
        #expect(touched.code == 2 && touched.all.contains("source changed"), "\(touched.all)")
        // A file that is gone: the plan says why it cannot tell, with no password in it.
        try FileManager.default.removeItem(atPath: file)
        let gone = try project.run("plan", "--detailed-exitcode")
        #expect(gone.code == 2 && gone.all.contains("cannot read it now") && gone.all.contains("no such file"), "\(gone.code) \(gone.all)")
        #expect(!gone.all.contains(try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_PASSWORD")))
    }
}
