import Foundation

/// The runs under `.ferry/runs/`, newest first.
public struct RunStore: Sendable {
    public let store: StateStore

    public init(store: StateStore) { self.store = store }

    public func directory(of runID: String) -> String { "\(store.runsDirectory)/\(runID)" }
    public func journalPath(of runID: String) -> String { directory(of: runID) + "/journal.jsonl" }
    public func summaryPath(of runID: String) -> String { directory(of: runID) + "/summary.json" }
    public func progressPath(of runID: String) -> String { directory(of: runID) + "/progress.json" }
    func settledPath(of runID: String) -> String { directory(of: runID) + "/settled" }

    /// True when the run is known to be finished and to keep no checkpoints. Both only ever stay
    /// true (what is appended to such a journal later, `reverted` or `checkpointsDropped`, changes
    /// neither), so the empty marker file lets the checks that run on every apply skip the run's
    /// journal: without it they read every journal of the state's history, each time.
    public func isSettled(_ runID: String) -> Bool { FileManager.default.fileExists(atPath: settledPath(of: runID)) }

    /// Leaves the marker when the replay shows the run settled. A lost marker only costs a re-read.
    public func markIfSettled(_ runID: String, _ replay: RunReplay) {
        guard replay.hasBeginRecord, replay.isFinished, replay.keptCheckpoints.isEmpty, !replay.hasPendingCheckpointDrop, !isSettled(runID) else { return }
        _ = FileManager.default.createFile(atPath: settledPath(of: runID), contents: nil, attributes: [.posixPermissions: 0o600])
    }

    /// Run ids, newest first (ids sort by time).
    public func runIDs() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: store.runsDirectory)) ?? []
        return names.filter { FileManager.default.fileExists(atPath: journalPath(of: $0)) }.sorted(by: >)
    }

    public func replay(_ runID: String) throws -> RunReplay {
        guard FileManager.default.fileExists(atPath: journalPath(of: runID)) else {
            throw FerryError(.invalidParameter, "no run \(runID) in \(store.runsDirectory)", hint: "`ferry runs` lists them")
        }
        return RunReplay(records: try JournalReader.read(path: journalPath(of: runID)))
    }

    public func summary(of runID: String) -> RunSummary? {
        guard let data = FileManager.default.contents(atPath: summaryPath(of: runID)) else { return nil }
        return try? JSONDecoder.ferry.decode(RunSummary.self, from: data)
    }

    /// Runs whose journal has no end and whose process is gone: they need `ferry recover`.
    public func interruptedRuns() -> [String] {
        let lock = StateLock.read(store)
        return runIDs().filter { id in
            guard !isSettled(id), let replay = try? replay(id) else { return false }
            if replay.isFinished {
                markIfSettled(id, replay)
                return false
            }
            // A committed run only missing its cleanup is finished as far as instances go, but recover tidies it.
            guard let begin = replay.begin else { return false }
            if replay.outcome == .rollbackIncomplete { return true }
            if let lock, lock.id == begin.lockID, !lock.isHolderGone { return false }
            return true
        }
    }

    /// Run directories whose journal holds no begin record (empty, or one torn line): the run
    /// could not record its start, so it claimed and changed nothing. They are not runs: no
    /// command is refused for them, `ferry runs` shows them as `notStarted`, and `ferry recover`
    /// removes them. (A live run is between creating its journal and its begin record only under
    /// the state lock, which `ferry recover` holds.)
    public func unstartedRuns() -> [String] {
        runIDs().filter { id in !isSettled(id) && (try? replay(id))?.hasBeginRecord == false }
    }

    /// Throws `RunInterrupted` when a run needs recovery (SPEC §6).
    public func ensureNoInterruptedRun() throws {
        if let id = interruptedRuns().first {
            var replay = try? replay(id)
            // A run whose state write landed committed, even if the journal could not say so.
            if let found = replay, !found.isCommitted, found.hasCommitStarted, (try? store.load())?.lastRunID == id {
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
                             hint: incomplete ? "`ferry status \(id)` lists what is left; run `ferry recover` once the instances are reachable"
                                              : "run `ferry recover` to roll it back, then try again")
        }
    }

    /// A run id that sorts by start time (milliseconds; runs on one state are serialized by the lock).
    public static func makeRunID(now: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmssSSS'Z'"
        let suffix = String(UUID().uuidString.lowercased().prefix(6))
        return "\(formatter.string(from: now))-\(suffix)"
    }
}

/// `runs/RUN/summary.json`: what `ferry runs` lists.
public struct RunSummary: Codable, Sendable {
    public var runID: String
    public var startedAt: Date
    public var finishedAt: Date
    public var outcome: RunReplay.Outcome
    public var resources: [String]
    public var bytes: Int64
    public var rows: Int64
    public var checkpointsKept: Int
    public var failures: [String]

    public var duration: Double { finishedAt.timeIntervalSince(startedAt) }
}
