internal import CMnl
internal import CNftnl
import Ruleset

/// Netlink messages of nf_tables, built with libnftnl into plain byte arrays.
enum Messages {
    /// Enough for one message: element lists are cut well below the 64 KiB attribute limit.
    static let scratchSize = 128 * 1024
    /// An element list's nested attribute must stay under 64 KiB (its length is 16 bits).
    static let elementListLimit = 60_000

    static let request = UInt16(NLM_F_REQUEST)
    static let create = UInt16(NLM_F_CREATE)
    static let exclusive = UInt16(NLM_F_EXCL)
    static let append = UInt16(NLM_F_APPEND)
    static let dump = UInt16(NLM_F_DUMP)

    /// Builds one nf_tables message: the header by libnftnl, the payload by `payload`.
    static func build(
        _ type: nf_tables_msg_types, family: TableFamily?, flags: UInt16, sequence: UInt32,
        payload: (UnsafeMutablePointer<nlmsghdr>) -> Void = { _ in }
    ) -> [UInt8] {
        withUnsafeTemporaryAllocation(byteCount: scratchSize, alignment: 8) { buffer in
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            let base = buffer.baseAddress!.assumingMemoryBound(to: CChar.self)
            let header = nftnl_nlmsg_build_hdr(
                base, UInt16(type.rawValue), UInt16(family?.nfproto ?? UInt32(NFPROTO_UNSPEC)), flags, sequence)!
            payload(header)
            return Array(UnsafeRawBufferPointer(start: header, count: Int(header.pointee.nlmsg_len)))
        }
    }

    /// BATCH_BEGIN, carrying the generation the batch was computed against: the kernel refuses
    /// the whole batch with ERESTART if another transaction committed since (compare-and-swap).
    static func batchBegin(sequence: UInt32, generation: UInt32?) -> [UInt8] {
        withUnsafeTemporaryAllocation(byteCount: 64, alignment: 8) { buffer in
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            let base = buffer.baseAddress!.assumingMemoryBound(to: CChar.self)
            let header = nftnl_batch_begin(base, sequence)!
            if let generation { mnl_attr_put_u32(header, UInt16(NFNL_BATCH_GENID.rawValue), generation.bigEndian) }
            return Array(UnsafeRawBufferPointer(start: header, count: Int(header.pointee.nlmsg_len)))
        }
    }

    static func batchEnd(sequence: UInt32) -> [UInt8] {
        withUnsafeTemporaryAllocation(byteCount: 64, alignment: 8) { buffer in
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            let header = nftnl_batch_end(buffer.baseAddress!.assumingMemoryBound(to: CChar.self), sequence)!
            return Array(UnsafeRawBufferPointer(start: header, count: Int(header.pointee.nlmsg_len)))
        }
    }

    static func getGeneration(sequence: UInt32) -> [UInt8] {
        build(NFT_MSG_GETGEN, family: nil, flags: request, sequence: sequence)
    }
}

// MARK: - Parsing what the kernel sends

/// One message of a received datagram.
struct ReceivedMessage {
    var type: UInt16
    var flags: UInt16
    var sequence: UInt32
    /// The whole message, header included.
    var bytes: ArraySlice<UInt8>

    static let error = UInt16(NLMSG_ERROR)
    static let done = UInt16(NLMSG_DONE)

    /// Splits a datagram into its messages, each with a copy of its bytes: a slice of the receive
    /// buffer would keep a copy of the whole buffer alive once it is reused (a dump of 240,000
    /// elements held 261 MiB that way).
    static func split(_ buffer: [UInt8], count: Int) -> [ReceivedMessage] {
        let buffer = buffer[...]
        var messages: [ReceivedMessage] = []
        var offset = 0
        while offset + 16 <= count {
            let length = Int(readU32(buffer, offset))
            guard length >= 16, offset + length <= count else { break }
            messages.append(
                ReceivedMessage(
                    type: readU16(buffer, offset + 4), flags: readU16(buffer, offset + 6),
                    sequence: readU32(buffer, offset + 8), bytes: Array(buffer[offset..<offset + length])[...]))
            offset += (length + 3) & ~3
        }
        return messages
    }

    var isDumpInterrupted: Bool { flags & UInt16(NLM_F_DUMP_INTR) != 0 }

    /// For NLMSG_ERROR: the errno (0 for an ack), the refused message's sequence number, and the
    /// offset of the attribute the kernel blamed (extended ack), if any.
    var errorReport: (code: Int32, sequence: UInt32, attributeOffset: Int?) {
        let start = bytes.startIndex
        let code = Int32(bitPattern: readU32(bytes, start + 16))
        let sequence = readU32(bytes, start + 20 + 8)
        var attributeOffset: Int?
        // Extended-ack attributes follow the (capped) copy of the refused message's header.
        if flags & UInt16(NLM_F_ACK_TLVS) != 0 {
            var offset = start + 20 + (flags & UInt16(NLM_F_CAPPED) != 0 ? 16 : Int(readU32(bytes, start + 20)))
            while offset + 4 <= bytes.endIndex {
                let length = Int(readU16(bytes, offset))
                let type = readU16(bytes, offset + 2) & 0x3fff
                guard length >= 4 else { break }
                if type == UInt16(NLMSGERR_ATTR_OFFS.rawValue), length >= 8 {
                    attributeOffset = Int(readU32(bytes, offset + 4))
                }
                offset += (length + 3) & ~3
            }
        }
        return (code, sequence, attributeOffset)
    }

    /// For NEWGEN (an answer to GETGEN, or an event): the ruleset generation it carries.
    var generation: UInt32 {
        withHeader { header in
            let gen = nftnl_gen_alloc()!
            defer { nftnl_gen_free(gen) }
            _ = nftnl_gen_nlmsg_parse(header, gen)
            return nftnl_gen_get_u32(gen, attribute(NFTNL_GEN_ID))
        }
    }

    /// Calls `body` with the message as a libnftnl parser wants it.
    func withHeader<T>(_ body: (UnsafePointer<nlmsghdr>) -> T) -> T {
        bytes.withUnsafeBytes { raw in body(raw.baseAddress!.assumingMemoryBound(to: nlmsghdr.self)) }
    }
}

/// Little-endian (host order) reads at absolute indexes of a slice.
func readU16(_ bytes: ArraySlice<UInt8>, _ index: Int) -> UInt16 {
    UInt16(bytes[index]) | UInt16(bytes[index + 1]) << 8
}

func readU32(_ bytes: ArraySlice<UInt8>, _ index: Int) -> UInt32 {
    UInt32(readU16(bytes, index)) | UInt32(readU16(bytes, index + 2)) << 16
}
