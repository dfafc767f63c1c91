/// The CRC-64 Redis puts after DUMP payloads and at the end of RDB files: the Jones polynomial
/// (0xad93d23594c935a9), reflected, initial value 0, no final xor. `crc64("123456789")` is
/// 0xe9c6d914c4b8d9ca.
struct CRC64 {
    private static let table: [UInt64] = (0..<256).map { i in
        var c = UInt64(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x95ac_9329_ac4b_c9b5 : c >> 1 }
        return c
    }

    private(set) var value: UInt64 = 0

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        var crc = value
        CRC64.table.withUnsafeBufferPointer { table in
            for byte in bytes { crc = table[Int(UInt8(truncatingIfNeeded: crc) ^ byte)] ^ (crc >> 8) }
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
