import FerryCore
@testable import FerryPostgres
import Testing

/// What a failed `pg_dump` / `pg_restore` reports (fresh tester w11 F6: a copy whose target ran
/// out of disk in `pg_restore` said only the tail of the statement it echoed, as `CopyError`).
/// The texts are pg_restore's own shapes (its `error:` line, the server's `ERROR:` and the
/// "Command was:" echo that follows).
@Suite struct PostgresToolsFailureTests {
    static let outOfSpace = """
        pg_restore: while PROCESSING TOC:
        pg_restore: from TOC entry 215; 1259 16507 TABLE big ferry
        pg_restore: error: could not execute query: ERROR:  could not extend file "base/16506/16507": No space left on device
        HINT:  Check free disk space.
        Command was: CREATE TABLE public.big (
            id integer NOT NULL,
            v text
        );
        """

    @Test func aServerOutOfSpaceIsDiskFullWithItsReason() {
        let (code, lines) = PostgresTools.failure(of: Self.outOfSpace, otherwise: .copyError)
        #expect(code == .diskFull)
        #expect(lines.joined(separator: " / ").contains("No space left on device"), "\(lines)")
        #expect(!lines.contains { $0.contains("v text") }, "the echoed statement is no reason: \(lines)")
    }

    @Test func anotherFailureKeepsTheStepsCodeAndShowsItsErrorLine() {
        let text = """
            pg_restore: error: could not execute query: ERROR:  relation "public.x" does not exist
            Command was: ALTER TABLE ONLY public.x
                ADD CONSTRAINT x_pkey PRIMARY KEY (id);
            """
        let (code, lines) = PostgresTools.failure(of: text, otherwise: .copyError)
        #expect(code == .copyError)
        #expect(lines == ["pg_restore: error: could not execute query: ERROR:  relation \"public.x\" does not exist"], "\(lines)")
    }

    @Test func withoutAnErrorLineTheLastLinesAreShown() {
        let (code, lines) = PostgresTools.failure(of: "one\ntwo\nthree\nfour", otherwise: .importError)
        #expect(code == .importError && lines == ["two", "three", "four"])
    }
}
