import Pipeline
import Addressing
import Compiler
import Foundation
import Lab
import Netlink
import Ruleset
import ServiceGraph
import Testing

/// Apply over netlink in a throwaway namespace, read back, compare: what we put in the kernel
/// is what we read back, and nft lists it exactly as it lists the same ruleset loaded as text.
@Suite struct KernelRoundTripTests {
    static let scenarios = (try? Repository.scenarios().map(\.lastPathComponent)) ?? []

    @Test(arguments: scenarios)
    func scenarioRoundTrips(_ name: String) throws {
        let ruleset = try CompiledInput(paths: [Repository.rules.appendingPathComponent(name).path]).ruleset
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        var kernel = try NetfilterConnection(networkNamespace: lab.nodeNamespace)
        try kernel.commit(.replacingTables(named: "nfcompile", with: ruleset))
        let readBack = try kernel.readRuleset(tableName: "nfcompile")
        #expect(readBack.canonical == ruleset.canonical)

        // nft lists the netlink-written table exactly as it lists the same text loaded by nft.
        let viaNetlink = try lab.node("nft", "list", "table", "ip", "nfcompile")
        let twin = try NetworkLab()
        defer { twin.tearDown() }
        try twin.loadRuleset(ruleset.nftText())
        let viaText = try twin.node("nft", "list", "table", "ip", "nfcompile")
        #expect(viaNetlink == viaText)
    }

    @Test func replacingAgainIsIdempotentAndRemovesStaleFamilies() throws {
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        var kernel = try NetfilterConnection(networkNamespace: lab.nodeNamespace)
        let dual = ServiceGraph(services: [
            Service(id: ServiceID(namespace: "default", name: "v6"),
                    ports: [ServicePort(name: nil, transport: .tcp, port: 80, nodePort: nil,
                                        endpoints: [Endpoint(address: IPAddress("fd00:10:244::2")!, port: 8080)])],
                    clusterIPs: [IPAddress("fd00:10:96::10")!]),
        ]).compile()
        try kernel.commit(.replacingTables(named: "nfcompile", with: dual))
        let dualBack = try kernel.readRuleset(tableName: "nfcompile")
        #expect(dualBack.canonical == dual.canonical, "\(dualBack.canonical.nftText())\n---\n\(dual.canonical.nftText())")
        let v4only = ServiceGraph(services: []).compile()
        try kernel.commit(.replacingTables(named: "nfcompile", with: v4only))
        try kernel.commit(.replacingTables(named: "nfcompile", with: v4only))
        #expect(try kernel.readRuleset(tableName: "nfcompile").canonical == v4only.canonical)
        try kernel.commit(.removingTables(named: "nfcompile"))
        #expect(try kernel.readRuleset(tableName: "nfcompile").tables.isEmpty)
    }
}
