import Addressing
import ServiceGraph

/// A health-check node port this node serves: a LoadBalancer Service of
/// `externalTrafficPolicy: Local` tells load balancers on it whether this node has endpoints of
/// the Service (kube-proxy's `service_health.go`), so that they send external clients only to
/// nodes that can answer them.
public struct HealthCheck: Hashable, Sendable {
    public var service: ServiceID
    public var port: UInt16
    /// This node's ready endpoints of the Service, counted once per address across its ports
    /// (kube-proxy's `LocalReadyEndpoints`); serving terminating ones do not count, so a load
    /// balancer moves away from a node whose pods are all going.
    public var localEndpoints: Int

    public init(service: ServiceID, port: UInt16, localEndpoints: Int) {
        self.service = service
        self.port = port
        self.localEndpoints = localEndpoints
    }
}

extension Service {
    /// The health check this Service needs on the node named `node`; nil when it needs none.
    public func healthCheck(node: String?) -> HealthCheck? {
        guard let port = healthCheckNodePort, externalTrafficPolicy == .local else { return nil }
        let local = Set(
            ports.flatMap(\.endpoints).filter { $0.isReady && EndpointSelection.isLocal($0, node: node) }.map(\.address)
        )
        return HealthCheck(service: id, port: port, localEndpoints: local.count)
    }
}

extension ServiceGraph {
    /// Every health check this graph needs on the node named `node`, by Service.
    public func healthChecks(node: String?) -> [HealthCheck] {
        services.compactMap { $0.healthCheck(node: node) }
    }
}

/// Service ports of a Local traffic policy whose endpoints are all on other nodes, in one address
/// family: their traffic is dropped here (kube-proxy's `sync_proxy_rules_no_local_endpoints`).
public struct NoLocalEndpoints: Hashable, Sendable {
    /// Ports of `internalTrafficPolicy: Local` (their ClusterIP traffic is dropped).
    public var `internal` = 0
    /// Ports of `externalTrafficPolicy: Local` with external frontends (external clients dropped).
    public var external = 0

    public init(internal: Int = 0, external: Int = 0) {
        self.internal = `internal`
        self.external = external
    }

    public var isZero: Bool { `internal` == 0 && external == 0 }
}

extension Service {
    /// Its ports of a Local policy with endpoints in `family`, but none on the node `node`.
    public func noLocalEndpoints(family: IPFamily, node: String?, zone: String?) -> NoLocalEndpoints {
        var counts = NoLocalEndpoints()
        let externallyReachable = !(externalIPs + loadBalancerIPs).isEmpty
        for port in ports {
            let selection = EndpointSelection(port.endpoints, family: family, node: node, zone: zone)
            guard selection.hasAnyEndpoints, selection.local.isEmpty else { continue }
            if internalTrafficPolicy == .local, clusterIPs.contains(where: { $0.family == family }) {
                counts.internal += 1
            }
            if externalTrafficPolicy == .local, externallyReachable || port.nodePort != nil {
                counts.external += 1
            }
        }
        return counts
    }
}

extension Service {
    /// The same in each family, labelled as kube-proxy's `ip_family` ("IPv4", "IPv6").
    public func noLocalEndpointsByFamily(node: String?, zone: String?) -> [String: NoLocalEndpoints] {
        var byFamily: [String: NoLocalEndpoints] = [:]
        for family in IPFamily.allCases {
            let counts = noLocalEndpoints(family: family, node: node, zone: zone)
            if !counts.isZero { byFamily[family == .ipv4 ? "IPv4" : "IPv6"] = counts }
        }
        return byFamily
    }
}
