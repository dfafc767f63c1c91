import Foundation

/// Turns a failed system call on a local file into an error with the right code and the path:
/// a full disk and a read-only place are facts about the machine, not faults of Ferry (SPEC §8).
public enum SystemError {
    /// The code for a failed file operation by its `errno`: `DiskFull` for ENOSPC, EDQUOT and
    /// EFBIG (a file-size limit), `OperationDenied.ReadOnly` for EROFS, EACCES and EPERM, else
    /// `Internal`.
    public static func code(forErrno number: Int32) -> ErrorCode {
        switch number {
        case ENOSPC, EDQUOT, EFBIG: .diskFull
        case EROFS, EACCES, EPERM: .readOnly
        default: .internalError
        }
    }

    /// An error for a failed operation on `path`, with the system's message and a hint for the
    /// codes a user can act on. `number` defaults to the current `errno`.
    public static func error(_ what: String, path: String, errno number: Int32 = errno) -> FerryError {
        let code = code(forErrno: number)
        let reason = String(cString: strerror(number))
        let hint: String? = switch code {
        case .diskFull: "free space on the file system that holds \(path) (or raise its quota or file-size limit), then run the command again"
        case .readOnly: "make \(path) writable for this user (or choose another directory), then run the command again"
        default: nil
        }
        return FerryError(code, "\(what) \(path): \(reason)", hint: hint)
    }

    /// The same for an error thrown by Foundation (`FileManager`), using its POSIX cause when it has one.
    public static func error(_ what: String, path: String, from error: any Error) -> FerryError {
        if let ferry = error as? FerryError { return ferry }
        let ns = error as NSError
        var number: Int32?
        if ns.domain == NSPOSIXErrorDomain { number = Int32(ns.code) }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            number = Int32(underlying.code)
        }
        if number == nil, ns.domain == NSCocoaErrorDomain {
            switch CocoaError.Code(rawValue: ns.code) {
            case .fileWriteOutOfSpace: number = ENOSPC
            case .fileWriteVolumeReadOnly: number = EROFS
            case .fileWriteNoPermission, .fileReadNoPermission: number = EACCES
            default: break
            }
        }
        if let number { return self.error(what, path: path, errno: number) }
        return FerryError(.internalError, "\(what) \(path): \(error.localizedDescription)")
    }
}
