import Foundation

/// Human formats shared by every renderer.
public enum Format {
    /// `1 instance`, `2 instances`, `0 files`: a count and an English noun that takes a plain `s`.
    public static func counted(_ count: Int, _ noun: String) -> String {
        "\(count) \(noun)\(count == 1 ? "" : "s")"
    }

    /// `1.2 GB`, `512 B` (SI units, as the SPEC's summary line shows).
    public static func bytes(_ value: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB"]
        var amount = Double(value)
        var unit = 0
        while abs(amount) >= 1000 && unit < units.count - 1 {
            amount /= 1000
            unit += 1
        }
        if unit == 0 { return "\(value) B" }
        return String(format: amount >= 100 ? "%.0f %@" : "%.1f %@", amount, units[unit])
    }

    /// `3h12m`, `45s`.
    public static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        if total < 60 { return "\(total)s" }
        if total < 3600 { return "\(total / 60)m\(total % 60 == 0 ? "" : "\(total % 60)s")" }
        if total < 86400 { return "\(total / 3600)h\((total % 3600) / 60 == 0 ? "" : "\((total % 3600) / 60)m")" }
        return "\(total / 86400)d\((total % 86400) / 3600 == 0 ? "" : "\((total % 86400) / 3600)h")"
    }

    public static func time(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    /// Compares dotted version strings numerically (`10.11.6-MariaDB` vs `10.5.2`).
    public static func compareVersions(_ a: String, _ b: String) -> ComparisonResult {
        func parts(_ s: String) -> [Int] {
            s.prefix { $0.isNumber || $0 == "." }.split(separator: ".").map { Int($0) ?? 0 }
        }
        let pa = parts(a), pb = parts(b)
        for i in 0..<max(pa.count, pb.count) {
            let x = i < pa.count ? pa[i] : 0, y = i < pb.count ? pb[i] : 0
            if x < y { return .orderedAscending }
            if x > y { return .orderedDescending }
        }
        return .orderedSame
    }
}
