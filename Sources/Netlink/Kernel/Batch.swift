internal import CMnl
internal import CNftnl
import Ruleset

/// One transaction as one netlink batch: BATCH_BEGIN, a message per operation (several for long
/// element lists), BATCH_END. Remembers what each sequence number asked for, down to the
/// element, so that a refusal names the operation and the object.
struct Batch {
    struct Record {
        var operation: Operation
        /// For element messages: each element's attribute range in the message, to match the
        /// kernel's extended-ack offset to the element it refused.
        var elements: [(range: Range<Int>, element: SetElement)] = []
    }

    private(set) var bytes: [UInt8] = []
    private(set) var records: [UInt32: Record] = [:]
    let beginSequence: UInt32
    private var nextSequence: UInt32

    init(_ transaction: Transaction, firstSequence: UInt32, generation: UInt32?) {
        beginSequence = firstSequence
        nextSequence = firstSequence + 1
        bytes = Messages.batchBegin(sequence: firstSequence, generation: generation)
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
        // With an extended ack, name the one element the kernel refused, not the whole list.
        if let attributeOffset,
            let element = record.elements.first(where: { $0.range.contains(attributeOffset) })?.element
        {
            switch record.operation {
            case .addElements(let table, let set, _): return Operation.addElements(table, set: set, [element]).summary
            case .deleteElements(let table, let set, _):
                return Operation.deleteElements(table, set: set, [element]).summary
            default: break
            }
        }
        return record.operation.summary
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
            addElements(NFT_MSG_NEWSETELEM, table, set, elements, Messages.create | Messages.exclusive)
        case .deleteElements(let table, let set, let elements):
            addElements(NFT_MSG_DELSETELEM, table, set, elements, 0)
        case .deleteSet(let table, let name):
            append(operation, NFT_MSG_DELSET, table, 0) { header in
                let object = NftnlSet(table: table.name, name: name)  // bound: a temporary is freed too early
                nftnl_set_nlmsg_build_payload(header, object.pointer)
            }
        }
    }

    /// Element lists longer than one message allows go out as several messages in the batch.
    private mutating func addElements(
        _ type: nf_tables_msg_types, _ table: TableID, _ set: String,
        _ elements: [SetElement], _ flags: UInt16
    ) {
        var chunk: [SetElement] = []
        var size = 0
        func flush(_ batch: inout Batch) {
            guard !chunk.isEmpty else { return }
            let part: Operation =
                type == NFT_MSG_NEWSETELEM
                ? .addElements(table, set: set, chunk) : .deleteElements(table, set: set, chunk)
            let elements = chunk
            let sequence = batch.append(part, type, table, flags) { header in
                let object = NftnlSet(table: table.name, name: set)
                for element in elements { nftnl_set_elem_add(object.pointer, Self.element(element)) }
                nftnl_set_elems_nlmsg_build_payload(header, object.pointer)
            }
            let ranges = Self.elementRanges(batch.lastMessage, elements)
            batch.records[sequence]?.elements = ranges
            chunk = []
            size = 0
        }
        for element in elements {
            let elementSize = Self.encodedSize(element)
            if size + elementSize > Messages.elementListLimit { flush(&self) }
            chunk.append(element)
            size += elementSize
        }
        flush(&self)
    }

    private var lastMessageStart = 0
    private var lastMessage: ArraySlice<UInt8> { bytes[lastMessageStart...] }

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
        lastMessageStart = bytes.count
        bytes += message
        records[sequence] = Record(operation: operation)
        return sequence
    }

    // MARK: Objects

    /// A libnftnl element; ownership passes to the set it is added to.
    private static func element(_ element: SetElement) -> OpaquePointer {
        let object = nftnl_set_elem_alloc()!
        setBytes(ValueCoding.concatenation(element.key)) {
            nftnl_set_elem_set(object, attribute(NFTNL_SET_ELEM_KEY), $0, $1)
        }
        if element.key.contains(where: \.isNetwork) {
            // An element of an interval set (its last field is a prefix): the end is a second key.
            setBytes(ValueCoding.concatenation(element.key, end: true)) {
                nftnl_set_elem_set(object, attribute(NFTNL_SET_ELEM_KEY_END), $0, $1)
            }
        }
        switch element.data {
        case .verdict(let verdict)?:
            guard case .immediateVerdict(let code, let chain) = verdict.immediate else { break }
            nftnl_set_elem_set_u32(object, attribute(NFTNL_SET_ELEM_VERDICT), UInt32(bitPattern: code.rawValue))
            if let chain {
                setString(chain) { nftnl_set_elem_set_str(object, attribute(NFTNL_SET_ELEM_CHAIN), $0) }
            }
        case .values(let values)?:
            setBytes(ValueCoding.concatenation(values)) {
                nftnl_set_elem_set(object, attribute(NFTNL_SET_ELEM_DATA), $0, $1)
            }
        case nil: break
        }
        if let comment = element.comment {
            setBytes(ElementComment.encode(comment)) {
                nftnl_set_elem_set(object, attribute(NFTNL_SET_ELEM_USERDATA), $0, $1)
            }
        }
        return object
    }

    /// An upper bound of the element's attribute size in the message (netlink aligns to 4).
    private static func encodedSize(_ element: SetElement) -> Int {
        func aligned(_ n: Int) -> Int { (n + 3) & ~3 }
        var size = 4 + 4 + 4 + aligned(ValueCoding.paddedLength(element.key))
        if element.key.contains(where: \.isNetwork) { size += 4 + 4 + aligned(ValueCoding.paddedLength(element.key)) }
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

    /// Walks the built message to find where each element's attribute sits.
    private static func elementRanges(_ message: ArraySlice<UInt8>, _ elements: [SetElement])
        -> [(range: Range<Int>, element: SetElement)]
    {
        let start = message.startIndex
        var offset = start + 20  // nlmsghdr + nfgenmsg
        while offset + 4 <= message.endIndex {
            let length = Int(readU16(message, offset))
            let type = readU16(message, offset + 2) & 0x3fff
            guard length >= 4 else { break }
            if type == UInt16(NFTA_SET_ELEM_LIST_ELEMENTS.rawValue) {
                var inner = offset + 4
                var ranges: [(range: Range<Int>, element: SetElement)] = []
                for element in elements where inner + 4 <= offset + length {
                    let elementLength = Int(readU16(message, inner))
                    guard elementLength >= 4 else { break }
                    ranges.append(((inner - start)..<(inner - start + elementLength), element))
                    inner += (elementLength + 3) & ~3
                }
                return ranges
            }
            offset += (length + 3) & ~3
        }
        return []
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
