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
        for refused in ["duplicate-key.rdb", "module-aux.rdb", "valkey.rdb", "version-12.rdb"] {
            #expect(verdicts[refused] == "both-refused", "\(refused): \(result.all)")
        }
        #expect(result.stdout.contains("# 7 files: 3 same, 4 refused by both, 0 otherwise"), "\(result.all)")
        if let corpus = ProcessInfo.processInfo.environment["FERRY_RDB_CORPUS"], !corpus.isEmpty {
            let full = try project.runShell("'\(script)' '\(corpus)' '\(Project.binary)'")
            #expect(full.code == 0, "\(full.all)")
        }
    }
}
