import Foundation
import Testing
@testable import FerryCore

@Suite struct PlannerDiffTests {
    @Test func importIntoMissingTargetIsCreate() {
        let plan = Fixture.plan(imports: [Fixture.importing("seed")])
        let result = Fixture.plan(plan, Fixture.facts([:]))
        #expect(result.change("import.seed")?.action == .create)
        #expect(result.change("import.seed")?.reasons == ["target missing"])
        #expect(!result.hasErrors)
    }

    @Test func refreshFingerprintsOnlyTheDatabasesThePlanNames() {
        let plan = Fixture.plan(imports: [Fixture.importing("seed", into: "a", database: "app")],
                                copies: [Fixture.copying("c", from: "a", to: "b", [("orders", "orders_copy"), ("app", "app2")])],
                                backups: [BackupSpec(name: "n", of: "c", databases: ["logs"], to: "/tmp/b")])
        #expect(plan.databases(on: "a") == ["app", "orders"])
        #expect(plan.databases(on: "b") == ["orders_copy", "app2"])
        #expect(plan.databases(on: "c") == ["logs"])
        #expect(plan.databases(on: "elsewhere").isEmpty)
    }

    @Test func existingTargetNotInStateIsNameConflict() {
        let plan = Fixture.plan(imports: [Fixture.importing("seed")])
        let result = Fixture.plan(plan, Fixture.facts(["a": ["app": "f1"]]))
        #expect(result.codes == [.nameConflict])
    }

    @Test func existingTargetWithReplaceIsReplace() {
        let plan = Fixture.plan(imports: [Fixture.importing("seed", onExisting: .replace)])
        let result = Fixture.plan(plan, Fixture.facts(["a": ["app": "f1"]]))
        #expect(result.change("import.seed")?.action == .replace)
        #expect(result.codes.isEmpty)
    }

    @Test func appendIntoExistingTargetIsUpdateWithSnapshot() {
        let plan = Fixture.plan(imports: [Fixture.importing("seed", onExisting: .append)])
        let result = Fixture.plan(plan, Fixture.facts(["a": ["app": "f1"]]))
        #expect(result.change("import.seed")?.action == .update)
        #expect(result.graph.actions.map(\.kind) == [.snapshot, .build, .verify, .swap])
        #expect(result.graph.checkpointCount == 1)
    }

    @Test func appliedImportWithNothingChangedIsNoop() {
        let plan = Fixture.plan(imports: [Fixture.importing("seed")])
        let facts = Fixture.facts(["a": ["app": "new"]])
        let result = Fixture.plan(plan, facts, state: Fixture.state(after: plan, facts))
        #expect(result.change("import.seed")?.action == .noop)
        #expect(!result.hasChanges)
        #expect(result.graph.actions.isEmpty)
    }

    @Test func changedSourceBytesReplaceTheImport() {
        let plan = Fixture.plan(imports: [Fixture.importing("seed")])
        let before = Fixture.facts(["a": ["app": "new"]])
        let after = Fixture.facts(["a": ["app": "new"]], sources: ["/tmp/app.sql": "d2"])
        let result = Fixture.plan(plan, after, state: Fixture.state(after: plan, before))
        #expect(result.change("import.seed")?.action == .replace)
        #expect(result.change("import.seed")?.reasons == ["source changed"])
    }

    @Test func changedDefinitionReplaces() {
        let applied = Fixture.plan(imports: [Fixture.importing("seed", onExisting: .fail)])
        let facts = Fixture.facts(["a": ["app": "new"]])
        let edited = Fixture.plan(imports: [Fixture.importing("seed", onExisting: .replace)])
        let result = Fixture.plan(edited, facts, state: Fixture.state(after: applied, facts))
        #expect(result.change("import.seed")?.reasons == ["definition changed"])
    }

    @Test func targetChangedOutsideFerryIsDrift() {
        let plan = Fixture.plan(imports: [Fixture.importing("seed")])
        let facts = Fixture.facts(["a": ["app": "edited-by-hand"]])
        let result = Fixture.plan(plan, facts, state: Fixture.state(after: plan, facts, targetFingerprint: "new"))
        #expect(result.change("import.seed")?.reasons == ["target drifted"])
    }

    @Test func settingsOnlyChangeIsUpdateWithoutData() {
        let applied = Fixture.plan(imports: [Fixture.importing("seed")])
        let facts = Fixture.facts(["a": ["app": "new"], "b": ["x": "1"]])
        let edited = Fixture.plan(imports: [Fixture.importing("seed", after: [])], copies: [])
        var changedSpec = edited.imports["seed"]!
        changedSpec.rerun = .onSourceChange
        var plan = edited
        plan.imports["seed"] = changedSpec
        let result = Fixture.plan(plan, facts, state: Fixture.state(after: applied, facts))
        #expect(result.change("import.seed")?.action == .update)
        #expect(result.change("import.seed")?.bytes == 0)
        #expect(result.graph.actions.map(\.kind) == [.record])
    }

    @Test func rerunAlwaysReplacesAndOnceNeverDoes() {
        let facts = Fixture.facts(["a": ["app": "new"]])
        let always = Fixture.plan(imports: [Fixture.importing("seed", rerun: .always)])
        #expect(Fixture.plan(always, facts, state: Fixture.state(after: always, facts)).change("import.seed")?.action == .replace)
        let once = Fixture.plan(imports: [Fixture.importing("seed", rerun: .once)])
        let changed = Fixture.facts(["a": ["app": "new"]], sources: ["/tmp/app.sql": "d9"])
        #expect(Fixture.plan(once, changed, state: Fixture.state(after: once, facts)).change("import.seed")?.action == .noop)
    }

    @Test func resourceInStateButNotInPlanIsForgotten() {
        let old = Fixture.plan(imports: [Fixture.importing("old")])
        let facts = Fixture.facts(["a": ["app": "new"]])
        let result = Fixture.plan(Fixture.plan(), facts, state: Fixture.state(after: old, facts))
        #expect(result.change("import.old")?.action == .forget)
        #expect(result.graph.actions.map(\.kind) == [.forget])
    }

    @Test func replaceFlagForcesReplace() {
        let plan = Fixture.plan(imports: [Fixture.importing("seed")])
        let facts = Fixture.facts(["a": ["app": "new"]])
        let result = Fixture.plan(plan, facts, state: Fixture.state(after: plan, facts),
                                  options: PlanOptions(replace: [Address(.import, "seed")]))
        #expect(result.change("import.seed")?.reasons == ["--replace"])
    }

    @Test func copyWithChangedSourceFingerprintIsReplaced() {
        let plan = Fixture.plan(copies: [Fixture.copying("c")])
        let before = Fixture.facts(["a": ["app": "s1"], "b": ["app": "new"]])
        let after = Fixture.facts(["a": ["app": "s2"], "b": ["app": "new"]])
        let result = Fixture.plan(plan, after, state: Fixture.state(after: plan, before))
        #expect(result.change("copy.c")?.action == .replace)
        #expect(result.change("copy.c")?.reasons == ["source changed"])
        #expect(Fixture.plan(plan, before, state: Fixture.state(after: plan, before)).change("copy.c")?.action == .noop)
    }

    @Test func usersSyncWarnsWhereTheTargetEngineHasNoUsersToCopy() {
        var copy = Fixture.copying("c")
        copy.users = .sync
        var plan = Fixture.plan(copies: [copy])
        let facts = Fixture.facts(["a": ["app": "s1"], "b": [:]])
        #expect(Fixture.plan(plan, facts).change("copy.c")?.warnings.first?.contains("SQLite") == true)
        plan.instances["b"]!.engine = .redis
        plan.instances["a"]!.engine = .redis
        // Redis: ACL users unread (facts without them) are a warning; a user the target has with
        // other rules is one; a user only the source has, or the target has alike, is none.
        #expect(Fixture.plan(plan, facts).change("copy.c")?.warnings.first?.contains("ACL users of a could not be read") == true)
        var withUsers = facts
        withUsers.instances["a"]!.aclUsers = ["new": "r1", "same": "r2", "other": "r3"]
        withUsers.instances["b"]!.aclUsers = ["same": "r2", "other": "r4", "mine": "r5"]
        #expect(Fixture.plan(plan, withUsers).change("copy.c")?.warnings == ["ACL user other exists on b with other rules than on a: it is left as it is"])
        withUsers.instances["b"]!.aclUsers = nil
        #expect(Fixture.plan(plan, withUsers).change("copy.c")?.warnings.first?.contains("ACL users of b could not be read") == true)
        plan.instances["b"]!.engine = .mysql
        #expect(Fixture.plan(plan, facts).change("copy.c")?.warnings == [])
    }

    @Test func inexactSourceFingerprintIsTreatedAsChanged() {
        let plan = Fixture.plan(copies: [Fixture.copying("c")])
        var facts = Fixture.facts(["a": ["app": "s1"], "b": ["app": "new"]])
        let state = Fixture.state(after: plan, facts)
        facts.instances["a"]!.databases["app"]!.isFingerprintExact = false
        let change = Fixture.plan(plan, facts, state: state).change("copy.c")
        #expect(change?.action == .replace)
        #expect(change?.reasons.first?.hasPrefix("source may have changed") == true)
    }

    @Test func copyRenameMapConflictPointsAtTheMapping() {
        var plan = Fixture.plan(copies: [Fixture.copying("c", [("app", "app2"), ("billing", "billing")])])
        plan.locations["copies.c.databases.app"] = SourceLocation(file: "plans/x.json", line: 7, column: 20, jsonPath: "copies.c.databases.app")
        let result = Fixture.plan(plan, Fixture.facts(["a": ["app": "1", "billing": "2"], "b": ["app2": "x"]]))
        #expect(result.codes == [.nameConflict])
        #expect(result.diagnostics.first?.location?.line == 7)
    }

    @Test func copySourceMissingIsReportedUnlessWrittenUpstream() {
        let plan = Fixture.plan(copies: [Fixture.copying("c")])
        #expect(Fixture.plan(plan, Fixture.facts([:])).codes == [.invalidParameter])
        let chained = Fixture.plan(imports: [Fixture.importing("seed")], copies: [Fixture.copying("c")])
        #expect(Fixture.plan(chained, Fixture.facts([:])).codes.isEmpty)
    }

    @Test func protectedInstanceRefusesReplacingADatabase() {
        var plan = Fixture.plan(imports: [Fixture.importing("seed", onExisting: .replace)])
        plan.instances["a"]!.isProtected = true
        #expect(Fixture.plan(plan, Fixture.facts(["a": ["app": "f"]])).codes == [.protected])
        // Creating a new database on a protected instance replaces nothing.
        #expect(Fixture.plan(plan, Fixture.facts([:])).codes.isEmpty)
    }

    @Test func storageLimitCountsShadowsBesideOriginals() {
        var plan = Fixture.plan(imports: [Fixture.importing("seed", onExisting: .replace)])
        plan.instances["a"]!.storageLimit = 1200
        // 1000 bytes used now + 500 incoming > 1200.
        #expect(Fixture.plan(plan, Fixture.facts(["a": ["app": "f"]])).codes == [.storageLimitExceeded])
        plan.instances["a"]!.storageLimit = 2000
        #expect(Fixture.plan(plan, Fixture.facts(["a": ["app": "f"]])).codes.isEmpty)
    }

    @Test func crossAccountCopyNeedsPermission() {
        var plan = Fixture.plan(copies: [Fixture.copying("c")])
        plan.instances["a"]!.account = "acme"
        plan.instances["b"]!.account = "other"
        let facts = Fixture.facts(["a": ["app": "1"]])
        #expect(Fixture.plan(plan, facts).codes == [.crossAccount])
        plan.copies["c"]!.allowCrossAccount = true
        #expect(Fixture.plan(plan, facts).codes.isEmpty)
    }

    @Test func olderTargetVersionIsVersionMismatch() {
        let plan = Fixture.plan(copies: [Fixture.copying("c")])
        var facts = Fixture.facts(["a": ["app": "1"]])
        facts.instances["a"]!.version = "10.11.6"
        facts.instances["b"]!.version = "10.5.2"
        #expect(Fixture.plan(plan, facts).codes == [.versionMismatch])
    }

    @Test func databaseClaimedByAnotherRunIsWrongStatus() {
        let plan = Fixture.plan(copies: [Fixture.copying("c")])
        var facts = Fixture.facts(["a": ["app": "1"]])
        facts.instances["a"]!.claims = [DatabaseClaim(database: "app", role: .migrating, runID: "other-run")]
        let result = Fixture.plan(plan, facts)
        #expect(result.codes == [.wrongStatus])
        #expect(result.diagnostics[0].message.contains("Migrating"))
    }

    @Test func unreachableInstanceIsReportedOnceWithItsCode() {
        let plan = Fixture.plan(copies: [Fixture.copying("c"), Fixture.copying("d", [("x", "x")])])
        var facts = Fixture.facts(["a": ["app": "1", "x": "2"]])
        facts.instances["b"] = nil
        facts.unreachable["b"] = Diagnostic(.instanceNotFound, "cannot reach b", instance: "b")
        let result = Fixture.plan(plan, facts)
        #expect(result.codes == [.instanceNotFound])
    }

    @Test func backupIsDueWhenNewestSetIsOlderThanEvery() {
        let plan = Fixture.plan(backups: [BackupSpec(name: "nightly", of: "a", databases: ["app"], to: "/tmp/b", every: 3600, keep: 3)])
        var facts = Fixture.facts(["a": ["app": "1"]])
        #expect(Fixture.plan(plan, facts).change("backup.nightly")?.action == .create)
        let now = Date()
        facts.backupSets["nightly"] = [BackupSetManifest(id: "s1", instance: "a", engine: .sqlite, takenAt: now.addingTimeInterval(-7200), entries: [])]
        let planner = Planner(plan: plan, facts: facts, state: State(), engines: EngineRegistry([]))
        var state = State()
        state.record(ResourceRecord(address: Address(.backup, "nightly"), definitionHash: planner.definitionHash(of: plan.backups["nightly"]!),
                                    settingsHash: StableHash.hex(of: plan.backups["nightly"]!), targets: [], sources: [:],
                                    appliedAt: now, runID: "r", backupSets: ["s1"]))
        let due = Fixture.plan(plan, facts, state: state, now: now)
        #expect(due.change("backup.nightly")?.action == .update)
        #expect(due.change("backup.nightly")?.reasons.first?.hasPrefix("backup due") == true)
        let fresh = Fixture.plan(plan, facts, state: state, now: now.addingTimeInterval(-6000))
        #expect(fresh.change("backup.nightly")?.action == .noop)
    }

    @Test func copyFromMissingBackupSetIsBackupNotFound() {
        var copy = Fixture.copying("restore")
        copy.backupSet = "nope"
        let plan = Fixture.plan(copies: [copy], backups: [BackupSpec(name: "n", of: "a", databases: ["app"], to: "/tmp/b")])
        #expect(Fixture.plan(plan, Fixture.facts(["a": ["app": "1"]])).codes.contains(.backupNotFound))
    }
}

@Suite struct DependencyTests {
    @Test func copyReadingAnImportedDatabaseRunsAfterIt() {
        let plan = Fixture.plan(imports: [Fixture.importing("seed")], copies: [Fixture.copying("c")])
        let result = Fixture.plan(plan, Fixture.facts([:]))
        #expect(result.change("copy.c")?.dependsOn == [Address(.import, "seed")])
        let seedSwap = result.graph.actions.first { $0.address.name == "seed" && $0.kind == .swap }!
        let copyBuild = result.graph.actions.first { $0.address.name == "c" && $0.kind == .build }!
        #expect(copyBuild.dependsOn.contains(seedSwap.step))
        #expect(seedSwap.step < copyBuild.step)
    }

    @Test func upstreamChangeMarksDownstreamForReplacement() {
        let plan = Fixture.plan(imports: [Fixture.importing("seed")], copies: [Fixture.copying("c")])
        let before = Fixture.facts(["a": ["app": "new"], "b": ["app": "new"]])
        let state = Fixture.state(after: plan, before)
        // Only the import's source changed; the copy's own source is still as recorded.
        let after = Fixture.facts(["a": ["app": "new"], "b": ["app": "new"]], sources: ["/tmp/app.sql": "d2"])
        var fixedState = state
        fixedState.resources["copy.c"]!.sources = ["a/app": "new"]
        let result = Fixture.plan(plan, after, state: fixedState)
        #expect(result.change("import.seed")?.action == .replace)
        #expect(result.change("copy.c")?.action == .replace)
        #expect(result.change("copy.c")?.reasons == ["source changes (import.seed)"])
    }

    @Test func afterAddsAnEdgeByHand() {
        let plan = Fixture.plan(imports: [Fixture.importing("one"), Fixture.importing("two", database: "other", after: [Address(.import, "one")])])
        let result = Fixture.plan(plan, Fixture.facts([:]))
        #expect(result.change("import.two")?.dependsOn == [Address(.import, "one")])
    }

    @Test func cycleNamesEveryMember() {
        let plan = Fixture.plan(copies: [
            Fixture.copying("ab", from: "a", to: "b", [("x", "x")]),
            Fixture.copying("bc", from: "b", to: "c", [("x", "x")]),
            Fixture.copying("ca", from: "c", to: "a", [("x", "x")]),
        ])
        let result = Fixture.plan(plan, Fixture.facts([:]))
        let cycle = result.diagnostics.first { $0.code == .cycleDetected }
        #expect(cycle != nil)
        for name in ["copy.ab", "copy.bc", "copy.ca"] { #expect(cycle?.message.contains(name) == true) }
    }

    @Test func selfContainedAfterCycleIsDetected() {
        let plan = Fixture.plan(imports: [
            Fixture.importing("x", database: "x", after: [Address(.import, "y")]),
            Fixture.importing("y", database: "y", after: [Address(.import, "x")]),
        ])
        #expect(Fixture.plan(plan, Fixture.facts([:])).codes == [.cycleDetected])
    }

    @Test func targetIncludesDependenciesOnly() {
        let plan = Fixture.plan(imports: [Fixture.importing("seed"), Fixture.importing("other", database: "o")],
                                copies: [Fixture.copying("c")])
        let result = Fixture.plan(plan, Fixture.facts([:]), options: PlanOptions(targets: [Address(.copy, "c")]))
        #expect(result.changes.map(\.address.description) == ["import.seed", "copy.c"])
    }

    @Test func unknownTargetAddressIsReported() {
        let result = Fixture.plan(Fixture.plan(), Fixture.facts([:]), options: PlanOptions(targets: [Address(.copy, "ghost")]))
        #expect(result.codes == [.unknownAddress])
    }

    @Test func topologicalOrderIsStableAndRespectsEdges() {
        let plan = Fixture.plan(imports: [Fixture.importing("z", database: "z"), Fixture.importing("a", database: "q", after: [Address(.import, "z")])])
        #expect(DependencyGraph(plan: plan).topologicalOrder().map(\.name) == ["z", "a"])
    }
}

@Suite struct ActionGraphTests {
    @Test func replaceExpandsToBuildVerifySwapPerDatabaseWithCheckpoints() {
        let plan = Fixture.plan(copies: [Fixture.copying("c", [("app", "app"), ("billing", "bill")], onExisting: .replace)])
        let result = Fixture.plan(plan, Fixture.facts(["a": ["app": "1", "billing": "2"], "b": ["app": "x"]]))
        #expect(result.graph.actions.count == 6)
        #expect(result.graph.checkpointCount == 1)
        for action in result.graph.actions {
            for dep in action.dependsOn { #expect(dep < action.step) }
        }
    }

    @Test func usersSyncRunsAfterEverySwap() {
        var copy = Fixture.copying("c", [("app", "app"), ("billing", "bill")])
        copy.users = .sync
        let result = Fixture.plan(Fixture.plan(copies: [copy]), Fixture.facts(["a": ["app": "1", "billing": "2"]]))
        let users = result.graph.actions.last!
        #expect(users.kind == .users)
        #expect(Set(users.dependsOn) == Set(result.graph.actions.filter { $0.kind == .swap }.map(\.step)))
    }

    @Test func independentResourcesHaveNoEdgesBetweenThem() {
        let plan = Fixture.plan(imports: [Fixture.importing("one", database: "one"), Fixture.importing("two", database: "two")])
        let graph = Fixture.plan(plan, Fixture.facts([:])).graph
        let one = Set(graph.actions.filter { $0.address.name == "one" }.map(\.step))
        for action in graph.actions where action.address.name == "two" {
            #expect(Set(action.dependsOn).isDisjoint(with: one))
        }
    }
}

/// Backup set file names and the digest that checks them.
struct BackupSetNamingTests {
    @Test func fileNamesAreUniqueForNamesASanitiserWouldMerge() {
        let names = ["a b", "a_b", "a%20b", "a.b", "a-b", "ä b", "A_B", ".", "..", "", "%", "a/b", "a\\b", String(repeating: "x", count: 300), String(repeating: "x", count: 299) + "y"]
        let files = names.map { BackupSetManifest.fileName(for: $0, extension: "db") }
        #expect(Set(files).count == names.count, "\(files)")
        for file in files {
            #expect(!file.contains("/") && file != "." && file != ".." && !file.hasPrefix("."))
            #expect(file.utf8.count <= 200)
        }
        #expect(BackupSetManifest.fileName(for: "a b", extension: "db") == "a%20b.db")
        #expect(BackupSetManifest.fileName(for: "shop", extension: "sql.gz") == "shop.sql.gz")
    }
}
