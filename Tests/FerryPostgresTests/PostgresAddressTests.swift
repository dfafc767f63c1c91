import FerryCore
@testable import FerryPostgres
import Foundation
import Testing

/// Round-13 F5: a PostgreSQL url's userinfo is percent-decoded once (RFC 3986 §2.1), as MySQL's
/// and Redis's are: `a%25b` is the password `a%b` (it was decoded twice: `%25` was refused and
/// `%2525` needed). And S1: a url whose userinfo cannot be told from its host is refused before
/// any of it is parsed, shown or looked up.
@Suite struct PostgresAddressTests {
    func address(_ url: String, password: String? = nil) throws -> PostgresAddress {
        try PostgresAddress(target: ConnectionTarget(instance: InstanceSpec(name: "p", engine: .postgres, url: url), password: password))
    }

    static let decodedOnce: [(String, String, String)] = [
        ("postgres://sxq4:a%25b@127.0.0.1:1/postgres", "sxq4", "a%b"),
        ("postgres://leak3:pq%2541rs@127.0.0.1:1", "leak3", "pq%41rs"),
        ("postgresql://u%25x:ab%40cd%2Fef%23g%3Fh@127.0.0.1:1", "u%x", "ab@cd/ef#g?h"),
        ("postgres://u:R%40%3A%2F%25%23%3Fx9@127.0.0.1:1/db", "u", "R@:/%#?x9"),
        ("postgres://%E6%97%A5:p%20w@127.0.0.1:1", "日", "p w"),
    ]

    @Test func instanceUserAndPasswordAreDecodedExactlyOnce() throws {
        for (url, user, password) in Self.decodedOnce {
            let parsed = try address(url)
            #expect(parsed.user == user && parsed.password == password, "\(url): \(parsed.user) \(parsed.password ?? "nil")")
        }
        #expect(try address("postgres://u:a%25b@127.0.0.1:1", password: "given").password == "given")
        #expect(try address("postgres://127.0.0.1:1").user == "postgres")
    }

    @Test func stateUserAndPasswordAreDecodedExactlyOnce() throws {
        for (url, user, password) in Self.decodedOnce {
            let state = try PostgresStateBackend(url: url)
            #expect(state.address.user == user && state.address.password == password, "\(url)")
            #expect(!state.location.contains(password) && !state.location.contains("%25b"), "\(state.location)")
        }
    }

    @Test func anAmbiguousUserInfoIsRefusedShowingNoPartOfIt() throws {
        for password in ["Sec#ret", "Se?cr#et", "P@ss:w0rd#x", "R@:/%#?x9", "Sec@ret/x", "pa/ss@w0rdZ"] {
            for url in ["postgres://sxp:\(password)@127.0.0.1:29199/postgres", "postgresql://:\(password)@127.0.0.1/x?sslmode=disable"] {
                let attempts: [() throws -> Void] = [{ _ = try self.address(url) }, { _ = try PostgresStateBackend(url: url) }]
                for attempt in attempts {
                    do {
                        try attempt()
                        Issue.record("\(url) was accepted")
                    } catch let error as FerryError {
                        #expect(error.code == .invalidParameter, "\(error)")
                        let text = "\(error) \(error.diagnostics.map { $0.hint ?? "" })"
                        #expect(text.contains("userinfo"), "\(text)")
                        for start in 0...(password.count - 3) {
                            let piece = String(Array(password)[start..<start + 3])
                            #expect(!text.contains(piece), "\(piece) in \(text)")
                        }
                        #expect(!text.contains("127.0.0.1"), "\(text)")
                    }
                }
            }
        }
    }

    /// A parameter other than `sslmode` is refused by its name, never by its value, and a bare
    /// one (`?s3cret`, which may be the secret itself) not even by that.
    /// Fresh tester round 31, F12: a `--state` url's bare `?secret` was named; its fragment ignored.
    @Test func aStateUrlShowsNoBareParameterOrFragment() throws {
        // Round 35, F11: an encoded `?` or `#` in the database name, shown decoded in the `-->` line.
        for url in ["postgres://u@127.0.0.1:1/postgres?Hunter2xyz", "postgres://u@127.0.0.1:1/postgres#Hunter2xyz",
                    "postgres://u@127.0.0.1:1/postgres%3Fpassword=Hunter2xyz?schema=f", "postgres://u@127.0.0.1:1/postgres%23Hunter2xyz?schema=f",
                    "postgres://u@127.0.0.1:1/Hunter2xyz%3Fx?schema=f"] {
            do {
                _ = try PostgresStateBackend(url: url)
                Issue.record("\(url) was accepted")
            } catch let error as FerryError {
                #expect(error.code == .invalidParameter && !"\(error) \(error.diagnostics.map { $0.hint ?? "" })".contains("Hunter2"), "\(error)")
            }
        }
        // Round 33, F4: a `;password=...` in the database name is never shown.
        let state = try PostgresStateBackend(url: "postgres://u@127.0.0.1:1/postgres;password=Hunter2xyz?schema=f")
        #expect(!state.location.contains("Hunter2") && state.location.contains("postgres;password=***"), "\(state.location)")
    }

    @Test func anUnknownUrlParameterIsRefusedShowingNoSecret() throws {
        for url in ["postgres://u@127.0.0.1:1/db?password=Hunter2xyz", "postgres://u@h:1?Hunter2xyz", "postgres://u@h:1/?sslmode=disable&sig=Hunter2xyz"] {
            do {
                _ = try address(url)
                Issue.record("\(url) was accepted")
            } catch let error as FerryError {
                #expect(error.code == .invalidParameter && "\(error)".contains("unknown url parameter"), "\(error)")
                #expect(!"\(error) \(error.diagnostics.map { $0.hint ?? "" })".contains("Hunter2"), "\(error)")
            }
        }
    }
}

