import Addressing
import Compiler
import Lab
import Netlink
import Pipeline
import Ruleset
import ServiceGraph
import TestSupport
import Testing

/// Graphs of `count` services with two endpoints each, but every tenth with three (so that both
/// bucket counts are in use, as in a real cluster).
enum Cluster {
    static func graph(services count: Int, extraFor changed: Int? = nil) -> ServiceGraph {
        ServiceGraph(
            services: (0..<count).map {
                service(index: $0, endpoints: ($0 % 10 == 0 ? 3 : 2) + ($0 == changed ? 1 : 0))
            })
    }

    static func service(index: Int, endpoints: Int) -> Service {
        Service(
            id: ServiceID(namespace: "default", name: "svc-\(index)"),
            ports: [
                ServicePort(
                    name: "http", transport: .tcp, port: 80, nodePort: nil,
                    endpoints: (0..<endpoints).map {
                        Endpoint(address: IPAddress(ipv4: 0x0AF4_0000 + UInt32(index * 8 + $0) + 2), port: 8080)
                    })
            ],
            clusterIPs: [IPAddress(ipv4: 0x0A60_0000 + UInt32(index) + 2)])
    }
}

/// The reconciler's policy against the kernel model: no namespaces, no timing.
@Suite struct ReconcilerTests {
    @Test func applyWritesTheTableWholeThenByDifference() throws {
        let store = ModelRulesetStore()
        let reconciler = Reconciler(store: store)
        let first = try reconciler.apply(Cluster.graph(services: 3).compile())
        #expect(first.replacedWhole && first.operations > 0 && first.repair == nil)
        let second = try reconciler.apply(Cluster.graph(services: 3, extraFor: 1).compile())
        #expect(!second.replacedWhole && second.operations <= 6, "\(second)")
        #expect(try reconciler.apply(Cluster.graph(services: 3, extraFor: 1).compile()).operations == 0)
        #expect(
            try store.read(tableName: "nfcompile").canonical
                == Cluster.graph(services: 3, extraFor: 1).compile().canonical)
    }

    @Test func aTableHoldingForeignObjectsIsReplacedWholeAndSaysSo() throws {
        let store = ModelRulesetStore()
        let reconciler = Reconciler(store: store)
        let desired = Cluster.graph(services: 3).compile()
        try reconciler.apply(desired)
        store.addForeignObjects("a rule in chain services that nfcompile did not write")
        let plan = try reconciler.plan(desired)
        #expect(plan.foreignObjects != nil && plan.replacedWhole && !plan.transaction.isEmpty)
        let outcome = try reconciler.apply(desired)
        #expect(outcome.repair == .foreignObjects("a rule in chain services that nfcompile did not write"))
        #expect(try store.read(tableName: "nfcompile").canonical == desired.canonical)
    }

    @Test func theAgentsSyncsRepairForeignObjectsAndDrift() throws {
        let store = ModelRulesetStore()
        let reconciler = Reconciler(store: store)
        let graph = Cluster.graph(services: 4)
        _ = try reconciler.sync(to: graph)
        store.addForeignObjects("a rule in chain services that nfcompile did not write")
        let repaired = try reconciler.sync(verify: true)
        #expect(repaired.kind == .full && repaired.repair != nil)
        #expect(try store.read(tableName: "nfcompile").canonical == graph.compile().canonical)
        // A verification that finds everything in place commits nothing and repairs nothing.
        let clean = try reconciler.sync(verify: true)
        #expect(clean.operations == 0 && clean.repair == nil)
        // Someone deletes an element while a change is pending: both go in one full sync, and
        // only the deletion counts as a repair.
        store.tamper { ruleset in
            let index = ruleset.tables[0].sets.firstIndex { $0.name == "hairpin" }!
            ruleset.tables[0].sets[index].elements.removeFirst()
        }
        let changed = Cluster.service(index: 2, endpoints: 3)
        let both = try reconciler.sync(changing: [changed], verify: true)
        #expect(both.repair == .drift)
        let desired = ServiceGraph(services: graph.services.map { $0.id == changed.id ? changed : $0 })
        #expect(try store.read(tableName: "nfcompile").canonical == desired.compile().canonical)
        // The same change without drift is no repair.
        let back = try reconciler.sync(changing: [Cluster.service(index: 2, endpoints: 2)], verify: true)
        #expect(back.operations > 0 && back.repair == nil)
    }

    @Test func aVerificationReadsTheKernelOnlyWhenSomeoneCommittedSinceUs() throws {
        let store = ModelRulesetStore()
        let reconciler = Reconciler(store: store)
        let graph = Cluster.graph(services: 4)
        _ = try reconciler.sync(to: graph)
        let reads = store.reads
        // No commit since ours: the kernel holds it, nothing is read.
        let quiet = try reconciler.sync(verify: true)
        #expect(store.reads == reads && quiet.operations == 0 && quiet.kind == .partial)
        // A pending change goes in as a partial sync.
        let changed = try reconciler.sync(changing: [Cluster.service(index: 1, endpoints: 3)], verify: true)
        #expect(store.reads == reads && changed.kind == .partial && changed.operations > 0)
        // Someone else committed (to any table): read, and repair what they changed in ours.
        store.tamper { ruleset in
            let index = ruleset.tables[0].sets.firstIndex { $0.name == "hairpin" }!
            ruleset.tables[0].sets[index].elements.removeFirst()
        }
        let repaired = try reconciler.sync(verify: true)
        #expect(store.reads == reads + 1 && repaired.kind == .full && repaired.repair == .drift)

        // Once per deep-verification period, the kernel is read even without a foreign commit.
        let deep = Reconciler(store: store, deepVerificationPeriod: .zero)
        _ = try deep.sync(to: graph)
        let before = store.reads
        #expect(try deep.sync(verify: true).kind == .full)
        #expect(store.reads == before + 1)
    }

    /// Deleting the remembered clients of a removed endpoint is a commit of its own, right after
    /// the sync's: the next sync still goes by difference, without reading the table back.
    @Test func affinityDeletionsKeepTheNextSyncPartial() throws {
        let store = ModelRulesetStore()
        let reconciler = Reconciler(store: store)
        func service(endpoints: Int) -> Service {
            var service = Cluster.service(index: 0, endpoints: endpoints)
            service.sessionAffinityTimeout = 10_800
            return service
        }
        _ = try reconciler.sync(to: ServiceGraph(services: [service(endpoints: 3)]))
        let reads = store.reads
        let removal = try reconciler.sync(changing: [service(endpoints: 2)])
        #expect(removal.kind == .partial && removal.affinityGeneration == removal.generation + 1)
        let next = try reconciler.sync(changing: [service(endpoints: 3)])
        #expect(next.kind == .partial && store.reads == reads)
        #expect(try reconciler.sync(verify: true).kind == .partial && store.reads == reads)
        #expect(
            try store.read(tableName: "nfcompile").canonical
                == ServiceGraph(services: [service(endpoints: 3)]).compile().canonical)
    }

    @Test func aPartialSyncCostsTheChangeAndFallsBackWhenTheGenerationMoved() throws {
        let store = ModelRulesetStore()
        let reconciler = Reconciler(store: store)
        _ = try reconciler.sync(to: Cluster.graph(services: 100))
        let partial = try reconciler.sync(changing: [Cluster.service(index: 7, endpoints: 3)])
        #expect(partial.kind == .partial && partial.operations <= 6)
        store.tamper { _ in }  // someone commits anything: the generation moves
        let fallback = try reconciler.sync(changing: [Cluster.service(index: 8, endpoints: 3)])
        #expect(fallback.kind == .full && fallback.repair == nil, "\(fallback)")
        let removed = try reconciler.sync(removing: [ServiceID(namespace: "default", name: "svc-9")])
        #expect(removed.kind == .partial && removed.elementsRemoved > 0)
        var expected = (0..<100).map { Cluster.service(index: $0, endpoints: $0 % 10 == 0 ? 3 : 2) }
        expected[7] = Cluster.service(index: 7, endpoints: 3)
        expected[8] = Cluster.service(index: 8, endpoints: 3)
        expected.remove(at: 9)
        let kernel = try store.read(tableName: "nfcompile").canonical
        let want = ServiceGraph(services: expected).compile().canonical
        #expect(kernel == want, "\(diff(current: kernel, desired: want).nftText())")
    }

    /// Services added one by one: the one that takes a set past its capacity makes a full sync
    /// that declares the set again (no repair: nothing drifted); the syncs before and after are
    /// partial, within the capacities the kernel model enforces.
    @Test func aSetOutgrowingItsCapacityIsOneFullSyncAndNoRepair() throws {
        let store = ModelRulesetStore()
        let reconciler = Reconciler(store: store)
        _ = try reconciler.sync(to: Cluster.graph(services: 128))
        var full: [Int] = []
        for index in 128..<200 {
            let outcome = try reconciler.sync(changing: [Cluster.service(index: index, endpoints: 2)])
            #expect(outcome.repair == nil && !outcome.replacedWhole, "\(outcome)")
            if outcome.kind == .full { full.append(index) }
        }
        #expect(full == [192])
        let kernel = try store.read(tableName: "nfcompile")
        let expected = ServiceGraph(
            services: (0..<200).map { Cluster.service(index: $0, endpoints: $0 < 128 && $0 % 10 == 0 ? 3 : 2) })
        #expect(kernel.canonical == expected.compile().canonical)
        #expect(kernel.tables[0].sets.first { $0.name == "service-ips" }?.capacity == 384)
    }

    /// A read that misses elements (a set being resized in the kernel) makes the commit fail
    /// on elements that are there: read again and commit what is really missing.
    @Test func anIncompleteReadIsReadAgain() throws {
        let store = ModelRulesetStore()
        let reconciler = Reconciler(store: store, deepVerificationPeriod: .zero)  // every verification reads
        let graph = Cluster.graph(services: 5)
        _ = try reconciler.sync(to: graph)
        store.incompleteReads = 2
        let outcome = try reconciler.sync(verify: true)
        #expect(outcome.operations == 0 && store.incompleteReads == 0, "\(outcome)")
        #expect(try store.read(tableName: "nfcompile").canonical == graph.compile().canonical)
    }

    @Test func removeTablesTakesOnlyOurs() throws {
        let store = ModelRulesetStore()
        let reconciler = Reconciler(store: store)
        try reconciler.apply(Cluster.graph(services: 2).compile())
        store.tamper { $0.tables.append(Table(family: .ip, name: "someone-else")) }
        try reconciler.removeTables()
        #expect(try store.read(tableName: "nfcompile").tables.isEmpty)
        #expect(store.ruleset.tables.map(\.name) == ["someone-else"])
    }
}

/// The same policy against the kernel, with what other programs really put into our table.
@Suite struct KernelReconcilerTests {
    @Test(arguments: [
        "insert rule ip nfcompile services drop",
        "add rule ip nfcompile services counter accept",
        "add rule ip nfcompile services ip daddr { 192.0.2.1, 192.0.2.2 } drop",
        "add set ip nfcompile foreign { type ipv4_addr; }",
        "add element ip nfcompile service-ips { 192.0.2.9 . tcp . 80 }",
        "add table ip nfcompile { flags dormant; }",
        "add set ip nfcompile sized { typeof ip daddr; size 64; }",
        "add set ip nfcompile lookalike { typeof ip daddr; }",
        "add map ip nfcompile expiring { typeof ip daddr : verdict; flags timeout; }",
    ])
    func whateverSomeoneAddsToOurTableGoesAtTheNextSync(_ command: String) throws {
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        let reconciler = Reconciler(store: try KernelRulesetStore(networkNamespace: lab.nodeNamespace))
        let graph = Cluster.graph(services: 3)
        _ = try reconciler.sync(to: graph)
        try lab.node("nft", command)
        let outcome = try reconciler.sync(verify: true)
        #expect(outcome.repair != nil, "\(command)")
        let store = try KernelRulesetStore(networkNamespace: lab.nodeNamespace)
        #expect(try store.read(tableName: "nfcompile").canonical == graph.compile().canonical, "\(command)")
    }
}
