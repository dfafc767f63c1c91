import FerryCore
import FerryMySQL
import FerryRedis
import FerrySQLite

/// The engines this ferry is built with.
enum Engines {
    static let registry = EngineRegistry([SQLiteEngine(), MySQLEngine(), RedisEngine()])
}
