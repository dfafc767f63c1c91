import Foundation

/// Plan-time refusals of names Ferry could not use on their instance, and of swaps under the
/// name of a database Ferry stays connected to (SPEC §3): both would otherwise pass the plan and
/// fail at apply (fresh tester round 9 F7; round 8 F12).
extension Planner {
    /// `InvalidParameter` for each database name of `address` (written or read) that its
    /// instance reported unusable (`InstanceFacts.unusableNames`), with the engine's reason.
    func unusableNameDiagnostics(_ address: Address) -> [Diagnostic] {
        let refs = DependencyGraph.writes(of: address, in: plan) + DependencyGraph.reads(of: address, in: plan)
        var result: [Diagnostic] = []
        for ref in refs {
            guard let names = facts.instances[ref.instance]?.unusableNames,
                  let reason = names.first(where: { $0.key.unicodeScalars.elementsEqual(ref.database.unicodeScalars) })?.value
            else { continue }
            result.append(Diagnostic(.invalidParameter, "\(ref.instance) cannot use a database named \"\(ref.database)\": \(reason)",
                                     at: location(of: ref, in: address), address: address.description,
                                     hint: "nothing was changed"))
        }
        return result
    }

    /// `OperationDenied.WrongStatus` for each database `change` would create (it does not exist
    /// on its instance) whose place holds a file of another database's that the new one would
    /// take for its own (`InstanceFacts.occupiedNames`: SQLite's stray `-journal`, `-wal`, `-shm`;
    /// fresh tester w26 H3: SQLite played another database's hot journal into the database the
    /// run created, after "Apply complete!"). The file is the user's: Ferry leaves it.
    /// A database that exists, written or read, is named there too when a file beside it is one
    /// the engine would apply to it that is not provably its own (SQLite: another database's
    /// `-wal` beside one in rollback-journal mode, a hot `-journal`; fresh tester w31 A6: Ferry's
    /// first open checkpointed the other database's WAL into the user's): refused before
    /// anything opens it, the file and the database left as they are.
    func occupiedNameDiagnostics(_ change: ResourceChange) -> [Diagnostic] {
        guard change.action != .noop, change.action != .forget else { return [] }
        var result: [Diagnostic] = []
        let writes = DependencyGraph.writes(of: change.address, in: plan)
        for ref in writes + DependencyGraph.reads(of: change.address, in: plan) {
            guard let instance = facts.instances[ref.instance],
                  let reason = instance.occupiedNames?.first(where: { $0.key.unicodeScalars.elementsEqual(ref.database.unicodeScalars) })?.value
            else { continue }
            if instance.database(ref.database) != nil {
                let role = writes.contains(ref) ? "" : "the source "
                result.append(Diagnostic(.wrongStatus, "\(reason); Ferry does not open \(role)\(ref) beside it",
                                         at: location(of: ref, in: change.address), address: change.address.description,
                                         hint: "that file is not Ferry's and is left as it is: move it away if it is another database's (a hot journal of the database's own, left by its crashed writer, is settled by opening the database once with its application or `sqlite3 FILE 'PRAGMA integrity_check'`); then plan again. Nothing was changed"))
                continue
            }
            guard writes.contains(ref) else { continue }
            result.append(Diagnostic(.wrongStatus, "\(ref) does not exist, but \(reason); Ferry does not create \(ref.database) beside it",
                                     at: location(of: ref, in: change.address), address: change.address.description,
                                     hint: "that file is not Ferry's and is left as it is: if it belongs to a database you moved or deleted, put that database back (SQLite settles it then), or move the file away; then plan again. Nothing was changed"))
        }
        return result
    }

    /// `InvalidParameter` for each database `change` would swap a new one in for (a `replace`
    /// or `append` of an existing target) that Ferry's own connection to an instance of this
    /// server stays in for the whole run (`InstanceFacts.connectionDatabase`): no run can
    /// rename a database it is connected to, so the swap would fail after the build.
    func connectionDatabaseDiagnostics(_ change: ResourceChange) -> [Diagnostic] {
        guard change.action != .noop, change.action != .forget else { return [] }
        var result: [Diagnostic] = []
        for ref in DependencyGraph.writes(of: change.address, in: plan) {
            guard let target = facts.instances[ref.instance],
                  change.movements.contains(where: { $0.to == ref.description && $0.targetExists }) || target.database(ref.database) != nil
            else { continue }
            // Every instance of the plan Ferry connects to on the same server (or this one alone
            // when the engine keeps no server identity).
            let held = facts.instances.values.filter { other in
                other.instance == target.instance || (target.serverIdentity != nil && other.serverIdentity == target.serverIdentity)
            }.sorted { $0.instance < $1.instance }
            if let state = options.stateDatabase, target.serverIdentity == state.server,
               state.database.unicodeScalars.elementsEqual(ref.database.unicodeScalars) {
                result.append(Diagnostic(.invalidParameter,
                                         "\(ref) cannot be replaced: it holds Ferry's state (\(state.location)), whose lock session stays connected to it for the whole run, and a database one is connected to cannot be renamed (ending that session would end the run's hold on the state)",
                                         at: location(of: ref, in: change.address), address: change.address.description,
                                         hint: "keep the state in a database of its own that no plan writes (\"state\": {\"url\": \".../ferry_state\"}), then plan again; nothing was changed"))
                continue
            }
            guard let holder = held.first(where: { $0.connectionDatabase.map { $0.unicodeScalars.elementsEqual(ref.database.unicodeScalars) } ?? false })
            else { continue }
            let whose = holder.instance == ref.instance ? "instance \(ref.instance)'s url" : "the url of instance \(holder.instance), on the same server"
            result.append(Diagnostic(.invalidParameter,
                                     "\(ref) cannot be replaced: it is the database named in \(whose), which Ferry stays connected to for the whole run, and a database one is connected to cannot be renamed, so the swap would fail after the build",
                                     at: location(of: ref, in: change.address), address: change.address.description,
                                     hint: "point \(holder.instance)'s url at another database of that server that no plan writes (one made for Ferry alone: CREATE DATABASE ferry_admin), then plan again; nothing was changed"))
        }
        return result
    }

    /// Where `ref` is named in the plan file for `address`.
    func location(of ref: DatabaseRef, in address: Address) -> SourceLocation? {
        switch address.kind {
        case .import:
            return plan.location(of: "imports.\(address.name).database") ?? plan.location(of: address)
        case .copy:
            let path = "copies.\(address.name)"
            let source = plan.copies[address.name]?.databases.first { $0.target == ref.database || $0.source == ref.database }?.source
            return source.flatMap { plan.location(of: "\(path).databases.\($0)") } ?? plan.location(of: "\(path).databases") ?? plan.location(of: address)
        case .backup:
            return plan.location(of: "backups.\(address.name).databases") ?? plan.location(of: address)
        }
    }
}
