import FerryCore
import Foundation

/// What an import made in its shadow database, so that an application's object made there is
/// never carried into the target by the swap nor dropped with the shadow (tester w5 X1b).
///
/// The import's statements run as the shadow's throwaway role (`PostgresImportRole`), which owns
/// the shadow and nothing else: at the end of the build (`settleImportRole`, once the role's one
/// session has ended) every object in the shadow that carries an owner (`objects`) and was not
/// there when the import began (an `append`'s clone of the target) must be the role's. One
/// owned by another role is an application's (or anyone's): the build is refused
/// (`OperationDenied.WrongStatus`). What the shadow holds then is recorded here, per server and
/// shadow, for the rest of the run in this process: the swap refuses a shadow holding anything
/// made since (nothing renamed), and `drop` / `removeLeftovers` leave such a shadow as it is.
///
/// The record is kept in Ferry's claims database too (`recordImportObjects`, table
/// `import_objects`, by the shadow's oid): `ferry recover` after a kill makes the same check
/// (a shadow whose build was cut short: anything with an owner that is neither the import
/// role's nor there before the file ran), and leaves such a shadow, named (exit 4).
///
/// Limits (README "known gaps"): without that record (it could not be written, or an earlier
/// release's run) `ferry recover` drops an import's shadow without this check; an object made between the shadow's
/// creation (or an append's clone) and the import's first statement counts as the target's; an
/// object made by a session of the import role itself, or one without an owner (a trigger, a
/// rule, a policy) made before the build ended, is taken for the import's.
final class PostgresImportLedger: @unchecked Sendable {
    static let shared = PostgresImportLedger()
    // Every access holds `lock`.
    private let lock = NSLock()
    private var made: [String: Set<String>] = [:]

    static func key(_ session: PostgresSession, _ shadow: String) -> String {
        "\(session.address.host):\(session.address.port)/\(shadow)"
    }

    func record(_ objects: Set<String>, for key: String) {
        lock.lock(); made[key] = objects; lock.unlock()
    }

    func objects(for key: String) -> Set<String>? {
        lock.lock(); defer { lock.unlock() }
        return made[key]
    }
}

extension PostgresSession {
    /// The objects of the database `c` is connected to that were made after `initdb` (oid at
    /// least 16384, PostgreSQL's `FirstNormalObjectId`), outside temporary schemas, neither
    /// members of an extension nor internal parts of another object (an array type, a row type,
    /// a TOAST table: they come and go with it, and a trusted extension's array types belong to
    /// the bootstrap superuser), as `classid/objid` → the owner's oid ("" for an object without
    /// an owner: a trigger, a rule, a policy, a constraint, a default); every large object.
    static func shadowObjects(on c: PostgresConnection) throws -> [String: String] {
        let owned: [(String, String, String?)] = [
            ("pg_class", "relowner", "relnamespace"), ("pg_proc", "proowner", "pronamespace"),
            ("pg_type", "typowner", "typnamespace"), ("pg_namespace", "nspowner", "oid"),
            ("pg_collation", "collowner", "collnamespace"), ("pg_conversion", "conowner", "connamespace"),
            ("pg_operator", "oprowner", "oprnamespace"), ("pg_opclass", "opcowner", "opcnamespace"),
            ("pg_opfamily", "opfowner", "opfnamespace"), ("pg_ts_dict", "dictowner", "dictnamespace"),
            ("pg_ts_config", "cfgowner", "cfgnamespace"), ("pg_statistic_ext", "stxowner", "stxnamespace"),
            ("pg_extension", "extowner", nil), ("pg_foreign_data_wrapper", "fdwowner", nil),
            ("pg_foreign_server", "srvowner", nil), ("pg_publication", "pubowner", nil),
            ("pg_event_trigger", "evtowner", nil), ("pg_language", "lanowner", nil),
        ]
        let unowned: [(String, String)] = [
            ("pg_trigger", "tgrelid"), ("pg_rewrite", "ev_class"), ("pg_policy", "polrelid"), ("pg_attrdef", "adrelid"),
        ]
        let temp = "(SELECT oid FROM pg_namespace WHERE nspname ~ '^pg_(toast_)?temp_')"
        var parts = owned.map { catalog, owner, namespace in
            "SELECT '\(catalog)'::regclass::oid AS classid, oid AS objid, \(owner)::text AS owner FROM pg_catalog.\(catalog) WHERE oid >= 16384"
                + (namespace.map { " AND \($0) NOT IN \(temp)" } ?? "")
        }
        parts += unowned.map { catalog, relation in
            "SELECT '\(catalog)'::regclass::oid, x.oid, '' FROM pg_catalog.\(catalog) x JOIN pg_class r ON r.oid = x.\(relation) WHERE x.oid >= 16384 AND r.relnamespace NOT IN \(temp)"
        }
        parts.append("SELECT 'pg_constraint'::regclass::oid, oid, '' FROM pg_catalog.pg_constraint WHERE oid >= 16384 AND connamespace NOT IN \(temp)")
        parts.append("SELECT 'pg_largeobject_metadata'::regclass::oid, oid, lomowner::text FROM pg_catalog.pg_largeobject_metadata")
        let query = "SELECT o.classid::text || '/' || o.objid::text, o.owner FROM (" + parts.joined(separator: " UNION ALL ") + ") o "
            + "WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = o.classid AND d.objid = o.objid AND d.deptype IN ('e', 'i'))"
        var result: [String: String] = [:]
        for row in try c.query(query) { if let key = row[0] { result[key] = row[1] ?? "" } }
        return result
    }

    /// `keys` (`classid/objid`) as PostgreSQL describes them, up to five, sorted.
    static func describeObjects(_ keys: Set<String>, on c: PostgresConnection) -> String {
        let sorted = keys.sorted()
        let names = sorted.prefix(5).map { key -> String in
            let parts = key.split(separator: "/")
            guard parts.count == 2 else { return key }
            return (try? c.scalar("SELECT pg_describe_object(\(parts[0]), \(parts[1]), 0)")).flatMap { $0 } ?? key
        }
        return names.joined(separator: ", ") + (sorted.count > 5 ? " and \(sorted.count - 5) more" : "")
    }

    /// Why `shadow` must not be swapped in or dropped, or nil: it holds objects that were not
    /// there when its import's build ended (`PostgresImportLedger`). Nil for a shadow this
    /// process did not build (a copy's, or one of a killed run) or one that is gone.
    func objectsNotMadeByImport(in shadow: String) throws -> String? {
        guard try databaseExists(shadow) else { return nil }
        let inProcess = PostgresImportLedger.shared.objects(for: PostgresImportLedger.key(self, shadow))
        guard let recorded = inProcess.map({ ImportObjects(built: true, roleOid: "", objects: $0) }) ?? recordedImportObjects(shadow: shadow)
        else { return nil }
        let c = try open(shadow)
        let readers = PostgresBackends()
        readers.add(try? c.scalar("SELECT pg_backend_pid()"))
        defer { c.close(); readers.awaitEnd(on: connection) }
        let objects = try Self.shadowObjects(on: c)
        let foreign = recorded.built ? Set(objects.keys).subtracting(recorded.objects)
            : Set(objects.filter { !$0.value.isEmpty && $0.value != recorded.roleOid && !recorded.objects.contains($0.key) }.keys)
        guard !foreign.isEmpty else { return nil }
        let when = inProcess != nil ? "after its build" : recorded.built ? "after its build, before the run was cut short" : "while its build ran (another role owns it), before the run was cut short"
        return "\(shadow) on \(instanceName) holds \(Self.describeObjects(foreign, on: c)), which the import did not make (made in it by another session \(when))"
    }

    /// What an import's shadow held as recorded in Ferry's claims database: `built` false, the
    /// objects there before the file ran and the import role's oid (the build was not finished);
    /// true, every object the build left.
    struct ImportObjects {
        var built: Bool
        var roleOid: String
        var objects: Set<String>
    }

    /// Records `objects` of the import shadow `shadow` in Ferry's claims database (table
    /// `import_objects`, by the shadow's oid), for `objectsNotMadeByImport` in a later process
    /// (`ferry recover` after a kill). Rows of databases that are gone are removed. Never throws:
    /// without the record a later process drops the shadow without the check, as before.
    func recordImportObjects(shadow: String, objects: Set<String>, roleOid: String, built: Bool) {
        guard let oid = try? oid(of: shadow), let meta = try? metaConnection(create: true) else { return }
        defer { meta.close() }
        _ = try? meta.execute("CREATE TABLE IF NOT EXISTS public.import_objects (datoid oid PRIMARY KEY, shadow text NOT NULL, built boolean NOT NULL, role_oid text NOT NULL, objects text NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now())")
        guard (try? Self.metaTableIsFerrys(meta, "public.import_objects")) == true else { return }
        _ = try? meta.execute("""
            DELETE FROM public.import_objects WHERE datoid NOT IN (SELECT oid FROM pg_database);
            INSERT INTO public.import_objects (datoid, shadow, built, role_oid, objects) VALUES (\(quoteLiteral(oid))::oid, \(quoteLiteral(shadow)), \(built), \(quoteLiteral(roleOid)), \(quoteLiteral(objects.sorted().joined(separator: ","))))
              ON CONFLICT (datoid) DO UPDATE SET shadow = EXCLUDED.shadow, built = EXCLUDED.built, role_oid = EXCLUDED.role_oid, objects = EXCLUDED.objects, recorded_at = now()
            """)
    }

    /// The record `recordImportObjects` made of `shadow` (by its oid and name); nil when there is none.
    func recordedImportObjects(shadow: String) -> ImportObjects? {
        guard let oid = try? oid(of: shadow), let meta = try? metaConnection(create: false) else { return nil }
        defer { meta.close() }
        guard (try? Self.metaTableIsFerrys(meta, "public.import_objects")) == true,
              let row = try? meta.query("SELECT built::text, role_oid, objects FROM public.import_objects WHERE datoid = \(quoteLiteral(oid))::oid AND shadow = \(quoteLiteral(shadow))").first
        else { return nil }
        return ImportObjects(built: row[0] == "true", roleOid: row[1] ?? "",
                             objects: Set((row[2] ?? "").split(separator: ",").map(String.init)))
    }
}
