import Addressing
import Ruleset

/// What the compiler needs to know about the node and the cluster besides the graph.
///
/// Options shape rules; they are fixed for the life of an agent, so a change of services or
/// endpoints still only changes elements (README, "The ruleset").
public struct CompilerOptions: Hashable, Sendable {
    /// Our table's name, in both families.
    public var tableName: String
    /// Which traffic comes from this cluster's pods (kube-proxy's `--detect-local-mode`). Traffic
    /// to a ClusterIP from anywhere else is masqueraded, so that replies come back through this
    /// node.
    public var localTraffic: LocalTraffic
    /// Masquerade all traffic to ClusterIPs, whatever its source (kube-proxy's `--masquerade-all`).
    /// External and load-balancer IPs of policy Cluster, and NodePorts, are masqueraded anyway;
    /// the frontends of `externalTrafficPolicy: Local` keep the client's address even so.
    public var masqueradeAll: Bool
    /// Addresses that accept NodePort traffic; empty means every local address but loopback
    /// (narrowed by `nodePortNetworks`).
    public var nodeIPs: [IPAddress]
    /// NodePorts answer only on local addresses inside these networks (kube-proxy's
    /// `--nodeport-addresses` given as CIDRs); empty means no such restriction. Used when
    /// `nodeIPs` is empty.
    public var nodePortNetworks: [IPNetwork]
    /// This node's name, for `externalTrafficPolicy`/`internalTrafficPolicy: Local`. When nil,
    /// every endpoint counts as local (a single-node setup such as the tutorial's).
    public var nodeName: String?
    /// This node's zone (its `topology.kubernetes.io/zone` label), for EndpointSlice zone hints.
    public var zone: String?
    /// The packet mark bit that asks postrouting to masquerade (kube-proxy uses the same bit).
    public var masqueradeBit: UInt32
    /// The cluster's service ranges: traffic to an address in them that no Service holds is
    /// dropped instead of routed on (kube-proxy's check); the default is `--service-cidr`'s.
    public var serviceCIDRs: [IPNetwork] = [IPNetwork("10.96.0.0/12")!]

    public init(
        tableName: String = "nfcompile", clusterCIDRs: [IPNetwork] = [IPNetwork("10.244.0.0/16")!],
        nodeIPs: [IPAddress] = [], nodeName: String? = nil, zone: String? = nil,
        masqueradeBit: UInt32 = 0x4000
    ) {
        self.init(
            tableName: tableName, localTraffic: .sourceNetworks(clusterCIDRs), nodeIPs: nodeIPs, nodeName: nodeName,
            zone: zone, masqueradeBit: masqueradeBit)
    }

    public init(
        tableName: String = "nfcompile", localTraffic: LocalTraffic, masqueradeAll: Bool = false,
        nodeIPs: [IPAddress] = [], nodePortNetworks: [IPNetwork] = [], nodeName: String? = nil,
        zone: String? = nil, masqueradeBit: UInt32 = 0x4000
    ) {
        self.tableName = tableName
        self.localTraffic = localTraffic
        self.masqueradeAll = masqueradeAll
        self.nodeIPs = nodeIPs
        self.nodePortNetworks = nodePortNetworks
        self.nodeName = nodeName
        self.zone = zone
        self.masqueradeBit = masqueradeBit
    }

    /// The pod networks when local traffic is told by its source address (at most one per
    /// family); empty otherwise. Setting it selects detection by source address.
    public var clusterCIDRs: [IPNetwork] {
        get {
            if case .sourceNetworks(let networks) = localTraffic { networks } else { [] }
        }
        set { localTraffic = .sourceNetworks(newValue) }
    }
}

/// How the node tells traffic of the cluster's pods from the rest (kube-proxy's detect-local
/// modes), for masquerading decisions.
public enum LocalTraffic: Hashable, Sendable {
    /// From these networks, at most one per family: kube-proxy's `ClusterCIDR` (the cluster's pod
    /// networks) and `NodeCIDR` (this node's `spec.podCIDRs`) modes. A family without one has no
    /// local traffic as kube-proxy's no-op detector: ClusterIP traffic is then not masqueraded.
    case sourceNetworks([IPNetwork])
    /// From an interface whose name starts with this prefix (`InterfaceNamePrefix`: `veth`, `cali`).
    case interfaceNamePrefix(String)
    /// From this bridge (`BridgeInterface`: `cbr0`).
    case bridgeInterface(String)

    /// The statements that match traffic from the pods of the cluster (`local`) or from anywhere
    /// else (`!local`) in one family; nil when the family has no way to tell (nothing is local).
    public func match(local: Bool, family: IPFamily) -> [Statement]? {
        let comparison: Statement.Comparison = local ? .equal : .notEqual
        switch self {
        case .sourceNetworks(let networks):
            guard let network = networks.first(where: { $0.family == family }) else { return nil }
            let value: Value =
                network.prefixLength == network.address.family.byteCount * 8
                ? .address(network.address) : .network(network)
            return [.match(.sourceAddress(family), comparison, value)]
        case .interfaceNamePrefix(let prefix):
            return [.inputInterfaceName(comparison, prefix + "*")]
        case .bridgeInterface(let name):
            return [.inputInterfaceName(comparison, name)]
        }
    }
}
