import FerryCore
import FerryPostgres
import Foundation

/// The backend a `--state` value names (SPEC §6): `postgres://...` or `postgresql://...` is
/// the state on a PostgreSQL server (`PostgresStateBackend`), anything else a local directory,
/// relative to `root` (default `.ferry`). Throws `InvalidParameter` for a bad URL.
func makeStateBackend(_ text: String?, root: String) throws -> any StateBackend {
    let value = text ?? ".ferry"
    if PostgresStateBackend.handles(value) { return try PostgresStateBackend(url: value) }
    if value.contains("://") {
        throw FerryError(.invalidParameter, "--state \(Redaction.redactURL(value)): only postgres:// urls and directories hold a state",
                         hint: "a directory (default .ferry) or postgres://user@host:port/database?schema=ferry")
    }
    return LocalStateBackend(directory: value.hasPrefix("/") ? value : root + "/" + value)
}

/// True when the backend can tell whether `holder` still holds its lock: a local lock's holder
/// on this host (its process), any holder of a PostgreSQL state (its lock session).
func canCheckHolder(_ backend: any StateBackend, _ holder: LockInfo) -> Bool {
    backend is PostgresStateBackend || holder.host == ProcessInfo.processInfo.hostName
}
