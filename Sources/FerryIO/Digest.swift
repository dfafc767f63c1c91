import CCrypto
import FerryCore
import Foundation

/// SHA-256 and SHA-1 digests through libcrypto (OpenSSL 3, `EVP_Digest*` of evp_digest(3)).
///
/// Each algorithm is fetched from the provider once (`EVP_MD_fetch`) and shared: the one-shot
/// `SHA1()`/`SHA256()` and the legacy `EVP_sha256()` in `EVP_DigestInit_ex` fetch it again on
/// every call, which cost about ten times the hashing itself for the short inputs Ferry hashes
/// per key (callgrind: ~10,000 instructions a call, for ~120 bytes). Fetched methods are safe
/// to share between threads; a context is not.
public enum Digest {
    nonisolated(unsafe) fileprivate static let fetchedSHA1: OpaquePointer? = EVP_MD_fetch(nil, "SHA1", nil)
    nonisolated(unsafe) fileprivate static let fetchedSHA256: OpaquePointer? = EVP_MD_fetch(nil, "SHA2-256", nil)

    /// The hex SHA-256 of a file's bytes, read in 1 MiB chunks.
    public static func sha256(file path: String) throws -> String {
        let reader = try FileByteReader(path: path)
        defer { reader.close() }
        guard let context = EVP_MD_CTX_new() else { throw FerryError(.internalError, "EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestInit_ex2(context, fetchedSHA256 ?? EVP_sha256(), nil) == 1 else {
            throw FerryError(.internalError, "EVP_DigestInit_ex2 (SHA-256) failed")
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = try reader.read(into: buffer)
            if n == 0 { break }
            EVP_DigestUpdate(context, buffer.baseAddress, n)
        }
        return hex(final(context))
    }

    /// The hex SHA-256 of bytes (64 characters).
    public static func sha256(_ bytes: some Collection<UInt8>) -> String {
        hex(sha256Bytes(Array(bytes)))
    }

    /// Raw SHA-256 bytes (32).
    public static func sha256Bytes(_ bytes: [UInt8]) -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { return oneShotSHA256(bytes) }
        defer { EVP_MD_CTX_free(context) }
        return digest(context, fetchedSHA256, bytes) ?? oneShotSHA256(bytes)
    }

    /// The first four bytes of the SHA-1 of `first` followed by `second`, big-endian: what a
    /// Lua script reads as `string.sub(redis.sha1hex(first .. second), 1, 8)`. No copy of the
    /// inputs is made.
    public static func sha1Prefix(_ first: [UInt8], _ second: [UInt8] = []) -> UInt32 {
        guard let context = EVP_MD_CTX_new() else { return prefix(sha1Bytes(first + second)) }
        defer { EVP_MD_CTX_free(context) }
        return prefix(digest(context, fetchedSHA1, first, second) ?? sha1Bytes(first + second))
    }

    /// `sha1Prefix` with one digest context kept for every call (no allocation a call): for a
    /// loop that hashes each key. Not for use from two threads at once.
    public final class SHA1Prefixer {
        private let context: OpaquePointer? = EVP_MD_CTX_new()
        private let out = UnsafeMutablePointer<UInt8>.allocate(capacity: Int(EVP_MAX_MD_SIZE))

        public init() {}
        deinit { EVP_MD_CTX_free(context); out.deallocate() }

        /// `Digest.sha1Prefix(first, second)`.
        public func prefix(_ first: [UInt8], _ second: [UInt8] = []) -> UInt32 {
            guard let context, Digest.digest(context, Digest.fetchedSHA1, first, second, into: out) == 20 else {
                return Digest.sha1Prefix(first, second)
            }
            return UInt32(out[0]) << 24 | UInt32(out[1]) << 16 | UInt32(out[2]) << 8 | UInt32(out[3])
        }
    }

    /// Raw SHA-1 bytes (20) (for MySQL's `mysql_native_password` hash, `*` + HEX(SHA1(SHA1(password)))).
    public static func sha1Bytes(_ bytes: [UInt8]) -> [UInt8] {
        if let context = EVP_MD_CTX_new() {
            defer { EVP_MD_CTX_free(context) }
            if let out = digest(context, fetchedSHA1, bytes) { return out }
        }
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

    /// The digest of `first` then `second` with the fetched algorithm `md` in `context` (reset
    /// by `EVP_DigestInit_ex2`); nil when the algorithm was not fetched or libcrypto refused.
    fileprivate static func digest(_ context: OpaquePointer, _ md: OpaquePointer?, _ first: [UInt8], _ second: [UInt8] = []) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        guard let length = out.withUnsafeMutableBufferPointer({ digest(context, md, first, second, into: $0.baseAddress!) }) else { return nil }
        out.removeLast(out.count - length)
        return out
    }

    /// The same into `out` (room for `EVP_MAX_MD_SIZE` bytes), no allocation: its length.
    fileprivate static func digest(_ context: OpaquePointer, _ md: OpaquePointer?, _ first: [UInt8], _ second: [UInt8],
                                   into out: UnsafeMutablePointer<UInt8>) -> Int? {
        guard let md, EVP_DigestInit_ex2(context, md, nil) == 1 else { return nil }
        first.withUnsafeBytes { _ = EVP_DigestUpdate(context, $0.baseAddress, $0.count) }
        if !second.isEmpty { second.withUnsafeBytes { _ = EVP_DigestUpdate(context, $0.baseAddress, $0.count) } }
        var length: UInt32 = 0
        guard EVP_DigestFinal_ex(context, out, &length) == 1 else { return nil }
        return Int(length)
    }

    private static func final(_ context: OpaquePointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        out.withUnsafeMutableBufferPointer { _ = EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        return Array(out.prefix(Int(length)))
    }

    private static func prefix(_ h: [UInt8]) -> UInt32 {
        UInt32(h[0]) << 24 | UInt32(h[1]) << 16 | UInt32(h[2]) << 8 | UInt32(h[3])
    }

    private static func oneShotSHA256(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        bytes.withUnsafeBytes { input in
            out.withUnsafeMutableBufferPointer { _ = SHA256(input.baseAddress?.assumingMemoryBound(to: UInt8.self), input.count, $0.baseAddress) }
        }
        return out
    }
}
