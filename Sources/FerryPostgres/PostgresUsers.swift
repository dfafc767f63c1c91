import FerryCore
import Foundation

/// What a PostgreSQL `users: sync` created, so that `undoUserSync` can take it back: the roles
/// (by name only: no password verifier is ever journaled) and the target databases they were
/// given privileges in.
struct PostgresUserSyncUndo: Codable {
    var created: [String] = []
    var databases: [String] = []
    /// The memberships the sync added (`GRANT group TO member`), each `[group, member]`; nil in
    /// records written before memberships were carried.
    var memberships: [[String]]? = nil
    /// The oid of each role it created, journaled as each is made (before its `CREATE ROLE`
    /// commits: `oidsJournaledFirst`), and in the record written after the sync. Undo drops a role
    /// of that name only while it has that oid: a role someone made since under the name is not
    /// the run's (fresh tester, round 4; during the sync, round 9).
    var oids: [String: String]? = nil
    /// True in records whose sync journals each role's oid as it makes it (issue 14 F3, round 9:
    /// a kill during the sync left only names, and a recover dropped a role the user had made
    /// again under one): a role's `CREATE ROLE` is committed only once a record holding its oid
    /// is durable, so a created role missing from `oids` was never made by the run, and any role
    /// of its name is someone else's. Nil in records written before (undo then goes by name until
    /// the record written after the sync).
    var oidsJournaledFirst: Bool? = nil
    /// The oids of the roles that existed before the run and are members in `memberships`, read
    /// before the first change: a membership is revoked only while both its roles are the ones
    /// the run saw or made (one made again since is someone else's).
    var memberOids: [String: String]? = nil
    /// The owners and privileges of each target database as the sync found them, before its
    /// first change (`rawRights`: `[digest, oid]` by database), in the record journaled before
    /// the sync only (the one written after it has none). An undo of a sync cut short by a kill
    /// records its target's rights as counting as these (`recordRightsBaseline`): the sync's
    /// baseline was never recorded, and without this the sync's own grants read as a write
    /// made after the swap (fresh tester, issue 14: a kill during the sync left the copy "kept").
    var rightsBefore: [String: [String]]? = nil
    /// A digest of each role the run created as it made it (`roleFingerprint`: its attributes,
    /// server-wide settings, comment and, where `fingerprintsHoldPassword`, its password
    /// verifier; never the verifier itself), journaled with its oid before its `CREATE ROLE`
    /// commits. Undo drops a role only while it still has this digest: one whose password,
    /// expiry, setting or attribute was changed since is the user's now, and kept (round-11
    /// F4). Nil in records written before: undo then goes by oid alone.
    var fingerprints: [String: String]? = nil
    /// Whether `fingerprints` hold the password verifier: Ferry's user could read `pg_authid`
    /// on the target when the roles were made. When it could not, a password the user set
    /// since cannot be told, so undo keeps every created role (and names it).
    var fingerprintsHoldPassword: Bool? = nil
    /// The encoding of the database the sync's connection was in (`server_encoding`), in which
    /// it wrote the roles' names. An undo through a database that writes names otherwise (the
    /// instance url pointed at a LATIN1 database since) could not find a non-ASCII role by
    /// name, and is refused (round-11 F7). Nil in records written before.
    var nameEncoding: String? = nil
}

/// One role membership (`GRANT group TO member`) with its options, as `pg_auth_members` has
/// them; `inherit` and `set` are nil before PostgreSQL 16 (the membership then inherits as the
/// member's `rolinherit` says, and always allows `SET ROLE`).
struct PostgresMembership: Hashable, Sendable {
    var group: String
    var member: String
    var admin: Bool
    var inherit: Bool?
    var set: Bool?

    /// The `GRANT` for a server of `serverVersion` (`PQserverVersion`): `WITH ADMIN ..., INHERIT
    /// ..., SET ...` on 16 and later when the source said them, else `WITH ADMIN OPTION` or none.
    func grant(serverVersion: Int) -> String {
        var sql = "GRANT \(quoteIdent(group)) TO \(quoteIdent(member))"
        if serverVersion >= 160000, let inherit, let set {
            sql += " WITH ADMIN \(admin ? "TRUE" : "FALSE"), INHERIT \(inherit ? "TRUE" : "FALSE"), SET \(set ? "TRUE" : "FALSE")"
        } else if admin {
            sql += " WITH ADMIN OPTION"
        }
        return sql
    }
}

/// `users: "sync"` for PostgreSQL (SPEC §10), run once the copies are swapped in:
///
/// - The roles that reach a copied database on the source: its owner, the grantees of its
///   database privileges, the roles with `ALTER ROLE ... IN DATABASE ... SET` settings there, and
///   every role `pg_shdepend` records for an object in it (owners, grantees, default privileges,
///   policies); never the `pg_*` built-in roles.
/// - A role the target lacks is created with the source's attributes, its server-wide settings
///   (`ALTER ROLE ... SET`) and, where the connecting role may read `pg_authid` (a superuser), its
///   password as the stored verifier (SCRAM or md5, never in clear and never printed); where it
///   may not (managed services), without a password (the plan warns). A role the target has is
///   never altered: it keeps its attributes and password, and only gets privileges inside the
///   copied databases, which are Ferry's.
/// - In each target database: its owner (`ALTER DATABASE ... OWNER TO`), database GRANTs and
///   per-database role settings, then every `OWNER TO`, `GRANT`, `REVOKE` and `ALTER DEFAULT
///   PRIVILEGES` statement of `pg_dump --schema-only` of the source, in the target.
/// - Role memberships (`GRANT group TO member`, with ADMIN, and INHERIT / SET where both servers
///   are 16 or later) between two of those roles: the members of a role that reaches a database
///   (and their members, in turn) reach it too. A membership the target already has is left as
///   it is (never altered nor revoked); one in a role that reaches no copied database (say
///   `pg_monitor`) is not carried.
/// - Large objects' owners and privileges, as pg_dump writes them (`ALTER LARGE OBJECT ... OWNER
///   TO`, `GRANT ... ON LARGE OBJECT`).
/// - The undo record (role names, target databases, memberships added) is journaled before the
///   first change, and again with each role's oid before that role's `CREATE ROLE` commits; undo
///   revokes the memberships it added and drops each role it created while it is provably the
///   run's (its oid, nothing given since: no privilege elsewhere, no membership; after `REASSIGN
///   OWNED` / `DROP OWNED` in the target databases and this run's shadows, where the copy may
///   still be); any other is kept and named; roles that existed keep what they had.
extension PostgresSession {
    public func syncUsers(from source: any EngineSession, mappings: [DatabaseMapping]) throws -> String {
        try syncUsers(from: source, mappings: mappings, journal: { _ in })
    }

    public func syncUsers(from source: any EngineSession, mappings: [DatabaseMapping],
                          journal: (String) throws -> Void) throws -> String {
        guard let source = source as? PostgresSession else {
            throw FerryError(.copyError, "a PostgreSQL user sync needs a PostgreSQL source", instance: instanceName)
        }
        return try run(.copyError, "cannot sync users to \(instanceName)") {
            var roles: [String] = []
            for mapping in mappings {
                let reaching = try source.rolesReaching(mapping.source)
                // Refused before any change where a connection would carry a role's name in
                // other bytes than its UTF-8 ones (round-11 F7; the plan refuses it first: this
                // is for a role the source gained since the plan).
                let encoding = { (session: PostgresSession, database: String) in
                    try session.connection.scalar("SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = \(quoteLiteral(database))")
                }
                let places = Self.roleNamePlaces(
                    target: (instanceName, address.maintenanceDatabase, try connection.scalar("SHOW server_encoding")),
                    source: (source.instanceName, source.address.maintenanceDatabase, try source.connection.scalar("SHOW server_encoding")),
                    database: (mapping.source, try encoding(source, mapping.source)),
                    copy: (mapping.target, try encoding(self, mapping.target)))
                if let problem = Self.roleNameProblems(reaching, through: places).first {
                    throw FerryError(.invalidParameter, problem.message, hint: Self.roleNameHint, instance: instanceName)
                }
                for role in reaching where !roles.contains(role) { roles.append(role) }
            }
            let existing = Set(try connection.query("SELECT rolname FROM pg_roles").compactMap { $0[0] })
            let creating = roles.filter { !existing.contains($0) }
            try refuseRolesPowerfulOnlyHere(roles.filter(existing.contains), source: source, mappings: mappings)
            // A role this server has is never altered, and its members are part of it: only
            // memberships in roles this sync creates are added (a fresh tester's source made its
            // own role a member of one named like the target's superuser).
            let adding = try membershipsToAdd(from: source, among: roles).filter { creating.contains($0.group) }
            var undo = PostgresUserSyncUndo(created: creating, databases: mappings.map(\.target),
                                            memberships: adding.map { [$0.group, $0.member] })
            var creation: [String: [String]] = [:]
            for role in creating { creation[role] = try source.creationStatements(of: role) }
            undo.oids = [:]
            undo.oidsJournaledFirst = true
            let withPassword = try readsPasswordHashes()
            undo.fingerprints = [:]
            undo.fingerprintsHoldPassword = withPassword
            undo.nameEncoding = try connection.scalar("SHOW server_encoding")
            let existingMembers = Set(adding.map(\.member)).filter { !creating.contains($0) }
            undo.memberOids = try roleOids(existingMembers.sorted())
            var found: [String: [String]] = [:]
            for mapping in mappings {
                if let rights = try rawRights(of: mapping.target) { found[mapping.target] = [rights.digest, rights.oid] }
            }
            undo.rightsBefore = found
            let text = String(decoding: try JSONEncoder().encode(undo), as: UTF8.self)
            try journal(text)   // durable before the first change
            // Each role is made in a transaction committed only once its oid is journaled: no
            // kill leaves a role of the run's that its record does not name by oid (a kill before
            // the record ends the transaction with the connection, and the role never was; one
            // after it leaves the oid, which no role made later can have).
            for role in creating {
                guard let statements = creation[role], !statements.isEmpty else { continue }
                try connection.execute("BEGIN")
                do {
                    for statement in statements { try connection.execute(statement) }
                    KillPoint.check("change:users.roleMade")
                    guard let oid = try connection.scalar("SELECT oid::text FROM pg_roles WHERE rolname = \(quoteLiteral(role))") else {
                        throw FerryError(.copyError, "the role \(role) just created is not there", instance: instanceName)
                    }
                    undo.oids?[role] = oid
                    undo.fingerprints?[role] = try roleFingerprint(oid: oid, withPassword: withPassword)
                    try journal(String(decoding: try JSONEncoder().encode(undo), as: UTF8.self))
                    try connection.execute("COMMIT")
                } catch {
                    try? connection.execute("ROLLBACK")
                    throw error
                }
                KillPoint.check("change:users.created")
            }
            for membership in adding {
                try connection.execute(membership.grant(serverVersion: connection.serverVersionNumber))
                KillPoint.check("change:users.membership")
            }
            // The oids as journaled when each role was made, never read again by name here: a
            // role made again since under a name is not the run's.
            var made = undo
            made.rightsBefore = nil
            let done = String(decoding: try JSONEncoder().encode(made), as: UTF8.self)
            let tools = PostgresTools(address: source.address, instanceName: source.instanceName)
            for mapping in mappings {
                // Owners and grants given here are Ferry's own change after the swap read the
                // target's token: recorded (`recordRightsBaseline`, tester w5 X4).
                let rightsBefore = try rawRights(of: mapping.target)
                defer { recordRightsBaseline(of: mapping.target, before: rightsBefore) }
                if let owner = try source.connection.scalar("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = \(quoteLiteral(mapping.source))") {
                    try connection.execute("ALTER DATABASE \(quoteIdent(mapping.target)) OWNER TO \(quoteIdent(owner))")
                }
                try carryDatabaseSettings(from: source, database: mapping.source, into: mapping.target)
                KillPoint.check("change:users.databaseGranted")
                let into = try open(mapping.target)
                defer { into.close() }
                // Owners from the source's catalogs, with the server's quoting; never statements
                // read back out of dump text, where a source's author writes function bodies,
                // comments and literals line by line (a fresh tester ran `ALTER ROLE ...
                // SUPERUSER` from a comment that way).
                let owners = try source.open(mapping.source)
                let ownerStatements = try owners.query(PostgresLoadRole.sourceOwnerStatements).compactMap { $0[0] }
                owners.close()
                for statement in ownerStatements {
                    do { try into.execute(statement) }
                    catch let error as PostgresServerError where ["42P01", "42704", "42883", "3F000"].contains(error.sqlState) {
                        // The object is gone from the source since the copy's snapshot, or its
                        // owner is a role this server lacks: nothing to give.
                    }
                }
                try grantPrivileges(of: mapping.source, on: tools, into: mapping.target)
                KillPoint.check("change:users.granted")
            }
            return done
        }
    }

    /// The roles that own, hold privileges on or have settings in `database` (see above), and the
    /// members of those roles, transitively (they reach it through their memberships), sorted.
    func rolesReaching(_ database: String) throws -> [String] {
        let c = try open(database)
        defer { c.close() }
        return try c.query("""
            WITH RECURSIVE d AS (SELECT oid, datdba, datacl FROM pg_database WHERE datname = current_database()),
            direct(oid) AS (
              SELECT datdba FROM d
              UNION SELECT (aclexplode(datacl)).grantee FROM d WHERE datacl IS NOT NULL
              UNION SELECT setrole FROM pg_db_role_setting, d WHERE setdatabase = d.oid
              UNION SELECT refobjid FROM pg_shdepend, d WHERE dbid = d.oid AND refclassid = 'pg_authid'::regclass),
            reach(oid) AS (SELECT oid FROM direct UNION SELECT m.member FROM pg_auth_members m JOIN reach ON m.roleid = reach.oid)
            SELECT DISTINCT r.rolname FROM pg_roles r WHERE r.rolname !~ '^pg_' AND r.oid IN (SELECT oid FROM reach)
            ORDER BY 1
            """).compactMap { $0[0] }
    }

    /// Whether a connection to a database of `encoding` (`pg_encoding_to_char`) writes and
    /// reads role names in their UTF-8 bytes: UTF-8, and SQL_ASCII (no conversion at all).
    /// Under any other encoding the server converts a name between the client's UTF-8 and that
    /// encoding, so a non-ASCII character is stored in other bytes (`é` as 0xE9 under LATIN1)
    /// or cannot be written at all; and the names of roles are bytes shared by every database
    /// of the server, which a client logs in with in UTF-8 and every UTF-8 database reads as
    /// UTF-8. Nil (not read) counts as carrying them: the check at the sync reads them all.
    static func writesNamesAsUTF8(_ encoding: String?) -> Bool {
        encoding.map { $0 == "UTF8" || $0 == "SQL_ASCII" } ?? true
    }

    /// The connections a users sync of one copy carries role names through, each with its
    /// database's encoding: the target's maintenance database (roles made, found by name,
    /// dropped by the undo), the source's (each role's attributes read by name), the source
    /// database (the roles that reach it, and its privileges as pg_dump writes them) and its
    /// copy (those privileges given there by pg_restore).
    static func roleNamePlaces(target: (instance: String, database: String?, encoding: String?),
                               source: (instance: String, database: String?, encoding: String?),
                               database: (name: String, encoding: String?),
                               copy: (name: String, encoding: String?)) -> [(place: String, encoding: String?)] {
        [("\(target.instance)'s maintenance database \(target.database ?? "?") (the instance url's, through which Ferry makes, finds and drops the roles)", target.encoding),
         ("\(source.instance)'s maintenance database \(source.database ?? "?") (the instance url's, through which Ferry reads each role's attributes)", source.encoding),
         ("\(source.instance)/\(database.name) (where Ferry reads the roles and their privileges)", database.encoding),
         ("its copy \(target.instance)/\(copy.name) (where the privileges are given)", copy.encoding)]
    }

    /// The roles of `roles` whose names are not ASCII, with why users sync cannot carry them
    /// through `places` (one of which writes names in other bytes than UTF-8), or nothing.
    static func roleNameProblems(_ roles: [String], through places: [(place: String, encoding: String?)]) -> [(roles: [String], message: String)] {
        let nonASCII = roles.filter { !$0.unicodeScalars.allSatisfy(\.isASCII) }
        let wrong = places.filter { !writesNamesAsUTF8($0.encoding) }
        guard !nonASCII.isEmpty, !wrong.isEmpty else { return [] }
        let names = nonASCII.map { "\"\($0)\"" }.joined(separator: ", ")
        let through = wrong.map { "\($0.place) is \($0.encoding ?? "?")" }.joined(separator: "; ")
        return [(nonASCII, "users: sync cannot carry the role\(nonASCII.count == 1 ? "" : "s") \(names): \(nonASCII.count == 1 ? "its name is" : "their names are") not ASCII, and \(through). "
                 + "A role's name is bytes shared by every database of a server, which a client logs in with, and every UTF-8 database reads, as UTF-8; "
                 + "an encoding other than UTF-8 (or SQL_ASCII) holds a non-ASCII character in other bytes, or cannot hold it at all, "
                 + "so the role would be made, found or granted under another name, or not at all")]
    }

    static let roleNameHint = "point the instance's url at a UTF-8 (or SQL_ASCII) database of that server, or give the role an ASCII name on the source (ALTER ROLE ... RENAME TO ...), or copy without users: \"sync\""

    /// Every membership on this server (`pg_auth_members`) whose group and member are both in
    /// `roles`, one per pair (grants of one pair by several grantors, 16 and later, merged: an
    /// option is on when any grant has it), sorted by group then member.
    func memberships(among roles: [String]) throws -> [PostgresMembership] {
        guard !roles.isEmpty else { return [] }
        let options = connection.serverVersionNumber >= 160000
            ? "bool_or(a.inherit_option)::text, bool_or(a.set_option)::text" : "NULL, NULL"
        let names = roles.map(quoteLiteral).joined(separator: ", ")
        return try connection.query("""
            SELECT g.rolname, m.rolname, bool_or(a.admin_option)::text, \(options)
            FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
            WHERE g.rolname IN (\(names)) AND m.rolname IN (\(names))
            GROUP BY 1, 2 ORDER BY 1, 2
            """).compactMap { row in
            guard let group = row[0], let member = row[1] else { return nil }
            return PostgresMembership(group: group, member: member, admin: row[2] == "true",
                                      inherit: row[3].map { $0 == "true" }, set: row[4].map { $0 == "true" })
        }
    }

    /// Refuses (`CopyError`, before any change) a sync that would hand objects of the copied
    /// databases, or settings in them, to a role this server has with server-level rights
    /// (`powerfulRole`) that the source's role of that name lacks: a source's author may name a
    /// role after the target's superuser, and every object that role owns on the source would
    /// then run its code as that superuser here (a copied `SECURITY DEFINER` function did, for a
    /// fresh tester). A role powerful on both servers is the same trust on both.
    func refuseRolesPowerfulOnlyHere(_ existing: [String], source: PostgresSession, mappings: [DatabaseMapping]) throws {
        guard !existing.isEmpty else { return }
        let list = existing.map(quoteLiteral).joined(separator: ", ")
        let query = "SELECT r.rolname FROM pg_roles r WHERE r.rolname IN (\(list)) AND \(Self.powerfulRole)"
        let here = Set(try connection.query(query).compactMap { $0[0] })
        let there = Set(try source.connection.query(query).compactMap { $0[0] })
        let escalated = here.subtracting(there).sorted()
        guard !escalated.isEmpty else { return }
        throw FerryError(.copyError, "users sync would give what \(escalated.joined(separator: ", ")) own\(escalated.count == 1 ? "s" : "") or may do in \(mappings.map(\.source).joined(separator: ", ")) on \(source.instanceName) to the role\(escalated.count == 1 ? "" : "s") of that name on \(instanceName), which \(escalated.count == 1 ? "has" : "have") server-level rights there (a superuser, CREATEROLE, BYPASSRLS, REPLICATION, or a member of such a role) and not on \(source.instanceName)",
                         hint: "rename the role on one side, or copy without users sync (with an \"owner\"); the swapped-in copy is rolled back",
                         instance: instanceName)
    }

    /// The memberships among `roles` that `source` has and this server lacks (a pair the target
    /// has, whatever its options, is left alone). Options beyond ADMIN are carried only when the
    /// source is 16 or later.
    func membershipsToAdd(from source: PostgresSession, among roles: [String]) throws -> [PostgresMembership] {
        let have = Set(try connection.query("""
            SELECT g.rolname, m.rolname FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
            """).map { [$0[0] ?? "", $0[1] ?? ""] })
        return try source.memberships(among: roles).filter { !have.contains([$0.group, $0.member]) }
    }

    /// The oid of each of `roles` this server has, by name.
    func roleOids(_ roles: [String]) throws -> [String: String] {
        guard !roles.isEmpty else { return [:] }
        return Dictionary(uniqueKeysWithValues: try connection.query(
            "SELECT rolname, oid::text FROM pg_roles WHERE rolname IN (\(roles.map(quoteLiteral).joined(separator: ", ")))"
        ).compactMap { row in row[0].flatMap { name in row[1].map { (name, $0) } } })
    }

    /// A digest (SHA-256, computed by the server: the verifier never reaches Ferry) of the role
    /// `oid` as it is now: its attributes (`SUPERUSER`, `INHERIT`, `CREATEROLE`, `CREATEDB`,
    /// `LOGIN`, `REPLICATION`, `BYPASSRLS`, `CONNECTION LIMIT`, `VALID UNTIL`), its comment, its
    /// server-wide settings (`ALTER ROLE ... SET`) and, `withPassword` (from `pg_authid`), its
    /// password verifier. Per-database settings are not in it (the sync gives some in its
    /// copies; the undo checks the others' databases). Nil when no role has that oid.
    func roleFingerprint(oid: String, withPassword: Bool) throws -> String? {
        guard Int64(oid) != nil else { return nil }
        let table = withPassword ? "pg_authid" : "pg_roles"
        let password = withPassword ? "coalesce(a.rolpassword, '-')" : "'?'"
        return try connection.scalar("""
            SELECT encode(sha256(convert_to(concat_ws('|', a.rolsuper, a.rolinherit, a.rolcreaterole, a.rolcreatedb, a.rolcanlogin,
                     a.rolreplication, a.rolbypassrls, a.rolconnlimit, coalesce(extract(epoch FROM a.rolvaliduntil)::text, '-'),
                     coalesce(shobj_description(a.oid, 'pg_authid'), '-'),
                     coalesce((SELECT string_agg(array_to_string(s.setconfig, chr(1)), chr(2)) FROM pg_db_role_setting s
                               WHERE s.setrole = a.oid AND s.setdatabase = 0), '-'),
                     \(password)), 'UTF8')), 'hex')
            FROM pg_catalog.\(table) a WHERE a.oid = \(oid)
            """)
    }

    /// Whether the connecting role may read password verifiers (`pg_authid`: superusers).
    func readsPasswordHashes() throws -> Bool {
        try connection.scalar("SELECT has_table_privilege('pg_catalog.pg_authid', 'SELECT')") == "t"
    }

    /// `CREATE ROLE` with the source's attributes (and its password verifier where readable),
    /// then its server-wide settings. The statements hold the verifier: they are never printed,
    /// journaled or kept in an error's detail (`PostgresServerError.statementDetail`).
    func creationStatements(of role: String) throws -> [String] {
        let hashes = try readsPasswordHashes()
        let table = hashes ? "pg_authid" : "pg_roles"
        let password = hashes ? "rolpassword" : "NULL"
        guard let row = try connection.query("SELECT rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls, rolconnlimit, rolvaliduntil, \(password) FROM pg_catalog.\(table) WHERE rolname = \(quoteLiteral(role))").first else {
            return []
        }
        func flag(_ index: Int, _ yes: String) -> String { (row[index] == "t" ? "" : "NO") + yes }
        // Never server-level rights: whoever may grant on a copied object could otherwise have
        // a source's superuser made on the target (a fresh tester's GRANT to a source superuser).
        var create = "CREATE ROLE \(quoteIdent(role)) WITH " + ["NOSUPERUSER", flag(1, "INHERIT"), "NOCREATEROLE", flag(3, "CREATEDB"),
                                                                 flag(4, "LOGIN"), "NOREPLICATION", "NOBYPASSRLS"].joined(separator: " ")
        create += " CONNECTION LIMIT \(row[7] ?? "-1")"
        if let until = row[8] { create += " VALID UNTIL \(quoteLiteral(until))" }
        if let verifier = row[9] { create += " PASSWORD \(quoteLiteral(verifier))" }
        var statements = [create]
        for setting in try connection.query("SELECT unnest(setconfig) FROM pg_db_role_setting WHERE setdatabase = 0 AND setrole = (SELECT oid FROM pg_roles WHERE rolname = \(quoteLiteral(role)))").compactMap({ $0[0] }) {
            guard let eq = setting.firstIndex(of: "=") else { continue }
            statements.append("ALTER ROLE \(quoteIdent(role)) " + Self.settingClause(String(setting[..<eq]), String(setting[setting.index(after: eq)...])))
        }
        return statements
    }

    /// The table-of-contents lines of a custom-format archive (`pg_restore -l`) that are `ACL`
    /// or `DEFAULT ACL` entries: `ID; OID OID ACL ...`, the kind written by pg_dump before any
    /// name (names in the list are on one line: pg_dump replaces their line breaks).
    static func privilegeEntries(inList list: String) -> [String] {
        list.split(separator: "\n").map(String.init).filter {
            $0.range(of: #"^[0-9]+; [0-9]+ [0-9]+ (ACL|DEFAULT ACL) "#, options: .regularExpression) != nil
        }
    }

    /// Gives `target` (a database of this server) the privileges of `database` on the source
    /// (`tools`' server) as pg_dump writes them: `GRANT`, `REVOKE` and `ALTER DEFAULT PRIVILEGES`
    /// statements of its schema's `ACL` and `DEFAULT ACL` entries only (`pg_dump --schema-only
    /// --format=custom`, entries chosen by `privilegeEntries`), run by `pg_restore -L` on this
    /// server, one entry at a time and the server parsing each, so no text of the source is ever
    /// cut into statements by Ferry. Entries naming an object or role this server lacks (gone
    /// since the copy's snapshot) are skipped; any other failure is `CopyError`.
    func grantPrivileges(of database: String, on tools: PostgresTools, into target: String) throws {
        let directory = try ScratchFiles.makeDirectory(in: address.scratch, "pg-acl")
        defer { try? FileManager.default.removeItem(at: directory) }
        let archive = directory.appendingPathComponent("schema.dump"), list = directory.appendingPathComponent("acl.list")
        // pre-data + post-data: the schema with the large objects' ACLs, which --schema-only
        // leaves out (their data is the data section, not dumped).
        try tools.run("pg_dump", ["--section=pre-data", "--section=post-data", "--format=custom", "--no-publications", "--no-subscriptions",
                                  "--file", archive.path],
                      database: database, code: .copyError)
        let toc = String(decoding: try PostgresTools.runLocally("pg_restore", ["--list", "--", archive.path], code: .copyError,
                                                                instanceName: tools.instanceName), as: UTF8.self)
        let entries = Self.privilegeEntries(inList: toc)
        guard !entries.isEmpty else { return }
        try Data((entries.joined(separator: "\n") + "\n").utf8).write(to: list)
        let here = PostgresTools(address: address, instanceName: instanceName)
        try here.run("pg_restore", ["--use-list", list.path, archive.path], database: target, code: .copyError, tolerating: { stderr in
            let errors = stderr.split(separator: "\n").filter { $0.contains("ERROR:") }
            return !errors.isEmpty && errors.allSatisfy { $0.contains("does not exist") }
        })
    }

    /// Why the run's role `role` (`oid`) is no longer as the run made it, or nil: its
    /// fingerprint differs from the journaled one, it holds settings in a database that is not
    /// the run's, or (records whose fingerprints hold no verifier, or a connection that may no
    /// longer read `pg_authid`) whether its password changed cannot be checked. Records written
    /// before fingerprints were journaled: nil (by oid, as before).
    func changedSinceMade(_ role: String, oid: String, record: PostgresUserSyncUndo) throws -> String? {
        guard let fingerprints = record.fingerprints else { return nil }
        guard let made = fingerprints[role] else {
            return "the run journaled no fingerprint of it, so whether it was changed since cannot be checked"
        }
        let settings = try connection.query("""
            SELECT d.datname FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE s.setrole = \(oid)
            """).compactMap { $0[0] }.filter { !record.databases.contains($0) && Self.runTag(of: $0) == nil }
        if !settings.isEmpty {
            return "it has settings in \(Set(settings).sorted().joined(separator: ", ")) given since the copy (ALTER ROLE ... IN DATABASE ... SET)"
        }
        guard record.fingerprintsHoldPassword == true else {
            return "Ferry's user could not read password hashes (pg_authid) on \(instanceName) when the run made it, so a password set or changed since cannot be told from none; drop it yourself if it is still as the run made it"
        }
        guard try readsPasswordHashes() else {
            return "Ferry's user may no longer read password hashes (pg_authid) on \(instanceName), so whether its password changed since the run made it cannot be checked"
        }
        guard try roleFingerprint(oid: oid, withPassword: true) == made else {
            return "it was changed since the run made it (its password, VALID UNTIL, a setting, its comment or another attribute such as LOGIN or CONNECTION LIMIT)"
        }
        return nil
    }

    public func undoUserSync(_ undo: String) throws {
        _ = try undoUserSyncReporting(undo)
    }

    /// Drops the roles the sync created. A role that still owns or holds something is first
    /// stripped of it (`REASSIGN OWNED BY ... TO CURRENT_USER; DROP OWNED BY ...`) in the databases
    /// the copy may be in (its targets, and databases of Ferry's runs); one that holds something
    /// in any other database (given since, by someone) is kept, and reported.
    public func undoUserSyncReporting(_ undo: String) throws -> [String] {
        if undo.isEmpty { return [] }
        guard let record = try? JSONDecoder().decode(PostgresUserSyncUndo.self, from: Data(undo.utf8)) else {
            throw FerryError(.internalError, "the user-sync undo record is unreadable", instance: instanceName)
        }
        return try run(.internalError, "cannot undo the user sync on \(instanceName)") {
            // Roles made with UTF-8 names, found by name through a database that writes them in
            // other bytes (the url changed since): none would be found, and the undo would say
            // it dropped them (round-11 F7). Refused before any change; `ferry recover` once
            // the url names a UTF-8 database again.
            let nonASCII = (record.created + (record.memberships ?? []).flatMap { $0 }).filter { !$0.unicodeScalars.allSatisfy(\.isASCII) }
            if let made = record.nameEncoding, Self.writesNamesAsUTF8(made), !nonASCII.isEmpty,
               let now = try connection.scalar("SHOW server_encoding"), !Self.writesNamesAsUTF8(now) {
                throw FerryError(.invalidParameter, "cannot undo the user sync on \(instanceName) through its maintenance database \(address.maintenanceDatabase) (the instance url's): it is \(now), and the roles \(Array(Set(nonASCII)).sorted().map { "\"\($0)\"" }.joined(separator: ", ")) have non-ASCII names the sync wrote in UTF-8, which Ferry cannot find by name through it; nothing of the sync was undone",
                                 hint: "point the instance's url at a UTF-8 (or SQL_ASCII) database of that server, then run `ferry recover`",
                                 instance: instanceName)
            }
            var kept: [String] = []
            // What the undo takes back in the targets is Ferry's own change: recorded, so that
            // the swap's undo that follows still sees the token it expects (tester w5 X4).
            var rightsBefore: [(String, (digest: String, oid: String)?)] = []
            for database in record.databases where try databaseExists(database) {
                let now = try? rawRights(of: database)
                // A sync cut short (the record journaled before it): its own changes were never
                // recorded as a baseline, so what the target held before it is the one to keep.
                if let journaled = record.rightsBefore?[database], journaled.count == 2, let now, journaled[1] == now.oid {
                    rightsBefore.append((database, (digest: journaled[0], oid: journaled[1])))
                } else {
                    rightsBefore.append((database, now))
                }
            }
            defer { for (database, before) in rightsBefore { recordRightsBaseline(of: database, before: before) } }
            // Whether `role`, as this server has it now (`oid`), is provably the one the run
            // made: its oid as journaled (records that journal each role as made, and the one
            // after the sync); by name in older records written during the sync.
            let provenRecord = record.oidsJournaledFirst == true
            func isRunsRole(_ role: String, _ oid: String) -> Bool {
                if let made = record.oids?[role] { return made == oid }
                return !provenRecord && record.oids == nil
            }
            for pair in record.memberships ?? [] where pair.count == 2 {
                guard let row = try connection.query("""
                    SELECT g.oid::text, m.oid::text FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
                    WHERE g.rolname = \(quoteLiteral(pair[0])) AND m.rolname = \(quoteLiteral(pair[1])) LIMIT 1
                    """).first, let group = row[0], let member = row[1] else { continue }
                // Only a membership between the roles the run made or saw: one in a role made again
                // since, or of a member made again since, was given by someone else.
                let memberIsRuns = record.created.contains(pair[1]) ? isRunsRole(pair[1], member)
                    : (record.memberOids?[pair[1]].map { $0 == member } ?? !provenRecord)
                guard isRunsRole(pair[0], group), memberIsRuns else { continue }
                try connection.execute("REVOKE \(quoteIdent(pair[0])) FROM \(quoteIdent(pair[1]))")
            }
            for role in record.created {
                guard let oid = try connection.scalar("SELECT oid::text FROM pg_roles WHERE rolname = \(quoteLiteral(role))") else { continue }
                if !isRunsRole(role, oid) {
                    // The run's role may live on under another name (renamed by someone: theirs
                    // now, left as it is); said so instead of "gone" (fresh tester round 13, F6).
                    let renamed = try record.oids?[role].flatMap { try connection.scalar("SELECT rolname FROM pg_roles WHERE oid = \(quoteLiteral($0))::oid") }
                    kept.append(record.oids?[role] == nil
                        ? "role \(quoteIdent(role)) kept: the run did not create it (it was made by someone else under that name)"
                        : "role \(quoteIdent(role)) kept: it is not the role the run created (" + (renamed.map { "that one was renamed to \(quoteIdent($0)) and is left as it is" } ?? "that one is gone") + "; this one was made since)")
                    continue
                }
                // Changed since the run made it (a password, an expiry, a setting, an attribute:
                // round-11 F4): the user's now, kept as it is.
                if let why = try changedSinceMade(role, oid: oid, record: record) {
                    kept.append("role \(quoteIdent(role)) kept: \(why)")
                    continue
                }
                // Memberships given since (the run's own were revoked above; the connecting
                // role's own, which PostgreSQL 16 gives a CREATEROLE creator, aside): the role is
                // not the run's alone.
                let memberships = try connection.query("""
                    SELECT g.rolname, m.rolname FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
                    WHERE (a.roleid = \(oid) OR a.member = \(oid)) AND m.rolname <> CURRENT_USER
                    """).compactMap { row in row[0].flatMap { g in row[1].map { "\($0) in \(g)" } } }
                if !memberships.isEmpty {
                    kept.append("role \(quoteIdent(role)) kept: it holds memberships given since the copy (\(memberships.sorted().map(quoteIdent).joined(separator: ", ")))")
                    continue
                }
                let places = try connection.query("SELECT DISTINCT d.datname FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = (SELECT oid FROM pg_roles WHERE rolname = \(quoteLiteral(role)))").compactMap { $0[0] }
                let owned = try connection.query("SELECT datname FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = \(quoteLiteral(role)))").compactMap { $0[0] }
                // Privileges on shared objects are recorded with no database (`dbid = 0`):
                // `GRANT CONNECT ON DATABASE` (the sync's own database grants), and anything on a
                // tablespace or a setting, which the sync never gives.
                let shared = try connection.query("""
                    SELECT coalesce(d.datname, ''), (s.classid = 'pg_database'::regclass)::text, s.deptype::text FROM pg_shdepend s
                    LEFT JOIN pg_database d ON s.classid = 'pg_database'::regclass AND d.oid = s.objid
                    WHERE s.dbid = 0 AND s.refclassid = 'pg_authid'::regclass
                      AND s.refobjid = (SELECT oid FROM pg_roles WHERE rolname = \(quoteLiteral(role)))
                    """)
                // A database it owns is in `owned` (its ownership passes below); a tablespace it
                // owns, or a privilege on one or on a setting, is someone else's gift.
                let grantedOn = shared.filter { $0[1] == "true" && $0[2] != "o" }.compactMap { $0[0] }.filter { !$0.isEmpty }
                let onOthers = shared.contains { $0[1] != "true" }
                let ours = { (database: String) in record.databases.contains(database) || Self.runTag(of: database) != nil }
                let foreign = (places + owned + grantedOn).filter { !ours($0) } + (onOthers ? ["a tablespace or a setting"] : [])
                if !foreign.isEmpty {
                    kept.append("role \(quoteIdent(role)) kept: it holds privileges or objects in \(Set(foreign).sorted().joined(separator: ", ")) given since the copy")
                    continue
                }
                for place in places {
                    let c = try open(place)
                    defer { c.close() }
                    try c.execute("REASSIGN OWNED BY \(quoteIdent(role)) TO CURRENT_USER; DROP OWNED BY \(quoteIdent(role))")
                }
                // Its privileges on those databases themselves (`GRANT CONNECT ON DATABASE`), which
                // `DROP OWNED` in a database revokes only where the role holds something inside it
                // (a fresh tester's kill between the sync's database grant and its table grants
                // left a role no recover could drop).
                for database in Set(grantedOn) {
                    try connection.execute("REVOKE ALL ON DATABASE \(quoteIdent(database)) FROM \(quoteIdent(role)) CASCADE")
                }
                // The databases it owns are the copies (targets) or Ferry's: they go to Ferry's user.
                for database in owned { try connection.execute("ALTER DATABASE \(quoteIdent(database)) OWNER TO CURRENT_USER") }
                try connection.execute("DROP ROLE IF EXISTS \(quoteIdent(role))")
            }
            return kept
        }
    }
}
