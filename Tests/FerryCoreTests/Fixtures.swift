import Foundation
@testable import FerryCore

/// Builders for plans, facts and state, so planner tests read as the situation they test.
enum Fixture {
    static func instance(_ name: String, engine: EngineKind = .sqlite, account: String? = nil,
                         storageLimit: Int64? = nil, protected: Bool = false, maxConnections: Int? = nil) -> InstanceSpec {
        InstanceSpec(name: name, engine: engine, path: "/tmp/ferry-fixture/\(name)", account: account,
                     storageLimit: storageLimit, maxConnections: maxConnections, isProtected: protected)
    }

    static func plan(instances: [String] = ["a", "b", "c"], imports: [ImportSpec] = [], copies: [CopySpec] = [],
                     backups: [BackupSpec] = []) -> Plan {
        var plan = Plan()
        for name in instances { plan.instances[name] = instance(name) }
        for spec in imports { plan.imports[spec.name] = spec }
        for spec in copies { plan.copies[spec.name] = spec }
        for spec in backups { plan.backups[spec.name] = spec }
        return plan
    }

    static func importing(_ name: String, into: String = "a", database: String = "app", from: String = "/tmp/app.sql",
                          onExisting: OnExisting = .fail, rerun: RerunPolicy = .onChange, after: [Address] = []) -> ImportSpec {
        ImportSpec(name: name, into: into, database: database, sources: [.file(from)], format: .sql,
                   onExisting: onExisting, rerun: rerun, after: after)
    }

    static func copying(_ name: String, from: String = "a", to: String = "b", _ databases: [(String, String)] = [("app", "app")],
                        onExisting: OnExisting = .fail, after: [Address] = []) -> CopySpec {
        CopySpec(name: name, from: from, to: to, databases: databases.map { DatabaseMapping(source: $0.0, target: $0.1) },
                 onExisting: onExisting, after: after)
    }

    /// Facts with every named instance reachable and holding the given databases (name: fingerprint).
    static func facts(_ databases: [String: [String: String]], instances: [String] = ["a", "b", "c"],
                      sources: [String: String] = ["/tmp/app.sql": "d1"]) -> Facts {
        var facts = Facts()
        for name in instances {
            var dbs: [String: DatabaseFacts] = [:]
            for (db, fingerprint) in databases[name] ?? [:] {
                dbs[db] = DatabaseFacts(name: db, sizeBytes: 1000, fingerprint: fingerprint)
            }
            facts.instances[name] = InstanceFacts(instance: name, engine: .sqlite, version: "3.40.1", databases: dbs, freeBytes: 1 << 40)
        }
        for (source, digest) in sources {
            facts.sources[source] = SourceFacts(source: source, sizeBytes: 500, digest: digest)
        }
        return facts
    }

    static func plan(_ plan: Plan, _ facts: Facts, state: State = State(), options: PlanOptions = PlanOptions(),
                     now: Date = Date(), engines: EngineRegistry = EngineRegistry([])) -> PlanResult {
        Planner(plan: plan, facts: facts, state: state, engines: engines, options: options, now: now).makePlan()
    }

    /// State as if `result` had been applied against `facts`, targets fingerprinted with `targetFingerprint`.
    static func state(after plan: Plan, _ facts: Facts, targetFingerprint: String = "new") -> State {
        let planner = Planner(plan: plan, facts: facts, state: State(), engines: EngineRegistry([]))
        var state = State()
        for spec in plan.imports.values {
            state.record(ResourceRecord(address: spec.address, definitionHash: planner.definitionHash(of: spec),
                                        settingsHash: StableHash.hex(of: spec),
                                        targets: [.init(instance: spec.into, database: spec.database, fingerprint: targetFingerprint)],
                                        sources: Dictionary(uniqueKeysWithValues: spec.sources.map { ($0.description, facts.sources[$0.description]?.digest ?? "") }),
                                        appliedAt: Date(), runID: "r1"))
        }
        for spec in plan.copies.values {
            state.record(ResourceRecord(address: spec.address, definitionHash: planner.definitionHash(of: spec),
                                        settingsHash: StableHash.hex(of: spec),
                                        targets: spec.databases.map { .init(instance: spec.to, database: $0.target, fingerprint: targetFingerprint) },
                                        sources: planner.sourceFingerprints(of: spec), appliedAt: Date(), runID: "r1"))
        }
        return state
    }
}

extension PlanResult {
    func change(_ address: String) -> ResourceChange? {
        changes.first { $0.address.description == address }
    }

    var codes: [ErrorCode] { diagnostics.filter { $0.severity == .error }.map(\.code) }
}

/// An engine that only declares what it can do (its capabilities): the planner reads nothing
/// else of an engine. Connecting to it is an error, so no test can lean on it for more.
struct DeclaredEngine: Engine {
    var kind: EngineKind
    var capabilities: EngineCapabilities
    var importFormats: Set<ImportFormat> { [.sql] }
    func problem(withDatabaseName name: String) -> String? { nil }
    func connect(_ target: ConnectionTarget) throws -> any EngineSession {
        throw FerryError(.internalError, "a declared engine has no sessions")
    }

    /// Copies into it leave work for a `finish` step (as MySQL's do); it syncs users.
    static func finishing(_ kind: EngineKind) -> DeclaredEngine {
        DeclaredEngine(kind: kind, capabilities: EngineCapabilities(syncsUsers: true, identifierLimit: .characters64, sameServerFastCopy: false,
                                                                    cheapFingerprints: true, finishesCopies: true))
    }

    /// Without users: `users: sync` gets `note` as a plan warning.
    static func withoutUsers(_ kind: EngineKind, note: String) -> DeclaredEngine {
        DeclaredEngine(kind: kind, capabilities: EngineCapabilities(syncsUsers: false, usersSyncNote: note, identifierLimit: nil,
                                                                    sameServerFastCopy: false, cheapFingerprints: false, finishesCopies: false))
    }
}
