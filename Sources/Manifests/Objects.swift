import Addressing

// Typed, validated Kubernetes objects: only the fields nfcompile reads. Every value that a later
// stage may have to complain about carries the `SourceLocation` it came from.

/// A value together with where it was written.
public struct Located<Value: Hashable & Sendable>: Hashable, Sendable {
    public var value: Value
    public var location: SourceLocation

    public init(_ value: Value, at location: SourceLocation) {
        self.value = value
        self.location = location
    }
}

/// An immutable value behind one reference: for fields few objects set, so that the objects
/// the agent keeps by the ten thousand stay small.
final class Boxed<Value: Hashable & Sendable>: Hashable, Sendable {
    let value: Value

    init(_ value: Value) { self.value = value }

    /// `value` boxed, or nil when it is `empty` (none of its fields set).
    static func unlessEmpty(_ value: Value, empty: Value) -> Boxed? { value == empty ? nil : Boxed(value) }

    /// The boxed value after `change`, in a new box (the old one may be shared); nil once empty.
    static func changing(_ box: Boxed?, empty: Value, _ change: (inout Value) -> Void) -> Boxed? {
        var value = box?.value ?? empty
        change(&value)
        return unlessEmpty(value, empty: empty)
    }

    static func == (a: Boxed, b: Boxed) -> Bool { a === b || a.value == b.value }

    func hash(into hasher: inout Hasher) { hasher.combine(value) }
}

public struct ObjectMeta: Hashable, Sendable {
    public var name: String
    /// `default` when the manifest names none.
    public var namespace: String
    public var labels: [String: String]
    public var annotations: [String: String]
    /// True when `metadata.deletionTimestamp` is set: the object is terminating.
    public var isTerminating: Bool
    /// Where the object starts (its first key).
    public var location: SourceLocation

    public init(
        name: String, namespace: String = "default", labels: [String: String] = [:],
        annotations: [String: String] = [:], isTerminating: Bool = false, location: SourceLocation
    ) {
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.annotations = annotations
        self.isTerminating = isTerminating
        self.location = location
    }

    /// Annotation on a Pod or workload giving its endpoints a relative weight (default 1).
    public static let weightAnnotation = "nfcompile.io/weight"
    /// The only annotations kept: the agent holds every object for as long as it runs, and others
    /// can be large (kubectl's last-applied-configuration is the whole object again).
    static let readAnnotations: Set<String> = [weightAnnotation]

    /// Services and EndpointSlices with this label belong to another service proxy.
    public static let otherProxyLabel = "service.kubernetes.io/service-proxy-name"
    /// EndpointSlices of headless Services carry this label; no proxy uses them.
    public static let headlessLabel = "service.kubernetes.io/headless"

    /// Without the labels a proxy does not read on a Service or EndpointSlice (an EndpointSlice
    /// carries a copy of its Service's): they were checked, and the agent need not hold them.
    func keepingProxyLabels() -> ObjectMeta {
        var meta = self
        meta.labels = labels.filter { $0.key == Self.otherProxyLabel || $0.key == Self.headlessLabel }
        return meta
    }
}

/// Kubernetes' IntOrString for ports: a number, or the name of a container port.
public enum PortReference: Hashable, Sendable, CustomStringConvertible {
    case number(UInt16)
    case name(String)

    public var description: String {
        switch self {
        case .number(let number): "\(number)"
        case .name(let name): name
        }
    }
}

// MARK: - Service

public struct ServiceManifest: Hashable, Sendable {
    public enum ServiceType: String, Hashable, Sendable {
        case clusterIP = "ClusterIP"
        case nodePort = "NodePort"
        case loadBalancer = "LoadBalancer"
        case externalName = "ExternalName"
    }

    public enum TrafficPolicy: String, Hashable, Sendable {
        case cluster = "Cluster"
        case local = "Local"
    }

    public enum IPFamilyPolicy: String, Hashable, Sendable {
        case singleStack = "SingleStack"
        case preferDualStack = "PreferDualStack"
        case requireDualStack = "RequireDualStack"
    }

    public struct Port: Hashable, Sendable {
        public var name: String?
        public var transport: TransportProtocol
        public var port: UInt16
        /// Defaults to `port` when the manifest omits it.
        public var targetPort: PortReference
        /// Only as written; allocation of missing NodePorts happens in the graph.
        public var nodePort: Located<UInt16>?
        public var location: SourceLocation

        public init(
            name: String?, transport: TransportProtocol, port: UInt16, targetPort: PortReference,
            nodePort: Located<UInt16>?, location: SourceLocation
        ) {
            self.name = name
            self.transport = transport
            self.port = port
            self.targetPort = targetPort
            self.nodePort = nodePort
            self.location = location
        }
    }

    public var meta: ObjectMeta
    public var type: ServiceType
    /// nil when the Service has no selector (its endpoints come from EndpointSlices/Endpoints).
    public var selector: [String: String]?
    /// `spec.clusterIP: None`.
    public var isHeadless: Bool
    /// `spec.clusterIPs` (or `spec.clusterIP`), as written; empty when to be allocated.
    public var clusterIPs: [Located<IPAddress>]
    public var ports: [Port]
    public var externalIPs: [Located<IPAddress>]
    /// `status.loadBalancer.ingress[].ip` with `ipMode` VIP (or none): traffic to them arrives
    /// with them as destination (hostname-only entries are skipped).
    public var loadBalancerIngress: [Located<IPAddress>]
    /// `spec.ipFamilies`, in order; empty when not written.
    public var ipFamilies: [Located<IPFamily>] = []
    /// `spec.ipFamilyPolicy`; nil when not written (SingleStack).
    public var ipFamilyPolicy: Located<IPFamilyPolicy>?
    /// `spec.allocateLoadBalancerNodePorts` (default true).
    public var allocateLoadBalancerNodePorts: Bool = true
    public var externalTrafficPolicy: TrafficPolicy
    public var internalTrafficPolicy: TrafficPolicy
    public var publishNotReadyAddresses: Bool

    // Fields few Services set, behind one reference (nil without any): the graph builder keeps
    // every Service, and inline they took 176 of its 368 bytes.

    /// Ingress IPs with `ipMode: Proxy`: the load balancer sends traffic to the node, not to them.
    public var proxiedLoadBalancerIngress: [Located<IPAddress>] {
        get { rare?.value.proxiedLoadBalancerIngress ?? [] }
        set { changeRare { $0.proxiedLoadBalancerIngress = newValue } }
    }
    /// `spec.loadBalancerIP` (deprecated): the address asked of the load balancer, not one it has.
    public var requestedLoadBalancerIP: Located<IPAddress>? {
        get { rare?.value.requestedLoadBalancerIP }
        set { changeRare { $0.requestedLoadBalancerIP = newValue } }
    }
    /// `spec.healthCheckNodePort`, for LoadBalancer Services with externalTrafficPolicy Local.
    public var healthCheckNodePort: Located<UInt16>? {
        get { rare?.value.healthCheckNodePort }
        set { changeRare { $0.healthCheckNodePort = newValue } }
    }
    /// `spec.trafficDistribution` (PreferClose, PreferSameZone, PreferSameNode), as written.
    public var trafficDistribution: Located<String>? {
        get { rare?.value.trafficDistribution }
        set { changeRare { $0.trafficDistribution = newValue } }
    }
    public var loadBalancerSourceRanges: [Located<IPNetwork>] {
        get { rare?.value.loadBalancerSourceRanges ?? [] }
        set { changeRare { $0.loadBalancerSourceRanges = newValue } }
    }
    /// `spec.sessionAffinity: ClientIP` timeout in seconds (default 10800); nil for None.
    public var sessionAffinityTimeout: Int? {
        get { rare?.value.sessionAffinityTimeout }
        set { changeRare { $0.sessionAffinityTimeout = newValue } }
    }
    public var externalName: String? {
        get { rare?.value.externalName }
        set { changeRare { $0.externalName = newValue } }
    }

    private struct Rare: Hashable, Sendable {
        var proxiedLoadBalancerIngress: [Located<IPAddress>] = []
        var requestedLoadBalancerIP: Located<IPAddress>?
        var healthCheckNodePort: Located<UInt16>?
        var trafficDistribution: Located<String>?
        var loadBalancerSourceRanges: [Located<IPNetwork>] = []
        var sessionAffinityTimeout: Int?
        var externalName: String?
    }

    private var rare: Boxed<Rare>?

    private mutating func changeRare(_ change: (inout Rare) -> Void) {
        rare = Boxed.changing(rare, empty: Rare(), change)
    }

    public init(
        meta: ObjectMeta, type: ServiceType = .clusterIP, selector: [String: String]? = nil, isHeadless: Bool = false,
        clusterIPs: [Located<IPAddress>] = [], ports: [Port] = [], externalIPs: [Located<IPAddress>] = [],
        loadBalancerIngress: [Located<IPAddress>] = [], loadBalancerSourceRanges: [Located<IPNetwork>] = [],
        externalTrafficPolicy: TrafficPolicy = .cluster, internalTrafficPolicy: TrafficPolicy = .cluster,
        sessionAffinityTimeout: Int? = nil, externalName: String? = nil, publishNotReadyAddresses: Bool = false
    ) {
        self.meta = meta
        self.type = type
        self.selector = selector
        self.isHeadless = isHeadless
        self.clusterIPs = clusterIPs
        self.ports = ports
        self.externalIPs = externalIPs
        self.loadBalancerIngress = loadBalancerIngress
        self.externalTrafficPolicy = externalTrafficPolicy
        self.internalTrafficPolicy = internalTrafficPolicy
        self.publishNotReadyAddresses = publishNotReadyAddresses
        self.loadBalancerSourceRanges = loadBalancerSourceRanges
        self.sessionAffinityTimeout = sessionAffinityTimeout
        self.externalName = externalName
    }
}

// MARK: - Pods and workloads

/// A container port, as `spec.containers[].ports[]` declares it.
public struct ContainerPort: Hashable, Sendable {
    public var name: String?
    public var number: UInt16
    public var transport: TransportProtocol

    public init(name: String?, number: UInt16, transport: TransportProtocol = .tcp) {
        self.name = name
        self.number = number
        self.transport = transport
    }
}

/// What nfcompile needs of a pod spec (a Pod's own, or a workload's template).
public struct PodTemplate: Hashable, Sendable {
    public var labels: [String: String]
    /// All ports of all containers (and init containers with restartPolicy Always), in order.
    public var ports: [ContainerPort]
    public var nodeName: String?

    public init(labels: [String: String], ports: [ContainerPort], nodeName: String? = nil) {
        self.labels = labels
        self.ports = ports
        self.nodeName = nodeName
    }
}

public struct PodManifest: Hashable, Sendable {
    public enum Phase: String, Hashable, Sendable {
        case pending = "Pending"
        case running = "Running"
        case succeeded = "Succeeded"
        case failed = "Failed"
        case unknown = "Unknown"
    }

    public var meta: ObjectMeta
    public var template: PodTemplate
    /// `status.podIPs` (or `status.podIP`); empty when to be allocated.
    public var podIPs: [Located<IPAddress>]
    /// `status.conditions[type=Ready].status`; nil when the manifest says nothing (taken as ready).
    public var ready: Bool?
    public var phase: Phase?

    public init(
        meta: ObjectMeta, template: PodTemplate, podIPs: [Located<IPAddress>] = [], ready: Bool? = nil,
        phase: Phase? = nil
    ) {
        self.meta = meta
        self.template = template
        self.podIPs = podIPs
        self.ready = ready
        self.phase = phase
    }
}

/// A label selector with `matchLabels` and `matchExpressions` (Deployments, ReplicaSets, StatefulSets).
public struct LabelSelector: Hashable, Sendable {
    public struct Requirement: Hashable, Sendable {
        public enum Operator: String, Hashable, Sendable {
            case `in` = "In"
            case notIn = "NotIn"
            case exists = "Exists"
            case doesNotExist = "DoesNotExist"
        }

        public var key: String
        public var `operator`: Operator
        public var values: [String]

        public init(key: String, operator: Operator, values: [String]) {
            self.key = key
            self.operator = `operator`
            self.values = values
        }
    }

    public var matchLabels: [String: String]
    public var matchExpressions: [Requirement]

    public init(matchLabels: [String: String] = [:], matchExpressions: [Requirement] = []) {
        self.matchLabels = matchLabels
        self.matchExpressions = matchExpressions
    }

    public func matches(_ labels: [String: String]) -> Bool {
        matchLabels.allSatisfy { labels[$0.key] == $0.value }
            && matchExpressions.allSatisfy { requirement in
                let value = labels[requirement.key]
                switch requirement.operator {
                case .in: return value.map(requirement.values.contains) ?? false
                case .notIn: return value.map { !requirement.values.contains($0) } ?? true
                case .exists: return value != nil
                case .doesNotExist: return value == nil
                }
            }
    }
}

public struct WorkloadManifest: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable {
        case deployment = "Deployment"
        case replicaSet = "ReplicaSet"
        case statefulSet = "StatefulSet"
    }

    public var kind: Kind
    public var meta: ObjectMeta
    /// `spec.replicas`, default 1.
    public var replicas: Int
    public var selector: LabelSelector
    public var template: PodTemplate

    public init(kind: Kind, meta: ObjectMeta, replicas: Int, selector: LabelSelector, template: PodTemplate) {
        self.kind = kind
        self.meta = meta
        self.replicas = replicas
        self.selector = selector
        self.template = template
    }
}

// MARK: - Endpoints given explicitly

public struct EndpointSliceManifest: Hashable, Sendable {
    public enum AddressType: String, Hashable, Sendable {
        case ipv4 = "IPv4"
        case ipv6 = "IPv6"
        case fqdn = "FQDN"
    }

    public struct Port: Hashable, Sendable {
        public var name: String?
        public var port: UInt16?
        public var transport: TransportProtocol

        public init(name: String?, port: UInt16?, transport: TransportProtocol) {
            self.name = name
            self.port = port
            self.transport = transport
        }
    }

    public struct Endpoint: Hashable, Sendable {
        /// Parsed addresses; empty for FQDN slices.
        public var addresses: [Located<IPAddress>] {
            get { address.map { [$0] + otherAddresses } ?? [] }
            set {
                address = newValue.first
                otherAddresses = Array(newValue.dropFirst())
            }
        }
        /// The first address, the one a proxy uses (the API calls the others fungible). Kept apart
        /// from the rest, which nearly every endpoint lacks, so that no array is allocated per
        /// endpoint: a cluster has hundreds of thousands, and the agent keeps them all.
        public private(set) var address: Located<IPAddress>?
        public private(set) var otherAddresses: [Located<IPAddress>] {
            get { rare?.value.otherAddresses ?? [] }
            set { changeRare { $0.otherAddresses = newValue } }
        }
        /// Conditions; nil means "unknown", which Kubernetes treats as true for ready and serving.
        public var ready: Bool?
        public var serving: Bool?
        public var terminating: Bool?
        public var nodeName: String?
        public var zone: String?
        /// `targetRef.name`, usually the pod.
        public var targetName: String?
        /// `hints.forZones[].name`: zones this endpoint should serve (topology-aware routing).
        public var zoneHints: [String]? {
            get { rare?.value.zoneHints }
            set { changeRare { $0.zoneHints = newValue } }
        }
        /// `hints.forNodes[].name`: nodes this endpoint should serve.
        public var nodeHints: [String]? {
            get { rare?.value.nodeHints }
            set { changeRare { $0.nodeHints = newValue } }
        }
        /// What few endpoints have, behind one reference instead of three arrays (16 bytes less for
        /// each of the cluster's endpoints); nil without any.
        private var rare: Boxed<Rare>?

        private struct Rare: Hashable, Sendable {
            var otherAddresses: [Located<IPAddress>] = []
            var zoneHints: [String]?
            var nodeHints: [String]?
        }

        private mutating func changeRare(_ change: (inout Rare) -> Void) {
            rare = Boxed.changing(rare, empty: Rare(), change)
        }

        public init(
            addresses: [Located<IPAddress>], ready: Bool? = nil, serving: Bool? = nil, terminating: Bool? = nil,
            nodeName: String? = nil, zone: String? = nil, targetName: String? = nil, zoneHints: [String]? = nil,
            nodeHints: [String]? = nil
        ) {
            self.address = addresses.first
            self.ready = ready
            self.serving = serving
            self.terminating = terminating
            self.nodeName = nodeName
            self.zone = zone
            self.targetName = targetName
            rare = Boxed.unlessEmpty(
                Rare(otherAddresses: Array(addresses.dropFirst()), zoneHints: zoneHints, nodeHints: nodeHints),
                empty: Rare())
        }

    }

    public var meta: ObjectMeta
    public static let serviceNameLabel = "kubernetes.io/service-name"
    /// From the `kubernetes.io/service-name` label.
    public var serviceName: String?
    public var addressType: AddressType
    public var ports: [Port]
    public var endpoints: [Endpoint]

    public init(
        meta: ObjectMeta, serviceName: String?, addressType: AddressType, ports: [Port], endpoints: [Endpoint]
    ) {
        self.meta = meta
        self.serviceName = serviceName
        self.addressType = addressType
        self.ports = ports
        self.endpoints = endpoints
    }
}

/// The legacy v1 Endpoints object (named like its Service).
public struct EndpointsManifest: Hashable, Sendable {
    public struct Address: Hashable, Sendable {
        public var ip: Located<IPAddress>
        public var nodeName: String?
        public var targetName: String?

        public init(ip: Located<IPAddress>, nodeName: String? = nil, targetName: String? = nil) {
            self.ip = ip
            self.nodeName = nodeName
            self.targetName = targetName
        }
    }

    public struct Subset: Hashable, Sendable {
        public var addresses: [Address]
        public var notReadyAddresses: [Address]
        public var ports: [EndpointSliceManifest.Port]

        public init(addresses: [Address], notReadyAddresses: [Address], ports: [EndpointSliceManifest.Port]) {
            self.addresses = addresses
            self.notReadyAddresses = notReadyAddresses
            self.ports = ports
        }
    }

    public var meta: ObjectMeta
    public var subsets: [Subset]

    public init(meta: ObjectMeta, subsets: [Subset]) {
        self.meta = meta
        self.subsets = subsets
    }
}

/// An Ingress: recognised so its backend Services can be checked; L7 routing is not ours.
public struct IngressManifest: Hashable, Sendable {
    public var meta: ObjectMeta
    /// Names of the Services its rules and default backend point at, with where each is named.
    public var backendServices: [Located<String>]

    public init(meta: ObjectMeta, backendServices: [Located<String>]) {
        self.meta = meta
        self.backendServices = backendServices
    }
}

/// Everything decoded from the inputs, each list in input order (file path order, then document order).
public struct ManifestSet: Hashable, Sendable {
    public var services: [ServiceManifest] = []
    public var pods: [PodManifest] = []
    public var workloads: [WorkloadManifest] = []
    public var endpointSlices: [EndpointSliceManifest] = []
    public var endpoints: [EndpointsManifest] = []
    public var ingresses: [IngressManifest] = []
    /// Warnings and notes found while decoding (skipped kinds are not reported here).
    public var diagnostics: [Diagnostic] = []

    public init() {}
}
