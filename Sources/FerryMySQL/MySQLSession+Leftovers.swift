import FerryCore
import Foundation

/// A MySQL shadow's name is derived from the database and the run id (`NAME__ferry_s_RUN`), so
/// the core journals it before the schema exists, and recovery can drop it by that name alone.
extension MySQLSession {
    public func plannedShadowName(for database: String, runID: String) -> String? {
        Self.derivedName(database, marker: "s", runID: runID)
    }

    public func removeLeftovers(ofRun runID: String, database: String) throws -> [String] {
        let shadow = Self.derivedName(database, marker: "s", runID: runID)
        // A run of an older release named a long database's shadow by the 64-character rule alone.
        let legacy = Self.legacyShadowName(database, runID: runID)
        return try run(.internalError, "cannot look for leftovers of run \(runID) on \(instanceName)") {
            var removed: [String] = []
            for name in shadow == legacy ? [shadow] : [shadow, legacy] {
                // The import account is derived from the shadow's journaled name (MySQLImportAccount):
                // it may outlive a shadow already dropped, so it is looked for either way.
                let accounts = try dropImportAccounts(ofShadow: name)
                if try schemaExists(name) {
                    try drop(name)
                    removed.append(name)
                }
                removed += accounts
            }
            return removed
        }
    }
}
