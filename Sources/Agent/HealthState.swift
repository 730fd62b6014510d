import Foundation
import Synchronization

/// kube-proxy's health rule: unhealthy when a queued change has waited longer than twice the
/// sync period without being synced; and unhealthy until the first sync has succeeded (the rules
/// in the kernel may be stale until then). Shared by the sync loop (writer) and the HTTP server.
public final class HealthState: Sendable {
    private struct State {
        var lastUpdated: Date?
        var oldestQueued: Date?
    }

    private let state = Mutex(State())
    private let limit: TimeInterval

    public init(syncPeriod: Duration) {
        limit = 2 * (Double(syncPeriod.components.seconds) + Double(syncPeriod.components.attoseconds) / 1e18)
    }

    func queued(at date: Date = Date()) {
        state.withLock { if $0.oldestQueued == nil { $0.oldestQueued = date } }
    }

    /// The oldest change not yet synced, if any.
    var oldestQueued: Date? { state.withLock { $0.oldestQueued } }

    func synced(at date: Date = Date()) {
        state.withLock {
            $0.lastUpdated = date
            $0.oldestQueued = nil
        }
    }

    public func isHealthy(at now: Date = Date()) -> Bool {
        state.withLock { state in
            guard state.lastUpdated != nil else { return false }
            guard let queued = state.oldestQueued else { return true }
            return now.timeIntervalSince(queued) <= limit
        }
    }

    /// The /healthz body, shaped like kube-proxy's.
    public func json(at now: Date = Date()) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let lastUpdated = state.withLock { $0.lastUpdated }.map(formatter.string(from:)) ?? ""
        return """
            {"lastUpdated": "\(lastUpdated)", "currentTime": "\(formatter.string(from: now))", "healthy": \(isHealthy(at: now))}
            """
    }
}
