import Addressing
import Parallel
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
        Ruleset(
            tables: IPFamily.allCases.filter(tableFamilies.contains).map { family in
                var builder = TableBuilder(family: family, options: options)
                for fragment in services.windowedConcurrentMap({ Fragment(of: $0, family: family, options: options) }) {
                    builder.add(fragment)
                }
                return builder.table()
            })
    }
}

extension ServiceGraph {
    /// The families with a table: IPv4 always, IPv6 when a service has an IPv6 frontend.
    var tableFamilies: Set<IPFamily> { Set(services.flatMap { $0.frontendAddresses.map(\.family) }).union([.ipv4]) }
}

extension Service {
    /// The addresses its frontends listen on, without copying them into one array.
    var frontendAddresses: FlattenSequence<[[IPAddress]]> { [clusterIPs, externalIPs, loadBalancerIPs].joined() }
}

/// What one service contributes to one family's table: elements of the shared sets and maps, and
/// the bucket counts its frontends use. The unit of incremental compilation.
struct Fragment: Equatable {
    /// Elements by set name, in the order the service produces them.
    var elements: [String: [SetElement]] = [:]
    var bucketCounts: Set<BucketCount> = []
    var affinityTimeouts: Set<AffinityTimeout> = []

    init(of service: Service, family: IPFamily, options: CompilerOptions) {
        // Nothing of the family (no address, node port or endpoint): nothing below would add an
        // element, and the other family's table costs a single-stack service nothing.
        guard Self.reaches(family, service) else { return }
        let affinity = service.sessionAffinityTimeout
        for address in service.clusterIPs where address.family == family {
            add(Names.clusterIPs, SetElement(key: [.address(address)], comment: service.id.description))
        }
        for port in service.ports {
            let label = "\(service.id):\(port.name ?? String(port.port))"
            let proto = Value.transportProtocol(port.transport.ipProtocolNumber)
            let selection = EndpointSelection(port, family: family, options: options)
            let available = selection.cluster
            let local = selection.local
            let externalLocal = service.externalTrafficPolicy == .local

            for address in service.clusterIPs where address.family == family {
                addFrontend(
                    .address, [.address(address), proto, .port(port.port)],
                    endpoints: service.internalTrafficPolicy == .local ? local : available,
                    anyEndpoints: !available.isEmpty, affinity: affinity, label: label)
            }
            for address in service.externalIPs + service.loadBalancerIPs where address.family == family {
                addFrontend(
                    .address, [.address(address), proto, .port(port.port)], endpoints: available,
                    anyEndpoints: !available.isEmpty, local: externalLocal ? local : nil, affinity: affinity,
                    label: label)
                // Policy Cluster: every client is masqueraded, as kube-proxy does.
                if !externalLocal {
                    add(Names.clusterExternalIPs, SetElement(key: [.address(address), proto, .port(port.port)]))
                }
            }
            if let nodePort = port.nodePort {
                addFrontend(
                    .nodePort, [proto, .port(nodePort)], endpoints: available, anyEndpoints: !available.isEmpty,
                    local: externalLocal ? local : nil, affinity: affinity, label: "\(label) nodePort")
            }
            var reachable = Set<IPAddress>(minimumCapacity: available.count)
            for endpoint in [available, local].joined() where reachable.insert(endpoint.address).inserted {
                add(Names.hairpin, SetElement(key: [.address(endpoint.address), .address(endpoint.address)]))
            }
            addFirewall(service, family: family, proto: proto, port: port.port, label: label, options: options)
        }
    }

    private static func reaches(_ family: IPFamily, _ service: Service) -> Bool {
        service.frontendAddresses.contains { $0.family == family }
            || service.ports.contains { port in
                port.nodePort != nil || port.endpoints.contains { $0.address.family == family }
            }
    }

    /// `loadBalancerSourceRanges`: the load-balancer frontends only admit new connections from
    /// these sources (NodePorts and external IPs are not filtered, as in kube-proxy). A Service
    /// whose ranges are all of the other family admits none in this one: it asked for a filter.
    private mutating func addFirewall(
        _ service: Service, family: IPFamily, proto: Value, port: UInt16, label: String, options: CompilerOptions
    ) {
        guard !service.loadBalancerSourceRanges.isEmpty else { return }
        let ranges = service.loadBalancerSourceRanges.filter { $0.family == family }
        // A range holding the node lets the node reach the load balancer's address, which is then
        // often local, so that such a request loops back with the address itself as its source.
        let allowsNode = ranges.contains { range in options.nodeIPs.contains(where: range.contains) }
        for address in service.loadBalancerIPs where address.family == family {
            let frontend: [Value] = [.address(address), proto, .port(port)]
            add(Names.firewallIPs, SetElement(key: frontend, comment: label))
            for range in ranges { add(Names.firewallAllowed, SetElement(key: frontend + [.network(range)])) }
            if allowsNode, let itself = IPNetwork(address: address, prefixLength: family.byteCount * 8) {
                add(Names.firewallAllowed, SetElement(key: frontend + [.network(itself)]))
            }
        }
    }

    private mutating func add(_ set: String, _ element: SetElement) {
        elements[set, default: []].append(element)
    }

    /// One frontend: membership of its kind's gate and of the bit sets of its bucket count, and
    /// its buckets. `local` is given for `externalTrafficPolicy: Local`: external clients take
    /// those endpoints (the frontend's local kind), pods and the node the cluster-wide ones.
    /// `key` is the frontend's key; the bucket keys extend it with the bucket number.
    private mutating func addFrontend(
        _ kind: FrontendKind, _ key: [Value], endpoints chosen: [Endpoint], anyEndpoints: Bool,
        local: [Endpoint]? = nil, affinity: Int?, label: String
    ) {
        guard !chosen.isEmpty else {
            // No endpoint at all: refused. Endpoints, but none on this node (internal policy
            // Local): dropped.
            add(anyEndpoints ? Names.noLocalEndpointServices : kind.noEndpoints, SetElement(key: key, comment: label))
            return
        }
        addBuckets(kind, key, chosen, label: label)
        if let affinity {
            let timeout = AffinityTimeout(kind: kind, seconds: affinity)
            affinityTimeouts.insert(timeout)
            // The endpoints a client may have been sent to: cluster-wide ones, and local ones.
            var endpoints: Set<IPAddress> = []
            for endpoint in chosen + (local ?? []) where endpoints.insert(endpoint.address).inserted {
                add(timeout.set, SetElement(key: key + [.address(endpoint.address)]))
            }
        }
        guard let local else { return }
        add(kind.keepsSource, SetElement(key: key, comment: label))
        if local.isEmpty {
            add(kind.noLocalExternalEndpoints, SetElement(key: key, comment: label))
        } else {
            addBuckets(kind.local, key, local, label: label)
        }
    }

    private mutating func addBuckets(_ kind: FrontendKind, _ key: [Value], _ chosen: [Endpoint], label: String) {
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
    }
}

/// Collects the fragments of one family's table, then lays out the skeleton around them.
struct TableBuilder {
    let family: IPFamily
    let options: CompilerOptions

    private var sets: [String: ElementList] = [:]
    private var bucketCounts: Set<BucketCount> = []
    private var affinityTimeouts: Set<AffinityTimeout> = []

    init(family: IPFamily, options: CompilerOptions) {
        self.family = family
        self.options = options
    }

    mutating func add(_ service: Service) {
        add(Fragment(of: service, family: family, options: options))
    }

    /// Fragments must come in service order: the first claim of a key wins.
    mutating func add(_ fragment: Fragment) {
        for (set, elements) in fragment.elements { sets[set, default: ElementList()].add(elements) }
        bucketCounts.formUnion(fragment.bucketCounts)
        affinityTimeouts.formUnion(fragment.affinityTimeouts)
    }

    // MARK: Table

    /// The table, from the fragments added; the builder's element lists go into it.
    consuming func table() -> Table {
        // Each set's elements sorted on a core of its own: the endpoint maps and the hairpin set
        // hold hundreds of thousands. The unsorted lists are freed in the background: here the
        // compile uses the most memory.
        let lists = Array(sets)
        sets = [:]
        let sorted = Dictionary(
            uniqueKeysWithValues: zip(lists.map(\.key), lists.concurrentMap(minimumChunk: 1) { $0.value.elements }))
        releaseInBackground(lists)
        func elements(_ set: String) -> [SetElement] { sorted[set] ?? [] }

        var sets: [NamedSet] = FrontendKind.allCases.flatMap { kind in
            kind.memberSets.map { NamedSet(name: $0, key: key(kind), elements: elements($0)) }
        }
        sets.append(
            NamedSet(
                name: Names.clusterExternalIPs, key: key(.address), elements: elements(Names.clusterExternalIPs)))
        sets.append(
            NamedSet(
                name: Names.hairpin, key: [.sourceAddress(family), .destinationAddress(family)],
                elements: elements(Names.hairpin)))
        sets.append(NamedSet(name: Names.firewallIPs, key: key(.address), elements: elements(Names.firewallIPs)))
        sets.append(
            NamedSet(
                name: Names.clusterIPs, key: [.destinationAddress(family)], elements: elements(Names.clusterIPs)))
        sets.append(
            NamedSet(
                name: Names.firewallAllowed, key: key(.address) + [.sourceAddress(family)], isInterval: true,
                elements: elements(Names.firewallAllowed)))
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
        sets += FrontendKind.entries.map(affinityMap)
        let timeouts = affinityTimeouts.sorted()
        sets += timeouts.map { timeout in
            var set = affinitySet(timeout)
            set.elements = elements(timeout.set)
            return set
        }
        dispatch += FrontendKind.entries.map(localPolicyChain)

        return Table(
            family: TableFamily(family), name: options.tableName, sets: sets.map { $0.sizedForElements() },
            chains: baseChains() + [
                Chain(
                    name: Names.services,
                    rules: FrontendKind.entries.flatMap { kind in
                        gated(kind, set: kind.gate, [.verdict(.goto(kind.dispatchChain))])
                    }),
                Chain(
                    name: Names.endpointsCheck,
                    rules: FrontendKind.entries.flatMap {
                        gated($0, set: $0.noEndpoints, [.verdict(.goto(Names.rejectService))])
                    } + gated(.address, set: Names.noLocalEndpointServices, [.verdict(.drop)])
                        + FrontendKind.entries.flatMap {
                            gated($0, set: $0.noLocalExternalEndpoints, externalClient() + [.verdict(.drop)])
                        }),
                clusterIPsCheckChain(),
                Chain(
                    name: Names.firewallCheck,
                    rules: [
                        Rule([
                            .lookup(key(.address), set: Names.firewallIPs),
                            .notInSet(key(.address) + [.sourceAddress(family)], set: Names.firewallAllowed),
                            .verdict(.drop),
                        ])
                    ]),
                Chain(
                    name: Names.rejectService,
                    rules: [
                        Rule([.match(.transportProtocol, .equal, .tcp), .reject(.tcpReset)]),
                        Rule([.reject(.portUnreachable)]),
                    ]),
                masqueradingChain(),
                affinityRecordChain(timeouts),
            ] + dispatch)
    }

    /// The sets whose keys hold prefixes (declared `isInterval` in `table()`): not sized.
    static let intervalSets: Set<String> = [Names.firewallAllowed]

    /// A frontend key: `address . protocol . port`, or `protocol . port` for a NodePort.
    func key(_ kind: FrontendKind) -> [Field] { Self.key(kind, family: family) }

    static func key(_ kind: FrontendKind, family: IPFamily) -> [Field] {
        kind.hasAddress
            ? [.destinationAddress(family), .transportProtocol, .destinationPort]
            : [.transportProtocol, .destinationPort]
    }

    /// The bit sets the dispatch of these bucket counts tests: one per bit that a count has.
    func bitSets(_ counts: [BucketCount]) -> [NamedSet] {
        guard let kind = counts.first?.kind else { return [] }
        return Set(counts.flatMap(\.bits)).sorted().map { NamedSet(name: kind.bitSet($0), key: key(kind)) }
    }

    /// Session affinity of one kind: client . frontend → endpoint, filled by `affinity-record`.
    func affinityMap(_ kind: FrontendKind) -> NamedSet { Self.affinityMap(kind, family: family) }

    static func affinityMap(_ kind: FrontendKind, family: IPFamily) -> NamedSet {
        NamedSet(
            name: kind.affinityMap, key: [.sourceAddress(family)] + key(kind, family: family),
            data: .fields([.destinationAddress(family), .destinationPort]), isDynamic: true,
            capacity: affinityCapacity)
    }

    /// Clients remembered per family and frontend kind: the kernel's own default for a set the
    /// packet path fills. When it is full, new clients are balanced without affinity until
    /// entries expire.
    static let affinityCapacity: UInt32 = 65_535

    /// The frontends of one affinity timeout with each of their endpoints' addresses (an endpoint
    /// is a pod, one address per frontend), without elements. Four fields at most: nft keeps the
    /// `typeof` of a concatenation of up to four.
    func affinitySet(_ timeout: AffinityTimeout) -> NamedSet {
        NamedSet(name: timeout.set, key: key(timeout.kind) + [.destinationAddress(family)])
    }

    /// After DNAT (postrouting sees a connection's first packet): a connection to a frontend with
    /// affinity that went to one of its endpoints is remembered, or its entry's timeout restarts.
    /// Conntrack's original direction gives the client and frontend whatever NAT did since. One
    /// rule per transport protocol: nft reads `ct original proto-dst` as a port only after one.
    func affinityRecordChain(_ timeouts: [AffinityTimeout]) -> Chain {
        Chain(
            name: Names.affinityRecord,
            rules: timeouts.flatMap { timeout in
                let frontend: [Field] =
                    timeout.kind == .address
                    ? [.originalDestinationAddress(family), .transportProtocol, .originalDestinationPort]
                    : [.transportProtocol, .originalDestinationPort]
                return [Value.tcp, .udp, .sctp].map { transport in
                    Rule([
                        .match(.transportProtocol, .equal, transport),
                        .lookup(frontend + [.destinationAddress(family)], set: timeout.set),
                        .updateMap(
                            map: timeout.kind.affinityMap, key: [.originalSourceAddress(family)] + frontend,
                            data: [.destinationAddress(family), .destinationPort],
                            timeoutSeconds: UInt32(clamping: timeout.seconds)),
                    ])
                }
            })
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
        // A client with affinity goes where it went before; the others are balanced.
        let remembered = Rule([.destinationNATMap(family, [.sourceAddress(family)] + key, map: kind.affinityMap)])
        let root = Chain(
            name: kind.dispatchChain,
            rules: localRedirection(kind) + masqueradeMarking(kind) + [remembered] + (tree.root.map(rules) ?? []))
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

    /// For `externalTrafficPolicy: Local`: its frontends take a detour through the kind's
    /// `local-policy` chain; the others pay one set lookup.
    private func localRedirection(_ kind: FrontendKind) -> [Rule] {
        guard !kind.isLocal else { return [] }
        return [Rule([.lookup(key(kind), set: kind.keepsSource), .verdict(.jump(kind.localPolicyChain))])]
    }

    /// kube-proxy's short-circuit for `externalTrafficPolicy: Local`: external clients go to this
    /// node's endpoints (the local kind's tree), or, with none here, leave NAT untranslated to be
    /// dropped in `endpoints-check`; pods and the node itself return to the cluster-wide tree,
    /// the node's own traffic marked for masquerading (its source is a node address that the
    /// endpoint may not route back), pods' not.
    func localPolicyChain(_ kind: FrontendKind) -> Chain {
        Chain(
            name: kind.localPolicyChain,
            rules: [
                Rule(
                    [.lookup(key(kind), set: kind.local.gate)] + externalClient() + [
                        .verdict(.goto(kind.local.dispatchChain))
                    ]),
                Rule(externalClient() + [.verdict(.accept)]),
                Rule([.sourceIsLocal(true), .setMarkBits(options.masqueradeBit)]),
            ])
    }

    /// Traffic from neither a pod (as `--detect-local-mode` tells them) nor the node itself.
    private func externalClient() -> [Statement] {
        (options.localTraffic.match(local: false, family: family) ?? []) + [.sourceIsLocal(false)]
    }

    /// ClusterIPs: traffic not from the cluster's pods (all of it with `masqueradeAll`), so that
    /// replies come back through this node; external and load-balancer IPs of policy Cluster,
    /// and NodePorts: all of it, as kube-proxy does. `externalTrafficPolicy: Local` frontends
    /// are marked by `local-policy` where they must be; the local kinds never are.
    private func masqueradeMarking(_ kind: FrontendKind) -> [Rule] {
        let mark = Statement.setMarkBits(options.masqueradeBit)
        switch kind {
        case .address:
            // Pods and the node coming back from `local-policy` are not marked for the frontends
            // that keep the client's address, as kube-proxy marks only ClusterIP traffic.
            let unlessKept: [Statement] = [.notInSet(key(kind), set: kind.keepsSource), mark]
            if options.masqueradeAll { return [Rule(unlessKept)] }
            let external = Rule([.lookup(key(kind), set: Names.clusterExternalIPs), mark])
            guard let notLocal = options.localTraffic.match(local: false, family: family) else { return [external] }
            return [external, Rule(notLocal + unlessKept)]
        case .nodePort:
            return [Rule([.notInSet(key(kind), set: kind.keepsSource), mark])]
        case .localAddress, .localNodePort:
            return []
        }
    }

    private func baseChains() -> [Chain] {
        let checkNew = [Rule([.connectionState([.new]), .verdict(.jump(Names.endpointsCheck))])]
        // Before DNAT, on the way in and out: load-balancer source ranges.
        let firewall = [Rule([.connectionState([.new]), .verdict(.jump(Names.firewallCheck))])]
        // After DNAT (forwarded, and locally sent past nat-output): what is still addressed to a
        // service address was not balanced.
        let clusterIPsCheck = [Rule([.connectionState([.new]), .verdict(.jump(Names.clusterIPsCheck))])]
        return [
            Chain(
                name: Names.natPrerouting, hook: .init(type: .nat, point: .prerouting, priority: -100),
                rules: [Rule([.verdict(.jump(Names.services))])]),
            Chain(
                name: Names.natOutput, hook: .init(type: .nat, point: .output, priority: -100),
                rules: [Rule([.verdict(.jump(Names.services))])]),
            Chain(
                name: Names.natPostrouting, hook: .init(type: .nat, point: .postrouting, priority: 100),
                rules: [
                    Rule([.verdict(.jump(Names.affinityRecord))]), Rule([.verdict(.jump(Names.masquerading))]),
                ]),
            Chain(
                name: Names.filterPrerouting, hook: .init(type: .filter, point: .prerouting, priority: -110),
                rules: firewall),
            // Before NAT (-100): packets to a service without endpoints are refused here.
            Chain(name: Names.filterInput, hook: .init(type: .filter, point: .input, priority: -110), rules: checkNew),
            Chain(
                name: Names.filterForward, hook: .init(type: .filter, point: .forward, priority: -110),
                rules: checkNew + clusterIPsCheck),
            Chain(
                name: Names.filterOutput, hook: .init(type: .filter, point: .output, priority: -110),
                rules: checkNew + firewall),
            Chain(
                name: Names.filterOutputPostDNAT, hook: .init(type: .filter, point: .output, priority: -90),
                rules: clusterIPsCheck),
        ]
    }

    /// kube-proxy's ClusterIP checks: a port a ClusterIP does not serve is refused at once (as a
    /// Service without endpoints is), an address of the service ranges that no Service holds is
    /// dropped rather than routed to the default gateway.
    private func clusterIPsCheckChain() -> Chain {
        let unallocated = options.serviceCIDRs.filter { $0.family == family }.map { range in
            Rule([.match(.destinationAddress(family), .equal, .network(range)), .verdict(.drop)])
        }
        return Chain(
            name: Names.clusterIPsCheck,
            rules: [
                Rule([
                    .lookup([.destinationAddress(family)], set: Names.clusterIPs), .verdict(.goto(Names.rejectService)),
                ])
            ]
                + unallocated)
    }

    /// The rules that apply `statements` to the frontends in `set`: one, or for NodePorts one per
    /// network of `nodePortNetworks`. NodePorts answer on the node's own addresses, checked after
    /// the set lookup so that other traffic costs no route lookup.
    private func gated(_ kind: FrontendKind, set: String, _ statements: [Statement]) -> [Rule] {
        let lookup = Statement.lookup(key(kind), set: set)
        guard !kind.hasAddress else { return [Rule([lookup] + statements)] }
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

    mutating func add(_ elements: [SetElement]) { added += elements }

    /// Sorted by key, as the kernel's listing is read most easily and as `show` prints it; the
    /// sort is stable, so of equal keys the first added comes first and is the one kept.
    var elements: [SetElement] { added.sortedByKey(unique: true) }
}
