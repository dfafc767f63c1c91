import FerryCore
import Foundation

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
    static func handOverStatements(to role: String) -> String {
        let r = quoteLiteral(role)
        return """
            WITH me AS (SELECT oid FROM pg_roles WHERE rolname = current_user),
            sys AS (SELECT oid FROM pg_namespace WHERE nspname IN ('pg_catalog', 'information_schema') OR nspname LIKE 'pg\\_toast%' OR nspname LIKE 'pg\\_temp%'),
            ext AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e')
            SELECT format('ALTER SCHEMA %I OWNER TO %I', n.nspname, \(r)) FROM pg_namespace n
             WHERE n.nspowner = (SELECT oid FROM me) AND n.oid NOT IN (SELECT oid FROM sys)
               AND (n.tableoid, n.oid) NOT IN (SELECT classid, objid FROM ext)
            UNION ALL
            SELECT format('GRANT USAGE, CREATE ON SCHEMA %I TO %I', n.nspname, \(r)) FROM pg_namespace n
             WHERE n.nspowner <> (SELECT oid FROM me) AND n.oid NOT IN (SELECT oid FROM sys)
               AND (n.tableoid, n.oid) NOT IN (SELECT classid, objid FROM ext)
            UNION ALL
            SELECT format('ALTER %s %s OWNER TO %I', CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                          WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'c' THEN 'TYPE' ELSE 'TABLE' END, c.oid::regclass, \(r)) FROM pg_class c
             WHERE c.relowner = (SELECT oid FROM me) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c') AND c.relnamespace NOT IN (SELECT oid FROM sys)
               AND (c.tableoid, c.oid) NOT IN (SELECT classid, objid FROM ext)
               AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                                     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
            UNION ALL
            SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, \(r)) FROM pg_proc p
             WHERE p.proowner = (SELECT oid FROM me) AND p.pronamespace NOT IN (SELECT oid FROM sys)
               AND (p.tableoid, p.oid) NOT IN (SELECT classid, objid FROM ext)
            UNION ALL
            SELECT format('ALTER TYPE %s OWNER TO %I', t.oid::regtype, \(r)) FROM pg_type t
             WHERE t.typowner = (SELECT oid FROM me) AND t.typtype IN ('b', 'd', 'e', 'r') AND t.typnamespace NOT IN (SELECT oid FROM sys)
               AND (t.tableoid, t.oid) NOT IN (SELECT classid, objid FROM ext)
               AND NOT EXISTS (SELECT 1 FROM pg_type a WHERE a.typarray = t.oid)
            UNION ALL
            SELECT format('ALTER LARGE OBJECT %s OWNER TO %I', m.oid, \(r)) FROM pg_largeobject_metadata m
             WHERE m.lomowner = (SELECT oid FROM me)
            """
    }
}

extension PostgresSession {
    /// Makes the load role of a copy into `shadow` and gives it the schema objects the pre-data
    /// section made (`admin`: Ferry's session in the shadow), in one transaction; nil when Ferry's
    /// user may not create roles. `connections`: the role's connection limit (its loaders).
    /// Throws CopyError when a role of that name exists (it is not Ferry's).
    func createLoadRole(for shadow: String, connections: Int, admin: PostgresConnection) throws -> PostgresLoadRole? {
        guard let made = try createImportRole(for: shadow, connectionLimit: connections, ownsShadow: false, code: .copyError) else { return nil }
        let load = PostgresLoadRole(role: made.role, address: made.role.address(from: address), shadow: shadow, instanceName: instanceName)
        do {
            try run(.copyError, "cannot give the schema of \(shadow) to its load role on \(instanceName)") {
                let statements = try admin.query(PostgresLoadRole.handOverStatements(to: made.role.name)).compactMap { $0[0] }
                do {
                    try admin.execute("BEGIN; " + statements.joined(separator: "; ") + (statements.isEmpty ? "" : ";") + " COMMIT")
                } catch {
                    try? admin.execute("ROLLBACK")
                    throw error
                }
            }
        } catch {
            _ = try? dropImportRole(forShadow: shadow)
            throw error
        }
        KillPoint.check("change:postgres.load-role.handed")
        return load
    }

    /// After the load: ends the role's sessions, gives what it owns in the shadow to Ferry's user
    /// and drops its grants (one transaction in `admin`, Ferry's session in the shadow), then
    /// drops the role.
    func settleLoadRole(_ load: PostgresLoadRole, admin: PostgresConnection) throws {
        try run(.copyError, "cannot take shadow \(load.shadow) back from its load role on \(instanceName)") {
            try terminateSessions(of: load.role.name)
            let name = quoteIdent(load.role.name)
            do {
                try admin.execute("BEGIN; REASSIGN OWNED BY \(name) TO CURRENT_USER; DROP OWNED BY \(name); COMMIT")
            } catch {
                try? admin.execute("ROLLBACK")
                throw error
            }
            KillPoint.check("change:postgres.load-role.settled")
            try dropImportRole(forShadow: load.shadow)
        }
    }
}
