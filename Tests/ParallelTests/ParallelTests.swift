import Foundation
import Synchronization
import Testing

@testable import Parallel

@Suite struct ParallelTests {
    @Test("concurrentMap gives map's results in map's order, for any count and chunk size")
    func concurrentMapIsMap() {
        for count in [0, 1, 2, 63, 64, 65, 128, 129, 1_000, 10_007] {
            let numbers = Array(0..<count)
            for chunk in [1, 7, 64, 10_000] {
                #expect(numbers.concurrentMap(minimumChunk: chunk) { $0 * 3 + 1 } == numbers.map { $0 * 3 + 1 })
            }
        }
    }

    @Test("windowedConcurrentMap gives every result in order, a window at a time")
    func windowedConcurrentMapIsMap() {
        for count in [0, 1, 332, 333, 334, 5_000] {
            let numbers = Array(0..<count)
            #expect(Array(numbers.windowedConcurrentMap(window: 333) { String($0) }) == numbers.map(String.init))
        }
    }

    @Test("windowedConcurrentMap maps the next window while the caller consumes this one, and no further")
    func windowedConcurrentMapMapsAhead() async throws {
        let mapped = Mutex<Set<Int>>([])
        var windows = Array(0..<30).windowedConcurrentMap(window: 10) { number in
            mapped.withLock { _ = $0.insert(number) }
            return number
        }
        #expect(windows.next() == 0)
        for _ in 0..<500 where mapped.withLock({ $0.count }) < 20 { try await Task.sleep(for: .milliseconds(10)) }
        try await Task.sleep(for: .milliseconds(50))
        #expect(mapped.withLock { $0 } == Set(0..<20))
        var rest: [Int] = []
        while let number = windows.next() { rest.append(number) }
        #expect(rest == Array(1..<30))
    }

    @Test("releaseInBackground frees the value, on another thread")
    func releasedInBackground() async throws {
        let freed = Freed()
        releaseInBackground(Tracked(freed))
        for _ in 0..<500 where freed.thread.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(10)) }
        let thread = try #require(freed.thread.withLock { $0 })
        #expect(thread != pthread_self())
    }
}

private final class Freed: Sendable {
    let thread = Mutex<pthread_t?>(nil)
}

private final class Tracked: Sendable {
    let freed: Freed
    init(_ freed: Freed) { self.freed = freed }
    deinit { freed.thread.withLock { $0 = pthread_self() } }
}
