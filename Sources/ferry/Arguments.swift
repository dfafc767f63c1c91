import FerryCore

/// The command line split into words, flags and flag values, with the global flags taken out.
struct Arguments {
    var positional: [String] = []
    private var values: [String: [String]] = [:]
    private var switches: Set<String> = []

    /// Flags that take a value (`--out FILE` or `--out=FILE`).
    static let valued: Set<String> = ["--state", "--out", "--target", "--exclude", "--replace", "--format", "--parallelism",
                                      "--allow-outside", "--list", "--lock-timeout", "--to", "--from", "--abandon"]

    init(_ words: [String]) throws {
        var index = 0
        while index < words.count {
            let word = words[index]
            index += 1
            if word == "--" {
                positional += words[index...]
                break
            }
            guard word.hasPrefix("-"), word.count > 1 else {
                positional.append(word)
                continue
            }
            if let equals = word.firstIndex(of: "="), word.hasPrefix("--") {
                let name = String(word[..<equals])
                values[name, default: []].append(String(word[word.index(after: equals)...]))
                continue
            }
            if Self.valued.contains(word) {
                guard index < words.count else {
                    throw FerryError(.invalidParameter, "\(word) needs a value", hint: "see `ferry --help`")
                }
                values[word, default: []].append(words[index])
                index += 1
            } else {
                switches.insert(word)
            }
        }
    }

    func has(_ flag: String) -> Bool { switches.contains(flag) }
    func value(_ flag: String) -> String? { values[flag]?.last }
    func all(_ flag: String) -> [String] { values[flag] ?? [] }

    /// Rejects flags the command does not take.
    func check(allowedSwitches: Set<String>, allowedValues: Set<String>, command: String) throws {
        let global: Set<String> = ["--no-color", "-v", "--verbose", "--help", "-h"]
        for flag in switches where !allowedSwitches.contains(flag) && !global.contains(flag) {
            throw FerryError(.invalidParameter, "ferry \(command) does not take \(flag)", hint: "see `ferry \(command) --help`")
        }
        for flag in values.keys where !allowedValues.contains(flag) && flag != "--state" {
            throw FerryError(.invalidParameter, "ferry \(command) does not take \(flag)", hint: "see `ferry \(command) --help`")
        }
    }

    func addresses(_ flag: String) throws -> [Address] {
        try all(flag).map { text in
            guard let address = Address(parsing: text) else {
                throw FerryError(.unknownAddress, "\(text) is not an address", hint: "addresses are import.NAME, copy.NAME or backup.NAME")
            }
            return address
        }
    }
}
