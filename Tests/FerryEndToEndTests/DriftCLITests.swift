import CSQLite
import Foundation
import Testing

/// `ferry plan --refresh-only` and `--exclude` from the command line (issue 20, points 4 and 5).
@Suite struct DriftCLITests {
    func execute(_ project: Project, _ path: String, _ sql: String) throws {
        var db: OpaquePointer?
        defer { sqlite3_close(db) }
        guard sqlite3_open(project.root + "/" + path, &db) == SQLITE_OK,
              sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else {
            throw Project.QueryError(message: "cannot run \(sql) on \(path)")
        }
    }

    @Test func refreshOnlyReportsDriftAndChangesNothing() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        #expect(try project.run("apply", "--auto-approve").code == 0)
        let clean = try project.run("plan", "--refresh-only", "--detailed-exitcode")
        #expect(clean.code == 0, "\(clean.all)")
        #expect(clean.stdout.contains("No drift: the instances are as the state recorded them (2 resources checked)."))

        // A row added by hand to the copy's target, and the import's source edited.
        try execute(project, "var/b/app_copy.db", "INSERT INTO users VALUES (99, 'by hand')")
        try project.write("plans/data/seed.sql", seedSQL + "INSERT INTO users VALUES (4, 'new');\n")
        let stateBefore = project.fileBytes(".ferry/state.json")
        let drifted = try project.run("plan", "--refresh-only", "--detailed-exitcode")
        #expect(drifted.code == 2, "\(drifted.all)")
        #expect(drifted.stdout.contains("Drift: 2 changes outside Ferry"))
        #expect(drifted.stdout.contains("copy.to-b: target b/app_copy changed outside Ferry"))
        #expect(drifted.stdout.contains("import.seed: source data/seed.sql changed since it was imported")
                || drifted.stdout.contains("import.seed: source"), "\(drifted.stdout)")
        #expect(!drifted.stdout.contains("to replace"), "nothing is proposed")
        #expect(try project.run("plan", "--refresh-only").code == 0, "without --detailed-exitcode drift exits 0")
        #expect(project.fileBytes(".ferry/state.json") == stateBefore, "a drift check writes nothing")
        #expect(try project.query("var/b/app_copy.db", "SELECT count(*) FROM users") == [["4"]])

        let json = try project.run("plan", "--refresh-only", "--format", "json")
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["formatVersion"] as? Int == 1)
        let kinds = (object?["findings"] as? [[String: Any]])?.compactMap { $0["kind"] as? String } ?? []
        #expect(Set(kinds) == ["targetChanged", "sourceChanged"])
        #expect(try project.run("plan", "--refresh-only", "--format", "markdown").stdout.contains("### Ferry drift check"))
        // Excluding the copy leaves its drift out.
        let excluded = try project.run("plan", "--refresh-only", "--exclude", "copy.to-b", "--detailed-exitcode")
        #expect(excluded.code == 2 && !excluded.stdout.contains("copy.to-b"))
        // A saved plan cannot come from a drift check.
        #expect(try project.run("plan", "--refresh-only", "--out", "x.plan").code == 1)

        // The copy's SQLite source changed by hand (its fingerprints hold a `:`, which once made
        // the check take the source for a backup set's and say nothing).
        try execute(project, "var/a/app.db", "INSERT INTO users VALUES (98, 'source by hand')")
        let source = try project.run("plan", "--refresh-only", "--target", "copy.to-b", "--detailed-exitcode")
        #expect(source.code == 2 && source.stdout.contains("copy.to-b: source a/app changed since it was copied"), "\(source.all)")

        // The target database deleted by hand.
        try FileManager.default.removeItem(atPath: project.root + "/var/b/app_copy.db")
        let vanished = try project.run("plan", "--refresh-only", "--target", "copy.to-b", "--detailed-exitcode")
        #expect(vanished.code == 2 && vanished.stdout.contains("target b/app_copy no longer exists"), "\(vanished.all)")
    }

    @Test func excludeLeavesOutAResourceAndWhatDependsOnIt() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        // The copy reads what the import writes: excluding the import excludes the copy too.
        let plan = try project.run("plan", "--exclude", "import.seed")
        #expect(plan.code == 0 && plan.stdout.contains("No changes"), "\(plan.all)")
        let onlyImport = try project.run("apply", "--auto-approve", "--exclude", "copy.to-b")
        #expect(onlyImport.code == 0, "\(onlyImport.all)")
        #expect(project.exists("var/a/app.db") && !project.exists("var/b/app_copy.db"))
        #expect(try project.run("plan", "--exclude", "copy.nope").code == 1)
        #expect(try project.run("plan", "--help").stdout.contains("--exclude ADDR"))
    }
}
