import FerryCore
@testable import FerryMySQL
import Testing

/// Fresh tester round 7, F4: a server out of disk is `DiskFull` wherever it happens (a copy's
/// load, its keys, its verify), not `CopyError` or `VerifyFailed` depending on the moment.
@Suite struct MySQLDiskFullCodeTests {
    @Test(arguments: [
        (UInt32(1114), "The table 't' is full"),
        (UInt32(1021), "Disk full (/var/tmp/x); waiting for someone to free some space..."),
        (UInt32(3), "Error writing file '/tmp/MYfd=42' (Errcode: 28 \"No space left on device\")"),
        (UInt32(1030), "Got error 28 \"No space left on device\" from storage engine InnoDB (errno: 28)"),
    ])
    func aFullDiskIsDiskFull(code: UInt32, message: String) {
        for step in [ErrorCode.copyError, .verifyFailed, .importError] {
            let error = MySQLServerError(code: code, message: message, statement: "ALTER TABLE t ADD KEY k (v)").ferry(step, "the step", instance: "a")
            #expect(error.diagnostics.first?.code == .diskFull, "\(code) during \(step)")
        }
    }

    @Test func otherErrorsKeepTheStepsCode() {
        let error = MySQLServerError(code: 1062, message: "Duplicate entry '28' for key 'PRIMARY'", statement: "INSERT").ferry(.copyError, "the step", instance: "a")
        #expect(error.diagnostics.first?.code == .copyError)
    }
}
