import Addressing
import Ruleset
import ServiceGraph

extension ServiceGraph {
    /// Compiles the graph into our tables, one per address family in use (always IPv4).
    ///
    /// Pure, deterministic and total: every graph compiles, equal graphs give equal rulesets.
    /// The kernel objects are a fixed skeleton of chains and maps plus one load-balancing chain per
    /// bucket count in use; services only add map elements (DESIGN.md, "Ruleset shape").
    public func compile(options: CompilerOptions = CompilerOptions()) -> Ruleset {
        let families = Set(services.flatMap { $0.frontendAddresses.map(\.family) }).union([.ipv4])
        return Ruleset(
            tables: IPFamily.allCases.filter(families.contains).map { family in
                var builder = TableBuilder(family: family, options: options)
                for service in services { builder.add(service) }
                return builder.table()
            })
    }
}

extension Service {
    var frontendAddresses: [IPAddress] { clusterIPs + externalIPs + loadBalancerIPs }
}

/// What one service contributes to one family's table: elements of the shared maps, and the
/// load-balancing chains its frontends go to. The unit of incremental compilation.
struct Fragment: Equatable {
    /// Elements by set name, in the order the service produces them.
    var elements: [String: [SetElement]] = [:]
    var balancers: Set<BalancerChain> = []

    init(of service: Service, family: IPFamily, options: CompilerOptions) {
        for port in service.ports {
            let label = "\(service.id):\(port.name ?? String(port.port))"
            let proto = Value.transportProtocol(port.transport.ipProtocolNumber)
            let available = Self.usableEndpoints(port.endpoints).filter { $0.address.family == family }
            let local = available.filter { Self.isLocal($0, node: options.nodeName) }

            for address in service.clusterIPs where address.family == family {
                let chosen = service.internalTrafficPolicy == .local ? local : available
                addFrontend(
                    [.address(address), proto, .port(port.port)], endpoints: chosen, anyEndpoints: !available.isEmpty,
                    kind: .service, label: label)
            }
            for address in service.externalIPs + service.loadBalancerIPs where address.family == family {
                let isLocalPolicy = service.externalTrafficPolicy == .local
                addFrontend(
                    [.address(address), proto, .port(port.port)], endpoints: isLocalPolicy ? local : available,
                    anyEndpoints: !available.isEmpty, kind: isLocalPolicy ? .localService : .service, label: label)
            }
            if let nodePort = port.nodePort {
                let isLocalPolicy = service.externalTrafficPolicy == .local
                addFrontend(
                    [proto, .port(nodePort)], endpoints: isLocalPolicy ? local : available,
                    anyEndpoints: !available.isEmpty, kind: isLocalPolicy ? .localNodePort : .nodePort,
                    label: "\(label) nodePort")
            }
            for endpoint in available {
                add(Names.hairpin, SetElement(key: [.address(endpoint.address), .address(endpoint.address)]))
            }
        }
    }

    /// Ready endpoints; when there are none, the serving terminating ones (kube-proxy's fallback,
    /// so that connections drain to pods still able to answer instead of failing).
    static func usableEndpoints(_ endpoints: [Endpoint]) -> [Endpoint] {
        let ready = endpoints.filter(\.isReady)
        return ready.isEmpty ? endpoints.filter { $0.isServing && $0.isTerminating } : ready
    }

    private static func isLocal(_ endpoint: Endpoint, node: String?) -> Bool {
        guard let node, let endpointNode = endpoint.nodeName else { return true }
        return node == endpointNode
    }

    private mutating func add(_ set: String, _ element: SetElement) {
        elements[set, default: []].append(element)
    }

    /// One frontend: its verdict-map element and its buckets. `key` is the frontend's key in the
    /// verdict map; the bucket keys extend it with the bucket number.
    private mutating func addFrontend(
        _ key: [Value], endpoints chosen: [Endpoint], anyEndpoints: Bool, kind: BalancerChain.Kind, label: String
    ) {
        let isNodePort = kind.isNodePort
        let verdicts = isNodePort ? Names.serviceNodePorts : Names.serviceIPs
        guard !chosen.isEmpty else {
            if anyEndpoints {
                // Traffic policy Local with no endpoint on this node: drop, as kube-proxy does,
                // so the load balancer's health check moves traffic to another node.
                add(verdicts, SetElement(key: key, data: .verdict(.drop), comment: label))
            } else {
                add(
                    isNodePort ? Names.noEndpointNodePorts : Names.noEndpointServices,
                    SetElement(key: key, data: .verdict(.goto(Names.rejectService)), comment: label))
            }
            return
        }
        let balancer = BalancerChain(kind: kind, buckets: chosen.reduce(0) { $0 + $1.weight })
        var bucket: UInt32 = 0
        for endpoint in chosen {
            for _ in 0..<endpoint.weight {
                add(
                    balancer.map,
                    SetElement(
                        key: key + [.integer(bucket)], data: .values([.address(endpoint.address), .port(endpoint.port)]),
                        comment: "\(label) -> \(endpoint.targetName ?? endpoint.address.description)"))
                bucket += 1
            }
        }
        balancers.insert(balancer)
        add(verdicts, SetElement(key: key, data: .verdict(.goto(balancer.name)), comment: label))
    }
}

/// Collects the fragments of one family's table, then lays out the skeleton around them.
struct TableBuilder {
    let family: IPFamily
    let options: CompilerOptions

    private var sets: [String: ElementList] = [:]
    private var balancers: Set<BalancerChain> = []

    init(family: IPFamily, options: CompilerOptions) {
        self.family = family
        self.options = options
    }

    mutating func add(_ service: Service) {
        add(Fragment(of: service, family: family, options: options))
    }

    /// Fragments must come in service order: the first claim of a key wins.
    mutating func add(_ fragment: Fragment) {
        for (set, elements) in fragment.elements {
            for element in elements { sets[set, default: ElementList()].add(element) }
        }
        balancers.formUnion(fragment.balancers)
    }

    func elements(_ set: String) -> [SetElement] { sets[set]?.elements ?? [] }

    // MARK: Table

    func table() -> Table {
        let address = Field.destinationAddress(family)
        let frontend: [Field] = [address, .transportProtocol, .destinationPort]
        let nodePortKey: [Field] = [.transportProtocol, .destinationPort]
        let addressPort = NamedSet.Data.fields([address, .destinationPort])

        var sets = [
            NamedSet(name: Names.serviceIPs, key: frontend, data: .verdict, elements: elements(Names.serviceIPs)),
            NamedSet(name: Names.serviceNodePorts, key: nodePortKey, data: .verdict, elements: elements(Names.serviceNodePorts)),
            NamedSet(
                name: Names.noEndpointServices, key: frontend, data: .verdict, elements: elements(Names.noEndpointServices)),
            NamedSet(
                name: Names.noEndpointNodePorts, key: nodePortKey, data: .verdict,
                elements: elements(Names.noEndpointNodePorts)),
            NamedSet(name: Names.hairpin, key: [.sourceAddress(family), .destinationAddress(family)],
                elements: elements(Names.hairpin)),
        ]
        // One bucket map per load-balancing chain's bucket count in use.
        for map in Set(balancers.map(\.map)).sorted(by: Self.mapOrder) {
            let isNodePort = map.hasPrefix(Names.nodePortEndpointsPrefix)
            sets.append(
                NamedSet(
                    name: map, key: (isNodePort ? nodePortKey : frontend) + [.randomBucket(modulus: 1)],
                    data: addressPort, elements: elements(map)))
        }
        let nodeIPs = options.nodeIPs.filter { $0.family == family }
        if !nodeIPs.isEmpty {
            sets.append(
                NamedSet(
                    name: Names.nodePortIPs, key: [address],
                    elements: nodeIPs.sorted().map { SetElement(key: [.address($0)]) }))
        }

        return Table(
            family: TableFamily(family), name: options.tableName, sets: sets,
            chains: baseChains() + [
                Chain(
                    name: Names.services,
                    rules: [
                        Rule([.verdictMap(frontend, map: Names.serviceIPs)]),
                        Rule(nodePortMatch(nodeIPs) + [.verdictMap(nodePortKey, map: Names.serviceNodePorts)]),
                    ]),
                Chain(
                    name: Names.endpointsCheck,
                    rules: [
                        Rule([.verdictMap(frontend, map: Names.noEndpointServices)]),
                        Rule(nodePortMatch(nodeIPs) + [.verdictMap(nodePortKey, map: Names.noEndpointNodePorts)]),
                    ]),
                Chain(
                    name: Names.rejectService,
                    rules: [
                        Rule([.match(.transportProtocol, .equal, .tcp), .reject(.tcpReset)]),
                        Rule([.reject(.portUnreachable)]),
                    ]),
                masqueradingChain(),
            ] + balancers.sorted().map(balancerChain))
    }

    /// Service bucket maps before NodePort ones, each by bucket count.
    static func mapOrder(_ a: String, _ b: String) -> Bool {
        func rank(_ name: String) -> (Int, Int) {
            let isNodePort = name.hasPrefix(Names.nodePortEndpointsPrefix)
            return (isNodePort ? 1 : 0, Int(name.split(separator: "-").last ?? "") ?? 0)
        }
        return rank(a) < rank(b)
    }

    /// The bucket map a load-balancing chain uses, declared like the full compile declares it.
    func bucketMap(_ balancer: BalancerChain) -> NamedSet {
        let address = Field.destinationAddress(family)
        let key: [Field] = balancer.kind.isNodePort ? [.transportProtocol, .destinationPort] : [address, .transportProtocol, .destinationPort]
        return NamedSet(name: balancer.map, key: key + [.randomBucket(modulus: 1)], data: .fields([address, .destinationPort]))
    }

    private func baseChains() -> [Chain] {
        let checkNew = [Rule([.connectionState([.new]), .verdict(.jump(Names.endpointsCheck))])]
        return [
            Chain(
                name: Names.natPrerouting, hook: .init(type: .nat, point: .prerouting, priority: -100),
                rules: [Rule([.verdict(.jump(Names.services))])]),
            Chain(
                name: Names.natOutput, hook: .init(type: .nat, point: .output, priority: -100),
                rules: [Rule([.verdict(.jump(Names.services))])]),
            Chain(
                name: Names.natPostrouting, hook: .init(type: .nat, point: .postrouting, priority: 100),
                rules: [Rule([.verdict(.jump(Names.masquerading))])]),
            // Before NAT (-100): packets to a service without endpoints are refused here.
            Chain(name: Names.filterInput, hook: .init(type: .filter, point: .input, priority: -110), rules: checkNew),
            Chain(
                name: Names.filterForward, hook: .init(type: .filter, point: .forward, priority: -110),
                rules: checkNew),
            Chain(
                name: Names.filterOutput, hook: .init(type: .filter, point: .output, priority: -110), rules: checkNew),
        ]
    }

    /// NodePorts answer on the node's own addresses: the ones given, or any local one but loopback.
    private func nodePortMatch(_ nodeIPs: [IPAddress]) -> [Statement] {
        if !nodeIPs.isEmpty { return [.lookup([.destinationAddress(family)], set: Names.nodePortIPs)] }
        // IPv6 has one loopback address, IPv4 a whole /8 (a full-length prefix is an address).
        let loopback: Value = family == .ipv4 ? .network(IPNetwork("127.0.0.0/8")!) : .address(IPAddress("::1")!)
        return [.destinationIsLocal, .match(.destinationAddress(family), .notEqual, loopback)]
    }

    private func masqueradingChain() -> Chain {
        let bit = options.masqueradeBit
        return Chain(
            name: Names.masquerading,
            rules: [
                // Hairpin: a pod reaching itself through its service must see another source.
                Rule([
                    .connectionDestinationTranslated,
                    .lookup([.sourceAddress(family), .destinationAddress(family)], set: Names.hairpin),
                    .masquerade(fullyRandom: true),
                ]),
                Rule([.matchMasked(.mark, mask: bit, .equal, 0), .verdict(.return)]),
                // Clear our bit so that the mark is as other tables expect it.
                Rule([.toggleMarkBits(bit)]),
                Rule([.masquerade(fullyRandom: true)]),
            ])
    }

    func balancerChain(_ balancer: BalancerChain) -> Chain {
        let bucket = Field.randomBucket(modulus: UInt32(balancer.buckets))
        let markAlways = Rule([.setMarkBits(options.masqueradeBit)])
        var rules: [Rule] = []
        switch balancer.kind {
        case .service:
            if let cluster = options.clusterCIDRs.first(where: { $0.family == family }) {
                rules.append(
                    Rule([
                        .match(.sourceAddress(family), .notEqual, .network(cluster)),
                        .setMarkBits(options.masqueradeBit),
                    ]))
            }
        case .nodePort: rules.append(markAlways)
        case .localService, .localNodePort: break
        }
        let key: [Field] =
            balancer.kind.isNodePort
            ? [.transportProtocol, .destinationPort, bucket]
            : [.destinationAddress(family), .transportProtocol, .destinationPort, bucket]
        rules.append(Rule([.destinationNATMap(family, key, map: balancer.map)]))
        return Chain(name: balancer.name, rules: rules)
    }
}

/// Elements without duplicate keys: the first claim of a key wins (services come in sorted
/// order), so the compiler stays total even if two services claim one external address and port.
struct ElementList {
    private var added: [SetElement] = []

    mutating func add(_ element: SetElement) { added.append(element) }

    /// Sorted by key, as the kernel's listing is read most easily and as `show` prints it; the
    /// sort is stable, so of equal keys the first added comes first and is the one kept.
    var elements: [SetElement] {
        var result: [SetElement] = []
        result.reserveCapacity(added.count)
        for element in added.sortedByKey() where result.last?.key != element.key {
            result.append(element)
        }
        return result
    }
}
