import FerryCore
import Foundation

/// Tells, through `LockWaitNotices`, that a statement of one of a session's connections waits
/// for a lock another session holds: an application's `LOCK TABLES ... WRITE`, an open
/// transaction or a schema change on the tables a swap, rollback or plan reads or moves. Such
/// waits last up to the session's `lock_wait_timeout` (120 s) or a hold's attempts, and were
/// silent (fresh tester rounds 63 and 64, M4: 120 s after a swap, 90 s in a rollback, 30 s
/// before step 1, without a word).
///
/// Each watched connection notes the statement it sends (`began`, by its server thread id,
/// `mysql_thread_id`) and its end (`ended`); the same kind of statement sent again on that
/// connection within a second of the last one's end (a hold's tries) goes on the same wait. A thread of the watch's own looks, twice a second,
/// at the statements running longer than `LockWaitNotices.after`; for those it reads
/// `information_schema.PROCESSLIST` (`STATE`) and `INNODB_TRX` (`trx_state = 'LOCK
/// WAIT'`) on a connection of its own, and says each that waits: its kind and first name (never
/// its text, which may hold data), the seconds it has waited and the server's state; again
/// every `LockWaitNotices.every` seconds while it waits. Connections that wait by design (a
/// swap's gates, `MySQLRenameGate`) are not watched.
final class MySQLLockWaitWatch: @unchecked Sendable {
    // Safe: `running`, `monitor` and `isStopped` are only touched under `lock`; the monitor
    // connection is used by the watch's thread alone.
    private let lock = NSLock()
    private let address: MySQLAddress
    private let instanceName: String
    private let notices: LockWaitNotices
    private struct Statement {
        var label: String
        var since: Date
        var said: Date?
        var checked: Date?
    }
    private var running: [UInt: Statement] = [:]
    /// Each connection's last statement and when it ended: a try of the same kind sent again
    /// within a second (a hold's tries of 2 s, `retryingHold`) goes on the same wait.
    private var ended: [UInt: (statement: Statement, at: Date)] = [:]
    private var isStarted = false
    private var isStopped = false
    private var monitor: MySQLConnection?

    init(address: MySQLAddress, instanceName: String, notices: LockWaitNotices) {
        self.address = address
        self.instanceName = instanceName
        self.notices = notices
    }

    deinit { monitor?.close() }

    /// A statement of the connection whose server thread id is `thread` was sent.
    func began(_ threadID: UInt, label: String) {
        lock.lock(); defer { lock.unlock() }
        let now = Date()
        if let last = ended.removeValue(forKey: threadID), last.statement.label == label, now.timeIntervalSince(last.at) < 1 {
            running[threadID] = Statement(label: label, since: last.statement.since, said: last.statement.said)
        } else {
            running[threadID] = Statement(label: label, since: now)
        }
        guard !isStarted, !isStopped else { return }
        isStarted = true
        // The thread holds the watch weakly: it ends with the session, or at `stop`.
        let thread = Thread { [weak self] in
            while let watch = self, watch.look() { Thread.sleep(forTimeInterval: 0.5) }
        }
        thread.name = "ferry-mysql-lock-wait-watch"
        thread.start()
    }

    /// That statement returned (or failed).
    func ended(_ threadID: UInt) {
        lock.lock(); defer { lock.unlock() }
        if let statement = running.removeValue(forKey: threadID) { ended[threadID] = (statement, Date()) }
    }

    /// Ends the watch's thread (the session closes).
    func stop() {
        lock.lock(); defer { lock.unlock() }
        isStopped = true
    }

    /// One look; false once stopped.
    private func look() -> Bool {
        let now = Date()
        lock.lock()
        if isStopped {
            let m = monitor
            monitor = nil
            lock.unlock()
            m?.close()
            return false
        }
        // Statements long enough to say, and not looked at in the last 2 s (one that runs long
        // without waiting, a big load, is looked at again: it may come to wait).
        let due = running.filter { _, s in
            now.timeIntervalSince(s.since) >= notices.after && (s.checked.map { now.timeIntervalSince($0) >= 2 } ?? true)
                && (s.said.map { now.timeIntervalSince($0) >= notices.every } ?? true)
        }
        for id in due.keys { running[id]?.checked = now }
        lock.unlock()
        guard !due.isEmpty else { return true }
        guard let waits = waitingStates(of: Array(due.keys)) else { return true }
        for (id, state) in waits {
            lock.lock()
            // Said only while that very statement still runs.
            guard let s = running[id], s.since == due[id]?.since else { lock.unlock(); continue }
            running[id]?.said = now
            lock.unlock()
            notices.say(Self.words(instance: instanceName, label: s.label, seconds: Int(now.timeIntervalSince(s.since)), state: state, again: s.said != nil))
        }
        return true
    }

    /// The threads of `ids` that wait for a lock now, with the server's state; nil when the
    /// server cannot be read (the next look tries again with a new connection).
    private func waitingStates(of ids: [UInt]) -> [UInt: String]? {
        do {
            let c: MySQLConnection
            if let m = monitor { c = m } else {
                c = try MySQLSession.open(address, instance: instanceName)
                lock.lock(); monitor = c; lock.unlock()
            }
            let list = ids.map(String.init).joined(separator: ", ")
            let rows = try c.query("SELECT p.ID, p.STATE, EXISTS (SELECT 1 FROM information_schema.INNODB_TRX t WHERE t.trx_mysql_thread_id = p.ID AND t.trx_state = 'LOCK WAIT') FROM information_schema.PROCESSLIST p WHERE p.ID IN (\(list))")
            var result: [UInt: String] = [:]
            for row in rows {
                guard let id = row[0].flatMap({ UInt($0) }) else { continue }
                let state = row[1] ?? ""
                if state.hasPrefix("Waiting for") {
                    result[id] = state
                } else if row[2] == "1" {
                    result[id] = "a row lock (InnoDB LOCK WAIT)"
                }
            }
            return result
        } catch {
            lock.lock(); let m = monitor; monitor = nil; lock.unlock()
            m?.close()
            return nil
        }
    }

    /// "db on a: Ferry's RENAME TABLE of `app`.`t1` has waited 12 s for a lock another session
    /// holds (the server says: Waiting for table metadata lock) ..."
    static func words(instance: String, label: String, seconds: Int, state: String, again: Bool) -> String {
        "\(instance): Ferry's \(label) \(again ? "still waits" : "waits"), \(seconds) s so far, for a lock another session holds (the server says: \(state)): an application's LOCK TABLES, open transaction or schema change on those tables; SHOW PROCESSLIST on the server names the session. Ferry goes on once it lets go, or stops at the end of its wait and says so"
    }

    /// What `sql` is, to be said without its text: its leading keywords (`RENAME TABLE`,
    /// `DROP TRIGGER`, `LOCK TABLES`, `CHECKSUM TABLE`), and the first name it quotes with
    /// backticks, with the one after a dot (`` `app`.`t1` ``); a `LOCK TABLES`, `RENAME TABLE`
    /// or `CHECKSUM TABLE` of several tables (a comma in it) says "and other tables". Reads
    /// the first 512 bytes.
    static func label(of sql: some Collection<UInt8>) -> String {
        let head = Array(sql.prefix(512))
        var words: [String] = []
        var word: [UInt8] = []
        var i = 0
        // Keywords: letters and underscores, up to three, before anything else.
        while i < head.count, words.count < 3 {
            let b = head[i]
            if (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 95 {
                word.append(b)
            } else {
                if !word.isEmpty {
                    let w = String(decoding: word, as: UTF8.self).uppercased()
                    word = []
                    if !words.isEmpty && ["IF", "EXISTS", "NOT", "INTO", "FROM", "SET", "VALUES", "SELECT", "AS", "WHERE"].contains(w) { break }
                    words.append(w)
                }
                if b != 32 && b != 10 && b != 9 { break }
            }
            i += 1
        }
        if i == head.count, words.count < 3, !word.isEmpty { words.append(String(decoding: word, as: UTF8.self).uppercased()) }
        let verb = words.isEmpty ? "statement" : words.joined(separator: " ")
        guard let name = firstQuotedName(in: head) else { return verb }
        // A statement of several tables waits for any of them: the first is not named as the one
        // (fresh tester round 66, F4: "LOCK TABLES of `shop`.`big`" while `child` was held).
        let several = ["LOCK TABLES", "RENAME TABLE", "CHECKSUM TABLE"].contains(verb) && head.filter { $0 == 44 }.count > 0
        return several ? "\(verb) of \(name) and other tables (one of them is held)" : "\(verb) of \(name)"
    }

    /// The first backtick-quoted identifier of `bytes` (a doubled backtick inside it kept), and,
    /// right after a dot, the next one: "`app`.`t1`"; nil when there is none or it does not end
    /// within `bytes`.
    static func firstQuotedName(in bytes: [UInt8]) -> String? {
        func quoted(from start: Int) -> Int? {
            // The index after the closing backtick of the identifier that opens at `start`.
            var j = start + 1
            while j < bytes.count {
                if bytes[j] == 96 {
                    if j + 1 < bytes.count, bytes[j + 1] == 96 { j += 2; continue }
                    return j + 1
                }
                j += 1
            }
            return nil
        }
        guard let open = bytes.firstIndex(of: 96), var end = quoted(from: open) else { return nil }
        if end < bytes.count, bytes[end] == 46, end + 1 < bytes.count, bytes[end + 1] == 96, let next = quoted(from: end + 1) { end = next }
        return String(decoding: bytes[open..<end], as: UTF8.self)
    }
}
