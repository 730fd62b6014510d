import Addressing
import Ruleset

/// Statements → kernel expressions, exactly as nft 1.0.6 writes the same rule text (checked
/// with `nft --debug=netlink`), so rules we write list back through `nft list ruleset` unchanged.
enum Lowering {
    static let first = Register(number: 1)

    static func expressions(for rule: Rule, family: TableFamily) -> [Expression] {
        rule.statements.flatMap { expressions(for: $0, family: family) }
    }

    static func expressions(for statement: Statement, family: TableFamily) -> [Expression] {
        switch statement {
        case .match(let field, let comparison, let value):
            return match(field, comparison, value)
        case .matchMasked(let field, let mask, let comparison, let value):
            return [
                field.load(into: first),
                .bitwise(
                    source: first, destination: first, length: 4, mask: ValueCoding.hostOrder(mask),
                    xor: ValueCoding.hostOrder(0)),
                .compare(source: first, compareOperator(comparison), data: ValueCoding.hostOrder(value)),
            ]
        case .destinationIsLocal:
            return [
                .fibDestinationType(destination: first),
                .compare(source: first, .equal, data: ValueCoding.hostOrder(2)),  // RTN_LOCAL
            ]
        case .sourceIsLocal(let local):
            return [
                .fibSourceType(destination: first),
                .compare(source: first, local ? .equal : .notEqual, data: ValueCoding.hostOrder(2)),  // RTN_LOCAL
            ]
        case .inputInterfaceName(let comparison, let name):
            return [
                .meta(.inputInterfaceName, destination: first),
                .compare(source: first, compareOperator(comparison), data: InterfaceName.bytes(name)),
            ]
        case .connectionState(let states):
            return bitTest(.conntrack(.state, destination: first), bits: states.reduce(0) { $0 | $1.bit })
        case .connectionDestinationTranslated:
            return bitTest(.conntrack(.status, destination: first), bits: 0x20)  // IPS_DST_NAT
        case .lookup(let fields, let set):
            return load(fields) + [.lookup(source: first, set: set, destination: nil)]
        case .notInSet(let fields, let set):
            return load(fields) + [.lookup(source: first, set: set, destination: nil, inverted: true)]
        case .verdictMap(let fields, let map):
            return load(fields) + [.lookup(source: first, set: map, destination: .verdict)]
        case .setMarkBits(let bits):
            return markUpdate(mask: ~bits, xor: bits)
        case .toggleMarkBits(let bits):
            return markUpdate(mask: 0xffff_ffff, xor: bits)
        case .destinationNATMap(let addressFamily, let fields, let map):
            // The map's data, address then port, lands in consecutive registers from the first.
            let portRegister = Register(offset: Field.destinationAddress(addressFamily).paddedLength)
            return load(fields) + [
                .lookup(source: first, set: map, destination: first),
                .destinationNAT(family: addressFamily.nfproto, address: first, port: portRegister),
            ]
        case .masquerade(let fullyRandom):
            return [.masquerade(flags: fullyRandom ? 0x10 : 0)]  // NF_NAT_RANGE_PROTO_RANDOM_FULLY
        case .reject(.tcpReset):
            return [.reject(type: 1, code: 0)]  // NFT_REJECT_TCP_RST
        case .reject(.portUnreachable):
            // NFT_REJECT_ICMP_UNREACH with ICMP port unreachable (3) or ICMPv6 port unreachable (4).
            return [.reject(type: 0, code: family == .ip ? 3 : 4)]
        case .updateMap(let map, let key, let data, let timeout):
            let dataOffset = updateDataOffset(key: key, data: data)
            return load(key) + load(data, from: dataOffset) + [
                .dynamicSetUpdate(
                    set: map, key: first, data: Register(offset: dataOffset),
                    timeoutMilliseconds: UInt64(timeout) * 1000)
            ]
        case .verdict(let verdict):
            return [verdict.immediate]
        }
    }

    /// Where a dynamic map update's data follows its key: from the next 16-byte register, as nft
    /// puts it, unless the data would then pass the end of the 64 bytes of registers (an IPv6
    /// affinity entry: a 40-byte key, 20 bytes of data) and the kernel would refuse the rule with
    /// ERANGE. Then right after the key, in 4-byte registers: the kernel takes it, nft 1.0.6
    /// cannot write it (it aborts on the rule's text) but lists it.
    static func updateDataOffset(key: [Field], data: [Field]) -> Int {
        let keyLength = key.reduce(0) { $0 + $1.paddedLength }
        let nextRegister = (keyLength + 15) / 16 * 16
        return nextRegister + data.reduce(0) { $0 + $1.paddedLength } <= 64 ? nextRegister : keyLength
    }

    /// Loads a concatenation into consecutive registers from the first (or from `start` bytes on).
    static func load(_ fields: [Field], from start: Int = 0) -> [Expression] {
        var offset = start
        return fields.map { field in
            defer { offset += field.paddedLength }
            return field.load(into: Register(offset: offset))
        }
    }

    private static func match(_ field: Field, _ comparison: Statement.Comparison, _ value: Value) -> [Expression] {
        guard case .network(let network) = value, let location = field.payloadLocation else {
            return [
                field.load(into: first),
                .compare(source: first, compareOperator(comparison), data: ValueCoding.bytes(value)),
            ]
        }
        // A prefix on a byte boundary loads just its bytes; any other loads the address and masks it.
        let prefixBytes = network.prefixLength / 8
        if network.prefixLength % 8 == 0 {
            return [
                .payload(base: location.base, offset: location.offset, length: UInt32(prefixBytes), destination: first),
                .compare(
                    source: first, compareOperator(comparison), data: Array(network.address.bytes.prefix(prefixBytes))),
            ]
        }
        let mask = IPNetwork.mask(prefixLength: network.prefixLength, byteCount: field.byteLength)
        return [
            field.load(into: first),
            .bitwise(
                source: first, destination: first, length: UInt32(field.byteLength), mask: mask,
                xor: [UInt8](repeating: 0, count: field.byteLength)),
            .compare(source: first, compareOperator(comparison), data: network.address.bytes),
        ]
    }

    private static func bitTest(_ load: Expression, bits: UInt32) -> [Expression] {
        [
            load,
            .bitwise(
                source: first, destination: first, length: 4, mask: ValueCoding.hostOrder(bits),
                xor: ValueCoding.hostOrder(0)),
            .compare(source: first, .notEqual, data: ValueCoding.hostOrder(0)),
        ]
    }

    private static func markUpdate(mask: UInt32, xor: UInt32) -> [Expression] {
        [
            .meta(.mark, destination: first),
            .bitwise(
                source: first, destination: first, length: 4, mask: ValueCoding.hostOrder(mask),
                xor: ValueCoding.hostOrder(xor)),
            .setMeta(.mark, source: first),
        ]
    }

    static func compareOperator(_ comparison: Statement.Comparison) -> Expression.CompareOperator {
        comparison == .equal ? .equal : .notEqual
    }
}

extension ConnectionState {
    /// The kernel's ct state bits (NF_CT_STATE_BIT and friends).
    var bit: UInt32 {
        switch self {
        case .invalid: 1
        case .established: 2
        case .related: 4
        case .new: 8
        case .untracked: 64
        }
    }
}

extension IPFamily {
    /// NFPROTO_IPV4 / NFPROTO_IPV6.
    var nfproto: UInt32 { self == .ipv4 ? 2 : 10 }
}

extension TableFamily {
    var nfproto: UInt32 { addressFamily.nfproto }
}

extension IPNetwork {
    /// The netmask of a prefix length, as bytes.
    static func mask(prefixLength: Int, byteCount: Int) -> [UInt8] {
        (0..<byteCount).map { index in
            let bits = max(0, min(8, prefixLength - index * 8))
            return bits == 0 ? 0 : ~UInt8(0xff >> bits)
        }
    }
}

extension Verdict {
    var immediate: Expression {
        switch self {
        case .accept: .immediateVerdict(.accept, chain: nil)
        case .drop: .immediateVerdict(.drop, chain: nil)
        case .return: .immediateVerdict(.return, chain: nil)
        case .jump(let chain): .immediateVerdict(.jump, chain: chain)
        case .goto(let chain): .immediateVerdict(.goto, chain: chain)
        }
    }

    init?(code: VerdictCode, chain: String?) {
        switch (code, chain) {
        case (.accept, nil): self = .accept
        case (.drop, nil): self = .drop
        case (.return, nil): self = .return
        case (.jump, let chain?): self = .jump(chain)
        case (.goto, let chain?): self = .goto(chain)
        default: return nil
        }
    }
}

/// Interface names as nft compares them: a whole name NUL-padded to IFNAMSIZ (16 bytes), a
/// wildcard (`veth*`) as its prefix alone, without NUL, so that only those bytes are compared.
enum InterfaceName {
    static let size = 16  // IFNAMSIZ

    static func bytes(_ name: String) -> [UInt8] {
        if name.hasSuffix("*") { return Array(name.dropLast().utf8) }
        let bytes = Array(name.utf8.prefix(size - 1))
        return bytes + [UInt8](repeating: 0, count: size - bytes.count)
    }

    /// The name a comparison's data stands for; nil when it is not one `bytes` writes.
    static func name(_ data: [UInt8]) -> String? {
        guard let end = data.firstIndex(of: 0) else {
            return data.isEmpty ? nil : String(decoding: data, as: UTF8.self) + "*"
        }
        guard data.count == size, end > 0, data[end...].allSatisfy({ $0 == 0 }) else { return nil }
        return String(decoding: data[..<end], as: UTF8.self)
    }
}
