import FerryCore
import Foundation

/// Sizes and digests of import sources for the planner: files are hashed (SHA-256), remote
/// sources are asked what they can tell cheaply.
public struct SourceFactsInspector: SourceInspector {
    public init() {}

    public func facts(of source: ImportSource) throws -> SourceFacts? {
        switch source {
        case .file(let path):
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            let size = (attributes[.size] as? NSNumber)?.int64Value
            return SourceFacts(source: source.description, sizeBytes: size, digest: "sha256:" + (try Digest.sha256(file: path)))
        case .url(let url):
            return try RemoteSources.facts(of: url)
        }
    }
}
