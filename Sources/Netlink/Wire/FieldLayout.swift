import Addressing
import Ruleset

/// How each IR field sits in packets, registers and set keys.
extension Field {
    /// Bytes of the value itself.
    var byteLength: Int {
        switch self {
        case .sourceAddress(let family), .destinationAddress(let family), .originalSourceAddress(let family),
            .originalDestinationAddress(let family):
            family.byteCount
        case .transportProtocol: 1
        case .destinationPort, .originalDestinationPort: 2
        case .mark, .randomBucket: 4
        }
    }

    /// Bytes it takes in a register or a concatenated key: rounded up to whole 4-byte registers.
    var paddedLength: Int { (byteLength + 3) & ~3 }

    /// nft's datatype number (src/datatype.h): what `nft list` uses to print values.
    var datatype: UInt32 {
        switch self {
        case .sourceAddress(.ipv4), .destinationAddress(.ipv4), .originalSourceAddress(.ipv4),
            .originalDestinationAddress(.ipv4):
            7  // ipv4_addr
        case .sourceAddress(.ipv6), .destinationAddress(.ipv6), .originalSourceAddress(.ipv6),
            .originalDestinationAddress(.ipv6):
            8  // ipv6_addr
        case .transportProtocol: 12  // inet_proto
        case .destinationPort, .originalDestinationPort: 13  // inet_service
        case .mark: 19  // mark
        case .randomBucket: 4  // integer
        }
    }

    /// Where a payload field is: header, offset and length.
    var payloadLocation: (base: Expression.PayloadBase, offset: UInt32)? {
        switch self {
        case .sourceAddress(.ipv4): (.network, 12)
        case .destinationAddress(.ipv4): (.network, 16)
        case .sourceAddress(.ipv6): (.network, 8)
        case .destinationAddress(.ipv6): (.network, 24)
        case .destinationPort: (.transport, 2)
        case .transportProtocol, .mark, .randomBucket, .originalSourceAddress, .originalDestinationAddress,
            .originalDestinationPort:
            nil
        }
    }

    /// The conntrack key of a `ct original …` field.
    var conntrackKey: Expression.ConntrackKey? {
        switch self {
        case .originalSourceAddress(.ipv4): .sourceIP
        case .originalDestinationAddress(.ipv4): .destinationIP
        case .originalSourceAddress(.ipv6): .sourceIP6
        case .originalDestinationAddress(.ipv6): .destinationIP6
        case .originalDestinationPort: .protocolDestination
        default: nil
        }
    }

    /// The expression that loads the field into `register`.
    func load(into register: Register) -> Expression {
        switch self {
        case .transportProtocol: .meta(.l4proto, destination: register)
        case .mark: .meta(.mark, destination: register)
        case .randomBucket(let modulus): .randomNumber(modulus: modulus, destination: register)
        case .originalSourceAddress, .originalDestinationAddress, .originalDestinationPort:
            .conntrackOriginal(conntrackKey!, destination: register)
        case .sourceAddress, .destinationAddress, .destinationPort:
            .payload(
                base: payloadLocation!.base, offset: payloadLocation!.offset, length: UInt32(byteLength),
                destination: register)
        }
    }

    /// The field a full-length load expression reads, if it is one of ours.
    init?(loadedBy expression: Expression) {
        switch expression {
        case .meta(.l4proto, _): self = .transportProtocol
        case .meta(.mark, _): self = .mark
        case .randomNumber(let modulus, _): self = .randomBucket(modulus: modulus)
        case .conntrackOriginal(let key, _):
            let candidates: [Field] = [
                .originalSourceAddress(.ipv4), .originalDestinationAddress(.ipv4), .originalSourceAddress(.ipv6),
                .originalDestinationAddress(.ipv6), .originalDestinationPort,
            ]
            guard let field = candidates.first(where: { $0.conntrackKey == key }) else { return nil }
            self = field
        case .payload(let base, let offset, let length, _):
            let candidates: [Field] = [
                .sourceAddress(.ipv4), .destinationAddress(.ipv4), .sourceAddress(.ipv6), .destinationAddress(.ipv6),
                .destinationPort,
            ]
            guard
                let field = candidates.first(where: {
                    $0.payloadLocation?.base == base && $0.payloadLocation?.offset == offset
                        && UInt32($0.byteLength) == length
                })
            else { return nil }
            self = field
        default: return nil
        }
    }
}

/// Values as bytes: network order for addresses and ports, host order for integers (as the
/// kernel's registers hold them). Keys of concatenations pad every field to 4 bytes.
enum ValueCoding {
    /// A value's bytes; its type says how many (fields only matter when decoding).
    static func bytes(_ value: Value) -> [UInt8] {
        switch value {
        case .address(let address): address.bytes
        case .network(let network): network.address.bytes
        case .transportProtocol(let number): [number]
        case .port(let port): [UInt8(port >> 8), UInt8(port & 0xff)]
        case .integer(let integer): hostOrder(integer)
        }
    }

    static func value(_ bytes: ArraySlice<UInt8>, as field: Field) -> Value? {
        guard bytes.count >= field.byteLength else { return nil }
        let bytes = Array(bytes.prefix(field.byteLength))
        switch field {
        case .sourceAddress, .destinationAddress, .originalSourceAddress, .originalDestinationAddress:
            return IPAddress(bytes: bytes).map(Value.address)
        case .transportProtocol: return .transportProtocol(bytes[0])
        case .destinationPort, .originalDestinationPort: return .port(UInt16(bytes[0]) << 8 | UInt16(bytes[1]))
        case .mark, .randomBucket: return .integer(fromHostOrder(bytes))
        }
    }

    /// A concatenated key or data value: each part padded to a multiple of 4 bytes. A network
    /// stands for its first address, or its last one in the `end` of an interval's key.
    static func concatenation(_ values: [Value], end: Bool = false) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: paddedLength(values)) { buffer, count in
            count = write(values, end: end, into: UnsafeMutableRawBufferPointer(buffer))
        }
    }

    /// `concatenation` written into `buffer` (at least `paddedLength(values)` bytes) without
    /// allocating; returns its length.
    static func write(_ values: [Value], end: Bool = false, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        // Without local functions over `offset`: captured by them, it was checked for exclusive
        // access at run time on every byte (a quarter of building a batch).
        var offset = 0
        for value in values {
            let start = offset
            switch value {
            case .address(let address): offset = write(address, into: buffer, at: offset)
            case .network(let network):
                offset = write(end ? network.lastAddress : network.address, into: buffer, at: offset)
            case .transportProtocol(let number):
                buffer[offset] = number
                offset += 1
            case .port(let port):
                buffer[offset] = UInt8(port >> 8)
                buffer[offset + 1] = UInt8(port & 0xff)
                offset += 2
            case .integer(let integer):
                // Host order, as registers hold it.
                buffer.storeBytes(of: integer, toByteOffset: offset, as: UInt32.self)
                offset += 4
            }
            while (offset - start) % 4 != 0 {
                buffer[offset] = 0
                offset += 1
            }
        }
        return offset
    }

    private static func write(_ address: IPAddress, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        let count = address.family.byteCount
        for index in 0..<count { buffer[offset + index] = address.byte(index) }
        return offset + count
    }

    /// The key of an interval set's element from its start and end: the last field's range as
    /// its prefix, the others equal at both ends. nil for any other range (not one nfcompile
    /// writes).
    static func intervalKey(start: [Value], end: [Value]) -> [Value]? {
        guard start.count == end.count, case .address(let low)? = start.last, case .address(let high)? = end.last,
            let network = IPNetwork(first: low, last: high), start.dropLast() == end.dropLast()
        else { return nil }
        return start.dropLast() + [.network(network)]
    }

    /// The length of `concatenation(values)`, without building it.
    static func paddedLength(_ values: [Value]) -> Int {
        values.reduce(0) { total, value in
            switch value {
            case .address(let address): total + address.family.byteCount
            case .network(let network): total + network.family.byteCount
            case .transportProtocol, .port, .integer: total + 4
            }
        }
    }

    static func split(_ bytes: [UInt8], as fields: [Field]) -> [Value]? {
        var values: [Value] = []
        var offset = 0
        for field in fields {
            guard offset + field.byteLength <= bytes.count,
                let value = value(bytes[offset..<offset + field.byteLength], as: field)
            else { return nil }
            values.append(value)
            offset += field.paddedLength
        }
        return offset == bytes.count ? values : nil
    }

    static func hostOrder(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }

    static func fromHostOrder(_ bytes: some Collection<UInt8>) -> UInt32 {
        var value: UInt32 = 0
        withUnsafeMutableBytes(of: &value) { raw in
            for (index, byte) in bytes.prefix(4).enumerated() { raw[index] = byte }
        }
        return value
    }
}
