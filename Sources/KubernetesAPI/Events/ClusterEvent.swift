import Foundation

/// The kinds of API object the node agent watches.
public enum ObjectKind: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case service = "Service"
    case endpointSlice = "EndpointSlice"
    case node = "Node"

    /// The group/version every object of this kind is read in.
    public var apiVersion: String {
        switch self {
        case .service, .node: "v1"
        case .endpointSlice: "discovery.k8s.io/v1"
        }
    }

    /// The collection's path across all namespaces.
    public var collectionPath: String {
        switch self {
        case .service: "/api/v1/services"
        case .endpointSlice: "/apis/discovery.k8s.io/v1/endpointslices"
        case .node: "/api/v1/nodes"
        }
    }

    /// The resource's plural name, as RBAC rules and error messages spell it.
    public var resource: String {
        switch self {
        case .service: "services"
        case .endpointSlice: "endpointslices"
        case .node: "nodes"
        }
    }

    public var description: String { rawValue }
}

/// One API object that changed: its new state as the API server sent it, or its deletion.
public struct ObjectChange: Sendable, Hashable {
    public var kind: ObjectKind
    /// Empty for cluster-scoped objects (Nodes).
    public var namespace: String
    public var name: String
    /// The object's `metadata.resourceVersion`: the last one seen for a deletion.
    public var resourceVersion: String
    /// The object's JSON, always with `apiVersion` and `kind` (list items omit them; they are put back);
    /// nil when the object was deleted.
    public var object: [UInt8]?
    /// EndpointSlices' `endpoints.kubernetes.io/last-change-trigger-time`: when the change that this slice
    /// reflects happened, the start of `kubeproxy_network_programming_duration_seconds`.
    public var lastChangeTriggerTime: Date?

    public init(
        kind: ObjectKind, namespace: String, name: String, resourceVersion: String, object: [UInt8]?,
        lastChangeTriggerTime: Date? = nil
    ) {
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.resourceVersion = resourceVersion
        self.object = object
        self.lastChangeTriggerTime = lastChangeTriggerTime
    }

    /// True when the object no longer exists.
    public var isDeletion: Bool { object == nil }

    /// The name the agent keys its incremental graph by, one per API object (as one per manifest file),
    /// and the file name in diagnostics: for example `api:EndpointSlice default/web-abc12`.
    public var source: String {
        namespace.isEmpty ? "api:\(kind) \(name)" : "api:\(kind) \(namespace)/\(name)"
    }
}

/// What the node agent needs of its own Node object.
public struct NodeFacts: Sendable, Hashable {
    public var name: String
    /// The `topology.kubernetes.io/zone` label, for topology-aware routing.
    public var zone: String?
    /// `spec.podCIDRs` (or the older single `spec.podCIDR`).
    public var podCIDRs: [String]
    /// The node's primary addresses, at most one per family, as kube-proxy finds them in
    /// `status.addresses`: the first `InternalIP` of each family, else its first `ExternalIP`.
    public var hostIPs: [String]
    /// `metadata.deletionTimestamp` is set: the node is going away.
    public var isBeingDeleted: Bool
    /// The cluster autoscaler's `ToBeDeletedByClusterAutoscaler` taint is set: the node is being drained
    /// (kube-proxy then fails its load-balancer health check).
    public var isTaintedToBeDeleted: Bool
    public var labels: [String: String]
    public var resourceVersion: String

    public init(
        name: String, zone: String? = nil, podCIDRs: [String] = [], hostIPs: [String] = [],
        isBeingDeleted: Bool = false, isTaintedToBeDeleted: Bool = false, labels: [String: String] = [:],
        resourceVersion: String = ""
    ) {
        self.name = name
        self.zone = zone
        self.podCIDRs = podCIDRs
        self.hostIPs = hostIPs
        self.isBeingDeleted = isBeingDeleted
        self.isTaintedToBeDeleted = isTaintedToBeDeleted
        self.labels = labels
        self.resourceVersion = resourceVersion
    }
}

/// How one informer's connection to the API server is doing, for logs and metrics.
public enum ConnectionEvent: Sendable, Hashable {
    /// A request failed; the informer retries after `retryIn`. Reported once per distinct error, not on
    /// every retry, so a wrong token is one log line rather than one a second.
    case failing(ObjectKind, APIError, retryIn: Duration)
    /// The informer is connected again after `failing`.
    case recovered(ObjectKind)
    /// The informer lists again: its resourceVersion expired (410 Gone) while it was away.
    case relisting(ObjectKind, reason: String)
}

/// What the cluster watch reports, in order.
public enum ClusterEvent: Sendable {
    /// Objects changed: one list page, the difference a relist found, or one watch event.
    case changed([ObjectChange])
    /// Services and EndpointSlices have both listed once: every object that existed then has been
    /// reported. kube-proxy syncs nothing before this, and its /healthz says so.
    case initialListComplete
    /// This node's Node object, when it is listed and each time it changes; nil when it is deleted or
    /// does not exist.
    case node(NodeFacts?)
    /// Connection health.
    case connection(ConnectionEvent)
}

extension NodeFacts {
    /// The taint the cluster autoscaler puts on a node it is about to remove.
    public static let toBeDeletedTaint = "ToBeDeletedByClusterAutoscaler"
    public static let zoneLabel = "topology.kubernetes.io/zone"

    /// The facts of a Node object's JSON; nil when it is not a Node with a name.
    public init?(json: [UInt8]) {
        struct Node: Decodable {
            struct Metadata: Decodable {
                var name: String
                var resourceVersion: String?
                var labels: [String: String]?
                var deletionTimestamp: String?
            }
            struct Spec: Decodable {
                struct Taint: Decodable { var key: String }
                var podCIDR: String?
                var podCIDRs: [String]?
                var taints: [Taint]?
            }
            struct Status: Decodable {
                struct Address: Decodable {
                    var type: String
                    var address: String
                }
                var addresses: [Address]?
            }
            var metadata: Metadata
            var spec: Spec?
            var status: Status?
        }
        guard let node = try? JSONDecoder().decode(Node.self, from: Data(json)) else { return nil }
        let labels = node.metadata.labels ?? [:]
        self.init(
            name: node.metadata.name, zone: labels[Self.zoneLabel],
            podCIDRs: node.spec?.podCIDRs ?? node.spec?.podCIDR.map { [$0] } ?? [],
            hostIPs: Self.hostIPs(node.status?.addresses?.map { ($0.type, $0.address) } ?? []),
            isBeingDeleted: node.metadata.deletionTimestamp != nil,
            isTaintedToBeDeleted: node.spec?.taints?.contains { $0.key == Self.toBeDeletedTaint } ?? false,
            labels: labels, resourceVersion: node.metadata.resourceVersion ?? "")
    }
}

extension NodeFacts {
    /// The first `InternalIP` of each family, else the first `ExternalIP` (kube-proxy's node IPs).
    static func hostIPs(_ addresses: [(type: String, address: String)]) -> [String] {
        func family(_ address: String) -> Int { address.contains(":") ? 6 : 4 }
        var chosen: [Int: String] = [:]
        for type in ["InternalIP", "ExternalIP"] {
            for entry in addresses where entry.type == type && chosen[family(entry.address)] == nil {
                chosen[family(entry.address)] = entry.address
            }
        }
        return chosen.sorted { $0.key < $1.key }.map(\.value)
    }
}
