import Foundation
import Testing
@testable import FerryCore

/// The run's outcomes of SPEC §6/§7 without a server (issue 18 point 2): the Applier and
/// Recovery on the in-memory `FakeEngine`, with failures and hangs injected at any engine call
/// of the run, rollback calls included.
@Suite struct RunOutcomeTests {
    final class Harness {
        let world = FakeWorld()
        let directory: String
        let store: StateStore
        var engines: EngineRegistry { EngineRegistry([FakeEngine(world: world)]) }

        init() throws {
            directory = NSTemporaryDirectory() + "ferry-fake-\(UUID().uuidString)"
            store = StateStore(directory: directory + "/.ferry")
        }

        deinit { try? FileManager.default.removeItem(atPath: directory) }

        var reporter: ApplyReporter { ApplyReporter(isTerminal: false, palette: Palette(isEnabled: false)) { _ in } }

        /// Plans against the world as it is, then injects `faults` and applies.
        func apply(_ plan: Plan, faults: [(FakeWorld.Fault, String)] = [], keepGoing: Bool = false,
                   beforeRun: () -> Void = {}, cancelAfter: Double? = nil, abandonAfter: Double? = nil,
                   lease wrap: ((any StateLease) -> any StateLease)? = nil) throws -> ApplyOutcome {
            let state = try store.load()
            let facts = Refresher(engines: engines, inspector: FakeInspector()).refresh(plan)
            let result = Planner(plan: plan, facts: facts, state: state, engines: engines).makePlan()
            try #require(!result.hasErrors, "\(result.diagnostics)")
            for (fault, call) in faults { world.inject(fault, at: call) }
            beforeRun()
            let lock = try StateLock.acquire(store, operation: "apply")
            defer { lock.release() }
            let token = CancellationToken()
            if let cancelAfter {
                Thread.detachNewThread {
                    Thread.sleep(forTimeInterval: cancelAfter)
                    token.cancel(reason: "interrupted (test)")
                }
            }
            if let abandonAfter {
                // A second Ctrl-C: the executable's signal thread cancels, then abandons.
                Thread.detachNewThread {
                    Thread.sleep(forTimeInterval: abandonAfter)
                    token.abandon(reason: "interrupted again (test)")
                }
            }
            let applier = Applier(store: store, plan: plan, facts: facts, state: state, result: result, engines: engines,
                                  options: ApplyOptions(parallelism: 2, keepGoing: keepGoing, progressInterval: 60, cancellation: token),
                                  reporter: reporter)
            return applier.run(lock: wrap?(lock) ?? lock)
        }

        func recover(_ plan: Plan) -> [Diagnostic] {
            Recovery(store: store, engines: engines, reporter: reporter).recoverAll(instances: plan.instances).failures
        }
    }

    /// a/app and b/app hold data; an import replaces a/app, a copy replaces b/app from it.
    static let plan = Fixture.plan(imports: [Fixture.importing("seed", onExisting: .replace)],
                                   copies: [Fixture.copying("c", onExisting: .replace)])

    static func seeded() throws -> Harness {
        let h = try Harness()
        h.world.set("a", "app", rows: ["old a"])
        h.world.set("b", "app", rows: ["old b"])
        h.world.set("c", "untouched", rows: ["user data"])
        return h
    }

    static let planned: [String: [String: [String]]] = [
        "a": ["app": ["row from /tmp/app.sql"]], "b": ["app": ["row from /tmp/app.sql"]], "c": ["untouched": ["user data"]],
    ]

    /// The world without Ferry's kept checkpoints (databases named `...~checkpoint~RUN`).
    static func userVisible(_ world: [String: [String: [String]]]) -> [String: [String: [String]]] {
        world.mapValues { $0.filter { !$0.key.contains("~checkpoint~") } }.filter { !$0.value.isEmpty || $0.key == "c" }
    }

    @Test func aRunThatSucceedsCommitsEveryChangeAndLeavesNoShadow() throws {
        let h = try Self.seeded()
        let outcome = try h.apply(Self.plan)
        #expect(outcome.kind == .committed && outcome.exitCode == 0)
        #expect(Self.userVisible(h.world.snapshot) == Self.planned)
        #expect(!h.world.snapshot.values.contains { $0.keys.contains { $0.contains("~shadow~") } })
        #expect(h.world.claims(of: "a").isEmpty && h.world.claims(of: "b").isEmpty)
        #expect(try h.store.load().resources.count == 2)
    }

    @Test(arguments: ["build:a/app", "verify:a/app", "swap:a/app", "build:b/app", "verify:b/app", "swap:b/app", "makeShadow:b/app"])
    func aFailureAtAnyStepRollsEverythingBackAndExits3(call: String) throws {
        let h = try Self.seeded()
        let before = h.world.snapshot
        let outcome = try h.apply(Self.plan, faults: [(.fail(.copyError), call)])
        #expect(outcome.kind == .rolledBack && outcome.exitCode == 3, "\(call): \(outcome)")
        #expect(outcome.failures.contains { $0.message.contains("injected failure at \(call)") }, "\(call)")
        #expect(h.world.snapshot == before, "\(call): the instances are as they were")
        #expect(h.world.claims(of: "a").isEmpty && h.world.claims(of: "b").isEmpty)
        #expect(try h.store.load().resources.isEmpty, "nothing was recorded")
    }

    /// An engine names a failed swap, or its preparation, a copy's (`CopyError`); an import's is
    /// told as the import's (fresh tester W7-5, the reviewer's L4); a copy's stays a copy's.
    @Test(arguments: ["prepareSwap:a/app", "swap:a/app", "prepareSwap:b/app", "swap:b/app"])
    func aFailedSwapOfAnImportIsAnImportError(call: String) throws {
        let h = try Self.seeded()
        let outcome = try h.apply(Self.plan, faults: [(.fail(.copyError), call)])
        #expect(outcome.kind == .rolledBack && outcome.exitCode == 3, "\(call): \(outcome)")
        let failure = try #require(outcome.failures.first { $0.message.contains("injected failure at \(call)") }, "\(call): \(outcome)")
        #expect(failure.code == (call.hasSuffix("a/app") ? .importError : .copyError), "\(call): \(failure)")
    }

    @Test func aRollbackThatCannotFinishExits4AndRecoverFinishesIt() throws {
        let h = try Self.seeded()
        let before = h.world.snapshot
        let outcome = try h.apply(Self.plan, faults: [(.fail(.copyError), "verify:b/app"), (.fail(.instanceNotFound), "undoSwap:a/app")])
        #expect(outcome.kind == .rollbackIncomplete && outcome.exitCode == 4, "\(outcome)")
        #expect(outcome.rollbackFailures.contains { $0.code == .instanceNotFound })
        #expect(h.world.snapshot != before)
        h.world.clearFaults()
        #expect(h.recover(Self.plan).isEmpty)
        #expect(h.world.snapshot == before, "recover restored what the rollback could not")
    }

    /// The undo of a copy's user sync fails: the copy's swap is not judged (nor undone) in that
    /// pass, since the sync's own grants in the target would read as writes made after the swap
    /// and leave it for good (fresh tester, issue 14); the run waits for `ferry recover`, which
    /// takes the sync back first, then restores the target.
    @Test func aSwapWhoseUserSyncCouldNotBeUndoneWaitsForRecover() throws {
        let h = try Self.seeded()
        let before = h.world.snapshot
        var copy = Fixture.copying("c", onExisting: .replace)
        copy.users = .sync
        let plan = Fixture.plan(imports: [Fixture.importing("late", into: "c", database: "late", after: [Address(.copy, "c")])], copies: [copy])
        let outcome = try h.apply(plan, faults: [(.fail(.copyError), "build:c/late"), (.fail(.instanceNotFound), "undoUserSync:b/")])
        #expect(outcome.kind == .rollbackIncomplete && outcome.exitCode == 4, "\(outcome)")
        #expect(outcome.rollbackFailures.contains { $0.message.contains("was not restored yet: the undo of the run's user sync failed first") },
                "\(outcome.rollbackFailures)")
        #expect(h.world.rows("b", "app") == ["old a"], "the copy's swap waits for the sync's undo")
        h.world.clearFaults()
        #expect(h.recover(plan).isEmpty)
        #expect(h.world.snapshot == before, "recover takes the sync back, then restores the target")
    }

    @Test func keepGoingKeepsTheIndependentResourcesThatSucceeded() throws {
        let h = try Self.seeded()
        h.world.set("a", "other", rows: ["old other"])
        let plan = Fixture.plan(imports: [Fixture.importing("seed", onExisting: .replace),
                                          Fixture.importing("other", database: "other", onExisting: .replace)])
        let outcome = try h.apply(plan, faults: [(.fail(.importError), "build:a/other")], keepGoing: true)
        #expect(outcome.exitCode == 3, "\(outcome)")
        #expect(h.world.rows("a", "app") == ["row from /tmp/app.sql"], "the import that succeeded is kept")
        #expect(h.world.rows("a", "other") == ["old other"], "the one that failed is rolled back")
        #expect(try h.store.load().resources.keys.sorted() == ["import.seed"])
    }

    @Test func aClaimTakenByAnotherRunAfterThePlanRefusesTheRunBeforeAnyChange() throws {
        let h = try Self.seeded()
        let before = h.world.snapshot
        let outcome = try h.apply(Self.plan, beforeRun: {
            h.world.claim("b", DatabaseClaim(database: "app", role: .importing, runID: "other-run",
                                             holder: "someone", host: "elsewhere", pid: 1))
        })
        #expect(outcome.kind == .refused && outcome.exitCode == 1, "\(outcome)")
        #expect(outcome.failures.contains { $0.code == .wrongStatus })
        #expect(h.world.snapshot == before)
        #expect(h.world.claims(of: "b").map(\.runID) == ["other-run"], "another run's claim is never released")
        #expect(h.world.claims(of: "a").isEmpty)
    }

    @Test func aCancelledRunStopsTheHangingStepRollsBackAndExits3() throws {
        let h = try Self.seeded()
        let before = h.world.snapshot
        let outcome = try h.apply(Self.plan, faults: [(.hang, "build:a/app")], cancelAfter: 0.2)
        #expect(outcome.kind == .rolledBack && outcome.interrupted && outcome.exitCode == 3, "\(outcome)")
        #expect(h.world.snapshot == before)
        #expect(!h.world.calls.contains("swap:b/app"), "no step starts after the cancel")
    }

    /// A step whose engine fails with its own error when the cancel cuts it off (MySQL: "Lost
    /// connection", 2013) is reported as interrupted, not as that error (a fresh tester saw
    /// `ImportError ... Lost connection` as the headline of a Ctrl-C).
    @Test func aStepCutOffByTheCancelIsInterruptedWhateverTheEngineSaid() throws {
        let h = try Self.seeded()
        let before = h.world.snapshot
        let outcome = try h.apply(Self.plan, faults: [(.hangThenFail(.importError), "build:a/app")], cancelAfter: 0.2)
        #expect(outcome.kind == .rolledBack && outcome.interrupted && outcome.exitCode == 3, "\(outcome)")
        #expect(!outcome.failures.contains { $0.code == .importError }, "\(outcome.failures)")
        #expect(h.world.snapshot == before)
    }

    /// Every engine call a successful run makes, failed in turn: the run ends committed (exactly as
    /// planned), rolled back (exactly as before), or with exit 4 that `recover` turns into "as
    /// before"; never anything else.
    @Test func aFailureAtEveryCallOfTheRunEndsAsPlannedOrAsBefore() throws {
        let baseline = try Self.seeded()
        let plannedAt = baseline.world.calls.count
        _ = try baseline.apply(Self.plan)
        let calls = Array(baseline.world.calls.dropFirst(plannedAt))
        var seen: Set<String> = []
        var outcomes: [Int32: Int] = [:]
        for call in calls where seen.insert(call).inserted {
            let h = try Self.seeded()
            let before = h.world.snapshot
            let outcome = try h.apply(Self.plan, faults: [(.fail(.instanceNotFound), call)])
            outcomes[outcome.exitCode, default: 0] += 1
            switch outcome.exitCode {
            case 0:
                #expect(Self.userVisible(h.world.snapshot) == Self.planned, "\(call): committed but not as planned")
            case 1, 3:
                #expect(h.world.snapshot == before, "\(call): exit \(outcome.exitCode) but not as before")
            case 4:
                h.world.clearFaults()
                #expect(h.recover(Self.plan).isEmpty, "\(call)")
                #expect(h.world.snapshot == before, "\(call): recover did not restore")
            default:
                Issue.record("\(call): exit \(outcome.exitCode)")
            }
        }
        #expect(seen.count >= 10, "the walk covered \(seen.sorted())")
        #expect(outcomes[3, default: 0] >= 6, "\(outcomes)")
    }
}
