import Addressing
import Ruleset
import ServiceGraph

extension ServiceGraph {
    /// Compiles the graph into our tables, one per address family in use (always IPv4).
    ///
    /// Pure, deterministic and total: every graph compiles, equal graphs give equal rulesets.
    /// The kernel objects are a fixed skeleton of chains and sets plus, per bucket count in use, a
    /// bucket map, a leaf chain and a few dispatch rules; services only add elements of plain sets
    /// and data maps, never a rule or a verdict (README, "The ruleset").
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

/// What one service contributes to one family's table: elements of the shared sets and maps, and
/// the bucket counts its frontends use. The unit of incremental compilation.
struct Fragment: Equatable {
    /// Elements by set name, in the order the service produces them.
    var elements: [String: [SetElement]] = [:]
    var bucketCounts: Set<BucketCount> = []

    init(of service: Service, family: IPFamily, options: CompilerOptions) {
        for port in service.ports {
            let label = "\(service.id):\(port.name ?? String(port.port))"
            let proto = Value.transportProtocol(port.transport.ipProtocolNumber)
            let available = Self.usableEndpoints(port.endpoints).filter { $0.address.family == family }
            let local = available.filter { Self.isLocal($0, node: options.nodeName) }
            let externalLocal = service.externalTrafficPolicy == .local
            let external: ClientAddress = externalLocal ? .kept : .masqueraded

            for address in service.clusterIPs where address.family == family {
                addFrontend(
                    .address, [.address(address), proto, .port(port.port)],
                    endpoints: service.internalTrafficPolicy == .local ? local : available,
                    anyEndpoints: !available.isEmpty, source: .masqueradedUnlessLocal, label: label)
            }
            for address in service.externalIPs + service.loadBalancerIPs where address.family == family {
                addFrontend(
                    .address, [.address(address), proto, .port(port.port)],
                    endpoints: externalLocal ? local : available,
                    anyEndpoints: !available.isEmpty, source: external, label: label)
            }
            if let nodePort = port.nodePort {
                addFrontend(
                    .nodePort, [proto, .port(nodePort)], endpoints: externalLocal ? local : available,
                    anyEndpoints: !available.isEmpty, source: external, label: "\(label) nodePort")
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

    /// One frontend: membership of its kind's gate, of the bit sets of its bucket count and of
    /// the set that says what happens to its client's address; and its buckets. `key` is the
    /// frontend's key; the bucket keys extend it with the bucket number.
    private mutating func addFrontend(
        _ kind: FrontendKind, _ key: [Value], endpoints chosen: [Endpoint], anyEndpoints: Bool,
        source: ClientAddress, label: String
    ) {
        guard !chosen.isEmpty else {
            // No endpoint at all: refused. Endpoints, but none on this node (a Local policy): dropped.
            add(anyEndpoints ? kind.noLocalEndpoints : kind.noEndpoints, SetElement(key: key, comment: label))
            return
        }
        let count = BucketCount(kind: kind, buckets: chosen.reduce(0) { $0 + $1.weight })
        var bucket: UInt32 = 0
        for endpoint in chosen {
            for _ in 0..<endpoint.weight {
                add(
                    count.map,
                    SetElement(
                        key: key + [.integer(bucket)],
                        data: .values([.address(endpoint.address), .port(endpoint.port)]),
                        comment: "\(label) -> \(endpoint.targetName ?? endpoint.address.description)"))
                bucket += 1
            }
        }
        bucketCounts.insert(count)
        add(kind.gate, SetElement(key: key, comment: label))
        for bit in count.bits { add(kind.bitSet(bit), SetElement(key: key)) }
        if let set = kind.sourceSet(source) { add(set, SetElement(key: key, comment: label)) }
    }
}

/// Collects the fragments of one family's table, then lays out the skeleton around them.
struct TableBuilder {
    let family: IPFamily
    let options: CompilerOptions

    private var sets: [String: ElementList] = [:]
    private var bucketCounts: Set<BucketCount> = []

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
        bucketCounts.formUnion(fragment.bucketCounts)
    }

    func elements(_ set: String) -> [SetElement] { sets[set]?.elements ?? [] }

    // MARK: Table

    func table() -> Table {
        var sets: [NamedSet] = FrontendKind.allCases.flatMap { kind in
            [kind.gate, kind.noEndpoints, kind.noLocalEndpoints, kind.keepsSource].map {
                NamedSet(name: $0, key: key(kind), elements: elements($0))
            }
        }
        sets.append(
            NamedSet(
                name: Names.clusterExternalIPs, key: key(.address), elements: elements(Names.clusterExternalIPs)))
        sets.append(
            NamedSet(
                name: Names.hairpin, key: [.sourceAddress(family), .destinationAddress(family)],
                elements: elements(Names.hairpin)))
        let nodeIPs = options.nodeIPs.filter { $0.family == family }
        if !nodeIPs.isEmpty {
            sets.append(
                NamedSet(
                    name: Names.nodePortIPs, key: [.destinationAddress(family)],
                    elements: nodeIPs.sorted().map { SetElement(key: [.address($0)]) }))
        }
        var dispatch: [Chain] = []
        for kind in FrontendKind.allCases {
            let counts = bucketCounts.filter { $0.kind == kind }.sorted()
            sets += bitSets(counts).map { NamedSet(name: $0.name, key: $0.key, elements: elements($0.name)) }
            sets += counts.map { count in
                var map = bucketMap(count)
                map.elements = elements(count.map)
                return map
            }
            dispatch += dispatchChains(kind, counts: counts.map(\.buckets))
        }

        return Table(
            family: TableFamily(family), name: options.tableName, sets: sets,
            chains: baseChains() + [
                Chain(
                    name: Names.services,
                    rules: FrontendKind.allCases.flatMap { kind in
                        gated(kind, set: kind.gate, [.verdict(.goto(kind.dispatchChain))])
                    }),
                Chain(
                    name: Names.endpointsCheck,
                    rules: FrontendKind.allCases.flatMap {
                        gated($0, set: $0.noEndpoints, [.verdict(.goto(Names.rejectService))])
                    }
                        + FrontendKind.allCases.flatMap { gated($0, set: $0.noLocalEndpoints, [.verdict(.drop)]) }),
                Chain(
                    name: Names.rejectService,
                    rules: [
                        Rule([.match(.transportProtocol, .equal, .tcp), .reject(.tcpReset)]),
                        Rule([.reject(.portUnreachable)]),
                    ]),
                masqueradingChain(),
            ] + dispatch)
    }

    /// A frontend key: `address . protocol . port`, or `protocol . port` for a NodePort.
    func key(_ kind: FrontendKind) -> [Field] {
        kind == .address
            ? [.destinationAddress(family), .transportProtocol, .destinationPort]
            : [.transportProtocol, .destinationPort]
    }

    /// The bit sets the dispatch of these bucket counts tests: one per bit that a count has.
    func bitSets(_ counts: [BucketCount]) -> [NamedSet] {
        guard let kind = counts.first?.kind else { return [] }
        return Set(counts.flatMap(\.bits)).sorted().map { NamedSet(name: kind.bitSet($0), key: key(kind)) }
    }

    /// The bucket map of one bucket count, without elements.
    func bucketMap(_ count: BucketCount) -> NamedSet {
        NamedSet(
            name: count.map, key: key(count.kind) + [.randomBucket(modulus: 1)],
            data: .fields([.destinationAddress(family), .destinationPort]))
    }

    /// The chains that take a frontend of `kind` to the DNAT of its bucket count: the root, which
    /// marks for masquerading and walks a binary decision tree over the bits that tell the counts
    /// in use apart, its inner nodes, and one leaf per count.
    func dispatchChains(_ kind: FrontendKind, counts: [Int]) -> [Chain] {
        let tree = DispatchTree(counts: counts)
        let key = key(kind)
        func rules(_ node: DispatchTree.Node) -> [Rule] {
            node.tests.map { test in
                let target =
                    test.counts.count == 1
                    ? kind.balancerChain(buckets: test.counts[0]) : kind.dispatchChain(low: test.low, high: test.high)
                return Rule([.lookup(key, set: kind.bitSet(test.bit)), .verdict(.goto(target))])
            } + [Rule([.verdict(.goto(kind.balancerChain(buckets: node.fallback)))])]
        }
        let root = Chain(name: kind.dispatchChain, rules: masqueradeMarking(kind) + (tree.root.map(rules) ?? []))
        let inner = tree.innerNodes.map {
            Chain(name: kind.dispatchChain(low: $0.low, high: $0.high), rules: rules($0))
        }
        let leaves = counts.map { buckets in
            let bucket = Field.randomBucket(modulus: UInt32(buckets))
            return Chain(
                name: kind.balancerChain(buckets: buckets),
                rules: [Rule([.destinationNATMap(family, key + [bucket], map: kind.bucketMap(buckets: buckets))])])
        }
        return [root] + inner + leaves
    }

    /// ClusterIPs: traffic not from the cluster's pods (all of it with `masqueradeAll`), so that
    /// replies come back through this node; external and load-balancer IPs of policy Cluster,
    /// and NodePorts: all of it, as kube-proxy does. Never for the frontends that keep the
    /// client's address (policy Local).
    private func masqueradeMarking(_ kind: FrontendKind) -> [Rule] {
        let mark: [Statement] = [.notInSet(key(kind), set: kind.keepsSource), .setMarkBits(options.masqueradeBit)]
        switch kind {
        case .address:
            if options.masqueradeAll { return [Rule(mark)] }
            let external = Rule([
                .lookup(key(kind), set: Names.clusterExternalIPs), .setMarkBits(options.masqueradeBit),
            ])
            guard let notLocal = options.localTraffic.match(local: false, family: family) else { return [external] }
            return [external, Rule(notLocal + mark)]
        case .nodePort:
            return [Rule(mark)]
        }
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

    /// The rules that apply `statements` to the frontends in `set`: one, or for NodePorts one per
    /// network of `nodePortNetworks`. NodePorts answer on the node's own addresses, checked after
    /// the set lookup so that other traffic costs no route lookup.
    private func gated(_ kind: FrontendKind, set: String, _ statements: [Statement]) -> [Rule] {
        let lookup = Statement.lookup(key(kind), set: set)
        guard kind == .nodePort else { return [Rule([lookup] + statements)] }
        return nodePortMatches().map { Rule([lookup] + $0 + statements) }
    }

    /// NodePorts answer on the node's own addresses: the ones given, or any local one but
    /// loopback, inside one of `nodePortNetworks` when there are some (one alternative each).
    private func nodePortMatches() -> [[Statement]] {
        if options.nodeIPs.contains(where: { $0.family == family }) {
            return [[.lookup([.destinationAddress(family)], set: Names.nodePortIPs)]]
        }
        // IPv6 has one loopback address, IPv4 a whole /8 (a full-length prefix is an address).
        let loopback: Value = family == .ipv4 ? .network(IPNetwork("127.0.0.0/8")!) : .address(IPAddress("::1")!)
        let local: [Statement] = [.destinationIsLocal, .match(.destinationAddress(family), .notEqual, loopback)]
        let networks = options.nodePortNetworks.filter { $0.family == family }
        // A family whose networks include everything (0.0.0.0/0) is not narrowed.
        guard !networks.isEmpty, !networks.contains(where: { $0.prefixLength == 0 }) else { return [local] }
        return networks.sorted().map { network in
            let value: Value =
                network.prefixLength == family.byteCount * 8 ? .address(network.address) : .network(network)
            return [.match(.destinationAddress(family), .equal, value)] + local
        }
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
