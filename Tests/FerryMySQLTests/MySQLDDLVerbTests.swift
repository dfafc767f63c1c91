import Testing
@testable import FerryMySQL

/// `MySQLSession.ddlVerb`: what the held rename's looks at the process list take for another
/// session's DDL statement (fresh tester rounds 59, 1 and 60, 6), comments and blanks before it
/// included (an application's query tags).
struct MySQLDDLVerbTests {
    @Test(arguments: [
        ("TRUNCATE TABLE c.t", "TRUNCATE"),
        ("  optimize table c.t", "OPTIMIZE"),
        ("/* app:42 */ ALTER TABLE c.t FORCE", "ALTER"),
        ("/*a*/ /*b*/\n\tDROP TABLE d.t", "DROP"),
        ("-- tag\nRENAME TABLE d.t TO d.u", "RENAME"),
        ("# tag\nCREATE TABLE x.y AS SELECT 1", "CREATE"),
        ("(ANALYZE TABLE d.t)", "ANALYZE"),
    ])
    func aDDLStatementIsToldByItsVerb(_ statement: String, _ verb: String) {
        #expect(MySQLSession.ddlVerb(of: statement) == verb)
    }

    @Test(arguments: ["SELECT * FROM c.t", "INSERT INTO d.t VALUES (1)", "/* TRUNCATE */ SELECT 1", "LOCK TABLES d.t WRITE", "/* unclosed TRUNCATE", "-- TRUNCATE"])
    func anyOtherStatementIsNot(_ statement: String) {
        #expect(MySQLSession.ddlVerb(of: statement) == nil)
    }
}
