import FerryCore
import FerryIO
import FerryMySQL
import FerryPostgres
import FerryRedis
import FerrySQLite

/// The engines this ferry is built with (and, installed with them, FerryIO's backup stores for
/// storage locations).
enum Engines {
    static let registry: EngineRegistry = {
        RemoteBackupStores.install()
        return EngineRegistry([SQLiteEngine(), MySQLEngine(), PostgresEngine(), RedisEngine()],
                              fileDigest: { path in "sha256:" + (try Digest.sha256(file: path)) })
    }()
}
