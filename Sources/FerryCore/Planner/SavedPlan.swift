import Foundation

/// A plan saved with `ferry plan --out FILE`: what was reviewed, and the facts it was built on, so
/// that `ferry apply FILE` can refuse it when anything changed (SPEC §4). It holds no secret: the
/// plan files are read again at apply time (and must hash the same).
public struct SavedPlan: Codable, Sendable {
    public var formatVersion: String = PlanDocument.currentFormatVersion
    public var ferryVersion: String
    public var createdAt: Date
    /// The plan path as an absolute path, and the project root.
    public var planPath: String
    public var root: String
    public var definitionDigest: String
    public var stateLineage: String
    public var stateSerial: Int
    public var options: PlanOptions
    public var facts: Facts
    public var document: PlanDocument

    public init(ferryVersion: String, createdAt: Date, planPath: String, plan: Plan, state: State,
                options: PlanOptions, facts: Facts, document: PlanDocument) {
        self.ferryVersion = ferryVersion
        self.createdAt = createdAt
        self.planPath = planPath
        self.root = plan.root
        self.definitionDigest = SavedPlan.digest(of: plan)
        self.stateLineage = state.lineage
        self.stateSerial = state.serial
        self.options = options
        self.facts = facts
        self.document = document
    }

    /// The plan path this saved plan was made from, in the working copy at `currentRoot`: the
    /// same path relative to the root when it exists there (a plan saved by a CI job in another
    /// checkout, an artifact), else the path as saved.
    public func planPath(inRoot currentRoot: String) -> String {
        let savedRoot = root.hasSuffix("/") ? root : root + "/"
        guard planPath.hasPrefix(savedRoot) || planPath == root else { return planPath }
        let rest = planPath == root ? "" : String(planPath.dropFirst(savedRoot.count))
        let here = rest.isEmpty ? currentRoot : (currentRoot.hasSuffix("/") ? currentRoot : currentRoot + "/") + rest
        return FileManager.default.fileExists(atPath: here) ? here : planPath
    }

    /// A digest of every definition in the plan (URLs redacted first: this is written to disk).
    /// Paths inside the project root count relative to it (`./plans/data/seed.sql`), so that a
    /// plan saved in one working copy applies in another at another path (a CI runner's).
    public static func digest(of plan: Plan) -> String {
        digest(of: plan, relative: true)
    }

    /// The digest as saved plans written before paths counted relative to the root have it.
    static func absoluteDigest(of plan: Plan) -> String {
        digest(of: plan, relative: false)
    }

    static func digest(of plan: Plan, relative: Bool) -> String {
        let root = plan.root.hasSuffix("/") ? plan.root : plan.root + "/"
        func shown(_ path: String) -> String {
            relative && path.hasPrefix(root) ? "./" + path.dropFirst(root.count) : path
        }
        func shown(_ secret: SecretRef?) -> SecretRef? {
            if case .file(let path) = secret { return .file(shown(path)) }
            return secret
        }
        let instances = plan.instances.mapValues { spec -> InstanceSpec in
            var redacted = spec
            redacted.url = spec.url.map(Redaction.redactURL)
            redacted.path = spec.path.map(shown)
            redacted.password = shown(spec.password)
            return redacted
        }
        // Source URLs too: a rotated token is not a change of what was reviewed, and no hash of
        // a secret is written to disk.
        let imports = plan.imports.mapValues { spec -> ImportSpec in
            var redacted = spec
            redacted.sources = spec.sources.map { source in
                if case .url(let url) = source { return .url(Redaction.redactURL(url)) }
                if case .file(let path) = source { return .file(shown(path)) }
                return source
            }
            return redacted
        }
        let backups = plan.backups.mapValues { spec -> BackupSpec in
            var shownSpec = spec
            shownSpec.to = shown(spec.to)
            return shownSpec
        }
        let parts: [String] = [
            StableHash.hex(of: instances), StableHash.hex(of: imports),
            StableHash.hex(of: plan.copies), StableHash.hex(of: backups),
        ]
        return StableHash.hex(parts.joined(separator: ":"))
    }

    /// Why the saved plan no longer holds, or an empty list when it does (`PlanStale` otherwise).
    public func staleness(plan: Plan, state: State, facts current: Facts) -> [String] {
        var reasons: [String] = []
        if SavedPlan.digest(of: plan) != definitionDigest && SavedPlan.absoluteDigest(of: plan) != definitionDigest {
            reasons.append("the plan files changed")
        }
        if state.lineage != stateLineage {
            reasons.append(stateLineage.isEmpty ? "a state was written since the plan was saved (none existed then)"
                           : state.lineage.isEmpty ? "the state the plan was saved against is gone"
                           : "the state belongs to another lineage")
        }
        if state.serial != stateSerial { reasons.append("the state changed (serial \(stateSerial) → \(state.serial))") }
        // Only databases the plan reads or writes count: another database appearing on a shared
        // instance (another team's, a test's) does not make a reviewed plan stale; what the plan
        // would now do differently shows in its action graph, compared too.
        var touched = Set<DatabaseRef>(), wholeInstances = Set<String>()
        for spec in plan.imports.values { touched.insert(DatabaseRef(instance: spec.into, database: spec.database)) }
        for spec in plan.copies.values {
            for mapping in spec.databases {
                touched.insert(DatabaseRef(instance: spec.from, database: mapping.source))
                touched.insert(DatabaseRef(instance: spec.to, database: mapping.target))
            }
        }
        for spec in plan.backups.values {
            if spec.databases.isEmpty { wholeInstances.insert(spec.of) }
            for db in spec.databases { touched.insert(DatabaseRef(instance: spec.of, database: db)) }
        }
        func counts(_ instance: String, _ db: String) -> Bool {
            wholeInstances.contains(instance) || touched.contains(DatabaseRef(instance: instance, database: db))
        }
        for (name, saved) in facts.instances.sorted(by: { $0.key < $1.key }) {
            guard let now = current.instances[name] else {
                reasons.append("instance \(name) cannot be reached now")
                continue
            }
            for (db, was) in saved.databases.sorted(by: { $0.key < $1.key }) where counts(name, db) {
                guard let isNow = now.database(db) else { reasons.append("\(name)/\(db) disappeared"); continue }
                if isNow.fingerprint != was.fingerprint { reasons.append("\(name)/\(db) changed") }
                // With an exact fingerprint on both sides the content is proven the same; its
                // size may still move with the engine's housekeeping (PostgreSQL's autovacuum made
                // a target's free space map after a CI plan: a spurious PlanStale).
                else if !(was.isFingerprintExact && isNow.isFingerprintExact), isNow.sizeBytes != was.sizeBytes {
                    reasons.append("\(name)/\(db) changed size")
                }
            }
            for db in now.databases.keys.sorted() where saved.database(db) == nil && counts(name, db) {
                reasons.append("\(name)/\(db) appeared")
            }
        }
        for name in facts.unreachable.keys.sorted() where current.instances[name] != nil {
            reasons.append("instance \(name) is reachable now")
        }
        // A local file saved by a working copy elsewhere is the same file of this one.
        let savedRoot = root.hasSuffix("/") ? root : root + "/"
        for (source, was) in facts.sources.sorted(by: { $0.key < $1.key }) {
            let here = source.hasPrefix(savedRoot) ? (plan.root.hasSuffix("/") ? plan.root : plan.root + "/") + source.dropFirst(savedRoot.count) : source
            var now = current.sources[here]
            now?.source = source
            if now != was { reasons.append("source \(DisplayPath.relative(here)) changed") }
        }
        for (name, sets) in facts.backupSets.sorted(by: { $0.key < $1.key }) where (current.backupSets[name] ?? []).map(\.id) != sets.map(\.id) {
            reasons.append("backup sets of backup.\(name) changed")
        }
        return reasons
    }
}
