import Foundation
import Testing

/// Fresh tester w11 F7: the plan's space check counts a `.sql.gz` import at what it expands to,
/// not at its compressed size (the same projection serves every engine).
@Suite(.serialized) struct GzipSpaceCheckTests {
    func plan(limit: String) -> String {
        """
        { "ferry": 1,
          "instances": { "a": { "engine": "sqlite", "path": "../var/a", "storageLimit": "\(limit)" } },
          "imports": { "big": { "into": "a", "database": "big", "from": "data/big.sql.gz" } } }
        """
    }

    @Test func aGzipImportCountsAtItsExpandedSize() throws {
        let project = try Project()
        // About 2.4 MB of SQL that gzip takes to a few KB.
        let row = "INSERT INTO t VALUES ('" + String(repeating: "x", count: 200) + "');\n"
        try project.write("plans/data/big.sql", "CREATE TABLE t(v TEXT);\n" + String(repeating: row, count: 12_000))
        let zipped = try project.runShell("gzip '\(project.root)/plans/data/big.sql'")
        #expect(zipped.code == 0, "\(zipped.all)")
        let size = try #require((try FileManager.default.attributesOfItem(atPath: project.root + "/plans/data/big.sql.gz")[.size] as? NSNumber)?.int64Value)
        #expect(size < 200_000)
        try project.write("plans/main.json", plan(limit: "1 MiB"))
        let refused = try project.run("plan")
        #expect(refused.code == 1 && refused.all.contains("StorageLimitExceeded"), "\(refused.all)")
        #expect(refused.all.contains("2.") && refused.all.contains("MB incoming"), "\(refused.all)")
        try project.write("plans/main.json", plan(limit: "16 MiB"))
        let passes = try project.run("apply", "--auto-approve")
        #expect(passes.code == 0, "\(passes.all)")
    }
}
