/// A kernel expression as nf_tables runs it: the register machine below the IR's statements.
/// Plain values, so lowering and lifting are pure and testable without a kernel; the kernel
/// layer only copies these to and from libnftnl objects.
enum Expression: Hashable, Sendable {
    case payload(base: PayloadBase, offset: UInt32, length: UInt32, destination: Register)
    case meta(MetaKey, destination: Register)
    case setMeta(MetaKey, source: Register)
    case compare(source: Register, CompareOperator, data: [UInt8])
    case bitwise(source: Register, destination: Register, length: UInt32, mask: [UInt8], xor: [UInt8])
    /// `destination` is nil for a set membership test, `.verdict` for a verdict map; an inverted
    /// membership test matches keys that are not in the set (NFT_LOOKUP_F_INV).
    case lookup(source: Register, set: String, destination: Register?, inverted: Bool = false)
    case immediateVerdict(VerdictCode, chain: String?)
    case conntrack(ConntrackKey, destination: Register)
    /// A conntrack field of the original direction (`ct original …`).
    case conntrackOriginal(ConntrackKey, destination: Register)
    /// `update @set { … }`: the key from `key` on, the data from `data` on.
    case dynamicSetUpdate(set: String, key: Register, data: Register, timeoutMilliseconds: UInt64)
    /// `fib daddr type`: the route type of the destination address.
    case fibDestinationType(destination: Register)
    /// `fib saddr type`: the route type of the source address.
    case fibSourceType(destination: Register)
    case randomNumber(modulus: UInt32, destination: Register)
    case destinationNAT(family: UInt32, address: Register, port: Register)
    case masquerade(flags: UInt32)
    case reject(type: UInt32, code: UInt8)
    /// Byte order conversion in place. nft writes one that changes nothing (`hton` in 2-byte
    /// units over the 1-byte `meta l4proto`) before the lookup of an interval concatenation;
    /// nfcompile only reads it, so that a table nft loaded from our text reads back as ours.
    case byteorder(source: Register, destination: Register, toNetwork: Bool, length: UInt32, size: UInt32)

    enum PayloadBase: UInt32, Hashable, Sendable {
        case network = 1  // NFT_PAYLOAD_NETWORK_HEADER
        case transport = 2  // NFT_PAYLOAD_TRANSPORT_HEADER
    }

    enum MetaKey: UInt32, Hashable, Sendable {
        case mark = 3  // NFT_META_MARK
        case inputInterfaceName = 6  // NFT_META_IIFNAME
        case l4proto = 16  // NFT_META_L4PROTO
    }

    enum CompareOperator: UInt32, Hashable, Sendable {
        case equal = 0  // NFT_CMP_EQ
        case notEqual = 1  // NFT_CMP_NEQ
    }

    enum ConntrackKey: UInt32, Hashable, Sendable {
        case state = 0  // NFT_CT_STATE
        case status = 2  // NFT_CT_STATUS
        case protocolDestination = 12  // NFT_CT_PROTO_DST
        case sourceIP = 19  // NFT_CT_SRC_IP
        case destinationIP = 20  // NFT_CT_DST_IP
        case sourceIP6 = 21  // NFT_CT_SRC_IP6
        case destinationIP6 = 22  // NFT_CT_DST_IP6
    }
}

/// An nf_tables register. 0 is the verdict register; 1…4 are the 16-byte registers, 8…23 the
/// 4-byte ones over the same storage. nft puts the field at byte offset `o` of a concatenation in
/// the 16-byte register when `o` is a multiple of 16 and in a 4-byte one otherwise; so do we,
/// so that `nft list` and `nft --debug=netlink` show our rules exactly as theirs.
struct Register: Hashable, Sendable {
    var number: UInt32

    static let verdict = Register(number: 0)

    init(number: UInt32) { self.number = number }

    /// The register for a field at `offset` bytes into the register file.
    init(offset: Int) {
        number = offset % 16 == 0 ? UInt32(offset / 16 + 1) : UInt32(8 + offset / 4)
    }

    /// Byte offset into the register file; nil for the verdict register.
    var offset: Int? {
        switch number {
        case 1...4: Int(number - 1) * 16
        case 8...23: Int(number - 8) * 4
        default: nil
        }
    }
}

/// Verdict codes as the kernel writes them (NF_DROP, NF_ACCEPT, NFT_RETURN, NFT_JUMP, NFT_GOTO).
enum VerdictCode: Int32, Hashable, Sendable {
    case drop = 0
    case accept = 1
    case `return` = -5
    case jump = -3
    case goto = -4
}
