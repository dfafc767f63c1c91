/// Decides which steps may start, with no I/O: dependencies first, at most `parallelism` at once,
/// and at most `maxConnections` steps touching one instance at once. On failure it stops starting
/// steps, or, with `keepGoing`, skips only what depends on the failed step.
public struct Scheduler: Sendable {
    public enum Status: Sendable, Equatable {
        case pending, running, done, failed, skipped
    }

    public let graph: ActionGraph
    public let parallelism: Int
    public let keepGoing: Bool
    /// Instances each step touches.
    let instancesOfStep: [Int: [String]]
    let limits: [String: Int]
    public private(set) var status: [Int: Status]
    private var running: [String: Int] = [:]
    private var runningCount = 0
    public private(set) var hasFailed = false

    public init(graph: ActionGraph, instancesOfStep: [Int: [String]], limits: [String: Int], parallelism: Int, keepGoing: Bool) {
        self.graph = graph
        self.instancesOfStep = instancesOfStep
        self.limits = limits
        self.parallelism = max(1, parallelism)
        self.keepGoing = keepGoing
        status = Dictionary(uniqueKeysWithValues: graph.actions.map { ($0.step, Status.pending) })
    }

    /// Steps that may start now, in step order; marks them running.
    public mutating func start() -> [Int] {
        if hasFailed && !keepGoing { return [] }
        var started: [Int] = []
        for action in graph.actions where status[action.step] == .pending {
            guard runningCount < parallelism else { break }
            guard action.dependsOn.allSatisfy({ status[$0] == .done }) else { continue }
            let instances = instancesOfStep[action.step] ?? []
            guard instances.allSatisfy({ running[$0, default: 0] < limits[$0, default: Int.max] }) else { continue }
            status[action.step] = .running
            runningCount += 1
            for instance in instances { running[instance, default: 0] += 1 }
            started.append(action.step)
        }
        return started
    }

    public mutating func finish(_ step: Int, succeeded: Bool) {
        guard status[step] == .running else { return }
        status[step] = succeeded ? .done : .failed
        runningCount -= 1
        for instance in instancesOfStep[step] ?? [] { running[instance, default: 1] -= 1 }
        if !succeeded {
            hasFailed = true
            if keepGoing { skipDependents(of: step) }
        }
    }

    mutating func skipDependents(of failed: Int) {
        for action in graph.actions where status[action.step] == .pending {
            if graph.ancestors(of: action.step).contains(failed) { status[action.step] = .skipped }
        }
    }

    /// True when nothing runs and nothing more will start.
    public var isFinished: Bool {
        guard runningCount == 0 else { return false }
        if hasFailed && !keepGoing { return true }
        return !status.values.contains(.pending) || !canEverStart
    }

    private var canEverStart: Bool {
        graph.actions.contains { action in
            status[action.step] == .pending && action.dependsOn.allSatisfy { status[$0] == .done || status[$0] == .pending || status[$0] == .running }
        }
    }

    public var runningSteps: [Int] { status.filter { $0.value == .running }.keys.sorted() }
}
