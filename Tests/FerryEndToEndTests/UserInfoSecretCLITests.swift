import Foundation
import Testing

/// Round-13 S1 and F5 through the real `ferry`: a password with a raw `#`, `?`, `/` or `@` in a
/// whole-URL value (an instance's `${env:...}` url of every engine, `--state`, a source, a backup
/// location) is refused with `InvalidParameter`, naming the field and showing no run of 3 or more
/// of its characters in stdout, stderr or `.ferry`, and nothing is looked up or connected to (a
/// refusal, not `InstanceNotFound`). A percent-encoded password is decoded once by every engine.
@Suite(.serialized) struct UserInfoSecretCLITests {
    /// The tester's passwords and my own variants.
    static let passwords = ["Sec#ret", "Se?cr#et", "P@ss:w0rd#x", "R@:/%#?x9", "Sec@ret/x", "pa/ss@w0rdZ", "a?b@cde", "tok#en"]

    static func pieces(of secret: String) -> [String] {
        let characters = Array(secret)
        return (0...(characters.count - 3)).flatMap { start in (start + 3...characters.count).map { String(characters[start..<$0]) } }
    }

    /// Everything ferry wrote: stdout, stderr and every file under `.ferry`.
    func written(_ project: Project, _ result: Project.Result) -> String {
        var text = result.all
        let state = project.root + "/.ferry"
        if let files = FileManager.default.enumerator(atPath: state) {
            for case let file as String in files {
                if let data = FileManager.default.contents(atPath: state + "/" + file) { text += String(decoding: data, as: UTF8.self) }
            }
        }
        return text
    }

    func expectRefusedWithoutLeak(_ project: Project, _ result: Project.Result, _ password: String, _ what: String,
                                  sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        #expect(result.code != 0 && result.stderr.contains("error[InvalidParameter]") && result.stderr.contains("userinfo"),
                "\(what): \(result.all)", sourceLocation: sourceLocation)
        #expect(!result.all.contains("InstanceNotFound") && !result.all.contains("does not answer"), "\(what): \(result.all)",
                sourceLocation: sourceLocation)
        let text = written(project, result)
        for piece in Self.pieces(of: password) {
            #expect(!text.contains(piece), "\(what): \(piece) of \(password) in \(result.all)", sourceLocation: sourceLocation)
        }
    }

    func instancePlan(_ engine: String, database: String = "app") -> String {
        """
        { "ferry": 1,
          "instances": { "x": { "engine": "\(engine)", "url": "${env:X_URL}" } },
          "imports": { "seed": { "into": "x", "database": "\(database)", "from": "data/seed.sql" } } }
        """
    }

    @Test(arguments: [("redis", "redis"), ("redis", "rediss"), ("mysql", "mysql"), ("mysql", "mariadb"), ("postgres", "postgres"), ("postgres", "postgresql")])
    func aWholeURLVariableOfEveryEngineIsRefusedWithoutAPieceOfThePassword(_ engine: String, _ scheme: String) throws {
        let project = try Project()
        try project.write("plans/main.json", instancePlan(engine))
        try project.write("plans/data/seed.sql", "CREATE TABLE t (a int);\n")
        for password in Self.passwords {
            for url in ["\(scheme)://ru:\(password)@127.0.0.1:1", "\(scheme)://:\(password)@127.0.0.1:1/0"] {
                project.environment["X_URL"] = url
                for command in [["plan"], ["apply", "--auto-approve"], ["validate"]] {
                    let result = try project.run(command)
                    expectRefusedWithoutLeak(project, result, password, "\(command) \(url)")
                }
            }
        }
    }

    @Test func theStateURLIsRefusedWithoutAPieceOfThePasswordAndNotLookedUp() throws {
        let project = try Project()
        try project.write("plans/main.json", #"{ "ferry": 1, "instances": { "d": { "engine": "sqlite", "path": "../var/d" } } }"#)
        for password in Self.passwords {
            for command in [["runs"], ["status"], ["recover"], ["plan"]] {
                let started = Date()
                let result = try project.run(command + ["--state", "postgres://sxp:\(password)@127.0.0.1:1/postgres"])
                expectRefusedWithoutLeak(project, result, password, "\(command) --state")
                #expect(Date().timeIntervalSince(started) < 20)
            }
        }
        // The plan files' state block, its url from a variable.
        try project.write("plans/main.json", #"{ "ferry": 1, "state": { "backend": "postgres", "url": "${env:S_URL}" }, "instances": { "d": { "engine": "sqlite", "path": "../var/d" } } }"#)
        for password in Self.passwords {
            project.environment["S_URL"] = "postgres://sxp:\(password)@127.0.0.1:1/postgres"
            expectRefusedWithoutLeak(project, try project.run("runs"), password, "state block")
        }
    }

    @Test func aSourceOrABackupLocationIsRefusedWithoutAPieceOfThePassword() throws {
        let project = try Project()
        for scheme in ["https", "s3", "gs", "abs", "ftp"] {
            try project.write("plans/main.json", """
                { "ferry": 1, "instances": { "d": { "engine": "sqlite", "path": "../var/d" } },
                  "imports": { "i": { "into": "d", "database": "app", "format": "sql", "from": ["${env:SRC}"] } },
                  "backups": { "b": { "of": "d", "databases": ["app"], "to": "${env:TO}" } } }
                """)
            for password in Self.passwords {
                project.environment["SRC"] = "\(scheme)://AKID:\(password)@127.0.0.1:1/dumps/x.sql"
                project.environment["TO"] = "\(scheme == "https" ? "s3" : scheme)://AKID:\(password)@bucket/sets"
                expectRefusedWithoutLeak(project, try project.run("plan"), password, "\(scheme) source and backup")
            }
        }
    }

    // MARK: F5: percent-escapes decoded once by every engine

    func psql(_ project: Project, _ sql: String) throws {
        let env = ProcessInfo.processInfo.environment
        let base = try #require(env["FERRY_TEST_PG_A"], "FERRY_TEST_PG_A is not set: run scripts/test.sh")
        let parts = try #require(URLComponents(string: base))
        let file = project.root + "/q-\(UUID().uuidString.prefix(6)).sql"
        try sql.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try project.runShell("PGPASSWORD=\"$FERRY_TEST_PG_PASSWORD\" psql -X -q -A -t -v ON_ERROR_STOP=1 -h \(parts.host ?? "127.0.0.1") -p \(parts.port ?? 5432) -U ferry -d postgres -f '\(file)'")
        #expect(result.code == 0, "\(result.all)")
    }

    func mariadb(_ project: Project, _ sql: String) throws {
        let env = ProcessInfo.processInfo.environment
        let base = try #require(env["FERRY_TEST_MYSQL_A"], "FERRY_TEST_MYSQL_A is not set: run scripts/test.sh")
        let parts = try #require(URLComponents(string: base))
        let file = project.root + "/q-\(UUID().uuidString.prefix(6)).sql"
        try sql.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try project.runShell("mariadb -h \(parts.host ?? "127.0.0.1") -P \(parts.port ?? 3306) -u ferry -p\"$FERRY_TEST_MYSQL_PASSWORD\" < '\(file)'")
        #expect(result.code == 0, "\(result.all)")
    }

    /// The tester's `a%b` (and `a%41b`, whose `%41` a second decoding would turn into `A`), given
    /// once encoded, logs in on PostgreSQL as on MySQL; given twice encoded it is another password.
    @Test(arguments: ["postgres", "mysql"])
    func aPercentEncodedPasswordIsDecodedOnce(_ engine: String) throws {
        let env = ProcessInfo.processInfo.environment
        let project = try Project()
        let tag = "w28f5" + UUID().uuidString.prefix(6).lowercased()
        let base = try #require(env[engine == "postgres" ? "FERRY_TEST_PG_A" : "FERRY_TEST_MYSQL_A"], "run scripts/test.sh")
        let hostPart = try #require(base.split(separator: "@").last).split(separator: "/").first.map(String.init) ?? ""
        try project.write("plans/main.json", instancePlan(engine, database: tag))
        try project.write("plans/data/seed.sql", "CREATE TABLE t (a int);\n")
        for (index, password) in ["a%b", "a%41b", "R@:/%#?x9"].enumerated() {
            let user = "\(tag)_\(index)"
            if engine == "postgres" {
                try psql(project, "CREATE ROLE \(user) LOGIN SUPERUSER PASSWORD '\(password)';")
            } else {
                try mariadb(project, "CREATE USER '\(user)'@'%' IDENTIFIED BY '\(password)'; GRANT ALL ON *.* TO '\(user)'@'%' WITH GRANT OPTION;")
            }
            defer {
                if engine == "postgres" { try? psql(project, "DROP ROLE \(user);") } else { try? mariadb(project, "DROP USER '\(user)'@'%';") }
            }
            let once = password.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            project.environment["X_URL"] = "\(engine)://\(user):\(once)@\(hostPart)"
            let planned = try project.run("plan")
            #expect(planned.code == 0 && !planned.all.contains("error["), "\(password) as \(once): \(planned.all)")
            let twice = once.replacingOccurrences(of: "%", with: "%25")
            project.environment["X_URL"] = "\(engine)://\(user):\(twice)@\(hostPart)"
            let refused = try project.run("plan")
            #expect(refused.code != 0 && refused.all.contains("WrongPassword"), "\(password) as \(twice): \(refused.all)")
            for result in [planned, refused] {
                for piece in Self.pieces(of: password) where piece.contains(where: { !$0.isLetter && !$0.isNumber }) {
                    #expect(!written(project, result).contains(piece), "\(piece): \(result.all)")
                }
            }
        }
    }
}
