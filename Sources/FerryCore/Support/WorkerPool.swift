import Foundation
import Synchronization

/// The process's blocking worker threads: every engine (and the refresh) runs its parallel work
/// here instead of starting threads of its own.
///
/// Engine work is blocking C calls (sqlite3, libmariadb, libpq) and blocking sockets, so it runs
/// on threads, not on the cooperative task pool (docs/ARCHITECTURE.md, "Workers are threads").
/// The pool holds at most `threadLimit` threads; they are made on demand, parked when idle, and
/// leave after `idleTimeout` seconds without work. Jobs beyond the limit wait in a FIFO queue.
///
/// Two shapes of work:
/// - `forEach(_:width:cancellation:_:)` / `map(_:width:cancellation:_:)`: a batch of `count`
///   independent jobs, at most `width` at once, and the caller waits for all. The caller's own
///   thread runs jobs of its batch too, so a batch always progresses even when every pool thread
///   is busy (a batch started from a pool thread cannot deadlock the pool): with no free thread
///   its jobs simply run one after another on the caller. Jobs of one batch must therefore not
///   wait for each other to *start* (a job may wait for work another job has already taken).
/// - `start(_:whenFinished:)`: one job beside the caller, joined with `Pending.wait()`, which
///   runs the job on the waiting thread if no pool thread has taken it yet (so waiting never
///   depends on a free thread either). `whenFinished` tells a driver that waits for "any step"
///   which one ended.
///
/// The first error of a batch (by time) is kept and thrown once every running job has ended;
/// jobs not yet started then do not start. The pattern follows `DispatchQueue.concurrentPerform`
/// (the caller works too) on a bounded set of threads shared by the whole process.
public final class WorkerPool: Sendable {
    /// The pool every engine and the Applier's steps use: 64 threads for the engines' batches
    /// (a run's steps times their connections) beside the default number of parallel steps
    /// (`ApplyOptions.defaultParallelism`), so that on many cores the steps never take the
    /// threads their own batches need; each thread is parked, not spinning, while idle.
    public static let shared = WorkerPool(threadLimit: 64 + ApplyOptions.defaultParallelism)

    /// At most this many threads exist at once (the callers' own threads not counted).
    public let threadLimit: Int
    /// Bytes of stack of each pool thread (8 MiB, glibc's usual default, at least the 4 MiB the
    /// Applier gave its step threads before they ran here).
    static let stackSize = 8 << 20

    /// Seconds an idle thread waits for work before it leaves.
    public let idleTimeout: Double

    private struct State {
        var queue: [@Sendable () -> Void] = []
        var head = 0
        var threads = 0
        var idle = 0
        var peakThreads = 0
    }

    private let state = Mutex(State())
    /// One signal per parked thread claimed by a submit (`State.idle` is decremented for it).
    private let wake = DispatchSemaphore(value: 0)

    /// `threadLimit` at least 1.
    public init(threadLimit: Int, idleTimeout: Double = 10) {
        self.threadLimit = max(1, threadLimit)
        self.idleTimeout = idleTimeout
    }

    /// Threads the pool holds now (busy or parked).
    public var threadCount: Int { state.withLock { $0.threads } }

    /// The most threads the pool held at once since it was made.
    public var peakThreadCount: Int { state.withLock { $0.peakThreads } }

    // MARK: Batches

    /// Runs `body(0)`, ..., `body(count - 1)`, at most `width` at once (default: `count`), the
    /// calling thread included, and returns when every job that started has ended.
    ///
    /// Jobs start in index order. After the first error no further job starts, and that error is
    /// thrown once the running ones end. With `cancellation`, a cancelled token starts no further
    /// job and `FerryError(.interrupted)` is thrown (unless a job's error came first); the jobs
    /// that run are stopped by their own means (`CancellationToken.whileRunning`).
    public func forEach(_ count: Int, width: Int? = nil, cancellation: CancellationToken? = nil,
                        _ body: @escaping @Sendable (Int) throws -> Void) throws {
        guard count > 0 else { return }
        let runners = max(1, min(width ?? count, count))
        let batch = Batch(count: count, cancellation: cancellation, body: body)
        for _ in 1..<runners { submit { batch.work() } }
        batch.work()
        try batch.waitForRunning()
    }

    /// `forEach`, keeping each job's value: the results in index order.
    public func map<T: Sendable>(_ count: Int, width: Int? = nil, cancellation: CancellationToken? = nil,
                                 _ body: @escaping @Sendable (Int) throws -> T) throws -> [T] {
        let results = Results<T>(count: count)
        try forEach(count, width: width, cancellation: cancellation) { index in
            let value = try body(index)
            results.values.withLock { $0[index] = value }
        }
        return results.values.withLock { $0.map { $0! } }
    }

    // MARK: Single jobs

    /// Starts `job` on a pool thread beside the caller; `Pending.wait()` joins it (and runs it on
    /// the waiting thread if no pool thread has taken it yet). `whenFinished` is called once the
    /// job has ended, on the thread that ran it, before `wait` returns.
    public func start<T: Sendable>(_ job: @escaping @Sendable () throws -> T,
                                   whenFinished: (@Sendable () -> Void)? = nil) -> Pending<T> {
        let pending = Pending(job, whenFinished: whenFinished)
        submit { pending.runIfNotTaken() }
        return pending
    }

    /// A job started with `start`: its result once it has ended.
    public final class Pending<T: Sendable>: Sendable {
        private enum Phase {
            case waiting(@Sendable () throws -> T)
            case running
            case ended(Result<T, any Error>)
        }
        private let phase: Mutex<Phase>
        private let whenFinished: (@Sendable () -> Void)?
        private let ended = DispatchSemaphore(value: 0)

        init(_ job: @escaping @Sendable () throws -> T, whenFinished: (@Sendable () -> Void)?) {
            phase = Mutex(.waiting(job))
            self.whenFinished = whenFinished
        }

        /// True once the job has ended.
        public var isFinished: Bool {
            phase.withLock { if case .ended = $0 { return true } else { return false } }
        }

        /// The job's value, or its error; waits while another thread runs it, runs it here when
        /// none has taken it. Can be called more than once (and from several threads).
        public func wait() throws -> T {
            runIfNotTaken()
            while true {
                if case .ended(let result) = phase.withLock({ $0 }) { return try result.get() }
                ended.wait()
                ended.signal()
            }
        }

        func runIfNotTaken() {
            let job: (@Sendable () throws -> T)? = phase.withLock { phase in
                guard case .waiting(let job) = phase else { return nil }
                phase = .running
                return job
            }
            guard let job else { return }
            let result = Result { try job() }
            phase.withLock { $0 = .ended(result) }
            whenFinished?()
            ended.signal()
        }
    }

    // MARK: Threads

    /// Queues `job` for a pool thread: wakes a parked one, or makes one while under the limit;
    /// else it waits for the first thread that is done with its job.
    public func submit(_ job: @escaping @Sendable () -> Void) {
        enum Next { case wake, spawn, queue }
        let next: Next = state.withLock { state in
            state.queue.append(job)
            if state.idle > 0 {
                state.idle -= 1
                return .wake
            }
            if state.threads < threadLimit {
                state.threads += 1
                state.peakThreads = max(state.peakThreads, state.threads)
                return .spawn
            }
            return .queue
        }
        switch next {
        case .wake: wake.signal()
        case .spawn:
            let thread = Thread { [self] in workLoop() }
            // The Applier's steps are pool jobs: they keep the 4 MiB stack their own threads had,
            // whatever the process's default (`ulimit -s unlimited` gives threads 2 MiB).
            thread.stackSize = Self.stackSize
            thread.start()
        case .queue: break
        }
    }

    private func workLoop() {
        while true {
            let job: (@Sendable () -> Void)? = state.withLock { state in
                guard state.head < state.queue.count else {
                    state.idle += 1
                    return nil
                }
                let job = state.queue[state.head]
                state.head += 1
                if state.head > 64 && state.head * 2 > state.queue.count {
                    state.queue.removeFirst(state.head)
                    state.head = 0
                }
                return job
            }
            if let job {
                job()
                continue
            }
            if wake.wait(timeout: .now() + idleTimeout) == .success { continue }
            // Timed out: leave, unless a submit claimed this parked thread meanwhile (then its
            // signal is on the way and is taken here, so that it wakes no one else by mistake).
            let leaves = state.withLock { state in
                guard state.idle > 0 else { return false }
                state.idle -= 1
                state.threads -= 1
                return true
            }
            if leaves { return }
            wake.wait()
        }
    }
}

/// The values of a `map`, one slot per job.
private final class Results<T: Sendable>: Sendable {
    let values: Mutex<[T?]>
    init(count: Int) { values = Mutex(Array(repeating: nil, count: count)) }
}

/// One `forEach` call: the next index to hand out, the jobs running, and the first error.
private final class Batch: Sendable {
    private struct State {
        var next = 0
        var running = 0
        var stopped = false
        var failure: (any Error)?
        var callerWaits = false
    }

    private let count: Int
    private let cancellation: CancellationToken?
    private let body: @Sendable (Int) throws -> Void
    private let state = Mutex(State())
    private let allEnded = DispatchSemaphore(value: 0)

    init(count: Int, cancellation: CancellationToken?, body: @escaping @Sendable (Int) throws -> Void) {
        self.count = count
        self.cancellation = cancellation
        self.body = body
    }

    /// Runs jobs until none is left to start (on a pool thread or the caller's).
    func work() {
        while true {
            var interrupted: (any Error)?
            do { try cancellation?.check() } catch { interrupted = error }
            let index: Int? = state.withLock { state in
                if let interrupted, !state.stopped {
                    state.stopped = true
                    if state.failure == nil { state.failure = interrupted }
                }
                guard !state.stopped, state.next < count else { return nil }
                state.next += 1
                state.running += 1
                return state.next - 1
            }
            guard let index else { return }
            var failure: (any Error)?
            do { try body(index) } catch { failure = error }
            let wakeCaller = state.withLock { state in
                if let failure, state.failure == nil {
                    state.failure = failure
                    state.stopped = true
                }
                state.running -= 1
                return state.running == 0 && state.callerWaits
            }
            if wakeCaller { allEnded.signal() }
        }
    }

    /// Called by the caller after its own `work()` returned (nothing is left to start): waits
    /// for the jobs still running elsewhere, then throws the first error.
    func waitForRunning() throws {
        let mustWait = state.withLock { state in
            guard state.running > 0 else { return false }
            state.callerWaits = true
            return true
        }
        if mustWait { allEnded.wait() }
        if let failure = state.withLock({ $0.failure }) { throw failure }
    }
}
