import Foundation
import Testing
@testable import FerryCore

/// Round-13 S1: a password with a raw `#`, `?`, `/` or `@` in a whole-URL value was cut by the URL
/// parser and printed in part (`not a Redis URL: redis://ru:Sec#***`). One rule now
/// (`Redaction.hasAmbiguousUserInfo`): such a URL is refused where it is read, naming the field
/// and showing no part of the URL, and `redactURL` shows it only as `scheme://***`.
@Suite struct AmbiguousUserInfoTests {
    /// The tester's passwords and my own variants.
    static let passwords = ["Sec#ret", "Se?cr#et", "P@ss:w0rd#x", "R@:/%#?x9", "pa/ss@w0rdZ", "a?b@cde", "x@y@zzz", "tok#en",
                            "HaZ9#", "#lQ9d", "sl/aZ9", "qu?eZ9"]

    /// Every run of 3 or more characters of `secret` (the user part of a URL is no secret).
    static func pieces(of secret: String) -> [String] {
        let characters = Array(secret)
        var out: [String] = []
        guard characters.count >= 3 else { return [secret] }
        for start in 0...(characters.count - 3) {
            for end in (start + 3)...characters.count {
                out.append(String(characters[start..<end]))
            }
        }
        return out
    }

    static func expectNoPiece(of secret: String, in text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        for piece in pieces(of: secret) {
            #expect(!text.contains(piece), "\(piece) of \(secret) in: \(text)", sourceLocation: sourceLocation)
        }
    }

    @Test func theRuleTellsAmbiguousUserInfoFromAPlainOne() {
        for url in ["redis://ru:Sec#ret@127.0.0.1:65321", "redis://:Sec#ret@h", "redis://ru:Se?cr#et@h:1", "redis://ru:P@ss:w0rd#x@h",
                    "redis://ru:R@:/%#?x9@127.0.0.1:65321", "postgres://sxp:Sec@ret/x@127.0.0.1:29199/postgres",
                    "mysql://u:a/b@h:3306/db", "https://tok#en@host/x", "s3://AK:se/cret@bucket/k", "ftp://u:p?w@h/dir",
                    "https://host/dir/file@2x.sql", "https://host/x?mail=a@b", "https://u@h/x@y"] {
            #expect(Redaction.hasAmbiguousUserInfo(url), "\(url)")
        }
        for url in ["redis://ru:Sec%23ret@127.0.0.1:65321", "redis://127.0.0.1:6379/0", "mysql://app@db:3306", "https://h/x?token=T#frag",
                    "postgres://u:R%40%3A%2F%25%23%3Fx9@h/db?sslmode=disable", "s3://bucket/key", "C:/path@x", "data/seed@1.sql"] {
            #expect(!Redaction.hasAmbiguousUserInfo(url), "\(url)")
        }
    }

    @Test(arguments: ["redis", "rediss", "mysql", "mariadb", "postgres", "postgresql", "https", "http", "s3", "gs", "abs", "ftp", "ftps"])
    func anAmbiguousURLIsRedactedToItsSchemeOnly(_ scheme: String) {
        for password in Self.passwords {
            for url in ["\(scheme)://ru:\(password)@127.0.0.1:65321", "\(scheme)://:\(password)@h/0", "\(scheme)://\(password)@host/p?part=1"] {
                let shown = Redaction.redactURL(url)
                if Redaction.hasAmbiguousUserInfo(url) { #expect(shown == "\(scheme)://***", "\(url) -> \(shown)") }
                // The scheme itself is no piece of the password (`rediss:` holds `ss:`).
                let withoutScheme = { (text: String) in text.replacingOccurrences(of: "\(scheme)://", with: "") }
                Self.expectNoPiece(of: password, in: withoutScheme(shown))
                Self.expectNoPiece(of: password, in: withoutScheme(Redaction.redactURLs(in: "failed: \(url) (x)")))
                Self.expectNoPiece(of: password, in: withoutScheme(Diagnostic(.invalidParameter, "not a URL: \(url)").description))
            }
        }
        // Unambiguous URLs are shown as before.
        #expect(Redaction.redactURL("\(scheme)://ru:Sec%23ret@127.0.0.1:65321").hasSuffix("@127.0.0.1:65321"))
    }

    func instancePlan(_ engine: String) -> String {
        #"{ "ferry": 1, "instances": { "x": { "engine": "\#(engine)", "url": "${env:X_URL}" } } }"#
    }

    @Test(arguments: [("redis", "redis"), ("redis", "rediss"), ("mysql", "mysql"), ("mysql", "mariadb"), ("postgres", "postgres"), ("postgres", "postgresql")])
    func aWholeURLVariableWithARawPasswordIsRefusedNamingTheInstanceOnly(_ engine: String, _ scheme: String) throws {
        for password in Self.passwords {
            for url in ["\(scheme)://ru:\(password)@127.0.0.1:65321", "\(scheme)://:\(password)@127.0.0.1:65321/0",
                        "\(scheme)://ru:\(password)@127.0.0.1:65321/db?sslmode=disable"] {
                let result = loadPlan(instancePlan(engine), environment: ["X_URL": url])
                let diagnostic = try single(result, .invalidParameter)
                #expect(diagnostic.message.contains("instance \"x\"") && diagnostic.message.contains("userinfo"), "\(diagnostic)")
                #expect(diagnostic.location?.jsonPath == "instances.x.url")
                Self.expectNoPiece(of: password, in: diagnostic.description + (diagnostic.hint ?? ""))
                #expect(!diagnostic.description.contains("127.0.0.1"), "\(diagnostic)")
                #expect(result.plan.instances["x"] == nil)
            }
            // Percent-encoded, the same password loads.
            let encoded = password.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let fine = loadPlan(instancePlan(engine), environment: ["X_URL": "\(scheme)://ru:\(encoded)@127.0.0.1:65321"])
            #expect(!fine.hasErrors, "\(fine.diagnostics)")
        }
    }

    @Test func theStateBlockURLIsRefusedTheSameWay() throws {
        let text = #"{ "ferry": 1, "state": { "backend": "postgres", "url": "${env:S_URL}" }, "instances": { "d": { "engine": "sqlite", "path": "../v" } } }"#
        for password in Self.passwords {
            let result = loadPlan(text, environment: ["S_URL": "postgres://sxp:\(password)@127.0.0.1:29173/postgres"])
            let diagnostic = try single(result, .invalidParameter)
            #expect(diagnostic.message.contains("the state's url") && diagnostic.location?.jsonPath == "state.url", "\(diagnostic)")
            Self.expectNoPiece(of: password, in: diagnostic.description + (diagnostic.hint ?? ""))
            #expect(result.plan.state == nil)
        }
    }

    @Test(arguments: ["https", "http", "s3", "gs", "abs", "ftp", "ftps"])
    func aSourceURLIsRefusedTheSameWay(_ scheme: String) throws {
        let text = """
        { "ferry": 1, "instances": { "d": { "engine": "sqlite", "path": "../v" } },
          "imports": { "i": { "into": "d", "database": "app", "format": "sql", "from": ["${env:SRC}"] } } }
        """
        for password in Self.passwords {
            let result = loadPlan(text, environment: ["SRC": "\(scheme)://AKID:\(password)@bucket.example/dumps/x.sql"])
            let diagnostic = try single(result, .invalidParameter)
            #expect(diagnostic.message.contains("a source url") && diagnostic.location?.jsonPath == "imports.i.from.0", "\(diagnostic)")
            Self.expectNoPiece(of: password, in: diagnostic.description + (diagnostic.hint ?? ""))
            #expect(result.hasErrors)
        }
    }

    @Test(arguments: ["ftp", "ftps", "s3", "gs", "abs"])
    func aBackupLocationIsRefusedTheSameWay(_ scheme: String) throws {
        let text = """
        { "ferry": 1, "instances": { "d": { "engine": "sqlite", "path": "../v" } },
          "backups": { "b": { "of": "d", "databases": ["app"], "to": "${env:TO}" } } }
        """
        for password in Self.passwords {
            let result = loadPlan(text, environment: ["TO": "\(scheme)://u:\(password)@bucket/sets"])
            let diagnostic = try single(result, .invalidParameter)
            #expect(diagnostic.message.contains("a backup's to") && diagnostic.location?.jsonPath == "backups.b.to", "\(diagnostic)")
            Self.expectNoPiece(of: password, in: diagnostic.description + (diagnostic.hint ?? ""))
        }
        // The plan's own ftp form, with the user's other parts from variables.
        let ftp = """
        { "ferry": 1, "instances": { "d": { "engine": "sqlite", "path": "../v" } },
          "backups": { "b": { "of": "d", "databases": ["app"], "to": "ftp://u:${env:PW}@${env:HOSTPART}/sets" } } }
        """
        let result = loadPlan(ftp, environment: ["PW": "x", "HOSTPART": "h/x@evil"])
        let diagnostic = try single(result, .invalidParameter)
        #expect(!diagnostic.description.contains("evil"), "\(diagnostic)")
    }
}
