// Temporary benchmark driver: runs the same engine calls `ferry apply` makes for one copy
// (connect both, makeShadow, copyData, verify checksum, swap, drop the checkpoint), until the
// lead's `ferry apply` registers the MySQL engine. Built by copy-bench.sh against the release
// objects of FerryCore, FerryIO and FerryMySQL.
import FerryCore
import FerryMySQL
import Foundation

let env = ProcessInfo.processInfo.environment
func spec(_ name: String, _ url: String) -> InstanceSpec {
    InstanceSpec(name: name, engine: .mysql, url: url, password: .env("FERRY_TEST_MYSQL_PASSWORD"), maxConnections: Int(env["BENCH_MAX_CONNECTIONS"] ?? "6"))
}
var clock = Date()
func lap(_ what: String) {
    if env["BENCH_LAPS"] != nil { FileHandle.standardError.write(Data(String(format: "  %@ %.2f s\n", what, Date().timeIntervalSince(clock)).utf8)) }
    clock = Date()
}
do {
    let registry = EngineRegistry([MySQLEngine()])
    let source = try registry.connect(spec("a", env["FERRY_TEST_MYSQL_A"] ?? ""))
    let target = try registry.connect(spec("b", env["FERRY_TEST_MYSQL_B"] ?? ""))
    let database = CommandLine.arguments[1], into = CommandLine.arguments[2]
    let run = "bench\(getpid())"
    let exists = try target.describe().databases[into] != nil
    lap("describe target")
    let shadow = try target.makeShadow(for: into, runID: run)
    let stats = try target.copyData(from: source, database: database, into: shadow, progress: ProgressCounter())
    lap("copyData")
    _ = try target.verify(shadow: shadow, against: source, database: database, level: .checksum)
    lap("verify")
    let record = SwapRecord(database: into, shadow: shadow, checkpoint: exists ? target.checkpointName(for: into, runID: run) : nil, targetExisted: exists)
    _ = try target.swap(record)
    if let checkpoint = record.checkpoint { try target.drop(checkpoint) }
    try target.drop(shadow)
    lap("swap and drops")
    print("copied \(stats.rows) rows, \(stats.bytes) bytes")
} catch {
    FileHandle.standardError.write(Data("driver: \(error)\n".utf8))
    exit(1)
}
