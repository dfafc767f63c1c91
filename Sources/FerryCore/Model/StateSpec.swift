import Foundation

/// Where a plan keeps its state, its lock and its runs' journals: the plan files' `"state"` block
/// (SPEC §2 "The state block", §6 "The state on PostgreSQL"). `--state` overrides it.
///
/// Holds no secret: `url` has no password (one written as `${env:NAME}` in the url is taken out
/// into `password`), and `password` is a reference read only when Ferry connects.
public struct StateSpec: Hashable, Sendable, Codable {
    /// The backend's name; only `postgres` (a local directory is `--state DIR` or the default).
    public var backend: String
    /// `postgres://user@host[:port][/database][?sslmode=...]`, after `${env:...}` expansion, no password.
    public var url: String
    /// The password, by reference; nil: libpq's own (`PGPASSWORD`, `~/.pgpass`).
    public var password: SecretRef?
    /// The schema of Ferry's tables (nil: `ferry`, or the url's `?schema=`).
    public var schema: String?
    /// Where the block was written (file, line, column).
    public var location: SourceLocation?

    /// The backends a `"state"` block may name.
    public static let backends = ["postgres"]

    public init(backend: String, url: String, password: SecretRef?, schema: String?, location: SourceLocation?) {
        self.backend = backend
        self.url = url
        self.password = password
        self.schema = schema
        self.location = location
    }

    /// True when both name the same state the same way (the place written does not count).
    public func sameState(as other: StateSpec) -> Bool {
        backend == other.backend && url == other.url && password == other.password && schema == other.schema
    }

    /// Why `name` cannot be the state's schema, or nil when it can: a lower-case identifier of at
    /// most 63 letters, digits and `_`, and none of PostgreSQL's own schemas (`pg_*`, which the
    /// server reserves, and `information_schema`), where Ferry's tables would sit among the
    /// catalog's.
    public static func schemaProblem(_ name: String) -> String? {
        guard let first = name.unicodeScalars.first, name.utf8.count <= 63,
              ("a"..."z").contains(first) || first == "_",
              name.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }) else {
            return "the state's schema must be a lower-case identifier of at most 63 letters, digits and _"
        }
        if name.hasPrefix("pg_") || name == "information_schema" {
            return "the state's schema \(name) is one of PostgreSQL's own (pg_* and information_schema hold the server's catalog)"
        }
        return nil
    }
}
