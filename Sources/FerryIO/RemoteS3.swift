import FerryCore
import Foundation

/// A path-style request to an S3-compatible object store, signed with AWS Signature V4
/// (`AWS4-HMAC-SHA256`, unsigned payload). Two schemes use it:
///
/// - `s3://bucket/key`: credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
///   `AWS_SESSION_TOKEN`; the region from `AWS_REGION` or `AWS_DEFAULT_REGION` (default
///   us-east-1); the endpoint from `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` (default
///   `https://s3.REGION.amazonaws.com`).
/// - `gs://bucket/object`: Google Cloud Storage's XML API with an HMAC key, in its
///   S3-interoperable form (Google's "V4 signing with HMAC keys": the same algorithm with region
///   `auto` and the `s3` service in the scope). The key is the URL's userinfo
///   (`gs://ACCESS_ID:${env:SECRET}@bucket/object`, the secret by reference only), else
///   `GCS_HMAC_ACCESS_ID` and `GCS_HMAC_SECRET`; the endpoint is `STORAGE_EMULATOR_HOST` (the
///   variable Google's client libraries read; `host:port` means http) or
///   `https://storage.googleapis.com`.
///
/// Endpoints are http or https (certificates verified against the trust store) and may not hold
/// credentials. A refused signature (HTTP 401/403) is `OperationDenied.WrongPassword`; a missing
/// object `ImportError`; both name the URL redacted.
struct S3Request {
    enum Flavor: Sendable { case s3, gcs }
    var name: String
    var flavor: Flavor
    var endpoint: URLComponents
    var bucket: String
    /// The object key, not encoded (empty for bucket-level requests).
    var key: String
    var region: String
    var accessKey: String
    var secretKey: String
    var sessionToken: String?

    init(url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        name = Redaction.redactURL(url)
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              let bucket = components.host, !bucket.isEmpty else {
            throw FerryError(.importError, "not an s3 or gs URL: \(name)", hint: "write s3://bucket/key or gs://bucket/object")
        }
        flavor = scheme == "gs" ? .gcs : .s3
        self.bucket = bucket
        let path = components.percentEncodedPath.removingPercentEncoding ?? components.path
        key = path.hasPrefix("/") ? String(path.dropFirst()) : path
        let endpointText: String
        let variable: String
        switch flavor {
        case .s3:
            region = environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1"
            variable = environment["AWS_ENDPOINT_URL_S3"] != nil ? "AWS_ENDPOINT_URL_S3" : "AWS_ENDPOINT_URL"
            endpointText = environment["AWS_ENDPOINT_URL_S3"] ?? environment["AWS_ENDPOINT_URL"] ?? "https://s3.\(region).amazonaws.com"
        case .gcs:
            region = "auto"
            variable = "STORAGE_EMULATOR_HOST"
            if let emulator = environment["STORAGE_EMULATOR_HOST"], !emulator.isEmpty {
                endpointText = emulator.contains("://") ? emulator : "http://\(emulator)"
            } else {
                endpointText = "https://storage.googleapis.com"
            }
        }
        endpoint = try Self.checkedEndpoint(endpointText, variable: variable)
        switch flavor {
        case .s3:
            guard let access = environment["AWS_ACCESS_KEY_ID"], let secret = environment["AWS_SECRET_ACCESS_KEY"] else {
                throw FerryError(.importError, "\(name): AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set to read from S3")
            }
            accessKey = access
            secretKey = secret
            sessionToken = environment["AWS_SESSION_TOKEN"]
        case .gcs:
            // URLComponents.user/.password are already decoded: decode the encoded form once.
            if let user = components.percentEncodedUser, let password = components.percentEncodedPassword {
                accessKey = user.removingPercentEncoding ?? user
                secretKey = password.removingPercentEncoding ?? password
            } else if let access = environment["GCS_HMAC_ACCESS_ID"], let secret = environment["GCS_HMAC_SECRET"] {
                accessKey = access
                secretKey = secret
            } else {
                throw FerryError(.importError, "\(name): no HMAC key for Cloud Storage",
                                 hint: "write gs://ACCESS_ID:${env:SECRET_VARIABLE}@bucket/object, or set GCS_HMAC_ACCESS_ID and GCS_HMAC_SECRET")
            }
            sessionToken = nil
        }
    }

    /// An http(s) endpoint without credentials, from the variable `variable` (shown redacted).
    static func checkedEndpoint(_ text: String, variable: String) throws -> URLComponents {
        // The endpoint comes from the environment and may carry a userinfo password or a token,
        // one that a URL parser may not even split off (a `/` in it): it is shown only as the
        // scheme, host and port it parsed to, never as written (SPEC §9), and its userinfo is never used.
        // A userinfo that cannot be told from the host (`http://tok#en@h`): a parser would take a
        // piece of it for the host, show it and look it up.
        if Redaction.hasAmbiguousUserInfo(text) {
            throw FerryError(.importError, "the endpoint in \(variable) \(Redaction.ambiguousUserInfoProblem)",
                             hint: "set \(variable) to http(s)://host[:port], without credentials")
        }
        guard let endpoint = URLComponents(string: text), let host = endpoint.host else {
            throw FerryError(.importError, "the endpoint in \(variable) is not a URL", hint: "set \(variable) to http(s)://host[:port]")
        }
        let shown = "\(endpoint.scheme.map { Redaction.escapeControlCharacters($0) + "://" } ?? "")\(Redaction.escapeControlCharacters(host))\(endpoint.port.map { ":\($0)" } ?? "")"
        guard endpoint.scheme == "http" || endpoint.scheme == "https" else {
            throw FerryError(.importError, "the endpoint \(shown) is neither http nor https", hint: "set \(variable) to http(s)://host[:port]")
        }
        guard endpoint.user == nil && endpoint.password == nil else {
            throw FerryError(.importError, "the endpoint \(shown) holds credentials",
                             hint: "give credentials in the variables for keys, not in the endpoint URL (\(variable))")
        }
        return endpoint
    }

    /// RFC 3986 unreserved characters stay, every other byte is `%XX` (the encoding SigV4 signs).
    static func encode(_ segment: String) -> String {
        let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)
        return segment.utf8.map { unreserved.contains($0) ? String(UnicodeScalar($0)) : String(format: "%%%02X", $0) }.joined()
    }

    private var endpointPrefix: String {
        let base = endpoint.percentEncodedPath.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        return base.isEmpty ? "" : "/" + base
    }

    /// The encoded request path of `key` (this request's key by default): `/bucket/k/e/y`.
    func path(forKey key: String? = nil) -> String {
        let key = key ?? self.key
        let segments = [bucket] + (key.isEmpty ? [] : key.split(separator: "/", omittingEmptySubsequences: false).map(String.init))
        return endpointPrefix + "/" + segments.map(Self.encode).joined(separator: "/")
    }

    var path: String { path() }

    /// The canonical (and sent) query string: names and values encoded, sorted by name.
    static func canonicalQuery(_ query: [(String, String)]) -> String {
        query.map { (encode($0.0), encode($0.1)) }.sorted { $0 < $1 }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    func signedHeaders(method: String, now: Date = Date()) -> [String: String] {
        signedHeaders(method: method, path: path, query: [], payloadHash: "UNSIGNED-PAYLOAD", now: now)
    }

    /// The `Authorization`, `x-amz-date`, `x-amz-content-sha256` (and session token) headers for
    /// one request. `extra` headers are signed as well (lowercased names).
    func signedHeaders(method: String, path: String, query: [(String, String)], payloadHash: String,
                       extra: [String: String] = [:], now: Date = Date()) -> [String: String] {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let amzDate = formatter.string(from: now)
        let day = String(amzDate.prefix(8))
        let host = endpoint.host! + (endpoint.port.map { ":\($0)" } ?? "")
        var headers: [(String, String)] = [("host", host), ("x-amz-content-sha256", payloadHash), ("x-amz-date", amzDate)]
        if let sessionToken { headers.append(("x-amz-security-token", sessionToken)) }
        for (name, value) in extra { headers.append((name.lowercased(), value.trimmingCharacters(in: .whitespaces))) }
        headers.sort { $0.0 < $1.0 }
        let signedNames = headers.map(\.0).joined(separator: ";")
        let canonical = [method, path, Self.canonicalQuery(query), headers.map { "\($0.0):\($0.1)\n" }.joined(), signedNames, payloadHash]
            .joined(separator: "\n")
        let scope = "\(day)/\(region)/s3/aws4_request"
        let toSign = ["AWS4-HMAC-SHA256", amzDate, scope, Digest.sha256(Array(canonical.utf8))].joined(separator: "\n")
        var signingKey = Digest.hmacSHA256(key: Array("AWS4\(secretKey)".utf8), message: Array(day.utf8))
        for part in [region, "s3", "aws4_request"] { signingKey = Digest.hmacSHA256(key: signingKey, message: Array(part.utf8)) }
        let signature = Digest.hex(Digest.hmacSHA256(key: signingKey, message: Array(toSign.utf8)))
        var result = Dictionary(uniqueKeysWithValues: headers.filter { $0.0 != "host" })
        result["Authorization"] = "AWS4-HMAC-SHA256 Credential=\(accessKey)/\(scope), SignedHeaders=\(signedNames), Signature=\(signature)"
        return result
    }

    /// The full http(s) URL of `path` with `query`.
    func httpURL(path: String, query: [(String, String)] = []) -> String {
        let q = query.isEmpty ? "" : "?" + Self.canonicalQuery(query)
        return "\(endpoint.scheme ?? "https")://\(endpoint.host!)\(endpoint.port.map { ":\($0)" } ?? "")\(path)\(q)"
    }

    private var httpURL: String { httpURL(path: path) }

    /// Maps an error status to the error a user should see: 401/403 `WrongPassword` (the store
    /// refused the key or its signature), anything else `ImportError`. The body's error code
    /// (`SignatureDoesNotMatch`, `NoSuchKey`) is added when the store sent one.
    func statusError(_ status: Int, body: String = "") -> FerryError {
        let code = body.range(of: "<Code>").flatMap { start in
            body.range(of: "</Code>", range: start.upperBound..<body.endIndex).map { String(body[start.upperBound..<$0.lowerBound]) }
        }
        let detail = code.map { " (\(Redaction.escapeControlCharacters(String($0.prefix(60)))))" } ?? ""
        let store = flavor == .gcs ? "Cloud Storage" : "S3"
        if status == 401 || status == 403 {
            return FerryError(.wrongPassword, "\(name): \(store) refused the credentials: HTTP \(status)\(detail)",
                              hint: flavor == .gcs ? "check the HMAC access id and secret" : "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        }
        if status == 404 {
            return FerryError(.importError, "\(name): not found in \(store): HTTP 404\(detail)",
                              hint: code == "NoSuchBucket" ? "create the bucket first: Ferry never creates buckets" : nil)
        }
        return FerryError(.importError, "\(name): \(store) answered HTTP \(status)\(detail)")
    }

    func open() throws -> any ByteReader {
        do {
            return try HTTPByteReader.open(url: httpURL, headers: signedHeaders(method: "GET"), redirects: 0,
                                           statusError: { status, body in statusError(status, body: body) })
        } catch let error as FerryError where error.code == .importError {
            throw FerryError(.importError, error.message.replacingOccurrences(of: Redaction.redactURL(httpURL), with: name),
                             hint: error.diagnostics.first?.hint)
        }
    }

    func head() throws -> (size: Int64?, digest: String?) {
        try HTTPByteReader.head(url: httpURL, headers: signedHeaders(method: "HEAD"),
                                statusError: { status, _ in statusError(status) })
    }
}
