import FerryCore
@testable import FerryMySQL
import Foundation
import Testing

/// Fresh tester, issue 14: MySQL and MariaDB keep names in utf8mb3, so a name with a character
/// outside U+0001 to U+FFFF (any 4-byte UTF-8 character) cannot exist on the server, and
/// comparing one with a name column fails (1267, "Illegal mix of collations"). Such a name is a
/// plan-time error (database, rename target and copy source alike); and the calls a rollback or
/// `ferry recover` makes for a journal that names one (drop the shadow, look for the run's
/// leftovers, does the target exist, its content token) finish and find nothing, so a run of an
/// earlier release that journaled such a name is recoverable.
@Suite(.serialized) struct MySQLOutsideBMPNameTests {
    static let outside = ["shop😀", "a𝄞b", "🇫🇷", "x\u{10FFFF}", "日本😀語"]
    static let inside = ["shopé", "日本語", "€uro", "\u{FFFD}x"]

    @Test func aNameWithACharacterOutsideTheBMPIsAStaticError() {
        let engine = MySQLEngine()
        for name in Self.outside {
            let problem = engine.problem(withDatabaseName: name)
            #expect(problem?.contains("U+0001 to U+FFFF") == true, "\(name): \(problem ?? "nil")")
            #expect(engine.problem(withSourceDatabaseName: name) != nil, "\(name) as a copy's source")
        }
        for name in ["#mysql50#shop", "#mysql50#"] {
            #expect(engine.problem(withDatabaseName: name)?.contains("#mysql50#") == true, "\(name)")
            #expect(engine.problem(withSourceDatabaseName: name) != nil, "\(name) as a copy's source")
        }
        for name in Self.inside + ["shop#mysql50#", "#MYSQL50#x"] {
            #expect(engine.problem(withDatabaseName: name) == nil, "\(name)")
            #expect(engine.problem(withSourceDatabaseName: name) == nil, "\(name)")
        }
    }

    /// What recovery asks of a journaled shadow named after `shop😀` finishes: nothing to drop,
    /// nothing there; the same calls with a BMP name of the same shape still find and drop it.
    @Test func recoveryCallsForANameTheServerCannotHoldFinish() throws {
        let s = try Servers.b()
        defer { s.close() }
        let run = "20261201T000000000Z-bmp\(UUID().uuidString.prefix(6).lowercased())"
        for name in Self.outside + ["#mysql50#shop"] {
            let shadow = try #require(s.plannedShadowName(for: name, runID: run))
            #expect(try !s.schemaExists(name))
            #expect(try !s.databaseExists(name))
            #expect(try !s.schemaExists(shadow))
            #expect(try s.contentToken(of: name) == nil)
            try s.drop(shadow)
            #expect(try s.removeLeftovers(ofRun: run, database: name) == [])
            #expect(try s.leftovers(ofRun: run) == [])
        }
        let tag = "日本\(UUID().uuidString.prefix(6).lowercased())"
        try s.sql("CREATE DATABASE `\(tag)`")
        defer { _ = try? s.sql("DROP DATABASE IF EXISTS `\(tag)`") }
        let shadow = try s.makeShadow(for: tag, runID: run)
        #expect(try s.schemaExists(shadow))
        #expect(try s.removeLeftovers(ofRun: run, database: tag) == [shadow])
        #expect(try !s.schemaExists(shadow))
        #expect(try s.schemaExists(tag), "the database stays")
    }
}
