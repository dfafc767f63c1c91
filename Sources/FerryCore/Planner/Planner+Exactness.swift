import Foundation

/// Plan-time refusals of changes that could not keep a database exact (SPEC §3, "Objects Ferry
/// cannot move exactly"): what refresh read into `DatabaseFacts.swapProblems` and
/// `copyProblems`, turned into errors on the change that would meet them.
extension Planner {
    /// An import that swaps out an existing target (`replace`, `append`) is refused when the
    /// target's swap would reach outside it; an `append` also when its snapshot of the target
    /// cannot be exact.
    func exactnessDiagnostics(_ spec: ImportSpec, _ change: ResourceChange) -> [Diagnostic] {
        guard change.action != .noop, change.movements.contains(where: \.targetExists),
              let existing = facts.instances[spec.into]?.database(spec.database) else { return [] }
        let at = plan.location(of: "imports.\(spec.name).onExisting") ?? plan.location(of: "imports.\(spec.name).database")
        var result = (existing.swapProblems ?? []).map {
            Diagnostic(.importError, "cannot swap a new \(spec.target) in: \($0)", at: at, address: spec.address.description,
                       hint: "drop or move that object yourself first, or import into another database")
        }
        if spec.onExisting == .append {
            result += (existing.copyProblems ?? []).map {
                Diagnostic(.importError, "cannot append to \(spec.target): its snapshot would leave out \($0)", at: at,
                           address: spec.address.description, hint: "use \"onExisting\": \"replace\" or import into another database")
            }
        }
        return result
    }

    /// A copy is refused when a source database holds what it cannot copy exactly (not for a
    /// copy from a backup set: the set holds what it holds) or an existing target's swap would
    /// reach outside it.
    func exactnessDiagnostics(_ spec: CopySpec, _ change: ResourceChange) -> [Diagnostic] {
        guard change.action != .noop else { return [] }
        let path = "copies.\(spec.name)"
        var result: [Diagnostic] = []
        for mapping in spec.databases {
            let at = plan.location(of: "\(path).databases.\(mapping.source)") ?? plan.location(of: "\(path).databases")
            if spec.at == nil && spec.backupSet == nil {
                for problem in facts.instances[spec.from]?.database(mapping.source)?.copyProblems ?? [] {
                    result.append(Diagnostic(.copyError, "cannot copy \(spec.from)/\(mapping.source) exactly: \(problem)", at: at,
                                             address: spec.address.description, hint: "Ferry refuses a copy that would leave objects out"))
                }
            }
            for problem in facts.instances[spec.to]?.database(mapping.target)?.swapProblems ?? [] {
                result.append(Diagnostic(.copyError, "cannot swap a new \(spec.to)/\(mapping.target) in: \(problem)", at: at,
                                         address: spec.address.description, hint: "drop or move that object yourself first, or copy into another database"))
            }
        }
        return result
    }
}
