import Foundation
import Testing
@testable import FerryCore

@Suite struct RendererTests {
    func sample() -> PlanResult {
        let plan = Fixture.plan(imports: [Fixture.importing("seed")], copies: [Fixture.copying("c", onExisting: .replace)])
        return Fixture.plan(plan, Fixture.facts(["b": ["app": "old"]]))
    }

    @Test func textShowsResourcesStepsAndSummary() {
        let result = sample()
        let text = TextRenderer(palette: Palette(isEnabled: false)).render(changes: result.changes, graph: result.graph)
        #expect(text.contains("+   import.seed"))
        #expect(text.contains("-/+ copy.c"))
        #expect(text.contains("(target missing)"))
        #expect(text.contains("Steps:"))
        #expect(text.contains(" 1. import.seed  build a/app from /tmp/app.sql"))
        #expect(text.contains("after "))
        // The copy reads what the import lands (500 B), not what a/app holds now: 1.0 kB in all.
        #expect(text.contains("a/app → b/app  (target exists (onExisting: replace); source changes (import.seed))  500 B"))
        #expect(text.hasSuffix("Plan: 1 to create, 1 to replace, 0 to forget. 1.0 kB to move, 1 checkpoint.\n"))
        #expect(!text.contains("\u{1B}["))
    }

    /// Fresh tester round 74, F5: a warning printed without its hint in the plan's text (only
    /// `--format json` had it). Text and Markdown give it, escaped as the message is.
    @Test func aWarningsHintIsPrintedWithIt() {
        let result = sample()
        let warning = Diagnostic(.wrongStatus, "checkpoint x beside a/app", hint: "keep what you need of x, then drop it\u{1B}[31m", severity: .warning)
        let text = TextRenderer(palette: Palette(isEnabled: false)).render(changes: result.changes, graph: result.graph, diagnostics: [warning])
        #expect(text.hasPrefix("warning[OperationDenied.WrongStatus]: checkpoint x beside a/app\n  hint: keep what you need of x, then drop it\\u{1B}[31m\n\n"), "\(text)")
        let markdown = MarkdownRenderer.render(changes: result.changes, graph: result.graph, diagnostics: [warning])
        #expect(markdown.contains("checkpoint x beside a/app (hint: keep what you need of x, then drop it") && !markdown.contains("\u{1B}"), "\(markdown)")
    }

    @Test func colourOnlyWhenEnabled() {
        let result = sample()
        #expect(TextRenderer(palette: Palette(isEnabled: true)).render(changes: result.changes, graph: result.graph).contains("\u{1B}[32m"))
    }

    @Test func noChangesSaysSo() {
        #expect(TextRenderer(palette: Palette(isEnabled: false)).render(changes: [], graph: ActionGraph(actions: []))
                == "No changes. The instances match the plan.\n")
    }

    @Test func jsonCarriesFormatVersionAndSteps() throws {
        let result = sample()
        let text = try PlanDocument(ferryVersion: "t", createdAt: Date(), changes: result.changes, graph: result.graph, diagnostics: []).encoded()
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        #expect(object["formatVersion"] as? String == "1.0")
        #expect((object["actions"] as? [Any])?.count == result.graph.actions.count)
        #expect(((object["summary"] as? [String: Any])?["checkpoints"] as? Int) == 1)
    }

    @Test func markdownHasSummaryTableAndMermaid() {
        let result = sample()
        let md = MarkdownRenderer.render(changes: result.changes, graph: result.graph)
        #expect(md.contains("**Plan: 1 to create"))
        #expect(md.contains("| `+` | `import.seed` |"))
        #expect(md.contains("```mermaid\nflowchart LR"))
    }

    @Test func markdownFoldsToStayUnderTheLimit() {
        let imports = (0..<3000).map { Fixture.importing("resource-with-a-long-name-\($0)", database: "db\($0)") }
        let result = Fixture.plan(Fixture.plan(imports: imports), Fixture.facts([:]))
        let md = MarkdownRenderer.render(changes: result.changes, graph: result.graph)
        #expect(md.count < 60_000)
        #expect(md.contains("more resources, folded"))
        #expect(md.hasPrefix("### Ferry plan\n\n**Plan: 3000 to create"))
    }

    @Test func dotAndMermaidHaveANodePerStepAndAnEdgePerDependency() {
        let graph = sample().graph
        let edges = graph.actions.reduce(0) { $0 + $1.dependsOn.count }
        let dot = GraphRenderer.dot(graph)
        #expect(dot.hasPrefix("digraph ferry {"))
        #expect(dot.components(separatedBy: " -> ").count - 1 == edges)
        let mermaid = GraphRenderer.mermaid(graph)
        #expect(mermaid.components(separatedBy: " --> ").count - 1 == edges)
        #expect(mermaid.components(separatedBy: "[\"").count - 1 == graph.actions.count)
    }

    @Test func redactionMasksPasswordsAndSecretParameters() {
        #expect(Redaction.redactURL("mysql://app:s3cret@db:3306/x") == "mysql://app:***@db:3306/x")
        let s3 = Redaction.redactURL("https://h/k?X-Amz-Signature=abc&part=1")
        #expect(!s3.contains("abc") && s3.contains("part=1"))
    }

    @Test func summaryCountsBytesOnlyForChanges() {
        #expect(Format.bytes(1_200_000_000) == "1.2 GB")
        #expect(Format.bytes(512) == "512 B")
    }
}

@Suite struct SavedPlanTests {
    @Test func stalenessNamesWhatChanged() {
        let plan = Fixture.plan(copies: [Fixture.copying("c")])
        let facts = Fixture.facts(["a": ["app": "1"]])
        let state = State()
        let doc = PlanDocument(ferryVersion: "t", createdAt: Date(), changes: [], graph: ActionGraph(actions: []), diagnostics: [])
        let saved = SavedPlan(ferryVersion: "t", createdAt: Date(), planPath: "/p", plan: plan, state: state,
                              options: PlanOptions(), facts: facts, document: doc)
        #expect(saved.staleness(plan: plan, state: state, facts: facts).isEmpty)
        #expect(saved.staleness(plan: plan, state: state, facts: Fixture.facts(["a": ["app": "2"]])) == ["a/app changed"])
        // A database the plan does not read or write may come and go on a shared instance; the
        // copy's target appearing makes the plan stale.
        #expect(saved.staleness(plan: plan, state: state, facts: Fixture.facts(["a": ["app": "1", "new": "x"]])).isEmpty)
        #expect(saved.staleness(plan: plan, state: state, facts: Fixture.facts(["a": ["app": "1"], "b": ["app": "9"]])) == ["b/app appeared"])
        var later = state
        later.serial += 1
        #expect(saved.staleness(plan: plan, state: later, facts: facts).first?.contains("serial") == true)
        var edited = plan
        edited.copies["c"]!.onExisting = .replace
        #expect(saved.staleness(plan: edited, state: state, facts: facts) == ["the plan files changed"])
        // A size that moved under an exact, equal fingerprint is housekeeping, not a change; under
        // an inexact one it counts.
        var grown = facts
        grown.instances["a"]!.databases["app"]!.sizeBytes += 8192
        #expect(saved.staleness(plan: plan, state: state, facts: grown).isEmpty)
        var inexact = facts
        inexact.instances["a"]!.databases["app"]!.isFingerprintExact = false
        let savedInexact = SavedPlan(ferryVersion: "t", createdAt: Date(), planPath: "/p", plan: plan, state: state,
                                     options: PlanOptions(), facts: inexact, document: doc)
        inexact.instances["a"]!.databases["app"]!.sizeBytes += 8192
        #expect(savedInexact.staleness(plan: plan, state: state, facts: inexact) == ["a/app changed size"])
    }

    /// A saved plan's graph against the apply's: a step's estimated size may move (housekeeping),
    /// anything else is another graph (`PlanStale`).
    @Test func aGraphIsTheSameWhateverItsSizes() throws {
        let plan = Fixture.plan(copies: [Fixture.copying("c", from: "a", to: "b", [("src1", "src1copy")])])
        let graph = Fixture.plan(plan, Fixture.facts(["a": ["src1": "s1"]])).graph
        try #require(!graph.actions.isEmpty)
        var grown = graph
        grown.actions[0].bytes = (grown.actions[0].bytes ?? 0) + 8192
        #expect(graph.hasTheSameSteps(as: grown) && graph != grown)
        var other = graph
        other.actions[0].database = "elsewhere"
        #expect(!graph.hasTheSameSteps(as: other))
        #expect(!graph.hasTheSameSteps(as: ActionGraph(actions: Array(graph.actions.dropLast()))))
    }

    @Test func savedPlanHoldsNoSecret() throws {
        var plan = Fixture.plan()
        plan.instances["m"] = InstanceSpec(name: "m", engine: .mysql, url: "mysql://u@h:1/?token=SECRETVALUE", password: .env("PW"))
        let doc = PlanDocument(ferryVersion: "t", createdAt: Date(), changes: [], graph: ActionGraph(actions: []), diagnostics: [])
        let saved = SavedPlan(ferryVersion: "t", createdAt: Date(), planPath: "/p", plan: plan, state: State(),
                              options: PlanOptions(), facts: Facts(), document: doc)
        let text = String(decoding: try JSONEncoder.ferry.encode(saved), as: UTF8.self)
        #expect(!text.contains("SECRETVALUE"))
    }
}
