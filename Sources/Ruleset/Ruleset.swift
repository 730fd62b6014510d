import Addressing

/// The ruleset IR: what nfcompile wants the kernel to hold, as plain values.
///
/// One IR, several readers: the nft text renderer (dry-run), and later the netlink encoder,
/// the kernel-dump decoder and the diff engine. Order is meaningful and deterministic:
/// the compiler emits everything sorted, so equal graphs give equal IR.
public struct Ruleset: Hashable, Sendable {
    public var tables: [Table]

    public init(tables: [Table]) { self.tables = tables }
}

/// nftables table families nfcompile uses.
public enum TableFamily: String, Hashable, Sendable, CaseIterable {
    case ip
    case ip6

    public init(_ family: IPFamily) { self = family == .ipv4 ? .ip : .ip6 }

    public var addressFamily: IPFamily { self == .ip ? .ipv4 : .ipv6 }
}

public struct Table: Hashable, Sendable {
    public var family: TableFamily
    public var name: String
    /// Sets and maps, declared before the chains that use them.
    public var sets: [NamedSet]
    public var chains: [Chain]

    public init(family: TableFamily, name: String, sets: [NamedSet] = [], chains: [Chain] = []) {
        self.family = family
        self.name = name
        self.sets = sets
        self.chains = chains
    }
}

public struct Chain: Hashable, Sendable {
    public var name: String
    /// Set for base chains, which the kernel calls from a netfilter hook.
    public var hook: Hook?
    public var rules: [Rule]

    public init(name: String, hook: Hook? = nil, rules: [Rule] = []) {
        self.name = name
        self.hook = hook
        self.rules = rules
    }

    public struct Hook: Hashable, Sendable {
        public enum ChainType: String, Hashable, Sendable { case filter, nat }
        public enum Point: String, Hashable, Sendable { case prerouting, input, forward, output, postrouting }

        public var type: ChainType
        public var point: Point
        /// Numeric priority; nft 1.0.6 rejects some symbolic names on some hooks, numbers always work.
        public var priority: Int32

        public init(type: ChainType, point: Point, priority: Int32) {
            self.type = type
            self.point = point
            self.priority = priority
        }
    }
}

public struct Rule: Hashable, Sendable {
    public var statements: [Statement]

    public init(_ statements: [Statement]) { self.statements = statements }
}

/// A named set (no data) or map (data: values or a verdict) with its elements.
public struct NamedSet: Hashable, Sendable {
    public enum Data: Hashable, Sendable {
        case verdict
        case fields([Field])
    }

    public var name: String
    /// The key as a concatenation of fields; each field fixes its type and length.
    public var key: [Field]
    /// nil for a plain set.
    public var data: Data?
    /// `flags interval`: the key's last field holds prefixes (`.network`, full-length ones
    /// too), and a key matches every address of its prefix.
    public var isInterval: Bool
    /// `flags dynamic,timeout`: the packet path fills the set, up to `capacity` elements that
    /// expire; nfcompile never writes, reads or compares its elements.
    public var isDynamic: Bool
    /// `size`: the most elements the kernel lets the set hold. A hash set declared with one is a
    /// table of fixed size, allocated once; without, it starts with 4 buckets and doubles, with a
    /// rehash each time, while its elements go in (see `NamedSet.capacity(for:)`).
    public var capacity: UInt32?
    public var elements: [SetElement]

    public init(
        name: String, key: [Field], data: Data? = nil, isInterval: Bool = false, isDynamic: Bool = false,
        capacity: UInt32? = nil, elements: [SetElement] = []
    ) {
        self.name = name
        self.key = key
        self.data = data
        self.isInterval = isInterval
        self.isDynamic = isDynamic
        self.capacity = capacity
        self.elements = elements
    }

    /// The declaration alone, without elements.
    public var declaration: NamedSet {
        NamedSet(name: name, key: key, data: data, isInterval: isInterval, isDynamic: isDynamic, capacity: capacity)
    }

    public var isMap: Bool { data != nil }
}

public struct SetElement: Hashable, Sendable {
    public enum Data: Hashable, Sendable {
        case verdict(Verdict)
        case values([Value])
    }

    public var key: [Value]
    public var data: Data?
    /// Shown by `nft list`; at most 128 bytes (nft's limit), longer text is cut.
    public var comment: String?

    public init(key: [Value], data: Data? = nil, comment: String? = nil) {
        self.key = key
        self.data = data
        self.comment = comment.map(SetElement.fitComment)
    }

    /// nft refuses element comments over 128 bytes; cut on a character boundary.
    static func fitComment(_ text: String) -> String {
        guard text.utf8.count > 128 else { return text }
        var result = ""
        for character in text {
            guard result.utf8.count + character.utf8.count <= 128 else { break }
            result.append(character)
        }
        return result
    }
}
