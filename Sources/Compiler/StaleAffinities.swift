import Addressing
import Ruleset

/// A remembered client that a ruleset change leaves pointing at an endpoint its frontend no
/// longer balances to (the endpoint went, or the Service's affinity was turned off or changed).
/// Its entries are deleted after the commit, as kube-proxy drops an endpoint's affinity set
/// with the endpoint; otherwise the client would keep reaching a pod that is gone.
public struct StaleAffinity: Hashable, Sendable {
    public var table: TableID
    /// The affinity map, declared as the compiler declares it (to read its elements).
    public var map: NamedSet
    /// The frontend's key: `address . protocol . port`, or `protocol . port` for a NodePort.
    public var frontend: [Value]
    /// The endpoint's address.
    public var endpoint: IPAddress
}

extension Transaction {
    /// The affinities this transaction makes stale: a frontend and endpoint taken out of an
    /// affinity set and not put back into the same one. Read from the element changes alone.
    public func staleAffinities() -> [StaleAffinity] {
        struct Entry: Hashable {
            var set: String
            var affinity: StaleAffinity
        }
        var removed: Set<Entry> = []
        var added: Set<Entry> = []
        for operation in operations {
            switch operation {
            case .deleteElements(let table, let set, let elements):
                removed.formUnion(
                    Self.affinities(elements, in: set, table: table).map { Entry(set: set, affinity: $0) })
            case .addElements(let table, let set, let elements):
                added.formUnion(Self.affinities(elements, in: set, table: table).map { Entry(set: set, affinity: $0) })
            default: break
            }
        }
        return Set(removed.subtracting(added).map(\.affinity)).sorted {
            ($0.table.family.rawValue, $0.map.name, "\($0.frontend) \($0.endpoint)")
                < ($1.table.family.rawValue, $1.map.name, "\($1.frontend) \($1.endpoint)")
        }
    }

    private static func affinities(_ elements: [SetElement], in set: String, table: TableID) -> [StaleAffinity] {
        guard let timeout = FrontendKind.affinitySetKind(set) else { return [] }
        let map = TableBuilder.affinityMap(timeout.kind, family: table.family.addressFamily)
        return elements.compactMap { element in
            guard case .address(let endpoint)? = element.key.last else { return nil }
            return StaleAffinity(table: table, map: map, frontend: Array(element.key.dropLast()), endpoint: endpoint)
        }
    }
}
