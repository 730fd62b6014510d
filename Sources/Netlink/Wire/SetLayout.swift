import Ruleset

/// A set's declaration as the kernel stores it. nft reads `userData` to print `typeof`, so we
/// write it byte for byte as nft 1.0.6 does (checked against sets that nft itself created).
struct SetAttributes: Hashable, Sendable {
    static let mapFlag: UInt32 = 0x8  // NFT_SET_MAP
    static let intervalFlag: UInt32 = 0x4  // NFT_SET_INTERVAL
    static let concatFlag: UInt32 = 0x80  // NFT_SET_CONCAT
    static let dynamicFlags: UInt32 = 0x10 | 0x20  // NFT_SET_TIMEOUT | NFT_SET_EVAL
    static let verdictDatatype: UInt32 = 0xffff_ff00  // NFT_DATA_VERDICT
    static let verdictLength: UInt32 = 16

    var flags: UInt32
    var keyType: UInt32
    var keyLength: UInt32
    var dataType: UInt32?
    var dataLength: UInt32?
    var userData: [UInt8]
    /// The length of each field of an interval concatenation (NFTA_SET_DESC_CONCAT): the kernel's
    /// interval back-end for concatenations needs them. Empty otherwise.
    var fieldLengths: [UInt8] = []
    /// NFTA_SET_DESC_SIZE: the most elements the set holds; only dynamic sets have one.
    var size: UInt32?
}

extension NamedSet {
    var attributes: SetAttributes {
        var userData = UserData.u32(.keyByteOrder, key.count > 1 ? 0 : 2)  // 0 concatenation, 2 big endian
        if data != nil { userData += UserData.u32(.dataByteOrder, 0) }
        userData += UserData.tlv(.keyTypeof, UserData.typeof(key))
        switch data {
        case .verdict?:
            userData += UserData.tlv(.dataTypeof, UserData.u32(0, UserData.verdictExpression) + UserData.tlv(1, []))
        case .fields(let fields)?:
            userData += UserData.tlv(.dataTypeof, UserData.typeof(fields))
        case nil: break
        }
        if data != nil { userData += UserData.u32(.dataInterval, 0) }

        var flags = data == nil ? 0 : SetAttributes.mapFlag
        if isInterval { flags |= SetAttributes.intervalFlag | (key.count > 1 ? SetAttributes.concatFlag : 0) }
        if isDynamic { flags |= SetAttributes.dynamicFlags }
        var attributes = SetAttributes(
            flags: flags, keyType: Self.datatype(key), keyLength: UInt32(key.reduce(0) { $0 + $1.paddedLength }),
            userData: userData, fieldLengths: isInterval && key.count > 1 ? key.map { UInt8($0.byteLength) } : [],
            size: capacity)
        switch data {
        case .verdict?:
            attributes.dataType = SetAttributes.verdictDatatype
            attributes.dataLength = SetAttributes.verdictLength
        case .fields(let fields)?:
            attributes.dataType = Self.datatype(fields)
            attributes.dataLength = UInt32(fields.reduce(0) { $0 + $1.paddedLength })
        case nil: break
        }
        return attributes
    }

    /// The declaration of a set read from the kernel; nil when it is not declared exactly as
    /// nfcompile declares its sets.
    init?(name: String, attributes: SetAttributes) {
        let entries = UserData.parse(attributes.userData)
        guard let keyTypeof = entries[UserData.SetKey.keyTypeof.rawValue],
            let key = UserData.fields(fromTypeof: keyTypeof)
        else { return nil }
        var data: Data?
        if attributes.flags & SetAttributes.mapFlag != 0 {
            if attributes.dataType == SetAttributes.verdictDatatype {
                data = .verdict
            } else if let dataTypeof = entries[UserData.SetKey.dataTypeof.rawValue],
                let fields = UserData.fields(fromTypeof: dataTypeof)
            {
                data = .fields(fields)
            } else {
                return nil
            }
        }
        self.init(
            name: name, key: key, data: data, isInterval: attributes.flags & SetAttributes.intervalFlag != 0,
            isDynamic: attributes.flags & SetAttributes.dynamicFlags != 0, capacity: attributes.size)
        // Anything else than what nfcompile writes (other flags: anonymous, constant, timeout;
        // other types or lengths; other userdata) is someone else's set.
        guard self.attributes == attributes else { return nil }
    }

    /// A concatenation's datatype: the parts' numbers, 6 bits each (nft's concat_subtype_add).
    static func datatype(_ fields: [Field]) -> UInt32 {
        fields.reduce(0) { ($0 << 6) | $1.datatype }
    }
}

/// nftnl's userdata: a list of (type: u8, length: u8, value) entries, nestable; numbers in host order.
enum UserData {
    enum SetKey: UInt8 {
        case keyByteOrder = 0
        case dataByteOrder = 1
        case keyTypeof = 3
        case dataTypeof = 4
        case dataInterval = 6
    }

    /// nft's expression type numbers (enum expr_types) used in typeof declarations.
    static let verdictExpression: UInt32 = 1
    static let payloadExpression: UInt32 = 7
    static let metaExpression: UInt32 = 9
    static let concatExpression: UInt32 = 13
    static let numgenExpression: UInt32 = 23
    /// nft's protocol description numbers (enum proto_desc_id) and header field indexes.
    static let ipDescription: UInt32 = 12
    static let ip6Description: UInt32 = 13
    static let transportDescription: UInt32 = 11

    static func tlv(_ type: UInt8, _ value: [UInt8]) -> [UInt8] { [type, UInt8(value.count)] + value }
    static func tlv(_ key: SetKey, _ value: [UInt8]) -> [UInt8] { tlv(key.rawValue, value) }
    static func u32(_ type: UInt8, _ value: UInt32) -> [UInt8] { tlv(type, ValueCoding.hostOrder(value)) }
    static func u32(_ key: SetKey, _ value: UInt32) -> [UInt8] { u32(key.rawValue, value) }

    /// A typeof declaration: one expression, or a concatenation of them.
    static func typeof(_ fields: [Field]) -> [UInt8] {
        if fields.count == 1 {
            let (type, data) = expression(fields[0])
            return u32(0, type) + tlv(1, data)
        }
        let parts = fields.enumerated().flatMap { index, field in
            let (type, data) = expression(field)
            return tlv(UInt8(index), u32(0, type) + tlv(1, data))
        }
        return u32(0, concatExpression) + tlv(1, parts)
    }

    private static func expression(_ field: Field) -> (UInt32, [UInt8]) {
        switch field {
        case .sourceAddress(.ipv4): (payloadExpression, u32(0, ipDescription) + u32(1, 11))
        case .destinationAddress(.ipv4): (payloadExpression, u32(0, ipDescription) + u32(1, 12))
        case .sourceAddress(.ipv6): (payloadExpression, u32(0, ip6Description) + u32(1, 8))
        case .destinationAddress(.ipv6): (payloadExpression, u32(0, ip6Description) + u32(1, 9))
        case .destinationPort: (payloadExpression, u32(0, transportDescription) + u32(1, 2))
        case .transportProtocol: (metaExpression, u32(0, Expression.MetaKey.l4proto.rawValue))
        case .mark: (metaExpression, u32(0, Expression.MetaKey.mark.rawValue))
        case .randomBucket(let modulus): (numgenExpression, u32(0, 1) + u32(1, modulus) + u32(2, 0))
        case .originalSourceAddress, .originalDestinationAddress, .originalDestinationPort:
            // Conntrack fields are matched and loaded, never declared as a set's key or data.
            preconditionFailure("nfcompile declares no set of \(field)")
        }
    }

    static func fields(fromTypeof bytes: [UInt8]) -> [Field]? {
        let entries = parse(bytes)
        guard let typeBytes = entries[0], let data = entries[1] else { return nil }
        let type = ValueCoding.fromHostOrder(typeBytes)
        guard type == concatExpression else { return field(type: type, data: data).map { [$0] } }
        let parts = parse(data)
        var fields: [Field] = []
        for index in 0..<UInt8(parts.count) {
            guard let part = parts[index].map(parse), let subtype = part[0], let subdata = part[1],
                let field = field(type: ValueCoding.fromHostOrder(subtype), data: subdata)
            else { return nil }
            fields.append(field)
        }
        return fields.isEmpty ? nil : fields
    }

    private static func field(type: UInt32, data: [UInt8]) -> Field? {
        let entries = parse(data).mapValues { ValueCoding.fromHostOrder($0) }
        switch (type, entries[0], entries[1]) {
        case (payloadExpression, ipDescription, 11): return .sourceAddress(.ipv4)
        case (payloadExpression, ipDescription, 12): return .destinationAddress(.ipv4)
        case (payloadExpression, ip6Description, 8): return .sourceAddress(.ipv6)
        case (payloadExpression, ip6Description, 9): return .destinationAddress(.ipv6)
        case (payloadExpression, transportDescription, 2): return .destinationPort
        case (metaExpression, Expression.MetaKey.l4proto.rawValue, _): return .transportProtocol
        case (metaExpression, Expression.MetaKey.mark.rawValue, _): return .mark
        case (numgenExpression, 1, let modulus?): return .randomBucket(modulus: modulus)
        default: return nil
        }
    }

    /// Entries by type; later duplicates win (nft writes none).
    static func parse(_ bytes: [UInt8]) -> [UInt8: [UInt8]] {
        var entries: [UInt8: [UInt8]] = [:]
        var index = 0
        while index + 2 <= bytes.count {
            let type = bytes[index]
            let length = Int(bytes[index + 1])
            guard index + 2 + length <= bytes.count else { break }
            entries[type] = Array(bytes[index + 2..<index + 2 + length])
            index += 2 + length
        }
        return entries
    }
}

/// Element comments travel as userdata too: entry 0, a NUL-terminated string.
enum ElementComment {
    static func encode(_ comment: String) -> [UInt8] { UserData.tlv(0, Array(comment.utf8) + [0]) }

    static func decode(_ bytes: [UInt8]) -> String? {
        guard let value = UserData.parse(bytes)[0] else { return nil }
        return String(decoding: value.prefix { $0 != 0 }, as: UTF8.self)
    }
}
