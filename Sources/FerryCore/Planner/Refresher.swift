import Foundation

/// Tells the size and digest of an import source (implemented where hashing and networks live: FerryIO).
public protocol SourceInspector: Sendable {
    func facts(of source: ImportSource) throws -> SourceFacts?
}

/// Reads the instances' current facts through the engines (SPEC §1 refresh), one instance per
/// worker, and the import sources and backup sets from disk.
public struct Refresher: Sendable {
    public let engines: EngineRegistry
    public let inspector: any SourceInspector

    public init(engines: EngineRegistry, inspector: any SourceInspector) {
        self.engines = engines
        self.inspector = inspector
    }

    /// Refreshes every instance that `addresses` touch (all, when nil).
    /// `committed`: the fingerprints the state recorded for the databases it committed
    /// (`State.committedFingerprints`), handed to each engine's `describe`.
    public func refresh(_ plan: Plan, only addresses: Set<Address>? = nil, committed: [DatabaseRef: String] = [:]) -> Facts {
        let wanted = addresses ?? Set(plan.addresses)
        var instanceNames: Set<String> = []
        var sources: [ImportSource] = []
        for address in wanted {
            switch address.kind {
            case .import:
                if let spec = plan.imports[address.name] {
                    instanceNames.insert(spec.into)
                    sources += spec.sources
                }
            case .copy:
                if let spec = plan.copies[address.name] { instanceNames.formUnion([spec.from, spec.to]) }
            case .backup:
                if let spec = plan.backups[address.name] { instanceNames.insert(spec.of) }
            }
        }
        let names = instanceNames.filter { plan.instances[$0] != nil }.sorted()
        // Each job returns its failure as a value: nothing is thrown (so `map` cannot throw), and
        // every instance is tried. As many at once as cores, as before.
        let refresher = self
        let results = (try? WorkerPool.shared.map(names.count, width: ProcessInfo.processInfo.activeProcessorCount) { index -> Result<InstanceFacts, Diagnostic> in
            let spec = plan.instances[names[index]]!
            let mine = Dictionary(committed.filter { $0.key.instance == spec.name }.map { ($0.key.database, $0.value) }, uniquingKeysWith: { a, _ in a })
            return refresher.describe(spec, fingerprinting: plan.databases(on: spec.name), committed: mine)
        }) ?? []
        var facts = Facts()
        for (name, result) in zip(names, results) {
            switch result {
            case .success(let described): facts.instances[name] = described
            case .failure(let diagnostic): facts.unreachable[name] = diagnostic
            }
        }
        for source in Set(sources) {
            do {
                if let found = try inspector.facts(of: source) { facts.sources[source.description] = found }
            } catch {
                let why = (error as? FerryError)?.message ?? "\(error)"
                facts.sourceProblems = (facts.sourceProblems ?? [:]).merging([source.description: Redaction.redactURLs(in: why)]) { $1 }
            }
        }
        // A source the target's engine reads itself (another Redis server) is opened with the
        // import's credentials: a refusal is a plan-time error, not "cannot tell" (round 41, F9).
        // Only imports into a reachable instance; a source that cannot be reached stays a
        // "cannot tell" change, as a file that cannot be read does.
        var refusals: [String: Diagnostic] = [:]
        let fromURLs = wanted.filter { $0.kind == .import }.compactMap { plan.imports[$0.name] }
            .filter { spec in facts.instances[spec.into] != nil && spec.sources.contains { if case .url = $0 { true } else { false } } }
        // One session an instance, for all its imports.
        for (into, specs) in Dictionary(grouping: fromURLs, by: \.into).sorted(by: { $0.key < $1.key }) {
            guard let instance = plan.instances[into], let session = try? engines.connect(instance) else { continue }
            defer { session.close() }
            for spec in specs {
                for source in spec.sources {
                    do { try session.openImportSource(source) } catch let error as FerryError where error.code == .wrongPassword {
                        var diagnostic = FerryError.diagnostic(error)
                        diagnostic.message = Redaction.redactURLs(in: diagnostic.message)
                        refusals[spec.name] = diagnostic
                        break
                    } catch {
                        continue
                    }
                }
            }
        }
        if !refusals.isEmpty { facts.importSourceRefusals = refusals }
        // A backup's location is listed and checked for writing; one that fails is a problem the
        // planner reports (never "no backup set yet" over a wrong key).
        var problems: [String: Diagnostic] = [:]
        func read(_ backup: BackupSpec, checkingWrites: Bool) {
            do {
                let catalog = try BackupSetCatalog(location: backup.to)
                facts.backupSets[backup.name] = try catalog.sets(instance: backup.of)
                if checkingWrites { try catalog.store.checkUsable() }
            } catch {
                facts.backupSets[backup.name] = facts.backupSets[backup.name] ?? []
                var diagnostic = FerryError.diagnostic(error)
                diagnostic.address = backup.address.description
                diagnostic.location = plan.location(of: "backups.\(backup.name).to")
                problems[backup.name] = diagnostic
            }
        }
        for address in wanted where address.kind == .backup {
            if let spec = plan.backups[address.name] { read(spec, checkingWrites: true) }
        }
        // Copies from backups read the sets of every backup of their source instance.
        for address in wanted where address.kind == .copy {
            guard let copy = plan.copies[address.name], copy.readsBackup else { continue }
            for backup in plan.backups.values where backup.of == copy.from && facts.backupSets[backup.name] == nil {
                read(backup, checkingWrites: false)
            }
        }
        if !problems.isEmpty { facts.backupLocationProblems = problems }
        return facts
    }

    func describe(_ spec: InstanceSpec, fingerprinting: Set<String>, committed: [String: String] = [:]) -> Result<InstanceFacts, Diagnostic> {
        do {
            let session = try engines.connect(spec)
            defer { session.close() }
            return .success(try session.describe(fingerprinting: fingerprinting, committed: committed))
        } catch {
            var diagnostic = FerryError.diagnostic(error)
            diagnostic.instance = spec.name
            return .failure(diagnostic)
        }
    }
}

/// Backup sets of a backup's `to` (a directory or a storage URL), through `BackupSetCatalog`.
public enum BackupCatalog {
    /// The complete sets of `instance` at `location`, oldest first (see `BackupSetCatalog.sets`).
    /// A location that cannot be read lists no sets.
    public static func sets(in location: String, instance: String) -> [BackupSetManifest] {
        (try? BackupSetCatalog(location: location).sets(instance: instance)) ?? []
    }

    /// Set folders at `location` that are provably Ferry's (their id is in `knownIDs`: the
    /// state's record of the backup resource, or this run's new set) but are not complete sets:
    /// no manifest, or a manifest naming a missing file. What a killed prune or upload left; the
    /// next prune finishes them.
    public static func unfinishedSets(in location: String, knownIDs: Set<String>, databases: [String]) -> [String] {
        ((try? BackupSetCatalog(location: location).unfinishedSets(knownIDs: knownIDs, databases: databases)) ?? []).map { $0.id }
    }

    /// Removes one set, `<to>/<id>` as journaled: manifest first (made durable before any data
    /// file goes), so that at no moment is the set listed without every file it names. Idempotent.
    /// A set with a manifest loses only the files it names (and the manifest); anything else
    /// in its folder is someone else's and stays (round 35b, F7). One without a manifest (a set
    /// a run began and did not finish) loses every file.
    /// `files`: what the prune journaled as the set's own (`JournalRecord.setFiles`), used when
    /// the manifest is gone already (fresh tester round 36, F3: the second prune of a folder a
    /// user's file kept took everything). Returns the files left in the folder.
    /// What a journaled removal of a set did (`removeJournaledSet`).
    public struct SetRemoval: Sendable, Equatable {
        /// What is still in the set's folder afterwards (someone else's; `remainingNames`), sorted.
        public var left: [String] = []
        /// The set's local folder is a symbolic link now, not the folder Ferry made: nothing was
        /// removed through it (round 37b, F5: the clean-up stayed pending, `recover` said `Internal`).
        public var replacedByLink = false
        /// The set had no manifest and the journal named none of its files: nothing in its
        /// folder was proven the set's, and nothing was removed (fresh tester round 41, F8).
        public var unproven = false
    }

    /// Removes what a journal names of one set (a rollback of the run that began it: `files` from
    /// its `backupStarted`; a prune: `files` from its `pruneBegun`, with the manifest's names
    /// too while `trustingManifest`). A local set folder replaced by a symbolic link is left, and
    /// said so. `files` nil (a journal of an earlier release): as `removeSet(at:files:)`.
    public static func removeJournaledSet(at location: String, files: [String]?, trustingManifest: Bool, digest: FileDigest? = nil) throws -> SetRemoval {
        let (store, id) = try BackupStores.openSet(at: location)
        if !store.isRemote {
            var info = stat()
            if lstat(location, &info) == 0, info.st_mode & S_IFMT == S_IFLNK { return SetRemoval(replacedByLink: true) }
        }
        if files?.isEmpty == true, try store.manifest(of: id) == nil {
            return SetRemoval(left: (try? store.remainingNames(in: id)) ?? [], unproven: true)
        }
        if trustingManifest || files == nil { return SetRemoval(left: try removeSet(at: location, files: files, digest: digest)) }
        try store.removeSet(id, only: Set(files ?? []))
        return SetRemoval(left: (try? store.remainingNames(in: id)) ?? [])
    }

    /// A set's file whose size (any store), version tag (an object store's `ETag`, where the
    /// manifest recorded one) or SHA-256 (a local folder, with `digest`) is no longer what its
    /// manifest recorded is not the file the set wrote: someone put their own
    /// there under its name, and it stays (fresh tester round 38b, F4: a user's file at `0.rdb`
    /// of an old set went with the prune).
    @discardableResult
    public static func removeSet(at location: String, files: [String]? = nil, digest: FileDigest? = nil) throws -> [String] {
        let (store, id) = try BackupStores.openSet(at: location)
        var own: Set<String>? = files.map(Set.init)
        if let data = try store.manifest(of: id) {
            guard let manifest = try? JSONDecoder.ferry.decode(BackupSetManifest.self, from: data) else {
                throw FerryError(.wrongStatus, "backup set \(id) in \(store.displayName) has a manifest Ferry cannot read; it is left as it is",
                                 hint: "check the set's folder, and remove it yourself if it is no longer wanted")
            }
            let present = try store.files(in: id)
            let versions = manifest.entries.contains { $0.etag != nil } ? try store.fileVersions(in: id) : [:]
            var changed: Set<String> = []
            for entry in manifest.entries {
                guard let size = present[entry.file] else { continue }
                if size != entry.sizeBytes {
                    changed.insert(entry.file)
                } else if let etag = entry.etag, versions[entry.file] != etag {
                    // Written again since the set was taken (an object store's ETag).
                    changed.insert(entry.file)
                } else if !store.isRemote, let sha256 = entry.sha256, let digest,
                          ((try? digest(try store.fetch(entry.file, in: id, to: ""))) ?? "") != sha256 {
                    // One that cannot be read is not proved the set's either.
                    changed.insert(entry.file)
                }
            }
            own = Set(manifest.entries.map(\.file)).union(files ?? []).subtracting(changed)
        }
        try store.removeSet(id, only: own)
        return (try? store.remainingNames(in: id)) ?? []
    }
}
