import Addressing
import Compiler
import Foundation
import Lab
import Netlink
import Ruleset
import ServiceGraph
import Testing

/// All or nothing, guarded by the generation, at the scale of a big cluster.
@Suite struct TransactionTests {
    /// `services` services with `endpoints` endpoints each, addresses counted up from the ranges.
    static func syntheticGraph(services: Int, endpoints: Int) -> ServiceGraph {
        ServiceGraph(
            services: (0..<services).map { index in
                Service(
                    id: ServiceID(namespace: "bench", name: "svc-\(index)"),
                    ports: [
                        ServicePort(
                            name: "http", transport: .tcp, port: 80, nodePort: nil,
                            endpoints: (0..<endpoints).map { slot in
                                Endpoint(
                                    address: IPAddress(ipv4: 0x0AF4_0000 + UInt32(index * endpoints + slot) + 2),
                                    port: 8080, targetName: "pod-\(index)-\(slot)")
                            })
                    ],
                    clusterIPs: [IPAddress(ipv4: 0x0A60_0000 + UInt32(index) + 2)])
            })
    }

    func table(_ ruleset: Ruleset) -> Table { ruleset.tables.first { $0.family == .ip }! }

    @Test func oneBadOperationLeavesThePreviousRulesetExactlyAsItWas() throws {
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        var kernel = try NetfilterConnection(networkNamespace: lab.nodeNamespace)
        let ruleset = Self.syntheticGraph(services: 3, endpoints: 2).compile()
        try kernel.commit(.replacingTables(named: "nfcompile", with: ruleset))
        let before = try kernel.readRuleset(tableName: "nfcompile")

        let id = TableID(family: .ip, name: "nfcompile")
        let existing = try #require(table(ruleset).sets.first { $0.name == "service-ips" }?.elements.first)
        let fresh = SetElement(key: [.address(IPAddress("10.96.9.9")!), .tcp, .port(80)])
        let transaction = Transaction([
            .addElements(id, set: "service-ips", [fresh]),
            .addElements(id, set: "service-ips", [existing]),  // already there: EEXIST
            .addElements(
                id, set: "hairpin",
                [SetElement(key: [.address(IPAddress("10.244.9.9")!), .address(IPAddress("10.244.9.9")!)])]),
        ])
        let error = #expect(throws: NetlinkError.self) { try kernel.commit(transaction) }
        let message = error?.description ?? ""
        #expect(message.contains("add element 10.96.0.2 . tcp . 80 to service-ips: File exists"), "\(message)")
        #expect(message.contains("nothing was applied"))
        // Canonical: the kernel keeps no element order (6.1 lists them in another order after the aborted batch).
        #expect(try kernel.readRuleset(tableName: "nfcompile").canonical == before.canonical)
    }

    @Test func theFailingElementIsNamedInsideALongElementList() throws {
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        var kernel = try NetfilterConnection(networkNamespace: lab.nodeNamespace)
        var ruleset = Self.syntheticGraph(services: 1, endpoints: 1).compile()
        let hairpin = try #require(ruleset.tables[0].sets.firstIndex { $0.name == "hairpin" })
        ruleset.tables[0].sets[hairpin].capacity = NamedSet.capacity(for: 3001)  // room for them all
        try kernel.commit(.replacingTables(named: "nfcompile", with: ruleset))
        let existing = try #require(table(ruleset).sets.first { $0.name == "hairpin" }?.elements.first)
        // 3,000 new elements around one that exists: the kernel's extended ack points at it.
        let fresh = (0..<3000).map { index -> SetElement in
            let address = Value.address(IPAddress(ipv4: 0x0AF5_0000 + UInt32(index)))
            return SetElement(key: [address, address])
        }
        let elements = Array(fresh[..<1700]) + [existing] + Array(fresh[1700...])
        let error = #expect(throws: NetlinkError.self) {
            try kernel.commit(
                Transaction([.addElements(TableID(family: .ip, name: "nfcompile"), set: "hairpin", elements)]))
        }
        #expect(
            error?.description.contains("add element 10.244.0.2 . 10.244.0.2 to hairpin: File exists") == true,
            "\(String(describing: error))")
    }

    @Test func anElementBeyondASetsSizeIsNamedAndSaysTheSetIsFull() throws {
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        var kernel = try NetfilterConnection(networkNamespace: lab.nodeNamespace)
        let ruleset = Self.syntheticGraph(services: 1, endpoints: 1).compile()
        try kernel.commit(.replacingTables(named: "nfcompile", with: ruleset))
        let capacity = try #require(table(ruleset).sets.first { $0.name == "hairpin" }?.capacity)
        let fresh = (0..<Int(capacity)).map { index -> SetElement in
            let address = Value.address(IPAddress(ipv4: 0x0AF5_0000 + UInt32(index)))
            return SetElement(key: [address, address])
        }
        let error = #expect(throws: NetlinkError.self) {
            try kernel.commit(
                Transaction([.addElements(TableID(family: .ip, name: "nfcompile"), set: "hairpin", fresh)]))
        }
        // The set holds one element already: the last fresh one is the one too many.
        #expect(
            error?.description.contains("add element 10.245.0.191 . 10.245.0.191 to hairpin: the set is full") == true,
            "\(String(describing: error))")
    }

    @Test func aCompetingWriterIsDetected() throws {
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        var kernel = try NetfilterConnection(networkNamespace: lab.nodeNamespace)
        var competitor = try NetfilterConnection(networkNamespace: lab.nodeNamespace)
        let first = Self.syntheticGraph(services: 2, endpoints: 1).compile()
        let second = Self.syntheticGraph(services: 4, endpoints: 1).compile()

        let generation = try kernel.generation()
        try competitor.commit(.replacingTables(named: "nfcompile", with: first))  // commits in between
        #expect(throws: NetlinkError.self) {
            try kernel.commit(Transaction.replacing(table(second)), ifGenerationIs: generation)
        }
        #expect(
            try kernel.readRuleset(tableName: "nfcompile").canonical == first.canonical,
            "the stale commit changed nothing")
        try kernel.commit(.replacingTables(named: "nfcompile", with: second))
        #expect(try kernel.readRuleset(tableName: "nfcompile").canonical == second.canonical)
    }

    /// 10,000 services × 10 endpoints: 100,000 endpoint elements (plus 100,000 hairpin and 10,000
    /// service elements) in one transaction, read back exactly.
    @Test func tenThousandServicesRoundTripInOneTransaction() throws {
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        var kernel = try NetfilterConnection(networkNamespace: lab.nodeNamespace)
        let ruleset = Self.syntheticGraph(services: 10_000, endpoints: 10).compile()
        #expect(table(ruleset).sets.first { $0.name == "endpoints-10" }?.elements.count == 100_000)
        let before = try kernel.generation()
        let after = try kernel.commit(.replacingTables(named: "nfcompile", with: ruleset))
        #expect(after != before)
        let read = try kernel.readRuleset(tableName: "nfcompile").canonical
        let expected = ruleset.canonical
        #expect(read == expected)
        // What differs, when something does (the whole table is too big for a message).
        for want in expected.tables {
            let got = read.tables.first { $0.family == want.family }
            #expect(got?.chains == want.chains, "\(want.family) chains")
            for set in want.sets {
                let gotSet = got?.sets.first { $0.name == set.name }
                guard let gotSet, gotSet != set else { continue }
                let index = zip(gotSet.elements, set.elements).enumerated().first { $0.element.0 != $0.element.1 }?
                    .offset
                Issue.record(
                    "set \(set.name): \(gotSet.elements.count) elements read, \(set.elements.count) written; first difference at \(index.map(String.init) ?? "the end"): \(index.map { "\(gotSet.elements[$0]) against \(set.elements[$0])" } ?? "")"
                )
            }
        }
    }
}
