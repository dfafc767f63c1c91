/// Terminal colours, off when output is not a terminal, with `--no-color` or `NO_COLOR`.
public struct Palette: Sendable {
    public var isEnabled: Bool
    public init(isEnabled: Bool) { self.isEnabled = isEnabled }

    func paint(_ text: String, _ code: String) -> String { isEnabled ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
    public func green(_ t: String) -> String { paint(t, "32") }
    public func yellow(_ t: String) -> String { paint(t, "33") }
    public func red(_ t: String) -> String { paint(t, "31") }
    public func cyan(_ t: String) -> String { paint(t, "36") }
    public func bold(_ t: String) -> String { paint(t, "1") }
    public func dim(_ t: String) -> String { paint(t, "2") }

    func forAction(_ action: ChangeAction, _ text: String) -> String {
        switch action {
        case .create: green(text)
        case .replace: yellow(text)
        case .update: cyan(text)
        case .noop: dim(text)
        case .forget: red(text)
        }
    }
}

/// The plan as `ferry plan` prints it: resources, numbered steps, summary line (SPEC §5).
public struct TextRenderer: Sendable {
    public var palette: Palette
    public init(palette: Palette) { self.palette = palette }

    /// The warnings of `diagnostics`, a line each (and its place and hint, as errors print
    /// theirs: fresh tester round 74, F5), then a blank line; "" when there are none. Shared by
    /// the plan and the drift check (`DriftRenderer.text`).
    static func warnings(_ diagnostics: [Diagnostic], palette: Palette) -> String {
        let e = Redaction.escapeControlCharacters
        var out = ""
        for warning in diagnostics where warning.severity == .warning {
            out += palette.yellow("warning") + "[\(warning.code.rawValue)]: \(e(warning.message))\n"
            if let location = warning.location { out += "  --> \(e(location.description))\n" }
            if let hint = warning.hint { out += "  hint: \(e(hint))\n" }
        }
        return out.isEmpty ? "" : out + "\n"
    }

    /// Every value from a plan, an instance or a server passes through `e` (control characters
    /// escaped), colour or not: a name holding `\n` or an escape sequence cannot forge a line.
    public func render(changes: [ResourceChange], graph: ActionGraph, diagnostics: [Diagnostic] = []) -> String {
        let e = Redaction.escapeControlCharacters
        var out = ""
        let summary = PlanSummary(changes: changes, graph: graph)
        out += Self.warnings(diagnostics, palette: palette)
        if changes.isEmpty {
            return out + summary.line + "\n"
        }
        out += palette.bold("Resources:") + "\n"
        let width = min(40, changes.map { $0.address.description.count }.max() ?? 0)
        for change in changes {
            let symbol = change.action.symbol.padding(toLength: 3, withPad: " ", startingAt: 0)
            let address = e(change.address.description).padding(toLength: max(width, change.address.description.count), withPad: " ", startingAt: 0)
            var line = "  " + palette.forAction(change.action, symbol + " " + address)
            let moves = change.movements.map { "\(e($0.from)) → \(e($0.to))" }.joined(separator: ", ")
            if !moves.isEmpty { line += "  \(moves)" }
            line += "  " + palette.dim("(" + e(change.reasons.joined(separator: "; ")) + ")")
            if change.bytes > 0 { line += "  \(Format.bytes(change.bytes))" }
            out += line + "\n"
        }
        if !graph.actions.isEmpty {
            out += "\n" + palette.bold("Steps:") + "\n"
            let digits = String(graph.actions.count).count
            for action in graph.actions {
                let number = String(action.step).leftPadded(to: digits)
                var line = "  \(number). \(e(action.address.description))  \(e(action.summary))"
                if action.takesCheckpoint { line += palette.dim(" [checkpoint]") }
                if !action.dependsOn.isEmpty {
                    line += palette.dim("  after " + action.dependsOn.map(String.init).joined(separator: ", "))
                }
                out += line + "\n"
            }
        }
        out += "\n" + palette.bold(summary.line) + "\n"
        return out
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
