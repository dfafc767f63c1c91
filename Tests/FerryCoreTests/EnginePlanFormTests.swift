import Foundation
import Testing
@testable import FerryCore

/// The loader asks each kind's plan form (not the kind's name) how an instance is addressed and
/// which kind-only fields it takes; each kind is refused the other address field.
@Suite struct EnginePlanFormTests {
    @Test(arguments: EngineKind.allCases)
    func eachKindTakesItsAddressFieldAndRefusesTheOther(kind: EngineKind) throws {
        let form = kind.planForm
        let own = form.address == .directory ? #""path": "../var/x""# : #""url": "\#(kind.rawValue)://u@127.0.0.1""#
        let other = form.address == .directory ? #""url": "x://u@127.0.0.1""# : #""path": "../var/x""#
        let good = loadPlan(#"{"ferry": 1, "instances": {"i": {"engine": "\#(kind.rawValue)", \#(own)}}}"#)
        #expect(good.diagnostics.filter { $0.severity == .error }.isEmpty, "\(good.diagnostics)")
        #expect(good.plan.instances["i"].map { form.address == .directory ? $0.path != nil : $0.url != nil } == true)
        let both = loadPlan(#"{"ferry": 1, "instances": {"i": {"engine": "\#(kind.rawValue)", \#(own), \#(other)}}}"#)
        let refused = try single(both, .invalidParameter)
        #expect(refused.location?.jsonPath == "instances.i.\(form.address == .directory ? "url" : "path")")
        let missing = loadPlan(#"{"ferry": 1, "instances": {"i": {"engine": "\#(kind.rawValue)"}}}"#)
        #expect(try single(missing, .invalidParameter).message == "instance \"i\" is missing the required field \"\(form.address.field)\"")
    }

    @Test(arguments: EngineKind.allCases)
    func terminateSessionsIsTakenOnlyWhereThePlanFormSays(kind: EngineKind) {
        let address = kind.planForm.address == .directory ? #""path": "../var/x""# : #""url": "\#(kind.rawValue)://u@127.0.0.1""#
        let result = loadPlan(#"{"ferry": 1, "instances": {"i": {"engine": "\#(kind.rawValue)", \#(address), "terminateSessions": true}}}"#)
        let refused = result.diagnostics.contains { $0.location?.jsonPath == "instances.i.terminateSessions" }
        #expect(refused == !kind.planForm.takesTerminateSessions)
    }
}
