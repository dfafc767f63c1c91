import FerryCore
@testable import FerryPostgres
import Foundation
import Testing

/// Two databases whose names differ only in Unicode normalisation are two to the server and one
/// key to a Swift `String`: the refresh lists both spellings as look-alikes, so the planner
/// refuses either name (w12 F11) rather than take one for the other.
@Suite struct PostgresLookalikeNameTests {
    @Test func bothSpellingsAreListedAsLookalikes() throws {
        let a = try PGServers.a()
        defer { a.close() }
        let base = PGServers.name("lk")
        let nfc = base + "_caf\u{E9}", nfd = base + "_cafe\u{301}"
        try a.createTestDatabase(nfc)
        defer { a.dropTestDatabase(nfc) }
        #expect(try a.describe(fingerprinting: []).lookalikeNames?.contains(nfc) != true, "one spelling alone is no look-alike")
        try a.createTestDatabase(nfd)
        defer { a.dropTestDatabase(nfd) }
        let listed = try #require(try a.describe(fingerprinting: []).lookalikeNames)
        let spellings = Set(listed.filter { $0.hasPrefix(base) }.map { $0.unicodeScalars.map(\.value) })
        #expect(spellings == [nfc.unicodeScalars.map(\.value), nfd.unicodeScalars.map(\.value)], "\(listed)")
    }
}
