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

    func removeLeftovers(ofRun runID: String, database: String) throws -> [String] {
        var removed: [String] = []
        var refused: FerryError?
        for n in 0..<databaseCount() {
            try select(n)
            let values = try run("HMGET", RedisOwnership.shadowMarker(run: runID), "target", "run").elements
            guard values.count == 2, values[0].string == database, values[1].string == runID else { continue }
            let name = RedisOwnership.name(database: n, run: runID)
            // `drop` flushes only a shadow holding nothing but what Ferry wrote; one it leaves
            // does not stop the others from going.
            do {
                try drop(name)
                removed.append(name)
            } catch let error as FerryError {
                refused = refused ?? error
            }
        }
        if let refused { throw refused }
        return removed
    }
}
