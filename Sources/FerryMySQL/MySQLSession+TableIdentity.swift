import FerryCore
import Foundation

/// A table's identity: MariaDB gives a schema none (no oid, no creation time), but InnoDB gives
/// each table an id that `RENAME TABLE` keeps (also into another schema) and that a table made
/// again under the same name never has (fresh tester round 15, B2: a target dropped and made
/// again by an application with a table `t` of the run's name was taken for the run's; the
/// recover moved it into the shadow). MariaDB shows the id in
/// `information_schema.INNODB_SYS_TABLES` (https://mariadb.com/kb/en/information-schema-innodb_sys_tables-table/),
/// MySQL 8 in `information_schema.INNODB_TABLES`
/// (https://dev.mysql.com/doc/refman/8.0/en/information-schema-innodb-tables-table.html); both
/// name a table `schema/table`, each part in the server's file-name encoding (the `filename`
/// character set, https://mariadb.com/kb/en/identifier-to-file-name-mapping/), which
/// `CONVERT(... USING filename)` gives. A `TRUNCATE TABLE`, `OPTIMIZE TABLE` or rebuilding
/// `ALTER TABLE` gives a table a new id too: such a table is then not proved the run's either.
/// Tables without an InnoDB id (Aria, MyISAM, partitioned, or a server without the view or
/// the privilege to read it: `PROCESS`) have only their names as proof, as before.
extension MySQLSession {
    /// The InnoDB ids of `schema`'s tables by name; nil when the server shows none (no such view,
    /// or it cannot be read). A table without an InnoDB id is not in the map.
    func tableIDs(in schema: String) throws -> [String: String]? {
        let c = connection
        let views = try c.query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'information_schema' AND TABLE_NAME IN ('INNODB_SYS_TABLES', 'INNODB_TABLES') ORDER BY TABLE_NAME DESC").compactMap { $0[0] }
        guard let view = views.first else { return nil }
        func encoded(_ column: String) -> String { "CONVERT(CONVERT(\(column) USING filename) USING binary)" }
        do {
            let rows = try c.query("SELECT T.TABLE_NAME, I.TABLE_ID FROM information_schema.TABLES T JOIN information_schema.\(view) I ON I.NAME = CONCAT(\(encoded("T.TABLE_SCHEMA")), '/', \(encoded("T.TABLE_NAME"))) WHERE T.TABLE_SCHEMA = \(c.literal(schema))")
            var ids: [String: String] = [:]
            for row in rows { if let name = row[0], let id = row[1] { ids[name] = id } }
            return ids
        } catch is MySQLServerError {
            return nil
        }
    }

    /// The ids of `tables` in `schema` (`tableIDs`), for a record: only those that have one;
    /// nil when the server shows none.
    func tableIDs(of tables: [String], in schema: String) throws -> [String: String]? {
        guard let all = try tableIDs(in: schema) else { return nil }
        return all.filter { tables.contains($0.key) }
    }

    /// The names of `tables` that `schema` holds under a name a record (`recorded`, name to
    /// InnoDB id) gives an id, but as another table (another id, or none: made again since).
    /// Empty when nothing is recorded or the server shows no ids now (the names are the proof
    /// then). Names compared as the server compares them (`lower_case_table_names`).
    func tablesMadeAgain(_ tables: [String], in schema: String, recorded: [String: String]?) throws -> [String] {
        guard let recorded, !recorded.isEmpty, try schemaExists(schema), let now = try tableIDs(in: schema) else { return [] }
        let folds = try connection.scalar("SELECT @@lower_case_table_names") != "0"
        let fold: (String) -> String = folds ? { $0.lowercased() } : { $0 }
        let expected = Dictionary(recorded.map { (fold($0.key), $0.value) }, uniquingKeysWith: { a, _ in a })
        let current = Dictionary(now.map { (fold($0.key), $0.value) }, uniquingKeysWith: { a, _ in a })
        return tables.filter { name in
            guard let id = expected[fold(name)] else { return false }
            return current[fold(name)] != id
        }
    }

    /// `tablesMadeAgain` for the tables a swap moved into `schema` (ids in `record`'s detail):
    /// none while `schema`'s whole content token (every table's `CHECKSUM TABLE` and `SHOW CREATE
    /// TABLE`, every view, routine, trigger and event) is the one the swap moved in
    /// (`afterSwapToken`). A table with another id then holds the run's rows under the run's
    /// definition: the run's table rebuilt in place by an `OPTIMIZE TABLE` or `ALTER TABLE ...
    /// FORCE` (fresh tester round 62, 4: every rollback refused it as "made again", nothing having
    /// been written), or one made again holding exactly that, which the undo moves out losing
    /// nothing anyone wrote. The token is read only when an id differs; once proved, the same
    /// ids pass this session's later checks (`provedRebuilt`: the undo's, after it took the run's
    /// objects off the target).
    func runTablesMadeAgain(_ tables: [String], in schema: String, of record: SwapRecord) throws -> [String] {
        let madeAgain = try tablesMadeAgain(tables, in: schema, recorded: Self.swappedInIDs(record.detail))
        guard !madeAgain.isEmpty else { return [] }
        let ids = try tableIDs(of: tables, in: schema)
        if let ids, let proved = provedRebuilt[schema], ids.allSatisfy({ proved[$0.key] == $0.value }) { return [] }
        guard let token = record.afterSwapToken, try contentToken(of: schema) == token else { return madeAgain }
        if let ids { provedRebuilt[schema] = ids }
        return []
    }

    /// What an undo says of `tables` in `schema` (`tablesMadeAgain`): that they are not the run's.
    func madeAgainListing(_ tables: [String], in schema: String) -> String {
        "\(schema) on \(instanceName) holds \(Self.listing(Set(tables.map { Self.builtEntry(kind: "TABLE", name: $0) }), tableKinds: Dictionary(tables.map { ($0, "table") }, uniquingKeysWith: { a, _ in a }))), \(tables.count == 1 ? "which is not the run's: it was made again under the run's name" : "which are not the run's: they were made again under the run's names") since the swap (InnoDB gives \(tables.count == 1 ? "it another table id than the table" : "each another table id than the tables") the swap moved in: dropped and made again by someone else (an application, or a Ferry run from another copy of this project), alone or with \(schema), or rebuilt by a TRUNCATE, OPTIMIZE or ALTER TABLE)"
    }
}
