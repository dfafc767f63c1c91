import FerryCore
import Foundation

/// Other processes that have a database open in WAL mode, read from the kernel's lock table.
///
/// Why it matters: a connection in WAL mode finds its `-wal` and `-shm` by path, not by the
/// database file it opened. Swap a new file in under the name (rename) while such a connection
/// is open and it goes on committing, without an error, into the `-wal` beside the *new* file,
/// with pages of the old one: those writes are in neither file, and the next connection's
/// checkpoint throws them away or writes old pages into the new file (a fresh tester lost every
/// write of a pooled WAL connection that way). A connection in rollback-journal mode is safe:
/// SQLite fails its next write with `SQLITE_READONLY_DBMOVED`.
///
/// How it is seen: every connection that has the `-shm` mapped holds a shared POSIX lock on its
/// "dead man switch" byte (`UNIX_SHM_DMS`, offset 128: `UNIX_SHM_BASE` 120 + `SQLITE_SHM_NLOCK`
/// 8, sqlite3 `os_unix.c`) for as long as it is open. `/proc/locks` lists every lock of the host
/// with its holder's pid and the file's device and inode, so no descriptor is opened on the
/// `-shm` (closing one would drop this process's own POSIX locks on it, as `fcntl(2)` says).
enum SQLiteWALHolders {
    static let deadManSwitchOffset: UInt64 = 128

    /// The pids (as `/proc/locks` shows them; -1 for an open-file-description lock) other than
    /// this process that hold a lock covering the dead man switch byte of `database`'s `-shm`.
    /// Empty when there is no `-shm`, or when `/proc/locks` cannot be read (not Linux).
    static func holders(of databasePath: String) -> [Int64] {
        holders(ofFile: databasePath + "-shm", covering: deadManSwitchOffset)
    }

    /// SQLite's RESERVED lock byte of a database file (`PENDING_BYTE` 0x40000000 + 1, os_unix.c):
    /// a writer in a transaction holds it, and while any process does, no other connection
    /// takes the database's `-journal` for a hot one (`sqlite3OsCheckReservedLock`).
    static let reservedByte: UInt64 = 0x4000_0001

    /// The pids (other than this process, unless `includingSelf`) that hold a lock covering byte `offset` of `path`
    /// (`/proc/locks`, no descriptor opened); empty when there is none or it cannot be read.
    static func holders(ofFile path: String, covering offset: UInt64, includingSelf: Bool = false) -> [Int64] {
        var info = stat()
        guard stat(path, &info) == 0,
              let table = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else { return [] }
        let device = UInt64(info.st_dev), inode = UInt64(info.st_ino)
        // Linux's `new_encode_dev` split, as `major(3)`/`minor(3)` give it.
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & ~0xfff)
        let minor = (device & 0xff) | ((device >> 12) & ~0xff)
        let me = Int64(getpid())
        var pids: [Int64] = []
        for line in table.split(separator: "\n") where !line.contains("->") {
            // "1: POSIX  ADVISORY  READ  1234 fd:01:5678 128 128"
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 8, let pid = Int64(fields[4]) else { continue }
            let file = fields[5].split(separator: ":")
            guard file.count == 3, UInt64(file[0], radix: 16) == major, UInt64(file[1], radix: 16) == minor,
                  UInt64(file[2]) == inode else { continue }
            let start = UInt64(fields[6]) ?? 0
            let end = fields[7] == "EOF" ? UInt64.max : (UInt64(fields[7]) ?? 0)
            guard start <= offset, offset <= end, includingSelf || pid != me else { continue }
            pids.append(pid)
        }
        return Array(Set(pids)).sorted()
    }
}
