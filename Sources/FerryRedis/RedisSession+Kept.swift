import FerryCore
import Foundation

extension RedisSession {
    /// A checkpoint is `N@RUN`: there while database N still holds the run's checkpoint marker
    /// (a number reused by another run, or flushed by hand, is not it any more).
    func checkpointIsThere(_ record: SwapRecord) throws -> Bool {
        guard let checkpoint = record.checkpoint, let (number, run) = RedisOwnership.parse(checkpoint), let run else { return false }
        try select(number)
        return (try self.run("EXISTS", RedisOwnership.checkpointMarker(run: run)).integer ?? 0) > 0
    }

    /// Why the checkpoint of `record`'s swap, still in place, no longer holds what the target
    /// held before the run (`EngineSession.checkpointGone`): keys were written into its database
    /// after the swap (fresh tester round 38b, F1/F2: an application using that database, empty
    /// before the run; a rollback or recover swapped those keys into the target and said "hold
    /// what they held before"). The checks a drop of it makes: its content against the one
    /// recorded at the swap where that is exact (`RedisCheckpointContent`: any key added,
    /// changed, renamed, deleted or given another expiry, but one expiring within the minute),
    /// else the key counts and idle times of the drop's script (`guardedFlushScript`, `check`:
    /// keys added, or one written or read since the swap). Nil when the swap is not in place
    /// (no checkpoint marker of the run there), when the swap back was refused before (`kept`),
    /// or when the marker predates the counts.
    public func checkpointGone(_ record: SwapRecord) throws -> String? {
        guard record.targetExisted, let checkpoint = record.checkpoint,
              let (db, parsedRun) = RedisOwnership.parse(checkpoint), let run = parsedRun else { return nil }
        try select(db)
        let recorded = try checkpointRecordedAtSwap(run: run)
        if case .absent = recorded { return nil }
        let words = "database \(db), the checkpoint of database \(record.database) kept by run \(run), "
        let lost = ": swapped back, they would go into database \(record.database) as what it held before the run; what it held cannot be restored as it was, and both are left as they are"
        if case .exact(let then) = recorded {
            return try checkpointStillHolds(then, db: db, run: run) ? nil
                : words + Recovery.checkpointWrittenPhrase + " (a key was written, renamed, deleted or given another expiry there since, by someone else)" + lost
        }
        let checked = try self.run("EVAL", RedisOwnership.guardedFlushScript, "2", RedisOwnership.checkpointMarker(run: run),
                                   RedisOwnership.shadowMarker(run: run), String(db), "check").integer
        switch checked {
        case -1: return words + "holds keys written into it after the swap, by someone else" + lost
        case -5: return words + "holds a key written or read after the swap (its idle time is younger than the swap; without the content recorded at the swap a read cannot be told from a write), by someone else" + lost
        default: return nil
        }
    }

    /// What the checkpoint marker of a run records of its database at the swap.
    enum CheckpointAtSwap {
        /// No marker of the run in the database, or a swap back of it was refused before (`kept`).
        case absent
        /// Only the key counts and the swap's time (the drop script's `check`).
        case counts
        /// Its content, exact at the swap (`contentexact`, `RedisCheckpointContent`).
        case exact(RedisCheckpointContent)
    }

    /// What the checkpoint marker of `run` in the selected database recorded at the swap.
    func checkpointRecordedAtSwap(run: String) throws -> CheckpointAtSwap {
        let marker = RedisOwnership.checkpointMarker(run: run)
        let stored = try self.run("HMGET", marker, "content", "contentexact", "kept").elements.map(\.string)
        guard stored.count == 3, stored[2] == nil, (try self.run("EXISTS", marker).integer ?? 0) > 0 else { return .absent }
        if stored[1] == "1", let text = stored[0], let content = RedisCheckpointContent(text: text) { return .exact(content) }
        return .counts
    }

    /// Whether database `db`, the checkpoint of `run`, holds what it held at the swap (`then`,
    /// `RedisCheckpointContent.unchanged`: every key, value and expiry, but keys expiring within
    /// the minute), read now without the run's markers. Leaves `db` selected. The read counts as
    /// an access on servers without `CLIENT NO-TOUCH` (before 7.2).
    func checkpointStillHolds(_ then: RedisCheckpointContent, db: Int, run: String) throws -> Bool {
        let nowMs = try serverTimeMs()
        try select(db)
        let now = try RedisCheckpointContent.read(connection, excluding: RedisOwnership.markers(run: run))
        try select(db)
        return then.unchanged(in: now, at: nowMs)
    }
}
