import FerryCore
@testable import FerryPostgres
import Foundation
import Testing

/// A server's identity (`EngineSession.serverIdentity`), journaled with a run's begin: the same
/// for every session of one cluster, another for another cluster, and in the refresh's facts.
@Suite struct PostgresServerIdentityTests {
    @Test func eachClusterHasItsOwnStableIdentity() throws {
        let a = try PGServers.a(), a2 = try PGServers.a(), b = try PGServers.b()
        defer { a.close(); a2.close(); b.close() }
        let identity = try #require(try a.serverIdentity())
        #expect(identity.hasPrefix("postgres:") && identity.count > "postgres:".count)
        #expect(try a2.serverIdentity() == identity)
        #expect(try b.serverIdentity() != identity)
        #expect(try a.describe(fingerprinting: []).serverIdentity == identity)
    }
}
