import Addressing
import Ruleset

/// Kernel expressions → statements: the inverse of `Lowering`. Returns nil for any sequence
/// nfcompile does not write, so a rule someone else put in our table is noticed, not misread.
enum Lifting {
    /// What a register holds while a statement is being recognised.
    private enum Loaded {
        case field(Field)
        /// The first `bytes` bytes of an address field (a prefix match on a byte boundary).
        case prefix(Field, bytes: Int)
        case conntrack(Expression.ConntrackKey)
        case fibType
        case fibSourceType
        case inputInterfaceName
    }

    private struct Pending {
        var register: Register
        var loaded: Loaded
        var mask: [UInt8]?
        var xor: [UInt8]?
    }

    static func rule(from expressions: [Expression]) -> Rule? {
        var statements: [Statement] = []
        var pending: [Pending] = []
        var index = 0
        while index < expressions.count {
            let expression = expressions[index]
            index += 1
            switch expression {
            case .payload(let base, let offset, let length, let destination):
                let full = Field(loadedBy: expression)
                let prefixOf = [
                    Field.sourceAddress(.ipv4), .destinationAddress(.ipv4), .sourceAddress(.ipv6),
                    .destinationAddress(.ipv6),
                ].first {
                    $0.payloadLocation?.base == base && $0.payloadLocation?.offset == offset
                        && Int(length) < $0.byteLength
                }
                if let full {
                    pending.append(Pending(register: destination, loaded: .field(full)))
                } else if let prefixOf {
                    pending.append(Pending(register: destination, loaded: .prefix(prefixOf, bytes: Int(length))))
                } else {
                    return nil
                }
            case .meta(.inputInterfaceName, let destination):
                pending.append(Pending(register: destination, loaded: .inputInterfaceName))
            case .meta(_, let destination), .randomNumber(_, let destination), .conntrackOriginal(_, let destination):
                guard let field = Field(loadedBy: expression) else { return nil }
                pending.append(Pending(register: destination, loaded: .field(field)))
            case .conntrack(let key, let destination):
                pending.append(Pending(register: destination, loaded: .conntrack(key)))
            case .fibDestinationType(let destination):
                pending.append(Pending(register: destination, loaded: .fibType))
            case .fibSourceType(let destination):
                pending.append(Pending(register: destination, loaded: .fibSourceType))
            case .bitwise(let source, let destination, _, let mask, let xor):
                guard source == destination, let last = pending.indices.last, pending[last].register == source,
                    pending[last].mask == nil
                else { return nil }
                pending[last].mask = mask
                pending[last].xor = xor
            case .compare(let source, let op, let data):
                guard pending.count == 1, pending[0].register == source,
                    let statement = comparison(pending[0], op == .equal ? .equal : .notEqual, data)
                else { return nil }
                statements.append(statement)
                pending = []
            case .lookup(let source, let set, let destination, let inverted):
                guard source == Lowering.first, let fields = concatenation(pending), !inverted || destination == nil
                else { return nil }
                pending = []
                switch destination {
                case nil: statements.append(inverted ? .notInSet(fields, set: set) : .lookup(fields, set: set))
                case .verdict?: statements.append(.verdictMap(fields, map: set))
                case let register? where register == Lowering.first:
                    guard index < expressions.count,
                        case .destinationNAT(let nfproto, let address, _) = expressions[index], address == register,
                        let family = IPFamily.allCases.first(where: { $0.nfproto == nfproto })
                    else { return nil }
                    index += 1
                    statements.append(.destinationNATMap(family, fields, map: set))
                default: return nil
                }
            case .setMeta(.mark, let source):
                guard pending.count == 1, pending[0].register == source, case .field(.mark) = pending[0].loaded,
                    let mask = pending[0].mask.map(ValueCoding.fromHostOrder),
                    let xor = pending[0].xor.map(ValueCoding.fromHostOrder)
                else { return nil }
                if mask == ~xor {
                    statements.append(.setMarkBits(xor))
                } else if mask == 0xffff_ffff {
                    statements.append(.toggleMarkBits(xor))
                } else {
                    return nil
                }
                pending = []
            case .immediateVerdict(let code, let chain):
                guard pending.isEmpty, let verdict = Verdict(code: code, chain: chain) else { return nil }
                statements.append(.verdict(verdict))
            case .masquerade(let flags):
                guard pending.isEmpty, flags & ~0x10 == 0 else { return nil }
                statements.append(.masquerade(fullyRandom: flags & 0x10 != 0))
            case .reject(let type, let code):
                guard pending.isEmpty else { return nil }
                switch (type, code) {
                case (1, 0): statements.append(.reject(.tcpReset))
                case (0, 3), (0, 4): statements.append(.reject(.portUnreachable))
                default: return nil
                }
            case .byteorder(let source, let destination, true, 1, 2):
                // nft's no-op conversion of `meta l4proto` in an interval concatenation's key.
                guard source == destination, let last = pending.last, last.register == source,
                    case .field(.transportProtocol) = last.loaded
                else { return nil }
            case .dynamicSetUpdate(let set, let keyRegister, let dataRegister, let timeout):
                guard keyRegister == Lowering.first, let dataOffset = dataRegister.offset, timeout % 1000 == 0,
                    let seconds = UInt32(exactly: timeout / 1000)
                else { return nil }
                let keyPart = pending.filter { ($0.register.offset ?? .max) < dataOffset }
                guard let key = concatenation(keyPart),
                    let data = concatenation(Array(pending.dropFirst(keyPart.count)), from: dataOffset),
                    Lowering.updateDataOffset(key: key, data: data) == dataOffset
                else { return nil }
                pending = []
                statements.append(.updateMap(map: set, key: key, data: data, timeoutSeconds: seconds))
            case .setMeta, .destinationNAT, .byteorder:
                return nil
            }
        }
        return pending.isEmpty ? Rule(statements) : nil
    }

    private static func comparison(_ loaded: Pending, _ comparison: Statement.Comparison, _ data: [UInt8])
        -> Statement?
    {
        let mask = loaded.mask
        let xorIsZero = loaded.xor.map { $0.allSatisfy { $0 == 0 } } ?? true
        guard xorIsZero else { return nil }
        switch loaded.loaded {
        case .fibType where mask == nil && comparison == .equal && ValueCoding.fromHostOrder(data) == 2:
            return .destinationIsLocal
        case .fibSourceType where mask == nil && ValueCoding.fromHostOrder(data) == 2:
            return .sourceIsLocal(comparison == .equal)
        case .inputInterfaceName where mask == nil:
            return InterfaceName.name(data).map { .inputInterfaceName(comparison, $0) }
        case .conntrack(let key) where comparison == .notEqual && ValueCoding.fromHostOrder(data) == 0:
            guard let bits = mask.map(ValueCoding.fromHostOrder) else { return nil }
            if key == .status { return bits == 0x20 ? .connectionDestinationTranslated : nil }
            let states = Set(
                [ConnectionState.new, .established, .related, .invalid, .untracked].filter {
                    bits & $0.bit != 0
                })
            return states.reduce(0) { $0 | $1.bit } == bits ? .connectionState(states) : nil
        case .field(.mark) where mask != nil:
            return .matchMasked(
                .mark, mask: ValueCoding.fromHostOrder(mask!), comparison, ValueCoding.fromHostOrder(data))
        case .field(let field) where mask == nil:
            return ValueCoding.value(data[...], as: field).map { .match(field, comparison, $0) }
        case .field(let field) where field.payloadLocation?.base == .network:
            // An address masked by a netmask: a prefix that does not end on a byte boundary.
            guard let mask, let length = prefixLength(mask), let address = IPAddress(bytes: data),
                let network = IPNetwork(address: address, prefixLength: length), network.address == address
            else { return nil }
            return .match(field, comparison, .network(network))
        case .prefix(let field, let bytes) where mask == nil:
            let padded = data + [UInt8](repeating: 0, count: field.byteLength - bytes)
            guard data.count == bytes, let address = IPAddress(bytes: padded),
                let network = IPNetwork(address: address, prefixLength: bytes * 8)
            else { return nil }
            return .match(field, comparison, .network(network))
        default:
            return nil
        }
    }

    /// The fields of a concatenation, in register order, each where `Lowering.load` puts it.
    private static func concatenation(_ pending: [Pending], from start: Int = 0) -> [Field]? {
        var offset = start
        var fields: [Field] = []
        for entry in pending {
            guard entry.mask == nil, case .field(let field) = entry.loaded, entry.register.offset == offset else {
                return nil
            }
            fields.append(field)
            offset += field.paddedLength
        }
        return fields.isEmpty ? nil : fields
    }

    /// The length of a contiguous netmask, or nil when the mask has holes.
    private static func prefixLength(_ mask: [UInt8]) -> Int? {
        let bits: [Bool] = mask.flatMap { byte in (0..<8).map { (byte & (UInt8(0x80) >> $0)) != 0 } }
        let length = bits.prefix { $0 }.count
        return bits.dropFirst(length).contains(true) ? nil : length
    }
}
