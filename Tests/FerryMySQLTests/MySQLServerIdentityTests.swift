import FerryCore
@testable import FerryMySQL
import Foundation
import Testing

/// A server's identity (`EngineSession.serverIdentity`; MariaDB: host name and data directory),
/// journaled with a run's begin: the same for every session of one server, another for another.
@Suite struct MySQLServerIdentityTests {
    @Test func eachServerHasItsOwnStableIdentity() throws {
        let a = try Servers.a(), a2 = try Servers.a(), b = try Servers.b()
        defer { a.close(); a2.close(); b.close() }
        let identity = try #require(try a.serverIdentity())
        #expect(identity.hasPrefix("mariadb:") || identity.hasPrefix("mysql:"))
        #expect(try a2.serverIdentity() == identity)
        #expect(try b.serverIdentity() != identity)
        #expect(try a.describe(fingerprinting: []).serverIdentity == identity)
    }
}
