import FerryCore
import FerryIO
import Foundation

/// `SHOW CREATE` of an object made under a client character set other than UTF-8 is not one
/// text in one character set: MariaDB sends it declared in the object's `character_set_client`,
/// but writes some of its parts from the data dictionary in UTF-8 (MariaDB 10.11, checked
/// byte by byte with `character_set_results = binary`):
/// - an event: everything before its `DO` (definer, name, comment); its body is in the client's;
/// - a procedure or function: its `COMMENT` (definer, name, parameters and body are the client's);
/// - a trigger: its `DEFINER` (the rest is the statement as it was sent);
/// - a view: nothing (all in the client's).
/// Read over a utf8mb4 connection those parts come out double-encoded (`eé` as `eÃ©`), and made
/// again from that text the object got the mangled name or comment (fresh tester w26, H2). The
/// text is mended here: those parts are taken as the server wrote them (UTF-8), the rest as
/// the server converted it, so the text holds the object's real characters, and sent in the
/// client character set it makes the same object again.
extension MySQLSession {
    /// Whether text made under `charset` can hold parts of another encoding (`SHOW CREATE`'s).
    static func mixesEncodings(_ charset: String) -> Bool {
        let name = charset.lowercased()
        return !name.isEmpty && !name.hasPrefix("utf8") && name != "binary"
    }

    /// `text` (`SHOW CREATE`'s text of `kind` `name`, read in utf8mb4) with the parts the server
    /// wrote in UTF-8 taken as UTF-8; `text` itself when nothing needs mending or the text is not
    /// laid out as expected.
    func mendedShownText(_ text: String, kind: String, name: String, schema: String, column: Int,
                         charsetClient: String, on c: MySQLConnection) throws -> String {
        guard ["EVENT", "PROCEDURE", "FUNCTION", "TRIGGER"].contains(kind), Self.mixesEncodings(charsetClient),
              !text.utf8.allSatisfy({ $0 < 0x80 }) else { return text }
        let results = try c.scalar("SELECT @@SESSION.character_set_results") ?? "utf8mb4"
        try c.execute("SET SESSION character_set_results = binary")
        let raw: [UInt8]?
        do {
            raw = try c.queryBytes("SHOW CREATE \(kind) \(qualified(schema, name))").first.flatMap { $0.count > column ? $0[column] : nil }
            try c.execute("SET SESSION character_set_results = \(Self.settingName(results) ?? "utf8mb4")")
        } catch {
            try? c.execute("SET SESSION character_set_results = \(Self.settingName(results) ?? "utf8mb4")")
            // Dropped since it was read: the text read stands (the caller finds it gone).
            if let error = error as? MySQLServerError, Self.vanishedCodes.contains(error.code) || error.code == 1602 { return text }
            throw error
        }
        guard let raw else { return text }
        let shown = Array(text.utf8)
        switch kind {
        case "EVENT":
            guard let r = Self.eventBody(raw), let m = Self.eventBody(shown),
                  let head = String(validating: raw[..<r], as: UTF8.self) else { return text }
            return head + String(decoding: shown[m...], as: UTF8.self)
        case "TRIGGER":
            guard let r = Self.definerEnd(raw), let m = Self.definerEnd(shown),
                  let head = String(validating: raw[..<r], as: UTF8.self) else { return text }
            return head + String(decoding: shown[m...], as: UTF8.self)
        default:
            guard let r = Self.routineComment(raw), let m = Self.routineComment(shown),
                  let comment = String(validating: raw[r], as: UTF8.self) else { return text }
            // Only the routine's own comment (the first such line could be its body's when it
            // has none).
            let kept = try c.scalar("SELECT ROUTINE_COMMENT FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = \(c.literal(schema)) AND ROUTINE_TYPE = \(c.literal(kind)) AND BINARY ROUTINE_NAME = BINARY \(c.literal(name))")
            guard let kept, !kept.isEmpty, Self.unescaped(Array(comment.utf8)) == Array(kept.utf8) else { return text }
            return String(decoding: shown[..<m.lowerBound], as: UTF8.self) + comment + String(decoding: shown[m.upperBound...], as: UTF8.self)
        }
    }

    /// Where the end of a quoted part starting at `i` (its opening quote) is: the index after
    /// its closing quote. Backticks and double quotes double themselves; single quotes also
    /// take a backslash escape.
    static func quotedEnd(_ b: [UInt8], from i: Int) -> Int? {
        let q = b[i]
        var k = i + 1
        while k < b.count {
            if q == UInt8(ascii: "'"), b[k] == UInt8(ascii: "\\") { k += 2; continue }
            if b[k] == q {
                if k + 1 < b.count, b[k + 1] == q { k += 2; continue }
                return k + 1
            }
            k += 1
        }
        return nil
    }

    /// The index of the `DO` that starts an event's body in `SHOW CREATE EVENT`'s text.
    static func eventBody(_ b: [UInt8]) -> Int? {
        func isWord(_ x: UInt8) -> Bool { (x >= 0x30 && x <= 0x39) || ((x | 0x20) >= 0x61 && (x | 0x20) <= 0x7A) || x == 0x5F || x >= 0x80 }
        var k = 0
        while k < b.count {
            let x = b[k]
            if x == UInt8(ascii: "`") || x == UInt8(ascii: "'") || x == UInt8(ascii: "\"") {
                guard let end = quotedEnd(b, from: k) else { return nil }
                k = end
                continue
            }
            if (x | 0x20) == UInt8(ascii: "d"), k + 1 < b.count, (b[k + 1] | 0x20) == UInt8(ascii: "o"),
               k > 0, b[k - 1] == 0x20, k + 2 < b.count, !isWord(b[k + 2]) {
                return k
            }
            k += 1
        }
        return nil
    }

    /// The index right after the account of a trigger's `CREATE DEFINER=user@host` (the part
    /// MariaDB writes in UTF-8), or nil when the text does not start so.
    static func definerEnd(_ b: [UInt8]) -> Int? {
        let key = Array("DEFINER=".utf8)
        let head = Array(b.prefix(64)).map { ($0 >= 0x61 && $0 <= 0x7A) ? $0 - 0x20 : $0 }
        guard head.count >= key.count,
              let at = (0...(head.count - key.count)).first(where: { Array(head[$0..<($0 + key.count)]) == key }) else { return nil }
        var k = at + key.count
        func identifier() -> Bool {
            guard k < b.count else { return false }
            if b[k] == UInt8(ascii: "`") || b[k] == UInt8(ascii: "'") || b[k] == UInt8(ascii: "\"") {
                guard let end = quotedEnd(b, from: k) else { return false }
                k = end
                return true
            }
            let start = k
            while k < b.count, b[k] != 0x20, b[k] != UInt8(ascii: "@") { k += 1 }
            return k > start
        }
        guard identifier() else { return nil }
        if k < b.count, b[k] == UInt8(ascii: "@") {
            k += 1
            guard identifier() else { return nil }
        }
        return k
    }

    /// The range of a routine's comment literal (with its quotes) in `SHOW CREATE`'s text: the
    /// characteristic line `    COMMENT '...'` the server writes before the body.
    static func routineComment(_ b: [UInt8]) -> Range<Int>? {
        let pattern = Array("\n    COMMENT '".utf8)
        guard b.count > pattern.count else { return nil }
        for k in 0...(b.count - pattern.count) where b[k] == 0x0A && Array(b[k..<(k + pattern.count)]) == pattern {
            let open = k + pattern.count - 1
            guard let end = quotedEnd(b, from: open) else { return nil }
            return open..<end
        }
        return nil
    }

    /// A single-quoted literal's value (quotes off, backslash escapes and doubled quotes read
    /// as the server reads them: `unescapedBody`).
    static func unescaped(_ literal: [UInt8]) -> [UInt8] {
        guard literal.count >= 2 else { return literal }
        return MySQLDefinitionText.unescapedBody(literal[1..<(literal.count - 1)], quote: literal[0], backslashEscapes: true)
    }
}

extension MySQLSession {
    /// An import statement as UTF-8 text (its names read as the server reads them), when the
    /// import session's `character_set_client` (`c`'s) is not UTF-8 and the statement names
    /// something (`CREATE`, `DROP`, `ALTER`, `RENAME`, `CALL`) with bytes outside ASCII; nil when
    /// it needs no reading. (A byte the set does not hold comes out as `?`, as the server reads it.)
    func readableNames(_ bytes: [UInt8], dialect: SQLDialect, on c: MySQLConnection) throws -> [UInt8]? {
        guard bytes.count <= 1 << 20, bytes.contains(where: { $0 >= 0x80 }) else { return nil }
        let verb = Self.firstKeyword(bytes, dialect: dialect)
        guard ["CREATE", "DROP", "ALTER", "RENAME", "CALL"].contains(verb ?? "") else { return nil }
        guard let charset = try c.scalar("SELECT @@SESSION.character_set_client").flatMap(Self.settingName),
              Self.mixesEncodings(charset) else { return nil }
        return try Self.recoded(bytes, from: charset, to: "utf8mb4", on: connection)
    }

    /// `bytes` read in character set `from` and written in `to`, by the server; nil when it
    /// gives nothing.
    static func recoded(_ bytes: [UInt8], from: String, to: String, on c: MySQLConnection) throws -> [UInt8]? {
        guard let from = settingName(from), let to = settingName(to) else { return nil }
        let digits = Array("0123456789ABCDEF".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(bytes.count * 2)
        for b in bytes { hex.append(digits[Int(b >> 4)]); hex.append(digits[Int(b & 0x0F)]) }
        let literal = bytes.isEmpty ? "''" : "X'" + String(decoding: hex, as: UTF8.self) + "'"
        guard let out = try c.scalar("SELECT HEX(CONVERT(CONVERT(\(literal) USING \(from)) USING \(to)))") else { return nil }
        var result: [UInt8] = []
        result.reserveCapacity(out.utf8.count / 2)
        var high: UInt8?
        for digit in out.utf8 {
            let value = digit <= 0x39 ? digit - 0x30 : (digit | 0x20) - 0x61 + 10
            if let h = high { result.append(h << 4 | value); high = nil } else { high = value }
        }
        return result
    }
}

/// A routine, trigger or event stored with another database collation than its database's
/// default is made while the database's default is that collation (`executeAsMade`: MariaDB
/// stores the default of the object's database, and nothing else sets it). Inside a swap or its
/// undo the switch is journaled in the run's own journal first (`CollationSwitchJournal`), then
/// noted in Ferry's claims schema with the run's tag, before the first `ALTER DATABASE`; the
/// switch back is journaled and the note forgotten after the second. A pass after a kill
/// between them puts the database's own default back (fresh tester w26, H1) only when it is the
/// run's own pass (the note's run tag; a note an unlock released is anyone's) and has proved the
/// database still the one the run switched (the undo's checks come first: fresh tester round
/// 14, A7, a database made again with the switched-to collation was altered); a journaled
/// switch whose note is gone while the default is not the one the journal says the database
/// had stops the undo before it changes anything (A1: "as they were before" with the default
/// left switched).
struct CollationSwitchJournal {
    /// The swap's target: the only database whose switches are journaled.
    var database: String
    /// The run's tag (`MySQLSession.runTag(of:)` of the swap's shadow).
    var run: String
    /// Appends a note to the run's journal (nil: a caller without one; the claims schema's note
    /// alone then).
    var journal: ((String) throws -> Void)?
    /// The notes journaled so far (earlier passes' and this one's), in order.
    var notes: [String]

    struct Note: Codable, Equatable {
        var collationSwitch = 1
        var db: String
        var own: String
        var to: String
        /// The switch back is done.
        var back: Bool
    }

    static func decode(_ note: String) -> Note? { try? JSONDecoder().decode(Note.self, from: Data(note.utf8)) }
    static func encode(_ note: Note) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(note)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// The switch of `schema` the journal says began and did not end, if any.
    func open(of schema: String) -> Note? {
        guard schema == database, let last = notes.compactMap(Self.decode).last(where: { $0.db == schema }), !last.back else { return nil }
        return last
    }

    mutating func append(_ note: Note) throws {
        let text = Self.encode(note)
        try journal?(text)
        notes.append(text)
    }
}

extension MySQLSession {
    static let collationSwitchesTable = "collation_switches"

    public func swap(_ record: SwapRecord, journaling journal: @escaping (String) throws -> Void) throws -> SwapRecord {
        let outer = switchJournal
        switchJournal = CollationSwitchJournal(database: record.database, run: Self.runTag(of: record.shadow) ?? "", journal: journal, notes: record.notes ?? [])
        defer { switchJournal = outer }
        return try swap(record)
    }

    public func undoSwap(_ record: SwapRecord, journaling journal: @escaping (String) throws -> Void) throws {
        let outer = switchJournal
        switchJournal = CollationSwitchJournal(database: record.database, run: Self.runTag(of: record.shadow) ?? "", journal: journal, notes: record.notes ?? [])
        defer { switchJournal = outer }
        try undoSwap(record)
    }

    /// The run tag a note of a switch of `schema` carries: the swap's (its target), or the run
    /// of a shadow or checkpoint; "" for none.
    func switchRun(of schema: String) -> String {
        if let j = switchJournal, j.database == schema { return j.run }
        return Self.runTag(of: schema) ?? ""
    }

    /// The claims schema's table of notes, made (or brought to this release's form: a run
    /// column, one note per database and run) when `creating`; nil when it is not there.
    func collationSwitchesTable(creating: Bool) throws -> String? {
        let meta: String
        if creating { meta = try ensureMeta() } else {
            guard let found = try metaSchemaName(marking: false), try baseTables(found).contains(Self.collationSwitchesTable) else { return nil }
            meta = found
        }
        let table = qualified(meta, Self.collationSwitchesTable)
        if creating {
            try connection.execute("CREATE TABLE IF NOT EXISTS \(table) (db VARCHAR(64) NOT NULL, run VARCHAR(64) NOT NULL DEFAULT '', own_collation VARCHAR(64) NOT NULL, switched_to VARCHAR(64) NOT NULL, noted_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (db, run)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")
        }
        let columns = Set(try connection.query("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = \(connection.literal(meta)) AND TABLE_NAME = \(connection.literal(Self.collationSwitchesTable))").compactMap { $0[0] })
        if !columns.contains("run") {
            // An earlier release's notes: no run, anyone's to settle ('').
            try connection.execute("ALTER TABLE \(table) ADD COLUMN run VARCHAR(64) NOT NULL DEFAULT '' AFTER db, DROP PRIMARY KEY, ADD PRIMARY KEY (db, run)")
        }
        return table
    }

    func noteCollationSwitch(of schema: String, own: String, to collation: String) throws {
        // Journaled first (the run's own journal): a pass of the run knows of the switch even
        // when the claims schema loses its note.
        if var j = switchJournal, j.database == schema {
            try j.append(.init(db: schema, own: own, to: collation, back: false))
            switchJournal = j
        }
        guard let table = try collationSwitchesTable(creating: true) else { return }
        // A note already there (a killed pass's of the same run) keeps the database's own default.
        try connection.execute("INSERT INTO \(table) (db, run, own_collation, switched_to) VALUES (\(connection.literal(schema)), \(connection.literal(switchRun(of: schema))), \(connection.literal(own)), \(connection.literal(collation))) ON DUPLICATE KEY UPDATE switched_to = VALUES(switched_to)")
    }

    /// After the switch back: journaled (a failure leaves the journal's switch open, which a
    /// later pass finds settled: the default is the database's own), then the note goes.
    func forgetCollationSwitch(of schema: String, own: String, to collation: String) throws {
        if var j = switchJournal, j.database == schema {
            try? j.append(.init(db: schema, own: own, to: collation, back: true))
            switchJournal = j
        }
        guard let table = try collationSwitchesTable(creating: false) else { return }
        try connection.execute("DELETE FROM \(table) WHERE db = \(connection.literal(schema)) AND run = \(connection.literal(switchRun(of: schema)))")
    }

    /// Refuses, before anything changes, a pass of a run whose journal says a switch of
    /// `schema`'s default collation began and did not end, when the claims schema holds no
    /// note of it for the run and the default is not the one the journal says it had: Ferry
    /// cannot tell its own switch from a default someone set since (or a database made again).
    func refuseUnprovedCollationSwitch(of schema: String) throws {
        guard let open = switchJournal?.open(of: schema) else { return }
        let now = try connection.scalar("SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = \(connection.literal(schema))")
        guard let now, now.lowercased() != open.own.lowercased() else { return }
        let run = switchRun(of: schema)
        if let table = try collationSwitchesTable(creating: false),
           try !connection.query("SELECT 1 FROM \(table) WHERE db = \(connection.literal(schema)) AND run IN (\(connection.literal(run)), '')").isEmpty {
            return
        }
        throw FerryError(.copyError, "cannot tell whether the default collation of \(schema) on \(instanceName) (\(now) now) is still the one this run set for a moment: its journal says it set it from \(open.own) to \(open.to) to make a routine, trigger or event as it was made and was cut short before it set it back, and Ferry's note of that switch in its claims schema is gone (or \(schema) was made again since); nothing was changed in \(schema)",
                         hint: "check the default collation of \(schema) (`SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '\(schema)'`): it was \(open.own) before the run; if nobody set \(now) since, set it back (`ALTER DATABASE \(quoteName(schema)) COLLATE \(open.own)`), then run `ferry recover` again",
                         instance: instanceName)
    }

    /// Puts back the default collation of `schema` a noted switch of this run's (or, in a pass
    /// whose journal says it began that switch, one an unlock released) left, when it is still the switched one (one someone set since is theirs and
    /// stays), and forgets the note; notes of databases gone are forgotten too. Another run's
    /// note is left to that run. Called where the caller has proved `schema` the database the
    /// switch was made in (the undo's checks, a shadow of the run, the swap's target).
    func settleCollationSwitch(of schema: String) throws {
        try refuseUnprovedCollationSwitch(of: schema)
        guard let table = try collationSwitchesTable(creating: false) else { return }
        let c = connection, run = switchRun(of: schema)
        let rows = try c.query("SELECT own_collation, switched_to, run FROM \(table) WHERE db = \(c.literal(schema)) AND run IN (\(c.literal(run)), '') ORDER BY run DESC")
        guard !rows.isEmpty else { return }
        var now = try c.scalar("SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = \(c.literal(schema))")
        // The run's own journal, written before the note, outranks the note's values for the
        // run's own note: the claims schema is a table anyone with rights there can edit (fresh
        // tester round 15, B1: an edited `own_collation` set a default the database never had,
        // an edited `switched_to` left the switch, both "as they were before").
        let journaled = switchJournal?.open(of: schema)
        // A note that is anyone's ('': released by `ferry unlock --claims`, or an earlier
        // release's) is acted on only by a pass whose own journal says it switched `schema`
        // and did not switch back (the released run's own recover). Any other run cannot tell
        // the released switch from a default someone set since or a database made again with
        // it (fresh tester round 18, E4c: a later run's swap set an application's database
        // back), so it leaves a note still matching the default, and forgets one that does not.
        var kept: [String] = []
        for row in rows {
            let runs = !run.isEmpty && (row[2] ?? nil) == run
            if !runs, journaled == nil {
                if let current = now, let switched = row[1] ?? nil, current.lowercased() == switched.lowercased() {
                    kept.append(row[2] ?? "")
                }
                continue
            }
            let own = runs ? journaled.map(\.own) ?? (row[0] ?? nil) : (row[0] ?? nil)
            let switchedTo = runs ? journaled.map(\.to) ?? (row[1] ?? nil) : (row[1] ?? nil)
            if let current = now, let own = own.flatMap(Self.settingName), let switched = switchedTo,
               current.lowercased() == switched.lowercased(), own.lowercased() != current.lowercased() {
                try c.execute("ALTER DATABASE \(quoteName(schema)) COLLATE \(own)")
                now = own
            }
        }
        if var j = switchJournal, let open = j.open(of: schema) {
            try? j.append(.init(db: schema, own: open.own, to: open.to, back: true))
            switchJournal = j
        }
        let forgotten = kept.contains("") ? [run] : [run, ""]
        try c.execute("DELETE FROM \(table) WHERE db = \(c.literal(schema)) AND run IN (\(forgotten.map { c.literal($0) }.joined(separator: ", ")))")
        try c.execute("DELETE FROM \(table) WHERE db NOT IN (SELECT SCHEMA_NAME FROM information_schema.SCHEMATA)")
    }

    /// `ferry unlock --claims`: the notes of run `tag` become anyone's ('').
    func releaseCollationSwitches(ofRunTag tag: String) throws {
        guard !tag.isEmpty, let table = try collationSwitchesTable(creating: false) else { return }
        try connection.execute("UPDATE IGNORE \(table) SET run = '' WHERE run = \(connection.literal(tag))")
    }

    /// The notes of run `tag`'s switches still in place: database, own default, switched one.
    func collationSwitchesLeft(ofRunTag tag: String) throws -> [(db: String, own: String, now: String)] {
        guard let table = try collationSwitchesTable(creating: false) else { return [] }
        return try connection.query("SELECT n.db, n.own_collation, s.DEFAULT_COLLATION_NAME FROM \(table) n JOIN information_schema.SCHEMATA s ON s.SCHEMA_NAME = n.db WHERE n.run = \(connection.literal(tag)) AND LOWER(s.DEFAULT_COLLATION_NAME) = LOWER(n.switched_to) AND LOWER(n.own_collation) <> LOWER(n.switched_to) ORDER BY n.db").compactMap { row in
            guard row.count > 2, let db = row[0], let own = row[1], let now = row[2] else { return nil }
            return (db: db, own: own, now: now)
        }
    }
}
