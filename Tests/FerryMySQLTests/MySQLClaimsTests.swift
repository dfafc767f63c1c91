import FerryCore
@testable import FerryMySQL
import Foundation
import Testing

/// Issue 16 §12 and issue 14 §4 on MariaDB: claims of names in any character set, compared as
/// bytes, with their holder; a dead run's claims cleared when it left nothing.
@Suite(.serialized) struct MySQLClaimsTests {
    @Test func namesInAnyCharacterSetCanBeClaimedOnALatin1Server() throws {
        let a = try Servers.a()
        defer { a.close() }
        // The test servers start with a latin1 default, as many installations do.
        #expect(try a.connection.scalar("SELECT @@character_set_server") == "latin1")
        // A claims table made by an older ferry (latin1, no holder) is converted on the next claim.
        try a.claim([DatabaseClaim(database: "ferry_t_claim_warmup", role: .importing, runID: "warmup")])
        try a.release(runID: "warmup")
        try a.sql("ALTER TABLE `ferry_meta`.`claims` CONVERT TO CHARACTER SET latin1")

        let names = ["日本", "Straße", "Strasse", "STRASSE", "emoji😀", "naïve"]
        for (index, name) in names.enumerated() {
            // Each a different run: binary comparison tells them apart (no ß = ss, no case folding).
            try a.claim([DatabaseClaim(database: name, role: .importing, runID: "ferry-t-run-\(index)")])
        }
        defer { for index in names.indices { try? a.release(runID: "ferry-t-run-\(index)") } }
        let claims = try a.describe(fingerprinting: []).claims
        for (index, name) in names.enumerated() {
            let claim = try #require(claims.first { $0.runID == "ferry-t-run-\(index)" }, "\(name)")
            #expect(claim.database == name)
            #expect(claim.pid == getpid() && claim.host == ProcessInfo.processInfo.hostName)
        }
        #expect(try a.connection.scalar("SELECT TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'ferry_meta' AND TABLE_NAME = 'claims'") == "utf8mb4_bin")
        // Another run is refused with WrongStatus, naming the holder.
        let refused = expectCode(.wrongStatus) {
            try a.claim([DatabaseClaim(database: "日本", role: .migrating, runID: "ferry-t-other")])
        }
        #expect(refused?.message.contains("日本") == true && refused?.message.contains("pid \(getpid())") == true, "\(String(describing: refused))")
    }

    /// Round-14 A3: a claim records where its run's journal is. A claims table of an earlier
    /// release (no `journal` column) is read as it is, its claims saying nothing of it, and the
    /// next claim adds the column.
    @Test func claimsRecordTheirJournalAndAnEarlierTableIsReadWithoutIt() throws {
        let a = try Servers.a()
        defer { a.close() }
        try a.claim([DatabaseClaim(database: "ferry_t_journal_warmup", role: .importing, runID: "warmup")])
        try a.release(runID: "warmup")
        try a.sql("ALTER TABLE `ferry_meta`.`claims` DROP COLUMN IF EXISTS journal")
        try a.sql("INSERT INTO `ferry_meta`.`claims` (db, role, run_id, holder, host, pid) VALUES ('ferry_t_old', 'Importing', 'ferry-t-old', 'u', 'elsewhere', 7)")
        defer { try? a.release(runID: "ferry-t-old") }
        let old = try #require(try a.currentClaims().first { $0.runID == "ferry-t-old" })
        #expect(old.journal == nil && old.host == "elsewhere")
        var claim = DatabaseClaim(database: "ferry_t_new", role: .importing, runID: "ferry-t-new")
        claim.journal = "/work/copy/.ferry"
        try a.claim([claim])
        defer { try? a.release(runID: "ferry-t-new") }
        let journals = try a.currentClaims().filter { $0.runID.hasPrefix("ferry-t-") }.map { "\($0.runID) \($0.journal ?? "-")" }.sorted()
        #expect(journals == ["ferry-t-new /work/copy/.ferry", "ferry-t-old -"])
        #expect(try a.claimHeld(by: "ferry-t-new", on: "ferry_t_new") == true)
        #expect(try a.claimHeld(by: "ferry-t-new", on: "ferry_t_other") == false)
    }

    @Test func aDeadRunsClaimIsClearedOnlyWhenItLeftNothing() throws {
        let a = try Servers.a()
        defer { a.close() }
        let database = "ferry_t_dead_claim"
        let run = "20260101T000000000Z-deadmy"
        let dead: Int32 = {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/true")
            try? process.run()
            process.waitUntilExit()
            return process.processIdentifier
        }()
        try a.claim([DatabaseClaim(database: database, role: .importing, runID: run, holder: "ci",
                                   host: ProcessInfo.processInfo.hostName, pid: dead)])
        defer { try? a.release(runID: run); try? a.sql("DROP DATABASE IF EXISTS `\(database)__ferry_s_\(run.suffix(16))`") }
        // It left a shadow: the claim holds, and the refusal says who and how to release it.
        try a.sql("CREATE DATABASE IF NOT EXISTS `\(database)__ferry_s_\(run.suffix(16))`")
        #expect(try a.leftovers(ofRun: run) == ["\(database)__ferry_s_\(run.suffix(16))"])
        // Leftovers are the names the naming rule derives for the run, and only those: a
        // shortened shadow and a checkpoint are; a name that merely ends with the run's tag,
        // or carries another marker, is the user's.
        let long = "ferry_t_" + String(repeating: "long", count: 16)
        let derived = [MySQLSession.derivedName(long, marker: "s", runID: run), MySQLSession.derivedName(database, marker: "c", runID: run)]
        let others = ["ferry_t_x_\(run.suffix(16))", "ferry_t_y__ferry_q_\(run.suffix(16))", "ferry_t_z__ferry_s_\(run.suffix(16))_more"]
        for name in derived + others { try a.sql("CREATE DATABASE IF NOT EXISTS \(quoteName(name))") }
        defer { for name in derived + others { try? a.sql("DROP DATABASE IF EXISTS \(quoteName(name))") } }
        // A shadow's name is shortened until the import account's GRANT (`_` escaped) fits 64.
        #expect(MySQLSession.grantLength(derived[0]) <= 64 && derived[0].hasSuffix("__ferry_s_\(run.suffix(16))"))
        #expect(MySQLSession.legacyShadowName(long, runID: run).count == 64)
        #expect(try a.leftovers(ofRun: run) == (derived + ["\(database)__ferry_s_\(run.suffix(16))"]).sorted())
        for name in derived + others { try a.sql("DROP DATABASE IF EXISTS \(quoteName(name))") }
        #expect(try a.describe(fingerprinting: []).claims.contains { $0.runID == run })
        let refused = expectCode(.wrongStatus) {
            try a.claim([DatabaseClaim(database: database, role: .importing, runID: "ferry-t-next")])
        }
        #expect(refused?.diagnostics.first?.hint?.contains("unlock --claims") == true)
        // Nothing left: the next run clears it.
        try a.sql("DROP DATABASE `\(database)__ferry_s_\(run.suffix(16))`")
        #expect(try !a.describe(fingerprinting: []).claims.contains { $0.runID == run })
        try a.claim([DatabaseClaim(database: database, role: .importing, runID: "ferry-t-next")])
        try a.release(runID: "ferry-t-next")
        #expect(try !a.currentClaims().contains { $0.runID == run })
    }
}
