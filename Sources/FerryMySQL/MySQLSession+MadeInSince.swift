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
            try settleWitnesses(in: d, store: c)
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
            guard !made.isEmpty || !taken.isEmpty else { return nil }
            var words = made.isEmpty ? "" : "the run's \(Self.listing(Set(made))), which the swap had not made yet, were made in it (its last step)"
            if !taken.isEmpty {
                words += (words.isEmpty ? "" : "; ") + "\(Self.listing(Set(taken))) of the run's build were not: someone else made objects of those names in it since (theirs, left as they are); the build's definitions stay saved in \(s)"
            }
            return words
        }
    }
}
