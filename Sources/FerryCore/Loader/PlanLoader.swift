import Foundation

/// What loading a plan produced: the plan as far as it could be read, and every problem found.
public struct LoadResult: Sendable {
    public var plan: Plan
    /// Every problem, sorted by file, line and column (problems without a place last).
    public var diagnostics: [Diagnostic]

    public init(plan: Plan, diagnostics: [Diagnostic]) {
        self.plan = plan
        self.diagnostics = diagnostics
    }

    public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

    /// The diagnostics as one error, or nil when there is no error.
    public var error: FerryError? {
        hasErrors ? FerryError(diagnostics: diagnostics.filter { $0.severity == .error }) : nil
    }
}

/// Reads plan files into a `Plan`, checking everything that needs no server (SPEC §2, §3) and
/// collecting every problem with its file, line, column and JSON path (SPEC §8).
///
/// Locations: an instance or resource (`instances.prod`, `copies.x`) points at its name; a field
/// (`instances.prod.url`) at its value; a rename-map entry (`copies.x.databases.app`) at its source
/// name; list elements use their index (`imports.x.from.0`, `copies.x.after.1`) except database
/// lists, which use the name (`copies.x.databases.audit`, `backups.x.databases.app`).
public struct PlanLoader: Sendable {
    public var environment: [String: String]
    /// The project root file sources must stay inside (after following symbolic links).
    public var root: String
    /// Paths outside the root that file sources may still use (`--allow-outside`).
    public var allowOutside: [String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment,
                root: String = FileManager.default.currentDirectoryPath,
                allowOutside: [String] = []) {
        self.environment = environment
        self.root = root
        self.allowOutside = allowOutside
    }

    /// Loads one JSON file, or every `*.json` file of a directory (not recursive, sorted by name) merged.
    public func load(path: String) -> LoadResult {
        load(path: path, onlyState: false)
    }

    /// The plan files' `"state"` block alone (SPEC §2): what every command that reads the state
    /// needs when no `--state` is given. Reports only the block's problems (and a file that cannot
    /// be read or parsed, whose block cannot be known); the rest of the files is not checked.
    /// The result's `plan.state` is nil when no file has a block.
    public func loadState(path: String) -> LoadResult {
        load(path: path, onlyState: true)
    }

    func load(path: String, onlyState: Bool) -> LoadResult {
        let session = PlanLoadSession(loader: self)
        session.onlyState = onlyState
        let files: [String]
        do {
            files = try Self.planFiles(at: path)
        } catch {
            session.diagnostics.append(contentsOf: error.diagnostics)
            return session.finish()
        }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                session.report(.invalidParameter, "cannot read plan file \(PathResolution.display(file))")
                continue
            }
            let text: String
            do {
                text = try Self.decodeText(data, file: file)
            } catch {
                session.diagnostics.append(contentsOf: error.diagnostics)
                continue
            }
            session.loadFile(text: text, absolutePath: file)
        }
        return session.finish()
    }

    /// The text of a plan file's bytes. Throws `InvalidParameter.Syntax` at the line and column of
    /// the first byte that is not UTF-8 (a Latin-1 `café`, say): `validate` and `fmt` refuse such
    /// a file alike, and nothing ever rewrites bytes it could not read.
    public static func decodeText(_ data: Data, file: String) throws(FerryError) -> String {
        if let text = String(data: data, encoding: .utf8) { return text }
        var line = 1
        var column = 1
        var offset = 0
        let bytes = [UInt8](data)
        while offset < bytes.count {
            let length = utf8SequenceLength(bytes, at: offset)
            if length == 0 { break }
            if bytes[offset] == 0x0A { line += 1; column = 1 } else { column += 1 }
            offset += length
        }
        let shown = offset < bytes.count ? String(format: " (byte 0x%02X at offset %d)", bytes[offset], offset) : ""
        let absolute = PathResolution.absolute(file, relativeTo: FileManager.default.currentDirectoryPath)
        throw FerryError(.syntax, "the file is not valid UTF-8\(shown)",
                         hint: "save the file as UTF-8; ferry neither reads nor rewrites other encodings",
                         at: SourceLocation(file: PathResolution.display(absolute), line: line, column: column, jsonPath: ""))
    }

    /// The length of the well-formed UTF-8 sequence at `offset`, or 0 when it is not one.
    static func utf8SequenceLength(_ bytes: [UInt8], at offset: Int) -> Int {
        let first = bytes[offset]
        let length: Int
        var lower: UInt8 = 0x80, upper: UInt8 = 0xBF
        switch first {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; lower = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; upper = 0x9F
        case 0xF0: length = 4; lower = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; upper = 0x8F
        default: return 0
        }
        guard offset + length <= bytes.count else { return 0 }
        for i in 1..<length {
            let byte = bytes[offset + i]
            let (lo, hi) = i == 1 ? (lower, upper) : (UInt8(0x80), UInt8(0xBF))
            guard byte >= lo && byte <= hi else { return 0 }
        }
        return length
    }

    /// The plan files a path names, as absolute paths: the file itself, or a directory's `*.json`
    /// files (not recursive, sorted by name). What `load(path:)` reads and `ferry fmt` rewrites.
    /// Throws `InvalidParameter` when the path does not exist or the directory has no `*.json` file.
    public static func planFiles(at path: String) throws(FerryError) -> [String] {
        let absolute = PathResolution.absolute(path, relativeTo: FileManager.default.currentDirectoryPath)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory) else {
            throw FerryError(.invalidParameter, "plan path not found: \(path)",
                             hint: "pass a plan file or a directory of *.json files")
        }
        guard isDirectory.boolValue else {
            try requireRegularFile(absolute, shown: path)
            return [absolute]
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: absolute)) ?? []
        var files: [String] = []
        for name in names.sorted() where name.hasSuffix(".json") {
            let file = absolute + "/" + name
            var fileIsDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: file, isDirectory: &fileIsDirectory), !fileIsDirectory.boolValue {
                try requireRegularFile(file, shown: PathResolution.display(file))
                files.append(file)
            }
        }
        if files.isEmpty {
            throw FerryError(.invalidParameter, "no *.json files in \(PathResolution.display(absolute))",
                             hint: "run `ferry init` to scaffold a plan")
        }
        return files
    }

    /// Plan files are read whole: a FIFO would block the read and a device never end, so anything
    /// but a regular file is refused before it is opened (`stat(2)`). Throws `InvalidParameter`.
    public static func requireRegularFile(_ absolutePath: String, shown: String) throws(FerryError) {
        let kind = FileKind.of(absolutePath)
        guard kind == .regular else {
            throw FerryError(.invalidParameter, "plan file \(shown) is \(kind?.description ?? "not readable"), not a regular file",
                             hint: "plan files are regular *.json files")
        }
    }

    /// Loads one plan text as if it were the file `file` (relative to the working directory, or absolute).
    public func load(text: String, file: String) -> LoadResult {
        let session = PlanLoadSession(loader: self)
        session.loadFile(text: text, absolutePath: PathResolution.absolute(file, relativeTo: FileManager.default.currentDirectoryPath))
        return session.finish()
    }
}

/// Path arithmetic without touching the file system, plus the symlink-following check of SPEC §3.
enum PathResolution {
    /// `path` made absolute against `base`, with `.` and `..` components removed.
    static func absolute(_ path: String, relativeTo base: String) -> String {
        let joined = path.hasPrefix("/") ? path : base + "/" + path
        var parts: [Substring] = []
        for component in joined.split(separator: "/", omittingEmptySubsequences: true) {
            if component == "." { continue }
            if component == ".." {
                if !parts.isEmpty { parts.removeLast() }
                continue
            }
            parts.append(component)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// The path relative to the working directory when inside it, else absolute.
    static func display(_ absolutePath: String) -> String {
        let cwd = absolute(FileManager.default.currentDirectoryPath, relativeTo: "/")
        if absolutePath == cwd { return "." }
        if cwd == "/" { return String(absolutePath.dropFirst()) }
        if absolutePath.hasPrefix(cwd + "/") { return String(absolutePath.dropFirst(cwd.count + 1)) }
        return absolutePath
    }

    static func directory(of absolutePath: String) -> String {
        guard let slash = absolutePath.lastIndex(of: "/"), slash != absolutePath.startIndex else { return "/" }
        return String(absolutePath[..<slash])
    }

    /// The path with every symbolic link followed (like realpath(3)); for a path that does not exist,
    /// the nearest existing ancestor is resolved and the rest appended.
    static func realPath(_ absolutePath: String) -> String {
        var existing = absolutePath
        var rest: [String] = []
        while existing != "/" && !FileManager.default.fileExists(atPath: existing),
              let slash = existing.lastIndex(of: "/") {
            rest.insert(String(existing[existing.index(after: slash)...]), at: 0)
            existing = directory(of: existing)
        }
        let resolved = URL(fileURLWithPath: existing).resolvingSymlinksInPath().path
        return rest.isEmpty ? resolved : absolute(rest.joined(separator: "/"), relativeTo: resolved)
    }

    static func isInside(_ path: String, _ directory: String) -> Bool {
        directory == "/" || path == directory || path.hasPrefix(directory + "/")
    }
}
