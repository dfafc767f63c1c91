import FerryCore
import Foundation

/// A Redis shadow is an empty numbered database that `makeShadow` marks, atomically, with a hash
/// naming its target and its run; the number is only known once the mark is set. So the core
/// journals the intent (instance and database, no name) first, and recovery finds the database
/// by the run's marker.
extension RedisSession {
    func removeLeftovers(ofRun runID: String, database: String) throws -> [String] {
        var removed: [String] = []
        for n in 0..<databaseCount() {
            try select(n)
            let values = try run("HMGET", Self.shadowMarker, "target", "run").elements
            guard values.count == 2, values[0].string == database, values[1].string == runID else { continue }
            try drop(String(n))
            removed.append(String(n))
        }
        return removed
    }
}
