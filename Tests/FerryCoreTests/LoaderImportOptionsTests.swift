import Foundation
import Testing
@testable import FerryCore

/// `sourceDatabase` and `merge`: the RDB import fields of SPEC §2.
struct LoaderImportOptionsTests {
    func plan(_ fields: String, from: String = "s3://bucket/cache.rdb") -> String {
        """
        { "ferry": 1, "instances": { "c": { "engine": "redis", "url": "redis://127.0.0.1:6379" } },
          "imports": { "warm": { "into": "c", "database": "3", "from": "\(from)"\(fields) } } }
        """
    }

    @Test func sourceDatabaseAndMergeLoad() throws {
        let result = loadPlan(plan(", \"sourceDatabase\": 0, \"merge\": \"last-wins\""))
        #expect(result.diagnostics.filter { $0.severity == .error }.isEmpty, "\(result.diagnostics.map(\.description))")
        let spec = try #require(result.plan.imports["warm"])
        #expect(spec.sourceDatabase == 0)
        #expect(spec.merge == .lastWins)
        #expect(ImportOptions(spec) == ImportOptions(sourceDatabase: 0, merge: .lastWins))
        let plain = try #require(loadPlan(plan("")).plan.imports["warm"])
        #expect(plain.sourceDatabase == nil && plain.merge == nil)
        #expect(ImportOptions(plain) == ImportOptions(sourceDatabase: nil, merge: .error))
    }

    @Test func badValuesAreTypeErrorsWithTheirPlace() throws {
        for bad in ["-1", "1.5", "\"1\"", "true"] {
            let d = try single(loadPlan(plan(", \"sourceDatabase\": \(bad)")), .type)
            #expect(d.message.contains("sourceDatabase"), "\(d)")
            #expect(d.location?.jsonPath == "imports.warm.sourceDatabase")
        }
        let merge = try single(loadPlan(plan(", \"merge\": \"first-wins\"")), .type)
        #expect(merge.message.contains("merge"))
        #expect(loadPlan(plan(", \"merge\": \"first-wins\"")).plan.imports["warm"] == nil)
    }

    /// A `redis://` source naming a database in its path and a sourceDatabase naming another:
    /// one would be ignored, so the plan is refused at the field (tester W7).
    @Test func sourceDatabaseMustAgreeWithARedisURLsPath() throws {
        for url in ["redis://127.0.0.1:6380/5", "rediss://u@127.0.0.1:6380/5", "redis://127.0.0.1:6380/5/"] {
            let d = try single(loadPlan(plan(", \"format\": \"rdb\", \"sourceDatabase\": 3", from: url)), .invalidParameter)
            #expect(d.message.contains("sourceDatabase 3") && d.message.contains("database 5"), "\(d)")
            #expect(d.location?.jsonPath == "imports.warm.sourceDatabase")
        }
        for (url, database) in [("redis://127.0.0.1:6380/5", 5), ("redis://127.0.0.1:6380", 3), ("redis://127.0.0.1:6380/", 3)] {
            let result = loadPlan(plan(", \"format\": \"rdb\", \"sourceDatabase\": \(database)", from: url))
            #expect(result.diagnostics.filter { $0.severity == .error }.isEmpty, "\(url): \(result.diagnostics.map(\.description))")
        }
        #expect(PlanLoadSession.redisURLDatabase("redis://h:1/12?x=1") == 12)
        #expect(PlanLoadSession.redisURLDatabase("s3://bucket/5") == nil)
    }

    @Test func theyApplyOnlyToRDBImports() throws {
        let d = try single(loadPlan(plan(", \"sourceDatabase\": 1", from: "s3://bucket/seed.sql")), .invalidParameter)
        #expect(d.message.contains("only to RDB imports"))
    }
}
