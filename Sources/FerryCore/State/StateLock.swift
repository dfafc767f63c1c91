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
            if !(program as NSString).lastPathComponent.contains("ferry") { return true }
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

    /// Takes the lock or throws `StateLocked` naming the holder.
    public static func acquire(_ store: StateStore, operation: String) throws -> StateLock {
        try store.ensureDirectory()
        let info = LockInfo(id: UUID().uuidString.lowercased(), holder: NSUserName(), pid: getpid(),
                            host: ProcessInfo.processInfo.hostName, time: Date(), operation: operation)
        let data = try JSONEncoder.ferry.encode(info)
        let fd = open(store.lockFile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST, let holder = read(store) {
                var hint = "wait for it to finish; if it is gone, run `ferry unlock \(holder.id)`"
                if holder.isHolderGone { hint = "its process is gone: run `ferry recover`, or `ferry unlock \(holder.id)`" }
                throw FerryError(.stateLocked, "the state is locked by \(holder.summary), lock id \(holder.id)", hint: hint)
            }
            throw DurableFile.posixError("cannot create \(store.lockFile)")
        }
        defer { close(fd) }
        try DurableFile.writeAll(fd, data, path: store.lockFile)
        fsync(fd)
        DurableFile.syncDirectory(store.directory)
        return StateLock(info: info, path: store.lockFile)
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

    /// Takes over a lock whose holder process is gone (recovery after a crash).
    public static func takeOver(_ store: StateStore, operation: String) throws -> StateLock {
        if let holder = read(store), holder.isHolderGone {
            unlink(store.lockFile)
        }
        return try acquire(store, operation: operation)
    }

    public func release() {
        if let current = StateLock.read(StateStore(directory: (path as NSString).deletingLastPathComponent)),
           current.id == info.id {
            unlink(path)
        }
    }
}
