import FerryCore
import Foundation

/// Redis as a Ferry engine: numbered databases "0".."15", copies by pipelined DUMP/RESTORE,
/// `.rdb` imports streamed as RESTORE payloads, SWAPDB to put a shadow in place.
public struct RedisEngine: Engine {
    public init() {}

    public var kind: EngineKind { .redis }

    /// Users sync brings the source's ACL users (server-wide, `RedisUsers`); numbered databases,
    /// so no name limit.
    public var capabilities: EngineCapabilities {
        EngineCapabilities(syncsUsers: true, identifierLimit: nil, sameServerFastCopy: false, cheapFingerprints: false,
                           finishesCopies: false, syncsServerUsers: true, keepsCheckpointOfEmptyTarget: true)
    }

    public var importFormats: Set<ImportFormat> { [.rdb] }

    /// `N@RUN` (`RedisOwnership.name`) is database `N`.
    public func database(ofCheckpoint name: String) -> String {
        RedisOwnership.parse(name).map { String($0.database) } ?? name
    }

    public func problem(withDatabaseName name: String) -> String? {
        guard let n = Int(name), String(n) == name, (0...15).contains(n) else {
            return "Redis databases are numbered \"0\" to \"15\"; \"\(name)\" is not one of them"
        }
        return nil
    }

    public func planWarnings(forImportInto database: String, onExisting: OnExisting) -> [String] {
        switch onExisting {
        case .replace:
            ["importing into Redis database \(database) replaces everything in it: every key there now is deleted"]
        case .append:
            ["importing into Redis database \(database) overwrites keys of the same name that exist there now"]
        case .fail:
            []
        }
    }

    /// Where the databases of an RDB file go, and what of the file is not imported.
    public func planNotes(for spec: ImportSpec) -> [String] {
        guard spec.format == .rdb else { return [] }
        let servers = spec.sources.compactMap { source -> String? in
            guard case .url(let url) = source, url.hasPrefix("redis://") || url.hasPrefix("rediss://") else { return nil }
            let endpoint = try? RedisEndpoint(url: url, password: nil)
            let db = endpoint?.database ?? spec.sourceDatabase ?? 0
            return "database \(db) of the Redis server \(endpoint.map { "\($0.host):\($0.port)" } ?? Redaction.redactURL(url))"
        }
        guard servers.isEmpty else {
            return ["reads \(servers.joined(separator: ", then ")) into database \(spec.database)"]
        }
        let skipped = "functions and module AUX records of the file are server-wide and are not imported"
        if let one = spec.sourceDatabase {
            return ["only database \(one) of the RDB file goes into database \(spec.database); its other databases are not imported; \(skipped)"]
        }
        let merge = spec.merge == .lastWins
            ? "a key held by two of them takes the value of the database read later"
            : "a key held by two of them is an ImportError (set \"sourceDatabase\" to take one, or \"merge\": \"last-wins\")"
        return ["every database of the RDB file goes into database \(spec.database); \(merge); \(skipped)"]
    }

    public func connect(_ target: ConnectionTarget) throws -> any EngineSession {
        try RedisSession(target: target)
    }
}

/// Where a Redis server is and who to log in as, read from `redis://[user@]host:port[/db]`
/// (`rediss://` for TLS).
struct RedisEndpoint: Sendable, Hashable {
    var host: String
    var port: Int
    var user: String?
    var password: String?
    var database: Int?
    var tls = false

    init(url: String, password: String?) throws {
        // A raw '#', '?', '/' or '@' in the password: refused before any of it is shown or looked up.
        if Redaction.hasAmbiguousUserInfo(url) {
            throw FerryError(.invalidParameter, "the Redis url \(Redaction.ambiguousUserInfoProblem)", hint: Redaction.ambiguousUserInfoHint)
        }
        guard let components = URLComponents(string: url), components.scheme == "redis" || components.scheme == "rediss",
              let host = components.host, !host.isEmpty else {
            // Not shown: text that is no URL cannot be told apart into what is secret (a fresh
            // tester's `redis://host:1;password=...` was echoed whole).
            throw FerryError(.invalidParameter, "not a Redis URL (\(url.count) characters, not shown)",
                             hint: "write redis://[user@]host:port")
        }
        // A parameter would be ignored (`?password=`, `?db=`): refused, by name only (its value
        // may be a secret).
        if components.fragment != nil {
            throw FerryError(.invalidParameter, "the Redis url has a fragment (`#...`, not shown), which would be ignored",
                             hint: "write redis://[user@]host:port[/db]; a `#` in a password is written %23")
        }
        if let item = components.queryItems?.first {
            throw FerryError(.invalidParameter, "unknown parameter \(Redaction.parameterLabel(item)) in the Redis url (its value not shown)",
                             hint: "a Redis url takes no parameters: write redis://[user@]host:port[/db] and give the password with \"password\"")
        }
        tls = components.scheme == "rediss"
        self.host = host
        port = components.port ?? 6379
        // URLComponents.user/.password are already decoded: decode the encoded form once.
        user = components.percentEncodedUser.flatMap { $0.isEmpty ? nil : $0.removingPercentEncoding }
        self.password = password ?? components.percentEncodedPassword?.removingPercentEncoding
        // `/N`, a database number, or nothing: any other path would be ignored and may hide a
        // secret (`/;password=...`, `/0;X`; fresh tester round 33, F4). Refused, not shown.
        let path = components.percentEncodedPath
        if path.isEmpty || path == "/" {
            database = nil
        } else if path.hasPrefix("/"), let number = Int(path.dropFirst()), String(number) == path.dropFirst(), number >= 0 {
            database = number
        } else {
            throw FerryError(.invalidParameter, "the Redis url has a path (not shown) that is not a database number",
                             hint: "write redis://[user@]host:port[/db]; give the password with \"password\"")
        }
    }

    /// Opens, authenticates and checks the connection with PING.
    func open() throws -> RedisConnection {
        let connection = try RedisConnection(host: host, port: port, tls: tls)
        if let password {
            var args = ["AUTH"]
            if let user { args.append(user) }
            args.append(password)
            do {
                try connection.command(args.map { Array($0.utf8) })
            } catch let error as RedisReplyError {
                throw FerryError(.wrongPassword, "Redis at \(host):\(port) refused the credentials\(user.map { " of user \($0)" } ?? "")",
                                 hint: "check the user in the url and the password reference", detail: error.message)
            }
        }
        do {
            try connection.command("PING")
        } catch let error as RedisReplyError {
            if error.message.hasPrefix("NOAUTH") || error.message.hasPrefix("WRONGPASS") {
                throw FerryError(.wrongPassword, "Redis at \(host):\(port) requires a password",
                                 hint: "give the instance a password: {\"env\": \"VAR\"}")
            }
            throw FerryError(.instanceNotFound, "Redis at \(host):\(port) does not answer PING: \(error.message)")
        }
        return connection
    }
}
