import Foundation
import Testing
@testable import FerryCore

/// The loader agrees with the JSON Schema on numbers, booleans and RFC 3339 times; markdown never
/// lets a user's name close a code span or become HTML; counts take their plural.
@Suite struct PolishCoreTests {
    static func copyAt(_ time: String) -> String {
        """
        {"ferry": 1, "instances": {"a": {"engine": "sqlite", "path": "\(unmadeDirectory)/a"}, "b": {"engine": "sqlite", "path": "\(unmadeDirectory)/b"}},
         "copies": {"c": {"from": "a", "to": "b", "databases": ["app"], "at": "\(time)"}}}
        """
    }

    @Test(arguments: ["2026-02-30T16:00:00Z", "2026-02-29T16:00:00Z", "2100-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
                      "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-11-00T00:00:00Z", "2026-11-20T24:00:00Z",
                      "2026-11-20T23:60:00Z", "2026-12-31T23:59:60Z", "2026-11-20T10:00:00+24:00", "2026-11-20T10:00:00+02:60",
                      "2026-11-20T10:00:00", "2026-11-20 10:00:00Z", "2026-11-20T10:00:00.Z", "2026-11-20T10:00:00Zjunk"])
    func impossibleOrMalformedTimesAreRefused(time: String) throws {
        #expect(PlanValueParsing.parseTime(time) == nil, "\(time)")
        let result = loadPlan(Self.copyAt(time))
        let diagnostic = try single(result, .type)
        #expect(diagnostic.message.contains("is not an RFC 3339 time"))
    }

    @Test(arguments: [("2026-11-20T16:00:00Z", 1_795_190_400.0), ("2026-11-20t16:00:00z", 1_795_190_400.0),
                      ("2026-11-20t18:00:00+02:00", 1_795_190_400.0), ("2028-02-29T00:00:00Z", 1_835_395_200.0),
                      ("2000-02-29T00:00:00Z", 951_782_400.0), ("2026-11-20T16:00:00.5z", 1_795_190_400.5)])
    func validTimesInEitherCaseAreRead(time: String, seconds: Double) throws {
        let date = try #require(PlanValueParsing.parseTime(time), "\(time)")
        #expect(abs(date.timeIntervalSince1970 - seconds) < 0.001, "\(time): \(date.timeIntervalSince1970)")
        let result = loadPlan(Self.copyAt(time))
        #expect(!result.hasErrors, "\(result.diagnostics.map(\.description))")
        #expect(abs((result.plan.copies["c"]?.at?.timeIntervalSince1970 ?? 0) - seconds) < 0.001)
    }

    /// JSON Schema's "integer" is any number with a zero fractional part: so is the loader's.
    @Test func integralNumbersAreIntegers() throws {
        let result = loadPlan("""
        {"ferry": 1, "instances": {"a": {"engine": "sqlite", "path": "\(unmadeDirectory)/a", "maxConnections": 2.0, "storageLimit": 1e6}},
         "backups": {"b": {"of": "a", "databases": ["app"], "to": "\(unmadeDirectory)/b", "keep": 3.00}}}
        """)
        #expect(!result.hasErrors, "\(result.diagnostics.map(\.description))")
        #expect(result.plan.instances["a"]?.maxConnections == 2)
        #expect(result.plan.instances["a"]?.storageLimit == 1_000_000)
        #expect(result.plan.backups["b"]?.keep == 3)
        for bad in ["1.5", "0.0", "-1", "1e-1", "1e400"] {
            let refused = loadPlan("""
            {"ferry": 1, "instances": {"a": {"engine": "sqlite", "path": "\(unmadeDirectory)/a", "maxConnections": \(bad)}}}
            """)
            #expect(diagnostics(refused, .type).count == 1, "\(bad): \(refused.diagnostics.map(\.description))")
        }
        #expect(PlanValueParsing.integer(fromJSONNumber: "7") == 7)
        #expect(PlanValueParsing.integer(fromJSONNumber: "7.0") == 7)
        #expect(PlanValueParsing.integer(fromJSONNumber: "7.25") == nil)
    }

    /// A boolean is a JSON boolean (or an `${env:...}` reference to `true`/`false`), never "true".
    @Test func booleansMustBeJSONBooleans() throws {
        for (value, accepted) in [("true", true), ("false", true), ("\"true\"", false), ("\"false\"", false), ("\"yes\"", false),
                                  ("1", false), ("null", false), ("\"${env:P}\"", true), ("\"${env:Q:-false}\"", true)] {
            let result = loadPlan("""
            {"ferry": 1, "instances": {"a": {"engine": "sqlite", "path": "\(unmadeDirectory)/a", "protect": \(value)}}}
            """, environment: ["P": "true"])
            #expect(result.hasErrors == !accepted, "\(value): \(result.diagnostics.map(\.description))")
            if !accepted { #expect(diagnostics(result, .type).count == 1, "\(value)") }
        }
        let schema = PlanJSONSchema.text()
        #expect(!schema.contains("\"true\",") && !schema.contains("[\"true\", \"false\"]"))
    }

    /// A code span holds any name literally; text outside code spans is never HTML.
    @Test func markdownKeepsNamesLiteral() {
        #expect(MarkdownRenderer.code("app") == "`app`")
        #expect(MarkdownRenderer.code("a`b") == "``a`b``")
        #expect(MarkdownRenderer.code("``x") == "``` ``x ```")
        #expect(MarkdownRenderer.code("x`") == "`` x` ``")
        #expect(MarkdownRenderer.code("a|b") == "`a\\|b`")
        let change = ResourceChange(address: Address(.copy, "c"), action: .create,
                                    reasons: ["target <img src=x onerror=alert(1)> & *bold* [l](u) `tick`"],
                                    movements: [Movement(from: "a/x`y", to: "b/<script>alert(1)</script>", bytes: 1, targetExists: false)])
        let warning = Diagnostic(.invalidParameter, "name <b>x</b> & _y_", severity: .warning)
        let md = MarkdownRenderer.render(changes: [change], graph: ActionGraph(actions: []), diagnostics: [warning])
        #expect(md.contains("``a/x`y``"))
        #expect(md.contains("`b/<script>alert(1)</script>`"))
        #expect(md.contains("target &lt;img src=x onerror=alert(1)&gt; &amp; \\*bold\\* \\[l\\](u) \\`tick\\`"), "\(md)")
        #expect(md.contains("name &lt;b&gt;x&lt;/b&gt; &amp; \\_y\\_"), "\(md)")
        #expect(!md.contains("<img") && !md.contains("<b>"))
        // Every `<script` is inside a code span: remove the spans and none is left.
        var outside = md
        while let range = outside.range(of: "`b/<script>alert(1)</script>`") { outside.removeSubrange(range) }
        #expect(!outside.contains("<script"))
    }

    @Test func countsTakeTheirPlural() {
        #expect(Format.counted(0, "file") == "0 files")
        #expect(Format.counted(1, "instance") == "1 instance")
        #expect(Format.counted(2, "resource") == "2 resources")
    }
}
