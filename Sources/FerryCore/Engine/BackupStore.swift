import Foundation

/// Where a backup's sets live: a local directory, or a storage location (`s3://`, `gs://`,
/// `abs://`). One set is a folder `<to>/<id>/` (a key prefix in object stores) holding one file
/// per database and `manifest.json`, written last. Every method is given set ids, never paths.
public protocol BackupStore: Sendable {
    /// The location as shown to users (a relative path, or the URL redacted).
    var displayName: String { get }
    /// True for a storage location: files are staged locally and uploaded, downloaded to restore.
    var isRemote: Bool { get }
    /// The ids of the set folders present, complete or not.
    func setIDs() throws -> [String]
    /// The manifest's bytes of set `id`, nil when it has none.
    func manifest(of id: String) throws -> Data?
    /// The files present in set `id` with their sizes in bytes.
    func files(in id: String) throws -> [String: Int64]
    /// Stores the local file at `path` as `file` of set `id`, streamed (object stores: a multipart
    /// or block upload, never the whole file in memory).
    func put(_ file: String, from path: String, in id: String) throws
    /// Stores the manifest of set `id`; once this returns the set is complete and listed.
    func putManifest(_ data: Data, in id: String) throws
    /// Streams `file` of set `id` into the local file `path` (object stores); local directories
    /// are read in place and return their own path.
    func fetch(_ file: String, in id: String, to path: String) throws -> String
    /// Removes set `id`: the manifest first (made durable on disk), then its files. Idempotent.
    func removeSet(_ id: String) throws
    /// The location of set `id` as the journal records it (`<to>/<id>`, no secret).
    func location(of id: String) -> String
}

/// The stores Ferry can open. The core opens local directories itself; storage locations are
/// opened by the factory the executable installs (FerryIO's, which speaks each store's API).
public enum BackupStores {
    nonisolated(unsafe) public static var remoteFactory: (@Sendable (String) throws -> any BackupStore)?

    /// The schemes a backup's `to` may have besides a path or `file:`.
    public static let remoteSchemes: Set<String> = ["s3", "gs", "abs"]

    /// The scheme of a storage `to` (`gs` in `gs://b/p`), or nil for a local directory.
    public static func remoteScheme(of location: String) -> String? {
        guard let range = location.range(of: "://") else { return nil }
        let scheme = location[..<range.lowerBound].lowercased()
        return remoteSchemes.contains(scheme) ? scheme : nil
    }

    /// Opens the store of `location` (a directory or a storage URL).
    public static func open(_ location: String) throws -> any BackupStore {
        if remoteScheme(of: location) != nil {
            guard let factory = remoteFactory else {
                throw FerryError(.internalError, "no backup store for \(Redaction.redactURL(location))")
            }
            return try factory(location)
        }
        return LocalBackupStore(directory: location)
    }

    /// Splits a journaled set location (`<to>/<id>`) into its store and id.
    public static func openSet(at location: String) throws -> (store: any BackupStore, id: String) {
        var trimmed = location
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { throw FerryError(.internalError, "not a backup set location: \(location)") }
        return (try open(String(trimmed[..<slash])), String(trimmed[trimmed.index(after: slash)...]))
    }
}

/// A backup directory on this machine.
public struct LocalBackupStore: BackupStore {
    public var directory: String
    public init(directory: String) { self.directory = directory }
    public var displayName: String { DisplayPath.relative(directory) }
    public var isRemote: Bool { false }
    public func location(of id: String) -> String { "\(directory)/\(id)" }

    public func setIDs() throws -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: directory))?.sorted() ?? []
    }

    public func manifest(of id: String) throws -> Data? {
        FileManager.default.contents(atPath: "\(directory)/\(id)/manifest.json")
    }

    public func files(in id: String) throws -> [String: Int64] {
        var result: [String: Int64] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "\(directory)/\(id)")) ?? [] {
            let attributes = try? FileManager.default.attributesOfItem(atPath: "\(directory)/\(id)/\(name)")
            guard (attributes?[.type] as? FileAttributeType) == .typeRegular else { continue }
            result[name] = (attributes?[.size] as? NSNumber)?.int64Value ?? 0
        }
        return result
    }

    public func put(_ file: String, from path: String, in id: String) throws {
        let target = "\(directory)/\(id)/\(file)"
        if path != target { try FileManager.default.moveItem(atPath: path, toPath: target) }
    }

    public func putManifest(_ data: Data, in id: String) throws {
        try DurableFile.writeAtomically(data, to: "\(directory)/\(id)/manifest.json")
    }

    public func fetch(_ file: String, in id: String, to path: String) throws -> String { "\(directory)/\(id)/\(file)" }

    public func removeSet(_ id: String) throws {
        let folder = "\(directory)/\(id)"
        let manifest = folder + "/manifest.json"
        if unlink(manifest) != 0 && errno != ENOENT {
            throw FerryError(.internalError, "cannot remove \(manifest): \(String(cString: strerror(errno)))")
        }
        DurableFile.syncDirectory(folder)
        KillPoint.check("change:prune.manifestRemoved")
        if FileManager.default.fileExists(atPath: folder) {
            try FileManager.default.removeItem(atPath: folder)
        }
        DurableFile.syncDirectory(directory)
    }
}

/// The backup-set catalogue of one location: which sets are complete (listed for `backup`, `at`,
/// plan and `keep`), which are Ferry's unfinished ones, the newest at a time, and pruning.
/// Sets are ordered by `takenAt`, then id (ids begin with a millisecond time, so two sets taken
/// in one second still have an order).
public struct BackupSetCatalog: Sendable {
    public let store: any BackupStore
    public init(store: any BackupStore) { self.store = store }
    public init(location: String) throws { store = try BackupStores.open(location) }

    /// The complete sets of `instance`, oldest first: a readable manifest, and every file it names
    /// present. A set missing a file (a removal killed half-way, an
    /// upload killed before its manifest) is never listed, so no copy `at` a time can pick it.
    public func sets(instance: String) throws -> [BackupSetManifest] {
        try store.setIDs().compactMap { id -> BackupSetManifest? in
            guard let data = try store.manifest(of: id),
                  let manifest = try? JSONDecoder.ferry.decode(BackupSetManifest.self, from: data),
                  manifest.instance == instance else { return nil }
            let present = try store.files(in: id)
            guard manifest.entries.allSatisfy({ present[$0.file] != nil }) else { return nil }
            return manifest
        }.sorted { ($0.takenAt, $0.id) < ($1.takenAt, $1.id) }
    }

    /// Set folders that are provably Ferry's (their id is in `knownIDs`) but not complete sets.
    public func unfinishedSets(knownIDs: Set<String>) throws -> [String] {
        try store.setIDs().filter { id in
            guard knownIDs.contains(id) else { return false }
            guard let data = try store.manifest(of: id),
                  let manifest = try? JSONDecoder.ferry.decode(BackupSetManifest.self, from: data) else { return true }
            let present = try store.files(in: id)
            return !manifest.entries.allSatisfy { present[$0.file] != nil }
        }
    }

    /// The sets `keep` prunes: all but the newest `keep`, oldest first.
    public func beyond(keep: Int, instance: String) throws -> [String] {
        try sets(instance: instance).dropLast(keep).map(\.id)
    }

    /// The newest complete set taken at or before `time`.
    public static func newest(_ sets: [BackupSetManifest], atOrBefore time: Date) -> BackupSetManifest? {
        sets.filter { $0.takenAt <= time }.max { ($0.takenAt, $0.id) < ($1.takenAt, $1.id) }
    }

    /// The newest set taken at or before `time` that holds every one of `databases`: what a copy
    /// with `at` reads, the same at plan and at apply, whichever backup of the instance took it.
    public static func newest(_ sets: [BackupSetManifest], atOrBefore time: Date, holding databases: [String]) -> BackupSetManifest? {
        newest(sets.filter { set in databases.allSatisfy { db in set.entries.contains { $0.database == db } } }, atOrBefore: time)
    }
}
