import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Local paths as the file system resolves them.
public enum LocalPath {
    /// `path` with every symbolic link in it resolved: `realpath(3)` of its nearest existing
    /// ancestor (itself when it exists), and the levels below that as written. Two paths that
    /// resolve alike reach the same directory through the same links or none.
    public static func resolved(_ path: String) -> String {
        var existing = path
        var below: [String] = []
        while !existing.isEmpty {
            if let pointer = realpath(existing, nil) {
                defer { free(pointer) }
                let base = String(cString: pointer)
                return ([base == "/" ? "" : base] + below.reversed()).joined(separator: "/")
            }
            let parent = (existing as NSString).deletingLastPathComponent
            below.append((existing as NSString).lastPathComponent)
            if parent == existing { break }
            existing = parent
        }
        return path
    }

    /// `path` with its parent `resolved` and its last level as written: a link at `path`
    /// itself is not followed.
    public static func resolvedParent(of path: String) -> String {
        let parent = (path as NSString).deletingLastPathComponent
        let last = (path as NSString).lastPathComponent
        return parent.isEmpty || parent == path ? path : resolved(parent) + "/" + last
    }
}
