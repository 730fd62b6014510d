#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The address family of an IP address, network or table.
public enum IPFamily: String, Hashable, Sendable, CaseIterable, Comparable {
    case ipv4
    case ipv6

    /// Address length in bytes.
    public var byteCount: Int { self == .ipv4 ? 4 : 16 }

    public static func < (lhs: IPFamily, rhs: IPFamily) -> Bool { lhs == .ipv4 && rhs == .ipv6 }
}

/// An IPv4 or IPv6 address.
///
/// Stored inline as a 128-bit number (IPv4 in the low 32 bits), not as an array: rulesets hold
/// hundreds of thousands of addresses, and each array would be a heap allocation.
public struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let family: IPFamily
    private let high: UInt64
    private let low: UInt64

    public init?(bytes: [UInt8]) {
        switch bytes.count {
        case 4: family = .ipv4
        case 16: family = .ipv6
        default: return nil
        }
        var words: (UInt64, UInt64) = (0, 0)
        for (index, byte) in bytes.enumerated() {
            let position = bytes.count - 1 - index  // bytes from the least significant
            if position < 8 {
                words.1 |= UInt64(byte) << UInt64(position * 8)
            } else {
                words.0 |= UInt64(byte) << UInt64((position - 8) * 8)
            }
        }
        (high, low) = words
    }

    /// Two words that order like the addresses of one family (for fast sorting); an IPv4
    /// address is all in the low one.
    public var orderedWords: (high: UInt64, low: UInt64) { (high, low) }

    /// Network-order bytes: 4 for IPv4, 16 for IPv6.
    public var bytes: [UInt8] { (0..<family.byteCount).map(byte) }

    /// The address's byte at `index` in network order (0 is the first on the wire).
    public func byte(_ index: Int) -> UInt8 {
        let position = family.byteCount - 1 - index
        return position < 8
            ? UInt8(truncatingIfNeeded: low >> UInt64(position * 8))
            : UInt8(truncatingIfNeeded: high >> UInt64((position - 8) * 8))
    }

    /// Parses dotted-quad IPv4 or textual IPv6; nil for anything else (including a prefix length).
    public init?(_ text: some StringProtocol) {
        // The common case without an allocation: an endpoint's address, 100,000 of them in a
        // large cluster. What it does not take, inet_pton decides.
        var string = String(text)
        if let value = string.withUTF8(Self.dottedQuad) {
            self.init(ipv4: value)
            return
        }
        if string.contains(":") {
            var raw = in6_addr()
            guard inet_pton(AF_INET6, string, &raw) == 1 else { return nil }
            self.init(bytes: withUnsafeBytes(of: raw) { Array($0) })
        } else {
            var raw = in_addr()
            guard inet_pton(AF_INET, string, &raw) == 1 else { return nil }
            self.init(bytes: withUnsafeBytes(of: raw) { Array($0) })
        }
    }

    /// Four decimal octets as inet_pton reads them (each 0 to 255, no leading zeros), as a
    /// host-order value; nil for anything else.
    static func dottedQuad(_ text: UnsafeBufferPointer<UInt8>) -> UInt32? {
        var value: UInt32 = 0
        var octet: UInt32 = 0
        var digits = 0
        var dots = 0
        for byte in text {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, dots < 3 else { return nil }
                value = value << 8 | octet
                (octet, digits, dots) = (0, 0, dots + 1)
            } else {
                let digit = UInt32(byte &- UInt8(ascii: "0"))
                guard digit < 10, digits == 0 || octet != 0 else { return nil }
                octet = octet * 10 + digit
                digits += 1
                guard octet <= 255 else { return nil }
            }
        }
        guard digits > 0, dots == 3 else { return nil }
        return value << 8 | octet
    }

    /// An IPv4 address from its value as a host-order integer (10.0.0.1 is 0x0A00_0001).
    public init(ipv4 value: UInt32) {
        family = .ipv4
        high = 0
        low = UInt64(value)
    }

    public var description: String {
        if family == .ipv4 {  // without inet_ntop's buffers: rulesets print hundreds of thousands
            let value = UInt32(truncatingIfNeeded: low)
            return "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
        }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok = bytes.withUnsafeBytes { raw in
            inet_ntop(AF_INET6, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil
        }
        precondition(ok, "inet_ntop cannot fail for a well-sized address")
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        (lhs.family == .ipv4 ? 0 : 1, lhs.high, lhs.low) < (rhs.family == .ipv4 ? 0 : 1, rhs.high, rhs.low)
    }

    /// What makes this address unfit for a Service or a pod, as Kubernetes' validation names it;
    /// nil for an ordinary unicast address.
    public var specialPurpose: String? {
        switch family {
        case .ipv4:
            let value = UInt32(truncatingIfNeeded: low)
            if value == 0 { return "the unspecified address" }
            if value >> 24 == 127 { return "a loopback address" }
            if value >> 16 == 0xA9FE {
                return value == 0xA9FE_A9FE ? "the cloud metadata address (link-local)" : "a link-local address"
            }
            if value >> 28 == 0xE { return "a multicast address" }
            if value == 0xFFFF_FFFF { return "the broadcast address" }
        case .ipv6:
            if high == 0 && low == 0 { return "the unspecified address" }
            if high == 0 && low == 1 { return "the loopback address" }
            if high >> 54 == 0x3FA { return "a link-local address" }  // fe80::/10
            if high >> 56 == 0xFF { return "a multicast address" }
            if high == 0 && low >> 32 == 0xFFFF { return specialPurposeOfMappedIPv4 }
        }
        return nil
    }

    /// An IPv4-mapped IPv6 address is as special as the IPv4 address it maps.
    private var specialPurposeOfMappedIPv4: String? {
        IPAddress(ipv4: UInt32(truncatingIfNeeded: low)).specialPurpose.map { "\($0) (IPv4-mapped)" }
    }

    /// How many places after `base` this address is; nil when it is before it, of another
    /// family, or more than 2^64 - 1 places away.
    public func offset(from base: IPAddress) -> UInt64? {
        guard family == base.family, (high, low) >= (base.high, base.low) else { return nil }
        let (difference, borrow) = low.subtractingReportingOverflow(base.low)
        return high - base.high - (borrow ? 1 : 0) == 0 ? difference : nil
    }

    /// The address `offset` places after this one, or nil past the end of the family's space.
    public func advanced(by offset: UInt64) -> IPAddress? {
        var result = bytes
        var carry = offset
        for index in result.indices.reversed() where carry > 0 {
            let sum = UInt64(result[index]) + (carry & 0xff)
            result[index] = UInt8(sum & 0xff)
            carry = (carry >> 8) + (sum >> 8)
        }
        return carry == 0 ? IPAddress(bytes: result) : nil
    }
}
