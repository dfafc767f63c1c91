import Foundation
import Testing
@testable import FerryRedis

/// The chain of write counters a load's transactions begin and end with (`RedisQuietLoad`,
/// fresh tester round 38b, F3). `INFO` replies are lines ended by CRLF (Redis's `INFO` command
/// page); no server needed.
@Suite struct RedisQuietLoadTests {
    func info(_ changes: Int, saved: Int = 1_700_000_000) -> String {
        "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:\(changes)\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:\(saved)\r\nrdb_last_bgsave_status:ok\r\n"
    }

    @Test func theCounterIsReadFromCRLFLines() {
        // "\r\n" is one Character in Swift: a split on "\r" or "\n" alone found no line.
        #expect(RedisQuietLoad.counter(ofInfo: info(12)) == "12/1700000000")
        #expect(RedisQuietLoad.counter(ofInfo: "rdb_changes_since_last_save:5\nrdb_last_save_time:9\n") == "5/9")
        #expect(RedisQuietLoad.counter(ofInfo: "# Persistence\r\nloading:0\r\n") == nil)
        #expect(RedisQuietLoad.counter(ofInfo: nil) == nil)
    }

    @Test func transactionsThatFollowOneAnotherLeaveTheLoadAlone() {
        let quiet = RedisQuietLoad()
        quiet.transaction(start: info(10), end: info(15))
        quiet.transaction(start: info(15), end: info(40))
        #expect(quiet.alone(until: "runid/40/1700000000"))
        #expect(!quiet.alone(until: "runid/41/1700000000"), "a write after the last transaction")
        #expect(!quiet.alone(until: "runid/40/1700000001"), "a save since")
        #expect(RedisQuietLoad().alone(until: "runid/7/1"), "no transaction: nothing to tell apart")
    }

    @Test(arguments: [
        [(10, 15), (16, 20)],          // a write between two transactions
        [(10, 15), (14, 20)],          // a counter that went back (a save, a restart)
    ]) func aGapBetweenTransactionsBreaksTheChain(_ pairs: [(Int, Int)]) {
        let quiet = RedisQuietLoad()
        for (start, end) in pairs { quiet.transaction(start: info(start), end: info(end)) }
        #expect(!quiet.alone(until: "runid/\(pairs.last!.1)/1700000000"))
    }

    @Test func anUnreadCounterOrAnUnprobedWriteBreaksTheChain() {
        let unread = RedisQuietLoad()
        unread.transaction(start: info(1), end: nil)
        #expect(!unread.alone(until: "runid/1/1700000000"))
        let unprobed = RedisQuietLoad()
        unprobed.transaction(start: info(1), end: info(2))
        unprobed.unprobedWrite()
        #expect(!unprobed.alone(until: "runid/2/1700000000"))
    }
}
