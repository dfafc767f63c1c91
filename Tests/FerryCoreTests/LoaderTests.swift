import Foundation
import Testing
@testable import FerryCore

@Suite struct LoaderTests {
    @Test func specExampleLoadsWithoutDiagnostics() throws {
        let result = loadPlan(specExample, environment: ["STAGING_URL": "mysql://stage@10.0.0.2:3306"])
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics.map(\.description))")
        let plan = result.plan
        let cwd = FileManager.default.currentDirectoryPath
        #expect(plan.instances.count == 4)
        #expect(plan.instances["staging"]?.url == "mysql://stage@10.0.0.2:3306")
        let limit: Int64? = plan.instances["staging"]?.storageLimit
        #expect(limit == Int64(20) << 30)
        #expect(plan.instances["staging"]?.maxConnections == 4)
        #expect(plan.instances["prod"]?.password == .env("PROD_DB_PASSWORD"))
        #expect(plan.instances["prod"]?.account == "acme")
        #expect(plan.instances["dev"]?.path == PathResolution.absolute("var/dev", relativeTo: cwd))
        let seed = try #require(plan.imports["dev-seed"])
        #expect(seed.format == .sql)
        #expect(seed.onExisting == .fail)
        #expect(seed.rerun == .onChange)
        let warm = try #require(plan.imports["cache-warm"])
        #expect(warm.sources == [.url("s3://bucket/cache-1_of_2.rdb.gz"), .url("s3://bucket/cache-2_of_2.rdb.gz")])
        #expect(warm.format == .rdb)
        let app = try #require(plan.copies["staging-app"])
        #expect(app.databases == [DatabaseMapping(source: "app", target: "app_staging"),
                                  DatabaseMapping(source: "billing", target: "billing")])
        #expect(app.users == .sync)
        #expect(app.verify == .checksum)
        #expect(app.rerun == .onSourceChange)
        let old = try #require(plan.copies["staging-old"])
        #expect(old.at == ISO8601DateFormatter().date(from: "2026-11-20T16:00:00Z"))
        let nightly = try #require(plan.backups["prod-nightly"])
        #expect(nightly.every == 86_400)
        #expect(nightly.keep == 7)
        #expect(nightly.to == PathResolution.absolute("backups/prod", relativeTo: cwd))
        #expect(plan.files == ["plans/test.json"])
        #expect(plan.locations["instances.prod"] == FerryCore.SourceLocation(file: "plans/test.json", line: 4, column: 5, jsonPath: "instances.prod"))
        #expect(plan.locations["instances.prod.url"]?.line == 4)
        #expect(plan.locations["instances.prod.url"]?.column == 45)
        #expect(plan.locations["copies.staging-app.databases.app"]?.line == 20)
        #expect(plan.locations["copies.staging-app.databases"] != nil)
        #expect(plan.locations["copies.staging-old.databases.audit"] != nil)
    }
}
