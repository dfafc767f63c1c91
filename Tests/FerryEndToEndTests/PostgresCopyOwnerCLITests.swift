import Foundation
import Testing

/// A PostgreSQL copy's `owner` through the plan: what the copy makes belongs to that ordinary
/// role; a source with code and neither `owner` nor `users: "sync"` is refused with the hint
/// while a superuser is Ferry's user; `owner` where it does not apply is a plan error.
@Suite(.serialized) struct PostgresCopyOwnerCLITests {
    let cli = PostgresCLITests()

    func plan(_ a: PostgresCLITests.Server, _ b: PostgresCLITests.Server, _ tag: String, extra: String) -> String {
        """
        { "ferry": 1, "instances": { \(cli.instances(a, b)) },
          "copies": { "app": { "from": "src", "to": "dst", "databases": { "\(tag)": "\(tag)_copy" }, "onExisting": "replace"\(extra) } } }
        """
    }

    @Test func ownerOwnsWhatTheCopyMakesAndCodeWithoutOneIsRefused() throws {
        let project = try Project()
        let a = try cli.server("FERRY_TEST_PG_A"), b = try cli.server("FERRY_TEST_PG_B")
        let tag = "po" + UUID().uuidString.prefix(6).lowercased()
        try cli.sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\";")
        try cli.sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)_copy\" WITH (FORCE);")
        defer {
            _ = try? cli.sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
            _ = try? cli.sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)_copy\" WITH (FORCE);")
        }
        try cli.sql(project, a, tag, """
            CREATE TABLE t (v int); INSERT INTO t SELECT generate_series(1, 100);
            CREATE FUNCTION answer() RETURNS int LANGUAGE sql SECURITY DEFINER AS $$ SELECT 42 $$;
            CREATE VIEW big AS SELECT v FROM t WHERE v > 50;
            """)

        // Refused at plan time, before any change (fresh tester round 71, F4: only the build
        // refused it, exit 3 after a rollback), by `plan` and by `apply` alike; the build's own
        // check stays behind it (`PostgresCopyLoadRoleTests`).
        try project.write("plans/main.json", plan(a, b, tag, extra: ""))
        let planned = try project.run("plan")
        #expect(planned.code == 1 && planned.all.contains("error[CopyError]"), "\(planned.all)")
        #expect(planned.all.contains("src/\(tag) holds 2 routine(s), view(s) or rule(s)") && planned.all.contains("\"owner\""), "\(planned.all)")
        let refused = try project.run("apply", "--auto-approve")
        #expect(refused.code == 1, "\(refused.all)")
        #expect(refused.all.contains("routine(s), view(s) or rule(s)") && refused.all.contains("\"owner\""), "\(refused.all)")
        #expect(!refused.all.contains("Rolling back") && !refused.all.contains("rolled back"), "nothing began: \(refused.all)")
        #expect(try cli.databases(project, b, like: "\(tag)%") == "", "nothing is left on the target")

        // An owner with server-level rights, a predefined role, or one the target lacks: each
        // refused at plan time, naming it.
        for (owner, words) in [("ferry", "has server-level rights"), ("pg_read_all_data", "is one of PostgreSQL's predefined roles"),
                               ("ferry_nobody_\(tag)", "is not a role of dst")] {
            try project.write("plans/main.json", plan(a, b, tag, extra: ", \"owner\": \"\(owner)\""))
            let bad = try project.run("plan")
            #expect(bad.code == 1 && bad.all.contains("error[CopyError]") && bad.all.contains("the copy's owner \(owner) \(words)"), "\(owner): \(bad.all)")
        }
        // A source with no code copies with a superuser as Ferry's user and no owner: the
        // check counts routines, views and rules, not tables.
        let plain = tag + "_plain"
        try cli.sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(plain)\" WITH (FORCE); CREATE DATABASE \"\(plain)\";")
        defer { _ = try? cli.sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(plain)\" WITH (FORCE);") }
        try cli.sql(project, a, plain, "CREATE TABLE t (v int); INSERT INTO t VALUES (1);")
        try project.write("plans/main.json", plan(a, b, plain, extra: ""))
        let fine = try project.run("plan")
        #expect(fine.code == 0 && !fine.all.contains("routine(s)"), "\(fine.all)")

        try project.write("plans/main.json", plan(a, b, tag, extra: ", \"owner\": \"ferry_plain\""))
        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        #expect(try cli.sql(project, b, "\(tag)_copy", "SELECT proowner::regrole FROM pg_proc WHERE proname = 'answer'; SELECT relowner::regrole FROM pg_class WHERE relname IN ('t', 'big') ORDER BY relname;")
                == "ferry_plain\nferry_plain\nferry_plain\n")
        #expect(try cli.sql(project, b, "\(tag)_copy", "SELECT answer(), count(*) FROM big;") == "42|50\n")
        #expect(try project.run("plan").stdout.contains("No changes"))

        try project.write("plans/main.json", plan(a, b, tag, extra: ", \"owner\": \"ferry_plain\", \"users\": \"sync\""))
        let both = try project.run("validate")
        #expect(both.code == 1 && both.all.contains("takes no owner"), "\(both.all)")
    }
}
