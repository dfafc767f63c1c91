import Foundation

/// What kind of file system object a path is, from `stat(2)`'s `st_mode`: import sources must be
/// `regular` (a FIFO, a character device such as `/dev/zero` or a socket may block or never end).
public enum FileKind: Sendable, Equatable, CustomStringConvertible {
    case regular, directory, fifo, characterDevice, blockDevice, socket, symbolicLink

    /// The kind of a `st_mode`, or nil for a type this list does not know.
    public init?(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        case S_IFIFO: self = .fifo
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        case S_IFSOCK: self = .socket
        case S_IFLNK: self = .symbolicLink
        default: return nil
        }
    }

    /// The kind of the object at `path` after following symbolic links (`stat(2)`, which never
    /// opens it, so a FIFO cannot block), or nil with `errno` set when it cannot be examined.
    public static func of(_ path: String) -> FileKind? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return FileKind(mode: status.st_mode)
    }

    /// "a FIFO", "a directory"... for messages.
    public var description: String {
        switch self {
        case .regular: "a regular file"
        case .directory: "a directory"
        case .fifo: "a FIFO (named pipe)"
        case .characterDevice: "a character device"
        case .blockDevice: "a block device"
        case .socket: "a socket"
        case .symbolicLink: "a symbolic link"
        }
    }
}
