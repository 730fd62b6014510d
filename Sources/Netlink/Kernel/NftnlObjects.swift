internal import CNftnl
import Ruleset

// Owned libnftnl objects: each frees its C object when it goes out of scope, and lends the
// pointer only inside this module. None crosses a task boundary. Bind one to a local before
// passing its pointer to C: a temporary (`NftnlSet().pointer`) is freed as soon as the pointer
// is read, before the call runs.

struct NftnlTable: ~Copyable {
    let pointer: OpaquePointer
    init() { pointer = nftnl_table_alloc() }
    deinit { nftnl_table_free(pointer) }

    init(name: String) {
        self.init()
        setString(name) { nftnl_table_set_str(pointer, attribute(NFTNL_TABLE_NAME.rawValue), $0) }
    }
}

struct NftnlChain: ~Copyable {
    let pointer: OpaquePointer
    init() { pointer = nftnl_chain_alloc() }
    deinit { nftnl_chain_free(pointer) }

    init(table: String, name: String) {
        self.init()
        setString(table) { nftnl_chain_set_str(pointer, attribute(NFTNL_CHAIN_TABLE.rawValue), $0) }
        setString(name) { nftnl_chain_set_str(pointer, attribute(NFTNL_CHAIN_NAME.rawValue), $0) }
    }
}

struct NftnlRule: ~Copyable {
    let pointer: OpaquePointer
    init() { pointer = nftnl_rule_alloc() }
    deinit { nftnl_rule_free(pointer) }

    /// Names the table and, unless nil (a dump of the whole table), the chain.
    init(table: String, chain: String?) {
        self.init()
        setString(table) { nftnl_rule_set_str(pointer, attribute(NFTNL_RULE_TABLE.rawValue), $0) }
        if let chain { setString(chain) { nftnl_rule_set_str(pointer, attribute(NFTNL_RULE_CHAIN.rawValue), $0) } }
    }
}

struct NftnlSet: ~Copyable {
    let pointer: OpaquePointer
    init() { pointer = nftnl_set_alloc() }
    deinit { nftnl_set_free(pointer) }

    /// Names the table and, unless nil (a dump of the whole table), the set.
    init(table: String, name: String?) {
        self.init()
        setString(table) { nftnl_set_set_str(pointer, attribute(NFTNL_SET_TABLE.rawValue), $0) }
        if let name { setString(name) { nftnl_set_set_str(pointer, attribute(NFTNL_SET_NAME.rawValue), $0) } }
    }
}

// MARK: - Setters and getters with Swift types

func setString(_ text: String, _ body: (UnsafePointer<CChar>) -> Void) { text.withCString(body) }

func setBytes(_ bytes: [UInt8], _ body: (UnsafeRawPointer, UInt32) -> Void) {
    bytes.withUnsafeBytes { body($0.baseAddress!, UInt32($0.count)) }
}

/// Copies `length` bytes that libnftnl lends.
func copyBytes(_ pointer: UnsafeRawPointer?, _ length: UInt32) -> [UInt8] {
    guard let pointer else { return [] }
    return Array(UnsafeRawBufferPointer(start: pointer, count: Int(length)))
}

/// libnftnl attribute numbers come as named C enums (UInt32) or anonymous ones (Int).
func attribute(_ value: UInt32) -> UInt16 { UInt16(value) }
func attribute(_ value: Int) -> UInt16 { UInt16(value) }

// MARK: - Expressions

enum ExpressionCoding {
    /// A libnftnl expression for one of ours; ownership passes to the rule it is added to.
    static func make(_ expression: Expression) -> OpaquePointer {
        func new(_ name: String) -> OpaquePointer { nftnl_expr_alloc(name)! }
        func u32(_ e: OpaquePointer, _ type: Int, _ value: UInt32) { nftnl_expr_set_u32(e, UInt16(type), value) }
        func data(_ e: OpaquePointer, _ type: Int, _ bytes: [UInt8]) {
            setBytes(bytes) { nftnl_expr_set(e, UInt16(type), $0, $1) }
        }
        switch expression {
        case .payload(let base, let offset, let length, let destination):
            let e = new("payload")
            u32(e, NFTNL_EXPR_PAYLOAD_DREG, destination.number)
            u32(e, NFTNL_EXPR_PAYLOAD_BASE, base.rawValue)
            u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset)
            u32(e, NFTNL_EXPR_PAYLOAD_LEN, length)
            return e
        case .meta(let key, let destination):
            let e = new("meta")
            u32(e, NFTNL_EXPR_META_KEY, key.rawValue)
            u32(e, NFTNL_EXPR_META_DREG, destination.number)
            return e
        case .setMeta(let key, let source):
            let e = new("meta")
            u32(e, NFTNL_EXPR_META_KEY, key.rawValue)
            u32(e, NFTNL_EXPR_META_SREG, source.number)
            return e
        case .compare(let source, let op, let bytes):
            let e = new("cmp")
            u32(e, NFTNL_EXPR_CMP_SREG, source.number)
            u32(e, NFTNL_EXPR_CMP_OP, op.rawValue)
            data(e, NFTNL_EXPR_CMP_DATA, bytes)
            return e
        case .bitwise(let source, let destination, let length, let mask, let xor):
            let e = new("bitwise")
            u32(e, NFTNL_EXPR_BITWISE_SREG, source.number)
            u32(e, NFTNL_EXPR_BITWISE_DREG, destination.number)
            u32(e, NFTNL_EXPR_BITWISE_LEN, length)
            data(e, NFTNL_EXPR_BITWISE_MASK, mask)
            data(e, NFTNL_EXPR_BITWISE_XOR, xor)
            return e
        case .lookup(let source, let set, let destination, let inverted):
            let e = new("lookup")
            u32(e, NFTNL_EXPR_LOOKUP_SREG, source.number)
            setString(set) { nftnl_expr_set_str(e, UInt16(NFTNL_EXPR_LOOKUP_SET), $0) }
            if let destination { u32(e, NFTNL_EXPR_LOOKUP_DREG, destination.number) }
            if inverted { u32(e, NFTNL_EXPR_LOOKUP_FLAGS, 1) }  // NFT_LOOKUP_F_INV
            return e
        case .immediateVerdict(let code, let chain):
            let e = new("immediate")
            u32(e, NFTNL_EXPR_IMM_DREG, Register.verdict.number)
            u32(e, NFTNL_EXPR_IMM_VERDICT, UInt32(bitPattern: code.rawValue))
            if let chain { setString(chain) { nftnl_expr_set_str(e, UInt16(NFTNL_EXPR_IMM_CHAIN), $0) } }
            return e
        case .conntrack(let key, let destination):
            let e = new("ct")
            u32(e, NFTNL_EXPR_CT_KEY, key.rawValue)
            u32(e, NFTNL_EXPR_CT_DREG, destination.number)
            return e
        case .conntrackOriginal(let key, let destination):
            let e = new("ct")
            u32(e, NFTNL_EXPR_CT_KEY, key.rawValue)
            u32(e, NFTNL_EXPR_CT_DREG, destination.number)
            nftnl_expr_set_u8(e, UInt16(NFTNL_EXPR_CT_DIR), 0)  // IP_CT_DIR_ORIGINAL
            return e
        case .dynamicSetUpdate(let set, let key, let data, let timeout):
            let e = new("dynset")
            u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, key.number)
            u32(e, NFTNL_EXPR_DYNSET_SREG_DATA, data.number)
            u32(e, NFTNL_EXPR_DYNSET_OP, UInt32(NFT_DYNSET_OP_UPDATE.rawValue))
            nftnl_expr_set_u64(e, UInt16(NFTNL_EXPR_DYNSET_TIMEOUT), timeout)
            setString(set) { nftnl_expr_set_str(e, UInt16(NFTNL_EXPR_DYNSET_SET_NAME), $0) }
            return e
        case .fibDestinationType(let destination):
            let e = new("fib")
            u32(e, NFTNL_EXPR_FIB_FLAGS, UInt32(NFTA_FIB_F_DADDR.rawValue))
            u32(e, NFTNL_EXPR_FIB_RESULT, UInt32(NFT_FIB_RESULT_ADDRTYPE.rawValue))
            u32(e, NFTNL_EXPR_FIB_DREG, destination.number)
            return e
        case .fibSourceType(let destination):
            let e = new("fib")
            u32(e, NFTNL_EXPR_FIB_FLAGS, UInt32(NFTA_FIB_F_SADDR.rawValue))
            u32(e, NFTNL_EXPR_FIB_RESULT, UInt32(NFT_FIB_RESULT_ADDRTYPE.rawValue))
            u32(e, NFTNL_EXPR_FIB_DREG, destination.number)
            return e
        case .randomNumber(let modulus, let destination):
            let e = new("numgen")
            u32(e, NFTNL_EXPR_NG_DREG, destination.number)
            u32(e, NFTNL_EXPR_NG_MODULUS, modulus)
            u32(e, NFTNL_EXPR_NG_TYPE, UInt32(NFT_NG_RANDOM.rawValue))
            u32(e, NFTNL_EXPR_NG_OFFSET, 0)
            return e
        case .destinationNAT(let family, let address, let port):
            let e = new("nat")
            u32(e, NFTNL_EXPR_NAT_TYPE, UInt32(NFT_NAT_DNAT.rawValue))
            u32(e, NFTNL_EXPR_NAT_FAMILY, family)
            u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, address.number)
            u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, port.number)
            return e
        case .masquerade(let flags):
            let e = new("masq")
            if flags != 0 { u32(e, NFTNL_EXPR_MASQ_FLAGS, flags) }
            return e
        case .byteorder(let source, let destination, let toNetwork, let length, let size):
            let e = new("byteorder")
            u32(e, NFTNL_EXPR_BYTEORDER_SREG, source.number)
            u32(e, NFTNL_EXPR_BYTEORDER_DREG, destination.number)
            u32(e, NFTNL_EXPR_BYTEORDER_OP, UInt32((toNetwork ? NFT_BYTEORDER_HTON : NFT_BYTEORDER_NTOH).rawValue))
            u32(e, NFTNL_EXPR_BYTEORDER_LEN, length)
            u32(e, NFTNL_EXPR_BYTEORDER_SIZE, size)
            return e
        case .reject(let type, let code):
            let e = new("reject")
            u32(e, NFTNL_EXPR_REJECT_TYPE, type)
            nftnl_expr_set_u8(e, UInt16(NFTNL_EXPR_REJECT_CODE), code)
            return e
        }
    }

    /// Reads one of ours back; nil for any expression nfcompile does not write.
    static func read(_ e: OpaquePointer) -> Expression? {
        func u32(_ type: Int) -> UInt32 { nftnl_expr_get_u32(e, UInt16(type)) }
        func has(_ type: Int) -> Bool { nftnl_expr_is_set(e, UInt16(type)) }
        func register(_ type: Int) -> Register { Register(number: u32(type)) }
        func data(_ type: Int) -> [UInt8] {
            var length: UInt32 = 0
            let pointer = nftnl_expr_get(e, UInt16(type), &length)
            return copyBytes(pointer, length)
        }
        guard let namePointer = nftnl_expr_get_str(e, UInt16(NFTNL_EXPR_NAME)) else { return nil }
        switch String(cString: namePointer) {
        case "payload":
            guard let base = Expression.PayloadBase(rawValue: u32(NFTNL_EXPR_PAYLOAD_BASE)) else { return nil }
            return .payload(
                base: base, offset: u32(NFTNL_EXPR_PAYLOAD_OFFSET), length: u32(NFTNL_EXPR_PAYLOAD_LEN),
                destination: register(NFTNL_EXPR_PAYLOAD_DREG))
        case "meta":
            guard let key = Expression.MetaKey(rawValue: u32(NFTNL_EXPR_META_KEY)) else { return nil }
            return has(NFTNL_EXPR_META_SREG)
                ? .setMeta(key, source: register(NFTNL_EXPR_META_SREG))
                : .meta(key, destination: register(NFTNL_EXPR_META_DREG))
        case "cmp":
            guard let op = Expression.CompareOperator(rawValue: u32(NFTNL_EXPR_CMP_OP)) else { return nil }
            return .compare(source: register(NFTNL_EXPR_CMP_SREG), op, data: data(NFTNL_EXPR_CMP_DATA))
        case "bitwise":
            return .bitwise(
                source: register(NFTNL_EXPR_BITWISE_SREG), destination: register(NFTNL_EXPR_BITWISE_DREG),
                length: u32(NFTNL_EXPR_BITWISE_LEN), mask: data(NFTNL_EXPR_BITWISE_MASK),
                xor: data(NFTNL_EXPR_BITWISE_XOR))
        case "lookup":
            guard let set = nftnl_expr_get_str(e, UInt16(NFTNL_EXPR_LOOKUP_SET)) else { return nil }
            return .lookup(
                source: register(NFTNL_EXPR_LOOKUP_SREG), set: String(cString: set),
                destination: has(NFTNL_EXPR_LOOKUP_DREG) ? register(NFTNL_EXPR_LOOKUP_DREG) : nil,
                inverted: has(NFTNL_EXPR_LOOKUP_FLAGS) && u32(NFTNL_EXPR_LOOKUP_FLAGS) & 1 != 0)  // NFT_LOOKUP_F_INV
        case "immediate":
            guard has(NFTNL_EXPR_IMM_VERDICT),
                let code = VerdictCode(rawValue: Int32(bitPattern: u32(NFTNL_EXPR_IMM_VERDICT)))
            else { return nil }
            let chain = nftnl_expr_get_str(e, UInt16(NFTNL_EXPR_IMM_CHAIN)).map { String(cString: $0) }
            return .immediateVerdict(code, chain: chain)
        case "ct":
            guard let key = Expression.ConntrackKey(rawValue: u32(NFTNL_EXPR_CT_KEY)), has(NFTNL_EXPR_CT_DREG) else {
                return nil
            }
            guard has(NFTNL_EXPR_CT_DIR) else { return .conntrack(key, destination: register(NFTNL_EXPR_CT_DREG)) }
            guard nftnl_expr_get_u8(e, UInt16(NFTNL_EXPR_CT_DIR)) == 0 else { return nil }
            return .conntrackOriginal(key, destination: register(NFTNL_EXPR_CT_DREG))
        case "dynset":
            guard u32(NFTNL_EXPR_DYNSET_OP) == UInt32(NFT_DYNSET_OP_UPDATE.rawValue), has(NFTNL_EXPR_DYNSET_SREG_DATA),
                !has(NFTNL_EXPR_DYNSET_EXPR), !has(NFTNL_EXPR_DYNSET_EXPRESSIONS),
                let set = nftnl_expr_get_str(e, UInt16(NFTNL_EXPR_DYNSET_SET_NAME))
            else { return nil }
            return .dynamicSetUpdate(
                set: String(cString: set), key: register(NFTNL_EXPR_DYNSET_SREG_KEY),
                data: register(NFTNL_EXPR_DYNSET_SREG_DATA),
                timeoutMilliseconds: nftnl_expr_get_u64(e, UInt16(NFTNL_EXPR_DYNSET_TIMEOUT)))
        case "fib":
            guard u32(NFTNL_EXPR_FIB_RESULT) == UInt32(NFT_FIB_RESULT_ADDRTYPE.rawValue) else { return nil }
            switch u32(NFTNL_EXPR_FIB_FLAGS) {
            case UInt32(NFTA_FIB_F_DADDR.rawValue):
                return .fibDestinationType(destination: register(NFTNL_EXPR_FIB_DREG))
            case UInt32(NFTA_FIB_F_SADDR.rawValue): return .fibSourceType(destination: register(NFTNL_EXPR_FIB_DREG))
            default: return nil
            }
        case "numgen":
            guard u32(NFTNL_EXPR_NG_TYPE) == UInt32(NFT_NG_RANDOM.rawValue), u32(NFTNL_EXPR_NG_OFFSET) == 0
            else { return nil }
            return .randomNumber(modulus: u32(NFTNL_EXPR_NG_MODULUS), destination: register(NFTNL_EXPR_NG_DREG))
        case "nat":
            guard u32(NFTNL_EXPR_NAT_TYPE) == UInt32(NFT_NAT_DNAT.rawValue) else { return nil }
            return .destinationNAT(
                family: u32(NFTNL_EXPR_NAT_FAMILY), address: register(NFTNL_EXPR_NAT_REG_ADDR_MIN),
                port: register(NFTNL_EXPR_NAT_REG_PROTO_MIN))
        case "masq":
            return .masquerade(flags: has(NFTNL_EXPR_MASQ_FLAGS) ? u32(NFTNL_EXPR_MASQ_FLAGS) : 0)
        case "byteorder":
            return .byteorder(
                source: register(NFTNL_EXPR_BYTEORDER_SREG), destination: register(NFTNL_EXPR_BYTEORDER_DREG),
                toNetwork: u32(NFTNL_EXPR_BYTEORDER_OP) == UInt32(NFT_BYTEORDER_HTON.rawValue),
                length: u32(NFTNL_EXPR_BYTEORDER_LEN), size: u32(NFTNL_EXPR_BYTEORDER_SIZE))
        case "reject":
            return .reject(
                type: u32(NFTNL_EXPR_REJECT_TYPE), code: nftnl_expr_get_u8(e, UInt16(NFTNL_EXPR_REJECT_CODE)))
        default:
            return nil
        }
    }
}
