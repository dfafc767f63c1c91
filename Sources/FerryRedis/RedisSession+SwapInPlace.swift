import FerryCore

extension RedisSession {
    /// In place (`EngineSession.swapIsInPlace`): the shadow's database number holds the run's
    /// checkpoint marker for this target, which the swap's script sets after its `SWAPDB` and the
    /// undo's script removes with the `SWAPDB` back.
    func swapIsInPlace(_ record: SwapRecord) throws -> Bool {
        let targetDB = try number(of: record.database)
        let (shadowDB, run) = try owned(record.shadow)
        try select(shadowDB)
        return try self.run("HGET", RedisOwnership.checkpointMarker(run: run), "target").string == String(targetDB)
    }

    /// The swap is one transaction (PostgreSQL) or one script (Redis).
    var swapIsAtomic: Bool { true }
}
