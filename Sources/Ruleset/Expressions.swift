import Addressing

/// A packet or metadata field: what a rule matches on and what a set key is made of.
public enum Field: Hashable, Sendable {
    /// `ip saddr` / `ip6 saddr`
    case sourceAddress(IPFamily)
    /// `ip daddr` / `ip6 daddr`
    case destinationAddress(IPFamily)
    /// `meta l4proto`
    case transportProtocol
    /// `th dport`: the destination port of TCP, UDP and SCTP alike.
    case destinationPort
    /// `meta mark`
    case mark
    /// `numgen random mod N`: a random bucket in 0..<N.
    case randomBucket(modulus: UInt32)
    /// `ct original ip saddr` / `ct original ip6 saddr`: the connection's client, before any NAT.
    case originalSourceAddress(IPFamily)
    /// `ct original ip daddr`: the address the client connected to (the frontend, after DNAT too).
    case originalDestinationAddress(IPFamily)
    /// `ct original proto-dst`: the port the client connected to.
    case originalDestinationPort
}

/// A constant a field is compared with or a set element holds.
public enum Value: Hashable, Sendable {
    case address(IPAddress)
    /// A prefix shorter than the address; a full-length one is written as `.address`.
    case network(IPNetwork)
    /// An IP protocol number (6 tcp, 17 udp, 132 sctp).
    case transportProtocol(UInt8)
    case port(UInt16)
    case integer(UInt32)
}

public enum Verdict: Hashable, Sendable {
    case accept
    case drop
    case `return`
    case jump(String)
    case goto(String)
}

public enum ConnectionState: String, Hashable, Sendable, Comparable {
    case new, established, related, invalid, untracked

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// One statement of a rule; a rule's statements are evaluated in order.
public enum Statement: Hashable, Sendable {
    public enum Comparison: String, Hashable, Sendable {
        case equal = "=="
        case notEqual = "!="
    }

    /// `field == value` (or `!=`); a network value matches its prefix.
    case match(Field, Comparison, Value)
    /// `(field & mask) == value`
    case matchMasked(Field, mask: UInt32, Comparison, UInt32)
    /// `fib daddr type local`: the destination is an address of this host.
    case destinationIsLocal
    /// `fib saddr type local` (true) or `fib saddr type != local` (false): whether the source is
    /// an address of this host.
    case sourceIsLocal(Bool)
    /// `iifname "name"` (or `!=`): the interface the packet came in on, by name; a name ending in
    /// `*` matches every interface whose name starts with the rest (`"veth*"`).
    case inputInterfaceName(Comparison, String)
    /// `ct state …`
    case connectionState(Set<ConnectionState>)
    /// `ct status dnat`: the connection's destination was translated.
    case connectionDestinationTranslated
    /// `fields @set`
    case lookup([Field], set: String)
    /// `fields != @set`: the key is not in the set.
    case notInSet([Field], set: String)
    /// `fields vmap @map`
    case verdictMap([Field], map: String)
    /// `meta mark set meta mark | bits`
    case setMarkBits(UInt32)
    /// `meta mark set meta mark ^ bits`
    case toggleMarkBits(UInt32)
    /// `dnat ip to fields map @map`: destination address and port from a map lookup.
    case destinationNATMap(IPFamily, [Field], map: String)
    /// `masquerade` (fully random source ports when `fullyRandom`).
    case masquerade(fullyRandom: Bool)
    /// `reject with tcp reset` (needs a TCP match before it) or an ICMP port-unreachable `reject`.
    case reject(RejectKind)
    /// `update @map { key timeout Ns : data }`: adds the element from the packet path, or
    /// restarts its timeout when it is there.
    case updateMap(map: String, key: [Field], data: [Field], timeoutSeconds: UInt32)
    case verdict(Verdict)

    public enum RejectKind: Hashable, Sendable {
        case tcpReset
        case portUnreachable
    }
}

extension Value: Comparable {
    /// Values of one field compare numerically (addresses, ports, numbers); values of
    /// different kinds, which no key mixes, by kind.
    public static func < (lhs: Value, rhs: Value) -> Bool {
        switch (lhs, rhs) {
        case (.address(let a), .address(let b)): a < b
        case (.network(let a), .network(let b)): a < b
        case (.transportProtocol(let a), .transportProtocol(let b)): a < b
        case (.port(let a), .port(let b)): a < b
        case (.integer(let a), .integer(let b)): a < b
        default: lhs.kind < rhs.kind
        }
    }

    private var kind: Int {
        switch self {
        case .address: 0
        case .network: 1
        case .transportProtocol: 2
        case .port: 3
        case .integer: 4
        }
    }
}

extension Value {
    public var isNetwork: Bool {
        if case .network = self { true } else { false }
    }

    public static let tcp = Value.transportProtocol(6)
    public static let udp = Value.transportProtocol(17)
    public static let sctp = Value.transportProtocol(132)
}
