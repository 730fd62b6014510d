/// What the kernel does with a transaction, modelled on the IR: the specification the diff
/// engine is tested against without a kernel. It refuses what the kernel refuses (adding what
/// exists, deleting what does not, jumping to a missing chain, deleting what is still
/// referenced), and like the kernel applies all or nothing.
public struct TransactionRefused: Error, Equatable, CustomStringConvertible {
    public var operation: String
    public var reason: String

    public var description: String { "\(operation): \(reason)" }
}

extension Ruleset {
    public func applying(_ transaction: Transaction) throws(TransactionRefused) -> Ruleset {
        var result = self
        for operation in transaction.operations {
            try result.apply(operation)
        }
        return result
    }

    private mutating func apply(_ operation: Operation) throws(TransactionRefused) {
        func refuse(_ reason: String) -> TransactionRefused {
            TransactionRefused(operation: operation.summary, reason: reason)
        }
        func tableIndex(_ id: TableID) throws(TransactionRefused) -> Int {
            guard let index = tables.firstIndex(where: { $0.id == id }) else { throw refuse("no such table") }
            return index
        }
        switch operation {
        case .addTable(let id):
            if !tables.contains(where: { $0.id == id }) { tables.append(Table(family: id.family, name: id.name)) }
        case .deleteTable(let id):
            tables.remove(at: try tableIndex(id))
        case .addChain(let id, let chain):
            let t = try tableIndex(id)
            if !tables[t].chains.contains(where: { $0.name == chain.name }) {
                tables[t].chains.append(Chain(name: chain.name, hook: chain.hook))
            }
        case .deleteChain(let id, let name):
            let t = try tableIndex(id)
            guard let c = tables[t].chains.firstIndex(where: { $0.name == name }) else { throw refuse("no such chain") }
            guard tables[t].chains[c].rules.isEmpty, !tables[t].references(chain: name) else { throw refuse("busy") }
            tables[t].chains.remove(at: c)
        case .flushChain(let id, let name):
            let t = try tableIndex(id)
            guard let c = tables[t].chains.firstIndex(where: { $0.name == name }) else { throw refuse("no such chain") }
            tables[t].chains[c].rules = []
        case .addRule(let id, let chain, let rule):
            let t = try tableIndex(id)
            guard let c = tables[t].chains.firstIndex(where: { $0.name == chain }) else {
                throw refuse("no such chain")
            }
            for target in rule.referencedChains where !tables[t].chains.contains(where: { $0.name == target }) {
                throw refuse("jump to missing chain \(target)")
            }
            for set in rule.referencedSets where !tables[t].sets.contains(where: { $0.name == set }) {
                throw refuse("lookup in missing set \(set)")
            }
            tables[t].chains[c].rules.append(rule)
        case .addSet(let id, let set):
            let t = try tableIndex(id)
            if !tables[t].sets.contains(where: { $0.name == set.name }) {
                tables[t].sets.append(
                    set.declaration)
            }
        case .deleteSet(let id, let name):
            let t = try tableIndex(id)
            guard let s = tables[t].sets.firstIndex(where: { $0.name == name }) else { throw refuse("no such set") }
            guard !tables[t].chains.contains(where: { $0.rules.contains { $0.referencedSets.contains(name) } }) else {
                throw refuse("busy")
            }
            tables[t].sets.remove(at: s)
        case .addElements(let id, let name, let elements):
            let t = try tableIndex(id)
            guard let s = tables[t].sets.firstIndex(where: { $0.name == name }) else { throw refuse("no such set") }
            var keys = Set(tables[t].sets[s].elements.map(\.key))
            for element in elements {
                guard keys.insert(element.key).inserted else { throw refuse("element exists") }
                if case .verdict(.goto(let target))? = element.data,
                    !tables[t].chains.contains(where: { $0.name == target })
                {
                    throw refuse("goto missing chain \(target)")
                }
            }
            tables[t].sets[s].elements += elements
            if let capacity = tables[t].sets[s].capacity, tables[t].sets[s].elements.count > capacity {
                throw refuse("set full: \(capacity) elements")
            }
        case .deleteElements(let id, let name, let elements):
            let t = try tableIndex(id)
            guard let s = tables[t].sets.firstIndex(where: { $0.name == name }) else { throw refuse("no such set") }
            let doomed = Set(elements.map(\.key))
            let before = tables[t].sets[s].elements.count
            tables[t].sets[s].elements.removeAll { doomed.contains($0.key) }
            guard before - tables[t].sets[s].elements.count == doomed.count else { throw refuse("no such element") }
        }
    }
}

extension Table {
    func references(chain name: String) -> Bool {
        sets.contains { set in
            set.elements.contains { element in
                switch element.data {
                case .verdict(.goto(let target))?, .verdict(.jump(let target))?: target == name
                default: false
                }
            }
        } || chains.contains { $0.rules.contains { $0.referencedChains.contains(name) } }
    }
}

extension Rule {
    var referencedChains: [String] {
        statements.compactMap {
            switch $0 {
            case .verdict(.jump(let chain)), .verdict(.goto(let chain)): chain
            default: nil
            }
        }
    }

    var referencedSets: [String] {
        statements.compactMap {
            switch $0 {
            case .lookup(_, let set), .notInSet(_, let set): set
            case .verdictMap(_, let map), .destinationNATMap(_, _, let map), .updateMap(let map, _, _, _): map
            default: nil
            }
        }
    }
}
