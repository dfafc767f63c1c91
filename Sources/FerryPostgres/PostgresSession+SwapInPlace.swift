import FerryCore

extension PostgresSession {
    /// In place (`EngineSession.swapIsInPlace`): the swap's one transaction committed (the shadow's
    /// name is gone and the target's is there) and, when the target existed, its checkpoint is
    /// there too (`undoSwap` renames both back in one transaction).
    public func swapIsInPlace(_ record: SwapRecord) throws -> Bool {
        try run(.copyError, "cannot read the swap of \(record.database) on \(instanceName)") {
            guard try !databaseExists(record.shadow), try databaseExists(record.database) else { return false }
            if record.targetExisted, let checkpoint = record.checkpoint { return try databaseExists(checkpoint) }
            return true
        }
    }

    /// The swap is one transaction (PostgreSQL) or one script (Redis).
    public var swapIsAtomic: Bool { true }

    /// PostgreSQL tells a gone checkpoint by the oids recorded at the swap (`checkpointGone`).
    public var tellsGoneCheckpoints: Bool { true }

    /// Gone (`EngineSession.checkpointGone`): the swap's transaction committed (the shadow's name
    /// is gone), the checkpoint's name is gone too, and no undo put the checkpoint back under the
    /// target's name (its oid, recorded at the swap, is not the target's): someone dropped or
    /// renamed it. The same facts `undoSwap` refuses on, read the same way (W8-4).
    public func checkpointGone(_ record: SwapRecord) throws -> String? {
        try run(.copyError, "cannot read the checkpoint of \(record.database) on \(instanceName)") {
            guard record.targetExisted, let checkpoint = record.checkpoint,
                  !(try databaseExists(record.shadow)), !(try databaseExists(checkpoint)) else { return nil }
            if let restored = Self.swappedInOid(record, key: "checkpoint"), try oid(of: record.database) == restored { return nil }
            if let renamed = try renamedCheckpoint(checkpoint) {
                return "the checkpoint \(checkpoint) of \(record.database) is gone: it was renamed to \(renamed) after the swap, by someone else"
            }
            return "the checkpoint \(checkpoint) of \(record.database) is gone: it was dropped after the swap, by someone else"
        }
    }
}
