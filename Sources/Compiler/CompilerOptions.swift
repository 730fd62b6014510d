import Addressing

/// What the compiler needs to know about the node and the cluster besides the graph.
public struct CompilerOptions: Hashable, Sendable {
    /// Our table's name, in both families.
    public var tableName: String
    /// Pod networks. Traffic to a service from outside them is masqueraded, so replies come back
    /// through this node. At most one per family; a family without one masquerades nothing.
    public var clusterCIDRs: [IPNetwork]
    /// Addresses that accept NodePort traffic; empty means every local address but loopback.
    public var nodeIPs: [IPAddress]
    /// This node's name, for `externalTrafficPolicy`/`internalTrafficPolicy: Local`. When nil,
    /// every endpoint counts as local (a single-node setup such as the tutorial's).
    public var nodeName: String?
    /// This node's zone (its `topology.kubernetes.io/zone` label), for EndpointSlice zone hints.
    public var zone: String?
    /// The packet mark bit that asks postrouting to masquerade (kube-proxy uses the same bit).
    public var masqueradeBit: UInt32

    public init(
        tableName: String = "nfcompile", clusterCIDRs: [IPNetwork] = [IPNetwork("10.244.0.0/16")!],
        nodeIPs: [IPAddress] = [], nodeName: String? = nil, zone: String? = nil,
        masqueradeBit: UInt32 = 0x4000
    ) {
        self.tableName = tableName
        self.clusterCIDRs = clusterCIDRs
        self.nodeIPs = nodeIPs
        self.nodeName = nodeName
        self.zone = zone
        self.masqueradeBit = masqueradeBit
    }
}
