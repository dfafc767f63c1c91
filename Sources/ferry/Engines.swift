import FerryCore
import FerryIO
import FerryMySQL
import FerryRedis
import FerrySQLite

/// The engines this ferry is built with.
enum Engines {
    static let registry = EngineRegistry([SQLiteEngine(), MySQLEngine(), RedisEngine()],
                                         fileDigest: { path in "sha256:" + (try Digest.sha256(file: path)) })
}
