import Foundation

/// What a command waiting for the state lock is told, so that it can say who holds it.
public enum LockWait: Sendable {
    /// The lock is held, by `holder` (nil: a lock that cannot be read); told first, and again
    /// when another holder takes it meanwhile.
    case held(by: LockInfo?, timeout: TimeInterval)
    /// Still held after `waited` seconds (told every `progressInterval`).
    case stillWaiting(waited: TimeInterval, timeout: TimeInterval)
}

extension StateBackend {
    /// Takes the lock, waiting up to `timeout` seconds while another run holds it (`--lock-timeout`,
    /// SPEC §6). `timeout` 0 tries once, as `acquireLock(operation:)`. While it waits it asks again
    /// every `pollInterval` seconds and tells `waiting` who holds the lock (once, and when the holder
    /// changes), then every `progressInterval` seconds that it still waits. Throws `StateLocked`
    /// naming the holder when the time is up; a lock whose holder dies meanwhile is taken over.
    public func acquireLock(operation: String, timeout: TimeInterval, pollInterval: TimeInterval = 0.2,
                            progressInterval: TimeInterval = 10, waiting: (LockWait) -> Void = { _ in }) throws -> any StateLease {
        let start = Date()
        var toldOnce = false
        var toldHolder: String?
        var lastTold = start
        while true {
            do {
                return try acquireLock(operation: operation)
            } catch let error as FerryError where error.code == .stateLocked {
                let waited = Date().timeIntervalSince(start)
                guard waited < timeout else {
                    guard timeout > 0, let first = error.diagnostics.first else { throw error }
                    throw FerryError(.stateLocked, first.message + " (still, after waiting \(Format.seconds(waited)))", hint: first.hint)
                }
                let holder = lockHolder()
                if !toldOnce || toldHolder != holder?.id {
                    waiting(.held(by: holder, timeout: timeout))
                    toldOnce = true
                    toldHolder = holder?.id
                    lastTold = Date()
                } else if Date().timeIntervalSince(lastTold) >= progressInterval {
                    waiting(.stillWaiting(waited: waited, timeout: timeout))
                    lastTold = Date()
                }
                Thread.sleep(forTimeInterval: max(0.01, min(pollInterval, timeout - waited)))
            }
        }
    }
}

extension Format {
    /// Seconds as a user writes a duration: `45s`, `2m`, `2m30s`, `1h5m`.
    public static func seconds(_ value: TimeInterval) -> String {
        let total = Int(value.rounded())
        let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60)
        var text = ""
        if h > 0 { text += "\(h)h" }
        if m > 0 { text += "\(m)m" }
        if s > 0 || text.isEmpty { text += "\(s)s" }
        return text
    }
}
