import FerryCore
import Foundation

/// What keeps a shadow's marker an upper bound of what Ferry wrote into the shadow: every batch
/// of RESTOREs that a copy, a clone or an import sends into a shadow goes inside one
/// `MULTI`/`EXEC` together with `HINCRBY marker wrote N` and `HINCRBY marker wrotepersistent P`
/// (N keys sent, P of them without a TTL). Redis runs a transaction whole or not at all (a
/// connection that dies before `EXEC` discards it), so at every moment the shadow holds at most
/// `wrote` keys of Ferry's plus the marker, and at most `wrotepersistent` keys without a TTL
/// (keys that expire or that a later RESTORE replaces only lower the counts). A shadow holding
/// more than that holds keys Ferry did not write, and `RedisOwnership.guardedFlushScript` leaves
/// it as it is.
///
/// Replies of one closed batch, in order: `+OK` (MULTI), one `+QUEUED` (or a queue-time error)
/// per command, then `EXEC`'s array with one result per write command and the two HINCRBY
/// results. A write command is one key's (`SET`, `RESTORE`) or an `MSET` of the strings without
/// a TTL `RedisConnection.sendWrite` deferred (`flushGroup`: at the batch's end, or before a key
/// that may repeat one of them, so that the later write still wins), whose reply is each of
/// those keys' result.
struct RedisShadowLedger {
    /// The marker hash of the run's shadow (`__ferry:shadow:RUN`); nil: keys are not counted
    /// (plain pipelined RESTOREs, for a database that is not a shadow).
    let marker: [UInt8]?
    private var restores = 0
    private var persistent = 0
    /// For each key of the open batch, in order, the index of the write command that carries it
    /// (-1: in the `MSET` not sent yet, whose keys `pendingGroup` lists).
    private var keyCommand: [Int] = []
    private var pendingGroup: [Int] = []
    private var commands = 0

    /// How the replies of a closed batch are laid out: `restores` keys, in a transaction or not,
    /// `commands` write commands, and which command carries each key (empty: one a key, in order).
    struct Sent {
        var restores = 0
        var transaction = false
        var commands = 0
        var keyCommand: [Int] = []
    }

    init(marker: String?) { self.marker = marker.map { Array($0.utf8) } }

    /// Call before sending each key's write (opens the transaction on the first).
    mutating func willRestore(on connection: RedisConnection, persistent isPersistent: Bool) {
        if restores == 0, marker != nil { connection.send("MULTI") }
        restores += 1
        if isPersistent { persistent += 1 }
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
        defer { restores = 0; persistent = 0; commands = 0; keyCommand.removeAll(keepingCapacity: true) }
        guard restores > 0 else { return Sent() }
        precondition(keyCommand.count == restores, "each key of a batch says how it was sent")
        var sent = Sent(restores: restores, transaction: false, commands: commands, keyCommand: commands == restores ? [] : keyCommand)
        guard let marker else { return sent }
        connection.send([Array("HINCRBY".utf8), marker, Array("wrote".utf8), Array(String(restores).utf8)])
        connection.send([Array("HINCRBY".utf8), marker, Array("wrotepersistent".utf8), Array(String(persistent).utf8)])
        connection.send("EXEC")
        sent.transaction = true
        return sent
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
        commands = 0
        keyCommand.removeAll(keepingCapacity: true)
        pendingGroup.removeAll(keepingCapacity: true)
    }

    /// One result a key, in the keys' order, from the write commands' results.
    static func perKey(_ commandResults: [RESPValue], _ sent: Sent) -> [RESPValue] {
        guard !sent.keyCommand.isEmpty else { return commandResults }
        return sent.keyCommand.map { $0 >= 0 && $0 < commandResults.count ? commandResults[$0] : .error("no reply for this key's write") }
    }

    /// Reads the replies of a closed batch: one result per RESTORE (`.error` for a refused key).
    /// Throws `errorCode` when the counters could not be kept (the marker is gone or not a hash):
    /// the keys of that batch are then not provably Ferry's, and the run must stop.
    static func results(of sent: Sent, on connection: RedisConnection, errorCode: ErrorCode) throws -> [RESPValue] {
        let commands = sent.commands
        guard sent.transaction else {
            return perKey(try (0..<commands).map { _ in try connection.readReply() }, sent)
        }
        _ = try connection.readReply()  // MULTI
        var queued: [RESPValue] = []
        queued.reserveCapacity(commands + 2)
        for _ in 0..<(commands + 2) { queued.append(try connection.readReply()) }
        let exec = try connection.readReply()
        guard case .array(let items?) = exec, items.count == commands + 2 else {
            // A queue-time error aborts the whole transaction (nothing of it ran). One of the
            // marker's counters (the user's rules changed during the run: fresh tester round 33,
            // F8, reported as EXECABORT on a key) is the marker's; else it is reported on the
            // key it belongs to, or the EXEC error on the first.
            for counter in queued.suffix(2) {
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
            return out
        }
        for counter in items.suffix(2) {
            if case .error(let message) = counter {
                while connection.pendingReplies > 0 { _ = try connection.readReply() }
                throw FerryError(errorCode, "Redis at \(connection.host):\(connection.port): the shadow's marker could not count the keys written into it: \(message)",
                                 hint: "something changed Ferry's marker in the shadow while it was built; nothing was swapped in")
            }
        }
        return perKey(Array(items.prefix(commands)), sent)
    }
}
