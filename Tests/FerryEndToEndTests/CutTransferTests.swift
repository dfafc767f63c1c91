import Foundation
import Testing

/// A download that ends early is never taken for the whole file (fresh tester W0, W0b): an FTP
/// or FTPS download counts only with the server's end-of-transfer reply (226), and an HTTPS body
/// that ends with the connection counts only with TLS's close_notify. Cut on a statement
/// boundary, the shorter file would otherwise import cleanly: "Apply complete!" with 1,000 of
/// 40,000 rows. The servers: `Tests/Fixtures/servers/cut_transfers.py` (python3's own `ssl`),
/// its certificate the one `scripts/storage-servers.sh` makes for 127.0.0.1.
@Suite(.serialized) struct CutTransferTests {
    static let rows = 4000

    func startServers(_ project: Project) throws -> (Process, ftp: Int, https: Int) {
        let ca = try #require(ProcessInfo.processInfo.environment["FERRY_TEST_FTPS_CA"], "scripts/storage-servers.sh start, then source its env file")
        let tls = (ca as NSString).deletingLastPathComponent
        var sql = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);\n"
        for i in 1...Self.rows { sql += "INSERT INTO t VALUES (\(i), 'row \(i)');\n" }
        try project.write("served.sql", sql)
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<2 { url.deleteLastPathComponent() }
        let script = url.appendingPathComponent("Fixtures/servers/cut_transfers.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, project.root + "/served.sql", tls + "/server.crt", tls + "/server.key"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while !line.contains(10) {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line += chunk
        }
        let words = String(decoding: line, as: UTF8.self).split(whereSeparator: \.isWhitespace)
        guard words.count == 3, words[0] == "PORTS", let ftp = Int(words[1]), let https = Int(words[2]) else {
            process.signal(SIGKILL)
            throw Project.QueryError(message: "the cut-transfer servers did not start: \(words)")
        }
        project.environment["SSL_CERT_FILE"] = ca
        return (process, ftp, https)
    }

    func importPlan(_ project: Project, from url: String) throws {
        try project.write("plans/main.json", """
        { "ferry": 1, "instances": { "a": { "engine": "sqlite", "path": "../var/a" } },
          "imports": { "app": { "into": "a", "database": "app", "from": "\(url)", "onExisting": "replace" } } }
        """)
    }

    @Test(arguments: ["ftp", "https"]) func aCutDownloadIsNotImported(scheme: String) throws {
        let project = try Project()
        let (servers, ftp, https) = try startServers(project)
        defer { servers.signal(SIGKILL); servers.waitUntilExit() }
        let base = scheme == "ftp" ? "ftp://127.0.0.1:\(ftp)" : "https://127.0.0.1:\(https)"
        let cuts = scheme == "ftp" ? ["cut-close", "cut-426"] : ["cut-close"]
        for cut in cuts {
            try importPlan(project, from: "\(base)/\(cut).sql")
            let applied = try project.run("apply", "--auto-approve")
            #expect(applied.code != 0 && applied.all.contains("ImportError") && !applied.all.contains("Apply complete"), "\(cut): \(applied.all)")
            #expect(!project.exists("var/a/app.db"), "\(cut): nothing of the cut file is imported")
        }
        // The same server's whole file goes through: the check refuses cuts, not the server.
        try importPlan(project, from: "\(base)/whole.sql")
        let whole = try project.run("apply", "--auto-approve")
        #expect(whole.code == 0, "\(whole.all)")
        #expect(try project.query("var/a/app.db", "SELECT count(*) FROM t") == [["\(Self.rows)"]])
    }
}
