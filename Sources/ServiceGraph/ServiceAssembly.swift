import Addressing
import Manifests

/// One Service being assembled from the graph builder's indexes, with what was found wrong.
struct ServiceAssembly {
    let id: ServiceID
    let manifest: ServiceManifest
    private(set) var diagnostics: [Diagnostic] = []

    init(id: ServiceID, manifest: ServiceManifest) {
        self.id = id
        self.manifest = manifest
    }

    mutating func fail(at location: SourceLocation?, _ message: String, fix: String) {
        diagnostics.append(.error(at: location, message, fix: fix))
    }

    mutating func warn(at location: SourceLocation?, _ message: String, fix: String) {
        diagnostics.append(.warning(at: location, message, fix: fix))
    }

    /// The container port a target names: a number as it is, a name through the pod's ports.
    static func resolve(_ target: PortReference, transport: TransportProtocol, in template: PodTemplate) -> UInt16? {
        switch target {
        case .number(let number): number
        case .name(let name): template.ports.first { $0.name == name && $0.transport == transport }?.number
        }
    }

    /// An endpoint address Kubernetes' validation refuses: not a pod's address.
    private mutating func checkEndpoint(_ address: Located<IPAddress>) {
        guard let special = address.value.specialPurpose else { return }
        fail(
            at: address.location, "endpoint \(address.value) of Service \"\(id)\" is \(special)",
            fix: "list the pods' addresses on the pod network")
    }

    /// The endpoints of one Service port in one EndpointSlice (matched by port name and protocol).
    mutating func endpoints(from slice: EndpointSliceManifest, port: ServiceManifest.Port, family: IPFamily)
        -> [Endpoint]
    {
        for endpoint in slice.endpoints {
            if let address = endpoint.address { checkEndpoint(address) }
            for address in endpoint.otherAddresses { checkEndpoint(address) }
        }
        guard
            let slicePort = slice.ports.first(where: {
                ($0.name ?? "") == (port.name ?? "") && $0.transport == port.transport
            }), let number = slicePort.port
        else { return [] }
        // As the API defines them: only an endpoint's first address is used; missing `ready` and
        // `serving` mean true, a missing `terminating` false.
        return slice.endpoints.compactMap { endpoint in
            guard let address = endpoint.address, address.value.family == family else { return nil }
            return Endpoint(
                address: address.value, port: number, isReady: endpoint.ready ?? true,
                isServing: endpoint.serving ?? true,
                isTerminating: endpoint.terminating ?? false, nodeName: endpoint.nodeName, zone: endpoint.zone,
                zoneHints: endpoint.zoneHints ?? [], nodeHints: endpoint.nodeHints ?? [],
                targetName: endpoint.targetName)
        }
    }

    /// The endpoints of one Service port in a v1 Endpoints object.
    mutating func endpoints(from legacy: EndpointsManifest, port: ServiceManifest.Port, family: IPFamily) -> [Endpoint]
    {
        for subset in legacy.subsets {
            for address in subset.addresses + subset.notReadyAddresses { checkEndpoint(address.ip) }
        }
        return legacy.subsets.flatMap { subset -> [Endpoint] in
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
}
