import FerryCore
@testable import FerryRedis
import Foundation
import Testing

/// A Redis shadow's number is only known once `makeShadow` marks an empty database; the core
/// journals the intent first and recovery finds the database by the run's marker. Only that
/// run's marked database for that target goes: another run's shadow and user data stay.
extension RedisEngineTests {
    @Test func leftoversAreTheDatabasesMarkedWithTheRunAndTheTarget() throws {
        let s = try RedisTestServers.session("A")
        defer { s.close() }
        try s.run("FLUSHALL")
        defer { _ = try? s.run("FLUSHALL") }
        let run = "20261130T000000000Z-abc123", other = "20261130T000000001Z-def456"
        #expect(s.plannedShadowName(for: "3", runID: run) == nil, "Redis picks the number when it creates the shadow")
        try s.select(3)
        try s.run("SET", "user", "data")
        let mine = try s.makeShadow(for: "3", runID: run)
        // A partial copy, written by Ferry (counted into the marker): it goes with the shadow.
        try s.cloneDatabase("3", into: mine, progress: ProgressCounter())
        #expect(try s.userKeyCount(try s.owned(mine).database, run: run) == 1)
        let theirs = try s.makeShadow(for: "3", runID: other)
        let otherTarget = try s.makeShadow(for: "4", runID: run)
        #expect(Set([mine, theirs, otherTarget]).count == 3)
        // Found by its marker, a database holding more than the marker is left, named (fresh
        // tester round 36, F5); the run's journaled name drops it.
        #expect { try s.removeLeftovers(ofRun: run, database: "3") } throws: { "\($0)".contains("only while the marker is all it holds") }
        #expect(try s.userKeyCount(try s.owned(mine).database, run: run) == 1)
        try s.drop(mine)
        #expect(try s.userKeyCount(try s.owned(mine).database) == 0)
        try s.select(try s.owned(mine).database)
        #expect(try s.run("DBSIZE").integer == 0, "the marker goes too")
        // A marker alone (a kill before the number was journaled) is a leftover the sweep removes.
        let lone = try s.makeShadow(for: "3", runID: run)
        #expect(try s.removeLeftovers(ofRun: run, database: "3") == [lone])
        #expect(try s.userKeyCount(3) == 1, "the target's data stays")
        try s.select(try s.owned(theirs).database)
        #expect(try s.run("EXISTS", RedisOwnership.shadowMarker(run: other)).integer == 1, "another run's shadow stays")
        try s.select(try s.owned(otherTarget).database)
        #expect(try s.run("EXISTS", RedisOwnership.shadowMarker(run: run)).integer == 1, "the run's shadow of another target stays")
        #expect(try s.removeLeftovers(ofRun: run, database: "3") == [], "idempotent")
    }
}
