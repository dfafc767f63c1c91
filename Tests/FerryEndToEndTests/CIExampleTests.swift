import Foundation
import Testing

/// `examples/ci/` run as its workflow runs it, so that it cannot rot: `ci.sh plan` in one working
/// copy (Markdown plan and a saved plan), `ci.sh apply` of that saved plan in another (JSON Lines),
/// both on one state on PostgreSQL test cluster A, copying `ci_app` to `ci_app_staging` on
/// cluster B (the state is kept off the managed server, as the example's README says);
/// then two applies at once: the one that meets the lock waits `FERRY_LOCK_TIMEOUT` and gives up
/// with `StateLocked` naming the holder, the holder commits.
@Suite(.serialized) struct CIExampleTests {
    /// A shell command (ending in `&& `) that drops the checkpoints earlier runs of these tests
    /// kept beside `ci_app_staging`: each test drops its state schema, so no later state keeps
    /// them, and every plan would name them beside its change (a warning, SPEC §6).
    static func dropKeptCheckpoints(_ onB: String) -> String {
        "echo \"SELECT format('DROP DATABASE %I WITH (FORCE)', datname) FROM pg_database WHERE datname LIKE 'ci_app_staging__ferry_c_%' \\gexec\" | \(onB) -d postgres && "
    }

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
        // The core steps read no CI service's variables: none leaks in from the machine running the tests.
        for name in project.environment.keys where name.hasPrefix("GITHUB_") || name.hasPrefix("CI_") && env[name] == nil || name == "GITLAB_CI" && env[name] == nil {
            project.environment[name] = nil
        }
        return project
    }

    /// A stand-in for the two GitLab API endpoints `ci.sh fetch` calls (Python's http.server):
    /// the merge requests of commit `sha` (with `PRIVATE-TOKEN: token` only; merge request `iid`,
    /// merged, with a milestone whose iid differs), and the raw `examples/ci/ferry.plan` artifact of
    /// job `ferry-plan` on `refs/merge-requests/IID/head` (with `JOB-TOKEN: job` only), served
    /// from `artifacts/IID/ferry.plan` under `project`. Writes its port to `api.port`.
    func startGitLabAPI(_ project: Project, sha: String, iid: Int, token: String, job: String) throws -> (Process, Int) {
        try project.write("gitlab_api.py", """
            import http.server, json, os, sys
            SHA, IID, TOKEN, JOB = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
            class Handler(http.server.BaseHTTPRequestHandler):
                def log_message(self, *args):
                    with open("api.log", "a") as log:
                        log.write(self.path + "\\n")
                def reply(self, code, body, kind="application/json"):
                    self.send_response(code)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                def do_GET(self):
                    commits = "/api/v4/projects/42/repository/commits/%s/merge_requests" % SHA
                    if self.path == commits:
                        if self.headers.get("PRIVATE-TOKEN") != TOKEN:
                            return self.reply(401, b'{"message":"401 Unauthorized"}')
                        return self.reply(200, json.dumps([{"iid": IID, "state": "merged", "milestone": {"iid": 99}}]).encode())
                    prefix = "/api/v4/projects/42/jobs/artifacts/refs%2Fmerge-requests%2F"
                    suffix = "%2Fhead/raw/examples/ci/ferry.plan?job=ferry-plan"
                    if self.path.startswith(prefix) and self.path.endswith(suffix):
                        if self.headers.get("JOB-TOKEN") != JOB:
                            return self.reply(401, b'{"message":"401 Unauthorized"}')
                        path = os.path.join("artifacts", self.path[len(prefix):-len(suffix)], "ferry.plan")
                        if os.path.isfile(path):
                            with open(path, "rb") as f:
                                return self.reply(200, f.read(), "application/octet-stream")
                    self.reply(404, b'{"message":"404 Not Found"}')
            server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
            with open("api.port.tmp", "w") as f:
                f.write(str(server.server_port))
            os.rename("api.port.tmp", "api.port")
            server.serve_forever()

            """)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", project.root + "/gitlab_api.py", sha, String(iid), token, job]
        process.currentDirectoryURL = URL(fileURLWithPath: project.root)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, process.isRunning, project.read("api.port") == nil { Thread.sleep(forTimeInterval: 0.05) }
        let port = try #require(project.read("api.port").flatMap { Int($0) }, "the GitLab API stand-in did not start")
        return (process, port)
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
        #expect(try pr.runShell("\(Self.dropKeptCheckpoints(onB))\(onB) -d postgres -c 'DROP DATABASE IF EXISTS ci_app WITH (FORCE)' -c 'DROP DATABASE IF EXISTS ci_app_staging WITH (FORCE)' -c 'CREATE DATABASE ci_app'").code == 0)
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
        defer { if holder.isRunning { holder.signal(SIGKILL) } }
        var holderPID: Int32?
        // Generous: under two full test runs at once on two cores a plan-and-lock took over a
        // minute once (CI, 2026-12-01); a holder that ends instead says why in its apply.jsonl.
        let deadline = Date().addingTimeInterval(240)
        while Date() < deadline, holderPID == nil, holder.isRunning {
            if let text = try? helper.psql(pr, "SELECT pid FROM \(schema).lock;"), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
               LockTimeoutTests.isStopped(pid) { holderPID = pid }
            else { Thread.sleep(forTimeInterval: 0.05) }
        }
        let pid = try #require(holderPID, "the first apply should stop holding the lock (running: \(holder.isRunning), its apply.jsonl: \(pr.read("apply.jsonl") ?? "none"))")
        merge.environment["FERRY_LOCK_TIMEOUT"] = "1s"
        let loser = try merge.runShell("./ci.sh apply")
        #expect(loser.code == 1, "\(loser.all)")
        let lost = try lines(try #require(merge.read("apply.jsonl")))
        let outcome = try #require(lost.last)
        #expect(outcome["outcome"] as? String == "refused" && outcome["exitCode"] as? Int == 1, "\(outcome)")
        let text = String(data: try JSONSerialization.data(withJSONObject: lost), encoding: .utf8) ?? ""
        #expect(text.contains("StateLocked") && text.contains("pid \(pid)"), "\(text)")
        if holder.isRunning { kill(pid, SIGCONT) }   // its ferry: never a pid taken since
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
        _ = try? merge.runShell("\(Self.dropKeptCheckpoints(onB))\(onB) -d postgres -c 'DROP DATABASE IF EXISTS ci_app WITH (FORCE)' -c 'DROP DATABASE IF EXISTS ci_app_staging WITH (FORCE)'")
    }

    /// The same flow on GitLab CI (`.gitlab-ci.yml`): `ci.sh plan` in a merge request pipeline,
    /// then in the merge commit's pipeline `ci.sh fetch` finds the merge request (through the API
    /// with a token, or from the merge commit's message) and downloads its `ferry-plan` artifact,
    /// and `ci.sh apply` applies it. No merge request, or one without an artifact: nothing applies.
    @Test func onGitLabTheMergeFetchesTheMergeRequestsSavedPlanAndAppliesIt() throws {
        let env = ProcessInfo.processInfo.environment
        let a = try #require(env["FERRY_TEST_PG_A"], "run scripts/test.sh"), b = try #require(env["FERRY_TEST_PG_B"])
        let password = try #require(env["FERRY_TEST_PG_PASSWORD"])
        let schema = "cigl_" + UUID().uuidString.prefix(8).lowercased()
        let sha = "0123456789abcdef0123456789abcdef01234567"
        let ciEnv = ["FERRY": Project.binary, "FERRY_STATE": a + "?schema=\(schema)", "PGPASSWORD": password,
                     "CI_PG_SOURCE_URL": b, "CI_PG_TARGET_URL": b, "CI_PG_PASSWORD": password,
                     "GITLAB_CI": "true", "CI_PROJECT_ID": "42", "CI_JOB_TOKEN": "job-secret-1"]
        let mr = try checkout(ciEnv.merging(["CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_IID": "7",
                                             "CI_COMMIT_SHA": "fedcba9876543210fedcba9876543210fedcba98"]) { $1 })
        let merge = try checkout(ciEnv.merging(["CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main",
                                                "CI_COMMIT_SHA": sha]) { $1 })
        #expect(!mr.environment.keys.contains { $0.hasPrefix("GITHUB_") })
        let helper = PostgresStateCLITests()
        let onB = "PGPASSWORD=\"$FERRY_TEST_PG_PASSWORD\" psql -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p \(URLComponents(string: b)?.port ?? 5432) -U ferry"
        #expect(try mr.runShell("\(Self.dropKeptCheckpoints(onB))\(onB) -d postgres -c 'DROP DATABASE IF EXISTS ci_app WITH (FORCE)' -c 'DROP DATABASE IF EXISTS ci_app_staging WITH (FORCE)' -c 'CREATE DATABASE ci_app'").code == 0)
        #expect(try mr.runShell("\(onB) -d ci_app -c \"CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 500) g\" -c 'VACUUM ANALYZE t'").code == 0)
        defer {
            _ = try? helper.psql(mr, "DROP SCHEMA IF EXISTS \(schema) CASCADE;")
            _ = try? mr.runShell("\(Self.dropKeptCheckpoints(onB))\(onB) -d postgres -c 'DROP DATABASE IF EXISTS ci_app WITH (FORCE)' -c 'DROP DATABASE IF EXISTS ci_app_staging WITH (FORCE)'")
        }

        // The merge request pipeline: plan, saved as the ferry-plan job's artifact.
        let plan = try mr.runShell("./ci.sh plan")
        #expect(plan.code == 0 && (mr.read("plan.md") ?? "").contains("**Plan: 1 to create"), "\(plan.all)")
        let (api, port) = try startGitLabAPI(merge, sha: sha, iid: 7, token: "glpat-secret-2", job: "job-secret-1")
        defer { api.signal(SIGKILL) }
        try FileManager.default.createDirectory(atPath: merge.root + "/artifacts/7", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: mr.root + "/ferry.plan", toPath: merge.root + "/artifacts/7/ferry.plan")
        merge.environment["CI_API_V4_URL"] = "http://127.0.0.1:\(port)/api/v4"

        // No token and a commit message naming no merge request: nothing reviewed, nothing applied.
        merge.environment["CI_COMMIT_MESSAGE"] = "a direct push to main"
        let none = try merge.runShell("./ci.sh fetch")
        #expect(none.code == 1 && none.all.contains("no merge request merged \(sha)") && !merge.exists("ferry.plan"), "\(none.all)")
        let refused = try merge.runShell("./ci.sh apply")
        #expect(refused.code == 1 && refused.all.contains("no saved plan"), "\(refused.all)")
        // A merge request without a plan artifact (its pipeline did not run): nothing applied.
        merge.environment["CI_COMMIT_MESSAGE"] = "Merge branch 'other' into 'main'\n\nSee merge request group/project!8"
        let missing = try merge.runShell("./ci.sh fetch")
        #expect(missing.code == 1 && missing.all.contains("!8 has no saved plan") && !merge.exists("ferry.plan"), "\(missing.all)")
        // A wrong job token does not download it either.
        merge.environment["CI_COMMIT_MESSAGE"] = "Merge branch 'feature' into 'main'\n\nSee merge request group/project!7"
        merge.environment["CI_JOB_TOKEN"] = "wrong"
        #expect(try merge.runShell("./ci.sh fetch").code == 1 && !merge.exists("ferry.plan"))
        merge.environment["CI_JOB_TOKEN"] = "job-secret-1"
        // From the merge commit's message (GitLab's default template), no token.
        let fromMessage = try merge.runShell("./ci.sh fetch")
        #expect(fromMessage.code == 0 && fromMessage.all.contains("merge request !7"), "\(fromMessage.all)")
        #expect(merge.read("ferry.plan") == mr.read("ferry.plan"))
        // Through the API with the token (a squash commit's message names no merge request).
        try FileManager.default.removeItem(atPath: merge.root + "/ferry.plan")
        merge.environment["CI_COMMIT_MESSAGE"] = "Add the staging copy"
        merge.environment["FERRY_GITLAB_TOKEN"] = "glpat-secret-2"
        let fetched = try merge.runShell("./ci.sh fetch")
        #expect(fetched.code == 0 && fetched.all.contains("merge request !7"), "\(fetched.all)")
        #expect(merge.read("ferry.plan") == mr.read("ferry.plan"))
        #expect((merge.read("api.log") ?? "").contains("/repository/commits/\(sha)/merge_requests"), "\(merge.read("api.log") ?? "")")
        for secret in ["glpat-secret-2", "job-secret-1", password] { #expect(!fetched.all.contains(secret)) }

        // The merge request's working copy is gone, as on another runner: the merge applies the artifact.
        try FileManager.default.removeItem(atPath: mr.root + "/plans")
        let apply = try merge.runShell("./ci.sh apply")
        #expect(apply.code == 0, "\(apply.all)")
        let events = try lines(try #require(merge.read("apply.jsonl")))
        #expect(events.last?["outcome"] as? String == "committed" && events.last?["exitCode"] as? Int == 0, "\(events.last ?? [:])")
        #expect(try merge.runShell("\(onB) -d ci_app_staging -c 'SELECT count(*) FROM t'").stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "500")
        // The same artifact again is stale: a saved plan applies once.
        let again = try merge.runShell("./ci.sh fetch && ./ci.sh apply")
        #expect(again.code == 1 && (merge.read("apply.jsonl") ?? "").contains("PlanStale"), "\(again.all)")
    }
}
