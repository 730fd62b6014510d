import Addressing
import Compiler
import Lab
import Netlink
import PropertyBased
import Ruleset
import ServiceGraph
import Testing

/// Sets sized by their elements: room to grow, kept while they serve, declared again alone when not.
@Suite struct CapacityTests {
    let table = TableID(family: .ip, name: "nfcompile")

    func set(_ name: String, in ruleset: Ruleset) -> NamedSet? {
        ruleset.tables.first { $0.family == .ip }?.sets.first { $0.name == name }
    }

    /// The operations that are not element changes, as nft would write them.
    func declarations(_ transaction: Transaction) -> [String] {
        transaction.operations.compactMap { operation in
            switch operation {
            case .addElements, .deleteElements, .addRule: nil
            default: operation.summary
            }
        }
    }

    @Test func aCapacityLeavesRoomToDoubleAtTheKernelsLoadFactor() {
        #expect(NamedSet.capacity(for: 0) == 192)
        #expect(NamedSet.capacity(for: 128) == 192)
        #expect(NamedSet.capacity(for: 129) == 384)
        #expect(NamedSet.capacity(for: 100_000) == 196_608)
        for count in [0, 1, 150, 1_000, 65_536, 240_000, 3_000_000] {
            let capacity = Int(NamedSet.capacity(for: count))
            #expect(capacity >= count * 3 / 2)
            // The kernel takes 4/3 of the size, rounded up to a power of two, as its bucket count.
            let buckets = capacity / 3 * 4
            #expect(buckets & (buckets - 1) == 0 && buckets < 4 * max(count, 128))
        }
        #expect(NamedSet.capacity(384, serves: 200) && !NamedSet.capacity(192, serves: 200))
        #expect(NamedSet.capacity(3_072, serves: 0) && !NamedSet.capacity(6_144, serves: 0))
    }

    @Test func everySetFilledByItsElementsIsSizedForThem() throws {
        let ruleset = DiffPropertyTests.cluster(services: 300)
        let tables = try #require(ruleset.tables.first)
        for set in tables.sets {
            if set.isInterval {
                #expect(set.capacity == nil, "\(set.name)")
            } else if set.isDynamic {
                #expect(set.capacity == 65_535, "\(set.name)")
            } else {
                #expect(set.capacity == NamedSet.capacity(for: set.elements.count), "\(set.name)")
            }
        }
        #expect(set("service-ips", in: ruleset)?.capacity == 768)
    }

    @Test func aSetThatOutgrowsItsCapacityIsDeclaredAgainWithTheRulesThatReferToIt() throws {
        let current = DiffPropertyTests.cluster(services: 100)
        let desired = DiffPropertyTests.cluster(services: 250)
        let transaction = diff(current: current, desired: desired)
        // The sets whose elements outgrow their capacity are declared again (service-ips: 100
        // elements in 192, then 250); the table stays, and so does every other set.
        let outgrown = current.tables[0].sets.filter { kernel in
            kernel.isSizedByElements
                && set(kernel.name, in: desired).map { $0.elements.count > Int(kernel.capacity!) } == true
        }.map { "delete set ip nfcompile \($0.name)" }
        #expect(outgrown.contains("delete set ip nfcompile service-ips") && outgrown.count < 8, "\(outgrown)")
        #expect(!declarations(transaction).contains { $0.hasPrefix("delete table") })
        let redeclared = declarations(transaction).filter { $0.hasPrefix("delete set") }
        #expect(redeclared.sorted() == outgrown.sorted(), "\(declarations(transaction))")
        let result = try current.applying(transaction)
        #expect(result.canonical == desired.canonical)
        #expect(set("service-ips", in: result)?.capacity == 384)
        #expect(set("bucket-bit-0", in: result)?.capacity == set("bucket-bit-0", in: current)?.capacity)
        #expect(result.capacities == current.capacities(after: transaction))
    }

    @Test func aSetKeepsItsCapacityWhileItServesAndShrinksWhenFarTooLarge() throws {
        let large = DiffPropertyTests.cluster(services: 250)
        let small = DiffPropertyTests.cluster(services: 20)
        let shrinking = diff(current: large, desired: small)
        #expect(!declarations(shrinking).contains { $0.contains("set") }, "\(declarations(shrinking))")
        let kept = try large.applying(shrinking)
        #expect(kept.canonical == small.canonical)
        #expect(set("service-ips", in: kept)?.capacity == 384)
        #expect(diff(current: kept, desired: small).isEmpty)

        // Sixteen times what its elements would get is the most a set keeps.
        var oversized = kept
        oversized.tables[0].sets = oversized.tables[0].sets.map { set in
            var set = set
            if set.name == "service-ips" { set.capacity = 16 * 192 * 2 }
            return set
        }
        let redeclaring = diff(current: oversized, desired: small)
        #expect(declarations(redeclaring).contains("delete set ip nfcompile service-ips"))
        #expect(set("service-ips", in: try oversized.applying(redeclaring))?.capacity == 192)
    }

    @Test func theModelRefusesElementsBeyondACapacityAsTheKernelDoes() {
        let ruleset = DiffPropertyTests.cluster(services: 96)
        #expect(set("service-ips", in: ruleset)?.capacity == 192)
        let more = (96..<193).map {
            SetElement(key: [.address(IPAddressOf.service($0)), .tcp, .port(80)])
        }
        #expect(throws: TransactionRefused.self) {
            try ruleset.applying(Transaction([.addElements(table, set: "service-ips", more)]))
        }
    }

    /// Whatever capacities the kernel's sets have, applying the diff gives the desired ruleset,
    /// within every capacity at every step.
    @Test func theDiffFromAnySizesYieldsTheDesiredRuleset() async {
        await propertyCheck(
            count: 500, input: RandomGraph.genome, RandomGraph.genome, Gen.int(in: 0...3_000).array(of: 1...30)
        ) { before, after, sizes in
            var current = RandomGraph.graph(before).compile()
            for index in current.tables.indices {
                for (offset, set) in current.tables[index].sets.enumerated() where set.isSizedByElements {
                    current.tables[index].sets[offset].capacity = UInt32(
                        max(set.elements.count, sizes[offset % sizes.count]))
                }
            }
            let desired = RandomGraph.graph(after).compile()
            let transaction = diff(current: current, desired: desired)
            #expect(throws: Never.self) {
                let result = try current.applying(transaction)
                #expect(result.canonical == desired.canonical)
                for table in result.tables {
                    for set in table.sets where set.isSizedByElements {
                        #expect(set.capacity.map { NamedSet.capacity($0, serves: set.elements.count) } == true)
                    }
                }
            }
        }
    }
}

/// The kernel takes a set declared again in the transaction that flushes the rules using it.
@Suite struct KernelCapacityTests {
    @Test func aSetOutgrowingItsCapacityIsDeclaredAgainInTheKernel() throws {
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        var kernel = try NetfilterConnection(networkNamespace: lab.nodeNamespace)
        let small = DiffPropertyTests.cluster(services: 100)
        try kernel.commit(diff(current: Ruleset(tables: []), desired: small))
        let read = try kernel.readRuleset(tableName: "nfcompile")
        #expect(read.capacities == small.capacities)

        let large = DiffPropertyTests.cluster(services: 250)
        try kernel.commit(diff(current: read, desired: large))
        let grown = try kernel.readRuleset(tableName: "nfcompile")
        #expect(grown.canonical == large.canonical)
        #expect(grown.capacities == read.capacities(after: diff(current: read, desired: large)))
        #expect(grown.tables.first?.sets.first { $0.name == "service-ips" }?.capacity == 384)
    }
}

enum IPAddressOf {
    /// The ClusterIP `DiffPropertyTests.cluster` gives service `index`.
    static func service(_ index: Int) -> IPAddress { IPAddress(ipv4: 0x0A60_0000 + UInt32(index) + 2) }
}
