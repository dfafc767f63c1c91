import Foundation
/// What refresh learns about one database.
public struct DatabaseFacts: Hashable, Sendable, Codable {
    public var name: String
    /// Bytes on disk (or in memory, for Redis), as the engine tells it.
    public var sizeBytes: Int64
    /// Changes whenever any committed row, key or schema object changes. A false "changed" is
    /// acceptable, a missed change is not.
    public var fingerprint: String
    /// False when the engine cannot prove that nothing changed (the planner then treats the
    /// database as changed and says so).
    public var isFingerprintExact: Bool
    /// Rows, keys or tables, for display.
    public var detail: String?
    /// PostgreSQL: the extensions the database uses (`name version`, from `pg_extension`), for
    /// the plan-time check that a copy's target server can create them; nil when not read.
    public var extensions: [String]?
    /// PostgreSQL: the other sessions connected to the database (`pid N (user U, app)`), for the
    /// plan's warning that a same-server TEMPLATE copy cannot run while they last; nil when not read.
    public var sessions: [String]?
    /// PostgreSQL: the roles that own, hold privileges on or have settings in the database (what
    /// `users: sync` brings); nil when not read.
    public var roles: [String]?
    /// PostgreSQL: the database's encoding (`pg_database.encoding`), in which a connection to it
    /// reads and writes role names (for `users: sync`'s check of non-ASCII role names); nil when
    /// not read.
    public var encoding: String?
    /// PostgreSQL: what the database was created with and a client reads through (`encoding`,
    /// `lc_collate`, `lc_ctype`, `provider`, and where set `locale` and `rules`), which a copy of
    /// it is made with; nil when not read.
    public var locale: [String: String]?
    /// Why swapping this database out (a `replace` or `append` into it) would change something
    /// outside it, one line each (MySQL: foreign keys between its tables and another database's,
    /// which `RENAME TABLE` would carry into Ferry's checkpoint; Oracle-mode packages, which the
    /// swap cannot move). The plan refuses such a change. Nil when not read.
    public var swapProblems: [String]?
    /// The objects of this database a copy (or an `append` import's snapshot of it) cannot bring
    /// exactly, one line each (MySQL: system-versioned tables, packages). The plan refuses a copy
    /// from it and an `append` into it. Nil when not read.
    public var copyProblems: [String]?
    /// Why the engine could not read the database's content where it meant to (its fingerprint
    /// is then not exact): a committed target's drift cannot be ruled out, and the plan says it
    /// may have drifted rather than "up to date" (fresh tester round 33, F2: a Redis user without
    /// `DUMP`). Nil when it was read, or was not meant to be.
    public var unreadable: String?
    /// PostgreSQL: how many routines, views, materialized views and rules the database holds
    /// outside the system schemas and extensions (code PostgreSQL runs with its owner's rights),
    /// for the plan-time refusal of a copy that would leave them owned by a role with
    /// server-level rights (SPEC §4, `owner`); nil when not read.
    public var codeObjects: Int?

    public init(name: String, sizeBytes: Int64, fingerprint: String, isFingerprintExact: Bool = true, detail: String? = nil) {
        self.name = name
        self.sizeBytes = sizeBytes
        self.fingerprint = fingerprint
        self.isFingerprintExact = isFingerprintExact
        self.detail = detail
    }
}

/// Who is using a database on an instance right now (SPEC §3: Migrating source, Importing target).
public struct DatabaseClaim: Hashable, Sendable, Codable {
    public enum Role: String, Sendable, Codable {
        case migrating = "Migrating"
        case importing = "Importing"
        /// The database holds the checkpoint a committed run keeps for `ferry rollback` (Redis:
        /// a numbered database). Not free: Ferry neither writes into it nor reads from it.
        case keptCheckpoint = "KeptCheckpoint"
    }
    public var database: String
    public var role: Role
    public var runID: String
    /// Who took the claim: user, host and process (nil in claims written by older versions).
    public var holder: String?
    public var host: String?
    public var pid: Int32?
    /// What marks the database as the claim's (Redis: the key `__ferry:checkpoint:RUN`), for
    /// messages that tell the user what to delete once they settled it; nil where nothing does.
    public var marker: String?
    /// Where the run's journal lives (`StateBackend.journalPlace`): a local state directory's
    /// absolute path (on `host`), or a server state's address without secrets. `ferry unlock
    /// --claims` refuses while that directory still holds the run's interrupted journal (round-14
    /// A3). Nil in claims of earlier releases, and where the engine keeps no such field (Redis).
    public var journal: String?
    /// The run a `ferry rollback RUN` run reverts, on its claims (nil on every other run's, and
    /// in claims of earlier releases). Its undo works on that run's checkpoints, named after that
    /// run, so a dead rollback run's leftovers are looked for under both ids: without it, a
    /// rollback killed part-way looked like a run that left nothing, and the next run from
    /// another working copy cleared its claims and swapped over the half-restored target (fresh
    /// tester round 16, C1).
    public var reverts: String?
    /// For a database the run writes that this state committed before: the fingerprint the
    /// state recorded then. An engine that finds its markers in the database may take them for
    /// the user's data that came with that commit, and not another run's, while the database
    /// still has that fingerprint (`EngineSession.describe(fingerprinting:committed:)`). Nil
    /// elsewhere, and in claims of earlier releases.
    public var committedFingerprint: String?

    /// A claim by this process (holder, host and pid are filled in).
    public init(database: String, role: Role, runID: String) {
        self.init(database: database, role: role, runID: runID, holder: NSUserName(),
                  host: ProcessInfo.processInfo.hostName, pid: getpid())
    }

    public init(database: String, role: Role, runID: String, holder: String?, host: String?, pid: Int32?) {
        self.database = database
        self.role = role
        self.runID = runID
        self.holder = holder
        self.host = host
        self.pid = pid
    }

    /// True when the run that holds the claim provably no longer runs: its process was on this
    /// host and is gone (or is a zombie, or its pid now runs another program). A claim without a
    /// host and pid, or from another host, is never taken for dead.
    public var isHolderGone: Bool {
        guard let host, let pid, pid > 0 else { return false }
        return ProcessLiveness.isGone(pid: pid, host: host)
    }

    /// `run RUN (user on host, pid N)` for messages.
    public var holderSummary: String {
        var parts: [String] = []
        if let holder { parts.append(holder) }
        if let host { parts.append("on \(host)") }
        if let pid { parts.append("pid \(pid)") }
        return parts.isEmpty ? "run \(runID)" : "run \(runID) (" + parts.joined(separator: " ") + ")"
    }
}

/// Whether a process named by host and pid still runs.
public enum ProcessLiveness {
    /// True when `pid` on `host` is provably gone: the host is this one and the process does not
    /// exist, is a zombie (killed, not yet reaped by its parent), or its pid now belongs to a
    /// program that is not ferry. Another host: never provably gone.
    public static func isGone(pid: Int32, host: String) -> Bool {
        guard host == ProcessInfo.processInfo.hostName, pid > 0 else { return false }
        if kill(pid, 0) != 0 && errno == ESRCH { return true }
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
            if state == "Z" || state == "X" { return true }
        }
        if let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty {
            let program = data.split(separator: 0).first.map { String(decoding: $0, as: UTF8.self) } ?? ""
            if !(program as NSString).lastPathComponent.lowercased().contains("ferry") { return true }
        }
        return false
    }
}

/// What refresh learns about one instance.
public struct InstanceFacts: Hashable, Sendable, Codable {
    public var instance: String
    public var engine: EngineKind
    public var version: String?
    /// `Running`, or the engine's own word for an unusable status.
    public var status: String
    /// Databases that exist, by name. Redis lists only non-empty numbered databases.
    public var databases: [String: DatabaseFacts]
    /// Free bytes where the engine can read them (the disk under SQLite's directory, say).
    public var freeBytes: Int64?
    /// What `freeBytes` is, when it is not a disk's free space (Redis: the room below
    /// `maxmemory` under an eviction policy), said in the plan's refusal.
    public var freeSpaceNote: String?
    /// Why a write into this instance may make the server drop data of the user's, whatever its
    /// size (Redis: `maxmemory` with an eviction policy, which evicts keys of any database when a
    /// write passes the limit, and how much memory a run's keys take is known only once they are
    /// written). A run that writes there is refused at plan (fresh tester rounds 36 F2, 37 F4).
    public var writesMayEvict: String?
    /// The empty databases Ferry may build shadows in, for an engine whose databases are a fixed
    /// set of slots (Redis's numbered databases: each target a run builds holds one until the run
    /// ends, as its shadow, then its checkpoint). Nil: no such limit. The plan refuses a run that
    /// needs more than there are (fresh tester round 35b, F2).
    public var emptyDatabases: [String]?
    /// Databases other runs are using now.
    public var claims: [DatabaseClaim]
    /// What the plan says of every import into this instance (a warning each): how the engine
    /// isolates an import when it cannot do so fully, e.g. a MySQL user without CREATE USER, whose
    /// imports run guarded by the statement checks alone. Nil when there is nothing to say (and in
    /// facts saved by earlier releases).
    public var importNotes: [String]?
    /// PostgreSQL: the extensions the server can create (`pg_available_extensions`); nil when not read.
    public var availableExtensions: [String]?
    /// PostgreSQL: the roles of the server but the built-in `pg_*` ones; nil when not read.
    public var roles: [String]?
    /// PostgreSQL: whether Ferry's user may read password hashes (`pg_authid`); nil when not read.
    public var readsPasswordHashes: Bool?
    /// PostgreSQL: the role Ferry connects as (`current_user`); nil when not read.
    public var connectedRole: String?
    /// PostgreSQL: the roles with server-level rights (`PostgresSession.powerfulRole`: a
    /// superuser, `CREATEROLE`, `BYPASSRLS`, `REPLICATION`, the predefined `pg_*` roles and their
    /// members), which may own nothing a copy makes; nil when not read.
    public var serverLevelRoles: [String]?
    /// Redis: the ACL users but `default`, each with a fingerprint of its rules that compares
    /// within one process only (no password hash can be read from it); nil when not read.
    public var aclUsers: [String: String]?
    /// Names the server lists that another listed name spells with other Unicode code points
    /// (canonically equivalent, as NFC `é` and NFD `e` + U+0301: one key to a Swift `String`, two
    /// databases to every engine); nil when there are none. The planner refuses every name of
    /// the plan that matches one (`NameConflict`) rather than guess which is meant.
    public var lookalikeNames: [String]?
    /// `EngineSession.serverIdentity()` at the refresh; nil when the engine keeps none (and in
    /// facts saved by earlier releases).
    public var serverIdentity: String?
    /// Checkpoints beside the databases the refresh read of runs that hold no claim on the
    /// instance (`UnclaimedCheckpoints.find`): database → checkpoint names, as the engine shows
    /// them. Such a checkpoint is a dead run's whose claims were released (`ferry unlock
    /// --claims`), which may hold what the database held before that run, or a committed run's
    /// of another working copy, kept for its `ferry rollback`. The planner names each beside a
    /// change to its database, which leaves it as it is (fresh tester round 70, F1: a later
    /// apply from a state that did not know the dead run said nothing of it). Nil where the
    /// engine does not read them (and in facts of earlier releases).
    public var unclaimedCheckpoints: [String: [String]]?
    /// `EngineSession.serverIncarnation()` at the refresh: the server process's own id, which a
    /// restart changes (Redis's `run_id`); nil for engines whose identity outlives a restart.
    public var serverIncarnation: String?
    /// Names the plan uses on this instance (databases it would write or read there, and the
    /// shadows and checkpoints it would derive from them) that Ferry cannot use there, each with
    /// why and what to do (PostgreSQL: a name the encoding of Ferry's maintenance database cannot
    /// hold, or holds in bytes a connection, which names its database in UTF-8, never matches).
    /// The planner refuses every import, copy (either side) and backup naming one. Nil when there
    /// are none (and in facts saved by earlier releases).
    public var unusableNames: [String: String]?
    /// The database Ferry's own connection to the instance stays in for a whole run (PostgreSQL:
    /// the URL's maintenance database), which no run can rename. The planner refuses a change
    /// that would swap a new database in under its name (a `replace` or `append` into it), or
    /// under the name of such a database of another instance of the plan on the same server.
    /// Nil where the engine keeps no connection in a database (and in facts of earlier releases).
    public var connectionDatabase: String?
    /// PostgreSQL: the encoding of `connectionDatabase`, in which Ferry's connection reads,
    /// makes and drops roles (shared catalog names are bytes in the encoding of the database they
    /// were written through); nil where not read (and in facts of earlier releases).
    public var connectionEncoding: String?
    /// Names of databases that do not exist on the instance but whose place holds files a
    /// database made there would take for its own (SQLite: a `-journal`, `-wal` or `-shm` of
    /// another database, which SQLite finds by name and would play into, or read as, the new
    /// database), each with the file and why. The planner refuses every change that would create
    /// a database under such a name (`OperationDenied.WrongStatus`); the file is the user's. Nil
    /// when there are none (and in facts of earlier releases and other engines).
    /// Databases that exist are listed too when a file beside one is what the engine would apply
    /// to it and is not provably its own (SQLite: another database's `-wal` beside one in
    /// rollback-journal mode, a hot `-journal`): every change that writes or reads one is
    /// refused, and `ferry rollback RUN` refuses to restore one (fresh tester w31 A6, A4).
    public var occupiedNames: [String: String]?
    /// PostgreSQL: the locale names the server knows it can make a database with (its libc
    /// collations' and its databases'), and its locale providers (`c`, `i`, `b`), for the plan's
    /// check that a copy's target can make its source's locale; nil where not read.
    public var locales: [String]?
    public var localeProviders: [String]?

    public init(instance: String, engine: EngineKind, version: String?, status: String = "Running",
                databases: [String: DatabaseFacts], freeBytes: Int64? = nil, claims: [DatabaseClaim] = [],
                importNotes: [String]? = nil) {
        self.importNotes = importNotes
        self.instance = instance
        self.engine = engine
        self.version = version
        self.status = status
        self.databases = databases
        self.freeBytes = freeBytes
        self.claims = claims
    }

    /// The database listed under exactly `name`'s code points (`databases[name]` would also
    /// return one spelt with other code points: Swift's `String` equality is canonical
    /// equivalence, the engines compare code points; SPEC §3).
    public func database(_ name: String) -> DatabaseFacts? {
        guard let i = databases.index(forKey: name),
              databases[i].key.unicodeScalars.elementsEqual(name.unicodeScalars) else { return nil }
        return databases[i].value
    }

    /// Bytes used by all databases.
    public var usedBytes: Int64 { databases.values.reduce(0) { $0 + $1.sizeBytes } }
}

extension Dictionary where Key == String {
    /// The key stored for `name` when it spells `name` with other Unicode code points (Swift's
    /// `String` equality is canonical equivalence; the engines compare code points); nil when
    /// `name` is not a key or is stored exactly so.
    public func otherSpelling(of name: String) -> String? {
        guard let i = index(forKey: name) else { return nil }
        let stored = self[i].key
        return stored.unicodeScalars.elementsEqual(name.unicodeScalars) ? nil : stored
    }

    /// Stores `value` under `name`, noting in `lookalikes` both spellings when a key that is
    /// `name` with other code points is here already (`InstanceFacts.lookalikeNames`).
    public mutating func insertListed(_ value: Value, as name: String, lookalikes: inout [String]) {
        if let other = otherSpelling(of: name) {
            for spelling in [other, name] where !lookalikes.contains(where: { $0.unicodeScalars.elementsEqual(spelling.unicodeScalars) }) {
                lookalikes.append(spelling)
            }
        }
        self[name] = value
    }
}

/// Size and digest of an import's source, so a changed file marks the import for a rerun.
public struct SourceFacts: Hashable, Sendable, Codable {
    /// Whether a source's digest now is the one a state recorded: equal, or a Last-Modified
    /// digest recorded before its length was added (`modified:DATE`, now `modified:DATE;size:N`),
    /// so that an older state does not take every such source for changed.
    public static func sameDigest(recorded: String?, now: String?) -> Bool {
        guard let recorded, let now, recorded != now else { return recorded == now }
        return recorded.hasPrefix("modified:") && !recorded.contains(";size:") && now.hasPrefix(recorded + ";size:")
    }

    public var source: String
    public var sizeBytes: Int64?
    /// A digest of the bytes, or of what the server says of them (ETag, modification time), or nil
    /// when nothing can be told cheaply.
    public var digest: String?
    /// What a gzip file expands to, as far as can be told cheaply (its trailer): what the import
    /// moves into the target, for the space check (fresh tester w11 F7). Nil for other files.
    public var expandedBytes: Int64?
    /// What a cheap look found wrong with the file (a gzip trailer that cannot be its own: the
    /// file may be cut short), said by the plan as a warning; nil when nothing was seen.
    public var doubt: String?

    public init(source: String, sizeBytes: Int64?, digest: String?, expandedBytes: Int64? = nil, doubt: String? = nil) {
        self.source = source
        self.sizeBytes = sizeBytes
        self.digest = digest
        self.expandedBytes = expandedBytes
        self.doubt = doubt
    }

    /// What an import of this source moves: the expanded size of a gzip file, else its size.
    public var movedBytes: Int64? { expandedBytes ?? sizeBytes }
}

/// Everything refresh learned: the facts a plan is built on, and that a saved plan is checked against.
public struct Facts: Sendable, Codable, Equatable {
    public var instances: [String: InstanceFacts] = [:]
    /// Instances that could not be described, with why.
    public var unreachable: [String: Diagnostic] = [:]
    /// Import sources by `ImportSource.description`.
    public var sources: [String: SourceFacts] = [:]
    /// Backup sets found under each backup resource's directory, by backup address name.
    public var backupSets: [String: [BackupSetManifest]] = [:]
    /// Backup locations that cannot be listed or written (wrong key or login, unreachable, no
    /// bucket, read-only), by backup address name: plan-time errors (SPEC §3). Optional so that
    /// plans saved by earlier releases still load.
    public var backupLocationProblems: [String: Diagnostic]?
    /// Import sources whose facts could not be read (gone, refused, unreachable), by
    /// `ImportSource.description`, with the reason: the plan says why it cannot tell whether
    /// they changed. Optional so that plans saved by earlier releases still load.
    public var sourceProblems: [String: String]?
    /// Imports whose source refused the credentials the import would use
    /// (`EngineSession.openImportSource`), by import name: plan-time errors, at the import's
    /// `from`. Optional so that plans saved by earlier releases still load.
    public var importSourceRefusals: [String: Diagnostic]?

    public init() {}
}

extension DatabaseClaim {
    /// The state directory on this host that still holds this claim's run as an unfinished
    /// journal (`journal`, where the claim says it is), or nil: none named (an earlier release's
    /// claim, an engine that keeps no place), a server state, another host's directory (which
    /// cannot be looked at from here), a directory that no longer holds it, or a run that ended.
    /// While one does, the run is not over: `ferry recover` there undoes it (round-14 A3).
    public var unfinishedJournalHere: String? {
        guard let place = journal, place.hasPrefix("/"), host == nil || host == ProcessInfo.processInfo.hostName else { return nil }
        let runs = RunStore(store: StateStore(directory: place))
        guard FileManager.default.fileExists(atPath: runs.journalPath(of: runID)), !runs.isSettled(runID) else { return nil }
        if let replay = try? runs.replay(runID), replay.isFinished { return nil }
        return place
    }

    /// Where the claim says the run's journal is, when that is a state directory on this host
    /// other than `here` (another working copy's: the project copied or moved) that still holds
    /// the run: its path and the run's outcome there (nil: its journal cannot be read, taken as
    /// unfinished). Nil when the claim names `here` (by path, or the same directory reached by
    /// another path), no place, a server state, another host's directory, or a directory
    /// without the run. `ferry recover` of a copy refuses while the run is unfinished there
    /// (fresh tester round 21, H2: a recover in the project and one in a `cp -a` copy of it
    /// undid the run at once).
    public func journalElsewhere(than here: String) -> (place: String, replay: RunReplay?)? {
        guard let place = journal, place != here, place.hasPrefix("/"),
              host == nil || host == ProcessInfo.processInfo.hostName,
              !Self.sameDirectory(place, here) else { return nil }
        let runs = RunStore(store: StateStore(directory: place))
        guard FileManager.default.fileExists(atPath: runs.journalPath(of: runID)) else { return nil }
        return (place, try? runs.replay(runID))
    }

    /// Whether two paths name one directory (the same device and inode; a bind mount or a
    /// path `realpath` does not resolve the same way).
    public static func sameDirectory(_ a: String, _ b: String) -> Bool {
        var x = stat(), y = stat()
        guard stat(a, &x) == 0, stat(b, &y) == 0 else { return false }
        return x.st_dev == y.st_dev && x.st_ino == y.st_ino
    }

    /// The runs whose leftovers are this claim's run's: its own, and for a rollback run the run
    /// it reverts (`reverts`), whose checkpoints its undo moves back.
    public var leftoverRuns: [String] { [runID] + (reverts.map { [$0] } ?? []) }

    /// True for a claim the next run that claims on its instance may clear: its run provably no
    /// longer runs (`isHolderGone`), no state directory on this host holds it unfinished
    /// (`unfinishedJournalHere`: fresh tester round 15, B6, a killed `ferry rollback RUN`, whose
    /// leftovers carry the reverted run's name, had its claims cleared by an apply from another
    /// working copy, which swapped over the half-restored target), and `leftovers` (the engine's
    /// shadows and checkpoints there of a run id) finds none for any of `leftoverRuns` (round 16,
    /// C1: the same with that directory moved away, or on another host).
    public func isClearable(leftovers: (String) throws -> [String]) rethrows -> Bool {
        guard isHolderGone, unfinishedJournalHere == nil else { return false }
        for run in leftoverRuns where !(try leftovers(run)).isEmpty { return false }
        return true
    }

    /// What the claim's run left, as `leftovers` gives it for each of `leftoverRuns`, said for
    /// a message: `it left A, B`; for a rollback run also `it is a rollback of run R, whose C is
    /// still here`. Nil when nothing is found and the run reverts none.
    public func leftoverPhrase(leftovers: (String) throws -> [String]) -> String? {
        let own = (try? leftovers(runID)) ?? []
        let reverted = reverts.map { ((try? leftovers($0)) ?? []) } ?? []
        var parts: [String] = []
        if !own.isEmpty { parts.append("it left " + own.joined(separator: ", ")) }
        if let reverts {
            parts.append("it is a rollback of run \(reverts)" + (reverted.isEmpty ? "" : ", whose " + reverted.joined(separator: ", ") + (reverted.count == 1 ? " is" : " are") + " still here"))
        }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }
}
