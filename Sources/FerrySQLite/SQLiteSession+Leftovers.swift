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

    public func removeLeftovers(ofRun runID: String, database: String) throws -> [String] {
        guard directoryExists else { return [] }
        // A shortened shadow of an older release has the name of its rule.
        let prefixes = [SQLiteNames.shadowName(for: database, runID: runID),
                        SQLiteNames.legacyShortenedName(database, tag: "shadow", runID: runID)].compactMap { $0 }
            .map { $0 + SQLiteNames.fileExtension }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        var removed: [String] = []
        // Code point by code point: `hasPrefix` is canonical equivalence, and a file whose name
        // spells the shadow's with other code points (NFD against NFC) is not the run's.
        for name in names.sorted() where prefixes.contains(where: { name.unicodeScalars.starts(with: $0.unicodeScalars) }) {
            try atInstance { try RawFile.remove(directory + "/" + name, as: .copyError) }
            removed.append(name)
        }
        removed += (try? ClaimsFile(directory: directory).removeStaleTemporary(ofRun: runID)) ?? []
        if !removed.isEmpty { try? syncDirectory() }
        return removed
    }
}
