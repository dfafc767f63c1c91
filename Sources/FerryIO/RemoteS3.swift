import FerryCore
import Foundation

/// A path-style S3 GET signed with Signature V4. Credentials come from `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`; the region from `AWS_REGION` or
/// `AWS_DEFAULT_REGION` (default us-east-1); the endpoint from `AWS_ENDPOINT_URL_S3` or
/// `AWS_ENDPOINT_URL` (http or https; https certificates are verified against the trust store).
struct S3Request {
    var name: String
    var endpoint: URLComponents
    var path: String
    var region: String
    var accessKey: String
    var secretKey: String
    var sessionToken: String?

    init(url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        name = Redaction.redactURL(url)
        guard let components = URLComponents(string: url), let bucket = components.host, !bucket.isEmpty else {
            throw FerryError(.importError, "not an s3 URL: \(name)", hint: "write s3://bucket/key")
        }
        region = environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1"
        let endpointText = environment["AWS_ENDPOINT_URL_S3"] ?? environment["AWS_ENDPOINT_URL"] ?? "https://s3.\(region).amazonaws.com"
        // The endpoint comes from the environment and may carry a userinfo password or a token:
        // it is only ever shown redacted (SPEC §9), and its userinfo is never used.
        let shownEndpoint = Redaction.redactURL(endpointText)
        guard let endpoint = URLComponents(string: endpointText), endpoint.host != nil else {
            throw FerryError(.importError, "the S3 endpoint \(shownEndpoint) is not a URL",
                             hint: "set AWS_ENDPOINT_URL_S3 to http(s)://host[:port]")
        }
        guard endpoint.scheme == "http" || endpoint.scheme == "https" else {
            throw FerryError(.importError, "the S3 endpoint \(shownEndpoint) is neither http nor https",
                             hint: "set AWS_ENDPOINT_URL_S3 to http(s)://host[:port]")
        }
        guard endpoint.user == nil && endpoint.password == nil else {
            throw FerryError(.importError, "the S3 endpoint \(shownEndpoint) holds credentials",
                             hint: "give credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, not in the endpoint URL")
        }
        guard let access = environment["AWS_ACCESS_KEY_ID"], let secret = environment["AWS_SECRET_ACCESS_KEY"] else {
            throw FerryError(.importError, "\(name): AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set to read from S3")
        }
        self.endpoint = endpoint
        accessKey = access
        secretKey = secret
        sessionToken = environment["AWS_SESSION_TOKEN"]
        let key = components.percentEncodedPath.removingPercentEncoding ?? components.path
        let encoded = ([bucket] + key.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init))
            .map(Self.encode).joined(separator: "/")
        path = "/" + encoded
    }

    static func encode(_ segment: String) -> String {
        let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)
        return segment.utf8.map { unreserved.contains($0) ? String(UnicodeScalar($0)) : String(format: "%%%02X", $0) }.joined()
    }

    func signedHeaders(method: String, now: Date = Date()) -> [String: String] {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let amzDate = formatter.string(from: now)
        let day = String(amzDate.prefix(8))
        let host = endpoint.host! + (endpoint.port.map { ":\($0)" } ?? "")
        let payloadHash = "UNSIGNED-PAYLOAD"
        var headers: [(String, String)] = [("host", host), ("x-amz-content-sha256", payloadHash), ("x-amz-date", amzDate)]
        if let sessionToken { headers.append(("x-amz-security-token", sessionToken)) }
        headers.sort { $0.0 < $1.0 }
        let signedNames = headers.map(\.0).joined(separator: ";")
        let canonical = [method, path, "", headers.map { "\($0.0):\($0.1)\n" }.joined(), signedNames, payloadHash].joined(separator: "\n")
        let scope = "\(day)/\(region)/s3/aws4_request"
        let toSign = ["AWS4-HMAC-SHA256", amzDate, scope, Digest.sha256(Array(canonical.utf8))].joined(separator: "\n")
        var key = Digest.hmacSHA256(key: Array("AWS4\(secretKey)".utf8), message: Array(day.utf8))
        for part in [region, "s3", "aws4_request"] { key = Digest.hmacSHA256(key: key, message: Array(part.utf8)) }
        let signature = Digest.hex(Digest.hmacSHA256(key: key, message: Array(toSign.utf8)))
        var result = Dictionary(uniqueKeysWithValues: headers.filter { $0.0 != "host" })
        result["Authorization"] = "AWS4-HMAC-SHA256 Credential=\(accessKey)/\(scope), SignedHeaders=\(signedNames), Signature=\(signature)"
        return result
    }

    private var httpURL: String {
        "\(endpoint.scheme ?? "https")://\(endpoint.host!)\(endpoint.port.map { ":\($0)" } ?? "")\(endpoint.percentEncodedPath.trimmingCharacters(in: CharacterSet(charactersIn: "/")).isEmpty ? "" : "/" + endpoint.percentEncodedPath.trimmingCharacters(in: CharacterSet(charactersIn: "/")))\(path)"
    }

    func open() throws -> any ByteReader {
        do {
            return try HTTPByteReader.open(url: httpURL, headers: signedHeaders(method: "GET"), redirects: 0)
        } catch let error as FerryError {
            throw FerryError(.importError, error.message.replacingOccurrences(of: Redaction.redactURL(httpURL), with: name),
                             hint: error.diagnostics.first?.hint)
        }
    }

    func head() throws -> (size: Int64?, digest: String?) {
        try HTTPByteReader.head(url: httpURL, headers: signedHeaders(method: "HEAD"))
    }
}
