import Foundation
import Testing

/// `maxConnections` (SPEC §2: a cap on Ferry's concurrent connections to an instance) on Redis,
/// enforced by the servers themselves: `CONFIG SET maxclients` equal to the plan's cap while the
/// apply runs, so that one connection over it fails the run ("max number of clients reached").
extension RedisCLITests {
    /// Copies both ways between the servers, two of them into one instance (several steps on
    /// each), go through under `maxConnections: 3` on servers that take 3 clients, and a copy
    /// within one instance under 4 on a server that takes 4; `validate` refuses a cap under 3,
    /// and under 4 for a copy within one instance.
    @Test func maxConnectionsIsACapTheServerSees() throws {
        let project = try Project()
        let s = try servers()
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
        try cli(project, s.aPort, "-n 6 eval \"for i=1,20000 do redis.call('set','a'..i,string.rep('v',50)..i) end\" 0")
        try cli(project, s.bPort, "-n 7 eval \"for i=1,15000 do redis.call('hset','h'..i,'f',i) end\" 0")
        try project.write("plans/main.json", """
            { "ferry": 1,
              "instances": {
                "ra": { "engine": "redis", "url": "\(s.a)", "maxConnections": 3 },
                "rb": { "engine": "redis", "url": "\(s.b)", "password": { "env": "FERRY_TEST_REDIS_B_PASSWORD" }, "maxConnections": 3 }
              },
              "copies": { "ab": { "from": "ra", "to": "rb", "databases": { "6": "8" } },
                          "ab2": { "from": "ra", "to": "rb", "databases": { "6": "9" } },
                          "ba": { "from": "rb", "to": "ra", "databases": { "7": "10" } } } }
            """)
        for port in [s.aPort, s.bPort] { try cli(project, port, "config set maxclients 3") }
        let applied = try project.run("apply", "--auto-approve")
        for port in [s.aPort, s.bPort] { try cli(project, port, "config set maxclients 10000") }
        #expect(applied.code == 0 && !applied.all.contains("max number of clients"), "\(applied.all)")
        #expect(try cli(project, s.bPort, "-n 8 dbsize") == "20000")
        #expect(try cli(project, s.bPort, "-n 9 dbsize") == "20000")
        #expect(try cli(project, s.aPort, "-n 10 dbsize") == "15000")

        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "ra": { "engine": "redis", "url": "\(s.a)", "maxConnections": 2 } },
              "copies": { "aa": { "from": "ra", "to": "ra", "databases": { "6": "11" } } } }
            """)
        let two = try project.run("validate")
        #expect(two.code != 0 && two.all.contains("InvalidParameter") && two.all.contains("at least 3"), "\(two.all)")
        // A copy within one instance holds its reader and its writer there too.
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "ra": { "engine": "redis", "url": "\(s.a)", "maxConnections": 3 } },
              "copies": { "aa": { "from": "ra", "to": "ra", "databases": { "6": "11" } } } }
            """)
        let within = try project.run("validate")
        #expect(within.code != 0 && within.all.contains("InvalidParameter") && within.all.contains("at least 4"), "\(within.all)")
        try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "ra": { "engine": "redis", "url": "\(s.a)", "maxConnections": 4 } },
              "copies": { "aa": { "from": "ra", "to": "ra", "databases": { "6": "11" } } } }
            """)
        try cli(project, s.aPort, "config set maxclients 4")
        let twin = try project.run("apply", "--auto-approve")
        try cli(project, s.aPort, "config set maxclients 10000")
        #expect(twin.code == 0 && !twin.all.contains("max number of clients"), "\(twin.all)")
        #expect(try cli(project, s.aPort, "-n 11 dbsize") == "20000")
    }

    /// A backup and a copy from its set, each under `maxConnections: 3` on servers that take 3
    /// clients: neither goes over, and the set restores the moment it was taken.
    @Test func aBackupAndARestoreFromItKeepTheCap() throws {
        let project = try Project()
        let s = try servers()
        try cli(project, s.aPort, "-n 6 flushdb")
        try cli(project, s.bPort, "-n 12 flushdb")
        try cli(project, s.aPort, "-n 6 eval \"for i=1,20000 do redis.call('set','a'..i,string.rep('v',50)..i) end\" 0")
        func plan(copies: String) -> String {
            """
            { "ferry": 1,
              "instances": {
                "ra": { "engine": "redis", "url": "\(s.a)", "maxConnections": 3 },
                "rb": { "engine": "redis", "url": "\(s.b)", "password": { "env": "FERRY_TEST_REDIS_B_PASSWORD" }, "maxConnections": 3 }
              },
              "backups": { "nightly": { "of": "ra", "databases": ["6"], "to": "../backups" } }\(copies) }
            """
        }
        try project.write("plans/main.json", plan(copies: ""))
        try cli(project, s.aPort, "config set maxclients 3")
        let taken = try project.run("backup", "nightly")
        try cli(project, s.aPort, "config set maxclients 10000")
        #expect(taken.code == 0 && !taken.all.contains("max number of clients"), "\(taken.all)")
        let setID = try #require(taken.stdout.components(separatedBy: "backup set ").dropFirst().first?.split(separator: " ").first.map(String.init), "\(taken.all)")
        try cli(project, s.aPort, "-n 6 del a1 a2 a3")
        try project.write("plans/main.json", plan(copies: """
            , "copies": { "restore": { "from": "ra", "to": "rb", "databases": { "6": "12" }, "backup": "\(setID)" } }
            """))
        for port in [s.aPort, s.bPort] { try cli(project, port, "config set maxclients 3") }
        let applied = try project.run("apply", "--auto-approve")
        for port in [s.aPort, s.bPort] { try cli(project, port, "config set maxclients 10000") }
        #expect(applied.code == 0 && !applied.all.contains("max number of clients"), "\(applied.all)")
        #expect(try cli(project, s.bPort, "-n 12 dbsize") == "20000", "the moment of the set")
        #expect(try cli(project, s.bPort, "-n 12 get a1") == String(repeating: "v", count: 50) + "1")
    }
}
