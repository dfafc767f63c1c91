import FerryCore
@testable import FerryPostgres
import Foundation
import Testing

/// `PostgresStateBackend` on the real test cluster A: the `StateBackend` guarantees (compare-and-
/// swap, one lease at a time, a dead session's lock taken over, durable journals), the schema made
/// on first use with its version, and no secret in any row. Each test uses its own schema.
@Suite(.serialized) struct PostgresStateBackendTests {
    /// A state URL on cluster A with the password in it, and a fresh schema (dropped by `drop`).
    func url(_ schema: String) throws -> String {
        let env = ProcessInfo.processInfo.environment
        let base = try #require(env["FERRY_TEST_PG_A"], "FERRY_TEST_PG_A is not set: run scripts/test.sh")
        let password = try #require(env["FERRY_TEST_PG_PASSWORD"])
        return base.replacingOccurrences(of: "://ferry@", with: "://ferry:\(password)@") + "?schema=\(schema)"
    }

    func fresh() throws -> (String, PostgresStateBackend) {
        let schema = "st_" + UUID().uuidString.prefix(8).lowercased()
        let url = try url(schema)
        return (url, try PostgresStateBackend(url: url))
    }

    func admin() throws -> PostgresConnection {
        let spec = try PGServers.spec("FERRY_TEST_PG_A", name: "admin")
        let password = ProcessInfo.processInfo.environment["FERRY_TEST_PG_PASSWORD"]
        let specURL = try #require(spec.url)
        let parts = try #require(URLComponents(string: specURL))
        return try PostgresConnection(PostgresAddress(host: parts.host ?? "127.0.0.1", port: parts.port ?? 5432, user: "ferry",
                                                      password: password, maintenanceDatabase: "postgres", sslMode: nil),
                                      database: "postgres", instanceName: "admin")
    }

    func drop(_ backend: PostgresStateBackend) {
        try? admin().execute("DROP SCHEMA IF EXISTS \(quoteIdent(backend.schema)) CASCADE")
    }

    func record(_ name: String) -> ResourceRecord {
        ResourceRecord(address: Address(.import, name), definitionHash: "d", settingsHash: "s", targets: [], sources: [:],
                       appliedAt: Date(timeIntervalSince1970: 0), runID: "r")
    }

    @Test func theSchemaIsMadeOnFirstUseWithItsVersionAndTheLocationHasNoPassword() throws {
        let (url, backend) = try fresh()
        defer { drop(backend) }
        let password = try #require(ProcessInfo.processInfo.environment["FERRY_TEST_PG_PASSWORD"])
        #expect(url.contains(password))
        #expect(!backend.location.contains(password))
        #expect(backend.location.hasSuffix("?schema=\(backend.schema)"))
        let empty = try backend.readState()
        #expect(empty.serial == 0 && empty.lineage.isEmpty)
        let conn = try admin()
        #expect(try conn.scalar("SELECT value FROM \(quoteIdent(backend.schema)).meta WHERE key = 'schema_version'") == "1")
        let tables = try conn.query("SELECT table_name FROM information_schema.tables WHERE table_schema = '\(backend.schema)' ORDER BY 1").compactMap { $0[0] }
        #expect(tables == ["journal", "kept_settled", "lock", "meta", "runs", "state"])
        // A newer ferry's tables are refused, not misread.
        try conn.execute("UPDATE \(quoteIdent(backend.schema)).meta SET value = '99' WHERE key = 'schema_version'")
        let other = try PostgresStateBackend(url: url)
        #expect { try other.readState() } throws: { ($0 as? FerryError)?.code == .versionMismatch }
    }

    @Test func badURLsAreInvalidParameterAndNeverEchoThePassword() throws {
        for text in ["postgres://ferry:s3cr3tpw@127.0.0.1:5432/postgres?schema=Bad-Name",
                     "postgres://ferry:s3cr3tpw@127.0.0.1:5432/postgres?password=s3cr3tpw",
                     "postgres://ferry:s3cr3tpw@127.0.0.1:5432/postgres?schema=",
                     "postgres://ferry:s3cr3tpw@127.0.0.1:5432/postgres?sslmode=sometimes",
                     "postgres:///postgres"] {
            do {
                _ = try PostgresStateBackend(url: text)
                Issue.record("\(text) was accepted")
            } catch let error as FerryError {
                #expect(error.code == .invalidParameter, "\(text)")
                #expect(!"\(error.diagnostics)".contains("s3cr3tpw"), "\(error.diagnostics)")
            }
        }
    }

    @Test func aWriterThatReadAnOlderSerialLosesCleanlyAndConcurrentWritersLoseNothing() throws {
        let (url, first) = try fresh()
        defer { drop(first) }
        let second = try PostgresStateBackend(url: url)
        var a = try first.readState()
        let b = try second.readState()
        a.record(record("first"))
        let written = try first.writeState(a)
        #expect(written.serial == 1 && !written.lineage.isEmpty)
        var stale = b
        stale.record(record("second"))
        #expect { try second.writeState(stale) } throws: { ($0 as? FerryError)?.code == .planStale }
        let now = try second.readState()
        #expect(now.serial == 1 && now.record(for: Address(.import, "first")) != nil && now.record(for: Address(.import, "second")) == nil)

        // Four writers on their own connections, each adding ten records with retries: all 40 land.
        let backends = try (0..<4).map { _ in try PostgresStateBackend(url: url) }
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            for n in 0..<10 {
                while true {
                    do {
                        var state = try backends[worker].readState()
                        state.record(record("w\(worker)-\(n)"))
                        try backends[worker].writeState(state)
                        break
                    } catch {}
                }
            }
        }
        let final = try first.readState()
        #expect(final.serial == 41)
        #expect(final.resources.count == 41)
    }

    @Test func oneLeaseAtATimeAcrossConnectionsAndAKilledSessionFreesIt() throws {
        let (url, first) = try fresh()
        defer { drop(first) }
        let second = try PostgresStateBackend(url: url)
        let lease = try first.acquireLock(operation: "apply")
        try lease.checkHeld()
        do {
            _ = try second.acquireLock(operation: "apply")
            Issue.record("a second lease was given")
        } catch let error as FerryError {
            #expect(error.code == .stateLocked)
            let text = error.diagnostics.map(\.message).joined()
            #expect(text.contains("pid \(getpid())") && text.contains(lease.info.id), "\(text)")
        }
        let holder = try #require(second.lockHolder())
        #expect(holder.id == lease.info.id && holder.operation == "apply" && holder.host == ProcessInfo.processInfo.hostName)
        #expect(!second.isGone(holder))
        // The holder's connection dies (as when its process is killed): the server frees the lock.
        let conn = try admin()
        try conn.execute("SELECT pg_terminate_backend(backend_pid) FROM \(quoteIdent(first.schema)).lock")
        let deadline = Date().addingTimeInterval(10)
        while !second.isGone(holder), Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(second.isGone(holder))
        let taken = try second.acquireLock(operation: "recover")
        #expect { try lease.checkHeld() } throws: { ($0 as? FerryError)?.code == .stateLocked }
        lease.release()
        #expect(second.lockHolder()?.id == taken.info.id, "the old lease's release must leave the new lock alone")
        try taken.checkHeld()
        taken.release()
        #expect(second.lockHolder() == nil)
        let again = try first.acquireLock(operation: "apply")
        again.release()
    }

    @Test func unlockByIDEndsTheHoldersSessionAndItsLeaseNoLongerHolds() throws {
        let (url, first) = try fresh()
        defer { drop(first) }
        let other = try PostgresStateBackend(url: url)
        #expect { try other.forceUnlock(id: nil) } throws: { ($0 as? FerryError)?.code == .stateLocked }
        let lease = try first.acquireLock(operation: "apply")
        #expect { try other.forceUnlock(id: nil) } throws: { ($0 as? FerryError)?.code == .stateLocked }
        #expect { try other.forceUnlock(id: "not-it") } throws: { ($0 as? FerryError)?.code == .stateLocked }
        let released = try other.forceUnlock(id: lease.info.id)
        #expect(released == .released(other.lockHolder() ?? lease.info) || other.lockHolder() == nil)
        #expect(other.lockHolder() == nil)
        #expect { try lease.checkHeld() } throws: { ($0 as? FerryError)?.code == .stateLocked }
        let next = try other.acquireLock(operation: "apply")
        next.release()
        lease.release()
    }

    /// A state an earlier release made (no `kept_settled`), used by a role that may read and
    /// write its tables but not create any (SPEC: `CREATE` is needed the first time only): every
    /// command goes on, runs are settled as before and read for kept targets at every plan.
    @Test func aStateOfAnEarlierReleaseWorksForARoleThatCannotCreateTables() throws {
        let (_, owner) = try fresh()
        defer { drop(owner) }
        _ = try owner.journals.createJournal(for: "20260101T000000000Z-aaaaaa")
        let schema = quoteIdent(owner.schema)
        let plain = try #require(ProcessInfo.processInfo.environment["FERRY_TEST_PG_PLAIN_USER"])
        let conn = try admin()
        try conn.execute("DROP TABLE \(schema).kept_settled; GRANT USAGE ON SCHEMA \(schema) TO \(quoteIdent(plain));"
                         + " GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \(schema) TO \(quoteIdent(plain))")
        let plainURL = try url(owner.schema).replacingOccurrences(of: "://ferry:", with: "://\(plain):")
        let user = try PostgresStateBackend(url: plainURL)
        #expect(try user.readState().lineage == owner.readState().lineage)
        #expect(user.journals.runIDs() == ["20260101T000000000Z-aaaaaa"])
        #expect(user.journals.runIDsNotSettledForKeptTargets() == ["20260101T000000000Z-aaaaaa"])
        user.journals.markSettled("20260101T000000000Z-aaaaaa")
        #expect(user.journals.isSettled("20260101T000000000Z-aaaaaa"), "settled as before: the update goes alone")
        #expect(!user.journals.isSettledForKeptTargets("20260101T000000000Z-aaaaaa"))
        #expect(user.journals.unsettledRunIDs().isEmpty && user.journals.runIDsNotSettledForKeptTargets() == ["20260101T000000000Z-aaaaaa"])
        #expect(try conn.scalar("SELECT to_regclass('\(owner.schema).kept_settled') IS NULL") == "t")
        // The owner's next use adds the table, and from then on the marks count.
        let again = try PostgresStateBackend(url: url(owner.schema))
        again.journals.markSettledForKeptTargets("20260101T000000000Z-aaaaaa")
        #expect(again.journals.isSettledForKeptTargets("20260101T000000000Z-aaaaaa"))
    }

    @Test func journalsAppendDurablyInOrderAndReadBackFromAnotherConnectionWithNoSecretInAnyRow() throws {
        let (url, backend) = try fresh()
        defer { drop(backend) }
        let journal = try backend.journals.createJournal(for: "20260101T000000000Z-aaaaaa")
        #expect(try journal.append(JournalRecord(event: .stepStarted, step: 1, address: "import.x")) == 1)
        #expect(try journal.append(JournalRecord(event: .stepDone, step: 1, address: "import.x")) == 2)
        _ = try backend.journals.createJournal(for: "20260102T000000000Z-bbbbbb")
        let reader = try PostgresStateBackend(url: url)
        #expect(reader.journals.runIDs() == ["20260102T000000000Z-bbbbbb", "20260101T000000000Z-aaaaaa"])
        let records = try reader.journals.records(of: "20260101T000000000Z-aaaaaa")
        #expect(records.map(\.seq) == [1, 2] && records.map(\.event) == [.stepStarted, .stepDone])
        // Reopened, sequence numbers go on.
        let reopened = try reader.journals.openJournal(for: "20260101T000000000Z-aaaaaa")
        #expect(try reopened.append(JournalRecord(event: .committed)) == 3)
        #expect { try reader.journals.records(of: "nope") } throws: { ($0 as? FerryError)?.code == .invalidParameter }
        reader.journals.markSettled("20260101T000000000Z-aaaaaa")
        #expect(backend.journals.isSettled("20260101T000000000Z-aaaaaa"))
        // This release settles a run only once nothing it left for the user is there, so its mark
        // counts for kept targets; a run an earlier release settled (`settled` alone) does not,
        // until a plan has read it once and marks it (`KeptTargets`).
        #expect(backend.journals.isSettledForKeptTargets("20260101T000000000Z-aaaaaa"))
        try admin().execute("UPDATE \(quoteIdent(backend.schema)).runs SET settled = true WHERE run_id = '20260102T000000000Z-bbbbbb'")
        #expect(backend.journals.isSettled("20260102T000000000Z-bbbbbb") && !backend.journals.isSettledForKeptTargets("20260102T000000000Z-bbbbbb"))
        reader.journals.markSettledForKeptTargets("20260102T000000000Z-bbbbbb")
        #expect(backend.journals.isSettledForKeptTargets("20260102T000000000Z-bbbbbb"))
        #expect(!backend.journals.isSettledForKeptTargets("nope"))
        // The lists every plan reads, one query each.
        try backend.journals.createJournal(for: "20260103T000000000Z-cccccc")
        #expect(backend.journals.unsettledRunIDs() == ["20260103T000000000Z-cccccc"])
        #expect(backend.journals.runIDsNotSettledForKeptTargets() == ["20260103T000000000Z-cccccc"])
        try admin().execute("UPDATE \(quoteIdent(backend.schema)).runs SET settled = true WHERE run_id = '20260103T000000000Z-cccccc'")
        #expect(backend.journals.unsettledRunIDs().isEmpty && backend.journals.runIDsNotSettledForKeptTargets() == ["20260103T000000000Z-cccccc"])
        reader.journals.writeProgress(["1": ["bytes": 5]], of: "20260101T000000000Z-aaaaaa")
        #expect(backend.journals.progress(of: "20260101T000000000Z-aaaaaa") == ["1": ["bytes": 5]])
        try reader.journals.removeRun("20260102T000000000Z-bbbbbb")
        #expect(backend.journals.runIDs() == ["20260103T000000000Z-cccccc", "20260101T000000000Z-aaaaaa"])
        let lease = try backend.acquireLock(operation: "apply")
        defer { lease.release() }
        try backend.writeState(try backend.readState())
        // No row of any table holds the URL's password.
        let password = try #require(ProcessInfo.processInfo.environment["FERRY_TEST_PG_PASSWORD"])
        let conn = try admin()
        for table in ["meta", "state", "lock", "runs", "journal"] {
            let text = try conn.query("SELECT t::text FROM \(quoteIdent(backend.schema)).\(table) t").map { $0.compactMap { $0 }.joined() }.joined()
            #expect(!text.isEmpty, "\(table) should hold rows")
            #expect(!text.contains(password), "\(table) holds the password")
        }
    }
}
