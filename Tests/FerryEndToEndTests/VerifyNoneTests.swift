import Foundation
import Testing

/// Fresh tester w12 F13: a copy with `"verify": "none"` compares nothing with its source, so its
/// verify step reads as skipped in the plan, the graph, the apply output and `ferry status`,
/// never as a verify that passed (a check mark); `checksum` keeps its tick.
@Suite(.serialized) struct VerifyNoneTests {
    func plan(verify: String) -> String {
        """
        { "ferry": 1,
          "instances": { "a": { "engine": "sqlite", "path": "../var/a" }, "b": { "engine": "sqlite", "path": "../var/b" } },
          "copies": { "c": { "from": "a", "to": "b", "databases": ["app"], "verify": "\(verify)", "onExisting": "replace" } } }
        """
    }

    @Test func aVerifyOfNoneReadsAsSkippedNeverAsATick() throws {
        let project = try Project()
        try FileManager.default.createDirectory(atPath: project.root + "/var/a", withIntermediateDirectories: true)
        try WrittenDuringRunTests().exec(project, "var/a/app.db", "CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        try project.write("plans/main.json", plan(verify: "none"))
        let planned = try project.run("plan")
        #expect(planned.code == 0 && planned.stdout.contains("verify b/app: skipped (verify: none)"), "\(planned.all)")
        let graph = try project.run("graph")
        #expect(graph.stdout.contains("verify b/app: skipped (verify: none)"), "\(graph.all)")
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        let line = try #require(applied.stdout.split(separator: "\n").last { $0.contains("verify b/app") }, "\(applied.all)")
        #expect(line.contains("–") && line.contains("skipped (verify: none)") && !line.contains("✓"), "\(line)")
        #expect(try project.query("var/b/app.db", "SELECT x FROM t") == [["1"]])
        let status = try project.run("status")
        #expect(status.stdout.contains("verify b/app: skipped (verify: none)"), "\(status.all)")
        // With a verify level the step is a verify that passed, with its tick.
        try project.write("plans/main.json", plan(verify: "checksum"))
        let checked = try project.run("apply", "--auto-approve", "--replace", "copy.c")
        #expect(checked.code == 0, "\(checked.all)")
        let tick = try #require(checked.stdout.split(separator: "\n").last { $0.contains("verify b/app") }, "\(checked.all)")
        #expect(tick.contains("✓") && !tick.contains("skipped"), "\(tick)")
    }
}
