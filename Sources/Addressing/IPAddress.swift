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

/// An IPv4 or IPv6 address as its bytes in network order.
///
/// Parsing and printing go through `inet_pton`/`inet_ntop`, so the accepted syntax and the
/// canonical text (RFC 5952 for IPv6) are the C library's, not ours.
public struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let family: IPFamily
    /// Network-order bytes: 4 for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        switch bytes.count {
        case 4: family = .ipv4
        case 16: family = .ipv6
        default: return nil
        }
        self.bytes = bytes
    }

    /// Parses dotted-quad IPv4 or textual IPv6; nil for anything else (including a prefix length).
    public init?(_ text: some StringProtocol) {
        let string = String(text)
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

    /// An IPv4 address from its value as a host-order integer (10.0.0.1 is 0x0A00_0001).
    public init(ipv4 value: UInt32) {
        family = .ipv4
        bytes = [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)]
    }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let af = family == .ipv4 ? AF_INET : AF_INET6
        let ok = bytes.withUnsafeBytes { raw in
            inet_ntop(af, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil
        }
        precondition(ok, "inet_ntop cannot fail for a well-sized address")
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        if lhs.family != rhs.family { return lhs.family < rhs.family }
        return lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
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
