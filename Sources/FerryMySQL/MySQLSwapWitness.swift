import FerryCore
import Foundation

/// The target's own triggers and events while a swap takes the target over (fresh tester round 8,
/// F1).
///
/// MariaDB moves no table with a trigger into another database, so the target's triggers must
/// leave its tables before the swap's `RENAME TABLE`; its events must stop before the tables they
/// write are the run's. An application may make, replace or drop objects of those names at any
/// moment meanwhile, and a `DROP` leaves nothing that tells later whether it did: an undo that
/// made again every trigger the swap had dropped brought back ones the application had made and
/// dropped again since (and older definitions of ones it had replaced).
///
/// So the swap leaves no such name empty for longer than one statement: each saved event is
/// turned, in one `ALTER EVENT` (which fails on an event dropped meanwhile), into a *witness* of
/// the same name and kind that Ferry alone makes (`DISABLE`d, with the comment
/// `ferry:witness:<run>`), each saved trigger
/// by a trigger of its name on the run's `__ferry_witness_<run>` table in the target (dropped,
/// then made there at once: MariaDB replaces no trigger by one on another table). Whatever the application does to that name afterwards shows: a
/// `DROP` removes the witness, a `CREATE OR REPLACE` replaces it. An undo of a swap whose tables
/// never moved makes again exactly the saved objects whose witness is still there, each in place of
/// its witness, and nothing else: the target's views and routines were
/// never taken out (they go only once the rename is done, `settleWitnesses`), and no object of
/// the application's stops it, whatever its name.
///
/// The checkpoint's note of what the swap drops (`droppingTable`) carries the witnesses' state:
/// `#witnesses` while they may hold names (from the save until the rename's settling), then
/// `#settled` once the notes say exactly which of them the swap took (a witness the application
/// removed or replaced is no longer noted: an undo never makes it again), removed once the
/// witnesses and the target's old views and routines are gone. A checkpoint without either (an
/// earlier release's swap, or one settled) is undone as before.
extension MySQLSession {
    static let witnessTable = "__ferry_witness"
    static let witnessesHeld = "#witnesses"
    static let witnessesSettled = "#settled"
    /// Prefix of the note that a trigger's name is between the swap's `DROP TRIGGER` and its
    /// witness's `CREATE TRIGGER` (`#dropping TRIGGER name`): written with the trigger's drop note
    /// before the `DROP`, removed once the witness is made (fresh tester round 24, M1: a kill
    /// between the two statements left neither the trigger nor a witness, and the undo, which
    /// makes again only what a witness holds, dropped the checkpoint with its definition and said
    /// "as they were before").
    static let droppingPrefix = "#dropping "
    /// Prefix of the note of when the swap began to take the target's triggers off its tables
    /// (`#off <unix seconds>`, the server's clock).
    static let offPrefix = "#off "
    /// The note that the triggers came off under the dropper's hold (`renameHolding`), which
    /// keeps every writer out until the rename while the process lives.
    static let offUnderHold = "#held"
    /// Notes, read under the swap's hold before its rename, that a table of the target was
    /// updated after its triggers came off before that hold (`#written`), or in that very second
    /// (`#written?`): the rename resets a table's `UPDATE_TIME`, so what the checkpoint holds is
    /// told from these once it moved (fresh tester round 64, H1).
    static let offWritten = "#written"
    static let offMaybeWritten = "#written?"

    /// Under the swap's hold, before its rename, with the target's triggers taken off before
    /// that hold: notes in `store` whether a table of `schema` was updated since they came off
    /// (`offWritten`, `offMaybeWritten`), by `UPDATE_TIME` against the `#off` note.
    func noteRowsWrittenWhileOff(in schema: String, store: String) throws {
        guard let off = try droppedEntries(in: store).flatMap(Self.offSecond(in:)),
              let updated = try tablesUpdated(in: schema, since: off) else { return }
        let c = connection
        let dropping = qualified(store, Self.ownTable(Self.droppingTable, in: store))
        try c.execute("REPLACE INTO \(dropping) VALUES (\(c.literal(updated == .after ? Self.offWritten : Self.offMaybeWritten)))")
    }

    /// The second (unix, the server's clock) of the `#off` note among a store's `notes`.
    static func offSecond(in notes: Set<String>) -> Int? {
        notes.first { $0.hasPrefix(offPrefix) }.flatMap { Int($0.dropFirst(offPrefix.count)) }
    }

    /// Whether a table of `schema` (Ferry's own `__ferry_` tables aside) was updated after the
    /// second `off`, or in that very second, by `MAX(UPDATE_TIME)` of
    /// `information_schema.TABLES`: whole seconds, kept by the server in memory since it started
    /// and reset by a rename, so one updated in the second `off` is only "may be" (fresh tester
    /// round 63, H4). Nil: none updated since, as far as the server tells.
    func tablesUpdated(in schema: String, since off: Int) throws -> UpdatedSinceOff? {
        guard let seconds = try lastUpdated(in: schema), seconds >= off else { return nil }
        return seconds > off ? .after : .inThatSecond
    }

    /// The last second (unix, the server's clock, whole) a table of `schema` (Ferry's own
    /// `__ferry_` tables aside) was updated, as `information_schema.TABLES`' `UPDATE_TIME` says;
    /// nil when none says (none updated since the server started, or since a rename).
    func lastUpdated(in schema: String) throws -> Int? {
        let c = connection
        return try c.scalar("SELECT MAX(UNIX_TIMESTAMP(UPDATE_TIME)) FROM information_schema.TABLES WHERE TABLE_SCHEMA = \(c.literal(schema)) AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME NOT LIKE '\\_\\_ferry\\_%'")
            .flatMap(Double.init).map { Int($0) }
    }

    /// `tablesUpdated`'s answer.
    enum UpdatedSinceOff { case after, inThatSecond }

    static func witnessComment(of store: String) -> String { "ferry:witness:\(runTag(of: store) ?? "")" }

    /// `#witnesses`, `#settled` or nil (see above).
    func witnessState(in store: String) throws -> String? {
        guard let entries = try droppedEntries(in: store) else { return nil }
        if entries.contains(Self.witnessesHeld) { return Self.witnessesHeld }
        if entries.contains(Self.witnessesSettled) { return Self.witnessesSettled }
        return nil
    }

    /// The names (`builtEntry`) the run's witnesses hold in `schema` now.
    func witnessedEntries(in schema: String, store: String) throws -> Set<String> {
        let c = connection, lit = c.literal(schema)
        var result = Set<String>()
        for row in try c.query("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = \(lit) AND EVENT_OBJECT_TABLE = \(c.literal(Self.ownTable(Self.witnessTable, in: store)))") {
            if let name = row[0] { result.insert(Self.builtEntry(kind: "TRIGGER", name: name)) }
        }
        for row in try c.query("SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = \(lit) AND EVENT_COMMENT = \(c.literal(Self.witnessComment(of: store)))") {
            if let name = row[0] { result.insert(Self.builtEntry(kind: "EVENT", name: name)) }
        }
        return result
    }

    /// The swap, before its rename: each of `schema`'s saved triggers and events (in `store`, the
    /// checkpoint) still there is replaced by its witness. Its definition as it is right then is
    /// the one saved (an application's `CREATE OR REPLACE` since the save is what the target held,
    /// never an older one), and it is noted as dropped before its witness is made.
    ///
    /// Returns when the first of its triggers left the target's tables and how many did (nil
    /// when none did): a row written into those tables from then until the swap's hold fires
    /// none of them (fresh tester round 46, H2).
    @discardableResult
    func witnessTriggersAndEvents(of schema: String, store: String) throws -> (since: Date, count: Int)? {
        try takeTriggersOff(try witnessEvents(of: schema, store: store), of: schema, store: store, droppingOn: connection)
    }

    /// The first half of `witnessTriggersAndEvents`: each saved trigger's and event's definition
    /// as it is now is saved, and each event turned into its witness. Returns the triggers to take
    /// off (`takeTriggersOff`), in the order they are to go; their tables are not touched here.
    func witnessEvents(of schema: String, store: String) throws -> [SchemaObject] {
        let c = connection
        guard try witnessState(in: store) == Self.witnessesHeld, let saved = try stagedObjects(in: store) else { return [] }
        let witness = qualified(schema, Self.ownTable(Self.witnessTable, in: store))
        // Made only for a trigger to witness: nothing else of Ferry's enters the target.
        if saved.contains(where: { $0.kind == "TRIGGER" }) { try c.execute("CREATE TABLE IF NOT EXISTS \(witness) (x INT) ENGINE=InnoDB") }
        let isSaved = try listedFilter(Set(saved.filter { $0.kind == "TRIGGER" || $0.kind == "EVENT" }.map { Self.builtEntry(kind: $0.kind, name: $0.name) }))
        let held = try witnessedEntries(in: schema, store: store)
        let objects = qualified(store, Self.ownTable(Self.objectsTable, in: store))
        let dropping = qualified(store, Self.ownTable(Self.droppingTable, in: store))
        // Triggers last-fired first (the listing is in `ACTION_ORDER`): cut short anywhere, the
        // triggers still on the target's tables are the first ones of each, so an undo that
        // makes the others again in the saved order (a trigger made is the last of its table and
        // timing) gives back the order they fired in.
        let taking = try self.objects(in: schema, qualifier: nil).reversed().filter { object in
            (object.kind == "TRIGGER" || object.kind == "EVENT") && isSaved(Self.builtEntry(kind: object.kind, name: object.name))
                && !held.contains(Self.builtEntry(kind: object.kind, name: object.name))
        }
        // A table without its triggers takes writes that fire none until the swap's hold (fresh
        // tester round 46, H2: 1.1-1.5 s with 40 triggers, five statements each between the
        // first drop and the hold). So everything but the drops comes first: each definition
        // as it is now saved, and each trigger noted as dropped and as between its drop and its
        // witness (`droppingPrefix`: an undo makes again one whose name is empty then, and leaves
        // one still there as the target's own); then the drops, one right after another; then
        // the witnesses. Events first: they write no row of their own here.
        for object in taking {
            KillPoint.check("change:mysql.swap.witnessing")
            try c.execute("UPDATE \(objects) SET sql_mode = \(c.literal(object.sqlMode)), ddl = \(c.literal(object.ddl)), time_zone = \(c.literal(object.timeZone)), charset_client = \(c.literal(object.charsetClient)), collation_connection = \(c.literal(object.collationConnection)), db_collation = \(c.literal(object.databaseCollation)), original_ddl = \(c.literal(object.original)), read_from = \(c.literal(object.readFrom)) WHERE ord > 0 AND kind = \(c.literal(object.kind)) AND BINARY name = BINARY \(c.literal(object.name))")
            let entry = Self.builtEntry(kind: object.kind, name: object.name)
            guard object.kind == "EVENT" else { continue }
            try c.execute("REPLACE INTO \(dropping) VALUES (\(c.literal(entry)))")
            // `ALTER`, not `CREATE OR REPLACE`: an event the application dropped since the
            // listing above fails it (1539) instead of leaving a witness of a name the
            // target no longer had, which a later rollback made again (fresh tester round
            // 10, F1: 3 drops in 10 at 0.06-0.10 s after the swap began).
            do {
                try c.execute("ALTER EVENT \(qualified(schema, object.name)) ON SCHEDULE AT '2037-12-31 00:00:00' ON COMPLETION PRESERVE DISABLE COMMENT \(c.literal(Self.witnessComment(of: store))) DO DO 0")
            } catch let error as MySQLServerError where Self.vanishedCodes.contains(error.code) {
                try c.execute("DELETE FROM \(dropping) WHERE BINARY entry = BINARY \(c.literal(entry))")
            }
        }
        return taking.filter { $0.kind == "TRIGGER" }
    }

    /// The second half of `witnessTriggersAndEvents`: `triggers` (from `witnessEvents`) are noted
    /// as dropped and as between their drop and their witness, dropped one right after another
    /// on `dropper` (this session's connection, or one that holds their tables with `LOCK TABLES
    /// ... WRITE`: `renameHolding`), then each replaced by its witness on this session's
    /// connection. Returns when the first left its table and how many did (nil when none did).
    func takeTriggersOff(_ triggers: [SchemaObject], of schema: String, store: String, droppingOn dropper: MySQLConnection) throws -> (since: Date, count: Int)? {
        let c = connection
        guard !triggers.isEmpty else { return nil }
        let witness = qualified(schema, Self.ownTable(Self.witnessTable, in: store))
        let dropping = qualified(store, Self.ownTable(Self.droppingTable, in: store))
        func gap(_ entry: String) -> String { c.literal(Self.droppingPrefix + entry) }
        let entries = triggers.map { Self.builtEntry(kind: $0.kind, name: $0.name) }
        for start in stride(from: 0, to: entries.count, by: 100) {
            let rows = entries[start..<min(start + 100, entries.count)].map { "(\(c.literal($0))), (\(gap($0)))" }
            try c.execute("REPLACE INTO \(dropping) VALUES " + rows.joined(separator: ", "))
        }
        // MariaDB replaces no trigger by one on another table (1360): dropped, then made.
        // When they come off (the server's clock, seconds): a recover after a kill tells rows
        // written since by the tables' `UPDATE_TIME` (`triggersTakenOff`; round 47, H3).
        try c.execute("REPLACE INTO \(dropping) VALUES (CONCAT(\(c.literal(Self.offPrefix)), UNIX_TIMESTAMP()))")
        // Under the dropper's hold: no row reaches the old tables with them off while the
        // process lives (`restoredRowsFiredNone` of a swap that settled).
        if dropper !== c { try c.execute("REPLACE INTO \(dropping) VALUES (\(c.literal(Self.offUnderHold)))") }
        var dropped: [SchemaObject] = []
        let since = Date()
        for (object, entry) in zip(triggers, entries) {
            do { try dropper.execute("DROP TRIGGER \(qualified(schema, object.name))") } catch let error as MySQLServerError where Self.vanishedCodes.contains(error.code) {
                try c.execute("DELETE FROM \(dropping) WHERE BINARY entry IN (BINARY \(c.literal(entry)), BINARY \(gap(entry)))")
                continue
            }
            KillPoint.check("change:mysql.swap.triggerDropped")
            dropped.append(object)
        }
        var witnessed: [String] = []
        for object in dropped {
            let entry = Self.builtEntry(kind: object.kind, name: object.name)
            do {
                try c.execute("CREATE TRIGGER \(qualified(schema, object.name)) BEFORE INSERT ON \(witness) FOR EACH ROW SET @ferry_witness = 1")
                witnessed.append(entry)
            } catch let error as MySQLServerError where MySQLObjectTaken.codes.contains(error.code) {
                // Made again by an application in between: its own, and not the swap's.
                try c.execute("DELETE FROM \(dropping) WHERE BINARY entry IN (BINARY \(c.literal(entry)), BINARY \(gap(entry)))")
            }
        }
        for start in stride(from: 0, to: witnessed.count, by: 100) {
            let gaps = witnessed[start..<min(start + 100, witnessed.count)].map { "BINARY \(gap($0))" }
            try c.execute("DELETE FROM \(dropping) WHERE BINARY entry IN (" + gaps.joined(separator: ", ") + ")")
        }
        return dropped.isEmpty ? nil : (since, dropped.count)
    }

    /// The tables `schema` moves in a swap: its user tables without the run's witness table.
    func tablesToMove(from schema: String, store: String) throws -> [String] {
        let witness = Self.ownTable(Self.witnessTable, in: store)
        return try userTables(schema).filter { $0 != witness }
    }

    /// After the rename (the swap's, or an undo's after a kill between that rename and this): the
    /// notes keep only the triggers and events whose witness is still there (one the application
    /// dropped or replaced meanwhile is not made again by any undo), the witnesses go, and so do
    /// the target's saved views and routines still as saved (noted before each `DROP`; one the
    /// application replaced since the save stays, as the application's).
    /// Returns the target's own views and routines it dropped (their definitions saved in
    /// `store`): each entry (`builtEntry`) with its kind (`VIEW`, `PROCEDURE`, `FUNCTION`), for
    /// what a caller says.
    @discardableResult
    func settleWitnesses(in schema: String, store: String) throws -> [(entry: String, kind: String)] {
        let c = connection
        var replaced: [(entry: String, kind: String)] = []
        guard let state = try witnessState(in: store) else { return replaced }
        let dropping = qualified(store, Self.ownTable(Self.droppingTable, in: store))
        if state == Self.witnessesHeld {
            let held = try witnessedEntries(in: schema, store: store)
            let taken = (try droppedEntries(in: store) ?? []).filter { ($0.hasPrefix("TRIGGER ") || $0.hasPrefix("EVENT ")) && !held.contains($0) }
            try c.execute("START TRANSACTION")
            for entry in taken { try c.execute("DELETE FROM \(dropping) WHERE BINARY entry = BINARY \(c.literal(entry))") }
            try c.execute("DELETE FROM \(dropping) WHERE entry LIKE \(c.literal(Self.droppingPrefix + "%"))")
            try c.execute("DELETE FROM \(dropping) WHERE entry = \(c.literal(Self.witnessesHeld))")
            try c.execute("INSERT IGNORE INTO \(dropping) VALUES (\(c.literal(Self.witnessesSettled)))")
            try c.execute("COMMIT")
        }
        try dropWitnesses(in: schema, store: store)
        if let saved = try stagedObjects(in: store) {
            let asSaved = Self.definitions(of: saved.filter { ["VIEW", "PROCEDURE", "FUNCTION"].contains($0.kind) })
            for object in try objects(in: schema, qualifier: nil) where ["VIEW", "PROCEDURE", "FUNCTION"].contains(object.kind) {
                let entry = Self.builtEntry(kind: object.kind, name: object.name)
                guard Self.hasDefinition(object, asSaved[entry]) else { continue }
                try c.execute("REPLACE INTO \(dropping) VALUES (\(c.literal(entry)))")
                do {
                    try c.execute("DROP \(object.kind) \(qualified(schema, object.name))")
                    replaced.append((entry, object.kind))
                } catch let error as MySQLServerError where Self.vanishedCodes.contains(error.code) {
                    try c.execute("DELETE FROM \(dropping) WHERE BINARY entry = BINARY \(c.literal(entry))")
                }
            }
        }
        try c.execute("DELETE FROM \(dropping) WHERE entry = \(c.literal(Self.witnessesSettled))")
        return replaced
    }

    /// Drops the run's witness table (its witness triggers with it) and witness events in `schema`.
    func dropWitnesses(in schema: String, store: String) throws {
        let c = connection
        try c.execute("DROP TABLE IF EXISTS \(qualified(schema, Self.ownTable(Self.witnessTable, in: store)))")
        for row in try c.query("SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = \(c.literal(schema)) AND EVENT_COMMENT = \(c.literal(Self.witnessComment(of: store)))") {
            if let name = row[0] { try c.execute("DROP EVENT IF EXISTS \(qualified(schema, name))") }
        }
    }

    /// The undo of a swap whose tables never moved (`#witnesses`): each saved trigger and event
    /// whose witness is still there is made again, in one `CREATE OR REPLACE` of the witness; any
    /// other name is the application's to keep (dropped, made or replaced since the save), and
    /// no object of the application's stops the undo. Returns false when the checkpoint does
    /// not follow this protocol (the undo then goes on as before).
    func restoreWitnesses(in schema: String, store: String, saved: [SchemaObject]) throws -> Bool {
        guard try witnessState(in: store) == Self.witnessesHeld else { return false }
        let held = try listedFilter(try witnessedEntries(in: schema, store: store))
        // A trigger the swap was cut off between dropping and witnessing: its name is empty now
        // (nothing of that name in the target) and the swap's own drop is what emptied it, so
        // it is made again from its saved definition. One of that name there now (the target's
        // own, the drop never ran; or an application's) stays.
        let noted = try droppedEntries(in: store) ?? []
        let inTarget = try objects(in: schema, qualifier: nil)
        let present = try listedFilter(Set(inTarget.map { Self.builtEntry(kind: $0.kind, name: $0.name) }))
        let noteInGap = { (entry: String) in noted.contains(Self.droppingPrefix + entry) && noted.contains(entry) }
        // One of that name there now that is not the saved trigger was made by an application
        // in the gap, after the swap's drop: the target's own trigger is lost from the target,
        // its definition only in the checkpoint (fresh tester round 25, N1: the undo kept the
        // application's, dropped the checkpoint and said "as they were before").
        let asSaved = Self.definitions(of: saved.filter { $0.kind == "TRIGGER" })
        let folds = try connection.scalar("SELECT @@lower_case_table_names") != "0"
        func same(_ a: String, _ b: String) -> Bool { folds ? a.lowercased() == b.lowercased() : a == b }
        var takenInGap: [String] = []
        // A trigger an application made on one of the tables while the target's own were
        // witnesses fires first now; made again plainly, the target's own would fire after it,
        // not before it as they did (fresh tester round 26, P10). Each is made again `PRECEDES`
        // the first trigger of its table, timing and event that is not one of the saved ones:
        // in the saved order, before every trigger made since, as if those were made after them.
        let savedTriggers = saved.filter { $0.kind == "TRIGGER" }.map(\.name)
        func beforeLaterTriggers(_ object: SchemaObject) throws -> SchemaObject {
            guard object.kind == "TRIGGER", let header = MySQLTriggerHeader.parse(object.ddl, sqlMode: object.sqlMode) else { return object }
            let c = connection
            let table = folds ? "LOWER(EVENT_OBJECT_TABLE) = LOWER(\(c.literal(header.table)))" : "EVENT_OBJECT_TABLE = \(c.literal(header.table))"
            let names = try c.query("""
                SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = \(c.literal(schema)) AND \(table)
                  AND ACTION_TIMING = \(c.literal(header.timing)) AND EVENT_MANIPULATION = \(c.literal(header.event)) ORDER BY ACTION_ORDER
                """).compactMap { $0[0] }
            guard let later = names.first(where: { name in !savedTriggers.contains { same($0, name) } }),
                  let ddl = MySQLTriggerHeader.precedes(later, in: object.ddl, sqlMode: object.sqlMode) else { return object }
            var ordered = object
            ordered.ddl = ddl
            if !object.original.isEmpty {
                guard let original = MySQLTriggerHeader.precedes(later, in: object.original, sqlMode: object.sqlMode) else { return object }
                ordered.original = original
            }
            return ordered
        }
        // In the saved order (triggers of one table and timing fire in the order they were made).
        for var object in saved where object.kind == "TRIGGER" || object.kind == "EVENT" {
            let entry = Self.builtEntry(kind: object.kind, name: object.name)
            guard held(entry) else {
                if object.kind == "TRIGGER", noteInGap(entry) {
                    if !present(entry) {
                        do { try createObjects([try beforeLaterTriggers(object)], in: schema, keepingOthers: true) } catch is MySQLObjectTaken { takenInGap.append(object.name) }
                    } else if let now = inTarget.first(where: { $0.kind == "TRIGGER" && same($0.name, object.name) }), !Self.hasDefinition(now, asSaved[entry]) {
                        takenInGap.append(object.name)
                    }
                }
                continue
            }
            if object.kind == "TRIGGER" {
                // Its witness is on another table: dropped, then the trigger made (one an
                // application made in between is its own, and stays).
                do { try connection.execute("DROP TRIGGER \(qualified(schema, object.name))") } catch let error as MySQLServerError where Self.vanishedCodes.contains(error.code) {
                    continue
                }
            } else if object.ddl.hasPrefix("CREATE ") {
                object.ddl = "CREATE OR REPLACE " + object.ddl.dropFirst("CREATE ".count)
            }
            do { try createObjects([try beforeLaterTriggers(object)], in: schema, keepingOthers: true) } catch is MySQLObjectTaken { continue }
        }
        try dropWitnesses(in: schema, store: store)
        if !takenInGap.isEmpty {
            // Everything else is back; the checkpoint stays with the saved definitions (in its
            // `__ferry_objects_` table), and the target is left as it is for the user.
            let names = takenInGap.map { quoteName($0) }.joined(separator: ", ")
            throw FerryError(.wrongStatus, "\(schema) on \(instanceName) \(Recovery.restoredButForPhrase) its trigger \(names): the swap dropped it and someone else made a trigger of that name in it before Ferry could hold the name (an application's, left as it is); the target's own definition is saved in the checkpoint \(store) (table \(Self.ownTable(Self.objectsTable, in: store)), kind TRIGGER)",
                             hint: "compare the trigger in \(schema) with the saved definition and make the one you want yourself; drop \(store) once you have what you need",
                             instance: instanceName, reason: .keptWrittenSinceSwap)
        }
        // Done: the saved list goes first, so that an undo cut short after this finds nothing
        // to make again (not the list without its witnesses' note, which it would take for an
        // earlier release's and make again what is there).
        try connection.execute("DROP TABLE IF EXISTS \(qualified(store, Self.ownTable(Self.objectsTable, in: store)))")
        try connection.execute("DELETE FROM \(qualified(store, Self.ownTable(Self.droppingTable, in: store)))")
        return true
    }

    /// Before the rename: an object in `schema` under a name the run's build has (`staged`) that is
    /// neither a witness nor one of the target's own as the swap saved it (an application's, made
    /// or replaced during the swap) would stop the swap after its rename (fresh tester W7-2); it
    /// stops it here instead, while no table has moved and the target holds its own objects.
    func refuseBuildNamesTaken(in schema: String, store: String, staged: [SchemaObject]) throws {
        let isBuilt = try listedFilter(Set(staged.map { Self.builtEntry(kind: $0.kind, name: $0.name) }))
        let held = try witnessedEntries(in: schema, store: store)
        let asSaved = Self.definitions(of: try stagedObjects(in: store) ?? [])
        let taken = Set(try objects(in: schema, qualifier: nil).filter { object in
            let entry = Self.builtEntry(kind: object.kind, name: object.name)
            return isBuilt(entry) && !held.contains(entry) && !Self.hasDefinition(object, asSaved[entry])
        }.map { Self.builtEntry(kind: $0.kind, name: $0.name) })
        guard !taken.isEmpty else { return }
        throw FerryError(.wrongStatus, "\(schema) on \(instanceName) got \(Self.listing(taken)) from someone else during the swap, under a name the run's build has, so no table was moved; it is left as it is, and the swap is undone",
                         hint: "apply again once that object is where you want it (the build's object of that name replaces the target's own, never an application's made during the swap)", instance: instanceName)
    }
}
