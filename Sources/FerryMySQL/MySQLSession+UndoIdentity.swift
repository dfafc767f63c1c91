import Foundation
import FerryCore

/// Which database an undo (or a swap) writes into. MariaDB gives a schema no identity of its own
/// (no oid, no creation time), so the tables a step moved are its proof: a target that lost
/// them since was dropped (and perhaps made again by an application) under the step's feet, and
/// nothing more of the step goes into it (fresh tester round 11, F2: the checkpoint's views and
/// routines were made in an application's new database, one of its tables moved in, and the
/// rollback said "hold what they held before"). A table of those names is one of them only
/// while it has the InnoDB id the step recorded (`MySQLSession+TableIdentity`, round 15, B2);
/// without ids (no InnoDB, an earlier release's record) names are the proof, and a database
/// made again with tables of the same names is taken for the one moved into.
extension MySQLSession {
    /// The hint of an undo stopped because its target changed under it: the next pass asks.
    static func askAgainHint(_ database: String) -> String {
        "run `ferry recover`: it then asks whether to keep \(database) as it is now (`--keep-later-writes`) or to restore the checkpoint over it (`--discard-later-writes`)"
    }

    /// Throws `WrongStatus`, nothing changed, when the target of a finished swap no longer holds
    /// every table the swap moved in (`present`: the run's tables there now): they were dropped,
    /// or the target dropped and made again, after the rollback's check for writes. Not when the
    /// undo restores over later writes (`expectedTargetToken` nil: `--discard-later-writes`),
    /// for a swap that did not finish, or for a record without the list (an earlier release's).
    func refuseRunTablesGone(_ record: SwapRecord, present: [String]) throws {
        guard record.swapped == true, record.expectedTargetToken != nil,
              let listed = Self.swappedIn(record.detail), listed.contains(Self.tablesListed),
              let objects = Self.swappedInDefinitions(record.detail) else { return }
        // A view's entry is `TABLE name` too (one namespace): the objects are the ones with a
        // definition.
        let isPresent = try listedFilter(Set(present.map { Self.builtEntry(kind: "TABLE", name: $0) }))
        let isObject = try listedFilter(Set(objects.keys))
        let missing = listed.filter { $0.hasPrefix("TABLE ") && !isObject($0) && !isPresent($0) }
        guard !missing.isEmpty else { return }
        throw FerryError(.wrongStatus, "\(record.database) on \(instanceName) no longer holds \(Self.listing(Set(missing))), which the swap moved in (dropped, or \(record.database) dropped and made again, after this rollback's check for writes), so the swap was not undone: nothing was changed, and what \(record.database) held before the run stays in the checkpoint \(record.checkpoint ?? "")",
                         hint: Self.askAgainHint(record.database), instance: instanceName)
    }

    /// Notes in a checkpoint's own table `note` (`movedOutTable` or `movedBackTable`, made
    /// here if missing) `tables` by name, each with its InnoDB id in `database` when the note
    /// keeps ids (`tableIDs`: a rename keeps them), before the rename that moves them: a table
    /// made later under one of those names is then told from the one moved (fresh tester
    /// rounds 15, B2, and 37b, F4). A note an earlier release made keeps names only.
    private func recordTables(_ tables: [String], of database: String, note: String, in store: String) throws {
        let table = qualified(store, Self.ownTable(note, in: store))
        try connection.execute("CREATE TABLE IF NOT EXISTS \(table) (name VARCHAR(64) NOT NULL PRIMARY KEY, table_id VARCHAR(20) NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE utf8mb4_bin")
        let ids = try noteHasIDs(note, in: store) ? try tableIDs(of: tables, in: database) ?? [:] : [:]
        for name in tables {
            if let id = ids[name] {
                try connection.execute("INSERT INTO \(table) (name, table_id) VALUES (\(connection.literal(name)), \(connection.literal(id))) ON DUPLICATE KEY UPDATE table_id = VALUES(table_id)")
            } else {
                try connection.execute("INSERT IGNORE INTO \(table) (name) VALUES (\(connection.literal(name)))")
            }
        }
    }

    /// Whether the note `note` of `store` keeps ids (one an earlier release made does not).
    private func noteHasIDs(_ note: String, in store: String) throws -> Bool {
        try connection.scalar("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = \(connection.literal(store)) AND TABLE_NAME = \(connection.literal(Self.ownTable(note, in: store))) AND COLUMN_NAME = 'table_id'") != "0"
    }

    /// The InnoDB ids the note `note` of `store` keeps, by name (the caller knows it exists).
    private func noteIDs(_ note: String, in store: String) throws -> [String: String] {
        var ids: [String: String] = [:]
        for row in try connection.query("SELECT name, table_id FROM \(qualified(store, Self.ownTable(note, in: store))) WHERE table_id IS NOT NULL") {
            if let name = row[0], let id = row[1] { ids[name] = id }
        }
        return ids
    }

    /// Notes in `store` (a checkpoint) the target's tables the swap moves into it, with their
    /// InnoDB ids in `database`, before the rename (fresh tester round 37b, F4: an application's
    /// table made there was moved into the target as Ferry's, and the recover said "as they were").
    func recordMovedOut(_ tables: [String], from database: String, in store: String) throws {
        try recordTables(tables, of: database, note: Self.movedOutTable, in: store)
    }

    /// The InnoDB ids the moved-out note of `store` keeps (`recordMovedOut`), by name; nil
    /// without the note or its ids (an earlier release's swap: names are the proof then).
    func movedOutIDs(from store: String) throws -> [String: String]? {
        guard try baseTables(store).contains(Self.ownTable(Self.movedOutTable, in: store)), try noteHasIDs(Self.movedOutTable, in: store) else { return nil }
        return try noteIDs(Self.movedOutTable, in: store)
    }

    /// Why checkpoint `store` no longer holds what the swap moved into it as `tables`, or nil:
    /// names missing there (dropped or renamed since), or a name held by a table made again
    /// since (another InnoDB id than the one `recordMovedOut` noted). `database`: the target,
    /// for the words.
    /// A table with another id while the checkpoint's tables hold what the swap recorded there
    /// (`checkpointHoldsWhatTheSwapMovedOut`) is the swap's rebuilt in place (an `OPTIMIZE TABLE`,
    /// `ALTER TABLE ... FORCE`, `mysqlcheck --optimize --all-databases`; fresh tester round 62).
    func movedOutLost(_ tables: [String], from store: String, of record: SwapRecord) throws -> String? {
        let database = record.database
        let lost = try tablesMissing(tables, from: store)
        if !lost.isEmpty {
            return "the checkpoint \(store) of \(database) no longer holds \(Self.listing(Set(lost.map { Self.builtEntry(kind: "TABLE", name: $0) }))), which the swap moved into it (dropped or renamed by someone else since): what \(database) held before the run cannot be restored whole"
        }
        let madeAgain = try tablesMadeAgain(tables, in: store, recorded: try movedOutIDs(from: store))
        guard !madeAgain.isEmpty, try !checkpointHoldsWhatTheSwapMovedOut(record) else { return nil }
        let listed = Self.listing(Set(madeAgain.map { Self.builtEntry(kind: "TABLE", name: $0) }), tableKinds: Dictionary(madeAgain.map { ($0, "table") }, uniquingKeysWith: { a, _ in a }))
        // Said as a checkpoint that no longer holds what it held (the summary's words: fresh
        // tester round 63, L1, "the checkpoints are gone (dropped or renamed)" of one still there).
        return "the checkpoint \(store) of \(database) \(Recovery.checkpointWrittenPhrase): it holds \(listed) made again under the name of \(madeAgain.count == 1 ? "a table" : "tables") the swap moved into it (InnoDB gives \(madeAgain.count == 1 ? "it another table id" : "each another table id"): the swap's was dropped or renamed by someone else since, and another made, or it was rebuilt by a TRUNCATE, OPTIMIZE or ALTER TABLE): what \(database) held before the run cannot be restored whole, and \(madeAgain.count == 1 ? "that table is" : "those tables are") not Ferry's to move"
    }

    /// The tables the swap noted moving into `store`, or nil when it kept no note (a swap of an
    /// earlier release: every table of the checkpoint is the target's then, as before).
    func movedOut(in store: String) throws -> Set<String>? {
        let table = Self.ownTable(Self.movedOutTable, in: store)
        guard try baseTables(store).contains(table) else { return nil }
        return Set(try connection.query("SELECT name FROM \(qualified(store, table))").compactMap { $0[0] })
    }

    /// Notes in the checkpoint `store` the tables the undo's rename moves back (before it), with
    /// their InnoDB ids (the rename keeps them), so that a later pass knows them from tables
    /// made again under their names in the target (fresh tester round 15, B2).
    func recordMovedBack(_ tables: [String], in store: String) throws {
        try recordTables(tables, of: store, note: Self.movedBackTable, in: store)
    }

    /// The InnoDB ids the note of `store` keeps (`recordMovedBack`), by name; nil without them.
    func movedBackIDs(from store: String) throws -> [String: String]? {
        guard try movedBack(from: store) != nil, try noteHasIDs(Self.movedBackTable, in: store) else { return nil }
        return try noteIDs(Self.movedBackTable, in: store)
    }

    /// The tables an undo noted it moved back from `store` (`recordMovedBack`), or nil without
    /// the note (an earlier release's undo, or none has renamed).
    func movedBack(from store: String) throws -> [String]? {
        let table = Self.ownTable(Self.movedBackTable, in: store)
        guard Self.runTag(of: store) != nil, try schemaExists(store), try baseTables(store).contains(table) else { return nil }
        return try connection.query("SELECT name FROM \(qualified(store, table)) ORDER BY name").compactMap { $0[0] }
    }

    /// Gone (`EngineSession.checkpointGone`): an undo of `record` moved the checkpoint's tables
    /// back into the target (`renamedBackByUndo`), and the target no longer holds them all:
    /// dropped, or dropped and made again, since. What it held before the run is then gone with
    /// them (only the definitions of its views, routines, triggers and events are left, in the
    /// checkpoint). Nil otherwise: MariaDB tells no other gone checkpoint from the instance
    /// alone (the core judges those from its journal).
    public func checkpointGone(_ record: SwapRecord) throws -> String? {
        guard record.targetExisted, let c = record.checkpoint else { return nil }
        return try run(.copyError, "cannot read the checkpoint of \(record.database) on \(instanceName)") {
            // The checkpoint itself gone while an undo was under way (its mark in the shadow, and
            // no note that it finished): dropped by someone else (fresh tester w11 F3).
            let s = record.shadow
            if try !schemaExists(c), try schemaExists(s) {
                let tables = Set(try baseTables(s))
                if tables.contains(Self.ownTable(Self.undoingTable, in: s)), !tables.contains(Self.ownTable(Self.undoneTable, in: s)) {
                    return tables.contains(Self.ownTable(Self.markerTable, in: s))
                        ? "the checkpoint \(c) of \(record.database) was dropped by someone else while a rollback's swap back was under way, after it had moved \(record.database)'s tables back: what it saved of the views, routines, triggers and events \(record.database) had before the run is gone"
                        : "the checkpoint \(c) of \(record.database) was dropped by someone else while a rollback's swap back was under way, before it had moved anything back: what \(record.database) held before the run is gone with it"
                }
                return nil
            }
            // No undo's shadow to tell: one whose undo was refused (a write found under its hold)
            // is dropped as that pass ends, as is a finished undo's. The swap's tables still in
            // the target (an InnoDB id the swap recorded) tell them apart: a finished undo moved
            // every one of them out (fresh tester round 57, H5: a checkpoint dropped by hand after
            // such a refusal read as an undo already done, and recover said "restored ... from
            // its checkpoint").
            if record.swapped == true, try !schemaExists(c), let ids = Self.swappedInIDs(record.detail), !ids.isEmpty,
               try schemaExists(record.database), let now = try tableIDs(in: record.database),
               !Set(now.values).isDisjoint(with: Set(ids.values)) {
                return "the checkpoint \(c) of \(record.database) is gone: it was dropped or renamed by someone else while \(record.database) still held the run's tables (no undo had moved them out): what \(record.database) held before the run is gone with it"
            }
            // The target dropped by someone else during a swap that had not renamed yet (its
            // checkpoint made, every table it was to move still in the shadow): what it held
            // before the run went with that drop, and no undo can restore it (fresh tester
            // round 12, G4: "restored ... from its checkpoint", "as they were").
            if record.swapped != true, try schemaExists(c), !(try schemaExists(record.database)), try shadowHoldsItsTables(record) {
                return "\(record.database) was dropped by someone else during the swap, before the swap moved anything into it: what it held before the run is gone with that drop (the checkpoint \(c) keeps only the definitions of its views, routines, triggers and events)"
            }
            // What the checkpoint keeps of the target lost since a finished swap (fresh tester
            // round 13): the definitions of its views, routines, triggers and events (H4: the
            // `__ferry_objects_` table dropped after the undo's rename, "restored" with them
            // gone), or, before the undo's rename, a table the swap moved into it (F7: the undo
            // moved the rest and failed raw 1146 on every pass).
            if record.swapped == true, Self.swappedInDefinitions(record.detail) != nil, try schemaExists(c) {
                if try stagedObjects(in: c) == nil {
                    return "the checkpoint \(c) of \(record.database) no longer holds the definitions of the views, routines, triggers and events \(record.database) had before the run (its table \(Self.ownTable(Self.objectsTable, in: c)) was dropped or emptied by someone else since the swap): what \(record.database) held before the run cannot be restored whole"
                }
                if !(try renamedBackByUndo(record)), let out = Self.movedOut(record.detail), let lost = try movedOutLost(out, from: c, of: record) {
                    return lost
                }
            }
            if let written = try checkpointWrittenSinceSwap(record) { return written }
            guard try renamedBackByUndo(record), let moved = try movedBack(from: c), !moved.isEmpty else { return nil }
            let d = record.database
            guard try schemaExists(d) else {
                return "the checkpoint \(c) of \(d) holds no more than definitions: the undo had moved what \(d) held before the run back into it, and \(d) was dropped since, by someone else: what it held is gone with it"
            }
            let missing = try tablesMissing(moved, from: d)
            // Of those names, but made again since (another InnoDB id): not what it held either.
            let madeAgain = try tablesMadeAgain(moved.filter { !missing.contains($0) }, in: d, recorded: try movedBackIDs(from: c))
            if missing.isEmpty, !madeAgain.isEmpty {
                return "the checkpoint \(c) of \(d) holds no more than definitions: the undo had moved what \(d) held before the run back into it, and \(d) now holds \(Self.listing(Set(madeAgain.map { Self.builtEntry(kind: "TABLE", name: $0) }), tableKinds: Dictionary(madeAgain.map { ($0, "table") }, uniquingKeysWith: { a, _ in a }))) made again under its name since (InnoDB gives it another table id: dropped and made again by someone else, alone or with \(d), or rebuilt): what it held is gone, and what \(d) holds now is not Ferry's"
            }
            guard !missing.isEmpty else { return nil }
            return "the checkpoint \(c) of \(d) holds no more than definitions: the undo had moved what \(d) held before the run back into it, and \(d) no longer holds \(Self.listing(Set(missing.map { Self.builtEntry(kind: "TABLE", name: $0) }))) of it (dropped, or \(d) dropped and made again, since, by someone else): what it held is gone"
        }
    }

    /// What changed of the tables an undo moved back into the target (`movedBack`), where the
    /// target is still the database they went into: some of them are missing or made again
    /// (another InnoDB id than the one `recordMovedBack` noted: a `TRUNCATE`, `OPTIMIZE`, `ALTER
    /// TABLE`, or a drop and a new table), and at least one other keeps its id. Their listing
    /// ("table `t` was emptied, rebuilt or made again"), or nil (nothing changed, or none keeps
    /// its id: the target may then be a database made again under its name, and
    /// `checkpointGone` says so).
    func movedBackChangedInPlace(_ record: SwapRecord) throws -> String? {
        let d = record.database
        guard let c = record.checkpoint, try schemaExists(d), let moved = try movedBack(from: c), !moved.isEmpty,
              let ids = try movedBackIDs(from: c), !ids.isEmpty else { return nil }
        let missing = try tablesMissing(moved, from: d)
        let madeAgain = try tablesMadeAgain(moved.filter { !missing.contains($0) }, in: d, recorded: ids)
        let kept = moved.filter { !missing.contains($0) && !madeAgain.contains($0) && ids[$0] != nil }
        guard !kept.isEmpty, !(missing.isEmpty && madeAgain.isEmpty) else { return nil }
        func tables(_ names: [String]) -> String {
            Self.listing(Set(names.map { Self.builtEntry(kind: "TABLE", name: $0) }), tableKinds: Dictionary(names.map { ($0, "table") }, uniquingKeysWith: { a, _ in a }))
        }
        return [madeAgain.isEmpty ? nil : "its \(tables(madeAgain)) \(madeAgain.count == 1 ? "was" : "were") emptied, rebuilt or made again",
                missing.isEmpty ? nil : "its \(tables(missing)) \(missing.count == 1 ? "was" : "were") dropped or renamed"].compactMap { $0 }.joined(separator: " and ")
    }

    /// Why the tables a finished swap moved into its checkpoint no longer hold what they held at
    /// the swap, nil while they do (or where it cannot be told): the `CHECKSUM TABLE`s of the
    /// tables the swap noted moving out (`movedOut`), read now, against the data part of the token
    /// the swap recorded in the checkpoint (`recordToken`, step 5). A row written there since is
    /// not what the target held before the run (fresh tester round 41, F6: a rollback and a
    /// recover swapped it back and said "as before"). A table someone made beside them is not
    /// counted here: it stays in the checkpoint (`FerryError.Reason.restoredCheckpointHeld`).
    /// Before the undo's rename only; a full read of those tables.
    func checkpointWrittenSinceSwap(_ record: SwapRecord, sums: ((_ checksums: [String: String?]) -> Void)? = nil) throws -> String? {
        guard record.swapped == true, record.targetExisted, let c = record.checkpoint, try schemaExists(c),
              !(try renamedBackByUndo(record)), let out = try movedOut(in: c) else { return nil }
        // A trigger made on one of them since is not a change of what they hold: the undo refuses
        // it before anything changes (MariaDB moves no table with a trigger into another
        // database), and once it is dropped the undo restores them (fresh tester round 55, F5:
        // counted here, it ended the rollback for good as "no retry can restore").
        guard let recorded = try recordedToken(in: c), let was = Self.dataPart(of: recorded) else { return nil }
        var checksums: [String: String?] = [:]
        for table in try userTables(c) where out.contains(table) { checksums[table] = try Self.checksum(table, in: c, on: connection) }
        sums?(checksums)
        if let now = Self.dataDigest(checksums), now != was {
            return "the checkpoint \(c) of \(record.database) \(Recovery.checkpointWrittenPhrase) (a row of its tables was written, or a table dropped or replaced, there since, by someone else)"
        }
        // Their definitions too, with the objects saved there (fresh tester round 53, F1: an
        // `ALTER TABLE` that kept the rows, a foreign key or a comment dropped or a column
        // added in the checkpoint, was swapped back, "as they were").
        let parts = recorded.dropFirst(Self.tokenPrefix.count).split(separator: ":")
        guard parts.count == 2, let staged = try stagedObjects(in: c),
              try definitionsDigest(of: c, objects: staged, tables: Set(out)) != parts[1] else { return nil }
        return "the checkpoint \(c) of \(record.database) \(Recovery.checkpointWrittenPhrase) (a table's definition was changed there since, by someone else: an ALTER TABLE)"
    }

    /// True when the tables the swap moved into `record`'s checkpoint (`movedOut`) hold, now, the
    /// rows and definitions of the token the swap recorded there (`recordToken`, step 5): what the
    /// target held before the run, whatever InnoDB id a rebuild gave them since. False without
    /// that token or note (nothing proves it then). A full read of those tables.
    func checkpointHoldsWhatTheSwapMovedOut(_ record: SwapRecord) throws -> Bool {
        guard let c = record.checkpoint, try schemaExists(c), let out = try movedOut(in: c), let recorded = try recordedToken(in: c) else { return false }
        let parts = recorded.dropFirst(Self.tokenPrefix.count).split(separator: ":")
        guard recorded.hasPrefix(Self.tokenPrefix), parts.count == 2, let staged = try stagedObjects(in: c) else { return false }
        var checksums: [String: String?] = [:]
        for table in try userTables(c) where out.contains(table) { checksums[table] = try Self.checksum(table, in: c, on: connection) }
        guard checksums.count == out.count, Self.dataDigest(checksums) == String(parts[0]) else { return false }
        return try definitionsDigest(of: c, objects: staged, tables: Set(out)) == String(parts[1])
    }

    /// The triggers of `schema` on its tables of `tables` (name and table), sorted by name.
    func triggersOn(_ tables: Set<String>, in schema: String) throws -> [(name: String, table: String)] {
        try connection.query("SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = \(connection.literal(schema)) ORDER BY TRIGGER_NAME")
            .compactMap { row in row[0].flatMap { name in row[1].map { (name, $0) } } }.filter { tables.contains($0.table) }
    }

    /// The swap of `record` changed nothing outside its shadow (`EngineSession.swapMovedNothing`):
    /// it was to replace a target, the checkpoint it makes before anything of the target changes
    /// (`swap`, step 2: the target's objects are saved there, then one RENAME moves every table)
    /// does not exist, and the shadow still holds every table the swap was to move in (the list
    /// `prepareSwap` journaled with `swapBegun`). Its undo then restores nothing (fresh tester
    /// round 12, G4: a recover after a kill right after `swapBegun` said "restored ... from its
    /// checkpoint"). False for a record without the list, or a swap into a new database.
    public func swapMovedNothing(_ record: SwapRecord) throws -> Bool {
        guard record.targetExisted, let c = record.checkpoint else { return false }
        return try run(.copyError, "cannot read the databases of \(instanceName)") {
            // An undo that finished leaves the same (its checkpoint emptied and dropped, the
            // tables back in the shadow) but for its note: then the swap did move (fresh tester
            // round 43, F6: a recover after the journal could not record the run's own undo said
            // "its swap stopped before it moved anything").
            try !schemaExists(c) && shadowHoldsItsTables(record) && !undoFinished(record)
        }
    }

    /// `EngineSession.swapMovedOnlyObjects`: the checkpoint exists without the swap's marker
    /// (the rename moves it there with the tables), and the shadow still holds every table the
    /// swap was to move in, and no undo finished.
    public func swapMovedOnlyObjects(_ record: SwapRecord) throws -> Bool {
        guard record.targetExisted, let c = record.checkpoint else { return false }
        return try run(.copyError, "cannot read the databases of \(instanceName)") {
            try schemaExists(c) && !baseTables(c).contains(Self.ownTable(Self.markerTable, in: c))
                && shadowHoldsItsTables(record) && !undoFinished(record) && !renamedBackByUndo(record)
        }
    }

    /// `EngineSession.swapLeftOnlyItsWitnesses`: `swapMovedOnlyObjects`, and the run's witness
    /// table is still in the target (a later swap's rename would have moved it out with the
    /// target's tables); or the swap never touched the target at all: no witness table made,
    /// and its checkpoint's notes name no trigger or event taken (`witnessEvents` notes each
    /// before it changes it; `#off` before a trigger comes off). Its undo then makes nothing
    /// again in the target and drops only the run's shadow and checkpoint, whatever a later run
    /// did to the target (fresh tester round 70, F2: killed while the checkpoint's saved
    /// definitions were written, its claims released, the recover said "checkpoint gone" and
    /// left both schemas).
    public func swapLeftOnlyItsWitnesses(_ record: SwapRecord) throws -> Bool {
        guard let c = record.checkpoint, try swapMovedOnlyObjects(record) else { return false }
        return try run(.copyError, "cannot read \(record.database) on \(instanceName)") {
            guard try schemaExists(record.database) else { return false }
            if try baseTables(record.database).contains(Self.ownTable(Self.witnessTable, in: c)) { return true }
            return try (droppedEntries(in: c) ?? []).allSatisfy { $0 == Self.witnessesHeld || $0 == Self.witnessesSettled }
        }
    }

    /// The shadow of `record` still holds every table its swap was to move in (the list
    /// `prepareSwap` journaled with `swapBegun`; the swap's one RENAME moves all or none). False
    /// for a record without the list or a shadow that is gone.
    func shadowHoldsItsTables(_ record: SwapRecord) throws -> Bool {
        guard let listed = Self.swappedIn(record.detail), listed.contains(Self.tablesListed), try schemaExists(record.shadow) else { return false }
        let isObject = try listedFilter(Set((Self.swappedInDefinitions(record.detail) ?? [:]).keys))
        let tables = listed.filter { $0.hasPrefix("TABLE ") && !isObject($0) }.map { String($0.dropFirst("TABLE ".count)) }
        return try tablesMissing(tables, from: record.shadow).isEmpty
    }

    /// The names of `tables` that `database` does not hold now (all of them when it is gone),
    /// compared as the server compares names.
    func tablesMissing(_ tables: [String], from database: String) throws -> [String] {
        let there = try schemaExists(database) ? try userTables(database) : []
        let isThere = try listedFilter(Set(there.map { Self.builtEntry(kind: "TABLE", name: $0) }))
        return tables.filter { !isThere(Self.builtEntry(kind: "TABLE", name: $0)) }
    }

    /// Drops the objects a step just made in `schema` (`made`) that still hold the definition it
    /// made them with; one replaced since is someone else's and stays.
    func dropMade(_ made: [SchemaObject], in schema: String) throws {
        guard try schemaExists(schema) else { return }
        for object in made {
            let now = try objects(in: schema, qualifier: nil, named: object.name).first { $0.kind == object.kind && $0.name == object.name }
            guard let now, Self.definitionDigest(now) == Self.definitionDigest(object) else { continue }
            do { try connection.execute("DROP \(object.kind) \(qualified(schema, object.name))") } catch let error as MySQLServerError where Self.vanishedCodes.contains(error.code) {
                continue
            }
        }
    }
}

extension MySQLSession {
    /// Throws `WrongStatus` when the swap's target is gone before its rename (dropped by someone
    /// else during the swap), or, after the rename failed (`had`: the tables it was to move
    /// out), when it no longer holds every one of them (dropped, or dropped and made again, under
    /// the rename: MariaDB then answers with raw text such as errno 168 or 1049, fresh tester
    /// round 12, G4). Nothing of the run's was moved in.
    func refuseTargetDropped(_ database: String, had tables: [String]?) throws {
        let gone = !(try schemaExists(database))
        let lost = try !gone && !tablesMissing(tables ?? [], from: database).isEmpty
        guard gone || lost else { return }
        throw FerryError(.wrongStatus, "\(database) on \(instanceName) was \(gone ? "dropped" : "dropped and made again") by someone else during the swap, before its rename: nothing of the run's was moved into it, and the swap was not finished",
                         hint: "the run is rolled back as far as it can be; `ferry recover` says what is left", instance: instanceName)
    }

    /// Throws `WrongStatus` when `database` no longer holds every table of `tables` (the ones a
    /// swap just moved in): it was dropped, or dropped and made again, during the swap. The
    /// objects the swap made in it (`made`) are taken out again first.
    /// `ids`: the InnoDB ids of `tables` (`swappedInIDs`): one of those names holding another
    /// table (made again since) counts as missing (fresh tester round 15, B2).
    func refuseTargetMadeAgain(_ database: String, holding tables: [String], made: [SchemaObject], ids: [String: String]?) throws {
        guard !tables.isEmpty else { return }
        var missing = try tablesMissing(tables, from: database)
        missing += try tablesMadeAgain(tables.filter { !missing.contains($0) }, in: database, recorded: ids)
        guard !missing.isEmpty else { return }
        try dropMade(made, in: database)
        throw FerryError(.wrongStatus, "\(database) on \(instanceName) no longer holds \(Self.listing(Set(missing.map { Self.builtEntry(kind: "TABLE", name: $0) }))), which the swap had just moved in (\(database) was dropped, or dropped and made again, by someone else during the swap): the run's views, routines, triggers and events made in it were taken out again, and the swap was not finished",
                         hint: "the run is rolled back as far as it can be; `ferry recover` says what is left", instance: instanceName)
    }
}

extension MySQLSession {
    /// A pass that finds the target's own tables moved back by an earlier pass cut short
    /// (`renamedBackByUndo`): their triggers (`own`, those not in `d` now) are made under one
    /// `LOCK TABLES ... WRITE` of the tables it moved back (`movedBack`), whose checksums then,
    /// against the data part of the token the swap recorded in the checkpoint (what the earlier
    /// pass's hold checked they held), tell rows written since that rename: they fired none of
    /// them, said in `firedNoneNotes`. The core's reading before the undo
    /// (`undoneRowsFiredNone`) missed rows written after it and before the making (fresh tester
    /// round 66, F1: "finished" over such a row). Triggers that cannot be made so are left to
    /// the undo's rest; those made are added to `made`.
    func makeTriggersAfterAnEarlierRename(_ own: [SchemaObject], in d: String, store c: String, made: inout [SchemaObject]) throws {
        let present = Set(try objects(in: d, qualifier: nil).filter { $0.kind == "TRIGGER" }.map(\.name))
        let ownCollation = try schemaCharset(d)?.1
        let triggers = own.filter { $0.kind == "TRIGGER" && !present.contains($0.name) && !Self.needsCollationSwitch($0, from: ownCollation) }
        let tables = Set(try baseTables(d))
        guard !triggers.isEmpty, let moved = try movedBack(from: c)?.filter({ tables.contains($0) }), !moved.isEmpty,
              let recorded = try recordedToken(in: c), let was = Self.dataPart(of: recorded) else { return }
        var here: [SchemaObject] = []
        var now: String?
        do {
            try connection.execute("LOCK TABLES " + moved.map { "\(qualified(d, $0)) WRITE" }.joined(separator: ", "))
            defer { try? connection.execute("UNLOCK TABLES") }
            var sums: [String: String?] = [:]
            for table in moved { sums[table] = try Self.checksum(table, in: d, on: connection) }
            now = Self.dataDigest(sums)
            try createObjects(triggers, in: d, keepingOthers: true, on: connection, settling: false, made: { here.append($0) })
        } catch {
            // Left to the undo's rest (it makes what is missing, and says what it cannot).
        }
        made += here
        guard !here.isEmpty, let now, now != was else { return }
        firedNoneNotes.append("\(d) on \(instanceName): rows were written into its tables after an earlier pass of this rollback moved them back (it was cut short there), before their own triggers were made again, and those rows \(Recovery.firedNonePhrase)")
    }
}

extension MySQLSession {
    /// The target's own triggers (`own`, saved in the checkpoint) not made on a gate after the
    /// undo's rename (their tables were not gated: joined by a foreign key, or past the
    /// instance's connections), made right after it, each table under this connection's `LOCK
    /// TABLES ... WRITE` (its writers wait meanwhile). Its checksum then, against the one read
    /// under the hold (`heldSums`), tells rows written into it since the rename, which fired none
    /// of them: said in `firedNoneNotes` (fresh tester round 62, 1: "as before" over 24 such
    /// rows with 45 tables). A table's triggers that cannot be made so are left to the undo's
    /// rest, as before; those made are added to `made`.
    func makeLateTriggers(_ own: [SchemaObject], in d: String, made: inout [SchemaObject], heldSums: [String: String?]) throws {
        let done = Set(made.map { Self.builtEntry(kind: $0.kind, name: $0.name) })
        let pending = own.filter { !done.contains(Self.builtEntry(kind: $0.kind, name: $0.name)) }
        guard !pending.isEmpty else { return }
        let ownCollation = try schemaCharset(d)?.1
        let folds = try connection.scalar("SELECT @@lower_case_table_names") != "0"
        let present = Set(try baseTables(d))
        var written: [String] = []
        for table in Self.triggerTables(of: pending) where present.contains(table) {
            let triggers = Self.triggers(of: pending, on: table, folds: folds).filter { !Self.needsCollationSwitch($0, from: ownCollation) }
            guard !triggers.isEmpty else { continue }
            var here: [SchemaObject] = []
            do {
                try connection.execute("LOCK TABLES \(qualified(d, table)) WRITE")
                defer { try? connection.execute("UNLOCK TABLES") }
                let now = try Self.checksum(table, in: d, on: connection)
                try createObjects(triggers, in: d, keepingOthers: true, on: connection, settling: false, made: { here.append($0) })
                if let held = heldSums[table], held != now { written.append(table) }
            } catch {
                // Left to the undo's rest (it makes what is missing, and says what it cannot).
            }
            made += here
        }
        guard !written.isEmpty else { return }
        let tables = Self.listing(Set(written.map { Self.builtEntry(kind: "TABLE", name: $0) }), tableKinds: Dictionary(written.map { ($0, "table") }, uniquingKeysWith: { a, _ in a }))
        firedNoneNotes.append("\(d) on \(instanceName): rows were written into its \(tables) right after this rollback's rename moved \(written.count == 1 ? "it" : "them") back, before \(written.count == 1 ? "its" : "their") own triggers were made again (no gate held \(written.count == 1 ? "it" : "them") through the rename: a foreign key, or past the instance's connections), and those rows \(Recovery.firedNonePhrase)")
    }
}

extension MySQLSession {
    /// The row of an undo's shadow's `tokenTable` that says when the undo took the run's
    /// triggers off the target: `FROM TO COUNT`, the server's unix seconds before and after its
    /// drop (`TO` is `-` until the drop is done), and how many triggers it drops. A pass that
    /// drops none (an earlier pass, cut short, did) keeps the earlier pass's row.
    static let undoOffRow = 5

    /// Before an undo's drop of `count` of the run's triggers from the target: the second it
    /// begins, in `shadow` (`undoOffRow`). Kept where an earlier pass's drop was cut short
    /// before it ended (its triggers have been off since then).
    func noteUndoTakesTriggersOff(_ count: Int, shadow: String) throws {
        guard count > 0 else { return }
        if let off = try undoOff(in: shadow), off.to == nil { return }
        guard let now = try connection.scalar("SELECT UNIX_TIMESTAMP()") else { return }
        try recordTokenRow(Self.undoOffRow, "\(now) - \(count)", in: shadow)
    }

    /// `undoOffRow` of `shadow` read: `to` nil while the drop had not ended. Nil without the row.
    func undoOff(in shadow: String) throws -> (from: Int, to: Int?, count: Int)? {
        guard let row = try tokenRow(Self.undoOffRow, in: shadow) else { return nil }
        let parts = row.split(separator: " ")
        guard parts.count == 3, let from = Int(parts[0]), let count = Int(parts[2]) else { return nil }
        return (from, Int(parts[1]), count)
    }

    /// After that drop: the second it ended, in the same row.
    func noteUndoTookTriggersOff(shadow: String) throws {
        guard let off = try undoOff(in: shadow), off.to == nil, let now = try connection.scalar("SELECT UNIX_TIMESTAMP()") else { return }
        try recordTokenRow(Self.undoOffRow, "\(off.from) \(now) \(off.count)", in: shadow)
    }

    /// The second the first pass that took the run's triggers off began to (`undoOffRow`), and
    /// the server's second now; nil without the row.
    func undoTriggersOffSince(shadow: String) throws -> (from: Int, now: Int)? {
        guard let off = try undoOff(in: shadow), let now = try connection.scalar("SELECT UNIX_TIMESTAMP()").flatMap(Int.init) else { return nil }
        return (off.from, now)
    }

    /// Forgets `undoOffRow` once the run's triggers are back in the target (an undo put them
    /// back): a later pass's drop notes its own second.
    func forgetUndoTriggersOff(shadow: String) throws {
        let table = Self.ownTable(Self.tokenTable, in: shadow)
        guard try baseTables(shadow).contains(table) else { return }
        try connection.execute("DELETE FROM \(qualified(shadow, table)) WHERE id = \(Self.undoOffRow)")
    }

    /// `second` (unix) as `HH:mm:ss` in UTC.
    static func utcSecond(_ second: Int) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "HH:mm:ss"
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(second)))
    }

    /// Read right before the undo's rename moves the run's tables from `database` into
    /// `shadow` (under its hold where it takes one): whether a table of the target was updated
    /// (`lastUpdated`, whole seconds) since the undo began to take the run's triggers off
    /// (`undoOffRow`). Rows written then fired none of them, and the rename takes them into
    /// the shadow with the run's data (fresh tester rounds 64, M1, and 66, F3: named nowhere).
    /// An update within the seconds of the drop itself is said as "may have been" (`surely`
    /// false). Nil: none.
    func undoRowsWrittenWhileOff(in database: String, shadow: String) throws -> (surely: Bool, words: String)? {
        guard let (from, to, count) = try undoOff(in: shadow), let last = try lastUpdated(in: database), last >= from else { return nil }
        let surely = to.map { last > $0 } ?? false
        let triggers = count == 1 ? "trigger" : "\(count) triggers"
        return (surely, "rows \(surely ? "were" : "may have been") written into the run's tables while this rollback had the run's \(triggers) off them (from its drop, in the second \(Self.utcSecond(from)) UTC, until its rename moved those tables into \(shadow)\(surely ? "" : "; \(Recovery.wholeSecondsClause)")), and those rows \(Recovery.firedNonePhrase)")
    }
}
