/// The CRC-64 Redis puts after DUMP payloads and at the end of RDB files: the Jones polynomial
/// (0xad93d23594c935a9), reflected, initial value 0, no final xor. `crc64("123456789")` is
/// 0xe9c6d914c4b8d9ca. Eight bytes a step through eight tables (slicing-by-8): every payload of an
/// import and the whole file pass through it, so it must run at memory speed, not a byte a loop.
struct CRC64 {
    /// `tables[k * 256 + i]`: table k of the eight; table 0 is the classic byte-wise table.
    private static let tables: [UInt64] = {
        var t = [UInt64](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt64(i)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x95ac_9329_ac4b_c9b5 : c >> 1 }
            t[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 {
                let previous = t[(k - 1) * 256 + i]
                t[k * 256 + i] = (previous >> 8) ^ t[Int(previous & 0xFF)]
            }
        }
        return t
    }()

    private(set) var value: UInt64 = 0

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        var crc = value
        CRC64.tables.withUnsafeBufferPointer { t in
            let n = bytes.count
            var i = 0
            while i + 8 <= n {
                crc ^= UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                crc = t[7 * 256 + Int(crc & 0xFF)] ^ t[6 * 256 + Int((crc >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((crc >> 16) & 0xFF)] ^ t[4 * 256 + Int((crc >> 24) & 0xFF)]
                    ^ t[3 * 256 + Int((crc >> 32) & 0xFF)] ^ t[2 * 256 + Int((crc >> 40) & 0xFF)]
                    ^ t[256 + Int((crc >> 48) & 0xFF)] ^ t[Int(crc >> 56)]
                i += 8
            }
            while i < n {
                crc = t[Int(UInt8(truncatingIfNeeded: crc) ^ bytes[i])] ^ (crc >> 8)
                i += 1
            }
        }
        value = crc
    }

    mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    static func checksum(_ bytes: [UInt8]) -> UInt64 {
        var c = CRC64()
        c.update(bytes)
        return c.value
    }
}
