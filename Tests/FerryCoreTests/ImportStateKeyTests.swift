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
