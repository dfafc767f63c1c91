import Foundation

/// Where a state lives: the state itself, the lock that keeps one run at a time on it, and the
/// journals of its runs. The split follows Terraform's `statemgr` (read, write, lock) beneath its
/// `backend` (where those are kept): the applier, recovery and the commands ask this protocol,
/// never a path. `LocalStateBackend` keeps everything in a directory (`.ferry/`, SPEC §10);
/// a server backend keeps it in tables and holds its lock through a connection; the in-memory
/// one (`InMemoryStateBackend`) serves pure tests. Nothing in the protocol is a file path.
///
/// The guarantees every backend gives:
/// - `writeState` is a compare-and-swap on the serial: a writer that read serial N writes N + 1
///   only if the stored serial is still N, else `PlanStale` and nothing is written. Two writers
///   never lose each other's update, with or without the lock.
/// - A lease from `acquireLock` is exclusive until `release`; a holder that is provably gone
///   (`isGone`) loses it to the next taker.
/// - A journal record `append`ed is durable when `append` returns.
public protocol StateBackend: Sendable {
    /// Where the state lives, for messages (a directory; a server's address without secrets).
    var location: String { get }

    /// Where this state's journals live, as a claim records it (`DatabaseClaim.journal`): a local
    /// directory's absolute path, or a server's address without secrets. Default: `location`.
    var journalPlace: String { get }

    /// The state, or an empty one (lineage `""`, serial 0) when none was written yet.
    /// Throws `Internal` when the stored state cannot be read.
    func readState() throws -> State

    /// Writes `state` with serial `expectedSerial + 1` (and a new lineage if it has none) when
    /// the stored serial is still `expectedSerial`, atomically and durably; returns it as written.
    /// Throws `PlanStale` when another writer got there first (nothing is written).
    func writeState(_ state: State, expectingSerial expectedSerial: Int) throws -> State

    /// Takes the lock once, or throws `StateLocked` naming the holder. A lock whose holder is
    /// provably gone is taken over (what that run left is found from its journal, not the lock).
    func acquireLock(operation: String) throws -> any StateLease

    /// The current holder of the lock (nil: free, or a lock that cannot be read).
    func lockHolder() -> LockInfo?

    /// True when `holder` provably no longer holds its lock (its process is gone; for a server
    /// backend, its connection). The default asks whether its process runs on this host.
    func isGone(_ holder: LockInfo) -> Bool

    /// Why the run that began with `begin` provably still runs, or nil when nothing proves it
    /// (`ferry recover` refuses a live run, SPEC §6). The default, for a state on this machine's
    /// disk, can check only a process on this host: a ferry process with the run's pid that still
    /// runs ("pid N on this host"). A server backend proves it by the run's lock session, whatever
    /// its host.
    func liveness(of begin: RunBegin) -> String?

    /// `ferry unlock [ID]`: removes the lock if `id` names it, or, with no id, a lock that cannot
    /// be read. Throws `StateLocked` otherwise (no lock, another id, an id needed).
    func forceUnlock(id: String?) throws -> LockRelease

    /// The runs' journals, summaries and markers.
    var journals: any RunJournalStore { get }

    /// The database a server backend keeps its state in and stays connected to for a whole
    /// run (its lock session), with the server's identity as its engine reports it
    /// (`EngineSession.serverIdentity`): a plan may not swap a new database in under that name
    /// (SPEC §3). Nil for a state on disk (the default), or when the server cannot be read.
    func heldDatabase() -> HeldDatabase?
}

/// A database a state backend holds (`StateBackend.heldDatabase`).
public struct HeldDatabase: Sendable, Hashable {
    /// The server's identity (`postgres:<system_identifier>`).
    public var server: String
    public var database: String
    /// Where the state lives, for messages (no secret).
    public var location: String

    public init(server: String, database: String, location: String) {
        self.server = server
        self.database = database
        self.location = location
    }
}

extension StateBackend {
    public func isGone(_ holder: LockInfo) -> Bool { holder.isHolderGone }

    public func heldDatabase() -> HeldDatabase? { nil }

    public func liveness(of begin: RunBegin) -> String? {
        guard begin.host == ProcessInfo.processInfo.hostName, begin.pid != getpid(),
              !ProcessLiveness.isGone(pid: begin.pid, host: begin.host) else { return nil }
        return "pid \(begin.pid) on this host"
    }

    /// `writeState` expecting the serial `state` was read with: the usual read-modify-write.
    @discardableResult
    public func writeState(_ state: State) throws -> State {
        try writeState(state, expectingSerial: state.serial)
    }
}

/// A held lock. It holds whatever keeps the lock for the whole run (a lock file today; a
/// server connection for a server backend) until `release`.
public protocol StateLease: AnyObject, Sendable {
    /// Who holds it: holder, host, pid, time, operation and the lock's id (runs record it).
    var info: LockInfo { get }
    /// Throws `StateLocked` when the lease is no longer held (removed by `ferry unlock`, taken over,
    /// a server connection lost): a run checks it before its commit.
    func checkHeld() throws
    /// Gives the lock back; a lease that is no longer the current lock leaves the new one alone.
    func release()
}

/// What `ferry unlock` found and did.
public enum LockRelease: Sendable, Equatable {
    case released(LockInfo)
    /// A lock that could not be read (it has no id to give) was removed; the text names it.
    case removedUnreadable(String)
}

/// The journals of a state's runs, their summaries, their settled markers and live progress.
/// Run ids sort by start time (`RunStore.makeRunID`).
public protocol RunJournalStore: Sendable {
    /// Run ids with a journal, newest first.
    func runIDs() -> [String]
    /// Every complete record of a run (a torn last record is left out). Throws
    /// `InvalidParameter` when there is no such run.
    func records(of runID: String) throws -> [JournalRecord]
    /// Starts the journal of a new run (empty, durable before this returns).
    func createJournal(for runID: String) throws -> any RunJournal
    /// Opens an existing run's journal to append to it; sequence numbers go on from its last record.
    func openJournal(for runID: String) throws -> any RunJournal
    /// Removes a run entirely: only for a run with no begin record (it changed nothing).
    func removeRun(_ runID: String) throws
    func summary(of runID: String) -> RunSummary?
    func writeSummary(_ summary: RunSummary) throws
    /// True when the run is known finished and keeping no checkpoints (see `markIfSettled`).
    func isSettled(_ runID: String) -> Bool
    /// Records that the run is settled; it stays so (later records never unsettle a run).
    func markSettled(_ runID: String)
    /// True when the run is settled and its marker was left by a release that settles a run
    /// only once nothing a rollback left for the user (a kept target's checkpoint, a
    /// `leftForUser` database) is still there: plans then skip its journal (`KeptTargets`).
    /// Earlier releases settled such runs too, so their markers read false here.
    func isSettledForKeptTargets(_ runID: String) -> Bool
    /// Marks the run settled by those rules (`KeptTargets`, once all it left is gone).
    func markSettledForKeptTargets(_ runID: String)
    /// `runIDs()` but the settled ones, newest first: what every command's checks read (one query
    /// on a server, not one a run).
    func unsettledRunIDs() -> [String]
    /// `runIDs()` but those `isSettledForKeptTargets`, newest first (`KeptTargets`).
    func runIDsNotSettledForKeptTargets() -> [String]
    /// Bytes and rows of the running steps, by step number (`ferry status` of a live run).
    func writeProgress(_ progress: [String: [String: Int64]], of runID: String)
    func progress(of runID: String) -> [String: [String: Int64]]
    func clearProgress(of runID: String)
}

/// One run's journal, open for appending from any worker thread.
public protocol RunJournal: AnyObject, Sendable {
    var runID: String { get }
    /// Stamps the record with the next sequence number and the time, writes it durably, returns
    /// the sequence number. A failed append leaves the journal as it was (no torn record).
    @discardableResult
    func append(_ record: JournalRecord) throws -> Int
    /// Every complete record so far.
    func records() throws -> [JournalRecord]
}

extension RunJournalStore {
    /// Backends whose markers all come from releases that count kept targets (in memory).
    public func isSettledForKeptTargets(_ runID: String) -> Bool { isSettled(runID) }
    public func markSettledForKeptTargets(_ runID: String) { if !isSettled(runID) { markSettled(runID) } }
    public func unsettledRunIDs() -> [String] { runIDs().filter { !isSettled($0) } }
    public func runIDsNotSettledForKeptTargets() -> [String] { runIDs().filter { !isSettledForKeptTargets($0) } }
}

/// What each command asks of the runs, from any backend: replays, and which runs need recovery.
extension StateBackend {
    public var journalPlace: String { location }

    public func replay(_ runID: String) throws -> RunReplay {
        RunReplay(records: try journals.records(of: runID))
    }

    /// Leaves the settled marker when the replay shows the run settled. A lost marker only costs a re-read.
    /// A run that left something for the user (a kept target, `leftForUser`) is settled only
    /// by `KeptTargets`, once it found all of that gone.
    public func markIfSettled(_ runID: String, _ replay: RunReplay) {
        guard replay.isSettledButForWhatItLeft, !replay.leftSomethingForTheUser, !journals.isSettled(runID) else { return }
        journals.markSettled(runID)
    }

    /// Runs whose journal has no end and whose process is gone: they need `ferry recover`.
    public func interruptedRuns() -> [String] {
        let lock = lockHolder()
        return journals.unsettledRunIDs().filter { id in
            guard let replay = try? replay(id) else { return false }
            if replay.isFinished {
                markIfSettled(id, replay)
                return false
            }
            // A committed run only missing its cleanup is finished as far as instances go, but recover tidies it.
            guard let begin = replay.begin else { return false }
            if replay.outcome == .rollbackIncomplete { return true }
            if let lock, lock.id == begin.lockID, !isGone(lock) { return false }
            return true
        }
    }

    /// Runs whose journal holds no begin record (empty, or one torn line): the run could not
    /// record its start, so it claimed and changed nothing. They are not runs: no command is
    /// refused for them, `ferry runs` shows them as `notStarted`, and `ferry recover` removes them.
    /// (A live run is between creating its journal and its begin record only under the lock,
    /// which `ferry recover` holds.)
    public func unstartedRuns() -> [String] {
        journals.unsettledRunIDs().filter { id in (try? replay(id))?.hasBeginRecord == false }
    }

    /// Throws `RunInterrupted` when a run needs recovery (SPEC §6).
    public func ensureNoInterruptedRun() throws {
        guard let id = interruptedRuns().first else { return }
        var replay = try? replay(id)
        // A run whose state write landed committed, even if the journal could not say so.
        if let found = replay, !found.isCommitted, found.hasCommitStarted, (try? readState())?.lastRunID == id {
            replay = RunReplay(records: found.records + [JournalRecord(event: .committed)])
        }
        if replay?.kind == .rollback {
            throw FerryError(.runInterrupted, "rollback run \(id) (of run \(replay?.begin?.reverts ?? "?")) did not finish",
                             hint: "run `ferry recover` to finish it (`ferry status \(id)` shows where it stopped)")
        }
        if replay?.isCommitted == true {
            throw FerryError(.runInterrupted, "run \(id) committed, but its clean-up did not finish",
                             hint: "run `ferry recover` to finish it once the instances are reachable")
        }
        let incomplete = replay?.outcome == .rollbackIncomplete
        if !incomplete, replay?.records.contains(where: { $0.event == .rollbackBegun }) == true {
            // Its rollback ran but its end is not in the journal (killed, or a full disk).
            throw FerryError(.runInterrupted, "run \(id) began rolling back, and its journal does not record the rollback's end",
                             hint: "run `ferry recover` to finish the rollback and record it (free space in the state directory first if it is full)")
        }
        throw FerryError(.runInterrupted, incomplete ? "run \(id) has not been rolled back completely"
                                                     : "run \(id) did not finish, and its journal does not record a rollback",
                         hint: incomplete ? "`ferry status \(id)` lists what is left and why; run `ferry recover` once that is mended"
                                          : "run `ferry recover` to roll it back, then try again")
    }
}
