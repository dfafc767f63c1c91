import FerryCore
import Foundation

/// The files SQLite keeps beside a shadow of the run (`-wal`, `-shm`, `-journal`), and which of
/// them Ferry may remove (round-11 F3: `ferry recover` deleted a user's file, symbolic link and
/// hard link at those names, said "as they were before", and stopped on a directory).
///
/// A shadow never has a rollback journal of the run's: every build writes it with
/// `journal_mode=OFF` (imports, clones, the backup API's copies; byte copies write no SQLite at
/// all), the import guard refuses `PRAGMA journal_mode`, and readers (verify, tokens) make no
/// journal. So a `-journal` beside a shadow is never the run's: it is never removed, and never
/// opened as the shadow's hot journal (`settleCompanions` refuses it before any connection could
/// roll it back into the shadow and delete it). A `-wal` and `-shm` are made by a reader of a
/// shadow whose header says WAL (a backup-API copy of a WAL source); such a reader writes no
/// frame, so the run's `-wal` is empty, and its `-shm` is SQLite's wal-index (its header, written
/// twice, version 3007000) or empty. SQLite makes both with the main file's owner, on its device.
/// Only a regular file with one name, made no earlier than the shadow (birth time), of the
/// shadow's owner and device, holding that, is removed; anything else at those names (a user's
/// file, a symbolic or hard link, a directory, a `-wal` with frames) is left, with a note.
extension SQLiteSession {
    /// The shadow file's `stat` (owner, device, birth time), read before it is removed.
    struct CompanionOwner {
        var device: UInt64
        var owner: UInt32
        var birth: Int64?
    }

    static func companionOwner(_ file: String) -> CompanionOwner? {
        var info = stat()
        guard lstat(file, &info) == 0 else { return nil }
        return CompanionOwner(device: UInt64(info.st_dev), owner: UInt32(info.st_uid),
                              birth: FileBirth.birthNanoseconds(ofPath: file, followingLinks: false, inode: UInt64(info.st_ino)))
    }

    /// Removes each companion of the shadow file `file` that is provably SQLite's for it
    /// (`companionIsTheRuns`); a note (`leftNotes`) names each other one, left as it is.
    /// `shadow`: the shadow's own file as it was (nil: gone already: nothing is provably its).
    func removeShadowCompanions(_ file: String, shadow: CompanionOwner?) {
        for suffix in SQLiteNames.companionSuffixes {
            let companion = file + suffix
            guard FileBirth.identity(ofPath: companion, followingLinks: false) != nil else { continue }
            if let why = companionNotTheRuns(companion, suffix: suffix, shadow: shadow) {
                guard notedLeft.insert(companion).inserted else { continue }
                leftNotes.append("\(companion), at a companion name of the run's shadow, \(why), so it was not removed: it is left as it is")
                continue
            }
            if unlink(companion) != 0 && errno != ENOENT {
                leftNotes.append("\(companion), at a companion name of the run's shadow, could not be removed (\(systemMessage())): it is left as it is")
            }
        }
    }

    /// Refuses (`OperationDenied.WrongStatus`) to open the shadow file `file` while a
    /// `-journal`, or a `-wal` that is not an empty regular file, is beside it: nothing of the
    /// run's is ever there (see above), and SQLite, opening the shadow, would take such a
    /// `-journal` (or `-wal`) for the shadow's own, play it into the shadow and delete it. Called
    /// before every connection Ferry opens on a shadow (build, verify, swap); nothing is opened.
    func refuseForeignCompanions(ofShadow file: String, doing what: String) throws {
        for suffix in ["-journal", "-wal"] {
            var info = stat()
            guard lstat(file + suffix, &info) == 0,
                  suffix == "-journal" || (info.st_mode & S_IFMT) != S_IFREG || info.st_size > 0 || info.st_nlink != 1 else { continue }
            throw FerryError(.wrongStatus, "\(file + suffix), at a companion name of the run's shadow, is not the run's (the run's shadows have no rollback journal, and no write-ahead frames); \(what), and it is left as it is",
                             hint: "move it away, then apply again", instance: target.instance.name)
        }
    }

    /// Why the file at `companion` is not provably the run's, or nil when it is.
    func companionNotTheRuns(_ companion: String, suffix: String, shadow: CompanionOwner?) -> String? {
        var info = stat()
        guard lstat(companion, &info) == 0 else { return nil }
        let kind = FileKind(mode: info.st_mode)
        guard kind == .regular else { return "is \(kind?.description ?? "not a regular file") (someone else's)" }
        guard info.st_nlink == 1 else { return "is a file with \(info.st_nlink) names (a hard link: someone else's)" }
        if suffix == "-journal" {
            return "is a rollback journal the run never makes (its shadows are written with journal_mode=OFF): someone else's"
        }
        guard let shadow else { return "is not provably the run's (the shadow it would belong to is gone)" }
        guard UInt64(info.st_dev) == shadow.device, UInt32(info.st_uid) == shadow.owner else {
            return "is not of the shadow's owner or device (SQLite makes its companions with the main file's): someone else's"
        }
        if let made = FileBirth.birthNanoseconds(ofPath: companion, followingLinks: false, inode: UInt64(info.st_ino)),
           let shadowBirth = shadow.birth, made < shadowBirth {
            return "was made before the run's shadow: someone else's"
        }
        if info.st_size == 0 { return nil }
        if suffix == "-wal" { return "holds write-ahead frames no reader of the run writes (the run's own is empty): someone else's" }
        return Self.isWALIndex(companion) ? nil : "does not hold SQLite's wal-index: someone else's"
    }

    /// The file starts with SQLite's wal-index header (`WalIndexHdr`, 48 bytes, version 3007000,
    /// written twice in a row).
    static func isWALIndex(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 96), head.count == 96 else { return false }
        let bytes = [UInt8](head)
        let version = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
        let versionBE = UInt32(bytes[3]) | UInt32(bytes[2]) << 8 | UInt32(bytes[1]) << 16 | UInt32(bytes[0]) << 24
        return (version == 3_007_000 || versionBE == 3_007_000) && bytes[0..<48] == bytes[48..<96]
    }
}
