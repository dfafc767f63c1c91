import Foundation
import Testing

/// The command line as users meet it: outputs and exit codes (SPEC §4, §5, §7, §8).
@Suite(.serialized) struct CLITests {
    @Test func everyCommandHasHelp() throws {
        let project = try Project()
        for command in ["init", "validate", "fmt", "plan", "show", "graph", "apply", "runs", "status", "recover",
                        "rollback", "backup", "state", "unlock", "explain", "version"] {
            let result = try project.run(command, "--help")
            #expect(result.code == 0, "\(command) --help")
            #expect(result.stdout.contains("Usage: ferry \(command)"), "\(command) --help")
        }
        #expect(try project.run("--help").stdout.contains("Commands:"))
        let typo = try project.run("aply")
        #expect(typo.code == 1)
        #expect(typo.stderr.contains("did you mean `ferry apply`"))
    }

    @Test func explainDescribesEveryCode() throws {
        let project = try Project()
        let list = try project.run("explain")
        let codes = list.stdout.split(separator: "\n").map(String.init)
        #expect(codes.contains("InvalidParameter.DuplicateName"))
        // Every code explain knows is in SPEC §8 (a suffix such as `ReadOnly` under its family).
        var spec = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { spec.deleteLastPathComponent() }
        let specText = try String(contentsOf: spec.appendingPathComponent("docs/SPEC.md"), encoding: .utf8)
        let errors = specText.components(separatedBy: "## 8. Errors").last?.components(separatedBy: "## 9.").first ?? ""
        #expect(codes.count >= 31)
        for code in codes {
            let last = code.split(separator: ".").last.map(String.init) ?? code
            #expect(errors.contains("`\(code)`") || errors.contains("`\(last)`"), "\(code) is not in SPEC §8")
        }
        for code in codes {
            let result = try project.run("explain", code)
            #expect(result.code == 0)
            #expect(result.stdout.count > code.count + 20)
        }
        #expect(try project.run("explain", "Syntax").stdout.hasPrefix("InvalidParameter.Syntax"))
        #expect(try project.run("explain", "Nope").code == 1)
    }

    @Test func validateReportsEveryProblemWithItsPlace() throws {
        let project = try Project()
        try project.write("plans/main.json", """
        {
          "ferry": 1,
          "instances": {
            "a": { "engine": "sqlite", "path": "../var/a" },
            "m": { "engine": "mysql", "url": "mysql://root@127.0.0.1:1", "password": "hunter2-literal" }
          },
          "imports": {
            "seed": { "into": "nowhere", "database": "app", "from": "data/missing.sql" }
          },
          "copies": {
            "c": { "from": "a", "to": "a", "databsaes": ["x"] }
          }
        }
        """)
        let result = try project.run("validate")
        #expect(result.code == 1)
        #expect(result.stderr.contains("error[InvalidParameter.LiteralPassword]"))
        #expect(result.stderr.contains("error[InvalidParameter.UnknownInstance]"))
        #expect(result.stderr.contains("error[InvalidParameter.UnknownField]"))
        #expect(result.stderr.contains("did you mean \"databases\""))
        #expect(result.stderr.contains("plans/main.json:5:"))
        #expect(!result.all.contains("hunter2-literal"))
    }

    @Test func syntaxErrorPointsAtTheLine() throws {
        let project = try Project()
        try project.write("plans/main.json", "{\n  \"ferry\": 1,\n  \"instances\": {\n    \"a\": { \"engine\": \"sqlite\" \"path\": \"x\" }\n  }\n}\n")
        let result = try project.run("validate")
        #expect(result.code == 1)
        #expect(result.stderr.contains("error[InvalidParameter.Syntax]"))
        #expect(result.stderr.contains("plans/main.json:4:"))
    }

    @Test func planShowsChangesAndDetailedExitCode() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        let plain = try project.run("plan")
        #expect(plain.code == 0)
        #expect(plain.stdout.contains("+   import.seed"))
        #expect(plain.stdout.contains("copy.to-b"))
        #expect(plain.stdout.contains("Steps:"))
        #expect(plain.stdout.contains("Plan: 2 to create, 0 to replace, 0 to forget."))
        #expect(!plain.stdout.contains("\u{1B}["))
        #expect(try project.run("plan", "--detailed-exitcode").code == 2)
        // Planning changes nothing.
        #expect(!project.exists("var/a/app.db"))
    }

    @Test func planFormatsJSONMarkdownAndGraphs() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        let json = try project.run("plan", "--format", "json")
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["formatVersion"] as? String == "1.0")
        let markdown = try project.run("plan", "--format", "markdown")
        #expect(markdown.stdout.contains("```mermaid"))
        #expect(try project.run("graph").stdout.hasPrefix("digraph ferry {"))
        #expect(try project.run("graph", "--format", "mermaid").stdout.hasPrefix("flowchart LR"))
        #expect(try project.run("graph", "--format", "json").code == 0)
    }

    @Test func targetLimitsThePlanToAResourceAndItsDependencies() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        let result = try project.run("plan", "--target", "import.seed")
        #expect(result.stdout.contains("import.seed"))
        #expect(!result.stdout.contains("copy.to-b"))
        #expect(try project.run("plan", "--target", "copy.nope").code == 1)
    }

    @Test func fmtRewritesAndCheckReportsUnformatted() throws {
        let project = try Project()
        try project.write("plans/main.json", "{\"instances\":{\"a\":{\"path\":\"../var/a\",\"engine\":\"sqlite\"}},\"ferry\":1}")
        let check = try project.run("fmt", "--check")
        #expect(check.code == 2)
        #expect(check.stdout.contains("plans/main.json"))
        #expect(try project.run("fmt").code == 0)
        #expect(try project.run("fmt", "--check").code == 0)
        #expect(project.read("plans/main.json")?.hasPrefix("{\n  \"ferry\": 1,") == true)
        #expect(try project.run("validate").code == 0)
    }

    @Test func initScaffoldsAPlanThatValidates() throws {
        let project = try Project()
        try FileManager.default.removeItem(atPath: project.root + "/plans")
        #expect(try project.run("init").code == 0)
        #expect(project.read(".gitignore")?.contains(".ferry/") == true)
        #expect(try project.run("validate").code == 0)
        #expect(try project.run("apply", "--auto-approve").code == 0)
    }

    @Test func environmentVariablesAndUnsetOnes() throws {
        let project = try Project()
        try project.write("plans/main.json", """
        { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "${env:FERRY_E2E_DIR:-../var/a}" },
                                     "b": { "engine": "sqlite", "path": "${env:FERRY_E2E_UNSET_VAR}" } } }
        """)
        let result = try project.run("validate")
        #expect(result.code == 1)
        #expect(result.stderr.contains("InvalidParameter.UnsetVariable"))
        #expect(result.stderr.contains("FERRY_E2E_UNSET_VAR"))
    }
}
