import FerryCore
import Foundation
import Testing
@testable import FerryPostgres

/// Fresh tester round 5, W8-2: the swap gives the shadow the replaced database's owner, so a
/// Ferry user that may not `ALTER DATABASE ... OWNER TO` that owner is refused before its
/// shadow is made (nothing created), never left to hand the database to itself; once it may
/// (a member of the owner, with CREATEDB), the shadow is made.
@Suite(.serialized) struct PostgresOwnerCarryTests {
    @Test func aUserThatCannotGiveTheOwnerIsRefusedBeforeTheShadowIsMade() throws {
        let plainUser = try #require(ProcessInfo.processInfo.environment["FERRY_TEST_PG_PLAIN_USER"])
        let a = try PGServers.a()
        defer { a.close() }
        let plain = try PGServers.connect(PGServers.spec("FERRY_TEST_PG_A", name: "pg-a-plain", user: plainUser))
        defer { plain.close() }
        let target = PGServers.name("own"), owner = target + "_owner"
        try a.connection.execute("CREATE ROLE \(quoteIdent(owner)) NOLOGIN")
        defer { a.dropTestDatabase(target); try? a.connection.execute("DROP ROLE IF EXISTS \(quoteIdent(owner))") }
        try a.connection.execute("CREATE DATABASE \(quoteIdent(target)) OWNER \(quoteIdent(owner))")
        let run = "o" + UUID().uuidString.prefix(8).lowercased()
        defer { _ = try? a.removeLeftovers(ofRun: run, database: target) }
        do {
            _ = try plain.makeShadow(for: target, runID: run)
            Issue.record("a user that may not give the owner \(owner) was not refused")
        } catch let error as FerryError {
            #expect(error.code == .wrongStatus, "\(error)")
            #expect(error.message.contains("its owner \(owner)") && error.message.contains("nothing was changed"), "\(error.message)")
        }
        #expect(try !a.databaseExists(PostgresSession.derivedName(target, marker: "s", runID: run)), "no shadow was made")
        // A member of the owner (with CREATEDB) may: the shadow is made.
        try a.connection.execute("GRANT \(quoteIdent(owner)) TO \(quoteIdent(plainUser))")
        let shadow = try plain.makeShadow(for: target, runID: run)
        #expect(try a.databaseExists(shadow))
        #expect(try plain.carriedAttributes(of: target, onto: shadow) == ["ALTER DATABASE \(quoteIdent(shadow)) OWNER TO \(quoteIdent(owner))"])
    }
}
