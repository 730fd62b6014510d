/// The smallest transaction that turns `current` into `desired`, ordered so the kernel accepts
/// it: new chains and sets first (so elements and rules may refer to them), then element
/// deletes before adds (a changed value is a delete and an add in the same batch), rewritten
/// chains, and last the chains and sets nothing refers to any more.
///
/// Pure. A table whose skeleton changed (a set's type or a base chain's hook) is replaced whole,
/// in the same transaction: that happens on upgrades, never on endpoint churn. A set whose
/// capacity no longer serves its elements (`NamedSet.canStay(as:)`) is declared again with its
/// elements, and the chains that refer to it are written again, in the same transaction: that
/// happens when a set outgrows its room (when declared, it gets room for half as many elements
/// again) or when its size is over 16 times what its elements would get.
public func diff(current: Ruleset, desired: Ruleset) -> Transaction {
    var operations: [Operation] = []
    let currentTables = Dictionary(current.tables.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    let desiredIDs = Set(desired.tables.map(\.id))
    for table in desired.tables {
        if let existing = currentTables[table.id] {
            operations += diff(current: existing, desired: table).operations
        } else {
            operations += Transaction.creating(table).operations
        }
    }
    for table in current.tables where !desiredIDs.contains(table.id) {
        operations.append(.deleteTable(table.id))
    }
    return Transaction(operations)
}

/// The table-level diff; see `diff(current:desired:)`.
public func diff(current: Table, desired: Table) -> Transaction {
    let id = desired.id
    let currentChains = Dictionary(current.chains.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    let currentSets = Dictionary(current.sets.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    let desiredChainNames = Set(desired.chains.map(\.name))
    let desiredSetNames = Set(desired.sets.map(\.name))

    let skeletonChanged =
        desired.chains.contains { chain in currentChains[chain.name].map { $0.hook != chain.hook } ?? false }
        || desired.sets.contains { set in
            currentSets[set.name].map { !$0.canStay(as: set) && !$0.differsOnlyInCapacity(from: set) } ?? false
        }
    if skeletonChanged { return Transaction.replacing(desired) }
    // Sets whose capacity no longer serves their elements are declared again, with the rules
    // that refer to them; every other set and chain stays.
    let redeclared = Set(
        desired.sets.filter { set in currentSets[set.name].map { !$0.canStay(as: set) } ?? false }.map(\.name))
    let rewritten = Set(
        current.chains.filter { $0.rules.contains { !redeclared.isDisjoint(with: $0.referencedSets) } }.map(\.name))

    var operations: [Operation] = []
    // 1. New chains and sets, so that elements and rules below may refer to them; sets declared
    // again, once their elements that go are deleted (a transaction says what it removes: stale
    // UDP flows are read from it) and no rule refers to them.
    for chain in desired.chains where currentChains[chain.name] == nil {
        operations.append(.addChain(id, Chain(name: chain.name, hook: chain.hook)))
    }
    for set in desired.sets where currentSets[set.name] == nil {
        operations.append(
            .addSet(id, set.declaration))
    }
    for set in desired.sets where redeclared.contains(set.name) {
        let removed = ElementChange(from: currentSets[set.name]?.elements ?? [], to: set.elements).removed
        if !removed.isEmpty { operations.append(.deleteElements(id, set: set.name, removed)) }
    }
    operations += current.chains.filter { rewritten.contains($0.name) && !$0.rules.isEmpty }.map {
        .flushChain(id, name: $0.name)
    }
    for set in desired.sets where redeclared.contains(set.name) {
        operations += [.deleteSet(id, name: set.name), .addSet(id, set.declaration)]
    }
    // 2. Elements: deletes, then adds.
    let elementDeletes = operations.count
    var additions: [Operation] = []
    for set in desired.sets {
        let existing = redeclared.contains(set.name) ? [] : currentSets[set.name]?.elements ?? []
        let change = ElementChange(from: existing, to: set.elements)
        if !change.removed.isEmpty { operations.append(.deleteElements(id, set: set.name, change.removed)) }
        if !change.added.isEmpty { additions.append(.addElements(id, set: set.name, change.added)) }
    }
    operations += additions
    // 3. Rules: a chain whose rules changed is flushed and written again, in one transaction.
    for chain in desired.chains {
        let existingRules = rewritten.contains(chain.name) ? [] : currentChains[chain.name]?.rules ?? []
        guard existingRules != chain.rules else { continue }
        if !existingRules.isEmpty { operations.append(.flushChain(id, name: chain.name)) }
        operations += chain.rules.map { .addRule(id, chain: chain.name, $0) }
    }
    // 4. What is gone: rules first (they refer to chains and sets), then chains, then sets.
    let removedChains = current.chains.filter { !desiredChainNames.contains($0.name) }
    for chain in removedChains where !chain.rules.isEmpty {
        operations.append(.flushChain(id, name: chain.name))
    }
    operations += removedChains.map { .deleteChain(id, name: $0.name) }
    for set in current.sets where !desiredSetNames.contains(set.name) {
        // Its elements go explicitly first: a transaction says what it removes (stale UDP flows
        // are read from it), and they are few, belonging to services that changed.
        if !set.elements.isEmpty {
            operations.insert(.deleteElements(id, set: set.name, set.elements), at: elementDeletes)
        }
        operations.append(.deleteSet(id, name: set.name))
    }
    return Transaction(operations)
}

/// Which elements of a set go and which come: by key; an element whose data or comment
/// changed goes and comes again (the kernel cannot update an element in place).
struct ElementChange {
    var removed: [SetElement] = []
    var added: [SetElement] = []

    init(from current: [SetElement], to desired: [SetElement]) {
        guard current != desired else { return }
        // Matched by packed key (two words for every key of an IPv4 table), not by the key's
        // values: hashing and comparing arrays of values was a fifth of applying an unchanged
        // table of 240,000 elements.
        if let currentKeys = current.narrowKeys, let desiredKeys = desired.narrowKeys {
            (removed, added) = Self.change(current, currentKeys, desired, desiredKeys)
        } else {
            (removed, added) = Self.change(
                current, current.map { PackedKey($0.key) }, desired, desired.map { PackedKey($0.key) })
        }
    }

    /// Within one set, equal keys pack alike: the first element of each key is the one compared.
    private static func change<Key: Hashable>(
        _ current: [SetElement], _ currentKeys: [Key], _ desired: [SetElement], _ desiredKeys: [Key]
    ) -> (removed: [SetElement], added: [SetElement]) {
        let wanted = Dictionary(zip(desiredKeys, desired.indices), uniquingKeysWith: { a, _ in a })
        let present = Dictionary(zip(currentKeys, current.indices), uniquingKeysWith: { a, _ in a })
        let removed = current.indices.filter { wanted[currentKeys[$0]].map { desired[$0] } != current[$0] }
        let added = desired.indices.filter { present[desiredKeys[$0]].map { current[$0] } != desired[$0] }
        return (removed.map { current[$0] }, added.map { desired[$0] })
    }
}
