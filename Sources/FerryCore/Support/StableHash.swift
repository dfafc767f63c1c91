import Foundation

/// A stable, non-cryptographic 128-bit hash (two FNV-1a 64 lanes) for change detection of
/// definitions. Not for secrets or untrusted input: a collision only hides a definition change
/// between two honest plan versions.
public enum StableHash {
    public static func hex(_ text: String) -> String {
        var a: UInt64 = 0xcbf2_9ce4_8422_2325
        var b: UInt64 = 0x8422_2325_cbf2_9ce4
        for byte in text.utf8 {
            a = (a ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            b = (b ^ UInt64(byte ^ 0x5A)) &* 0x0000_0100_0000_01B3
        }
        return String(format: "%016llx%016llx", a, b)
    }

    /// The hash of a value's canonical JSON (sorted keys).
    public static func hex<T: Encodable>(of value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let data = (try? encoder.encode(value)) ?? Data()
        return hex(String(decoding: data, as: UTF8.self))
    }
}
