import Foundation

/// The manifest of one backup set: `<to>/<id>/manifest.json` beside one file per database.
public struct BackupSetManifest: Sendable, Codable, Hashable {
    public struct Entry: Sendable, Codable, Hashable {
        public var database: String
        /// The file name inside the set's directory.
        public var file: String
        public var sizeBytes: Int64
        /// The source database's fingerprint when the set was taken.
        public var fingerprint: String?
        public init(database: String, file: String, sizeBytes: Int64, fingerprint: String?) {
            self.database = database
            self.file = file
            self.sizeBytes = sizeBytes
            self.fingerprint = fingerprint
        }
    }
    public var id: String
    public var instance: String
    public var engine: EngineKind
    public var takenAt: Date
    public var entries: [Entry]

    public init(id: String, instance: String, engine: EngineKind, takenAt: Date, entries: [Entry]) {
        self.id = id
        self.instance = instance
        self.engine = engine
        self.takenAt = takenAt
        self.entries = entries
    }

    public var sizeBytes: Int64 { entries.reduce(0) { $0 + $1.sizeBytes } }
}
