import Foundation
import Testing
@testable import FerryCore

/// `--exclude` (the inverse of `--target`, with what depends on it) and `plan --refresh-only`
/// (what changed outside Ferry, nothing proposed): issue 20, points 4 and 5.
@Suite struct ExcludeTests {
    let plan = Fixture.plan(imports: [Fixture.importing("seed"), Fixture.importing("other", database: "other")],
                            copies: [Fixture.copying("c")])

    @Test func excludingAResourceLeavesOutWhatDependsOnIt() {
        // copy.c reads a/app, which import.seed writes: excluding the import excludes the copy.
        let result = Fixture.plan(plan, Fixture.facts([:]), options: PlanOptions(excludes: [Address(.import, "seed")]))
        #expect(result.changes.map(\.address.description) == ["import.other"])
        #expect(!result.graph.actions.contains { $0.address.name == "seed" || $0.address.name == "c" })
    }

    @Test func excludingADependentKeepsWhatItDependsOn() {
        let result = Fixture.plan(plan, Fixture.facts([:]), options: PlanOptions(excludes: [Address(.copy, "c")]))
        #expect(Set(result.changes.map(\.address.description)) == ["import.seed", "import.other"])
    }

    @Test func excludeWinsOverTargetAndUnknownAddressesAreErrors() {
        let both = Fixture.plan(plan, Fixture.facts([:]),
                                options: PlanOptions(targets: [Address(.copy, "c")], excludes: [Address(.import, "seed")]))
        #expect(both.changes.isEmpty)
        let unknown = Fixture.plan(plan, Fixture.facts([:]), options: PlanOptions(excludes: [Address(.copy, "nope")]))
        #expect(unknown.codes == [.unknownAddress])
    }

    @Test func anExcludedRecordIsNotForgotten() {
        let facts = Fixture.facts(["a": ["app": "new", "other": "new"], "b": ["app": "new"]])
        let state = Fixture.state(after: plan, facts)
        let smaller = Fixture.plan(imports: [Fixture.importing("other", database: "other")])
        let all = Fixture.plan(smaller, facts, state: state)
        #expect(all.changes.filter { $0.action == .forget }.count == 2)
        let kept = Fixture.plan(smaller, facts, state: state, options: PlanOptions(excludes: [Address(.import, "seed")]))
        #expect(kept.changes.filter { $0.action == .forget }.map(\.address.description) == ["copy.c"])
    }

    @Test func savedOptionsOfEarlierReleasesDecodeWithoutExcludes() throws {
        let old = #"{"targets":["import.seed"],"replace":[]}"#
        let options = try JSONDecoder().decode(PlanOptions.self, from: Data(old.utf8))
        #expect(options.targets == [Address(.import, "seed")] && options.excludes.isEmpty)
    }
}

@Suite struct DriftTests {
    let plan = Fixture.plan(imports: [Fixture.importing("seed")], copies: [Fixture.copying("c", [("app", "copy")])],
                            backups: [BackupSpec(name: "nightly", of: "a", databases: ["app"], to: "/tmp/b")])

    func drift(_ facts: Facts, state: State, options: PlanOptions = PlanOptions()) -> DriftReport {
        Planner(plan: plan, facts: facts, state: state, engines: EngineRegistry([]), options: options).drift()
    }

    var applied: (Facts, State) {
        let facts = Fixture.facts(["a": ["app": "fa"], "b": ["copy": "new"]])
        var state = Fixture.state(after: plan, facts)
        state.resources["import.seed"]!.targets[0].fingerprint = "fa"
        return (facts, state)
    }

    @Test func nothingChangedIsNoDriftAndEveryRecordIsChecked() {
        let (facts, state) = applied
        let report = drift(facts, state: state)
        #expect(report.findings.isEmpty)
        #expect(Set(report.checked.map(\.description)) == ["import.seed", "copy.c"])
        #expect(report.unchecked.isEmpty)
    }

    @Test func eachKindOfDriftIsFound() {
        let (facts, state) = applied
        var changed = facts
        // a/app edited by hand: the import's target and the copy's source drifted.
        changed.instances["a"]!.databases["app"]!.fingerprint = "edited"
        changed.instances["b"]!.databases["copy"] = nil
        changed.sources["/tmp/app.sql"]!.digest = "d-new"
        let kinds = drift(changed, state: state).findings.map { "\($0.address) \($0.kind.rawValue) \($0.subject)" }
        #expect(Set(kinds) == ["import.seed targetChanged a/app", "import.seed sourceChanged /tmp/app.sql",
                               "copy.c sourceChanged a/app", "copy.c targetVanished b/copy"])
    }

    @Test func anUnreadableSourceIsDriftAndAnInexactFingerprintStillCounts() {
        let (facts, state) = applied
        var changed = facts
        changed.sources["/tmp/app.sql"] = nil
        changed.instances["b"]!.databases["copy"] = DatabaseFacts(name: "copy", sizeBytes: 1, fingerprint: "big", isFingerprintExact: false)
        let findings = drift(changed, state: state).findings
        #expect(findings.contains { $0.kind == .sourceVanished && $0.subject == "/tmp/app.sql" })
        #expect(findings.contains { $0.kind == .targetChanged && $0.detail.contains("not exact") })
    }

    @Test func anUnreachableInstanceIsUncheckedNeverAsBefore() {
        let (facts, state) = applied
        var changed = facts
        changed.instances["b"] = nil
        changed.unreachable["b"] = Diagnostic(.instanceNotFound, "b does not answer")
        let report = drift(changed, state: state)
        #expect(report.unchecked["copy.c"]?.contains("b does not answer") == true)
        #expect(!report.checked.contains(Address(.copy, "c")))
    }

    @Test func aVanishedBackupSetAndExcludedResources() {
        var (facts, state) = applied
        state.record(ResourceRecord(address: Address(.backup, "nightly"), definitionHash: "h", settingsHash: "s", targets: [],
                                    sources: [:], appliedAt: Date(), runID: "r1", backupSets: ["set-1"]))
        facts.backupSets["nightly"] = []
        var changed = facts
        changed.instances["a"]!.databases["app"]!.fingerprint = "edited"
        #expect(drift(changed, state: state).findings.contains { $0.kind == .backupSetVanished && $0.subject == "set-1" })
        let excluded = drift(changed, state: state, options: PlanOptions(excludes: [Address(.import, "seed")]))
        #expect(!excluded.findings.contains { $0.address == Address(.import, "seed") || $0.address == Address(.copy, "c") })
    }

    @Test func renderersSayWhatDriftedAndEscapeNames() throws {
        let report = DriftReport(findings: [DriftFinding(address: Address(.copy, "c"), kind: .targetChanged, subject: "b/a\u{1B}[2Jb",
                                                         detail: "changed outside Ferry")], checked: [Address(.copy, "c")], unchecked: [:])
        let text = DriftRenderer.text(report, palette: Palette(isEnabled: false))
        #expect(text.contains("Drift: 1 change outside Ferry") && text.contains("copy.c: target b/a\\u{1B}[2Jb changed outside Ferry"))
        #expect(!text.contains("\u{1B}"))
        let json = try JSONSerialization.jsonObject(with: Data(try DriftRenderer.json(report).utf8)) as? [String: Any]
        #expect(json?["formatVersion"] as? Int == 1)
        #expect((json?["findings"] as? [[String: Any]])?.first?["kind"] as? String == "targetChanged")
        #expect(DriftRenderer.markdown(report).contains("| `copy.c` | target |"))
        let none = DriftRenderer.text(DriftReport(findings: [], checked: [Address(.copy, "c")], unchecked: [:]), palette: Palette(isEnabled: false))
        #expect(none == "No drift: the instances are as the state recorded them (1 resource checked).\n")
    }
}

/// A copy with `at` reads the newest set, across every backup of the instance, that holds all
/// of its databases; plan and apply choose alike (a fresh tester's copy was shown one set and
/// then read another, which lacked a database).
@Suite struct BackupSetChoiceTests {
    @Test func theNewestSetHoldingEveryDatabaseOfTheCopyIsChosen() {
        let now = Date()
        var copy = Fixture.copying("r1", [("db1", "db1"), ("odd db", "odd db")])
        copy.at = now.addingTimeInterval(3600)
        let plan = Fixture.plan(copies: [copy], backups: [BackupSpec(name: "both", of: "a", databases: ["db1", "odd db"], to: "/tmp/x"),
                                                          BackupSpec(name: "one", of: "a", databases: ["db1"], to: "/tmp/y")])
        func entry(_ db: String) -> BackupSetManifest.Entry { .init(database: db, file: db + ".db", sizeBytes: 1, fingerprint: "f") }
        var facts = Fixture.facts(["a": ["db1": "1", "odd db": "2"]])
        facts.backupSets["both"] = [BackupSetManifest(id: "s-both", instance: "a", engine: .sqlite, takenAt: now.addingTimeInterval(-60),
                                                      entries: [entry("db1"), entry("odd db")])]
        facts.backupSets["one"] = [BackupSetManifest(id: "s-one", instance: "a", engine: .sqlite, takenAt: now.addingTimeInterval(-10),
                                                     entries: [entry("db1")])]
        let result = Fixture.plan(plan, facts)
        #expect(!result.hasErrors, "\(result.diagnostics)")
        #expect(result.change("copy.r1")?.movements.allSatisfy { $0.from.hasSuffix("@s-both") } == true,
                "\(String(describing: result.change("copy.r1")?.movements))")
        facts.backupSets["both"] = []
        #expect(Fixture.plan(plan, facts).codes == [.backupNotFound], "no set holds both: refused at plan")
    }
}
