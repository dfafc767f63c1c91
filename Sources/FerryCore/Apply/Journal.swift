import Foundation

/// One line of `.ferry/runs/RUN/journal.jsonl`. Every record that the way back depends on is
/// written and fsync'd before the step it describes counts.
public struct JournalRecord: Codable, Sendable, Hashable {
    public enum Event: String, Codable, Sendable {
        /// The run started: what it plans to touch, and the state records it may replace.
        case begin
        case stepStarted, stepDone, stepFailed
        /// A shadow is about to be created (journaled BEFORE the engine call): its name when the
        /// engine can tell it beforehand, else only instance and database; rollback drops it, or
        /// asks the engine for what this run left for that database (`leftoverShadows`).
        case shadowPlanned
        /// A shadow exists (drop it on rollback).
        case shadowCreated
        /// A swap is about to start / has finished (undo it on rollback).
        case swapBegun, swapDone
        /// The engine's note (`message`, opaque) of a change it is about to make inside a swap
        /// or an undo of it (`shadow` names the swap), journaled before that change
        /// (`EngineSession.swap(_:journaling:)`); given back in `SwapRecord.notes`.
        case swapNoted
        /// Rows that fired none of a target's triggers, in the words a rollback or recover pass
        /// said them (`message`, led by `instance/database`), as it undid a swap (`undoes`) or
        /// restored a target (`step`): journaled before they are said, so that a later pass (after
        /// a kill), its summary and `ferry status` say them again (fresh tester round 65, F1: a
        /// killed recover's next pass said "finished" with no word of them).
        case firedNone
        /// Users are about to be synced: the undo record of what the sync will create or extend,
        /// journaled before any account or grant is made (undo it on rollback).
        case usersPlanned
        /// Users were synced (undo them on rollback).
        case usersSynced
        /// A backup set directory is being written (remove it on rollback).
        case backupStarted
        /// An undo of a swap (by `undoes`) is about to start: journaled before the engine's undo,
        /// so that a later rollback of the run knows the swap's checkpoint may have been used up
        /// by it. Without one, a checkpoint that is not there was dropped or renamed by someone
        /// else (`Recovery.checkpointGoneByJournal`).
        case undoBegun
        /// A `ferry rollback RUN` run took the claims its begin record lists (journaled right
        /// after): from here on a claim of it gone from an instance was released by someone
        /// (`ferry unlock --claims`), never one it had not taken yet (fresh tester round 17, D1).
        case claimsTaken
        /// A rollback run's undo of a swap (its restore step `step`) returned: the target holds
        /// what it held before the reverted run again, and what is left of the step is the
        /// shadow's drop. Journaled before that drop, so that a pass after a kill in it knows the
        /// restore done even when the checkpoint (used up by the undo) is gone and a later run
        /// replaced the target since (fresh tester round 17, D3).
        case swappedBack
        /// An earlier record was undone (by `undoes`).
        case undone
        case undoFailed
        /// A swap (by `undoes`) that a rollback left in place: the target was written after the
        /// swap, so undoing it would discard those writes (SPEC §6 "Writes during a run"). Its
        /// shadow and checkpoint stay as they are; no later rollback or recovery touches them.
        case kept
        /// A database Ferry made that now holds writes it did not make, left for the user and
        /// never dropped by Ferry (`shadow`; `database` is the target it belonged to): what a
        /// target held when `ferry recover --discard-later-writes` restored its checkpoint. Plans
        /// warn about it while it exists (`KeptTargets`).
        case leftForUser
        /// An undo step (by `undoes`) on an instance the user gave up for good (`ferry recover
        /// --abandon INSTANCE`: its directory or server is gone and will not come back): nothing
        /// was done there, and no later rollback or recovery tries it again. The run ends, not
        /// as before (fresh tester w14 F4: such a run stayed pending for good and locked the state).
        case abandoned
        case rollbackBegun
        /// The run is writing state: the commit point is the state file naming this run.
        case committing
        case committed
        /// Checkpoints and claims were cleaned up after commit or rollback.
        case cleaned
        /// Clean-up after the commit could not finish (an instance was unreachable): what is left
        /// stays pending, and `ferry recover` finishes it.
        case cleanupPending
        /// An old backup set is being removed (`keep`): its manifest goes first, then its files,
        /// then its directory; `pruned` (with `undoes` naming this record) when it is gone.
        case pruneBegun, pruned
        case rolledBack
        /// A committed run's checkpoints are about to be dropped (retention): journaled before the
        /// first goes, so `ferry rollback` of that run is refused from then on; `checkpointsDropped`
        /// when all are gone (until then the next commit retries).
        case checkpointsDropping
        /// A committed run's checkpoints were dropped (retention) or restored (`ferry rollback`).
        case checkpointsDropped
        case reverted
    }

    public var seq: Int
    public var time: Date
    public var event: Event
    public var step: Int?
    public var address: String?
    public var instance: String?
    public var database: String?
    public var shadow: String?
    public var swap: SwapRecord?
    public var undo: String?
    public var directory: String?
    /// `directory` holds a location whose path had `${env:}` values, with each put back as its
    /// reference (`Redaction.templatingPathValues`: `s3://b/bk/${env:TOKEN}/SET`): the value is
    /// never journaled (fresh tester round 76, F2), and `location` expands it from the
    /// environment where the set is removed. Nil: `directory` is the location itself.
    public var directoryIsTemplate: Bool?
    /// With `directoryIsTemplate`: `SALT:HEX`, the salted SHA-256 of the location the run wrote
    /// (`Redaction.locationDigest`), so that a location expanded again from another value is
    /// never taken for it (fresh tester round 77, F1 and F2: a recover with the variable set to
    /// another value removed a user's files there, and said a set removed that was not).
    public var directoryDigest: String?
    /// A local set's location with every symbolic link above the set's own folder resolved
    /// (`LocalPath.resolvedParent`; a link at the set's folder itself is left, and named, by the
    /// removal), as a salted digest: a removal acts
    /// only where the location resolves to the same place again (fresh tester round 78, F1: a
    /// parent directory replaced by a link led a recover to remove a user's files at the link's
    /// target). Nil: a storage location, or a journal of an earlier release.
    public var resolvedDigest: String?
    /// `backupStarted`: the location's directories that did not exist and the run makes
    /// (`BackupStore.missingDirectories`), outermost first; a rollback removes them while empty.
    public var madeDirectories: [String]?
    /// `pruneBegun`: the files the set's manifest names (the set's own), the only ones its
    /// removal takes besides the manifest, even once the manifest is gone (a kill between the two:
    /// fresh tester round 36, F3). `backupStarted`: every name the run may write in its new set's
    /// folder (each database's file, the manifest, and the store's temporary names of both,
    /// `BackupStore.stagingNames(of:)`), journaled before the folder is made: a rollback takes
    /// these and nothing else (round 37b, F1: a user's note in the folder went with it).
    /// Nil in a journal of an earlier release.
    public var setFiles: [String]?
    public var undoes: Int?
    public var message: String?
    public var stats: TransferStats?
    /// A build's receipt, on its `stepDone` record (engine contract v2): what its finish and
    /// verify steps read. Absent in journals of older runs and on other records.
    public var receipt: BuildReceipt?
    public var begin: RunBegin?
    /// On a `swapBegun` record: the target's fingerprint as the plan saw it, before the swap. A
    /// rollback that restores the target re-records it (`Recovery.refingerprintRestored`). Absent
    /// in journals of older runs.
    public var fingerprintBefore: String?
    /// On a `shadowCreated` record: what tells the shadow the engine just made from anything
    /// made at its name later (`EngineSession.shadowIdentity`; SQLite: the file's device, inode
    /// and birth time). Every drop of that shadow gets it back (`dropShadow`). Absent for
    /// engines whose shadows carry their own mark, and in journals of older runs.
    public var identity: String?
    /// On an `undoFailed` record: why the undo failed, where the error said (a target held for
    /// the user's choice, a checkpoint gone): `ferry status` tells the way out from it (fresh
    /// tester round 58, L1: it said "run `ferry recover`", which only refused again). Absent in
    /// journals of older runs.
    public var reason: Diagnostic.Reason?

    /// What `RunReplay.shadowIdentity` gives for a shadow whose `shadowCreated` holds no
    /// identity: one an earlier release journaled (SQLite then drops it by name, as that
    /// release did, so that such a release's pending run still finishes), or one of an engine
    /// whose shadows carry a mark (which ignores it). A kill between a shadow's creation and
    /// its `shadowCreated` leaves no such record: nil then.
    public static let identityOfAnEarlierRelease = "earlier-release"

    /// A record of `event` for the backup set at `location`: its `directory` is the location,
    /// or its template where its path holds a value kept secret (`directoryIsTemplate`).
    public static func backupSet(_ event: Event, at location: String, step: Int? = nil, address: String? = nil,
                                 undoes: Int? = nil, message: String? = nil) -> JournalRecord {
        var record = JournalRecord(event: event, step: step, address: address, undoes: undoes, message: message)
        if let template = Redaction.templatingPathValues(location) {
            record.directory = template
            record.directoryIsTemplate = true
            record.directoryDigest = Redaction.locationDigest(location)
        } else {
            record.directory = location
        }
        if BackupStores.remoteScheme(of: location) == nil {
            record.resolvedDigest = Redaction.locationDigest(LocalPath.resolvedParent(of: location))
        }
        return record
    }

    /// What a removal of the set at `directory` checks first (`JournalRecord.location`).
    public struct LocationCheck: Sendable, Hashable {
        /// The digest of the location a template stands for (`directoryDigest`); nil: `directory`
        /// is the location itself.
        public var template: String?
        /// `resolvedDigest`.
        public var resolved: String?
        public init(template: String? = nil, resolved: String? = nil) {
            self.template = template
            self.resolved = resolved
        }
    }

    /// This record's `LocationCheck`; a template without a digest (never written) gets one no
    /// location matches, so that nothing is looked for through it.
    public var locationCheck: LocationCheck {
        LocationCheck(template: directoryIsTemplate == true ? directoryDigest ?? "none:" : nil, resolved: resolvedDigest)
    }

    /// The set location of a `directory` that `backupSet` journaled, as `check` (its
    /// `locationCheck`) lets it be used: a template's references expanded from the environment,
    /// only where the result is the location the run wrote (its digest), and a local location
    /// only while its parent resolves where it did; else `InvalidParameter.UnsetVariable` naming
    /// those unset, or `OperationDenied.WrongStatus` (another value, or a directory replaced):
    /// the set is never looked for elsewhere.
    public static func location(_ directory: String, check: LocationCheck) throws -> String {
        let location = try expanded(directory, digest: check.template)
        if let resolved = check.resolved, BackupStores.remoteScheme(of: location) == nil,
           !Redaction.locationMatches(LocalPath.resolvedParent(of: location), digest: resolved) {
            throw FerryError(.wrongStatus, "the backup set at \(DisplayPath.location(directory)) is not where the run wrote it: a directory on its path was replaced since (by a symbolic link, or another directory); nothing was removed, there or anywhere",
                             hint: "put that directory back as it was when the run began, then run `ferry recover` again")
        }
        return location
    }

    static func expanded(_ directory: String, digest: String?) throws -> String {
        guard let digest else { return directory }
        let shown = DisplayPath.location(directory)
        let (location, unset) = Redaction.expandingPathTemplate(directory)
        guard let location else {
            throw FerryError(.unsetVariable, "the backup set at \(shown) is found only with \(unset.isEmpty ? "the values its location took from the environment" : unset.map { "$" + $0 }.joined(separator: ", ") + " set") as when the run began (the journal keeps no value from the environment); nothing was removed",
                             hint: "set \(unset.isEmpty ? "them" : unset.joined(separator: ", ")) as when the run began, then run `ferry recover` again")
        }
        guard Redaction.locationMatches(location, digest: digest) else {
            throw FerryError(.wrongStatus, "the backup set at \(shown), its location expanded from the environment now, is not where the run wrote it: a variable it takes has another value than when the run began; nothing was removed, there or anywhere",
                             hint: "set the variables of that location as when the run began, then run `ferry recover` again")
        }
        return location
    }

    public init(seq: Int = 0, time: Date = Date(), event: Event, step: Int? = nil, address: String? = nil,
                instance: String? = nil, database: String? = nil, shadow: String? = nil, swap: SwapRecord? = nil,
                undo: String? = nil, directory: String? = nil, undoes: Int? = nil, message: String? = nil,
                stats: TransferStats? = nil, receipt: BuildReceipt? = nil, begin: RunBegin? = nil,
                fingerprintBefore: String? = nil, identity: String? = nil, reason: Diagnostic.Reason? = nil) {
        self.reason = reason
        self.fingerprintBefore = fingerprintBefore
        self.identity = identity
        self.seq = seq
        self.time = time
        self.event = event
        self.step = step
        self.address = address
        self.instance = instance
        self.database = database
        self.shadow = shadow
        self.swap = swap
        self.undo = undo
        self.directory = directory
        self.undoes = undoes
        self.message = message
        self.stats = stats
        self.receipt = receipt
        self.begin = begin
    }
}

/// The kinds of run. Every command that changes an instance is one, with its own journal.
public enum RunKind: String, Codable, Sendable {
    case apply
    /// `ferry rollback RUN`: restores a committed run's checkpoints. Interrupted, it is finished
    /// (forward) by `ferry recover`: every step of a revert is idempotent.
    case rollback
}

/// What a run set out to do, recorded first.
public struct RunBegin: Codable, Sendable, Hashable {
    public struct Claim: Codable, Sendable, Hashable {
        public var instance: String
        public var claim: DatabaseClaim
        public init(instance: String, claim: DatabaseClaim) {
            self.instance = instance
            self.claim = claim
        }
    }
    public var runID: String
    public var lockID: String
    public var pid: Int32
    public var host: String
    /// Instances by name, as the run saw them (no secrets: passwords are references).
    public var instances: [String: InstanceSpec]
    public var claims: [Claim]
    public var graph: ActionGraph
    public var changes: [ResourceChange]
    /// State records of the resources the run changes, as they were before (nil: none).
    public var previousRecords: [String: ResourceRecord?]
    public var stateSerial: Int
    /// What kind of run this is: nil or `apply` (apply, backup), `rollback` (`ferry rollback`).
    public var kind: RunKind?
    /// For a rollback run: the committed run it reverts.
    public var reverts: String?
    /// For a rollback run: the content token each target the reverted run swapped must still have
    /// when the rollback swaps it back (nil: a rollback run of an earlier release, which journaled
    /// its tokens at its first step). Journaled with the begin record, before any change, so a
    /// rollback killed at any moment and finished by `ferry recover` still tells a target written
    /// since it began (SPEC §6 "Writes during a run").
    public var restoreTokens: [RestoreToken]?
    /// For instances given by a local directory (`InstanceSpec.path`): that directory's identity
    /// at the run's begin (`InstanceSpec.directoryIdentity`), by instance name. A rollback acts
    /// on such an instance only while the directory is that one: a directory missing, or
    /// another one at that path (a volume not mounted yet), is an unreachable instance, never
    /// one whose run is undone (fresh tester w12 F2). Nil: an earlier release's journal.
    public var directoryIdentities: [String: String]?
    /// For instances given by a URL: the server's identity at the refresh the run applies
    /// (`EngineSession.serverIdentity`), by instance name. Recovery acts on such an instance only
    /// while the server answering at its URL has that identity: another server there (a
    /// container made again on the port, a failover) is an unreachable instance, never one whose
    /// run is undone. Nil, or an instance left out: an earlier release's journal, or an engine
    /// without a stable identity.
    public var serverIdentities: [String: String]?
    /// The server's `EngineSession.serverIncarnation()` at the refresh the run applies, by
    /// instance name (Redis's `run_id`): a recover that finds another one says the server
    /// restarted since. Nil: an earlier release's journal, or engines that do not tell.
    public var serverIncarnations: [String: String]?

    /// What a target of a reverted run holds when its rollback may restore it: `token` is
    /// `EngineSession.contentToken(of:)` of `database` on `instance`.
    public struct RestoreToken: Codable, Sendable, Hashable {
        public var instance: String
        public var database: String
        public var token: String
        public init(instance: String, database: String, token: String) {
            self.instance = instance
            self.database = database
            self.token = token
        }
    }

    public init(runID: String, lockID: String, instances: [String: InstanceSpec], claims: [Claim], graph: ActionGraph,
                changes: [ResourceChange], previousRecords: [String: ResourceRecord?], stateSerial: Int,
                kind: RunKind? = nil, reverts: String? = nil, restoreTokens: [RestoreToken]? = nil,
                directoryIdentities: [String: String]? = nil, serverIdentities: [String: String]? = nil,
                serverIncarnations: [String: String]? = nil) {
        self.runID = runID
        self.lockID = lockID
        self.pid = getpid()
        self.host = ProcessInfo.processInfo.hostName
        self.instances = instances
        self.claims = claims
        self.graph = graph
        self.changes = changes
        self.previousRecords = previousRecords
        self.stateSerial = stateSerial
        self.kind = kind
        self.reverts = reverts
        self.restoreTokens = restoreTokens
        self.directoryIdentities = directoryIdentities ?? instances.compactMapValues { $0.directoryIdentity() }
        self.serverIdentities = serverIdentities.flatMap { $0.isEmpty ? nil : $0 }
        self.serverIncarnations = serverIncarnations.flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// The local backend's journal of one run (`runs/RUN/journal.jsonl`): appends records durably,
/// from any worker thread.
public final class JournalWriter: RunJournal, @unchecked Sendable {
    // Safe: `seq` and the file are only touched under `lock`.
    private let lock = NSLock()
    private let file: RawFile
    public let path: String
    private var seq: Int

    public init(path: String) throws {
        self.path = path
        let existing = (try? JournalReader.read(path: path)) ?? []
        seq = existing.last?.seq ?? 0
        file = try RawFile.open(path, O_WRONLY | O_CREAT | O_APPEND, mode: 0o600, what: "cannot open journal")
        DurableFile.syncDirectory((path as NSString).deletingLastPathComponent)
    }

    /// The run's id: the name of the journal's directory.
    public var runID: String { ((path as NSString).deletingLastPathComponent as NSString).lastPathComponent }

    public func records() throws -> [JournalRecord] { try JournalReader.read(path: path) }

    /// Writes the record and fsyncs; returns its sequence number.
    @discardableResult
    public func append(_ record: JournalRecord) throws -> Int {
        lock.lock()
        defer { lock.unlock() }
        if KillPoint.isActive {
            KillPoint.check("before-record")
            KillPoint.check("before-\(record.event.rawValue)")
        }
        seq += 1
        var stamped = record
        stamped.seq = seq
        stamped.time = Date()
        var data = try JSONEncoder.ferryLine.encode(stamped)
        data.append(0x0A)
        // A write that fails part-way (ENOSPC) must not leave a torn line that the next record
        // would be glued to (both would then be unreadable): cut the file back to where it was.
        let end = lseek(file.descriptor, 0, SEEK_END)
        do {
            if let injected = JournalFault.check() {
                try? file.write(data.prefix(data.count / 2))
                throw injected
            }
            try file.write(data)
            try file.sync(what: "cannot sync journal")
        } catch {
            seq -= 1
            if end >= 0 { try? file.truncate(to: Int64(end)) }
            throw error
        }
        if KillPoint.isActive {
            KillPoint.check("after-record")
            KillPoint.check("after-\(record.event.rawValue)")
        }
        return seq
    }
}

/// A test hook: `FERRY_TEST_FAIL_WRITE_AT=N` makes the N-th journal append of the process, and
/// every later one (a disk stays full), write half its line and fail with `ENOSPC`, as on a full
/// state directory; `N-M` fails appends N to M only (room freed meanwhile). Unset, it costs one
/// check per append; several such ranges are separated by commas (`9-9,12-13`: the swap's
/// record fails, the undo's first record is written, its next ones fail). Not a user feature:
/// SPEC.md does not list it.
enum JournalFault {
    private static let ranges: [ClosedRange<Int>]? = {
        guard let value = ProcessInfo.processInfo.environment["FERRY_TEST_FAIL_WRITE_AT"], !value.isEmpty else { return nil }
        let ranges = value.split(separator: ",").compactMap { spec -> ClosedRange<Int>? in
            let parts = spec.split(separator: "-").compactMap { Int($0) }
            guard let first = parts.first else { return nil }
            return first...(parts.count > 1 ? max(first, parts[1]) : Int.max)
        }
        return ranges.isEmpty ? nil : ranges
    }()
    nonisolated(unsafe) private static var count = 0
    private static let lock = NSLock()

    static func check() -> (any Error)? {
        guard let ranges else { return nil }
        let n: Int = lock.withLock { count += 1; return count }
        guard ranges.contains(where: { $0.contains(n) }) else { return nil }
        return FerryError(.diskFull, "cannot write journal: No space left on device (injected by FERRY_TEST_FAIL_WRITE_AT)")
    }
}

public enum JournalReader {
    /// Every complete record; a torn last line (a crash mid-write) is ignored.
    public static func read(path: String) throws -> [JournalRecord] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        var records: [JournalRecord] = []
        for line in data.split(separator: 0x0A) where !line.isEmpty {
            if let record = try? JSONDecoder.ferry.decode(JournalRecord.self, from: Data(line)) {
                records.append(record)
            }
        }
        return records
    }
}

/// Journal replay, with no I/O: what a run did, and what is left to undo.
public struct RunReplay: Sendable {
    public enum Outcome: String, Codable, Sendable {
        case running, committed, rolledBack, rollbackIncomplete, interrupted, reverted
        /// The journal holds no begin record: the run could not record its start and changed nothing.
        case notStarted
    }

    /// Something a rollback must undo, newest first.
    public enum UndoItem: Sendable, Hashable {
        case dropShadow(seq: Int, instance: String, shadow: String)
        /// A shadow journaled before creation whose name the engine picks when it creates it
        /// (Redis): the engine finds what this run left for `database` by the run's marker.
        case dropLeftoverShadows(seq: Int, instance: String, database: String)
        case undoSwap(seq: Int, instance: String, record: SwapRecord)
        case undoUsers(seq: Int, instance: String, undo: String)
        /// `files`: the names the run journaled as the set's own before writing any
        /// (`JournalRecord.setFiles` of `backupStarted`); nil in a journal of an earlier release.
        /// `check`: what its removal checks first (`JournalRecord.locationCheck`).
        case removeBackup(seq: Int, directory: String, made: [String] = [], files: [String]? = nil, check: JournalRecord.LocationCheck = .init())

        public var seq: Int {
            switch self {
            case .dropShadow(let s, _, _), .undoSwap(let s, _, _), .undoUsers(let s, _, _), .removeBackup(let s, _, _, _, _),
                 .dropLeftoverShadows(let s, _, _): s
            }
        }

        /// The instance the step acts on (nil: a backup set's directory).
        public var instance: String? {
            switch self {
            case .dropShadow(_, let i, _), .dropLeftoverShadows(_, let i, _), .undoSwap(_, let i, _), .undoUsers(_, let i, _): i
            case .removeBackup: nil
            }
        }

        /// What undoing it does, in words (`ferry apply --format json`'s rollback events).
        public var summary: String {
            switch self {
            case .dropShadow(_, let instance, let shadow): "drop shadow \(shadow) on \(instance)"
            case .dropLeftoverShadows(_, let instance, let database): "remove what the run left for \(instance)/\(database)"
            case .undoSwap(_, let instance, let record):
                record.targetExisted ? "restore \(instance)/\(record.database) from its checkpoint"
                    : "remove \(instance)/\(record.database) (it did not exist before)"
            case .undoUsers(_, let instance, _): "remove the users synced on \(instance)"
            case .removeBackup(_, let directory, _, _, _): "remove backup set \(DisplayPath.location(directory))"
            }
        }
    }

    public enum StepState: String, Codable, Sendable {
        case pending, running, done, failed
    }

    public let records: [JournalRecord]
    public let begin: RunBegin?

    public init(records: [JournalRecord]) {
        self.records = records
        begin = records.first { $0.event == .begin }?.begin
    }

    /// The kind of run (apply when the journal does not say).
    public var kind: RunKind { begin?.kind ?? .apply }

    /// A begin record was written (a journal without one is no run: `notStarted`).
    public var hasBeginRecord: Bool { records.contains { $0.event == .begin } }

    public var hasCommitStarted: Bool { records.contains { $0.event == .committing } }
    /// `committed`, or `committing` followed by `cleaned` (clean-up runs only once the state file
    /// names the run, so a `committed` the disk could not take is implied by it).
    public var isCommitted: Bool {
        records.contains { $0.event == .committed }
            || (hasCommitStarted && records.contains { $0.event == .cleaned })
    }
    public var isCleaned: Bool { records.contains { $0.event == .cleaned } }

    /// The outcome as far as the journal tells; `running` means no terminal record yet (a live
    /// run, or an interrupted one if its process is gone).
    public var outcome: Outcome {
        if !hasBeginRecord { return .notStarted }
        if records.contains(where: { $0.event == .reverted }) { return .reverted }
        if let last = records.last(where: { $0.event == .rolledBack }) {
            return last.message == "incomplete" ? .rollbackIncomplete : .rolledBack
        }
        if isCommitted { return .committed }
        return .running
    }

    /// The `rolledBack` message of a `ferry rollback RUN` run refused before any change (its
    /// claims given back): it ended, and restored nothing.
    public static let refusedMessage = "refused"

    /// A `ferry rollback RUN` run refused before any change (`refusedMessage`): `ferry runs` and
    /// `ferry status` say "refused", never "rolledBack" (fresh tester round 41, F5).
    public var wasRefused: Bool {
        records.last(where: { $0.event == .rolledBack })?.message == Self.refusedMessage
    }

    /// True when the run needs nothing more: it committed and cleaned up, or rolled back.
    public var isFinished: Bool {
        switch outcome {
        case .committed: isCleaned
        case .rolledBack, .reverted: true
        // Something is still in place: `ferry recover` must finish it before anything else changes.
        case .rollbackIncomplete: false
        case .running, .interrupted: false
        // Nothing to finish, but `ferry recover` removes the directory (`RunStore.unstartedRuns`).
        case .notStarted: true
        }
    }

    /// What is still in place and must be undone to return to the state before the run, newest first.
    public var pendingUndo: [UndoItem] {
        let undone = Set(records.filter { $0.event == .undone || $0.event == .abandoned }.compactMap(\.undoes)).union(keptSwaps.map(\.seq))
        // What a kept swap holds under its shadow's name (Redis: the data before the run) is
        // never dropped.
        let keptShadows = keptShadowKeys()
        var items: [UndoItem] = []
        for record in records {
            switch record.event {
            case .swapBegun, .swapDone:
                guard let swap = record.swap, let instance = record.instance else { continue }
                // The latest record of a swap carries the most detail; one undo per swap.
                items.removeAll { if case .undoSwap(_, let i, let r) = $0 { return i == instance && r.shadow == swap.shadow } else { return false } }
                if undone.contains(record.seq) { continue }
                if record.event == .swapDone, let begun = records.last(where: { $0.event == .swapBegun && $0.swap?.shadow == swap.shadow && $0.instance == instance }),
                   undone.contains(begun.seq) { continue }
                items.append(.undoSwap(seq: record.seq, instance: instance, record: swap))
            case .shadowPlanned:
                guard let instance = record.instance, let database = record.database, !undone.contains(record.seq) else { continue }
                // Once the shadow exists its own record (with its name) is the one to undo.
                let created = records.contains { $0.event == .shadowCreated && $0.seq > record.seq && $0.instance == instance
                    && $0.database == database && $0.step == record.step }
                if created { continue }
                if let shadow = record.shadow {
                    items.append(.dropShadow(seq: record.seq, instance: instance, shadow: shadow))
                } else {
                    items.append(.dropLeftoverShadows(seq: record.seq, instance: instance, database: database))
                }
            case .shadowCreated:
                guard let instance = record.instance, let shadow = record.shadow, !undone.contains(record.seq),
                      !keptShadows.contains("\(instance)/\(shadow)") else { continue }
                items.append(.dropShadow(seq: record.seq, instance: instance, shadow: shadow))
            case .usersPlanned:
                guard let instance = record.instance, let undo = record.undo, !undone.contains(record.seq) else { continue }
                // A later intent of the same sync (corrected) or its done record supersedes it.
                let synced = records.contains { ($0.event == .usersSynced || $0.event == .usersPlanned) && $0.seq > record.seq
                    && $0.instance == instance && $0.step == record.step }
                if synced { continue }
                items.append(.undoUsers(seq: record.seq, instance: instance, undo: undo))
            case .usersSynced:
                guard let instance = record.instance, let undo = record.undo, !undone.contains(record.seq) else { continue }
                items.append(.undoUsers(seq: record.seq, instance: instance, undo: undo))
            case .backupStarted:
                guard let directory = record.directory, !undone.contains(record.seq) else { continue }
                items.append(.removeBackup(seq: record.seq, directory: directory, made: record.madeDirectories ?? [],
                                           files: record.setFiles, check: record.locationCheck))
            default:
                continue
            }
        }
        // A swapped shadow's drop stays after its undoSwap (newest first): engines whose undo leaves
        // the new data under the shadow's name (Redis) need it, and it is idempotent for the rest.
        return items.map { item in
            guard case .undoSwap(let seq, let instance, var record) = item else { return item }
            record.notes = swapNotes(instance: instance, shadow: record.shadow)
            return .undoSwap(seq: seq, instance: instance, record: record)
        }.sorted { $0.seq > $1.seq }
    }

    /// The engine's notes journaled in this journal for the swap of `shadow` on `instance`
    /// (`swapNoted`), in order; nil when none.
    public func swapNotes(instance: String, shadow: String, step: Int? = nil) -> [String]? {
        let notes = records.filter { $0.event == .swapNoted && $0.instance == instance && $0.shadow == shadow && (step == nil || $0.step == step) }
            .compactMap(\.message)
        return notes.isEmpty ? nil : notes
    }

    /// Finished, keeping no checkpoint for `ferry rollback`, no checkpoint drop pending.
    public var isSettledButForWhatItLeft: Bool {
        hasBeginRecord && isFinished && keptCheckpoints.isEmpty && !hasPendingCheckpointDrop
    }

    /// The run (or a rollback of it) left a target as it is (`kept`), a database for the user
    /// (`leftForUser`), or a swap whose undo was abandoned (`abandonedSwaps`): plans warn about
    /// those while they are there (`KeptTargets`).
    public var leftSomethingForTheUser: Bool {
        records.contains { $0.event == .kept || $0.event == .leftForUser } || !abandonedSwaps.isEmpty
    }

    /// The swap records (`swapBegun`/`swapDone`) that a rollback left in place, because the
    /// target was written after the swap (`kept` records name them by `undoes`).
    public var keptSwaps: [JournalRecord] { keptSwaps(before: nil) }

    /// The swap records whose undo was abandoned (`abandoned` records name them by `undoes`:
    /// `ferry recover --abandon INSTANCE`) and that no `kept` record names: left in place on an
    /// instance the user gave up, which may come back.
    public var abandonedSwaps: [JournalRecord] {
        let abandoned = Set(records.filter { $0.event == .abandoned }.compactMap(\.undoes))
        let kept = Set(keptSwaps.map(\.seq))
        return records.filter { abandoned.contains($0.seq) && $0.swap != nil && !kept.contains($0.seq) }
    }

    /// The swap records left in place by `kept` records journaled before record `limit` (all of
    /// them when nil).
    func keptSwaps(before limit: Int?) -> [JournalRecord] {
        let kept = Set(records.filter { record in record.event == .kept && limit.map { record.seq < $0 } ?? true }.compactMap(\.undoes))
        return records.filter { kept.contains($0.seq) && $0.swap != nil }
    }

    /// `instance/shadow` of every swap left in place (`keptSwaps(before:)`): the one key that
    /// the undo list, the swap lists and a rollback's recording use to skip a kept swap.
    func keptShadowKeys(before limit: Int? = nil) -> Set<String> {
        Set(keptSwaps(before: limit).compactMap { record in record.swap.map { "\(record.instance ?? "")/\($0.shadow)" } })
    }

    /// The identity the run journaled for its shadow `shadow` on `instance` when it made it
    /// (`JournalRecord.identity` of its `shadowCreated`), nil when none was (a kill between the
    /// shadow's creation and that record, an engine that marks its shadows, an older run).
    /// A `shadowCreated` without one (an earlier release's) gives
    /// `JournalRecord.identityOfAnEarlierRelease`.
    public func shadowIdentity(instance: String, shadow: String) -> String? {
        identity(of: records.filter { $0.event == .shadowCreated && $0.instance == instance && $0.shadow == shadow })
    }

    /// The identity the run journaled for its shadow of `database` on `instance` (as above).
    public func shadowIdentity(instance: String, database: String) -> String? {
        identity(of: records.filter { $0.event == .shadowCreated && $0.instance == instance && $0.database == database })
    }

    private func identity(of created: [JournalRecord]) -> String? {
        guard !created.isEmpty else { return nil }
        return created.last { $0.identity != nil }?.identity ?? JournalRecord.identityOfAnEarlierRelease
    }

    /// The `swapDone` swaps but those whose `instance/shadow` is in `kept`.
    func swapsDone(excluding kept: Set<String>) -> [(instance: String, record: SwapRecord)] {
        records.filter { $0.event == .swapDone }.compactMap { record in
            guard let instance = record.instance, let swap = record.swap, !kept.contains("\(instance)/\(swap.shadow)") else { return nil }
            return (instance, swap)
        }
    }

    /// Old backup sets whose removal began and did not end (a killed prune): `ferry recover`
    /// finishes removing them.
    /// `directory` as journaled, with what its removal checks first (`JournalRecord.location`
    /// gives the set).
    public var pendingPrunes: [(seq: Int, directory: String, files: [String]?, check: JournalRecord.LocationCheck)] {
        let finished = Set(records.filter { $0.event == .pruned }.compactMap(\.undoes))
        return records.filter { $0.event == .pruneBegun && !finished.contains($0.seq) }
            .compactMap { record in record.directory.map { (record.seq, $0, record.setFiles, record.locationCheck) } }
    }

    /// The removal of this run's checkpoints was journaled and did not finish.
    public var hasPendingCheckpointDrop: Bool {
        records.contains { $0.event == .checkpointsDropping } && !records.contains { $0.event == .checkpointsDropped }
    }

    /// The checkpoints whose removal began and did not finish (dropping them again is idempotent).
    public var pendingCheckpointDrops: [(instance: String, record: SwapRecord)] {
        guard hasPendingCheckpointDrop else { return [] }
        return swaps.filter { $0.record.checkpoint != nil }
    }

    /// Checkpoints a committed run keeps (for `ferry rollback`), unless dropped or being dropped.
    public var keptCheckpoints: [(instance: String, record: SwapRecord)] {
        guard isCommitted, !records.contains(where: { $0.event == .checkpointsDropped || $0.event == .checkpointsDropping
                                                     || $0.event == .reverted }) else { return [] }
        return swaps.filter { $0.record.checkpoint != nil }
    }

    /// Every swap of a committed run (the ones `ferry rollback` reverses), but those a rollback
    /// of part of the run (`--keep-going`) left in place because they were written after the swap
    /// (`kept`): their checkpoints hold what the user had and are never dropped or restored by
    /// Ferry.
    public var swaps: [(instance: String, record: SwapRecord)] { swapsDone(excluding: keptShadowKeys()) }

    /// The swaps of a committed run as they stood when it committed: `swaps` without dropping
    /// those a later `ferry recover --keep-later-writes` of its rollback left as they are (the
    /// rollback numbers its steps by this list, so it stays the same across its passes).
    public var swapsAtCommit: [(instance: String, record: SwapRecord)] {
        guard let commit = records.first(where: { $0.event == .committed })?.seq else { return swaps }
        return swapsDone(excluding: keptShadowKeys(before: commit))
    }

    /// Targets (`instance/database`) of a committed run that its rollback left as they are, since
    /// they were written after that rollback began (`ferry recover --keep-later-writes`).
    public var keptByRollback: Set<String> {
        guard let commit = records.first(where: { $0.event == .committed })?.seq else { return [] }
        return Set(records.filter { $0.event == .kept && $0.seq > commit }.compactMap { record in
            record.instance.flatMap { instance in record.database.map { "\(instance)/\($0)" } }
        })
    }

    public func state(of step: Int) -> StepState {
        var state = StepState.pending
        for record in records where record.step == step {
            switch record.event {
            case .stepStarted: state = .running
            case .stepDone: state = .done
            case .stepFailed: state = .failed
            default: break
            }
        }
        return state
    }

    public var failures: [JournalRecord] { records.filter { $0.event == .stepFailed || $0.event == .undoFailed } }
}
