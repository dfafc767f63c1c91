/// The plan as a pull-request comment: summary first, a table, the Mermaid graph; under 60,000 characters.
public enum MarkdownRenderer {
    public static let characterLimit = 60_000

    /// The warnings of `diagnostics` as quoted lines (with their hints), then a blank line; ""
    /// when there are none.
    /// Shared by the plan and the drift check (`DriftRenderer.markdown`).
    static func warnings(_ diagnostics: [Diagnostic]) -> String {
        let lines = diagnostics.filter { $0.severity == .warning }
            .map { "> ⚠️ \(code($0.code.rawValue)) \(text($0.message))" + ($0.hint.map { " (hint: \(text($0)))" } ?? "") + "\n" }
        return lines.isEmpty ? "" : lines.joined() + "\n"
    }

    public static func render(changes: [ResourceChange], graph: ActionGraph, diagnostics: [Diagnostic] = [],
                              limit: Int = characterLimit) -> String {
        let summary = PlanSummary(changes: changes, graph: graph)
        var head = "### Ferry plan\n\n**\(summary.line)**\n\n"
        head += warnings(diagnostics)
        guard !changes.isEmpty else { return head }

        var rows: [String] = []
        for change in changes {
            let moves = change.movements.map { "\(code($0.from)) → \(code($0.to))" }.joined(separator: "<br>")
            rows.append("| \(code(change.action.symbol)) | \(code(change.address.description)) | \(moves) | \(text(change.reasons.joined(separator: "; "))) | \(change.bytes > 0 ? Format.bytes(change.bytes) : "") |\n")
        }
        let tableHead = "| | resource | moves | why | bytes |\n|---|---|---|---|---|\n"
        let mermaid = "<details><summary>Action graph (\(Format.counted(graph.actions.count, "step")))</summary>\n\n```mermaid\n" + GraphRenderer.mermaid(graph) + "```\n\n</details>\n"

        var out = head + tableHead
        let reserve = 200
        var shown = 0
        var length = out.count
        for row in rows {
            let rowLength = row.count
            if length + rowLength + reserve > limit { break }
            out += row
            length += rowLength
            shown += 1
        }
        if shown < rows.count {
            out += "\n_…and \(rows.count - shown) more resources, folded to stay under \(limit) characters; run `ferry plan` for all._\n"
        }
        if length + mermaid.count + 2 <= limit {
            out += "\n" + mermaid
        } else {
            out += "\n_The action graph (\(Format.counted(graph.actions.count, "step"))) is too large for this comment; run `ferry graph --format mermaid`._\n"
        }
        return out
    }

    /// A table cell or code span: control characters written visibly (a `\n` cannot end the row
    /// and start a forged line), `|` escaped.
    static func escape(_ text: String) -> String {
        Redaction.escapeControlCharacters(text).replacingOccurrences(of: "|", with: "\\|")
    }

    /// A code span holding `text` literally, whatever backticks it holds (CommonMark 0.31, §6.1):
    /// fenced by one more backtick than its longest run of them, with a space inside each fence
    /// when it starts or ends with a backtick or a space (which CommonMark then strips). Nothing in a
    /// code span is read as HTML or markdown.
    static func code(_ text: String) -> String {
        let body = escape(text)
        var longest = 0, run = 0
        for character in body {
            if character == "`" { run += 1; longest = max(longest, run) } else { run = 0 }
        }
        let fence = String(repeating: "`", count: longest + 1)
        let pad = body.isEmpty || body.hasPrefix("`") || body.hasSuffix("`") || body.hasPrefix(" ") || body.hasSuffix(" ") ? " " : ""
        return fence + pad + body + pad + fence
    }

    /// Plain text outside code spans, shown as written: `<`, `>` and `&` as entities (never an HTML
    /// tag, a comment or an entity of the user's), and every other character that markdown reads
    /// (emphasis, links, code, strikethrough, table cells) backslash-escaped.
    static func text(_ text: String) -> String {
        var out = ""
        for character in Redaction.escapeControlCharacters(text) {
            switch character {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\\", "`", "*", "_", "[", "]", "|", "~": out += "\\" + String(character)
            default: out.append(character)
            }
        }
        return out
    }
}
