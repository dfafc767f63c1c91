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
        return try run(.internalError, "cannot look for leftovers of run \(runID) on \(instanceName)") {
            // The import account is derived from the shadow's journaled name (MySQLImportAccount):
            // it may outlive a shadow already dropped, so it is looked for either way.
            let accounts = try dropImportAccounts(ofShadow: shadow)
            guard try schemaExists(shadow) else { return accounts }
            try drop(shadow)
            return [shadow] + accounts
        }
    }
}
