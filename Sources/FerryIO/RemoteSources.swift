import FerryCore
import Foundation

/// Opens `file:`, `http:`, `https:`, `ftp:`, `ftps:`, `s3:`, `gs:` and `abs:` sources as streams (TLS
/// through `TLSConnection`); `redis:` sources are read by the Redis engine itself.
public enum RemoteSources {
    /// Opens `url`; `environment` gives the variables keys and endpoints are read from (SPEC §2).
    public static func open(_ url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any ByteReader {
        // A userinfo that cannot be told from the host: nothing of it is shown, nothing is sent (SPEC §9).
        if Redaction.hasAmbiguousUserInfo(url) {
            throw FerryError(.invalidParameter, "the source url \(Redaction.redactURL(url)) \(Redaction.ambiguousUserInfoProblem)",
                             hint: Redaction.ambiguousUserInfoHint)
        }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw FerryError(.importError, "not a URL: \(Redaction.redactURL(url))")
        }
        switch scheme {
        case "file":
            return try FileByteReader(path: components.path)
        case "http", "https":
            return try HTTPByteReader.open(url: url, headers: [:])
        case "ftp", "ftps":
            return try FTPByteReader(url: url, tls: scheme == "ftps")
        case "s3", "gs":
            return try S3Request(url: url, environment: environment).open()
        case "abs":
            return try AzureBlobRequest(url: url, environment: environment).open()
        default:
            throw FerryError(.importError, "sources of this kind are not supported: \(Redaction.redactURL(url))")
        }
    }

    /// Size and a cheap digest (ETag, Last-Modified, FTP's modification time) of a remote source, or nil when unknown.
    public static func facts(of url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> SourceFacts? {
        if Redaction.hasAmbiguousUserInfo(url) { return nil }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else { return nil }
        let description = Redaction.redactURL(url)
        switch scheme {
        case "file":
            let attributes = try? FileManager.default.attributesOfItem(atPath: components.path)
            let size = (attributes?[.size] as? NSNumber)?.int64Value
            let modified = (attributes?[.modificationDate] as? Date).map { String($0.timeIntervalSince1970) }
            return SourceFacts(source: description, sizeBytes: size, digest: modified.map { "mtime:\($0)" })
        case "http", "https":
            let head = try HTTPByteReader.head(url: url, headers: [:])
            return SourceFacts(source: description, sizeBytes: head.size, digest: head.digest)
        case "ftp", "ftps":
            return try FTPByteReader.facts(url: url, tls: scheme == "ftps")
        case "s3", "gs":
            let head = try S3Request(url: url, environment: environment).head()
            return SourceFacts(source: description, sizeBytes: head.size, digest: head.digest)
        case "abs":
            let head = try AzureBlobRequest(url: url, environment: environment).head()
            return SourceFacts(source: description, sizeBytes: head.size, digest: head.digest)
        default:
            return nil
        }
    }
}
