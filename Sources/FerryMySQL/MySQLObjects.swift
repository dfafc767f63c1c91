import FerryCore
import Foundation

/// A view, routine, trigger or event, as DDL that creates it in the current database.
struct SchemaObject: Codable, Hashable {
    /// Equal when they make the same object (`original` and `readFrom` say only where it was read).
    static func == (a: SchemaObject, b: SchemaObject) -> Bool {
        (a.kind, a.name, a.sqlMode, a.ddl, a.timeZone) == (b.kind, b.name, b.sqlMode, b.ddl, b.timeZone)
            && (a.charsetClient, a.collationConnection, a.databaseCollation) == (b.charsetClient, b.collationConnection, b.databaseCollation)
    }
    func hash(into hasher: inout Hasher) {
        for part in [kind, name, sqlMode, ddl, timeZone, charsetClient, collationConnection, databaseCollation] { hasher.combine(part) }
    }

    var kind: String   // PROCEDURE, FUNCTION, VIEW, TRIGGER, EVENT
    var name: String
    var sqlMode: String
    var ddl: String
    /// Events only: the time zone their schedule's times are written in (`SHOW CREATE EVENT`).
    var timeZone: String = ""
    /// The session settings it was made under, as `SHOW CREATE` reports them: the client
    /// character set and connection collation (every kind: a string literal in its body takes
    /// them, so `'a' = 'A'` answers by them), and the database collation (routines, triggers and
    /// events: their parameters and variables without a character set take it). Empty: not
    /// known (saved by an earlier release); made again then under Ferry's own (utf8mb4).
    var charsetClient: String = ""
    var collationConnection: String = ""
    var databaseCollation: String = ""
    /// The DDL as the server keeps it (`SHOW CREATE`, qualifiers kept) and the database it was
    /// read from: made again in that same database, the object gets this text back (a trigger's
    /// `SQL Original Statement`, a routine's body), not `ddl` (fresh tester round 11, F1).
    var original: String = ""
    var readFrom: String = ""

    /// Whether its settings are known (read from the server, or saved by this release).
    var hasSettings: Bool { !(charsetClient.isEmpty && collationConnection.isEmpty && databaseCollation.isEmpty) }

    /// The text that makes it again in `schema`: `original` when it was read from `schema` and
    /// `ddl` is still its text (`ddl` without the qualifiers of `readFrom`: nothing rewrote it
    /// since, such as a new definer), else `ddl`.
    func text(in schema: String) -> String {
        guard !original.isEmpty, readFrom == schema,
              MySQLSession.removingQualifier(readFrom, from: original) == ddl else { return ddl }
        return original
    }
}

/// Views, routines, triggers and events, and the swap that moves a shadow in.
///
/// Tables move atomically in one `RENAME TABLE`. Views, routines, triggers and events cannot move
/// between schemas, so the swap saves their DDL in a `__ferry_objects_<run>` table (in the shadow for the
/// new ones, in the checkpoint for the original ones), takes them out (the target's triggers and
/// events as witnesses before the rename, its views and routines after it: `MySQLSwapWitness`),
/// renames the tables, and recreates the new ones in the target. A rollback recreates the original ones from the
/// checkpoint. Qualifiers naming the object's own schema are removed from the DDL so that it binds
/// to whichever schema it is created in.
///
/// Events never run in a shadow: a copy creates them there `DISABLE`d (and an import parks each one
/// it creates as `DISABLE ON SLAVE` while its file runs, so that a later change by the file shows:
/// `settleEvents`), keeping the status they should have in the shadow's `__ferry_events_<run>`
/// table. `objects(in:)` reports a shadow's events with that status, so the swap creates them in
/// the target as the source had them (`ENABLE`, `DISABLE` or `DISABLE ON SLAVE`); a rollback
/// recreates the original events from the checkpoint with their own DDL and status.
extension MySQLSession {
    func objects(in schema: String, qualifier: String?, on c: MySQLConnection? = nil, named: String? = nil) throws -> [SchemaObject] {
        let c = c ?? connection
        let lit = c.literal(schema)
        // `named`: only objects of that name (as the server compares names), read afresh.
        func only(_ column: String) -> String { named.map { " AND \(column) = \(c.literal($0))" } ?? "" }
        func clean(_ ddl: String) -> String { Self.removingQualifier(schema, from: ddl) }
        // The settings it was made under, at `SHOW CREATE`'s columns `at` (client character set,
        // connection collation, database collation when the kind has one), and its own text.
        func object(_ kind: String, _ name: String, sqlMode: String, ddl raw: String, timeZone: String = "", _ show: [String?], at i: Int, database: Bool = true) -> SchemaObject {
            func at(_ k: Int) -> String { show.count > k ? show[k] ?? "" : "" }
            return SchemaObject(kind: kind, name: name, sqlMode: sqlMode, ddl: clean(raw), timeZone: timeZone,
                                charsetClient: at(i), collationConnection: at(i + 1), databaseCollation: database ? at(i + 2) : "",
                                original: raw, readFrom: schema)
        }
        // An object dropped between the listing and its `SHOW CREATE` is not there: left out
        // (fresh tester round 7, F2: an application's `DROP TRIGGER` in that moment failed the
        // swap with 1360, and its undo then made the dropped triggers again). A trigger file
        // read while another session rewrites it (1602) is read again.
        func show(_ sql: String) throws -> [String?]? {
            for attempt in 0..<20 {
                do { return try c.query(sql).first } catch let error as MySQLServerError where Self.vanishedCodes.contains(error.code) {
                    return nil
                } catch let error as MySQLServerError where error.code == 1602 && attempt < 19 {
                    Thread.sleep(forTimeInterval: 0.02)
                }
            }
            return nil
        }
        // Its text with the parts the server wrote in UTF-8 read as UTF-8 (`mendedShownText`).
        func mended(_ kind: String, _ name: String, _ show: [String?], ddl column: Int, client i: Int) throws -> String {
            let text = show.count > column ? show[column] ?? "" : ""
            return try mendedShownText(text, kind: kind, name: name, schema: schema, column: column,
                                       charsetClient: show.count > i ? show[i] ?? "" : "", on: c)
        }
        var result: [SchemaObject] = []
        for row in try c.query("SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = \(lit)\(only("ROUTINE_NAME")) ORDER BY ROUTINE_TYPE, ROUTINE_NAME") {
            guard let kind = row[0], let name = row[1] else { continue }
            guard let show = try show("SHOW CREATE \(kind) \(qualified(schema, name))") else { continue }
            result.append(object(kind, name, sqlMode: show[1] ?? "", ddl: try mended(kind, name, show, ddl: 2, client: 3), show, at: 3))
        }
        for row in try c.query("SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = \(lit)\(only("TABLE_NAME")) ORDER BY TABLE_NAME, BINARY TABLE_NAME") {
            guard let name = row[0], let show = try show("SHOW CREATE VIEW \(qualified(schema, name))") else { continue }
            result.append(object("VIEW", name, sqlMode: "", ddl: show[1] ?? "", show, at: 2, database: false))
        }
        for row in try c.query("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = \(lit)\(only("TRIGGER_NAME")) ORDER BY EVENT_OBJECT_TABLE, BINARY EVENT_OBJECT_TABLE, ACTION_ORDER") {
            guard let name = row[0], let show = try show("SHOW CREATE TRIGGER \(qualified(schema, name))") else { continue }
            result.append(object("TRIGGER", name, sqlMode: show[1] ?? "", ddl: try mended("TRIGGER", name, show, ddl: 2, client: 3), show, at: 3))
        }
        let events = try c.query("SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = \(lit)\(only("EVENT_NAME")) ORDER BY EVENT_NAME")
        if !events.isEmpty {
            let intended = try parkedEventStatuses(in: schema, on: c)
            for row in events {
                guard let name = row[0], let show = try show("SHOW CREATE EVENT \(qualified(schema, name))") else { continue }
                var made = object("EVENT", name, sqlMode: show[1] ?? "", ddl: try mended("EVENT", name, show, ddl: 3, client: 4), timeZone: show[2] ?? "", show, at: 4)
                if let status = intended[name] {
                    made.ddl = Self.event(made.ddl, withStatus: status)
                    made.original = Self.event(made.original, withStatus: status)
                }
                result.append(made)
            }
        }
        return result
    }

    /// `ddl` without the qualifiers that name `schema` (quoted or not, as schema qualifiers only:
    /// `MySQLQualifiers`), outside strings and comments, so that the object binds to whichever
    /// schema it is created in. The same rewrite as an import's (one tokenizer for both).
    static func removingQualifier(_ schema: String, from ddl: String) -> String {
        String(decoding: MySQLQualifiers.removing(schema, from: Array(ddl.utf8)), as: UTF8.self)
    }

    // MARK: Events

    /// Where `SHOW CREATE EVENT` writes the status (`ENABLE`, `DISABLE`, `DISABLE ON SLAVE`): right
    /// after `ON COMPLETION [NOT] PRESERVE`, which the server always prints.
    static func eventStatus(in ddl: String) -> (range: Range<String.Index>, status: String)? {
        let completion = [" ON COMPLETION NOT PRESERVE ", " ON COMPLETION PRESERVE "]
            .compactMap { ddl.range(of: $0) }.min { $0.lowerBound < $1.lowerBound }
        guard let completion else { return nil }
        let rest = ddl[completion.upperBound...]
        for status in ["DISABLE ON SLAVE", "ENABLE", "DISABLE"] where rest.hasPrefix(status) {
            let end = ddl.index(completion.upperBound, offsetBy: status.count)
            if end == ddl.endIndex || ddl[end] == " " { return (completion.upperBound..<end, status) }
        }
        return nil
    }

    /// The event DDL with its status replaced (unchanged when the status cannot be found).
    static func event(_ ddl: String, withStatus status: String) -> String {
        guard let found = eventStatus(in: ddl) else { return ddl }
        var result = ddl
        result.replaceSubrange(found.range, with: status)
        return result
    }

    /// The status each parked event of `schema` should get when it leaves the shadow.
    func parkedEventStatuses(in schema: String, on c: MySQLConnection? = nil) throws -> [String: String] {
        let c = c ?? connection
        let events = Self.ownTable(Self.eventsTable, in: schema)
        guard Self.runTag(of: schema) != nil, try baseTables(schema, on: c).contains(events) else { return [:] }
        var result: [String: String] = [:]
        for row in try c.query("SELECT name, status FROM \(qualified(schema, events))") {
            if let name = row[0], let status = row[1] { result[name] = status }
        }
        return result
    }

    func recordParkedEvent(_ name: String, status: String, in schema: String, on c: MySQLConnection) throws {
        let table = qualified(schema, Self.ownTable(Self.eventsTable, in: schema))
        try c.execute("CREATE TABLE IF NOT EXISTS \(table) (name VARCHAR(64) NOT NULL PRIMARY KEY, status VARCHAR(32) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE utf8mb4_bin")
        try c.execute("REPLACE INTO \(table) VALUES (\(c.literal(name)), \(c.literal(status)))")
    }

    /// Forgets the recorded statuses of parked events `names` (dropped by an import's file).
    func forgetParkedEvents(_ names: [String], in schema: String) throws {
        let events = Self.ownTable(Self.eventsTable, in: schema)
        guard !names.isEmpty, try baseTables(schema).contains(events) else { return }
        let c = connection
        try c.execute("DELETE FROM \(qualified(schema, events)) WHERE name IN (\(names.map { c.literal($0) }.joined(separator: ", ")))")
    }

    /// Moves the recorded status of parked event `name` to `newName` (an `ALTER EVENT ... RENAME
    /// TO` of an import).
    func renameParkedEvent(_ name: String, to newName: String, in schema: String) throws {
        let events = Self.ownTable(Self.eventsTable, in: schema)
        guard try baseTables(schema).contains(events) else { return }
        let table = qualified(schema, events), c = connection
        try c.execute("DELETE FROM \(table) WHERE name = \(c.literal(newName)) AND EXISTS (SELECT 1 FROM (SELECT name FROM \(table) WHERE name = \(c.literal(name))) AS old)")
        try c.execute("UPDATE \(table) SET name = \(c.literal(newName)) WHERE name = \(c.literal(name))")
    }

    /// `only`: drops just the objects whose list entry (`builtEntry`) it accepts (the ones a
    /// check just counted as Ferry's: one made by someone else after that check stays).
    /// Returns the entries it dropped (one gone before its `DROP`, dropped by someone else, is
    /// not among them). `willDrop` runs before each `DROP` (the swap records its intent there).
    @discardableResult
    func dropObjects(in schema: String, only: ((String) -> Bool)? = nil, on c: MySQLConnection? = nil,
                     unlessReplaced: ((SchemaObject) -> Bool)? = nil,
                     willDrop: ((String) throws -> Void)? = nil) throws -> Set<String> {
        let c = c ?? connection
        var dropped = Set<String>()
        for object in try objects(in: schema, qualifier: nil, on: c) where only?(Self.builtEntry(kind: object.kind, name: object.name)) ?? true {
            let entry = Self.builtEntry(kind: object.kind, name: object.name)
            if let unlessReplaced {
                // Read again just before its DROP: one an application replaced since the undo's
                // check (fresh tester round 10, F7: a view replaced as `ferry rollback` began was
                // dropped, and the rollback said "as before") stops the undo, left as it is.
                let now = try objects(in: schema, qualifier: nil, on: c, named: object.name).filter { $0.kind == object.kind && $0.name == object.name }
                if let current = now.first, !unlessReplaced(current) {
                    throw FerryError(.wrongStatus, "\(schema) on \(instanceName) holds \(Self.listing([entry])), which the run did not swap in (an application replaced it during this undo\(object.kind == "TRIGGER" ? ", or renamed the table it is on: the server then names the new table in it" : "")), so the undo stopped before dropping it: the rest (the run's objects out, the target's own back) waits until that object is gone",
                                     hint: "save its definition, drop it, then run `ferry recover` (the rollback then finishes) and make it again where you want it",
                                     instance: instanceName)
                }
            }
            try willDrop?(entry)
            do {
                try c.execute("DROP \(object.kind) \(qualified(schema, object.name))")
                dropped.insert(entry)
            } catch let error as MySQLServerError where Self.vanishedCodes.contains(error.code) {
                continue
            }
        }
        return dropped
    }

    /// "Does not exist": a routine (1305), a view or table (1051, 1146, MariaDB's `Unknown VIEW`
    /// 4092: round-11 fresh tester F6 read it as an `Internal` error), a trigger (1360), an event
    /// (1539), a package (1305).
    static let vanishedCodes: Set<UInt32> = [1305, 1051, 1146, 1360, 1539, 4092]

    /// Creates objects in `schema`: routines, then views in an order that works, then triggers,
    /// then events. `parkingEvents` (a shadow): events are created `DISABLE`d, the status they
    /// should have recorded in `__ferry_events_<run>`.
    ///
    /// `keepingOthers` (a copy's build into its shadow): an object of the same name already there
    /// is not dropped first; the create fails on it, and `MySQLObjectTaken` names it (someone
    /// else's object, made in the shadow during the build: fresh tester W6-1); `made` is told
    /// each object its own CREATE made (the copy lists it then: W7-7), `making` each one right
    /// before its CREATE (the copy lists it as about to be made: rounds 46 and 47, M3).
    func createObjects(_ objects: [SchemaObject], in schema: String, parkingEvents: Bool = false, keepingOthers: Bool = false,
                       on c: MySQLConnection? = nil, settling: Bool = true, making: ((SchemaObject) throws -> Void)? = nil,
                       made: ((SchemaObject) throws -> Void)? = nil) throws {
        let c = c ?? connection
        // A switch of its default collation an earlier pass left (killed between the two
        // `ALTER DATABASE`s) is undone before anything reads the default as its own. Not by a
        // caller under a gate's `LOCK TABLES` (`settling` false: its `ALTER DATABASE` on this
        // session's own connection waited for the gate's lock, which waited for it: an undo of
        // a pass killed with a switch left hung).
        if settling { try settleCollationSwitch(of: schema) }
        try c.execute("USE \(quoteName(schema))")
        defer {
            try? c.execute("SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'")
            try? c.execute("SET SESSION time_zone = '+00:00'")
        }
        // Each object is made under the client character set, connection collation and
        // database collation it was made under (as `mariadb-dump` makes them): under Ferry's own
        // (utf8mb4) a procedure's `'a' = 'A'` made under latin1_bin answered otherwise after a
        // rollback (fresh tester round 11, F1).
        func create(_ object: SchemaObject) throws {
            if !keepingOthers {
                if object.kind == "VIEW" {
                    try c.execute("DROP VIEW IF EXISTS \(quoteName(object.name))")
                } else {
                    try c.execute("DROP \(object.kind) IF EXISTS \(quoteName(object.name))")
                }
            }
            try c.execute("SET SESSION sql_mode = \(c.literal(object.sqlMode))")
            if !object.timeZone.isEmpty { try c.execute("SET SESSION time_zone = \(c.literal(object.timeZone))") }
            let text = object.text(in: schema)
            try making?(object)
            if keepingOthers {
                do { try executeAsMade(text, object, in: schema, on: c) } catch let error as MySQLServerError where MySQLObjectTaken.codes.contains(error.code) {
                    throw MySQLObjectTaken(entry: Self.builtEntry(kind: object.kind, name: object.name), error: error)
                }
                try made?(object)
                return
            }
            try executeAsMade(text, object, in: schema, on: c)
            try made?(object)
        }
        for object in objects where object.kind == "PROCEDURE" || object.kind == "FUNCTION" { try create(object) }
        var views = objects.filter { $0.kind == "VIEW" }
        while !views.isEmpty {
            var failed: [SchemaObject] = []
            var lastError: Error?
            for view in views {
                do { try create(view) } catch let taken as MySQLObjectTaken { throw taken } catch { failed.append(view); lastError = error }
            }
            if failed.count == views.count, let lastError { throw lastError }
            views = failed
        }
        for object in objects where object.kind == "TRIGGER" { try create(object) }
        for var object in objects where object.kind == "EVENT" {
            if parkingEvents, let found = Self.eventStatus(in: object.ddl), found.status != "DISABLE" {
                try recordParkedEvent(object.name, status: found.status, in: schema, on: c)
                object.ddl.replaceSubrange(found.range, with: "DISABLE")
                object.original = Self.event(object.original, withStatus: "DISABLE")
            }
            try create(object)
        }
    }

    /// Whether making `object` in a database whose default collation is `databaseCollation`
    /// switches that default first (`executeAsMade`): a routine, trigger or event stored with
    /// another one.
    static func needsCollationSwitch(_ object: SchemaObject, from databaseCollation: String?) -> Bool {
        guard let collation = settingName(object.databaseCollation), object.kind != "VIEW" else { return false }
        return collation.lowercased() != databaseCollation?.lowercased()
    }

    /// The tables (as the triggers' text names them) that `objects`' triggers are on.
    static func triggerTables(of objects: [SchemaObject]) -> [String] {
        var tables: [String] = []
        for object in objects where object.kind == "TRIGGER" {
            if let table = triggerTable(object), !tables.contains(table) { tables.append(table) }
        }
        return tables
    }

    /// The table a trigger's text names (`MySQLTriggerHeader`), or nil.
    static func triggerTable(_ object: SchemaObject) -> String? {
        object.kind == "TRIGGER" ? MySQLTriggerHeader.parse(object.ddl, sqlMode: object.sqlMode)?.table : nil
    }

    /// `objects`' triggers on `table`, in their order (`folds`: names compared without case,
    /// `lower_case_table_names` not 0).
    static func triggers(of objects: [SchemaObject], on table: String, folds: Bool) -> [SchemaObject] {
        objects.filter { object in
            guard let on = triggerTable(object) else { return false }
            return folds ? on.lowercased() == table.lowercased() : on == table
        }
    }

    /// Runs `statement` (a `CREATE` or `ALTER` of `object`) in `schema` on `c` under the client
    /// character set and connection collation `object` was made under and, for a routine,
    /// trigger or event, with the database collation it was stored with as `schema`'s default
    /// (the server stores all three with the object, an `ALTER EVENT` too); the session's own
    /// settings and the database's own default come back right after. The statement is sent
    /// in that character set. Settings not known (empty): Ferry's own.
    func executeAsMade(_ statement: String, _ object: SchemaObject, in schema: String, on c: MySQLConnection) throws {
        let now = try c.query("SELECT @@SESSION.character_set_client, @@SESSION.collation_connection, (SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = \(c.literal(schema)))").first ?? []
        let ownClient = now.first ?? nil, ownCollation = now.count > 1 ? now[1] : nil
        let databaseCollation = now.count > 2 ? now[2] : nil
        var bytes = try Self.bytes(of: statement, in: object.charsetClient, on: c)
        let collation = Self.settingName(object.databaseCollation)
        let altering = Self.needsCollationSwitch(object, from: databaseCollation)
        let back = databaseCollation.flatMap(Self.settingName)
        if altering, let collation {
            // Noted first (in Ferry's claims schema), so that a pass after a kill before the
            // switch back puts the database's own default back (`settleCollationSwitch`): a
            // recovery took the switched one for the database's own and kept it (fresh tester
            // w26, H1).
            // Inside a swap or its undo, journaled in the run's own journal before that (fresh
            // tester round 14, A1: the note alone, dropped, left the default switched).
            if let back { try noteCollationSwitch(of: schema, own: back, to: collation) }
            try c.execute("ALTER DATABASE \(quoteName(schema)) COLLATE \(collation)")
            KillPoint.check("change:mysql.objects.collationSwitched")
        }
        defer {
            if altering, let back, let collation, (try? c.execute("ALTER DATABASE \(quoteName(schema)) COLLATE \(back)")) != nil {
                try? forgetCollationSwitch(of: schema, own: back, to: collation)
            }
        }
        if let client = Self.settingName(object.charsetClient), let connection = Self.settingName(object.collationConnection) {
            try c.execute("SET SESSION character_set_client = \(client), SESSION collation_connection = \(connection)")
        }
        defer {
            if let ownClient, let ownCollation {
                try? c.execute("SET SESSION character_set_client = \(c.literal(ownClient)), SESSION collation_connection = \(c.literal(ownCollation))")
            }
        }
        try c.execute(bytes: &bytes, describe: "\(object.kind) \(object.name)")
    }

    /// `ALTER EVENT`s `statement` on event `name` of `schema`, under the settings the event has
    /// now (`executeAsMade`): an `ALTER EVENT` stores the session's as the event's.
    func alterEvent(_ name: String, in schema: String, _ statement: String, on c: MySQLConnection) throws {
        let row = try c.query("SELECT CHARACTER_SET_CLIENT, COLLATION_CONNECTION, DATABASE_COLLATION FROM information_schema.EVENTS WHERE EVENT_SCHEMA = \(c.literal(schema)) AND EVENT_NAME = \(c.literal(name))").first ?? []
        func at(_ i: Int) -> String { row.count > i ? row[i] ?? "" : "" }
        let event = SchemaObject(kind: "EVENT", name: name, sqlMode: "", ddl: "", charsetClient: at(0), collationConnection: at(1), databaseCollation: at(2))
        try executeAsMade(statement, event, in: schema, on: c)
    }

    /// A character set or collation name as `SHOW CREATE` gives it, fit to write unquoted into
    /// `SET` or `ALTER DATABASE` (letters, digits, `_`), or nil (empty: not known).
    static func settingName(_ name: String) -> String? {
        guard !name.isEmpty, name.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F }) else { return nil }
        return name
    }

    /// `text` (as Ferry reads it: UTF-8) as bytes in client character set `charset`, which the
    /// server reads it in once the session's `character_set_client` is that: ASCII and UTF-8
    /// text as they are; any other, converted by the server (`CONVERT ... USING`), so a latin1
    /// routine's `'é'` is the same letter again. Call with the session's own character set.
    static func bytes(of text: String, in charset: String, on c: MySQLConnection) throws -> [UInt8] {
        let utf8 = Array(text.utf8)
        guard let charset = settingName(charset), !charset.lowercased().hasPrefix("utf8"), !utf8.allSatisfy({ $0 < 0x80 }) else { return utf8 }
        guard let hex = try c.scalar("SELECT HEX(CONVERT(\(c.literal(text)) USING \(charset)))") else { return utf8 }
        var out: [UInt8] = []
        out.reserveCapacity(hex.utf8.count / 2)
        var high: UInt8?
        for digit in hex.utf8 {
            let value = digit <= 0x39 ? digit - 0x30 : (digit | 0x20) - 0x61 + 10
            if let h = high { out.append(h << 4 | value); high = nil } else { high = value }
        }
        return out
    }

    /// Saves the objects of `schema` into `store.__ferry_objects_<run>` (once, atomically, with a
    /// completion row). The target's (no `listed`) stay where they are for now (`MySQLSwapWitness`);
    /// a shadow's are dropped from it. `listed` (a shadow's swap: its build's
    /// list, `builtEntries`): only the objects it names are saved and dropped; any other (an
    /// application's, made in the shadow after the swap's check: fresh tester W6-3) stays where it is.
    func stageObjects(of schema: String, into store: String, listed: Set<String>? = nil) throws {
        let isListed = try listedFilter(listed)
        let table = try makeObjectsTable(Self.objectsTable, in: store)
        // The target's objects (no `listed`): the note of what the swap drops, made before
        // anything is, so that an undo after a kill anywhere from here knows it dropped nothing.
        let dropping = qualified(store, Self.ownTable(Self.droppingTable, in: store))
        if listed == nil {
            try connection.execute("CREATE TABLE IF NOT EXISTS \(dropping) (entry VARCHAR(200) NOT NULL PRIMARY KEY) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE utf8mb4_bin")
        }
        if try stagedObjects(in: store) == nil {
            let list = try objects(in: schema, qualifier: nil).filter { isListed(Self.builtEntry(kind: $0.kind, name: $0.name)) }
            try connection.execute("START TRANSACTION")
            try insertSaved(list, into: table)
            if listed == nil { try connection.execute("INSERT IGNORE INTO \(dropping) VALUES (\(connection.literal(Self.witnessesHeld)))") }
            try connection.execute("COMMIT")
        }
        guard listed != nil else {
            // The target's objects are only saved here: the swap replaces its triggers and events
            // by witnesses before its rename and takes out the rest after it (`MySQLSwapWitness`,
            // fresh tester round 8, F1), each noted before it goes.
            KillPoint.check("change:mysql.objects.saved")
            return
        }
        for object in try objects(in: schema, qualifier: nil) where isListed(Self.builtEntry(kind: object.kind, name: object.name)) {
            try connection.execute("DROP \(object.kind) IF EXISTS \(qualified(schema, object.name))")
        }
    }

    /// Makes `store`'s table `role` (`objectsTable`, `undoneObjectsTable`) that keeps saved
    /// objects, and returns its qualified name.
    func makeObjectsTable(_ role: String, in store: String) throws -> String {
        let table = qualified(store, Self.ownTable(role, in: store))
        try connection.execute("CREATE TABLE IF NOT EXISTS \(table) (ord INT NOT NULL PRIMARY KEY, kind VARCHAR(16) NOT NULL, name VARCHAR(64) NOT NULL, sql_mode TEXT NOT NULL, ddl LONGTEXT NOT NULL, time_zone VARCHAR(64) NOT NULL DEFAULT '') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
        // Each object's session settings and its own text (`SchemaObject`), in columns of their
        // own (a table an earlier release made gets them here, empty for what it saved).
        try connection.execute("ALTER TABLE \(table) \(Self.savedSettingsColumns.map { "ADD COLUMN IF NOT EXISTS \($0) \($0 == "original_ddl" ? "LONGTEXT" : "VARCHAR(200)") NOT NULL DEFAULT ''" }.joined(separator: ", "))")
        return table
    }

    /// Writes `list` into the saved-objects `table` in place of what it held, then its
    /// completion row (the caller's transaction makes the two one).
    func insertSaved(_ list: [SchemaObject], into table: String) throws {
        try connection.execute("DELETE FROM \(table)")
        for (i, o) in list.enumerated() {
            let settings = [o.charsetClient, o.collationConnection, o.databaseCollation, o.original, o.readFrom].map { connection.literal($0) }.joined(separator: ", ")
            try connection.execute("INSERT INTO \(table) (ord, kind, name, sql_mode, ddl, time_zone, \(Self.savedSettingsColumns.joined(separator: ", "))) VALUES (\(i + 1), \(connection.literal(o.kind)), \(connection.literal(o.name)), \(connection.literal(o.sqlMode)), \(connection.literal(o.ddl)), \(connection.literal(o.timeZone)), \(settings))")
        }
        try connection.execute("INSERT INTO \(table) (ord, kind, name, sql_mode, ddl, time_zone) VALUES (0, 'COMPLETE', '', '', '', '')")
    }

    /// Whether an entry (`builtEntry`) is on `listed` (nil: no list, everything counts), names
    /// compared as the server compares them.
    func listedFilter(_ listed: Set<String>?) throws -> (String) -> Bool {
        guard let listed else { return { _ in true } }
        guard try connection.scalar("SELECT @@lower_case_table_names") != "0" else { return { listed.contains($0) } }
        let folded = Set(listed.map { $0.lowercased() })
        return { folded.contains($0.lowercased()) }
    }

    /// The entries the swap noted in `store` as dropping from the target (`stageObjects`); nil
    /// when it kept no note (an earlier release).
    func droppedEntries(in store: String) throws -> Set<String>? {
        let table = Self.ownTable(Self.droppingTable, in: store)
        guard Self.runTag(of: store) != nil, try baseTables(store).contains(table) else { return nil }
        return Set(try connection.query("SELECT entry FROM \(qualified(store, table))").compactMap { $0[0] })
    }

    /// The objects saved in `store`, or nil when none were saved completely.
    func stagedObjects(in store: String, role: String = objectsTable) throws -> [SchemaObject]? {
        let objects = Self.ownTable(role, in: store)
        guard Self.runTag(of: store) != nil, try baseTables(store).contains(objects) else { return nil }
        // `*`: tables saved before events were copied have no time_zone column; before the
        // session settings were saved, none of theirs (`savedSettingsColumns`, read by name).
        let table = qualified(store, objects)
        let rows = try connection.query("SELECT * FROM \(table) ORDER BY ord")
        guard rows.first?[1] == "COMPLETE" else { return nil }
        let columns = Set(try connection.query("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = \(connection.literal(store)) AND TABLE_NAME = \(connection.literal(objects))").compactMap { $0[0] })
        var settings: [Int: [String]] = [:]
        if Self.savedSettingsColumns.allSatisfy(columns.contains) {
            for row in try connection.query("SELECT ord, \(Self.savedSettingsColumns.joined(separator: ", ")) FROM \(table) WHERE ord > 0") {
                if let ord = row[0].flatMap({ Int($0) }) { settings[ord] = row.dropFirst().map { $0 ?? "" } }
            }
        }
        return rows.dropFirst().map {
            let saved = settings[$0[0].flatMap { Int($0) } ?? -1] ?? ["", "", "", "", ""]
            return SchemaObject(kind: $0[1] ?? "", name: $0[2] ?? "", sqlMode: $0[3] ?? "", ddl: $0[4] ?? "", timeZone: $0.count > 5 ? $0[5] ?? "" : "",
                                charsetClient: saved[0], collationConnection: saved[1], databaseCollation: saved[2], original: saved[3], readFrom: saved[4])
        }
    }

    /// The columns of `__ferry_objects_<run>` that keep an object's session settings and its
    /// own text (`SchemaObject`), in this order.
    static let savedSettingsColumns = ["charset_client", "collation_connection", "db_collation", "original_ddl", "read_from"]

    /// One `RENAME TABLE` of all `moves`, opened with the run's `statementTag` (the run of
    /// `schema`, a shadow or checkpoint), so that a recovery after a kill finds it still running.
    func renameAll(_ moves: [(from: String, to: String)], of schema: String) throws {
        guard !moves.isEmpty else { return }
        do {
            try connection.execute((Self.runTag(of: schema).map { Self.statementTag(runTag: $0) } ?? "") + "RENAME TABLE " + moves.map { "\($0.from) TO \($0.to)" }.joined(separator: ", "))
        } catch let error as MySQLServerError where error.code == 1435 {
            throw try triggersInTheWay(of: moves.map(\.from), error)   // fresh tester W7-5
        }
    }

    public func swap(_ record: SwapRecord) throws -> SwapRecord {
        return try run(.copyError, "cannot swap \(record.shadow) in as \(record.database) on \(instanceName)") {
            let d = record.database, s = record.shadow
            // 0. Nothing outside the target may move with its tables (the plan checked; a foreign
            // key or package added since is found here, before anything changes).
            if record.targetExisted, let c = record.checkpoint,
               try !(schemaExists(c) && baseTables(c).contains(Self.ownTable(Self.markerTable, in: s))) {
                let problems = try swapProblems(of: d)
                if !problems.isEmpty {
                    throw FerryError(.copyError, "cannot swap \(s) in as \(d) on \(instanceName): \(problems.joined(separator: "; "))",
                                     hint: "drop or move that object yourself first", instance: instanceName)
                }
            }
            // Nothing the build did not make moves in with the shadow's tables (an application's
            // table made between the verify and the swap): checked while they are still there.
            if try schemaExists(s), try stagedObjects(in: s) == nil {
                try refuseNotBuilt(in: s, .wrongStatus, "swapped in")
            }
            KillPoint.check("change:mysql.swap.checked")
            var writtenDuringSwap: String?
            // What the target holds right after the swap: the verify's data part with the
            // definitions read now (a copy's `finish` may have added keys after the verify read
            // them), kept in the shadow too, so a later drop of the shadow can prove it is Ferry's.
            var token = record.afterSwapToken
            if try schemaExists(s), try stagedObjects(in: s) == nil {
                if let known = token { token = try self.token(known, withDefinitionsOf: s) ?? known }
                if let token { try recordToken(token, in: s) }
            }
            // 1. The new objects leave the shadow (saved there). Only what its build listed moves,
            // objects and tables alike: anything made in the shadow after the check above (an
            // application's: fresh tester W6-3) stays in it, and the shadow is then left.
            let listed = try schemaExists(s) ? try builtEntries(in: s) : nil
            let isListed = try listedFilter(listed)
            func shadowTables() throws -> [String] { try userTables(s).filter { isListed(Self.builtEntry(kind: "TABLE", name: $0)) } }
            if try schemaExists(s) { try stageObjects(of: s, into: s, listed: listed) }
            // The tables it moves in, journaled with its objects: an undo moves back only those
            // (fresh tester round 10, F8: a table an application made in a target it dropped
            // and made again was moved into the shadow).
            let movedIn = try schemaExists(s) ? try shadowTables() : []
            guard let staged = try stagedObjects(in: s) else {
                throw FerryError(.copyError, "shadow \(s) is missing on \(instanceName)", instance: instanceName)
            }
            var movedOut: [String]?
            // An append's target's triggers taken off before its hold (not under the dropper's):
            // when and how many, said once the appended tables have theirs (fresh tester round 57,
            // M2). (A replace has no hold: what is written into the old tables goes with them.)
            var offBeforeHold: (since: Date, count: Int)?
            // A replace's (`offBeforeHold` too): the rows written into the old tables then went
            // into the checkpoint, not live (fresh tester round 64, H1: said nowhere, and a
            // rollback made them live "as before").
            var offBeforeRename = false
            // The moved tables' definitions at the check (`heldTablesDefinitions`): compared once
            // more after the rename (an ALTER under way as the hold began lands between the hold's
            // release and the rename: fresh tester round 58, H1).
            var tablesBefore: String?
            // The tables that get triggers, kept from writers from the rename until those are made
            // (`MySQLRenameGate`; fresh tester round 45, H1).
            var gate: MySQLRenameGate?
            defer { gate?.releaseAll() }
            // When the rename moved the build into a target that existed.
            var renamedAt: Date?
            // When the rename let writers into the moved tables (`renameBegan`): the late
            // triggers' window begins there.
            var renameTookEffect: Date?
            if record.targetExisted, let c = record.checkpoint {
                // 2. The original objects are saved in the checkpoint (taken out around the rename).
                try createSchema(c, like: try schemaCharset(d))
                KillPoint.check("change:mysql.swap.checkpointMade")   // tests: the target untouched yet
                // Shadow and checkpoint carry the same run tag: the marker keeps its name as it moves.
                let marker = Self.ownTable(Self.markerTable, in: s)
                if try !baseTables(c).contains(marker) {
                    // The tables' definitions alone, read before the check below (which proves
                    // them the snapshot's), are checked again under the rename's hold (round 57, H2).
                    let tablesDefinitions = record.expectedTargetToken.flatMap(Self.dataPart) != nil
                        ? try heldTablesDefinitions(d, excluding: [Self.ownTable(Self.witnessTable, in: c)]) : nil
                    tablesBefore = tablesDefinitions
                    try stageObjects(of: d, into: c)
                    KillPoint.check("change:mysql.swap.objectsSaved")   // tests: saved, the target untouched yet
                    // An append's target must still have the definitions its snapshot read: a
                    // view, routine, trigger or event an application made after the core's
                    // check was saved above as the target's own, and the swap took it out of the
                    // live target (fresh tester round 56, H2: "Apply complete!", the view kept
                    // only in the checkpoint). Read after the save: one made later is not saved,
                    // so it stays in the target.
                    if let expected = record.expectedTargetToken, Self.dataPart(of: expected) != nil,
                       let was = expected.split(separator: ":").last, try definitionsDigest(of: d) != was {
                        throw FerryError(.wrongStatus, "\(d) on \(instanceName) was changed during the run, after the append's snapshot (a table's definition, or a view, routine, trigger or event, was made, changed or dropped), so the append was not swapped in: nothing was renamed, and the target is as it was written",
                                         hint: "apply again when nothing changes it (the next run starts from what it holds then)", instance: instanceName)
                    }
                    // Its triggers (MariaDB renames no table with one into another database) and
                    // events leave the target as witnesses: nothing else of it changes before the
                    // rename, so a swap that stops here leaves the target its own objects.
                    // A hold that would wait (an open transaction on a table) waits here, while
                    // the target still has its triggers (round 46, H2), in bounded tries that let
                    // writers go: not a `DROP TRIGGER` or a `RENAME` waiting without end with
                    // every writer of that table behind it (fresh tester round 48, F4: 43.7 s).
                    try awaitHoldable(d)
                    // Its triggers come off in the rename's hold (`renameHolding`: after its
                    // check, so a refused append leaves them on; fresh tester round 46, H2), or
                    // here, before the rename, where there is no hold.
                    let triggersToTake = try witnessEvents(of: d, store: c)
                    var triggersOff: (since: Date, count: Int)?
                    let held = record.expectedTargetToken.flatMap(Self.dataPart) != nil
                    let taken = Set(triggersToTake.map(\.name))
                    let triggered = Set(try connection.query("SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = \(connection.literal(d))")
                        .compactMap { row in row[0].flatMap { taken.contains($0) ? row[1] : nil } })
                    KillPoint.check("change:mysql.swap.witnessed")
                    try refuseBuildNamesTaken(in: d, store: c, staged: staged)
                    try connection.execute("CREATE TABLE IF NOT EXISTS \(qualified(s, marker)) (x INT) ENGINE=InnoDB")
                    // The shadow's `NEXTVAL` defaults name the target's sequences, which the rename
                    // replaces by the shadow's: right from the rename they name the live ones (M2).
                    try bindDefaultsAhead(of: s, to: d)
                    // 3. One atomic RENAME: originals out, shadow tables in, marker along.
                    let originals = try tablesToMove(from: d, store: c)
                    try recordMovedOut(originals, from: d, in: c)
                    KillPoint.check("change:mysql.swap.movedOutNoted")   // tests: an ALTER here finishes before the rename
                    try refuseTargetDropped(d, had: nil)
                    var moves = originals.map { (qualified(d, $0), qualified(c, $0)) }
                    moves += try shadowTables().map { (qualified(s, $0), qualified(d, $0)) }
                    moves.append((qualified(s, marker), qualified(c, marker)))
                    // Checked and renamed under one hold of the target against writers (an
                    // append's: `renameHolding`; fresh tester round 43, F3: a write between the
                    // core's check and the rename went into the checkpoint).
                    do {
                        gate = try renameHolding(d, unchanged: record.expectedTargetToken, excluding: [Self.ownTable(Self.witnessTable, in: c)],
                                                 gating: Self.triggerTables(of: staged), sources: [c, s], moves: moves, of: s,
                                                 // A replace's too (fresh tester round 63, H1: taken off before
                                                 // its rename, with no hold, rows written into the old tables
                                                 // then went into the checkpoint unfired, and a rollback put
                                                 // them back live "as before").
                                                 takingOff: !triggersToTake.isEmpty ? { dropper in
                                                     triggersOff = try self.takeTriggersOff(triggersToTake, of: d, store: c, droppingOn: dropper)
                                                     // On this session's connection: before the hold (no dropper).
                                                     // (A replace's rows then go out with the old tables.)
                                                     if dropper === self.connection { offBeforeHold = triggersOff; offBeforeRename = !held }
                                                 } : nil,
                                                 triggered: triggered,
                                                 // A replace's triggers off before its hold: whether rows
                                                 // reached the old tables meanwhile, noted before the rename.
                                                 underHold: { if offBeforeRename { try self.noteRowsWrittenWhileOff(in: d, store: c) } },
                                                 definitions: tablesDefinitions) { why in
                            // The swap took the target's triggers off before its hold (round 46,
                            // H2, L1): a row written in that time fired none, so the words say so.
                            let off = triggersOff.map { Self.triggersOffPhrase(count: $0.count, since: $0.since) } ?? ""
                            // A replace's hold (for its gates) checks only that its tables are the ones it moves.
                            guard held else {
                                return FerryError(.wrongStatus, "\(d) on \(instanceName) changed during the swap (\(why), found under the swap's hold), so the run's build was not swapped in: nothing was renamed",
                                                  hint: "apply again when nothing makes or drops tables in it", instance: instanceName)
                            }
                            return FerryError(.wrongStatus, "\(d) on \(instanceName) was written during the run, after the append's snapshot (\(why), found under the swap's hold), so the append was not swapped in: nothing was renamed, and the target is as it was written\(off)",
                                              hint: "apply again when nothing writes into it (the next run starts from what it holds then)", instance: instanceName,
                                              reason: triggersOff == nil ? nil : .triggersOffBeforeHold)
                        }
                    } catch var error as FerryError where triggersOff != nil && error.diagnostics.first.map({ ($0.reason == nil || $0.reason == .inTheWayForNow) && !$0.message.contains(Recovery.firedNonePhrase) }) == true {
                        // A hold that failed once the triggers were off (a holder's try timed out
                        // after the dropper's hand-over): the words say for how long they were
                        // off, as a refusal's do (fresh tester round 57, L1: "(noted above)" with
                        // nothing noted).
                        if let off = triggersOff { error.diagnostics[0].message += Self.triggersOffPhrase(count: off.count, since: off.since, beforeHold: false) }
                        error.diagnostics[0].reason = .triggersOffBeforeHold
                        throw error
                    } catch let error as MySQLServerError {
                        try refuseTargetDropped(d, had: originals)
                        throw error
                    }
                    movedOut = originals
                    renamedAt = Date()
                    renameTookEffect = renameBegan ?? renamedAt
                    // Their ids as the rename moved them (it keeps them): an application's `ALTER
                    // TABLE` (a copy, or `FORCE`) that finished between the note above and the
                    // rename gave one another id, and every later rollback took the checkpoint's
                    // table for one made again, "cannot be rolled back" (fresh tester round 61, 4).
                    // What it holds is what the target held at the rename, as for any write then.
                    try recordMovedOut(originals, from: c, in: c)
                }
                KillPoint.check("change:mysql.swap.movedIn")   // tests: between the rename and the settling
                // The witnesses go, and the target's old views and routines with them.
                do { try settleWitnesses(in: d, store: c) } catch let error as MySQLServerError {
                    try refuseTargetMadeAgain(d, holding: movedIn, made: [], ids: Self.swappedInIDs(record.detail))
                    throw error
                }
            } else {
                try createSchema(d, like: try schemaCharset(s))
                try renameAll(try shadowTables().map { (qualified(s, $0), qualified(d, $0)) }, of: s)
            }
            KillPoint.check("change:mysql.swap.renamed")
            // Made without dropping first: an object of one of those names in the target now is
            // an application's, made there since the old ones left (fresh tester W7-2: a
            // `CREATE OR REPLACE` replaced it and the run said "Apply complete!"). It stays; it
            // leaves the shadow's list, so that the undo that follows counts it as someone else's
            // and leaves the target as it is (exit 4, naming it).
            var made: [SchemaObject] = []
            func creating(_ body: () throws -> Void) throws {
                do { try body() } catch let taken as MySQLObjectTaken {
                    gate?.releaseAll()
                    try unrecordBuilt([taken.entry], in: s)
                    throw FerryError(.wrongStatus, "\(d) on \(instanceName) got \(Self.listing([taken.entry])) from someone else during the swap, under a name the run's build has too (\(taken.error.message)); it was left as it is and the swap was not finished",
                                     hint: "the run is rolled back as far as that object allows; `ferry recover` says what is left", instance: instanceName)
                } catch {
                    gate?.releaseAll()
                    try refuseTargetMadeAgain(d, holding: movedIn, made: made, ids: Self.swappedInIDs(record.detail))
                    throw error
                }
            }
            // 4. The triggers of each gated table, made on its gate while the gate holds it (the
            // writers that waited on the hold land once they fire); then the rest.
            var gatedTriggers = Set<String>()
            if let held = gate {
                gate = nil
                let ownCollation = try schemaCharset(d)?.1
                let folds = try connection.scalar("SELECT @@lower_case_table_names") != "0"
                try creating {
                    try held.whenGranted(within: Self.holdWaitSeconds) { granted in
                        let triggers = Self.triggers(of: staged, on: granted.table, folds: folds)
                            .filter { !Self.needsCollationSwitch($0, from: ownCollation) }
                        KillPoint.check("change:mysql.swap.gated")   // tests: a write here waits for the triggers
                        try createObjects(triggers, in: d, keepingOthers: true, on: granted.connection, made: { made.append($0) })
                        gatedTriggers.formUnion(triggers.map { Self.builtEntry(kind: $0.kind, name: $0.name) })
                    }
                }
            }
            // Defaults that name the shadow (`NEXTVAL` of its sequences) name the target; the
            // new objects are created in the target.
            try rebindDefaults(in: d, from: s)
            try creating {
                try createObjects(staged.filter { !gatedTriggers.contains(Self.builtEntry(kind: $0.kind, name: $0.name)) }, in: d, keepingOthers: true, made: { made.append($0) })
            }
            // Still the target the tables went into (fresh tester round 11, F2: dropped and made
            // again by an application during the swap, it got the run's procedure).
            try refuseTargetMadeAgain(d, holding: movedIn, made: made, ids: Self.swappedInIDs(record.detail))
            // Said, not only in SPEC: rows written while the triggers were off before the hold
            // are kept without their effects, also when the swap completes (fresh tester round 57,
            // M2: 11-15 such rows on every append into a target with a foreign key).
            // The build's triggers on tables no gate held (new to the target: a gate holds a name
            // that was there; joined by a foreign key; past the instance's connections) were made only now: said too (fresh tester round 62, 1:
            // with 45 triggered tables, rows written right after the rename fired none of them,
            // "Apply complete!").
            let lateTriggers = made.filter { $0.kind == "TRIGGER" && !gatedTriggers.contains(Self.builtEntry(kind: $0.kind, name: $0.name)) }
            if offBeforeHold == nil || offBeforeRename, let renamedAt, !lateTriggers.isEmpty {
                let tables = Self.triggerTables(of: lateTriggers).count
                let seconds = String(format: "%.2f", max(0, Date().timeIntervalSince(renameTookEffect ?? renamedAt)))
                leftNotes.append("\(d): swapped in, but the run's \(lateTriggers.count == 1 ? "trigger was" : "\(lateTriggers.count) triggers were") made on \(tables == 1 ? "its table" : "\(tables) of its tables") \(seconds) s after the swap's rename (no gate held \(tables == 1 ? "it" : "them") through it: the target had no table of \(tables == 1 ? "its name" : "their names") before, a foreign key joins \(tables == 1 ? "it" : "them"), or more tables have triggers than the instance's connections allow gates): any row written into \(tables == 1 ? "it" : "them") then was kept but \(Recovery.firedNonePhrase)")
            }
            if let off = offBeforeHold, off.count > 0, offBeforeRename, let renamedAt, let c = record.checkpoint {
                let seconds = String(format: "%.2f", max(0, renamedAt.timeIntervalSince(off.since)))
                leftNotes.append("\(d): swapped in, but \(off.count == 1 ? "its own trigger was" : "its own \(off.count) triggers were") off its old tables for \(seconds) s before the swap's rename (MariaDB moves no table with a trigger, and this target's tables cannot all be held while they come off: a foreign key, more than \(Self.maxHolders) tables, or a stored generated column on a table with a trigger): any row written into them then \(Recovery.firedNonePhrase), and is in the checkpoint \(c) with what the target held before the run (a rollback makes it live as written, and says so)")
            } else if let off = offBeforeHold, off.count > 0, !offBeforeRename {
                let seconds = String(format: "%.2f", max(0, Date().timeIntervalSince(off.since)))
                leftNotes.append("\(d): appended, but \(off.count == 1 ? "its trigger was" : "its \(off.count) triggers were") off its tables for \(seconds) s, from before the swap's hold until the appended tables got theirs (MariaDB moves no table with a trigger, and this target's tables cannot all be held while they come off: a foreign key, more than \(Self.maxHolders) tables, or a stored generated column on a table with a trigger): any row written into those tables then was kept but \(Recovery.firedNonePhrase)")
            }
            // 5. What the checkpoint holds now, kept in it: a later drop of it (retention) finds
            // out whether anything wrote into it since (tester w2 F2b). Read after the target has
            // its objects again, so the target is never without them for as long as this read.
            // Not read: the checkpoint is left by every later drop (the safe side).
            if record.targetExisted, let c = record.checkpoint, try schemaExists(c), try recordedToken(in: c) == nil,
               let held = (try? contentToken(of: c, objects: try stagedObjects(in: c) ?? [])) ?? nil {
                try? recordToken(held, in: c)
                // An append's target was checked, just before this swap, to hold what its
                // snapshot began from (`expectedTargetToken`); a write that landed between that
                // check and the rename went into the checkpoint, not into the appended target.
                // The rows the rename moved are what the target held at the rename: compared
                // with the check's, the swap is undone when they differ (issue 14: the write was
                // in the checkpoint only, and the run said "Apply complete!").
                // Not thrown here: the rename is done, and writes may be landing in the appended
                // target now; the core fails the step once the swap is journaled done, and the
                // rollback's check for writes since the swap decides (fresh tester round 41, F3).
                if movedOut != nil, let expected = record.expectedTargetToken,
                   let was = Self.dataPart(of: expected), let now = Self.dataPart(of: held), was != now {
                    writtenDuringSwap = "\(d) on \(instanceName) was written during the swap, after the check that it still held what the append's snapshot began from and before the rename: that write is in what the rename moved out (the checkpoint \(c)), not in the appended database, so the append fails here and its rollback decides what stays (below)"
                } else if let out = movedOut, let before = tablesBefore, try definitionsDigest(of: c, objects: [], tables: Set(out), unqualifying: d) != before {
                    // An `ALTER TABLE` under way as the hold began (its first lock passes a
                    // `READ`; it waits to finish, and finishes as the holders let go, before the
                    // rename): the change is on the tables the rename moved out.
                    writtenDuringSwap = "\(d) on \(instanceName) was altered during the swap (an ALTER TABLE, of an index, a comment or a column, under way as the swap's hold began, finished just before the rename): that change is in what the rename moved out (the checkpoint \(c)), not in the appended database, so the append fails here and its rollback decides what stays (below)"
                }
            }
            // 6. The shadow now holds nothing but Ferry's run-tagged tables: it goes (an undo
            // makes it again, with the token, which proves the tables it brings back the run's).
            // Left, it outlived a kept swap unexplained (F3 M1). Without a token (a swap is kept
            // only with one) it stays: its build's list is that proof then.
            if token != nil, try schemaExists(s), try userTables(s).isEmpty, try objectList(s).isEmpty {
                try connection.execute("DROP DATABASE IF EXISTS \(quoteName(s))")
            }
            var done = record
            let swappedIn = Set(staged.map { Self.builtEntry(kind: $0.kind, name: $0.name) })
            let tables = Self.tableEntries(movedIn, existing: Self.swappedIn(record.detail))
            // The definitions as the target holds them now, read back: what an undo compares.
            let isSwappedIn = try listedFilter(swappedIn)
            done.detail = Self.swapDetail(swappedIn: swappedIn.union(tables), definitions: Self.definitions(of: try objects(in: d, qualifier: nil).filter { isSwappedIn(Self.builtEntry(kind: $0.kind, name: $0.name)) }),
                                          movedOut: movedOut, ids: Self.swappedInIDs(record.detail))
            done.afterSwapToken = token
            done.writtenDuringSwap = writtenDuringSwap
            return done
        }
    }

    /// The refusal's words for a swap that took `count` triggers off the target's tables at
    /// `since`, before its hold: "; but its 3 triggers were off its tables for the 0.17 s before
    /// the hold (from 05:25:51.100 UTC): any row written into those tables then fired none of them".
    /// `beforeHold` false: taken off under the hold, off until now ("for the 2.05 s until then").
    static func triggersOffPhrase(count: Int, since: Date, now: Date = Date(), beforeHold: Bool = true) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "HH:mm:ss.SSS"
        let seconds = String(format: "%.2f", max(0, now.timeIntervalSince(since)))
        let triggers = count == 1 ? "its trigger was" : "its \(count) triggers were"
        return "; but \(triggers) off its tables for the \(seconds) s \(beforeHold ? "before the hold" : "until then") (from \(formatter.string(from: since)) UTC; MariaDB moves no table with a trigger, so the swap takes them off first): any row written into those tables then \(Recovery.firedNonePhrase) (the rollback puts the triggers back, not their effects)"
    }

    /// The words for `count` of the run's triggers an undo had taken off `d`'s tables and put
    /// back (or could not), over `span` ("for 0.42 s (from this undo's drop until they were made
    /// again)"): "; the run's 2 triggers were off d's tables <span>: any row written into them
    /// then was kept but fired none of them"; "" for none (fresh tester round 62, 2).
    static func runTriggersOffPhrase(count: Int, of d: String, span: String) -> String {
        count == 0 ? "" : "; the run's \(count == 1 ? "trigger was" : "\(count) triggers were") off \(d)'s tables \(span): any row written into them then was kept but \(Recovery.firedNonePhrase)"
    }

    /// The swap's record with the views, routines, triggers and events it will put into the
    /// target (`swapDetail`): the shadow's objects its build listed, as `swap` stages them. Read
    /// before the core journals `swapBegun`, so that an undo after a kill inside the swap (its end
    /// not journaled) drops only those and refuses while the target holds any other (fresh tester
    /// W7-4: `ferry recover` dropped an application's procedure, view and event made in the new
    /// target, and said "as they were before"). A shadow without a build list (an older run's)
    /// leaves the record as it is.
    public func prepareSwap(_ record: SwapRecord) throws -> SwapRecord {
        try run(.copyError, "cannot read what \(record.shadow) on \(instanceName) swaps in") {
            let s = record.shadow
            guard try schemaExists(s), let listed = try builtEntries(in: s) else { return record }
            let objectKinds = ["VIEW", "PROCEDURE", "FUNCTION", "PACKAGE BODY", "PACKAGE", "TRIGGER", "EVENT"]
            let isListed = try listedFilter(listed)
            var entries = Set<String>()
            for entry in try objectList(s) {
                guard let kind = objectKinds.first(where: { entry.hasPrefix($0 + " ") }) else { continue }
                let built = Self.builtEntry(kind: kind, name: String(entry.dropFirst(kind.count + 1)))
                if isListed(built) { entries.insert(built) }
            }
            entries.formUnion(Self.tableEntries(try userTables(s).filter { isListed(Self.builtEntry(kind: "TABLE", name: $0)) }, existing: nil))
            // And their definitions as the swap will stage them (the reviewer's M1).
            let staged = try stagedObjects(in: s) ?? objects(in: s, qualifier: nil)
            // And the InnoDB ids of its tables (kept by the rename): an undo moves out of the
            // target only those (fresh tester round 15, B2).
            let tables = try userTables(s).filter { isListed(Self.builtEntry(kind: "TABLE", name: $0)) }
            var prepared = record
            prepared.detail = Self.swapDetail(swappedIn: entries, definitions: Self.definitions(of: staged.filter { entries.contains(Self.builtEntry(kind: $0.kind, name: $0.name)) }),
                                              ids: try tableIDs(of: tables, in: s))
            return prepared
        }
    }

    /// The journaled detail of a done swap: `rename-v1`, then a line with the objects it swapped
    /// into the target (`builtEntry`, JSON array of strings), so that an undo tells them from
    /// objects an application made in the target since (fresh tester W7-3).
    /// With `definitions` (entry to `definitionDigest`), `rename-v2` and a third line holding
    /// them (JSON object), so that an undo also tells an application's `CREATE OR REPLACE` of one
    /// of the run's objects from the run's own (the reviewer's M1).
    /// With `movedOut`, a fourth line: the tables the swap's rename moved from the target into
    /// the checkpoint (JSON array), so that an undo knows the checkpoint lost one since (fresh
    /// tester round 13, F7); readers of the first three lines are not affected.
    /// With `ids`, a fifth line (the fourth `null` when no table moved out yet): the InnoDB ids
    /// of the tables the swap moves in (table name to id, JSON object, `tableIDs`), read in the
    /// shadow before the swap, so that an undo moves out of the target only those tables, never
    /// one made again under their names (fresh tester round 15, B2); a record without it (an
    /// earlier release's) goes by names.
    static func swapDetail(swappedIn: Set<String>, definitions: [String: String]? = nil, movedOut: [String]? = nil,
                           ids: [String: String]? = nil) -> String {
        let list = (try? JSONEncoder().encode(swappedIn.sorted())).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
        guard let definitions else { return "rename-v1\n" + list }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let text = (try? encoder.encode(definitions)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        var out = movedOut.flatMap { try? JSONEncoder().encode($0.sorted()) }.map { "\n" + String(decoding: $0, as: UTF8.self) } ?? ""
        if let ids, let encoded = try? encoder.encode(ids) {
            out = (out.isEmpty ? "\nnull" : out) + "\n" + String(decoding: encoded, as: UTF8.self)
        }
        return "rename-v2\n" + list + "\n" + text + out
    }

    /// The InnoDB ids of the tables the swap moves in (`swapDetail`'s fifth line), or nil when
    /// its record does not say (an earlier release's, or a server that shows none).
    static func swappedInIDs(_ detail: String?) -> [String: String]? {
        guard let detail, detail.hasPrefix("rename-v2\n") else { return nil }
        let lines = detail.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count > 4 else { return nil }
        return try? JSONDecoder().decode([String: String].self, from: Data(lines[4].utf8))
    }

    /// The tables a done swap moved from the target into its checkpoint (`swapDetail`'s fourth
    /// line), or nil when its record does not say.
    static func movedOut(_ detail: String?) -> [String]? {
        guard let detail, detail.hasPrefix("rename-v2\n") else { return nil }
        let lines = detail.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count > 3 else { return nil }
        return try? JSONDecoder().decode([String].self, from: Data(lines[3].utf8))
    }

    /// The objects a done swap put into the target (`swapDetail`), or nil when its record does
    /// not say (the swap's end was not journaled, or an earlier release journaled it).
    static func swappedIn(_ detail: String?) -> Set<String>? {
        guard let detail, detail.hasPrefix("rename-v1\n") || detail.hasPrefix("rename-v2\n") else { return nil }
        let lines = detail.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count > 1, let list = try? JSONDecoder().decode([String].self, from: Data(lines[1].utf8)) else { return nil }
        return Set(list)
    }

    /// The definitions (entry to `definitionDigest`) a `rename-v2` detail recorded; nil for an
    /// earlier one (the undo then tells the run's objects by name only, as before).
    static func swappedInDefinitions(_ detail: String?) -> [String: String]? {
        guard let detail, detail.hasPrefix("rename-v2\n") else { return nil }
        let lines = detail.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count > 2 else { return nil }
        return try? JSONDecoder().decode([String: String].self, from: Data(lines[2].utf8))
    }

    /// The digest of an object's definition as `objects(in:)` reads it (kind, `sql_mode`, the
    /// DDL without its schema's qualifiers, the event's time zone); the name is the key.
    /// With its client character set, connection collation and database collation; an object
    /// without them (saved by an earlier release) has the digest that release gave it.
    static func definitionDigest(_ object: SchemaObject) -> String {
        guard object.hasSettings else { return legacyDefinitionDigest(object) }
        return digest([object.kind, object.sqlMode, object.ddl, object.timeZone, object.charsetClient, object.collationConnection, object.databaseCollation].joined(separator: "\u{0}"))
    }

    /// The digest an earlier release gave an object (without its character set and collations).
    static func legacyDefinitionDigest(_ object: SchemaObject) -> String {
        digest([object.kind, object.sqlMode, object.ddl, object.timeZone].joined(separator: "\u{0}"))
    }

    /// Whether `object` (read now) has the definition `recorded` (`definitionDigest`); a digest
    /// an earlier release recorded (a swap journaled, or a checkpoint saved, before an upgrade)
    /// is compared without the settings, as it was made.
    /// A trigger whose table was renamed and back since (MariaDB rewrote the `ON` clause of its
    /// stored statement: `MySQLTriggerHeader.tableSpellings`) still has its definition.
    static func hasDefinition(_ object: SchemaObject, _ recorded: String?) -> Bool {
        guard let recorded else { return false }
        if recorded == definitionDigest(object) || recorded == legacyDefinitionDigest(object) { return true }
        guard object.kind == "TRIGGER" else { return false }
        return MySQLTriggerHeader.tableSpellings(of: object.ddl, sqlMode: object.sqlMode).contains { ddl in
            var spelled = object
            spelled.ddl = ddl
            return recorded == definitionDigest(spelled) || recorded == legacyDefinitionDigest(spelled)
        }
    }

    static func definitions(of objects: [SchemaObject]) -> [String: String] {
        Dictionary(objects.map { (builtEntry(kind: $0.kind, name: $0.name), definitionDigest($0)) }, uniquingKeysWith: { a, _ in a })
    }

    /// Throws `WrongStatus` when `target` holds a view, routine, trigger or event the run did not
    /// swap in (`swappedIn`: made by an application after the swap, e.g. during this rollback):
    /// the undo would drop it with the run's objects, so nothing is undone and it says what to do.
    /// `original`: the target's own objects, saved in the checkpoint before the swap dropped them
    /// (an undo whose rename had not happened yet finds those in the target too).
    /// `tablesMovedBack`: this undo already moved the tables back (the message says so).
    /// `ignoring`: entries (`builtEntry`) that are Ferry's own there (the run's witnesses).
    /// `stopping`: what the message says was done, where the caller knows better than the
    /// defaults above.
    /// Returns what counts as the run's (or the target's own) in the target: the filter the undo
    /// drops by, so that an object made after this check is never dropped (reviewer H1); nil
    /// when the record has no list (an earlier release's swap: everything, as before).
    @discardableResult
    func refuseObjectsNotSwappedIn(_ record: SwapRecord, original: [SchemaObject] = [], tablesMovedBack: Bool = false,
                                   collidingOnly: Bool = false, ignoring: Set<String> = [],
                                   stopping: String? = nil) throws -> ((String) -> Bool)? {
        guard let (isOurs, foreign) = try objectsNotSwappedIn(record, original: original, ignoring: ignoring) else { return nil }
        // `collidingOnly`: only what takes the name of one of `original` (to be made again).
        let colliding = collidingOnly ? try listedFilter(Set(original.map { Self.builtEntry(kind: $0.kind, name: $0.name) })) : nil
        let blocking = colliding.map { isOriginal in foreign.filter(isOriginal) } ?? foreign
        guard !blocking.isEmpty else { return { isOurs($0) && !foreign.contains($0) } }
        let done = stopping ?? (tablesMovedBack
            ? "so the swap was undone only in part: its tables were moved, and the rest (the run's objects out, the target's own views, routines, triggers and events back) waits until that object is gone"
            : original.isEmpty ? "so the swap was not undone: undoing it would drop that with the run's objects; nothing was changed"
            : "so the swap was not undone: this undo changed nothing, and the target's own views, routines, triggers and events, which the swap had taken out, stay saved in the checkpoint until that object is gone")
        // A trigger of the run's whose table is renamed away names that table in its stored
        // text (fresh tester round 68, F3: "an application made or replaced it" of the run's own
        // trigger, during an application's renames; the hint said to drop it).
        let trigger = blocking.contains { $0.hasPrefix("TRIGGER ") }
        throw FerryError(.wrongStatus, "\(record.database) on \(instanceName) holds \(Self.listing(blocking)), which the run did not swap in (an application made or replaced it after the swap\(trigger ? ", or renamed the table it is on: the server then names the new table in it" : "")), \(done)",
                         hint: (trigger ? "where a table was renamed, give it its name back and run `ferry recover`; else " : "")
                            + "save its definition, drop it, then run `ferry recover` (the rollback then finishes) and make it again where you want it",
                         instance: instanceName)
    }

    /// What `refuseObjectsNotSwappedIn` judges by: the filter of entries (`builtEntry`) that are
    /// the run's or the target's own (`original`) by name, and the entries of `record`'s target
    /// that are neither, or are replaced since (another definition than the swap's or the
    /// target's). Nil when the record has no list (an earlier release's swap); a missing target
    /// has none.
    func objectsNotSwappedIn(_ record: SwapRecord, original: [SchemaObject] = [], ignoring: Set<String> = []) throws -> (isOurs: (String) -> Bool, foreign: Set<String>)? {
        guard var swapped = Self.swappedIn(record.detail) else { return nil }
        guard try schemaExists(record.database) else { return ({ _ in false }, []) }
        // The swap takes off its shadow's list an object it found made by someone else in the
        // target under a name of its own (W7-2): such a name is not the run's even when listed.
        if try schemaExists(record.shadow), let built = try builtEntries(in: record.shadow) {
            let isBuilt = try listedFilter(built)
            swapped = swapped.filter(isBuilt)
        }
        swapped.formUnion(original.map { Self.builtEntry(kind: $0.kind, name: $0.name) })
        let isOurs = try listedFilter(swapped)
        // An object of one of those names counts as the run's (or the target's own) only while
        // its definition is the one the swap put there (or the one the target had): an
        // application's `CREATE OR REPLACE` of it after the swap is the application's (the
        // reviewer's M1). A record without definitions (an earlier release's) goes by name.
        let definitions = Self.swappedInDefinitions(record.detail)
        let known = try knownDefinitions(definitions ?? [:], original: original)
        let foreign = Set(try objects(in: record.database, qualifier: nil).filter { object in
            guard !ignoring.contains(Self.builtEntry(kind: object.kind, name: object.name)) else { return false }
            guard isOurs(Self.builtEntry(kind: object.kind, name: object.name)) else { return true }
            guard definitions != nil, known.names(object) else { return false }
            return !known.holds(object)
        }.map { Self.builtEntry(kind: $0.kind, name: $0.name) })
        return (isOurs, foreign)
    }

    /// The swap detail's entries for the tables a swap moves in (`TABLE name`), with `#tables`
    /// saying the list is there (a swap of no table lists none); `existing`: a detail already
    /// prepared (`prepareSwap`), whose list is kept when it has one (the shadow's tables are
    /// gone once moved).
    static func tableEntries(_ tables: [String], existing: Set<String>?) -> Set<String> {
        if let existing, existing.contains(tablesListed) { return existing.filter { $0 == tablesListed || $0.hasPrefix("TABLE ") } }
        return Set(tables.map { builtEntry(kind: "TABLE", name: $0) }).union([tablesListed])
    }
    static let tablesListed = "#tables"

    /// The tables of `schema` an undo of `record` moves out: the ones its swap moved in. Any
    /// other table there (an application's, made after the swap, also in a target it dropped and
    /// made again) stops the undo before anything moves (`WrongStatus`, fresh tester round 10,
    /// F8); a table of the run's that is gone (dropped by someone) is not looked for. A record
    /// without the list (an earlier release's) moves every table, as before.
    func runTables(in schema: String, of record: SwapRecord, stopping done: String, ignoring: Set<String> = []) throws -> [String] {
        let tables = try userTables(schema).filter { !ignoring.contains($0) }
        guard let listed = Self.swappedIn(record.detail), listed.contains(Self.tablesListed) else { return tables }
        let isRun = try listedFilter(listed)
        let foreign = tables.filter { !isRun(Self.builtEntry(kind: "TABLE", name: $0)) }
        guard foreign.isEmpty else {
            throw FerryError(.wrongStatus, "\(schema) on \(instanceName) holds \(Self.listing(Set(foreign.map { Self.builtEntry(kind: "TABLE", name: $0) }))), which the run did not swap in (an application, or a Ferry run from another copy of this project, made it after the swap, or dropped \(schema) and made it again), \(done)",
                             hint: "move that table out of \(schema), then run `ferry recover`; what \(schema) held before the run stays in the checkpoint until then (to leave \(schema) as it is instead: `ferry recover --keep-later-writes`, where the recover offers it: a rollback run's, or a run whose claims were released)", instance: instanceName)
        }
        // Of the run's names, but not the run's tables: made again since (fresh tester round 15,
        // B2). Proved by InnoDB's table id where the record keeps one (`swappedInIDs`), or, for
        // a table rebuilt in place, by the whole target holding what the swap moved in.
        let madeAgain = try runTablesMadeAgain(tables, in: schema, of: record)
        guard madeAgain.isEmpty else {
            // Rebuilt while this undo ran (a maintenance job's `mysqlcheck --optimize` in a
            // loop), the proof is read again by the next pass: the hint says so before it says to
            // move a table out (fresh tester round 64, M3).
            throw FerryError(.wrongStatus, madeAgainListing(madeAgain, in: schema) + ", \(done)",
                             hint: "a table rebuilt with the run's rows (OPTIMIZE TABLE, ALTER TABLE ... FORCE, mysqlcheck --optimize) counts as the run's again once nothing rebuilds or writes it: run `ferry recover` after such a job ends; a table someone made anew under that name: move it out of \(schema), then run `ferry recover`; what \(schema) held before the run stays in the checkpoint until then (to leave \(schema) as it is instead: `ferry recover --keep-later-writes`, where the recover offers it: a rollback run's, or a run whose claims were released)", instance: instanceName)
        }
        return tables
    }

    /// The run's objects an undo pass saved in `s` (`undoneObjectsTable`) before dropping them
    /// from `d`, made again in `d` where no object of that name is there now (beside anything an
    /// application made, never over it), each on its own. Returns the message's words ("" when
    /// none was missing); what cannot be made is named.
    func remakeUndoneObjects(in d: String, shadow s: String) -> String {
        guard let saved = (try? stagedObjects(in: s, role: Self.undoneObjectsTable)) ?? nil, !saved.isEmpty,
              let (missing, made, _) = try? makeEachMissing(saved, in: d), !missing.isEmpty else { return "" }
        let notMade = missing.subtracting(made)
        // Off the target's tables from that pass's drop until now (fresh tester round 62, 2).
        let triggers = missing.filter { $0.hasPrefix("TRIGGER ") }.count
        // "This undo": this pass or an earlier one cut short (fresh tester round 65, F3: "an
        // earlier pass" was said where there was none).
        let off = Self.runTriggersOffPhrase(count: triggers, of: d, span: "from their drop until \(notMade.isEmpty ? "now" : "now, and still are where not made")")
        return (notMade.isEmpty ? "; the run's \(Self.listing(missing)), which this undo had dropped, were made again in it"
            : "; of the run's objects this undo had dropped, \(Self.listing(notMade)) could not be made again and \(notMade.count == 1 ? "is" : "are") not in it now") + off
    }

    /// Makes each of `objects` that `schema` has no object of that name of now, each on its own
    /// (one that cannot be made, a view of a table renamed since, does not keep the others out)
    /// and beside anything of that name made meanwhile, never over it (`keepingOthers`).
    /// Returns the entries (`builtEntry`) of those it tried (`missing`), those its own CREATE
    /// made, and each one's error where it failed (`MySQLObjectTaken`: the name was taken).
    func makeEachMissing(_ objects: [SchemaObject], in schema: String) throws -> (missing: Set<String>, made: Set<String>, errors: [(entry: String, error: any Error)]) {
        let there = try listedFilter(Set(try self.objects(in: schema, qualifier: nil).map { Self.builtEntry(kind: $0.kind, name: $0.name) }))
        var missing = Set<String>(), made = Set<String>(), errors: [(entry: String, error: any Error)] = []
        for object in objects {
            let entry = Self.builtEntry(kind: object.kind, name: object.name)
            guard !there(entry) else { continue }
            missing.insert(entry)
            do {
                try createObjects([object], in: schema, keepingOthers: true, made: { made.insert(Self.builtEntry(kind: $0.kind, name: $0.name)) })
            } catch {
                errors.append((entry, error))
            }
        }
        return (missing, made, errors)
    }

    /// Whether `object` (read now) is still one the undo may drop: its definition is the one the
    /// swap put there or the target's own (`original`), as `refuseObjectsNotSwappedIn` checked;
    /// any object when the record keeps no definitions (an earlier release's: by name).
    func asChecked(_ record: SwapRecord, original: [SchemaObject] = []) throws -> (SchemaObject) -> Bool {
        guard let definitions = Self.swappedInDefinitions(record.detail) else { return { _ in true } }
        let known = try knownDefinitions(definitions, original: original)
        return { object in !known.names(object) || known.holds(object) }
    }

    /// The definitions an undo tells objects by: the run's (`swappedInDefinitions`) and the
    /// target's own (`original`), keyed by entry as the server compares names
    /// (`lower_case_table_names`).
    struct KnownDefinitions {
        let fold: (String) -> String
        let runs: [String: String]
        let own: [String: String]

        func key(_ object: SchemaObject) -> String { fold(MySQLSession.builtEntry(kind: object.kind, name: object.name)) }
        /// An object of a name either list has.
        func names(_ object: SchemaObject) -> Bool { runs[key(object)] != nil || own[key(object)] != nil }
        /// `object` (read now) has the definition one of the lists recorded for its name.
        func holds(_ object: SchemaObject) -> Bool {
            MySQLSession.hasDefinition(object, runs[key(object)]) || MySQLSession.hasDefinition(object, own[key(object)])
        }
    }

    func knownDefinitions(_ definitions: [String: String], original: [SchemaObject]) throws -> KnownDefinitions {
        let fold: (String) -> String = try connection.scalar("SELECT @@lower_case_table_names") != "0" ? { $0.lowercased() } : { $0 }
        return KnownDefinitions(fold: fold,
                                runs: Dictionary(definitions.map { (fold($0.key), $0.value) }, uniquingKeysWith: { a, _ in a }),
                                own: Dictionary(Self.definitions(of: original).map { (fold($0.key), $0.value) }, uniquingKeysWith: { a, _ in a }))
    }

    /// Whether an undo of `record` has done its rename (the run's tables out, the checkpoint's
    /// back): the swap's marker sits in a shadow an undo made (`undoingTable`). Before the swap's
    /// own rename the marker is in the shadow too, but no undo has marked it then.
    /// Or: the checkpoint holds the undo's note of the tables it moves back (written just before
    /// its rename, only while the marker was in the checkpoint) and no longer the marker; this
    /// holds even when the shadow is gone (round 12, G1).
    func renamedBackByUndo(_ record: SwapRecord) throws -> Bool {
        if let c = record.checkpoint, try schemaExists(c), try movedBack(from: c) != nil,
           try !baseTables(c).contains(Self.ownTable(Self.markerTable, in: c)) {
            return true
        }
        let s = record.shadow
        guard try schemaExists(s) else { return false }
        let tables = Set(try baseTables(s))
        return tables.contains(Self.ownTable(Self.undoingTable, in: s)) && tables.contains(Self.ownTable(Self.markerTable, in: s))
    }

    public func undoSwap(_ record: SwapRecord) throws {
        try run(.internalError, "cannot undo the swap of \(record.database) on \(instanceName)") {
            let d = record.database, s = record.shadow
            // The shadow the swap dropped comes back with the run's tables: the swap's token goes
            // into it before they move, so that its drop can prove them Ferry's whenever this undo
            // is cut short (a kill between the rename and a later record left a shadow nothing
            // proved Ferry's, and every plan blocked: fresh tester X7).
            // It is also marked as made by an undo (`undoingTable`) before the target's objects are
            // dropped: from there on the swap is no longer in place (`swapIsInPlace`), so a
            // recovery after a kill finishes the undo instead of taking the target without its
            // objects for a write (fresh tester X7: "written after this rollback began").
            func remakeShadow() throws {
                try createSchema(s, like: try schemaCharset(d))
                if try recordedToken(in: s) == nil, let token = record.afterSwapToken { try recordToken(token, in: s) }
                try connection.execute("CREATE TABLE IF NOT EXISTS \(qualified(s, Self.ownTable(Self.undoingTable, in: s))) (x INT) ENGINE=InnoDB")
            }
            defer {
                // An undo that found its rename done (an earlier pass cut short) still leaves the token.
                if (try? schemaExists(s)) == true, (try? recordedToken(in: s)) == .some(nil), let token = record.afterSwapToken {
                    try? recordToken(token, in: s)
                }
            }
            // A switch of the target's default collation a killed pass of the run left is put
            // back only after the checks below proved the target the one the run switched (its
            // objects are made again: `createObjects`; or at the end): a database made again
            // since with the switched-to collation keeps it (fresh tester round 14, A7). One the
            // run's journal tells of while Ferry's note of it is gone stops the undo here,
            // before anything changes (A1). (A database the run made goes with the undo: its
            // default is nobody's to check.)
            let outer = switchJournal
            if switchJournal?.database != d {
                switchJournal = CollationSwitchJournal(database: d, run: Self.runTag(of: s) ?? "", journal: nil, notes: record.notes ?? [])
            }
            defer { switchJournal = outer }
            if record.targetExisted { try refuseUnprovedCollationSwitch(of: d) }
            if record.targetExisted, let c = record.checkpoint {
                guard try schemaExists(c) else {
                    // Dropped by someone else while an undo of this swap was under way (the
                    // shadow it made has no note that it finished): nothing can be restored
                    // (fresh tester w11 F3: such an undo said "restored").
                    if let gone = try checkpointGone(record) {
                        throw FerryError(.copyError, "cannot finish the undo of \(d) on \(instanceName): \(gone)",
                                         hint: "`ferry recover --keep-later-writes` finishes the rollback leaving \(d) as it is",
                                         instance: instanceName, reason: .checkpointGoneSinceSwap)
                    }
                    return
                }
                let marker = Self.ownTable(Self.markerTable, in: c)
                // A schema under the checkpoint's name holding none of the run's tables is not
                // the checkpoint (one a user made after the real one was dropped): a finished
                // swap's target is then left as it is, and so is that schema (fresh tester w11 F2).
                let ferrys = !Set(try baseTables(c)).isDisjoint(with: Self.ownTables(in: c))
                if !ferrys {
                    guard record.swapped != true else {
                        throw FerryError(.copyError, "the checkpoint \(c) of \(d) on \(instanceName) holds none of run \(Self.runTag(of: c) ?? "?")'s tables: it is not the checkpoint the swap kept (that one was dropped, and a schema of that name made again); what \(d) held before cannot be restored",
                                         hint: "\(d) was left as it is, and so was \(c)", instance: instanceName)
                    }
                    // Killed right after it made the checkpoint, before it saved anything there:
                    // the empty schema is the run's (its mark, `isMarkedRunSchema`) and goes, as
                    // the rest of the run's does (fresh tester round 70, F2: left after "as they
                    // were before"). Anything in it, or no mark, keeps it as it is.
                    if try isEmptySchema(c), try isMarkedRunSchema(c) { try drop(c) }
                    return
                }
                var movedBack = false
                // Set once this pass put back (or tried to) the run's objects it or an earlier
                // pass dropped: its words say them, and the catch below says nothing more (fresh
                // tester round 65, F3: the same trigger said twice, once of "an earlier pass").
                var putBackTried = false
                // The target's own triggers this pass made on the gates after its rename.
                var gatedTriggers: [SchemaObject] = []
                // A refusal before this pass's rename, after an earlier pass dropped the run's
                // objects from the target and was cut short (saved in the shadow): they are
                // made again first, so that the target keeps the run's state whole (fresh
                // tester round 56, H4: a kill after the drop, a view made, then every recover
                // refused "nothing was changed" with the target left without them).
                do {
                    if try baseTables(c).contains(marker) {
                        // The tables' definitions as the core's check just found them, checked
                        // again under the rename's hold: an ALTER TABLE between the two went into
                        // the shadow with the run's tables (fresh tester round 57, H2).
                        let tablesDefinitions = record.expectedTargetToken != nil
                            ? try heldTablesDefinitions(d, excluding: [Self.ownTable(Self.witnessTable, in: c)]) : nil
                        // The target's tables are checked before anything changes (fresh tester round
                        // 18, E1: a run table rebuilt since, or an application's table, stopped the
                        // undo only after the settling below had dropped the target's old views and
                        // routines, and it said "nothing was changed"). The run's witness table
                        // there is Ferry's.
                        _ = try runTables(in: d, of: record, stopping: "so the swap was not undone: nothing was changed",
                                          ignoring: [Self.ownTable(Self.witnessTable, in: c)])
                        // The checkpoint's tables are the ones the swap moved out (round 37b, F4: a
                        // table made again in the checkpoint under such a name went into the target
                        // as Ferry's, and the recover said "as they were"). The core asks
                        // `checkpointGone` first; checked here too, before anything changes.
                        if let out = try movedOut(in: c), let lost = try movedOutLost(try userTables(c).filter { out.contains($0) }, from: c, of: record) {
                            throw FerryError(.copyError, "cannot undo the swap of \(d) on \(instanceName): \(lost); nothing was changed",
                                             hint: "`ferry recover --keep-later-writes` finishes the rollback leaving \(d) as it is; \(c) is left as it is",
                                             instance: instanceName, reason: .checkpointGoneSinceSwap)
                        }
                        // A trigger made on a table it moves back would stop the rename after the
                        // run's objects left the target (fresh tester round 54, F1; the core asks
                        // `checkpointWrittenSinceSwap` first): checked before anything changes.
                        // Nor may anything outside them move with their tables: a foreign key of
                        // another database on a table of the target (or of the checkpoint), which
                        // InnoDB carries with the table (fresh tester round 59, 3: a rollback
                        // re-pointed an application's key at the shadow, said as "writes made
                        // while this rollback ran"); the swap refuses the same before its rename.
                        try refuseForeignKeysJoining(d, c)
                        if let trigger = try triggersOn(Set(try userTables(c)), in: c).first {
                            throw FerryError(.wrongStatus, "cannot undo the swap of \(d) on \(instanceName): the checkpoint \(c) holds trigger \(quoteName(trigger.name)) on its table \(quoteName(trigger.table)), which the swap did not put there, and the server moves no table with a trigger into another database; nothing was changed",
                                             hint: "keep what you need of that trigger, drop it, then run the command again", instance: instanceName)
                        }
                        // So are its views, routines, triggers and events (round 18, E1's rest: a
                        // view or procedure an application made there was found only after the
                        // settling). Before it, the target holds the run's witnesses and its own
                        // objects as the swap saved them; anything else is someone else's.
                        try refuseObjectsNotSwappedIn(record, original: try stagedObjects(in: c) ?? [],
                                                      ignoring: try witnessedEntries(in: d, store: c),
                                                      stopping: "so the swap was not undone: nothing was changed")
                        // Killed between the swap's rename and its settling: settled first, as the
                        // swap would have (the witnesses go, the notes say what it took).
                        try settleWitnesses(in: d, store: c)
                        // Made between the check above and the settling: the settling did change
                        // the target, and the message says what.
                        let ours = try refuseObjectsNotSwappedIn(record, stopping: "so the swap was not undone: this undo only settled the swap as the swap would have (its witnesses out; the target's own views and routines taken out, saved in the checkpoint), and the rest waits until that object is gone")
                        let present = try runTables(in: d, of: record, stopping: "so the swap was not undone: nothing was changed")
                        try refuseRunTablesGone(record, present: present)
                        try remakeShadow()
                        KillPoint.check("change:mysql.undo.checked")
                        // As they are before the drop: made again if the rename's hold finds the
                        // target written (fresh tester round 45, H2: left without them for good).
                        let runObjects = try objects(in: d, qualifier: nil).filter { ours?(Self.builtEntry(kind: $0.kind, name: $0.name)) ?? true }
                        // Saved in the shadow before the drop, once (the first pass's list is the
                        // whole one): a pass killed after the drop left the target without them,
                        // and the pass that then found it written made again only what it had
                        // dropped itself, none (fresh tester round 47, H1).
                        if try stagedObjects(in: s, role: Self.undoneObjectsTable) == nil {
                            let table = try makeObjectsTable(Self.undoneObjectsTable, in: s)
                            try connection.execute("START TRANSACTION")
                            try insertSaved(runObjects, into: table)
                            try connection.execute("COMMIT")
                        }
                        // Not a `DROP TRIGGER` waiting on an open transaction without end, every writer
                        // of that table behind it (fresh tester round 48, F3: 34-99 s): waited for in
                        // bounded tries while the run's objects are still there.
                        try awaitHoldable(d)
                        var dropped = Set<String>()
                        let droppedAt = Date()
                        // When the run's triggers come off (the rows written into its tables from
                        // then until the rename fire none of them: `undoRowsWrittenWhileOff`).
                        try noteUndoTakesTriggersOff(runObjects.filter { $0.kind == "TRIGGER" }.count, shadow: s)
                        // Nothing moved: the run's objects this undo dropped go back into the
                        // target (made beside anything of that name an application made since,
                        // never over it), and the undo's mark leaves the shadow, so that the swap is
                        // in place again, as before this undo. Every one saved before any pass
                        // dropped it that is not in the target now (dropped by this pass, or by an
                        // earlier one cut short). Returns what the message says of them.
                        func putBackRunObjects() throws -> String {
                            putBackTried = true
                            let saved = try stagedObjects(in: s, role: Self.undoneObjectsTable) ?? runObjects
                            // When the first pass that dropped them began to (read before the
                            // shadow may go below).
                            let offSince = try? undoTriggersOffSince(shadow: s)
                            let (missing, made, errors) = try makeEachMissing(saved, in: d)
                            let thisPass = dropped
                            let dropped = dropped.union(missing)
                            let remade: Result<Void, any Error> = errors.first.map { .failure($0.error) } ?? .success(())
                            let notMade = dropped.subtracting(made)
                            if case .success = remade {
                                if notMade.isEmpty { try? forgetUndoTriggersOff(shadow: s) }
                                try? connection.execute("DROP TABLE IF EXISTS \(qualified(s, Self.ownTable(Self.undoingTable, in: s)))")
                                // As after the swap: its shadow holds nothing but Ferry's run-tagged
                                // tables, so it goes (fresh tester round 47, L1: it was left beside
                                // the kept target, named nowhere). Kept while an object of the run's is
                                // not in the target (its definition is saved there).
                                if notMade.isEmpty, (try? userTables(s).isEmpty) == true, (try? objectList(s).isEmpty) == true {
                                    try? connection.execute("DROP DATABASE IF EXISTS \(quoteName(s))")
                                }
                            }
                            var failed = ""
                            if case .failure(let error) = remade { failed = " (\(FerryError.diagnostic(error).message))" }
                            // The run's triggers were off the target's tables from the drop until
                            // now, and a row written then stays live: said (fresh tester round 62,
                            // 2: 12-261 such rows after a refusal under the hold, said nowhere).
                            // Dropped by an earlier pass, cut short: off since that pass's drop, not
                            // this one's (fresh tester round 67, F1: "for 0.07 s" said of triggers
                            // off for 0.70 s, most of their rows outside the window said).
                            let triggers = dropped.filter { $0.hasPrefix("TRIGGER ") }.count
                            let earlier = dropped.subtracting(thisPass)
                            let until = notMade.isEmpty ? "they were made again" : "now"
                            let span: String
                            if earlier.contains(where: { $0.hasPrefix("TRIGGER ") }), let (from, now) = offSince ?? nil {
                                // Whole seconds of the server's clock at both ends: between N-1
                                // and N+1 s (fresh tester round 68, F5: "about 7 s" of 7.66 s).
                                let n = max(0, now - from)
                                span = "for \(max(0, n - 1))-\(n + 1) s (from an earlier pass's drop, in the second \(Self.utcSecond(from)) UTC, until \(until))"
                            } else {
                                span = "for \(String(format: "%.2f", max(0, Date().timeIntervalSince(droppedAt)))) s (from this undo's drop until \(until))"
                            }
                            let off = Self.runTriggersOffPhrase(count: triggers, of: d, span: span)
                            let who = earlier.isEmpty ? "this undo" : thisPass.isEmpty ? "an earlier pass of this rollback (cut short)" : "this undo and an earlier pass of it (cut short)"
                            return dropped.isEmpty ? "" : (notMade.isEmpty ? "; the run's \(Self.listing(dropped)), which \(who) had dropped, were made again in it"
                                : "; of the run's objects \(who) had dropped, \(Self.listing(notMade)) could not be made again\(failed) and \(notMade.count == 1 ? "is" : "are") not in it now") + off
                        }
                        // Each `DROP` waits `holdAttemptSeconds` at most for its table (fresh tester
                        // round 62, 3: a transaction begun after the wait above kept a `DROP
                        // TRIGGER` waiting 120 s, every writer of that table queued behind it, the
                        // run's view and three triggers already off, said nowhere): one that waits
                        // longer puts back what this pass dropped and stops it for now.
                        do {
                            dropped = try connection.withLockWait(seconds: Self.holdAttemptSeconds) {
                                try dropObjects(in: d, only: ours, unlessReplaced: try asChecked(record), willDrop: { _ in
                                    KillPoint.check("change:mysql.undo.dropping")   // tests: a transaction begins here
                                })
                            }
                        } catch let error as MySQLServerError where error.code == 1205 {
                            let objectsNow = try putBackRunObjects()
                            throw FerryError(.wrongStatus, "cannot undo the swap of \(d) on \(instanceName) now: another session kept one of its tables in use (an open transaction, or a lock) for more than \(Self.holdAttemptSeconds) s as this undo took the run's objects off it (\(error.message)); nothing was renamed\(objectsNow)",
                                             hint: "end that session's transaction (`SHOW PROCESSLIST` names it), then run `ferry recover`", instance: instanceName, reason: .inTheWayForNow)
                        }
                        try noteUndoTookTriggersOff(shadow: s)
                        KillPoint.check("change:mysql.undo.objectsDropped")
                        // Checked again after the drop and the waits before it (fresh tester round 56,
                        // H4, H5: a table made, dropped or renamed in the target, or one the swap moved
                        // out renamed in the checkpoint, meanwhile stopped the undo with the run's
                        // objects out of the target, or failed its rename with 1146 after part of it):
                        // a refusal here puts them back first.
                        let back: [String], checkpointTables: [String]
                        do {
                            back = try runTables(in: d, of: record, stopping: "so the swap was not undone: its tables did not move, and the rest waits until that table is gone")
                            try refuseRunTablesGone(record, present: back)
                            // Only the tables the swap moved out go back (round 35, F8), each still the
                            // table it moved (checked above), every one of them.
                            let noted = try movedOut(in: c)
                            checkpointTables = try userTables(c).filter { noted?.contains($0) ?? true }
                            if noted != nil, let lost = try movedOutLost(checkpointTables, from: c, of: record) {
                                throw FerryError(.copyError, "cannot undo the swap of \(d) on \(instanceName): \(lost) (since this undo's first check); its tables were not moved back",
                                                 hint: "`ferry recover --keep-later-writes` finishes the rollback leaving \(d) as it is; \(c) is left as it is",
                                                 instance: instanceName, reason: .checkpointGoneSinceSwap)
                            }
                        } catch var error as FerryError {
                            let objectsNow = try putBackRunObjects()
                            if !error.diagnostics.isEmpty { error.diagnostics[0].message += objectsNow }
                            throw error
                        }
                        try recordMovedBack(checkpointTables, in: c)
                        var moves = back.map { (qualified(d, $0), qualified(s, $0)) }
                        moves += checkpointTables.map { (qualified(c, $0), qualified(d, $0)) }
                        moves.append((qualified(c, marker), qualified(s, marker)))
                        // Checked and renamed under one hold of the target against writers
                        // (`renameHolding`; fresh tester round 43, F2 and F3: a write between the
                        // core's check and this rename went into the shadow, out of the live target).
                        var heldWhy: String?, checkpointWhy: String?
                        // The target's own triggers the swap took off (saved in the checkpoint):
                        // made again on the gates of their tables right after the rename, before
                        // any writer (fresh tester round 58, M1: rows written between the rename and
                        // the making of the objects below fired none of them, said nowhere).
                        let savedNow = try stagedObjects(in: c) ?? []
                        let takenOff = try droppedEntries(in: c)
                        let ownTriggers = savedNow.filter { $0.kind == "TRIGGER" && takenOff?.contains(Self.builtEntry(kind: $0.kind, name: $0.name)) ?? true }
                        var undoGate: MySQLRenameGate?
                        // The checksums of the checkpoint's tables read under the hold, by name.
                        var heldSums: [String: String?] = [:]
                        // Rows written into the run's tables while its triggers were off, which
                        // the rename takes into the shadow: read again under the hold where
                        // `renameHolding` takes one (without one, a row written between this read
                        // and the rename is not told). Only without a token to check there
                        // (`--discard-later-writes`): with one, a row written since the check
                        // refuses the rename, and those rows stay live (`putBackRunObjects`
                        // says the window).
                        let unchecked = record.expectedTargetToken == nil
                        var writtenWhileOff = unchecked ? try undoRowsWrittenWhileOff(in: d, shadow: s) : nil
                        do {
                            // Gated through the cut-over; the tables that get the target's own
                            // triggers stay gated until they are made (below). Under the hold, the
                            // checkpoint is read again: a write there while the hold waited (an open
                            // transaction on the target) would go back as what the target held
                            // before the run (fresh tester round 56, H3).
                            undoGate = try renameHolding(d, unchanged: record.expectedTargetToken, excluding: [Self.ownTable(Self.witnessTable, in: c)],
                                              gating: Self.triggerTables(of: ownTriggers),
                                              sources: [c, s], moves: moves, of: s, underHold: {
                                if unchecked { writtenWhileOff = try self.undoRowsWrittenWhileOff(in: d, shadow: s) }
                                // A foreign key of another database made since the check above,
                                // before the hold (fresh tester round 60, 5: one onto a table of
                                // the checkpoint was carried into the live target, "as before").
                                try self.refuseForeignKeysJoining(d, c, underHold: true)
                                guard let written = try self.checkpointWrittenSinceSwap(record, sums: { heldSums = $0 }) else {
                                    // Their ids as read under the hold, rows checked: an `OPTIMIZE`
                                    // since the note before it gave one another id, and the check
                                    // after the rename took it for a table made again.
                                    try self.recordMovedBack(checkpointTables, in: c)
                                    return
                                }
                                checkpointWhy = written
                                throw FerryError(.copyError, written, instance: self.instanceName)
                            }, definitions: tablesDefinitions, holdingToo: (c, checkpointTables)) { why in
                                heldWhy = why
                                return FerryError(.wrongStatus, "\(d) on \(instanceName) was written after this undo's check for writes (\(why))", instance: instanceName)
                            }
                        } catch is FerryError where checkpointWhy != nil {
                            let objectsNow = try putBackRunObjects()
                            throw FerryError(.copyError, "cannot undo the swap of \(d) on \(instanceName): \(checkpointWhy ?? "") (found under the rename's hold, after this undo's first check); its tables were not moved back\(objectsNow)",
                                             hint: "`ferry recover --keep-later-writes` finishes the rollback leaving \(d) as it is; \(c) is left as it is",
                                             instance: instanceName, reason: .checkpointGoneSinceSwap)
                        } catch is FerryError where heldWhy != nil {
                            let objectsNow = try putBackRunObjects()
                            throw FerryError(.wrongStatus, "\(d) on \(instanceName) was written after this undo's check for writes and before its rename (\(heldWhy ?? ""), found under the rename's hold), so its tables were not moved back: those writes stay in \(d), live, with the run's data\(objectsNow); what \(d) held before the run stays in the checkpoint \(c)",
                                             hint: "`ferry status` says where each is",
                                             instance: instanceName, reason: .keptWrittenSinceSwap)
                        } catch var error as FerryError where heldWhy == nil {
                            // The rename refused otherwise, nothing moved: a trigger made on a table
                            // it moves back after the checks above (MariaDB moves no table with a
                            // trigger into another database; fresh tester round 55, F1 and F2: the
                            // target was left without the run's objects, "nothing was dropped"), or
                            // a hold that could not be taken. The run's objects go back into the target.
                            let objectsNow = try putBackRunObjects()
                            if !error.diagnostics.isEmpty { error.diagnostics[0].message += objectsNow }
                            throw error
                        } catch let error as MySQLServerError where error.code == 1435 {
                            let objectsNow = try putBackRunObjects()
                            let cause = try triggersInTheWay(of: moves.map { $0.0 }, error)
                            throw FerryError(.wrongStatus, ((cause as? FerryError)?.message ?? "\(error)") + objectsNow,
                                             hint: "keep what you need of that trigger, drop it, then run `ferry recover`", instance: instanceName)
                        } catch let error as MySQLServerError where error.code == 1146 || error.code == 1049 {
                            // A table of the run's (or the target) dropped since the checks above:
                            // the one RENAME moved nothing.
                            let objectsNow = (try? putBackRunObjects()) ?? ""
                            throw FerryError(.wrongStatus, "\(d) on \(instanceName) lost a table of the run's during this undo (\(error.message)), so the swap was not undone: its rename moved nothing, and what \(d) held before the run stays in the checkpoint \(c)\(objectsNow)",
                                             hint: Self.askAgainHint(d), instance: instanceName)
                        }
                        // Each gated table's triggers, made on its gate while it holds the table
                        // (the writers that waited on the hold land once they fire them); one
                        // that fails here is made with the rest below, which says so.
                        if let held = undoGate {
                            undoGate = nil
                            let ownCollation = try schemaCharset(d)?.1
                            let folds = try connection.scalar("SELECT @@lower_case_table_names") != "0"
                            do {
                                try held.whenGranted(within: Self.holdWaitSeconds) { granted in
                                    let triggers = Self.triggers(of: ownTriggers, on: granted.table, folds: folds)
                                        .filter { !Self.needsCollationSwitch($0, from: ownCollation) }
                                    KillPoint.check("change:mysql.undo.gated")   // tests: a write here waits for the triggers
                                    try createObjects(triggers, in: d, keepingOthers: true, on: granted.connection, settling: false, made: { gatedTriggers.append($0) })
                                }
                            } catch {
                                held.releaseAll()
                            }
                        }
                        movedBack = true
                        // A table updated only within the seconds of the drop may have been the
                        // run's own build (an undo right after the swap): said only when the
                        // shadow holds more than the swap put in the target (its token).
                        let swapData = record.afterSwapToken.flatMap(Self.dataPart(of:)).map(String.init)
                        if let off = writtenWhileOff {
                            let beyondTheSwap = try off.surely || swapData == nil || dataDigest(of: s) != swapData
                            if beyondTheSwap { firedNoneNotes.append("\(d) on \(instanceName): \(off.words)") }
                        }
                        // The definitions of the tables it moved back, for the shadow's drop
                        // (`writesNotFerrys`: an `ALTER TABLE` made there since keeps it).
                        // Those the undo's check read (round 58, H1: an ALTER TABLE under way as
                        // the hold began finished just before the rename; read after it, it went
                        // with the shadow's drop): one made since keeps the shadow, named.
                        let altered = try tablesDefinitions.map { try definitionsDigest(of: s, objects: [], unqualifying: d) != $0 } ?? false
                        try recordTokenRow(Self.movedBackRow, altered ? "altered before the rename" : definitionsDigest(of: s, objects: []), in: s)
                        KillPoint.check("change:mysql.undo.renamed")
                        try makeLateTriggers(ownTriggers, in: d, made: &gatedTriggers, heldSums: heldSums)
                    }
                } catch var error as FerryError where (try? baseTables(c).contains(marker)) == true {
                    let words = putBackTried ? "" : remakeUndoneObjects(in: d, shadow: s)
                    if !words.isEmpty, !error.diagnostics.isEmpty { error.diagnostics[0].message += words }
                    throw error
                }
                // The tables never moved: only the witnesses still there are made again
                // (fresh tester round 8, F1); nothing of the application's stops that.
                if let saved = try stagedObjects(in: c), !movedBack, try restoreWitnesses(in: d, store: c, saved: saved) {
                    KillPoint.check("change:mysql.undo.witnessesRestored")
                } else if let saved = try stagedObjects(in: c) {
                    // What the swap dropped of them, and what is still in the target, is made
                    // again; one an application dropped before the swap reached it stays dropped
                    // (fresh tester round 7, F2). A checkpoint without the note (an earlier
                    // release's): all of them, as before.
                    let dropped = try droppedEntries(in: c)
                    let present = try listedFilter(Set(try objects(in: d, qualifier: nil).map { Self.builtEntry(kind: $0.kind, name: $0.name) }))
                    let original = saved.filter { let e = Self.builtEntry(kind: $0.kind, name: $0.name); return dropped?.contains(e) ?? true || present(e) }
                    // Before the rename (tables never moved) no object of the run is in the
                    // target: an application's there is in no danger, and counts only where it
                    // takes the name of one to make again (fresh tester round 7, F3). After it
                    // (this pass's, or an earlier pass's cut short or stopped: the marker went
                    // back into the shadow an undo made) every object the run did not swap in
                    // stops it, on every pass alike (fresh tester round 11, F9: a second
                    // `ferry recover` took the undo's own rename for "tables never moved", made
                    // the original objects beside an application's view and procedure and said
                    // "as they were before").
                    let renamed = try movedBack || renamedBackByUndo(record)
                    // The target the tables went back into, still (fresh tester round 11, F2:
                    // dropped and made again by an application after the rename, it got the
                    // checkpoint's views and routines, and the rollback said "as before").
                    // Tables of the target's own changed by another session's statement as this
                    // pass's rename moved them back, in the database it moved them into (another of
                    // them keeps its id): its objects are made again all the same, and the undo
                    // then says what changed (fresh tester round 60, 6: a TRUNCATE of one of them
                    // left the target without its views, routines, triggers and events, and the
                    // rollback said "nothing was restored, dropped or renamed").
                    let changedInPlace = movedBack ? try movedBackChangedInPlace(record) : nil
                    let gatedEntries = Set(gatedTriggers.map { Self.builtEntry(kind: $0.kind, name: $0.name) })
                    if renamed, changedInPlace == nil, let gone = try checkpointGone(record) {
                        // Nothing of the checkpoint's in a database that may not be the one
                        // the tables went into: the triggers made on the gates go again.
                        try dropMade(gatedTriggers, in: d)
                        throw FerryError(.copyError, "cannot finish the undo of \(d) on \(instanceName): \(gone); \(movedBack ? "this undo had moved its tables back and taken the run's views, routines, triggers and events out, and it made nothing of its own in it (what changed its tables \(Recovery.changedAsMovedBackPhrase) them back may have made \(d) again too)" : "nothing was made in it")",
                                         hint: "`ferry recover --keep-later-writes` finishes the rollback leaving \(d) as it is; the definitions of its views, routines, triggers and events stay saved in \(c)",
                                         instance: instanceName, reason: .checkpointGoneSinceSwap)
                    }
                    let ours = try refuseObjectsNotSwappedIn(record, original: original, tablesMovedBack: renamed, collidingOnly: !renamed)
                    try dropObjects(in: d, only: { (ours?($0) ?? true) && !gatedEntries.contains($0) }, unlessReplaced: try asChecked(record, original: original))
                    // Made after the check above (between it and the drop): the original objects
                    // wait until it is gone, as the check says.
                    try refuseObjectsNotSwappedIn(record, original: original, tablesMovedBack: renamed, collidingOnly: !renamed)
                    // Made again, then checked again: a target dropped and made again while they
                    // were made holds objects of the run's undo that are not its own; those the
                    // undo made (its definitions) go again before it says so.
                    KillPoint.check("change:mysql.undo.remaking")
                    if let changed = changedInPlace {
                        // Each that the server takes (a trigger of a table dropped since cannot be).
                        let (_, _, errors) = try makeEachMissing(original, in: d)
                        try settleCollationSwitch(of: d)
                        let failed = errors.map(\.entry)
                        throw FerryError(.copyError, "this undo moved the own tables of \(d) on \(instanceName) back from the checkpoint \(c) and made its views, routines, triggers and events again\(failed.isEmpty ? "" : " (but \(Self.listing(Set(failed))), which the server refused as \(d) is now: their definitions stay saved in \(c))"), but \(changed) by another session \(Recovery.changedAsMovedBackPhrase) \(changed.contains(" were ") ? "them" : "it") back (a TRUNCATE, OPTIMIZE, ALTER TABLE or DROP, just before or just after the rename): \(d) holds what that statement left there, which Ferry cannot check against what it held before the run",
                                         hint: "look at \(d): `ferry recover --keep-later-writes` finishes the rollback leaving it as it is",
                                         instance: instanceName, reason: .checkpointGoneSinceSwap)
                    }
                    // Moved back by an earlier pass cut short: their own triggers first, under a
                    // hold that tells rows written since (fresh tester round 66, F1).
                    var late: [SchemaObject] = []
                    if renamed, !movedBack { try makeTriggersAfterAnEarlierRename(original, in: d, store: c, made: &late) }
                    let lateEntries = Set(late.map { Self.builtEntry(kind: $0.kind, name: $0.name) })
                    var made: [SchemaObject] = gatedTriggers + late
                    let creating = Result { try createObjects(original.filter { !gatedEntries.contains(Self.builtEntry(kind: $0.kind, name: $0.name)) && !lateEntries.contains(Self.builtEntry(kind: $0.kind, name: $0.name)) }, in: d, made: { made.append($0) }) }
                    if renamed, let gone = try checkpointGone(record) {
                        try dropMade(made, in: d)
                        throw FerryError(.copyError, "cannot finish the undo of \(d) on \(instanceName): \(gone); what this undo made in it was taken out again",
                                         hint: "`ferry recover --keep-later-writes` finishes the rollback leaving \(d) as it is; the definitions of its views, routines, triggers and events stay saved in \(c)",
                                         instance: instanceName, reason: .checkpointGoneSinceSwap)
                    }
                    try creating.get()
                }
                // The target is back (checked above): a switch a killed pass left is put back
                // too, made objects or not.
                try settleCollationSwitch(of: d)
                // An object an application made in the checkpoint keeps it (its tables went back).
                let othersTables = try userTables(c), othersObjects = try objects(in: c, qualifier: nil)
                if othersTables.isEmpty, othersObjects.isEmpty {
                    // Noted first: a checkpoint missing after this is one the undo used up.
                    if try schemaExists(s) {
                        try connection.execute("CREATE TABLE IF NOT EXISTS \(qualified(s, Self.ownTable(Self.undoneTable, in: s))) (x INT) ENGINE=InnoDB")
                    }
                    try connection.execute("DROP DATABASE IF EXISTS \(quoteName(c))")
                } else {
                    // The target is back; the checkpoint holds something the swap did not put
                    // there, and stays: said, so that nothing reads "as they were before" while a
                    // database of the run's is on the server (round 35, F8: kept, named nowhere).
                    let held = othersTables.sorted().map { "table \(quoteName($0))" } + othersObjects.map { "\($0.kind.lowercased()) \(quoteName($0.name))" }.sorted()
                    throw FerryError(.wrongStatus, "\(d) on \(instanceName) \(Recovery.restoredCheckpointHeldPhrase), but the run's checkpoint \(c) also holds \(held.prefix(5).joined(separator: ", "))\(held.count > 5 ? " and \(held.count - 5) more" : ""), which the swap did not put there; the checkpoint is left as it is",
                                     hint: "move or drop what was made in \(c), then run `ferry recover` again: it drops the checkpoint once only Ferry's own tables are left in it",
                                     instance: instanceName, reason: .restoredCheckpointHeld)
                }
            } else {
                guard try schemaExists(d) else { return }
                let ours = try refuseObjectsNotSwappedIn(record)
                _ = try runTables(in: d, of: record, stopping: "so the swap was not undone: nothing was changed")
                try remakeShadow()
                try dropObjects(in: d, only: ours, unlessReplaced: try asChecked(record))
                let back = try runTables(in: d, of: record, stopping: "so the swap was undone only in part: the run's objects left the target, its tables did not move, and the rest waits until that table is gone")
                try renameAll(back.map { (qualified(d, $0), qualified(s, $0)) }, of: s)
                // An object made after the check stays, and so does the database that holds it.
                try refuseObjectsNotSwappedIn(record, tablesMovedBack: true)
                if try baseTables(d).isEmpty, try objects(in: d, qualifier: nil).isEmpty {
                    try connection.execute("DROP DATABASE IF EXISTS \(quoteName(d))")
                }
                // The run's note of a switch of the database it made (gone now, or kept for
                // what someone made in it) is forgotten.
                try settleCollationSwitch(of: d)
            }
        }
    }
}

/// A build's `CREATE` in its shadow failed because an object of that name was already there,
/// which the build did not make (an application's, made in the shadow during the build: fresh
/// tester W6-1). The build takes `entry` (`builtEntry`) off its list and stops; the shadow is left.
struct MySQLObjectTaken: Error {
    /// "Already exists" for a table, view or sequence (1050), a routine or package (1304), a
    /// trigger (1359), an event (1537).
    static let codes: Set<UInt32> = [1050, 1304, 1359, 1537]
    var entry: String
    var error: MySQLServerError
}
