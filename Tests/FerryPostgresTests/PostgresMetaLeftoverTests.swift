import FerryCore
@testable import FerryPostgres
import Foundation
import Testing

/// Ferry's claims database is made under a name of the run's own and renamed; a run killed
/// while making it leaves something provably Ferry's, which the next run removes, and never a
/// user's database of a like name (issue 14 §2).
@Suite(.serialized) struct PostgresMetaLeftoverTests {
    @Test func whatAKilledRunLeftWhileMakingTheClaimsDatabaseIsRemovedAndNothingElse() throws {
        let b = try PGServers.b()
        defer { b.close() }
        b.metaBase = PGServers.name("ferry_t_meta")
        let prefix = b.metaMakingPrefix
        let bornOwned = prefix + "00000001", commented = prefix + "00000002", users = prefix + "00000003"
        defer {
            for name in [b.metaBase, bornOwned, commented, users] { b.dropTestDatabase(name) }
            for name in [bornOwned, commented] { try? b.connection.execute("DROP ROLE IF EXISTS \(quoteIdent(PostgresSession.metaMakingRole(name)))") }
        }
        // Made under the lock a run holds while it makes its claims database (`metaConnection`):
        // another test's clean-up of unfinished ones would otherwise see a making role before its
        // database exists, and fail to drop it once it does.
        _ = try b.connection.query("SELECT pg_advisory_lock(\(PostgresSession.metaMakingLock))")
        // Killed right after CREATE DATABASE (owned by its marked role, no comment yet) ...
        try b.beginMetaDatabase(bornOwned)
        // ... and right after the comment, before the database went to Ferry's user.
        try b.beginMetaDatabase(commented)
        try b.connection.execute("COMMENT ON DATABASE \(quoteIdent(commented)) IS 'ferry:meta'")
        _ = try b.connection.query("SELECT pg_advisory_unlock(\(PostgresSession.metaMakingLock))")
        // A user's database of a like name, owned by an ordinary role, even with Ferry's comment.
        try b.connection.execute("CREATE DATABASE \(quoteIdent(users)) OWNER ferry_plain")
        try b.connection.execute("COMMENT ON DATABASE \(quoteIdent(users)) IS 'ferry:meta'")
        let roles = "SELECT count(*) FROM pg_roles WHERE rolname IN (\(quoteLiteral(PostgresSession.metaMakingRole(bornOwned))), \(quoteLiteral(PostgresSession.metaMakingRole(commented))))"
        #expect(try b.rows("postgres", roles) == [["2"]])

        // While another run makes its claims database (it holds the lock), nothing is removed.
        let other = try b.open("postgres")
        _ = try other.query("SELECT pg_advisory_lock(\(PostgresSession.metaMakingLock))")
        #expect(try b.removeUnfinishedMetaDatabases().isEmpty)
        #expect(try b.databaseExists(bornOwned) && b.databaseExists(commented))
        other.close()

        let meta = try #require(try b.metaConnection(create: true))
        meta.close()
        // Other suites make claims databases of their own meanwhile, each under the lock: then
        // this run's clean-up was skipped, as it must be, and the next run's does it. Such next
        // runs, until one gets the lock (seen under the whole suite's load).
        let deadline = Date().addingTimeInterval(60)
        while try b.databaseExists(bornOwned) || b.databaseExists(commented), Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
            _ = try b.removeUnfinishedMetaDatabases()
        }
        #expect(try !b.databaseExists(bornOwned) && !b.databaseExists(commented))
        #expect(try b.rows("postgres", roles) == [["0"]])
        #expect(try b.databaseExists(users), "a user's database is never dropped, whatever its name and comment")
        #expect(try b.databaseExists(b.metaBase) && b.comment(of: b.metaBase) == PostgresSession.metaMarker)
        #expect(try b.isOwnedByTrustedRole(b.metaBase))
    }
}

/// Fresh tester round 6, F3: a Ferry user that may not read the claims table another Ferry
/// user (a superuser) made gets `WrongStatus` naming the claims database, its owner and
/// itself, not `InstanceNotFound` with a bare "permission denied".
@Suite(.serialized) struct PostgresClaimsRightsTests {
    @Test func aUserThatMayNotReadTheClaimsIsToldWhoseTheyAre() throws {
        let b = try PGServers.b()
        defer { b.close() }
        let base = PGServers.name("ferry_t_meta")
        b.metaBase = base
        defer { b.dropTestDatabase(base) }
        let meta = try #require(try b.metaConnection(create: true))
        meta.close()
        let plainUser = try #require(ProcessInfo.processInfo.environment["FERRY_TEST_PG_PLAIN_USER"])
        let plain = try PGServers.connect(PGServers.spec("FERRY_TEST_PG_B", name: "pg-b-plain", user: plainUser))
        defer { plain.close() }
        plain.metaBase = base
        do {
            _ = try plain.describe(fingerprinting: [])
            Issue.record("describe read claims it may not read")
        } catch let error as FerryError {
            let text = error.diagnostics.map { "\($0.code.rawValue) \($0.message) \($0.hint ?? "")" }.joined(separator: "\n")
            #expect(error.diagnostics.first?.code == .wrongStatus, "\(text)")
            #expect(text.contains(plainUser) && text.contains(base) && text.contains("made by ferry"), "\(text)")
            #expect(!text.contains("InstanceNotFound"), "\(text)")
        }
        // Granted what the hint says, and nothing more (no CREATE on the schema): the user
        // claims and releases (a later tester found `CREATE TABLE IF NOT EXISTS` refused with
        // 42501 at every claim, as `Internal`).
        try b.sql(base, "GRANT SELECT, INSERT, DELETE ON public.claims TO \(plainUser)")
        try plain.claim([DatabaseClaim(database: "app", role: .importing, runID: "run-plain")])
        #expect(try plain.recordedClaims().contains { $0.runID == "run-plain" })
        try plain.release(runID: "run-plain")
        #expect(try !plain.recordedClaims().contains { $0.runID == "run-plain" })
        // A refusal by rights where a step has no code of its own is `WrongStatus`, not `Internal`.
        try b.sql(base, "REVOKE INSERT ON public.claims FROM \(plainUser)")
        do {
            try plain.claim([DatabaseClaim(database: "app", role: .importing, runID: "run-plain")])
            Issue.record("a claim without INSERT went through")
        } catch let error as FerryError {
            #expect(error.code == .wrongStatus, "\(error)")
        }
    }
}

/// A target user who may not create databases was refused at the shadow's `CREATE DATABASE`,
/// after the shadow was journaled (`CopyError`, a run rolled back for nothing): it is refused
/// before anything of the shadow is journaled, `WrongStatus` naming `CREATEDB`.
@Suite(.serialized) struct PostgresShadowRightsTests {
    @Test func aUserWhoMayNotCreateDatabasesIsRefusedBeforeTheShadow() throws {
        let b = try PGServers.b()
        defer { b.close() }
        let password = try #require(ProcessInfo.processInfo.environment["FERRY_TEST_PG_PASSWORD"])
        let role = PGServers.name("ferry_t_nocreatedb")
        try b.sql("postgres", "CREATE ROLE \(role) LOGIN NOCREATEDB PASSWORD '\(password)'")
        defer { try? b.sql("postgres", "DROP ROLE IF EXISTS \(role)") }
        let user = try PGServers.connect(PGServers.spec("FERRY_TEST_PG_B", name: "pg-b-nocreatedb", user: role))
        let target = PGServers.name("ferry_t_target")
        do {
            try user.checkBeforeShadow(for: target, runID: "run-nocreatedb")
            Issue.record("a user without CREATEDB passed the check")
        } catch let error as FerryError {
            #expect(error.code == .wrongStatus && error.message.contains("CREATEDB") && error.message.contains(role), "\(error)")
        }
        user.close()
        #expect(try !b.databaseExists(PostgresSession.derivedName(target, marker: "s", runID: "run-nocreatedb")))
        // Given CREATEDB, the same user passes (for a target that does not exist yet).
        try b.sql("postgres", "ALTER ROLE \(role) CREATEDB")
        let allowed = try PGServers.connect(PGServers.spec("FERRY_TEST_PG_B", name: "pg-b-createdb", user: role))
        defer { allowed.close() }
        try allowed.checkBeforeShadow(for: target, runID: "run-createdb")
    }
}
