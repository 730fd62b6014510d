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
        sorted { $0.key.lexicographicallyPrecedes($1.key) }
    }
}
