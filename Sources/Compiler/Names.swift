/// The names of our chains, sets and maps: part of the kernel-visible contract, stable across
/// releases so that a restarted or upgraded agent recognises its own table.
public enum Names {
    public static let serviceIPs = "service-ips"
    public static let serviceNodePorts = "service-nodeports"
    public static let noEndpointServices = "no-endpoint-services"
    public static let noEndpointNodePorts = "no-endpoint-nodeports"
    /// The buckets of every frontend whose chain is lb-N (or local-lb-N) are in `endpoints-N`:
    /// one map per bucket count, so that a new chain binds to a small map (the kernel checks
    /// every element of a map when a rule starts using it).
    public static func endpoints(buckets: Int) -> String { "endpoints-\(buckets)" }
    public static func nodePortEndpoints(buckets: Int) -> String { "nodeport-endpoints-\(buckets)" }
    static let endpointsPrefix = "endpoints-"
    static let nodePortEndpointsPrefix = "nodeport-endpoints-"
    public static let hairpin = "hairpin"
    public static let nodePortIPs = "nodeport-ips"

    public static let natPrerouting = "nat-prerouting"
    public static let natOutput = "nat-output"
    public static let natPostrouting = "nat-postrouting"
    public static let filterInput = "filter-input"
    public static let filterForward = "filter-forward"
    public static let filterOutput = "filter-output"
    public static let services = "services"
    public static let endpointsCheck = "endpoints-check"
    public static let rejectService = "reject-service"
    public static let masquerading = "masquerading"
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

    /// The map of its buckets (shared by the Local variant of the same kind and count).
    var map: String { kind.isNodePort ? Names.nodePortEndpoints(buckets: buckets) : Names.endpoints(buckets: buckets) }

    static func < (lhs: BalancerChain, rhs: BalancerChain) -> Bool {
        (lhs.kind, lhs.buckets) < (rhs.kind, rhs.buckets)
    }
}
