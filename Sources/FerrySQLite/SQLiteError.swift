import CSQLite
import FerryCore

/// An error SQLite returned, kept as a value: its extended result code, its own message and the
/// `errno` behind an I/O failure, as `MySQLServerError` keeps the server's number and text.
///
/// Every `FerryError` made from an SQLite failure carries one as its `cause`, so that callers
/// decide by the code (`error.sqlite?.primaryCode == SQLITE_BUSY`), never by the message's text.
/// Codes follow <https://www.sqlite.org/rescode.html>; connections are opened with extended
/// result codes on (`SQLITE_OPEN_EXRESCODE`), so `extendedCode` is e.g. 2067
/// (`SQLITE_CONSTRAINT_UNIQUE`) where the primary code alone would say 19. The corresponding C
/// calls are `sqlite3_extended_errcode`, `sqlite3_errmsg` and `SQLITE_FCNTL_LAST_ERRNO`.
public struct SQLiteError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The extended result code (the primary code in its low 8 bits).
    public var extendedCode: Int32
    /// SQLite's message for the failure (`sqlite3_errmsg`, or `sqlite3_errstr` without a handle).
    public var message: String
    /// The `errno` of the failed system call behind an `SQLITE_IOERR` or `SQLITE_CANTOPEN`; 0 when none.
    public var systemErrno: Int32
    /// The database file the connection had open.
    public var path: String

    public init(extendedCode: Int32, message: String, systemErrno: Int32 = 0, path: String) {
        self.extendedCode = extendedCode
        self.message = message
        self.systemErrno = systemErrno
        self.path = path
    }

    /// The primary result code (`SQLITE_BUSY`, `SQLITE_CONSTRAINT`, ...): the low 8 bits.
    public var primaryCode: Int32 { extendedCode & 0xFF }

    /// SQLite's short English text for the code (`sqlite3_errstr`), e.g. "database is locked".
    public var codeText: String { String(cString: sqlite3_errstr(extendedCode)) }

    public var description: String { "SQLite error \(extendedCode): \(message)" }

    /// SPEC §8's code for this failure: a full disk (`SQLITE_FULL`, or an I/O error whose cause
    /// is ENOSPC/EDQUOT/EFBIG) is `DiskFull`, a read-only file or directory
    /// `OperationDenied.ReadOnly`; anything else is `otherwise`.
    public func ferryCode(otherwise: ErrorCode) -> ErrorCode {
        switch primaryCode {
        case SQLITE_FULL: return .diskFull
        case SQLITE_READONLY: return .readOnly
        case SQLITE_IOERR, SQLITE_CANTOPEN:
            let mapped = SystemError.code(forErrno: systemErrno)
            return systemErrno != 0 && mapped != .internalError ? mapped : otherwise
        default: return otherwise
        }
    }

    /// The user's error: `context` (may be empty), SQLite's message, its code and the file, with
    /// this value as the `cause`.
    public func ferry(_ otherwise: ErrorCode, _ context: String = "", hint: String? = nil, instance: String? = nil) -> FerryError {
        let prefix = context.isEmpty ? "" : context + ": "
        // A damaged file (`SQLITE_CORRUPT`, `SQLITE_NOTADB`) is the file's state, not a fault of
        // Ferry's: where the caller has no code of its own for it, `WrongStatus` with the way to
        // check it (fresh tester round 61, 6: a damaged target was `Internal` at the swap, no hint).
        if otherwise == .internalError, [SQLITE_CORRUPT, SQLITE_NOTADB].contains(primaryCode) {
            return FerryError(.wrongStatus, "\(prefix)\(message) (SQLite \(extendedCode), \(path))",
                              hint: hint ?? "the file is damaged: check it with `sqlite3 FILE 'PRAGMA integrity_check'` and restore it from a backup, then run the command again",
                              instance: instance, cause: self)
        }
        return FerryError(ferryCode(otherwise: otherwise), "\(prefix)\(message) (SQLite \(extendedCode), \(path))",
                          hint: hint, instance: instance, cause: self)
    }
}

extension SQLiteError {
    /// The extended codes Ferry's callers and tests name. Swift cannot import the C macros that
    /// build them (`SQLITE_CONSTRAINT | (8 << 8)`), so they are spelled out here, as in sqlite3.h.
    public static let busySnapshot: Int32 = SQLITE_BUSY | (2 << 8)
    public static let ioerrShortRead: Int32 = SQLITE_IOERR | (2 << 8)
    public static let constraintCheck: Int32 = SQLITE_CONSTRAINT | (1 << 8)
    public static let constraintForeignKey: Int32 = SQLITE_CONSTRAINT | (3 << 8)
    public static let constraintNotNull: Int32 = SQLITE_CONSTRAINT | (5 << 8)
    public static let constraintPrimaryKey: Int32 = SQLITE_CONSTRAINT | (6 << 8)
    public static let constraintTrigger: Int32 = SQLITE_CONSTRAINT | (7 << 8)
    public static let constraintUnique: Int32 = SQLITE_CONSTRAINT | (8 << 8)
}

extension FerryError {
    /// The SQLite error this one was made from, when it was.
    public var sqlite: SQLiteError? { cause as? SQLiteError }
}
