import Foundation
import Testing

/// Issue 21 §4: `users: "sync"` on a Redis copy creates the source's ACL users (not `default`)
/// on the target with their rules, passwords as hashes; a user the target has with other rules
/// is a plan warning and is left as it is; a rollback (and a recover after a kill) removes what
/// the run created, and only that. On the two test servers, in the Redis CLI suite.
extension RedisCLITests {
    static let aclPrefix = "ferry-acl-"

    /// The `ACL LIST` lines of the test users on a server, by name.
    /// Single commands in sorted order: each server lists them in its command table's order.
    func aclLines(_ project: Project, _ port: String) throws -> [String: String] {
        var lines: [String: String] = [:]
        for line in try cli(project, port, "acl list").split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: " ")
            if fields.count > 1, fields[1].hasPrefix(Self.aclPrefix) {
                lines[String(fields[1])] = fields.prefix(2).joined(separator: " ") + " " + fields.dropFirst(2).map(String.init).sorted().joined(separator: " ")
            }
        }
        return lines
    }

    func dropTestUsers(_ project: Project, _ s: Servers) throws {
        for port in [s.aPort, s.bPort] {
            for name in try aclLines(project, port).keys { try cli(project, port, "acl deluser \(name)") }
        }
    }

    /// Whether `user` with `password` may run `command` on B.
    func asUser(_ project: Project, _ s: Servers, _ user: String, _ password: String, _ command: String) throws -> String {
        let result = try project.runShell("REDISCLI_AUTH='\(password)' redis-cli --no-auth-warning -p \(s.bPort) --user \(user) \(command)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) + result.stderr
    }

    @Test func aclUsersAreSyncedWithTheirRulesAndRolledBack() throws {
        let project = try Project()
        let s = try servers()
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
        try dropTestUsers(project, s)
        defer { try? dropTestUsers(project, s) }
        let p = Self.aclPrefix
        try cli(project, s.aPort, "-n 3 set cache:1 one")
        // Made on the source: a reader with two passwords, a writer with a selector, a user with
        // no password, one the target has with other rules, one it has with the same rules.
        try cli(project, s.aPort, "acl setuser \(p)reader on '>pw-reader-secret' '>pw-reader-two' '~cache:*' '&*' -@all +get +mget +select +ping")
        try cli(project, s.aPort, "acl setuser \(p)writer on '>pw-writer-secret' '~app:*' +@write '(~logs:* +xadd)'")
        try cli(project, s.aPort, "acl setuser \(p)nopass on nopass '%R~public:*' +get")
        try cli(project, s.aPort, "acl setuser \(p)both on '>pw-both-source' '~*' +@read")
        try cli(project, s.aPort, "acl setuser \(p)same on '>pw-same' '~same:*' +get")
        try cli(project, s.bPort, "acl setuser \(p)both on '>pw-both-target' '~other:*' +ping")
        try cli(project, s.bPort, "acl setuser \(p)same on '>pw-same' '~same:*' +get")
        let source = try aclLines(project, s.aPort)
        let targetBefore = try aclLines(project, s.bPort)
        let secrets = ["pw-reader-secret", "pw-reader-two", "pw-writer-secret", "pw-both-source", "pw-both-target", "pw-same"]
        let hashes = (Array(source.values) + Array(targetBefore.values)).flatMap { $0.split(separator: " ") }.filter { $0.hasPrefix("#") }.map { String($0.dropFirst()) }
        #expect(hashes.count == 7)
        try project.write("plans/main.json", plan(s, """
        "copies": { "c": { "from": "ra", "to": "rb", "databases": { "3": "4" }, "onExisting": "replace", "users": "sync" } }
        """))

        let planned = try project.run("plan")
        #expect(planned.code == 0 || planned.code == 2, "\(planned.all)")
        #expect(planned.all.contains("ACL user \"\(p)both\" exists on rb with other rules than on ra: it is left as it is"), "\(planned.all)")
        // Round 35b, F9: the users it creates are named in the plan (text and JSON).
        #expect(planned.all.contains("creates the ACL users \"\(p)nopass\", \"\(p)reader\", \"\(p)writer\" on rb"), "\(planned.all)")
        let json = try project.run("plan", "--format", "json")
        #expect(json.stdout.contains("\(p)reader") && json.stdout.contains("\(p)writer"), "\(json.all)")
        #expect(!planned.all.contains("\(p)same exists"), "\(planned.all)")
        #expect(!planned.all.contains("copies no Redis ACL users"), "\(planned.all)")

        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let after = try aclLines(project, s.bPort)
        for name in ["reader", "writer", "nopass"] {
            #expect(after[p + name] != nil && after[p + name] == source[p + name], "\(name): \(after[p + name] ?? "absent") vs \(source[p + name] ?? "")")
        }
        #expect(after[p + "both"] == targetBefore[p + "both"], "a user the target had was changed")
        #expect(after[p + "same"] == targetBefore[p + "same"])
        // The passwords work as on the source, and the rules hold.
        #expect(try asUser(project, s, p + "reader", "pw-reader-two", "ping") == "PONG")
        #expect(try asUser(project, s, p + "reader", "pw-reader-secret", "-n 4 get cache:1") == "one")
        #expect(try asUser(project, s, p + "reader", "pw-reader-secret", "-n 4 set cache:1 x").contains("NOPERM"))
        #expect(try asUser(project, s, p + "both", "pw-both-source", "ping").contains("WRONGPASS"))
        // No password and no hash anywhere Ferry writes: output, state, journal.
        let written = try project.runShell("cat $(find .ferry -type f) 2>/dev/null").stdout + applied.all + planned.all
        for secret in secrets + hashes { #expect(!written.contains(secret), "a password or its hash was written") }

        // Rollback removes exactly the users the run created.
        let runs = try project.run("runs").stdout.split(separator: "\n").dropFirst()
        let run = try #require(runs.first { $0.contains("committed") }.map { String($0.split(separator: " ")[0]) })
        let back = try project.run("rollback", run)
        #expect(back.code == 0, "\(back.all)")
        #expect(try aclLines(project, s.bPort) == targetBefore)
        #expect(try aclLines(project, s.aPort) == source)
    }

    /// A user created by the run and then changed by someone else is not deleted by the rollback,
    /// which says so; killed right after the first user is created, recover removes it.
    @Test func aclUserSyncKilledOrChangedAfterwardsTouchesOnlyWhatTheRunMade() throws {
        let project = try Project()
        let s = try servers()
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
        try dropTestUsers(project, s)
        defer { try? dropTestUsers(project, s) }
        let p = Self.aclPrefix
        try cli(project, s.aPort, "-n 2 set k v")
        try cli(project, s.aPort, "acl setuser \(p)one on '>pw-one' '~*' +get")
        try cli(project, s.aPort, "acl setuser \(p)two on '>pw-two' '~*' +set")
        try project.write("plans/main.json", plan(s, """
        "copies": { "c": { "from": "ra", "to": "rb", "databases": { "2": "6" }, "onExisting": "replace", "users": "sync" } }
        """))
        for point in ["after-usersPlanned", "change:users.created#1", "change:users.created#2"] {
            project.environment["FERRY_TEST_KILL_AT"] = point
            let killed = try project.run("apply", "--auto-approve", "--parallelism", "1")
            project.environment["FERRY_TEST_KILL_AT"] = nil
            #expect(killed.code == 9, "\(point): \(killed.all)")
            let recovered = try project.run("recover")
            #expect(recovered.code == 0, "\(point): \(recovered.all)")
            #expect(try aclLines(project, s.bPort).isEmpty, "\(point): a user the killed run made stays: \(killed.all) \(recovered.all)")
            #expect(try nonEmpty(project, s.bPort).isEmpty, "\(point)")
        }
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        #expect(try aclLines(project, s.bPort).count == 2)
        try cli(project, s.bPort, "acl setuser \(p)two +ping")
        let runs = try project.run("runs").stdout.split(separator: "\n").dropFirst()
        let run = try #require(runs.first { $0.contains("committed") }.map { String($0.split(separator: " ")[0]) })
        let back = try project.run("rollback", run)
        #expect(back.code == 0, "\(back.all)")
        #expect(back.all.contains("ACL user \(p)two was left as it is: its rules changed since this run created it"), "\(back.all)")
        #expect(Array(try aclLines(project, s.bPort).keys) == [p + "two"])
        // Fresh tester round 35b, F5: a password changed alone (rules as created) keeps the user
        // too; one left as created goes. No password hash reaches the journal.
        try cli(project, s.bPort, "acl deluser \(p)two")
        let again = try project.run("apply", "--auto-approve")
        #expect(again.code == 0, "\(again.all)")
        try cli(project, s.bPort, "acl setuser \(p)one resetpass '>pw-new'")
        let run2 = try MySQLImportCLITests().runID(again.stdout)
        let back2 = try project.run("rollback", run2)
        #expect(back2.code == 0, "\(back2.all)")
        #expect(back2.all.contains("ACL user \(p)one was left as it is: its passwords changed since this run created it"), "\(back2.all)")
        #expect(Array(try aclLines(project, s.bPort).keys).sorted() == [p + "one"], "two, as created, went")
        let journals = ((try? FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry/runs")) ?? [])
            .compactMap { project.read(".ferry/runs/\($0)/journal.jsonl") }.joined()
        #expect(!journals.isEmpty && !journals.contains("pw-"), "no password in the journal")
    }

    /// Fresh tester round 30, F1: a Redis user whose rules refuse a command of the swap's script
    /// (`SWAPDB`, `DEL`): the script refused it after the shadow's marker was deleted, leaving a
    /// full shadow nothing proved Ferry's, and every recover stopped on it. The script asks the
    /// user's rules for all its commands before any write: the swap fails, the rollback drops the
    /// still-marked shadow, and B is as it was (exit 3). Round 30, G1 (helper-129): without
    /// `FLUSHDB` a failed run left its shadow full and every apply one more checkpoint. A target
    /// whose user may not run what Ferry needs there is now refused before anything is made,
    /// naming the commands.
    /// Round 33, F1: refused after the shadow was journaled, the undo of nothing needed
    /// `HMGET` on Ferry's marker (refused by `-hmget`, or by key patterns that leave out
    /// `__ferry:*`) and the run stayed interrupted: the check now comes first.
    @Test(arguments: ["-swapdb", "-del", "-flushdb", "-mset", "-hmget", "resetkeys ~app:*"])
    func aSwapTheUsersRulesRefuseLeavesNothing(_ rule: String) throws {
        let project = try Project()
        let s = try servers()
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
        try dropTestUsers(project, s)
        defer { try? dropTestUsers(project, s) }
        let user = Self.aclPrefix + "noswap"
        try cli(project, s.bPort, "acl setuser \(user) on '>pw-noswap-secret' '~*' '&*' +@all \(rule)")
        for i in 1...50 { try cli(project, s.aPort, "-n 3 set key:\(i) v\(i)") }
        try cli(project, s.bPort, "-n 4 set old before")
        let before = try (0..<16).map { try contents(project, s.bPort, db: String($0)) }
        project.environment["NOSWAP_PW"] = "pw-noswap-secret"
        try project.write("plans/main.json", """
            { "ferry": 1,
              "instances": {
                "ra": { "engine": "redis", "url": "\(s.a)" },
                "rb": { "engine": "redis", "url": "redis://\(user)@127.0.0.1:\(s.bPort)", "password": { "env": "NOSWAP_PW" } }
              },
              "copies": { "c": { "from": "ra", "to": "rb", "databases": { "3": "4" }, "onExisting": "replace" } } }
            """)
        let apply = try project.run("apply", "--auto-approve")
        let refused = rule.hasPrefix("-") ? "may not run \(rule.dropFirst().uppercased())" : "may not run DEL"
        // Round 35, F5: asked before the run is recorded: refused before any change (exit 1).
        #expect(apply.code == 1 && apply.all.contains(refused), "\(apply.all)")
        #expect(apply.all.contains("refused before any change"), "\(apply.all)")
        let after = try (0..<16).map { try contents(project, s.bPort, db: String($0)) }
        #expect(after == before, "every database of B is as it was")
        let status = try project.run("plan")
        #expect(status.code != 1 || !status.all.contains("RunInterrupted"), "nothing is left for recover: \(status.all)")
        #expect(!apply.all.contains("pw-noswap-secret"))
    }
}

