import CZlib
import FerryCore
import FerryIO
import Foundation

/// Writes a gzip file as a stream (level 3: fast, and dumps compress well).
final class GzipFileWriter {
    private var stream = z_stream()
    private let file: RawFile
    private var out = [UInt8](repeating: 0, count: 1 << 18)
    private let path: String
    private(set) var bytesWritten: Int64 = 0
    private var finished = false

    init(path: String) throws {
        self.path = path
        file = try RawFile.open(path, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600, what: "cannot create", as: .copyError)
        let status = deflateInit2_(&stream, 3, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { file.close(); throw FerryError(.internalError, "deflateInit2 failed (\(status))") }
    }

    func write(_ bytes: [UInt8]) throws {
        var input = bytes
        try input.withUnsafeMutableBufferPointer { buffer in
            stream.next_in = buffer.baseAddress
            stream.avail_in = uInt(buffer.count)
            try pump(Z_NO_FLUSH)
        }
    }

    func write(_ text: String) throws { try write(Array(text.utf8)) }

    private func pump(_ flush: Int32) throws {
        repeat {
            let status: Int32 = out.withUnsafeMutableBufferPointer { o in
                stream.next_out = o.baseAddress
                stream.avail_out = uInt(o.count)
                return deflate(&stream, flush)
            }
            if status == Z_STREAM_ERROR { throw FerryError(.internalError, "deflate failed") }
            let produced = out.count - Int(stream.avail_out)
            try out.withUnsafeBytes { try file.write($0.baseAddress!, count: produced, as: .copyError) }
            bytesWritten += Int64(produced)
            if flush == Z_FINISH && status == Z_STREAM_END { return }
        } while stream.avail_out == 0 || flush == Z_FINISH
    }

    func finish() throws {
        guard !finished else { return }
        finished = true
        defer { deflateEnd(&stream); file.close() }
        try pump(Z_FINISH)
        try file.sync(as: .copyError)
    }

    deinit { if !finished { deflateEnd(&stream) } }
}

/// A consistent logical dump of one database, readable by `importData` (and by `mysql`).
struct MySQLDumper {
    let session: MySQLSession
    let database: String
    let progress: ProgressCounter

    func write(to file: URL) throws -> TransferStats {
        let c = try session.openAnother()
        defer { c.close() }
        try c.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        try c.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        let out = try GzipFileWriter(path: file.path)
        var stats = TransferStats()
        var tables: [VerifyReport.Table] = []
        try out.write("-- Ferry logical backup of one MySQL database (restore with Ferry or `mysql`)\nSET NAMES utf8mb4;\nSET foreign_key_checks = 0;\nSET unique_checks = 0;\nSET time_zone = '+00:00';\nSET sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION';\n")
        for table in try session.baseTables(database, on: c) where !MySQLSession.ownTables(in: database).contains(table) {
            let ddl = try c.query("SHOW CREATE TABLE \(qualified(database, table))").first?[1] ?? ""
            try out.write("\nDROP TABLE IF EXISTS \(quoteName(table));\n\(ddl);\n")
            var tableRows: Int64 = 0
            // Rows are read on a second connection in the same snapshot? No: one connection, so
            // the metadata query above finishes before the stream starts.
            try MySQLRowEncoder.stream(reader: c, escaper: c, database: database, table: table,
                                       insertInto: quoteName(table), batchBytes: 1 << 20) { buffer, rows in
                buffer += Array(";\n".utf8)
                try out.write(buffer)
                stats.bytes += Int64(buffer.count); stats.rows += Int64(rows); tableRows += Int64(rows)
                progress.add(bytes: Int64(buffer.count), rows: Int64(rows))
                try progress.checkCancelled()
            }
            // What the file holds of the table, in the dump's own snapshot (the set's manifest
            // records it; a restore must give back these rows).
            tables.append(.init(name: table, rows: tableRows, checksum: nil))
        }
        stats.tables = tables
        let objects = try session.objects(in: database, qualifier: nil, on: c)
        try c.execute("COMMIT")
        // Each object under the settings it was made under, as `mariadb-dump` writes them: its
        // client character set and connection collation (its text in that character set), and
        // for a routine, trigger or event the database collation it was stored with, set as
        // the database's default (`ALTER DATABASE` without a name: the one restored into) for
        // its CREATE and then put back to the dumped database's own (fresh tester round 11, F1).
        // A client character set an import refuses (`backslashTrailCharsets`) is left out: the
        // object is restored under utf8mb4, and a restore's verify names it.
        let own = try c.scalar("SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = \(c.literal(database))").flatMap(MySQLSession.settingName)
        // The database restored into gets the dumped one's default first (as `mariadb-dump
        // --databases` makes it), so an object stored with that collation needs no change.
        if let own { try out.write("\nALTER DATABASE COLLATE \(own);\n") }
        for object in objects {
            let zone = object.timeZone.isEmpty ? "" : "SET SESSION time_zone = \(c.literal(object.timeZone));\n"
            var before = "", after = ""
            var text = Array(object.ddl.utf8)
            if object.kind != "VIEW", let collation = MySQLSession.settingName(object.databaseCollation), let own, collation.lowercased() != own.lowercased() {
                before += "ALTER DATABASE COLLATE \(collation);\n"
                after += "ALTER DATABASE COLLATE \(own);\n"
            }
            if let client = MySQLSession.settingName(object.charsetClient), let collation = MySQLSession.settingName(object.collationConnection),
               !MySQLImportGuard.backslashTrailCharsets.contains(client.lowercased()) {
                before += "SET SESSION character_set_client = \(client), SESSION collation_connection = \(collation);\n"
                after = "SET NAMES utf8mb4;\n" + after
                text = try MySQLSession.bytes(of: object.ddl, in: client, on: c)
            }
            try out.write("\nSET SESSION sql_mode = \(c.literal(object.sqlMode));\n\(zone)\(before)DELIMITER ;;\n")
            try out.write(text)
            try out.write(";;\nDELIMITER ;\n\(after)")
        }
        try out.write("\nSET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION';\nSET SESSION time_zone = '+00:00';\n")
        try out.finish()
        return stats
    }
}
