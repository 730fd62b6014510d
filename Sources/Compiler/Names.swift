/// The names of our chains, sets and maps: part of the kernel-visible contract, stable across
/// releases so that a restarted or upgraded agent recognises its own table.
enum Names {
    static let serviceIPs = "service-ips"
    static let serviceNodePorts = "service-nodeports"
    static let noEndpointServices = "no-endpoint-services"
    static let noEndpointNodePorts = "no-endpoint-nodeports"
    static let endpoints = "endpoints"
    static let nodePortEndpoints = "nodeport-endpoints"
    static let hairpin = "hairpin"
    static let nodePortIPs = "nodeport-ips"

    static let natPrerouting = "nat-prerouting"
    static let natOutput = "nat-output"
    static let natPostrouting = "nat-postrouting"
    static let filterInput = "filter-input"
    static let filterForward = "filter-forward"
    static let filterOutput = "filter-output"
    static let services = "services"
    static let endpointsCheck = "endpoints-check"
    static let rejectService = "reject-service"
    static let masquerading = "masquerading"
}

/// The shared load-balancing chains: one per kind and bucket count, never one per service.
struct BalancerChain: Hashable, Comparable {
    enum Kind: String, Comparable {
        /// ClusterIP, external and LoadBalancer IPs: masquerade sources outside the cluster.
        case service = "lb"
        /// NodePorts: always masquerade, replies must come back through this node.
        case nodePort = "nodeport-lb"
        /// `externalTrafficPolicy: Local` frontends: keep the client's source address.
        case localService = "local-lb"
        case localNodePort = "local-nodeport-lb"

        static func < (lhs: Kind, rhs: Kind) -> Bool { lhs.rawValue < rhs.rawValue }

        var isNodePort: Bool { self == .nodePort || self == .localNodePort }
    }

    var kind: Kind
    var buckets: Int

    var name: String { "\(kind.rawValue)-\(buckets)" }

    static func < (lhs: BalancerChain, rhs: BalancerChain) -> Bool {
        (lhs.kind, lhs.buckets) < (rhs.kind, rhs.buckets)
    }
}
