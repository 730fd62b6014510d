extension Ruleset {
    /// The same ruleset with everything whose order the kernel does not keep put in a fixed
    /// order: tables, sets and chains by name, set elements by key. Rule order is kept: it
    /// matters. Two rulesets that the kernel cannot tell apart have equal canonical forms.
    public var canonical: Ruleset {
        Ruleset(tables: tables.map(\.canonical).sorted { ($0.family.rawValue, $0.name) < ($1.family.rawValue, $1.name) })
    }
}

extension Table {
    public var canonical: Table {
        Table(
            family: family, name: name,
            sets: sets.map(\.canonical).sorted { $0.name < $1.name },
            chains: chains.sorted { $0.name < $1.name })
    }
}

extension NamedSet {
    public var canonical: NamedSet {
        var copy = self
        copy.elements = elements.sortedByKey()
        return copy
    }
}

extension [SetElement] {
    /// Sorted by key, numerically field by field: the order nfcompile prints elements in.
    public func sortedByKey() -> [SetElement] {
        map { ($0.key.map(\.sortKey), $0) }
            .sorted { $0.0.lexicographicallyPrecedes($1.0) }
            .map(\.1)
    }
}

extension Value {
    /// Orders values of one field numerically (addresses, ports, numbers).
    var sortKey: [UInt64] {
        switch self {
        case .address(let address): address.bytes.map(UInt64.init)
        case .network(let network): network.address.bytes.map(UInt64.init) + [UInt64(network.prefixLength)]
        case .transportProtocol(let number): [UInt64(number)]
        case .port(let port): [UInt64(port)]
        case .integer(let integer): [UInt64(integer)]
        }
    }
}

extension Array where Element == [UInt64] {
    func lexicographicallyPrecedes(_ other: [[UInt64]]) -> Bool {
        for (a, b) in zip(self, other) where a != b { return a.lexicographicallyPrecedes(b) }
        return count < other.count
    }
}
