import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Identities of files and directories that a thing made again at their path cannot have.
///
/// A device and inode number alone do not tell a file (or directory) from one made later at
/// its path: the file system may give the new one the freed inode number (ext4 usually does at
/// once). Its birth time (`statx(2)`'s `stx_btime`, in nanoseconds) is set when the inode is
/// made and nothing but a new inode changes it, so `DEV:INO:bNANOSECONDS` is one file for its
/// whole life, through renames and writes. A file system that keeps no birth time (or a
/// kernel or C library without `statx`) gives `DEV:INO` alone, the weaker identity of earlier
/// releases; identities of earlier releases (`DEV:INO`) compare by those two fields.
public enum FileBirth {
    /// `DEV:INO:bBIRTH` of the object at `path` (`DEV:INO` when its file system keeps no birth
    /// time), or nil when nothing is there. `followingLinks: false` describes a symbolic link
    /// itself (`lstat`), never what it points to.
    public static func identity(ofPath path: String, followingLinks: Bool) -> String? {
        var info = stat()
        guard (followingLinks ? stat(path, &info) : lstat(path, &info)) == 0 else { return nil }
        var identity = "\(info.st_dev):\(info.st_ino)"
        if let birth = birthNanoseconds(ofPath: path, followingLinks: followingLinks, inode: UInt64(info.st_ino)) {
            identity += ":b\(birth)"
        }
        return identity
    }

    /// Whether `current` (an identity read now, nil: nothing there) is the object `recorded`
    /// names: the same device and inode, and the same birth time when `recorded` holds one
    /// (an identity read now without one, on the file system that gave one then, is not
    /// proof). A recorded identity of an earlier release (`DEV:INO`) compares those two only.
    public static func matches(_ current: String?, recorded: String) -> Bool {
        guard let current else { return false }
        let was = recorded.split(separator: ":"), now = current.split(separator: ":")
        guard was.count >= 2, now.count >= was.count else { return false }
        return zip(was, now).allSatisfy { $0 == $1 }
    }

    /// `statx(2)`'s birth time of `path` in nanoseconds since the epoch, or nil when the file
    /// system (or the C library) gives none, or when the inode read is not `inode` (the path
    /// changed between the two reads: no proof then).
    public static func birthNanoseconds(ofPath path: String, followingLinks: Bool, inode: UInt64) -> Int64? {
        #if os(Linux)
        guard let statx = statxFunction else { return nil }
        // `struct statx` is 256 bytes: stx_mask (u32) at 0, stx_ino (u64) at 32, stx_btime
        // (i64 seconds, u32 nanoseconds) at 80 (linux/stat.h).
        var buffer = [UInt8](repeating: 0, count: 256)
        let flags: Int32 = followingLinks ? 0 : 0x100            // AT_SYMLINK_NOFOLLOW
        let wanted: UInt32 = 0x800 | 0x100                      // STATX_BTIME | STATX_INO
        let result = buffer.withUnsafeMutableBytes { raw in statx(-100 /* AT_FDCWD */, path, flags, wanted, raw.baseAddress!) }
        guard result == 0 else { return nil }
        return buffer.withUnsafeBytes { raw -> Int64? in
            let mask = raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
            guard mask & 0x800 != 0, mask & 0x100 != 0, raw.loadUnaligned(fromByteOffset: 32, as: UInt64.self) == inode else { return nil }
            let seconds = raw.loadUnaligned(fromByteOffset: 80, as: Int64.self)
            let nanoseconds = raw.loadUnaligned(fromByteOffset: 88, as: UInt32.self)
            return seconds * 1_000_000_000 + Int64(nanoseconds)
        }
        #else
        return nil
        #endif
    }

    #if os(Linux)
    private typealias StatxFunction = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UInt32, UnsafeMutableRawPointer) -> Int32
    /// glibc's `statx` (2.28 and later), found at run time: Swift's Glibc module does not import
    /// it. Nil on an older C library (identities are then `DEV:INO`).
    nonisolated(unsafe) private static let statxFunction: StatxFunction? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "statx") else { return nil }
        return unsafeBitCast(symbol, to: StatxFunction.self)
    }()
    #endif
}
