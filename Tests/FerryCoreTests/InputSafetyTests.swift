import Foundation
import Testing
@testable import FerryCore

/// Issue 16 §4, §5, §7, §8, §10, §13–15: plan inputs that must not block, lie, leak or slip through.
@Suite struct InputSafetyTests {
    // MARK: Secrets in URLs (allow-list redaction)

    @Test func everyQueryValueIsSecretUnlessKnownHarmless() {
        let cases: [(String, String)] = [
            ("https://h/x.sql?access_token=T0K&part=1", "https://h/x.sql?access_token=***&part=1"),
            ("https://h/x.sql?api_key=K3Y", "https://h/x.sql?api_key=***"),
            ("https://storage.googleapis.com/b/x.rdb?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Signature=abcdef",
             "https://storage.googleapis.com/b/x.rdb?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Signature=***"),
            ("ftp://h/x.sql?passwd=Pw", "ftp://h/x.sql?passwd=***"),
            // Names nobody listed are secret too.
            ("https://h/x?sas=sv2024sig&whatever=zz", "https://h/x?sas=***&whatever=***"),
            // Encoded names, `;` separators, bare words and fragments.
            ("https://h/x?access%5Ftoken=T0K", "https://h/x?access%5Ftoken=***"),
            ("https://h/x?part=1;token=T0K", "https://h/x?part=1;token=***"),
            ("https://h/x?T0KENONLY", "https://h/x?***"),
            ("https://h/x#access_token=T0K", "https://h/x#***"),
            ("https://h/x?p%61rt=2", "https://h/x?p%61rt=2"),
            // Path parameters and percent-encoded separators (fresh tester round 33, F4).
            ("mysql://ferry@127.0.0.1:24371/;password=SEKRIT6", "mysql://ferry@127.0.0.1:24371/;password=***"),
            ("redis://127.0.0.1:65102/0;SEKRIT41", "redis://127.0.0.1:65102/0;***"),
            ("redis://127.0.0.1:65102/%3Fpassword=SEKRIT42", "redis://127.0.0.1:65102/%3Fpassword=***"),
            ("postgres://u@h/postgres%3bpassword=S", "postgres://u@h/postgres%3bpassword=***"),
            ("mysql://u@h/%23SEKRIT26", "mysql://u@h/%23***"),
            ("http://127.0.0.1:65103/t33lite.sql;token=SEKRIT73", "http://127.0.0.1:65103/t33lite.sql;token=***"),
        ]
        for (input, expected) in cases {
            #expect(Redaction.redactURL(input) == expected, "\(input)")
        }
    }

    /// Round 35 F10: which `${env:}` values land in a URL's path, and how they are masked.
    @Test func valuesFromTheEnvironmentInAPathAreFoundAndMasked() {
        let env = ["TOK": "Pv7tokenA", "HOST": "h.example", "Q": "qv", "EMPTY": ""]
        let found: [(String, [String])] = [
            ("https://h/${env:TOK}/x.sql", ["Pv7tokenA"]),
            ("https://${env:HOST}/d-${env:TOK}-x/x.sql?part=${env:Q}#${env:Q}", ["Pv7tokenA"]),
            ("https://${env:HOST}/x.sql", []),
            ("https://u:${env:TOK}@h/x.sql", []),
            ("${env:TOK}", []),
            ("https://h/$${env:TOK}/x", []),
            ("https://h/${env:EMPTY:-Dflt9}/x", ["Dflt9"]),
            ("https://h/${env:UNSET}/x", []),
            ("data/${env:TOK}.sql", []),
        ]
        for (template, values) in found {
            #expect(PlanValueParsing.pathReferenceValues(template, environment: env) == values, "\(template)")
        }
        Redaction.maskPathValue("Zq81pathTok")
        Redaction.maskPathValue("Zq81 spaced")
        #expect(Redaction.redactURL("https://h:8/a/Zq81pathTok/x.sql?part=2") == "https://h:8/a/***/x.sql?part=2")
        #expect(Redaction.redactURL("s3://bucket/pre-Zq81pathTok-post.rdb") == "s3://bucket/pre-***-post.rdb")
        #expect(Redaction.redactURL("https://h/Zq81%20spaced/x") == "https://h/***/x")
        #expect(Redaction.redactURLs(in: "no object Zq81 spaced/x.sql in bucket") == "no object ***/x.sql in bucket")
        // The host is not a path: a value there is shown.
        #expect(Redaction.redactURL("https://Zq81pathTok.example/x") == "https://Zq81pathTok.example/x")
    }

    @Test func userInfoIsSecretExceptADatabaseAccountName() {
        #expect(Redaction.redactURL("http://T0KEN@host/x.sql") == "http://***@host/x.sql")
        #expect(Redaction.redactURL("https://user:pw@host/x.sql") == "https://***@host/x.sql")
        #expect(Redaction.redactURL("s3://AKIA:SECRET@bucket/k") == "s3://***@bucket/k")
        #expect(Redaction.redactURL("mysql://app:s3cret@db:3306") == "mysql://app:***@db:3306")
        #expect(Redaction.redactURL("mysql://app@db:3306") == "mysql://app@db:3306")
        #expect(Redaction.redactURL("redis://:Pa%40X@h:6379/0") == "redis://:***@h:6379/0")
        // A raw '@' in the password: the last '@' of the authority ends the userinfo.
        #expect(!Redaction.redactURL("https://u:Pa@X@host/x").contains("Pa"))
        // Free text that holds a URL.
        let message = Redaction.redactURLs(in: "endpoint http://admin:hunter2@minio:9000 refused: bad")
        #expect(message == "endpoint http://***@minio:9000 refused: bad")
    }

    @Test func literalSecretsOfEveryKindAreRefusedByValidate() {
        for url in ["https://h/x.sql?access_token=T0K", "https://h/x.sql?api_key=K", "https://h/x?X-Goog-Signature=ab",
                    "ftp://h/x?passwd=p", "http://T0KEN@host/x.sql", "https://h/x?access%5Ftoken=T", "https://h/x#access_token=T",
                    "https://h/x?part=1;token=T"] {
            #expect(PlanValueParsing.urlHasLiteralPassword(url), "\(url)")
        }
        for url in ["https://h/x.sql?part=1", "mysql://app@h", "http://${env:TOKEN}@host/x.sql", "https://h/x?token=${env:T}",
                    "${env:URL:-mysql://root@127.0.0.1:3306}", "${env:URL:-redis://127.0.0.1:6379/0}", "${env:URL}"] {
            #expect(!PlanValueParsing.urlHasLiteralPassword(url), "\(url)")
        }
        // A default is a literal URL of its own: a secret in it is as literal as anywhere else.
        for url in ["${env:URL:-mysql://root:hunter2@127.0.0.1:3306}", "${env:URL:-https://h/x.sql?access_token=T}",
                    "${env:URL:-http://T0KEN@host/x.sql}"] {
            #expect(PlanValueParsing.urlHasLiteralPassword(url), "\(url)")
        }
        // A `://` inside a reference is not the URL's own scheme: no userinfo is split out of it.
        #expect(PlanValueParsing.splitUserInfo("${env:URL:-mysql://root@h:3306}") == nil)
    }

    @Test func aSourceURLFromTheEnvironmentIsRedactedWherePrinted() throws {
        let text = """
        { "ferry": 1, "instances": { "r": { "engine": "redis", "url": "redis://127.0.0.1:6379" } },
          "imports": { "i": { "into": "r", "database": "0", "from": "${env:SRC}" } } }
        """
        for secret in ["access_token=S3CR3T", "api_key=S3CR3T", "X-Goog-Signature=S3CR3T", "passwd=S3CR3T"] {
            let result = loadPlan(text, environment: ["SRC": "https://h.example/x.rdb?\(secret)&part=1"])
            let source = try #require(result.plan.imports["i"]?.sources.first)
            #expect(!source.description.contains("S3CR3T"))
            #expect(!source.displayName.contains("S3CR3T"))
            #expect(source.description.contains("part=1"))
        }
        let token = loadPlan(text, environment: ["SRC": "http://S3CR3T@h.example/x.rdb"])
        #expect(token.plan.imports["i"]?.sources.first?.description == "http://***@h.example/x.rdb")
    }

    // MARK: Passwords from the environment never travel as URL text (§8)

    @Test func aPasswordReferenceInTheURLBecomesThePassword() throws {
        let text = """
        { "ferry": 1, "instances": {
            "m": { "engine": "mysql", "url": "mysql://app:${env:PW}@127.0.0.1:3306" },
            "r": { "engine": "redis", "url": "redis://:${env:PW}@127.0.0.1:6379/0" },
            "u": { "engine": "mysql", "url": "mysql://${env:USR}@127.0.0.1:3306", "password": { "env": "PW" } } } }
        """
        let result = loadPlan(text, environment: ["PW": "Pa@X/rest", "USR": "we:ird@user"])
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        #expect(result.plan.instances["m"]?.url == "mysql://app@127.0.0.1:3306")
        #expect(result.plan.instances["m"]?.password == .env("PW"))
        #expect(result.plan.instances["r"]?.url == "redis://@127.0.0.1:6379/0")
        #expect(result.plan.instances["r"]?.password == .env("PW"))
        // A user from the environment is percent-encoded: its '@' and ':' cannot move the host.
        let user = try #require(result.plan.instances["u"]?.url)
        #expect(user == "mysql://we%3Aird%40user@127.0.0.1:3306")
        #expect(URLComponents(string: user)?.host == "127.0.0.1")
        #expect(URLComponents(string: user)?.user?.removingPercentEncoding == "we:ird@user")
    }

    @Test func aWholeURLFromTheEnvironmentWithARawAtSignIsRefusedWithoutEchoingIt() throws {
        let text = """
        { "ferry": 1, "instances": { "r": { "engine": "redis", "url": "${env:REDIS_URL}" } } }
        """
        for url in ["redis://:Pa@X/rest@127.0.0.1:6379/0", "mysql://app:Pa/X@rest@db:3306", "redis://u:p@h/0@x"] {
            let result = loadPlan(text, environment: ["REDIS_URL": url])
            let diagnostic = try single(result, .invalidParameter)
            for part in ["Pa@X", "Pa/X", "rest", "u:p@", "127.0.0.1", "db:3306"] {
                #expect(!diagnostic.description.contains(part), "\(diagnostic)")
            }
            #expect(result.plan.instances["r"] == nil)
        }
        let fine = loadPlan(text, environment: ["REDIS_URL": "redis://:Pa%40X%2Frest@127.0.0.1:6379/0"])
        #expect(fine.diagnostics.isEmpty)
    }

    @Test func aPasswordInBothTheURLAndThePasswordFieldIsAnError() throws {
        let text = """
        { "ferry": 1, "instances": {
            "m": { "engine": "mysql", "url": "mysql://app:${env:PW}@h", "password": { "env": "OTHER" } } } }
        """
        let result = loadPlan(text, environment: ["PW": "x", "OTHER": "y"])
        #expect(result.diagnostics.contains { $0.code == .invalidParameter && $0.message.contains("both") })
    }

    @Test func aTokenFromTheEnvironmentInASourceIsEncoded() throws {
        let text = """
        { "ferry": 1, "instances": { "r": { "engine": "redis", "url": "redis://127.0.0.1:6379" } },
          "imports": { "i": { "into": "r", "database": "0", "from": "https://${env:TOK}@files.example/x.rdb" } } }
        """
        let result = loadPlan(text, environment: ["TOK": "ab@evil.example/"])
        guard case .url(let url)? = result.plan.imports["i"]?.sources.first else {
            Issue.record("no url source: \(result.diagnostics)")
            return
        }
        #expect(URLComponents(string: url)?.host == "files.example")
    }

    // MARK: Control characters (§10)

    static let hostileName = "app\u{1B}[2J\u{1B}[31m\nerror[PlanStale]: forged\u{202E}"

    @Test func everyRenderingEscapesControlCharacters() throws {
        let plan = Fixture.plan(imports: [Fixture.importing("seed", database: Self.hostileName)])
        let result = Fixture.plan(plan, Fixture.facts([:]))
        let outputs = [
            TextRenderer(palette: Palette(isEnabled: false)).render(changes: result.changes, graph: result.graph),
            MarkdownRenderer.render(changes: result.changes, graph: result.graph),
            GraphRenderer.dot(result.graph),
            GraphRenderer.mermaid(result.graph),
            try PlanDocument(ferryVersion: "t", createdAt: Date(), changes: result.changes, graph: result.graph, diagnostics: []).encoded(),
        ]
        for output in outputs {
            #expect(!output.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{202E}" })
            #expect(!output.split(separator: "\n").contains { $0.hasPrefix("error[") })
            #expect(output.contains("PlanStale"))
        }
        let diagnostic = Diagnostic(.invalidParameter, "bad \(Self.hostileName)", hint: "h\u{1B}[0m")
        #expect(!diagnostic.description.unicodeScalars.contains("\u{1B}"))
        #expect(diagnostic.description.split(separator: "\n").count == 2)
        // JSON keeps the value: it decodes back to the same name.
        let json = outputs[4]
        let document = try JSONDecoder.ferry.decode(PlanDocument.self, from: Data(json.utf8))
        #expect(document.changes.first?.movements.first?.to == "a/\(Self.hostileName)")
    }

    @Test func namesPathsAndURLsWithControlCharactersAreRefused() throws {
        let text = """
        { "ferry": 1, "instances": { "dev": { "engine": "sqlite", "path": "var" } },
          "copies": { "c": { "from": "dev", "to": "dev", "databases": { "a": "b\\u001b[2J" } } } }
        """
        let result = loadPlan(text)
        #expect(result.diagnostics.contains { $0.code == .invalidParameter && $0.message.contains("control characters") })
        // An instance name with a forged line is reported on one line.
        let forged = loadPlan("{ \"ferry\": 1, \"instances\": { \"x\\nerror[PlanStale]: y\": { \"engine\": \"sqlite\", \"path\": \"v\" } } }")
        for diagnostic in forged.diagnostics {
            #expect(!diagnostic.description.split(separator: "\n").contains { $0.hasPrefix("error[PlanStale]") })
        }
    }

    // MARK: Sources that are not regular files (§4) and schemes (§15)

    @Test func aFIFOADeviceOrADirectoryIsNotASource() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("data/ok.sql", "SELECT 1;\n")
        #expect(mkfifo(dir.path + "/data/pipe.sql", 0o600) == 0)
        try FileManager.default.createDirectory(atPath: dir.path + "/data/dir.sql", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/data/zero.sql", withDestinationPath: "/dev/zero")
        let plan = """
        { "ferry": 1, "instances": { "dev": { "engine": "sqlite", "path": "var" } },
          "imports": { "ok": { "into": "dev", "database": "ok", "from": "data/ok.sql" },
                       "pipe": { "into": "dev", "database": "p", "from": "data/pipe.sql" },
                       "dir": { "into": "dev", "database": "d", "from": "data/dir.sql" },
                       "zero": { "into": "dev", "database": "z", "from": "data/zero.sql" },
                       "dev": { "into": "dev", "database": "n", "from": "file:///dev/null" } } }
        """
        try dir.write("plan.json", plan)
        let started = Date()
        let result = PlanLoader(environment: [:], root: dir.path, allowOutside: ["/dev"]).load(path: dir.path + "/plan.json")
        #expect(Date().timeIntervalSince(started) < 5)
        let refused = result.diagnostics.filter { $0.message.contains("not a regular file") }
        #expect(Set(refused.compactMap { $0.location?.jsonPath }) == ["imports.pipe.from", "imports.dir.from", "imports.zero.from", "imports.dev.from"])
        #expect(refused.contains { $0.message.contains("FIFO") })
        #expect(refused.contains { $0.message.contains("character device") })
        #expect(result.plan.imports["ok"] != nil)
    }

    @Test func unknownSchemesAreErrorsNamingTheKnownOnes() throws {
        for source in ["xyz://bucket/x.rdb", "gcs://bucket/x.rdb", "azure://c/x.rdb", "HTTPX://h/x.rdb"] {
            let text = """
            { "ferry": 1, "instances": { "r": { "engine": "redis", "url": "redis://127.0.0.1:6379" } },
              "imports": { "i": { "into": "r", "database": "0", "from": "\(source)" } } }
            """
            let diagnostic = try single(loadPlan(text), .invalidParameter)
            #expect(diagnostic.hint?.contains("s3:") == true, "\(source)")
            #expect(diagnostic.location?.jsonPath == "imports.i.from")
        }
    }

    @Test func aBackupToAURIIsNeverAPath() throws {
        func load(_ to: String) -> LoadResult {
            loadPlan("""
            { "ferry": 1, "instances": { "dev": { "engine": "sqlite", "path": "var" } },
              "backups": { "b": { "of": "dev", "databases": ["app"], "to": "\(to)" } } }
            """, environment: ["K": "x"])
        }
        // Storage locations are kept as written (without a trailing slash), never made paths.
        for (to, kept) in [("gs://bucket/backups/", "gs://bucket/backups"), ("s3://b/x", "s3://b/x"), ("abs://acct/c/x", "abs://acct/c/x"),
                           ("GS://bucket", "GS://bucket")] {
            let result = load(to)
            #expect(result.diagnostics.filter { $0.severity == .error }.isEmpty, "\(to): \(result.diagnostics)")
            #expect(result.plan.backups["b"]?.to == kept)
        }
        // Other schemes, a location without a bucket or container, and one holding credentials.
        // FTP: the password only as a reference, kept as written (never expanded into the plan).
        for (to, kept) in [("ftp://host/backups/", "ftp://host/backups"), ("ftp://u:${env:K}@host:2121/b", "ftp://u:${env:K}@host:2121/b"),
                           ("FTP://u@host/a%20b", "ftp://u@host/a%20b"), ("ftp://${env:K}@host/x", "ftp://x@host/x"),
                           // ftps: (explicit TLS) is parsed and kept the same way, its scheme kept.
                           ("ftps://host/backups/", "ftps://host/backups"), ("FTPS://u:${env:K}@host:990/b", "ftps://u:${env:K}@host:990/b"),
                           ("ftps://u@[::1]:2121/a%20b", "ftps://u@[::1]:2121/a%20b")] {
            let result = load(to)
            #expect(result.diagnostics.filter { $0.severity == .error }.isEmpty, "\(to): \(result.diagnostics)")
            #expect(result.plan.backups["b"]?.to == kept, "\(to)")
        }
        for (to, code) in [("ftp://u:secret@host/b", ErrorCode.literalPassword), ("ftp://u:${env:K}x@host/b", .literalPassword),
                           ("ftp://host/b?p=1", .literalPassword), ("ftp:///b", .invalidParameter), ("ftp://host:99999/b", .invalidParameter),
                           ("ftp://:${env:K}@host/b", .invalidParameter), ("ftp://host/a/../b", .invalidParameter),
                           ("ftp://host/a%0D%0ADELE%20x", .invalidParameter), ("ftp://u%0A@host/b", .invalidParameter),
                           ("sftp://host/backups", .invalidParameter), ("xyz://b/x", .invalidParameter),
                           ("ftps://u:secret@host/b", .literalPassword), ("ftps://host/b#x", .literalPassword),
                           ("ftps://host/a/../b", .invalidParameter), ("ftps://:${env:K}@host/b", .invalidParameter),
                           ("ftpes://host/b", .invalidParameter),
                           ("abs://acct", .invalidParameter), ("gs:///x", .invalidParameter),
                           ("gs://id:${env:K}@bucket/x", .literalPassword), ("abs://acct/c/x?sig=${env:K}", .literalPassword)] {
            let result = load(to)
            let diagnostic = try single(result, code)
            #expect(diagnostic.location?.jsonPath == "backups.b.to", "\(to)")
            #expect(result.plan.backups["b"] == nil)
        }
        let file = loadPlan("""
        { "ferry": 1, "instances": { "dev": { "engine": "sqlite", "path": "var" } },
          "backups": { "b": { "of": "dev", "databases": ["app"], "to": "file://\(unmadeDirectory)/ferry-backups" } } }
        """)
        #expect(file.plan.backups["b"]?.to == "\(unmadeDirectory)/ferry-backups")
    }

    // MARK: Unset variables (§14)

    @Test func oneDiagnosticPerUnsetVariableWithCountAndPlaces() throws {
        var imports: [String] = []
        for i in 0..<2_000 {
            imports.append("\"i\(i)\": { \"into\": \"${env:MISSING}\", \"database\": \"${env:OTHER}\", \"from\": \"s3://b/k.rdb\" }")
        }
        let text = "{ \"ferry\": 1, \"imports\": {\n" + imports.joined(separator: ",\n") + "\n} }"
        let result = loadPlan(text)
        let unset = diagnostics(result, .unsetVariable)
        #expect(unset.count == 2)
        let missing = try #require(unset.first { $0.message.contains("MISSING") })
        #expect(missing.message.contains("2000 references"))
        #expect(missing.location?.line == 2)
        #expect(missing.hint?.contains("plans/test.json:3:") == true)
        #expect(missing.hint?.contains("1997 more") == true)
        let once = loadPlan("{ \"ferry\": 1, \"instances\": { \"a\": { \"engine\": \"${env:ONLY}\" } } }")
        #expect(diagnostics(once, .unsetVariable).map(\.message) == ["environment variable ONLY is not set"])
    }

    // MARK: Invalid text (§5)

    @Test func invalidUTF8IsRefusedAtItsPlace() throws {
        var bytes = Array("{ \"ferry\": 1,\n  \"x\": \"caf".utf8)
        bytes.append(0xE9)  // Latin-1 é
        bytes += Array("\" }\n".utf8)
        do {
            _ = try PlanLoader.decodeText(Data(bytes), file: "plans/p.json")
            Issue.record("decoded invalid UTF-8")
        } catch {
            #expect(error.code == .syntax)
            #expect(error.diagnostics.first?.location?.line == 2)
            #expect(error.diagnostics.first?.location?.column == 12)
        }
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse("{\"s\": \"\\ud800\"}") }
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse("{\"s\": \"\\udc00\\ud800\"}") }
        #expect(try JSONParser.parse("{\"s\": \"\\ud83d\\ude00\"}").members?.first?.value.value == .string("😀"))
    }

    // MARK: Storage projected through the graph (§13)

    @Test func aCopyOfADatabaseThePlanImportsCountsAgainstTheTargetLimit() {
        var plan = Fixture.plan(imports: [Fixture.importing("seed", into: "a", database: "app")],
                                copies: [Fixture.copying("c", from: "a", to: "b")])
        plan.instances["b"]?.storageLimit = 400
        // a/app does not exist yet: only the import's 500 B source tells what the copy will move.
        let result = Fixture.plan(plan, Fixture.facts([:]))
        #expect(result.codes.contains(.storageLimitExceeded))
        #expect(result.change("copy.c")?.bytes == 500)
        // A chain: a copy of that copy sees the same bytes.
        plan.copies["d"] = Fixture.copying("d", from: "b", to: "c")
        plan.instances["b"]?.storageLimit = nil
        plan.instances["c"]?.storageLimit = 100
        let chained = Fixture.plan(plan, Fixture.facts([:]))
        #expect(chained.change("copy.d")?.bytes == 500)
        #expect(chained.diagnostics.contains { $0.code == .storageLimitExceeded && $0.message.contains("instance c") })
        plan.instances["c"]?.storageLimit = 10_000
        #expect(!Fixture.plan(plan, Fixture.facts([:])).codes.contains(.storageLimitExceeded))
    }
}

@Suite struct ErrorTextRedactionTests {
    @Test func aURLInAnyErrorMessageIsRedacted() {
        let error = FerryError(.importError, "the S3 endpoint http://minio:M1N10SECRET@127.0.0.1:9 is not usable",
                               hint: "see https://h/x?access_token=T0K")
        #expect(!error.description.contains("M1N10SECRET"))
        #expect(!error.description.contains("T0K"))
        #expect(error.description.contains("127.0.0.1:9"))
    }
}
