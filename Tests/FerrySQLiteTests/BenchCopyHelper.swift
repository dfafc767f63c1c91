import FerryCore
import Foundation
import Testing
import FerrySQLite

/// TEMPORARY bench helper, not a test: `bench/sqlite/copy-bench.sh` runs it (release build) only
/// while the `ferry` executable in this branch cannot `apply` yet. It does what `ferry apply` does
/// for one SQLite copy, through the public engine API only: shadow, copy, verify (checksum level,
/// in a new session, as the applier does), swap, drop the checkpoint.
/// `FERRY_BENCH_COPY=SOURCE_DIR:TARGET_DIR:DATABASE`. Remove once `ferry apply` registers `SQLiteEngine()`.
@Test(.enabled(if: ProcessInfo.processInfo.environment["FERRY_BENCH_COPY"] != nil))
func benchCopyHelperRunsOneCopyLikeApply() throws {
    let parts = try #require(ProcessInfo.processInfo.environment["FERRY_BENCH_COPY"]).split(separator: ":").map(String.init)
    try #require(parts.count == 3)
    let engine = SQLiteEngine()
    func open(_ path: String, _ name: String) throws -> any EngineSession {
        try engine.connect(ConnectionTarget(instance: InstanceSpec(name: name, engine: .sqlite, path: path), password: nil))
    }
    let database = parts[2]
    let runID = "bench\(getpid())"
    let started = Date()
    let source = try open(parts[0], "a")
    let target = try open(parts[1], "b")
    let shadow = try target.makeShadow(for: database, runID: runID)
    let stats = try target.copyData(from: source, database: database, into: shadow, progress: ProgressCounter())
    let copied = Date()
    let report = try open(parts[1], "b").verify(shadow: shadow, against: open(parts[0], "a"), database: database, level: .checksum)
    let verified = Date()
    let existed = try target.describe().databases[database] != nil
    let record = SwapRecord(database: database, shadow: shadow,
                            checkpoint: existed ? target.checkpointName(for: database, runID: runID) : nil, targetExisted: existed)
    _ = try target.swap(record)
    if let checkpoint = record.checkpoint { try target.drop(checkpoint) }
    let done = Date()
    FileHandle.standardError.write(Data(String(format: "bench-helper: %lld bytes, %d tables; copy %.3fs verify %.3fs swap %.3fs\n",
                                               stats.bytes, report.tables.count, copied.timeIntervalSince(started),
                                               verified.timeIntervalSince(copied), done.timeIntervalSince(verified)).utf8))
}
