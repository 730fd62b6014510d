import Addressing
import Manifests
import Parallel

/// The cluster's ranges, as the API server knows them: what manifests may use, and where
/// addresses and ports come from when the manifests leave them to the cluster.
public struct GraphOptions: Hashable, Sendable {
    /// Service ranges, at most one per family (kube-apiserver's `--service-cluster-ip-range`);
    /// ClusterIPs are allocated from the first.
    public var serviceCIDRs: [IPNetwork]
    public var podCIDR: IPNetwork
    /// kube-apiserver's `--service-node-port-range`: explicit node ports must be in it, too.
    public var nodePortRange: ClosedRange<UInt16>

    public init(
        serviceCIDRs: [IPNetwork] = [IPNetwork("10.96.0.0/12")!], podCIDR: IPNetwork = IPNetwork("10.244.0.0/16")!,
        nodePortRange: ClosedRange<UInt16> = 30000...32767
    ) {
        precondition(!serviceCIDRs.isEmpty, "a cluster has a service range")
        self.serviceCIDRs = serviceCIDRs
        self.podCIDR = podCIDR
        self.nodePortRange = nodePortRange
    }

    public init(
        serviceCIDR: IPNetwork, podCIDR: IPNetwork = IPNetwork("10.244.0.0/16")!,
        nodePortRange: ClosedRange<UInt16> = 30000...32767
    ) {
        self.init(serviceCIDRs: [serviceCIDR], podCIDR: podCIDR, nodePortRange: nodePortRange)
    }

    /// The range ClusterIPs are allocated from.
    public var serviceCIDR: IPNetwork { serviceCIDRs[0] }

    /// At most this share of the pod range is handed out to pods without addresses: allocation
    /// stays fast (linear probing slows down as a range fills up), and a runaway replica count
    /// is an error rather than minutes of work.
    static let podRangeShare = 0.9
}

/// The graph with the warnings found while building it.
public struct GraphBuild: Sendable {
    public var graph: ServiceGraph
    public var diagnostics: [Diagnostic]
}

/// What a commit of the graph builder changed, service by service.
public struct GraphChange: Sendable {
    /// Services added or modified, sorted by ID.
    public var changed: [Service]
    /// Services gone (or that no longer need rules), sorted.
    public var removed: [ServiceID]
    /// The warnings and notes of the whole input as it is now.
    public var diagnostics: [Diagnostic]

    public var isEmpty: Bool { changed.isEmpty && removed.isEmpty }
}

extension ServiceGraph {
    /// Builds the graph of a whole input: selects endpoints, allocates what the manifests leave
    /// out, and checks what only the whole input can show (conflicting addresses, undefined named
    /// ports). Throws `InputError` with every diagnostic when there is at least one error.
    public static func build(from manifests: ManifestSet, options: GraphOptions = GraphOptions()) throws(InputError)
        -> GraphBuild
    {
        var builder = GraphBuilder(options: options)
        builder.replace("input", with: manifests)
        let change = try builder.commit()
        let graph = builder.graph
        releaseInBackground(builder)
        return GraphBuild(graph: graph, diagnostics: change.diagnostics)
    }
}

/// Builds the service graph from sources of manifests — files of a folder, objects of the
/// Kubernetes API, or a whole input as one source — and keeps it up to date as sources change.
///
/// A commit costs what the change touches: the Services defined in changed sources, those whose
/// selectors match pods that changed, those whose EndpointSlices changed, and those whose allocated
/// address or port moved. Allocation is order-independent (`SlotPool`), so the graph after any
/// sequence of changes equals the graph built from the final input at once. Input with errors is
/// never delivered: the commit throws, and the next good commit delivers everything that changed
/// since the last good one.
public struct GraphBuilder: Sendable {
    public let options: GraphOptions

    // MARK: Input
    /// What each source defines, so that replacing it removes exactly that.
    private var contents: [String: Contents] = [:]
    /// Sources that cannot be read now, with why; their last good objects stay in the graph.
    private var failedSources: [String: [Diagnostic]] = [:]
    /// Warnings and notes of decoding, for the sources that have some.
    private var sourceNotes: [String: [Diagnostic]] = [:]

    private var serviceDefinitions = Definitions<ServiceID, ServiceManifest>()
    private var podDefinitions = Definitions<PodOwner, PodManifest>()
    private var workloadDefinitions = Definitions<PodOwner, WorkloadManifest>()
    private var sliceDefinitions = Definitions<ObjectName, EndpointSliceManifest>()
    private var endpointsDefinitions = Definitions<ServiceID, EndpointsManifest>()
    private var ingressDefinitions = Definitions<ObjectName, IngressManifest>()

    // MARK: Derived state
    private var pods = PodIndex()
    private var instancesByOwner: [PodOwner: [PodInstance.Key]] = [:]
    private var ownerDiagnostics: [PodOwner: [Diagnostic]] = [:]
    private var selectors = SelectorIndex()
    private var slicesByService: [ServiceID: CompactSet<ObjectName>] = [:]
    private var clusterIPPool: SlotPool<ServiceID>
    private var explicitClusterIPOwners: [IPAddress: CompactSet<ServiceID>] = [:]
    private var nodePortPool: SlotPool<NodePortClaim>
    private var nodePortClaims: [ServiceID: [NodePortClaim]] = [:]
    private var explicitNodePortOwners: [UInt16: CompactSet<ServiceID>] = [:]
    private var frontendOwners: [FrontendKey: CompactSet<ServiceID>] = [:]
    private var podAddressPool: SlotPool<PodInstance.Key>
    private var serviceDiagnostics: [ServiceID: [Diagnostic]] = [:]
    private var ingressDiagnostics: [Diagnostic] = []
    private var podRangeDiagnostic: Diagnostic?
    private var services: [ServiceID: Service] = [:]

    // MARK: Pending work
    /// The winning definition of each service, slice or owner before this round's replacements.
    private var servicesBefore: [ServiceID: ServiceManifest?] = [:]
    private var slicesBefore: [ObjectName: EndpointSliceManifest?] = [:]
    private var dirtyOwners: Set<PodOwner> = []
    private var dirtyServices: Set<ServiceID> = []
    private var ingressesChanged = false
    /// For each service changed since the last good commit: what that commit delivered (nil: nothing).
    private var undelivered: [ServiceID: Service?] = [:]

    /// The most replicas one workload may have, whatever the pod range.
    static let maximumReplicas = InputLimits.allocatedPods
    /// Endpoints of all services as of the last good commit (kept, so that checking the bound costs
    /// the change, not the graph).
    private var deliveredEndpointCount = 0

    public init(options: GraphOptions = GraphOptions()) {
        self.options = options
        clusterIPPool = SlotPool(network: options.serviceCIDR)
        nodePortPool = SlotPool(capacity: UInt64(options.nodePortRange.count))
        podAddressPool = SlotPool(network: options.podCIDR)
    }

    /// The graph as of the last commit (its services sorted by ID).
    public var graph: ServiceGraph { ServiceGraph(services: Array(services.values)) }

    /// How many services the graph has.
    public var serviceCount: Int { services.count }

    /// Whether a source is known (it was replaced with objects and not removed since).
    public func contains(source: String) -> Bool { contents[source] != nil }

    /// Whether a source defines at least one object.
    public func definesObjects(_ source: String) -> Bool { contents[source].map { !$0.isEmpty } ?? false }

    /// The sources known, in no particular order.
    public var sources: Dictionary<String, Contents>.Keys { contents.keys }

    // MARK: Changing sources

    /// Replaces what `source` defines with `objects` (nil removes the source). Takes effect at the
    /// next `commit()`.
    public mutating func replace(_ source: String, with objects: ManifestSet?) {
        failedSources[source] = nil
        if let old = contents.removeValue(forKey: source) { unregister(old, from: source) }
        sourceNotes[source] = nil
        guard let objects else { return }
        contents[source] = register(objects, from: source)
        if !objects.diagnostics.isEmpty { sourceNotes[source] = objects.diagnostics }
    }

    /// Marks `source` as unreadable now (a syntax error, a half-written file): every commit fails
    /// with `diagnostics` until it is replaced; its last good objects stay in the meantime.
    public mutating func fail(_ source: String, diagnostics: [Diagnostic]) {
        failedSources[source] = diagnostics
    }

    /// What a source defines, by kind and identity.
    public struct Contents: Sendable {
        fileprivate var services: [ServiceID] = []
        fileprivate var pods: [PodOwner] = []
        fileprivate var workloads: [PodOwner] = []
        fileprivate var slices: [ObjectName] = []
        fileprivate var endpoints: [ServiceID] = []
        fileprivate var ingresses: [ObjectName] = []

        var isEmpty: Bool {
            services.isEmpty && pods.isEmpty && workloads.isEmpty && slices.isEmpty && endpoints.isEmpty
                && ingresses.isEmpty
        }
    }

    private mutating func register(_ objects: ManifestSet, from source: String) -> Contents {
        var contents = Contents()
        for var service in objects.services {
            let id = ServiceID(namespace: service.meta.namespace, name: service.meta.name)
            noteService(id)
            service.meta.keepOnlyProxyMetadata()
            serviceDefinitions.add(id, service, source: source, at: service.meta.location)
            contents.services.append(id)
        }
        for pod in objects.pods {
            let owner = PodOwner(kind: .pod, workloadKind: "", namespace: pod.meta.namespace, name: pod.meta.name)
            podDefinitions.add(owner, pod, source: source, at: pod.meta.location)
            dirtyOwners.insert(owner)
            contents.pods.append(owner)
        }
        for workload in objects.workloads {
            let owner = PodOwner(
                kind: .workload, workloadKind: workload.kind.rawValue, namespace: workload.meta.namespace,
                name: workload.meta.name)
            workloadDefinitions.add(owner, workload, source: source, at: workload.meta.location)
            dirtyOwners.insert(owner)
            contents.workloads.append(owner)
        }
        for var slice in objects.endpointSlices {
            let name = ObjectName(slice.meta)
            noteSlice(name)
            slice.meta.keepOnlyProxyMetadata()
            sliceDefinitions.add(name, slice, source: source, at: slice.meta.location)
            contents.slices.append(name)
        }
        for endpoints in objects.endpoints {
            let id = ServiceID(namespace: endpoints.meta.namespace, name: endpoints.meta.name)
            endpointsDefinitions.add(id, endpoints, source: source, at: endpoints.meta.location)
            dirtyServices.insert(id)
            contents.endpoints.append(id)
        }
        for ingress in objects.ingresses {
            ingressDefinitions.add(ObjectName(ingress.meta), ingress, source: source, at: ingress.meta.location)
            contents.ingresses.append(ObjectName(ingress.meta))
        }
        ingressesChanged = ingressesChanged || !objects.ingresses.isEmpty
        return contents
    }

    private mutating func unregister(_ contents: Contents, from source: String) {
        for id in contents.services {
            noteService(id)
            serviceDefinitions.remove(id, source: source)
        }
        for owner in contents.pods {
            podDefinitions.remove(owner, source: source)
            dirtyOwners.insert(owner)
        }
        for owner in contents.workloads {
            workloadDefinitions.remove(owner, source: source)
            dirtyOwners.insert(owner)
        }
        for name in contents.slices {
            noteSlice(name)
            sliceDefinitions.remove(name, source: source)
        }
        for id in contents.endpoints {
            endpointsDefinitions.remove(id, source: source)
            dirtyServices.insert(id)
        }
        for name in contents.ingresses { ingressDefinitions.remove(name, source: source) }
        ingressesChanged = ingressesChanged || !contents.ingresses.isEmpty
    }

    private mutating func noteService(_ id: ServiceID) {
        if servicesBefore.index(forKey: id) == nil {
            servicesBefore.updateValue(serviceDefinitions.winner(id), forKey: id)
        }
    }

    private mutating func noteSlice(_ name: ObjectName) {
        if slicesBefore.index(forKey: name) == nil {
            slicesBefore.updateValue(sliceDefinitions.winner(name), forKey: name)
        }
    }

    // MARK: Commit

    /// Brings the graph up to date with every replacement since the last commit. Returns what
    /// changed since the last good commit; throws every diagnostic when the input has an error
    /// (nothing is delivered then).
    public mutating func commit() throws(InputError) -> GraphChange {
        let serviceSetChanged = applyServiceChanges()
        applySliceChanges()
        refreshDirtyOwners()
        rebuild(dirtyServices)
        dirtyServices = []
        if ingressesChanged || serviceSetChanged { checkIngressBackends() }
        ingressesChanged = false

        let endpointCount = undelivered.reduce(deliveredEndpointCount) { count, entry in
            count + (services[entry.key]?.endpointCount ?? 0) - (entry.value?.endpointCount ?? 0)
        }
        let diagnostics = allDiagnostics() + sizeErrors(endpoints: endpointCount)
        guard !diagnostics.contains(where: { $0.severity == .error }) else { throw InputError(diagnostics) }
        deliveredEndpointCount = endpointCount
        var changed: [Service] = []
        var removed: [ServiceID] = []
        for (id, delivered) in undelivered {
            let now = services[id]
            guard now != delivered else { continue }
            if let now { changed.append(now) } else { removed.append(id) }
        }
        undelivered = [:]
        return GraphChange(
            changed: changed.sorted { $0.id < $1.id }, removed: removed.sorted(), diagnostics: diagnostics)
    }

    /// Follows the services whose winning definition changed: selectors, explicit and allocated
    /// addresses and ports. Returns whether a service came or went.
    private mutating func applyServiceChanges() -> Bool {
        var serviceSetChanged = false
        for (id, before) in servicesBefore {
            let after = serviceDefinitions.winner(id)
            guard before != after else { continue }
            serviceSetChanged = serviceSetChanged || (before == nil) != (after == nil)
            if before?.selector != after?.selector {
                if let selector = before?.selector { selectors.remove(id, selector: selector) }
                if let selector = after?.selector { selectors.insert(id, selector: selector) }
            }
            updateClusterIPs(id, before: before.flatMap(Self.rulesNeeded), after: after.flatMap(Self.rulesNeeded))
            updateNodePorts(id, before: before.flatMap(Self.rulesNeeded), after: after.flatMap(Self.rulesNeeded))
            updateFrontends(id, before: before.flatMap(Self.rulesNeeded), after: after.flatMap(Self.rulesNeeded))
            dirtyServices.insert(id)
        }
        servicesBefore = [:]
        return serviceSetChanged
    }

    private mutating func applySliceChanges() {
        for (name, before) in slicesBefore {
            let after = sliceDefinitions.winner(name)
            for (slice, add) in [(before, false), (after, true)] {
                guard let service = slice?.serviceName else { continue }
                let id = ServiceID(namespace: name.namespace, name: service)
                if add {
                    slicesByService[id, default: []].insert(name)
                } else {
                    slicesByService[id]?.remove(name)
                    if slicesByService[id]?.isEmpty == true { slicesByService[id] = nil }
                }
                dirtyServices.insert(id)
            }
        }
        slicesBefore = [:]
    }

    /// Only Services with a virtual IP need rules: headless and ExternalName ones are DNS only,
    /// and those labelled for another proxy are that proxy's (kube-proxy's label selector).
    private static func rulesNeeded(_ manifest: ServiceManifest) -> ServiceManifest? {
        manifest.type != .externalName && !manifest.isHeadless
            && manifest.meta.labels[ObjectMeta.otherProxyLabel] == nil ? manifest : nil
    }

    // MARK: Addresses and ports

    private mutating func updateClusterIPs(_ id: ServiceID, before: ServiceManifest?, after: ServiceManifest?) {
        let old = before?.clusterIPs.map(\.value) ?? []
        let new = after?.clusterIPs.map(\.value) ?? []
        if old != new {
            for address in Set(old).subtracting(new) {
                explicitClusterIPOwners[address]?.remove(id)
                dirtyServices.formUnion(explicitClusterIPOwners[address] ?? [])
                if explicitClusterIPOwners[address]?.isEmpty == true {
                    explicitClusterIPOwners[address] = nil
                    if let slot = options.serviceCIDR.slot(of: address) {
                        dirtyServices.formUnion(clusterIPPool.unreserve(slot))
                    }
                }
            }
            for address in Set(new).subtracting(old) {
                dirtyServices.formUnion(explicitClusterIPOwners[address] ?? [])
                explicitClusterIPOwners[address, default: []].insert(id)
                if explicitClusterIPOwners[address]?.count == 1, let slot = options.serviceCIDR.slot(of: address) {
                    dirtyServices.formUnion(clusterIPPool.reserve(slot))
                }
            }
        }
        let needsAllocation = after != nil && new.isEmpty
        if needsAllocation, clusterIPPool.slot(of: id) == nil, !clusterIPPool.isUnplaced(id) {
            dirtyServices.formUnion(clusterIPPool.claim(id, name: id.description))
        } else if !needsAllocation {
            dirtyServices.formUnion(clusterIPPool.release(id))
        }
    }

    private mutating func updateNodePorts(_ id: ServiceID, before: ServiceManifest?, after: ServiceManifest?) {
        let old = before.map(Self.explicitNodePorts) ?? []
        let new = after.map(Self.explicitNodePorts) ?? []
        for port in old.subtracting(new) {
            explicitNodePortOwners[port]?.remove(id)
            dirtyServices.formUnion(explicitNodePortOwners[port] ?? [])
            if explicitNodePortOwners[port]?.isEmpty == true {
                explicitNodePortOwners[port] = nil
                if let slot = nodePortSlot(port) {
                    dirtyServices.formUnion(nodePortPool.unreserve(slot).map(\.service))
                }
            }
        }
        for port in new.subtracting(old) {
            dirtyServices.formUnion(explicitNodePortOwners[port] ?? [])
            explicitNodePortOwners[port, default: []].insert(id)
            if explicitNodePortOwners[port]?.count == 1, let slot = nodePortSlot(port) {
                dirtyServices.formUnion(nodePortPool.reserve(slot).map(\.service))
            }
        }
        let claims = after.map { Self.nodePortClaims(id, $0) } ?? []
        let previous = nodePortClaims[id] ?? []
        guard claims != previous else { return }
        for claim in previous where !claims.contains(claim) {
            dirtyServices.formUnion(nodePortPool.release(claim).map(\.service))
        }
        for claim in claims where !previous.contains(claim) {
            dirtyServices.formUnion(nodePortPool.claim(claim, name: claim.name).map(\.service))
        }
        nodePortClaims[id] = claims.isEmpty ? nil : claims
    }

    /// External and load-balancer frontends are shared addresses: two Services may not serve the
    /// same address, protocol and port (the rules could not tell whose traffic it is).
    private mutating func updateFrontends(_ id: ServiceID, before: ServiceManifest?, after: ServiceManifest?) {
        let old = before.map(Self.sharedFrontends) ?? [:]
        let new = after.map(Self.sharedFrontends) ?? [:]
        for key in old.keys where new[key] == nil {
            frontendOwners[key]?.remove(id)
            dirtyServices.formUnion(frontendOwners[key] ?? [])
            if frontendOwners[key]?.isEmpty == true { frontendOwners[key] = nil }
        }
        for key in new.keys where old[key] == nil {
            dirtyServices.formUnion(frontendOwners[key] ?? [])
            frontendOwners[key, default: []].insert(id)
        }
    }

    /// A Service's external and load-balancer frontends, with where each address is written.
    private static func sharedFrontends(_ manifest: ServiceManifest) -> [FrontendKey: SourceLocation] {
        let addresses = manifest.externalIPs + (manifest.type == .loadBalancer ? manifest.loadBalancerIngress : [])
        var result: [FrontendKey: SourceLocation] = [:]
        for address in addresses {
            for port in manifest.ports {
                let key = FrontendKey(address: address.value, transport: port.transport, port: port.port)
                if result[key] == nil { result[key] = address.location }
            }
        }
        return result
    }

    private static func exposesNodePorts(_ manifest: ServiceManifest) -> Bool {
        manifest.type == .nodePort || manifest.type == .loadBalancer
    }

    private static func explicitNodePorts(_ manifest: ServiceManifest) -> Set<UInt16> {
        exposesNodePorts(manifest) ? Set(manifest.ports.compactMap { $0.nodePort?.value }) : []
    }

    /// The node ports a Service leaves to allocation, one per port without `nodePort`.
    private static func nodePortClaims(_ id: ServiceID, _ manifest: ServiceManifest) -> [NodePortClaim] {
        // A LoadBalancer with allocateLoadBalancerNodePorts: false gets node ports only where written.
        guard exposesNodePorts(manifest), manifest.type != .loadBalancer || manifest.allocateLoadBalancerNodePorts
        else { return [] }
        return manifest.ports.enumerated().compactMap { index, port in
            port.nodePort == nil
                ? NodePortClaim(
                    service: id, index: index, name: "\(id):\(port.name ?? "")/\(port.transport.rawValue)/\(port.port)")
                : nil
        }
    }

    private func nodePortSlot(_ port: UInt16) -> UInt64? {
        options.nodePortRange.contains(port) ? UInt64(port - options.nodePortRange.lowerBound) : nil
    }

    // MARK: Pods

    /// Brings the pod instances of the owners that changed up to date, unless the pods needing an
    /// allocated address would no longer fit the pod range (an error; they stay pending then).
    private mutating func refreshDirtyOwners() {
        var plans: [(PodOwner, [PodInstance], [Diagnostic])] = []
        var claims = podAddressPool.claimCount
        for owner in dirtyOwners {
            var diagnostics: [Diagnostic] = []
            let new = instances(of: owner, diagnostics: &diagnostics)
            claims -= (instancesByOwner[owner] ?? []).count { pods[$0]?.explicitAddresses.isEmpty == true }
            claims += new.count { $0.explicitAddresses.isEmpty }
            plans.append((owner, new, diagnostics))
        }
        let limit = min(
            Int(Double(min(options.podCIDR.size, 1 << 40)) * GraphOptions.podRangeShare), InputLimits.allocatedPods)
        guard claims <= limit else {
            podRangeDiagnostic = podRangeError(pods: claims, limit: limit)
            return
        }
        podRangeDiagnostic = nil
        for (owner, new, diagnostics) in plans { refreshInstances(of: owner, to: new, diagnostics) }
        dirtyOwners = []
    }

    /// The error for too many pods to allocate, at the workload with the most replicas.
    private func podRangeError(pods: Int, limit: Int) -> Diagnostic {
        let largest = workloadDefinitions.byKey.values.compactMap(\.first?.object)
            .max { ($0.replicas, $1.meta.location) < ($1.replicas, $0.meta.location) }
        return .error(
            at: largest?.meta.location,
            "\(pods) pods need an address allocated from --pod-cidr \(options.podCIDR), which can give at most \(limit)",
            fix: "lower spec.replicas, give the pods their status.podIP, or pass a larger --pod-cidr")
    }

    private mutating func refreshInstances(of owner: PodOwner, to new: [PodInstance], _ diagnostics: [Diagnostic]) {
        let old = instancesByOwner[owner] ?? []
        ownerDiagnostics[owner] = diagnostics.isEmpty ? nil : diagnostics
        let kept = Set(new.map(\.key))
        for key in old where !kept.contains(key) {
            guard let instance = pods[key] else { continue }
            affect(instance)
            releaseAddress(instance)
            pods.remove(key)
        }
        for instance in new {
            let previous = pods[instance.key]
            guard previous != instance else { continue }
            if let previous {
                affect(previous)
                if previous.explicitAddresses != instance.explicitAddresses { releaseAddress(previous) }
            }
            pods.insert(instance)
            affect(instance)
            if previous?.explicitAddresses != instance.explicitAddresses { claimAddress(instance) }
        }
        instancesByOwner[owner] = new.isEmpty ? nil : new.map(\.key)
    }

    private mutating func instances(of owner: PodOwner, diagnostics: inout [Diagnostic]) -> [PodInstance] {
        switch owner.kind {
        case .pod:
            guard let pod = podDefinitions.winner(owner), pod.phase != .succeeded, pod.phase != .failed else {
                return []
            }
            for address in pod.podIPs {
                if let special = address.value.specialPurpose {
                    diagnostics.append(
                        .error(
                            at: address.location,
                            "pod IP \(address.value) of Pod \"\(owner.namespace)/\(owner.name)\" is \(special)",
                            fix: "use the pod's address on the pod network"))
                }
            }
            return [
                PodInstance(
                    key: .init(namespace: owner.namespace, name: owner.name, owner: owner), template: pod.template,
                    explicitAddresses: pod.podIPs.map(\.value), isReady: (pod.ready ?? true) && !pod.meta.isTerminating,
                    isTerminating: pod.meta.isTerminating, weight: weight(of: pod.meta, &diagnostics),
                    location: pod.meta.location)
            ]
        case .workload:
            guard let workload = workloadDefinitions.winner(owner), workload.replicas > 0 else { return [] }
            let capacity = min(UInt64(Self.maximumReplicas), options.podCIDR.size)
            guard UInt64(workload.replicas) <= capacity else {
                diagnostics.append(
                    .error(
                        at: workload.meta.location,
                        "\(workload.kind.rawValue) \"\(owner.namespace)/\(owner.name)\" asks for \(workload.replicas) replicas; at most \(capacity) fit (--pod-cidr \(options.podCIDR), and Kubernetes' limit of \(Self.maximumReplicas) pods)",
                        fix: "set spec.replicas to a realistic number, or pass a larger --pod-cidr"))
                return []
            }
            let weight = weight(of: workload.meta, &diagnostics)
            // Real pod names carry random suffixes; an index keeps ours stable (StatefulSet style).
            return (0..<workload.replicas).map { index in
                PodInstance(
                    key: .init(namespace: owner.namespace, name: "\(owner.name)-\(index)", owner: owner),
                    template: workload.template, explicitAddresses: [], isReady: true, isTerminating: false,
                    weight: weight, location: workload.meta.location)
            }
        }
    }

    private func weight(of meta: ObjectMeta, _ diagnostics: inout [Diagnostic]) -> Int {
        guard let text = meta.annotations[ObjectMeta.weightAnnotation] else { return 1 }
        guard let weight = Int(text), (1...1000).contains(weight) else {
            diagnostics.append(
                .error(
                    at: meta.location, "annotation \(ObjectMeta.weightAnnotation): \"\(text)\" is not a weight",
                    fix: "use a whole number from 1 to 1000"))
            return 1
        }
        return weight
    }

    /// Marks the services whose selectors pick this instance.
    private mutating func affect(_ instance: PodInstance) {
        for id in selectors.candidates(namespace: instance.key.namespace, labels: instance.labels) {
            if let selector = serviceDefinitions.winner(id)?.selector, PodIndex.matches(selector, instance.labels) {
                dirtyServices.insert(id)
            }
        }
    }

    private mutating func claimAddress(_ instance: PodInstance) {
        let moved: Set<PodInstance.Key>
        if instance.explicitAddresses.isEmpty {
            moved = podAddressPool.claim(instance.key, name: "\(instance.key.namespace)/\(instance.key.name)")
        } else {
            moved = instance.explicitAddresses.compactMap(options.podCIDR.slot).reduce(into: []) {
                $0.formUnion(podAddressPool.reserve($1))
            }
        }
        for key in moved where key != instance.key { pods[key].map { affect($0) } }
    }

    private mutating func releaseAddress(_ instance: PodInstance) {
        let moved: Set<PodInstance.Key>
        if instance.explicitAddresses.isEmpty {
            moved = podAddressPool.release(instance.key)
        } else {
            moved = instance.explicitAddresses.compactMap(options.podCIDR.slot).reduce(into: []) {
                $0.formUnion(podAddressPool.unreserve($1))
            }
        }
        for key in moved where key != instance.key { pods[key].map { affect($0) } }
    }

    /// The instance's addresses: the manifest's, or the one allocated to it.
    private func addresses(of instance: PodInstance) -> [IPAddress] {
        guard instance.explicitAddresses.isEmpty else { return instance.explicitAddresses }
        return podAddressPool.slot(of: instance.key).flatMap(options.podCIDR.address(atSlot:)).map { [$0] } ?? []
    }

    // MARK: Services

    /// Assembles the services again, each on its own from the builder's indexes (on every core:
    /// a whole input's first commit assembles every service), then records them.
    private mutating func rebuild(_ ids: Set<ServiceID>) {
        let ids = Array(ids)
        for (id, assembled) in zip(ids, ids.concurrentMap { [self] in assemble($0) }) {
            if undelivered.index(forKey: id) == nil { undelivered.updateValue(services[id], forKey: id) }
            services[id] = assembled.service
            serviceDiagnostics[id] = assembled.diagnostics.isEmpty ? nil : assembled.diagnostics
        }
    }

    /// The service `id` as its winning definition, its endpoints and the allocations make it, with
    /// what is wrong with it; no service when it needs no rules.
    private func assemble(_ id: ServiceID) -> (service: Service?, diagnostics: [Diagnostic]) {
        guard let manifest = serviceDefinitions.winner(id).flatMap(Self.rulesNeeded) else {
            guard let other = serviceDefinitions.winner(id), let proxy = other.meta.labels[ObjectMeta.otherProxyLabel]
            else {
                return (nil, [])
            }
            return (
                nil,
                [
                    .note(
                        at: other.meta.location,
                        "Service \"\(id)\" is labelled \(ObjectMeta.otherProxyLabel)=\(proxy): it belongs to that proxy and gets no rules here",
                        fix: "remove the label for nfcompile to serve it")
                ]
            )
        }
        var assembly = ServiceAssembly(id: id, manifest: manifest)
        let clusterIPs = assembleClusterIPs(&assembly)
        // A dual-stack Service has endpoints in each family of its ClusterIPs (IPv4 and IPv6
        // slices, or each pod's address of the family); the compiler gives each family its own.
        var families: [IPFamily] = []
        for address in clusterIPs where !families.contains(address.family) { families.append(address.family) }
        if families.isEmpty { families = [options.serviceCIDR.family] }
        let selected = selectedInstances(of: manifest)
        let ports = manifest.ports.enumerated().map { index, port in
            ServicePort(
                name: port.name, transport: port.transport, port: port.port,
                nodePort: assembleNodePort(index, port, &assembly),
                endpoints: families.flatMap { family in
                    endpoints(of: id, port: port, family: family, selected: selected, &assembly)
                })
        }
        if let selector = manifest.selector, !selector.isEmpty, !hasExplicitEndpoints(id), selected.isEmpty {
            let text = selector.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            assembly.warn(
                at: manifest.meta.location,
                "Service \"\(id)\": selector \(text) matches no Pod or workload in namespace \"\(id.namespace)\"; it gets no endpoints",
                fix: "check the selector against the pods' labels")
        }
        for (field, addresses) in [
            ("externalIPs", manifest.externalIPs), ("status.loadBalancer.ingress", manifest.loadBalancerIngress),
        ] {
            for address in addresses {
                guard let special = address.value.specialPurpose else { continue }
                assembly.fail(
                    at: address.location, "\(field): \(address.value) of Service \"\(id)\" is \(special)",
                    fix: "use an address that clients outside the node can reach")
            }
        }
        for (key, location) in Self.sharedFrontends(manifest).sorted(by: { $0.value < $1.value }) {
            guard let owner = frontendOwners[key]?.min(), owner != id else { continue }
            assembly.fail(
                at: location,
                "\(key.address) port \(key.port)/\(key.transport.rawValue) of Service \"\(id)\" is already served by Service \"\(owner)\"",
                fix: "give each Service its own external or load-balancer address, or other ports")
        }
        var service = Service(
            id: id, ports: ports, clusterIPs: clusterIPs, externalIPs: manifest.externalIPs.map(\.value),
            loadBalancerIPs: manifest.type == .loadBalancer ? manifest.loadBalancerIngress.map(\.value) : [],
            loadBalancerSourceRanges: manifest.loadBalancerSourceRanges.map(\.value),
            externalTrafficPolicy: Service.TrafficPolicy(manifest.externalTrafficPolicy),
            internalTrafficPolicy: Service.TrafficPolicy(manifest.internalTrafficPolicy),
            sessionAffinityTimeout: manifest.sessionAffinityTimeout)
        if manifest.type == .loadBalancer, manifest.externalTrafficPolicy == .local {
            service.healthCheckNodePort = manifest.healthCheckNodePort?.value
        }
        return (service, assembly.diagnostics)
    }

    private func assembleClusterIPs(_ assembly: inout ServiceAssembly) -> [IPAddress] {
        let id = assembly.id
        guard !assembly.manifest.clusterIPs.isEmpty else {
            guard let address = clusterIPPool.slot(of: id).flatMap(options.serviceCIDR.address(atSlot:)) else {
                assembly.fail(
                    at: assembly.manifest.meta.location,
                    "no free clusterIP left in --service-cidr \(options.serviceCIDR)",
                    fix: "pass a larger --service-cidr")
                return []
            }
            return [address]
        }
        var result: [IPAddress] = []
        for address in assembly.manifest.clusterIPs {
            if let owner = explicitClusterIPOwners[address.value]?.min(), owner != id {
                let location = serviceDefinitions.winner(owner)?.clusterIPs.first { $0.value == address.value }?
                    .location
                assembly.fail(
                    at: address.location,
                    "clusterIP \(address.value) of Service \"\(id)\" is already the clusterIP of Service \"\(owner)\"\(location.map { " (\($0))" } ?? "")",
                    fix: "give each Service its own clusterIP, or remove clusterIP to have one allocated")
                continue
            }
            if let special = address.value.specialPurpose {
                assembly.fail(
                    at: address.location, "clusterIP \(address.value) of Service \"\(id)\" is \(special)",
                    fix: "use an address inside --service-cidr, or remove clusterIP to have one allocated")
            } else if let range = options.serviceCIDRs.first(where: { $0.family == address.value.family }) {
                if !range.contains(address.value) {
                    assembly.fail(
                        at: address.location,
                        "clusterIP \(address.value) of Service \"\(id)\" is outside the service range \(range)",
                        fix: "use an address inside --service-cidr, or pass the cluster's range with --service-cidr")
                }
            } else {
                let family = address.value.family == .ipv4 ? "IPv4" : "IPv6"
                assembly.fail(
                    at: address.location,
                    "clusterIP \(address.value) of Service \"\(id)\" is \(family), and no \(family) service range is given",
                    fix: "pass the cluster's \(family) range with a second --service-cidr")
            }
            result.append(address.value)
        }
        return result
    }

    private func assembleNodePort(_ index: Int, _ port: ServiceManifest.Port, _ assembly: inout ServiceAssembly)
        -> UInt16?
    {
        let id = assembly.id
        guard let nodePort = port.nodePort else {
            guard let claim = nodePortClaims[id]?.first(where: { $0.index == index }) else { return nil }
            guard let slot = nodePortPool.slot(of: claim) else {
                assembly.fail(
                    at: port.location, "no free node port left in \(options.nodePortRange)",
                    fix: "set nodePort explicitly")
                return nil
            }
            return options.nodePortRange.lowerBound + UInt16(slot)
        }
        guard Self.exposesNodePorts(assembly.manifest) else {
            assembly.fail(
                at: nodePort.location,
                "nodePort \(nodePort.value) on Service \"\(id)\" of type \(assembly.manifest.type.rawValue)",
                fix: "remove nodePort, or set spec.type to NodePort or LoadBalancer")
            return nil
        }
        guard options.nodePortRange.contains(nodePort.value) else {
            assembly.fail(
                at: nodePort.location,
                "nodePort \(nodePort.value) of Service \"\(id)\" is outside the node port range \(options.nodePortRange.lowerBound)-\(options.nodePortRange.upperBound)",
                fix: "use a port in --service-node-port-range, or remove nodePort to have one allocated")
            return nil
        }
        // One Service may use one node port for several protocols; two Services may not share it.
        if let owner = explicitNodePortOwners[nodePort.value]?.min(), owner != id {
            let location = serviceDefinitions.winner(owner)?.ports.compactMap(\.nodePort).first {
                $0.value == nodePort.value
            }?
            .location
            assembly.fail(
                at: nodePort.location,
                "nodePort \(nodePort.value) of Service \"\(id)\" is already used by Service \"\(owner)\"\(location.map { " (\($0))" } ?? "")",
                fix: "choose another nodePort, or remove it to have one allocated")
            return nil
        }
        return nodePort.value
    }

    // MARK: Endpoints

    private func hasExplicitEndpoints(_ id: ServiceID) -> Bool {
        slicesByService[id] != nil || endpointsDefinitions.winner(id) != nil
    }

    private func selectedInstances(of manifest: ServiceManifest) -> [PodInstance] {
        let id = ServiceID(namespace: manifest.meta.namespace, name: manifest.meta.name)
        guard !hasExplicitEndpoints(id), let selector = manifest.selector else { return [] }
        return pods.selected(by: selector, in: manifest.meta.namespace)
    }

    /// EndpointSlices (or else a v1 Endpoints object) given in the input are used as they are;
    /// otherwise the pods the selector picks.
    private func endpoints(
        of id: ServiceID, port: ServiceManifest.Port, family: IPFamily, selected: [PodInstance],
        _ assembly: inout ServiceAssembly
    ) -> [Endpoint] {
        if let names = slicesByService[id] {
            var endpoints: [Endpoint] = []
            for name in names.sorted() {
                guard let slice = sliceDefinitions.winner(name),
                    slice.meta.labels[ObjectMeta.otherProxyLabel] == nil,
                    slice.meta.labels[ObjectMeta.headlessLabel] == nil
                else { continue }
                endpoints += assembly.endpoints(from: slice, port: port, family: family)
            }
            // An endpoint may appear in two slices (while one is being updated): it counts once.
            guard endpoints.count > 1 else { return endpoints }
            var seen = Set<EndpointKey>(minimumCapacity: endpoints.count)
            return endpoints.filter { seen.insert(EndpointKey(address: $0.address, port: $0.port)).inserted }
        }
        if let legacy = endpointsDefinitions.winner(id) {
            return assembly.endpoints(from: legacy, port: port, family: family)
        }
        return selected.compactMap { pod in
            guard let address = addresses(of: pod).first(where: { $0.family == family }) else { return nil }
            guard let target = ServiceAssembly.resolve(port.targetPort, transport: port.transport, in: pod.template)
            else {
                // One such pod leaves that pod out, not the whole input (kube-proxy's controller
                // does the same: the pod gets no endpoint for the port).
                assembly.warn(
                    at: port.location,
                    "targetPort \"\(port.targetPort)\" of Service \"\(id)\" is not a \(port.transport.rawValue) port name of pod \"\(pod.key.namespace)/\(pod.key.name)\" (\(pod.location)); the pod is left out of the Service's endpoints",
                    fix: "name a container port \"\(port.targetPort)\" in the pod, or use the port number")
                return nil
            }
            let ready = pod.isReady || assembly.manifest.publishNotReadyAddresses
            return Endpoint(
                address: address, port: target, isReady: ready, isServing: ready, isTerminating: pod.isTerminating,
                nodeName: pod.template.nodeName, weight: pod.weight, targetName: pod.key.name)
        }
    }

    // MARK: Diagnostics

    private mutating func checkIngressBackends() {
        ingressDiagnostics = []
        for (name, definitions) in ingressDefinitions.byKey {
            guard let ingress = definitions.first?.object else { continue }
            for backend in ingress.backendServices
            where serviceDefinitions.winner(ServiceID(namespace: name.namespace, name: backend.value)) == nil {
                ingressDiagnostics.append(
                    .warning(
                        at: backend.location,
                        "Ingress \"\(name.namespace)/\(name.name)\" routes to Service \"\(backend.value)\", which the input does not define",
                        fix: "add the Service's manifest, or fix the backend's name"))
            }
        }
    }

    /// The graph beyond the bounds that keep the agent's memory within its stated bound.
    private func sizeErrors(endpoints: Int) -> [Diagnostic] {
        var errors: [Diagnostic] = []
        if services.count > InputLimits.services {
            errors.append(
                .error(
                    at: nil,
                    "the input has \(services.count) Services; nfcompile serves at most \(InputLimits.services) on one node",
                    fix:
                        "split the cluster, or leave some Services to another proxy (label service.kubernetes.io/service-proxy-name)"
                ))
        }
        if endpoints > InputLimits.endpoints {
            errors.append(
                .error(
                    at: nil,
                    "the Services' ports have \(endpoints) endpoints together; nfcompile serves at most \(InputLimits.endpoints) on one node",
                    fix: "lower the replicas of the largest workloads, or split the cluster"))
        }
        return errors
    }

    private func allDiagnostics() -> [Diagnostic] {
        var all: [Diagnostic] = failedSources.values.flatMap { $0 } + sourceNotes.values.flatMap { $0 }
        all += serviceDefinitions.duplicateErrors { "Service \"\($0)\"" }
        all += podDefinitions.duplicateErrors { "Pod \"\($0.namespace)/\($0.name)\"" }
        all += workloadDefinitions.duplicateErrors { "\($0.workloadKind) \"\($0.namespace)/\($0.name)\"" }
        all += sliceDefinitions.duplicateErrors { "EndpointSlice \"\($0.namespace)/\($0.name)\"" }
        all += endpointsDefinitions.duplicateErrors { "Endpoints \"\($0)\"" }
        all += ingressDefinitions.duplicateErrors { "Ingress \"\($0.namespace)/\($0.name)\"" }
        all += ownerDiagnostics.values.flatMap { $0 } + serviceDiagnostics.values.flatMap { $0 } + ingressDiagnostics
        all += podRangeDiagnostic.map { [$0] } ?? []
        return Array(Set(all)).sortedByLocation()
    }
}

extension Service {
    /// Endpoints of all its ports together.
    var endpointCount: Int { ports.reduce(0) { $0 + $1.endpoints.count } }
}

/// A frontend on a shared address: address, protocol and port.
struct FrontendKey: Hashable {
    var address: IPAddress
    var transport: TransportProtocol
    var port: UInt16
}

/// What makes two endpoints the same one.
struct EndpointKey: Hashable {
    var address: IPAddress
    var port: UInt16
}

/// A node port left to allocation: one port of one Service.
struct NodePortClaim: Hashable, Comparable, Sendable {
    var service: ServiceID
    /// The port's index in the Service: allocation follows the ports' order.
    var index: Int
    /// What the port's home slot is hashed from.
    var name: String

    static func < (a: NodePortClaim, b: NodePortClaim) -> Bool { (a.service, a.index) < (b.service, b.index) }
}

extension Service.TrafficPolicy {
    init(_ policy: ServiceManifest.TrafficPolicy) {
        switch policy {
        case .cluster: self = .cluster
        case .local: self = .local
        }
    }
}

extension ObjectMeta {
    /// Labels and annotations addressed to a service proxy (`service.kubernetes.io/…`,
    /// `endpointslice.kubernetes.io/…`, `nfcompile.io/…`); the others (an app's, a tool's) are
    /// of no use to the graph and would be kept for as long as the agent runs.
    mutating func keepOnlyProxyMetadata() {
        func isForProxies(_ key: String) -> Bool {
            key.hasPrefix("service.kubernetes.io/") || key.hasPrefix("endpointslice.kubernetes.io/")
                || key.hasPrefix("endpoints.kubernetes.io/") || key.hasPrefix("nfcompile.io/")
        }
        if !labels.isEmpty { labels = labels.filter { isForProxies($0.key) } }
        if !annotations.isEmpty { annotations = annotations.filter { isForProxies($0.key) } }
    }
}
