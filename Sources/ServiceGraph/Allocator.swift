import Addressing

/// Deterministic allocation for manifests that leave addresses and ports to the cluster.
///
/// Each claimant starts at a slot given by a stable hash of its name and probes forward to the
/// first free one, and claimants are served in sorted order: the same input gives the same
/// result whatever the file order, and adding one object rarely moves another.
struct Allocator<Slot: Hashable> {
    private let slots: (UInt64) -> Slot?
    private let count: UInt64
    private var taken: Set<Slot>

    /// - Parameters:
    ///   - count: how many slots the range has.
    ///   - slot: the slot at an index in `0..<count`; nil for an index that must never be handed out.
    ///   - reserved: slots claimed explicitly by the input.
    init(count: UInt64, reserved: Set<Slot>, slot: @escaping (UInt64) -> Slot?) {
        self.count = count
        self.slots = slot
        self.taken = reserved
    }

    /// The slot for `name`, or nil when the range is full.
    mutating func allocate(for name: String) -> Slot? {
        guard count > 0 else { return nil }
        let start = stableHash(name) % count
        // Probing is bounded: a huge IPv6 range is never full, a small one is walked at most once.
        for step in 0..<min(count, 1 << 20) {
            guard let candidate = slots((start + step) % count), !taken.contains(candidate) else { continue }
            taken.insert(candidate)
            return candidate
        }
        return nil
    }
}

extension Allocator<IPAddress> {
    /// Addresses of `network`, without its network and broadcast addresses and the first host
    /// (which clusters give to the gateway, or to the `kubernetes` Service in the service range).
    init(network: IPNetwork, reserved: Set<IPAddress>) {
        let size = network.size
        self.init(count: size, reserved: reserved) { index in
            guard index >= 2, size < 4 || index < size - 1 else { return nil }
            return network.address.advanced(by: index)
        }
    }
}

/// FNV-1a, 64 bit: stable across runs and machines, unlike `Hasher`.
func stableHash(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash &*= 0x0000_0100_0000_01b3
    }
    return hash
}
