/// The plan as a pull-request comment: summary first, a table, the Mermaid graph; under 60,000 characters.
public enum MarkdownRenderer {
    public static let characterLimit = 60_000

    public static func render(changes: [ResourceChange], graph: ActionGraph, diagnostics: [Diagnostic] = [],
                              limit: Int = characterLimit) -> String {
        let summary = PlanSummary(changes: changes, graph: graph)
        var head = "### Ferry plan\n\n**\(summary.line)**\n\n"
        for warning in diagnostics where warning.severity == .warning {
            head += "> ⚠️ `\(warning.code.rawValue)` \(escape(warning.message))\n"
        }
        if diagnostics.contains(where: { $0.severity == .warning }) { head += "\n" }
        guard !changes.isEmpty else { return head }

        var rows: [String] = []
        for change in changes {
            let moves = change.movements.map { "`\(escape($0.from))` → `\(escape($0.to))`" }.joined(separator: "<br>")
            rows.append("| `\(change.action.symbol)` | `\(escape(change.address.description))` | \(moves) | \(escape(change.reasons.joined(separator: "; "))) | \(change.bytes > 0 ? Format.bytes(change.bytes) : "") |\n")
        }
        let tableHead = "| | resource | moves | why | bytes |\n|---|---|---|---|---|\n"
        let mermaid = "<details><summary>Action graph (\(graph.actions.count) steps)</summary>\n\n```mermaid\n" + GraphRenderer.mermaid(graph) + "```\n\n</details>\n"

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
            out += "\n_The action graph (\(graph.actions.count) steps) is too large for this comment; run `ferry graph --format mermaid`._\n"
        }
        return out
    }

    /// A table cell or code span: control characters written visibly (a `\n` cannot end the row
    /// and start a forged line), `|` escaped.
    static func escape(_ text: String) -> String {
        Redaction.escapeControlCharacters(text).replacingOccurrences(of: "|", with: "\\|")
    }
}
