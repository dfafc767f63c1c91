import FerryCore
import FerryIO
import Foundation

extension PostgresSession {
    /// Loads import sources, in order, into `shadow`.
    /// - `sql` (`.sql`, `.sql.gz`, any source SourceOpener reads): cut by `SQLStatementScanner`'s
    ///   PostgreSQL dialect as psql would (dollar quotes, `COPY ... FROM stdin` data up to `\.`),
    ///   each statement checked by `PostgresImportGuard` before it is sent on a connection to the
    ///   shadow alone; COPY data streamed through `COPY FROM STDIN`. A failing or refused
    ///   statement is an `ImportError` naming the source and line.
    /// - `pgdump`: each source is a pg_dump custom-format archive restored by `pg_restore` into
    ///   the shadow alone (`--dbname` names it; an archive holds one database), owners and
    ///   privileges left out, in one transaction.
    public func importData(into shadow: String, from sources: [ImportSource], format: ImportFormat,
                           progress: ProgressCounter) throws -> BuildResult {
        switch format {
        case .pgdump:
            var stats = TransferStats()
            for source in sources {
                guard case .file(let path) = source else {
                    throw FerryError(.importError, "\(source): PostgreSQL archives are read from local files only", instance: instanceName)
                }
                stats.bytes += try restoreArchive(path, source: path, into: shadow, progress: progress).bytes
            }
            return BuildResult(stats: stats)
        case .sql:
            let c = try run(.importError, "cannot open an import connection to \(shadow)") { try open(shadow) }
            defer { c.close() }
            let cancelID = progress.cancellation?.register { [socket = c.socket] in _ = shutdown(socket, Int32(SHUT_RDWR)) }
            defer { if let cancelID { progress.cancellation?.unregister(cancelID) } }
            var stats = TransferStats()
            for source in sources {
                stats.bytes += try importSQL(source, on: c, progress: progress)
            }
            return BuildResult(stats: stats)
        default:
            throw FerryError(.importError, "PostgreSQL imports sql and pgdump files, not \(format.rawValue)", instance: instanceName)
        }
    }

    /// One `.sql` source into the connection's database. Returns the bytes of SQL read.
    func importSQL(_ source: ImportSource, on c: PostgresConnection, progress: ProgressCounter) throws -> Int64 {
        let reader = try SourceOpener.open(source)
        defer { reader.close() }
        let statements = SQLStatementReader(reader: reader, dialect: .postgres)
        let guardian = PostgresImportGuard(source: source.description)
        var copying: (sql: String, line: Int)?
        var bytes: Int64 = 0
        var lastRead: Int64 = 0
        func fail(_ error: PostgresServerError, line: Int) -> FerryError {
            FerryError(.importError, "\(source.description):\(line): \(error.message) (SQLSTATE \(error.sqlState))",
                       hint: "the statement starting at line \(line) failed; the target was not changed",
                       instance: instanceName, detail: String(error.statement.prefix(300)))
        }
        func endCopy() throws {
            guard let open = copying else { return }
            copying = nil
            do { try c.endCopyIn(sql: open.sql) } catch let error as PostgresServerError { throw fail(error, line: open.line) }
        }
        while let statement = try statements.nextStatement() {
            let verdict: PostgresImportGuard.Verdict
            do { verdict = try guardian.admit(statement) }
            catch let error as FerryError { try? endCopy(); throw error.placed(address: nil, instance: instanceName) }
            if statement.kind == .copyData {
                guard let open = copying else {
                    throw FerryError(.importError, "\(source.description):\(statement.line): COPY data without a COPY ... FROM stdin before it",
                                     instance: instanceName)
                }
                do { try statement.text.withUnsafeBytes { try c.putCopyData($0, sql: open.sql) } }
                catch let error as PostgresServerError { throw fail(error, line: open.line) }
            } else {
                try endCopy()
                guard verdict == .run else { continue }
                let sql = String(decoding: statement.text, as: UTF8.self)
                do {
                    if SQLStatementScanner.isCopyFromStdin(statement.text) {
                        try c.beginCopyIn(sql)
                        copying = (sql, statement.line)
                    } else {
                        try c.execute(sql)
                    }
                } catch let error as PostgresServerError { throw fail(error, line: statement.line) }
            }
            bytes += Int64(statement.text.count)
            let read = reader.sourceBytesRead
            progress.add(bytes: read - lastRead)
            lastRead = read
            try progress.checkCancelled()
        }
        try endCopy()
        return bytes
    }
}

extension PostgresEngine {
    /// Scans local `.sql` sources as an import would (`PostgresImportGuard`): the first refused
    /// statement of each, as an `ImportError` with file and line. URLs are checked at apply time.
    public func importProblems(in sources: [ImportSource], format: ImportFormat, database: String,
                               serverVersion: String?) -> [FerryError] {
        guard format == .sql else { return [] }
        return SQLStatementReader.firstRefusals(in: sources, dialect: .postgres) { source in
            let guardian = PostgresImportGuard(source: source.description)
            return { statement in _ = try guardian.admit(statement) }
        }
    }
}
