import FerryCore
import Foundation
import Testing
@testable import FerryRedis

/// Issue 14 §4 on Redis: claims carry their holder, and an operator's release reaches the
/// connection of another process that holds them.
@Suite struct RedisClaimsTests {
    @Test func claimNamesCarryTheHolderAndOldNamesStillDecode() {
        let claims = [DatabaseClaim(database: "3", role: .importing, runID: "20260101T000000000Z-abc123", holder: "ci user",
                                    host: "build:host|1", pid: 4242)]
        let name = RedisClaimRegistry.encode(claims, runID: "20260101T000000000Z-abc123")
        #expect(!name.contains(" "))
        let decoded = RedisClaimRegistry.decode(String(name.dropFirst("ferryclaim:".count)))
        #expect(decoded.count == 1)
        #expect(decoded.first?.runID == "20260101T000000000Z-abc123")
        #expect(decoded.first?.pid == 4242)
        #expect(decoded.first?.host == "build_host_1")
        #expect(decoded.first?.holder == "ci_user")
        // A name written by an older ferry: holder unknown, never taken for dead.
        let old = RedisClaimRegistry.decode("I3,M4:run-old")
        #expect(old.map(\.database) == ["3", "4"] && old.allSatisfy { $0.runID == "run-old" && $0.pid == nil && !$0.isHolderGone })
    }

    @Test func releasingARunClosesAnotherProcesssClaimConnection() throws {
        let session = try RedisTestServers.session("A")
        defer { session.close() }
        // Another process's claim: a connection named as ferry names them, from another host.
        let foreign = try RedisEndpoint(url: try RedisTestServers.variable("FERRY_TEST_REDIS_A"), password: nil).open()
        defer { foreign.close() }
        let run = "20260101T000000000Z-far" + UUID().uuidString.prefix(4).lowercased()
        let claim = DatabaseClaim(database: "9", role: .importing, runID: run, holder: "ci", host: "elsewhere", pid: 7)
        try foreign.command("CLIENT", "SETNAME", RedisClaimRegistry.encode([claim], runID: run))
        let seen = try session.describe().claims.filter { $0.runID == run }
        #expect(seen.first?.host == "elsewhere" && seen.first?.pid == 7)
        #expect { try session.claim([DatabaseClaim(database: "9", role: .importing, runID: "mine")]) } throws: {
            ($0 as? FerryError)?.code == .wrongStatus && "\($0)".contains("elsewhere")
        }
        try session.release(runID: run)
        #expect(try !session.describe().claims.contains { $0.runID == run })
        try session.claim([DatabaseClaim(database: "9", role: .importing, runID: "mine")])
        try session.release(runID: "mine")
    }
}
