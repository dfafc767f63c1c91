import CSQLite
import FerryCore
import FerryIO
import Foundation

/// A session on one SQLite instance directory. Holds no open database between calls: every
/// method opens what it needs and closes it before returning, so nothing is locked in between.
public final class SQLiteSession: EngineSession {
    public let target: ConnectionTarget
    /// The instance directory (absolute).
    public let directory: String
    /// What a call left as it is at a name of the run (a file at a shadow's companion name that
    /// is not provably SQLite's for the run's shadow, a file at the checkpoint's name): one line
    /// each, handed to the core by `takeLeftNotes`.
    var leftNotes: [String] = []
    /// The paths `leftNotes` named already (a rollback's leftover sweep after the shadow's drop
    /// finds the same file again: noted once).
    var notedLeft: Set<String> = []

    init(target: ConnectionTarget, directory: String) {
        self.target = target
        self.directory = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
    }

    /// The file that holds database (or shadow, or checkpoint) `name`.
    public func path(of name: String) -> String { directory + "/" + name + SQLiteNames.fileExtension }

    var directoryExists: Bool {
        var info = stat()
        return stat(directory, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates the instance directory when it is missing (apply creates it, SPEC §2).
    func createDirectoryIfMissing() throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            // A read-only parent or a full disk says so (SPEC §8); anything else means the place is missing.
            let classified = SystemError.error("cannot create SQLite instance directory", path: directory, from: error)
            if classified.code != .internalError { throw classified.placed(address: nil, instance: target.instance.name) }
            throw FerryError(.instanceNotFound, "cannot create SQLite instance directory \(directory): \(error.localizedDescription)",
                             instance: target.instance.name)
        }
    }

    // MARK: Refresh

    public func databaseExists(_ database: String) throws -> Bool {
        FileManager.default.fileExists(atPath: path(of: database))
    }

    /// Fingerprints read only a few headers, so every database gets one.
    public func describe(fingerprinting _: Set<String>?) throws -> InstanceFacts {
        var databases: [String: DatabaseFacts] = [:], lookalikes: [String] = []
        var freeBytes: Int64?
        var occupied: [String: String] = [:]
        if directoryExists {
            let names = try FileManager.default.contentsOfDirectory(atPath: directory)
            for file in names where file.hasSuffix(SQLiteNames.fileExtension) && !file.hasPrefix(".") {
                let name = String(file.dropLast(SQLiteNames.fileExtension.count))
                // A companion SQLite would apply that is not provably the database's own: the
                // database is not opened (w31 A6), and the plan refuses to touch it.
                let stray = Self.foreignCompanion(ofExisting: path(of: name))
                guard !name.isEmpty, let facts = try databaseFacts(name, opening: stray == nil) else { continue }
                databases.insertListed(facts, as: name, lookalikes: &lookalikes)
                if let stray { occupied[name] = stray }
            }
            occupied.merge(occupiedNames(among: names, databases: databases)) { existing, _ in existing }
            var fs = statvfs()
            if statvfs(directory, &fs) == 0 {
                freeBytes = Int64(fs.f_bavail) * Int64(fs.f_frsize)
            }
        } else {
            // A missing directory is an instance with no databases; free space is that of the nearest parent.
            var parent = (directory as NSString).deletingLastPathComponent
            var fs = statvfs()
            while !parent.isEmpty {
                if statvfs(parent, &fs) == 0 { freeBytes = Int64(fs.f_bavail) * Int64(fs.f_frsize); break }
                if parent == "/" { break }
                parent = (parent as NSString).deletingLastPathComponent
            }
        }
        var facts = InstanceFacts(instance: target.instance.name, engine: .sqlite, version: SQLiteEngine.libraryVersion,
                                  databases: databases, freeBytes: freeBytes, claims: try readClaims())
        facts.lookalikeNames = lookalikes.isEmpty ? nil : lookalikes
        facts.occupiedNames = occupied.isEmpty ? nil : occupied
        return facts
    }

    /// Size, fingerprint and table count of one database, or nil when it is not a regular file.
    /// Not `opening`: the file facts alone (not exact), nothing opened with SQLite.
    func databaseFacts(_ name: String, opening: Bool = true) throws -> DatabaseFacts? {
        let file = path(of: name)
        guard let main = FileIdentity(path: file), main.isRegularFile else { return nil }
        let wal = FileIdentity(path: file + "-wal")
        var probe = Fingerprint.Probe()
        var tables: Int64?
        var isExact = true
        do {
            guard opening else { throw FerryError(.wrongStatus, "not opened") }
            let connection = try SQLiteConnection(path: file, readOnly: true)
            try connection.execute("BEGIN")
            defer { try? connection.execute("COMMIT") }
            // The query takes the read lock (and, in WAL mode, maps the WAL index) before the headers are read.
            tables = try connection.integer(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
            var header = [UInt8](repeating: 0, count: 100)
            let n = try header.withUnsafeMutableBytes { try connection.readMainFile(into: $0.baseAddress!, count: 100, offset: 0) }
            probe.header = Array(header.prefix(n))
            if n >= 20 && header[18] == 2 {
                // Only the header (48 bytes): what follows holds readers' marks, which change on reads.
                probe.walIndex = try connection.walIndexPrefix(count: 48)
            }
        } catch {
            // Not readable as SQLite right now: the stat facts still change with any write, but say it is not exact.
            isExact = false
        }
        if wal != nil { probe.walHeader = Fingerprint.readWALHeader(file + "-wal") }
        let fingerprint = Fingerprint.of(main: main, wal: wal, probe: probe)
        return DatabaseFacts(name: name, sizeBytes: main.size + (wal?.size ?? 0), fingerprint: fingerprint,
                             isFingerprintExact: isExact,
                             detail: tables.map { $0 == 1 ? "1 table" : "\($0) tables" })
    }

    /// The database's content token (`EngineSession.contentToken`): the cheap fingerprint's file
    /// facts without the ctime (a rename changes it, not the content) and without the WAL index
    /// (rebuilt under a new name): inode, size, mtime and header of the main file, and of a
    /// non-empty `-wal`. Every committed write changes it: the header's change counter
    /// (rollback-journal mode), or the `-wal`'s size or salts (WAL mode), or the main file when
    /// a checkpoint writes it. Nil when `database` is not a regular file.
    public func contentToken(of database: String) throws -> String? {
        let file = path(of: database)
        guard let main = FileIdentity(path: file), main.isRegularFile else { return nil }
        // A shadow of a run: never opened beside a `-journal` of someone else's (round-11 F3).
        if database.hasPrefix("."), database.contains(".ferry-shadow-") {
            try refuseForeignCompanions(ofShadow: file, doing: "the shadow was not opened to read its content token")
        } else {
            // Nor any other database beside a companion SQLite would apply that is not provably
            // its own (w31 A6, A4: this read checkpointed another database's WAL into the file,
            // or failed as "attempt to write a readonly database").
            try refuseForeignCompanions(ofExisting: database, doing: "Ferry did not open \(database) to read its content token")
        }
        var header = [UInt8](repeating: 0, count: 100)
        var count = 0
        do {
            let connection = try SQLiteConnection(path: file, readOnly: true)
            try connection.execute("BEGIN")
            defer { try? connection.execute("COMMIT") }
            _ = try connection.integer("SELECT count(*) FROM sqlite_schema")
            count = try header.withUnsafeMutableBytes { try connection.readMainFile(into: $0.baseAddress!, count: 100, offset: 0) }
        } catch {
            // Not an SQLite database at all (SQLITE_NOTADB, or an empty file): the file facts
            // alone still change with any write, and read the same each time. Anything else
            // (busy, an I/O error) would give another token than a good read: no token then.
            let sqlite = ((error as? FerryError)?.cause as? SQLiteError) ?? (error as? SQLiteError)
            if sqlite.map({ $0.extendedCode & 0xff != 26 }) ?? true, main.size > 0 {
                throw FerryError(.copyError, "cannot read \(file) for its content token now: \((error as? FerryError)?.message ?? "\(error)")",
                                 hint: "apply (or `ferry recover`) again once it can be read", instance: target.instance.name)
            }
        }
        let wal = FileIdentity(path: file + "-wal")
        var material = "content1|\(main.device)|\(main.inode)|\(main.size)|\(main.modifiedNanoseconds)|hdr:" + Digest.hex(Array(header.prefix(count)))
        if let wal, wal.size > 0 {
            material += "|wal:\(wal.inode)|\(wal.size)|\(wal.modifiedNanoseconds)|" + Digest.hex(Fingerprint.readWALHeader(file + "-wal"))
        }
        return "sqlite1:" + String(Digest.sha256(Array(material.utf8)).prefix(32))
    }

    // MARK: Claims

    public func claim(_ claims: [DatabaseClaim]) throws {
        guard !claims.isEmpty else { return }
        try createDirectoryIfMissing()
        try ClaimsFile(directory: directory).update(by: claims[0].runID) { held in
            // A run on this host whose process is gone and that left nothing here holds nothing
            // any more (a wiped CI workspace cannot `recover` it). One that left shadows or
            // checkpoints keeps its claims until it is recovered or `ferry unlock --claims`.
            held.removeAll { claim in !claims.contains { $0.runID == claim.runID } && self.isClearable(claim) }
            for wanted in claims {
                if let other = held.first(where: { $0.database == wanted.database && $0.runID != wanted.runID
                    && !($0.role == .migrating && wanted.role == .migrating) }) {
                    let left = other.leftoverPhrase { try self.leftovers(ofRun: $0) } ?? "it left work here"
                    let gone = !other.isHolderGone ? ""
                        : other.unfinishedJournalHere.map { "; its process is gone, and its journal is still in \($0): `ferry recover` there finishes it" }
                        ?? "; its process is gone and \(left)"
                    throw FerryError(.wrongStatus,
                                     "database \(wanted.database) is \(other.role.rawValue) by \(other.holderSummary)\(gone)",
                                     hint: "wait for run \(other.runID) to finish, or run `ferry recover` where it ran; if that is gone for good, `ferry unlock --claims \(target.instance.name) \(other.runID)`",
                                     instance: target.instance.name)
                }
            }
            for wanted in claims where !held.contains(wanted) { held.append(wanted) }
        }
    }

    public func release(runID: String) throws {
        // No claims file, no claims: nothing to lock (a read-only directory never had one).
        let claims = ClaimsFile(directory: directory)
        guard directoryExists, FileManager.default.fileExists(atPath: claims.jsonPath)
                || FileManager.default.fileExists(atPath: claims.temporaryPath(ofRun: runID)) else { return }
        try claims.update(by: runID) { held in held.removeAll { $0.runID == runID } }
    }

    /// Hidden shadow and checkpoint files of the run (`.NAME.ferry-shadow-RUN.db`, `...-ckpt-RUN.db`).
    public func leftovers(ofRun runID: String) throws -> [String] {
        guard directoryExists else { return [] }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        let safeRun = String(runID.map { $0 == "/" || $0 == "\0" ? "_" : $0 })
        return names.filter { name in
            name.hasPrefix(".") && (name.contains(".ferry-shadow-" + safeRun) || name.contains(".ferry-ckpt-" + safeRun))
        }.sorted()
    }

    /// `ferry unlock --claims` of a run stopped after its swap: each checkpoint file of the run
    /// holds the only copy of what its database held before the run (fresh tester round 22, K3:
    /// it was listed as a leftover to "remove by hand"). Reads only.
    public func leftoverWarnings(ofRun runID: String) throws -> [String] {
        guard directoryExists else { return [] }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        let databases = names.filter { !$0.hasPrefix(".") && $0.hasSuffix(SQLiteNames.fileExtension) }.map { String($0.dropLast(SQLiteNames.fileExtension.count)) }
        return try leftovers(ofRun: runID).filter { $0.contains(".ferry-ckpt-") && $0.hasSuffix(SQLiteNames.fileExtension) }.map { file in
            guard let database = databases.first(where: { SQLiteNames.checkpointName(for: $0, runID: runID) + SQLiteNames.fileExtension == file }) else {
                return "\(file) is a checkpoint of the run, no leftover: it holds what its database held before the run (that database is not in \(directory) now); never remove it before you have what you need from it"
            }
            let target = database + SQLiteNames.fileExtension
            return "\(file) is the checkpoint of \(target), no leftover: it holds what \(target) held before the run, and \(target) holds the run's copy now. To put \(target) back by hand, move \(file) (and its -wal file, if there is one) over \(target) while nothing has either open"
        }
    }

    /// Under the claims file's exclusive lock (`ClaimsFile.update`).
    public func takeOverClaims(ofRun runID: String, from expected: DatabaseClaim, to taker: DatabaseClaim) throws -> Bool? {
        guard directoryExists, FileManager.default.fileExists(atPath: ClaimsFile(directory: directory).jsonPath) else { return false }
        var taken = false
        try ClaimsFile(directory: directory).update(by: runID) { held in
            let mine = held.indices.filter { held[$0].runID == runID }
            guard !mine.isEmpty, mine.allSatisfy({ held[$0].holder == expected.holder && held[$0].host == expected.host && held[$0].pid == expected.pid }) else { return }
            for i in mine {
                held[i].holder = taker.holder
                held[i].host = taker.host
                held[i].pid = taker.pid
                held[i].journal = taker.journal
            }
            taken = true
        }
        return taken
    }

    public func claimHeld(by runID: String, on database: String) throws -> Bool? {
        guard directoryExists else { return false }
        return try ClaimsFile(directory: directory).read().contains { $0.runID == runID && $0.database == database }
    }

    public func recordedClaims() throws -> [DatabaseClaim] {
        guard directoryExists else { return [] }
        return try ClaimsFile(directory: directory).read()
    }

    /// The claims that hold: a dead run's claim that the next `claim` clears is not one.
    func readClaims() throws -> [DatabaseClaim] {
        try recordedClaims().filter { !isClearable($0) }
    }

    /// True for a claim of a run whose process is provably gone and that left nothing here (nor
    /// did the run it reverts, for a rollback run's).
    func isClearable(_ claim: DatabaseClaim) -> Bool {
        claim.isClearable { (try? leftovers(ofRun: $0)) ?? ["?"] }
    }

    // MARK: Building

    /// Made exclusively (`O_EXCL`): a file already at the shadow's name is not the run's (its
    /// name holds the run's id, which no earlier run had), so it is neither replaced nor
    /// removed; the run fails (`OperationDenied.WrongStatus`) naming it. The core journals
    /// the new file's identity (`shadowIdentity`) right after.
    public func makeShadow(for database: String, runID: String) throws -> String {
        try createDirectoryIfMissing()
        let name = SQLiteNames.shadowName(for: database, runID: runID)
        let file = path(of: name)
        // An empty file is a valid empty SQLite database.
        do {
            try RawFile.open(file, O_WRONLY | O_CREAT | O_EXCL, what: "cannot create shadow", as: .copyError).close()
        } catch let error as FerryError {
            // `O_EXCL` fails on anything at the name, a dangling symbolic link too.
            if FileBirth.identity(ofPath: file, followingLinks: false) != nil {
                throw FerryError(.wrongStatus, "\(file), the name of the run's shadow of \(database), is already taken by a file the run did not make; nothing was created, and that file is left as it is",
                                 hint: "move it away, then apply again", instance: target.instance.name)
            }
            throw error.placed(address: nil, instance: target.instance.name)
        }
        return name
    }

    /// `DEV:INO:bBIRTH` of the shadow's file (`FileBirth`): a file made at its name later, even
    /// one that gets the freed inode number, has another birth time.
    public func shadowIdentity(of shadow: String) throws -> String? {
        guard let identity = FileBirth.identity(ofPath: path(of: shadow), followingLinks: false) else {
            throw FerryError(.copyError, "the shadow \(path(of: shadow)) the run just made is gone", instance: target.instance.name)
        }
        return identity
    }

    /// Removes the shadow's file and its companions (`drop`) only while the file at its name
    /// is the one the run made (`shadowNotTheRuns`); no file there: its companions go.
    public func dropShadow(_ shadow: String, identity: String?) throws {
        if let foreign = shadowNotTheRuns(shadow, identity: identity) {
            throw FerryError(.wrongStatus, foreign, hint: Self.foreignShadowHint, instance: target.instance.name, reason: .notTheRunsFile)
        }
        // An earlier release's shadow goes by name, with its companions, as that release did.
        if identity == JournalRecord.identityOfAnEarlierRelease { return try drop(shadow) }
        let file = path(of: shadow)
        // Its companions first, while it is there to compare them with (a kill between the two
        // leaves nothing that only a gone shadow could prove the run's).
        removeShadowCompanions(file, shadow: Self.companionOwner(file))
        try atInstance { try RawFile.remove(file, as: .copyError) }
        removeCopyRecord(for: shadow)
        try? syncDirectory()
    }

    public func holdsJournaledObject(_ name: String, identity: String) throws -> Bool {
        FileBirth.matches(FileBirth.identity(ofPath: path(of: name), followingLinks: false), recorded: identity)
    }

    public func takeLeftNotes() -> [String] {
        defer { leftNotes = [] }
        return leftNotes
    }

    static let foreignShadowHint = "Ferry does not touch it: keep it or move it away once you have what you need, then run `ferry recover` again (it finishes once nothing is at that name, or the run's own shadow is)"

    /// Why the file at `shadow`'s name is not provably the shadow the run made, or nil when it
    /// is (or when nothing is there). With the identity journaled at its creation
    /// (`identity`): a regular file with that device, inode and birth time. Without one (the
    /// run was killed between creating the file exclusively and journaling it, or an earlier
    /// release made it): only what such a shadow is, an empty regular file with one name and
    /// no `-journal`, `-wal` or `-shm` beside it. A symbolic link is never the run's. A shadow
    /// an earlier release journaled (`JournalRecord.identityOfAnEarlierRelease`) goes by name.
    func shadowNotTheRuns(_ shadow: String, identity: String?) -> String? {
        // An earlier release journaled no identity: dropped by name, as that release did.
        if identity == JournalRecord.identityOfAnEarlierRelease { return nil }
        let file = path(of: shadow)
        var info = stat()
        guard lstat(file, &info) == 0 else {
            return errno == ENOENT ? nil : "\(file), the name of a shadow of the run, cannot be examined (\(systemMessage())), so it is not provably the run's: it was not removed"
        }
        let kind = FileKind(mode: info.st_mode)
        let what = kind == .regular ? "a file" : (kind?.description ?? "something")
        if let identity {
            if kind == .regular, FileBirth.matches(FileBirth.identity(ofPath: file, followingLinks: false), recorded: identity) { return nil }
            return "\(file), the name of a shadow of the run, holds \(what) that is not the shadow the run made (that one was deleted or moved away, and another file made, moved or linked there, after the run made it), so it was not removed: it is left as it is"
        }
        let companions = SQLiteNames.companionSuffixes.filter { FileBirth.identity(ofPath: file + $0, followingLinks: false) != nil }
        if kind == .regular, info.st_size == 0, info.st_nlink == 1, companions.isEmpty { return nil }
        return "\(file), the name of a shadow of the run, holds \(what) that is not provably the run's (the run recorded no identity of it: it was stopped right after making it, and only an empty file with nothing beside it is taken for one just made), so it was not removed: it is left as it is"
    }

    public func checkpointName(for database: String, runID: String) -> String {
        SQLiteNames.checkpointName(for: database, runID: runID)
    }

    public func drop(_ database: String) throws {
        let file = path(of: database)
        for candidate in [file] + SQLiteNames.companionSuffixes.map({ file + $0 }) {
            try atInstance { try RawFile.remove(candidate, as: .copyError) }
        }
        removeCopyRecord(for: database)
        try? syncDirectory()
    }

    // MARK: Users

    /// SQLite has no users or privileges: nothing to bring, and the undo record is empty.
    public func syncUsers(from source: any EngineSession, mappings: [DatabaseMapping]) throws -> String { "" }

    /// Nothing to undo: `syncUsers` changes nothing on SQLite.
    public func undoUserSync(_ undo: String) throws {}

    public func close() {}

    // MARK: Copy records of older releases

    /// Before engine contract v2 a copy kept what verify needed beside the shadow
    /// (`<shadow file>.ferry-verify.json`); it now travels in the build's receipt. Shadows an
    /// older Ferry left may still have one: it goes with its shadow.
    func copyRecordPath(for shadow: String) -> String { path(of: shadow) + ".ferry-verify.json" }

    func removeCopyRecord(for shadow: String) { RawFile.removeIfPresent(copyRecordPath(for: shadow)) }

    // MARK: Helpers

    /// Runs `body` (a file call), placing a `FerryError` it throws at this instance.
    func atInstance<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as FerryError { throw error.placed(address: nil, instance: target.instance.name) }
    }

    /// Makes renames and links in the directory durable. The corresponding C function is `fsync` on the directory.
    func syncDirectory() throws {
        let file = try RawFile.open(directory, O_RDONLY | O_DIRECTORY, as: .copyError)
        try file.sync(as: .copyError)
    }

}

@available(*, unavailable) extension SQLiteSession: Sendable {}

/// What `stat(2)` says of a file, for fingerprints.
struct FileIdentity {
    var size: Int64
    var modifiedNanoseconds: Int64
    var changedNanoseconds: Int64
    var inode: UInt64
    var device: UInt64
    var isRegularFile: Bool

    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        size = Int64(info.st_size)
        modifiedNanoseconds = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        changedNanoseconds = Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec)
        inode = UInt64(info.st_ino)
        device = UInt64(info.st_dev)
        isRegularFile = (info.st_mode & S_IFMT) == S_IFREG
    }
}

/// The cheap fingerprint of an SQLite database: no page is read beyond a few headers.
///
/// Why no committed change can be missed:
/// - Rollback-journal mode: every transaction that modifies the file increments the header's file
///   change counter (offset 24, 4 bytes) before the writer unlocks — SQLite's own cache-validity
///   rule for other connections, so SQLite itself relies on it.
/// - WAL mode: a commit appends frames to `-wal` and bumps the WAL-index header (`-shm`, first 48
///   bytes: `iChange`, `mxFrame`, salts, checksums — read through SQLite's own mapping, `xShmMap`);
///   a WAL restart changes the salts in the `-wal` header; a checkpoint writes the main file. All of
///   those bytes, plus the `-wal` size and mtime, are in the hash.
/// - Anything else (a file replaced by rename, copied over, edited by another tool) changes the
///   inode, size, mtime or ctime in nanoseconds.
/// A torn read while a writer is active can only produce a false "changed", which the planner accepts.
enum Fingerprint {
    /// Header bytes read through SQLite (never through a second descriptor on the database or `-shm`).
    struct Probe {
        var header: [UInt8] = []
        var walIndex: [UInt8]?
        var walHeader: [UInt8] = []
    }

    static func of(main: FileIdentity, wal: FileIdentity?, probe: Probe) -> String {
        var material = "v1|\(main.device)|\(main.inode)|\(main.size)|\(main.modifiedNanoseconds)|\(main.changedNanoseconds)"
        material += "|hdr:" + Digest.hex(probe.header)
        // An empty -wal (created by a reader opening a WAL database) holds nothing committed.
        if let wal, wal.size > 0 {
            material += "|wal:\(wal.inode)|\(wal.size)|\(wal.modifiedNanoseconds)|" + Digest.hex(probe.walHeader)
        }
        if let index = probe.walIndex { material += "|shm:" + Digest.hex(index) }
        return "sqlite1:" + String(Digest.sha256(Array(material.utf8)).prefix(32))
    }

    /// The 32-byte WAL header (salts, checkpoint sequence). SQLite takes no POSIX locks on `-wal`,
    /// so a short-lived descriptor on it is harmless.
    static func readWALHeader(_ path: String) -> [UInt8] {
        guard let file = RawFile.openForReading(path) else { return [] }
        defer { file.close() }   // keeps the descriptor open through the read below
        var bytes = [UInt8](repeating: 0, count: 32)
        let n = bytes.withUnsafeMutableBytes { pread(file.descriptor, $0.baseAddress, 32, 0) }
        return n > 0 ? Array(bytes.prefix(n)) : []
    }
}
