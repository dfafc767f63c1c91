import Foundation

/// The canonical text of a plan file, as `ferry fmt` writes it.
///
/// Two-space indent; the top level, each section (`instances`, `imports`, `copies`, `backups`) and
/// each entry of a section are always expanded, one field per line. Known fields come in SPEC §2's
/// order, unknown fields after them in their original order; entry names keep the user's order.
/// Anything nested deeper (a `databases` map, a `password` object, a `from` list) is written on one
/// line (`{ "a": "b" }`, `[ "x", "y" ]`) when that line fits in `lineWidth` columns (Unicode
/// scalars), else expanded by the same rule. Number literals are kept as written; strings are
/// re-escaped minimally (`\"`, `\\`, control characters), non-ASCII kept. The text ends with one
/// newline. Formatting is idempotent: `format(format(x)) == format(x)`.
public enum PlanFormatter {
    public static let lineWidth = 100

    /// Formats a plan text. Throws a `FerryError` with an `InvalidParameter.Syntax` diagnostic at
    /// the offending line and column when the text is not JSON.
    public static func format(_ text: String, file: String) throws -> String {
        let document: JSONNode
        do {
            document = try JSONParser.parse(text)
        } catch {
            let absolute = PathResolution.absolute(file, relativeTo: FileManager.default.currentDirectoryPath)
            throw FerryError(.syntax, error.message, hint: "fix the JSON, then run `ferry fmt` again",
                             at: SourceLocation(file: PathResolution.display(absolute), line: error.position.line,
                                                column: error.position.column, jsonPath: ""))
        }
        return render(document, role: .document, indent: 0, lead: 0, trailing: 0) + "\n"
    }

    /// How a value is laid out, by where it sits in a plan.
    enum Role: Equatable {
        case document
        case section(String)
        case entry(String)
        case free
    }

    static func render(_ node: JSONNode, role: Role, indent: Int, lead: Int, trailing: Int) -> String {
        switch node.value {
        case .object(let members):
            if members.isEmpty { return "{}" }
            if role == .free {
                let inline = inlineText(node)
                if lead + inline.unicodeScalars.count + trailing <= lineWidth { return inline }
            }
            let ordered = order(members, role: role)
            let pad = String(repeating: " ", count: indent + 2)
            var text = "{\n"
            for (index, member) in ordered.enumerated() {
                let isLast = index == ordered.count - 1
                let key = quoted(member.key) + ": "
                let childRole = childRole(of: member, in: role)
                text += pad + key
                text += render(member.value, role: childRole, indent: indent + 2,
                               lead: indent + 2 + key.unicodeScalars.count, trailing: isLast ? 0 : 1)
                text += isLast ? "\n" : ",\n"
            }
            return text + String(repeating: " ", count: indent) + "}"
        case .array(let elements):
            if elements.isEmpty { return "[]" }
            if role == .free {
                let inline = inlineText(node)
                if lead + inline.unicodeScalars.count + trailing <= lineWidth { return inline }
            }
            let pad = String(repeating: " ", count: indent + 2)
            var text = "[\n"
            for (index, element) in elements.enumerated() {
                let isLast = index == elements.count - 1
                text += pad + render(element, role: .free, indent: indent + 2, lead: indent + 2, trailing: isLast ? 0 : 1)
                text += isLast ? "\n" : ",\n"
            }
            return text + String(repeating: " ", count: indent) + "]"
        default:
            return scalarText(node)
        }
    }

    static func childRole(of member: JSONMember, in role: Role) -> Role {
        switch role {
        case .document:
            PlanSchema.sections.contains(member.key) ? .section(member.key) : .free
        case .section(let section):
            .entry(section)
        case .entry, .free:
            .free
        }
    }

    /// Known fields in canonical order (repeated keys keep their relative order), then the rest as written.
    static func order(_ members: [JSONMember], role: Role) -> [JSONMember] {
        let known: [String]
        switch role {
        case .document: known = PlanSchema.topLevelFields
        case .entry(let section): known = PlanSchema.entryFields(ofSection: section) ?? []
        case .section, .free: return members
        }
        var result: [JSONMember] = []
        for field in known {
            result.append(contentsOf: members.filter { $0.key == field })
        }
        result.append(contentsOf: members.filter { !known.contains($0.key) })
        return result
    }

    static func inlineText(_ node: JSONNode) -> String {
        switch node.value {
        case .object(let members):
            if members.isEmpty { return "{}" }
            return "{ " + members.map { quoted($0.key) + ": " + inlineText($0.value) }.joined(separator: ", ") + " }"
        case .array(let elements):
            if elements.isEmpty { return "[]" }
            return "[ " + elements.map(inlineText).joined(separator: ", ") + " ]"
        default:
            return scalarText(node)
        }
    }

    static func scalarText(_ node: JSONNode) -> String {
        switch node.value {
        case .string(let text): quoted(text)
        case .number(let literal): literal
        case .bool(let flag): flag ? "true" : "false"
        case .null: "null"
        case .object, .array: inlineText(node)
        }
    }

    /// A JSON string literal with the fewest escapes.
    static func quoted(_ text: String) -> String {
        var result = "\""
        result.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\u{08}": result += "\\b"
            case "\u{0C}": result += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16, uppercase: false)
                    result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }
}
