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

    /// User sync hands the core its undo record before the first change. An account that appears
    /// on the target after it was looked up (here: created inside the journal callback, the moment
    /// between plan and change) is not the run's: the sync fails, and the corrected intent it
    /// journals no longer names that account, so a rollback leaves it.
    @Test func userSyncJournalsFirstAndNeverClaimsAnAccountItDidNotCreate() throws {
        let a = try Servers.a(), b = try Servers.b()
        defer { a.close(); b.close() }
        let tag = "uj\(UUID().uuidString.prefix(6).lowercased())"
        try a.sql("CREATE DATABASE `\(tag)`", "CREATE USER '\(tag)_u'@'%' IDENTIFIED BY 'pw'", "GRANT SELECT ON `\(tag)`.* TO '\(tag)_u'@'%'")
        defer {
            _ = try? a.sql("DROP DATABASE IF EXISTS `\(tag)`", "DROP USER IF EXISTS '\(tag)_u'@'%'")
            _ = try? b.sql("DROP USER IF EXISTS '\(tag)_u'@'%'")
        }
        try b.sql("DROP USER IF EXISTS '\(tag)_u'@'%'")
        let exists = "SELECT COUNT(*) FROM mysql.user WHERE User = '\(tag)_u'"
        var intents: [String] = []
        // Journaled first: the account does not exist on the target when the first intent
        // arrives (later ones add what the sync learnt: the identity of each account it made).
        _ = try b.syncUsers(from: a, mappings: [DatabaseMapping(source: tag, target: tag)]) { intent in
            intents.append(intent)
            if intents.count == 1 {
                let count = try b.connection.scalar(exists)
                #expect(count == "0", "nothing is created before the intent is journaled")
            }
        }
        #expect(!intents.isEmpty && intents[0].contains("\(tag)_u"))
        try b.undoUserSync(try #require(intents.last))
        #expect(try b.connection.scalar(exists) == "0", "the undo drops the account the sync created")

        intents = []
        #expect(throws: (any Error).self) {
            _ = try b.syncUsers(from: a, mappings: [DatabaseMapping(source: tag, target: tag)]) { intent in
                intents.append(intent)
                if intents.count == 1 { try b.sql("CREATE USER '\(tag)_u'@'%' IDENTIFIED BY 'someone else'") }
            }
        }
        #expect(intents.count == 2, "a corrected intent is journaled: \(intents)")
        for intent in intents.reversed().prefix(1) { try b.undoUserSync(intent) }
        #expect(try b.connection.scalar(exists) == "1", "an account the run did not create stays")
    }
}
