import FerryCore
import Foundation

/// Backup sets in storage locations: `s3://BUCKET/PREFIX` and `gs://BUCKET/PREFIX`
/// (`ObjectStoreBackups`), `abs://ACCOUNT/CONTAINER/PREFIX` (`AzureBlobBackups`), both through
/// `ObjectBackupStore`, and `ftp://HOST/PATH` (`FTPBackups`). A set is `PREFIX/ID/`; keys and
/// endpoints as for sources (SPEC §2). Files are uploaded from a local file in parts of
/// `partSize` bytes, one part in memory at a time.
public enum RemoteBackupStores {
    /// Installs the factory `BackupStores.open` uses for storage locations.
    public static func install() {
        BackupStores.remoteFactory = { location in
            switch BackupStores.remoteScheme(of: location) {
            case "s3", "gs": return try ObjectStoreBackups(location: location)
            case "abs": return try AzureBlobBackups(location: location)
            case "ftp", "ftps": return try FTPBackups(location: location)
            default: throw FerryError(.invalidParameter, "no backup store for \(Redaction.redactURL(location))")
            }
        }
    }

    /// The size of one uploaded part, 8 MiB (S3's minimum for all parts but the last is 5 MiB).
    /// `FERRY_TEST_UPLOAD_PART_SIZE` (bytes) changes it for the tests, which kill uploads between parts.
    static let partSize: Int = {
        if let text = ProcessInfo.processInfo.environment["FERRY_TEST_UPLOAD_PART_SIZE"], let size = Int(text), size > 0 { return size }
        return 8 << 20
    }()

    /// Reads `length` bytes of `file` at `offset` (one part).
    /// The name of the object (or FTP file, or directory) a plan-time write check makes and
    /// deletes at once: a dot file no set is named like (set ids are run ids).
    static func writeCheckName() -> String {
        ".ferry-write-check-" + UUID().uuidString.lowercased().prefix(13).replacingOccurrences(of: "-", with: "")
    }

    /// An error's message without the location it starts with, to quote it after that location.
    static func answer(_ error: Error, of location: String) -> String {
        let message = (error as? FerryError)?.message ?? "\(error)"
        return message.hasPrefix(location + ": ") ? String(message.dropFirst(location.count + 2)) : message
    }

    static func readPart(_ handle: FileHandle, offset: UInt64, length: Int) throws -> [UInt8] {
        try handle.seek(toOffset: offset)
        return Array(try handle.read(upToCount: length) ?? Data())
    }

    /// The text between each `<tag>` and `</tag>` of an XML document, in order (listings only:
    /// names are XML-escaped by the store and unescaped here).
    static func elements(_ tag: String, in text: String) -> [String] {
        var result: [String] = []
        var rest = text[...]
        while let open = rest.range(of: "<\(tag)>"), let close = rest.range(of: "</\(tag)>", range: open.upperBound..<rest.endIndex) {
            result.append(String(rest[open.upperBound..<close.lowerBound])
                .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
                .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
                .replacingOccurrences(of: "&amp;", with: "&"))
            rest = rest[close.upperBound...]
        }
        return result
    }
}

/// What the object stores' backup locations share, whatever their protocol: the set layout
/// (`PREFIX/ID/FILE`), listing sets and files, reading manifests, removing sets (manifest first),
/// and the streamed upload of a file in parts of `RemoteBackupStores.partSize` (one part in
/// memory at a time; a file of at most one part goes up whole). Each store gives its own requests
/// and signing, and its own form of a parted upload (S3/Cloud Storage multipart uploads, Azure
/// blocks), through the requirements below.
protocol ObjectBackupStore: BackupStore {
    /// The location as written in the plan.
    var base: String { get }
    /// The key (blob name) prefix of the location inside its bucket or container, without a trailing `/`.
    var locationKey: String { get }
    /// Every object under `prefix` with its size and its `ETag` (as the listing gives it, quotes
    /// and all), and with a `delimiter` the common prefixes, every page.
    func listObjects(prefix: String, delimiter: String?) throws -> (objects: [String: Int64], prefixes: [String], tags: [String: String])
    /// The bytes of a small object (a manifest); nil when it does not exist.
    func getObject(_ name: String) throws -> Data?
    /// Deletes an object; one already gone is fine.
    func deleteObject(_ name: String) throws
    /// Stores `bytes` as one object in one request.
    func putObject(_ name: String, bytes: [UInt8]) throws
    /// Starts a parted upload of `name`; returns what the later calls need (an upload id).
    func beginParts(of name: String) throws -> String
    /// Uploads part `number` (from 1); returns the tag the commit lists (an ETag, a block id).
    func sendPart(_ bytes: [UInt8], number: Int, of name: String, upload: String) throws -> String
    /// Makes the object visible from its parts, in order.
    func commitParts(_ tags: [String], of name: String, upload: String) throws
    /// Gives up a parted upload after a failure (best effort).
    func abortParts(of name: String, upload: String)
    /// A stream of an object's bytes.
    func openObject(_ name: String) throws -> any ByteReader
    /// Gives up the unfinished parted uploads under `prefix` (a set that a killed run left) whose
    /// names, below `prefix`, are in `own` (nil: every one).
    func abortUnfinishedParts(under prefix: String, only own: Set<String>?) throws
}

extension ObjectBackupStore {
    var displayName: String { Redaction.redactURL(base) }
    var isRemote: Bool { true }
    func location(of id: String) -> String { "\(base)/\(id)" }
    private var prefix: String { locationKey.isEmpty ? "" : locationKey.hasSuffix("/") ? locationKey : locationKey + "/" }
    func objectName(_ id: String, _ file: String) -> String { "\(prefix)\(id)/\(file)" }

    func setIDs() throws -> [String] {
        try listObjects(prefix: prefix, delimiter: "/").prefixes.compactMap { common in
            let id = common.dropFirst(prefix.count).dropLast(common.hasSuffix("/") ? 1 : 0)
            return id.isEmpty || id.contains("/") ? nil : String(id)
        }.sorted()
    }

    func manifest(of id: String) throws -> Data? { try getObject(objectName(id, "manifest.json")) }

    func remainingNames(in id: String) throws -> [String] {
        let start = "\(prefix)\(id)/"
        return try listObjects(prefix: start, delimiter: nil).objects.map { String($0.0.dropFirst(start.count)) }.filter { !$0.isEmpty }.sorted()
    }

    func files(in id: String) throws -> [String: Int64] {
        let start = "\(prefix)\(id)/"
        return Self.byFile(try listObjects(prefix: start, delimiter: nil).objects, below: start)
    }

    func fileVersions(in id: String) throws -> [String: String] {
        let start = "\(prefix)\(id)/"
        return Self.byFile(try listObjects(prefix: start, delimiter: nil).tags, below: start)
    }

    /// `values` of the objects directly below `start` (not nested deeper), by their name there.
    static func byFile<Value>(_ values: [String: Value], below start: String) -> [String: Value] {
        var result: [String: Value] = [:]
        for (name, value) in values {
            let file = String(name.dropFirst(start.count))
            if !file.isEmpty && !file.contains("/") { result[file] = value }
        }
        return result
    }

    func put(_ file: String, from path: String, in id: String) throws {
        let size = Int((try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0)
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw FerryError(.internalError, "cannot read the staged backup file \(path)")
        }
        defer { try? handle.close() }
        let name = objectName(id, file)
        let partSize = RemoteBackupStores.partSize
        if size <= partSize {
            try putObject(name, bytes: try RemoteBackupStores.readPart(handle, offset: 0, length: size))
            return
        }
        // A parted upload: nothing is visible under the name until it is committed.
        let upload = try beginParts(of: name)
        do {
            var tags: [String] = []
            var offset = 0
            while offset < size {
                let bytes = try RemoteBackupStores.readPart(handle, offset: UInt64(offset), length: min(partSize, size - offset))
                tags.append(try sendPart(bytes, number: tags.count + 1, of: name, upload: upload))
                offset += bytes.count
                KillPoint.check("change:upload.part")
            }
            try commitParts(tags, of: name, upload: upload)
        } catch {
            abortParts(of: name, upload: upload)
            throw error
        }
    }

    func putManifest(_ data: Data, in id: String) throws { try putObject(objectName(id, "manifest.json"), bytes: Array(data)) }

    func fetch(_ file: String, in id: String, to path: String) throws -> String {
        let reader = try openObject(objectName(id, file))
        defer { reader.close() }
        try RemoteBackupStores.copy(reader, to: path)
        return path
    }

    func removeSet(_ id: String, only own: Set<String>?) throws {
        try deleteObject(objectName(id, "manifest.json"))
        KillPoint.check("change:prune.manifestRemoved")
        for name in try files(in: id).keys.sorted() where own?.contains(name) ?? true { try deleteObject(objectName(id, name)) }
        try abortUnfinishedParts(under: objectName(id, ""), only: own)
    }

    /// A listing of the location (the store answers, takes the key, and has the bucket or
    /// container), then a small object written and deleted at once, which proves that the key may
    /// write and delete there, as a backup and its pruning must. The object
    /// (`RemoteBackupStores.writeCheckName()`) lies directly under the location, not in an `ID/`
    /// folder, so no listing ever takes it for a set. A key that may list but not write, or write
    /// but not delete, is `OperationDenied.ReadOnly` naming the location.
    func checkUsable() throws {
        _ = try listObjects(prefix: prefix, delimiter: "/")
        let name = prefix + RemoteBackupStores.writeCheckName()
        do {
            try putObject(name, bytes: Array("Ferry's check that it may write here; deleted at once.\n".utf8))
        } catch let error as FerryError where error.code == .wrongPassword {
            throw FerryError(.readOnly, "backup location \(displayName): the key may list the location but not write into it (\(RemoteBackupStores.answer(error, of: displayName)))",
                             hint: "give the key permission to write and delete objects under \(displayName), or choose another location")
        }
        do {
            try deleteObject(name)
        } catch let error as FerryError where error.code == .wrongPassword {
            throw FerryError(.readOnly, "backup location \(displayName): the key may write into the location but not delete from it, which pruning (`keep`) and rollbacks need; Ferry's check object \(name) is left there (\(RemoteBackupStores.answer(error, of: displayName)))",
                             hint: "give the key permission to delete objects under \(displayName), then delete \(name)")
        }
    }
}

/// `s3://` and `gs://` backup locations: S3's and Cloud Storage's XML APIs (ListObjectsV2, PUT,
/// multipart uploads, GET, DELETE), V4-signed.
struct ObjectStoreBackups: ObjectBackupStore {
    let base: String
    let request: S3Request
    var locationKey: String { request.key }

    init(location: String) throws {
        base = location
        request = try S3Request(url: location)
    }

    private func send(_ method: String, key: String?, query: [(String, String)] = [], headers: [String: String] = [:],
                      bytes: [UInt8]? = nil) throws -> (status: Int, headers: [String: String], body: [UInt8]) {
        let path = request.path(forKey: key ?? "")
        var sent = request.signedHeaders(method: method, path: path, query: query, payloadHash: "UNSIGNED-PAYLOAD", extra: headers)
        for (k, v) in headers { sent[k] = v }
        if bytes != nil || method == "PUT" || method == "POST" { sent["Content-Length"] = String(bytes?.count ?? 0) }
        return try HTTPByteReader.exchange(method: method, url: request.httpURL(path: path, query: query), headers: sent,
                                           body: bytes.map { bytes in { try $0.write(bytes: bytes) } })
    }

    private func check(_ answer: (status: Int, headers: [String: String], body: [UInt8]), allowing: Set<Int> = []) throws {
        guard (200..<300).contains(answer.status) || allowing.contains(answer.status) else {
            let error = request.statusError(answer.status, body: String(decoding: answer.body.prefix(4096), as: UTF8.self))
            throw FerryError(error.code, error.message.replacingOccurrences(of: request.name, with: displayName), hint: error.diagnostics.first?.hint)
        }
    }

    /// ListObjectsV2 under `prefix`, every page.
    func listObjects(prefix: String, delimiter: String?) throws -> (objects: [String: Int64], prefixes: [String], tags: [String: String]) {
        var objects: [String: Int64] = [:]
        var tags: [String: String] = [:]
        var prefixes: [String] = []
        var token: String?
        repeat {
            var query: [(String, String)] = [("list-type", "2"), ("prefix", prefix)]
            if let delimiter { query.append(("delimiter", delimiter)) }
            if let token { query.append(("continuation-token", token)) }
            let answer = try send("GET", key: nil, query: query)
            try check(answer)
            let text = String(decoding: answer.body, as: UTF8.self)
            for contents in RemoteBackupStores.elements("Contents", in: text) {
                if let key = RemoteBackupStores.elements("Key", in: contents).first {
                    objects[key] = Int64(RemoteBackupStores.elements("Size", in: contents).first ?? "") ?? 0
                    tags[key] = RemoteBackupStores.elements("ETag", in: contents).first
                }
            }
            for common in RemoteBackupStores.elements("CommonPrefixes", in: text) {
                prefixes += RemoteBackupStores.elements("Prefix", in: common)
            }
            token = RemoteBackupStores.elements("IsTruncated", in: text).first == "true"
                ? RemoteBackupStores.elements("NextContinuationToken", in: text).first : nil
        } while token != nil
        return (objects, prefixes, tags)
    }

    func getObject(_ name: String) throws -> Data? {
        let answer = try send("GET", key: name)
        if answer.status == 404 { return nil }
        try check(answer)
        return Data(answer.body)
    }

    func deleteObject(_ name: String) throws { try check(try send("DELETE", key: name), allowing: [404]) }

    func putObject(_ name: String, bytes: [UInt8]) throws { try check(try send("PUT", key: name, bytes: bytes)) }

    func beginParts(of name: String) throws -> String {
        let created = try send("POST", key: name, query: [("uploads", "")])
        try check(created)
        guard let uploadID = RemoteBackupStores.elements("UploadId", in: String(decoding: created.body, as: UTF8.self)).first else {
            throw FerryError(.importError, "\(displayName): the store started no multipart upload")
        }
        return uploadID
    }

    func sendPart(_ bytes: [UInt8], number: Int, of name: String, upload: String) throws -> String {
        let answer = try send("PUT", key: name, query: [("partNumber", String(number)), ("uploadId", upload)], bytes: bytes)
        try check(answer)
        return answer.headers["etag"] ?? ""
    }

    func commitParts(_ tags: [String], of name: String, upload: String) throws {
        let document = "<CompleteMultipartUpload>" + tags.enumerated().map {
            "<Part><PartNumber>\($0.offset + 1)</PartNumber><ETag>\($0.element)</ETag></Part>"
        }.joined() + "</CompleteMultipartUpload>"
        let done = try send("POST", key: name, query: [("uploadId", upload)], bytes: Array(document.utf8))
        try check(done)
        // S3 may answer 200 and still fail the completion, with an <Error> body.
        if String(decoding: done.body, as: UTF8.self).contains("<Error>") {
            throw FerryError(.importError, "\(displayName): the store did not complete the multipart upload of \(name)")
        }
    }

    func abortParts(of name: String, upload: String) { _ = try? send("DELETE", key: name, query: [("uploadId", upload)]) }

    /// ListMultipartUploads under `prefix` (every page), then AbortMultipartUpload of each whose
    /// name is `own`'s: the parts a killed run sent are deleted, not left for the bucket's
    /// lifecycle rules, and another writer's upload under the prefix goes on.
    func abortUnfinishedParts(under prefix: String, only own: Set<String>?) throws {
        var keyMarker = "", uploadMarker = ""
        repeat {
            var query: [(String, String)] = [("uploads", ""), ("prefix", prefix)]
            if !keyMarker.isEmpty { query += [("key-marker", keyMarker), ("upload-id-marker", uploadMarker)] }
            let answer = try send("GET", key: nil, query: query)
            try check(answer)
            let text = String(decoding: answer.body, as: UTF8.self)
            for upload in RemoteBackupStores.elements("Upload", in: text) {
                guard let key = RemoteBackupStores.elements("Key", in: upload).first,
                      let id = RemoteBackupStores.elements("UploadId", in: upload).first, key.hasPrefix(prefix),
                      own?.contains(String(key.dropFirst(prefix.count))) ?? true else { continue }
                try check(try send("DELETE", key: key, query: [("uploadId", id)]), allowing: [404])
            }
            let truncated = RemoteBackupStores.elements("IsTruncated", in: text).first == "true"
            keyMarker = truncated ? RemoteBackupStores.elements("NextKeyMarker", in: text).first ?? "" : ""
            uploadMarker = truncated ? RemoteBackupStores.elements("NextUploadIdMarker", in: text).first ?? "" : ""
        } while !keyMarker.isEmpty
    }

    func openObject(_ name: String) throws -> any ByteReader {
        let path = request.path(forKey: name)
        return try HTTPByteReader.open(url: request.httpURL(path: path),
                                       headers: request.signedHeaders(method: "GET", path: path, query: [], payloadHash: "UNSIGNED-PAYLOAD"),
                                       redirects: 0, statusError: { status, body in request.statusError(status, body: body) })
    }
}

/// `abs://ACCOUNT/CONTAINER/PREFIX` backup locations: Azure's List Blobs, Put Blob, Put Block,
/// Put Block List (the blob appears only when the list commits; uncommitted blocks expire),
/// Get Blob and Delete Blob, Shared Key or SAS.
struct AzureBlobBackups: ObjectBackupStore {
    let base: String
    let request: AzureBlobRequest
    var locationKey: String { request.blob }

    init(location: String) throws {
        base = location
        request = try AzureBlobRequest(url: location)
    }

    private func send(_ method: String, blob: String?, query: [(String, String)] = [], headers: [String: String] = [:],
                      bytes: [UInt8]? = nil) throws -> (status: Int, headers: [String: String], body: [UInt8]) {
        let path = request.path(forBlob: blob ?? "")
        var (url, sent) = request.prepare(method: method, path: path, query: query, headers: headers, contentLength: Int64(bytes?.count ?? 0))
        if method == "PUT" || bytes != nil { sent["Content-Length"] = String(bytes?.count ?? 0) }
        return try HTTPByteReader.exchange(method: method, url: url, headers: sent, body: bytes.map { bytes in { try $0.write(bytes: bytes) } })
    }

    private func check(_ answer: (status: Int, headers: [String: String], body: [UInt8]), allowing: Set<Int> = []) throws {
        guard (200..<300).contains(answer.status) || allowing.contains(answer.status) else {
            let error = request.statusError(answer.status, body: String(decoding: answer.body.prefix(4096), as: UTF8.self), headers: answer.headers)
            throw FerryError(error.code, error.message.replacingOccurrences(of: request.name, with: displayName), hint: error.diagnostics.first?.hint)
        }
    }

    /// List Blobs under `prefix`, every page (`NextMarker`).
    func listObjects(prefix: String, delimiter: String?) throws -> (objects: [String: Int64], prefixes: [String], tags: [String: String]) {
        var blobs: [String: Int64] = [:]
        var tags: [String: String] = [:]
        var prefixes: [String] = []
        var marker = ""
        repeat {
            var query: [(String, String)] = [("restype", "container"), ("comp", "list"), ("prefix", prefix)]
            if let delimiter { query.append(("delimiter", delimiter)) }
            if !marker.isEmpty { query.append(("marker", marker)) }
            let answer = try send("GET", blob: nil, query: query)
            try check(answer)
            let text = String(decoding: answer.body, as: UTF8.self)
            for item in RemoteBackupStores.elements("Blob", in: text) {
                if let name = RemoteBackupStores.elements("Name", in: item).first {
                    blobs[name] = Int64(RemoteBackupStores.elements("Content-Length", in: item).first ?? "") ?? 0
                    tags[name] = RemoteBackupStores.elements("Etag", in: item).first
                }
            }
            for item in RemoteBackupStores.elements("BlobPrefix", in: text) {
                prefixes += RemoteBackupStores.elements("Name", in: item)
            }
            marker = RemoteBackupStores.elements("NextMarker", in: text).first ?? ""
        } while !marker.isEmpty
        return (blobs, prefixes, tags)
    }

    func getObject(_ name: String) throws -> Data? {
        let answer = try send("GET", blob: name)
        if answer.status == 404 { return nil }
        try check(answer)
        return Data(answer.body)
    }

    func deleteObject(_ name: String) throws { try check(try send("DELETE", blob: name), allowing: [404]) }

    func putObject(_ name: String, bytes: [UInt8]) throws {
        try check(try send("PUT", blob: name, headers: ["x-ms-blob-type": "BlockBlob"], bytes: bytes))
    }

    /// Blocks need no upload to be started.
    func beginParts(of name: String) throws -> String { "" }

    func sendPart(_ bytes: [UInt8], number: Int, of name: String, upload: String) throws -> String {
        let blockID = Data(String(format: "ferry-block-%08d", number - 1).utf8).base64EncodedString()
        try check(try send("PUT", blob: name, query: [("comp", "block"), ("blockid", blockID)], bytes: bytes))
        return blockID
    }

    func commitParts(_ tags: [String], of name: String, upload: String) throws {
        let document = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>" + tags.map { "<Latest>\($0)</Latest>" }.joined() + "</BlockList>"
        try check(try send("PUT", blob: name, query: [("comp", "blocklist")], bytes: Array(document.utf8)))
    }

    /// Uncommitted blocks cannot be deleted by a request; the store drops them after a week.
    func abortParts(of name: String, upload: String) {}

    /// Uncommitted blocks show in no listing and cannot be deleted: nothing to do.
    func abortUnfinishedParts(under prefix: String, only own: Set<String>?) throws {}

    func openObject(_ name: String) throws -> any ByteReader {
        let (url, headers) = request.prepare(method: "GET", path: request.path(forBlob: name))
        return try HTTPByteReader.open(url: url, headers: headers, redirects: 0,
                                       statusError: { status, body in request.statusError(status, body: body) })
    }
}

extension RemoteBackupStores {
    /// Streams `reader` into a new file at `path` (mode 0600), 1 MiB at a time.
    static func copy(_ reader: any ByteReader, to path: String) throws {
        FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        guard let out = FileHandle(forWritingAtPath: path) else {
            throw FerryError(.internalError, "cannot write \(path)")
        }
        defer { try? out.close() }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try reader.read(into: $0) }
            if n == 0 { break }
            try out.write(contentsOf: buffer[0..<n])
        }
    }
}
