import FerryCore
import Foundation

extension RedisSession {
    /// A checkpoint is `N@RUN`: there while database N still holds the run's checkpoint marker
    /// (a number reused by another run, or flushed by hand, is not it any more).
    func checkpointIsThere(_ record: SwapRecord) throws -> Bool {
        guard let checkpoint = record.checkpoint, let (number, run) = RedisOwnership.parse(checkpoint), let run else { return false }
        try select(number)
        return (try self.run("EXISTS", RedisOwnership.checkpointMarker(run: run)).integer ?? 0) > 0
    }
}
