import FerryCore

extension MySQLSession {
    /// In place (`EngineSession.swapIsInPlace`): the target existed and the swap marker sits in
    /// the checkpoint (the tables moved there; `undoSwap` moves the marker back to the shadow
    /// first); or the target did not exist, and it is there while the shadow holds no user table.
    /// The checkpoint is there when its schema holds the run's marker (the swap moved it there):
    /// a schema of that name without it is not Ferry's (fresh tester w11 F2).
    public func checkpointIsThere(_ record: SwapRecord) throws -> Bool {
        guard let c = record.checkpoint else { return false }
        return try run(.copyError, "cannot read the checkpoint of \(record.database) on \(instanceName)") {
            try schemaExists(c) && baseTables(c).contains(Self.ownTable(Self.markerTable, in: c))
        }
    }

    public func swapIsInPlace(_ record: SwapRecord) throws -> Bool {
        try run(.copyError, "cannot read the swap of \(record.database) on \(instanceName)") {
            // An undo that began (its mark in the shadow) has taken the swap out of place, even
            // before its rename: it dropped the target's objects first.
            if try schemaExists(record.shadow), try baseTables(record.shadow).contains(Self.ownTable(Self.undoingTable, in: record.shadow)) {
                return false
            }
            if record.targetExisted, let c = record.checkpoint {
                return try schemaExists(c) && baseTables(c).contains(Self.ownTable(Self.markerTable, in: c))
            }
            return try schemaExists(record.database) && (!schemaExists(record.shadow) || userTables(record.shadow).isEmpty)
        }
    }

    /// `EngineSession.rowsWrittenSinceUnfinishedSwap`: the swap's `RENAME TABLE` happened and
    /// no undo began (`swapIsInPlace`), and the data part of the target's token (`CHECKSUM
    /// TABLE` of every table but the swap's witness table, which a swap cut short before it
    /// settled leaves there) is not the verify's. Nil when a table of the run's name is another
    /// table than the one the swap moved in (the undo names it), without a token of this engine's, when
    /// the rename did not happen, or when a table has no checksum.
    public func rowsWrittenSinceUnfinishedSwap(_ record: SwapRecord) throws -> Bool? {
        guard let token = record.afterSwapToken, let expected = Self.dataPart(of: token), try swapIsInPlace(record) else { return nil }
        let d = record.database
        let witness = record.checkpoint.map { Self.ownTable(Self.witnessTable, in: $0) }
        let now = try run(.internalError, "cannot read the content of \(d) on \(instanceName)") { () -> String? in
            guard try schemaExists(d) else { return nil }
            // A table of the run's name made again since (another InnoDB id) is the undo's to
            // name (`madeAgainListing`): it says more than "written".
            guard try runTablesMadeAgain(try userTables(d), in: d, of: record).isEmpty else { return nil }
            return try dataDigest(of: d, excluding: Set([witness].compactMap { $0 }))
        }
        return now.map { $0 != expected }
    }

    /// `EngineSession.shadowShowsUndo`: the undo's note is in the shadow.
    public var shadowShowsUndo: Bool { true }

    /// `EngineSession.undoFinished`: the checkpoint is gone and the shadow holds the note the
    /// undo makes just before it drops the checkpoint it emptied (`undoneTable`).
    public func undoFinished(_ record: SwapRecord) throws -> Bool {
        guard let c = record.checkpoint else { return false }
        return try run(.copyError, "cannot read the swap of \(record.database) on \(instanceName)") {
            try !schemaExists(c) && schemaExists(record.shadow)
                && baseTables(record.shadow).contains(Self.ownTable(Self.undoneTable, in: record.shadow))
        }
    }
}
