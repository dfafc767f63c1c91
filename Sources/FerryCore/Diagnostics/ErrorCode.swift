/// The stable error codes of SPEC §8. The raw value is what users see and what `ferry explain` takes.
public enum ErrorCode: String, Sendable, Codable, CaseIterable {
    case syntax = "InvalidParameter.Syntax"
    case unknownField = "InvalidParameter.UnknownField"
    case type = "InvalidParameter.Type"
    case duplicateName = "InvalidParameter.DuplicateName"
    case unknownInstance = "InvalidParameter.UnknownInstance"
    case unknownAddress = "InvalidParameter.UnknownAddress"
    case sameDatabase = "InvalidParameter.SameDatabase"
    case pathOutsideRoot = "InvalidParameter.PathOutsideRoot"
    case literalPassword = "InvalidParameter.LiteralPassword"
    case unsetVariable = "InvalidParameter.UnsetVariable"
    case secretUnreadable = "InvalidParameter.SecretUnreadable"
    case invalidParameter = "InvalidParameter"
    case cycleDetected = "CycleDetected"
    case instanceNotFound = "InstanceNotFound"
    case wrongPassword = "OperationDenied.WrongPassword"
    case wrongStatus = "OperationDenied.WrongStatus"
    case protected = "OperationDenied.Protected"
    case crossAccount = "OperationDenied.CrossAccount"
    case readOnly = "OperationDenied.ReadOnly"
    case diskFull = "DiskFull"
    case nameConflict = "NameConflict"
    case versionMismatch = "VersionMismatch"
    case storageLimitExceeded = "StorageLimitExceeded"
    case importError = "ImportError"
    case copyError = "CopyError"
    case verifyFailed = "VerifyFailed"
    case planStale = "PlanStale"
    case stateLocked = "StateLocked"
    case runInterrupted = "RunInterrupted"
    case interrupted = "Interrupted"
    case backupNotFound = "BackupNotFound"
    case internalError = "Internal"

    /// Finds a code by its name, case-insensitively; `Syntax` alone finds `InvalidParameter.Syntax`.
    public static func named(_ text: String) -> ErrorCode? {
        let lower = text.lowercased()
        return allCases.first { $0.rawValue.lowercased() == lower }
            ?? allCases.first { $0.rawValue.lowercased().hasSuffix("." + lower) }
    }

    /// What `ferry explain CODE` prints.
    public var explanation: String {
        switch self {
        case .syntax:
            "The plan file is not valid JSON. The location points at the first character that could not be read; fix it and run `ferry validate`."
        case .unknownField:
            "A field name is not part of the plan format (SPEC §2). Usually a typo: the hint names the closest known field."
        case .type:
            "A field holds the wrong kind of value (a string where a number is expected, an unknown engine, a bad size or duration)."
        case .duplicateName:
            "A name is used twice: an instance or resource defined in two files, two sources or two targets of a rename map sharing a name, or two resources writing the same database."
        case .unknownInstance:
            "A resource names an instance that no plan file declares."
        case .unknownAddress:
            "An address in `after`, `--target` or `--replace` names no resource. Addresses are `import.NAME`, `copy.NAME`, `backup.NAME`."
        case .sameDatabase:
            "A copy's source and target are the same database on the same instance."
        case .pathOutsideRoot:
            "A file source lies outside the project tree (after following symbolic links). Move it inside, or pass `--allow-outside PATH` to allow that path."
        case .literalPassword:
            "Passwords are never written in plan files. Use {\"env\": \"VAR\"} or {\"file\": \"path\"}, and keep credentials out of URLs."
        case .unsetVariable:
            "A `${env:NAME}` reference names a variable that is not set. Set it, or give a default with `${env:NAME:-default}`."
        case .secretUnreadable:
            "A password file (`\"password\": {\"file\": \"path\"}`) is missing, unreadable or not UTF-8. The message names the path; `validate` checks that it exists and is a readable regular file."
        case .readOnly:
            "Ferry cannot write where it must: an SQLite instance directory, a backup directory or the state directory is read-only or not writable by this user (EROFS, EACCES, EPERM). The message names the path; nothing was changed there."
        case .diskFull:
            "The file system under the state directory, an SQLite instance directory or a backup directory is full, over its quota or over the process's file-size limit (ENOSPC, EDQUOT, EFBIG). The message names the path. Free space and run the command again; a run that was under way was rolled back or waits for `ferry recover`."
        case .invalidParameter:
            "A value is not allowed here (an empty list, a name the engine cannot hold, a format the target engine cannot import)."
        case .cycleDetected:
            "Resources depend on each other in a loop (through `after` or through databases they read and write). The message names every member of the cycle."
        case .instanceNotFound:
            "An instance could not be reached: the host, port, socket or directory does not answer or does not exist."
        case .wrongPassword:
            "The instance refused the credentials. Check the user in the URL and the password reference."
        case .wrongStatus:
            "An instance or database is in use by another run (shown as Migrating for a source, Importing for a target), named with its holder, host and pid. Wait for it, or recover it with `ferry recover` from its state directory. A run whose process is gone and that left nothing on the instance is cleared by itself; if its state directory is gone too, `ferry unlock --claims INSTANCE RUN` shows what it left and releases its claims."
        case .protected:
            "The instance is marked `protect: true`; Ferry refuses to replace or drop any database on it."
        case .crossAccount:
            "A copy crosses accounts. Add \"allowCrossAccount\": true to the copy if that is intended."
        case .nameConflict:
            "The target database exists and is not this resource's own. Set `onExisting` to `replace` (or `append` for imports), or choose another name."
        case .versionMismatch:
            "The target engine version is older than the source's; a copy could lose features or fail to load."
        case .storageLimitExceeded:
            "The target would outgrow its `storageLimit` or its free disk once the planned data lands."
        case .importError:
            "An import failed while loading: the message names the file and the line (or key and offset) of the failing statement. The target was rolled back."
        case .copyError:
            "A copy failed while moving data. The target was rolled back."
        case .verifyFailed:
            "The built database does not match its source (row counts or checksums differ). Nothing was swapped in."
        case .planStale:
            "A saved plan no longer matches the instances or the state: something changed since it was made. Also: the state changed between this command's read and its write (another writer got there first; nothing was written). Run `ferry plan` again and review."
        case .stateLocked:
            "Another run holds the state lock. The message names the holder; if it is gone, `ferry unlock LOCK_ID` releases it. A lock file that cannot be read (empty or damaged) is taken over 30 seconds after it was written; `ferry unlock` without an id removes it at once. `--lock-timeout DURATION` waits for the lock instead of failing at once."
        case .runInterrupted:
            "A previous run was interrupted (crash or kill). Run `ferry recover` to roll it back before anything else changes the instances."
        case .interrupted:
            "The run was interrupted (Ctrl-C or SIGTERM): it started no more steps, stopped the running ones and rolled back (exit 3). A second Ctrl-C leaves the run for `ferry recover` (exit 4)."
        case .backupNotFound:
            "No backup set matches the copy's `backup` id or `at` time."
        case .internalError:
            "Something inside Ferry failed unexpectedly. Run with -v for details and report it."
        }
    }
}
