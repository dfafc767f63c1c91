import Foundation

/// `ferry plan --refresh-only` as text, Markdown and JSON (SPEC §11). Every value from an
/// instance, a plan or the state passes through `Redaction.escapeControlCharacters`.
public enum DriftRenderer {
    public static func text(_ report: DriftReport, palette: Palette) -> String {
        let e = Redaction.escapeControlCharacters
        var out = TextRenderer.warnings(report.warnings, palette: palette)
        for (address, why) in report.unchecked.sorted(by: { $0.key < $1.key }) {
            out += palette.red("not checked") + ": \(e(address)): \(e(why))\n"
        }
        if report.findings.isEmpty {
            let checked = Format.counted(report.checked.count, "resource")
            out += report.unchecked.isEmpty
                ? "No drift: the instances are as the state recorded them (\(checked) checked).\n"
                : "No drift found in the \(checked) that could be checked.\n"
            return out
        }
        out += palette.bold("Drift: \(Format.counted(report.findings.count, "change")) outside Ferry") + "\n"
        for finding in report.findings {
            let mark = finding.kind == .targetVanished || finding.kind == .sourceVanished || finding.kind == .backupSetVanished
                ? palette.red("-") : palette.yellow("~")
            out += "  \(mark) \(e(finding.address.description)): \(Self.noun(finding.kind)) \(e(finding.subject)) \(e(finding.detail))\n"
        }
        out += "Nothing was changed. Run `ferry plan` to see what an apply would do about it.\n"
        return out
    }

    /// For a pull-request or issue comment, with SPEC §5's rules: names as code spans, other
    /// text escaped (`MarkdownRenderer.code`, `.text`).
    public static func markdown(_ report: DriftReport) -> String {
        let code = MarkdownRenderer.code, text = MarkdownRenderer.text
        var out = "### Ferry drift check\n\n"
        out += MarkdownRenderer.warnings(report.warnings)
        if report.findings.isEmpty {
            out += "No drift: \(Format.counted(report.checked.count, "resource")) checked.\n"
        } else {
            out += "| resource | what | subject | detail |\n|---|---|---|---|\n"
            for f in report.findings {
                out += "| \(code(f.address.description)) | \(noun(f.kind)) | \(code(f.subject)) | \(text(f.detail)) |\n"
            }
        }
        for (address, why) in report.unchecked.sorted(by: { $0.key < $1.key }) {
            out += "\n**Not checked:** \(code(address)): \(text(why))\n"
        }
        return out
    }

    public static func json(_ report: DriftReport) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Redaction.escapeJSONControls(String(decoding: try encoder.encode(report), as: UTF8.self)) + "\n"
    }

    static func noun(_ kind: DriftFinding.Kind) -> String {
        switch kind {
        case .targetChanged, .targetVanished: "target"
        case .sourceChanged, .sourceVanished: "source"
        case .backupSetVanished: "backup set"
        }
    }
}
