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

extension Ruleset {
    /// The UDP flows that going from `old` to `self` makes stale: those answered by an endpoint
    /// that is gone, and every flow to a frontend that gets its first endpoint.
    public func staleUDPFlows(since old: Ruleset) -> [StaleFlow] {
        let before = old.udpBackends
        let after = udpBackends
        var flows: Set<StaleFlow> = []
        for (frontend, endpoints) in before {
            for endpoint in endpoints.subtracting(after[frontend] ?? []) {
                flows.insert(StaleFlow(frontend: frontend.address, port: frontend.port, endpoint: endpoint))
            }
        }
        for frontend in after.keys where before[frontend] == nil {
            flows.insert(StaleFlow(frontend: frontend.address, port: frontend.port, endpoint: nil))
        }
        return flows.sorted { ($0.port, $0.frontend?.description ?? "", $0.endpoint?.description ?? "") < ($1.port, $1.frontend?.description ?? "", $1.endpoint?.description ?? "") }
    }

    private struct Frontend: Hashable {
        var address: IPAddress?
        var port: UInt16
    }

    /// UDP frontends with the addresses of their endpoints, from the load-balancing maps.
    private var udpBackends: [Frontend: Set<IPAddress>] {
        var result: [Frontend: Set<IPAddress>] = [:]
        for table in tables {
            for set in table.sets where set.name == Names.endpoints || set.name == Names.nodePortEndpoints {
                for element in set.elements {
                    // Keys: address . protocol . port . bucket (services), protocol . port . bucket (NodePorts).
                    let key: [Value?] =
                        set.name == Names.endpoints ? element.key.map { $0 } : [nil] + element.key.map { $0 }
                    guard key.count == 4, key[1] == .udp, case .port(let port)? = key[2],
                        case .values(let data)? = element.data, case .address(let endpoint)? = data.first
                    else { continue }
                    var address: IPAddress?
                    if case .address(let frontend)? = key[0] { address = frontend }
                    result[Frontend(address: address, port: port), default: []].insert(endpoint)
                }
            }
        }
        return result
    }
}
