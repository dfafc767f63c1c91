import Foundation
import Testing
@testable import FerryCore

@Suite struct LoaderDiagnosticsTests {
    @Test func syntaxErrorIsReportedAtTheOffendingCharacter() throws {
        let text = "{\n  \"ferry\": 1\n  \"instances\": {}\n}"
        let result = loadPlan(text)
        let diagnostic = try single(result, .syntax)
        #expect(diagnostic.location == FerryCore.SourceLocation(file: "plans/test.json", line: 3, column: 3, jsonPath: ""))
        #expect(result.hasErrors)
        #expect(result.diagnostics.count == 1)
    }

    @Test func unknownFieldSuggestsTheClosestKnownField() throws {
        let text = planWith("""
          "copies": {
            "c": { "from": "prod", "to": "staging", "databses": ["app"], "colour": "red" }
          }
        """)
        let result = loadPlan(text)
        let unknown = diagnostics(result, .unknownField)
        #expect(unknown.count == 2)
        expectPlaced(unknown[0], at: "\"databses\"", in: text, path: "copies.c.databses")
        #expect(unknown[0].hint == "did you mean \"databases\"?")
        #expect(unknown[0].message.contains("databses"))
        expectPlaced(unknown[1], at: "\"colour\"", in: text, path: "copies.c.colour")
        #expect(unknown[1].hint?.hasPrefix("known fields: from, to, databases") == true)
        // The missing databases is reported too, in the same run.
        #expect(diagnostics(result, .invalidParameter).contains { $0.message.contains("\"databases\"") })
    }

    @Test func unknownFieldsAtEveryLevel() throws {
        let text = """
        {
          "ferry": 1,
          "instance": {},
          "instances": { "a": { "engine": "redis", "url": "redis://h", "pasword": { "env": "X" },
                                "password": { "envv": "X" } } },
          "backups": { "b": { "of": "a", "databases": ["0"], "to": "bk", "allowCrossAccount": true } }
        }
        """
        let result = loadPlan(text)
        let unknown = diagnostics(result, .unknownField)
        #expect(unknown.map(\.location?.jsonPath) == ["instance", "instances.a.pasword", "instances.a.password.envv",
                                                        "backups.b.allowCrossAccount"])
        #expect(unknown[0].hint == "did you mean \"instances\"?")
        #expect(unknown[1].hint == "did you mean \"password\"?")
        #expect(unknown[2].hint == "did you mean \"env\"?")
    }

    @Test func wrongTypesAndUnknownEnumValuesListTheAllowedValues() throws {
        let text = planWith("""
          "imports": {
            "i": { "into": 5, "database": "app", "from": "s3://b/app.sql", "format": "csv", "rerun": "onSourceChange" }
          },
          "copies": {
            "c": { "from": "prod", "to": "staging", "databases": ["app"], "users": "all", "verify": "md5",
                   "onExisting": "append", "allowCrossAccount": "yes" }
          }
        """)
        let result = loadPlan(text)
        let types = diagnostics(result, .type)
        #expect(types.map(\.location?.jsonPath) == ["imports.i.into", "imports.i.format", "imports.i.rerun",
                                                     "copies.c.users", "copies.c.verify", "copies.c.onExisting",
                                                     "copies.c.allowCrossAccount"])
        expectPlaced(types[0], at: "5", in: text, path: "imports.i.into")
        #expect(types[0].message == "into must be a string, not a number")
        #expect(types[1].message == "unknown format \"csv\"")
        #expect(types[1].hint == "format is one of \"sql\", \"sqlite\", \"pgdump\", \"rdb\"")
        #expect(types[2].hint?.contains("\"onChange\", \"always\", \"once\"") == true)
        #expect(types[3].hint == "users is one of \"skip\", \"sync\"")
        #expect(types[4].hint == "verify is one of \"checksum\", \"count\", \"none\"")
        #expect(types[5].hint == "onExisting is one of \"fail\", \"replace\"")
    }

    /// Fresh tester round 74, F6: `"owner": ""` was said to be "not string". An empty owner, or
    /// one with a NUL, is an `InvalidParameter` that says which; a number is a `Type` error.
    @Test func anEmptyOrUnnamableOwnerIsSaidAsSuch() throws {
        let text = planWith("""
          "imports": { "i": { "into": "staging", "database": "app", "from": "s3://b/app.sql", "owner": 5 } },
          "copies": {
            "c": { "from": "prod", "to": "staging", "databases": ["app"], "owner": "" },
            "d": { "from": "prod", "to": "staging", "databases": { "app": "app2" }, "owner": "a\\u0000b" }
          }
        """)
        let result = loadPlan(text)
        let typed = diagnostics(result, .type)
        #expect(typed.count == 1 && typed[0].location?.jsonPath == "imports.i.owner" && typed[0].message.contains("must be a string") && typed[0].message.hasSuffix("not 5"), "\(typed)")
        let invalid = diagnostics(result, .invalidParameter).filter { $0.location?.jsonPath.hasSuffix(".owner") == true }
        #expect(invalid.map(\.location?.jsonPath) == ["copies.c.owner", "copies.d.owner"], "\(invalid)")
        #expect(invalid.first?.message == "owner is empty" && invalid.last?.message.contains("NUL") == true, "\(invalid)")
    }

    @Test func unknownEngineSuggestsTheClosest() throws {
        let text = "{ \"ferry\": 1, \"instances\": { \"a\": { \"engine\": \"mysq\", \"url\": \"mysql://h\" } } }"
        let diagnostic = try single(loadPlan(text), .type)
        expectPlaced(diagnostic, at: "\"mysq\"", in: text, path: "instances.a.engine")
        #expect(diagnostic.hint == "did you mean \"mysql\"? engine is one of \"sqlite\", \"postgres\", \"mysql\", \"redis\"")
    }

    @Test func sizesDurationsTimesAndCountsAreChecked() throws {
        let text = planWith("""
          "copies": {
            "c": { "from": "prod", "to": "staging", "databases": ["app"], "at": "yesterday" }
          },
          "backups": {
            "b": { "of": "prod", "databases": ["app"], "to": "bk", "every": "1 fortnight", "keep": 0 },
            "d": { "of": "prod", "databases": ["app"], "to": "bk", "every": 3600, "keep": 1.5 }
          }
        """).replacingOccurrences(of: "\"account\": \"acme\"",
                                  with: "\"storageLimit\": \"20 GB/s\", \"maxConnections\": -1")
        let result = loadPlan(text)
        let paths = diagnostics(result, .type).map(\.location?.jsonPath)
        #expect(paths == ["instances.prod.storageLimit", "instances.prod.maxConnections", "copies.c.at",
                          "backups.b.every", "backups.b.keep", "backups.d.every", "backups.d.keep"])
        let size = diagnostics(result, .type)[0]
        #expect(size.hint == "write a size such as \"512 MiB\", \"20 GiB\", \"1.5 GB\" or \"100 MB\"")
        expectPlaced(size, at: "\"20 GB/s\"", in: text, path: "instances.prod.storageLimit")
    }

    @Test func sizeDurationAndTimeGrammars() {
        #expect(PlanValueParsing.parseSize("512 MiB") == Int64(512) * 1_048_576)
        #expect(PlanValueParsing.parseSize("20 GiB") == Int64(20) * 1_073_741_824)
        #expect(PlanValueParsing.parseSize("1.5 GB") == 1_500_000_000)
        #expect(PlanValueParsing.parseSize("100 mb") == 100_000_000)
        #expect(PlanValueParsing.parseSize("1024") == 1024)
        #expect(PlanValueParsing.parseSize("2TiB") == Int64(2) * 1_099_511_627_776)
        #expect(PlanValueParsing.parseSize("0 GB") == nil)
        #expect(PlanValueParsing.parseSize("12 parsecs") == nil)
        #expect(PlanValueParsing.parseSize("GB") == nil)
        #expect(PlanValueParsing.parseSize("99999999999 PiB") == nil)
        #expect(PlanValueParsing.parseDuration("24h") == 86_400)
        #expect(PlanValueParsing.parseDuration("30m") == 1_800)
        #expect(PlanValueParsing.parseDuration("7d") == 604_800)
        #expect(PlanValueParsing.parseDuration("1h30m") == 5_400)
        #expect(PlanValueParsing.parseDuration("90s") == 90)
        #expect(PlanValueParsing.parseDuration("90") == nil)
        #expect(PlanValueParsing.parseDuration("0s") == nil)
        #expect(PlanValueParsing.parseDuration("h") == nil)
        #expect(PlanValueParsing.parseTime("2026-11-20T16:00:00Z") != nil)
        #expect(PlanValueParsing.parseTime("2026-11-20T16:00:00.250+01:00") != nil)
        #expect(PlanValueParsing.parseTime("2026-11-20") == nil)
    }

    @Test func ferryVersionIsRequiredAndMustBeOne() throws {
        let missing = "{\n  \"instances\": {}\n}"
        let diagnostic = try single(loadPlan(missing), .invalidParameter)
        #expect(diagnostic.location?.line == 1 && diagnostic.location?.column == 1)
        #expect(diagnostic.hint?.contains("\"ferry\": 1") == true)
        let two = "{ \"ferry\": 2 }"
        let wrong = try single(loadPlan(two), .type)
        expectPlaced(wrong, at: "2", in: two, path: "ferry")
        #expect(wrong.hint == "this version of ferry reads \"ferry\": 1")
        #expect(try single(loadPlan("[1]"), .type).message == "a plan file must be an object, not a list")
    }

    @Test func duplicateKeysAndMapConflictsAreDuplicateNames() throws {
        let text = planWith("""
          "copies": {
            "c": { "from": "prod", "from": "staging", "to": "staging",
                   "databases": { "app": "x", "billing": "x", "app": "y" } },
            "l": { "from": "prod", "to": "staging", "databases": ["audit", "logs", "audit"] }
          },
          "backups": {
            "b": { "of": "prod", "databases": ["app", "app"], "to": "bk" }
          }
        """)
        let result = loadPlan(text)
        let duplicates = diagnostics(result, .duplicateName)
        #expect(duplicates.count == 5, "\(duplicates.map(\.description))")
        expectPlaced(duplicates[0], at: "\"from\"", in: text, occurrence: 2, path: "copies.c.from")
        #expect(duplicates[1].message == "two sources map to target \"x\"")
        expectPlaced(duplicates[1], at: "\"x\"", in: text, occurrence: 2, path: "copies.c.databases.billing")
        #expect(duplicates[1].hint?.contains("each target database name may appear once") == true)
        expectPlaced(duplicates[2], at: "\"app\"", in: text, occurrence: 2, path: "copies.c.databases.app")
        expectPlaced(duplicates[3], at: "\"audit\"", in: text, occurrence: 2, path: "copies.l.databases.audit")
        expectPlaced(duplicates[4], at: "\"app\"", in: text, occurrence: 4, path: "backups.b.databases.app")
    }

    @Test func twoResourcesWritingOneDatabaseAreNamed() throws {
        let text = planWith("""
          "imports": {
            "seed": { "into": "staging", "database": "app", "from": "s3://b/app.sql" }
          },
          "copies": {
            "c": { "from": "prod", "to": "staging", "databases": { "main": "app" } }
          }
        """)
        let diagnostic = try single(loadPlan(text), .duplicateName)
        #expect(diagnostic.message == "import.seed and copy.c both write database staging/app")
        expectPlaced(diagnostic, at: "\"main\"", in: text, path: "copies.c.databases.main")
    }

    @Test func unknownInstancesSuggestTheClosest() throws {
        let text = planWith("""
          "imports": { "i": { "into": "stagin", "database": "app", "from": "s3://b/app.sql" } },
          "copies": { "c": { "from": "zzz", "to": "staging", "databases": ["app"] } },
          "backups": { "b": { "of": "prd", "databases": ["app"], "to": "bk" } }
        """)
        let unknown = diagnostics(loadPlan(text), .unknownInstance)
        #expect(unknown.count == 3)
        expectPlaced(unknown[0], at: "\"stagin\"", in: text, path: "imports.i.into")
        #expect(unknown[0].hint == "did you mean \"staging\"?")
        #expect(unknown[1].hint == "declared instances: prod, staging")
        #expect(unknown[2].hint == "did you mean \"prod\"?")
    }

    @Test func afterMustNameExistingResources() throws {
        let text = planWith("""
          "imports": { "seed": { "into": "staging", "database": "app", "from": "s3://b/app.sql" } },
          "copies": { "c": { "from": "prod", "to": "staging", "databases": ["x"],
                             "after": ["import.seed", "import.sed", "backup.none", "seed"] } }
        """)
        let unknown = diagnostics(loadPlan(text), .unknownAddress)
        #expect(unknown.count == 3)
        expectPlaced(unknown[0], at: "\"import.sed\"", in: text, path: "copies.c.after.1")
        #expect(unknown[0].hint == "did you mean \"import.seed\"?")
        expectPlaced(unknown[1], at: "\"backup.none\"", in: text, path: "copies.c.after.2")
        expectPlaced(unknown[2], at: "\"seed\"", in: text, occurrence: 2, path: "copies.c.after.3")
        #expect(unknown[2].hint == "addresses are import.NAME, copy.NAME or backup.NAME")
    }

    @Test func copyOntoItselfIsSameDatabase() throws {
        let text = planWith("""
          "copies": { "c": { "from": "prod", "to": "prod", "databases": { "app": "app_old", "billing": "billing" } } }
        """)
        let result = loadPlan(text)
        let diagnostic = try single(result, .sameDatabase)
        expectPlaced(diagnostic, at: "\"billing\"", in: text, path: "copies.c.databases.billing")
        #expect(diagnostic.message.contains("prod/billing"))
        #expect(result.plan.copies["c"] != nil)
    }

    /// Fresh tester round 33, F11: a sqlite path written as a URL, or holding `?password=` or
    /// `;password=`, was made into directories named after it (kept in the journal too).
    @Test func aSqlitePathThatReadsAsAURLOrASecretIsRefusedUnshown() throws {
        for (pathText, code) in [("sqlite://u:SEKRIT103@host/sq", ErrorCode.literalPassword), ("https://x/y", .invalidParameter),
                                 ("sq/a?password=SEKRIT100", .literalPassword), ("sq/d;password=SEKRIT104", .literalPassword)] {
            let text = """
            { "ferry": 1, "instances": { "l": { "engine": "sqlite", "path": "\(pathText)" } } }
            """
            let result = loadPlan(text)
            #expect(diagnostics(result, code).count == 1, "\(pathText): \(result.diagnostics)")
            for diagnostic in result.diagnostics { #expect(!diagnostic.description.contains("SEKRIT"), "\(diagnostic)") }
        }
        #expect(diagnostics(loadPlan(#"{ "ferry": 1, "instances": { "l": { "engine": "sqlite", "path": "../var/dev" } } }"#), .literalPassword).isEmpty)
    }

    @Test func literalPasswordsAreRejectedWithoutEchoingThem() throws {
        let text = """
        {
          "ferry": 1,
          "instances": {
            "a": { "engine": "mysql", "url": "mysql://root:Sup3rSecretPw@127.0.0.1:3306" },
            "b": { "engine": "mysql", "url": "mysql://root@127.0.0.1", "password": "Sup3rSecretPw" },
            "c": { "engine": "mysql", "url": "mysql://root:${env:PW}@127.0.0.1" },
            "d": { "engine": "mysql", "url": "mysql://root@127.0.0.1", "password": { "env": "Sup3rSecretPw!" } }
          },
          "imports": { "i": { "into": "a", "database": "x", "from": "ftp://u:Sup3rSecretPw@h/x.sql" } }
        }
        """
        let result = loadPlan(text, environment: ["PW": "Sup3rSecretPw"])
        let literal = diagnostics(result, .literalPassword)
        #expect(literal.count == 3)
        expectPlaced(literal[0], at: "\"mysql://root:", in: text, path: "instances.a.url")
        expectPlaced(literal[1], at: "\"Sup3rSecretPw\"", in: text, path: "instances.b.password")
        expectPlaced(literal[2], at: "\"ftp://", in: text, path: "imports.i.from")
        #expect(diagnostics(result, .type).map(\.location?.jsonPath) == ["instances.d.password.env"])
        for diagnostic in result.diagnostics {
            #expect(!diagnostic.description.contains("Sup3rSecret"))
            #expect(!diagnostic.description.contains("ecretP"))
        }
        // A password given by reference in the url goes to the engine as a password, not as URL text.
        #expect(result.plan.instances["c"]?.url == "mysql://root@127.0.0.1")
        #expect(result.plan.instances["c"]?.password == .env("PW"))
    }

    @Test func literalSecretsInURLsAreFound() {
        #expect(PlanValueParsing.urlHasLiteralPassword("mysql://u:secret@h"))
        #expect(PlanValueParsing.urlHasLiteralPassword("redis://:secret@h:6379"))
        #expect(PlanValueParsing.urlHasLiteralPassword("https://h/x.sql?token=abc"))
        #expect(PlanValueParsing.urlHasLiteralPassword("mysql://u:${env:A}x@h"))
        #expect(!PlanValueParsing.urlHasLiteralPassword("mysql://u@h:3306/db?ssl=true"))
        #expect(!PlanValueParsing.urlHasLiteralPassword("mysql://u:${env:PW}@h"))
        #expect(!PlanValueParsing.urlHasLiteralPassword("https://h/x.sql?token=${env:TOKEN}"))
        #expect(!PlanValueParsing.urlHasLiteralPassword("s3://bucket/a:b@c.sql"))
        #expect(!PlanValueParsing.urlHasLiteralPassword("${env:STAGING_URL}"))
        // A secret after `;` in the path, or behind a percent-encoded separator (round 33, F4).
        #expect(PlanValueParsing.urlHasLiteralPassword("mysql://ferry@127.0.0.1:24371/;password=SEKRIT6"))
        #expect(PlanValueParsing.urlHasLiteralPassword("redis://127.0.0.1:65102/%3Fpassword=SEKRIT42"))
        #expect(PlanValueParsing.urlHasLiteralPassword("postgres://u@h/postgres;password=S"))
        #expect(!PlanValueParsing.urlHasLiteralPassword("postgres://u@h/my%20db"))
        #expect(PlanValueParsing.urlHasLiteralPassword("http://127.0.0.1:65103/t33lite.sql;token=SEKRIT73"), "round 33, F9")
    }

    @Test func environmentVariablesExpandBeforeChecks() throws {
        let text = """
        {
          "ferry": 1,
          "instances": {
            "a": { "engine": "${env:ENGINE}", "url": "${env:MISSING_URL}" },
            "b": { "engine": "redis", "url": "${env:B_URL:-redis://127.0.0.1:6379}", "region": "$${env:LITERAL}" },
            "c": { "engine": "redis", "url": "redis://${env:HOST}:${env:PORT}", "account": "${oops}" }
          }
        }
        """
        let result = loadPlan(text, environment: ["ENGINE": "mysql", "HOST": "h"])
        #expect(result.plan.instances["b"]?.url == "redis://127.0.0.1:6379")
        #expect(result.plan.instances["b"]?.region == "${env:LITERAL}")
        let unset = diagnostics(result, .unsetVariable)
        #expect(unset.count == 2)
        expectPlaced(unset[0], at: "\"${env:MISSING_URL}\"", in: text, path: "instances.a.url")
        #expect(unset[0].message == "environment variable MISSING_URL is not set")
        #expect(unset[0].hint == "set MISSING_URL, or give a default with ${env:MISSING_URL:-default}")
        #expect(unset[1].message == "environment variable PORT is not set")
        let malformed = try single(result, .invalidParameter)
        expectPlaced(malformed, at: "\"${oops}\"", in: text, path: "instances.c.account")
        #expect(diagnostics(result, .type).isEmpty, "ENGINE expanded to mysql before the enum check")
    }

    /// Fresh tester round 37b, M3: a `redis://` source needed `"format": "rdb"`; its scheme says it.
    @Test func aRedisSourceIsAnRDBWithoutAFormat() throws {
        let text = planWith("""
          "imports": {
            "r": { "into": "staging", "database": "0", "from": "redis://127.0.0.1:6390/2" },
            "s": { "into": "staging", "database": "1", "from": "rediss://cache.example:6380" },
            "t": { "into": "staging", "database": "2", "from": "https://example.com/export" }
          }
        """)
        let result = loadPlan(text)
        #expect(result.plan.imports["r"]?.format == .rdb)
        #expect(result.plan.imports["s"]?.format == .rdb)
        #expect(diagnostics(result, .invalidParameter).map(\.message) == ["the format of import \"t\" cannot be inferred from the source name"])
    }

    @Test func emptyListsMissingFieldsAndFormatsAreInvalid() throws {
        let text = planWith("""
          "imports": {
            "i": { "into": "staging", "database": "app", "from": [] },
            "j": { "into": "staging", "database": "other", "from": "s3://bucket/export" },
            "k": { "database": "k" }
          },
          "copies": {
            "c": { "from": "prod", "to": "staging", "databases": {}, "backup": "set-1", "at": "2026-11-20T16:00:00Z" },
            "d": { "from": "prod", "to": "staging", "databases": [] }
          }
        """)
        let result = loadPlan(text)
        let invalid = diagnostics(result, .invalidParameter)
        let messages = invalid.map(\.message)
        #expect(messages == [
            "from is an empty list",
            "the format of import \"j\" cannot be inferred from the source name",
            "import \"k\" is missing the required field \"into\"",
            "import \"k\" is missing the required field \"from\"",
            "databases is empty",
            "a copy reads either a backup set (\"backup\") or a point in time (\"at\"), not both",
            "databases is empty",
        ])
        #expect(invalid[1].hint == "set \"format\" to one of \"sql\", \"sqlite\", \"pgdump\", \"rdb\"")
        expectPlaced(invalid[2], at: "\"k\"", in: text, path: "imports.k")
        expectPlaced(invalid[5], at: "\"at\"", in: text, path: "copies.c.at")
        #expect(result.plan.imports.isEmpty)
        #expect(result.plan.copies.isEmpty)
    }

    @Test func instancesNeedEngineAndTheirLocation() throws {
        let text = """
        {
          "ferry": 1,
          "instances": {
            "a": { "url": "mysql://h" },
            "b": { "engine": "sqlite" },
            "c": { "engine": "postgres" },
            "d": { "engine": "sqlite", "path": "x", "url": "sqlite://x" },
            "bad name": { "engine": "redis", "url": "redis://h" },
            "": { "engine": "redis", "url": "redis://h" }
          }
        }
        """
        let invalid = diagnostics(loadPlan(text), .invalidParameter)
        #expect(invalid.map(\.message) == [
            "instance \"a\" is missing the required field \"engine\"",
            "instance \"b\" is missing the required field \"path\"",
            "instance \"c\" is missing the required field \"url\"",
            "a sqlite instance takes \"path\" (a directory), not \"url\"",
            "instance name \"bad name\" has characters other than letters, digits, '_', '.' and '-'",
            "instance name is empty",
        ])
        expectPlaced(invalid[4], at: "\"bad name\"", in: text, path: "instances.bad name")
    }

    @Test func everyProblemIsReportedInOneRunSortedByPosition() throws {
        let text = planWith("""
          "imports": { "i": { "into": "nowhere", "database": "app", "from": "s3://b/a.sql", "rerun": "never" } },
          "copies": { "c": { "from": "prod", "to": "prod", "databases": ["app"], "colour": 1, "keep": 2 } }
        """)
        let result = loadPlan(text)
        #expect(result.diagnostics.map(\.code) == [.unknownInstance, .type, .sameDatabase, .unknownField, .unknownField])
        let places = result.diagnostics.compactMap { $0.location.map { $0.line * 10_000 + $0.column } }
        #expect(places == places.sorted())
    }

    @Test func aNameDefinedTwiceInOneFileIsReportedOnce() throws {
        let text = planWith("""
          "imports": {
            "seed": { "into": "staging", "database": "a", "from": "s3://b/a.sql" },
            "seed": { "into": "staging", "database": "b", "from": "s3://b/b.sql" }
          }
        """)
        let result = loadPlan(text)
        let duplicate = try single(result, .duplicateName)
        expectPlaced(duplicate, at: "\"seed\"", in: text, occurrence: 2, path: "imports.seed")
        #expect(duplicate.message == "import \"seed\" is defined twice in this file")
        #expect(result.plan.imports["seed"]?.database == "a")
        #expect(result.diagnostics.count == 1)
    }

    @Test func aBrokenInstanceDoesNotCascadeIntoUnknownInstance() throws {
        let text = """
        { "ferry": 1,
          "instances": { "prod": { "engine": "oracle", "url": "x://h" } },
          "copies": { "c": { "from": "prod", "to": "prod", "databases": { "a": "b" } } } }
        """
        let result = loadPlan(text)
        #expect(result.diagnostics.map(\.code) == [.type])
        #expect(result.plan.instances.isEmpty)
    }

    @Test func interpolationGrammar() {
        let environment = ["A": "1", "EMPTY": ""]
        func expand(_ text: String) -> PlanValueParsing.Expansion {
            PlanValueParsing.expand(text, environment: environment)
        }
        #expect(expand("x${env:A}y${env:A}").text == "x1y1")
        #expect(expand("${env:B:-two words}").text == "two words")
        #expect(expand("${env:EMPTY:-fallback}").text == "fallback")
        #expect(expand("${env:EMPTY}").text == "")
        #expect(expand("$${env:A} and $$ and $x").text == "${env:A} and $$ and $x")
        #expect(expand("${env:B}${env:C}").unsetVariables == ["B", "C"])
        #expect(expand("${env:A").malformed != nil)
        #expect(expand("${HOME}").malformed != nil)
        #expect(expand("${env:9X}").malformed != nil)
    }
}
