import Foundation

/// Rolls runs back from their journals: after a failure inside `apply`, after a crash
/// (`ferry recover`), and for committed runs whose checkpoints are kept (`ferry rollback RUN`).
public struct Recovery: Sendable {
    public let store: StateStore
    public let engines: EngineRegistry
    public let reporter: ApplyReporter

    public init(store: StateStore, engines: EngineRegistry, reporter: ApplyReporter) {
        self.store = store
        self.engines = engines
        self.reporter = reporter
    }

    var runs: RunStore { RunStore(store: store) }

    /// Undoes everything the journal shows in place, newest first, then releases the run's claims.
    /// Returns the undo steps that failed (empty: the instances are as before the run).
    @discardableResult
    public func rollBack(runID: String, journal: JournalWriter, instances: [String: InstanceSpec],
                         onlyAddresses: Set<String>? = nil, finish: Bool = true) -> [Diagnostic] {
        let records = (try? JournalReader.read(path: journal.path)) ?? []
        let replay = RunReplay(records: records)
        let addressOf = Dictionary(records.map { ($0.seq, $0.address) }, uniquingKeysWith: { a, _ in a })
        _ = try? journal.append(JournalRecord(event: .rollbackBegun))
        var failures: [Diagnostic] = []
        let sessions = SessionPool(engines: engines, instances: instances, journaled: replay.begin?.instances ?? [:])
        defer { sessions.closeAll() }
        let session = sessions.session
        for item in replay.pendingUndo {
            if let only = onlyAddresses, let address = addressOf[item.seq] ?? nil, !only.contains(address) { continue }
            do {
                switch item {
                case .undoSwap(_, let instance, let record):
                    try session(instance).undoSwap(record)
                    reporter.line("  ↺ restored \(instance)/\(record.database)" + (record.targetExisted ? " from its checkpoint" : " (removed: it did not exist before)"))
                case .dropShadow(_, let instance, let shadow):
                    try session(instance).drop(shadow)
                case .undoUsers(_, let instance, let undo):
                    try session(instance).undoUserSync(undo)
                    reporter.line("  ↺ removed synced users on \(instance)")
                case .removeBackup(_, let directory):
                    if FileManager.default.fileExists(atPath: directory) { try FileManager.default.removeItem(atPath: directory) }
                }
                _ = try? journal.append(JournalRecord(event: .undone, undoes: item.seq))
            } catch {
                let d = (error as? FerryError)?.diagnostics.first ?? Diagnostic(.internalError, "\(error)")
                failures.append(d)
                _ = try? journal.append(JournalRecord(event: .undoFailed, undoes: item.seq, message: "[\(d.code.rawValue)] \(d.message)"))
                reporter.line("  \(reporter.palette.red("✗")) could not undo journal record \(item.seq): \(d.code.rawValue): \(d.message)")
            }
        }
        if finish {
            releaseClaims(runID: runID, replay: replay, instances: instances, session: session)
            _ = try? journal.append(JournalRecord(event: .rolledBack, message: failures.isEmpty ? "complete" : "incomplete"))
        }
        return failures
    }

    func releaseClaims(runID: String, replay: RunReplay, instances: [String: InstanceSpec],
                       session: (String) throws -> any EngineSession) {
        let names = Set(replay.begin?.claims.map(\.instance) ?? [])
        for name in names.sorted() {
            do { try session(name).release(runID: runID) } catch {
                reporter.line("  note: could not release claims of run \(runID) on \(name): \(error)")
            }
        }
    }

    /// After commit: drop checkpoints beyond the retention, release claims, mark the run clean.
    public func cleanAfterCommit(runID: String, journal: JournalWriter, state: State, instances: [String: InstanceSpec]) {
        let keep = max(0, state.keepCheckpointRuns ?? 1)
        let sessions = SessionPool(engines: engines, instances: instances,
                                   journaled: (try? runs.replay(runID))?.begin?.instances ?? [:])
        defer { sessions.closeAll() }
        let session = sessions.session
        // Committed runs, newest first, that still keep checkpoints.
        let committed = runs.runIDs().filter { id in
            guard !runs.isSettled(id), let replay = try? runs.replay(id) else { return false }
            runs.markIfSettled(id, replay)
            return replay.isCommitted && !replay.keptCheckpoints.isEmpty
        }
        for id in committed.dropFirst(keep) {
            // This run's own records go through its open writer, so that sequence numbers stay unique.
            guard let replay = try? runs.replay(id),
                  let writer = id == runID ? journal : try? JournalWriter(path: runs.journalPath(of: id)) else { continue }
            var ok = true
            for (instance, record) in replay.keptCheckpoints {
                do { try session(instance).drop(record.checkpoint!) } catch {
                    ok = false
                    reporter.line("  note: could not drop checkpoint \(record.checkpoint!) on \(instance): \(error)")
                }
            }
            if ok { _ = try? writer.append(JournalRecord(event: .checkpointsDropped, message: id)) }
        }
        let replay = (try? runs.replay(runID)) ?? RunReplay(records: [])
        // A swap leaves the shadow's name behind on some engines (an empty MySQL schema); where the
        // shadow is not itself the checkpoint (Redis), it goes now.
        for (instance, record) in replay.swaps where record.shadow != record.checkpoint {
            do { try session(instance).drop(record.shadow) } catch {
                reporter.line("  note: could not drop shadow \(record.shadow) on \(instance): \(error)")
            }
        }
        releaseClaims(runID: runID, replay: replay, instances: instances, session: session)
        _ = try? journal.append(JournalRecord(event: .cleaned))
    }

    /// `ferry recover`: finishes every interrupted run. A run whose state write landed is
    /// committed (only its cleanup is finished); any other is rolled back. Returns the failures.
    public func recoverAll(instances: [String: InstanceSpec]) -> (recovered: [String], failures: [Diagnostic]) {
        var recovered: [String] = []
        var failures: [Diagnostic] = []
        let state = (try? store.load()) ?? State()
        for id in runs.interruptedRuns() {
            guard let writer = try? JournalWriter(path: runs.journalPath(of: id)),
                  let replay = try? runs.replay(id) else { continue }
            if replay.hasCommitStarted && state.lastRunID == id {
                if !replay.isCommitted { _ = try? writer.append(JournalRecord(event: .committed)) }
                reporter.line("Run \(id) had committed; finishing its cleanup.")
                cleanAfterCommit(runID: id, journal: writer, state: state, instances: instances)
            } else {
                reporter.line("Rolling back interrupted run \(id), newest step first.")
                failures += rollBack(runID: id, journal: writer, instances: instances)
            }
            recovered.append(id)
        }
        return (recovered, failures)
    }

    /// `ferry rollback RUN`: restores what a committed run replaced, from its kept checkpoints,
    /// and puts the state records back as they were before it.
    public func revert(runID: String, instances: [String: InstanceSpec]) throws -> [Diagnostic] {
        let replay = try runs.replay(runID)
        guard replay.isCommitted else {
            throw FerryError(.invalidParameter, "run \(runID) did not commit (\(replay.outcome.rawValue)); there is nothing to restore")
        }
        if replay.records.contains(where: { $0.event == .reverted }) {
            throw FerryError(.invalidParameter, "run \(runID) was already rolled back")
        }
        if replay.records.contains(where: { $0.event == .checkpointsDropped }) {
            throw FerryError(.invalidParameter, "the checkpoints of run \(runID) were already dropped",
                             hint: "raise the retention with `ferry state keep N` to keep more runs' checkpoints")
        }
        let touched = Set(replay.swaps.map { "\($0.instance)/\($0.record.database)" })
        for later in runs.runIDs() where later > runID {
            guard let other = try? runs.replay(later), other.isCommitted,
                  !other.records.contains(where: { $0.event == .reverted }) else { continue }
            let overlap = Set(other.swaps.map { "\($0.instance)/\($0.record.database)" }).intersection(touched)
            if !overlap.isEmpty {
                throw FerryError(.invalidParameter, "run \(later) changed \(overlap.sorted().joined(separator: ", ")) after run \(runID)",
                                 hint: "roll back \(later) first")
            }
        }
        let writer = try JournalWriter(path: runs.journalPath(of: runID))
        var failures: [Diagnostic] = []
        let sessions = SessionPool(engines: engines, instances: instances, journaled: replay.begin?.instances ?? [:])
        defer { sessions.closeAll() }
        for (instance, record) in replay.swaps.reversed() {
            do {
                let session = try sessions.session(instance)
                try session.undoSwap(record)
                // What the run had swapped in may now sit under the shadow's name.
                try session.drop(record.shadow)
                reporter.line("  ↺ restored \(instance)/\(record.database)" + (record.targetExisted ? " from its checkpoint" : " (removed: it did not exist before)"))
            } catch {
                failures.append((error as? FerryError)?.diagnostics.first ?? Diagnostic(.internalError, "\(error)"))
            }
        }
        for (instance, undo) in replay.records.filter({ $0.event == .usersSynced }).compactMap({ r in r.instance.map { ($0, r.undo ?? "") } }).reversed() {
            do { try sessions.session(instance).undoUserSync(undo) } catch {
                failures.append((error as? FerryError)?.diagnostics.first ?? Diagnostic(.internalError, "\(error)"))
            }
        }
        guard failures.isEmpty else { return failures }
        var state = try store.load()
        for (address, previous) in replay.begin?.previousRecords ?? [:] {
            if let previous { state.resources[address] = previous } else { state.resources[address] = nil }
        }
        try store.save(state)
        try writer.append(JournalRecord(event: .reverted))
        return []
    }
}

/// Sessions opened on demand during a rollback, one per instance, closed together. Instances come
/// from the plan, or from the run's journal when the plan no longer names them.
final class SessionPool {
    private let engines: EngineRegistry
    private let instances: [String: InstanceSpec]
    private let journaled: [String: InstanceSpec]
    private var open: [String: any EngineSession] = [:]

    init(engines: EngineRegistry, instances: [String: InstanceSpec], journaled: [String: InstanceSpec]) {
        self.engines = engines
        self.instances = instances
        self.journaled = journaled
    }

    func session(_ name: String) throws -> any EngineSession {
        if let session = open[name] { return session }
        guard let spec = instances[name] ?? journaled[name] else {
            throw FerryError(.instanceNotFound, "instance \(name) is not in the plan or the run's journal")
        }
        let session = try engines.connect(spec)
        open[name] = session
        return session
    }

    func closeAll() {
        open.values.forEach { $0.close() }
        open.removeAll()
    }
}
