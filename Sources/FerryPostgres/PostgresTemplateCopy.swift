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

    /// The settings PostgreSQL stores as lists of quoted names (`GUC_LIST_QUOTE`; pg_dump's
    /// `variable_is_guc_list_quote`): their stored text is a list, not one value.
    static let listSettings: Set<String> = ["local_preload_libraries", "search_path", "session_preload_libraries",
                                            "shared_preload_libraries", "temp_tablespaces", "unix_socket_directories"]

    /// `SET name = value` for a setting as `pg_db_role_setting` stores it (`name=value`): one
    /// literal, or for a list setting one literal per element (`search_path = 'public',
    /// 'pg_catalog'`, as pg_dump writes it), so `public, pg_catalog` stays two schemas.
    static func settingClause(_ name: String, _ value: String) -> String {
        guard listSettings.contains(name.lowercased()) else { return "SET \(quoteIdent(name)) = \(quoteLiteral(value))" }
        let elements = splitList(value)
        return "SET \(quoteIdent(name)) = " + (elements.isEmpty ? "''" : elements.map(quoteLiteral).joined(separator: ", "))
    }

    /// A stored list setting's elements, as PostgreSQL's `SplitGUCList` reads them: separated by
    /// commas, blanks around them dropped, an element in double quotes kept as written inside
    /// (`""` for one quote).
    static func splitList(_ text: String) -> [String] {
        var elements: [String] = [], current = "", quoted = false, wasQuoted = false
        var chars = Array(text)[...]
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" { current.append("\""); chars.removeFirst() } else { quoted = false }
                } else { current.append(c) }
            } else if c == "\"" {
                quoted = true; wasQuoted = true
            } else if c == "," {
                elements.append(wasQuoted ? current : current.trimmingCharacters(in: .whitespaces))
                current = ""; wasQuoted = false
            } else if !(c == " " || c == "\t") || (!current.isEmpty && !wasQuoted) {
                current.append(c)
            }
        }
        let last = wasQuoted ? current : current.trimmingCharacters(in: .whitespaces)
        if !last.isEmpty || wasQuoted || !elements.isEmpty { elements.append(last) }
        return elements
    }

    /// Gives `shadow` the database-level settings of `database` on `source` (`ALTER DATABASE ...
    /// SET`, and `ALTER ROLE ... IN DATABASE ... SET` for roles this server has) and its
    /// database privileges (`GRANT ... ON DATABASE`, to `PUBLIC` and to roles this server has),
    /// which neither `pg_dump --section` nor `CREATE DATABASE ... TEMPLATE` carry. Returns the
    /// settings and grants left out because their role is missing here, one line each.
    @discardableResult
    func carryDatabaseSettings(from source: PostgresSession, database: String, into shadow: String,
                               trusted: Bool = false, settings carriesSettings: Bool = true, acl carriesACL: Bool = true) throws -> [String] {
        // Settings for a role with server-level rights here are carried only from a database
        // of this server (`trusted`: the one a swap replaces): a source's author could otherwise
        // choose the search_path of the target's superuser in the copy.
        let all = try connection.query("SELECT r.rolname, (\(Self.powerfulRole))::text FROM pg_roles r")
        let powerful = trusted ? [] : Set(all.filter { $0[1] == "true" }.compactMap { $0[0] })
        let roles = Set(all.compactMap { $0[0] }).subtracting(powerful)
        var skipped: [String] = []
        let settings = try source.connection.query("""
            SELECT coalesce(r.rolname, ''), s.setting FROM pg_db_role_setting d JOIN pg_database db ON db.oid = d.setdatabase
            LEFT JOIN pg_roles r ON r.oid = d.setrole, unnest(d.setconfig) AS s(setting)
            WHERE db.datname = \(quoteLiteral(database)) ORDER BY 1, 2
            """)
        for row in settings where carriesSettings {
            guard let role = row[0], let setting = row[1], let eq = setting.firstIndex(of: "=") else { continue }
            let name = String(setting[..<eq]), value = String(setting[setting.index(after: eq)...])
            let clause = Self.settingClause(name, value)
            if role.isEmpty {
                try connection.execute("ALTER DATABASE \(quoteIdent(shadow)) \(clause)")
            } else if roles.contains(role) {
                try connection.execute("ALTER ROLE \(quoteIdent(role)) IN DATABASE \(quoteIdent(shadow)) \(clause)")
            } else if powerful.contains(role) {
                skipped.append("setting \(name) of role \(role) (it has server-level rights here)")
            } else {
                skipped.append("setting \(name) of role \(role) (no such role here)")
            }
        }
        let acl = try source.connection.query("""
            SELECT coalesce(g.rolname, ''), a.privilege_type, a.is_grantable FROM pg_database db,
              aclexplode(db.datacl) a LEFT JOIN pg_roles g ON g.oid = a.grantee
            WHERE db.datname = \(quoteLiteral(database)) AND db.datacl IS NOT NULL
            """)
        guard carriesACL, !acl.isEmpty else { return skipped }
        try connection.execute("REVOKE ALL ON DATABASE \(quoteIdent(shadow)) FROM PUBLIC")
        for row in acl {
            guard let grantee = row[0], let privilege = row[1] else { continue }
            let to = grantee.isEmpty ? "PUBLIC" : quoteIdent(grantee)
            guard grantee.isEmpty || roles.contains(grantee) || powerful.contains(grantee) else {
                skipped.append("\(privilege) on the database to \(grantee) (no such role here)")
                continue
            }
            try connection.execute("GRANT \(privilege) ON DATABASE \(quoteIdent(shadow)) TO \(to)\(row[2] == "t" ? " WITH GRANT OPTION" : "")")
        }
        return skipped
    }
}
