import Addressing
import ServiceGraph

/// Which endpoints of one service port serve which traffic on this node, as kube-proxy decides it
/// (`CategorizeEndpoints` in its `topology.go`).
///
/// - `cluster`: the ready endpoints, narrowed by topology hints when they apply; when none is
///   ready anywhere, the serving terminating ones, so that connections drain to pods that still
///   answer instead of failing (topology is not considered then).
/// - `local`: decided on its own, for the Local traffic policies: this node's ready endpoints,
///   else this node's serving terminating ones. Topology never narrows it.
///
/// An endpoint is local when its `nodeName` is this node; when the node's name is unknown (a
/// single-node setup, such as the tutorial's), every endpoint is.
public struct EndpointSelection: Hashable, Sendable {
    /// How the topology hints narrowed the cluster-wide endpoints.
    public enum Topology: Hashable, Sendable {
        /// Every ready endpoint (no hints, incomplete hints, or none for this node or zone).
        case none
        /// The endpoints hinted for this node (`hints.forNodes`).
        case sameNode
        /// The endpoints hinted for this node's zone (`hints.forZones`).
        case sameZone
    }

    public var cluster: [Endpoint]
    public var local: [Endpoint]
    public var topology: Topology

    /// Some endpoint, anywhere, can take traffic (ready, or serving while terminating).
    public var hasAnyEndpoints: Bool { !cluster.isEmpty }

    /// The endpoints of `endpoints` in `family`, selected for a node named `node` in `zone`.
    public init(_ endpoints: [Endpoint], family: IPFamily, node: String?, zone: String?) {
        let candidates = endpoints.keeping { $0.address.family == family }
        topology = Self.topology(candidates, node: node, zone: zone)
        let mode = topology
        let ready = candidates.keeping { $0.isReady && Self.available($0, for: mode, node: node, zone: zone) }
        cluster = ready.isEmpty ? candidates.filter { $0.isServing && $0.isTerminating } : ready
        let mine = candidates.keeping { Self.isLocal($0, node: node) }
        let localReady = mine.keeping(\.isReady)
        local = localReady.isEmpty ? mine.filter { $0.isServing && $0.isTerminating } : localReady
    }

    /// The selection for one port of `service`, with the node and zone of `options`.
    init(_ port: ServicePort, family: IPFamily, options: CompilerOptions) {
        self.init(port.endpoints, family: family, node: options.nodeName, zone: options.zone)
    }

    /// An endpoint without a node name is on no node we know: not local, unless our own name is
    /// unknown too.
    public static func isLocal(_ endpoint: Endpoint, node: String?) -> Bool {
        guard let node else { return true }
        return endpoint.nodeName == node
    }

    /// kube-proxy's rule: hints count only when every ready endpoint has them and at least one is
    /// for us; node hints first, then zone hints.
    private static func topology(_ endpoints: [Endpoint], node: String?, zone: String?) -> Topology {
        let ready = endpoints.lazy.filter(\.isReady)
        guard !ready.isEmpty else { return .none }
        if let node, ready.allSatisfy({ !$0.nodeHints.isEmpty }), ready.contains(where: { $0.nodeHints.contains(node) })
        {
            return .sameNode
        }
        if let zone, ready.allSatisfy({ !$0.zoneHints.isEmpty }), ready.contains(where: { $0.zoneHints.contains(zone) })
        {
            return .sameZone
        }
        return .none
    }

    private static func available(_ endpoint: Endpoint, for topology: Topology, node: String?, zone: String?) -> Bool {
        switch topology {
        case .none: true
        case .sameNode: node.map(endpoint.nodeHints.contains) ?? false
        case .sameZone: zone.map(endpoint.zoneHints.contains) ?? false
        }
    }
}

extension [Endpoint] {
    /// `filter`, sharing the array when every endpoint is kept (nearly always: one family, all
    /// ready): a copy retains each endpoint's strings, for hundreds of thousands of endpoints.
    fileprivate func keeping(_ isIncluded: (Endpoint) -> Bool) -> [Endpoint] {
        allSatisfy(isIncluded) ? self : filter(isIncluded)
    }
}
