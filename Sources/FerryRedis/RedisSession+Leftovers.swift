import FerryCore
import Foundation

/// A Redis shadow is an empty numbered database that `makeShadow` marks, atomically, with a hash
/// named for its run (`__ferry:shadow:RUN`, see `RedisOwnership`) holding its target; the number
/// is only known once the mark is set. So the core journals the intent (instance and database, no
/// name) first, and recovery finds the database by the run's marker; `drop` flushes it only when
/// the marker still proves it the run's.
extension RedisSession {
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
