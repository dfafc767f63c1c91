import FerryCore
import Foundation

/// Large objects (`pg_largeobject`): copied in the copy's snapshot and summed like a table, under
/// the label `pg_catalog.pg_largeobject`: rows = the number of large objects, checksum = the
/// sum of a 64-bit hash of each one's oid and the MD5 of its bytes.
enum PostgresLargeObjects {
    static let label = "pg_catalog.pg_largeobject"
    /// Bytes read and written per call (`lo_get` / `lo_put`): memory per object stays this.
    static let chunk = 1 << 20

    /// The sum of the large objects visible to `c`'s snapshot, or nil when there are none.
    static func sum(on c: PostgresConnection) throws -> VerifyReport.Table? {
        guard let row = try c.query("SELECT count(*), coalesce(sum(hashtextextended(oid::text || ':' || md5(lo_get(oid)), 0)), 0) FROM pg_largeobject_metadata").first,
              let count = Int64(row[0] ?? ""), count > 0 else { return nil }
        return VerifyReport.Table(name: label, rows: count, checksum: "l" + (row[1] ?? "0"))
    }

    /// Copies every large object `source`'s snapshot holds into `target` under the same oid
    /// (made by the pre-data section, else `lo_create`; then `lo_put` of 1 MiB chunks read by `lo_get`), in one transaction on the
    /// target. Returns the bytes moved.
    static func copy(from source: PostgresConnection, to target: PostgresConnection, progress: ProgressCounter) throws -> Int64 {
        let objects = try source.query("SELECT oid FROM pg_largeobject_metadata ORDER BY 1")
        guard !objects.isEmpty else { return 0 }
        var bytes: Int64 = 0
        try target.execute("BEGIN")
        do {
            for row in objects {
                guard let oid = row[0] else { continue }
                // pg_dump's pre-data section made it already (its "BLOB" entries); else make it.
                try target.execute("SELECT lo_create(\(oid)) WHERE NOT EXISTS (SELECT 1 FROM pg_largeobject_metadata WHERE oid = \(oid))")
                var offset = 0
                while true {
                    try progress.checkCancelled()
                    guard let hex = try source.scalar("SELECT lo_get(\(oid), \(offset), \(chunk))"), hex.count > 2 else { break }
                    try target.execute("SELECT lo_put(\(oid), \(offset), '\(hex)'::bytea)")
                    let moved = (hex.count - 2) / 2
                    bytes += Int64(moved)
                    progress.add(bytes: Int64(moved))
                    offset += moved
                    if moved < chunk { break }
                }
            }
            try target.execute("COMMIT")
        } catch {
            try? target.execute("ROLLBACK")
            throw error
        }
        return bytes
    }
}
