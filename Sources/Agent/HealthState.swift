import Foundation
import KubernetesAPI
import Synchronization

/// kube-proxy's health rules (its `proxy_health.go`), shared by the sync loop (writer) and the
/// HTTP servers:
/// - the proxy is healthy once a sync has succeeded, unless a queued change has waited longer
///   than twice the sync period (the rules in the kernel may be stale then);
/// - the node is eligible for load-balancer traffic unless its Node object is being deleted or
///   carries the cluster autoscaler's `ToBeDeletedByClusterAutoscaler` taint (API source only).
///
/// `/healthz` answers 200 when both hold, `/livez` when the proxy is healthy whatever the node
/// (a draining node's proxy is alive and must not be restarted).
public final class HealthState: Sendable {
    private struct State {
        var lastUpdated: Date?
        var oldestQueued: Date?
        var nodeEligible = true
    }

    /// One answer of the health server: its status code and JSON body.
    public struct Answer: Equatable, Sendable {
        public var code: Int
        public var body: String
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

    /// Follows this node's Node object. Its absence (not listed yet, or deleted) changes
    /// nothing: kube-proxy decides eligibility only from a Node it has seen.
    func nodeChanged(_ facts: NodeFacts?) {
        guard let facts else { return }
        let eligible = !facts.isBeingDeleted && !facts.isTaintedToBeDeleted
        state.withLock { $0.nodeEligible = eligible }
    }

    public var isNodeEligible: Bool { state.withLock { $0.nodeEligible } }

    /// Whether the rules are current: synced once, and no change waiting too long.
    public func isHealthy(at now: Date = Date()) -> Bool {
        state.withLock { state in
            guard state.lastUpdated != nil else { return false }
            guard let queued = state.oldestQueued else { return true }
            return now.timeIntervalSince(queued) <= limit
        }
    }

    /// `/healthz`: kube-proxy's body, `lastUpdated` being the current time while healthy (as
    /// kube-proxy keeps it for old clients).
    public func healthz(at now: Date = Date()) -> Answer {
        let eligible = isNodeEligible
        let healthy = isHealthy(at: now) && eligible
        return Answer(
            code: healthy ? 200 : 503,
            body: "{\(times(healthy: healthy, now: now)), \"nodeEligible\": \(eligible)}")
    }

    /// `/livez`: the proxy's own health only.
    public func livez(at now: Date = Date()) -> Answer {
        let healthy = isHealthy(at: now)
        return Answer(code: healthy ? 200 : 503, body: "{\(times(healthy: healthy, now: now))}")
    }

    private func times(healthy: Bool, now: Date) -> String {
        let last: Date? = healthy ? now : state.withLock { $0.lastUpdated }
        let lastUpdated = last.map(RFC3339.string) ?? ""
        return "\"lastUpdated\": \"\(lastUpdated)\",\"currentTime\": \"\(RFC3339.string(now))\""
    }
}
