import FerryCore
import Foundation

/// A MySQL shadow's name is derived from the database and the run id (`NAME__ferry_s_RUN`), so
/// the core journals it before the schema exists, and recovery can drop it by that name alone.
extension MySQLSession {
    public func plannedShadowName(for database: String, runID: String) -> String? {
        Self.derivedName(database, marker: "s", runID: runID)
    }

    /// What Ferry's own work needs on a shadow and a checkpoint whatever the data: make and drop
    /// them, write its bookkeeping tables (`INSERT`, `UPDATE`, `DELETE`, `REPLACE`), read them
    /// back for the verify, build keys, and move tables in the swap (`RENAME TABLE` needs `ALTER`
    /// and `DROP` on the old name, `CREATE` and `INSERT` on the new).
    static let shadowPrivileges = ["CREATE", "DROP", "SELECT", "INSERT", "UPDATE", "DELETE", "ALTER", "INDEX"]

    /// Refuses, before anything is journaled or made, a user who could not build, swap or drop
    /// Ferry's own databases, claim the run's databases, or look for a run's leftovers (fresh
    /// tester round 34, F3: a user without `CREATE` was refused the shadow after it was
    /// journaled, and the undo of nothing failed on `mysql.user`; round 35, F1, F2, F5: a user
    /// without `INSERT` or `DELETE` got its run journaled, `ferry_meta` made and a claim left).
    /// Asks `SHOW GRANTS` (the user's and its current role's) for `shadowPrivileges` on the
    /// shadow's and the checkpoint's names (database-level or global: they are new names),
    /// probes `SELECT` on `mysql.user`, and, where Ferry's claims schema exists, `INSERT` and
    /// `DELETE` on its table (a probe row in a transaction rolled back, and a `DELETE` of no row),
    /// or, where it does not, `CREATE` on its name. `OperationDenied.WrongStatus` naming each
    /// missing right and the name it is missing on.
    public func checkBeforeShadow(for database: String, runID: String) throws {
        let names = [Self.derivedName(database, marker: "s", runID: runID), checkpointName(for: database, runID: runID)]
        let grants = try run(.wrongStatus, "cannot read the grants of Ferry's user on \(instanceName)") {
            try connection.query("SHOW GRANTS").compactMap { $0[0] }
        }
        var missing: [String] = []
        for name in names {
            let lacking = Self.shadowPrivileges.filter { !Self.grants(grants, include: $0, on: name) }
            if !lacking.isEmpty { missing.append("\(lacking.joined(separator: ", ")) on databases named like \(name)") }
        }
        do { _ = try connection.query("SELECT 1 FROM mysql.user LIMIT 0") } catch let error as MySQLServerError where error.code == 1142 || error.code == 1044 {
            missing.append("SELECT on mysql.user (to find an import account a run left)")
        }
        if let claims = try missingClaimRights(grants) { missing.append(claims) }
        guard missing.isEmpty else {
            throw FerryError(.wrongStatus, "the user Ferry connects to \(instanceName) as may not: \(missing.joined(separator: "; ")); Ferry needs them to claim, build, swap and drop its own databases there; nothing was made",
                             hint: "grant them (on *.* or a database pattern such as `\(Self.likeEscaped(database))\\_\\_ferry\\_%`.*), or use another user for this instance", instance: instanceName)
        }
    }

    /// What the user lacks to write Ferry's claims (`claim`, `release`), or nil.
    func missingClaimRights(_ grants: [String]) throws -> String? {
        guard let schema = try run(.wrongStatus, "cannot read Ferry's claims schema on \(instanceName)", { try metaSchemaName(marking: false) }) else {
            let name = try schemaExists(Self.metaSchema) ? Self.fallbackMetaSchema : Self.metaSchema
            let lacking = ["CREATE", "INSERT", "DELETE"].filter { !Self.grants(grants, include: $0, on: name) }
            return lacking.isEmpty ? nil : "write its claims (\(lacking.joined(separator: ", ")) on \(name), the schema Ferry would make for them)"
        }
        let table = qualified(schema, "claims")
        var lacking: [String] = []
        do {
            try connection.execute("START TRANSACTION")
            defer { try? connection.execute("ROLLBACK") }
            try connection.execute("INSERT IGNORE INTO \(table) (db, role, run_id) VALUES ('', '', '')")
        } catch let error as MySQLServerError where error.code == 1142 || error.code == 1044 {
            lacking.append("INSERT")
        } catch let error as MySQLServerError where error.code == 1146 {
            return nil  // no claims table yet: the first claim makes it
        }
        do { try connection.execute("DELETE FROM \(table) WHERE 1 = 0") } catch let error as MySQLServerError where error.code == 1142 || error.code == 1044 {
            lacking.append("DELETE")
        }
        return lacking.isEmpty ? nil : "write its claims (\(lacking.joined(separator: ", ")) on \(schema).claims)"
    }

    public func removeLeftovers(ofRun runID: String, database: String) throws -> [String] {
        let shadow = Self.derivedName(database, marker: "s", runID: runID)
        // A run of an older release named a long database's shadow by the 64-character rule alone.
        let legacy = Self.legacyShadowName(database, runID: runID)
        return try run(.internalError, "cannot look for leftovers of run \(runID) on \(instanceName)") {
            var removed: [String] = []
            for name in shadow == legacy ? [shadow] : [shadow, legacy] {
                // The schema first: its drop finds a full disk without waiting (`sawDiskFull`),
                // where an account's `DROP USER` would wait for room without end (round 30, F4).
                var kept: (any Error)?
                if try schemaExists(name) {
                    do {
                        try drop(name)
                        removed.append(name)
                    } catch {
                        kept = error
                    }
                }
                // The import account is derived from the shadow's journaled name (MySQLImportAccount):
                // it may outlive a shadow already dropped, so it is looked for either way, and it
                // goes even while the shadow stays for what someone made in it (its grants are on
                // the shadow alone; fresh tester round 38, M2: it stayed until a second recover).
                // Not on a full disk (`dropImportAccounts` refuses then, `sawDiskFull`).
                do {
                    removed += try dropImportAccounts(ofShadow: name)
                } catch where kept != nil {
                    // The shadow's refusal is the one said; the account waits for the next pass.
                }
                if let kept { throw kept }
            }
            return removed
        }
    }

    /// `ferry unlock --claims` of a run killed mid-swap (fresh tester round 14, A5: the
    /// checkpoint holding the target's own tables was listed as a leftover to "remove by hand",
    /// and nothing said the target held the run's tables or had its default collation
    /// switched): which target is mid-swap, that its checkpoint holds its own tables and saved
    /// definitions, and the default collation to set back (from the run's note). Reads only.
    public func leftoverWarnings(ofRun runID: String) throws -> [String] {
        try run(.internalError, "cannot read what run \(runID) left on \(instanceName)") {
            let suffix = Self.runSuffix(marker: "c", runID: runID)
            guard !suffix.hasSuffix("_c_") else { return [] }
            let schemas = try connection.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA").compactMap { $0[0] }
            var lines: [String] = []
            for c in schemas.sorted() where DerivedName.isDerived(c, suffix: suffix) {
                let own = try userTables(c)
                let saved = try baseTables(c).contains(Self.ownTable(Self.objectsTable, in: c))
                guard !own.isEmpty || saved else { continue }
                let target = schemas.first { $0 != c && Self.derivedName($0, marker: "c", runID: runID) == c }
                let name = target ?? "its database"
                let tables = own.isEmpty ? "" : "its own tables (\(own.sorted().joined(separator: ", ")))" + (saved ? " and " : "")
                let definitions = saved ? "the saved definitions of its views, routines, triggers and events (\(Self.ownTable(Self.objectsTable, in: c)))" : ""
                if try baseTables(c).contains(Self.ownTable(Self.markerTable, in: c)) {
                    // What is on its tables now, read, not assumed: the swap makes the run's
                    // triggers only after its rename, so one cut short there leaves tables with
                    // none of either's (fresh tester round 70, F1: "holds the run's tables and
                    // objects", while 31 rows written afterwards fired no trigger at all).
                    let savedTriggers = (try stagedObjects(in: c) ?? []).filter { $0.kind == "TRIGGER" }.map(\.name).sorted()
                    // (The run's witnesses of the saved ones are on its own witness table.)
                    let triggersNow = target == nil ? [] : try connection.query("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = \(connection.literal(name)) AND EVENT_OBJECT_TABLE <> \(connection.literal(Self.ownTable(Self.witnessTable, in: c))) ORDER BY TRIGGER_NAME").compactMap { $0[0] }
                    let triggers = triggersNow.isEmpty ? "no trigger on them at all" : "only the triggers \(triggersNow.joined(separator: ", ")) on them"
                    let unfired = savedTriggers.isEmpty ? "" : "; its own triggers (\(savedTriggers.joined(separator: ", "))) are saved in \(c), not on its tables, so rows written into \(name) now fire none of them"
                    // The run's witnesses still in it (fresh tester round 71, F2: not named): the
                    // witness table with triggers of the saved ones' names, and events turned
                    // into disabled witnesses.
                    let witness = Self.ownTable(Self.witnessTable, in: c)
                    let hasWitnessTable = try target != nil && baseTables(name).contains(witness)
                    let witnessEvents = target == nil ? [] : try connection.query("SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = \(connection.literal(name)) AND EVENT_COMMENT = \(connection.literal(Self.witnessComment(of: c))) ORDER BY EVENT_NAME").compactMap { $0[0] }
                    var witnesses: [String] = []
                    if hasWitnessTable { witnesses.append("the run's witness table \(witness), whose triggers hold the names of the saved ones") }
                    if !witnessEvents.isEmpty { witnesses.append("its events \(witnessEvents.joined(separator: ", ")) as the run's disabled witnesses (their own definitions saved in \(c))") }
                    let witnessed = witnesses.isEmpty ? "" : "; it also holds " + witnesses.joined(separator: ", and ") + ": drop them once its objects are made again"
                    lines.append("\(name) is in the middle of the run's swap: it holds the run's tables, not its own, with \(triggers)\(unfired)\(witnessed); \(c) is its checkpoint, no leftover: it holds \(tables)\(definitions). To put \(name) back by hand, move those tables back into it (RENAME TABLE), drop what the run put there and make its objects again from those definitions")
                } else {
                    lines.append("\(c) is the checkpoint of \(name), no leftover: it holds \(tables)\(definitions)" + (own.isEmpty ? " (no table of \(name)'s: the swap stopped before it moved any, or an undo moved them back already; \(name) may lack the views, routines, triggers and events saved there, which are made again from there)" : ""))
                }
            }
            return lines + (try collationSwitchLines(ofRun: runID))
        }
    }

    public func settingsLeftSwitched(ofRun runID: String, database: String) throws -> [String] {
        try run(.internalError, "cannot read what run \(runID) left on \(instanceName)") {
            try collationSwitchLines(ofRun: runID, database: database)
        }
    }

    /// The run's notes of collation switches still in place (of `database` only, when given).
    func collationSwitchLines(ofRun runID: String, database: String? = nil) throws -> [String] {
        try collationSwitchesLeft(ofRunTag: Self.runTag(ofRunID: runID)).filter { database == nil || $0.db == database }.map { left in
            "the default collation of \(left.db) is \(left.now): the run set it for a moment (to make a routine, trigger or event as it was made) and was cut short; its own is \(left.own): set it back with `ALTER DATABASE \(quoteName(left.db)) COLLATE \(left.own)` unless someone set \(left.now) since"
        }
    }
}
