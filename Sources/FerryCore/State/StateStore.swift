import Foundation

/// The local state directory (`.ferry/`): state file, lock, runs. Files are created mode 0600.
public struct StateStore: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = (directory as NSString).standardizingPath
    }

    public var stateFile: String { directory + "/state.json" }
    public var lockFile: String { directory + "/state.lock" }
    public var runsDirectory: String { directory + "/runs" }

    /// The state, or a new empty one when none was written yet. The empty state has no lineage
    /// (`""`) and serial 0 every time it is read, so that a plan saved before any state exists
    /// still matches at apply time; the first save gives it its lineage.
    public func load() throws -> State {
        guard let data = FileManager.default.contents(atPath: stateFile) else { return State(lineage: "") }
        do {
            return try JSONDecoder.ferry.decode(State.self, from: data)
        } catch {
            throw FerryError(.internalError, "cannot read state file \(stateFile): \(Self.describe(error))",
                             hint: "the file is JSON written by ferry; restore it from version control or a backup")
        }
    }

    /// A decoding error in a sentence (the field's path and what was wrong), not Swift's debug dump.
    static func describe(_ error: any Error) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error as? DecodingError {
        case .keyNotFound(let key, let context)?: return "missing field \(path(context)).\(key.stringValue)"
        case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?:
            return "wrong value at \(path(context).isEmpty ? "the top" : path(context)): \(context.debugDescription)"
        case .dataCorrupted(let context)?:
            return path(context).isEmpty ? "not valid JSON" : "bad value at \(path(context)): \(context.debugDescription)"
        default: return (error as NSError).localizedDescription
        }
    }

    /// Writes the state with serial `expectedSerial + 1` (default: the serial it was read with),
    /// atomically and durably, if the stored serial is still `expectedSerial`: a compare-and-swap
    /// under an exclusive `flock` of the directory, so that two writers, lock or no lock, never
    /// lose each other's update. Throws `PlanStale` when the state changed since it was read.
    @discardableResult
    public func save(_ state: State, expectingSerial: Int? = nil) throws -> State {
        let expected = expectingSerial ?? state.serial
        try ensureDirectory()
        return try underDirectoryLock {
            let current = try load()
            try Self.checkSwap(current: current, writing: state, expectingSerial: expected, location: directory)
            var next = state
            if next.lineage.isEmpty { next.lineage = current.lineage.isEmpty ? UUID().uuidString.lowercased() : current.lineage }
            next.serial = expected + 1
            try DurableFile.writeAtomically(try JSONEncoder.ferry.encode(next), to: stateFile)
            return next
        }
    }

    /// The compare of every backend's compare-and-swap: the stored serial must be the one the
    /// writer read, and a state that has a lineage can only be followed by the same lineage.
    public static func checkSwap(current: State, writing state: State, expectingSerial expected: Int, location: String) throws {
        guard current.serial == expected else {
            throw FerryError(.planStale, "the state in \(location) changed since it was read: serial \(expected) was read, serial \(current.serial) is stored",
                             hint: "another ferry wrote it meanwhile; nothing was written: plan again and review the changes")
        }
        guard current.lineage.isEmpty || state.lineage.isEmpty || current.lineage == state.lineage else {
            throw FerryError(.planStale, "the state in \(location) is of another lineage (\(current.lineage), not \(state.lineage))",
                             hint: "it was replaced by another state since it was read; nothing was written")
        }
    }

    /// Runs `body` under an exclusive `flock` of the state directory (held only for a moment: the
    /// lock file's takeover and the state's compare-and-swap).
    func underDirectoryLock<T>(_ body: () throws -> T) throws -> T {
        let file = try RawFile.open(directory, O_RDONLY | O_DIRECTORY)
        while flock(file.descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else { throw DurableFile.posixError("cannot lock \(directory)") }
        }
        defer { flock(file.descriptor, LOCK_UN) }
        return try body()
    }

    public func ensureDirectory() throws {
        try DurableFile.makeDirectory(directory)
    }
}

extension JSONEncoder {
    /// Stable output: sorted keys, ISO dates, pretty printed.
    public static var ferry: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    /// One record a line (journals).
    public static var ferryLine: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }
}

extension JSONDecoder {
    public static var ferry: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

/// Small helpers for files that must survive a crash.
public enum DurableFile {
    /// The name `writeAtomically` writes `path`'s bytes under before renaming them to `path`:
    /// `path.tmp-PID`, this process's id.
    public static func temporaryPath(of path: String) -> String { path + ".tmp-\(getpid())" }

    /// Writes to a temporary file (0600), fsyncs it, renames it over `path`, fsyncs the directory.
    /// Errors carry their code by `errno` (`DiskFull`, `OperationDenied.ReadOnly`) and the path;
    /// the temporary file is removed when anything fails. `removingStaleTemporaries`: also remove
    /// `path.tmp-PID` files of processes no longer alive (`removeStaleTemporaries(of:)`).

    public static func writeAtomically(_ data: Data, to path: String, mode: mode_t = 0o600, removingStaleTemporaries: Bool = true) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try makeDirectory(directory)
        let temporary = temporaryPath(of: path)
        let file = try RawFile.open(temporary, O_WRONLY | O_CREAT | O_TRUNC, mode: mode, what: "cannot write")
        defer { file.close() }
        do {
            try file.write(data)
            try file.sync()
            try RawFile.rename(temporary, to: path)
        } catch {
            // A full disk must not leave a half-written temporary file behind.
            RawFile.removeIfPresent(temporary)
            throw error
        }
        syncDirectory(directory)
        if removingStaleTemporaries { removeStaleTemporaries(of: path) }
    }

    /// Removes `path.tmp-PID` files a writer killed between its temporary's creation and its
    /// rename left (round-10 fresh tester F10: `state.json.tmp-<pid>` stayed in `.ferry/`), only
    /// while no process of that id is alive (a live one may be writing it now). The names are
    /// Ferry's own: `writeAtomically` is the only writer of them.
    static func removeStaleTemporaries(of path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let prefix = (path as NSString).lastPathComponent + ".tmp-"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let pid = pid_t(name.dropFirst(prefix.count)), pid > 0, pid != getpid(),
                  kill(pid, 0) != 0, errno == ESRCH else { continue }
            RawFile.removeIfPresent(directory + "/" + name)
        }
    }

    /// Makes the directory's entries durable, as far as it can (a directory that cannot be opened
    /// or synced is left as it is: the write itself succeeded).
    public static func syncDirectory(_ directory: String) {
        try? RawFile.syncDirectory(directory)
    }

    /// Creates a directory (and parents) with mode 0700 when missing.
    public static func makeDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return }
            throw FerryError(.internalError, "\(path) exists and is not a directory")
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw SystemError.error("cannot create directory", path: path, from: error)
        }
    }

    /// A failed system call, by `errno`: `DiskFull`, `OperationDenied.ReadOnly` or `Internal` (`SystemError`).
    static func posixError(_ message: String) -> FerryError {
        let number = errno
        return FerryError(SystemError.code(forErrno: number), "\(message): \(String(cString: strerror(number)))")
    }
}
