import Foundation

/// One run as `ferry state migrate` moves it: its journal verbatim (sequence numbers and times
/// kept), its summary and its settled marker.
public struct MigratedRun: Sendable {
    public var runID: String
    public var records: [JournalRecord]
    public var summary: RunSummary?
    public var settled: Bool

    public init(runID: String, records: [JournalRecord], summary: RunSummary?, settled: Bool) {
        self.runID = runID
        self.records = records
        self.summary = summary
        self.settled = settled
    }

    /// The run as bytes, for comparing a copy with its original (summaries are not `Equatable`).
    var comparable: Data {
        let encoder = JSONEncoder.ferryLine
        var data = Data(runID.utf8)
        for record in records { data += (try? encoder.encode(record)) ?? Data() }
        data += (try? encoder.encode(summary)) ?? Data()
        data += Data([settled ? 1 : 0])
        return data
    }
}

/// A backend `ferry state migrate` can move a state out of and into (SPEC §6 "Moving a state").
public protocol MigratableStateBackend: StateBackend {
    /// The state and every run, oldest first, read as stored (also when the state was moved away).
    func exportAll() throws -> (State, [MigratedRun])
    /// True when the backend holds no state (serial 0) and no run.
    func isEmptyForImport() throws -> Bool
    /// Writes `state` (serial and lineage as they are) and `runs` verbatim into an empty backend,
    /// the state last (its commit point): a failure part-way leaves no state.
    func importAll(_ state: State, runs: [MigratedRun]) throws
    /// Removes what `importAll` wrote (only after it wrote into an empty backend).
    func clearImported() throws
    /// Where `ferry state migrate` moved this state (nil: it was not moved). A moved state is
    /// refused by `readState` (`OperationDenied.WrongStatus` naming the new place).
    func movedTo() -> String?
    /// Records (or with nil, clears) that the state was moved to `location`.
    func markMoved(to location: String?) throws
    /// The state being moved into this backend by a `ferry state migrate` that has not finished
    /// (nil: none). Until it finishes, `readState` refuses (`OperationDenied.WrongStatus`): a
    /// half-filled target never serves as a fresh state.
    func incomingFrom() -> String?
    /// Records (or with nil, clears) that a state from `location` is being moved in.
    func markIncoming(from location: String?) throws
}

extension MigratableStateBackend {
    /// The refusal of a backend a migration is moving a state into.
    public func incomingRefusal(_ from: String) -> FerryError {
        FerryError(.wrongStatus, "a state is being moved into \(location) from \(from) by `ferry state migrate`, which has not finished",
                   hint: "finish it: ferry state migrate --from \(from) --to \(location)")
    }
}

/// `ferry state migrate --from A --to B`: moves a state with its runs from one backend to another,
/// so that exactly one of the two is live at any moment.
public enum StateMigration {
    public struct Result: Sendable {
        public var serial: Int
        public var lineage: String
        public var runs: Int
        /// True when an earlier migration had retired the source and this one finished it.
        public var resumed: Bool
    }

    /// Under both locks (source first, each waiting up to `lockTimeout`): refuses a source with an
    /// interrupted or unstarted run (`RunInterrupted`: recover first) and a target that is not
    /// empty (`OperationDenied.WrongStatus`); exports the source, marks it moved to the target
    /// (from then on it refuses use), imports into the target, reads the target back and compares
    /// it with what was exported. Any failure after the mark clears what was imported and the
    /// mark, so the source is live again. A migration killed after the mark leaves the source
    /// retired and the target empty or whole: running the same migration again finishes it.
    public static func migrate(from source: any MigratableStateBackend, to target: any MigratableStateBackend,
                               lockTimeout: TimeInterval = 0, waiting: (LockWait) -> Void = { _ in }) throws -> Result {
        guard source.location != target.location else {
            throw FerryError(.invalidParameter, "--from and --to name the same state (\(source.location))")
        }
        if let moved = source.movedTo(), moved != target.location {
            throw FerryError(.wrongStatus, "the state in \(source.location) was already moved to \(moved)",
                             hint: "migrate from \(moved) instead")
        }
        let sourceLease = try source.acquireLock(operation: "state migrate", timeout: lockTimeout, waiting: waiting)
        defer { sourceLease.release() }
        let targetLease = try target.acquireLock(operation: "state migrate", timeout: lockTimeout, waiting: waiting)
        defer { targetLease.release() }
        let resumed = source.movedTo() == target.location
        if let id = source.interruptedRuns().first ?? source.unstartedRuns().first {
            throw FerryError(.runInterrupted, "run \(id) in \(source.location) is not finished",
                             hint: "run `ferry recover --state \(source.location)` first; a state moves only with finished runs")
        }
        let (state, runs) = try source.exportAll()
        if let other = target.incomingFrom(), other != source.location {
            throw FerryError(.wrongStatus, "a state from \(other) is being moved into \(target.location) by an unfinished `ferry state migrate`",
                             hint: "finish that one first: ferry state migrate --from \(other) --to \(target.location)")
        }
        if !(try target.isEmptyForImport()) {
            if resumed, let stored = try? target.exportAll(), stored.0 == state,
               stored.1.map(\.comparable) == runs.map(\.comparable) {
                try target.markIncoming(from: nil)
                return Result(serial: state.serial, lineage: state.lineage, runs: runs.count, resumed: true)
            }
            // What an earlier attempt of this same move wrote before it was killed (runs without
            // the state, which goes last): the target has served nobody since (it refuses use
            // while marked), so it is cleared and filled again.
            guard resumed, target.incomingFrom() == source.location else {
                throw FerryError(.wrongStatus, "the state in \(target.location) is not empty",
                                 hint: "a state moves only into an empty place: choose another --to, or remove that state first")
            }
            try target.clearImported()
        }
        // The target refuses use from before the source is retired until it is whole.
        try target.markIncoming(from: source.location)
        try source.markMoved(to: target.location)
        do {
            try target.importAll(state, runs: runs)
            let (copied, copiedRuns) = try target.exportAll()
            guard copied == state, copiedRuns.map(\.comparable) == runs.map(\.comparable) else {
                throw FerryError(.verifyFailed, "the state read back from \(target.location) differs from \(source.location)'s")
            }
            try sourceLease.checkHeld()
            try targetLease.checkHeld()
            try target.markIncoming(from: nil)
        } catch {
            try? target.clearImported()
            try? source.markMoved(to: nil)
            try? target.markIncoming(from: nil)
            throw error
        }
        return Result(serial: state.serial, lineage: state.lineage, runs: runs.count, resumed: resumed)
    }
}

// MARK: The local directory

extension LocalStateBackend: MigratableStateBackend {
    var movedFile: String { store.directory + "/moved" }

    public func movedTo() -> String? {
        guard let data = FileManager.default.contents(atPath: movedFile),
              let record = try? JSONDecoder.ferry.decode([String: String].self, from: data) else { return nil }
        return record["to"]
    }

    public func markMoved(to location: String?) throws {
        guard let location else {
            try RawFile.remove(movedFile)
            DurableFile.syncDirectory(store.directory)
            return
        }
        try DurableFile.writeAtomically(try JSONEncoder.ferry.encode(["to": location, "at": Format.time(Date())]), to: movedFile)
    }

    /// Throws when the state was moved away, or is being moved in (`readState` asks it first).
    func checkNotMoved() throws {
        if let moved = movedTo() {
            throw FerryError(.wrongStatus, "the state in \(store.directory) was moved to \(moved) by `ferry state migrate`",
                             hint: "use --state \(moved)")
        }
        if let from = incomingFrom() { throw incomingRefusal(from) }
    }

    var incomingFile: String { store.directory + "/incoming" }

    public func incomingFrom() -> String? {
        guard let data = FileManager.default.contents(atPath: incomingFile),
              let record = try? JSONDecoder.ferry.decode([String: String].self, from: data) else { return nil }
        return record["from"]
    }

    public func markIncoming(from location: String?) throws {
        guard let location else {
            try RawFile.remove(incomingFile)
            DurableFile.syncDirectory(store.directory)
            return
        }
        try DurableFile.makeDirectory(store.directory)
        try DurableFile.writeAtomically(try JSONEncoder.ferry.encode(["from": location, "at": Format.time(Date())]), to: incomingFile)
    }

    public func exportAll() throws -> (State, [MigratedRun]) {
        let runs = RunStore(store: store)
        let exported = try runs.runIDs().reversed().map { id in
            MigratedRun(runID: id, records: try runs.records(of: id), summary: runs.summary(of: id), settled: runs.isSettled(id))
        }
        return (try store.load(), exported)
    }

    public func isEmptyForImport() throws -> Bool {
        !FileManager.default.fileExists(atPath: store.stateFile) && RunStore(store: store).runIDs().isEmpty
    }

    public func importAll(_ state: State, runs: [MigratedRun]) throws {
        let store = RunStore(store: self.store)
        for run in runs {
            try DurableFile.makeDirectory(store.directory(of: run.runID))
            var lines = Data()
            for record in run.records {
                lines += try JSONEncoder.ferryLine.encode(record)
                lines.append(0x0A)
            }
            try DurableFile.writeAtomically(lines, to: store.journalPath(of: run.runID))
            if let summary = run.summary { try store.writeSummary(summary) }
            // Whether the marker also counted kept targets does not travel: an empty marker, which
            // a plan reads again once (`RunStore.isSettledForKeptTargets`).
            if run.settled { _ = FileManager.default.createFile(atPath: store.settledPath(of: run.runID), contents: nil, attributes: [.posixPermissions: 0o600]) }
        }
        KillPoint.check("migrate-import-runs-written")
        try DurableFile.writeAtomically(try JSONEncoder.ferry.encode(state), to: self.store.stateFile)
    }

    public func clearImported() throws {
        RawFile.removeIfPresent(store.stateFile)
        try? FileManager.default.removeItem(atPath: store.runsDirectory)
        DurableFile.syncDirectory(store.directory)
    }
}
