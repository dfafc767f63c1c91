import Testing
@testable import FerryCore

@Suite struct SchedulerTests {
    /// Two independent chains of three steps each on instances a and b.
    func chains() -> ActionGraph {
        func action(_ step: Int, _ deps: [Int], _ instance: String) -> Action {
            Action(step: step, kind: .build, address: Address(.import, instance), instance: instance, database: "x",
                   source: nil, bytes: nil, dependsOn: deps, takesCheckpoint: false)
        }
        return ActionGraph(actions: [action(1, [], "a"), action(2, [1], "a"), action(3, [2], "a"),
                                     action(4, [], "b"), action(5, [4], "b"), action(6, [5], "b")])
    }

    func scheduler(parallelism: Int = 4, limits: [String: Int] = [:], keepGoing: Bool = false) -> Scheduler {
        let graph = chains()
        var instances: [Int: [String]] = [:]
        for a in graph.actions { instances[a.step] = [a.instance!] }
        return Scheduler(graph: graph, instancesOfStep: instances, limits: limits, parallelism: parallelism, keepGoing: keepGoing)
    }

    @Test func independentStepsStartTogetherAndDependentsWait() {
        var s = scheduler()
        #expect(s.start() == [1, 4])
        #expect(s.start() == [])
        s.finish(1, succeeded: true)
        #expect(s.start() == [2])
    }

    @Test func parallelismCapsRunningSteps() {
        var s = scheduler(parallelism: 1)
        #expect(s.start() == [1])
        s.finish(1, succeeded: true)
        #expect(s.start() == [2])
    }

    @Test func maxConnectionsPerInstanceIsRespected() {
        let graph = ActionGraph(actions: (1...3).map {
            Action(step: $0, kind: .build, address: Address(.import, "i\($0)"), instance: "a", database: "d\($0)",
                   source: nil, bytes: nil, dependsOn: [], takesCheckpoint: false)
        })
        var s = Scheduler(graph: graph, instancesOfStep: [1: ["a"], 2: ["a"], 3: ["a"]], limits: ["a": 2], parallelism: 8, keepGoing: false)
        #expect(s.start() == [1, 2])
        s.finish(2, succeeded: true)
        #expect(s.start() == [3])
    }

    @Test func failureStopsNewStepsAndLetsRunningOnesEnd() {
        var s = scheduler()
        _ = s.start()
        s.finish(1, succeeded: false)
        #expect(s.start() == [])
        #expect(!s.isFinished)  // step 4 still running
        s.finish(4, succeeded: true)
        #expect(s.isFinished)
        #expect(s.status[5] == .pending)
    }

    @Test func keepGoingSkipsOnlyDependentsOfTheFailure() {
        var s = scheduler(keepGoing: true)
        _ = s.start()
        s.finish(1, succeeded: false)
        #expect(s.status[2] == .skipped && s.status[3] == .skipped)
        s.finish(4, succeeded: true)
        #expect(s.start() == [5])
        s.finish(5, succeeded: true)
        #expect(s.start() == [6])
        s.finish(6, succeeded: true)
        #expect(s.isFinished)
    }
}
