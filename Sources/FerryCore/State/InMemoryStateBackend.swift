import Foundation

/// A state backend held in memory: the state, the lock and the runs' journals of one process,
/// for tests that need a backend and no disk (the run machine's pure tests, the protocol's
/// contract tests), with the same guarantees as the local one (SPEC §10): compare-and-swap on
/// the serial, one lease at a time, appends that are whole or not at all.
///
/// A holder is gone only when a test says so (`markGone`), so staleness is deterministic; a
/// journal append can be made to fail (`failAppends`) as a full disk would.
public final class InMemoryStateBackend: StateBackend, @unchecked Sendable {
    // Safe: every mutable field is read and written under `lock`.
    private let lock = NSLock()
    private var stored: State?
    private var held: LockInfo?
    private var gone: Set<String> = []
    private var runs: [String: Run] = [:]
    private var appendFailure: FerryError?
    private let holder: String

    fileprivate struct Run {
        var records: [JournalRecord] = []
        var summary: RunSummary?
        var settled = false
        var progress: [String: [String: Int64]] = [:]
    }

    /// `holder` names whoever takes the lock through this backend (the user name by default).
    public init(holder: String = NSUserName(), state: State? = nil) {
        self.holder = holder
        self.stored = state
    }

    public var location: String { "memory" }

    // MARK: State

    public func readState() throws -> State {
        lock.withLock { stored ?? State(lineage: "") }
    }

    public func writeState(_ state: State, expectingSerial expectedSerial: Int) throws -> State {
        try lock.withLock {
            let current = stored ?? State(lineage: "")
            try StateStore.checkSwap(current: current, writing: state, expectingSerial: expectedSerial, location: location)
            var next = state
            if next.lineage.isEmpty { next.lineage = current.lineage.isEmpty ? UUID().uuidString.lowercased() : current.lineage }
            next.serial = expectedSerial + 1
            stored = next
            return next
        }
    }

    // MARK: Lock

    public func acquireLock(operation: String) throws -> any StateLease {
        try lock.withLock {
            if let current = held, !gone.contains(current.id) {
                throw FerryError(.stateLocked, "the state is locked by \(current.summary), lock id \(current.id)",
                                 hint: "wait for it to finish; if it is gone, run `ferry unlock \(current.id)`")
            }
            let info = LockInfo(id: UUID().uuidString.lowercased(), holder: holder, pid: getpid(),
                                host: ProcessInfo.processInfo.hostName, time: Date(), operation: operation)
            held = info
            return Lease(backend: self, info: info)
        }
    }

    public func lockHolder() -> LockInfo? { lock.withLock { held } }

    public func isGone(_ holder: LockInfo) -> Bool { lock.withLock { gone.contains(holder.id) } }

    /// Makes the holder of lock `id` count as gone (its process died): the next taker takes over.
    public func markGone(_ id: String) { _ = lock.withLock { gone.insert(id) } }

    public func forceUnlock(id: String?) throws -> LockRelease {
        try lock.withLock {
            guard let current = held else { throw FerryError(.stateLocked, "the state is not locked") }
            guard let id else {
                throw FerryError(.stateLocked, "the state is locked by \(current.summary), lock id \(current.id)",
                                 hint: "if that run is gone, run `ferry unlock \(current.id)`")
            }
            guard current.id == id else {
                throw FerryError(.stateLocked, "lock id \(id) does not match the current lock \(current.id) held by \(current.summary)")
            }
            held = nil
            return .released(current)
        }
    }

    fileprivate func isCurrent(_ id: String) -> Bool { lock.withLock { held?.id == id } }

    fileprivate func release(_ id: String) {
        lock.withLock { if held?.id == id { held = nil } }
    }

    final class Lease: StateLease, @unchecked Sendable {
        // Safe: both fields are constants; the backend locks its own state.
        let backend: InMemoryStateBackend
        let info: LockInfo
        init(backend: InMemoryStateBackend, info: LockInfo) {
            self.backend = backend
            self.info = info
        }
        func checkHeld() throws {
            guard backend.isCurrent(info.id) else {
                throw FerryError(.stateLocked, "the state lock \(info.id) of this run is no longer held")
            }
        }
        func release() { backend.release(info.id) }
    }

    // MARK: Journals

    public var journals: any RunJournalStore { Journals(backend: self) }

    /// Makes every journal append fail with `error` (nil: appends work again), as a full disk does.
    public func failAppends(with error: FerryError?) { lock.withLock { appendFailure = error } }

    fileprivate func withRuns<T>(_ body: (inout [String: Run]) throws -> T) rethrows -> T {
        try lock.withLock { try body(&runs) }
    }

    fileprivate func append(_ record: JournalRecord, to runID: String) throws -> Int {
        try lock.withLock {
            if let appendFailure { throw appendFailure }
            var stamped = record
            stamped.seq = (runs[runID]?.records.last?.seq ?? 0) + 1
            stamped.time = Date()
            runs[runID, default: Run()].records.append(stamped)
            return stamped.seq
        }
    }

    struct Journals: RunJournalStore {
        let backend: InMemoryStateBackend

        func runIDs() -> [String] { backend.withRuns { $0.keys.sorted(by: >) } }

        func records(of runID: String) throws -> [JournalRecord] {
            guard let run = backend.withRuns({ $0[runID] }) else {
                throw FerryError(.invalidParameter, "no run \(runID) in memory", hint: "`ferry runs` lists them")
            }
            return run.records
        }

        func createJournal(for runID: String) throws -> any RunJournal {
            backend.withRuns { runs in if runs[runID] == nil { runs[runID] = Run() } }
            return Journal(backend: backend, runID: runID)
        }

        func openJournal(for runID: String) throws -> any RunJournal {
            try createJournal(for: runID)
        }

        func removeRun(_ runID: String) throws { _ = backend.withRuns { $0.removeValue(forKey: runID) } }
        func summary(of runID: String) -> RunSummary? { backend.withRuns { $0[runID]?.summary } }
        func writeSummary(_ summary: RunSummary) throws { backend.withRuns { $0[summary.runID, default: Run()].summary = summary } }
        func isSettled(_ runID: String) -> Bool { backend.withRuns { $0[runID]?.settled ?? false } }
        func markSettled(_ runID: String) { backend.withRuns { $0[runID]?.settled = true } }
        func writeProgress(_ progress: [String: [String: Int64]], of runID: String) { backend.withRuns { $0[runID]?.progress = progress } }
        func progress(of runID: String) -> [String: [String: Int64]] { backend.withRuns { $0[runID]?.progress ?? [:] } }
        func clearProgress(of runID: String) { backend.withRuns { $0[runID]?.progress = [:] } }
    }

    final class Journal: RunJournal, @unchecked Sendable {
        // Safe: both fields are constants; appends are serialized by the backend's lock.
        let backend: InMemoryStateBackend
        let runID: String
        init(backend: InMemoryStateBackend, runID: String) {
            self.backend = backend
            self.runID = runID
        }
        func append(_ record: JournalRecord) throws -> Int { try backend.append(record, to: runID) }
        func records() throws -> [JournalRecord] { try Journals(backend: backend).records(of: runID) }
    }
}
