import Foundation

/// The lock that keeps one run per state (`.ferry/state.lock`).
public struct LockInfo: Codable, Sendable, Hashable {
    public var id: String
    public var holder: String
    public var pid: Int32
    public var host: String
    public var time: Date
    public var operation: String

    /// True when the holder is a process on this host that no longer runs: it does not exist, it is a
    /// zombie (killed, not yet reaped by its parent), or its pid now belongs to a program that is not ferry.
    public var isHolderGone: Bool {
        guard host == ProcessInfo.processInfo.hostName else { return false }
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

    public var summary: String {
        "\(holder) (pid \(pid) on \(host), \(operation) since \(ISO8601DateFormatter().string(from: time)))"
    }
}

public final class StateLock: Sendable {
    public let info: LockInfo
    private let path: String

    private init(info: LockInfo, path: String) {
        self.info = info
        self.path = path
    }

    /// Takes the lock or throws `StateLocked` naming the holder. A lock whose holder is provably gone
    /// (a process on this host that no longer runs) is taken over: what that process left half done
    /// is found from its run journal (`RunInterrupted`), not from the lock.
    public static func acquire(_ store: StateStore, operation: String) throws -> StateLock {
        try store.ensureDirectory()
        let info = LockInfo(id: UUID().uuidString.lowercased(), holder: NSUserName(), pid: getpid(),
                            host: ProcessInfo.processInfo.hostName, time: Date(), operation: operation)
        if try create(store, info) { return StateLock(info: info, path: store.lockFile) }
        guard let holder = read(store) else {
            // Released between our attempt and the read: try once more.
            if try create(store, info) { return StateLock(info: info, path: store.lockFile) }
            throw FerryError(.stateLocked, "the state lock \(store.lockFile) is held and cannot be read")
        }
        if holder.isHolderGone, try breakStaleLock(store, id: holder.id), try create(store, info) {
            return StateLock(info: info, path: store.lockFile)
        }
        let current = read(store) ?? holder
        throw FerryError(.stateLocked, "the state is locked by \(current.summary), lock id \(current.id)",
                         hint: "wait for it to finish; if it is gone, run `ferry unlock \(current.id)`")
    }

    /// Creates the lock file exclusively; false when it exists.
    private static func create(_ store: StateStore, _ info: LockInfo) throws -> Bool {
        let fd = open(store.lockFile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST { return false }
            throw DurableFile.posixError("cannot create \(store.lockFile)")
        }
        defer { close(fd) }
        try DurableFile.writeAll(fd, try JSONEncoder.ferry.encode(info), path: store.lockFile)
        fsync(fd)
        DurableFile.syncDirectory(store.directory)
        return true
    }

    /// Removes the lock `id` if it is still the current one, under an exclusive `flock` so that two
    /// processes cannot both break it (the second would remove the first one's new lock).
    private static func breakStaleLock(_ store: StateStore, id: String) throws -> Bool {
        let guardPath = store.lockFile + ".break"
        let fd = open(guardPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw DurableFile.posixError("cannot open \(guardPath)") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw DurableFile.posixError("cannot lock \(guardPath)") }
        defer { flock(fd, LOCK_UN) }
        guard let current = read(store), current.id == id, current.isHolderGone else { return read(store) == nil }
        unlink(store.lockFile)
        return true
    }

    /// The current holder, if any.
    public static func read(_ store: StateStore) -> LockInfo? {
        guard let data = FileManager.default.contents(atPath: store.lockFile) else { return nil }
        return try? JSONDecoder.ferry.decode(LockInfo.self, from: data)
    }

    /// Removes the lock if `id` names it (`ferry unlock`).
    public static func forceUnlock(_ store: StateStore, id: String) throws {
        guard let holder = read(store) else {
            throw FerryError(.stateLocked, "the state is not locked")
        }
        guard holder.id == id else {
            throw FerryError(.stateLocked, "lock id \(id) does not match the current lock \(holder.id) held by \(holder.summary)")
        }
        unlink(store.lockFile)
    }

    public func release() {
        if let current = StateLock.read(StateStore(directory: (path as NSString).deletingLastPathComponent)),
           current.id == info.id {
            unlink(path)
        }
    }
}
