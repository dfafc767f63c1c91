import CSQLite
import FerryCore
import FerryIO
import Foundation

/// Copies, clones, backups and verification.
extension SQLiteSession {
    public func copyData(from source: SQLiteSession, database: String, into shadow: String,
                         verifying: VerifyLevel, progress: ProgressCounter) throws -> BuildResult {
        try copyFile(source.path(of: database), into: shadow, progress: progress, errorCode: .copyError)
    }

    public func cloneDatabase(_ database: String, into shadow: String, progress: ProgressCounter) throws {
        _ = try copyFile(path(of: database), into: shadow, progress: progress, errorCode: .copyError)
    }

    public var backupFileExtension: String { "db" }

    public func writeBackup(of database: String, to file: URL, progress: ProgressCounter) throws -> TransferStats {
        let outcome = try DatabaseFileCopier.copy(from: path(of: database), to: file.path, progress: progress,
                                                  errorCode: .copyError)
        // What the set's file holds, counted in the file itself (the copy is one moment of the
        // source): the manifest records it, and a restore must give back the same tables and rows.
        var stats = outcome.stats
        let written = try SQLiteConnection(path: file.path, immutable: true)
        stats.tables = try TableChecksummer.tables(of: written, withChecksums: false)
        return stats
    }

    public func restoreBackup(from file: URL, into shadow: String, progress: ProgressCounter) throws -> BuildResult {
        guard FileIdentity(path: file.path) != nil else {
            throw FerryError(.backupNotFound, "backup file \(file.path) is missing", instance: target.instance.name)
        }
        return try copyFile(file.path, into: shadow, progress: progress, errorCode: .copyError)
    }

    /// Copies a database file into a shadow; the receipt holds what verify needs (`CopyRecord`).
    func copyFile(_ sourcePath: String, into shadow: String, progress: ProgressCounter, errorCode: ErrorCode) throws -> BuildResult {
        try createDirectoryIfMissing()
        if let size = FileIdentity(path: sourcePath)?.size { progress.setTotal(bytes: size) }
        let shadowPath = path(of: shadow)
        // The shadow was just made: a file at a companion name is someone else's, and SQLite
        // would take a `-journal` there for the copy's hot journal (round-11 F3).
        removeShadowCompanions(shadowPath, shadow: Self.companionOwner(shadowPath))
        if let left = SQLiteNames.companionSuffixes.first(where: { FileBirth.identity(ofPath: shadowPath + $0, followingLinks: false) != nil }) {
            throw FerryError(.wrongStatus, "\(shadowPath + left), at a companion name of the run's shadow, is not the run's; nothing was copied into the shadow, and it is left as it is",
                             hint: "move it away, then apply again", instance: target.instance.name)
        }
        removeCopyRecord(for: shadow)
        do {
            let outcome = try DatabaseFileCopier.copy(from: sourcePath, to: shadowPath, progress: progress, errorCode: errorCode)
            return BuildResult(stats: outcome.stats, receipt: outcome.record.receipt)
        } catch let error as FerryError {
            // A damaged source (SQLITE_CORRUPT, SQLITE_NOTADB while it is read) is the copy's
            // failure, named as such, not an internal error (fresh tester w12 F13).
            if error.code == .internalError || error.code == .wrongStatus, let sqlite = error.sqlite, [SQLITE_CORRUPT, SQLITE_NOTADB].contains(sqlite.primaryCode) {
                throw FerryError(errorCode, "\(sourcePath) is damaged and cannot be copied: \(sqlite.message) (SQLite \(sqlite.extendedCode))",
                                 hint: "check it with `sqlite3 FILE 'PRAGMA integrity_check'`; nothing was changed", instance: target.instance.name, cause: sqlite)
            }
            throw error.placed(address: nil, instance: target.instance.name)
        }
    }

    // MARK: Verify

    /// Byte copies were compared with their source byte for byte under the copy's read lock (the
    /// source cannot change in between); verify checks that the shadow is still that file (device,
    /// inode, size, mtime and ctime in ns), at both `.count` and `.checksum` — identical files hold
    /// identical rows — and reports the shadow's row counts. Byte copies made by read/write (when
    /// the kernel cannot copy between the files) compare a chunked SHA-256 of the shadow, re-read
    /// now, with the digest of the source bytes taken under the read lock.
    /// Backup-API copies compare counts (and checksums at `.checksum`) with those taken in the
    /// copy's snapshot. All of that comes from the build's receipt (`CopyRecord`); without one
    /// (an older run's journal) the source is read now, and a byte copy is compared as a
    /// backup-API copy would be (counts and checksums of both sides).
    /// Every shadow, imports and copies alike, runs `PRAGMA integrity_check` first (a damaged
    /// page, an index that disagrees with its table, a UNIQUE index holding a duplicate, a NOT
    /// NULL or CHECK violated by a row, a table whose root page is another's fails the verify:
    /// `quick_check` skips some of these, fresh tester w12 F4; SQLite's pragma documentation,
    /// "integrity_check"). A copy is as faithful as its source, so a damaged source made a
    /// damaged shadow that matched it byte for byte: that must not pass where the same file as
    /// an import fails (fresh tester w14 F5). A file SQLite finds malformed while the verify
    /// reads it (SQLITE_CORRUPT, SQLITE_NOTADB) is `VerifyFailed`, never `Internal`.
    public func verify(shadow: String, against source: SQLiteSession?, database: String?,
                       level: VerifyLevel, receipt: BuildReceipt?) throws -> VerifyReport {
        let shadowPath = path(of: shadow)
        if level == .none { return VerifyReport(tables: []) }
        do {
            return try verifyChecked(shadow: shadow, shadowPath: shadowPath, against: source, database: database,
                                     level: level, receipt: receipt)
        } catch let error as FerryError {
            if error.code == .internalError || error.code == .wrongStatus, let sqlite = error.sqlite, [SQLITE_CORRUPT, SQLITE_NOTADB].contains(sqlite.primaryCode) {
                throw FerryError(.verifyFailed, "\(shadowPath) is damaged: \(sqlite.message) (SQLite \(sqlite.extendedCode))",
                                 hint: "check the source with `sqlite3 FILE 'PRAGMA integrity_check'`; the target was not changed",
                                 instance: target.instance.name, cause: sqlite)
            }
            throw error
        }
    }

    private func verifyChecked(shadow: String, shadowPath: String, against source: SQLiteSession?, database: String?,
                               level: VerifyLevel, receipt: BuildReceipt?) throws -> VerifyReport {
        try refuseForeignCompanions(ofShadow: shadowPath, doing: "the shadow was not opened to verify it")
        let record = receipt.flatMap(CopyRecord.init(receipt:))
        if let compared = record?.comparedIdentity {
            guard DatabaseFileCopier.identity(of: shadowPath) == compared else {
                throw FerryError(.verifyFailed, "the copy \(shadowPath) changed after it was compared with its source",
                                 instance: target.instance.name)
            }
        }
        if let expected = record?.fileDigest {
            let actual = try DatabaseFileCopier.digest(ofFile: shadowPath)
            guard actual == expected else {
                throw FerryError(.verifyFailed, "the copy \(shadowPath) differs from its source: file digest \(actual.prefix(16)) vs \(expected.prefix(16))",
                                 instance: target.instance.name)
            }
        }
        let connection = try SQLiteConnection(path: shadowPath, readOnly: true)
        do {
            // The engine's own check, before anything else reads the file — damaged pages past
            // the first still count rows, and an index that disagrees with its table still
            // answers queries (wrongly). Copies too: a byte copy of a damaged source is damaged.
            var problems: [String]
            do {
                problems = try connection.strings("PRAGMA integrity_check")
                // SQLite skips CHECK constraints in `integrity_check` on a read-only connection
                // (3.40: `sqlite3 -readonly` says "ok" where a writable one says "CHECK
                // constraint failed"): a schema with a CHECK is checked again on a writable
                // connection that may only read (`query_only`). The shadow is the run's own.
                if problems == ["ok"],
                   try connection.integer("SELECT count(*) FROM sqlite_master WHERE sql LIKE '%check%'") ?? 0 > 0 {
                    let checking = try SQLiteConnection(path: shadowPath)
                    try checking.execute("PRAGMA query_only = 1")
                    problems = try checking.strings("PRAGMA integrity_check")
                }
            } catch let error as FerryError {
                throw FerryError(.verifyFailed, "\(shadowPath) fails SQLite's integrity check: \(error.message)", instance: target.instance.name,
                                 cause: error.cause)
            }
            if problems != ["ok"] {
                // A row may hold several lines, the first one SQLite's "*** in database main ***"
                // header (fresh tester w14 F8: the step line showed only that, the error a literal \n).
                let lines = problems.flatMap { $0.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) } }
                    .filter { !$0.isEmpty && !($0.hasPrefix("*** in database ") && $0.hasSuffix(" ***")) }
                throw FerryError(.verifyFailed, "\(shadowPath) fails SQLite's integrity check: \((lines.isEmpty ? problems : lines).prefix(3).joined(separator: "; "))",
                                 instance: target.instance.name)
            }
        }
        let isByteCopy = record?.fileDigest != nil || record?.comparedIdentity != nil
        let withChecksums = level == .checksum && !isByteCopy
        let built = try TableChecksummer.tables(of: connection, withChecksums: withChecksums)

        var expectedTables = record?.tables
        if record == nil, let source, let database {
            try source.refuseForeignCompanions(ofExisting: database, doing: "Ferry did not open the source \(database) to verify the copy")
            let sourceConnection = try SQLiteConnection(path: source.path(of: database), readOnly: true)
            try sourceConnection.execute("BEGIN")
            defer { try? sourceConnection.execute("COMMIT") }
            expectedTables = try TableChecksummer.tables(of: sourceConnection, withChecksums: withChecksums)
        }
        if let expectedTables, !isByteCopy {
            try compare(built: built, expected: expectedTables, checksums: withChecksums, shadow: shadowPath)
        }
        return VerifyReport(tables: built)
    }

    private func compare(built: [VerifyReport.Table], expected: [VerifyReport.Table], checksums: Bool, shadow: String) throws {
        let builtByName = Dictionary(built.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let expectedByName = Dictionary(expected.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for table in expected where builtByName[table.name] == nil {
            throw FerryError(.verifyFailed, "table \(table.name) is missing from the copy (source has \(table.rows) rows)",
                             instance: target.instance.name)
        }
        for table in built {
            guard let want = expectedByName[table.name] else {
                throw FerryError(.verifyFailed, "table \(table.name) is in the copy but not in the source", instance: target.instance.name)
            }
            if table.rows != want.rows {
                throw FerryError(.verifyFailed, "table \(table.name): source has \(want.rows) rows, copy has \(table.rows)",
                                 instance: target.instance.name)
            }
            if checksums, table.checksum != want.checksum {
                throw FerryError(.verifyFailed,
                                 "table \(table.name): content checksum differs (source \(want.checksum?.prefix(16) ?? "-"), copy \(table.checksum?.prefix(16) ?? "-"))",
                                 instance: target.instance.name)
            }
        }
    }
}
