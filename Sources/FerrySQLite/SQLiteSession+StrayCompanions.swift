import FerryCore
import Foundation

/// Files at the companion names of a database's file (`NAME.db-journal`, `-wal`, `-shm`) that
/// are not that database's (fresh tester w26 H3). SQLite finds a database's journals by name: it
/// plays a hot `-journal` into whatever file next has that name, opens a `-wal` beside any
/// non-empty database whatever its header says (reading its frames as the database's content),
/// and takes (and rewrites) a `-shm` as its wal-index. Such a file left at a missing database's
/// companion names by another, crashed database (moved or deleted by hand) would be played into
/// the database Ferry creates there after "Apply complete!": its tables gone, or another
/// database's content shown. Ferry never puts a database file at a name beside one: a missing
/// target with one is refused at plan time (`InstanceFacts.occupiedNames`) and again at the
/// swap; a checkpoint is not put back beside one (`undoSwap`). The file is the user's: never
/// removed, moved or written. An empty regular file with one name holds nothing SQLite could
/// play or read (SQLite itself leaves an empty `-journal` in `journal_mode=TRUNCATE`).
extension SQLiteSession {
    static let strayCompanionRoles = ["-journal": "rollback journal", "-wal": "write-ahead log", "-shm": "WAL index"]

    /// What is at a companion name of `file` (a database's path where no database is yet) that a
    /// database put at `file` would take for its own, as "PATH is there: WHAT"; nil when every
    /// companion name is free or holds an empty regular file with one name.
    static func strayCompanion(of file: String) -> String? {
        for suffix in ["-journal", "-wal", "-shm"] {
            if let stray = strayCompanion(file + suffix, suffix: suffix, allowsNotHotJournal: false) { return stray }
        }
        return nil
    }

    /// "PATH is there: WHAT" for the file at `companion` unless it is absent or an empty regular
    /// file with one name (or, `allowsNotHotJournal`, a `-journal` SQLite would not take for a hot
    /// journal: its first byte 0, as `journal_mode=PERSIST` leaves it).
    static func strayCompanion(_ companion: String, suffix: String, allowsNotHotJournal: Bool) -> String? {
        let role = strayCompanionRoles[suffix] ?? "companion"
        var info = stat()
        guard lstat(companion, &info) == 0 else {
            return errno == ENOENT ? nil : "\(companion) cannot be examined (\(systemMessage())), so it is not provably free"
        }
        let kind = FileKind(mode: info.st_mode)
        guard kind == .regular else {
            if kind == .symbolicLink {
                return "\(companion) is there, a symbolic link: SQLite would follow it and read or write the file it points to as the database's \(role)"
            }
            return "\(companion) is there, \(kind?.description ?? "something that is not a file"): SQLite would take that name for the database's \(role)"
        }
        guard info.st_nlink == 1 else {
            return "\(companion) is there, a file with \(info.st_nlink) names (a hard link): SQLite would read and write it as the database's \(role)"
        }
        if info.st_size == 0 { return nil }
        switch suffix {
        case "-journal":
            if allowsNotHotJournal, firstByte(of: companion) == 0 { return nil }
            return "\(companion) is there, a rollback journal of \(info.st_size) bytes not made for this database: SQLite would take it for the database's hot journal and play it into it"
        case "-wal":
            return "\(companion) is there, a write-ahead log of \(info.st_size) bytes not made for this database: SQLite opens a -wal beside any non-empty database and would read its frames as that database's content"
        default:
            return "\(companion) is there, a WAL index of \(info.st_size) bytes not made for this database: SQLite would take it for the database's own and rewrite it"
        }
    }

    /// The first byte of `path` (nil when it cannot be read).
    static func firstByte(of path: String) -> UInt8? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 1))?.first
    }

    /// The databases of the listed `names` (the instance directory's entries) that are missing
    /// (not in `databases`) while one of their companion names holds a file a database made
    /// there would take for its own: each with "PATH is there: WHAT" (`InstanceFacts.occupiedNames`).
    func occupiedNames(among names: [String], databases: [String: DatabaseFacts]) -> [String: String] {
        var occupied: [String: String] = [:]
        let suffixes = ["-journal", "-wal", "-shm"].map { SQLiteNames.fileExtension + $0 }
        for file in names where !file.hasPrefix(".") {
            guard let suffix = suffixes.first(where: { file.hasSuffix($0) }) else { continue }
            let name = String(file.dropLast(suffix.count))
            guard !name.isEmpty, occupied[name] == nil, databases[name] == nil,
                  FileBirth.identity(ofPath: path(of: name), followingLinks: false) == nil,
                  let stray = Self.strayCompanion(of: path(of: name)) else { continue }
            occupied[name] = stray
        }
        return occupied
    }

    /// Refuses (`OperationDenied.WrongStatus`) to put a database at `name`'s file, where none is,
    /// while a companion name of it holds a file of another database's (`strayCompanion`).
    func refuseStrayCompanions(ofMissing name: String, doing what: String) throws {
        guard let stray = Self.strayCompanion(of: path(of: name)) else { return }
        throw FerryError(.wrongStatus, "\(stray); \(what), and that file is left as it is",
                         hint: Self.strayCompanionHint, instance: target.instance.name)
    }

    static let strayCompanionHint = "that file is not Ferry's: if it belongs to a database you moved or deleted, put that database back (SQLite settles it then), or move the file away; then apply again (or `ferry recover`)"
}

/// The companions of a database that EXISTS (fresh tester w31 A6, A4): SQLite applies what it
/// finds at `NAME.db-wal` and `NAME.db-journal` to whatever file is at `NAME.db`, with nothing in
/// either that names the file. Another database's `-wal` with frames beside a database in
/// rollback-journal mode was checkpointed into the user's database by Ferry's first open (the
/// replace's settle): its tables gone from the target and from the checkpoint. So before Ferry
/// opens an existing database with SQLite (its facts and content token, the swap's settle and
/// hold, a copy's or backup's source, the undo's checks), it reads the files itself and refuses
/// (`OperationDenied.WrongStatus`) a companion SQLite would apply that cannot be proven the
/// database's own; the file and the database are left as they are. What can be proven:
/// - a `-wal` with any bytes beside a file whose header does not say WAL mode (bytes 18 and 19
///   both 2; a database enters WAL mode by writing 02 02 before it has a WAL, and leaves it by
///   deleting the WAL before it writes 01 01 back), or beside an empty file (SQLite deletes it);
/// - a `-wal` beside a WAL-mode header whose own header is not a valid WAL header (magic,
///   version 3007000, a power-of-two page size, its checksum: SQLite ignores and overwrites it),
///   or is made for another page size than the database's (a database in WAL mode cannot change
///   its page size; SQLite would read its frames as pages of another size);
/// - a hot `-journal` (its first byte not 0 while no other process holds the database's
///   RESERVED lock: a live writer's journal is not hot, SQLite leaves it alone): nothing in a
///   journal's header names its database (a foreign one of the same page size reads as well as
///   the database's own), so Ferry never plays one; SQLite would roll it into the database and
///   delete it. Beside an empty database SQLite deletes any `-journal`.
/// - anything at those names (and at `-shm` where SQLite would use one) that is not a regular
///   file with one name.
/// A `-wal` of another WAL-mode database with the same page size is not told apart: its salts
/// and checksums tie it to itself, not to the database file (SPEC §6, README's known gaps).
extension SQLiteSession {
    /// The header SQLite reads (`xRead` through an `immutable` connection, which takes no lock,
    /// reads no `-wal` and plays no journal, and whose close, SQLite's own, never drops another
    /// connection's locks of this process on the file): up to 100 bytes, and the file's size.
    static func mainHeader(_ file: String) -> (bytes: [UInt8], size: Int64)? {
        guard let connection = try? SQLiteConnection(path: file, immutable: true),
              let size = try? connection.mainFileSize() else { return nil }
        var header = [UInt8](repeating: 0, count: 100)
        let want = Int(min(100, max(0, size)))
        guard want > 0 else { return ([], size) }
        guard let n = try? header.withUnsafeMutableBytes({ try connection.readMainFile(into: $0.baseAddress!, count: want, offset: 0) })
        else { return nil }
        return (Array(header.prefix(n)), size)
    }

    /// The page size a database header gives (bytes 16-17, big-endian; 1 means 65536), or nil.
    static func pageSize(ofHeader header: [UInt8]) -> UInt32? {
        guard header.count >= 100, header.starts(with: Array("SQLite format 3\0".utf8)) else { return nil }
        let raw = UInt32(header[16]) << 8 | UInt32(header[17])
        return raw == 1 ? 65536 : raw
    }

    /// What is wrong with a WAL header (`bytes`, at least 32 of them) read beside a database of
    /// `pageSize`-byte pages, or nil when it is a valid header for such pages.
    static func walHeaderProblem(_ bytes: [UInt8], pageSize: UInt32?) -> String? {
        func word(_ offset: Int, bigEndian: Bool = true) -> UInt32 {
            let b = bytes[offset..<offset + 4].map(UInt32.init)
            return bigEndian ? b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3] : b[3] << 24 | b[2] << 16 | b[1] << 8 | b[0]
        }
        guard bytes.count >= 32 else { return "its \(bytes.count) bytes are too few for a WAL header (32)" }
        let magic = word(0)
        guard magic == 0x377f_0682 || magic == 0x377f_0683 else { return "it does not begin with a WAL header (magic)" }
        guard word(4) == 3_007_000 else { return "its WAL header gives format version \(word(4)), not 3007000" }
        let walPage = word(8)
        guard walPage >= 512, walPage <= 65536, walPage & (walPage - 1) == 0 else { return "its WAL header gives no valid page size (\(walPage))" }
        // The header's checksum over its first 24 bytes, words read in the order the magic gives.
        var s1: UInt32 = 0, s2: UInt32 = 0
        for offset in stride(from: 0, to: 24, by: 8) {
            s1 = s1 &+ word(offset, bigEndian: magic == 0x377f_0683) &+ s2
            s2 = s2 &+ word(offset + 4, bigEndian: magic == 0x377f_0683) &+ s1
        }
        guard s1 == word(24), s2 == word(28) else { return "its WAL header's checksum does not match" }
        if let pageSize, walPage != pageSize {
            return "it holds pages of \(walPage) bytes and the database's are \(pageSize) (a database in WAL mode cannot change its page size)"
        }
        return nil
    }

    /// "PATH is there, ...: SQLite would ..." for the first companion of the existing database
    /// file `file` that SQLite would apply to it and that is not provably its own (see above),
    /// or nil.
    static func foreignCompanion(ofExisting file: String) -> String? {
        var journalInfo = stat(), walInfo = stat()
        let hasJournal = lstat(file + "-journal", &journalInfo) == 0
        let hasWAL = lstat(file + "-wal", &walInfo) == 0
        var shmInfo = stat()
        let hasShm = lstat(file + "-shm", &shmInfo) == 0
        guard hasJournal || hasWAL || hasShm else { return nil }
        let header = mainHeader(file)
        let isWALMode = header.map { $0.bytes.count >= 20 && $0.bytes[18] == 2 && $0.bytes[19] == 2 } ?? false
        for (suffix, present, found) in [("-wal", hasWAL, walInfo), ("-journal", hasJournal, journalInfo), ("-shm", hasShm, shmInfo)] where present {
            let companion = file + suffix
            let role = strayCompanionRoles[suffix] ?? "companion"
            var info = found
            var kind = FileKind(mode: info.st_mode)
            // SQLite maps a `-shm` only for a database in WAL mode or with a `-wal` beside it.
            if suffix == "-shm" && !isWALMode && !hasWAL { continue }
            // SQLite looks a `-journal` up through a link (`access`, then `open`): what it
            // would play is the file the link leads to; a dangling one it takes for none.
            var linked = ""
            if suffix == "-journal", kind == .symbolicLink {
                guard stat(companion, &info) == 0 else { continue }
                kind = FileKind(mode: info.st_mode)
                linked = ", a symbolic link to"
            }
            guard kind == .regular else {
                if kind == .symbolicLink {
                    return "\(companion) is there, a symbolic link: SQLite would follow it and read or write the file it points to as the database's \(role)"
                }
                return "\(companion) is there\(linked), \(kind?.description ?? "something that is not a file"): SQLite would take that name for the database's \(role)"
            }
            // A `-wal` or `-shm` SQLite writes (a checkpoint truncates the one, the first
            // connection resets the other) would change the file's other names too.
            guard info.st_nlink == 1 || suffix == "-journal" || (suffix == "-wal" && info.st_size == 0) else {
                return "\(companion) is there, a file with \(info.st_nlink) names (a hard link): SQLite would read and write it as the database's \(role), and no database's own \(role) has several names"
            }
            guard info.st_size > 0, suffix != "-shm" else { continue }
            if suffix == "-wal" {
                guard let header else {
                    return "\(companion) is there, a write-ahead log of \(info.st_size) bytes, and \(file) cannot be read to tell whether it is that database's own (\(systemMessage())): SQLite would read its frames as the database's content"
                }
                guard header.size > 0 else {
                    return "\(companion) is there, a write-ahead log of \(info.st_size) bytes beside an empty database file, which cannot own one: SQLite would delete it"
                }
                guard isWALMode else {
                    return "\(companion) is there, a write-ahead log of \(info.st_size) bytes beside a database whose header says rollback-journal mode, which cannot own one (SQLite deletes a database's write-ahead log before it leaves WAL mode): it is another database's, and SQLite would read its frames as this database's content and write them into it"
                }
                guard let walHeader = FileHandle(forReadingAtPath: companion).flatMap({ handle in
                    defer { try? handle.close() }
                    return (try? handle.read(upToCount: 32)).map { [UInt8]($0) }
                }) else { return "\(companion) is there and cannot be read (\(systemMessage())), so it is not provably the database's own write-ahead log" }
                if let problem = walHeaderProblem(walHeader, pageSize: pageSize(ofHeader: header.bytes)) {
                    return "\(companion) is there, a write-ahead log of \(info.st_size) bytes that is not this database's: \(problem); SQLite would take it for the database's own"
                }
                continue
            }
            // `-journal`: SQLite deletes any beside an empty database, and plays one whose first
            // byte is not 0 while no other connection holds the database's RESERVED lock.
            if let header, header.size == 0 {
                return "\(companion) is there\(linked), a rollback journal of \(info.st_size) bytes beside an empty database file: SQLite would delete it"
            }
            guard firstByte(of: companion) != 0 else { continue }
            // A live writer's journal is not hot: SQLite leaves it while any connection (this
            // process's too) holds the RESERVED lock, and such a writer holds it for as long as
            // its journal exists. So a journal seen unchanged before and after a look at the
            // locks that finds no holder is no live writer's.
            var again = stat()
            if !SQLiteWALHolders.holders(ofFile: file, covering: SQLiteWALHolders.reservedByte, includingSelf: true).isEmpty { continue }
            guard stat(companion, &again) == 0, again.st_ino == info.st_ino, again.st_size == info.st_size,
                  again.st_mtim.tv_sec == info.st_mtim.tv_sec, again.st_mtim.tv_nsec == info.st_mtim.tv_nsec else { continue }
            var why = "left by a writer that stopped mid-transaction, this database's or another's: nothing in a journal names its database, so it is not provably this one's"
            if let journalPage = journalPageSize(companion) {
                if let pageSize = header.flatMap({ pageSize(ofHeader: $0.bytes) }), journalPage != pageSize {
                    why = "made for pages of \(journalPage) bytes while the database's are \(pageSize): not this database's"
                }
            } else {
                why = "its header is not a rollback journal's: not this database's"
            }
            return "\(companion) is there\(linked), a hot rollback journal of \(info.st_size) bytes (\(why)): SQLite would play it into the database and delete it"
        }
        return nil
    }

    /// The page size a rollback journal's header gives (its magic, then the page size at offset
    /// 24, big-endian), or nil when it has no such header.
    static func journalPageSize(_ path: String) -> UInt32? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: 28), data.count == 28 else { return nil }
        let bytes = [UInt8](data)
        guard bytes.starts(with: [0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7]) else { return nil }
        return UInt32(bytes[24]) << 24 | UInt32(bytes[25]) << 16 | UInt32(bytes[26]) << 8 | UInt32(bytes[27])
    }

    /// Refuses (`OperationDenied.WrongStatus`) to open the existing database `name` with SQLite
    /// while a companion it would apply is not provably its own (`foreignCompanion`): before
    /// anything is opened, the file and the database left as they are. A name with no regular
    /// file passes (the caller says what is missing).
    func refuseForeignCompanions(ofExisting name: String, doing what: String) throws {
        let file = path(of: name)
        guard FileIdentity(path: file)?.isRegularFile == true, let stray = Self.foreignCompanion(ofExisting: file) else { return }
        throw FerryError(.wrongStatus, "\(stray); \(what), and \(name) and that file are left as they are",
                         hint: Self.foreignCompanionHint, instance: target.instance.name)
    }

    static let foreignCompanionHint = "that file is not Ferry's and is left as it is: move it away if it is another database's (a hot journal of the database's own, left by its crashed writer, is settled by opening the database once with its application or `sqlite3 FILE 'PRAGMA integrity_check'`); then run the command again"
}
