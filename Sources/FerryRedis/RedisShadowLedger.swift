import FerryCore
import FerryIO
import Foundation

/// What keeps a shadow's marker an upper bound of what Ferry wrote into the shadow: every batch
/// of RESTOREs that a copy, a clone or an import sends into a shadow goes inside one
/// `MULTI`/`EXEC` together with `HINCRBY marker wrote N` and `HINCRBY marker wrotepersistent P`
/// (N keys sent, P of them without a TTL). Redis runs a transaction whole or not at all (a
/// connection that dies before `EXEC` discards it), so at every moment the shadow holds at most
/// `wrote` keys of Ferry's plus the marker, and at most `wrotepersistent` keys without a TTL
/// (keys that expire or that a later RESTORE replaces only lower the counts). A shadow holding
/// more than that holds keys Ferry did not write, and `RedisOwnership.guardedFlushScript` leaves
/// it as it is. The same transaction adds `HINCRBY marker persistentsum S`, S the sum of the
/// keys' `weight`s without a TTL: a shadow whose keys without a TTL do not sum to it (modulo
/// 2^28) lost one of Ferry's keys and may hold one of someone else's in its place, which counts
/// alone cannot see (fresh tester round 35, F9: an application's `DEL` of one key and `SET` of
/// its own kept the counts, and `ferry recover` flushed its key).
///
/// Replies of one closed batch, in order: `+OK` (MULTI), one `+QUEUED` (or a queue-time error)
/// per command, then `EXEC`'s array with one result per write command, the three HINCRBY
/// results and the `touched` stamp's (`RedisOwnership.touchScript`: the server's time of the
/// batch, which tells a key written or read later, say an application's value written in place
/// of one of Ferry's, apart). A write command is one key's (`SET`, `RESTORE`) or an `MSET` of the strings without
/// a TTL `RedisConnection.sendWrite` deferred (`flushGroup`: at the batch's end, or before a key
/// that may repeat one of them, so that the later write still wins), whose reply is each of
/// those keys' result.
struct RedisShadowLedger {
    /// The marker hash of the run's shadow (`__ferry:shadow:RUN`); nil: keys are not counted
    /// (plain pipelined RESTOREs, for a database that is not a shadow).
    let marker: [UInt8]?
    private var restores = 0
    private var persistent = 0
    private var persistentSum: Int64 = 0
    /// Each key's weight in the open batch (0 with a TTL), in order.
    private var weights: [Int64] = []
    /// For each key of the open batch, in order, the index of the write command that carries it
    /// (-1: in the `MSET` not sent yet, whose keys `pendingGroup` lists).
    private var keyCommand: [Int] = []
    private var pendingGroup: [Int] = []
    private var commands = 0
    /// The value sum (`valuesum`, fresh tester round 37, F1/F2): the open batch's key names,
    /// packed (each a 4-byte big-endian length, then the name) for its `pend:N` field; the
    /// batches closed, those whose read-back sum was handed in (`summed`), and those whose sum
    /// the marker holds; the sums handed in and not yet sent.
    private var batchNames: [UInt8] = []
    /// The keys' weights are hashed with one SHA-1 context (`Digest.SHA1Prefixer`).
    private let sha1 = Digest.SHA1Prefixer()
    private var closedBatches = 0
    private var summedBatches = 0
    private var recordedBatches = 0
    private var unrecordedValueSum: Int64 = 0
    /// A key written twice, or a read-back without payloads: the marker's `valuesum` cannot
    /// hold, and `valuesumoff` says so (the flush then goes by counts, names and idle times).
    private var valueSumOff = false
    private var valueSumOffSent = false
    /// This ledger's own prefix of its `pend:` fields (`pend:TAG:N`): the parts of one import
    /// are loaded by ledgers of their own into one marker.
    private let pendTag = String(UInt32.random(in: 0...UInt32.max), radix: 36)

    /// How the replies of a closed batch are laid out: `restores` keys, in a transaction or not,
    /// `commands` write commands, and which command carries each key (empty: one a key, in order).
    struct Sent {
        var restores = 0
        var transaction = false
        var commands = 0
        var keyCommand: [Int] = []
        /// The marker and each key's weight, for `uncount` (empty outside a transaction).
        var marker: [UInt8]?
        var weights: [Int64] = []
        /// The commands after the writes inside the transaction (`RedisShadowLedger.counters`,
        /// and the value sum's `HSET`/`HINCRBY`/`HDEL` of this batch, and the closing `INFO
        /// persistence` where `probed`).
        var counters = RedisShadowLedger.counters
        /// The transaction begins and ends with `INFO persistence` (`RedisQuietLoad`).
        var probed = false
    }

    /// A key's weight in `persistentsum`: the first 28 bits of the SHA-1 of its name (what the
    /// flush script reads as `tonumber(string.sub(redis.sha1hex(key), 1, 7), 16)`).
    static func weight(of key: [UInt8], using sha1: Digest.SHA1Prefixer? = nil) -> Int64 {
        Int64((sha1?.prefix(key) ?? Digest.sha1Prefix(key)) >> 4)
    }

    /// A key's weight in `valuesum`: the first 28 bits of the SHA-1 of its name followed by its
    /// `DUMP` payload (what the flush script reads as
    /// `tonumber(string.sub(redis.sha1hex(key .. redis.call('DUMP', key)), 1, 7), 16)`).
    static func valueWeight(of key: [UInt8], payload: [UInt8], using sha1: Digest.SHA1Prefixer? = nil) -> Int64 {
        Int64((sha1?.prefix(key, payload) ?? Digest.sha1Prefix(key, payload)) >> 4)
    }

    /// `valueSums`: a read-back reads each batch's payloads and hands in their sum (`summed`);
    /// without it the marker says `valuesumoff` and keeps no `pend:` names.
    /// `quiet`: each transaction begins and ends with `INFO persistence`, its write counters
    /// handed to `quiet` as its replies are read (`RedisQuietLoad`).
    init(marker: String?, valueSums: Bool = false, quiet: RedisQuietLoad? = nil) {
        self.marker = marker.map { Array($0.utf8) }
        valueSumOff = !valueSums
        self.quiet = quiet
    }
    let quiet: RedisQuietLoad?
    private static let infoPersistence = [Array("INFO".utf8), Array("persistence".utf8)]

    /// Hands in the value sum of the next closed batch's keys without a TTL, as its read-back
    /// read them (`RedisReadback.read`; nil: it read no payloads). Call once per batch that
    /// wrote keys, in order; the next batch's transaction adds it to `valuesum`.
    mutating func summed(_ sum: Int64?) {
        guard marker != nil else { return }
        if let sum { unrecordedValueSum += sum } else { valueSumOff = true }
        summedBatches += 1
    }

    /// Call before sending each key's write (opens the transaction on the first).
    mutating func willRestore(on connection: RedisConnection, key: [UInt8], persistent isPersistent: Bool) {
        if restores == 0, marker != nil {
            connection.send("MULTI")
            if quiet != nil { connection.send(Self.infoPersistence) }
        }
        restores += 1
        if isPersistent { persistent += 1 }
        if marker != nil {
            let weight = isPersistent ? Self.weight(of: key, using: sha1) : 0
            persistentSum += weight
            weights.append(weight)
            if !valueSumOff {
                let n = UInt32(key.count)
                batchNames += [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
                batchNames += key
            }
        }
    }

    /// Call before `willRestore` for a key that lands over one without a TTL this run wrote
    /// earlier (a later part, `merge: last-wins`): that one leaves the shadow's keys, so its
    /// weight leaves `persistentsum` in this batch's transaction.
    mutating func replaced(key: [UInt8]) {
        guard marker != nil else { return }
        persistentSum -= Self.weight(of: key, using: sha1)
        valueSumOff = true
    }

    /// Call after each key's `sendWrite`, with what it returned.
    mutating func sent(deferred isDeferred: Bool) {
        if isDeferred {
            pendingGroup.append(keyCommand.count)
            keyCommand.append(-1)
        } else {
            keyCommand.append(commands)
            commands += 1
        }
    }

    /// Sends the deferred strings' `MSET` now: before a key that may repeat one of them (a
    /// later write of the same key must land after it), and at the batch's end.
    mutating func flushGroup(on connection: RedisConnection) {
        guard !pendingGroup.isEmpty else { return }
        precondition(connection.sendStringGroup(), "the deferred strings the ledger counts are the connection's")
        for index in pendingGroup { keyCommand[index] = commands }
        commands += 1
        pendingGroup.removeAll(keepingCapacity: true)
    }

    /// Closes the batch (the deferred strings' `MSET`, the counters and `EXEC`) and starts the
    /// next; returns the reply layout.
    mutating func close(on connection: RedisConnection) -> Sent {
        flushGroup(on: connection)
        defer { restores = 0; persistent = 0; persistentSum = 0; commands = 0; keyCommand.removeAll(keepingCapacity: true); weights.removeAll(keepingCapacity: true); batchNames.removeAll(keepingCapacity: true) }
        guard restores > 0 else { return Sent() }
        precondition(keyCommand.count == restores, "each key of a batch says how it was sent")
        var sent = Sent(restores: restores, transaction: false, commands: commands, keyCommand: commands == restores ? [] : keyCommand)
        guard let marker else { return sent }
        connection.send([Array("HINCRBY".utf8), marker, Array("wrote".utf8), Array(String(restores).utf8)])
        connection.send([Array("HINCRBY".utf8), marker, Array("wrotepersistent".utf8), Array(String(persistent).utf8)])
        connection.send([Array("HINCRBY".utf8), marker, Array("persistentsum".utf8), Array(String(persistentSum).utf8)])
        connection.send([Array("EVAL".utf8), Self.touchScript, Array("1".utf8), marker])
        sent.counters += sendValueSum(on: connection, marker: marker)
        if quiet != nil {
            connection.send(Self.infoPersistence)
            sent.counters += 1
            sent.probed = true
        }
        connection.send("EXEC")
        sent.transaction = true
        sent.marker = marker
        sent.weights = weights
        return sent
    }

    /// The value sum's commands in a batch's transaction; returns how many. The batch's names
    /// go into `pend:N` (N its number); the read-back sums handed in since the last batch go
    /// into `valuesum`, and the `pend:` fields of their batches go. So at every moment the
    /// marker's `valuesum` is the sum of the `valueWeight`s of the keys without a TTL of every
    /// batch that has no `pend:` field (`RedisOwnership.valueSumLua`).
    private mutating func sendValueSum(on connection: RedisConnection, marker: [UInt8]) -> Int {
        var sent = 0
        if !valueSumOff {
            connection.send([Array("HSET".utf8), marker, Array("pend:\(pendTag):\(closedBatches)".utf8), batchNames])
            sent += 1
        }
        closedBatches += 1
        if summedBatches > recordedBatches, !valueSumOff {
            connection.send([Array("HINCRBY".utf8), marker, Array("valuesum".utf8), Array(String(unrecordedValueSum).utf8)])
            connection.send([Array("HDEL".utf8), marker] + (recordedBatches..<summedBatches).map { Array("pend:\(pendTag):\($0)".utf8) })
            sent += 2
            recordedBatches = summedBatches
            unrecordedValueSum = 0
        }
        if valueSumOff && !valueSumOffSent {
            connection.send([Array("HSET".utf8), marker, Array("valuesumoff".utf8), Array("1".utf8)])
            valueSumOffSent = true
            sent += 1
        }
        return sent
    }

    /// After the load's last read-back: adds the sums handed in since the last batch to
    /// `valuesum` and removes their `pend:` fields, in one transaction, so that the whole
    /// shadow is compared by value from then on. A failure leaves the marker as the last batch
    /// left it (those keys keep only the idle-time check).
    mutating func finish(on connection: RedisConnection) {
        guard let marker, !valueSumOff, summedBatches > recordedBatches else { return }
        let fields = (recordedBatches..<summedBatches).map { Array("pend:\(pendTag):\($0)".utf8) }
        do {
            _ = try connection.command([Array("MULTI".utf8)])
            if quiet != nil { _ = try connection.command(Self.infoPersistence) }
            _ = try connection.command([Array("HINCRBY".utf8), marker, Array("valuesum".utf8), Array(String(unrecordedValueSum).utf8)])
            _ = try connection.command([Array("HDEL".utf8), marker] + fields)
            if quiet != nil { _ = try connection.command(Self.infoPersistence) }
            let exec = try connection.command([Array("EXEC".utf8)])
            if let quiet {
                let items = exec.elements
                quiet.transaction(start: items.first?.string, end: items.count == 4 ? items[3].string : nil)
            }
            recordedBatches = summedBatches
            unrecordedValueSum = 0
        } catch {
            _ = try? connection.command([Array("DISCARD".utf8)])
            quiet?.unprobedWrite()
        }
    }

    /// Abandons a batch cut short by an error before `close`: its deferred strings are dropped
    /// unsent and its transaction `DISCARD`ed (none of its keys are written), so the connection
    /// is out of `MULTI` for what follows. The replies stay owed; the next command's `drain`
    /// reads them.
    mutating func abandon(on connection: RedisConnection) {
        connection.discardStringGroup()
        if restores > 0, marker != nil { connection.send("DISCARD") }
        restores = 0
        persistent = 0
        persistentSum = 0
        commands = 0
        keyCommand.removeAll(keepingCapacity: true)
        pendingGroup.removeAll(keepingCapacity: true)
        weights.removeAll(keepingCapacity: true)
        batchNames.removeAll(keepingCapacity: true)
    }

    /// Takes the keys a closed batch's server refused (`results`, one a key) out of
    /// `persistentsum`: they were counted in its transaction but not written. Nothing when the
    /// transaction was aborted at queue time (`executed` false: its counters never ran). Call on the error
    /// path, once the connection owes no reply; best effort (a shadow whose sum stays too high
    /// is left as it is, never flushed with someone else's key).
    static func uncount(_ results: [RESPValue], of sent: Sent, executed: Bool, on connection: RedisConnection) {
        guard let marker = sent.marker, sent.transaction, executed else { return }
        var amount: Int64 = 0
        for (index, result) in results.enumerated() where index < sent.weights.count {
            if case .error = result { amount += sent.weights[index] }
        }
        guard amount > 0 else { return }
        _ = try? connection.command([Array("HINCRBY".utf8), marker, Array("persistentsum".utf8), Array(String(-amount).utf8)])
    }

    /// One result a key, in the keys' order, from the write commands' results.
    static func perKey(_ commandResults: [RESPValue], _ sent: Sent) -> [RESPValue] {
        guard !sent.keyCommand.isEmpty else { return commandResults }
        return sent.keyCommand.map { $0 >= 0 && $0 < commandResults.count ? commandResults[$0] : .error("no reply for this key's write") }
    }

    /// Reads the replies of a closed batch: one result per RESTORE (`.error` for a refused key).
    /// Throws `errorCode` when the counters could not be kept (the marker is gone or not a hash):
    /// the keys of that batch are then not provably Ferry's, and the run must stop.
    /// The counters each batch's transaction ends with: `wrote`, `wrotepersistent`,
    /// `persistentsum`, and the `touched` stamp (`RedisOwnership.touchScript`).
    static let counters = 4
    private static let touchScript = Array(RedisOwnership.touchScript.utf8)

    static func results(of sent: Sent, on connection: RedisConnection, errorCode: ErrorCode) throws -> [RESPValue] {
        try outcome(of: sent, on: connection, errorCode: errorCode).results
    }

    /// `results`, and whether the batch's transaction ran (`EXEC` ran it, its counters kept) or
    /// was aborted whole at queue time (an `OOM` or ACL refusal while queuing: nothing of it,
    /// counters included, was written), which `uncount` must know.
    /// `quiet`: where the transaction was probed, gets its write counters (`RedisQuietLoad`).
    static func outcome(of sent: Sent, on connection: RedisConnection, errorCode: ErrorCode,
                        quiet: RedisQuietLoad? = nil) throws -> (results: [RESPValue], executed: Bool) {
        let commands = sent.commands
        guard sent.transaction else {
            return (perKey(try (0..<commands).map { _ in try connection.readReply() }, sent), false)
        }
        _ = try connection.readReply()  // MULTI
        var queued: [RESPValue] = []
        let counters = sent.counters
        // The opening `INFO persistence` of a probed transaction comes before the writes.
        let lead = sent.probed ? 1 : 0
        queued.reserveCapacity(lead + commands + counters)
        for _ in 0..<(lead + commands + counters) { queued.append(try connection.readReply()) }
        if lead > 0 { queued.removeFirst() }
        let exec = try connection.readReply()
        guard case .array(var items?) = exec, items.count == lead + commands + counters else {
            // A queue-time error aborts the whole transaction (nothing of it ran). One of the
            // marker's counters (the user's rules changed during the run: fresh tester round 33,
            // F8, reported as EXECABORT on a key) is the marker's; else it is reported on the
            // key it belongs to, or the EXEC error on the first.
            for counter in queued.suffix(counters) {
                if case .error(let message) = counter {
                    while connection.pendingReplies > 0 { _ = try connection.readReply() }
                    throw FerryError(errorCode, "Redis at \(connection.host):\(connection.port): the shadow's marker could not count the keys written into it: \(message)",
                                     hint: "the user's rights on Ferry's `__ferry:*` keys, or the marker itself, changed while the shadow was built; nothing of this batch was written and nothing was swapped in")
                }
            }
            var out = perKey(Array(queued.prefix(commands)), sent)
            if !out.contains(where: { if case .error = $0 { true } else { false } }) {
                if case .error(let message) = exec { out[0] = .error(message) } else { out[0] = .error("EXEC failed") }
            }
            return (out, false)
        }
        if lead > 0 {
            quiet?.transaction(start: items.removeFirst().string, end: items.last?.string)
        }
        for counter in items.suffix(counters) {
            if case .error(let message) = counter {
                while connection.pendingReplies > 0 { _ = try connection.readReply() }
                throw FerryError(errorCode, "Redis at \(connection.host):\(connection.port): the shadow's marker could not count the keys written into it: \(message)",
                                 hint: "something changed Ferry's marker in the shadow while it was built; nothing was swapped in")
            }
        }
        return (perKey(Array(items.prefix(commands)), sent), true)
    }
}
