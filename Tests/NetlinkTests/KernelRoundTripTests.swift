import Addressing
import Compiler
import Foundation
import Lab
import Netlink
import Pipeline
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
        // And the table nft wrote from our text reads back as ours: an agent taking over a node
        // where the dry run was loaded by hand finds nothing to repair.
        #expect(try twin.kernelRuleset().canonical == ruleset.canonical)
    }

    /// Every statement the dispatch writes (bit-set tests, inner chains, negated lookups, Local
    /// policies, NodePorts on given addresses, both families) lists as nft lists its text.
    @Test func dispatchTreeRoundTrips() throws {
        var pod: UInt32 = 0
        func endpoints(_ count: Int, family: IPFamily = .ipv4, node: String) -> [Endpoint] {
            (0..<count).map { _ in
                pod += 1
                let address =
                    family == .ipv4
                    ? IPAddress(ipv4: 0x0AF4_0000 + pod) : IPAddress("fd00:10:244::\(String(pod, radix: 16))")!
                return Endpoint(address: address, port: 8080, nodeName: node, targetName: "pod-\(pod)")
            }
        }
        let services = [1, 3, 5, 6, 12, 17].enumerated().map { index, count in
            Service(
                id: ServiceID(namespace: "default", name: "s\(index)"),
                ports: [
                    ServicePort(
                        name: "http", transport: index % 2 == 0 ? .tcp : .udp, port: 80,
                        nodePort: UInt16(30000 + index),
                        endpoints: endpoints(count, node: index % 3 == 0 ? "a" : "b")
                            + endpoints(count, family: .ipv6, node: "a"))
                ],
                clusterIPs: [IPAddress(ipv4: 0x0A60_0000 + UInt32(index) + 2), IPAddress("fd00:10:96::\(index + 2)")!],
                externalIPs: index % 2 == 0 ? [IPAddress(ipv4: 0xC633_6400 + UInt32(index))] : [],
                externalTrafficPolicy: index % 4 == 0 ? .local : .cluster)
        }
        let options = CompilerOptions(
            clusterCIDRs: [IPNetwork("10.244.0.0/16")!, IPNetwork("fd00:10:244::/64")!],
            nodeIPs: [IPAddress("192.0.2.10")!],
            nodeName: "a")
        let ruleset = ServiceGraph(services: services).compile(options: options)
        #expect(ruleset.tables.map(\.family) == [.ip, .ip6])
        #expect(ruleset.tables[0].chains.contains { $0.name == "lb-4-7" }, "the tree has inner chains")
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        var kernel = try NetfilterConnection(networkNamespace: lab.nodeNamespace)
        try kernel.commit(.replacingTables(named: "nfcompile", with: ruleset))
        #expect(try kernel.readRuleset(tableName: "nfcompile").canonical == ruleset.canonical)
        let twin = try NetworkLab()
        defer { twin.tearDown() }
        try twin.loadRuleset(ruleset.nftText())
        for family in ["ip", "ip6"] {
            #expect(
                try lab.node("nft", "list", "table", family, "nfcompile")
                    == twin.node("nft", "list", "table", family, "nfcompile"))
        }
    }

    @Test func replacingAgainIsIdempotentAndRemovesStaleFamilies() throws {
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        var kernel = try NetfilterConnection(networkNamespace: lab.nodeNamespace)
        let dual = ServiceGraph(services: [
            Service(
                id: ServiceID(namespace: "default", name: "v6"),
                ports: [
                    ServicePort(
                        name: nil, transport: .tcp, port: 80, nodePort: nil,
                        endpoints: [Endpoint(address: IPAddress("fd00:10:244::2")!, port: 8080)])
                ],
                clusterIPs: [IPAddress("fd00:10:96::10")!])
        ]).compile()
        try kernel.commit(.replacingTables(named: "nfcompile", with: dual))
        let dualBack = try kernel.readRuleset(tableName: "nfcompile")
        #expect(
            dualBack.canonical == dual.canonical, "\(dualBack.canonical.nftText())\n---\n\(dual.canonical.nftText())")
        let v4only = ServiceGraph(services: []).compile()
        try kernel.commit(.replacingTables(named: "nfcompile", with: v4only))
        try kernel.commit(.replacingTables(named: "nfcompile", with: v4only))
        #expect(try kernel.readRuleset(tableName: "nfcompile").canonical == v4only.canonical)
        try kernel.commit(.removingTables(named: "nfcompile"))
        #expect(try kernel.readRuleset(tableName: "nfcompile").tables.isEmpty)
    }
}
