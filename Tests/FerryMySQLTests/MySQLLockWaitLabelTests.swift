import Testing
@testable import FerryMySQL

/// `MySQLLockWaitWatch.label`: how a note of a wait names Ferry's statement, by its leading
/// keywords and first quoted name, never by its text (which may hold a row's data).
struct MySQLLockWaitLabelTests {
    @Test(arguments: [
        ("RENAME TABLE `a`.`t` TO `a__ferry_c_1`.`t`", "RENAME TABLE of `a`.`t`"),
        ("DROP TRIGGER IF EXISTS `d`.`x``y`", "DROP TRIGGER of `d`.`x``y`"),
        ("LOCK TABLES `d`.`t1` WRITE, `d`.`t2` WRITE", "LOCK TABLES of `d`.`t1` and other tables (one of them is held)"),
        ("LOCK TABLES `d`.`t1` WRITE", "LOCK TABLES of `d`.`t1`"),
        ("RENAME TABLE `a`.`t` TO `c`.`t`, `a`.`u` TO `c`.`u`", "RENAME TABLE of `a`.`t` and other tables (one of them is held)"),
        ("CHECKSUM TABLE `d`.`t` EXTENDED", "CHECKSUM TABLE of `d`.`t`"),
        ("SELECT COUNT(*) FROM `d`.`t`", "SELECT COUNT of `d`.`t`"),
        ("insert into `d`.`t` VALUES ('secret-42')", "INSERT of `d`.`t`"),
        ("COMMIT", "COMMIT"),
        ("", "statement"),
        ("CREATE TRIGGER `d`.`tr` AFTER INSERT ON `d`.`t` FOR EACH ROW SET @x = 'secret-42'", "CREATE TRIGGER of `d`.`tr`"),
    ])
    func aStatementIsNamedByItsKindAndFirstName(_ sql: String, _ label: String) {
        let said = MySQLLockWaitWatch.label(of: Array(sql.utf8))
        #expect(said == label)
        #expect(!said.contains("secret"))
    }

    @Test func aNameCutOffAtTheEndOfWhatIsReadIsLeftOut() {
        let sql = "DROP TABLE `" + String(repeating: "x", count: 600) + "`"
        #expect(MySQLLockWaitWatch.label(of: Array(sql.utf8)) == "DROP TABLE")
    }
}
