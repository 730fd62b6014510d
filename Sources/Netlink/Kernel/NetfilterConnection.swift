internal import CMnl
internal import CNftnl
import Glibc
import Ruleset
import SystemPackage

/// A conversation with the kernel's nf_tables over netlink: read the generation, read a table
/// back into the IR, commit a transaction atomically. Owns its socket; use it from one task.
public struct NetfilterConnection: ~Copyable {
    private let socket: NetlinkSocket
    private var sequence: UInt32
    /// Reused for every answer: a dump or a batch's reports can fill a large datagram.
    private var receiveBuffer = [UInt8](repeating: 0, count: 1 << 20)
    /// How the last committed (or refused) transaction went, for benchmarks and logs.
    public private(set) var lastCommit: CommitStatistics?

    public struct CommitStatistics: Sendable {
        /// Building the netlink messages (IR → libnftnl objects → bytes).
        public var encoding: Duration
        /// From sending the batch to the kernel's answer: the kernel's share.
        public var kernel: Duration
        public var bytes: Int
        public var messages: Int
    }

    /// Connects to nf_tables in this network namespace, or in the named one (as `ip netns` names it).
    public init(networkNamespace: String? = nil) throws(NetlinkError) {
        socket = try NetlinkSocket(networkNamespace: networkNamespace)
        sequence = UInt32(truncatingIfNeeded: time(nil))
    }

    // MARK: Generation

    /// The ruleset generation: it moves with every committed transaction, anyone's.
    public mutating func generation() throws(NetlinkError) -> UInt32 {
        let messages = try exchange(Messages.getGeneration(sequence: takeSequence()), dump: false)
        for message in messages
        where message.type == UInt16(NFNL_SUBSYS_NFTABLES) << 8 | UInt16(NFT_MSG_NEWGEN.rawValue) {
            return message.generation
        }
        throw NetlinkError.unexpectedContent("no generation in the kernel's answer")
    }

    // MARK: Commit

    /// Commits `transaction` as one batch. With `generation`, the kernel refuses it (ERESTART)
    /// if any other transaction committed since that generation was read. Returns the new
    /// generation. On refusal nothing was applied, and the error names each refused operation.
    @discardableResult
    public mutating func commit(_ transaction: Transaction, ifGenerationIs generation: UInt32? = nil)
        throws(NetlinkError) -> UInt32
    {
        let clock = ContinuousClock()
        let encodingStart = clock.now
        let batch = Batch(transaction, firstSequence: takeSequence(), generation: generation)
        let sent = clock.now
        defer {
            lastCommit = CommitStatistics(
                encoding: sent - encodingStart, kernel: clock.now - sent, bytes: batch.bytes.count,
                messages: batch.messageCount)
        }
        sequence = batch.followingSequence
        let probe = takeSequence()
        socket.reserveBuffers(for: batch.bytes.count)
        try socket.send(batch.bytes)
        // Netlink answers in order: once the generation request is answered, every error
        // report of the batch has arrived. Acks are not requested, so success is silent.
        try socket.send(Messages.getGeneration(sequence: probe))
        var refusals: [NetlinkError.Refusal] = []
        while true {
            let count = try socket.receive(into: &receiveBuffer)
            for message in ReceivedMessage.split(receiveBuffer, count: count) {
                if message.type == ReceivedMessage.error {
                    let report = message.errorReport
                    guard report.code != 0 else { continue }
                    let code = Errno(rawValue: -report.code)
                    if report.sequence == batch.beginSequence, code.rawValue == 85 {  // ERESTART
                        throw NetlinkError.generationChanged
                    }
                    refusals.append(
                        NetlinkError.Refusal(
                            operation: batch.describe(
                                sequence: report.sequence, attributeOffset: report.attributeOffset),
                            error: code))
                } else if message.sequence == probe {
                    if refusals.isEmpty { return message.generation }
                    throw NetlinkError.refused(refusals)
                }
            }
        }
    }

    // MARK: Reading back

    /// Reads our table of one family back into the IR; nil when it does not exist. The read is
    /// consistent: it is retried when another transaction commits while it runs.
    public mutating func readTable(_ table: TableID) throws(NetlinkError) -> Table? {
        for _ in 0..<10 {
            let before = try generation()
            var interrupted = false
            let result: Table?
            do {
                result = try readTableOnce(table, interrupted: &interrupted)
            } catch {
                // A commit between two dumps can make them disagree (a rule of a chain not yet
                // seen): only an error on a stable generation is real.
                if try generation() != before { continue }
                throw error
            }
            if !interrupted, try generation() == before { return result }
        }
        throw NetlinkError.unexpectedContent("the ruleset kept changing while nfcompile read table \(table)")
    }

    private mutating func readTableOnce(_ id: TableID, interrupted: inout Bool) throws(NetlinkError) -> Table? {
        let tableRequest = Messages.build(
            NFT_MSG_GETTABLE, family: id.family, flags: Messages.request, sequence: takeSequence()
        ) { header in
            let object = NftnlTable(name: id.name)
            nftnl_table_nlmsg_build_payload(header, object.pointer)
        }
        let answer: [ReceivedMessage]
        do {
            answer = try exchange(tableRequest, dump: false)
        } catch .system(_, .noSuchFileOrDirectory) {
            return nil
        }
        if let message = answer.first, Self.isDormant(message) {
            // A dormant table keeps its rules but its chains see no packet: someone switched it off.
            throw NetlinkError.unexpectedContent("table \(id) is dormant (flags dormant): it forwards nothing")
        }

        var table = Table(family: id.family, name: id.name)
        // Chain dumps cannot be filtered by table on every kernel: filtered here.
        for message in try dump(NFT_MSG_GETCHAIN, id, interrupted: &interrupted, payload: { _ in }) {
            if let chain = try Self.chain(message, table: id.name) { table.chains.append(chain) }
        }
        for message in try dump(
            NFT_MSG_GETSET, id, interrupted: &interrupted,
            payload: { header in
                let object = NftnlSet(table: id.name, name: nil)
                nftnl_set_nlmsg_build_payload(header, object.pointer)
            })
        {
            table.sets.append(try Self.set(message))
        }
        // The elements of dynamic sets are the packet path's, not ours: not read.
        for index in table.sets.indices where !table.sets[index].isDynamic {
            let declaration = table.sets[index]
            for message in try dump(
                NFT_MSG_GETSETELEM, id, interrupted: &interrupted,
                payload: { header in
                    let object = NftnlSet(table: id.name, name: declaration.name)
                    nftnl_set_elems_nlmsg_build_payload(header, object.pointer)
                })
            {
                table.sets[index].elements += try Self.elements(message, of: declaration)
            }
            // A set's dump goes on from a count of elements already sent, so a rehash between
            // two of its messages (the kernel grows a big set's hash table in the background,
            // just after it was filled) sends some elements twice and skips as many: a key seen
            // twice means the dump is not to be trusted, and it is read again.
            let elements = table.sets[index].elements
            if Set(elements.lazy.map { PackedKey($0.key) }).count != elements.count { interrupted = true }
        }
        for message in try dump(
            NFT_MSG_GETRULE, id, interrupted: &interrupted,
            payload: { header in
                let object = NftnlRule(table: id.name, chain: nil)
                nftnl_rule_nlmsg_build_payload(header, object.pointer)
            })
        {
            let (chain, rule) = try Self.rule(message, family: id.family)
            guard let index = table.chains.firstIndex(where: { $0.name == chain }) else {
                throw NetlinkError.unexpectedContent("a rule in unknown chain \(chain)")
            }
            table.chains[index].rules.append(rule)
        }
        return table
    }

    /// One dump request and its messages (without the closing NLMSG_DONE); notes whether the
    /// kernel flagged it as interrupted by a concurrent change.
    private mutating func dump(
        _ type: nf_tables_msg_types, _ id: TableID, interrupted: inout Bool,
        payload: (UnsafeMutablePointer<nlmsghdr>) -> Void
    ) throws(NetlinkError) -> [ReceivedMessage] {
        let request = Messages.build(
            type, family: id.family, flags: Messages.request | Messages.dump, sequence: takeSequence(), payload: payload
        )
        let messages = try exchange(request, dump: true).filter { $0.type != ReceivedMessage.done }
        interrupted = interrupted || messages.contains { $0.isDumpInterrupted }
        return messages
    }

    /// Deletes the elements of a set the packet path fills that `shouldDelete` picks, reading
    /// them first; returns how many and the generation of the commit (nil when none matched). An
    /// element that expires between the read and the delete fails the batch: read and try again.
    public mutating func deleteElements(
        of declaration: NamedSet, in table: TableID, where shouldDelete: (SetElement) -> Bool
    ) throws(NetlinkError) -> (deleted: Int, generation: UInt32?) {
        var attempt = 0
        while true {
            attempt += 1
            var interrupted = false
            var selected: [SetElement] = []
            for message in try dump(
                NFT_MSG_GETSETELEM, table, interrupted: &interrupted,
                payload: { header in
                    let object = NftnlSet(table: table.name, name: declaration.name)
                    nftnl_set_elems_nlmsg_build_payload(header, object.pointer)
                })
            {
                selected += try Self.elements(message, of: declaration).filter(shouldDelete)
            }
            guard !selected.isEmpty else { return (0, nil) }
            do {
                let generation = try commit(Transaction([.deleteElements(table, set: declaration.name, selected)]))
                return (selected.count, generation)
            } catch .refused(_) where attempt < 3 {
                continue  // an element expired meanwhile: read again
            }
        }
    }

    // MARK: Decoding objects

    private static func chain(_ message: ReceivedMessage, table: String) throws(NetlinkError) -> Chain? {
        let object = NftnlChain()
        message.withHeader { _ = nftnl_chain_nlmsg_parse($0, object.pointer) }
        let pointer = object.pointer
        guard String(cString: nftnl_chain_get_str(pointer, attribute(NFTNL_CHAIN_TABLE.rawValue))) == table else {
            return nil
        }
        let name = String(cString: nftnl_chain_get_str(pointer, attribute(NFTNL_CHAIN_NAME.rawValue)))
        guard nftnl_chain_is_set(pointer, attribute(NFTNL_CHAIN_HOOKNUM.rawValue)) else { return Chain(name: name) }
        guard
            let point = Chain.Hook.Point(
                hookNumber: nftnl_chain_get_u32(pointer, attribute(NFTNL_CHAIN_HOOKNUM.rawValue))),
            let typeName = nftnl_chain_get_str(pointer, attribute(NFTNL_CHAIN_TYPE.rawValue)),
            let type = Chain.Hook.ChainType(rawValue: String(cString: typeName)),
            nftnl_chain_get_u32(pointer, attribute(NFTNL_CHAIN_POLICY.rawValue)) == UInt32(NF_ACCEPT)
        else {
            throw NetlinkError.unexpectedContent(
                "base chain \(name) with a hook, type or policy nfcompile does not use")
        }
        let priority = nftnl_chain_get_s32(pointer, attribute(NFTNL_CHAIN_PRIO.rawValue))
        return Chain(name: name, hook: Chain.Hook(type: type, point: point, priority: priority))
    }

    private static func isDormant(_ message: ReceivedMessage) -> Bool {
        let object = NftnlTable()
        message.withHeader { _ = nftnl_table_nlmsg_parse($0, object.pointer) }
        let flags = attribute(NFTNL_TABLE_FLAGS.rawValue)
        let dormant: UInt32 = 0x1  // NFT_TABLE_F_DORMANT
        return nftnl_table_is_set(object.pointer, flags) && nftnl_table_get_u32(object.pointer, flags) & dormant != 0
    }

    private static func set(_ message: ReceivedMessage) throws(NetlinkError) -> NamedSet {
        let object = NftnlSet()
        message.withHeader { _ = nftnl_set_nlmsg_parse($0, object.pointer) }
        let pointer = object.pointer
        let name = String(cString: nftnl_set_get_str(pointer, attribute(NFTNL_SET_NAME.rawValue)))
        var length: UInt32 = 0
        let userData = copyBytes(nftnl_set_get_data(pointer, attribute(NFTNL_SET_USERDATA.rawValue), &length), length)
        func u32(_ type: UInt32) -> UInt32? {
            nftnl_set_is_set(pointer, attribute(type)) ? nftnl_set_get_u32(pointer, attribute(type)) : nil
        }
        let attributes = SetAttributes(
            flags: u32(NFTNL_SET_FLAGS.rawValue) ?? 0, keyType: u32(NFTNL_SET_KEY_TYPE.rawValue) ?? 0,
            keyLength: u32(NFTNL_SET_KEY_LEN.rawValue) ?? 0, dataType: u32(NFTNL_SET_DATA_TYPE.rawValue),
            dataLength: u32(NFTNL_SET_DATA_LEN.rawValue), userData: userData,
            fieldLengths: nftnl_set_is_set(pointer, attribute(NFTNL_SET_DESC_CONCAT.rawValue))
                ? copyBytes(nftnl_set_get_data(pointer, attribute(NFTNL_SET_DESC_CONCAT.rawValue), &length), length)
                : [],
            size: u32(NFTNL_SET_DESC_SIZE.rawValue))
        // nfcompile's sets have no default element timeout or memory policy: with either, the set
        // is someone else's (the kernel answers them only when set). A size is in the attributes.
        let extras = [(NFTNL_SET_TIMEOUT, "timeout"), (NFTNL_SET_POLICY, "policy")]
            .filter { nftnl_set_is_set(pointer, attribute($0.0.rawValue)) }.map(\.1)
        guard extras.isEmpty, let set = NamedSet(name: name, attributes: attributes) else {
            let detail = extras.isEmpty ? "" : " (it has \(extras.joined(separator: ", ")))"
            throw NetlinkError.unexpectedContent("set \(name) is not declared the way nfcompile declares sets\(detail)")
        }
        return set
    }

    private static func elements(_ message: ReceivedMessage, of declaration: NamedSet) throws(NetlinkError)
        -> [SetElement]
    {
        let object = NftnlSet()
        message.withHeader { _ = nftnl_set_elems_nlmsg_parse($0, object.pointer) }
        guard let iterator = nftnl_set_elems_iter_create(object.pointer) else { return [] }
        defer { nftnl_set_elems_iter_destroy(iterator) }
        var elements: [SetElement] = []
        while let element = nftnl_set_elems_iter_next(iterator) {
            func bytes(_ type: Int) -> [UInt8]? {
                guard nftnl_set_elem_is_set(element, attribute(type)) else { return nil }
                var length: UInt32 = 0
                return copyBytes(nftnl_set_elem_get(element, attribute(type), &length), length)
            }
            guard let keyBytes = bytes(NFTNL_SET_ELEM_KEY), var key = ValueCoding.split(keyBytes, as: declaration.key)
            else { throw NetlinkError.unexpectedContent("an element of \(declaration.name) with an unreadable key") }
            if declaration.isInterval {
                // The end of the range is a second key; without one, the range is one key.
                let endBytes = bytes(NFTNL_SET_ELEM_KEY_END) ?? keyBytes
                guard let end = ValueCoding.split(endBytes, as: declaration.key),
                    let interval = ValueCoding.intervalKey(start: key, end: end)
                else {
                    throw NetlinkError.unexpectedContent(
                        "an element of \(declaration.name) with an unreadable interval")
                }
                key = interval
            }
            var data: SetElement.Data?
            switch declaration.data {
            case .verdict?:
                let code = VerdictCode(
                    rawValue: Int32(bitPattern: nftnl_set_elem_get_u32(element, attribute(NFTNL_SET_ELEM_VERDICT))))
                let chain =
                    nftnl_set_elem_is_set(element, attribute(NFTNL_SET_ELEM_CHAIN))
                    ? String(cString: nftnl_set_elem_get_str(element, attribute(NFTNL_SET_ELEM_CHAIN))) : nil
                guard let code, let verdict = Verdict(code: code, chain: chain) else {
                    throw NetlinkError.unexpectedContent("an element of \(declaration.name) with an unknown verdict")
                }
                data = .verdict(verdict)
            case .fields(let fields)?:
                guard let dataBytes = bytes(NFTNL_SET_ELEM_DATA), let values = ValueCoding.split(dataBytes, as: fields)
                else { throw NetlinkError.unexpectedContent("an element of \(declaration.name) with unreadable data") }
                data = .values(values)
            case nil:
                break
            }
            elements.append(
                SetElement(key: key, data: data, comment: bytes(NFTNL_SET_ELEM_USERDATA).flatMap(ElementComment.decode))
            )
        }
        return elements
    }

    private static func rule(_ message: ReceivedMessage, family: TableFamily) throws(NetlinkError) -> (String, Rule) {
        let object = NftnlRule()
        message.withHeader { _ = nftnl_rule_nlmsg_parse($0, object.pointer) }
        let chain = String(cString: nftnl_rule_get_str(object.pointer, attribute(NFTNL_RULE_CHAIN.rawValue)))
        var expressions: [Expression] = []
        if let iterator = nftnl_expr_iter_create(object.pointer) {
            defer { nftnl_expr_iter_destroy(iterator) }
            while let expression = nftnl_expr_iter_next(iterator) {
                guard let decoded = ExpressionCoding.read(expression) else {
                    throw NetlinkError.unexpectedContent(
                        "a rule in chain \(chain) with an expression nfcompile does not write")
                }
                expressions.append(decoded)
            }
        }
        guard let rule = Lifting.rule(from: expressions) else {
            throw NetlinkError.unexpectedContent("a rule in chain \(chain) that nfcompile did not write")
        }
        return (chain, rule)
    }

    // MARK: Requests

    mutating func takeSequence() -> UInt32 {
        sequence &+= 1
        return sequence
    }

    /// Sends one request and collects its answer: for a dump, every message up to NLMSG_DONE;
    /// otherwise the reply or the acknowledgement.
    mutating func exchange(_ request: [UInt8], dump: Bool) throws(NetlinkError) -> [ReceivedMessage] {
        let requestSequence = readU32(request[...], 8)
        try socket.send(request)
        var answer: [ReceivedMessage] = []
        while true {
            let count = try socket.receive(into: &receiveBuffer)
            for message in ReceivedMessage.split(receiveBuffer, count: count) where message.sequence == requestSequence
            {
                if message.type == ReceivedMessage.error {
                    let report = message.errorReport
                    if report.code != 0 {
                        throw NetlinkError.system("read the ruleset", Errno(rawValue: -report.code))
                    }
                    return answer
                }
                answer.append(message)
                if message.type == ReceivedMessage.done || !dump { return answer }
            }
        }
    }
}
