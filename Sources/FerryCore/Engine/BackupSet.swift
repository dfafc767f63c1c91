import Foundation

/// The manifest of one backup set: `<to>/<id>/manifest.json` beside one file per database.
public struct BackupSetManifest: Sendable, Codable, Hashable {
    public struct Entry: Sendable, Codable, Hashable {
        public var database: String
        /// The file name inside the set's directory.
        public var file: String
        public var sizeBytes: Int64
        /// The source database's fingerprint when the set was taken.
        public var fingerprint: String?
        /// `sha256:<hex>` of the file as written; nil in sets taken before Ferry recorded it.
        public var sha256: String?
        public init(database: String, file: String, sizeBytes: Int64, fingerprint: String?, sha256: String? = nil) {
            self.database = database
            self.file = file
            self.sizeBytes = sizeBytes
            self.fingerprint = fingerprint
            self.sha256 = sha256
        }

        /// Checks that the entry's file in the set's directory is the one the set recorded: it
        /// exists, has the recorded size and (when recorded) the recorded SHA-256. Throws
        /// `VerifyFailed` naming the set, database and file otherwise.
        public func checkFile(inSet directory: String, id: String) throws {
            let path = "\(directory)/\(file)"
            let place = "backup set \(id): the file \(file) of database \(database)"
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                  (attributes[.type] as? FileAttributeType) == .typeRegular else {
                throw FerryError(.verifyFailed, "\(place) is missing or not a regular file",
                                 hint: "a backup set is restored only as it was taken; use another set")
            }
            let size = (attributes[.size] as? NSNumber)?.int64Value ?? -1
            if size != sizeBytes {
                throw FerryError(.verifyFailed, "\(place) has \(size) bytes; the set's manifest recorded \(sizeBytes)",
                                 hint: "the file changed after the set was taken; nothing was restored from it")
            }
            if let sha256 {
                let found = try BackupFileDigest.sha256(path: path)
                if found != sha256 {
                    throw FerryError(.verifyFailed, "\(place) does not match the SHA-256 its manifest recorded (\(found), recorded \(sha256))",
                                     hint: "the file changed after the set was taken; nothing was restored from it")
                }
            }
        }
    }

    /// The file name of `database` in a set: every byte outside `[A-Za-z0-9_-]` (dots and `%`
    /// included) percent-encoded, so that no two database names share a file (`a b` → `a%20b`,
    /// `a_b` → `a_b`, `a%20b` → `a%2520b`), then `.<ext>`. Sets taken before this naming keep
    /// their names: the manifest maps each database to its file. Names too long for a file system keep a prefix and gain
    /// `~` and a 128-bit hash of the whole name.
    public static func fileName(for database: String, extension ext: String) -> String {
        var encoded = ""
        for byte in database.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if byte < 0x80 && (c.isLetter || c.isNumber || c == "-" || c == "_") {
                encoded.append(c)
            } else {
                encoded += String(format: "%%%02X", byte)
            }
        }
        if encoded.isEmpty { encoded = "%" }
        if encoded.utf8.count > 180 {
            encoded = String(encoded.prefix(140)) + "~" + StableHash.hex(database)
        }
        return "\(encoded).\(ext)"
    }
    public var id: String
    public var instance: String
    public var engine: EngineKind
    public var takenAt: Date
    public var entries: [Entry]

    public init(id: String, instance: String, engine: EngineKind, takenAt: Date, entries: [Entry]) {
        self.id = id
        self.instance = instance
        self.engine = engine
        self.takenAt = takenAt
        self.entries = entries
    }

    public var sizeBytes: Int64 { entries.reduce(0) { $0 + $1.sizeBytes } }
}

/// SHA-256 (FIPS 180-4) of a file, streamed 1 MiB at a time, as `sha256:<hex>`. The core takes no
/// C library, so this is Swift; FerryIO's libcrypto digest of the same bytes is the same string.
public enum BackupFileDigest {
    public static func sha256(path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw FerryError(.verifyFailed, "cannot read \(path)")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            chunk.withUnsafeBytes { hasher.update($0) }
        }
        return "sha256:" + hasher.finish().map { String(format: "%02x", $0) }.joined()
    }

    public static func sha256(_ bytes: [UInt8]) -> String {
        var hasher = SHA256()
        bytes.withUnsafeBytes { hasher.update($0) }
        return "sha256:" + hasher.finish().map { String(format: "%02x", $0) }.joined()
    }

    struct SHA256 {
        private static let k: [UInt32] = [
            0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
            0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
            0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
            0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
            0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
            0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
            0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
            0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
        ]
        private var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
        private var block = [UInt8](repeating: 0, count: 64)
        private var filled = 0
        private var length: UInt64 = 0
        private var w = [UInt32](repeating: 0, count: 64)

        mutating func update(_ bytes: UnsafeRawBufferPointer) {
            length &+= UInt64(bytes.count)
            var i = 0
            while i < bytes.count {
                if filled == 0 && bytes.count - i >= 64 {
                    compress(UnsafeRawBufferPointer(rebasing: bytes[i..<(i + 64)]))
                    i += 64
                    continue
                }
                let n = min(64 - filled, bytes.count - i)
                for j in 0..<n { block[filled + j] = bytes[i + j] }
                filled += n; i += n
                if filled == 64 {
                    let copy = block
                    copy.withUnsafeBytes { compress($0) }
                    filled = 0
                }
            }
        }

        mutating func finish() -> [UInt8] {
            let bits = length &* 8
            var tail: [UInt8] = [0x80]
            let padding = (filled + 1 <= 56 ? 56 : 120) - (filled + 1)
            tail += [UInt8](repeating: 0, count: padding)
            for shift in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
            let savedLength = length
            tail.withUnsafeBytes { update($0) }
            length = savedLength
            var out: [UInt8] = []
            for word in h { for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: word >> UInt32(shift))) } }
            return out
        }

        private mutating func compress(_ chunk: UnsafeRawBufferPointer) {
            for t in 0..<16 {
                w[t] = UInt32(chunk[t * 4]) << 24 | UInt32(chunk[t * 4 + 1]) << 16 | UInt32(chunk[t * 4 + 2]) << 8 | UInt32(chunk[t * 4 + 3])
            }
            for t in 16..<64 {
                let s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
                let s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
                w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
            }
            var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7]
            for t in 0..<64 {
                let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                let ch = (e & f) ^ (~e & g)
                let t1 = hh &+ s1 &+ ch &+ Self.k[t] &+ w[t]
                let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                let maj = (a & b) ^ (a & c) ^ (b & c)
                let t2 = s0 &+ maj
                hh = g; g = f; f = e; e = d &+ t1; d = c; c = b; b = a; a = t1 &+ t2
            }
            h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d; h[4] &+= e; h[5] &+= f; h[6] &+= g; h[7] &+= hh
        }

        private func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
    }
}
