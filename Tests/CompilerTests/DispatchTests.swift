import Addressing
import Compiler
import Ruleset
import ServiceGraph
import Testing

/// Follows a frontend through the dispatch chains as the kernel would: a lookup tests whether
/// the frontend's key is in a set, a goto moves to another chain, the DNAT rule ends the walk.
/// The marking rule (it only sets a mark) is skipped.
enum Dispatch {
    struct Leaf: Equatable {
        var chain: String
        var map: String
        var modulus: UInt32
        /// Set lookups on the way: what a new connection pays for the dispatch.
        var lookups: Int
    }

    struct FellOff: Error, CustomStringConvertible {
        var description: String
    }

    static func leaf(of key: [Value], kind root: String, in table: Table) throws -> Leaf {
        let members = Dictionary(
            table.sets.map { ($0.name, Set($0.elements.map(\.key))) }, uniquingKeysWith: { a, _ in a })
        let chains = Dictionary(table.chains.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        // Maps the packet path fills (session affinity) hold no client here: their lookups miss.
        let remembering = Set(table.sets.filter(\.isDynamic).map(\.name))
        var current = root
        var lookups = 0
        walk: for _ in 0..<64 {
            guard let chain = chains[current] else { throw FellOff(description: "no chain \(current)") }
            for rule in chain.rules
            where !rule.statements.contains(where: { if case .setMarkBits = $0 { true } else { false } }) {
                var matches = true
                for statement in rule.statements {
                    switch statement {
                    case .lookup(_, let set):
                        lookups += 1
                        matches = members[set]?.contains(key) ?? false
                    case .verdict(.goto(let target)) where matches:
                        current = target
                        continue walk
                    case .destinationNATMap(_, _, let map) where matches && remembering.contains(map):
                        lookups += 1
                        matches = false
                    case .destinationNATMap(_, let fields, let map) where matches:
                        guard case .randomBucket(let modulus)? = fields.last else {
                            throw FellOff(description: "no bucket in \(map)")
                        }
                        return Leaf(chain: current, map: map, modulus: modulus, lookups: lookups)
                    default:
                        break
                    }
                    if !matches { break }
                }
            }
            throw FellOff(description: "\(key) falls off the end of chain \(current)")
        }
        throw FellOff(description: "a loop from \(root)")
    }
}

@Suite struct DispatchTests {
    typealias F = Fixtures

    /// One service per bucket count, each with that many endpoints.
    static func graph(counts: [Int]) -> ServiceGraph {
        var pod: UInt32 = 0
        return ServiceGraph(
            services: counts.enumerated().map { index, count in
                F.service(
                    "s\(index)", clusterIP: IPAddress(ipv4: 0x0A60_0000 + UInt32(index) + 2).description,
                    nodePort: UInt16(30000 + index),
                    endpoints: (0..<count).map { _ in
                        pod += 1
                        return F.endpoint(IPAddress(ipv4: 0x0AF4_0000 + pod).description)
                    })
            })
    }

    static func check(counts: [Int]) throws {
        let table = graph(counts: counts).compile().tables[0]
        let bits = Int.bitWidth - (counts.max() ?? 0).leadingZeroBitCount
        for (index, count) in counts.enumerated() {
            let address = try Dispatch.leaf(
                of: [.address(IPAddress(ipv4: 0x0A60_0000 + UInt32(index) + 2)), .tcp, .port(80)], kind: "lb", in: table
            )
            #expect(
                address.chain == "lb-\(count)" && address.map == "endpoints-\(count)"
                    && address.modulus == UInt32(count), "\(counts)")
            // One test per bit, the one that sends externalTrafficPolicy: Local to its detour,
            // and the affinity map's lookup.
            #expect(
                address.lookups <= bits + 2, "at most one test per bit: \(address.lookups) for \(count) in \(counts)")
            let nodePort = try Dispatch.leaf(of: [.tcp, .port(UInt16(30000 + index))], kind: "nodeport-lb", in: table)
            #expect(nodePort.chain == "nodeport-lb-\(count)" && nodePort.map == "nodeport-endpoints-\(count)")
        }
    }

    @Test(arguments: [
        [1], [3], [1, 2], [2, 3], [1, 3, 10], [4, 5, 6, 7], Array(1...32), Array(10..<42),
        [1, 2, 4, 8, 16, 32, 64, 100],
    ])
    func everyFrontendReachesTheLeafOfItsCount(_ counts: [Int]) throws {
        try Self.check(counts: counts)
    }

    @Test func randomSetsOfCountsDispatchCorrectly() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let counts = Array(
                Set(
                    (0..<Int.random(in: 1...12, using: &generator)).map { _ in Int.random(in: 1...70, using: &generator)
                    }))
            try Self.check(counts: counts.shuffled(using: &generator))
        }
    }

    @Test func thirtyTwoCountsCostAtMostFiveLookups() throws {
        let table = Self.graph(counts: Array(1...32)).compile().tables[0]
        let worst = try (0..<32).map { index in
            try Dispatch.leaf(
                of: [.address(IPAddress(ipv4: 0x0A60_0000 + UInt32(index) + 2)), .tcp, .port(80)], kind: "lb", in: table
            ).lookups
        }.max()
        #expect(
            worst == 7,
            "five tests for 32 counts (an even split at each), plus the local-policy test and the affinity lookup; a row of rules would be 34"
        )
    }

    @Test func theTableHasNoVerdictMap() {
        let ruleset = Self.graph(counts: [0, 1, 2, 3, 5, 8]).compile(options: CompilerOptions(nodeName: "a"))
        for set in ruleset.tables.flatMap(\.sets) {
            #expect(set.data != .verdict, "\(set.name): a verdict element would make the kernel revalidate every jump")
            #expect(!set.elements.contains { if case .verdict? = $0.data { true } else { false } })
        }
    }
}
