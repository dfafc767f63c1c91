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

    /// Fresh tester round 31, F7: a table the server marked crashed (an Aria table a full disk
    /// cut short) was `Internal`; it is `WrongStatus` with a hint to repair it. The messages are
    /// the servers' own (the first from the round's report, 176 and 1034 from MariaDB 10.11 with
    /// an Aria index page overwritten).
    @Test(arguments: [
        (UInt32(144), "Got error '144 \"Table is crashed and last repair failed\"' for './impa__ferry_s_05926026Z@002dcc82f7/t'"),
        (UInt32(176), "Got error '176 \"Read page with wrong checksum\"' for './crashx/t.MAI'"),
        (UInt32(1034), "Index for table 't' is corrupt; try to repair it"),
        (UInt32(1194), "Table 't' is marked as crashed and should be repaired"),
        (UInt32(1030), "Got error 145 \"Table was marked as crashed and should be repaired\" from storage engine Aria"),
    ])
    func aCrashedTableIsWrongStatusWithARepairHint(code: UInt32, message: String) {
        let error = MySQLServerError(code: code, message: message, statement: "DROP DATABASE x").ferry(.internalError, "cannot drop x", instance: "a")
        #expect(error.diagnostics.first?.code == .wrongStatus, "\(code)")
        #expect(error.diagnostics.first?.hint?.contains("REPAIR TABLE") == true)
    }

    @Test func anEnginesOtherRefusalIsNotACrash() {
        let error = MySQLServerError(code: 1030, message: "Got error 1 \"Operation not permitted\" from storage engine Aria", statement: "DROP DATABASE x").ferry(.copyError, "cannot drop x", instance: "a")
        #expect(error.diagnostics.first?.code == .copyError)
    }

    /// Fresh tester round 35, F4: a target user without SELECT on one table was `InstanceNotFound`
    /// at plan ("cannot describe b"). A refusal by rights is `WrongStatus` where the step has no
    /// code of its own; an import's or a copy's keeps theirs.
    @Test func aRefusalByRightsIsWrongStatusUnlessTheStepHasItsOwnCode() {
        let denied = MySQLServerError(code: 1142, message: "SELECT command denied to user 'u'@'127.0.0.1' for table `app_dev`.`log`", statement: "CHECKSUM TABLE")
        #expect(denied.ferry(.instanceNotFound, "cannot describe b", instance: "b").code == .wrongStatus)
        #expect(denied.ferry(.internalError, "cannot read", instance: "b").code == .wrongStatus)
        #expect(denied.ferry(.importError, "f.sql:3", instance: "b").code == .importError)
        #expect(denied.ferry(.copyError, "cannot copy", instance: "b").code == .copyError)
    }

    @Test func otherErrorsKeepTheStepsCode() {
        let error = MySQLServerError(code: 1062, message: "Duplicate entry '28' for key 'PRIMARY'", statement: "INSERT").ferry(.copyError, "the step", instance: "a")
        #expect(error.diagnostics.first?.code == .copyError)
    }
}
