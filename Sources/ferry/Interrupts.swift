import FerryCore
import Foundation

/// SIGINT and SIGTERM (SPEC §6, "Interrupting a run"). Both are blocked in every thread from the
/// start of `main` (threads inherit the mask), and one thread takes them with `sigwait`: no code
/// runs in a signal handler, so what is done on a signal (print, cancel a token, exit) is ordinary
/// Swift on an ordinary thread.
///
/// - Outside a run (planning, the confirmation question): nothing has changed; ferry ends as the
///   signal would have ended it (exit 130 for SIGINT, 143 for SIGTERM).
/// - During apply or backup (`.applying`): the first signal cancels the run's token (the Applier
///   starts no more steps, the engines break off the running ones, the run rolls back, exit 3);
///   the second ends the run at once through its `RunMachine` (`interruptedAgain`: nothing more is
///   undone or journaled) with exit 4, leaving the journal for `ferry recover`; ferry ends
///   itself after `stopGrace` if the run is inside a call that does not come back.
/// - During `ferry rollback` and `ferry recover` (`.finishing`): their steps are renames and
///   drops that undo a run; stopping between them would leave a mix, so the first signal only
///   says so and they finish; the second ends ferry at once with exit 4 (the journal tells
///   `ferry recover` where to go on).
final class Interrupts: @unchecked Sendable {
    enum Mode: Sendable {
        case applying
        case finishing(String)
    }

    static let shared = Interrupts()

    /// Seconds a second signal waits for the run's own end (through its `RunMachine`) before
    /// ending ferry itself.
    static let stopGrace = 2.0

    // Safe: every mutable field is read and written under `lock`.
    private let lock = NSLock()
    private var current: (mode: Mode, token: CancellationToken)?
    private var received = 0
    /// A signal after the run's outcome became final was answered with a note.
    private var notedAfterEnd = false
    /// Called with the signal when one ends ferry outside a run (`apply --format json` writes
    /// its outcome line: a stream always ends with one).
    private var exitNotice: (@Sendable (Int32) -> Void)?

    /// Sets (or, with nil, clears) what is done before a signal ends ferry outside a run.
    func onExitOutsideRun(_ notice: (@Sendable (Int32) -> Void)?) {
        lock.withLock { exitNotice = notice }
    }

    /// Blocks SIGINT and SIGTERM in the calling thread (call it first in `main`, before any
    /// thread exists) and starts the thread that waits for them.
    func install() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let thread = Thread { [self] in
            var waited = sigset_t()
            sigemptyset(&waited)
            sigaddset(&waited, SIGINT)
            sigaddset(&waited, SIGTERM)
            while true {
                var signal: Int32 = 0
                guard sigwait(&waited, &signal) == 0 else { continue }
                handle(signal)
            }
        }
        thread.name = "ferry-signals"
        thread.start()
    }

    /// Runs `body` as a run of kind `mode` whose cancellation is `token`.
    func during<T>(_ mode: Mode, _ token: CancellationToken, _ body: () throws -> T) rethrows -> T {
        lock.withLock {
            current = (mode, token)
            received = 0
            notedAfterEnd = false
        }
        // A run whose outcome is final stays the signals' context until ferry ends: a signal
        // while its outcome is printed is a note, not "nothing changed" with exit 130.
        defer { lock.withLock { if current?.token.hasEnded != true { current = nil } } }
        return try body()
    }

    static func leftForRecoverNote(_ name: String) -> String {
        "\nInterrupted again (\(name)): stopping now, without rolling back."
            + " The run's journal is left for `ferry recover`, which every command that changes an instance now asks for.\n"
    }

    /// When the last SIGTERM came (`ProcessInfo.systemUptime`), for `sameSignalSeconds`.
    private var lastTerm: TimeInterval?

    /// A SIGTERM within this many seconds of the one before is the same request, not a second
    /// one: GNU `timeout` (without `--foreground`) sends its signal to the command and then to
    /// its whole process group, so ferry got two at once and stopped without rolling back
    /// (fresh tester round 61, 7). A second Ctrl-C (SIGINT) always counts.
    static let sameSignalSeconds: TimeInterval = 0.5

    private func handle(_ signal: Int32) {
        let name = signal == SIGINT ? "SIGINT" : "SIGTERM"
        if signal == SIGTERM {
            let now = ProcessInfo.processInfo.systemUptime
            let repeated: Bool = lock.withLock {
                defer { lastTerm = now }
                return lastTerm.map { now - $0 < Self.sameSignalSeconds } ?? false
            }
            if repeated { return }
        }
        let (run, count, notice, noted): ((mode: Mode, token: CancellationToken)?, Int, (@Sendable (Int32) -> Void)?, Bool) = lock.withLock {
            received += 1
            let noted = notedAfterEnd
            if current?.token.hasEnded == true { notedAfterEnd = true }
            return (current, received, exitNotice, noted)
        }
        // What to do is `RunMachine`'s decision (SPEC §6, with its exit codes); this only acts on it.
        let context: RunMachine.SignalContext = switch run?.mode {
        case nil: .outsideRun
        case .applying where run?.token.hasEnded == true: .applyingEnded(noted: noted)
        // Cancelled before any signal: the run stops for its own reason (its state lock was lost).
        case .applying where count == 1 && run?.token.isCancelled == true: .applyingStopped
        case .applying: .applying(pastCommitPoint: run?.token.isPastCommitPoint == true)
        case .finishing: .finishing
        }
        switch RunMachine.onSignal(signal, count: count, in: context) {
        case .endOutsideRun(let code):
            if case .applyingEnded = context {
                // The run's outcome is final and recorded: no "nothing was changed" outcome line.
                StandardStream.error.write("\nInterrupted again (\(name)): ferry ends without telling the run's outcome; `ferry runs` and `ferry status` show it.\n")
                _exit(code)
            }
            // No run: nothing changed.
            StandardStream.error.write("\n")
            notice?(signal)
            _exit(code)
        case .finishCommitted:
            // After the commit point nothing is rolled back (SPEC §6): the run finishes.
            StandardStream.error.write("\nInterrupted (\(name)): the run has already committed; it finishes its clean-up, nothing is rolled back."
                                       + " Press Ctrl-C again to stop at once and leave the clean-up for `ferry recover`.\n")
            run?.token.cancel(reason: "interrupted (\(name))")
        case .cancelAndRollBack:
            StandardStream.error.write("\nInterrupted (\(name)): starting no more steps, stopping the running ones and rolling back."
                                       + " Press Ctrl-C again to stop at once and leave the run for `ferry recover`.\n")
            run?.token.cancel(reason: "interrupted (\(name))")
        case .goOnToEnd:
            if case .finishing(let what) = run?.mode {
                StandardStream.error.write("\nInterrupted (\(name)): the \(what) goes on to its end (stopping half-way would leave a mix)."
                                           + " Press Ctrl-C again to stop at once and leave it for `ferry recover`.\n")
            }
            run?.token.cancel(reason: "interrupted (\(name))")
        case .noteOnly:
            let why = run?.token.hasEnded == true ? "the run has ended; its outcome follows"
                : "the run is already stopping (\(run?.token.why ?? "stopped")); it ends as that says"
            StandardStream.error.write("\nInterrupted\(count > 1 ? " again" : "") (\(name)): \(why).\n")
        case .leaveForRecover(let code):
            if case .applying = run?.mode, let token = run?.token {
                // The run's machine ends it (`interruptedAgain`): its journal takes no more
                // records from now on, and apply returns exit 4 as soon as its driver is between
                // two actions or two undo steps. A driver inside a call that does not come back
                // within `stopGrace` (an undo on an instance that stopped answering) is not
                // waited for: ferry ends here, with the journal as the signal found it.
                // A run whose outcome became final first is not abandoned: it tells its outcome.
                guard token.abandon(reason: "interrupted again (\(name))") else {
                    StandardStream.error.write("\nInterrupted again (\(name)): the run has ended; its outcome follows.\n")
                    return
                }
                StandardStream.error.write(Self.leftForRecoverNote(name))
                Thread.sleep(forTimeInterval: Self.stopGrace)
            } else if case .finishing(let what) = run?.mode {
                // A rollback or recover stops between its undo steps: "without rolling back"
                // would be false (fresh tester W8-5); `ferry recover` finishes it.
                StandardStream.error.write("\nInterrupted again (\(name)): stopping the \(what) now, between two of its steps."
                                           + " Its journal is left for `ferry recover`, which finishes it.\n")
            } else {
                StandardStream.error.write(Self.leftForRecoverNote(name))
            }
            _exit(code)
        }
    }
}
