/// What nfcompile does with each field of a Service and an EndpointSlice, the objects that carry
/// Service behaviour: the README's table of fields lists these, and a test walks the schemas and
/// fails when a field is missing here, so that no field is ever dropped without a word.
public struct FieldSupport: Sendable {
    public enum Use: Sendable, Equatable {
        /// nfcompile does what Kubernetes promises for it.
        case honoured
        /// It has no meaning for a node's service proxy (kube-proxy does not read it either).
        case irrelevant
    }

    /// `spec.ports[].nodePort`: dotted, `[]` for the items of a list; a path stands for its
    /// subtree unless a longer one is listed.
    public var path: String
    public var use: Use
    /// What it does, or why it does not matter.
    public var note: String

    init(_ path: String, _ use: Use, _ note: String) {
        self.path = path
        self.use = use
        self.note = note
    }

    /// The entry for `path`: the longest listed path that is it or holds it.
    public static func entry(for path: String, in list: [FieldSupport]) -> FieldSupport? {
        list.filter { path == $0.path || path.hasPrefix($0.path + ".") || path.hasPrefix($0.path + "[]") }
            .max { $0.path.count < $1.path.count }
    }

    public static let service: [FieldSupport] = [
        FieldSupport("apiVersion", .honoured, "v1"),
        FieldSupport("kind", .honoured, "Service"),
        FieldSupport("metadata", .irrelevant, "bookkeeping of the API server"),
        FieldSupport("metadata.name", .honoured, "the Service's identity"),
        FieldSupport("metadata.namespace", .honoured, "the Service's identity; pods are selected in it"),
        FieldSupport(
            "metadata.labels", .honoured,
            "`service.kubernetes.io/service-proxy-name`: another proxy's Service, no rules; `service.kubernetes.io/headless`"
        ),
        FieldSupport("spec.type", .honoured, "ClusterIP, NodePort, LoadBalancer; ExternalName gets no rules"),
        FieldSupport(
            "spec.selector", .honoured, "endpoints from the selected Pods and workloads, when no EndpointSlice is given"
        ),
        FieldSupport(
            "spec.clusterIP", .honoured, "`None`: headless, no rules; allocated from `--service-cidr` when absent"),
        FieldSupport(
            "spec.clusterIPs", .honoured, "one per family; each family's table balances to that family's endpoints"),
        FieldSupport("spec.ipFamilies", .honoured, "checked against `clusterIPs`"),
        FieldSupport("spec.ipFamilyPolicy", .honoured, "two families need PreferDualStack or RequireDualStack"),
        FieldSupport("spec.ports[].name", .honoured, "matches EndpointSlice ports"),
        FieldSupport("spec.ports[].protocol", .honoured, "TCP, UDP, SCTP"),
        FieldSupport("spec.ports[].port", .honoured, "the frontend port"),
        FieldSupport("spec.ports[].targetPort", .honoured, "a number, or a container port's name per Pod"),
        FieldSupport("spec.ports[].nodePort", .honoured, "within `--service-node-port-range`; allocated when absent"),
        FieldSupport("spec.ports[].appProtocol", .irrelevant, "a hint for L7 proxies"),
        FieldSupport("spec.externalIPs", .honoured, "frontends on the node; masqueraded for policy Cluster"),
        FieldSupport("spec.sessionAffinity", .honoured, "ClientIP: a client's connections reach the same endpoint"),
        FieldSupport("spec.sessionAffinityConfig", .honoured, "`clientIP.timeoutSeconds` (default 10800)"),
        FieldSupport(
            "spec.loadBalancerIP", .irrelevant,
            "a request to the cloud's load balancer; the rules use `status.loadBalancer`"),
        FieldSupport("spec.loadBalancerSourceRanges", .honoured, "other sources are dropped at the load-balancer IPs"),
        FieldSupport("spec.loadBalancerClass", .irrelevant, "picks the load-balancer controller"),
        FieldSupport("spec.allocateLoadBalancerNodePorts", .honoured, "false: no NodePort unless one is written"),
        FieldSupport("spec.externalName", .honoured, "DNS only: no rules"),
        FieldSupport(
            "spec.externalTrafficPolicy", .honoured,
            "Local: this node's endpoints for external clients, the source kept"),
        FieldSupport("spec.internalTrafficPolicy", .honoured, "Local: only this node's endpoints"),
        FieldSupport("spec.healthCheckNodePort", .honoured, "the agent answers on it for policy Local"),
        FieldSupport("spec.publishNotReadyAddresses", .honoured, "not-ready Pods are endpoints"),
        FieldSupport(
            "spec.trafficDistribution", .honoured, "PreferClose/PreferSameZone/PreferSameNode with slice hints"),
        FieldSupport("status.loadBalancer.ingress[].ip", .honoured, "load-balancer frontends"),
        FieldSupport("status.loadBalancer.ingress[].ipMode", .honoured, "Proxy: no rules for that address"),
        FieldSupport("status.loadBalancer.ingress[].hostname", .irrelevant, "resolved by clients, not by the node"),
        FieldSupport("status.loadBalancer.ingress[].ports", .irrelevant, "reported by the controller"),
        FieldSupport("status.conditions", .irrelevant, "reported by the controller"),
    ]

    public static let endpointSlice: [FieldSupport] = [
        FieldSupport("apiVersion", .honoured, "discovery.k8s.io/v1"),
        FieldSupport("kind", .honoured, "EndpointSlice"),
        FieldSupport("metadata", .irrelevant, "bookkeeping of the API server"),
        FieldSupport("metadata.name", .honoured, "the slice's identity"),
        FieldSupport("metadata.namespace", .honoured, "the slice's identity"),
        FieldSupport(
            "metadata.labels", .honoured,
            "`kubernetes.io/service-name` names its Service; `service.kubernetes.io/service-proxy-name` and `service.kubernetes.io/headless`: ignored"
        ),
        FieldSupport("addressType", .honoured, "IPv4 and IPv6; FQDN slices are ignored, as by kube-proxy"),
        FieldSupport(
            "endpoints[].addresses", .honoured,
            "the first address is the endpoint's; one endpoint in two slices counts once"),
        FieldSupport("endpoints[].conditions", .honoured, "ready and serving default to true, terminating to false"),
        FieldSupport("endpoints[].hostname", .irrelevant, "DNS only"),
        FieldSupport("endpoints[].targetRef", .honoured, "the pod's name, in comments and messages"),
        FieldSupport("endpoints[].nodeName", .honoured, "local to this node for the Local policies"),
        FieldSupport("endpoints[].zone", .honoured, "topology"),
        FieldSupport("endpoints[].hints", .honoured, "`forZones`, `forNodes` for trafficDistribution"),
        FieldSupport("endpoints[].deprecatedTopology", .irrelevant, "replaced by zone and nodeName"),
        FieldSupport("ports[].name", .honoured, "matched with the Service's port names"),
        FieldSupport("ports[].port", .honoured, "the endpoint port"),
        FieldSupport("ports[].protocol", .honoured, "matched with the Service's port protocols"),
        FieldSupport("ports[].appProtocol", .irrelevant, "a hint for L7 proxies"),
    ]
}
