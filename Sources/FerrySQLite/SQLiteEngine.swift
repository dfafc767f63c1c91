import CSQLite
import FerryCore
import Foundation

/// The embedded default engine: an instance is a directory, a database NAME is the file `<dir>/NAME.db`.
///
/// Register it with `EngineRegistry([SQLiteEngine(), ...])`.
public struct SQLiteEngine: Engine {
    public init() {}

    public var kind: EngineKind { .sqlite }

    /// No users; file names up to `NAME_MAX` (255 bytes); fingerprints read the file.
    public var capabilities: EngineCapabilities {
        EngineCapabilities(syncsUsers: false, usersSyncNote: "users: sync has no effect on SQLite, which has no users",
                           identifierLimit: IdentifierLimit(length: SQLiteNames.maxNameBytes, inBytes: true),
                           sameServerFastCopy: true, cheapFingerprints: false, finishesCopies: false)
    }

    public var importFormats: Set<ImportFormat> { [.sql, .sqlite] }

    public func problem(withDatabaseName name: String) -> String? {
        if name.isEmpty { return "an SQLite database name cannot be empty" }
        if name.contains("/") { return "an SQLite database name cannot contain \"/\"" }
        if name.contains("\0") { return "an SQLite database name cannot contain a NUL character" }
        if name.hasPrefix(".") { return "an SQLite database name cannot start with \".\" (hidden files are Ferry's own)" }
        if name.utf8.count > SQLiteNames.maxNameBytes {
            return "an SQLite database name can be at most \(SQLiteNames.maxNameBytes) bytes (the file is NAME.db)"
        }
        return nil
    }

    public func connect(_ target: ConnectionTarget) throws -> any EngineSession {
        guard let path = target.instance.path, path.hasPrefix("/") else {
            throw FerryError(.invalidParameter, "an SQLite instance needs an absolute directory path",
                             instance: target.instance.name)
        }
        var info = stat()
        if stat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw FerryError(.instanceNotFound, "\(path) exists and is not a directory",
                                 hint: "an SQLite instance's path is a directory holding NAME.db files",
                                 instance: target.instance.name)
            }
        } else if errno != ENOENT {
            throw FerryError(.instanceNotFound, "cannot read \(path): \(systemMessage())", instance: target.instance.name)
        }
        return SQLiteSession(target: target, directory: path)
    }

    /// The SQLite library's version, e.g. `3.40.1`. The corresponding C function is `sqlite3_libversion`.
    public static var libraryVersion: String { String(cString: sqlite3_libversion()) }
}

/// How database names map to files, and the hidden names Ferry uses beside them.
///
/// Every name the session's methods take (a database, a shadow, a checkpoint) is a file `<dir>/<name>.db`.
/// Shadows are `.NAME.ferry-shadow-RUNID` and checkpoints `.NAME.ferry-ckpt-RUNID`: hidden, so `describe`
/// never lists them, and in the same directory, so `rename(2)` and `link(2)` between them stay atomic.
public enum SQLiteNames {
    public static let maxNameBytes = 200
    static let fileExtension = ".db"
    static let claimsFile = ".ferry-claims.json"
    static let claimsLock = ".ferry-claims.lock"
    /// The companion files SQLite may keep beside a database.
    static let companionSuffixes = ["-wal", "-shm", "-journal"]

    public static func shadowName(for database: String, runID: String) -> String {
        hiddenName(database, tag: "shadow", runID: runID)
    }

    public static func checkpointName(for database: String, runID: String) -> String {
        hiddenName(database, tag: "ckpt", runID: runID)
    }

    /// The longest suffix Ferry or SQLite ever puts after a shadow's or checkpoint's name: `.db`, then
    /// the verify record `.ferry-verify.json`, then the temporary file `DurableFile.writeAtomically`
    /// writes beside it (`.tmp-PID`, a PID of up to 7 digits: Linux's `pid_max` is at most 2^22).
    /// Longer than SQLite's own `-journal`, `-wal`, `-shm` and `-mjXXXXXXXX` companions.
    static let longestHiddenSuffix = fileExtension + ".ferry-verify.json" + ".tmp-4194304"
    /// The longest file name a directory entry may have on Linux file systems (`NAME_MAX`), in bytes.
    public static let fileNameMaxBytes = 255

    /// `.NAME.ferry-TAG-RUNID`; when that name, or any file derived from it (`longestHiddenSuffix`),
    /// would pass `NAME_MAX` (255 bytes), shortened by Ferry's one naming rule (`DerivedName`,
    /// limited in bytes to what leaves room for the leading `.` and the longest suffix): the
    /// longest prefix of NAME that fits, `_`, 8 hex digits of its digest, `.ferry-TAG-RUNID` whole
    /// (a run id cut to 120 bytes first).
    static func hiddenName(_ database: String, tag: String, runID: String) -> String {
        let safeRun = String(runID.map { $0 == "/" || $0 == "\0" ? "_" : $0 })
        let full = ".\(database).ferry-\(tag)-\(safeRun)"
        if full.utf8.count + longestHiddenSuffix.utf8.count <= fileNameMaxBytes { return full }
        let runPart = String(decoding: safeRun.utf8.prefix(120), as: UTF8.self)
        let limit = IdentifierLimit(length: fileNameMaxBytes - longestHiddenSuffix.utf8.count - 1, inBytes: true)
        return "." + DerivedName.make(database, suffix: ".ferry-\(tag)-\(runPart)", limit: limit, hash: shortDigest)
    }

    /// The shortened name releases before the one naming rule gave (`.PREFIX~DIGEST.ferry-TAG-RUN`),
    /// only to find their leftovers; nil when the name was not shortened.
    static func legacyShortenedName(_ database: String, tag: String, runID: String) -> String? {
        let safeRun = String(runID.map { $0 == "/" || $0 == "\0" ? "_" : $0 })
        let full = ".\(database).ferry-\(tag)-\(safeRun)"
        if full.utf8.count + longestHiddenSuffix.utf8.count <= fileNameMaxBytes { return nil }
        let prefix = String(decoding: database.utf8.prefix(60), as: UTF8.self)
        let runPart = String(decoding: safeRun.utf8.prefix(120), as: UTF8.self)
        return ".\(prefix)~\(shortDigest(database)).ferry-\(tag)-\(runPart)"
    }

    /// A 64-bit FNV-1a digest in hex: short, stable across runs.
    static func shortDigest(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return String(hash, radix: 16)
    }
}

/// The text of `errno`.
func systemMessage(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }
