import FerryCore
import FerryIO
import Foundation

/// An order-independent digest of a database's keys by type-aware content: sets and hashes are
/// sorted, zsets and lists kept in order, streams by entries. DUMP bytes are not compared, since a
/// hash-table encoded set or hash can serialize in another order after RESTORE. TTLs count only as
/// "has a TTL" (the remaining milliseconds drift while the copy runs); stream consumer groups are
/// not compared.
enum RedisKeyDigest {
    struct Result { var count: Int64; var sum: UInt64 }

    static func digest(_ connection: RedisConnection) throws -> Result {
        var result = Result(count: 0, sum: 0)
        try connection.drain()
        var cursor = "0"
        repeat {
            let reply = try connection.command("SCAN", cursor, "COUNT", "2000")
            let parts = reply.elements
            guard parts.count == 2, let next = parts[0].string else { throw RedisReplyError(message: "unexpected SCAN reply") }
            cursor = next
            let keys = parts[1].elements.compactMap(\.bytes).filter { !RedisSession.markers.contains($0) }
            for key in keys {
                connection.send([Array("TYPE".utf8), key])
                connection.send([Array("PTTL".utf8), key])
            }
            try connection.flush()
            var typed: [([UInt8], String, Bool)] = []
            for key in keys {
                let type = try connection.readReply().string ?? "none"
                let ttl = try connection.readReply().integer ?? -2
                typed.append((key, type, ttl >= 0))
            }
            for (key, type, _) in typed {
                switch type {
                case "string": connection.send([Array("GET".utf8), key])
                case "list": connection.send([Array("LRANGE".utf8), key, Array("0".utf8), Array("-1".utf8)])
                case "set": connection.send([Array("SMEMBERS".utf8), key])
                case "zset": connection.send([Array("ZRANGE".utf8), key, Array("0".utf8), Array("-1".utf8), Array("WITHSCORES".utf8)])
                case "hash": connection.send([Array("HGETALL".utf8), key])
                case "stream": connection.send([Array("XRANGE".utf8), key, Array("-".utf8), Array("+".utf8)])
                default: connection.send([Array("TYPE".utf8), key])
                }
            }
            try connection.flush()
            for (key, type, hasTTL) in typed {
                let content = try connection.readReply()
                if case .error(let message) = content { throw RedisReplyError(message: message) }
                if type == "none" { continue }
                var bytes: [UInt8] = []
                append(key, to: &bytes)
                append(Array(type.utf8), to: &bytes)
                bytes.append(hasTTL ? 1 : 0)
                switch type {
                case "set":
                    for m in content.elements.compactMap(\.bytes).sorted(by: { $0.lexicographicallyPrecedes($1) }) { append(m, to: &bytes) }
                case "hash":
                    let flat = content.elements.compactMap(\.bytes)
                    var pairs: [([UInt8], [UInt8])] = []
                    var i = 0
                    while i + 1 < flat.count { pairs.append((flat[i], flat[i + 1])); i += 2 }
                    for (f, v) in pairs.sorted(by: { $0.0.lexicographicallyPrecedes($1.0) }) { append(f, to: &bytes); append(v, to: &bytes) }
                default:
                    flatten(content, into: &bytes)
                }
                let hash = Digest.sha256Bytes(bytes)
                var word: UInt64 = 0
                for b in hash.prefix(8) { word = word << 8 | UInt64(b) }
                result.sum &+= word
                result.count += 1
            }
        } while cursor != "0"
        return result
    }

    private static func append(_ item: [UInt8], to bytes: inout [UInt8]) {
        var n = UInt32(item.count).bigEndian
        withUnsafeBytes(of: &n) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: item)
    }

    private static func flatten(_ value: RESPValue, into bytes: inout [UInt8]) {
        switch value {
        case .array(let items?):
            bytes.append(UInt8(ascii: "["))
            for item in items { flatten(item, into: &bytes) }
            bytes.append(UInt8(ascii: "]"))
        default:
            append(value.bytes ?? [], to: &bytes)
        }
    }
}
