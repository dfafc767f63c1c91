import FerryCore
import FerryIO
import Foundation

/// What an import does around the stored-object definitions its file makes (issue 14 §1, stored
/// objects): events parked and settled, the definer an `ALTER VIEW` keeps, and definitions that a
/// server with a binary log refuses to the import account.
extension MySQLSession {
    /// Gives every event of the import's `shadow` that something other than the file's own
    /// top-level definitions changed the status it now has, and parks it again.
    ///
    /// The file's `CREATE/ALTER EVENT` statements park what they define as `DISABLE ON SLAVE`
    /// (`MySQLDefinitionText.disablingEvent`), recording the status the file meant in
    /// `__ferry_events_<run>`. An event found `ENABLED` or `DISABLED` here was changed since by
    /// something else the file ran: an `ALTER EVENT` inside a procedure it called (directly or
    /// through `PREPARE`/`EXECUTE` in the body), or an event that such a change let fire. Its
    /// status is then the one the `mariadb` client would have left (`ENABLE` or `DISABLE`), and it
    /// is recorded for the swap; the event is parked again (`ALTER DEFINER=<its definer> EVENT ...
    /// DISABLE ON SLAVE` on Ferry's connection: no drop, so a passed one-time schedule is kept).
    /// An event renamed inside a procedure (`ALTER EVENT ... RENAME TO`) takes the record of the
    /// one name that vanished when exactly one did. While it was enabled, such an event may have
    /// fired in the shadow, as its definer there, the import account: with the shadow's rights.
    /// Runs on Ferry's own connection. Returns the names of the events it found changed.
    @discardableResult
    func settleEvents(in shadow: String) throws -> [String] {
        let c = connection
        let events = try c.query("SELECT EVENT_NAME, STATUS, DEFINER FROM information_schema.EVENTS WHERE EVENT_SCHEMA = \(c.literal(shadow))")
            .compactMap { row -> (name: String, status: String, definer: String)? in
                guard let name = row[0], let status = row[1], let definer = row[2] else { return nil }
                return (name, status, definer)
            }
        var recorded = try parkedEventStatuses(in: shadow, on: c)
        let names = Set(events.map(\.name))
        let orphans = recorded.keys.filter { !names.contains($0) }
        let unrecorded = events.filter { recorded[$0.name] == nil }
        var changed: [String] = []
        if orphans.count == 1, unrecorded.count == 1, let status = recorded[orphans[0]] {
            try renameParkedEvent(orphans[0], to: unrecorded[0].name, in: shadow)
            recorded[unrecorded[0].name] = status
            changed.append(unrecorded[0].name)
        }
        for event in events {
            let actual: String
            switch event.status {
            case "ENABLED": actual = "ENABLE"
            case "DISABLED": actual = "DISABLE"
            default:
                // Parked: what the file's own statements said stands; one never recorded (an
                // `ALTER EVENT ... DISABLE ON SLAVE` in a procedure) keeps that status.
                if recorded[event.name] == nil { try recordParkedEvent(event.name, status: "DISABLE ON SLAVE", in: shadow, on: c) }
                continue
            }
            try recordParkedEvent(event.name, status: actual, in: shadow, on: c)
            let definer = MySQLDefinitionText.definer(shown: event.definer)
            try alterEvent(event.name, in: shadow, "ALTER DEFINER=\(definer.sql) EVENT \(qualified(shadow, event.name)) DISABLE ON SLAVE", on: c)
            if !changed.contains(event.name) { changed.append(event.name) }
        }
        return changed
    }

    /// Whose rights a `CALL` of procedure `name` of `shadow` runs with, as the `mariadb` client
    /// run by Ferry's user would have it: the procedure's definer (`definers`, the file's word, or
    /// the one it has) for `SQL SECURITY DEFINER`, the caller (`CURRENT_USER`) for `INVOKER`. An
    /// `ALTER EVENT` inside it makes that account the event's definer. Nil when there is no such
    /// procedure.
    func callRunner(of name: String, in shadow: String,
                    definers: [String: MySQLDefinitionText.Definer]) throws -> MySQLDefinitionText.Definer? {
        guard let row = try connection.query("SELECT SECURITY_TYPE, DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = \(connection.literal(shadow)) AND ROUTINE_TYPE = 'PROCEDURE' AND ROUTINE_NAME = \(connection.literal(name))").first else { return nil }
        if row[0] == "INVOKER" { return .current }
        return definers[Self.definerKey("PROCEDURE", name)] ?? row[1].map(MySQLDefinitionText.definer(shown:))
    }

    /// Before the file runs: the events already in `shadow` (an append import's clone of the
    /// target, which a copy creates `DISABLE`d with the status they should get recorded) are
    /// parked as the file's own are (`DISABLE ON SLAVE`), one without a record recorded with the
    /// status it has, so that `settleEvents` sees only what the file changes.
    func parkExistingEvents(in shadow: String) throws {
        let c = connection
        let events = try c.query("SELECT EVENT_NAME, STATUS, DEFINER FROM information_schema.EVENTS WHERE EVENT_SCHEMA = \(c.literal(shadow))")
        guard !events.isEmpty else { return }
        let recorded = try parkedEventStatuses(in: shadow, on: c)
        for row in events {
            guard let name = row[0], let status = row[1], let definer = row[2] else { continue }
            if recorded[name] == nil {
                let actual = status == "ENABLED" ? "ENABLE" : status == "DISABLED" ? "DISABLE" : "DISABLE ON SLAVE"
                try recordParkedEvent(name, status: actual, in: shadow, on: c)
            }
            guard status != "SLAVESIDE_DISABLED" else { continue }
            try alterEvent(name, in: shadow, "ALTER DEFINER=\(MySQLDefinitionText.definer(shown: definer).sql) EVENT \(qualified(shadow, name)) DISABLE ON SLAVE", on: c)
        }
    }

    /// The definer a view of `shadow` has now (nil when there is no such view).
    func viewDefiner(_ name: String, in shadow: String) throws -> MySQLDefinitionText.Definer? {
        try connection.scalar("SELECT DEFINER FROM information_schema.VIEWS WHERE TABLE_SCHEMA = \(connection.literal(shadow)) AND TABLE_NAME = \(connection.literal(name))")
            .map(MySQLDefinitionText.definer(shown:))
    }

    /// Runs a definition the server refused to the import account because it logs binary changes
    /// (1419: a function or trigger, or `DROP TRIGGER`, needs SUPER while
    /// `log_bin_trust_function_creators` is off) on Ferry's own connection `admin` instead, as the
    /// `mariadb` client run by Ferry's user would have run it, but with the import account as the
    /// object's definer (`DEFINER=` that account), so that what it runs during the import still
    /// has the shadow's rights alone; the dump's definer is put back after the last statement as
    /// for every other definition. `admin` runs it in the shadow with the import session's
    /// `sql_mode`, client character set and connection collation (what a routine or trigger
    /// keeps), and gets its own settings back afterwards. Only statements the checks admitted
    /// reach here, and only those whose names carry no qualifier
    /// (`MySQLDefinitionText.actsOnCurrentDatabaseOnly`): the server checks the binary-log rule
    /// for a trigger before the trigger's table, so Ferry's connection acts in the shadow alone
    /// (its current database); anything else is thrown back as the server's refusal.
    func runRefusedForBinaryLog(_ bytes: [UInt8], isDefinition: Bool, shadow: String, account: MySQLImportAccount,
                                importSession c: MySQLConnection, admin: MySQLConnection, refusal: MySQLServerError) throws {
        let dialect = SQLDialect.mysql(version: admin.serverVersion)
        guard MySQLDefinitionText.actsOnCurrentDatabaseOnly(bytes, dialect: dialect) else { throw refusal }
        var statement = bytes
        if isDefinition {
            guard let redefined = MySQLDefinitionText.replacingDefiner(in: bytes, dialect: dialect,
                                                                      with: .account(user: account.user, host: account.host)) else {
                throw refusal
            }
            statement = redefined
        }
        let settings = "SELECT @@SESSION.sql_mode, @@SESSION.character_set_client, @@SESSION.collation_connection"
        guard let theirs = try c.query(settings).first, let mine = try admin.query(settings).first else { return }
        func apply(_ row: [String?]) throws {
            try admin.execute("SET SESSION sql_mode = \(admin.literal(row[0] ?? "")), SESSION character_set_client = \(admin.literal(row[1] ?? "utf8mb4")), SESSION collation_connection = \(admin.literal(row[2] ?? "utf8mb4_general_ci"))")
        }
        try admin.execute("USE \(quoteName(shadow))")
        try apply(theirs)
        defer { try? apply(mine) }
        try admin.execute(bytes: &statement, describe: String(decoding: bytes.prefix(200), as: UTF8.self))
    }
}
