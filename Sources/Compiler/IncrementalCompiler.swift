import Addressing
import Ruleset
import ServiceGraph

/// Compiles graph changes into transactions with work proportional to the change.
///
/// It keeps, per family, which services claim each set element (the full compiler lets the
/// first service in sorted order win a key two services claim; so does this) and how many
/// frontends use each bucket count. A new graph is compared service by service; only
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
        /// Frontends using each bucket count: its map, leaf chain and place in the dispatch tree
        /// exist while some frontend does.
        var countUse: [BucketCount: Int] = [:]
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
            }
        }
        let countsBefore = tables.mapValues { Set($0.countUse.keys) }
        for (old, byFamily) in oldFragments { claim(old, byFamily, add: false) }
        for (new, byFamily) in newFragments { claim(new, byFamily, add: true) }
        guard families == familiesBefore else { return nil }

        var skeleton = SkeletonChange()
        var deletions: [Operation] = []
        var additions: [Operation] = []
        for family in IPFamily.allCases where families.contains(family) {
            let id = TableID(family: TableFamily(family), name: options.tableName)
            let counts = Set(tables[family]?.countUse.keys.map { $0 } ?? [])
            let previous = countsBefore[family] ?? []
            if counts != previous {
                skeleton.add(TableBuilder(family: family, options: options), id, from: previous, to: counts)
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
        // New sets and chains first (elements and rules refer to them), element deletes before
        // adds, then the rules of new and rewritten chains; what nothing uses any more goes last.
        return Transaction(
            skeleton.newSets + skeleton.newChains + deletions + additions + skeleton.rules + skeleton.removedChains
                + skeleton.removedSets)
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
            for count in fragment.bucketCounts {
                state.countUse[count, default: 0] += add ? 1 : -1
                if state.countUse[count] == 0 { state.countUse[count] = nil }
            }
            tables[family] = state
        }
    }
}

/// The chains, rules and sets that change with the bucket counts in use: bucket maps, bit sets
/// and the dispatch trees, compared between the counts before and after.
private struct SkeletonChange {
    var newSets: [Operation] = []
    var newChains: [Operation] = []
    var rules: [Operation] = []
    var removedChains: [Operation] = []
    var removedSets: [Operation] = []

    mutating func add(_ builder: TableBuilder, _ id: TableID, from old: Set<BucketCount>, to new: Set<BucketCount>) {
        var flushes: [Operation] = []
        var deletes: [Operation] = []
        for kind in FrontendKind.allCases {
            let before = old.filter { $0.kind == kind }.sorted()
            let after = new.filter { $0.kind == kind }.sorted()
            guard before != after else { continue }
            let oldSets = builder.bitSets(before) + before.map(builder.bucketMap)
            let newSets = builder.bitSets(after) + after.map(builder.bucketMap)
            let oldNames = Set(oldSets.map(\.name))
            let newNames = Set(newSets.map(\.name))
            self.newSets += newSets.filter { !oldNames.contains($0.name) }.map { .addSet(id, $0) }
            removedSets += oldSets.filter { !newNames.contains($0.name) }.map { .deleteSet(id, name: $0.name) }

            let oldChains = Dictionary(
                builder.dispatchChains(kind, counts: before.map(\.buckets)).map { ($0.name, $0) },
                uniquingKeysWith: { a, _ in a })
            let newChains = builder.dispatchChains(kind, counts: after.map(\.buckets))
            let kept = Set(newChains.map(\.name))
            for chain in newChains where oldChains[chain.name]?.rules != chain.rules {
                if let existing = oldChains[chain.name] {
                    if !existing.rules.isEmpty { rules.append(.flushChain(id, name: chain.name)) }
                } else {
                    self.newChains.append(.addChain(id, Chain(name: chain.name)))
                }
                rules += chain.rules.map { .addRule(id, chain: chain.name, $0) }
            }
            for (name, chain) in oldChains.sorted(by: { $0.key < $1.key }) where !kept.contains(name) {
                if !chain.rules.isEmpty { flushes.append(.flushChain(id, name: name)) }
                deletes.append(.deleteChain(id, name: name))
            }
        }
        // Every gone chain is emptied before any is deleted: one may still go to another.
        removedChains += flushes + deletes
    }
}
