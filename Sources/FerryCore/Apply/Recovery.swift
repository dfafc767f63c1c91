import Foundation

/// Rolls runs back from their journals: after a failure inside `apply`, after a crash
/// (`ferry recover`), and for committed runs whose checkpoints are kept (`ferry rollback RUN`).
public struct Recovery: Sendable {
    /// Where the state and the runs' journals live.
    public let backend: any StateBackend
    public let engines: EngineRegistry
    public let reporter: ApplyReporter

    /// How many things the undo of a user sync left as they are (each reported in a note: an
    /// account or role someone gave grants since, or made again, a grant that could not be given
    /// back). Any: the run's summary never says "as they were" (fresh tester, issue 14 F3).
    public let usersLeft = LeftCounter()
    /// How many files at names of the run an engine left as they are because they are not
    /// provably the run's (`EngineSession.takeLeftNotes`, each reported in a note): any, and
    /// the summary never says "as they were" (round-11 F3).
    public let filesLeft = LeftCounter()
    /// How many servers a rollback found restarted since the run (another
    /// `EngineSession.serverIncarnation`, each said in a note): any, and the summary never says
    /// "as they were" (fresh tester round 38b, M3: a Redis server restarted empty).
    public let serversRestarted = LeftCounter()
    /// How many shadows an unforced `ferry rollback RUN` left for the user after its swap back
    /// because they hold writes Ferry did not make: writes an application made into the target
    /// between the rollback's check and its rename back, which went with the run's data into the
    /// shadow (fresh tester round 43, F2: exit 0 and "its targets hold what they held before").
    public let writesMovedOut = LeftCounter()
    /// How many targets a swap cut short before its rename had taken triggers off while rows
    /// may have been written into them (`EngineSession.triggersTakenOff`, each said in a note):
    /// any, and the summary never says "as they were" (fresh tester round 47, H3).
    public let triggersWereOff = LeftCounter()
    /// Of those, the targets whose words all say the rows only "may have been written" (a table
    /// updated in the very second the triggers came off: UPDATE_TIME counts whole seconds). A
    /// summary of such targets alone says so, never rows as found (fresh tester round 68, F2:
    /// "but not as before" after a load in the swap's second, with no row written then).
    public let triggersMaybeOff = LeftCounter()
    /// The words of such a note.
    public static let mayHaveBeenPhrase = "may have been written"

    /// Counts a target whose words `notes` say rows that fired none of its triggers.
    func countTriggersOff(_ notes: [String]) {
        guard !notes.isEmpty else { return }
        triggersWereOff.add(1)
        if notes.allSatisfy({ $0.contains(Self.mayHaveBeenPhrase) }) { triggersMaybeOff.add(1) }
    }

    /// Why rows are only "may have been written" (`mayHaveBeenPhrase`), as the summaries say it.
    public static let wholeSecondsClause = "in the second they came off, which UPDATE_TIME does not split"

    /// The summary's clause for `off` targets whose rows fired none of their triggers, `maybe`
    /// when every one of them only may have been written: ", but rows written into a target
    /// while its triggers were off (noted above) fired none of them"; `swap`: "while its swap had
    /// its triggers off" (a rollback of an interrupted apply).
    static func firedNoneClause(_ off: Int, maybe: Bool, swap: Bool = false) -> String {
        guard off > 0 else { return "" }
        let its = off == 1 ? "its" : "their"
        let target = "\(off == 1 ? "a target" : "\(off) targets") while \(its) " + (swap ? "swap had \(its) triggers off" : "triggers were off")
        return maybe ? ", but rows may have been written into \(target) (noted above: \(wholeSecondsClause)), and any such row \(firedNonePhrase)"
            : ", but rows written into \(target) (noted above) \(firedNonePhrase)"
    }

    /// Whether the undo-found `firedNone` records of `records` all say "may have been written".
    static func journaledOnlyMaybe(_ records: [JournalRecord]) -> Bool {
        records.filter(foundByAnUndo).allSatisfy { ($0.message ?? "").contains(mayHaveBeenPhrase) }
    }
    /// The words by which an engine says rows were written while a swap had the target's
    /// triggers off (in a step's failure, a note): a run whose journal holds them is never said
    /// to have left the instances "as they were".
    public static let firedNonePhrase = "fired none of them"
    /// The message of the `leftForUser` record of a shadow an unforced rollback kept because it
    /// holds writes made while that rollback ran (`ferry status` says so in those words, never
    /// in `--force`'s "over later writes": fresh tester round 44, F4).
    public static let writtenWhileRollingBackNote = "writes made while the rollback ran"
    /// The journal's note of a shadow a rollback kept because something of someone else's stood
    /// in the way of its drop (`inTheWayForNow`: a foreign key onto it), holding the run's data.
    public static let shadowInTheWayNote = "kept: something of someone else's stood in the way of its drop"

    /// `EngineSession.finishKeptUndo` (on `session`'s) of a target kept as it is (`--keep-later-writes`), in the
    /// words added to what is said of it: "; " and the engine's words, "; " and why its own
    /// objects could not all be made again, or "" where there was nothing to finish.
    static func finishingKeptUndo(_ record: SwapRecord, on session: () throws -> any EngineSession) -> String {
        do {
            return try session().finishKeptUndo(record).map { "; " + $0 } ?? ""
        } catch {
            return "; its own views, routines, triggers and events could not all be made again in it (\(FerryError.diagnostic(error).message)): their definitions stay saved in \(record.checkpoint ?? record.shadow)"
        }
    }

    /// Reports what `session`'s calls left at names of the run (`takeLeftNotes`), one note each.
    func reportLeft(_ session: any EngineSession) {
        let notes = session.takeLeftNotes()
        for note in notes { reporter.notice("\(session.target.instance.name): \(note)", style: .note) }
        filesLeft.add(notes.count)
    }

    public init(backend: any StateBackend, engines: EngineRegistry, reporter: ApplyReporter) {
        self.backend = backend
        self.engines = engines
        self.reporter = reporter
    }

    /// Recovery on the local state directory `store`.
    public init(store: StateStore, engines: EngineRegistry, reporter: ApplyReporter) {
        self.init(backend: LocalStateBackend(store: store), engines: engines, reporter: reporter)
    }

    var runs: any RunJournalStore { backend.journals }

    /// What `ferry recover` does with a target whose run's claims were released since the run
    /// stopped (`ferry unlock --claims` from another working copy), so that another run may have
    /// swapped or written it since (round-14 A3): hold it (nothing changed there, the run stays
    /// pending), keep it as it is and end the run (`--keep-later-writes`), or restore its
    /// checkpoint over it anyway (`--discard-later-writes`).
    public enum LaterRunsChoice: Sendable { case hold, keep, discard }

    /// How a rollback ended: the undo steps that failed (empty: the instances are as before the
    /// run, each undo checked by its engine call), and, when the journal could not record the
    /// rollback's end (`rolledBack`), why: the run then still reads as interrupted, and only
    /// `ferry recover` (which undoes again, idempotently, and records it) settles it.
    public struct RollbackResult: Sendable {
        public var failures: [Diagnostic]
        public var journalError: String?
        /// The rollback stopped before its end because `shouldStop` said so (a second Ctrl-C):
        /// what is left to undo stays in the journal for `ferry recover`.
        public var stopped = false
    }

    /// Undoes everything the journal shows in place, newest first, then releases the run's claims.
    /// Returns the undo steps that failed (empty: the instances are as before the run); a journal
    /// that could not record the end is one more failure (`DiskFull` or the write's error).
    @discardableResult
    public func rollBack(runID: String, journal: any RunJournal, instances: [String: InstanceSpec],
                         onlyAddresses: Set<String>? = nil, finish: Bool = true, settling: Bool = false,
                         abandoning: Set<String> = [], laterRuns: LaterRunsChoice = .hold, claimsGone: Set<String> = [],
                         recoveredElsewhere: [String: String] = [:]) -> [Diagnostic] {
        let result = rollBackRecording(runID: runID, journal: journal, instances: instances, onlyAddresses: onlyAddresses, finish: finish,
                                       settling: settling, abandoning: abandoning, laterRuns: laterRuns, claimsGone: claimsGone,
                                       recoveredElsewhere: recoveredElsewhere)
        guard let why = result.journalError else { return result.failures }
        return result.failures + [Diagnostic(.diskFull, "the journal of run \(runID) could not record the end of its rollback: \(why)",
                                             hint: "free space in the state directory, then run `ferry recover`")]
    }

    /// `rollBack`, telling apart undo failures from a journal that could not record the end.
    /// `lease`: the run's own lock, when the run rolls itself back; the state's fingerprints are
    /// re-recorded only while it is held (nil: the caller holds the lock, as `recover` does).
    /// `settling`: the run was killed (recovery): its statements still running on an instance are
    /// waited out or ended before anything there is judged (`EngineSession.settleStatements`).
    /// `abandoning`: instances the user gave up for good (`ferry recover --abandon INSTANCE`):
    /// nothing is done or opened there; each undo step left there is journaled `abandoned`, and
    /// the run ends (not as before) instead of staying pending for good.
    /// `claimsGone`: instances where the recover found none of the run's claims before it began
    /// (`takeOverClaims`): released by someone (another copy's recover or unlock), whatever the
    /// run left there, so nothing is restored there until the user chooses.
    public func rollBackRecording(runID: String, journal: any RunJournal, instances: [String: InstanceSpec],
                                  onlyAddresses: Set<String>? = nil, finish: Bool = true,
                                  lease: (any StateLease)? = nil, settling: Bool = false,
                                  shouldStop: (@Sendable () -> Bool)? = nil, abandoning: Set<String> = [],
                                  laterRuns: LaterRunsChoice = .hold, claimsGone: Set<String> = [],
                                  recoveredElsewhere: [String: String] = [:]) -> RollbackResult {
        let records: [JournalRecord]
        do {
            records = try journal.records()
        } catch {
            // Nothing can be undone without the journal, and nothing may be said to be as before.
            let d = FerryError.diagnostic(error)
            return RollbackResult(failures: [Diagnostic(d.code, "the journal of run \(runID) cannot be read, so nothing was undone: \(d.message)",
                                                        hint: "run `ferry recover` once the state can be read again")],
                                  journalError: d.message)
        }
        let replay = RunReplay(records: records)
        let addressOf = Dictionary(records.map { ($0.seq, $0.address) }, uniquingKeysWith: { a, _ in a })
        // The state directory the run's claims named when it began, where a recover runs in
        // another one (a copy or a move of the project).
        let here = backend.journalPlace
        let begunElsewhere = settling ? replay.begin?.claims.compactMap(\.claim.journal).first { $0 != here && !DatabaseClaim.sameDirectory($0, here) } : nil
        _ = try? journal.append(JournalRecord(event: .rollbackBegun))
        var failures: [Diagnostic] = []
        let sessions = SessionPool(engines: engines, instances: instances, journaled: replay.begin,
                                   settling: settling ? [runID] : [])
        defer { sessions.closeAll() }
        let session = sessions.session
        var keptShadows = replay.keptShadowKeys()
        var keptTargets = Set(replay.keptSwaps.compactMap { record in record.swap.map { "\(record.instance ?? "")/\($0.database)" } })
        var keptCount = 0
        // Swaps an earlier pass of this rollback already left as they are (a kill after its
        // `kept` record): the run still ends "not as before" (a fresh tester's recover said
        // "as they were" after such a kill).
        for record in records where record.event == .kept {
            if let only = onlyAddresses, let undone = record.undoes, let address = addressOf[undone] ?? nil, !only.contains(address) { continue }
            failures.append(Diagnostic(.wrongStatus, record.message ?? "\(record.instance ?? "?")/\(record.database ?? "?") was written after the run swapped it in, so the rollback \(Self.keptPhrase)",
                                       instance: record.instance, reason: .keptWrittenSinceSwap))
            keptCount += 1
        }
        // Steps an earlier pass left on an abandoned instance (a kill after its `abandoned`
        // record): still not as before.
        for record in records where record.event == .abandoned {
            if let only = onlyAddresses, let undone = record.undoes, let address = addressOf[undone] ?? nil, !only.contains(address) { continue }
            failures.append(Diagnostic(.instanceNotFound, record.message ?? "an undo step on \(record.instance ?? "?") was abandoned",
                                       instance: record.instance, reason: .abandonedByUser))
            keptCount += 1
        }
        // `shouldStop` is asked before every undo step and before the end is recorded: once it
        // says so, nothing more is undone or recorded (the journal shows what is left).
        // Copies (by address) whose user sync could not be undone in this pass: their swaps are
        // not judged now. The sync's own grants in a target would read as writes made after the
        // swap and leave it for good (a fresh tester's kill during the sync); left pending, the
        // next `ferry recover` undoes the sync first, then the swap.
        var usersNotUndone: Set<String> = []
        // Shadows whose swap's undo failed in this pass: they hold what that undo moved back (the
        // run's tables, its marks), and are dropped only once it is done (fresh tester round 12,
        // G1/G2: the drop that followed a stopped MariaDB undo took its marks, and the next pass
        // took the undo's own rename for a swap that had moved nothing, "as they were before").
        var shadowsNotBack: Set<String> = [], databasesNotBack: Set<String> = []
        // Leaves a swapped target as it is (written after its swap, or its checkpoint gone): the
        // target stays, with the checkpoint beside it where there is one, and the run ends needing
        // a hand. Unrecorded, the swap would read as still to undo and the run as over: then it is
        // an ordinary failure, and `ferry recover` decides again. Its shadow and leftovers stay
        // either way in this pass.
        /// Leaves the swap `record` for the user's choice, nothing done: the run's claims on the
        /// target were released or lost, so another run may have swapped or written it since.
        func holdForTheUser(_ released: Diagnostic, instance: String, record: SwapRecord, item: RunReplay.UndoItem) {
            var held = released
            held.reason = .heldClaimsReleased
            held.hint = "look at what \(record.database) holds now: `ferry recover --keep-later-writes` finishes the recovery leaving it as it is (what it held before run \(runID) stays beside it where the checkpoint is still there); `ferry recover --discard-later-writes` undoes the swap anyway where the undo's own checks allow it (what another run swapped in goes into the run's shadow; a target written since the swap, or holding what the engine can tell the run did not swap in, is still left as it is)"
            failures.append(held)
            shadowsNotBack.insert(instance + "/" + record.shadow)
            databasesNotBack.insert(instance + "/" + record.database)
            _ = try? journal.append(JournalRecord(event: .undoFailed, undoes: item.seq, message: "[\(held.code.rawValue)] \(held.message)", reason: held.reason))
            reporter.emit(ApplyEvent(.rollbackStepFailed, run: runID, address: addressOf[item.seq] ?? nil, undoes: item.seq,
                                     message: item.summary, diagnostic: held))
        }
        func keep(_ written: Diagnostic, seq: Int, instance: String, record: SwapRecord, item: RunReplay.UndoItem) {
            var written = written
            // A swap cut short after its rename: its last steps are done in the kept target
            // (the run's objects made in it), and the words say so in place of "still in".
            if record.targetExisted, written.message.contains(Self.cutShortPhrase) {
                do {
                    if let finished = try session(instance).finishKeptSwap(record) {
                        written.message = written.message.replacingOccurrences(of: Self.cutShortObjectsLeftPhrase(record), with: "; " + finished)
                    }
                } catch {
                    written.message += "; the run's views, routines, triggers and events could not be made in it (\(FerryError.diagnostic(error).message)): their definitions stay saved in \(record.shadow)"
                }
            }
            // Left for released claims in the middle of its swap: what it holds now, as the
            // engine reads it (fresh tester round 72, F3: nothing said the target held the run's
            // tables without its own triggers or the run's views).
            if record.targetExisted, written.message.contains(Self.claimsReleasedPhrase),
               let midSwap = ((try? session(instance).leftoverWarnings(ofRun: runID)) ?? []).first(where: { $0.hasPrefix("\(record.database) is in the middle of the run's swap") }) {
                written.message += "; " + midSwap
            }
            // An undo cut short past its rename: its rest is done around what was made since.
            if record.targetExisted { written.message += Self.finishingKeptUndo(record) { try session(instance) } }
            if record.targetExisted, let left = (try? session(instance).buildLeft(record)) ?? nil {
                written.message += "; " + left
            }
            // Rows the swap left in the checkpoint kept beside it that fired no trigger (fresh
            // tester rounds 64, M1, and 65: named nowhere).
            if record.targetExisted, let off = (try? session(instance).keptCheckpointRowsFiredNone(record)) ?? nil {
                written.message += "; " + off
            }
            keptShadows.insert("\(instance)/\(record.shadow)")
            keptTargets.insert("\(instance)/\(record.database)")
            // Its words say rows that fired none of its triggers: counted for the last line
            // (fresh tester round 66, F2: said in the error only).
            if written.message.contains(Self.firedNonePhrase) { countTriggersOff([written.message]) }
            do {
                try journal.append(JournalRecord(event: .kept, instance: instance, database: record.database,
                                                 undoes: seq, message: written.message))
            } catch {
                // Not recorded: an ordinary failure (the run still needs `ferry recover`), so it
                // carries no kept reason.
                var unrecorded = written
                unrecorded.reason = nil
                failures.append(unrecorded)
                return
            }
            if !record.targetExisted {
                // Nothing of the user's was swapped out: what the shadow's name holds now is
                // Ferry's alone (Redis: a database with only the run's marker), and the engine's
                // guarded drop removes only that.
                _ = try? session(instance).dropShadow(record.shadow, identity: replay.shadowIdentity(instance: instance, shadow: record.shadow))
            }
            keptCount += 1
            failures.append(written)
            reporter.emit(ApplyEvent(.rollbackStepFailed, run: runID, address: addressOf[item.seq] ?? nil, undoes: item.seq,
                                     message: item.summary, diagnostic: written))
        }
        // Only a pass that ended the run released its claims; an incomplete one keeps them, so a
        // claim gone after it was released by someone else (fresh tester round 21, H1: a second
        // PostgreSQL pass, after the user released the claims and applied from another working
        // copy, dropped that run's database and said "as they were before").
        let claimsReleasedByAnEarlierPass = records.contains { $0.event == .rolledBack && $0.message != "incomplete" }
        // Swaps this pass undid whose undo the journal could not record (`undoBegun` or
        // `undone`): their shadows stay for the next pass (below).
        var undoneUnrecorded: Set<String> = [], undoneTargetsUnrecorded: Set<String> = []
        func keepShadowForRecover(_ instance: String, _ record: SwapRecord) {
            guard (try? session(instance).shadowShowsUndo) == true else { return }
            undoneUnrecorded.insert(instance + "/" + record.shadow)
            undoneTargetsUnrecorded.insert(instance + "/" + record.database)
        }
        for item in replay.pendingUndo {
            defer {
                if let instance = item.instance, let open = sessions.opened(instance) { reportLeft(open) }
            }
            if shouldStop?() == true { return RollbackResult(failures: failures, journalError: nil, stopped: true) }
            if let only = onlyAddresses, let address = addressOf[item.seq] ?? nil, !only.contains(address) { continue }
            if case .dropShadow(_, let instance, let shadow) = item, keptShadows.contains("\(instance)/\(shadow)") { continue }
            if let instance = item.instance, abandoning.contains(instance) {
                // Nothing is done on it (its directory or server is gone for good, the user
                // says): the step is journaled as abandoned, never as undone.
                let message = "\(item.summary): not done, left as it is (the undo on \(instance) \(Self.abandonedPhrase) \(instance)`)"
                let d = Diagnostic(.instanceNotFound, message, instance: instance,
                                   hint: "whatever run \(runID) left on \(instance) (a shadow, a checkpoint named with the run) is the user's to look at",
                                   reason: .abandonedByUser)
                do {
                    try journal.append(JournalRecord(event: .abandoned, instance: instance, undoes: item.seq, message: message))
                } catch {
                    var unrecorded = d
                    unrecorded.reason = nil
                    failures.append(unrecorded)
                    continue
                }
                keptCount += 1
                failures.append(d)
                reporter.emit(ApplyEvent(.rollbackStepFailed, run: runID, address: addressOf[item.seq] ?? nil, undoes: item.seq,
                                         message: item.summary, diagnostic: d))
                continue
            }
            do {
                switch item {
                case .undoSwap(_, let instance, let record) where (addressOf[item.seq] ?? nil).map(usersNotUndone.contains) == true:
                    failures.append(Diagnostic(.copyError, "\(instance)/\(record.database) was not restored yet: the undo of the run's user sync failed first (its grants there are the run's own, not writes made since)",
                                               instance: instance, hint: "run `ferry recover` again once what stopped the sync's undo is mended"))
                    continue
                case .dropShadow where (addressOf[item.seq] ?? nil).map(usersNotUndone.contains) == true:
                    continue   // after its swap's undo (Redis's undo leaves the new data under the shadow's name)
                case .dropShadow(_, let instance, let shadow) where shadowsNotBack.contains(instance + "/" + shadow):
                    continue   // its swap's undo did not finish: the next pass drops it after that
                case .dropShadow(_, let instance, let shadow) where undoneUnrecorded.contains(instance + "/" + shadow):
                    // Its swap's undo finished, but the journal could not record it (a full
                    // disk): the shadow keeps what tells the next pass so (MariaDB's note that
                    // the undo used up the checkpoint, PostgreSQL's database under the shadow's
                    // name). Dropped with it, the next pass read the checkpoint the undo had put
                    // back as dropped "by someone else" (fresh tester round 19, F3).
                    // Left, so the pass is not complete: the run stays pending (its claims with
                    // it) until a pass drops the shadow, even where the journal works again by
                    // the end of this one.
                    let kept = Diagnostic(.diskFull, "kept \(shadow) on \(instance) for `ferry recover`: the journal could not record that \(instance)'s target was restored, and the shadow shows it",
                                          instance: instance, hint: "free space where the journal is, then run `ferry recover`: it drops the shadow and ends the run")
                    failures.append(kept)
                    reporter.emit(ApplyEvent(.rollbackStepFailed, run: runID, address: addressOf[item.seq] ?? nil, undoes: item.seq,
                                             message: item.summary, diagnostic: kept))
                    continue
                case .dropLeftoverShadows(_, let instance, let database) where undoneTargetsUnrecorded.contains(instance + "/" + database):
                    continue
                case .dropLeftoverShadows(_, let instance, let database) where databasesNotBack.contains(instance + "/" + database):
                    continue   // the same for the leftovers of a target whose undo did not finish
                case .undoSwap(let seq, let instance, let record):
                    // Round-14 A3: a killed run whose claims on the target were released since
                    // (`ferry unlock --claims` from another working copy) no longer keeps other
                    // runs off it, so the target may hold what a later run swapped in or wrote,
                    // which the run's journal cannot tell (a later copy of the same source has
                    // the same content). Checked before any change; an earlier pass that ended
                    // released the claims itself, so only a first pass asks.
                    // A pass that held the target for this (its `undoFailed` record says so) is
                    // believed: the run's claims never come back.
                    let heldBefore = records.contains { $0.event == .undoFailed && $0.undoes == seq && ($0.message ?? "").contains(Self.claimsReleasedPhrase) }
                    // Only a claim the run journaled it took: a run that took none there (an
                    // engine without claims, a journal written before them) lost none.
                    let claimedHere = replay.begin?.claims.contains { $0.instance == instance && $0.claim.database == record.database } ?? false
                    // Gone before this pass began (`claimsGone`): released whatever the run left
                    // there; a recover of another copy of the project that ended the run used
                    // its checkpoint up and left nothing (fresh tester round 22, K2: the stale
                    // copy's undo found nothing to do and said "restored ... as they were").
                    let goneAtStart = claimsGone.contains(instance)
                    // A swap that provably never moved the run's tables into the target (its shadow
                    // still holds them all; no undo of it began), and, where it took objects out,
                    // whose witnesses are still there (no later swap moved the target's tables):
                    // its undo makes again only what the run's own witnesses hold and drops only
                    // the run's shadow and checkpoint, so nothing of a later run's or an
                    // application's is at stake, released claims or not. Held as released, the target kept the
                    // run's witness triggers for good, every later row fired none, and the words
                    // said "written after the swap" and "checkpoint gone" (fresh tester round 69,
                    // F1 and F2).
                    let neverMoved = settling && claimedHere && record.swapped != true
                        && !records.contains(where: { $0.event == .undoBegun && $0.undoes == seq })
                        && ((try? session(instance).swapMovedNothing(record)) == true || (try? session(instance).swapLeftOnlyItsWitnesses(record)) == true)
                    // The words an earlier pass held it with, where they name another cause than
                    // an unlock or another copy's recover (Redis: the claims ended with the process,
                    // and a later run swapped the target; fresh tester round 72, F5).
                    let heldWords = records.last { $0.event == .undoFailed && $0.undoes == seq && ($0.message ?? "").contains(Self.claimsEndedPhrase) }
                        .flatMap(\.message).map { message in message.hasPrefix("[") ? String(message.drop { $0 != "]" }.dropFirst(2)) : message }
                    if settling, claimedHere, !neverMoved, goneAtStart || heldBefore || !claimsReleasedByAnEarlierPass,
                       let released = try heldWords.map({ Diagnostic(.wrongStatus, $0, instance: instance, reason: .keptWrittenSinceSwap) })
                                      ?? (heldBefore || goneAtStart ? Self.claimsReleasedDiagnostic(runID: runID, record, instance: instance)
                                                 : Self.claimsReleased(runID: runID, record, instance: instance, on: session(instance))) {
                        switch laterRuns {
                        case .keep:
                            keep(released, seq: seq, instance: instance, record: record, item: item)
                            continue
                        case .hold:
                            holdForTheUser(released, instance: instance, record: record, item: item)
                            continue
                        case .discard:
                            // Nothing of the run's swap left to undo (fresh tester round 23, L1:
                            // "restored ... as they were before" over a target another copy's
                            // recover had restored and a later run had replaced).
                            // Only where no undo of this run's own began (an earlier pass of it
                            // that moved the tables back leaves its checkpoint with definitions
                            // only, which its undo then finishes).
                            if !records.contains(where: { $0.event == .undoBegun && $0.undoes == seq }),
                               let nothing = try Self.undoneByOthers(record, instance: instance, on: session(instance)) {
                                keep(nothing, seq: seq, instance: instance, record: record, item: item)
                                continue
                            }
                            // Said as what is tried, not as done: the checks below may still
                            // leave the target (fresh tester round 15, B4: "restored over
                            // whatever it holds now", then "did not restore").
                            // Another run's checkpoint of the target beside it: that run may have
                            // swapped the target since, and this undo discards its copy too
                            // (fresh tester round 72, F4: said nothing of a committed later run).
                            // Runs of this state ran before this one (none runs while it is
                            // pending): their kept checkpoints are no later swap.
                            let known = runs.runIDs()
                            let others = ((try? session(instance).unclaimedCheckpoints(of: record.database)) ?? [])
                                .filter { $0 != record.checkpoint && $0 != record.shadow && !UnclaimedCheckpoints.isOfOneOf(known, $0) }
                            let laterRun = others.isEmpty ? "" : "; beside it \(others.count == 1 ? "is a checkpoint" : "are checkpoints") of another run that no run claims (\(others.joined(separator: ", "))): such a run may have swapped \(record.database) since, and then what this undo discards is that run's copy, which its own state still takes for committed (`ferry status RUN` where it was applied)"
                            reporter.notice("\(instance)/\(record.database): the claims of run \(runID) there were released since it stopped; as asked (--discard-later-writes), its swap is undone anyway unless the checks below find the target written since the swap or its checkpoint gone\(laterRun)", style: .note)
                        }
                    }
                    // Claims that end with their connection (Redis) lost during this pass (the
                    // connection closed by someone): another run may have claimed and swapped the
                    // target since, and the same content tells nothing (fresh tester round 26, P1:
                    // the recover swapped a committed run's target back out and flushed its data).
                    // Held as released claims are; later passes believe the record.
                    if settling, claimedHere, try session(instance).claimsStillHeld(ofRun: runID) == false {
                        let lost = Self.claimsLostDiagnostic(runID: runID, record, instance: instance)
                        if laterRuns == .keep {
                            keep(lost, seq: seq, instance: instance, record: record, item: item)
                        } else {
                            holdForTheUser(lost, instance: instance, record: record, item: item)
                        }
                        continue
                    }
                    // A later run swapped the target after this run's swap (claims that ended with
                    // the process let it: Redis), seen from that run's checkpoint of it: its data
                    // may be what the target holds now, however alike (fresh tester round 70, F4:
                    // a stale checkout's recover swapped a committed copy back out, "as they were
                    // before"). Held as released claims are, unless the user asked to discard.
                    // Looked for once (a Redis scan of every database that holds keys).
                    let later = settling ? try session(instance).swappedSinceByAnotherRun(record) : nil
                    if let later, laterRuns == .discard {
                        reporter.notice("\(instance)/\(record.database): \(later); as asked (--discard-later-writes), its swap is undone anyway unless the checks below find the target written since the swap or its checkpoint gone", style: .note)
                    } else if let later {
                        let before = record.targetExisted
                            ? "what it held before the run is kept beside it as \(record.checkpoint ?? record.shadow) where that is still there"
                            : "it did not exist before the run"
                        let swapped = Diagnostic(.wrongStatus, "\(instance)/\(record.database) was not restored: the claims of run \(runID) on \(instance) \(Self.claimsReleasedPhrase) \(Self.claimsEndedPhrase), and \(later), so what it holds now may be that run's; it was left as it is (nothing was restored, dropped or renamed there); \(before)",
                                                 instance: instance, reason: .keptWrittenSinceSwap)
                        if laterRuns == .keep {
                            keep(swapped, seq: seq, instance: instance, record: record, item: item)
                        } else {
                            holdForTheUser(swapped, instance: instance, record: record, item: item)
                        }
                        continue
                    }
                    // A checkpoint dropped or renamed by someone after the swap (W8-4): nothing can
                    // restore the target, so it is left as it is like a written one, and the run
                    // ends (not as before) instead of staying pending for good.
                    let gone = try (session(instance).checkpointGone(record)
                                    ?? Self.checkpointGoneByJournal(record, seq: seq, replay: replay, on: session(instance))).map { gone in
                        // Another copy's recover took the claims before this one and stopped
                        // (`recoveredElsewhere`): its undo may have used the checkpoint up
                        // restoring the target (fresh tester round 23, L4: "cannot be restored",
                        // "put back ... from a backup of your own" over a target as it was).
                        try recoveredElsewhere[instance].map { Self.checkpointUsedElsewhereDiagnostic(record, instance: instance, place: $0) }
                            ?? begunElsewhere.map { Self.checkpointGoneInACopyDiagnostic(record, instance: instance, place: $0) }
                            ?? Self.checkpointGoneDiagnostic(gone, record, instance: instance, on: session(instance))
                    }
                    var cutShortUnwritten = false
                    if let written = try gone ?? Self.writtenSinceSwap(record, on: session(instance), instance: instance, cutShortUnwritten: &cutShortUnwritten) {
                        keep(written, seq: seq, instance: instance, record: record, item: item)
                        continue
                    }
                    // The token just checked, or none: never the one the swap's own record carries
                    // (an append's snapshot token, which an engine that checks under its rename's
                    // hold took for "written since": MariaDB's held undo refused a recover).
                    var checked = record
                    checked.expectedTargetToken = nil
                    if let token = record.afterSwapToken, record.swapped == true || (try? session(instance).swapIsAtomic) == true {
                        checked.expectedTargetToken = token
                    } else if let token = record.afterSwapToken, cutShortUnwritten {
                        // A swap cut short after its rename, checked unwritten by the engine's own
                        // compare (`writtenSinceSwap`): its undo checks that again under its hold.
                        checked.expectedTargetToken = token
                    }
                    // A swap not journaled done on an engine whose swap is atomic, never undone by
                    // this run's own recovers, that is neither in place nor unmoved (its shadow
                    // still unswapped), with its checkpoint gone: another copy's recover (or a
                    // hand) undid it; nothing of the run's is there, and what the target holds now
                    // is not this recover's to call restored (fresh tester round 27, Q2: a stale
                    // copy said "restored ... as they were before" over a later run's data).
                    // Only in a copy (or move) of the run's state directory (its claims name
                    // another journal): where the journal is the run's own, a swap undone but not
                    // recorded (a journal that could not be written) is this run's own undo.
                    if begunElsewhere != nil, record.swapped != true, !replay.records.contains(where: { $0.event == .undoBegun && $0.undoes == seq }),
                       (try? session(instance).swapIsAtomic) == true, (try? session(instance).swapMovedNothing(record)) == false,
                       let nothing = try Self.undoneByOthers(record, instance: instance, on: session(instance)) {
                        keep(nothing, seq: seq, instance: instance, record: record, item: item)
                        continue
                    }
                    // Journaled first, so that a later rollback does not take a checkpoint this
                    // undo used up for one dropped by someone else (`checkpointGoneByJournal`).
                    // A journal that cannot be written does not stop the undo (SPEC §6, "A journal
                    // that cannot be written"): the judgement then rests on the token alone.
                    if (try? journal.append(JournalRecord(event: .undoBegun, instance: instance, database: record.database, undoes: seq))) == nil {
                        keepShadowForRecover(instance, record)
                    }
                    // Asked only of a swap not journaled as done and never undone before: an
                    // earlier pass's finished undo also leaves nothing in place to restore.
                    let undoneBefore = replay.records.contains { $0.event == .undoBegun && $0.undoes == seq }
                    let movedNothing = record.swapped != true && !undoneBefore && (try? session(instance).swapMovedNothing(record)) == true
                    let movedOnlyObjects = !movedNothing && record.swapped != true && !undoneBefore
                        && (try? session(instance).swapMovedOnlyObjects(record)) == true
                    // Read before the undo puts them back (it clears what tells).
                    let triggersOff = movedOnlyObjects ? (try? session(instance).triggersTakenOff(record)) ?? nil : nil
                    let restoredOff = !movedNothing && !movedOnlyObjects && record.targetExisted
                        ? (try? session(instance).restoredRowsFiredNone(record)) ?? nil : nil
                    do {
                        try session(instance).undoSwap(checked) { note in
                            try journal.append(JournalRecord(event: .swapNoted, instance: instance, database: record.database,
                                                             shadow: record.shadow, message: note))
                        }
                    } catch let error as FerryError where error.diagnostics.first?.reason == .claimsLostBeforeUndo {
                        // The claims connection the engine sent the undo on failed before it ran
                        // (closed between the check above and the undo): held as above.
                        let lost = Self.claimsLostDiagnostic(runID: runID, record, instance: instance, recovering: settling)
                        if laterRuns == .keep {
                            keep(lost, seq: seq, instance: instance, record: record, item: item)
                        } else {
                            holdForTheUser(lost, instance: instance, record: record, item: item)
                        }
                        continue
                    } catch let error as FerryError where error.diagnostics.first?.reason == .keptWrittenSinceSwap {
                        // The engine's undo did all it could and left the rest for the user: the
                        // target was written during the swap (MariaDB: a trigger made by an
                        // application between the swap's drop and its witness, fresh tester
                        // round 25, N1); the checkpoint stays beside it, as for a target written
                        // after its swap.
                        keep(error.diagnostics[0], seq: seq, instance: instance, record: record, item: item)
                        continue
                    } catch {
                        // The checkpoint went while this undo ran (dropped by someone between the
                        // check above and the undo's renames: round-9 fresh tester F6, a raw
                        // "does not exist" from the server): where the engine tells a gone
                        // checkpoint from the instance at any point, the failed undo changed
                        // nothing it could restore, and the target is left as it is, as above.
                        guard let gone = (try? session(instance).checkpointGone(record)) ?? nil,
                              let written = try? Self.checkpointGoneDiagnostic(gone, record, instance: instance, on: session(instance))
                        else { throw error }
                        keep(written, seq: seq, instance: instance, record: record, item: item)
                        continue
                    }
                    // Rows that fired none of the target's triggers, journaled before they are
                    // said (fresh tester round 65, F1).
                    let firedNone = movedNothing ? [] : movedOnlyObjects ? [triggersOff.map { "\(instance)/\(record.database): \($0)" }].compactMap { $0 }
                        : [restoredOff.map { "\(instance)/\(record.database): \($0)" }].compactMap { $0 } + ((try? session(instance).takeFiredNoneNotes()) ?? []).map { "\(instance)/\($0)" }
                    Self.journalFiredNone(firedNone, on: journal, instance: instance, database: record.database, undoes: seq)
                    KillPoint.check("change:rollback.swapUndone")   // tests: the undo done, its record not yet written
                    if movedNothing {
                        reporter.notice("\(instance)/\(record.database) was not touched: its swap stopped before it moved anything (checked), so there was nothing to restore", style: .undone)
                    } else if movedOnlyObjects {
                        reporter.notice("put back the views, routines, triggers and events of \(instance)/\(record.database) that its swap had taken out: it stopped before moving any table (checked)", style: .undone)
                    } else {
                        reporter.notice("restored \(instance)/\(record.database)" + (record.targetExisted ? " from its checkpoint" : " (removed: it did not exist before)"), style: .undone)
                    }
                    for note in firedNone { reporter.notice(note, style: .note) }
                    countTriggersOff(firedNone)
                    noteSwappedInElsewhere(instance, record, on: try session(instance))
                case .dropShadow(_, let instance, let shadow):
                    // Only while it is the shadow the run made (issue 14, round 9: a user's file
                    // at an SQLite shadow's path was deleted and "as they were" printed).
                    try session(instance).dropShadow(shadow, identity: replay.shadowIdentity(instance: instance, shadow: shadow))
                case .dropLeftoverShadows(_, let instance, let database):
                    let removed = try session(instance).removeLeftovers(ofRun: runID, database: database,
                                                                        shadowIdentity: replay.shadowIdentity(instance: instance, database: database))
                    if !removed.isEmpty { reporter.notice("removed \(removed.joined(separator: ", ")) on \(instance), left by run \(runID)", style: .undone) }
                case .undoUsers(_, let instance, let undo):
                    let notes = try session(instance).undoUserSyncReporting(undo)
                    for note in notes { reporter.notice("\(instance): \(note)", style: .note) }
                    usersLeft.add(notes.count)
                    reporter.notice(Self.usersUndone(on: instance, left: notes.count), style: .undone)
                case .removeBackup(_, let journaled, let made, let files, let check):
                    let directory = try JournalRecord.location(journaled, check: check)
                    // The names the run journaled before writing any, and nothing else: a file
                    // a user put in the new set's folder stays, and so does the folder then
                    // (round 37b, F1). A journal of an earlier release names none: as it did.
                    let removal: BackupCatalog.SetRemoval
                    if files == nil, BackupStores.remoteScheme(of: directory) == nil {
                        var info = stat()
                        if lstat(directory, &info) == 0, info.st_mode & S_IFMT != S_IFLNK { try FileManager.default.removeItem(atPath: directory) }
                        removal = BackupCatalog.SetRemoval()
                    } else {
                        removal = try BackupCatalog.removeJournaledSet(at: directory, files: files, trustingManifest: false)
                    }
                    if let note = Self.leftNote(removal, of: directory) { reporter.notice(note, style: .note) }
                    // The location's directories the run made, while nothing else is in them.
                    if !made.isEmpty { try? BackupStores.openSet(at: directory).store.removeEmptyDirectories(made) }
                }
                if (try? journal.append(JournalRecord(event: .undone, undoes: item.seq))) == nil, case .undoSwap(_, let instance, let record) = item {
                    keepShadowForRecover(instance, record)
                }
                reporter.emit(ApplyEvent(.rollbackStep, run: runID, address: addressOf[item.seq] ?? nil, undoes: item.seq,
                                         message: item.summary))
            } catch {
                let d = FerryError.diagnostic(error)
                failures.append(d)
                if case .undoUsers = item, let address = addressOf[item.seq] ?? nil { usersNotUndone.insert(address) }
                if case .undoSwap(_, let instance, let record) = item {
                    shadowsNotBack.insert(instance + "/" + record.shadow)
                    databasesNotBack.insert(instance + "/" + record.database)
                }
                _ = try? journal.append(JournalRecord(event: .undoFailed, undoes: item.seq, message: "[\(d.code.rawValue)] \(d.message)", reason: d.reason))
                if case .undoSwap(_, let instance, let record) = item {
                    Self.journalFiredNoneWindow(d, on: journal, instance: instance, database: record.database, undoes: item.seq)
                }
                reporter.emit(ApplyEvent(.rollbackStepFailed, run: runID, address: addressOf[item.seq] ?? nil, undoes: item.seq,
                                         message: item.summary, diagnostic: d))
            }
        }
        // Every leftover of the run that is provably its own (named or marked with the run): files
        // of a shadow whose creation was cut short, temporary files, marked databases.
        for (instance, database) in Self.plannedShadows(replay, onlyAddresses: onlyAddresses)
        where !keptTargets.contains("\(instance)/\(database)") && !abandoning.contains(instance)
            && !databasesNotBack.contains("\(instance)/\(database)") && !undoneTargetsUnrecorded.contains("\(instance)/\(database)") {
            do {
                let removed = try session(instance).removeLeftovers(ofRun: runID, database: database,
                                                                    shadowIdentity: replay.shadowIdentity(instance: instance, database: database))
                reportLeft(try session(instance))
                if !removed.isEmpty {
                    reporter.notice("removed leftovers of run \(runID) on \(instance): \(removed.joined(separator: ", "))", style: .undone)
                    reporter.emit(ApplyEvent(.rollbackStep, run: runID, message: "removed leftovers on \(instance): \(removed.joined(separator: ", "))"))
                }
            } catch {
                if let open = sessions.opened(instance) { reportLeft(open) }
                let d = FerryError.diagnostic(error)
                // The shadow's own drop already failed for this reason (a file at its name that
                // is not the run's): said once.
                if failures.contains(where: { $0.message == d.message && $0.code == d.code }) { continue }
                failures.append(d)
                _ = try? journal.append(JournalRecord(event: .undoFailed, instance: instance, database: database,
                                                      message: "[\(d.code.rawValue)] leftovers: \(d.message)"))
            }
        }
        if onlyAddresses == nil {
            for (instance, database) in Self.claimedOnly(replay) where !abandoning.contains(instance) {
                _ = try? session(instance).removeLeftovers(ofRun: runID, database: database, shadowIdentity: nil)
            }
            // Backup files a killed run staged for upload or downloaded to restore: `spool-STEP`
            // folders inside the run's own directory, which nothing else writes into; and the
            // `tmp-` files its sessions made for a moment (`ScratchFiles`: a PostgreSQL schema
            // dump, a client program's stderr; fresh tester round 29, F5).
            let runDirectory = backend.scratchDirectory(of: runID)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: runDirectory)) ?? [] where name.hasPrefix("spool-") {
                try? FileManager.default.removeItem(atPath: "\(runDirectory)/\(name)")
            }
            ScratchFiles.removeAll(in: runDirectory)
            backend.removeScratchDirectoryIfEmpty(of: runID)
        }
        if shouldStop?() == true { return RollbackResult(failures: failures, journalError: nil, stopped: true) }
        if failures.isEmpty && onlyAddresses == nil && (lease == nil || (try? lease?.checkHeld()) != nil) {
            refingerprintRestored(records, beganAt: replay.begin?.stateSerial, session: session)
        }
        // What a server that restarted since the run held and did not persist is gone, unseen by
        // the undo (fresh tester round 38b, M3: "as they were before" over an emptied Redis).
        for name in sessions.restarted {
            reporter.notice("\(name): its server restarted since run \(runID) began (another run id): what it held then and did not persist is gone, which no rollback can see; the undo acted only on what still carries the run's marks", style: .note)
            serversRestarted.add(1)
        }
        var journalError: String?
        if shouldStop?() == true { return RollbackResult(failures: failures, journalError: nil, stopped: true) }
        if finish {
            do {
                // Only kept targets left: the run is over (nothing more to undo), but not as before.
                let outcome = failures.isEmpty ? "complete" : failures.count == keptCount ? "kept" : "incomplete"
                try journal.append(JournalRecord(event: .rolledBack, message: outcome))
                // Released only once the pass's end is journaled: the next pass reads that record
                // as "released by an earlier pass". Released before it, with the record then
                // failing to be written (a full disk), the next pass took the run's own release
                // for an unlock from another working copy, restored nothing and held the target
                // without its views and routines (fresh tester round 19, F1); the claims stay
                // instead, as the apply then says. An incomplete pass keeps them as well: what it
                // could not undo (a checkpoint holding the target's data, a half-undone target)
                // is still the run's, and another working copy must not plan over it until a
                // later pass ends the run (fresh tester round 20, G1: an import's incomplete
                // rollback released them, a copy's did not).
                if outcome != "incomplete" {
                    releaseClaims(runID: runID, replay: replay, instances: instances, session: { name in
                        if abandoning.contains(name) { throw FerryError(.instanceNotFound, "instance \(name) was abandoned", instance: name) }
                        return try session(name)
                    })
                }
            } catch {
                journalError = (error as? FerryError)?.diagnostics.first?.message ?? "\(error)"
            }
        }
        return RollbackResult(failures: failures, journalError: journalError)
    }

    /// The diagnostic of a swapped target left as it is because its checkpoint is `gone`: what
    /// the target's name holds now (the run's data, or nothing: dropped too; round-9 fresh
    /// tester F6 read "it holds the run's data" of a target that was gone).
    /// What `ferry recover --discard-later-writes` does for the held targets in `failures`: it
    /// restores their checkpoints over later writes, but not into a target holding objects made
    /// in it since (`heldMadeInSinceRollbackBegan`), which it never drops.
    /// What `failures` (each `checkpointGoneSinceSwap`) say of their checkpoints, as a
    /// predicate of "the checkpoints of the targets above": gone, written since the swap
    /// (`checkpointWrittenPhrase`), or either (fresh tester round 58, M3: checkpoints written
    /// into were said "gone").
    /// `words` ("nothing was restored ..."), or, where an undo of `failures` moved tables back
    /// (`changedAsMovedBackPhrase`), that the errors say what each did.
    public static func nothingRestoredClause(_ failures: [Diagnostic], _ words: String) -> String {
        failures.contains { $0.message.contains(changedAsMovedBackPhrase) } ? "; the errors say what each undo did" : words
    }

    public static func checkpointsState(_ failures: [Diagnostic]) -> String {
        let written = failures.filter { $0.message.contains(checkpointWrittenPhrase) }.count
        let changed = failures.filter { $0.message.contains(changedAsMovedBackPhrase) }.count
        if changed > 0 {
            return changed == failures.count ? "were moved back, some of their tables changed by someone else as the rollback did so (as said above)"
                : "are gone, written since the swap, or were moved back changed (as said above)"
        }
        return written == 0 ? "are gone (dropped or renamed by someone else)"
            : written == failures.count ? "no longer hold what they held at the swap (written by someone else)"
            : "are gone or no longer hold what they held at the swap (dropped, renamed or written by someone else)"
    }

    /// What a retry can do for `failures` (each `checkpointGoneSinceSwap`): nothing for a
    /// checkpoint that is gone; for one written since the swap, restore it once it holds again
    /// exactly what the swap put there (fresh tester round 59, 5: "no retry can" of a checkpoint
    /// whose row was then deleted, and a retry restored it).
    public static func checkpointsRetryClause(_ failures: [Diagnostic]) -> String {
        let written = failures.contains { $0.message.contains(checkpointWrittenPhrase) }
        return written ? "a retry restores a checkpoint only once it holds again exactly what the swap put there, and no retry can where one is gone; `--discard-later-writes` restores none of them"
            : "no retry can restore them, `--discard-later-writes` neither"
    }

    public static func discardClause(_ failures: [Diagnostic]) -> String {
        let made = failures.filter { $0.reason == .heldMadeInSinceRollbackBegan }
        guard !made.isEmpty else { return "`ferry recover --discard-later-writes` restores their checkpoints over those writes." }
        let which = made.count == failures.filter { $0.reason?.isHeldForUser == true }.count
            ? "it cannot restore a target that holds what was made in it, or under its name, since (Ferry never drops or renames what it did not make)"
            : "it restores the checkpoints over later writes, but not a target that holds what was made in it, or under its name, since (Ferry never drops or renames what it did not make)"
        return "`ferry recover --discard-later-writes`: \(which); move that out of the way first, as the errors above say."
    }

    /// A checkpoint gone after a recover of the run from another state directory `place` took
    /// the run's claims and stopped: that recover's undo, journaled there, may have restored the
    /// target with it. Left as it is, said as what cannot be told from here.
    /// Of a checkpoint found gone by a recover in a copy (or a move) of the run's state
    /// directory, where the run began elsewhere (`place`, its claims' journal) and the claims
    /// cannot tell whether another copy's recover took them (Redis: they end with their
    /// connection): that recover may have restored the target with it (fresh tester round 26,
    /// P3: "dropped ... by someone else ... put back from a backup of your own" of targets
    /// another copy had restored exactly).
    static func checkpointGoneInACopyDiagnostic(_ record: SwapRecord, instance: String, place: String) -> Diagnostic {
        Diagnostic(.copyError, "\(instance)/\(record.database): its checkpoint \(record.checkpoint ?? record.shadow) is gone; this run began in \(Redaction.escapeControlCharacters(place)) and \(copiedJournalPhrase): the recover of another copy of this project may have restored \(record.database) with that checkpoint, or someone else dropped or renamed it, which this journal cannot tell; so the rollback \(keptPhrase)",
                   instance: instance,
                   hint: "compare what \(record.database) holds with what it held before the run before you put anything back: if it is that, nothing is lost",
                   reason: .keptWrittenSinceSwap)
    }
    static let copiedJournalPhrase = "this journal is a copy of its journal (the project copied or moved while it was pending)"

    static func checkpointUsedElsewhereDiagnostic(_ record: SwapRecord, instance: String, place: String) -> Diagnostic {
        Diagnostic(.copyError, "\(instance)/\(record.database): its checkpoint \(record.checkpoint ?? record.shadow) is gone, and a recover of this run from \(Redaction.escapeControlCharacters(place)) (another copy of this project) \(recoveredElsewherePhrase): its undo may have restored \(record.database) with that checkpoint, which this journal cannot tell; so the rollback \(keptPhrase)",
                   instance: instance,
                   hint: "compare what \(record.database) holds with what it held before the run before you put anything back: if it is that, nothing is lost; that directory's `ferry status RUN` tells what its undo did, where it still exists",
                   reason: .keptWrittenSinceSwap)
    }

    static func checkpointGoneDiagnostic(_ gone: String, _ record: SwapRecord, instance: String, on session: any EngineSession) throws -> Diagnostic {
        let targetThere = try session.databaseExists(record.database)
        let holds = targetThere ? "it holds whatever is there now (the run's data and any later writes, or what someone put back)"
            : "\(record.database) is gone too (dropped or renamed after the swap), so there is nothing there to restore into and nothing was made"
        return Diagnostic(.copyError, "\(instance)/\(record.database): \(gone), so the rollback \(keptPhrase): \(holds), and what it held before the run cannot be restored",
                          instance: instance,
                          hint: targetThere ? "Ferry does not touch it again: keep it, or put back what it held from a backup of your own"
                              : "Ferry makes nothing under that name: put back what it held from a backup of your own if you need it",
                          reason: .keptWrittenSinceSwap)
    }

    /// Why `record`'s target is not provably what run `runID`'s swap left there: the run's claim
    /// on it is gone from the instance (released by `ferry unlock --claims`, or Ferry's claims
    /// table dropped). Nil while it is there, or where the engine's claims end with their run.
    static func claimsReleased(runID: String, _ record: SwapRecord, instance: String, on session: any EngineSession) throws -> Diagnostic? {
        guard try claimReleased(of: runID, on: record.database, leftoverRuns: [runID], session) else { return nil }
        return claimsReleasedDiagnostic(runID: runID, record, instance: instance)
    }

    /// Whether run `runID`'s claim on `database` is gone from the instance although the run (or
    /// the other runs in `leftoverRuns` whose leftovers are its own: a rollback's reverted run)
    /// left a shadow or checkpoint there. A dead run that left none has its claims cleared by
    /// the next run that claims on the instance (SPEC §6), whatever database that run is for: a
    /// gone claim then tells nothing, and the undo's own checks decide as before. False where
    /// the engine's claims end with their run (`claimHeld` nil).
    static func claimReleased(of runID: String, on database: String, leftoverRuns: [String], _ session: any EngineSession) throws -> Bool {
        guard try session.claimHeld(by: runID, on: database) == false else { return false }
        for run in leftoverRuns where !(try session.leftovers(ofRun: run)).isEmpty { return true }
        return false
    }

    /// What a `kept` record of a target left because something was made in it (or under its
    /// name) since says; `ferry status RUN` and the plans' notes read it to say what it holds.
    public static let madeInPhrase = "holding what was made in it"

    /// How an engine's `EngineSession.buildLeft` phrase begins; `ferry status RUN` finds it in a
    /// `kept` record by these words.
    public static let buildLeftOpening = "the run's own build ("

    /// What an `abandoned` record (and the `kept` record of a rollback's target abandoned with
    /// it) says, followed by the instance's name and a backquote; the plans' notes and `ferry
    /// unlock --claims` read it to tell a target left for `--abandon` from one left for writes
    /// (fresh tester round 26, P7).
    public static let abandonedPhrase = "was abandoned by `ferry recover --abandon"

    /// What an abandoned rollback's record says of a target its swap back restored, and of one
    /// whose swap back had begun, before the rollback was cut short; `ferry status` reads them
    /// to say those targets in the record's own words (fresh tester round 27, Q6).
    /// What an undo's failure says of a target it restored while the run's checkpoint stays for
    /// what someone made in it (`FerryError.Reason.restoredCheckpointHeld`); `ferry status`
    /// reads it from the journal's failed step to say "restored", never "not restored".
    public static let restoredCheckpointHeldPhrase = "holds again what it held before the run"
    /// What an engine's `checkpointGone` says of a checkpoint still there but written into since
    /// its swap (Redis, MySQL / MariaDB); the rollback's hint reads it.
    public static let checkpointWrittenPhrase = "no longer holds what it held at the swap"
    /// Said by an engine's undo (`checkpointGoneSinceSwap`) that moved the target's own tables
    /// back and restored its objects, of tables another session changed as its rename moved
    /// them: the message says what the undo did, and nothing says "nothing was restored".
    public static let changedAsMovedBackPhrase = "as this undo's rename moved"
    public static let restoredBeforeCutShortPhrase = "restored from its checkpoint before this rollback was cut short"
    public static let restoreBegunPhrase = "its restore had begun when this rollback was cut short"

    /// What the journal's `undoFailed` record of a target held for released claims says.
    public static let claimsReleasedPhrase = "were released after it stopped"
    /// Said with `claimsReleasedPhrase` where claims end with their process (Redis) and a later
    /// run's swap of the target was seen (`EngineSession.swappedSinceByAnotherRun`): no unlock
    /// or other recover released them.
    public static let claimsEndedPhrase = "(they end with its process there)"

    /// Of a swap whose claims were released: its swap is no longer in place and its checkpoint
    /// is gone, so someone else (the recover of another copy of the project, or a hand) undid
    /// it; nothing of the run's is there to restore, and the target is left as it is (never
    /// "restored"). Nil while the swap or its checkpoint is still there, or where the target
    /// did not exist before the run.
    static func undoneByOthers(_ record: SwapRecord, instance: String, on session: any EngineSession) throws -> Diagnostic? {
        guard record.targetExisted, try !session.swapIsInPlace(record), try !session.checkpointIsThere(record) else { return nil }
        return Diagnostic(.wrongStatus, "\(instance)/\(record.database) was not restored: \(undoneByOthersPhrase) (the swap is no longer in place and its checkpoint \(record.checkpoint ?? record.shadow) is gone): another copy's `ferry recover`, or someone by hand, undid it; it was left as it is, holding whatever is there now",
                          instance: instance, hint: "nothing of the run is left there to restore: look at what \(record.database) holds now", reason: .keptWrittenSinceSwap)
    }

    /// A target not restored because the run's claims (ending with their connection, Redis)
    /// were lost while the recover (`recovering`) or the run's own rollback ran: checked before
    /// the undo, or found by the engine's undo (`FerryError.Reason.claimsLostBeforeUndo`). Says
    /// `claimsReleasedPhrase`, so that later passes hold the target too.
    static func claimsLostDiagnostic(runID: String, _ record: SwapRecord, instance: String, recovering: Bool = true) -> Diagnostic {
        Diagnostic(.wrongStatus, "\(instance)/\(record.database) was not restored: the claims of run \(runID) on \(instance) \(claimsReleasedPhrase), while this \(recovering ? "recover" : "rollback") ran (its claims connection was closed: a `CLIENT KILL`, a server timeout or a network cut), so another run may have swapped or written \(record.database) since, and nothing tells that from what this run's swap left; it was left as it is (nothing was restored, dropped or renamed there); what it held before the run is kept beside it as \(record.checkpoint ?? record.shadow) where that is still there",
                   instance: instance, reason: .keptWrittenSinceSwap)
    }

    static func claimsReleasedDiagnostic(runID: String, _ record: SwapRecord, instance: String) -> Diagnostic {
        let before = record.targetExisted
            ? "what it held before the run is kept beside it as \(record.checkpoint ?? record.shadow) where that is still there"
            : "it did not exist before the run"
        return Diagnostic(.wrongStatus, "\(instance)/\(record.database) was not restored: the claims of run \(runID) on \(instance) \(claimsReleasedPhrase) (by `ferry unlock --claims`, or by the `ferry recover` of another copy of this project, which then ended the run there?), so another run may have swapped or written \(record.database) since, and nothing tells that from what this run's swap left; it was left as it is (nothing was restored, dropped or renamed there); \(before)",
                          instance: instance,
                          hint: "Ferry does not touch either again: compare them, keep what you need, then drop the other yourself",
                          reason: .keptWrittenSinceSwap)
    }

    /// Why undoing `record` would discard writes, or nil when it would not: the swap happened
    /// (its `swapDone` was journaled, or the engine's swap is atomic and found done: a kill
    /// between it and its record), it is still in place (no undo of it ran, journaled or not),
    /// and the target's content token is no longer the one it held right after the swap. A target that is gone has nothing to lose; a swap with no token
    /// (an older journal, an engine that cannot tell) is undone as before.
    /// A swap of several steps cut short (not journaled done: a kill, or a failure inside it)
    /// is left too when it got past moving the shadow's rows in and the target's rows changed
    /// since (`EngineSession.rowsWrittenSinceUnfinishedSwap`; fresh tester round 42, L2).
    /// `cutShortUnwritten` is set when the engine read a swap cut short after its rename as
    /// unwritten (`rowsWrittenSinceUnfinishedSwap` false), so that the caller need not read it again.
    static func writtenSinceSwap(_ record: SwapRecord, on session: any EngineSession, instance: String,
                                 cutShortUnwritten: inout Bool) throws -> Diagnostic? {
        let cutShort = record.swapped != true && !session.swapIsAtomic
        if cutShort {
            guard record.afterSwapToken != nil else { return nil }
            let written = try session.rowsWrittenSinceUnfinishedSwap(record)
            cutShortUnwritten = written == false
            guard written == true else { return nil }
            KillPoint.check("recover.writtenRead")
        } else {
            guard let expected = record.afterSwapToken, try session.swapIsInPlace(record) else { return nil }
            let now = try session.contentToken(of: record.database)
            KillPoint.check("recover.writtenRead")   // tests: a checkpoint dropped while the token is read
            if now == nil, try !session.databaseExists(record.database) { return nil }
            // A token of another scheme (journaled by an earlier release) tells nothing: undone as
            // that release did.
            if let now, !ContentTokens.comparable(now, expected) { return nil }
            guard now != expected else { return nil }
        }
        var before = record.targetExisted ? "what it held before the run is kept beside it as \(record.checkpoint ?? record.shadow)"
            : "it did not exist before the run"
        var hint = !record.targetExisted
            ? "it is yours now: Ferry does not touch it again (the next plan proposes the import or copy again)"
            : "Ferry does not touch either again: compare them (open the checkpoint read-only), keep what you need, then drop the other yourself while no application has it open"
        // Checked after the token's read, never taken from the journal: a checkpoint dropped
        // while the recover ran is not "kept beside it" (round-11 F6).
        if record.targetExisted, let checkpoint = record.checkpoint,
           let gone = try session.checkpointGone(record) ?? (try session.checkpointIsThere(record) ? nil
                : "the checkpoint \(checkpoint) of \(record.database) is gone: it was dropped or renamed after the swap, by someone else") {
            before = "\(gone), so what it held before the run cannot be restored"
            hint = "Ferry does not touch it again: keep it, or put back what it held from a backup of your own"
        } else if record.targetExisted, let extra = (try? session.checkpointWrittenDuringSwap(record)) ?? nil {
            before += "; " + extra
        }
        // An engine whose token changes without a write (Redis: a key that expires, F5) says so.
        let what = cutShort
            ? "\(cutShortPhrase), so the rollback \(keptPhrase) (undoing the swap would move those rows out of it)"
                // A new target's shadow is Ferry's alone and goes (`keep`): nothing is left in it.
                + (record.targetExisted ? cutShortObjectsLeftPhrase(record) : "")
            : session.tokenChangesWithoutWrites.map {
            "changed after the run swapped it in (written, or \($0)), so the rollback \(keptPhrase) (undoing the swap would discard any writes made since)"
        } ?? "was written after the run swapped it in, so the rollback \(keptPhrase) (undoing the swap would discard those writes)"
        return Diagnostic(.wrongStatus, "\(instance)/\(record.database) \(what); \(before)", instance: instance, hint: hint, reason: .keptWrittenSinceSwap)
    }

    /// "1 file" / "N files" at names of the run that are not the run's (`filesLeft`).
    public static func filesPhrase(_ count: Int) -> String {
        (count == 1 ? "1 file" : "\(count) files") + " at names of the run that " + (count == 1 ? "is" : "are") + " not the run's"
    }

    /// A `kept` record's message says the target was left for its checkpoint (gone, or another
    /// file at its name), not for writes made since (round-11 F6).
    /// Whether a `kept` record's message says the target was left because the run's claims were
    /// released (an unlock, or another copy's recover: `claimsReleasedDiagnostic`,
    /// `undoneByOthers`, `checkpointUsedElsewhereDiagnostic`): `ferry status` then says so,
    /// never that the target holds the run's data (fresh tester round 24, M2).
    public static func keptForReleasedClaims(_ message: String?) -> Bool {
        guard let message else { return false }
        return [claimsReleasedPhrase, undoneByOthersPhrase, recoveredElsewherePhrase, copiedJournalPhrase].contains { message.contains($0) }
    }
    /// What an engine's undo says of a target it put back but for what someone made in it
    /// meanwhile (MariaDB: a trigger made in the swap's drop-to-witness gap): `ferry status`
    /// then says the engine's own words, not "holds the run's data" (fresh tester round 26, P4).
    public static let restoredButForPhrase = "is as it was before the run but for"
    public static let undoneByOthersPhrase = "its claims were released and nothing of the run's swap is there any more"
    static let recoveredElsewherePhrase = "took its claims before this one and stopped"

    /// How the journal's `kept` record of a target left by `--keep-later-writes` after its undo
    /// was stopped by something in the way (`inTheWayForNow`) begins.
    static let keptInTheWayPhrase = "left as it is (its undo was stopped by something in the way)"

    public static func keptForItsCheckpoint(_ message: String?) -> Bool {
        guard let message else { return false }
        return message.contains(" is gone") || message.contains("is not the file the swap kept")
    }

    /// Words of the diagnostic of a target left because its rows were written after a swap
    /// that did not end had moved the run's tables in (`writtenSinceSwap`).
    public static let cutShortPhrase = "was written after the run's swap moved its tables in (the swap stopped before it ended)"

    /// What a cut-short swap's kept target says of the run's objects the swap had not made yet.
    static func cutShortObjectsLeftPhrase(_ record: SwapRecord) -> String {
        "; any view, routine, trigger or event of the run's build that the swap had not put in yet is still in \(record.shadow)"
    }

    /// Words every "left as it is" diagnostic holds (the message only: the commands decide by
    /// `Diagnostic.reason`).
    static let keptPhrase = "left it as it is"

    /// Words of the diagnostic of a target an interrupted `ferry rollback RUN` did not restore
    /// because it was written after that rollback began.
    static let writtenSinceRollbackPhrase = "was written after this rollback began"

    /// The (instance, database) pairs for which the run journaled a shadow.
    static func plannedShadows(_ replay: RunReplay, onlyAddresses: Set<String>? = nil) -> [(String, String)] {
        var seen: Set<String> = []
        var pairs: [(String, String)] = []

        for record in replay.records where record.event == .shadowPlanned || record.event == .shadowCreated {
            guard let instance = record.instance, let database = record.database else { continue }
            if let only = onlyAddresses, let address = record.address, !only.contains(address) { continue }
            if seen.insert(instance + "\u{0}" + database).inserted { pairs.append((instance, database)) }
        }
        return pairs
    }

    /// Target databases the run claimed but journaled no shadow for: a run killed while claiming
    /// may have left a claims file's temporary file there. Swept best-effort (a run refused at its
    /// claims because an instance is down must still end as refused).
    static func claimedOnly(_ replay: RunReplay) -> [(String, String)] {
        let shadows = Set(plannedShadows(replay).map { $0.0 + "\u{0}" + $0.1 })
        var seen: Set<String> = shadows
        var pairs: [(String, String)] = []
        for claim in replay.begin?.claims ?? [] where claim.claim.role == .importing
            && seen.insert(claim.instance + "\u{0}" + claim.claim.database).inserted {
            pairs.append((claim.instance, claim.claim.database))
        }
        return pairs
    }

    /// Releases run `runID`'s claims on each instance its begin record claimed but those in
    /// `except` (abandoned: nothing is opened there); returns what could not be released (one
    /// line each). The note says why in the engine's words without its hint: that hint is for a
    /// run still pending (fresh tester round 24, M5: it named `ferry recover --abandon` for a run
    /// that had just ended).
    @discardableResult
    func releaseClaims(runID: String, replay: RunReplay, instances: [String: InstanceSpec],
                       session: (String) throws -> any EngineSession, except: Set<String> = []) -> [String] {
        let names = Set(replay.begin?.claims.map(\.instance) ?? []).subtracting(except)
        var left: [String] = []
        for name in names.sorted() {
            do { try session(name).release(runID: runID) } catch {
                let why = (error as? FerryError)?.diagnostics.first?.message ?? "\(error)"
                reporter.notice("could not release the claims of run \(runID) on \(name): \(why)", style: .note)
                left.append("claims on \(name)")
            }
        }
        return left
    }

    /// After commit: finish pruned backup sets, drop checkpoints beyond the retention, drop the
    /// run's swapped-out shadows and leftovers, release claims, and mark the run clean. What could
    /// not be done (an instance unreachable) is returned and journaled as `cleanupPending`, never
    /// as `cleaned`: the run then counts as interrupted and `ferry recover` finishes it.
    /// `shouldStop` (a second Ctrl-C) is asked before each removal: once it says so, nothing more
    /// is done nor recorded, and "left for `ferry recover`" is returned as pending.
    @discardableResult
    public func cleanAfterCommit(runID: String, journal: any RunJournal, state: State, instances: [String: InstanceSpec],
                                 shouldStop: (@Sendable () -> Bool)? = nil) -> [String] {
        var codes: [String: ErrorCode] = [:]
        return cleanAfterCommit(runID: runID, journal: journal, state: state, instances: instances, shouldStop: shouldStop, codes: &codes)
    }

    /// What a set's removal left in its folder, in words; nil when the folder went whole.
    static func leftNote(_ removal: BackupCatalog.SetRemoval, of directory: String) -> String? {
        let name = "backup set \((directory as NSString).lastPathComponent) (\(DisplayPath.location(directory)))"
        if removal.replacedByLink {
            return "\(name): its folder is a symbolic link now, not the folder Ferry made; nothing was removed through it, and the link is left as it is"
        }
        if removal.unproven {
            let shown = removal.left.prefix(5).map { Redaction.escapeControlCharacters($0) }.joined(separator: ", ")
            return "\(name) has no manifest (removed since the set was taken), so nothing in its folder is proven the set's: the backup no longer lists it, and its folder is left as it is" + (removal.left.isEmpty ? "" : " (it holds \(shown)\(removal.left.count > 5 ? ", ..." : ""))")
        }
        guard !removal.left.isEmpty else { return nil }
        let shown = removal.left.prefix(5).map { Redaction.escapeControlCharacters($0) }.joined(separator: ", ")
        return "removed \(name); its folder is left: it holds what Ferry did not write (\(shown)\(removal.left.count > 5 ? ", ..." : ""))"
    }

    /// `cleanAfterCommit`, with `codes`: the error code of each pending line that an engine's
    /// error explained (a shadow left because it holds what Ferry did not make:
    /// `OperationDenied.WrongStatus`, fresh tester W7-6); a line without one is `Internal`.
    func cleanAfterCommit(runID: String, journal: any RunJournal, state: State, instances: [String: InstanceSpec],
                          shouldStop: (@Sendable () -> Bool)?, codes: inout [String: ErrorCode]) -> [String] {
        var pending: [String] = []
        let stopLine = "the rest of the clean-up (stopped: left for `ferry recover`)"
        for (seq, journaled, files, check) in ((try? backend.replay(runID)) ?? RunReplay(records: [])).pendingPrunes {
            if shouldStop?() == true { return pending + [stopLine] }
            var removal = BackupCatalog.SetRemoval()
            let directory: String
            do {
                directory = try JournalRecord.location(journaled, check: check)
                removal = try BackupCatalog.removeJournaledSet(at: directory, files: files, trustingManifest: true, digest: engines.fileDigest)
            } catch {
                pending.append("remove \(DisplayPath.location(journaled))")
                // Its own code (an unset variable, another value, a manifest Ferry cannot read),
                // never `Internal` (fresh tester round 77, F8).
                codes[pending.last!] = (error as? FerryError)?.code
                reporter.notice("could not remove backup set \(DisplayPath.location(journaled)): \(FerryError.diagnostic(error).message)", style: .note)
                continue
            }
            // Removed; a record that cannot be written (a second Ctrl-C's journal refuses it)
            // leaves the removal pending for `ferry recover`, which finds the set gone.
            if (try? journal.append(JournalRecord.backupSet(.pruned, at: directory, undoes: seq))) == nil {
                pending.append("record the removal of \(DisplayPath.location(journaled))")
                continue
            }
            reporter.notice(Self.leftNote(removal, of: directory)
                            ?? "removed backup set \((journaled as NSString).lastPathComponent) (\(DisplayPath.location(journaled)))", style: .detail)
        }
        let keep = max(0, state.keepCheckpointRuns ?? 1)
        let sessions = SessionPool(engines: engines, instances: instances,
                                   journaled: (try? backend.replay(runID))?.begin)
        defer { sessions.closeAll() }
        let session = sessions.session
        // Committed runs, newest first, that still keep checkpoints; and runs whose checkpoints'
        // removal was journaled but did not finish (retried here).
        var unfinishedDrops: [String] = []
        let committed = runs.unsettledRunIDs().filter { id in
            guard let replay = try? backend.replay(id) else { return false }
            backend.markIfSettled(id, replay)
            if replay.hasPendingCheckpointDrop { unfinishedDrops.append(id) }
            return replay.isCommitted && !replay.keptCheckpoints.isEmpty
        }
        for id in Array(committed.dropFirst(keep)) + unfinishedDrops {
            // Before any record in another run's journal (which the stopped run's journal guard
            // does not cover): nothing more once a second Ctrl-C came.
            if shouldStop?() == true { return pending + [stopLine] }
            // This run's own records go through its open writer, so that sequence numbers stay unique.
            guard let replay = try? backend.replay(id),
                  let writer = id == runID ? journal : try? runs.openJournal(for: id) else { continue }
            var checkpoints = replay.keptCheckpoints
            if checkpoints.isEmpty { checkpoints = replay.pendingCheckpointDrops }
            else {
                // Journaled first: from here on `ferry rollback` of that run is refused, so no
                // rollback can ever meet a checkpoint that is half gone.
                guard (try? writer.append(JournalRecord(event: .checkpointsDropping, message: id))) != nil else { continue }
            }
            var ok = true
            for (instance, record) in checkpoints {
                if shouldStop?() == true { return pending + [stopLine] }
                do {
                    // Only the checkpoint the swap kept (fresh tester w14 F1: a user's file made at
                    // an SQLite checkpoint's path after it was deleted was removed here).
                    if let left = try session(instance).dropCheckpoint(record) {
                        reporter.notice("\(instance): \(left)", style: .note)
                    }
                    KillPoint.check("change:clean.checkpointDropped")
                } catch {
                    ok = false
                    reporter.notice("could not drop checkpoint \(record.checkpoint!) on \(instance): \(error)", style: .note)
                }
            }
            if ok { _ = try? writer.append(JournalRecord(event: .checkpointsDropped, message: id)) }
        }
        let replay = (try? backend.replay(runID)) ?? RunReplay(records: [])
        // A swap leaves the shadow's name behind on some engines (an empty MySQL schema); where the
        // shadow is not itself the checkpoint (Redis), it goes now.
        for (instance, record) in replay.swaps where record.shadow != record.checkpoint {
            if shouldStop?() == true { return pending + [stopLine] }
            do {
                try session(instance).dropShadow(record.shadow, identity: replay.shadowIdentity(instance: instance, shadow: record.shadow))
                KillPoint.check("change:clean.shadowDropped")
            } catch {
                pending.append("drop shadow \(record.shadow) on \(instance)")
                codes[pending.last!] = (error as? FerryError)?.code
                reporter.notice("could not drop shadow \(record.shadow) on \(instance): \(error)", style: .note)
            }
        }
        for (instance, database) in Self.plannedShadows(replay) {
            do {
                _ = try session(instance).removeLeftovers(ofRun: runID, database: database,
                                                          shadowIdentity: replay.shadowIdentity(instance: instance, database: database))
            } catch {
                pending.append("leftovers of \(instance)/\(database)")
                codes[pending.last!] = (error as? FerryError)?.code
            }
        }
        for (instance, database) in Self.claimedOnly(replay) {
            _ = try? session(instance).removeLeftovers(ofRun: runID, database: database, shadowIdentity: nil)
        }
        if shouldStop?() == true { return pending + [stopLine] }
        pending += releaseClaims(runID: runID, replay: replay, instances: instances, session: session)
        if pending.isEmpty {
            do { try journal.append(JournalRecord(event: .cleaned)) } catch {
                // Done, but not recorded: the run reads as unfinished until `ferry recover` records it.
                pending.append("record the end of the clean-up in the journal (\((error as? FerryError)?.diagnostics.first?.message ?? "\(error)"))")
            }
        } else {
            _ = try? journal.append(JournalRecord(event: .cleanupPending, message: pending.joined(separator: "; ")))
        }
        return pending
    }

    /// Whether run `runID` could be undone on `instance` now: the plan (`instances`) or the
    /// run's journal places it where the run wrote (same location, directory identity and
    /// server identity: `SessionPool.session`) and it answers. `ferry recover --abandon` is
    /// refused for such an instance (fresh tester round 10, F5: a mistyped name of the run's
    /// instances threw away an undo Ferry could do). Opens and closes one session; changes nothing.
    public func canUndo(runID: String, on instance: String, instances: [String: InstanceSpec]) -> Bool {
        guard let replay = try? backend.replay(runID) else { return false }
        let sessions = SessionPool(engines: engines, instances: instances, journaled: replay.begin)
        defer { sessions.closeAll() }
        return (try? sessions.session(instance)) != nil
    }

    /// What the reverted run's swap or this rollback's undo left switched on a target the
    /// rollback leaves as it is (MySQL: a default collation), said as notes (round 16, C3).
    func noteSettingsLeftSwitched(on session: any EngineSession, instance: String, database: String, run: String) {
        for line in (try? session.settingsLeftSwitched(ofRun: run, database: database)) ?? [] {
            reporter.notice("\(instance)/\(database): " + line, style: .note)
        }
    }

    /// `ferry recover`: finishes every interrupted run. A run whose state write landed is
    /// committed (only its cleanup is finished); a rollback run is finished; any other is rolled
    /// back. Returns each run with what was done to it (`rolled back`, `clean-up finished`,
    /// `rollback of RUN finished`) and the failures.
    /// `discardingLaterWrites`: an interrupted `ferry rollback RUN` restores its checkpoints even
    /// over targets written after it began (`ferry recover --discard-later-writes`).
    /// `keepingLaterWrites`: it leaves those targets as they are instead, with their checkpoints
    /// beside them, and finishes (`ferry recover --keep-later-writes`).
    /// `abandoning`: instances the user gave up for good (`ferry recover --abandon INSTANCE`);
    /// an interrupted run's undo steps there are journaled `abandoned` and nothing is done there.
    /// Fresh tester round 22, K1: a project copied with its state directory and the original
    /// moved away left two state directories that both held the run's journal, neither the one
    /// its claims named: two recovers at once both undid the run, and a MariaDB target lost a
    /// view and a procedure while one said "as they were before". Before any change, the
    /// recover makes itself the holder of the run's claims on each instance the run claimed
    /// (`EngineSession.takeOverClaims`, a compare-and-swap on the holder it read): of two
    /// recovers one takes them, the other finds them held by a live process (or taken
    /// meanwhile) and is refused (`StateLocked`), changing nothing. Claims that name a state
    /// directory on this host that still holds the run unfinished (another copy's recover that
    /// stopped) refuse it the same way: that directory's journal knows what its undo did.
    /// Instances where none of the run's claims are left are returned: the claims were released
    /// (`ferry unlock --claims`, or another copy's recover that ended the run), and nothing is
    /// restored there until the user chooses (K2). Engines whose claims end with their
    /// connection (Redis) are skipped, as is an instance that cannot be reached (the undo says
    /// why then).
    /// `recoveredElsewhere`: instances whose claims named another state directory than the
    /// run's own when taken over (a recover of this run from another copy took them before this
    /// one, and stopped), with that directory.
    func takeOverClaims(runID: String, replay: RunReplay, instances: [String: InstanceSpec], abandoning: Set<String>)
        -> (refusal: Diagnostic?, gone: Set<String>, recoveredElsewhere: [String: String]) {
        guard let begin = replay.begin else { return (nil, [], [:]) }
        var recoveredElsewhere: [String: String] = [:]
        let e = Redaction.escapeControlCharacters
        let here = backend.journalPlace
        var taker = DatabaseClaim(database: "", role: .importing, runID: runID)
        taker.journal = here
        let sessions = SessionPool(engines: engines, instances: instances, journaled: begin)
        defer { sessions.closeAll() }
        var gone: Set<String> = []
        for instance in Set(begin.claims.map(\.instance)).sorted() where !abandoning.contains(instance) {
            guard let session = try? sessions.session(instance) else { continue }
            // Claims that end with their connection (Redis) are held anew by this process: a
            // recover of the run from another copy of the project that holds them first is live
            // (round 24's open item: two recovers at once both undid a Redis run).
            let mine = begin.claims.filter { $0.instance == instance }.map { entry in
                var claim = entry.claim
                claim.holder = taker.holder
                claim.host = taker.host
                claim.pid = taker.pid
                claim.journal = here
                return claim
            }
            if let held = try? session.holdClaims(ofRun: runID, mine) {
                if held { continue }
                return (Diagnostic(.stateLocked, "run \(runID) is being recovered by another process: its claims on \(instance) are held by a live connection of another ferry (a recover of this run from another copy of this project?); nothing was done",
                                   instance: instance, hint: "wait for it to end, then run `ferry recover` again here"), [], [:])
            }
            guard (try? session.claimHeld(by: runID, on: "")) != nil,
                  let recorded = try? session.recordedClaims() else { continue }
            guard let held = recorded.first(where: { $0.runID == runID }) else {
                gone.insert(instance)
                continue
            }
            if held.host == taker.host && held.pid == taker.pid { continue }
            // A holder on this host that still runs; one that cannot be checked (another host's,
            // or a claim of an earlier release without holder, host or pid) is taken over by
            // the compare-and-swap alone.
            if let host = held.host, host == ProcessInfo.processInfo.hostName, held.pid != nil, !held.isHolderGone {
                return (Diagnostic(.stateLocked, "run \(runID) is being recovered or run by another process: its claims on \(instance) are held by \(held.holderSummary), which is still running" + (held.journal.map { " (its journal in \(e($0)))" } ?? "") + "; nothing was done",
                                   instance: instance, hint: "wait for it to end, then run `ferry recover` again here"), [], [:])
            }
            if let place = held.journal, place != here, let unfinished = held.unfinishedJournalHere, !DatabaseClaim.sameDirectory(place, here) {
                return (Diagnostic(.wrongStatus, "run \(runID)'s claims on \(instance) name \(e(unfinished)), which still holds the run unfinished (a recover there began and stopped): that journal knows what its undo did; nothing was done",
                                   instance: instance, hint: "run `ferry recover` in the project of \(e(unfinished))"), [], [:])
            }
            guard (try? session.takeOverClaims(ofRun: runID, from: held, to: taker)) == true else {
                return (Diagnostic(.stateLocked, "run \(runID)'s claims on \(instance) were taken by another process while this recover began (a recover from another copy of this project?); nothing was done",
                                   instance: instance, hint: "wait for it to end, then run `ferry recover` again here"), [], [:])
            }
            let journaledAt = begin.claims.first { $0.instance == instance }?.claim.journal
            if let place = held.journal, place != here, place != journaledAt { recoveredElsewhere[instance] = place }
        }
        return (nil, gone, recoveredElsewhere)
    }

    /// Closes run `runID` of this state, a stale copy of a run that `place` (the state directory
    /// its claims name, on this host) rolled back: the project was copied with its state while
    /// the run was pending (fresh tester round 21, H3: the copy's recover then restored nothing
    /// but blamed "someone else" for the checkpoint that recover had used up). Journals a
    /// `rolledBack` record saying where the run ended; nothing is done on any instance (its
    /// claims, shadows and checkpoints were that directory's to settle, and it did).
    public func closeEndedElsewhere(runID: String, place: String) throws {
        let writer = try runs.openJournal(for: runID)
        _ = try writer.append(JournalRecord(event: .rolledBack, message: "ended in \(place)"))
        backend.removeScratchDirectoryIfEmpty(of: runID)
    }

    public func recoverAll(instances: [String: InstanceSpec], discardingLaterWrites: Bool = false,
                           keepingLaterWrites: Bool = false, abandoning: Set<String> = []) -> (recovered: [(runID: String, how: String)], failures: [Diagnostic]) {
        var recovered: [(runID: String, how: String)] = []
        var failures: [Diagnostic] = []
        let state = (try? backend.readState()) ?? State()
        // Journals without a begin record: the run could not even record its start (a full
        // disk), so it claimed and changed nothing. Not runs: their directories go.
        for id in backend.unstartedRuns() {
            do {
                try runs.removeRun(id)
                recovered.append((id, "never started; removed"))
            } catch {
                failures.append(Diagnostic(.internalError, "cannot remove run \(id) of \(backend.location), a run that never started: \(error)"))
            }
        }
        for id in backend.interruptedRuns() {
            guard let writer = try? runs.openJournal(for: id),
                  let replay = try? backend.replay(id) else { continue }
            if replay.kind == .rollback {
                let (refusal, claimsGone, _) = takeOverClaims(runID: id, replay: replay, instances: instances, abandoning: abandoning)
                if let refusal {
                    failures.append(refusal)
                    continue
                }
                reporter.notice("Finishing interrupted rollback run \(id) (of run \(replay.begin?.reverts ?? "?")).", style: .headline)
                let movedBefore = writesMovedOut.count
                let offBefore = triggersWereOff.count, maybeBefore = triggersMaybeOff.count
                sayFiredNoneAgain(replay.records)
                let (_, revertFailures) = finishRevert(runID: id, journal: writer, instances: instances,
                                                       discardingLaterWrites: discardingLaterWrites, keepingLaterWrites: keepingLaterWrites,
                                                       claimsGone: claimsGone, abandoning: abandoning)
                failures += revertFailures
                let abandoned = revertFailures.filter { $0.reason == .abandonedByUser }.count
                let pending = revertFailures.count > abandoned
                // What each target left as it is was left for (round-11 F6: a target whose
                // checkpoint was dropped was counted as "written since").
                let recordsNow = (try? backend.replay(id))?.records ?? []
                let keptRecords = recordsNow.filter { $0.event == .kept && $0.address == "restore" }
                // (An abandoned target is journaled `abandoned`, not `kept`, here.)
                let gone = keptRecords.filter { Self.keptForItsCheckpoint($0.message) }.count
                // Kept where something of someone else's stopped the undo (a foreign key): not
                // "written since" (fresh tester round 62, 6).
                let inTheWay = keptRecords.filter { ($0.message ?? "").hasPrefix(Self.keptInTheWayPhrase) }.count
                let written = keptRecords.count - gone - inTheWay
                var leaving: [String] = []
                if written > 0 { leaving.append("\(written == 1 ? "1 target" : "\(written) targets") written since") }
                if inTheWay > 0 { leaving.append("\(inTheWay == 1 ? "1 target whose undo was" : "\(inTheWay) targets whose undos were") stopped by something in the way") }
                if gone > 0 { leaving.append("\(gone == 1 ? "1 target whose checkpoint is" : "\(gone) targets whose checkpoints are") gone or replaced") }
                if abandoned > 0 { leaving.append("\(abandoned == 1 ? "1 target" : "\(abandoned) targets") on abandoned \(abandoning.sorted().joined(separator: ", "))") }
                // As `ferry rollback RUN` says it (round 43, F2): never plain "finished" then.
                // Also those an earlier pass journaled (killed after its commit record, this pass
                // had nothing left to do: fresh tester round 44, F4).
                let shadows = Set(recordsNow.filter { $0.event == .leftForUser && $0.message == Self.writtenWhileRollingBackNote }
                    .compactMap { record in record.shadow.map { "\(record.instance ?? "?")/\($0)" } }).sorted()
                let moved = max(writesMovedOut.count - movedBefore, shadows.count)
                if moved > 0 { leaving.append("the writes made while it ran into \(moved == 1 ? "1 target" : "\(moved) targets"), which are in \(moved == 1 ? "its shadow" : "their shadows") \(shadows.isEmpty ? "(named above)" : shadows.joined(separator: ", "))") }
                // Targets, not notes; this pass's and an earlier one's (fresh tester round 65, F1
                // and F2: "2 targets" of one, and "after its rename" of rows the apply's swap left).
                let off = max(Self.firedNoneTargets(recordsNow), triggersWereOff.count - offBefore)
                let maybe = Self.journaledOnlyMaybe(recordsNow) && triggersMaybeOff.count - maybeBefore == triggersWereOff.count - offBefore
                let fired = Self.firedNoneClause(off, maybe: maybe)
                recovered.append((id, "rollback of \(replay.begin?.reverts ?? "?") " + (pending ? "still pending"
                    : leaving.isEmpty ? "finished\(fired)" : "finished, leaving \(leaving.joined(separator: " and ")) as they are\(fired)")))
            } else if replay.isCommitted || (replay.hasCommitStarted && state.lastRunID == id) {
                if !replay.isCommitted {
                    do { try writer.append(JournalRecord(event: .committed)) } catch {
                        failures.append(Diagnostic(.diskFull, "run \(id): cannot record its commit: \(error)"))
                        continue
                    }
                }
                reporter.notice("Run \(id) had committed; finishing its cleanup.", style: .headline)
                var codes: [String: ErrorCode] = [:]
                let pending = cleanAfterCommit(runID: id, journal: writer, state: state, instances: instances, shouldStop: nil, codes: &codes)
                failures += pending.map { Diagnostic(codes[$0] ?? .internalError, "run \(id): clean-up still pending: \($0)") }
                recovered.append((id, "committed; clean-up finished"))
            } else {
                let (refusal, claimsGone, recoveredElsewhere) = takeOverClaims(runID: id, replay: replay, instances: instances, abandoning: abandoning)
                if let refusal {
                    failures.append(refusal)
                    continue
                }
                reporter.notice("Rolling back interrupted run \(id), newest step first.", style: .headline)
                let leftBefore = usersLeft.count
                let filesBefore = filesLeft.count
                let restartedBefore = serversRestarted.count
                let offBefore = triggersWereOff.count, maybeBefore = triggersMaybeOff.count
                sayFiredNoneAgain(replay.records)
                let rolled = rollBack(runID: id, journal: writer, instances: instances, settling: true, abandoning: abandoning,
                                      laterRuns: discardingLaterWrites ? .discard : keepingLaterWrites ? .keep : .hold, claimsGone: claimsGone,
                                      recoveredElsewhere: recoveredElsewhere)
                failures += rolled
                let left = usersLeft.count - leftBefore
                let files = filesLeft.count - filesBefore
                var outcome = rolled.contains { $0.reason == .abandonedByUser } ? "rolled back except on abandoned \(abandoning.sorted().joined(separator: ", "))" : "rolled back"
                if left > 0 { outcome += ", leaving \(left == 1 ? "1 user or grant" : "\(left) users or grants") noted above as they are" }
                if files > 0 { outcome += ", leaving \(Self.filesPhrase(files)) noted above as \(files == 1 ? "it is" : "they are")" }
                // A step the run failed with such words (an append refused under its hold after
                // its swap took the triggers off), whose own rollback was cut short after it had
                // put them back: this pass finds nothing that tells, the journal does (fresh
                // tester round 48, F1: "as they were before" over rows without their effects).
                let journaledOff = Self.firedNoneTargets((try? backend.replay(id))?.records ?? replay.records)
                if triggersWereOff.count == offBefore, journaledOff == 0,
                   let failed = replay.records.first(where: { $0.event == .stepFailed && ($0.message ?? "").contains(Self.firedNonePhrase) }) {
                    reporter.notice("run \(id) said, when its step failed: \(Redaction.escapeControlCharacters(failed.message ?? ""))", style: .note)
                    triggersWereOff.add(1)
                }
                let off = max(journaledOff, triggersWereOff.count - offBefore)
                let maybe = Self.journaledOnlyMaybe((try? backend.replay(id))?.records ?? replay.records)
                    && triggersMaybeOff.count - maybeBefore == triggersWereOff.count - offBefore
                outcome += Self.firedNoneClause(off, maybe: maybe, swap: true)
                let restarted = serversRestarted.count - restartedBefore
                if restarted > 0 { outcome += ", on \(restarted == 1 ? "a server" : "servers") that restarted since it began (noted above: what \(restarted == 1 ? "it" : "they") did not persist was not checked)" }
                recovered.append((id, outcome))
            }
        }
        return (recovered, failures)
    }

    /// Why `ferry rollback RUN` cannot run at all, whatever the targets hold now, thrown
    /// (`InvalidParameter`): a rollback run, a run that did not commit, one already rolled back,
    /// one whose checkpoints retention dropped, one a later committed run overlaps. Asked before
    /// the targets are read for later writes, so that the first answer is the one that holds
    /// (round-13 F6: "changed after the run ... or `--force`", then with `--force` "the
    /// checkpoints were already dropped"). Returns the run's replay.
    @discardableResult
    public func refuseRevert(runID: String) throws -> RunReplay {
        let replay = try backend.replay(runID)
        guard replay.kind == .apply else {
            throw FerryError(.invalidParameter, "run \(runID) is itself a rollback (of run \(replay.begin?.reverts ?? "?")); apply the plan again instead")
        }
        guard replay.isCommitted else {
            throw FerryError(.invalidParameter, "run \(runID) did not commit (\(replay.outcome.rawValue)); there is nothing to restore")
        }
        if replay.records.contains(where: { $0.event == .reverted }) {
            throw FerryError(.invalidParameter, "run \(runID) was already rolled back")
        }
        if replay.records.contains(where: { $0.event == .checkpointsDropped || $0.event == .checkpointsDropping }) {
            throw FerryError(.invalidParameter, "the checkpoints of run \(runID) were already dropped",
                             hint: "raise the retention with `ferry state keep N` to keep more runs' checkpoints")
        }
        let touched = Set(replay.swaps.map { "\($0.instance)/\($0.record.database)" })
        for later in runs.runIDs() where later > runID {
            guard let other = try? backend.replay(later), other.isCommitted,
                  !other.records.contains(where: { $0.event == .reverted }) else { continue }
            let overlap = Set(other.swaps.map { "\($0.instance)/\($0.record.database)" }).intersection(touched)
            if !overlap.isEmpty {
                throw FerryError(.invalidParameter, "run \(later) changed \(overlap.sorted().joined(separator: ", ")) after run \(runID)",
                                 hint: "roll back \(later) first")
            }
        }
        return replay
    }

    /// `ferry rollback RUN`: a run of its own (kind `rollback`, its own journal under
    /// `runs/NEW/`), which restores what a committed run replaced from its kept checkpoints, takes
    /// back its user sync, and puts the state records back as they were before it. The begin
    /// record is durable before the first change; killed, the rollback run counts as interrupted
    /// (`RunInterrupted` for plan, apply, backup, rollback) until `ferry recover` finishes it,
    /// since every step (`undoSwap`, `drop`, the user undo) is idempotent.
    /// Returns the new run's id and the failures (empty: done).
    /// `forced` (`ferry rollback RUN --force`): the targets are restored over what was written
    /// since the run committed; writes after this rollback begins are still never discarded.
    public func revert(runID: String, instances: [String: InstanceSpec], lockID: String, forced: Bool = false) throws -> (runID: String, failures: [Diagnostic]) {
        let replay = try refuseRevert(runID: runID)
        let state = try backend.readState()
        let id = RunStore.makeRunID()
        var claims: [RunBegin.Claim] = []
        for (instance, record) in replay.swaps {
            var claim = DatabaseClaim(database: record.database, role: .importing, runID: id)
            claim.journal = backend.journalPlace
            // Its undo works on that run's checkpoints: a dead rollback's claims stay while they
            // are there (round 16, C1).
            claim.reverts = runID
            claims.append(.init(instance: instance, claim: claim))
        }
        var previous: [String: ResourceRecord?] = [:]
        for address in (replay.begin?.previousRecords ?? [:]).keys { previous[address] = .some(state.resources[address]) }
        // What each target must still hold when its swap back runs, journaled with the begin record
        // (before any change), so that a kill at any later moment leaves `ferry recover` the check.
        // Unforced, that is the token the run journaled right after its swap: the caller has just
        // refused a rollback over a target written since the commit, so no read is needed. Forced
        // (or a swap with no token), it is the target's token now.
        let tokenSessions = SessionPool(engines: engines, instances: instances, journaled: replay.begin, pending: false)
        var restoreTokens: [RunBegin.RestoreToken] = []
        var unreadable: [String] = [], unreadableHints: [String] = []
        for (instance, record) in replay.swaps {
            if !forced, let token = record.afterSwapToken {
                restoreTokens.append(.init(instance: instance, database: record.database, token: token))
                continue
            }
            // Read now. A swap no longer in place has nothing to check; an engine without a token
            // cannot tell (restored as before); a target that cannot be read refuses the
            // rollback before any change, since nothing could tell a later write then.
            do {
                let session = try tokenSessions.session(instance)
                guard try session.swapIsInPlace(record), let token = try session.contentToken(of: record.database) else { continue }
                restoreTokens.append(.init(instance: instance, database: record.database, token: token))
            } catch {
                unreadable.append("\(instance)/\(record.database): \((error as? FerryError)?.diagnostics.first?.message ?? "\(error)")")
                if let hint = (error as? FerryError)?.diagnostics.first?.hint { unreadableHints.append(hint) }
            }
        }
        tokenSessions.closeAll()
        guard unreadable.isEmpty else {
            throw FerryError(.wrongStatus, "run \(runID) cannot be rolled back now; nothing was changed: what these targets hold cannot be read, so a write made during the rollback could not be told: \(unreadable.joined(separator: "; "))",
                             // What stops the read says what to do first (round-14 A4: a stray SQLite
                             // companion's hint was lost behind "once they can be read").
                             hint: (unreadableHints.first.map { $0 + "; then " } ?? "") + "run `ferry rollback \(runID)` again once they can be read")
        }
        let begin = RunBegin(runID: id, lockID: lockID, instances: replay.begin?.instances ?? [:], claims: claims,
                             graph: ActionGraph(actions: []), changes: [], previousRecords: previous,
                             stateSerial: state.serial, kind: .rollback, reverts: runID, restoreTokens: restoreTokens,
                             directoryIdentities: replay.begin?.directoryIdentities,
                             serverIdentities: replay.begin?.serverIdentities)
        let writer = try runs.createJournal(for: id)
        do {
            try writer.append(JournalRecord(event: .begin, begin: begin))
        } catch {
            // No begin record: nothing was claimed or changed, so this is no run; its directory
            // goes, as an apply's does (fresh tester round 19, F8: an empty run directory was
            // left for `ferry recover` to remove).
            try? runs.removeRun(id)
            throw error
        }
        reporter.notice("Run \(id): rolling back run \(runID).", style: .headline)
        // Claims first (as apply does): a run from another state directory sees the databases in use.
        let sessions = SessionPool(engines: engines, instances: instances, journaled: begin)
        for (name, group) in Dictionary(grouping: claims, by: \.instance).sorted(by: { $0.key < $1.key }) {
            do { try sessions.session(name).claim(group.map(\.claim)) } catch {
                // Refused before any change: give back what was claimed and end the run.
                releaseClaims(runID: id, replay: RunReplay(records: [JournalRecord(event: .begin, begin: begin)]),
                              instances: instances, session: sessions.session)
                sessions.closeAll()
                _ = try? writer.append(JournalRecord(event: .rolledBack, message: RunReplay.refusedMessage))
                throw error
            }
        }
        try writer.append(JournalRecord(event: .claimsTaken))
        // Refused before any change when a swap back cannot run now (sessions on a database it
        // renames): a rollback that stopped half-way would leave more to mend than it set out to.
        var blocked: [String] = [], gone: [String] = []
        do {
            for (instance, record) in replay.swaps {
                let session = try sessions.session(instance)
                // A checkpoint already gone cannot be restored: refused here, before any change,
                // on every engine (fresh tester w11 F5: MariaDB left a pending rollback instead),
                // and told apart from what can be mended (round-9 F6: its hint spoke of sessions).
                if record.swapped == true, record.targetExisted, let checkpoint = record.checkpoint,
                   let why = try session.checkpointGone(record) ?? ((try session.checkpointIsThere(record)) ? nil
                        : "the checkpoint \(checkpoint) of \(record.database) is gone: it was dropped or renamed after the swap, by someone else") {
                    gone.append("\(instance): \(why)")
                    continue
                }
                blocked += try session.undoSwapBlockers(record).map { "\(instance): \($0)" }
            }
        } catch {
            blocked.append("\(error)")
        }
        if !blocked.isEmpty || !gone.isEmpty {
            releaseClaims(runID: id, replay: RunReplay(records: [JournalRecord(event: .begin, begin: begin)]),
                          instances: instances, session: sessions.session)
            sessions.closeAll()
            _ = try? writer.append(JournalRecord(event: .rolledBack, message: RunReplay.refusedMessage))
            var hints: [String] = []
            if !blocked.isEmpty {
                hints.append("mend what is named (end the sessions named, or set \"terminateSessions\": true on the instance to let Ferry end them; rename away a database that took a target's name), then run `ferry rollback \(runID)` again")
            }
            // A checkpoint written into since its swap is there, not gone: its hint says what to
            // do about the writes, not about a rename (fresh tester round 41, F5).
            let written = gone.filter { $0.contains(Self.checkpointWrittenPhrase) }
            if written.count < gone.count {
                hints.append("a checkpoint that is gone cannot be restored by Ferry, so this run cannot be rolled back while it is named: one renamed by someone can be renamed back to its name (it keeps Ferry's mark), then `ferry rollback \(runID)` works; otherwise its target stays as it is (put back what it held from a backup of your own)")
            }
            if !written.isEmpty {
                hints.append("what was written into a checkpoint since its swap is not Ferry's, and swapped back it would go into the target as what the target held before the run: keep what you need of it, then put the checkpoint back as it was (or leave the target as it is: it holds the run's data); `ferry rollback \(runID)` works once the checkpoint holds again what it held at the swap")
            }
            throw FerryError(.wrongStatus, "run \(runID) cannot be rolled back now; nothing was changed: \((gone + blocked).joined(separator: "; "))",
                             hint: hints.joined(separator: "; "))
        }
        sessions.closeAll()
        return finishRevert(runID: id, journal: writer, instances: instances)
    }

    /// For every target a run swapped that existed before (its `swapBegun` record holds the
    /// fingerprint the plan saw), the fingerprint it has now that the original is back, where that
    /// differs: the original's bytes, but SQLite's fingerprint holds the file's ctime, which the
    /// renames of the swap and the restore change. Targets that cannot be read are left out.
    func restoredFingerprints(_ records: [JournalRecord], session: (String) throws -> any EngineSession) -> [DatabaseRef: (before: String, now: String)] {
        var before: [DatabaseRef: String] = [:]
        for record in records where record.event == .swapBegun && record.swap?.targetExisted == true {
            if let instance = record.instance, let database = record.database, let fingerprint = record.fingerprintBefore {
                before[DatabaseRef(instance: instance, database: database)] = fingerprint
            }
        }
        var changed: [DatabaseRef: (before: String, now: String)] = [:]
        for (instance, refs) in Dictionary(grouping: before.keys, by: \.instance) {
            guard let facts = try? session(instance).describe(fingerprinting: Set(refs.map(\.database))) else { continue }
            for ref in refs {
                if let now = facts.database(ref.database)?.fingerprint, let was = before[ref], now != was {
                    changed[ref] = (was, now)
                }
            }
        }
        return changed
    }

    /// Re-records, in `state`, the fingerprint of each restored target where a record (as a target,
    /// or as a copy's source) still holds the fingerprint from before the run (a target that had
    /// drifted before stays drifted).
    /// Returns true when a record changed.
    @discardableResult
    static func adopt(_ changed: [DatabaseRef: (before: String, now: String)], into state: inout State) -> Bool {
        var any = false
        for (key, record) in state.resources {
            var updated = record
            for index in updated.targets.indices {
                if let change = changed[updated.targets[index].ref], updated.targets[index].fingerprint == change.before {
                    updated.targets[index].fingerprint = change.now
                    any = true
                }
            }
            // A copy that read the restored database records it as a source (`instance/db`).
            for (ref, change) in changed where updated.sources[ref.description] == change.before {
                updated.sources[ref.description] = change.now
                any = true
            }
            state.resources[key] = updated
        }
        return any
    }

    /// After a complete rollback: a restored target reads as it did before the run, not as
    /// drifted (the state is written only when a record changes; a failed write leaves the drift
    /// shown, nothing else).
    /// Only a state the run began against (`beganAt`, its serial then) is touched: a state another
    /// writer changed meanwhile is that writer's.
    func refingerprintRestored(_ records: [JournalRecord], beganAt serial: Int?, session: (String) throws -> any EngineSession) {
        let changed = restoredFingerprints(records, session: session)
        guard !changed.isEmpty, let serial, var state = try? backend.readState(), state.serial == serial,
              Self.adopt(changed, into: &state) else { return }
        _ = try? backend.writeState(state)
    }

    /// Carries a rollback run to its end from its journal, whether it starts now or was killed at
    /// any moment: restores every swap of the reverted run (idempotent), takes back its user sync
    /// (grants that cannot be given back because their table is gone are reported and skipped),
    /// then commits (state records restored, naming this run), marks the reverted run `reverted`,
    /// releases the claims and journals `cleaned`. A failure leaves it interrupted for `ferry recover`.
    /// `claimsGone`: instances where the recover found none of the rollback's claims left
    /// before it began (`takeOverClaims`): released, whatever it left there.
    public func finishRevert(runID id: String, journal writer: any RunJournal,
                             instances: [String: InstanceSpec], discardingLaterWrites: Bool = false,
                             keepingLaterWrites: Bool = false, claimsGone: Set<String> = [],
                             abandoning: Set<String> = []) -> (runID: String, failures: [Diagnostic]) {
        let mine = (try? backend.replay(id)) ?? RunReplay(records: [])
        guard let begin = mine.begin, let target = begin.reverts, let replay = try? backend.replay(target) else {
            return (id, [Diagnostic(.internalError, "the journal of rollback run \(id) is unreadable")])
        }
        var failures: [Diagnostic] = []
        // The state directory the rollback's claims named when it began, where that is not this
        // one (a copied or moved project).
        let here = backend.journalPlace
        let begunElsewhere = begin.claims.compactMap(\.claim.journal).first { $0 != here && !DatabaseClaim.sameDirectory($0, here) }
        // Targets left as they are on instances the user gave up for good (`--abandon`): the
        // rollback still ends (fresh tester round 24, M3: the recover named `--abandon` as the
        // way out, which then refused every rollback run), and says "not as before". Those an
        // earlier pass abandoned (killed after journaling it) are said again.
        var abandonedHere = mine.records.filter { $0.event == .abandoned }.map {
            Diagnostic(.instanceNotFound, $0.message ?? "an undo step on \($0.instance ?? "?") was abandoned", instance: $0.instance, reason: .abandonedByUser)
        }
        // A killed rollback run's swap back may still run on a server: waited out first, as are
        // the reverted run's (its shadows' and checkpoints' names carry that run's id).
        let sessions = SessionPool(engines: engines, instances: instances, journaled: begin, settling: [id, target])
        defer { sessions.closeAll() }
        var state = (try? backend.readState()) ?? State()
        let committed = mine.isCommitted || (mine.hasCommitStarted && state.lastRunID == id)
        // Numbered as when the run committed: a target an earlier pass left as it is
        // (`--keep-later-writes`) keeps its step number, and is not touched again.
        let swaps = replay.swapsAtCommit
        var keptHere = replay.keptByRollback
        if !committed {
            // Every target's token as this rollback first reaches it, journaled before its first
            // change: a resumed rollback (`ferry recover` after a kill) that finds another token
            // leaves that target as it is, since it was written meanwhile.
            var firstTokens: [Int: String] = [:]
            if let tokens = begin.restoreTokens {
                for (index, (instance, record)) in swaps.reversed().enumerated() {
                    if let token = tokens.first(where: { $0.instance == instance && $0.database == record.database })?.token {
                        firstTokens[index + 1] = token
                    }
                }
            }
            // A rollback run of an earlier release journaled them at its first step instead.
            for record in mine.records where begin.restoreTokens == nil && record.event == .stepStarted && record.address == "restore" {
                if let step = record.step, firstTokens[step] == nil, let token = record.fingerprintBefore { firstTokens[step] = token }
            }
            if begin.restoreTokens == nil && !mine.records.contains(where: { $0.event == .stepStarted }) {
                for (index, (instance, record)) in swaps.reversed().enumerated() {
                    guard let session = try? sessions.session(instance), (try? session.swapIsInPlace(record)) == true,
                          let token = (try? session.contentToken(of: record.database)) ?? nil else { continue }
                    firstTokens[index + 1] = token
                    _ = try? writer.append(JournalRecord(event: .stepStarted, step: index + 1, address: "restore", instance: instance,
                                                         database: record.database, fingerprintBefore: token))
                }
            }
            // Steps an earlier pass finished are not redone (nor reported again).
            let done = Set(mine.records.filter { $0.event == .stepDone && $0.address == "restore" }.compactMap(\.step))
            for (index, (instance, record)) in swaps.reversed().enumerated()
            where !done.contains(index + 1) && !keptHere.contains("\(instance)/\(record.database)") {
                let step = index + 1
                /// Leaves this step's target as it is (`ferry recover --keep-later-writes`): journaled
                /// `kept` in the reverted run (`original`; nil: the common words) and in this one
                /// (`journaled`), said (`notice`), with what the run left switched on it.
                func keepAsItIs(_ session: any EngineSession, original: String?, journaled: String, notice: String) throws {
                    // Rows the swap left in the checkpoint that fired no trigger (fresh tester
                    // rounds 64, M1, and 65).
                    let off = record.targetExisted ? ((try? session.keptCheckpointRowsFiredNone(record)) ?? nil).map { "; " + $0 } ?? "" : ""
                    try keepWrittenTarget(instance: instance, record: record, of: replay, target: target, message: original.map { $0 + off })
                    keptHere.insert("\(instance)/\(record.database)")
                    _ = try? writer.append(JournalRecord(event: .kept, step: step, address: "restore", instance: instance, database: record.database,
                                                         message: journaled + off))
                    reporter.notice(notice + off, style: .note)
                    countTriggersOff(off.isEmpty ? [] : [off])
                    noteSettingsLeftSwitched(on: session, instance: instance, database: record.database, run: target)
                }
                /// After the swap back of this step: what the target held since goes, or stays for the user;
                /// then the step is done.
                func finishRestore(_ session: any EngineSession, writtenSince: Bool, leftEarlier: Bool, forcedOverWrites: Bool, resumed: Bool = false,
                                   releasedSince: Bool = false) throws {
                    KillPoint.check("change:revert.undone")
                    if forcedOverWrites && !leftEarlier {
                        reporter.notice("\(instance)/\(record.database): what it held since run \(target) committed (its data and the writes made since) is kept as \(record.shadow); drop it yourself once you have what you need", style: .note)
                    } else if writtenSince || leftEarlier || forcedOverWrites {
                        // `--discard-later-writes`: the checkpoint is back, and what the target
                        // held (the run's data and the later writes) stays under the shadow's
                        // name for the user, never dropped by Ferry; plans name it while it is there.
                        reporter.notice("\(instance)/\(record.database): what it held since (run \(target)'s data and the later writes) is kept as \(record.shadow); drop it yourself once you have what you need", style: .note)
                    } else {
                        // What the run had swapped in may now sit under the shadow's name.
                        do {
                            try session.dropShadow(record.shadow, identity: replay.shadowIdentity(instance: instance, shadow: record.shadow))
                        } catch let error as FerryError where error.diagnostics.first?.reason == .notTheRunsFile {
                            // A file someone else put at the shadow's name: not what the target
                            // held (that went with the undo: it held the run's data only, as
                            // checked), never announced as such; left as it is (round-11 F8).
                            reporter.notice("\(instance)/\(record.database): \(error.diagnostics.first?.message ?? "a file at the shadow's name is not the run's"); it is not what \(record.database) held since run \(target), and Ferry does not touch it", style: .note)
                            filesLeft.add(1)
                        } catch let error as FerryError where error.diagnostics.first?.reason == .inTheWayForNow {
                            // The swap back is done; the shadow holds the run's data only, but
                            // something of someone else's stands in the way of its drop for now (a
                            // foreign key of another database onto one of its tables): kept, named,
                            // never said to hold writes (fresh tester round 60, 9: "nothing was
                            // changed" and "writes made while this rollback ran" beside "restored").
                            _ = try writer.append(JournalRecord(event: .leftForUser, step: step, address: "restore", instance: instance,
                                                                database: record.database, shadow: record.shadow,
                                                                message: Self.shadowInTheWayNote))
                            let why = (error.diagnostics.first?.message ?? "something of someone else's stands in the way of its drop")
                                .replacingOccurrences(of: "; nothing was changed", with: "")
                            reporter.notice("\(instance)/\(record.database): its shadow \(record.shadow), which holds run \(target)'s data, was kept: \(why); drop it yourself once that is gone", style: .note)
                        } catch let error as FerryError where error.diagnostics.first?.code == .wrongStatus {
                            // The swap back is done (the target holds what it held before the run);
                            // the engine refused the shadow's drop because it holds what Ferry did not
                            // make (a write no token showed). It is the user's, journaled as such:
                            // the step is done, never "not restored" (round-8 F12).
                            _ = try writer.append(JournalRecord(event: .leftForUser, step: step, address: "restore", instance: instance,
                                                                database: record.database, shadow: record.shadow,
                                                                message: Self.writtenWhileRollingBackNote))
                            // Unforced, the target held the run's data alone at the check: what
                            // else the shadow holds was written while this rollback ran, before
                            // its rename back (into the live target) or since (into the shadow).
                            writesMovedOut.add(1)
                            reporter.notice("\(instance)/\(record.database): \(error.diagnostics.first?.message ?? "the shadow holds writes Ferry did not make"); writes made while this rollback ran (into \(record.database) between its check and its rename back, or into \(record.shadow) since) are in \(record.shadow), not in \(record.database); what it held since is kept as \(record.shadow); drop it yourself once you have what you need", style: .alert)
                        }
                        KillPoint.check("change:revert.shadowDropped")
                    }
                    reportLeft(session)
                    _ = try writer.append(JournalRecord(event: .stepDone, step: step, address: "restore", instance: instance, database: record.database))
                    if resumed && releasedSince {
                        // The rollback's claims were released since (another copy's recover that
                        // finished it, or an unlock): what was left of the step may have been
                        // done there (fresh tester round 25, N4: "only what was left ... was
                        // finished now" of a rollback another copy had finished).
                        reporter.notice("\(instance)/\(record.database) was restored before this rollback was cut short (its journal says so); its claims were released since (another copy's `ferry recover` may have finished that step there); whatever was left of it is done now", style: .undone)
                        return
                    }
                    if resumed {
                        // Said as what the journal proves: the swap back was done then; what the
                        // target holds now is not read (a later run may have replaced it since).
                        reporter.notice("restored \(instance)/\(record.database)" + (record.targetExisted ? " from its checkpoint" : " (removed: it did not exist before)") + " before this rollback was cut short (its journal says so); only what was left of that step was finished now", style: .undone)
                        return
                    }
                    reporter.notice("restored \(instance)/\(record.database)" + (record.targetExisted ? " from its checkpoint" : " (removed: it did not exist before)"), style: .undone)
                    noteSwappedInElsewhere(instance, record, on: session)
                }
                if abandoning.contains(instance) {
                    // Nothing is done or opened there: kept in the reverted run (its record stays
                    // the run's, as for any target left as it is) and journaled `abandoned` here.
                    // A step whose swap back an earlier pass journaled is said as that: the target
                    // holds what it held before the run again, the run's data sits under the
                    // shadow's name, and only that drop was not done (nothing is kept then).
                    let swappedBack = mine.records.contains { $0.event == .swappedBack && $0.step == step && $0.address == "restore" }
                    // Its swap back begun (the record written right before it: no token with it)
                    // and never recorded done: cut short inside it, it may have restored the target
                    // in part or whole, which only the instance can tell (fresh tester round 27,
                    // Q6: "not restored" of a MariaDB target its rollback had renamed back).
                    let swapBackBegun = !swappedBack && mine.records.contains {
                        $0.event == .stepStarted && $0.step == step && $0.address == "restore" && $0.fingerprintBefore == nil
                    }
                    let message = swappedBack
                        ? "\(instance)/\(record.database): \(Self.restoredBeforeCutShortPhrase) (its journal says so); what it held since (run \(target)'s data) is left as \(record.shadow) (the undo on \(instance) \(Self.abandonedPhrase) \(instance)`; nothing more was done there)"
                        : swapBackBegun
                        ? "\(instance)/\(record.database): \(Self.restoreBegunPhrase) and was never recorded done, so it may hold what it held before run \(target) in part or whole, or still run \(target)'s data; left as it is (the undo on \(instance) \(Self.abandonedPhrase) \(instance)`; nothing more was done there)"
                        : "\(instance)/\(record.database): not restored, left as it is (the undo on \(instance) \(Self.abandonedPhrase) \(instance)`; nothing was done there)"
                    do {
                        if !swappedBack {
                            try keepWrittenTarget(instance: instance, record: record, of: replay, target: target, message: message)
                        }
                        keptHere.insert("\(instance)/\(record.database)")
                        try writer.append(JournalRecord(event: .abandoned, step: step, address: "restore", instance: instance,
                                                        database: record.database, message: message))
                        abandonedHere.append(Diagnostic(.instanceNotFound, message, instance: instance,
                                                        hint: swappedBack
                                                            ? "\(record.shadow) on \(instance) (where that directory or server is) holds run \(target)'s data: the user's to drop once it is not needed"
                                                            : "what run \(target) left on \(instance) (its checkpoint \(record.checkpoint ?? record.shadow), where that directory or server is) is the user's to look at",
                                                        reason: .abandonedByUser))
                    } catch {
                        failures.append((error as? FerryError)?.diagnostics.first ?? Diagnostic(.diskFull, "\(instance)/\(record.database): cannot record its abandoned undo: \(error)"))
                    }
                    continue
                }
                do {
                    let session = try sessions.session(instance)
                    // The swap back was done by an earlier pass, cut short before the step's end:
                    // only the shadow's drop is left (round 17, D3).
                    if mine.records.contains(where: { $0.event == .swappedBack && $0.step == step && $0.address == "restore" }) {
                        let leftEarlier = mine.records.contains { $0.event == .leftForUser && $0.step == step }
                        try finishRestore(session, writtenSince: false, leftEarlier: leftEarlier, forcedOverWrites: false, resumed: true,
                                          releasedSince: claimsGone.contains(instance))
                        continue
                    }
                    // Fresh tester round 17 (w38), D1: the rollback's claim on the target released
                    // since it began (`ferry unlock --claims` from another working copy, its state
                    // directory away): another run may have swapped the target since, and what
                    // the undo finds tells nothing of that (a later copy of the same source has
                    // the same content), so nothing is restored over it until the user chooses,
                    // as for an apply run's recover (round-14 A3). A rollback keeps its claims
                    // until it ends, so a claim gone after it journaled taking them means
                    // released (one killed before it took them holds none yet).
                    // Gone before this pass began (`claimsGone`): released whatever it left
                    // (fresh tester round 23, L2: a stale copy's pass, after another copy had
                    // finished the rollback, said "restored ... finished" and restored nothing).
                    // Claims that end with their connection (Redis) lost during a pass: held then,
                    // and on every later pass (its `stepFailed` record says so; fresh tester round
                    // 26, P1).
                    let lostBefore = mine.records.contains { $0.event == .stepFailed && $0.step == step && ($0.message ?? "").contains(Self.claimsReleasedPhrase) }
                    if mine.records.contains(where: { $0.event == .claimsTaken }),
                       begin.claims.contains(where: { $0.instance == instance && $0.claim.database == record.database }),
                       try lostBefore || session.claimsStillHeld(ofRun: id) == false
                           || claimsGone.contains(instance) || Self.claimReleased(of: id, on: record.database, leftoverRuns: [id, target], session) {
                        let why = "the claims of rollback run \(id) on \(instance) \(Self.claimsReleasedPhrase) (by `ferry unlock --claims`, or by the `ferry recover` of another copy of this project, which then finished it there?), so another run may have swapped or written \(record.database) since, and nothing tells that from what this rollback left"
                        if keepingLaterWrites {
                            // Where what it held before is, as far as the engine can tell (round 18,
                            // E3: "stays in C" was said of a checkpoint holding no more than
                            // definitions, the undo having moved the tables back before the release).
                            let before = ((try? session.checkpointGone(record)) ?? nil).map { "what it held before run \(target) is not in its checkpoint (\($0)); since the release another run may have moved it into a checkpoint of its own: look there before you drop anything" }
                                ?? "what it held before run \(target) stays in \(record.checkpoint ?? record.shadow) where that is still there"
                            try keepAsItIs(session, original: "\(instance)/\(record.database) was left as it is (on purpose: `ferry recover --keep-later-writes`): \(why)",
                                           journaled: "left as it is (its claims were released); \(before)",
                                           notice: "left \(instance)/\(record.database) as it is: \(why); \(before)")
                            continue
                        }
                        if !discardingLaterWrites {
                            throw FerryError(.wrongStatus, "\(instance)/\(record.database) was not restored: \(why); it was left as it is (nothing was restored, dropped or renamed there)",
                                             hint: "look at what \(record.database) holds now: `ferry recover --keep-later-writes` finishes the rollback leaving it as it is (what it held before run \(target) stays in \(record.checkpoint ?? record.shadow) where that is still there); `ferry recover --discard-later-writes` undoes the swap anyway where the undo's own checks allow it (what another run swapped in goes into the run's shadow; a target written since, or holding what the engine can tell the run did not swap in, is still left as it is)",
                                             instance: instance, reason: .heldClaimsReleased)
                        }
                        if !mine.records.contains(where: { $0.event == .stepStarted && $0.step == step && $0.address == "restore" }),
                           let nothing = try Self.undoneByOthers(record, instance: instance, on: session) {
                            try keepAsItIs(session, original: nothing.message, journaled: "left as it is (its claims were released and nothing of the swap is there any more)",
                                           notice: "left \(instance)/\(record.database) as it is: nothing of the swap is there any more")
                            continue
                        }
                        reporter.notice("\(instance)/\(record.database): the claims of rollback run \(id) there were released since it began; as asked (--discard-later-writes), it is restored anyway unless the checks below find the target written since or its checkpoint gone", style: .note)
                    }
                    // A checkpoint dropped or renamed by someone else after the swap (W8-4):
                    // nothing can restore the target, so only leaving it as it is ends the run.
                    // In a copy of the journal (the project copied while the rollback was
                    // pending), the recover of another copy may have used it: said so, never
                    // "by someone else" alone (fresh tester round 24, M4).
                    if var gone = try checkpointGone(record, step: step, on: session, rollback: mine) {
                        if let place = begunElsewhere {
                            gone = "the checkpoint \(record.checkpoint ?? record.shadow) of \(record.database) is gone; this rollback began in \(Redaction.escapeControlCharacters(place)) and this journal is a copy of it (the project was copied while the rollback was pending): the `ferry recover` of another copy may have finished it and restored \(record.database) with that checkpoint, or someone else dropped or renamed it, which this journal cannot tell"
                        }
                        if keepingLaterWrites {
                            let message = "left as it is, with whatever it holds now (not checked for writes): \(gone), so what it held before run \(target) cannot be restored"
                            try keepAsItIs(session, original: "\(instance)/\(record.database) \(message) (on purpose: `ferry recover --keep-later-writes`)",
                                           journaled: message,
                                           notice: "left \(instance)/\(record.database) as it is (kept with whatever it holds now, any writes made since included): \(gone), so what it held before run \(target) cannot be restored")
                            continue
                        }
                        throw FerryError(.copyError, "\(instance)/\(record.database): \(gone), so the rollback cannot put back what it held before run \(target); it was left as it is (nothing was restored, dropped or renamed)",
                                         hint: "`ferry recover --keep-later-writes` finishes the rollback leaving \(record.database) with whatever it holds now (the run's data and writes made since, or what an undo had already moved back: `ferry status` of the rollback run says where it stopped)" + (discardingLaterWrites ? " (`--discard-later-writes` cannot restore a checkpoint that is gone)" : ""),
                                         instance: instance, reason: .checkpointGoneSinceSwap)
                    }
                    var writtenSince = false
                    if let first = firstTokens[step], try session.swapIsInPlace(record),
                       let now = try session.contentToken(of: record.database), ContentTokens.comparable(now, first), now != first {
                        writtenSince = true
                    }
                    if writtenSince && !discardingLaterWrites {
                        if keepingLaterWrites {
                            // On purpose: the target stays with what was written, its checkpoint
                            // beside it, recorded in the reverted run as a kept swap (status,
                            // plans and retention then treat it as every kept target).
                            // Said as what it holds where the engine tells objects made in it
                            // (or a database made again under its name) from writes (round 15, B5).
                            let made = (try? session.madeInSinceSwap(record)) ?? nil
                            try keepAsItIs(session, original: made.map { "\(instance)/\(record.database) was left as it is, \(Self.madeInPhrase) after this rollback began (on purpose: `ferry recover --keep-later-writes`): \($0)" },
                                           journaled: "left as it is (written after this rollback began); what it held before run \(target) is \(record.checkpoint ?? record.shadow)",
                                           notice: "left \(instance)/\(record.database) as it is (written after this rollback began); what it held before run \(target) stays beside it as \(record.checkpoint ?? record.shadow)")
                            continue
                        }
                        // Objects made in it since, which no undo drops: `--discard-later-writes`
                        // is not offered for it (round-13 F6: it was, and then refused).
                        if let made = try session.madeInSinceSwap(record) {
                            throw FerryError(.wrongStatus, "\(instance)/\(record.database) \(Self.writtenSinceRollbackPhrase), so the rollback \(Self.keptPhrase) for now: \(made); the checkpoint \(record.checkpoint ?? "") still holds what it held before run \(target)",
                                             hint: "`ferry recover --keep-later-writes` finishes the rollback leaving it as it is (its checkpoint beside it); to restore the checkpoint instead, save what was made in it, drop that, then run `ferry recover --discard-later-writes`", instance: instance,
                                             reason: .heldMadeInSinceRollbackBegan)
                        }
                        throw FerryError(.wrongStatus, "\(instance)/\(record.database) \(Self.writtenSinceRollbackPhrase) (or, where the rollback could not check it at its start, since run \(target) committed), so the rollback \(Self.keptPhrase) for now (restoring the checkpoint would discard those writes); the checkpoint \(record.checkpoint ?? "") still holds what it held before run \(target)",
                                         hint: "`ferry recover --keep-later-writes` finishes the rollback leaving it as it is (its checkpoint beside it); `ferry recover --discard-later-writes` restores the checkpoint over those writes", instance: instance,
                                         reason: .heldWrittenSinceRollbackBegan)
                    }
                    // What `--discard-later-writes` keeps under the shadow's name is journaled
                    // before the undo, so that no later pass (after a kill between the two) takes
                    // the shadow for Ferry's own and drops it.
                    let leftEarlier = mine.records.contains { $0.event == .leftForUser && $0.step == step }
                    // `ferry rollback RUN --force` over a target written after the run committed
                    // (the token the rollback began with is not the one the run journaled at its
                    // swap): restored all the same, and what it held (the run's data and those
                    // writes) is kept under the shadow's name for the user, as with
                    // `--discard-later-writes` (round-8 F12: the drop of that shadow was refused,
                    // and status said "not restored" for a target the rollback had restored).
                    let forcedOverWrites = !writtenSince && Self.writtenBeforeRollback(record, token: firstTokens[step])
                    if (writtenSince || forcedOverWrites) && !leftEarlier {
                        // With the identity of what goes there (the target as it is now, whose
                        // undo keeps it under the shadow's name): plans announce that object
                        // only, never a file someone made at the shadow's name (round-11 F8).
                        _ = try writer.append(JournalRecord(event: .leftForUser, step: step, address: "restore", instance: instance,
                                                            database: record.database, shadow: record.shadow,
                                                            identity: (try? session.shadowIdentity(of: record.database)) ?? nil))
                    }
                    _ = try writer.append(JournalRecord(event: .stepStarted, step: step, address: "restore", instance: instance, database: record.database))
                    var checked = record
                    checked.expectedTargetToken = discardingLaterWrites ? nil : firstTokens[step]
                    // What this rollback's earlier passes journaled inside the undo (a switch of
                    // the target's default collation cut short) comes back with the record.
                    checked.notes = mine.swapNotes(instance: instance, shadow: record.shadow, step: step)
                    // Read before the undo makes the triggers again (fresh tester round 61, 1); with
                    // `--discard-later-writes` too: rows written after a killed pass's rename stay
                    // live all the same (fresh tester round 64, H2: "finished" over 14-27 of them).
                    // (Also after an earlier pass kept the shadow for `--discard-later-writes`.)
                    let firedNone = (try? session.undoneRowsFiredNone(record)) ?? nil
                    // Rows the checkpoint holds that were written into the old tables while the
                    // swap had their triggers off, which the restore makes live (fresh tester round
                    // 64, H1: a replace of a target with a foreign key; "as before" over 388 of
                    // them). Read before the undo moves the checkpoint's tables.
                    let restoredOff = record.targetExisted ? (try? session.restoredRowsFiredNone(record)) ?? nil : nil
                    do {
                        try session.undoSwap(checked) { note in
                            try writer.append(JournalRecord(event: .swapNoted, step: step, address: "restore", instance: instance,
                                                            database: record.database, shadow: record.shadow, message: note))
                        }
                    } catch let stop as FerryError where keepingLaterWrites && stop.diagnostics.first?.reason == .inTheWayForNow {
                        // Stopped for now by something of someone else's (a foreign key of another
                        // database on a table it moves, another session's statement or lock),
                        // nothing renamed: `--keep-later-writes` ends the rollback leaving the
                        // target as it is (fresh tester round 61, 5: while the key stayed, every
                        // option repeated the refusal, and plans were refused for good).
                        let why = stop.diagnostics.first?.message ?? "something of someone else's stood in the way"
                        let finished = Self.finishingKeptUndo(record) { session }
                        let stays = "what it held before run \(target) stays in \(record.checkpoint ?? record.shadow)"
                        try keepAsItIs(session, original: "\(instance)/\(record.database) was left as it is (on purpose: `ferry recover --keep-later-writes`): \(why)\(finished)",
                                       journaled: "\(Self.keptInTheWayPhrase); \(stays)",
                                       notice: "left \(instance)/\(record.database) as it is (its undo was stopped by something in the way: \(why)); \(stays)\(finished)")
                        continue
                    } catch var refusal as FerryError where refusal.diagnostics.first?.code == .wrongStatus
                                && [nil, .keptWrittenSinceSwap].contains(refusal.diagnostics.first?.reason)
                                && (try? session.checkpointGone(record)) ?? nil == nil {
                        // The engine's undo refused because the target holds what the run did not
                        // put there (an application's object or table, or a database made again
                        // under its name, after this rollback began): nothing of that was touched.
                        // `--keep-later-writes` leaves the target as it is now, as for any target
                        // written since the rollback began; without it the rollback stays pending
                        // and says so (fresh tester round 12, G3: every pass refused, and
                        // `--keep-later-writes` could not end it).
                        if keepingLaterWrites {
                            let why = refusal.diagnostics.first?.message ?? "it holds what the run did not put there"
                            // An undo cut short past its rename: its rest is done around what was
                            // made since (fresh tester round 57, H3: the target was kept without
                            // its own views, routines, triggers and events).
                            let finished = Self.finishingKeptUndo(record) { session }
                            let stays = "what it held before run \(target) stays in \(record.checkpoint ?? record.shadow)"
                            try keepAsItIs(session, original: "\(instance)/\(record.database) was left as it is, \(Self.madeInPhrase) after this rollback began (on purpose: `ferry recover --keep-later-writes`): \(why)\(finished)",
                                           journaled: finished.isEmpty ? "left as it is (made or written in after this rollback began); what it held before run \(target) is \(record.checkpoint ?? record.shadow)"
                                               : "kept with what was made or written in it after this rollback began, its own tables back\(finished)",
                                           notice: finished.isEmpty ? "left \(instance)/\(record.database) as it is (made or written in after this rollback began); \(stays)"
                                               : "kept \(instance)/\(record.database) with what was made or written in it after this rollback began, its own tables back\(finished)")
                            continue
                        }
                        // Held for the user's choice; `--discard-later-writes` is offered as a way
                        // to restore only where the engine does not say that what was made there
                        // since would still stop it (round 15, B3: after the user moved the
                        // application's table out, the summary still said it could not).
                        refusal.diagnostics[0].reason = ((try? session.madeInSinceSwap(record)) ?? nil) != nil
                            ? .heldMadeInSinceRollbackBegan : .heldWrittenSinceRollbackBegan
                        throw refusal
                    } catch let changed as FerryError where changed.diagnostics.first.map({ $0.reason == .checkpointGoneSinceSwap && $0.message.contains(Self.changedAsMovedBackPhrase) }) == true {
                        // The undo moved the target's tables back and made its objects, and says
                        // what changed as it did (fresh tester round 60, 6): its words, never
                        // "nothing was restored".
                        throw FerryError(.copyError, "\(instance)/\(record.database): \(changed.message)", hint: changed.diagnostics.first?.hint, instance: instance, reason: .checkpointGoneSinceSwap)
                    } catch {
                        // The checkpoint went after the check above, as this rollback began
                        // (round-11 F6: a raw "does not exist" from the server): where the engine
                        // tells a gone checkpoint at any point, the failed undo changed nothing,
                        // and it ends as a checkpoint found gone at the check does.
                        guard let gone = (try? session.checkpointGone(record)) ?? nil else { throw error }
                        throw FerryError(.copyError, "\(instance)/\(record.database): \(gone), so the rollback cannot put back what it held before run \(target); it was left as it is (nothing was restored, dropped or renamed)",
                                         hint: "`ferry recover --keep-later-writes` finishes the rollback leaving \(record.database) with whatever it holds now (the run's data and writes made since, or what an undo had already moved back: `ferry status` of the rollback run says where it stopped)" + (discardingLaterWrites ? " (`--discard-later-writes` cannot restore a checkpoint that is gone)" : ""),
                                         instance: instance, reason: .checkpointGoneSinceSwap)
                    }
                    // Journaled before the shadow's drop: a pass after a kill from here on knows the
                    // swap back done (fresh tester round 17, D3: with the checkpoint used up by the undo,
                    // and the target replaced by a later run since, it said the checkpoint was "dropped
                    // by someone else").
                    _ = try writer.append(JournalRecord(event: .swappedBack, step: step, address: "restore", instance: instance, database: record.database))
                    // With rows the undo found written into tables whose triggers it made after
                    // its rename (fresh tester round 62, 1); journaled before the step is done,
                    // said after (fresh tester round 65, F1: a kill in between lost them).
                    // The engine's own reading under its hold, where it made one, tells the rows
                    // since an earlier pass's rename up to the making of the triggers: it stands
                    // for the reading before the undo then (fresh tester round 66, F1).
                    let engineNotes = session.takeFiredNoneNotes().map { "\(instance)/\($0)" }
                    let notes = [engineNotes.isEmpty ? firedNone : nil, restoredOff].compactMap { $0 }.map { "\(instance)/\(record.database): \($0)" }
                        + engineNotes
                    Self.journalFiredNone(notes, on: writer, instance: instance, database: record.database, step: step)
                    try finishRestore(session, writtenSince: writtenSince, leftEarlier: leftEarlier, forcedOverWrites: forcedOverWrites)
                    for note in notes { reporter.notice(note, style: .note) }
                    countTriggersOff(notes)
                } catch {
                    let d = FerryError.diagnostic(error)
                    failures.append(d)
                    _ = try? writer.append(JournalRecord(event: .stepFailed, step: step, instance: instance, database: record.database,
                                                         message: "[\(d.code.rawValue)] \(d.message)", reason: d.reason))
                    Self.journalFiredNoneWindow(d, on: writer, instance: instance, database: record.database, step: step)
                }
            }
            let synced = replay.records.filter { $0.event == .usersSynced }.compactMap { r in r.instance.map { ($0, r.undo ?? "") } }
            for (instance, undo) in synced.reversed() {
                if abandoning.contains(instance) {
                    reporter.notice("\(instance): the users and grants run \(target) synced were left as they are (the undo on \(instance) was abandoned)", style: .note)
                    continue
                }
                do {
                    let notes = try sessions.session(instance).undoUserSyncReporting(undo)
                    for note in notes { reporter.notice("\(instance): \(note)", style: .note) }
                    usersLeft.add(notes.count)
                    KillPoint.check("change:revert.usersUndone")
                    reporter.notice(Self.usersUndone(on: instance, left: notes.count), style: .undone)
                } catch {
                    let d = FerryError.diagnostic(error)
                    failures.append(d)
                    _ = try? writer.append(JournalRecord(event: .stepFailed, instance: instance, message: "[\(d.code.rawValue)] users: \(d.message)"))
                }
            }
            guard failures.isEmpty else {
                if failures.allSatisfy({ $0.reason == .checkpointGoneSinceSwap }) {
                    reporter.notice("Rollback run \(id) stays pending: the checkpoints of the targets named below \(Self.checkpointsState(failures)), so they cannot be restored now (\(Self.checkpointsRetryClause(failures))). `ferry recover --keep-later-writes` finishes it leaving them as they are. Until then plan and apply are refused (RunInterrupted).", style: .alert, run: id)
                } else if failures.allSatisfy({ $0.reason?.isHeldForUser == true || $0.reason == .checkpointGoneSinceSwap || $0.reason == .heldClaimsReleased }) {
                    let released = failures.contains { $0.reason == .heldClaimsReleased }
                    reporter.notice("Rollback run \(id) stays pending: the targets named below were written after it began\(released ? ", or its claims on them were released" : ""). `ferry recover --keep-later-writes` finishes it leaving them as they are; " + Self.discardClause(failures) + " Until then plan and apply are refused (RunInterrupted).", style: .alert, run: id)
                } else {
                    // "Once reachable" only where an instance could not be reached (round-12 G4:
                    // it was said of refusals on reachable instances).
                    let unreachable = failures.allSatisfy { $0.code == .instanceNotFound }
                    reporter.notice("Rollback run \(id) is incomplete; " + (unreachable ? "run `ferry recover` once the instances are reachable." : "mend what the errors name, then run `ferry recover`."), style: .alert, run: id)
                }
                return (id, failures + abandonedHere)
            }
            do {
                try writer.append(JournalRecord(event: .committing))
                state = try backend.readState()
                for (address, previous) in replay.begin?.previousRecords ?? [:] {
                    // A resource with a target left as it is keeps the run's record: the target
                    // holds the run's data (and the writes made since).
                    if let current = state.resources[address],
                       current.targets.contains(where: { keptHere.contains("\($0.instance)/\($0.database)") }) { continue }
                    // A backup's sets are what its location holds, which no rollback changes: the
                    // set the run took stays, and a set it pruned is gone. The record keeps the
                    // list as the run left it (fresh tester round 41, F4: the pruned set stayed
                    // listed forever, and the new one was recorded nowhere, never pruned).
                    if let current = state.resources[address], !current.backupSets.isEmpty || !(previous?.backupSets.isEmpty ?? true) {
                        var restored = previous ?? current
                        restored.backupSets = current.backupSets
                        state.resources[address] = restored
                        continue
                    }
                    if let previous { state.resources[address] = previous } else { state.resources[address] = nil }
                }
                state.lastRunID = id
                // The restored originals' fingerprints (SQLite's hold the ctime the renames changed).
                Self.adopt(restoredFingerprints(replay.records, session: sessions.session)
                            .filter { !keptHere.contains("\($0.key.instance)/\($0.key.database)") }, into: &state)
                state = try backend.writeState(state)
                try writer.append(JournalRecord(event: .committed))
            } catch {
                return (id, [FerryError.diagnostic(error)])
            }
        }
        if !mine.isCommitted, mine.hasCommitStarted { _ = try? writer.append(JournalRecord(event: .committed)) }
        if !replay.records.contains(where: { $0.event == .reverted }),
           let original = try? runs.openJournal(for: target) {
            do { try original.append(JournalRecord(event: .reverted, message: id)) } catch {
                failures.append(Diagnostic(.internalError, "cannot mark run \(target) as rolled back: \(error)"))
                return (id, failures)
            }
        }
        // Claims on an abandoned instance stay where they are (`ferry unlock --claims` there):
        // not a clean-up left for a later recover, which could not reach it either.
        let left = releaseClaims(runID: id, replay: mine, instances: instances, session: sessions.session, except: abandoning)
        if left.isEmpty {
            _ = try? writer.append(JournalRecord(event: .cleaned))
        } else {
            _ = try? writer.append(JournalRecord(event: .cleanupPending, message: left.joined(separator: "; ")))
        }
        writeSummary(runID: id, begin: begin, target: target)
        return (id, failures + abandonedHere)
    }

    /// Journals, in the reverted run `target`'s journal, that its swap `record` on `instance` is
    /// left as it is (`kept`, pointing at the swap's `swapDone` record, like an in-run rollback's).
    func keepWrittenTarget(instance: String, record: SwapRecord, of replay: RunReplay, target: String, message: String? = nil) throws {
        guard let seq = replay.records.last(where: { $0.event == .swapDone && $0.instance == instance && $0.swap?.shadow == record.shadow })?.seq else {
            throw FerryError(.internalError, "run \(target) has no swap record for \(instance)/\(record.database)")
        }
        let original = try runs.openJournal(for: target)
        try original.append(JournalRecord(event: .kept, instance: instance, database: record.database, undoes: seq,
                                          message: message ?? "\(instance)/\(record.database) \(Self.writtenSinceRollbackPhrase), so the rollback \(Self.keptPhrase) (on purpose: `ferry recover --keep-later-writes`); what it held before run \(target) is kept beside it as \(record.checkpoint ?? record.shadow)"))
    }

    /// Why the checkpoint of the finished swap `record` (journaled as `seq`) cannot be restored
    /// by a run's own rollback, judged from the run's journal where the engine cannot tell
    /// (`EngineSession.checkpointGone` nil; MySQL, Redis): while no undo of that swap has begun
    /// (no `undoBegun` of it), nothing of Ferry's removed the checkpoint, so one that is not
    /// there was dropped or renamed by someone else. Only while the target still holds what
    /// the swap put there (its token is the swap's `afterSwapToken`): an undo whose `undoBegun`
    /// could not be journaled (a full disk) has put the original back, which gives another
    /// token. Nil for a swap that did not finish (its checkpoint may never have been made),
    /// without a checkpoint or a token, when the checkpoint is there, or when the target's token
    /// differs (then `writtenSinceSwap` or the engine's undo decides, as before).
    static func checkpointGoneByJournal(_ record: SwapRecord, seq: Int, replay: RunReplay, on session: any EngineSession) throws -> String? {
        guard record.swapped == true, record.targetExisted, let checkpoint = record.checkpoint, !session.tellsGoneCheckpoints,
              !replay.records.contains(where: { $0.event == .undoBegun && $0.undoes == seq }),
              !(try session.checkpointIsThere(record)),
              // An undo the journal could not record left the engine's own note of its end
              // (fresh tester round 19, F3): the checkpoint is what it put back.
              !(try session.undoFinished(record)) else { return nil }
        // Whatever the target holds now (the swap's data, a database made again under its name,
        // nothing): with no undo begun, nothing of Ferry's removed the checkpoint, so the target
        // cannot be restored and is never reported so (fresh tester w14 F2: a target dropped or
        // made again beside a dropped checkpoint read as an undo already finished).
        let now = try? session.contentToken(of: record.database)
        let target = record.afterSwapToken == nil || now == record.afterSwapToken ? ""
            : now == nil ? ", and \(record.database) itself is gone too" : ", and \(record.database) was changed or made again since"
        return "the checkpoint \(checkpoint) of \(record.database) is gone: it was dropped or renamed after the swap, by someone else (no undo of the swap had begun)\(target)"
    }

    /// Why `record`'s checkpoint cannot be restored (`EngineSession.checkpointGone`), or nil.
    /// An engine that cannot tell is judged from this rollback's journal: while no swap back of
    /// step `step` has begun (no `stepStarted` of it), nothing of Ferry's removed the checkpoint,
    /// so one that is not there was dropped or renamed by someone else.
    func checkpointGone(_ record: SwapRecord, step: Int, on session: any EngineSession, rollback mine: RunReplay) throws -> String? {
        guard record.targetExisted, let checkpoint = record.checkpoint else { return nil }
        if let gone = try session.checkpointGone(record) { return gone }
        let undoBegan = mine.records.contains { $0.event == .stepStarted && $0.step == step && $0.address == "restore" && $0.fingerprintBefore == nil }
        guard !undoBegan, !(try session.checkpointIsThere(record)) else { return nil }
        return "the checkpoint \(checkpoint) of \(record.database) is gone: it was dropped or renamed after the swap, by someone else (this rollback had not touched it)"
    }

    func writeSummary(runID: String, begin: RunBegin, target: String) {
        guard let replay = try? backend.replay(runID) else { return }
        let summary = RunSummary(runID: runID, startedAt: replay.records.first?.time ?? Date(), finishedAt: Date(),
                                 outcome: replay.outcome, resources: begin.previousRecords.keys.sorted(),
                                 bytes: 0, rows: 0, checkpointsKept: 0, failures: [])
        try? runs.writeSummary(summary)
    }

    /// After an undo of `record`'s swap: names the database the swap had put in place when
    /// someone renamed it off the target's name after the swap (the undo restored the
    /// checkpoint into the free name and left that one as it is; fresh tester w5 X6).
    func noteSwappedInElsewhere(_ instance: String, _ record: SwapRecord, on session: any EngineSession) {
        guard let elsewhere = try? session.swappedInElsewhere(afterUndoOf: record) else { return }
        reporter.notice("\(instance)/\(record.database): the database the run swapped in was renamed to \(elsewhere) after the swap, by someone else; it was left as it is (it holds what the run put there)", style: .note)
    }
}

/// Where a run wrote, against where the plan places an instance now (fresh tester w12 F2).
public enum RunLocation {
    /// Why nothing of a run may be done on instance `name` as the plan gives it now (`spec`):
    /// the run journaled it elsewhere (`wrote`), or its directory is missing or another one
    /// than the run's (`identity`: `RunBegin.directoryIdentities`); nil when it is the run's.
    /// An instance given by a directory is judged by that directory's identity alone, so a
    /// checkout moved with `mv` (same inode) is still the run's; without a recorded identity (a
    /// journal of an earlier release) it is taken as the plan gives it, as that release did.
    /// `pending`: the run is interrupted, so `ferry recover --abandon` can end it; false for a
    /// `ferry rollback RUN` of a finished run, where there is nothing to end (fresh tester round
    /// 27, Q9: the hint named `--abandon`, which then said "Nothing to recover").
    public static func refusal(_ name: String, _ spec: InstanceSpec, wrote: InstanceSpec?, identity: String?, pending: Bool = true) -> FerryError? {
        let byDirectory = spec.path != nil && wrote?.path != nil && spec.engine == wrote?.engine
        let goneForGood = pending ? "if it is gone for good, `ferry recover --abandon \(name)` ends the run leaving \(name) as it is"
            : "if it is gone for good, there is nothing of the run there for Ferry to roll back (a copy of the project has its own directory, not the run's)"
        if let wrote, !byDirectory, !spec.isSameLocation(as: wrote) {
            return FerryError(.instanceNotFound, "instance \(name) is \(spec.displayLocation) in the plan now, but the run wrote to \(wrote.displayLocation); Ferry undoes a run only where it wrote, so nothing was done on \(name)",
                              hint: "point \(name) in the plan at \(wrote.displayLocation) again, then run the command again; \(goneForGood)", instance: name)
        }
        if byDirectory, let identity, !spec.isDirectory(identifiedBy: identity) {
            return FerryError(.instanceNotFound, "the directory \(spec.displayLocation) of instance \(name) is missing or is not the one the run wrote to (\(wrote?.displayLocation ?? "?") then; another directory or volume is there now); nothing was done on \(name)",
                              hint: "mount or put back the directory the run used, then run the command again; \(goneForGood)", instance: name)
        }
        return nil
    }

    /// The first refusal (`refusal`) for any instance of `begin` that `instances` (the plan's) names.
    public static func refusal(of begin: RunBegin?, planned instances: [String: InstanceSpec], pending: Bool = true) -> FerryError? {
        guard let begin else { return nil }
        for (name, wrote) in begin.instances.sorted(by: { $0.key < $1.key }) {
            guard let spec = instances[name] else { continue }
            if let refusal = refusal(name, spec, wrote: wrote, identity: begin.directoryIdentities?[name], pending: pending) { return refusal }
        }
        return nil
    }
}

/// Sessions opened on demand during a rollback, one per instance, closed together. Instances come
/// from the plan, or from the run's journal when the plan no longer names them.
final class SessionPool {
    private let engines: EngineRegistry
    private let instances: [String: InstanceSpec]
    private let journaled: [String: InstanceSpec]
    private var open: [String: any EngineSession] = [:]
    /// Runs whose statements still running on an instance are waited out (and ended) before its
    /// session is handed out (`EngineSession.settleStatements`): recovery after a kill.
    private let settling: [String]
    private var unsettled: [String: Error] = [:]

    /// Directory identities the run journaled (`RunBegin.directoryIdentities`).
    private let identities: [String: String]
    /// Server identities the run journaled (`RunBegin.serverIdentities`).
    private let servers: [String: String]
    /// Server incarnations the run journaled (`RunBegin.serverIncarnations`), and the instances
    /// whose server answered with another one (restarted since: `EngineSession.serverIncarnation`).
    private let incarnations: [String: String]
    private(set) var restarted: [String] = []

    /// `journaled`: the instances of the run whose journal is undone, as its begin record holds
    /// them (`RunBegin`).
    /// `pending`: the refusals' hints offer `ferry recover --abandon` (false: no run is pending
    /// there to end, a `ferry rollback RUN`'s reads before it begins).
    private let pending: Bool

    init(engines: EngineRegistry, instances: [String: InstanceSpec], journaled begin: RunBegin?, settling: [String] = [], pending: Bool = true) {
        self.pending = pending
        self.engines = engines
        self.instances = instances
        self.journaled = begin?.instances ?? [:]
        self.identities = begin?.directoryIdentities ?? [:]
        self.servers = begin?.serverIdentities ?? [:]
        self.incarnations = begin?.serverIncarnations ?? [:]
        self.settling = settling
    }

    /// A session to `name`, only where the run wrote (fresh tester w12 F2: `ferry recover` undid a
    /// run on whatever the plan's instance named then, and said "as they were"): an instance the
    /// plan now places elsewhere than the journal does, or a directory that is missing or another
    /// one than the run's, is unreachable (`InstanceNotFound`: nothing is done there; the run
    /// stays pending until it is reachable again).
    /// The session to `name` already open, or nil (never connects: a report after a step must not
    /// wait on a server that did not answer the step).
    func opened(_ name: String) -> (any EngineSession)? { open[name] }

    func session(_ name: String) throws -> any EngineSession {
        if let session = open[name] { return session }
        guard let spec = instances[name] ?? journaled[name] else {
            throw FerryError(.instanceNotFound, "instance \(name) is not in the plan or the run's journal")
        }
        if let refusal = RunLocation.refusal(name, spec, wrote: journaled[name], identity: identities[name], pending: pending) { throw refusal }
        if let error = unsettled[name] { throw error }
        let session = try engines.connect(spec)
        if let wrote = servers[name] {
            // Another server answering at the run's URL is not the run's (nor one whose
            // identity cannot be read now): nothing of the run is done there.
            let now = try? session.serverIdentity()
            guard now == wrote else {
                session.close()
                throw FerryError(.instanceNotFound, "the server answering for instance \(name) at \(spec.displayLocation) is not the one the run wrote to (\(now == nil ? "its identity cannot be read" : "another server identity") now); nothing was done on \(name)",
                                 hint: "point \(name) at the server the run used again (or bring it back), then run the command again; if it is gone for good, `ferry recover --abandon \(name)` ends the run leaving \(name) as it is", instance: name)
            }
        }
        if let was = incarnations[name], let now = try? session.serverIncarnation(), now != was, !restarted.contains(name) {
            restarted.append(name)
        }
        do {
            for run in settling { try session.settleStatements(ofRun: run) }
        } catch {
            session.close()
            unsettled[name] = error
            throw error
        }
        open[name] = session
        return session
    }

    func closeAll() {
        open.values.forEach { $0.close() }
        open.removeAll()
    }
}

extension Recovery {
    /// Whether a rollback that began with `token` for `record`'s target (journaled with its
    /// begin record) began after the target was written since the run's swap: the token differs
    /// from the one the run journaled right after its swap, where the two can be compared. Only a
    /// forced rollback begins so (an unforced one refuses, or begins with the swap's token).
    static func writtenBeforeRollback(_ record: SwapRecord, token: String?) -> Bool {
        guard let token, let after = record.afterSwapToken, ContentTokens.comparable(token, after) else { return false }
        return token != after
    }

    /// The line after a user sync's undo on `instance`: "removed" only when nothing was left.
    static func usersUndone(on instance: String, left: Int) -> String {
        left == 0 ? "removed synced users on \(instance)"
            : "undid the user sync on \(instance), leaving what the notes above name as it is"
    }
}

/// A count shared by the copies of a `Recovery` (see `usersLeft`).
extension Recovery {
    /// Journals each of `notes` (rows that fired none of `instance/database`'s triggers, in the
    /// words said) as a `firedNone` record, before they are said. A journal that cannot be
    /// written loses only the repeat of the words (they are still said by this pass).
    static func journalFiredNone(_ notes: [String], on journal: any RunJournal, instance: String, database: String, step: Int? = nil, undoes: Int? = nil) {
        for note in notes {
            _ = try? journal.append(JournalRecord(event: .firedNone, step: step, address: step == nil ? nil : "restore", instance: instance,
                                                  database: database, undoes: undoes, message: note))
        }
    }

    /// The address of a `firedNone` record that keeps the words of an undo that stopped after
    /// the run's triggers were off the target for a while (`journalFiredNoneWindow`).
    static let windowAddress = "window"

    /// Journals the words of `failure` (an undo that stopped) when they say a window the run's
    /// triggers were off a target ("any row written into them then was kept but fired none of
    /// them"): `ferry status` lists them, and a later pass says them again, once another pass
    /// ends the step otherwise (fresh tester round 67, F3: after `--keep-later-writes` or
    /// `--discard-later-writes` they were nowhere). Not counted as rows found.
    static func journalFiredNoneWindow(_ failure: Diagnostic, on journal: any RunJournal, instance: String, database: String, step: Int? = nil, undoes: Int? = nil) {
        guard failure.message.contains(firedNonePhrase) else { return }
        _ = try? journal.append(JournalRecord(event: .firedNone, step: step, address: windowAddress, instance: instance, database: database, undoes: undoes,
                                              message: "\(instance)/\(database) (as a pass of its undo stopped): \(failure.message)"))
    }

    /// A `firedNone` record of rows a rollback's or a recover's undo found (`journalFiredNone`:
    /// no address, or `restore`), not an apply's note of a window its swap had triggers off
    /// (`Applier.sayLeftNotes`: under the step's address, "any row written then"), which is
    /// listed by `ferry status` but never said again or counted as rows found.
    static func foundByAnUndo(_ record: JournalRecord) -> Bool {
        record.event == .firedNone && (record.address == nil || record.address == "restore")
    }

    /// How many targets the `firedNone` records of `records` name (those an undo found).
    static func firedNoneTargets(_ records: [JournalRecord]) -> Int {
        Set(records.filter(foundByAnUndo).map { "\($0.instance ?? "?")/\($0.database ?? "?")" }).count
    }

    /// Says again the `firedNone` notes an earlier pass journaled (`records`, read as this pass
    /// began): a pass after a kill would otherwise end "finished" without them. Returns the
    /// number of targets they name.
    @discardableResult
    func sayFiredNoneAgain(_ records: [JournalRecord]) -> Int {
        let earlier = records.filter(Self.foundByAnUndo)
        var said = Set<String>()
        for record in records where Self.foundByAnUndo(record) || (record.event == .firedNone && record.address == Self.windowAddress) {
            guard said.insert(record.message ?? "").inserted else { continue }
            let pass = record.address == Self.windowAddress ? "an earlier pass of this run" : "an earlier pass of this run, cut short"
            reporter.notice("said by \(pass): \(Redaction.escapeControlCharacters(record.message ?? ""))", style: .note)
        }
        return Self.firedNoneTargets(earlier)
    }
}

public final class LeftCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    public init() {}
    public var count: Int { lock.lock(); defer { lock.unlock() }; return value }
    func add(_ n: Int) { lock.lock(); value += n; lock.unlock() }
}
