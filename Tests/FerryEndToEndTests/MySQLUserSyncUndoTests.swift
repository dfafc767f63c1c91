import Foundation
import Testing

/// Fresh tester, issue 14 F3: the undo of a MariaDB `users: "sync"` (in `ferry rollback RUN` of a
/// committed copy, and in `ferry recover` after a kill) dropped the accounts the run created even
/// when the user had since given them grants elsewhere, and an account the user had dropped and
/// made again under the same name, and then said "as they were before". An account is dropped
/// only while it is provably the run's: the same account (authentication and
/// `password_last_changed` as made) holding no grant but the run's; any other is kept, with a note
/// naming it, and the summary never says "as they were".
@Suite(.serialized) struct MySQLUserSyncUndoTests {
    let cli = MySQLCLITests()

    func trimmed(_ text: String) -> String { text.trimmingCharacters(in: .whitespacesAndNewlines) }

    func runID(in output: String) -> String? {
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("Run ") }) else { return nil }
        return String(line.split(separator: " ")[1].dropLast())
    }

    /// A source database `TAG_app` whose accounts `TAG_n` (`SELECT ON TAG_app.*`) and `TAG_t`
    /// (`SELECT ON TAG_app.t`) the target lacks; the target has `TAG_other` with a table `o`.
    func setUp(_ project: Project, _ tag: String) throws -> (MySQLCLITests.Server, MySQLCLITests.Server) {
        let a = try cli.server("FERRY_TEST_MYSQL_A"), b = try cli.server("FERRY_TEST_MYSQL_B")
        try cli.sql(project, a, """
        DROP DATABASE IF EXISTS `\(tag)_app`; CREATE DATABASE `\(tag)_app`;
        CREATE TABLE `\(tag)_app`.t(id INT PRIMARY KEY); INSERT INTO `\(tag)_app`.t VALUES (1), (2);
        DROP USER IF EXISTS '\(tag)_n'@'%'; DROP USER IF EXISTS '\(tag)_t'@'%';
        CREATE USER '\(tag)_n'@'%' IDENTIFIED BY 'pw-\(tag)'; GRANT SELECT ON `\(tag)_app`.* TO '\(tag)_n'@'%';
        CREATE USER '\(tag)_t'@'%' IDENTIFIED BY 'pw-\(tag)'; GRANT SELECT ON `\(tag)_app`.t TO '\(tag)_t'@'%';
        """)
        try cli.sql(project, b, """
        DROP DATABASE IF EXISTS `\(tag)_copy`; DROP DATABASE IF EXISTS `\(tag)_other`; CREATE DATABASE `\(tag)_other`;
        CREATE TABLE `\(tag)_other`.o(a INT);
        DROP USER IF EXISTS '\(tag)_n'@'%'; DROP USER IF EXISTS '\(tag)_t'@'%'; DROP ROLE IF EXISTS `\(tag)_r`;
        """)
        try project.write("plans/main.json", cli.plan(a, b, databases: "{ \"\(tag)_app\": \"\(tag)_copy\" }", users: "sync"))
        return (a, b)
    }

    func tearDown(_ project: Project, _ a: MySQLCLITests.Server, _ b: MySQLCLITests.Server, _ tag: String) {
        let users = "DROP USER IF EXISTS '\(tag)_n'@'%'; DROP USER IF EXISTS '\(tag)_t'@'%';"
        _ = try? cli.sql(project, a, "DROP DATABASE IF EXISTS `\(tag)_app`; " + users)
        _ = try? cli.sql(project, b, "DROP DATABASE IF EXISTS `\(tag)_copy`; DROP DATABASE IF EXISTS `\(tag)_other`; DROP ROLE IF EXISTS `\(tag)_r`; " + users)
    }

    /// What the user does to the run's account `TAG_n` after the run made it, and whether the undo
    /// must keep it.
    struct Change: Sendable { var name: String; var sql: @Sendable (String) -> String; var kept: Bool; var sleeps: Bool = false }

    static let changes: [Change] = [
        Change(name: "nothing", sql: { _ in "" }, kept: false),
        Change(name: "a grant on another database", sql: { t in
            "GRANT SELECT ON `\(t)_other`.* TO '\(t)_n'@'%'; GRANT INSERT ON `\(t)_other`.o TO '\(t)_t'@'%';" }, kept: true),
        Change(name: "a global grant", sql: { t in "GRANT PROCESS ON *.* TO '\(t)_n'@'%';" }, kept: true),
        Change(name: "a password change", sql: { t in "ALTER USER '\(t)_n'@'%' IDENTIFIED BY 'changed-\(t)';" }, kept: true),
        Change(name: "dropped and made again with another password", sql: { t in
            "DROP USER '\(t)_n'@'%'; CREATE USER '\(t)_n'@'%' IDENTIFIED BY 'mine-\(t)';" }, kept: true),
        Change(name: "dropped and made again with the same password", sql: { t in
            "DROP USER '\(t)_n'@'%'; CREATE USER '\(t)_n'@'%' IDENTIFIED BY 'pw-\(t)';" }, kept: true, sleeps: true),
        Change(name: "a role membership", sql: { t in
            "CREATE ROLE `\(t)_r`; GRANT `\(t)_r` TO '\(t)_n'@'%';" }, kept: true),
    ]

    func accountExists(_ project: Project, _ b: MySQLCLITests.Server, _ user: String) throws -> Bool {
        trimmed(try cli.sql(project, b, "SELECT COUNT(*) FROM mysql.user WHERE User = '\(user)' AND Host = '%';")) == "1"
    }

    /// Checks what the undo left for `change`: the account kept (with its later grants, and a note
    /// naming it, no password hash printed) or dropped; `TAG_t` dropped unless given a grant too.
    func expectUndone(_ project: Project, _ b: MySQLCLITests.Server, _ tag: String, _ change: Change, output: String,
                      hash: String, label: String) throws {
        let n = "\(tag)_n", t = "\(tag)_t"
        #expect(!hash.isEmpty && !output.contains(hash) && !output.contains("IDENTIFIED"), "\(label): no secret printed: \(output)")
        #expect(try accountExists(project, b, n) == change.kept, "\(label): \(output)")
        if change.kept {
            #expect(output.contains("account \(n)@% kept"), "\(label): the note names the account: \(output)")
            #expect(!output.contains("as they were before") && !output.contains("removed synced users"), "\(label): \(output)")
            let grants = try cli.sql(project, b, "SHOW GRANTS FOR '\(n)'@'%';")
            switch change.name {
            case "a grant on another database":
                #expect(grants.contains("`\(tag)_other`.*") && !grants.contains("`\(tag)_copy`"), "\(label): only the run's grant goes: \(grants)")
                #expect(try accountExists(project, b, t), "\(label): \(t) was given a grant too")
                let tGrants = try cli.sql(project, b, "SHOW GRANTS FOR '\(t)'@'%';")
                #expect(tGrants.contains("`\(tag)_other`.`o`") && !tGrants.contains("`\(tag)_copy`"), "\(label): \(tGrants)")
            case "a global grant":
                #expect(grants.contains("GRANT PROCESS ON *.*") && !grants.contains("`\(tag)_copy`"), "\(label): \(grants)")
            case "a role membership":
                #expect(grants.contains("`\(tag)_r`") && !grants.contains("`\(tag)_copy`"), "\(label): \(grants)")
            default:
                #expect(output.contains("not the account the run created"), "\(label): \(output)")
            }
        } else {
            #expect(output.contains("removed synced users on dst") && !output.contains(" kept:"), "\(label): \(output)")
        }
        if change.name != "a grant on another database" {
            #expect(!(try accountExists(project, b, t)), "\(label): the run's account no one touched is dropped")
        }
    }

    /// `ferry rollback RUN` of a committed copy, with the finding's inputs and variants.
    @Test func rollbackOfACommittedCopyDropsOnlyTheRunsOwnAccounts() throws {
        for change in Self.changes {
            let project = try Project()
            let tag = "uu\(UUID().uuidString.prefix(6).lowercased())"
            let (a, b) = try setUp(project, tag)
            defer { tearDown(project, a, b, tag) }
            let applied = try project.run("apply", "--auto-approve")
            #expect(applied.code == 0, "\(change.name): \(applied.all)")
            let id = try #require(runID(in: applied.stdout))
            let hash = trimmed(try cli.sql(project, b, "SELECT authentication_string FROM mysql.user WHERE User = '\(tag)_n';"))
            if change.sleeps { Thread.sleep(forTimeInterval: 1.2) }
            if !change.sql(tag).isEmpty { try cli.sql(project, b, change.sql(tag)) }
            let back = try project.run("rollback", id)
            #expect(back.code == 0, "\(change.name): \(back.all)")
            #expect(back.stdout.contains("rolled back"), "\(change.name): \(back.all)")
            #expect(back.stdout.contains("noted above as they are") == change.kept, "\(change.name): \(back.all)")
            try expectUndone(project, b, tag, change, output: back.all, hash: hash, label: "rollback, \(change.name)")
            #expect(trimmed(try cli.sql(project, b, "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '\(tag)_copy';")) == "0")
        }
    }

    /// `ferry recover` after a kill once the sync finished (`before-usersSynced`) and right after
    /// the first account was made (before its identity was journaled).
    @Test func recoverAfterAKillDropsOnlyTheRunsOwnAccounts() throws {
        let afterSync = Self.changes.filter { ["nothing", "a grant on another database", "dropped and made again with another password",
                                               "dropped and made again with the same password", "a password change"].contains($0.name) }
        var cases = afterSync.map { ("before-usersSynced", $0) }
        // Right after the first CREATE USER: which of the two accounts came first is the server's
        // order, so the user's change is one that works either way.
        cases.append(("change:users.created#1", Change(name: "made by the user", sql: { t in
            "DROP USER IF EXISTS '\(t)_n'@'%'; CREATE USER '\(t)_n'@'%' IDENTIFIED BY 'mine-\(t)'; GRANT SELECT ON `\(t)_other`.* TO '\(t)_n'@'%';" }, kept: true)))
        cases.append(("change:users.created#1", Change(name: "nothing", sql: { _ in "" }, kept: false)))
        for (point, change) in cases {
            let project = try Project()
            let tag = "uk\(UUID().uuidString.prefix(6).lowercased())"
            let (a, b) = try setUp(project, tag)
            defer { tearDown(project, a, b, tag) }
            project.environment["FERRY_TEST_KILL_AT"] = point
            let killed = try project.run("apply", "--auto-approve", "--parallelism", "1")
            project.environment["FERRY_TEST_KILL_AT"] = nil
            #expect(killed.code == 9, "\(point), \(change.name): killed: \(killed.all)")
            let hash = trimmed(try cli.sql(project, b, "SELECT authentication_string FROM mysql.user WHERE User IN ('\(tag)_n', '\(tag)_t') LIMIT 1;"))
            if change.sleeps { Thread.sleep(forTimeInterval: 1.2) }
            if !change.sql(tag).isEmpty { try cli.sql(project, b, change.sql(tag)) }
            let recovered = try project.run("recover")
            #expect(recovered.code == 0, "\(point), \(change.name): \(recovered.all)")
            #expect(recovered.stdout.contains("The instances are as they were before.") == !change.kept, "\(point), \(change.name): \(recovered.all)")
            let label = "recover at \(point), \(change.name)"
            if change.name == "made by the user" {
                #expect(!recovered.all.contains("IDENTIFIED") && recovered.all.contains("account \(tag)_n@% kept"), "\(label): \(recovered.all)")
                #expect(try accountExists(project, b, "\(tag)_n"), "\(label)")
                #expect(try cli.sql(project, b, "SHOW GRANTS FOR '\(tag)_n'@'%';").contains("`\(tag)_other`.*"), "\(label)")
                #expect(!(try accountExists(project, b, "\(tag)_t")), "\(label): \(recovered.all)")
            } else {
                try expectUndone(project, b, tag, change, output: recovered.all, hash: hash, label: label)
            }
            #expect(trimmed(try cli.sql(project, b, "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name LIKE '\(tag)%';")) == "1",
                    "\(label): only \(tag)_other stays")
        }
    }
}
