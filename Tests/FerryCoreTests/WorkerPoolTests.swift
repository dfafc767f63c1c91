import Foundation
import Synchronization
import Testing
@testable import FerryCore

/// What the jobs of a test saw: the order they started in and how many ran at once.
private final class Recorder: Sendable {
    private struct State {
        var started: [Int] = []
        var running = 0
        var mostAtOnce = 0
    }
    private let state = Mutex(State())

    func begin(_ index: Int) {
        state.withLock {
            $0.started.append(index)
            $0.running += 1
            $0.mostAtOnce = max($0.mostAtOnce, $0.running)
        }
    }

    func end() { state.withLock { $0.running -= 1 } }

    var started: [Int] { state.withLock { $0.started } }
    var mostAtOnce: Int { state.withLock { $0.mostAtOnce } }
    var running: Int { state.withLock { $0.running } }
}

private struct JobFailure: Error, Equatable { let index: Int }

/// Runs `body` on a thread of its own and fails the test (instead of hanging it) when it has not
/// returned within `seconds`.
private func finishes(within seconds: Double, _ body: @escaping @Sendable () -> Void) -> Bool {
    let done = DispatchSemaphore(value: 0)
    Thread { body(); done.signal() }.start()
    return done.wait(timeout: .now() + seconds) == .success
}

@Suite struct WorkerPoolTests {
    @Test func mapReturnsEachJobsValueInIndexOrderWhateverOrderTheyEndIn() throws {
        let pool = WorkerPool(threadLimit: 4)
        let values = try pool.map(12) { index in
            usleep(UInt32((12 - index) * 2_000))  // later jobs end first
            return index * index
        }
        #expect(values == (0..<12).map { $0 * $0 })
    }

    @Test func jobsStartInIndexOrderAndWidthOneRunsThemOneAtATime() throws {
        let pool = WorkerPool(threadLimit: 4)
        let recorder = Recorder()
        try pool.forEach(8, width: 1) { index in
            recorder.begin(index)
            usleep(2_000)
            recorder.end()
        }
        #expect(recorder.started == Array(0..<8))
        #expect(recorder.mostAtOnce == 1)
    }

    @Test func aBatchRunsUpToItsWidthAtOnceAndNoMore() throws {
        let pool = WorkerPool(threadLimit: 8)
        let recorder = Recorder()
        try pool.forEach(12, width: 3) { index in
            recorder.begin(index)
            // Wait (up to 2 s) until three run at once: proves the width is reached, not only bounded.
            let deadline = Date().addingTimeInterval(2)
            while recorder.running < 3 && recorder.started.count < 12 && Date() < deadline { usleep(1_000) }
            usleep(5_000)
            recorder.end()
        }
        #expect(recorder.started.count == 12)
        #expect(recorder.mostAtOnce == 3)
    }

    @Test func thePoolNeverHoldsMoreThreadsThanItsLimit() throws {
        let pool = WorkerPool(threadLimit: 2)
        let recorder = Recorder()
        try pool.forEach(20, width: 10) { index in
            recorder.begin(index)
            usleep(3_000)
            recorder.end()
        }
        #expect(Set(recorder.started) == Set(0..<20))
        #expect(pool.peakThreadCount <= 2)
        // Two pool threads and the caller's.
        #expect(recorder.mostAtOnce <= 3)
    }

    @Test func theFirstErrorIsThrownAndNoLaterJobStarts() {
        let pool = WorkerPool(threadLimit: 4)
        let recorder = Recorder()
        #expect(throws: JobFailure(index: 3)) {
            try pool.forEach(10, width: 1) { index in
                recorder.begin(index)
                defer { recorder.end() }
                if index == 3 { throw JobFailure(index: 3) }
            }
        }
        #expect(recorder.started == [0, 1, 2, 3])
    }

    @Test func theErrorThatCameFirstInTimeWinsOverALowerIndex() {
        let pool = WorkerPool(threadLimit: 4)
        let gate = DispatchSemaphore(value: 0)
        #expect(throws: JobFailure(index: 1)) {
            try pool.forEach(2, width: 2) { index in
                if index == 0 {
                    // Fails only after job 1 has failed (its error is kept a moment after its
                    // body returns: the pause covers that).
                    _ = gate.wait(timeout: .now() + 5)
                    usleep(300_000)
                    throw JobFailure(index: 0)
                }
                defer { gate.signal() }
                throw JobFailure(index: 1)
            }
        }
    }

    @Test func aFailedBatchStillWaitsForItsRunningJobsBeforeItThrows() {
        let pool = WorkerPool(threadLimit: 4)
        let finished = Mutex(false)
        let gate = DispatchSemaphore(value: 0)
        #expect(throws: JobFailure(index: 0)) {
            try pool.forEach(2, width: 2) { index in
                if index == 1 {
                    gate.signal()
                    usleep(100_000)
                    finished.withLock { $0 = true }
                    return
                }
                _ = gate.wait(timeout: .now() + 5)
                throw JobFailure(index: 0)
            }
        }
        #expect(finished.withLock { $0 })
    }

    @Test func aCancelledTokenStartsNoFurtherJobAndTheBatchSaysInterrupted() {
        let pool = WorkerPool(threadLimit: 4)
        let token = CancellationToken()
        let recorder = Recorder()
        do {
            try pool.forEach(10, width: 1, cancellation: token) { index in
                recorder.begin(index)
                defer { recorder.end() }
                if index == 2 { token.cancel(reason: "interrupted (SIGINT)") }
            }
            Issue.record("the batch did not throw")
        } catch let error as FerryError {
            #expect(error.code == .interrupted)
            #expect(error.description.contains("SIGINT"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
        #expect(recorder.started == [0, 1, 2])
    }

    @Test func aTokenCancelledBeforehandRunsNothing() {
        let pool = WorkerPool(threadLimit: 4)
        let token = CancellationToken()
        token.cancel()
        let recorder = Recorder()
        #expect(throws: FerryError.self) {
            try pool.forEach(5, cancellation: token) { index in recorder.begin(index); recorder.end() }
        }
        #expect(recorder.started.isEmpty)
    }

    @Test func batchesStartedFromJobsFinishEvenWithOneThread() {
        // Every outer job holds the pool's only thread (or the caller's) while its own batch
        // runs: the callers work their batches, so nothing waits for a thread that never comes.
        let pool = WorkerPool(threadLimit: 1)
        let total = Mutex(0)
        let done = finishes(within: 20) {
            try? pool.forEach(4) { _ in
                try? pool.forEach(4) { _ in
                    usleep(1_000)
                    total.withLock { $0 += 1 }
                }
            }
        }
        #expect(done)
        #expect(total.withLock { $0 } == 16)
        #expect(pool.peakThreadCount == 1)
    }

    @Test func aStartedJobRunsOnTheWaiterWhenNoThreadIsFree() throws {
        let pool = WorkerPool(threadLimit: 1)
        let release = DispatchSemaphore(value: 0)
        let blocker = pool.start { _ = release.wait(timeout: .now() + 10) }
        defer { release.signal(); _ = try? blocker.wait() }
        usleep(20_000)
        let here = Thread.current.description
        let job = pool.start { Thread.current.description }
        #expect(try job.wait() == here)
        #expect(job.isFinished)
    }

    @Test func aStartedJobRunsBesideTheCallerAndTellsWhenItEnds() throws {
        let pool = WorkerPool(threadLimit: 2)
        let finishedCalls = Mutex(0)
        let gate = DispatchSemaphore(value: 0)
        let job = pool.start({ () throws -> Int in
            // Ends only once the caller, still running, lets it: it runs on another thread.
            guard gate.wait(timeout: .now() + 5) == .success else { throw JobFailure(index: -1) }
            return 42
        }, whenFinished: { finishedCalls.withLock { $0 += 1 } })
        gate.signal()
        #expect(try job.wait() == 42)
        #expect(try job.wait() == 42)
        #expect(finishedCalls.withLock { $0 } == 1)
    }

    @Test func aStartedJobsErrorIsThrownByEveryWait() {
        let pool = WorkerPool(threadLimit: 2)
        let job = pool.start { () throws -> Int in throw JobFailure(index: 7) }
        #expect(throws: JobFailure(index: 7)) { try job.wait() }
        #expect(throws: JobFailure(index: 7)) { try job.wait() }
    }

    @Test func idleThreadsLeaveAndTheNextJobsMakeNewOnes() throws {
        let pool = WorkerPool(threadLimit: 3, idleTimeout: 0.05)
        try pool.forEach(6, width: 4) { _ in usleep(5_000) }
        #expect(pool.threadCount > 0)
        let deadline = Date().addingTimeInterval(5)
        while pool.threadCount > 0 && Date() < deadline { usleep(10_000) }
        #expect(pool.threadCount == 0)
        #expect(try pool.map(4, width: 4) { $0 + 1 } == [1, 2, 3, 4])
    }
}

/// The pool's threads have the stack the Applier's step threads had (they run its steps now).
@Suite struct WorkerPoolStackTests {
    @Test func aPoolThreadHasAtLeastTheStepThreadsStack() {
        let pool = WorkerPool(threadLimit: 1, idleTimeout: 1)
        let measured = Mutex(0)
        let ended = DispatchSemaphore(value: 0)
        pool.submit {
            // The stack the pool asked for its thread (the Glibc module has no pthread_getattr_np).
            let size = Thread.current.stackSize
            measured.withLock { $0 = size }
            ended.signal()
        }
        ended.wait()
        #expect(measured.withLock { $0 } >= 4 << 20, "\(measured.withLock { $0 }) bytes")
    }
}
