import FerryCore
import FerryRedis
import Foundation
import Testing

/// A temporary driver for bench/redis/bench.sh until `ferry apply` exists: runs Ferry's copy and
/// RDB import through the public Engine protocol only, and prints keys/s and peak RSS. It does
/// nothing unless FERRY_BENCH_REDIS_SOURCE is set (the bench sets it; `swift test` does not).
@Test func redisBenchDriver() throws {
    let environment = ProcessInfo.processInfo.environment
    guard let source = environment["FERRY_BENCH_REDIS_SOURCE"], let target = environment["FERRY_BENCH_REDIS_TARGET"] else { return }
    let mode = environment["FERRY_BENCH_MODE"] ?? "copy"
    func session(_ url: String) throws -> any EngineSession {
        try RedisEngine().connect(ConnectionTarget(instance: InstanceSpec(name: url, engine: .redis, url: url), password: nil))
    }
    let to = try session(target)
    defer { to.close() }
    let shadow = try to.makeShadow(for: "1", runID: "bench")
    let started = Date()
    let stats: TransferStats
    if mode == "import" {
        let file = try #require(environment["FERRY_BENCH_RDB"])
        stats = try to.importData(into: shadow, from: [.file(file)], format: .rdb, progress: ProgressCounter())
    } else {
        let from = try session(source)
        defer { from.close() }
        stats = try to.copyData(from: from, database: "0", into: shadow, progress: ProgressCounter())
    }
    let seconds = Date().timeIntervalSince(started)
    let report = try to.verify(shadow: shadow, against: nil, database: nil, level: .count)
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let peak = status.split(separator: "\n").first { $0.hasPrefix("VmHWM") }.map { $0.split(separator: " ").dropFirst().first ?? "?" } ?? "?"
    print("FERRY_BENCH mode=\(mode) keys=\(stats.rows) loaded=\(report.tables.first?.rows ?? 0) seconds=\(String(format: "%.3f", seconds)) peak_rss_kb=\(peak)")
    try to.drop(shadow)
}
