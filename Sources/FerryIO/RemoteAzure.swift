import FerryCore
import Foundation

/// A request to Azure Blob Storage for `abs://[:KEY@]ACCOUNT/CONTAINER/BLOB[?SAS]`, authorized
/// with Shared Key (HMAC-SHA256 of the canonical string with the base64-decoded account key,
/// `x-ms-date`, `x-ms-version` pinned to `AzureBlobRequest.version`) or a SAS token.
///
/// Where the credentials come from, first found wins:
/// 1. the URL: the userinfo password is the account key (`abs://:${env:KEY}@account/...`; a
///    literal key is refused when the plan is loaded, `InvalidParameter.LiteralPassword`), or
///    the query is a SAS token (`abs://account/c/b?${env:SAS}`);
/// 2. `AZURE_STORAGE_CONNECTION_STRING` (the Azure SDKs' and CLI's form,
///    `AccountName=...;AccountKey=...;BlobEndpoint=...;SharedAccessSignature=...`), when its
///    `AccountName` is the URL's account or absent;
/// 3. `AZURE_STORAGE_KEY`, then `AZURE_STORAGE_SAS_TOKEN` (the Azure CLI's variables).
///
/// The endpoint is the connection string's `BlobEndpoint` (path-style with the emulator,
/// `http://127.0.0.1:10000/devstoreaccount1`), else its `DefaultEndpointsProtocol` and
/// `EndpointSuffix`, else `https://ACCOUNT.blob.core.windows.net`. A refused key or token
/// (HTTP 401/403) is `OperationDenied.WrongPassword`; a missing blob `ImportError`.
struct AzureBlobRequest {
    /// The `x-ms-version` Ferry speaks (Shared Key format of 2015-02-21 and later).
    static let version = "2021-08-06"

    var name: String
    var account: String
    var container: String
    var blob: String
    var endpoint: URLComponents
    /// The account key, decoded from base64; nil when a SAS token is used.
    var key: [UInt8]?
    /// The SAS token's parameters, in the order given; empty with Shared Key.
    var sas: [(String, String)]

    init(url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        name = Redaction.redactURL(url)
        guard let components = URLComponents(string: url), let account = components.host, !account.isEmpty else {
            throw FerryError(.importError, "not an abs URL: \(name)", hint: "write abs://ACCOUNT/CONTAINER/BLOB")
        }
        self.account = account
        let path = components.percentEncodedPath.removingPercentEncoding ?? components.path
        let parts = path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: true)
        container = parts.first.map(String.init) ?? ""
        blob = parts.count > 1 ? String(parts[1]) : ""
        guard !container.isEmpty else {
            throw FerryError(.importError, "\(name) names no container", hint: "write abs://ACCOUNT/CONTAINER/BLOB")
        }
        if let user = components.user, !user.isEmpty {
            throw FerryError(.importError, "\(name): the userinfo of an abs URL is only :KEY",
                             hint: "write abs://:${env:AZURE_STORAGE_KEY}@ACCOUNT/CONTAINER/BLOB")
        }
        let connection = Self.connectionString(environment["AZURE_STORAGE_CONNECTION_STRING"], account: account)
        var endpointText = "https://\(account).blob.core.windows.net"
        var variable = "AZURE_STORAGE_CONNECTION_STRING"
        if let blobEndpoint = connection["blobendpoint"], !blobEndpoint.isEmpty {
            endpointText = blobEndpoint
        } else if let suffix = connection["endpointsuffix"] {
            endpointText = "\(connection["defaultendpointsprotocol"] ?? "https")://\(account).blob.\(suffix)"
        } else {
            variable = "AZURE_STORAGE_CONNECTION_STRING (BlobEndpoint=...)"
        }
        endpoint = try S3Request.checkedEndpoint(endpointText, variable: variable)

        func decodeKey(_ text: String, from place: String) throws -> [UInt8] {
            guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespaces)), !data.isEmpty else {
                throw FerryError(.importError, "\(name): the account key from \(place) is not base64",
                                 hint: "give the storage account's access key as the portal shows it")
            }
            return Array(data)
        }
        let urlSAS = components.percentEncodedQueryItems?.map { ($0.name.removingPercentEncoding ?? $0.name, ($0.value ?? "").removingPercentEncoding ?? "") } ?? []
        key = nil
        sas = []
        if let password = components.percentEncodedPassword, !password.isEmpty {
            key = try decodeKey(password.removingPercentEncoding ?? password, from: "the URL")
        } else if !urlSAS.isEmpty {
            sas = urlSAS
        } else if let accountKey = connection["accountkey"] {
            key = try decodeKey(accountKey, from: "AZURE_STORAGE_CONNECTION_STRING")
        } else if let token = connection["sharedaccesssignature"] {
            sas = Self.queryPairs(token)
        } else if let accountKey = environment["AZURE_STORAGE_KEY"],
                  environment["AZURE_STORAGE_ACCOUNT"] == nil || environment["AZURE_STORAGE_ACCOUNT"] == account {
            key = try decodeKey(accountKey, from: "AZURE_STORAGE_KEY")
        } else if let token = environment["AZURE_STORAGE_SAS_TOKEN"] {
            sas = Self.queryPairs(token)
        } else {
            throw FerryError(.importError, "\(name): no account key or SAS token for Azure storage account \(account)",
                             hint: "write abs://:${env:VARIABLE}@ACCOUNT/CONTAINER/BLOB, or set AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN")
        }
    }

    /// The fields of an Azure connection string (names lowercased), or none when it names another
    /// account.
    static func connectionString(_ text: String?, account: String) -> [String: String] {
        guard let text, !text.isEmpty else { return [:] }
        var fields: [String: String] = [:]
        for part in text.split(separator: ";") {
            guard let equals = part.firstIndex(of: "=") else { continue }
            fields[part[..<equals].trimmingCharacters(in: .whitespaces).lowercased()] = String(part[part.index(after: equals)...])
        }
        if let named = fields["accountname"], named != account { return [:] }
        return fields
    }

    static func queryPairs(_ token: String) -> [(String, String)] {
        let trimmed = token.hasPrefix("?") ? String(token.dropFirst()) : token
        return trimmed.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1)
            let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
            return (name, value)
        }
    }

    /// The encoded request path of `blob` in this container (this request's blob by default).
    func path(forBlob blob: String? = nil) -> String {
        let blob = blob ?? self.blob
        let base = endpoint.percentEncodedPath.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        let segments = [container] + (blob.isEmpty ? [] : blob.split(separator: "/", omittingEmptySubsequences: false).map(String.init))
        return (base.isEmpty ? "" : "/" + base) + "/" + segments.map(S3Request.encode).joined(separator: "/")
    }

    /// The URL and headers of one request. `query` holds the operation's parameters
    /// (`comp=block`...); with a SAS token its parameters are added. `headers` are sent and, for
    /// the standard ones and `x-ms-*`, signed.
    func prepare(method: String, path: String, query: [(String, String)] = [], headers: [String: String] = [:],
                 contentLength: Int64 = 0, now: Date = Date()) -> (url: String, headers: [String: String]) {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        var sent = headers
        sent["x-ms-date"] = formatter.string(from: now)
        sent["x-ms-version"] = Self.version
        let allQuery = query + sas
        let queryText = allQuery.isEmpty ? "" : "?" + allQuery.map { "\(S3Request.encode($0.0))=\(S3Request.encode($0.1))" }.joined(separator: "&")
        let url = "\(endpoint.scheme ?? "https")://\(endpoint.host!)\(endpoint.port.map { ":\($0)" } ?? "")\(path)\(queryText)"
        if let key {
            let toSign = Self.stringToSign(method: method, account: account, path: path, query: query,
                                           headers: sent, contentLength: contentLength)
            let signature = Data(Digest.hmacSHA256(key: key, message: Array(toSign.utf8))).base64EncodedString()
            sent["Authorization"] = "SharedKey \(account):\(signature)"
        }
        return (url, sent)
    }

    /// The Shared Key string to sign (Blob service, version 2015-02-21 and later): the verb, eleven
    /// standard headers (Content-Length empty when 0), the `x-ms-*` headers lowercased and sorted
    /// (`name:value`), then `/ACCOUNT/encoded-path` and each query parameter (name lowercased,
    /// sorted; values of one name sorted and joined by commas) as `\nname:value`.
    static func stringToSign(method: String, account: String, path: String, query: [(String, String)],
                             headers: [String: String], contentLength: Int64) -> String {
        var lower: [String: String] = [:]
        for (k, v) in headers { lower[k.lowercased()] = v }
        let standard = ["content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
                        "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range"]
        var lines = [method]
        for name in standard {
            if name == "content-length" { lines.append(contentLength == 0 ? "" : String(contentLength)); continue }
            lines.append(lower[name] ?? "")
        }
        let msHeaders = lower.filter { $0.key.hasPrefix("x-ms-") }.sorted { $0.key < $1.key }
            .map { "\($0.key):\($0.value.trimmingCharacters(in: .whitespaces))" }
        var resource = "/\(account)\(path)"
        var grouped: [String: [String]] = [:]
        for (k, v) in query { grouped[k.lowercased(), default: []].append(v) }
        for name in grouped.keys.sorted() { resource += "\n\(name):\(grouped[name]!.sorted().joined(separator: ","))" }
        return (lines + msHeaders + [resource]).joined(separator: "\n")
    }

    /// 401/403 `WrongPassword`, 404 `ImportError` "no such blob", others `ImportError`; with the
    /// service's error code when it sent one.
    func statusError(_ status: Int, body: String = "", headers: [String: String] = [:]) -> FerryError {
        var code = headers["x-ms-error-code"]
        if code == nil, let start = body.range(of: "<Code>"), let end = body.range(of: "</Code>", range: start.upperBound..<body.endIndex) {
            code = String(body[start.upperBound..<end.lowerBound])
        }
        let detail = code.map { " (\(Redaction.escapeControlCharacters(String($0.prefix(60)))))" } ?? ""
        if status == 401 || status == 403 {
            return FerryError(.wrongPassword, "\(name): Azure Blob Storage refused the credentials: HTTP \(status)\(detail)",
                              hint: key != nil ? "check the storage account key" : "check the SAS token: its permissions, start and expiry")
        }
        if status == 404 {
            return FerryError(.importError, "\(name): not found in Azure Blob Storage: HTTP 404\(detail)",
                              hint: code == "ContainerNotFound" ? "create the container first: Ferry never creates buckets or containers" : nil)
        }
        return FerryError(.importError, "\(name): Azure Blob Storage answered HTTP \(status)\(detail)")
    }

    func open() throws -> any ByteReader {
        let (url, headers) = prepare(method: "GET", path: path())
        do {
            return try HTTPByteReader.open(url: url, headers: headers, redirects: 0,
                                           statusError: { status, body in statusError(status, body: body) })
        } catch let error as FerryError where error.code == .importError {
            throw FerryError(.importError, error.message.replacingOccurrences(of: Redaction.redactURL(url), with: name),
                             hint: error.diagnostics.first?.hint)
        }
    }

    func head() throws -> (size: Int64?, digest: String?) {
        let (url, headers) = prepare(method: "HEAD", path: path())
        return try HTTPByteReader.head(url: url, headers: headers, statusError: { status, _ in statusError(status) })
    }
}
