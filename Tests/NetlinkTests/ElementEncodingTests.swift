import Addressing
import CMnl
import CNftnl
import Ruleset
import Testing

@testable import Netlink

/// The batch writes set elements with libmnl itself; libnftnl, which built them before, is the
/// reference: every element message must be byte for byte what libnftnl builds for its elements.
@Suite struct ElementEncodingTests {
    static let table = TableID(family: .ip, name: "nfcompile")

    /// Every kind of key and data nfcompile writes.
    static let variety: [SetElement] = [
        SetElement(
            key: [.address(IPAddress("10.96.0.10")!), .tcp, .port(80)],
            data: .verdict(.goto("service-default/web:http")), comment: "default/web:http"),
        SetElement(key: [.address(IPAddress("fd00:10:96::a")!), .udp, .port(53)], data: .verdict(.drop)),
        SetElement(
            key: [.address(IPAddress("10.96.0.10")!), .tcp, .port(80), .integer(3)],
            data: .values([.address(IPAddress("10.244.1.7")!), .port(8080)]), comment: "default/web-1"),
        SetElement(key: [.network(IPNetwork("10.0.0.0/8")!)]),
        SetElement(key: [.address(IPAddress("192.0.2.1")!), .tcp, .port(443), .network(IPNetwork("fd00::/64")!)]),
        SetElement(key: [.address(IPAddress("fd00:10:244::5")!)], comment: String(repeating: "é", count: 80)),
    ]

    @Test func elementMessagesAreLibnftnls() throws {
        // Enough elements for several messages.
        let elements = (0..<2_000).map { index in
            var element = Self.variety[index % Self.variety.count]
            if case .address(let address) = element.key[0], address.family == .ipv4 {
                element.key[0] = .address(IPAddress(ipv4: 0x0a60_0000 + UInt32(index)))
            }
            return element
        }
        let batch = Batch(
            Transaction([.addElements(Self.table, set: "endpoints", elements)]), firstSequence: 1, generation: nil)
        let messages = ReceivedMessage.split(batch.bytes, count: batch.bytes.count)
            .filter { batch.records[$0.sequence] != nil }
        #expect(messages.count > 1, "the list is cut into several messages")
        var carried = 0
        for message in messages {
            let record = try #require(batch.records[message.sequence])
            #expect(record.elements.lowerBound == carried)
            carried = record.elements.upperBound
            let reference = Self.libnftnlMessage(Array(elements[record.elements]), sequence: message.sequence)
            #expect(Array(message.bytes) == reference, "message \(message.sequence)")
        }
        #expect(carried == elements.count)
    }

    @Test func aRefusalNamesTheElementAtTheKernelsOffset() throws {
        let elements = Self.variety
        let batch = Batch(
            Transaction([.addElements(Self.table, set: "endpoints", elements)]), firstSequence: 1, generation: nil)
        let (sequence, record) = try #require(batch.records.first)
        for (index, offset) in record.elementOffsets.enumerated() {
            // The kernel points at the element's attribute or into it.
            for blamed in [Int(offset), Int(offset) + 5] {
                #expect(
                    batch.describe(sequence: sequence, attributeOffset: blamed)
                        == Operation.addElements(Self.table, set: "endpoints", [elements[index]]).summary)
            }
        }
        #expect(
            batch.describe(sequence: sequence, attributeOffset: Int?.none)
                == Operation.addElements(Self.table, set: "endpoints", elements).summary)
    }

    /// The elements' message as libnftnl builds it from its own element objects.
    static func libnftnlMessage(_ elements: [SetElement], sequence: UInt32) -> [UInt8] {
        Messages.build(
            NFT_MSG_NEWSETELEM, family: table.family, flags: Messages.request | Messages.create | Messages.exclusive,
            sequence: sequence
        ) { header in
            let set = NftnlSet(table: table.name, name: "endpoints")
            for element in elements { nftnl_set_elem_add(set.pointer, libnftnlElement(element)) }
            nftnl_set_elems_nlmsg_build_payload(header, set.pointer)
        }
    }

    static func libnftnlElement(_ element: SetElement) -> OpaquePointer {
        let object = nftnl_set_elem_alloc()!
        func set(_ type: Int, _ bytes: [UInt8]) {
            bytes.withUnsafeBytes { _ = nftnl_set_elem_set(object, UInt16(type), $0.baseAddress, UInt32($0.count)) }
        }
        set(NFTNL_SET_ELEM_KEY, ValueCoding.concatenation(element.key))
        if element.key.contains(where: \.isNetwork) {
            set(NFTNL_SET_ELEM_KEY_END, ValueCoding.concatenation(element.key, end: true))
        }
        switch element.data {
        case .verdict(let verdict)?:
            if case .immediateVerdict(let code, let chain) = verdict.immediate {
                nftnl_set_elem_set_u32(object, UInt16(NFTNL_SET_ELEM_VERDICT), UInt32(bitPattern: code.rawValue))
                if let chain { _ = nftnl_set_elem_set_str(object, UInt16(NFTNL_SET_ELEM_CHAIN), chain) }
            }
        case .values(let values)?: set(NFTNL_SET_ELEM_DATA, ValueCoding.concatenation(values))
        case nil: break
        }
        if let comment = element.comment { set(NFTNL_SET_ELEM_USERDATA, ElementComment.encode(comment)) }
        return object
    }
}
