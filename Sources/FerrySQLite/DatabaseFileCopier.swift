import CCrypto
import CSQLite
import FerryCore
import FerryIO
import Foundation

/// What a copy into a shadow learned about its source, so `verify` can compare without reading the
/// source again (which may have moved on since). It travels as the build's receipt (the core
/// journals it): `tables`, and the detail keys `fileDigest` and `comparedIdentity`.
struct CopyRecord: Codable {
    /// The chunked SHA-256 of the source's bytes, read under the copy's read lock (byte copies by read/write).
    var fileDigest: String?
    /// Row counts and content checksums per table, taken in the copy's snapshot (backup-API copies).
    var tables: [VerifyReport.Table]?
    /// Set when the copy compared every byte of the shadow with the source under the copy's read
    /// lock: the shadow's identity then (device, inode, size, mtime and ctime in ns), which must still hold.
    var comparedIdentity: String?

    /// As a build receipt.
    var receipt: BuildReceipt {
        var detail: [String: String] = [:]
        detail["fileDigest"] = fileDigest
        detail["comparedIdentity"] = comparedIdentity
        return BuildReceipt(tables: tables, detail: detail)
    }

    init(fileDigest: String?, tables: [VerifyReport.Table]?, comparedIdentity: String?) {
        self.fileDigest = fileDigest
        self.tables = tables
        self.comparedIdentity = comparedIdentity
    }

    /// From a build receipt; nil when it records nothing (the verify reads the source now).
    init?(receipt: BuildReceipt) {
        guard receipt.tables != nil || receipt.detail["fileDigest"] != nil || receipt.detail["comparedIdentity"] != nil else { return nil }
        self.init(fileDigest: receipt.detail["fileDigest"], tables: receipt.tables, comparedIdentity: receipt.detail["comparedIdentity"])
    }
}

/// Copies one SQLite database file to another path as fast as the disk allows, under a read
/// transaction on the source so that what is copied is one committed state.
///
/// Rollback-journal sources: the read transaction's SHARED lock stops every writer from committing,
/// so the file bytes are stable; they are read through SQLite's own descriptor (`xRead`) in 8 MiB
/// chunks and written with `write(2)` while a second thread hashes each chunk, then the copy is
/// `fsync`ed. WAL sources: committed pages may live in `-wal`, so the copy uses the online backup API
/// (`sqlite3_backup_step(-1)`) in the same read transaction and takes per-table counts and checksums
/// in that snapshot.
enum DatabaseFileCopier {
    static let chunkSize = 8 << 20

    struct Outcome {
        var stats: TransferStats
        var record: CopyRecord
    }

    /// Copies the database at `sourcePath` to `destinationPath` (replaced).
    static func copy(from sourcePath: String, to destinationPath: String, progress: ProgressCounter,
                     errorCode: ErrorCode) throws -> Outcome {
        let source = try openSource(sourcePath, errorCode: errorCode)
        try source.execute("BEGIN", as: errorCode)
        defer { try? source.execute("COMMIT") }
        do {
            // Takes the SHARED lock (rolling back a hot journal first) and proves the file is a database.
            _ = try source.integer("SELECT count(*) FROM sqlite_schema")
        } catch let error as FerryError {
            throw FerryError(errorCode, "cannot read \(sourcePath) as an SQLite database: \(error.message)", cause: error.cause)
        }
        let size = try source.mainFileSize()
        var header = [UInt8](repeating: 0, count: 20)
        let headerBytes = size >= 20
            ? try header.withUnsafeMutableBytes { try source.readMainFile(into: $0.baseAddress!, count: 20, offset: 0) } : 0
        let isWAL = headerBytes == 20 && header[18] == 2
        if isWAL {
            return try backupCopy(from: source, to: destinationPath, progress: progress, errorCode: errorCode)
        }
        if let fd = source.unixDescriptor(),
           let outcome = try kernelCopy(from: fd, path: sourcePath, size: size, to: destinationPath, progress: progress, errorCode: errorCode) {
            return outcome
        }
        return try byteCopy(from: source, size: size, to: destinationPath, progress: progress, errorCode: errorCode)
    }

    /// The shadow's identity as `CopyRecord.comparedIdentity` records it.
    static func identity(of path: String) -> String? {
        guard let id = FileIdentity(path: path) else { return nil }
        return "\(id.device):\(id.inode):\(id.size):\(id.modifiedNanoseconds):\(id.changedNanoseconds)"
    }

    /// Copies with `copy_file_range(2)` from SQLite's own descriptor (the kernel moves the pages, no
    /// user-space copy), `fsync`s, then compares both files byte for byte through read-only mappings
    /// while the read lock still holds the source still. Returns nil when the kernel cannot copy
    /// between these files (the caller then reads and writes).
    private static func kernelCopy(from sourceFD: Int32, path sourcePath: String, size: Int64, to destinationPath: String,
                                   progress: ProgressCounter, errorCode: ErrorCode) throws -> Outcome? {
        let file = try RawFile.open(destinationPath, O_RDWR | O_CREAT | O_TRUNC, what: "cannot create", as: errorCode)
        defer { file.close() }
        let fd = file.descriptor
        if size > 0 { _ = posix_fallocate(fd, 0, off_t(size)) }
        var offset: Int64 = 0
        while offset < size {
            var from = off_t(offset)
            var to = off_t(offset)
            guard let copyFileRange = KernelCalls.copyFileRange else { return nil }
            let n = copyFileRange(sourceFD, &from, fd, &to, Int(min(Int64(1 << 30), size - offset)), 0)
            if n < 0 {
                if errno == EINTR { continue }
                if offset == 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP) { return nil }
                throw SystemCallError(call: "copy_file_range", path: destinationPath, errno: errno).ferry("cannot copy \(sourcePath) to", as: errorCode)
            }
            if n == 0 { throw FerryError(errorCode, "\(sourcePath) shrank while being copied (at \(offset) of \(size) bytes)") }
            offset += Int64(n)
            progress.add(bytes: Int64(n))
            try progress.checkCancelled()
        }
        try file.truncate(to: size, as: errorCode)
        // The comparison reads the page cache, so it runs while the pages are written back.
        let flush = WorkerPool.shared.start { RawFile.sync(descriptor: fd) }
        defer { _ = try? flush.wait() }
        if size > 0 {
            guard let difference = try compareMapped(sourceFD, fd, size: size) else {
                throw FerryError(errorCode, "cannot map \(sourcePath) and \(destinationPath) to compare them: \(systemMessage())")
            }
            if difference >= 0 {
                throw FerryError(.verifyFailed, "the copy \(destinationPath) differs from \(sourcePath) at byte \(difference)")
            }
        }
        let syncError = try flush.wait()
        guard syncError == 0 else {
            throw SystemCallError(call: "fsync", path: destinationPath, errno: syncError).ferry("cannot write", as: errorCode)
        }
        return Outcome(stats: TransferStats(bytes: size, rows: 0),
                       record: CopyRecord(fileDigest: nil, tables: nil, comparedIdentity: identity(of: destinationPath)))
    }

    /// Compares two descriptors' first `size` bytes on every core, 8 MiB windows at a time (each
    /// mapped read-only and unmapped after, so resident memory stays small whatever the size);
    /// returns the offset of the first differing window, -1 when equal, nil when they cannot be mapped.
    static func compareMapped(_ a: Int32, _ b: Int32, size: Int64) throws -> Int64? {
        let windowSize = Int64(8 << 20)
        let windows = Int((size + windowSize - 1) / windowSize)
        let result = ChunkDigests(count: 1)
        let failures = ChunkDigests(count: 1)
        try WorkerPool.shared.forEach(windows, width: ProcessInfo.processInfo.activeProcessorCount) { window in
            let start = Int64(window) * windowSize
            let count = Int(min(windowSize, size - start))
            let first = mmap(nil, count, PROT_READ, MAP_SHARED, a, off_t(start))
            let second = mmap(nil, count, PROT_READ, MAP_SHARED, b, off_t(start))
            defer {
                if let first, first != MAP_FAILED { munmap(first, count) }
                if let second, second != MAP_FAILED { munmap(second, count) }
            }
            guard let first, first != MAP_FAILED, let second, second != MAP_FAILED else {
                failures.set(0, [1])
                return
            }
            _ = madvise(first, count, MADV_SEQUENTIAL)
            _ = madvise(second, count, MADV_SEQUENTIAL)
            if memcmp(first, second, count) != 0 {
                result.set(0, withUnsafeBytes(of: start) { Array($0) })
            }
        }
        if try failures.firstDifference() != -1 { return nil }
        return try result.firstDifference()
    }

    static func openSource(_ path: String, errorCode: ErrorCode) throws -> SQLiteConnection {
        guard FileIdentity(path: path)?.isRegularFile == true else {
            throw FerryError(errorCode, "\(path) does not exist or is not a file")
        }
        // A source beside a companion SQLite would apply that is not provably its own would be
        // read with another database's content, or have it written into it (w31 A6).
        if let stray = SQLiteSession.foreignCompanion(ofExisting: path) {
            throw FerryError(.wrongStatus, "\(stray); Ferry did not open \(path) to copy it, and it and that file are left as they are",
                             hint: SQLiteSession.foreignCompanionHint)
        }
        // An import's source is the user's file: read-only, so that SQLite neither checkpoints its
        // WAL into it nor rolls back a journal in it (a file that needs that fails to read, and the
        // import says so). An instance's own database may be opened read-write: that lets SQLite
        // roll back a hot journal, as any client of it would; read-only is enough for a clean file
        // in a read-only place.
        if errorCode == .importError { return try SQLiteConnection(path: path, readOnly: true) }
        do { return try SQLiteConnection(path: path) } catch let error as FerryError where error.sqlite.map(Self.mayOpenReadOnly) ?? false {
            return try SQLiteConnection(path: path, readOnly: true)
        }
    }

    /// Failures of a read-write open that a read-only open may not have (a file or directory this
    /// user may not write); others would fail it the same way.
    static func mayOpenReadOnly(_ error: SQLiteError) -> Bool {
        [SQLITE_CANTOPEN, SQLITE_READONLY, SQLITE_PERM, SQLITE_IOERR].contains(error.primaryCode)
    }

    private static func byteCopy(from source: SQLiteConnection, size: Int64, to destinationPath: String,
                                 progress: ProgressCounter, errorCode: ErrorCode) throws -> Outcome {
        let file = try RawFile.open(destinationPath, O_WRONLY | O_CREAT | O_TRUNC, what: "cannot create", as: errorCode)
        defer { file.close() }
        if size > 0 { _ = posix_fallocate(file.descriptor, 0, off_t(size)) }

        let hasher = ChunkHasher(slots: 4, chunkSize: chunkSize)
        var offset: Int64 = 0
        var failure: FerryError?
        while offset < size && failure == nil {
            let slot = try hasher.acquireSlot()
            let want = Int(min(Int64(chunkSize), size - offset))
            do {
                let got = try source.readMainFile(into: hasher.buffer(slot), count: want, offset: offset)
                guard got == want else {
                    throw FerryError(errorCode, "\(source.path) shrank while being copied (read \(got) of \(want) bytes at \(offset))")
                }
                try file.write(hasher.buffer(slot), count: got, as: errorCode)
                hasher.submit(slot: slot, count: got)
                offset += Int64(got)
                progress.add(bytes: Int64(got))
                try progress.checkCancelled()
            } catch let error as FerryError {
                hasher.submit(slot: slot, count: 0)
                failure = error
            }
        }
        let digest = try hasher.finish()
        if let failure { throw failure }
        try file.truncate(to: size, as: errorCode)
        try file.sync(what: "cannot write", as: errorCode)
        return Outcome(stats: TransferStats(bytes: size, rows: 0), record: CopyRecord(fileDigest: digest, tables: nil, comparedIdentity: nil))
    }

    private static func backupCopy(from source: SQLiteConnection, to destinationPath: String,
                                   progress: ProgressCounter, errorCode: ErrorCode) throws -> Outcome {
        // Emptied in place, never removed and made again: a shadow is told by its file's
        // identity (`SQLiteSession.shadowIdentity`), which a new file would not have.
        _ = truncate(destinationPath, 0)
        let destination = try SQLiteConnection(path: destinationPath, create: true)
        try destination.execute("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF")
        guard let backup = sqlite3_backup_init(destination.handle, "main", source.handle, "main") else {
            throw FerryError(errorCode, "cannot start copying \(source.path): \(destination.lastMessage)", cause: destination.lastError)
        }
        var code: Int32
        var cancelled = false
        repeat {
            code = sqlite3_backup_step(backup, 4096)
            cancelled = progress.cancellation?.isCancelled == true
        } while code == SQLITE_OK && !cancelled
        let finish = sqlite3_backup_finish(backup)
        try progress.checkCancelled()
        guard code == SQLITE_DONE, finish == SQLITE_OK else {
            // The step's code, or the finish's when the steps ended well (the destination holds the message).
            let error = destination.error(for: code == SQLITE_DONE ? finish : code)
            throw FerryError(error.ferryCode(otherwise: errorCode), "copying \(source.path) failed: \(error.message) (SQLite \(code))", cause: error)
        }
        // The source snapshot is still held: take what verify compares against now.
        let tables = try TableChecksummer.tables(of: source, withChecksums: true)
        let bytes = try destination.mainFileSize()
        progress.add(bytes: bytes, rows: tables.reduce(0) { $0 + $1.rows })
        try? RawFile.openForReading(destinationPath)?.sync()
        return Outcome(stats: TransferStats(bytes: bytes, rows: tables.reduce(0) { $0 + $1.rows }),
                       record: CopyRecord(fileDigest: nil, tables: tables, comparedIdentity: nil))
    }

    /// The chunked digest of a whole file (`ChunkHasher`'s definition), hashing chunks on every core.
    /// Uses its own descriptor: call it only on files no SQLite connection of this process has open.
    static func digest(ofFile path: String) throws -> String {
        guard let size = FileIdentity(path: path)?.size else { throw FerryError(.verifyFailed, "\(path) is missing") }
        let file = try RawFile.open(path, O_RDONLY, as: .verifyFailed)
        defer { file.close() }
        let fd = file.descriptor
        let chunks = Int((size + Int64(chunkSize) - 1) / Int64(chunkSize))
        let results = ChunkDigests(count: chunks)
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 4))
        try WorkerPool.shared.forEach(workers) { worker in
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 4096)
            defer { buffer.deallocate() }
            var chunk = worker
            while chunk < chunks {
                let offset = Int64(chunk) * Int64(chunkSize)
                let want = Int(min(Int64(chunkSize), size - offset))
                var got = 0
                while got < want {
                    let n = pread(fd, buffer + got, want - got, off_t(offset) + off_t(got))
                    if n <= 0 { if n < 0 && errno == EINTR { continue }; break }
                    got += n
                }
                results.set(chunk, got == want ? ChunkHasher.sha256(buffer, count: got) : nil)
                chunk += workers
            }
        }
        return try results.combined(path: path)
    }
}

/// Hashes chunks on pool threads while the copying thread reads and writes the next ones.
///
/// The file digest is SHA-256 over the SHA-256 of each 8 MiB chunk in order, so chunks can be hashed
/// on any core, in the copy and in `verify`. Used by the copying thread only: each filled slot is
/// one `WorkerPool` job, and a slot is reused only after its job is joined (which runs the job on
/// the copying thread when no pool thread has taken it, so a busy pool slows the copy, never
/// stops it). Slots are filled and joined in turn, so the digests come back in chunk order.
final class ChunkHasher {
    private let buffers: [UnsafeMutableRawPointer]
    private var hashing: [WorkerPool.Pending<[UInt8]>?]
    private var digests: [[UInt8]] = []
    private var nextSlot = 0

    init(slots: Int, chunkSize: Int) {
        buffers = (0..<slots).map { _ in UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 4096) }
        hashing = Array(repeating: nil, count: slots)
    }

    deinit {
        // A job still reading a buffer is joined before the buffer goes.
        for pending in hashing { _ = try? pending?.wait() }
        buffers.forEach { $0.deallocate() }
    }

    /// The next slot to fill, once its previous chunk is hashed.
    func acquireSlot() throws -> Int {
        let slot = nextSlot
        try join(slot)
        nextSlot = (nextSlot + 1) % buffers.count
        return slot
    }

    func buffer(_ slot: Int) -> UnsafeMutableRawPointer { buffers[slot] }

    /// Hands a filled slot to a pool thread; a count of 0 hashes nothing.
    func submit(slot: Int, count: Int) {
        guard count > 0 else { return }
        let chunk = FilledChunk(pointer: UnsafeRawPointer(buffers[slot]), count: count)
        hashing[slot] = WorkerPool.shared.start { Self.sha256(chunk.pointer, count: chunk.count) }
    }

    /// Waits for every submitted chunk and returns the file digest.
    func finish() throws -> String {
        for offset in 0..<buffers.count { try join((nextSlot + offset) % buffers.count) }
        var all: [UInt8] = []
        for digest in digests { all += digest }
        return Digest.hex(Digest.sha256Bytes(all))
    }

    private func join(_ slot: Int) throws {
        guard let pending = hashing[slot] else { return }
        hashing[slot] = nil
        digests.append(try pending.wait())
    }

    static func sha256(_ pointer: UnsafeRawPointer, count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        out.withUnsafeMutableBufferPointer { _ = SHA256(pointer.assumingMemoryBound(to: UInt8.self), count, $0.baseAddress) }
        return out
    }
}

/// A filled slot of `ChunkHasher`, handed to the job that hashes it.
struct FilledChunk: @unchecked Sendable {
    // Safe: the copying thread does not touch the slot's buffer from `submit` until it has joined
    // the job (`ChunkHasher.join`), and the job only reads it.
    let pointer: UnsafeRawPointer
    let count: Int
}

/// Per-chunk digests filled by concurrent workers.
final class ChunkDigests: @unchecked Sendable {
    // Safe: every access to `values` holds `lock`.
    private let lock = NSLock()
    private var values: [[UInt8]?]

    init(count: Int) { values = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ digest: [UInt8]?) {
        lock.lock(); values[index] = digest; lock.unlock()
    }

    /// The slice offset a comparison stored, or -1 when none differed.
    func firstDifference() throws -> Int64 {
        lock.lock(); defer { lock.unlock() }
        guard let bytes = values[0] else { return -1 }
        return bytes.withUnsafeBytes { $0.load(as: Int64.self) }
    }

    func combined(path: String) throws -> String {
        lock.lock(); defer { lock.unlock() }
        var all: [UInt8] = []
        for (index, digest) in values.enumerated() {
            guard let digest else { throw FerryError(.verifyFailed, "cannot read chunk \(index) of \(path)") }
            all += digest
        }
        return Digest.hex(Digest.sha256Bytes(all))
    }
}

/// Calls Glibc has but does not export to Swift (they need `_GNU_SOURCE`), looked up once by name.
enum KernelCalls {
    typealias CopyFileRange = @convention(c) (Int32, UnsafeMutablePointer<off_t>?, Int32, UnsafeMutablePointer<off_t>?, Int, UInt32) -> Int

    /// `copy_file_range(2)`, or nil on a libc without it.
    static let copyFileRange: CopyFileRange? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "copy_file_range") else { return nil }
        return unsafeBitCast(symbol, to: CopyFileRange.self)
    }()
}
