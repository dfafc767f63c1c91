import FerryCore
import FerryIO
import Foundation

/// The throwaway role an import's statements run as (issue 14 §1: "run imports with a session
/// that cannot reach other databases at all"; SPEC §6 "Import isolation").
///
/// - Name: `ferry_i_<run tag>_<6 hex of sha256(shadow)>` (at most 31 bytes), a pure function of
///   the shadow's name. The shadow's name is journaled (`shadowPlanned`) before the shadow exists
///   and the role is created only after the shadow, so the journal names every role a run may
///   have made; recovery derives it back from the journaled shadow (`removeLeftovers`).
/// - Marker: the comment `ferry:import:<shadow>`, set in the transaction that creates the role;
///   only a role with that name and that comment is ever dropped.
/// - Attributes: `LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS`, a
///   connection limit, `VALID UNTIL` two days on (a leftover cannot log in for good), a random
///   password of 32 hex characters sent only as its SCRAM-SHA-256 verifier (`PQencryptPasswordConn`,
///   what psql's `\password` does); the password is never printed, journaled or kept.
/// - Privileges: it owns the shadow database (so its `public` schema, `pg_database_owner`), and
///   nothing else. PostgreSQL then refuses by itself what a file could try beyond the shadow,
///   dynamic SQL included: other databases cannot be reached from a session (no `dblink` or
///   `postgres_fdw` without a superuser), roles, `ALTER SYSTEM`, `COPY ... PROGRAM`, server files,
///   other sessions' backends and shared catalogs need privileges it lacks.
/// - Created with `CREATE ROLE` (no `IF NOT EXISTS`): a role of that name that exists is not
///   Ferry's and is refused (ImportError), never reused or dropped.
struct PostgresImportRole {
    let name: String
    let shadow: String
    fileprivate let password: String

    /// The role's name for `shadow` (one of Ferry's `<db>__ferry_s_<tag>` databases).
    static func name(forShadow shadow: String) -> String {
        let tag = PostgresSession.runTag(of: shadow) ?? ""
        return "ferry_i_\(tag)_" + String(Digest.sha256(Array(shadow.utf8)).prefix(6))
    }

    /// The comment that marks the role as the import role of `shadow`.
    static func marker(forShadow shadow: String) -> String { "ferry:shadow-role:" + shadow }

    static func randomPassword() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    /// The address a session of this role connects with: the instance's host, port and TLS mode.
    func address(from admin: PostgresAddress) -> PostgresAddress {
        var address = admin
        address.user = name
        address.password = password
        return address
    }
}

/// What the database row of a shadow held before its import role received it, compared after the
/// import: a file may not change the database's own settings (owner aside, which Ferry sets back).
struct PostgresDatabaseRow: Equatable {
    var comment: String?
    var allowsConnections: String?
    var isTemplate: String?
    var connectionLimit: String?
    var acl: String?
    var settings: String?
}

extension PostgresSession {
    /// The plan's word on how imports into this instance are isolated: nil when Ferry's user is
    /// a superuser or has `CREATEROLE` (each import then runs as a throwaway role that owns only
    /// its shadow), one note when it has neither (imports then run on Ferry's own connection,
    /// guarded by the statement checks alone), nil when the attributes cannot be read.
    func importIsolationNotes() -> [String]? {
        guard let row = try? connection.query("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user").first else { return nil }
        if row[0] == "t" || row[1] == "t" { return nil }
        return ["Ferry's user on \(instanceName) is neither a superuser nor has CREATEROLE, so it cannot create the throwaway import role that owns only the shadow: imports into it run on Ferry's own connection, guarded by the statement checks alone"]
    }

    func databaseRow(_ database: String) throws -> PostgresDatabaseRow? {
        guard let row = try connection.query("""
            SELECT shobj_description(d.oid, 'pg_database'), d.datallowconn::text, d.datistemplate::text, d.datconnlimit::text, d.datacl::text,
                   (SELECT array_agg(s ORDER BY s)::text FROM pg_db_role_setting r, unnest(r.setconfig) s WHERE r.setdatabase = d.oid)
            FROM pg_database d WHERE d.datname = \(quoteLiteral(database))
            """).first else { return nil }
        return PostgresDatabaseRow(comment: row[0], allowsConnections: row[1], isTemplate: row[2], connectionLimit: row[3],
                                   acl: row[4], settings: row[5])
    }

    /// Creates the import role of `shadow` and hands the shadow to it, in one transaction, and
    /// returns it with the shadow's database row as it is once handed over; nil when Ferry's user may not create
    /// roles (42501: the import then runs on Ferry's own connection, as the plan said). Throws
    /// ImportError when a role of that name exists (it is not Ferry's).
    ///
    /// A copy's load role (`createLoadRole`) is the same role with `ownsShadow` false (it gets
    /// `CONNECT` on the shadow instead), `connectionLimit` for its loaders and `code` CopyError.
    func createImportRole(for shadow: String, connectionLimit: Int = 4, ownsShadow: Bool = true,
                          code: ErrorCode = .importError) throws -> (role: PostgresImportRole, row: PostgresDatabaseRow)? {
        let purpose = code == .importError ? "import" : "copy"
        let role = PostgresImportRole(name: PostgresImportRole.name(forShadow: shadow), shadow: shadow,
                                      password: PostgresImportRole.randomPassword())
        guard let row = try run(code, "cannot read shadow \(shadow) on \(instanceName)", { try databaseRow(shadow) }) else {
            throw FerryError(code, "shadow \(shadow) on \(instanceName) is gone", instance: instanceName)
        }
        guard let attributes = try run(code, "cannot read the attributes of Ferry's user on \(instanceName)", {
            try connection.query("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user").first
        }), attributes[0] == "t" || attributes[1] == "t" else { return nil }
        guard let verifier = connection.encryptPassword(role.password, user: role.name) else {
            throw FerryError(code, "libpq could not make the SCRAM verifier of the \(purpose) role on \(instanceName)", instance: instanceName)
        }
        let validUntil = ISO8601DateFormatter().string(from: Date().addingTimeInterval(2 * 86_400))
        var statements = [
            "BEGIN",
            "CREATE ROLE \(quoteIdent(role.name)) LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT CONNECTION LIMIT \(connectionLimit) VALID UNTIL \(quoteLiteral(validUntil)) PASSWORD \(quoteLiteral(verifier))",
            "COMMENT ON ROLE \(quoteIdent(role.name)) IS \(quoteLiteral(PostgresImportRole.marker(forShadow: shadow)))",
        ]
        if attributes[0] != "t" { statements.append("GRANT \(quoteIdent(role.name)) TO CURRENT_USER") }
        statements += [ownsShadow ? "ALTER DATABASE \(quoteIdent(shadow)) OWNER TO \(quoteIdent(role.name))"
                                  : "GRANT CONNECT ON DATABASE \(quoteIdent(shadow)) TO \(quoteIdent(role.name))", "COMMIT"]
        do {
            for statement in statements { try connection.execute(statement) }
        } catch let error as PostgresServerError {
            try? connection.execute("ROLLBACK")
            if error.sqlState == "42710" {
                throw FerryError(code, "a role named \(role.name) exists on \(instanceName); it is not Ferry's, so the \(purpose) cannot run as it",
                                 hint: "drop or rename that role yourself, then apply again", instance: instanceName)
            }
            if error.sqlState == "42501" { return nil }
            // The statement carries the password's verifier: never in an error.
            throw FerryError(error.code(fallback: code), "cannot create the \(purpose) role of \(shadow) on \(instanceName): \(error.message) (SQLSTATE \(error.sqlState))",
                             instance: instanceName)
        }
        KillPoint.check("change:postgres.import-role.created")
        // The row the import is held to is read once the shadow is the role's: handing it over
        // rewrote the owner in every entry of an explicit ACL (`=Tc/owner` becomes `=Tc/role`),
        // and that is Ferry's change, not the file's (fresh tester W8-3: every append into a
        // database with a `REVOKE CONNECT ... FROM PUBLIC` failed with "the import changed the
        // database's own settings").
        let handed = try run(code, "cannot read shadow \(shadow) on \(instanceName)", { try databaseRow(shadow) }) ?? row
        return (role, handed)
    }

    /// After a successful import: checks that the file left the shadow's database row as it was
    /// (comment, connections, template flag, limit, ACL, per-database settings; else ImportError),
    /// gives everything the role owns in the shadow, the shadow itself included, to Ferry's user
    /// (`REASSIGN OWNED`, `DROP OWNED` for privileges granted to it), runs the file's deferred
    /// `ALTER ... OWNER TO` statements as Ferry's user, all in one transaction, and drops the role.
    func settleImportRole(_ role: PostgresImportRole, before row: PostgresDatabaseRow, shadowConnection admin: PostgresConnection,
                          ownerStatements: [PostgresImportGuard.Deferred], owner: String? = nil,
                          preexisting: Set<String>? = nil) throws {
        try terminateSessions(of: role.name)
        if let preexisting { try checkMadeByImportRole(role, shadowConnection: admin, preexisting: preexisting) }
        let after = try run(.importError, "cannot read shadow \(role.shadow) on \(instanceName)") { try databaseRow(role.shadow) }
        guard after == row else {
            throw FerryError(.importError, "the import changed the database's own settings (owner aside: comment, connections, ACL or ALTER DATABASE ... SET), which an import may not",
                             hint: "remove the ALTER DATABASE, GRANT/REVOKE ... ON DATABASE or COMMENT ON DATABASE statements (or the dynamic SQL that runs them); the target was not changed",
                             instance: instanceName)
        }
        try admin.execute("BEGIN")
        do {
            guard let roleOID = try admin.scalar("SELECT oid FROM pg_roles WHERE rolname = \(quoteLiteral(role.name))") else {
                throw FerryError(.importError, "the import role \(role.name) is gone", instance: instanceName)
            }
            // Owners as pg_shdepend records them (objects of the bootstrap superuser have none).
            let owners = """
                SELECT classid::text || '/' || objid::text || '/' || objsubid::text, refobjid::text FROM pg_shdepend
                WHERE deptype = 'o' AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                """
            let before = Dictionary(try admin.query(owners).map { ($0[0] ?? "", $0[1] ?? "") }, uniquingKeysWith: { a, _ in a })
            let made = Set(before.filter { $0.value == roleOID }.keys)
            // What makes a role unfit to own what an untrusted file made: PostgreSQL runs an
            // owner's rights in views, expression indexes (ANALYZE, autovacuum), SECURITY DEFINER
            // functions, so such an owner would hand its powers to the file.
            func isPowerful(_ role: String) throws -> Bool {
                try admin.scalar("SELECT \(Self.powerfulRole) FROM pg_roles r WHERE r.oid = \(role)") != "f"
            }
            if let owner {
                guard try admin.scalar("SELECT oid FROM pg_roles WHERE rolname = \(quoteLiteral(owner))") != nil else {
                    throw FerryError(.importError, "the import's owner \(owner) is not a role of \(instanceName)",
                                     hint: "create the role first, or name another in the import's \"owner\"", instance: instanceName)
                }
                guard try !isPowerful("\(quoteLiteral(owner))::regrole") else {
                    throw FerryError(.importError, "the import's owner \(owner) has server-level rights (a superuser, CREATEROLE, BYPASSRLS, REPLICATION, or a member of pg_execute_server_program and the like); what the file makes would run code with them",
                                     hint: "name an ordinary role in the import's \"owner\"", instance: instanceName)
                }
            }
            let currentUserIsPowerful = try isPowerful("(SELECT oid FROM pg_roles WHERE rolname = current_user)")
            // The file's names resolve as in its own session (the default path); these statements
            // only name objects and roles, and the checks below run on the pinned path again.
            try admin.execute("SET LOCAL search_path = \"$user\", public")
            defer { _ = try? admin.execute("SET LOCAL search_path = pg_catalog, pg_temp") }
            for var statement in ownerStatements {
                if let target = Self.ownerTarget(of: statement.sql) {
                    let isFerrys = ["current_user", "session_user", "current_role"].contains(target.lowercased())
                    let expression = isFerrys ? "(SELECT oid FROM pg_roles WHERE rolname = current_user)" : "\(quoteLiteral(target))::regrole"
                    let roleOID = try? admin.scalar("SELECT \(expression)::oid::text")
                    // A file gives its objects only to the import's owner: an object of another
                    // role runs the file's code with that role's rights (views, expression
                    // indexes under autovacuum, SECURITY DEFINER), which would lend them to it.
                    if let owner, roleOID != nil, roleOID != (try? admin.scalar("SELECT \(quoteLiteral(owner))::regrole::oid::text")) {
                        statement.sql = Self.replacingOwnerTarget(of: statement.sql, with: quoteIdent(owner))
                    } else if owner == nil, !currentUserIsPowerful, !isFerrys, roleOID != nil,
                              roleOID != (try? admin.scalar("SELECT oid::text FROM pg_roles WHERE rolname = current_user")) {
                        throw ownerChangeRefused(to: target, at: "\(statement.source):\(statement.line)", ownSession: false)
                    } else if owner == nil, currentUserIsPowerful, roleOID != nil, !((try? isPowerful(expression)) ?? false) {
                        throw ownerChangeRefused(to: target, at: "\(statement.source):\(statement.line)", ownSession: false)
                    } else if (try? isPowerful(expression)) ?? false {
                        guard let owner else {
                            throw FerryError(.importError, "\(statement.source):\(statement.line): OWNER TO \(target) would give the file's object to a role with server-level rights, which would run its code with them",
                                             hint: "set the import's \"owner\" to an ordinary role (it then owns such objects), or give them an ordinary owner in the file; the target was not changed",
                                             instance: instanceName)
                        }
                        statement.sql = Self.replacingOwnerTarget(of: statement.sql, with: quoteIdent(owner))
                    }
                }
                do { try admin.execute(statement.sql) } catch let error as PostgresServerError {
                    throw FerryError(.importError, "\(statement.source):\(statement.line): \(error.message) (SQLSTATE \(error.sqlState))",
                                     hint: "the statement starting at line \(statement.line) failed; the target was not changed",
                                     instance: instanceName, detail: String(statement.sql.prefix(300)))
                }
            }
            try admin.execute("SET LOCAL search_path = pg_catalog, pg_temp")
            // The shadow itself belongs to Ferry's user, as every database Ferry makes.
            try admin.execute("ALTER DATABASE \(quoteIdent(role.shadow)) OWNER TO CURRENT_USER")
            if let owner {
                try admin.execute("REASSIGN OWNED BY \(quoteIdent(role.name)) TO \(quoteIdent(owner))")
            } else if !currentUserIsPowerful {
                try admin.execute("REASSIGN OWNED BY \(quoteIdent(role.name)) TO CURRENT_USER")
            } else {
                // Anything the file left to its role has no ordinary owner to go to.
                let left = try admin.scalar("SELECT count(*) FROM pg_shdepend WHERE deptype = 'o' AND refobjid = \(roleOID) AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())") ?? "0"
                if left != "0" {
                    throw FerryError(.importError, "\(left) object(s) the file made have no ordinary owner, and Ferry's user is a superuser (or has server-level rights): as their owner it would run their code (views, expression indexes, SECURITY DEFINER functions) with those rights",
                                     hint: "set the import's \"owner\" to an ordinary role (it then owns them; the role must exist), or give every object an ordinary owner in the file (ALTER ... OWNER TO); the target was not changed",
                                     instance: instanceName)
                }
            }
            try admin.execute("DROP OWNED BY \(quoteIdent(role.name))")
            // Default privileges only for the role that owns what the file made: `FOR ROLE`
            // another would grant that role's future objects to whoever the file names (a fresh
            // tester's file gave itself everything ferry_plain and Ferry's user would create).
            let allowed = owner.map { "\(quoteLiteral($0))::regrole" } ?? (currentUserIsPowerful ? "0" : "(SELECT oid FROM pg_roles WHERE rolname = current_user)")
            if let other = try admin.scalar("SELECT pg_get_userbyid(defaclrole) FROM pg_default_acl WHERE defaclrole <> \(allowed) LIMIT 1") {
                throw FerryError(.importError, "the file's ALTER DEFAULT PRIVILEGES FOR ROLE \(other) would grant what \(other) creates later; a file may set default privileges only for the import's owner",
                                 hint: "name that role in the import's \"owner\", or remove the statement; the target was not changed",
                                 instance: instanceName)
            }
            // An `OWNER TO` of the file may give away only what the file made (what its role owned):
            // never a system object (`pg_catalog`, a language, a built-in function) or an
            // extension's, which would hand code that runs with others' rights to any role.
            let after = Dictionary(try admin.query(owners).map { ($0[0] ?? "", $0[1] ?? "") }, uniquingKeysWith: { a, _ in a })
            // New default privileges (`ALTER DEFAULT PRIVILEGES FOR ROLE`) are the file's own.
            let defaultACL = try admin.scalar("SELECT 'pg_default_acl'::regclass::oid::text") ?? ""
            let changed = Set(after.keys).union(before.keys).filter { key in
                !made.contains(key) && before[key] != after[key] && !(before[key] == nil && key.hasPrefix(defaultACL + "/"))
            }
            if let object = changed.sorted().first {
                let name = try admin.scalar("SELECT pg_describe_object(split_part(\(quoteLiteral(object)), '/', 1)::oid, split_part(\(quoteLiteral(object)), '/', 2)::oid, split_part(\(quoteLiteral(object)), '/', 3)::int)") ?? object
                throw FerryError(.importError, "the file's ALTER ... OWNER TO changes the owner of \(name), which the file did not create",
                                 hint: "an import may give away only the objects it creates; remove that statement (the target was not changed)",
                                 instance: instanceName)
            }
            // Every object the file made ends with an ordinary owner (objects of the bootstrap
            // superuser have no pg_shdepend row, so a missing one counts as powerful); this
            // covers its SECURITY DEFINER functions, whatever extension they were added to.
            let final = Dictionary(try admin.query(owners).map { ($0[0] ?? "", $0[1] ?? "") }, uniquingKeysWith: { a, _ in a })
            for key in made.sorted() {
                let ownerOID = final[key]
                if try ownerOID == nil || isPowerful(ownerOID!) {
                    let parts = key.split(separator: "/")
                    let name = try admin.scalar("SELECT pg_describe_object(\(parts[0]), \(parts[1]), \(parts[2]))") ?? key
                    throw FerryError(.importError, "\(name) would belong to a role with server-level rights, which would run its code with them",
                                     hint: "set the import's \"owner\" to an ordinary role, or give it an ordinary owner in the file; the target was not changed",
                                     instance: instanceName)
                }
            }
            try admin.execute("COMMIT")
        } catch {
            try? admin.execute("ROLLBACK")
            if let error = error as? PostgresServerError { throw error.ferry(.importError, "cannot take shadow \(role.shadow) back from its import role", instance: instanceName) }
            throw error
        }
        KillPoint.check("change:postgres.import-role.settled")
        _ = try run(.importError, "cannot drop import role \(role.name) on \(instanceName)") { try dropImportRole(forShadow: role.shadow) }
    }

    /// Refuses (`WrongStatus`) a shadow holding an object with an owner that is neither the
    /// import role's nor in `preexisting` (what the shadow held before the file ran): another
    /// session made it during the build (tester w5 X1b). Records what the shadow holds in
    /// `PostgresImportLedger` either way (without those objects when refused), so that the swap
    /// refuses, and a drop leaves, a shadow holding anything else.
    func checkMadeByImportRole(_ role: PostgresImportRole, shadowConnection admin: PostgresConnection, preexisting: Set<String>) throws {
        let (objects, roleOID) = try run(.importError, "cannot read shadow \(role.shadow) on \(instanceName)") {
            (try Self.shadowObjects(on: admin), try admin.scalar("SELECT oid::text FROM pg_roles WHERE rolname = \(quoteLiteral(role.name))") ?? "")
        }
        let foreign = Set(objects.filter { !$0.value.isEmpty && $0.value != roleOID && !preexisting.contains($0.key) }.keys)
        let key = PostgresImportLedger.key(self, role.shadow)
        PostgresImportLedger.shared.record(Set(objects.keys).subtracting(foreign), for: key)
        recordImportObjects(shadow: role.shadow, objects: Set(objects.keys).subtracting(foreign), roleOid: roleOID, built: true)
        guard foreign.isEmpty else {
            throw FerryError(.wrongStatus, "\(role.shadow) on \(instanceName) holds \(Self.describeObjects(foreign, on: admin)), which the import did not make (another role owns it: another session made it during the build), so the build stopped and the shadow was left as it is",
                             hint: "something works inside Ferry's shadow database: keep what you need from it, then drop it yourself and run `ferry recover`",
                             instance: instanceName)
        }
    }

    /// Creates `shadow` (`CREATE DATABASE shadow <clause>`) so that it is provably Ferry's from the
    /// moment it exists (issue 14 §2): first the shadow's role (the import role's name, `NOLOGIN`,
    /// marked in the transaction that creates it), then the database born owned by that role
    /// (`OWNER`, one statement), then the shadow's comment, then the database given to Ferry's
    /// user and the role dropped. A kill anywhere in between leaves a marked role and a database
    /// that is owned by it or carries the comment, both of which `removeLeftovers` removes. Where
    /// Ferry's user may not create roles, the database is created and marked right after, as
    /// before (a kill between the two leaves an unmarked database, which is never dropped).
    func createMarkedDatabase(_ shadow: String, clause: String) throws {
        let role = PostgresImportRole.name(forShadow: shadow)
        let marker = quoteLiteral(PostgresImportRole.marker(forShadow: shadow))
        let attributes = try connection.query("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user").first
        var owner = ""
        if attributes?[0] == "t" || attributes?[1] == "t" {
            var statements = ["BEGIN", "CREATE ROLE \(quoteIdent(role)) NOLOGIN", "COMMENT ON ROLE \(quoteIdent(role)) IS \(marker)"]
            if attributes?[0] != "t" { statements.append("GRANT \(quoteIdent(role)) TO CURRENT_USER") }
            statements.append("COMMIT")
            do {
                for statement in statements { try connection.execute(statement) }
                owner = " OWNER \(quoteIdent(role))"
            } catch let error as PostgresServerError {
                try? connection.execute("ROLLBACK")
                if error.sqlState == "42710" {
                    throw FerryError(.nameConflict, "a role named \(role) exists on \(instanceName); Ferry does not use or drop what it did not create",
                                     hint: "drop or rename that role yourself, then apply again", instance: instanceName)
                }
                guard error.sqlState == "42501" else { throw error }
            }
            KillPoint.check("change:postgres.shadow-role.created")
        }
        do { try connection.execute("CREATE DATABASE \(quoteIdent(shadow))\(owner) \(clause)") } catch {
            if !owner.isEmpty { _ = try? connection.execute("DROP ROLE IF EXISTS \(quoteIdent(role))") }
            throw error
        }
        KillPoint.check("change:postgres.shadow.created")
        try connection.execute("COMMENT ON DATABASE \(quoteIdent(shadow)) IS \(quoteLiteral(Self.shadowMarker(shadow)))")
        guard !owner.isEmpty else { return }
        try connection.execute("ALTER DATABASE \(quoteIdent(shadow)) OWNER TO CURRENT_USER")
        try connection.execute("DROP ROLE \(quoteIdent(role))")
    }

    /// Ends the sessions of a killed run that are still creating `shadow` (the server goes on with
    /// a `CREATE DATABASE` after its client is gone), and waits for them, so that a shadow cannot
    /// appear after recovery looked for it.
    func endUnfinishedCreation(of shadow: String) throws {
        let pattern = quoteLiteral("CREATE DATABASE " + quoteIdent(shadow) + "%")
        let busy = "SELECT pid FROM pg_stat_activity WHERE query LIKE \(pattern) AND state = 'active' AND pid <> pg_backend_pid()"
        for _ in 0..<100 {
            let pids = try connection.query(busy).compactMap { $0[0] }
            if pids.isEmpty { return }
            for pid in pids { _ = try connection.query("SELECT pg_terminate_backend(\(pid))") }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    /// A boolean SQL expression over `pg_roles r`: true for a role unfit to own what an untrusted
    /// file made (a superuser, CREATEROLE, BYPASSRLS, REPLICATION, a predefined `pg_` role, a
    /// member of the predefined roles that reach server files, programs, other sessions or all
    /// data, or a member of a role with any of those rights, which it may SET ROLE to). The
    /// predefined roles are looked up, not named, so it reads on servers older than they are.
    static let powerfulRole = """
        (r.rolsuper OR r.rolbypassrls OR r.rolreplication OR r.rolcreaterole OR left(r.rolname, 3) = 'pg_'
         OR EXISTS (SELECT 1 FROM pg_roles p WHERE p.rolname IN ('pg_execute_server_program', 'pg_read_server_files',
                    'pg_write_server_files', 'pg_signal_backend', 'pg_read_all_data', 'pg_write_all_data')
                    AND pg_has_role(r.oid, p.oid, 'MEMBER'))
         OR EXISTS (SELECT 1 FROM pg_roles p WHERE p.oid <> r.oid AND (p.rolsuper OR p.rolbypassrls OR p.rolreplication OR p.rolcreaterole)
                    AND pg_has_role(r.oid, p.oid, 'MEMBER')))
        """

    /// A statement's final `OWNER TO role` (quoted or bare), to its end.
    static let ownerToClause = #"(?i)\bowner\s+to\s+("(?:[^"]|"")+"|[^\s;]+)\s*;?\s*$"#

    /// The role an `ALTER ... OWNER TO role` statement names (as written, quotes kept), or nil
    /// for `ALTER DEFAULT PRIVILEGES` and anything else.
    static func ownerTarget(of sql: String) -> String? {
        guard let match = sql.range(of: ownerToClause, options: .regularExpression) else { return nil }
        let tail = sql[match]
        guard let to = tail.range(of: #"(?i)\bto\s+"#, options: .regularExpression) else { return nil }
        return String(tail[to.upperBound...]).trimmingCharacters(in: CharacterSet(charactersIn: "; \n\t\r"))
    }

    /// `sql` with the role of its final `OWNER TO` replaced by `role` (an identifier, quoted).
    static func replacingOwnerTarget(of sql: String, with role: String) -> String {
        guard let match = sql.range(of: ownerToClause, options: .regularExpression) else { return sql }
        return sql[..<match.lowerBound] + "OWNER TO " + role
    }

    /// Ends every session of `role` (only Ferry's import sessions log in as it).
    func terminateSessions(of role: String) throws {
        try run(.importError, "cannot end the sessions of \(role) on \(instanceName)") {
            _ = try connection.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = \(quoteLiteral(role)) AND pid <> pg_backend_pid()")
        }
    }

    /// Drops the import role of `shadow` when a role of that name carries the shadow's marker,
    /// after ending its sessions and, while the shadow exists, dropping what it owns there.
    /// Returns whether it dropped one. A role that still owns something elsewhere is left (the
    /// server refuses), with the error.
    @discardableResult
    func dropImportRole(forShadow shadow: String) throws -> Bool {
        let name = PostgresImportRole.name(forShadow: shadow)
        guard try connection.scalar("SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = \(quoteLiteral(name))")
                == PostgresImportRole.marker(forShadow: shadow) else { return false }
        try terminateSessions(of: name)
        if try databaseExists(shadow), try comment(of: shadow) == Self.shadowMarker(shadow) {
            let inside = try open(shadow)
            defer { inside.close() }
            // What the role made goes (never to Ferry's user: as a superuser's, autovacuum would
            // run the file's expression indexes with its rights while the shadow waits to be
            // dropped); the shadow itself goes back to Ferry's user until it is dropped.
            try inside.execute("ALTER DATABASE \(quoteIdent(shadow)) OWNER TO CURRENT_USER; DROP OWNED BY \(quoteIdent(name))")
        }
        // Sessions end a moment after pg_terminate_backend; DROP ROLE fails while one lives.
        var attempts = 0
        while true {
            do {
                try connection.execute("DROP ROLE \(quoteIdent(name))")
                return true
            } catch let error as PostgresServerError where error.sqlState == "55006" && attempts < 50 {
                attempts += 1
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
    }

    /// Import roles of the run still on the server (`ferry_i_<tag>_...` carrying an import marker).
    func importRoles(ofRun runID: String) throws -> [String] {
        let prefix = "ferry_i_\(Self.runPart(runID))_"
        return try connection.query("SELECT rolname, shobj_description(oid, 'pg_authid') FROM pg_roles WHERE starts_with(rolname, \(quoteLiteral(prefix)))")
            .compactMap { row in
                guard let name = row[0], let comment = row[1], comment.hasPrefix("ferry:shadow-role:"),
                      PostgresImportRole.name(forShadow: String(comment.dropFirst("ferry:shadow-role:".count))) == name else { return nil }
                return name
            }
    }
}
