import FerryCore
import FerryIO
import Foundation

/// A point-in-time RDB snapshot of a whole server, read the way a replica reads its first full
/// sync: `PSYNC ? -1` makes the server fork and serialize its data set, and the RDB comes down the
/// connection as a stream. The fork is the server's own, so the snapshot is consistent even while
/// clients write, and serializing in the fork is cheaper for the server than answering a DUMP per
/// key. Servers that refuse replication (managed services, ACL users without `+psync`) make
/// `open` throw `Refused`, and callers fall back to SCAN.
final class RedisSnapshotReader: ByteReader {
    struct Refused: Error, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }

    private let connection: RedisConnection
    private(set) var sourceBytesRead: Int64 = 0
    /// Payload bytes still to come for a `$<length>` transfer; nil for an EOF-marked one, whose
    /// end the RDB parser finds by itself (the EOF opcode and checksum come before the mark).
    private var remaining: Int64?

    private init(connection: RedisConnection, remaining: Int64?) {
        self.connection = connection
        self.remaining = remaining
    }

    /// Starts the snapshot of the server behind `endpoint`. A server set to stream snapshots
    /// straight to sockets after a delay (`repl-diskless-sync-delay`, 5 s by default) would wait
    /// that long for other replicas; if it keeps RDB files anyway (`save` set), the request leaves
    /// out the `eof` capability, which makes it write the snapshot to its own `dir` first (as any
    /// replica's full sync does); if it keeps none, the snapshot is refused and SCAN reads instead.
    /// Where CONFIG is not allowed, the snapshot streams (and may wait out the delay).
    static func open(_ endpoint: RedisEndpoint, for database: Int? = nil) throws -> RedisSnapshotReader {
        let connection = try endpoint.open()
        do {
            if let database, let reason = try Self.scanIsCheaper(connection, database: database) {
                throw Refused(reason: reason)
            }
            var diskless = true
            if let settings = try? Self.config(connection, "repl-diskless-sync*", "save") {
                let delay = settings["repl-diskless-sync-delay"].flatMap(Int.init) ?? 0
                let streamsAtOnce = settings["repl-diskless-sync"] == "yes"
                    && (delay == 0 || settings["repl-diskless-sync-max-replicas"] == "1")
                if !streamsAtOnce {
                    // Through the disk only where the server keeps RDB snapshots anyway: on a server
                    // without them, the file a disk-based sync leaves would be loaded at its next
                    // restart. There, SCAN rather than waiting out the delay.
                    guard let save = settings["save"], !save.isEmpty else {
                        throw Refused(reason: "the server streams snapshots only after a \(delay) s delay and keeps no RDB file")
                    }
                    diskless = false
                }
            }
            if diskless { try connection.command("REPLCONF", "capa", "eof") }
            // Redis 7 and later: the snapshot only, no command stream after it.
            _ = try? connection.command("REPLCONF", "rdb-only", "1")
            connection.send("PSYNC", "?", "-1")
            try connection.flush()
            while true {
                let line = try readHeaderLine(connection)
                if line.isEmpty || line.hasPrefix("+") { continue } // keep-alive newlines, +FULLRESYNC
                if line.hasPrefix("-") { throw Refused(reason: String(line.dropFirst())) }
                if line.hasPrefix("$EOF:") {
                    return RedisSnapshotReader(connection: connection, remaining: nil)
                }
                if line.hasPrefix("$"), let length = Int64(line.dropFirst()) {
                    return RedisSnapshotReader(connection: connection, remaining: length)
                }
                throw Refused(reason: "unexpected replication reply: \(line.prefix(60))")
            }
        } catch let error as RedisReplyError {
            connection.close()
            throw Refused(reason: error.message)
        } catch let error as FerryError {
            // The server closed the connection before the payload (e.g. its snapshot failed).
            connection.close()
            throw Refused(reason: error.message)
        } catch {
            connection.close()
            throw error
        }
    }

    /// Configuration values by name (CONFIG GET patterns); throws where CONFIG is not allowed.
    static func config(_ connection: RedisConnection, _ patterns: String...) throws -> [String: String] {
        var settings: [String: String] = [:]
        for pattern in patterns {
            let values = try connection.command("CONFIG", "GET", pattern).elements.compactMap(\.string)
            var i = 0
            while i + 1 < values.count { settings[values[i]] = values[i + 1]; i += 2 }
        }
        return settings
    }

    /// A snapshot carries every database of the server: for one database that holds a small share
    /// of a big server's keys, SCAN reads far less. The reason when SCAN is the better way.
    static func scanIsCheaper(_ connection: RedisConnection, database: Int) throws -> String? {
        guard case .bulk(let bytes?) = try connection.command("INFO", "keyspace") else { return nil }
        var total: Int64 = 0
        var mine: Int64 = 0
        for line in String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline) where line.hasPrefix("db") {
            guard let colon = line.firstIndex(of: ":"), let n = Int(line[line.index(line.startIndex, offsetBy: 2)..<colon]),
                  let keys = line[line.index(after: colon)...].split(separator: ",").first(where: { $0.hasPrefix("keys=") })
                    .flatMap({ Int64($0.dropFirst(5)) }) else { continue }
            total += keys
            if n == database { mine = keys }
        }
        if total <= 100_000 || mine * 4 >= total { return nil }
        return "database \(database) holds \(mine) of the server's \(total) keys"
    }

    /// One line of the replication handshake, without its line end; bare newlines are the keep-
    /// alives a server sends while it prepares the snapshot.
    private static func readHeaderLine(_ connection: RedisConnection) throws -> String {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = try withUnsafeMutableBytes(of: &byte) { try connection.readRaw(into: $0) }
            if n == 0 { throw FerryError(.copyError, "Redis at \(connection.host):\(connection.port) closed the replication connection") }
            if byte == 10 { break }
            if byte != 13 { line.append(byte) }
            if line.count > 4096 { throw Refused(reason: "the replication handshake line is too long") }
        }
        return String(decoding: line, as: UTF8.self)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var target = buffer
        if let remaining {
            if remaining == 0 { return 0 }
            if Int64(buffer.count) > remaining { target = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(remaining)]) }
        }
        let n = try connection.readRaw(into: target)
        sourceBytesRead += Int64(n)
        if remaining != nil { remaining! -= Int64(n) }
        return n
    }

    func close() { connection.close() }
}

extension RedisSnapshotReader {
    /// Runs `body` on a snapshot of `endpoint` when the server grants one and `database` holds
    /// enough of its keys, or returns nil (then the caller reads with SCAN instead).
    static func withSnapshot<T>(of endpoint: RedisEndpoint, database: Int, _ body: (RedisSnapshotReader) throws -> T) throws -> T? {
        let reader: RedisSnapshotReader
        do {
            reader = try open(endpoint, for: database)
        } catch is Refused {
            return nil
        }
        defer { reader.close() }
        return try body(reader)
    }
}
