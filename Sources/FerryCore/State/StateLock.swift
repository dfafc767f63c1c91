import Foundation

/// The lock that keeps one run per state (`.ferry/state.lock`).
public struct LockInfo: Codable, Sendable, Hashable {
    public var id: String
    public var holder: String
    public var pid: Int32
    public var host: String
    public var time: Date
    public var operation: String

    public init(id: String, holder: String, pid: Int32, host: String, time: Date, operation: String) {
        self.id = id
        self.holder = holder
        self.pid = pid
        self.host = host
        self.time = time
        self.operation = operation
    }

    /// True when the holder is a process on this host that no longer runs: it does not exist, it is a
    /// zombie (killed, not yet reaped by its parent), or its pid now belongs to a program that is not ferry.
    public var isHolderGone: Bool { ProcessLiveness.isGone(pid: pid, host: host) }

    public var summary: String {
        "\(holder) (pid \(pid) on \(host), \(operation) since \(ISO8601DateFormatter().string(from: time)))"
    }
}

/// The local backend's lock: the file `state.lock`, holding the `LockInfo` of its holder. A
/// lease until `release`.
public final class StateLock: StateLease {
    public let info: LockInfo
    private let path: String

    /// How old an unreadable (empty, torn) lock file must be before it counts as stale. A lock is
    /// published whole (`link(2)` of a synced temporary file), so only a crash of an older ferry or
    /// a damaged disk leaves one; the grace keeps a slow writer of another version safe.
    public static let unreadableGrace: TimeInterval = 30

    private init(info: LockInfo, path: String) {
        self.info = info
        self.path = path
    }

    /// Takes the lock or throws `StateLocked` naming the holder. A lock whose holder is provably gone
    /// (a process on this host that no longer runs) is taken over: what that process left half done
    /// is found from its run journal (`RunInterrupted`), not from the lock. An unreadable lock
    /// older than `unreadableGrace` is taken over too (`ferry unlock` removes it at once).
    public static func acquire(_ store: StateStore, operation: String,
                               unreadableGrace grace: TimeInterval = StateLock.unreadableGrace) throws -> StateLock {
        try store.ensureDirectory()
        let info = LockInfo(id: UUID().uuidString.lowercased(), holder: NSUserName(), pid: getpid(),
                            host: ProcessInfo.processInfo.hostName, time: Date(), operation: operation)
        if try create(store, info) { return StateLock(info: info, path: store.lockFile) }
        guard let holder = read(store) else {
            // Released between our attempt and the read: try once more.
            if try create(store, info) { return StateLock(info: info, path: store.lockFile) }
            if let age = unreadableAge(store), age >= grace, try breakUnreadableLock(store, olderThan: grace),
               try create(store, info) {
                return StateLock(info: info, path: store.lockFile)
            }
            throw FerryError(.stateLocked, "the state lock \(store.lockFile) exists but cannot be read (empty or damaged)",
                             hint: "it is taken over \(Int(grace)) s after it was last written; if no ferry runs here, `ferry unlock` removes it now")
        }
        if holder.isHolderGone, try breakStaleLock(store, id: holder.id), try create(store, info) {
            return StateLock(info: info, path: store.lockFile)
        }
        let current = read(store) ?? holder
        throw FerryError(.stateLocked, "the state is locked by \(current.summary), lock id \(current.id)",
                         hint: "wait for it to finish; if it is gone, run `ferry unlock \(current.id)`")
    }

    /// Publishes the lock file whole or not at all: the record is written to a temporary file and
    /// synced, then `link(2)`ed to `state.lock`, which fails when the lock exists. A crash or a full
    /// disk can leave only the temporary file (removed here), never an empty lock. False when held.
    private static func create(_ store: StateStore, _ info: LockInfo) throws -> Bool {
        let temporary = store.lockFile + ".\(info.id).tmp"
        let file = try RawFile.open(temporary, O_WRONLY | O_CREAT | O_EXCL, mode: 0o600, what: "cannot create")
        defer { RawFile.removeIfPresent(temporary) }
        do {
            defer { file.close() }
            try file.write(try JSONEncoder.ferry.encode(info))
            try file.sync()
        }
        guard link(temporary, store.lockFile) == 0 else {
            if errno == EEXIST { return false }
            throw SystemError.error("cannot create", path: store.lockFile)
        }
        DurableFile.syncDirectory(store.directory)
        removeAbandonedTemporaries(store)
        return true
    }

    /// Temporary lock files of processes that died between writing and linking them: at once
    /// when the record they hold names a process of this host that is gone (fresh tester round
    /// 50, F3: a kill loop left them faster than the grace let them go), else once older than
    /// `unreadableGrace` (an unreadable one, or one of another host).
    private static func removeAbandonedTemporaries(_ store: StateStore) {
        let prefix = (store.lockFile as NSString).lastPathComponent + "."
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: store.directory) else { return }
        for name in names where name.hasPrefix(prefix) && name.hasSuffix(".tmp") {
            let path = store.directory + "/" + name
            let gone = FileManager.default.contents(atPath: path).flatMap { try? JSONDecoder.ferry.decode(LockInfo.self, from: $0) }?.isHolderGone ?? false
            if gone || (age(of: path).map { $0 > unreadableGrace } ?? false) { RawFile.removeIfPresent(path) }
        }
    }

    /// Seconds since the lock file was last changed, when it exists and cannot be read as a lock.
    static func unreadableAge(_ store: StateStore) -> TimeInterval? {
        guard FileManager.default.fileExists(atPath: store.lockFile), read(store) == nil else { return nil }
        return age(of: store.lockFile)
    }

    private static func age(of path: String) -> TimeInterval? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        let modified = Double(status.st_mtim.tv_sec) + Double(status.st_mtim.tv_nsec) / 1e9
        return Date().timeIntervalSince1970 - modified
    }

    /// Runs `body` under an exclusive `flock` of the state directory itself, so that two processes
    /// cannot both break a lock (the second would remove the first one's new lock). A lock on the
    /// directory leaves no file behind; a guard file (`state.lock.break`, which earlier versions
    /// created and never removed) could not be removed safely, since a process waiting on the removed
    /// file's lock and one locking a new file of the same name would both go on. A stray
    /// `state.lock.break` from those versions is removed here.
    private static func underBreakGuard<T>(_ store: StateStore, _ body: () throws -> T) throws -> T {
        try store.underDirectoryLock {
            RawFile.removeIfPresent(store.lockFile + ".break")
            return try body()
        }
    }

    /// Removes the lock `id` if it is still the current one and its holder is gone.
    private static func breakStaleLock(_ store: StateStore, id: String) throws -> Bool {
        try underBreakGuard(store) {
            guard let current = read(store), current.id == id, current.isHolderGone else { return read(store) == nil }
            RawFile.removeIfPresent(store.lockFile)
            return true
        }
    }

    /// Removes an unreadable lock that has not changed for `grace` seconds.
    private static func breakUnreadableLock(_ store: StateStore, olderThan grace: TimeInterval) throws -> Bool {
        try underBreakGuard(store) {
            guard let age = unreadableAge(store) else { return read(store) == nil }
            guard age >= grace else { return false }
            RawFile.removeIfPresent(store.lockFile)
            return true
        }
    }

    /// The current holder, if any (nil also when the file cannot be read as a lock).
    public static func read(_ store: StateStore) -> LockInfo? {
        guard let data = FileManager.default.contents(atPath: store.lockFile) else { return nil }
        return try? JSONDecoder.ferry.decode(LockInfo.self, from: data)
    }

    /// What `ferry unlock` found and did.
    public typealias UnlockResult = LockRelease

    /// Removes the lock if `id` names it (`ferry unlock LOCK_ID`), or, with no id, a lock file that
    /// cannot be read (empty or damaged; it has no id to give). Throws `StateLocked` otherwise.
    public static func forceUnlock(_ store: StateStore, id: String?) throws -> UnlockResult {
        let exists = FileManager.default.fileExists(atPath: store.lockFile)
        guard let holder = read(store) else {
            guard exists else { throw FerryError(.stateLocked, "the state is not locked") }
            try underBreakGuard(store) {
                if read(store) == nil { RawFile.removeIfPresent(store.lockFile) }
            }
            return .removedUnreadable(store.lockFile)
        }
        guard let id else {
            throw FerryError(.stateLocked, "the state is locked by \(holder.summary), lock id \(holder.id)",
                             hint: "if that run is gone, run `ferry unlock \(holder.id)`")
        }
        guard holder.id == id else {
            throw FerryError(.stateLocked, "lock id \(id) does not match the current lock \(holder.id) held by \(holder.summary)")
        }
        RawFile.removeIfPresent(store.lockFile)
        return .released(holder)
    }

    /// Throws `StateLocked` when `state.lock` no longer names this lock (removed by `ferry unlock`,
    /// or taken over).
    public func checkHeld() throws {
        guard StateLock.read(StateStore(directory: (path as NSString).deletingLastPathComponent))?.id == info.id else {
            throw FerryError(.stateLocked, "the state lock \(path) no longer names this run's lock \(info.id)",
                             hint: "it was removed (`ferry unlock`) or taken over while the run went on; `ferry runs` and `ferry status` show what happened")
        }
    }

    public func release() {
        if let current = StateLock.read(StateStore(directory: (path as NSString).deletingLastPathComponent)),
           current.id == info.id {
            RawFile.removeIfPresent(path)
        }
    }
}
