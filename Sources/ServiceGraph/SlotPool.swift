import Addressing

/// Deterministic allocation from a range of slots (addresses, ports), kept up to date claimant by
/// claimant, for manifests that leave addresses and ports to the cluster.
///
/// Each claimant has a home slot, a stable hash of its name, and takes the first free slot from
/// there; where claimants compete, the one that sorts first gets the earlier slot (ordered linear
/// probing, after Amble and Knuth). The layout therefore depends only on the claimants and the
/// reserved slots, never on the order they came in: it equals the allocation of the whole input in
/// sorted order, so files may be read in any order, and an update moves only the claimants whose
/// slot it takes or frees. Slots reserved by the input's explicit values are never handed out.
struct SlotPool<Claimant: Hashable & Comparable & Sendable>: Sendable {
    let capacity: UInt64
    /// Slots that are never handed out (a network's own address, its broadcast address, …).
    private let isUsable: @Sendable (UInt64) -> Bool
    /// Probing is bounded: a huge IPv6 range is never full, a small one is walked at most once.
    private var probeLimit: UInt64 { min(capacity, 1 << 20) }

    private var reservations: [UInt64: Int] = [:]
    private var occupants: [UInt64: Claimant] = [:]
    private var slots: [Claimant: UInt64] = [:]
    private var homes: [Claimant: UInt64] = [:]
    /// Claimants for which no slot was free.
    private var unplaced: Set<Claimant> = []

    init(capacity: UInt64, isUsable: @escaping @Sendable (UInt64) -> Bool = { _ in true }) {
        self.capacity = capacity
        self.isUsable = isUsable
    }

    /// The claimant's slot; nil when it has none (the range is full) or is no claimant.
    func slot(of claimant: Claimant) -> UInt64? { slots[claimant] }

    func isUnplaced(_ claimant: Claimant) -> Bool { unplaced.contains(claimant) }

    /// How many claimants there are, placed or not.
    var claimCount: Int { slots.count + unplaced.count }

    /// Adds a claimant whose home is the stable hash of `name`. Returns every claimant whose slot
    /// changed (the new one included).
    mutating func claim(_ claimant: Claimant, name: String) -> Set<Claimant> {
        guard capacity > 0 else {
            unplaced.insert(claimant)
            return [claimant]
        }
        var moved = release(claimant)
        homes[claimant] = stableHash(name) % capacity
        place(claimant, from: homes[claimant]!, moved: &moved)
        return moved
    }

    /// Removes a claimant; returns the claimants whose slot changed (the removed one included).
    @discardableResult
    mutating func release(_ claimant: Claimant) -> Set<Claimant> {
        homes[claimant] = nil
        if unplaced.remove(claimant) != nil { return [claimant] }
        guard let slot = slots.removeValue(forKey: claimant) else { return [] }
        occupants[slot] = nil
        var moved: Set<Claimant> = [claimant]
        refill(after: slot, moved: &moved)
        return moved
    }

    /// Reserves a slot for an explicit value; the claimant there, if any, moves on.
    mutating func reserve(_ slot: UInt64) -> Set<Claimant> {
        guard slot < capacity else { return [] }
        reservations[slot, default: 0] += 1
        guard reservations[slot] == 1, let occupant = occupants.removeValue(forKey: slot) else { return [] }
        slots[occupant] = nil
        var moved: Set<Claimant> = [occupant]
        place(occupant, from: next(slot), moved: &moved)
        return moved
    }

    /// Gives back one reservation of a slot; when it was the last, claimants may move into it.
    mutating func unreserve(_ slot: UInt64) -> Set<Claimant> {
        guard let count = reservations[slot] else { return [] }
        reservations[slot] = count > 1 ? count - 1 : nil
        guard count == 1 else { return [] }
        var moved: Set<Claimant> = []
        refill(after: slot, moved: &moved)
        return moved
    }

    private func next(_ slot: UInt64) -> UInt64 { slot + 1 == capacity ? 0 : slot + 1 }

    private func isBlocked(_ slot: UInt64) -> Bool { reservations[slot] != nil || !isUsable(slot) }

    /// Ordered insertion: walks from `start`, taking a free slot, or the slot of a claimant that
    /// sorts after the one being placed (which then walks on from there).
    private mutating func place(_ claimant: Claimant, from start: UInt64, moved: inout Set<Claimant>) {
        var current = claimant
        var slot = start
        for _ in 0..<probeLimit {
            defer { slot = next(slot) }
            guard !isBlocked(slot) else { continue }
            guard let occupant = occupants[slot] else {
                occupants[slot] = current
                slots[current] = slot
                moved.insert(current)
                return
            }
            if current < occupant {
                occupants[slot] = current
                slots[current] = slot
                slots[occupant] = nil
                moved.formUnion([current, occupant])
                current = occupant
            }
        }
        unplaced.insert(current)
        moved.insert(current)
    }

    /// A slot became free: the claimants of the run of slots after it (up to the next free one)
    /// are placed again, in order, so that the layout stays the one of a fresh allocation.
    private mutating func refill(after freed: UInt64, moved: inout Set<Claimant>) {
        var run: [(Claimant, UInt64)] = []
        var slot = next(freed)
        for _ in 0..<probeLimit {
            if let occupant = occupants[slot] {
                run.append((occupant, slot))
            } else if !isBlocked(slot) {
                break
            }
            slot = next(slot)
        }
        var again = run.map(\.0) + unplaced
        unplaced = []
        for (occupant, slot) in run {
            occupants[slot] = nil
            slots[occupant] = nil
        }
        again.sort()
        var replaced: Set<Claimant> = []
        for claimant in again { place(claimant, from: homes[claimant]!, moved: &replaced) }
        let before = Dictionary(run, uniquingKeysWith: { a, _ in a })
        moved.formUnion(replaced.filter { before[$0] != slots[$0] })
    }
}

extension SlotPool {
    /// The addresses of `network`, without its network and broadcast addresses and the first host
    /// (which clusters give to the gateway, or to the `kubernetes` Service in the service range).
    init(network: IPNetwork) {
        let size = network.size
        self.init(capacity: size) { index in index >= 2 && (size < 4 || index < size - 1) }
    }
}

extension IPNetwork {
    /// The slot of an address of this network in a `SlotPool(network:)`.
    func slot(of address: IPAddress) -> UInt64? {
        guard contains(address) else { return nil }
        return address.offset(from: self.address)
    }

    func address(atSlot slot: UInt64) -> IPAddress? { address.advanced(by: slot) }
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
