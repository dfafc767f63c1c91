import Foundation

/// A test hook: `FERRY_TEST_KILL_AT` names a moment at which the process sends itself `SIGKILL`,
/// so that the fault tests (DESIGN.md, layer 4) can kill a run at every journal record and
/// between every change and its record, deterministically, instead of by timing.
///
/// The value is a comma-separated list of points, each `NAME` or `NAME#N` (the N-th time the
/// point is reached in this process, 1-based; without `#N` the first). Points:
/// - `before-record#N` / `after-record#N`: around the N-th journal append of the process, of any
///   journal (the record is, respectively, not yet written / written and fsync'd);
/// - `before-EVENT` / `after-EVENT` (`after-shadowCreated#2`): around an append of that event;
/// - named moments inside a change, `change:NAME` (`change:users.created`,
///   `change:prune.manifestRemoved`, `change:revert.undone`...), listed where they are checked.
///
/// `FERRY_TEST_STOP_AT` takes the same points and stops the process there (`SIGSTOP`) instead,
/// so that a test can change the world at that moment (kill a server) and let it go on (`SIGCONT`).
///
/// Unset (the release case) it costs one dictionary look-up per check. It is not a user feature:
/// SPEC.md does not list it.
public enum KillPoint {
    private static let points: [String: Int]? = parse("FERRY_TEST_KILL_AT")
    private static let stops: [String: Int]? = parse("FERRY_TEST_STOP_AT")

    private static func parse(_ variable: String) -> [String: Int]? {
        guard let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty else { return nil }
        var points: [String: Int] = [:]
        for part in value.split(separator: ",") {
            let pieces = part.split(separator: "#", maxSplits: 1)
            let name = String(pieces[0]).trimmingCharacters(in: .whitespaces)
            points[name] = pieces.count > 1 ? Int(pieces[1]) ?? 1 : 1
        }
        return points
    }

    nonisolated(unsafe) private static var counts: [String: Int] = [:]
    private static let lock = NSLock()

    /// Kills the process (SIGKILL, no clean-up of any kind) when `name` is a requested point and this
    /// is the requested occurrence.
    public static func check(_ name: String) {
        guard points?[name] != nil || stops?[name] != nil else { return }
        let count: Int = lock.withLock {
            counts[name, default: 0] += 1
            return counts[name]!
        }
        if points?[name] == count {
            kill(getpid(), SIGKILL)
            _exit(137)
        }
        // Sent to this thread, not the process: a process-directed SIGSTOP may be taken by
        // another thread, and the one at the point then runs on until its next system call
        // (it had sent a swap's renames to the server while the test saw the process stopped,
        // and a test waiting on them never ended). Taken by the caller, it stops here.
        if stops?[name] == count { pthread_kill(pthread_self(), SIGSTOP) }
    }

    /// True when any kill or stop point is requested (journal appends then check theirs).
    static var isActive: Bool { points != nil || stops != nil }
}
