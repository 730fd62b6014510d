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
