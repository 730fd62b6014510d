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
    /// ClusterIPs of `internalTrafficPolicy: Local` with no endpoint on this node: dropped, as
    /// kube-proxy does.
    public static let noLocalEndpointServices = "no-local-endpoint-services"
    /// External and load-balancer IPs, and NodePorts, of `externalTrafficPolicy: Local` with
    /// endpoints, but none on this node: external clients are dropped (so that a load balancer's
    /// health check moves them to another node); pods and the node itself still reach the
    /// cluster-wide endpoints.
    public static let noLocalEndpointExternalIPs = "no-local-endpoint-external-ips"
    public static let noLocalEndpointNodePorts = "no-local-endpoint-nodeports"
    /// External and load-balancer IPs, and NodePorts, of `externalTrafficPolicy: Local`: external
    /// clients keep their address; the node's own traffic is masqueraded, pods' is not.
    public static let localExternalIPs = "local-external-ips"
    /// External and load-balancer IPs of `externalTrafficPolicy: Cluster`: masqueraded whatever
    /// the source, as kube-proxy does (the endpoint may be on another node, which must answer
    /// through this one).
    public static let clusterExternalIPs = "cluster-external-ips"
    public static let localNodePorts = "local-nodeports"
    /// The same frontends when they have endpoints on this node: external clients go to those
    /// (`local-lb`), pods and the node to the cluster-wide ones (`lb`).
    public static let localServiceIPs = "local-service-ips"
    public static let localServiceNodePorts = "local-service-nodeports"
    public static let hairpin = "hairpin"
    /// Load-balancer frontends of Services with `loadBalancerSourceRanges`: new connections to
    /// them are dropped unless their source is in `firewall-allowed` (frontend . source range).
    public static let firewallIPs = "firewall-ips"
    /// Every ClusterIP: traffic still addressed to one after DNAT is to a port it does not serve.
    public static let clusterIPs = "cluster-ips"
    public static let firewallAllowed = "firewall-allowed"
    public static let nodePortIPs = "nodeport-ips"

    public static let natPrerouting = "nat-prerouting"
    public static let natOutput = "nat-output"
    public static let natPostrouting = "nat-postrouting"
    public static let filterPrerouting = "filter-prerouting"
    public static let filterInput = "filter-input"
    public static let filterForward = "filter-forward"
    public static let filterOutput = "filter-output"
    public static let services = "services"
    public static let endpointsCheck = "endpoints-check"
    public static let rejectService = "reject-service"
    public static let firewallCheck = "firewall-check"
    /// After DNAT: a ClusterIP's unserved port is refused, an unallocated service address dropped.
    public static let clusterIPsCheck = "cluster-ips-check"
    public static let filterOutputPostDNAT = "filter-output-post-dnat"
    /// Records, after DNAT, which endpoint a client of a `sessionAffinity: ClientIP` frontend got.
    public static let affinityRecord = "affinity-record"
    public static let masquerading = "masquerading"
}

/// Which key a frontend has: its own address (ClusterIP, external and load-balancer IPs), or
/// only protocol and port (a NodePort, on any of the node's addresses); and which endpoints it
/// balances to: the cluster-wide ones, or (the local kinds) only this node's, for the external
/// clients of `externalTrafficPolicy: Local`. Each kind has its own gate set, dispatch chains,
/// bit sets and bucket maps.
enum FrontendKind: Int, Hashable, Comparable, CaseIterable {
    case address
    case nodePort
    case localAddress
    case localNodePort

    static func < (lhs: FrontendKind, rhs: FrontendKind) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The kinds the `services` chain dispatches to; the local kinds are reached from their roots.
    static let entries: [FrontendKind] = [.address, .nodePort]

    /// Keyed `address . protocol . port` (else `protocol . port`).
    var hasAddress: Bool { self == .address || self == .localAddress }
    var isLocal: Bool { self == .localAddress || self == .localNodePort }
    /// The kind of the same frontends with only this node's endpoints.
    var local: FrontendKind { hasAddress ? .localAddress : .localNodePort }

    private var prefix: String {
        switch self {
        case .address: ""
        case .nodePort: "nodeport-"
        case .localAddress: "local-"
        case .localNodePort: "nodeport-local-"
        }
    }

    /// The set every balanced frontend of this kind is in.
    var gate: String {
        switch self {
        case .address: Names.serviceIPs
        case .nodePort: Names.serviceNodePorts
        case .localAddress: Names.localServiceIPs
        case .localNodePort: Names.localServiceNodePorts
        }
    }
    var noEndpoints: String { hasAddress ? Names.noEndpointServices : Names.noEndpointNodePorts }
    /// Frontends of `externalTrafficPolicy: Local` without a local endpoint.
    var noLocalExternalEndpoints: String {
        hasAddress ? Names.noLocalEndpointExternalIPs : Names.noLocalEndpointNodePorts
    }
    /// The frontends of this kind with `externalTrafficPolicy: Local`.
    var keepsSource: String { hasAddress ? Names.localExternalIPs : Names.localNodePorts }

    /// The sets of elements this kind's frontends are in besides bit sets and bucket maps.
    var memberSets: [String] {
        switch self {
        case .address:
            [gate, noEndpoints, Names.noLocalEndpointServices, keepsSource, noLocalExternalEndpoints]
        case .nodePort: [gate, noEndpoints, noLocalExternalEndpoints, keepsSource]
        case .localAddress, .localNodePort: [gate]
        }
    }

    /// The detour of the frontends of `externalTrafficPolicy: Local` (entry kinds only).
    var localPolicyChain: String { "\(prefix)local-policy" }

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

    /// The entry kind of the same key shape: the local kinds share their entry's affinity.
    var entry: FrontendKind { hasAddress ? .address : .nodePort }

    /// Session affinity: client . frontend → the endpoint it got, filled by the packet path with
    /// the Service's timeout. New connections of a client found here go to the same endpoint,
    /// through the cluster-wide tree or, for the external clients of a Local policy, the local one.
    var affinityMap: String { entry == .address ? "affinity" : "nodeport-affinity" }
    /// The frontends (with each of their endpoints) whose affinity lasts `seconds`: the ones
    /// `affinity-record` records, with that timeout.
    func affinitySet(seconds: Int) -> String { "\(affinityMap)-\(seconds)" }

    /// The kind and timeout of an affinity set, if `set` is one.
    static func affinitySetKind(_ set: String) -> AffinityTimeout? {
        for kind in entries {
            let prefix = kind.affinitySet(seconds: 0).dropLast()  // "affinity-", "nodeport-affinity-"
            if set.hasPrefix(prefix), let seconds = Int(set.dropFirst(prefix.count)) {
                return AffinityTimeout(kind: kind, seconds: seconds)
            }
        }
        return nil
    }

    /// The kind whose bucket map `set` is, if it is one.
    static func bucketMapKind(_ set: String) -> FrontendKind? {
        allCases.first { kind in
            let prefix = kind.bucketMap(buckets: 0).dropLast()  // "endpoints-", "nodeport-endpoints-"
            return set.hasPrefix(prefix) && Int(set.dropFirst(prefix.count)) != nil
        }
    }
}

/// A session-affinity timeout in use by frontends of one kind: it has an affinity set and a rule
/// in `affinity-record`.
struct AffinityTimeout: Hashable, Comparable {
    var kind: FrontendKind
    var seconds: Int

    static func < (lhs: AffinityTimeout, rhs: AffinityTimeout) -> Bool {
        (lhs.kind, lhs.seconds) < (rhs.kind, rhs.seconds)
    }

    var set: String { kind.affinitySet(seconds: seconds) }
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
