import Foundation
import Testing
@testable import FerryCore

/// The plan files' `"state"` block (SPEC §2 "The state block"): a shared state chosen in the plan,
/// its password by reference only, one state for all the files.
@Suite struct StateBlockLoaderTests {
    func plan(state: String) -> String {
        """
        {
          "ferry": 1,
          "state": \(state),
          "instances": { "dev": { "engine": "sqlite", "path": "../var/dev" } }
        }
        """
    }

    @Test func aBlockWithItsPasswordByReferenceLoadsWithNoSecretInIt() throws {
        let result = loadPlan(plan(state: #"{ "backend": "postgres", "url": "postgres://ferry@db:5432/postgres?sslmode=disable", "password": { "env": "STATE_PW" } }"#),
                              environment: ["STATE_PW": "s3cret-value"])
        #expect(!result.hasErrors, "\(result.diagnostics)")
        let state = try #require(result.plan.state)
        #expect(state.backend == "postgres" && state.url == "postgres://ferry@db:5432/postgres?sslmode=disable")
        #expect(state.password == .env("STATE_PW") && state.schema == nil)
        #expect(state.location?.line == 3)
        let encoded = String(decoding: try JSONEncoder().encode(state), as: UTF8.self)
        #expect(!encoded.contains("s3cret-value"))
    }

    @Test(arguments: ["${env:STATE_PW}", "${env:OTHER_PW}"])
    func aPasswordWrittenAsAVariableInTheURLIsTakenOutOfIt(_ reference: String) throws {
        let result = loadPlan(plan(state: #"{ "backend": "postgres", "url": "postgresql://ferry:\#(reference)@${env:STATE_HOST}/db", "schema": "team_a" }"#),
                              environment: ["STATE_PW": "pa@ss/word", "OTHER_PW": "x", "STATE_HOST": "db.internal:6543"])
        #expect(!result.hasErrors, "\(result.diagnostics)")
        let state = try #require(result.plan.state)
        #expect(state.url == "postgresql://ferry@db.internal:6543/db", "\(state.url)")
        #expect(state.password == .env(String(reference.dropFirst(6).dropLast())))
        #expect(state.schema == "team_a")
    }

    @Test(arguments: [
        #""url": "postgres://ferry:hunter2@db/postgres""#,
        #""url": "postgres://ferry:hunter2${env:X}@db/postgres""#,
        #""url": "postgres://db/postgres", "password": "hunter2""#,
    ])
    func aLiteralPasswordIsRefusedAtItsPlace(_ fields: String) throws {
        let result = loadPlan(plan(state: #"{ "backend": "postgres", \#(fields) }"#), environment: ["X": "y"])
        let diagnostic = try single(result, .literalPassword)
        #expect(diagnostic.location?.file.hasSuffix("test.json") == true && diagnostic.location?.line == 3)
        #expect(!diagnostic.description.contains("hunter2"))
        #expect(result.plan.state == nil)
    }

    @Test(arguments: ["pg_catalog", "information_schema", "pg_toast", "pg_temp_3", "pg_anything", "Ferry", "9lives", ""])
    func aSchemaOfPostgresOwnOrNotAnIdentifierIsRefused(_ schema: String) throws {
        let field = loadPlan(plan(state: #"{ "backend": "postgres", "url": "postgres://ferry@db/postgres", "schema": "\#(schema)" }"#))
        #expect(try single(field, .invalidParameter).location?.jsonPath == "state.schema")
        let query = loadPlan(plan(state: #"{ "backend": "postgres", "url": "postgres://ferry@db/postgres?schema=\#(schema)" }"#))
        #expect(try single(query, .invalidParameter).location?.jsonPath == "state.url")
        #expect(field.plan.state == nil && query.plan.state == nil)
    }

    @Test func ordinarySchemasWhoseNamesMerelyMentionPgAreFine() {
        for schema in ["ferry", "pgstate", "team_pg_", "_pg_x", "information_schema2"] {
            let result = loadPlan(plan(state: #"{ "backend": "postgres", "url": "postgres://ferry@db/postgres", "schema": "\#(schema)" }"#))
            #expect(!result.hasErrors, "\(schema): \(result.diagnostics)")
            #expect(StateSpec.schemaProblem(schema) == nil)
        }
    }

    @Test(arguments: [
        (#"{ "backend": "mysql", "url": "postgres://ferry@db/postgres" }"#, ErrorCode.type),
        (#"{ "url": "postgres://ferry@db/postgres" }"#, .invalidParameter),
        (#"{ "backend": "postgres" }"#, .invalidParameter),
        (#"{ "backend": "postgres", "url": "mysql://ferry@db" }"#, .invalidParameter),
        (#"{ "backend": "postgres", "url": "postgres://ferry@db/postgres?pooling=1" }"#, .invalidParameter),
        (#"{ "backend": "postgres", "url": "postgres://ferry@db/postgres?schema=a", "schema": "b" }"#, .invalidParameter),
        (#"{ "backend": "postgres", "url": "postgres://ferry:${env:X}@db/postgres", "password": { "env": "Y" } }"#, .invalidParameter),
        (#"{ "backend": "postgres", "url": "postgres://ferry@db/postgres", "lock": true }"#, .unknownField),
        (#""postgres://ferry@db/postgres""#, .type),
    ])
    func aBadBlockIsAnErrorAtItsPlace(_ block: String, _ code: ErrorCode) throws {
        let result = loadPlan(plan(state: block), environment: ["X": "1", "Y": "2"])
        let diagnostic = try single(result, code)
        #expect(diagnostic.location?.jsonPath.hasPrefix("state") == true, "\(diagnostic)")
        #expect(result.plan.state == nil)
    }

    @Test func twoFilesWithTheSameBlockAgreeAndADifferentOneIsAnErrorNamingTheFirst() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let block = #"{ "backend": "postgres", "url": "postgres://ferry@db/postgres", "password": { "env": "PW" } }"#
        try directory.write("plans/a.json", #"{ "ferry": 1, "state": \#(block) }"#)
        try directory.write("plans/b.json", #"{ "ferry": 1, "state": \#(block) }"#)
        let same = PlanLoader(environment: [:], root: directory.path).load(path: directory.path + "/plans")
        #expect(!same.hasErrors, "\(same.diagnostics)")
        #expect(same.plan.state?.url == "postgres://ferry@db/postgres")
        for other in [#"{ "backend": "postgres", "url": "postgres://ferry@db/postgres", "password": { "env": "PW" }, "schema": "other" }"#,
                      #"{ "backend": "postgres", "url": "postgres://ferry@db2/postgres", "password": { "env": "PW" } }"#,
                      #"{ "backend": "postgres", "url": "postgres://ferry@db/postgres" }"#] {
            try directory.write("plans/c.json", "{\n  \"ferry\": 1,\n  \"state\": \(other)\n}")
            for result in [PlanLoader(environment: [:], root: directory.path).load(path: directory.path + "/plans"),
                           PlanLoader(environment: [:], root: directory.path).loadState(path: directory.path + "/plans")] {
                let diagnostic = try single(result, .duplicateName)
                #expect(diagnostic.location?.file.hasSuffix("plans/c.json") == true && diagnostic.location?.line == 3, "\(diagnostic)")
                #expect(diagnostic.message.contains("a.json:1:"), "\(diagnostic.message)")
            }
        }
    }

    /// What commands that do not plan read: the block alone, whatever else the files hold; a
    /// file that cannot be parsed is an error (its block cannot be known).
    @Test func loadingTheStateAloneIgnoresTheRestAndReportsASyntaxError() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("plans/a.json", #"{ "ferry": 1, "state": { "backend": "postgres", "url": "postgres://ferry@db/postgres" }, "imports": { "x": { "into": "nowhere" } } }"#)
        let alone = PlanLoader(environment: [:], root: directory.path).loadState(path: directory.path + "/plans")
        #expect(!alone.hasErrors, "\(alone.diagnostics)")
        #expect(alone.plan.state?.url == "postgres://ferry@db/postgres")
        #expect(PlanLoader(environment: [:], root: directory.path).load(path: directory.path + "/plans").hasErrors)
        try directory.write("plans/b.json", #"{ "ferry": 1, "state": "#)
        let broken = PlanLoader(environment: [:], root: directory.path).loadState(path: directory.path + "/plans")
        #expect(try single(broken, .syntax).location?.file.hasSuffix("b.json") == true)
        let none = PlanLoader(environment: [:], root: directory.path).loadState(path: directory.path + "/plans/a.json")
        #expect(none.plan.state != nil)
    }
}
