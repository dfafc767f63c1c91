import Foundation

/// Where a backup's sets live: a local directory, or a storage location (`s3://`, `gs://`,
/// `abs://`, `ftp://`). One set is a folder `<to>/<id>/` (a key prefix in object stores) holding one file
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
    /// The files present in set `id` with a tag that changes whenever the file is written again:
    /// an object store's `ETag` (S3 `ListObjectsV2`, GCS's XML listing, Azure `List Blobs`), an
    /// FTP server's `MLSD` facts `modify` and `unique` (RFC 3659 §7.5). Empty where the store
    /// keeps none (a local folder, where the SHA-256 is read instead).
    func fileVersions(in id: String) throws -> [String: String]
    /// Stores the local file at `path` as `file` of set `id`, streamed (object stores: a multipart
    /// or block upload, never the whole file in memory).
    func put(_ file: String, from path: String, in id: String) throws
    /// Stores the manifest of set `id`; once this returns the set is complete and listed.
    func putManifest(_ data: Data, in id: String) throws
    /// Streams `file` of set `id` into the local file `path` (object stores); local directories
    /// are read in place and return their own path.
    func fetch(_ file: String, in id: String, to path: String) throws -> String
    /// Removes set `id`: the manifest first (made durable on disk), then its files. Idempotent.
    /// `only`: the set's own files (those its manifest names); any other file in the folder is
    /// left, and so is the folder then (fresh tester round 35b, F7: a user's note in an old
    /// set's folder went with the prune). Nil: every file (a set this run began, not finished).
    func removeSet(_ id: String, only files: Set<String>?) throws
    /// The location of set `id` as the journal records it (`<to>/<id>`, no secret).
    func location(of id: String) -> String
    /// Checks that sets can be taken and pruned here: the location answers, its key or login is
    /// accepted, its bucket or container exists, and Ferry may create files there (a local
    /// directory: `access(2)`; a storage location: a small `.ferry-write-check-*` object or file
    /// written and deleted at once, after an FTP server's `MLST` permissions). Throws `OperationDenied.WrongPassword`, `OperationDenied.ReadOnly`,
    /// `InvalidParameter` (a file where a directory must be) or `ImportError` (unreachable, no
    /// such bucket), naming the location. Called at plan time (SPEC §3).
    func checkUsable() throws
    /// The directories of the location that do not exist yet and that taking a set makes, as the
    /// store names them (absolute paths), outermost first; journaled before any is made, so that a
    /// rollback removes the ones its run made (fresh tester round 35b, F1: an FTP location's
    /// directory stayed). Object stores have none.
    func missingDirectories() throws -> [String]
    /// Removes each of `directories` (innermost first) while it is empty: one that holds anything,
    /// or is gone, is left as it is (`rmdir(2)`, FTP `RMD`, which refuse a directory that is not empty).
    func removeEmptyDirectories(_ directories: [String])
    /// The temporary names under which this process writes `file` into a set's folder before it
    /// bears its own name (a local manifest: `manifest.json.tmp-PID`, `DurableFile.writeAtomically`;
    /// FTP: `.FILE.ferry-part`). Journaled with the set's files before the set is begun, so that a
    /// rollback removes what a kill left under them and nothing else. Object stores: none (a
    /// parted upload is not an object until it completes).
    func stagingNames(of file: String) -> [String]
    /// Every name still in set `id`'s folder, sorted: files, and directories with a trailing
    /// `/` (object stores: every object below the prefix, nested ones by their path). What a
    /// removal that left the folder names (round 37b, M1: only files were named).
    func remainingNames(in id: String) throws -> [String]
}

extension BackupStore {
    public func fileVersions(in id: String) throws -> [String: String] { [:] }
    public func missingDirectories() throws -> [String] { [] }
    public func removeEmptyDirectories(_ directories: [String]) {}
    public func stagingNames(of file: String) -> [String] { [] }
    public func remainingNames(in id: String) throws -> [String] { try files(in: id).keys.sorted() }

    /// Every name a new set holding `files` may leave in its folder: each file, `manifest.json`,
    /// and their temporary names (`stagingNames(of:)`), sorted.
    public func namesWritten(forSetHolding files: [String]) -> [String] {
        let written = files + ["manifest.json"]
        return Set(written + written.flatMap(stagingNames(of:))).sorted()
    }
}

/// The stores Ferry can open. The core opens local directories itself; storage locations are
/// opened by the factory the executable installs (FerryIO's, which speaks each store's API).
public enum BackupStores {
    nonisolated(unsafe) public static var remoteFactory: (@Sendable (String) throws -> any BackupStore)?

    /// The schemes a backup's `to` may have besides a path or `file:`.
    public static let remoteSchemes: Set<String> = ["s3", "gs", "abs", "ftp", "ftps"]

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
        // No sweep of other `manifest.json.tmp-*` here: in a set's folder only this process's
        // own temporary is Ferry's (`stagingNames(of:)`); a killed run's is its rollback's to take.
        try DurableFile.writeAtomically(data, to: "\(directory)/\(id)/manifest.json", removingStaleTemporaries: false)
    }

    public func fetch(_ file: String, in id: String, to path: String) throws -> String { "\(directory)/\(id)/\(file)" }

    /// The directory, or (when it is missing) the nearest directory above it that apply would
    /// create it in, must be a directory this process may write (`access(2)`, so a read-only file
    /// system is `EROFS` even for root).
    public func checkUsable() throws {
        var path = directory
        while true {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
                guard isDirectory.boolValue else {
                    throw FerryError(.invalidParameter, "backup location \(displayName): \(DisplayPath.relative(path)) is a file, not a directory")
                }
                if access(path, W_OK | X_OK) != 0 {
                    let why = String(cString: strerror(errno))
                    throw FerryError(.readOnly, "backup location \(displayName): \(DisplayPath.relative(path)) cannot be written (\(why))",
                                     hint: path == directory ? "make it writable for this user" : "the directory is missing and cannot be created in \(DisplayPath.relative(path))")
                }
                return
            }
            let parent = (path as NSString).deletingLastPathComponent
            if parent == path || parent.isEmpty { return }
            path = parent
        }
    }

    public func missingDirectories() throws -> [String] {
        var missing: [String] = []
        var path = directory
        while !FileManager.default.fileExists(atPath: path) {
            missing.insert(path, at: 0)
            let parent = (path as NSString).deletingLastPathComponent
            if parent == path || parent.isEmpty { break }
            path = parent
        }
        return missing
    }

    public func removeEmptyDirectories(_ directories: [String]) {
        for path in directories.reversed() where path.hasPrefix("/") { _ = rmdir(path) }
    }

    public func stagingNames(of file: String) -> [String] {
        file == "manifest.json" ? [DurableFile.temporaryPath(of: file)] : []
    }

    public func remainingNames(in id: String) throws -> [String] {
        let folder = "\(directory)/\(id)"
        return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).map { name in
            var info = stat()
            return lstat(folder + "/" + name, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR ? name + "/" : name
        }.sorted()
    }

    public func removeSet(_ id: String, only files: Set<String>?) throws {
        let folder = "\(directory)/\(id)"
        // A set's folder is one Ferry made: a symbolic link in its place leads elsewhere, and
        // nothing is removed through it (round 35b, F7: a manifest outside the location went).
        var info = stat()
        if lstat(folder, &info) == 0, info.st_mode & S_IFMT == S_IFLNK {
            throw FerryError(.wrongStatus, "backup set \(id) in \(displayName) is a symbolic link, not a folder Ferry made; it is left as it is",
                             hint: "remove the link yourself if the set is no longer wanted")
        }
        let manifest = folder + "/manifest.json"
        try RawFile.remove(manifest, as: .internalError)
        DurableFile.syncDirectory(folder)
        KillPoint.check("change:prune.manifestRemoved")
        guard FileManager.default.fileExists(atPath: folder) else { return }
        if let files {
            for name in files.sorted() where !name.contains("/") && name != ".." && name != "." {
                try RawFile.remove(folder + "/" + name, as: .internalError)
            }
            // The folder goes only when nothing else is in it.
            if ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? ["?"]).isEmpty {
                try? FileManager.default.removeItem(atPath: folder)
            }
        } else {
            try FileManager.default.removeItem(atPath: folder)
        }
        DurableFile.syncDirectory(directory)
    }
}

/// An `ftp://[USER[:${env:NAME}]@]HOST[:PORT][/PATH]` backup location, or `ftps://` (the same over
/// explicit TLS, RFC 4217: `AUTH TLS` before the login, `PBSZ 0` and `PROT P`; port 21 by default
/// too): the password is only ever a reference to an environment variable, kept as written, so the
/// location may be journaled and recorded in state (SPEC §2, backup fields). `PATH` is a path from
/// the server's root as the login sees it, percent-decoded; sets are the directories `PATH/ID`.
public struct FTPLocation: Sendable, Equatable {
    /// `ftps://`: the control and data connections are TLS, the server's certificate verified.
    public var tls: Bool
    public var user: String?
    public var passwordVariable: String?
    public var host: String
    public var port: Int
    public var path: String

    /// Parses `text`; nil when it is not such a location (no host, a bad port, a password that is
    /// not one `${env:NAME}`, a query or fragment).
    public init?(_ text: String) {
        let lowered = text.lowercased()
        guard lowered.hasPrefix("ftp://") || lowered.hasPrefix("ftps://") else { return nil }
        tls = lowered.hasPrefix("ftps://")
        let rest = text.dropFirst(tls ? 7 : 6)
        if rest.contains("?") || rest.contains("#") { return nil }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<slash]
        var decodedPath = (String(rest[slash...]).removingPercentEncoding ?? String(rest[slash...]))
        while decodedPath.hasSuffix("/") { decodedPath.removeLast() }
        path = decodedPath
        user = nil
        passwordVariable = nil
        if let at = authority.lastIndex(of: "@") {
            let info = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let colon = info.firstIndex(of: ":") {
                let secret = info[info.index(after: colon)...]
                guard secret.hasPrefix("${env:"), secret.hasSuffix("}") else { return nil }
                let name = String(secret.dropFirst(6).dropLast())
                guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else { return nil }
                passwordVariable = name
                user = String(info[..<colon]).removingPercentEncoding
            } else {
                user = String(info).removingPercentEncoding
            }
            if user?.isEmpty == true { user = nil }
        }
        var hostPart = authority
        port = 21
        if let close = hostPart.lastIndex(of: "]") {
            let after = hostPart[hostPart.index(after: close)...]
            if after.hasPrefix(":") { guard let p = Int(after.dropFirst()) else { return nil }; port = p }
            hostPart = hostPart[hostPart.index(after: hostPart.startIndex)..<close]
        } else if let colon = hostPart.lastIndex(of: ":") {
            guard let p = Int(hostPart[hostPart.index(after: colon)...]) else { return nil }
            port = p
            hostPart = hostPart[..<colon]
        }
        host = String(hostPart)
        guard !host.isEmpty, (1...65535).contains(port) else { return nil }
    }

    /// The location written back, with the password as its `${env:NAME}` reference.
    public var text: String {
        var out = tls ? "ftps://" : "ftp://"
        if let user {
            let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
            out += user.addingPercentEncoding(withAllowedCharacters: allowed) ?? user
            if let passwordVariable { out += ":${env:\(passwordVariable)}" }
            out += "@"
        }
        out += host.contains(":") ? "[\(host)]" : host
        if port != 21 { out += ":\(port)" }
        let allowed = CharacterSet.urlPathAllowed.subtracting(CharacterSet(charactersIn: "%"))
        return out + (path.addingPercentEncoding(withAllowedCharacters: allowed) ?? path)
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
            // A folder whose manifest carries another id is a copy of that set made by someone
            // (fresh tester round 36, F4: each copy was "removed" again), not the set.
            guard let data = try store.manifest(of: id),
                  let manifest = try? JSONDecoder.ferry.decode(BackupSetManifest.self, from: data),
                  manifest.instance == instance, manifest.id == id else { return nil }
            let present = try store.files(in: id)
            guard manifest.entries.allSatisfy({ present[$0.file] != nil }) else { return nil }
            return manifest
        }.sorted { ($0.completedBy, $0.id) < ($1.completedBy, $1.id) }
    }

    /// Set folders that are provably Ferry's (their id is in `knownIDs`) but not complete sets,
    /// with the files of each that are the set's own: a set whose manifest (carrying its id)
    /// names a file that is missing, with the files it names (each removed only while it is the
    /// file the manifest recorded); a folder without a manifest (an older Ferry's prune killed
    /// after removing it, or a manifest someone removed), when it holds a file named as the
    /// backup names its `databases`' files (`BackupSetManifest.fileName`, each engine's
    /// extension, exactly), with no file: nothing proves those files the set's (fresh tester
    /// round 41, F8: a user's own `shop.db` there went with the prune), so the prune forgets the
    /// set and leaves its folder. Anything else in such a folder is someone else's: a folder
    /// holding only that is not listed (fresh tester round 36, F3: what a prune had left there
    /// went with the next prune).
    public func unfinishedSets(knownIDs: Set<String>, databases: [String]) throws -> [(id: String, files: [String])] {
        try store.setIDs().compactMap { id in
            guard knownIDs.contains(id) else { return nil }
            let present = try store.files(in: id)
            guard let data = try store.manifest(of: id) else {
                // Exact names only: a user's `0.rdb.bak` or `app.dbx` beside them is not the
                // set's (fresh tester round 37b, F2: a name's prefix took them, prune after prune).
                let names = Set(databases.flatMap { database in
                    BackupSetManifest.fileExtensions.map { BackupSetManifest.fileName(for: database, extension: $0) }
                })
                return present.keys.contains(where: names.contains) ? (id, []) : nil
            }
            guard let manifest = try? JSONDecoder.ferry.decode(BackupSetManifest.self, from: data), manifest.id == id else { return nil }
            return manifest.entries.allSatisfy({ present[$0.file] != nil }) ? nil : (id, manifest.entries.map(\.file))
        }
    }

    /// The sets `keep` prunes of `sets` (one backup's own): all but the newest `keep`, oldest
    /// first, less those `pinned` (the ids a copy of the plan names: kept while it names them;
    /// fresh tester rounds 77, F7, and 78, F2). What the plan shows and what the apply removes.
    public static func beyond(keep: Int, of sets: [BackupSetManifest], pinned: Set<String>) -> [BackupSetManifest] {
        sets.sorted { ($0.completedBy, $0.id) < ($1.completedBy, $1.id) }.dropLast(keep).filter { !pinned.contains($0.id) }
    }

    /// The newest complete set taken at or before `time` (complete by then, to the
    /// millisecond: `completedBy`).
    public static func newest(_ sets: [BackupSetManifest], atOrBefore time: Date) -> BackupSetManifest? {
        sets.filter { $0.completedBy <= time }.max { ($0.completedBy, $0.id) < ($1.completedBy, $1.id) }
    }

    /// The newest set taken at or before `time` that holds every one of `databases`: what a copy
    /// with `at` reads, the same at plan and at apply, whichever backup of the instance took it.
    public static func newest(_ sets: [BackupSetManifest], atOrBefore time: Date, holding databases: [String]) -> BackupSetManifest? {
        newest(sets.filter { set in databases.allSatisfy { db in set.entries.contains { $0.database == db } } }, atOrBefore: time)
    }
}
