import Foundation
import Testing

/// `scripts/rdb-conformance.sh` compares Ferry's RDB imports with Redis's own loader (issue 22),
/// here on small files of each kind the conformance corpus showed: written by the test server,
/// with 7.0 release-candidate functions, empty collections, a duplicated key, module AUX data, a
/// Valkey header and a version newer than the server reads. Set FERRY_RDB_CORPUS to a directory
/// of RDB files to run the comparison on it too.
extension RedisCLITests {
    /// An RDB length (6, 14 or 32 bits) and a length-prefixed string.
    static func length(_ v: Int) -> [UInt8] {
        v < 64 ? [UInt8(v)] : v < 16384 ? [UInt8(0x40 | (v >> 8)), UInt8(v & 0xFF)] : [0x80, UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }
    static func string(_ s: String) -> [UInt8] { length(s.utf8.count) + Array(s.utf8) }
    /// A listpack of short strings as an RDB string: total bytes and count (LE), each entry
    /// (`0x80|len`, bytes, backlen), and the 0xFF end.
    static func listpack(_ items: [String]) -> [UInt8] {
        var body: [UInt8] = []
        for item in items {
            let bytes = Array(item.utf8)
            body += [UInt8(0x80 | bytes.count)] + bytes + [UInt8(1 + bytes.count)]
        }
        let total = 6 + body.count + 1
        let lp = [UInt8(total & 0xFF), UInt8((total >> 8) & 0xFF), UInt8((total >> 16) & 0xFF), UInt8(total >> 24),
                  UInt8(items.count & 0xFF), UInt8(items.count >> 8)] + body + [0xFF]
        return length(lp.count) + lp
    }
    /// A file of version `version` with `body`, ended by EOF and a zero (disabled) checksum.
    static func file(_ body: [UInt8], version: String = "0010", magic: String = "REDIS") -> Data {
        Data(Array((magic + version).utf8) + body + [0xFF] + [UInt8](repeating: 0, count: 8))
    }

    @Test func theConformanceScriptAgreesWithRedisOnEachKindOfFile() throws {
        let project = try Project()
        let s = try servers()
        let dir = project.root + "/corpus"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try cli(project, s.aPort, "flushall")
        try cli(project, s.aPort, "-n 0 set shared from-0")
        try cli(project, s.aPort, "-n 0 sadd set0 a b")
        try cli(project, s.aPort, "-n 1 set shared from-1")
        try cli(project, s.aPort, "-n 1 set ttl v px 600000")
        try cli(project, s.aPort, "--rdb \(dir)/server-two-databases.rdb")
        try cli(project, s.aPort, "flushall")
        let key = [0] + Self.string("kept") + Self.string("yes")
        let files: [(String, Data)] = [
            ("functions-7.0-rc.rdb", Self.file([0xF6] + Self.string("lib2") + Self.string("LUA") + [0] + Self.string("redis.register_function('two', function() return 2 end)") + [0xFE, 0] + key)),
            ("empty-keys.rdb", Self.file([0xFE, 0, 2] + Self.string("empty") + [0] + [4] + Self.string("empty-hash") + [0] + key)),
            ("duplicate-key.rdb", Self.file([0xFE, 0] + key + key)),
            ("module-aux.rdb", Self.file([0xF7, 0x81, 0xB1, 0xC7, 0x6D, 0xCA, 0x97, 0xB4, 0xD0, 0x00, 2, 2, 2, 42, 0, 0xFE, 0] + key)),
            ("valkey.rdb", Self.file([0xFE, 0] + key, version: "080", magic: "VALKEY")),
            ("version-12.rdb", Self.file([0xFE, 0] + key, version: "0012")),
            // RDB 11: a listpack set (type 20) Redis 7.0 cannot read, which Valkey loads.
            ("version-11-listpack-set.rdb", Self.file([0xFE, 0, 20] + Self.string("lpset") + Self.listpack(["a", "b"]) + key, version: "0011")),
            // A RedisJSON value (module type ReJSON-RL, type 7: the module's id as a 64-bit
            // length, then its opcodes up to EOF): refused by both without the module.
            ("module-value.rdb", Self.file([0xFE, 0, 7] + Self.string("doc") + [0x81, 0x45, 0xE2, 0x52, 0x38, 0xDF, 0x91, 0x2C, 0x00]
                                           + [5] + Self.string("{}") + [0] + key, version: "0009")),
        ]
        for (name, data) in files { try data.write(to: URL(fileURLWithPath: "\(dir)/\(name)")) }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/rdb-conformance.sh").path
        let result = try project.runShell("'\(script)' '\(dir)' '\(Project.binary)'")
        #expect(result.code == 0, "\(result.all)")
        let verdicts = Dictionary(uniqueKeysWithValues: result.stdout.split(separator: "\n").dropFirst().compactMap { line -> (String, String)? in
            let fields = line.split(separator: "\t").map(String.init)
            return fields.count == 4 ? (fields[0], fields[3]) : nil
        })
        #expect(verdicts["server-two-databases.rdb"] == "same", "\(result.all)")
        #expect(verdicts["functions-7.0-rc.rdb"] == "same", "\(result.all)")
        #expect(verdicts["empty-keys.rdb"] == "same", "\(result.all)")
        // Refused by Redis 7.0 for their version alone: Valkey 9 is the reference, and the target.
        #expect(verdicts["version-12.rdb"] == "same", "\(result.all)")
        #expect(verdicts["version-11-listpack-set.rdb"] == "same", "\(result.all)")
        #expect(result.stdout.contains("version-12.rdb\tvalkey-loads\timports\tsame"), "\(result.all)")
        for refused in ["duplicate-key.rdb", "module-aux.rdb", "valkey.rdb", "module-value.rdb"] {
            #expect(verdicts[refused] == "both-refused", "\(refused): \(result.all)")
        }
        #expect(result.stdout.contains("# 9 files: 5 same, 4 refused by both, 0 otherwise (2 of them with Valkey as the reference"), "\(result.all)")
        // The module's name, not "malformed", in Ferry's refusal of the module value.
        let module = try project.runShell("cd '\(project.root)' && mkdir -p m/plans && cp corpus/module-value.rdb m/plans/m.rdb && cd m && printf '%s' '{ \"ferry\": 1, \"instances\": { \"t\": { \"engine\": \"redis\", \"url\": \"\(s.a)\" } }, \"imports\": { \"i\": { \"into\": \"t\", \"database\": \"9\", \"from\": \"m.rdb\", \"format\": \"rdb\" } } }' > plans/main.json && '\(Project.binary)' apply --auto-approve")
        #expect(module.code != 0 && module.all.contains("ReJSON-RL") && !module.all.contains("malformed"), "\(module.all)")
        if let corpus = ProcessInfo.processInfo.environment["FERRY_RDB_CORPUS"], !corpus.isEmpty {
            let full = try project.runShell("'\(script)' '\(corpus)' '\(Project.binary)'")
            #expect(full.code == 0, "\(full.all)")
        }
    }
}
