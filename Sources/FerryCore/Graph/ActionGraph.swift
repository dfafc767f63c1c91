/// The kinds of step a change expands into.
public enum ActionKind: String, Sendable, Codable, CaseIterable {
    /// Clone the existing target into the shadow (an `append` import starts from it).
    case snapshot
    /// Create the shadow and fill it (import or copy).
    case build
    /// Finish the shadow once its rows are in (MySQL: secondary keys), between build and swap;
    /// it may run while the verify does. Only for engines whose copies leave such work.
    case finish
    /// Compare the shadow with its source.
    case verify
    /// Swap the shadow in; the original becomes the checkpoint.
    case swap
    /// Bring users and privileges.
    case users
    /// Take a backup set.
    case backup
    /// Remove backup sets beyond `keep`, or record new settings: no data moves.
    case record
    /// Drop a resource from state.
    case forget
}

/// One step of the action graph.
public struct Action: Sendable, Codable, Hashable {
    /// 1-based position in execution order.
    public var step: Int
    public var kind: ActionKind
    public var address: Address
    /// The target instance and database, where the step has one.
    public var instance: String?
    public var database: String?
    /// Where data comes from, for build steps: `prod/app`, a file, a backup set.
    public var source: String?
    public var bytes: Int64?
    /// Steps that must finish first.
    public var dependsOn: [Int]
    /// A swap whose target exists: the original is kept as a checkpoint.
    public var takesCheckpoint: Bool

    /// `instance/database` or the address.
    public var subject: String {
        if let instance, let database { return "\(instance)/\(database)" }
        return instance ?? address.description
    }

    /// A verify step of a copy whose `verify` is `none` is kept in the graph (it still checks
    /// what Ferry itself must: a backup set's file is unchanged, a Redis shadow holds only
    /// Ferry's writes), but compares nothing with the source: it reads, and prints, as skipped,
    /// never as a verify that passed (fresh tester w12 F13). Its `source` says so.
    public static let verifyNone = "verify: none"
    public static let skippedVerifyNote = ": skipped (verify: none)"
    public var isSkippedVerify: Bool { kind == .verify && source == Self.verifyNone }

    /// A one-line description for text and graphs.
    public var summary: String {
        switch kind {
        case .snapshot: "snapshot \(subject)"
        case .build: "build \(subject)" + (source.map { " from \($0)" } ?? "")
        case .finish: "finish \(subject)"
        case .verify: "verify \(subject)" + (isSkippedVerify ? Self.skippedVerifyNote : "")
        case .swap: "swap in \(subject)"
        case .users: "sync users to \(subject)"
        case .backup: "back up \(subject)" + (source.map { " to \($0)" } ?? "")
        case .record: "record \(address)"
        case .forget: "forget \(address)"
        }
    }
}

/// The ordered DAG of actions a plan carries out (SPEC §5).
public struct ActionGraph: Sendable, Codable, Hashable {
    public var actions: [Action]

    public init(actions: [Action]) { self.actions = actions }

    public var checkpointCount: Int { actions.filter(\.takesCheckpoint).count }

    /// Whether `other` has the same steps, in the same order, on the same things, leaving out the
    /// estimated `bytes` of each: a size that moved between a saved plan and its apply (a
    /// PostgreSQL database's files grow under autovacuum) is housekeeping, as
    /// `SavedPlan.staleness` says of sizes under an equal fingerprint; what the data is, is
    /// checked there (a fresh-clone run's `PlanStale: the action graph would differ`).
    public func hasTheSameSteps(as other: ActionGraph) -> Bool {
        func sizeless(_ graph: ActionGraph) -> [Action] { graph.actions.map { var a = $0; a.bytes = nil; return a } }
        return sizeless(self) == sizeless(other)
    }

    /// Expands changes (already in resource dependency order) into actions, numbered in execution
    /// order. A copy into an instance whose engine `finishesCopies` (from `engines`; none without
    /// a registry) gets a `finish` step after its build; its swap waits for both finish and verify.
    public static func expand(_ changes: [ResourceChange], plan: Plan, engines: EngineRegistry? = nil) -> ActionGraph {
        var actions: [Action] = []
        var lastSteps: [Address: [Int]] = [:]
        func add(_ kind: ActionKind, _ change: ResourceChange, instance: String?, database: String?,
                 source: String? = nil, bytes: Int64? = nil, after: [Int], checkpoint: Bool = false) -> Int {
            let step = actions.count + 1
            actions.append(Action(step: step, kind: kind, address: change.address, instance: instance, database: database,
                                  source: source, bytes: bytes, dependsOn: after.sorted(), takesCheckpoint: checkpoint))
            return step
        }
        for change in changes {
            let upstream = change.dependsOn.flatMap { lastSteps[$0] ?? [] }
            var finals: [Int] = []
            switch change.action {
            case .noop:
                continue
            case .forget:
                finals.append(add(.forget, change, instance: nil, database: nil, after: upstream))
            case .create, .replace, .update:
                if change.address.kind == .backup {
                    guard let spec = plan.backups[change.address.name] else { continue }
                    if change.movements.isEmpty {
                        finals.append(add(.record, change, instance: spec.of, database: nil, after: upstream))
                    } else {
                        finals.append(add(.backup, change, instance: spec.of, database: spec.databases.joined(separator: ","),
                                          source: DisplayPath.location(spec.to), bytes: change.bytes, after: upstream))
                    }
                } else if change.movements.isEmpty {
                    finals.append(add(.record, change, instance: nil, database: nil, after: upstream))
                } else {
                    let isAppend = change.address.kind == .import && plan.imports[change.address.name]?.onExisting == .append
                    for movement in change.movements {
                        let (instance, database) = split(movement.to)
                        var previous = upstream
                        if isAppend && movement.targetExists {
                            previous = [add(.snapshot, change, instance: instance, database: database, after: previous)]
                        }
                        let build = add(.build, change, instance: instance, database: database, source: movement.from,
                                        bytes: movement.bytes, after: previous)
                        var beforeSwap = [build]
                        if change.address.kind == .copy, plan.copies[change.address.name]?.readsBackup == false,
                           let kind = plan.instances[instance]?.engine, engines?.capabilities(of: kind).finishesCopies == true {
                            beforeSwap.append(add(.finish, change, instance: instance, database: database, after: [build]))
                        }
                        let verifiesNothing = change.address.kind == .copy && plan.copies[change.address.name]?.verify == VerifyLevel.none
                        beforeSwap[0] = add(.verify, change, instance: instance, database: database,
                                            source: verifiesNothing ? Action.verifyNone : nil, after: [build])
                        let keepsEmpty = plan.instances[instance].map { engines?.capabilities(of: $0.engine).keepsCheckpointOfEmptyTarget == true } ?? false
                        finals.append(add(.swap, change, instance: instance, database: database, after: beforeSwap,
                                          checkpoint: movement.targetExists || keepsEmpty))
                    }
                    if change.address.kind == .copy, let spec = plan.copies[change.address.name], spec.users == .sync {
                        finals = [add(.users, change, instance: spec.to, database: nil, after: finals)]
                    }
                }
            }
            lastSteps[change.address] = finals
        }
        return ActionGraph(actions: actions).renumberedInExecutionOrder()
    }

    static func split(_ ref: String) -> (String, String) {
        guard let slash = ref.firstIndex(of: "/") else { return (ref, "") }
        return (String(ref[..<slash]), String(ref[ref.index(after: slash)...]))
    }

    /// Renumbers steps so that every step follows its dependencies, keeping earlier-declared
    /// steps first among those ready at the same time.
    func renumberedInExecutionOrder() -> ActionGraph {
        var remaining = actions.map(\.dependsOn.count)
        var downstream = [[Int]](repeating: [], count: actions.count + 1)
        for action in actions { for dep in action.dependsOn { downstream[dep].append(action.step) } }
        var ready = Heap<Int>(actions.filter(\.dependsOn.isEmpty).map(\.step))
        var order: [Int] = []
        while let next = ready.popMin() {
            order.append(next)
            for child in downstream[next] {
                remaining[child - 1] -= 1
                if remaining[child - 1] == 0 { ready.insert(child) }
            }
        }
        var newNumber = [Int](repeating: 0, count: actions.count + 1)
        for (index, old) in order.enumerated() { newNumber[old] = index + 1 }
        let renumbered = order.map { old -> Action in
            var action = actions[old - 1]
            action.step = newNumber[old]
            action.dependsOn = action.dependsOn.map { newNumber[$0] }.sorted()
            return action
        }
        return ActionGraph(actions: renumbered)
    }

    /// Steps a step depends on, transitively.
    public func ancestors(of step: Int) -> Set<Int> {
        var seen: Set<Int> = []
        var work = actions[step - 1].dependsOn
        while let next = work.popLast() {
            if seen.insert(next).inserted { work += actions[next - 1].dependsOn }
        }
        return seen
    }
}
