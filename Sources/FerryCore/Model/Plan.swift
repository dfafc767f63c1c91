import Foundation

/// Where a value came from in a plan file, for diagnostics.
public struct SourceLocation: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The file as the user named it (relative to the working directory where possible).
    public var file: String
    public var line: Int
    public var column: Int
    /// The JSON path inside the file, e.g. `copies.staging-app.databases`.
    public var jsonPath: String

    public init(file: String, line: Int, column: Int, jsonPath: String) {
        self.file = file
        self.line = line
        self.column = column
        self.jsonPath = jsonPath
    }

    public var description: String {
        jsonPath.isEmpty ? "\(file):\(line):\(column)" : "\(file):\(line):\(column) (\(jsonPath))"
    }
}

/// The engines a plan may name.
public enum EngineKind: String, Sendable, Codable, CaseIterable {
    case sqlite, postgres, mysql, redis
}

/// What the plan format (SPEC §2) says of an instance of one engine kind: how it is addressed and
/// which kind-specific fields it takes. The loader, the JSON Schema and the formatter read it
/// before any engine exists (`ferry validate`, `fmt`, `init` wire none), so it is the model's,
/// not an `EngineCapabilities` value (which is what a wired engine can do at run time). It is the
/// one place in FerryCore that tells engine kinds apart.
public struct EnginePlanForm: Sendable, Hashable {
    /// How an instance names its server: a directory (`"path"`) or a URL (`"url"`).
    public enum Address: Sendable, Hashable {
        case directory, url

        /// The instance field that holds it.
        public var field: String { self == .directory ? "path" : "url" }
    }

    public var address: Address
    /// `terminateSessions` (ending other sessions on a database before its swap) is accepted.
    public var takesTerminateSessions: Bool
    /// Imports into and copies to this kind take an `owner` role.
    public var takesObjectOwner: Bool
    /// The port a URL without one reaches (the server's default), nil for directories.
    public var defaultPort: Int? = nil
    /// Under a `maxConnections` cap, one step at a time touches such an instance: a step holds
    /// several connections there (its session, one in its database, its workers), and its
    /// workers take what the cap leaves (SPEC §2).
    public var oneStepAtATimeUnderACap = false
    /// The fewest connections a step holds at once on such an instance: a `maxConnections`
    /// below it is an `InvalidParameter` error (SPEC §2).
    public var minimumConnections = 1
    /// The fewest a copy within one such instance holds there at once (a live one: its reader
    /// and its writer both on it): a cap below it is an `InvalidParameter` error.
    public var minimumConnectionsWithin = 1
}

extension EngineKind {
    /// This kind's plan form.
    public var planForm: EnginePlanForm {
        switch self {
        case .sqlite: EnginePlanForm(address: .directory, takesTerminateSessions: false, takesObjectOwner: false)
        case .postgres: EnginePlanForm(address: .url, takesTerminateSessions: true, takesObjectOwner: true, defaultPort: 5432,
                                       oneStepAtATimeUnderACap: true, minimumConnections: 4, minimumConnectionsWithin: 7)
        case .mysql: EnginePlanForm(address: .url, takesTerminateSessions: false, takesObjectOwner: false, defaultPort: 3306,
                                    oneStepAtATimeUnderACap: true, minimumConnections: 4, minimumConnectionsWithin: 4)
        case .redis: EnginePlanForm(address: .url, takesTerminateSessions: false, takesObjectOwner: false, defaultPort: 6379,
                                    oneStepAtATimeUnderACap: true, minimumConnections: 3, minimumConnectionsWithin: 4)
        }
    }

    /// Whether an instance of this kind is a directory (`"path"`) rather than a server (`"url"`).
    public var isAddressedByDirectory: Bool { planForm.address == .directory }
}

/// A password given by reference, never as a literal.
public enum SecretRef: Hashable, Sendable, Codable {
    /// The value of an environment variable.
    case env(String)
    /// The contents of a file (an absolute path), trailing newline removed.
    case file(String)

    /// Reads the secret. Throws `InvalidParameter.UnsetVariable` or `Internal` with the reference named, never the value.
    public func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        switch self {
        case .env(let name):
            guard let value = environment[name] else {
                throw FerryError(.unsetVariable, "password variable \(name) is not set",
                                 hint: "export \(name) before running ferry")
            }
            return value
        case .file(let path):
            if let problem = SecretRef.problem(withPasswordFile: path) {
                throw FerryError(.secretUnreadable, problem, hint: "the password file is read when ferry connects; check the path in \"password\": {\"file\": ...}")
            }
            guard let data = FileManager.default.contents(atPath: path),
                  var text = String(data: data, encoding: .utf8) else {
                throw FerryError(.secretUnreadable, "the password file \(path) cannot be read as UTF-8 text")
            }
            while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
            return text
        }
    }
}

extension SecretRef {
    /// Why a password file cannot serve, or nil when it is a readable regular file: missing, not a
    /// regular file (a FIFO would block), or not readable by this user. Never reads the contents.
    public static func problem(withPasswordFile path: String) -> String? {
        guard let kind = FileKind.of(path) else {
            let number = errno
            return number == ENOENT || number == ENOTDIR ? "the password file \(path) does not exist"
                : "the password file \(path) cannot be examined: \(String(cString: strerror(number)))"
        }
        guard kind == .regular else { return "the password file \(path) is \(kind), not a regular file" }
        guard access(path, R_OK) == 0 else {
            return "the password file \(path) is not readable: \(String(cString: strerror(errno)))"
        }
        return nil
    }
}

/// An instance declared in a plan.
public struct InstanceSpec: Hashable, Sendable, Codable {
    public var name: String
    public var engine: EngineKind
    /// SQLite: the directory that holds `<name>.db` files (absolute).
    public var path: String?
    /// Servers: the connection URL after `${env:...}` expansion. May hold secrets: print `redactedURL`.
    public var url: String?
    public var password: SecretRef?
    public var account: String?
    public var region: String?
    /// Bytes the instance may hold in all, if limited.
    public var storageLimit: Int64?
    /// Cap on Ferry's concurrent connections to this instance.
    public var maxConnections: Int?
    /// Refuse any change that replaces or drops a database here.
    public var isProtected: Bool
    /// PostgreSQL: whether a swap may end other sessions on the target after its bounded wait
    /// (nil: no, the swap fails naming them).
    public var terminateSessions: Bool?

    public init(name: String, engine: EngineKind, path: String? = nil, url: String? = nil,
                password: SecretRef? = nil, account: String? = nil, region: String? = nil,
                storageLimit: Int64? = nil, maxConnections: Int? = nil, isProtected: Bool = false,
                terminateSessions: Bool? = nil) {
        self.name = name
        self.engine = engine
        self.path = path
        self.url = url
        self.password = password
        self.account = account
        self.region = region
        self.storageLimit = storageLimit
        self.maxConnections = maxConnections
        self.isProtected = isProtected
        self.terminateSessions = terminateSessions
    }

    /// The identity of the local directory the instance is (`path`): its device, inode and
    /// birth time as `DEV:INO:bNANOSECONDS` (`FileBirth`; `DEV:INO` on a file system that keeps
    /// no birth time); nil without a path or when it is not a directory there. A directory
    /// removed and made again (or a copy put in its place) that gets the freed inode number
    /// still has another birth time, so it is never taken for the run's (issue 14, round 9).
    public func directoryIdentity() -> String? {
        guard let path else { return nil }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { return nil }
        return FileBirth.identity(ofPath: path, followingLinks: true)
    }

    /// Whether the directory at `path` is the one `recorded` names (`directoryIdentity` as a
    /// run journaled it; one of an earlier release, `DEV:INO`, compares by those two fields).
    public func isDirectory(identifiedBy recorded: String) -> Bool {
        FileBirth.matches(directoryIdentity(), recorded: recorded)
    }

    /// Whether `other` (an instance as a run journaled it: URL redacted) names the same place:
    /// the same engine and directory, or the same URL once secrets are masked.
    /// Whether `other` names the same place: the engine and the SQLite directory, or the URL's
    /// host and port (`KeptTargets.serverIdentity`): an account of the same server is the same
    /// place (fresh tester round 33, F13: a run could not be recovered once the account it used
    /// was deleted); the server answering there is still checked against the identity the run
    /// journaled before anything is done.
    /// Whether this instance may be the place `journaled` (an instance as a run journaled it)
    /// names, under another spelling: `isSameLocation`, or the directory a run journaled by its
    /// identity (`directoryIdentity`: a symbolic link, another path), or the same port on a host
    /// name that resolves to one of the journaled host's addresses (`localhost`, `127.1`,
    /// `LOCALHOST` for `127.0.0.1`). What guards a place (`protect`) asks this, and leans to yes
    /// (fresh tester round 44: a protected instance spelt another way did not stop a rollback).
    public func mayBeSamePlace(as journaled: InstanceSpec, directoryIdentity recorded: String?) -> Bool {
        guard engine == journaled.engine else { return false }
        if isSameLocation(as: journaled) { return true }
        if path != nil { return recorded.map(isDirectory(identifiedBy:)) ?? false }
        guard let mine = url.flatMap({ URLComponents(string: $0) }), let theirs = journaled.url.flatMap({ URLComponents(string: $0) }) else { return false }
        let defaultPort = engine.planForm.defaultPort
        guard (mine.port ?? defaultPort) == (theirs.port ?? defaultPort) else { return false }
        let a = Self.addresses(of: mine.host ?? ""), b = Self.addresses(of: theirs.host ?? "")
        return !a.isDisjoint(with: b)
    }

    /// The numeric addresses `host` resolves to (`getaddrinfo`, RFC 3493), each as text; the
    /// lowercased name itself when it resolves to none.
    static func addresses(of host: String) -> Set<String> {
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &list) == 0 else { return [name.lowercased()] }
        defer { freeaddrinfo(list) }
        var found: Set<String> = []
        var entry = list
        while let info = entry?.pointee {
            var text = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(info.ai_addr, info.ai_addrlen, &text, socklen_t(text.count), nil, 0, NI_NUMERICHOST) == 0 {
                found.insert(String(cString: text))
            }
            entry = info.ai_next
        }
        return found.isEmpty ? [name.lowercased()] : found
    }

    public func isSameLocation(as other: InstanceSpec) -> Bool {
        guard engine == other.engine, path == other.path else { return false }
        if url == nil && other.url == nil { return true }
        guard url != nil, other.url != nil else { return false }
        return KeptTargets.serverIdentity(self) == KeptTargets.serverIdentity(other)
    }

    /// Where the instance is, safe to print: SQLite's path or the URL with secrets masked.
    public var displayLocation: String {
        if let path { return path }
        if let url { return Redaction.redactURL(url) }
        return "?"
    }
}

/// Import formats (SPEC §2).
public enum ImportFormat: String, Sendable, Codable, CaseIterable {
    case sql, sqlite, pgdump, rdb

    /// Infers the format from a file name or URL path.
    public static func infer(from name: String) -> ImportFormat? {
        let lower = name.lowercased()
        if lower.hasSuffix(".sql") || lower.hasSuffix(".sql.gz") { return .sql }
        if lower.hasSuffix(".db") || lower.hasSuffix(".sqlite") || lower.hasSuffix(".sqlite3") { return .sqlite }
        if lower.hasSuffix(".dump") { return .pgdump }
        if lower.hasSuffix(".rdb") || lower.hasSuffix(".rdb.gz") { return .rdb }
        return nil
    }
}

/// How an RDB import combines keys that two databases of one file both hold (SPEC §2).
public enum ImportMerge: String, Sendable, Codable, CaseIterable {
    /// Such a key is an `ImportError` (the default).
    case error
    /// The database read later in the file wins.
    case lastWins = "last-wins"
}

/// What to do when the target database already exists.
public enum OnExisting: String, Sendable, Codable, CaseIterable {
    case fail, replace, append
}

/// When a resource whose state is recorded runs again.
public enum RerunPolicy: String, Sendable, Codable, CaseIterable {
    case onChange, onSourceChange, always, once
}

/// How a copy is verified against its source.
public enum VerifyLevel: String, Sendable, Codable, CaseIterable {
    case checksum, count, none
}

/// Whether a copy also brings users and privileges.
public enum UserSync: String, Sendable, Codable, CaseIterable {
    case skip, sync
}

/// One place an import reads from.
public enum ImportSource: Hashable, Sendable, Codable, CustomStringConvertible {
    /// A local file (absolute path, links not yet resolved).
    case file(String)
    /// A URI: `http(s):`, `ftp:`, `s3:`, `redis:` (a `file:` URI is turned into `.file`).
    case url(String)

    public var description: String {
        switch self {
        case .file(let path): path
        case .url(let url): Redaction.redactURL(url)
        }
    }

    /// The source for display: a file relative to the working directory when it is inside it.
    public var displayName: String {
        switch self {
        case .file(let path): DisplayPath.relative(path)
        case .url: description
        }
    }

    /// The name used to infer the format.
    public var nameForFormat: String {
        switch self {
        case .file(let path): path
        case .url(let url): URLComponents(string: url)?.path ?? url
        }
    }

    /// The format a source's name or scheme says (`ImportFormat.infer(from:)`): a `redis://` or
    /// `rediss://` source is another server's snapshot, `rdb` (fresh tester round 37b, M3: it
    /// needed `"format": "rdb"`).
    public var inferredFormat: ImportFormat? {
        if case .url(let url) = self, let scheme = URLComponents(string: url)?.scheme?.lowercased(),
           scheme == "redis" || scheme == "rediss" { return .rdb }
        return ImportFormat.infer(from: nameForFormat)
    }
}

public struct ImportSpec: Hashable, Sendable, Codable {
    public var name: String
    public var into: String
    public var database: String
    public var sources: [ImportSource]
    public var format: ImportFormat
    public var onExisting: OnExisting
    public var rerun: RerunPolicy
    public var after: [Address]
    /// RDB only: the one database of the file(s) to import; nil takes every database.
    public var sourceDatabase: Int?
    /// RDB only: how keys present in two databases of one file combine; nil is `.error`.
    public var merge: ImportMerge?
    /// PostgreSQL only: the ordinary role that owns what the file creates and gives no ordinary
    /// owner (SPEC §6, "Import isolation"); nil: the file must give every object one.
    public var owner: String?

    public init(name: String, into: String, database: String, sources: [ImportSource], format: ImportFormat,
                onExisting: OnExisting = .fail, rerun: RerunPolicy = .onChange, after: [Address] = [],
                sourceDatabase: Int? = nil, merge: ImportMerge? = nil, owner: String? = nil) {
        self.owner = owner
        self.sourceDatabase = sourceDatabase
        self.merge = merge
        self.name = name
        self.into = into
        self.database = database
        self.sources = sources
        self.format = format
        self.onExisting = onExisting
        self.rerun = rerun
        self.after = after
    }

    public var address: Address { Address(.import, name) }
    public var target: DatabaseRef { DatabaseRef(instance: into, database: database) }
}

/// One source database and the name it takes on the target.
public struct DatabaseMapping: Hashable, Sendable, Codable {
    public var source: String
    public var target: String

    public init(source: String, target: String) {
        self.source = source
        self.target = target
    }
}

public struct CopySpec: Hashable, Sendable, Codable {
    public var name: String
    public var from: String
    public var to: String
    public var databases: [DatabaseMapping]
    public var users: UserSync
    public var onExisting: OnExisting
    /// Read from this backup set instead of live data.
    public var backupSet: String?
    /// Read from the newest backup set taken at or before this time.
    public var at: Date?
    public var verify: VerifyLevel
    public var rerun: RerunPolicy
    public var after: [Address]
    public var allowCrossAccount: Bool
    /// PostgreSQL: the ordinary role that owns what the copy makes (else Ferry's user).
    public var owner: String?

    public init(name: String, from: String, to: String, databases: [DatabaseMapping], users: UserSync = .skip,
                onExisting: OnExisting = .fail, backupSet: String? = nil, at: Date? = nil,
                verify: VerifyLevel = .checksum, rerun: RerunPolicy = .onSourceChange, after: [Address] = [],
                allowCrossAccount: Bool = false, owner: String? = nil) {
        self.owner = owner
        self.name = name
        self.from = from
        self.to = to
        self.databases = databases
        self.users = users
        self.onExisting = onExisting
        self.backupSet = backupSet
        self.at = at
        self.verify = verify
        self.rerun = rerun
        self.after = after
        self.allowCrossAccount = allowCrossAccount
    }

    public var address: Address { Address(.copy, name) }
    /// True when the copy reads a backup set rather than live data.
    public var readsBackup: Bool { backupSet != nil || at != nil }
}

public struct BackupSpec: Hashable, Sendable, Codable {
    public var name: String
    public var of: String
    public var databases: [String]
    /// The directory that holds the sets (absolute).
    public var to: String
    /// Take a new set when the newest is older than this many seconds.
    public var every: Double?
    /// How many sets to keep.
    public var keep: Int?
    public var after: [Address]

    public init(name: String, of: String, databases: [String], to: String, every: Double? = nil,
                keep: Int? = nil, after: [Address] = []) {
        self.name = name
        self.of = of
        self.databases = databases
        self.to = to
        self.every = every
        self.keep = keep
        self.after = after
    }

    public var address: Address { Address(.backup, name) }
}

/// A whole plan: the merged contents of one file or a directory of `*.json` files.
public struct Plan: Sendable {
    /// The backup set ids the plan's copies name (`backup`): `keep` leaves them.
    public var pinnedBackupSets: Set<String> { Set(copies.values.compactMap(\.backupSet)) }

    public var instances: [String: InstanceSpec] = [:]
    public var imports: [String: ImportSpec] = [:]
    public var copies: [String: CopySpec] = [:]
    public var backups: [String: BackupSpec] = [:]
    /// The plan files' `"state"` block: where the state lives when no `--state` is given.
    public var state: StateSpec?
    /// The directory (absolute) of the plan file that defines each import, by import name: local
    /// files are keyed in the state relative to it (`stateKey(of:inImport:)`).
    public var importDirectories: [String: String] = [:]
    /// The directory (absolute) of the plan file that defines each backup, by backup name: a
    /// local location is recorded in the state relative to it (`stateKey(ofLocationOf:)`).
    public var backupDirectories: [String: String] = [:]
    /// Source positions by JSON path (`instances.prod`, `copies.x.databases`); a path's key is also
    /// the resource's JSON path. Paths are unique across files because names are.
    public var locations: [String: SourceLocation] = [:]
    /// The files that made the plan, in load order.
    public var files: [String] = []
    /// The project root: the tree file sources must stay inside.
    public var root: String = FileManager.default.currentDirectoryPath

    public init() {}

    /// The key a source of import `name` has in the state (SPEC §6 "What the state holds"): a local
    /// file inside the project root by its path relative to the directory of the plan file that
    /// names it (`data/seed.sql`), so that working copies at other paths (a CI runner's checkout)
    /// agree; a file outside the root by its absolute path; a URL as shown (redacted).
    public func stateKey(of source: ImportSource, inImport name: String) -> String {
        guard case .file(let path) = source, let base = importDirectories[name],
              path == root || path.hasPrefix(root.hasSuffix("/") ? root : root + "/") else { return source.description }
        return Self.relativePath(path, from: base)
    }

    /// `spec` with its local files written as their state keys: what its hashes in the state are of.
    public func stateKeyed(_ spec: ImportSpec) -> ImportSpec {
        var keyed = spec
        keyed.sources = spec.sources.map { source in
            if case .file = source { return .file(stateKey(of: source, inImport: spec.name)) }
            return source
        }
        return keyed
    }

    /// The key a backup's location has in the state (SPEC §6 "What the state holds"), as import
    /// files have theirs: a local directory inside the project root by its path relative to the
    /// directory of the plan file that names it (`../var/backups`), so that working copies at
    /// other paths sharing one state find the same backup sets; a directory outside the root by
    /// its absolute path; a storage location (`s3://...`, `ftp://...`) as written.
    public func stateKey(ofLocationOf spec: BackupSpec) -> String {
        let path = spec.to
        guard path.hasPrefix("/"), let base = backupDirectories[spec.name],
              path == root || path.hasPrefix(root.hasSuffix("/") ? root : root + "/") else { return path }
        return Self.relativePath(path, from: base)
    }

    /// `spec` with its location written as its state key: what its hashes in the state are of.
    public func stateKeyed(_ spec: BackupSpec) -> BackupSpec {
        var keyed = spec
        keyed.to = stateKey(ofLocationOf: spec)
        return keyed
    }

    /// `path` relative to the directory `base` (both absolute, normalized): `data/x.sql`, `../x.sql`.
    static func relativePath(_ path: String, from base: String) -> String {
        let target = path.split(separator: "/"), from = base.split(separator: "/")
        var common = 0
        while common < target.count, common < from.count, target[common] == from[common] { common += 1 }
        let parts = Array(repeating: "..", count: from.count - common) + target[common...].map(String.init)
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }

    /// Every resource address in the plan, sorted.
    public var addresses: [Address] {
        (imports.keys.map { Address(.import, $0) } + copies.keys.map { Address(.copy, $0) }
            + backups.keys.map { Address(.backup, $0) }).sorted()
    }

    /// The best known location for a JSON path: the path itself or its nearest ancestor.
    public func location(of jsonPath: String) -> SourceLocation? {
        var path = jsonPath
        while true {
            if let found = locations[path] { return found }
            guard let dot = path.lastIndex(of: ".") else { return nil }
            path = String(path[..<dot])
        }
    }

    public func location(of address: Address) -> SourceLocation? {
        location(of: "\(address.kind.section).\(address.name)")
    }

    /// The databases the plan names on `instance` (import targets, copy sources and targets,
    /// backed-up databases): the ones a refresh fingerprints there. Other databases are listed
    /// with their sizes only, as Terraform refreshes only what it manages.
    public func databases(on instance: String) -> Set<String> {
        var names: Set<String> = []
        for spec in imports.values where spec.into == instance { names.insert(spec.database) }
        for spec in copies.values {
            if spec.from == instance { names.formUnion(spec.databases.map(\.source)) }
            if spec.to == instance { names.formUnion(spec.databases.map(\.target)) }
        }
        for spec in backups.values where spec.of == instance { names.formUnion(spec.databases) }
        return names
    }

    /// The `after` list of any resource.
    public func after(_ address: Address) -> [Address] {
        switch address.kind {
        case .import: imports[address.name]?.after ?? []
        case .copy: copies[address.name]?.after ?? []
        case .backup: backups[address.name]?.after ?? []
        }
    }
}

/// Paths as users see them: relative to the working directory when inside it.
public enum DisplayPath {
    public static func relative(_ path: String, to base: String = FileManager.default.currentDirectoryPath) -> String {
        let prefix = base.hasSuffix("/") ? base : base + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
    }

    /// A backup's `to` as output shows it (SPEC §2): a directory relative to the current one; a
    /// storage URL with `***` for its userinfo's password (an `ftp:` location's `${env:NAME}`),
    /// as its errors show it.
    /// A journal's template of one (`JournalRecord.directoryIsTemplate`) shows its references'
    /// defaults as `***` (fresh tester round 77, F4: `${env:T:-VALUE}` printed VALUE, which is
    /// masked wherever the plan's own lines show it).
    public static func location(_ to: String) -> String {
        let shown = BackupStores.remoteScheme(of: to) != nil ? Redaction.redactURL(to) : Redaction.maskingPathValues(relative(to))
        return Redaction.maskingReferenceDefaults(shown)
    }
}
