import FerryCore
import FerryIO
import Foundation

extension PostgresSession {
    /// Loads import sources, in order, into `shadow`.
    /// - `sql` (`.sql`, `.sql.gz`, any source SourceOpener reads): cut by `SQLStatementScanner`'s
    ///   PostgreSQL dialect as psql would (dollar quotes, `COPY ... FROM stdin` data up to `\.`),
    ///   each statement checked by `PostgresImportGuard` before it is sent; COPY data streamed
    ///   through `COPY FROM STDIN`. A failing or refused statement is an `ImportError` naming the
    ///   source and line.
    /// - `pgdump`: each source is a pg_dump custom-format archive, turned into its SQL script by
    ///   `pg_restore --file=-` (owners, privileges, publications and subscriptions left out, as
    ///   before) and loaded exactly as a `.sql` source, so the same checks see every statement.
    ///
    /// Where Ferry's user may create roles, the statements run as the shadow's import role
    /// (`PostgresImportRole`), which owns the shadow and nothing else and cannot log in once its
    /// session is open; `ALTER ... OWNER TO` and `ALTER DEFAULT PRIVILEGES FOR ROLE` statements
    /// are kept until the end and then run as Ferry's user, under checks, when the role gives the
    /// shadow back (`settleImportRole`). Without that right, everything runs on Ferry's own
    /// connection to the shadow, guarded by the checks alone (the plan says so).
    public func importData(into shadow: String, from sources: [ImportSource], format: ImportFormat,
                           progress: ProgressCounter) throws -> BuildResult {
        try importData(into: shadow, from: sources, format: format, options: ImportOptions(), progress: progress)
    }

    /// `importData` with the plan's options: `owner`, the ordinary role that owns what the file
    /// makes without an ordinary owner (see `settleImportRole`).
    public func importData(into shadow: String, from sources: [ImportSource], format: ImportFormat,
                           options: ImportOptions, progress: ProgressCounter) throws -> BuildResult {
        guard format == .sql || format == .pgdump else {
            throw FerryError(.importError, "PostgreSQL imports sql and pgdump files, not \(format.rawValue)", instance: instanceName)
        }
        let tools = PostgresTools(address: address, instanceName: instanceName)
        if format == .pgdump {
            for source in sources {
                guard case .file = source else {
                    throw FerryError(.importError, "\(source): PostgreSQL archives are read from local files only", instance: instanceName)
                }
            }
            try tools.checkClient(serverVersionNumber: connection.serverVersionNumber)
        }
        let isolation = try createImportRole(for: shadow)
        var settled = false
        defer { if isolation != nil && !settled { _ = try? dropImportRole(forShadow: shadow) } }
        let c: PostgresConnection
        if let role = isolation?.role {
            do { c = try PostgresConnection(role.address(from: address), database: shadow, instanceName: instanceName,
                                                    pinnedSearchPath: false) }
            catch let error as FerryError where error.code == .wrongPassword || error.code == .instanceNotFound {
                throw FerryError(.importError, "the import role \(role.name) could not log in to \(shadow) on \(instanceName): \(error.message)",
                                 hint: "imports run as a throwaway role that owns only the shadow; pg_hba.conf must let a password (scram-sha-256) login of any role reach the shadow from Ferry's host. Nothing was changed",
                                 instance: instanceName)
            }
        } else {
            c = try run(.importError, "cannot open an import connection to \(shadow)") { try open(shadow, pinnedSearchPath: false) }
        }
        defer { c.close() }
        if let role = isolation?.role {
            // Its one session is open: from here on nobody logs in as the role, whatever password
            // the file may set for it (LOGIN is checked only when a session starts).
            try run(.importError, "cannot close the import role \(role.name) to logins") {
                try connection.execute("ALTER ROLE \(quoteIdent(role.name)) NOLOGIN")
            }
        }
        let admin = try isolation.map { _ in try run(.importError, "cannot open a connection to \(shadow)") { try open(shadow) } }
        defer { admin?.close() }
        // What the shadow holds before the file runs (an append's clone of the target): at the
        // end, anything else with an owner must be the import role's (`PostgresImportLedger`).
        let preexisting = try admin.map { admin in
            try run(.importError, "cannot read shadow \(shadow) on \(instanceName)") { Set(try Self.shadowObjects(on: admin).keys) }
        }
        if let preexisting, let role = isolation?.role {
            // Kept in the claims database too, for `ferry recover` after a kill (tester w5 X1b).
            let roleOid = (try? connection.scalar("SELECT oid::text FROM pg_roles WHERE rolname = \(quoteLiteral(role.name))")) ?? nil
            recordImportObjects(shadow: shadow, objects: preexisting, roleOid: roleOid ?? "", built: false)
        }
        let cancelIDs = ([c] + (admin.map { [$0] } ?? [])).compactMap { connection in
            progress.cancellation?.register { [socket = connection.socket] in _ = shutdown(socket, Int32(SHUT_RDWR)) }
        }
        defer { for id in cancelIDs { progress.cancellation?.unregister(id) } }
        var owners: [PostgresImportGuard.Deferred] = []
        var stats = TransferStats()
        // The parts are one stream (fresh tester round 31, F3); a custom-format part is the
        // script pg_restore writes of it.
        let statements = SQLStatementReader(sources: sources, dialect: .postgres, open: { source in
            if format == .pgdump, case .file(let path) = source { return try tools.script(ofArchive: path, code: .importError) }
            return try SourceOpener.open(source)
        }, finishPart: { reader in if let process = reader as? PostgresToolOutput { try process.finish() } })
        stats.bytes += try importSQL(from: statements, on: c, admin: admin, owners: &owners, progress: progress,
                                     role: isolation?.role.name, owner: options.owner)
        if let isolation, let admin {
            try settleImportRole(isolation.role, before: isolation.row, shadowConnection: admin, ownerStatements: owners,
                                 owner: options.owner, preexisting: preexisting)
            settled = true
        }
        return BuildResult(stats: stats)
    }

    /// The import's statements (its parts as one stream) into the connection's database. Returns the bytes of SQL read.
    /// With `admin` (the import runs as its role): `ALTER ... OWNER TO` statements are appended
    /// to `owners` instead of being run. `role`: the throwaway role the statements run as
    /// (named, with `owner`, in the hint of a statement PostgreSQL refuses for want of a right).
    func importSQL(from statements: SQLStatementReader, on c: PostgresConnection, admin: PostgresConnection?,
                   owners: inout [PostgresImportGuard.Deferred], progress: ProgressCounter,
                   role: String? = nil, owner: String? = nil) throws -> Int64 {
        var guardian = PostgresImportGuard(source: "")
        var source = ""
        guardian.isolated = admin != nil
        var copying: (sql: String, line: Int)?
        var bytes: Int64 = 0
        var lastRead: Int64 = 0
        func fail(_ error: PostgresServerError, line: Int) -> FerryError {
            var hint = "the statement starting at line \(line) failed; the target was not changed"
            if error.sqlState == "42501", let role {
                // A fresh tester's F5: an append into tables of the import's owner was refused,
                // though README said the file runs as the clone's owner.
                hint += ". The file runs as Ferry's throwaway role \(role), not as \(owner.map { "the import's owner \($0)" } ?? "Ferry's user"): it owns the shadow database (for an append, the clone of the target) and what the file makes, but none of the objects that were already there, which keep their owners\(owner.map { " (\($0) included)" } ?? ""). Give the rights the file needs to PUBLIC in the target (GRANT INSERT ON ... TO PUBLIC), or let the file write only what it makes"
            }
            return FerryError(Self.importErrorCode(error), "\(source):\(line): \(error.message) (SQLSTATE \(error.sqlState))",
                       hint: hint,
                       instance: instanceName, detail: String(error.statement.prefix(300)))
        }
        /// The next statement; a dump cut short (psql takes the end of the input as the end of a
        /// COPY's data) is refused, the shadow never swapped in (fresh tester round 29, F2).
        func nextStatement() throws -> SQLStatementScanner.Statement? {
            do { return try statements.nextStatement() } catch let error as FerryError where statements.cutShort != nil {
                try? endCopy()
                throw error.placed(address: nil, instance: instanceName)
            }
        }
        func endCopy() throws {
            guard let open = copying else { return }
            copying = nil
            do { try c.endCopyIn(sql: open.sql) } catch let error as PostgresServerError { throw fail(error, line: open.line) }
        }
        while let statement = try nextStatement() {
            source = statements.name(ofPart: statement.part)
            guardian.source = source
            let verdict: PostgresImportGuard.Verdict
            do { verdict = try guardian.admit(statement) }
            catch let error as FerryError { try? endCopy(); throw error.placed(address: nil, instance: instanceName) }
            if statement.kind == .copyData {
                guard let open = copying else {
                    throw FerryError(.importError, "\(source):\(statement.line): COPY data without a COPY ... FROM stdin before it",
                                     instance: instanceName)
                }
                do { try statement.text.withUnsafeBytes { try c.putCopyData($0, sql: open.sql) } }
                catch let error as PostgresServerError { throw fail(error, line: open.line) }
            } else {
                try endCopy()
                guard verdict == .run else { continue }
                var sql = String(decoding: statement.text, as: UTF8.self)
                if admin == nil, PostgresImportGuard.route(statement.text) == .deferredOwnerChange,
                   let target = Self.ownerTarget(of: sql) {
                    sql = try ownerChangeWithoutImportRole(sql, target: target, owner: owner, on: c, place: "\(source):\(statement.line)")
                }
                do {
                    switch admin.map({ _ in PostgresImportGuard.route(statement.text) }) ?? .importSession {
                    case .deferredOwnerChange:
                        owners.append(PostgresImportGuard.Deferred(sql: sql, line: statement.line, source: source))
                    case .importSession:
                        if SQLStatementScanner.isCopyFromStdin(statement.text) {
                            try c.beginCopyIn(sql)
                            copying = (sql, statement.line)
                        } else {
                            try c.execute(sql)
                        }
                    }
                } catch let error as PostgresServerError { throw fail(error, line: statement.line) }
            }
            bytes += Int64(statement.text.count)
            let read = statements.sourceBytesRead
            progress.add(bytes: read - lastRead)
            lastRead = read
            try progress.checkCancelled()
        }
        try endCopy()
        return bytes
    }
}

extension PostgresSession {
    /// An `ALTER ... OWNER TO target` of the file where the import runs on Ferry's own session
    /// (Ferry's user may not create the import role): the same rule as `settleImportRole`'s, so
    /// one file imports alike under either user (fresh tester round 36, F6: a plain dump's
    /// `OWNER TO` its own owner failed with the server's "must be member of role", where the
    /// import role's checks name the rule). A target that is Ferry's user (by name or
    /// `CURRENT_USER`) stays; with the import's `owner`, every other target becomes the owner;
    /// without one, another existing role is an `ImportError` naming the place, before the
    /// statement is sent. A role that does not exist is left to the server's error.
    func ownerChangeWithoutImportRole(_ sql: String, target: String, owner: String?, on c: PostgresConnection,
                                      place: String) throws -> String {
        if ["current_user", "session_user", "current_role"].contains(target.lowercased()) { return sql }
        // `to_regrole` reads the name as an identifier (quotes kept) and is NULL, never an error
        // that would abort the import's transaction, for a role that does not exist.
        guard let isFerrys = try? c.scalar("SELECT to_regrole(\(quoteLiteral(target)))::oid = (SELECT oid FROM pg_roles WHERE rolname = current_user)")
        else { return sql }
        if isFerrys == "t" { return sql }
        if let owner { return Self.replacingOwnerTarget(of: sql, with: quoteIdent(owner)) }
        throw ownerChangeRefused(to: target, at: place, ownSession: true)
    }

    /// The refusal of a file's `OWNER TO target` at `place` (`file:line`) that would give its
    /// object to another role (`ImportError`), with the ways out: the import's `owner`, and on
    /// Ferry's own session (`ownSession`: no import role) a dump without owners too.
    func ownerChangeRefused(to target: String, at place: String, ownSession: Bool) -> FerryError {
        let ways = ownSession
            ? "set the import's \"owner\" to the role that should own what the file makes (every OWNER TO then names it; Ferry's user must be a member of it), or dump without owners (pg_dump --no-owner); a custom-format archive (format pgdump) is loaded with its owners left out. The target was not changed"
            : "set the import's \"owner\" to the role that should own what the file makes (every OWNER TO then names it); the target was not changed"
        return FerryError(.importError, "\(place): OWNER TO \(target) would give the file's object to another role, which would run its code with that role's rights",
                          hint: ways, instance: instanceName)
    }
}

extension PostgresEngine {
    /// Scans local `.sql` sources as an import would (`PostgresImportGuard`): the first refused
    /// statement of each, as an `ImportError` with file and line. URLs are checked at apply time,
    /// archives (`pgdump`) when pg_restore turns them into SQL at apply.
    public func importProblems(in sources: [ImportSource], format: ImportFormat, database: String,
                               serverVersion: String?) -> [FerryError] {
        guard format == .sql else { return [] }
        var guardian = PostgresImportGuard(source: "")
        return SQLStatementReader.firstRefusals(in: sources, dialect: .postgres) { statement, source in
            guardian.source = source
            _ = try guardian.admit(statement)
        }
    }
}

extension PostgresSession {
    /// The code of a statement of an import's file that failed: `ImportError`, but a full disk
    /// (class 53) is `DiskFull`, as in a copy (fresh tester round 7, F4).
    static func importErrorCode(_ error: PostgresServerError) -> ErrorCode {
        error.code(fallback: .importError) == .diskFull ? .diskFull : .importError
    }
}
