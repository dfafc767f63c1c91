import FerryCore
import FerryIO
@testable import FerryPostgres
import Foundation
import Testing

/// `users: "sync"` between the two test clusters: roles created with their verifiers, privileges
/// and ownership rewritten for the target name, existing roles left as they are, undo.
@Suite(.serialized) struct PostgresUsersTests {
    struct Roles {
        let tag = UUID().uuidString.prefix(6).lowercased()
        var owner: String { "u_owner_\(tag)" }
        var reader: String { "u_reader_\(tag)" }
        var existing: String { "u_existing_\(tag)" }
        var odd: String { "Odd Role \"\(tag)\"" }
        var all: [String] { [owner, reader, existing, odd] }
    }

    func dropRoles(_ roles: Roles, on sessions: [PostgresSession], databases: [String]) {
        for session in sessions {
            for database in databases { session.dropTestDatabase(database) }
            for role in roles.all {
                try? session.connection.execute("DROP OWNED BY \(quoteIdent(role))")
                try? session.connection.execute("DROP ROLE IF EXISTS \(quoteIdent(role))")
            }
        }
    }

    func rolpassword(_ session: PostgresSession, _ role: String) throws -> String? {
        try session.connection.scalar("SELECT rolpassword FROM pg_authid WHERE rolname = \(quoteLiteral(role))")
    }

    @Test func syncCreatesRolesGrantsAndUndoes() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let roles = Roles()
        let db = PGServers.name("us"), renamed = db + "_copy"
        defer { dropRoles(roles, on: [a, b], databases: [db, renamed]) }
        for statement in [
            "CREATE ROLE \(quoteIdent(roles.owner)) LOGIN PASSWORD 'owner-pw' CREATEDB",
            "CREATE ROLE \(quoteIdent(roles.reader)) LOGIN PASSWORD 'reader-pw' CONNECTION LIMIT 5 VALID UNTIL '2100-01-01 00:00:00+00'",
            "ALTER ROLE \(quoteIdent(roles.reader)) SET search_path = 'public'",
            "CREATE ROLE \(quoteIdent(roles.existing)) LOGIN CREATEDB PASSWORD 'a-side'",
            "CREATE ROLE \(quoteIdent(roles.odd)) NOLOGIN",
        ] { try a.connection.execute(statement) }
        try b.connection.execute("CREATE ROLE \(quoteIdent(roles.existing)) NOLOGIN")
        try a.connection.execute("CREATE DATABASE \(quoteIdent(db)) OWNER \(quoteIdent(roles.owner))")
        try a.connection.execute("REVOKE ALL ON DATABASE \(quoteIdent(db)) FROM PUBLIC; GRANT CONNECT ON DATABASE \(quoteIdent(db)) TO \(quoteIdent(roles.reader))")
        try a.connection.execute("ALTER ROLE \(quoteIdent(roles.reader)) IN DATABASE \(quoteIdent(db)) SET work_mem = '8MB'")
        try a.sql(db, """
            CREATE TABLE t (id int PRIMARY KEY, secret text, note text);
            INSERT INTO t VALUES (1, 's', 'n');
            ALTER TABLE t OWNER TO \(quoteIdent(roles.owner));
            GRANT SELECT ON t TO \(quoteIdent(roles.reader));
            GRANT UPDATE (note) ON t TO \(quoteIdent(roles.existing));
            CREATE SCHEMA app AUTHORIZATION \(quoteIdent(roles.odd));
            ALTER DEFAULT PRIVILEGES FOR ROLE \(quoteIdent(roles.owner)) IN SCHEMA public GRANT SELECT ON TABLES TO \(quoteIdent(roles.reader));
            """)
        let reaching = try a.rolesReaching(db)
        #expect(Set(reaching) == Set(roles.all), "\(reaching)")

        // The plan says what will be created and what is left as it is.
        let source = try a.describe(fingerprinting: [db]), target = try b.describe(fingerprinting: [])
        let spec = CopySpec(name: "c", from: "pg-a", to: "pg-b", databases: [DatabaseMapping(source: db, target: renamed)], users: .sync)
        let notes = PostgresEngine().copyDiagnostics(spec, from: try PGServers.spec("FERRY_TEST_PG_A", name: "pg-a"), source: source,
                                                     to: try PGServers.spec("FERRY_TEST_PG_B", name: "pg-b"), target: target)
            .filter { $0.severity == .warning }.map(\.message)
        #expect(notes.contains { $0.contains("creates the roles") && $0.contains(roles.reader) && $0.contains(roles.owner) && !$0.contains(roles.existing) }, "\(notes)")
        #expect(notes.contains { $0.contains("leaves the roles \"\(roles.existing)\"") }, "\(notes)")

        try b.copyIn(from: a, database: db, as: renamed, runID: "run-us-\(roles.tag)")
        var journaled: [String] = []
        let undo = try b.syncUsers(from: a, mappings: [DatabaseMapping(source: db, target: renamed)]) { journaled.append($0) }
        // The intent journaled before any change names the roles; then one record per role,
        // each adding its oid before its CREATE ROLE commits (round 9 F3); the record returned
        // after the sync holds those oids (undo drops only those).
        let intent = try JSONDecoder().decode(PostgresUserSyncUndo.self, from: Data(try #require(journaled.first).utf8))
        let done = try JSONDecoder().decode(PostgresUserSyncUndo.self, from: Data(undo.utf8))
        #expect(journaled.count == 1 + done.created.count && intent.oids == [:] && intent.oidsJournaledFirst == true
                && intent.created == done.created && intent.databases == done.databases)
        for (index, text) in journaled.enumerated() {
            let record = try JSONDecoder().decode(PostgresUserSyncUndo.self, from: Data(text.utf8))
            #expect(record.oids?.count == index && record.rightsBefore != nil, "record \(index) adds one oid")
        }
        #expect(Set(done.oids?.keys.map { $0 } ?? []) == Set(done.created) && !done.created.isEmpty)
        #expect(try JSONDecoder().decode(PostgresUserSyncUndo.self, from: Data(try #require(journaled.last).utf8)).oids == done.oids)
        #expect(!undo.contains("SCRAM") && !undo.contains("reader-pw"), "no verifier in the undo record")

        // Created with the same verifier: the reader logs in on B with its password and reads.
        #expect(try rolpassword(b, roles.reader) == rolpassword(a, roles.reader))
        #expect(try rolpassword(b, roles.reader)?.hasPrefix("SCRAM-SHA-256$") == true)
        var readerSpec = try PGServers.spec("FERRY_TEST_PG_B", name: "pg-b", user: roles.reader, password: "FERRY_TEST_PG_READER")
        setenv("FERRY_TEST_PG_READER", "reader-pw", 1)
        readerSpec.url = readerSpec.url?.replacingOccurrences(of: "/postgres", with: "/" + renamed)
        let reader = try PGServers.connect(readerSpec)
        // An application's session: the role's own settings, not Ferry's pinned search_path.
        let session = try reader.open(renamed, pinnedSearchPath: false)
        #expect(try session.query("SELECT id FROM t") == [["1"]])
        #expect(try session.scalar("SHOW work_mem") == "8MB", "ALTER ROLE ... IN DATABASE carried to the new name")
        #expect(try session.scalar("SHOW search_path") == "public", "the role's own settings came with it")
        #expect(throws: (any Error).self) { try session.execute("UPDATE t SET note = 'x'") }
        session.close()
        reader.close()
        let attributes = "SELECT rolcanlogin, rolcreatedb, rolconnlimit, rolvaliduntil IS NOT NULL FROM pg_roles WHERE rolname = "
        #expect(try b.connection.query(attributes + quoteLiteral(roles.reader)) == [["t", "f", "5", "t"]])
        #expect(try b.connection.query(attributes + quoteLiteral(roles.owner)) == [["t", "t", "-1", "f"]])
        // The existing role is not altered, and gets its column privilege in the copy.
        #expect(try b.connection.query(attributes + quoteLiteral(roles.existing)) == [["f", "f", "-1", "f"]])
        #expect(try rolpassword(b, roles.existing) == nil)
        #expect(try b.rows(renamed, "SELECT has_column_privilege(\(quoteLiteral(roles.existing)), 't', 'note', 'UPDATE'), has_column_privilege(\(quoteLiteral(roles.existing)), 't', 'secret', 'UPDATE')") == [["t", "f"]])
        // Owners, database privileges and default privileges under the new name.
        #expect(try b.connection.scalar("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = \(quoteLiteral(renamed))") == roles.owner)
        #expect(try b.rows(renamed, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 't'") == [[roles.owner]])
        #expect(try b.rows(renamed, "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'app'") == [[roles.odd]])
        #expect(try b.rows(renamed, "SELECT count(*) FROM pg_default_acl") == [["1"]])
        #expect(try b.connection.scalar("SELECT has_database_privilege('\(roles.reader)', \(quoteLiteral(renamed)), 'CONNECT')") == "t")
        #expect(try b.connection.scalar("SELECT has_database_privilege('\(roles.existing)', \(quoteLiteral(renamed)), 'CONNECT')") == "f", "PUBLIC's CONNECT was revoked as on the source")

        // Undo while the copy is still in place (a failed apply rolls back newest first): the
        // created roles go, their ownership passing to Ferry's user; the existing one stays.
        #expect(try b.undoUserSyncReporting(undo) == [])
        let left = try b.connection.query("SELECT rolname FROM pg_roles WHERE rolname IN (\(roles.all.map(quoteLiteral).joined(separator: ", "))) ORDER BY 1").compactMap { $0[0] }
        #expect(left == [roles.existing])
        #expect(try b.connection.query(attributes + quoteLiteral(roles.existing)) == [["f", "f", "-1", "f"]])
        #expect(try b.undoUserSyncReporting(undo) == [], "idempotent")
    }

    /// A role created by the sync that has since been given something in a database that is not
    /// the copy's is kept (and reported), never stripped there; a connecting role that cannot
    /// read pg_authid creates roles without a password, and the plan says so.
    @Test func undoKeepsARoleGivenPrivilegesElsewhereAndPlainUsersCopyNoHash() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let roles = Roles()
        let db = PGServers.name("uk"), other = PGServers.name("uo")
        defer { dropRoles(roles, on: [a, b], databases: [db, other]) }
        try a.connection.execute("CREATE ROLE \(quoteIdent(roles.reader)) LOGIN PASSWORD 'reader-pw'")
        try a.createTestDatabase(db)
        try a.sql(db, "CREATE TABLE t (v int); GRANT SELECT ON t TO \(quoteIdent(roles.reader));")
        try b.copyIn(from: a, database: db, as: db, runID: "run-uk-\(roles.tag)")
        let undo = try b.syncUsers(from: a, mappings: [DatabaseMapping(source: db, target: db)])
        try b.createTestDatabase(other)
        try b.sql(other, "CREATE TABLE mine (v int); GRANT SELECT ON mine TO \(quoteIdent(roles.reader));")
        let kept = try b.undoUserSyncReporting(undo)
        #expect(kept.count == 1 && kept[0].contains(roles.reader) && kept[0].contains(other), "\(kept)")
        #expect(try b.rows(other, "SELECT has_table_privilege(\(quoteLiteral(roles.reader)), 'mine', 'SELECT')") == [["t"]])

        let user = try #require(ProcessInfo.processInfo.environment["FERRY_TEST_PG_PLAIN_USER"])
        let plain = try PGServers.connect(PGServers.spec("FERRY_TEST_PG_A", name: "pg-a-plain", user: user))
        defer { plain.close() }
        #expect(try plain.readsPasswordHashes() == false)
        let statements = try plain.creationStatements(of: roles.reader)
        #expect(statements.count == 1 && statements[0].contains("LOGIN") && !statements[0].contains("PASSWORD"), "\(statements)")
        var facts = try a.describe(fingerprinting: [db])
        facts.readsPasswordHashes = false
        let spec = CopySpec(name: "c", from: "pg-a", to: "pg-b", databases: [DatabaseMapping(source: db, target: db + "_x")], users: .sync)
        var target = try b.describe(fingerprinting: [])
        target.roles = target.roles?.filter { $0 != roles.reader }
        let notes = PostgresEngine().copyDiagnostics(spec, from: try PGServers.spec("FERRY_TEST_PG_A", name: "pg-a"), source: facts,
                                                     to: try PGServers.spec("FERRY_TEST_PG_B", name: "pg-b"), target: target).map(\.message)
        #expect(notes.contains { $0.contains("WITHOUT passwords") && $0.contains(roles.reader) }, "\(notes)")
    }

    /// Memberships between roles that reach the copy are carried with their ADMIN option (a
    /// login role reaching the database only through a group comes with it); a membership the
    /// target has is neither altered nor revoked; one in a group that reaches nothing copied is
    /// not carried; undo revokes what the sync added, between existing roles too. Large objects
    /// get their owners and ACLs.
    @Test func syncCarriesMembershipsAndLargeObjectOwnersAndUndoesThem() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let tag = UUID().uuidString.prefix(6).lowercased()
        let group = "M Group \"\(tag)\"", login = "m_login_\(tag)", nested = "m_nested_\(tag)", elsewhere = "m_elsewhere_\(tag)"
        let old = "m_old_\(tag)", oldMember = "m_oldmember_\(tag)", admins = "m_admins_\(tag)"
        let all = [group, login, nested, elsewhere, old, oldMember, admins]
        let db = PGServers.name("um")
        defer {
            for session in [a, b] {
                session.dropTestDatabase(db)
                for role in all {
                    try? session.connection.execute("DROP OWNED BY \(quoteIdent(role))")
                    try? session.connection.execute("DROP ROLE IF EXISTS \(quoteIdent(role))")
                }
            }
        }
        for role in all { try a.connection.execute("CREATE ROLE \(quoteIdent(role))") }
        try a.connection.execute("ALTER ROLE \(quoteIdent(login)) LOGIN PASSWORD 'login-pw'")
        try a.connection.execute("""
            GRANT \(quoteIdent(group)) TO \(quoteIdent(login)) WITH ADMIN OPTION;
            GRANT \(quoteIdent(login)) TO \(quoteIdent(nested));
            GRANT \(quoteIdent(elsewhere)) TO \(quoteIdent(login));
            GRANT \(quoteIdent(group)) TO \(quoteIdent(old));
            GRANT \(quoteIdent(old)) TO \(quoteIdent(oldMember));
            GRANT \(quoteIdent(admins)) TO \(quoteIdent(oldMember));
            """)
        // B already has old, oldMember and admins; oldMember is in admins there WITH ADMIN OPTION.
        for role in [old, oldMember, admins] { try b.connection.execute("CREATE ROLE \(quoteIdent(role))") }
        try b.connection.execute("GRANT \(quoteIdent(admins)) TO \(quoteIdent(oldMember)) WITH ADMIN OPTION")
        try a.createTestDatabase(db)
        try a.sql(db, """
            CREATE TABLE t (v int); INSERT INTO t VALUES (7);
            GRANT SELECT ON t TO \(quoteIdent(group));
            GRANT SELECT ON t TO \(quoteIdent(admins));
            SELECT lo_create(\(91_000 + Int.random(in: 0..<1000)));
            """)
        let lo = try #require(a.rows(db, "SELECT oid FROM pg_largeobject_metadata").first?[0] ?? nil)
        try a.sql(db, """
            SELECT lo_put(\(lo), 0, 'bytes'::bytea);
            ALTER LARGE OBJECT \(lo) OWNER TO \(quoteIdent(nested));
            GRANT SELECT ON LARGE OBJECT \(lo) TO \(quoteIdent(group));
            GRANT UPDATE ON LARGE OBJECT \(lo) TO \(quoteIdent(old)) WITH GRANT OPTION;
            """)
        // The login and its own member reach the database only through their memberships.
        #expect(Set([group, login, nested, old, oldMember, admins]).isSubset(of: Set(try a.rolesReaching(db))))
        #expect(!(try a.rolesReaching(db)).contains(elsewhere), "a group reaching nothing copied stays behind")

        try b.copyIn(from: a, database: db, as: db, runID: "run-um-\(tag)")
        let undo = try b.syncUsers(from: a, mappings: [DatabaseMapping(source: db, target: db)])
        let members = """
            SELECT g.rolname, m.rolname, a.admin_option::text FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid
            JOIN pg_roles m ON m.oid = a.member WHERE m.rolname IN (\(all.map(quoteLiteral).joined(separator: ", "))) ORDER BY 1, 2
            """
        #expect(try b.connection.query(members) == [
            [admins, oldMember, "true"],   // B's own membership, options kept
            [login, nested, "false"],
            [group, login, "true"],
            [group, old, "false"],         // in a group the sync created
            // old -> oldMember is not added: old is a role B had, and B's roles are never altered
        ].sorted { ($0[0]!, $0[1]!) < ($1[0]!, $1[1]!) })
        #expect(try b.connection.scalar("SELECT count(*) FROM pg_roles WHERE rolname = \(quoteLiteral(elsewhere))") == "0")
        // The login reads through its group on B with its own password.
        var loginSpec = try PGServers.spec("FERRY_TEST_PG_B", name: "pg-b", user: login,
                                           password: "FERRY_TEST_PG_LOGIN")
        setenv("FERRY_TEST_PG_LOGIN", "login-pw", 1)
        loginSpec.url = loginSpec.url?.replacingOccurrences(of: "/postgres", with: "/" + db)
        let reader = try PGServers.connect(loginSpec)
        let session = try reader.open(db, pinnedSearchPath: false)
        #expect(try session.query("SELECT v FROM t") == [["7"]])
        #expect(try session.scalar("SELECT encode(lo_get(\(lo)), 'escape')") == "bytes")
        session.close(); reader.close()
        // Large objects: owner and ACL as on the source.
        let meta = "SELECT pg_get_userbyid(lomowner), lomacl::text FROM pg_largeobject_metadata WHERE oid = \(lo)"
        #expect(try b.rows(db, meta) == a.rows(db, meta))
        #expect(try b.rows(db, meta).first?[0] == nested)

        #expect(try b.undoUserSyncReporting(undo) == [])
        #expect(try b.connection.query(members) == [[admins, oldMember, "true"]], "only B's own membership is left")
        let left = try b.connection.query("SELECT rolname FROM pg_roles WHERE rolname IN (\(all.map(quoteLiteral).joined(separator: ", "))) ORDER BY 1").compactMap { $0[0] }
        #expect(left == [admins, old, oldMember].sorted())
        #expect(try b.undoUserSyncReporting(undo) == [], "idempotent")
    }

    /// A source's author names a role after the target's superuser, makes a role of their own its
    /// member and gives it a SECURITY DEFINER function (fresh tester, round 4): users sync must
    /// neither add that membership nor hand the function to the target's superuser. A sync that
    /// would hand anything to a role powerful only on the target is refused before any change; a
    /// membership in a role the target already has is never added; an owner that may SET ROLE
    /// to a superuser is not an ordinary owner.
    @Test func syncNeverLendsATargetsPowerfulRole() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let tag = UUID().uuidString.prefix(6).lowercased()
        let ops = "u_ops_\(tag)", minion = "u_minion_\(tag)", group = "u_group_\(tag)", boss = "u_boss_\(tag)", owner = "u_own_\(tag)"
        let db = PGServers.name("up")
        defer {
            for session in [a, b] {
                session.dropTestDatabase(db)
                for role in [minion, owner, ops, group, boss] {
                    try? session.connection.execute("DROP OWNED BY \(quoteIdent(role))")
                    try? session.connection.execute("DROP ROLE IF EXISTS \(quoteIdent(role))")
                }
            }
        }
        try a.connection.execute("CREATE ROLE \(quoteIdent(ops)) NOLOGIN; CREATE ROLE \(quoteIdent(minion)) LOGIN PASSWORD 'm'; CREATE ROLE \(quoteIdent(group)) NOLOGIN; GRANT \(quoteIdent(ops)) TO \(quoteIdent(minion)); GRANT \(quoteIdent(group)) TO \(quoteIdent(minion))")
        try b.connection.execute("CREATE ROLE \(quoteIdent(ops)) NOLOGIN SUPERUSER; CREATE ROLE \(quoteIdent(group)) NOLOGIN")
        try a.createTestDatabase(db)
        try a.sql(db, """
            CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items VALUES (1);
            CREATE FUNCTION lift() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1';
            ALTER FUNCTION lift() OWNER TO \(quoteIdent(ops));
            GRANT SELECT ON items TO \(quoteIdent(minion)), \(quoteIdent(group));
            ALTER ROLE \(quoteIdent(ops)) IN DATABASE \(quoteIdent(db)) SET search_path = public, pg_catalog
            """)
        try b.copyIn(from: a, database: db, as: db, runID: "run-up-\(tag)", options: CopyOptions(owner: "ferry_plain"))
        let settings = "SELECT count(*) FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole JOIN pg_database d ON d.oid = s.setdatabase WHERE r.rolname = \(quoteLiteral(ops)) AND d.datname = \(quoteLiteral(db))"
        #expect(try b.connection.query(settings) == [["0"]], "no setting of the target's superuser comes with a copy")
        let refused = expectCode(.copyError) { _ = try b.syncUsers(from: a, mappings: [DatabaseMapping(source: db, target: db)]) }
        #expect(refused?.message.contains(ops) == true && refused?.message.contains("server-level rights") == true, "\(String(describing: refused))")
        #expect(try b.connection.query("SELECT count(*) FROM pg_roles WHERE rolname = \(quoteLiteral(minion))") == [["0"]], "refused before any change")
        #expect(try b.rows(db, "SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'lift'") == [["ferry_plain"]])

        // Without the superuser of that name: the sync runs, and still adds no membership in the
        // target's existing `group` (a role the target has is never altered).
        try b.connection.execute("DROP ROLE \(quoteIdent(ops))")
        _ = try b.syncUsers(from: a, mappings: [DatabaseMapping(source: db, target: db)])
        let members = "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = \(quoteLiteral(minion)) ORDER BY 1"
        let memberOf = try b.connection.query(members)
        #expect(memberOf == [[ops]], "the membership in the created ops only: \(memberOf)")

        // An owner that may SET ROLE to a superuser has that superuser's rights.
        try b.connection.execute("CREATE ROLE \(quoteIdent(boss)) NOLOGIN SUPERUSER; CREATE ROLE \(quoteIdent(owner)) NOLOGIN; GRANT \(quoteIdent(boss)) TO \(quoteIdent(owner))")
        let lent = expectCode(.copyError) { try b.checkCopyOwner(owner) }
        #expect(lent?.message.contains("server-level rights") == true)
        _ = expectCode(.copyError) { try b.checkCopyOwner("pg_monitor") }
    }

    /// Undo drops a role the sync created only while it is that role: one an administrator made
    /// since under the same name is kept and reported (fresh tester, round 4: the rollback
    /// dropped somebody else's login role).
    @Test func undoKeepsARoleMadeSinceUnderACreatedRolesName() throws {
        let a = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); b.close() }
        let tag = UUID().uuidString.prefix(6).lowercased()
        let reader = "u_same_\(tag)"
        let db = PGServers.name("uo")
        defer {
            for session in [a, b] {
                session.dropTestDatabase(db)
                try? session.connection.execute("DROP OWNED BY \(quoteIdent(reader))")
                try? session.connection.execute("DROP ROLE IF EXISTS \(quoteIdent(reader))")
            }
        }
        try a.connection.execute("CREATE ROLE \(quoteIdent(reader)) NOLOGIN")
        try a.createTestDatabase(db)
        try a.sql(db, "CREATE TABLE t (v int); GRANT SELECT ON t TO \(quoteIdent(reader))")
        try b.copyIn(from: a, database: db, as: db, runID: "run-uo-\(tag)", options: CopyOptions(owner: "ferry_plain"))
        let undo = try b.syncUsers(from: a, mappings: [DatabaseMapping(source: db, target: db)])
        #expect(try b.connection.query("SELECT count(*) FROM pg_roles WHERE rolname = \(quoteLiteral(reader))") == [["1"]])
        // An administrator drops it and makes another of that name.
        try b.sql(db, "DROP OWNED BY \(quoteIdent(reader))")
        try b.connection.execute("DROP ROLE \(quoteIdent(reader)); CREATE ROLE \(quoteIdent(reader)) LOGIN; COMMENT ON ROLE \(quoteIdent(reader)) IS 'someone else'")
        let kept = try b.undoUserSyncReporting(undo)
        #expect(kept.contains { $0.contains(reader) && $0.contains("not the role the run created") }, "\(kept)")
        #expect(try b.connection.query("SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = \(quoteLiteral(reader))") == [["someone else"]])
    }
}
