import Addressing
import Ruleset
import ServiceGraph

/// Compiles graph changes into transactions with work proportional to the change.
///
/// It keeps, per family, which services claim each set element (the full compiler lets the
/// first service in sorted order win a key two services claim; so does this) and how many
/// services use each load-balancing chain. A new graph is compared service by service; only
/// the fragments of services that changed are compiled, and only the elements whose winning
/// claim changed become operations. The result equals `diff(compile(old), compile(new))` in
/// effect (tests check it), without compiling or diffing the whole table.
public struct IncrementalCompiler: Sendable {
    public let options: CompilerOptions
    private var services: [ServiceID: Service] = [:]
    private var tables: [IPFamily: TableState] = [:]

    private struct TableState: Sendable {
        /// set → key → claimants (service → its element for the key).
        var claims: [String: [[Value]: [ServiceID: SetElement]]] = [:]
        var balancerUse: [BalancerChain: Int] = [:]
        /// Frontends using each bucket map (`endpoints-N`), to create and remove it with its chains.
        var mapUse: [String: Int] = [:]
        /// Services with a frontend of this family.
        var frontendServices = 0
    }

    public init(options: CompilerOptions) {
        self.options = options
    }

    /// The graph the state stands for: the last one reset to, with every update since.
    public var graph: ServiceGraph { ServiceGraph(services: Array(services.values)) }

    /// Starts from `graph` (whose ruleset, `graph.compile(options:)`, the kernel holds).
    public mutating func reset(to graph: ServiceGraph) {
        services = [:]
        tables = [:]
        for service in graph.services { claim(service, fragments(of: service), add: true) }
    }

    /// The transaction that moves the kernel from the last graph's ruleset to `graph`'s, or nil
    /// when the change adds or removes a whole table (an address family's first or last
    /// service): then compile fully and diff. The state moves to `graph` either way.
    public mutating func update(to graph: ServiceGraph) -> Transaction? {
        let wanted = Dictionary(graph.services.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let changed = wanted.values.filter { services[$0.id] != $0 }
        let removed = services.keys.filter { wanted[$0] == nil }
        return update(changing: changed, removing: removed)
    }

    /// The same for a change known service by service (as a watch of the Kubernetes API reports
    /// it): `changing` holds services added or modified, `removing` the IDs of services gone.
    /// Costs what the change touches, whatever the size of the graph.
    public mutating func update(changing changedServices: [Service], removing removedIDs: [ServiceID]) -> Transaction? {
        var wanted: [ServiceID: Service?] = [:]
        for service in changedServices { wanted[service.id] = .some(service) }
        for id in removedIDs { wanted[id] = .some(nil) }
        let changed = Array(wanted.keys)
        let familiesBefore = families

        // The winning element of every key a changed service claims, before and after.
        var before: [IPFamily: [String: [[Value]: SetElement?]]] = [:]
        var balancersBefore: [IPFamily: [BalancerChain: Int]] = [:]
        var mapsBefore: [IPFamily: [String: Int]] = [:]
        // Each changed service's fragments, old and new, compiled once for both passes below.
        let oldFragments = changed.compactMap { services[$0] }.map { ($0, fragments(of: $0)) }
        let newFragments = changed.compactMap { wanted[$0] ?? nil }.map { ($0, fragments(of: $0)) }
        for (_, byFamily) in oldFragments + newFragments {
            for (family, fragment) in byFamily {
                for (set, elements) in fragment.elements {
                    for element in elements where before[family]?[set]?[element.key] == nil {
                        before[family, default: [:]][set, default: [:]][element.key] = .some(winner(family, set, element.key))
                    }
                }
                for balancer in fragment.balancers where balancersBefore[family]?[balancer] == nil {
                    balancersBefore[family, default: [:]][balancer] = tables[family]?.balancerUse[balancer] ?? 0
                    mapsBefore[family, default: [:]][balancer.map] = tables[family]?.mapUse[balancer.map] ?? 0
                }
            }
        }
        for (old, byFamily) in oldFragments { claim(old, byFamily, add: false) }
        for (new, byFamily) in newFragments { claim(new, byFamily, add: true) }
        guard families == familiesBefore else { return nil }

        var operations: [Operation] = []
        var deletions: [Operation] = []
        var additions: [Operation] = []
        var removedChains: [Operation] = []
        var removedMaps: [Operation] = []
        for family in IPFamily.allCases where families.contains(family) {
            let id = TableID(family: TableFamily(family), name: options.tableName)
            let builder = TableBuilder(family: family, options: options)
            for (map, count) in (mapsBefore[family] ?? [:]).sorted(by: { TableBuilder.mapOrder($0.key, $1.key) }) {
                let now = tables[family]?.mapUse[map] ?? 0
                let balancer = (balancersBefore[family] ?? [:]).keys.first { $0.map == map }!
                if count == 0 && now > 0 {
                    operations.append(.addSet(id, builder.bucketMap(balancer)))
                } else if count > 0 && now == 0 {
                    removedMaps.append(.deleteSet(id, name: map))
                }
            }
            for (balancer, count) in (balancersBefore[family] ?? [:]).sorted(by: { $0.key < $1.key }) {
                let now = tables[family]?.balancerUse[balancer] ?? 0
                if count == 0 && now > 0 {
                    let chain = builder.balancerChain(balancer)
                    operations.append(.addChain(id, Chain(name: chain.name)))
                    operations += chain.rules.map { .addRule(id, chain: chain.name, $0) }
                } else if count > 0 && now == 0 {
                    removedChains += [.flushChain(id, name: balancer.name), .deleteChain(id, name: balancer.name)]
                }
            }
            for (set, keys) in (before[family] ?? [:]).sorted(by: { $0.key < $1.key }) {
                var gone: [SetElement] = []
                var come: [SetElement] = []
                for (key, old) in keys {
                    let new = winner(family, set, key)
                    guard old != new else { continue }
                    if let old { gone.append(old) }
                    if let new { come.append(new) }
                }
                if !gone.isEmpty { deletions.append(.deleteElements(id, set: set, gone.sortedByKey())) }
                if !come.isEmpty { additions.append(.addElements(id, set: set, come.sortedByKey())) }
            }
        }
        // New maps and chains first (elements go to them), deletes before adds, unused chains
        // and then their maps last.
        return Transaction(operations + deletions + additions + removedChains + removedMaps)
    }

    /// The families with a table: IPv4 always, IPv6 when a service has an IPv6 frontend.
    private var families: Set<IPFamily> {
        Set([.ipv4] + IPFamily.allCases.filter { (tables[$0]?.frontendServices ?? 0) > 0 })
    }

    private func winner(_ family: IPFamily, _ set: String, _ key: [Value]) -> SetElement? {
        tables[family]?.claims[set]?[key]?.min { $0.key < $1.key }?.value
    }

    private func fragments(of service: Service) -> [(IPFamily, Fragment)] {
        IPFamily.allCases.map { ($0, Fragment(of: service, family: $0, options: options)) }
    }

    private mutating func claim(_ service: Service, _ fragments: [(IPFamily, Fragment)], add: Bool) {
        if add { services[service.id] = service } else { services[service.id] = nil }
        for (family, fragment) in fragments {
            let hasFrontend = service.frontendAddresses.contains { $0.family == family }
            guard hasFrontend || !fragment.elements.isEmpty || tables[family] != nil else { continue }
            // Taken out of the dictionary while it changes, so that the change happens in place
            // instead of copying every claim (copy-on-write would otherwise see two owners).
            var state = tables.removeValue(forKey: family) ?? TableState()
            if hasFrontend { state.frontendServices += add ? 1 : -1 }
            for (set, elements) in fragment.elements {
                for element in elements {
                    if add {
                        // Within a service too, the first claim of a key wins (as in the full compile).
                        if state.claims[set]?[element.key]?[service.id] == nil {
                            state.claims[set, default: [:]][element.key, default: [:]][service.id] = element
                        }
                    } else {
                        state.claims[set]?[element.key]?[service.id] = nil
                        if state.claims[set]?[element.key]?.isEmpty == true { state.claims[set]?[element.key] = nil }
                    }
                }
            }
            for balancer in fragment.balancers {
                state.balancerUse[balancer, default: 0] += add ? 1 : -1
                if state.balancerUse[balancer] == 0 { state.balancerUse[balancer] = nil }
                state.mapUse[balancer.map, default: 0] += add ? 1 : -1
                if state.mapUse[balancer.map] == 0 { state.mapUse[balancer.map] = nil }
            }
            tables[family] = state
        }
    }
}
