import Addressing
import Parallel
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
///
/// The state is kept small, for it lives as long as the agent: a claim is a packed key and the
/// number of a service, not the element; an element is compiled again from its service when a
/// change needs it.
public struct IncrementalCompiler: Sendable {
    public let options: CompilerOptions
    private var services: [ServiceID: Service] = [:]
    private var tables: [IPFamily: TableState] = [:]
    /// Services by number, for claims: the number of a service never changes while it exists.
    private var numbers: [ServiceID: Int32] = [:]
    private var ids: [ServiceID?] = []
    private var freeNumbers: [Int32] = []

    private struct TableState: Sendable {
        /// set → key → the services claiming it.
        var claims: [String: ClaimTable] = [:]
        /// Frontends using each bucket count: its map, leaf chain and place in the dispatch tree
        /// exist while some frontend does.
        var countUse: [BucketCount: Int] = [:]
        /// Frontends using each affinity timeout: its set and record rule exist while some does.
        var affinityUse: [AffinityTimeout: Int] = [:]
        /// Services with a frontend of this family.
        var frontendServices = 0
        /// The capacity of each set sized by its elements as the kernel has it: as the full
        /// compile gives it after `reset`, as the last full sync left it after `adopt`. A set
        /// not here has that of an empty one.
        var capacities: [String: UInt32] = [:]

        func capacity(of set: String) -> UInt32 { capacities[set] ?? NamedSet.capacity(for: 0) }
    }

    public init(options: CompilerOptions) {
        self.options = options
    }

    /// The graph the state stands for: the last one reset to, with every update since.
    public var graph: ServiceGraph { ServiceGraph(services: Array(services.values)) }

    /// Starts from `graph`, whose ruleset the kernel holds or is to hold, and returns that ruleset
    /// (`graph.compile(options:)`, built from the fragments compiled here, not compiled again).
    @discardableResult
    public mutating func reset(to graph: ServiceGraph) -> Ruleset {
        services = [:]
        tables = [:]
        numbers = [:]
        ids = []
        freeNumbers = []
        var builders = Dictionary(
            uniqueKeysWithValues: IPFamily.allCases.map { ($0, TableBuilder(family: $0, options: options)) })
        let fragmentsByService = graph.services.windowedConcurrentMap { [options] in
            Self.fragments(of: $0, options: options)
        }
        for (index, (service, fragments)) in zip(graph.services, fragmentsByService).enumerated() {
            for (family, fragment) in fragments { builders[family]!.add(fragment) }
            claim(service, fragments, add: true)
            if index + 1 == Self.claimsSampled { reserveClaims(sampled: index + 1, of: graph.services.count) }
        }
        for family in tables.keys {
            let claims = tables[family]!.claims
            tables[family]!.capacities = claims.filter { !TableBuilder.intervalSets.contains($0.key) }
                .mapValues { NamedSet.capacity(for: $0.count) }
        }
        return Ruleset(
            tables: IPFamily.allCases.filter(graph.tableFamilies.contains).map {
                builders.removeValue(forKey: $0)!.table()
            })
    }

    /// After the first services of a reset: claim tables grow by doubling, and moving every claim
    /// at each step was a third of the claiming, so room for all of them is made at once, as
    /// many per service as the services claimed so far have.
    private static let claimsSampled = 1024

    private mutating func reserveClaims(sampled: Int, of total: Int) {
        // Through `values` in place: iterating the keys while changing the values would copy them.
        for table in tables.values.indices {
            for set in tables.values[table].claims.values.indices {
                let count = tables.values[table].claims.values[set].count
                tables.values[table].claims.values[set].reserve(count * total / sampled)
            }
        }
    }

    /// Takes the capacities of the kernel's sets, as a full sync left them (it keeps a set
    /// whose capacity still serves, `NamedSet.canStay(as:)`).
    public mutating func adopt(_ capacities: SetCapacities) {
        for family in tables.keys {
            let id = TableID(family: TableFamily(family), name: options.tableName)
            tables[family]!.capacities = capacities[id] ?? [:]
        }
    }

    /// The transaction that moves the kernel from the last graph's ruleset to `graph`'s, or nil
    /// when the change adds or removes a whole table (an address family's first or last
    /// service) or a set's capacity no longer serves its elements: then compile fully and diff
    /// (which declares the set again). The state moves to `graph` either way.
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

        // The winner of every key a changed service claims, before and after; the elements are
        // taken from the winners' fragments (compiled once here for the changed services).
        let oldFragments = changed.compactMap { services[$0] }.map { ($0, fragments(of: $0)) }
        let newFragments = changed.compactMap { wanted[$0] ?? nil }.map { ($0, fragments(of: $0)) }
        var before: [IPFamily: [String: [PackedKey: ServiceID?]]] = [:]
        for (_, byFamily) in oldFragments + newFragments {
            for (family, fragment) in byFamily {
                for (set, elements) in fragment.elements {
                    for element in elements {
                        let key = PackedKey(element.key)
                        if before[family]?[set]?.index(forKey: key) == nil {
                            before[family, default: [:]][set, default: [:]].updateValue(
                                winner(family, set, key), forKey: key)
                        }
                    }
                }
            }
        }
        let countsBefore = tables.mapValues { Set($0.countUse.keys) }
        let timeoutsBefore = tables.mapValues { Set($0.affinityUse.keys) }
        for (old, byFamily) in oldFragments { claim(old, byFamily, add: false) }
        for (new, byFamily) in newFragments { claim(new, byFamily, add: true) }
        guard families == familiesBefore else { return nil }
        var elementsBefore = FragmentIndex(fragments: oldFragments)
        var elementsAfter = FragmentIndex(fragments: newFragments)

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
            let timeouts = Set(tables[family]?.affinityUse.keys.map { $0 } ?? [])
            let previousTimeouts = timeoutsBefore[family] ?? []
            if timeouts != previousTimeouts {
                skeleton.add(
                    TableBuilder(family: family, options: options), id, affinityFrom: previousTimeouts, to: timeouts)
            }
            guard capacitiesServe(family, (before[family] ?? [:]).keys, new: skeleton.newSets) else { return nil }
            for (set, keys) in (before[family] ?? [:]).sorted(by: { $0.key < $1.key }) {
                var gone: [SetElement] = []
                var come: [SetElement] = []
                for (key, oldWinner) in keys {
                    let newWinner = winner(family, set, key)
                    // An unchanged service that keeps a key changes nothing.
                    guard oldWinner != newWinner || newWinner.map({ wanted.index(forKey: $0) != nil }) == true else {
                        continue
                    }
                    let old = oldWinner.flatMap {
                        elementsBefore.element(of: $0, family, set, key, unchanged: services[$0], self)
                    }
                    let new = newWinner.flatMap {
                        elementsAfter.element(of: $0, family, set, key, unchanged: services[$0], self)
                    }
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
        var newSets: [Operation] = []
        for operation in skeleton.newSets { newSets.append(sizingNewSet(operation)) }
        for case .deleteSet(let id, let name) in skeleton.removedSets {
            tables[id.family.addressFamily]?.capacities[name] = nil
        }
        return Transaction(
            newSets + skeleton.newChains + deletions + additions + skeleton.rules + skeleton.removedChains
                + skeleton.removedSets)
    }

    /// Whether the kernel's capacity of each set that elements come to or go from still serves
    /// them (a set declared by this change is sized for them instead).
    private func capacitiesServe(_ family: IPFamily, _ sets: some Sequence<String>, new: [Operation]) -> Bool {
        guard let state = tables[family] else { return true }
        let id = TableID(family: TableFamily(family), name: options.tableName)
        let declared = Set(new.compactMap { if case .addSet(id, let set) = $0 { set.name } else { nil } })
        return sets.allSatisfy { set in
            TableBuilder.intervalSets.contains(set) || declared.contains(set)
                || NamedSet.capacity(state.capacity(of: set), serves: state.claims[set]?.count ?? 0)
        }
    }

    /// A set this change declares, sized for the elements it gets; its capacity is the kernel's from now on.
    private mutating func sizingNewSet(_ operation: Operation) -> Operation {
        guard case .addSet(let id, var set) = operation, set.isSizedByElements else { return operation }
        let family = id.family.addressFamily
        set.capacity = NamedSet.capacity(for: tables[family]?.claims[set.name]?.count ?? 0)
        tables[family]?.capacities[set.name] = set.capacity
        return .addSet(id, set)
    }

    /// The families with a table: IPv4 always, IPv6 when a service has an IPv6 frontend.
    private var families: Set<IPFamily> {
        Set([.ipv4] + IPFamily.allCases.filter { (tables[$0]?.frontendServices ?? 0) > 0 })
    }

    private func winner(_ family: IPFamily, _ set: String, _ key: PackedKey) -> ServiceID? {
        tables[family]?.claims[set]?.first(claiming: key).flatMap { ids[Int($0)] }
    }

    fileprivate func fragments(of service: Service) -> [(IPFamily, Fragment)] {
        Self.fragments(of: service, options: options)
    }

    private static func fragments(of service: Service, options: CompilerOptions) -> [(IPFamily, Fragment)] {
        IPFamily.allCases.map { ($0, Fragment(of: service, family: $0, options: options)) }
    }

    private mutating func number(of id: ServiceID) -> Int32 {
        if let number = numbers[id] { return number }
        let number: Int32
        if let free = freeNumbers.popLast() {
            number = free
            ids[Int(free)] = id
        } else {
            number = Int32(ids.count)
            ids.append(id)
        }
        numbers[id] = number
        return number
    }

    private mutating func releaseNumber(of id: ServiceID) {
        guard let number = numbers.removeValue(forKey: id) else { return }
        ids[Int(number)] = nil
        freeNumbers.append(number)
    }

    private mutating func claim(_ service: Service, _ fragments: [(IPFamily, Fragment)], add: Bool) {
        if add { services[service.id] = service } else { services[service.id] = nil }
        let number = number(of: service.id)
        let ids = self.ids
        func precedes(_ a: Int32, _ b: Int32) -> Bool { ids[Int(a)]! < ids[Int(b)]! }
        for (family, fragment) in fragments {
            let hasFrontend = service.frontendAddresses.contains { $0.family == family }
            guard hasFrontend || !fragment.elements.isEmpty || tables[family] != nil else { continue }
            // Taken out of the dictionary while it changes, so that the change happens in place
            // instead of copying every claim (copy-on-write would otherwise see two owners).
            var state = tables.removeValue(forKey: family) ?? TableState()
            if hasFrontend { state.frontendServices += add ? 1 : -1 }
            for (set, elements) in fragment.elements {
                var table = state.claims.removeValue(forKey: set) ?? ClaimTable()
                for element in elements {
                    let key = PackedKey(element.key)
                    if add {
                        table.add(number, claiming: key, by: precedes)
                    } else {
                        table.remove(number, claiming: key)
                    }
                }
                if !table.isEmpty { state.claims[set] = table }
            }
            for count in fragment.bucketCounts {
                state.countUse[count, default: 0] += add ? 1 : -1
                if state.countUse[count] == 0 { state.countUse[count] = nil }
            }
            for timeout in fragment.affinityTimeouts {
                state.affinityUse[timeout, default: 0] += add ? 1 : -1
                if state.affinityUse[timeout] == 0 { state.affinityUse[timeout] = nil }
            }
            tables[family] = state
        }
        if !add { releaseNumber(of: service.id) }
    }
}

/// The services claiming the keys of one set, by number, the first in service order first (the
/// winner). It holds a claim per element for as long as the agent runs, so it is compact: a key
/// is kept in as few words as hold it (one for an address, an address pair or a frontend of an
/// IPv4 table, two for a bucket's key), and its claimant, nearly always the only one, is a
/// number beside it; the rare keys that several services claim keep their lists aside.
private struct ClaimTable: Sendable {
    private var words: [UInt64: Int32] = [:]
    private var narrow: [PackedKey.Narrow: Int32] = [:]
    private var wide: [PackedKey: Int32] = [:]
    private var contested: [PackedKey: [Int32]] = [:]
    /// Stored for a key whose claimants are in `contested`.
    private static let isContested: Int32 = -1

    var isEmpty: Bool { words.isEmpty && narrow.isEmpty && wide.isEmpty }
    /// Keys claimed: elements of the set.
    var count: Int { words.count + narrow.count + wide.count }

    func first(claiming key: PackedKey) -> Int32? {
        guard let number = stored(key) else { return nil }
        return number == Self.isContested ? contested[key]?.first : number
    }

    /// Puts `number` in its place among the key's claimants (a service claims a key once however
    /// often its fragment has it).
    mutating func add(_ number: Int32, claiming key: PackedKey, by precedes: (Int32, Int32) -> Bool) {
        // One lookup for the usual case, a key nobody claims yet; the rare others put back what was there.
        guard let existing = store(number, for: key) else { return }
        var numbers = existing == Self.isContested ? contested[key] ?? [] : [existing]
        guard !numbers.contains(number) else {
            store(existing, for: key)
            return
        }
        numbers.insert(number, at: numbers.firstIndex { precedes(number, $0) } ?? numbers.endIndex)
        contested[key] = numbers
        store(Self.isContested, for: key)
    }

    mutating func remove(_ number: Int32, claiming key: PackedKey) {
        switch stored(key) {
        case nil:
            return
        case Self.isContested?:
            let left = (contested.removeValue(forKey: key) ?? []).filter { $0 != number }
            if left.count > 1 { contested[key] = left }
            store(left.count == 1 ? left[0] : left.isEmpty ? nil : Self.isContested, for: key)
        case let existing?:
            if existing == number { store(nil, for: key) }
        }
    }

    /// Room for `count` keys, split between the sizes of keys as they are now.
    mutating func reserve(_ count: Int) {
        guard count > self.count, self.count > 0 else { return }
        words.reserveCapacity(count * words.count / self.count)
        narrow.reserveCapacity(count * narrow.count / self.count)
        wide.reserveCapacity(count * wide.count / self.count)
    }

    private func stored(_ key: PackedKey) -> Int32? {
        guard let narrowKey = key.narrow else { return wide[key] }
        if let word = narrowKey.word { return words[word] }
        return narrow[narrowKey]
    }

    /// Stores `number` for the key (nil removes it); returns what was stored before.
    @discardableResult
    private mutating func store(_ number: Int32?, for key: PackedKey) -> Int32? {
        guard let narrowKey = key.narrow else { return wide.updateOrRemove(number, forKey: key) }
        if let word = narrowKey.word { return words.updateOrRemove(number, forKey: word) }
        return narrow.updateOrRemove(number, forKey: narrowKey)
    }
}

extension Dictionary {
    fileprivate mutating func updateOrRemove(_ value: Value?, forKey key: Key) -> Value? {
        guard let value else { return removeValue(forKey: key) }
        return updateValue(value, forKey: key)
    }
}

/// The elements of some services' fragments by set and key (the first of a key in a service
/// wins, as in the full compile); services not given are compiled when first asked for.
private struct FragmentIndex {
    private var bySet: [ServiceID: [IPFamily: [String: [PackedKey: SetElement]]]] = [:]

    init(fragments: [(Service, [(IPFamily, Fragment)])]) {
        for (service, byFamily) in fragments { add(service.id, byFamily) }
    }

    private mutating func add(_ id: ServiceID, _ byFamily: [(IPFamily, Fragment)]) {
        var index: [IPFamily: [String: [PackedKey: SetElement]]] = [:]
        for (family, fragment) in byFamily {
            for (set, elements) in fragment.elements {
                for element in elements {
                    let key = PackedKey(element.key)
                    if index[family]?[set]?[key] == nil {
                        index[family, default: [:]][set, default: [:]][key] = element
                    }
                }
            }
        }
        bySet[id] = index
    }

    /// The element `id` has for the key; an unchanged service's fragment is compiled from `service`.
    mutating func element(
        of id: ServiceID, _ family: IPFamily, _ set: String, _ key: PackedKey, unchanged service: Service?,
        _ compiler: IncrementalCompiler
    ) -> SetElement? {
        if bySet[id] == nil, let service { add(id, compiler.fragments(of: service)) }
        return bySet[id]?[family]?[set]?[key]
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

    /// The affinity sets of the timeouts in use and the record chain's rules, which test them.
    mutating func add(
        _ builder: TableBuilder, _ id: TableID, affinityFrom old: Set<AffinityTimeout>, to new: Set<AffinityTimeout>
    ) {
        newSets += new.subtracting(old).sorted().map { .addSet(id, builder.affinitySet($0)) }
        removedSets += old.subtracting(new).sorted().map { .deleteSet(id, name: $0.set) }
        if !old.isEmpty { rules.append(.flushChain(id, name: Names.affinityRecord)) }
        rules += builder.affinityRecordChain(new.sorted()).rules.map { .addRule(id, chain: Names.affinityRecord, $0) }
    }
}
