import CSQLite
import Foundation
import Testing

/// Backups to storage locations (issue 21 §3): sets uploaded to `s3://`, `gs://`, `abs://` and
/// `ftp://`, listed, found by `backup`/`at`, pruned by `keep`, invisible until complete; checked
/// against the stand-ins of scripts/storage-servers.sh, whose listings are read with boto3 and
/// azure-storage-blob, and for FTP (pyftpdlib) on the server's own directory (not with Ferry's
/// own client).
@Suite(.serialized) struct CloudBackupCLITests {
    struct Location {
        var scheme: String
        var to: String
    }

    /// The project's environment for the three stores, with keys only in variables.
    func configure(_ project: Project) throws {
        let endpoint = try CloudStandIns.variable("FERRY_TEST_MOTO_AUTH_ENDPOINT")
        project.environment["AWS_ENDPOINT_URL_S3"] = endpoint
        project.environment["AWS_ACCESS_KEY_ID"] = try CloudStandIns.variable("FERRY_TEST_MOTO_AUTH_ACCESS_KEY")
        project.environment["AWS_SECRET_ACCESS_KEY"] = try CloudStandIns.variable("FERRY_TEST_MOTO_AUTH_SECRET")
        project.environment["AWS_REGION"] = "us-east-1"
        project.environment["STORAGE_EMULATOR_HOST"] = endpoint
        project.environment["GCS_HMAC_ACCESS_ID"] = try CloudStandIns.variable("FERRY_TEST_MOTO_AUTH_ACCESS_KEY")
        project.environment["GCS_HMAC_SECRET"] = try CloudStandIns.variable("FERRY_TEST_MOTO_AUTH_SECRET")
        project.environment["AZURE_STORAGE_CONNECTION_STRING"] = "DefaultEndpointsProtocol=http;AccountName=\(try CloudStandIns.variable("FERRY_TEST_AZURE_ACCOUNT"));AccountKey=\(try CloudStandIns.variable("FERRY_TEST_AZURE_KEY"));BlobEndpoint=\(try CloudStandIns.variable("FERRY_TEST_AZURE_ENDPOINT"))"
        try CloudStandIns.publish([], prefix: "none", container: "backups")
        // Parts of 5 MiB (S3's minimum), so that a 12 MB database goes up in three.
        project.environment["FERRY_TEST_UPLOAD_PART_SIZE"] = String(5 << 20)
        // FTP: the password by reference in the URL, or (the second FTP location) from a netrc file.
        project.environment["FERRY_FTP_PW"] = try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_PASSWORD")
        let host = try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_HOST").split(separator: ":")[0]
        try project.write("netrc", "machine \(host) login \(try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_WRITER")) password \(try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_PASSWORD"))\n")
        project.environment["NETRC"] = project.root + "/netrc"
        // FTPS: the stand-in's certificate comes from its own throwaway CA, the one trusted here.
        project.environment["SSL_CERT_FILE"] = try CloudStandIns.variable("FERRY_TEST_FTPS_CA")
    }

    /// The FTPS (explicit TLS) backup location for `tag` on `host` (the FTPS stand-in by default).
    static func ftpsLocation(_ tag: String, host: String? = nil) throws -> String {
        "ftps://\(try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_WRITER")):${env:FERRY_FTP_PW}@"
            + "\(try host ?? CloudStandIns.variable("FERRY_TEST_FTPS_BACKUP_HOST"))/backups/\(tag)"
    }

    /// The FTP backup location for `tag`, logged in as `user` with the password of `FERRY_FTP_PW`.
    static func ftpLocation(_ tag: String, user: String? = nil) throws -> String {
        let login = try user ?? CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_WRITER")
        return "ftp://\(login):${env:FERRY_FTP_PW}@\(try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_HOST"))/backups/\(tag)"
    }

    func locations(_ tag: String) throws -> [Location] {
        let account = try CloudStandIns.variable("FERRY_TEST_AZURE_ACCOUNT")
        return [Location(scheme: "s3", to: "s3://ferry-s3/backups/\(tag)"),
                Location(scheme: "gs", to: "gs://ferry-gcs/backups/\(tag)/"),
                Location(scheme: "abs", to: "abs://\(account)/backups/\(tag)"),
                Location(scheme: "ftp", to: try Self.ftpLocation(tag)),
                Location(scheme: "ftpnetrc", to: "ftp://\(try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_HOST"))/backups/netrc-\(tag)/"),
                Location(scheme: "ftps", to: try Self.ftpsLocation("ftps-\(tag)"))]
    }

    /// The directory an FTP location's path names on the server's own disk.
    func ftpDirectory(_ location: Location) throws -> String {
        let path = location.to.components(separatedBy: "/backups/").last ?? ""
        return try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_ROOT") + "/backups/" + path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
    }

    /// Every object name under a location, listed with boto3 / azure-storage-blob.
    func objects(_ location: Location) throws -> [String] {
        if location.scheme.hasPrefix("ftp") {
            // Files (temporaries too) under the FTP server's directory, read from its disk.
            let directory = try ftpDirectory(location)
            let walker = FileManager.default.enumerator(atPath: directory)
            var names: [String] = []
            while let path = walker?.nextObject() as? String {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: directory + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue {
                    names.append("backups/" + path)
                }
            }
            return names.sorted()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try CloudStandIns.variable("FERRY_TEST_STORAGE_PYTHON"))
        let connection = "DefaultEndpointsProtocol=http;AccountName=\(try CloudStandIns.variable("FERRY_TEST_AZURE_ACCOUNT"));AccountKey=\(try CloudStandIns.variable("FERRY_TEST_AZURE_KEY"));BlobEndpoint=\(try CloudStandIns.variable("FERRY_TEST_AZURE_ENDPOINT"))"
        process.arguments = ["-c", """
            import sys, boto3
            from urllib.parse import urlsplit
            from azure.storage.blob import BlobServiceClient
            to, endpoint, access, secret, conn = sys.argv[1:6]
            u = urlsplit(to)
            if u.scheme == 'abs':
                container, _, prefix = u.path.lstrip('/').partition('/')
                service = BlobServiceClient.from_connection_string(conn)
                try: names = [b.name for b in service.get_container_client(container).list_blobs(name_starts_with=prefix.rstrip('/') + '/')]
                except Exception as e:
                    if 'ContainerNotFound' not in str(e): raise
                    names = []
            else:
                s3 = boto3.client('s3', endpoint_url=endpoint, region_name='us-east-1', aws_access_key_id=access, aws_secret_access_key=secret)
                names = [o['Key'] for page in s3.get_paginator('list_objects_v2').paginate(Bucket=u.netloc, Prefix=u.path.lstrip('/').rstrip('/') + '/')
                         for o in page.get('Contents', [])]
            print('\\n'.join(sorted(names)))
            """, location.to, try CloudStandIns.variable("FERRY_TEST_MOTO_AUTH_ENDPOINT"),
            try CloudStandIns.variable("FERRY_TEST_MOTO_AUTH_ACCESS_KEY"), try CloudStandIns.variable("FERRY_TEST_MOTO_AUTH_SECRET"), connection]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// Puts a user's object `name` (a path below the location) holding `body`, or deletes it
    /// (`body` nil), with boto3 / azure-storage-blob, or on the FTP server's own disk.
    func putUsersObject(_ location: Location, _ name: String, _ body: String?) throws {
        if location.scheme.hasPrefix("ftp") {
            let path = try ftpDirectory(location) + "/" + name
            if let body { try body.write(toFile: path, atomically: false, encoding: .utf8) } else { try FileManager.default.removeItem(atPath: path) }
            return
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try CloudStandIns.variable("FERRY_TEST_STORAGE_PYTHON"))
        let connection = "DefaultEndpointsProtocol=http;AccountName=\(try CloudStandIns.variable("FERRY_TEST_AZURE_ACCOUNT"));AccountKey=\(try CloudStandIns.variable("FERRY_TEST_AZURE_KEY"));BlobEndpoint=\(try CloudStandIns.variable("FERRY_TEST_AZURE_ENDPOINT"))"
        process.arguments = ["-c", """
            import sys, boto3
            from urllib.parse import urlsplit
            from azure.storage.blob import BlobServiceClient
            to, endpoint, access, secret, conn, name, delete, body = sys.argv[1:9]
            u = urlsplit(to)
            if u.scheme == 'abs':
                container, _, prefix = u.path.lstrip('/').partition('/')
                client = BlobServiceClient.from_connection_string(conn).get_container_client(container)
                key = prefix.rstrip('/') + '/' + name
                client.delete_blob(key) if delete == '1' else client.upload_blob(key, body.encode())
            else:
                s3 = boto3.client('s3', endpoint_url=endpoint, region_name='us-east-1', aws_access_key_id=access, aws_secret_access_key=secret)
                key = u.path.lstrip('/').rstrip('/') + '/' + name
                s3.delete_object(Bucket=u.netloc, Key=key) if delete == '1' else s3.put_object(Bucket=u.netloc, Key=key, Body=body.encode())
            """, location.to, try CloudStandIns.variable("FERRY_TEST_MOTO_AUTH_ENDPOINT"),
            try CloudStandIns.variable("FERRY_TEST_MOTO_AUTH_ACCESS_KEY"), try CloudStandIns.variable("FERRY_TEST_MOTO_AUTH_SECRET"), connection, name,
            body == nil ? "1" : "0", body ?? ""]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "put \(name) under \(location.to)")
    }

    /// Writes object `name` (a path below an object-store location) again with its last byte
    /// flipped (same size, other bytes), with boto3 / azure-storage-blob; returns its new bytes.
    func rewriteSameSize(_ location: Location, _ name: String) throws -> String {
        if location.scheme.hasPrefix("ftp") {
            // On the FTP server's own disk, as a user's later upload would leave it: a second
            // later than the set's (the `modify` fact counts whole seconds), same size, same file.
            Thread.sleep(forTimeInterval: 1.1)
            let path = try ftpDirectory(location) + "/" + name
            var body = try Data(contentsOf: URL(fileURLWithPath: path))
            body[body.count - 1] ^= 0xFF
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.write(contentsOf: body)
            try handle.close()
            return body.base64EncodedString()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try CloudStandIns.variable("FERRY_TEST_STORAGE_PYTHON"))
        let connection = "DefaultEndpointsProtocol=http;AccountName=\(try CloudStandIns.variable("FERRY_TEST_AZURE_ACCOUNT"));AccountKey=\(try CloudStandIns.variable("FERRY_TEST_AZURE_KEY"));BlobEndpoint=\(try CloudStandIns.variable("FERRY_TEST_AZURE_ENDPOINT"))"
        process.arguments = ["-c", """
            import sys, hashlib, boto3
            from urllib.parse import urlsplit
            from azure.storage.blob import BlobServiceClient
            to, endpoint, access, secret, conn, name = sys.argv[1:7]
            u = urlsplit(to)
            if u.scheme == 'abs':
                container, _, prefix = u.path.lstrip('/').partition('/')
                client = BlobServiceClient.from_connection_string(conn).get_container_client(container)
                key = prefix.rstrip('/') + '/' + name
                body = bytearray(client.download_blob(key).readall()); body[-1] ^= 0xFF
                client.upload_blob(key, bytes(body), overwrite=True)
            else:
                s3 = boto3.client('s3', endpoint_url=endpoint, region_name='us-east-1', aws_access_key_id=access, aws_secret_access_key=secret)
                key = u.path.lstrip('/').rstrip('/') + '/' + name
                body = bytearray(s3.get_object(Bucket=u.netloc, Key=key)['Body'].read()); body[-1] ^= 0xFF
                s3.put_object(Bucket=u.netloc, Key=key, Body=bytes(body))
            print(hashlib.sha256(bytes(body)).hexdigest())
            """, location.to, try CloudStandIns.variable("FERRY_TEST_MOTO_AUTH_ENDPOINT"),
            try CloudStandIns.variable("FERRY_TEST_MOTO_AUTH_ACCESS_KEY"), try CloudStandIns.variable("FERRY_TEST_MOTO_AUTH_SECRET"), connection, name]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "rewrite \(name) under \(location.to)")
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// How many multipart uploads are unfinished under an s3:// or gs:// location (boto3).
    func unfinishedUploads(_ location: Location) throws -> Int {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try CloudStandIns.variable("FERRY_TEST_STORAGE_PYTHON"))
        process.arguments = ["-c", """
            import sys, boto3
            from urllib.parse import urlsplit
            to, endpoint, access, secret = sys.argv[1:5]
            u = urlsplit(to)
            s3 = boto3.client('s3', endpoint_url=endpoint, region_name='us-east-1', aws_access_key_id=access, aws_secret_access_key=secret)
            print(len(s3.list_multipart_uploads(Bucket=u.netloc, Prefix=u.path.lstrip('/').rstrip('/') + '/').get('Uploads', [])))
            """, location.to, try CloudStandIns.variable("FERRY_TEST_MOTO_AUTH_ENDPOINT"),
            try CloudStandIns.variable("FERRY_TEST_MOTO_AUTH_ACCESS_KEY"), try CloudStandIns.variable("FERRY_TEST_MOTO_AUTH_SECRET")]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Int(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// The set ids with a manifest under a location.
    func completeSets(_ location: Location) throws -> [String] {
        try objects(location).filter { $0.hasSuffix("/manifest.json") }.map { $0.split(separator: "/").dropLast().last.map(String.init) ?? "" }.sorted()
    }

    func exec(_ project: Project, _ path: String, _ sql: String) throws {
        var db: OpaquePointer?
        guard sqlite3_open(project.root + "/" + path, &db) == SQLITE_OK else { throw Project.QueryError(message: "open") }
        defer { sqlite3_close(db) }
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw Project.QueryError(message: String(cString: sqlite3_errmsg(db))) }
    }

    func plan(_ to: String, copies: String = "") -> String {
        """
        { "ferry": 1,
          "instances": { "a": { "engine": "sqlite", "path": "../var/a" }, "b": { "engine": "sqlite", "path": "../var/b" } },
          "backups": { "nb": { "of": "a", "databases": ["app", "small"], "to": "\(to)", "keep": 2 } },
          "copies": { \(copies) } }
        """
    }

    func setID(_ result: Project.Result) -> String? {
        result.stdout.components(separatedBy: "backup set ").dropFirst().first?.split(separator: " ").first.map(String.init)
    }

    @Test func backupsToEachStoreAreListedRestoredAtATimeAndPruned() throws {
        let project = try Project()
        try configure(project)
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: project.root + "/var/b", withIntermediateDirectories: true)
        // app: about 12 MB (three upload parts); small: one part.
        try exec(project, "var/a/app.db", "CREATE TABLE t(v BLOB, n INT); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000) INSERT INTO t SELECT randomblob(4000), i FROM c;")
        try exec(project, "var/a/small.db", "CREATE TABLE s(v TEXT); INSERT INTO s VALUES ('one');")
        let tag = "t-\(UUID().uuidString.prefix(8))"
        var outputs = ""
        for location in try locations(tag) {
            try project.write("plans/main.json", plan(location.to))
            var ids: [String] = []
            var between: Date?
            for round in 1...3 {
                try exec(project, "var/a/small.db", "UPDATE s SET v = 'round \(round)';")
                let taken = try project.run("backup", "nb")
                outputs += taken.all
                #expect(taken.code == 0, "\(location.scheme): \(taken.all)")
                ids.append(try #require(setID(taken)))
                if round == 2 { Thread.sleep(forTimeInterval: 1.1); between = Date(); Thread.sleep(forTimeInterval: 1.1) }
                // keep 2: never more than two complete sets, the newest ones.
                #expect(try completeSets(location) == Array(ids.suffix(2)).sorted(), "\(location.scheme) round \(round)")
            }
            // Only the sets' own objects are there: two sets of two files and a manifest.
            let listed = try objects(location)
            #expect(listed.count == 6, "\(location.scheme): \(listed)")
            // A copy `at` a time between the second and third set restores the second.
            let at = ISO8601DateFormatter().string(from: try #require(between))
            try project.write("plans/main.json", plan(location.to, copies: """
                "restore": { "from": "a", "to": "b", "databases": { "small": "small_\(location.scheme)", "app": "app_\(location.scheme)" }, "at": "\(at)" }
                """))
            let restored = try project.run("apply", "--auto-approve", "--target", "copy.restore")
            outputs += restored.all + (try project.run("plan")).all
            #expect(restored.code == 0, "\(location.scheme): \(restored.all)")
            #expect(try project.query("var/b/small_\(location.scheme).db", "SELECT v FROM s") == [["round 2"]], "\(location.scheme)")
            #expect(try project.query("var/b/app_\(location.scheme).db", "SELECT count(*), sum(n) FROM t") == [["3000", "4501500"]])
            // Nothing of the downloads stays behind in the state directory.
            let spool = (FileManager.default.enumerator(atPath: project.root + "/.ferry")?.allObjects as? [String] ?? []).filter { $0.contains("spool") }
            #expect(spool.isEmpty, "\(spool)")
        }
        for secret in [try CloudStandIns.variable("FERRY_TEST_MOTO_AUTH_SECRET"), try CloudStandIns.variable("FERRY_TEST_AZURE_KEY"),
                       try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_PASSWORD")] {
            #expect(!CloudStandIns.allText(under: project.root + "/.ferry").contains(secret))
            #expect(!outputs.contains(secret))
        }
        // The FTP location is journaled with its password's reference, never the password.
        #expect(CloudStandIns.allText(under: project.root + "/.ferry").contains("${env:FERRY_FTP_PW}"))
    }

    /// Fresh tester round 38b, F4's rest: a prune removes a set's file on a storage location only
    /// while its size is the manifest's, and an object store's file only while its `ETag` is the
    /// one recorded when it was uploaded: a user's object written at `small.db` of an old set with
    /// the same size and other bytes stays (the size alone let it go). The untouched file of the
    /// same set goes. s3://, gs:// and abs://; and ftp:// and ftps://, whose tag is the `MLSD`
    /// facts `modify` and `unique` (round 41, F1's rest: the size was the only proof there).
    @Test func aSameSizeObjectOfAUsersAtASetsFileNameOutlivesThePrune() throws {
        let project = try Project()
        try configure(project)
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try exec(project, "var/a/app.db", "CREATE TABLE t(v TEXT); INSERT INTO t VALUES ('app');")
        try exec(project, "var/a/small.db", "CREATE TABLE s(v TEXT); INSERT INTO s VALUES ('one');")
        let tag = "e-\(UUID().uuidString.prefix(8))"
        for location in try locations(tag) where location.scheme != "ftpnetrc" {
            try project.write("plans/main.json", plan(location.to).replacingOccurrences(of: "\"keep\": 2", with: "\"keep\": 1"))
            let first = try project.run("backup", "nb")
            #expect(first.code == 0, "\(location.scheme): \(first.all)")
            let id = try #require(setID(first))
            let mine = try rewriteSameSize(location, "\(id)/small.db")
            let second = try project.run("backup", "nb")
            #expect(second.code == 0 && second.all.contains("small.db"), "\(location.scheme): \(second.all)")
            let listed = try objects(location)
            #expect(listed.contains { $0.hasSuffix("/\(id)/small.db") }, "\(location.scheme): the user's object stays: \(listed)")
            #expect(!listed.contains { $0.hasSuffix("/\(id)/app.db") } && !listed.contains { $0.hasSuffix("/\(id)/manifest.json") },
                    "\(location.scheme): the set's own files go: \(listed)")
            #expect(!mine.isEmpty)
        }
    }

    @Test func anUploadKilledMidwayLeavesNoSetThatAtWouldPick() throws {
        let project = try Project()
        try configure(project)
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try exec(project, "var/a/app.db", "CREATE TABLE t(v BLOB, n INT); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000) INSERT INTO t SELECT randomblob(4000), i FROM c;")
        try exec(project, "var/a/small.db", "CREATE TABLE s(v TEXT); INSERT INTO s VALUES ('good');")
        let tag = "k-\(UUID().uuidString.prefix(8))"
        for location in try locations(tag) {
            try exec(project, "var/a/small.db", "UPDATE s SET v = 'good';")
            try project.write("plans/main.json", plan(location.to))
            let good = try project.run("backup", "nb")
            #expect(good.code == 0, "\(good.all)")
            let goodID = try #require(setID(good))
            try exec(project, "var/a/small.db", "UPDATE s SET v = 'killed';")
            // Killed after the second part of app.db went up, and (a second run) after app.db was
            // uploaded whole but before small.db and the manifest.
            for point in ["change:upload.part#2", "change:backup.uploaded#1"] {
                project.environment["FERRY_TEST_KILL_AT"] = point
                let killed = try project.run("backup", "nb")
                project.environment["FERRY_TEST_KILL_AT"] = nil
                #expect(killed.code != 0, "\(location.scheme) \(point): \(killed.all)")
                if location.scheme.hasPrefix("ftp") && point.hasPrefix("change:upload.part") {
                    // The file went up under its temporary name: there, but not a file of any set.
                    let staged = try objects(location)
                    #expect(staged.contains { $0.hasSuffix("/.app.db.ferry-part") }, "\(staged)")
                }
                #expect(try completeSets(location) == [goodID], "\(location.scheme) \(point)")
                // Round 37b, F1: a user's objects put under the killed set's prefix (names close
                // to Ferry's) are not the run's: recover leaves them.
                var mine: [String] = []
                if point == "change:backup.uploaded#1",
                   let killedID = try objects(location).compactMap({ name -> String? in
                       let parts = name.split(separator: "/").map(String.init)
                       return parts.count >= 2 && parts[parts.count - 1] == "app.db" && parts[parts.count - 2] != goodID ? parts[parts.count - 2] : nil
                   }).first {
                    for name in ["user-note.txt", "small.db.mine", "app.db.bak", ".small.db.ferry-part.x"] {
                        try putUsersObject(location, "\(killedID)/\(name)", "the user's \(name)")
                        mine.append("\(killedID)/\(name)")
                    }
                }
                #expect(point != "change:backup.uploaded#1" || !mine.isEmpty, "\(location.scheme): the killed set's app.db is there")
                // The killed run's objects (if any) are not a set: a copy `at` now picks the good one.
                // To the millisecond: a set completed later in the same second is after it.
                let stamp = ISO8601DateFormatter()
                stamp.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
                let at = stamp.string(from: Date())
                try project.write("plans/main.json", plan(location.to, copies: """
                    "restore": { "from": "a", "to": "b", "databases": { "small": "small_\(location.scheme)" }, "at": "\(at)", "onExisting": "replace" }
                    """))
                let recovered = try project.run("recover")
                #expect(recovered.code == 0, "\(recovered.all)")
                // recover removed what the killed upload left.
                // ... and the files it had staged in its run directory.
                let spool = (FileManager.default.enumerator(atPath: project.root + "/.ferry")?.allObjects as? [String] ?? []).filter { $0.contains("spool-") }
                #expect(spool.isEmpty, "\(location.scheme) \(point): \(spool)")
                let left = try objects(location)
                #expect(left.allSatisfy { name in name.contains("/\(goodID)/") || mine.contains { name.hasSuffix("/" + $0) } }, "\(location.scheme): \(left)")
                for name in mine { #expect(left.contains { $0.hasSuffix("/" + name) }, "\(location.scheme): the user's \(name) stays: \(left)") }
                if !mine.isEmpty { #expect(recovered.all.contains("its folder is left"), "\(location.scheme): \(recovered.all)") }
                if location.scheme == "s3" || location.scheme == "gs" {
                    // ... and the killed run's unfinished multipart upload (its parts) too.
                    #expect(try unfinishedUploads(location) == 0, "\(location.scheme) \(point)")
                }
                if location.scheme.hasPrefix("ftp") {
                    // recover removed the killed set's directory and its temporary file too.
                    let folders = try FileManager.default.contentsOfDirectory(atPath: try ftpDirectory(location)).sorted()
                    #expect(folders == Set([goodID] + mine.map { String($0.split(separator: "/")[0]) }).sorted(), "\(location.scheme)")
                }
                // The user's objects go, by the user's hand, before the next round.
                for name in mine { try putUsersObject(location, name, nil) }
                if location.scheme.hasPrefix("ftp"), let folder = mine.first?.split(separator: "/").first {
                    try FileManager.default.removeItem(atPath: try ftpDirectory(location) + "/" + folder)
                }
                let restored = try project.run("apply", "--auto-approve", "--target", "copy.restore")
                #expect(restored.code == 0, "\(location.scheme): \(restored.all)")
                let value = try? project.query("var/b/small_\(location.scheme).db", "SELECT v FROM s")
                #expect(value == [["good"]], "\(location.scheme) \(point): \(String(describing: value)) \(restored.all)")
                try project.write("plans/main.json", plan(location.to))
            }
        }
    }

    /// Fresh tester round 76, F2: a value `${env:}` put into a backup location's path (a path
    /// token) was journaled in clear by `backupStarted` (and a prune's records). The journal
    /// keeps the reference instead; a recover of a killed upload and a prune find the set by
    /// expanding it again, and say what to set when it is unset.
    @Test func aPathTokenOfABackupLocationStaysOutOfTheJournal() throws {
        let project = try Project()
        try configure(project)
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try exec(project, "var/a/app.db", "CREATE TABLE t(v BLOB, n INT); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 1500) INSERT INTO t SELECT randomblob(4000), i FROM c;")
        try exec(project, "var/a/small.db", "CREATE TABLE s(v TEXT); INSERT INTO s VALUES ('one');")
        let token = "tok\(UUID().uuidString.prefix(8).lowercased())"
        project.environment["BKTOK"] = token
        let folder = "p-\(UUID().uuidString.prefix(6))"
        // As the plan writes it, and as the stand-in lists it.
        try project.write("plans/main.json", plan("s3://ferry-s3/backups/${env:BKTOK}/\(folder)").replacingOccurrences(of: "\"keep\": 2", with: "\"keep\": 1"))
        let location = Location(scheme: "s3", to: "s3://ferry-s3/backups/\(token)/\(folder)")
        var outputs = ""
        let first = try project.run("backup", "nb")
        let second = try project.run("backup", "nb")
        outputs += first.all + second.all
        #expect(first.code == 0 && second.code == 0, "\(outputs)")
        let kept = try #require(setID(second))
        #expect(try completeSets(location) == [kept], "keep 1 pruned the first set")
        // Killed after app.db went up, before small.db and the manifest: recover removes it,
        // found through the reference; unset, it says what to set and leaves the run pending.
        project.environment["FERRY_TEST_KILL_AT"] = "change:backup.uploaded#1"
        let killed = try project.run("backup", "nb")
        project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code != 0)
        #expect(try objects(location).contains { !$0.contains("/\(kept)/") }, "the killed set's app.db is there")
        project.environment["BKTOK"] = nil
        let unset = try project.run("recover")
        #expect(unset.code != 0 && unset.all.contains("BKTOK") && !unset.all.contains(token), "\(unset.all)")
        // Round 77, F1: with another value, the location expanded again is not the run's: a
        // user's objects there under the killed set's id stay, and nothing is said removed.
        let killedID = try #require(try objects(location).compactMap { name -> String? in
            let parts = name.split(separator: "/").map(String.init)
            return parts.count >= 2 && parts[parts.count - 2] != kept ? parts[parts.count - 2] : nil
        }.first)
        let elsewhere = Location(scheme: "s3", to: "s3://ferry-s3/backups/other\(token)/\(folder)")
        for name in ["app.db", "manifest.json"] { try putUsersObject(elsewhere, "\(killedID)/\(name)", "the user's \(name)") }
        project.environment["BKTOK"] = "other\(token)"
        let other = try project.run("recover")
        #expect(other.code != 0 && other.all.contains("is not where the run wrote it") && !other.all.contains("removed backup set")
                && !other.all.contains("as they were before"), "\(other.all)")
        #expect(try objects(elsewhere).count == 2, "the user's objects at the other value's path stay")
        project.environment["BKTOK"] = token
        let recovered = try project.run("recover")
        outputs += unset.all + other.all + recovered.all
        #expect(recovered.code == 0, "\(recovered.all)")
        #expect(try objects(location).allSatisfy { $0.contains("/\(kept)/") }, "only the kept set is left")
        // Round 77, F2: a prune killed after the commit, finished with another value, says
        // nothing removed and stays pending; with the value, it removes the set.
        try project.killed(["backup", "nb"], at: "after-committed#1")
        let newest = try #require(try completeSets(location).last)
        #expect(try completeSets(location) == [kept, newest].sorted(), "the prune of \(kept) is pending")
        project.environment["BKTOK"] = "other\(token)"
        let pendingPrune = try project.run("recover")
        #expect(pendingPrune.code != 0 && !pendingPrune.all.contains("clean-up finished") && pendingPrune.all.contains("OperationDenied.WrongStatus")
                && !pendingPrune.all.contains("error[Internal]"), "\(pendingPrune.all)")
        let stillThere = try completeSets(location)
        #expect(stillThere.contains(kept), "not removed: \(stillThere)")
        project.environment["BKTOK"] = token
        let pruned = try project.run("recover")
        outputs += pendingPrune.all + pruned.all
        #expect(pruned.code == 0 && pruned.all.contains("clean-up finished"), "\(pruned.all)")
        let afterPrune = try completeSets(location)
        #expect(afterPrune == [newest], "\(afterPrune)")
        for name in ["app.db", "manifest.json"] { try putUsersObject(elsewhere, "\(killedID)/\(name)", nil) }
        let journals = CloudStandIns.allText(under: project.root + "/.ferry")
        #expect(!journals.contains(token) && journals.contains("${env:BKTOK}"), "the journal keeps the reference, not the value")
        #expect(!outputs.contains(token), "\(outputs)")
    }

    @Test func aWrongKeyForABackupLocationIsWrongPasswordAndTakesNothing() throws {
        let project = try Project()
        try configure(project)
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try exec(project, "var/a/app.db", "CREATE TABLE t(v); INSERT INTO t VALUES (1);")
        try exec(project, "var/a/small.db", "CREATE TABLE s(v); INSERT INTO s VALUES (1);")
        project.environment["GCS_HMAC_SECRET"] = "wrong-secret"
        project.environment["AWS_SECRET_ACCESS_KEY"] = "wrong-secret"
        project.environment["AZURE_STORAGE_CONNECTION_STRING"] = "BlobEndpoint=\(try CloudStandIns.variable("FERRY_TEST_AZURE_ENDPOINT"))"
        project.environment["AZURE_STORAGE_KEY"] = Data(repeating: 7, count: 64).base64EncodedString()
        project.environment["FERRY_FTP_PW"] = "wrong-secret"
        try project.write("netrc", "machine 127.0.0.1 login \(try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_WRITER")) password wrong-secret\n")
        for location in try locations("w-\(UUID().uuidString.prefix(8))") {
            try project.write("plans/main.json", plan(location.to))
            // Found while planning, at the backup's `to`, before any run begins: exit 1.
            for command in [["plan"], ["backup", "nb"], ["apply", "--auto-approve"]] {
                let refused = try project.run(command)
                #expect(refused.code == 1, "\(location.scheme) \(command): \(refused.all)")
                #expect(refused.all.contains("OperationDenied.WrongPassword"), "\(location.scheme): \(refused.all)")
                #expect(refused.all.contains("backups.nb.to"), "\(location.scheme): \(refused.all)")
                #expect(!refused.all.contains("wrong-secret"))
            }
            #expect(try objects(location).isEmpty)
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs")) ?? []).isEmpty)
        }
    }

    /// Issue 21: an unreachable, read-only or missing backup location is found while planning,
    /// with its code and the place of `to`, exit 1, nothing written anywhere. Each store.
    @Test func unusableBackupLocationsAreRefusedAtPlanTime() throws {
        let project = try Project()
        try configure(project)
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try exec(project, "var/a/app.db", "CREATE TABLE t(v); INSERT INTO t VALUES (1);")
        try exec(project, "var/a/small.db", "CREATE TABLE s(v); INSERT INTO s VALUES (1);")
        try project.write("blocker", "a file where a directory must be\n")
        let tag = "u-\(UUID().uuidString.prefix(8))"
        let unusedPort = try #require(Int(try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_HOST").split(separator: ":")[1])) + 7
        var cases: [(to: String, code: String)] = [
            (try Self.ftpLocation(tag, user: try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_READER")), "OperationDenied.ReadOnly"),
            ("ftp://ferry-writer:${env:FERRY_FTP_PW}@127.0.0.1:\(unusedPort)/backups/\(tag)", "ImportError"),
            ("s3://ferry-no-such-bucket/\(tag)", "ImportError"),
            ("abs://\(try CloudStandIns.variable("FERRY_TEST_AZURE_ACCOUNT"))/no-such-container/\(tag)", "ImportError"),
            ("../blocker/sets", "InvalidParameter"),
        ]
        // A read-only file system (root ignores permission bits, not a read-only mount).
        let readOnly = project.root + "/ro"
        try FileManager.default.createDirectory(atPath: readOnly, withIntermediateDirectories: true)
        let mounted = getuid() == 0 && MachineFactsCLITests().mountTmpfs(readOnly, size: "64k", readOnly: true)
        defer { if mounted { MachineFactsCLITests().unmount(readOnly) } }
        if !mounted { #expect(chmod(readOnly, 0o555) == 0) }
        if mounted || getuid() != 0 { cases.append(("../ro/sets", "OperationDenied.ReadOnly")) }
        for (to, code) in cases {
            try project.write("plans/main.json", plan(to))
            for command in [["plan"], ["backup", "nb"], ["apply", "--auto-approve"]] {
                let refused = try project.run(command)
                #expect(refused.code == 1, "\(to) \(command): \(refused.all)")
                #expect(refused.stderr.contains("error[\(code)]"), "\(to) \(command): \(refused.all)")
                #expect(refused.stderr.contains("backups.nb.to"), "\(to) \(command): \(refused.all)")
                #expect(!refused.all.contains(try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_PASSWORD")))
            }
        }
        #expect(!FileManager.default.fileExists(atPath: try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_ROOT") + "/backups/\(tag)"))
        #expect(!project.exists("ro/sets"))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs")) ?? []).isEmpty)
    }
}

extension CloudBackupCLITests {
    /// `ftps://` (explicit TLS, issue 21): the server's certificate is checked against the trust
    /// store (`SSL_CERT_FILE`); a CA that did not issue it, a certificate for another name, or a
    /// server without `AUTH TLS` fail while planning with `ImportError` at the backup's `to`, exit
    /// 1, nothing written, the password nowhere. With the right CA a set goes up and comes back,
    /// through a server that refuses any login or transfer in clear; an import reads an `ftps://`
    /// source, and not with the wrong CA.
    @Test func ftpsChecksTheServersCertificateAndSendsNothingInClear() throws {
        let project = try Project()
        try configure(project)
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: project.root + "/var/b", withIntermediateDirectories: true)
        try exec(project, "var/a/app.db", "CREATE TABLE t(v); INSERT INTO t VALUES (1), (2);")
        try exec(project, "var/a/small.db", "CREATE TABLE s(v); INSERT INTO s VALUES ('ftps');")
        let password = try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_PASSWORD")
        let root = try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_ROOT")
        let ca = try CloudStandIns.variable("FERRY_TEST_FTPS_CA")
        let otherCA = try CloudStandIns.variable("FERRY_TEST_FTPS_OTHER_CA")
        let port = try #require(try CloudStandIns.variable("FERRY_TEST_FTPS_BACKUP_HOST").split(separator: ":").last.map(String.init))
        let tag = "s-\(UUID().uuidString.prefix(8))"
        let refusals: [(to: String, trust: String, says: String)] = [
            (try Self.ftpsLocation(tag), otherCA, "does not verify"),
            (try Self.ftpsLocation(tag, host: "localhost:\(port)"), ca, "does not verify"),
            (try Self.ftpsLocation(tag, host: try CloudStandIns.variable("FERRY_TEST_FTP_BACKUP_HOST")), ca, "does not offer TLS"),
        ]
        for (to, trust, says) in refusals {
            try project.write("plans/main.json", plan(to))
            project.environment["SSL_CERT_FILE"] = trust
            for command in [["plan"], ["backup", "nb"], ["apply", "--auto-approve"]] {
                let refused = try project.run(command)
                #expect(refused.code == 1, "\(to) \(command): \(refused.all)")
                #expect(refused.stderr.contains("error[ImportError]"), "\(to) \(command): \(refused.all)")
                #expect(refused.stderr.contains(says), "\(to) \(command): \(refused.all)")
                #expect(refused.stderr.contains("nothing of the login was sent"), "\(to) \(command): \(refused.all)")
                #expect(refused.stderr.contains("backups.nb.to"), "\(to) \(command): \(refused.all)")
                #expect(!refused.all.contains(password))
            }
        }
        #expect(!FileManager.default.fileExists(atPath: root + "/backups/\(tag)"))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs")) ?? []).isEmpty)

        // The server refuses a login in clear, so what follows went over TLS.
        project.environment["SSL_CERT_FILE"] = ca
        try project.write("plans/main.json", plan("ftp://ferry-writer:${env:FERRY_FTP_PW}@127.0.0.1:\(port)/backups/\(tag)"))
        let clear = try project.run("plan")
        #expect(clear.code == 1, "\(clear.all)")
        #expect(!clear.all.contains(password))

        try project.write("plans/main.json", plan(try Self.ftpsLocation(tag)))
        let taken = try project.run("backup", "nb")
        #expect(taken.code == 0, "\(taken.all)")
        let id = try #require(setID(taken))
        #expect(FileManager.default.fileExists(atPath: root + "/backups/\(tag)/\(id)/manifest.json"))
        try project.write("plans/main.json", plan(try Self.ftpsLocation(tag), copies: """
            "restore": { "from": "a", "to": "b", "databases": { "small": "small_back" }, "backup": "\(id)" }
            """))
        let restored = try project.run("apply", "--auto-approve", "--target", "copy.restore")
        #expect(restored.code == 0, "\(restored.all)")
        #expect(try project.query("var/b/small_back.db", "SELECT v FROM s") == [["ftps"]])

        // A source: an SQL file read over FTPS; with the wrong CA nothing is imported.
        try FileManager.default.createDirectory(atPath: root + "/imports-\(tag)", withIntermediateDirectories: true)
        try "CREATE TABLE seeded(v TEXT); INSERT INTO seeded VALUES ('over tls');\n".write(toFile: root + "/imports-\(tag)/seed.sql", atomically: true, encoding: .utf8)
        let source = "ftps://ferry-writer:${env:FERRY_FTP_PW}@127.0.0.1:\(port)/imports-\(tag)/seed.sql"
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "b": { "engine": "sqlite", "path": "../var/b" } },
              "imports": { "seed": { "into": "b", "database": "seeded", "from": "\(source)", "format": "sql" } } }
            """)
        project.environment["SSL_CERT_FILE"] = otherCA
        let untrusted = try project.run("apply", "--auto-approve")
        #expect(untrusted.code != 0, "\(untrusted.all)")
        #expect(untrusted.all.contains("does not verify"), "\(untrusted.all)")
        #expect(!untrusted.all.contains(password))
        #expect(!project.exists("var/b/seeded.db"))
        project.environment["SSL_CERT_FILE"] = ca
        let imported = try project.run("apply", "--auto-approve")
        #expect(imported.code == 0, "\(imported.all)")
        #expect(try project.query("var/b/seeded.db", "SELECT v FROM seeded") == [["over tls"]])
        #expect(!imported.all.contains(password))
        #expect(!CloudStandIns.allText(under: project.root + "/.ferry").contains(password))
    }
}

/// Every engine's backups go to storage locations the same way: MariaDB's gzipped dumps and
/// Redis's RDB files, backed up, listed and restored.
extension MySQLCLITests {
    @Test func aMySQLBackupToCloudStorageRestoresFromIt() throws {
        let project = try Project()
        try CloudBackupCLITests().configure(project)
        let a = try server("FERRY_TEST_MYSQL_A"), b = try server("FERRY_TEST_MYSQL_B")
        let tag = "cb\(UUID().uuidString.prefix(6).lowercased())"
        try sql(project, a, "DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`; CREATE TABLE `\(tag)`.t(id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO `\(tag)`.t VALUES (1, 'one'), (2, 'two');")
        defer {
            _ = try? sql(project, a, "DROP DATABASE IF EXISTS `\(tag)`;")
            _ = try? sql(project, b, "DROP DATABASE IF EXISTS `\(tag)_gs`; DROP DATABASE IF EXISTS `\(tag)_abs`; DROP DATABASE IF EXISTS `\(tag)_ftp`;")
        }
        let account = try CloudStandIns.variable("FERRY_TEST_AZURE_ACCOUNT")
        for (scheme, to) in [("gs", "gs://ferry-gcs/mysql/\(tag)"), ("abs", "abs://\(account)/backups/mysql-\(tag)"),
                             ("ftp", try CloudBackupCLITests.ftpLocation("mysql-\(tag)"))] {
            func plan(_ copies: String) -> String {
                """
                { "ferry": 1,
                  "instances": {
                    "src": { "engine": "mysql", "url": "\(a.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } },
                    "dst": { "engine": "mysql", "url": "\(b.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } }
                  },
                  "backups": { "nightly": { "of": "src", "databases": ["\(tag)"], "to": "\(to)", "keep": 1 } }\(copies) }
                """
            }
            try project.write("plans/main.json", plan(""))
            let taken = try project.run("backup", "nightly")
            #expect(taken.code == 0, "\(taken.all)")
            let at = ISO8601DateFormatter().string(from: Date().addingTimeInterval(1))
            try project.write("plans/main.json", plan(", \"copies\": { \"restore\": { \"from\": \"src\", \"to\": \"dst\", \"databases\": { \"\(tag)\": \"\(tag)_\(scheme)\" }, \"at\": \"\(at)\" } }"))
            let applied = try project.run("apply", "--auto-approve", "--target", "copy.restore")
            #expect(applied.code == 0, "\(applied.all)")
            #expect(try sql(project, b, "SELECT * FROM `\(tag)_\(scheme)`.t ORDER BY id;") == "1\tone\n2\ttwo\n", "\(scheme)")
        }
    }
}

extension RedisCLITests {
    @Test func aRedisBackupToCloudStorageRestoresFromIt() throws {
        let project = try Project()
        try CloudBackupCLITests().configure(project)
        let s = try servers()
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
        try populate(project, s.aPort, db: "2")
        let expected = try contents(project, s.aPort, db: "2")
        let tag = "rb-\(UUID().uuidString.prefix(6))"
        for (db, to) in [("7", "s3://ferry-s3/redis/\(tag)"), ("8", "abs://\(try CloudStandIns.variable("FERRY_TEST_AZURE_ACCOUNT"))/backups/redis-\(tag)")] {
            let backups = "\"backups\": { \"nb\": { \"of\": \"ra\", \"databases\": [\"2\"], \"to\": \"\(to)\", \"keep\": 1 } }"
            try project.write("plans/main.json", plan(s, backups))
            let taken = try project.run("backup", "nb")
            #expect(taken.code == 0, "\(taken.all)")
            let id = try #require(taken.stdout.components(separatedBy: "backup set ").dropFirst().first?.split(separator: " ").first.map(String.init), "\(taken.all)")
            try project.write("plans/main.json", plan(s, backups + ", \"copies\": { \"restore\": { \"from\": \"ra\", \"to\": \"rb\", \"databases\": { \"2\": \"\(db)\" }, \"backup\": \"\(id)\" } }"))
            let applied = try project.run("apply", "--auto-approve", "--target", "copy.restore")
            #expect(applied.code == 0, "\(applied.all)")
            #expect(try contents(project, s.bPort, db: db) == expected, "from \(to)")
        }
    }
}
