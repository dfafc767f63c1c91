import Foundation
import Testing

/// Whether this process may mount a tmpfs: tried once on a scratch directory.
enum TmpfsMount {
    static let allowed: Bool = {
        guard getuid() == 0 else { return false }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-mount-probe-\(getpid())").path
        guard (try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)) != nil else { return false }
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func run(_ tool: String, _ arguments: [String]) -> Bool {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            guard (try? process.run()) != nil else { return false }
            process.waitUntilExit()
            return process.terminationStatus == 0
        }
        guard run("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", directory]) else { return false }
        return run("/bin/umount", [directory])
    }()
}

/// Fresh tester round 19, F5 (issue 14): a MariaDB server whose disk fills up during a copy. The
/// proof that Ferry's shadow holds only what the run made reads `information_schema` tables that
/// MariaDB materializes on its disk (views, routines, triggers, events, the processlist), which a
/// full disk refuses (1021); neither the apply's rollback nor `ferry recover` could drop the
/// shadow, the one big thing the run put there. Now both drop it (room is made by emptying the
/// tables the run's build listed: InnoDB's tablespaces discarded) and the target is exactly as
/// it was. A shadow with an Aria table holding rows is left whole until there is room (round 29,
/// F4: an Aria `TRUNCATE` on a full disk waited for room, and the recover with it).
///
/// The server's whole directory is a tmpfs (`scripts/mysql-servers.sh start-extra NAME PORT
/// --tmpfs SIZE`): root with mount rights, as in this project's containers; elsewhere the
/// suite is skipped, and says so.
@Suite(.serialized, .enabled(if: TmpfsMount.allowed, "mounting a tmpfs for the server needs root and mount rights"))
struct MySQLFullDiskTests {
    let cli = MySQLCLITests()

    func trimmed(_ text: String) -> String { text.trimmingCharacters(in: .whitespacesAndNewlines) }

    /// Free bytes of the file system at `path` for an ordinary writer (`statvfs`'s `f_bavail`).
    func freeBytes(_ path: String) -> Int64 {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return -1 }
        return Int64(stats.f_bavail) * Int64(stats.f_frsize)
    }

    /// Appends to `file` until the file system has about `leaving` bytes free; with 0, until a
    /// write of one byte is refused (`ENOSPC`): the disk is full to its last byte.
    ///
    /// Opened `O_CLOEXEC`: other suites start servers through `system()` meanwhile, and a server
    /// started while this file was open held it open for good, so removing it made no room (a
    /// CI run's recover then met `DiskFull` with the filler gone).
    func fill(_ file: String, leaving: Int64 = 0) {
        let fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { Issue.record("cannot open \(file)"); return }
        defer { close(fd) }
        let directory = (file as NSString).deletingLastPathComponent
        let chunk = [UInt8](repeating: 0, count: 1 << 20)
        var size = chunk.count
        while true {
            let free = freeBytes(directory)
            if leaving > 0 && free <= leaving { return }
            let want = leaving > 0 ? min(size, Int(free - leaving)) : size
            let written = chunk.withUnsafeBytes { write(fd, $0.baseAddress, want) }
            if written < 0 {
                guard errno == ENOSPC else { Issue.record("writing \(file): errno \(errno)"); return }
                if size == 1 { return }
                size = max(1, size / 16)
            }
        }
    }

    /// Removes the filler `fill` wrote in `directory`; the room it held must be free again
    /// (no process keeps the file open), or what the test says next would be about the filler.
    func makeRoom(_ directory: String) throws {
        try FileManager.default.removeItem(atPath: directory + "/filler")
        #expect(freeBytes(directory) >= 4 << 20, "removing the filler made room: \(freeBytes(directory)) bytes free")
    }

    /// A stopped process (`FERRY_TEST_STOP_AT`): its state in /proc is `T`.
    func isStopped(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(close, offsetBy: 2)...].hasPrefix("T")
    }

    /// The whole setting: a server on a 320 MB tmpfs (about 160 MB free once it runs), a source
    /// of about 80 MB on server A, a target with its own table and view there. An apply stopped
    /// once its shadow exists gets the disk filled to 30 MB free, so the data load fills it up
    /// (`DiskFull`, the step journaled as failed, where it stops again); the disk is then filled
    /// to its last byte. `then` gets the stopped apply.
    /// With `importing`, the same rows come from an 80 MB `.sql` file imported into the target
    /// instead. `atFailure` runs at the second stop with the shadow's name, a megabyte freed
    /// for it (the filler shortened), before the disk is filled to its last byte. With
    /// `verified`, the source has an Aria table too, and the apply stops once its build, finish
    /// and verify are done (the shadow's content recorded, before the swap), where the disk is
    /// filled to its last byte.
    func withApplyStoppedOnAFullDisk(name: String, portVariable: String, defaultPort: String, importing: Bool = false, verified: Bool = false,
                                     shadowStays: Bool = false, partitioned: Bool = false, ariaNotes: Bool = true,
                                     atFailure: ((Project, MySQLCLITests.Server, String) throws -> Void)? = nil,
                                     _ then: (Project, MySQLCLITests.Server, String, String, Process, String) throws -> Void) throws {
        let project = try Project()
        let a = try cli.server("FERRY_TEST_MYSQL_A")
        let (c, directory) = try startServerOnATmpfs(project, name: name, portVariable: portVariable, defaultPort: defaultPort)
        defer { _ = cli.serverScript(project, "stop-extra \(name)") }
        let tag = "fd\(UUID().uuidString.prefix(6).lowercased())"
        try cli.sql(project, a, """
        DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`;
        CREATE TABLE `\(tag)`.big(id INT PRIMARY KEY, v VARCHAR(1000)) ENGINE=InnoDB;
        INSERT INTO `\(tag)`.big SELECT seq, REPEAT(MD5(seq), 28) FROM `\(tag)`.seq_1_to_80000;
        """)
        if verified && ariaNotes {
            // An Aria (or MyISAM) write on a full disk waits for room instead of failing: the
            // disk fills only once the copy is loaded.
            try cli.sql(project, a, "CREATE TABLE `\(tag)`.notes(id INT PRIMARY KEY, v VARCHAR(500)) ENGINE=Aria; INSERT INTO `\(tag)`.notes SELECT seq, REPEAT('n', 400) FROM `\(tag)`.seq_1_to_10000;")
        }
        if partitioned {
            try cli.sql(project, a, "CREATE TABLE `\(tag)`.parts(id INT PRIMARY KEY) ENGINE=InnoDB PARTITION BY HASH(id) PARTITIONS 3; INSERT INTO `\(tag)`.parts SELECT seq FROM `\(tag)`.seq_1_to_1000;")
        }
        defer { _ = try? cli.sql(project, a, "DROP DATABASE IF EXISTS `\(tag)`;") }
        try cli.sql(project, c, """
        DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`;
        CREATE TABLE `\(tag)`.big(id INT PRIMARY KEY, v VARCHAR(1000)); INSERT INTO `\(tag)`.big VALUES (1, 'old'), (2, 'kept');
        CREATE TABLE `\(tag)`.mine(k VARCHAR(10) PRIMARY KEY) ENGINE=Aria; INSERT INTO `\(tag)`.mine VALUES ('only-here');
        CREATE VIEW `\(tag)`.v AS SELECT id FROM `\(tag)`.big;
        """)
        let snapshot = """
        SELECT * FROM `\(tag)`.big ORDER BY id; SELECT * FROM `\(tag)`.mine; CHECKSUM TABLE `\(tag)`.big, `\(tag)`.mine;
        SHOW CREATE VIEW `\(tag)`.v; SHOW FULL TABLES FROM `\(tag)`;
        """
        let before = try cli.sql(project, c, snapshot)
        if importing {
            var dump = "CREATE TABLE big(id INT PRIMARY KEY, v VARCHAR(1000)) ENGINE=InnoDB;\n"
            for batch in 0..<80 {
                dump += "INSERT INTO big VALUES "
                dump += (1...1000).map { i in "(\(batch * 1000 + i), '\(String(repeating: String(format: "%08x", batch * 1000 + i), count: 112))')" }.joined(separator: ",")
                dump += ";\n"
            }
            try project.write("plans/data/big.sql", dump)
            try project.write("plans/main.json", """
            { "ferry": 1,
              "instances": { "dst": { "engine": "mysql", "url": "\(c.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
              "imports": { "seed": { "into": "dst", "database": "\(tag)", "from": "data/big.sql", "onExisting": "replace" } } }
            """)
        } else {
            try project.write("plans/main.json", cli.plan(a, c, databases: "[\"\(tag)\"]"))
        }

        project.environment["FERRY_TEST_STOP_AT"] = verified ? "after-stepDone#3" : "after-shadowCreated,after-stepFailed"
        let log = project.root + "/apply.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let process = try project.start(["apply", "--auto-approve"], stdout: try FileHandle(forWritingTo: URL(fileURLWithPath: log)))
        project.environment["FERRY_TEST_STOP_AT"] = nil
        defer { if process.isRunning { process.signal(SIGKILL); process.waitUntilExit() } }
        func awaitStop(_ what: String) throws {
            let deadline = Date().addingTimeInterval(120)
            while !isStopped(process.processIdentifier) && process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            try #require(isStopped(process.processIdentifier), "apply never reached \(what): \(project.read("apply.log") ?? "")")
        }
        let filler = directory + "/filler"
        if verified {
            try awaitStop("its verify")
        } else {
            try awaitStop("its shadow")
            fill(filler, leaving: 30 << 20)
            process.signal(SIGCONT)
            try awaitStop("its failed load")
        }
        if let atFailure {
            let size = ((try? FileManager.default.attributesOfItem(atPath: filler))?[.size] as? Int64) ?? 0
            if size > 0 { #expect(truncate(filler, off_t(max(0, size - (1 << 20)))) == 0) }
            let shadow = trimmed(try cli.sql(project, c, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)\\_\\_ferry\\_s\\_%';"))
            try atFailure(project, c, shadow)
        }
        fill(filler)
        #expect(freeBytes(directory) == 0, "the disk is full to its last byte")
        try then(project, c, tag, directory, process, snapshot)
        #expect(try cli.sql(project, c, snapshot) == before, "the target is exactly as it was")
        guard !shadowStays else { return }
        let left = try cli.sql(project, c, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)%';")
        #expect(left.split(separator: "\n") == ["\(tag)"], "no shadow stays: \(left)")
        #expect(trimmed(try cli.sql(project, c, "SELECT COUNT(*) FROM ferry_meta.claims;")) == "0", "the claims are released")
        #expect(freeBytes(directory) > 20 << 20, "the shadow's room is free again")
    }

    /// Starts the extra MariaDB server `name` on a 320 MB tmpfs (three tries: a mount can fail
    /// for a moment); returns it and its data directory. The caller stops it (`stop-extra`).
    func startServerOnATmpfs(_ project: Project, name: String, portVariable: String, defaultPort: String) throws -> (MySQLCLITests.Server, String) {
        let a = try cli.server("FERRY_TEST_MYSQL_A")
        let port = ProcessInfo.processInfo.environment[portVariable] ?? defaultPort
        let started = project.startExtraServer("mysql-servers.sh", "\(name) \(port) --tmpfs 320m", unless: "cannot mount")
        if started.code != 0 { _ = cli.serverScript(project, "stop-extra \(name)") }
        try #require(started.code == 0, "cannot start a MariaDB server on a tmpfs: \(started.output)")
        let directory = try #require(started.output.split(separator: "\n").first { $0.hasPrefix("dir: ") }.map { String($0.dropFirst(5)) })
        return (MySQLCLITests.Server(url: "mysql://\(a.user)@127.0.0.1:\(port)", host: "127.0.0.1", port: port, user: a.user), directory)
    }

    /// Lets the stopped apply go on and returns what it printed once it ended.
    func resume(_ process: Process, _ project: Project) -> String {
        process.signal(SIGCONT)
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { Issue.record("apply did not end") }
        process.waitUntilExit()
        return project.read("apply.log") ?? ""
    }

    /// The apply's own rollback drops its shadow on the full disk: exit 3, "as they were".
    @Test func theRollbackDropsItsShadowOnAFullDisk() throws {
        try withApplyStoppedOnAFullDisk(name: "full", portVariable: "FERRY_TEST_MYSQL_PORT_F", defaultPort: "23065") { project, _, _, _, process, _ in
            let output = resume(process, project)
            #expect(output.contains("DiskFull"), "the load failed for the full disk: \(output)")
            #expect(process.terminationStatus == 3 && output.contains("rolled back completely"), "\(output)")
            // Nothing pending: the plan is the same copy again. Whether the disk, still full but
            // for the shadow's room, fits that copy depends on InnoDB's size estimate of the source
            // (`data_length`), which its background statistics refresh at their own time (a CI
            // run saw 82.4 MB incoming against 30.4 MB free): a refusal for room alone is that.
            let next = try project.run("plan", "--detailed-exitcode")
            let refusedForRoomOnly = next.code == 1 && next.all.contains("error[StorageLimitExceeded]: instance dst has")
                && next.all.components(separatedBy: "error[").count == 2
            #expect(next.code == 2 || refusedForRoomOnly, "nothing pending: the plan is the same copy again: \(next.all)")
        }
    }

    /// Killed right after its failed load, the disk full: `ferry recover` drops the shadow and
    /// says the instances are as they were before.
    @Test func recoverDropsTheShadowOfAKilledRunOnAFullDisk() throws {
        try withApplyStoppedOnAFullDisk(name: "fullr", portVariable: "FERRY_TEST_MYSQL_PORT_G", defaultPort: "23066") { project, _, _, _, process, _ in
            process.signal(SIGKILL)
            process.waitUntilExit()
            let recovered = try project.run("recover")
            #expect(recovered.code == 0 && recovered.all.contains("as they were before"), "\(recovered.all)")
            let listed = try project.run("runs").stdout
            #expect(listed.contains("rolledBack"), "\(listed)")
        }
    }

    /// An import's shadow on the full disk (the tester's `.sql` variant): the rollback drops it.
    @Test func theRollbackDropsAnImportsShadowOnAFullDisk() throws {
        try withApplyStoppedOnAFullDisk(name: "fulli", portVariable: "FERRY_TEST_MYSQL_PORT_F", defaultPort: "23065", importing: true) { project, _, _, _, process, _ in
            let output = resume(process, project)
            #expect(output.contains("DiskFull"), "the import failed for the full disk: \(output)")
            #expect(process.terminationStatus == 3 && output.contains("rolled back completely"), "\(output)")
        }
    }

    /// Someone's trigger on the shadow's table, made after the load failed: room is made (the
    /// table's tablespace goes, its definition and the trigger stay), and the proof, read then,
    /// keeps the shadow for the trigger (exit 4, the trigger named). Once its owner drops it,
    /// `ferry recover` drops the shadow.
    @Test func aShadowHoldingSomeonesTriggerIsKeptOnAFullDiskAndItsTriggerToo() throws {
        try withApplyStoppedOnAFullDisk(name: "fullt", portVariable: "FERRY_TEST_MYSQL_PORT_G", defaultPort: "23066", atFailure: { project, c, shadow in
            try cli.sql(project, c, "CREATE TRIGGER `\(shadow)`.theirs BEFORE INSERT ON `\(shadow)`.big FOR EACH ROW SET NEW.v = NEW.v;")
        }) { project, c, tag, _, process, _ in
            let output = resume(process, project)
            #expect(process.terminationStatus == 4 && output.contains("theirs"), "the shadow is kept for the trigger: \(output)")
            let shadow = trimmed(try cli.sql(project, c, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)\\_\\_ferry\\_s\\_%';"))
            #expect(!shadow.isEmpty, "the shadow stays")
            #expect(trimmed(try cli.sql(project, c, "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '\(shadow)';")) == "theirs",
                    "the trigger is kept")
            try cli.sql(project, c, "DROP TRIGGER `\(shadow)`.theirs;")
            let recovered = try project.run("recover")
            #expect(recovered.code == 0, "\(recovered.all)")
        }
    }

    /// Killed before its swap, once its verify recorded the shadow's content, the disk full: the
    /// recover makes room only after the rows are found to be what the verify read (the InnoDB
    /// table's tablespace discarded), then drops the shadow.
    @Test func recoverDropsAVerifiedShadowOnAFullDisk() throws {
        try withApplyStoppedOnAFullDisk(name: "fullv", portVariable: "FERRY_TEST_MYSQL_PORT_F", defaultPort: "23065", verified: true, ariaNotes: false) { project, c, tag, _, process, _ in
            let shadow = trimmed(try cli.sql(project, c, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)\\_\\_ferry\\_s\\_%';"))
            #expect(trimmed(try cli.sql(project, c, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '\(shadow)' AND TABLE_NAME LIKE '\\_\\_ferry\\_token%';")) == "1",
                    "the verify recorded the shadow's content")
            process.signal(SIGKILL)
            process.waitUntilExit()
            let recovered = try project.run("recover")
            #expect(recovered.code == 0 && recovered.all.contains("as they were before"), "\(recovered.all)")
        }
    }

    /// The same, with a row of the verified shadow changed by someone before the disk filled:
    /// nothing is emptied (the rows are not what the verify read), the recover stays pending with
    /// `DiskFull`, the changed row is still there; with room again, the shadow is kept for that
    /// write, as on any disk.
    @Test func aVerifiedShadowWrittenSinceIsNotEmptiedOnAFullDisk() throws {
        try withApplyStoppedOnAFullDisk(name: "fullw", portVariable: "FERRY_TEST_MYSQL_PORT_G", defaultPort: "23066", verified: true, shadowStays: true,
                                        atFailure: { project, c, shadow in
            try cli.sql(project, c, "UPDATE `\(shadow)`.notes SET v = 'theirs' WHERE id = 7;")
        }) { project, c, tag, directory, process, _ in
            process.signal(SIGKILL)
            process.waitUntilExit()
            let full = try project.run("recover")
            #expect(full.code == 4 && full.all.contains("DiskFull"), "\(full.all)")
            let shadow = trimmed(try cli.sql(project, c, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)\\_\\_ferry\\_s\\_%';"))
            #expect(trimmed(try cli.sql(project, c, "SELECT v FROM `\(shadow)`.notes WHERE id = 7;")) == "theirs", "the write is kept")
            #expect(trimmed(try cli.sql(project, c, "SELECT COUNT(*) FROM `\(shadow)`.big;")) == "80000", "nothing was emptied")
            try makeRoom(directory)
            let roomy = try project.run("recover")
            #expect(roomy.code == 4 && roomy.all.contains("writes Ferry did not make"), "\(roomy.all)")
            #expect(trimmed(try cli.sql(project, c, "SELECT v FROM `\(shadow)`.notes WHERE id = 7;")) == "theirs", "the write is kept")
        }
    }

    /// Fresh tester round 29, F4: a verified shadow with an Aria table holding rows (its
    /// `TRUNCATE` would wait for room): the recover ends at once, pending with `DiskFull`,
    /// nothing emptied; once there is room, it drops the shadow.
    @Test func aShadowWithAnAriaTableIsLeftWholeWithoutWaitingForRoom() throws {
        try withApplyStoppedOnAFullDisk(name: "fulla", portVariable: "FERRY_TEST_MYSQL_PORT_G", defaultPort: "23066", verified: true) { project, c, tag, directory, process, _ in
            process.signal(SIGKILL)
            process.waitUntilExit()
            let started = Date()
            let full = try project.run("recover")
            #expect(full.code == 4 && full.all.contains("DiskFull"), "\(full.all)")
            #expect(Date().timeIntervalSince(started) < 60, "the recover did not wait for room")
            let shadow = trimmed(try cli.sql(project, c, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)\\_\\_ferry\\_s\\_%';"))
            #expect(trimmed(try cli.sql(project, c, "SELECT CONCAT_WS(',', (SELECT COUNT(*) FROM `\(shadow)`.big), (SELECT COUNT(*) FROM `\(shadow)`.notes));"))
                    == "80000,10000", "nothing was emptied")
            try makeRoom(directory)
            let roomy = try project.run("recover")
            #expect(roomy.code == 0 && roomy.all.contains("as they were before"), "\(roomy.all)")
        }
    }

    /// A verified shadow with a partitioned table (MariaDB discards no partitioned tablespace,
    /// and `TRUNCATE` needs room): nothing is emptied, the recover stays pending with `DiskFull`
    /// and every row of the shadow is still there; once there is room, it drops the shadow.
    @Test func aShadowWithATableThatCannotBeEmptiedIsLeftWholeUntilThereIsRoom() throws {
        try withApplyStoppedOnAFullDisk(name: "fullp", portVariable: "FERRY_TEST_MYSQL_PORT_F", defaultPort: "23065", verified: true,
                                        partitioned: true) { project, c, tag, directory, process, _ in
            process.signal(SIGKILL)
            process.waitUntilExit()
            let full = try project.run("recover")
            #expect(full.code == 4 && full.all.contains("DiskFull"), "\(full.all)")
            let shadow = trimmed(try cli.sql(project, c, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)\\_\\_ferry\\_s\\_%';"))
            #expect(trimmed(try cli.sql(project, c, "SELECT CONCAT_WS(',', (SELECT COUNT(*) FROM `\(shadow)`.big), (SELECT COUNT(*) FROM `\(shadow)`.notes), (SELECT COUNT(*) FROM `\(shadow)`.parts));"))
                    == "80000,10000,1000", "nothing was emptied")
            try makeRoom(directory)
            let roomy = try project.run("recover")
            #expect(roomy.code == 0 && roomy.all.contains("as they were before"), "\(roomy.all)")
        }
    }

    /// Fresh tester round 30, F4: an import killed with its import account still there and its
    /// shadow loaded (an Aria table with rows in it), then the disk filled to its last byte:
    /// `ferry recover` ends at once, pending with `DiskFull`. It never sends the account's
    /// `DROP USER`, which MariaDB would hold until there is room (an Aria system table); once
    /// there is room, it drops the shadow and the account.
    @Test func anImportAccountIsNotDroppedOnAFullDisk() throws {
        let project = try Project()
        let (c, directory) = try startServerOnATmpfs(project, name: "fulli", portVariable: "FERRY_TEST_MYSQL_PORT_G", defaultPort: "23066")
        defer { _ = cli.serverScript(project, "stop-extra fulli") }
        let tag = "fi\(UUID().uuidString.prefix(6).lowercased())"
        try cli.sql(project, c, """
        DROP DATABASE IF EXISTS `\(tag)`; CREATE DATABASE `\(tag)`;
        CREATE TABLE `\(tag)`.mine(k VARCHAR(10) PRIMARY KEY) ENGINE=Aria; INSERT INTO `\(tag)`.mine VALUES ('only-here');
        """)
        let snapshot = "SELECT * FROM `\(tag)`.mine; CHECKSUM TABLE `\(tag)`.mine; SHOW FULL TABLES FROM `\(tag)`;"
        let before = try cli.sql(project, c, snapshot)
        var dump = "CREATE TABLE notes(id INT PRIMARY KEY, v VARCHAR(500)) ENGINE=Aria;\n"
        dump += "INSERT INTO notes VALUES " + (1...5000).map { "(\($0), '\(String(repeating: "n", count: 400))')" }.joined(separator: ",") + ";\n"
        dump += "CREATE TABLE big(id INT PRIMARY KEY, v VARCHAR(1000)) ENGINE=InnoDB;\n"
        for batch in 0..<20 {
            dump += "INSERT INTO big VALUES " + (1...1000).map { "(\(batch * 1000 + $0), '\(String(repeating: "b", count: 800))')" }.joined(separator: ",") + ";\n"
        }
        dump += "CREATE VIEW vv AS SELECT id FROM notes;\n"
        try project.write("plans/data/d.sql", dump)
        try project.write("plans/main.json", """
            { "ferry": 1,
              "instances": { "dst": { "engine": "mysql", "url": "\(c.url)", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" } } },
              "imports": { "seed": { "into": "dst", "database": "\(tag)", "from": "data/d.sql", "onExisting": "replace" } } }
            """)
        project.environment["FERRY_TEST_KILL_AT"] = "change:import.definers"
        let killed = try project.run("apply", "--auto-approve")
        project.environment["FERRY_TEST_KILL_AT"] = nil
        #expect(killed.code == 137 || killed.code == 9, "\(killed.all)")
        let accounts = "SELECT COUNT(*) FROM mysql.user WHERE User LIKE 'ferry\\_i\\_%';"
        #expect(trimmed(try cli.sql(project, c, accounts)) == "1", "the import account is there")
        fill(directory + "/filler")
        #expect(freeBytes(directory) == 0, "the disk is full to its last byte")
        let begun = Date()
        let full = try project.run("recover")
        #expect(full.code == 4 && full.all.contains("DiskFull"), "\(full.all)")
        #expect(Date().timeIntervalSince(begun) < 60, "the recover did not wait for room: \(full.all)")
        #expect(try cli.sql(project, c, snapshot) == before, "the target is exactly as it was")
        try makeRoom(directory)
        let roomy = try project.run("recover")
        #expect(roomy.code == 0 && roomy.all.contains("as they were before"), "\(roomy.all)")
        #expect(trimmed(try cli.sql(project, c, accounts)) == "0", "the import account is gone")
        #expect(try cli.sql(project, c, snapshot) == before)
        let left = try cli.sql(project, c, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '\(tag)%';")
        #expect(left.split(separator: "\n") == ["\(tag)"], "no shadow stays: \(left)")
    }
}

