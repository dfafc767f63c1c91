import Foundation
import Testing

/// `ferry apply --format json` writes JSON Lines (issue 20 point 3, SPEC §11 "Streaming
/// output"): every line parses, fits docs/apply-events.schema.json (checked by python's
/// jsonschema, not by Ferry), and the events agree with the run's journal.
@Suite(.serialized) struct ApplyEventsTests {
    typealias Object = [String: Any]

    /// Every line of `stdout` as a JSON object (a line that is not one fails the test).
    func events(_ stdout: String, _ context: String) -> [Object] {
        stdout.split(separator: "\n").compactMap { line in
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? Object
            #expect(object != nil, "\(context): not a JSON object: \(line)")
            #expect(object?["formatVersion"] as? Int == 1, "\(context): \(line)")
            return object
        }
    }

    func journal(_ project: Project, run: String) -> [Object] {
        let text = project.read(".ferry/runs/\(run)/journal.jsonl") ?? ""
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? Object }
    }

    func numbers(_ objects: [Object], type key: String, _ type: String, field: String) -> Set<Int> {
        Set(objects.filter { $0[key] as? String == type }.compactMap { $0[field] as? Int })
    }

    /// Validates each line against the committed schema with python3-jsonschema.
    func validate(_ project: Project, _ stdout: String, _ context: String) throws {
        let python = try #require(try PlanSchemaTests.python(project), "no python3 with jsonschema: run scripts/install-deps.sh")
        try project.write("events.jsonl", stdout)
        let script = """
        import json, sys, jsonschema
        schema = json.load(open(sys.argv[1]))
        for n, line in enumerate(open(sys.argv[2]), 1):
            try: jsonschema.validate(json.loads(line), schema)
            except jsonschema.ValidationError as e: print(f"line {n}: {e.message}"); sys.exit(1)
        print("ok")
        """
        try project.write("validate.py", script)
        let result = try project.runShell("\(python) validate.py \(shellQuoted(repositoryRoot + "/docs/apply-events.schema.json")) events.jsonl")
        #expect(result.code == 0 && result.stdout.contains("ok"), "\(context): \(result.stdout)")
    }

    @Test func aSuccessfulRunIsEveryStepStartedAndFinishedAsTheJournalSays() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        let result = try project.run("apply", "--auto-approve", "--format", "json")
        #expect(result.code == 0, "\(result.all)")
        #expect(result.stderr.contains("Plan: 2 to create"), "the plan and progress text go to stderr")
        try validate(project, result.stdout, "success")
        let all = events(result.stdout, "success")
        #expect(all.first?["type"] as? String == "runStarted")
        let outcome = try #require(all.last)
        #expect(outcome["type"] as? String == "outcome" && outcome["outcome"] as? String == "committed")
        #expect(outcome["exitCode"] as? Int == 0)
        let run = try #require(all.first?["run"] as? String)
        let steps = try #require(all.first?["steps"] as? Int)
        let records = journal(project, run: run)
        let done = numbers(records, type: "event", "stepDone", field: "step")
        #expect(done == Set(1...steps))
        #expect(numbers(all, type: "type", "stepStarted", field: "step") == done)
        #expect(numbers(all, type: "type", "stepFinished", field: "step") == done)
        #expect(all.filter { $0["run"] != nil }.allSatisfy { $0["run"] as? String == run })

        let again = try project.run("apply", "--auto-approve", "--format", "json")
        let nothing = events(again.stdout, "nothing to do")
        #expect(again.code == 0 && nothing.count == 1 && nothing[0]["outcome"] as? String == "nothingToDo", "\(again.all)")
    }

    @Test func aFailedRunReportsTheFailureAndEachRollbackStepItJournaled() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        #expect(try project.run("apply", "--auto-approve").code == 0)
        try project.write("plans/data/seed.sql", seedSQL + "INSERT INTO users VALUES (7, 'x');\nINSERT INTO nowhere VALUES (1);\n")
        let result = try project.run("apply", "--auto-approve", "--format", "json")
        #expect(result.code == 3, "\(result.all)")
        try validate(project, result.stdout, "failure")
        let all = events(result.stdout, "failure")
        let run = try #require(all.first?["run"] as? String)
        let records = journal(project, run: run)
        #expect(numbers(all, type: "type", "stepFailed", field: "step") == numbers(records, type: "event", "stepFailed", field: "step"))
        #expect(!numbers(all, type: "type", "stepFailed", field: "step").isEmpty)
        #expect(all.contains { $0["type"] as? String == "rollbackStarted" })
        let undone = numbers(records, type: "event", "undone", field: "undoes")
        #expect(!undone.isEmpty)
        #expect(numbers(all, type: "type", "rollbackStep", field: "undoes") == undone)
        let outcome = try #require(all.last)
        #expect(outcome["outcome"] as? String == "rolledBack" && outcome["exitCode"] as? Int == 3)
        let failure = (outcome["failures"] as? [Object])?.first
        #expect(failure?["code"] as? String == "ImportError" && (failure?["message"] as? String)?.contains("nowhere") == true)
    }

    @Test func aPlanThatIsRefusedIsItsDiagnosticsAndAnOutcome() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan(copyOnExisting: "fail"))
        try project.write("plans/data/seed.sql", seedSQL)
        #expect(try project.run("apply", "--auto-approve", "--target", "import.seed").code == 0)
        // The copy's target exists and is not Ferry's: NameConflict, nothing runs.
        try project.write("var/b/app_copy.db", "")
        let result = try project.run("apply", "--auto-approve", "--format", "json")
        #expect(result.code == 1, "\(result.all)")
        try validate(project, result.stdout, "refused")
        let all = events(result.stdout, "refused")
        #expect(all.contains { ($0["diagnostic"] as? Object)?["code"] as? String == "InvalidParameter.NameConflict"
                               || (($0["diagnostic"] as? Object)?["code"] as? String)?.contains("NameConflict") == true })
        #expect(all.last?["outcome"] as? String == "refused" && all.last?["exitCode"] as? Int == 1)
        #expect(!all.contains { $0["type"] as? String == "runStarted" })
    }

    /// A plan that does not even load still gets its diagnostics and an outcome on stdout (a
    /// fresh tester's missing `from` file gave an empty stream).
    @Test func aPlanThatDoesNotLoadIsDiagnosticsAndAnOutcome() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan(importFrom: "data/missing.sql"))
        let result = try project.run("apply", "--auto-approve", "--format", "json")
        #expect(result.code == 1, "\(result.all)")
        try validate(project, result.stdout, "unloadable")
        let all = events(result.stdout, "unloadable")
        #expect(all.contains { $0["type"] as? String == "diagnostic" }, "\(result.stdout)")
        #expect(all.last?["outcome"] as? String == "refused" && all.last?["exitCode"] as? Int == 1, "\(result.stdout)")
        try project.write("plans/main.json", "{ not json")
        let broken = try project.run("apply", "--auto-approve", "--format", "json")
        #expect(broken.code == 1 && events(broken.stdout, "broken").last?["outcome"] as? String == "refused", "\(broken.all)")
    }

    @Test func anInterruptedRunEndsWithAnInterruptedOutcome() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        #expect(try project.run("apply", "--auto-approve").code == 0)
        try project.write("plans/data/seed.sql", InterruptTests.longStatementSeed)
        for name in ["out.jsonl", "err.log"] { FileManager.default.createFile(atPath: project.root + "/" + name, contents: nil) }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: project.root + "/out.jsonl"))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: project.root + "/err.log"))
        let process = try project.start(["apply", "--auto-approve", "--parallelism", "1", "--format", "json"], stdout: out, stderr: err)
        #expect(InterruptTests().waitForShadow(project, process), "the build step never started")
        Thread.sleep(forTimeInterval: 0.3)
        process.signal(SIGINT)
        process.waitUntilExit()
        try out.close(); try err.close()
        #expect(process.terminationStatus == 3, "\(project.read("err.log") ?? "")")
        let stdout = project.read("out.jsonl") ?? ""
        try validate(project, stdout, "interrupted")
        let all = events(stdout, "interrupted")
        let outcome = try #require(all.last)
        #expect(outcome["interrupted"] as? Bool == true && outcome["outcome"] as? String == "rolledBack"
                && outcome["exitCode"] as? Int == 3, "\(stdout)")
        let run = try #require(all.first?["run"] as? String)
        #expect(journal(project, run: run).contains { $0["event"] as? String == "rolledBack" })
        #expect(numbers(all, type: "type", "rollbackStep", field: "undoes")
                == numbers(journal(project, run: run), type: "event", "undone", field: "undoes"))
    }
}
