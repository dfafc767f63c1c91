import FerryCore
import Foundation

/// What `syncUsers` did, so that `undoUserSync` can take it back.
struct UserSyncUndo: Codable {
    struct Account: Codable { var user: String; var host: String }
    struct Extended: Codable { var account: Account; var applied: [String]; var previous: [String] }
    var created: [Account] = []
    var extended: [Extended] = []
}

/// Users: the accounts holding database- or table-level privileges on the copied databases (read
/// from `mysql.db` and `mysql.tables_priv`; wildcard database patterns are not followed) are
/// created on the target with `SHOW CREATE USER` (same authentication) or, when they exist,
/// extended; their grants on a copied database are rewritten for its target name.
extension MySQLSession {
    public func syncUsers(from source: any EngineSession, mappings: [DatabaseMapping]) throws -> String {
        guard let source = source as? MySQLSession else {
            throw FerryError(.copyError, "a MySQL user sync needs a MySQL source", instance: instanceName)
        }
        return try run(.copyError, "cannot sync users to \(instanceName)") {
            let s = source.connection, c = connection
            let list = mappings.map { s.literal($0.source) }.joined(separator: ", ")
            let accounts = try s.query("SELECT DISTINCT User, Host FROM mysql.db WHERE Db IN (\(list)) AND User <> '' UNION SELECT DISTINCT User, Host FROM mysql.tables_priv WHERE Db IN (\(list)) AND User <> ''")
            var undo = UserSyncUndo()
            for row in accounts {
                guard let user = row[0], let host = row[1] else { continue }
                let account = "\(s.literal(user))@\(s.literal(host))"
                var grants: [String] = []
                for line in try s.query("SHOW GRANTS FOR \(account)").compactMap({ $0[0] }) {
                    for mapping in mappings {
                        let from = " ON " + quoteName(mapping.source) + "."
                        if line.contains(from) {
                            grants.append(line.replacingOccurrences(of: from, with: " ON " + quoteName(mapping.target) + "."))
                        }
                    }
                }
                let exists = try c.scalar("SELECT COUNT(*) FROM mysql.user WHERE User = \(c.literal(user)) AND Host = \(c.literal(host))") != "0"
                if exists {
                    let targets = mappings.map { " ON " + quoteName($0.target) + "." }
                    let previous = try c.query("SHOW GRANTS FOR \(account)").compactMap { $0[0] }
                        .filter { line in targets.contains { line.contains($0) } }
                    undo.extended.append(.init(account: .init(user: user, host: host), applied: grants, previous: previous))
                } else {
                    guard let create = try s.scalar("SHOW CREATE USER \(account)") else { continue }
                    try c.execute(create)
                    undo.created.append(.init(user: user, host: host))
                }
                for grant in grants { try c.execute(grant) }
            }
            let data = try JSONEncoder().encode(undo)
            return String(decoding: data, as: UTF8.self)
        }
    }

    public func undoUserSync(_ undo: String) throws {
        guard let record = try? JSONDecoder().decode(UserSyncUndo.self, from: Data(undo.utf8)) else {
            throw FerryError(.internalError, "the user-sync undo record is unreadable", instance: instanceName)
        }
        try run(.internalError, "cannot undo the user sync on \(instanceName)") {
            let c = connection
            for account in record.created {
                try c.execute("DROP USER IF EXISTS \(c.literal(account.user))@\(c.literal(account.host))")
            }
            for entry in record.extended {
                for grant in entry.applied {
                    for revoke in Self.revokes(for: grant) {
                        do { try c.execute(revoke) } catch let error as MySQLServerError where [1141, 1147, 1403].contains(error.code) {}
                    }
                }
                for grant in entry.previous { try c.execute(grant) }
            }
        }
    }

    /// `GRANT privs ON obj TO acct [WITH GRANT OPTION]` → the `REVOKE` statements that take it back.
    static func revokes(for grant: String) -> [String] {
        guard grant.hasPrefix("GRANT "), let on = grant.range(of: " ON "),
              let to = grant.range(of: " TO ", options: .backwards) else { return [] }
        let privileges = grant[grant.index(grant.startIndex, offsetBy: 6)..<on.lowerBound]
        let object = grant[on.upperBound..<to.lowerBound]
        var account = String(grant[to.upperBound...])
        let withGrant = account.hasSuffix(" WITH GRANT OPTION")
        if withGrant { account = String(account.dropLast(" WITH GRANT OPTION".count)) }
        var result = ["REVOKE \(privileges) ON \(object) FROM \(account)"]
        if withGrant { result.append("REVOKE GRANT OPTION ON \(object) FROM \(account)") }
        return result
    }
}
