/// Which databases each resource reads and writes, and the edges that follow (SPEC §2).
public struct DependencyGraph: Sendable {
    /// For each resource, the resources it runs after, with whether the edge carries data.
    public private(set) var upstream: [Address: [Address: Bool]] = [:]
    public let nodes: [Address]

    public init(plan: Plan) {
        nodes = plan.addresses
        var writers: [DatabaseRef: [Address]] = [:]
        for address in nodes {
            for ref in Self.writes(of: address, in: plan) { writers[ref, default: []].append(address) }
        }
        for address in nodes {
            var edges: [Address: Bool] = [:]
            for ref in Self.reads(of: address, in: plan) {
                for writer in writers[ref] ?? [] where writer != address { edges[writer] = true }
            }
            // A copy that reads backup sets runs after the backups of its source instance; in
            // order only: it restores the set its plan chose (`backup`, or the one `at` found
            // when planning), which a set those backups take in the run does not change (fresh
            // tester round 78, F3: a copy of a pinned set was rebuilt for "source changes
            // (backup.b2)", its `@SET` gone from the plan).
            if address.kind == .copy, let copy = plan.copies[address.name], copy.readsBackup {
                for backup in plan.backups.values where backup.of == copy.from && edges[backup.address] == nil {
                    edges[backup.address] = false
                }
            }
            for before in plan.after(address) where before != address && plan.contains(before) {
                if edges[before] == nil { edges[before] = false }
            }
            upstream[address] = edges
        }
    }

    /// The databases a resource writes.
    public static func writes(of address: Address, in plan: Plan) -> [DatabaseRef] {
        switch address.kind {
        case .import:
            guard let spec = plan.imports[address.name] else { return [] }
            return [spec.target]
        case .copy:
            guard let spec = plan.copies[address.name] else { return [] }
            return spec.databases.map { DatabaseRef(instance: spec.to, database: $0.target) }
        case .backup:
            return []
        }
    }

    /// The live databases a resource reads.
    public static func reads(of address: Address, in plan: Plan) -> [DatabaseRef] {
        switch address.kind {
        case .import:
            return []
        case .copy:
            guard let spec = plan.copies[address.name], !spec.readsBackup else { return [] }
            return spec.databases.map { DatabaseRef(instance: spec.from, database: $0.source) }
        case .backup:
            guard let spec = plan.backups[address.name] else { return [] }
            return spec.databases.map { DatabaseRef(instance: spec.of, database: $0) }
        }
    }

    public func dependencies(of address: Address) -> [Address] {
        (upstream[address] ?? [:]).keys.sorted()
    }

    /// Dependencies through which data flows (not plain `after`).
    public func dataDependencies(of address: Address) -> [Address] {
        (upstream[address] ?? [:]).filter(\.value).keys.sorted()
    }

    /// Every cycle as its members in order (strongly connected components of more than one node).
    public func cycles() -> [[Address]] {
        // Tarjan's algorithm, iterative over a sorted node list for stable output.
        var index = 0
        var indices: [Address: Int] = [:]
        var lowlink: [Address: Int] = [:]
        var onStack: Set<Address> = []
        var stack: [Address] = []
        var result: [[Address]] = []

        func strongConnect(_ root: Address) {
            var work: [(node: Address, next: Int)] = [(root, 0)]
            indices[root] = index; lowlink[root] = index; index += 1
            stack.append(root); onStack.insert(root)
            while let (node, next) = work.last {
                let successors = dependencies(of: node)
                if next < successors.count {
                    work[work.count - 1].next += 1
                    let successor = successors[next]
                    if indices[successor] == nil {
                        indices[successor] = index; lowlink[successor] = index; index += 1
                        stack.append(successor); onStack.insert(successor)
                        work.append((successor, 0))
                    } else if onStack.contains(successor) {
                        lowlink[node] = min(lowlink[node]!, indices[successor]!)
                    }
                } else {
                    work.removeLast()
                    if let parent = work.last?.node {
                        lowlink[parent] = min(lowlink[parent]!, lowlink[node]!)
                    }
                    if lowlink[node] == indices[node] {
                        var component: [Address] = []
                        while let top = stack.popLast() {
                            onStack.remove(top)
                            component.append(top)
                            if top == node { break }
                        }
                        if component.count > 1 { result.append(component.sorted()) }
                    }
                }
            }
        }
        for node in nodes where indices[node] == nil { strongConnect(node) }
        return result.sorted { $0[0] < $1[0] }
    }

    /// Addresses in an order where every resource comes after what it depends on (ties by address).
    /// Assumes no cycles; members of a cycle are appended at the end.
    public func topologicalOrder() -> [Address] {
        var remaining: [Address: Int] = [:]
        var downstream: [Address: [Address]] = [:]
        for node in nodes {
            let deps = dependencies(of: node)
            remaining[node] = deps.count
            for dep in deps { downstream[dep, default: []].append(node) }
        }
        var ready = Heap<Address>(nodes.filter { remaining[$0] == 0 })
        var order: [Address] = []
        order.reserveCapacity(nodes.count)
        while let next = ready.popMin() {
            order.append(next)
            for child in downstream[next] ?? [] {
                remaining[child]! -= 1
                if remaining[child] == 0 { ready.insert(child) }
            }
        }
        if order.count < nodes.count {
            let placed = Set(order)
            order += nodes.filter { !placed.contains($0) }
        }
        return order
    }

    /// The addresses plus everything that depends on them, transitively (`--exclude`).
    public func dependentsClosure(of excluded: [Address]) -> Set<Address> {
        var dependents: [Address: [Address]] = [:]
        for node in nodes {
            for dependency in dependencies(of: node) { dependents[dependency, default: []].append(node) }
        }
        var seen: Set<Address> = []
        var work = excluded
        while let next = work.popLast() {
            guard seen.insert(next).inserted else { continue }
            work += dependents[next] ?? []
        }
        return seen
    }

    /// The addresses plus everything they depend on, transitively (`--target`).
    public func closure(of targets: [Address]) -> Set<Address> {
        var seen: Set<Address> = []
        var work = targets
        while let next = work.popLast() {
            guard seen.insert(next).inserted else { continue }
            work += dependencies(of: next)
        }
        return seen
    }
}

extension Plan {
    public func contains(_ address: Address) -> Bool {
        switch address.kind {
        case .import: imports[address.name] != nil
        case .copy: copies[address.name] != nil
        case .backup: backups[address.name] != nil
        }
    }
}

/// A binary min-heap, for deterministic topological orders in O(n log n).
struct Heap<Element: Comparable> {
    private var items: [Element] = []

    init(_ elements: [Element]) {
        for element in elements { insert(element) }
    }

    var isEmpty: Bool { items.isEmpty }

    mutating func insert(_ element: Element) {
        items.append(element)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child] < items[parent] else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popMin() -> Element? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let min = items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < items.count && items[left] < items[smallest] { smallest = left }
            if right < items.count && items[right] < items[smallest] { smallest = right }
            if smallest == parent { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return min
    }
}
