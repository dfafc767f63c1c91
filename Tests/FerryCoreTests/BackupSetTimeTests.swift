import FerryCore
import Foundation
import Testing

/// Fresh tester round 77, F5: a manifest's `takenAt` keeps whole seconds, and `at` compared with
/// it, so a set taken at 26.363 s was "at or before" 26.150 s (and one of the second before was
/// passed over for 26 s). Sets record milliseconds now, and one of an earlier release counts as
/// taken at the last instant of its second.
@Suite struct BackupSetTimeTests {
    func set(_ id: String, at seconds: TimeInterval, milliseconds: Bool = true) throws -> BackupSetManifest {
        var manifest = BackupSetManifest(id: id, instance: "src", engine: .sqlite, takenAt: Date(timeIntervalSince1970: seconds),
                                         entries: [.init(database: "shop", file: "shop.db", sizeBytes: 1, fingerprint: nil)])
        if !milliseconds { manifest.takenAtMilliseconds = nil }
        // As a catalog reads it: through the manifest's JSON.
        return try JSONDecoder.ferry.decode(BackupSetManifest.self, from: JSONEncoder.ferry.encode(manifest))
    }

    @Test func atComparesToTheMillisecond() throws {
        let base: TimeInterval = 1_796_000_000
        let sets = [try set("a1", at: base + 25.965), try set("a2", at: base + 26.105), try set("a3", at: base + 26.363)]
        #expect(BackupSetCatalog.newest(sets, atOrBefore: Date(timeIntervalSince1970: base + 26.150), holding: ["shop"])?.id == "a2")
        #expect(BackupSetCatalog.newest(sets, atOrBefore: Date(timeIntervalSince1970: base + 26), holding: ["shop"])?.id == "a1")
        #expect(BackupSetCatalog.newest(sets, atOrBefore: Date(timeIntervalSince1970: base + 27), holding: ["shop"])?.id == "a3")
    }

    @Test func aSetOfWholeSecondsCountsAsTakenAtTheEndOfItsSecond() throws {
        let base: TimeInterval = 1_796_000_000
        let old = try set("old", at: base + 26, milliseconds: false)
        #expect(old.takenAtMilliseconds == nil)
        #expect(BackupSetCatalog.newest([old], atOrBefore: Date(timeIntervalSince1970: base + 26.5), holding: ["shop"]) == nil)
        #expect(BackupSetCatalog.newest([old], atOrBefore: Date(timeIntervalSince1970: base + 27), holding: ["shop"])?.id == "old")
    }
}
