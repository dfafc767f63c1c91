import FerryCore
import Foundation

/// What a checkpoint held at its swap, so that its drop can tell any later write into it, and
/// not only those the key counts and the idle times see (F2: a key renamed within the idle
/// check's 2-second slack of the swap was flushed with the checkpoint).
///
/// Keys expire on their own, in a checkpoint too, and an expiry is not a write: a flush after
/// it loses nothing anyone wrote. So the content is not one sum but several: the keys without a
/// TTL (count and two 64-bit sums of key, `DUMP` payload), and the keys with a TTL grouped by the
/// minute of their absolute expiry (`PEXPIRETIME`, Unix ms / 60,000), each group with its count
/// and sums. A drop compares the keys without a TTL exactly, and each minute that begins more
/// than 2 seconds from now exactly; earlier minutes are left out, since their keys may have expired
/// (whether a key expired or an application deleted it, a flush cannot lose it: it is gone). So
/// any write into the checkpoint is seen (a key added, changed, renamed, deleted, its expiry set,
/// moved or removed) but one whose key expires within the minute of the drop.
/// Text form: `rc1;p=COUNT:A:B;mMINUTE=COUNT:A:B;...` (hex sums). Needs `PEXPIRETIME` (Redis 7.0).
struct RedisCheckpointContent: Equatable {
    struct Sum: Equatable {
        var count: Int64 = 0
        var a: UInt64 = 0
        var b: UInt64 = 0
        mutating func add(_ x: UInt64, _ y: UInt64) { count += 1; a &+= x; b &+= y }
        var text: String { "\(count):" + String(a, radix: 16) + ":" + String(b, radix: 16) }
        init() {}
        init?(_ text: Substring) {
            let parts = text.split(separator: ":")
            guard parts.count == 3, let c = Int64(parts[0]), let x = UInt64(parts[1], radix: 16), let y = UInt64(parts[2], radix: 16) else { return nil }
            (count, a, b) = (c, x, y)
        }
    }

    var persistent = Sum()
    /// By minute of absolute expiry.
    var expiring: [Int64: Sum] = [:]

    static let minuteMs: Int64 = 60_000

    /// Reads the selected database of `connection` (one `SCAN` + `DUMP` + `PEXPIRETIME` pass),
    /// leaving out `excluding` (the run's markers).
    static func read(_ connection: RedisConnection, excluding: Set<[UInt8]>) throws -> RedisCheckpointContent {
        var content = RedisCheckpointContent()
        try RedisKeyScanner.scan(connection, excluding: excluding, ttl: .pexpiretime) { batch in
            for key in batch {
                let (a, b) = key.hashPair(expiry: key.ttl, seeds: (0x51C3_0A77, 0x6D2B_79F5))
                if key.ttl > 0 {
                    content.expiring[key.ttl / minuteMs, default: Sum()].add(a, b)
                } else {
                    content.persistent.add(a, b)
                }
            }
        }
        return content
    }

    var text: String {
        (["rc1", "p=" + persistent.text] + expiring.keys.sorted().map { "m\($0)=" + expiring[$0]!.text }).joined(separator: ";")
    }

    init() {}

    init?(text: String) {
        let parts = text.split(separator: ";")
        guard parts.first == "rc1", parts.count >= 2, parts[1].hasPrefix("p="), let p = Sum(parts[1].dropFirst(2)) else { return nil }
        persistent = p
        for part in parts.dropFirst(2) {
            guard part.hasPrefix("m"), let eq = part.firstIndex(of: "="), let minute = Int64(part[part.index(after: part.startIndex)..<eq]),
                  let sum = Sum(part[part.index(after: eq)...]) else { return nil }
            expiring[minute] = sum
        }
    }

    /// Whether `now` (read at `nowMs`, the server's time) holds what `self` held, but keys that
    /// may have expired since: the keys without a TTL exactly, and every minute of expiry that
    /// begins after `nowMs` + 2 s exactly (the minute holding that moment has keys that expired
    /// and keys that did not, which one sum cannot tell apart).
    func unchanged(in now: RedisCheckpointContent, at nowMs: Int64) -> Bool {
        guard persistent == now.persistent else { return false }
        for minute in Set(expiring.keys).union(now.expiring.keys) where minute * Self.minuteMs > nowMs + 2_000 {
            if (expiring[minute] ?? Sum()) != (now.expiring[minute] ?? Sum()) { return false }
        }
        return true
    }
}

extension RedisSession {
    /// The server's write counter (`rdb_changes_since_last_save`, with `rdb_last_save_time`, which
    /// a save resets it with): unchanged between two reads, nothing was written on the server.
    func writeCounterText() throws -> String {
        let persistence = try info("persistence")
        return (persistence["rdb_changes_since_last_save"] ?? "") + "/" + (persistence["rdb_last_save_time"] ?? "")
    }

    /// The server's time in Unix ms (`TIME`).
    func serverTimeMs() throws -> Int64 {
        let parts = try run("TIME").elements.compactMap(\.string).compactMap { Int64($0) }
        guard parts.count == 2 else { throw RedisReplyError(message: "unexpected TIME reply") }
        return parts[0] * 1000 + parts[1] / 1000
    }
}
