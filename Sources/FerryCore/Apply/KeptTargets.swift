import Foundation

/// Targets that a rollback left as they are because an application wrote into them after their
/// swap (journal `kept`, SPEC §6 "Writes during a run"): the target holds the run's data and
/// those writes, its checkpoint holds what it held before. Ferry never drops or restores that
/// checkpoint, so until the user settles them (compares, keeps what they need, drops the
/// checkpoint by hand) every plan names them; and what `ferry recover --discard-later-writes`
/// left under a shadow's name (journal `leftForUser`), while it is there.
public enum KeptTargets {
    /// One warning per kept target on an instance of `instances` whose checkpoint is still there,
    /// newest run first. An instance that cannot be reached is skipped (the plan reports it).
    /// `unreachable`: instances the refresh could not reach (not connected to again).
    ///
    /// Reads only the journals of runs not settled for kept targets
    /// (`RunJournalStore.isSettledForKeptTargets`): a run whose kept checkpoints and
    /// `leftForUser` databases were all found gone is marked settled here, so a plan reads the
    /// few runs that still left something, not the whole history (2,000 runs: every journal
    /// read on every plan, seconds).
    public static func notes(backend: any StateBackend, engines: EngineRegistry, instances: [String: InstanceSpec],
                             unreachable: Set<String> = []) -> [Diagnostic] {
        var notes: [Diagnostic] = []
        var sessions: [String: any EngineSession] = [:]
        defer { sessions.values.forEach { $0.close() } }
        let journals = backend.journals
        var replays: [String: RunReplay] = [:]
        // Every run id, read only when a kept target is still there (to find a later run).
        var allIDs: [String]?
        func everyRun() -> [String] {
            if allIDs == nil { allIDs = journals.runIDs() }
            return allIDs ?? []
        }
        func replayOf(_ id: String) -> RunReplay? {
            if let known = replays[id] { return known }
            let read = try? backend.replay(id)
            replays[id] = read
            return read
        }
        func session(_ instance: String, _ spec: InstanceSpec) -> (any EngineSession)? {
            if sessions[instance] == nil { sessions[instance] = try? engines.connect(spec) }
            return sessions[instance]
        }
        // The plan's name and a session for what a run left on `journaled` while `isThere` finds
        // it; nil otherwise. `pending` stays false only when it was proven gone: checked on a
        // session that sees `target` itself (a login that may not see the checkpoint would
        // otherwise settle the run for good).
        func stillThere(_ journaled: String, target: String, in replay: RunReplay, pending: inout Bool,
                        _ isThere: (any EngineSession) throws -> Bool) -> (instance: String, session: any EngineSession)? {
            guard let instance = planName(of: journaled, in: replay, among: instances),
                  let spec = instances[instance], !unreachable.contains(instance),
                  let session = session(instance, spec), let there = try? isThere(session) else {
                pending = true
                return nil
            }
            guard there else {
                if (try? session.databaseExists(target)) != true { pending = true }
                return nil
            }
            pending = true
            return (instance, session)
        }
        for id in journals.runIDsNotSettledForKeptTargets() {
            guard let replay = replayOf(id) else { continue }
            // Whether something the run left may still be there (or could not be checked).
            var pending = false
            let abandonedHere = Set(replay.abandonedSwaps.map(\.seq))
            for record in replay.keptSwaps + replay.abandonedSwaps {
                guard let journaled = record.instance, let swap = record.swap, let checkpoint = swap.checkpoint,
                      let (instance, session) = stillThere(journaled, target: swap.database, in: replay, pending: &pending,
                                                           { try $0.checkpointIsThere(swap) }) else { continue }
                // What the target holds now: still the run's data and the writes, unless a later
                // committed run replaced it (then those are in that run's checkpoint) or it is gone.
                let later = everyRun().filter { $0 > id }.sorted().first { other in
                    guard let r = replayOf(other), r.isCommitted else { return false }
                    return r.swaps.contains { $0.instance == journaled && $0.record.database == swap.database }
                }
                // Left because what was in it was not the run's (an application's objects, or a
                // database made again under its name: `keepWrittenTarget`'s words), not for writes
                // over the run's data (fresh tester round 15, B5).
                let keptMessage = replay.records.last { $0.event == .kept && $0.undoes == record.seq }?.message
                let madeIn = keptMessage?.contains(Recovery.madeInPhrase) == true
                // Left because a rollback of the run was abandoned there (`ferry recover
                // --abandon`), not for writes (fresh tester round 26, P7).
                let abandoned = abandonedHere.contains(record.seq) || keptMessage?.contains(Recovery.abandonedPhrase) == true
                // Left because the run's claims were released (`--keep-later-writes` after `ferry
                // unlock --claims`, or another copy's recover), not judged written (fresh tester
                // round 74, F2: "it was written after that run swapped it in" of a target nothing
                // had written).
                let released = !madeIn && !abandoned && (keptMessage?.contains(Recovery.claimsReleasedPhrase) == true
                                                          || keptMessage?.contains(Recovery.undoneByOthersPhrase) == true)
                let now: String
                if let later {
                    now = "run \(later) has since replaced it (what it held then went to that run's checkpoint)"
                } else if (try? session.databaseExists(swap.database)) == false {
                    now = "it is gone now"
                } else if madeIn {
                    now = "it holds what was made in it, or under its name, since (not the run's data)"
                } else if abandoned {
                    now = "it holds what that run swapped in (and whatever was written since)"
                } else if released {
                    now = "it holds whatever is there now (the run's data, or what another run or someone else put there since)"
                } else {
                    now = "it holds the run's data and those writes"
                }
                let why = madeIn ? "something was made in it, or under its name, after a rollback of that run began"
                    : abandoned ? "the undo of that run was abandoned on \(instance) (`ferry recover --abandon`), so nothing was restored there"
                    : released ? "its claims there were released after it stopped (`ferry unlock --claims`, or another copy's `ferry recover`), so its recover left it unjudged"
                    : "it was written after that run swapped it in"
                notes.append(Diagnostic(.wrongStatus,
                    "\(instance)/\(swap.database) was left as it is by run \(id): \(why); \(now); what it held before run \(id) is still beside it as \(checkpoint)",
                    instance: instance,
                    hint: "compare the two, keep what you need, then drop \(checkpoint) yourself while no application has it open; this note goes once it is gone. Ferry never drops or restores \(checkpoint); a plan that replaces \(instance)/\(swap.database) replaces it as any target (what it holds then goes to that run's checkpoint)",
                    severity: .warning))
            }
            // What `ferry recover --discard-later-writes` left under a shadow's name.
            for record in replay.records where record.event == .leftForUser {
                guard let journaled = record.instance, let shadow = record.shadow, let database = record.database,
                      let (instance, _) = stillThere(journaled, target: database, in: replay, pending: &pending, { session in
                          // By the identity journaled with it where there is one: a file someone
                          // made at the shadow's name since is not it (round-11 F8).
                          try session.databaseExists(shadow) && (try record.identity.map { try session.holdsJournaledObject(shadow, identity: $0) } ?? true)
                      }) else { continue }
                notes.append(Diagnostic(.wrongStatus,
                    "\(instance)/\(shadow) holds what \(instance)/\(database) held when rollback run \(id) restored its checkpoint over what it held since (kept on purpose: `--discard-later-writes` or `ferry rollback RUN --force`, or because it held writes Ferry did not make): the data of the run it rolled back and the writes made since",
                    instance: instance,
                    hint: "keep what you need of it, then drop \(shadow) yourself; Ferry never drops it; this note goes once it is gone",
                    severity: .warning))
            }
            // Everything it left is gone (checked): no plan needs its journal again.
            if !pending, replay.isSettledButForWhatItLeft { journals.markSettledForKeptTargets(id) }
        }
        return notes
    }

    /// The checkpoints this state's committed runs keep (`RunReplay.keptCheckpoints`), on the
    /// instances of `instances` by the plan's names (`planName`): reads the journals of the runs
    /// not settled only (a run is settled once its checkpoints are dropped), touches no instance.
    public static func keptCheckpoints(backend: any StateBackend, instances: [String: InstanceSpec]) -> [PlanOptions.KeptCheckpoint] {
        var kept: [PlanOptions.KeptCheckpoint] = []
        for id in backend.journals.unsettledRunIDs() {
            guard let replay = try? backend.replay(id) else { continue }
            for (journaled, record) in replay.keptCheckpoints {
                guard let checkpoint = record.checkpoint, let instance = planName(of: journaled, in: replay, among: instances) else { continue }
                kept.append(PlanOptions.KeptCheckpoint(instance: instance, database: record.database, checkpoint: checkpoint, runID: id))
            }
        }
        return kept
    }

    /// The plan's name for the instance a run journaled as `journaled`: the instance the plan
    /// gives the same server (engine and SQLite directory, or URL scheme, host and port), by
    /// that name first, so a warning follows the server when the plan renames its instance
    /// (fresh tester W6); by name alone when the run journaled no instances (older releases).
    public static func planName(of journaled: String, in replay: RunReplay, among instances: [String: InstanceSpec]) -> String? {
        guard let was = replay.begin?.instances[journaled] else { return instances[journaled] == nil ? nil : journaled }
        let server = serverIdentity(was)
        if let same = instances[journaled], serverIdentity(same) == server { return journaled }
        return instances.values.filter { serverIdentity($0) == server }.map(\.name).sorted().first
    }

    /// What tells two instance definitions of one server apart from others: the engine and the
    /// SQLite directory, or the URL's host and port, the engine's default port when it names
    /// none (never its scheme, user info or password).
    static func serverIdentity(_ spec: InstanceSpec) -> String {
        if let path = spec.path { return "\(spec.engine.rawValue)|\(URL(fileURLWithPath: path).standardizedFileURL.path)" }
        guard let url = spec.url, let components = URLComponents(string: url) else { return "\(spec.engine.rawValue)|?" }
        // The scheme is left out (`postgres:`/`postgresql:`, `redis:`/`rediss:` reach one server)
        // and a port left to its default is that port.
        let port = components.port ?? spec.engine.planForm.defaultPort
        return "\(spec.engine.rawValue)|\((components.host ?? "").lowercased()):\(port.map(String.init) ?? "")"
    }
}

/// Content tokens (`EngineSession.contentToken(of:)`) are `SCHEME:...`: an engine that reads
/// more or otherwise changes what its token covers gives it a new scheme (`pg1` → `pg2`).
public enum ContentTokens {
    /// Whether `a` and `b` can be compared: the same scheme. A token recorded by an earlier
    /// release in another scheme tells nothing about a write (compared, it would read as one).
    public static func comparable(_ a: String, _ b: String) -> Bool {
        a.prefix { $0 != ":" } == b.prefix { $0 != ":" }
    }
}
