/// How serious a diagnostic is.
public enum Severity: String, Sendable, Codable {
    case error, warning
}

/// One problem found in a plan or during a run: its code, message, place and a hint.
public struct Diagnostic: Error, Hashable, Sendable, Codable, CustomStringConvertible {
    public var severity: Severity
    public var code: ErrorCode
    public var message: String
    /// File, line, column and JSON path for plan problems.
    public var location: SourceLocation?
    /// Resource address and instance for problems found at run time.
    public var address: String?
    public var instance: String?
    public var hint: String?
    /// Why a run-time failure is not an ordinary one, for the commands that choose what to print
    /// and which exit code; nil for every other diagnostic. Never printed nor encoded (not in
    /// `CodingKeys`: JSON output and schemas stay as they were).
    public var reason: Reason? = nil

    enum CodingKeys: String, CodingKey {
        case severity, code, message, location, address, instance, hint
    }

    /// Failures a run or a rollback reports on purpose, told apart by type rather than by words
    /// (SPEC §6 "Writes during a run").
    public enum Reason: String, Hashable, Sendable, Codable {
        /// A swapped target written after its swap, which a rollback left as it is with its
        /// checkpoint beside it (journal `kept`): the run is over, not as before.
        case keptWrittenSinceSwap
        /// A swap or its undo that stopped, nothing renamed, because another session stands in
        /// its way for now (its statement or lock holds the tables past the hold's wait, a DDL
        /// statement of the checkpoint is under way, a foreign key of another database joins a
        /// table it moves): a retry once that is gone goes on. Never "written after the rollback
        /// began" (fresh tester round 60, 8: a refusal for an application's ALTER statements on
        /// the checkpoint was summed up so).
        case inTheWayForNow
        /// A target an interrupted `ferry rollback RUN` does not restore because it was written
        /// after that rollback began: the rollback run stays pending until the user chooses
        /// (`ferry recover --keep-later-writes` / `--discard-later-writes`).
        case heldWrittenSinceRollbackBegan
        /// Like `heldWrittenSinceRollbackBegan`, where the engine's undo refused because the
        /// target holds objects made in it since (an application's view or table in a MariaDB
        /// target): `--keep-later-writes` leaves it, but `--discard-later-writes` cannot restore
        /// over it either (Ferry never drops what it did not make) until those objects are moved
        /// out (fresh tester round 13, F6: it was offered, then refused).
        case heldMadeInSinceRollbackBegan
        /// A run refused under a MariaDB swap's hold after it had taken the target's triggers off
        /// its tables (SPEC, "The cut-over under a hold"): rows written in that time fired none
        /// of them, so the run's end does not say "as they were" (fresh tester round 46, L1).
        case triggersOffBeforeHold

        /// Either kind of target a pending rollback holds back for the user's choice.
        public var isHeldForUser: Bool { self == .heldWrittenSinceRollbackBegan || self == .heldMadeInSinceRollbackBegan }
        /// A target an interrupted `ferry rollback RUN` cannot restore because its checkpoint
        /// is gone (dropped or renamed by someone else after the swap): the rollback run stays
        /// pending until `ferry recover --keep-later-writes` finishes it leaving the target as
        /// it is (W8-4).
        case checkpointGoneSinceSwap
        /// An undo step on an instance the user abandoned (`ferry recover --abandon INSTANCE`,
        /// journal `abandoned`): nothing was done there; the run is over, not as before.
        case abandonedByUser
        /// A file at a name of the run (a shadow's, a checkpoint's) that is not the file the
        /// run made there: someone else's, left as it is (round-11 F8).
        case notTheRunsFile
        /// A swapped target an interrupted run's `ferry recover` does not restore because the
        /// run's claims on it were released since it stopped (`ferry unlock --claims` from another
        /// working copy): another run may have swapped or written it since. The run stays pending
        /// until the user chooses (`--keep-later-writes` / `--discard-later-writes`; round-14 A3).
        case heldClaimsReleased
        /// An engine's undo that restored its target (it holds again what it held before the
        /// run) but left the run's checkpoint, which holds what the swap did not put there (a
        /// table or view someone made in it): the step waits until that is moved out, and then
        /// `ferry recover` drops the checkpoint. Never "not restored" nor "written after the
        /// rollback began" (fresh tester round 38, F1: a MariaDB rollback said both of a target it
        /// had restored). The message holds `Recovery.restoredCheckpointHeldPhrase`.
        case restoredCheckpointHeld
        /// An engine's undo of a swap that did not run because the connection holding the run's
        /// claims (claims that end with their connection: Redis) failed before it: another run
        /// may have claimed the target since. The undo holds it as for claims lost before it
        /// (`Recovery.claimsLostDiagnostic`).
        case claimsLostBeforeUndo
    }

    public init(_ code: ErrorCode, _ message: String, at location: SourceLocation? = nil, address: String? = nil,
                instance: String? = nil, hint: String? = nil, severity: Severity = .error, reason: Reason? = nil) {
        self.severity = severity
        self.reason = reason
        self.code = code
        // A last guard for SPEC §9: a URL that reached a message whole (a server's answer, an
        // endpoint from the environment) is redacted before the message can be printed or journaled.
        self.message = Redaction.redactURLs(in: message)
        self.location = location
        self.address = address
        self.instance = instance
        self.hint = hint.map(Redaction.redactURLs(in:))
    }

    /// The diagnostic as users see it (SPEC §8), without colour.
    /// Control characters of the parts are escaped: each part stays on its line (SPEC §9).
    public var description: String {
        let e = Redaction.escapeControlCharacters
        var text = "\(severity.rawValue)[\(code.rawValue)]: \(e(message))"
        if let location {
            text += "\n  --> \(e(location.description))"
        } else if address != nil || instance != nil {
            let parts = [address.map { "resource \($0)" }, instance.map { "instance \($0)" }].compactMap { $0 }
            text += "\n  --> " + e(parts.joined(separator: ", "))
        }
        if let hint { text += "\n  hint: \(e(hint))" }
        return text
    }
}

/// An error with a code: what every failure inside Ferry becomes before it reaches the user.
/// An engine's own error that knows how it reads as a `FerryError` (its code and words), so one
/// that escapes the engine's own classification is still reported by its code, never `Internal`
/// (a Redis `NOPERM` reply is `OperationDenied.WrongStatus` wherever it surfaces).
public protocol FerryErrorConvertible: Error {
    var ferryError: FerryError { get }
}

public struct FerryError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]
    /// Engine or system detail shown only with `-v` (never a secret).
    public var detail: String?
    /// The engine's own error this one was made from (an `SQLiteError` with SQLite's result code,
    /// say), so that a caller decides by the engine's code rather than by text. Never printed:
    /// its message is in the diagnostic already.
    public var cause: (any Error & Sendable)?

    public init(_ code: ErrorCode, _ message: String, hint: String? = nil, address: String? = nil,
                instance: String? = nil, at location: SourceLocation? = nil, detail: String? = nil,
                cause: (any Error & Sendable)? = nil, reason: Diagnostic.Reason? = nil) {
        diagnostics = [Diagnostic(code, message, at: location, address: address, instance: instance, hint: hint, reason: reason)]
        self.detail = detail
        self.cause = cause
    }

    public init(diagnostics: [Diagnostic]) {
        self.diagnostics = diagnostics
    }

    /// `error` as a `FerryError`: itself, the form a `FerryErrorConvertible` gives, or `Internal`
    /// with the error's words (a fault of Ferry's, not of the input or the servers).
    public init(classifying error: any Error) {
        if let ferry = error as? FerryError {
            self = ferry
        } else if let convertible = error as? any FerryErrorConvertible {
            self = convertible.ferryError
        } else {
            self.init(.internalError, "\(error)")
        }
    }

    /// The first diagnostic of `FerryError(classifying:)`.
    public static func diagnostic(_ error: any Error) -> Diagnostic {
        FerryError(classifying: error).diagnostics.first ?? Diagnostic(.internalError, "\(error)")
    }

    /// The first (main) code.
    public var code: ErrorCode { diagnostics.first?.code ?? .internalError }
    public var message: String { diagnostics.first?.message ?? "" }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }

    /// The same error, placed at a resource and instance where it has no place yet.
    public func placed(address: String?, instance: String?) -> FerryError {
        var copy = self
        copy.diagnostics = diagnostics.map { diagnostic in
            var d = diagnostic
            if d.location == nil {
                if d.address == nil { d.address = address }
                if d.instance == nil { d.instance = instance }
            }
            return d
        }
        return copy
    }
}
