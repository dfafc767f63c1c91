import Foundation
import Testing

/// The fresh tester's F4 (round 26) through the plan: a copy of a LATIN1 / C database into a
/// missing target is a LATIN1 / C database (it was UTF8 / C.UTF-8, the target server's
/// defaults), whose bytes a client reading in the database's encoding gets as from the source;
/// a replace of a UTF8 target says in the plan that the copy changes its encoding and locale.
@Suite(.serialized) struct PostgresCopyLocaleCLITests {
    let cli = PostgresCLITests()

    func plan(_ a: PostgresCLITests.Server, _ b: PostgresCLITests.Server, _ tag: String) -> String {
        """
        { "ferry": 1, "instances": { \(cli.instances(a, b)) },
          "copies": { "cl": { "from": "src", "to": "dst", "databases": { "\(tag)": "\(tag)_app" }, "onExisting": "replace" } } }
        """
    }

    func row(_ project: Project, _ server: PostgresCLITests.Server, _ database: String) throws -> String {
        try cli.sql(project, server, "postgres", "SELECT pg_encoding_to_char(encoding), datcollate, datctype, datlocprovider FROM pg_database WHERE datname = '\(database)';")
    }

    func bytes(_ project: Project, _ server: PostgresCLITests.Server, _ database: String) throws -> String {
        try cli.sql(project, server, database, "SET client_encoding = 'UTF8'; SELECT id, encode(convert_to(v, getdatabaseencoding()), 'hex') FROM tl ORDER BY id; SELECT string_agg(v, '|' ORDER BY v) FROM tl;")
    }

    @Test func aLatin1CopyIsLatin1AndAReplaceOfAUTF8TargetSaysSo() throws {
        let project = try Project()
        let a = try cli.server("FERRY_TEST_PG_A"), b = try cli.server("FERRY_TEST_PG_B")
        let tag = "pl" + UUID().uuidString.prefix(6).lowercased()
        try cli.sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE); CREATE DATABASE \"\(tag)\" ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;")
        try cli.sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)_app\" WITH (FORCE);")
        defer {
            _ = try? cli.sql(project, a, "postgres", "DROP DATABASE IF EXISTS \"\(tag)\" WITH (FORCE);")
            _ = try? cli.sql(project, b, "postgres", "DROP DATABASE IF EXISTS \"\(tag)_app\" WITH (FORCE);")
        }
        try cli.sql(project, a, tag, "SET client_encoding = 'UTF8'; CREATE TABLE tl (id int, v text); INSERT INTO tl VALUES (1, 'café'), (2, 'Ärger'), (3, 'zoo');")
        try project.write("plans/main.json", plan(a, b, tag))

        let apply = try project.run("apply", "--auto-approve")
        #expect(apply.code == 0, "\(apply.all)")
        #expect(try row(project, b, "\(tag)_app") == "LATIN1|C|C|c\n")
        #expect(try row(project, b, "\(tag)_app") == row(project, a, tag))
        #expect(try bytes(project, b, "\(tag)_app") == bytes(project, a, tag))
        #expect(try bytes(project, b, "\(tag)_app").contains("1|636166e9"), "café in LATIN1 bytes")

        // The target made again as UTF8 / C.UTF-8 by someone, the source changed: the replace
        // says what it changes, and makes it LATIN1 / C again.
        try cli.sql(project, b, "postgres", "DROP DATABASE \"\(tag)_app\" WITH (FORCE); CREATE DATABASE \"\(tag)_app\" ENCODING 'UTF8' LOCALE 'C.UTF-8' TEMPLATE template0;")
        try cli.sql(project, a, tag, "SET client_encoding = 'UTF8'; INSERT INTO tl VALUES (4, 'Zürich');")
        let planned = try project.run("plan")
        #expect(planned.all.contains("dst/\(tag)_app is UTF8, LC_COLLATE C.UTF-8, LC_CTYPE C.UTF-8; the copy replaces it with one of LATIN1, LC_COLLATE C, LC_CTYPE C, as src/\(tag) is"), "\(planned.all)")
        let again = try project.run("apply", "--auto-approve")
        #expect(again.code == 0, "\(again.all)")
        #expect(try row(project, b, "\(tag)_app") == "LATIN1|C|C|c\n")
        #expect(try bytes(project, b, "\(tag)_app") == bytes(project, a, tag))
        #expect(try project.run("plan").stdout.contains("No changes"))
    }
}
