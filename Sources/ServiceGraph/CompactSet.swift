/// A set that keeps a single element inline. The graph builder keeps one per explicit address,
/// node port, frontend and service: tens of thousands in a large cluster, nearly all with one
/// element, for which a `Set` allocates a hash table of its own (about 150 bytes).
struct CompactSet<Element: Hashable & Sendable>: Sequence, ExpressibleByArrayLiteral, Sendable {
    private enum Storage: Sendable {
        case empty
        case one(Element)
        case many(Set<Element>)
    }

    private var storage = Storage.empty

    init(arrayLiteral elements: Element...) {
        for element in elements { insert(element) }
    }

    var isEmpty: Bool {
        if case .empty = storage { true } else { false }
    }

    var count: Int {
        switch storage {
        case .empty: 0
        case .one: 1
        case .many(let elements): elements.count
        }
    }

    func contains(_ element: Element) -> Bool {
        switch storage {
        case .empty: false
        case .one(let only): only == element
        case .many(let elements): elements.contains(element)
        }
    }

    mutating func insert(_ element: Element) {
        switch storage {
        case .empty: storage = .one(element)
        case .one(let only): if only != element { storage = .many([only, element]) }
        case .many(var elements):
            storage = .empty  // the set's only reference while it changes: no copy
            elements.insert(element)
            storage = .many(elements)
        }
    }

    mutating func remove(_ element: Element) {
        switch storage {
        case .empty: break
        case .one(let only): if only == element { storage = .empty }
        case .many(var elements):
            storage = .empty
            elements.remove(element)
            storage = elements.count == 1 ? .one(elements.first!) : .many(elements)
        }
    }

    struct Iterator: IteratorProtocol {
        fileprivate var only: Element?
        fileprivate var others: Set<Element>.Iterator?

        mutating func next() -> Element? {
            if let only {
                self.only = nil
                return only
            }
            return others?.next()
        }
    }

    func makeIterator() -> Iterator {
        switch storage {
        case .empty: Iterator(only: nil, others: nil)
        case .one(let only): Iterator(only: only, others: nil)
        case .many(let elements): Iterator(only: nil, others: elements.makeIterator())
        }
    }

    var underestimatedCount: Int { count }
}
