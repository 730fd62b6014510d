/// How a frontend reaches the leaf chain of its bucket count without a verdict map: a binary
/// decision tree over the bits of the counts in use. Every frontend is in the bit set of each bit
/// its bucket count has; a node tests a bit on which its counts differ (one whose counts share
/// every higher bit, the one that splits them most evenly), sends the counts with that bit to one
/// branch and keeps the others. So a packet meets at most one test per bit (five for 32 counts,
/// instead of 32 rules in a row), the sets only ever change by elements, and the tree itself
/// changes only when the counts in use do.
struct DispatchTree: Equatable {
    /// One test of a node: frontends in the bit set of `bit` go on to `counts` (a leaf when it is
    /// one count, else the inner node for the counts from `low` to `high`).
    struct Test: Equatable {
        var bit: Int
        var counts: [Int]
        var low: Int
        var high: Int
    }

    /// A chain of the tree: its tests in order, then the leaf of the one count left.
    struct Node: Equatable {
        var low: Int
        var high: Int
        var tests: [Test]
        var fallback: Int
    }

    /// nil when no count is in use.
    private(set) var root: Node?
    /// The nodes that have a chain of their own, by the range of counts they cover.
    private(set) var innerNodes: [Node] = []

    /// `counts` sorted, without repeats.
    init(counts: [Int]) {
        guard !counts.isEmpty else { return }
        root = node(counts, low: 0, high: Int.max)
        innerNodes.sort { ($0.low, $0.high) < ($1.low, $1.high) }
    }

    private mutating func node(_ counts: [Int], low: Int, high: Int) -> Node {
        var tests: [Test] = []
        var rest = counts
        while rest.count > 1 {
            let differing = rest.reduce(0) { $0 | $1 } ^ rest.reduce(~0) { $0 & $1 }
            // A bit whose counts share every higher bit (so they span one aligned range, their
            // node's): the highest differing bit always is one. Of those, the one that splits the
            // counts most evenly, so that no path is longer than it must be (counts 1…32: five
            // tests at most, where the highest bit first, which takes 32 alone, gave six).
            let splits = (0..<Int.bitWidth).map { 1 << $0 }.filter { differing & $0 != 0 }.compactMap {
                bit -> (bit: Int, ones: [Int])? in
                let ones = rest.filter { $0 & bit != 0 }
                let higher = ~(bit | (bit - 1))
                return Set(ones.map { $0 & higher }).count == 1 ? (bit, ones) : nil
            }
            func unevenness(_ ones: [Int]) -> Int { abs(2 * ones.count - rest.count) }
            let (bit, ones) = splits.min { a, b in
                unevenness(a.ones) != unevenness(b.ones) ? unevenness(a.ones) < unevenness(b.ones) : a.bit > b.bit
            }!
            let start = ones[0] & ~(bit - 1)
            tests.append(Test(bit: bit, counts: ones, low: start, high: start | (bit - 1)))
            rest = rest.filter { $0 & bit == 0 }
        }
        for test in tests where test.counts.count > 1 {
            innerNodes.append(node(test.counts, low: test.low, high: test.high))
        }
        return Node(low: low, high: high, tests: tests, fallback: rest[0])
    }
}
