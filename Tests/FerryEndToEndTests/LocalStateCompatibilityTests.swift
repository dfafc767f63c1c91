import Foundation
import Testing

/// A `.ferry/` directory written by the ferry before the state backend protocol
/// (`Tests/Fixtures/state/local-v1`, made by `make-local-v1.sh`; the commit is in its `MADE-BY`)
/// still works: `state list`, `state show`, `runs` and `status` give the answers that ferry gave,
/// word for word, and `ferry recover` rolls its killed run back as that ferry did, leaving the
/// import's database as it was before that run. One change on purpose: the status of the
/// interrupted run says of each claim whether its instance still holds it, "(held)" (fresh
/// tester round 69, F4: claims released since were listed as held).
@Suite struct LocalStateCompatibilityTests {
    static var fixture: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<2 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("Fixtures/state/local-v1").path
    }

    /// A copy of the fixture project, its state directory back under its own name.
    func copiedProject() throws -> Project {
        let project = try Project()
        let files = FileManager.default
        try files.removeItem(atPath: project.root + "/plans")
        try files.copyItem(atPath: Self.fixture + "/plans", toPath: project.root + "/plans")
        try files.copyItem(atPath: Self.fixture + "/var", toPath: project.root + "/var")
        try files.copyItem(atPath: Self.fixture + "/dot-ferry", toPath: project.root + "/.ferry")
        project.environment["TZ"] = "UTC"
        return project
    }

    func expected(_ name: String) throws -> String {
        try String(contentsOfFile: Self.fixture + "/expected/\(name).txt", encoding: .utf8)
    }

    /// What `ferry ARGS` says, as the fixture script recorded it: output, then `exit N`, paths as ROOT.
    func answer(_ project: Project, _ args: [String]) throws -> String {
        let result = try project.run(args)
        let text = result.stdout + result.stderr
        return text.replacingOccurrences(of: project.root, with: "ROOT")
            .replacingOccurrences(of: "/tmp/ferry-fixture-local-v1", with: "ROOT")
            + "exit \(result.code)\n"
    }

    func compareSnapshot(_ project: Project, _ phase: String) throws {
        let runs = try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs").sorted()
        #expect(runs.count == 5, "\(runs)")
        var commands: [(String, [String])] = [("\(phase)-state-list", ["state", "list"]), ("\(phase)-runs", ["runs"]),
                                               ("\(phase)-status", ["status"])]
        for address in ["import.seed", "copy.to-b", "backup.nightly"] {
            commands.append(("\(phase)-state-show-\(address)", ["state", "show", address]))
        }
        for run in runs { commands.append(("\(phase)-status-\(run)", ["status", run])) }
        for (name, args) in commands {
            #expect(try answer(project, args) == expected(name), "ferry \(args.joined(separator: " "))")
        }
    }

    @Test func aStateDirectoryWrittenBeforeTheBackendProtocolReadsTheSame() throws {
        let project = try copiedProject()
        try compareSnapshot(project, "before")
        #expect(try answer(project, ["recover"]) == expected("recover"))
        try compareSnapshot(project, "after")
        let before = try expected("a-app-before-killed-run").split(separator: "\n").map { $0.split(separator: "|").map(String.init) }
        #expect(try project.query("var/a/app.db", "SELECT id, name FROM users ORDER BY id") == before)
    }

    /// The fixture's state goes on: a new apply commits on top of it with the next serial and
    /// keeps the lineage that ferry gave it.
    @Test func anApplyOnTheOldStateContinuesItsLineageAndSerial() throws {
        let project = try copiedProject()
        let old = try #require(project.read(".ferry/state.json"))
        #expect(try project.run("recover").code == 0)
        let result = try project.run("apply", "--auto-approve")
        #expect(result.code == 0, "\(result.all)")
        let new = try #require(project.read(".ferry/state.json"))
        func field(_ text: String, _ name: String) -> String? {
            text.split(separator: "\n").first { $0.contains("\"\(name)\"") }.map(String.init)
        }
        #expect(field(old, "lineage") == field(new, "lineage"))
        let serial = { (text: String) in Int(field(text, "serial")?.filter(\.isNumber) ?? "") ?? -1 }
        #expect(serial(new) == serial(old) + 1, "\(old)\n\(new)")
        #expect(try project.query("var/a/app.db", "SELECT count(*) FROM users") == [["4"]])
    }
}
