import Addressing

extension Ruleset {
    /// The same ruleset with everything whose order the kernel does not keep put in a fixed
    /// order: tables, sets and chains by name, set elements by key. Rule order is kept: it
    /// matters. The capacity of a set sized by its elements is left out: while they fit (the
    /// kernel refuses more) it changes nothing a packet sees, and the kernel's set keeps the one it
    /// was declared with while it serves (`NamedSet.canStay(as:)`). Two rulesets that act alike
    /// on every packet have equal canonical forms.
    public var canonical: Ruleset {
        Ruleset(
            tables: tables.map(\.canonical).sorted { ($0.family.rawValue, $0.name) < ($1.family.rawValue, $1.name) })
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
        if isSizedByElements { copy.capacity = nil }
        return copy
    }
}

extension [SetElement] {
    /// Sorted by key, numerically field by field: the order nfcompile prints elements in.
    /// Stable: elements with equal keys keep their order; `unique` keeps only the first of them.
    /// The elements must be of one set (as packed keys are compared).
    public func sortedByKey(unique: Bool = false) -> [SetElement] {
        // Sorting packed keys and then indexes keeps the comparisons free of allocation and
        // reference counting: rulesets have hundreds of thousands of elements. Keys of two words
        // (all of an IPv4 table's) are sorted as such: a third of the memory, and faster.
        guard let narrowKeys else { return sorted(by: map { PackedKey($0.key) }, unique: unique) }
        return sorted(by: narrowKeys, unique: unique)
    }

    /// Every element's key in two words, when they all fit (see `PackedKey.narrow`).
    var narrowKeys: [PackedKey.Narrow]? {
        var keys: [PackedKey.Narrow] = []
        keys.reserveCapacity(count)
        for element in self {
            guard let narrow = PackedKey(element.key).narrow else { return nil }
            keys.append(narrow)
        }
        return keys
    }

    private func sorted<Key: Comparable>(by keys: [Key], unique: Bool) -> [SetElement] {
        let order = indices.sorted { a, b in keys[a] != keys[b] ? keys[a] < keys[b] : a < b }
        guard unique else { return order.map { self[$0] } }
        var result: [SetElement] = []
        result.reserveCapacity(count)
        for (position, index) in order.enumerated() where position == 0 || keys[order[position - 1]] != keys[index] {
            result.append(self[index])
        }
        return result
    }
}

/// A key's values packed into fixed words that order like the values (field by field,
/// numerically): an IPv6 address takes two words; IPv4 addresses, protocols, ports and numbers
/// share words. Within one set (whose key's fields and address family are fixed) two keys pack
/// alike exactly when they are equal, so a packed key stands for its key without an allocation
/// of its own.
public struct PackedKey: Hashable, Comparable, Sendable {
    private var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)
    /// Keys longer than the words hold (none that nfcompile writes) fall back to the values.
    private var overflow: [Value] = []

    public init(_ key: [Value]) {
        var count = 0
        var small: UInt64 = 0
        var smallBits = 0
        func append(_ word: UInt64) {
            switch count {
            case 0: words.0 = word
            case 1: words.1 = word
            case 2: words.2 = word
            case 3: words.3 = word
            case 4: words.4 = word
            case 5: words.5 = word
            default: break
            }
            count += 1
        }
        func flush() {
            if smallBits > 0 { append(small) }
            small = 0
            smallBits = 0
        }
        func push(_ value: UInt64, bits: Int) {
            if smallBits + bits > 64 { flush() }
            small = small << UInt64(bits) | value
            smallBits += bits
        }
        func push(_ address: IPAddress) {
            let (high, low) = address.orderedWords
            if address.family == .ipv4 {
                push(low, bits: 32)
            } else {
                flush()
                append(high)
                append(low)
            }
        }
        for value in key {
            switch value {
            case .address(let address): push(address)
            case .network(let network):
                push(network.address)
                push(UInt64(network.prefixLength), bits: 8)
            case .transportProtocol(let number): push(UInt64(number), bits: 8)
            case .port(let port): push(UInt64(port), bits: 16)
            case .integer(let integer): push(UInt64(integer), bits: 32)
            }
        }
        flush()
        if count > 6 {
            words = (0, 0, 0, 0, 0, 0)
            overflow = key
        }
    }

    /// The key in two words, when it fits (every key of an IPv4 table does): for tables that keep
    /// a key per element for long.
    public var narrow: Narrow? {
        guard overflow.isEmpty, words.2 == 0, words.3 == 0, words.4 == 0, words.5 == 0 else { return nil }
        return Narrow(first: words.0, second: words.1)
    }

    /// A packed key of at most two words (see `narrow`); it orders as the key does.
    public struct Narrow: Hashable, Comparable, Sendable {
        let first: UInt64
        let second: UInt64

        /// The key in one word, when its second is empty (an IPv4 address, address pair or
        /// frontend). Within one set, keys with one word are told apart by it.
        public var word: UInt64? { second == 0 ? first : nil }

        public static func < (lhs: Narrow, rhs: Narrow) -> Bool { (lhs.first, lhs.second) < (rhs.first, rhs.second) }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
        hasher.combine(words.4)
        hasher.combine(words.5)
        if !overflow.isEmpty { hasher.combine(overflow) }
    }

    public static func < (lhs: PackedKey, rhs: PackedKey) -> Bool {
        if !lhs.overflow.isEmpty || !rhs.overflow.isEmpty {
            return lhs.overflow.lexicographicallyPrecedes(rhs.overflow)
        }
        return lhs.words < rhs.words
    }

    public static func == (lhs: PackedKey, rhs: PackedKey) -> Bool {
        lhs.words == rhs.words && lhs.overflow == rhs.overflow
    }
}
