import Foundation
import Testing
@testable import FerryCore

/// Imports of local files are keyed in the state by their path relative to the plan file's
/// directory (issue 20 point 2), so two working copies at different paths agree; states written
/// with absolute keys still read as they did.
@Suite struct ImportStateKeyTests {
    /// The plan of a checkout at `root`: plans/main.json imports plans/data/seed.sql.
    func checkout(_ root: String, from file: String? = nil) -> Plan {
        var plan = Fixture.plan(imports: [Fixture.importing("seed", from: file ?? root + "/plans/data/seed.sql", onExisting: .replace)])
        plan.root = root
        plan.importDirectories["seed"] = root + "/plans"
        return plan
    }

    func facts(_ root: String, file: String? = nil) -> Facts {
        Fixture.facts(["a": ["app": "new"]], sources: [file ?? root + "/plans/data/seed.sql": "d1"])
    }

    /// The record the applier writes (Applier's own keys and hashes).
    func appliedState(_ plan: Plan, _ facts: Facts) -> State {
        let planner = Planner(plan: plan, facts: facts, state: State(), engines: EngineRegistry([]))
        var state = State()
        for spec in plan.imports.values {
            state.record(ResourceRecord(address: spec.address, definitionHash: planner.definitionHash(of: spec),
                                        settingsHash: planner.settingsHash(of: spec),
                                        targets: [.init(instance: spec.into, database: spec.database, fingerprint: "new")],
                                        sources: Dictionary(uniqueKeysWithValues: spec.sources.map {
                                            (plan.stateKey(of: $0, inImport: spec.name), facts.sources[$0.description]?.digest ?? "")
                                        }),
                                        appliedAt: Date(), runID: "r1"))
        }
        return state
    }

    @Test func aFileInsideTheProjectIsKeyedRelativeToItsPlanFile() {
        let plan = checkout("/home/dev/project")
        #expect(plan.stateKey(of: .file("/home/dev/project/plans/data/seed.sql"), inImport: "seed") == "data/seed.sql")
        #expect(plan.stateKey(of: .file("/home/dev/project/dumps/x.sql"), inImport: "seed") == "../dumps/x.sql")
        #expect(plan.stateKey(of: .file("/srv/dumps/x.sql"), inImport: "seed") == "/srv/dumps/x.sql", "outside the project: absolute")
        #expect(plan.stateKey(of: .file("/home/dev/project-other/x.sql"), inImport: "seed") == "/home/dev/project-other/x.sql")
        #expect(plan.stateKey(of: .url("https://example.com/x.sql"), inImport: "seed") == "https://example.com/x.sql")
    }

    @Test func anotherCheckoutAtAnotherPathPlansNoChange() {
        let here = checkout("/home/dev/project"), there = checkout("/runner/work/project/project")
        let state = appliedState(here, facts("/home/dev/project"))
        #expect(state.resources["import.seed"]?.sources.keys.sorted() == ["data/seed.sql"])
        let result = Fixture.plan(there, facts("/runner/work/project/project"), state: state)
        #expect(result.change("import.seed")?.action == .noop, "\(result.change("import.seed")?.reasons ?? [])")
        // A changed file is still seen from there.
        var changed = facts("/runner/work/project/project")
        changed.sources["/runner/work/project/project/plans/data/seed.sql"]?.digest = "d2"
        #expect(Fixture.plan(there, changed, state: state).change("import.seed")?.reasons == ["source changed"])
        // So is another file.
        let moved = checkout("/runner/work/project/project", from: "/runner/work/project/project/plans/data/other.sql")
        #expect(Fixture.plan(moved, facts("", file: "/runner/work/project/project/plans/data/other.sql"), state: state)
            .change("import.seed")?.reasons == ["definition changed"])
    }

    @Test func aStateWrittenWithAbsoluteKeysStillReadsAsUpToDate() {
        let plan = checkout("/home/dev/project")
        var legacy = plan
        legacy.importDirectories = [:]
        let state = Fixture.state(after: legacy, facts("/home/dev/project"))
        #expect(state.resources["import.seed"]?.sources.keys.sorted() == ["/home/dev/project/plans/data/seed.sql"])
        let result = Fixture.plan(plan, facts("/home/dev/project"), state: state)
        #expect(result.change("import.seed")?.action == .noop, "\(result.change("import.seed")?.reasons ?? [])")
        var changed = facts("/home/dev/project")
        changed.sources["/home/dev/project/plans/data/seed.sql"]?.digest = "d2"
        #expect(Fixture.plan(plan, changed, state: state).change("import.seed")?.reasons == ["source changed"])
    }

    @Test func theLoaderRecordsEachImportsPlanFileDirectory() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("plans/sub/data/x.sql", "SELECT 1;")
        try directory.write("plans/main.json", #"{ "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } }, "imports": { "x": { "into": "a", "database": "x", "from": "sub/data/x.sql" } } }"#)
        let result = PlanLoader(environment: [:], root: directory.path).load(path: directory.path + "/plans")
        #expect(!result.hasErrors, "\(result.diagnostics)")
        let spec = try #require(result.plan.imports["x"])
        #expect(result.plan.stateKey(of: spec.sources[0], inImport: "x") == "sub/data/x.sql")
    }
}

/// Issue 20 point 9: a run on a state that is not a local directory stages files in
/// `$TMPDIR/ferry-run-RUN`; once nothing is left in it, it is removed, never while it holds a file.
@Suite struct ScratchDirectoryTests {
    @Test func anEmptyScratchDirectoryIsRemovedAndOneWithAFileIsKept() throws {
        let backend = InMemoryStateBackend()
        let run = "20261130T000000000Z-" + UUID().uuidString.prefix(6).lowercased()
        let directory = backend.scratchDirectory(of: run)
        try FileManager.default.createDirectory(atPath: directory + "/spool-3", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: directory + "/keep.txt", contents: Data("x".utf8))
        try FileManager.default.removeItem(atPath: directory + "/spool-3")
        backend.removeScratchDirectoryIfEmpty(of: run)
        #expect(FileManager.default.fileExists(atPath: directory + "/keep.txt"), "a directory with a file stays")
        try FileManager.default.removeItem(atPath: directory + "/keep.txt")
        backend.removeScratchDirectoryIfEmpty(of: run)
        #expect(!FileManager.default.fileExists(atPath: directory))
    }
}

/// Local backup locations are recorded in the state relative to the plan file, as import files
/// are (issue 20: a team sharing one state from checkouts at different paths finds the same
/// backup sets); states that recorded them by absolute path still read as they did.
@Suite struct BackupLocationStateKeyTests {
    /// The plan of a checkout at `root`: plans/main.json backs up a/app to `to` (absolute, as loaded).
    func checkout(_ root: String, to: String? = nil) -> Plan {
        var plan = Fixture.plan(backups: [BackupSpec(name: "nightly", of: "a", databases: ["app"], to: to ?? root + "/var/backups", every: 86_400, keep: 3)])
        plan.root = root
        plan.backupDirectories["nightly"] = root + "/plans"
        return plan
    }

    func facts(_ now: Date) -> Facts {
        var facts = Fixture.facts(["a": ["app": "1"]])
        facts.backupSets["nightly"] = [BackupSetManifest(id: "s1", instance: "a", engine: .sqlite, takenAt: now.addingTimeInterval(-60), entries: [])]
        return facts
    }

    /// The record the applier writes (its own hashes), or one an earlier Ferry wrote (absolute).
    func appliedState(_ plan: Plan, _ facts: Facts, absolute: Bool = false) -> State {
        let planner = Planner(plan: plan, facts: facts, state: State(), engines: EngineRegistry([]))
        let spec = plan.backups["nightly"]!
        var state = State()
        state.record(ResourceRecord(address: spec.address,
                                    definitionHash: absolute ? StableHash.hex(of: [spec.of, spec.to] + spec.databases) : planner.definitionHash(of: spec),
                                    settingsHash: absolute ? StableHash.hex(of: spec) : planner.settingsHash(of: spec),
                                    targets: [], sources: [:], appliedAt: Date(), runID: "r1", backupSets: ["s1"]))
        return state
    }

    @Test func aLocalLocationInsideTheProjectIsKeyedRelativeToItsPlanFile() {
        let plan = checkout("/home/dev/project")
        #expect(plan.stateKey(ofLocationOf: plan.backups["nightly"]!) == "../var/backups")
        #expect(plan.stateKey(ofLocationOf: plan.backups["nightly"]!.with(to: "/home/dev/project/plans/b")) == "b")
        #expect(plan.stateKey(ofLocationOf: plan.backups["nightly"]!.with(to: "/srv/backups")) == "/srv/backups", "outside the project: absolute")
        #expect(plan.stateKey(ofLocationOf: plan.backups["nightly"]!.with(to: "/home/dev/project-b/x")) == "/home/dev/project-b/x", "a sibling directory is outside")
        #expect(plan.stateKey(ofLocationOf: plan.backups["nightly"]!.with(to: "s3://bucket/prefix")) == "s3://bucket/prefix")
        #expect(plan.stateKey(ofLocationOf: plan.backups["nightly"]!.with(to: "ftp://u@host/dir")) == "ftp://u@host/dir")
    }

    @Test func anotherCheckoutAtAnotherPathHoldingTheSetsPlansNoChange() {
        let now = Date()
        let here = checkout("/home/dev/project"), there = checkout("/runner/work/project/project")
        let state = appliedState(here, facts(now))
        let result = Fixture.plan(there, facts(now), state: state, now: now)
        #expect(result.change("backup.nightly")?.action == .noop, "\(result.change("backup.nightly")?.reasons ?? [])")
        // Another location is still a changed definition from there.
        let elsewhere = checkout("/runner/work/project/project", to: "/runner/work/project/project/var/other")
        #expect(Fixture.plan(elsewhere, facts(now), state: state, now: now).change("backup.nightly")?.reasons == ["definition changed"])
        // And a location outside the project is compared by its absolute path.
        let outside = appliedState(checkout("/home/dev/project", to: "/srv/backups"), facts(now))
        #expect(Fixture.plan(checkout("/runner/x", to: "/srv/backups"), facts(now), state: outside, now: now).change("backup.nightly")?.action == .noop)
        #expect(Fixture.plan(checkout("/runner/x", to: "/srv/other"), facts(now), state: outside, now: now).change("backup.nightly")?.reasons == ["definition changed"])
    }

    @Test func aStateThatRecordedTheLocationByAbsolutePathStillReadsAsUpToDate() {
        let now = Date()
        let plan = checkout("/home/dev/project")
        let legacy = appliedState(plan, facts(now), absolute: true)
        #expect(legacy.resources["backup.nightly"]?.definitionHash != appliedState(plan, facts(now)).resources["backup.nightly"]?.definitionHash,
                "the two records differ, so the test tells them apart")
        let result = Fixture.plan(plan, facts(now), state: legacy, now: now)
        #expect(result.change("backup.nightly")?.action == .noop, "\(result.change("backup.nightly")?.reasons ?? [])")
        var keep = plan
        keep.backups["nightly"]?.keep = 5
        #expect(Fixture.plan(keep, facts(now), state: legacy, now: now).change("backup.nightly")?.reasons == ["settings changed (no data moves)"])
    }

    @Test func theLoaderRecordsEachBackupsPlanFileDirectory() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("plans/sub/main.json", #"{ "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../../var/a" } }, "backups": { "n": { "of": "a", "databases": ["x"], "to": "../../var/backups" } } }"#)
        let result = PlanLoader(environment: [:], root: directory.path).load(path: directory.path + "/plans/sub")
        #expect(!result.hasErrors, "\(result.diagnostics)")
        let spec = try #require(result.plan.backups["n"])
        #expect(result.plan.stateKey(ofLocationOf: spec) == "../../var/backups")
    }
}

extension BackupSpec {
    func with(to location: String) -> BackupSpec {
        var copy = self
        copy.to = location
        return copy
    }
}
