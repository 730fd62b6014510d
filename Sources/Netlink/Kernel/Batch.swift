internal import CMnl
internal import CNftnl
import Ruleset

/// One transaction as one netlink batch: BATCH_BEGIN, a message per operation (several for long
/// element lists), BATCH_END. Remembers what each sequence number asked for, down to the
/// element, so that a refusal names the operation and the object.
struct Batch {
    struct Record {
        var operation: Operation
        /// For element messages: which of the operation's elements the message carries, and where
        /// each one's attribute starts in it, to match the kernel's extended-ack offset to the
        /// element it refused. Offsets, not copies: a batch of 240,000 elements kept a second copy
        /// of each (24 MiB) only for this.
        var elements: Range<Int> = 0..<0
        var elementOffsets: [UInt32] = []
    }

    private(set) var bytes: [UInt8] = []
    private(set) var records: [UInt32: Record] = [:]
    let beginSequence: UInt32
    private var nextSequence: UInt32

    init(_ transaction: Transaction, firstSequence: UInt32, generation: UInt32?) {
        beginSequence = firstSequence
        nextSequence = firstSequence + 1
        bytes = Messages.batchBegin(sequence: firstSequence, generation: generation)
        // Room for the whole batch at once: grown by doubling, a batch of tens of MiB was copied
        // several times, and its last copy held the old and the new buffer at the same time.
        bytes.reserveCapacity(Self.sizeEstimate(transaction))
        for operation in transaction.operations { add(operation) }
        bytes += Messages.batchEnd(sequence: nextSequence)
        nextSequence += 1
    }

    /// Messages between BATCH_BEGIN and BATCH_END.
    var messageCount: Int { records.count }

    /// The sequence number after the batch, for the request that follows it.
    var followingSequence: UInt32 { nextSequence }

    /// What a refusal of `sequence` at `attributeOffset` was about, in nft's words.
    func describe(sequence: UInt32, attributeOffset: Int?) -> String {
        guard let record = records[sequence] else {
            return sequence == beginSequence ? "begin the transaction" : "message \(sequence)"
        }
        switch record.operation {
        case .addElements(let table, let set, let elements):
            return Operation.addElements(table, set: set, Self.refused(elements, record, at: attributeOffset)).summary
        case .deleteElements(let table, let set, let elements):
            return Operation.deleteElements(table, set: set, Self.refused(elements, record, at: attributeOffset))
                .summary
        default:
            return record.operation.summary
        }
    }

    /// With an extended ack, the one element the kernel refused; otherwise the message's elements.
    private static func refused(_ elements: [SetElement], _ record: Record, at attributeOffset: Int?) -> [SetElement] {
        let carried = Array(elements[record.elements])
        guard let attributeOffset, let first = record.elementOffsets.first, attributeOffset >= Int(first) else {
            return carried
        }
        let index = record.elementOffsets.lastIndex { Int($0) <= attributeOffset }!
        return [carried[index]]
    }

    private mutating func add(_ operation: Operation) {
        switch operation {
        case .addTable(let table):
            append(operation, NFT_MSG_NEWTABLE, table, Messages.create) { header in
                let object = NftnlTable(name: table.name)
                nftnl_table_nlmsg_build_payload(header, object.pointer)
            }
        case .deleteTable(let table):
            append(operation, NFT_MSG_DELTABLE, table, 0) { header in
                let object = NftnlTable(name: table.name)
                nftnl_table_nlmsg_build_payload(header, object.pointer)
            }
        case .addChain(let table, let chain):
            append(operation, NFT_MSG_NEWCHAIN, table, Messages.create) { header in
                let object = NftnlChain(table: table.name, name: chain.name)
                if let hook = chain.hook {
                    nftnl_chain_set_u32(object.pointer, attribute(NFTNL_CHAIN_HOOKNUM.rawValue), hook.point.hookNumber)
                    nftnl_chain_set_s32(object.pointer, attribute(NFTNL_CHAIN_PRIO.rawValue), hook.priority)
                    setString(hook.type.rawValue) {
                        nftnl_chain_set_str(object.pointer, attribute(NFTNL_CHAIN_TYPE.rawValue), $0)
                    }
                    nftnl_chain_set_u32(object.pointer, attribute(NFTNL_CHAIN_POLICY.rawValue), UInt32(NF_ACCEPT))
                }
                nftnl_chain_nlmsg_build_payload(header, object.pointer)
            }
        case .deleteChain(let table, let name):
            append(operation, NFT_MSG_DELCHAIN, table, 0) { header in
                let object = NftnlChain(table: table.name, name: name)  // bound: a temporary is freed too early
                nftnl_chain_nlmsg_build_payload(header, object.pointer)
            }
        case .flushChain(let table, let name):
            // DELRULE without a handle removes every rule of the chain.
            append(operation, NFT_MSG_DELRULE, table, 0) { header in
                let object = NftnlRule(table: table.name, chain: name)  // bound: a temporary is freed too early
                nftnl_rule_nlmsg_build_payload(header, object.pointer)
            }
        case .addRule(let table, let chain, let rule):
            append(operation, NFT_MSG_NEWRULE, table, Messages.create | Messages.append) { header in
                let object = NftnlRule(table: table.name, chain: chain)
                for expression in Lowering.expressions(for: rule, family: table.family) {
                    nftnl_rule_add_expr(object.pointer, ExpressionCoding.make(expression))
                }
                nftnl_rule_nlmsg_build_payload(header, object.pointer)
            }
        case .addSet(let table, let set):
            let setID = nextSequence  // the kernel requires an ID unique within the batch
            append(operation, NFT_MSG_NEWSET, table, Messages.create) { header in
                let object = NftnlSet(table: table.name, name: set.name)
                nftnl_set_set_u32(object.pointer, attribute(NFTNL_SET_ID.rawValue), setID)
                let attributes = set.attributes
                nftnl_set_set_u32(object.pointer, attribute(NFTNL_SET_FLAGS.rawValue), attributes.flags)
                nftnl_set_set_u32(object.pointer, attribute(NFTNL_SET_KEY_TYPE.rawValue), attributes.keyType)
                nftnl_set_set_u32(object.pointer, attribute(NFTNL_SET_KEY_LEN.rawValue), attributes.keyLength)
                if let dataType = attributes.dataType, let dataLength = attributes.dataLength {
                    nftnl_set_set_u32(object.pointer, attribute(NFTNL_SET_DATA_TYPE.rawValue), dataType)
                    nftnl_set_set_u32(object.pointer, attribute(NFTNL_SET_DATA_LEN.rawValue), dataLength)
                }
                setBytes(attributes.userData) {
                    nftnl_set_set_data(object.pointer, attribute(NFTNL_SET_USERDATA.rawValue), $0, $1)
                }
                if let size = attributes.size {
                    nftnl_set_set_u32(object.pointer, attribute(NFTNL_SET_DESC_SIZE.rawValue), size)
                }
                if !attributes.fieldLengths.isEmpty {
                    setBytes(attributes.fieldLengths) {
                        nftnl_set_set_data(object.pointer, attribute(NFTNL_SET_DESC_CONCAT.rawValue), $0, $1)
                    }
                }
                nftnl_set_nlmsg_build_payload(header, object.pointer)
            }
        case .addElements(let table, let set, let elements):
            addElements(operation, NFT_MSG_NEWSETELEM, table, set, elements, Messages.create | Messages.exclusive)
        case .deleteElements(let table, let set, let elements):
            addElements(operation, NFT_MSG_DELSETELEM, table, set, elements, 0)
        case .deleteSet(let table, let name):
            append(operation, NFT_MSG_DELSET, table, 0) { header in
                let object = NftnlSet(table: table.name, name: name)  // bound: a temporary is freed too early
                nftnl_set_nlmsg_build_payload(header, object.pointer)
            }
        }
    }

    /// Element lists longer than one message allows go out as several messages in the batch. The
    /// elements are written straight into the batch with libmnl: through libnftnl each one cost
    /// an object and a copy of every attribute.
    private mutating func addElements(
        _ operation: Operation, _ type: nf_tables_msg_types, _ table: TableID, _ set: String,
        _ elements: [SetElement], _ flags: UInt16
    ) {
        var next = 0
        while next < elements.count {
            let first = next
            var offsets: [UInt32] = []
            let sequence = append(operation, type, table, flags) { header in
                let object = NftnlSet(table: table.name, name: set)
                nftnl_set_elems_nlmsg_build_payload(header, object.pointer)  // the set and table names
                let list = mnl_attr_nest_start(header, UInt16(NFTA_SET_ELEM_LIST_ELEMENTS.rawValue))
                while next < elements.count {
                    let element = elements[next]
                    let length = Int(header.pointee.nlmsg_len)
                    guard next == first || length + Self.encodedSize(element) <= Messages.elementListLimit else {
                        break
                    }
                    offsets.append(UInt32(length))
                    Self.put(element, index: next - first + 1, into: header)
                    next += 1
                }
                mnl_attr_nest_end(header, list)
            }
            records[sequence]?.elements = first..<next
            records[sequence]?.elementOffsets = offsets
        }
    }

    @discardableResult
    private mutating func append(
        _ operation: Operation, _ type: nf_tables_msg_types, _ table: TableID, _ flags: UInt16,
        payload: (UnsafeMutablePointer<nlmsghdr>) -> Void
    ) -> UInt32 {
        let sequence = nextSequence
        nextSequence += 1
        let message = Messages.build(
            type, family: table.family, flags: Messages.request | flags, sequence: sequence
        ) { header in
            // Every object names its table; the payload builders read it from the object.
            payload(header)
        }
        bytes += message
        records[sequence] = Record(operation: operation)
        return sequence
    }

    // MARK: Objects

    /// One element as libnftnl lays it out (key, key end, data, user data), numbered `index` in the list.
    private static func put(_ element: SetElement, index: Int, into header: UnsafeMutablePointer<nlmsghdr>) {
        let nest = mnl_attr_nest_start(header, UInt16(index))
        putValues(element.key, type: NFTA_SET_ELEM_KEY, into: header)
        if element.key.contains(where: { $0.isNetwork }) {
            // An element of an interval set (its last field is a prefix): the end is a second key.
            putValues(element.key, end: true, type: NFTA_SET_ELEM_KEY_END, into: header)
        }
        switch element.data {
        case .verdict(let verdict)?:
            guard case .immediateVerdict(let code, let chain) = verdict.immediate else { break }
            let data = mnl_attr_nest_start(header, UInt16(NFTA_SET_ELEM_DATA.rawValue))
            let inner = mnl_attr_nest_start(header, UInt16(NFTA_DATA_VERDICT.rawValue))
            mnl_attr_put_u32(header, UInt16(NFTA_VERDICT_CODE.rawValue), UInt32(bitPattern: code.rawValue).bigEndian)
            if let chain { mnl_attr_put_strz(header, UInt16(NFTA_VERDICT_CHAIN.rawValue), chain) }
            mnl_attr_nest_end(header, inner)
            mnl_attr_nest_end(header, data)
        case .values(let values)?:
            putValues(values, type: NFTA_SET_ELEM_DATA, into: header)
        case nil: break
        }
        if var comment = element.comment {
            // nftnl's user data: one TLV (type 0, the comment with its NUL), laid out on the stack.
            comment.withUTF8 { text in
                let length = 2 + text.count + 1
                withUnsafeTemporaryAllocation(byteCount: length, alignment: 4) { userData in
                    userData[0] = 0
                    userData[1] = UInt8(text.count + 1)
                    if let start = text.baseAddress {
                        userData.baseAddress!.advanced(by: 2).copyMemory(from: start, byteCount: text.count)
                    }
                    userData[length - 1] = 0
                    mnl_attr_put(header, UInt16(NFTA_SET_ELEM_USERDATA.rawValue), length, userData.baseAddress)
                }
            }
        }
        mnl_attr_nest_end(header, nest)
    }

    /// A key or data attribute: NFTA_DATA_VALUE nested in `type`.
    private static func putValues(
        _ values: [Value], end: Bool = false, type: nft_set_elem_attributes, into header: UnsafeMutablePointer<nlmsghdr>
    ) {
        let nest = mnl_attr_nest_start(header, UInt16(type.rawValue))
        withUnsafeTemporaryAllocation(byteCount: ValueCoding.paddedLength(values), alignment: 4) { buffer in
            let count = ValueCoding.write(values, end: end, into: buffer)
            mnl_attr_put(header, UInt16(NFTA_DATA_VALUE.rawValue), count, buffer.baseAddress)
        }
        mnl_attr_nest_end(header, nest)
    }

    /// About the size of the transaction's batch: its elements' upper bounds (from a sample of each
    /// list: a set's elements differ only in their comments' lengths), with room for the headers of
    /// the messages they take and for the other operations.
    private static func sizeEstimate(_ transaction: Transaction) -> Int {
        transaction.operations.reduce(256) { size, operation in
            switch operation {
            case .addElements(_, _, let elements), .deleteElements(_, _, let elements):
                let step = max(1, elements.count / 16)
                let sample = stride(from: 0, to: elements.count, by: step).map { encodedSize(elements[$0]) }
                let bytes = elements.count * (sample.max() ?? 0)
                return size + bytes + (bytes / (Messages.elementListLimit / 2) + 1) * 256
            default:
                return size + 1024
            }
        }
    }

    /// An upper bound of the element's attribute size in the message (netlink aligns to 4).
    private static func encodedSize(_ element: SetElement) -> Int {
        func aligned(_ n: Int) -> Int { (n + 3) & ~3 }
        var size = 4 + 4 + 4 + aligned(ValueCoding.paddedLength(element.key))
        if element.key.contains(where: { $0.isNetwork }) {
            size += 4 + 4 + aligned(ValueCoding.paddedLength(element.key))
        }
        switch element.data {
        case .verdict(let verdict)?:
            var chain = 0
            if case .immediateVerdict(_, let name?) = verdict.immediate { chain = 4 + aligned(name.utf8.count + 1) }
            size += 4 + 4 + 8 + chain
        case .values(let values)?: size += 4 + 4 + aligned(ValueCoding.paddedLength(values))
        case nil: break
        }
        if let comment = element.comment { size += 4 + aligned(comment.utf8.count + 3) }
        return size + 8  // flags and slack
    }
}

extension Chain.Hook.Point {
    /// NF_INET_PRE_ROUTING … NF_INET_POST_ROUTING.
    var hookNumber: UInt32 {
        switch self {
        case .prerouting: 0
        case .input: 1
        case .forward: 2
        case .output: 3
        case .postrouting: 4
        }
    }

    init?(hookNumber: UInt32) {
        switch hookNumber {
        case 0: self = .prerouting
        case 1: self = .input
        case 2: self = .forward
        case 3: self = .output
        case 4: self = .postrouting
        default: return nil
        }
    }
}
