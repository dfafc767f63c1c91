import FerryCore
import Foundation

/// A killed Ferry's statements that go on running on the server (`EngineSession.settleStatements`,
/// fresh tester X0, X7): the server executes a statement apart from its client, so a `kill -9` (or
/// a double Ctrl-C) during a swap's one `RENAME TABLE` of many tables leaves it running, and it
/// finishes after the process is gone. Recovery must not judge where the tables are until it is
/// over: a `RENAME TABLE` is atomic, so once its session is gone the swap (or its undo) is either
/// wholly done or not begun.
///
/// A run's sessions are known by what proves them the run's:
/// - the statements that move tables (`renameAll`) carry the comment `/* ferry:run:<tag> */`
///   (`statementTag`), `<tag>` the run's tag in its shadow's and checkpoint's names, shown as
///   sent in the processlist's `Info`;
/// - an import's statements run as the run's import account (`ferry_i_<tag>_...`,
///   `MySQLImportAccount`), the `USER` of its session.
/// Nothing else is ended: an application's statement naming a shadow carries neither.
/// Without the PROCESS privilege the server lists Ferry's user's own sessions only (the renames);
/// the import account's are then not seen.
extension MySQLSession {
    /// The comment that opens each statement of a run that moves tables, so that recovery can
    /// find it in the processlist after a kill.
    static func statementTag(runTag tag: String) -> String { "/* ferry:run:\(tag) */ " }

    /// How long a run's statements are let finish on their own, and then how long their ends
    /// (after `KILL CONNECTION`) are waited for, in seconds.
    static let settleGrace: TimeInterval = 5
    static let settleKillWait: TimeInterval = 120

    /// The sessions (id and a description) of run `tag` other than this one.
    func runSessions(tag: String) throws -> [(id: String, what: String)] {
        let marker = Self.statementTag(runTag: tag).trimmingCharacters(in: .whitespaces)
        let account = "ferry_i_\(tag)_"
        // `information_schema.PROCESSLIST` materializes a temporary table on the server's disk
        // (its INFO is a text column), which a full disk refuses (1021), and recovery is what
        // must free that disk (fresh tester round 19, F5): then `SHOW FULL PROCESSLIST` (columns
        // Id, User, Host, db, Command, Time, State, Info, ...). Only then: a full-suite run
        // failed once right after every read went through `SHOW` (not explained), so the read
        // proven over many runs stays the first one.
        var rows: [[String?]]
        do {
            rows = try connection.query("SELECT ID, USER, COMMAND, INFO FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()")
        } catch let error as MySQLServerError where error.isDiskFull {
            let me = try connection.scalar("SELECT CONNECTION_ID()")
            rows = try connection.query("SHOW FULL PROCESSLIST").compactMap { row in
                guard row.count >= 8, row[0] != me else { return nil }
                return [row[0], row[1], row[4], row[7]]
            }
        }
        return rows.compactMap { row in
            guard let id = row[0] else { return nil }
            let user = row[1] ?? "", info = row[3] ?? ""
            guard info.contains(marker) || user.hasPrefix(account) else { return nil }
            return (id, "session \(id) (\(user), \(row[2] ?? "?"): \(String(info.prefix(80)))…)")
        }
    }

    public func settleStatements(ofRun runID: String) throws {
        let tag = String(Self.runSuffix(marker: "s", runID: runID).dropFirst("__ferry_s_".count))
        guard !tag.isEmpty else { return }
        try run(.internalError, "cannot read the sessions of \(instanceName)") {
            var left = try runSessions(tag: tag)
            let grace = Date().addingTimeInterval(Self.settleGrace)
            while !left.isEmpty, Date() < grace {
                Thread.sleep(forTimeInterval: 0.1)
                left = try runSessions(tag: tag)
            }
            guard !left.isEmpty else { return }
            for session in left {
                // 1094: gone meanwhile. Any other refusal shows as the session still being there.
                do { try connection.execute("KILL CONNECTION \(session.id)") } catch is MySQLServerError {}
            }
            let deadline = Date().addingTimeInterval(Self.settleKillWait)
            while !left.isEmpty, Date() < deadline {
                Thread.sleep(forTimeInterval: 0.1)
                left = try runSessions(tag: tag)
            }
            guard left.isEmpty else {
                throw FerryError(.wrongStatus, "statements of run \(runID) still run on \(instanceName) after Ferry ended their sessions: \(left.map(\.what).joined(separator: "; ")); nothing was judged or changed there",
                                 hint: "wait until they end (SHOW PROCESSLIST), then run `ferry recover` again", instance: instanceName)
            }
        }
    }
}
