import FerryCore
import Foundation

/// The row count and checksum of a `COPY ... TO STDOUT` stream, taken as it passes through
/// Ferry, so the copy's snapshot sums need no second read of the source (SPEC §10, PostgreSQL
/// notes: "sums from the stream").
///
/// Formats (PostgreSQL documentation, "COPY", File Formats):
/// - text: one row per line; newlines inside values are written as `\n`, so every `0x0A` byte
///   ends a row. Only counted (`hashing: false`): a row's text depends on session settings.
/// - binary: an 11-byte signature, an int32 flags field and an int32 header-extension length
///   followed by that many bytes; then one tuple per row (an int16 field count, then per field
///   an int32 length, -1 for NULL, and that many bytes); then the int16 -1 trailer. All
///   integers big-endian. Counted and, with `hashing`, each tuple's bytes (field count and
///   lengths included, so no two rows' bytes can run together) hashed to 64 bits and summed
///   exactly (in 128 bits), so the sum is independent of row order and counts repeated rows.
///
/// `feed` takes the stream in pieces of any size (libpq's `PQgetCopyData` hands one CopyData
/// message at a time, which is one row, the binary header riding with the first); a tuple
/// split across pieces is gathered first. Memory: one tuple at most.
struct PostgresCopyDigest {
    let binary: Bool
    let hashing: Bool
    private(set) var rows: Int64 = 0
    private var sumLow: UInt64 = 0
    private var sumHigh: UInt64 = 0
    /// Binary: header bytes still to skip (nil until the fixed 19 bytes were read); a partial
    /// tuple's bytes; whether the trailer was seen.
    private var headerLeft: Int?
    private var pending: [UInt8] = []
    private var ended = false

    init(binary: Bool, hashing: Bool) {
        self.binary = binary
        self.hashing = hashing && binary
    }

    /// The sum as a decimal integer (`b` checksums, `PostgresSums.merge` adds them).
    var sumText: String {
        if sumHigh == 0 { return String(sumLow) }
        return "\(Decimal(sumHigh) * Decimal(string: "18446744073709551616")! + Decimal(sumLow))"
    }

    /// The checksum text of a verified table: `b` and the sum.
    var checksum: String { "b" + sumText }

    mutating func feed(_ chunk: UnsafeRawBufferPointer) throws {
        guard binary else {
            var lines = 0
            for byte in chunk where byte == 0x0A { lines += 1 }
            rows += Int64(lines)
            return
        }
        if ended, !chunk.isEmpty { throw FerryError(.copyError, "a binary COPY stream went on after its trailer") }
        var rest = chunk[...]
        if !pending.isEmpty || headerLeft != 0 {
            pending.append(contentsOf: rest)
            try drainPending()
            return
        }
        // The common case: whole tuples in the piece, hashed where they lie.
        while !rest.isEmpty {
            guard let length = try Self.tupleLength(UnsafeRawBufferPointer(rebasing: rest)) else {
                pending.append(contentsOf: rest)
                return
            }
            if length == 0 { try end(trailing: rest.count - 2); return }
            add(UnsafeRawBufferPointer(rebasing: rest.prefix(length)))
            rest = rest.dropFirst(length)
        }
    }

    /// Throws unless the stream ended where it should (binary: after its trailer).
    func finish() throws {
        if binary, !ended || !pending.isEmpty {
            throw FerryError(.copyError, "a binary COPY stream ended without its trailer")
        }
    }

    private mutating func drainPending() throws {
        if headerLeft == nil {
            guard pending.count >= 19 else { return }
            guard pending.prefix(11).elementsEqual([0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00]) else {
                throw FerryError(.copyError, "a binary COPY stream began without its signature")
            }
            headerLeft = Int(Self.int32(pending, 15))
            pending.removeFirst(19)
        }
        if let skip = headerLeft, skip > 0 {
            let n = min(skip, pending.count)
            pending.removeFirst(n)
            headerLeft = skip - n
            if skip > n { return }
        }
        var offset = 0
        try pending.withUnsafeBytes { all in
            while offset < all.count {
                let rest = UnsafeRawBufferPointer(rebasing: all[offset...])
                guard let length = try Self.tupleLength(rest) else { break }
                if length == 0 {
                    if rest.count > 2 { throw FerryError(.copyError, "a binary COPY stream went on after its trailer") }
                    ended = true
                    offset += 2
                    break
                }
                add(UnsafeRawBufferPointer(rebasing: rest.prefix(length)))
                offset += length
            }
        }
        pending.removeFirst(offset)
    }

    private mutating func end(trailing: Int) throws {
        if trailing > 0 { throw FerryError(.copyError, "a binary COPY stream went on after its trailer") }
        ended = true
    }

    private mutating func add(_ tuple: UnsafeRawBufferPointer) {
        rows += 1
        guard hashing else { return }
        let (low, carry) = sumLow.addingReportingOverflow(Self.hash(tuple))
        sumLow = low
        if carry { sumHigh &+= 1 }
    }

    /// The length of the tuple at the start of `bytes` (a tuple of no fields is 2 bytes), 0
    /// for the 2-byte trailer, or nil when `bytes` does not hold all of it yet.
    static func tupleLength(_ bytes: UnsafeRawBufferPointer) throws -> Int? {
        guard bytes.count >= 2 else { return nil }
        let fields = Int16(bitPattern: UInt16(bytes[0]) << 8 | UInt16(bytes[1]))
        if fields == -1 { return 0 }
        guard fields >= 0 else { throw FerryError(.copyError, "a binary COPY tuple has \(fields) fields") }
        var offset = 2
        for _ in 0..<fields {
            guard bytes.count >= offset + 4 else { return nil }
            let length = int32(bytes, offset)
            offset += 4
            if length == -1 { continue }
            guard length >= 0 else { throw FerryError(.copyError, "a binary COPY field has length \(length)") }
            offset += Int(length)
            guard bytes.count >= offset else { return nil }
        }
        return offset
    }

    static func int32<C: Collection<UInt8>>(_ bytes: C, _ offset: Int) -> Int32 where C.Index == Int {
        let b = bytes.startIndex + offset
        return Int32(bitPattern: UInt32(bytes[b]) << 24 | UInt32(bytes[b + 1]) << 16 | UInt32(bytes[b + 2]) << 8 | UInt32(bytes[b + 3]))
    }

    /// A 64-bit hash of `bytes`: 8-byte little-endian words (the tail zero-padded) mixed in the
    /// manner of MurmurHash3 (multiply, rotate, multiply; then `fmix64`, its finalizer, over
    /// the state and the length). Not cryptographic: it tells rows apart, as the server-side
    /// `hash_record_extended` it stands beside does.
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let c1: UInt64 = 0x87C3_7B91_1142_53D5, c2: UInt64 = 0x4CF5_AD43_2745_937F
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15
        var i = 0
        let n = bytes.count
        while i + 8 <= n {
            var k = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            k = (k &* c1).rotateLeft(31) &* c2
            h = ((h ^ k).rotateLeft(27) &+ 0x52DC_E729) &* 5
            i += 8
        }
        if i < n {
            var k: UInt64 = 0
            for j in 0..<(n - i) { k |= UInt64(bytes[i + j]) << (8 * UInt64(j)) }
            k = (k &* c1).rotateLeft(31) &* c2
            h ^= k
        }
        return fmix64(h ^ UInt64(n))
    }

    /// MurmurHash3's 64-bit finalizer.
    static func fmix64(_ value: UInt64) -> UInt64 {
        var k = value
        k ^= k >> 33
        k &*= 0xFF51_AFD7_ED55_8CCD
        k ^= k >> 33
        k &*= 0xC4CE_B9FE_1A85_EC53
        k ^= k >> 33
        return k
    }
}

extension UInt64 {
    fileprivate func rotateLeft(_ by: UInt64) -> UInt64 { (self << by) | (self >> (64 - by)) }
}
