import Addressing
import Ruleset

/// UDP flows that a ruleset change leaves pointing at the wrong place. UDP has no connection
/// end, so conntrack keeps sending a client's datagrams where its first one went: these
/// entries must be deleted when the change is committed (kube-proxy does the same).
public struct StaleFlow: Hashable, Sendable {
    /// The service frontend; nil for a NodePort (any of the node's addresses).
    public var frontend: IPAddress?
    public var port: UInt16
    /// Flows answered by this endpoint; nil for every flow to the frontend (it had no endpoint,
    /// so its entries point nowhere useful).
    public var endpoint: IPAddress?

    public init(frontend: IPAddress?, port: UInt16, endpoint: IPAddress?) {
        self.frontend = frontend
        self.port = port
        self.endpoint = endpoint
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
