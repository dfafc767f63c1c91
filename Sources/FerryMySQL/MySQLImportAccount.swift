import FerryCore
import FerryIO
import Foundation

/// The throwaway account an import's statements run as (issue 14 §1: "run imports with a session
/// that cannot reach other databases at all").
///
/// - Name: `ferry_i_<run tag>_<6 hex of sha256(shadow)>` (at most 31 characters, within MySQL's 32),
///   a pure function of the shadow's name. The shadow's name is journaled (`shadowPlanned`)
///   before the shadow exists, and the account is created only after the shadow, so the journal
///   names every account a run may have made before it exists; recovery derives it back from the
///   journaled shadow (`removeLeftovers`).
/// - Host: the host part the server sees for Ferry's own connection (`USER()`), so that a second
///   connection from the same client authenticates as this account.
/// - Password: 32 random hex characters, made in memory; never printed, journaled or kept (the
///   statements that carry it are described as `CREATE USER <import account>` in any error).
/// - Privileges: `ALL PRIVILEGES ON <shadow>.*` (the name's `_` and `%` escaped, as GRANT reads
///   them as wildcards), nothing else: no GRANT OPTION, no global privilege, no other schema.
/// - Created with `CREATE USER` (no `IF NOT EXISTS`): an account of that name that already exists
///   is not Ferry's and is refused (ImportError), never reused or dropped.
struct MySQLImportAccount {
    let user: String
    let host: String
    fileprivate let password: String

    var account: String { "\(sqlString(user))@\(sqlString(host))" }

    /// The account's name for `shadow` (one of Ferry's `<db>__ferry_s_<tag>` schemas).
    static func name(forShadow shadow: String) -> String {
        let tag = MySQLSession.runTag(of: shadow) ?? ""
        return "ferry_i_\(tag)_" + String(Digest.sha256(Array(shadow.utf8)).prefix(6))
    }

    /// `schema` as a GRANT's database name: `_` and `%` are wildcards there.
    static func grantName(_ schema: String) -> String {
        quoteName(schema.replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "_", with: "\\_").replacingOccurrences(of: "%", with: "\\%"))
    }

    static func randomPassword() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}

/// A MySQL string literal (the connection runs without NO_BACKSLASH_ESCAPES).
func sqlString(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "''") + "'"
}

extension MySQLSession {
    /// The plan's word on how imports into this instance are isolated: nil when Ferry's user holds
    /// `ALL PRIVILEGES ON *.* ... WITH GRANT OPTION` (what `CREATE USER` and then `GRANT ALL
    /// PRIVILEGES ON <shadow>.*` need; each import then runs as a throwaway account limited to its
    /// shadow), one note when `SHOW GRANTS` says it does not (imports then run on Ferry's own
    /// connection, guarded by the statement checks alone), nil when the grants cannot be read.
    /// Privileges that reach the user only through a role are not read, so such a user may get
    /// the note and still have its imports isolated at apply.
    /// `grants`: the `SHOW GRANTS` lines already read by describe, if any.
    func importIsolationNotes(grants known: [String]? = nil) -> [String]? {
        guard let grants = known ?? (try? connection.query("SHOW GRANTS").compactMap({ $0.first ?? nil })) else { return nil }
        let global = grants.map { $0.uppercased() }.filter { $0.contains(" ON *.* ") }
        if global.contains(where: { $0.contains("ALL PRIVILEGES") && $0.contains("WITH GRANT OPTION") }) { return nil }
        return ["Ferry's user on \(instanceName) does not hold ALL PRIVILEGES ON *.* WITH GRANT OPTION, so it cannot create the throwaway import account (CREATE USER, then GRANT on the shadow): imports into it run on Ferry's own connection, guarded by the statement checks alone"]
    }

    /// Errors by which a server says the admin may not create accounts or grant on the shadow.
    static let accountRefusals: Set<UInt32> = [1044, 1045, 1142, 1227, 1410]

    /// Creates the import account of `shadow` and returns it, or nil when the server refuses to
    /// (Ferry's user lacks CREATE USER or GRANT OPTION): the import then runs on Ferry's own
    /// connection, guarded by the scanner alone (`fallbackNote` says so). Throws ImportError when
    /// an account of that name already exists (it is not Ferry's).
    func createImportAccount(for shadow: String) throws -> MySQLImportAccount? {
        let user = MySQLImportAccount.name(forShadow: shadow)
        let host = try run(.importError, "cannot read the account of Ferry's connection") {
            try connection.scalar("SELECT SUBSTRING_INDEX(USER(), '@', -1)") ?? "localhost"
        }
        let account = MySQLImportAccount(user: user, host: host, password: MySQLImportAccount.randomPassword())
        // The server receives only the password's hash (`IDENTIFIED BY PASSWORD '*...'`, the
        // mysql_native_password form): a general or audit log never holds the password itself.
        let hash = "*" + Digest.hex(Digest.sha1Bytes(Digest.sha1Bytes(Array(account.password.utf8)))).uppercased()
        var create = Array("CREATE USER \(account.account) IDENTIFIED WITH mysql_native_password AS \(sqlString(hash)) WITH MAX_USER_CONNECTIONS 1".utf8)
        do {
            do {
                try connection.execute(bytes: &create, describe: "CREATE USER \(account.account) IDENTIFIED WITH mysql_native_password AS <hash>")
            } catch let error as MySQLServerError where error.code == 1064 || error.code == 1524 {
                // A server without the mysql_native_password plugin (MySQL 8.4+): its default
                // plugin, which takes the password itself.
                var plain = Array("CREATE USER \(account.account) IDENTIFIED BY \(sqlString(account.password)) WITH MAX_USER_CONNECTIONS 1".utf8)
                try connection.execute(bytes: &plain, describe: "CREATE USER \(account.account) IDENTIFIED BY <secret>")
            }
        } catch let error as MySQLServerError {
            if error.code == 1396 {
                throw FerryError(.importError, "an account named \(account.account) already exists on \(instanceName); it is not Ferry's",
                                 hint: "Ferry runs an import as a new account of its run and never uses or drops an account it did not create; drop or rename that account",
                                 instance: instanceName)
            }
            if Self.accountRefusals.contains(error.code) { return nil }
            throw error.ferry(.importError, "cannot create the import account", instance: instanceName)
        }
        KillPoint.check("change:import.account.created")
        do {
            try connection.execute("GRANT ALL PRIVILEGES ON \(MySQLImportAccount.grantName(shadow)).* TO \(account.account)")
        } catch let error as MySQLServerError {
            try? connection.execute("DROP USER \(account.account)")
            if Self.accountRefusals.contains(error.code) { return nil }
            throw error.ferry(.importError, "cannot grant the import account its shadow", instance: instanceName)
        }
        return account
    }

    /// A connection authenticated as `account`, with the session settings of Ferry's own.
    func connect(as account: MySQLImportAccount) throws -> MySQLConnection {
        var address = self.address
        address.user = account.user
        address.password = account.password
        return try Self.open(address, instance: instanceName)
    }

    /// Drops the import accounts of `shadow` that Ferry can prove are its own: named for that
    /// shadow and holding nothing but privileges on it. Returns the accounts dropped; an account
    /// of that name holding anything else is left and reported (ImportError).
    @discardableResult
    func dropImportAccounts(ofShadow shadow: String) throws -> [String] {
        let user = MySQLImportAccount.name(forShadow: shadow)
        var hosts: [String]
        do {
            hosts = try connection.query("SELECT Host FROM mysql.user WHERE User = \(sqlString(user))").compactMap { $0[0] }
        } catch let error as MySQLServerError where Self.accountRefusals.contains(error.code) {
            // No read access to mysql.user: the host Ferry's own connection has (the one it uses).
            hosts = [try connection.scalar("SELECT SUBSTRING_INDEX(USER(), '@', -1)") ?? "localhost"]
        }
        var dropped: [String] = []
        for host in hosts {
            let account = "\(sqlString(user))@\(sqlString(host))"
            let grants: [String]
            do { grants = try connection.query("SHOW GRANTS FOR \(account)").compactMap { $0[0] } }
            catch let error as MySQLServerError where error.code == 1141 { continue }   // no such account
            let own = "ON \(MySQLImportAccount.grantName(shadow)).* TO"
            let foreign = grants.filter { !$0.hasPrefix("GRANT USAGE ON *.* TO") && !$0.contains(own) }
            guard foreign.isEmpty else {
                // The grants are not shown: SHOW GRANTS may carry the account's password hash.
                throw FerryError(.importError, "account \(account) holds \(foreign.count) grant(s) beyond run's shadow \(shadow); it is not Ferry's and was left as it is",
                                 hint: "Ferry drops only an import account it can prove it made", instance: instanceName)
            }
            // On a full disk the drop would wait for room without end (an Aria system table):
            // the account stays for a later pass, the run pending (round 30, F4).
            if sawDiskFull {
                throw FerryError(.diskFull, "no room on \(instanceName)'s disk to drop import account \(account) (its drop waits for room without end): it stays until there is room",
                                 hint: "free room on the server's disk, then run `ferry recover` again", instance: instanceName)
            }
            try connection.execute("DROP USER \(account)")
            dropped.append("account \(user)@\(host)")
        }
        return dropped
    }

    /// The import accounts a run left (a kill between `CREATE USER` and its drop), as
    /// `account USER@HOST`: only accounts proven the run's, named `ferry_i_<the run's tag>_<hex>`
    /// and either holding nothing but `ALL PRIVILEGES` on one schema whose name Ferry derives as a
    /// shadow of that run and whose account name is exactly this one, or holding nothing at all (a
    /// kill before its `GRANT`) and being the account named for one of `shadows`, the run's shadow
    /// schemas on the server (fresh tester w12 F8: `ferry unlock --claims` listed the shadow and
    /// not its account). Reads only; an account list Ferry may not read gives none.
    func importAccountLeftovers(ofRun runID: String, shadows: [String]) throws -> [String] {
        let suffix = Self.runSuffix(marker: "s", runID: runID)
        let prefix = "ferry_i_" + String(suffix.dropFirst("__ferry_s_".count)) + "_"
        let accounts: [(String, String)]
        do {
            accounts = try connection.query("SELECT User, Host FROM mysql.user WHERE LEFT(User, \(prefix.utf8.count)) = \(sqlString(prefix))")
                .compactMap { row in row[0].flatMap { user in row[1].map { (user, $0) } } }
        } catch let error as MySQLServerError where Self.accountRefusals.contains(error.code) { return [] }
        var found: [String] = []
        for (user, host) in accounts.sorted(by: { ($0.0, $0.1) < ($1.0, $1.1) }) {
            let grants: [String]
            do { grants = try connection.query("SHOW GRANTS FOR \(sqlString(user))@\(sqlString(host))").compactMap { $0[0] } }
            catch let error as MySQLServerError where error.code == 1141 || Self.accountRefusals.contains(error.code) { continue }
            let granted = grants.filter { !$0.hasPrefix("GRANT USAGE ON *.* TO") }
            if granted.isEmpty, shadows.contains(where: { MySQLImportAccount.name(forShadow: $0) == user }) {
                found.append("account \(user)@\(host)")
                continue
            }
            guard granted.count == 1, let shadow = Self.grantedSchema(granted[0]),
                  DerivedName.isDerived(shadow, suffix: suffix), MySQLImportAccount.name(forShadow: shadow) == user,
                  granted[0].hasPrefix("GRANT ALL PRIVILEGES ON \(MySQLImportAccount.grantName(shadow)).* TO") else { continue }
            found.append("account \(user)@\(host)")
        }
        return found
    }

    /// The schema of a `GRANT ... ON `schema`.* TO ...` line as `SHOW GRANTS` prints it, with the
    /// GRANT name's escapes (a backslash before `_`, `%` or itself; doubled backquotes) undone;
    /// nil for any other shape.
    static func grantedSchema(_ line: String) -> String? {
        guard let on = line.range(of: " ON `"), let end = line.range(of: "`.* TO ", range: on.upperBound..<line.endIndex) else { return nil }
        var name = "", escaped = false
        for c in line[on.upperBound..<end.lowerBound].replacingOccurrences(of: "``", with: "`") {
            if escaped { name.append(c); escaped = false } else if c == "\\" { escaped = true } else { name.append(c) }
        }
        return name
    }

    /// Whether `statement` creates or alters a view, trigger, routine, event or package: its
    /// `DEFINER` clause is removed before it runs as the import account, and an event is made to
    /// start disabled (`MySQLDefinitionText`). Only the statement's first 4 KiB are read (a
    /// multi-megabyte INSERT is not lexed again); a definition whose keyword lies beyond them is
    /// sent as it is, where a foreign definer is refused (1227): never more rights, at worst a
    /// failed import.
    static func definesStoredObject(_ bytes: [UInt8], serverVersion: String) -> Bool {
        let head = Array(bytes.prefix(4096))
        let t = SQLLexer.tokens(head, dialect: .mysql(version: serverVersion))
        guard let first = t.first, let w0 = SQLLexer.keyword(first, in: head), w0 == "CREATE" || w0 == "ALTER" else { return false }
        let objects: Set<String> = ["DATABASE", "SCHEMA", "USER", "ROLE", "SERVER", "TABLESPACE", "LOGFILE", "RESOURCE",
                                    "INSTANCE", "FUNCTION", "PROCEDURE", "TRIGGER", "EVENT", "VIEW", "TABLE", "INDEX",
                                    "SEQUENCE", "PACKAGE"]
        for token in t.dropFirst().prefix(40) {
            guard let word = SQLLexer.keyword(token, in: head), objects.contains(word) else { continue }
            return ["FUNCTION", "PROCEDURE", "TRIGGER", "EVENT", "VIEW", "PACKAGE"].contains(word)
        }
        return false
    }
}
