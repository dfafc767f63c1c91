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
}
