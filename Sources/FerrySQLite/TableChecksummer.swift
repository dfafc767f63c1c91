import CCrypto
import CSQLite
import FerryCore
import FerryIO
import Foundation

/// Row counts and content checksums of every user table.
///
/// The checksum is SHA-256 over each row in rowid order (primary-key order for WITHOUT ROWID
/// tables): the rowid, then every column as a type tag and its value (integers and reals as 8
/// big-endian bytes, text and blobs length-prefixed), so two tables compare equal exactly when they
/// hold the same rows with the same rowids, values and storage classes.
enum TableChecksummer {
    static func tables(of connection: SQLiteConnection, withChecksums: Bool) throws -> [VerifyReport.Table] {
        try connection.userTables().map { table in
            if !withChecksums {
                let rows = try connection.integer("SELECT count(*) FROM \(quoteIdentifier(table))") ?? 0
                return VerifyReport.Table(name: table, rows: rows, checksum: nil)
            }
            return try checksum(table, on: connection)
        }
    }

    static func checksum(_ table: String, on connection: SQLiteConnection) throws -> VerifyReport.Table {
        let quoted = quoteIdentifier(table)
        let hasRowid: Bool
        do {
            _ = try connection.prepare("SELECT rowid FROM \(quoted) LIMIT 0")
            hasRowid = true
        } catch let error as FerryError where error.sqlite?.extendedCode == SQLITE_ERROR {
            hasRowid = false   // "no such column: rowid": a WITHOUT ROWID table; a busy or damaged file still fails
        }
        let sql: String
        if hasRowid {
            sql = "SELECT rowid, * FROM \(quoted) ORDER BY rowid"
        } else {
            let keys = try connection.strings(
                "SELECT name FROM pragma_table_info(\(quoteLiteral(table))) WHERE pk > 0 ORDER BY pk")
            sql = "SELECT * FROM \(quoted)" + (keys.isEmpty ? "" : " ORDER BY " + keys.map(quoteIdentifier).joined(separator: ", "))
        }
        let statement = try connection.prepare(sql)
        guard let context = EVP_MD_CTX_new() else { throw FerryError(.internalError, "EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(context) }
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
        var rows: Int64 = 0
        let columns = statement.columnCount
        var scratch = [UInt8](repeating: 0, count: 9)
        while try statement.step() {
            rows += 1
            for column in 0..<columns {
                let type = sqlite3_column_type(statement.handle, column)
                switch type {
                case SQLITE_INTEGER, SQLITE_FLOAT:
                    let bits = type == SQLITE_INTEGER
                        ? UInt64(bitPattern: sqlite3_column_int64(statement.handle, column))
                        : sqlite3_column_double(statement.handle, column).bitPattern
                    scratch[0] = UInt8(type)
                    for i in 0..<8 { scratch[1 + i] = UInt8(truncatingIfNeeded: bits >> (56 - 8 * UInt64(i))) }
                    scratch.withUnsafeBytes { _ = EVP_DigestUpdate(context, $0.baseAddress, 9) }
                case SQLITE_TEXT, SQLITE_BLOB:
                    let pointer = type == SQLITE_TEXT
                        ? UnsafeRawPointer(sqlite3_column_text(statement.handle, column))
                        : sqlite3_column_blob(statement.handle, column)
                    let length = Int(sqlite3_column_bytes(statement.handle, column))
                    scratch[0] = UInt8(type)
                    let bits = UInt64(length)
                    for i in 0..<8 { scratch[1 + i] = UInt8(truncatingIfNeeded: bits >> (56 - 8 * UInt64(i))) }
                    scratch.withUnsafeBytes { _ = EVP_DigestUpdate(context, $0.baseAddress, 9) }
                    if let pointer, length > 0 { EVP_DigestUpdate(context, pointer, length) }
                default:
                    scratch[0] = UInt8(SQLITE_NULL)
                    scratch.withUnsafeBytes { _ = EVP_DigestUpdate(context, $0.baseAddress, 1) }
                }
            }
        }
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        out.withUnsafeMutableBufferPointer { _ = EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        return VerifyReport.Table(name: table, rows: rows, checksum: Digest.hex(Array(out.prefix(Int(length)))))
    }
}
