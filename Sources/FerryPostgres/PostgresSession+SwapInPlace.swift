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

    /// `EngineSession.shadowShowsUndo`: an undo renames the run's database back to the shadow's
    /// name, so a shadow still there shows the swap is no longer in place.
    public var shadowShowsUndo: Bool { true }

    /// PostgreSQL tells a gone checkpoint by the oids recorded at the swap (`checkpointGone`).
    public var tellsGoneCheckpoints: Bool { true }

    /// Gone (`EngineSession.checkpointGone`): the swap's transaction committed (the shadow's name
    /// is gone), no undo put the checkpoint back under the target's name (its oid, recorded at
    /// the swap, is not the target's), and the checkpoint's name is free or holds another
    /// database than the one the swap kept (`checkpointImpostor`): someone dropped or renamed
    /// it, and maybe made a database of their own under its name (round-9 fresh tester F6: that
    /// one left every `ferry recover` failing, "run `ferry recover` again once the instances are
    /// reachable"; now the target is left as it is, and the user's database too). The same facts
    /// `undoSwap` refuses on, read the same way (W8-4).
    public func checkpointGone(_ record: SwapRecord) throws -> String? {
        try run(.copyError, "cannot read the checkpoint of \(record.database) on \(instanceName)") {
            guard record.targetExisted, let checkpoint = record.checkpoint, !(try databaseExists(record.shadow)) else { return nil }
            let impostor = try checkpointImpostor(record)
            if impostor == nil, try databaseExists(checkpoint) {
                // There, and the swap's. Written into since its swap (rows, definitions, settings,
                // comment: what its recorded token covers; `checkpointChanges`), it is not what
                // the target held before the run (fresh tester round 41, F6: a rollback and a
                // recover swapped it back and said "as before"). Not after an undo put it back
                // under the target's name, nor without a recorded token (nothing to tell by).
                if let restored = Self.swappedInOid(record, key: "checkpoint"), try oid(of: record.database) == restored { return nil }
                guard let marker = try comment(of: checkpoint), Self.checkpointMark(checkpoint, marker: marker)?.token != nil,
                      try checkpointChanges(in: checkpoint) != nil else { return nil }
                return "the checkpoint \(checkpoint) of \(record.database) \(Recovery.checkpointWrittenPhrase) (its rows, definitions, settings or comment were written since, by someone else)"
            }
            // Here: another database under its name (`impostor`), or none.
            if let restored = Self.swappedInOid(record, key: "checkpoint"), try oid(of: record.database) == restored { return nil }
            let renamed = try renamedCheckpoint(checkpoint)
            guard let impostor else {
                return "the checkpoint \(checkpoint) of \(record.database) is gone: "
                    + (renamed.map { "it was renamed to \($0) after the swap, by someone else" } ?? "it was dropped after the swap, by someone else")
            }
            if impostor.sameDatabase {
                return "the checkpoint \(checkpoint) of \(record.database) is gone as a checkpoint: \(impostor.why), so it is not provably what \(record.database) held before the run; Ferry leaves it as it is"
            }
            return "the checkpoint \(checkpoint) of \(record.database) is gone: "
                + (renamed.map { "it was renamed to \($0) after the swap, by someone else" } ?? "it was dropped (or renamed) after the swap, by someone else")
                + ", and the database now under its name is another one (\(impostor.why)): Ferry leaves that one as it is and never restores from it"
        }
    }

    /// The checkpoint the swap kept is under its name (`EngineSession.checkpointIsThere`): a
    /// database of that name that is not another one (`checkpointImpostor`).
    public func checkpointIsThere(_ record: SwapRecord) throws -> Bool {
        try run(.copyError, "cannot read the checkpoint of \(record.database) on \(instanceName)") {
            guard let checkpoint = record.checkpoint, try databaseExists(checkpoint) else { return false }
            return try checkpointImpostor(record) == nil
        }
    }

    /// Why the database under `record`'s checkpoint name is not the checkpoint its swap kept:
    /// another oid than the one the swap recorded for it, or (a record without that oid: a swap
    /// killed before its end was journaled) no checkpoint mark of that run; `sameDatabase` when
    /// it is the swap's database (same oid) whose mark someone changed. Nil when no database has
    /// that name, or it is the checkpoint (a release before the mark: by its name, as then).
    func checkpointImpostor(_ record: SwapRecord) throws -> (why: String, sameDatabase: Bool)? {
        guard let checkpoint = record.checkpoint, let now = try oid(of: checkpoint) else { return nil }
        // Marked when `checkpointComment` does not throw (it returns nil for a mark that keeps no comment).
        let marked: Bool
        do { _ = try checkpointComment(checkpoint, of: record); marked = true } catch { marked = false }
        if let kept = Self.swappedInOid(record, key: "checkpoint") {
            if now != kept { return ("oid \(now), where the swap kept oid \(kept)\(marked ? "" : ", and without Ferry's checkpoint mark")", false) }
            return marked ? nil : ("its comment, Ferry's checkpoint mark, was changed after the swap", true)
        }
        return marked ? nil : ("it does not carry Ferry's checkpoint mark", false)
    }
}

extension PostgresSession {
    /// `EngineSession.madeInSinceSwap`: a database under the target's name that is not the one
    /// the swap put there (its oid, which a rename keeps: the application dropped the target and
    /// made it again, or renamed another to it, since the swap). No undo renames it away,
    /// `--discard-later-writes` neither (fresh tester round 15, B5: it was offered). Reads only.
    public func madeInSinceSwap(_ record: SwapRecord) throws -> String? {
        try run(.copyError, "cannot read the databases of \(instanceName)") {
            guard !(try databaseExists(record.shadow)), let targetOid = try oid(of: record.database),
                  let swappedIn = Self.swappedInOid(record), swappedIn != targetOid else { return nil }
            return "\(record.database) on \(instanceName) is not the database the run swapped in (that one was dropped or renamed after the swap, and another database took the name), and no undo renames it away"
        }
    }
}
