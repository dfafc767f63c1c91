/// The action graph as Graphviz DOT and as Mermaid (`ferry graph`, Markdown plans).
public enum GraphRenderer {
    public static func dot(_ graph: ActionGraph) -> String {
        var out = "digraph ferry {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n"
        for action in graph.actions {
            let label = "\(action.step). \(action.summary)\\n\(action.address)"
            out += "  s\(action.step) [label=\"\(escapeDOT(label))\"\(action.takesCheckpoint ? ", style=bold" : "")];\n"
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

    static func escapeDOT(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\\\\n", with: "\\n")
    }

    static func escapeMermaid(_ text: String) -> String {
        text.replacingOccurrences(of: "\"", with: "#quot;").replacingOccurrences(of: "<", with: "#lt;")
            .replacingOccurrences(of: ">", with: "#gt;")
    }
}
