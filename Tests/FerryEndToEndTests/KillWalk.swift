import Foundation
import Testing

/// The walk every kill test makes (issue 15, DESIGN.md's fault layer): a command is run killed at
/// each point in turn (`FERRY_TEST_KILL_AT`: before/after the N-th journal record, named changes),
/// and once a point of some kind lets the command run to the end, later points of that kind are
/// skipped (there are no more records to kill at). Shared by the SQLite, MariaDB and Redis suites.
struct KillWalk {
    private var done = Set<String>()
    /// Points at which the command was really killed (exit 9, the signal).
    private(set) var kills = 0

    /// Runs `args` killed at `point`; nil when a point of its kind already ran to the end. A run
    /// that was not killed must have succeeded (exit 0).
    mutating func run(_ project: Project, killAt point: String, _ args: [String]) throws -> Project.Result? {
        let kind = String(point.split(separator: "#")[0])
        if done.contains(kind) { return nil }
        project.environment["FERRY_TEST_KILL_AT"] = point
        defer { project.environment["FERRY_TEST_KILL_AT"] = nil }
        let result = try project.run(args)
        if result.code != 9 {
            #expect(result.code == 0, "\(point): \(result.all)")
            done.insert(kind)
        } else {
            kills += 1
        }
        return result
    }

    /// After a kill, SPEC §6: `plan` is refused with `RunInterrupted` (or has nothing in the way
    /// when the kill left no unfinished run), and `ferry recover` settles the run.
    static func expectRefusedUntilRecovered(_ project: Project, at point: String) throws {
        let plan = try project.run("plan")
        if plan.code == 1 { #expect(plan.stderr.contains("RunInterrupted"), "\(point): \(plan.all)") }
        let recovered = try project.run("recover")
        #expect(recovered.code == 0, "\(point): \(recovered.all)")
    }
}
