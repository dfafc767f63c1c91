import FerryCore
import Foundation

/// Backup sets in object stores: `s3://BUCKET/PREFIX` and `gs://BUCKET/PREFIX` (S3's and Cloud
/// Storage's XML APIs: ListObjectsV2, PUT, multipart uploads, GET, DELETE) and
/// `abs://ACCOUNT/CONTAINER/PREFIX` (Azure: List Blobs, Put Block, Put Block List, Get Blob,
/// Delete Blob). A set is the key prefix `PREFIX/ID/`; keys and endpoints as for sources (SPEC §2).
/// Files are uploaded from a local file in parts of `partSize` bytes, one part in memory at a time.
public enum RemoteBackupStores {
    /// Installs the factory `BackupStores.open` uses for storage locations.
    public static func install() {
        BackupStores.remoteFactory = { location in
            switch BackupStores.remoteScheme(of: location) {
            case "s3", "gs": return try ObjectStoreBackups(location: location)
            case "abs": return try AzureBlobBackups(location: location)
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

/// `s3://` and `gs://` backup locations.
struct ObjectStoreBackups: BackupStore {
    let base: String
    let request: S3Request
    var displayName: String { Redaction.redactURL(base) }
    var isRemote: Bool { true }

    init(location: String) throws {
        base = location
        request = try S3Request(url: location)
    }

    func location(of id: String) -> String { "\(base)/\(id)" }
    private var prefix: String { request.key.isEmpty ? "" : request.key.hasSuffix("/") ? request.key : request.key + "/" }
    private func key(_ id: String, _ file: String) -> String { "\(prefix)\(id)/\(file)" }

    private func send(_ method: String, key: String?, query: [(String, String)] = [], headers: [String: String] = [:],
                      length: Int = 0, body: ((RemoteSocket) throws -> Void)? = nil) throws -> (status: Int, headers: [String: String], body: [UInt8]) {
        let path = key.map { request.path(forKey: $0) } ?? request.path(forKey: "")
        var sent = request.signedHeaders(method: method, path: path, query: query, payloadHash: "UNSIGNED-PAYLOAD", extra: headers)
        for (k, v) in headers { sent[k] = v }
        if body != nil || method == "PUT" || method == "POST" { sent["Content-Length"] = String(length) }
        return try HTTPByteReader.exchange(method: method, url: request.httpURL(path: path, query: query), headers: sent, body: body)
    }

    private func check(_ answer: (status: Int, headers: [String: String], body: [UInt8]), allowing: Set<Int> = []) throws {
        guard (200..<300).contains(answer.status) || allowing.contains(answer.status) else {
            let error = request.statusError(answer.status, body: String(decoding: answer.body.prefix(4096), as: UTF8.self))
            throw FerryError(error.code, error.message.replacingOccurrences(of: request.name, with: displayName), hint: error.diagnostics.first?.hint)
        }
    }

    /// ListObjectsV2 under `prefix`: (keys with sizes, common prefixes), every page.
    private func list(prefix: String, delimiter: String?) throws -> (objects: [String: Int64], prefixes: [String]) {
        var objects: [String: Int64] = [:]
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
                }
            }
            for common in RemoteBackupStores.elements("CommonPrefixes", in: text) {
                prefixes += RemoteBackupStores.elements("Prefix", in: common)
            }
            token = RemoteBackupStores.elements("IsTruncated", in: text).first == "true"
                ? RemoteBackupStores.elements("NextContinuationToken", in: text).first : nil
        } while token != nil
        return (objects, prefixes)
    }

    func setIDs() throws -> [String] {
        try list(prefix: prefix, delimiter: "/").prefixes.compactMap { common in
            let id = common.dropFirst(prefix.count).dropLast(common.hasSuffix("/") ? 1 : 0)
            return id.isEmpty || id.contains("/") ? nil : String(id)
        }.sorted()
    }

    func manifest(of id: String) throws -> Data? {
        let answer = try send("GET", key: key(id, "manifest.json"))
        if answer.status == 404 { return nil }
        try check(answer)
        return Data(answer.body)
    }

    func files(in id: String) throws -> [String: Int64] {
        let start = "\(prefix)\(id)/"
        var result: [String: Int64] = [:]
        for (key, size) in try list(prefix: start, delimiter: nil).objects {
            let name = String(key.dropFirst(start.count))
            if !name.isEmpty && !name.contains("/") { result[name] = size }
        }
        return result
    }

    func put(_ file: String, from path: String, in id: String) throws {
        let size = Int((try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0)
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw FerryError(.internalError, "cannot read the staged backup file \(path)")
        }
        defer { try? handle.close() }
        let objectKey = key(id, file)
        let partSize = RemoteBackupStores.partSize
        if size <= partSize {
            let bytes = try RemoteBackupStores.readPart(handle, offset: 0, length: size)
            try check(try send("PUT", key: objectKey, length: bytes.count, body: { try $0.write(bytes: bytes) }))
            return
        }
        // A multipart upload: nothing is visible under the key until it is completed.
        let created = try send("POST", key: objectKey, query: [("uploads", "")])
        try check(created)
        guard let uploadID = RemoteBackupStores.elements("UploadId", in: String(decoding: created.body, as: UTF8.self)).first else {
            throw FerryError(.importError, "\(displayName): the store started no multipart upload")
        }
        do {
            var etags: [String] = []
            var offset = 0
            while offset < size {
                let bytes = try RemoteBackupStores.readPart(handle, offset: UInt64(offset), length: min(partSize, size - offset))
                let answer = try send("PUT", key: objectKey, query: [("partNumber", String(etags.count + 1)), ("uploadId", uploadID)],
                                      length: bytes.count, body: { try $0.write(bytes: bytes) })
                try check(answer)
                etags.append(answer.headers["etag"] ?? "")
                offset += bytes.count
                KillPoint.check("change:upload.part")
            }
            let document = "<CompleteMultipartUpload>" + etags.enumerated().map {
                "<Part><PartNumber>\($0.offset + 1)</PartNumber><ETag>\($0.element)</ETag></Part>"
            }.joined() + "</CompleteMultipartUpload>"
            let bytes = Array(document.utf8)
            let done = try send("POST", key: objectKey, query: [("uploadId", uploadID)], length: bytes.count, body: { try $0.write(bytes: bytes) })
            try check(done)
            if String(decoding: done.body, as: UTF8.self).contains("<Error>") {
                throw FerryError(.importError, "\(displayName): the store did not complete the multipart upload of \(file)")
            }
        } catch {
            _ = try? send("DELETE", key: objectKey, query: [("uploadId", uploadID)])
            throw error
        }
    }

    func putManifest(_ data: Data, in id: String) throws {
        let bytes = Array(data)
        try check(try send("PUT", key: key(id, "manifest.json"), length: bytes.count, body: { try $0.write(bytes: bytes) }))
    }

    func fetch(_ file: String, in id: String, to path: String) throws -> String {
        let objectKey = key(id, file)
        let path0 = request.path(forKey: objectKey)
        let reader = try HTTPByteReader.open(url: request.httpURL(path: path0),
                                             headers: request.signedHeaders(method: "GET", path: path0, query: [], payloadHash: "UNSIGNED-PAYLOAD"),
                                             redirects: 0, statusError: { status, body in request.statusError(status, body: body) })
        defer { reader.close() }
        try RemoteBackupStores.copy(reader, to: path)
        return path
    }

    func removeSet(_ id: String) throws {
        try check(try send("DELETE", key: key(id, "manifest.json")), allowing: [404])
        KillPoint.check("change:prune.manifestRemoved")
        for name in try files(in: id).keys.sorted() {
            try check(try send("DELETE", key: key(id, name)), allowing: [404])
        }
    }
}

/// `abs://ACCOUNT/CONTAINER/PREFIX` backup locations.
struct AzureBlobBackups: BackupStore {
    let base: String
    let request: AzureBlobRequest
    var displayName: String { Redaction.redactURL(base) }
    var isRemote: Bool { true }

    init(location: String) throws {
        base = location
        request = try AzureBlobRequest(url: location)
    }

    func location(of id: String) -> String { "\(base)/\(id)" }
    private var prefix: String { request.blob.isEmpty ? "" : request.blob.hasSuffix("/") ? request.blob : request.blob + "/" }
    private func blob(_ id: String, _ file: String) -> String { "\(prefix)\(id)/\(file)" }

    private func send(_ method: String, blob: String?, query: [(String, String)] = [], headers: [String: String] = [:],
                      length: Int = 0, body: ((RemoteSocket) throws -> Void)? = nil) throws -> (status: Int, headers: [String: String], body: [UInt8]) {
        let path = blob.map { request.path(forBlob: $0) } ?? request.path(forBlob: "")
        var (url, sent) = request.prepare(method: method, path: path, query: query, headers: headers, contentLength: Int64(length))
        if method == "PUT" || body != nil { sent["Content-Length"] = String(length) }
        return try HTTPByteReader.exchange(method: method, url: url, headers: sent, body: body)
    }

    private func check(_ answer: (status: Int, headers: [String: String], body: [UInt8]), allowing: Set<Int> = []) throws {
        guard (200..<300).contains(answer.status) || allowing.contains(answer.status) else {
            let error = request.statusError(answer.status, body: String(decoding: answer.body.prefix(4096), as: UTF8.self), headers: answer.headers)
            throw FerryError(error.code, error.message.replacingOccurrences(of: request.name, with: displayName), hint: error.diagnostics.first?.hint)
        }
    }

    private func list(prefix: String, delimiter: String?) throws -> (blobs: [String: Int64], prefixes: [String]) {
        var blobs: [String: Int64] = [:]
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
                }
            }
            for item in RemoteBackupStores.elements("BlobPrefix", in: text) {
                prefixes += RemoteBackupStores.elements("Name", in: item)
            }
            marker = RemoteBackupStores.elements("NextMarker", in: text).first ?? ""
        } while !marker.isEmpty
        return (blobs, prefixes)
    }

    func setIDs() throws -> [String] {
        try list(prefix: prefix, delimiter: "/").prefixes.compactMap { common in
            let id = common.dropFirst(prefix.count).dropLast(common.hasSuffix("/") ? 1 : 0)
            return id.isEmpty || id.contains("/") ? nil : String(id)
        }.sorted()
    }

    func manifest(of id: String) throws -> Data? {
        let answer = try send("GET", blob: blob(id, "manifest.json"))
        if answer.status == 404 { return nil }
        try check(answer)
        return Data(answer.body)
    }

    func files(in id: String) throws -> [String: Int64] {
        let start = "\(prefix)\(id)/"
        var result: [String: Int64] = [:]
        for (name, size) in try list(prefix: start, delimiter: nil).blobs {
            let file = String(name.dropFirst(start.count))
            if !file.isEmpty && !file.contains("/") { result[file] = size }
        }
        return result
    }

    /// Put Block for each part, then Put Block List: the blob appears only when the list commits.
    func put(_ file: String, from path: String, in id: String) throws {
        let size = Int((try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0)
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw FerryError(.internalError, "cannot read the staged backup file \(path)")
        }
        defer { try? handle.close() }
        let name = blob(id, file)
        var ids: [String] = []
        var offset = 0
        while offset < size {
            let bytes = try RemoteBackupStores.readPart(handle, offset: UInt64(offset), length: min(RemoteBackupStores.partSize, size - offset))
            let blockID = Data(String(format: "ferry-block-%08d", ids.count).utf8).base64EncodedString()
            try check(try send("PUT", blob: name, query: [("comp", "block"), ("blockid", blockID)], length: bytes.count,
                               body: { try $0.write(bytes: bytes) }))
            ids.append(blockID)
            offset += bytes.count
            KillPoint.check("change:upload.part")
        }
        let document = Array(("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>" + ids.map { "<Latest>\($0)</Latest>" }.joined() + "</BlockList>").utf8)
        try check(try send("PUT", blob: name, query: [("comp", "blocklist")], length: document.count,
                           body: { try $0.write(bytes: document) }))
    }

    func putManifest(_ data: Data, in id: String) throws {
        let bytes = Array(data)
        try check(try send("PUT", blob: blob(id, "manifest.json"), headers: ["x-ms-blob-type": "BlockBlob"], length: bytes.count,
                           body: { try $0.write(bytes: bytes) }))
    }

    func fetch(_ file: String, in id: String, to path: String) throws -> String {
        let (url, headers) = request.prepare(method: "GET", path: request.path(forBlob: blob(id, file)))
        let reader = try HTTPByteReader.open(url: url, headers: headers, redirects: 0,
                                             statusError: { status, body in request.statusError(status, body: body) })
        defer { reader.close() }
        try RemoteBackupStores.copy(reader, to: path)
        return path
    }

    func removeSet(_ id: String) throws {
        try check(try send("DELETE", blob: blob(id, "manifest.json")), allowing: [404])
        KillPoint.check("change:prune.manifestRemoved")
        for name in try files(in: id).keys.sorted() {
            try check(try send("DELETE", blob: blob(id, name)), allowing: [404])
        }
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
