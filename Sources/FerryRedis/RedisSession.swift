import FerryCore
import FerryIO
import Foundation

/// One session on a Redis server. Shadows are empty numbered databases reserved with a marker
/// hash (`__ferry:shadow`); the swap is `SWAPDB` inside one Lua script, after which the shadow's
/// number holds the old data with a `__ferry:checkpoint` marker, so `undoSwap` can tell from the
/// server alone whether the swap happened.
final class RedisSession: EngineSession {
    let target: ConnectionTarget
    let endpoint: RedisEndpoint
    let connection: RedisConnection
    private var selected = 0
    /// Shadows this session made, by target database, for `checkpointName`.
    private var shadows: [String: String] = [:]

    static let shadowMarker = "__ferry:shadow"
    static let checkpointMarker = "__ferry:checkpoint"
    static let markers: Set<[UInt8]> = [Array(shadowMarker.utf8), Array(checkpointMarker.utf8)]

    init(target: ConnectionTarget) throws {
        guard let url = target.instance.url else {
            throw FerryError(.invalidParameter, "a Redis instance needs a url: redis://[user@]host:port")
        }
        self.target = target
        endpoint = try RedisEndpoint(url: url, password: target.password)
        connection = try endpoint.open()
    }

    func close() { connection.close() }

    // MARK: Helpers

    func number(of database: String) throws -> Int {
        guard let n = Int(database), n >= 0, String(n) == database else {
            throw FerryError(.invalidParameter, "Redis databases are numbered; \"\(database)\" is not a number")
        }
        return n
    }

    func select(_ db: Int) throws {
        guard db != selected else { return }
        try run("SELECT", String(db))
        selected = db
    }

    /// Runs one command; an error reply becomes a `CopyError` naming the server.
    @discardableResult
    func run(_ args: String...) throws -> RESPValue {
        do {
            return try connection.command(args.map { Array($0.utf8) })
        } catch let error as RedisReplyError {
            throw FerryError(.copyError, "Redis at \(endpoint.host):\(endpoint.port) refused \(args.first ?? ""): \(error.message)")
        }
    }

    func info(_ section: String) throws -> [String: String] {
        let text = try run("INFO", section).string ?? ""
        var fields: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            if let colon = line.firstIndex(of: ":") {
                fields[String(line[..<colon])] = String(line[line.index(after: colon)...])
            }
        }
        return fields
    }

    func databaseCount() -> Int {
        if let reply = try? run("CONFIG", "GET", "databases"), let n = reply.elements.last?.integer, n > 0 {
            return Int(n)
        }
        return 16
    }

    /// Key count of a database, not counting Ferry's markers.
    func userKeyCount(_ db: Int) throws -> Int64 {
        try select(db)
        let size = try run("DBSIZE").integer ?? 0
        let markers = try run("EXISTS", Self.shadowMarker, Self.checkpointMarker).integer ?? 0
        return size - markers
    }

    // MARK: Refresh

    func databaseExists(_ database: String) throws -> Bool {
        try userKeyCount(try number(of: database)) > 0
    }

    /// Fingerprints come from INFO, so every database gets one.
    func describe(fingerprinting _: Set<String>?) throws -> InstanceFacts {
        let server = try info("server")
        let keyspace = try info("keyspace")
        let memory = try info("memory")
        let persistence = try info("persistence")
        let usedMemory = Int64(memory["used_memory"] ?? "") ?? 0
        var perDB: [(Int, Int64, Int64)] = []
        for (name, value) in keyspace where name.hasPrefix("db") {
            guard let n = Int(name.dropFirst(2)) else { continue }
            var keys: Int64 = 0, expires: Int64 = 0
            for part in value.split(separator: ",") {
                let pair = part.split(separator: "=")
                guard pair.count == 2 else { continue }
                if pair[0] == "keys" { keys = Int64(pair[1]) ?? 0 }
                if pair[0] == "expires" { expires = Int64(pair[1]) ?? 0 }
            }
            perDB.append((n, keys, expires))
        }
        let totalKeys = max(1, perDB.reduce(0) { $0 + $1.1 })
        // What Redis tells cheaply: the key counts, and the server's write counter since the last
        // save with the save time and run id. Any write anywhere changes it; a few changes could in
        // principle leave all of them equal, so the fingerprint is marked inexact.
        let serverState = [server["run_id"], persistence["rdb_changes_since_last_save"],
                           persistence["rdb_last_save_time"]].map { $0 ?? "" }.joined(separator: "/")
        var databases: [String: DatabaseFacts] = [:]
        for (n, keys, expires) in perDB {
            // Ferry's own shadows and checkpoints are not user databases.
            let isFerryOwned = (try? select(n)).map { _ in
                ((try? run("EXISTS", Self.shadowMarker, Self.checkpointMarker).integer) ?? 0) > 0
            } ?? false
            if isFerryOwned { continue }
            let fingerprint = Digest.sha256(Array("keys=\(keys);expires=\(expires);server=\(serverState)".utf8))
            databases[String(n)] = DatabaseFacts(
                name: String(n), sizeBytes: usedMemory * keys / totalKeys, fingerprint: fingerprint,
                isFingerprintExact: false, detail: "\(keys) keys, \(expires) with a TTL")
        }
        return InstanceFacts(instance: target.instance.name, engine: .redis, version: server["redis_version"],
                             databases: databases, claims: try otherClaims())
    }

    // MARK: Claims

    /// Claims are the names of connections Ferry keeps open for the run (`CLIENT SETNAME`): they
    /// show in `CLIENT LIST`, vanish when the ferry process dies, and touch no data.
    func claim(_ claims: [DatabaseClaim]) throws {
        let others = try otherClaims()
        for claim in claims {
            if let held = others.first(where: { $0.database == claim.database && $0.runID != claim.runID }) {
                throw FerryError(.wrongStatus, "Redis database \(claim.database) on \(target.instance.name) is \(held.role.rawValue) by \(held.holderSummary)",
                                 hint: "wait for that run, or recover it with `ferry recover`; if it is gone for good, `ferry unlock --claims \(target.instance.name) \(held.runID)`")
            }
        }
        try RedisClaimRegistry.shared.add(claims, endpoint: endpoint)
    }

    /// Releases the run's claims held by this process and closes any other connection that holds
    /// claims of the run (`CLIENT KILL ID`): after `ferry unlock --claims`, a run's claims are gone
    /// wherever it holds them.
    func release(runID: String) throws {
        RedisClaimRegistry.shared.release(runID: runID, endpoint: endpoint)
        for (id, claims) in try claimConnections() where claims.contains(where: { $0.runID == runID }) {
            _ = try? run("CLIENT", "KILL", "ID", id)
        }
    }

    /// Every claim visible on the server (including this process's).
    func otherClaims() throws -> [DatabaseClaim] {
        try claimConnections().flatMap(\.claims)
    }

    /// The connections that hold claims: client id and the claims its name carries.
    func claimConnections() throws -> [(id: String, claims: [DatabaseClaim])] {
        let list = try run("CLIENT", "LIST").string ?? ""
        var result: [(id: String, claims: [DatabaseClaim])] = []
        for line in list.split(whereSeparator: \.isNewline) {
            guard let range = line.range(of: " name=ferryclaim:") else { continue }
            let rest = line[range.upperBound...].prefix { $0 != " " }
            let id = line.hasPrefix("id=") ? String(line.dropFirst(3).prefix { $0 != " " }) : ""
            result.append((id, RedisClaimRegistry.decode(String(rest))))
        }
        return result
    }

    // MARK: Building

    func makeShadow(for database: String, runID: String) throws -> String {
        let targetDB = try number(of: database)
        let claimed = Set(try otherClaims().compactMap { Int($0.database) })
        let script = """
            if redis.call('DBSIZE') == 0 then
              redis.call('HSET', KEYS[1], 'target', ARGV[1], 'run', ARGV[2])
              return 1
            end
            return 0
            """
        for n in stride(from: databaseCount() - 1, through: 0, by: -1) where n != targetDB && !claimed.contains(n) {
            try select(n)
            if try run("EVAL", script, "1", Self.shadowMarker, database, runID).integer == 1 {
                shadows[database] = String(n)
                return String(n)
            }
        }
        throw FerryError(.storageLimitExceeded, "no empty numbered database is left on \(target.instance.name) for Ferry's shadow of database \(database)",
                         hint: "Ferry builds Redis targets in an empty database beside them; empty one, or raise `databases` in redis.conf")
    }

    func cloneDatabase(_ database: String, into shadow: String, progress: ProgressCounter) throws {
        let db = try number(of: database)
        try select(try number(of: shadow))
        var scanSource: RedisConnection?
        defer { scanSource?.close() }
        _ = try copyKeys(from: endpoint, database: db, digest: nil, progress: progress, errorCode: .copyError) {
            let source = try endpoint.open()
            scanSource = source
            try source.command("SELECT", String(db))
            return source
        }
    }

    func copyData(from source: any EngineSession, database: String, into shadow: String,
                  verifying: VerifyLevel, progress: ProgressCounter) throws -> TransferStats {
        guard let source = source as? RedisSession else {
            throw FerryError(.invalidParameter, "a Redis copy needs a Redis source")
        }
        let sourceDB = try source.number(of: database)
        try select(try number(of: shadow))
        let digest = PayloadDigest()
        let stats = try copyKeys(from: source.endpoint, database: sourceDB, digest: digest, progress: progress,
                                 errorCode: .copyError) {
            try source.select(sourceDB)
            return source.connection
        }
        // What was sent, kept with the shadow for the verify step (another session).
        try select(try number(of: shadow))
        try run("HSET", Self.shadowMarker, "keys", String(digest.count), "digest", String(digest.sum, radix: 16),
                "from", Self.sourceTag(source.endpoint, sourceDB))
        return stats
    }

    static func sourceTag(_ endpoint: RedisEndpoint, _ db: Int) -> String { "\(endpoint.host):\(endpoint.port)/\(db)" }

    /// Copies database `database` of the server behind `endpoint` into this connection's selected
    /// database: from a snapshot of the server when it grants one (consistent, and cheapest for
    /// the source), else by SCAN + DUMP on the connection `scanSource` gives.
    private func copyKeys(from endpoint: RedisEndpoint, database: Int, digest: PayloadDigest?, progress: ProgressCounter,
                          errorCode: ErrorCode, scanSource: () throws -> RedisConnection) throws -> TransferStats {
        let name = "Redis at \(endpoint.host):\(endpoint.port) database \(database)"
        do {
            if let stats = try RedisSnapshotReader.withSnapshot(of: endpoint, database: database, { reader in
                try RDBImporter(reader: reader, name: name, connection: connection, database: database,
                                skipping: Self.markers, digest: digest, errorCode: errorCode).run(progress: progress)
            }) {
                return stats
            }
        } catch let error as FerryError where error.code == .importError && errorCode != .importError {
            throw FerryError(errorCode, "the snapshot of \(name) broke off: \(error.diagnostics.first?.message ?? "")")
        }
        return try RedisKeyCopier.copy(from: try scanSource(), to: connection, progress: progress, errorCode: errorCode, digest: digest)
    }

    func importData(into shadow: String, from sources: [ImportSource], format: ImportFormat,
                    progress: ProgressCounter) throws -> TransferStats {
        guard format == .rdb else {
            throw FerryError(.invalidParameter, "Redis imports only RDB files, not \(format.rawValue)")
        }
        let shadowDB = try number(of: shadow)
        var total = TransferStats()
        for source in sources {
            try select(shadowDB)
            let stats: TransferStats
            if case .url(let url) = source, url.hasPrefix("redis://") || url.hasPrefix("rediss://") {
                stats = try importFromServer(url: url, progress: progress)
            } else {
                let reader = try SourceOpener.open(source)
                defer { reader.close() }
                stats = try RDBImporter(reader: reader, name: source.description, connection: connection)
                    .run(progress: progress)
            }
            total.bytes += stats.bytes
            total.rows += stats.rows
        }
        return total
    }

    /// A `redis://host:port/db` source: a copy of that database. The password, if any, is this
    /// instance's own (URLs in plans carry no secrets).
    private func importFromServer(url: String, progress: ProgressCounter) throws -> TransferStats {
        var from = try RedisEndpoint(url: url, password: nil)
        let source: RedisConnection
        do {
            source = try from.open()
        } catch let error as FerryError where error.code == .wrongPassword
                    && (from.host == endpoint.host && from.port == endpoint.port || from.user != nil) {
            // This instance's password goes only to this same server or to a named user.
            from.password = endpoint.password
            source = try from.open()
        }
        defer { source.close() }
        let db = from.database ?? 0
        do {
            try source.command("SELECT", String(db))
        } catch {
            throw FerryError(.importError, "cannot select database \(db) of \(Redaction.redactURL(url)): \(error)")
        }
        return try copyKeys(from: from, database: db, digest: nil, progress: progress, errorCode: .importError) { source }
    }

    func verify(shadow: String, against source: (any EngineSession)?, database: String?,
                level: VerifyLevel) throws -> VerifyReport {
        let shadowDB = try number(of: shadow)
        guard level != .none else { return VerifyReport(tables: []) }
        if level == .count || source == nil {
            let count = try userKeyCount(shadowDB)
            if let source = source as? RedisSession, let database {
                let expected = try source.userKeyCount(try source.number(of: database))
                if expected != count {
                    throw FerryError(.verifyFailed, "Redis database \(shadow) holds \(count) keys, its source \(database) \(expected)")
                }
            }
            return VerifyReport(tables: [.init(name: "keys", rows: count, checksum: nil)])
        }
        guard let source = source as? RedisSession, let database else {
            throw FerryError(.invalidParameter, "a Redis copy can be verified only against a Redis source")
        }
        // The digest the copy computed of what it sent: one pass over the shadow settles it.
        try select(shadowDB)
        let kept = try run("HMGET", Self.shadowMarker, "keys", "digest", "from").elements.map(\.string)
        if kept.count == 3, let keys = kept[0].flatMap({ Int64($0) }), let sum = kept[1].flatMap({ UInt64($0, radix: 16) }),
           kept[2] == Self.sourceTag(source.endpoint, try source.number(of: database)) {
            let found = try PayloadDigest.of(connection)
            if found.count == keys && found.sum == sum {
                return VerifyReport(tables: [.init(name: "keys", rows: keys, checksum: String(sum, radix: 16))])
            }
            // Different bytes can still be equal contents (another encoding on this server, a key
            // that expired since): the content digests of both sides decide.
        }
        let mine: RedisKeyDigest.Result
        let theirs: RedisKeyDigest.Result
        if source.connection === connection {
            // One connection for both sides (the same session): one side after the other.
            try select(shadowDB)
            mine = try RedisKeyDigest.digest(connection)
            try source.select(try source.number(of: database))
            theirs = try RedisKeyDigest.digest(source.connection)
        } else {
            // Both sides at once, each on its own connection: verification takes the time of the
            // slower side, not the sum.
            try select(shadowDB)
            try source.select(try source.number(of: database))
            let sourceDigest = DigestWorker(source.connection)
            mine = try RedisKeyDigest.digest(connection)
            theirs = try sourceDigest.result()
        }
        if mine.count != theirs.count {
            throw FerryError(.verifyFailed, "Redis database \(shadow) holds \(mine.count) keys, its source \(database) \(theirs.count)")
        }
        if mine.sum != theirs.sum {
            throw FerryError(.verifyFailed, "the contents of Redis database \(shadow) differ from its source \(database) (same key count, \(mine.count), different digests)")
        }
        return VerifyReport(tables: [.init(name: "keys", rows: mine.count, checksum: String(mine.sum, radix: 16))])
    }

    // MARK: Swapping

    func checkpointName(for database: String, runID: String) -> String {
        if let shadow = shadows[database] { return shadow }
        for n in 0..<databaseCount() {
            guard (try? select(n)) != nil else { continue }
            if let values = try? run("HMGET", Self.shadowMarker, "target", "run").elements,
               values.count == 2, values[0].string == database, values[1].string == runID {
                return String(n)
            }
        }
        return ""
    }

    /// Swaps the target's number with the one whose marker (`from`) names it as the target and
    /// moves the marker's run to the other marker (`to`), in one script: 1 when it swapped, 2 when
    /// `to` already names the target (done before), 0 when neither marker does.
    private static let markerSwapScript = """
        if redis.call('HGET', KEYS[1], 'target') == ARGV[1] then
          local run = redis.call('HGET', KEYS[1], 'run')
          redis.call('DEL', KEYS[1])
          redis.call('SWAPDB', ARGV[1], ARGV[2])
          redis.call('HSET', KEYS[2], 'target', ARGV[1], 'run', run)
          return 1
        end
        if redis.call('HGET', KEYS[2], 'target') == ARGV[1] then return 2 end
        return 0
        """

    private func swapMarked(_ record: SwapRecord, from: String, to: String) throws -> (Int, Int, Int64?) {
        let targetDB = try number(of: record.database)
        let shadowDB = try number(of: record.shadow)
        try select(shadowDB)
        let result = try run("EVAL", Self.markerSwapScript, "2", from, to, String(targetDB), String(shadowDB)).integer
        return (targetDB, shadowDB, result)
    }

    func swap(_ record: SwapRecord) throws -> SwapRecord {
        let (targetDB, shadowDB, result) = try swapMarked(record, from: Self.shadowMarker, to: Self.checkpointMarker)
        guard result == 1 || result == 2 else {
            throw FerryError(.copyError, "Redis database \(record.shadow) is not Ferry's shadow of database \(record.database); nothing was swapped")
        }
        var swapped = record
        swapped.checkpoint = record.shadow
        swapped.detail = "SWAPDB \(targetDB) \(shadowDB); database \(shadowDB) holds the old data and the hash \(Self.checkpointMarker)"
        return swapped
    }

    /// Swaps back when the checkpoint marker shows the swap happened; otherwise nothing to undo.
    func undoSwap(_ record: SwapRecord) throws {
        _ = try swapMarked(record, from: Self.checkpointMarker, to: Self.shadowMarker)
    }

    func drop(_ database: String) throws {
        try select(try number(of: database))
        try run("FLUSHDB")
    }

    // MARK: Backups

    var backupFileExtension: String { "rdb" }

    func writeBackup(of database: String, to file: URL, progress: ProgressCounter) throws -> TransferStats {
        try RDBBackupWriter.write(from: endpoint, database: try number(of: database), to: file, progress: progress)
    }

    func restoreBackup(from file: URL, into shadow: String, progress: ProgressCounter) throws -> TransferStats {
        try importData(into: shadow, from: [.file(file.path)], format: .rdb, progress: progress)
    }

    // MARK: Users

    /// ACL users are server-wide in Redis and their key patterns do not follow numbered
    /// databases, so Ferry does not copy them: nothing to undo.
    func syncUsers(from source: any EngineSession, mappings: [DatabaseMapping]) throws -> String { "" }

    func undoUserSync(_ undo: String) throws {}
}

/// Computes a key digest on another thread.
private final class DigestWorker: @unchecked Sendable {
    // Safe: the connection is used only by the worker thread until `result()` returns, and the
    // outcome is written before the semaphore is signalled and read after it is waited on.
    private let connection: RedisConnection
    private var outcome: Swift.Result<RedisKeyDigest.Result, any Error>?
    private let done = DispatchSemaphore(value: 0)

    init(_ connection: RedisConnection) {
        self.connection = connection
        let thread = Thread { [self] in
            outcome = Swift.Result { try RedisKeyDigest.digest(self.connection) }
            done.signal()
        }
        thread.start()
    }

    func result() throws -> RedisKeyDigest.Result {
        done.wait()
        return try outcome!.get()
    }
}
