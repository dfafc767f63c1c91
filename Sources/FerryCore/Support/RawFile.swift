import Glibc
import Foundation

/// A failed system call on a local file, kept as a value: the call's name, the path and `errno`.
///
/// Every `FerryError` that `RawFile` throws carries one as its `cause`, so a caller can decide by
/// `errno` (`error.systemCall?.errno == ENOENT`) rather than by the message.
public struct SystemCallError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The C function that failed: `open`, `write`, `fsync`, `ftruncate`, `rename`, `unlink`.
    public var call: String
    /// The path the call was made on (for `rename`, the source).
    public var path: String
    /// The call's `errno`.
    public var errno: Int32

    public init(call: String, path: String, errno: Int32) {
        self.call = call
        self.path = path
        self.errno = errno
    }

    /// The system's text for `errno` (`strerror`).
    public var reason: String { String(cString: strerror(errno)) }

    public var description: String { "\(call)(\(path)): \(reason) (errno \(errno))" }

    /// The user's error `"<what> <path>: <reason>"`: with `code`, that code; without, the code and
    /// hint `SystemError` gives by `errno` (`DiskFull`, `OperationDenied.ReadOnly`, `Internal`).
    /// A full disk is `DiskFull` with its hint either way (SPEC §8; fresh tester round 19, F7: an
    /// SQLite copy into a full directory said `CopyError`).
    public func ferry(_ what: String, as code: ErrorCode? = nil, path shown: String? = nil) -> FerryError {
        let full = SystemError.code(forErrno: errno) == .diskFull
        var error = code.flatMap { full ? nil : FerryError($0, "\(what) \(shown ?? path): \(reason)") }
            ?? SystemError.error(what, path: shown ?? path, errno: errno)
        error.cause = self
        return error
    }
}

extension FerryError {
    /// The system call failure this error was made from, when it was.
    public var systemCall: SystemCallError? { cause as? SystemCallError }
}

/// One open descriptor on a local file, and the few raw calls Ferry makes on files: the one place
/// that calls `open(2)`, `write(2)`, `fsync(2)`, `ftruncate(2)`, `rename(2)` and `unlink(2)`.
///
/// Each call retries `EINTR` itself (once per interruption, as the calls are meant to be retried)
/// and throws a `FerryError` whose `cause` is a `SystemCallError` with `errno`. `as code` gives a
/// caller's code (an import's `ImportError`); without it, the code follows `errno` as
/// `SystemError` maps it. The descriptor is closed by `close()` or when the value goes away
/// (`close(2)` is not retried: on Linux the descriptor is gone even when it reports `EINTR`).
/// Not `Sendable`: one owner uses and closes it.
public final class RawFile {
    /// The open descriptor; valid until `close()`.
    public let descriptor: Int32
    /// The path it was opened with, for messages.
    public let path: String
    private var isOpen = true

    private init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit { close() }

    /// Opens `path` with `flags` (`O_CLOEXEC` is always added) and, when creating, `mode`.
    /// The corresponding C function is `open(2)`.
    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644,
                            what: String = "cannot open", as code: ErrorCode? = nil) throws -> RawFile {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return RawFile(descriptor: fd, path: path) }
            if errno == EINTR { continue }
            throw SystemCallError(call: "open", path: path, errno: errno).ferry(what, as: code)
        }
    }

    /// Opens `path` for reading, or nil when it cannot be opened (a best-effort caller's choice).
    public static func openForReading(_ path: String, extraFlags: Int32 = 0) -> RawFile? {
        try? open(path, O_RDONLY | extraFlags)
    }

    /// Writes all of `count` bytes at `pointer`, looping over short writes.
    /// The corresponding C function is `write(2)`.
    public func write(_ pointer: UnsafeRawPointer, count: Int, what: String = "cannot write", as code: ErrorCode? = nil) throws {
        var done = 0
        while done < count {
            let n = Glibc.write(descriptor, pointer + done, count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemCallError(call: "write", path: path, errno: errno).ferry(what, as: code)
            }
            done += n
        }
    }

    /// Writes all of `bytes`.
    public func write(_ bytes: some ContiguousBytes, what: String = "cannot write", as code: ErrorCode? = nil) throws {
        try bytes.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress, buffer.count > 0 else { return }
            try write(base, count: buffer.count, what: what, as: code)
        }
    }

    /// Flushes the file's data and metadata to the device. The corresponding C function is `fsync(2)`.
    public func sync(what: String = "cannot sync", as code: ErrorCode? = nil) throws {
        while Glibc.fsync(descriptor) != 0 {
            if errno == EINTR { continue }
            throw SystemCallError(call: "fsync", path: path, errno: errno).ferry(what, as: code)
        }
    }

    /// `fsync(2)` of a bare descriptor owned elsewhere (a background flush of a file another
    /// thread keeps open); returns its `errno`, 0 on success, with `EINTR` retried.
    public static func sync(descriptor: Int32) -> Int32 {
        while Glibc.fsync(descriptor) != 0 {
            if errno == EINTR { continue }
            return errno
        }
        return 0
    }

    /// Sets the file's length to `size` bytes. The corresponding C function is `ftruncate(2)`.
    public func truncate(to size: Int64, what: String = "cannot write", as code: ErrorCode? = nil) throws {
        while Glibc.ftruncate(descriptor, off_t(size)) != 0 {
            if errno == EINTR { continue }
            throw SystemCallError(call: "ftruncate", path: path, errno: errno).ferry(what, as: code)
        }
    }

    /// Closes the descriptor (once; later calls do nothing).
    public func close() {
        guard isOpen else { return }
        isOpen = false
        _ = Glibc.close(descriptor)
    }

    /// Renames `source` to `destination` (replacing it). The corresponding C function is `rename(2)`.
    /// The error names `shown` (default: the destination) after `what`.
    public static func rename(_ source: String, to destination: String, what: String = "cannot replace",
                              shown: String? = nil, as code: ErrorCode? = nil) throws {
        while Glibc.rename(source, destination) != 0 {
            if errno == EINTR { continue }
            throw SystemCallError(call: "rename", path: source, errno: errno).ferry(what, as: code, path: shown ?? destination)
        }
    }

    /// Removes `path`; returns false when it did not exist. The corresponding C function is `unlink(2)`.
    @discardableResult
    public static func remove(_ path: String, what: String = "cannot remove", as code: ErrorCode? = nil) throws -> Bool {
        while Glibc.unlink(path) != 0 {
            if errno == EINTR { continue }
            if errno == ENOENT { return false }
            throw SystemCallError(call: "unlink", path: path, errno: errno).ferry(what, as: code)
        }
        return true
    }

    /// Removes `path` when it can, for clean-up whose failure changes nothing; true when it was removed.
    @discardableResult
    public static func removeIfPresent(_ path: String) -> Bool {
        (try? remove(path)) ?? false
    }

    /// Makes the directory's entries (a create, rename or unlink in it) durable: `fsync(2)` of the
    /// directory itself.
    public static func syncDirectory(_ path: String, what: String = "cannot sync", as code: ErrorCode? = nil) throws {
        let directory = try open(path, O_RDONLY | O_DIRECTORY, what: what, as: code)
        try directory.sync(what: what, as: code)
    }
}

@available(*, unavailable) extension RawFile: Sendable {}
