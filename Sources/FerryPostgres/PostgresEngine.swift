import CLibPQ
import FerryCore
import FerryIO
import Foundation

/// PostgreSQL, reached at `postgres://user@host:port[/maintenance_db][?sslmode=...]` (password
/// from the instance's reference), through libpq; `pg_dump` and `pg_restore` from Debian's
/// `postgresql-client` for schema sections and archives.
///
/// How it works (tested against PostgreSQL 15):
/// - Claims: rows of `claims` in the database `ferry_meta` (hidden from `describe()`), taken in
///   one transaction under `LOCK TABLE ... IN EXCLUSIVE MODE`.
/// - Fingerprints: the catalog of the database (tables, columns, constraints, indexes, views,
///   functions, triggers, types, sequences' values, extensions) plus, up to 256 MiB
///   (`FERRY_PG_EXACT_FINGERPRINT_LIMIT`), every table's row count and the sum of its rows' hashes
///   (exact; a full read); above, the tables' sizes and cumulative statistics and the cluster's
///   WAL position, marked inexact.
/// - Shadows `<db>__ferry_s_<run>`, checkpoints `<db>__ferry_c_<run>` (shortened with a hash to
///   fit 63 bytes), hidden from `describe()`. A shadow carries the comment `ferry:shadow:<name>`
///   from its creation; only a database with that name and that comment is dropped as a shadow.
///   A checkpoint carries `ferry:checkpoint:<name>` (and the comment it had) from the swap's
///   transaction; only one with that mark is restored or dropped as a checkpoint.
/// - Content tokens (`PostgresContentToken`): a full read, handed from the verify to the swap.
/// - Copy: see `PostgresCopy`. Swap: two `ALTER DATABASE ... RENAME` in one transaction.
public struct PostgresEngine: Engine {
    public init() {}

    public var kind: EngineKind { .postgres }

    /// Names of 63 bytes; same-server copies with users sync by TEMPLATE; fingerprints read the data up to a
    /// size (inexact above it); post-data still runs inside the build (no finish step yet);
    /// users sync as `PostgresUsers` describes.
    public var capabilities: EngineCapabilities {
        EngineCapabilities(syncsUsers: true,
                           identifierLimit: .bytes63, sameServerFastCopy: true, cheapFingerprints: false, finishesCopies: false)
    }
    public var importFormats: Set<ImportFormat> { [.sql, .pgdump] }

    public func problem(withDatabaseName name: String) -> String? {
        if name.isEmpty { return "a PostgreSQL database name cannot be empty" }
        if name.utf8.count > 63 { return "a PostgreSQL database name holds at most 63 bytes (this one has \(name.utf8.count))" }
        if name.contains("\u{0}") { return "a PostgreSQL database name cannot contain NUL" }
        if PostgresSession.reservedDatabases.contains(name) { return "\(name) is a template or Ferry's own database" }
        if name.contains("__ferry_") { return "names containing __ferry_ are Ferry's own" }
        return nil
    }

    public func connect(_ target: ConnectionTarget) throws -> any EngineSession {
        try PostgresSession(target: target)
    }

    /// Plan-time checks of a copy (SPEC §10): extensions the source databases use that the
    /// target server cannot create (`VersionMismatch`, naming each with its version); client
    /// programs (`pg_dump`, `pg_restore`) older than either server (`VersionMismatch`); and a
    /// warning for a copy with users sync within one server whose source has other sessions (the TEMPLATE fast
    /// path needs none: while they last the copy streams).
    public func copyDiagnostics(_ spec: CopySpec, from: InstanceSpec, source: InstanceFacts,
                                to: InstanceSpec, target: InstanceFacts) -> [Diagnostic] {
        var result: [Diagnostic] = []
        if let available = target.availableExtensions.map(Set.init) {
            for mapping in spec.databases {
                guard let used = source.database(mapping.source)?.extensions else { continue }
                let missing = used.filter { !available.contains(String($0.prefix { $0 != " " })) }
                if !missing.isEmpty {
                    result.append(Diagnostic(.versionMismatch, "\(spec.to) cannot create the extensions \(spec.from)/\(mapping.source) uses: \(missing.joined(separator: ", "))",
                                             instance: spec.to, hint: "install them on the target server (its packages), then plan again"))
                }
            }
        }
        if let client = PostgresTools.clientMajorVersion() {
            var sides: [(String, String?)] = [(spec.to, target.version)]
            if !spec.readsBackup { sides.insert((spec.from, source.version), at: 0) }
            for (name, version) in sides {
                guard let major = version.flatMap({ Int($0.prefix { $0.isNumber }) }), client < major else { continue }
                result.append(Diagnostic(.versionMismatch, "pg_dump \(client) is older than the PostgreSQL \(major) server of \(name)",
                                         instance: name, hint: "install postgresql-client-\(major) (or newer), or point FERRY_PG_BIN at its bin directory"))
            }
        } else {
            result.append(Diagnostic(.versionMismatch, "pg_dump is not installed; Ferry needs PostgreSQL's client programs for a copy",
                                     instance: spec.to, hint: "install Debian's postgresql-client (scripts/install-deps.sh), or set FERRY_PG_BIN"))
        }
        if spec.users == .sync, !spec.readsBackup, let have = target.roles.map(Set.init) {
            var creating: [String] = [], kept: [String] = []
            // Non-ASCII role names through a database of another encoding than UTF-8 (round-11
            // F7): refused, and left out of the lines below (what they would say is not true).
            var refused: [String] = []
            for mapping in spec.databases {
                let roles = source.database(mapping.source)?.roles ?? []
                let places = PostgresSession.roleNamePlaces(
                    target: (spec.to, target.connectionDatabase, target.connectionEncoding),
                    source: (spec.from, source.connectionDatabase, source.connectionEncoding),
                    database: (mapping.source, source.database(mapping.source)?.encoding),
                    copy: (mapping.target, source.database(mapping.source)?.encoding))
                let problems = PostgresSession.roleNameProblems(roles.filter { !refused.contains($0) }, through: places)
                for problem in problems {
                    refused += problem.roles
                    result.append(Diagnostic(.invalidParameter, problem.message, instance: spec.to, hint: PostgresSession.roleNameHint))
                }
                for role in roles where !refused.contains(role) {
                    if have.contains(role) { if !kept.contains(role) { kept.append(role) } }
                    else if !creating.contains(role) { creating.append(role) }
                }
            }
            if !creating.isEmpty {
                let how = source.readsPasswordHashes == false
                    ? "WITHOUT passwords: \(spec.from)'s user may not read password hashes (pg_authid); set them on \(spec.to) yourself"
                    : "with their password hashes"
                result.append(Diagnostic(.invalidParameter, "users: sync creates the roles \(creating.map(quoteIdent).joined(separator: ", ")) on \(spec.to) \(how), never with SUPERUSER, CREATEROLE, REPLICATION or BYPASSRLS (grant those yourself); a rollback drops them",
                                         instance: spec.to, severity: .warning))
            }
            if !kept.isEmpty {
                result.append(Diagnostic(.invalidParameter, "users: sync leaves the roles \(kept.map(quoteIdent).joined(separator: ", ")) that \(spec.to) already has as they are (attributes, password): they only get their privileges in the copied databases",
                                         instance: spec.to, severity: .warning))
            }
        }
        if !spec.readsBackup {
            result += localeDiagnostics(spec, source: source, target: target)
        }
        result += ownerDiagnostics(spec, source: source, target: target)
        for mapping in spec.databases {
            guard let sessions = target.database(mapping.target)?.sessions, !sessions.isEmpty else { continue }
            let then = to.terminateSessions == true ? "Ferry ends them (terminateSessions)" : "fails with OperationDenied.WrongStatus, and rolls back, unless they end"
            result.append(Diagnostic(.wrongStatus, "\(spec.to)/\(mapping.target) has \(sessions.count) session\(sessions.count == 1 ? "" : "s") now (\(sessions.prefix(3).joined(separator: "; "))\(sessions.count > 3 ? "; ..." : "")): the swap waits for them a bounded time, then \(then)",
                                     instance: spec.to, severity: .warning))
        }
        if !spec.readsBackup, spec.users == .sync, Self.serverKey(from) != nil, Self.serverKey(from) == Self.serverKey(to) {
            for mapping in spec.databases {
                guard let sessions = source.database(mapping.source)?.sessions, !sessions.isEmpty else { continue }
                result.append(Diagnostic(.wrongStatus, "\(spec.from)/\(mapping.source) has \(sessions.count) other session\(sessions.count == 1 ? "" : "s") (\(sessions.prefix(3).joined(separator: "; "))\(sessions.count > 3 ? "; ..." : "")): a copy on one server with users: sync is a file-level CREATE DATABASE ... TEMPLATE only while no other session is connected to its source; otherwise it streams with COPY (slower)",
                                         instance: spec.from, severity: .warning))
            }
        }
        return result
    }

    /// The build's refusals of who would own what a copy makes (`checkCopyOwner`,
    /// `requireOrdinaryOwner`: SPEC §4, `owner`), given at plan time from the refresh's facts
    /// (fresh tester round 71, F4: a copy of views or routines with a superuser as Ferry's user
    /// was refused only at the build, rolled back, exit 3): an `owner` the target lacks or with
    /// server-level rights, and, without `owner` or `users: "sync"`, a live source database
    /// holding routines, views or rules while Ferry's user on the target has such rights. Each
    /// is `CopyError` at the copy; facts not read (an older server, facts of an earlier release)
    /// leave the build's check to decide.
    func ownerDiagnostics(_ spec: CopySpec, source: InstanceFacts, target: InstanceFacts) -> [Diagnostic] {
        let address = spec.address.description
        if let owner = spec.owner {
            if let roles = target.roles, !roles.contains(owner), !owner.hasPrefix("pg_") {
                return [Diagnostic(.copyError, "the copy's owner \(owner) is not a role of \(spec.to)", address: address, instance: spec.to,
                                   hint: "create the role first, or name another in the copy's \"owner\"")]
            }
            if owner.hasPrefix("pg_") {
                return [Diagnostic(.copyError, "the copy's owner \(owner) is one of PostgreSQL's predefined roles (pg_*), which Ferry never makes the owner of what a copy makes",
                                   address: address, instance: spec.to, hint: "name an ordinary role in the copy's \"owner\"")]
            }
            if target.serverLevelRoles?.contains(owner) == true {
                return [Diagnostic(.copyError, "the copy's owner \(owner) has server-level rights on \(spec.to) (a superuser, CREATEROLE, BYPASSRLS, REPLICATION, or a member of pg_execute_server_program and the like); what the copy makes would run code with them",
                                   address: address, instance: spec.to, hint: "name an ordinary role in the copy's \"owner\"")]
            }
            return []
        }
        guard spec.users != .sync, !spec.readsBackup, let user = target.connectedRole,
              target.serverLevelRoles?.contains(user) == true else { return [] }
        return spec.databases.compactMap { mapping in
            guard let count = source.database(mapping.source)?.codeObjects, count > 0 else { return nil }
            return Diagnostic(.copyError, "\(spec.from)/\(mapping.source) holds \(count) routine(s), view(s) or rule(s), and Ferry's user on \(spec.to) has server-level rights: as their owner after the copy it would run their code with those rights (SECURITY DEFINER functions, views, autovacuum over expression indexes)",
                              address: address, instance: spec.to,
                              hint: "set the copy's \"owner\" to an ordinary role of \(spec.to) (it then owns what the copy makes), or users: \"sync\" to give the source's owners")
        }
    }

    /// A copy is made with its source database's encoding and locale (SPEC §10): a target server
    /// that cannot make them is `VersionMismatch` naming what it lacks; a `replace` of a target of
    /// other ones is a warning saying what changes.
    func localeDiagnostics(_ spec: CopySpec, source: InstanceFacts, target: InstanceFacts) -> [Diagnostic] {
        var result: [Diagnostic] = []
        for mapping in spec.databases {
            guard let wanted = PostgresDatabaseLocale(facts: source.database(mapping.source)?.locale) else { continue }
            if let locales = target.locales, let providers = target.localeProviders {
                let missing = wanted.missing(locales: locales, providers: providers)
                if !missing.isEmpty {
                    result.append(Diagnostic(.versionMismatch, "\(spec.to) cannot make \(mapping.target) as a copy of \(spec.from)/\(mapping.source) (\(wanted.summary)): it lacks \(missing.joined(separator: ", ")); a copy is made with its source's encoding and locale",
                                             instance: spec.to, hint: "install that locale on \(spec.to)'s machine and make it known to the server (SELECT pg_import_system_collations('pg_catalog')), or copy into a server that has it"))
                    continue
                }
            }
            if spec.onExisting == .replace, let have = PostgresDatabaseLocale(facts: target.database(mapping.target)?.locale), have != wanted {
                result.append(Diagnostic(.invalidParameter, "\(spec.to)/\(mapping.target) is \(have.summary); the copy replaces it with one of \(wanted.summary), as \(spec.from)/\(mapping.source) is (a copy keeps its source's encoding and locale: a client on the default client encoding then reads other bytes)",
                                         instance: spec.to, severity: .warning))
            }
        }
        return result
    }

    /// `host:port` of an instance's url (localhost as 127.0.0.1), to tell one server from another.
    static func serverKey(_ instance: InstanceSpec) -> String? {
        guard let url = instance.url, let parts = URLComponents(string: url) else { return nil }
        let host = parts.host.flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"
        return (host == "localhost" ? "127.0.0.1" : host) + ":" + String(parts.port ?? 5432)
    }
}

/// A session on one PostgreSQL server: a connection to its maintenance database, and others to
/// single databases as needed.
public final class PostgresSession: EngineSession {
    public let target: ConnectionTarget
    let address: PostgresAddress
    let connection: PostgresConnection
    var instanceName: String { target.instance.name }
    /// Sessions a step may open side by side on this instance beside the three it may hold there
    /// at once besides (this session's, on the maintenance database; one in the database being
    /// built, read or verified; a short one in `ferry_meta` for claims and records): the
    /// instance's `maxConnections` (SPEC §2: a cap on Ferry's concurrent connections to it) less
    /// those three, at least 1 (plans refuse a PostgreSQL `maxConnections` under
    /// `EnginePlanForm.minimumConnections`, 4); 7 when no cap is set.
    var spareConnections: Int { max(1, (target.instance.maxConnections ?? 10) - 3) }
    /// The last content token read of each database, with the session count before it
    /// (`TokenRead`), for the rename that follows a check.
    var lastTokenRead: [String: TokenRead] = [:]
    /// Whether the last `copyData` into this session took the same-server template path (tests).
    var copiedByTemplate = false
    /// The claims database's name, once read (`metaDatabaseName()`).
    var metaName: String?
    /// The name Ferry's claims database takes when it is free (tests change it to stay apart).
    var metaBase = PostgresSession.metaDatabase
    /// Copies into this session split tables bigger than this (bytes) instead of
    /// `FERRY_PG_SPLIT_TABLES_LARGER_THAN` (tests).
    var splitTablesLargerThan: Int64?
    /// Copies into this session split tables by their integer key (true) or by `ctid` (false)
    /// instead of choosing (`PostgresCopy.splitsByKey`) (tests).
    var splitsByKey: Bool?
    /// How many table parts the last copy into this session loaded beyond one per table (tests).
    var extraCopyParts = 0
    /// Databases above this size (bytes) get an inexact fingerprint instead of
    /// `exactFingerprintLimit` (tests: the environment is read once per process).
    var exactFingerprintLimitOverride: Int64?

    static let reservedDatabases: Set<String> = ["template0", "template1", metaDatabase]
    static let metaDatabase = "ferry_meta"
    /// The comment on Ferry's own claims database, set before it takes that name.
    static let metaMarker = "ferry:meta"

    init(target: ConnectionTarget) throws {
        self.target = target
        address = try PostgresAddress(target: target)
        connection = try PostgresConnection(address, database: address.maintenanceDatabase, instanceName: target.instance.name)
    }

    public func close() { connection.close() }

    /// A new connection to `database` on this server.
    func open(_ database: String, pinnedSearchPath: Bool = true) throws -> PostgresConnection {
        try PostgresConnection(address, database: database, instanceName: instanceName, pinnedSearchPath: pinnedSearchPath)
    }

    /// Runs `body`, turning server errors into `FerryError`s (SQLSTATE-mapped, else `code`) with `context`.
    func run<T>(_ code: ErrorCode, _ context: @autoclosure () -> String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as PostgresServerError {
            throw error.ferry(code, context(), instance: instanceName)
        }
    }

    // MARK: Names

    static func isHidden(_ database: String) -> Bool {
        reservedDatabases.contains(database) || database.contains("__ferry_")
    }

    /// The name of Ferry's claims database on this server: `ferry_meta`, unless a database of
    /// that name exists that Ferry cannot prove it made (no `ferry:meta` comment, and not the
    /// one table `claims` earlier releases made there under no comment at all, which is then
    /// marked; a database with any other comment is never taken): that one is the
    /// user's, left alone and shown by `describe()`, and the claims live in `ferry_meta__ferry_m`.
    func metaDatabaseName() throws -> String {
        if let cached = metaName { return cached }
        var name = metaBase
        if try databaseExists(metaBase), try comment(of: metaBase) != Self.metaMarker || !(try isOwnedByTrustedRole(metaBase)) {
            // Earlier releases left their `ferry_meta` without a comment: one that carries any
            // other comment was commented by someone, so it is the user's (issue 14).
            if try (comment(of: metaBase) ?? "").isEmpty, try isOwnedByTrustedRole(metaBase), try isLegacyMeta(metaBase) {
                try connection.execute("COMMENT ON DATABASE \(quoteIdent(metaBase)) IS \(quoteLiteral(Self.metaMarker))")
            } else {
                name = metaBase + "__ferry_m"
            }
        }
        metaName = name
        return name
    }

    /// True when `database` belongs to Ferry's own user or a superuser: a comment alone proves
    /// nothing, since whoever owns a database may set it (a fresh tester made a `ferry_meta`
    /// with Ferry's comment and a trigger on `claims` that ran with Ferry's rights).
    func isOwnedByTrustedRole(_ database: String) throws -> Bool {
        try connection.scalar("""
            SELECT (r.rolsuper OR r.rolname = current_user)::text FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba
            WHERE d.datname = \(quoteLiteral(database))
            """) == "true"
    }

    /// True for an unmarked `ferry_meta` holding exactly what an earlier Ferry made there: one
    /// table `public.claims` with its seven columns (and its primary key), nothing else.
    func isLegacyMeta(_ database: String) throws -> Bool {
        let c = try open(database)
        defer { c.close() }
        let relations = try c.query("SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND c.relkind <> 'i'").compactMap { $0[0] }
        guard relations == ["public.claims"] else { return false }
        let columns = try c.query("SELECT attname FROM pg_attribute WHERE attrelid = 'public.claims'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum").compactMap { $0[0] }
        let others = try c.scalar("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')")
        return (columns == ["db", "role", "run_id", "claimed_at", "holder", "host", "pid"]
                || columns == ["db", "role", "run_id", "claimed_at", "holder", "host", "pid", "journal"]
                || columns == ["db", "role", "run_id", "claimed_at", "holder", "host", "pid", "journal", "reverts"]) && others == "0"
    }

    static func runPart(_ runID: String) -> String {
        String(runID.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }.suffix(16))
    }

    /// `<db>__ferry_<marker>_<run>`, shortened to 63 bytes with a hash of the whole name.
    static func derivedName(_ database: String, marker: String, runID: String) -> String {
        let suffix = "__ferry_\(marker)_\(runPart(runID))"
        if database.utf8.count + suffix.utf8.count <= 63 { return database + suffix }
        let hash = String(Digest.sha256(Array(database.utf8)).prefix(8))
        var prefix = ""
        for character in database {
            if prefix.utf8.count + String(character).utf8.count > 63 - suffix.utf8.count - 9 { break }
            prefix.append(character)
        }
        return prefix + "_" + hash + suffix
    }

    /// The run tag of a database Ferry derived (`__ferry_s_<tag>` / `__ferry_c_<tag>`), or nil.
    static func runTag(of database: String) -> String? {
        let ranges = ["__ferry_s_", "__ferry_c_"].compactMap { database.range(of: $0, options: .backwards) }
        guard let last = ranges.max(by: { $0.lowerBound < $1.lowerBound }) else { return nil }
        let tag = database[last.upperBound...]
        return tag.isEmpty ? nil : String(tag)
    }

    /// The comment that marks a shadow as Ferry's, from its creation until it is swapped in.
    static func shadowMarker(_ shadow: String) -> String { "ferry:shadow:" + shadow }

    /// The comment that marks a checkpoint as Ferry's, set in the swap's transaction:
    /// `ferry:checkpoint:<its name>`, then a newline and the comment the database had (none
    /// when it had none), which an undo gives back.
    /// `SwapRecord.detail` of a swap that marked its checkpoint (`checkpointMarker`); records of
    /// earlier releases have none, and their checkpoints are known by name as they were then.
    static let checkpointMarkDetail = "checkpoint-mark-v1"

    /// `token`: the content token (`PostgresContentToken`) the checkpoint held at its swap,
    /// added once the swap has read it (`recordCheckpointToken`) as ` token=<token>` right after
    /// the name; a drop compares it (`checkpointChanges`, tester w5 X3). `settings`: the
    /// digest of the checkpoint's own database settings and kept comment then
    /// (`checkpointSettingsDigest`), as ` settings=<digest>` after the token (round 7 F5).
    static func checkpointMarker(_ checkpoint: String, comment: String?, token: String? = nil, settings: String? = nil) -> String {
        "ferry:checkpoint:" + checkpoint + (token.map { " token=" + $0 } ?? "") + (settings.map { " settings=" + $0 } ?? "")
            + (comment.map { "\n" + $0 } ?? "")
    }

    /// The comment a checkpoint's `marker` keeps (`.some(nil)`: none), or nil when `marker` is
    /// not that checkpoint's mark.
    static func commentKept(byCheckpoint checkpoint: String, marker: String) -> String?? {
        guard let mark = checkpointMark(checkpoint, marker: marker) else { return nil }
        return .some(mark.comment)
    }

    /// The parts of `checkpoint`'s mark `marker` (`checkpointMarker`): the comment it keeps, the
    /// token and the settings digest recorded at the swap (nil: none recorded; marks of earlier
    /// releases have no settings digest); nil when `marker` is not that checkpoint's mark.
    static func checkpointMark(_ checkpoint: String, marker: String) -> (comment: String?, token: String?, settings: String?)? {
        let prefix = "ferry:checkpoint:" + checkpoint
        guard marker.hasPrefix(prefix) else { return nil }
        var rest = marker.dropFirst(prefix.count)
        var token: String?, settings: String?
        if rest.hasPrefix(" token=") {
            let value = rest.dropFirst(" token=".count).prefix { $0 != "\n" && $0 != " " }
            guard value.hasPrefix("pg2:") || value.hasPrefix(PostgresContentToken.scheme) else { return nil }
            token = String(value)
            rest = rest.dropFirst(" token=".count + value.count)
            if rest.hasPrefix(" settings=") {
                let digest = rest.dropFirst(" settings=".count).prefix { $0 != "\n" }
                guard !digest.isEmpty, digest.allSatisfy(\.isHexDigit) else { return nil }
                settings = String(digest)
                rest = rest.dropFirst(" settings=".count + digest.count)
            }
        }
        if rest.isEmpty { return (nil, token, settings) }
        guard rest.first == "\n" else { return nil }
        return (String(rest.dropFirst()), token, settings)
    }

    public func checkpointName(for database: String, runID: String) -> String {
        Self.derivedName(database, marker: "c", runID: runID)
    }

    public func plannedShadowName(for database: String, runID: String) -> String? {
        Self.derivedName(database, marker: "s", runID: runID)
    }

    public func databaseExists(_ database: String) throws -> Bool {
        try run(.instanceNotFound, "cannot read the databases of \(instanceName)") {
            do {
                return try connection.scalar("SELECT count(*) FROM pg_database WHERE datname = \(quoteLiteral(database))") != "0"
            } catch let error as PostgresServerError where error.sqlState == Self.untranslatable {
                // A name the connection's database encoding cannot hold (`shop😀` where Ferry's
                // maintenance database is LATIN1): Ferry, which names databases only through this
                // connection, never made one by it (issue 14).
                return false
            }
        }
    }

    /// SQLSTATE 22P05: a character the server's encoding (of the connection's database) cannot hold.
    static let untranslatable = "22P05"

    /// Whether `name` can be written on this connection at all: false when the encoding of
    /// Ferry's maintenance database cannot hold one of its characters (any non-UTF-8 encoding
    /// but SQL_ASCII). No database Ferry made has such a name: it creates them through this
    /// connection, and the `CREATE DATABASE` fails. Recovery then has nothing of it to drop.
    func canName(_ name: String) throws -> Bool {
        do {
            _ = try connection.scalar("SELECT \(quoteLiteral(name))")
            return true
        } catch let error as PostgresServerError where error.sqlState == Self.untranslatable {
            return false
        }
    }

    /// Why Ferry cannot use a database named `name` on this server, or nil (round-9 fresh
    /// tester F7). Ferry names databases through its connection to the maintenance database (the
    /// URL's), whose encoding the server converts every name into, while a connection names its
    /// database in the startup packet's bytes, UTF-8, unconverted. Under UTF-8 or SQL_ASCII the two
    /// agree for every name; under any other encoding only for ASCII: a character the encoding
    /// cannot hold fails the `CREATE DATABASE` (22P05), and one it holds in other bytes (`é` in
    /// LATIN1) makes a database nobody can connect to by that name. The shadow and checkpoint
    /// names derived from `name` hold its characters and ASCII only, so they are usable with it.
    func unusableName(_ name: String) throws -> String? {
        guard !name.unicodeScalars.allSatisfy(\.isASCII) else { return nil }
        let encoding = try connection.scalar("SHOW server_encoding") ?? "?"
        guard encoding != "UTF8", encoding != "SQL_ASCII" else { return nil }
        var cannotHold: [String] = [], otherBytes: [String] = []
        var seen: Set<Unicode.Scalar> = []
        for scalar in name.unicodeScalars where !scalar.isASCII && seen.insert(scalar).inserted {
            let shown = "\(Character(scalar)) (U+\(String(format: "%04X", scalar.value)))"
            do {
                let hex = try connection.scalar("SELECT encode(convert_to(\(quoteLiteral(String(scalar))), getdatabaseencoding()), 'hex')")
                if hex != String(scalar).utf8.map({ String(format: "%02x", $0) }).joined() { otherBytes.append(shown) }
            } catch let error as PostgresServerError where error.sqlState == Self.untranslatable {
                cannotHold.append(shown)
            }
        }
        let database = address.maintenanceDatabase
        let fix = "point the instance's url at a UTF-8 (or SQL_ASCII) database of that server, or use a name of ASCII characters"
        if !cannotHold.isEmpty {
            return "Ferry's maintenance database \(database) (the instance url's) is \(encoding), which cannot hold \(cannotHold.joined(separator: ", ")), and Ferry names every database (and its shadow and checkpoint) through it; \(fix)"
        }
        if !otherBytes.isEmpty {
            return "Ferry's maintenance database \(database) (the instance url's) is \(encoding), which holds \(otherBytes.joined(separator: ", ")) in other bytes than UTF-8: a database Ferry named so through it (or its shadow or checkpoint) could not be connected to, since a connection names its database in UTF-8; \(fix)"
        }
        return nil
    }

    func comment(of database: String) throws -> String? {
        try connection.scalar("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = \(quoteLiteral(database))")
    }

    // MARK: Refresh

    public func describe(fingerprinting wanted: Set<String>?) throws -> InstanceFacts {
        try run(.instanceNotFound, "cannot describe \(instanceName)") {
            let version = try connection.scalar("SHOW server_version")
            var databases: [String: DatabaseFacts] = [:], lookalikes: [String] = []
            let meta = try metaDatabaseName()
            var sessions: [String: [String]] = [:]
            // The sessions the swap would wait for (`sessions(on:)`): autovacuum workers are not
            // named (the server cancels them for the rename itself).
            for row in try connection.query("SELECT datname, pid, usename, application_name FROM pg_stat_activity WHERE datname IS NOT NULL AND pid <> pg_backend_pid() AND backend_type IS DISTINCT FROM 'autovacuum worker' ORDER BY pid") {
                guard let db = row[0] else { continue }
                sessions[db, default: []].append("pid \(row[1] ?? "?") (user \(row[2] ?? "?")\(row[3].flatMap { $0.isEmpty ? nil : ", \($0)" } ?? ""))")
            }
            for (name, size) in try listedDatabases() {
                guard !(Self.isHidden(name) && !(name == metaBase && meta != name)) else { continue }
                var (fingerprint, exact, detail) = ("", false, nil as String?)
                if wanted?.contains(name) ?? true {
                    do { (fingerprint, exact, detail) = try self.fingerprint(of: name, sizeBytes: size) }
                    catch let error as FerryError where error.code == .instanceNotFound {
                        // Dropped while it was read: a database that is gone is left out.
                        guard try databaseExists(name) else { continue }
                        throw error
                    }
                }
                var facts = DatabaseFacts(name: name, sizeBytes: size, fingerprint: fingerprint,
                                          isFingerprintExact: exact, detail: detail)
                if wanted?.contains(name) ?? true {
                    facts.sessions = sessions[name] ?? []
                    if let schema = try? schemaFacts(of: name) { (facts.extensions, facts.codeObjects) = schema }
                    facts.roles = try? rolesReaching(name)
                    facts.encoding = try? connection.scalar("SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = \(quoteLiteral(name))")
                    facts.locale = (try? databaseLocale(of: name))??.facts
                }
                databases.insertListed(facts, as: name, lookalikes: &lookalikes)
            }
            let claims = try currentClaims()
            var facts = InstanceFacts(instance: instanceName, engine: .postgres, version: version, databases: databases,
                                      freeBytes: freeBytes(), claims: try claims.filter { !(try isClearable($0)) },
                                      importNotes: importIsolationNotes())
            facts.lookalikeNames = lookalikes.isEmpty ? nil : lookalikes
            let beside = try unclaimedCheckpoints(beside: wanted ?? Set(databases.keys), claims: claims)
            facts.unclaimedCheckpoints = beside.isEmpty ? nil : beside
            facts.availableExtensions = try connection.query("SELECT name FROM pg_available_extensions ORDER BY 1").compactMap { $0[0] }
            facts.roles = try connection.query("SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY 1").compactMap { $0[0] }
            facts.readsPasswordHashes = try readsPasswordHashes()
            facts.connectedRole = try connection.scalar("SELECT current_user")
            facts.serverLevelRoles = try connection.query("SELECT rolname FROM pg_roles r WHERE \(Self.powerfulRole) ORDER BY 1").compactMap { $0[0] }
            facts.serverIdentity = try? serverIdentity()
            facts.connectionDatabase = address.maintenanceDatabase
            facts.connectionEncoding = try connection.scalar("SHOW server_encoding")
            facts.locales = try? knownLocales()
            facts.localeProviders = try? localeProviders()
            if let wanted {
                var unusable: [String: String] = [:]
                for name in wanted.sorted() { if let why = try unusableName(name) { unusable[name] = why } }
                facts.unusableNames = unusable.isEmpty ? nil : unusable
            }
            return facts
        }
    }

    /// Of the checkpoints `UnclaimedCheckpoints.find` names by their names, those that carry
    /// Ferry's checkpoint comment (`checkpointMarker`, set by the swap): a user's database named
    /// like one is not (fresh tester round 74, F3).
    func unclaimedCheckpoints(beside databases: Set<String>, claims: [DatabaseClaim]) throws -> [String: [String]] {
        var found = UnclaimedCheckpoints.find(among: try connection.query("SELECT datname FROM pg_database").compactMap { $0[0] },
                                              beside: databases, claimedRuns: claims.map(\.runID),
                                              checkpointName: { Self.derivedName($0, marker: "c", runID: $1) })
        for (database, names) in found {
            found[database] = try names.filter { try comment(of: $0)?.hasPrefix("ferry:checkpoint:" + $0) == true }
        }
        return found.filter { !$0.value.isEmpty }
    }

    public func unclaimedCheckpoints(of database: String) throws -> [String] {
        try unclaimedCheckpoints(beside: [database], claims: try currentClaims())[database] ?? []
    }

    /// The cluster's `system_identifier` (`pg_control_system()`, set by `initdb`, kept across
    /// restarts; executable by every role): another cluster answering at the URL has another.
    public func serverIdentity() throws -> String? {
        try connection.scalar("SELECT system_identifier::text FROM pg_control_system()").map { "postgres:" + $0 }
    }

    /// The databases one may connect to (not templates), with their sizes in bytes.
    /// `pg_database_size` needs CONNECT on the database (or `pg_read_all_stats`): one Ferry's
    /// user may not enter is listed with size 0, never an error for the whole instance.
    func listedDatabases() throws -> [(name: String, bytes: Int64)] {
        try connection.query("""
            SELECT datname, CASE WHEN has_database_privilege(oid, 'CONNECT') OR pg_has_role('pg_read_all_stats', 'MEMBER')
                                 THEN pg_database_size(oid) END
            FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1
            """).compactMap { row in row[0].map { ($0, Int64(row[1] ?? "0") ?? 0) } }
    }

    /// The extensions `database` uses but `plpgsql` (`name version`), and how many routines,
    /// views and rules it holds (`codeObjectCount`), read on one connection to it.
    func schemaFacts(of database: String) throws -> (extensions: [String], codeObjects: Int?) {
        let c = try open(database)
        defer { c.close() }
        let extensions = try c.query("SELECT extname || ' ' || extversion FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1").compactMap { $0[0] }
        return (extensions, try c.scalar(Self.codeObjectCount).flatMap { Int($0) })
    }

    /// Free bytes of the file system under the server's data directory, where Ferry can prove
    /// it is looking at this server's: the host is this machine, `data_directory` is readable
    /// (superuser or `pg_read_all_settings`), and the `postmaster.pid` there names that directory
    /// and this port. Else nil (a managed service, another machine, or no permission).
    func freeBytes() -> Int64? {
        guard ["127.0.0.1", "localhost", "::1"].contains(address.host) || address.host.hasPrefix("/"),
              let directory = try? connection.scalar("SHOW data_directory"),
              let pid = try? String(contentsOfFile: directory + "/postmaster.pid", encoding: .utf8) else { return nil }
        let lines = pid.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count > 3, lines[1] == directory, lines[3].trimmingCharacters(in: .whitespaces) == String(address.port) else { return nil }
        var stats = statvfs()
        guard statvfs(directory, &stats) == 0 else { return nil }
        return Int64(stats.f_bavail) * Int64(stats.f_frsize)
    }

    // MARK: Claims

    /// A connection to `ferry_meta`, creating it and its table when `create` (else nil when missing).
    /// The claims database is made under a name of the run's own (`ferry_meta__ferry_n_<random>`),
    /// provably Ferry's from its first moment (`beginMetaDatabase`), marked, then renamed; what a
    /// killed run left of that is removed first (`removeUnfinishedMetaDatabases`).
    func metaConnection(create: Bool) throws -> PostgresConnection? {
        let name = try metaDatabaseName()
        if create { try removeUnfinishedMetaDatabases() }
        if !(try databaseExists(name)) {
            guard create else { return nil }
            let making = metaMakingPrefix + UUID().uuidString.prefix(8).lowercased()
            // Held until the rename: `removeUnfinishedMetaDatabases` of another run leaves a claims
            // database being made alone (the server frees the lock when a killed run's session ends).
            _ = try connection.query("SELECT pg_advisory_lock(\(Self.metaMakingLock))")
            defer { _ = try? connection.query("SELECT pg_advisory_unlock(\(Self.metaMakingLock))") }
            try beginMetaDatabase(making)
            try connection.execute("COMMENT ON DATABASE \(quoteIdent(making)) IS \(quoteLiteral(Self.metaMarker))")
            try finishMetaOwnership(making)
            do { try connection.execute("ALTER DATABASE \(quoteIdent(making)) RENAME TO \(quoteIdent(name))") }
            catch let error as PostgresServerError where error.sqlState == "42P04" {   // made by another run meanwhile
                try connection.execute("DROP DATABASE IF EXISTS \(quoteIdent(making))")
                guard try comment(of: name) == Self.metaMarker else {
                    throw FerryError(.nameConflict, "a database named \(name) appeared on \(instanceName) that Ferry did not make; Ferry keeps its claims there and does not write into it",
                                     hint: "rename that database, then run again", instance: instanceName)
                }
            }
        }
        guard try comment(of: name) == Self.metaMarker, try isOwnedByTrustedRole(name) else {
            throw FerryError(.nameConflict, "the database \(name) on \(instanceName) is not Ferry's (it lacks Ferry's mark or belongs to a role that is neither Ferry's user nor a superuser); Ferry keeps its claims there and does not write into it",
                             hint: "drop or rename that database, then run again", instance: instanceName)
        }
        let meta = try open(name)
        // The claims table must be Ferry's too: no trigger or rule may run code with Ferry's rights.
        if let foreign = try meta.scalar("""
            SELECT count(*)::text FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
            WHERE c.oid = to_regclass('public.claims') AND (NOT (r.rolsuper OR r.rolname = current_user) OR c.relhastriggers OR c.relhasrules OR c.relrowsecurity)
            """), foreign != "0" {
            meta.close()
            throw FerryError(.nameConflict, "the claims table in \(name) on \(instanceName) has a trigger, a rule, a policy or another owner; Ferry does not write into it",
                             hint: "drop that database (it holds only Ferry's claims), then run again", instance: instanceName)
        }
        // `CREATE TABLE IF NOT EXISTS` asks for CREATE on the schema even when the table is
        // there (PostgreSQL checks the namespace first): a user given only SELECT, INSERT and
        // DELETE on the claims, as the hint below says, was refused (42501) at every claim.
        if create {
            if try meta.scalar("SELECT (to_regclass('public.claims') IS NULL)::text") == "true" {
                try meta.execute("CREATE TABLE IF NOT EXISTS public.claims (db text NOT NULL, role text NOT NULL, run_id text NOT NULL, claimed_at timestamptz NOT NULL DEFAULT now(), holder text NOT NULL DEFAULT '', host text NOT NULL DEFAULT '', pid bigint NOT NULL DEFAULT 0, journal text NOT NULL DEFAULT '', reverts text NOT NULL DEFAULT '', PRIMARY KEY (db, role, run_id))")
            }
            // Where each claim's run keeps its journal (round-14 A3) and the run a rollback run
            // reverts (round 16, C1), added to an earlier release's table; one this user may not
            // alter keeps its claims without them.
            for column in ["journal", "reverts"] where try !Self.claimsHave(column, meta) {
                try? meta.execute("ALTER TABLE public.claims ADD COLUMN IF NOT EXISTS \(column) text NOT NULL DEFAULT ''")
            }
        }
        return meta
    }

    /// The names claims databases are made under before they take their name.
    var metaMakingPrefix: String { String(metaBase.prefix(30)) + "__ferry_n_" }
    /// The advisory lock (two-key form) a run holds while it makes the claims database.
    static let metaMakingLock = "1178948185, 2"

    /// The role a claims database being made is born owned by: `ferry_i_meta_<6 hex of sha256(name)>`,
    /// marked `ferry:meta-making:<name>` in the transaction that creates it.
    static func metaMakingRole(_ making: String) -> String { "ferry_i_meta_" + String(Digest.sha256(Array(making.utf8)).prefix(6)) }
    static func metaMakingMarker(_ making: String) -> String { "ferry:meta-making:" + making }

    /// Creates `making` born owned by a marked `NOLOGIN` role (`metaMakingRole`), so that a kill
    /// right after `CREATE DATABASE` leaves a database that is provably Ferry's. Where Ferry's
    /// user may not create roles, the database is created plainly (a kill before its comment
    /// then leaves an unmarked database, which is never dropped).
    func beginMetaDatabase(_ making: String) throws {
        let role = Self.metaMakingRole(making)
        var owner = ""
        let attributes = try connection.query("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user").first
        if attributes?[0] == "t" || attributes?[1] == "t" {
            var statements = ["BEGIN", "CREATE ROLE \(quoteIdent(role)) NOLOGIN",
                              "COMMENT ON ROLE \(quoteIdent(role)) IS \(quoteLiteral(Self.metaMakingMarker(making)))"]
            if attributes?[0] != "t" { statements.append("GRANT \(quoteIdent(role)) TO CURRENT_USER") }
            do {
                for statement in statements + ["COMMIT"] { try connection.execute(statement) }
                owner = " OWNER \(quoteIdent(role))"
            } catch let error as PostgresServerError {
                try? connection.execute("ROLLBACK")
                guard error.sqlState == "42501" else { throw error }
            }
            KillPoint.check("change:postgres.meta-role.created")
        }
        do { try connection.execute("CREATE DATABASE \(quoteIdent(making))\(owner)") } catch {
            if !owner.isEmpty { _ = try? connection.execute("DROP ROLE IF EXISTS \(quoteIdent(role))") }
            throw error
        }
        KillPoint.check("change:postgres.meta.created")
    }

    /// Gives `making` to Ferry's user and drops the role it was born owned by (if any).
    func finishMetaOwnership(_ making: String) throws {
        let role = Self.metaMakingRole(making)
        guard try connection.scalar("SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = \(quoteLiteral(role))")
                == Self.metaMakingMarker(making) else { return }
        try connection.execute("ALTER DATABASE \(quoteIdent(making)) OWNER TO CURRENT_USER")
        try connection.execute("DROP ROLE \(quoteIdent(role))")
    }

    /// Drops what killed runs left while making the claims database: databases named
    /// `metaMakingPrefix...` that carry Ferry's meta comment and belong to Ferry's user or a
    /// superuser, or are owned by their marked making role, and such roles. Skipped while another run makes one (it holds `metaMakingLock`).
    /// Returns what it removed.
    @discardableResult
    func removeUnfinishedMetaDatabases() throws -> [String] {
        let prefix = quoteLiteral(metaMakingPrefix)
        let found = try connection.query("""
            SELECT d.datname, shobj_description(d.oid, 'pg_database'), shobj_description(r.oid, 'pg_authid'), r.rolname,
                   (r.rolsuper OR r.rolname = current_user)::text
            FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE starts_with(d.datname, \(prefix))
            """)
        let roles = try connection.query("SELECT rolname, shobj_description(oid, 'pg_authid') FROM pg_roles WHERE starts_with(rolname, 'ferry_i_meta_')")
        guard !found.isEmpty || !roles.isEmpty,
              try connection.scalar("SELECT pg_try_advisory_lock(\(Self.metaMakingLock))") == "t" else { return [] }
        defer { _ = try? connection.query("SELECT pg_advisory_unlock(\(Self.metaMakingLock))") }
        var removed: [String] = []
        for row in found {
            guard let name = row[0] else { continue }
            let ownedByItsRole = row[3] == Self.metaMakingRole(name) && row[2] == Self.metaMakingMarker(name)
            // The comment proves something only on a database of Ferry's user or a superuser.
            guard (row[1] == Self.metaMarker && row[4] == "true") || ownedByItsRole else { continue }
            try connection.execute("DROP DATABASE IF EXISTS \(quoteIdent(name)) WITH (FORCE)")
            removed.append(name)
        }
        for row in roles {
            guard let role = row[0], let marker = row[1], marker.hasPrefix("ferry:meta-making:"),
                  Self.metaMakingRole(String(marker.dropFirst("ferry:meta-making:".count))) == role,
                  !(try databaseExists(String(marker.dropFirst("ferry:meta-making:".count)))) else { continue }
            try connection.execute("DROP ROLE \(quoteIdent(role))")
            removed.append("role " + role)
        }
        return removed
    }

    func currentClaims() throws -> [DatabaseClaim] {
        guard let meta = try metaConnection(create: false) else { return [] }
        defer { meta.close() }
        do {
            let journal = try Self.claimsHave("journal", meta) ? "journal" : "''"
            let reverts = try Self.claimsHave("reverts", meta) ? "reverts" : "''"
            return try meta.query("SELECT db, role, run_id, holder, host, pid, \(journal), \(reverts) FROM public.claims ORDER BY claimed_at").compactMap { row in
                guard let db = row[0], let role = row[1].flatMap(DatabaseClaim.Role.init(rawValue:)), let run = row[2] else { return nil }
                let pid = row[5].flatMap { Int32($0) }
                var claim = DatabaseClaim(database: db, role: role, runID: run, holder: row[3].flatMap { $0.isEmpty ? nil : $0 },
                                          host: row[4].flatMap { $0.isEmpty ? nil : $0 }, pid: pid == 0 ? nil : pid)
                claim.journal = row[6].flatMap { $0.isEmpty ? nil : $0 }
                claim.reverts = row[7].flatMap { $0.isEmpty ? nil : $0 }
                return claim
            }
        } catch let error as PostgresServerError where error.sqlState == "42P01" {
            return []
        } catch let error as PostgresServerError where error.sqlState == "42501" {
            throw claimsDenied(meta)
        }
    }

    /// The error when Ferry's user may not read the claims table another Ferry user (a
    /// superuser) made (fresh tester round 6, F3: it was `InstanceNotFound`, "permission denied
    /// for table claims", naming neither the database nor the roles).
    func claimsDenied(_ meta: PostgresConnection) -> FerryError {
        let name = metaName ?? metaBase
        let owner = (try? meta.scalar("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass('public.claims')")).flatMap { $0 } ?? "another role"
        let user = (try? connection.scalar("SELECT current_user::text")).flatMap { $0 } ?? "?"
        return FerryError(.wrongStatus, "Ferry's user \(user) may not read Ferry's claims on \(instanceName) (table claims in the database \(name), made by \(owner)): every run on one server keeps its claims there",
                          hint: "run every plan on this server as \(owner), or as one Ferry user that may read and write that table (GRANT SELECT, INSERT, DELETE ON public.claims TO \(user), in \(name))",
                          instance: instanceName)
    }

    public func recordedClaims() throws -> [DatabaseClaim] {
        try run(.internalError, "cannot read the claims on \(instanceName)") { try currentClaims() }
    }

    public func claimHeld(by runID: String, on database: String) throws -> Bool? {
        try run(.internalError, "cannot read the claims on \(instanceName)") {
            try currentClaims().contains { $0.runID == runID && $0.database == database }
        }
    }

    /// One `UPDATE ... WHERE` the holder is still `expected`'s: a second taker's update waits on
    /// the first's row locks, then finds the rows changed and updates none.
    public func takeOverClaims(ofRun runID: String, from expected: DatabaseClaim, to taker: DatabaseClaim) throws -> Bool? {
        try run(.internalError, "cannot take over the claims of run \(runID) on \(instanceName)") {
            guard let meta = try metaConnection(create: false) else { return false }
            defer { meta.close() }
            let journal = try Self.claimsHave("journal", meta) ? ", journal = \(quoteLiteral(taker.journal ?? ""))" : ""
            let rows = try meta.query("UPDATE public.claims SET holder = \(quoteLiteral(taker.holder ?? "")), host = \(quoteLiteral(taker.host ?? "")), pid = \(taker.pid ?? 0)\(journal)"
                + " WHERE run_id = \(quoteLiteral(runID)) AND coalesce(holder, '') = \(quoteLiteral(expected.holder ?? ""))"
                + " AND coalesce(host, '') = \(quoteLiteral(expected.host ?? "")) AND coalesce(pid, 0) = \(expected.pid ?? 0) RETURNING run_id")
            return !rows.isEmpty
        }
    }

    /// Whether the claims table has `column` (`journal`, `reverts`: an earlier release's has not).
    static func claimsHave(_ column: String, _ meta: PostgresConnection) throws -> Bool {
        try meta.scalar("SELECT count(*)::text FROM pg_attribute WHERE attrelid = to_regclass('public.claims') AND attname = \(quoteLiteral(column)) AND NOT attisdropped") == "1"
    }

    /// True for a claim of a run whose process is provably gone and that left no database here
    /// (nor did the run it reverts, for a rollback run's).
    func isClearable(_ claim: DatabaseClaim) throws -> Bool {
        try claim.isClearable { try leftovers(ofRun: $0) }
    }

    public func claim(_ claims: [DatabaseClaim]) throws {
        try run(.internalError, "cannot claim databases on \(instanceName)") {
            let stale = try currentClaims().filter { old in !claims.contains { $0.runID == old.runID } }
            let clearable = try stale.filter { try isClearable($0) }.map(\.runID)
            guard let meta = try metaConnection(create: true) else { return }
            defer { meta.close() }
            let optional = try ["journal", "reverts"].filter { try Self.claimsHave($0, meta) }
            try meta.execute("BEGIN; LOCK TABLE public.claims IN EXCLUSIVE MODE")
            do {
                for run in Set(clearable) { try meta.execute("DELETE FROM public.claims WHERE run_id = \(quoteLiteral(run))") }
                for claim in claims {
                    let holders = try meta.query("SELECT run_id, role, holder, host, pid FROM public.claims WHERE db = \(quoteLiteral(claim.database)) AND run_id <> \(quoteLiteral(claim.runID))")
                    if let holder = holders.first {
                        try meta.execute("ROLLBACK")
                        let other = DatabaseClaim(database: claim.database, role: .importing, runID: holder[0] ?? "?",
                                                  holder: holder[2].flatMap { $0.isEmpty ? nil : $0 },
                                                  host: holder[3].flatMap { $0.isEmpty ? nil : $0 }, pid: holder[4].flatMap { Int32($0) })
                        throw FerryError(.wrongStatus, "database \(claim.database) on \(instanceName) is \(holder[1] ?? "in use") by \(other.holderSummary)",
                                         hint: "wait for that run, or recover it with `ferry recover`; if it is gone for good, `ferry unlock --claims \(instanceName) \(holder[0] ?? "RUN")`",
                                         instance: instanceName)
                    }
                    var extra = ("", "")
                    for (column, value) in [("journal", claim.journal), ("reverts", claim.reverts)] where optional.contains(column) {
                        extra.0 += ", " + column
                        extra.1 += ", " + quoteLiteral(value ?? "")
                    }
                    try meta.execute("INSERT INTO public.claims (db, role, run_id, holder, host, pid\(extra.0)) VALUES (\(quoteLiteral(claim.database)), \(quoteLiteral(claim.role.rawValue)), \(quoteLiteral(claim.runID)), \(quoteLiteral(claim.holder ?? "")), \(quoteLiteral(claim.host ?? "")), \(claim.pid ?? 0)\(extra.1)) ON CONFLICT DO NOTHING")
                }
                try meta.execute("COMMIT")
            } catch {
                try? meta.execute("ROLLBACK")
                throw error
            }
        }
    }

    public func release(runID: String) throws {
        try run(.internalError, "cannot release claims on \(instanceName)") {
            guard let meta = try metaConnection(create: false) else { return }
            defer { meta.close() }
            do { try meta.execute("DELETE FROM public.claims WHERE run_id = \(quoteLiteral(runID))") }
            catch let error as PostgresServerError where error.sqlState == "42P01" {}
        }
    }

    /// Shadow and checkpoint databases of the run (`NAME__ferry_s_RUN`, `NAME__ferry_c_RUN`).
    public func leftovers(ofRun runID: String) throws -> [String] {
        let run = Self.runPart(runID)
        guard !run.isEmpty else { return [] }
        return try self.run(.internalError, "cannot read the databases of \(instanceName)") {
            try connection.query("SELECT datname FROM pg_database").compactMap { $0[0] }
                .filter { $0.contains("__ferry_") && $0.hasSuffix("_" + run) && Self.runTag(of: $0) != nil }.sorted()
                + importRoles(ofRun: runID).map { "role \($0)" }
        }
    }

    /// `ferry unlock --claims` of a run stopped after its swap (fresh tester round 21, H5: the
    /// checkpoint was listed as a leftover to "remove by hand", though it holds the only copy of
    /// what the target held before the run): each checkpoint of the run, the database it is the
    /// checkpoint of (the one whose derived checkpoint name it carries) and what it holds.
    /// Reads only.
    public func leftoverWarnings(ofRun runID: String) throws -> [String] {
        let run = Self.runPart(runID)
        guard !run.isEmpty else { return [] }
        return try self.run(.internalError, "cannot read what run \(runID) left on \(instanceName)") {
            let names = try connection.query("SELECT datname FROM pg_database").compactMap { $0[0] }
            return names.filter { $0.hasSuffix("__ferry_c_" + run) }.sorted().map { checkpoint in
                guard let target = names.first(where: { $0 != checkpoint && Self.derivedName($0, marker: "c", runID: runID) == checkpoint }) else {
                    return "\(checkpoint) is a checkpoint of the run, no leftover: it holds what its database held before the run (that database is not there now); never drop it before you have what you need from it"
                }
                return "\(checkpoint) is the checkpoint of \(target), no leftover: it holds what \(target) held before the run, and \(target) holds the run's copy now. To put \(target) back by hand, rename \(target) away and \(checkpoint) to \(target)"
            }
        }
    }

    // MARK: Shadows

    /// The encoding and locale of `database` (its locale provider, ICU locale and rules too), for
    /// a shadow that must hold its data.
    func creationOptions(like database: String) throws -> String {
        try databaseLocale(of: database)?.clause(serverVersion: connection.serverVersionNumber) ?? ""
    }

    public func makeShadow(for database: String, runID: String) throws -> String {
        try makeShadow(for: database, runID: runID, like: database)
    }

    /// Refuses, before anything is journaled or made, a user who may not create databases
    /// (neither superuser nor `CREATEDB`: the shadow's `CREATE DATABASE` and the swap's `ALTER
    /// DATABASE ... RENAME` need it), or who may not give the target's replacement its owner
    /// (`ownerCarryRefusal`). It was refused at the shadow's `CREATE DATABASE`, after the shadow
    /// was journaled, with `CopyError` (rolled back, but a run for nothing). `WrongStatus`.
    public func checkBeforeShadow(for database: String, runID: String) throws {
        let row = try run(.internalError, "cannot read the rights of Ferry's user on \(instanceName)") {
            try connection.query("SELECT (rolsuper OR rolcreatedb)::text, current_user::text FROM pg_roles WHERE rolname = current_user").first
        }
        if let row, row[0] != "true" {
            let user = row[1] ?? "?"
            throw FerryError(.wrongStatus, "Ferry's user \(user) on \(instanceName) may not create databases (it is neither a superuser nor CREATEDB), which Ferry needs to build its shadow of \(database) and swap it in; nothing was made",
                             hint: "ALTER ROLE \(quoteIdent(user)) CREATEDB (as a superuser), or connect as a user that has it, then apply again", instance: instanceName)
        }
        if let refusal = try run(.internalError, "cannot read the owner of \(database) on \(instanceName)", { try ownerCarryRefusal(for: database) }) {
            throw FerryError(.wrongStatus, refusal.reason,
                             hint: "GRANT \(quoteIdent(refusal.owner)) TO Ferry's user (it needs CREATEDB too), or connect as a superuser, then apply again", instance: instanceName)
        }
    }

    /// Creates the shadow from `template0` with the encoding and locale of `like` (when it
    /// exists), provably Ferry's from its first moment (`createMarkedDatabase`). A database of that name that exists is
    /// someone else's: `NameConflict`, nothing touched.
    func makeShadow(for database: String, runID: String, like: String) throws -> String {
        let shadow = Self.derivedName(database, marker: "s", runID: runID)
        try run(.copyError, "cannot create shadow \(shadow) on \(instanceName)") {
            if try databaseExists(shadow) {
                throw FerryError(.nameConflict, "a database named \(shadow) exists on \(instanceName); Ferry does not drop what it did not create",
                                 hint: "rename or drop that database yourself, then apply again", instance: instanceName)
            }
            let options = try databaseExists(like) ? try creationOptions(like: like) : ""
            if like == database, let refusal = try ownerCarryRefusal(for: database) {
                throw FerryError(.wrongStatus, refusal.reason,
                                 hint: "GRANT \(quoteIdent(refusal.owner)) TO Ferry's user (it needs CREATEDB too), or connect as a superuser, then apply again", instance: instanceName)
            }
            do { try createMarkedDatabase(shadow, clause: "TEMPLATE template0\(options)") }
            catch let error as PostgresServerError where error.sqlState == "42P04" {
                throw FerryError(.nameConflict, "a database named \(shadow) appeared on \(instanceName) while Ferry created its shadow; it is not Ferry's",
                                 instance: instanceName)
            }
        }
        return shadow
    }

    /// True for a database Ferry may drop: a shadow that carries its marker comment, or a
    /// checkpoint that carries its own (`checkpointMarker`): a name alone proves nothing, since
    /// anyone who may create databases can make one under an old checkpoint's name.
    func isOwnDerived(_ database: String) throws -> Bool {
        guard let tag = Self.runTag(of: database) else { return false }
        let comment = try comment(of: database)
        if database.hasSuffix("__ferry_c_" + tag) {
            return comment.flatMap { Self.commentKept(byCheckpoint: database, marker: $0) } != nil
        }
        if comment == Self.shadowMarker(database) { return true }
        return try isOwnedByImportRole(database)
    }

    /// True when `shadow` is owned by its own import role, carrying that role's marker: only
    /// Ferry hands a shadow to that role (the role cannot create databases), so the shadow is
    /// Ferry's even when the file's statements changed its comment.
    func isOwnedByImportRole(_ shadow: String) throws -> Bool {
        let role = PostgresImportRole.name(forShadow: shadow)
        return try connection.scalar("""
            SELECT shobj_description(r.oid, 'pg_authid') FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba
            WHERE d.datname = \(quoteLiteral(shadow)) AND r.rolname = \(quoteLiteral(role))
            """) == PostgresImportRole.marker(forShadow: shadow)
    }

    /// Drops a shadow (only with its marker) or a checkpoint; any other name is refused. Sessions
    /// on it are ended (`WITH (FORCE)`): they can only be Ferry's own workers or a stranger in a
    /// database that is Ferry's.
    public func drop(_ database: String) throws {
        guard Self.runTag(of: database) != nil else {
            throw FerryError(.copyError, "\(database) on \(instanceName) is not a shadow or checkpoint Ferry made; it is not dropped",
                             instance: instanceName)
        }
        try run(.internalError, "cannot drop \(database) on \(instanceName)") {
            // A journaled name this connection cannot write was never created: nothing to drop.
            guard try canName(database), try databaseExists(database) else { return }
            guard try isOwnDerived(database) else {
                throw FerryError(.copyError, "\(database) on \(instanceName) does not carry Ferry's shadow or checkpoint mark; it is not dropped",
                                 hint: "drop it yourself if it is not needed", instance: instanceName)
            }
            // A `DROP DATABASE` of an earlier pass killed a moment ago: PostgreSQL 15.4 and later
            // mark the database invalid (`datconnlimit` -2) before they remove it, so one left so
            // is Ferry's own half-dropped database, which nobody can connect to and only DROP
            // DATABASE ends; and a server still running that statement (a backend ends it before
            // it notices its client is gone) removes the database while it is read here (fresh
            // tester round 13, F6: "could not drop checkpoint ...: pb has no database ...", about
            // a checkpoint already dropped). Neither holds anything anybody can have written.
            if try connection.scalar("SELECT datconnlimit FROM pg_database WHERE datname = \(quoteLiteral(database))") != "-2" {
                do {
                    if let foreign = try objectsNotMadeByImport(in: database) {
                        throw FerryError(.wrongStatus, foreign + ", so it was not dropped: it is left as it is",
                                         hint: "keep what you need from it, then drop it yourself and run `ferry recover` again", instance: instanceName)
                    }
                    if let written = try checkpointChanges(in: database) {
                        throw FerryError(.wrongStatus, written,
                                         hint: "Ferry does not touch it again: keep what you need from it, then drop it yourself", instance: instanceName)
                    }
                } catch {
                    // Gone while it was read: dropped already, and so is everything in it.
                    guard try !databaseExists(database) else { throw error }
                }
            }
            try connection.execute("DROP DATABASE IF EXISTS \(quoteIdent(database)) WITH (FORCE)")
            forgetSettingsBaselines(checkpoint: database)
            try dropImportRole(forShadow: database)
        }
    }

    /// Drops the run's shadow of `database` when it carries Ferry's marker (or is owned by its
    /// marked import role), then that import role; never a checkpoint.
    public func removeLeftovers(ofRun runID: String, database: String) throws -> [String] {
        let shadow = Self.derivedName(database, marker: "s", runID: runID)
        return try run(.internalError, "cannot remove leftovers on \(instanceName)") {
            var removed: [String] = []
            // A shadow name this connection cannot write was never created, nor its import role.
            guard try canName(shadow) else { return [] }
            try endUnfinishedCreation(of: shadow)
            if let foreign = try objectsNotMadeByImport(in: shadow) {
                throw FerryError(.wrongStatus, foreign + ", so it was not dropped: it is left as it is",
                                 hint: "keep what you need from it, then drop it yourself and run `ferry recover` again", instance: instanceName)
            }
            if try databaseExists(shadow), try comment(of: shadow) == Self.shadowMarker(shadow) || isOwnedByImportRole(shadow) {
                try connection.execute("DROP DATABASE IF EXISTS \(quoteIdent(shadow)) WITH (FORCE)")
                removed.append(shadow)
            }
            if try dropImportRole(forShadow: shadow) { removed.append("role " + PostgresImportRole.name(forShadow: shadow)) }
            return removed
        }
    }

    // MARK: Swap

    /// How long a swap waits for other sessions on the target to end (`FERRY_PG_SWAP_WAIT_SECONDS`, default 10).
    static var swapWait: TimeInterval {
        ProcessInfo.processInfo.environment["FERRY_PG_SWAP_WAIT_SECONDS"].flatMap { TimeInterval($0) } ?? 10
    }

    /// Other sessions on `database`: pid, user, application, client address. Autovacuum workers
    /// are not sessions: the server cancels them itself for `ALTER DATABASE ... RENAME` (a
    /// benchmark's swap waited for one vacuuming a freshly loaded shadow, then failed).
    func sessions(on database: String) throws -> [String] {
        try connection.query("SELECT pid, usename, application_name, client_addr FROM pg_stat_activity WHERE datname = \(quoteLiteral(database)) AND pid <> pg_backend_pid() AND backend_type IS DISTINCT FROM 'autovacuum worker' ORDER BY pid")
            .map { row in "pid \(row[0] ?? "?") (user \(row[1] ?? "?")\(row[2].flatMap { $0.isEmpty ? nil : ", \($0)" } ?? "")\(row[3].map { " from \($0)" } ?? ""))" }
    }

    /// Runs `renames` (statements of one transaction) once no other session is on `databases`.
    /// Waits `swapWait`; then, when the instance allows it (`terminateSessions`), ends those
    /// sessions and tries again, else fails with `WrongStatus` naming them. `check` runs inside
    /// the transaction after the statements, while their renames hold each database
    /// (`ALTER DATABASE ... RENAME` takes it exclusively: no session can enter it until the
    /// commit); what it throws rolls the transaction back and is thrown.
    func renameWhenFree(_ databases: [String], _ statements: [String], check: (() throws -> Void)? = nil) throws {
        var deadline = Date().addingTimeInterval(Self.swapWait)
        var terminated = false
        var concurrentUpdates = 0
        while true {
            var busy: [String] = []
            for database in databases { busy += try sessions(on: database).map { "\(database): \($0)" } }
            if busy.isEmpty {
                KillPoint.check("postgres.rename")   // tests: another session's change just before the renames
                do {
                    if let check {
                        try connection.execute("BEGIN; " + statements.joined(separator: "; "))
                        try check()
                        try connection.execute("COMMIT")
                    } else {
                        try connection.execute("BEGIN; " + statements.joined(separator: "; ") + "; COMMIT")
                    }
                    return
                } catch let error as PostgresServerError where error.sqlState == "55006" {
                    try? connection.execute("ROLLBACK")   // a session came in between: wait again
                } catch let error as PostgresServerError where error.sqlState == "XX000" && error.message.contains("tuple concurrently updated") && concurrentUpdates < 20 {
                    // A `GRANT` or `ALTER DATABASE` of another session updated the same
                    // `pg_database` row between the rename's read of it and its write: try again
                    // (the next try reads that change, and carries it).
                    try? connection.execute("ROLLBACK")
                    concurrentUpdates += 1
                    Thread.sleep(forTimeInterval: 0.05)
                } catch let error as PostgresServerError where error.sqlState == "23505" || error.sqlState == "3D000" {
                    // Another session made, renamed or dropped a database under one of these
                    // names between Ferry's reads and its renames (round-10 F10: the raw
                    // `pg_database_datname_index` text of a rollback racing an application
                    // that dropped and made its database again). The transaction is rolled
                    // back whole, so nothing was renamed, and that is what is said.
                    try? connection.execute("ROLLBACK")
                    throw FerryError(.wrongStatus, "another session made, renamed or dropped a database named \(databases.joined(separator: " or ")) or one Ferry renames to on \(instanceName) at the moment Ferry renamed them (\(error.message.split(separator: "\n").first.map(String.init) ?? ""), SQLSTATE \(error.sqlState)); the renames are one transaction, so nothing was renamed",
                                     hint: "see which databases hold those names now: this step changed none of them", instance: instanceName)
                } catch {
                    try? connection.execute("ROLLBACK")
                    throw error
                }
            }
            if Date() >= deadline {
                if target.instance.terminateSessions == true && !terminated {
                    for database in databases {
                        try connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = \(quoteLiteral(database)) AND pid <> pg_backend_pid()")
                    }
                    terminated = true
                    // pg_terminate_backend only signals: the sessions end a moment later.
                    deadline = Date().addingTimeInterval(max(5, Self.swapWait))
                    continue
                }
                throw FerryError(.wrongStatus, "\(databases.joined(separator: ", ")) on \(instanceName) still had other sessions after \(Int(Self.swapWait)) s: \(busy.joined(separator: "; "))",
                                 hint: "end those sessions, then run the command again (`ferry apply`, or `ferry recover` where an undo was held), or set \"terminateSessions\": true on instance \(instanceName) to let Ferry end them",
                                 instance: instanceName)
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    /// Swaps in one transaction: the target becomes the checkpoint, the shadow becomes the target
    /// and takes, in that transaction after the renames (`carryReplaced`), the target's comment
    /// (or none) instead of the shadow marker, its owner and connection limit, and, when it has
    /// none of its own, its ACL and settings; then refuses (`WrongStatus`, the run's rollback
    /// undoes the swap) when a change of those reached the checkpoint during the rename
    /// (`refuseLateChanges`).
    public func swap(_ record: SwapRecord) throws -> SwapRecord {
        try run(.copyError, "cannot swap \(record.shadow) in as \(record.database) on \(instanceName)") {
            // An import's shadow holding an object made after its build is not swapped in
            // (tester w5 X1b); one made after this check is after the core's token read of the
            // shadow, so a rollback finds the target written and leaves it.
            if let foreign = try objectsNotMadeByImport(in: record.shadow) {
                throw FerryError(.wrongStatus, foreign + "; it was not swapped in, and is left as it is",
                                 hint: "something works inside Ferry's shadow database: keep what you need from it, then drop it yourself and run `ferry recover`",
                                 instance: instanceName)
            }
            var statements: [String] = []
            var databases = [record.shadow]
            var checkpoint: String?
            if record.targetExisted, try databaseExists(record.database) {
                guard let name = record.checkpoint else {
                    throw FerryError(.internalError, "swap of \(record.database) without a checkpoint name", instance: instanceName)
                }
                checkpoint = name
                databases.insert(record.database, at: 0)
                statements.append("ALTER DATABASE \(quoteIdent(record.database)) RENAME TO \(quoteIdent(name))")
            }
            statements.append("ALTER DATABASE \(quoteIdent(record.shadow)) RENAME TO \(quoteIdent(record.database))")
            // Whether the shadow has an ACL and settings of its own (then those stay), read before
            // anything is carried onto it.
            let own = try ownDatabaseSettings(record.shadow)
            // The database the swap puts in place, known by its oid (a rename keeps it): the
            // swap back renames away only that one.
            let shadowOid = try oid(of: record.shadow)
            let targetOid = checkpoint == nil ? nil : try oid(of: record.database)
            // First, before the renames, the replaced database's owner, limit and (when the shadow
            // has none of its own) ACL and settings as they are now, with the rights baseline
            // (tester w5 X4: Ferry's own change after the shadow's token was read) and the
            // settings baseline it will have, so that a kill right after the commit leaves both.
            var carried: String?
            if let targetOid {
                let rightsBefore = try rawRights(of: record.shadow)
                defer { recordRightsBaseline(of: record.shadow, before: rightsBefore) }
                carried = try carryReplaced(record.database, oid: targetOid, into: record.shadow, own: own, markingCheckpoint: nil)
            }
            if let shadowOid, let provisional = try settingsDigest(comment: checkpoint == nil ? "NULL::oid" : "t.oid", settings: "d.oid",
                                                                     where: "d.oid = \(quoteLiteral(shadowOid))::oid" + (checkpoint == nil ? "" : " AND t.datname = \(quoteLiteral(record.database))"),
                                                                     from: checkpoint == nil ? "" : ", pg_database t") {
                recordSettingsBaseline(ofDatabase: shadowOid, checkpoint: record.checkpoint, replacing: nil, digest: provisional)
            }
            let rightsCarried = checkpoint == nil ? nil : try rawRights(of: record.shadow)
            // Then inside the renames' transaction, after the rename of the replaced database took
            // it (nothing can change it until the commit), what changed of it since is carried
            // again, and the comment (fresh tester round 6, F1: carried 0.2 s before the rename
            // only, a `REVOKE CONNECT ... FROM PUBLIC` or `ALTER DATABASE ... SET` made in that
            // moment was missing on the live database after "Apply complete").
            var replacedState: String?
            var leftSettings: String?
            var carriedAgain = false
            let carry = { [self] () throws -> Void in
                KillPoint.check("change:postgres.renamed")   // inside the transaction, after the renames
                if let checkpoint, let targetOid {
                    let now = try databaseState(ofDatabase: targetOid)
                    carriedAgain = now != carried
                    replacedState = try carryReplaced(checkpoint, oid: targetOid, into: record.database, own: own,
                                                      markingCheckpoint: checkpoint, attributes: carriedAgain)
                } else {
                    try connection.execute("COMMENT ON DATABASE \(quoteIdent(record.database)) IS NULL")
                }
                // What the swap leaves of the swapped-in database's comment and settings, read in
                // its transaction: recorded right after the commit, so that every change an
                // application makes to the live database from the commit on is a write (fresh
                // tester round 7, F1: read after the late check, 0.1-0.4 s later, the changes
                // made meanwhile were taken for Ferry's and dropped with the swap's undo).
                leftSettings = try shadowOid.flatMap { try settingsDigest(ofDatabase: $0) }
            }
            // What the server had counted of the sessions on the replaced target while the
            // rename held it (nobody on it): the checkpoint's token read after the swap is what
            // it held at the swap when no session entered it in between (`TokenRead`).
            var sessionsAtSwap: Int64?
            let countSessions = { [connection] () throws -> Void in
                _ = try connection.query("SELECT pg_stat_clear_snapshot()")
                sessionsAtSwap = try targetOid.flatMap { try connection.scalar("SELECT sessions::text FROM pg_stat_database WHERE datid = \($0)") }.flatMap { Int64($0) }
            }
            KillPoint.check("change:postgres.renaming")
            do {
                if let targetOid {
                    // An append's target must still hold what its snapshot began from
                    // (`expectedTargetToken`, just checked by the core): no write may land between
                    // that check and this rename.
                    try renameUnwritten(record.database, oid: targetOid, expected: record.expectedTargetToken, also: databases) { unwritten in
                        try renameWhenFree(databases, statements) { try carry(); try unwritten(); try countSessions() }
                    }
                } else {
                    try renameWhenFree(databases, statements, check: carry)
                }
            } catch {
                if let shadowOid, (try? databaseExists(record.shadow)) == true { forgetSettingsBaseline(ofDatabase: shadowOid) }
                throw error
            }
            KillPoint.check("change:postgres.committed")
            if let shadowOid, let leftSettings {
                recordSettingsBaseline(ofDatabase: shadowOid, checkpoint: record.checkpoint, replacing: targetOid, digest: leftSettings)
            }
            // Carried again in the transaction: Ferry's own change too (a kill before this record
            // makes the target read as written: the safe side).
            if carriedAgain { recordRightsBaseline(of: record.database, before: rightsCarried) }
            if let checkpoint, let targetOid, let replacedState {
                try refuseLateChanges(of: checkpoint, oid: targetOid, carried: replacedState, target: record.database)
            }
            KillPoint.check("change:postgres.swapped")
            if targetOid != nil, let checkpoint = record.checkpoint {
                recordCheckpointToken(checkpoint, of: record, sessionsAtSwap: sessionsAtSwap)
            }
            var done = record
            done.detail = Self.checkpointMarkDetail + (shadowOid.map { " oid=\($0)" } ?? "") + (targetOid.map { " checkpoint=\($0)" } ?? "")
            return done
        }
    }

    /// Gives the shadow `target` what it takes of the database it replaces (`replaced`, oid
    /// `oid`): its owner and connection limit (`carriedAttributes`) and, when the shadow has none
    /// of its own (`own`), its ACL and settings (`carryDatabaseSettings`), as they are at this
    /// moment. Before the swap's renames (`markingCheckpoint` nil) in a transaction of its own.
    /// Inside the swap's transaction, after its renames (`replaced` is then the checkpoint's
    /// name, held exclusively by its rename, and `target` the target's): also marks the
    /// checkpoint (its comment kept in the mark) and gives `target` that comment; with
    /// `attributes` false carries nothing else. Returns the replaced database's state
    /// (`databaseState`, read before the carry's own reads): for the swap's comparisons.
    func carryReplaced(_ replaced: String, oid: String, into target: String, own: (acl: Bool, settings: Bool),
                       markingCheckpoint checkpoint: String?, attributes: Bool = true) throws -> String? {
        if let checkpoint {
            let comment = try self.comment(of: replaced)
            // Marked in the rename's transaction, so that no database merely named like a
            // checkpoint is ever restored or dropped as one; the mark keeps the comment.
            try connection.execute("COMMENT ON DATABASE \(quoteIdent(checkpoint)) IS \(quoteLiteral(Self.checkpointMarker(checkpoint, comment: comment)))")
            try connection.execute("COMMENT ON DATABASE \(quoteIdent(target)) IS \(comment.map(quoteLiteral) ?? "NULL")")
        }
        // Read first: what the carry below reads is the same or later, never earlier.
        let state = try databaseState(ofDatabase: oid)
        guard attributes else { return state }
        // Every shadow takes the owner and connection limit (fresh tester W8-2), owner first so
        // that a carried ACL's grantor is that owner; a shadow without rights (or settings) of
        // its own (an import's; a copy's of a source with default rights) takes those too: a
        // replace must not let PUBLIC connect to a database that had revoked it. Carried again
        // (`checkpoint`), the settings carried before go first (the replaced database may have
        // dropped some since).
        // Before the renames, in a transaction of its own; inside them, in theirs.
        if checkpoint == nil { try connection.execute("BEGIN") }
        do {
            for statement in try carriedAttributes(of: replaced, onto: target) { try connection.execute(statement) }
            if !own.acl || !own.settings {
                if !own.settings, checkpoint != nil { try resetDatabaseSettings(of: target) }
                _ = try carryDatabaseSettings(from: self, database: replaced, into: target, trusted: true, settings: !own.settings, acl: !own.acl)
            }
            if checkpoint == nil { try connection.execute("COMMIT") }
        } catch {
            if checkpoint == nil { try? connection.execute("ROLLBACK") }
            throw error
        }
        return state
    }

    /// Removes every `ALTER DATABASE / ROLE ... IN DATABASE ... SET` setting of `database`.
    func resetDatabaseSettings(of database: String) throws {
        try connection.execute("ALTER DATABASE \(quoteIdent(database)) RESET ALL")
        for row in try connection.query("""
            SELECT r.rolname FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase JOIN pg_roles r ON r.oid = s.setrole
            WHERE d.datname = \(quoteLiteral(database))
            """) {
            if let role = row[0] { try connection.execute("ALTER ROLE \(quoteIdent(role)) IN DATABASE \(quoteIdent(database)) RESET ALL") }
        }
    }

    /// The database-level state of the database of oid `oid` that a swap carries or marks, as
    /// one text: ACL, owner, connection limit, comment, and every `ALTER DATABASE / ROLE ... IN
    /// DATABASE ... SET` setting; nil when it is gone.
    func databaseState(ofDatabase oid: String) throws -> String? {
        try connection.scalar("""
            SELECT coalesce(d.datacl::text, '-') || E'\\n' || pg_get_userbyid(d.datdba) || E'\\n' || d.datconnlimit::text || E'\\n' ||
                   coalesce(shobj_description(d.oid, 'pg_database'), '-') || E'\\n' ||
                   coalesce((SELECT string_agg(s.setrole::text || '=' || (SELECT string_agg(c, E'\\x1f' ORDER BY c) FROM unnest(s.setconfig) c), E'\\n' ORDER BY s.setrole)
                             FROM pg_db_role_setting s WHERE s.setdatabase = d.oid), '')
            FROM pg_database d WHERE d.oid = \(quoteLiteral(oid))::oid
            """)
    }

    /// Run right after the swap's commit. A statement that named the replaced database before
    /// its rename and then waited for the rename's lock (`ALTER DATABASE ... SET`, `ALTER ROLE
    /// ... IN DATABASE ... SET`, `COMMENT ON DATABASE`: each finds the database by name, then
    /// locks it) writes, once the swap commits, into the database it found: the checkpoint, not
    /// the live database. Takes the checkpoint exclusively once (a rename rolled back), which
    /// waits for such statements, then throws `WrongStatus` when the checkpoint's state is not
    /// what the swap carried (`carried`): the run's rollback then undoes the swap, and the
    /// target is what it was, with that change. (A `GRANT`, `ALTER DATABASE ... OWNER` or
    /// `CONNECTION LIMIT` in that moment fails with "tuple concurrently updated" in the
    /// application's session instead: the rename updated the same catalog row.)
    func refuseLateChanges(of checkpoint: String, oid: String, carried: String, target: String) throws {
        let probe = "ferry_w_" + UUID().uuidString.prefix(13).lowercased()
        do {
            try connection.execute("BEGIN; ALTER DATABASE \(quoteIdent(checkpoint)) RENAME TO \(quoteIdent(probe)); ROLLBACK")
        } catch {
            try? connection.execute("ROLLBACK")
        }
        guard let now = try databaseState(ofDatabase: oid), now != carried else { return }
        throw FerryError(.wrongStatus, "\(instanceName)/\(target): its settings, comment or privileges were changed while Ferry swapped it in (an ALTER DATABASE ... SET or COMMENT ON DATABASE issued during the rename), and the change reached the database it replaced, not the new one; the swap is undone",
                         hint: "apply again when nothing changes the database's settings", instance: instanceName)
    }

    /// Records in `checkpoint`'s mark (`checkpointMarker`'s `token`) the content token it held
    /// at its swap, so that a drop can tell a checkpoint written since (tester w5 X3): an
    /// append's proven snapshot token (`renameUnwritten` compared it while the rename held the
    /// target), else the token read now, kept only when the server's session count proves that no
    /// session entered the checkpoint between the swap (`sessionsAtSwap`) and the read, and none
    /// was on it as the read began. Without that proof (or when the read fails, or before
    /// PostgreSQL 15) nothing is recorded, and no drop will remove the checkpoint. Costs a full
    /// read of what the target held (as the verify's read of the shadow) on a replace. Never
    /// throws: the swap has happened.
    func recordCheckpointToken(_ checkpoint: String, of record: SwapRecord, sessionsAtSwap: Int64?) {
        let snapshotProven = record.expectedTargetToken != nil && connection.serverVersionNumber >= 150000
        var token: String? = snapshotProven ? record.expectedTargetToken : nil
        if token == nil, let before = sessionsAtSwap {
            guard let read = try? contentToken(of: checkpoint), let proof = lastTokenRead[checkpoint],
                  proof.token == read, proof.sessionsBefore == before, !proof.othersPresent else { return }
            token = read
        }
        guard let token, let marker = try? comment(of: checkpoint),
              let mark = Self.checkpointMark(checkpoint, marker: marker), mark.token == nil,
              let settings = try? checkpointSettingsDigest(checkpoint, keptComment: mark.comment) else { return }
        _ = try? connection.execute("COMMENT ON DATABASE \(quoteIdent(checkpoint)) IS \(quoteLiteral(Self.checkpointMarker(checkpoint, comment: mark.comment, token: token, settings: settings)))")
    }

    /// The digest of what a checkpoint holds that its content token does not: its `ALTER
    /// DATABASE / ROLE ... IN DATABASE ... SET` settings and the comment its mark keeps (its
    /// comment itself is the mark). Read when the token is recorded (after `refuseLateChanges`,
    /// so a change that waited on the swap's rename is not taken for the checkpoint's own) and
    /// compared by `checkpointChanges` (round 7 F5: a later commit dropped a checkpoint whose
    /// settings were changed after its swap). nil when the checkpoint is gone.
    func checkpointSettingsDigest(_ checkpoint: String, keptComment: String?) throws -> String? {
        guard let settings = try settingsDigest(comment: "NULL::oid", settings: "d.oid", where: "d.datname = \(quoteLiteral(checkpoint))") else { return nil }
        return String(Digest.sha256(Array((settings + "\n" + (keptComment ?? "")).utf8)).prefix(40))
    }

    /// Why `checkpoint` must not be dropped, or nil when it may: it holds what it held at its
    /// swap (the token recorded in its mark). One written since (rows, definitions, comments,
    /// large objects: what the token covers), or one with no recorded token (an earlier
    /// release's, or one whose read at the swap proved nothing), is left as it is (tester w5 X3).
    func checkpointChanges(in checkpoint: String) throws -> String? {
        guard let marker = try comment(of: checkpoint), let mark = Self.checkpointMark(checkpoint, marker: marker) else { return nil }
        guard let recorded = mark.token else {
            return "checkpoint \(checkpoint) on \(instanceName) has no record of what it held at its swap (an earlier release made it, or a session entered it before Ferry read it), so it was not dropped: it is left as it is"
        }
        // Settings recorded at the swap (marks of earlier releases have none) must be what they were.
        if let settings = mark.settings, try checkpointSettingsDigest(checkpoint, keptComment: mark.comment) != settings {
            return "checkpoint \(checkpoint) on \(instanceName) was written after its swap (its database settings or kept comment were changed: it no longer holds what the target held then), so it was not dropped: it is left as it is, with those writes"
        }
        // A token an earlier release recorded (`pg2`, without owners and privileges) is compared as it was read.
        guard try contentToken(of: checkpoint, legacy: recorded.hasPrefix("pg2:")) != recorded else { return nil }
        return "checkpoint \(checkpoint) on \(instanceName) was written after its swap (it no longer holds what the target held then), so it was not dropped: it is left as it is, with those writes"
    }

    /// The statements that give `shadow` the owner and the connection limit of `database` (the
    /// one a swap replaces), owner first (so that a carried ACL's grantor is that owner); none
    /// where they already agree. `datallowconn`, `datistemplate` and the tablespace are not
    /// carried (SPEC: PostgreSQL's swap).
    func carriedAttributes(of database: String, onto shadow: String) throws -> [String] {
        let rows = try connection.query("""
            SELECT datname, pg_get_userbyid(datdba), datconnlimit::text FROM pg_database
            WHERE datname IN (\(quoteLiteral(database)), \(quoteLiteral(shadow)))
            """)
        guard let from = rows.first(where: { $0[0] == database }), let into = rows.first(where: { $0[0] == shadow }),
              let owner = from[1], let limit = from[2] else { return [] }
        var statements: [String] = []
        if into[1] != owner { statements.append("ALTER DATABASE \(quoteIdent(shadow)) OWNER TO \(quoteIdent(owner))") }
        if into[2] != limit, Int(limit) != nil { statements.append("ALTER DATABASE \(quoteIdent(shadow)) CONNECTION LIMIT \(limit)") }
        return statements
    }

    /// Why Ferry's user could not give a shadow the owner of `database` at the swap
    /// (`carriedAttributes`: `ALTER DATABASE ... OWNER TO` needs a superuser, or `CREATEDB` and
    /// a membership in that role that may `SET ROLE` to it), with that owner; nil when it can,
    /// or when `database` does not exist. Asked before the shadow is made, so that such a run
    /// fails before any change instead of handing the database to Ferry's user (W8-2).
    func ownerCarryRefusal(for database: String) throws -> (reason: String, owner: String)? {
        let option = connection.serverVersionNumber >= 160000 ? "SET" : "MEMBER"
        guard let row = try connection.query("""
            SELECT pg_get_userbyid(d.datdba), (r.rolsuper OR d.datdba = r.oid OR (r.rolcreatedb AND pg_has_role(r.oid, d.datdba, '\(option)')))::text,
                   current_user::text
            FROM pg_database d, pg_roles r WHERE d.datname = \(quoteLiteral(database)) AND r.rolname = current_user
            """).first, row[1] != "true", let owner = row[0], let user = row[2] else { return nil }
        return ("Ferry's user \(user) may not give the database that replaces \(instanceName)/\(database) its owner \(owner) (ALTER DATABASE ... OWNER TO needs a superuser, or CREATEDB and a membership in \(owner)), and Ferry never hands a database to its own user; nothing was changed", owner)
    }

    /// Whether `database` has an ACL, and `ALTER DATABASE / ROLE ... IN DATABASE ... SET`
    /// settings, of its own (a copy carried its source's).
    func ownDatabaseSettings(_ database: String) throws -> (acl: Bool, settings: Bool) {
        let row = try connection.query("""
            SELECT (datacl IS NOT NULL)::text, EXISTS (SELECT 1 FROM pg_db_role_setting s WHERE s.setdatabase = d.oid)::text
            FROM pg_database d WHERE datname = \(quoteLiteral(database))
            """).first
        return (row?[0] == "true", row?[1] == "true")
    }

    /// The sessions that would keep `undoSwap(record)` from renaming, after waiting `swapWait`
    /// for them to end; none when the instance allows `terminateSessions` (the undo ends them).
    /// Also lists, first and whatever `terminateSessions` says, what would make `undoSwap` refuse
    /// (`undoSwapRefusal`), so that `ferry rollback RUN` is refused before any change instead of
    /// starting a rollback run that cannot finish (tester w5 X2).
    public func undoSwapBlockers(_ record: SwapRecord) throws -> [String] {
        if let refusal = try run(.copyError, "cannot read the databases of \(instanceName)", { try undoSwapRefusal(record) }) {
            return [refusal]
        }
        if target.instance.terminateSessions != true {
            let busy = try run(.copyError, "cannot read the sessions on \(record.database) of \(instanceName)") { () throws -> [String] in
                var databases = [record.database]
                if let checkpoint = record.checkpoint { databases.append(checkpoint) }
                let deadline = Date().addingTimeInterval(Self.swapWait)
                while true {
                    var busy: [String] = []
                    for database in databases where try databaseExists(database) {
                        busy += try sessions(on: database).map { "\(database): \($0)" }
                    }
                    if busy.isEmpty || Date() >= deadline { return busy }
                    Thread.sleep(forTimeInterval: 0.2)
                }
            }
            if !busy.isEmpty { return busy }
        }
        return try run(.copyError, "cannot read what \(record.database) on \(instanceName) holds") { try sessionsKeepEntering(record).map { [$0] } ?? [] }
    }

    /// Why the swap back of `record` could not prove that nobody wrote into the target between
    /// its check and its rename (`renameUnwritten`'s "sessions kept entering"), tried the way it
    /// tries, changing nothing: up to three times, the target's token is read while nobody is
    /// on it, then the server's session count must have grown by the read's own sessions only
    /// (tester w5 X5: short sessions entering every 30 ms made `ferry rollback RUN` stop half-way
    /// with a pending run). Nil when one try passes, when the swap is not in place (the undo
    /// renames no database the run put there), or before PostgreSQL 15 (no check is made).
    /// Costs up to three full reads of the target.
    func sessionsKeepEntering(_ record: SwapRecord) throws -> String? {
        guard connection.serverVersionNumber >= 150000, !(try databaseExists(record.shadow)),
              let targetOid = try oid(of: record.database), Self.swappedInOid(record).map({ $0 == targetOid }) ?? true else { return nil }
        for _ in 0..<3 {
            if target.instance.terminateSessions == true {
                // As the swap back itself does before its read (`renameWhenFree`): a session
                // that stays (a pool's idle one) is ended, not taken for one that keeps entering.
                try connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = \(quoteLiteral(record.database)) AND pid <> pg_backend_pid()")
            }
            let deadline = Date().addingTimeInterval(min(Self.swapWait, 2))
            while Date() < deadline, !(try sessions(on: record.database).isEmpty) { Thread.sleep(forTimeInterval: 0.1) }
            _ = try contentToken(of: record.database)
            guard let read = lastTokenRead[record.database], let before = read.sessionsBefore else { return nil }
            lastTokenRead[record.database] = nil
            if !read.othersPresent, try sessions(on: record.database).isEmpty,
               try sessionsOpened(on: record.database)?.opened == before + Int64(read.own) {
                return nil
            }
        }
        return "sessions keep entering \(record.database) (three reads of what it holds each saw a session come in), so the swap back could not prove that none of them wrote between its check and its rename: stop what connects to it"
    }

    /// The swap of `record` never committed (its renames are one transaction, all or nothing):
    /// the shadow still has its name and is provably Ferry's (its marker comment, or owned by its
    /// import role), and no database has the checkpoint's name. Its undo then restores nothing,
    /// and recovery says so instead of "restored from its checkpoint" (fresh tester round 12,
    /// G4, seen on Redis: a kill after `swapBegun`). The core asks only for a swap not journaled
    /// as done and never undone before.
    public func swapMovedNothing(_ record: SwapRecord) throws -> Bool {
        try run(.copyError, "cannot read the databases of \(instanceName)") {
            guard try databaseExists(record.shadow),
                  try comment(of: record.shadow) == Self.shadowMarker(record.shadow) || isOwnedByImportRole(record.shadow) else { return false }
            return try record.checkpoint.map { !(try databaseExists($0)) } ?? true
        }
    }

    /// Undoes a swap that committed (its one transaction makes it all or nothing): the database
    /// now named as the target goes back to the shadow's name with its marker, the checkpoint
    /// back to the target's name. Nothing to do when the shadow still has its name.
    ///
    /// Only the database the swap put in place is renamed away: the swap's record knows it by
    /// its oid (`swappedInOid`, which a rename keeps), checked again inside the rename's
    /// transaction. When the target's name is free (the database the swap put there was dropped
    /// or renamed after it: that one is left where it is, whoever renamed it owns it now), the
    /// checkpoint is renamed back to it and found there, so that "restored" is true. Throws
    /// `WrongStatus`, changing nothing, when another database holds the target's name, and
    /// `CopyError` when the checkpoint is gone or not provably Ferry's (a fresh tester's F3).
    public func undoSwap(_ record: SwapRecord) throws {
        try run(.copyError, "cannot undo the swap of \(record.database) on \(instanceName)") {
            guard !(try databaseExists(record.shadow)) else { return }
            var statements: [String] = []
            let checkpointExists = try record.checkpoint.map { try databaseExists($0) } ?? false
            if record.targetExisted && !checkpointExists, let restored = Self.swappedInOid(record, key: "checkpoint"),
               try oid(of: record.database) == restored {
                return   // restored already, into the name the swapped-in database had left
            }
            if record.targetExisted && !checkpointExists {
                // The shadow's name is gone, so the swap happened; its checkpoint is gone too
                // (dropped by someone, pruned, or renamed): nothing can bring the old target
                // back, and saying "restored" would be false (fresh tester, round 4).
                let renamed = try record.checkpoint.flatMap { try renamedCheckpoint($0) }
                throw FerryError(.copyError, "the checkpoint \(record.checkpoint ?? "") of \(record.database) is gone\(renamed.map { " (renamed to \($0) after the swap; Ferry does not restore from a database it did not name)" } ?? ""); what \(record.database) held before cannot be restored",
                                 hint: "\(record.database) was left as it is" + (renamed.map { "; what it held before the run is in \($0): to restore it, rename it back to \(record.checkpoint ?? "") (it still carries Ferry's mark) and run `ferry recover`" } ?? ""), instance: instanceName)
            }
            guard let targetOid = try oid(of: record.database) else {
                // The target's name is free: what the swap put there was dropped or renamed.
                guard record.targetExisted, let checkpoint = record.checkpoint else { return }
                let comment = try checkpointComment(checkpoint, of: record)
                let checkpointOid = try oid(of: checkpoint)
                try renameWhenFree([checkpoint], [
                    "ALTER DATABASE \(quoteIdent(checkpoint)) RENAME TO \(quoteIdent(record.database))",
                    "COMMENT ON DATABASE \(quoteIdent(record.database)) IS \(comment.map(quoteLiteral) ?? "NULL")",
                ]) {
                    guard try self.oid(of: record.database) == checkpointOid else {
                        throw FerryError(.wrongStatus, "\(record.database) on \(self.instanceName) changed while Ferry restored it from \(checkpoint); nothing was renamed",
                                         hint: "run `ferry recover` again", instance: self.instanceName)
                    }
                }
                return
            }
            if let swappedIn = Self.swappedInOid(record), swappedIn != targetOid {
                throw FerryError(.wrongStatus, "\(record.database) on \(instanceName) is not the database the run swapped in (that one was dropped or renamed after the swap, and another database took the name); Ferry does not rename it away: both it and \(record.checkpoint.map { "the checkpoint \($0)" } ?? "the rest") were left as they are",
                                 hint: record.targetExisted ? "what \(record.database) held before the run is in \(record.checkpoint ?? "?"); compare, keep what you need, and drop the other yourself" : "it is yours: Ferry does not touch it",
                                 instance: instanceName)
            }
            statements.append("ALTER DATABASE \(quoteIdent(record.database)) RENAME TO \(quoteIdent(record.shadow))")
            statements.append("COMMENT ON DATABASE \(quoteIdent(record.shadow)) IS \(quoteLiteral(Self.shadowMarker(record.shadow)))")
            var databases = [record.database]
            if let checkpoint = record.checkpoint, checkpointExists {
                let comment = try checkpointComment(checkpoint, of: record)
                statements.append("ALTER DATABASE \(quoteIdent(checkpoint)) RENAME TO \(quoteIdent(record.database))")
                statements.append("COMMENT ON DATABASE \(quoteIdent(record.database)) IS \(comment.map(quoteLiteral) ?? "NULL")")
                databases.append(checkpoint)
            }
            try renameUnwritten(record.database, oid: targetOid, expected: record.expectedTargetToken, also: databases) { unwritten in
                try renameWhenFree(databases, statements) {
                    // Renamed in this transaction: still the database whose oid was read above
                    // (an application renaming it meanwhile would have been renamed away with it).
                    guard try self.oid(of: record.shadow) == targetOid else {
                        throw FerryError(.wrongStatus, "\(record.database) on \(self.instanceName) changed while Ferry swapped it back; nothing was renamed",
                                         hint: "run `ferry recover` again", instance: self.instanceName)
                    }
                    try unwritten()
                }
            }
        }
    }

    /// The name the database the swap put in place has now (found by its oid, which a rename
    /// keeps), when it is neither the target's nor the shadow's: an application renamed it after
    /// the swap, and the undo left it there.
    public func swappedInElsewhere(afterUndoOf record: SwapRecord) throws -> String? {
        try run(.copyError, "cannot look for the database swapped in as \(record.database) on \(instanceName)") {
            guard let oid = Self.swappedInOid(record),
                  let name = try connection.scalar("SELECT datname FROM pg_database WHERE oid = \(quoteLiteral(oid))::oid"),
                  name != record.database, name != record.shadow else { return nil }
            return name
        }
    }

    /// Why `undoSwap(record)` would refuse now, changing nothing (the checks it makes before
    /// any rename, read the same way): another database under the target's name than the one
    /// the swap put there (an application renamed it and made a new one, by `TEMPLATE` too:
    /// same content, another oid), or a checkpoint that is gone, renamed or not provably
    /// Ferry's. Nil when the undo can run (or has nothing to do).
    func undoSwapRefusal(_ record: SwapRecord) throws -> String? {
        guard !(try databaseExists(record.shadow)) else { return nil }
        let checkpointExists = try record.checkpoint.map { try databaseExists($0) } ?? false
        let targetOid = try oid(of: record.database)
        if record.targetExisted && !checkpointExists {
            if let restored = Self.swappedInOid(record, key: "checkpoint"), targetOid == restored { return nil }
            let renamed = try record.checkpoint.flatMap { try renamedCheckpoint($0) }
            return "the checkpoint \(record.checkpoint ?? "") of \(record.database) is gone\(renamed.map { " (renamed to \($0) after the swap; rename it back to \(record.checkpoint ?? "") to roll back)" } ?? ""), so what \(record.database) held before the run cannot be restored"
        }
        if let targetOid, let swappedIn = Self.swappedInOid(record), swappedIn != targetOid {
            return "\(record.database) is not the database the run swapped in (that one was dropped or renamed after the swap, and another database took the name); Ferry does not rename it away" + (record.checkpoint.map { ". What \(record.database) held before the run stays in the checkpoint \($0); to roll back, rename or drop the database now named \(record.database) yourself (never the checkpoint), then run `ferry rollback` again" } ?? "")
        }
        if record.targetExisted, let checkpoint = record.checkpoint, checkpointExists {
            do { _ = try checkpointComment(checkpoint, of: record) } catch let error as FerryError {
                return error.diagnostics.first?.message ?? "\(error)"
            }
        }
        return nil
    }

    /// Thrown by `renameUnwritten`'s check when a session entered the database after the check.
    struct EnteredSinceCheck: Error {}

    /// Runs `rename` (a `renameWhenFree` of `database`, whose oid is `oid`, that calls the check
    /// it is given inside its transaction) so that no write into `database` lands between the
    /// check that found its token `expected` and the rename (SPEC, PostgreSQL's "Writes during
    /// a run"): the rename holds the database (no session on it, none can enter), and the check
    /// proves from the server's session count that no session but the token read's own entered
    /// it since that read began (`TokenRead`). When sessions were on it as the read began (or
    /// another session read it), waits for them to end as a swap does (`renameWhenFree` with
    /// `also`), reads the token again, and throws `WrongStatus` when it is not `expected`
    /// (written). A session that entered between read and rename rolls the rename back and
    /// starts over; after three such tries, `WrongStatus` (nothing renamed). Nil `expected`, or
    /// PostgreSQL before 15 (no exact session count): `rename` with no check.
    func renameUnwritten(_ database: String, oid: String, expected: String?, also databases: [String],
                         _ rename: (_ check: @escaping () throws -> Void) throws -> Void) throws {
        // A token of another scheme (an earlier release's journal) tells nothing, as in the core.
        guard let expected, expected.hasPrefix(PostgresContentToken.scheme), connection.serverVersionNumber >= 150000 else { try rename({}); return }
        for _ in 0..<3 {
            var read = lastTokenRead[database]
            if read?.token != expected || read?.othersPresent != false || read?.sessionsBefore == nil {
                // Wait (or end them, `terminateSessions`) until nobody is on it, then read again.
                try renameWhenFree(databases, ["SELECT 1"])
                let now = try contentToken(of: database)
                guard now == expected else {
                    throw FerryError(.wrongStatus, "\(database) on \(instanceName) was written after Ferry checked it (a session that was on it then); Ferry did not rename it",
                                     hint: "`ferry recover` checks it again and leaves it as it is", instance: instanceName)
                }
                read = lastTokenRead[database]
                guard read?.othersPresent == false else { continue }
            }
            guard let read, let before = read.sessionsBefore else { continue }
            do {
                try rename {
                    _ = try self.connection.query("SELECT pg_stat_clear_snapshot()")
                    let now = try self.connection.scalar("SELECT sessions::text FROM pg_stat_database WHERE datid = \(oid)").flatMap { Int64($0) }
                    guard now == before + Int64(read.own) else { throw EnteredSinceCheck() }
                }
                return
            } catch is EnteredSinceCheck {
                lastTokenRead[database] = nil
            }
        }
        throw FerryError(.wrongStatus, "sessions kept entering \(database) on \(instanceName) between Ferry's check of what it holds and its rename; Ferry cannot tell whether they wrote, so it renamed nothing",
                         hint: "stop what connects to \(database), then run `ferry recover`", instance: instanceName)
    }

    /// The comment `checkpoint` had as the target (`.some(nil)`: none), from its mark; throws
    /// `CopyError` when it does not carry the mark of `record`'s checkpoint (dropped and made
    /// again by someone: not provably what the target held). A swap journaled by a release
    /// before the mark made none: its record has neither the mark's detail nor a content token
    /// (this release's always has one), and its checkpoint is known by its name, as that
    /// release knew it.
    func checkpointComment(_ checkpoint: String, of record: SwapRecord) throws -> String? {
        let marked = try comment(of: checkpoint)
        let kept = marked.flatMap { Self.commentKept(byCheckpoint: checkpoint, marker: $0) }
        let unmarkedRelease = !(record.detail?.hasPrefix(Self.checkpointMarkDetail) ?? false) && record.afterSwapToken == nil
        guard let comment = kept ?? (unmarkedRelease ? .some(marked) : nil) else {
            // Dropped and made again by someone, or an older release's checkpoint: what
            // it holds is not provably what the target held (a fresh tester's F4).
            throw FerryError(.copyError, "the database \(checkpoint) does not carry Ferry's checkpoint mark, so it is not provably what \(record.database) held before the run; both were left as they are",
                             hint: "compare them yourself; Ferry does not restore or drop a database it cannot prove it kept",
                             instance: instanceName)
        }
        return comment
    }

    /// The oid of `database`, nil when there is none of that name.
    func oid(of database: String) throws -> String? {
        try connection.scalar("SELECT oid::text FROM pg_database WHERE datname = \(quoteLiteral(database))")
    }

    /// The oid of the database `record`'s swap put in place (`oid=` in its detail, set by
    /// `swap`); nil for a record journaled before the swap returned or by an earlier release.
    /// `key` "checkpoint": the oid of the database the swap made the checkpoint.
    static func swappedInOid(_ record: SwapRecord, key: String = "oid") -> String? {
        guard let detail = record.detail, let range = detail.range(of: " \(key)=") else { return nil }
        let oid = detail[range.upperBound...].prefix { $0.isNumber }
        return oid.isEmpty ? nil : String(oid)
    }

    /// The name a database carrying `checkpoint`'s mark has now, when someone renamed it.
    func renamedCheckpoint(_ checkpoint: String) throws -> String? {
        for row in try connection.query("SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database WHERE datname <> \(quoteLiteral(checkpoint)) ORDER BY 1") {
            if let name = row[0], let comment = row[1], Self.commentKept(byCheckpoint: checkpoint, marker: comment) != nil { return name }
        }
        return nil
    }
}

/// Moves a non-Sendable value to one other thread that alone uses it until joined.
struct PostgresBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
