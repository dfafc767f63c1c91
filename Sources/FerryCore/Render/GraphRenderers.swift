/// The action graph as Graphviz DOT and as Mermaid (`ferry graph`, Markdown plans).
public enum GraphRenderer {
    public static func dot(_ graph: ActionGraph) -> String {
        var out = "digraph ferry {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n"
        for action in graph.actions {
            let label = escapeDOT("\(action.step). \(action.summary)") + "\\n" + escapeDOT(action.address.description)
            out += "  s\(action.step) [label=\"\(label)\"\(action.takesCheckpoint ? ", style=bold" : "")];\n"
        }
        for action in graph.actions {
            for dep in action.dependsOn { out += "  s\(dep) -> s\(action.step);\n" }
        }
        return out + "}\n"
    }

    public static func mermaid(_ graph: ActionGraph) -> String {
        var out = "flowchart LR\n"
        if graph.actions.isEmpty { out += "  empty[\"no changes\"]\n" }
        for action in graph.actions {
            out += "  s\(action.step)[\"\(action.step). \(escapeMermaid(action.summary))<br/>\(escapeMermaid(action.address.description))\"]\n"
        }
        for action in graph.actions {
            for dep in action.dependsOn { out += "  s\(dep) --> s\(action.step)\n" }
        }
        return out
    }

    /// A DOT string body: backslashes and quotes escaped, control characters written visibly
    /// (`\\u{1B}`, `\\n` as text, never a DOT line break).
    static func escapeDOT(_ text: String) -> String {
        Redaction.escapeControlCharacters(text)
            .replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    }

    /// A Mermaid label body: quotes, angle brackets and `#` as entities, control characters
    /// written visibly.
    static func escapeMermaid(_ text: String) -> String {
        Redaction.escapeControlCharacters(text)
            .replacingOccurrences(of: "#", with: "#35;")
            .replacingOccurrences(of: "\"", with: "#quot;").replacingOccurrences(of: "<", with: "#lt;")
            .replacingOccurrences(of: ">", with: "#gt;").replacingOccurrences(of: "`", with: "#96;")
    }
}
