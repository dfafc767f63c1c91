import Foundation

/// The local backend's runs, under `.ferry/runs/` (see `LocalStateBackend` for the layout).
public struct RunStore: RunJournalStore {
    public let store: StateStore

    public init(store: StateStore) { self.store = store }

    public func directory(of runID: String) -> String { "\(store.runsDirectory)/\(runID)" }
    public func journalPath(of runID: String) -> String { directory(of: runID) + "/journal.jsonl" }
    public func summaryPath(of runID: String) -> String { directory(of: runID) + "/summary.json" }
    public func progressPath(of runID: String) -> String { directory(of: runID) + "/progress.json" }
    func settledPath(of runID: String) -> String { directory(of: runID) + "/settled" }

    private var backend: LocalStateBackend { LocalStateBackend(store: store) }

    /// True when the run is known to be finished and to keep no checkpoints. Both only ever stay
    /// true (what is appended to such a journal later, `reverted` or `checkpointsDropped`, changes
    /// neither), so the empty marker file lets the checks that run on every apply skip the run's
    /// journal: without it they read every journal of the state's history, each time.
    public func isSettled(_ runID: String) -> Bool { FileManager.default.fileExists(atPath: settledPath(of: runID)) }

    /// The marker's text since runs are settled only once nothing they left for the user is
    /// there (`isSettledForKeptTargets`); earlier releases left the file empty.
    static let keptAwareMarker = Data("kept-aware\n".utf8)

    public func markSettled(_ runID: String) {
        _ = FileManager.default.createFile(atPath: settledPath(of: runID), contents: Self.keptAwareMarker, attributes: [.posixPermissions: 0o600])
    }

    public func isSettledForKeptTargets(_ runID: String) -> Bool {
        FileManager.default.contents(atPath: settledPath(of: runID)) == Self.keptAwareMarker
    }

    /// Writes the marker anew: an earlier release's empty one becomes `kept-aware`.
    public func markSettledForKeptTargets(_ runID: String) { markSettled(runID) }

    /// Leaves the marker when the replay shows the run settled. A lost marker only costs a re-read.
    public func markIfSettled(_ runID: String, _ replay: RunReplay) { backend.markIfSettled(runID, replay) }

    /// Run ids, newest first (ids sort by time).
    public func runIDs() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: store.runsDirectory)) ?? []
        return names.filter { FileManager.default.fileExists(atPath: journalPath(of: $0)) }.sorted(by: >)
    }

    public func records(of runID: String) throws -> [JournalRecord] {
        guard FileManager.default.fileExists(atPath: journalPath(of: runID)) else {
            throw FerryError(.invalidParameter, "no run \(runID) in \(store.runsDirectory)", hint: "`ferry runs` lists them")
        }
        return try JournalReader.read(path: journalPath(of: runID))
    }

    public func replay(_ runID: String) throws -> RunReplay { RunReplay(records: try records(of: runID)) }

    public func createJournal(for runID: String) throws -> any RunJournal {
        try DurableFile.makeDirectory(directory(of: runID))
        return try JournalWriter(path: journalPath(of: runID))
    }

    public func openJournal(for runID: String) throws -> any RunJournal {
        try JournalWriter(path: journalPath(of: runID))
    }

    public func removeRun(_ runID: String) throws {
        try FileManager.default.removeItem(atPath: directory(of: runID))
    }

    public func summary(of runID: String) -> RunSummary? {
        guard let data = FileManager.default.contents(atPath: summaryPath(of: runID)) else { return nil }
        return try? JSONDecoder.ferry.decode(RunSummary.self, from: data)
    }

    public func writeSummary(_ summary: RunSummary) throws {
        try DurableFile.writeAtomically(try JSONEncoder.ferry.encode(summary), to: summaryPath(of: summary.runID))
    }

    public func writeProgress(_ progress: [String: [String: Int64]], of runID: String) {
        if let data = try? JSONEncoder.ferry.encode(progress) {
            try? DurableFile.writeAtomically(data, to: progressPath(of: runID))
        }
    }

    public func progress(of runID: String) -> [String: [String: Int64]] {
        guard let data = FileManager.default.contents(atPath: progressPath(of: runID)) else { return [:] }
        return (try? JSONDecoder().decode([String: [String: Int64]].self, from: data)) ?? [:]
    }

    public func clearProgress(of runID: String) {
        try? FileManager.default.removeItem(atPath: progressPath(of: runID))
    }

    /// Runs whose journal has no end and whose process is gone: they need `ferry recover`.
    public func interruptedRuns() -> [String] { backend.interruptedRuns() }

    /// Run directories whose journal holds no begin record (see `StateBackend.unstartedRuns`).
    public func unstartedRuns() -> [String] { backend.unstartedRuns() }

    /// Throws `RunInterrupted` when a run needs recovery (SPEC §6).
    public func ensureNoInterruptedRun() throws { try backend.ensureNoInterruptedRun() }

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

/// A run's summary (`runs/RUN/summary.json` locally): what `ferry runs` lists.
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
    /// The run's wall time (seconds, to the millisecond): the file's dates keep whole seconds
    /// only (ISO 8601), and `ferry runs` printed "0.0s" for a 0.6 s run (fresh tester round 59,
    /// 8). Absent in summaries of earlier releases (then the dates tell, to the second).
    public var seconds: Double?

    public init(runID: String, startedAt: Date, finishedAt: Date, outcome: RunReplay.Outcome, resources: [String],
                bytes: Int64, rows: Int64, checkpointsKept: Int, failures: [String]) {
        self.seconds = (finishedAt.timeIntervalSince(startedAt) * 1000).rounded() / 1000
        self.runID = runID
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.outcome = outcome
        self.resources = resources
        self.bytes = bytes
        self.rows = rows
        self.checkpointsKept = checkpointsKept
        self.failures = failures
    }

    public var duration: Double { seconds ?? finishedAt.timeIntervalSince(startedAt) }
}
