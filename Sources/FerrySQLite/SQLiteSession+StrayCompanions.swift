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
