import FerryCore
import Foundation

/// Opens `file:`, `http:`, `https:`, `ftp:` and `s3:` sources as streams (TLS through
/// `TLSConnection`); `redis:` sources are read by the Redis engine itself.
public enum RemoteSources {
    public static func open(_ url: String) throws -> any ByteReader {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw FerryError(.importError, "not a URL: \(Redaction.redactURL(url))")
        }
        switch scheme {
        case "file":
            return try FileByteReader(path: components.path)
        case "http", "https":
            return try HTTPByteReader.open(url: url, headers: [:])
        case "ftp":
            return try FTPByteReader(url: url)
        case "s3":
            return try S3Request(url: url).open()
        default:
            throw FerryError(.importError, "sources of this kind are not supported: \(Redaction.redactURL(url))")
        }
    }

    /// Size and a cheap digest (ETag, Last-Modified) of a remote source, or nil when unknown.
    public static func facts(of url: String) throws -> SourceFacts? {
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
        case "s3":
            let head = try S3Request(url: url).head()
            return SourceFacts(source: description, sizeBytes: head.size, digest: head.digest)
        default:
            return nil
        }
    }
}
