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
            throw FerryError(.internalError, "cannot read state file \(stateFile): \(error)",
                             hint: "the file is JSON written by ferry; restore it from version control or a backup")
        }
    }

    /// Writes the state with the serial incremented, atomically and durably.
    @discardableResult
    public func save(_ state: State) throws -> State {
        var next = state
        if next.lineage.isEmpty { next.lineage = UUID().uuidString.lowercased() }
        next.serial += 1
        try DurableFile.writeAtomically(try JSONEncoder.ferry.encode(next), to: stateFile)
        return next
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
    /// Writes to a temporary file (0600), fsyncs it, renames it over `path`, fsyncs the directory.
    public static func writeAtomically(_ data: Data, to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try makeDirectory(directory)
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw posixError("cannot write \(temporary)") }
        defer { close(fd) }
        try writeAll(fd, data, path: temporary)
        guard fsync(fd) == 0 else { throw posixError("cannot sync \(temporary)") }
        guard rename(temporary, path) == 0 else { throw posixError("cannot replace \(path)") }
        syncDirectory(directory)
    }

    public static func writeAll(_ fd: Int32, _ data: Data, path: String) throws {
        try data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw posixError("cannot write \(path)")
                }
                offset += n
            }
        }
    }

    public static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    /// Creates a directory (and parents) with mode 0700 when missing.
    public static func makeDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return }
            throw FerryError(.internalError, "\(path) exists and is not a directory")
        }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
    }

    static func posixError(_ message: String) -> FerryError {
        FerryError(.internalError, "\(message): \(String(cString: strerror(errno)))")
    }
}
