import Foundation
import Testing

/// `examples/ci/` run as its workflow runs it, so that it cannot rot: `ci.sh plan` in one working
/// copy (Markdown plan and a saved plan), `ci.sh apply` of that saved plan in another (JSON Lines),
/// both on one state on PostgreSQL test cluster A, copying `ci_app` to `ci_app_staging` on
/// cluster B (the state is kept off the managed server, as the example's README says);
/// then two applies at once: the one that meets the lock waits `FERRY_LOCK_TIMEOUT` and gives up
/// with `StateLocked` naming the holder, the holder commits.
@Suite(.serialized) struct CIExampleTests {
    static var exampleDirectory: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("examples/ci").path
    }

    /// A working copy of the example (its plans and ci.sh) in a fresh project directory.
    func checkout(_ env: [String: String]) throws -> Project {
        let project = try Project()
        for name in ["ci.sh", "plans/main.json"] {
            try FileManager.default.copyItem(atPath: Self.exampleDirectory + "/" + name, toPath: project.root + "/" + name)
        }
        project.environment.merge(env) { $1 }
        return project
    }

    func lines(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
        }
    }

    @Test func planOnAPullRequestThenApplyOnMergeFromAnotherCopyAndTwoAppliesAtOnce() throws {
        let env = ProcessInfo.processInfo.environment
        let a = try #require(env["FERRY_TEST_PG_A"], "run scripts/test.sh"), b = try #require(env["FERRY_TEST_PG_B"])
        let password = try #require(env["FERRY_TEST_PG_PASSWORD"])
        let schema = "ci_" + UUID().uuidString.prefix(8).lowercased()
        let ciEnv = ["FERRY": Project.binary, "FERRY_STATE": a + "?schema=\(schema)", "PGPASSWORD": password,
                     "CI_PG_SOURCE_URL": b, "CI_PG_TARGET_URL": b, "CI_PG_PASSWORD": password]
        let pr = try checkout(ciEnv), merge = try checkout(ciEnv)
        let helper = PostgresStateCLITests()
        let onB = "PGPASSWORD=\"$FERRY_TEST_PG_PASSWORD\" psql -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p \(URLComponents(string: b)?.port ?? 5432) -U ferry"
        #expect(try pr.runShell("\(onB) -d postgres -c 'DROP DATABASE IF EXISTS ci_app WITH (FORCE)' -c 'DROP DATABASE IF EXISTS ci_app_staging WITH (FORCE)' -c 'CREATE DATABASE ci_app'").code == 0)
        #expect(try pr.runShell("\(onB) -d ci_app -c \"CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 2000) g\" -c 'VACUUM ANALYZE t'").code == 0)
        defer { _ = try? helper.psql(pr, "DROP SCHEMA IF EXISTS \(schema) CASCADE;") }

        // Pull request: the plan as Markdown, and saved.
        let plan = try pr.runShell("./ci.sh plan")
        #expect(plan.code == 0, "\(plan.all)")
        let markdown = try #require(pr.read("plan.md"))
        #expect(markdown.contains("### Ferry plan") && markdown.contains("**Plan: 1 to create"), "\(markdown)")
        #expect(markdown.contains("`copy.staging-from-production`"))
        #expect(!markdown.contains(password))
        // Merge: another working copy applies the saved plan (the PR's artifact), with the PR's
        // working copy gone, as on another runner.
        try FileManager.default.copyItem(atPath: pr.root + "/ferry.plan", toPath: merge.root + "/ferry.plan")
        try FileManager.default.moveItem(atPath: pr.root + "/plans", toPath: pr.root + "/plans-away")
        defer { try? FileManager.default.moveItem(atPath: pr.root + "/plans-away", toPath: pr.root + "/plans") }
        let apply = try merge.runShell("./ci.sh apply")
        #expect(apply.code == 0, "\(apply.all)")
        let events = try lines(try #require(merge.read("apply.jsonl")))
        #expect(events.allSatisfy { $0["formatVersion"] as? Int == 1 })
        #expect(events.first?["type"] as? String == "runStarted")
        #expect(events.last?["type"] as? String == "outcome" && events.last?["outcome"] as? String == "committed"
                && events.last?["exitCode"] as? Int == 0, "\(events.last ?? [:])")
        #expect(try merge.runShell("\(onB) -d ci_app_staging -c 'SELECT count(*) FROM t'").stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "2000")
        try FileManager.default.moveItem(atPath: pr.root + "/plans-away", toPath: pr.root + "/plans")
        // The PR's working copy now plans nothing: the state is shared.
        #expect(try pr.runShell("./ci.sh plan").code == 0)
        #expect(try #require(pr.read("plan.md")).contains("No changes"), "\(pr.read("plan.md") ?? "")")

        // Without the PR's saved plan the merge job applies nothing (it never plans afresh).
        try FileManager.default.removeItem(atPath: merge.root + "/ferry.plan")
        let unreviewed = try merge.runShell("./ci.sh apply")
        #expect(unreviewed.code == 1 && unreviewed.all.contains("no saved plan"), "\(unreviewed.all)")

        // Production changes; two applies of the reviewed plan at once. The first holds the lock
        // (stopped after its begin record).
        #expect(try pr.runShell("\(onB) -d ci_app -c \"INSERT INTO t VALUES (5000, 'new')\" -c 'VACUUM ANALYZE t'").code == 0)
        #expect(try pr.runShell("./ci.sh plan").code == 0)
        try FileManager.default.copyItem(atPath: pr.root + "/ferry.plan", toPath: merge.root + "/ferry.plan")
        pr.environment["FERRY_TEST_STOP_AT"] = "after-begin"
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/bash")
        holder.arguments = [pr.root + "/ci.sh", "apply"]
        holder.environment = pr.environment
        holder.standardOutput = FileHandle.nullDevice
        holder.standardError = FileHandle.nullDevice
        try holder.run()
        pr.environment["FERRY_TEST_STOP_AT"] = nil
        defer { if holder.isRunning { kill(holder.processIdentifier, SIGKILL) } }
        var holderPID: Int32?
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, holderPID == nil {
            if let text = try? helper.psql(pr, "SELECT pid FROM \(schema).lock;"), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
               LockTimeoutTests.isStopped(pid) { holderPID = pid }
            else { Thread.sleep(forTimeInterval: 0.05) }
        }
        let pid = try #require(holderPID, "the first apply should stop holding the lock")
        merge.environment["FERRY_LOCK_TIMEOUT"] = "1s"
        let loser = try merge.runShell("./ci.sh apply")
        #expect(loser.code == 1, "\(loser.all)")
        let lost = try lines(try #require(merge.read("apply.jsonl")))
        let outcome = try #require(lost.last)
        #expect(outcome["outcome"] as? String == "refused" && outcome["exitCode"] as? Int == 1, "\(outcome)")
        let text = String(data: try JSONSerialization.data(withJSONObject: lost), encoding: .utf8) ?? ""
        #expect(text.contains("StateLocked") && text.contains("pid \(pid)"), "\(text)")
        kill(pid, SIGCONT)
        holder.waitUntilExit()
        #expect(holder.terminationStatus == 0)
        #expect(try merge.runShell("\(onB) -d ci_app_staging -c 'SELECT count(*) FROM t'").stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "2001")
        #expect(try merge.runShell("./ci.sh plan").code == 0)
        #expect(try #require(merge.read("plan.md")).contains("No changes"))
        // The losing copy's saved plan was made before the holder's run: it is stale now.
        try FileManager.default.copyItem(atPath: pr.root + "/ferry.plan", toPath: merge.root + "/stale.plan")
        merge.environment["FERRY_PLAN_FILE"] = "stale.plan"
        let stale = try merge.runShell("./ci.sh apply")
        #expect(stale.code == 1 && (merge.read("apply.jsonl") ?? "").contains("PlanStale"), "\(stale.all)")
        _ = try? merge.runShell("\(onB) -d postgres -c 'DROP DATABASE IF EXISTS ci_app WITH (FORCE)' -c 'DROP DATABASE IF EXISTS ci_app_staging WITH (FORCE)'")
    }
}
