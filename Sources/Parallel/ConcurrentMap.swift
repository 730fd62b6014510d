import Foundation

extension RandomAccessCollection where Self: Sendable, Index == Int, Element: Sendable {
    /// `map` on every core: the collection in a few contiguous chunks per core, the results in order.
    /// For pure work on each element (a service's assembly or fragment, a set's sorting); a
    /// collection of fewer than two chunks is mapped on the caller's thread.
    public func concurrentMap<T: Sendable>(minimumChunk: Int = 64, _ transform: @Sendable (Element) -> T) -> [T] {
        let chunks = Swift.min(count / Swift.max(minimumChunk, 1), 4 * ProcessInfo.processInfo.activeProcessorCount)
        guard chunks > 1 else { return map(transform) }
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            let results = Results(base: buffer.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                // Each chunk initializes its own range of the results, and nothing else.
                for offset in count * chunk / chunks..<count * (chunk + 1) / chunks {
                    (results.base + offset).initialize(to: transform(self[startIndex + offset]))
                }
            }
            initialized = count
        }
    }
}

/// The results being written, shared by the chunks: each writes only its own elements.
private struct Results<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
}

extension RandomAccessCollection where Self: Sendable, Index == Int, Element: Sendable {
    /// The results of `transform`, in order, mapped a window of elements at a time with
    /// `concurrentMap` as the sequence is iterated: the results of a large collection never all
    /// exist at once. The next window is mapped in the background while the caller consumes
    /// this one, so the caller's own sequential work overlaps the mapping.
    public func windowedConcurrentMap<T: Sendable>(window: Int = 1024, _ transform: @escaping @Sendable (Element) -> T)
        -> WindowedConcurrentMap<Self, T>
    {
        WindowedConcurrentMap(base: self, window: Swift.max(window, 1), transform: transform)
    }
}

public struct WindowedConcurrentMap<Base: RandomAccessCollection & Sendable, T: Sendable>: Sequence, IteratorProtocol
where Base.Index == Int, Base.Element: Sendable {
    let base: Base
    let window: Int
    let transform: @Sendable (Base.Element) -> T
    private var nextWindow: Int
    /// The window after the current one, being mapped in the background.
    private var upcoming: BackgroundMap<T>?
    private var results: [T] = []
    private var taken = 0

    init(base: Base, window: Int, transform: @escaping @Sendable (Base.Element) -> T) {
        self.base = base
        self.window = window
        self.transform = transform
        nextWindow = base.startIndex
    }

    public mutating func next() -> T? {
        if taken == results.count {
            if let upcoming {
                results = upcoming.wait()
                self.upcoming = nil
            } else {
                guard let slice = takeWindow() else { return nil }
                results = slice.concurrentMap(transform)
            }
            guard !results.isEmpty else { return nil }
            taken = 0
            if let slice = takeWindow() {
                upcoming = BackgroundMap { [transform] in slice.concurrentMap(transform) }
            }
        }
        taken += 1
        return results[taken - 1]
    }

    /// The elements of the next window, nil after the last.
    private mutating func takeWindow() -> [Base.Element]? {
        let lower = nextWindow
        guard lower < base.endIndex else { return nil }
        let upper = Swift.min(lower + window, base.endIndex)
        nextWindow = upper
        return Array(base[lower..<upper])
    }
}

/// Results computed on a background thread, waited for once.
private final class BackgroundMap<T: Sendable>: @unchecked Sendable {
    // Why `@unchecked Sendable`: `results` is written once before `done` is signalled, and read
    // only after waiting for it.
    private let done = DispatchSemaphore(value: 0)
    private var results: [T] = []

    init(_ compute: @escaping @Sendable () -> [T]) {
        DispatchQueue.global(qos: .userInitiated).async {
            self.results = compute()
            self.done.signal()
        }
    }

    func wait() -> [T] {
        done.wait()
        defer { results = [] }
        return results
    }
}

/// Drops `value` on another thread: a large graph or ruleset is hundreds of thousands of
/// allocations, whose freeing the caller need not wait for (a second core is idle most of the time).
public func releaseInBackground<T: Sendable>(_ value: consuming T) {
    let box = ReleaseBox(value)
    DispatchQueue.global(qos: .utility).async { box.value = nil }
}

private final class ReleaseBox<T: Sendable>: @unchecked Sendable {
    // Set once here, cleared once on the background queue.
    var value: T?
    init(_ value: consuming T) { self.value = value }
}
