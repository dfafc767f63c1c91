import Foundation
import Testing
@testable import FerryCore

/// Names that are one to a Swift `String` (canonically equivalent) and two to every engine
/// (fresh tester round 8, w12 F11): the plan never takes one for the other.
@Suite struct LookalikeNameTests {
    let nfc = "caf\u{E9}"            // é as one code point
    let nfd = "cafe\u{301}"          // e + combining acute accent
    let nfcAngstrom = "\u{C5}ngstr\u{F6}m"
    let nfdAngstrom = "A\u{30A}ngstro\u{308}m"

    @Test func theSpellingsAreOneStringAndTwoNames() {
        #expect(nfc == nfd)
        #expect(!nfc.unicodeScalars.elementsEqual(nfd.unicodeScalars))
    }

    @Test func aListingKeepsBothSpellingsAsLookalikes() {
        var listed: [String: Int] = [:], lookalikes: [String] = []
        listed.insertListed(1, as: "plain", lookalikes: &lookalikes)
        listed.insertListed(2, as: nfd, lookalikes: &lookalikes)
        #expect(lookalikes.isEmpty)
        listed.insertListed(3, as: nfc, lookalikes: &lookalikes)
        listed.insertListed(4, as: nfd, lookalikes: &lookalikes)
        #expect(lookalikes.map { Array($0.unicodeScalars) } == [Array(nfd.unicodeScalars), Array(nfc.unicodeScalars)])
        #expect(listed.otherSpelling(of: "plain") == nil)
        #expect(listed.otherSpelling(of: "missing") == nil)
    }

    /// Only the NFD database exists; the plan names the NFC one: before, "target exists
    /// (onExisting: replace)" for a database the apply then created beside it.
    @Test func aTargetListedInOtherCodePointsIsANameConflict() {
        for onExisting in [OnExisting.replace, .append, .fail] {
            let plan = Fixture.plan(imports: [Fixture.importing("seed", database: nfc, onExisting: onExisting)])
            let result = Fixture.plan(plan, Fixture.facts(["a": [nfd: "f1"]]))
            #expect(result.codes == [.nameConflict], "\(onExisting): \(result.diagnostics)")
            let message = result.diagnostics.first { $0.code == .nameConflict }?.message ?? ""
            #expect(message.contains("U+0065 U+0301") && message.contains("U+00E9"), "\(message)")
        }
    }

    @Test func bothSpellingsListedRefuseEitherName() {
        for name in [nfc, nfd] {
            let plan = Fixture.plan(imports: [Fixture.importing("seed", database: name, onExisting: .replace)])
            var facts = Fixture.facts(["a": [name: "f1"]])
            facts.instances["a"]?.lookalikeNames = [nfc, nfd]
            #expect(Fixture.plan(plan, facts).codes == [.nameConflict])
        }
    }

    @Test func copiesAndBackupsAreCheckedOnBothSides() {
        let copy = Fixture.plan(copies: [Fixture.copying("c", from: "a", to: "b", [(nfcAngstrom, "fresh")])])
        #expect(Fixture.plan(copy, Fixture.facts(["a": [nfdAngstrom: "s"]])).codes.contains(.nameConflict))
        let into = Fixture.plan(copies: [Fixture.copying("c", from: "a", to: "b", [("src", nfdAngstrom)], onExisting: .replace)])
        #expect(Fixture.plan(into, Fixture.facts(["a": ["src": "s"], "b": [nfcAngstrom: "t"]])).codes == [.nameConflict])
        let backup = Fixture.plan(backups: [BackupSpec(name: "n", of: "c", databases: [nfc], to: "/tmp/b")])
        #expect(Fixture.plan(backup, Fixture.facts(["c": [nfd: "x"]])).codes.contains(.nameConflict))
    }

    @Test func theSameCodePointsAreNoConflict() {
        let plan = Fixture.plan(imports: [Fixture.importing("seed", database: nfd, onExisting: .replace)])
        let result = Fixture.plan(plan, Fixture.facts(["a": [nfd: "f1"]]))
        #expect(result.codes.isEmpty, "\(result.diagnostics)")
        #expect(result.change("import.seed")?.action == .replace)
    }
}
