import Addressing
import Ruleset
import ServiceGraph

/// UDP flows that a ruleset change leaves pointing at the wrong place. UDP has no connection
/// end, so conntrack keeps sending a client's datagrams where its first one went: these
/// entries must be deleted when the change is committed (kube-proxy does the same).
public struct StaleFlow: Hashable, Sendable {
    /// The service frontend; nil for a NodePort (any of the node's addresses).
    public var frontend: IPAddress?
    public var port: UInt16
    /// Flows answered by this endpoint; nil for every flow to the frontend (it had no endpoint,
    /// so its entries point nowhere useful), but those answered by `keeping`.
    public var endpoint: IPAddress?
    /// With no `endpoint`: the addresses whose flows stay (the frontend's serving endpoints).
    public var keeping: Set<IPAddress>

    public init(frontend: IPAddress?, port: UInt16, endpoint: IPAddress?, keeping: Set<IPAddress> = []) {
        self.frontend = frontend
        self.port = port
        self.endpoint = endpoint
        self.keeping = keeping
    }
}

extension Service {
    /// kube-proxy's `CleanStaleEntries` for this Service: a flow to one of its UDP frontends
    /// (ClusterIP, external and load-balancer IPs, NodePort) may be answered only by a serving
    /// endpoint of that port, ready or terminating; the others are stale. For the scan at start-up,
    /// when what an earlier run left in conntrack is unknown.
    public func udpFlowGuards() -> [StaleFlow] {
        ports.filter { $0.transport == .udp }.flatMap { port -> [StaleFlow] in
            let serving = Set(port.endpoints.filter(\.isServing).map(\.address))
            let addresses = frontendAddresses.map { frontend in
                StaleFlow(
                    frontend: frontend, port: port.port, endpoint: nil,
                    keeping: serving.filter { $0.family == frontend.family })
            }
            let nodePort = port.nodePort.map { [StaleFlow(frontend: nil, port: $0, endpoint: nil, keeping: serving)] }
            return addresses + (nodePort ?? [])
        }
    }
}

extension [StaleFlow] {
    /// Without the flows answered by endpoints that still serve their frontend in `services`
    /// (kube-proxy keeps the flows of serving terminating endpoints: the pod still answers). A
    /// flow whose frontend none of `services` has stays in.
    public func keepingServing(in services: [Service]) -> [StaleFlow] {
        guard contains(where: { $0.endpoint != nil }), !services.isEmpty else { return self }
        var serving: [UDPFrontend: Set<IPAddress>] = [:]
        for service in services {
            for port in service.ports where port.transport == .udp {
                let addresses = Set(port.endpoints.filter(\.isServing).map(\.address))
                for frontend in service.frontendAddresses {
                    serving[UDPFrontend(address: frontend, port: port.port), default: []].formUnion(addresses)
                }
                if let nodePort = port.nodePort {
                    serving[UDPFrontend(address: nil, port: nodePort), default: []].formUnion(addresses)
                }
            }
        }
        return filter { flow in
            guard let endpoint = flow.endpoint else { return true }
            return serving[UDPFrontend(address: flow.frontend, port: flow.port)]?.contains(endpoint) != true
        }
    }
}

extension Transaction {
    /// The UDP flows this transaction makes stale: those answered by an endpoint that no longer
    /// backs its frontend, and every flow to a frontend that gets its first endpoints. Read
    /// from the transaction's element changes alone, so it costs what the change costs.
    public func staleUDPFlows() -> [StaleFlow] {
        var removed: Set<StaleFlow> = []
        var added: Set<StaleFlow> = []
        var frontendsGone: Set<StaleFlow> = []
        var frontendsCome: Set<StaleFlow> = []
        for operation in operations {
            switch operation {
            case .deleteElements(_, let set, let elements):
                Self.collect(elements, in: set, backends: &removed, frontends: &frontendsGone)
            case .addElements(_, let set, let elements):
                Self.collect(elements, in: set, backends: &added, frontends: &frontendsCome)
            default: break
            }
        }
        // A frontend that enters a gate set (and did not merely go out and in again) had no
        // endpoint before: its flows point nowhere useful.
        return removed.subtracting(added).union(frontendsCome.subtracting(frontendsGone)).sorted {
            ($0.port, $0.frontend?.description ?? "", $0.endpoint?.description ?? "")
                < ($1.port, $1.frontend?.description ?? "", $1.endpoint?.description ?? "")
        }
    }

    /// The UDP frontends of a gate set's elements, or the UDP backends of a bucket map's; the set
    /// is recognised once per operation, and TCP elements cost one comparison.
    private static func collect(
        _ elements: [SetElement], in set: String, backends: inout Set<StaleFlow>, frontends: inout Set<StaleFlow>
    ) {
        if let kind = FrontendKind.entries.first(where: { $0.gate == set }) {
            for element in elements {
                if let flow = udpFrontend(element.key, hasAddress: kind.hasAddress, endpoint: nil) {
                    frontends.insert(flow)
                }
            }
        } else if let kind = FrontendKind.bucketMapKind(set) {
            for element in elements {
                guard case .values(let data)? = element.data, case .address(let endpoint)? = data.first,
                    let flow = udpFrontend(element.key, hasAddress: kind.hasAddress, endpoint: endpoint)
                else { continue }
                backends.insert(flow)
            }
        }
    }

    /// Reads a frontend key, `address . protocol . port` (services) or `protocol . port`
    /// (NodePorts, any local address), ignoring a bucket number after it; nil unless it is UDP.
    private static func udpFrontend(_ key: [Value], hasAddress: Bool, endpoint: IPAddress?) -> StaleFlow? {
        let offset = hasAddress ? 1 : 0
        guard key.count > offset + 1, key[offset] == .udp, case .port(let port) = key[offset + 1] else { return nil }
        var frontend: IPAddress?
        if hasAddress, case .address(let address) = key[0] { frontend = address }
        return StaleFlow(frontend: frontend, port: port, endpoint: endpoint)
    }
}

/// A UDP frontend: an address and port, or a NodePort (no address).
private struct UDPFrontend: Hashable {
    var address: IPAddress?
    var port: UInt16
}
