import Foundation

/// Local paths as the file system resolves them.
public enum LocalPath {
    /// `path` (absolute) with its parent resolved as `PathResolution.realPath` resolves it (every
    /// symbolic link followed; for a parent that does not exist yet, its nearest existing
    /// ancestor) and its last level as written: a link at `path` itself is not followed.
    public static func resolvedParent(of path: String) -> String {
        let parent = (path as NSString).deletingLastPathComponent
        let last = (path as NSString).lastPathComponent
        guard path.hasPrefix("/"), !parent.isEmpty, parent != path else { return path }
        let resolved = PathResolution.realPath(parent)
        return (resolved == "/" ? "" : resolved) + "/" + last
    }
}
