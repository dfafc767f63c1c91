import FerryCore
import Foundation

/// `ftp://[USER[:${env:NAME}]@]HOST[:PORT]/PATH` backup locations, and `ftps://` over explicit TLS
/// (`FTPConnection`) (SPEC §2, backup fields). A set
/// is the directory `PATH/ID`, made by the run that journaled its location first; each file is
/// stored under a temporary name inside it (`.FILE.ferry-part`), checked for its size, and renamed
/// (`RNFR`/`RNTO`) to its name only when no file of that name is there, so a reader never sees a
/// partial file and nothing Ferry did not write is replaced; the manifest goes the same way, last.
/// Removing a set (a prune, a rollback, `ferry recover`) deletes the manifest first, then every
/// file of the set's directory (temporaries too), then the directory.
struct FTPBackups: BackupStore {
    let base: String
    let location: FTPLocation
    let environment: [String: String]
    var displayName: String { Redaction.redactURL(base) }
    var isRemote: Bool { true }

    init(location text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard let parsed = FTPLocation(text) else {
            throw FerryError(.invalidParameter, "not an ftp: backup location: \(Redaction.redactURL(text))")
        }
        base = text
        location = parsed
        self.environment = environment
    }

    func location(of id: String) -> String { "\(base)/\(id)" }
    private func directory(_ id: String) -> String { "\(location.path)/\(id)" }
    static func temporaryName(of file: String) -> String { ".\(file).ferry-part" }

    func stagingNames(of file: String) -> [String] { [Self.temporaryName(of: file)] }

    func remainingNames(in id: String) throws -> [String] {
        try session { connection in
            (try entries(connection, directory(id)) ?? []).map { entry in
                entry.facts["type"]?.lowercased() == "dir" ? entry.name + "/" : entry.name
            }.sorted()
        }
    }

    /// The user and password to log in with: the URL's `${env:NAME}`, else `~/.netrc` (`NETRC`
    /// names another file), else the URL's user without a password, else anonymous.
    func credentials() throws -> (user: String?, password: String?) {
        if let variable = location.passwordVariable {
            guard let value = environment[variable] else {
                throw FerryError(.unsetVariable, "environment variable \(variable) is not set: it holds the password of \(displayName)",
                                 hint: "set \(variable) as it was when the plan was applied")
            }
            return (location.user, value)
        }
        if let entry = Netrc.entry(host: location.host, user: location.user, environment: environment) {
            return (entry.login ?? location.user, entry.password)
        }
        return (location.user, nil)
    }

    /// Runs `body` on one logged-in connection, closed after.
    private func session<T>(_ body: (FTPConnection) throws -> T) throws -> T {
        let (user, password) = try credentials()
        let connection = try FTPConnection(host: location.host, port: location.port, user: user, password: password,
                                           name: displayName, tls: location.tls)
        defer { connection.close() }
        return try body(connection)
    }

    /// Every entry of `path` (nil when it does not exist).
    private func entries(_ connection: FTPConnection, _ path: String) throws -> [(name: String, facts: [String: String])]? {
        try connection.list(path.isEmpty ? "/" : path)?.filter { $0.name != "." && $0.name != ".." }
    }

    func setIDs() throws -> [String] {
        try session { connection in
            (try entries(connection, location.path) ?? []).filter { $0.facts["type"]?.lowercased() == "dir" }.map(\.name).sorted()
        }
    }

    func manifest(of id: String) throws -> Data? {
        try session { connection in try read(connection, "\(directory(id))/manifest.json") }
    }

    /// The bytes of a (small) file, nil when it does not exist.
    private func read(_ connection: FTPConnection, _ path: String) throws -> Data? {
        guard let data = try connection.download("RETR \(path)", missing: [550]) else { return nil }
        var bytes = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try data.read(into: $0) }
            if n == 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        data.close()
        try connection.finishTransfer("RETR \(path)")
        return bytes
    }

    /// The `MLSD` facts of the set's files (temporaries are not files of the set), by name.
    private func setFiles(in id: String) throws -> [String: [String: String]] {
        try session { connection in
            var result: [String: [String: String]] = [:]
            for entry in try entries(connection, directory(id)) ?? [] where entry.facts["type"]?.lowercased() == "file" {
                if entry.name.hasSuffix(".ferry-part") && entry.name.hasPrefix(".") { continue }
                result[entry.name] = entry.facts
            }
            return result
        }
    }

    /// The set's files with their sizes.
    func files(in id: String) throws -> [String: Int64] {
        try setFiles(in: id).mapValues { Int64($0["size"] ?? "") ?? 0 }
    }

    /// `BackupStore.fileVersions`: each file's `MLSD` facts `modify` (its last modification,
    /// `YYYYMMDDHHMMSS[.sss]` UTC) and `unique` (the server's id of the file) of RFC 3659 §7.5,
    /// as one tag (`modify=...;unique=...`): a file written again since its upload, even to the
    /// same size, gives another one (fresh tester round 41, F1's rest on `ftp://`). A server that
    /// gives neither fact gives no tag (the size alone is the proof then, as before). A rewrite
    /// in the same second as the upload that keeps the file's id is not told (the facts'
    /// resolution).
    func fileVersions(in id: String) throws -> [String: String] {
        try setFiles(in: id).compactMapValues { facts in
            let tag = ["modify", "unique"].compactMap { fact in facts[fact].map { "\(fact)=\($0)" } }.joined(separator: ";")
            return tag.isEmpty ? nil : tag
        }
    }

    /// Makes `PATH` (each missing level, as `mkdir -p` would) and the set's directory.
    private func makeDirectories(_ connection: FTPConnection, for id: String) throws {
        var path = ""
        for component in directory(id).split(separator: "/") {
            path += "/" + component
            guard let facts = try connection.facts(of: path) else {
                try connection.expect("MKD \(path)", 200...299)
                continue
            }
            guard facts["type"]?.lowercased().hasSuffix("dir") ?? true else {
                throw FerryError(.invalidParameter, "\(displayName): \(path) on the FTP server is a file, not a directory")
            }
        }
    }

    /// Stores `bytes` from `write` under the temporary name, then renames it to `file`.
    private func store(_ connection: FTPConnection, _ file: String, in id: String, size: Int64,
                       write: (RemoteSocket) throws -> Void) throws {
        let folder = directory(id)
        let temporary = "\(folder)/\(Self.temporaryName(of: file))"
        let target = "\(folder)/\(file)"
        var storing = false
        do {
            if try connection.facts(of: temporary) != nil {
                throw FerryError(.nameConflict, "\(displayName): \(temporary) exists on the FTP server; Ferry did not write it here",
                                 hint: "it is left as it is")
            }
            let data = try connection.openData()
            storing = true
            let answer = try connection.command("STOR \(temporary)")
            guard (100...199).contains(answer.code) else { data.close(); throw connection.refusal("STOR \(temporary)", answer) }
            try connection.secure(data)
            do { try write(data) } catch { data.close(); throw error }
            data.closeAfterWriting()
            try connection.finishTransfer("STOR \(temporary)")
            let stored = try connection.facts(of: temporary)?["size"].flatMap { Int64($0) }
            if let stored, stored != size {
                throw FerryError(.importError, "\(displayName): the FTP server holds \(stored) bytes of \(file), not \(size)")
            }
            if try connection.facts(of: target) != nil {
                throw FerryError(.nameConflict, "\(displayName): \(target) exists on the FTP server; Ferry does not replace it",
                                 hint: "a file Ferry did not write is left as it is")
            }
            try connection.expect("RNFR \(temporary)", 300...399)
            try connection.expect("RNTO \(target)", 200...299)
        } catch {
            // What this call stored under its temporary name goes (best effort; recover removes
            // the whole set otherwise).
            if storing { _ = try? connection.command("DELE \(temporary)") }
            throw error
        }
    }

    func put(_ file: String, from path: String, in id: String) throws {
        let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw FerryError(.internalError, "cannot read the staged backup file \(path)")
        }
        defer { try? handle.close() }
        try session { connection in
            try makeDirectories(connection, for: id)
            try store(connection, file, in: id, size: size) { data in
                var sent: Int64 = 0
                while sent < size {
                    let bytes = try RemoteBackupStores.readPart(handle, offset: UInt64(sent), length: Int(min(Int64(RemoteBackupStores.partSize), size - sent)))
                    if bytes.isEmpty { break }
                    try data.write(bytes: bytes)
                    sent += Int64(bytes.count)
                    KillPoint.check("change:upload.part")
                }
            }
        }
    }

    func putManifest(_ data: Data, in id: String) throws {
        let bytes = Array(data)
        try session { connection in
            try makeDirectories(connection, for: id)
            try store(connection, "manifest.json", in: id, size: Int64(bytes.count)) { try $0.write(bytes: bytes) }
        }
    }

    func fetch(_ file: String, in id: String, to path: String) throws -> String {
        try session { connection in
            let remote = "\(directory(id))/\(file)"
            guard let data = try connection.download("RETR \(remote)", missing: [550]) else {
                throw FerryError(.backupNotFound, "\(displayName): backup set \(id) has no file \(file)")
            }
            defer { data.close() }
            try RemoteBackupStores.copy(data, to: path)
            data.close()
            try connection.finishTransfer("RETR \(remote)")
            return path
        }
    }

    /// The levels of `PATH` the server does not have (as `makeDirectories` would make them).
    func missingDirectories() throws -> [String] {
        try session { connection in
            var path = "", missing: [String] = []
            for component in location.path.split(separator: "/") {
                path += "/" + component
                if !missing.isEmpty { missing.append(path); continue }
                if try connection.facts(of: path) == nil { missing.append(path) }
            }
            return missing
        }
    }

    /// `RMD` each, innermost first: the server refuses a directory that is not empty, which is
    /// then left, as is any level when the server cannot be reached.
    func removeEmptyDirectories(_ directories: [String]) {
        _ = try? session { connection in
            for path in directories.reversed() where path.hasPrefix("/") {
                _ = try? connection.command("RMD \(path)")
            }
        }
    }

    func removeSet(_ id: String, only own: Set<String>?) throws {
        try session { connection in
            let folder = directory(id)
            let gone = try connection.command("DELE \(folder)/manifest.json")
            guard (200...299).contains(gone.code) || gone.code == 550 else { throw connection.refusal("DELE \(folder)/manifest.json", gone) }
            KillPoint.check("change:prune.manifestRemoved")
            guard let listed = try entries(connection, folder) else { return }
            for entry in listed where entry.facts["type"]?.lowercased() == "file" && own?.contains(entry.name) ?? true {
                let answer = try connection.command("DELE \(folder)/\(entry.name)")
                guard (200...299).contains(answer.code) || answer.code == 550 else { throw connection.refusal("DELE \(folder)/\(entry.name)", answer) }
            }
            let removed = try connection.command("RMD \(folder)")
            guard (200...299).contains(removed.code) || removed.code == 550 else { throw connection.refusal("RMD \(folder)", removed) }
        }
    }

    /// Logs in, then reads the permissions `MLST` shows for `PATH` (or, while it is missing, the
    /// nearest directory above it): Ferry needs to create files (`c`) and directories (`m`).
    /// Then it proves them: in `PATH` a small file stored and deleted at once, or, while `PATH` is
    /// missing, a directory made and removed in the nearest one above it (a dot name from
    /// `RemoteBackupStores.writeCheckName()`, never a set's), so a login whose server says yes
    /// and refuses the upload (a quota, a full disk, a server that sends no `perm` fact) is found
    /// while planning.
    func checkUsable() throws {
        try session { connection in
            var path = location.path
            var needs: Set<Character> = ["c", "m"]
            while true {
                if let facts = try connection.facts(of: path.isEmpty ? "/" : path) {
                    if let type = facts["type"]?.lowercased(), !type.hasSuffix("dir") {
                        throw FerryError(.invalidParameter, "backup location \(displayName): \(path) on the FTP server is a file, not a directory")
                    }
                    if let perm = facts["perm"]?.lowercased() {
                        let missing = needs.filter { !perm.contains($0) }
                        if !missing.isEmpty {
                            throw FerryError(.readOnly, "backup location \(displayName): the FTP server lets this login not \(missing.contains("c") ? "create files" : "create directories") in \(path.isEmpty ? "/" : path) (perm=\(perm))",
                                             hint: "give the FTP user write access there, or choose another directory")
                        }
                    }
                    try proveWrites(connection, in: path, file: needs.contains("c"))
                    return
                }
                // Missing: apply makes it in the directory above, which must allow that.
                needs = ["m"]
                guard !path.isEmpty else { return }
                path = (path as NSString).deletingLastPathComponent
                if path == "/" { path = "" }
            }
        }
    }
}

extension FTPBackups {
    /// Stores and deletes a small file in `directory` (`file`), or makes and removes a directory
    /// there; a refusal is `OperationDenied.ReadOnly` naming the location and the server's answer.
    fileprivate func proveWrites(_ connection: FTPConnection, in directory: String, file: Bool) throws {
        let name = "\(directory)/\(RemoteBackupStores.writeCheckName())"
        func refused(_ what: String, _ error: Error) -> FerryError {
            let said = RemoteBackupStores.answer(error, of: displayName)
            return FerryError(.readOnly, "backup location \(displayName): the FTP server lets this login not \(what) in \(directory.isEmpty ? "/" : directory) (\(said))",
                              hint: "give the FTP user write access there (and room to write), or choose another directory")
        }
        if try connection.facts(of: name) != nil { return }   // not Ferry's: left alone, and not proof
        if !file {
            do { try connection.expect("MKD \(name)", 200...299) } catch { throw refused("create directories", error) }
            do { try connection.expect("RMD \(name)", 200...299) } catch { throw refused("remove directories", error) }
            return
        }
        var storing = false
        do {
            let data = try connection.openData()
            storing = true
            let answer = try connection.command("STOR \(name)")
            guard (100...199).contains(answer.code) else { data.close(); throw connection.refusal("STOR \(name)", answer) }
            try connection.secure(data)
            do { try data.write(bytes: Array("Ferry's check that it may write here; deleted at once.\n".utf8)) } catch { data.close(); throw error }
            data.closeAfterWriting()
            try connection.finishTransfer("STOR \(name)")
        } catch {
            if storing { _ = try? connection.command("DELE \(name)") }
            throw refused("store files", error)
        }
        do { try connection.expect("DELE \(name)", 200...299) } catch { throw refused("delete files", error) }
    }
}

/// `~/.netrc` (or the file `NETRC` names), as curl, wget and ftp read it: `machine HOST login USER
/// password SECRET`, and `default`.
enum Netrc {
    struct Entry { var login: String?; var password: String? }

    /// The entry for `host` (and `user`, when the URL names one), else `default`'s.
    static func entry(host: String, user: String?, environment: [String: String]) -> Entry? {
        let path = environment["NETRC"] ?? environment["HOME"].map { "\($0)/.netrc" }
        guard let path, let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        var tokens: [String] = []
        for line in text.split(whereSeparator: \.isNewline) {
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("#") { continue }
            tokens += line.split(whereSeparator: { $0.isWhitespace }).map(String.init)
        }
        var found: Entry?
        var fallback: Entry?
        var index = 0
        while index < tokens.count {
            let word = tokens[index]
            guard word == "machine" || word == "default" else { index += 1; continue }
            let machine = word == "machine" && index + 1 < tokens.count ? tokens[index + 1] : nil
            index += word == "machine" ? 2 : 1
            var entry = Entry()
            while index < tokens.count, tokens[index] != "machine", tokens[index] != "default" {
                let key = tokens[index]
                let value = index + 1 < tokens.count ? tokens[index + 1] : nil
                switch key {
                case "login": entry.login = value; index += 2
                case "password": entry.password = value; index += 2
                case "account": index += 2
                default: index += 1
                }
            }
            if let user, let login = entry.login, login != user { continue }
            if let machine, machine.lowercased() == host.lowercased() { if found == nil { found = entry } }
            else if machine == nil && fallback == nil { fallback = entry }
        }
        return found ?? fallback
    }
}
