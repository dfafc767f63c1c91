import FerryCore
@testable import FerryMySQL
import Testing

/// The instance URL's userinfo is percent-decoded once (RFC 3986 §2.1): `%25` is a `%` of the
/// password, never the start of another escape (a fresh tester's `pq%2541rs` became `pqArs`).
@Suite struct MySQLAddressTests {
    func address(_ url: String) throws -> MySQLAddress {
        try MySQLAddress(target: ConnectionTarget(instance: InstanceSpec(name: "m", engine: .mysql, url: url), password: nil))
    }

    @Test func userAndPasswordAreDecodedExactlyOnce() throws {
        let cases: [(String, String, String)] = [
            ("mysql://leak3:pq%2541rs@127.0.0.1:1", "leak3", "pq%41rs"),
            ("mysql://u:a%25b@127.0.0.1:1", "u", "a%b"),
            ("mysql://u%25x:ab%40cd%2Fef@127.0.0.1:1", "u%x", "ab@cd/ef"),
            ("mysql://%E6%97%A5:p%20w@127.0.0.1:1", "日", "p w"),
        ]
        for (url, user, password) in cases {
            let parsed = try address(url)
            #expect(parsed.user == user && parsed.password == password, "\(url)")
        }
        #expect(try address("mysql://127.0.0.1").user == "root")
    }

    /// Round-13 S1: a raw '#', '?', '/' or '@' in the password: refused naming the instance only.
    @Test func anAmbiguousUserInfoIsRefusedShowingNoPartOfIt() throws {
        for password in ["Sec#ret", "Se?cr#et", "P@ss:w0rd#x", "R@:/%#?x9", "pa/ss@w0rdZ"] {
            for url in ["mysql://sxm:\(password)@127.0.0.1:28811", "mariadb://:\(password)@127.0.0.1/x"] {
                do {
                    _ = try address(url)
                    Issue.record("\(url) was accepted")
                } catch let error as FerryError {
                    #expect(error.code == .invalidParameter, "\(error)")
                    let text = "\(error) \(error.diagnostics.map { $0.hint ?? "" })"
                    #expect(text.contains("instance m") && text.contains("userinfo"), "\(text)")
                    for start in 0...(password.count - 3) {
                        let piece = String(Array(password)[start..<start + 3])
                        #expect(!text.contains(piece), "\(piece) in \(text)")
                    }
                }
            }
        }
    }

    /// A url parameter would be ignored (round 29: `?password=` validated and was dropped, so the
    /// run logged in without it; `?ssl-mode=REQUIRED` would not require TLS): refused by its name,
    /// its value never shown.
    @Test func aUrlParameterIsRefusedByNameOnly() throws {
        for url in ["mysql://ferry@127.0.0.1:3306/?password=Hunter2xyz", "mysql://u@h:1?ssl-mode=REQUIRED", "mariadb://u@h?Hunter2xyz",
                    "mysql://u@h:1/?token=Hunter2xyz&x=1"] {
            do {
                _ = try address(url)
                Issue.record("\(url) was accepted")
            } catch let error as FerryError {
                #expect(error.code == .invalidParameter && "\(error)".contains("unknown url parameter"), "\(error)")
                #expect(!"\(error) \(error.diagnostics.map { $0.hint ?? "" })".contains("Hunter2"), "\(error)")
            }
        }
        #expect(try address("mysql://u@127.0.0.1:1/").user == "u", "an empty path and no query are fine")
        do {
            _ = try address("mysql://u@127.0.0.1:1#Hunter2xyz")
            Issue.record("a fragment was accepted")
        } catch let error as FerryError {
            #expect(error.code == .invalidParameter && "\(error)".contains("fragment") && !"\(error)".contains("Hunter2"), "\(error)")
        }
        // A path would be ignored and may hide a secret (fresh tester round 33, F4).
        for url in ["mysql://u@127.0.0.1:1/;password=Hunter2xyz", "mysql://u@127.0.0.1:1/%3FHunter2xyz", "mysql://u@127.0.0.1:1/db"] {
            do {
                _ = try address(url)
                Issue.record("\(url) was accepted")
            } catch let error as FerryError {
                #expect(error.code == .invalidParameter && "\(error)".contains("path") && !"\(error)".contains("Hunter2"), "\(error)")
            }
        }
    }

    /// Schema comments (a shadow's run mark) are told by the version string alone.
    @Test func schemaCommentsAreToldByTheVersion() {
        #expect(MySQLSession.keepsSchemaComments(serverVersion: "10.11.6-MariaDB-0+deb12u1"))
        #expect(MySQLSession.keepsSchemaComments(serverVersion: "10.5.0-MariaDB"))
        #expect(MySQLSession.keepsSchemaComments(serverVersion: "11.4.2-MariaDB-log"))
        #expect(!MySQLSession.keepsSchemaComments(serverVersion: "10.4.32-MariaDB"))
        #expect(!MySQLSession.keepsSchemaComments(serverVersion: "8.0.36"))
        #expect(MySQLSession.keepsSchemaComments(serverVersion: "5.5.5-10.11.6-MariaDB"), "the old replication prefix")
    }
}
