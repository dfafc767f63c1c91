import CSQLite
import FerryCore
import FerryIO
import Foundation

/// Keeps a `.sql` import inside its shadow file: an import runs only inside its shadow.
///
/// Two layers:
/// - A scan (`check`) of every statement before it runs, and of local files at plan time, read
///   with `SQLLexer` in SQLite's dialect: `ATTACH`, `DETACH` and `VACUUM` (`VACUUM INTO` writes
///   another file) are refused, `load_extension()` is refused, and a `PRAGMA` must be one of
///   `allowedPragmas` (settings of the shadow file itself or read-only reports) on the `main`
///   schema. A refusal is an `ImportError` naming the file and the line.
/// - The engine itself (`confine`): the import's connection allows no attached database
///   (`SQLITE_LIMIT_ATTACHED` 0) and has an authorizer (`sqlite3_set_authorizer`) that denies
///   `ATTACH`, `DETACH`, pragmas outside the list and `load_extension`, whatever the scan missed.
///   Extension loading stays off (SQLite's default).
enum SQLiteImportGuard {
    /// Pragmas a dump may run: they touch only the shadow file or the import's own connection,
    /// or only report. Everything else (`journal_mode`, `locking_mode`, `temp_store_directory`,
    /// `data_store_directory`, `soft_heap_limit`, `hard_heap_limit`, `mmap_size`, `key`,
    /// `wal_checkpoint`, `trusted_schema`, ...) is refused.
    static let allowedPragmas: Set<String> = [
        "application_id", "auto_vacuum", "automatic_index", "busy_timeout", "cache_size", "case_sensitive_like",
        "cell_size_check", "collation_list", "compile_options", "data_version", "defer_foreign_keys", "encoding",
        "foreign_key_check", "foreign_key_list", "foreign_keys", "freelist_count", "function_list",
        "ignore_check_constraints", "incremental_vacuum", "index_info", "index_list", "index_xinfo", "integrity_check",
        "legacy_alter_table", "max_page_count", "module_list", "optimize", "page_count", "page_size", "pragma_list",
        "quick_check", "recursive_triggers", "reverse_unordered_selects", "secure_delete", "synchronous", "table_info",
        "table_list", "table_xinfo", "user_version", "writable_schema", "analysis_limit",
    ]

    /// A statement that holds none of these (any letter case) passes without being read further.

    /// Whether `p` holds one of `words` anywhere, in any letter case (inside strings too), with
    /// glibc's `strcasestr` on each run of bytes between NULs.
    static func mentionsWords(_ p: UnsafeBufferPointer<UInt8>) -> Bool {
        guard p.count > 0 else { return false }
        let copy = UnsafeMutablePointer<CChar>.allocate(capacity: p.count + 1)
        defer { copy.deallocate() }
        UnsafeMutableRawPointer(copy).copyMemory(from: p.baseAddress!, byteCount: p.count)
        copy[p.count] = 0
        return mentionsWords(nulTerminated: copy, count: p.count)
    }

    /// The same on `count` bytes at `base`, where `base[count]` is NUL.
    static func mentionsWords(nulTerminated base: UnsafePointer<CChar>, count: Int) -> Bool {
        var start = base
        let end = base + count
        while start < end {
            let next = memchr(start, 0, end - start).map { UnsafePointer($0.assumingMemoryBound(to: CChar.self)) } ?? end
            for word in textWords where word.withCString({ caseInsensitiveFind(start, $0) }) != nil { return true }
            start = next + 1
        }
        return false
    }

    static let textWords = ["attach", "detach", "vacuum", "pragma", "load_extension"]

    static func refuse(_ what: String, source: String, line: Int) -> FerryError {
        FerryError(.importError, "\(source):\(line): \(what)", hint: "an import runs only inside its own database file; nothing was changed")
    }

    /// Throws `ImportError` when the statement `bytes` (starting on `line` of `source`) would
    /// reach outside the shadow.
    static func check(_ bytes: [UInt8], line: Int, source: String) throws {
        // Most statements (rows) name none of the words the scan looks for: one quick pass.
        if !bytes.withUnsafeBufferPointer(Self.mentionsWords) { return }
        let t = SQLLexer.tokens(bytes, dialect: .sqlite)
        func kw(_ i: Int) -> String? { i >= 0 && i < t.count ? SQLLexer.keyword(t[i], in: bytes) : nil }
        func punct(_ i: Int, _ c: Unicode.Scalar) -> Bool { i >= 0 && i < t.count && SQLLexer.isPunctuation(t[i], c, in: bytes) }
        var starts = [0]
        for i in t.indices where punct(i, ";") { starts.append(i + 1) }
        for s in starts where s < t.count {
            let statementLine = line + t[s].line
            switch kw(s) {
            case "ATTACH", "DETACH":
                throw refuse("\(kw(s)!) reaches another database file and is not allowed in an import", source: source, line: statementLine)
            case "VACUUM":
                throw refuse("VACUUM is not allowed in an import (VACUUM INTO writes another file)", source: source, line: statementLine)
            case "PRAGMA":
                var n = s + 1
                var schema = "main"
                if n + 2 < t.count, punct(n + 1, "."), let name = SQLLexer.identifier(t[n], in: bytes) { schema = name; n += 2 }
                // SQLite takes a string literal for a pragma's name too (`PRAGMA 'journal_mode'`):
                // the message names it either way (w12 F10).
                var token = t[min(n, t.count - 1)]
                if token.kind == .string { token.kind = .doubleQuoted }   // unquoted the same way
                let pragma = (SQLLexer.identifier(token, in: bytes) ?? "").lowercased()
                guard schema.lowercased() == "main" else {
                    throw refuse("PRAGMA \(schema).\(pragma) reaches another schema and is not allowed in an import", source: source, line: statementLine)
                }
                guard allowedPragmas.contains(pragma) else {
                    throw refuse("PRAGMA \(pragma) changes more than the imported database and is not allowed in an import",
                                 source: source, line: statementLine)
                }
            default: break
            }
        }
        // A function's name as SQLite resolves it: any letter case, plain or quoted as an
        // identifier (`"load_extension"`, `[load_extension]`, `` `load_extension` ``), comments
        // or blanks before its `(`.
        for i in t.indices where punct(i + 1, "(") && [.word, .quotedIdentifier, .doubleQuoted].contains(t[i].kind)
            && SQLLexer.identifier(t[i], in: bytes)?.lowercased() == "load_extension" {
            throw refuse("load_extension() loads a library into Ferry and is not allowed in an import", source: source, line: line + t[i].line)
        }
    }

    /// Confines `connection` to its own file for the import (see the type's comment).
    /// Returns the attached-database limit it replaced, for `release`.
    @discardableResult
    static func confine(_ connection: SQLiteConnection) -> Int32 {
        let limit = sqlite3_limit(connection.handle, SQLITE_LIMIT_ATTACHED, 0)
        sqlite3_set_authorizer(connection.handle, { _, action, first, second, third, _ in
            switch action {
            case SQLITE_ATTACH, SQLITE_DETACH:
                return SQLITE_DENY
            case SQLITE_PRAGMA:
                let name = first.map { String(cString: $0).lowercased() } ?? ""
                let schema = third.map { String(cString: $0).lowercased() } ?? "main"
                return SQLiteImportGuard.allowedPragmas.contains(name) && schema == "main" ? SQLITE_OK : SQLITE_DENY
            case SQLITE_FUNCTION:
                let name = second.map { String(cString: $0).lowercased() } ?? ""
                return name == "load_extension" ? SQLITE_DENY : SQLITE_OK
            default:
                return SQLITE_OK
            }
        }, nil)
        return limit
    }

    /// Lifts `confine` (the connection is used for Ferry's own work afterwards).
    static func release(_ connection: SQLiteConnection, attachLimit: Int32) {
        sqlite3_set_authorizer(connection.handle, nil, nil)
        sqlite3_limit(connection.handle, SQLITE_LIMIT_ATTACHED, attachLimit)
    }
}

extension SQLiteEngine {
    /// Scans local `.sql` sources as the import would run them (`SQLiteImportGuard.check`).
    public func importProblems(in sources: [ImportSource], format: ImportFormat, database: String,
                               serverVersion: String?) -> [FerryError] {
        guard format == .sql else { return [] }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: (1 << 20) + 1, alignment: 16)
        defer { buffer.deallocate() }
        // Files that hold none of the words a refusal needs (most dumps of rows) are not split.
        if !sources.contains(where: { source in
            guard case .file = source, let reader = try? SourceOpener.open(source) else { return false }
            defer { reader.close() }
            var tail: [UInt8] = []
            // `buffer` has one byte more than is read into it, for the NUL.
            while let n = try? reader.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<(buffer.count - 1)])), n > 0 {
                buffer[n] = 0
                let chunk = UnsafeBufferPointer(start: buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), count: n)
                // A word across the chunks' border, then the chunk.
                let border = tail + chunk.prefix(16)
                if border.withUnsafeBufferPointer(SQLiteImportGuard.mentionsWords)
                    || SQLiteImportGuard.mentionsWords(nulTerminated: buffer.baseAddress!.assumingMemoryBound(to: CChar.self), count: n) { return true }
                tail = Array(chunk.suffix(16))
            }
            return false
        }) { return [] }
        return SQLStatementReader.firstRefusals(in: sources, dialect: .sqlite) { statement, source in
            try SQLiteImportGuard.check(statement.text, line: statement.line, source: source)
        }
    }
}

/// glibc's `strcasestr` (a GNU extension the Glibc module does not export).
@_silgen_name("strcasestr")
private func caseInsensitiveFind(_ haystack: UnsafePointer<CChar>, _ needle: UnsafePointer<CChar>) -> UnsafeMutablePointer<CChar>?
