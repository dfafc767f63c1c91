import FerryCore
import Foundation

/// A Redis shadow is an empty numbered database that `makeShadow` marks, atomically, with a hash
/// named for its run (`__ferry:shadow:RUN`, see `RedisOwnership`) holding its target; the number
/// is only known once the mark is set. So the core journals the intent (instance and database, no
/// name) first, and recovery finds the database by the run's marker; `drop` flushes it only when
/// the marker still proves it the run's.
extension RedisSession {
    /// The run's shadows and checkpoints on this server, for `ferry unlock --claims` (round 26,
    /// P8: a Redis run was said to have left none while two of its checkpoints were there):
    /// every numbered database holding one of the run's marker hashes (`RedisOwnership`: the
    /// hash's `run` field names the run), as "db N (checkpoint of db T)". Reads only.
    public func leftovers(ofRun runID: String) throws -> [String] {
        var found: [String] = []
        for n in 0..<databaseCount() {
            try select(n)
            for (marker, role) in [(RedisOwnership.shadowMarker(run: runID), "shadow"), (RedisOwnership.checkpointMarker(run: runID), "checkpoint")] {
                // A user's key of that name but another type is no marker (HMGET refuses it).
                guard let values = try? run("HMGET", marker, "target", "run").elements,
                      values.count == 2, values[1].string == runID else { continue }
                found.append("db \(n) (\(role) of db \(values[0].string ?? "?"))")
            }
        }
        return found
    }

    /// Every Ferry marker hash (`RedisOwnership.marks`) in the databases that hold keys, but
    /// `skipping`, with its database's number. Reads only: one `SCAN` of each such database,
    /// for the commands that must find a run's databases without knowing their numbers.
    func marksInDatabasesWithKeys(skipping: Int? = nil) throws -> [(db: Int, mark: RedisOwnership.Mark)] {
        let keyspace = try info("keyspace")
        var found: [(db: Int, mark: RedisOwnership.Mark)] = []
        for n in 0..<databaseCount() where n != skipping && keyspace["db\(n)"] != nil {
            try select(n)
            found += try RedisOwnership.marks(on: connection).map { (n, $0) }
        }
        return found
    }

    /// `EngineSession.leftoversWithoutClaims`: every marker (`marksInDatabasesWithKeys`) of a run
    /// no connection here claims for, as in `leftovers`.
    public func leftoversWithoutClaims() throws -> [String: [String]] {
        let claiming = Set(try otherClaims().map(\.runID))
        var found: [String: [String]] = [:]
        for (n, mark) in try marksInDatabasesWithKeys().sorted(by: { ($0.db, $0.mark.run, $0.mark.role.rawValue) < ($1.db, $1.mark.run, $1.mark.role.rawValue) })
        where !claiming.contains(mark.run) {
            found[mark.run, default: []].append("db \(n) (\(mark.role.rawValue) of db \(mark.target ?? "?"))")
        }
        return found
    }

    /// `EngineSession.swappedSinceByAnotherRun`: this run's checkpoint marker (in the shadow's
    /// number, after its swap) gives when it swapped (`swapped`, the server's `TIME`); a
    /// checkpoint marker of another run for the same target whose swap came at that second or
    /// later (`marksInDatabasesWithKeys`) is a later run's swap of it. Reads only. Nil where this
    /// run's checkpoint marker is gone or has no time (the undo's other checks decide), or a
    /// later run kept no checkpoint (`ferry state keep 0`).
    public func swappedSinceByAnotherRun(_ record: SwapRecord) throws -> String? {
        let targetDB = try number(of: record.database)
        let (shadowDB, run) = try owned(record.shadow)
        try select(shadowDB)
        let mine = try self.run("HMGET", RedisOwnership.checkpointMarker(run: run), "run", "target", "swapped").elements.map(\.string)
        guard mine.count == 3, mine[0] == run, mine[1] == String(targetDB), let swapped = mine[2].flatMap({ Int($0) }) else { return nil }
        for (n, mark) in try marksInDatabasesWithKeys(skipping: shadowDB) where mark.role == .checkpoint && mark.run != run && mark.target == String(targetDB) {
            try select(n)
            guard let later = try self.run("HGET", RedisOwnership.checkpointMarker(run: mark.run), "swapped").string.flatMap({ Int($0) }),
                  later >= swapped else { continue }
            return "run \(mark.run) swapped database \(targetDB) after this run did (its checkpoint of it is in database \(n), swapped \(later - swapped) s later)"
        }
        return nil
    }

    /// What a run left for `database` that its journal does not name: a database holding the
    /// run's shadow marker (for `database`) and nothing else, made by `makeShadow` right before a
    /// kill, before the core could journal its number; its marker is deleted (atomically, while
    /// it is still the only key there). A shadow whose number the run journaled is dropped by
    /// that name (`dropShadow`, with its proofs), never found by its marker: a database holding the
    /// marker and any other key (a copy of the marker in a user's database, fresh tester round
    /// 36, F5: a database of session keys with TTLs was flushed; or the shadow moved by a user's
    /// `SWAPDB`) is left as it is, named: `OperationDenied.WrongStatus`.
    func removeLeftovers(ofRun runID: String, database: String) throws -> [String] {
        var removed: [String] = []
        var left: [String] = []
        let marker = RedisOwnership.shadowMarker(run: runID)
        let script = """
            if redis.call('DBSIZE') == 1 and redis.call('HGET', KEYS[1], 'run') == ARGV[1]
               and redis.call('HGET', KEYS[1], 'target') == ARGV[2] then
              redis.call('DEL', KEYS[1])
              return 1
            end
            return 0
            """
        for n in 0..<databaseCount() {
            try select(n)
            let values = try run("HMGET", marker, "target", "run").elements
            guard values.count == 2, values[0].string == database, values[1].string == runID else { continue }
            if try run("EVAL", script, "1", marker, runID, database).integer == 1 {
                removed.append(RedisOwnership.name(database: n, run: runID))
            } else {
                left.append(String(n))
            }
        }
        if !left.isEmpty {
            throw FerryError(.wrongStatus, "Redis database\(left.count == 1 ? "" : "s") \(left.joined(separator: ", ")) on \(target.instance.name) hold\(left.count == 1 ? "s" : "") the key \(marker), the marker of run \(runID)'s shadow of database \(database), beside other keys: Ferry removes a database it finds by that marker only while the marker is all it holds (a shadow the run journaled by its number is dropped by that name, with its own checks), so \(left.count == 1 ? "it is" : "they are") left as \(left.count == 1 ? "it is" : "they are")",
                             hint: "if it is a copy of the marker in a database of yours, delete that key there (DEL \(marker)); if it is the run's shadow moved by a SWAPDB, swap it back; then run `ferry recover` again",
                             instance: target.instance.name)
        }
        return removed
    }
}
