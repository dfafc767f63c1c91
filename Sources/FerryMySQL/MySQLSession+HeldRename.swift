import CMariaDB
import FerryCore
import Foundation

/// The cut-over of a swap or of its undo that must not take an application's write along
/// (issue 14, fresh tester round 43, F2 and F3: a row written between the check that the target
/// still held what was expected and the `RENAME TABLE` went with the moved tables into the
/// checkpoint or the shadow, out of the live database).
///
/// The check and the rename run under one hold, after gh-ost's cut-over (github/gh-ost,
/// docs/cut-over.md): connections of their own take `LOCK TABLES ... READ` on the target's
/// tables (`WRITE` on its sequences, whose `NEXTVAL` passes `READ`), read their `CHECKSUM TABLE` under those locks (writers wait from here on, readers go
/// on) and compare
/// them with the data part of the expected token; then this session's connection sends the one
/// `RENAME TABLE`, which waits for the locks; once the server shows it waiting
/// (`information_schema.PROCESSLIST`, "Waiting for table metadata lock"), the holders let go.
/// MariaDB and MySQL grant a pending exclusive metadata lock before pending shared ones (the
/// writers'), so the rename goes first and the waiting writes land in the tables it put at the
/// target's names: live.
///
/// The rename takes its locks one table after another, in the order of their keys' bytes
/// (`MDL_context::acquire_locks` sorts them): one holder holding all the tables let a write
/// that waited on a later table through before the rename reached it (it went into the
/// checkpoint or the shadow). So each table has a holder of its own, and a gate
/// (`MySQLRenameGate`, round 45) that keeps writers out of it until the rename has moved it; an
/// ungated table's holder lets go `releaseGap` after the one before, in that order.
///
/// What is left: for an ungated table (joined by a foreign key, or past the connections) that gap
/// is a time, not a proof (a rename thread not run within it lets a write through); past
/// `maxHolders` tables (or the instance's `maxConnections` less 3) the last holder holds the rest
/// together. Each caller
/// compares what the rename moved out with what it expected afterwards and names such a write
/// (the words of round 43). A target whose tables an open transaction holds makes the hold wait
/// `holdWaitSeconds` at most, in tries of `holdAttemptSeconds` (then nothing has changed, and
/// the error says so); while the hold reads the target's checksums, its writers wait (one
/// `CHECKSUM TABLE` pass over the target).
extension MySQLSession {
    /// The longest wait (seconds) for the holders' `LOCK TABLES`, over all tries, and for the
    /// rename to show it waits for them (then it is stopped with `KILL QUERY`).
    /// (`FERRY_TEST_HOLD_WAIT_SECONDS` shortens it for the tests, as `FERRY_TEST_KILL_AT` stops
    /// a run: a test of a wait that ends it does not wait a minute.)
    static let holdWaitSeconds = ProcessInfo.processInfo.environment["FERRY_TEST_HOLD_WAIT_SECONDS"].flatMap { Int($0) }.map { max(1, $0) } ?? 60
    /// One try's wait (seconds, the holders' `lock_wait_timeout`).
    static let holdAttemptSeconds = 2

    /// One `RENAME TABLE` of `moves` (`renameAll`), sent while every table of `database` but its
    /// run tables and `excluding` is held against writers, after their `CHECKSUM TABLE` under that
    /// hold gave the data part of `expected` (an `EngineSession.contentToken`). Without `expected`
    /// (or with another engine's token) the rename is sent as it is, unless `gating` names
    /// tables or `takingOff` is given: then the target is held (the triggers taken off under the
    /// dropper's hold where it can) and gated all the same, with no check of its rows.
    ///
    /// Throws `refusal(why)` before anything is renamed when the tables hold other rows (or a
    /// table was made in or dropped from `database` since `expected` was read); `WrongStatus`
    /// when the hold cannot be taken within `holdWaitSeconds`; the rename's own error otherwise.
    ///
    /// Each table it holds is gated through the rename (`MySQLRenameGate`), and those of `gating`
    /// (tables that get triggers after the rename) until the caller made their triggers on the
    /// gate returned (`MySQLRenameGate.whenGranted`). `sources`: the schemas `moves` takes tables
    /// from (their foreign keys count as the target's).
    ///
    /// `takingOff` takes the target's triggers off their tables (MariaDB renames no table with a
    /// trigger into another database), given the connection to drop them on, exactly once: under
    /// a hold of its own (the *dropper*, below) where it can, before the holders otherwise.
    /// `triggered`: the tables those triggers are on. `underHold` runs once the hold's check
    /// passed, before the rename is sent. `definitions`: what `definitionsDigest(of: database,
    /// objects: [], tables:)` gave for the tables it holds (all but Ferry's and `excluding`) at
    /// the caller's check (`heldTablesDefinitions`); under the hold it must give the same, or the
    /// rename is refused (`refusal`): a table made since counts too. `holdingToo`: tables of
    /// another schema the rename moves (an undo's checkpoint, whose key sorts after the target's),
    /// but its sequences, held against writers too (`READ`), by one more holder that lets go
    /// last (the rename takes them after the target's), so that what `underHold` reads of them
    /// is what the rename moves (fresh tester round 57, H6: a row written into the checkpoint
    /// after the undo's read under the hold went live, "as before"); a writer waiting on one
    /// then finds it moved. Each of them but those joined by a foreign key is gated through the
    /// rename too (`MySQLRenameGate`; round 58, H2: its holder let go before the rename reached
    /// them, while the gates held the target's tables, and a row written then went live). Not
    /// on the dropper's path.
    ///
    /// The dropper (fresh tester round 46, H2: a row written between the triggers' drop and the
    /// hold fired none of them, and a refused append said so): one connection takes `LOCK TABLES`
    /// of every table at once, `WRITE` on the triggered ones (`DROP TRIGGER` under `LOCK TABLES`
    /// needs it; one statement, because `WRITE` on a table with a trigger also locks the tables
    /// the trigger writes, which another connection's `READ` would keep it waiting for), `READ`
    /// on the rest, and checks the checksums under it: a refusal then leaves every trigger where
    /// it was. Only then are the triggers dropped, on it. The holders ask for `WRITE` behind it,
    /// which the server grants before the writers' waiting locks, as it does the gates' (a
    /// waiting `READ` it grants after them: measured), and it lets go once each shows waiting:
    /// no writer gets a table between the check and the rename, so the holders do not check
    /// again (but for another session's `LOCK TABLES ... WRITE` waiting on the dropper: the same
    /// lock as the holders', granted first come, so then they read the checksums again: fresh
    /// tester round 57, H1) (readers of the triggered tables wait through the checksums, the others' only from
    /// the holders to the rename). Not where a table of the target or the moved schemas is
    /// joined by a foreign key (a `WRITE` on one takes the other, which its own holder holds), a
    /// triggered table has a stored generated column (its `CHECKSUM TABLE` differs under
    /// `WRITE`), or the holders would share a connection: there the triggers come off before
    /// the hold, as before.
    /// `names` in the order a `RENAME TABLE` takes their locks: by their bytes
    /// (`MDL_context::acquire_locks` sorts by the key's bytes).
    static func inRenameOrder(_ names: [String]) -> [String] {
        names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    /// The baseline of `renameHolding`'s `definitions`: the definitions of the tables of
    /// `database` it would hold (not Ferry's own, not `excluding`), read now.
    /// The verb of `statement` (a `PROCESSLIST` `INFO`) where it is one that changes or replaces
    /// a table's definition or files (`ALTER`, `OPTIMIZE`, `TRUNCATE`, `CREATE`, `DROP`,
    /// `RENAME`, `REPAIR`, `ANALYZE`), upper-cased; nil otherwise. Leading blanks, parentheses
    /// and comments (`/* */`, `-- `, `#`) are skipped.
    static func ddlVerb(of statement: String) -> String? {
        var rest = Substring(statement)
        while true {
            rest = rest.drop { $0.isWhitespace || $0 == "(" }
            if rest.hasPrefix("/*") {
                guard let end = rest.range(of: "*/") else { return nil }
                rest = rest[end.upperBound...]
            } else if rest.hasPrefix("#") || rest.hasPrefix("--") {
                guard let end = rest.firstIndex(of: "\n") else { return nil }
                rest = rest[end...]
            } else {
                break
            }
        }
        let verb = rest.prefix { $0.isLetter }.uppercased()
        return ["ALTER", "OPTIMIZE", "TRUNCATE", "CREATE", "DROP", "RENAME", "REPAIR", "ANALYZE"].contains(verb) ? verb : nil
    }

    /// Another session's DDL statement (`ddlVerb`) under way or waiting (`PROCESSLIST`, read on
    /// `c`) that names one of `schemas` or runs in one: its session, verb and schema, or nil.
    /// Sessions in `ours` (and `c`'s own) are Ferry's. Its text is never said: it may hold anything.
    static func foreignDDL(on c: MySQLConnection, naming schemas: [String], excluding ours: Set<UInt>) throws -> (id: UInt, verb: String, schema: String)? {
        for row in try c.query("SELECT ID, DB, INFO FROM information_schema.PROCESSLIST WHERE COMMAND = 'Query' AND INFO IS NOT NULL AND ID <> CONNECTION_ID()") {
            guard let id = row[0].flatMap({ UInt($0) }), !ours.contains(id), let info = row[2], let verb = ddlVerb(of: info),
                  let schema = schemas.sorted().first(where: { row[1] == $0 || info.contains($0) }) else { continue }
            return (id, verb, schema)
        }
        return nil
    }

    func heldTablesDefinitions(_ database: String, excluding: Set<String>) throws -> String {
        let own = Self.ownTables(in: database)
        return try definitionsDigest(of: database, objects: [], tables: Set(try baseTables(database).filter { !own.contains($0) && !excluding.contains($0) }))
    }

    @discardableResult
    func renameHolding(_ database: String, unchanged expected: String?, excluding: Set<String> = [], gating: [String] = [],
                       sources: [String] = [], moves: [(from: String, to: String)], of schema: String,
                       takingOff: ((MySQLConnection) throws -> Void)? = nil, triggered: Set<String> = [],
                       underHold: (() throws -> Void)? = nil, definitions: String? = nil,
                       holdingToo: (schema: String, tables: [String])? = nil,
                       refusal: (_ why: String) -> FerryError) throws -> MySQLRenameGate? {
        // Without a token (a replace: what is written into the old tables goes out with them)
        // nothing is checked under the hold, but tables that get triggers are still held and
        // gated through the rename (fresh tester round 62, 1: rows written right after a
        // replace's rename fired none of the run's triggers, "Apply complete!").
        let data = expected.flatMap { Self.dataPart(of: $0) }
        renameBegan = nil
        guard !moves.isEmpty, data != nil || !gating.isEmpty || takingOff != nil else {
            try takingOff?(connection)
            renameBegan = Date()
            try renameAll(moves, of: schema)
            return nil
        }
        let own = Self.ownTables(in: database)
        func tables(on c: MySQLConnection) throws -> [String] {
            try baseTables(database, on: c).filter { !own.contains($0) && !excluding.contains($0) }
        }
        // In the order the rename takes their locks (`MDL_context::acquire_locks` sorts by the
        // key's bytes, then takes one after another): one holder a table, the last holding the
        // rest where there are more than `maxHolders`.
        let held = Self.inRenameOrder(try tables(on: connection))
        // (Fewer where the instance's `maxConnections` leaves fewer.)
        let cap = max(1, min(Self.maxHolders, target.instance.maxConnections.map { $0 - 3 } ?? Self.maxHolders))
        let groups: [[String]] = held.count <= cap ? held.map { [$0] }
            : held.prefix(cap - 1).map { [$0] } + [Array(held.dropFirst(cap - 1))]
        var holders: [MySQLConnection] = []
        defer { for holder in holders { holder.close() } }
        var locked = 0   // holders[..<locked] hold their tables
        defer { for holder in holders.prefix(locked) { try? holder.execute("UNLOCK TABLES") } }
        // `holdingToo`'s holder (`READ`, a sequence `WRITE`), and whether it holds them.
        let extra = try holdingToo.flatMap { too -> (holder: MySQLConnection, statement: String, schema: String, tables: [String])? in
            guard !too.tables.isEmpty, takingOff == nil else { return nil }
            let c = try openAnother()
            try c.execute("SET SESSION lock_wait_timeout = \(Self.holdAttemptSeconds)")
            // Not its sequences: `NEXTVAL` passes a `READ`, and a `WRITE` keeps the caller's own
            // read of them (`underHold`, on another connection) waiting for good.
            let seqs = Set(try connection.query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = \(connection.literal(too.schema)) AND TABLE_TYPE = 'SEQUENCE'").compactMap { $0[0] })
            let tables = too.tables.filter { !seqs.contains($0) }
            guard !tables.isEmpty else { c.close(); return nil }
            return (c, "LOCK TABLES " + tables.map { qualified(too.schema, $0) + " READ" }.joined(separator: ", "), too.schema, tables)
        }
        var extraLocked = false
        defer {
            if extraLocked { try? extra?.holder.execute("UNLOCK TABLES") }
            extra?.holder.close()
        }
        for _ in groups {
            let holder = try openAnother()
            holders.append(holder)
            try holder.execute("SET SESSION lock_wait_timeout = \(Self.holdAttemptSeconds)")
        }
        // `READ`: writers wait (its lock, `MDL_SHARED_READ_ONLY`, admits no write), readers go on,
        // and holders of tables joined by a foreign key do not wait for each other (`WRITE` on a
        // child takes the parent too). A try that waits too long lets go of what it took and
        // tries again, so that writers held behind it go on meanwhile (gh-ost's cut-over does so).
        // A sequence takes `WRITE`: its `NEXTVAL` passes a `READ` lock. It has no foreign key.
        let sequences = Set(try connection.query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = \(connection.literal(database)) AND TABLE_TYPE = 'SEQUENCE'").compactMap { $0[0] })
        let folds = try connection.scalar("SELECT @@lower_case_table_names") != "0"
        func same(_ a: String, _ b: String) -> Bool { folds ? a.lowercased() == b.lowercased() : a == b }
        let joined = try foreignKeyTables(in: [database] + sources)
        // The tables that lose their triggers, as the listing names them.
        let dropped = Set(held.filter { table in triggered.contains { same($0, table) } })
        var checked = false, heldAlready = false
        if let takingOff {
            let generated = try storedGeneratedTables(database)
            let canHold = held.count <= cap && joined.isEmpty && dropped.count == Set(triggered.map { folds ? $0.lowercased() : $0 }).count
                && !dropped.contains { generated.contains($0) }
            if canHold {
                var contested = false
                do {
                    contested = try dropperHold(database, held: held, listing: tables(on:), dropped: dropped, sequences: sequences, data: data, groups: groups,
                                                holders: holders, takingOff: takingOff, refusal: refusal)
                } catch let error as MySQLServerError where error.code == 1146 {
                    throw refusal("a table was dropped from it (\(error.message))")
                }
                locked = holders.count
                heldAlready = true
                // Another session's `LOCK TABLES` waited on the dropper: its `WRITE` may have been
                // granted before the holders' (fresh tester round 57, H1), so the holders read
                // the checksums again below.
                checked = !contested
            } else {
                try takingOff(connection)
                KillPoint.check("change:mysql.rename.triggersOff")   // tests: a write here fires none
            }
        }
        if !heldAlready { do {
            try retryingHold(of: database, take: {
                for (group, holder) in zip(groups, holders) {
                    try holder.execute("LOCK TABLES " + group.map { qualified(database, $0) + (sequences.contains($0) ? " WRITE" : " READ") }.joined(separator: ", "))
                    locked += 1
                }
                if let (holder, statement, _, _) = extra {
                    try holder.execute(statement)
                    extraLocked = true
                }
            }, letGo: {
                for holder in holders.prefix(locked) { try? holder.execute("UNLOCK TABLES") }
                locked = 0
                if extraLocked { try? extra?.holder.execute("UNLOCK TABLES") }
                extraLocked = false
            })
        } catch let error as MySQLServerError where error.code == 1146 {
            throw refusal("a table was dropped from it (\(error.message))")
        } }
        // Under the hold: the same tables, the same rows (read under the dropper's hold, which
        // let no writer in before the holders').
        let watcher = try holders.first ?? openAnother()
        if holders.isEmpty { holders.append(watcher) }
        guard Self.inRenameOrder(try tables(on: watcher)) == held else {
            throw refusal("a table was made in it or dropped from it")
        }
        if !checked, let data {
            var sums: [String: String?] = [:]
            for (group, holder) in zip(groups, holders) {
                for table in group { sums[table] = try Self.checksum(table, in: database, on: holder) }
            }
            guard Self.dataDigest(sums).map({ $0 == data }) == true else { throw refusal("rows of it changed") }
        }
        // The tables' definitions too (`definitions`: the caller's `definitionsDigest` of them,
        // without objects, read at its check): an `ALTER TABLE` (an index, a comment, a column)
        // changes no checksum, and one made between that check and the hold went with the moved
        // tables out of the live target (fresh tester round 57, H2). One waiting behind the hold
        // runs after the rename, on the table the rename put under that name.
        if let definitions, try definitionsDigest(of: database, objects: [], tables: Set(held)) != definitions {
            throw refusal("a table was made in it, or a table's definition changed: an ALTER TABLE, of an index, a comment or a column")
        }
        KillPoint.check("change:mysql.rename.held")   // tests: a write here waits and lands live
        // This connection's own waits from here on are bounded (fresh tester round 59, 2 and 4):
        // the caller's reads under the hold wait `holdAttemptSeconds` at most (an application's
        // `ALTER TABLE` of a held checkpoint table waits on the holder for its exclusive lock,
        // and a read asked after it waits behind it: the hold waited on itself, writers of the
        // target with it, for good); the rename `holdWaitSeconds` (an open transaction that read
        // a table kept it waiting, and every writer behind it, for as long as it stayed open).
        let wait = try connection.scalar("SELECT @@SESSION.lock_wait_timeout") ?? "31536000"
        defer { try? connection.execute("SET SESSION lock_wait_timeout = \(wait)") }
        try connection.execute("SET SESSION lock_wait_timeout = \(Self.holdAttemptSeconds)")
        // The caller's own checks under the hold (an undo's of its checkpoint); what it throws
        // is thrown with nothing renamed.
        do { try underHold?() } catch let error as MySQLServerError where error.code == 1205 {
            throw FerryError(.wrongStatus, "cannot read \(holdingToo?.schema ?? database) on \(instanceName) under the hold for its swap: another session's statement waits on its tables (an ALTER TABLE, a lock of theirs) (\(error.message)); nothing was renamed",
                             hint: "let that statement finish, then run the command again", instance: instanceName, reason: .inTheWayForNow)
        }
        // Another session's DDL of `holdingToo`'s schema under way (an `ALTER TABLE` takes its
        // first lock beside the holder's `READ`, and its exclusive one as the holder lets go,
        // before the rename's: the rename then moved the altered table into the live target,
        // "as they were before"; fresh tester round 59, 1): nothing is renamed. Told by the
        // process list (a statement that names the schema, or runs in it); its text is never
        // said (it may hold anything).
        if let too = holdingToo, extraLocked {
            let ours = Set(([connection, watcher] + holders).map { UInt(mysql_thread_id($0.handlePointer)) } + [extra].compactMap { $0.map { UInt(mysql_thread_id($0.holder.handlePointer)) } })
            if let (id, verb, _) = try Self.foreignDDL(on: watcher, naming: [too.schema], excluding: ours) {
                throw FerryError(.wrongStatus, "cannot move \(too.schema)'s tables on \(instanceName) back: another session's \(verb) statement (session \(id)) is under way on the checkpoint \(too.schema), and it would finish before the rename; nothing was renamed",
                                 hint: "let that statement finish, then run the command again (a checkpoint changed by it cannot be restored: `ferry recover --keep-later-writes` then ends the rollback)", instance: instanceName, reason: .inTheWayForNow)
            }
        }
        try connection.execute("SET SESSION lock_wait_timeout = \(Self.holdWaitSeconds)")
        guard locked > 0 else {
            // (No table of the target to hold: the rename is sent on this connection, so the
            // other schema's holder lets go first.)
            if extraLocked { try? extra?.holder.execute("UNLOCK TABLES"); extraLocked = false }
            renameBegan = Date()
            try renameAll(moves, of: schema)
            return nil
        }
        // A gate a table (`MySQLRenameGate`), waiting behind the holders before the rename is
        // sent: no writer gets a table before the rename has moved it, and one that gets triggers
        // (`gating`) not before they are made. Not for tables joined by a foreign key, here or in
        // the schemas the rename moves tables from (`sources`), nor for sequences (held `WRITE`;
        // a gate's `LOCK TABLES` of one was seen to stay in "Opening tables" for good), nor past
        // the instance's connections.
        // (With the holders and the gates' watcher, no more connections than the instance's
        // `maxConnections` less 3, or twice `maxHolders`.)
        let gateCap = max(0, (target.instance.maxConnections.map { $0 - 3 } ?? Self.maxHolders * 2) - holders.count - 1)
        // Tables that get triggers first where not all can be gated.
        let gateable = held.filter { table in !joined.contains { same($0, table) } && !sequences.contains(table) }
        let triggered = { (table: String) in gating.contains { same($0, table) } }
        // `holdingToo`'s tables first (round 58, H2): a write that reaches one before the rename
        // goes live unseen, one into a table of the target goes out with the run's tables, where
        // the caller's compare finds it (fresh tester round 60, 1: with 45 tables in the target
        // none of the checkpoint's was left a connection, and rows and ALTERs written into it
        // went live, "as before"). Not those joined by a foreign key (their names, here or in
        // `sources`, as for the target's). (The extra holder's connection counts too.)
        let otherGated: [(database: String, table: String)] = extraLocked ? (extra.map { too in
            too.tables.filter { table in !joined.contains { same($0, table) } }.prefix(max(0, gateCap - 1)).map { (too.schema, $0) }
        } ?? []) : []
        let chosen = Set((gateable.filter(triggered) + gateable.filter { !triggered($0) }).prefix(max(0, gateCap - (extraLocked ? 1 : 0) - otherGated.count)))
        let gated = gateable.filter(chosen.contains)
        let gate = gated.isEmpty && otherGated.isEmpty ? nil
            : try MySQLRenameGate(gated.map { (database, $0) } + otherGated, open: { try openAnother(watched: false) }, seconds: Self.holdAttemptSeconds)
        let isGated = { (schema: String, table: String) in gate?.gates.contains { !$0.released && $0.database == schema && $0.table == table } == true }
        // The rename on this session's connection, on a thread of its own: it waits for the hold.
        let me = mysql_thread_id(connection.handlePointer)
        let outcome = HeldRenameOutcome()
        let session = UncheckedBox(self), sent = UncheckedBox(moves)
        let thread = Thread { outcome.finish(Result { try session.value.renameAll(sent.value, of: schema) }) }
        thread.start()
        var waiting = false
        let waitEnds = Date().addingTimeInterval(TimeInterval(Self.holdWaitSeconds))
        while !outcome.isFinished, Date() < waitEnds {
            let state = try? watcher.scalar("SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = \(me)")
            if let state, state.hasPrefix("Waiting for table metadata lock") { waiting = true; break }
            Thread.sleep(forTimeInterval: 0.002)
        }
        // Not waiting (it never got to the server, or waits for something else): stopped, so
        // that no write passes between the unlock and a rename that comes later.
        if !waiting, !outcome.isFinished { _ = try? watcher.execute("KILL QUERY \(me)") }
        // Let go one table after another, in the rename's order: each unlock grants the rename's
        // pending lock at once, and the rename asks for the next table while its holder still
        // holds it (given `releaseGap` to get there), so no waiting write comes first.
        var unlocked: Result<Void, any Error> = .success(())
        let count = locked
        locked = 0
        renameBegan = Date()
        for (i, holder) in holders.prefix(count).enumerated() {
            // An ungated table's holder lets go `releaseGap` after the one before (the rename asks
            // for the next table meanwhile); a gated one's at once.
            if i > 0, waiting, !outcome.isFinished, !groups[i].allSatisfy({ isGated(database, $0) }) { Thread.sleep(forTimeInterval: Self.releaseGap) }
            let result = Result { try holder.execute("UNLOCK TABLES") }
            if case .failure = result { unlocked = result }
        }
        // Last: the rename asks for those tables after the target's. Their gates keep writers
        // out through the cut-over (round 58, H2); one not gated (joined by a foreign key) is let
        // go `releaseGap` after the target's last, as those are.
        if extraLocked, let (holder, _, schema, tables) = extra {
            if waiting, !outcome.isFinished, !tables.allSatisfy({ isGated(schema, $0) }) { Thread.sleep(forTimeInterval: Self.releaseGap) }
            extraLocked = false
            let result = Result { try holder.execute("UNLOCK TABLES") }
            if case .failure = result { unlocked = result }
        }
        KillPoint.check("change:mysql.rename.letGo")   // tests: a write into a gated table waits on
        if waiting { gate?.cutOver(renameID: UInt(me), rename: outcome) }
        do {
            try outcome.wait().get()
            try unlocked.get()
        } catch where gate?.stoppedBy != nil {
            gate?.releaseAll()
            throw FerryError(.wrongStatus, "cannot rename \(database)'s tables on \(instanceName) under the hold: \(gate?.stoppedBy ?? "") was under way or waiting as the rename took its tables, and it would have changed a table just before or just after the rename moved it; the rename was stopped, and nothing was renamed",
                             hint: "let that statement finish, then run the command again", instance: instanceName, reason: .inTheWayForNow)
        } catch let error as MySQLServerError where error.code == 1205 {
            gate?.releaseAll()
            throw FerryError(.wrongStatus, "cannot hold \(database) on \(instanceName) against writers for its swap: its RENAME TABLE waited \(Self.holdWaitSeconds) s for a table another session held (an open transaction that read it, or a lock of theirs) (\(error.message)); nothing was renamed",
                             hint: "end the transaction or lock that holds them and run the command again", instance: instanceName, reason: .inTheWayForNow)
        } catch {
            gate?.releaseAll()
            throw error
        }
        guard let gate else { return nil }
        gate.releaseAll(but: { $0.database == database && triggered($0.table) }, within: Self.holdAttemptSeconds)
        return gate.isEmpty ? nil : gate
    }

    /// The dropper's part of `renameHolding` (see there): `LOCK TABLES` of every table of `held`
    /// on a connection of its own (`WRITE` on `dropped` and `sequences`, `READ` on the rest, in
    /// bounded tries), the same tables (`listing`) and the checksums of `data` (when given) under
    /// it (else `refusal`, nothing changed), `takingOff` on it, then each of `holders` asks for `WRITE` on its group
    /// of `groups` on a thread of its own;
    /// once every one is granted or shows waiting, the dropper lets go. Returns once every holder
    /// holds its group, whether another session's `LOCK TABLES` was waiting as the dropper let go
    /// (its `WRITE` may come before the holders': the caller reads the checksums again then, or
    /// when that cannot be read); throws `WrongStatus` when one could not (its triggers are off then).
    func dropperHold(_ database: String, held: [String], listing: (MySQLConnection) throws -> [String], dropped: Set<String>,
                     sequences: Set<String>, data: Substring?, groups: [[String]], holders: [MySQLConnection],
                     takingOff: (MySQLConnection) throws -> Void,
                     refusal: (_ why: String) -> FerryError) throws -> Bool {
        let dropper = try openAnother()
        defer { dropper.close() }
        try dropper.execute("SET SESSION lock_wait_timeout = \(Self.holdAttemptSeconds)")
        var holding = false
        defer { if holding { try? dropper.execute("UNLOCK TABLES") } }
        func mode(_ table: String) -> String { dropped.contains(table) || sequences.contains(table) ? " WRITE" : " READ" }
        try retryingHold(of: database, take: {
            try dropper.execute("LOCK TABLES " + held.map { qualified(database, $0) + mode($0) }.joined(separator: ", "))
            holding = true
        }, letGo: {
            try? dropper.execute("UNLOCK TABLES")
            holding = false
        })
        guard Self.inRenameOrder(try listing(dropper)) == held else {
            throw refusal("a table was made in it or dropped from it")
        }
        // (A replace has no rows to check: what is written into its old tables goes out with them.)
        if let data {
            var sums: [String: String?] = [:]
            for table in held { sums[table] = try Self.checksum(table, in: database, on: dropper) }
            guard Self.dataDigest(sums).map({ $0 == data }) == true else { throw refusal("rows of it changed") }
        }
        try takingOff(dropper)
        KillPoint.check("change:mysql.rename.dropperHeld")   // tests: a write here waits, then lands live
        // The holders ask behind the dropper, each on a thread (a `LOCK TABLES` waits in its call).
        let outcomes = holders.map { _ in HeldRenameOutcome() }
        for (i, (group, holder)) in zip(groups, holders).enumerated() {
            let statement = "LOCK TABLES " + group.map { qualified(database, $0) + " WRITE" }.joined(separator: ", ")
            let box = UncheckedBox(holder), outcome = outcomes[i]
            Thread { outcome.finish(Result { try box.value.execute(statement) }) }.start()
        }
        let ids = holders.map { mysql_thread_id($0.handlePointer) }
        let waitEnds = Date().addingTimeInterval(TimeInterval(Self.holdAttemptSeconds))
        while Date() < waitEnds {
            let asking = zip(ids, outcomes).filter { !$0.1.isFinished }.map { $0.0 }
            if asking.isEmpty { break }
            let waiting = (try? connection.query("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE LIKE 'Waiting for table metadata lock%' AND ID IN (\(asking.map(String.init).joined(separator: ", ")))").first?[0] ?? nil).flatMap { Int($0) } ?? 0
            if waiting == asking.count { break }
            Thread.sleep(forTimeInterval: 0.002)
        }
        // Another session's `LOCK TABLES` waiting now (a `WRITE` of one asked before the
        // holders' may be granted before theirs: the same lock, first come), when the holders'
        // asks are all in: one that asks later is granted after them.
        let ours = ([mysql_thread_id(dropper.handlePointer), mysql_thread_id(connection.handlePointer)] + ids).map(String.init).joined(separator: ", ")
        let contested = ((try? connection.scalar("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID NOT IN (\(ours)) AND STATE LIKE 'Waiting for table metadata lock%' AND INFO LIKE 'LOCK TABLE%'")) ?? nil).map { $0 != "0" } ?? true
        // (Not thrown while a holder's thread may still be in its call on its connection: a
        // failed unlock lets go when the dropper closes, and the holders' outcomes tell.)
        _ = try? dropper.execute("UNLOCK TABLES")
        holding = false
        var failure: (any Error)?
        for outcome in outcomes { if case .failure(let error) = outcome.wait() { failure = failure ?? error } }
        if let failure {
            for (holder, outcome) in zip(holders, outcomes) { if case .success = outcome.wait() { try? holder.execute("UNLOCK TABLES") } }
            throw FerryError(.wrongStatus, "cannot hold \(database) on \(instanceName) against writers for its swap once its triggers were off their tables (\(failure)); nothing was renamed",
                             hint: "the run is rolled back (its triggers are made again); end what holds those tables and apply again", instance: instanceName)
        }
        return contested
    }

    /// Runs `take` (`LOCK TABLES` on connections whose `lock_wait_timeout` is
    /// `holdAttemptSeconds`) until it does not time out (1205), calling `letGo` after each try
    /// that did and waiting 0.5 s, so that writers held behind a try go on meanwhile (gh-ost's
    /// cut-over does so). Throws `WrongStatus` after `holdWaitSeconds`; any other error of
    /// `take` as it is.
    /// `purpose` and `outcome` word the error: "cannot hold D on I against writers for
    /// PURPOSE: its tables stayed in use for 60 s (...); OUTCOME".
    func retryingHold(of database: String, for purpose: String = "its swap", outcome: String = "nothing was renamed",
                      take: () throws -> Void, letGo: () -> Void) throws {
        let deadline = Date().addingTimeInterval(TimeInterval(Self.holdWaitSeconds))
        while true {
            do { return try take() } catch let error as MySQLServerError where error.code == 1205 {
                letGo()
                guard Date() < deadline else {
                    throw FerryError(.wrongStatus, "cannot hold \(database) on \(instanceName) against writers for \(purpose): its tables stayed in use for \(Self.holdWaitSeconds) s (an open transaction, or a lock of another session's); \(outcome)",
                                     hint: "end the transaction or lock that holds them and run the command again", instance: instanceName, reason: .inTheWayForNow)
                }
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
    }

    /// Before a swap that holds its target (`renameHolding`) takes the target's triggers off its
    /// tables: waits until one connection's `LOCK TABLES ... READ` of every table of `database`
    /// but its run tables and `excluding` is granted, then lets go at once (writers wait for
    /// that moment only). A table an open transaction holds keeps it waiting here, while the
    /// target still has its triggers, instead of in the hold after they were taken off (fresh
    /// tester round 46, H2: the window grew by up to `holdWaitSeconds`). Throws as
    /// `retryingHold`: nothing has changed then. A transaction that begins after this check can
    /// still make the hold wait.
    func awaitHoldable(_ database: String, excluding: Set<String> = []) throws {
        let own = Self.ownTables(in: database)
        let tables = try baseTables(database).filter { !own.contains($0) && !excluding.contains($0) }
        guard !tables.isEmpty else { return }
        let probe = try openAnother()
        defer { probe.close() }
        try probe.execute("SET SESSION lock_wait_timeout = \(Self.holdAttemptSeconds)")
        do {
            try retryingHold(of: database, take: {
                try probe.execute("LOCK TABLES " + tables.map { qualified(database, $0) + " READ" }.joined(separator: ", "))
            }, letGo: {})
        } catch let error as MySQLServerError where error.code == 1146 {
            return   // a table dropped since the listing: the hold's own check names it
        }
        try probe.execute("UNLOCK TABLES")
    }

    /// The tables of `schemas` that a foreign key joins (its table and the one it references).
    func foreignKeyTables(in schemas: [String]) throws -> Set<String> {
        let c = connection, list = schemas.map { c.literal($0) }.joined(separator: ", ")
        var tables = Set<String>()
        for row in try c.query("SELECT TABLE_NAME, REFERENCED_TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA IN (\(list)) OR UNIQUE_CONSTRAINT_SCHEMA IN (\(list))") {
            for name in row { if let name { tables.insert(name) } }
        }
        return tables
    }

    /// The most holder connections one held rename opens (tables beyond share the last one).
    static let maxHolders = 32
    /// The time (seconds) a held rename gives the rename to ask for its next table's lock after
    /// the one before was let go.
    static let releaseGap: TimeInterval = 0.025
}

/// The result of a held rename's thread; every access holds `condition`.
final class HeldRenameOutcome: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Result<Void, any Error>?

    var isFinished: Bool { condition.withLock { result != nil } }

    func finish(_ value: Result<Void, any Error>) {
        condition.withLock {
            result = value
            condition.broadcast()
        }
    }

    /// Whether the result came within `seconds`.
    func wait(seconds: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        condition.lock()
        defer { condition.unlock() }
        while result == nil { if !condition.wait(until: deadline) { break } }
        return result != nil
    }

    func wait() -> Result<Void, any Error> {
        condition.lock()
        defer { condition.unlock() }
        while result == nil { condition.wait() }
        return result!
    }
}
