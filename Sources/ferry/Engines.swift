import FerryCore
import FerryMySQL
import FerrySQLite

/// The engines this ferry is built with.
enum Engines {
    static let registry = EngineRegistry([SQLiteEngine(), MySQLEngine()])
}
