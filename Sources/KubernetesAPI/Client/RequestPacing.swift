import Foundation
import Synchronization

/// client-go's token bucket: `qps` requests a second on average, `burst` at once. Pure: the caller says what
/// time it is and sleeps for the wait it gets back.
public struct TokenBucket: Sendable {
    public var qps: Double
    public var burst: Int
    private var tokens: Double
    private var updated: ContinuousClock.Instant?

    /// kube-proxy's defaults (`clientConnection.qps: 5`, `burst: 10`).
    public static let kubeProxyDefault = TokenBucket(qps: 5, burst: 10)

    public init(qps: Double, burst: Int) {
        precondition(qps > 0 && burst > 0, "a token bucket needs a positive rate and burst")
        self.qps = qps
        self.burst = burst
        self.tokens = Double(burst)
    }

    /// Takes one token at `now`; returns how long to wait before using it (zero when one was there).
    public mutating func reserve(at now: ContinuousClock.Instant) -> Duration {
        if let updated {
            let elapsed = now - updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            tokens = min(Double(burst), tokens + max(0, seconds) * qps)
        }
        updated = now
        tokens -= 1
        guard tokens < 0 else { return .zero }
        return .nanoseconds(Int64((-tokens / qps * 1e9).rounded(.up)))
    }
}

/// client-go's reflector backoff: exponential from `initial` to `maximum` with jitter, back to `initial`
/// once a request succeeds.
public struct Backoff: Sendable {
    public var initial: Duration
    public var maximum: Duration
    public var factor: Double
    /// Up to this fraction of the delay is added at random, so that nodes do not retry in step.
    public var jitter: Double
    private var next: Duration

    /// The reflector's values: 800 ms doubling to 30 s, jitter 1.0.
    public static let kubeProxyDefault = Backoff(
        initial: .milliseconds(800), maximum: .seconds(30), factor: 2, jitter: 1)

    public init(initial: Duration, maximum: Duration, factor: Double = 2, jitter: Double = 1) {
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self.next = initial
    }

    /// The delay before the next retry; `random` is in 0..<1 (injectable for tests).
    public mutating func delay(random: Double = Double.random(in: 0..<1)) -> Duration {
        let base = next
        next = min(maximum, base * factor)
        return min(maximum, base + base * (jitter * random))
    }

    /// After a success.
    public mutating func reset() { next = initial }
}

/// The rate limit shared by every request of one client. Each call to `wait()` is one request.
final class RequestPacer: Sendable {
    private let bucket: Mutex<TokenBucket>

    init(_ bucket: TokenBucket) { self.bucket = Mutex(bucket) }

    func wait() async throws {
        let delay = bucket.withLock { $0.reserve(at: .now) }
        if delay > .zero { try await Task.sleep(for: delay) }
    }
}
