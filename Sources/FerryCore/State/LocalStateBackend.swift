import Foundation

/// The state in a local directory (`.ferry/` by default, `--state DIR`), laid out as every
/// earlier release wrote it:
///
///     state.json                 the state (`StateStore`), replaced whole by rename
///     state.lock                 the lock (`StateLock`), published whole by link(2)
///     runs/RUN/journal.jsonl     a run's journal (`JournalWriter`), one record a line, fsync'd
///     runs/RUN/summary.json      what `ferry runs` lists
///     runs/RUN/progress.json     bytes and rows of the running steps
///     runs/RUN/settled           empty marker: the run needs nothing more (`RunStore`)
///
/// The lock lease is the lock file; it is held until `release`.
public struct LocalStateBackend: StateBackend {
    public let store: StateStore

    public init(store: StateStore) { self.store = store }
    public init(directory: String) { self.init(store: StateStore(directory: directory)) }

    public var location: String { store.directory }

    /// The state directory's absolute path, symbolic links resolved, so that `ferry unlock
    /// --claims` from another working copy on this host finds the run's journal there.
    public var journalPlace: String { LocalStateBackend.absolute(store.directory) }

    /// `path` made absolute (against the working directory) and resolved where it exists.
    public static func absolute(_ path: String) -> String {
        let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return URL(fileURLWithPath: full).standardizedFileURL.resolvingSymlinksInPath().path
    }

    /// Throws `OperationDenied.WrongStatus` when `ferry state migrate` moved the state away.
    public func readState() throws -> State {
        try checkNotMoved()
        return try store.load()
    }

    public func writeState(_ state: State, expectingSerial expectedSerial: Int) throws -> State {
        try store.save(state, expectingSerial: expectedSerial)
    }

    public func acquireLock(operation: String) throws -> any StateLease {
        try StateLock.acquire(store, operation: operation)
    }

    public func lockHolder() -> LockInfo? { StateLock.read(store) }

    public func forceUnlock(id: String?) throws -> LockRelease { try StateLock.forceUnlock(store, id: id) }

    public var journals: any RunJournalStore { RunStore(store: store) }
}

extension StateBackend {
    /// A local directory for the files run `runID` stages (backup files on their way to or from a
    /// storage location): its run directory on the local backend (`runs/RUN/`, which nothing else
    /// writes into), else a directory named for the run in the system's temporary directory. Not
    /// created here.
    public func scratchDirectory(of runID: String) -> String {
        if let local = self as? LocalStateBackend { return RunStore(store: local.store).directory(of: runID) }
        return NSTemporaryDirectory() + "ferry-run-" + runID
    }

    /// Removes run `runID`'s scratch directory in the temporary directory once nothing is left in
    /// it (`rmdir(2)`: never a file); a local backend's run directory is the run's and stays.
    public func removeScratchDirectoryIfEmpty(of runID: String) {
        guard !(self is LocalStateBackend) else { return }
        rmdir(scratchDirectory(of: runID))
    }
}
