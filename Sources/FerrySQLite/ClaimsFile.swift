import FerryCore
import Foundation

/// The claims of runs on one instance directory: `<dir>/.ferry-claims.json`, changed only under an
/// exclusive `flock(2)` on `<dir>/.ferry-claims.lock` (a separate file, so the JSON can be replaced
/// by rename while the lock is held).
struct ClaimsFile {
    let directory: String

    var jsonPath: String { directory + "/" + SQLiteNames.claimsFile }
    var lockPath: String { directory + "/" + SQLiteNames.claimsLock }

    /// The claims as they are now (read under a shared lock). Creates nothing when there are none,
    /// so that refresh leaves the directory as it found it.
    func read() throws -> [DatabaseClaim] {
        guard FileManager.default.fileExists(atPath: jsonPath) else { return [] }
        return try withLock(LOCK_SH) { try load() }
    }

    /// The temporary file run `runID` writes the claims to before renaming it into place
    /// (`.ferry-claims.json.tmp-RUN`): named for the run, so that recovery removes only what that
    /// run provably made, never a file of the user's (`.ferry-claims.json.tmp`, say).
    func temporaryPath(ofRun runID: String) -> String { jsonPath + ".tmp-" + runID }

    /// Reads, changes and writes back the claims under the exclusive lock, as run `runID`.
    /// A temporary file of `runID`'s left by a write it was killed in (it only exists inside
    /// this call, under this lock) goes first (fresh tester round 24, M5: a killed rollback's
    /// stayed in the target directory after its recover).
    func update(by runID: String, _ change: (inout [DatabaseClaim]) throws -> Void) throws {
        try withLock(LOCK_EX) {
            _ = RawFile.removeIfPresent(temporaryPath(ofRun: runID))
            var claims = try load()
            let before = claims
            try change(&claims)
            if claims != before { try store(claims, by: runID) }
        }
    }

    /// Removes the temporary file of a write that run `runID` left when it was killed. It only
    /// ever exists inside `update`, under the exclusive lock, so under that lock it is stale.
    /// Returns the names removed.
    func removeStaleTemporary(ofRun runID: String) throws -> [String] {
        let temporary = temporaryPath(ofRun: runID)
        guard FileManager.default.fileExists(atPath: temporary) else { return [] }
        return try withLock(LOCK_EX) {
            RawFile.removeIfPresent(temporary) ? [(temporary as NSString).lastPathComponent] : []
        }
    }

    private func withLock<T>(_ mode: Int32, _ body: () throws -> T) throws -> T {
        // The first file a run writes in the instance directory: a read-only directory or a full
        // disk shows here, with its own code (SPEC §8).
        let file = try RawFile.open(lockPath, O_RDWR | O_CREAT)
        while flock(file.descriptor, mode) != 0 {
            guard errno == EINTR else { throw FerryError(.internalError, "cannot lock \(lockPath): \(systemMessage())") }
        }
        defer { flock(file.descriptor, LOCK_UN) }
        return try body()
    }

    private func load() throws -> [DatabaseClaim] {
        guard let data = FileManager.default.contents(atPath: jsonPath), !data.isEmpty else { return [] }
        do {
            return try JSONDecoder().decode([DatabaseClaim].self, from: data)
        } catch {
            throw FerryError(.internalError, "\(jsonPath) is not a valid claims file: \(error)",
                             hint: "remove it if no ferry run is using this directory")
        }
    }

    private func store(_ claims: [DatabaseClaim], by runID: String) throws {
        if claims.isEmpty {
            try RawFile.remove(jsonPath)
            return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(claims)
        let temporary = temporaryPath(ofRun: runID)
        // Written in place (no Foundation temporary file beside it: a kill would leave one nobody
        // could tell apart from a user's); `removeStaleTemporary` clears a torn one.
        let file = try RawFile.open(temporary, O_WRONLY | O_CREAT | O_TRUNC, what: "cannot write")
        defer { file.close() }
        try file.write(data)
        KillPoint.check("change:sqlite.claimsWritten")
        try RawFile.rename(temporary, to: jsonPath)
    }
}
