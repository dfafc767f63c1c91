import FerryCore
import FerryIO
import Foundation

/// What `syncUsers` did, so that `undoUserSync` can take it back.
struct UserSyncUndo: Codable {
    /// An account the sync creates. Undo drops it only while it is provably the run's (fresh
    /// tester, issue 14 F3: an account the user had since given grants on other databases, or had
    /// dropped and made again with their own password, was dropped): the same account (`made`,
    /// `identity`) holding no grant but the ones the run gave it (`granted`). The fields are nil
    /// in records written before they were kept. No password hash is journaled: only SHA-256
    /// digests of what the server shows.
    struct Account: Codable {
        var user: String; var host: String
        /// The digest of the `CREATE USER` the run runs (the source's `SHOW CREATE USER`): the
        /// account's authentication and options as made.
        var made: String? = nil
        /// Once made: the digest of the target's `SHOW CREATE USER` and MariaDB's
        /// `password_last_changed` (a drop and a `CREATE USER` again, even with the same
        /// password, changes it when a second has passed).
        var identity: String? = nil
        /// The grants the run gives it, as `SHOW GRANTS` lists them.
        var granted: [String]? = nil
    }
    struct Extended: Codable { var account: Account; var applied: [String]; var previous: [String] }
    var created: [Account] = []
    var extended: [Extended] = []
}

/// Users: the accounts holding database-, table-, column- or routine-level privileges on the
/// copied databases (read from `mysql.db`, `mysql.tables_priv` and `mysql.procs_priv`) are created on the target with `SHOW CREATE USER`
/// (same authentication) or, when they exist, extended; their grants on a copied database are
/// rewritten for its target name. Database-level grants through a pattern (`shop\_%`, `shop%`:
/// `LIKE` with `\` escapes, as `mysql.db` matches them) that matches a copied database are
/// followed too: the target gets the same privileges on the target name, escaped so that it names
/// that one database.
extension MySQLSession {
    struct AccountKey: Hashable { var user: String; var host: String }

    public func syncUsers(from source: any EngineSession, mappings: [DatabaseMapping]) throws -> String {
        try syncUsers(from: source, mappings: mappings, journal: { _ in })
    }

    /// Works out every account to create and every grant to give, hands the undo record of all of
    /// them to `journal` (the core makes it durable), and only then changes the target: a kill at
    /// any moment leaves nothing that the journal does not name.
    public func syncUsers(from source: any EngineSession, mappings: [DatabaseMapping],
                          journal: (String) throws -> Void) throws -> String {
        guard let source = source as? MySQLSession else {
            throw FerryError(.copyError, "a MySQL user sync needs a MySQL source", instance: instanceName)
        }
        return try run(.copyError, "cannot sync users to \(instanceName)") {
            let s = source.connection, c = connection
            let list = mappings.map { s.literal($0.source) }.joined(separator: ", ")
            var accounts: [AccountKey] = []
            func add(_ key: AccountKey) { if !accounts.contains(key) { accounts.append(key) } }
            for row in try s.query("SELECT DISTINCT User, Host FROM mysql.db WHERE Db IN (\(list)) AND User <> '' UNION SELECT DISTINCT User, Host FROM mysql.tables_priv WHERE Db IN (\(list)) AND User <> '' UNION SELECT DISTINCT User, Host FROM mysql.procs_priv WHERE Db IN (\(list)) AND User <> ''") {
                if let user = row[0], let host = row[1] { add(AccountKey(user: user, host: host)) }
            }
            // Patterns matching a copied database (other than its exact name, handled above).
            var patterns: [AccountKey: [(pattern: String, mapping: DatabaseMapping)]] = [:]
            for mapping in mappings {
                let name = s.literal(mapping.source)
                for row in try s.query("SELECT User, Host, Db FROM mysql.db WHERE User <> '' AND Db <> \(name) AND \(name) LIKE BINARY Db ORDER BY User, Host, Db") {
                    guard let user = row[0], let host = row[1], let pattern = row[2] else { continue }
                    let key = AccountKey(user: user, host: host)
                    add(key)
                    patterns[key, default: []].append((pattern, mapping))
                }
            }
            var undo = UserSyncUndo()
            var work: [(statement: String, isCreate: Bool)] = []
            for key in accounts {
                let (user, host) = (key.user, key.host)
                let account = "\(s.literal(user))@\(s.literal(host))"
                var grants: [String] = []
                func grant(_ line: String) { if !grants.contains(line) { grants.append(line) } }
                let lines = try s.query("SHOW GRANTS FOR \(account)").compactMap { $0[0] }
                for line in lines {
                    for mapping in mappings {
                        for on in Self.grantObjectKinds {
                            let from = on + quoteName(mapping.source) + "."
                            if line.contains(from) {
                                grant(line.replacingOccurrences(of: from, with: on + quoteName(mapping.target) + "."))
                            }
                        }
                    }
                    for (pattern, mapping) in patterns[key] ?? [] {
                        let from = " ON " + quoteName(pattern) + "."
                        if line.contains(from) {
                            grant(line.replacingOccurrences(of: from, with: " ON " + quoteName(Self.likeEscaped(mapping.target)) + "."))
                        }
                    }
                }
                let exists = try c.scalar("SELECT COUNT(*) FROM mysql.user WHERE User = \(c.literal(user)) AND Host = \(c.literal(host))") != "0"
                if exists {
                    var targets: [String] = []
                    for mapping in mappings {
                        let name = quoteName(mapping.target) + "."
                        targets += Self.grantObjectKinds.map { $0 + name }
                        targets.append(" ON " + quoteName(Self.likeEscaped(mapping.target)) + ".")
                    }
                    let previous = try c.query("SHOW GRANTS FOR \(account)").compactMap { $0[0] }
                        .filter { line in targets.contains { line.contains($0) } }
                    undo.extended.append(.init(account: .init(user: user, host: host), applied: grants, previous: previous))
                } else {
                    guard let create = try s.scalar("SHOW CREATE USER \(account)") else { continue }
                    undo.created.append(.init(user: user, host: host, made: Digest.sha256(Array(create.utf8)), granted: grants))
                    work.append((create, true))
                }
                work += grants.map { ($0, false) }
            }
            let text = String(decoding: try JSONEncoder().encode(undo), as: UTF8.self)
            // The intent is durable before the first change.
            try journal(text)
            var current = undo
            for (index, (statement, isCreate)) in work.enumerated() {
                do {
                    try c.execute(statement)
                } catch let error as MySQLServerError where isCreate && error.code == 1396 {
                    // The account appeared since it was looked up (error 1396: it exists): it is not
                    // this run's, so the undo record must not drop it. Journal the corrected record
                    // (it supersedes the first) before failing the step.
                    if let account = Self.createdAccount(in: work, at: index, from: undo) {
                        current.created.removeAll { $0.user == account.user && $0.host == account.host }
                        try journal(String(decoding: try JSONEncoder().encode(current), as: UTF8.self))
                    }
                    throw error
                }
                if isCreate, let account = Self.createdAccount(in: work, at: index, from: undo),
                   let position = current.created.firstIndex(where: { $0.user == account.user && $0.host == account.host }) {
                    // The account as made, journaled at once: a recover after a kill from here on
                    // tells it from one made again under its name.
                    current.created[position].identity = try accountIdentity(account.user, account.host)
                    try journal(String(decoding: try JSONEncoder().encode(current), as: UTF8.self))
                }
                KillPoint.check(isCreate ? "change:users.created" : "change:users.granted")
            }
            // The grants each created account holds now are the run's, as this server lists them
            // (it may merge two grants on one object into one line).
            for index in current.created.indices {
                let account = current.created[index]
                current.created[index].granted = try c.query("SHOW GRANTS FOR \(c.literal(account.user))@\(c.literal(account.host))")
                    .compactMap { $0[0] }.filter { !$0.hasPrefix("GRANT USAGE ON *.* TO ") }
            }
            return String(decoding: try JSONEncoder().encode(current), as: UTF8.self)
        }
    }

    /// The account the `index`-th creating statement of `work` makes: creations come in the order
    /// of `undo.created`.
    static func createdAccount(in work: [(statement: String, isCreate: Bool)], at index: Int,
                               from undo: UserSyncUndo) -> UserSyncUndo.Account? {
        let position = work[..<index].filter(\.isCreate).count
        return position < undo.created.count ? undo.created[position] : nil
    }

    /// How `SHOW GRANTS` names what a grant is on: a database or table, or a routine.
    static let grantObjectKinds = [" ON ", " ON PROCEDURE ", " ON FUNCTION "]

    /// A database name as a grant pattern that matches only that name (`_`, `%`, `\` escaped).
    static func likeEscaped(_ name: String) -> String {
        name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "_", with: "\\_")
            .replacingOccurrences(of: "%", with: "\\%")
    }

    /// The digest of an account's `SHOW CREATE USER` (its authentication, TLS requirements,
    /// limits) and MariaDB's `password_last_changed` (absent elsewhere: then the first alone), or
    /// nil when it does not exist.
    func accountIdentity(_ user: String, _ host: String) throws -> String? {
        let c = connection
        let account = "\(c.literal(user))@\(c.literal(host))"
        guard try c.scalar("SELECT COUNT(*) FROM mysql.user WHERE User = \(c.literal(user)) AND Host = \(c.literal(host))") != "0",
              let create = try c.scalar("SHOW CREATE USER \(account)") else { return nil }
        let changed = (try? c.scalar("SELECT JSON_VALUE(Priv, '$.password_last_changed') FROM mysql.global_priv WHERE User = \(c.literal(user)) AND Host = \(c.literal(host))")) ?? nil
        return Digest.sha256(Array((create + "\n" + (changed ?? "")).utf8))
    }

    /// What `line` of `SHOW GRANTS` is on, without the authentication it may carry: `` `other`.* ``,
    /// `role r`, `its default role`.
    static func grantSubject(_ line: String) -> String {
        if line.hasPrefix("SET DEFAULT ROLE") { return "its default role" }
        if let on = line.range(of: " ON "), let to = line.range(of: " TO ", range: on.upperBound..<line.endIndex) {
            let object = String(line[on.upperBound..<to.lowerBound])
            return object == "*.*" ? "global privileges (*.*)" : object
        }
        if line.hasPrefix("GRANT "), let to = line.range(of: " TO ") {
            return "role " + line[line.index(line.startIndex, offsetBy: 6)..<to.lowerBound]
        }
        return "a grant"
    }

    public func undoUserSync(_ undo: String) throws {
        _ = try undoUserSyncReporting(undo)
    }

    /// Drops the accounts the sync created, revokes what it granted to accounts that existed, and
    /// gives those back the grants they held before. A previous grant on a table or routine that
    /// no longer exists (MariaDB keeps table grants after `DROP TABLE`; the restored target may
    /// not have the table) cannot be given back: it is skipped and reported, not fatal, since it
    /// granted nothing that exists. Errors 1146 (no such table) and 1305 (no such routine).
    public func undoUserSyncReporting(_ undo: String) throws -> [String] {
        if undo.isEmpty { return [] }
        guard let record = try? JSONDecoder().decode(UserSyncUndo.self, from: Data(undo.utf8)) else {
            throw FerryError(.internalError, "the user-sync undo record is unreadable", instance: instanceName)
        }
        return try run(.internalError, "cannot undo the user sync on \(instanceName)") {
            let c = connection
            var skipped: [String] = []
            for account in record.created {
                let name = "\(c.literal(account.user))@\(c.literal(account.host))"
                guard let identity = try accountIdentity(account.user, account.host) else { continue }
                let shown = "\(account.user)@\(account.host)"
                // The same account: as the run made it (journaled once made), or, when a kill came
                // before that record, with the authentication and options the run gave it.
                let same: Bool
                if let made = account.identity {
                    same = made == identity
                } else if let made = account.made {
                    same = try c.scalar("SHOW CREATE USER \(name)").map { Digest.sha256(Array($0.utf8)) } == made
                } else {
                    same = true
                }
                if !same {
                    skipped.append("account \(shown) kept: it is not the account the run created (its authentication changed, or it was made again since); its grants were left as they are")
                    continue
                }
                let lines = try c.query("SHOW GRANTS FOR \(name)").compactMap { $0[0] }
                let granted = account.granted
                let foreign = lines.filter { line in
                    !(line.hasPrefix("GRANT USAGE ON *.* TO ") || (granted?.contains(line) ?? true))
                }
                if sawDiskFull {
                    // As an import account's drop (round 30, F4): it would wait for room without end.
                    throw FerryError(.diskFull, "no room on \(instanceName)'s disk to undo the users of the run (a change of an account waits for room without end): they stay until there is room",
                                     hint: "free room on the server's disk, then run `ferry recover` again", instance: instanceName)
                }
                if foreign.isEmpty {
                    try c.execute("DROP USER IF EXISTS \(name)")
                    continue
                }
                // Given grants since, by someone: the account is not only the run's. The run's own
                // grants go where they are still exactly what it gave.
                for grant in lines where granted?.contains(grant) == true {
                    for revoke in Self.revokes(for: grant) {
                        do { try c.execute(revoke) } catch let error as MySQLServerError where [1141, 1146, 1147, 1269, 1305, 1403].contains(error.code) {}
                    }
                }
                let subjects = foreign.map(Self.grantSubject)
                skipped.append("account \(shown) kept: it holds grants the run did not give (\(subjects.joined(separator: ", "))); only the run's own grants were revoked")
            }
            for entry in record.extended {
                for grant in entry.applied {
                    for revoke in Self.revokes(for: grant) {
                        do { try c.execute(revoke) } catch let error as MySQLServerError where [1141, 1146, 1147, 1269, 1305, 1403].contains(error.code) {}
                    }
                }
                for grant in entry.previous {
                    do { try c.execute(grant) } catch let error as MySQLServerError where [1146, 1305].contains(error.code) {
                        skipped.append("skipped \(grant): \(error.message) (\(error.code))")
                    }
                }
            }
            return skipped
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
