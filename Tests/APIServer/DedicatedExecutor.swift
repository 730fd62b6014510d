import Dispatch

/// A task executor with a thread of its own. The test server runs on one, and tests run the code under test
/// on another: suites that block the two cooperative threads of a 2-core machine (the kernel and lab tests
/// wait for programs synchronously) then cannot starve a server or a watch into a timeout.
public final class DedicatedExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: the only state is a serial DispatchQueue, which is thread-safe.
    private let queue: DispatchQueue

    public init(label: String) { queue = DispatchQueue(label: label) }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
