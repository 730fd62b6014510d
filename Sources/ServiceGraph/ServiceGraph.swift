import Addressing

/// A Service's identity: namespace and name.
public struct ServiceID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var namespace: String
    public var name: String

    public init(namespace: String, name: String) {
        self.namespace = namespace
        self.name = name
    }

    public var description: String { "\(namespace)/\(name)" }

    public static func < (lhs: ServiceID, rhs: ServiceID) -> Bool {
        (lhs.namespace, lhs.name) < (rhs.namespace, rhs.name)
    }
}

/// The service/endpoint graph a node must implement: every Service that needs rules, with its
/// frontends and the endpoints behind each port. Plain values, sorted, so that equal inputs give
/// equal graphs.
public struct ServiceGraph: Hashable, Sendable {
    /// Sorted by `id`. Headless and ExternalName Services are not here: they need no rules.
    public var services: [Service]

    public init(services: [Service]) {
        self.services = services.sorted { $0.id < $1.id }
    }
}

public struct Service: Hashable, Sendable {
    /// Which endpoints serve a frontend: every ready one, or only this node's.
    public enum TrafficPolicy: Hashable, Sendable {
        case cluster
        case local
    }

    public var id: ServiceID
    public var ports: [ServicePort]
    public var clusterIPs: [IPAddress]
    public var externalIPs: [IPAddress]
    public var loadBalancerIPs: [IPAddress]
    public var loadBalancerSourceRanges: [IPNetwork]
    public var externalTrafficPolicy: TrafficPolicy
    public var internalTrafficPolicy: TrafficPolicy
    /// ClientIP session affinity timeout in seconds; nil when affinity is off.
    public var sessionAffinityTimeout: Int?
    /// The node port where a LoadBalancer Service of `externalTrafficPolicy: Local` tells load
    /// balancers whether this node has endpoints of it (`spec.healthCheckNodePort`).
    public var healthCheckNodePort: UInt16? = nil

    public init(
        id: ServiceID, ports: [ServicePort], clusterIPs: [IPAddress], externalIPs: [IPAddress] = [],
        loadBalancerIPs: [IPAddress] = [], loadBalancerSourceRanges: [IPNetwork] = [],
        externalTrafficPolicy: TrafficPolicy = .cluster,
        internalTrafficPolicy: TrafficPolicy = .cluster, sessionAffinityTimeout: Int? = nil
    ) {
        self.id = id
        self.ports = ports
        self.clusterIPs = clusterIPs
        self.externalIPs = externalIPs
        self.loadBalancerIPs = loadBalancerIPs
        self.loadBalancerSourceRanges = loadBalancerSourceRanges
        self.externalTrafficPolicy = externalTrafficPolicy
        self.internalTrafficPolicy = internalTrafficPolicy
        self.sessionAffinityTimeout = sessionAffinityTimeout
    }
}

public struct ServicePort: Hashable, Sendable {
    /// nil for the single unnamed port of a one-port Service.
    public var name: String?
    public var transport: TransportProtocol
    public var port: UInt16
    /// Set for NodePort and LoadBalancer Services.
    public var nodePort: UInt16?
    /// Sorted by address, then port.
    public var endpoints: [Endpoint]

    public init(name: String?, transport: TransportProtocol, port: UInt16, nodePort: UInt16?, endpoints: [Endpoint]) {
        self.name = name
        self.transport = transport
        self.port = port
        self.nodePort = nodePort
        self.endpoints = endpoints.sorted { ($0.address, $0.port) < ($1.address, $1.port) }
    }
}

/// One backend of a service port, with the EndpointSlice conditions.
public struct Endpoint: Hashable, Sendable {
    public var address: IPAddress
    public var port: UInt16
    public var isReady: Bool
    public var isServing: Bool
    public var isTerminating: Bool
    /// Beside the flags, in two bytes (weights go to 1,000): eight bytes less for each of the
    /// cluster's endpoints, which the agent keeps.
    private var storedWeight: UInt16
    public var nodeName: String?
    public var zone: String?
    /// EndpointSlice topology hints: the zones (`hints.forZones`) and nodes (`hints.forNodes`)
    /// this endpoint is meant for; empty when it has none.
    public var zoneHints: [String] {
        get { hints?.zones ?? [] }
        set { hints = Hints(zones: newValue, nodes: nodeHints) }
    }
    public var nodeHints: [String] {
        get { hints?.nodes ?? [] }
        set { hints = Hints(zones: zoneHints, nodes: newValue) }
    }
    /// Both behind one reference, nil without any: few endpoints have hints, and the agent keeps
    /// every endpoint of the cluster.
    private var hints: Hints?
    /// Relative share of new connections (buckets in the load-balancing map); at least 1.
    public var weight: Int {
        get { Int(storedWeight) }
        set { storedWeight = UInt16(clamping: max(1, newValue)) }
    }
    /// The pod behind the endpoint, for comments and messages.
    public var targetName: String?

    public init(
        address: IPAddress, port: UInt16, isReady: Bool = true, isServing: Bool? = nil, isTerminating: Bool = false,
        nodeName: String? = nil, zone: String? = nil, zoneHints: [String] = [], nodeHints: [String] = [],
        weight: Int = 1, targetName: String? = nil
    ) {
        self.address = address
        self.port = port
        self.isReady = isReady
        self.isServing = isServing ?? isReady
        self.isTerminating = isTerminating
        self.nodeName = nodeName
        self.zone = zone
        self.hints = Hints(zones: zoneHints, nodes: nodeHints)
        self.storedWeight = UInt16(clamping: max(1, weight))
        self.targetName = targetName
    }

    private final class Hints: Hashable, Sendable {
        let zones: [String]
        let nodes: [String]

        /// nil for no hints at all.
        init?(zones: [String], nodes: [String]) {
            guard !zones.isEmpty || !nodes.isEmpty else { return nil }
            self.zones = zones
            self.nodes = nodes
        }

        static func == (a: Hints, b: Hints) -> Bool { a.zones == b.zones && a.nodes == b.nodes }

        func hash(into hasher: inout Hasher) {
            hasher.combine(zones)
            hasher.combine(nodes)
        }
    }
}
