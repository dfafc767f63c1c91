import CMariaDB
import FerryCore
import Foundation

/// The target's tables that get triggers in a held swap, kept from writers from the rename until
/// their triggers are made (fresh tester round 45, H1: a row written right after the rename,
/// also one that had waited on the hold, landed in the new table before the swap made its
/// trigger, and the trigger never fired for it).
///
/// One connection a table (its *gate*) asks for `LOCK TABLES d.t WRITE` while the held rename's
/// holders still hold the table: the request waits. MariaDB grants a waiting
/// `MDL_SHARED_NO_READ_WRITE` (that lock) before waiting `MDL_SHARED_WRITE` and `MDL_SHARED_READ`
/// requests (the writers' and readers'), but not before a waiting `MDL_EXCLUSIVE` (the rename's)
/// (`MDL_lock::MDL_object_lock::m_waiting_incompatible`, sql/mdl.cc): so the rename moves the
/// table first, the gate then takes the table the rename put at that name, the swap makes the
/// table's triggers on the gate's connection (`CREATE TRIGGER` under `LOCK TABLES ... WRITE`), and
/// the gate lets go: the writers that waited land in a table whose triggers fire.
///
/// What is left: a gate granted before the rename reached its table (the rename slower than the
/// holders' `releaseGap`) would hold the rename up; it lets go at once and that table is not
/// gated. A trigger made under another database collation than the target's (its `ALTER DATABASE`
/// is refused under `LOCK TABLES`, 1192) is made after the gate, as before. While a gate waits,
/// readers of its table wait too.
final class MySQLTriggerGate {
    final class Gate {
        let table: String
        let connection: MySQLConnection
        let id: UInt
        let outcome = HeldRenameOutcome()
        /// Its `LOCK TABLES` returned and `UNLOCK TABLES` has not been sent.
        var holding = false
        var released = false

        init(table: String, connection: MySQLConnection) {
            self.table = table
            self.connection = connection
            self.id = UInt(mysql_thread_id(connection.handlePointer))
        }
    }

    private(set) var gates: [Gate] = []
    /// The connection that watches the gates (`PROCESSLIST`) and stops a gate's wait (`KILL QUERY`).
    private let control: MySQLConnection

    /// Opens a gate for each of `tables` of `database` and sends its `LOCK TABLES ... WRITE` on a
    /// thread of its own; returns once each shows it waits (`PROCESSLIST`, "Waiting for table
    /// metadata lock"), or within `seconds`. A gate that got its table at once (the table was not
    /// held) or failed lets go and is dropped: that table is not gated.
    init(_ tables: [String], of database: String, open: () throws -> MySQLConnection, seconds: Int) throws {
        control = try open()
        for table in tables {
            let gate = Gate(table: table, connection: try open())
            try gate.connection.execute("SET SESSION lock_wait_timeout = \(seconds)")
            gates.append(gate)
            let box = UncheckedBox(gate)
            let statement = "LOCK TABLES \(qualified(database, table)) WRITE"
            Thread { box.value.outcome.finish(Result { try box.value.connection.execute(statement) }) }.start()
        }
        let deadline = Date().addingTimeInterval(TimeInterval(seconds))
        var waiting = Set<UInt>()
        while Date() < deadline {
            for gate in gates where !waiting.contains(gate.id) && !gate.outcome.isFinished {
                let state = try? control.scalar("SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = \(gate.id)")
                if let state, state.hasPrefix("Waiting for table metadata lock") { waiting.insert(gate.id) }
            }
            if gates.allSatisfy({ waiting.contains($0.id) || $0.outcome.isFinished }) { break }
            Thread.sleep(forTimeInterval: 0.002)
        }
        for gate in gates where !waiting.contains(gate.id) { drop(gate) }
    }

    deinit { releaseAll() }

    /// The gates whose `LOCK TABLES` returned: while the rename still runs, such a gate holds the
    /// old table the rename waits for, and lets go at once (that table is not gated).
    func letGoOfEarly() {
        for gate in gates where gate.outcome.isFinished { drop(gate) }
    }

    /// Waits (up to `seconds`) for the gates still open to get their tables after the rename,
    /// running `body` with each one that does, in the order they are granted, then letting go of
    /// it. A gate not granted by then is stopped (`KILL QUERY`) and its table left to `body`'s
    /// caller. Returns the tables `body` ran for.
    func whenGranted(within seconds: Int, _ body: (Gate) throws -> Void) throws -> [String] {
        var done: [String] = []
        let deadline = Date().addingTimeInterval(TimeInterval(seconds))
        while gates.contains(where: { !$0.released }) {
            var any = false
            for gate in gates where !gate.released && gate.outcome.isFinished {
                any = true
                guard case .success = gate.outcome.wait() else { drop(gate); continue }
                gate.holding = true
                defer { drop(gate) }
                try body(gate)
                done.append(gate.table)
            }
            if !any {
                guard Date() < deadline else { break }
                Thread.sleep(forTimeInterval: 0.001)
            }
        }
        releaseAll()
        return done
    }

    /// Lets go of every gate (one still waiting is stopped first).
    func releaseAll() {
        for gate in gates { drop(gate) }
    }

    private func drop(_ gate: Gate) {
        guard !gate.released else { return }
        gate.released = true
        if !gate.outcome.isFinished { _ = try? control.execute("KILL QUERY \(gate.id)") }
        if case .success = gate.outcome.wait() { _ = try? gate.connection.execute("UNLOCK TABLES") }
        gate.holding = false
        gate.connection.close()
    }
}
