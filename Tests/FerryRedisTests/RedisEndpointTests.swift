import FerryCore
@testable import FerryRedis
import Testing

/// The Redis URL's userinfo is percent-decoded once (RFC 3986 §2.1), as for MySQL.
@Suite struct RedisEndpointTests {
    @Test func userAndPasswordAreDecodedExactlyOnce() throws {
        let endpoint = try RedisEndpoint(url: "redis://us%25er:p%2541@127.0.0.1:1/2", password: nil)
        #expect(endpoint.user == "us%er" && endpoint.password == "p%41" && endpoint.database == 2)
        let slash = try RedisEndpoint(url: "redis://:ab%40cd%2Fef@127.0.0.1:1", password: nil)
        #expect(slash.user == nil && slash.password == "ab@cd/ef")
        #expect(try RedisEndpoint(url: "redis://:x%25y@127.0.0.1:1", password: "given").password == "given")
    }

    /// Round-13 S1: `redis://ru:Sec#ret@host` was "not a Redis URL: redis://ru:Sec#***". A raw '#',
    /// '?', '/' or '@' in the password is refused showing no part of the URL.
    @Test func anAmbiguousUserInfoIsRefusedShowingNoPartOfIt() throws {
        for password in ["Sec#ret", "Se?cr#et", "P@ss:w0rd#x", "R@:/%#?x9", "pa/ss@w0rdZ", "tok#en"] {
            for url in ["redis://ru:\(password)@127.0.0.1:65321", "rediss://:\(password)@127.0.0.1:65321/0"] {
                do {
                    _ = try RedisEndpoint(url: url, password: nil)
                    Issue.record("\(url) was accepted")
                } catch let error as FerryError {
                    #expect(error.code == .invalidParameter, "\(error)")
                    let text = "\(error) \(error.diagnostics.map { $0.hint ?? "" })"
                    #expect(text.contains("userinfo"), "\(text)")
                    for start in 0...(password.count - 3) {
                        let piece = String(Array(password)[start..<start + 3])
                        #expect(!text.contains(piece), "\(piece) in \(text)")
                    }
                }
            }
        }
    }

    /// A url parameter would be ignored (`?password=`, `?db=`): refused by its name, its value
    /// never shown.
    @Test func aUrlParameterIsRefusedByNameOnly() throws {
        for url in ["redis://127.0.0.1:6379/?password=Hunter2xyz", "rediss://u@h:1/3?db=4", "redis://h?Hunter2xyz"] {
            do {
                _ = try RedisEndpoint(url: url, password: nil)
                Issue.record("\(url) was accepted")
            } catch let error as FerryError {
                #expect(error.code == .invalidParameter && "\(error)".contains("unknown parameter"), "\(error)")
                #expect(!"\(error) \(error.diagnostics.map { $0.hint ?? "" })".contains("Hunter2"), "\(error)")
            }
        }
        #expect(try RedisEndpoint(url: "redis://127.0.0.1:1/2", password: nil).database == 2)
        // Fresh tester round 31, F6: text that is no Redis url, and a fragment, show nothing of it.
        // Round 33, F4: a path that is no database number (ignored before, and kept in the journal).
        for url in ["redis://127.0.0.1:65091;password=Hunter2xyz", "redis://127.0.0.1:1#Hunter2xyz", "redis://h:1/2#x=Hunter2xyz",
                    "redis://h:1/;password=Hunter2xyz", "redis://h:1/0;Hunter2xyz", "redis://h:1/%3Fpassword=Hunter2xyz", "redis://h:1/-1"] {
            do {
                _ = try RedisEndpoint(url: url, password: nil)
                Issue.record("\(url) was accepted")
            } catch let error as FerryError {
                #expect(error.code == .invalidParameter && !"\(error) \(error.diagnostics.map { $0.hint ?? "" })".contains("Hunter2"), "\(error)")
            }
        }
    }
}
