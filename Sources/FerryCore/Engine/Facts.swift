/// What refresh learns about one database.
public struct DatabaseFacts: Hashable, Sendable, Codable {
    public var name: String
    /// Bytes on disk (or in memory, for Redis), as the engine tells it.
    public var sizeBytes: Int64
    /// Changes whenever any committed row, key or schema object changes. A false "changed" is
    /// acceptable, a missed change is not.
    public var fingerprint: String
    /// False when the engine cannot prove that nothing changed (the planner then treats the
    /// database as changed and says so).
    public var isFingerprintExact: Bool
    /// Rows, keys or tables, for display.
    public var detail: String?

    public init(name: String, sizeBytes: Int64, fingerprint: String, isFingerprintExact: Bool = true, detail: String? = nil) {
        self.name = name
        self.sizeBytes = sizeBytes
        self.fingerprint = fingerprint
        self.isFingerprintExact = isFingerprintExact
        self.detail = detail
    }
}

/// Who is using a database on an instance right now (SPEC §3: Migrating source, Importing target).
public struct DatabaseClaim: Hashable, Sendable, Codable {
    public enum Role: String, Sendable, Codable {
        case migrating = "Migrating"
        case importing = "Importing"
        /// The database holds the checkpoint a committed run keeps for `ferry rollback` (Redis:
        /// a numbered database). Not free: Ferry neither writes into it nor reads from it.
        case keptCheckpoint = "KeptCheckpoint"
    }
    public var database: String
    public var role: Role
    public var runID: String

    public init(database: String, role: Role, runID: String) {
        self.database = database
        self.role = role
        self.runID = runID
    }
}

/// What refresh learns about one instance.
public struct InstanceFacts: Hashable, Sendable, Codable {
    public var instance: String
    public var engine: EngineKind
    public var version: String?
    /// `Running`, or the engine's own word for an unusable status.
    public var status: String
    /// Databases that exist, by name. Redis lists only non-empty numbered databases.
    public var databases: [String: DatabaseFacts]
    /// Free bytes where the engine can read them (the disk under SQLite's directory, say).
    public var freeBytes: Int64?
    /// Databases other runs are using now.
    public var claims: [DatabaseClaim]

    public init(instance: String, engine: EngineKind, version: String?, status: String = "Running",
                databases: [String: DatabaseFacts], freeBytes: Int64? = nil, claims: [DatabaseClaim] = []) {
        self.instance = instance
        self.engine = engine
        self.version = version
        self.status = status
        self.databases = databases
        self.freeBytes = freeBytes
        self.claims = claims
    }

    /// Bytes used by all databases.
    public var usedBytes: Int64 { databases.values.reduce(0) { $0 + $1.sizeBytes } }
}

/// Size and digest of an import's source, so a changed file marks the import for a rerun.
public struct SourceFacts: Hashable, Sendable, Codable {
    public var source: String
    public var sizeBytes: Int64?
    /// A digest of the bytes, or of what the server says of them (ETag, modification time), or nil
    /// when nothing can be told cheaply.
    public var digest: String?

    public init(source: String, sizeBytes: Int64?, digest: String?) {
        self.source = source
        self.sizeBytes = sizeBytes
        self.digest = digest
    }
}

/// Everything refresh learned: the facts a plan is built on, and that a saved plan is checked against.
public struct Facts: Sendable, Codable, Equatable {
    public var instances: [String: InstanceFacts] = [:]
    /// Instances that could not be described, with why.
    public var unreachable: [String: Diagnostic] = [:]
    /// Import sources by `ImportSource.description`.
    public var sources: [String: SourceFacts] = [:]
    /// Backup sets found under each backup resource's directory, by backup address name.
    public var backupSets: [String: [BackupSetManifest]] = [:]

    public init() {}
}
