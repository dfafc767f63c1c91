import FerryCore
import Foundation

extension PostgresSession {
    /// True when `other` reaches the same server (host and port) as this session.
    func isSameServer(as other: PostgresSession) -> Bool {
        let host = { (h: String) in h == "localhost" ? "127.0.0.1" : h }
        return host(address.host) == host(other.address.host) && address.port == other.address.port
    }

    /// The same-server fast path: the (empty, marked) shadow is dropped and made again as
    /// `CREATE DATABASE shadow TEMPLATE database`, a file-level copy. PostgreSQL refuses it while
    /// any other session is connected to `database`; then the shadow is made empty again and
    /// the caller copies with COPY streams. Returns whether the template copy was made.
    func copyByTemplate(_ database: String, into shadow: String) throws -> Bool {
        guard try sessions(on: database).isEmpty, try isOwnDerived(shadow) else { return false }
        let options = try creationOptions(like: database)
        try connection.execute("DROP DATABASE IF EXISTS \(quoteIdent(shadow)) WITH (FORCE)")
        var made = true
        do {
            try createMarkedDatabase(shadow, clause: "TEMPLATE \(quoteIdent(database))")
        } catch let error as PostgresServerError where error.sqlState == "55006" {
            made = false   // a session came in meanwhile: an empty shadow again, and COPY
            try createMarkedDatabase(shadow, clause: "TEMPLATE template0\(options)")
        }
        return made
    }

    /// Gives `shadow` the database-level settings of `database` on `source` (`ALTER DATABASE ...
    /// SET`, and `ALTER ROLE ... IN DATABASE ... SET` for roles this server has) and its
    /// database privileges (`GRANT ... ON DATABASE`, to `PUBLIC` and to roles this server has),
    /// which neither `pg_dump --section` nor `CREATE DATABASE ... TEMPLATE` carry. Returns the
    /// settings and grants left out because their role is missing here, one line each.
    @discardableResult
    func carryDatabaseSettings(from source: PostgresSession, database: String, into shadow: String) throws -> [String] {
        let roles = Set(try connection.query("SELECT rolname FROM pg_roles").compactMap { $0[0] })
        var skipped: [String] = []
        let settings = try source.connection.query("""
            SELECT coalesce(r.rolname, ''), s.setting FROM pg_db_role_setting d JOIN pg_database db ON db.oid = d.setdatabase
            LEFT JOIN pg_roles r ON r.oid = d.setrole, unnest(d.setconfig) AS s(setting)
            WHERE db.datname = \(quoteLiteral(database)) ORDER BY 1, 2
            """)
        for row in settings {
            guard let role = row[0], let setting = row[1], let eq = setting.firstIndex(of: "=") else { continue }
            let name = String(setting[..<eq]), value = String(setting[setting.index(after: eq)...])
            let clause = "SET \(quoteIdent(name)) = \(quoteLiteral(value))"
            if role.isEmpty {
                try connection.execute("ALTER DATABASE \(quoteIdent(shadow)) \(clause)")
            } else if roles.contains(role) {
                try connection.execute("ALTER ROLE \(quoteIdent(role)) IN DATABASE \(quoteIdent(shadow)) \(clause)")
            } else {
                skipped.append("setting \(name) of role \(role) (no such role here)")
            }
        }
        let acl = try source.connection.query("""
            SELECT coalesce(g.rolname, ''), a.privilege_type, a.is_grantable FROM pg_database db,
              aclexplode(db.datacl) a LEFT JOIN pg_roles g ON g.oid = a.grantee
            WHERE db.datname = \(quoteLiteral(database)) AND db.datacl IS NOT NULL
            """)
        guard !acl.isEmpty else { return skipped }
        try connection.execute("REVOKE ALL ON DATABASE \(quoteIdent(shadow)) FROM PUBLIC")
        for row in acl {
            guard let grantee = row[0], let privilege = row[1] else { continue }
            let to = grantee.isEmpty ? "PUBLIC" : quoteIdent(grantee)
            guard grantee.isEmpty || roles.contains(grantee) else {
                skipped.append("\(privilege) on the database to \(grantee) (no such role here)")
                continue
            }
            try connection.execute("GRANT \(privilege) ON DATABASE \(quoteIdent(shadow)) TO \(to)\(row[2] == "t" ? " WITH GRANT OPTION" : "")")
        }
        return skipped
    }
}
