import Foundation
import Testing
@testable import FerryCore

/// An absolute directory nothing on this machine has made: `<tmp>/ferry-core-unmade-<UUID>`.
/// The loader looks at a plan's absolute paths (a `path` that is a file is refused), so a test
/// that writes a fixed name such as `/tmp/a` fails whenever something else left a file there.
let unmadeDirectory = FileManager.default.temporaryDirectory
    .appendingPathComponent("ferry-core-unmade-\(UUID().uuidString)").path

/// Loads a plan text as `plans/test.json` with a fixed environment.
func loadPlan(_ text: String, environment: [String: String] = [:], file: String = "plans/test.json") -> LoadResult {
    PlanLoader(environment: environment).load(text: text, file: file)
}

/// The diagnostics with one code.
func diagnostics(_ result: LoadResult, _ code: ErrorCode) -> [Diagnostic] {
    result.diagnostics.filter { $0.code == code }
}

/// Asserts exactly one diagnostic with `code` and returns it.
func single(_ result: LoadResult, _ code: ErrorCode, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> Diagnostic {
    let found = diagnostics(result, code)
    #expect(found.count == 1, "expected one \(code.rawValue), got \(result.diagnostics.map(\.description))",
            sourceLocation: sourceLocation)
    return try #require(found.first, sourceLocation: sourceLocation)
}

/// A temporary directory removed when the test ends (call `remove()`).
struct TemporaryDirectory {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.path
        path = PathResolutionForTests.realPath(base + "/ferry-loader-" + UUID().uuidString)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func write(_ relative: String, _ text: String) throws {
        let full = path + "/" + relative
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try text.write(toFile: full, atomically: true, encoding: .utf8)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

enum PathResolutionForTests {
    static func realPath(_ path: String) -> String {
        let parent = (path as NSString).deletingLastPathComponent
        return URL(fileURLWithPath: parent).resolvingSymlinksInPath().path + "/" + (path as NSString).lastPathComponent
    }
}

/// The SPEC §2 example, with sources that need no files.
let specExample = """
{
  "ferry": 1,
  "instances": {
    "prod":    { "engine": "mysql",  "url": "mysql://app@127.0.0.1:3306",
                 "password": { "env": "PROD_DB_PASSWORD" },
                 "account": "acme", "region": "local" },
    "staging": { "engine": "mysql",  "url": "${env:STAGING_URL}",
                 "storageLimit": "20 GiB", "maxConnections": 4 },
    "cache":   { "engine": "redis",  "url": "redis://127.0.0.1:6379" },
    "dev":     { "engine": "sqlite", "path": "../var/dev" }
  },
  "imports": {
    "dev-seed":   { "into": "dev", "database": "app", "from": "https://example.com/app.sql" },
    "cache-warm": { "into": "cache", "database": "0",
                    "from": ["s3://bucket/cache-1_of_2.rdb.gz", "s3://bucket/cache-2_of_2.rdb.gz"],
                    "onExisting": "replace" }
  },
  "copies": {
    "staging-app": { "from": "prod", "to": "staging",
                     "databases": { "app": "app_staging", "billing": "billing" },
                     "users": "sync", "onExisting": "replace" },
    "staging-old": { "from": "prod", "to": "staging", "databases": ["audit"],
                     "at": "2026-11-20T16:00:00Z" }
  },
  "backups": {
    "prod-nightly": { "of": "prod", "databases": ["app"], "to": "../backups/prod",
                      "every": "24h", "keep": 7 }
  }
}
"""

/// The 1-based line and column (in Unicode scalars) of the `occurrence`th `needle` in `text`.
func position(of needle: String, in text: String, occurrence: Int = 1) -> (line: Int, column: Int) {
    var searchStart = text.startIndex
    var found: Range<String.Index>?
    for _ in 0..<occurrence {
        guard let range = text.range(of: needle, range: searchStart..<text.endIndex) else { return (0, 0) }
        found = range
        searchStart = range.upperBound
    }
    guard let found else { return (0, 0) }
    let prefix = text[..<found.lowerBound]
    let line = prefix.filter { $0 == "\n" }.count + 1
    let lineStart = prefix.lastIndex(of: "\n").map { prefix.index(after: $0) } ?? prefix.startIndex
    return (line, prefix[lineStart...].unicodeScalars.count + 1)
}

/// Asserts a diagnostic sits at `needle` in `text`, with this JSON path.
func expectPlaced(_ diagnostic: Diagnostic, at needle: String, in text: String, occurrence: Int = 1, path: String,
                  sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    let expected = position(of: needle, in: text, occurrence: occurrence)
    #expect(diagnostic.location?.line == expected.line, "line of \(diagnostic)", sourceLocation: sourceLocation)
    #expect(diagnostic.location?.column == expected.column, "column of \(diagnostic)", sourceLocation: sourceLocation)
    #expect(diagnostic.location?.jsonPath == path, sourceLocation: sourceLocation)
    #expect(diagnostic.location?.file == "plans/test.json", sourceLocation: sourceLocation)
}

/// A plan with two mysql instances `prod` and `staging` and the given sections after them.
func planWith(_ sections: String) -> String {
    """
    {
      "ferry": 1,
      "instances": {
        "prod": { "engine": "mysql", "url": "mysql://app@127.0.0.1:3306", "account": "acme" },
        "staging": { "engine": "mysql", "url": "mysql://app@127.0.0.1:3307" }
      },
    \(sections)
    }
    """
}
