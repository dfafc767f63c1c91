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
        /// `sha256:<hex>` of the file as written; nil in sets taken before Ferry recorded it.
        public var sha256: String?
        /// What the file holds, per table (Redis: its keys), counted by the backup in the snapshot
        /// it wrote; a restore's verify compares the restored shadow with it. Nil in sets taken
        /// before Ferry recorded it (those are checked by size and SHA-256 alone).
        public var tables: [VerifyReport.Table]?
        /// The storage location's version tag of the file once uploaded (an object store's
        /// `ETag`, an FTP server's `MLSD` facts `modify` and `unique`: `BackupStore.fileVersions`);
        /// nil for a local folder, an FTP server that gives neither fact, and sets taken before
        /// Ferry recorded it. A prune removes the file only while its tag is this one.
        public var etag: String?
        public init(database: String, file: String, sizeBytes: Int64, fingerprint: String?, sha256: String? = nil,
                    tables: [VerifyReport.Table]? = nil) {
            self.database = database
            self.file = file
            self.sizeBytes = sizeBytes
            self.fingerprint = fingerprint
            self.sha256 = sha256
            self.tables = tables
        }

        /// Checks that the entry's file in the set's directory is the one the set recorded: it
        /// exists, has the recorded size and (when recorded) the recorded SHA-256. Throws
        /// `VerifyFailed` naming the set, database and file otherwise.
        public func checkFile(inSet directory: String, id: String, digest: FileDigest) throws {
            let path = "\(directory)/\(file)"
            let place = "backup set \(id): the file \(file) of database \(database)"
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                  (attributes[.type] as? FileAttributeType) == .typeRegular else {
                throw FerryError(.verifyFailed, "\(place) is missing or not a regular file",
                                 hint: "a backup set is restored only as it was taken; use another set")
            }
            let size = (attributes[.size] as? NSNumber)?.int64Value ?? -1
            if size != sizeBytes {
                throw FerryError(.verifyFailed, "\(place) has \(size) bytes; the set's manifest recorded \(sizeBytes)",
                                 hint: "the file changed after the set was taken; nothing was restored from it")
            }
            if let sha256 {
                let found = try digest(path)
                if found != sha256 {
                    throw FerryError(.verifyFailed, "\(place) does not match the SHA-256 its manifest recorded (\(found), recorded \(sha256))",
                                     hint: "the file changed after the set was taken; nothing was restored from it")
                }
            }
        }
    }

    /// How restored tables differ from the ones a manifest recorded: a table missing or extra, or
    /// another row count, or another checksum where both have one. Empty when they agree.
    public static func differences(of restored: [VerifyReport.Table], from recorded: [VerifyReport.Table]) -> [String] {
        let here = Dictionary(restored.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let there = Dictionary(recorded.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var found: [String] = []
        for name in there.keys.sorted() {
            guard let mine = here[name] else { found.append("table \(name) (\(there[name]!.rows) rows) is missing"); continue }
            if mine.rows != there[name]!.rows { found.append("table \(name) holds \(mine.rows) rows, recorded \(there[name]!.rows)") }
            else if let a = mine.checksum, let b = there[name]!.checksum, a != b { found.append("table \(name) has checksum \(a), recorded \(b)") }
        }
        for name in here.keys.sorted() where there[name] == nil {
            found.append("table \(name) (\(here[name]!.rows) rows) was not in the set")
        }
        return found
    }

    /// The file name of `database` in a set: every byte outside `[A-Za-z0-9_-]` (dots and `%`
    /// included) percent-encoded, so that no two database names share a file (`a b` → `a%20b`,
    /// `a_b` → `a_b`, `a%20b` → `a%2520b`), then `.<ext>`. Sets taken before this naming keep
    /// their names: the manifest maps each database to its file. Names too long for a file system keep a prefix and gain
    /// `~` and a 128-bit hash of the whole name.
    /// The extensions engines give their backup files (`EngineSession.backupFileExtension`:
    /// SQLite `db`, MariaDB `sql.gz`, Redis `rdb`, PostgreSQL `dump`): what a folder whose
    /// manifest is gone may hold of its set, by exact name.
    public static let fileExtensions = ["db", "sql.gz", "rdb", "dump"]

    public static func fileName(for database: String, extension ext: String) -> String {
        var encoded = ""
        for byte in database.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if byte < 0x80 && (c.isLetter || c.isNumber || c == "-" || c == "_") {
                encoded.append(c)
            } else {
                encoded += String(format: "%%%02X", byte)
            }
        }
        if encoded.isEmpty { encoded = "%" }
        if encoded.utf8.count > 180 {
            encoded = String(encoded.prefix(140)) + "~" + StableHash.hex(database)
        }
        return "\(encoded).\(ext)"
    }
    public var id: String
    public var instance: String
    public var engine: EngineKind
    /// When the set was complete (its last file written), to the second: the manifest's JSON
    /// keeps whole seconds.
    public var takenAt: Date
    /// `takenAt` in milliseconds since 1970 (nil in a set of an earlier release): `at` compares
    /// with it (fresh tester round 77, F5: a set taken at 26.363 s was "at or before" 26.150 s).
    public var takenAtMilliseconds: Int64?
    public var entries: [Entry]

    public init(id: String, instance: String, engine: EngineKind, takenAt: Date, entries: [Entry]) {
        self.id = id
        self.instance = instance
        self.engine = engine
        self.takenAt = takenAt
        self.takenAtMilliseconds = Int64((takenAt.timeIntervalSince1970 * 1000).rounded(.up))
        self.entries = entries
    }

    /// When the set was complete, at the latest: `takenAtMilliseconds`, or for a set that
    /// recorded whole seconds only, the last instant of its second (never earlier than it was).
    public var completedBy: Date {
        if let ms = takenAtMilliseconds { return Date(timeIntervalSince1970: TimeInterval(ms) / 1000) }
        return Date(timeIntervalSince1970: takenAt.timeIntervalSince1970.rounded(.down) + 0.999)
    }

    public var sizeBytes: Int64 { entries.reduce(0) { $0 + $1.sizeBytes } }
}

/// The digest a backup set records for each of its files: `sha256:<hex>` of the file's bytes.
/// The core does no hashing of its own: the executable hands in libcrypto's (FerryIO's
/// `Digest.sha256(file:)`) through `EngineRegistry`. Throws when the file cannot be read.
public typealias FileDigest = @Sendable (_ path: String) throws -> String
