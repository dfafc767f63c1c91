import Foundation
import Testing

/// The cloud storage stand-ins (scripts/storage-servers.sh) as `ferry` sees them.
enum CloudStandIns {
    static func variable(_ name: String) throws -> String {
        try #require(ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 },
                     "\(name) is not set: run scripts/test.sh (or scripts/storage-servers.sh start and source its env file)")
    }

    /// Uploads local files to `prefix/NAME` in the signed moto's S3 and GCS buckets and the Azure
    /// container `container`, with boto3 and azure-storage-blob.
    static func publish(_ paths: [String], prefix: String, container: String = "dumps") throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try variable("FERRY_TEST_STORAGE_PYTHON"))
        let connection = "DefaultEndpointsProtocol=http;AccountName=\(try variable("FERRY_TEST_AZURE_ACCOUNT"));AccountKey=\(try variable("FERRY_TEST_AZURE_KEY"));BlobEndpoint=\(try variable("FERRY_TEST_AZURE_ENDPOINT"))"
        process.arguments = ["-c", """
            import sys, boto3
            from azure.storage.blob import BlobServiceClient
            endpoint, access, secret, conn, container, prefix = sys.argv[1:7]
            s3 = boto3.client('s3', endpoint_url=endpoint, region_name='us-east-1',
                              aws_access_key_id=access, aws_secret_access_key=secret)
            service = BlobServiceClient.from_connection_string(conn)
            try: service.create_container(container)
            except Exception as e:
                if 'ContainerAlreadyExists' not in str(e): raise
            for path in sys.argv[7:]:
                name = prefix + '/' + path.split('/')[-1]
                for bucket in ('ferry-s3', 'ferry-gcs'): s3.upload_file(path, bucket, name)
                with open(path, 'rb') as f: service.get_blob_client(container, name).upload_blob(f, overwrite=True)
            """, try variable("FERRY_TEST_MOTO_AUTH_ENDPOINT"), try variable("FERRY_TEST_MOTO_AUTH_ACCESS_KEY"),
            try variable("FERRY_TEST_MOTO_AUTH_SECRET"), connection, container, prefix] + paths
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    /// Every file under `directory`, concatenated (to look for secrets in state and journals).
    static func allText(under directory: String) -> String {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return "" }
        var text = ""
        for case let path as String in walker {
            if let data = FileManager.default.contents(atPath: directory + "/" + path) { text += String(decoding: data, as: UTF8.self) }
        }
        return text
    }
}

extension RedisCLITests {
    @Test func importsFromGCSAndAzureAndRefusalsChangeNothingAndLeakNoSecret() throws {
        let project = try Project()
        let s = try servers()
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
        try populate(project, s.aPort, db: "0")
        try cli(project, s.aPort, "--rdb \(project.root)/plans/data/seed.rdb")
        let prefix = "cli-\(UUID().uuidString.prefix(8))"
        try CloudStandIns.publish([project.root + "/plans/data/seed.rdb"], prefix: prefix)
        let secret = try CloudStandIns.variable("FERRY_TEST_MOTO_AUTH_SECRET")
        let azureKey = try CloudStandIns.variable("FERRY_TEST_AZURE_KEY")
        let account = try CloudStandIns.variable("FERRY_TEST_AZURE_ACCOUNT")
        let motoHost = String(try CloudStandIns.variable("FERRY_TEST_MOTO_AUTH_ENDPOINT").dropFirst("http://".count))
        project.environment["STORAGE_EMULATOR_HOST"] = motoHost
        project.environment["TEST_GCS_ID"] = try CloudStandIns.variable("FERRY_TEST_MOTO_AUTH_ACCESS_KEY")
        project.environment["TEST_GCS_SECRET"] = secret
        project.environment["TEST_AZ_KEY"] = azureKey
        project.environment["AZURE_STORAGE_CONNECTION_STRING"] = "BlobEndpoint=\(try CloudStandIns.variable("FERRY_TEST_AZURE_ENDPOINT"))"
        let expected = try contents(project, s.aPort, db: "0")

        func importPlan(_ from: String, db: String) -> String {
            plan(s, "\"imports\": { \"seed\": { \"into\": \"rb\", \"database\": \"\(db)\", \"from\": [\"\(from)\"], \"format\": \"rdb\", \"onExisting\": \"replace\" } }")
        }
        func expectNoSecret(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
            for value in [secret, azureKey, "wrong-\(secret)"] {
                #expect(!text.contains(value), "a secret in output, state or journal", sourceLocation: sourceLocation)
            }
        }
        // gs:// with the HMAC key by reference, abs:// with the account key by reference.
        for (from, db) in [("gs://${env:TEST_GCS_ID}:${env:TEST_GCS_SECRET}@ferry-gcs/\(prefix)/seed.rdb", "3"),
                           ("abs://:${env:TEST_AZ_KEY}@\(account)/dumps/\(prefix)/seed.rdb", "4")] {
            try project.write("plans/main.json", importPlan(from, db: db))
            let result = try project.run("apply", "--auto-approve")
            #expect(result.code == 0, "\(result.all)")
            let got = try contents(project, s.bPort, db: db)
            let holding = got == expected ? [] : try nonEmpty(project, s.bPort)
            // What differs, and what the apply said, for a failure seen once under load (CI).
            #expect(got == expected, "from \(from): got \(got.filter { !expected.contains($0) }), missing \(expected.filter { !got.contains($0) }); databases: \(holding); apply: \(result.all.suffix(1500))")
            expectNoSecret(result.all)
        }
        // A wrong key and a missing object: refused, database 3 exactly as it was.
        try cli(project, s.bPort, "-n 5 set keep me")
        project.environment["TEST_GCS_SECRET"] = "wrong-\(secret)"
        for (from, code) in [("gs://${env:TEST_GCS_ID}:${env:TEST_GCS_SECRET}@ferry-gcs/\(prefix)/seed.rdb", "OperationDenied.WrongPassword"),
                             ("abs://:${env:TEST_AZ_KEY}@\(account)/dumps/\(prefix)/nothing-here.rdb", "ImportError")] {
            try project.write("plans/main.json", importPlan(from, db: "5"))
            let result = try project.run("apply", "--auto-approve")
            #expect(result.code != 0, "\(result.all)")
            #expect(result.all.contains(code), "\(result.all)")
            if code == "ImportError" {
                #expect(result.all.contains("abs://***@\(account)/dumps/\(prefix)/nothing-here.rdb"), "\(result.all)")
                // Round 76, F5: the plan says the object cannot be read now (it said "0 B to move").
                let planned = try project.run("plan")
                #expect(planned.code == 0 && planned.all.contains("warning[ImportError]: abs://***@\(account)/dumps/\(prefix)/nothing-here.rdb cannot be read now")
                        && planned.all.contains("hint: the apply reads it again"), "\(planned.all)")
                expectNoSecret(planned.all)
            }
            #expect(try cli(project, s.bPort, "-n 5 dbsize") == "1")
            #expect(try cli(project, s.bPort, "-n 5 get keep") == "me")
            expectNoSecret(result.all)
        }
        // A literal key in an abs:// URL is refused before anything runs.
        try project.write("plans/main.json", importPlan("abs://:c2VjcmV0a2V5@\(account)/dumps/\(prefix)/seed.rdb", db: "5"))
        let literal = try project.run("validate")
        #expect(literal.code != 0 && literal.all.contains("LiteralPassword"), "\(literal.all)")
        #expect(!literal.all.contains("c2VjcmV0a2V5"), "\(literal.all)")
        expectNoSecret(CloudStandIns.allText(under: project.root + "/.ferry"))
        expectNoSecret(CloudStandIns.allText(under: project.root + "/plans/.ferry"))
    }
}
