import Foundation

/// One thing that changed outside Ferry since the state recorded it (`ferry plan
/// --refresh-only`, SPEC §11): a database a resource wrote that changed or vanished, a source it
/// read that changed or vanished, a backup set it took that is gone.
public struct DriftFinding: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case targetChanged, targetVanished, sourceChanged, sourceVanished, backupSetVanished
    }
    public var address: Address
    public var kind: Kind
    /// What drifted: `instance/database`, an import source as written (redacted), or a backup
    /// set id.
    public var subject: String
    /// One sentence, e.g. "changed outside Ferry (fingerprint 1a2b3c4d → 9f8e7d6c)".
    public var detail: String

    public init(address: Address, kind: Kind, subject: String, detail: String) {
        self.address = address
        self.kind = kind
        self.subject = subject
        self.detail = detail
    }
}

/// The outcome of a drift check: the findings, how many state records were compared, and the
/// records that could not be (an instance that does not answer).
public struct DriftReport: Sendable, Codable, Equatable {
    public static let formatVersion = 1
    public var formatVersion = DriftReport.formatVersion
    public var findings: [DriftFinding]
    public var checked: [Address]
    public var unchecked: [String: String]
    /// Warnings every plan of these instances carries (`KeptTargets.notes`: kept targets and what
    /// `ferry recover --discard-later-writes` left under a shadow's name), SPEC §6: a drift
    /// check is a plan too. Empty when there are none; absent in reports of earlier releases.
    public var warnings: [Diagnostic]

    public init(findings: [DriftFinding], checked: [Address], unchecked: [String: String], warnings: [Diagnostic] = []) {
        self.findings = findings
        self.checked = checked
        self.unchecked = unchecked
        self.warnings = warnings
    }

    enum CodingKeys: String, CodingKey { case formatVersion, findings, checked, unchecked, warnings }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        formatVersion = try c.decode(Int.self, forKey: .formatVersion)
        findings = try c.decode([DriftFinding].self, forKey: .findings)
        checked = try c.decode([Address].self, forKey: .checked)
        unchecked = try c.decode([String: String].self, forKey: .unchecked)
        warnings = try c.decodeIfPresent([Diagnostic].self, forKey: .warnings) ?? []
    }
}

extension Planner {
    /// Compares every state record that the options select with the refreshed facts, without
    /// proposing anything. A fingerprint that differs is drift even where it is not exact (a
    /// false "changed" is acceptable to a drift check; a missed change is not); a record whose
    /// instance was not described (unreachable) is listed in `unchecked`, never as "as before".
    /// A source or instance that refresh did not read (not in the plan any more) is not compared.
    public func drift() -> DriftReport {
        let selected = options.selection(in: plan)
        var findings: [DriftFinding] = []
        var checked: [Address] = []
        var unchecked: [String: String] = [:]
        for (_, record) in state.resources.sorted(by: { $0.key < $1.key }) {
            let address = record.address
            if let selected, plan.contains(address), !selected.contains(address) { continue }
            if options.excludes.contains(address) { continue }
            var reachable = true
            func instance(_ name: String) -> InstanceFacts? {
                if let problem = facts.unreachable[name] {
                    reachable = false
                    unchecked[address.description] = "instance \(name) cannot be read: \(problem.message)"
                }
                return facts.instances[name]
            }
            for target in record.targets {
                guard let facts = instance(target.instance) else { continue }
                guard let now = facts.database(target.database) else {
                    findings.append(DriftFinding(address: address, kind: .targetVanished, subject: target.ref.description,
                                                 detail: "no longer exists"))
                    continue
                }
                if let recorded = target.fingerprint, recorded != now.fingerprint, let why = now.unreadable {
                    // Read by an account that may not see all of it (fresh tester round 35, F15).
                    findings.append(DriftFinding(address: address, kind: .targetChanged, subject: target.ref.description,
                                                 detail: "may have changed outside Ferry (fingerprint \(Self.short(recorded)) → \(Self.short(now.fingerprint)); \(why))"))
                } else if let recorded = target.fingerprint, recorded != now.fingerprint {
                    let exact = now.isFingerprintExact ? "" : "; the fingerprint is not exact, so it may be unchanged"
                    findings.append(DriftFinding(address: address, kind: .targetChanged, subject: target.ref.description,
                                                 detail: "changed outside Ferry (fingerprint \(Self.short(recorded)) → \(Self.short(now.fingerprint))\(exact))"))
                }
            }
            switch address.kind {
            case .import:
                for (source, digest) in record.sources.sorted(by: { $0.key < $1.key }) {
                    // Keyed by the state key (a local file relative to its plan file), or, in an
                    // older state, by the absolute path.
                    guard let planned = plan.imports[address.name]?.sources.first(where: {
                        $0.description == source || plan.stateKey(of: $0, inImport: address.name) == source
                    }) else { continue }
                    let shown = Redaction.redactURL(planned.displayName)
                    // Refresh reads every source of a selected import; one it could not read is gone
                    // (or unreadable now). A source whose digest cannot be told is not compared.
                    guard let now = facts.sources[planned.description] else {
                        findings.append(DriftFinding(address: address, kind: .sourceVanished, subject: shown,
                                                     detail: "cannot be read now"))
                        continue
                    }
                    guard let nowDigest = now.digest else { continue }
                    if !SourceFacts.sameDigest(recorded: digest, now: nowDigest) {
                        findings.append(DriftFinding(address: address, kind: .sourceChanged, subject: shown,
                                                     detail: "changed since it was imported"))
                    }
                }
            case .copy:
                for (source, fingerprint) in record.sources.sorted(by: { $0.key < $1.key }) {
                    // Copies from a backup set record `SET:fingerprint`: a set does not change. Told
                    // by the plan (or, for a copy no longer in it, by the set id's shape), never by a
                    // `:` alone, which SQLite's fingerprints (`sqlite1:...`) hold too: a fresh tester's
                    // changed SQLite source was reported as no drift.
                    let fromSet = plan.copies[address.name]?.readsBackup
                        ?? (fingerprint.range(of: #"^\d{8}T\d{6,9}Z-[0-9A-Za-z]+:"#, options: .regularExpression) != nil)
                    guard let slash = source.firstIndex(of: "/"), !fromSet else { continue }
                    let name = String(source[..<slash]), database = String(source[source.index(after: slash)...])
                    guard let facts = instance(name) else { continue }
                    guard let now = facts.database(database) else {
                        if !isWrittenInPlan(DatabaseRef(instance: name, database: database)) {
                            findings.append(DriftFinding(address: address, kind: .sourceVanished, subject: source, detail: "no longer exists"))
                        }
                        continue
                    }
                    if !fingerprint.isEmpty && now.fingerprint != fingerprint {
                        findings.append(DriftFinding(address: address, kind: .sourceChanged, subject: source,
                                                     detail: "changed since it was copied (fingerprint \(Self.short(fingerprint)) → \(Self.short(now.fingerprint)))"))
                    }
                }
            case .backup:
                if let newest = record.backupSets.last, let sets = facts.backupSets[address.name],
                   !sets.contains(where: { $0.id == newest }) {
                    findings.append(DriftFinding(address: address, kind: .backupSetVanished, subject: newest,
                                                 detail: "the newest backup set this resource took is gone from its directory"))
                }
            }
            if reachable { checked.append(address) }
        }
        return DriftReport(findings: findings, checked: checked, unchecked: unchecked)
    }

    static func short(_ fingerprint: String) -> String {
        fingerprint.count > 20 ? String(fingerprint.prefix(20)) + "…" : (fingerprint.isEmpty ? "none" : fingerprint)
    }
}
