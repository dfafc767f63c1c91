import FerryCore
@testable import FerryMySQL
import Foundation
import Testing

/// Two schemas whose names differ only in Unicode normalisation are two to MariaDB and one key
/// to a Swift `String`: the refresh lists both spellings as look-alikes, so the planner refuses
/// either name (w12 F11) rather than take one for the other.
@Suite(.serialized) struct MySQLLookalikeNameTests {
    @Test func bothSpellingsAreListedAsLookalikes() throws {
        let a = try Servers.a()
        defer { a.close() }
        let base = "lk_" + UUID().uuidString.prefix(8).lowercased()
        let nfc = base + "_caf\u{E9}", nfd = base + "_cafe\u{301}"
        try a.connection.execute("CREATE DATABASE \(quoteName(nfc))")
        defer { try? a.dropTestDatabase(nfc) }
        #expect(try a.describe(fingerprinting: []).lookalikeNames?.contains(nfc) != true, "one spelling alone is no look-alike")
        try a.connection.execute("CREATE DATABASE \(quoteName(nfd))")
        defer { try? a.dropTestDatabase(nfd) }
        let listed = try #require(try a.describe(fingerprinting: []).lookalikeNames)
        let spellings = Set(listed.filter { $0.hasPrefix(base) }.map { $0.unicodeScalars.map(\.value) })
        #expect(spellings == [nfc.unicodeScalars.map(\.value), nfd.unicodeScalars.map(\.value)], "\(listed)")
    }
}
