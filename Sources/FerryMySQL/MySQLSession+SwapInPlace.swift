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
