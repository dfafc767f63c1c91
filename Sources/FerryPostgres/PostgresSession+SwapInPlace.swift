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
}
