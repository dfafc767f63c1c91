import FerryIO
import Foundation

/// The head of a trigger's DDL as `SHOW CREATE TRIGGER` gives it, and where an order clause goes.
///
/// MariaDB keeps the user's own text from the trigger's name on (any spacing, case, quoting and
/// comments), after `CREATE DEFINER=...`, and leaves out the `FOLLOWS` / `PRECEDES` clause it
/// was made with. Its shape (MariaDB Knowledge Base, "CREATE TRIGGER"):
/// `CREATE [OR REPLACE] [DEFINER=...] TRIGGER [IF NOT EXISTS] [db.]name {BEFORE|AFTER}
/// {INSERT|UPDATE|DELETE} ON [db.]table FOR EACH ROW [{FOLLOWS|PRECEDES} other] body`.
/// Read through Ferry's one SQL lexer (`SQLLexer`) and `MySQLDefinitionText.definition`.
struct MySQLTriggerHeader: Equatable {
    /// The table's name (the last part, unquoted), as the text names it.
    var table: String
    /// `BEFORE` or `AFTER`.
    var timing: String
    /// `INSERT`, `UPDATE` or `DELETE`.
    var event: String
    /// The byte offset just past `ROW`: where an order clause goes.
    var end: Int
    /// The bytes of the `ON` clause's table name, qualifier and quotes included.
    var tableBytes: Range<Int> = 0..<0

    /// The head of `ddl` read under `sqlMode` (its `ANSI_QUOTES` and `NO_BACKSLASH_ESCAPES`), or
    /// nil when `ddl` has not that shape (nothing is guessed then).
    static func parse(_ ddl: String, sqlMode: String) -> MySQLTriggerHeader? {
        let bytes = Array(ddl.utf8)
        let modes = Set(sqlMode.uppercased().split(separator: ",").map(String.init))
        let dialect = SQLDialect.mysql(version: nil).quoting(noBackslashEscapes: modes.contains("NO_BACKSLASH_ESCAPES"),
                                                              ansiQuotes: modes.contains("ANSI_QUOTES"))
        let t = SQLLexer.tokens(bytes, dialect: dialect)
        guard let definition = MySQLDefinitionText.definition(in: bytes, tokens: t, dialect: dialect),
              definition.kind == "TRIGGER", !definition.isAlter, let nameToken = definition.nameToken else { return nil }
        var i = nameToken + 1
        func word(_ expected: Set<String>) -> String? {
            guard i < t.count, let w = SQLLexer.keyword(t[i], in: bytes), expected.contains(w) else { return nil }
            i += 1
            return w
        }
        guard let timing = word(["BEFORE", "AFTER"]), let event = word(["INSERT", "UPDATE", "DELETE"]), word(["ON"]) != nil,
              i < t.count, MySQLDefinitionText.isName(t[i]) else { return nil }
        let tableStart = t[i].start
        while i + 2 < t.count, SQLLexer.isPunctuation(t[i + 1], ".", in: bytes), MySQLDefinitionText.isName(t[i + 2]) { i += 2 }
        guard let table = MySQLDefinitionText.unquoted(t[i], in: bytes, dialect: dialect) else { return nil }
        i += 1
        let tableEnd = t[i - 1].end
        guard word(["FOR"]) != nil, word(["EACH"]) != nil, word(["ROW"]) != nil else { return nil }
        return MySQLTriggerHeader(table: table, timing: timing, event: event, end: t[i - 1].end, tableBytes: tableStart..<tableEnd)
    }

    /// `ddl` with its `ON` clause's table written the other ways MariaDB may keep it: bare
    /// (where the name needs no quotes) and in backquotes, without a qualifier. A `RENAME
    /// TABLE` of the trigger's table rewrites that clause in the trigger's stored statement
    /// (`ON db.o` becomes ``ON `o2` ``, and ``ON `o` `` once renamed back): the same trigger,
    /// another text (fresh tester rounds 65, F3, and 67, F6). Empty when `ddl` has not the
    /// shape `parse` reads.
    static func tableSpellings(of ddl: String, sqlMode: String) -> [String] {
        guard let header = parse(ddl, sqlMode: sqlMode) else { return [] }
        let bytes = Array(ddl.utf8)
        let head = String(decoding: bytes[..<header.tableBytes.lowerBound], as: UTF8.self)
        let tail = String(decoding: bytes[header.tableBytes.upperBound...], as: UTF8.self)
        var names = [quoteName(header.table)]
        let plain = header.table.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F || $0 == 0x24 }
        if plain, !header.table.isEmpty, !header.table.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) { names.append(header.table) }
        return names.map { head + $0 + tail }.filter { $0 != ddl }
    }

    /// `ddl` with `PRECEDES other` after its head, or nil when it has none (`parse`).
    static func precedes(_ other: String, in ddl: String, sqlMode: String) -> String? {
        guard let header = parse(ddl, sqlMode: sqlMode) else { return nil }
        let bytes = Array(ddl.utf8)
        return String(decoding: bytes[..<header.end], as: UTF8.self) + " PRECEDES " + quoteName(other)
            + String(decoding: bytes[header.end...], as: UTF8.self)
    }
}
