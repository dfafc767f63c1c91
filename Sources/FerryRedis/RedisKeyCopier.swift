import FerryCore
import Foundation

/// One key as DUMP gives it.
struct DumpedKey {
    var key: [UInt8]
    /// Milliseconds to live, 0 for none.
    var ttl: Int64
    var payload: [UInt8]
}

/// Walks a database with pipelined `SCAN` + `DUMP` + `PTTL`, one batch ahead: each round sends
/// the next SCAN before the DUMPs of the keys the last one returned, so when that SCAN's reply
/// arrives the next batch's commands go out at once and the server works on them while this side
/// reads and uses the batch before.
extension DumpedKey {
    /// Two independent 64-bit hashes of this key: its name, its `DUMP` payload (a set or hash by
    /// the unordered digest of its elements, whose `DUMP` order the server may change) and
    /// `expiry` (as the caller counts it), from `seeds`. The content token and a checkpoint's
    /// recorded content sum them over a database.
    func hashPair(expiry: Int64, seeds: (UInt64, UInt64)) -> (UInt64, UInt64) {
        var a = Hash64(seed: seeds.0), b = Hash64(seed: seeds.1)
        a.mix(key[...]); b.mix(key[...])
        let value = payload[0..<max(0, payload.count - 10)]
        if let unordered = PayloadDigest.unorderedDigest(value) {
            a.mix(value.prefix(1)); a.mix(unordered)
            b.mix(value.prefix(1)); b.mix(unordered)
        } else {
            a.mix(payload[...]); b.mix(payload[...])
        }
        var expiry = expiry
        withUnsafeBytes(of: &expiry) { a.mix($0); b.mix($0) }
        return (a.value, b.value)
    }
}

enum RedisKeyScanner {
    static let batch = "2000"

    /// Calls `body` with each batch; `whileSourceWorks` runs after a batch's commands are sent,
    /// before their replies are read (the place to read replies owed by a target).
    /// `excluding`: keys left out (the markers of the run whose database is read). `ttl`: the
    /// command whose reply fills `DumpedKey.ttl` (`PTTL`; `PEXPIRETIME` gives the absolute expiry).
    static func scan(_ source: RedisConnection, excluding: Set<[UInt8]> = [], ttl ttlCommand: RedisKeyCommand = .pttl,
                     whileSourceWorks: () throws -> Void = {},
                     _ body: ([DumpedKey]) throws -> Void) throws {
        try source.drain()
        /// Reads one SCAN reply; sends that batch's DUMPs behind the SCAN of the next batch.
        func readScanAndSendNext() throws -> (keys: [[UInt8]], more: Bool) {
            let reply = try source.readReply()
            if case .error(let message) = reply { throw RedisReplyError(message: message) }
            let parts = reply.elements
            guard parts.count == 2, let cursor = parts[0].string else {
                throw RedisReplyError(message: "unexpected SCAN reply")
            }
            var keys = parts[1].elements.compactMap(\.bytes)
            if !excluding.isEmpty { keys.removeAll { excluding.contains($0) } }
            if cursor != "0" { source.send("SCAN", cursor, "COUNT", batch) }
            for key in keys {
                source.send(.dump, key: key)
                source.send(ttlCommand, key: key)
            }
            try source.flush()
            return (keys, cursor != "0")
        }
        source.send("SCAN", "0", "COUNT", batch)
        try source.flush()
        var sent = try readScanAndSendNext()
        while true {
            let (keys, moreToCome) = sent
            // The next SCAN's reply comes first: answer it before reading this batch's DUMPs.
            let next = moreToCome ? try readScanAndSendNext() : ([], false)
            try whileSourceWorks()
            var dumped: [DumpedKey] = []
            dumped.reserveCapacity(keys.count)
            for key in keys {
                let dump = try source.readReply()
                let ttl = try source.readInteger()
                if case .error(let message) = dump { throw RedisReplyError(message: message) }
                // A key that expired or was deleted since SCAN is gone: skip it.
                guard case .bulk(let payload?) = dump, let pttl = ttl, pttl != -2 else { continue }
                dumped.append(DumpedKey(key: key, ttl: max(0, pttl), payload: payload))
            }
            try body(dumped)
            if !moreToCome { break }
            sent = next
        }
    }
}

/// Copies every key of the source connection's selected database into the target connection's
/// selected database with `MSET` (strings without a TTL, one a batch), `SET` (strings with one)
/// or `RESTORE ... REPLACE` (`RedisConnection.sendWrite`), one batch of writes in flight while the next
/// batch is dumped. `marker`: the shadow's marker hash; each batch then counts itself into it in
/// the same transaction (`RedisShadowLedger`).
enum RedisKeyCopier {
    /// `readback`: reads each batch back right behind its RESTOREs (`RedisReadback`).
    static func copy(from source: RedisConnection, to target: RedisConnection, progress: ProgressCounter,
                     errorCode: ErrorCode, digest: PayloadDigest? = nil, reserved: Set<[UInt8]> = [],
                     marker: String? = nil, readback: RedisReadback? = nil) throws -> TransferStats {
        var stats = TransferStats()
        var inFlight: [[UInt8]] = []
        /// Whether each key in flight is a string (its payload's type byte is 0), for the read-back.
        var inFlightStrings: [Bool] = []
        var inFlightSent = RedisShadowLedger.Sent()
        var ledger = RedisShadowLedger(marker: marker, valueSums: readback?.token != nil, quiet: readback?.quiet)
        func readRestoreReplies() throws {
            let layout = inFlightSent
            let (results, executed) = try RedisShadowLedger.outcome(of: layout, on: target, errorCode: errorCode, quiet: ledger.quiet)
            inFlightSent = RedisShadowLedger.Sent()
            for (key, result) in zip(inFlight, results) {
                if case .error(let message) = result {
                    // Read what is still owed before failing, so the connection stays usable.
                    while target.pendingReplies > 0 { _ = try target.readReply() }
                    RedisShadowLedger.uncount(results, of: layout, executed: executed, on: target)
                    let hint = message.contains("payload version") ? "the target Redis is older than the source: use a target of the same or a newer version" : nil
                    throw FerryError(errorCode, "Redis at \(target.host):\(target.port) refused key \(String(decoding: key, as: UTF8.self)): \(message)", hint: hint)
                }
            }
            let valueSum = try readback?.read(zip(inFlight, inFlightStrings), on: target)
            if layout.transaction { ledger.summed(valueSum) }
            inFlight.removeAll(keepingCapacity: true)
            inFlightStrings.removeAll(keepingCapacity: true)
        }
        do {
            try target.drain()
            // The batch's keys: `SCAN` may return a key twice, and its later write must land
            // after the deferred strings (`RedisShadowLedger.flushGroup`).
            // (With whether it was written without a TTL: that one leaves `persistentsum`.)
            var batchKeys: [[UInt8]: Bool] = [:]
            try RedisKeyScanner.scan(source, whileSourceWorks: readRestoreReplies) { batch in
                var bytes: Int64 = 0
                batchKeys.removeAll(keepingCapacity: true)
                for key in batch {
                    if reserved.contains(key.key) { throw RedisOwnership.reservedKeyError(key.key, errorCode: errorCode) }
                    if let earlierPersistent = batchKeys.updateValue(key.ttl == 0, forKey: key.key) {
                        ledger.flushGroup(on: target)
                        if earlierPersistent { ledger.replaced(key: key.key) }
                    }
                    ledger.willRestore(on: target, key: key.key, persistent: key.ttl == 0)
                    ledger.sent(deferred: target.sendWrite(key: key.key, ttl: key.ttl, payload: key.payload, absolute: false, grouping: true))
                    inFlight.append(key.key)
                    inFlightStrings.append(key.payload.first == 0)
                    digest?.add(key: key.key, payload: key.payload, hasTTL: key.ttl > 0)
                    bytes += Int64(key.key.count + key.payload.count)
                }
                inFlightSent = ledger.close(on: target)
                readback?.send(zip(inFlight, inFlightStrings), on: target)
                try target.flush()
                KillPoint.check("change:redis.batchSent")
                stats.rows += Int64(batch.count)
                stats.bytes += bytes
                progress.add(bytes: bytes, rows: Int64(batch.count))
                try progress.checkCancelled()
            }
            try readRestoreReplies()
            ledger.finish(on: target)
        } catch let error as RedisReplyError {
            ledger.abandon(on: target)
            throw FerryError(errorCode, "Redis at \(source.host):\(source.port) failed while being read: \(error.message)")
        } catch {
            // A batch cut short (a reserved key name) is discarded, never left open.
            ledger.abandon(on: target)
            throw error
        }
        return stats
    }
}
