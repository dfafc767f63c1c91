import FerryCore
import FerryIO
@testable import FerryMySQL
import Testing

/// tester14m F4: a shadow's name fits 64 characters as the import account's GRANT writes it
/// (`_`, `%`, `\` escaped), for every database name SPEC allows; the run's suffix survives whole.
@Suite struct MySQLShadowNameTests {
    @Test(arguments: [
        "x2345678901234567890123456789012345", "a_b_c_d_e_f_g_h_i_j_k_l_m_n_o_p", String(repeating: "_", count: 64),
        String(repeating: "d", count: 64), "short", "50%_off\\", String(repeating: "é_", count: 32),
    ])
    func shadowNamesFitTheGrant(_ database: String) {
        for run in ["20261130T120851Z-0ce171", "r_u_n_with_many_underscores_1234"] {
            let shadow = MySQLSession.derivedName(database, marker: "s", runID: run)
            let suffix = MySQLSession.runSuffix(marker: "s", runID: run)
            #expect(MySQLSession.grantLength(shadow) <= 64, "\(shadow)")
            #expect(MySQLImportAccount.grantName(shadow).count - 2 == MySQLSession.grantLength(shadow))
            #expect(shadow.count <= 64 && shadow.hasSuffix(suffix) && MySQLSession.runTag(of: shadow) != nil)
            #expect(shadow != MySQLSession.derivedName(database + "x", marker: "s", runID: run), "names stay apart")
            // A name that fit already keeps its earlier form (runs of older releases recover).
            if MySQLSession.grantLength(database + suffix) <= 64 {
                #expect(shadow == database + suffix && shadow == MySQLSession.legacyShadowName(database, runID: run))
            }
            // Checkpoints keep the 64-character rule alone (kept checkpoints of earlier runs).
            #expect(MySQLSession.derivedName(database, marker: "c", runID: run)
                    == DerivedName.make(database, suffix: MySQLSession.runSuffix(marker: "c", runID: run), limit: .characters64) {
                        Digest.sha256(Array($0.utf8))
                    })
        }
    }
}
