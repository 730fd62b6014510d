import Compiler
import Foundation
import KubernetesAPI
import Prometheus
import ServiceGraph
import Synchronization

/// The agent's Prometheus metrics, named like kube-proxy's where the meaning matches, so
/// existing dashboards and alerts keep working.
public final class AgentMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    /// kube-proxy's sync duration buckets (seconds), from 1 ms to about 16 s.
    static let buckets: [Double] = (0..<15).map { 0.001 * pow(2, Double($0)) }

    let syncDuration: ValueHistogram
    let fullSyncDuration: ValueHistogram
    let partialSyncDuration: ValueHistogram
    let networkProgrammingDuration: ValueHistogram
    let lastSyncTimestamp: Gauge
    let lastQueuedTimestamp: Gauge
    let changesPending: Gauge
    let fullSyncs: Counter
    let partialSyncs: Counter
    let syncFailures: Counter
    let inputErrors: Counter
    let repairs: Counter
    let operations: Counter
    let endpointChanges: Counter
    let serviceChanges: Counter
    /// Per Service, its ports of a Local policy with no local endpoint, by `ip_family`.
    private let noLocal = Mutex<
        (byService: [ServiceID: [String: NoLocalEndpoints]], totals: [String: NoLocalEndpoints])
    >(
        ([:], [:]))

    public init() {
        syncDuration = registry.makeValueHistogram(
            descriptor: Self.metric(
                "kubeproxy_sync_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds, full and partial"),
            buckets: Self.buckets)
        fullSyncDuration = registry.makeValueHistogram(
            descriptor: Self.metric(
                "kubeproxy_sync_full_proxy_rules_duration_seconds",
                "Full sync latency in seconds (diff against a kernel dump)"), buckets: Self.buckets)
        partialSyncDuration = registry.makeValueHistogram(
            descriptor: Self.metric(
                "kubeproxy_sync_partial_proxy_rules_duration_seconds",
                "Partial sync latency in seconds (diff against the last commit)"), buckets: Self.buckets)
        networkProgrammingDuration = registry.makeValueHistogram(
            descriptor: Self.metric(
                "kubeproxy_network_programming_duration_seconds",
                "Time from a change in the manifests to its rules being committed, in seconds"), buckets: Self.buckets)
        lastSyncTimestamp = registry.makeGauge(
            descriptor: Self.metric(
                "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
                "The last time rules were successfully synced (Unix seconds)"))
        lastQueuedTimestamp = registry.makeGauge(
            descriptor: Self.metric(
                "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
                "The last time a sync was queued (Unix seconds)"))
        changesPending = registry.makeGauge(
            descriptor: Self.metric(
                "kubeproxy_sync_proxy_rules_endpoint_changes_pending", "Changes seen and not yet synced"))
        fullSyncs = registry.makeCounter(
            descriptor: Self.metric("nfcompile_syncs_total", "Syncs done, by kind"), labels: [("kind", "full")])
        partialSyncs = registry.makeCounter(
            descriptor: Self.metric("nfcompile_syncs_total", "Syncs done, by kind"), labels: [("kind", "partial")])
        syncFailures = registry.makeCounter(
            descriptor: Self.metric(
                "kubeproxy_sync_proxy_rules_nftables_sync_failures_total",
                "Syncs the kernel refused or that could not reach the kernel"))
        inputErrors = registry.makeCounter(
            descriptor: Self.metric(
                "nfcompile_input_errors_total", "Syncs that found errors in the manifests (last good rules kept)"))
        repairs = registry.makeCounter(
            descriptor: Self.metric(
                "nfcompile_repairs_total", "Full syncs that repaired a change someone else made to our table"))
        operations = registry.makeCounter(
            descriptor: Self.metric("nfcompile_netlink_operations_total", "Operations committed to the kernel"))
        endpointChanges = registry.makeCounter(
            descriptor: Self.metric(
                "kubeproxy_sync_proxy_rules_endpoint_changes_total",
                "EndpointSlice changes received from the API server"))
        serviceChanges = registry.makeCounter(
            descriptor: Self.metric(
                "kubeproxy_sync_proxy_rules_service_changes_total",
                "Service changes received (API server: Service objects; folder: Services a sync changed)"))
        for policy in ["internal", "external"] {
            for family in ["IPv4", "IPv6"] { noLocalEndpoints(policy, family).set(Double(0)) }
        }
    }

    func record(_ report: Synchronizer.Report, queuedSince: Date?, triggeredAt: [Date] = []) {
        let seconds = Double(report.duration.components.seconds) + Double(report.duration.components.attoseconds) / 1e18
        syncDuration.record(seconds)
        if report.kind == .full {
            fullSyncDuration.record(seconds)
            fullSyncs.increment()
        } else {
            partialSyncDuration.record(seconds)
            partialSyncs.increment()
        }
        // kube-proxy's measure: from the change (an EndpointSlice's last-change-trigger-time, or for
        // files the moment the change was seen) to its rules being programmed.
        let now = Date()
        if report.operations > 0 {
            if !triggeredAt.isEmpty {
                for time in triggeredAt { networkProgrammingDuration.record(max(0, now.timeIntervalSince(time))) }
            } else if let queuedSince {
                networkProgrammingDuration.record(now.timeIntervalSince(queuedSince))
            }
        }
        if !report.inputErrors.isEmpty { inputErrors.increment() }
        if report.outcome?.repair != nil { repairs.increment() }
        operations.increment(by: Int64(report.operations))
        if report.outcome != nil { lastSyncTimestamp.set(Date().timeIntervalSince1970) }
    }

    /// Answers of /healthz and /livez by status code (kube-proxy's `kubeproxy_proxy_healthz_total`
    /// and `kubeproxy_proxy_livez_total`).
    func healthz(_ code: Int) -> Counter {
        registry.makeCounter(
            descriptor: Self.metric("kubeproxy_proxy_healthz_total", "Answers of /healthz, by HTTP status code"),
            labels: [("code", String(code))])
    }

    func livez(_ code: Int) -> Counter {
        registry.makeCounter(
            descriptor: Self.metric("kubeproxy_proxy_livez_total", "Answers of /livez, by HTTP status code"),
            labels: [("code", String(code))])
    }

    /// Objects the API server's watch reported, by kind.
    func recordWatch(_ changes: [ObjectChange]) {
        for change in changes {
            watchEvents(change.kind).increment()
            switch change.kind {
            case .endpointSlice: endpointChanges.increment()
            case .service: serviceChanges.increment()
            case .node: break
            }
        }
    }

    /// Follows what a sync committed for `kubeproxy_sync_proxy_rules_no_local_endpoints_total`
    /// (a gauge despite its name, as kube-proxy's): Service ports of a Local policy whose
    /// endpoints are all on other nodes, by `traffic_policy` and `ip_family`.
    func follow(_ change: Synchronizer.ServiceChange, node: String?, zone: String?) {
        let totals = noLocal.withLock { state in
            var updates: [ServiceID: [String: NoLocalEndpoints]] = [:]
            switch change {
            case .all(let services):
                state = ([:], [:])
                for service in services {
                    updates[service.id] = service.noLocalEndpointsByFamily(node: node, zone: zone)
                }
            case .some(let changing, let removing):
                for id in removing { updates[id] = [:] }
                for service in changing {
                    updates[service.id] = service.noLocalEndpointsByFamily(node: node, zone: zone)
                }
            }
            for (id, counts) in updates {
                for (family, old) in state.byService[id] ?? [:] {
                    state.totals[family, default: NoLocalEndpoints()].internal -= old.internal
                    state.totals[family, default: NoLocalEndpoints()].external -= old.external
                }
                for (family, new) in counts {
                    state.totals[family, default: NoLocalEndpoints()].internal += new.internal
                    state.totals[family, default: NoLocalEndpoints()].external += new.external
                }
                state.byService[id] = counts.isEmpty ? nil : counts
            }
            return state.totals
        }
        for family in ["IPv4", "IPv6"] {
            let counts = totals[family] ?? NoLocalEndpoints()
            noLocalEndpoints("internal", family).set(Double(counts.internal))
            noLocalEndpoints("external", family).set(Double(counts.external))
        }
    }

    private func noLocalEndpoints(_ policy: String, _ family: String) -> Gauge {
        registry.makeGauge(
            descriptor: Self.metric(
                "kubeproxy_sync_proxy_rules_no_local_endpoints_total",
                "Service ports of a Local traffic policy with no endpoint on this node, by policy and IP family"),
            labels: [("traffic_policy", policy), ("ip_family", family)])
    }

    func recordConnection(_ event: ConnectionEvent) {
        switch event {
        case .failing(let kind, _, _): watchFailures(kind).increment()
        case .relisting(let kind, _): relists(kind).increment()
        case .recovered: break
        }
    }

    private func watchEvents(_ kind: ObjectKind) -> Counter {
        registry.makeCounter(
            descriptor: Self.metric(
                "nfcompile_api_object_changes_total", "Object changes received from the API server, by kind"),
            labels: [("kind", kind.rawValue)])
    }

    private func watchFailures(_ kind: ObjectKind) -> Counter {
        registry.makeCounter(
            descriptor: Self.metric(
                "nfcompile_api_request_failures_total",
                "Failed LIST or WATCH requests to the API server (each retried), by kind"),
            labels: [("kind", kind.rawValue)])
    }

    private func relists(_ kind: ObjectKind) -> Counter {
        registry.makeCounter(
            descriptor: Self.metric(
                "nfcompile_api_relists_total", "LISTs again after a resourceVersion expired (410 Gone), by kind"),
            labels: [("kind", kind.rawValue)])
    }

    /// A metric's name and help; the unit is already part of the name, as in kube-proxy's.
    private static func metric(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// The Prometheus text exposition.
    public func exposition() -> String {
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
