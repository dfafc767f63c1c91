import Foundation
import Testing

/// Fresh tester round 38b, F3: a key an application overwrote in a Redis copy's shadow while the
/// copy was still loading, after its batch had been read back, passed `verify: checksum` (the
/// read-back stood for the shadow's content) and the run said "Apply complete!" with a target
/// unlike its source. Serialized with the other Redis CLI tests (server B's numbered databases).
extension RedisCLITests {
    /// Lua: in the shadow whose marker is KEYS[1], overwrites one key whose batch was read back
    /// already (not named in a `pend:` field of the marker, which lists the keys of the batches
    /// whose read-back is not summed yet) with a string of another value, keeping the count;
    /// returns its name.
    static let overwriteReadBackKey = """
    local h = redis.call('HGETALL', KEYS[1])
    local pending = {}
    for i = 1, #h, 2 do
      if string.sub(h[i], 1, 5) == 'pend:' then
        local v, p = h[i + 1], 1
        while p <= #v do
          local a, b, c, d = string.byte(v, p, p + 3)
          local n = ((a * 256 + b) * 256 + c) * 256 + d
          pending[string.sub(v, p + 4, p + 3 + n)] = true
          p = p + 4 + n
        end
      end
    end
    for _, k in ipairs(redis.call('KEYS', 'k:*')) do
      if not pending[k] then redis.call('SET', k, 'EVIL-OVERWRITE') return k end
    end
    return false
    """

    /// A copy of 6,000 keys (six batches) stopped after its third batch was sent: one key of the
    /// first batch (read back by then) is overwritten in the shadow, count unchanged. The verify
    /// reads the shadow, fails (`VerifyFailed`), and the target is as it was; without the
    /// overwrite the same copy completes and the target equals the source.
    @Test(arguments: [true, false]) func aKeyOverwrittenInTheShadowDuringTheLoadFailsTheChecksumVerify(_ overwritten: Bool) throws {
        let project = try Project()
        let s = try servers()
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
        try cli(project, s.aPort, "-n 3 eval \"for i=1,6000 do redis.call('set','k:'..i,'v'..i) end\" 0")
        try cli(project, s.bPort, "-n 5 set user:orig kept")
        try project.write("plans/main.json", plan(s, """
            "copies": { "c": { "from": "ra", "to": "rb", "databases": { "3": "5" }, "onExisting": "replace", "verify": "checksum" } }
            """))
        let run = try startStopped(project, at: "change:redis.batchSent#3", output: "apply.log")
        defer { if run.isRunning { run.signal(SIGKILL) } }
        let shadow = try #require(try databases(project, s, holding: "__ferry:shadow:*").first, "a shadow exists")
        let marker = try cli(project, s.bPort, "-n \(shadow) --scan --pattern '__ferry:shadow:*'")
        if overwritten {
            let key = try cli(project, s.bPort, "-n \(shadow) eval \"\(Self.overwriteReadBackKey)\" 1 \(marker)")
            #expect(key.hasPrefix("k:"), "a key of a batch read back was overwritten: \(key)")
        }
        run.signal(SIGCONT)
        run.waitUntilExit()
        let output = project.read("apply.log") ?? ""
        if overwritten {
            #expect(run.terminationStatus != 0 && !output.contains("Apply complete"), "\(output)")
            #expect(output.contains("VerifyFailed"), "\(output)")
            #expect(try cli(project, s.bPort, "-n 5 get user:orig") == "kept", "the target is as it was")
            #expect(try cli(project, s.bPort, "-n 5 dbsize") == "1")
        } else {
            #expect(run.terminationStatus == 0 && output.contains("Apply complete"), "\(output)")
            #expect(try cli(project, s.bPort, "-n 5 dbsize") == "6000")
            #expect(try cli(project, s.bPort, "-n 5 get k:4321") == "v4321")
        }
    }
}
