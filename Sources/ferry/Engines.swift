import FerryCore
import FerryIO
import FerryMySQL
import FerryPostgres
import FerryRedis
import FerrySQLite
import Foundation

/// The engines this ferry is built with (and, installed with them, FerryIO's backup stores for
/// storage locations).
enum Engines {
    static let registry: EngineRegistry = {
        RemoteBackupStores.install()
        // The journal's digests of backup set locations (`Redaction.locationDigest`).
        Redaction.useTextDigest { Digest.sha256($0) }
        return EngineRegistry([SQLiteEngine(), MySQLEngine(), PostgresEngine(), RedisEngine()],
                              fileDigest: { path in "sha256:" + (try Digest.sha256(file: path)) },
                              lockWaitNotices: lockWaitNotices)
    }()

    /// Waits behind another session's lock are said on standard error, as notes, whatever the
    /// output format (standard output keeps its JSON). `FERRY_TEST_LOCK_WAIT_NOTICE_SECONDS`
    /// shortens the first note's delay for the tests.
    static var lockWaitNotices: LockWaitNotices {
        let after = ProcessInfo.processInfo.environment["FERRY_TEST_LOCK_WAIT_NOTICE_SECONDS"].flatMap { TimeInterval($0) }.map { max(0.5, $0) } ?? 5
        return LockWaitNotices(after: after, every: max(after, 15)) { text in
            StandardStream.error.write("note: \(Redaction.escapeControlCharacters(text))\n")
        }
    }
}
