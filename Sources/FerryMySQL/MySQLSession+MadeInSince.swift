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
