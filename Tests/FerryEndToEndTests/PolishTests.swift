import Foundation
import Testing

/// A newcomer's faults: long SQLite names, validate versus plan, global options before the
/// command, completion, init's formatting, extra arguments, raw system errors, small wording.
@Suite(.serialized) struct PolishTests {
    /// A plan importing `data/seed.sql` into each of `names` on SQLite instance `a`.
    static func importsPlan(_ names: [String]) -> String {
        let imports = names.enumerated().map { index, name in
            "\"i\(index)\": { \"into\": \"a\", \"database\": \"\(name)\", \"from\": \"data/seed.sql\" }"
        }.joined(separator: ",\n    ")
        return """
        {
          "ferry": 1,
          "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
          "imports": {
            \(imports)
          }
        }
        """
    }

    /// Every SQLite name that `plan` accepts also applies: names of 194 to 200 bytes (ASCII and
    /// multi-byte), whose shadow's verify record and its temporary file once passed NAME_MAX.
    @Test(arguments: [194, 195, 197, 199, 200])
    func longSQLiteNamesThatPlanAcceptsApply(length: Int) throws {
        let project = try Project()
        let ascii = String(repeating: "n", count: length)
        // "é" is 2 bytes: the name is `length` bytes, not characters.
        let multibyte = String(repeating: "é", count: length / 2) + String(repeating: "x", count: length % 2)
        #expect(multibyte.utf8.count == length)
        try project.write("plans/main.json", Self.importsPlan([ascii, multibyte]))
        try project.write("plans/data/seed.sql", seedSQL)
        #expect(try project.run("validate").code == 0)
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        #expect(try project.query("var/a/\(ascii).db", "SELECT count(*) FROM users") == [["3"]])
        #expect(try project.query("var/a/\(multibyte).db", "SELECT count(*) FROM users") == [["3"]])
        #expect(project.leftovers(in: "var/a") == [])
    }

    /// A name the engine cannot hold is refused by `validate` as by `plan`, before any connection.
    @Test(arguments: [
        ("sqlite", "a/b"), ("sqlite", ".x"), ("sqlite", String(repeating: "n", count: 201)),
        ("sqlite", String(repeating: "é", count: 101)), ("redis", "16"), ("redis", "app"),
        ("mysql", String(repeating: "m", count: 65)), ("mysql", "mysql"),
        // Issue 14: a character outside U+0001 to U+FFFF, which MySQL / MariaDB names cannot hold.
        ("mysql", "shop😀"), ("mysql", "a𝄞b"), ("mysql", "#mysql50#shop"),
    ])
    func validateRefusesNamesTheEngineCannotHold(engine: String, name: String) throws {
        let project = try Project()
        let place = engine == "sqlite" ? "\"path\": \"../var/a\"" : "\"url\": \"\(engine)://127.0.0.1:1\""
        try project.write("plans/main.json", """
        {"ferry": 1, "instances": {"a": {"engine": "\(engine)", \(place)}},
         "copies": {"c": {"from": "a", "to": "a", "databases": {"src": "\(name)"}}}}
        """)
        let validate = try project.run("validate")
        #expect(validate.code == 1, "\(validate.all)")
        #expect(validate.stderr.contains("error[InvalidParameter]: a cannot hold a database named"), "\(validate.all)")
        #expect(validate.stderr.contains("copies.c.databases"), "\(validate.all)")
    }

    /// Cycles through `after` are `CycleDetected` in `validate`, also beside other errors.
    @Test func validateReportsCyclesAlsoBesideOtherErrors() throws {
        let project = try Project()
        try project.write("plans/data/seed.sql", seedSQL)
        let plan = """
        {"ferry": 1, "instances": {"a": {"engine": "sqlite", "path": "../var/a"}},
         "imports": {
           "one": {"into": "a", "database": "one", "from": "data/seed.sql", "after": "import.two"},
           "two": {"into": "a", "database": "two", "from": "data/seed.sql", "after": ["import.three"]},
           "three": {"into": "a", "database": "three", "from": "data/seed.sql", "after": "import.one"}EXTRA
         }}
        """
        try project.write("plans/main.json", plan.replacingOccurrences(of: "EXTRA", with: ""))
        let alone = try project.run("validate")
        #expect(alone.code == 1)
        #expect(alone.stderr.contains("error[CycleDetected]: dependency cycle:"), "\(alone.all)")
        for member in ["import.one", "import.two", "import.three"] { #expect(alone.stderr.contains(member)) }
        #expect(try project.run("plan").stderr.contains("error[CycleDetected]"))
        // With an unrelated error in the same file, both are reported.
        try project.write("plans/main.json", plan.replacingOccurrences(
            of: "EXTRA", with: ",\n\"bad\": {\"into\": \"a\", \"database\": \"bad\", \"from\": \"data/seed.sql\", \"colour\": 1}"))
        let both = try project.run("validate")
        #expect(both.code == 1)
        #expect(both.stderr.contains("error[CycleDetected]"), "\(both.all)")
        #expect(both.stderr.contains("error[InvalidParameter.UnknownField]"), "\(both.all)")
        // Two separate cycles are two errors.
        try project.write("plans/main.json", """
        {"ferry": 1, "instances": {"a": {"engine": "sqlite", "path": "../var/a"}},
         "imports": {
           "p": {"into": "a", "database": "p", "from": "data/seed.sql", "after": "import.q"},
           "q": {"into": "a", "database": "q", "from": "data/seed.sql", "after": "import.p"},
           "r": {"into": "a", "database": "r", "from": "data/seed.sql", "after": "import.r2"},
           "r2": {"into": "a", "database": "r2", "from": "data/seed.sql", "after": "import.r"}
         }}
        """)
        let two = try project.run("validate")
        #expect(two.stderr.components(separatedBy: "error[CycleDetected]").count == 3, "\(two.all)")
    }

    /// Global options go before the command as well as after it.
    @Test func globalOptionsBeforeTheCommand() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        let apply = try project.run("--state", "other-state", "apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        #expect(project.exists("other-state/state.json"))
        #expect(!project.exists(".ferry/state.json"))
        for words in [["--state=other-state", "runs"], ["--state", "other-state", "-v", "runs"], ["-v", "--state", "other-state", "runs"],
                      ["--no-color", "--state", "other-state", "state", "list"], ["runs", "--state", "other-state"]] {
            let result = try project.run(words)
            #expect(result.code == 0, "\(words): \(result.all)")
            #expect(result.stdout.contains("import.seed") || result.stdout.contains("committed"), "\(words): \(result.all)")
        }
        for words in [["--no-color", "runs"], ["-v", "runs"], ["runs", "-v"]] {
            let result = try project.run(words)
            #expect(result.code == 0 && result.stdout == "No runs yet.\n", "\(words): \(result.all)")
        }
        #expect(try project.run("--version").stdout.hasPrefix("ferry "))
        #expect(try project.run("--help").code == 0)
        #expect(try project.run("-v", "--help").code == 0)
        let nothing = try project.run("-v")
        #expect(nothing.code == 1 && nothing.stderr.contains("no command given"), "\(nothing.all)")
        let unknownFlag = try project.run("--bogus", "runs")
        #expect(unknownFlag.code == 1 && unknownFlag.stderr.contains("ferry runs does not take --bogus"), "\(unknownFlag.all)")
    }

    /// Fresh tester round 64, L1: `ferry unlock --claims` read the plan at `plans/` only. It
    /// takes a PATH now, after the RUN, or alone where it names a file or directory.
    @Test func unlockClaimsReadsThePlanAtThePathGiven() throws {
        let project = try Project()
        try project.write("elsewhere/one.json", twoInstancePlan())
        try project.write("elsewhere/data/seed.sql", seedSQL)
        let alone = try project.run("unlock", "--claims", "a", "elsewhere")
        #expect(alone.code == 0 && alone.stdout.contains("No run holds claims on a."), "\(alone.all)")
        let withRun = try project.run("unlock", "--claims", "a", "20261207T083727545Z-27b5be", "elsewhere/one.json")
        #expect(withRun.code == 0 && withRun.stdout.contains("No run holds claims on a."), "\(withRun.all)")
        let none = try project.run("unlock", "--claims", "a")
        #expect(none.code == 1 && !none.all.contains("No run holds claims"), "no plan at plans/: \(none.all)")
        // Round 69, F3: a path that does not exist is not taken for a run.
        let missing = try project.run("unlock", "--claims", "a", "elsewhere/nope.json")
        #expect(missing.code == 1 && missing.all.contains("elsewhere/nope.json is neither a run id") && !missing.all.contains("plans"), "\(missing.all)")
    }

    /// Fresh tester round 70, F5: `ferry recover --keep-later-writes --discard-later-writes` is
    /// refused as contradictory whether or not a run is pending (it gave exit 0 with none).
    @Test func contradictoryRecoverChoicesAreRefusedWithNothingPending() throws {
        let project = try Project()
        try project.write("plans/one.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        let both = try project.run("recover", "--keep-later-writes", "--discard-later-writes")
        #expect(both.code == 1 && both.stderr.contains("error[InvalidParameter]") && both.stderr.contains("say opposite things"), "\(both.all)")
        #expect(try project.run("recover").stdout.contains("Nothing to recover"))
    }

    /// Extra positional arguments are refused, naming them, for every command.
    @Test func extraArgumentsAreRefused() throws {
        let project = try Project()
        try project.write("plans/one.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        let cases: [[String]] = [
            ["validate", "plans/one.json", "plans/two.json"], ["apply", "plans/one.json", "nonexistent"],
            ["plan", "plans", "extra"], ["graph", "plans", "extra"], ["show", "a", "extra"], ["runs", "extra"],
            ["status", "RUN", "plans", "extra"], ["recover", "plans", "extra"], ["rollback", "RUN", "plans", "extra"],
            ["backup", "b", "plans", "extra"], ["state", "list", "extra"], ["state", "show", "import.x", "extra"],
            ["unlock", "ID", "extra"], ["unlock", "--claims", "a", "RUN", "plans", "extra"], ["explain", "Syntax", "extra"],
            ["schema", "extra"], ["completion", "bash", "extra"], ["version", "extra"], ["init", "dir", "extra"],
        ]
        for words in cases {
            let result = try project.run(words)
            #expect(result.code == 1, "\(words): \(result.all)")
            #expect(result.stderr.contains("error[InvalidParameter]: ferry \(words[0]) does not take \"\(words.last!)\""),
                    "\(words): \(result.all)")
        }
        #expect(!project.exists("dir"))
        #expect(!project.exists(".ferry/state.json"))
        // fmt takes several paths.
        #expect(try project.run("fmt", "--check", "plans/one.json", "plans/one.json").code != 1)
    }

    /// `ferry init` writes a plan `ferry fmt --check` accepts, in the working directory and in DIR.
    @Test func initWritesCanonicalFormatting() throws {
        let project = try Project()
        try FileManager.default.removeItem(atPath: project.root + "/plans")
        #expect(try project.run("init").code == 0)
        let check = try project.run("fmt", "--check")
        #expect(check.code == 0, "\(check.all)")
        #expect(try project.run("init", "sub/project").code == 0)
        #expect(try project.run("fmt", "--check", "sub/project/plans").code == 0)
        #expect(try project.run("validate", "sub/project/plans").code == 0)
    }

    /// `ferry init PATH` where PATH (or a directory above it) is not a directory: a clear error with
    /// the path, never Foundation's raw error text, and nothing written.
    @Test func initOnAFileIsAClearError() throws {
        let project = try Project()
        try project.write("afile", "x")
        for target in ["afile", "afile/sub", "afile/sub/deeper"] {
            let result = try project.run("init", target)
            #expect(result.code == 1, "\(target): \(result.all)")
            #expect(result.stderr.contains("error[InvalidParameter]: cannot use \(target) as a project directory: \(project.root)/afile is a regular file"),
                    "\(target): \(result.all)")
            #expect(!result.all.contains("NSCocoaErrorDomain") && !result.all.contains("Error Domain"), "\(result.all)")
        }
        #expect(project.read("afile") == "x")
        try FileManager.default.createDirectory(atPath: project.root + "/d/plans", withIntermediateDirectories: true)
        try project.write("d/plans/data", "not a directory")
        let nested = try project.run("init", "d")
        #expect(nested.code == 1 && nested.stderr.contains("\(project.root)/d/plans/data is a regular file"), "\(nested.all)")
    }

    /// Counts agree with their nouns.
    @Test func validateCountsInTheSingular() throws {
        let project = try Project()
        try project.write("plans/main.json", """
        {"ferry": 1, "instances": {"a": {"engine": "sqlite", "path": "../var/a"}},
         "imports": {"i": {"into": "a", "database": "app", "from": "data/seed.sql"}}}
        """)
        try project.write("plans/data/seed.sql", seedSQL)
        #expect(try project.run("validate").stdout == "The plan is valid: 1 instance, 1 resource in 1 file.\n")
        try project.write("plans/two.json", #"{"ferry": 1, "instances": {"b": {"engine": "sqlite", "path": "../var/b"}}}"#)
        #expect(try project.run("validate").stdout == "The plan is valid: 2 instances, 1 resource in 2 files.\n")
    }

    /// An unknown command suggests another only when it is a likely typo.
    @Test func unknownCommandSuggestsOnlyCloseCommands() throws {
        let project = try Project()
        for (word, guess) in [("bogus", nil), ("xyz", nil), ("aplly", "apply"), ("plna", "plan"), ("statuss", "status"), ("q", nil)] {
            let result = try project.run(word)
            #expect(result.code == 1)
            #expect(result.stderr.contains("unknown command \(word)"))
            if let guess {
                #expect(result.stderr.contains("did you mean `ferry \(guess)`"), "\(word): \(result.all)")
            } else {
                #expect(!result.stderr.contains("did you mean"), "\(word): \(result.all)")
            }
        }
    }

    /// Completion after global options, and with the plan file and state directory on the line.
    @Test func bashAndZshCompleteFromThePlanAndStateOnTheLine() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        try project.write("examples/x.json", """
        {"ferry": 1, "instances": {"e": {"engine": "sqlite", "path": "../var/e"}},
         "imports": {"only-here": {"into": "e", "database": "d", "from": "../plans/data/seed.sql"}}}
        """)
        #expect(try project.run("--state", "st", "apply", "--auto-approve").code == 0)
        try project.write("complete.sh", """
        source <("$FERRY" completion bash)
        line() { COMP_WORDS=("$FERRY" "$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=(); _ferry; echo "${COMPREPLY[*]}"; }
        line plan examples/x.json --target ""
        line --state st plan --target ""
        line --no-color ap
        line -v plan --format ""
        line --state st state show ""
        line state show ""
        line --state st status ""
        line --state st -v explain NameC

        """)
        project.environment["FERRY"] = Project.binary
        let result = try project.runShell("bash complete.sh")
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.count == 9, "\(result.stdout)")
        guard lines.count == 9 else { return }
        #expect(lines[0] == "import.only-here")
        #expect(lines[1] == "import.seed copy.to-b")
        #expect(lines[2] == "apply")
        #expect(lines[3] == "text json markdown")
        #expect(lines[4] == "copy.to-b import.seed")
        #expect(lines[5] == "")
        #expect(lines[6].hasPrefix("20") && !lines[6].contains(" "), "\(lines[6])")
        #expect(lines[7] == "NameConflict")
        if try project.runShell("command -v zsh >/dev/null").code == 0 {
            try project.write("complete.zsh", """
            source <("$FERRY" completion zsh)
            compadd() { [[ $1 == -- ]] && shift; print -r -- "$*"; }
            _files() { print -r -- FILES; }
            line() { words=("$FERRY" "$@"); CURRENT=${#words}; PREFIX=${words[CURRENT]}; _ferry; }
            line plan examples/x.json --target ""
            line --state st plan --target ""
            line --no-color ap
            line --state st state show ""

            """)
            let zsh = try project.runShell("zsh -f complete.zsh")
            let zlines = zsh.stdout.split(separator: "\n").map(String.init)
            #expect(zlines.count == 4, "\(zsh.stdout)")
            guard zlines.count == 4 else { return }
            #expect(zlines[0] == "import.only-here")
            #expect(zlines[1] == "import.seed copy.to-b")
            #expect(zlines[2].contains("apply") && zlines[2].contains("plan"))
            #expect(zlines[3] == "copy.to-b import.seed")
        }
    }

    /// examples/README.md's apply command, run after the quickstart, leaves the quickstart's plan
    /// with nothing to do (it once shared `.ferry/`, and the quickstart then failed with NameConflict).
    @Test func examplesReadmeCommandKeepsTheQuickstartWorking() throws {
        let project = try Project()
        try FileManager.default.removeItem(atPath: project.root + "/plans")
        for directory in ["plans", "examples", "docs"] {
            try FileManager.default.copyItem(atPath: repositoryRoot + "/" + directory, toPath: project.root + "/" + directory)
        }
        let quickstart = try project.run("apply", "--auto-approve")
        #expect(quickstart.code == 0, "\(quickstart.all)")
        let readme = try String(contentsOfFile: repositoryRoot + "/examples/README.md", encoding: .utf8)
        let line = try #require(readme.split(separator: "\n").first { $0.hasPrefix("swift run ferry") && $0.contains(" apply ") })
        let words = line.split(separator: "#")[0].split(separator: " ").dropFirst(3).map(String.init)
        #expect(words.contains("--state"), "\(line)")
        let example = try project.run(words)
        #expect(example.code == 0, "\(line): \(example.all)")
        let again = try project.run("plan", "--detailed-exitcode")
        #expect(again.code == 0, "\(again.all)")
        #expect(again.stdout.contains("No changes."), "\(again.all)")
        // The README's install line creates the directory it copies into.
        let main = try String(contentsOfFile: repositoryRoot + "/README.md", encoding: .utf8)
        #expect(main.contains("mkdir -p ~/.local/bin && cp .build/release/ferry ~/.local/bin/"))
        for bench in ["sqlite", "plan", "mysql", "redis"] {
            #expect(FileManager.default.fileExists(atPath: repositoryRoot + "/bench/\(bench)/README.md"), "bench/\(bench)/README.md")
        }
    }
}
