/// Which table an operation acts on.
public struct TableID: Hashable, Sendable, CustomStringConvertible {
    public var family: TableFamily
    public var name: String

    public init(family: TableFamily, name: String) {
        self.family = family
        self.name = name
    }

    public var description: String { "\(family.rawValue) \(name)" }
}

extension Table {
    public var id: TableID { TableID(family: family, name: name) }
}

/// One change to the kernel's ruleset: what one netlink message (or a few, for large element
/// lists) asks for.
public enum Operation: Hashable, Sendable {
    case addTable(TableID)
    case deleteTable(TableID)
    /// The chain's declaration; its rules come as `addRule`s.
    case addChain(TableID, Chain)
    case deleteChain(TableID, name: String)
    case flushChain(TableID, name: String)
    case addRule(TableID, chain: String, Rule)
    /// The set's declaration; its elements come as `addElements`.
    case addSet(TableID, NamedSet)
    case deleteSet(TableID, name: String)
    case addElements(TableID, set: String, [SetElement])
    case deleteElements(TableID, set: String, [SetElement])
}

/// An ordered list of operations the kernel applies atomically: all or nothing.
public struct Transaction: Hashable, Sendable {
    public var operations: [Operation]

    public init(_ operations: [Operation] = []) { self.operations = operations }

    public var isEmpty: Bool { operations.isEmpty }

    /// Replaces a table whatever the kernel holds: declares it (so the delete cannot fail),
    /// deletes it with everything in it, and builds it anew. Chains come before the map elements
    /// that jump to them, sets before the rules that look them up.
    public static func replacing(_ table: Table) -> Transaction {
        Transaction(removingTable(table.id).operations + creating(table).operations)
    }

    /// Replaces our tables, whatever the kernel holds, with those of `ruleset`: each of its tables
    /// anew, and ours of the other families removed.
    public static func replacingTables(named name: String, with ruleset: Ruleset) -> Transaction {
        var operations: [Operation] = []
        for family in TableFamily.allCases {
            if let table = ruleset.tables.first(where: { $0.family == family && $0.name == name }) {
                operations += replacing(table).operations
            } else {
                operations += removingTable(TableID(family: family, name: name)).operations
            }
        }
        return Transaction(operations)
    }

    /// Removes our tables of every family, whether or not they exist.
    public static func removingTables(named name: String) -> Transaction {
        Transaction(TableFamily.allCases.flatMap { removingTable(TableID(family: $0, name: name)).operations })
    }

    /// Removes a table whether or not it exists: declares it (so the delete cannot fail) and deletes it.
    public static func removingTable(_ id: TableID) -> Transaction {
        Transaction([.addTable(id), .deleteTable(id)])
    }

    /// Creates a table that does not exist yet, with all its contents.
    public static func creating(_ table: Table) -> Transaction {
        var operations: [Operation] = [.addTable(table.id)]
        operations += table.chains.map { chain in
            var declaration = chain
            declaration.rules = []
            return .addChain(table.id, declaration)
        }
        for set in table.sets {
            var declaration = set
            declaration.elements = []
            operations.append(.addSet(table.id, declaration))
            if !set.elements.isEmpty { operations.append(.addElements(table.id, set: set.name, set.elements)) }
        }
        for chain in table.chains {
            operations += chain.rules.map { .addRule(table.id, chain: chain.name, $0) }
        }
        return Transaction(operations)
    }
}

extension Operation {
    /// What the operation does, in nft's words, for messages to people.
    public var summary: String {
        switch self {
        case .addTable(let table): "add table \(table)"
        case .deleteTable(let table): "delete table \(table)"
        case .addChain(let table, let chain): "add chain \(table) \(chain.name)"
        case .deleteChain(let table, let name): "delete chain \(table) \(name)"
        case .flushChain(let table, let name): "flush chain \(table) \(name)"
        case .addRule(let table, let chain, let rule): "add rule \(table) \(chain) \(rule.nftText)"
        case .addSet(let table, let set): "add \(set.isMap ? "map" : "set") \(table) \(set.name)"
        case .deleteSet(let table, let name): "delete set \(table) \(name)"
        case .addElements(_, let set, let elements): Self.elementSummary("add", "to", set, elements)
        case .deleteElements(_, let set, let elements): Self.elementSummary("delete", "from", set, elements)
        }
    }

    private static func elementSummary(_ verb: String, _ preposition: String, _ set: String, _ elements: [SetElement])
        -> String
    {
        guard let first = elements.first else { return "\(verb) no element \(preposition) \(set)" }
        let key = first.key.map(\.nftText).joined(separator: " . ")
        let more = elements.count > 1 ? " and \(elements.count - 1) more" : ""
        return "\(verb) element \(key)\(more) \(preposition) \(set)"
    }
}

extension Transaction {
    /// How many set elements the transaction adds and removes.
    public var elementCounts: (added: Int, removed: Int) {
        operations.reduce(into: (0, 0)) { counts, operation in
            switch operation {
            case .addElements(_, _, let elements): counts.0 += elements.count
            case .deleteElements(_, _, let elements): counts.1 += elements.count
            default: break
            }
        }
    }

    /// What the transaction does, as a set of one-element operations: two transactions with the
    /// same effect on the same ruleset have equal effects, whatever their grouping and order.
    public var effect: Set<Operation> {
        var result: Set<Operation> = []
        for operation in operations {
            switch operation {
            case .addElements(let table, let set, let elements):
                for element in elements { result.insert(.addElements(table, set: set, [element])) }
            case .deleteElements(let table, let set, let elements):
                for element in elements { result.insert(.deleteElements(table, set: set, [element])) }
            default:
                result.insert(operation)
            }
        }
        return result
    }
}
