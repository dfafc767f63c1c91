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
}
