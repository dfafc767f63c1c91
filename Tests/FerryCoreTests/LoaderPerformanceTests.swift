import Foundation
import Testing
@testable import FerryCore

/// A plan of 5,000 resources over 50 instances: 2,000 imports, 2,000 copies, 1,000 backups.
func generatedLargePlan() -> String {
    var text = "{\n  \"ferry\": 1,\n  \"instances\": {\n"
    text += (0..<50).map { "    \"i\($0)\": { \"engine\": \"mysql\", \"url\": \"mysql://app@10.0.0.\($0):3306\", \"maxConnections\": 4 }" }
        .joined(separator: ",\n")
    text += "\n  },\n  \"imports\": {\n"
    text += (0..<2_000).map {
        "    \"imp-\($0)\": { \"into\": \"i\($0 % 50)\", \"database\": \"imported_\($0)\", \"from\": [\"s3://bucket/dump-\($0).sql.gz\"], \"onExisting\": \"replace\" }"
    }.joined(separator: ",\n")
    text += "\n  },\n  \"copies\": {\n"
    text += (0..<2_000).map {
        "    \"copy-\($0)\": { \"from\": \"i\($0 % 50)\", \"to\": \"i\(($0 + 1) % 50)\", \"databases\": { \"app_\($0)\": \"copy_\($0)\", \"log_\($0)\": \"copylog_\($0)\" }, \"after\": [\"import.imp-\($0)\"] }"
    }.joined(separator: ",\n")
    text += "\n  },\n  \"backups\": {\n"
    text += (0..<1_000).map {
        "    \"bk-\($0)\": { \"of\": \"i\($0 % 50)\", \"databases\": [\"app_\($0)\"], \"to\": \"backups/\($0)\", \"every\": \"24h\", \"keep\": 7 }"
    }.joined(separator: ",\n")
    return text + "\n  }\n}\n"
}

@Suite struct LoaderPerformanceTests {
    @Test func fiveThousandResourcesLoadQuickly() throws {
        let text = generatedLargePlan()
        let clock = ContinuousClock()
        var result: LoadResult?
        let parse = try clock.measure { _ = try JSONParser.parse(text) }
        let load = clock.measure { result = PlanLoader(environment: [:]).load(text: text, file: "plans/big.json") }
        let loaded = try #require(result)
        #expect(loaded.diagnostics.isEmpty, "\(loaded.diagnostics.prefix(3).map(\.description))")
        #expect(loaded.plan.addresses.count == 5_000)
        #expect(loaded.plan.copies["copy-1999"]?.databases.count == 2)
        // Release builds take a few milliseconds (see the report); this bound also holds in debug builds.
        #expect(parse < .seconds(2), "parse took \(parse)")
        #expect(load < .seconds(5), "load took \(load)")
        print("5,000-resource plan (\(text.utf8.count) bytes): parse \(parse), load \(load)")
    }

    @Test func aMinifiedPlanOnOneLineParsesInLinearTime() throws {
        let text = generatedLargePlan().replacingOccurrences(of: "\n", with: " ")
        let clock = ContinuousClock()
        var node: JSONNode?
        let parse = try clock.measure { node = try JSONParser.parse(text) }
        #expect(parse < .seconds(2), "parse took \(parse)")
        let copies = try #require(node?.members?.first { $0.key == "copies" }?.value.members)
        #expect(copies.count == 2_000)
        #expect(copies.last?.keyPosition.line == 1)
        let expected = position(of: "\"copy-1999\"", in: text)
        #expect(copies.last?.keyPosition.column == expected.column)
    }
}
