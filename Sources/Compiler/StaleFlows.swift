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
                removed.formUnion(elements.compactMap { Self.backend($0, in: set) })
                frontendsGone.formUnion(elements.compactMap { Self.balancedFrontend($0, in: set) })
            case .addElements(_, let set, let elements):
                added.formUnion(elements.compactMap { Self.backend($0, in: set) })
                frontendsCome.formUnion(elements.compactMap { Self.balancedFrontend($0, in: set) })
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

    /// A UDP frontend's element in a gate set: the frontend is balanced to endpoints.
    private static func balancedFrontend(_ element: SetElement, in set: String) -> StaleFlow? {
        guard let kind = FrontendKind.allCases.first(where: { $0.gate == set }) else { return nil }
        return udpFrontend(element.key, hasAddress: kind == .address, endpoint: nil)
    }

    /// A UDP bucket of the bucket maps as (frontend, port, endpoint).
    private static func backend(_ element: SetElement, in set: String) -> StaleFlow? {
        guard let kind = FrontendKind.bucketMapKind(set), case .values(let data)? = element.data,
            case .address(let endpoint)? = data.first
        else { return nil }
        return udpFrontend(element.key.dropLast(), hasAddress: kind == .address, endpoint: endpoint)  // without the bucket
    }

    /// Reads a frontend key, `address . protocol . port` (services) or `protocol . port`
    /// (NodePorts, any local address); nil unless it is UDP.
    private static func udpFrontend(_ key: some Collection<Value>, hasAddress: Bool, endpoint: IPAddress?) -> StaleFlow? {
        let values = Array(key)
        let fields = hasAddress ? values : [Value.integer(0)] + values  // a placeholder for "any address"
        guard fields.count == 3, fields[1] == .udp, case .port(let port) = fields[2] else { return nil }
        var frontend: IPAddress?
        if hasAddress, case .address(let address) = fields[0] { frontend = address }
        return StaleFlow(frontend: frontend, port: port, endpoint: endpoint)
    }
}
