import Foundation
import Testing
@testable import FerryRedis

/// What a checkpoint held at its swap (F2), compared at its drop: keys without a TTL exactly,
/// keys with a TTL by minute of expiry, minutes that may have expired left out. No server needed.
@Suite struct RedisCheckpointContentTests {
    func sum(_ count: Int64, _ a: UInt64, _ b: UInt64) -> RedisCheckpointContent.Sum {
        var s = RedisCheckpointContent.Sum()
        (s.count, s.a, s.b) = (count, a, b)
        return s
    }

    /// Content at the swap: 3 keys without a TTL, 2 expiring in minute 100, 1 in minute 200.
    var atSwap: RedisCheckpointContent {
        var c = RedisCheckpointContent()
        c.persistent = sum(3, 0xAB, 0xCD)
        c.expiring = [100: sum(2, 0x11, 0x22), 200: sum(1, 0x33, 0x44)]
        return c
    }

    @Test func theTextFormRoundTrips() throws {
        let parsed = try #require(RedisCheckpointContent(text: atSwap.text))
        #expect(parsed == atSwap)
        #expect(RedisCheckpointContent(text: "rc0;p=1:1:1") == nil)
        #expect(RedisCheckpointContent(text: "rc1;p=1:zz:1") == nil)
        #expect(RedisCheckpointContent(text: "rc1;p=1:1:1;m5=bad") == nil)
    }

    @Test func anyChangeOutsideTheMinutesThatMayHaveExpiredCounts() {
        let minute = RedisCheckpointContent.minuteMs
        let early = 50 * minute   // before both minutes of expiry
        #expect(atSwap.unchanged(in: atSwap, at: early))
        var written = atSwap
        written.persistent = sum(3, 0xAC, 0xCD)          // a key without a TTL overwritten
        #expect(!written.unchanged(in: atSwap, at: early) && !atSwap.unchanged(in: written, at: early))
        written = atSwap
        written.expiring[200] = nil                       // a key expiring later deleted
        #expect(!atSwap.unchanged(in: written, at: early))
        written = atSwap
        written.expiring[300] = sum(1, 1, 1)              // a key with a TTL added
        #expect(!atSwap.unchanged(in: written, at: early))
        // At minute 150 the keys of minute 100 may have expired: gone or not, nothing to lose.
        written = atSwap
        written.expiring[100] = nil
        #expect(atSwap.unchanged(in: written, at: 150 * minute))
        #expect(!atSwap.unchanged(in: written, at: early))
        // The minute that holds "now + 2 s" is left out too (some of its keys expired, some not).
        written.expiring[200] = sum(0, 0, 0)
        #expect(atSwap.unchanged(in: written, at: 200 * minute - 1_000))
        #expect(!atSwap.unchanged(in: written, at: 200 * minute - 3_000))
    }
}
