import FerryCore
import Foundation

/// Writes one database as an RDB file from DUMP-shaped payloads: each payload's value bytes are
/// exactly an RDB value of the payload's RDB version, so the file is one `redis-server` could
/// load too. The keys come from a server snapshot (consistent at one moment) when the server
/// grants one, else from SCAN (consistent only if no one writes during the backup).
final class RDBBackupWriter {
    private let writer: BufferedFileWriter
    private var version: Int?
    private(set) var stats = TransferStats()
    /// Keys written with a TTL (they may expire before a restore).
    private(set) var volatileKeys: Int64 = 0

    init(file: URL) throws {
        writer = try BufferedFileWriter(path: file.path)
    }

    private func header(_ v: Int) throws {
        try writer.write(Array(("REDIS" + String(format: "%04d", v)).utf8))
        try writer.write([0xFA]); try writer.writeString(Array("ferry".utf8)); try writer.writeString(Array("1".utf8))
        try writer.write([0xFE, 0x00])
    }

    /// Adds one key; `expireAtMs` is absolute Unix milliseconds.
    func add(key: [UInt8], payload: [UInt8], expireAtMs: Int64?) throws {
        guard payload.count >= 11 else { return }
        if version == nil {
            let v = Int(payload[payload.count - 10]) | Int(payload[payload.count - 9]) << 8
            version = v
            try header(v)
        }
        if let expireAtMs {
            volatileKeys += 1
            try writer.write([0xFC])
            var at = UInt64(bitPattern: expireAtMs).littleEndian
            try withUnsafeBytes(of: &at) { try writer.write(Array($0)) }
        }
        try writer.write([payload[0]])
        try writer.writeString(key)
        try writer.write(payload[1..<(payload.count - 10)])
        stats.rows += 1
        stats.bytes += Int64(payload.count)
    }

    /// Ends the file with the EOF opcode and its CRC64, and syncs it.
    func finish() throws -> TransferStats {
        if version == nil { try header(9) }
        try writer.write([0xFF])
        // The CRC64 covers every byte before it, the EOF opcode included: the buffer goes out
        // first (round 35b, F3: it was read with the last megabyte still buffered).
        try writer.flush()
        var sum = writer.crc.value.littleEndian
        try withUnsafeBytes(of: &sum) { try writer.write(Array($0)) }
        try writer.close()
        return stats
    }

    /// Backs up database `database` of the server behind `endpoint`.
    static func write(from endpoint: RedisEndpoint, database: Int, to file: URL, progress: ProgressCounter) throws -> TransferStats {
        let out = try RDBBackupWriter(file: file)
        let name = "Redis at \(endpoint.host):\(endpoint.port) database \(database)"
        let fromSnapshot = try RDBStream.asRunFailure(.copyError) { try RedisSnapshotReader.withSnapshot(of: endpoint, database: database) { reader in
            let stream = RDBStream(reader: reader, name: name)
            stream.onlyDatabase = database
            try stream.readHeader()
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            var lastBytes: Int64 = 0
            while let entry = try stream.next() {
                if let at = entry.expireAtMs, at <= now { continue }
                try out.add(key: entry.key, payload: entry.payload, expireAtMs: entry.expireAtMs)
                if out.stats.rows % 1000 == 0 {
                    progress.add(bytes: reader.sourceBytesRead - lastBytes, rows: 1000)
                    try progress.checkCancelled()
                    lastBytes = reader.sourceBytesRead
                }
            }
            progress.add(bytes: reader.sourceBytesRead - lastBytes, rows: out.stats.rows % 1000)
            return true
        } }
        if fromSnapshot == nil {
            let source = try endpoint.open()
            defer { source.close() }
            try source.command("SELECT", String(database))
            do {
                try RedisKeyScanner.scan(source) { batch in
                    let now = Int64(Date().timeIntervalSince1970 * 1000)
                    for key in batch {
                        try out.add(key: key.key, payload: key.payload, expireAtMs: key.ttl > 0 ? now + key.ttl : nil)
                    }
                    progress.add(bytes: 0, rows: Int64(batch.count))
                }
            } catch let error as RedisReplyError {
                throw FerryError(.copyError, "Redis failed while being backed up: \(error.message)")
            }
        }
        var stats = try out.finish()
        // What the file holds, for the set's manifest: a server snapshot names each key once; SCAN
        // may return a key twice (written twice into the file), so its count is an upper bound.
        stats.tables = [.init(name: fromSnapshot != nil ? RedisBackupCounts.keys : RedisBackupCounts.atMostKeys, rows: out.stats.rows, checksum: nil),
                        .init(name: RedisBackupCounts.volatileKeys, rows: out.volatileKeys, checksum: nil)]
        return stats
    }
}

/// The names under which a Redis backup set's manifest records what its file holds.
enum RedisBackupCounts {
    static let keys = "keys"
    static let volatileKeys = "keys with a TTL"
    /// A set read with SCAN, which may return a key twice: the file holds at most this many keys.
    static let atMostKeys = "keys at most"

    /// A restore holds what the set recorded: no more keys than the file's, and no fewer than
    /// those without a TTL (a key with one may have expired since the set was taken).
    static func differences(ofRestored report: VerifyReport, from recorded: [VerifyReport.Table]) -> [String] {
        let exact = recorded.first { $0.name == Self.keys }?.rows
        guard let keys = exact ?? recorded.first(where: { $0.name == Self.atMostKeys })?.rows else { return [] }
        let volatile = recorded.first { $0.name == Self.volatileKeys }?.rows ?? 0
        guard let restored = report.tables.first(where: { $0.name == Self.keys })?.rows else {
            return ["the restored database's keys were not counted"]
        }
        if exact == nil, restored > keys {
            return ["the restored database holds \(restored) keys; the set recorded at most \(keys)"]
        }
        if exact != nil, restored > keys || restored < keys - volatile {
            return ["the restored database holds \(restored) keys; the set recorded \(keys) (\(volatile) with a TTL)"]
        }
        return []
    }
}

/// Appends to a new file through a 1 MiB buffer, keeping the RDB CRC64 of everything written
/// out (`crc` covers what `flush` wrote, not the buffer).
final class BufferedFileWriter {
    private let file: RawFile
    private var buffer: [UInt8] = []
    private(set) var crc = CRC64()

    init(path: String) throws {
        file = try RawFile.open(path, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600, what: "cannot create", as: .copyError)
        buffer.reserveCapacity(1 << 20)
    }

    func write<C: Collection<UInt8>>(_ bytes: C) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20 { try flush() }
    }

    func writeString(_ bytes: [UInt8]) throws {
        let n = bytes.count
        if n < 64 {
            try write([UInt8(n)])
        } else if n < 16384 {
            try write([UInt8(0x40 | (n >> 8)), UInt8(n & 0xFF)])
        } else {
            try write([0x80, UInt8((n >> 24) & 0xFF), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)])
        }
        try write(bytes)
    }

    func flush() throws {
        crc.update(buffer)
        try file.write(buffer, as: .copyError)
        buffer.removeAll(keepingCapacity: true)
    }

    func close() throws {
        try flush()
        try file.sync(as: .copyError)
    }
}
