import FerryCore
@testable import FerryMySQL
import Foundation
import Testing

/// The MySQL shadow is journaled by name before it exists, so the name the core is told must
/// be the one `makeShadow` creates; recovery drops only that run's shadow schema.
@Suite(.serialized) struct MySQLLeftoverTests {
    @Test func theShadowNameIsKnownBeforeItIsCreatedAndOnlyItIsRemoved() throws {
        let s = try Servers.b()
        defer { s.close() }
        let tag = "lo\(UUID().uuidString.prefix(6).lowercased())"
        let run = "20261130T000000000Z-abc123", other = "20261130T000000001Z-def456"
        try s.sql("CREATE DATABASE `\(tag)`", "CREATE TABLE `\(tag)`.t(x INT)", "INSERT INTO `\(tag)`.t VALUES (1)")
        defer { _ = try? s.sql("DROP DATABASE IF EXISTS `\(tag)`") }
        let planned = try #require(s.plannedShadowName(for: tag, runID: run))
        let shadow = try s.makeShadow(for: tag, runID: run)
        #expect(shadow == planned)
        let otherShadow = try s.makeShadow(for: tag, runID: other)
        defer { _ = try? s.drop(otherShadow) }
        #expect(try s.removeLeftovers(ofRun: run, database: tag) == [shadow])
        #expect(try !s.schemaExists(shadow))
        #expect(try s.schemaExists(otherShadow), "another run's shadow stays")
        #expect(try s.contents(of: tag)["t"] == [["1"]], "the database stays")
        #expect(try s.removeLeftovers(ofRun: run, database: tag) == [], "idempotent")
    }
}
