import Foundation
import Testing

/// Issue 21 (storage leftovers): a backup location whose key or login may list but not write
/// fails while planning, not at the upload: the plan-time check writes a small object (or file,
/// or directory) and deletes it at once. Exit 1 with `OperationDenied.ReadOnly` and the place of
/// `to`, nothing of a run begun, and no object of the check left behind.
extension CloudBackupCLITests {
    @Test func aLocationThatListsButCannotWriteIsRefusedAtPlanTime() throws {
        let project = try Project()
        try configure(project)
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try exec(project, "var/a/app.db", "CREATE TABLE t(v); INSERT INTO t VALUES (1);")
        try exec(project, "var/a/small.db", "CREATE TABLE s(v); INSERT INTO s VALUES (1);")
        let tag = "w-\(UUID().uuidString.prefix(8))"
        let account = try CloudStandIns.variable("FERRY_TEST_AZURE_ACCOUNT")
        // A container SAS that may read and list, not write (sp=rl), made with azure-storage-blob.
        let sas = try CloudStandIns.python("""
            import datetime, sys
            from azure.storage.blob import generate_container_sas
            print(generate_container_sas(sys.argv[1], "backups", account_key=sys.argv[2], permission="rl",
                  expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)))
            """, [account, try CloudStandIns.variable("FERRY_TEST_AZURE_KEY")]).trimmingCharacters(in: .whitespacesAndNewlines)
        let listOnlyS3 = ["AWS_ACCESS_KEY_ID": try CloudStandIns.variable("FERRY_TEST_MOTO_LIST_ONLY_ACCESS_KEY"),
                          "AWS_SECRET_ACCESS_KEY": try CloudStandIns.variable("FERRY_TEST_MOTO_LIST_ONLY_SECRET")]
        let listOnlyGS = ["GCS_HMAC_ACCESS_ID": try CloudStandIns.variable("FERRY_TEST_MOTO_LIST_ONLY_ACCESS_KEY"),
                          "GCS_HMAC_SECRET": try CloudStandIns.variable("FERRY_TEST_MOTO_LIST_ONLY_SECRET")]
        let listOnlyABS = ["AZURE_STORAGE_CONNECTION_STRING": "BlobEndpoint=\(try CloudStandIns.variable("FERRY_TEST_AZURE_ENDPOINT"))",
                           "AZURE_STORAGE_SAS_TOKEN": sas]
        let full = try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_FULL")
        let cases: [(to: String, environment: [String: String])] = [
            ("s3://ferry-s3/backups/\(tag)", listOnlyS3),
            ("gs://ferry-gcs/backups/\(tag)", listOnlyGS),
            ("abs://\(account)/backups/\(tag)", listOnlyABS),
            // The FTP login's MLST permissions say it may create files; the server refuses uploads.
            (try Self.ftpLocation(tag, user: full), [:]),
        ]
        let saved = project.environment
        for (to, environment) in cases {
            project.environment = saved.merging(environment) { $1 }
            try project.write("plans/main.json", plan(to))
            if to.hasPrefix("ftp:") {
                // The set directory exists (a writer made it), so the check stores a file in it.
                let directory = try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_ROOT") + "/backups/\(tag)"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            for command in [["plan"], ["backup", "nb"], ["apply", "--auto-approve"]] {
                let refused = try project.run(command)
                #expect(refused.code == 1, "\(to) \(command): \(refused.all)")
                #expect(refused.stderr.contains("error[OperationDenied.ReadOnly]"), "\(to) \(command): \(refused.all)")
                #expect(refused.stderr.contains("backups.nb.to"), "\(to) \(command): \(refused.all)")
                #expect(refused.stderr.contains("may list the location but not write") || refused.stderr.contains("not store files"),
                        "\(to) \(command): \(refused.all)")
                for secret in [try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_PASSWORD"), try CloudStandIns.variable("FERRY_TEST_MOTO_LIST_ONLY_SECRET"),
                               try CloudStandIns.variable("FERRY_TEST_AZURE_KEY")] {
                    #expect(!refused.all.contains(secret), "\(to) \(command)")
                }
            }
            #expect(try objects(Location(scheme: String(to.prefix(while: { $0 != ":" })), to: to)).isEmpty, "\(to)")
        }
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs")) ?? []).isEmpty)

        // With a key that may write, the check leaves nothing behind and the backup is taken.
        project.environment = saved
        for to in ["s3://ferry-s3/backups/\(tag)-ok", "abs://\(account)/backups/\(tag)-ok", try Self.ftpLocation("\(tag)-ok")] {
            try project.write("plans/main.json", plan(to))
            let planned = try project.run(["plan"])
            #expect(planned.code == 0 || planned.code == 2, "\(to): \(planned.all)")
            let scheme = String(to.prefix(while: { $0 != ":" }))
            #expect(try objects(Location(scheme: scheme, to: to)).isEmpty, "\(to): the check's object is gone")
            let applied = try project.run(["apply", "--auto-approve"])
            #expect(applied.code == 0, "\(to): \(applied.all)")
            #expect(try objects(Location(scheme: scheme, to: to)).allSatisfy { !$0.contains(".ferry-write-check") }, "\(to)")
        }
    }
}

extension CloudBackupCLITests {
    /// An `ftp:` location prints with `***` for its password reference in plans and steps, as in
    /// its errors (SPEC §2), and an unusable location that a copy reads sets from is one error,
    /// printed once, not once for the backup and again for the copy.
    @Test func anFTPLocationPrintsItsPasswordAsStarsAndItsErrorOnce() throws {
        let project = try Project()
        try configure(project)
        for directory in ["var/a", "var/b"] {
            try FileManager.default.createDirectory(atPath: project.root + "/" + directory, withIntermediateDirectories: true)
        }
        try exec(project, "var/a/app.db", "CREATE TABLE t(v); INSERT INTO t VALUES (1);")
        try exec(project, "var/a/small.db", "CREATE TABLE s(v); INSERT INTO s VALUES (1);")
        let tag = "p-\(UUID().uuidString.prefix(8))"
        try project.write("plans/main.json", plan(try Self.ftpLocation(tag)))
        let planned = try project.run(["plan"])
        #expect(planned.code == 0 || planned.code == 2, "\(planned.all)")
        let writer = try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_WRITER")
        #expect(planned.stdout.contains("ftp://\(writer):***@"), "\(planned.all)")
        #expect(!planned.all.contains("${env:"), "\(planned.all)")
        let applied = try project.run(["apply", "--auto-approve"])
        #expect(applied.code == 0, "\(applied.all)")
        #expect(applied.stdout.contains("ftp://\(writer):***@") && !applied.all.contains("${env:"), "\(applied.all)")

        let host = try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_HOST")
        let unusedPort = try #require(Int(host.split(separator: ":")[1])) + 7
        let unreachable = "ftp://\(writer):${env:FERRY_FTP_PW}@127.0.0.1:\(unusedPort)/backups/\(tag)"
        try project.write("plans/main.json", plan(unreachable, copies: #""c": { "from": "a", "to": "b", "databases": ["app"], "at": "2026-11-30T12:00:00Z" }"#))
        for command in [["plan"], ["apply", "--auto-approve"]] {
            let refused = try project.run(command)
            #expect(refused.code == 1, "\(command): \(refused.all)")
            #expect(refused.stderr.components(separatedBy: "error[ImportError]").count == 2, "\(command): \(refused.all)")
            #expect(refused.stderr.contains("ftp://\(writer):***@127.0.0.1:\(unusedPort)"), "\(command): \(refused.all)")
            #expect(!refused.all.contains("${env:"), "\(command): \(refused.all)")
        }
    }
}

extension CloudStandIns {
    /// Runs `script` with the stand-ins' Python (azure-storage-blob, boto3) and returns its stdout.
    static func python(_ script: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try variable("FERRY_TEST_STORAGE_PYTHON"))
        process.arguments = ["-c", script] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return String(decoding: data, as: UTF8.self)
    }
}

extension CloudBackupCLITests {
    /// Fresh tester round 35b, F1: a backup to an FTP location whose directories did not exist,
    /// by a login the server lets make directories but not store files (over its quota), rolled
    /// back "as they were" and left the directories its run made. The run journals the levels it
    /// makes; the rollback removes them while empty, on FTP and in a local location alike, and
    /// leaves a level that existed before.
    @Test func aRolledBackBackupRemovesTheDirectoriesItsRunMade() throws {
        let project = try Project()
        try configure(project)
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try exec(project, "var/a/app.db", "CREATE TABLE t(v); INSERT INTO t VALUES (1);")
        let tag = "made-\(UUID().uuidString.prefix(8))"
        let ftpRoot = try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_ROOT")
        let full = try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_FULL")
        let ftp = try Self.ftpLocation("\(tag)/deep/er", user: full)
        try FileManager.default.createDirectory(atPath: project.root + "/kept", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(ftpRoot)/backups", withIntermediateDirectories: true)
        try project.write("plans/main.json", """
            { "ferry": 1,
              "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
              "backups": { "local": { "of": "a", "databases": ["app"], "to": "../kept/\(tag)/x" },
                           "remote": { "of": "a", "databases": ["app"], "to": "\(ftp)", "after": ["backup.local"] } } }
            """)
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 3 && applied.all.contains("as they were"), "\(applied.all)")
        #expect(!FileManager.default.fileExists(atPath: "\(ftpRoot)/backups/\(tag)"), "the FTP directories the run made are gone")
        #expect(FileManager.default.fileExists(atPath: "\(ftpRoot)/backups"), "a level that existed before stays")
        #expect(!FileManager.default.fileExists(atPath: project.root + "/kept/\(tag)"), "the local directories the run made are gone")
        #expect(FileManager.default.fileExists(atPath: project.root + "/kept"), "a local level that existed before stays")
        #expect(!applied.all.contains(try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_PASSWORD")))
    }
}
