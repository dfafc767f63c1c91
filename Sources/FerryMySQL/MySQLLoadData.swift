import CMariaDB
import FerryCore
import Foundation

/// Feeds `LOAD DATA LOCAL INFILE` from a streamed `SELECT` on another connection, through
/// libmariadb's local-infile callbacks: rows are encoded as tab-separated text straight into the
/// client's buffer. Memory holds at most one buffer and one row.
final class LoadFeeder {
    let result: UnsafeMutablePointer<MYSQL_RES>
    let reader: MySQLConnection
    let count: Int
    /// A row that did not fit the last buffer, encoded, and how much of it was handed out.
    var pending: [UInt8] = []
    var offset = 0
    var finished = false
    var rows: Int64 = 0
    var bytes: Int64 = 0
    var readerError: MySQLServerError?
    let progress: ProgressCounter
    var progressRows: Int64 = 0
    var progressBytes: Int64 = 0
    /// Per column: its text never holds a byte that needs an escape (numbers, dates and times).
    let plain: UnsafeMutablePointer<Bool>

    init(result: UnsafeMutablePointer<MYSQL_RES>, reader: MySQLConnection, count: Int, plain: [Bool], progress: ProgressCounter) {
        self.result = result; self.reader = reader; self.count = count; self.progress = progress
        self.plain = .allocate(capacity: max(count, 1))
        for i in 0..<count { self.plain[i] = i < plain.count && plain[i] }
    }

    deinit { plain.deallocate() }

    /// The column types (lower-case `DATA_TYPE`) whose values the server sends as digits, signs,
    /// points, exponents, dashes, colons and spaces only: the numbers, dates and times, copied
    /// without looking for escapes.
    static let plainTypes = MySQLRowEncoder.numericTypes.union(["date", "datetime", "timestamp", "time"])

    /// Encodes one row as tab-separated fields ending in a newline, `\N` for NULL, escaping
    /// backslash, tab, newline and NUL (except in `plain` columns, which hold none of them).
    /// `out` must hold `encodedBound` bytes. A free function over raw pointers: no class state
    /// in the per-byte loop.
    static func encode(_ fields: MYSQL_ROW, _ lengths: UnsafeMutablePointer<UInt>, _ count: Int,
                       plain: UnsafePointer<Bool>, into out: UnsafeMutablePointer<UInt8>) -> Int {
        var w = 0
        for i in 0..<count {
            if i > 0 { out[w] = 9; w += 1 }
            guard let field = fields[i] else { out[w] = 92; out[w + 1] = 78; w += 2; continue }
            let n = Int(lengths[i])
            if plain[i] {
                UnsafeMutableRawPointer(out + w).copyMemory(from: field, byteCount: n)
                w += n
                continue
            }
            field.withMemoryRebound(to: UInt8.self, capacity: max(n, 1)) { p in
                var runStart = 0
                var j = 0
                while j < n {
                    // Eight bytes at a time while none of them needs an escape.
                    if j + 8 <= n && !mayNeedEscape(UnsafeRawPointer(p + j).loadUnaligned(as: UInt64.self)) {
                        j += 8
                        continue
                    }
                    let b = p[j]
                    if b == 92 || b == 9 || b == 10 || b == 0 {
                        if j > runStart { (out + w).update(from: p + runStart, count: j - runStart); w += j - runStart }
                        out[w] = 92
                        out[w + 1] = b == 9 ? 116 : b == 10 ? 110 : b == 0 ? 48 : 92
                        w += 2
                        runStart = j + 1
                    }
                    j += 1
                }
                if n > runStart { (out + w).update(from: p + runStart, count: n - runStart); w += n - runStart }
            }
        }
        out[w] = 10
        return w + 1
    }

    /// Whether any of eight bytes may be a backslash, tab, newline or NUL (the classic test for a
    /// zero byte, on the word XORed with each of them; it has no false negatives).
    @inline(__always) static func mayNeedEscape(_ word: UInt64) -> Bool {
        @inline(__always) func hasZeroByte(_ v: UInt64) -> Bool { (v &- 0x0101_0101_0101_0101) & ~v & 0x8080_8080_8080_8080 != 0 }
        return hasZeroByte(word) || hasZeroByte(word ^ 0x0909_0909_0909_0909) || hasZeroByte(word ^ 0x0A0A_0A0A_0A0A_0A0A)
            || hasZeroByte(word ^ 0x5C5C_5C5C_5C5C_5C5C)
    }

    /// The most bytes `encode` can write for a row (every byte escaped).
    static func encodedBound(_ lengths: UnsafeMutablePointer<UInt>, _ count: Int) -> Int {
        var total = count + 2
        for i in 0..<count { total += 2 * Int(lengths[i]) }
        return total
    }

    func read(into buffer: UnsafeMutablePointer<CChar>, capacity: Int) -> Int {
        let out = UnsafeMutableRawPointer(buffer).assumingMemoryBound(to: UInt8.self)
        var written = 0
        var newRows: Int64 = 0
        // First what is left of a row that did not fit last time.
        if offset < pending.count {
            let n = min(capacity, pending.count - offset)
            pending.withUnsafeBufferPointer { (out).update(from: $0.baseAddress! + offset, count: n) }
            offset += n
            written = n
        }
        while written < capacity && !finished {
            guard let fields = mysql_fetch_row(result), let lengths = mysql_fetch_lengths(result) else {
                if reader.errorCode != 0 { readerError = reader.lastError("SELECT (streamed to LOAD DATA)") }
                finished = true
                break
            }
            newRows += 1
            let bound = Self.encodedBound(lengths, count)
            if bound <= capacity - written {
                written += Self.encode(fields, lengths, count, plain: plain, into: out + written)
                continue
            }
            // Too big for what is left: encode aside and hand out what fits.
            let count = count, plain = plain
            pending = [UInt8](unsafeUninitializedCapacity: bound) { storage, n in
                n = Self.encode(fields, lengths, count, plain: plain, into: storage.baseAddress!)
            }
            let n = min(capacity - written, pending.count)
            pending.withUnsafeBufferPointer { (out + written).update(from: $0.baseAddress!, count: n) }
            offset = n
            written += n
            break
        }
        if offset >= pending.count && pending.count > (1 << 20) { pending = []; offset = 0 }
        rows += newRows
        bytes += Int64(written)
        progressRows += newRows
        progressBytes += Int64(written)
        if progressBytes > (4 << 20) || written == 0 {
            progress.add(bytes: progressBytes, rows: progressRows)
            // A cancelled run ends the LOAD DATA stream with an error: the server aborts the load.
            if progress.cancellation?.isCancelled == true, readerError == nil {
                readerError = MySQLServerError(code: 0, message: "the run was interrupted: the step stopped", statement: "LOAD DATA")
            }
            progressBytes = 0; progressRows = 0
        }
        return readerError == nil ? written : -1
    }
}

private let infileInit: @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Int32 = { ptr, _, userdata in
    ptr?.pointee = userdata
    return 0
}
private let infileRead: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<CChar>?, UInt32) -> Int32 = { ptr, buffer, length in
    guard let ptr, let buffer else { return -1 }
    let feeder = Unmanaged<LoadFeeder>.fromOpaque(ptr).takeUnretainedValue()
    return Int32(feeder.read(into: buffer, capacity: Int(length)))
}
private let infileEnd: @convention(c) (UnsafeMutableRawPointer?) -> Void = { _ in }
private let infileError: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<CChar>?, UInt32) -> Int32 = { ptr, buffer, length in
    guard let ptr, let buffer, length > 0 else { return 2000 }
    let feeder = Unmanaged<LoadFeeder>.fromOpaque(ptr).takeUnretainedValue()
    let message = feeder.readerError?.message ?? "reading the source failed"
    _ = message.withCString { strncpy(buffer, $0, Int(length) - 1) }
    buffer[Int(length) - 1] = 0
    return Int32(feeder.readerError?.code ?? 2000)
}

extension MySQLConnection {
    /// Runs `select` unbuffered (`mysql_use_result`) with results in character set binary, so
    /// every value arrives as the bytes its column stores, and hands the result to `body`.
    func withBinaryResult<T>(_ select: String, _ body: (UnsafeMutablePointer<MYSQL_RES>) throws -> T) throws -> T {
        try execute("SET SESSION character_set_results = binary")
        defer { try? execute("SET SESSION character_set_results = utf8mb4") }
        if mysql_real_query(handlePointer, select, UInt(select.utf8.count)) != 0 { throw lastError(select) }
        guard let result = mysql_use_result(handlePointer) else { throw lastError(select) }
        defer { mysql_free_result(result) }
        return try body(result)
    }

    /// Throws the first warning of the last statement: while loading a copy, a warning means the
    /// server stored something other than what was sent.
    func throwIfWarned(loading table: String, statement: String) throws {
        guard mysql_warning_count(handlePointer) > 0 else { return }
        let warning = (try? query("SHOW WARNINGS LIMIT 1").first) ?? nil
        throw MySQLServerError(code: UInt32(warning?[1] ?? "0") ?? 0,
                               message: "loading \(table) changed data: \(warning?[2] ?? "a warning")", statement: statement)
    }

    /// Streams `select` on this connection into `LOAD DATA LOCAL INFILE` on `writer`.
    /// `columns` are the target column names, `types` their lower-case data types (BIT columns
    /// are selected as numbers).
    func loadData(select: String, into table: String, columns: [String], types: [String], writer: MySQLConnection,
                  progress: ProgressCounter) throws -> TransferStats {
        let bit = types.map { $0 == "bit" }
        var list: [String] = []
        var sets: [String] = []
        for (i, name) in columns.enumerated() {
            if bit[i] { list.append("@ferry_bit\(i)"); sets.append("\(quoteName(name)) = CAST(@ferry_bit\(i) AS UNSIGNED)") }
            else { list.append(quoteName(name)) }
        }
        var sql = "LOAD DATA LOCAL INFILE 'ferry-stream' INTO TABLE \(table) CHARACTER SET binary FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (\(list.joined(separator: ", ")))"
        if !sets.isEmpty { sql += " SET " + sets.joined(separator: ", ") }
        // Bytes travel unconverted: read in each column's own character set, loaded as binary.
        return try withBinaryResult(select) { result in
            let feeder = LoadFeeder(result: result, reader: self, count: Int(mysql_num_fields(result)),
                                    plain: types.map(LoadFeeder.plainTypes.contains), progress: progress)
            let unmanaged = Unmanaged.passRetained(feeder)
            defer { unmanaged.release() }
            mysql_set_local_infile_handler(writer.handlePointer, infileInit, infileRead, infileEnd, infileError, unmanaged.toOpaque())
            defer { mysql_set_local_infile_default(writer.handlePointer) }
            let status = mysql_real_query(writer.handlePointer, sql, UInt(sql.utf8.count))
            if let error = feeder.readerError { throw error }
            if status != 0 { throw writer.lastError("LOAD DATA INTO \(table)") }
            try writer.throwIfWarned(loading: table, statement: "LOAD DATA")
            // The statement ends when the file does; drain any rows the server did not ask for.
            if !feeder.finished {
                throw MySQLServerError(code: 0, message: "LOAD DATA into \(table) stopped before the source's last row", statement: "LOAD DATA")
            }
            return TransferStats(bytes: feeder.bytes, rows: feeder.rows)
        }
    }
}
