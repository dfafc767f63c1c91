import Foundation

/// What Ferry last applied for one resource.
public struct ResourceRecord: Codable, Sendable, Hashable {
    /// A database a resource wrote, with its fingerprint right after the write.
    public struct Target: Codable, Sendable, Hashable {
        public var instance: String
        public var database: String
        public var fingerprint: String?
        public init(instance: String, database: String, fingerprint: String?) {
            self.instance = instance
            self.database = database
            self.fingerprint = fingerprint
        }
        public var ref: DatabaseRef { DatabaseRef(instance: instance, database: database) }
    }

    public var address: Address
    /// Hash of the fields that decide what data lands (see `DefinitionHash`).
    public var definitionHash: String
    /// Hash of every field, so that a change to fields that move no data is an `update`.
    public var settingsHash: String
    public var targets: [Target]
    /// What the resource read, by source key (`instance/db` for copies, the source for imports),
    /// with the fingerprint or digest it had.
    public var sources: [String: String]
    public var appliedAt: Date
    public var runID: String
    /// Backup sets this resource took, newest last (backups only).
    public var backupSets: [String]

    public init(address: Address, definitionHash: String, settingsHash: String, targets: [Target],
                sources: [String: String], appliedAt: Date, runID: String, backupSets: [String] = []) {
        self.address = address
        self.definitionHash = definitionHash
        self.settingsHash = settingsHash
        self.targets = targets
        self.sources = sources
        self.appliedAt = appliedAt
        self.runID = runID
        self.backupSets = backupSets
    }
}

extension State {
    /// The fingerprint recorded for each database a resource of this state committed (the
    /// newest record's, where two name one database).
    public var committedFingerprints: [DatabaseRef: String] {
        var result: [DatabaseRef: (Date, String)] = [:]
        for record in resources.values {
            for target in record.targets {
                guard let fingerprint = target.fingerprint else { continue }
                if let held = result[target.ref], held.0 >= record.appliedAt { continue }
                result[target.ref] = (record.appliedAt, fingerprint)
            }
        }
        return result.mapValues(\.1)
    }
}

/// The whole state file (`.ferry/state.json`).
public struct State: Codable, Sendable, Hashable {
    public var version: Int = 1
    /// Identifies this state's history: a saved plan from another lineage is stale.
    public var lineage: String
    /// Incremented at every write.
    public var serial: Int
    public var resources: [String: ResourceRecord]
    /// How many committed runs keep their checkpoints for `ferry rollback` (default 1).
    public var keepCheckpointRuns: Int?
    /// The run that wrote this state: a run whose journal says `committing` committed exactly when
    /// the state names it.
    public var lastRunID: String?

    public init(lineage: String = UUID().uuidString.lowercased(), serial: Int = 0,
                resources: [String: ResourceRecord] = [:]) {
        self.lineage = lineage
        self.serial = serial
        self.resources = resources
    }

    public func record(for address: Address) -> ResourceRecord? { resources[address.description] }

    public mutating func record(_ record: ResourceRecord) {
        resources[record.address.description] = record
    }

    public mutating func remove(_ address: Address) {
        resources[address.description] = nil
    }
}
