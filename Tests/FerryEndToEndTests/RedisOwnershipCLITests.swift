import Foundation
import Testing

/// Issue 14 §2 end to end: a kept Redis checkpoint lives in a spare numbered database, which the
/// plan shows as taken, and which a later run never flushes once an application wrote into it.
extension RedisCLITests {
    @Test func aKeptCheckpointDatabaseIsRefusedAsATargetAndKeysWrittenIntoItSurvive() throws {
        let project = try Project()
        let s = try servers()
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
        try cli(project, s.aPort, "set from-file 1")
        try cli(project, s.aPort, "--rdb \(project.root)/plans/data/one.rdb")
        try cli(project, s.aPort, "set from-file 2")
        try cli(project, s.aPort, "--rdb \(project.root)/plans/data/two.rdb")
        try cli(project, s.bPort, "-n 0 set before yes")
        func imports(_ entries: [(String, String, String)]) -> String {
            "\"imports\": {" + entries.map { "\"\($0.0)\": { \"into\": \"rb\", \"database\": \"\($0.1)\", \"from\": \"data/\($0.2)\", \"onExisting\": \"replace\" }" }
                .joined(separator: ", ") + "}"
        }
        try project.write("plans/main.json", plan(s, imports([("seed", "0", "one.rdb")])))
        // The plan says where the file's databases go and what is not imported.
        let planned = try project.run("plan")
        #expect(planned.code == 0, "\(planned.all)")
        #expect(planned.all.contains("every database of the RDB file goes into database 0") && planned.all.contains("functions"), "\(planned.all)")
        let first = try project.run("apply", "--auto-approve")
        #expect(first.code == 0, "\(first.all)")
        #expect(try cli(project, s.bPort, "-n 0 get from-file") == "1")
        // The old db 0 is kept as the checkpoint in a spare database, which is not free.
        let kept = try nonEmpty(project, s.bPort).filter { $0 != "db0" }
        #expect(kept.count == 1, "\(kept)")
        let spare = String(try #require(kept.first).dropFirst(2))
        #expect(try cli(project, s.bPort, "-n \(spare) get before") == "yes")
        try project.write("plans/main.json", plan(s, imports([("seed", "0", "one.rdb"), ("spare", spare, "two.rdb")])))
        let refused = try project.run("plan")
        #expect(refused.code == 1, "\(refused.all)")
        #expect(refused.all.contains("OperationDenied.WrongStatus") && refused.all.contains("holds Ferry's checkpoint of run"), "\(refused.all)")
        // An application writes into that database; the next run's commit drops the old
        // checkpoint only if it holds nothing else, so it stays, with the application's key.
        try cli(project, s.bPort, "-n \(spare) set app-key app")
        try project.write("plans/main.json", plan(s, imports([("seed", "0", "two.rdb")])))
        let second = try project.run("apply", "--auto-approve")
        #expect(second.code == 0, "\(second.all)")
        #expect(second.all.contains("written into it after the run"), "\(second.all)")
        #expect(try cli(project, s.bPort, "-n 0 get from-file") == "2")
        #expect(try cli(project, s.bPort, "-n \(spare) get app-key") == "app")
        #expect(try cli(project, s.bPort, "-n \(spare) get before") == "yes")
    }

    /// Fresh tester round 35b, F4: an RDB holding keys named like Ferry's markers (a server-wide
    /// `redis-cli --rdb` of an instance Ferry used) was imported as it is, and then its own
    /// target was refused as "Ferry's checkpoint" of a run on another server. A database still
    /// holding exactly what this state committed there is that data: `--replace` plans and
    /// applies. Once someone writes into it, its markers can no longer be told from another
    /// run's, and it is refused as before.
    @Test func aTargetWhoseDataCarriesMarkerNamedKeysStaysUsable() throws {
        let project = try Project()
        let s = try servers()
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
        try cli(project, s.aPort, "-n 4 set note hi")
        try cli(project, s.aPort, "-n 4 hset __ferry:checkpoint:20261204T162938698Z-1da835 run 20261204T162938698Z-1da835 target 3 keys 5 persistent 5")
        try cli(project, s.aPort, "-n 4 hset __ferry:shadow:20991231T000000000Z-abcdef run 20991231T000000000Z-abcdef target 2")
        try cli(project, s.aPort, "--rdb \(project.root)/plans/data/full.rdb")
        try project.write("plans/main.json", plan(s, """
            "imports": { "m": { "into": "rb", "database": "0", "from": "data/full.rdb", "sourceDatabase": 4 } }
            """))
        let first = try project.run("apply", "--auto-approve")
        #expect(first.code == 0, "\(first.all)")
        #expect(try cli(project, s.bPort, "-n 0 dbsize") == "3")
        let planned = try project.run("plan", "--replace", "import.m")
        #expect(planned.code == 0 && !planned.all.contains("holds Ferry's checkpoint"), "\(planned.all)")
        let again = try project.run("apply", "--auto-approve", "--replace", "import.m")
        #expect(again.code == 0, "\(again.all)")
        #expect(try cli(project, s.bPort, "-n 0 get note") == "hi")
        #expect(try cli(project, s.bPort, "-n 0 hget __ferry:checkpoint:20261204T162938698Z-1da835 target") == "3", "the user's keys stay as they are")
        // Written since: the markers are no longer provably the state's data.
        try cli(project, s.bPort, "-n 0 set app-key app")
        let refused = try project.run("plan", "--replace", "import.m")
        #expect(refused.code == 1 && refused.all.contains("holds Ferry's checkpoint of run 20261204T162938698Z-1da835"), "\(refused.all)")
    }
}

extension RedisCLITests {
    /// Fresh tester round 37b, F3: with every other numbered database in use, a plan after a
    /// committed run was refused for too few empty databases without a word of the checkpoint
    /// that run keeps (its marker is in a database the plan does not name, where the refresh does
    /// not look), so the user could not tell it from their own data. The refusal names it from
    /// the state's journals, and only it.
    @Test func tooFewEmptyDatabasesNamesTheCheckpointThisStateKeeps() throws {
        let project = try Project()
        let s = try servers()
        try cli(project, s.aPort, "flushall")
        try cli(project, s.bPort, "flushall")
        defer { _ = try? cli(project, s.bPort, "flushall") }
        try cli(project, s.aPort, "set from-file 1")
        try cli(project, s.aPort, "--rdb \(project.root)/plans/data/one.rdb")
        try cli(project, s.bPort, "-n 0 set before yes")
        func imports(_ file: String) -> String {
            "\"imports\": { \"seed\": { \"into\": \"rb\", \"database\": \"0\", \"from\": \"data/\(file)\", \"onExisting\": \"replace\" } }"
        }
        try project.write("plans/main.json", plan(s, imports("one.rdb")))
        let first = try project.run("apply", "--auto-approve")
        #expect(first.code == 0, "\(first.all)")
        let spare = String(try #require(try nonEmpty(project, s.bPort).first { $0 != "db0" }).dropFirst(2))
        // The user's data in every other database.
        for n in 1..<16 where String(n) != spare { try cli(project, s.bPort, "-n \(n) set user-data \(n)") }
        try cli(project, s.aPort, "set from-file 2")
        try cli(project, s.aPort, "--rdb \(project.root)/plans/data/two.rdb")
        try project.write("plans/main.json", plan(s, imports("two.rdb")))
        let refused = try project.run("plan")
        #expect(refused.code == 1 && refused.all.contains("StorageLimitExceeded"), "\(refused.all)")
        #expect(refused.all.contains("this state keeps checkpoints there") && refused.all.contains("database \(spare) holds what 0 held before run "), "\(refused.all)")
        for n in 1..<16 where String(n) != spare {
            #expect(!refused.all.contains("database \(n) holds"), "\(n): \(refused.all)")
        }
        #expect(try cli(project, s.bPort, "-n \(spare) get before") == "yes")
        // Emptied by hand, as the hint says: the plan goes on, naming it no more.
        try cli(project, s.bPort, "-n \(spare) flushdb")
        let freed = try project.run("plan")
        #expect(freed.code == 0 && !freed.all.contains("this state keeps checkpoints"), "\(freed.all)")
    }
}
