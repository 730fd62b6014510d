/// An IP prefix such as `10.96.0.0/12`: the network address with its host bits cleared.
public struct IPNetwork: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    public var family: IPFamily { address.family }

    /// A network from an address and prefix length; host bits are cleared.
    public init?(address: IPAddress, prefixLength: Int) {
        guard (0...address.family.byteCount * 8).contains(prefixLength) else { return nil }
        self.address = IPAddress(bytes: Self.mask(address.bytes, prefixLength))!
        self.prefixLength = prefixLength
    }

    /// Parses `ADDRESS/LENGTH`; a bare address is a host route (/32 or /128).
    /// Strict like Kubernetes: `10.96.0.1/12` (host bits set) is rejected.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(parts[0]) else { return nil }
        var length = address.family.byteCount * 8
        if parts.count == 2 {
            guard let parsed = Int(parts[1]), String(parsed) == parts[1] else { return nil }
            length = parsed
        }
        guard let network = IPNetwork(address: address, prefixLength: length), network.address == address else {
            return nil
        }
        self = network
    }

    public var description: String { "\(address)/\(prefixLength)" }

    /// How many addresses the network holds, saturating at `UInt64.max` for huge IPv6 prefixes.
    public var size: UInt64 {
        let hostBits = family.byteCount * 8 - prefixLength
        return hostBits >= 64 ? UInt64.max : UInt64(1) << UInt64(hostBits)
    }

    /// The network's highest address: its host bits all set.
    public var lastAddress: IPAddress {
        let bytes = address.bytes.enumerated().map { index, byte in
            let bitsInByte = max(0, min(8, prefixLength - index * 8))
            return byte | UInt8(0xff >> bitsInByte & 0xff)
        }
        return IPAddress(bytes: bytes)!
    }

    /// The prefix that spans exactly `first` to `last`, if one does.
    public init?(first: IPAddress, last: IPAddress) {
        guard first.family == last.family else { return nil }
        let differing = zip(first.bytes, last.bytes).map { $0 ^ $1 }
        let prefixLength =
            differing.prefix { $0 == 0 }.count * 8 + (differing.first { $0 != 0 }?.leadingZeroBitCount ?? 0)
        guard let network = IPNetwork(address: first, prefixLength: prefixLength), network.address == first,
            network.lastAddress == last
        else { return nil }
        self = network
    }

    public func contains(_ other: IPAddress) -> Bool {
        other.family == family && Self.mask(other.bytes, prefixLength) == address.bytes
    }

    public static func < (lhs: IPNetwork, rhs: IPNetwork) -> Bool {
        (lhs.address, lhs.prefixLength) < (rhs.address, rhs.prefixLength)
    }

    private static func mask(_ bytes: [UInt8], _ prefixLength: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let bitsInByte = max(0, min(8, prefixLength - index * 8))
            return bitsInByte == 0 ? 0 : byte & ~UInt8(0xff >> bitsInByte)
        }
    }
}
