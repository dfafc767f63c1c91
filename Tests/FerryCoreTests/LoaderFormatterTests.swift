import Foundation
import Testing
@testable import FerryCore

@Suite struct LoaderFormatterTests {
    /// The value with positions dropped and object members sorted by key (stably), so that two
    /// texts compare equal when they hold the same data whatever the field order.
    func normalized(_ node: JSONNode) -> JSONNode.Value {
        switch node.value {
        case .object(let members):
            let sorted = members.enumerated().sorted { ($0.element.key, $0.offset) < ($1.element.key, $1.offset) }
            return .object(sorted.map { JSONMember(key: $0.element.key, keyPosition: TextPosition(line: 0, column: 0),
                                                    value: JSONNode(normalized($0.element.value), at: TextPosition(line: 0, column: 0))) })
        case .array(let elements):
            return .array(elements.map { JSONNode(normalized($0), at: TextPosition(line: 0, column: 0)) })
        default:
            return node.value
        }
    }

    @Test func goldenOutput() throws {
        let formatted = try PlanFormatter.format(FormatterFixtures.input, file: "plans/x.json")
        #expect(formatted == FormatterFixtures.expected)
    }

    @Test func specExampleFormatsIdempotentlyAndKeepsItsData() throws {
        for text in [specExample, FormatterFixtures.input, FormatterFixtures.expected] {
            let once = try PlanFormatter.format(text, file: "p.json")
            let twice = try PlanFormatter.format(once, file: "p.json")
            #expect(once == twice)
            #expect(normalized(try JSONParser.parse(once)) == normalized(try JSONParser.parse(text)))
            #expect(once.hasSuffix("}\n") && !once.hasSuffix("\n\n"))
            #expect(once.split(separator: "\n").allSatisfy { $0.unicodeScalars.count <= 100 || !$0.contains("{ ") })
        }
    }

    @Test func edgeCasesAreIdempotent() throws {
        let inputs = [
            "{}", "[]", "1", "\"x\"", "[1, [2, [3, []]], {}]", "{\"ferry\": 1, \"ferry\": 2}",
            "{\"s\": \"\\u0001\\u001f\\b\\f\\n\\r\\t\\\"\\\\\\/ é 😀 \\ud83d\\ude00 \u{7f}\"}",
            "{\"instances\": [1, 2], \"imports\": \"x\", \"copies\": {\"a\": [1], \"b\": null}}",
            "{\"copies\": {\"c\": {\"databases\": {\"" + String(repeating: "n", count: 120) + "\": \"t\"}, \"from\": \"p\"}}}",
            "{\"x\": " + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "}",
            "{\"instances\": {\"a\": {\"password\": {\"file\": \"" + String(repeating: "p", count: 70) + "\"}}}}",
            "  \n\t{\"backups\": {\"b\": {\"zz\": {\"deep\": {\"deeper\": [true, false, null, -1.5E-3]}}, \"of\": \"a\"}}}\n\n",
        ]
        for text in inputs {
            let once = try PlanFormatter.format(text, file: "p.json")
            let twice = try PlanFormatter.format(once, file: "p.json")
            #expect(once == twice, "not idempotent for \(text)")
            #expect(once.hasSuffix("\n"))
        }
        #expect(try PlanFormatter.format("{\"s\": \"\\u0001\\/\"}", file: "p.json") == "{\n  \"s\": \"\\u0001/\"\n}\n")
    }

    @Test func generatedDocumentsAreIdempotentAndKeepTheirData() throws {
        var generator = SeededGenerator(seed: 42)
        let keys = ["ferry", "instances", "imports", "copies", "backups", "from", "to", "databases", "engine",
                    "url", "after", "keep", "x", "name with space", "é"]
        func value(depth: Int) -> String {
            let choice = depth > 4 ? Int.random(in: 0..<4, using: &generator) : Int.random(in: 0..<7, using: &generator)
            switch choice {
            case 0: return "\"" + String(repeating: "s", count: Int.random(in: 0..<60, using: &generator)) + "\""
            case 1: return ["0", "-1", "1.50", "2e10", "3E-2"][Int.random(in: 0..<5, using: &generator)]
            case 2: return ["true", "false"][Int.random(in: 0..<2, using: &generator)]
            case 3: return "null"
            case 4:
                let count = Int.random(in: 0..<5, using: &generator)
                return "[" + (0..<count).map { _ in value(depth: depth + 1) }.joined(separator: ",") + "]"
            default:
                let count = Int.random(in: 0..<6, using: &generator)
                return "{" + (0..<count).map { _ in
                    "\"\(keys[Int.random(in: 0..<keys.count, using: &generator)])\": \(value(depth: depth + 1))"
                }.joined(separator: ",") + "}"
            }
        }
        for _ in 0..<300 {
            let text = value(depth: 0)
            let once = try PlanFormatter.format(text, file: "p.json")
            let twice = try PlanFormatter.format(once, file: "p.json")
            #expect(once == twice, "not idempotent for \(text)")
            #expect(normalized(try JSONParser.parse(once)) == normalized(try JSONParser.parse(text)))
        }
    }

    @Test func badJSONThrowsTheSyntaxDiagnostic() throws {
        do {
            _ = try PlanFormatter.format("{\n  \"ferry\": 1,\n}", file: "plans/bad.json")
            Issue.record("formatting bad JSON did not throw")
        } catch let error as FerryError {
            #expect(error.code == .syntax)
            #expect(error.diagnostics.first?.location == FerryCore.SourceLocation(file: "plans/bad.json", line: 2, column: 13, jsonPath: ""))
        }
    }
}

/// A small deterministic random generator (SplitMix64) so generated cases repeat.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
