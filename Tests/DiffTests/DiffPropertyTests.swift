import Addressing
import Compiler
import Lab
import Manifests
import Netlink
import PropertyBased
import Ruleset
import ServiceGraph
import Testing

/// Random graphs from small integer "genomes", so the property library can generate and shrink
/// them: gene `g` at index `i` describes service `i` (0 means absent).
enum RandomGraph {
    static let genome = Gen.int(in: 0...40).array(of: 0...12)

    static func graph(_ genes: [Int]) -> ServiceGraph {
        ServiceGraph(
            services: genes.enumerated().compactMap { index, gene in
                guard gene > 0 else { return nil }
                let endpointCount = gene % 5  // 0…4: a service may have none
                let transport: TransportProtocol = gene % 3 == 0 ? .udp : .tcp
                // Endpoints on two nodes (see `options`: this is node a); some draining.
                let endpoints = (0..<endpointCount).map { slot in
                    let draining = gene % 8 == 3 && slot == 0
                    return Endpoint(
                        address: IPAddress(ipv4: 0x0AF4_0000 + UInt32(index * 16 + slot + gene % 2) + 2),
                        port: UInt16(8000 + gene % 4), isReady: !draining, isServing: true, isTerminating: draining,
                        nodeName: (slot + gene) % 2 == 0 ? "a" : "b", weight: gene % 7 == 0 && slot == 0 ? 3 : 1,
                        targetName: "pod-\(index)-\(slot)")
                }
                return Service(
                    id: ServiceID(namespace: "default", name: "svc-\(index)"),
                    ports: [
                        ServicePort(
                            name: "p", transport: transport, port: 80,
                            nodePort: gene % 4 == 0 ? UInt16(30000 + index) : nil,
                            endpoints: endpoints)
                    ],
                    clusterIPs: [IPAddress(ipv4: 0x0A60_0000 + UInt32(index) + 2)],
                    externalIPs: gene % 11 == 0 ? [IPAddress(ipv4: 0xC633_6400 + UInt32(index))] : [],
                    loadBalancerIPs: gene % 19 == 0 ? [IPAddress(ipv4: 0xCB00_7100 + UInt32(index))] : [],
                    loadBalancerSourceRanges: gene % 19 == 0 && gene % 2 == 0 ? [IPNetwork("198.18.0.0/15")!] : [],
                    externalTrafficPolicy: gene % 6 == 4 ? .local : .cluster,
                    internalTrafficPolicy: gene % 9 == 5 ? .local : .cluster,
                    sessionAffinityTimeout: gene % 13 == 0 ? 10800 : gene % 17 == 0 ? 60 : nil)
            })
    }

    /// The node the incremental tests compile for: the traffic policies choose among endpoints.
    static let options = CompilerOptions(nodeName: "a")
}

@Suite struct DiffPropertyTests {
    @Test func diffOfARulesetWithItselfIsEmpty() async {
        await propertyCheck(count: 300, input: RandomGraph.genome) { genes in
            let ruleset = RandomGraph.graph(genes).compile()
            #expect(diff(current: ruleset, desired: ruleset).isEmpty)
        }
    }

    @Test func applyingTheDiffYieldsTheDesiredRuleset() async {
        await propertyCheck(count: 2000, input: RandomGraph.genome, RandomGraph.genome) { before, after in
            let current = RandomGraph.graph(before).compile()
            let desired = RandomGraph.graph(after).compile()
            let transaction = diff(current: current, desired: desired)
            #expect(throws: Never.self) {
                let result = try current.applying(transaction)
                #expect(result.canonical == desired.canonical)
            }
        }
    }

    @Test func fromNothingAndBackToNothing() throws {
        let desired = RandomGraph.graph([5, 9, 12, 0, 33]).compile()
        #expect(
            try Ruleset(tables: []).applying(diff(current: Ruleset(tables: []), desired: desired)).canonical
                == desired.canonical)
        #expect(try desired.applying(diff(current: desired, desired: Ruleset(tables: []))).tables.isEmpty)
    }

    /// `services` services of which every tenth has three endpoints and the others two, as in a
    /// cluster where both bucket counts are already in use.
    static func cluster(services: Int, extraEndpointFor changed: Int? = nil) -> Ruleset {
        clusterGraph(services: services, extraEndpointFor: changed).compile()
    }

    static func clusterGraph(services: Int, extraEndpointFor changed: Int? = nil) -> ServiceGraph {
        ServiceGraph(
            services: (0..<services).map { index in
                let count = (index % 10 == 0 ? 3 : 2) + (index == changed ? 1 : 0)
                return Service(
                    id: ServiceID(namespace: "default", name: "svc-\(index)"),
                    ports: [
                        ServicePort(
                            name: "http", transport: .tcp, port: 80, nodePort: nil,
                            endpoints: (0..<count).map { slot in
                                Endpoint(
                                    address: IPAddress(ipv4: 0x0AF4_0000 + UInt32(index * 8 + slot) + 2), port: 8080)
                            })
                    ],
                    clusterIPs: [IPAddress(ipv4: 0x0A60_0000 + UInt32(index) + 2)])
            })
    }

    /// A one-endpoint change is a handful of element operations, the same at 100 and 10,000 services.
    @Test func oneEndpointChangeIsAHandfulOfOperationsWhateverTheSize() throws {
        var shapes: [[String]] = []
        for size in [100, 10_000] {
            let current = Self.cluster(services: size)
            let desired = Self.cluster(services: size, extraEndpointFor: 1)
            let transaction = diff(current: current, desired: desired)
            // 2 = 0b10 becomes 3 = 0b11: the frontend joins bucket-bit-1; its buckets move from
            // endpoints-2 to endpoints-3 (both in use by other services); hairpin: one more
            // endpoint. No rule and no verdict changes.
            let shape = transaction.operations.map { operation -> String in
                switch operation {
                case .addElements(_, let set, let list): "add \(list.count) to \(set)"
                case .deleteElements(_, let set, let list): "delete \(list.count) from \(set)"
                default: operation.summary
                }
            }
            #expect(
                shape == [
                    "delete 2 from endpoints-2", "add 1 to hairpin", "add 1 to bucket-bit-1", "add 3 to endpoints-3",
                ])
            #expect(try current.applying(transaction).canonical == desired.canonical)
            shapes.append(shape)
        }
        #expect(shapes[0] == shapes[1])
    }
}

/// The same property against the kernel: apply the diff over netlink, read back, compare.
@Suite struct KernelDiffTests {
    @Test func removingEveryServiceRemovesTheirChains() throws {
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        var kernel = try NetfilterConnection(networkNamespace: lab.nodeNamespace)
        let full = RandomGraph.graph([15, 3, 30]).compile()
        try kernel.commit(diff(current: Ruleset(tables: []), desired: full))
        let empty = RandomGraph.graph([]).compile()
        let transaction = diff(current: try kernel.readRuleset(tableName: "nfcompile"), desired: empty)
        try kernel.commit(transaction)
        #expect(try kernel.readRuleset(tableName: "nfcompile").canonical == empty.canonical)
    }

    @Test func diffsApplyInTheKernel() async throws {
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        var kernel = try NetfilterConnection(networkNamespace: lab.nodeNamespace)
        var rounds = 0
        await propertyCheck(count: 60, input: RandomGraph.genome) { genes in
            let desired = RandomGraph.graph(genes).compile()
            #expect(throws: Never.self) {
                // Start from what the kernel holds, so a failed round cannot desynchronise the next.
                let current = try kernel.readRuleset(tableName: "nfcompile")
                try kernel.commit(diff(current: current, desired: desired))
                #expect(try kernel.readRuleset(tableName: "nfcompile").canonical == desired.canonical)
            }
            rounds += 1
        }
        #expect(rounds >= 60)
    }
}

/// The incremental compiler against the full one: same effect, less work.
@Suite struct IncrementalCompilerTests {
    @Test func incrementalTransactionsReachTheFullCompile() async {
        await propertyCheck(count: 500, input: RandomGraph.genome.array(of: 1...6)) { genomes in
            let graphs = genomes.map(RandomGraph.graph)
            var incremental = IncrementalCompiler(options: RandomGraph.options)
            // A reset gives the full compile's ruleset, built from its own fragments.
            #expect(incremental.reset(to: graphs[0]) == graphs[0].compile(options: RandomGraph.options))
            var kernel = graphs[0].compile(options: RandomGraph.options)
            #expect(throws: Never.self) {
                for graph in graphs.dropFirst() {
                    let desired = graph.compile(options: RandomGraph.options)
                    let transaction = incremental.update(to: graph) ?? diff(current: kernel, desired: desired)
                    kernel = try kernel.applying(transaction)
                    #expect(kernel.canonical == desired.canonical)
                }
            }
        }
    }

    /// The property the ruleset's shape exists for: a change of endpoints or services changes
    /// elements of plain sets and data maps only, never a verdict; rules and chains change only
    /// when the bucket counts in use do, and then only the dispatch chains.
    @Test func changesAreElementsUnlessTheBucketCountsInUseChange() async {
        await propertyCheck(count: 500, input: RandomGraph.genome, RandomGraph.genome) { before, after in
            let (old, new) = (RandomGraph.graph(before), RandomGraph.graph(after))
            var incremental = IncrementalCompiler(options: RandomGraph.options)
            incremental.reset(to: old)
            guard let transaction = incremental.update(to: new) else { return }
            let countsChanged =
                Self.bucketMaps(old.compile(options: RandomGraph.options))
                != Self.bucketMaps(new.compile(options: RandomGraph.options))
                || Self.affinitySets(old.compile()) != Self.affinitySets(new.compile())
            for operation in transaction.operations {
                switch operation {
                case .addElements(_, _, let elements), .deleteElements(_, _, let elements):
                    #expect(
                        !elements.contains { if case .verdict? = $0.data { true } else { false } },
                        "\(operation.summary)")
                case .addChain(_, let chain):
                    #expect(countsChanged && chain.hook == nil && chain.name.contains("lb"), "\(operation.summary)")
                case .addRule(_, let chain, _), .flushChain(_, let chain), .deleteChain(_, let chain):
                    let skeleton = chain.contains("lb") || chain == Names.affinityRecord
                    #expect(countsChanged && skeleton, "\(operation.summary)")
                case .addSet(_, let set): #expect(countsChanged && set.data != .verdict, "\(operation.summary)")
                case .deleteSet: #expect(countsChanged, "\(operation.summary)")
                case .addTable, .deleteTable: Issue.record("\(operation.summary)")
                }
            }
        }
    }

    static func bucketMaps(_ ruleset: Ruleset) -> Set<String> {
        Set(ruleset.tables[0].sets.map(\.name).filter { $0.contains("endpoints-") && !$0.hasPrefix("no-") })
    }

    static func affinitySets(_ ruleset: Ruleset) -> Set<String> {
        Set(ruleset.tables[0].sets.map(\.name).filter { $0.contains("affinity-") })
    }

    @Test func oneEndpointAtTenThousandServicesTouchesOnlyThatService() throws {
        var incremental = IncrementalCompiler(options: CompilerOptions())
        let before = DiffPropertyTests.clusterGraph(services: 10_000)
        incremental.reset(to: before)
        let after = DiffPropertyTests.clusterGraph(services: 10_000, extraEndpointFor: 1)
        let update = incremental.update(to: after)
        let transaction = try #require(update)
        #expect(
            transaction.operations.map(\.summary) == [
                "delete element 10.96.0.3 . tcp . 80 . 0 and 1 more from endpoints-2",
                "add element 10.96.0.3 . tcp . 80 to bucket-bit-1",
                "add element 10.96.0.3 . tcp . 80 . 0 and 2 more to endpoints-3",
                "add element 10.244.0.12 . 10.244.0.12 to hairpin",
            ])
        #expect(try before.compile().applying(transaction).canonical == after.compile().canonical)
    }
}

extension IncrementalCompilerTests {
    /// Growing one service at a time, a set that outgrows its capacity makes the update fall
    /// back to the diff (which declares the set again), once; the kernel's capacities taken back,
    /// the updates are incremental again, and every step fits the kernel's capacities.
    @Test func aSetOutgrowingItsCapacityFallsBackToTheDiffOnce() throws {
        var incremental = IncrementalCompiler(options: CompilerOptions())
        incremental.reset(to: DiffPropertyTests.clusterGraph(services: 128))
        var kernel = DiffPropertyTests.cluster(services: 128)
        var fallbacks: [Int] = []
        for services in 129...200 {
            let graph = DiffPropertyTests.clusterGraph(services: services)
            let desired = graph.compile()
            if let transaction = incremental.update(to: graph) {
                kernel = try kernel.applying(transaction)
            } else {
                fallbacks.append(services)
                let transaction = diff(current: kernel, desired: desired)
                kernel = try kernel.applying(transaction)
                incremental.adopt(kernel.capacities)
            }
            #expect(kernel.canonical == desired.canonical)
        }
        // service-ips, cluster-ips and bucket-bit-1 hold one element per service: 193 is over 192.
        #expect(fallbacks == [193])
        let serviceIPs = kernel.tables[0].sets.first { $0.name == "service-ips" }
        #expect(serviceIPs?.capacity == 384)
    }

    /// A kernel whose sets are larger than the full compile would make them (kept while they
    /// serve) gives no fallback once its capacities are taken.
    @Test func theKernelsLargerCapacitiesAreUsed() throws {
        let small = DiffPropertyTests.clusterGraph(services: 150)
        var kernel = try DiffPropertyTests.cluster(services: 300).applying(
            diff(current: DiffPropertyTests.cluster(services: 300), desired: small.compile()))
        var incremental = IncrementalCompiler(options: CompilerOptions())
        incremental.reset(to: small)
        incremental.adopt(kernel.capacities)
        let grown = DiffPropertyTests.clusterGraph(services: 300)
        let update = incremental.update(to: grown)
        kernel = try kernel.applying(try #require(update))
        #expect(kernel.canonical == grown.compile().canonical)
    }
}

/// The reconciler tells a repair from the change it asked for by comparing effects: the
/// incremental transaction and the diff of the same change must do exactly the same.
@Suite struct TransactionEffectTests {
    @Test func anIncrementalUpdateHasTheEffectOfTheDiff() async {
        await propertyCheck(count: 500, input: RandomGraph.genome, RandomGraph.genome) { before, after in
            let old = RandomGraph.graph(before)
            let new = RandomGraph.graph(after)
            var incremental = IncrementalCompiler(options: RandomGraph.options)
            incremental.reset(to: old)
            guard let transaction = incremental.update(to: new) else { return }  // a whole table comes or goes
            #expect(
                transaction.effect
                    == diff(
                        current: old.compile(options: RandomGraph.options),
                        desired: new.compile(options: RandomGraph.options)
                    ).effect)
        }
    }
}
