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

    /// An engine's notes journaled inside a swap or its undo (`swapNoted`, round 14 A1) come back
    /// with that swap's record, in order, whichever record of the swap the undo takes; another
    /// swap's, or another instance's, do not.
    @Test func swapNotesComeBackWithTheirSwap() {
        let replay = RunReplay(records: records([
            JournalRecord(event: .begin),
            JournalRecord(event: .swapBegun, step: 3, address: "import.seed", instance: "a", database: "app", swap: swap),
            JournalRecord(event: .swapNoted, step: 3, instance: "a", database: "app", shadow: ".app.shadow", message: "n1"),
            JournalRecord(event: .swapNoted, step: 3, instance: "b", database: "app", shadow: ".app.shadow", message: "other instance"),
            JournalRecord(event: .swapNoted, step: 3, instance: "a", database: "x", shadow: ".x.shadow", message: "other swap"),
            JournalRecord(event: .swapDone, step: 3, address: "import.seed", instance: "a", database: "app", swap: swap),
            JournalRecord(event: .swapNoted, instance: "a", database: "app", shadow: ".app.shadow", message: "n2"),
        ]))
        let notes = replay.pendingUndo.compactMap { item -> [String]? in
            if case .undoSwap(_, _, let record) = item { return record.notes } else { return nil }
        }
        #expect(notes == [["n1", "n2"]])
        #expect(replay.swapNotes(instance: "a", shadow: ".app.shadow", step: 3) == ["n1"])
        #expect(RunReplay(records: records([JournalRecord(event: .begin)])).swapNotes(instance: "a", shadow: ".app.shadow") == nil)
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

/// Intents journaled before their change (issue 14 §2, issue 15 §3, §4).
@Suite struct JournalIntentReplayTests {
    func numbered(_ events: [JournalRecord]) -> [JournalRecord] {
        events.enumerated().map { index, record in
            var r = record
            r.seq = index + 1
            return r
        }
    }

    var run: [JournalRecord] {
        numbered([
            JournalRecord(event: .begin),
            JournalRecord(event: .shadowPlanned, step: 1, address: "import.a", instance: "s", database: "app", shadow: ".app.shadow"),
            JournalRecord(event: .shadowCreated, step: 1, address: "import.a", instance: "s", database: "app", shadow: ".app.shadow"),
            JournalRecord(event: .shadowPlanned, step: 2, address: "copy.r", instance: "r", database: "5"),
            JournalRecord(event: .shadowCreated, step: 2, address: "copy.r", instance: "r", database: "5", shadow: "14"),
            JournalRecord(event: .usersPlanned, step: 3, address: "copy.m", instance: "m", undo: "{\"created\":[]}"),
            JournalRecord(event: .usersSynced, step: 3, address: "copy.m", instance: "m", undo: "{\"created\":[]}"),
        ])
    }

    func kinds(_ items: [RunReplay.UndoItem]) -> [String] {
        items.map { item in
            switch item {
            case .dropShadow(_, _, let shadow): "drop \(shadow)"
            case .dropLeftoverShadows(_, let instance, let database): "leftovers \(instance)/\(database)"
            case .undoUsers(_, let instance, _): "users \(instance)"
            case .undoSwap: "swap"
            case .removeBackup: "backup"
            }
        }
    }

    @Test func anIntentIsUndoneUntilItsDoneRecordSupersedesIt() {
        let expected: [Int: [String]] = [
            1: [],
            2: ["drop .app.shadow"],
            3: ["drop .app.shadow"],
            4: ["leftovers r/5", "drop .app.shadow"],
            5: ["drop 14", "drop .app.shadow"],
            6: ["users m", "drop 14", "drop .app.shadow"],
            7: ["users m", "drop 14", "drop .app.shadow"],
        ]
        for cut in 1...run.count {
            let undo = RunReplay(records: Array(run.prefix(cut))).pendingUndo
            #expect(kinds(undo) == expected[cut], "cut after record \(cut)")
        }
    }

    @Test func anUndoneIntentIsNotUndoneAgain() {
        var records = Array(run.prefix(4))
        records.append(JournalRecord(seq: 5, event: .undone, undoes: 4))
        #expect(kinds(RunReplay(records: records).pendingUndo) == ["drop .app.shadow"])
    }

    @Test func prunesArePendingUntilPruned() {
        let records = numbered([
            JournalRecord(event: .begin),
            JournalRecord(event: .pruneBegun, directory: "/b/1"),
            JournalRecord(event: .pruneBegun, directory: "/b/2"),
            JournalRecord(event: .committing),
            JournalRecord(event: .committed),
            JournalRecord(event: .pruned, directory: "/b/1", undoes: 2),
        ])
        let replay = RunReplay(records: records)
        #expect(replay.pendingPrunes.map(\.directory) == ["/b/2"])
        // Committed without `cleaned`: not finished, so `ferry recover` takes it.
        #expect(!replay.isFinished)
        var pending = records
        pending.append(JournalRecord(seq: 7, event: .cleanupPending, message: "remove /b/2"))
        #expect(!RunReplay(records: pending).isFinished)
        pending.append(JournalRecord(seq: 8, event: .cleaned))
        #expect(RunReplay(records: pending).isFinished)
    }

    @Test func aRollbackRunSaysItsKindAndTarget() {
        let begin = RunBegin(runID: "R2", lockID: "L", instances: [:], claims: [], graph: ActionGraph(actions: []), changes: [],
                             previousRecords: [:], stateSerial: 3, kind: .rollback, reverts: "R1")
        let replay = RunReplay(records: [JournalRecord(seq: 1, event: .begin, begin: begin)])
        #expect(replay.kind == .rollback && replay.begin?.reverts == "R1")
        #expect(!replay.isFinished)
        #expect(RunReplay(records: []).kind == .apply)
    }

    @Test func checkpointsBeingDroppedAreNotKeptAndStayPendingUntilDropped() {
        let swap = SwapRecord(database: "app", shadow: ".s", checkpoint: ".c", targetExisted: true)
        var records = numbered([
            JournalRecord(event: .begin),
            JournalRecord(event: .swapDone, step: 1, instance: "a", database: "app", swap: swap),
            JournalRecord(event: .committing),
            JournalRecord(event: .committed),
            JournalRecord(event: .cleaned),
        ])
        #expect(RunReplay(records: records).keptCheckpoints.count == 1)
        records.append(JournalRecord(seq: 6, event: .checkpointsDropping))
        let dropping = RunReplay(records: records)
        #expect(dropping.keptCheckpoints.isEmpty, "no rollback may use a checkpoint that is being dropped")
        #expect(dropping.hasPendingCheckpointDrop && dropping.pendingCheckpointDrops.map(\.record.checkpoint) == [".c"])
        records.append(JournalRecord(seq: 7, event: .checkpointsDropped))
        #expect(!RunReplay(records: records).hasPendingCheckpointDrop)
    }

    @Test func aCorrectedUserSyncIntentSupersedesTheFirst() {
        let records = numbered([
            JournalRecord(event: .begin),
            JournalRecord(event: .usersPlanned, step: 4, instance: "m", undo: "first"),
            JournalRecord(event: .usersPlanned, step: 4, instance: "m", undo: "corrected"),
        ])
        let undo = RunReplay(records: records).pendingUndo
        #expect(undo.count == 1)
        if case .undoUsers(_, _, let text) = undo.first { #expect(text == "corrected") } else { Issue.record("\(undo)") }
    }
}
