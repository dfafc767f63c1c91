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
        /// The reference that put a value (as written) into a path: `${env:NAME}`.
        private var references: [String: String] = [:]

        func insert(_ value: String, reference: String? = nil) {
            lock.lock()
            defer { lock.unlock() }
            guard !value.isEmpty else { return }
            if let reference, references[value] == nil { references[value] = reference }
            guard values.insert(value).inserted else { return }
            ordered = values.sorted { $0.utf8.count != $1.utf8.count ? $0.utf8.count > $1.utf8.count : $0 < $1 }
        }

        var snapshot: [String] {
            lock.lock()
            defer { lock.unlock() }
            return ordered
        }

        func reference(of value: String) -> String? {
            lock.lock()
            defer { lock.unlock() }
            return references[value]
        }
    }

    private static let pathValues = PathValues()

    /// Marks `value` (a `${env:...}` value written into a URL's path) as a secret, in the forms a
    /// path or a message may carry it: as written, percent-encoded for a path, and decoded.
    public static func maskPathValue(_ value: String, reference: String? = nil) {
        pathValues.insert(value, reference: reference)
        if let encoded = value.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed), encoded != value {
            pathValues.insert(encoded)
        }
        if let decoded = value.removingPercentEncoding, decoded != value { pathValues.insert(decoded) }
    }

    /// `location` (a backup set's, from a location whose path holds `${env:}` values) with each
    /// marked value put back as the reference that gave it (`${env:NAME}`), so that a journal
    /// can keep where the set is without the value (fresh tester round 76, F2: a backup's
    /// `backupStarted` journaled the path token in clear); nil when it holds no marked value. A
    /// form of a value with no reference (percent-encoded or decoded) is `***`.
    /// `expandingPathTemplate` reads it back.
    public static func templatingPathValues(_ location: String) -> String? {
        let values = pathValues.snapshot.filter { location.contains($0) }
        guard !values.isEmpty else { return nil }
        // One pass, longest value first at each place; a literal `${` is written `$${`, as a
        // plan writes it, so that only the references put back are expanded.
        var output = ""
        var rest = Substring(location)
        while !rest.isEmpty {
            if let value = values.first(where: { rest.hasPrefix($0) }) {
                output += pathValues.reference(of: value) ?? "***"
                rest = rest.dropFirst(value.count)
            } else if rest.hasPrefix("${") {
                output += "$${"
                rest = rest.dropFirst(2)
            } else {
                output.append(rest.removeFirst())
            }
        }
        return output
    }

    /// A location `templatingPathValues` gave, its references expanded from `environment`; nil,
    /// with the names, when one is unset or a value could not be put back (`***`).
    public static func expandingPathTemplate(_ template: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> (location: String?, unset: [String]) {
        guard !template.contains("***") else { return (nil, []) }
        let expansion = PlanValueParsing.expand(template, environment: environment, encodingValues: nil)
        guard expansion.malformed == nil, expansion.unsetVariables.isEmpty else { return (nil, expansion.unsetVariables) }
        for (value, _) in PlanValueParsing.pathReferences(template, environment: environment) { maskPathValue(value) }
        return (expansion.text, [])
    }

    /// `text` with the default of every `${env:NAME:-DEFAULT}` reference shown as `***`.
    public static func maskingReferenceDefaults(_ text: String) -> String {
        guard text.contains(":-") else { return text }
        var output = ""
        var rest = Substring(text)
        while let open = rest.range(of: "${env:") {
            output += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                rest = rest[open.lowerBound...]
                break
            }
            let body = rest[open.upperBound..<close]
            if let dash = body.range(of: ":-") {
                output += "${env:" + body[..<dash.lowerBound] + ":-***}"
            } else {
                output += rest[open.lowerBound...close]
            }
            rest = rest[rest.index(after: close)...]
        }
        return output + rest
    }

    /// `SALT:HEX`: the SHA-256 (`useTextDigest`'s, libcrypto's in the executable) of a fresh
    /// random salt and `location`; what a journal keeps to tell that a location expanded again
    /// is the one the run wrote, without the value (`JournalRecord.directoryDigest`).
    public static func locationDigest(_ location: String, salt: String = UUID().uuidString) -> String {
        salt + ":" + textDigest.hash(Array((salt + "\u{0}" + location).utf8))
    }

    /// Whether `location` is the one `digest` (`locationDigest`) was made of.
    public static func locationMatches(_ location: String, digest: String) -> Bool {
        guard let colon = digest.firstIndex(of: ":"), colon != digest.startIndex else { return false }
        return locationDigest(location, salt: String(digest[..<colon])) == digest
    }

    /// Sets the hash `locationDigest` uses (hex SHA-256 of bytes); the executable hands in
    /// libcrypto's (FerryCore links no crypto library). Until then: `StableHash`, not a
    /// cryptographic hash.
    public static func useTextDigest(_ hash: @escaping @Sendable ([UInt8]) -> String) {
        textDigest.set(hash)
    }

    private final class TextDigest: @unchecked Sendable {
        // Safe: `hashing` is only touched under `lock`.
        private let lock = NSLock()
        private var hashing: (@Sendable ([UInt8]) -> String)?
        func set(_ hash: @escaping @Sendable ([UInt8]) -> String) { lock.withLock { hashing = hash } }
        func hash(_ bytes: [UInt8]) -> String {
            let chosen = lock.withLock { hashing }
            return chosen?(bytes) ?? "fnv" + StableHash.hex(String(decoding: bytes, as: UTF8.self))
        }
    }

    private static let textDigest = TextDigest()

    /// `text` with every marked value of at least `minimumLength` characters replaced by `***`.
    static func maskingPathValues(_ text: some StringProtocol, minimumLength: Int = 1) -> String {
        var output = String(text)
        for value in pathValues.snapshot where value.count >= minimumLength && output.contains(value) {
            output = output.replacingOccurrences(of: value, with: "***")
        }
        return output
    }
}
