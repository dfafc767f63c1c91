import Testing
@testable import FerryCore

@Suite struct LoaderJSONParserTests {
    func syntaxError(_ text: String) -> JSONSyntaxError? {
        do {
            _ = try JSONParser.parse(text)
            return nil
        } catch {
            return error
        }
    }

    @Test func keepsKeyOrderDuplicatesNumbersAndPositions() throws {
        let node = try JSONParser.parse("{\n  \"b\": 1.50,\n  \"a\": [2e3, -0, true, null],\n  \"b\": \"x\"\n}")
        let members = try #require(node.members)
        #expect(members.map(\.key) == ["b", "a", "b"])
        #expect(members[0].value.value == .number("1.50"))
        #expect(members[0].keyPosition == TextPosition(line: 2, column: 3))
        #expect(members[0].value.position == TextPosition(line: 2, column: 8))
        let list = try #require(members[1].value.elements)
        #expect(list.map(\.value) == [.number("2e3"), .number("-0"), .bool(true), .null])
        #expect(list[2].position == TextPosition(line: 3, column: 18))
        #expect(members[2].value.value == .string("x"))
    }

    @Test func columnsCountUnicodeScalarsNotBytes() throws {
        let node = try JSONParser.parse("{\"é€😀\": \"ü\", \"k\": 1}")
        let members = try #require(node.members)
        #expect(members[0].key == "é€😀")
        #expect(members[0].value.position == TextPosition(line: 1, column: 9))
        #expect(members[1].keyPosition == TextPosition(line: 1, column: 14))
    }

    @Test func decodesEscapes() throws {
        let node = try JSONParser.parse(#"["a\"b\\c\/d\n\t\u00e9\ud83d\ude00"]"#)
        #expect(node.elements?.first?.stringValue == "a\"b\\c/d\n\té😀")
    }

    @Test func missingCommaPointsAtTheNextKey() throws {
        let error = try #require(syntaxError("{\n  \"ferry\": 1\n  \"instances\": {}\n}"))
        #expect(error.position == TextPosition(line: 3, column: 3))
        #expect(error.message.contains("comma"))
    }

    @Test func unterminatedStringPointsAtItsStart() throws {
        let error = try #require(syntaxError("{\n  \"ferry\": 1,\n  \"name\": \"abc\n}"))
        #expect(error.position == TextPosition(line: 3, column: 11))
        #expect(error.message.contains("unterminated"))
        let atEnd = try #require(syntaxError("[1, \"abc"))
        #expect(atEnd.position == TextPosition(line: 1, column: 5))
    }

    @Test func trailingCommaPointsAtTheComma() throws {
        let error = try #require(syntaxError("{\n  \"ferry\": 1,\n\n}"))
        #expect(error.position == TextPosition(line: 2, column: 13))
        #expect(error.message.contains("trailing comma"))
        let list = try #require(syntaxError("[1, 2 ,  ]"))
        #expect(list.position == TextPosition(line: 1, column: 7))
    }

    @Test func otherSyntaxErrorsHavePositions() throws {
        #expect(syntaxError("")?.position == TextPosition(line: 1, column: 1))
        #expect(syntaxError("{\"a\" 1}")?.position == TextPosition(line: 1, column: 6))
        #expect(syntaxError("{\"a\": tru}")?.position == TextPosition(line: 1, column: 7))
        #expect(syntaxError("{\"a\": 01}")?.position == TextPosition(line: 1, column: 7))
        #expect(syntaxError("{\"a\": 1.}")?.position == TextPosition(line: 1, column: 9))
        #expect(syntaxError("{\"a\": \"\\x\"}")?.position == TextPosition(line: 1, column: 8))
        #expect(syntaxError("{\"a\": 1} x")?.position == TextPosition(line: 1, column: 10))
        #expect(syntaxError("{\n\"a\": 1")?.position == TextPosition(line: 2, column: 7))
        #expect(syntaxError("{'a': 1}")?.position == TextPosition(line: 1, column: 2))
        #expect(syntaxError(String(repeating: "[", count: 600))?.message.contains("nesting") == true)
    }

    @Test func skipsByteOrderMark() throws {
        let node = try JSONParser.parse("\u{FEFF}{\"a\": 1}")
        #expect(node.members?.first?.keyPosition == TextPosition(line: 1, column: 2))
    }
}
