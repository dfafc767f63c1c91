import FerryCore
@testable import FerryPostgres
import Foundation
import Testing

/// Issue 14 on PostgreSQL: where Ferry's maintenance database (the URL's) has an encoding other
/// than UTF-8 or SQL_ASCII, a name with a character that encoding cannot hold (`shop😀` under
/// LATIN1) cannot even be written on Ferry's connection (SQLSTATE 22P05). The shadow's creation
/// fails; the undo and the leftover search of such a journaled shadow must still finish (there
/// is nothing of it: Ferry creates databases only through that connection), or `ferry recover`
/// would fail the same way forever.
@Suite(.serialized) struct PostgresUntranslatableNameTests {
    @Test func recoveryCallsForANameTheMaintenanceEncodingCannotHoldFinish() throws {
        let b = try PGServers.b()
        defer { b.close() }
        let latin = PGServers.name("lat")
        b.dropTestDatabase(latin)
        try b.connection.execute("CREATE DATABASE \(quoteIdent(latin)) ENCODING 'LATIN1' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'")
        defer { b.dropTestDatabase(latin) }
        var spec = try PGServers.spec("FERRY_TEST_PG_B", name: "pg-b-latin1")
        spec.url = try #require(spec.url?.replacingOccurrences(of: "/postgres", with: "/\(latin)"))
        let s = try PGServers.connect(spec)
        defer { s.close() }
        #expect(try s.connection.scalar("SHOW server_encoding") == "LATIN1")
        let run = "20261201T000000000Z-lat\(UUID().uuidString.prefix(6).lowercased())"
        for name in ["shop😀", "日本", "a€b"] {
            let shadow = PostgresSession.derivedName(name, marker: "s", runID: run)
            #expect(try !s.canName(shadow), "\(name)")
            #expect(try !s.databaseExists(name))
            #expect(try !s.databaseExists(shadow))
            try s.drop(shadow)
            #expect(try s.removeLeftovers(ofRun: run, database: name) == [])
            #expect(try s.leftovers(ofRun: run) == [])
            #expect(throws: FerryError.self) { _ = try s.makeShadow(for: name, runID: run) }
            #expect(try s.leftovers(ofRun: run) == [], "nothing was made")
        }
        #expect(try s.canName("café"), "a LATIN1 character is written as before")
    }

    /// Round-9 fresh tester F7: what plan refuses. Under a LATIN1 maintenance database a name
    /// with a character LATIN1 holds in other bytes than UTF-8 (`café`) is unusable (made, it
    /// cannot be connected to), as is one with a character LATIN1 cannot hold; ASCII names are
    /// usable; under UTF-8 every name is. `describe` reports them for the names asked about, and
    /// the database its connection stays in.
    @Test func describeReportsNamesAMaintenanceEncodingCannotServe() throws {
        let b = try PGServers.b()
        defer { b.close() }
        let latin = PGServers.name("lau")
        b.dropTestDatabase(latin)
        try b.connection.execute("CREATE DATABASE \(quoteIdent(latin)) ENCODING 'LATIN1' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'")
        defer { b.dropTestDatabase(latin) }
        var spec = try PGServers.spec("FERRY_TEST_PG_B", name: "pg-b-latin1")
        spec.url = try #require(spec.url?.replacingOccurrences(of: "/postgres", with: "/\(latin)"))
        let s = try PGServers.connect(spec)
        defer { s.close() }
        #expect(try s.unusableName("café")?.contains("is LATIN1, which holds é (U+00E9) in other bytes than UTF-8") == true)
        #expect(try s.unusableName("naïve€")?.contains("which cannot hold € (U+20AC)") == true, "the one LATIN1 cannot hold is named first")
        #expect(try s.unusableName("日本")?.contains("cannot hold 日 (U+65E5), 本 (U+672C)") == true)
        #expect(try s.unusableName("shop_1-x") == nil)
        #expect(try b.unusableName("café☕日本") == nil, "a UTF-8 maintenance database serves every name")
        let facts = try s.describe(fingerprinting: ["café", "shop", "ѕhop"])
        #expect(facts.unusableNames.map { Set($0.keys) } == ["café", "ѕhop"])
        #expect(facts.connectionDatabase == latin)
        #expect(try b.describe(fingerprinting: ["café"]).unusableNames == nil)
        #expect(try b.describe(fingerprinting: ["café"]).connectionDatabase == "postgres")
    }
}
