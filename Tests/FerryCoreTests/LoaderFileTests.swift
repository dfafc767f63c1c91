import Foundation
import Testing
@testable import FerryCore

/// Loading real files: directories, relative paths, file sources and symbolic links.
@Suite struct LoaderFileTests {
    @Test func relativePathsResolveAgainstTheFileDirectory() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("data/app.sql", "CREATE TABLE t (x int);\n")
        try dir.write("data/part2.sql.gz", "")
        try dir.write("secrets/pw", "not-a-real-password\n")
        try dir.write("plans/main.json", """
        {
          "ferry": 1,
          "instances": {
            "dev": { "engine": "sqlite", "path": "../var/dev" },
            "db": { "engine": "postgres", "url": "postgres://u@h/db", "password": { "file": "../secrets/pw" } }
          },
          "imports": {
            "seed": { "into": "dev", "database": "app", "from": "../data/app.sql" },
            "two": { "into": "dev", "database": "two", "from": ["file:../data/app.sql", "file://\(dir.path)/data/part2.sql.gz"] }
          },
          "backups": { "b": { "of": "dev", "databases": ["app"], "to": "./../backups/dev/" } }
        }
        """)
        let result = PlanLoader(environment: [:], root: dir.path).load(path: dir.path + "/plans")
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics.map(\.description))")
        let plan = result.plan
        #expect(plan.instances["dev"]?.path == dir.path + "/var/dev")
        #expect(plan.instances["db"]?.password == .file(dir.path + "/secrets/pw"))
        #expect(plan.imports["seed"]?.sources == [.file(dir.path + "/data/app.sql")])
        #expect(plan.imports["two"]?.sources == [.file(dir.path + "/data/app.sql"), .file(dir.path + "/data/part2.sql.gz")])
        #expect(plan.imports["two"]?.format == .sql)
        #expect(plan.backups["b"]?.to == dir.path + "/backups/dev")
        #expect(plan.root == dir.path)
        #expect(plan.files == [dir.path + "/plans/main.json"])
        #expect(plan.locations["imports.seed.from"]?.file == dir.path + "/plans/main.json")
    }

    @Test func missingSourceFileIsReported() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let text = """
        { "ferry": 1, "instances": { "dev": { "engine": "sqlite", "path": "var" } },
          "imports": { "seed": { "into": "dev", "database": "app", "from": "data/nope.sql" } } }
        """
        try dir.write("plan.json", text)
        let result = PlanLoader(environment: [:], root: dir.path).load(path: dir.path + "/plan.json")
        let diagnostic = try single(result, .invalidParameter)
        #expect(diagnostic.message == "source file not found: \(dir.path)/data/nope.sql")
        #expect(diagnostic.location?.jsonPath == "imports.seed.from")
        #expect(diagnostic.location?.line == 2)
    }

    @Test func sourcesOutsideTheRootAreRejectedAfterFollowingLinks() throws {
        let outside = try TemporaryDirectory()
        let project = try TemporaryDirectory()
        defer {
            outside.remove()
            project.remove()
        }
        try outside.write("secret.sql", "SELECT 1;\n")
        try project.write("inside.sql", "SELECT 1;\n")
        try FileManager.default.createSymbolicLink(atPath: project.path + "/link.sql",
                                                   withDestinationPath: outside.path + "/secret.sql")
        try FileManager.default.createSymbolicLink(atPath: project.path + "/linkdir",
                                                   withDestinationPath: outside.path)
        try FileManager.default.createSymbolicLink(atPath: outside.path + "/back.sql",
                                                   withDestinationPath: project.path + "/inside.sql")
        let text = """
        {
          "ferry": 1,
          "instances": { "dev": { "engine": "sqlite", "path": "var" } },
          "imports": {
            "a": { "into": "dev", "database": "a", "from": "link.sql" },
            "b": { "into": "dev", "database": "b", "from": "linkdir/secret.sql" },
            "c": { "into": "dev", "database": "c", "from": "\(outside.path)/secret.sql" },
            "d": { "into": "dev", "database": "d", "from": "inside.sql" },
            "e": { "into": "dev", "database": "e", "from": "\(outside.path)/back.sql" }
          }
        }
        """
        try project.write("plan.json", text)
        let result = PlanLoader(environment: [:], root: project.path).load(path: project.path + "/plan.json")
        let outsideRoot = diagnostics(result, .pathOutsideRoot)
        #expect(outsideRoot.map(\.location?.jsonPath) == ["imports.a.from", "imports.b.from", "imports.c.from"])
        #expect(outsideRoot[0].message.contains("links to \(outside.path)/secret.sql"))
        #expect(outsideRoot[0].hint == "move it inside the project, or pass --allow-outside \(outside.path)/secret.sql")
        #expect(result.diagnostics.count == 3)

        let allowed = PlanLoader(environment: [:], root: project.path, allowOutside: [outside.path])
            .load(path: project.path + "/plan.json")
        #expect(allowed.diagnostics.isEmpty, "\(allowed.diagnostics.map(\.description))")
        #expect(allowed.plan.imports["a"]?.sources == [.file(project.path + "/link.sql")])
    }

    @Test func directoryFilesMergeInNameOrderAndNamesMustBeUnique() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("plans/b-copies.json", """
        {
          "ferry": 1,
          "instances": {
            "prod": { "engine": "redis", "url": "redis://127.0.0.1:6380" }
          },
          "copies": { "c": { "from": "prod", "to": "staging", "databases": ["0"] } }
        }
        """)
        try dir.write("plans/a-instances.json", """
        {
          "ferry": 1,
          "instances": {
            "prod": { "engine": "redis", "url": "redis://127.0.0.1:6379" },
            "staging": { "engine": "redis", "url": "redis://127.0.0.1:6381" }
          }
        }
        """)
        try dir.write("plans/notes.txt", "not a plan")
        try dir.write("plans/nested/ignored.json", "{ broken")
        let result = PlanLoader(environment: [:], root: dir.path).load(path: dir.path + "/plans")
        #expect(result.plan.files == [dir.path + "/plans/a-instances.json", dir.path + "/plans/b-copies.json"])
        let duplicate = try single(result, .duplicateName)
        #expect(duplicate.location == FerryCore.SourceLocation(file: dir.path + "/plans/b-copies.json", line: 4, column: 5,
                                                               jsonPath: "instances.prod"))
        #expect(duplicate.message == "instance \"prod\" is already defined in \(dir.path)/plans/a-instances.json")
        #expect(duplicate.hint?.contains("a-instances.json:4:5") == true)
        #expect(result.plan.instances["prod"]?.url == "redis://127.0.0.1:6379")
        #expect(result.plan.copies["c"]?.to == "staging")
        #expect(result.diagnostics.count == 1)
    }

    @Test func aSyntaxErrorInOneFileDoesNotHideTheOthers() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("plans/a.json", "{\n  \"ferry\": 1,\n  \"instances\": {\n}")
        try dir.write("plans/b.json", "{ \"ferry\": 1, \"copies\": { \"c\": { \"from\": \"x\", \"to\": \"y\", \"databases\": [\"d\"] } } }")
        let result = PlanLoader(environment: [:], root: dir.path).load(path: dir.path + "/plans")
        #expect(result.diagnostics.map(\.code) == [.syntax, .unknownInstance, .unknownInstance])
        #expect(result.diagnostics[0].location?.file == dir.path + "/plans/a.json")
        #expect(result.diagnostics[0].location?.line == 4)
        #expect(result.diagnostics[1].location?.file == dir.path + "/plans/b.json")
    }

    @Test func directoriesMayBeMissingButNotFiles() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("var/dev", "a file where a directory should be")
        let text = """
        { "ferry": 1,
          "instances": { "dev": { "engine": "sqlite", "path": "var/dev" }, "new": { "engine": "sqlite", "path": "var/new" } },
          "backups": { "b": { "of": "new", "databases": ["app"], "to": "var/dev" } } }
        """
        try dir.write("plan.json", text)
        let result = PlanLoader(environment: [:], root: dir.path).load(path: dir.path + "/plan.json")
        let invalid = diagnostics(result, .invalidParameter)
        #expect(invalid.map(\.location?.jsonPath) == ["instances.dev.path", "backups.b.to"])
        #expect(invalid.first?.message == "\(dir.path)/var/dev is a file, not a directory")
        #expect(result.plan.instances["new"]?.path == dir.path + "/var/new")
    }

    @Test func missingPathsAndEmptyDirectoriesAreReported() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let missing = PlanLoader(environment: [:], root: dir.path).load(path: dir.path + "/nope")
        #expect(missing.diagnostics.map(\.code) == [.invalidParameter])
        #expect(missing.hasErrors)
        try FileManager.default.createDirectory(atPath: dir.path + "/empty", withIntermediateDirectories: true)
        let empty = PlanLoader(environment: [:], root: dir.path).load(path: dir.path + "/empty")
        #expect(empty.diagnostics.first?.message == "no *.json files in \(dir.path)/empty")
    }

    @Test func filesInsideTheWorkingDirectoryAreShownRelative() {
        let result = PlanLoader(environment: [:]).load(text: "{ \"ferry\": 1 }", file: "./plans/../plans/x.json")
        #expect(result.plan.files == ["plans/x.json"])
        let absolute = PlanLoader(environment: [:]).load(text: "{ \"ferry\": 1, \"x\": 1 }",
                                                          file: FileManager.default.currentDirectoryPath + "/p.json")
        #expect(absolute.diagnostics.first?.location?.file == "p.json")
    }
}
