import FerryCore
import Foundation

extension MySQLSession {
    /// `EngineSession.madeInSinceSwap`: what in `record`'s target the run did not swap in (an
    /// application's view, routine, trigger, event or table made or replaced there since the
    /// swap), as the undo's own checks (`runTables`, `refuseObjectsNotSwappedIn`) would refuse it, which
    /// `--discard-later-writes` does not lift: Ferry never drops what it did not make. Nil when
    /// the target holds nothing of the kind, is gone, or the swap is not in place. Reads only.
    public func madeInSinceSwap(_ record: SwapRecord) throws -> String? {
        guard try swapIsInPlace(record) else { return nil }
        do {
            _ = try runTables(in: record.database, of: record, stopping: "and no undo drops it (`--discard-later-writes` neither)")
            _ = try refuseObjectsNotSwappedIn(record)
            return nil
        } catch let error as FerryError where error.diagnostics.first?.code == .wrongStatus {
            return error.diagnostics.first?.message
        }
    }
}

extension MySQLSession {
    /// `EngineSession.buildLeft`: the run's shadow still holds every table its swap was to move
    /// in (`shadowHoldsItsTables`: the swap stopped before its rename, or an undo moved them back
    /// before it stopped), so the run's build is there, named. And a swap kept after its rename
    /// but before it settled the target's old objects (fresh tester round 42, L2) leaves Ferry's
    /// witness table in the target, with the old triggers and events on it and the old views
    /// and routines beside the new tables: named, for the user to drop.
    public func buildLeft(_ record: SwapRecord) throws -> String? {
        var parts: [String] = []
        if try shadowHoldsItsTables(record) {
            let tables = try userTables(record.shadow)
            parts.append(Recovery.buildLeftOpening + "\(Self.listing(Set(tables.map { Self.builtEntry(kind: "TABLE", name: $0) })))) is still in \(record.shadow) on \(instanceName), left as it is: drop that schema once you are sure you do not need it")
        } else if try schemaExists(record.shadow) {
            // Its tables moved into the target (a swap cut short past its rename), the shadow is
            // kept with the target, and was named nowhere (fresh tester round 74, F4).
            let tables = try userTables(record.shadow)
            let saved = try baseTables(record.shadow).contains(Self.ownTable(Self.objectsTable, in: record.shadow))
            var held: [String] = []
            if !tables.isEmpty { held.append("its tables \(tables.sorted().joined(separator: ", "))") }
            if saved { held.append("the saved definitions of its views, routines, triggers and events (\(Self.ownTable(Self.objectsTable, in: record.shadow)))") }
            let what = (tables.isEmpty ? "none of its tables: they went into \(record.database)" : "not all of its tables") + (held.isEmpty ? "" : "; it holds " + held.joined(separator: " and "))
            parts.append(Recovery.buildLeftOpening + "\(what)) is still in its shadow \(record.shadow) on \(instanceName), left as it is: drop that schema once you have settled \(record.database)")
        }
        if let c = record.checkpoint, try schemaExists(record.database) {
            let witness = Self.ownTable(Self.witnessTable, in: c)
            if try baseTables(record.database).contains(witness) {
                parts.append("Ferry's witness table \(quoteName(witness)) is still in \(record.database) on \(instanceName): the swap stopped before it settled what the target held before (its triggers and events stand on that table, its views and routines beside the run's tables); drop them, and the table, once you have settled \(record.database)")
            }
        }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }

    public func finishKeptSwap(_ record: SwapRecord) throws -> String? {
        try run(.copyError, "cannot finish the swap of \(record.database) on \(instanceName)") {
            let d = record.database, s = record.shadow
            guard record.targetExisted, let c = record.checkpoint, try schemaExists(d), try schemaExists(c), try schemaExists(s),
                  try !shadowHoldsItsTables(record), let staged = try stagedObjects(in: s) else { return nil }
            // Only in the target the swap's tables went into, holding those tables and no other
            // (by their InnoDB ids: a target made again, or one an application added a table to,
            // is left as it is, its words as before).
            guard let ids = Self.swappedInIDs(record.detail), !ids.isEmpty, let now = try tableIDs(in: d) else { return nil }
            let witness = Self.ownTable(Self.witnessTable, in: c), own = Self.ownTables(in: d)
            guard now.filter({ $0.key != witness && !own.contains($0.key) }) == ids else { return nil }
            let outer = switchJournal
            if switchJournal?.database != d {
                switchJournal = CollationSwitchJournal(database: d, run: Self.runTag(of: s) ?? "", journal: nil, notes: record.notes ?? [])
            }
            defer { switchJournal = outer }
            // As the swap would have: its witnesses go (the target's own triggers and events,
            // saved in the checkpoint), then the defaults and the build's objects.
            let hadWitnesses = try !witnessedEntries(in: d, store: c).isEmpty
            let replaced = try settleWitnesses(in: d, store: c)
            try rebindDefaults(in: d, from: s)
            let inTarget = try objects(in: d, qualifier: nil)
            let present = try listedFilter(Set(inTarget.map { Self.builtEntry(kind: $0.kind, name: $0.name) }))
            let built = Self.definitions(of: staged)
            let asBuilt = try listedFilter(Set(inTarget.filter { Self.hasDefinition($0, built[Self.builtEntry(kind: $0.kind, name: $0.name)]) }
                .map { Self.builtEntry(kind: $0.kind, name: $0.name) }))
            var made: [String] = [], taken: [String] = []
            for object in staged {
                let entry = Self.builtEntry(kind: object.kind, name: object.name)
                // There already: the swap's own (made before it stopped), or someone else's.
                guard !present(entry) else {
                    if !asBuilt(entry) { taken.append(entry) }
                    continue
                }
                do { try createObjects([object], in: d, keepingOthers: true) } catch is MySQLObjectTaken { taken.append(entry); continue }
                made.append(entry)
            }
            // As the swap's last step: the shadow goes once it holds nothing but Ferry's
            // run-tagged tables (fresh tester round 47, L1: it was left after every such recover,
            // named nowhere). Kept while it holds the definitions of objects not made here.
            var shadowDropped = false
            if taken.isEmpty, try userTables(s).isEmpty, try objectList(s).isEmpty {
                try connection.execute("DROP DATABASE IF EXISTS \(quoteName(s))")
                shadowDropped = true
            }
            // What the swap's last step did here, said whatever the build held (fresh tester
            // round 73, F1: with no object in the build the words said the target was left as it
            // is, its objects "still in" a shadow that had just been dropped, while its own
            // views, routines and witnesses had gone as the swap replaces them).
            var done: [String] = []
            if !replaced.isEmpty {
                done.append("its own \(Self.listing(Set(replaced.map(\.entry)), tableKinds: Self.viewKinds(replaced))) went, as the swap replaces them (their definitions stay saved in \(c))")
            }
            if hadWitnesses {
                done.append("the run's witnesses of its own triggers and events went (their definitions stay saved in \(c))")
            }
            if made.isEmpty, taken.isEmpty {
                done.append("the run's build had no view, routine, trigger or event to make")
            }
            if shadowDropped { done.append("the run's shadow \(s) went, holding nothing else") }
            var words = (done.isEmpty ? "" : "the swap's last step was done in it: " + done.joined(separator: "; "))
            if !made.isEmpty {
                words += (words.isEmpty ? "" : "; ") + "the run's \(Self.listing(Set(made), tableKinds: Self.viewKinds(staged.map { (Self.builtEntry(kind: $0.kind, name: $0.name), $0.kind) }))), which the swap had not made yet, \(made.count == 1 ? "was" : "were") made in it (its last step)"
            }
            // Rows written between the rename and now met none of those triggers (fresh tester
            // round 48, F5: said nowhere).
            if made.contains(where: { $0.hasPrefix("TRIGGER ") }) {
                words += "; rows written into it from the swap's rename until then \(Recovery.firedNonePhrase)"
            }
            if !taken.isEmpty {
                words += (words.isEmpty ? "" : "; ") + "\(Self.listing(Set(taken))) of the run's build were not: someone else made objects of those names in it since (theirs, left as they are); the build's definitions stay saved in \(s)"
            }
            return words
        }
    }

    /// `listing`'s `tableKinds` for the views among `objects` (entries with their kinds): a
    /// view's entry is a table's, which `listing` calls "table or view" unless told.
    static func viewKinds(_ objects: [(entry: String, kind: String)]) -> [String: String] {
        Dictionary(objects.filter { $0.kind == "VIEW" }.map { (splitEntry($0.entry).1, "view") }, uniquingKeysWith: { a, _ in a })
    }

    public func finishKeptUndo(_ record: SwapRecord) throws -> String? {
        try run(.copyError, "cannot finish the undo of \(record.database) on \(instanceName)") { () -> String? in
            let d = record.database, s = record.shadow
            // Only past the undo's rename (the target's own tables back in it), with the saved
            // definitions still in the checkpoint and the target the one the tables went into.
            guard record.targetExisted, let c = record.checkpoint, try schemaExists(d), try schemaExists(c),
                  try renamedBackByUndo(record), try checkpointGone(record) == nil,
                  let saved = try stagedObjects(in: c) else { return nil }
            let outer = switchJournal
            if switchJournal?.database != d {
                switchJournal = CollationSwitchJournal(database: d, run: Self.runTag(of: s) ?? "", journal: nil, notes: record.notes ?? [])
            }
            defer { switchJournal = outer }
            // As the undo chooses them: what the swap dropped of the target's own, and what is
            // still there of them (`undoSwap`).
            func entries(_ list: [SchemaObject]) -> Set<String> { Set(list.map { Self.builtEntry(kind: $0.kind, name: $0.name) }) }
            let dropped = try droppedEntries(in: c)
            let present = try listedFilter(entries(try objects(in: d, qualifier: nil)))
            let original = saved.filter { let e = Self.builtEntry(kind: $0.kind, name: $0.name); return dropped?.contains(e) ?? true || present(e) }
            guard let (isOurs, foreign) = try objectsNotSwappedIn(record, original: original) else { return nil }
            // The run's objects (and the target's own, to be made again) go; what someone made
            // or replaced since stays (read again before each drop).
            let gone = try dropObjects(in: d, only: { isOurs($0) && !foreign.contains($0) }, unlessReplaced: try asChecked(record, original: original))
            let (missing, madeNow, errors) = try makeEachMissing(original, in: d)
            let made = Array(madeNow)
            let taken = Array(entries(original).subtracting(missing)) + errors.filter { $0.error is MySQLObjectTaken }.map(\.entry)
            let failed = errors.filter { !($0.error is MySQLObjectTaken) }.map(\.entry)
            try settleCollationSwitch(of: d)
            // Used up, as the undo leaves it: dropped once it holds nothing but Ferry's own.
            let usedUp = try taken.isEmpty && failed.isEmpty && userTables(c).isEmpty && objects(in: c, qualifier: nil).isEmpty
            if usedUp {
                if try schemaExists(s) {
                    try connection.execute("CREATE TABLE IF NOT EXISTS \(qualified(s, Self.ownTable(Self.undoneTable, in: s))) (x INT) ENGINE=InnoDB")
                }
                try connection.execute("DROP DATABASE IF EXISTS \(quoteName(c))")
            }
            let runs = gone.subtracting(entries(original))
            guard !made.isEmpty || !taken.isEmpty || !failed.isEmpty || !runs.isEmpty else { return nil }
            var words: [String] = []
            if !runs.isEmpty { words.append("the run's \(Self.listing(runs)) left it") }
            if !made.isEmpty { words.append("its own \(Self.listing(Set(made))) \(made.count == 1 ? "was" : "were") made again in it, beside what was made in it since (left as it is)") }
            if !taken.isEmpty {
                words.append("its own \(Self.listing(Set(taken))) could not be made again: someone else made objects of those names in it since (theirs, left as they are); their definitions stay saved in the checkpoint \(c)")
            }
            if !failed.isEmpty {
                words.append("its own \(Self.listing(Set(failed))) could not be made again (the server refused them as the target is now); their definitions stay saved in the checkpoint \(c)")
            }
            if usedUp { words.append("its checkpoint \(c), used up, was dropped") }
            return words.joined(separator: "; ")
        }
    }

    /// `EngineSession.checkpointWrittenDuringSwap`: the data part of the checkpoint's token
    /// (its tables and the objects saved in it, as the swap reads it after its rename) against
    /// the data part of the append's `expectedTargetToken`. Nil without such a token (a copy
    /// that replaced the target: what was written into it until the rename is in the checkpoint
    /// by design, SPEC §6) or a checkpoint.
    public func checkpointWrittenDuringSwap(_ record: SwapRecord) throws -> String? {
        try run(.copyError, "cannot read the checkpoint of \(record.database) on \(instanceName)") { () -> String? in
            guard record.targetExisted, let c = record.checkpoint, let expected = record.expectedTargetToken,
                  let was = Self.dataPart(of: expected), try schemaExists(c), try baseTables(c).contains(Self.ownTable(Self.markerTable, in: c)),
                  let held = try contentToken(of: c, objects: try stagedObjects(in: c) ?? []), let now = Self.dataPart(of: held),
                  now != was else { return nil }
            return "\(c) holds rows written into \(record.database) during the swap too, after its check and before its rename moved the tables (the swap was cut short while its rename waited): they are not in the live target; compare the two"
        }
    }

    /// `EngineSession.restoredRowsFiredNone`: the triggers the swap noted as dropping from the
    /// target (its witnesses holding names or settled: the notes are there until the swap's
    /// last step), and rows in the checkpoint written after they came off: for an append, the
    /// checkpoint's data against its `expectedTargetToken` (its hold's check read that, so any
    /// other row came after it); for a copy that replaces the target, its tables'
    /// `UPDATE_TIME` against the swap's `#off` note (whole seconds; a table updated in that very
    /// second is said as may be).
    public func restoredRowsFiredNone(_ record: SwapRecord) throws -> String? {
        try run(.copyError, "cannot read the checkpoint of \(record.database) on \(instanceName)") { () -> String? in
            guard let (triggers, maybe) = try checkpointRowsWrittenWhileOff(record) else { return nil }
            let count = triggers == 1 ? "its trigger was" : "its \(triggers) triggers were"
            return "the checkpoint it was restored from holds rows \(maybe ? "that may have been " : "")written into its tables during the swap, while \(count) off them (the swap takes them off before its hold, and its rename moves the tables: MariaDB moves no table with a trigger); those rows are live again as written and \(Recovery.firedNonePhrase)"
        }
    }

    /// `EngineSession.keptCheckpointRowsFiredNone`: the same rows as `restoredRowsFiredNone`,
    /// said of a checkpoint kept beside its target (fresh tester rounds 64, M1, and 65: rows a
    /// killed apply's swap left in it were named nowhere).
    public func keptCheckpointRowsFiredNone(_ record: SwapRecord) throws -> String? {
        try run(.copyError, "cannot read the checkpoint of \(record.database) on \(instanceName)") { () -> String? in
            guard let c = record.checkpoint, let (triggers, maybe) = try checkpointRowsWrittenWhileOff(record) else { return nil }
            let count = triggers == 1 ? "its trigger was" : "its \(triggers) triggers were"
            return "its checkpoint \(c) holds rows \(maybe ? "that may have been " : "")written into its tables during the swap, while \(count) off them: those rows \(Recovery.firedNonePhrase), and a restore of that checkpoint makes them live as written"
        }
    }

    /// The rows of `restoredRowsFiredNone`: how many triggers the swap noted as dropping, and
    /// whether the rows are only "may have been" written after they came off; nil when none
    /// were (or none can be told).
    func checkpointRowsWrittenWhileOff(_ record: SwapRecord) throws -> (triggers: Int, maybe: Bool)? {
        // (The notes stay after the swap's last step, its state gone: a `ferry rollback RUN`
        // of a finished swap reads them too: fresh tester round 64, H1.)
        guard record.targetExisted, let c = record.checkpoint, try schemaExists(c),
              let noted = try droppedEntries(in: c) else { return nil }
        let triggers = noted.filter { $0.hasPrefix("TRIGGER ") }
        guard !triggers.isEmpty else { return nil }
        // Off under the dropper's hold, and the swap settled or finished (its rename done
        // while the process, and so the hold, lived): no row reached those tables with them off.
        if noted.contains(Self.offUnderHold), try witnessState(in: c) != Self.witnessesHeld { return nil }
        var maybe = false
        if record.expectedTargetToken != nil {
            guard try checkpointWrittenDuringSwap(record) != nil else { return nil }
        } else if noted.contains(Self.offWritten) || noted.contains(Self.offMaybeWritten) {
            // Read under the swap's hold, before its rename reset the tables' UPDATE_TIME.
            maybe = !noted.contains(Self.offWritten)
        } else {
            // Updated in the second they came off: maybe before, maybe after (fresh tester
            // round 63, H4: "as they were before" over rows written within that second).
            guard let off = Self.offSecond(in: noted), let updated = try tablesUpdated(in: c, since: off) else { return nil }
            maybe = updated == .inThatSecond
        }
        return (triggers.count, maybe)
    }

    /// `EngineSession.undoneRowsFiredNone`: past an undo's rename (`renamedBackByUndo`), with
    /// triggers of the target's own saved in the checkpoint and not in the target now, the
    /// checksums of the tables it moved back (`movedBack`), read now in the target, against the
    /// data part of the token the swap recorded in the checkpoint (what the undo's hold checked
    /// they held as it renamed them): another digest is rows written since, without those
    /// triggers. A full read of those tables.
    public func undoneRowsFiredNone(_ record: SwapRecord) throws -> String? {
        try run(.copyError, "cannot read \(record.database) on \(instanceName)") { () -> String? in
            let d = record.database
            guard record.targetExisted, let c = record.checkpoint, try schemaExists(c), try schemaExists(d), try renamedBackByUndo(record),
                  let saved = try stagedObjects(in: c), let moved = try movedBack(from: c), !moved.isEmpty,
                  let recorded = try recordedToken(in: c), let was = Self.dataPart(of: recorded) else { return nil }
            let dropped = try droppedEntries(in: c)
            let present = Set(try objects(in: d, qualifier: nil).filter { $0.kind == "TRIGGER" }.map(\.name))
            let missing = saved.filter { $0.kind == "TRIGGER" && (dropped?.contains(Self.builtEntry(kind: $0.kind, name: $0.name)) ?? true) && !present.contains($0.name) }
            guard !missing.isEmpty, try tablesMissing(moved, from: d).isEmpty else { return nil }
            var sums: [String: String?] = [:]
            for table in moved { sums[table] = try Self.checksum(table, in: d, on: connection) }
            guard let now = Self.dataDigest(sums), now != was else { return nil }
            let count = missing.count == 1 ? "its trigger \(quoteName(missing[0].name)) was" : "\(missing.count) of its triggers were"
            return "rows were written into its tables after the rollback's rename moved them back (it was cut short there), while \(count) not on them yet, and those rows \(Recovery.firedNonePhrase)"
        }
    }

    /// `EngineSession.triggersTakenOff`: the triggers the swap noted as dropping from the
    /// target (`MySQLSwapWitness`: witnessed, or between their drop and their witness) while its
    /// witnesses still hold names (`#witnesses`). Rows written since the swap's check are told
    /// by the data part of the target's token against the append's `expectedTargetToken`;
    /// without one (a copy that replaces the target), by the tables' `UPDATE_TIME` against the
    /// swap's `#off` note (whole seconds: one updated in that very second is said as may be).
    public func triggersTakenOff(_ record: SwapRecord) throws -> String? {
        try run(.copyError, "cannot read the swap of \(record.database) on \(instanceName)") { () -> String? in
            guard record.targetExisted, let c = record.checkpoint, try schemaExists(c), try witnessState(in: c) == Self.witnessesHeld,
                  let noted = try droppedEntries(in: c) else { return nil }
            let triggers = noted.filter { $0.hasPrefix("TRIGGER ") }
            guard !triggers.isEmpty else { return nil }
            let written: String
            if let expected = record.expectedTargetToken, let was = Self.dataPart(of: expected) {
                // An append: its snapshot's token tells any row written since.
                let witness = Self.ownTable(Self.witnessTable, in: c)
                guard try schemaExists(record.database), let now = try dataDigest(of: record.database, excluding: [witness]), now != was else { return nil }
                written = "rows were written into its tables after the run began from it, and any"
            } else {
                // Without a token (a copy replacing the target): a table of the target updated
                // in a later second than the one the triggers came off in (`UPDATE_TIME`, whole
                // seconds, kept by the server in memory since it started) was written after.
                // A table updated in that same second is said as may be; one before a server restart is not told.
                // Without the note (an earlier release's swap), it may have been.
                if let off = Self.offSecond(in: noted) {
                    // Updated in the second they came off: maybe before, maybe after; said as
                    // may be (fresh tester round 63, H4: "as they were before" over 25 rows
                    // written within that second, after the triggers came off). The run's
                    // witness table in the target is Ferry's, not a row of the user's.
                    guard let updated = try tablesUpdated(in: record.database, since: off) else { return nil }
                    written = updated == .after ? "rows were written into its tables after they came off, and any"
                        : "rows may have been written into its tables after they came off (in the second they came off, which the server's UPDATE_TIME does not split), and any"
                } else {
                    written = "any rows written into its tables"
                }
            }
            let count = triggers.count == 1 ? "its trigger was" : "its \(triggers.count) triggers were"
            return "\(count) off its tables from the swap (it takes them off before its rename: MariaDB moves no table with a trigger) until this undo put them back, so \(written) written in that time \(Recovery.firedNonePhrase)"
        }
    }
}
