import Foundation
import Testing
@testable import FerryCore

/// Journal replay decides what a rollback undoes; these cover every point at which a run can stop.
@Suite struct JournalReplayTests {
    let swap = SwapRecord(database: "app", shadow: ".app.shadow", checkpoint: ".app.ckpt", targetExisted: true)

    func records(_ events: [JournalRecord]) -> [JournalRecord] {
        events.enumerated().map { index, record in
            var r = record
            r.seq = index + 1
            return r
        }
    }

    var fullRun: [JournalRecord] {
        records([
            JournalRecord(event: .begin),
            JournalRecord(event: .stepStarted, step: 1),
            JournalRecord(event: .shadowCreated, step: 1, address: "import.seed", instance: "a", database: "app", shadow: ".app.shadow"),
            JournalRecord(event: .stepDone, step: 1),
            JournalRecord(event: .swapBegun, step: 3, address: "import.seed", instance: "a", database: "app", swap: swap),
            JournalRecord(event: .swapDone, step: 3, address: "import.seed", instance: "a", database: "app", swap: swap),
            JournalRecord(event: .usersSynced, step: 4, address: "copy.c", instance: "b", undo: "{\"users\":[\"u\"]}"),
            JournalRecord(event: .backupStarted, step: 5, address: "backup.n", directory: "/tmp/sets/x"),
        ])
    }

    @Test func stopAfterEveryRecordUndoesExactlyWhatIsInPlace() {
        let all = fullRun
        for cut in 0...all.count {
            let replay = RunReplay(records: Array(all.prefix(cut)))
            let undo = replay.pendingUndo
            let hasShadow = cut >= 3, hasSwap = cut >= 5, hasUsers = cut >= 7, hasBackup = cut >= 8
            #expect(undo.contains { if case .dropShadow = $0 { true } else { false } } == hasShadow, "cut \(cut)")
            #expect(undo.contains { if case .undoSwap = $0 { true } else { false } } == hasSwap, "cut \(cut)")
            #expect(undo.contains { if case .undoUsers = $0 { true } else { false } } == hasUsers, "cut \(cut)")
            #expect(undo.contains { if case .removeBackup = $0 { true } else { false } } == hasBackup, "cut \(cut)")
            // Newest first.
            #expect(undo.map(\.seq) == undo.map(\.seq).sorted(by: >))
            // One undo per swap, whether it stopped after swapBegun or after swapDone.
            #expect(undo.filter { if case .undoSwap = $0 { true } else { false } }.count == (hasSwap ? 1 : 0))
        }
    }

    @Test func undoneRecordsAreNotUndoneTwice() {
        var all = fullRun
        all += records([JournalRecord(event: .undone, undoes: 8), JournalRecord(event: .undone, undoes: 7),
                        JournalRecord(event: .undone, undoes: 6)]).enumerated().map { i, r in var x = r; x.seq = all.count + i + 1; return x }
        let undo = RunReplay(records: all).pendingUndo
        #expect(undo.map(\.seq) == [3])
    }

    @Test func outcomeFollowsTerminalRecords() {
        #expect(RunReplay(records: fullRun).outcome == .running)
        #expect(!RunReplay(records: fullRun).isFinished)
        let rolledBack = fullRun + [JournalRecord(seq: 99, event: .rolledBack, message: "complete")]
        #expect(RunReplay(records: rolledBack).outcome == .rolledBack)
        let incomplete = fullRun + [JournalRecord(seq: 99, event: .rolledBack, message: "incomplete")]
        #expect(RunReplay(records: incomplete).outcome == .rollbackIncomplete)
        #expect(!RunReplay(records: incomplete).isFinished, "an incomplete rollback still needs `ferry recover`")
        let retried = incomplete + [JournalRecord(seq: 100, event: .rolledBack, message: "complete")]
        #expect(RunReplay(records: retried).outcome == .rolledBack && RunReplay(records: retried).isFinished)
        let committed = fullRun + [JournalRecord(seq: 98, event: .committing), JournalRecord(seq: 99, event: .committed)]
        #expect(RunReplay(records: committed).outcome == .committed)
        #expect(!RunReplay(records: committed).isFinished)
        #expect(RunReplay(records: committed + [JournalRecord(seq: 100, event: .cleaned)]).isFinished)
        #expect(RunReplay(records: committed).keptCheckpoints.count == 1)
    }

    @Test func journalSurvivesATornLastLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-journal-\(UUID().uuidString)").path
        try DurableFile.makeDirectory(dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/journal.jsonl"
        let writer = try JournalWriter(path: path)
        try writer.append(JournalRecord(event: .begin))
        try writer.append(JournalRecord(event: .shadowCreated, instance: "a", shadow: "s"))
        let handle = FileHandle(forWritingAtPath: path)!
        handle.seekToEndOfFile()
        handle.write(Data("{\"event\":\"swapBeg".utf8))
        handle.closeFile()
        let read = try JournalReader.read(path: path)
        #expect(read.map(\.event) == [.begin, .shadowCreated])
        #expect(read.map(\.seq) == [1, 2])
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    }
}
