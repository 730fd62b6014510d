/// How large the kernel makes the hash tables of our sets.
///
/// A hash set declared without a size starts with 4 buckets and doubles while its elements go
/// in, with a rehash each time: a map of 300,000 elements took the kernel 1.2 s to load that
/// way, 0.63 s declared with a size, which makes it a table of fixed size allocated once
/// (`nft_hash` instead of `nft_rhash`). The size is also the most elements the kernel lets the set
/// hold, so nfcompile gives each set room to grow, keeps the kernel's set while its elements fit
/// (and it is not far too large), and declares it again, larger or smaller, when not.
extension NamedSet {
    /// Whether nfcompile sizes the set by its elements: a plain set or data map that it fills
    /// itself. Interval sets are trees; dynamic ones keep the capacity they are declared with.
    public var isSizedByElements: Bool { !isInterval && !isDynamic }

    /// The capacity given to a set of `count` elements: room for half as many again at least,
    /// and as many as the kernel's buckets for it hold at 3/4 load (it takes 4/3 of the size,
    /// rounded up to a power of two, as its bucket count: 2 to 4 buckets of 8 bytes per element);
    /// at least 192 (256 buckets, 2 KiB).
    public static func capacity(for count: Int) -> UInt32 {
        let wanted = max(256, count * 2)
        let buckets = 1 << (Int.bitWidth - (wanted - 1).leadingZeroBitCount)
        return UInt32(clamping: buckets / 4 * 3)
    }

    /// Whether a set of `capacity` keeps serving `count` elements: they fit, and it is at most 16
    /// times the capacity they would get. A cluster that shrank gives the kernel's memory back at
    /// the next full sync, and one whose size goes to and fro declares nothing again.
    public static func capacity(_ capacity: UInt32, serves count: Int) -> Bool {
        count <= Int(capacity) && Int(capacity) <= 16 * Int(Self.capacity(for: count))
    }

    /// The set declared with the capacity for its elements, when nfcompile sizes it.
    public func sizedForElements() -> NamedSet {
        guard isSizedByElements else { return self }
        var sized = self
        sized.capacity = Self.capacity(for: elements.count)
        return sized
    }

    /// Whether the kernel's set `self` can stay, with its elements changed, where `desired` is
    /// wanted: declared alike, or alike but for a capacity that still serves `desired`'s elements.
    public func canStay(as desired: NamedSet) -> Bool {
        if declaration == desired.declaration { return true }
        guard let capacity, differsOnlyInCapacity(from: desired) else { return false }
        return Self.capacity(capacity, serves: desired.elements.count)
    }

    /// Whether `other` is declared like this set but for its capacity: declaring the set again
    /// with the other capacity is all it takes, not a new table.
    public func differsOnlyInCapacity(from other: NamedSet) -> Bool {
        guard isSizedByElements, other.isSizedByElements else { return false }
        var resized = declaration
        resized.capacity = other.capacity
        return resized == other.declaration
    }
}

/// The capacity of every set sized by its elements, table by table.
public typealias SetCapacities = [TableID: [String: UInt32]]

extension Ruleset {
    public var capacities: SetCapacities {
        var result: SetCapacities = [:]
        for table in tables {
            for set in table.sets where set.isSizedByElements {
                result[table.id, default: [:]][set.name] = set.capacity
            }
        }
        return result
    }

    /// The capacities the kernel's sets have once `transaction` commits onto `self`: a set it
    /// declares has the capacity declared, the others keep theirs.
    public func capacities(after transaction: Transaction) -> SetCapacities {
        var result = capacities
        for operation in transaction.operations {
            switch operation {
            case .deleteTable(let id): result[id] = nil
            case .deleteSet(let id, let name): result[id]?[name] = nil
            case .addSet(let id, let set) where set.isSizedByElements:
                result[id, default: [:]][set.name] = set.capacity
            default: break
            }
        }
        return result
    }
}
