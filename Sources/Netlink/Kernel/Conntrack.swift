import Addressing
internal import CMnl
import SystemPackage

/// Which conntrack entries to delete: flows to a service frontend (any local address when
/// `destination` is nil, for NodePorts) whose replies come from `replySource` (any when nil).
public struct ConntrackFilter: Hashable, Sendable {
    public var destination: IPAddress?
    public var port: UInt16
    public var transportProtocol: UInt8
    public var replySource: IPAddress?
    /// Entries whose replies come from one of these are kept (a frontend's serving endpoints).
    public var keepingReplySources: Set<IPAddress>

    public init(
        destination: IPAddress?, port: UInt16, transportProtocol: UInt8, replySource: IPAddress?,
        keepingReplySources: Set<IPAddress> = []
    ) {
        self.destination = destination
        self.port = port
        self.transportProtocol = transportProtocol
        self.replySource = replySource
        self.keepingReplySources = keepingReplySources
    }
}

extension NetfilterConnection {
    /// Deletes the conntrack entries that match any filter, over ctnetlink; returns how many.
    ///
    /// UDP has no connection end: after an endpoint goes away, its clients' entries keep
    /// sending them to it until they expire. Deleting them moves the next datagram to a live
    /// endpoint (kube-proxy does the same).
    @discardableResult
    public mutating func deleteConntrackEntries(matching filters: [ConntrackFilter]) throws(NetlinkError) -> Int {
        guard !filters.isEmpty else { return 0 }
        var deleted = 0
        // By port: a start-up scan has a filter for every UDP frontend of the cluster.
        let byPort = Dictionary(grouping: filters, by: \.port)
        // A filter names its family through an address; one with none (a NodePort flow from
        // any client) applies to both.
        var families: Set<UInt32> = []
        for filter in filters {
            if let family = (filter.destination ?? filter.replySource)?.family {
                families.insert(family.nfproto)
            } else {
                families.formUnion([IPFamily.ipv4.nfproto, IPFamily.ipv6.nfproto])
            }
        }
        for family in families.sorted() {
            let dump = Conntrack.message(
                type: Conntrack.get, flags: Messages.request | Messages.dump, family: UInt8(family),
                sequence: takeSequence(), attributes: [])
            for message in try exchange(dump, dump: true) where message.type == Conntrack.new {
                guard let entry = Conntrack.Entry(message) else { continue }
                guard entry.original.destinationPort.flatMap({ byPort[$0] })?.contains(where: entry.matches) == true
                else { continue }
                let delete = Conntrack.message(
                    type: Conntrack.delete, flags: Messages.request | UInt16(NLM_F_ACK), family: UInt8(family),
                    sequence: takeSequence(), attributes: [entry.originalTupleAttribute])
                do {
                    _ = try exchange(delete, dump: false)
                    deleted += 1
                } catch .system(_, .noSuchFileOrDirectory) {
                    // Expired meanwhile: as good as deleted.
                }
            }
        }
        return deleted
    }
}

/// ctnetlink (NFNL_SUBSYS_CTNETLINK) messages: built and parsed by hand, they are small.
enum Conntrack {
    static let subsystem: UInt16 = 1 << 8  // NFNL_SUBSYS_CTNETLINK
    static let new = subsystem | 0  // IPCTNL_MSG_CT_NEW (dump replies)
    static let get = subsystem | 1
    static let delete = subsystem | 2

    /// nlmsghdr + nfgenmsg + attributes already encoded.
    static func message(type: UInt16, flags: UInt16, family: UInt8, sequence: UInt32, attributes: [[UInt8]]) -> [UInt8]
    {
        let payload = attributes.flatMap { $0 }
        var bytes: [UInt8] = []
        bytes += le32(UInt32(16 + 4 + payload.count))
        bytes += le16(type) + le16(flags) + le32(sequence) + le32(0)
        bytes += [family, 0, 0, 0]  // version NFNETLINK_V0, res_id 0
        return bytes + payload
    }

    /// One conntrack entry's original and reply tuples.
    struct Entry {
        var original: Tuple
        var reply: Tuple
        /// CTA_TUPLE_ORIG exactly as the kernel sent it, to name the entry to delete.
        var originalTupleAttribute: [UInt8]

        struct Tuple {
            var source: IPAddress?
            var destination: IPAddress?
            var transportProtocol: UInt8?
            var destinationPort: UInt16?
        }

        init?(_ message: ReceivedMessage) {
            let body = message.bytes.dropFirst(16 + 4)
            var original: Tuple?
            var reply: Tuple?
            var raw: [UInt8] = []
            for attribute in Attributes.parse(body) {
                switch attribute.type {
                case 1:  // CTA_TUPLE_ORIG
                    original = Self.tuple(attribute.value)
                    raw = Array(attribute.whole)
                case 2: reply = Self.tuple(attribute.value)  // CTA_TUPLE_REPLY
                default: break
                }
            }
            guard let original, let reply else { return nil }
            self.original = original
            self.reply = reply
            originalTupleAttribute = raw
        }

        private static func tuple(_ bytes: ArraySlice<UInt8>) -> Tuple {
            var tuple = Tuple()
            for attribute in Attributes.parse(bytes) {
                switch attribute.type {
                case 1:  // CTA_TUPLE_IP
                    for address in Attributes.parse(attribute.value) {
                        let value = IPAddress(bytes: Array(address.value))
                        switch address.type {
                        case 1, 3: tuple.source = value  // CTA_IP_V4_SRC, CTA_IP_V6_SRC
                        case 2, 4: tuple.destination = value  // CTA_IP_V4_DST, CTA_IP_V6_DST
                        default: break
                        }
                    }
                case 2:  // CTA_TUPLE_PROTO
                    for field in Attributes.parse(attribute.value) {
                        switch field.type {
                        case 1: tuple.transportProtocol = field.value.first  // CTA_PROTO_NUM
                        case 3 where field.value.count >= 2:  // CTA_PROTO_DST_PORT, network order
                            tuple.destinationPort =
                                UInt16(field.value[field.value.startIndex]) << 8
                                | UInt16(field.value[field.value.startIndex + 1])
                        default: break
                        }
                    }
                default: break
                }
            }
            return tuple
        }

        func matches(_ filter: ConntrackFilter) -> Bool {
            original.transportProtocol == filter.transportProtocol && original.destinationPort == filter.port
                && (filter.destination == nil || original.destination == filter.destination)
                && (filter.replySource == nil || reply.source == filter.replySource)
                && !(reply.source.map(filter.keepingReplySources.contains) ?? false)
        }
    }

    /// Netlink attributes: (length u16, type u16 with flag bits, value), 4-byte aligned.
    enum Attributes {
        static func parse(_ bytes: ArraySlice<UInt8>) -> [(
            type: UInt16, value: ArraySlice<UInt8>, whole: ArraySlice<UInt8>
        )] {
            var result: [(type: UInt16, value: ArraySlice<UInt8>, whole: ArraySlice<UInt8>)] = []
            var offset = bytes.startIndex
            while offset + 4 <= bytes.endIndex {
                let length = Int(readU16(bytes, offset))
                guard length >= 4, offset + length <= bytes.endIndex else { break }
                let type = readU16(bytes, offset + 2) & 0x3fff
                result.append((type, bytes[(offset + 4)..<(offset + length)], bytes[offset..<(offset + length)]))
                offset += (length + 3) & ~3
            }
            return result
        }
    }

    static func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xff), UInt8(value >> 8)] }
    static func le32(_ value: UInt32) -> [UInt8] { le16(UInt16(value & 0xffff)) + le16(UInt16(value >> 16)) }
}
