import Foundation

/// The files and directories a session makes for a moment of its work and removes again (a client
/// program's stderr, a schema dumped for `pg_restore`), named `tmp-<what>-<UUID>` inside a run's
/// scratch directory (`ConnectionTarget.scratchDirectory`), else inside the system's temporary
/// directory. A run killed before it removed them leaves them in its own run directory, where
/// `ferry recover` finds them by that prefix (`removeAll(in:)`), never in a directory it shares.
public enum ScratchFiles {
    /// What every name made here starts with.
    public static let prefix = "tmp-"

    /// A path for a new file or directory `tmp-<what>-<UUID><suffix>` in `base` (nil: the system's
    /// temporary directory), creating `base` (mode 0700) when it is missing. Throws when `base`
    /// cannot be created.
    public static func path(in base: String?, _ what: String, suffix: String = "") throws -> URL {
        let directory = base ?? FileManager.default.temporaryDirectory.path
        if !FileManager.default.fileExists(atPath: directory) {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        }
        return URL(fileURLWithPath: directory).appendingPathComponent("\(prefix)\(what)-\(UUID().uuidString)\(suffix)")
    }

    /// A new, empty directory (mode 0700) named as `path(in:_:)` says.
    public static func makeDirectory(in base: String?, _ what: String) throws -> URL {
        let url = try path(in: base, what)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        return url
    }

    /// Removes every `tmp-` entry of `directory` (a run's scratch directory: nothing else writes
    /// into it) and returns how many it removed.
    @discardableResult
    public static func removeAll(in directory: String) -> Int {
        var removed = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix(prefix) {
            if (try? FileManager.default.removeItem(atPath: "\(directory)/\(name)")) != nil { removed += 1 }
        }
        return removed
    }
}
