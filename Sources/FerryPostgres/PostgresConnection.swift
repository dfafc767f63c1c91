import CLibPQ
import FerryCore
import Foundation

/// Where to connect, read from an instance's `postgres://user@host:port[/maintenance_db]?sslmode=`
/// URL; the password comes from the instance's reference (or, for tests, the URL).
struct PostgresAddress: Sendable {
    var host: String
    var port: Int
    var user: String
    var password: String?
    /// The database Ferry connects to for cluster-wide work (default `postgres`).
    var maintenanceDatabase: String
    /// libpq's `sslmode` (`disable`, `require`, `verify-full`, ...); nil: libpq's default (`prefer`).
    var sslMode: String?
    /// Where the session's client programs and archives put their files for a moment
    /// (`ConnectionTarget.scratchDirectory`, `ScratchFiles`); nil: the system's temporary directory.
    var scratch: String? = nil

    static let sslModes: Set<String> = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

    init(target: ConnectionTarget) throws {
        let name = target.instance.name
        if let url = target.instance.url, Redaction.hasAmbiguousUserInfo(url) {
            throw FerryError(.invalidParameter, "the url of instance \(name) \(Redaction.ambiguousUserInfoProblem)",
                             hint: Redaction.ambiguousUserInfoHint, instance: name)
        }
        guard let url = target.instance.url, let parts = URLComponents(string: url),
              parts.scheme == "postgres" || parts.scheme == "postgresql" else {
            throw FerryError(.invalidParameter, "instance \(name) needs a url of the form postgres://user@host:port[/database]",
                             instance: name)
        }
        scratch = target.scratchDirectory
        host = parts.host.flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"
        port = parts.port ?? 5432
        // Decoded once (RFC 3986, as MySQL and Redis urls are): `URLComponents.user`/`.password`
        // are decoded already, so the encoded forms are decoded here (`a%25b` is `a%b`).
        user = parts.percentEncodedUser?.removingPercentEncoding ?? "postgres"
        password = target.password ?? parts.percentEncodedPassword?.removingPercentEncoding
        let path = (parts.percentEncodedPath.removingPercentEncoding ?? parts.path).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        maintenanceDatabase = path.isEmpty ? "postgres" : path
        sslMode = nil
        if parts.fragment != nil {
            throw FerryError(.invalidParameter, "instance \(name): the url has a fragment (`#...`, not shown), which would be ignored",
                             hint: "write postgres://user@host:port[/database]; a `#` in a password is written %23", instance: name)
        }
        for item in parts.queryItems ?? [] {
            guard item.name == "sslmode", let value = item.value else {
                throw FerryError(.invalidParameter, "instance \(name): unknown url parameter \(Redaction.parameterLabel(item))",
                                 hint: "a postgres url takes ?sslmode=disable|require|verify-full", instance: name)
            }
            guard Self.sslModes.contains(value) else {
                throw FerryError(.invalidParameter, "instance \(name): sslmode \(value) is not one of \(Self.sslModes.sorted().joined(separator: ", "))",
                                 instance: name)
            }
            sslMode = value
        }
    }
}

/// Text from libpq or a client program made fit for one line of Ferry's output: line breaks and
/// tabs (libpq's `DETAIL:` / `HINT:` lines, its indented second lines) become single spaces,
/// runs of spaces one, and every occurrence of `secret` (the instance's password, raw and
/// percent-encoded) becomes `***`, whatever echoed it (a database or user name, a conninfo).
enum PostgresText {
    static func oneLine(_ text: String, hiding secret: String?) -> String {
        var out = text
        if let secret, !secret.isEmpty {
            out = out.replacingOccurrences(of: secret, with: "***")
            if let encoded = secret.addingPercentEncoding(withAllowedCharacters: .alphanumerics), encoded != secret {
                out = out.replacingOccurrences(of: encoded, with: "***")
            }
        }
        var result = ""
        var lastSpace = false
        for scalar in out.unicodeScalars {
            let isSpace = scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r"
            if isSpace { if !lastSpace && !result.isEmpty { result.append(" ") } }
            else { result.unicodeScalars.append(scalar) }
            lastSpace = isSpace
        }
        return result.trimmingCharacters(in: .whitespaces)
    }
}

/// A server error: SQLSTATE, message, and the statement (never holding a secret).
struct PostgresServerError: Error, CustomStringConvertible {
    var sqlState: String
    var message: String
    var statement: String

    var description: String { "\(message) (SQLSTATE \(sqlState))" }

    /// The SPEC error code for this SQLSTATE, or `fallback` for errors that are the step's own.
    /// Classes: 28 authorization (`WrongPassword`), 53 insufficient resources (`DiskFull`),
    /// 08 connection exception and 57P01-03 shutdown (`InstanceNotFound`), 42P04 duplicate
    /// database (`NameConflict`), 55006 object in use (`WrongStatus`), 25006 read-only transaction
    /// (`ReadOnly`), 42501 insufficient privilege (`WrongStatus` where the step's own code would
    /// be `Internal`); the codes follow PostgreSQL's Appendix A.
    func code(fallback: ErrorCode) -> ErrorCode {
        switch sqlState {
        case "28P01", "28000": .wrongPassword
        case "53100", "53000", "53400": .diskFull
        case "57P01", "57P02", "57P03": .instanceNotFound
        case "42P04": .nameConflict
        case "55006": .wrongStatus
        case "25006": .readOnly
        // A refusal by the user's rights is never Ferry's own fault (`Internal`); where a step
        // has its own code (an import's statement, a copy's read), that code stands.
        case "42501" where fallback == .internalError: .wrongStatus
        default: sqlState.hasPrefix("08") ? .instanceNotFound : fallback
        }
    }

    func ferry(_ fallback: ErrorCode, _ context: String, instance: String) -> FerryError {
        FerryError(code(fallback: fallback), "\(context): \(message) (SQLSTATE \(sqlState))", instance: instance,
                   detail: Self.statementDetail(statement))
    }

    /// The start of the failing statement for the error's detail, one line; none for a statement
    /// that sets a password (its verifier is a secret too).
    static func statementDetail(_ statement: String) -> String? {
        let upper = statement.uppercased()
        if upper.contains("PASSWORD") || upper.contains("SCRAM-SHA-256$") || upper.contains("'MD5") { return nil }
        return PostgresText.oneLine(String(statement.prefix(300)), hiding: nil)
    }
}

/// One libpq connection. Owns its `PGconn*`; not thread-safe (one per worker). Every connection
/// turns off `statement_timeout`, `lock_timeout` and `idle_in_transaction_session_timeout` for
/// itself (a long copy dies on them otherwise) and reads and writes text in UTC, ISO dates and
/// shortest-exact floats, so that the text of a row is the same on every connection.
final class PostgresConnection {
    private let handle: OpaquePointer
    private var isClosed = false
    let instanceName: String
    let database: String
    /// The password, only to take it out of the messages libpq and the server return.
    private let secret: String?

    /// Connects and authenticates to `database`. Maps refused credentials to `WrongPassword`,
    /// unreachable servers to `InstanceNotFound`. The corresponding C function is `PQconnectdbParams`.
    /// `pinnedSearchPath` (every connection of Ferry's own but an import's session): the session's
    /// `search_path` is `pg_catalog, pg_temp`, so that no function, operator or type a user (or an
    /// imported file) put into `public` can stand in for a built-in one in Ferry's queries, which
    /// run with Ferry's rights (the hardening of CVE-2018-1058 / pg_dump's own sessions); and
    /// `role=none`, `default_transaction_read_only=off`, so that a database's `ALTER DATABASE ...
    /// SET role` or read-only default (a source's, carried to its copy) does not turn Ferry's
    /// session into another role or make it fail; `row_security=off`, so that a row-level
    /// policy that would hide rows from Ferry's reads is an error, never a short count (fresh
    /// testers' findings). Every session has `standard_conforming_strings=on`.
    init(_ address: PostgresAddress, database: String, instanceName: String, pinnedSearchPath: Bool = true) throws {
        self.instanceName = instanceName
        self.database = database
        secret = address.password
        var pairs: [(String, String)] = [
            ("host", address.host), ("port", String(address.port)), ("user", address.user), ("dbname", database),
            ("connect_timeout", "10"), ("application_name", "ferry"), ("client_encoding", "UTF8"),
            ("options", "-c statement_timeout=0 -c lock_timeout=0 -c idle_in_transaction_session_timeout=0 -c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex -c standard_conforming_strings=on" + (pinnedSearchPath ? " -c search_path=pg_catalog,pg_temp -c role=none -c default_transaction_read_only=off -c row_security=off" : "")),
        ]
        if let password = address.password { pairs.append(("password", password)) }
        if let mode = address.sslMode { pairs.append(("sslmode", mode)) }
        let keys = pairs.map { strdup($0.0) }
        let values = pairs.map { strdup($0.1) }
        defer { keys.forEach { free($0) }; values.forEach { free($0) } }
        var keyPointers: [UnsafePointer<CChar>?] = keys.map { UnsafePointer($0) } + [nil]
        var valuePointers: [UnsafePointer<CChar>?] = values.map { UnsafePointer($0) } + [nil]
        guard let handle = PQconnectdbParams(&keyPointers, &valuePointers, 0) else {
            throw FerryError(.internalError, "libpq could not allocate a connection", instance: instanceName)
        }
        self.handle = handle
        ferry_pq_silence_notices(handle)
        if PQstatus(handle) != CONNECTION_OK {
            let message = PostgresText.oneLine(String(cString: PQerrorMessage(handle)), hiding: address.password)
            PQfinish(handle)
            isClosed = true
            let lower = message.lowercased()
            let hide = { (text: String) in PostgresText.oneLine(text, hiding: address.password) }
            if lower.contains("password authentication failed") || lower.contains("no password supplied")
                || lower.contains("authentication failed") {
                throw FerryError(.wrongPassword, hide("\(instanceName) refused the credentials of user \(address.user) (\(message))"),
                                 hint: "check the user in the URL and the password reference", instance: instanceName)
            }
            if lower.contains("cannot connect to invalid database") {
                // PostgreSQL 15.4 and later: a DROP DATABASE interrupted part-way leaves it so.
                throw FerryError(.wrongStatus, hide("database \(database) on \(instanceName) is invalid: a DROP DATABASE of it was interrupted, and nobody can connect to it (\(message))"),
                                 hint: "only DROP DATABASE ends it; Ferry drops it only where it is a shadow or checkpoint of its own", instance: instanceName)
            }
            if lower.contains("database") && lower.contains("does not exist") {
                throw FerryError(.instanceNotFound, hide("\(instanceName) has no database \(Redaction.redactPathParameters(Substring(database))) (\(Redaction.redactPathParameters(Substring(message))))"),
                                 hint: "the url's path names the database Ferry connects to (default postgres)", instance: instanceName)
            }
            if Self.isTLSFailure(lower) {
                throw FerryError(.instanceNotFound, hide("\(instanceName) at \(address.host):\(address.port): no TLS session as sslmode \(address.sslMode ?? ProcessInfo.processInfo.environment["PGSSLMODE"] ?? "prefer") asks (\(message))"),
                                 hint: Self.tlsHint, instance: instanceName)
            }
            if lower.contains("pg_hba.conf rejects") {
                throw FerryError(.instanceNotFound, hide("\(instanceName) at \(address.host):\(address.port) refused the connection by its pg_hba.conf (\(message))"),
                                 hint: "a line of the server's pg_hba.conf matches this host, user and database with reject, or none matches; `hostssl` lines take TLS sessions only (sslmode require or verify-*), `hostnossl` lines none", instance: instanceName)
            }
            throw FerryError(.instanceNotFound, hide("\(instanceName) does not answer at \(address.host):\(address.port) (\(message))"),
                             instance: instanceName)
        }
    }

    /// Whether libpq's connection error is about TLS: the server has none while `sslmode` requires
    /// it, or the server's certificate failed `verify-ca` / `verify-full` (its CA, its name), or
    /// the CA file is missing (libpq's fe-secure-openssl.c messages).
    static func isTLSFailure(_ lowercasedMessage: String) -> Bool {
        ["server does not support ssl", "ssl error", "ssl syscall error", "ssl connection has been closed",
         "server certificate", "root certificate file", "certificate verify failed", "does not match host name"]
            .contains { lowercasedMessage.contains($0) }
    }

    static let tlsHint = "sslmode require needs a server with ssl = on; verify-ca and verify-full check the server's certificate against the CA file in PGSSLROOTCERT (libpq's default: ~/.postgresql/root.crt), and verify-full its name against the url's host (SPEC §2)"

    deinit { close() }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        PQfinish(handle)
    }

    /// `password`'s SCRAM-SHA-256 verifier for `user`, made on the client so that only the
    /// verifier reaches the server (what psql's `\password` does); nil when libpq cannot make it.
    /// The C function is `PQencryptPasswordConn`.
    func encryptPassword(_ password: String, user: String) -> String? {
        guard let result = PQencryptPasswordConn(handle, password, user, "scram-sha-256") else { return nil }
        defer { PQfreemem(result) }
        return String(cString: result)
    }

    /// The server's version number (`150018` for 15.18). The C function is `PQserverVersion`.
    var serverVersionNumber: Int { Int(PQserverVersion(handle)) }
    /// The server's process id for this connection (`pg_backend_pid()`).
    var backendPID: Int32 { PQbackendPID(handle) }
    /// The socket, for `shutdown(2)` when a run is cancelled.
    var socket: Int32 { PQsocket(handle) }

    private func error(_ result: OpaquePointer?, _ sql: String) -> PostgresServerError {
        let state = result.flatMap { r in PQresultErrorField(r, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } } ?? "08000"
        let field = { (code: Character) in
            result.flatMap { r in PQresultErrorField(r, Int32(code.asciiValue!)).map { String(cString: $0) } }
        }
        var text = field("M") ?? String(cString: PQerrorMessage(handle))
        if let detail = field("D") { text += " (detail: \(detail))" }
        if let hint = field("H") { text += " (hint: \(hint))" }
        return PostgresServerError(sqlState: state, message: PostgresText.oneLine(text, hiding: secret), statement: sql)
    }

    /// Runs one or more statements (simple query protocol) and discards any rows.
    ///
    /// A `COMMIT` (the last statement of `sql`) that the server answers with `ROLLBACK` (its
    /// transaction had failed before, and the failure was not seen: PostgreSQL ends a failed
    /// transaction's `COMMIT` as a rollback, without an error) throws: nothing of it was kept.
    func execute(_ sql: String) throws {
        let result = PQexec(handle, sql)
        defer { PQclear(result) }
        let status = result.map { PQresultStatus($0) } ?? PGRES_FATAL_ERROR
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY else {
            throw error(result, sql)
        }
        if let result, String(cString: PQcmdStatus(result)) == "ROLLBACK", Self.endsWithCommit(sql) {
            throw PostgresServerError(sqlState: "25P02", message: "the transaction was rolled back at its COMMIT (a statement of it had failed): nothing of it was kept",
                                      statement: sql)
        }
    }

    /// Whether the last statement of `sql` is `COMMIT` (or `END`, `COMMIT TRANSACTION`...).
    static func endsWithCommit(_ sql: String) -> Bool {
        let last = sql.split(separator: ";", omittingEmptySubsequences: true).last { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
        let words = (last ?? "").uppercased().split(whereSeparator: { $0.isWhitespace })
        return words.first == "COMMIT" || words.first == "END"
    }

    /// Rows of one query, as text (NULL as nil).
    func query(_ sql: String) throws -> [[String?]] {
        let result = PQexec(handle, sql)
        defer { PQclear(result) }
        guard let result, PQresultStatus(result) == PGRES_TUPLES_OK else { throw error(result, sql) }
        let rows = Int(PQntuples(result)), columns = Int(PQnfields(result))
        var out: [[String?]] = []
        out.reserveCapacity(rows)
        for r in 0..<rows {
            var row: [String?] = []
            for c in 0..<columns {
                if PQgetisnull(result, Int32(r), Int32(c)) != 0 { row.append(nil) }
                else { row.append(String(cString: PQgetvalue(result, Int32(r), Int32(c)))) }
            }
            out.append(row)
        }
        return out
    }

    /// The first column of the first row, or nil.
    /// True while a transaction block is open on the session (libpq's `PQtransactionStatus`:
    /// `PQTRANS_INTRANS` or `PQTRANS_INERROR`).
    var inTransaction: Bool {
        let status = PQtransactionStatus(handle)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR
    }

    func scalar(_ sql: String) throws -> String? {
        try query(sql).first?.first ?? nil
    }

    // MARK: COPY streams

    /// Starts `COPY ... TO STDOUT` and hands each chunk to `body` as libpq returns it (whole
    /// rows, bytes untouched). The C functions are `PQexec` and `PQgetCopyData`.
    func copyOut(_ sql: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let start = PQexec(handle, sql)
        let status = start.map { PQresultStatus($0) } ?? PGRES_FATAL_ERROR
        if status != PGRES_COPY_OUT { defer { PQclear(start) }; throw error(start, sql) }
        PQclear(start)
        var failure: Error?
        var cancelled = false
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let n = PQgetCopyData(handle, &buffer, 0)
            if n > 0, let buffer {
                if failure == nil {
                    do { try body(UnsafeRawBufferPointer(start: buffer, count: Int(n))) } catch { failure = error }
                }
                PQfreemem(buffer)
                // On a failure the stream is read to its end (libpq has no way to stop a COPY OUT
                // short of cancelling it): cancel once, then drain what the server sent before
                // it stopped. (A cancel per row drained left over rows, each `PQcancel` a new
                // connection and a round trip: an apply whose target died mid-copy took many
                // minutes to end, issue 19's check of a target server killed mid-copy.)
                if failure != nil && !cancelled {
                    cancelRunningQuery()
                    cancelled = true
                }
                continue
            }
            break
        }
        try finishResults(sql, failure: failure)
    }

    /// Starts `COPY ... FROM STDIN`; returns once the server accepts data.
    func beginCopyIn(_ sql: String) throws {
        let start = PQexec(handle, sql)
        defer { PQclear(start) }
        let status = start.map { PQresultStatus($0) } ?? PGRES_FATAL_ERROR
        guard status == PGRES_COPY_IN else { throw error(start, sql) }
    }

    /// Sends bytes of a `COPY FROM STDIN`. The C function is `PQputCopyData`.
    func putCopyData(_ bytes: UnsafeRawBufferPointer, sql: String) throws {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        if PQputCopyData(handle, base.assumingMemoryBound(to: CChar.self), Int32(bytes.count)) != 1 {
            throw error(nil, sql)
        }
    }

    /// Ends a `COPY FROM STDIN` (with `failure`: aborts it) and reads its result: the rows the
    /// server says it wrote (the `COPY n` command tag, `PQcmdTuples`), nil when it gave none.
    @discardableResult
    func endCopyIn(sql: String, failure: String? = nil) throws -> Int64? {
        if PQputCopyEnd(handle, failure) != 1 { throw error(nil, sql) }
        return try finishResults(sql, failure: nil)
    }

    /// Reads every pending result; the first error is thrown (after `failure`, when given).
    /// Returns the row count of the last command that gave one (`PQcmdTuples`).
    @discardableResult
    private func finishResults(_ sql: String, failure: Error?) throws -> Int64? {
        var firstError: PostgresServerError?
        var rows: Int64?
        while let result = PQgetResult(handle) {
            let status = PQresultStatus(result)
            if status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && firstError == nil { firstError = error(result, sql) }
            if status == PGRES_COMMAND_OK, let tuples = PQcmdTuples(result), let count = Int64(String(cString: tuples)) { rows = count }
            PQclear(result)
        }
        if let failure { throw failure }
        if let firstError { throw firstError }
        return rows
    }

    /// Asks the server to cancel the running statement (thread-safe). The C function is `PQcancel`.
    func cancelRunningQuery() {
        guard let cancel = PQgetCancel(handle) else { return }
        var buffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(cancel, &buffer, 256)
        PQfreeCancel(cancel)
    }
}

@available(*, unavailable) extension PostgresConnection: Sendable {}

/// `"name"` with inner quotes doubled: an identifier as PostgreSQL reads it, any bytes.
func quoteIdent(_ name: String) -> String {
    "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

/// `'text'` as a standard-conforming string literal (quotes doubled; backslashes are literal).
/// NUL cannot occur in PostgreSQL text, and is dropped.
/// `text` as a string literal that reads the same whatever `standard_conforming_strings` is:
/// `'...'` with quotes doubled, or, when it holds a backslash, `E'...'` with backslashes doubled
/// too (PostgreSQL's `quote_literal`). A database owner can turn that setting off for its
/// sessions, and a plain literal's backslash would then end it early (a fresh tester's injection).
func quoteLiteral(_ text: String) -> String {
    let clean = text.replacingOccurrences(of: "\u{0}", with: "")
    guard clean.contains("\\") else { return "'" + clean.replacingOccurrences(of: "'", with: "''") + "'" }
    return "E'" + clean.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "''") + "'"
}

/// `"schema"."table"`.
func qualifiedName(_ schema: String, _ table: String) -> String {
    quoteIdent(schema) + "." + quoteIdent(table)
}
