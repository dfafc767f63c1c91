import FerryCore
import FerryIO
import Foundation

/// One key of an RDB file, ready for `RESTORE`.
struct RDBEntry {
    var key: [UInt8]
    /// The value as a DUMP payload: type byte, value bytes, RDB version (LE), CRC64 (LE).
    var payload: [UInt8]
    /// Absolute expiry in Unix milliseconds, if any.
    var expireAtMs: Int64?
    /// Byte offset of the key's record in the (uncompressed) file.
    var offset: Int64
}

/// Reads an RDB file as a stream, only far enough to find each key and the byte extent of its
/// value; the value bytes are copied, not decoded. Buffers 1 MiB of the file at a time plus the
/// one value being read.
final class RDBStream {
    private let reader: any ByteReader
    let name: String
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var isAtEnd = false
    /// Offset in the file of `buffer[start]`.
    private(set) var offset: Int64 = 0
    private var crc = CRC64()
    private var crcFrom = 0
    private var capture: [UInt8] = []
    private var isCapturing = false
    private var currentKey: [UInt8]?
    private(set) var version = 0
    /// The database the records being read belong to (the last SELECTDB opcode).
    private(set) var database = 0
    /// When set, keys of other databases are skipped without being captured.
    var onlyDatabase: Int?

    init(reader: any ByteReader, name: String) {
        self.reader = reader
        self.name = name
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    }

    deinit { buffer.deallocate() }

    // MARK: Errors

    func corrupt(_ what: String, at position: Int64? = nil) -> FerryError {
        let key = currentKey.map { ", key \"\(String(decoding: $0.prefix(200), as: UTF8.self))\"" } ?? ""
        return FerryError(.importError, "\(name): \(what) (byte offset \(position ?? offset)\(key))",
                          hint: "the file is not a complete RDB file Ferry can read; nothing was loaded into the target")
    }

    // MARK: Bytes

    /// Reads more of the file; false at its end.
    private func refill() throws -> Bool {
        if isAtEnd { return false }
        crc.update(UnsafeRawBufferPointer(rebasing: buffer[crcFrom..<start]))
        let unread = end - start
        if start > 0 {
            if unread > 0 { memmove(buffer.baseAddress!, buffer.baseAddress! + start, unread) }
            start = 0; end = unread
        }
        crcFrom = 0
        let n = try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
        if n == 0 { isAtEnd = true; return false }
        end += n
        return true
    }

    private func need(_ n: Int) throws {
        while end - start < n {
            guard try refill() else { throw corrupt("the file ends in the middle of a record") }
        }
    }

    func byte() throws -> UInt8 {
        if start == end { try need(1) }
        let b = buffer[start]
        start += 1; offset += 1
        if isCapturing { capture.append(b) }
        return b
    }

    /// The next byte, or nil at the end of the file.
    func byteOrEnd() throws -> UInt8? {
        if start == end, !(try refill()) { return nil }
        return try byte()
    }

    func skip(_ count: Int) throws {
        var n = count
        while n > 0 {
            if start == end { try need(1) }
            let m = min(n, end - start)
            if isCapturing { capture.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[start..<(start + m)])) }
            start += m; offset += Int64(m); n -= m
        }
    }

    func bytes(_ count: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        var n = count
        while n > 0 {
            if start == end { try need(1) }
            let m = min(n, end - start)
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[start..<(start + m)])
            out.append(contentsOf: chunk)
            if isCapturing { capture.append(contentsOf: chunk) }
            start += m; offset += Int64(m); n -= m
        }
        return out
    }

    func littleEndian(_ count: Int) throws -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<count { v |= UInt64(try byte()) << (8 * UInt64(i)) }
        return v
    }

    // MARK: RDB primitives

    /// A length, or (for strings) a special encoding number when `isEncoded`.
    func length() throws -> (value: UInt64, isEncoded: Bool) {
        let b = try byte()
        switch b >> 6 {
        case 0: return (UInt64(b & 0x3F), false)
        case 1: return (UInt64(b & 0x3F) << 8 | UInt64(try byte()), false)
        case 2:
            let count = b == 0x80 ? 4 : b == 0x81 ? 8 : 0
            guard count > 0 else { throw corrupt("unknown length encoding 0x\(String(b, radix: 16))", at: offset - 1) }
            var v: UInt64 = 0
            for _ in 0..<count { v = v << 8 | UInt64(try byte()) }
            return (v, false)
        default: return (UInt64(b & 0x3F), true)
        }
    }

    func plainLength() throws -> Int {
        let at = offset
        let (v, encoded) = try length()
        guard !encoded, v < UInt64(Int.max / 2) else { throw corrupt("a length is malformed", at: at) }
        return Int(v)
    }

    func skipString() throws {
        let at = offset
        let (v, encoded) = try length()
        if !encoded {
            guard v < UInt64(Int.max / 2) else { throw corrupt("a string length is malformed", at: at) }
            try skip(Int(v)); return
        }
        switch v {
        case 0: try skip(1)
        case 1: try skip(2)
        case 2: try skip(4)
        case 3:
            let compressed = try plainLength()
            _ = try plainLength()
            try skip(compressed)
        default: throw corrupt("unknown string encoding \(v)", at: at)
        }
    }

    func string() throws -> [UInt8] {
        let at = offset
        let (v, encoded) = try length()
        if !encoded {
            guard v < UInt64(Int.max / 2) else { throw corrupt("a string length is malformed", at: at) }
            return try bytes(Int(v))
        }
        switch v {
        case 0: return Array(String(Int8(truncatingIfNeeded: try littleEndian(1))).utf8)
        case 1: return Array(String(Int16(truncatingIfNeeded: try littleEndian(2))).utf8)
        case 2: return Array(String(Int32(truncatingIfNeeded: try littleEndian(4))).utf8)
        case 3:
            let compressed = try plainLength()
            let size = try plainLength()
            let data = try bytes(compressed)
            guard let out = Self.lzfDecompress(data, size: size) else { throw corrupt("an LZF-compressed string does not decompress", at: at) }
            return out
        default: throw corrupt("unknown string encoding \(v)", at: at)
        }
    }

    static func lzfDecompress(_ input: [UInt8], size: Int) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(size)
        var i = 0
        while i < input.count {
            let control = Int(input[i]); i += 1
            if control < 32 {
                let n = control + 1
                guard i + n <= input.count else { return nil }
                out.append(contentsOf: input[i..<(i + n)]); i += n
            } else {
                var n = control >> 5
                if n == 7 { guard i < input.count else { return nil }; n += Int(input[i]); i += 1 }
                guard i < input.count else { return nil }
                let reference = out.count - ((control & 0x1F) << 8) - 1 - Int(input[i]); i += 1
                n += 2
                guard reference >= 0 else { return nil }
                for k in 0..<n { out.append(out[reference + k]) }
            }
        }
        return out.count == size ? out : nil
    }

    // MARK: Structure

    func readHeader() throws {
        let magic = try bytes(9)
        guard magic.prefix(5).elementsEqual("REDIS".utf8), let v = Int(String(decoding: magic.suffix(4), as: UTF8.self)) else {
            throw corrupt("not an RDB file: it does not start with REDIS and a version", at: 0)
        }
        guard (1...12).contains(v) else { throw corrupt("RDB version \(v) is not supported (Ferry reads 1 to 12)", at: 5) }
        version = v
    }

    /// The next key, or nil after the EOF opcode (whose checksum is checked).
    func next() throws -> RDBEntry? {
        var expireAt: Int64?
        currentKey = nil
        while true {
            let at = offset
            guard let opcode = try byteOrEnd() else { throw corrupt("the file ends before its EOF marker") }
            switch opcode {
            case 0xFF:
                crc.update(UnsafeRawBufferPointer(rebasing: buffer[crcFrom..<start]))
                crcFrom = start
                if version >= 5 {
                    let expected = try littleEndian(8)
                    if expected != 0 && expected != crc.value {
                        throw corrupt("the file's CRC64 checksum does not match its contents", at: at)
                    }
                }
                return nil
            case 0xFE: database = try plainLength()
            case 0xFB: _ = try plainLength(); _ = try plainLength()
            case 0xFA: try skipString(); try skipString()
            case 0xFD: expireAt = Int64(try littleEndian(4)) * 1000
            case 0xFC: expireAt = Int64(bitPattern: try littleEndian(8))
            case 0xF9: try skip(1)
            case 0xF8: _ = try plainLength()
            case 0xF7:
                _ = try plainLength(); _ = try plainLength(); _ = try plainLength()
                try skipModuleValue()
            case 0xF5:
                // Functions are server-wide, not part of a database: not imported.
                try skipString()
            case 0xF4: _ = try plainLength(); _ = try plainLength(); _ = try plainLength()
            default:
                if let only = onlyDatabase, only != database {
                    try skipString()
                    try skipValue(type: opcode, at: at)
                    expireAt = nil
                    continue
                }
                let key = try string()
                currentKey = key
                capture.removeAll(keepingCapacity: true)
                capture.append(opcode)
                isCapturing = true
                defer { isCapturing = false }
                try skipValue(type: opcode, at: at)
                isCapturing = false
                capture.append(UInt8(version & 0xFF))
                capture.append(UInt8(version >> 8))
                var sum = CRC64.checksum(capture)
                withUnsafeBytes(of: &sum) { capture.append(contentsOf: $0) } // little endian on Linux
                return RDBEntry(key: key, payload: capture, expireAtMs: expireAt, offset: at)
            }
        }
    }

    private func skipModuleValue() throws {
        while true {
            let at = offset
            switch try plainLength() {
            case 0: return
            case 1, 2: _ = try length()
            case 3: try skip(4)
            case 4: try skip(8)
            case 5: try skipString()
            case let other: throw corrupt("unknown module value opcode \(other)", at: at)
            }
        }
    }

    private func skipValue(type: UInt8, at: Int64) throws {
        switch type {
        case 0: try skipString()
        case 1, 2:
            for _ in 0..<(try plainLength()) { try skipString() }
        case 3:
            for _ in 0..<(try plainLength()) {
                try skipString()
                let n = try byte()
                if n < 253 { try skip(Int(n)) }
            }
        case 4:
            for _ in 0..<(try plainLength()) { try skipString(); try skipString() }
        case 5:
            for _ in 0..<(try plainLength()) { try skipString(); try skip(8) }
        case 7:
            _ = try plainLength()
            try skipModuleValue()
        case 9, 10, 11, 12, 13, 16, 17, 20:
            try skipString()
        case 14:
            for _ in 0..<(try plainLength()) { try skipString() }
        case 18:
            for _ in 0..<(try plainLength()) { _ = try plainLength(); try skipString() }
        case 15, 19, 21:
            try skipStream(type: type)
        default:
            throw corrupt("value type \(type) is not supported (a newer Redis, a module, or a corrupt file)", at: at)
        }
    }

    private func skipStream(type: UInt8) throws {
        // Counts are checked lengths; ids and counters are any 64-bit value (-1 included).
        for _ in 0..<(try plainLength()) { try skipString(); try skipString() }
        for _ in 0..<(type >= 19 ? 8 : 3) { _ = try length() }
        for _ in 0..<(try plainLength()) {
            try skipString()
            for _ in 0..<(type >= 19 ? 3 : 2) { _ = try length() }
            for _ in 0..<(try plainLength()) { try skip(16 + 8); _ = try length() }
            for _ in 0..<(try plainLength()) {
                try skipString()
                try skip(8)
                if type >= 21 { try skip(8) }
                for _ in 0..<(try plainLength()) { try skip(16) }
            }
        }
    }
}

/// Loads one RDB stream into the connection's selected database with pipelined RESTOREs.
/// Keys whose expiry has already passed are skipped, as Redis itself does when a primary loads
/// an RDB file. Keys from every database of the file land in the one target database, unless
/// `database` names the one to take.
struct RDBImporter {
    let reader: any ByteReader
    let name: String
    let connection: RedisConnection
    /// Only this database of the stream (a server's snapshot holds all of them).
    var database: Int?
    /// Names of Ferry's markers in the target database: a key of the stream with one of them is
    /// refused (never skipped, never merged with the marker).
    var reserved: Set<[UInt8]> = []
    /// Collects the digest of every key sent, for verification without reading the source again.
    var digest: PayloadDigest?
    var errorCode: ErrorCode = .importError

    func run(progress: ProgressCounter) throws -> TransferStats {
        let stream = RDBStream(reader: reader, name: name)
        stream.onlyDatabase = database
        try stream.readHeader()
        var stats = TransferStats()
        var inFlight: [([UInt8], Int64)] = []
        var sending: [([UInt8], Int64)] = []
        var lastSourceBytes: Int64 = 0
        func readReplies() throws {
            for (key, offset) in inFlight {
                if case .error(let message) = try connection.readReply() {
                    while connection.pendingReplies > 0 { _ = try connection.readReply() }
                    throw FerryError(errorCode, "\(name): Redis refused key \"\(String(decoding: key.prefix(200), as: UTF8.self))\" (byte offset \(offset)): \(message)",
                                     hint: message.contains("payload version") ? "the data comes from a newer Redis than the target" : nil)
                }
            }
            inFlight.removeAll(keepingCapacity: true)
        }
        func flushBatch() throws {
            try connection.flush()
            try readReplies()
            swap(&inFlight, &sending)
            let sourceBytes = reader.sourceBytesRead
            progress.add(bytes: sourceBytes - lastSourceBytes)
            stats.bytes += sourceBytes - lastSourceBytes
            lastSourceBytes = sourceBytes
        }
        try connection.drain()
        var batchBytes = 0
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        while let entry = try stream.next() {
            if let expireAt = entry.expireAtMs, expireAt <= now { continue }
            if !reserved.isEmpty && reserved.contains(entry.key) { throw RedisOwnership.reservedKeyError(entry.key, errorCode: errorCode) }
            connection.sendRestore(key: entry.key, ttl: entry.expireAtMs ?? 0, payload: entry.payload, absolute: entry.expireAtMs != nil)
            digest?.add(key: entry.key, payload: entry.payload, hasTTL: entry.expireAtMs != nil)
            sending.append((entry.key, entry.offset))
            stats.rows += 1
            progress.add(rows: 1)
            batchBytes += entry.payload.count + entry.key.count
            if sending.count >= 1000 || batchBytes >= 4 << 20 {
                try flushBatch()
                batchBytes = 0
            }
        }
        try flushBatch()
        try readReplies()
        return stats
    }
}
