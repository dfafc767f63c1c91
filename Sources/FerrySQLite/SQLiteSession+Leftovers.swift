import FerryCore
import Foundation

/// What a killed run may leave in an instance directory, and how recovery finds it: every file
/// Ferry writes there for a shadow starts with the shadow's name, which holds the run id
/// (`.NAME.ferry-shadow-RUNID.db`, its `-journal`/`-wal`/`-shm`, its `.ferry-verify.json` copy
/// record and that record's temporary file). Nothing else is touched: not a checkpoint, not
/// a user's file.
extension SQLiteSession {
    public func plannedShadowName(for database: String, runID: String) -> String? {
        SQLiteNames.shadowName(for: database, runID: runID)
    }

    /// Without the identity the run journaled (`removeLeftovers(ofRun:database:shadowIdentity:)`
    /// with nil): only an empty shadow file is the run's.
    public func removeLeftovers(ofRun runID: String, database: String) throws -> [String] {
        try removeLeftovers(ofRun: runID, database: database, shadowIdentity: nil)
    }

    /// The files named after the run's shadow go only while the file at the shadow's name is
    /// the run's (`shadowNotTheRuns`, with the identity journaled when it was made), or when
    /// none is there; otherwise nothing of them is removed and the call throws
    /// `OperationDenied.WrongStatus` naming it (issue 14, round 9: `ferry recover` deleted a
    /// user's file made at a killed run's shadow name).
    public func removeLeftovers(ofRun runID: String, database: String, shadowIdentity: String?) throws -> [String] {
        guard directoryExists else { return [] }
        // A shortened shadow of an older release has the name of its rule; only such a
        // release's journal (no identity on its `shadowCreated`) drops it by name.
        let legacyIdentity = shadowIdentity == JournalRecord.identityOfAnEarlierRelease ? shadowIdentity : nil
        let shadows = [(SQLiteNames.shadowName(for: database, runID: runID), shadowIdentity),
                       (SQLiteNames.legacyShortenedName(database, tag: "shadow", runID: runID), legacyIdentity)]
            .compactMap { name, identity in name.map { ($0, identity) } }
        for (shadow, identity) in shadows {
            if let foreign = shadowNotTheRuns(shadow, identity: identity) {
                throw FerryError(.wrongStatus, foreign, hint: Self.foreignShadowHint, instance: target.instance.name, reason: .notTheRunsFile)
            }
        }
        let prefixes = shadows.map { $0.0 + SQLiteNames.fileExtension }
        var removed: [String] = []
        // The companions go first (while the shadow they belong to is there to compare them
        // with), and only where provably SQLite's for the run's shadow (round-11 F3).
        // A shadow an earlier release journaled goes by name with everything named after it, as
        // that release did (its pending run still finishes).
        for prefix in prefixes where shadowIdentity != JournalRecord.identityOfAnEarlierRelease {
            let present = SQLiteNames.companionSuffixes.filter { FileBirth.identity(ofPath: directory + "/" + prefix + $0, followingLinks: false) != nil }
            guard !present.isEmpty else { continue }
            removeShadowCompanions(directory + "/" + prefix, shadow: Self.companionOwner(directory + "/" + prefix))
            removed += present.filter { FileBirth.identity(ofPath: directory + "/" + prefix + $0, followingLinks: false) == nil }.map { prefix + $0 }
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        // Code point by code point: `hasPrefix` is canonical equivalence, and a file whose name
        // spells the shadow's with other code points (NFD against NFC) is not the run's.
        for name in names.sorted() {
            guard let prefix = prefixes.first(where: { name.unicodeScalars.starts(with: $0.unicodeScalars) }) else { continue }
            let rest = name.unicodeScalars.dropFirst(prefix.unicodeScalars.count)
            if shadowIdentity != JournalRecord.identityOfAnEarlierRelease,
               SQLiteNames.companionSuffixes.contains(where: { $0.unicodeScalars.elementsEqual(rest) }) { continue }
            try atInstance { try RawFile.remove(directory + "/" + name, as: .copyError) }
            removed.append(name)
        }
        removed += (try? ClaimsFile(directory: directory).removeStaleTemporary(ofRun: runID)) ?? []
        if !removed.isEmpty { try? syncDirectory() }
        return removed
    }
}
