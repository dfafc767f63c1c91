import FerryCore
import FerryIO
import Foundation
import Testing
@testable import FerryRedis

/// The cloud storage stand-ins of scripts/storage-servers.sh: moto with signature checking on
/// (S3 and Cloud Storage's S3-interoperable requests) and the Azure Blob server whose Shared Key
/// and SAS checks are azure-storage-blob's own code.
enum StorageServers {
    static func variable(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            Issue.record("\(name) is not set: run scripts/test.sh (or scripts/storage-servers.sh start and source $FERRY_TEST_RUNTIME/storage-servers.env)")
            throw FerryError(.internalError, "\(name) is not set")
        }
        return value
    }

    /// Runs the stand-ins' Python (boto3, azure-storage-blob) with `script` and `arguments`;
    /// returns its standard output.
    @discardableResult
    static func python(_ script: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try variable("FERRY_TEST_STORAGE_PYTHON"))
        process.arguments = ["-c", script] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw FerryError(.internalError, "the storage helper failed: \(String(decoding: errors, as: UTF8.self).suffix(800))")
        }
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static var azureConnectionString: String {
        get throws {
            "DefaultEndpointsProtocol=http;AccountName=\(try variable("FERRY_TEST_AZURE_ACCOUNT"));AccountKey=\(try variable("FERRY_TEST_AZURE_KEY"));BlobEndpoint=\(try variable("FERRY_TEST_AZURE_ENDPOINT"))"
        }
    }

    /// Puts `files` (local paths) under `prefix/` in the S3 and GCS buckets of the signed moto and
    /// in the Azure container `container`; returns a read+list container SAS token made by
    /// azure-storage-blob.
    @discardableResult
    static func publish(_ files: [URL], prefix: String, container: String = "dumps") throws -> String {
        try python("""
            import sys, datetime, boto3
            from azure.storage.blob import BlobServiceClient, generate_container_sas
            endpoint, access, secret, s3b, gcsb, conn, account, key, container, prefix = sys.argv[1:11]
            s3 = boto3.client('s3', endpoint_url=endpoint, region_name='us-east-1',
                              aws_access_key_id=access, aws_secret_access_key=secret)
            service = BlobServiceClient.from_connection_string(conn)
            try: service.create_container(container)
            except Exception as e:
                if 'ContainerAlreadyExists' not in str(e): raise
            for path in sys.argv[11:]:
                name = prefix + '/' + path.split('/')[-1]
                for bucket in (s3b, gcsb): s3.upload_file(path, bucket, name)
                with open(path, 'rb') as f: service.get_blob_client(container, name).upload_blob(f, overwrite=True)
            print(generate_container_sas(account, container, account_key=key, permission='rl',
                  expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=2)))
            """, [try variable("FERRY_TEST_MOTO_AUTH_ENDPOINT"), try variable("FERRY_TEST_MOTO_AUTH_ACCESS_KEY"),
                  try variable("FERRY_TEST_MOTO_AUTH_SECRET"), try variable("FERRY_TEST_MOTO_S3_BUCKET"),
                  try variable("FERRY_TEST_MOTO_GCS_BUCKET"), try azureConnectionString,
                  try variable("FERRY_TEST_AZURE_ACCOUNT"), try variable("FERRY_TEST_AZURE_KEY"), container, prefix]
               + files.map(\.path))
    }

    /// The environment a gs:// read uses against the signed moto: STORAGE_EMULATOR_HOST in its
    /// `host:port` form, and the HMAC key in GCS_HMAC_ACCESS_ID / GCS_HMAC_SECRET.
    static func gcsEnvironment(secret: String? = nil) throws -> [String: String] {
        let endpoint = try variable("FERRY_TEST_MOTO_AUTH_ENDPOINT")
        return ["STORAGE_EMULATOR_HOST": String(endpoint.dropFirst("http://".count)),
                "GCS_HMAC_ACCESS_ID": try variable("FERRY_TEST_MOTO_AUTH_ACCESS_KEY"),
                "GCS_HMAC_SECRET": try secret ?? variable("FERRY_TEST_MOTO_AUTH_SECRET")]
    }

    static func s3Environment(secret: String? = nil) throws -> [String: String] {
        ["AWS_ENDPOINT_URL_S3": try variable("FERRY_TEST_MOTO_AUTH_ENDPOINT"), "AWS_REGION": "us-east-1",
         "AWS_ACCESS_KEY_ID": try variable("FERRY_TEST_MOTO_AUTH_ACCESS_KEY"),
         "AWS_SECRET_ACCESS_KEY": try secret ?? variable("FERRY_TEST_MOTO_AUTH_SECRET")]
    }

    /// A base64 key of the right length that is not the account's.
    static let wrongAzureKey = Data((0..<64).map { UInt8($0) }).base64EncodedString()

    /// Sets the process environment to `values` for the length of `body` (the suite is serialized).
    static func with<T>(_ values: [String: String], _ body: () throws -> T) rethrows -> T {
        var saved: [String: String?] = [:]
        for (k, v) in values { saved[k] = ProcessInfo.processInfo.environment[k]; setenv(k, v, 1) }
        defer { for (k, v) in saved { if let v { setenv(k, v, 1) } else { unsetenv(k) } } }
        return try body()
    }
}

extension RedisEngineTests {
    @Test func rdbPartsLoadFromGCSAndAzureInOrderWithGzip() throws {
        let fixture = try RDBFixture.make()
        defer { try? FileManager.default.removeItem(at: fixture.directory) }
        let prefix = "parts-\(UUID().uuidString.prefix(8))"
        let sas = try StorageServers.publish([fixture.part1, fixture.part2gz], prefix: prefix)
        let gcsBucket = try StorageServers.variable("FERRY_TEST_MOTO_GCS_BUCKET")
        let account = try StorageServers.variable("FERRY_TEST_AZURE_ACCOUNT")
        let key = try StorageServers.variable("FERRY_TEST_AZURE_KEY")
        let endpointOnly = "BlobEndpoint=\(try StorageServers.variable("FERRY_TEST_AZURE_ENDPOINT"))"
        let encodedKey = key.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let gcs = try StorageServers.gcsEnvironment()

        // gs://, key from the environment, and key in the URL (as `${env:...}` expands it).
        try StorageServers.with(gcs) { () throws -> Void in
            let parts: [ImportSource] = [.url("gs://\(gcsBucket)/\(prefix)/part1.rdb"), .url("gs://\(gcsBucket)/\(prefix)/part2.rdb.gz")]
            #expect(try importIntoShadow(parts).contents == fixture.expected)
            // Parts load in the order given: part 2 last, so its `shared` wins; reversed, part 1's.
            let reversed = try importIntoShadow(parts.reversed()).contents
            #expect(reversed["shared"] != fixture.expected["shared"])
        }
        try StorageServers.with(["STORAGE_EMULATOR_HOST": gcs["STORAGE_EMULATOR_HOST"]!]) { () throws -> Void in
            let withKey = "gs://\(gcs["GCS_HMAC_ACCESS_ID"]!):\(gcs["GCS_HMAC_SECRET"]!.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)@\(gcsBucket)/\(prefix)"
            #expect(try importIntoShadow([.url("\(withKey)/part1.rdb"), .url("\(withKey)/part2.rdb.gz")]).contents == fixture.expected)
        }
        // abs://: key in the URL with only the endpoint from the connection string; the whole
        // connection string; a SAS token in the URL; AZURE_STORAGE_SAS_TOKEN.
        let blob = "abs://\(account)/dumps/\(prefix)"
        let variants: [(env: [String: String], base: String)] = [
            (["AZURE_STORAGE_CONNECTION_STRING": endpointOnly], "abs://:\(encodedKey)@\(account)/dumps/\(prefix)"),
            (["AZURE_STORAGE_CONNECTION_STRING": try StorageServers.azureConnectionString], blob),
            (["AZURE_STORAGE_CONNECTION_STRING": endpointOnly, "AZURE_STORAGE_SAS_TOKEN": sas], blob),
        ]
        for variant in variants {
            try StorageServers.with(variant.env) { () throws -> Void in
                let parts: [ImportSource] = [.url("\(variant.base)/part1.rdb"), .url("\(variant.base)/part2.rdb.gz")]
                #expect(try importIntoShadow(parts).contents == fixture.expected, "through \(variant.env.keys.sorted())")
            }
        }
        try StorageServers.with(["AZURE_STORAGE_CONNECTION_STRING": endpointOnly]) { () throws -> Void in
            #expect(try importIntoShadow([.url("\(blob)/part1.rdb?\(sas)"), .url("\(blob)/part2.rdb.gz?\(sas)")]).contents == fixture.expected)
            let size = Int64(try Data(contentsOf: fixture.part1).count)
            #expect(try RemoteSources.facts(of: "\(blob)/part1.rdb?\(sas)")?.sizeBytes == size)
        }
        #expect(try RemoteSources.facts(of: "gs://\(gcsBucket)/\(prefix)/part1.rdb", environment: gcs)?.sizeBytes
                == Int64(try Data(contentsOf: fixture.part1).count))
    }

    @Test func cloudSourcesRefuseWrongKeysAndNameMissingObjectsWithoutSecrets() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-cloud-\(UUID()).rdb")
        try Data(Redis6RDB.file()).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let prefix = "keys-\(UUID().uuidString.prefix(8))"
        let sas = try StorageServers.publish([file], prefix: prefix)
        let name = file.lastPathComponent
        let gcsBucket = try StorageServers.variable("FERRY_TEST_MOTO_GCS_BUCKET")
        let s3Bucket = try StorageServers.variable("FERRY_TEST_MOTO_S3_BUCKET")
        let account = try StorageServers.variable("FERRY_TEST_AZURE_ACCOUNT")
        let secret = try StorageServers.variable("FERRY_TEST_MOTO_AUTH_SECRET")
        let key = try StorageServers.variable("FERRY_TEST_AZURE_KEY")
        let endpointOnly = ["AZURE_STORAGE_CONNECTION_STRING": "BlobEndpoint=\(try StorageServers.variable("FERRY_TEST_AZURE_ENDPOINT"))"]
        let wrongSecret = String(secret.reversed()) + "x"

        func expectCode(_ code: ErrorCode, _ url: String, _ environment: [String: String], naming shown: String? = nil,
                        sourceLocation: Testing.SourceLocation = #_sourceLocation) {
            do {
                let reader = try RemoteSources.open(url, environment: environment)
                reader.close()
                Issue.record("\(Redaction.redactURL(url)) opened", sourceLocation: sourceLocation)
            } catch let error as FerryError {
                #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
                let text = "\(error) \(error.diagnostics.map { $0.hint ?? "" })"
                for secretText in [secret, wrongSecret, key, StorageServers.wrongAzureKey, sas] {
                    #expect(!text.contains(secretText), "a secret in: \(text)", sourceLocation: sourceLocation)
                }
                if let shown { #expect(text.contains(shown), "\(text) does not name \(shown)", sourceLocation: sourceLocation) }
            } catch {
                Issue.record("not a FerryError: \(error)", sourceLocation: sourceLocation)
            }
        }
        // The right keys read the object (so the refusals below are the keys' doing).
        for (url, environment) in [("gs://\(gcsBucket)/\(prefix)/\(name)", try StorageServers.gcsEnvironment()),
                                   ("s3://\(s3Bucket)/\(prefix)/\(name)", try StorageServers.s3Environment())] {
            let reader = try RemoteSources.open(url, environment: environment)
            reader.close()
        }
        // Wrong secrets: the stand-ins check signatures, so each is refused.
        expectCode(.wrongPassword, "gs://\(gcsBucket)/\(prefix)/\(name)", try StorageServers.gcsEnvironment(secret: wrongSecret),
                   naming: "gs://\(gcsBucket)/\(prefix)/\(name)")
        expectCode(.wrongPassword, "s3://\(s3Bucket)/\(prefix)/\(name)", try StorageServers.s3Environment(secret: wrongSecret))
        let wrongKeyURL = "abs://:\(StorageServers.wrongAzureKey.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)@\(account)/dumps/\(prefix)/\(name)"
        expectCode(.wrongPassword, wrongKeyURL, endpointOnly, naming: "abs://***@\(account)/dumps/\(prefix)/\(name)")
        expectCode(.wrongPassword, "abs://\(account)/dumps/\(prefix)/\(name)", endpointOnly.merging(["AZURE_STORAGE_KEY": StorageServers.wrongAzureKey]) { $1 })
        // A SAS token whose signature was tampered with, and one without read permission.
        let tampered = sas.replacingOccurrences(of: "sig=", with: "sig=A")
        expectCode(.wrongPassword, "abs://\(account)/dumps/\(prefix)/\(name)?\(tampered)", endpointOnly)
        // Missing objects: ImportError naming the URL (redacted), for every scheme.
        expectCode(.importError, "gs://\(gcsBucket)/\(prefix)/missing.rdb", try StorageServers.gcsEnvironment(),
                   naming: "gs://\(gcsBucket)/\(prefix)/missing.rdb")
        expectCode(.importError, "s3://\(s3Bucket)/\(prefix)/missing.rdb", try StorageServers.s3Environment(),
                   naming: "s3://\(s3Bucket)/\(prefix)/missing.rdb")
        expectCode(.importError, "abs://:\(key.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)@\(account)/dumps/\(prefix)/missing.rdb",
                   endpointOnly, naming: "abs://***@\(account)/dumps/\(prefix)/missing.rdb")
        expectCode(.importError, "abs://\(account)/dumps/\(prefix)/missing.rdb?\(sas)", endpointOnly, naming: "/dumps/\(prefix)/missing.rdb?")
        expectCode(.importError, "abs://\(account)/nocontainer/x.rdb", endpointOnly.merging(["AZURE_STORAGE_KEY": key]) { $1 })
        // No key at all: a clear ImportError that says where keys come from.
        expectCode(.importError, "gs://\(gcsBucket)/\(prefix)/\(name)", ["STORAGE_EMULATOR_HOST": "127.0.0.1:1"], naming: "GCS_HMAC_ACCESS_ID")
        expectCode(.importError, "abs://\(account)/dumps/\(prefix)/\(name)", endpointOnly, naming: "AZURE_STORAGE_KEY")
        // An endpoint override that holds credentials is refused before anything is sent, and
        // never printed as written: a `/` in its password stops a parser from splitting it off.
        for endpoint in ["http://u:pa/ss+word@127.0.0.1:1", "http://u:pa%2Fss@127.0.0.1:1", "http://tok/en@127.0.0.1:1", "http://u:pass word@h:1"] {
            do {
                _ = try RemoteSources.open("gs://\(gcsBucket)/x", environment: ["STORAGE_EMULATOR_HOST": endpoint, "GCS_HMAC_ACCESS_ID": "a", "GCS_HMAC_SECRET": "b"])
                Issue.record("\(endpoint) was used")
            } catch let error as FerryError {
                let text = "\(error) \(error.diagnostics.map { $0.hint ?? "" })"
                #expect(error.code == .importError)
                for secretPart in ["pa/ss", "ss+word", "pa%2Fss", "tok/en", "pass word"] { #expect(!text.contains(secretPart), "\(text)") }
            }
        }
        // An endpoint override that holds credentials is refused before anything is sent.
        expectCode(.importError, "gs://\(gcsBucket)/x", ["STORAGE_EMULATOR_HOST": "http://u:\(secret)@127.0.0.1:1",
                                                         "GCS_HMAC_ACCESS_ID": "a", "GCS_HMAC_SECRET": "b"])
    }
}
