import FerryCore
import Foundation
import Testing
@testable import FerryRedis

/// Issue 21: the search for Ferry's markers (a `SCAN` of every key of a database) is made once
/// while nothing is written on the server: a plan's refresh and the claims its apply takes
/// right after scanned a 1 M-key source twice. Any write on the server, and a marker that came
/// with it, makes the next search scan again; the commit's fingerprints search for none.
extension RedisEngineTests {
    /// How many times the server ran `command` (lower case) since its start (`INFO commandstats`).
    func commandCalls(_ session: RedisSession, _ command: String) throws -> Int64 {
        let line = try session.info("commandstats")["cmdstat_\(command)"] ?? "calls=0"
        return Int64(line.split(separator: ",").first?.split(separator: "=").last ?? "0") ?? 0
    }

    @Test func theMarkerSearchScansAgainOnlyAfterAWrite() throws {
        let b = try RedisTestServers.session("B")
        defer { b.close() }
        for db in 0..<16 { try b.flushTestDatabase(String(db)) }
        try b.select(6)
        for n in 0..<50 { try b.run("SET", "k\(n)", "v") }
        _ = try b.describe(fingerprinting: ["6"])
        var before = try commandCalls(b, "scan")
        #expect(try b.ownershipClaims(6).claims.isEmpty)
        #expect(try commandCalls(b, "scan") == before, "nothing written since the refresh: no second scan")
        // A write anywhere on the server (here a marker of another run, as a swap would leave
        // one): the next search scans, and finds it.
        try b.select(6)
        try b.run("HSET", RedisOwnership.checkpointMarker(run: "run-other"), "run", "run-other", "target", "2")
        before = try commandCalls(b, "scan")
        let found = try b.ownershipClaims(6).claims
        #expect(try commandCalls(b, "scan") > before)
        #expect(found.map(\.runID) == ["run-other"] && found.first?.role == .keptCheckpoint, "\(found)")
        // The commit's read: fingerprints (here the content token, one SCAN of 50 keys), no
        // search; a refresh after a write makes both.
        try b.run("DEL", RedisOwnership.checkpointMarker(run: "run-other"))
        before = try commandCalls(b, "scan")
        _ = try b.describe(fingerprinting: ["6"])
        let refresh = try commandCalls(b, "scan") - before
        try b.run("SET", "k0", "x")
        before = try commandCalls(b, "scan")
        let facts = try b.fingerprints(of: ["6"])
        #expect(try commandCalls(b, "scan") - before == refresh - 1, "the refresh made \(refresh) scans")
        #expect(facts.database("6") != nil && facts.claims.isEmpty)
        try b.flushTestDatabase("6")
    }
}
