import Foundation

/// A run's cancellation: set once (by the executable, on the first SIGINT or SIGTERM) and read by
/// the Applier, which then starts no more steps, and by the engines, which stop the work in hand.
///
/// FerryCore installs no signal handler: the executable owns the token's source (SPEC §6,
/// "Interrupting a run"). Engines see the token through the step's `ProgressCounter`:
/// - `check()` between units of work (a read buffer, a batch of rows) throws `Interrupted`;
/// - `whileRunning(onCancel:_:)` registers a way to break a call that blocks (SQLite
///   `sqlite3_interrupt`, closing a MySQL or Redis socket) for the duration of that call; the
///   handler is called from the cancelling thread and must only do thread-safe things.
public final class CancellationToken: @unchecked Sendable {
    // Safe: `cancelled` and `reason` are read and written under `lock`; `handlers` and `nextID`
    // under `handlerLock`, which is also held while handlers run, so that once `unregister`
    // returns its handler is not running and never will (the resource it breaks may then go).
    // Order: `handlerLock` before `lock`, never the other way.
    private let lock = NSLock()
    private let handlerLock = NSLock()
    private var cancelled = false
    private var reason = "interrupted"
    private var handlers: [Int: @Sendable () -> Void] = [:]
    private var nextID = 0

    public init() {}

    /// True once `cancel` was called.
    public var isCancelled: Bool { lock.withLock { cancelled } }

    private var committed = false

    /// True once the run passed its commit point (`committing` is journaled): from then on a
    /// cancel undoes nothing, the run finishes its commit and clean-up (SPEC §6), and whoever
    /// tells the user about a signal says so instead of "rolling back".
    public var isPastCommitPoint: Bool { lock.withLock { committed } }

    /// Called by the Applier right after it journals `committing`.
    public func passCommitPoint() { lock.withLock { committed = true } }

    private var abandoned = false

    /// True once `abandon` was called: the second SIGINT/SIGTERM. The run stops at once: nothing
    /// more is undone or recorded, the journal stays as it is for `ferry recover` (SPEC §6).
    public var isAbandoned: Bool { lock.withLock { abandoned } }

    /// The second signal: cancels (if not yet) and marks the run to be left as it is. The Applier
    /// feeds it to its `RunMachine` as `interruptedAgain`; its journal refuses every record from
    /// then on, and a rollback or clean-up in hand stops before its next step.
    /// The handlers are not called again when the first signal already cancelled (they may
    /// block: a MySQL `KILL QUERY` connects anew, up to its connect timeout), so the signal
    /// thread's grace (`Interrupts.stopGrace`) starts at once.
    ///
    /// Returns false, and changes nothing, when the run's outcome was already final (`end`): the
    /// run is not left for `ferry recover` then, and whoever tells the user says so.
    @discardableResult
    public func abandon(reason: String = "interrupted") -> Bool {
        let (wasCancelled, hadEnded) = lock.withLock {
            if ended { return (cancelled, true) }
            abandoned = true
            return (cancelled, false)
        }
        if hadEnded { return false }
        if !wasCancelled { cancel(reason: reason) }
        return true
    }

    private var ended = false

    /// True once `end` was called.
    public var hasEnded: Bool { lock.withLock { ended } }

    /// Called by the Applier as its run's outcome becomes final (before it writes the summary and
    /// returns), and by its journal before it writes the rollback's end (`rolledBack`). Returns false, and changes nothing, when `abandon` came first: the run then ends at
    /// once as abandoned, as the signal thread already said. One lock orders the two, so a second
    /// signal is either the run's end (left for `ferry recover`) or a note after it, never both
    /// ("stopping now" and "Apply complete!" together, issue 18).
    public func end() -> Bool {
        lock.withLock {
            if abandoned { return false }
            ended = true
            return true
        }
    }

    /// Why it was cancelled (for messages: "interrupted (SIGINT)").
    public var why: String { lock.withLock { reason } }

    /// Cancels: the flag first, then every registered handler (quick, thread-safe calls only; a
    /// handler must not call back into the token). Later calls call the handlers registered then.
    public func cancel(reason: String = "interrupted") {
        lock.withLock {
            if !cancelled { self.reason = reason }
            cancelled = true
        }
        handlerLock.withLock { handlers.values.forEach { $0() } }
    }

    /// Registers `handler` for `cancel`; nil (and not registered) when already cancelled.
    public func register(_ handler: @escaping @Sendable () -> Void) -> Int? {
        handlerLock.withLock {
            guard !isCancelled else { return nil }
            nextID += 1
            handlers[nextID] = handler
            return nextID
        }
    }

    public func unregister(_ id: Int) { _ = handlerLock.withLock { handlers.removeValue(forKey: id) } }

    /// Throws `Interrupted` when cancelled.
    public func check() throws {
        if isCancelled { throw FerryError(.interrupted, "the run was \(why): the step stopped") }
    }

    /// Runs `body` with `onCancel` registered: called at once if the token is already cancelled
    /// (and `body` is not run: `Interrupted` is thrown), or from `cancel` while `body` runs.
    public func whileRunning<T>(onCancel: @escaping @Sendable () -> Void, _ body: () throws -> T) throws -> T {
        guard let id = register(onCancel) else { throw FerryError(.interrupted, "the run was \(why): the step stopped") }
        defer { unregister(id) }
        do {
            return try body()
        } catch {
            // The call failed because it was broken off: say so, not "socket closed".
            if isCancelled, !((error as? FerryError)?.code == .interrupted) {
                throw FerryError(.interrupted, "the run was \(why): the step stopped (\((error as? FerryError)?.diagnostics.first?.message ?? "\(error)"))")
            }
            throw error
        }
    }
}
