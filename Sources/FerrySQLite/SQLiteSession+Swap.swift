import CSQLite
import FerryCore
import Foundation

/// Swapping a shadow in with `link(2)` and `rename(2)` in one directory, so that at every instant
/// the target path holds either the complete old or the complete new database.
///
/// Steps (target existed): 1. settle the target's `-wal`/`-journal` into the main file; 2. `link`
/// target → checkpoint (the old bytes get a second name); 3. `rename` shadow → target (atomic);
/// 4. `fsync` the directory. Target missing: only steps 3 and 4. `undoSwap` tells from the files
/// alone how far a swap got (see there), so it needs nothing but the `SwapRecord`.
extension SQLiteSession {
    public func swap(_ record: SwapRecord) throws -> SwapRecord {
        let targetPath = path(of: record.database)
        let shadowPath = path(of: record.shadow)
        try refuseOpenWALConnections(record.database, doing: "swap \(record.shadow) in as \(record.database)")
        // Held from the last check of the target until after the rename (`holdWrites`).
        var hold: SQLiteConnection?
        defer { if let hold { try? hold.execute("ROLLBACK") } }
        try settleCompanions(record.shadow, role: "shadow")

        let shadowExists = FileIdentity(path: shadowPath) != nil
        if !shadowExists {
            // Already swapped (a repeated call after a crash): the target is the shadow's inode.
            if FileIdentity(path: targetPath) != nil { return record }
            throw FerryError(.copyError, "shadow \(shadowPath) is missing; nothing to swap in", instance: target.instance.name)
        }

        if record.targetExisted {
            guard let checkpoint = record.checkpoint else {
                throw FerryError(.internalError, "swap of an existing database \(record.database) needs a checkpoint name")
            }
            let checkpointPath = path(of: checkpoint)
            guard let current = FileIdentity(path: targetPath) else {
                throw FerryError(.copyError, "database \(record.database) disappeared before the swap", instance: target.instance.name)
            }
            try settleCompanions(record.database, role: "database")
            // Writers wait from the last check until the rename; afterwards SQLite stops them
            // (`SQLITE_READONLY_DBMOVED`) instead of letting them write into the checkpoint.
            hold = try holdWrites(record.database)
            if let expected = record.expectedTargetToken, try contentToken(of: record.database) != expected {
                throw FerryError(.wrongStatus, "\(record.database) on \(target.instance.name) was written during the run, after the append's snapshot; nothing was swapped",
                                 hint: "apply again when nothing writes into it", instance: target.instance.name)
            }
            if FileBirth.identity(ofPath: checkpointPath, followingLinks: false) != nil {
                // Told by the names themselves (`lstat`): a symbolic link there pointing at the
                // target is not the target's second name. Anything else at the checkpoint's name
                // is someone else's (the name holds the run's id): nothing was moved, the target
                // was not touched, and that file is left as it is (round-11 F8: this was a
                // `CopyError`, and the rollback then took the untouched target for the run's).
                guard Self.sameName(checkpointPath, as: targetPath) else {
                    throw FerryError(.wrongStatus, "\(checkpointPath), the name of the run's checkpoint of \(record.database), is already taken by a file the run did not make (it is not \(record.database)); nothing was swapped: \(record.database) was not touched, and that file is left as it is",
                                     hint: "move it away, then apply again", instance: target.instance.name)
                }
            } else if link(targetPath, checkpointPath) != 0 {
                throw FerryError(.copyError, "cannot keep \(targetPath) as checkpoint \(checkpointPath): \(systemMessage())",
                                 instance: target.instance.name)
            }
            try syncDirectory()
        }
        // What the target holds right after the swap: the settled shadow's token (the rename keeps
        // every byte, the inode and the mtime), read before the rename so no later write enters it.
        var swapped = record
        swapped.afterSwapToken = try contentToken(of: record.shadow) ?? record.afterSwapToken
        // The file swapped in, by its identity (the rename keeps it): a checkpoint gone while
        // the target is still that file was removed by someone else, not by an undo (W8-4).
        if record.targetExisted, let shadow = FileIdentity(path: shadowPath) {
            swapped.detail = Self.swappedInDetail(shadow)
        }
        if !record.targetExisted {
            // A file of another database's at the new name's `-journal`, `-wal` or `-shm` would
            // be played into (or read as) the database renamed there (fresh tester w26 H3):
            // refused before the rename, as at plan time; the file is the user's.
            try refuseStrayCompanions(ofMissing: record.database, doing: "nothing was swapped: \(record.database) was not created")
        }
        let shadowOwner = Self.companionOwner(shadowPath)
        try atInstance { try RawFile.rename(shadowPath, to: targetPath, what: "cannot move \(shadowPath) to", as: .copyError) }
        // A reader of the shadow (verify) may have left an empty -wal and a -shm under its old
        // name: removed where provably SQLite's for it, anything else there left (round-11 F3).
        removeShadowCompanions(shadowPath, shadow: shadowOwner)
        removeCopyRecord(for: record.shadow)
        try syncDirectory()
        // The checkpoint by its identity once the rename is done (its inode's ctime moved with the
        // rename): a file someone made at its path later, even one the file system gave the
        // same inode number, is not it (fresh tester w11 F4).
        if record.targetExisted, let checkpoint = record.checkpoint, let kept = FileIdentity(path: path(of: checkpoint)) {
            swapped.detail = (swapped.detail.map { $0 + " " } ?? "") + Self.checkpointDetail(kept)
        }
        return swapped
    }

    /// `checkpoint=DEVICE:INODE:CTIME_NS:MTIME_NS` of the checkpoint file right after the swap
    /// (`SwapRecord.detail`; a release before this one recorded the first three).
    static func checkpointDetail(_ identity: FileIdentity) -> String {
        "checkpoint=\(identity.device):\(identity.inode):\(identity.changedNanoseconds):\(identity.modifiedNanoseconds)"
    }

    /// The recorded checkpoint identity's fields (device, inode, change time, modification time
    /// when recorded), or nil.
    static func recordedCheckpoint(_ record: SwapRecord) -> [Substring]? {
        guard let recorded = record.detail?.split(separator: " ").first(where: { $0.hasPrefix("checkpoint=") }) else { return nil }
        let fields = recorded.dropFirst("checkpoint=".count).split(separator: ":")
        return fields.count >= 3 ? fields : nil
    }

    /// Why the file at `record`'s checkpoint path is not the checkpoint the swap kept (its
    /// identity, recorded at the swap, differs), or nil (it is, or no identity was recorded).
    func checkpointReplaced(_ record: SwapRecord, by file: FileIdentity) -> String? {
        guard let checkpoint = record.checkpoint, let recorded = Self.recordedCheckpoint(record) else { return nil }
        let now = Self.checkpointDetail(file).dropFirst("checkpoint=".count).split(separator: ":")
        guard !zip(recorded, now).allSatisfy({ $0 == $1 }) else { return nil }
        return "the checkpoint \(path(of: checkpoint)) of \(record.database) is not the file the swap kept: it was deleted and made again, or changed, after the swap, by someone else"
    }

    /// Restores the state before `swap` from any point of it. How far the swap got is read from the files:
    /// - target existed, checkpoint present and the same inode as the target: the rename never happened;
    ///   drop the extra name.
    /// - target existed, checkpoint present and the target is another file (or missing): the rename
    ///   happened; the new database goes back to the shadow's name and the checkpoint is renamed over
    ///   the target (atomic).
    /// - target existed, no checkpoint: the swap never linked anything (or the undo already finished).
    /// - target did not exist and the shadow is gone: the rename happened; move the target back to the shadow.
    public func undoSwap(_ record: SwapRecord) throws {
        let targetPath = path(of: record.database)
        let shadowPath = path(of: record.shadow)
        var hold: SQLiteConnection?
        defer { if let hold { try? hold.execute("ROLLBACK") } }
        if try swapIsInPlace(record) {
            try refuseOpenWALConnections(record.database, doing: "swap \(record.database) back")
            // The core's check and the rename back under one hold on writers.
            hold = try holdWrites(record.database)
            if let expected = record.expectedTargetToken, try contentToken(of: record.database) != expected {
                throw FerryError(.wrongStatus, "\(record.database) on \(target.instance.name) was written just now, after the rollback checked it; it was not swapped back",
                                 hint: "`ferry recover` leaves it as it is (it was written after the swap)", instance: target.instance.name)
            }
            // Its own `-wal` (WAL mode, proven by `settleCompanions`) folded into the file only
            // now, after the check: what moves away (kept under the shadow's name, or dropped as
            // the run's data the check proved it holds) is then the whole database, and Ferry's
            // own checkpoint is never taken for a write (w31 A4).
            try settleCompanions(record.database, role: "database")
        }
        if record.targetExisted, let checkpoint = record.checkpoint, swapNeverMoved(record) {
            // The rename never happened (the run's shadow is still at its name, by the identity
            // journaled with `swapBegun`): the target is what it was. Only a second name the
            // swap linked (the target's own inode at the checkpoint's name) is removed; anything
            // else there is someone else's and is left, named in a note (round-11 F8).
            let checkpointPath = path(of: checkpoint)
            guard FileBirth.identity(ofPath: checkpointPath, followingLinks: false) != nil else { return }
            if Self.sameName(checkpointPath, as: targetPath) {
                try atInstance { try RawFile.remove(checkpointPath, as: .copyError) }
                try syncDirectory()
            } else {
                if notedLeft.insert(checkpointPath).inserted {
                    leftNotes.append("\(checkpointPath), at the name of the run's checkpoint of \(record.database), is not the run's (someone else made it during the run): it is left as it is")
                }
            }
            return
        }
        if record.targetExisted, let checkpoint = record.checkpoint {
            let checkpointPath = path(of: checkpoint)
            guard let kept = FileIdentity(path: checkpointPath) else {
                // No checkpoint: the swap never linked one, or an undo put it back, or (the
                // target still the file swapped in) someone removed it: then nothing is restored,
                // and saying "restored" would be false (W8-4).
                if let gone = try checkpointGone(record) {
                    throw FerryError(.copyError, "\(gone); what \(record.database) held before cannot be restored",
                                     hint: "\(record.database) was left as it is", instance: target.instance.name)
                }
                return
            }
            if let replaced = checkpointReplaced(record, by: kept) {
                throw FerryError(.copyError, "\(replaced); what \(record.database) held before cannot be restored",
                                 hint: "\(record.database) was left as it is, and so was that file", instance: target.instance.name)
            }
            let current = FileIdentity(path: targetPath)
            if let current, current.inode == kept.inode && current.device == kept.device {
                try atInstance { try RawFile.remove(checkpointPath, as: .copyError) }
            } else {
                // The checkpoint is put back at the target's name only beside nothing SQLite
                // would play into it or read as its content (fresh tester w26 H3): a `-journal`
                // it would take for hot (or one that is not a plain file), a `-wal` with frames.
                // SQLite's own leftovers of the database leaving (an empty file, a PERSIST
                // journal's zeroed header) are no such thing; a `-shm` no connection holds is
                // rebuilt by SQLite. Checked before anything is moved: the undo stops, all left.
                for suffix in ["-journal", "-wal"] {
                    if let stray = Self.strayCompanion(targetPath + suffix, suffix: suffix, allowsNotHotJournal: true) {
                        throw FerryError(.wrongStatus, "\(stray); the checkpoint \(checkpointPath) put back at \(targetPath) would take it for its own, so nothing was restored: \(record.database), its checkpoint and that file are left as they are",
                                         hint: Self.strayCompanionHint, instance: target.instance.name, reason: .notTheRunsFile)
                    }
                }
                if current != nil && FileBirth.identity(ofPath: shadowPath, followingLinks: false) == nil {
                    // Keep the new database under the shadow's name so the core can drop it.
                    _ = link(targetPath, shadowPath)
                } else if current != nil, !Self.sameName(shadowPath, as: targetPath),
                          try record.afterSwapToken == nil || contentToken(of: record.database) != record.afterSwapToken {
                    // Someone else's file at the shadow's name, and the target may hold writes
                    // made since the swap (`--discard-later-writes`, `--force`): they could not
                    // be kept under that name, and the rename would discard them (round-11 F8).
                    throw FerryError(.wrongStatus, "\(shadowPath), the shadow's name, holds a file that is not the run's, so what \(record.database) holds now (written since the swap) cannot be kept there; nothing was restored, and both are left as they are",
                                     hint: Self.foreignShadowHint, instance: target.instance.name)
                }
                // The new database's leftovers that hold nothing (checked above) go; a zeroed
                // PERSIST journal stays (SQLite never plays it): nothing with data is removed.
                removeEmptyCompanions(of: targetPath)
                try atInstance {
                    try RawFile.rename(checkpointPath, to: targetPath, what: "cannot restore \(targetPath) from checkpoint",
                                       shown: checkpointPath, as: .copyError)
                }
            }
            try syncDirectory()
        } else if !record.targetExisted {
            guard FileIdentity(path: targetPath) != nil else { return }
            // Something at the shadow's name while the target is there: a file someone put at
            // the name the swap freed, or (the swap never happened) a target someone else made.
            // Neither is moved or replaced, and the undo is not reported done (it was "restored").
            if FileBirth.identity(ofPath: shadowPath, followingLinks: false) != nil {
                throw FerryError(.wrongStatus, "\(targetPath) was not moved back to the shadow's name \(shadowPath): a file is there (put there after the swap, by someone else; or the swap never happened and \(record.database) is someone else's); both are left as they are",
                                 hint: Self.foreignShadowHint, instance: target.instance.name)
            }
            try atInstance { try RawFile.rename(targetPath, to: shadowPath, what: "cannot move \(targetPath) back to", as: .copyError) }
            // Only leftovers that hold nothing go; anything else at those names is not provably
            // the run's (a file of another database's left there before the run): left, named.
            removeEmptyCompanions(of: targetPath)
            for suffix in ["-journal", "-wal"] {
                let companion = targetPath + suffix
                if FileBirth.identity(ofPath: companion, followingLinks: false) != nil, notedLeft.insert(companion).inserted {
                    leftNotes.append("\(companion), beside \(record.database) (which the run created and its undo took away), is not provably the run's, so it was not removed: it is left as it is")
                }
            }
            try syncDirectory()
        }
    }

    /// Removes `file`'s `-wal` and `-journal` where each is an empty regular file with one name
    /// (nothing SQLite could play or read); anything else there is left.
    func removeEmptyCompanions(of file: String) {
        for suffix in ["-wal", "-journal"] {
            var info = stat()
            guard lstat(file + suffix, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size == 0, info.st_nlink == 1 else { continue }
            _ = unlink(file + suffix)
        }
    }

    /// Holds off every other writer of `name` (a connection in `BEGIN IMMEDIATE`, SQLite's
    /// RESERVED lock, waiting up to the busy timeout for one under way) while a check and a rename
    /// run; nil for a database in WAL mode, whose connection would, on its close, fold the `-wal`
    /// found by path (the other file's, after the rename) into the file it opened; WAL databases
    /// rely on `refuseOpenWALConnections`. The caller ends it with `ROLLBACK`.
    func holdWrites(_ name: String) throws -> SQLiteConnection? {
        try refuseForeignCompanions(ofExisting: name, doing: "Ferry did not open \(name) to hold off its writers, and nothing was moved")
        // WAL mode told from the header, before any connection: a read-write connection's close
        // checkpoints the `-wal` into the file (w31 A4: `rollback --force` then found the target
        // "written just now" by Ferry's own open).
        if let header = Self.mainHeader(path(of: name))?.bytes, header.count >= 20, header[18] == 2, header[19] == 2 { return nil }
        let connection = try SQLiteConnection(path: path(of: name))
        if try connection.strings("PRAGMA journal_mode").first?.lowercased() == "wal" { return nil }
        do {
            try connection.execute("BEGIN IMMEDIATE", as: .wrongStatus)
        } catch let error as FerryError {
            throw FerryError(.wrongStatus, "cannot hold off the writers of \(path(of: name)) for the swap: \(error.message)",
                             hint: "an application keeps a write transaction open on it; apply again (or `ferry recover`) once it ends",
                             instance: target.instance.name)
        }
        return connection
    }

    /// Refuses (`OperationDenied.WrongStatus`) to rename anything under `name` while another
    /// process has it open in WAL mode (`SQLiteWALHolders`): that connection's later commits
    /// would go into the `-wal` beside the other file and be lost.
    func refuseOpenWALConnections(_ name: String, doing what: String) throws {
        let pids = SQLiteWALHolders.holders(of: path(of: name))
        guard !pids.isEmpty else { return }
        let who = pids.map { $0 > 0 ? "pid \($0)" : "a process of another namespace" }.joined(separator: ", ")
        throw FerryError(.wrongStatus, "\(path(of: name)) is open in WAL mode by \(who); Ferry did not \(what), since that connection would go on writing into the -wal beside the other file and its writes would be lost",
                         hint: "close the application's connections to it (or use rollback-journal mode there), then apply again (or `ferry recover`)",
                         instance: target.instance.name)
    }

    /// The swap is one `rename(2)` (the checkpoint's link before it changes nothing the user sees).
    public var swapIsAtomic: Bool { true }

    /// In place: the target existed, its checkpoint name is there and the target is another file
    /// (the rename happened, `undoSwap` has not put the checkpoint back); or the target did not
    /// exist, and it is there while the shadow's name is gone.
    public func swapIsInPlace(_ record: SwapRecord) throws -> Bool {
        if swapNeverMoved(record) { return false }
        let current = FileIdentity(path: path(of: record.database))
        if record.targetExisted, let checkpoint = record.checkpoint {
            guard let kept = FileIdentity(path: path(of: checkpoint)), let current else { return false }
            return !(current.inode == kept.inode && current.device == kept.device)
        }
        return current != nil && FileIdentity(path: path(of: record.shadow)) == nil
    }

    /// Journals the shadow's identity (`shadow=DEV:INO:bBIRTH`, `FileBirth`) with `swapBegun`:
    /// a swap that stopped before its rename then reads as such from the files alone
    /// (`swapNeverMoved`), whatever someone put at the checkpoint's name meanwhile.
    public func prepareSwap(_ record: SwapRecord) throws -> SwapRecord {
        var prepared = record
        if let shadow = FileBirth.identity(ofPath: path(of: record.shadow), followingLinks: false) {
            prepared.detail = (record.detail.map { $0 + " " } ?? "") + "shadow=\(shadow)"
        }
        return prepared
    }

    /// The swap of `record` never renamed anything: its `swapBegun` journaled the shadow's
    /// identity (`prepareSwap`), the shadow's name still holds that very file (a regular file,
    /// its device, inode and birth time), and the target is another file (an undo that linked
    /// the swapped-in file back to the shadow's name leaves both names on one inode).
    func swapNeverMoved(_ record: SwapRecord) -> Bool {
        guard let recorded = record.detail?.split(separator: " ").first(where: { $0.hasPrefix("shadow=") })?.dropFirst("shadow=".count),
              let shadow = FileIdentity(path: path(of: record.shadow)), shadow.isRegularFile,
              FileBirth.matches(FileBirth.identity(ofPath: path(of: record.shadow), followingLinks: false), recorded: String(recorded)) else { return false }
        return !Self.sameName(path(of: record.shadow), as: path(of: record.database))
    }

    public func swapMovedNothing(_ record: SwapRecord) throws -> Bool { swapNeverMoved(record) }

    /// `a` and `b` are two names of one inode (`lstat`: a symbolic link is its own file).
    static func sameName(_ a: String, as b: String) -> Bool {
        var x = stat(), y = stat()
        guard lstat(a, &x) == 0, lstat(b, &y) == 0 else { return false }
        return x.st_dev == y.st_dev && x.st_ino == y.st_ino
    }

    /// `swappedIn=DEVICE:INODE` of the file a swap put in place (`SwapRecord.detail`).
    static func swappedInDetail(_ identity: FileIdentity) -> String { "swappedIn=\(identity.device):\(identity.inode)" }

    /// The checkpoint the swap kept is there: a file at its path that is that file (its device,
    /// inode and change time as recorded at the swap; a record of an earlier release without
    /// them goes by the path).
    public func checkpointIsThere(_ record: SwapRecord) throws -> Bool {
        guard let checkpoint = record.checkpoint, let file = FileIdentity(path: path(of: checkpoint)) else { return false }
        return checkpointReplaced(record, by: file) == nil
    }

    /// A file at the checkpoint's path that is not the one the swap kept is someone else's: left.
    public func dropCheckpoint(_ record: SwapRecord) throws -> String? {
        guard let checkpoint = record.checkpoint else { return nil }
        if let file = FileIdentity(path: path(of: checkpoint)), let replaced = checkpointReplaced(record, by: file) {
            return "\(replaced); it was left as it is"
        }
        try drop(checkpoint)
        return nil
    }

    /// SQLite tells a gone checkpoint from the files alone (`checkpointGone`).
    public var tellsGoneCheckpoints: Bool { true }

    /// Gone (`EngineSession.checkpointGone`): the checkpoint's file is not there (or is another
    /// file), the shadow's name is gone, and the target is not the checkpoint put back (its
    /// device and inode, recorded at the swap): no undo put the checkpoint back, so someone
    /// deleted or renamed it, whatever the target is now — the very file the swap put in place,
    /// a file of someone else's, or none (fresh tester w14 F2: the last two read as an undo
    /// already finished, "restored"). Nil when the target is the checkpoint put back, or for a
    /// swap journaled without those records (an earlier release).
    public func checkpointGone(_ record: SwapRecord) throws -> String? {
        if record.targetExisted, let checkpoint = record.checkpoint, let file = FileIdentity(path: path(of: checkpoint)),
           let replaced = checkpointReplaced(record, by: file) {
            return replaced
        }
        guard record.targetExisted, let checkpoint = record.checkpoint, let detail = record.detail,
              detail.split(separator: " ").first?.hasPrefix("swappedIn=") == true,
              let kept = Self.recordedCheckpoint(record),
              FileIdentity(path: path(of: checkpoint)) == nil, FileIdentity(path: path(of: record.shadow)) == nil else { return nil }
        let current = FileIdentity(path: path(of: record.database))
        // Put back by an undo: the checkpoint's file, renamed (which keeps its device, inode and
        // modification time; a file made again may get the freed inode number, not its time).
        if let current, "\(current.device)" == kept[0], "\(current.inode)" == kept[1],
           kept.count < 4 || "\(current.modifiedNanoseconds)" == kept[3] { return nil }
        let gone = "the checkpoint \(path(of: checkpoint)) of \(record.database) is gone: it was deleted or renamed after the swap, by someone else"
        guard let current else { return gone + ", and \(record.database) itself is gone too" }
        return detail.split(separator: " ").first.map(String.init) == Self.swappedInDetail(current) ? gone
            : gone + ", and \(record.database) was replaced by another file since"
    }

    /// Folds a database's `-wal` into its main file and rolls back a hot `-journal`, so that the main
    /// file alone is the whole database. Refuses when another connection keeps a non-empty WAL.
    func settleCompanions(_ name: String, role: String) throws {
        let file = path(of: name)
        if role == "shadow" {
            // Nothing of the run's is ever there to settle (its shadows are written with
            // journal_mode=OFF, and its readers write no frame): anything there is someone
            // else's (round-11 F3). Nothing is opened; the swap stops, all of it left as it is.
            try refuseForeignCompanions(ofShadow: file, doing: "nothing was swapped")
            return
        }
        // Only what is provably the database's own is settled into it (w31 A6: another
        // database's WAL beside a rollback-journal-mode target was checkpointed into it here).
        try refuseForeignCompanions(ofExisting: name, doing: "nothing was swapped: \(name) was not opened or touched")
        let wal = FileIdentity(path: file + "-wal")
        let journal = FileIdentity(path: file + "-journal")
        guard (wal?.size ?? 0) > 0 || (journal?.size ?? 0) > 0 else { return }
        do {
            let connection = try SQLiteConnection(path: file)
            // Reading takes the shared lock, which rolls back a hot journal first.
            _ = try connection.integer("SELECT count(*) FROM sqlite_schema")
            if (FileIdentity(path: file + "-wal")?.size ?? 0) > 0 {
                try connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            }
        } catch let error as FerryError {
            throw FerryError(.copyError, "cannot settle the \(role) \(file) before the swap: \(error.message)",
                             instance: target.instance.name, cause: error.cause)
        }
        if (FileIdentity(path: file + "-wal")?.size ?? 0) > 0 {
            throw FerryError(.wrongStatus, "the \(role) \(file) has a write-ahead log another connection keeps open",
                             hint: "close the programs using \(file) and apply again", instance: target.instance.name)
        }
    }
}
