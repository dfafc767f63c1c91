import FerryCore
@testable import FerryPostgres
import Foundation
import Synchronization
import Testing

/// The copy's work queue (`CopyQueue`) under workers that take at once, as `copyTables`'s do:
/// no server is needed, the loads are the queue's own bookkeeping.
struct PostgresCopyQueueTests {
    /// Every table (and every part of a split one) is handed out exactly once, whatever the
    /// workers' timing. A plan read after the queue's lock let go (CI, 2026-12-07) once gave
    /// `public.notes` to two workers: "loaded more times than it has parts", and one table was
    /// never loaded.
    @Test(arguments: [false, true]) func everyPlanIsTakenOnceByWorkersThatTakeAtOnce(split: Bool) throws {
        let tables = split ? 400 : 4_000
        let partsPerTable = split ? 10 : 1
        var plans: [PostgresCopy.TablePlan] = []
        for t in 0..<tables {
            let table = PostgresTable(schema: "public", name: "t\(t)", bytes: 1)
            for p in 0..<partsPerTable {
                var plan = PostgresCopy.TablePlan(table: table, columns: ["id"], binary: true)
                if split { plan.pages = PostgresCopy.PageRange(from: Int64(p), to: Int64(p + 1)) }
                plans.append(plan)
            }
        }
        for _ in 0..<10 {
            let queue = CopyQueue(plans)
            let taken = Mutex<[String: Int]>([:])
            try WorkerPool.shared.forEach(8) { _ in
                while let plan = try queue.take(building: { _ in }) {
                    let key = plan.table.label + "#" + String(plan.pages?.from ?? 0)
                    taken.withLock { $0[key, default: 0] += 1 }
                    queue.done(.init(name: plan.table.label, rows: 1, checksum: nil), bytes: 1)
                }
            }
            let result = try queue.result()
            let counts = taken.withLock { $0 }
            #expect(counts.count == plans.count, "every plan is handed out")
            #expect(counts.values.allSatisfy { $0 == 1 }, "none twice: \(counts.filter { $0.value > 1 }.prefix(3))")
            #expect(result.tables.count == tables && result.rows == Int64(plans.count))
        }
    }
}
