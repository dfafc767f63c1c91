import CCrypto
import FerryCore
import Foundation

/// SHA-256 digests through libcrypto.
public enum Digest {
    /// The hex SHA-256 of a file's bytes, read in 1 MiB chunks.
    public static func sha256(file path: String) throws -> String {
        let reader = try FileByteReader(path: path)
        defer { reader.close() }
        guard let context = EVP_MD_CTX_new() else { throw FerryError(.internalError, "EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(context) }
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = try reader.read(into: buffer)
            if n == 0 { break }
            EVP_DigestUpdate(context, buffer.baseAddress, n)
        }
        return finish(context)
    }

    /// The hex SHA-256 of bytes.
    public static func sha256(_ bytes: some Collection<UInt8>) -> String {
        let array = Array(bytes)
        guard let context = EVP_MD_CTX_new() else { return "" }
        defer { EVP_MD_CTX_free(context) }
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
        array.withUnsafeBytes { _ = EVP_DigestUpdate(context, $0.baseAddress, $0.count) }
        return finish(context)
    }

    /// Raw SHA-256 bytes.
    public static func sha256Bytes(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        bytes.withUnsafeBytes { input in
            out.withUnsafeMutableBufferPointer { _ = SHA256(input.baseAddress?.assumingMemoryBound(to: UInt8.self), input.count, $0.baseAddress) }
        }
        return out
    }

    /// SHA-1 as libcrypto's provider gives it, fetched once (`EVP_MD_fetch`, OpenSSL 3): the
    /// one-shot `SHA1()` fetches it again on every call, which cost about ten times the hashing
    /// itself for the short inputs of a Redis key's weight (callgrind: ~10,000 instructions a
    /// call, for ~120 bytes). Fetched methods are safe to share between threads.
    nonisolated(unsafe) fileprivate static let fetchedSHA1: OpaquePointer? = EVP_MD_fetch(nil, "SHA1", nil)

    /// The first four bytes of the SHA-1 of `first` followed by `second`, big-endian: what a
    /// Lua script reads as `string.sub(redis.sha1hex(first .. second), 1, 8)`. No copy of the
    /// inputs is made.
    public static func sha1Prefix(_ first: [UInt8], _ second: [UInt8] = []) -> UInt32 {
        guard let md = fetchedSHA1, let context = EVP_MD_CTX_new() else {
            let h = sha1Bytes(first + second)
            return UInt32(h[0]) << 24 | UInt32(h[1]) << 16 | UInt32(h[2]) << 8 | UInt32(h[3])
        }
        defer { EVP_MD_CTX_free(context) }
        var out = [UInt8](repeating: 0, count: 20)
        var length: UInt32 = 20
        EVP_DigestInit_ex2(context, md, nil)
        first.withUnsafeBytes { _ = EVP_DigestUpdate(context, $0.baseAddress, $0.count) }
        if !second.isEmpty { second.withUnsafeBytes { _ = EVP_DigestUpdate(context, $0.baseAddress, $0.count) } }
        out.withUnsafeMutableBufferPointer { _ = EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        return UInt32(out[0]) << 24 | UInt32(out[1]) << 16 | UInt32(out[2]) << 8 | UInt32(out[3])
    }

    /// `sha1Prefix` with one digest context kept for every call (no allocation a call): for a
    /// loop that hashes each key. Not for use from two threads at once.
    public final class SHA1Prefixer {
        private let context: OpaquePointer? = EVP_MD_CTX_new()
        private var out = [UInt8](repeating: 0, count: 20)

        public init() {}
        deinit { EVP_MD_CTX_free(context) }

        /// `Digest.sha1Prefix(first, second)`.
        public func prefix(_ first: [UInt8], _ second: [UInt8] = []) -> UInt32 {
            guard let md = Digest.fetchedSHA1, let context, EVP_DigestInit_ex2(context, md, nil) == 1 else { return Digest.sha1Prefix(first, second) }
            first.withUnsafeBytes { _ = EVP_DigestUpdate(context, $0.baseAddress, $0.count) }
            if !second.isEmpty { second.withUnsafeBytes { _ = EVP_DigestUpdate(context, $0.baseAddress, $0.count) } }
            var length: UInt32 = 20
            out.withUnsafeMutableBufferPointer { _ = EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
            return UInt32(out[0]) << 24 | UInt32(out[1]) << 16 | UInt32(out[2]) << 8 | UInt32(out[3])
        }
    }

    /// Raw SHA-1 bytes (for MySQL's `mysql_native_password` hash, `*` + HEX(SHA1(SHA1(password)))).
    public static func sha1Bytes(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 20)
        bytes.withUnsafeBytes { input in
            out.withUnsafeMutableBufferPointer { _ = SHA1(input.baseAddress?.assumingMemoryBound(to: UInt8.self), input.count, $0.baseAddress) }
        }
        return out
    }

    /// HMAC-SHA256 (for S3 signatures).
    public static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        key.withUnsafeBytes { k in
            message.withUnsafeBytes { m in
                out.withUnsafeMutableBufferPointer { o in
                    _ = HMAC(EVP_sha256(), k.baseAddress, Int32(k.count),
                             m.baseAddress?.assumingMemoryBound(to: UInt8.self), m.count, o.baseAddress, &length)
                }
            }
        }
        return out
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0xF)]) }
        return String(decoding: out, as: UTF8.self)
    }

    private static func finish(_ context: OpaquePointer) -> String {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        out.withUnsafeMutableBufferPointer { _ = EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        return hex(Array(out.prefix(Int(length))))
    }
}
