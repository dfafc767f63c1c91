import CMariaDB
import FerryCore
import Foundation

/// One batch of rows for MariaDB's array-bound `INSERT` (`COM_STMT_BULK_EXECUTE`), laid out
/// column by column as libmariadb wants it. Integers (and BIT, selected as numbers) travel as
/// 8-byte binary values and dates and datetimes as `MYSQL_TIME`, so the target server parses
/// no text for them; every other value is sent as the bytes the source sent, in character set
/// binary, exactly as `LOAD DATA ... CHARACTER SET binary` stores them. Memory is fixed when the
/// batch is made (the byte arena grows only for a single row bigger than it).
final class BulkBatch {
    /// How a column's values travel. A value whose text does not parse as its column's kind
    /// (never seen from a server, but not ruled out) turns the column to `.bytes`.
    enum Kind: UInt8 {
        case bytes, signed, unsigned, date, datetime, timestamp

        /// How a column of this lower-case `DATA_TYPE` (and full `COLUMN_TYPE`) travels.
        init(dataType: String, columnType: String) {
            switch dataType {
            case "tinyint", "smallint", "mediumint", "int", "bigint": self = columnType.contains("unsigned") ? .unsigned : .signed
            case "bit": self = .unsigned   // selected as `+0`: a number
            case "date": self = .date
            case "datetime": self = .datetime
            case "timestamp": self = .timestamp
            default: self = .bytes
            }
        }
    }

    /// Rows per batch for `columns` columns: about `cells` values, 16 to 8,192 rows.
    static func rows(columns: Int, cells: Int) -> Int { max(16, min(8192, cells / max(1, columns))) }

    let count: Int
    let capacity: Int
    private(set) var rows = 0
    let kinds: UnsafeMutablePointer<Kind>
    private let integers: UnsafeMutablePointer<Int64>
    private let times: UnsafeMutablePointer<MYSQL_TIME>
    private let timePointers: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private let pointers: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private let lengths: UnsafeMutablePointer<UInt>
    private let indicators: UnsafeMutablePointer<CChar>
    private var arena: UnsafeMutablePointer<UInt8>
    private(set) var arenaCapacity: Int
    private(set) var arenaUsed = 0
    /// The rows' size as text (values and one separator each), for progress and the bytes moved.
    private(set) var textBytes = 0

    enum Added { case added, full, demote(Int) }

    init(kinds: [Kind], rows capacity: Int, bytes: Int) {
        count = kinds.count
        self.capacity = capacity
        let cells = max(1, count * capacity)
        self.kinds = .allocate(capacity: max(count, 1))
        for (i, kind) in kinds.enumerated() { self.kinds[i] = kind }
        integers = .allocate(capacity: cells)
        // Dates are the only kind a column never turns into, so their cells exist only if needed.
        let timeCells = kinds.contains { $0 == .date || $0 == .datetime || $0 == .timestamp } ? cells : 1
        times = .allocate(capacity: timeCells)
        times.initialize(repeating: MYSQL_TIME(), count: timeCells)
        timePointers = .allocate(capacity: timeCells)
        for i in 0..<timeCells { timePointers[i] = UnsafeMutableRawPointer(times + i) }
        pointers = .allocate(capacity: cells)
        lengths = .allocate(capacity: cells)
        indicators = .allocate(capacity: cells)
        arenaCapacity = max(bytes, 1)
        arena = .allocate(capacity: arenaCapacity)
    }

    deinit {
        kinds.deallocate(); integers.deallocate(); times.deallocate(); timePointers.deallocate()
        pointers.deallocate(); lengths.deallocate(); indicators.deallocate(); arena.deallocate()
    }

    func reset() { rows = 0; arenaUsed = 0; textBytes = 0 }

    /// Adds a row from `mysql_fetch_row`: `.full` when it does not fit (flush, then add it again),
    /// `.demote(column)` when a value does not parse as its column's kind (nothing is added).
    func add(_ fields: MYSQL_ROW, _ fieldLengths: UnsafeMutablePointer<UInt>) -> Added {
        guard rows < capacity else { return .full }
        var need = 0, text = count
        for i in 0..<count {
            text += Int(fieldLengths[i])
            if kinds[i] == .bytes { need += Int(fieldLengths[i]) }
        }
        if arenaUsed + need > arenaCapacity {
            guard rows == 0 else { return .full }
            arena.deallocate()
            arenaCapacity = need
            arena = .allocate(capacity: max(need, 1))
        }
        let r = rows
        for i in 0..<count {
            let cell = i * capacity + r
            guard let field = fields[i] else {
                indicators[cell] = CChar(STMT_INDICATOR_NULL.rawValue)
                continue
            }
            indicators[cell] = CChar(STMT_INDICATOR_NONE.rawValue)
            let n = Int(fieldLengths[i])
            let text = UnsafeRawPointer(field).assumingMemoryBound(to: UInt8.self)
            switch kinds[i] {
            case .bytes:
                let at = arena + arenaUsed
                at.update(from: text, count: n)
                pointers[cell] = UnsafeMutableRawPointer(at)
                lengths[cell] = UInt(n)
                arenaUsed += n
            case .signed, .unsigned:
                guard let value = Self.integer(text, n, unsigned: kinds[i] == .unsigned) else { return .demote(i) }
                integers[cell] = value
            case .date, .datetime, .timestamp:
                guard Self.temporal(text, n, date: kinds[i] == .date, into: times + cell) else { return .demote(i) }
            }
        }
        rows += 1
        textBytes += text
        return .added
    }

    /// Forgets the bytes a row that was not added wrote into the arena.
    func rewind(to used: Int) { arenaUsed = used }

    /// Binds the batch to `statement` and executes it.
    func execute(_ statement: UnsafeMutablePointer<MYSQL_STMT>) -> Bool {
        guard rows > 0 else { return true }
        var binds = [MYSQL_BIND](repeating: MYSQL_BIND(), count: count)
        for i in 0..<count {
            let base = i * capacity
            binds[i].u.indicator = indicators + base
            switch kinds[i] {
            case .bytes:
                binds[i].buffer_type = MYSQL_TYPE_STRING
                binds[i].buffer = UnsafeMutableRawPointer(pointers + base)
                binds[i].length = lengths + base
            case .signed, .unsigned:
                binds[i].buffer_type = MYSQL_TYPE_LONGLONG
                binds[i].buffer = UnsafeMutableRawPointer(integers + base)
                binds[i].is_unsigned = kinds[i] == .unsigned ? 1 : 0
            case .date, .datetime, .timestamp:
                binds[i].buffer_type = kinds[i] == .date ? MYSQL_TYPE_DATE : kinds[i] == .datetime ? MYSQL_TYPE_DATETIME : MYSQL_TYPE_TIMESTAMP
                binds[i].buffer = UnsafeMutableRawPointer(timePointers + base)
            }
        }
        guard ferry_mysql_stmt_set_array_size(statement, UInt32(rows)) == 0 else { return false }
        let bound = binds.withUnsafeMutableBufferPointer { mysql_stmt_bind_param(statement, $0.baseAddress) }
        return bound == 0 && mysql_stmt_execute(statement) == 0
    }

    /// A decimal integer as the server prints it (an optional minus, then digits), as the 64 bits
    /// to send; nil when the text is anything else or out of range.
    @inline(__always) static func integer(_ p: UnsafePointer<UInt8>, _ n: Int, unsigned: Bool) -> Int64? {
        var i = 0
        let negative = n > 0 && p[0] == 45
        if negative { i = 1 }
        guard n > i, n - i <= 20 else { return nil }
        var value: UInt64 = 0
        while i < n {
            let d = UInt64(p[i] &- 48)
            guard d < 10 else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(d)
            guard !o1, !o2 else { return nil }
            value = sum
            i += 1
        }
        if unsigned { return negative ? (value == 0 ? 0 : nil) : Int64(bitPattern: value) }
        if negative { return value <= UInt64(Int64.max) + 1 ? Int64(bitPattern: 0 &- value) : nil }
        return value <= UInt64(Int64.max) ? Int64(value) : nil
    }

    /// `YYYY-MM-DD` (a date) or `YYYY-MM-DD hh:mm:ss[.f…]` (a datetime), as the server prints them.
    @inline(__always) static func temporal(_ p: UnsafePointer<UInt8>, _ n: Int, date: Bool,
                                           into t: UnsafeMutablePointer<MYSQL_TIME>) -> Bool {
        @inline(__always) func digits(_ at: Int, _ width: Int) -> UInt32? {
            var v: UInt32 = 0
            for k in at..<(at + width) {
                let d = UInt32(p[k] &- 48)
                guard d < 10 else { return nil }
                v = v * 10 + d
            }
            return v
        }
        guard n >= 10, p[4] == 45, p[7] == 45,
              let year = digits(0, 4), let month = digits(5, 2), let day = digits(8, 2) else { return false }
        var hour: UInt32 = 0, minute: UInt32 = 0, second: UInt32 = 0, micro: UInt = 0
        if date {
            guard n == 10 else { return false }
        } else {
            guard n == 19 || (n >= 21 && n <= 26 && p[19] == 46), p[10] == 32, p[13] == 58, p[16] == 58,
                  let h = digits(11, 2), let m = digits(14, 2), let s = digits(17, 2) else { return false }
            hour = h; minute = m; second = s
            if n > 19 {
                guard let fraction = digits(20, n - 20) else { return false }
                var scaled = UInt(fraction)
                for _ in 0..<(26 - n) { scaled *= 10 }
                micro = scaled
            }
        }
        t.pointee = MYSQL_TIME(year: year, month: month, day: day, hour: hour, minute: minute, second: second,
                               second_part: micro, neg: 0, time_type: date ? MYSQL_TIMESTAMP_DATE : MYSQL_TIMESTAMP_DATETIME)
        return true
    }
}

extension MySQLConnection {
    /// Whether `writer`'s server takes array-bound inserts (MariaDB 10.2 and later).
    var takesBulkInserts: Bool { ferry_mysql_bulk_supported(handlePointer) != 0 }

    /// Streams `select` on this connection into `table` on `writer` with array-bound `INSERT`s,
    /// in one transaction (so that MariaDB keeps its bulk-insert mode for an empty table, as for
    /// one `LOAD DATA`). Batches hold at most `batchBytes` of values
    /// and `batchRows` rows. Any failure rolls the transaction back: nothing of the part stays.
    func bulkInsert(select: String, into table: String, columns: [String], kinds: [BulkBatch.Kind], writer: MySQLConnection,
                    batchRows: Int, batchBytes: Int, progress: ProgressCounter) throws -> TransferStats {
        // Bytes travel unconverted: read in each column's own character set, inserted as binary.
        try writer.execute("SET NAMES binary")
        defer { try? writer.execute("SET NAMES utf8mb4") }
        let sql = "INSERT INTO \(table) (\(columns.map(quoteName).joined(separator: ", "))) VALUES (\(columns.map { _ in "?" }.joined(separator: ", ")))"
        guard let statement = mysql_stmt_init(writer.handlePointer) else { throw writer.lastError(sql) }
        defer { mysql_stmt_close(statement) }
        func statementError() -> MySQLServerError {
            MySQLServerError(code: mysql_stmt_errno(statement), message: String(cString: mysql_stmt_error(statement)),
                             statement: "INSERT INTO \(table)")
        }
        if mysql_stmt_prepare(statement, sql, UInt(sql.utf8.count)) != 0 { throw statementError() }
        guard Int(mysql_stmt_param_count(statement)) == columns.count else {
            throw MySQLServerError(code: 0, message: "INSERT INTO \(table) takes \(mysql_stmt_param_count(statement)) values, not \(columns.count)", statement: sql)
        }
        return try withBinaryResult(select) { result in
            guard Int(mysql_num_fields(result)) == columns.count else {
                throw MySQLServerError(code: 0, message: "the SELECT for \(table) returned \(mysql_num_fields(result)) columns, not \(columns.count)", statement: select)
            }
            let batch = BulkBatch(kinds: kinds, rows: batchRows, bytes: batchBytes)
            var stats = TransferStats()
            var pendingBytes: Int64 = 0, pendingRows: Int64 = 0
            try writer.execute("START TRANSACTION")
            var committed = false
            defer { if !committed { try? writer.execute("ROLLBACK") } }
            func flush() throws {
                guard batch.rows > 0 else { return }
                guard batch.execute(statement) else { throw statementError() }
                try writer.throwIfWarned(loading: table, statement: "INSERT")
                stats.rows += Int64(batch.rows)
                stats.bytes += Int64(batch.textBytes)
                pendingRows += Int64(batch.rows)
                pendingBytes += Int64(batch.textBytes)
                if pendingBytes > (4 << 20) {
                    progress.add(bytes: pendingBytes, rows: pendingRows)
                    try progress.checkCancelled()
                    pendingBytes = 0; pendingRows = 0
                }
                batch.reset()
            }
            while let fields = mysql_fetch_row(result), let lengths = mysql_fetch_lengths(result) {
                while true {
                    let used = batch.arenaUsed
                    switch batch.add(fields, lengths) {
                    case .added: break
                    case .full:
                        try flush()
                        continue
                    case .demote(let column):
                        batch.rewind(to: used)
                        try flush()
                        batch.kinds[column] = .bytes
                        continue
                    }
                    break
                }
            }
            if errorCode != 0 { throw lastError("SELECT (streamed to INSERT)") }
            try flush()
            try writer.execute("COMMIT")
            committed = true
            progress.add(bytes: pendingBytes, rows: pendingRows)
            return stats
        }
    }
}
