/// The names of our chains, sets and maps: part of the kernel-visible contract, stable across
/// releases so that a restarted or upgraded agent recognises its own table.
public enum Names {
    /// Frontends (`address . protocol . port`) that have endpoints to balance to: the one lookup
    /// that tells service traffic from the rest.
    public static let serviceIPs = "service-ips"
    /// NodePorts (`protocol . port`) that have endpoints to balance to.
    public static let serviceNodePorts = "service-nodeports"
    /// Frontends without any endpoint: new connections are refused (TCP reset, ICMP unreachable).
    public static let noEndpointServices = "no-endpoint-services"
    public static let noEndpointNodePorts = "no-endpoint-nodeports"
    /// Frontends of a Local traffic policy with no endpoint on this node: dropped, as kube-proxy
    /// does, so that a load balancer's health check moves the traffic to another node.
    public static let noLocalEndpointServices = "no-local-endpoint-services"
    public static let noLocalEndpointNodePorts = "no-local-endpoint-nodeports"
    /// External and load-balancer IPs, and NodePorts, of `externalTrafficPolicy: Local`: never
    /// masqueraded, so that the endpoint sees the client's address.
    public static let localExternalIPs = "local-external-ips"
    /// External and load-balancer IPs of `externalTrafficPolicy: Cluster`: masqueraded whatever
    /// the source, as kube-proxy does (the endpoint may be on another node, which must answer
    /// through this one).
    public static let clusterExternalIPs = "cluster-external-ips"
    public static let localNodePorts = "local-nodeports"
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

/// Which key a frontend has: its own address (ClusterIP, external and load-balancer IPs), or
/// only protocol and port (a NodePort, on any of the node's addresses). Each kind has its own
/// gate set, dispatch chains, bit sets and bucket maps.
enum FrontendKind: Int, Hashable, Comparable, CaseIterable {
    case address
    case nodePort

    static func < (lhs: FrontendKind, rhs: FrontendKind) -> Bool { lhs.rawValue < rhs.rawValue }

    private var prefix: String { self == .address ? "" : "nodeport-" }

    /// The set every balanced frontend of this kind is in.
    var gate: String { self == .address ? Names.serviceIPs : Names.serviceNodePorts }
    var noEndpoints: String { self == .address ? Names.noEndpointServices : Names.noEndpointNodePorts }
    var noLocalEndpoints: String { self == .address ? Names.noLocalEndpointServices : Names.noLocalEndpointNodePorts }
    /// The frontends of this kind that keep their client's address.
    var keepsSource: String { self == .address ? Names.localExternalIPs : Names.localNodePorts }

    /// The set that records how a frontend of this kind treats its client's address, if any:
    /// NodePorts are masqueraded unless they keep it, ClusterIPs by where the traffic comes from.
    func sourceSet(_ source: ClientAddress) -> String? {
        switch (self, source) {
        case (_, .kept): keepsSource
        case (.address, .masqueraded): Names.clusterExternalIPs
        case (.nodePort, .masqueraded), (_, .masqueradedUnlessLocal): nil
        }
    }

    /// The root of the dispatch tree: marks for masquerading, then finds the bucket count.
    var dispatchChain: String { "\(prefix)lb" }
    /// The leaf for one bucket count: the DNAT through its bucket map.
    func balancerChain(buckets: Int) -> String { "\(prefix)lb-\(buckets)" }
    /// An inner node of the dispatch tree: the bucket counts from `low` to `high`.
    func dispatchChain(low: Int, high: Int) -> String { "\(prefix)lb-\(low)-\(high)" }
    /// The frontends whose bucket count has the bit of value `bit` set.
    func bitSet(_ bit: Int) -> String { "\(prefix)bucket-bit-\(bit)" }
    /// The buckets of every frontend of this kind with `buckets` buckets: one map per bucket
    /// count, so that a new leaf chain binds to a small map (the kernel checks every element of
    /// a map when a rule starts using it).
    func bucketMap(buckets: Int) -> String { "\(prefix)endpoints-\(buckets)" }

    /// The kind whose bucket map `set` is, if it is one.
    static func bucketMapKind(_ set: String) -> FrontendKind? {
        allCases.first { kind in
            let prefix = kind.bucketMap(buckets: 0).dropLast()  // "endpoints-", "nodeport-endpoints-"
            return set.hasPrefix(prefix) && Int(set.dropFirst(prefix.count)) != nil
        }
    }
}

/// A bucket count in use by frontends of one kind: it has a bucket map and a leaf chain.
struct BucketCount: Hashable, Comparable {
    var kind: FrontendKind
    var buckets: Int

    static func < (lhs: BucketCount, rhs: BucketCount) -> Bool { (lhs.kind, lhs.buckets) < (rhs.kind, rhs.buckets) }

    var map: String { kind.bucketMap(buckets: buckets) }

    /// The bits of the count, by value (10 → 2, 8): the bit sets a frontend with this count is in.
    var bits: [Int] { (0..<Int.bitWidth - 1).map { 1 << $0 }.filter { buckets & $0 != 0 } }
}

/// What a frontend's endpoints see as the client's address.
enum ClientAddress {
    /// The client's, when it is a pod of the cluster; the node's otherwise (ClusterIPs).
    case masqueradedUnlessLocal
    /// Always the node's (external and load-balancer IPs, NodePorts of policy Cluster).
    case masqueraded
    /// Always the client's (policy Local).
    case kept
}
