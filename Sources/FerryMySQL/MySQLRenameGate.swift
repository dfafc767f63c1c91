import CMariaDB
import FerryCore
import Foundation

/// The target's tables kept from writers through a held rename's cut-over, and those that get
/// triggers until their triggers are made (fresh tester round 45, H1: a row written right after
/// the rename, also one that had waited on the hold, landed in the new table before the swap made
/// its trigger, and the trigger never fired for it; and the holders' release, `releaseGap` apart,
/// let a write into a table the rename had not reached yet when the rename was slower than that).
///
/// One connection a table (its *gate*) asks for `LOCK TABLES d.t WRITE` while the held rename's
/// holders still hold the table: the request waits. MariaDB grants a waiting
/// `MDL_SHARED_NO_READ_WRITE` (that lock) before waiting `MDL_SHARED_WRITE` and `MDL_SHARED_READ`
/// requests (the writers' and readers'), whichever came first, but not before a waiting
/// `MDL_EXCLUSIVE` (the rename's) (`MDL_lock::MDL_object_lock::m_waiting_incompatible`,
/// sql/mdl.cc). So once the holders let go, no writer gets a gated table before the rename has
/// moved it and its gate has let go again:
///
/// - a table the rename waits for when its holder lets go goes to the rename; its gate waits on,
///   and takes the table the rename put at that name once the rename is done;
/// - a table the rename has not reached yet goes to its gate (*early*), and the rename waits for
///   it in turn. The rename takes its locks one after another in the order of their keys
///   (`MDL_context::acquire_locks`): when it waits for a metadata lock (`PROCESSLIST`), every
///   gate before an early one waits too (behind the rename's lock), and an exclusive lock waits
///   for that early gate's table (`exclusiveWaits`), that gate lets go (the rename gets it first)
///   and asks again, behind the rename.
///
/// The tables of another schema the rename moves and the hold holds too (an undo's checkpoint,
/// `renameHolding`'s `holdingToo`) are gated the same way (fresh tester round 58, H2: a row
/// written into the checkpoint while the gates held the target's tables got its table once its
/// holder let go, before the rename reached it, and went live): after the rename each such gate
/// finds its table moved (an error), as the writers behind it do.
///
/// After the rename each gate gets its table before the writers; a gate of a table without
/// triggers lets go at once, one with triggers once the caller made them on its connection
/// (`CREATE TRIGGER` under `LOCK TABLES ... WRITE`).
///
/// What is left: tables joined by a foreign key are not gated (a gate's `LOCK TABLES child WRITE`
/// takes the parent too, behind the parent's gate, and that order cannot be kept): they are let go
/// `releaseGap` apart, as before, and their triggers made after the rename as before; so are
/// tables past the instance's connections. A trigger made under another database collation than
/// the target's (its `ALTER DATABASE` is refused under `LOCK TABLES`, 1192) is made after its
/// gate. While a gate waits, readers of its table wait too.
///
/// An early gate lets go only once an exclusive lock waits for its own table
/// (`exclusiveWaits`): an open transaction of another session that read a table before the hold
/// keeps the rename (and that table's gate) waiting there, and the process list alone then told
/// a later early gate to let go, to the writers waiting on it.
final class MySQLRenameGate {
    final class Gate {
        /// The schema of `table`: the held rename's target, or the other schema it holds too
        /// (an undo's checkpoint).
        let database: String
        let table: String
        let connection: MySQLConnection
        let id: UInt
        let statement: String
        /// The current `LOCK TABLES`' result (a new one each time it is sent).
        private(set) var outcome = HeldRenameOutcome()
        var released = false

        init(table: String, of database: String, connection: MySQLConnection) {
            self.database = database
            self.table = table
            self.connection = connection
            self.id = UInt(mysql_thread_id(connection.handlePointer))
            self.statement = "LOCK TABLES \(qualified(database, table)) WRITE"
        }

        /// Sends its `LOCK TABLES` on a thread of its own.
        func send() {
            let result = HeldRenameOutcome()
            outcome = result
            let box = UncheckedBox(connection), statement = statement
            Thread { result.finish(Result { try box.value.execute(statement) }) }.start()
        }

        /// Its `LOCK TABLES` returned without an error, and it has not let go since.
        var holds: Bool {
            guard !released, outcome.isFinished, case .success = outcome.wait() else { return false }
            return true
        }
    }

    /// In the rename's order.
    private(set) var gates: [Gate] = []
    /// The connection that watches the gates and the rename (`PROCESSLIST`) and stops a gate's
    /// wait (`KILL QUERY`).
    private let control: MySQLConnection

    /// Opens a gate for each of `tables` (schema and table; put in the rename's order here) and
    /// sends its `LOCK TABLES ... WRITE`; returns once each shows it waits (`PROCESSLIST`,
    /// "Waiting for table metadata lock"), or within `seconds`. A gate that got its table at once
    /// (the table was not held) or does not wait lets go and is dropped: that table is not gated.
    init(_ tables: [(database: String, table: String)], open: () throws -> MySQLConnection, seconds: Int) throws {
        control = try open()
        // Its probes (`exclusiveWaits`) must not wait: 0 where the server takes it (MariaDB),
        // else its least (MySQL: 1 s).
        if (try? control.execute("SET SESSION lock_wait_timeout = 0")) == nil { _ = try? control.execute("SET SESSION lock_wait_timeout = 1") }
        for (database, table) in Self.inRenameOrder(tables) {
            let gate = Gate(table: table, of: database, connection: try open())
            try gate.connection.execute("SET SESSION lock_wait_timeout = \(MySQLSession.holdWaitSeconds * 2)")
            gates.append(gate)
            gate.send()
        }
        let deadline = Date().addingTimeInterval(TimeInterval(seconds))
        var waiting = Set<UInt>()
        while Date() < deadline {
            for gate in gates where !waiting.contains(gate.id) && !gate.outcome.isFinished && isWaiting(gate.id) { waiting.insert(gate.id) }
            if gates.allSatisfy({ waiting.contains($0.id) || $0.outcome.isFinished }) { break }
            Thread.sleep(forTimeInterval: 0.002)
        }
        for gate in gates where !waiting.contains(gate.id) { drop(gate) }
    }

    deinit { releaseAll() }

    /// `tables` in the order one `RENAME TABLE` takes their locks: by the bytes of their
    /// metadata lock keys, the schema's name, a 0 byte, the table's name (`MDL_key::mdl_key_init`;
    /// `MDL_context::acquire_locks` sorts by them), so a schema's tables before those of a schema
    /// whose name it begins (`d` before `d__ferry_c_...`).
    static func inRenameOrder(_ tables: [(database: String, table: String)]) -> [(database: String, table: String)] {
        func key(_ t: (database: String, table: String)) -> [UInt8] { Array(t.database.utf8) + [0] + Array(t.table.utf8) }
        return tables.sorted { key($0).lexicographicallyPrecedes(key($1)) }
    }

    /// Whether an exclusive metadata lock (the rename's) waits for `gate`'s table now: a
    /// `PREPARE` of a read of it takes `MDL_SHARED` only (sql_prepare.cc opens its tables with
    /// `MYSQL_OPEN_FORCE_SHARED_MDL`), which the gate's `MDL_SHARED_NO_READ_WRITE` admits and a
    /// waiting `MDL_EXCLUSIVE` does not (`m_waiting_incompatible`, sql/mdl.cc); refused at once
    /// (1205, `lock_wait_timeout` 0) it tells that one waits. Waiting writers, readers and
    /// `LOCK TABLES` do not refuse it (measured on MariaDB 10.11). A probe that fails otherwise
    /// tells nothing: then true, and the cut-over goes by the process list alone, as before.
    func exclusiveWaits(on gate: Gate) -> Bool {
        do {
            try control.execute("PREPARE ferry_gate_probe FROM " + control.literal("SELECT 1 FROM \(qualified(gate.database, gate.table)) LIMIT 0"))
            return false
        } catch let error as MySQLServerError where error.code == 1205 {
            return true
        } catch {
            return true
        }
    }

    /// Whether the session `id` waits for a metadata lock now.
    func isWaiting(_ id: UInt) -> Bool {
        let state = try? control.scalar("SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = \(id)")
        return state?.hasPrefix("Waiting for table metadata lock") == true
    }

    /// Another session's DDL statement that stopped the rename (`cutOver`), as the message says
    /// it: its verb, session and schema; nil while none did.
    private(set) var stoppedBy: String?

    /// Another session's DDL statement on one of the gated schemas (`MySQLSession.foreignDDL`),
    /// in the message's words, or nil (also where the process list cannot be read).
    func foreignDDL(excluding ours: Set<UInt>) -> String? {
        guard let found = (try? MySQLSession.foreignDDL(on: control, naming: Array(Set(gates.map(\.database))), excluding: ours)) ?? nil else { return nil }
        return "another session's \(found.verb) statement (session \(found.id)) on \(found.schema)"
    }

    /// Until the rename (session `renameID`, its result `rename`) is done, once the holders have
    /// let go: the first early gate (one that holds a table the rename has not taken) lets go when
    /// the rename waits and every gate before it waits too, and asks again.
    ///
    /// Another session's DDL statement on a gated schema stops the rename (`KILL QUERY`: it
    /// renames nothing until it holds every table; `stoppedBy` says why): its exclusive lock is
    /// granted before a gate's, and one that waited on a table before the rename asked for it
    /// before the rename's too, so it ran first (a `TRUNCATE` or `OPTIMIZE` of a checkpoint's
    /// table, which the rename then moved back rebuilt) or right after it (one of the target's:
    /// it emptied or dropped a table just moved back); the probe above takes such a lock for the
    /// rename's (fresh tester round 60, 6).
    func cutOver(renameID: UInt, rename: HeldRenameOutcome) {
        let ours = Set(gates.map(\.id) + [renameID])
        while !rename.isFinished {
            if let ddl = foreignDDL(excluding: ours) {
                _ = try? control.execute("KILL QUERY \(renameID)")
                if rename.wait(seconds: Self.stopSeconds), case .failure = rename.wait() { stoppedBy = ddl }
                return
            }
            guard let k = gates.firstIndex(where: { $0.holds }) else {
                // A gate whose lock failed (stopped, or its table dropped) is not a gate any more.
                for gate in gates where !gate.released && gate.outcome.isFinished { drop(gate) }
                Thread.sleep(forTimeInterval: 0.001)
                continue
            }
            guard isWaiting(renameID), gates[..<k].allSatisfy({ $0.released || (!$0.outcome.isFinished && isWaiting($0.id)) }),
                  exclusiveWaits(on: gates[k]), !rename.isFinished else {
                Thread.sleep(forTimeInterval: 0.001)
                continue
            }
            let gate = gates[k]
            do { try gate.connection.execute("UNLOCK TABLES") } catch { drop(gate); continue }
            gate.send()
            let deadline = Date().addingTimeInterval(2)
            while !gate.outcome.isFinished, !isWaiting(gate.id), Date() < deadline { Thread.sleep(forTimeInterval: 0.001) }
        }
    }

    /// After the rename: the gates that `keeping` does not take let go as soon as they get
    /// their table (within `seconds`; one that does not is stopped; one whose table the rename
    /// moved away gets an error, and is dropped).
    func releaseAll(but keeping: (Gate) -> Bool, within seconds: Int) {
        let deadline = Date().addingTimeInterval(TimeInterval(seconds))
        var open = gates.filter { !$0.released && !keeping($0) }
        while !open.isEmpty, Date() < deadline {
            for gate in open where gate.outcome.isFinished { drop(gate) }
            open.removeAll { $0.released }
            if !open.isEmpty { Thread.sleep(forTimeInterval: 0.001) }
        }
        for gate in open { drop(gate) }
    }

    /// Whether any gate is still open.
    var isEmpty: Bool { gates.allSatisfy(\.released) }

    /// Waits (up to `seconds`) for the gates still open to get their tables after the rename,
    /// running `body` with each one that does, in the order they are granted, then letting go of
    /// it. A gate not granted by then is stopped (`KILL QUERY`) and its table left to `body`'s
    /// caller.
    func whenGranted(within seconds: Int, _ body: (Gate) throws -> Void) throws {
        let deadline = Date().addingTimeInterval(TimeInterval(seconds))
        while gates.contains(where: { !$0.released }) {
            var any = false
            for gate in gates where !gate.released && gate.outcome.isFinished {
                any = true
                guard gate.holds else { drop(gate); continue }
                defer { drop(gate) }
                try body(gate)
            }
            if !any {
                guard Date() < deadline else { break }
                Thread.sleep(forTimeInterval: 0.001)
            }
        }
        releaseAll()
    }

    /// Lets go of every gate (one still waiting is stopped first).
    func releaseAll() {
        for gate in gates { drop(gate) }
    }

    /// Lets go of `gate`: one still waiting is stopped (`KILL QUERY`, then `KILL CONNECTION` after
    /// `stopSeconds`); one that does not stop even so is left to its thread (never waited for
    /// without end: its connection closes with the process).
    private func drop(_ gate: Gate) {
        guard !gate.released else { return }
        gate.released = true
        if !gate.outcome.isFinished {
            _ = try? control.execute("KILL QUERY \(gate.id)")
            guard gate.outcome.wait(seconds: Self.stopSeconds) || ((try? control.execute("KILL CONNECTION \(gate.id)")) != nil && gate.outcome.wait(seconds: Self.stopSeconds)) else {
                return
            }
        }
        if case .success = gate.outcome.wait() { _ = try? gate.connection.execute("UNLOCK TABLES") }
        gate.connection.close()
    }

    /// How long (seconds) a stopped gate's `LOCK TABLES` is given to return.
    static let stopSeconds: TimeInterval = 5
}
