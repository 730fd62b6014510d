import Addressing
import Manifests

/// Where addresses and ports come from when the manifests leave them to the cluster.
public struct GraphOptions: Hashable, Sendable {
    public var serviceCIDR: IPNetwork
    public var podCIDR: IPNetwork
    public var nodePortRange: ClosedRange<UInt16>

    public init(
        serviceCIDR: IPNetwork = IPNetwork("10.96.0.0/12")!, podCIDR: IPNetwork = IPNetwork("10.244.0.0/16")!,
        nodePortRange: ClosedRange<UInt16> = 30000...32767
    ) {
        self.serviceCIDR = serviceCIDR
        self.podCIDR = podCIDR
        self.nodePortRange = nodePortRange
    }
}

/// The graph with the warnings found while building it.
public struct GraphBuild: Sendable {
    public var graph: ServiceGraph
    public var diagnostics: [Diagnostic]
}

/// Annotation on a Pod or workload giving its endpoints a relative weight (default 1).
public let weightAnnotation = "nfcompile.io/weight"

extension ServiceGraph {
    /// Builds the graph: selects endpoints, allocates what the manifests leave out, and checks
    /// what only the whole input can show (conflicting addresses, undefined named ports).
    /// Throws `InputError` with every diagnostic when there is at least one error.
    public static func build(from manifests: ManifestSet, options: GraphOptions = GraphOptions()) throws(InputError)
        -> GraphBuild
    {
        var builder = GraphBuilder(manifests: manifests, options: options)
        let graph = builder.build()
        let diagnostics = (manifests.diagnostics + builder.diagnostics).sortedByLocation()
        guard !diagnostics.contains(where: { $0.severity == .error }) else { throw InputError(diagnostics) }
        return GraphBuild(graph: graph, diagnostics: diagnostics)
    }
}

/// A pod as the graph sees it: a Pod manifest, or one replica of a workload's template.
struct PodInstance {
    var namespace: String
    var name: String
    var template: PodTemplate
    var addresses: [IPAddress]
    var isReady: Bool
    var isTerminating: Bool
    var weight: Int
    var location: SourceLocation
}

/// Pods by namespace and label, so that selecting the pods of every Service costs what the
/// selectors match, not services × pods.
struct PodIndex {
    let pods: [PodInstance]
    private var byLabel: [String: [String: [Int]]] = [:]  // namespace → "key=value" → pod indexes

    init(_ pods: [PodInstance]) {
        self.pods = pods
        for (index, pod) in pods.enumerated() {
            for (key, value) in pod.template.labels {
                byLabel[pod.namespace, default: [:]]["\(key)=\(value)", default: []].append(index)
            }
        }
    }

    /// The pods a Service's selector picks, in pod order; none for no or an empty selector.
    func selected(by service: ServiceManifest) -> [PodInstance] {
        guard let selector = service.selector, !selector.isEmpty,
            let labels = byLabel[service.meta.namespace]
        else { return [] }
        let candidates = selector.map { labels["\($0.key)=\($0.value)"] ?? [] }.min { $0.count < $1.count } ?? []
        return candidates.map { pods[$0] }.filter { pod in
            selector.allSatisfy { pod.template.labels[$0.key] == $0.value }
        }
    }
}

struct GraphBuilder {
    let manifests: ManifestSet
    let options: GraphOptions
    private(set) var diagnostics: [Diagnostic] = []
    private var slicesByService: [ServiceID: [EndpointSliceManifest]] = [:]
    private var legacyEndpointsByService: [ServiceID: EndpointsManifest] = [:]

    init(manifests: ManifestSet, options: GraphOptions) {
        self.manifests = manifests
        self.options = options
    }

    mutating func build() -> ServiceGraph {
        let pods = PodIndex(podInstances())
        slicesByService = Dictionary(grouping: manifests.endpointSlices.filter { $0.serviceName != nil }) {
            ServiceID(namespace: $0.meta.namespace, name: $0.serviceName!)
        }
        legacyEndpointsByService = Dictionary(
            manifests.endpoints.map { (ServiceID(namespace: $0.meta.namespace, name: $0.meta.name), $0) },
            uniquingKeysWith: { first, _ in first })
        let services = manifests.services
            .filter { $0.type != .externalName && !$0.isHeadless }
            .sorted { ($0.meta.namespace, $0.meta.name) < ($1.meta.namespace, $1.meta.name) }
        let clusterIPs = assignClusterIPs(services)
        let nodePorts = assignNodePorts(services)
        checkIngressBackends()

        return ServiceGraph(
            services: services.map { manifest in
                let id = ServiceID(namespace: manifest.meta.namespace, name: manifest.meta.name)
                let addresses = clusterIPs[id] ?? []
                let family = addresses.first?.family ?? options.serviceCIDR.family
                let ports = manifest.ports.map { port in
                    ServicePort(
                        name: port.name, transport: port.transport, port: port.port,
                        nodePort: nodePorts[PortKey(service: id, port: port)],
                        endpoints: endpoints(of: manifest, port: port, family: family, pods: pods))
                }
                if manifest.selector.map({ !$0.isEmpty }) ?? false, !hasExplicitEndpoints(manifest),
                    pods.selected(by: manifest).isEmpty
                {
                    let selector = manifest.selector!.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                    warn(
                        at: manifest.meta.location,
                        "Service \"\(id)\": selector \(selector.joined(separator: ",")) matches no Pod or workload in namespace \"\(id.namespace)\"; it gets no endpoints",
                        fix: "check the selector against the pods' labels")
                }
                return Service(
                    id: id, ports: ports, clusterIPs: addresses,
                    externalIPs: manifest.externalIPs.map(\.value),
                    loadBalancerIPs: manifest.type == .loadBalancer ? manifest.loadBalancerIngress.map(\.value) : [],
                    loadBalancerSourceRanges: manifest.loadBalancerSourceRanges.map(\.value),
                    externalTrafficPolicy: Service.TrafficPolicy(manifest.externalTrafficPolicy),
                    internalTrafficPolicy: Service.TrafficPolicy(manifest.internalTrafficPolicy),
                    sessionAffinityTimeout: manifest.sessionAffinityTimeout)
            })
    }

    // MARK: Pods

    private mutating func podInstances() -> [PodInstance] {
        var instances: [PodInstance] = manifests.pods
            .filter { $0.phase != .succeeded && $0.phase != .failed }
            .map { pod in
                PodInstance(
                    namespace: pod.meta.namespace, name: pod.meta.name, template: pod.template,
                    addresses: pod.podIPs.map(\.value),
                    isReady: (pod.ready ?? true) && !pod.meta.isTerminating, isTerminating: pod.meta.isTerminating,
                    weight: weight(of: pod.meta), location: pod.meta.location)
            }
        for workload in manifests.workloads where workload.replicas > 0 {
            // Real pod names carry random suffixes; an index keeps ours stable (StatefulSet style).
            for index in 0..<workload.replicas {
                instances.append(
                    PodInstance(
                        namespace: workload.meta.namespace, name: "\(workload.meta.name)-\(index)",
                        template: workload.template, addresses: [], isReady: true, isTerminating: false,
                        weight: weight(of: workload.meta), location: workload.meta.location))
            }
        }
        instances.sort { ($0.namespace, $0.name) < ($1.namespace, $1.name) }

        var allocator = Allocator(network: options.podCIDR, reserved: Set(instances.flatMap(\.addresses)))
        for index in instances.indices where instances[index].addresses.isEmpty {
            let instance = instances[index]
            guard let address = allocator.allocate(for: "\(instance.namespace)/\(instance.name)") else {
                fail(
                    at: instance.location, "no free pod address left in --pod-cidr \(options.podCIDR)",
                    fix: "pass a larger --pod-cidr")
                continue
            }
            instances[index].addresses = [address]
        }
        return instances
    }

    private mutating func weight(of meta: ObjectMeta) -> Int {
        guard let text = meta.annotations[weightAnnotation] else { return 1 }
        guard let weight = Int(text), (1...1000).contains(weight) else {
            fail(
                at: meta.location, "annotation \(weightAnnotation): \"\(text)\" is not a weight",
                fix: "use a whole number from 1 to 1000")
            return 1
        }
        return weight
    }

    // MARK: Addresses and ports

    private mutating func assignClusterIPs(_ services: [ServiceManifest]) -> [ServiceID: [IPAddress]] {
        var result: [ServiceID: [IPAddress]] = [:]
        var owners: [IPAddress: (ServiceID, SourceLocation)] = [:]
        for service in services {
            let id = ServiceID(namespace: service.meta.namespace, name: service.meta.name)
            for address in service.clusterIPs {
                if let (owner, location) = owners[address.value] {
                    fail(
                        at: address.location,
                        "clusterIP \(address.value) of Service \"\(id)\" is already the clusterIP of Service \"\(owner)\" (\(location))",
                        fix: "give each Service its own clusterIP, or remove clusterIP to have one allocated")
                    continue
                }
                if address.value.family == options.serviceCIDR.family, !options.serviceCIDR.contains(address.value) {
                    fail(
                        at: address.location,
                        "clusterIP \(address.value) of Service \"\(id)\" is outside the service range \(options.serviceCIDR)",
                        fix: "use an address inside --service-cidr, or pass the cluster's range with --service-cidr")
                }
                owners[address.value] = (id, address.location)
                result[id, default: []].append(address.value)
            }
        }
        var allocator = Allocator(network: options.serviceCIDR, reserved: Set(owners.keys))
        for service in services where service.clusterIPs.isEmpty {
            let id = ServiceID(namespace: service.meta.namespace, name: service.meta.name)
            guard let address = allocator.allocate(for: id.description) else {
                fail(
                    at: service.meta.location, "no free clusterIP left in --service-cidr \(options.serviceCIDR)",
                    fix: "pass a larger --service-cidr")
                continue
            }
            result[id] = [address]
        }
        return result
    }

    struct PortKey: Hashable {
        var service: ServiceID
        var name: String?
        var transport: TransportProtocol
        var port: UInt16

        init(service: ServiceID, port: ServiceManifest.Port) {
            self.service = service
            self.name = port.name
            self.transport = port.transport
            self.port = port.port
        }
    }

    private mutating func assignNodePorts(_ services: [ServiceManifest]) -> [PortKey: UInt16] {
        var result: [PortKey: UInt16] = [:]
        var owners: [UInt16: (ServiceID, SourceLocation)] = [:]
        for service in services {
            let id = ServiceID(namespace: service.meta.namespace, name: service.meta.name)
            let exposesNodePorts = service.type == .nodePort || service.type == .loadBalancer
            for port in service.ports {
                guard let nodePort = port.nodePort else { continue }
                guard exposesNodePorts else {
                    fail(
                        at: nodePort.location,
                        "nodePort \(nodePort.value) on Service \"\(id)\" of type \(service.type.rawValue)",
                        fix: "remove nodePort, or set spec.type to NodePort or LoadBalancer")
                    continue
                }
                // One Service may use one node port for several protocols; two Services may not share it.
                if let (owner, location) = owners[nodePort.value], owner != id {
                    fail(
                        at: nodePort.location,
                        "nodePort \(nodePort.value) of Service \"\(id)\" is already used by Service \"\(owner)\" (\(location))",
                        fix: "choose another nodePort, or remove it to have one allocated")
                    continue
                }
                owners[nodePort.value] = (id, nodePort.location)
                result[PortKey(service: id, port: port)] = nodePort.value
            }
        }
        let range = options.nodePortRange
        var allocator = Allocator<UInt16>(
            count: UInt64(range.count), reserved: Set(owners.keys), slot: { UInt16(UInt64(range.lowerBound) + $0) })
        for service in services where service.type == .nodePort || service.type == .loadBalancer {
            let id = ServiceID(namespace: service.meta.namespace, name: service.meta.name)
            for port in service.ports where port.nodePort == nil {
                let name = "\(id):\(port.name ?? "")/\(port.transport.rawValue)/\(port.port)"
                guard let nodePort = allocator.allocate(for: name) else {
                    fail(at: port.location, "no free node port left in \(range)", fix: "set nodePort explicitly")
                    continue
                }
                result[PortKey(service: id, port: port)] = nodePort
            }
        }
        return result
    }

    // MARK: Endpoints

    private func slices(of service: ServiceManifest) -> [EndpointSliceManifest] {
        slicesByService[ServiceID(namespace: service.meta.namespace, name: service.meta.name)] ?? []
    }

    private func legacyEndpoints(of service: ServiceManifest) -> EndpointsManifest? {
        legacyEndpointsByService[ServiceID(namespace: service.meta.namespace, name: service.meta.name)]
    }

    /// EndpointSlices (or else a v1 Endpoints object) given in the input are used as they are.
    private func hasExplicitEndpoints(_ service: ServiceManifest) -> Bool {
        !slices(of: service).isEmpty || legacyEndpoints(of: service) != nil
    }

    private mutating func endpoints(
        of service: ServiceManifest, port: ServiceManifest.Port, family: IPFamily, pods: PodIndex
    ) -> [Endpoint] {
        let slices = slices(of: service)
        if !slices.isEmpty { return endpoints(from: slices, port: port, family: family) }
        if let legacy = legacyEndpoints(of: service) { return endpoints(from: legacy, port: port, family: family) }

        let id = ServiceID(namespace: service.meta.namespace, name: service.meta.name)
        return pods.selected(by: service).compactMap { pod in
            guard let address = pod.addresses.first(where: { $0.family == family }) else { return nil }
            guard let target = resolve(port.targetPort, transport: port.transport, in: pod) else {
                fail(
                    at: port.location,
                    "targetPort \"\(port.targetPort)\" of Service \"\(id)\" is not a \(port.transport.rawValue) port name of pod \"\(pod.namespace)/\(pod.name)\" (\(pod.location))",
                    fix: "name a container port \"\(port.targetPort)\" in the pod, or use the port number")
                return nil
            }
            let ready = pod.isReady || service.publishNotReadyAddresses
            return Endpoint(
                address: address, port: target, isReady: ready, isServing: ready, isTerminating: pod.isTerminating,
                nodeName: pod.template.nodeName, weight: pod.weight, targetName: pod.name)
        }
    }

    private func resolve(_ target: PortReference, transport: TransportProtocol, in pod: PodInstance) -> UInt16? {
        switch target {
        case .number(let number): number
        case .name(let name):
            pod.template.ports.first { $0.name == name && $0.transport == transport }?.number
        }
    }

    private func endpoints(from slices: [EndpointSliceManifest], port: ServiceManifest.Port, family: IPFamily)
        -> [Endpoint]
    {
        slices.flatMap { slice -> [Endpoint] in
            guard
                let slicePort = slice.ports.first(where: {
                    ($0.name ?? "") == (port.name ?? "") && $0.transport == port.transport
                }), let number = slicePort.port
            else { return [] }
            return slice.endpoints.flatMap { endpoint in
                endpoint.addresses.filter { $0.value.family == family }.map { address in
                    let ready = endpoint.ready ?? true
                    return Endpoint(
                        address: address.value, port: number, isReady: ready, isServing: endpoint.serving ?? ready,
                        isTerminating: endpoint.terminating ?? false, nodeName: endpoint.nodeName,
                        zone: endpoint.zone, targetName: endpoint.targetName)
                }
            }
        }
    }

    private func endpoints(from legacy: EndpointsManifest, port: ServiceManifest.Port, family: IPFamily)
        -> [Endpoint]
    {
        legacy.subsets.flatMap { subset -> [Endpoint] in
            guard
                let subsetPort = subset.ports.first(where: {
                    ($0.name ?? "") == (port.name ?? "") && $0.transport == port.transport
                }), let number = subsetPort.port
            else { return [] }
            let ready = subset.addresses.map { ($0, true) }
            let notReady = subset.notReadyAddresses.map { ($0, false) }
            return (ready + notReady).filter { $0.0.ip.value.family == family }.map { address, isReady in
                Endpoint(
                    address: address.ip.value, port: number, isReady: isReady, nodeName: address.nodeName,
                    targetName: address.targetName)
            }
        }
    }

    // MARK: Diagnostics

    private mutating func checkIngressBackends() {
        for ingress in manifests.ingresses {
            for backend in ingress.backendServices
            where !manifests.services.contains(where: {
                $0.meta.namespace == ingress.meta.namespace && $0.meta.name == backend.value
            }) {
                warn(
                    at: backend.location,
                    "Ingress \"\(ingress.meta.namespace)/\(ingress.meta.name)\" routes to Service \"\(backend.value)\", which the input does not define",
                    fix: "add the Service's manifest, or fix the backend's name")
            }
        }
    }

    private mutating func fail(at location: SourceLocation?, _ message: String, fix: String) {
        diagnostics.append(.error(at: location, message, fix: fix))
    }

    private mutating func warn(at location: SourceLocation?, _ message: String, fix: String) {
        diagnostics.append(.warning(at: location, message, fix: fix))
    }
}

extension Service.TrafficPolicy {
    init(_ policy: ServiceManifest.TrafficPolicy) {
        switch policy {
        case .cluster: self = .cluster
        case .local: self = .local
        }
    }
}
