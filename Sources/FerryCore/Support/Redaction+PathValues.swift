import Foundation

/// Values that `${env:...}` put into the path of an import source or a backup location
/// (SPEC §9, "Values from the environment in a path"): some services take an access token as a
/// path segment (`https://host/TOKEN/dump.sql`), and a user who wrote it as `${env:NAME}` meant
/// to keep it out of files. Ferry cannot tell such a token from a folder name, so every such
/// value is a secret: `redactURL` shows it as `***` in a URL's path, and a diagnostic's text
/// shows it as `***` wherever it appears (a server's answer may quote the object's key).
///
/// The set lives for the process: it is filled while a plan loads, before anything is printed,
/// journaled or recorded, and only grows (a value masked once stays masked).
extension Redaction {
    private final class PathValues: @unchecked Sendable {
        private let lock = NSLock()
        private var values: Set<String> = []
        /// Longest first, so that a value holding another is masked whole.
        private var ordered: [String] = []

        func insert(_ value: String) {
            lock.lock()
            defer { lock.unlock() }
            guard !value.isEmpty, values.insert(value).inserted else { return }
            ordered = values.sorted { $0.utf8.count != $1.utf8.count ? $0.utf8.count > $1.utf8.count : $0 < $1 }
        }

        var snapshot: [String] {
            lock.lock()
            defer { lock.unlock() }
            return ordered
        }
    }

    private static let pathValues = PathValues()

    /// Marks `value` (a `${env:...}` value written into a URL's path) as a secret, in the forms a
    /// path or a message may carry it: as written, percent-encoded for a path, and decoded.
    public static func maskPathValue(_ value: String) {
        pathValues.insert(value)
        if let encoded = value.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed), encoded != value {
            pathValues.insert(encoded)
        }
        if let decoded = value.removingPercentEncoding, decoded != value { pathValues.insert(decoded) }
    }

    /// `text` with every marked value of at least `minimumLength` characters replaced by `***`.
    static func maskingPathValues(_ text: some StringProtocol, minimumLength: Int = 1) -> String {
        var output = String(text)
        for value in pathValues.snapshot where value.count >= minimumLength && output.contains(value) {
            output = output.replacingOccurrences(of: value, with: "***")
        }
        return output
    }
}
