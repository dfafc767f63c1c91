import CSQLite
import FerryCore
import Foundation

/// The C API's "transient" destructor: SQLite copies bound bytes before the call returns.
let sqliteTransient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

/// One open `sqlite3*` handle, closed when the object goes away.
final class SQLiteConnection {
    let handle: OpaquePointer
    /// The file the connection opened, for messages.
    let path: String

    /// Opens `path`. The corresponding C function is `sqlite3_open_v2`.
    /// `immutable`: a file nothing changes while it is open (a backup set's file), read read-only
    /// with no locks and no `-wal`/`-shm` beside it (SQLite's `immutable=1` URI parameter).
    init(path: String, readOnly: Bool = false, create: Bool = false, immutable: Bool = false) throws {
        var db: OpaquePointer?
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        flags |= readOnly || immutable ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE
        if create && !readOnly && !immutable { flags |= SQLITE_OPEN_CREATE }
        var name = path
        if immutable {
            flags |= SQLITE_OPEN_URI
            // Every byte outside the unreserved set and `/` percent-encoded (`?`, `#` and `%` would be read as URI syntax).
            let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/".utf8)
            name = "file:" + path.utf8.map { unreserved.contains($0) ? String(UnicodeScalar($0)) : String(format: "%%%02X", $0) }.joined() + "?immutable=1"
        }
        let code = sqlite3_open_v2(name, &db, flags, nil)
        guard code == SQLITE_OK, let db else {
            let error = SQLiteError(extendedCode: db.map { sqlite3_extended_errcode($0) } ?? code,
                                    message: db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code)),
                                    systemErrno: db.map { sqlite3_system_errno($0) } ?? 0, path: path)
            if let db { sqlite3_close_v2(db) }
            let errorCode = error.ferryCode(otherwise: .internalError)
            throw FerryError(errorCode, "cannot open SQLite file \(path): \(error.message)",
                             hint: errorCode == .readOnly ? "make the instance directory writable for this user" : nil, cause: error)
        }
        handle = db
        self.path = path
        sqlite3_busy_timeout(db, 5000)
        sqlite3_extended_result_codes(db, 1)
    }

    deinit { sqlite3_close_v2(handle) }

    /// The connection's last error message.
    var lastMessage: String { String(cString: sqlite3_errmsg(handle)) }

    /// The error for a failed call that returned `code`: SQLite's code, the connection's message
    /// and the file's `errno`.
    func error(for code: Int32) -> SQLiteError {
        SQLiteError(extendedCode: code, message: lastMessage, systemErrno: lastSystemErrno, path: path)
    }

    /// The error of the connection's last failed call (`sqlite3_extended_errcode`).
    var lastError: SQLiteError { error(for: sqlite3_extended_errcode(handle)) }

    /// Throws when `code` is not a success code, with SQLite's own message and code (`SQLiteError`
    /// as the `FerryError`'s cause).
    @discardableResult
    func check(_ code: Int32, _ what: @autoclosure () -> String = "", as errorCode: ErrorCode = .internalError) throws -> Int32 {
        guard code == SQLITE_OK || code == SQLITE_ROW || code == SQLITE_DONE else {
            throw error(for: code).ferry(errorCode, what())
        }
        return code
    }

    /// The `errno` of the last failed system call on the main database file (which SQLite keeps
    /// per file), or else the connection's (`sqlite3_system_errno`, which reads the thread's errno
    /// later and may have lost it). The corresponding C call is `SQLITE_FCNTL_LAST_ERRNO`.
    var lastSystemErrno: Int32 {
        var fileErrno: Int32 = 0
        if sqlite3_file_control(handle, "main", SQLITE_FCNTL_LAST_ERRNO, &fileErrno) == SQLITE_OK, fileErrno != 0 {
            return fileErrno
        }
        return sqlite3_system_errno(handle)
    }

    /// Runs one or more statements that return nothing.
    func execute(_ sql: String, as errorCode: ErrorCode = .internalError) throws {
        var message: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(handle, sql, nil, nil, &message)
        if code != SQLITE_OK {
            var error = self.error(for: code)
            if let message { error.message = String(cString: message) }
            sqlite3_free(message)
            throw error.ferry(errorCode)
        }
    }

    func prepare(_ sql: String) throws -> SQLiteStatement {
        try SQLiteStatement(connection: self, sql: sql)
    }

    /// The first column of every row of `sql`, as text.
    func strings(_ sql: String) throws -> [String] {
        let statement = try prepare(sql)
        var out: [String] = []
        while try statement.step() { out.append(statement.text(0) ?? "") }
        return out
    }

    /// The first column of the first row of `sql`, as an integer.
    func integer(_ sql: String) throws -> Int64? {
        let statement = try prepare(sql)
        return try statement.step() ? statement.int64(0) : nil
    }

    var isAutocommit: Bool { sqlite3_get_autocommit(handle) != 0 }

    /// The ordinary user tables, in name order (SQLite's own `sqlite_%` tables and virtual tables excluded).
    func userTables() throws -> [String] {
        try strings("""
            SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
            AND coalesce(sql, '') NOT LIKE 'CREATE VIRTUAL%' ORDER BY name
            """)
    }

    /// The number of rows of every user table.
    func rowCounts() throws -> [(table: String, rows: Int64)] {
        try userTables().map { table in
            (table, try integer("SELECT count(*) FROM \(quoteIdentifier(table))") ?? 0)
        }
    }
}

@available(*, unavailable) extension SQLiteConnection: Sendable {}

/// One prepared statement, finalized when the object goes away.
final class SQLiteStatement {
    let handle: OpaquePointer
    let connection: SQLiteConnection

    init(connection: SQLiteConnection, sql: String) throws {
        var statement: OpaquePointer?
        try connection.check(sqlite3_prepare_v2(connection.handle, sql, -1, &statement, nil), "cannot prepare statement")
        guard let statement else {
            throw FerryError(.internalError, "empty statement: \(sql.prefix(80))")
        }
        handle = statement
        self.connection = connection
    }

    deinit { sqlite3_finalize(handle) }

    /// Advances to the next row; false at the end.
    func step() throws -> Bool {
        let code = sqlite3_step(handle)
        if code == SQLITE_ROW { return true }
        if code == SQLITE_DONE { return false }
        try connection.check(code)
        return false
    }

    func reset() { sqlite3_reset(handle) }

    var columnCount: Int32 { sqlite3_column_count(handle) }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    func text(_ column: Int32) -> String? {
        guard let pointer = sqlite3_column_text(handle, column) else { return nil }
        return String(cString: pointer)
    }
}

@available(*, unavailable) extension SQLiteStatement: Sendable {}

/// Quotes an identifier by SQLite's rules: double quotes, inner double quotes doubled.
func quoteIdentifier(_ name: String) -> String {
    "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

/// Quotes a string literal by SQLite's rules: single quotes, inner single quotes doubled.
func quoteLiteral(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
}

/// Raw access to the main database file through SQLite's own open file (the VFS methods), so that
/// Ferry never opens and closes a second descriptor on a database file: closing any descriptor
/// drops every POSIX lock this process holds on the file, including other connections' locks.
extension SQLiteConnection {
    /// The main database's `sqlite3_file`. The corresponding C call is `sqlite3_file_control(SQLITE_FCNTL_FILE_POINTER)`.
    func mainFile() throws -> UnsafeMutablePointer<sqlite3_file> {
        var pointer: UnsafeMutableRawPointer?
        try check(sqlite3_file_control(handle, "main", SQLITE_FCNTL_FILE_POINTER, &pointer), "cannot reach the database file")
        guard let pointer else { throw FerryError(.internalError, "SQLite returned no file for \(path)") }
        let file = pointer.assumingMemoryBound(to: sqlite3_file.self)
        guard file.pointee.pMethods != nil else { throw FerryError(.internalError, "\(path) is not open") }
        return file
    }

    /// The main file's size in bytes, as SQLite's VFS sees it.
    func mainFileSize() throws -> Int64 {
        let file = try mainFile()
        var size: sqlite3_int64 = 0
        guard let xFileSize = file.pointee.pMethods.pointee.xFileSize else { throw FerryError(.internalError, "no xFileSize") }
        try check(xFileSize(file, &size), "cannot read the size of \(path)")
        return Int64(size)
    }

    /// Reads `count` bytes at `offset` of the main file; returns how many were really there.
    func readMainFile(into buffer: UnsafeMutableRawPointer, count: Int, offset: Int64) throws -> Int {
        let file = try mainFile()
        guard let xRead = file.pointee.pMethods.pointee.xRead else { throw FerryError(.internalError, "no xRead") }
        let code = xRead(file, buffer, Int32(count), offset)
        if code == SQLITE_OK { return count }
        if code == SQLiteError.ioerrShortRead {
            let size = try mainFileSize()
            return Int(max(0, min(Int64(count), size - offset)))
        }
        let error = SQLiteError(extendedCode: code, message: String(cString: sqlite3_errstr(code)), systemErrno: lastSystemErrno, path: path)
        throw FerryError(.copyError, "cannot read \(path) at offset \(offset): SQLite I/O error \(code)", cause: error)
    }

    /// The first `count` bytes of the WAL index (`-shm`) as this connection maps it, or nil when the
    /// database is not in WAL mode or no index is mapped. Reads through `xShmMap`, never a new descriptor.
    func walIndexPrefix(count: Int) throws -> [UInt8]? {
        let file = try mainFile()
        let methods = file.pointee.pMethods.pointee
        guard methods.iVersion >= 2, let xShmMap = methods.xShmMap else { return nil }
        var region: UnsafeMutableRawPointer?
        let code = xShmMap(file, 0, 32768, 0, &region)
        guard code == SQLITE_OK, let region else { return nil }
        return Array(UnsafeRawBufferPointer(start: region, count: count))
    }
}

extension SQLiteConnection {
    /// The descriptor SQLite's unix VFS holds on the main file, or nil when it cannot be proven.
    ///
    /// SQLite has no public call for it. The unix VFS's `unixFile` has begun with `pMethod`, `pVfs`,
    /// `pInode` and then `int h` since 2008; the value read there is used only after `fstat` shows
    /// it is a readable descriptor on this very file (same device and inode), and only while the
    /// connection is open. Ferry never closes it.
    func unixDescriptor() -> Int32? {
        guard let file = try? mainFile() else { return nil }
        var vfsName: UnsafeMutablePointer<CChar>?
        guard sqlite3_file_control(handle, "main", SQLITE_FCNTL_VFSNAME, &vfsName) == SQLITE_OK, let vfsName else { return nil }
        let name = String(cString: vfsName)
        sqlite3_free(vfsName)
        guard name.hasPrefix("unix") else { return nil }
        let fd = UnsafeRawPointer(file).load(fromByteOffset: 3 * MemoryLayout<UnsafeRawPointer>.size, as: Int32.self)
        guard fd >= 0 else { return nil }
        var viaDescriptor = stat()
        var viaPath = stat()
        guard fstat(fd, &viaDescriptor) == 0, stat(path, &viaPath) == 0,
              viaDescriptor.st_dev == viaPath.st_dev, viaDescriptor.st_ino == viaPath.st_ino else { return nil }
        let mode = fcntl(fd, F_GETFL)
        guard mode >= 0, (mode & O_ACCMODE) != O_WRONLY else { return nil }
        return fd
    }
}
