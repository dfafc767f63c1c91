import FerryCore
import Foundation

/// Writes by applications during a run (SPEC §6 "Writes during a run", and the Redis part of
/// "What Ferry may drop"). Redis keeps no per-database change counter, so the content token is a
/// digest of every key: one pipelined `SCAN` + `DUMP` + `PEXPIRETIME` pass over the database.
extension RedisSession {
    /// The content token of a numbered database (`N`, or a database Ferry made, `N@RUN`): the key
    /// count, the payload bytes, and two order-independent 64-bit sums of (key, `DUMP` payload,
    /// absolute expiry in Unix ms) over every key but the markers of the run that `N@RUN` names.
    /// The swap (`SWAPDB`) moves the same objects with the same expiries, so a shadow and the
    /// target it became give one token; any write of a key's value, type or expiry, any key added
    /// or deleted, changes it. Hash-table sets and hashes count as multisets of their elements
    /// (their serialization follows the table's order). Servers before Redis 7.0 have no
    /// `PEXPIRETIME`: there only whether a key expires counts, so an `EXPIRE` that only moves an
    /// existing expiry is not seen. Known limits, both in the safe direction (a rollback keeps
    /// the target rather than swapping it back): a key that expires after the token was read
    /// changes it. Reads with `CLIENT NO-TOUCH` where the server has it (7.2+); on older servers
    /// `DUMP` counts as an access for the LRU of the keys read (the target's or the shadow's,
    /// never a checkpoint's; shared small integers aside, which the drop's idle check leaves
    /// out). Cost: one full read of the database (measured in SPEC).
    func contentToken(of database: String) throws -> String? {
        guard let parsed = RedisOwnership.parse(database) else {
            throw FerryError(.invalidParameter, "Redis databases are numbered; \"\(database)\" is not a number")
        }
        let absolute = try hasExpireTime()
        // Redis 7.2 and newer: this connection's reads leave keys' LRU/LFU as they are (older
        // servers refuse the command; their idle times are read with shared values left out).
        _ = try? connection.command("CLIENT", "NO-TOUCH", "ON")
        try select(parsed.database)
        return try RedisContentToken.read(connection, excluding: parsed.run.map(RedisOwnership.markers(run:)) ?? [],
                                          absoluteExpiry: absolute)
    }

    /// Whether the server answers `PEXPIRETIME` (Redis 7.0 and newer, Valkey).
    func hasExpireTime() throws -> Bool {
        do {
            _ = try connection.command("PEXPIRETIME", "__ferry:probe-expiretime")
            return true
        } catch is RedisReplyError {
            return false
        }
    }

    /// F17: a shadow that holds more keys than Ferry counted writing into it (`wrote`), or more
    /// keys without a TTL than `wrotepersistent`, holds keys an application wrote there; it is
    /// never verified nor swapped in (the swap script checks the same, atomically).
    func checkOnlyFerryWrote(_ shadowDB: Int, run: String, shadow: String) throws {
        try select(shadowDB)
        let reply = try self.run("EVAL", RedisOwnership.shadowWriteCheckScript, "1", RedisOwnership.shadowMarker(run: run),
                                 String(shadowDB)).elements.compactMap(\.integer)
        guard reply.count == 5, reply[0] != 1 else { return }
        throw Self.notOnlyFerrysError(shadowDB, run: run, keys: reply[1], persistent: reply[2], wrote: reply[3], wrotePersistent: reply[4],
                                      instance: target.instance.name, code: .verifyFailed)
    }

    static func notOnlyFerrysError(_ db: Int, run: String, keys: Int64, persistent: Int64, wrote: Int64, wrotePersistent: Int64,
                                   instance: String, code: ErrorCode) -> FerryError {
        FerryError(code, "Redis database \(db) on \(instance), Ferry's shadow of run \(run), holds keys Ferry did not write into it (\(keys) keys, \(persistent) without a TTL, besides the marker; Ferry wrote \(wrote), \(wrotePersistent) without a TTL); it was not swapped in and is left as it is",
                   hint: "an application wrote into database \(db) while Ferry built it: move those keys, then FLUSHDB database \(db) yourself")
    }
}

/// The Redis content token (`RedisSession.contentToken`).
enum RedisContentToken {
    /// The token's running sums: key count, payload bytes, and two order-independent 64-bit
    /// sums of (key, `DUMP` payload, expiry). One pass over a database (`read`) or the read-back
    /// of a load (`RedisReadback`) fills them alike.
    final class Sums: @unchecked Sendable {
        // Safe: filled by the one thread that reads the replies, then read after it is done.
        private(set) var count: Int64 = 0
        private(set) var bytes: Int64 = 0
        private var first: UInt64 = 0, second: UInt64 = 0

        /// `key.ttl`: the absolute expiry in Unix ms (`PEXPIRETIME`) where `absoluteExpiry`, else
        /// the milliseconds to live (only whether it has one counts); 0 for none.
        func add(_ key: DumpedKey, absoluteExpiry: Bool) {
            let (a, b) = key.hashPair(expiry: absoluteExpiry ? key.ttl : (key.ttl > 0 ? 1 : 0), seeds: (0x70C1_3E11, 0x2B7E_1516))
            first &+= a
            second &+= b
            count += 1
            bytes += Int64(key.payload.count)
        }

        var text: String { "redis1:\(count):\(bytes):" + String(first, radix: 16) + ":" + String(second, radix: 16) }
    }

    static func read(_ connection: RedisConnection, excluding: Set<[UInt8]>, absoluteExpiry: Bool) throws -> String {
        let sums = Sums()
        try RedisKeyScanner.scan(connection, excluding: excluding, ttl: absoluteExpiry ? .pexpiretime : .pttl) { batch in
            for key in batch { sums.add(key, absoluteExpiry: absoluteExpiry) }
        }
        return sums.text
    }
}
