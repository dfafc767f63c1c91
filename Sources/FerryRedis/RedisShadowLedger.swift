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
/// per command, then `EXEC`'s array with one result per RESTORE and the two HINCRBY results.
struct RedisShadowLedger {
    /// The marker hash of the run's shadow (`__ferry:shadow:RUN`); nil: keys are not counted
    /// (plain pipelined RESTOREs, for a database that is not a shadow).
    let marker: [UInt8]?
    private var restores = 0
    private var persistent = 0

    /// How the replies of a closed batch are laid out: `restores` RESTOREs, in a transaction or not.
    struct Sent {
        var restores = 0
        var transaction = false
    }

    init(marker: String?) { self.marker = marker.map { Array($0.utf8) } }

    /// Call before sending each RESTORE of the batch (opens the transaction on the first).
    mutating func willRestore(on connection: RedisConnection, persistent isPersistent: Bool) {
        if restores == 0, marker != nil { connection.send("MULTI") }
        restores += 1
        if isPersistent { persistent += 1 }
    }

    /// Closes the batch (the counters and `EXEC`) and starts the next; returns the reply layout.
    mutating func close(on connection: RedisConnection) -> Sent {
        defer { restores = 0; persistent = 0 }
        guard restores > 0 else { return Sent() }
        guard let marker else { return Sent(restores: restores, transaction: false) }
        connection.send([Array("HINCRBY".utf8), marker, Array("wrote".utf8), Array(String(restores).utf8)])
        connection.send([Array("HINCRBY".utf8), marker, Array("wrotepersistent".utf8), Array(String(persistent).utf8)])
        connection.send("EXEC")
        return Sent(restores: restores, transaction: true)
    }

    /// Abandons a batch cut short by an error before `close`: `DISCARD`s its transaction (none
    /// of its keys are written), so the connection is out of `MULTI` for what follows. The
    /// replies stay owed; the next command's `drain` reads them.
    mutating func abandon(on connection: RedisConnection) {
        if restores > 0, marker != nil { connection.send("DISCARD") }
        restores = 0
        persistent = 0
    }

    /// Reads the replies of a closed batch: one result per RESTORE (`.error` for a refused key).
    /// Throws `errorCode` when the counters could not be kept (the marker is gone or not a hash):
    /// the keys of that batch are then not provably Ferry's, and the run must stop.
    static func results(of sent: Sent, on connection: RedisConnection, errorCode: ErrorCode) throws -> [RESPValue] {
        guard sent.transaction else {
            return try (0..<sent.restores).map { _ in try connection.readReply() }
        }
        _ = try connection.readReply()  // MULTI
        var queued: [RESPValue] = []
        queued.reserveCapacity(sent.restores + 2)
        for _ in 0..<(sent.restores + 2) { queued.append(try connection.readReply()) }
        let exec = try connection.readReply()
        guard case .array(let items?) = exec, items.count == sent.restores + 2 else {
            // A queue-time error aborts the whole transaction (nothing of it ran): report it on
            // the key it belongs to, or the EXEC error on the first.
            var out = Array(queued.prefix(sent.restores))
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
        return Array(items.prefix(sent.restores))
    }
}
