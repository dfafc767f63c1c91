import FerryCore
import Foundation
import Testing

/// The repository's root: three levels above this file.
let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

func shellQuoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

/// A dpkg database whose `status` file lists exactly `installed` as installed and `removed` as
/// removed with their configuration kept (`deinstall ok config-files`), for `FERRY_DPKG_ADMINDIR`.
func fakeDpkgDatabase(in project: Project, installed: [String], removed: [String] = []) throws -> String {
    func stanza(_ name: String, _ status: String) -> String {
        "Package: \(name)\nStatus: \(status)\nPriority: optional\nSection: libs\nMaintainer: Test <test@example.invalid>\n"
            + "Architecture: amd64\nVersion: 1.0\nDescription: \(name) for a test\n\n"
    }
    let text = installed.map { stanza($0, "install ok installed") }.joined()
        + removed.map { stanza($0, "deinstall ok config-files") }.joined()
    try project.write("dpkg/status", text)
    return project.root + "/dpkg"
}

let buildPackages = ["libsqlite3-dev", "zlib1g-dev", "libssl-dev", "libmariadb-dev", "libpq-dev", "pkg-config"]
let testOnlyPackages = ["sqlite3", "mariadb-server", "mariadb-client", "postgresql", "pgbouncer", "redis-server", "redis-tools", "openssl", "python3",
                        "python3-jsonschema", "python3-venv"]

/// One dry run of scripts/install-deps.sh: its arguments, the dpkg database, the line it must print.
struct DependencyCase: Sendable, CustomTestStringConvertible {
    var arguments: [String]
    var installed: [String]
    var removed: [String] = []
    var expected: String
    var testDescription: String { "\(arguments) → \(expected)" }

    static func without(_ names: String..., from packages: [String]) -> [String] {
        packages.filter { !names.contains($0) }
    }

    static var all: [DependencyCase] {
        let everything = buildPackages + testOnlyPackages
        let allBuild = buildPackages.joined(separator: " ")
        return [
            DependencyCase(arguments: ["--build"], installed: [], expected: "would install: " + allBuild),
            DependencyCase(arguments: ["--build"], installed: without("libmariadb-dev", from: buildPackages),
                           expected: "would install: libmariadb-dev"),
            DependencyCase(arguments: ["--build"], installed: without("libmariadb-dev", "zlib1g-dev", from: buildPackages),
                           expected: "would install: zlib1g-dev libmariadb-dev"),
            DependencyCase(arguments: ["--build"], installed: without("pkg-config", from: buildPackages), removed: ["pkg-config"],
                           expected: "would install: pkg-config"),
            DependencyCase(arguments: ["--build"], installed: buildPackages,
                           expected: "nothing to install: \(allBuild) are installed"),
            DependencyCase(arguments: ["--build"], installed: without("redis-server", from: everything),
                           expected: "nothing to install: \(allBuild) are installed"),
            DependencyCase(arguments: [], installed: without("redis-server", "python3-jsonschema", from: everything),
                           expected: "would install: redis-server python3-jsonschema"),
            DependencyCase(arguments: ["--test"], installed: without("libssl-dev", from: everything),
                           expected: "would install: libssl-dev"),
            DependencyCase(arguments: [], installed: everything,
                           expected: "nothing to install: \(everything.joined(separator: " ")) are installed"),
        ]
    }
}

/// Issue 17: a new user on a fresh machine. The README's two commands, the set-up step, the
/// standalone repository.
@Suite(.serialized) struct NewcomerTests {
    /// The README's two commands are the quickstart script and the test script, `.ci/run` runs the
    /// same test script, and the quickstart script runs the apply the README describes.
    @Test func readmeCommandsAreTheOnesCIAndTheTestsRun() throws {
        let readme = try String(contentsOfFile: repositoryRoot + "/README.md", encoding: .utf8)
        let section = try #require(readme.components(separatedBy: "\n## ").first { $0.hasPrefix("Two commands") },
                                   "README has no \"## Two commands\" section")
        let blocks = section.components(separatedBy: "```sh\n").dropFirst().map {
            $0.components(separatedBy: "```")[0].trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(blocks == ["scripts/quickstart.sh", "scripts/test.sh"])
        // The first screen: the two commands come before the first 60 lines end.
        let firstScreen = readme.split(separator: "\n", omittingEmptySubsequences: false).prefix(60).joined(separator: "\n")
        #expect(firstScreen.contains("scripts/quickstart.sh") && firstScreen.contains("scripts/test.sh"))
        #expect(readme.contains("](docs/SPEC.md)") && readme.contains("](examples/"))

        let ci = try String(contentsOfFile: repositoryRoot + "/.ci/run", encoding: .utf8)
        let ciCommands = ci.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") && !$0.hasPrefix("set ") && !$0.hasPrefix("cd ") }
        #expect(ciCommands == ["exec scripts/test.sh"])

        let quickstart = try String(contentsOfFile: repositoryRoot + "/scripts/quickstart.sh", encoding: .utf8)
        #expect(quickstart.contains("ferry=(swift run ferry)"))
        #expect(quickstart.contains("\"${ferry[@]}\" apply --auto-approve\n"))
        #expect(quickstart.contains("scripts/install-deps.sh --build"))
        let test = try String(contentsOfFile: repositoryRoot + "/scripts/test.sh", encoding: .utf8)
        #expect(test.contains("\nscripts/install-deps.sh\n"))
        for script in ["quickstart.sh", "test.sh", "install-deps.sh", "validate-plans.py"] {
            #expect(FileManager.default.isExecutableFile(atPath: repositoryRoot + "/scripts/" + script), "\(script)")
        }
    }

    /// Everything the repository needs is in it: no file refers to the steering directory beside it.
    @Test func noFileReachesOutsideTheRepository() throws {
        let project = try Project()
        let outside = ".." + "/shared"
        // git grep in a clone; plain grep over the sources in an unpacked archive.
        let root = shellQuoted(repositoryRoot), pattern = shellQuoted(outside)
        let result = try project.runShell("""
            if git -C \(root) rev-parse --git-dir >/dev/null 2>&1; then git -C \(root) grep -n -F -e \(pattern)
            else grep -rnIF --exclude-dir='.build*' --exclude-dir=.ferry --exclude-dir=var -e \(pattern) \(root); fi
            test $? -le 1
            """)
        #expect(result.code == 0, "git grep failed: \(result.stdout)")
        #expect(result.stdout.isEmpty, "files refer to \(outside): \(result.stdout)")
        for document in ["docs/SPEC.md", "docs/DESIGN.md", "docs/STYLE.md", "docs/ARCHITECTURE.md", "bench/workloads"] {
            #expect(FileManager.default.fileExists(atPath: repositoryRoot + "/" + document), "\(document)")
        }
    }

    /// The set-up step installs what is missing and only that: given a dpkg database, the dry run
    /// names exactly the packages it would install, in order, for the build and for the tests.
    @Test(arguments: DependencyCase.all)
    func installDepsNamesWhatIsMissing(_ example: DependencyCase) throws {
        let project = try Project()
        let admin = try fakeDpkgDatabase(in: project, installed: example.installed, removed: example.removed)
        project.environment["FERRY_DPKG_ADMINDIR"] = admin
        let words = [repositoryRoot + "/scripts/install-deps.sh"] + example.arguments + ["--dry-run"]
        let result = try project.runShell(words.map(shellQuoted).joined(separator: " "))
        #expect(result.code == 0, "\(result.stdout)")
        #expect(result.stdout == example.expected + "\n")
    }

    @Test func installDepsRefusesUnknownArguments() throws {
        let project = try Project()
        let result = try project.runShell(shellQuoted(repositoryRoot + "/scripts/install-deps.sh") + " --everything --dry-run")
        #expect(result.code == 2)
        #expect(result.stdout.contains("unknown argument --everything"))
    }

    /// The README's first command on a copy of the repository's scripts and plans: with a package
    /// missing, the dry run names it and the apply it would run, and changes nothing; with every
    /// library installed it installs nothing, applies the quickstart, and a second run finds no changes.
    @Test func quickstartAppliesOnceAndThenHasNothingToDo() throws {
        let project = try Project()
        try FileManager.default.removeItem(atPath: project.root + "/plans")
        for directory in ["scripts", "plans", "docs"] {
            try FileManager.default.copyItem(atPath: repositoryRoot + "/" + directory, toPath: project.root + "/" + directory)
        }
        project.environment["FERRY_BIN"] = Project.binary

        project.environment["FERRY_DPKG_ADMINDIR"] = try fakeDpkgDatabase(
            in: project, installed: buildPackages.filter { $0 != "libmariadb-dev" })
        let dry = try project.runShell("scripts/quickstart.sh --dry-run")
        #expect(dry.code == 0, "\(dry.stdout)")
        #expect(dry.stdout == "would install: libmariadb-dev\nwould run: \(Project.binary) apply --auto-approve\n")
        #expect(!project.exists("var") && !project.exists(".ferry"))

        project.environment["FERRY_DPKG_ADMINDIR"] = try fakeDpkgDatabase(in: project, installed: buildPackages)
        let first = try project.runShell("scripts/quickstart.sh")
        #expect(first.code == 0, "\(first.stdout)")
        #expect(!first.stdout.contains("install"), "\(first.stdout)")
        #expect(first.stdout.contains("Apply complete! 3 created"), "\(first.stdout)")
        #expect(try project.query("var/dev/shop.db", "SELECT count(*) FROM customers").first?.first.map { Int($0) ?? 0 } ?? 0 > 0)
        #expect(try project.query("var/staging/shop_staging.db", "SELECT count(*) FROM orders").first?.first.map { Int($0) ?? 0 } ?? 0 > 0)
        #expect(!((try? FileManager.default.contentsOfDirectory(atPath: project.root + "/var/backups/dev")) ?? []).isEmpty)

        let second = try project.runShell("scripts/quickstart.sh")
        #expect(second.code == 0, "\(second.stdout)")
        #expect(second.stdout.contains("No changes. The instances match the plan."), "\(second.stdout)")
        #expect(!second.stdout.contains("install"))
    }

    /// A test server that cannot start says why: the last lines of its log, not a bare exit 1.
    @Test func aServerThatFailsToStartShowsItsLog() throws {
        guard let url = ProcessInfo.processInfo.environment["FERRY_TEST_MYSQL_A"],
              let port = url.split(separator: ":").last else {
            Issue.record("FERRY_TEST_MYSQL_A is not set: run through scripts/test.sh")
            return
        }
        let project = try Project()
        let script = shellQuoted(repositoryRoot + "/scripts/mysql-servers.sh")
        // Port A is taken by the running server A, so this one cannot bind.
        let result = try project.runShell("\(script) start-extra clash \(port); code=$?; \(script) stop-extra clash; exit $code")
        #expect(result.code == 1)
        #expect(result.stdout.contains("mariadb clash did not start on port \(port); the last lines of"), "\(result.stdout)")
        #expect(result.stdout.contains("Address already in use"), "\(result.stdout)")
    }

    /// Servers that run as their own user keep their data where that user can enter: the runtime
    /// directory itself when it can, a directory of ours under /var/tmp when the checkout is in a
    /// 0700 directory.
    @Test func serverDataGoesWhereTheServerUserCanReachIt() throws {
        guard getuid() == 0, getpwnam("mysql") != nil else {
            Issue.record("needs root and the mysql user (scripts/test.sh installs mariadb-server)")
            return
        }
        let project = try Project()
        try FileManager.default.createDirectory(atPath: project.root + "/private/runtime", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: project.root + "/open/runtime", withIntermediateDirectories: true)
        chmod(project.root, 0o755)
        chmod(project.root + "/private", 0o700)
        chmod(project.root + "/open", 0o755)
        let library = shellQuoted(repositoryRoot + "/scripts/lib/server-home.sh")
        let open = try project.runShell("bash -c 'source \(library); server_home mysql \"$0\"' \(shellQuoted(project.root + "/open/runtime"))")
        #expect(open.stdout == project.root + "/open/runtime\n")
        let closed = try project.runShell("bash -c 'source \(library); server_home mysql \"$0\"' \(shellQuoted(project.root + "/private/runtime"))")
        let home = closed.stdout.trimmingCharacters(in: .newlines)
        defer { if home.hasPrefix("/var/tmp/ferry-test-servers-") { try? FileManager.default.removeItem(atPath: home) } }
        #expect(closed.code == 0 && home.hasPrefix("/var/tmp/ferry-test-servers-"), "\(closed.stdout)")
        let reachable = try project.runShell("runuser -u mysql -- test -x \(shellQuoted(home))")
        #expect(reachable.code == 0)
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: project.root + "/private/runtime/mysql-data")) == home)
        // The same runtime gets the same directory; another gets another.
        let again = try project.runShell("bash -c 'source \(library); server_home mysql \"$0\"' \(shellQuoted(project.root + "/private/runtime"))")
        #expect(again.stdout == closed.stdout)
    }
}

/// Issue 17 point 4: `ferry schema`, `$schema` in plan files, and an independent validator.
@Suite(.serialized) struct PlanSchemaTests {
    /// A python3 that has jsonschema (Debian's python3-jsonschema, installed by scripts/install-deps.sh).
    static func python(_ project: Project) throws -> String? {
        for candidate in ["/usr/bin/python3", "python3"] {
            if try project.runShell("\(candidate) -c 'import jsonschema' 2>/dev/null").code == 0 { return candidate }
        }
        return nil
    }

    static func plans(under directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: repositoryRoot + "/" + directory)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted().map { directory + "/" + $0 }
    }

    /// `validate-plans.py` on the files (paths relative to the repository): one verdict line per file.
    static func schemaVerdicts(_ files: [String], project: Project) throws -> [String: String] {
        let python = try #require(try python(project), "no python3 with jsonschema: run scripts/install-deps.sh")
        let schema = try project.run("schema")
        try #require(schema.code == 0)
        try project.write("plan.schema.json", schema.stdout)
        let command = "cd \(shellQuoted(repositoryRoot)) && \(python) scripts/validate-plans.py \(shellQuoted(project.root + "/plan.schema.json")) "
            + files.map(shellQuoted).joined(separator: " ")
        let result = try project.runShell(command)
        #expect(result.code == 0 || result.code == 1, "\(result.stdout)")
        var verdicts: [String: String] = [:]
        for line in result.stdout.split(separator: "\n") {
            let words = line.split(separator: " ", maxSplits: 2)
            guard words.count >= 2 else { continue }
            verdicts[String(words[1]).trimmingCharacters(in: CharacterSet(charactersIn: ":"))] = String(line)
        }
        return verdicts
    }

    /// `ferry validate FILE` run from the repository's root.
    static func validate(_ file: String) throws -> Project.Result {
        let project = try Project()
        return try project.runShell("cd \(shellQuoted(repositoryRoot)) && \(shellQuoted(Project.binary)) validate \(shellQuoted(file))")
    }

    @Test func schemaIsADraft202012SchemaAndTheCommittedCopyIsCurrent() throws {
        let project = try Project()
        let result = try project.run("schema")
        #expect(result.code == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
        let properties = try #require(object["properties"] as? [String: Any])
        #expect(Set(properties.keys) == Set(PlanSchema.topLevelFields))
        // Every field the loader knows is described (none accepted with any value), and no other.
        #expect(PlanJSONSchema.mismatchedFields() == [])
        let committed = try String(contentsOfFile: repositoryRoot + "/docs/plan.schema.json", encoding: .utf8)
        #expect(committed == result.stdout, "docs/plan.schema.json is stale: run `swift run ferry schema > docs/plan.schema.json`")
        #expect(try project.run("schema", "extra").code == 1)
    }

    /// Every plan of the repository (plans/, examples/, the good and loader-only fixtures) follows
    /// the schema; the good ones and the examples pass `ferry validate` too.
    @Test func everyPlanInTheRepositoryFollowsTheSchema() throws {
        let project = try Project()
        let loaderValid = Self.plans(under: "plans") + Self.plans(under: "examples") + Self.plans(under: "Tests/Fixtures/plans/good")
        let files = loaderValid + Self.plans(under: "Tests/Fixtures/plans/loader-only")
        #expect(files.count >= 20)
        let verdicts = try Self.schemaVerdicts(files, project: project)
        for file in files {
            #expect(verdicts[file] == "ok \(file)", "\(verdicts[file] ?? "no verdict for \(file)")")
        }
        for file in loaderValid {
            let result = try Self.validate(file)
            #expect(result.code == 0, "\(file): \(result.stdout)")
        }
    }

    /// Bad plans: the schema and the loader both refuse each, and the loader with the code the
    /// fixture's name starts with. Loader-only plans (references across entries, files on disk,
    /// environment variables) pass the schema, which cannot see them, and the loader refuses them.
    @Test func schemaAndLoaderAgreeOnBadPlans() throws {
        let project = try Project()
        let bad = Self.plans(under: "Tests/Fixtures/plans/bad")
        let loaderOnly = Self.plans(under: "Tests/Fixtures/plans/loader-only")
        #expect(bad.count >= 40 && loaderOnly.count >= 5)
        let verdicts = try Self.schemaVerdicts(bad, project: project)
        for file in bad + loaderOnly {
            let name = (file as NSString).lastPathComponent
            let codeName = String(name.components(separatedBy: "--")[0])
            let code = try #require(ErrorCode.named(codeName), "\(name) does not start with an error code")
            if bad.contains(file) {
                #expect(verdicts[file]?.hasPrefix("invalid \(file): ") == true, "the schema accepts \(file)")
            }
            let result = try Self.validate(file)
            #expect(result.code == 1, "ferry validate accepts \(file)")
            #expect(result.stdout.contains("error[\(code.rawValue)]"), "\(file): \(result.stdout)")
        }
    }

    /// `"$schema"` is accepted as a string, refused otherwise, and `ferry fmt` puts it first.
    @Test func schemaKeyIsAcceptedAndFormattedFirst() throws {
        let project = try Project()
        try project.write("plans/main.json", """
        {"ferry": 1, "$schema": "https://example.invalid/plan.schema.json",
         "instances": {"dev": {"engine": "sqlite", "path": "../var/dev"}}}
        """)
        #expect(try project.run("validate").code == 0)
        #expect(try project.run("fmt").code == 0)
        let formatted = try #require(project.read("plans/main.json"))
        #expect(formatted.hasPrefix("{\n  \"$schema\": \"https://example.invalid/plan.schema.json\",\n  \"ferry\": 1,"), "\(formatted)")
        try project.write("plans/main.json", #"{"$schema": {"url": "x"}, "ferry": 1}"#)
        let refused = try project.run("validate")
        #expect(refused.code == 1)
        #expect(refused.all.contains("error[InvalidParameter.Type]: $schema must be a string"), "\(refused.all)")
    }

    /// `ferry init` writes the schema beside plans/ (not in it: every *.json there is a plan) and a
    /// starter plan that names it; both pass the loader and the independent validator.
    @Test func initWritesASchemaItsPlanNames() throws {
        let project = try Project()
        try FileManager.default.removeItem(atPath: project.root + "/plans")
        let result = try project.run("init")
        #expect(result.code == 0, "\(result.all)")
        #expect(result.stdout.contains("created \(project.root)/plan.schema.json"))
        #expect(project.read("plan.schema.json") == (try project.run("schema")).stdout)
        #expect(project.read("plans/main.json")?.contains("\"$schema\": \"../plan.schema.json\"") == true)
        #expect(try project.run("validate").code == 0)
        let python = try #require(try Self.python(project))
        let check = try project.runShell("\(python) \(shellQuoted(repositoryRoot + "/scripts/validate-plans.py")) plan.schema.json plans/main.json")
        #expect(check.stdout == "ok plans/main.json\n", "\(check.stdout)")
        let again = try project.run("init")
        #expect(again.code == 0 && !again.stdout.contains("created"), "\(again.stdout)")
    }

    /// The examples validate one by one and as one directory, are formatted, and the SQLite one applies.
    @Test func examplesValidateAndTheSQLiteOneApplies() throws {
        let examples = Self.plans(under: "examples")
        #expect(examples.count >= 6)
        let engines = try examples.map { file -> String in
            let result = try Self.validate(file)
            #expect(result.code == 0, "\(file): \(result.stdout)")
            return file
        }
        for engine in ["sqlite", "mysql", "redis"] { #expect(engines.contains { $0.contains("/\(engine)-") }, "\(engine)") }
        #expect(try Self.validate("examples").code == 0)
        let project = try Project()
        let fmt = try project.runShell("cd \(shellQuoted(repositoryRoot)) && \(shellQuoted(Project.binary)) fmt --check examples")
        #expect(fmt.code == 0, "\(fmt.stdout)")
        try FileManager.default.copyItem(atPath: repositoryRoot + "/examples", toPath: project.root + "/examples")
        let apply = try project.run("apply", "examples/sqlite-dev-from-dump.json", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        #expect(try project.query("var/examples/test/app_test.db", "SELECT count(*) FROM notes") == [["3"]])
    }
}

/// Issue 17 point 5: shell completion.
@Suite(.serialized) struct CompletionTests {
    /// Loads `ferry completion bash` into bash and completes commands, flags, formats, addresses
    /// from the plan, error codes and state subcommands.
    @Test func bashCompletesCommandsFlagsAndAddresses() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        try project.write("complete.sh", """
        source <("$FERRY" completion bash)
        line() { COMP_WORDS=("$FERRY" "$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=(); _ferry; echo "${COMPREPLY[*]}"; }
        line ap
        line sta
        line plan --format ""
        line graph --format m
        line plan --target ""
        line apply --replace copy.
        line explain NameC
        line state ""
        line apply --auto
        line fmt --ch
        line completion ""
        complete -p ferry

        """)
        project.environment["FERRY"] = Project.binary
        let result = try project.runShell("bash complete.sh")
        #expect(result.code == 0, "\(result.stdout)")
        #expect(result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) == [
            "apply", "state status", "text json markdown", "mermaid", "import.seed copy.to-b", "copy.to-b", "NameConflict",
            "list show rm keep", "--auto-approve", "--check", "bash zsh fish", "complete -o default -F _ferry ferry", "",
        ])
    }

    @Test func zshAndFishScriptsNameEveryCommand() throws {
        let project = try Project()
        for shell in ["zsh", "fish"] {
            let result = try project.run("completion", shell)
            #expect(result.code == 0)
            for command in ["apply", "plan", "schema", "completion", "state"] { #expect(result.stdout.contains(command), "\(shell) \(command)") }
            // Checked by the shell itself when it is installed.
            let check = shell == "zsh" ? "zsh -n" : "fish --no-execute"
            if try project.runShell("command -v \(shell) >/dev/null").code == 0 {
                try project.write("completion.\(shell)", result.stdout)
                let syntax = try project.runShell("\(check) completion.\(shell)")
                #expect(syntax.code == 0, "\(shell): \(syntax.stdout)")
            }
        }
        #expect(try project.run("completion", "zsh").stdout.hasPrefix("#compdef ferry\n"))
        let unknown = try project.run("completion", "tcsh")
        #expect(unknown.code == 1 && unknown.all.contains("unknown shell tcsh"))
        #expect(try project.run("completion").code == 1)
    }
}
