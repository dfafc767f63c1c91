import FerryCore
import Foundation
import FerryIO

/// Who a PostgreSQL copy loads a source's rows and builds its indexes as (issue 14; SPEC §6
/// "PostgreSQL copies").
///
/// PostgreSQL runs code of the database being loaded with the loader's rights: `CHECK`
/// constraints and generated columns during `COPY FROM`, `SECURITY DEFINER` functions with
/// their owner's, index expressions and materialized views with the table owner's. A copy run
/// as Ferry's user (often a superuser) would let whoever wrote the source database run code
/// with those rights on the target server. So:
///
/// 1. the pre-data section (DDL only: nothing of the source runs) is created by Ferry's user;
/// 2. a throwaway role is made (`createImportRole` with `ownsShadow: false`: the import role's
///    name and marker, so `rollback` and `recover` know it; `LOGIN NOSUPERUSER ...`, a random
///    password sent only as its SCRAM verifier, `CONNECT` on the shadow and nothing else);
/// 3. the schema objects that can carry code or rights (schemas, tables, views, materialized
///    views, sequences, standalone composite types, routines, base/domain/enum/range types)
///    are given to it (`handOver`);
/// 4. the rows (`COPY FROM`) and the post-data section (indexes, keys, triggers, rules,
///    policies, materialized-view refreshes) run on sessions of that role;
/// 5. once loaded, everything it owns goes to Ferry's user, its grants are dropped, and the role
///    is dropped (`settleLoadRole`), before the verify.
///
/// Where Ferry's user may not create roles (neither a superuser nor `CREATEROLE`), it is an
/// ordinary role itself and loads on its own sessions.
struct PostgresLoadRole {
    let role: PostgresImportRole
    let address: PostgresAddress
    let shadow: String
    let instanceName: String
    /// The shadow's database row when the role received it (its settings must not change).
    var row: PostgresDatabaseRow? = nil
    /// The shadow's `schemaDigest` once the pre-data section is in.
    var schema = ""

    /// A digest of what the pre-data section defined and the load must leave as it is:
    /// routines (name, arguments, body, language, settings, security, volatility), types,
    /// schemas, relations other than indexes with their columns and defaults, view
    /// definitions, domain constraints and validated CHECK constraints (owners and ACLs left
    /// out: Ferry changes them). The
    /// role owns these during the load, so the source's code running as it could replace them
    /// (a fresh tester swapped a function's body in during the copy); post-data adds only
    /// indexes, constraints of tables, triggers, rules, policies, statistics and comments.
    static let schemaDigest = """
        WITH sys AS (SELECT oid FROM pg_namespace WHERE nspname IN ('pg_catalog', 'information_schema') OR nspname LIKE 'pg\\_toast%' OR nspname LIKE 'pg\\_temp%'),
        parts(line) AS (
          SELECT format('n %s %s', n.oid, n.nspname) FROM pg_namespace n WHERE n.oid NOT IN (SELECT oid FROM sys)
          UNION ALL SELECT format('p %s %s %s %s %s %s %s %s %s %s %s %s %s %s', p.oid, p.proname, p.pronamespace, p.prokind, p.prolang, p.prosecdef,
                               p.proleakproof, p.proisstrict, p.provolatile, p.proargtypes, p.prorettype, p.prosrc, p.probin, p.proconfig)
            FROM pg_proc p WHERE p.pronamespace NOT IN (SELECT oid FROM sys)
          UNION ALL SELECT format('t %s %s %s %s %s %s %s', t.oid, t.typname, t.typnamespace, t.typtype, t.typbasetype, t.typnotnull, t.typdefault)
            FROM pg_type t WHERE t.typnamespace NOT IN (SELECT oid FROM sys)
          UNION ALL SELECT format('c %s %s %s %s', c.oid, c.relname, c.relnamespace, c.relkind)
            FROM pg_class c WHERE c.relnamespace NOT IN (SELECT oid FROM sys) AND c.relkind NOT IN ('i', 'I')
          UNION ALL SELECT format('a %s %s %s %s %s %s', a.attrelid, a.attnum, a.attname, a.atttypid, a.attisdropped, a.attgenerated)
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            WHERE c.relnamespace NOT IN (SELECT oid FROM sys) AND c.relkind NOT IN ('i', 'I') AND a.attnum > 0
          UNION ALL SELECT format('d %s %s %s', d.adrelid, d.adnum, pg_get_expr(d.adbin, d.adrelid))
            FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid WHERE c.relnamespace NOT IN (SELECT oid FROM sys)
          UNION ALL SELECT format('v %s %s', w.ev_class, pg_get_viewdef(w.ev_class))
            FROM pg_rewrite w JOIN pg_class c ON c.oid = w.ev_class WHERE w.rulename = '_RETURN' AND c.relnamespace NOT IN (SELECT oid FROM sys)
          UNION ALL SELECT format('k %s %s %s', k.oid, k.contypid, pg_get_constraintdef(k.oid))
            FROM pg_constraint k WHERE (k.contypid <> 0 OR (k.contype = 'c' AND k.convalidated)) AND k.connamespace NOT IN (SELECT oid FROM sys))
        SELECT md5(coalesce(string_agg(line, E'\\n' ORDER BY line), '')) FROM parts
        """

    /// A session of the role to the shadow (search path pinned, as every Ferry session).
    /// A role that cannot log in (pg_hba.conf) is `CopyError` with the hint.
    func open() throws -> PostgresConnection {
        do {
            return try PostgresConnection(address, database: shadow, instanceName: instanceName)
        } catch let error as FerryError where error.code == .wrongPassword || error.code == .instanceNotFound {
            throw FerryError(.copyError, "the copy's load role \(role.name) could not log in to \(shadow) on \(instanceName): \(error.message)",
                             hint: "copies load as a throwaway role that owns only the shadow's objects; pg_hba.conf must let a password (scram-sha-256) login of any role reach the shadow from Ferry's host. Nothing was changed",
                             instance: instanceName)
        }
    }

    /// `ALTER ... OWNER TO` statements giving `role` every object of the current database that
    /// `current_user` owns and that can carry code or rights: schemas, relations (not indexes,
    /// TOAST tables or sequences owned by a column, which follow their table), routines and
    /// types (not array or multirange types, which follow theirs), large objects (a restore
    /// writes the data of those its pre-data made); never an extension's member
    /// or anything in `pg_catalog`, `information_schema` or `pg_toast`; and `USAGE, CREATE` on
    /// the other schemas (`public`, owned by `pg_database_owner`: `CREATE INDEX` needs `CREATE`
    /// in its table's schema). `DROP OWNED` at the end revokes those.
    ///
    /// `grantingSchemas`: the `GRANT` on the other schemas (a load role's, not a final owner's).
    static func handOverStatements(to role: String, grantingSchemas: Bool = true) -> String {
        let r = quoteLiteral(role)
        let mine = "(SELECT oid FROM me)"
        let grants = grantingSchemas ? """
            UNION ALL
            SELECT format('GRANT USAGE, CREATE ON SCHEMA %I TO %I', n.nspname, \(r)) FROM pg_namespace n
             WHERE n.nspowner <> (SELECT oid FROM me) AND n.oid NOT IN (SELECT oid FROM sys)
               AND (n.tableoid, n.oid) NOT IN (SELECT classid, objid FROM ext)
            """ : ""
        return """
            WITH me AS (SELECT oid FROM pg_roles WHERE rolname = current_user),
            new_owner AS (SELECT oid FROM pg_roles WHERE rolname = \(r)),
            sys AS (SELECT oid FROM pg_namespace WHERE nspname IN ('pg_catalog', 'information_schema') OR nspname LIKE 'pg\\_toast%' OR nspname LIKE 'pg\\_temp%'),
            ext AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e')
            SELECT format('ALTER SCHEMA %I OWNER TO %I', n.nspname, \(r)) FROM pg_namespace n
             WHERE n.nspowner IN \(mine) AND n.nspowner <> (SELECT oid FROM new_owner) AND n.oid NOT IN (SELECT oid FROM sys)
               AND n.nspowner IS DISTINCT FROM (SELECT oid FROM pg_roles WHERE rolname = 'pg_database_owner')
               AND (n.tableoid, n.oid) NOT IN (SELECT classid, objid FROM ext)
            \(grants)
            UNION ALL
            SELECT format('ALTER %s %s OWNER TO %I', CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                          WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'c' THEN 'TYPE' ELSE 'TABLE' END, c.oid::regclass, \(r)) FROM pg_class c
             WHERE c.relowner IN \(mine) AND c.relowner <> (SELECT oid FROM new_owner) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c') AND c.relnamespace NOT IN (SELECT oid FROM sys)
               AND (c.tableoid, c.oid) NOT IN (SELECT classid, objid FROM ext)
               AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                                     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
            UNION ALL
            SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, \(r)) FROM pg_proc p
             WHERE p.proowner IN \(mine) AND p.proowner <> (SELECT oid FROM new_owner) AND p.pronamespace NOT IN (SELECT oid FROM sys)
               AND (p.tableoid, p.oid) NOT IN (SELECT classid, objid FROM ext)
            UNION ALL
            SELECT format('ALTER TYPE %s OWNER TO %I', t.oid::regtype, \(r)) FROM pg_type t
             WHERE t.typowner IN \(mine) AND t.typowner <> (SELECT oid FROM new_owner) AND t.typtype IN ('b', 'd', 'e', 'r') AND t.typnamespace NOT IN (SELECT oid FROM sys)
               AND (t.tableoid, t.oid) NOT IN (SELECT classid, objid FROM ext)
               AND NOT EXISTS (SELECT 1 FROM pg_type a WHERE a.typarray = t.oid)
            UNION ALL
            SELECT format('ALTER LARGE OBJECT %s OWNER TO %I', m.oid, \(r)) FROM pg_largeobject_metadata m
             WHERE m.lomowner IN \(mine) AND m.lomowner <> (SELECT oid FROM new_owner)
            """
    }
}

extension PostgresSession {
    /// Throws CopyError unless `owner` is a role of this server without server-level rights
    /// (`powerfulRole`): what the copy makes runs code with its owner's rights.
    func checkCopyOwner(_ owner: String) throws {
        let row = try run(.copyError, "cannot read role \(owner) on \(instanceName)") {
            try connection.query("SELECT \(Self.powerfulRole)::text FROM pg_roles r WHERE r.rolname = \(quoteLiteral(owner))").first
        }
        guard let row else {
            throw FerryError(.copyError, "the copy's owner \(owner) is not a role of \(instanceName)",
                             hint: "create the role first, or name another in the copy's \"owner\"; nothing was copied", instance: instanceName)
        }
        guard row[0] == "false" else {
            throw FerryError(.copyError, "the copy's owner \(owner) has server-level rights (a superuser, CREATEROLE, BYPASSRLS, REPLICATION, or a member of pg_execute_server_program and the like); what the copy makes would run code with them",
                             hint: "name an ordinary role in the copy's \"owner\"; nothing was copied", instance: instanceName)
        }
    }

    /// Refuses (`CopyError`) a copy that would leave code of the source owned by a role with
    /// server-level rights: when Ferry's user is such a role, the copy names no `owner` and does
    /// not sync users, and the shadow (`admin`: Ferry's session there, after the pre-data) holds
    /// routines, views, materialized views or rules of the source (not an extension's). PostgreSQL
    /// runs their code with their owner's rights (`SECURITY DEFINER`, views, autovacuum over
    /// expression indexes), as it would for any file an import makes (SPEC §6).
    func requireOrdinaryOwner(of database: String, admin: PostgresConnection, options: CopyOptions) throws {
        guard options.owner == nil, !options.syncsUsers,
              try connection.scalar("SELECT (\(Self.powerfulRole))::text FROM pg_roles r WHERE r.rolname = current_user") == "true" else { return }
        let count = try run(.copyError, "cannot read the schema of \(database)") {
            try admin.scalar(Self.codeObjectCount)
        } ?? "0"
        guard count == "0" else {
            throw FerryError(.copyError, "\(database) holds \(count) routine(s), view(s) or rule(s), and Ferry's user on \(instanceName) has server-level rights: as their owner after the copy it would run their code with those rights (SECURITY DEFINER functions, views, autovacuum over expression indexes)",
                             hint: "set the copy's \"owner\" to an ordinary role of \(instanceName) (it then owns what the copy makes), or users: \"sync\" to give the source's owners; nothing was copied",
                             instance: instanceName)
        }
    }

    /// One row, one column: how many routines, views, materialized views and rules (on tables)
    /// the connected database holds outside the system schemas and not an extension's: code
    /// PostgreSQL runs with its owner's rights.
    static let codeObjectCount = """
        WITH sys AS (SELECT oid FROM pg_namespace WHERE nspname IN ('pg_catalog', 'information_schema') OR nspname LIKE 'pg\\_toast%'),
        ext AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e')
        SELECT (SELECT count(*) FROM pg_proc p WHERE p.pronamespace NOT IN (SELECT oid FROM sys) AND (p.tableoid, p.oid) NOT IN (SELECT classid, objid FROM ext))
             + (SELECT count(*) FROM pg_class c WHERE c.relkind IN ('v', 'm') AND c.relnamespace NOT IN (SELECT oid FROM sys) AND (c.tableoid, c.oid) NOT IN (SELECT classid, objid FROM ext))
             + (SELECT count(*) FROM pg_rewrite w JOIN pg_class c ON c.oid = w.ev_class WHERE c.relkind IN ('r', 'p') AND c.relnamespace NOT IN (SELECT oid FROM sys))
        """

    /// `giveOwner` in a transaction of its own.
    func giveOwnerInTransaction(_ owner: String, admin: PostgresConnection) throws {
        try run(.copyError, "cannot give the copy's objects to \(owner) on \(instanceName)") {
            try admin.execute("BEGIN")
            do {
                try giveOwner(owner, admin: admin)
                try admin.execute("COMMIT")
            } catch {
                try? admin.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// Gives `owner` the shadow's schemas, relations, routines, types and large objects
    /// (`handOverStatements`) of Ferry's user, inside the
    /// transaction `admin` (Ferry's session in the shadow) has open.
    func giveOwner(_ owner: String, admin: PostgresConnection) throws {
        let statements = try admin.query(PostgresLoadRole.handOverStatements(to: owner, grantingSchemas: false))
            .compactMap { $0[0] }
        if !statements.isEmpty { try admin.execute(statements.joined(separator: "; ")) }
    }

    /// Makes the load role of a copy into `shadow`, before its pre-data section: the import
    /// role's name, marker and attributes, owning the (empty) shadow, so that it creates the
    /// schema itself (`restorePreData`); nil when Ferry's user may not create roles.
    /// `connections`: the role's connection limit (its loaders). Throws CopyError when a role of
    /// that name exists (it is not Ferry's).
    func createLoadRole(for shadow: String, connections: Int) throws -> PostgresLoadRole? {
        guard let made = try createImportRole(for: shadow, connectionLimit: connections, ownsShadow: true, code: .copyError) else { return nil }
        KillPoint.check("change:postgres.load-role.created")
        return PostgresLoadRole(role: made.role, address: made.role.address(from: address), shadow: shadow, instanceName: instanceName,
                                row: made.row)
    }

    /// After the pre-data section: gives the role what Ferry's user made there (an extension's
    /// schema objects aside: nothing, unless Ferry created the schema itself), and takes the
    /// digest of the schema the load must leave as it is (`schemaDigest`).
    func sealLoadRole(_ load: inout PostgresLoadRole, admin: PostgresConnection) throws {
        try run(.copyError, "cannot give the schema of \(load.shadow) to its load role on \(instanceName)") {
            let statements = try admin.query(PostgresLoadRole.handOverStatements(to: load.role.name)).compactMap { $0[0] }
            do {
                try admin.execute("BEGIN; " + statements.joined(separator: "; ") + (statements.isEmpty ? "" : ";") + " COMMIT")
                load.schema = try admin.scalar(PostgresLoadRole.schemaDigest) ?? ""
            } catch {
                try? admin.execute("ROLLBACK")
                throw error
            }
        }
        KillPoint.check("change:postgres.load-role.handed")
    }

    /// A copy's build into `shadow` as its load role, from start to end, in one place for every
    /// kind of copy (streamed, from a backup set's archive): the role is made (`createLoadRole`),
    /// the pre-data section of the custom-format archive `preData` restored (`restorePreData`),
    /// the copy's owner required where its code needs one (`requireOrdinaryOwner`, `source`
    /// names the database or archive), the role sealed (`sealLoadRole`); then `body` loads the
    /// rows and post-data with the role (nil: Ferry's user may not create roles and loads as
    /// itself); then what was made goes to `options.owner` or Ferry's user (`settleLoadRole`).
    /// A failure anywhere drops the role and what it made. `admin`: Ferry's session in the shadow.
    @discardableResult
    func buildAsLoadRole<T>(_ shadow: String, preData: String, admin: PostgresConnection, source: String, options: CopyOptions,
                            connections: Int, code: ErrorCode, cancellation: ProgressCounter?,
                            _ body: (PostgresLoadRole?) throws -> T) throws -> T {
        var load = try createLoadRole(for: shadow, connections: connections)
        var settled = false
        defer { if load != nil && !settled { _ = try? dropImportRole(forShadow: shadow) } }
        try run(code, "cannot create the schema of \(source) in \(shadow) on \(instanceName)") {
            try restorePreData(archive: preData, into: shadow, load: load, code: code, cancellation: cancellation)
        }
        try requireOrdinaryOwner(of: source, admin: admin, options: options)
        if var sealed = load {
            try sealLoadRole(&sealed, admin: admin)
            load = sealed
        }
        let result = try body(load)
        if let load {
            try settleLoadRole(load, admin: admin, owner: options.owner)
            settled = true
        } else if let owner = options.owner {
            try giveOwnerInTransaction(owner, admin: admin)
        }
        return result
    }

    /// Restores the pre-data section of the custom-format `archive` into `shadow`: extensions
    /// (and their comments) as Ferry's user, who may create them; every other entry as `load`'s
    /// role, since some DDL runs the source's code as it is created (an aggregate's initial
    /// value or a partition's bounds checked against a domain whose CHECK calls a function: a
    /// fresh tester's superuser through each). Entries go in the archive's order, in runs of
    /// one kind, each run by `pg_restore --use-list` in one transaction. Without a role, all of
    /// it as Ferry's user (then an ordinary role itself).
    func restorePreData(archive: String, into shadow: String, load: PostgresLoadRole?, code: ErrorCode,
                        cancellation: ProgressCounter?) throws {
        let ferry = PostgresTools(address: address, instanceName: instanceName)
        let flags = ["--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error", "--no-publications",
                     "--no-subscriptions", "--section=pre-data"]
        guard let load else {
            try ferry.run("pg_restore", flags + [archive], database: shadow, code: code, cancellation: cancellation)
            return
        }
        let role = PostgresTools(address: load.address, instanceName: instanceName)
        let toc = String(decoding: try PostgresTools.runLocally("pg_restore", ["--list", "--", archive], code: code, instanceName: instanceName),
                         as: UTF8.self)
        var runs: [(superuser: Bool, lines: [String])] = []
        let entries = toc.split(separator: "\n").map(String.init).filter { $0.range(of: #"^[0-9]+; "#, options: .regularExpression) != nil }
        let extensions = Self.extensionEntries(entries)
        for line in entries {
            let superuser = extensions.contains(line)
            if runs.last?.superuser == superuser { runs[runs.count - 1].lines.append(line) } else { runs.append((superuser, [line])) }
        }
        let directory = try ScratchFiles.makeDirectory(in: address.scratch, "pg-pre-data-lists")
        defer { try? FileManager.default.removeItem(at: directory) }
        for (index, run) in runs.enumerated() {
            let list = directory.appendingPathComponent("\(index).list")
            try Data((run.lines.joined(separator: "\n") + "\n").utf8).write(to: list)
            if run.superuser {
                // Never the archive's own text as Ferry's user: an archive in a backup location is
                // a file anyone who may write there can change (a fresh tester appended SQL to a
                // CREATE EXTENSION entry). Ferry runs statements it builds itself instead.
                let script = String(decoding: try PostgresTools.runLocally("pg_restore", ["--use-list", list.path, "--file", "-", "--", archive],
                                                                            code: code, instanceName: instanceName), as: UTF8.self)
                let admin = try open(shadow)
                defer { admin.close() }
                for statement in try Self.extensionStatements(script, code: code) { try admin.execute(statement) }
            } else {
                try role.run("pg_restore", flags + ["--use-list", list.path, archive], database: shadow, code: code, cancellation: cancellation)
            }
        }
    }

    /// The statements Ferry runs for the extension entries of a pre-data archive, rebuilt from
    /// `script` (`pg_restore --file -` of those entries alone): each `CREATE EXTENSION IF NOT
    /// EXISTS name WITH SCHEMA schema;` and `COMMENT ON EXTENSION name IS 'text';` as pg_dump
    /// writes them (`dumpExtension`, `dumpComment`), re-quoted by Ferry; any other statement, or
    /// one of another shape, is `code` naming it. Session settings (`SET`, `SELECT
    /// pg_catalog.set_config('search_path', '', false);`) and comments are skipped.
    static func extensionStatements(_ script: String, code: ErrorCode) throws -> [String] {
        let ident = #"("(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)"#
        func unquote(_ s: String) -> String {
            s.hasPrefix("\"") ? String(s.dropFirst().dropLast()).replacingOccurrences(of: "\"\"", with: "\"") : s
        }
        var out: [String] = []
        var scanner = SQLStatementScanner(dialect: .postgres)
        for statement in scanner.feed(Array(script.utf8)) + scanner.finish() where statement.kind == .statement {
            var sql = String(decoding: statement.text, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            while sql.hasSuffix(";") { sql = String(sql.dropLast()).trimmingCharacters(in: .whitespacesAndNewlines) }
            if sql.isEmpty || sql.hasPrefix("SET ") || sql == "SELECT pg_catalog.set_config('search_path', '', false)" { continue }
            if let m = sql.firstMatch(of: try Regex("^CREATE EXTENSION IF NOT EXISTS \(ident) WITH SCHEMA \(ident)$")) {
                let name = unquote(String(m.output[1].substring ?? "")), schema = unquote(String(m.output[2].substring ?? ""))
                out.append("CREATE EXTENSION IF NOT EXISTS \(quoteIdent(name)) WITH SCHEMA \(quoteIdent(schema))")
            } else if let m = sql.firstMatch(of: try Regex("^COMMENT ON EXTENSION \(ident) IS '((?:[^']|'')*)'$").dotMatchesNewlines()) {
                let name = unquote(String(m.output[1].substring ?? ""))
                let text = String(m.output[2].substring ?? "").replacingOccurrences(of: "''", with: "'")
                out.append("COMMENT ON EXTENSION \(quoteIdent(name)) IS \(quoteLiteral(text))")
            } else {
                throw FerryError(code,
                                 "an extension entry of the archive holds a statement Ferry does not run: \(sql.prefix(160))",
                                 hint: "the archive was changed after pg_dump wrote it; nothing was restored from it")
            }
        }
        return out
    }

    /// The table-of-contents lines (`pg_restore --list`, as `PrintTOCSummary` prints them:
    /// `ID; TABLEOID OID DESC SCHEMA TAG OWNER`, `-` for no schema) of the extensions and of
    /// the comments on them. An extension's line is told by its catalog, `pg_extension` (oid
    /// 3079, `ExtensionRelationId`), which no name can forge; a comment's by being exactly
    /// `ID; 0 0 COMMENT - EXTENSION <name> ` (pg_dump quotes the name as `fmtId` does, and a
    /// comment on an extension has no owner) for one of those extensions. Names are not quoted
    /// in the list, so a comment on a table of a schema named `- EXTENSION x` reads
    /// `COMMENT - EXTENSION x TABLE t owner`: that is the table's, run by the load role.
    static func extensionEntries(_ lines: [String]) -> Set<String> {
        var result: Set<String> = [], names: [String] = []
        for line in lines {
            guard let match = line.range(of: #"^[0-9]+; 3079 [0-9]+ EXTENSION - "#, options: .regularExpression), line.hasSuffix(" ") else { continue }
            result.insert(line)
            names.append(String(line[match.upperBound...].dropLast()))
        }
        let quoted = Set(names.flatMap { [$0, quoteIdent($0)] })
        for line in lines {
            guard let match = line.range(of: #"^[0-9]+; 0 0 COMMENT - EXTENSION "#, options: .regularExpression), line.hasSuffix(" "),
                  quoted.contains(String(line[match.upperBound...].dropLast())) else { continue }
            result.insert(line)
        }
        return result
    }

    /// After the load: ends the role's sessions, gives what it owns in the shadow to the copy's
    /// `owner` (else Ferry's user) and drops its grants, and gives the owner what Ferry's user
    /// made (large objects), in one transaction in `admin` (Ferry's session in the shadow); then
    /// drops the role.
    func settleLoadRole(_ load: PostgresLoadRole, admin: PostgresConnection, owner: String?) throws {
        try run(.copyError, "cannot take shadow \(load.shadow) back from its load role on \(instanceName)") {
            try terminateSessions(of: load.role.name)
            guard try databaseRow(load.shadow) == load.row else {
                throw FerryError(.copyError, "the source's code changed the settings of the copy's database while it loaded (comment, connections, ACL or ALTER DATABASE ... SET)",
                                 hint: "a CHECK constraint, generated column, index expression or materialized view of the source ran code that altered the database; the target was not changed",
                                 instance: instanceName)
            }
            guard try admin.scalar(PostgresLoadRole.schemaDigest) == load.schema else {
                throw FerryError(.copyError, "the source's code changed the schema of the copy while it loaded (a routine, type, table, column, default or view of \(load.shadow) is not as the source defined it)",
                                 hint: "a CHECK constraint, generated column, index expression or materialized view of the source ran code that redefined objects; the target was not changed",
                                 instance: instanceName)
            }
            let name = quoteIdent(load.role.name)
            do {
                let to = owner.map(quoteIdent) ?? "CURRENT_USER"
                // The shadow itself belongs to Ferry's user, as every database Ferry makes.
                try admin.execute("BEGIN; ALTER DATABASE \(quoteIdent(load.shadow)) OWNER TO CURRENT_USER; REASSIGN OWNED BY \(name) TO \(to); DROP OWNED BY \(name)")
                if let owner { try giveOwner(owner, admin: admin) }
                try admin.execute("COMMIT")
            } catch {
                try? admin.execute("ROLLBACK")
                throw error
            }
            KillPoint.check("change:postgres.load-role.settled")
            try dropImportRole(forShadow: load.shadow)
        }
    }
}

extension PostgresLoadRole {
    /// `ALTER ... OWNER TO <its owner>` for every object of the current database that pg_dump
    /// would give an owner: schemas, relations, routines, types, operators, operator classes and
    /// families, collations, conversions, text search dictionaries and configurations, statistics
    /// objects, foreign-data wrappers and servers, large objects (not an extension's member, nothing in
    /// `pg_catalog`, `information_schema` or `pg_toast`). Built from the catalogs with the server's
    /// own quoting (`format('%I')`, `::regclass`, `::regprocedure`, `::regtype`,
    /// `pg_identify_object`), never read back from dump text a source's author could shape.
    static let sourceOwnerStatements = """
        WITH sys AS (SELECT oid FROM pg_namespace WHERE nspname IN ('pg_catalog', 'information_schema') OR nspname LIKE 'pg\\_toast%' OR nspname LIKE 'pg\\_temp%'),
        ext AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e'),
        objects(kind, identity, owner, tableoid, oid) AS (
          SELECT 'SCHEMA', quote_ident(n.nspname), n.nspowner, n.tableoid, n.oid FROM pg_namespace n WHERE n.oid NOT IN (SELECT oid FROM sys)
          UNION ALL
          SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                      WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'c' THEN 'TYPE' ELSE 'TABLE' END, c.oid::regclass::text, c.relowner, c.tableoid, c.oid
            FROM pg_class c WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c') AND c.relnamespace NOT IN (SELECT oid FROM sys)
             AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                                   AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
          UNION ALL
          SELECT 'ROUTINE', p.oid::regprocedure::text, p.proowner, p.tableoid, p.oid FROM pg_proc p WHERE p.pronamespace NOT IN (SELECT oid FROM sys)
          UNION ALL
          SELECT 'TYPE', t.oid::regtype::text, t.typowner, t.tableoid, t.oid FROM pg_type t
           WHERE t.typtype IN ('b', 'd', 'e', 'r') AND t.typnamespace NOT IN (SELECT oid FROM sys)
             AND NOT EXISTS (SELECT 1 FROM pg_type a WHERE a.typarray = t.oid)
          UNION ALL SELECT 'OPERATOR', (pg_identify_object(o.tableoid, o.oid, 0)).identity, o.oprowner, o.tableoid, o.oid FROM pg_operator o WHERE o.oprnamespace NOT IN (SELECT oid FROM sys)
          UNION ALL SELECT 'OPERATOR CLASS', (pg_identify_object(o.tableoid, o.oid, 0)).identity, o.opcowner, o.tableoid, o.oid FROM pg_opclass o WHERE o.opcnamespace NOT IN (SELECT oid FROM sys)
          UNION ALL SELECT 'OPERATOR FAMILY', (pg_identify_object(o.tableoid, o.oid, 0)).identity, o.opfowner, o.tableoid, o.oid FROM pg_opfamily o WHERE o.opfnamespace NOT IN (SELECT oid FROM sys)
          UNION ALL SELECT 'COLLATION', (pg_identify_object(o.tableoid, o.oid, 0)).identity, o.collowner, o.tableoid, o.oid FROM pg_collation o WHERE o.collnamespace NOT IN (SELECT oid FROM sys)
          UNION ALL SELECT 'CONVERSION', (pg_identify_object(o.tableoid, o.oid, 0)).identity, o.conowner, o.tableoid, o.oid FROM pg_conversion o WHERE o.connamespace NOT IN (SELECT oid FROM sys)
          UNION ALL SELECT 'TEXT SEARCH DICTIONARY', (pg_identify_object(o.tableoid, o.oid, 0)).identity, o.dictowner, o.tableoid, o.oid FROM pg_ts_dict o WHERE o.dictnamespace NOT IN (SELECT oid FROM sys)
          UNION ALL SELECT 'TEXT SEARCH CONFIGURATION', (pg_identify_object(o.tableoid, o.oid, 0)).identity, o.cfgowner, o.tableoid, o.oid FROM pg_ts_config o WHERE o.cfgnamespace NOT IN (SELECT oid FROM sys)
          UNION ALL SELECT 'STATISTICS', (pg_identify_object(o.tableoid, o.oid, 0)).identity, o.stxowner, o.tableoid, o.oid FROM pg_statistic_ext o WHERE o.stxnamespace NOT IN (SELECT oid FROM sys)
          UNION ALL SELECT 'FOREIGN DATA WRAPPER', quote_ident(o.fdwname), o.fdwowner, o.tableoid, o.oid FROM pg_foreign_data_wrapper o
          UNION ALL SELECT 'SERVER', quote_ident(o.srvname), o.srvowner, o.tableoid, o.oid FROM pg_foreign_server o
          UNION ALL SELECT 'LARGE OBJECT', o.oid::text, o.lomowner, o.tableoid, o.oid FROM pg_largeobject_metadata o)
        SELECT format('ALTER %s %s OWNER TO %I', kind, identity, pg_get_userbyid(owner)) FROM objects
         WHERE (tableoid, oid) NOT IN (SELECT classid, objid FROM ext) AND pg_get_userbyid(owner) !~ '^pg_'
        """
}
