import FerryCore
import FerryIO
import Foundation

/// One ACL user as `ACL LIST` shows it: `user NAME RULE...`, passwords as `#<sha256 hex>`.
struct RedisACLUser: Equatable {
    var name: String
    /// The rules in `ACL LIST`'s order; a selector `(...)` is one rule.
    var rules: [String]

    /// Parses one `ACL LIST` line; nil for a line that is not `user NAME ...`.
    init?(line: String) {
        let tokens = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard tokens.count >= 2, tokens[0] == "user" else { return nil }
        name = tokens[1]
        var rules: [String] = []
        var open: String?
        for token in tokens.dropFirst(2) {
            if var selector = open {
                selector += " " + token
                if token.hasSuffix(")") { rules.append(selector); open = nil } else { open = selector }
            } else if token.hasPrefix("(") && !token.hasSuffix(")") {
                open = token
            } else {
                rules.append(token)
            }
        }
        if let open { rules.append(open) }
        self.rules = rules
    }

    /// The rules in an order-free form, to compare two servers' descriptions of one user: a server
    /// lists single commands in its own command table's order (`+get +mget` on one, `+mget +get`
    /// on another), which does not change what they allow, since `ACL LIST` describes the
    /// resulting permissions, not the order they were given in. Selectors are sorted inside.
    static func canonical(_ rules: [String]) -> [String] {
        rules.map { rule in
            guard rule.hasPrefix("("), rule.hasSuffix(")") else { return rule }
            return "(" + rule.dropFirst().dropLast().split(separator: " ").sorted().joined(separator: " ") + ")"
        }.sorted()
    }

    /// The rules without the password hashes (`#...`): what may be written into a journal or a
    /// message. Key and channel patterns and commands are not secrets; password hashes are.
    var publicRules: [String] { rules.filter { !$0.hasPrefix("#") } }

    /// The password hashes (`#<sha256 hex>`), never shown.
    var passwordHashes: [String] { rules.filter { $0.hasPrefix("#") }.sorted() }

    /// A fingerprint of every rule that is comparable within this process only: the password
    /// hashes enter it through a digest keyed with a random per-process key, so the fingerprint,
    /// if it is ever shown or saved, tells nothing about them.
    var fingerprint: String {
        let passwords = Digest.sha256(Self.processKey + Array(passwordHashes.joined(separator: " ").utf8))
        return Digest.sha256(Array((Self.canonical(publicRules).joined(separator: " ") + "\n" + passwords).utf8))
    }

    private static let processKey: [UInt8] = (0..<32).map { _ in UInt8.random(in: 0...255) }
}

/// What `syncUsers` created on a Redis target, so that `undoUserSync` can take it back: each
/// user's name and its rules without password hashes (a user is deleted only while its rules are
/// still these: a user made by someone else in between under the same name is left alone).
struct RedisUserSyncUndo: Codable {
    struct Created: Codable {
        var user: String
        var rules: [String]
        /// `SALT:DIGEST`: 4 hex digits of the SHA-256 of a random salt and the user's password
        /// hashes as created, so that an undo tells a user whose passwords changed since (fresh
        /// tester round 35b, F5: deleted), while the journal holds nothing that would test a
        /// guessed password (16 bits match one guess in 65,536). Nil in earlier records.
        var passwords: String?
    }
    var created: [Created] = []

    static func passwordsDigest(_ hashes: [String], salt: String) -> String {
        salt + ":" + String(Digest.sha256(Array((salt + "\n" + hashes.sorted().joined(separator: " ")).utf8)).prefix(4))
    }

    static func passwordsDigest(_ hashes: [String]) -> String {
        passwordsDigest(hashes, salt: String(format: "%08x", UInt32.random(in: 0...UInt32.max)))
    }

    /// Whether `hashes` are the ones `digest` was made of (a digest of an earlier record: yes).
    static func passwords(_ hashes: [String], match digest: String?) -> Bool {
        guard let digest, let colon = digest.firstIndex(of: ":") else { return true }
        return passwordsDigest(hashes, salt: String(digest[..<colon])) == digest
    }
}

extension RedisSession {
    var instanceName: String { target.instance.name }

    /// Every ACL user of the server, by name (`ACL LIST`). Throws `CopyError` when the user Ferry
    /// connects as may not run `ACL LIST` (it needs `+acl|list`).
    func aclUsers() throws -> [String: RedisACLUser] {
        let reply = try run("ACL", "LIST")
        var users: [String: RedisACLUser] = [:]
        for element in reply.elements {
            if let line = element.string, let user = RedisACLUser(line: line) { users[user.name] = user }
        }
        return users
    }

    /// For refresh: each ACL user (but `default`) with its `RedisACLUser.fingerprint`, or nil when
    /// they cannot be read.
    func aclUserFingerprints() -> [String: String]? {
        guard let users = try? aclUsers() else { return nil }
        var result: [String: String] = [:]
        for (name, user) in users where name != "default" { result[name] = user.fingerprint }
        return result
    }

    func syncUsers(from source: any EngineSession, mappings: [DatabaseMapping]) throws -> String {
        try syncUsers(from: source, mappings: mappings, journal: { _ in })
    }

    /// Users: every ACL user of the source but `default` that the target does not have is created
    /// on it with the source's rules (`ACL SETUSER NAME RULE...`: `ACL LIST`'s full description; passwords as the `#hash`
    /// rules `ACL LIST` shows, never in clear). A user the target has already is left as it is,
    /// whatever its rules (the plan warns when they differ). The undo record naming every user to
    /// be created goes to `journal` (made durable by the core) before the first is created; each
    /// is checked right before it is created (still absent) and after (`ACL LIST` reads back the
    /// source's rules), else the step fails and the rollback removes what this run created.
    func syncUsers(from source: any EngineSession, mappings: [DatabaseMapping],
                   journal: (String) throws -> Void) throws -> String {
        guard let source = source as? RedisSession else {
            throw FerryError(.copyError, "a Redis user sync needs a Redis source", instance: instanceName)
        }
        let wanted = try source.aclUsers().values.filter { $0.name != "default" }.sorted { $0.name < $1.name }
        let existing = try aclUsers()
        let toCreate = wanted.filter { existing[$0.name] == nil }
        var undo = RedisUserSyncUndo(created: toCreate.map {
            .init(user: $0.name, rules: $0.publicRules, passwords: RedisUserSyncUndo.passwordsDigest($0.passwordHashes))
        })
        let text = String(decoding: try JSONEncoder().encode(undo), as: UTF8.self)
        try journal(text)
        for user in toCreate {
            // Created by someone else since the look-up: not this run's, so neither overwritten nor
            // undone. Journal the corrected record (it supersedes the first) before failing.
            switch try run("ACL", "GETUSER", user.name) {
            case .array(nil), .bulk(nil): break
            default:
                undo.created.remove(at: undo.created.firstIndex { $0.user == user.name }!)
                try journal(String(decoding: try JSONEncoder().encode(undo), as: UTF8.self))
                throw FerryError(.copyError, "ACL user \(user.name) appeared on \(instanceName) while the users were synced; it was left as it is",
                                 hint: "apply again: the plan then shows it as a user that exists")
            }
            do {
                try connection.command([Array("ACL".utf8), Array("SETUSER".utf8), Array(user.name.utf8)]
                                       + user.rules.map { Array($0.utf8) })
            } catch let error as RedisReplyError {
                throw FerryError(.copyError, "Redis at \(endpoint.host):\(endpoint.port) refused ACL SETUSER \(user.name) (\(user.publicRules.joined(separator: " "))): \(Self.withoutHashes(error.message))",
                                 hint: "the target's Redis may not know one of the source's ACL rules (an older version)")
            }
            KillPoint.check("change:users.created")
            guard let made = try aclUsers()[user.name], RedisACLUser.canonical(made.rules) == RedisACLUser.canonical(user.rules) else {
                throw FerryError(.copyError, "ACL user \(user.name) reads back on \(instanceName) with other rules than on \(source.instanceName)",
                                 hint: "the two servers may write ACL rules differently (other versions); the rollback removes the users this run created")
            }
        }
        return text
    }

    /// Deletes the users `syncUsers` created that still have the rules and passwords it gave
    /// them; one changed or made anew by someone else since is left, and reported.
    func undoUserSyncReporting(_ undo: String) throws -> [String] {
        if undo.isEmpty { return [] }
        guard let record = try? JSONDecoder().decode(RedisUserSyncUndo.self, from: Data(undo.utf8)) else {
            throw FerryError(.internalError, "the user-sync undo record is unreadable", instance: instanceName)
        }
        if record.created.isEmpty { return [] }
        let users = try aclUsers()
        var notes: [String] = []
        for created in record.created {
            guard let user = users[created.user] else { continue }
            if RedisACLUser.canonical(user.publicRules) != RedisACLUser.canonical(created.rules) {
                notes.append("ACL user \(created.user) was left as it is: its rules changed since this run created it")
            } else if !RedisUserSyncUndo.passwords(user.passwordHashes, match: created.passwords) {
                notes.append("ACL user \(created.user) was left as it is: its passwords changed since this run created it")
            } else {
                try run("ACL", "DELUSER", created.user)
            }
        }
        return notes
    }

    func undoUserSync(_ undo: String) throws { _ = try undoUserSyncReporting(undo) }

    /// A server's error message with anything that looks like a password hash cut out.
    static func withoutHashes(_ message: String) -> String {
        message.split(separator: " ").map { $0.contains("#") || $0.contains(">") ? "…" : String($0) }.joined(separator: " ")
    }
}
