import Foundation
import Testing

/// Fresh tester, issue 14 F3 (round 9, "PostgreSQL, kill at `usersPlanned` + 0.15 s"): a
/// PostgreSQL `users: "sync"` killed during the sync (before `usersSynced`) left only the names
/// of the roles it made, and `ferry recover` dropped a role the user had since dropped and made
/// again under one of them (another password, other grants), then said "as they were before".
/// Each role is now made in a transaction committed only once a record holding its oid is
/// durable: the undo drops a role only while it has that oid and holds nothing given since
/// (a privilege elsewhere, a membership); any other is kept, named in a note, and the summary
/// never says "as they were".
@Suite(.serialized) struct PostgresUserSyncUndoTests {
    let pg = PostgresCLITests()

    /// Source: database TAG with roles `TAG_sync` (LOGIN, password; CONNECT, SELECT on t) and
    /// `TAG_two` (NOLOGIN; SELECT on t), made in that order; server B has neither.
    func setUp(_ project: Project, tag: String) throws -> (PostgresCLITests.Server, PostgresCLITests.Server) {
        let a = try pg.server("FERRY_TEST_PG_A"), b = try pg.server("FERRY_TEST_PG_B")
        try UserSyncKilledTests().pgSetUp(project, a, b, tag: tag)
        try pg.sql(project, a, "postgres", "DROP ROLE IF EXISTS \(tag)_two; CREATE ROLE \(tag)_two NOLOGIN;")
        try pg.sql(project, a, tag, "GRANT SELECT ON t TO \(tag)_two;")
        try pg.sql(project, b, "postgres", "DROP ROLE IF EXISTS \(tag)_two; DROP ROLE IF EXISTS \(tag)_usr;")
        return (a, b)
    }

    func cleanUp(_ project: Project, _ a: PostgresCLITests.Server, _ b: PostgresCLITests.Server, tag: String) {
        UserSyncKilledTests().pgCleanUp(project, a, b, tag: tag)
        for server in [a, b] {
            for role in ["\(tag)_two", "\(tag)_usr", "\(tag)_sync"] {
                _ = try? pg.sql(project, server, "postgres", "DROP OWNED BY \(role); DROP ROLE IF EXISTS \(role);", expectSuccess: false)
            }
        }
    }

    func oid(_ project: Project, _ b: PostgresCLITests.Server, _ role: String) throws -> String {
        try pg.sql(project, b, "postgres", "SELECT coalesce((SELECT oid::text FROM pg_roles WHERE rolname = '\(role)'), 'none');")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The user's own role under `role`'s name: the run's (if any) dropped with what it held on
    /// B, then made again with another password and, with `grant`, `CONNECT` on `postgres` (the
    /// finding's role had no grant elsewhere: an undo that went by name then dropped it).
    func remake(_ project: Project, _ b: PostgresCLITests.Server, _ role: String, tag: String, grant: Bool) throws {
        let exists = try oid(project, b, role) != "none"
        if exists {
            if try pg.databases(project, b, like: tag) != "" { try pg.sql(project, b, tag, "DROP OWNED BY \(role);") }
            try pg.sql(project, b, "postgres", "DROP OWNED BY \(role); DROP ROLE \(role);")
        }
        try pg.sql(project, b, "postgres", "CREATE ROLE \(role) LOGIN PASSWORD 'user-own-pw';" + (grant ? " GRANT CONNECT ON DATABASE postgres TO \(role);" : ""))
    }

    /// What a recover that kept the user's role ends with: the copy gone, the role there with
    /// the user's oid and grant, a note naming it, no "as they were"; nothing left to recover.
    func expectKept(_ project: Project, _ b: PostgresCLITests.Server, _ recover: Project.Result, role: String, oid userOid: String,
                    grant: Bool, tag: String, label: String) throws {
        #expect(recover.code == 0, "\(label): \(recover.all)")
        #expect(recover.stdout.contains("role \"\(role)\" kept") && !recover.stdout.contains("as they were"), "\(label): \(recover.all)")
        #expect(recover.stdout.contains("leaving"), "\(label): the summary says what was left: \(recover.all)")
        #expect(!recover.all.contains("user-own-pw") && !recover.all.contains("SCRAM"), "\(label): no secret: \(recover.all)")
        #expect(try oid(project, b, role) == userOid, "\(label): the user's role is still there")
        #expect(try pg.sql(project, b, "postgres", "SELECT count(*) FROM pg_database, aclexplode(datacl) a WHERE datname = 'postgres' AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = '\(role)');") == (grant ? "1\n" : "0\n"),
                "\(label): with its grant")
        #expect(try pg.databases(project, b, like: "\(tag)%") == "", "\(label): the copy (new on B) is gone")
        let again = try project.run("recover")
        #expect(again.code == 0 && again.stdout.contains("Nothing to recover"), "\(label): \(again.all)")
        #expect(try project.run("plan").code == 0, "\(label): plan is not blocked")
    }

    /// Stopped at several points of the sync once `TAG_sync` is made (and its oid journaled); the
    /// user drops it and makes their own under that name; killed; `ferry recover` keeps the
    /// user's role and says so, and drops the run's `TAG_two` where the run made it.
    static let madePoints = ["change:users.created#1", "change:users.created#2", "change:users.databaseGranted#1",
                             "change:users.granted#1", "before-usersSynced#1"]

    @Test(arguments: madePoints) func aRoleMadeAgainByTheUserDuringTheSyncIsKept(point: String) throws {
        let project = try Project()
        let tag = "pu" + UUID().uuidString.prefix(6).lowercased()
        let (a, b) = try setUp(project, tag: tag)
        defer { cleanUp(project, a, b, tag: tag) }
        let (run, _) = try PostgresWritesDuringRunTests().startStopped(project, at: point)
        defer { if run.isRunning { run.signal(SIGKILL) } }
        #expect(try oid(project, b, "\(tag)_sync") != "none", "\(point): the run made the role")
        try remake(project, b, "\(tag)_sync", tag: tag, grant: false)
        let userOid = try oid(project, b, "\(tag)_sync")
        run.signal(SIGKILL)
        run.waitUntilExit()
        let recover = try project.run("recover")
        try expectKept(project, b, recover, role: "\(tag)_sync", oid: userOid, grant: false, tag: tag, label: point)
        #expect(try oid(project, b, "\(tag)_two") == "none", "\(point): the run's other role is dropped (or never made)")
    }

    /// Killed after `CREATE ROLE` ran and before its oid is journaled (`roleMade`), or after the
    /// record and before the commit (`after-usersPlanned#2`): the role never was (its transaction
    /// ended with the connection). With nobody's role there, recover ends as they were; with the
    /// user's own made under the name since, that one is kept and named.
    static let inFlightPoints = ["change:users.roleMade#1", "after-usersPlanned#2", "change:users.roleMade#2", "after-usersPlanned#3"]

    @Test(arguments: inFlightPoints) func aKillBetweenCreateRoleAndItsRecordLeavesNoRoleOfTheRuns(point: String) throws {
        for userMakesOne in [false, true] {
            let project = try Project()
            let tag = "pi" + UUID().uuidString.prefix(6).lowercased()
            let (a, b) = try setUp(project, tag: tag)
            defer { cleanUp(project, a, b, tag: tag) }
            let label = "\(point), user makes one: \(userMakesOne)"
            // The second role's points: TAG_two is the one in flight, TAG_sync the run's made.
            let role = point.hasSuffix("#1") || point.hasSuffix("#2") && point.hasPrefix("after") ? "\(tag)_sync" : "\(tag)_two"
            try UserSyncKilledTests().runKilled(project, at: point)
            #expect(try oid(project, b, role) == "none", "\(label): the role in flight was never committed")
            var userOid = ""
            if userMakesOne {
                try remake(project, b, role, tag: tag, grant: true)
                userOid = try oid(project, b, role)
            }
            let recover = try project.run("recover")
            if userMakesOne {
                try expectKept(project, b, recover, role: role, oid: userOid, grant: true, tag: tag, label: label)
            } else {
                #expect(recover.code == 0 && recover.stdout.contains("as they were"), "\(label): \(recover.all)")
            }
            #expect(try oid(project, b, "\(tag)_sync") == (role == "\(tag)_sync" ? (userMakesOne ? userOid : "none") : "none"),
                    "\(label): the run's committed role is dropped")
        }
    }

    /// The run's role given a membership since (in a role of the user's, or the user's role made
    /// a member of it), stopped once its grants are given, then killed: the role is not the run's
    /// alone, so it is kept (with the membership) and named; the copy is gone.
    @Test func aRoleGivenAMembershipSinceIsKept() throws {
        for grant in ["GRANT %usr TO %sync", "GRANT %sync TO %usr"] {
            let project = try Project()
            let tag = "pm" + UUID().uuidString.prefix(6).lowercased()
            let (a, b) = try setUp(project, tag: tag)
            defer { cleanUp(project, a, b, tag: tag) }
            let (run, _) = try PostgresWritesDuringRunTests().startStopped(project, at: "change:users.granted#1")
            defer { if run.isRunning { run.signal(SIGKILL) } }
            let sql = grant.replacingOccurrences(of: "%usr", with: "\(tag)_usr").replacingOccurrences(of: "%sync", with: "\(tag)_sync")
            try pg.sql(project, b, "postgres", "CREATE ROLE \(tag)_usr NOLOGIN; \(sql);")
            let made = try oid(project, b, "\(tag)_sync")
            run.signal(SIGKILL)
            run.waitUntilExit()
            let recover = try project.run("recover")
            #expect(recover.code == 0 && recover.stdout.contains("role \"\(tag)_sync\" kept") && recover.stdout.contains("membership"),
                    "\(grant): \(recover.all)")
            #expect(!recover.stdout.contains("as they were"), "\(grant): \(recover.all)")
            #expect(try oid(project, b, "\(tag)_sync") == made, "\(grant): the role is kept")
            #expect(try pg.sql(project, b, "postgres", """
                SELECT count(*) FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
                WHERE g.rolname IN ('\(tag)_usr', '\(tag)_sync') AND m.rolname IN ('\(tag)_usr', '\(tag)_sync');
                """) == "1\n", "\(grant): the membership given since stays")
            #expect(try oid(project, b, "\(tag)_two") == "none", "\(grant): the run's other role is dropped")
            #expect(try pg.databases(project, b, like: "\(tag)%") == "", "\(grant): the copy is gone")
        }
    }

    /// A membership the sync carries (`GRANT TAG_grp TO TAG_mem`, TAG_grp made by the run, TAG_mem
    /// a role B had before): revoked by the undo while both are the roles the run made or saw.
    /// When the user dropped `TAG_mem` and made it again, and gave it that membership themselves,
    /// the membership is theirs: the run's `TAG_grp` is kept (it holds a membership given since),
    /// and the user's role keeps it.
    @Test func aCarriedMembershipIsRevokedOnlyBetweenTheRolesTheRunMadeOrSaw() throws {
        for userRemakesMember in [false, true] {
            let project = try Project()
            let tag = "pc" + UUID().uuidString.prefix(6).lowercased()
            let (a, b) = try setUp(project, tag: tag)
            defer {
                cleanUp(project, a, b, tag: tag)
                for server in [a, b] {
                    for role in ["\(tag)_grp", "\(tag)_mem"] { _ = try? pg.sql(project, server, "postgres", "DROP ROLE IF EXISTS \(role);", expectSuccess: false) }
                }
            }
            try pg.sql(project, a, "postgres", "CREATE ROLE \(tag)_grp NOLOGIN; CREATE ROLE \(tag)_mem NOLOGIN; GRANT \(tag)_grp TO \(tag)_mem;")
            try pg.sql(project, a, tag, "GRANT SELECT ON t TO \(tag)_grp;")
            try pg.sql(project, b, "postgres", "DROP ROLE IF EXISTS \(tag)_grp; DROP ROLE IF EXISTS \(tag)_mem; CREATE ROLE \(tag)_mem NOLOGIN;")
            let (run, _) = try PostgresWritesDuringRunTests().startStopped(project, at: "before-usersSynced#1")
            defer { if run.isRunning { run.signal(SIGKILL) } }
            let label = "user remakes the member: \(userRemakesMember)"
            #expect(try pg.sql(project, b, "postgres", "SELECT pg_has_role('\(tag)_mem', '\(tag)_grp', 'MEMBER')::text;") == "true\n", "\(label): carried")
            if userRemakesMember {
                try pg.sql(project, b, "postgres", "DROP ROLE \(tag)_mem; CREATE ROLE \(tag)_mem NOLOGIN; GRANT \(tag)_grp TO \(tag)_mem;")
            }
            let memberOid = try oid(project, b, "\(tag)_mem")
            run.signal(SIGKILL)
            run.waitUntilExit()
            let recover = try project.run("recover")
            #expect(recover.code == 0, "\(label): \(recover.all)")
            #expect(try oid(project, b, "\(tag)_mem") == memberOid, "\(label): the member (B's own) is never dropped")
            if userRemakesMember {
                #expect(recover.stdout.contains("role \"\(tag)_grp\" kept") && !recover.stdout.contains("as they were"), "\(label): \(recover.all)")
                #expect(try pg.sql(project, b, "postgres", "SELECT pg_has_role('\(tag)_mem', '\(tag)_grp', 'MEMBER')::text;") == "true\n",
                        "\(label): the user's membership stays")
            } else {
                #expect(recover.stdout.contains("as they were"), "\(label): \(recover.all)")
                #expect(try oid(project, b, "\(tag)_grp") == "none", "\(label): the run's group is dropped")
            }
        }
    }
}
