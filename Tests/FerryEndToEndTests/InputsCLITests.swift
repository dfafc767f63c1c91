import Foundation
import Testing

/// Issue 16 (inputs, saved plans, secrets, errors) and issue 14 §4 (locks and claims), through the
/// built binary on SQLite instances.
@Suite struct InputsCLITests {
    // MARK: Saved plans (issue 16 §6)

    @Test func aSavedPlanLivesItsWholeLife() throws {
        let project = try Project()
        #expect(try project.run("init", ".").code == 0)
        // No state yet: the plan saved now is applied as reviewed.
        let saved = try project.run("plan", "--out", "first.plan")
        #expect(saved.code == 0, "\(saved.all)")
        #expect(!project.exists(".ferry/state.json"))
        let applied = try project.run("apply", "first.plan")
        #expect(applied.code == 0, "\(applied.all)")
        #expect(try project.query("var/test/app_test.db", "SELECT count(*) FROM users") == [["2"]])
        // Applied twice: the state moved on, so the second time is stale and changes nothing.
        let again = try project.run("apply", "first.plan")
        #expect(again.code == 1 && again.stderr.contains("error[PlanStale]"), "\(again.all)")
        #expect(again.stderr.contains("a state was written since the plan was saved"), "\(again.all)")

        // Existing state, nothing to do: the saved plan applies as a no-op.
        #expect(try project.run("plan", "--out", "noop.plan").code == 0)
        let noop = try project.run("apply", "noop.plan")
        #expect(noop.code == 0, "\(noop.all)")

        // After `state rm` the state's serial changed: stale.
        try project.write("plans/data/app.sql", "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL);\nINSERT INTO users(name) VALUES ('ada');\n")
        #expect(try project.run("plan", "--out", "edited.plan").code == 0)
        #expect(try project.run("state", "rm", "copy.dev-to-test").code == 0)
        let afterRemove = try project.run("apply", "edited.plan")
        #expect(afterRemove.code == 1 && afterRemove.stderr.contains("PlanStale"), "\(afterRemove.all)")
        #expect(try project.query("var/test/app_test.db", "SELECT count(*) FROM users") == [["2"]])
    }

    @Test func aSavedPlanIsStaleAfterARollback() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        #expect(try project.run("apply", "--auto-approve").code == 0)
        try project.write("plans/data/seed.sql", seedSQL + "INSERT INTO users VALUES (4, 'new');\n")
        #expect(try project.run("apply", "--auto-approve").code == 0)
        #expect(try project.query("var/b/app_copy.db", "SELECT count(*) FROM users") == [["4"]])
        let saved = try project.run("plan", "--out", "after.plan")
        #expect(saved.code == 0, "\(saved.all)")
        let runID = try #require(project.run("runs").stdout.split(separator: "\n").dropFirst().first?.split(separator: " ").first.map(String.init))
        let rollback = try project.run("rollback", runID)
        #expect(rollback.code == 0, "\(rollback.all)")
        #expect(try project.query("var/b/app_copy.db", "SELECT count(*) FROM users") == [["3"]])
        let stale = try project.run("apply", "after.plan")
        #expect(stale.code == 1 && stale.stderr.contains("PlanStale"), "\(stale.all)")
        #expect(try project.query("var/b/app_copy.db", "SELECT count(*) FROM users") == [["3"]])
    }

    // MARK: The state lock (issue 14 §4)

    @Test func anEmptyLockIsRemovedByUnlockOrTakenOverWhenOld() throws {
        let project = try Project()
        #expect(try project.run("init", ".").code == 0)
        try FileManager.default.createDirectory(atPath: project.root + "/.ferry", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: project.root + "/.ferry/state.lock", contents: Data()))
        let blocked = try project.run("apply", "--auto-approve")
        #expect(blocked.code == 1 && blocked.stderr.contains("error[StateLocked]"), "\(blocked.all)")
        #expect(blocked.stderr.contains("cannot be read") && blocked.stderr.contains("ferry unlock"), "\(blocked.all)")
        let unlocked = try project.run("unlock")
        #expect(unlocked.code == 0 && unlocked.stdout.contains("Removed the unreadable state lock"), "\(unlocked.all)")
        #expect(!project.exists(".ferry/state.lock"))
        #expect(try project.run("apply", "--auto-approve").code == 0)

        // A torn lock (garbage) older than the grace time is taken over by the next run.
        try project.write(".ferry/state.lock", "{\"id\": \"tor")
        var old = [timeval(tv_sec: time(nil) - 120, tv_usec: 0), timeval(tv_sec: time(nil) - 120, tv_usec: 0)]
        #expect(utimes(project.root + "/.ferry/state.lock", &old) == 0)
        let takenOver = try project.run("apply", "--auto-approve")
        #expect(takenOver.code == 0, "\(takenOver.all)")
        #expect(!project.exists(".ferry/state.lock"))
        // Nothing of the lock's temporary files stays.
        let names = try FileManager.default.contentsOfDirectory(atPath: project.root + "/.ferry")
        #expect(!names.contains { $0.hasPrefix("state.lock.") && $0.hasSuffix(".tmp") }, "\(names)")
        // Unlock with nothing locked says so.
        let none = try project.run("unlock")
        #expect(none.code == 1 && none.stderr.contains("not locked"), "\(none.all)")
    }

    // MARK: Claims (issue 14 §4)

    /// A pid that ran on this host and is gone now.
    func deadPID() throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }

    func writeClaims(_ project: Project, directory: String, _ claims: [[String: Any]]) throws {
        try FileManager.default.createDirectory(atPath: project.root + "/" + directory, withIntermediateDirectories: true)
        let data = try JSONSerialization.data(withJSONObject: claims)
        #expect(FileManager.default.createFile(atPath: project.root + "/\(directory)/.ferry-claims.json", contents: data))
    }

    @Test func aDeadRunsClaimsAreClearedOrReleasedByUnlockClaims() throws {
        let project = try Project()
        #expect(try project.run("init", ".").code == 0)
        let host = ProcessInfo.processInfo.hostName
        // A killed run whose state directory is gone, that left nothing: its claim is cleared.
        try writeClaims(project, directory: "var/dev", [
            ["database": "app", "role": "Importing", "runID": "20260101T000000000Z-dead01", "holder": "ci", "host": host, "pid": try deadPID()],
        ])
        let cleared = try project.run("apply", "--auto-approve")
        #expect(cleared.code == 0, "\(cleared.all)")
        #expect(!(project.read("var/dev/.ferry-claims.json") ?? "").contains("dead01"))

        // A dead run that left a shadow keeps its claim: refused with the holder named ...
        try project.write("plans/data/app.sql", "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL);\nINSERT INTO users(name) VALUES ('x');\n")
        try writeClaims(project, directory: "var/dev", [
            ["database": "app", "role": "Importing", "runID": "20260101T000000000Z-dead02", "holder": "ci", "host": host, "pid": try deadPID()],
        ])
        try project.write("var/dev/.app.ferry-shadow-20260101T000000000Z-dead02.db", "")
        let refused = try project.run("apply", "--auto-approve")
        #expect(refused.code == 1 && refused.stderr.contains("OperationDenied.WrongStatus"), "\(refused.all)")
        #expect(refused.stderr.contains("dead02") && refused.stderr.contains("pid") && refused.stderr.contains("unlock --claims"), "\(refused.all)")
        // ... until an operator releases it, after seeing what the run left.
        let released = try project.run("unlock", "--claims", "dev", "20260101T000000000Z-dead02")
        #expect(released.code == 0, "\(released.all)")
        #expect(released.stdout.contains(".app.ferry-shadow-20260101T000000000Z-dead02.db"), "\(released.all)")
        #expect(released.stdout.contains("Released the claims"), "\(released.all)")
        #expect(project.exists("var/dev/.app.ferry-shadow-20260101T000000000Z-dead02.db"), "leftovers stay for the operator")
        #expect(try project.run("apply", "--auto-approve").code == 0)

        // A claim from another host is never taken for dead; unlock --claims without RUN takes the only run.
        try writeClaims(project, directory: "var/test", [
            ["database": "app_test", "role": "Importing", "runID": "20260101T000000000Z-far003", "holder": "ci", "host": "elsewhere.example", "pid": 1],
        ])
        try project.write("plans/data/app.sql", "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL);\nINSERT INTO users(name) VALUES ('y');\n")
        let far = try project.run("apply", "--auto-approve")
        #expect(far.code == 1 && far.stderr.contains("elsewhere.example"), "\(far.all)")
        let farReleased = try project.run("unlock", "--claims", "test")
        #expect(farReleased.code == 0 && farReleased.stdout.contains("far003"), "\(farReleased.all)")
        #expect(try project.run("apply", "--auto-approve").code == 0)

        // A claim whose process is alive on this host is not released.
        try writeClaims(project, directory: "var/test", [
            ["database": "app_test", "role": "Importing", "runID": "20260101T000000000Z-live04", "holder": "me", "host": host, "pid": getpid()],
        ])
        let alive = try project.run("unlock", "--claims", "test", "20260101T000000000Z-live04")
        #expect(alive.code == 1 && alive.stderr.contains("still running"), "\(alive.all)")
        let nothing = try project.run("unlock", "--claims", "dev")
        #expect(nothing.code == 0 && nothing.stdout.contains("No run holds claims"), "\(nothing.all)")
    }

    // MARK: Secrets (issue 16 §7, §9)

    /// A python3 HTTP server on a free port serving `directory`; stopped with the returned process.
    func httpServer(_ directory: String) throws -> (Process, Int) {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketFD, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        close(socketFD)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", directory, String(port)]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<100 {
            let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var target = sockaddr_in()
            target.sin_family = sa_family_t(AF_INET)
            target.sin_addr.s_addr = inet_addr("127.0.0.1")
            target.sin_port = in_port_t(UInt16(port).bigEndian)
            let connected = withUnsafePointer(to: &target) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            close(probe)
            if connected == 0 { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return (process, port)
    }

    /// Every file under `.ferry/` and the saved plan, as text.
    func everythingWritten(_ project: Project) -> String {
        var text = project.read("saved.plan") ?? ""
        let base = project.root + "/.ferry"
        for path in FileManager.default.enumerator(atPath: base)?.compactMap({ $0 as? String }) ?? [] {
            text += project.read(".ferry/" + path) ?? ""
        }
        return text
    }

    @Test func secretsInSourceURLsNeverShow() throws {
        let files = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-http-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: files, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: files) }
        try seedSQL.write(toFile: files + "/seed.sql", atomically: true, encoding: .utf8)
        let (server, port) = try httpServer(files)
        // SIGKILL: the child inherits the test runner's blocked signals, so SIGTERM would wait forever.
        defer { server.signal(SIGKILL); server.waitUntilExit() }
        let secrets = ["access_token=S3CR3TA", "api_key=S3CR3TB", "X-Goog-Signature=S3CR3TC", "passwd=S3CR3TD", "sig%6eature=S3CR3TE"]
        for (index, secret) in secrets.enumerated() {
            let project = try Project()
            let userinfo = index == 0 ? "S3CR3TU@" : ""
            project.environment["SRC"] = "http://\(userinfo)127.0.0.1:\(port)/seed.sql?\(secret)&part=1#frag=S3CR3TF"
            try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
              "imports": { "seed": { "into": "a", "database": "app", "from": "${env:SRC}", "format": "sql" } } }
            """)
            var outputs: [Project.Result] = []
            outputs.append(try project.run("plan", "--out", "saved.plan"))
            #expect(outputs[0].code == 0, "\(outputs[0].all)")
            outputs.append(try project.run("show", "saved.plan"))
            outputs.append(try project.run("show", "saved.plan", "--format", "json"))
            outputs.append(try project.run("graph", "--format", "mermaid"))
            outputs.append(try project.run("apply", "saved.plan"))
            #expect(outputs[4].code == 0, "\(outputs[4].all)")
            outputs.append(try project.run("status"))
            outputs.append(try project.run("runs"))
            outputs.append(try project.run("state", "show", "import.seed"))
            outputs.append(try project.run("plan", "--format", "markdown"))
            for output in outputs {
                #expect(!output.all.contains("S3CR3T"), "\(secret): \(output.all)")
            }
            #expect(!everythingWritten(project).contains("S3CR3T"), "\(secret) in .ferry or the saved plan")
            #expect(try project.query("var/a/app.db", "SELECT count(*) FROM users") == [["3"]])
        }
    }

    /// Fresh tester round 35b, F6: an HTTP source (no ETag: Python's http.server) replaced by a
    /// file of another size with the same Last-Modified was planned "up to date". The digest now
    /// holds the answer's Content-Length; a state recorded with Last-Modified alone still reads
    /// the unchanged source as up to date.
    @Test func anHTTPSourceOfAnotherSizeWithTheSameLastModifiedHasChanged() throws {
        let files = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-http-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: files, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: files) }
        let file = files + "/seed.sql", stamp = Date(timeIntervalSince1970: 1_700_000_000)
        func publish(_ sql: String) throws {
            try sql.write(toFile: file, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.modificationDate: stamp], ofItemAtPath: file)
        }
        try publish(seedSQL)
        let (server, port) = try httpServer(files)
        defer { server.signal(SIGKILL); server.waitUntilExit() }
        let project = try Project()
        try project.write("plans/main.json", """
        { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
          "imports": { "seed": { "into": "a", "database": "app", "from": "http://127.0.0.1:\(port)/seed.sql", "format": "sql", "onExisting": "replace" } } }
        """)
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        #expect(try project.run("plan", "--detailed-exitcode").code == 0)
        // A state written before the length was part of the digest: still up to date.
        let statePath = project.root + "/.ferry/state.json"
        let state = try String(contentsOfFile: statePath, encoding: .utf8)
        let legacy = state.replacingOccurrences(of: #";size:\d+"#, with: "", options: .regularExpression)
        #expect(legacy != state, "the state holds the length: \(state)")
        try legacy.write(toFile: statePath, atomically: true, encoding: .utf8)
        let old = try project.run("plan", "--detailed-exitcode")
        #expect(old.code == 0, "\(old.all)")
        try state.write(toFile: statePath, atomically: true, encoding: .utf8)
        try publish(seedSQL + "INSERT INTO users VALUES (4, 'dora');\n")
        let changed = try project.run("plan", "--detailed-exitcode")
        #expect(changed.code == 2 && changed.all.contains("source changed"), "\(changed.all)")
        let drift = try project.run("plan", "--refresh-only")
        #expect(drift.all.contains("changed since it was imported"), "\(drift.all)")
    }

    /// Round 35 F10: a token put into a source URL's path by `${env:}` was written into the
    /// saved plan, the journal, the state and the 404 error (SPEC §9, "Values from the
    /// environment in a path").
    @Test func aValueFromTheEnvironmentInASourcePathNeverShows() throws {
        let files = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-http-\(UUID().uuidString.prefix(8))").path
        let token = "S3CR3TPATH9", encoded = "S3CR3T%20SPACE"
        for folder in [token, "d-\(token)-x", "S3CR3T SPACE"] {
            try FileManager.default.createDirectory(atPath: files + "/" + folder, withIntermediateDirectories: true)
            try seedSQL.write(toFile: files + "/\(folder)/seed.sql", atomically: true, encoding: .utf8)
        }
        defer { try? FileManager.default.removeItem(atPath: files) }
        let (server, port) = try httpServer(files)
        defer { server.signal(SIGKILL); server.waitUntilExit() }
        // A whole segment, part of one, a percent-encoded value, and a missing object (404).
        let cases: [(path: String, env: [String: String], applies: Bool)] = [
            ("/${env:TOK}/seed.sql", ["TOK": token], true),
            ("/d-${env:TOK}-x/seed.sql", ["TOK": token], true),
            ("/${env:TOK}/seed.sql", ["TOK": encoded], true),
            ("/${env:TOK}/missing.sql?part=1", ["TOK": token], false),
        ]
        for (path, env, applies) in cases {
            let project = try Project()
            project.environment.merge(env) { $1 }
            try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
              "imports": { "seed": { "into": "a", "database": "app", "from": "http://127.0.0.1:\(port)\(path)", "format": "sql" } } }
            """)
            var outputs: [Project.Result] = []
            outputs.append(try project.run("plan", "--out", "saved.plan"))
            #expect(outputs[0].code == 0, "\(path): \(outputs[0].all)")
            if applies {
                outputs.append(try project.run("show", "saved.plan", "--format", "json"))
                outputs.append(try project.run("apply", "saved.plan"))
                #expect(outputs.last?.code == 0, "\(path): \(outputs.last?.all ?? "")")
                outputs.append(try project.run("state", "show", "import.seed"))
                outputs.append(try project.run("runs"))
            } else {
                outputs.append(try project.run("apply", "--auto-approve"))
                #expect(outputs.last?.all.contains("404") == true, "the failure is named: \(outputs.last?.all ?? "")")
            }
            outputs.append(try project.run("plan", "--format", "markdown"))
            for output in outputs {
                #expect(!output.all.contains("S3CR3T"), "\(path): \(output.all)")
            }
            #expect(outputs[0].all.contains("127.0.0.1:\(port)/"), "the rest of the URL is shown: \(outputs[0].all)")
            #expect(!everythingWritten(project).contains("S3CR3T"), "\(path) in .ferry or the saved plan")
            if applies { #expect(try project.query("var/a/app.db", "SELECT count(*) FROM users") == [["3"]]) }
        }
    }

    @Test func aRejectedS3EndpointIsNeverEchoedWithItsPassword() throws {
        let project = try Project()
        project.environment["AWS_ACCESS_KEY_ID"] = "AKIAEXAMPLE"
        project.environment["AWS_SECRET_ACCESS_KEY"] = "S3CR3TKEY"
        try project.write("plans/main.json", """
        { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
          "imports": { "seed": { "into": "a", "database": "app", "from": "s3://bucket/seed.sql" } } }
        """)
        for endpoint in ["ftp://minio:HUNTER2@127.0.0.1:9", "http://minio:HUNTER2@127.0.0.1:9", "http://HUNTER2@127.0.0.1:9/?token=HUNTER2"] {
            project.environment["AWS_ENDPOINT_URL_S3"] = endpoint
            for args in [["plan"], ["plan", "--format", "json"], ["apply", "--auto-approve"], ["status"]] {
                let result = try project.run(args)
                #expect(!result.all.contains("HUNTER2"), "\(endpoint) \(args): \(result.all)")
                if args[0] == "apply" {
                    // Refused when the import opens its source: rolled back, the endpoint named redacted.
                    #expect(result.code == 3, "\(endpoint): \(result.all)")
                    #expect(result.all.contains("127.0.0.1:9"), "the endpoint is named: \(result.all)")
                }
            }
            #expect(!everythingWritten(project).contains("HUNTER2"), "in the journal or summary.json")
            #expect(everythingWritten(project).contains("127.0.0.1:9"), "the journal records the failure")
        }
    }

    // MARK: Control characters (issue 16 §10)

    @Test func controlCharactersFromPlanFilesArePrintedEscaped() throws {
        let project = try Project()
        let forged = "\\u001b[2J\\u001b[31m\\nerror[PlanStale]: the plan is stale\\u202e"
        try project.write("plans/main.json", """
        { "ferry": 1, "instances": { "a\(forged)": { "engine": "sqlite", "path": "../var/a" },
                                     "b": { "engine": "sqlite", "path": "../var/b\(forged)" } },
          "copies": { "c": { "from": "b", "to": "b", "databases": { "x\(forged)": "y" } } } }
        """)
        for args in [["validate"], ["plan"], ["plan", "--format", "json"], ["graph"], ["plan", "--no-color"]] {
            let result = try project.run(args)
            #expect(result.code == 1, "\(args): \(result.all)")
            #expect(!result.all.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{202E}" }, "\(args): \(result.all)")
            #expect(!result.all.split(separator: "\n").contains { $0.hasPrefix("error[PlanStale]") }, "\(args): \(result.all)")
            #expect(result.all.contains("\\u{1B}[2J"), "shown, not hidden: \(result.all)")
        }
    }

    // MARK: Sources that are not files (issue 16 §4, §15)

    @Test func aFIFOOrDeviceSourceIsAPlanErrorThatNeverBlocks() throws {
        let project = try Project()
        #expect(mkfifo(project.root + "/plans/data/pipe.sql", 0o600) == 0)
        for source in ["data/pipe.sql", "/dev/zero", "file:///dev/zero", "data", "gcs://bucket/x.sql", "xyz://b/x.sql"] {
            try project.write("plans/main.json", """
            { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
              "imports": { "seed": { "into": "a", "database": "app", "from": "\(source)", "format": "sql" } } }
            """)
            let started = Date()
            let result = try project.run("plan", "--allow-outside", "/dev")
            #expect(Date().timeIntervalSince(started) < 20, "\(source)")
            #expect(result.code == 1 && result.stderr.contains("imports.seed.from"), "\(source): \(result.all)")
        }
        // A plan file that is a FIFO is refused, never read.
        #expect(mkfifo(project.root + "/plans/zz-pipe.json", 0o600) == 0)
        for args in [["validate"], ["plan"], ["fmt"], ["fmt", "plans/zz-pipe.json"], ["validate", "plans/zz-pipe.json"]] {
            let started = Date()
            let result = try project.run(args)
            #expect(Date().timeIntervalSince(started) < 20, "\(args)")
            #expect(result.code == 1 && result.stderr.contains("FIFO"), "\(args): \(result.all)")
        }
        unlink(project.root + "/plans/zz-pipe.json")
        try project.write("plans/main.json", """
        { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
          "backups": { "b": { "of": "a", "databases": ["app"], "to": "sftp://host/backups/" } } }
        """)
        let backup = try project.run("validate")
        #expect(backup.code == 1 && backup.stderr.contains("backups.b.to"), "\(backup.all)")
        #expect(!project.exists("plans/sftp:"))
    }

    // MARK: fmt and invalid UTF-8 (issue 16 §5)

    @Test func fmtRefusesWhatValidateRefusesAndKeepsTheBytes() throws {
        let project = try Project()
        var bytes = Array("{\"ferry\": 1, \"instances\": {\"a\": {\"engine\": \"sqlite\",\n \"path\": \"caf".utf8)
        bytes.append(0xE9)
        bytes += Array("\"}}}\n".utf8)
        let original = Data(bytes)
        #expect(FileManager.default.createFile(atPath: project.root + "/plans/main.json", contents: original))
        let surrogate = Data("{\"ferry\": 1, \"instances\": {\"a\": {\"engine\": \"sqlite\", \"path\": \"\\ud800\"}}}".utf8)
        #expect(FileManager.default.createFile(atPath: project.root + "/plans/other.json", contents: surrogate))
        let validate = try project.run("validate")
        #expect(validate.code == 1 && validate.stderr.contains("InvalidParameter.Syntax"), "\(validate.all)")
        for args in [["fmt"], ["fmt", "--check"], ["fmt", "plans/main.json"]] {
            let result = try project.run(args)
            #expect(result.code == 1, "\(args): \(result.all)")
            #expect(result.stderr.contains("not valid UTF-8") && result.stderr.contains("plans/main.json:2:"), "\(result.all)")
            #expect(project.fileBytes("plans/main.json") == original, "fmt changed bytes it could not read")
            #expect(project.fileBytes("plans/other.json") == surrogate)
        }
    }

    // MARK: Errors that say what happened (issue 16 §11, §14)

    @Test func machineFactsHaveTheirOwnCodesWithThePath() throws {
        let project = try Project()
        try project.write("plans/main.json", """
        { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" },
                                     "m": { "engine": "mysql", "url": "mysql://u@127.0.0.1:1", "password": { "file": "../secrets/none" } } },
          "imports": { "seed": { "into": "a", "database": "app", "from": "data/seed.sql" } } }
        """)
        try project.write("plans/data/seed.sql", seedSQL)
        let missing = try project.run("validate")
        #expect(missing.code == 1, "\(missing.all)")
        #expect(missing.stderr.contains("error[InvalidParameter.SecretUnreadable]") && missing.stderr.contains("secrets/none"), "\(missing.all)")
        #expect(!missing.stderr.contains("Internal"))
    }

    @Test func oneDiagnosticPerUnsetVariable() throws {
        let project = try Project()
        let imports = (0..<5_000).map { "\"i\($0)\": { \"into\": \"a\", \"database\": \"${env:NOPE}\", \"from\": \"s3://b/k.sql\" }" }
        try project.write("plans/main.json", "{ \"ferry\": 1, \"instances\": { \"a\": { \"engine\": \"sqlite\", \"path\": \"v\" } },\n \"imports\": {\n" + imports.joined(separator: ",\n") + "\n} }")
        let result = try project.run("validate")
        #expect(result.code == 1)
        #expect(result.stderr.components(separatedBy: "error[InvalidParameter.UnsetVariable]").count == 2, "\(result.stderr.prefix(2000))")
        #expect(result.stderr.contains("5000 references"))
        #expect(result.stderr.utf8.count < 2_000, "\(result.stderr.utf8.count) bytes")
    }
}

/// Issue 16 §11 on real file systems: a read-only instance directory and a full disk under the
/// state. A small tmpfs where this user may mount one (root in CI containers); otherwise the
/// read-only case uses permissions and the full disk a file-size limit (RLIMIT_FSIZE).
@Suite(.serialized) struct MachineFactsCLITests {
    /// Mounts a tmpfs of `size` at `path` (`ro` for read-only); false when this user cannot.
    func mountTmpfs(_ path: String, size: String, readOnly: Bool = false) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/mount")
        process.arguments = ["-t", "tmpfs", "-o", (readOnly ? "ro," : "") + "size=\(size)", "tmpfs", path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    func unmount(_ path: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/umount")
        process.arguments = [path]
        try? process.run()
        process.waitUntilExit()
    }

    @Test func aReadOnlyInstanceDirectoryIsReadOnlyWithItsPath() throws {
        let project = try Project()
        try project.write("plans/main.json", """
        { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
          "imports": { "seed": { "into": "a", "database": "app", "from": "data/seed.sql" } } }
        """)
        try project.write("plans/data/seed.sql", seedSQL)
        let directory = project.root + "/var/a"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let mounted = getuid() == 0 && mountTmpfs(directory, size: "64k", readOnly: true)
        defer { if mounted { unmount(directory) } }
        if !mounted { #expect(chmod(directory, 0o555) == 0) }
        if getuid() == 0 && !mounted { return }  // root ignores permissions, and cannot mount here: nothing to test
        let result = try project.run("apply", "--auto-approve")
        #expect(result.code == 1 || result.code == 3, "\(result.all)")
        #expect(result.stderr.contains("error[OperationDenied.ReadOnly]"), "\(result.all)")
        #expect(result.stderr.contains("var/a"), "the path is named: \(result.all)")
        #expect(!result.stderr.contains("error[Internal]"), "\(result.all)")
        if !mounted { _ = chmod(directory, 0o755) }
    }

    @Test func aFullDiskUnderTheStateIsDiskFullWithItsPath() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        try project.write("plans/data/seed.sql", seedSQL)
        let state = project.root + "/small-state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let mounted = getuid() == 0 && mountTmpfs(state, size: "16k")
        defer { if mounted { unmount(state) } }
        let result: Project.Result
        if mounted {
            // Fill it up but for a few bytes.
            let filler = project.root + "/small-state/filler"
            let handle = try #require(FileHandle(forWritingAtPath: {
                _ = FileManager.default.createFile(atPath: filler, contents: nil); return filler }()))
            let chunk = Data(repeating: 0, count: 512)
            while (try? handle.write(contentsOf: chunk)) != nil {}
            try? handle.close()
            result = try project.run("apply", "--auto-approve", "--state", state)
        } else {
            // A 4 KiB file-size limit: the journal outgrows it first.
            result = try project.runShell("ulimit -f 8; exec '\(Project.binary)' apply --auto-approve --state '\(state)'")
        }
        #expect(result.code != 0, "\(result.all)")
        #expect(result.all.contains("error[DiskFull]"), "\(result.all)")
        #expect(result.all.contains("small-state"), "the path is named: \(result.all)")
        #expect(!result.all.contains("error[Internal]"), "\(result.all)")
        // No empty or torn lock is left to block the next run (issue 14 §4).
        #expect(!FileManager.default.fileExists(atPath: state + "/state.lock"))
        // Nothing was swapped in: the instances are as before (b has no copy yet).
        #expect(!project.exists("var/b/app_copy.db"))
    }

    @Test func aFileSizeLimitMidImportIsDiskFullAndRolledBack() throws {
        let project = try Project()
        try project.write("plans/main.json", twoInstancePlan())
        let rows = (1...2_000).map { "INSERT INTO users VALUES (\($0 + 10), '\(String(repeating: "x", count: 40))');" }
        try project.write("plans/data/seed.sql", seedSQL + rows.joined(separator: "\n") + "\n")
        // 16 KiB per file (sh counts 512-byte blocks): the state's files fit, the database does not.
        let result = try project.runShell("ulimit -f 32; NO_COLOR=1 exec '\(Project.binary)' apply --auto-approve")
        #expect(result.code == 3, "\(result.all)")
        #expect(result.all.contains("error[DiskFull]") && result.all.contains("var/a"), "\(result.all)")
        #expect(result.all.contains("rolled back completely"), "\(result.all)")
        #expect(!project.exists("var/a/app.db"))
        #expect(project.leftovers(in: "var/a").isEmpty, "\(project.leftovers(in: "var/a"))")
    }
}

/// Issue 16 §12 through the binary: a database named `日本` on the latin1 test servers is
/// imported and copied like any other.
@Suite(.serialized) struct MySQLNamesCLITests {
    @Test func aDatabaseNamedInJapaneseIsImportedAndCopied() throws {
        let env = ProcessInfo.processInfo.environment
        let urlA = try #require(env["FERRY_TEST_MYSQL_A"], "run through scripts/test.sh")
        let urlB = try #require(env["FERRY_TEST_MYSQL_B"])
        let project = try Project()
        func sql(_ url: String, _ statements: String) throws -> String {
            let c = try #require(URLComponents(string: url))
            try statements.write(toFile: project.root + "/q.sql", atomically: true, encoding: .utf8)
            let result = try project.runShell("MYSQL_PWD=\"$FERRY_TEST_MYSQL_PASSWORD\" mariadb --default-character-set=utf8mb4 -h\(c.host ?? "127.0.0.1") -P\(c.port ?? 3306) -u\(c.user ?? "root") -N -B < q.sql")
            #expect(result.code == 0, "\(result.all)")
            return result.stdout
        }
        let name = "日本_\(UUID().uuidString.prefix(4).lowercased())"
        defer {
            _ = try? sql(urlA, "DROP DATABASE IF EXISTS `\(name)`;")
            _ = try? sql(urlB, "DROP DATABASE IF EXISTS `\(name)`;")
        }
        try project.write("plans/data/seed.sql", "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20) CHARACTER SET utf8mb4);\nINSERT INTO t VALUES (1, '東京'), (2, 'x');\n")
        try project.write("plans/main.json", """
        { "ferry": 1,
          "instances": {
            "a": { "engine": "mysql", "url": "\(urlA)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } },
            "b": { "engine": "mysql", "url": "\(urlB)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
          "imports": { "seed": { "into": "a", "database": "\(name)", "from": "data/seed.sql" } },
          "copies": { "c": { "from": "a", "to": "b", "databases": ["\(name)"] } } }
        """)
        let applied = try project.run("apply", "--auto-approve")
        #expect(applied.code == 0, "\(applied.all)")
        #expect(try sql(urlB, "SELECT id, v FROM `\(name)`.t ORDER BY id;") == "1\t東京\n2\tx\n")
        #expect(try project.run("plan", "--detailed-exitcode").code == 0, "nothing left to do")
    }
}
